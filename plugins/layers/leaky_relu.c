/*
** leaky_relu.c -- LeakyReLU (Keras): f(x) = x for x > 0, alpha x
** otherwise; alpha defaults to 0.3 (PyTorch's default is 0.01).
*/
#include "layer_util.h"

typedef struct leaky {
    float alpha;
} leaky;

static ln_status leaky_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    leaky *s = l->state;
    double alpha;
    ln_status st = lu_number(ctx, a, "alpha", 0.3, &alpha);
    if (st) return st;
    s->alpha = (float)alpha;
    return LN_OK;
}

static ln_status leaky_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               ln_tensor *y, unsigned flags) {
    const float alpha = ((const leaky *)l->state)->alpha;
    const float *xp = ln_f32(x);
    float *yp = ln_f32(y);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        yp[i] = lu_select(v > 0.0f, v, alpha * v);
    }
    return LN_OK;
}

static ln_status leaky_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                const ln_tensor *y, const ln_tensor *dy,
                                ln_tensor *dx, unsigned flags) {
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    const float alpha = ((const leaky *)l->state)->alpha;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    float *d = ln_f32(dx);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] = lu_select(xp[i] > 0.0f, g[i], alpha * g[i]);
    return LN_OK;
}

static const ln_layer_ops leaky_ops = {
    sizeof(leaky), leaky_create, NULL, leaky_forward, leaky_backward, NULL,
    NULL};

static const ln_unit leaky_unit = {
    LN_KIND_LAYER, "leaky_relu", "LeakyReLU", 1,
    "leaky rectified linear unit: alpha x for x <= 0 (alpha 0.3)", &leaky_ops};

LN_PLUGIN("leaky_relu") { return host->add(host, &leaky_unit); }
