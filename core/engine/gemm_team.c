/*
** gemm_team.c -- ln_gemm_team (tensor_nn.h): ln_gemm on the thread team
** that runs on the caller's behalf (lunet/parallel.h).
**
** Inside a team (ln.autograd.team_run, so fit with a layer written in Lua)
** the caller is already in an OpenMP region: ln_gemm then runs on this
** thread alone, and the team's other threads would idle through every
** matmul of a Lua training step -- its forward products and the two
** products of each matmul's gradient, nearly all of its work. Here C is
** cut into tasks, each one ln_gemm on its part (outside a team the two
** halves below go to ln_parallel_pair's helper, where ln_gemm would run
** them on one thread: a training loop of the user's own uses both cores
** without team_run):
**
**  - a layer's products at a small batch (1-128 rows against 256 features
**    or more: parallel.h's ln_feature_halves) go by feature halves, as the
**    built-in Dense does, so that each core reads and updates its own half
**    of the kernel and the halves stay in that core's L2 from step to
**    step: x W as x[:, :s] W[:s, :] + x[:, s:] W[s:, :] (one half-sum per
**    task, then their sum); the gradient x^T G by its rows [0, s) and
**    [s, n) (the kernel rows each core read); G W^T by its columns [0, s)
**    and [s, n) (the same rows of W);
**  - other products, above a size, in blocks of whole rows (or of whole
**    columns when op(B) is transposed and wide, so that each task packs
**    only its own part of B).
**
** Determinism: ln_gemm computes every element of C as one FMA chain over k
** in blocks fixed by k alone, whoever computes it and whatever block it is
** part of (gemm.c), so a cut of rows or columns never changes a bit. The
** two half-sums change the order of the sum, so they are taken from the
** shape alone, on one thread as on a team (and in ln.matmul outside any
** team): results are the same for any number of threads.
**
** Owns nothing kept; the caller owns A, B and C. The second half-sum goes
** to a buffer of m x n floats allocated for the call.
*/
#include <stdlib.h>

#include <omp.h>

#include "lunet/kernels.h"
#include "lunet/parallel.h"
#include "lunet/tensor_nn.h"

/* Below this many flops a product is not cut. Measured on a quiet 2-core
** machine (bench_lua_layers.lua, 2 threads): with 5e5 (Dense's threshold)
** the batch-32 Lua Dense step, whose largest product is 32x784x300 (1.5e7
** flops), ran 1.63-1.71x the built-in's time, and 1.47x with 3e7; batch
** 256 (1.2e8 flops, cut either way) stayed at 0.93-0.98x. */
#define TEAM_MIN_FLOPS 3e7
/* Below this many flops a product is not cut by feature halves (the Dense
** layer's threshold for its own halves). */
#define HALF_MIN_FLOPS 5e5
/* Cuts in whole micro-tiles of every kernel (rows: 8 x 48 AVX-512, 4 x 24
** AVX2, 4 x 16 generic). Row blocks stay under 128 rows so that a block
** reads a non-transposed B in place instead of packing a private copy. */
#define ROW_STEP 8
#define ROW_MAX 120
#define COL_STEP 48

typedef struct gemm_job {
    int ta, tb, cols;
    int64_t m, n, k, per;
    int64_t half; /* > 0: two tasks, [0, half) and [half, all) */
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    const ln_gemm_epilogue *epi;
} gemm_job;

static void gemm_task(void *arg, int64_t t) {
    const gemm_job *j = arg;
    const int64_t total = j->cols ? j->n : j->m;
    int64_t lo = t * j->per, hi = lo + j->per < total ? lo + j->per : total;
    if (j->half) lo = t ? j->half : 0, hi = t ? total : j->half;
    const int64_t len = hi - lo;
    if (j->cols) { /* columns [lo, lo + len) of C: the same columns of op(B) */
        ln_gemm_epilogue e = {0}, *ep = NULL;
        if (j->epi) {
            e = *j->epi;
            if (e.bias) e.bias += lo;
            ep = &e;
        }
        ln_gemm(j->ta, j->tb, j->m, len, j->k, j->alpha, j->a, j->lda,
                j->tb ? j->b + lo * j->ldb : j->b + lo, j->ldb, j->beta,
                j->c + lo, j->ldc, ep);
    } else { /* rows [lo, lo + len) of C: the same rows of op(A) */
        ln_gemm(j->ta, j->tb, len, j->n, j->k, j->alpha,
                j->ta ? j->a + lo : j->a + lo * j->lda, j->lda, j->b, j->ldb,
                j->beta, j->c + lo * j->ldc, j->ldc, j->epi);
    }
}

static int64_t round_up(int64_t v, int64_t step) { return (v + step - 1) / step * step; }

/* The two half-sums of C = op(A) op(B) over k in [0, s) and [s, k): task 0
** into C, task 1 into part; then rows of C += part. */
typedef struct half_job {
    int ta, tb;
    int64_t m, n, k, s, lda, ldb, ldc, per;
    const float *a, *b;
    float *c, *part;
} half_job;

static void half_task(void *arg, int64_t t) {
    const half_job *j = arg;
    const int64_t k0 = t ? j->s : 0, k = t ? j->k - j->s : j->s;
    const float *a = j->ta ? j->a + k0 * j->lda : j->a + k0;
    const float *b = j->tb ? j->b + k0 : j->b + k0 * j->ldb;
    ln_gemm(j->ta, j->tb, j->m, j->n, k, 1.0f, a, j->lda, b, j->ldb, 0.0f,
            t ? j->part : j->c, t ? j->n : j->ldc, NULL);
}

static void half_sum_task(void *arg, int64_t t) {
    const half_job *j = arg;
    const int64_t r0 = t * j->per, r1 = r0 + j->per < j->m ? r0 + j->per : j->m;
    for (int64_t r = r0; r < r1; r++) {
        float *c = j->c + r * j->ldc;
        const float *p = j->part + r * j->n;
        for (int64_t q = 0; q < j->n; q++) c[q] = c[q] + p[q];
    }
}

/* Whether the two halves of a product of `flops`, cut at `cut` of `len`
** (rows, columns or terms), go to two threads (ln_parallel_pair): always on
** a team; outside one when ln_gemm would run the larger half on one thread
** (a Lua training loop's products at a small batch: the book's loop on 2
** threads 57-60k -> 91.5k samples/s, a batch of 64 87-91k -> 127k). From
** there ln_gemm's own threads share each half instead (batch 128: by
** halves 105-107k, so 112-118k; docs/performance-training.md). */
static int pair_worth(double flops, int64_t cut, int64_t len) {
    const int64_t larger = cut > len - cut ? cut : len - cut;
    return ln_parallel_threads() > 1 ||
           flops * (double)larger / (double)len < ln_gemm_threads_from();
}

/* C = op(A) op(B) as two half-sums over k (the shape asks for it: 1-128
** rows of C, 256 or more terms, a product worth cutting, C not read).
** 0 when the shape does not, or without memory for the second half (then
** one product: the same on every thread count too, as the shape and the
** memory decide, not the team). */
static int by_halves_of_k(int ta, int tb, int64_t m, int64_t n, int64_t k,
                          float alpha, const float *a, int64_t lda, const float *b,
                          int64_t ldb, float beta, float *c, int64_t ldc,
                          const ln_gemm_epilogue *epi) {
    const int64_t s = ln_feature_halves(m, k);
    if (!s || alpha != 1.0f || beta != 0.0f || epi ||
        2.0 * (double)m * (double)n * (double)k < HALF_MIN_FLOPS)
        return 0;
    half_job j = {ta, tb, m, n, k, s, lda, ldb, ldc, m, a, b, c, NULL};
    j.part = malloc((size_t)(m * n) * sizeof(float));
    if (!j.part) return 0;
    if (pair_worth(2.0 * (double)m * (double)n * (double)k, s, k)) {
        ln_parallel_pair(half_task, &j);
        j.per = (m + 1) / 2;
        ln_parallel_pair(half_sum_task, &j);
    } else { /* each half-sum on ln_gemm's own threads */
        half_task(&j, 0);
        half_task(&j, 1);
        half_sum_task(&j, 0);
    }
    free(j.part);
    return 1;
}

void ln_gemm_team(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc,
                  const ln_gemm_epilogue *epi) {
    if (m > 0 && n > 0 &&
        by_halves_of_k(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                       epi))
        return;
    const int nt = ln_parallel_threads();
    /* a second thread: the team's, or outside a team the helper pool's */
    const int two = nt > 1 || (omp_get_max_threads() > 1 && !omp_in_parallel());
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    if (!two || m <= 0 || n <= 0 || flops < HALF_MIN_FLOPS) {
        ln_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epi);
        return;
    }
    gemm_job j = {trans_a, trans_b, 0, m, n, k, 0, 0, alpha, beta, a, b,
                  lda, ldb, ldc, c, epi};
    /* a kernel's gradient x^T G at a small batch: its rows in the halves of
    ** the forward's sum; G W^T: its columns so */
    const int64_t rows_half = ln_feature_halves(k, m), cols_half = ln_feature_halves(m, n);
    const int64_t half = rows_half ? rows_half : cols_half, len = rows_half ? m : n;
    if (half && pair_worth(flops, half, len)) { /* (the second half may be the longer) */
        j.cols = !rows_half;
        j.half = half;
        ln_parallel_pair(gemm_task, &j);
        return;
    }
    if (nt < 2 || flops < TEAM_MIN_FLOPS) {
        ln_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epi);
        return;
    }
    /* about four tasks per thread (a late thread just takes fewer) */
    const int64_t want = 4 * (int64_t)nt;
    j.cols = (trans_b && n >= 2 * nt * COL_STEP) || m < 2 * ROW_STEP;
    if (j.cols) {
        j.per = round_up((n + want - 1) / want, COL_STEP);
    } else {
        j.per = round_up((m + want - 1) / want, ROW_STEP);
        if (j.per > ROW_MAX) j.per = ROW_MAX;
    }
    const int64_t total = j.cols ? n : m;
    ln_parallel_tasks((total + j.per - 1) / j.per, gemm_task, &j);
}
