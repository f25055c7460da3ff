/*
** repeat_vector.c -- RepeatVector (Keras): (batch, features) ->
** (batch, n, features), the input repeated n times. The input gradient is
** the sum of the n output gradients, added in order (the same bits for
** any thread count: each output element has one owner).
*/
#include "lunet/plugin_util.h"

typedef struct repeat {
    int64_t n, features;
} repeat;

static ln_status repeat_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    repeat *r = ln_layer_state(l);
    ln_status st = ln_args_positional(ctx, a, 1, "n");
    if (st) return st;
    if (!ln_args_has(a, "n"))
        return ln_fail(ctx, LN_E_ARG, "missing 'n' (how many times to repeat)");
    if ((st = ln_args_int(ctx, a, "n", 1, &r->n))) return st;
    if (r->n < 1 || r->n > (int64_t)1 << 30)
        return ln_fail(ctx, LN_E_ARG, "'n' must be in [1, 2^30], got %lld", (long long)r->n);
    return LN_OK;
}

static ln_status repeat_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                              int *nout, ln_shape *out) {
    repeat *r = ln_layer_state(l);
    char a[128];
    if (in[0].nd != 1)
        return ln_fail(ctx, LN_E_SHAPE, "expects inputs of shape (None, features), got %s",
                       lu_shape_str(&in[0], a, sizeof a));
    r->features = in[0].dim[0];
    out[0].nd = 2;
    out[0].dim[0] = r->n;
    out[0].dim[1] = r->features;
    return LN_OK;
}

typedef struct repeat_job {
    const repeat *r;
    const float *src;
    float *dst;
} repeat_job;

/* rows: samples */
static void fwd_rows(void *arg, int64_t lo, int64_t hi) {
    const repeat_job *j = arg;
    int64_t f = j->r->features;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t k = 0; k < j->r->n; k++)
            ln_copy(j->dst + (b * j->r->n + k) * f, j->src + b * f, f);
}

static void bwd_rows(void *arg, int64_t lo, int64_t hi) {
    const repeat_job *j = arg;
    int64_t f = j->r->features;
    for (int64_t b = lo; b < hi; b++) {
        float *dx = j->dst + b * f;
        ln_copy(dx, j->src + b * j->r->n * f, f);
        for (int64_t k = 1; k < j->r->n; k++)
            ln_axpy(dx, 1.0f, j->src + (b * j->r->n + k) * f, f);
    }
}

static ln_status repeat_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                ln_tensor *const *y, unsigned flags) {
    const repeat *r = ln_layer_state(l);
    repeat_job j = {r, ln_f32(x[0]), ln_f32(y[0])};
    ln_parallel_rows(x[0]->shape[0], r->n * r->features, fwd_rows, &j);
    return LN_OK;
}

static ln_status repeat_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                 const ln_tensor *const *y, const ln_tensor *const *dy,
                                 ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    const repeat *r = ln_layer_state(l);
    if (!dx[0]) return LN_OK;
    repeat_job j = {r, ln_f32(dy[0]), ln_f32(dx[0])};
    ln_parallel_rows(x[0]->shape[0], r->n * r->features, bwd_rows, &j);
    return LN_OK;
}

static const ln_layer_ops repeat_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(repeat),
    .create = repeat_create,
    .build = repeat_build,
    .forward = repeat_forward,
    .backward = repeat_backward,
};

static const ln_unit repeat_unit = {
    .kind = LN_KIND_LAYER,
    .name = "repeat_vector",
    .class_name = "RepeatVector",
    .version = 1,
    .summary = "repeats its input n times along a new axis",
    .ops = &repeat_ops,
};

LN_PLUGIN("repeat_vector") { return host->add(host, &repeat_unit); }
