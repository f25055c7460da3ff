/*
** tensor.h -- n-d contiguous tensors over reference-counted storage (core).
**
** Ownership:
**  - every function named *_new, *_view, *_clone, *_narrow, *_reshape returns
**    a tensor the caller owns (one reference); release it with
**    ln_tensor_release. NULL means failure and ctx holds the reason.
**  - ln_tensor_retain adds a reference; whoever retains, releases.
**  - a view (narrow along dim 0, reshape) shares the storage of the tensor
**    it was made from; the bytes live until the last tensor using them is
**    released.
**  - functions taking `const ln_tensor *` only borrow their argument.
** Reference counts are plain integers: tensors are shared between threads
** only read-only inside kernels, never retained or released there.
**
** Tensors are always contiguous, row-major (C order).
**
** What a plugin or a host sees of a tensor is the view below: its layout is
** FROZEN for the plugin ABI's major version (fields are never moved or
** reused), so reading data, shape and numel stays an inline load. Only the
** core writes these fields; the storage, the offset into it and the
** reference count are private to core/tensor.c.
*/
#ifndef LUNET_TENSOR_H
#define LUNET_TENSOR_H

#include "lunet/lunet.h"

#define LN_MAX_DIM 8

typedef enum ln_dtype { LN_FLOAT32 = 0, LN_INT32 = 1, LN_UINT8 = 2 } ln_dtype;

typedef struct ln_tensor {
    ln_dtype dtype;
    int ndim;                  /* 0 (a scalar) .. LN_MAX_DIM */
    int64_t shape[LN_MAX_DIM]; /* unused entries are 1 */
    int64_t numel;
    void *data; /* element 0: 64-byte aligned for a new tensor, never NULL */
} ln_tensor;

LN_API size_t ln_dtype_size(ln_dtype t);
LN_API const char *ln_dtype_name(ln_dtype t); /* "float32", "int32", "uint8" */

/* A new zero-filled tensor. */
LN_API ln_tensor *ln_tensor_new(ln_ctx *ctx, ln_dtype dtype, int ndim,
                                const int64_t *shape);
LN_API ln_tensor *ln_tensor_new_like(ln_ctx *ctx, const ln_tensor *t);
LN_API void ln_tensor_retain(ln_tensor *t);
LN_API void ln_tensor_release(ln_tensor *t); /* NULL is fine */

/* What the gradient tape (tape.h) and the Lua binding keep on a tensor's
** private record: flags (LN_TENSOR_VARIABLE: every tape watches it), the
** storage's version (bumped by each in-place write the binding does), and
** whether a tensor is the only user of its storage or shares it. */
#define LN_TENSOR_VARIABLE 1u
LN_API unsigned ln_tensor_flags(const ln_tensor *t);
LN_API void ln_tensor_set_flags(ln_tensor *t, unsigned flags);
LN_API uint32_t ln_tensor_version(const ln_tensor *t);
LN_API void ln_tensor_bump_version(ln_tensor *t);
LN_API int ln_tensor_sole_owner(const ln_tensor *t);
LN_API int ln_tensor_shares_storage(const ln_tensor *a, const ln_tensor *b);

/* Change shape in place, keeping the tensor object (callers holding it keep
** a valid pointer). Reuses the storage when it is not shared and is large
** enough, else allocates a new one; the contents are then unspecified.
** Used for layer buffers: no allocation once the largest batch was seen. */
LN_API ln_status ln_tensor_resize(ln_ctx *ctx, ln_tensor *t, int ndim,
                                  const int64_t *shape);

/* dst -- a buffer whose owner resizes it, never a view -- shows src's
** elements [first, first + numel of shape) under the given shape (dtypes
** equal) without a copy: it holds a reference on src's storage and keeps
** its own aside. ln_tensor_unalias gives it its own storage back (shape
** (0)); so does ln_tensor_resize; no allocation either way. An engine
** buffer that would be a copy of another (a Flatten's output) is one of
** these, undone before the other is resized for the next batch, so both
** stay unshared. */
LN_API ln_status ln_tensor_alias(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src,
                                 int64_t first, int ndim, const int64_t *shape);
LN_API void ln_tensor_unalias(ln_tensor *dst); /* not an alias: nothing */

/* Views sharing storage. */
LN_API ln_tensor *ln_tensor_narrow(ln_ctx *ctx, ln_tensor *t, int64_t start,
                                   int64_t len); /* along dim 0, 0-based */
LN_API ln_tensor *ln_tensor_reshape(ln_ctx *ctx, ln_tensor *t, int ndim,
                                    const int64_t *shape); /* one -1 allowed */
/* A new tensor with its own storage and the same contents. */
LN_API ln_tensor *ln_tensor_clone(ln_ctx *ctx, const ln_tensor *t);
/* Converted copy (float <-> int32 <-> uint8; float to int truncates toward
** zero). A value the target cannot hold (NaN, an infinity, out of range)
** is refused, naming it and its position: never wrapped. */
LN_API ln_tensor *ln_tensor_cast(ln_ctx *ctx, const ln_tensor *t,
                                 ln_dtype to);
/* dst <- src; shapes must have equal numel and dtypes equal. */
LN_API ln_status ln_tensor_copy(ln_ctx *ctx, ln_tensor *dst,
                                const ln_tensor *src);

static inline void *ln_data(const ln_tensor *t) { return t->data; }
static inline float *ln_f32(const ln_tensor *t) { return (float *)ln_data(t); }
static inline int32_t *ln_i32(const ln_tensor *t) {
    return (int32_t *)ln_data(t);
}
static inline uint8_t *ln_u8(const ln_tensor *t) {
    return (uint8_t *)ln_data(t);
}

LN_API int ln_shape_equal(const ln_tensor *a, const ln_tensor *b);
/* "(32, 784)" into buf; returns buf. Shapes in messages use this form. */
LN_API const char *ln_shape_str(const ln_tensor *t, char *buf, size_t n);
LN_API const char *ln_dims_str(int nd, const int64_t *shape, char *buf,
                               size_t n);

/* Number of live tensor objects and storages: tests check for leaks. */
LN_API int64_t ln_tensor_live_count(void);
LN_API int64_t ln_storage_live_count(void);

/* Shape helpers for kernels (the core's and the engine's tensor ops). */

/* Product of shape[from..to). */
static inline int64_t ln_dims_prod(const int64_t *shape, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= shape[i];
    return p;
}

/* Strides of a contiguous tensor of shape (nt, st) aligned to an output of
** nd dims `out` under numpy broadcasting: 0 along broadcast dims. */
static inline void ln_bc_strides(int nd, const int64_t *out, int nt,
                                 const int64_t *st, int64_t *stride) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int j = i - (nd - nt);
        int64_t d = j >= 0 ? st[j] : 1;
        stride[i] = (d == 1 && out[i] != 1) ? 0 : s;
        s *= d;
    }
}

#endif
