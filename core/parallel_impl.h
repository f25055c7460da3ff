/*
** parallel_impl.h -- what parallel.c (thread teams, chunked ranges) and
** parallel_pool.c (the helpers of loops outside a team) share: the job
** word and its claims. Internal to core. Owner: core (issue 21).
**
** A job is ntasks independent tasks published in one 64-bit word:
** tag (16 bits) | front (24) | back (24); tasks [front, back) are
** unclaimed. The publisher claims from the front, helpers from the back,
** each claim a compare-and-swap that also checks the tag, so a stale
** claim on a finished job fails and a late helper simply takes fewer.
*/
#ifndef LUNET_PARALLEL_IMPL_H
#define LUNET_PARALLEL_IMPL_H

#include <stdatomic.h>

#include "lunet/parallel.h"

#define LN__TAG_SHIFT 48
#define LN__FRONT_SHIFT 24
#define LN__FIELD_MASK ((UINT64_C(1) << 24) - 1)
#define LN__MAX_TASKS ((int64_t)LN__FIELD_MASK)

static inline void ln__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

static inline uint64_t ln__job_pack(unsigned tag, int64_t front, int64_t back) {
    return ((uint64_t)(tag & 0xffffu) << LN__TAG_SHIFT) |
           ((uint64_t)front << LN__FRONT_SHIFT) | (uint64_t)back;
}

static inline unsigned ln__job_tag(uint64_t w) {
    return (unsigned)(w >> LN__TAG_SHIFT);
}

/* Claim up to `want` tasks of the job tagged `tag` from the front
** (from_back = 0) or the back: the first (lowest) one, *count set to how
** many; -1 when none is left or the job is over. */
static inline int64_t ln__job_claim_n(_Atomic uint64_t *word, unsigned tag,
                                      int from_back, int64_t want,
                                      int64_t *count) {
    uint64_t w = atomic_load_explicit(word, memory_order_acquire);
    for (;;) {
        if (ln__job_tag(w) != (tag & 0xffffu)) return -1;
        int64_t front = (int64_t)((w >> LN__FRONT_SHIFT) & LN__FIELD_MASK);
        int64_t back = (int64_t)(w & LN__FIELD_MASK);
        if (front >= back) return -1;
        const int64_t k = want < back - front ? want : back - front;
        uint64_t nw = from_back ? ln__job_pack(tag, front, back - k)
                                : ln__job_pack(tag, front + k, back);
        if (atomic_compare_exchange_weak_explicit(word, &w, nw,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
            *count = k;
            return from_back ? back - k : front;
        }
    }
}

/* One task from the front or the back; -1 as above. */
static inline int64_t ln__job_claim(_Atomic uint64_t *word, unsigned tag,
                                    int from_back) {
    int64_t count;
    return ln__job_claim_n(word, tag, from_back, 1, &count);
}

/* Run fn(arg, 0 .. ntasks-1) on this thread and the pool's helpers
** (nthreads in all); 0 without doing anything when the pool cannot take
** the job (no helper could be started, or another thread's job runs):
** the caller then runs the tasks itself. */
int ln__pool_run(int64_t ntasks, ln_task_fn fn, void *arg, int nthreads);

/* fn over units [0, n) in tasks of `per` units, for work of about 3-15 us
** (below LN_PAR_MIN): a split job. This thread keeps the first tasks
** (SPLIT_LEAD %) without claiming them; a helper, when it comes, claims
** all the others at once; this thread then claims one by one what is still
** there. A transfer of a cache line between the cores costs ~250 ns on the
** 2-vCPU machines here: a helper starts one late and its results come back
** one later, and a claim per task would cost one each. A sleeping helper
** is woken only in a run of such jobs (that syscall costs as much as the
** job); 0 when the pool cannot take the job (nothing done). */
int ln__pool_split(ln_range_fn fn, void *arg, int64_t n, int64_t per,
                   int nthreads);

/* ln__pool_split's entry for core's elementwise loops and reductions
** (par_for.h's ln__split_spread): units [0, n), tasks of a multiple of
** `align` units; 0 inside a team or a task, or when no helper can take
** it. (Exported for tests/c/test_kernels.c.) */
LN_API int ln__parallel_split(int64_t n, int64_t align, ln_range_fn fn, void *arg);

/* ln__spread's turn for `work` elements of float32: 0 and 1 on alternate
** calls from this thread outside a team, over at least 3 L2 caches' worth
** of data; else 0. (Exported for test_reduce_paths.c's second copy of
** kernels_reduce.c.) */
LN_API int ln__spread_turn(int64_t work);

/* One loop of par_for.h's LN_FOR from LN_PAR_MIN units of work: when it
** started, the shortest time a thread of its team took for its static
** share (ns), the team's size. */
typedef struct ln__omp_loop {
    double t0;
    _Atomic int64_t share_ns;
    int nt;
} ln__omp_loop;

/* Where the loop runs (parallel_omp.c), its clock started: 1 on an OpenMP
** team; 0 on this thread; -1 on this thread, timed (a loss is being paid
** off: ln__omp_loop_paid after it). */
LN_API int ln__omp_loop_go(ln__omp_loop *k);
/* Inside the region, after a thread's share (nowait) that started at
** `start` (ln_time): how long it took. */
LN_API void ln__omp_loop_share_done(ln__omp_loop *k, double start);
/* After the region: whether it lost to running alone, and by how much. */
LN_API void ln__omp_loop_end(const ln__omp_loop *k);
/* After a timed loop on this thread: its time pays the loss off. */
LN_API void ln__omp_loop_paid(const ln__omp_loop *k);
/* A fresh account: nothing owed or earned (ln_set_num_threads). */
LN_API void ln__omp_loop_reset(void);

#endif
