/*
** parallel.h -- the one way lunet spreads work over threads (core; part of
** the plugin SDK through plugin_util.h).
**
** Every parallel loop in lunet is one of these, under ONE size threshold:
**
**  - ln_parallel_for(n, fn, arg): fn(arg, lo, hi) on disjoint ranges that
**    cover [0, n): inside a thread team (below) fixed chunks of
**    LN_PAR_CHUNK elements become the team's tasks; otherwise below
**    LN_PAR_MIN elements it is one call fn(arg, 0, n) (no OpenMP call at
**    all: entering even an if(0) region costs more than a short loop), and
**    above, the chunks are tasks shared with helper threads that never
**    hold the caller up (core/parallel_pool.c: no barrier; a helper that is
**    late on a busy machine takes fewer chunks). fn is elementwise -- its
**    results never depend on the cut -- typically a loop compiled per CPU
**    with LU_CLONES (plugin_util.h), so results are bitwise identical for
**    any number of threads.
**  - ln_parallel_rows(rows, cols, fn, arg): the same over whole rows of
**    `cols` elements (fn gets row ranges, chunks of about LN_PAR_CHUNK
**    elements) for loops with per-row or per-column coefficients.
**  - ln_parallel_tasks(ntasks, fn, arg): fn(arg, task) for independent
**    tasks: shared with the team when one runs, else in order here. For
**    work a plugin cuts itself (blocks of a GEMM).
**  - LN_PAR_FOR(n) / LN_PAR_FOR_SIMD(n) / LN_PAR_SUM(n, count): the same
**    threshold for kernels written as a plain loop (an OpenMP loop from
**    LN_PAR_MIN units of work on):
**        LN_PAR_FOR(n)
**        for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
**    n counts work in elements of a simple loop: a loop whose element costs
**    about k of them (a transcendental function) passes n * k, a cheaper
**    one (a copy) n / k. Such a loop runs on the calling thread alone inside
**    a team or a task.
**
** A thread team (host side: ln_parallel_region) is ONE OpenMP region that
** lives for a whole run of batches: the calling thread runs the batches and
** hands out work with ln_parallel_tasks / ln_parallel_for, the others take
** it (claiming tasks from the back of a job, the caller from the front, so
** a late thread simply takes fewer) and spin, then sleep, between jobs. A
** run of a few hundred batches thus costs one fork/join instead of one per
** kernel.
**
** Rules for fn: it writes only its own outputs with arithmetic that does not
** depend on who runs it or how many tasks there are (each output element has
** one owner; sums use a fixed blocking); it never allocates, fails, raises,
** prints, or calls ln_parallel_tasks (work handed out from inside a task
** runs in place).
*/
#ifndef LUNET_PARALLEL_H
#define LUNET_PARALLEL_H

#include "lunet/lunet.h"

/* Elements below which a loop outside a team stays serial: measured (issue
** 21, docs/performance.md) -- an OpenMP fork/join is 2.6-2.9 us, break-even
** 75k-95k (bench/par_calib.c); the helper pool's 2-thread `a + b` first
** won at 131072 elements (none at 65536) on the shared 2-core machine.
** (Core's elementwise tensor loops share work from 80k on, as split jobs
** with one helper: core/kernels.c, ew_spread.) */
#define LN_PAR_MIN 131072
#define LN_PAR_CHUNK 8192 /* elements per chunk of ln_parallel_for */
/* Cost of a lunet/vmath.h function in adds, as ln_parallel_for_cost counts:
** measured in an eager Lua loop, a:exp() took 0.9x and a:tanh() 1.5x the
** time of a + b (memory traffic and the result, not the polynomial,
** dominate), so such loops are spread from LN_PAR_MIN / 2 elements on. */
#define LN_PAR_COST_VMATH 2

typedef void (*ln_range_fn)(void *arg, int64_t lo, int64_t hi);
typedef void (*ln_task_fn)(void *arg, int64_t task);

LN_API void ln_parallel_for(int64_t n, ln_range_fn fn, void *arg);
/* ln_parallel_for for a loop whose element costs about `cost` elements of
** a simple one (an add): an exp, tanh or sigmoid is ~8, so it is spread
** from LN_PAR_MIN / 8 elements on, in chunks of LN_PAR_CHUNK / cost. */
LN_API void ln_parallel_for_cost(int64_t n, int cost, ln_range_fn fn,
                                 void *arg);
LN_API void ln_parallel_rows(int64_t rows, int64_t cols, ln_range_fn fn,
                             void *arg);
LN_API void ln_parallel_tasks(int64_t ntasks, ln_task_fn fn, void *arg);
/* fn(arg, 0) here and fn(arg, 1) on another thread: the team's, or outside
** a team the helper pool's (ln_parallel_for's helpers outside a team) when
** one is free; else both here, in order. For work cut in two halves that
** each thread keeps from call to call (ln_feature_halves): outside a team
** too, so a training loop written in Lua uses the second core without
** ln.autograd.team_run. */
LN_API void ln_parallel_pair(ln_task_fn fn, void *arg);
/* Threads of the team running on this thread's behalf; 1 when none (also
** inside a task). A plugin cuts its work into about 4x this many tasks. */
LN_API int ln_parallel_threads(void);

/* While on, every ln_parallel_* call this thread makes runs here, in
** place, as inside a task (the helpers and the team stay out); returns
** the previous setting, to be restored. For work whose results this
** thread alone reads next: a weight a pool helper updated in part is
** read back from the other core's cache by the next serial product. */
LN_API int ln_parallel_alone(int on);

/* Where work on a batch of 1-128 rows cuts n features (or a kernel's n
** input rows) into two halves, one per thread of a team: about n/2,
** rounded up to a multiple of 16 floats so that each half starts on a
** cache line; 0 (no cut) below 256 features or beyond 128 rows (up to
** there, both cores reading the kernel rows each has just updated a part
** of cost more than the cut). The Dense layer cuts its kernel rows there,
** BatchNormalization its features, and ln.matmul on a team (ln_gemm_team)
** its products, so that each core reads and updates its own half of a
** kernel (docs/performance-training.md). Depends on the shape alone: a
** cut never depends on the thread count. */
static inline int64_t ln_feature_halves(int64_t rows, int64_t n) {
    if (rows < 1 || rows > 128 || n < 256) return 0;
    return (n / 2 + 15) / 16 * 16;
}

/* LN_CLONES before a function compiles it three times -- x86-64-v4
** (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline -- and the loader picks
** the widest the CPU runs (GCC target_clones, no global -march). Every
** thread runs the same clone, so results never depend on the thread count.
** An OpenMP region's outlined body is not cloned: cloned loops live in the
** functions ln_parallel_for calls, never inside `omp parallel`. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(LN_NO_CLONES)
#define LN_CLONES                                                            \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",         \
                                 "default")))
#else
#define LN_CLONES
#endif

#define LN_PRAGMA_(x) _Pragma(#x)
#define LN_PAR_FOR(n)                                                        \
    LN_PRAGMA_(omp parallel for if ((n) >= LN_PAR_MIN) schedule(static))
#define LN_PAR_FOR_SIMD(n)                                                   \
    LN_PRAGMA_(omp parallel for simd if ((n) >= LN_PAR_MIN) schedule(static))
/* An integer count over a loop (exact, so the same for any thread count):
**     LN_PAR_SUM(n, hits) for (...) hits += ...;  -- never for floats. */
#define LN_PAR_SUM(n, var)                                                   \
    LN_PRAGMA_(omp parallel for reduction(+ : var) if ((n) >= LN_PAR_MIN)   \
               schedule(static))

/* ---- host side ------------------------------------------------------------ */

/* Run body(arg) on this thread with a thread team of every OpenMP thread
** installed, and return its status. Without a second thread, or from inside
** a parallel region, body simply runs here. */
typedef ln_status (*ln_region_fn)(void *arg);
LN_API ln_status ln_parallel_region(ln_region_fn body, void *arg);
/* 1 when ln_parallel_region would start a team (two threads or more, not
** inside a parallel region). */
LN_API int ln_parallel_team_possible(void);

#endif
