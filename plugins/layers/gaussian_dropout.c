/*
** gaussian_dropout.c -- GaussianDropout (Keras): y = x . n with
** n ~ N(1, rate / (1 - rate)) drawn from the layer's generator (one fill of
** numel values per forward), in training with 0 < rate < 1 only; n is kept
** for backward (dx = dy . n). Inference copies x.
*/
#include "lunet/plugin_util.h"

typedef struct gdrop {
    double rate;
    ln_rng own;
    ln_tensor *noise; /* multipliers of the last training forward */
} gdrop;

static ln_status gdrop_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    gdrop *d = ln_layer_state(l);
    ln_status st;
    if ((st = lu_rate(ctx, a, &d->rate)) || (st = lu_seed(ctx, l, a, &d->own)))
        return st;
    return LN_OK;
}

static int gdrop_active(const gdrop *d, unsigned flags) {
    return (flags & LN_TRAINING) && d->rate > 0 && d->rate < 1;
}

static int gdrop_is_view(const ln_layer *l, unsigned flags) {
    return !gdrop_active(ln_layer_state(l), flags);
}

static ln_status gdrop_forward(ln_ctx *ctx, ln_layer *l,
                               const ln_tensor *const *x, ln_tensor *const *y,
                               unsigned flags) {
    gdrop *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!gdrop_active(d, flags)) {
        ln_copy(ln_f32(y[0]), ln_f32(x[0]), n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->noise, x[0]);
    if (st) return st;
    float *m = ln_f32(d->noise), *yp = ln_f32(y[0]);
    const float *xp = ln_f32(x[0]);
    ln_rng_normal(ln_layer_rng(l), m, n, 1.0f, (float)sqrt(d->rate / (1.0 - d->rate)));
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) yp[i] = xp[i] * m[i];
    return LN_OK;
}

static ln_status gdrop_backward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink,
                                unsigned flags) {
    const gdrop *d = ln_layer_state(l);
    int64_t n = x[0]->numel;
    if (!dx[0]) return LN_OK;
    if (!gdrop_active(d, flags)) {
        ln_copy(ln_f32(dx[0]), ln_f32(dy[0]), n);
        return LN_OK;
    }
    if (!d->noise || d->noise->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *m = ln_f32(d->noise), *g = ln_f32(dy[0]);
    float *dp = ln_f32(dx[0]);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) dp[i] = g[i] * m[i];
    return LN_OK;
}

static void gdrop_destroy(ln_layer *l) {
    gdrop *d = ln_layer_state(l);
    ln_tensor_release(d->noise);
}

static const ln_layer_ops gdrop_ops = {
    .size = sizeof(ln_layer_ops),
    LN_MASK_PASSTHROUGH, /* Keras: supports_masking */
    .state_size = sizeof(gdrop),
    .create = gdrop_create,
    .forward = gdrop_forward,
    .backward = gdrop_backward,
    .is_view = gdrop_is_view,
    .destroy = gdrop_destroy,
};

static const ln_unit gdrop_unit = {
    .kind = LN_KIND_LAYER,
    .name = "gaussian_dropout",
    .class_name = "GaussianDropout",
    .version = 1,
    .summary = "multiplies by N(1, rate/(1-rate)) noise in training",
    .ops = &gdrop_ops,
};

LN_PLUGIN("gaussian_dropout") { return host->add(host, &gdrop_unit); }
