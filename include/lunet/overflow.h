/*
** overflow.h -- overflow-safe index, size and range arithmetic, shared by
** liblunet, the engine, the binding and any plugin that takes sizes.
**
** Every index, size, count or range that comes from a user (a Lua integer,
** a file header, a keyword argument) goes through these before it is used
** in pointer arithmetic: none of them can overflow for any int64 input,
** so `start + len > size` style checks that wrap (and then pass) cannot
** be written by accident. Each returns 1 when the result is valid, else 0
** (and leaves *out untouched); the caller words the error.
*/
#ifndef LUNET_OVERFLOW_H
#define LUNET_OVERFLOW_H

#include <stdint.h>

/* *out = a + b, a * b; 0 on int64 overflow. */
static inline int ln_add_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline int ln_mul_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* Is [start, start + len) inside [0, size)? (An empty range may sit at
** size.) Exact for any int64 values. */
static inline int ln_range_ok(int64_t start, int64_t len, int64_t size) {
    return size >= 0 && start >= 0 && len >= 0 && start <= size &&
           len <= size - start;
}

/* A 1-based position (negative: from the end, -1 is the last) along a
** size n -> 0-based in [0, n). */
static inline int ln_pos_ok(int64_t pos, int64_t n, int64_t *out) {
    if (pos >= 1 && pos <= n) *out = pos - 1;
    else if (pos <= -1 && pos >= -n) *out = n + pos;
    else return 0;
    return 1;
}

/* The 1-based start of a range (negative from the end, as ln_pos_ok; n + 1
** is allowed: an empty range after the last) -> 0-based in [0, n]. */
static inline int ln_start_ok(int64_t start, int64_t n, int64_t *out) {
    if (start == n + 1 && n >= 0) {
        *out = n;
        return 1;
    }
    return ln_pos_ok(start, n, out);
}

/* The number of elements of a shape: every size >= 0 and the product of
** the nonzero sizes at most max (so that every partial product of the
** shape, which kernels compute freely, fits too). *numel is that product,
** or 0 when a size is 0. On failure *bad is the first offending dim (-1:
** only the product is too large). */
static inline int ln_shape_ok(int nd, const int64_t *shape, int64_t max,
                              int64_t *numel, int *bad) {
    int64_t p = 1, zero = 0;
    *bad = -1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 0) {
            *bad = i;
            return 0;
        }
        if (shape[i] == 0) zero = 1;
        else if (shape[i] > max || p > max / shape[i]) return 0;
        else p *= shape[i];
    }
    *numel = zero ? 0 : p;
    return 1;
}

#endif
