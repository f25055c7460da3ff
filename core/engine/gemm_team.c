/*
** gemm_team.c -- ln_gemm_team (tensor_nn.h): ln_gemm on the thread team
** that runs on the caller's behalf (lunet/parallel.h).
**
** Inside a team (ln.autograd.team_run, so fit with a layer written in Lua)
** the caller is already in an OpenMP region: ln_gemm then runs on this
** thread alone, and the team's other threads would idle through every
** matmul of a Lua training step -- its forward products and the two
** products of each matmul's gradient, nearly all of its work. Here C is
** cut into blocks of whole rows (or of whole columns when op(B) is
** transposed and wide, so that each task packs only its own part of B) that
** become the team's tasks, each one ln_gemm on its block.
**
** Determinism: ln_gemm computes every element of C as one FMA chain over k
** in blocks fixed by k alone, whoever computes it and whatever block it is
** part of (gemm.c), so the cut never changes a bit: results are the same
** for any number of threads, with a team or without.
**
** Owns nothing; the caller owns A, B and C.
*/
#include "lunet/kernels.h"
#include "lunet/parallel.h"
#include "lunet/tensor_nn.h"

/* Below this many flops a product is not cut. Measured on a quiet 2-core
** machine (bench_lua_layers.lua, 2 threads): with 5e5 (Dense's threshold)
** the batch-32 Lua Dense step, whose largest product is 32x784x300 (1.5e7
** flops), ran 1.63-1.71x the built-in's time, and 1.47x with 3e7; batch
** 256 (1.2e8 flops, cut either way) stayed at 0.93-0.98x. */
#define TEAM_MIN_FLOPS 3e7
/* Cuts in whole micro-tiles of every kernel (rows: 8 x 48 AVX-512, 4 x 24
** AVX2, 4 x 16 generic). Row blocks stay under 128 rows so that a block
** reads a non-transposed B in place instead of packing a private copy. */
#define ROW_STEP 8
#define ROW_MAX 120
#define COL_STEP 48

typedef struct gemm_job {
    int ta, tb, cols;
    int64_t m, n, k, per;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    const ln_gemm_epilogue *epi;
} gemm_job;

static void gemm_task(void *arg, int64_t t) {
    const gemm_job *j = arg;
    const int64_t lo = t * j->per, total = j->cols ? j->n : j->m;
    const int64_t len = total - lo < j->per ? total - lo : j->per;
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

void ln_gemm_team(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc,
                  const ln_gemm_epilogue *epi) {
    const int nt = ln_parallel_threads();
    if (nt < 2 || m <= 0 || n <= 0 ||
        2.0 * (double)m * (double)n * (double)k < TEAM_MIN_FLOPS) {
        ln_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epi);
        return;
    }
    gemm_job j = {trans_a, trans_b, 0, m, n, k, 0, alpha, beta, a, b,
                  lda, ldb, ldc, c, epi};
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
