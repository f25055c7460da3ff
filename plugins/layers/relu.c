/*
** relu.c -- ReLU (Keras layer): with t = threshold, m = max_value (nil: no
** cap) and a = negative_slope,
**     f(x) = min(x, m)    for x > t
**     f(x) = a (x - t)    for x <= t
** (Keras's backend.relu(x, alpha = a, max_value = m, threshold = t)).
** Gradient: 1 for t < x <= m, 0 above m, a for x <= t. Keras refuses a
** negative max_value, negative_slope or threshold; so does this.
*/
#include "lunet/plugin_util.h"

typedef struct relu {
    float max_value, slope, threshold;
} relu;

static ln_status relu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    relu *r = l->state;
    int has_max;
    double m, s, t;
    ln_status st;
    if ((st = lu_opt_number(ctx, a, "max_value", &has_max, &m)) ||
        (st = lu_number(ctx, a, "negative_slope", 0.0, &s)) ||
        (st = lu_number(ctx, a, "threshold", 0.0, &t)))
        return st;
    if (has_max && !(m >= 0))
        return ln_fail(ctx, LN_E_ARG, "'max_value' must be >= 0, got %g", m);
    if (s < 0)
        return ln_fail(ctx, LN_E_ARG, "'negative_slope' must be >= 0, got %g", s);
    if (t < 0)
        return ln_fail(ctx, LN_E_ARG, "'threshold' must be >= 0, got %g", t);
    r->max_value = has_max ? (float)m : INFINITY;
    r->slope = (float)s;
    r->threshold = (float)t;
    return LN_OK;
}

static ln_status relu_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                              ln_tensor *y, unsigned flags) {
    const relu *r = l->state;
    const float *xp = ln_f32(x);
    float *yp = ln_f32(y);
    const float m = r->max_value, s = r->slope, t = r->threshold;
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        yp[i] = lu_select(v > t, v < m ? v : m, s * (v - t));
    }
    return LN_OK;
}

static ln_status relu_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               const ln_tensor *y, const ln_tensor *dy,
                               ln_tensor *dx, unsigned flags) {
    const relu *r = l->state;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    float *d = ln_f32(dx);
    const float m = r->max_value, s = r->slope, t = r->threshold;
    int64_t n = x->numel;
#pragma omp parallel for if (n > LU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        d[i] = lu_select(v > t, lu_select(v <= m, g[i], 0.0f), s * g[i]);
    }
    return LN_OK;
}

static const ln_layer_ops relu_ops = {
    sizeof(relu), relu_create, NULL, relu_forward, relu_backward, NULL, NULL};

static const ln_unit relu_unit = {
    LN_KIND_LAYER, "relu", "ReLU", 1,
    "rectified linear unit with max_value, negative_slope and threshold",
    &relu_ops};

LN_PLUGIN("relu") { return host->add(host, &relu_unit); }
