/*
** tensor_ops.c -- copies that rearrange tensors of any dtype: permute,
** narrow along any dim, concatenation, index select/copy/fill, gather, and
** the arange and one-hot constructors.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/kernels.h"
#include "lunet/memory.h"
#include "lunet/overflow.h"
#include "par_for.h"
#include "tensor_bcast.h"
#include "tensor_copy.h"
#include "tensor_dtype.h"

int ln_value_fits(ln_dtype d, double v) {
    if (d == LN_FLOAT32) return 1;
    if (v != trunc(v)) return 0; /* a fraction, NaN or an infinity */
    if (d == LN_UINT8) return v >= 0 && v <= 255;
    return v >= -2147483648.0 && v <= 2147483647.0;
}

void ln_set_f64(ln_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case LN_FLOAT32: ln_f32(t)[i] = (float)v; break;
    case LN_INT32: ln_i32(t)[i] = (int32_t)v; break;
    case LN_UINT8: ln_u8(t)[i] = (uint8_t)v; break;
    }
}

ln_tensor *ln_permute(ln_ctx *ctx, const ln_tensor *x, const int *perm) {
    int nd = x->ndim, seen[LN_MAX_DIM] = {0};
    int64_t shape[LN_MAX_DIM], in_stride[LN_MAX_DIM], stride[LN_MAX_DIM];
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]++) {
            ln_fail(ctx, LN_E_ARG, "permute: not a permutation of the %d "
                    "dims of the tensor", nd);
            return NULL;
        }
    }
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= x->shape[i];
    }
    for (int i = 0; i < nd; i++) {
        shape[i] = x->shape[perm[i]];
        stride[i] = in_stride[perm[i]];
    }
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, nd, shape);
    if (!y || !y->numel) return y;
    ln_strided_copy(ln_data(y), ln_data(x), ln_dtype_size(x->dtype), nd,
                    shape, stride, y->numel);
    return y;
}

/* Copy `outer` rows of `len` bytes from src (row pitch spitch) to dst (row
** pitch dpitch). */
static void copy_rows(char *dst, size_t dpitch, const char *src,
                      size_t spitch, int64_t outer, size_t len) {
    LN_FOR(outer > 1 ? (int64_t)len * outer / 4 : 0,
    for (int64_t o = 0; o < outer; o++)
        memcpy(dst + (size_t)o * dpitch, src + (size_t)o * spitch, len););
}

ln_tensor *ln_narrow_copy(ln_ctx *ctx, const ln_tensor *x, int dim,
                          int64_t start, int64_t len) {
    char b[128];
    if (dim < 0 || dim >= x->ndim) {
        ln_fail(ctx, LN_E_ARG, "narrow: dim %d out of range for shape %s",
                dim + 1, ln_shape_str(x, b, sizeof b));
        return NULL;
    }
    if (!ln_range_ok(start, len, x->shape[dim])) {
        ln_fail(ctx, LN_E_ARG, "narrow: %lld elements from %lld out of range "
                "along dim %d of shape %s", (long long)len, (long long)start + 1,
                dim + 1, ln_shape_str(x, b, sizeof b));
        return NULL;
    }
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = len;
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, x->ndim, shape);
    if (!y || !y->numel) return y;
    size_t es = ln_dtype_size(x->dtype);
    int64_t outer = ln_dims_prod(x->shape, 0, dim);
    size_t inner = (size_t)ln_dims_prod(x->shape, dim + 1, x->ndim) * es;
    copy_rows(ln_data(y), (size_t)len * inner,
              (const char *)ln_data(x) + (size_t)start * inner,
              (size_t)x->shape[dim] * inner, outer, (size_t)len * inner);
    return y;
}

ln_tensor *ln_cat(ln_ctx *ctx, const ln_tensor *const *ts, int n, int dim,
                  const char *fn) {
    char a[128], b[128];
    if (n < 1) {
        ln_fail(ctx, LN_E_ARG, "%s: needs at least one tensor", fn);
        return NULL;
    }
    const ln_tensor *t0 = ts[0];
    if (dim < 0 || dim >= t0->ndim) {
        ln_fail(ctx, LN_E_ARG, "%s: dim %d out of range for shape %s", fn,
                dim + 1, ln_shape_str(t0, a, sizeof a));
        return NULL;
    }
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, t0->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n; k++) {
        const ln_tensor *t = ts[k];
        int ok = t->ndim == t0->ndim && t->dtype == t0->dtype;
        for (int i = 0; ok && i < t->ndim; i++)
            ok = i == dim || t->shape[i] == t0->shape[i];
        if (!ok) {
            ln_fail(ctx, LN_E_SHAPE, "%s: tensor %d is %s %s but tensor 1 is "
                    "%s %s (all must match except along dim %d)", fn, k + 1,
                    ln_dtype_name(t->dtype), ln_shape_str(t, a, sizeof a),
                    ln_dtype_name(t0->dtype), ln_shape_str(t0, b, sizeof b),
                    dim + 1);
            return NULL;
        }
        if (!ln_add_ok(shape[dim], t->shape[dim], &shape[dim])) {
            ln_fail(ctx, LN_E_SHAPE, "%s: the sizes along dim %d add up to "
                    "more than 2^63", fn, dim + 1);
            return NULL;
        }
    }
    ln_tensor *y = ln_tensor_empty(ctx, t0->dtype, t0->ndim, shape);
    if (!y || !y->numel) return y;
    size_t es = ln_dtype_size(t0->dtype);
    int64_t outer = ln_dims_prod(shape, 0, dim);
    size_t inner = (size_t)ln_dims_prod(shape, dim + 1, t0->ndim) * es;
    size_t pitch = (size_t)shape[dim] * inner, at = 0;
    for (int k = 0; k < n; k++) {
        size_t len = (size_t)ts[k]->shape[dim] * inner;
        if (len)
            copy_rows((char *)ln_data(y) + at, pitch, ln_data(ts[k]), len,
                      outer, len);
        at += len;
    }
    return y;
}

/* Is any index outside base .. base + size - 1? The indices' least and
** greatest, in loops the compiler vectorises; the error's serial search
** runs only when one is. */
#define INDEX_SPAN(T)                                                        \
    do {                                                                     \
        const T *v = (const T *)ln_data(idx);                                \
        T lo = v[0], hi = v[0];                                              \
        LN_PRAGMA_(omp simd reduction(min : lo) reduction(max : hi))         \
        for (int64_t i = 1; i < idx->numel; i++) {                           \
            lo = v[i] < lo ? v[i] : lo;                                      \
            hi = v[i] > hi ? v[i] : hi;                                      \
        }                                                                    \
        return lo < base || (int64_t)hi - base >= size;                      \
    } while (0)
LN_CLONES static int any_index_outside(const ln_tensor *idx, int64_t base,
                                      int64_t size) {
    if (idx->numel == 0) return 0;
    if (idx->dtype == LN_INT32) INDEX_SPAN(int32_t);
    INDEX_SPAN(uint8_t);
}

int64_t ln_index_first_outside(const ln_tensor *idx, int64_t base, int64_t size) {
    if (!any_index_outside(idx, base, size)) return -1;
    for (int64_t i = 0; i < idx->numel; i++) {
        const int64_t k = (int64_t)ln_get_f64(idx, i) - base;
        if (k < 0 || k >= size) return i;
    }
    return -1; /* not reached */
}

/* out[i] = v[i] - base over the whole index tensor (a vector loop). */
#define INDEX_WIDEN(T)                                                       \
    do {                                                                     \
        const T *v = (const T *)ln_data(idx);                                \
        LN_PRAGMA_(omp simd)                                                 \
        for (int64_t i = 0; i < idx->numel; i++) out[i] = (int64_t)v[i] - base; \
    } while (0)
LN_CLONES static void index_widen(const ln_tensor *idx, int64_t base, int64_t *out) {
    if (idx->dtype == LN_INT32) INDEX_WIDEN(int32_t);
    else INDEX_WIDEN(uint8_t);
}
#undef INDEX_WIDEN

ln_status ln_index_positions(ln_ctx *ctx, const ln_tensor *idx, int64_t base,
                             int64_t size, const char *fn, int64_t *out) {
    if (idx->dtype == LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "%s: indices must be an int32 or uint8 "
                       "tensor, got float32 (use :int())", fn);
    const int64_t at = ln_index_first_outside(idx, base, size);
    if (at >= 0)
        return ln_fail(ctx, LN_E_ARG, "%s: index %lld (at position %lld) out of "
                       "range %lld..%lld", fn, (long long)ln_get_f64(idx, at),
                       (long long)at + 1, (long long)base, (long long)(size - 1 + base));
    index_widen(idx, base, out);
    return LN_OK;
}

ln_status ln_index_list(ln_ctx *ctx, const ln_tensor *idx, int64_t base,
                        int64_t size, const char *fn, int64_t **out,
                        int64_t *n) {
    int64_t *v = malloc(sizeof *v * (size_t)(idx->numel ? idx->numel : 1));
    if (!v) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", fn);
    ln_status st = ln_index_positions(ctx, idx, base, size, fn, v);
    if (st != LN_OK) {
        free(v);
        return st;
    }
    *out = v;
    *n = idx->numel;
    return LN_OK;
}

ln_tensor *ln_index_select(ln_ctx *ctx, const ln_tensor *x, int dim,
                           const int64_t *idx, int64_t n) {
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = n;
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, x->ndim, shape);
    if (!y || !y->numel) return y;
    size_t es = ln_dtype_size(x->dtype);
    int64_t outer = ln_dims_prod(x->shape, 0, dim);
    size_t inner = (size_t)ln_dims_prod(x->shape, dim + 1, x->ndim) * es;
    if (outer == 1) {
        ln_gather_rows(ln_data(y), ln_data(x), idx, n, (int64_t)inner, 1);
        return y;
    }
    const char *src = ln_data(x);
    char *dst = ln_data(y);
    int64_t total = outer * n;
    LN_FOR(total * (int64_t)inner / 4,
    for (int64_t k = 0; k < total; k++) {
        int64_t o = k / n, r = k % n;
        memcpy(dst + (size_t)k * inner,
               src + ((size_t)o * (size_t)x->shape[dim] + (size_t)idx[r]) * inner,
               inner);
    });
    return y;
}

/* Shared by index_copy/index_fill: row pitch and outer count along dim. */
static void dim_split(const ln_tensor *x, int dim, int64_t *outer,
                      size_t *inner) {
    *outer = ln_dims_prod(x->shape, 0, dim);
    *inner = (size_t)ln_dims_prod(x->shape, dim + 1, x->ndim) *
             ln_dtype_size(x->dtype);
}

ln_status ln_index_copy(ln_ctx *ctx, ln_tensor *x, int dim, const int64_t *idx,
                        int64_t n, const ln_tensor *src) {
    int ok = src->dtype == x->dtype && src->ndim == x->ndim;
    for (int i = 0; ok && i < x->ndim; i++)
        ok = src->shape[i] == (i == dim ? n : x->shape[i]);
    if (!ok) {
        char a[128], b[128];
        return ln_fail(ctx, LN_E_SHAPE, "index assignment: values are %s %s, "
                       "need %s with %lld along dim %d of %s", 
                       ln_dtype_name(src->dtype), ln_shape_str(src, a, sizeof a),
                       ln_dtype_name(x->dtype), (long long)n, dim + 1,
                       ln_shape_str(x, b, sizeof b));
    }
    int64_t outer;
    size_t inner;
    dim_split(x, dim, &outer, &inner);
    char *dst = ln_data(x);
    const char *s = ln_data(src);
    /* Rows in index order within each outer slice (a repeated index keeps
    ** the last write); outer slices are independent. */
    LN_FOR(outer > 1 ? outer * n * (int64_t)inner / 4 : 0,
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < n; r++)
            memcpy(dst + ((size_t)o * (size_t)x->shape[dim] + (size_t)idx[r]) * inner,
                   s + ((size_t)o * (size_t)n + (size_t)r) * inner, inner););
    return LN_OK;
}

ln_status ln_index_fill(ln_ctx *ctx, ln_tensor *x, int dim, const int64_t *idx,
                        int64_t n, double v) {
    if (!ln_value_fits(x->dtype, v))
        return ln_fail(ctx, LN_E_ARG, "index assignment: value %g does not "
                       "fit in %s", v, ln_dtype_name(x->dtype));
    int64_t outer;
    size_t inner;
    dim_split(x, dim, &outer, &inner);
    const int64_t cell = (int64_t)(inner / ln_dtype_size(x->dtype));
    const int64_t rowsz = x->shape[dim] * cell;
    /* typed stores (ln_set_f64 per element ran 5x PyTorch's time) */
#define FILL_CELLS(T, AT)                                                    \
    do {                                                                     \
        T *p = AT(x);                                                        \
        const T tv = (T)v;                                                   \
        LN_FOR(outer > 1 ? outer * n * cell : 0,                             \
        for (int64_t o = 0; o < outer; o++)                                  \
            for (int64_t r = 0; r < n; r++) {                                \
                T *q = p + o * rowsz + idx[r] * cell;                        \
                for (int64_t j = 0; j < cell; j++) q[j] = tv;                \
            });                                                              \
    } while (0)
    LN_DTYPE_SWITCH(x->dtype, FILL_CELLS);
#undef FILL_CELLS
    return LN_OK;
}

/* y's rows r0..r1: rows along idx's last dim longer than 1 (dim `in`,
** the dims after it are 1s), so that a column of indices is one row. x's
** offset steps with an odometer over the dims before `in` (one multiply
** for a matrix of indices); the index gives dim's part. One function per
** pair of dtypes: a row of five indices is mostly this loop's overhead,
** and the fewer instructions between loads, the more loads in flight. */
#define GATHER_ROWS(NAME, TI, TE)                                            \
    static void NAME(TE *o, const TE *s, const TI *ix, const ln_gather_walk *w, \
                     int64_t r0, int64_t r1) {                               \
        const int64_t L = w->L, xi = w->xi, xd = w->xd, base = w->base;      \
        int64_t c[LN_MAX_DIM], off = 0, r = r0;                              \
        for (int d = w->in - 1; d >= 0; d--) {                               \
            c[d] = r % w->shape[d];                                          \
            r /= w->shape[d];                                                \
            off += c[d] * w->xs[d];                                          \
        }                                                                    \
        for (r = r0; r < r1; r++) {                                          \
            const TI *ir = ix + r * L;                                       \
            TE *orow = o + r * L;                                            \
            const TE *sr = s + (w->in == 1 ? r * w->xs[0] : off);            \
            if (xi == 0)                                                     \
                for (int64_t j = 0; j < L; j++) orow[j] = sr[(ir[j] - base) * xd]; \
            else                                                             \
                for (int64_t j = 0; j < L; j++)                              \
                    orow[j] = sr[j * xi + (ir[j] - base) * xd];              \
            for (int d = w->in - 1; d >= 0 && w->in > 1; d--) {              \
                off += w->xs[d];                                             \
                if (++c[d] < w->shape[d]) break;                             \
                off -= w->xs[d] * w->shape[d];                               \
                c[d] = 0;                                                    \
            }                                                                \
        }                                                                    \
    }

typedef struct ln_gather_walk {
    int in;                    /* the rows' dim */
    int64_t L, xi, xd, base;   /* row length, x's steps along it and dim */
    int64_t shape[LN_MAX_DIM]; /* idx's */
    int64_t xs[LN_MAX_DIM];    /* x's strides, 0 along dim */
} ln_gather_walk;

GATHER_ROWS(gather_i32_4, int32_t, uint32_t)
GATHER_ROWS(gather_u8_4, uint8_t, uint32_t)
GATHER_ROWS(gather_i32_1, int32_t, uint8_t)
GATHER_ROWS(gather_u8_1, uint8_t, uint8_t)

static void gather_rows(ln_tensor *y, const ln_tensor *x, const ln_tensor *idx,
                        const ln_gather_walk *w, int64_t r0, int64_t r1) {
    int wide = x->dtype != LN_UINT8, i32 = idx->dtype == LN_INT32;
    if (wide && i32) gather_i32_4(ln_data(y), ln_data(x), ln_data(idx), w, r0, r1);
    else if (wide) gather_u8_4(ln_data(y), ln_data(x), ln_data(idx), w, r0, r1);
    else if (i32) gather_i32_1(ln_data(y), ln_data(x), ln_data(idx), w, r0, r1);
    else gather_u8_1(ln_data(y), ln_data(x), ln_data(idx), w, r0, r1);
}

ln_tensor *ln_gather(ln_ctx *ctx, const ln_tensor *x, int dim,
                     const ln_tensor *idx, int64_t base) {
    char a[128], b[128];
    int ok = idx->ndim == x->ndim && dim >= 0 && dim < x->ndim;
    for (int i = 0; ok && i < x->ndim; i++)
        ok = i == dim || idx->shape[i] <= x->shape[i];
    if (!ok) {
        ln_fail(ctx, LN_E_SHAPE, "gather: index shape %s does not fit tensor "
                "shape %s along dim %d (same number of dims, sizes no larger "
                "outside dim)", ln_shape_str(idx, a, sizeof a),
                ln_shape_str(x, b, sizeof b), dim + 1);
        return NULL;
    }
    if (idx->dtype == LN_FLOAT32) {
        ln_fail(ctx, LN_E_ARG, "gather: indices must be an int32 or uint8 "
                "tensor, got float32 (use :int())");
        return NULL;
    }
    const int64_t at = ln_index_first_outside(idx, base, x->shape[dim]);
    if (at >= 0) {
        ln_fail(ctx, LN_E_ARG, "gather: index %lld (at flat position %lld) out of "
                "range %lld..%lld along dim %d", (long long)ln_get_f64(idx, at),
                (long long)at + 1, (long long)base,
                (long long)(x->shape[dim] - 1 + base), dim + 1);
        return NULL;
    }
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, idx->ndim, idx->shape);
    if (!y || !y->numel) return y;
    ln_gather_walk w = {.in = idx->ndim - 1, .base = base};
    while (w.in > 0 && idx->shape[w.in] == 1) w.in--;
    int64_t st = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        w.xs[d] = d == dim ? 0 : st; /* dim's offset comes from the index */
        w.shape[d] = idx->shape[d];
        st *= x->shape[d];
    }
    w.L = idx->shape[w.in];
    w.xi = w.xs[w.in];
    w.xd = ln_dims_prod(x->shape, dim + 1, x->ndim);
    int64_t rows = y->numel / w.L, rb = w.L >= LN_BC_BLOCK ? 1 : LN_BC_BLOCK / w.L;
    int64_t nb = (rows + rb - 1) / rb;
    LN_FOR(y->numel, for (int64_t k = 0; k < nb; k++) {
        int64_t r1 = (k + 1) * rb < rows ? (k + 1) * rb : rows;
        gather_rows(y, x, idx, &w, k * rb, r1);
    });
    return y;
}

/* y[i] = start + i * step in double, rounded (float32) or exact (the
** integer ranges' checked values), in vector loops (a switch per element
** was 10x PyTorch's time) */
#define ARANGE_FILL(NAME, T)                                                 \
    LN_CLONES static void NAME(T *y, double start, double step, int64_t lo,   \
                               int64_t hi) {                                 \
        LN_PRAGMA_(omp simd)                                                 \
        for (int64_t i = lo; i < hi; i++) y[i] = (T)(start + (double)i * step); \
    }
ARANGE_FILL(arange_f32, float)
ARANGE_FILL(arange_i32, int32_t)
ARANGE_FILL(arange_u8, uint8_t)
#undef ARANGE_FILL

ln_tensor *ln_arange(ln_ctx *ctx, double start, double stop, double step,
                     ln_dtype dtype) {
    if (step == 0 || step != step || start != start || stop != stop) {
        ln_fail(ctx, LN_E_ARG, "arange: step must be a nonzero number");
        return NULL;
    }
    double count = ceil((stop - start) / step);
    if (count < 0) count = 0;
    if (!(count <= 4e9)) { /* also an infinity, from a huge range */
        ln_fail(ctx, LN_E_ARG, "arange: %.0f elements is too many", count);
        return NULL;
    }
    int64_t n = (int64_t)count;
    /* integer start and step give integers; the values are monotonic, so
    ** the first and the last bound them all */
    double last = n ? start + (double)(n - 1) * step : start;
    if (n > 1 && dtype != LN_FLOAT32 && step != trunc(step)) {
        ln_fail(ctx, LN_E_ARG, "arange: step %.17g is not an integer, as an "
                "%s range needs", step, ln_dtype_name(dtype));
        return NULL;
    }
    if (n && (!ln_value_fits(dtype, start) || !ln_value_fits(dtype, last))) {
        ln_fail(ctx, LN_E_ARG, "arange: the values %.17g .. %.17g do not fit "
                "in %s", start, last, ln_dtype_name(dtype));
        return NULL;
    }
    ln_tensor *y = ln_tensor_empty(ctx, dtype, 1, &n);
    if (!y) return NULL;
    LN_FOR_BLOCKS(n, LN_BC_BLOCK, n, lo, hi,
        switch (dtype) {
        case LN_FLOAT32: arange_f32(ln_f32(y), start, step, lo, hi); break;
        case LN_INT32: arange_i32(ln_i32(y), start, step, lo, hi); break;
        case LN_UINT8: arange_u8(ln_u8(y), start, step, lo, hi); break;
        });
    return y;
}

ln_tensor *ln_one_hot(ln_ctx *ctx, const ln_tensor *y, int64_t num_classes,
                      const char *fn) {
    if (num_classes < 1) {
        ln_fail(ctx, LN_E_ARG, "%s: num_classes must be at least 1, got %lld",
                fn, (long long)num_classes);
        return NULL;
    }
    if (y->ndim >= LN_MAX_DIM) {
        ln_fail(ctx, LN_E_SHAPE, "%s: labels have %d dims, at most %d allowed",
                fn, y->ndim, LN_MAX_DIM - 1);
        return NULL;
    }
    for (int64_t i = 0; i < y->numel; i++) {
        double v = ln_get_f64(y, i);
        if (!(v >= 0 && v < (double)num_classes && v == floor(v))) {
            ln_fail(ctx, LN_E_ARG, "%s: label %.17g at position %lld is not a "
                    "class id in 0..%lld", fn, v, (long long)i + 1,
                    (long long)num_classes - 1);
            return NULL;
        }
    }
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, y->shape, sizeof shape);
    shape[y->ndim] = num_classes;
    ln_tensor *out = ln_tensor_new(ctx, LN_FLOAT32, y->ndim + 1, shape);
    if (!out) return NULL;
    float *o = ln_f32(out); /* zero-filled by ln_tensor_new */
    int64_t n = y->numel;
    LN_FOR(n * num_classes,
    for (int64_t i = 0; i < n; i++)
        o[i * num_classes + (int64_t)ln_get_f64(y, i)] = 1.0f;);
    return out;
}

int ln_region_is_block(const ln_region *r) {
    int64_t s = 1;
    for (int i = r->nd - 1; i >= 0; i--) {
        if (r->shape[i] != 1 && r->stride[i] != s) return 0;
        s *= r->shape[i];
    }
    return 1;
}

ln_tensor *ln_region_read(ln_ctx *ctx, const ln_tensor *x, const ln_region *r) {
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, r->nd, r->shape);
    if (!y || !y->numel) return y;
    size_t es = ln_dtype_size(x->dtype);
    ln_strided_copy(ln_data(y), (const char *)ln_data(x) + (size_t)r->offset * es,
                    es, r->nd, r->shape, r->stride, y->numel);
    return y;
}

/* Walk the region in fixed blocks: BODY sees the region's flat index I and
** the tensor offset OFF. */
#define REGION_FOR(R, N, I, OFF, ...)                                        \
    do {                                                                     \
        int64_t n_ = (N), nb_ = (n_ + LN_BC_BLOCK - 1) / LN_BC_BLOCK;      \
        LN_FOR(n_, \
        for (int64_t b_ = 0; b_ < nb_; b_++) {                               \
            int64_t c_[LN_MAX_DIM], OFF = (R)->offset, lo_ = b_ * LN_BC_BLOCK; \
            int64_t hi_ = lo_ + LN_BC_BLOCK < n_ ? lo_ + LN_BC_BLOCK : n_, r_ = lo_; \
            for (int d = (R)->nd - 1; d >= 0; d--) {                         \
                c_[d] = r_ % (R)->shape[d];                                  \
                r_ /= (R)->shape[d];                                         \
                OFF += c_[d] * (R)->stride[d];                               \
            }                                                                \
            for (int64_t I = lo_; I < hi_; I++) {                            \
                __VA_ARGS__;                                                 \
                for (int d = (R)->nd - 1; d >= 0; d--) {                     \
                    OFF += (R)->stride[d];                                   \
                    if (++c_[d] < (R)->shape[d]) break;                      \
                    OFF -= (R)->stride[d] * (R)->shape[d];                   \
                    c_[d] = 0;                                               \
                }                                                            \
            }                                                                \
        });                                                                    \
    } while (0)

/* An int32 run filled as ln_fill fills a float32 one (a vector loop:
** without `omp simd` the loop stayed scalar at -O2, 2.4x ln_fill's time). */
typedef struct fill_i32_job {
    int32_t *p;
    int32_t v;
} fill_i32_job;

static void fill_i32_range(void *arg, int64_t lo, int64_t hi) {
    const fill_i32_job *j = arg;
    int32_t *p = j->p, v = j->v;
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) p[i] = v;
}

ln_status ln_region_fill(ln_ctx *ctx, ln_tensor *x, const ln_region *r,
                         double v) {
    if (!ln_value_fits(x->dtype, v))
        return ln_fail(ctx, LN_E_ARG, "assignment: value %g does not fit in %s",
                       v, ln_dtype_name(x->dtype));
    int64_t n = ln_dims_prod(r->shape, 0, r->nd);
    if (!n) return LN_OK;
    if (ln_region_is_block(r)) { /* one run: a vector loop, not the walker */
        switch (x->dtype) {
        case LN_FLOAT32: ln_fill(ln_f32(x) + r->offset, n, (float)v); break;
        case LN_INT32: {
            fill_i32_job j = {ln_i32(x) + r->offset, (int32_t)v};
            ln_parallel_for(n, fill_i32_range, &j);
        } break;
        case LN_UINT8: memset(ln_u8(x) + r->offset, (uint8_t)v, (size_t)n); break;
        }
        return LN_OK;
    }
    switch (x->dtype) {
    case LN_FLOAT32: {
        float *p = ln_f32(x), val = (float)v;
        REGION_FOR(r, n, i, off, p[off] = val);
    } break;
    case LN_INT32: {
        int32_t *p = ln_i32(x), val = (int32_t)v;
        REGION_FOR(r, n, i, off, p[off] = val);
    } break;
    case LN_UINT8: {
        uint8_t *p = ln_u8(x), val = (uint8_t)v;
        REGION_FOR(r, n, i, off, p[off] = val);
    } break;
    }
    return LN_OK;
}

ln_status ln_region_write(ln_ctx *ctx, ln_tensor *x, const ln_region *r,
                          const ln_tensor *src, const char *fn) {
    int nd;
    int64_t shape[LN_MAX_DIM], st[LN_MAX_DIM];
    char a[128], b[128];
    if (src->dtype != x->dtype)
        return ln_fail(ctx, LN_E_ARG, "%s: values are %s, the tensor is %s", fn,
                       ln_dtype_name(src->dtype), ln_dtype_name(x->dtype));
    if (ln_broadcast_shape(ctx, r->nd, r->shape, src->ndim, src->shape, &nd,
                           shape) ||
        nd != r->nd || memcmp(shape, r->shape, sizeof(int64_t) * (size_t)nd))
        return ln_fail(ctx, LN_E_SHAPE, "%s: values of shape %s do not "
                       "broadcast to the selected shape %s", fn,
                       ln_shape_str(src, a, sizeof a),
                       ln_dims_str(r->nd, r->shape, b, sizeof b));
    ln_bc_strides(r->nd, r->shape, src->ndim, src->shape, st);
    int64_t n = ln_dims_prod(r->shape, 0, r->nd);
    if (!n) return LN_OK;
    size_t es = ln_dtype_size(x->dtype);
    char *dst = ln_data(x);
    const char *s = ln_data(src);
    /* Walk both in the same order: the region's strides for the destination
    ** and src's broadcast strides st for the source. */
    int64_t nb = (n + LN_BC_BLOCK - 1) / LN_BC_BLOCK;
    LN_FOR(n,
    for (int64_t bb = 0; bb < nb; bb++) {
        int64_t c[LN_MAX_DIM], od = r->offset, os = 0, lo = bb * LN_BC_BLOCK;
        int64_t hi = lo + LN_BC_BLOCK < n ? lo + LN_BC_BLOCK : n, rr = lo;
        for (int d = r->nd - 1; d >= 0; d--) {
            c[d] = rr % r->shape[d];
            rr /= r->shape[d];
            od += c[d] * r->stride[d];
            os += c[d] * st[d];
        }
        for (int64_t i = lo; i < hi; i++) {
            memcpy(dst + (size_t)od * es, s + (size_t)os * es, es);
            for (int d = r->nd - 1; d >= 0; d--) {
                od += r->stride[d];
                os += st[d];
                if (++c[d] < r->shape[d]) break;
                od -= r->stride[d] * r->shape[d];
                os -= st[d] * r->shape[d];
                c[d] = 0;
            }
        }
    });
    return LN_OK;
}
