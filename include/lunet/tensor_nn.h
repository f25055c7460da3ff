/*
** tensor_nn.h -- float32 tensor operations that models and their gradients
** need beyond tensor_ops.h: softmax, log-softmax and log-sum-exp along any
** dim, where, p-norms, and the adjoints of broadcasting and indexing
** (sums down to a broadcast shape, expansion, scatter-add, index-add).
** Provided by the engine library (liblunet_nn), not the core.
**
** Conventions as in tensor_ops.h: dims are 0-based; every function
** returns a new tensor the caller owns (NULL with the reason in ctx);
** kernels give each output element one owner and sum in a fixed order, so
** results do not depend on the thread count.
*/
#ifndef LUNET_TENSOR_NN_H
#define LUNET_TENSOR_NN_H

#include "lunet/tensor_ops.h"

/* x summed down to `shape`, which must broadcast to x's shape (numpy
** rules): the adjoint of broadcasting. Leading dims reduced with the row
** sums of kernels.h (ln_sum_rows, float, rows in order), others in double. */
LN_API ln_tensor *ln_sum_to(ln_ctx *ctx, const ln_tensor *x, int nd,
                            const int64_t *shape);
/* x broadcast to `shape` (a copy). */
LN_API ln_tensor *ln_expand(ln_ctx *ctx, const ln_tensor *x, int nd,
                            const int64_t *shape);

/* softmax (or log-softmax when `log`) along dim, max-subtracted. */
LN_API ln_tensor *ln_softmax_dim(ln_ctx *ctx, const ln_tensor *x, int dim,
                                 int log);
/* The gradient of softmax (y (g - sum(g y))) or, when `log`, of
** log_softmax (g - exp(y) sum(g)) along dim, given the output y and the
** output's gradient g (of y's shape). */
LN_API ln_tensor *ln_softmax_grad(ln_ctx *ctx, const ln_tensor *y,
                                  const ln_tensor *g, int dim, int log);
/* log(sum(exp(x))) along dim, max-subtracted, summed in double; -inf when
** every entry is -inf. keepdim keeps dim with size 1. */
LN_API ln_tensor *ln_logsumexp(ln_ctx *ctx, const ln_tensor *x, int dim,
                               int keepdim);

/* cond ? a : b elementwise with broadcasting of all three; cond of any
** dtype (nonzero is true); a and b float32 tensors, or NULL for the numbers
** sa, sb. */
LN_API ln_tensor *ln_where(ln_ctx *ctx, const ln_tensor *cond,
                           const ln_tensor *a, double sa, const ln_tensor *b,
                           double sb);

/* The p-norm (p > 0, or INFINITY for the largest |x|) along dim, or over
** every element when dim < 0 (a 0-d result). Sums in double. */
LN_API ln_tensor *ln_norm(ln_ctx *ctx, const ln_tensor *x, double p, int dim,
                          int keepdim);

/* The region of x's elements [start, start + len) along dim; dim dropped
** from the region's shape when `drop` (a select). */
LN_API void ln_region_narrow(const ln_tensor *x, int dim, int64_t start,
                             int64_t len, int drop, ln_region *r);

/* zeros(shape) then, for each element e of src (idx has src's shape and
** ndim == nd), out[e's coordinates with dim replaced by idx[e] - base] +=
** src[e], in src's order: the adjoint of ln_gather. Indices are checked. */
LN_API ln_tensor *ln_scatter_add(ln_ctx *ctx, int nd, const int64_t *shape,
                                 int dim, const ln_tensor *idx, int64_t base,
                                 const ln_tensor *src);
/* zeros(shape) then out[.., idx[r], ..] += src[.., r, ..] along dim, r in
** order (idx 0-based, already checked): the adjoint of ln_index_select,
** repeated indices accumulate. */
LN_API ln_tensor *ln_index_add(ln_ctx *ctx, int nd, const int64_t *shape,
                               int dim, const int64_t *idx, int64_t n,
                               const ln_tensor *src);

/* ln_gemm (kernels.h) on the thread team running on the caller's behalf
** (lunet/parallel.h; inside ln.autograd.team_run, where ln_gemm alone
** would run on this thread): C cut into blocks of rows or columns, one
** task each, above a size. Outside a team it is ln_gemm. Bitwise the same
** as ln_gemm for any thread count. */
LN_API void ln_gemm_team(int trans_a, int trans_b, int64_t m, int64_t n,
                         int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c,
                         int64_t ldc, const ln_gemm_epilogue *epi);

#endif
