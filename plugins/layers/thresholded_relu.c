/*
** thresholded_relu.c -- ThresholdedReLU (Keras): f(x) = x for x > theta
** (strict), 0 otherwise; theta 1.0, must be >= 0 (as Keras checks).
*/
#include "lunet/plugin_util.h"

typedef struct trelu {
    float theta;
} trelu;

static ln_status trelu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    trelu *s = l->state;
    double theta;
    ln_status st = lu_number(ctx, a, "theta", 1.0, &theta);
    if (st) return st;
    if (theta < 0)
        return ln_fail(ctx, LN_E_ARG, "'theta' must be >= 0, got %g", theta);
    s->theta = (float)theta;
    return LN_OK;
}

static ln_status trelu_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               ln_tensor *y, unsigned flags) {
    const float theta = ((const trelu *)l->state)->theta;
    const float *xp = ln_f32(x);
    float *yp = ln_f32(y);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    /* !(x <= theta): NaN goes through */
    for (int64_t i = 0; i < n; i++) yp[i] = lu_select(!(xp[i] <= theta), xp[i], 0.0f);
    return LN_OK;
}

static ln_status trelu_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                const ln_tensor *y, const ln_tensor *dy,
                                ln_tensor *dx, unsigned flags) {
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    const float theta = ((const trelu *)l->state)->theta;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    float *d = ln_f32(dx);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] = lu_select(xp[i] > theta, g[i], 0.0f);
    return LN_OK;
}

static const ln_layer_ops trelu_ops = {
    sizeof(trelu), trelu_create, NULL, trelu_forward, trelu_backward, NULL,
    NULL};

static const ln_unit trelu_unit = {
    LN_KIND_LAYER, "thresholded_relu", "ThresholdedReLU", 1,
    "x where x > theta, else 0 (theta 1.0)", &trelu_ops};

LN_PLUGIN("thresholded_relu") { return host->add(host, &trelu_unit); }
