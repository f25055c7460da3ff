/*
** parallel.c -- the parallel facility (lunet/parallel.h): the thread team of
** a region, ln_parallel_tasks (the task hand-out), ln_parallel_for and
** ln_parallel_rows (fixed chunks over the team or an OpenMP loop).
**
** A job is ntasks independent tasks. The thread that publishes it claims
** tasks from the front, the others from the back, one compare-and-swap per
** task on a single word that also carries the job's tag; whoever is there
** takes the work, so a thread that is late (descheduled on a busy machine)
** simply takes fewer tasks. The publisher returns when every task is done.
**
** Waiting (the policy chosen for issue 21, measured in
** docs/performance-training.md): a team thread without work spins on the
** job word with the CPU's pause hint for WORKER_SPINS rounds (~75 us at
** ~18 ns a round here: longer than the gaps between the jobs of a training
** step, so on a free core it is awake for the next one), then yields the
** processor for WORKER_YIELDS rounds (should two threads of the team share
** a core, the spinning one must not keep the other off it), then sleeps on
** a futex until the next job or the region's end. It used to yield
** forever: a yielding thread stays runnable and keeps taking the process's
** share of the CPU on a loaded machine. Sleeping after only ~40 us of
** spinning was measured too: team mode fell from 0.91-0.96x to 0.77x of
** one thread at load 4 (gaps within a step outlasted the spin, and every
** wake-up cost the job its second thread). A sleeping worker costs the
** publisher one syscall per sleep, and since the publisher never waits
** for a worker that has not claimed a task, a late worker only takes fewer
** tasks. The publisher itself, waiting for tasks a worker has claimed (and
** is running), spins and then yields: that wait is one task long. Between
** regions OpenMP's own wait policy (OMP_WAIT_POLICY) applies.
*/
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <omp.h>

#include "parallel_impl.h"

#define TAG_SHIFT LN__TAG_SHIFT
#define MAX_TASKS LN__MAX_TASKS
#define SPINS_BEFORE_YIELD 4096 /* the publisher's wait for claimed tasks */
/* a worker's wait for the next job: pause rounds, then yielding rounds */
#define WORKER_SPINS 4096
#define WORKER_YIELDS 512

typedef struct team_slot {
    ln_task_fn fn;
    void *arg;
} team_slot;

/* The team of one region (on the stack of ln_parallel_region). */
typedef struct team {
    /* The current job: tag (16 bits) | front (24) | back (24). Tasks
    ** [front, back) are unclaimed; a claim is a compare-and-swap that also
    ** checks the tag, so a stale claim on a finished job fails. */
    _Alignas(64) _Atomic uint64_t word;
    /* tasks the other threads finished, counted over the region (never
    ** reset: the publisher knows how many its jobs handed out, and a store
    ** here would wait for the line the last worker counted into) */
    _Alignas(64) _Atomic int64_t done;
    _Alignas(64) _Atomic int stop;
    _Atomic uint32_t seq;  /* futex word: bumped to wake sleeping workers */
    _Atomic int sleepers;  /* workers asleep (or about to be) on seq */
    _Atomic int woken;     /* a wake is on its way: no second syscall */
    team_slot slot[2]; /* fn and arg of jobs by tag parity */
    unsigned tag;      /* tag of the last job published */
    unsigned tag0;     /* tag of the word team_reset stored (no job) */
    int64_t counted;   /* done's value when the last job ended (publisher) */
    int nthreads;
} team;

/* The team of the region running on this thread (NULL outside). */
static _Thread_local team *tl_team;
/* Set while this thread runs a task: work handed out from inside a task
** runs in place (a nested job would reset the running job's counters). */
static _Thread_local int tl_in_task;
/* Set by ln_parallel_alone: the same, at the caller's request. Apart from
** tl_in_task, so that turning it off inside a task keeps the task's rule. */
static _Thread_local int tl_alone;

/* Whether work handed out here runs in place (inside a task, or alone). */
static int in_place(void) { return tl_in_task || tl_alone; }

#define cpu_relax ln__cpu_relax
#define pack ln__job_pack

/* Sleep while *word == v (or until woken); without futexes, yield once. */
static void futex_wait(_Atomic uint32_t *word, uint32_t v) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
#else
    (void)word;
    (void)v;
    sched_yield();
#endif
}

/* Wake every worker sleeping on the team (after the job word was stored
** and a sequentially consistent fence, or stop stored sequentially
** consistent: a worker raises `sleepers` before it reads them again, so
** one of the two sides sees the other). */
static void team_wake(team *t, int force) {
    if (atomic_load(&t->sleepers) == 0) return;
    /* one syscall per sleep: a worker woken but not yet running (a busy
    ** machine) still counts as a sleeper, and every later job would pay
    ** the syscall again. A worker clears `woken` after it reads seq and
    ** before it sleeps, so a wake it has not consumed is never skipped. */
    if (atomic_exchange(&t->woken, 1) && !force) return;
    atomic_fetch_add(&t->seq, 1);
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)&t->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
}

static int64_t claim(team *t, unsigned tag, int from_back) {
    return ln__job_claim(&t->word, tag, from_back);
}

static void team_reset(team *t) {
    t->nthreads = 1;
    atomic_store_explicit(&t->stop, 0, memory_order_relaxed);
    atomic_store_explicit(&t->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&t->sleepers, 0, memory_order_relaxed);
    atomic_store_explicit(&t->woken, 0, memory_order_relaxed);
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    t->counted = 0;
    t->tag0 = t->tag;
    atomic_store_explicit(&t->word, pack(t->tag, 0, 0), memory_order_release);
}

static void team_start(team *t, int nthreads) {
    t->nthreads = nthreads;
    tl_team = t;
}

static void team_stop(team *t) {
    atomic_store(&t->stop, 1); /* seq_cst: see team_wake */
    team_wake(t, 1);
    tl_team = NULL;
}

static void team_worker(team *t) {
    /* the tag team_reset stored: a job published before this thread got
    ** here is still taken (seeded from the word, a worker that started
    ** late skipped the region's first job and left it to the publisher) */
    unsigned seen = t->tag0;
    long idle = 0;
    for (;;) {
        uint64_t w = atomic_load_explicit(&t->word, memory_order_acquire);
        unsigned tag = (unsigned)(w >> TAG_SHIFT);
        if (tag != seen) {
            int64_t task = claim(t, tag, 1);
            if (task >= 0) {
                /* The job cannot end before this task is counted, so its
                ** slot (by tag parity) stays valid while it runs. */
                const team_slot *s = &t->slot[tag & 1u];
                tl_in_task = 1;
                s->fn(s->arg, task);
                tl_in_task = 0;
                atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
                idle = 0;
                continue;
            }
            seen = tag; /* all claimed: wait for the next job */
        }
        if (atomic_load_explicit(&t->stop, memory_order_acquire)) return;
        if (++idle < WORKER_SPINS) {
            cpu_relax();
            continue;
        }
        if (idle < WORKER_SPINS + WORKER_YIELDS) {
            sched_yield();
            continue;
        }
        /* Sleep until a job with another tag is published or the region
        ** ends: seq is read before `sleepers` is raised and the word and
        ** stop are read again, so a job published in between either is
        ** seen here or bumps seq (and the wait returns at once). */
        uint32_t s = atomic_load(&t->seq);
        atomic_store(&t->woken, 0);
        atomic_fetch_add(&t->sleepers, 1);
        if ((unsigned)(atomic_load(&t->word) >> TAG_SHIFT) == seen && !atomic_load(&t->stop))
            futex_wait(&t->seq, s);
        atomic_fetch_sub(&t->sleepers, 1);
        idle = 0;
    }
}

int ln_parallel_threads(void) {
    const team *t = tl_team;
    return t && !in_place() ? t->nthreads : 1;
}

int ln_parallel_alone(int on) {
    const int was = tl_alone;
    tl_alone = on != 0;
    return was;
}

void ln_parallel_tasks(int64_t ntasks, ln_task_fn fn, void *arg) {
    team *t = tl_team;
    if (ntasks <= 0) return;
    if (!t || in_place() || t->nthreads < 2 || ntasks < 2 || ntasks > MAX_TASKS) {
        for (int64_t i = 0; i < ntasks; i++) fn(arg, i);
        return;
    }
    /* Every task of the previous job is done and counted (we waited for
    ** it), so no worker still uses this slot. Task 0 is this thread's
    ** without a claim, and the fenced wake-up check comes after it: the
    ** job word is stored with release only, and the line the workers spin
    ** on moves over while task 0 runs instead of before (a sequentially
    ** consistent store waits for it: ~0.5 us with the vCPUs far apart).
    ** A worker already asleep (a relaxed look at `sleepers`) is woken
    ** before task 0 all the same: it sleeps only after a long gap, the
    ** syscall is paid either way, and woken one task late it found a job
    ** of two long tasks -- a recurrent layer's backward slices, after the
    ** serial work of the batch -- already done by this thread (128-unit
    ** LSTM on two threads: 1.9-2.0k -> 3.0-3.2k samples/s). One falling
    ** asleep just now may be missed here; the check after task 0 wakes it. */
    unsigned tag = (t->tag + 1u) & 0xffffu;
    t->tag = tag;
    t->slot[tag & 1u].fn = fn;
    t->slot[tag & 1u].arg = arg;
    atomic_store_explicit(&t->word, pack(tag, 1, ntasks), memory_order_release);
    if (atomic_load_explicit(&t->sleepers, memory_order_relaxed)) {
        atomic_thread_fence(memory_order_seq_cst);
        team_wake(t, 0);
    }
    tl_in_task = 1;
    fn(arg, 0);
    atomic_thread_fence(memory_order_seq_cst); /* the word, then sleepers: see team_wake */
    team_wake(t, 0);
    int64_t mine = 1, task;
    while ((task = claim(t, tag, 0)) >= 0) {
        fn(arg, task);
        mine++;
    }
    tl_in_task = 0;
    /* Wait for the tasks the others took. */
    const int64_t target = t->counted + (ntasks - mine);
    long idle = 0;
    while (atomic_load_explicit(&t->done, memory_order_acquire) < target) {
        if (++idle < SPINS_BEFORE_YIELD) cpu_relax();
        else sched_yield();
    }
    t->counted = target;
}

/* Two tasks: on the team, or outside one on the helper pool (a late or
** busy helper leaves task 1 to this thread), else both here in order.
** One helper is asked for (however many threads there are): the same one
** from call to call, so each half stays in one core's cache. */
void ln_parallel_pair(ln_task_fn fn, void *arg) {
    if (!tl_team && !in_place() && !omp_in_parallel() && omp_get_max_threads() > 1 &&
        ln__pool_run(2, fn, arg, 2))
        return;
    ln_parallel_tasks(2, fn, arg);
}

/* ---- regions ------------------------------------------------------------ */

int ln_parallel_team_possible(void) {
    return omp_get_max_threads() > 1 && !omp_in_parallel();
}

ln_status ln_parallel_region(ln_region_fn body, void *arg) {
    if (!ln_parallel_team_possible()) return body(arg);
    ln_status st = LN_OK;
    team t = {.tag = 0};
    team_reset(&t);
#pragma omp parallel num_threads(omp_get_max_threads())
    {
        if (omp_get_thread_num() == 0) {
            team_start(&t, omp_get_num_threads());
            st = body(arg);
            team_stop(&t);
        } else {
            team_worker(&t);
        }
    }
    return st;
}

/* ---- chunked ranges --------------------------------------------------------- */

typedef struct range_job {
    ln_range_fn fn;
    void *arg;
    int64_t n;     /* elements (rows when rows_per > 0) */
    int64_t chunk; /* elements per chunk */
    int64_t per;   /* chunks per task */
} range_job;

static void range_chunk(const range_job *j, int64_t c) {
    int64_t lo = c * j->chunk;
    int64_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    j->fn(j->arg, lo, hi);
}

/* A task: `per` consecutive chunks, each its own call as always. */
static void range_task(void *arg, int64_t t) {
    const range_job *j = arg;
    const int64_t nchunks = (j->n + j->chunk - 1) / j->chunk;
    const int64_t c1 = (t + 1) * j->per < nchunks ? (t + 1) * j->per : nchunks;
    for (int64_t c = t * j->per; c < c1; c++) range_chunk(j, c);
}

/* The chunks go to the region's team when one runs and there are several
** (about four tasks per thread of consecutive chunks), else -- below
** LN_PAR_MIN units of work -- everything is one call here (no thread is
** involved at all), else the helper pool (parallel_pool.c) takes them one
** chunk per task: no barrier, so a helper that is late on a busy machine
** never holds the caller up. */
static void run_chunks(range_job *j, int64_t work, int64_t align) {
    const int64_t nchunks = (j->n + j->chunk - 1) / j->chunk;
    int nt = ln_parallel_threads();
    if (nt > 1 && nchunks > 1 && nchunks <= 2 * nt && j->n >= 2 * align) {
        /* A short loop in a team: one even part per thread, from the front
        ** (this thread) and the back (the others), cut on cache lines. The
        ** layers around cut their rows the same way (the first half on
        ** this thread), so each part mostly reads what its own core just
        ** wrote: on this 2-vCPU VM a block read from the other core's
        ** cache costs several times a computed one. */
        int64_t per = (j->n + nt - 1) / nt;
        j->chunk = (per + align - 1) / align * align;
        j->per = 1;
        ln_parallel_tasks((j->n + j->chunk - 1) / j->chunk, range_task, j);
        return;
    }
    if (nchunks > 1 && nt > 1) {
        j->per = (nchunks + 4 * nt - 1) / (4 * nt);
        ln_parallel_tasks((nchunks + j->per - 1) / j->per, range_task, j);
        return;
    }
    if (work >= LN_PAR_MIN && nchunks > 1 && !in_place() && !omp_in_parallel()) {
        j->per = 1;
        if (ln__pool_run(nchunks, range_task, j, omp_get_max_threads())) return;
    }
    j->fn(j->arg, 0, j->n);
}

LN_API int ln__spread_turn(int64_t work) {
    static _Atomic long l2; /* bytes, read once (sysconf: cpuid on x86) */
    static _Thread_local unsigned turn;
    long c = atomic_load_explicit(&l2, memory_order_relaxed);
    if (c == 0) {
#ifdef _SC_LEVEL2_CACHE_SIZE
        c = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        if (c <= 0) c = 1L << 20;
        atomic_store_explicit(&l2, c, memory_order_relaxed);
    }
    if (in_place() || ln_parallel_threads() > 1 || work < 3 * (c / 4)) return 0;
    return (int)(++turn & 1u);
}

LN_API int ln__parallel_split(int64_t n, int64_t align, ln_range_fn fn, void *arg) {
    if (in_place() || ln_parallel_threads() > 1 || omp_in_parallel()) return 0;
    /* about SPLIT_TASKS tasks: the caller's claims are on its own cache
    ** line (a few ns each) until the helper's one claim */
    enum { SPLIT_TASKS = 32 };
    int64_t per = (n + SPLIT_TASKS - 1) / SPLIT_TASKS;
    per = (per + align - 1) / align * align;
    return ln__pool_split(fn, arg, n, per, omp_get_max_threads());
}

void ln_parallel_for(int64_t n, ln_range_fn fn, void *arg) {
    ln_parallel_for_cost(n, 1, fn, arg);
}

void ln_parallel_for_cost(int64_t n, int cost, ln_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (cost < 1) cost = 1;
    /* chunks of about LN_PAR_CHUNK units of work (n and cost alone decide
    ** the cut, which elementwise results never depend on) */
    int64_t chunk = LN_PAR_CHUNK / cost;
    if (chunk < 1024) chunk = 1024;
    if (n <= chunk) { /* one chunk: run_chunks would call fn so (an RNN step's
                         blocks, most activations of a batch-32 layer) */
        fn(arg, 0, n);
        return;
    }
    range_job j = {fn, arg, n, chunk, 1};
    run_chunks(&j, n > INT64_MAX / cost ? INT64_MAX : n * cost, 16);
}

void ln_parallel_rows(int64_t rows, int64_t cols, ln_range_fn fn, void *arg) {
    if (rows <= 0) return;
    int64_t per = LN_PAR_CHUNK / (cols > 0 ? cols : 1);
    range_job j = {fn, arg, rows, per < 1 ? 1 : per, 1};
    run_chunks(&j, rows * cols, 1);
}
