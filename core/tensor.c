/*
** tensor.c -- tensors and their reference-counted storage. A tensor is its
** public view (lunet/tensor.h: dtype, shape, numel, data) followed by what
** only this file touches: the storage, the offset into it and the count.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "lunet/overflow.h"
#include "par_for.h"
#include "lunet/parallel.h"
#include "lunet/tensor.h"
#include "lunet/tensor_ops.h"
#include "tensor_pool.h"

typedef struct ln_storage {
    void *data;      /* 64-byte aligned, never NULL */
    size_t capacity; /* usable bytes from data */
    int refcount;
    void *base;      /* what the allocator returned (data is inside it) */
    uint32_t version; /* in-place writes seen by the binding (tape.h) */
} ln_storage;

typedef struct tensor_rec {
    ln_tensor view; /* first: a tensor pointer is a rec pointer */
    ln_storage *storage;
    size_t offset; /* in bytes, into storage->data */
    int refcount;
    unsigned flags; /* LN_TENSOR_VARIABLE: every gradient tape watches it */
    ln_storage *home; /* while an alias (ln_tensor_alias): its own storage */
    size_t home_offset;
} tensor_rec;

static inline tensor_rec *rec(const ln_tensor *t) { return (tensor_rec *)t; }

/* Point the view's data at offset in storage s (owned reference). */
static void attach(tensor_rec *r, ln_storage *s, size_t offset) {
    r->storage = s;
    r->offset = offset;
    r->view.data = (char *)s->data + offset;
}

static int64_t live_tensors, live_storages;

int64_t ln_tensor_live_count(void) { return live_tensors; }
int64_t ln_storage_live_count(void) { return live_storages; }

size_t ln_dtype_size(ln_dtype t) {
    return t == LN_UINT8 ? 1 : 4;
}

const char *ln_dtype_name(ln_dtype t) {
    switch (t) {
    case LN_FLOAT32: return "float32";
    case LN_INT32: return "int32";
    case LN_UINT8: return "uint8";
    }
    return "?";
}

/* Sizes beyond this are refused before any allocation (64 GiB); the
** product of a shape's nonzero sizes is bounded by it too, even for an
** empty tensor, so products of sizes never overflow (overflow.h). */
#define LN_MAX_BYTES ((size_t)1 << 36)

static ln_status shape_numel(ln_ctx *ctx, int nd, const int64_t *shape,
                             size_t elsize, int64_t *numel) {
    if (nd < 0 || nd > LN_MAX_DIM)
        return ln_fail(ctx, LN_E_SHAPE, "tensor: %d dimensions (at most %d)",
                       nd, LN_MAX_DIM);
    int bad;
    if (ln_shape_ok(nd, shape, (int64_t)(LN_MAX_BYTES / elsize), numel, &bad))
        return LN_OK;
    char buf[256];
    if (bad >= 0)
        return ln_fail(ctx, LN_E_SHAPE, "tensor: negative size %lld in shape %s",
                       (long long)shape[bad], ln_dims_str(nd, shape, buf, sizeof buf));
    double bytes = (double)elsize;
    int empty = 0;
    for (int j = 0; j < nd; j++)
        if (shape[j]) bytes *= (double)shape[j];
        else empty = 1;
    if (empty) /* no bytes, but products of its sizes would overflow */
        return ln_fail(ctx, LN_E_NOMEM, "tensor: shape %s: the sizes other "
                       "than 0 multiply to %.4g elements, more than the %lld "
                       "a tensor may hold", ln_dims_str(nd, shape, buf, sizeof buf),
                       bytes / (double)elsize, (long long)(LN_MAX_BYTES / elsize));
    return ln_fail(ctx, LN_E_NOMEM,
                   "tensor: shape %s needs %.4g bytes, more than the %.4g a "
                   "tensor may hold", ln_dims_str(nd, shape, buf, sizeof buf),
                   bytes, (double)LN_MAX_BYTES);
}

/* 64-byte aligned storage from the block cache (tensor_pool.c), zeroed when
** `zero`. A block the cache cannot serve comes from calloc when zeroed: a
** large one is then straight from mmap as untouched zero pages, so the
** first kernel writing it faults the pages in from every thread at once
** instead of one serial memset (4x faster for a 188 MB x:float()). */
static ln_storage *storage_new(ln_ctx *ctx, size_t nbytes, int zero) {
    ln_storage *s = malloc(sizeof *s);
    size_t cap = nbytes; /* data is never NULL, even for empty tensors */
    void *base = NULL;
    void *data = s ? ln_pool_alloc(&cap, zero, &base) : NULL;
    if (!data) {
        free(s);
        ln_fail(ctx, LN_E_NOMEM, "tensor: cannot allocate %zu bytes", nbytes);
        return NULL;
    }
    s->base = base;
    s->data = data;
    s->capacity = cap;
    s->refcount = 1;
    s->version = 0;
    live_storages++;
    return s;
}

static void storage_release(ln_storage *s) {
    if (s && --s->refcount == 0) {
        ln_pool_free(s->base, s->data, s->capacity);
        free(s);
        live_storages--;
    }
}

static void set_shape(ln_tensor *t, int nd, const int64_t *shape,
                      int64_t numel) {
    t->ndim = nd;
    for (int i = 0; i < LN_MAX_DIM; i++) t->shape[i] = i < nd ? shape[i] : 1;
    t->numel = numel;
}

static ln_tensor *tensor_new(ln_ctx *ctx, ln_dtype dtype, int ndim,
                             const int64_t *shape, int zero) {
    int64_t n;
    if (shape_numel(ctx, ndim, shape, ln_dtype_size(dtype), &n)) return NULL;
    tensor_rec *r = calloc(1, sizeof *r);
    ln_storage *s = r ? storage_new(ctx, (size_t)n * ln_dtype_size(dtype), zero) : NULL;
    if (!s) {
        if (!r) ln_fail(ctx, LN_E_NOMEM, "tensor: out of memory");
        free(r);
        return NULL;
    }
    attach(r, s, 0);
    r->view.dtype = dtype;
    r->refcount = 1;
    set_shape(&r->view, ndim, shape, n);
    live_tensors++;
    return &r->view;
}

ln_tensor *ln_tensor_new(ln_ctx *ctx, ln_dtype dtype, int ndim,
                         const int64_t *shape) {
    return tensor_new(ctx, dtype, ndim, shape, 1);
}

ln_tensor *ln_tensor_empty(ln_ctx *ctx, ln_dtype dtype, int ndim,
                           const int64_t *shape) {
    return tensor_new(ctx, dtype, ndim, shape, 0);
}

/* ---- what the gradient tape and the binding read (tensor.h) ---- */

unsigned ln_tensor_flags(const ln_tensor *t) { return rec(t)->flags; }
void ln_tensor_set_flags(ln_tensor *t, unsigned flags) { rec(t)->flags = flags; }
uint32_t ln_tensor_version(const ln_tensor *t) { return rec(t)->storage->version; }
void ln_tensor_bump_version(ln_tensor *t) { rec(t)->storage->version++; }

int ln_tensor_sole_owner(const ln_tensor *t) {
    return rec(t)->refcount == 1 && rec(t)->storage->refcount == 1;
}

int ln_tensor_shares_storage(const ln_tensor *a, const ln_tensor *b) {
    return rec(a)->storage == rec(b)->storage;
}

ln_tensor *ln_tensor_new_like(ln_ctx *ctx, const ln_tensor *t) {
    return ln_tensor_new(ctx, t->dtype, t->ndim, t->shape);
}

void ln_tensor_retain(ln_tensor *t) { rec(t)->refcount++; }

void ln_tensor_release(ln_tensor *t) {
    if (t && --rec(t)->refcount == 0) {
        storage_release(rec(t)->home);
        storage_release(rec(t)->storage);
        free(rec(t));
        live_tensors--;
    }
}

ln_status ln_tensor_resize(ln_ctx *ctx, ln_tensor *t, int ndim,
                           const int64_t *shape) {
    int64_t n;
    size_t es = ln_dtype_size(t->dtype);
    ln_status st = shape_numel(ctx, ndim, shape, es, &n);
    if (st) return st;
    size_t need = (size_t)n * es;
    tensor_rec *r = rec(t);
    ln_tensor_unalias(t);
    if (r->storage->refcount > 1 || r->offset + need > r->storage->capacity) {
        ln_storage *s = storage_new(ctx, need, 1);
        if (!s) return LN_E_NOMEM;
        storage_release(r->storage);
        attach(r, s, 0);
    }
    set_shape(t, ndim, shape, n);
    return LN_OK;
}

ln_status ln_tensor_alias(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src, int64_t first,
                          int ndim, const int64_t *shape) {
    char a[128], b[128];
    int64_t n;
    ln_status st = shape_numel(ctx, ndim, shape, ln_dtype_size(dst->dtype), &n);
    if (st) return st;
    if (dst == src || dst->dtype != src->dtype || !ln_range_ok(first, n, src->numel))
        return ln_fail(ctx, LN_E_ARG, "alias: %s %s from element %lld as %s %s",
                       ln_dtype_name(src->dtype), ln_shape_str(src, a, sizeof a),
                       (long long)first, ln_dtype_name(dst->dtype),
                       ln_dims_str(ndim, shape, b, sizeof b));
    tensor_rec *r = rec(dst), *s = rec(src);
    s->storage->refcount++; /* first: src may show dst's own storage */
    if (r->home) storage_release(r->storage);
    else r->home = r->storage, r->home_offset = r->offset;
    attach(r, s->storage, s->offset + (size_t)first * ln_dtype_size(src->dtype));
    set_shape(dst, ndim, shape, n);
    return LN_OK;
}

void ln_tensor_unalias(ln_tensor *t) {
    tensor_rec *r = rec(t);
    if (!r->home) return;
    storage_release(r->storage);
    attach(r, r->home, r->home_offset);
    r->home = NULL;
    const int64_t zero = 0;
    set_shape(t, 1, &zero, 0);
}

static ln_tensor *view_of(ln_ctx *ctx, ln_tensor *t, int nd,
                          const int64_t *shape, int64_t numel, size_t offset) {
    tensor_rec *v = calloc(1, sizeof *v);
    if (!v) {
        ln_fail(ctx, LN_E_NOMEM, "tensor: out of memory");
        return NULL;
    }
    v->view.dtype = t->dtype;
    v->refcount = 1;
    attach(v, rec(t)->storage, offset);
    v->storage->refcount++;
    set_shape(&v->view, nd, shape, numel);
    live_tensors++;
    return &v->view;
}

ln_tensor *ln_tensor_narrow(ln_ctx *ctx, ln_tensor *t, int64_t start,
                            int64_t len) {
    if (t->ndim < 1) {
        ln_fail(ctx, LN_E_SHAPE, "narrow: a scalar has no dimension to narrow");
        return NULL;
    }
    if (!ln_range_ok(start, len, t->shape[0])) {
        char b[128];
        ln_fail(ctx, LN_E_ARG,
                "narrow: %lld rows from row %lld out of range for shape %s",
                (long long)len, (long long)start + 1,
                ln_shape_str(t, b, sizeof b));
        return NULL;
    }
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = len;
    return view_of(ctx, t, t->ndim, shape, row * len,
                   rec(t)->offset + (size_t)(start * row) * ln_dtype_size(t->dtype));
}

ln_tensor *ln_tensor_reshape(ln_ctx *ctx, ln_tensor *t, int ndim,
                             const int64_t *shape) {
    int64_t s[LN_MAX_DIM], known, numel;
    int infer = -1, bad;
    if (ndim < 0 || ndim > LN_MAX_DIM) {
        ln_fail(ctx, LN_E_SHAPE, "reshape: %d dimensions (at most %d)", ndim,
                LN_MAX_DIM);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0) {
            infer = i;
            s[i] = 1; /* in the product of the known sizes */
        } else if (s[i] < 0) {
            char b[128];
            ln_fail(ctx, LN_E_SHAPE, "reshape: size %lld in %s (only one size "
                    "may be -1, the others are >= 0)", (long long)s[i],
                    ln_dims_str(ndim, shape, b, sizeof b));
            return NULL;
        }
    }
    int64_t max = (int64_t)(LN_MAX_BYTES / ln_dtype_size(t->dtype));
    if (!ln_shape_ok(ndim, s, max, &known, &bad)) goto bad;
    if (infer >= 0) {
        if (known == 0 || t->numel % known) goto bad;
        s[infer] = t->numel / known;
    }
    if (!ln_shape_ok(ndim, s, max, &numel, &bad) || numel != t->numel)
        goto bad;
    return view_of(ctx, t, ndim, s, t->numel, rec(t)->offset);
bad: {
    char a[128], b[128];
    ln_fail(ctx, LN_E_SHAPE, "reshape: cannot view shape %s as %s",
            ln_shape_str(t, a, sizeof a), ln_dims_str(ndim, shape, b, sizeof b));
    return NULL;
}
}

ln_tensor *ln_tensor_clone(ln_ctx *ctx, const ln_tensor *t) {
    ln_tensor *c = ln_tensor_empty(ctx, t->dtype, t->ndim, t->shape);
    if (c) memcpy(ln_data(c), ln_data(t), (size_t)t->numel * ln_dtype_size(t->dtype));
    return c;
}

/* A cast goes by blocks of CAST_BLOCK elements, each one vector loop in a
** cloned function (LN_CLONES: GCC -O2 vectorises none of these loops for
** the baseline CPU on its own), the blocks spread over the threads as
** the float32 kernels are (ln__ew_spread, par_for.h); the values that do
** not fit are flagged on the way, and only then looked for. */
#define CAST_BLOCK 4096

/* Whether float v fits `to` after truncation toward zero: in (-1, 256) for
** uint8, [-2^31, 2^31) for int32 (the floats the exact double test
** v > lo - 1 && v < hi + 1 lets through). NaN never fits. */
#define FITS_U8(v) (((v) > -1.0f) & ((v) < 256.0f))
#define FITS_I32(v) (((v) >= -2147483648.0f) & ((v) < 2147483648.0f))

/* The first element of t (from flat position 0) that dtype `to` cannot
** hold after truncation toward zero -- NaN, an infinity, a value out of
** range -- or -1: a serial scan, run only when a cast found some. */
static int64_t first_unfit(const ln_tensor *t, ln_dtype to) {
    const int64_t n = t->numel;
    if (t->dtype == LN_FLOAT32) {
        const float *p = ln_f32(t);
        for (int64_t i = 0; i < n; i++)
            if (to == LN_UINT8 ? !FITS_U8(p[i]) : !FITS_I32(p[i])) return i;
    } else if (t->dtype == LN_INT32 && to == LN_UINT8) {
        const int32_t *p = ln_i32(t);
        for (int64_t i = 0; i < n; i++)
            if (p[i] < 0 || p[i] > 255) return i;
    }
    return -1;
}

/* Elements [lo, hi) of a cast between two different dtypes (kind: from *
** 3 + to) in one pass, hi - lo <= CAST_BLOCK; returns how many did not fit
** (written as 0, never converted: out of range the C conversion is
** undefined), counted in 32-bit lanes (a 64-bit count widened each
** vector of flags in two halves: 4 more instructions a vector). */
LN_CLONES static int cast_block(int kind, void *dst, const void *src, int64_t lo,
                                int64_t hi) {
    int bad = 0;
#define CAST_LOOP(DST, SRC, FITS)                                            \
    do {                                                                     \
        DST *d = dst;                                                        \
        const SRC *s = src;                                                  \
        _Pragma("omp simd reduction(+ : bad)")                               \
        for (int64_t i = lo; i < hi; i++) {                                  \
            const int ok = FITS(s[i]);                                       \
            d[i] = ok ? (DST)s[i] : 0;                                       \
            bad += !ok;                                                      \
        }                                                                    \
    } while (0)
#define ANY(v) 1
#define U8_OF_I32(v) (((v) >= 0) & ((v) <= 255))
    switch (kind) {
    case LN_FLOAT32 * 3 + LN_INT32: CAST_LOOP(int32_t, float, FITS_I32); break;
    case LN_FLOAT32 * 3 + LN_UINT8: CAST_LOOP(uint8_t, float, FITS_U8); break;
    case LN_INT32 * 3 + LN_FLOAT32: CAST_LOOP(float, int32_t, ANY); break;
    case LN_INT32 * 3 + LN_UINT8: CAST_LOOP(uint8_t, int32_t, U8_OF_I32); break;
    case LN_UINT8 * 3 + LN_FLOAT32: CAST_LOOP(float, uint8_t, ANY); break;
    case LN_UINT8 * 3 + LN_INT32: CAST_LOOP(int32_t, uint8_t, ANY); break;
    }
#undef U8_OF_I32
#undef ANY
#undef CAST_LOOP
    return bad;
}

/* A conversion's tasks (spread as the float32 kernels are: an OpenMP loop
** over the blocks converted 1M elements 1.05x slower than PyTorch); bad
** only ever goes to 1. */
typedef struct cast_job {
    int kind;
    void *d;
    const void *src;
    _Atomic int bad;
} cast_job;

static void cast_range(void *arg, int64_t lo, int64_t hi) {
    cast_job *j = arg;
    for (int64_t b = lo; b < hi; b += CAST_BLOCK)
        if (cast_block(j->kind, j->d, j->src, b, hi - b < CAST_BLOCK ? hi : b + CAST_BLOCK))
            atomic_store_explicit(&j->bad, 1, memory_order_relaxed);
}

ln_tensor *ln_tensor_cast(ln_ctx *ctx, const ln_tensor *t, ln_dtype to) {
    const int64_t n = t->numel;
    ln_tensor *c = ln_tensor_empty(ctx, to, t->ndim, t->shape);
    if (!c) return NULL;
    if (t->dtype == to) {
        memcpy(ln_data(c), ln_data(t), (size_t)n * ln_dtype_size(to));
        return c;
    }
    cast_job j = {(int)t->dtype * 3 + (int)to, ln_data(c), ln_data(t), 0};
    ln__ew_spread(n, LN_EW_COST, cast_range, &j);
    if (atomic_load_explicit(&j.bad, memory_order_relaxed)) {
        const int64_t at = first_unfit(t, to);
        double v = ln_get_f64(t, at);
        char num[32];
        if (v != v) snprintf(num, sizeof num, "NaN");
        else snprintf(num, sizeof num, "%.17g", v);
        ln_tensor_release(c);
        ln_fail(ctx, LN_E_ARG, "conversion to %s: the value %s at position "
                "%lld does not fit in %s", ln_dtype_name(to), num,
                (long long)at + 1, ln_dtype_name(to));
        return NULL;
    }
    return c;
}

ln_status ln_tensor_copy(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src) {
    if (dst->numel != src->numel || dst->dtype != src->dtype) {
        char a[128], b[128];
        return ln_fail(ctx, LN_E_SHAPE, "copy: %s %s into %s %s",
                       ln_dtype_name(src->dtype), ln_shape_str(src, a, sizeof a),
                       ln_dtype_name(dst->dtype), ln_shape_str(dst, b, sizeof b));
    }
    memmove(ln_data(dst), ln_data(src),
            (size_t)src->numel * ln_dtype_size(src->dtype));
    return LN_OK;
}

int ln_shape_equal(const ln_tensor *a, const ln_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *ln_dims_str(int nd, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld",
                              (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, nd == 1 ? ",)" : ")");
    return buf;
}

const char *ln_shape_str(const ln_tensor *t, char *buf, size_t n) {
    return ln_dims_str(t->ndim, t->shape, buf, n);
}
