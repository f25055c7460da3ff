/*
** parallel_pool.c -- the helper threads of ln_parallel_for outside a
** thread team: eager tensor expressions from Lua, an activation or an
** optimizer called alone. Owner: core (issue 21).
**
** Why not an OpenMP loop: its end is a barrier, so the caller waits until
** every thread of the team has been scheduled and has run its share. On a
** busy machine (2 cores shared with other processes) a woken thread can
** wait milliseconds for a core, and a 100-us operation took 5-10x longer
** on 2 threads than on 1. Here the caller publishes the job (its fixed
** chunks as tasks), takes tasks from the front at once, and helpers take
** them from the back when they get there; the caller waits only for tasks
** a helper has actually claimed. A helper that is late, or never comes,
** costs nothing but its share of the speed-up.
**
** Helpers are pthreads started on first use (never at load time: a thread
** started before fork() would be missing in the child; a fork handler
** forgets them there), up to the OpenMP thread count minus one, and live
** until the process ends. Waiting: a helper spins on the job word (with
** the CPU's pause hint, then yielding the processor at each round) for
** POOL_SPINS rounds after its last task -- long enough for the next
** operation of a Lua expression to find it awake -- then sleeps on a
** condition variable; the publisher signals it only when
** one sleeps. Helpers copy the caller's MXCSR (FTZ/DAZ) with each job, so
** every element is computed in the same floating-point mode, and their
** own OpenMP thread count is 1 (an OpenMP loop inside a task stays on the
** helper).
**
** Split jobs (ln__pool_split: core's elementwise loops and reductions of
** ~3-15 us, below LN_PAR_MIN units of work, par_for.h's ln__split_spread):
** the caller keeps its first SPLIT_LEAD % of the tasks without claiming
** them, a helper claims all the others at once, and the caller takes back,
** one by one, what no helper has claimed. Every cache line the two cores
** pass costs ~250 ns here, so such a job passes as few as it can: the job
** sits in the word's line,
** the caller publishes without a fence and never resets `done` (it counts
** on from done_base), and a sleeping helper is woken only when another
** split job ran less than SPLIT_RECENT ago. exp and a + b on 49k-60k
** elements: 1.24-1.41x of one thread.
**
** Adaptive: the caller times each job. When it finished later than its own
** pace says it would have alone (own time x tasks / tasks it ran) -- a
** helper claimed a task and was then descheduled -- the next `backoff`
** jobs run on the caller alone (16, doubling on each further loss up to
** 4096, halving on each win), so a machine whose second core is busy
** costs at most one slow job in thousands. Results are the same either
** way: every element is computed alone.
*/
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "parallel_impl.h"

#define POOL_MAX 63        /* helpers at most */
#define POOL_SPINS 2500    /* idle rounds (~0.1-1 ms) before sleeping */
#define YIELD_AFTER 2000   /* pause rounds (~40 us) before yielding */
#define WAIT_SPINS 4096    /* the caller's spins before it yields */
#define BACKOFF_MIN 16     /* jobs run alone after a loss ... */
#define BACKOFF_MAX 4096   /* ... doubling up to this */
#define SPLIT_RECENT 1e-3  /* s: a split job this soon after one wakes helpers */
#define SPLIT_LEAD 60      /* % of a split job's tasks the caller keeps: a
                           ** helper starts ~250 ns late and ran 1.3-1.4x
                           ** slower per block here (docs/performance.md) */

/* The job and the word that publishes it share one cache line (64 bytes),
** written before the word: a helper gets all of it in the one transfer
** that shows it the word. A transfer between the two cores costs ~250 ns
** here, 5-10 % of a split job: its range is in the line too, not behind a
** pointer to the caller's stack (P.arg, which the caller itself uses). */
static struct {
    _Alignas(64) _Atomic uint64_t word; /* the current job */
    ln_task_fn fn;                      /* the job (written before word) */
    void *arg;
    ln_range_fn range;                  /* a split job (ln__pool_split) */
    void *range_arg;
    int64_t n, per;
    uint16_t mxcsr;                     /* (its upper half is reserved) */
    _Atomic uint8_t rest;               /* a helper claims all that is left */
    _Atomic int active;                 /* helpers that may take the job */
    _Alignas(64) _Atomic int64_t done;  /* tasks finished by helpers, ever */
    _Alignas(64) _Atomic int sleeping;  /* helpers waiting on cv */
    atomic_flag busy;                   /* a job is being published/run */
    unsigned tag;   /* tag of the last job published */
    int64_t done_base; /* done at the end of the last job */
    double last_split; /* when the last split job was asked for */
    int created;    /* helpers started */
    int skip;       /* jobs still to run alone (after a loss) */
    int backoff;    /* the next skip after a loss */
    int atfork;     /* fork handler installed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} P = {.busy = ATOMIC_FLAG_INIT,
       .mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER};

static unsigned get_mxcsr(void) {
#if defined(__x86_64__) || defined(__i386__)
    return _mm_getcsr();
#else
    return 0;
#endif
}

static void set_mxcsr(unsigned v) {
#if defined(__x86_64__) || defined(__i386__)
    if (_mm_getcsr() != v) _mm_setcsr(v);
#else
    (void)v;
#endif
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A split job (ln__pool_split), as each thread keeps it: task t is units
** [t * per, (t + 1) * per) of n. */
typedef struct {
    ln_range_fn range;
    void *arg;
    int64_t n, per;
} split_job;

static void split_task(void *arg, int64_t t) {
    const split_job *j = arg;
    const int64_t lo = t * j->per;
    j->range(j->arg, lo, lo + j->per < j->n ? lo + j->per : j->n);
}

static void *helper_main(void *argp) {
    /* id, and the tag of the last job before this helper was started:
    ** the job its starter is about to publish is new to it */
    const int id = (int)((intptr_t)argp & 0xff);
    unsigned seen = (unsigned)((intptr_t)argp >> 8) & 0xffffu;
    omp_set_num_threads(1);
    long idle = 0;
    for (;;) {
        unsigned tag = ln__job_tag(atomic_load_explicit(&P.word, memory_order_acquire));
        if (tag != seen) {
            /* (rest, like the word, may already be the next job's: then
            ** the claim fails on the tag) */
            const int rest = atomic_load_explicit(&P.rest, memory_order_relaxed);
            int64_t count = 1, task = -1;
            if (id < atomic_load_explicit(&P.active, memory_order_relaxed))
                task = ln__job_claim_n(&P.word, tag, 1, rest ? LN__MAX_TASKS : 1,
                                       &count);
            if (task >= 0) {
                /* The job cannot end before these tasks are counted: its
                ** fields stay valid while they run, and are read from the
                ** line the claim just brought (a split job's are copied:
                ** the caller's next claim takes that line back). */
                const split_job sj = {P.range, P.range_arg, P.n, P.per};
                ln_task_fn fn = rest ? split_task : P.fn;
                void *arg = rest ? (void *)&sj : P.arg;
                set_mxcsr(P.mxcsr);
                for (int64_t t = task; t < task + count; t++) fn(arg, t);
                atomic_fetch_add_explicit(&P.done, count, memory_order_release);
                idle = 0;
                if (rest) seen = tag; /* nothing is left */
                continue;
            }
            seen = tag; /* all claimed: wait for the next job */
        }
        if (++idle < POOL_SPINS) {
            /* past the first rounds, yield too: on a busy machine this
            ** helper may share a core with its own caller */
            if (idle < YIELD_AFTER) ln__cpu_relax();
            else sched_yield();
            continue;
        }
        /* Sleep until a job with another tag is published. sleeping is
        ** raised before the word is read again (both sequentially
        ** consistent) and the publisher stores the word before it reads
        ** sleeping: one of the two sees the other. */
        pthread_mutex_lock(&P.mu);
        atomic_fetch_add(&P.sleeping, 1);
        while (ln__job_tag(atomic_load(&P.word)) == seen)
            pthread_cond_wait(&P.cv, &P.mu);
        atomic_fetch_sub(&P.sleeping, 1);
        pthread_mutex_unlock(&P.mu);
        idle = 0;
    }
    return NULL;
}

/* In a forked child only the forking thread exists: start afresh. */
static void after_fork_child(void) {
    P.created = 0;
    P.skip = P.backoff = 0;
    P.done_base = 0;
    atomic_store(&P.done, 0);
    atomic_store(&P.sleeping, 0);
    atomic_store(&P.active, 0);
    atomic_flag_clear(&P.busy);
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.cv, NULL);
}

/* Start helpers up to `want` (called with busy held). */
static void grow(int want) {
    if (want > POOL_MAX) want = POOL_MAX;
    if (P.created >= want) return;
    if (!P.atfork) {
        if (pthread_atfork(NULL, NULL, after_fork_child) != 0) return;
        P.atfork = 1;
    }
    while (P.created < want) {
        pthread_t th;
        pthread_attr_t at;
        if (pthread_attr_init(&at) != 0) return;
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &at, helper_main,
                                (void *)(intptr_t)(P.created | (intptr_t)P.tag << 8));
        pthread_attr_destroy(&at);
        if (rc != 0) return; /* run with the helpers there are */
        P.created++;
    }
}

/* ln__pool_run's work, with busy held (released here). lead > 0 (a split
** job): the caller keeps tasks [0, lead) without a claim, and a helper
** claims all that is left at once. wake: publish with a fence and wake
** sleeping helpers. */
static int run_held(int64_t ntasks, ln_task_fn fn, void *arg, int nthreads,
                    int64_t lead, int wake) {
    if (P.skip > 0) { /* a recent job lost: this one runs alone */
        P.skip--;
        atomic_flag_clear_explicit(&P.busy, memory_order_release);
        return 0;
    }
    grow(nthreads - 1);
    if (P.created == 0) {
        atomic_flag_clear_explicit(&P.busy, memory_order_release);
        return 0;
    }
    unsigned tag = (P.tag + 1u) & 0xffffu;
    P.tag = tag;
    P.fn = fn;
    P.arg = arg;
    P.mxcsr = (uint16_t)get_mxcsr();
    atomic_store_explicit(&P.rest, lead > 0, memory_order_relaxed);
    atomic_store_explicit(&P.active, nthreads - 1, memory_order_relaxed);
    if (!wake) {
        /* no fence: the caller starts while the line travels; a helper
        ** that falls asleep meanwhile misses the job, which the caller
        ** then finishes alone */
        atomic_store_explicit(&P.word, ln__job_pack(tag, lead, ntasks), memory_order_release);
    } else {
        atomic_store(&P.word, ln__job_pack(tag, lead, ntasks)); /* seq_cst */
        if (atomic_load(&P.sleeping) > 0) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_broadcast(&P.cv);
            pthread_mutex_unlock(&P.mu);
        }
    }
    const double t0 = now_s();
    int64_t mine = lead, task;
    for (int64_t t = 0; t < lead; t++) fn(arg, t);
    while ((task = ln__job_claim(&P.word, tag, 0)) >= 0) {
        fn(arg, task);
        mine++;
    }
    const double t1 = now_s();
    long idle = 0;
    /* done is never reset (the caller's store would wait for the line the
    ** helper last wrote): this job's helper tasks are counted past
    ** done_base */
    const int64_t until = P.done_base + ntasks - mine;
    P.done_base = until;
    while (atomic_load_explicit(&P.done, memory_order_acquire) < until) {
        if (++idle < WAIT_SPINS) ln__cpu_relax();
        else sched_yield();
    }
    if (idle) { /* waited for a helper: slower than alone? */
        double alone = mine ? (t1 - t0) * (double)ntasks / (double)mine : 0;
        if (mine && now_s() - t0 > alone) {
            P.backoff = P.backoff ? P.backoff * 2 : BACKOFF_MIN;
            if (P.backoff > BACKOFF_MAX) P.backoff = BACKOFF_MAX;
            P.skip = P.backoff;
        } else {
            P.backoff /= 2;
        }
    } else {
        P.backoff /= 2;
    }
    atomic_flag_clear_explicit(&P.busy, memory_order_release);
    return 1;
}

int ln__pool_run(int64_t ntasks, ln_task_fn fn, void *arg, int nthreads) {
    if (ntasks < 2 || ntasks > LN__MAX_TASKS || nthreads < 2) return 0;
    if (atomic_flag_test_and_set_explicit(&P.busy, memory_order_acquire)) return 0;
    return run_held(ntasks, fn, arg, nthreads, 0, 1);
}

int ln__pool_split(ln_range_fn fn, void *arg, int64_t n, int64_t per,
                   int nthreads) {
    const int64_t ntasks = per > 0 ? (n + per - 1) / per : 0;
    if (nthreads < 2 || ntasks < 2 || ntasks > LN__MAX_TASKS) return 0;
    if (atomic_flag_test_and_set_explicit(&P.busy, memory_order_acquire)) return 0;
    const double now = now_s();
    /* Waking a sleeping helper costs about as much as the whole job: only
    ** when another split job ran less than SPLIT_RECENT ago (a loop of
    ** operations, whose next ones will find the helper awake). */
    const int recent = now - P.last_split < SPLIT_RECENT;
    P.last_split = now;
    const int wake = atomic_load_explicit(&P.sleeping, memory_order_relaxed) > 0;
    if (wake && !recent) {
        atomic_flag_clear_explicit(&P.busy, memory_order_release);
        return 0;
    }
    P.range = fn;
    P.range_arg = arg;
    P.n = n;
    P.per = per;
    split_job mine = {fn, arg, n, per};
    const int64_t lead = (ntasks * SPLIT_LEAD + 99) / 100;
    return run_held(ntasks, split_task, &mine, 2,
                    lead < ntasks ? lead : ntasks - 1, wake);
}
