/*
** parallel.c -- the thread team of a batch call (parallel_impl.h) and
** ln_team_run, the task hand-out layers and kernels use (lunet/engine/net.h).
**
** A job is ntasks independent tasks. The thread that publishes it claims
** tasks from the front, the others from the back, one compare-and-swap per
** task on a single word that also carries the job's tag; whoever is there
** takes the work, so a thread that is late (descheduled on a busy machine)
** simply takes fewer tasks. The publisher returns when every task is done.
**
** Waiting: a thread without work spins on the job word (with the CPU's
** pause hint) for SPINS_BEFORE_YIELD rounds, then yields the processor at
** every round: should two threads of the team share a core (a busy
** machine), a spinning one must not keep the other off it for a whole time
** slice. The region ends with the run of batches; between runs OpenMP's
** own wait policy (OMP_WAIT_POLICY) applies.
*/
#include <sched.h>

#include "parallel_impl.h"

#define TAG_SHIFT 48
#define FRONT_SHIFT 24
#define FIELD_MASK ((UINT64_C(1) << 24) - 1)
#define MAX_TASKS ((int64_t)FIELD_MASK)
#define SPINS_BEFORE_YIELD 4096

/* The team of a batch call running on this thread (NULL outside). */
static _Thread_local ln__team *tl_team;
/* The early-update state seen by ln_grad_ready on this thread. */
static _Thread_local void *tl_early;
/* Set while this thread runs a task: work handed out from inside a task
** runs in place (a nested job would reset the running job's counters). */
static _Thread_local int tl_in_task;

void ln__early_set(void *state) {
    tl_early = state;
    if (tl_team) tl_team->early = state; /* published with the next job */
}

void *ln__early_get(void) { return tl_early; }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

static inline uint64_t pack(unsigned tag, int64_t front, int64_t back) {
    return ((uint64_t)(tag & 0xffffu) << TAG_SHIFT) |
           ((uint64_t)front << FRONT_SHIFT) | (uint64_t)back;
}

/* Claim a task of the job tagged `tag` from the front (from_back = 0) or
** the back; -1 when none is left or the job is over. */
static int64_t claim(ln__team *t, unsigned tag, int from_back) {
    uint64_t w = atomic_load_explicit(&t->word, memory_order_acquire);
    for (;;) {
        if ((unsigned)(w >> TAG_SHIFT) != (tag & 0xffffu)) return -1;
        int64_t front = (int64_t)((w >> FRONT_SHIFT) & FIELD_MASK);
        int64_t back = (int64_t)(w & FIELD_MASK);
        if (front >= back) return -1;
        uint64_t nw = from_back ? pack(tag, front, back - 1)
                                : pack(tag, front + 1, back);
        if (atomic_compare_exchange_weak_explicit(&t->word, &w, nw,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return from_back ? back - 1 : front;
    }
}

void ln__team_reset(ln__team *t) {
    t->nthreads = 1;
    atomic_store_explicit(&t->stop, 0, memory_order_relaxed);
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    atomic_store_explicit(&t->word, pack(t->tag, 0, 0), memory_order_release);
}

void ln__team_start(ln__team *t, int nthreads) {
    t->nthreads = nthreads;
    tl_team = t;
}

void ln__team_stop(ln__team *t) {
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    tl_team = NULL;
}

void ln__team_worker(ln__team *t) {
    unsigned seen = (unsigned)(atomic_load_explicit(&t->word,
                                                    memory_order_acquire) >>
                               TAG_SHIFT);
    long idle = 0;
    for (;;) {
        uint64_t w = atomic_load_explicit(&t->word, memory_order_acquire);
        unsigned tag = (unsigned)(w >> TAG_SHIFT);
        if (tag != seen) {
            int64_t task = claim(t, tag, 1);
            if (task >= 0) {
                /* The job cannot end before this task is counted, so its
                ** slot (by tag parity) stays valid while it runs. */
                const ln__team_slot *s = &t->slot[tag & 1u];
                tl_early = t->early;
                tl_in_task = 1;
                s->fn(s->arg, task);
                tl_in_task = 0;
                tl_early = NULL;
                atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
                idle = 0;
                continue;
            }
            seen = tag; /* all claimed: wait for the next job */
        }
        if (atomic_load_explicit(&t->stop, memory_order_acquire)) return;
        if (++idle < SPINS_BEFORE_YIELD) cpu_relax();
        else sched_yield();
    }
}

int ln_team_threads(void) {
    const ln__team *t = tl_team;
    return t && !tl_in_task ? t->nthreads : 1;
}

void ln_team_run(int64_t ntasks, ln_task_fn fn, void *arg) {
    ln__team *t = tl_team;
    if (ntasks <= 0) return;
    if (!t || tl_in_task || t->nthreads < 2 || ntasks < 2 || ntasks > MAX_TASKS) {
        for (int64_t i = 0; i < ntasks; i++) fn(arg, i);
        return;
    }
    /* Every task of the previous job is done (we waited for it), so no
    ** worker still uses this slot or counts into `done`. */
    unsigned tag = (t->tag + 1u) & 0xffffu;
    t->tag = tag;
    t->slot[tag & 1u].fn = fn;
    t->slot[tag & 1u].arg = arg;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    atomic_store_explicit(&t->word, pack(tag, 0, ntasks), memory_order_release);
    int64_t mine = 0, task;
    tl_in_task = 1;
    while ((task = claim(t, tag, 0)) >= 0) {
        fn(arg, task);
        mine++;
    }
    tl_in_task = 0;
    /* Wait for the tasks the others took. */
    long idle = 0;
    while (atomic_load_explicit(&t->done, memory_order_acquire) + mine < ntasks) {
        if (++idle < SPINS_BEFORE_YIELD) cpu_relax();
        else sched_yield();
    }
}
