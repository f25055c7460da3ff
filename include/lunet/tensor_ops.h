/*
** tensor_ops.h -- tensor-level operations of any dtype: copies that move
** axes (permute, narrow along any dim, concatenation), indexing (index
** select/copy/fill, gather), masks (comparisons, logical ops, masked
** select/fill/copy), integer arithmetic with broadcasting, whole-tensor
** reductions, and small constructors (arange, one-hot).
**
** Conventions:
**  - dims and indices are 0-based here (the Lua binding converts); functions
**    taking index tensors accept int32 or uint8 ones and a `base` that is
**    subtracted from every index (1 for Lua's 1-based positions);
**  - functions returning a tensor return a new one the caller owns (NULL on
**    failure with the reason in ctx); masks are uint8 tensors of 0 and 1;
**  - every kernel obeys kernels.h's rules: OpenMP only above a size where it
**    pays, one owner per output element, reductions combined in a fixed
**    block order, so results are identical for any thread count.
*/
#ifndef LUNET_TENSOR_OPS_H
#define LUNET_TENSOR_OPS_H

#include "lunet/kernels.h"
#include "lunet/tensor.h"

/* ---- element access ------------------------------------------------------- */

/* Element i (flat, 0-based) of t as a double, whatever its dtype. */
static inline double ln_get_f64(const ln_tensor *t, int64_t i) {
    switch (t->dtype) {
    case LN_FLOAT32: return ln_f32(t)[i];
    case LN_INT32: return ln_i32(t)[i];
    case LN_UINT8: return ln_u8(t)[i];
    }
    return 0;
}

/* Can v be stored in dtype d exactly? For int32 and uint8: an integer in
** range (a fraction, NaN or an infinity is not); any number for float32. */
LN_API int ln_value_fits(ln_dtype d, double v);
/* Store v into element i. The caller checks ln_value_fits first. */
LN_API void ln_set_f64(ln_tensor *t, int64_t i, double v);

/* ---- copies that rearrange ------------------------------------------------- */

/* A copy with axes permuted: out.shape[i] = x.shape[perm[i]]. perm must be a
** permutation of 0..ndim-1. */
LN_API ln_tensor *ln_permute(ln_ctx *ctx, const ln_tensor *x, const int *perm);
/* A copy of x restricted to [start, start + len) along dim (any dim; along
** dim 0 ln_tensor_narrow gives a view instead). */
LN_API ln_tensor *ln_narrow_copy(ln_ctx *ctx, const ln_tensor *x, int dim,
                                 int64_t start, int64_t len);
/* Concatenation of n tensors along dim: same dtype, same ndim, same sizes
** except along dim. Messages name the function `fn` and both shapes. */
LN_API ln_tensor *ln_cat(ln_ctx *ctx, const ln_tensor *const *ts, int n,
                         int dim, const char *fn);

/* ---- indexing --------------------------------------------------------------- */
/* A box inside a contiguous tensor: element (c0, .., ck) of the region is
** element offset + sum ci * stride[i] of the tensor. Made by slicing (Torch's
** t[{i, {a, b}, {}}]); distinct region elements are distinct tensor
** elements. */
typedef struct ln_region {
    int nd;
    int64_t offset;
    int64_t shape[LN_MAX_DIM], stride[LN_MAX_DIM];
} ln_region;

/* Is the region one contiguous block (so a view can share storage)? */
LN_API int ln_region_is_block(const ln_region *r);
/* A new tensor holding the region's elements. */
LN_API ln_tensor *ln_region_read(ln_ctx *ctx, const ln_tensor *x,
                                 const ln_region *r);
/* region = v (v must fit x's dtype). */
LN_API ln_status ln_region_fill(ln_ctx *ctx, ln_tensor *x, const ln_region *r,
                                double v);
/* region = src, src broadcast to the region's shape (numpy rules) and of
** x's dtype. fn names the caller in messages. */
LN_API ln_status ln_region_write(ln_ctx *ctx, ln_tensor *x, const ln_region *r,
                                 const ln_tensor *src, const char *fn);


/* The flat position of the first index of an int32 or uint8 tensor outside
** base .. base + size - 1, or -1 when all are inside (a vector min/max
** first: the serial search runs only when one is outside). */
LN_API int64_t ln_index_first_outside(const ln_tensor *idx, int64_t base,
                                      int64_t size);
/* Indices of an integer tensor (int32 or uint8, any shape) minus base, checked
** against [0, size), into out[0 .. idx->numel) (the caller's). The error
** names fn, the first offending index (as given) and the valid range. */
LN_API ln_status ln_index_positions(ln_ctx *ctx, const ln_tensor *idx,
                                    int64_t base, int64_t size, const char *fn,
                                    int64_t *out);
/* The same into a list malloc'ed here: *out (caller frees), *n its length. */
LN_API ln_status ln_index_list(ln_ctx *ctx, const ln_tensor *idx, int64_t base,
                               int64_t size, const char *fn, int64_t **out,
                               int64_t *n);
/* out = x with entries idx[0..n) taken along dim (numpy's take, Torch's
** index): out.shape[dim] = n. idx are 0-based and already checked. */
LN_API ln_tensor *ln_index_select(ln_ctx *ctx, const ln_tensor *x, int dim,
                                  const int64_t *idx, int64_t n);
/* x[..., idx[r], ...] = src[..., r, ...] along dim, in order (a repeated
** index keeps the last write). src: x's dtype, x's shape with n along dim. */
LN_API ln_status ln_index_copy(ln_ctx *ctx, ln_tensor *x, int dim,
                               const int64_t *idx, int64_t n,
                               const ln_tensor *src);
/* x[..., idx[r], ...] = v along dim (v must fit x's dtype). */
LN_API ln_status ln_index_fill(ln_ctx *ctx, ln_tensor *x, int dim,
                               const int64_t *idx, int64_t n, double v);
/* Torch's gather: out has idx's shape and
** out[i0..ik..] = x[i0.., idx[i0..ik..] - base, ..] along dim. idx must have
** x's ndim and sizes no larger than x's outside dim. */
LN_API ln_tensor *ln_gather(ln_ctx *ctx, const ln_tensor *x, int dim,
                            const ln_tensor *idx, int64_t base);

/* ---- masks -------------------------------------------------------------------- */

/* Comparison ops are LN_B_EQ .. LN_B_GE of kernels.h. */
/* mask = x op s (scalar_first: s op x), any dtype of x, compared as doubles. */
LN_API ln_tensor *ln_compare_scalar(ln_ctx *ctx, ln_binary_op op,
                                    const ln_tensor *x, double s,
                                    int scalar_first);
/* mask = x op y with broadcasting; x and y may have different dtypes (both
** compared as doubles). */
LN_API ln_tensor *ln_compare(ln_ctx *ctx, ln_binary_op op, const ln_tensor *x,
                             const ln_tensor *y);

typedef enum ln_logic_op { LN_L_AND, LN_L_OR, LN_L_XOR } ln_logic_op;
/* mask = (x != 0) op (y != 0) with broadcasting, any dtypes. */
LN_API ln_tensor *ln_logical(ln_ctx *ctx, ln_logic_op op, const ln_tensor *x,
                             const ln_tensor *y);
/* mask = (x == 0). */
LN_API ln_tensor *ln_logical_not(ln_ctx *ctx, const ln_tensor *x);

/* Number of nonzero bytes in m[0..n). */
LN_API int64_t ln_count_nonzero_u8(const uint8_t *m, int64_t n);

/* The mask (uint8) must have the shape of x's first mask->ndim dims (the
** whole shape for elementwise selection; (N,) for rows of an (N, ...) x).
** Checks that and gives the size of one selected cell. fn names the caller
** in the message. */
LN_API ln_status ln_mask_check(ln_ctx *ctx, const ln_tensor *x,
                               const ln_tensor *mask, const char *fn,
                               int64_t *cell);
/* The cells of x where mask is nonzero, in order: shape (count, rest of x's
** dims after the mask's). */
LN_API ln_tensor *ln_masked_select(ln_ctx *ctx, const ln_tensor *x,
                                   const ln_tensor *mask);
/* x[mask] = v. */
LN_API ln_status ln_masked_fill(ln_ctx *ctx, ln_tensor *x,
                                const ln_tensor *mask, double v);
/* x[mask] = src: src has x's dtype and as many elements as the selection
** (count * cell), taken in order. */
LN_API ln_status ln_masked_copy(ln_ctx *ctx, ln_tensor *x,
                                const ln_tensor *mask, const ln_tensor *src);

/* ---- arithmetic beyond kernels.h --------------------------------------------- */

typedef enum ln_arith_op {
    LN_A_ADD, LN_A_SUB, LN_A_MUL, LN_A_IDIV /* floor division */,
    LN_A_MOD /* Lua's: sign of the divisor */, LN_A_MAX, LN_A_MIN
} ln_arith_op;

/* z = x op y for int32 tensors with broadcasting (computed in int64, stored
** as int32: results outside int32 wrap). IDIV/MOD by zero is refused. */
LN_API ln_tensor *ln_arith_i32(ln_ctx *ctx, ln_arith_op op, const ln_tensor *x,
                               const ln_tensor *y);
/* z = x op s (scalar_first: s op x) for an int32 tensor and an integer. */
LN_API ln_tensor *ln_arith_i32_scalar(ln_ctx *ctx, ln_arith_op op,
                                      const ln_tensor *x, int64_t s,
                                      int scalar_first);
/* Floor division and Lua's modulo for float32 (IDIV or MOD only), with
** broadcasting; y NULL means the scalar s (scalar_first as above). */
LN_API ln_tensor *ln_floordiv_mod_f32(ln_ctx *ctx, ln_arith_op op,
                                      const ln_tensor *x, const ln_tensor *y,
                                      float s, int scalar_first);
/* Unary minus / absolute value of an int32 tensor. */
LN_API ln_tensor *ln_neg_abs_i32(ln_ctx *ctx, const ln_tensor *x, int absval);
/* Clamp x (any dtype) into [lo, hi] keeping its dtype; for integer dtypes
** the bounds are rounded inward to integers the dtype holds. */
LN_API ln_tensor *ln_clamp_any(ln_ctx *ctx, const ln_tensor *x, double lo,
                               double hi);

/* ---- whole-tensor reductions ------------------------------------------------- */

/* Sum of every element: exact int64 for integer dtypes (*isum), double for
** float32 (*fsum, ln_sum's blocking). Either pointer may be NULL. */
LN_API void ln_sum_all(const ln_tensor *x, int64_t *isum, double *fsum);
/* Extremum of a non-empty tensor and its first flat position (0-based;
** pos may be NULL: the value alone, for float32 in one pass where it
** can). NaN wins over numbers (like ln_reduce). */
LN_API void ln_minmax_all(const ln_tensor *x, int want_max, double *value,
                          int64_t *pos);
/* Variance of all elements around their mean, biased (÷n) or unbiased
** (÷(n-1)); two passes in double, fixed blocking. */
LN_API double ln_var_all(const ln_tensor *x, int unbiased);

/* ---- comparisons of whole tensors --------------------------------------------- */

/* Same shape and every element equal as numbers (NaN never equals). */
LN_API int ln_equal(const ln_tensor *a, const ln_tensor *b);
/* |a - b| <= atol + rtol * |b| everywhere, with broadcasting (numpy's
** allclose; NaN is never close, an infinity only to itself). Fails only on
** shapes that do not broadcast. */
LN_API ln_status ln_allclose(ln_ctx *ctx, const ln_tensor *a,
                             const ln_tensor *b, double rtol, double atol,
                             int *result);

/* ---- constructors ---------------------------------------------------------------- */

/* start, start + step, ... while below stop (above for a negative step),
** numpy's arange; dtype float32 or int32. */
LN_API ln_tensor *ln_arange(ln_ctx *ctx, double start, double stop,
                            double step, ln_dtype dtype);
/* One-hot float32 rows: out.shape = y.shape + (num_classes,), 1 at the label.
** Labels (any dtype) must be integers in [0, num_classes); the message names
** fn, the first bad label and its position. */
LN_API ln_tensor *ln_one_hot(ln_ctx *ctx, const ln_tensor *y,
                             int64_t num_classes, const char *fn);

#endif
