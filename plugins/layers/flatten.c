/*
** flatten.c -- Flatten (Keras): (batch, d1, ..., dk) -> (batch, d1*...*dk)
** in row-major order; (batch,) -> (batch, 1). With
** data_format = "channels_first" the channel axis (Keras axis 1) is first
** moved last, as Keras does, so the flat order matches a channels_last
** model. No weights.
*/
#include <string.h>

#include "lunet/plugin_util.h"

typedef struct flatten {
    int channels_first;
    int64_t c, rest; /* channels_first: per sample [c x rest] -> [rest x c] */
} flatten;

static ln_status flatten_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    flatten *f = l->state;
    const char *fmt;
    ln_status st = ln_args_string(ctx, a, "data_format", NULL, &fmt);
    if (st) return st;
    if (fmt && strcmp(fmt, "channels_last") && strcmp(fmt, "channels_first"))
        return ln_fail(ctx, LN_E_ARG,
                       "'data_format' must be \"channels_last\" or "
                       "\"channels_first\", got \"%s\"",
                       fmt);
    f->channels_first = fmt && !strcmp(fmt, "channels_first");
    return LN_OK;
}

static ln_status flatten_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                               const int64_t *in_shape, int *out_nd,
                               int64_t *out_shape) {
    flatten *f = l->state;
    int64_t n = 1;
    for (int i = 0; i < in_nd; i++) n *= in_shape[i];
    /* Keras transposes only when there is an axis after the channels. */
    f->c = in_nd >= 2 ? in_shape[0] : 1;
    f->rest = in_nd >= 2 && f->c ? n / f->c : n;
    *out_nd = 1;
    out_shape[0] = n;
    return LN_OK;
}

/* dst[b, r*c + k] = src[b, k*rest + r] (inverse = swap c and rest). */
static void transpose_samples(float *dst, const float *src, int64_t batch,
                              int64_t c, int64_t rest) {
    int64_t per = c * rest;
#pragma omp parallel for if (batch * per > LU_PAR_MIN) schedule(static)
    for (int64_t b = 0; b < batch; b++) {
        const float *s = src + b * per;
        float *d = dst + b * per;
        for (int64_t r = 0; r < rest; r++)
            for (int64_t k = 0; k < c; k++) d[r * c + k] = s[k * rest + r];
    }
}

static ln_status flatten_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                 ln_tensor *y, unsigned flags) {
    const flatten *f = l->state;
    if (f->channels_first && f->c > 1 && f->rest > 1)
        transpose_samples(ln_f32(y), ln_f32(x), x->shape[0], f->c, f->rest);
    else
        ln_copy(ln_f32(y), ln_f32(x), x->numel);
    return LN_OK;
}

static ln_status flatten_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                  const ln_tensor *y, const ln_tensor *dy,
                                  ln_tensor *dx, unsigned flags) {
    const flatten *f = l->state;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    if (f->channels_first && f->c > 1 && f->rest > 1)
        transpose_samples(ln_f32(dx), ln_f32(dy), x->shape[0], f->rest, f->c);
    else
        ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
    return LN_OK;
}

static const ln_layer_ops flatten_ops = {
    sizeof(flatten), flatten_create, flatten_build, flatten_forward,
    flatten_backward, NULL, NULL};

static const ln_unit flatten_unit = {
    LN_KIND_LAYER, "flatten", "Flatten", 1,
    "flattens each sample to one axis (row-major)", &flatten_ops};

LN_PLUGIN("flatten") { return host->add(host, &flatten_unit); }
