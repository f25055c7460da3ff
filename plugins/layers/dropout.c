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
    dropout *d = l->state;
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

static ln_status dropout_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                 ln_tensor *y, unsigned flags) {
    dropout *d = l->state;
    int64_t n = x->numel;
    if (!dropout_active(d, flags)) {
        ln_copy(ln_f32(y), ln_f32(x), n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->mask, x);
    if (st) return st;
    float *m = ln_f32(d->mask), *yp = ln_f32(y);
    const float *xp = ln_f32(x);
    const float rate = (float)d->rate, scale = (float)(1.0 / (1.0 - d->rate));
    ln_rng_uniform(l->rng, m, n, 0.0f, 1.0f);
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        m[i] = lu_select(m[i] >= rate, scale, 0.0f);
        yp[i] = xp[i] * m[i];
    }
    return LN_OK;
}

static ln_status dropout_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                  const ln_tensor *y, const ln_tensor *dy,
                                  ln_tensor *dx, unsigned flags) {
    const dropout *d = l->state;
    int64_t n = x->numel;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    if (!dropout_active(d, flags)) {
        ln_copy(ln_f32(dx), ln_f32(dy), n);
        return LN_OK;
    }
    if (!d->mask || d->mask->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *m = ln_f32(d->mask), *g = ln_f32(dy);
    float *dp = ln_f32(dx);
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) dp[i] = g[i] * m[i];
    return LN_OK;
}

static void dropout_destroy(ln_layer *l) {
    dropout *d = l->state;
    ln_tensor_release(d->mask);
}

static const ln_layer_ops dropout_ops = {
    sizeof(dropout),  dropout_create, NULL, dropout_forward,
    dropout_backward, NULL,           dropout_destroy};

static const ln_unit dropout_unit = {
    LN_KIND_LAYER, "dropout", "Dropout", 1,
    "inverted dropout in training: drop with probability rate, scale by "
    "1/(1-rate)",
    &dropout_ops};

LN_PLUGIN("dropout") { return host->add(host, &dropout_unit); }
