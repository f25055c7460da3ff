/*
** par_for.h -- private to core's tensor loops (tensor_ops*.c, kernels*.c,
** engine/tensor_ops_nn.c, tensor.c, rng.c): LN_PAR_FOR / LN_PAR_SUM without the
** OpenMP region below the threshold. Owner: core (issue 21).
**
** `#pragma omp parallel for if (n >= LN_PAR_MIN)` still enters libgomp when
** the condition is false (a team of one is set up and torn down): 4-5 us on
** this machine, measured on 1,000-element `t:contiguous()`, `ln.arange`,
** `a:gt(0.5)`, `a:int()` and `ln.cat` (each 4.4-5.1 us against 0.37 for
** `a + a`, which never entered a region). These macros take the loop as
** their argument and compile it twice: an OpenMP loop from LN_PAR_MIN units
** of work on (outside any parallel region, as LN_PAR_FOR's nested regions
** ran on one thread there anyway), a plain loop below.
**
**     LN_FOR(n, for (int64_t i = 0; i < n; i++) y[i] = f(x[i]););
**     LN_SUM_FOR(n, count, for (...) count += ...;);   -- integers only
**
** The loops themselves are unchanged, so are their results.
*/
#ifndef LUNET_PAR_FOR_H
#define LUNET_PAR_FOR_H

#include <omp.h>

#include "lunet/parallel.h"
#include "parallel_impl.h"

#define LN_FOR(n, ...)                                                       \
    do {                                                                     \
        if ((n) >= LN_PAR_MIN && !omp_in_parallel()) {                      \
            LN_PRAGMA_(omp parallel for schedule(static))                    \
            __VA_ARGS__                                                      \
        } else {                                                             \
            __VA_ARGS__                                                      \
        }                                                                    \
    } while (0)

#define LN_SUM_FOR(n, var, ...)                                              \
    do {                                                                     \
        if ((n) >= LN_PAR_MIN && !omp_in_parallel()) {                      \
            LN_PRAGMA_(omp parallel for reduction(+ : var) schedule(static)) \
            __VA_ARGS__                                                      \
        } else {                                                             \
            __VA_ARGS__                                                      \
        }                                                                    \
    } while (0)

/* The body once per block [LO, HI) of BLOCK elements of 0..N (the last
** one shorter), the blocks spread as LN_FOR spreads its loop when WORK
** (elements of work) is large enough; LN_SUM_FOR_BLOCKS adds VAR over
** the threads as LN_SUM_FOR does. Fixed blocks: what a block computes
** does not depend on the thread that runs it. */
#define LN_FOR_BLOCKS(N, BLOCK, WORK, LO, HI, ...)                           \
    do {                                                                     \
        const int64_t n_ = (N), bl_ = (BLOCK), nb_ = (n_ + bl_ - 1) / bl_;   \
        LN_FOR(WORK, for (int64_t b_ = 0; b_ < nb_; b_++) {                  \
            const int64_t LO = b_ * bl_;                                     \
            const int64_t HI = LO + bl_ < n_ ? LO + bl_ : n_;                \
            __VA_ARGS__                                                      \
        });                                                                  \
    } while (0)
#define LN_SUM_FOR_BLOCKS(N, BLOCK, VAR, LO, HI, ...)                        \
    do {                                                                     \
        const int64_t n_ = (N), bl_ = (BLOCK), nb_ = (n_ + bl_ - 1) / bl_;   \
        LN_SUM_FOR(n_, VAR, for (int64_t b_ = 0; b_ < nb_; b_++) {           \
            const int64_t LO = b_ * bl_;                                     \
            const int64_t HI = LO + bl_ < n_ ? LO + bl_ : n_;                \
            __VA_ARGS__                                                      \
        });                                                                  \
    } while (0)

/* fn over units [0, units) -- elements, rows or blocks, each `cost`
** elements of work -- in at most LN_SPREAD_TASKS tasks of consecutive
** units (a multiple of `align` units each, the last one shorter, and at
** least LN_PAR_CHUNK elements of work), through ln_parallel_rows: the
** helper pool, no OpenMP region. fn gets unit ranges. Every task is one
** claim on the pool's job word, which the two cores pass back and forth:
** one per 8k-element chunk (128 for 1M elements) cost a 2-thread sum ~15 %
** of its time. Which task holds a unit must never change its result. */
#define LN_SPREAD_TASKS 16
typedef struct ln__spread_job {
    ln_range_fn fn;
    void *arg;
    int64_t units, per, ntasks;
    int turn;
} ln__spread_job;

/* On every other call (turn) over data well beyond the cores' L2 caches,
** a task run alone is mapped to the mirror image within its half: the
** caller, which claims tasks from the front, then walks its half from the
** middle down, and a helper, claiming from the back, from the middle up.
** Each core walks its half the other way than last time and starts on
** what it touched last, still in its L2 (a repeated 1M-element sum: 1.2x).
** Below that size the halves stay in L2 either way, and the mirror only
** moves a task or two of the middle to the other core. Which task holds a
** unit never changes a result. */
static inline void ln__spread_range(void *arg, int64_t lo, int64_t hi) {
    const ln__spread_job *s = arg;
    if (s->turn && hi == lo + 1) {
        const int64_t mid = s->ntasks / 2;
        lo = lo < mid ? mid - 1 - lo : mid + (s->ntasks - 1 - lo);
        hi = lo + 1;
    }
    s->fn(s->arg, lo * s->per, hi * s->per < s->units ? hi * s->per : s->units);
}

static inline void ln__spread(int64_t units, int64_t cost, int64_t align,
                              ln_range_fn fn, void *arg) {
    if (units <= 0) return;
    int64_t per = (units + LN_SPREAD_TASKS - 1) / LN_SPREAD_TASKS;
    const int64_t min_per = (LN_PAR_CHUNK + cost - 1) / cost;
    if (per < min_per) per = min_per;
    per = (per + align - 1) / align * align;
    if (per > units) per = units;
    const int64_t work = units > INT64_MAX / cost ? INT64_MAX : units * cost;
    const int64_t ntasks = (units + per - 1) / per;
    ln__spread_job s = {fn, arg, units, per, ntasks,
                        work >= LN_PAR_MIN && ntasks > 2 ? ln__spread_turn(work) : 0};
    ln_parallel_rows(ntasks, cost * per, ln__spread_range, &s);
}

#endif
