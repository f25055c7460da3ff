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
    gdrop *d = l->state;
    ln_status st;
    if ((st = lu_rate(ctx, a, &d->rate)) || (st = lu_seed(ctx, l, a, &d->own)))
        return st;
    return LN_OK;
}

static int gdrop_active(const gdrop *d, unsigned flags) {
    return (flags & LN_TRAINING) && d->rate > 0 && d->rate < 1;
}

static ln_status gdrop_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               ln_tensor *y, unsigned flags) {
    gdrop *d = l->state;
    int64_t n = x->numel;
    if (!gdrop_active(d, flags)) {
        ln_copy(ln_f32(y), ln_f32(x), n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->noise, x);
    if (st) return st;
    float *m = ln_f32(d->noise), *yp = ln_f32(y);
    const float *xp = ln_f32(x);
    ln_rng_normal(l->rng, m, n, 1.0f, (float)sqrt(d->rate / (1.0 - d->rate)));
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) yp[i] = xp[i] * m[i];
    return LN_OK;
}

static ln_status gdrop_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                const ln_tensor *y, const ln_tensor *dy,
                                ln_tensor *dx, unsigned flags) {
    const gdrop *d = l->state;
    int64_t n = x->numel;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    if (!gdrop_active(d, flags)) {
        ln_copy(ln_f32(dx), ln_f32(dy), n);
        return LN_OK;
    }
    if (!d->noise || d->noise->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *m = ln_f32(d->noise), *g = ln_f32(dy);
    float *dp = ln_f32(dx);
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) dp[i] = g[i] * m[i];
    return LN_OK;
}

static void gdrop_destroy(ln_layer *l) {
    gdrop *d = l->state;
    ln_tensor_release(d->noise);
}

static const ln_layer_ops gdrop_ops = {
    sizeof(gdrop), gdrop_create, NULL, gdrop_forward, gdrop_backward, NULL,
    gdrop_destroy};

static const ln_unit gdrop_unit = {
    LN_KIND_LAYER, "gaussian_dropout", "GaussianDropout", 1,
    "multiplies by N(1, rate/(1-rate)) noise in training", &gdrop_ops};

LN_PLUGIN("gaussian_dropout") { return host->add(host, &gdrop_unit); }
