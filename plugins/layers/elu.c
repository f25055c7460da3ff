/*
** elu.c -- ELU (Keras layer): f(x) = x for x > 0, alpha (e^x - 1)
** otherwise (alpha 1.0). Gradient 1 for x > 0, alpha e^x otherwise.
*/
#include "lunet/plugin_util.h"

typedef struct elu {
    float alpha;
} elu;

static ln_status elu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    elu *s = l->state;
    double alpha;
    ln_status st = lu_number(ctx, a, "alpha", 1.0, &alpha);
    if (st) return st;
    s->alpha = (float)alpha;
    return LN_OK;
}

static ln_status elu_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                             ln_tensor *y, unsigned flags) {
    const float alpha = ((const elu *)l->state)->alpha;
    const float *xp = ln_f32(x);
    float *yp = ln_f32(y);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        /* !(v <= 0): true for NaN too, which goes through */
        yp[i] = lu_select(!(v <= 0.0f), v, alpha * expm1f(lu_select(v < 0.0f, v, 0.0f)));
    }
    return LN_OK;
}

static ln_status elu_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                              const ln_tensor *y, const ln_tensor *dy,
                              ln_tensor *dx, unsigned flags) {
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    const float alpha = ((const elu *)l->state)->alpha;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    float *d = ln_f32(dx);
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        d[i] = lu_select(v > 0.0f, g[i], g[i] * alpha * expf(lu_select(v < 0.0f, v, 0.0f)));
    }
    return LN_OK;
}

static const ln_layer_ops elu_ops = {
    sizeof(elu), elu_create, NULL, elu_forward, elu_backward, NULL, NULL};

static const ln_unit elu_unit = {
    LN_KIND_LAYER, "elu", "ELU", 1,
    "exponential linear unit: alpha (e^x - 1) for x <= 0 (alpha 1.0)",
    &elu_ops};

LN_PLUGIN("elu") { return host->add(host, &elu_unit); }
