/*
** leaky_relu.c -- LeakyReLU (Keras): f(x) = x for x > 0, alpha x
** otherwise; alpha defaults to 0.3 (PyTorch's default is 0.01).
*/
#include "lunet/plugin_util.h"
#include "layer_simd.h"

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

typedef struct leaky_job {
    const float *x, *g;
    float *y;
    float alpha;
} leaky_job;

/* y = x > 0 ? x : alpha x over [lo, hi). */
LU_CLONES static void leaky_fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const leaky_job *j = arg;
    const float *x = j->x;
    float *y = j->y;
    const float alpha = j->alpha;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : alpha * v;
    }
}

/* dx = x > 0 ? dy : alpha dy over [lo, hi) (y holds dx). */
LU_CLONES static void leaky_bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const leaky_job *j = arg;
    const float *x = j->x, *g = j->g;
    float *d = j->y;
    const float alpha = j->alpha;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) d[i] = x[i] > 0.0f ? g[i] : alpha * g[i];
}

static ln_status leaky_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               ln_tensor *y, unsigned flags) {
    leaky_job j = {ln_f32(x), NULL, ln_f32(y), ((const leaky *)l->state)->alpha};
    lu_range(x->numel, leaky_fwd_chunk, &j);
    return LN_OK;
}

static ln_status leaky_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                const ln_tensor *y, const ln_tensor *dy,
                                ln_tensor *dx, unsigned flags) {
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    leaky_job j = {ln_f32(x), ln_f32(dy), ln_f32(dx),
                   ((const leaky *)l->state)->alpha};
    lu_range(x->numel, leaky_bwd_chunk, &j);
    return LN_OK;
}

static const ln_layer_ops leaky_ops = {
    sizeof(leaky), leaky_create, NULL, leaky_forward, leaky_backward, NULL,
    NULL};

static const ln_unit leaky_unit = {
    LN_KIND_LAYER, "leaky_relu", "LeakyReLU", 1,
    "leaky rectified linear unit: alpha x for x <= 0 (alpha 0.3)", &leaky_ops};

LN_PLUGIN("leaky_relu") { return host->add(host, &leaky_unit); }
