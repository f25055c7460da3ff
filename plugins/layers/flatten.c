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
    flatten *f = ln_layer_state(l);
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

static ln_status flatten_build(ln_ctx *ctx, ln_layer *l, int nin,
                               const ln_shape *in, int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    flatten *f = ln_layer_state(l);
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
    LN_PAR_FOR(batch * per)
    for (int64_t b = 0; b < batch; b++) {
        const float *s = src + b * per;
        float *d = dst + b * per;
        for (int64_t r = 0; r < rest; r++)
            for (int64_t k = 0; k < c; k++) d[r * c + k] = s[k * rest + r];
    }
}

/* A plain copy of whole samples: on a team, by rows cut as the batch's
** gather cuts them (lunet/parallel.h: the first rows on this thread), so
** each core copies the rows it gathered and still holds in its cache
** (measured, docs/performance-training.md); else one memcpy here. */
typedef struct copy_job {
    float *dst;
    const float *src;
    int64_t per; /* floats per sample */
} copy_job;

static void copy_rows(void *arg, int64_t lo, int64_t hi) {
    const copy_job *j = arg;
    ln_copy(j->dst + lo * j->per, j->src + lo * j->per, (hi - lo) * j->per);
}

static void copy_samples(float *dst, const float *src, int64_t batch, int64_t numel) {
    copy_job j = {dst, src, batch > 0 ? numel / batch : 0};
    if (ln_parallel_threads() > 1 && batch > 1)
        ln_parallel_rows(batch, j.per, copy_rows, &j);
    else
        ln_copy(dst, src, numel);
}

static ln_status flatten_forward(ln_ctx *ctx, ln_layer *l,
                                 const ln_tensor *const *x, ln_tensor *const *y,
                                 unsigned flags) {
    const flatten *f = ln_layer_state(l);
    if (f->channels_first && f->c > 1 && f->rest > 1)
        transpose_samples(ln_f32(y[0]), ln_f32(x[0]), x[0]->shape[0], f->c, f->rest);
    else
        copy_samples(ln_f32(y[0]), ln_f32(x[0]), x[0]->ndim ? x[0]->shape[0] : 1, x[0]->numel);
    return LN_OK;
}

static ln_status flatten_backward(ln_ctx *ctx, ln_layer *l,
                                  const ln_tensor *const *x,
                                  const ln_tensor *const *y,
                                  const ln_tensor *const *dy,
                                  ln_tensor *const *dx, ln_grad_sink *sink,
                                  unsigned flags) {
    const flatten *f = ln_layer_state(l);
    if (!dx[0]) return LN_OK;
    if (f->channels_first && f->c > 1 && f->rest > 1)
        transpose_samples(ln_f32(dx[0]), ln_f32(dy[0]), x[0]->shape[0], f->rest, f->c);
    else
        copy_samples(ln_f32(dx[0]), ln_f32(dy[0]), x[0]->ndim ? x[0]->shape[0] : 1, x[0]->numel);
    return LN_OK;
}

/* channels_last (or nothing to move): the output is the input's elements */
static int flatten_is_view(const ln_layer *l, unsigned flags) {
    const flatten *f = ln_layer_state(l);
    return !(f->channels_first && f->c > 1 && f->rest > 1);
}

static const ln_layer_ops flatten_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(flatten),
    .create = flatten_create,
    .build = flatten_build,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .is_view = flatten_is_view,
};

static const ln_unit flatten_unit = {
    .kind = LN_KIND_LAYER,
    .name = "flatten",
    .class_name = "Flatten",
    .version = 1,
    .summary = "flattens each sample to one axis (row-major)",
    .ops = &flatten_ops,
};

LN_PLUGIN("flatten") { return host->add(host, &flatten_unit); }
