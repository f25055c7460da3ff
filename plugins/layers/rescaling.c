/*
** rescaling.c -- Rescaling (Keras's preprocessing layer): y = x * scale +
** offset, elementwise, in training and inference; dy/dx = scale. scale:
** first positional or by name (required), offset: second or by name
** (default 0). Rescaling{1/255} as a model's first layer lets fit take the
** uint8 images themselves: the batch gather converts them to float.
*/
#include "lunet/plugin_util.h"

typedef struct rescale {
    double scale, offset;
} rescale;

typedef struct affine_job {
    float *y;
    const float *x;
    float a, b;
} affine_job;

LN_CLONES static void affine_chunk(void *arg, int64_t lo, int64_t hi) {
    const affine_job *j = arg;
    float *restrict y = j->y;
    const float *restrict x = j->x;
    const float a = j->a, b = j->b;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) y[i] = x[i] * a + b;
}

static void affine(float *y, const float *x, float a, float b, int64_t n) {
    affine_job j = {y, x, a, b};
    ln_parallel_for(n, affine_chunk, &j);
}

static ln_status rescale_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    rescale *r = ln_layer_state(l);
    ln_status st;
    if ((st = lu_req_number(ctx, a, 1, "scale", &r->scale)) ||
        (st = ln_args_positional(ctx, a, 2, "offset")) ||
        (st = lu_number(ctx, a, "offset", 0.0, &r->offset)))
        return st;
    return LN_OK;
}

static ln_status rescale_forward(ln_ctx *ctx, ln_layer *l,
                                 const ln_tensor *const *x, ln_tensor *const *y,
                                 unsigned flags) {
    const rescale *r = ln_layer_state(l);
    affine(ln_f32(y[0]), ln_f32(x[0]), (float)r->scale, (float)r->offset, x[0]->numel);
    return LN_OK;
}

static ln_status rescale_backward(ln_ctx *ctx, ln_layer *l,
                                  const ln_tensor *const *x,
                                  const ln_tensor *const *y,
                                  const ln_tensor *const *dy,
                                  ln_tensor *const *dx, ln_grad_sink *sink,
                                  unsigned flags) {
    const rescale *r = ln_layer_state(l);
    if (dx[0]) ln_scale(ln_f32(dx[0]), ln_f32(dy[0]), (float)r->scale, x[0]->numel);
    return LN_OK;
}

static const ln_layer_ops rescale_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(rescale),
    .create = rescale_create,
    .forward = rescale_forward,
    .backward = rescale_backward,
};

static const ln_unit rescale_unit = {
    .kind = LN_KIND_LAYER,
    .name = "rescaling",
    .class_name = "Rescaling",
    .version = 1,
    .summary = "x * scale + offset (preprocessing: Rescaling{1/255})",
    .ops = &rescale_ops,
};

LN_PLUGIN("rescaling") { return host->add(host, &rescale_unit); }
