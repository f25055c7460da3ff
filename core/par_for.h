/*
** par_for.h -- private to core's tensor loops (tensor_ops*.c, kernels*.c,
** engine/tensor_ops_nn.c, tensor.c, rng.c): LN_PAR_FOR / LN_PAR_SUM without the
** OpenMP region below the threshold; io_idx.c's conversions too. Owner:
** core (issue 21).
**
** `#pragma omp parallel for if (n >= LN_PAR_MIN)` still enters libgomp when
** the condition is false (a team of one is set up and torn down): 4-5 us on
** this machine, measured on 1,000-element `t:contiguous()`, `ln.arange`,
** `a:gt(0.5)`, `a:int()` and `ln.cat` (each 4.4-5.1 us against 0.37 for
** `a + a`, which never entered a region). These macros take the loop as
** their argument and compile it twice: an OpenMP loop from LN_PAR_MIN units
** of work on (outside any parallel region, as LN_PAR_FOR's nested regions
** ran on one thread there anyway, and with more than one thread allowed),
** a plain loop below.
**
** An OpenMP loop ends in a barrier: with the other vCPU busy, the caller
** can wait a scheduler's time slice for it (300k-element calls from Lua
** took up to 10x their one-thread time at load 2). So each loop on a team
** is timed, and after a loss the next ones run alone for a while
** (parallel_omp.c: ln__omp_loop_go says where a loop runs).
**
**     LN_FOR(n, for (int64_t i = 0; i < n; i++) y[i] = f(x[i]););
**     LN_SUM_FOR(n, count, for (...) count += ...;);   -- integers only
**
** The loops themselves are unchanged, so are their results.
*/
#ifndef LUNET_PAR_FOR_H
#define LUNET_PAR_FOR_H

#include <omp.h>

#include "lunet/lunet.h"
#include "lunet/parallel.h"
#include "parallel_impl.h"

/* Both: the loop on a team with the given `omp for` clauses, or alone. */
#define LN__OMP_LOOP(n, CLAUSES, ...)                                        \
    do {                                                                     \
        ln__omp_loop k_;                                                     \
        const int go_ = (n) >= LN_PAR_MIN ? ln__omp_loop_go(&k_) : 0;        \
        if (go_ > 0) {                                                       \
            LN_PRAGMA_(omp parallel)                                         \
            {                                                                \
                const double s_ = ln_time();                                 \
                LN_PRAGMA_(omp for CLAUSES)                                  \
                __VA_ARGS__                                                  \
                ln__omp_loop_share_done(&k_, s_);                            \
            }                                                                \
            ln__omp_loop_end(&k_);                                           \
        } else {                                                             \
            __VA_ARGS__                                                      \
            if (go_ < 0) ln__omp_loop_paid(&k_);                             \
        }                                                                    \
    } while (0)

#define LN_FOR(n, ...) LN__OMP_LOOP(n, schedule(static) nowait, __VA_ARGS__)
#define LN_SUM_FOR(n, var, ...)                                              \
    LN__OMP_LOOP(n, reduction(+ : var) schedule(static) nowait, __VA_ARGS__)

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

/* The elementwise kernels of tensor expressions (kernels.c; the int32
** arithmetic of tensor_ops_math.c) go by ln__spread: at most 16 tasks of
** consecutive elements, multiples of 1024. The threshold is
** ln_parallel_rows's (n * cost from LN_PAR_MIN on). Elementwise: no result
** depends on the cut. Between LN__EW_SPLIT and LN_PAR_MIN units of work, a
** split job with one helper (ln__parallel_split): a + b on 49k-60k
** elements 1.24-1.31x of one thread, exp 1.29-1.41x, and 0.95-1.08x with
** the other core busy. Below LN__EW_SPLIT a job is under ~3 us and the second
** core's share does not pay for the two transfers it costs (a * 1.5 on
** 40k lost 1-7 %).
**
** The whole reductions (kernels.c's block_sum, the whole max and min of
** tensor_ops_math.c, ln_reduce's rows and columns) go the same way. On
** the Intel host a 100k sum split alone gained 5-10 % and lost 6-16 %
** with the other core busy, so there it split only right after another
** job on the helper; on the AMD EPYC host (7 December) split alone it
** takes 2.6-2.9 us against 4.2 (3.6 on one thread) and 3.8-3.9 against
** 3.7-3.8 with a busy loop on the other core (docs/performance.md). */
#define LN__EW_SPLIT 81920
static inline void ln__split_spread(int64_t units, int64_t cost, int64_t align,
                                    ln_range_fn fn, void *arg) {
    const int64_t work = units > INT64_MAX / cost ? INT64_MAX : units * cost;
    if (work > LN__EW_SPLIT && work < LN_PAR_MIN &&
        ln__parallel_split(units, align, fn, arg))
        return;
    ln__spread(units, cost, align, fn, arg);
}

static inline void ln__ew_spread(int64_t n, int cost, ln_range_fn fn, void *arg) {
    ln__split_spread(n, cost, 1024, fn, arg);
}

/* The arithmetic of tensor expressions (a * 1.5, a + b) counts as two
** units of work, as the vmath functions do (LN_PAR_COST_VMATH): it writes
** a fresh result whose lines come from L3, and an expression whose exp is
** spread while its + stays on one core moves every block between the
** cores twice (2 threads, 100k elements: (a * 1.5 + b):exp():sum() took
** 63 us against 50 on 1 thread; spread alike from 65536 on: 43-46). */
#define LN_EW_COST LN_PAR_COST_VMATH

#endif
