/*
** rrelu.c -- RReLU (randomized leaky ReLU; not in Keras: defined as in
** PyTorch / Xu et al. 2015): f(x) = x for x >= 0, a x otherwise.
** Training: a ~ U[lower, upper) drawn per element per forward pass from the
** layer's generator (one fill of numel values) and kept for backward.
** Inference: a = (lower + upper) / 2 (11/48 with the defaults 1/8, 1/3).
*/
#include "lunet/plugin_util.h"

typedef struct rrelu {
    float lower, upper;
    ln_rng own;       /* used when `seed` is given */
    ln_tensor *slope; /* this training forward's slopes */
} rrelu;

static ln_status rrelu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    rrelu *r = ln_layer_state(l);
    double lo, hi;
    ln_status st;
    if ((st = lu_number(ctx, a, "lower", 1.0 / 8, &lo)) ||
        (st = lu_number(ctx, a, "upper", 1.0 / 3, &hi)) ||
        (st = lu_seed(ctx, l, a, &r->own)))
        return st;
    if (lo < 0)
        return ln_fail(ctx, LN_E_ARG, "'lower' must be >= 0, got %g", lo);
    if (hi < lo)
        return ln_fail(ctx, LN_E_ARG,
                       "'upper' (%g) must be >= 'lower' (%g)", hi, lo);
    r->lower = (float)lo;
    r->upper = (float)hi;
    return LN_OK;
}

static ln_status rrelu_forward(ln_ctx *ctx, ln_layer *l,
                               const ln_tensor *const *x, ln_tensor *const *y,
                               unsigned flags) {
    rrelu *r = ln_layer_state(l);
    const float *xp = ln_f32(x[0]);
    float *yp = ln_f32(y[0]);
    int64_t n = x[0]->numel;
    if (!(flags & LN_TRAINING)) {
        const float a = (float)(((double)r->lower + r->upper) / 2);
        LN_PAR_FOR(n)
        for (int64_t i = 0; i < n; i++)
            yp[i] = lu_select(xp[i] >= 0.0f, xp[i], a * xp[i]);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &r->slope, x[0]);
    if (st) return st;
    float *s = ln_f32(r->slope);
    ln_rng_uniform(ln_layer_rng(l), s, n, r->lower, r->upper);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) yp[i] = lu_select(xp[i] >= 0.0f, xp[i], s[i] * xp[i]);
    return LN_OK;
}

static ln_status rrelu_backward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink,
                                unsigned flags) {
    const rrelu *r = ln_layer_state(l);
    if (!dx[0]) return LN_OK;
    const float *xp = ln_f32(x[0]), *g = ln_f32(dy[0]);
    float *d = ln_f32(dx[0]);
    int64_t n = x[0]->numel;
    if (!(flags & LN_TRAINING)) {
        const float a = (float)(((double)r->lower + r->upper) / 2);
        LN_PAR_FOR(n)
        for (int64_t i = 0; i < n; i++) d[i] = lu_select(xp[i] >= 0.0f, g[i], a * g[i]);
        return LN_OK;
    }
    if (!r->slope || r->slope->numel != n)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    const float *s = ln_f32(r->slope);
    LN_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) d[i] = lu_select(xp[i] >= 0.0f, g[i], s[i] * g[i]);
    return LN_OK;
}

static void rrelu_destroy(ln_layer *l) {
    rrelu *r = ln_layer_state(l);
    ln_tensor_release(r->slope);
}

static const ln_layer_ops rrelu_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(rrelu),
    .create = rrelu_create,
    .forward = rrelu_forward,
    .backward = rrelu_backward,
    .destroy = rrelu_destroy,
};

static const ln_unit rrelu_unit = {
    .kind = LN_KIND_LAYER,
    .name = "rrelu",
    .class_name = "RReLU",
    .version = 1,
    .summary = "randomized leaky ReLU: slope ~ U[1/8, 1/3) in training, the "
               "mean after",
    .ops = &rrelu_ops,
};

LN_PLUGIN("rrelu") { return host->add(host, &rrelu_unit); }
