/*
** layer_simd.h -- fast elementwise loops for the layer plugins (private,
** not installed), without a global -march:
**
**  - LU_CLONES compiles a loop body three times (x86-64-v4 = AVX-512,
**    x86-64-v3 = AVX2 + FMA, the baseline) and the loader picks the widest
**    the CPU runs (GCC target_clones). Every thread runs the same clone, so
**    results never depend on how the work is cut between threads.
**  - lu_range(n, fn, arg) runs fn(arg, lo, hi) over [0, n): a direct call
**    below LN_RANGE_PARALLEL_MIN elements (no OpenMP call at all: entering
**    even an if(0) parallel region costs ~0.35 us, more than a 300-element
**    loop), else ln_parallel_range's fixed chunks spread over the threads.
**    An OpenMP region's outlined body is not cloned, which is why the loops
**    live in the cloned chunk functions and never inside `omp parallel`.
**  - lu_rows_range(rows, cols, fn, arg): the same for loops that need whole
**    rows (per-feature coefficients): fn(arg, r0, r1) gets row ranges, cut
**    at fixed multiples of rows independent of the thread count.
*/
#ifndef LUNET_LAYER_SIMD_H
#define LUNET_LAYER_SIMD_H

#include "lunet/engine/optimizer.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(LN_NO_CLONES)
#define LU_CLONES                                                            \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",         \
                                 "default")))
#else
#define LU_CLONES
#endif

static inline void lu_range(int64_t n, ln_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (n < LN_RANGE_PARALLEL_MIN) fn(arg, 0, n);
    else ln_parallel_range(n, fn, arg);
}

typedef struct lu_rows_job {
    ln_range_fn fn; /* called with row ranges */
    void *arg;
    int64_t per; /* rows per chunk */
    int64_t rows;
} lu_rows_job;

static void lu_rows_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_rows_job *j = arg;
    for (int64_t c = lo; c < hi; c++) {
        int64_t r0 = c * j->per;
        int64_t r1 = r0 + j->per < j->rows ? r0 + j->per : j->rows;
        j->fn(j->arg, r0, r1);
    }
}

/* fn(arg, r0, r1) over rows [0, rows) of `cols` elements each: one call
** when small, else chunks of about LN_RANGE_CHUNK elements in parallel. */
static inline void lu_rows_range(int64_t rows, int64_t cols, ln_range_fn fn,
                                 void *arg) {
    if (rows <= 0) return;
    if (rows * cols < LN_RANGE_PARALLEL_MIN || rows == 1) {
        fn(arg, 0, rows);
        return;
    }
    int64_t per = LN_RANGE_CHUNK / (cols > 0 ? cols : 1);
    if (per < 1) per = 1;
    lu_rows_job j = {fn, arg, per, rows};
    /* chunk index space: one "element" per chunk, so every chunk is its own
    ** task; ln_parallel_range's cut of that space never splits a chunk. */
    int64_t nchunks = (rows + per - 1) / per;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; c++) lu_rows_chunk(&j, c, c + 1);
}

#endif
