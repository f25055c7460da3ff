/*
** kernels.h -- the numeric kernels every layer and the Lua binding use.
**
** Rules for every kernel here:
**  - OpenMP-parallel inside (only above a size where it pays), never raising,
**    printing or allocating inside a parallel region;
**  - results are bitwise identical for any thread count: each output element
**    has one owner thread and every reduction sums in a fixed blocking that
**    does not depend on the number of threads;
**  - pointers are to contiguous float32 (row-major) unless stated.
*/
#ifndef LUNET_KERNELS_H
#define LUNET_KERNELS_H

#include "lunet/tensor.h"

/* ---- GEMM --------------------------------------------------------------- */

/* Applied to each finished block of C, after alpha*op(A)*op(B) + beta*C:
** first bias[j] is added to every element of column j (if bias != NULL),
** then fn(block, len, arg) runs in place on row segments (if fn != NULL),
** so a Dense layer needs no second pass over its output. fn must be
** elementwise (an activation's forward). */
typedef struct ln_gemm_epilogue {
    const float *bias;
    void (*fn)(float *x, int64_t len, const void *arg);
    const void *arg;
} ln_gemm_epilogue;

/* C[m x n] = alpha * op(A) * op(B) + beta * C, row-major.
** op(A) is m x k: A is m x k (lda >= k) or, with trans_a, k x m (lda >= m).
** op(B) is k x n: B is k x n (ldb >= n) or, with trans_b, n x k (ldb >= k).
** beta == 0 means C is not read (NaNs in it do not propagate).
** epi may be NULL. */
LN_API void ln_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                    float alpha, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float beta, float *c, int64_t ldc,
                    const ln_gemm_epilogue *epi);

/* Name of the GEMM micro-kernel picked for this CPU ("avx512", "avx2",
** "generic"). */
LN_API const char *ln_gemm_kernel_name(void);
/* Flops (2 m n k) from which ln_gemm, called outside a parallel region,
** runs a product on several threads of its own (this CPU's kernel). */
LN_API double ln_gemm_threads_from(void);

/* CPU set-up: flush denormals to zero (FTZ/DAZ) in the calling thread;
** OpenMP workers inherit it when the first parallel region creates them.
** Called when the Lua module opens and by ln_set_num_threads; C programs
** embedding liblunet call it once at start, before their first parallel
** region (a pool created earlier keeps its own setting). Safe to call
** again. */
LN_API void ln_cpu_init(void);

/* ---- elementwise (n elements, in place allowed: y may equal x; an output
** that overlaps an input only partly is not: the loops are vectorised) ---- */

LN_API void ln_fill(float *y, int64_t n, float v);
LN_API void ln_copy(float *y, const float *x, int64_t n);
LN_API void ln_scale(float *y, const float *x, float a, int64_t n); /* y=a*x */
LN_API void ln_axpy(float *y, float a, const float *x, int64_t n); /* y+=a*x */

typedef enum ln_unary_op {
    LN_U_NEG, LN_U_ABS, LN_U_EXP, LN_U_LOG, LN_U_SQRT, LN_U_SQUARE,
    LN_U_SIGN, LN_U_FLOOR, LN_U_CEIL, LN_U_ROUND, LN_U_TANH, LN_U_SIGMOID
} ln_unary_op;
LN_API void ln_unary(ln_unary_op op, float *y, const float *x, int64_t n);
LN_API void ln_clamp(float *y, const float *x, float lo, float hi, int64_t n);

typedef enum ln_binary_op {
    LN_B_ADD, LN_B_SUB, LN_B_MUL, LN_B_DIV, LN_B_POW, LN_B_MAX, LN_B_MIN,
    LN_B_EQ, LN_B_NE, LN_B_LT, LN_B_LE, LN_B_GT, LN_B_GE /* give 1 or 0 */
} ln_binary_op;
/* z = x op y with numpy broadcasting over shapes (float32 only). The output
** shape is computed into out_nd/out_shape by ln_broadcast_shape first. z may
** be x or y itself, never a partial overlap of them (vectorised loops). */
LN_API ln_status ln_broadcast_shape(ln_ctx *ctx, int na, const int64_t *sa,
                                    int nb, const int64_t *sb, int *nout,
                                    int64_t *sout);
LN_API void ln_binary(ln_binary_op op, float *z, int nz, const int64_t *sz,
                      const float *x, int nx, const int64_t *sx,
                      const float *y, int ny, const int64_t *sy);
/* z = x op s (scalar_first: z = s op x). */
LN_API void ln_binary_scalar(ln_binary_op op, float *z, const float *x,
                             float s, int scalar_first, int64_t n);

/* ---- reductions ---------------------------------------------------------- */

/* Whole-array sums, fixed blocking (the same bits for any thread count and
** CPU). ln_sum: float32 lanes of at most 8 terms, then double (at least as
** accurate as a float32 pairwise sum: core/kernels.c); ln_sumsq: double. */
LN_API double ln_sum(const float *x, int64_t n);
LN_API double ln_sumsq(const float *x, int64_t n);

/* The first position of the largest (want_max) or smallest of x[0..n)
** under ln_reduce's rule -- the first of equal values, the first NaN over
** every number -- 0 when n == 0; and the sum of (x - mean)^2 in double
** lanes (a fixed order). Whole-tensor :max/:argmax/:var's blocks. */
LN_API int64_t ln_argext(const float *x, int64_t n, int want_max);
/* x[ln_argext(x, n, want_max)] in one pass where it can (no NaN, not zero);
** NaN when n == 0. Whole-tensor :max/:min's blocks. */
LN_API float ln_ext_value(const float *x, int64_t n, int want_max);
LN_API double ln_sum_dev2(const float *x, int64_t n, double mean);

typedef enum ln_reduce_op {
    LN_R_SUM, LN_R_MEAN, LN_R_MAX, LN_R_MIN, LN_R_ARGMAX, LN_R_ARGMIN,
    LN_R_VAR /* biased */, LN_R_STD /* unbiased, like Torch */
} ln_reduce_op;
/* Reduce a tensor viewed as [outer, len, inner] along its middle axis:
** y[o, i] = op over l of x[o, l, i]. ARGMAX/ARGMIN give 0-based positions
** as floats (first wins ties, the first NaN beats every number); sums in
** double (core/kernels_reduce.c), the same bits for any thread count. */
LN_API void ln_reduce(ln_reduce_op op, float *y, const float *x,
                      int64_t outer, int64_t len, int64_t inner);

/* Row-wise softmax of a [rows x cols] block: exp(x - max) / sum, the sum
** in 16 double lanes in a fixed order, the same for any CPU and thread
** count (the "softmax" activation's forward). */
LN_API void ln_softmax_rows(float *y, const float *x, int64_t rows,
                            int64_t cols);
/* Row-wise log-softmax. */
LN_API void ln_log_softmax_rows(float *y, const float *x, int64_t rows,
                                int64_t cols);
/* y[r] = log sum_c exp(x[r, c]) over rows of cols >= 1 (max-shifted, the
** sum in double). */
LN_API void ln_logsumexp_rows(float *y, const float *x, int64_t rows, int64_t cols);
/* The same along a dim with elements after it: x is [outer x len x inner],
** each of the outer * inner columns taken over len (y as x; logsumexp's y
** [outer x inner]). The max as the rows' rule, the exponentials in
** vectors, each column's sum in double adding the len rows in order. */
LN_API void ln_softmax_cols(float *y, const float *x, int64_t outer, int64_t len,
                            int64_t inner, int take_log);
LN_API void ln_logsumexp_cols(float *y, const float *x, int64_t outer, int64_t len,
                              int64_t inner);
/* The gradient gx of softmax (take_log 0: y (g - sum g y)) or log-softmax
** (g - exp(y) sum g) along len, from its output y and the gradient g;
** all [outer x len x inner]. Sums in double, the same bits for any thread
** count. */
LN_API void ln_softmax_backward(float *gx, const float *y, const float *g,
                                int64_t outer, int64_t len, int64_t inner,
                                int take_log);

/* Column sums of a [rows x cols] block: y[j] = sum_i x[i, j] (+ y[j] if
** accumulate). The bias gradient of Dense. */
LN_API void ln_sum_rows(float *y, const float *x, int64_t rows, int64_t cols,
                        int accumulate);

/* Gather rows: y[r, :] = x[idx[r], :] for r < nidx (row length rowlen
** elements of elsize bytes). The batch assembly of fit. */
LN_API void ln_gather_rows(void *y, const void *x, const int64_t *idx,
                           int64_t nidx, int64_t rowlen, size_t elsize);

#endif
