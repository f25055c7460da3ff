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
    gnoise *g = ln_layer_state(l);
    ln_status st;
    if ((st = lu_req_number(ctx, a, 1, "stddev", &g->stddev)) ||
        (st = lu_seed(ctx, l, a, &g->own)))
        return st;
    if (g->stddev < 0)
        return ln_fail(ctx, LN_E_ARG, "'stddev' must be >= 0, got %g",
                       g->stddev);
    return LN_OK;
}

/* outside training the output is the input */
static int gnoise_is_view(const ln_layer *l, unsigned flags) { return !(flags & LN_TRAINING); }

static ln_status gnoise_forward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x, ln_tensor *const *y,
                                unsigned flags) {
    const gnoise *g = ln_layer_state(l);
    int64_t n = x[0]->numel;
    float *yp = ln_f32(y[0]);
    if (!(flags & LN_TRAINING)) {
        ln_copy(yp, ln_f32(x[0]), n);
        return LN_OK;
    }
    ln_rng_normal(ln_layer_rng(l), yp, n, 0.0f, (float)g->stddev);
    ln_axpy(yp, 1.0f, ln_f32(x[0]), n);
    return LN_OK;
}

static ln_status gnoise_backward(ln_ctx *ctx, ln_layer *l,
                                 const ln_tensor *const *x,
                                 const ln_tensor *const *y,
                                 const ln_tensor *const *dy,
                                 ln_tensor *const *dx, ln_grad_sink *sink,
                                 unsigned flags) {
    if (dx[0]) ln_copy(ln_f32(dx[0]), ln_f32(dy[0]), x[0]->numel);
    return LN_OK;
}

static const ln_layer_ops gnoise_ops = {
    .size = sizeof(ln_layer_ops),
    LN_MASK_PASSTHROUGH, /* Keras: supports_masking */
    .state_size = sizeof(gnoise),
    .create = gnoise_create,
    .forward = gnoise_forward,
    .backward = gnoise_backward,
    .is_view = gnoise_is_view,
};

static const ln_unit gnoise_unit = {
    .kind = LN_KIND_LAYER,
    .name = "gaussian_noise",
    .class_name = "GaussianNoise",
    .version = 1,
    .summary = "adds N(0, stddev^2) noise in training",
    .ops = &gnoise_ops,
};

LN_PLUGIN("gaussian_noise") { return host->add(host, &gnoise_unit); }
