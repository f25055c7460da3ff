/*
** gaussian_noise.c -- GaussianNoise (Keras): y = x + n, n ~ N(0,
** stddev^2) drawn from the layer's generator (one fill of numel values per
** forward), in training only; inference copies x. dy/dx = 1, so backward
** needs no record of the noise. stddev: first positional or by name, >= 0.
*/
#include "lunet/plugin_util.h"

typedef struct gnoise {
    double stddev;
    ln_rng own;
} gnoise;

static ln_status gnoise_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    gnoise *g = l->state;
    ln_status st;
    if ((st = lu_req_number(ctx, a, 1, "stddev", &g->stddev)) ||
        (st = lu_seed(ctx, l, a, &g->own)))
        return st;
    if (g->stddev < 0)
        return ln_fail(ctx, LN_E_ARG, "'stddev' must be >= 0, got %g",
                       g->stddev);
    return LN_OK;
}

static ln_status gnoise_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                ln_tensor *y, unsigned flags) {
    const gnoise *g = l->state;
    int64_t n = x->numel;
    float *yp = ln_f32(y);
    if (!(flags & LN_TRAINING)) {
        ln_copy(yp, ln_f32(x), n);
        return LN_OK;
    }
    ln_rng_normal(l->rng, yp, n, 0.0f, (float)g->stddev);
    ln_axpy(yp, 1.0f, ln_f32(x), n);
    return LN_OK;
}

static ln_status gnoise_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                 const ln_tensor *y, const ln_tensor *dy,
                                 ln_tensor *dx, unsigned flags) {
    if ((flags & LN_NEED_DX) && dx) ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
    return LN_OK;
}

static const ln_layer_ops gnoise_ops = {
    sizeof(gnoise), gnoise_create, NULL, gnoise_forward, gnoise_backward, NULL,
    NULL};

static const ln_unit gnoise_unit = {
    LN_KIND_LAYER, "gaussian_noise", "GaussianNoise", 1,
    "adds N(0, stddev^2) noise in training", &gnoise_ops};

LN_PLUGIN("gaussian_noise") { return host->add(host, &gnoise_unit); }
