/*
** alpha_dropout.c -- AlphaDropout (Keras): dropout that keeps SELU's
** self-normalising mean and variance. Active only in training with
** 0 < rate < 1. With alpha' = -alpha * scale of SELU (-1.7580993408473766),
** keep = u >= rate (u ~ U[0, 1), one fill of numel values per forward),
**     a = ((1 - rate) (1 + rate alpha'^2))^(-1/2),  b = -a alpha' rate,
**     y = a (keep ? x : alpha') + b,
** so dy/dx = a keep. The keep mask is kept for backward. Inference: y = x.
*/
#include "lunet/plugin_util.h"

#define SELU_ALPHA_P (-1.7580993408473766)

typedef struct adrop {
    double rate;
    ln_rng own;
    ln_tensor *keep; /* 1 or 0 per element of the last training forward */
} adrop;

static ln_status adrop_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    adrop *d = ln_layer_state(l);
    ln_status st;
    if ((st = lu_rate(ctx, a, &d->rate)) ||
        (st = lu_nil_only(ctx, a, "noise_shape")) ||
        (st = lu_seed(ctx, l, a, &d->own)))
        return st;
    return LN_OK;
}

static int adrop_active(const adrop *d, unsigned flags) {
    return (flags & LN_TRAINING) && d->rate > 0 && d->rate < 1;
}

static int adrop_is_view(const ln_layer *l, unsigned flags) {
    return !adrop_active(ln_layer_state(l), flags);
}

/* Keras's affine correction a, b for rate p. */
static void adrop_ab(double p, float *a, float *b) {
    double ap = SELU_ALPHA_P;
    double av = 1.0 / sqrt((1.0 - p) * (1.0 + p * ap * ap));
    *a = (float)av;
    *b = (float)(-av * ap * p);
}

static ln_status adrop_forward(ln_ctx *ctx, ln_layer *l,
                               const ln_tensor *const *x, ln_tensor *const *y,
                               unsigned flags) {
    adrop *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!adrop_active(d, flags)) {
        ln_copy(ln_f32(y[0]), ln_f32(x[0]), n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->keep, x[0]);
    if (st) return st;
    float *k = ln_f32(d->keep), *yp = ln_f32(y[0]);
    const float *xp = ln_f32(x[0]);
    const float rate = (float)d->rate, alpha_p = (float)SELU_ALPHA_P;
    float a, b;
    adrop_ab(d->rate, &a, &b);
    ln_rng_uniform(ln_layer_rng(l), k, n, 0.0f, 1.0f);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) {
        int keep = k[i] >= rate;
        k[i] = lu_select(keep, 1.0f, 0.0f);
        yp[i] = a * lu_select(keep, xp[i], alpha_p) + b;
    }
    return LN_OK;
}

static ln_status adrop_backward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink,
                                unsigned flags) {
    const adrop *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!dx[0]) return LN_OK;
    if (!adrop_active(d, flags)) {
        ln_copy(ln_f32(dx[0]), ln_f32(dy[0]), n);
        return LN_OK;
    }
    if (!d->keep || d->keep->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *k = ln_f32(d->keep), *g = ln_f32(dy[0]);
    float *dp = ln_f32(dx[0]);
    float a, b;
    adrop_ab(d->rate, &a, &b);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) dp[i] = a * k[i] * g[i];
    return LN_OK;
}

static void adrop_destroy(ln_layer *l) {
    adrop *d = ln_layer_state(l);
    ln_tensor_release(d->keep);
}

static const ln_layer_ops adrop_ops = {
    .size = sizeof(ln_layer_ops),
    LN_MASK_PASSTHROUGH, /* Keras: supports_masking */
    .state_size = sizeof(adrop),
    .create = adrop_create,
    .forward = adrop_forward,
    .backward = adrop_backward,
    .is_view = adrop_is_view,
    .destroy = adrop_destroy,
};

static const ln_unit adrop_unit = {
    .kind = LN_KIND_LAYER,
    .name = "alpha_dropout",
    .class_name = "AlphaDropout",
    .version = 1,
    .summary = "dropout keeping SELU's mean and variance (training only)",
    .ops = &adrop_ops,
};

LN_PLUGIN("alpha_dropout") { return host->add(host, &adrop_unit); }
