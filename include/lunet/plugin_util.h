/*
** plugin_util.h -- private helpers shared by the layer plugins (not
** installed). Everything here is static: each plugin .so compiles its own
** copy, so a plugin stays one self-contained file plus this header.
**
**  - keyword arguments: nil-only keys (constraints), optional numbers,
**    rates, seeds, activations given as unit references;
**  - layer-owned buffers grown with ln_tensor_resize (no allocation once
**    the largest batch was seen);
**  - the OpenMP threshold used by every elementwise loop of the layers.
*/
#ifndef LUNET_LAYER_UTIL_H
#define LUNET_LAYER_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lunet/plugin.h"

/* Loops over fewer elements than this stay serial (threads do not pay). */
#define LU_PAR_MIN 32768

#if defined(__GNUC__)
#define LU_UNUSED __attribute__((unused))
#else
#define LU_UNUSED
#endif

/* c ? a : b without a branch (a bit-mask blend of both values, exact).
** Elementwise kernels select on the sign of random data, where a branch is
** mispredicted half the time: this is ~5x faster at -O2. */
static inline float lu_select(int c, float a, float b) {
    uint32_t m = 0u - (uint32_t)(c != 0), ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    float r;
    memcpy(&r, &ua, sizeof r);
    return r;
}

/* Accept `key` only when absent or nil (constraints, activity
** regularizers: not supported by lunet), recording it as null in the
** config; anything else fails naming the key. */
static LU_UNUSED ln_status lu_nil_only(ln_ctx *ctx, ln_args *a,
                                       const char *key) {
    if (ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' is not supported by lunet (only nil is accepted)",
                       key);
    const char *s;
    return ln_args_string(ctx, a, key, NULL, &s);
}

/* An optional number: *has = 0 and null recorded when absent or nil. */
static LU_UNUSED ln_status lu_opt_number(ln_ctx *ctx, ln_args *a,
                                         const char *key, int *has,
                                         double *v) {
    *has = ln_args_has(a, key);
    *v = 0;
    if (*has) return ln_args_number(ctx, a, key, 0, v);
    const char *s;
    return ln_args_string(ctx, a, key, NULL, &s);
}

/* A required number (given by name or as positional `pos`, 0 = none). */
static LU_UNUSED ln_status lu_req_number(ln_ctx *ctx, ln_args *a, int pos,
                                         const char *key, double *v) {
    ln_status st = pos ? ln_args_positional(ctx, a, pos, key) : LN_OK;
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
    st = ln_args_number(ctx, a, key, 0, v);
    if (st == LN_OK && !isfinite(*v))
        return ln_fail(ctx, LN_E_ARG, "'%s' must be finite, got %g", key, *v);
    return st;
}

/* A number with a default that must be finite. */
static LU_UNUSED ln_status lu_number(ln_ctx *ctx, ln_args *a, const char *key,
                                     double def, double *v) {
    ln_status st = ln_args_number(ctx, a, key, def, v);
    if (st == LN_OK && !isfinite(*v))
        return ln_fail(ctx, LN_E_ARG, "'%s' must be finite, got %g", key, *v);
    return st;
}

/* A dropout-like rate: required (positional 1 or by name), in [0, 1). */
static LU_UNUSED ln_status lu_rate(ln_ctx *ctx, ln_args *a, double *rate) {
    ln_status st = lu_req_number(ctx, a, 1, "rate", rate);
    if (st) return st;
    if (!(*rate >= 0 && *rate < 1))
        return ln_fail(ctx, LN_E_ARG, "'rate' must be in [0, 1), got %g",
                       *rate);
    return LN_OK;
}

/* Keras's `seed` of random layers: nil keeps the layer on the library's
** generator (l->rng, reproducible through ln.random.seed); an integer gives
** the layer its own generator *own seeded with it. */
static LU_UNUSED ln_status lu_seed(ln_ctx *ctx, ln_layer *l, ln_args *a,
                                   ln_rng *own) {
    int has;
    double v;
    ln_status st = lu_opt_number(ctx, a, "seed", &has, &v);
    if (st || !has) return st;
    if (v < 0 || v != floor(v) || v > 9007199254740992.0)
        return ln_fail(ctx, LN_E_ARG,
                       "'seed' must be a non-negative integer, got %g", v);
    ln_rng_seed(own, (uint64_t)v);
    l->rng = own;
    return LN_OK;
}

/* Copy every entry of src except `skip` into dst (set_* replace equal
** keys). Tables are copied deeply. */
static LU_UNUSED ln_status lu_args_copy(ln_args *dst, const ln_args *src,
                                        const char *skip) {
    for (int i = 0; i < ln_args_count(src); i++) {
        ln_arg e = ln_args_at(src, i);
        ln_status st = LN_OK;
        if (skip && !strcmp(e.key, skip)) continue;
        switch (e.type) {
        case LN_ARG_NULL: st = ln_args_set_null(dst, e.key); break;
        case LN_ARG_BOOL: st = ln_args_set_bool(dst, e.key, e.num != 0); break;
        case LN_ARG_NUMBER: st = ln_args_set_number(dst, e.key, e.num); break;
        case LN_ARG_STRING: st = ln_args_set_string(dst, e.key, e.str); break;
        case LN_ARG_NUMBERS:
            st = ln_args_set_numbers(dst, e.key, e.n, e.nums);
            break;
        case LN_ARG_TABLE: {
            ln_args *t = ln_args_new();
            if (!t) return LN_E_NOMEM;
            if ((st = lu_args_copy(t, e.table, NULL))) {
                ln_args_free(t);
                return st;
            }
            st = ln_args_set_table(dst, e.key, t);
        } break;
        }
        if (st) return st;
    }
    return LN_OK;
}

/* Resolve the activation given by unit reference `key` ("relu", or a table
** {name = "relu", ...}) into a new activation instance, now, so an unknown
** name fails when the layer is created. The activation reads its own copy of
** the table; what it read (its effective config) is written back into the
** layer's args so configs show it. def: the name used when absent. */
static LU_UNUSED ln_status lu_activation(ln_ctx *ctx, ln_args *a,
                                         const char *key, const char *def,
                                         ln_activation **out) {
    const char *name;
    ln_args *sub;
    *out = NULL;
    ln_status st = ln_args_unit(ctx, a, key, def, &name, &sub);
    if (st) return st;
    if (!name)
        return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
    ln_args *own = ln_args_new();
    if (!own || lu_args_copy(own, sub, "name")) {
        ln_args_free(own);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    ln_activation *act = ln_activation_new(ctx, name, own);
    if (!act) return ctx->status;
    if (lu_args_copy(sub, act->args, NULL)) {
        ln_activation_free(act);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    *out = act;
    return LN_OK;
}

/* Read initializer reference `key` and check now that it exists and
** accepts its arguments, so a bad one fails when the layer is created
** rather than when it is built. */
static LU_UNUSED ln_status lu_initializer(ln_ctx *ctx, ln_args *a,
                                          const char *key, const char *def,
                                          const char **name, ln_args **sub) {
    ln_status st = ln_args_unit(ctx, a, key, def, name, sub);
    if (st) return st;
    if (!ln_registry_require(ctx, LN_KIND_INITIALIZER, *name))
        return ln_prefix(ctx, "'%s'", key);
    /* A trial fill of one value (private generator, the library's stream is
    ** untouched) checks the initializer's own arguments now as well. */
    int64_t one[2] = {1, 1};
    ln_tensor *t = ln_tensor_new(ctx, LN_FLOAT32, 2, one);
    if (!t) return ctx->status;
    ln_rng trial = {0, 0};
    st = ln_initializer_fill(ctx, *name, *sub, t, &trial);
    ln_tensor_release(t);
    return st ? ln_prefix(ctx, "'%s'", key) : LN_OK;
}

/* A layer-owned float buffer of the given shape (created on first use,
** then resized: storage is reused once it is large enough). */
static LU_UNUSED ln_status lu_buffer(ln_ctx *ctx, ln_tensor **buf, int nd,
                                     const int64_t *shape) {
    if (!*buf) {
        *buf = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
        return *buf ? LN_OK : ctx->status;
    }
    return ln_tensor_resize(ctx, *buf, nd, shape);
}

/* The same, shaped like t. */
static LU_UNUSED ln_status lu_buffer_like(ln_ctx *ctx, ln_tensor **buf,
                                          const ln_tensor *t) {
    return lu_buffer(ctx, buf, t->ndim, t->shape);
}

/* View of x as [rows x cols] with cols its last axis (1 for rank 1). */
static LU_UNUSED void lu_rows_cols(const ln_tensor *x, int64_t *rows,
                                   int64_t *cols) {
    *cols = x->ndim > 1 ? x->shape[x->ndim - 1] : 1;
    *rows = *cols ? x->numel / *cols : 0;
}

#endif
