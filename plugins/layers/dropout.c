/*
** dropout.c -- Dropout (Keras): inverted dropout, active only in training
** (LN_TRAINING). An element is kept when u >= rate, u ~ U[0, 1) drawn from
** the layer's generator (one fill of numel values per forward), and kept
** values are scaled by 1 / (1 - rate); the per-element factor (0 or
** 1 / (1 - rate)) is kept for backward. Inference, and rate 0, copy x.
** noise_shape: nil only. seed: nil (the library's generator) or an integer
** (the layer's own generator).
*/
#include "lunet/plugin_util.h"

typedef struct dropout {
    double rate;
    ln_rng own;
    ln_tensor *mask; /* factor per element of the last training forward */
} dropout;

static ln_status dropout_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    dropout *d = ln_layer_state(l);
    ln_status st;
    if ((st = lu_rate(ctx, a, &d->rate)) ||
        (st = lu_nil_only(ctx, a, "noise_shape")) ||
        (st = lu_seed(ctx, l, a, &d->own)))
        return st;
    return LN_OK;
}

static int dropout_active(const dropout *d, unsigned flags) {
    return (flags & LN_TRAINING) && d->rate > 0;
}

/* outside training (or at rate 0) the output is the input */
static int dropout_is_view(const ln_layer *l, unsigned flags) {
    return !dropout_active(ln_layer_state(l), flags);
}

static ln_status dropout_forward(ln_ctx *ctx, ln_layer *l,
                                 const ln_tensor *const *x, ln_tensor *const *y,
                                 unsigned flags) {
    dropout *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!dropout_active(d, flags)) {
        ln_copy(ln_f32(y[0]), ln_f32(x[0]), n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->mask, x[0]);
    if (st) return st;
    float *m = ln_f32(d->mask), *yp = ln_f32(y[0]);
    const float *xp = ln_f32(x[0]);
    const float rate = (float)d->rate, scale = (float)(1.0 / (1.0 - d->rate));
    ln_rng_uniform(ln_layer_rng(l), m, n, 0.0f, 1.0f);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) {
        m[i] = lu_select(m[i] >= rate, scale, 0.0f);
        yp[i] = xp[i] * m[i];
    }
    return LN_OK;
}

static ln_status dropout_backward(ln_ctx *ctx, ln_layer *l,
                                  const ln_tensor *const *x,
                                  const ln_tensor *const *y,
                                  const ln_tensor *const *dy,
                                  ln_tensor *const *dx, ln_grad_sink *sink,
                                  unsigned flags) {
    const dropout *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!dx[0]) return LN_OK;
    if (!dropout_active(d, flags)) {
        ln_copy(ln_f32(dx[0]), ln_f32(dy[0]), n);
        return LN_OK;
    }
    if (!d->mask || d->mask->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *m = ln_f32(d->mask), *g = ln_f32(dy[0]);
    float *dp = ln_f32(dx[0]);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) dp[i] = g[i] * m[i];
    return LN_OK;
}

static void dropout_destroy(ln_layer *l) {
    dropout *d = ln_layer_state(l);
    ln_tensor_release(d->mask);
}

static const ln_layer_ops dropout_ops = {
    .size = sizeof(ln_layer_ops),
    LN_MASK_PASSTHROUGH, /* Keras: supports_masking */
    .state_size = sizeof(dropout),
    .create = dropout_create,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .is_view = dropout_is_view,
    .destroy = dropout_destroy,
};

static const ln_unit dropout_unit = {
    .kind = LN_KIND_LAYER,
    .name = "dropout",
    .class_name = "Dropout",
    .version = 1,
    .summary = "inverted dropout in training: drop with probability rate, "
               "scale by 1/(1-rate)",
    .ops = &dropout_ops,
};

LN_PLUGIN("dropout") { return host->add(host, &dropout_unit); }
