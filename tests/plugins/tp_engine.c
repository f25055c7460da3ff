/*
** tp_engine.c -- test units for the engine's suite (tests/c/test_engine.c):
**   layer tp_add      2..N inputs, y = x1 + x2 + ...; dx_i = dy
**   layer tp_split    1 input, 2 outputs: y1 = x, y2 = 2x
**   layer tp_scale    y = x w, w one weight per feature (last axis); hands
**                     its weight gradient to the sink in two halves and
**                     counts the handovers the sink took (state: an int)
**   optimizer tp_normsgd  var -= lr g / |g|: needs the whole variable
**                         (LN_OPT_WHOLE_VARIABLE)
**   optimizer tp_where    var[i] = 1 where a thread other than the update's
**                         caller wrote it, else 0 (through ln_parallel_for,
**                         whose first chunk waits up to 2 s for another
**                         thread to take one)
*/
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "lunet/plugin_util.h"

/* ---- tp_add ------------------------------------------------------------- */

static ln_status add_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                             ln_tensor *const *y, unsigned flags) {
    int n = ln_layer_input_count(l);
    float *out = ln_f32(y[0]);
    for (int64_t k = 0; k < y[0]->numel; k++) {
        float s = 0;
        for (int i = 0; i < n; i++) s += ln_f32(x[i])[k];
        out[k] = s;
    }
    return LN_OK;
}

static ln_status add_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *const *y,
                              const ln_tensor *const *dy, ln_tensor *const *dx,
                              ln_grad_sink *sink, unsigned flags) {
    for (int i = 0; i < ln_layer_input_count(l); i++)
        if (dx[i]) ln_copy(ln_f32(dx[i]), ln_f32(dy[0]), dy[0]->numel);
    return LN_OK;
}

static ln_status add_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                           int *nout, ln_shape *out) {
    for (int i = 1; i < nin; i++) {
        int same = in[i].nd == in[0].nd;
        for (int d = 0; same && d < in[0].nd; d++) same = in[i].dim[d] == in[0].dim[d];
        if (!same) return ln_fail(ctx, LN_E_SHAPE, "input %d differs from input 1", i + 1);
    }
    return LN_OK;
}

static const ln_layer_ops add_ops = {
    .size = sizeof(ln_layer_ops),
    .min_inputs = 2,
    .max_inputs = -1,
    .build = add_build,
    .forward = add_forward,
    .backward = add_backward,
};

/* ---- tp_split ------------------------------------------------------------ */

static ln_status split_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                             int *nout, ln_shape *out) {
    *nout = 2;
    out[1] = in[0];
    return LN_OK;
}

static ln_status split_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                               ln_tensor *const *y, unsigned flags) {
    ln_copy(ln_f32(y[0]), ln_f32(x[0]), x[0]->numel);
    ln_scale(ln_f32(y[1]), ln_f32(x[0]), 2.0f, x[0]->numel);
    return LN_OK;
}

static ln_status split_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy, ln_tensor *const *dx,
                                ln_grad_sink *sink, unsigned flags) {
    if (!dx[0]) return LN_OK;
    ln_copy(ln_f32(dx[0]), ln_f32(dy[0]), x[0]->numel);
    ln_axpy(ln_f32(dx[0]), 2.0f, ln_f32(dy[1]), x[0]->numel);
    return LN_OK;
}

static const ln_layer_ops split_ops = {
    .size = sizeof(ln_layer_ops),
    .build = split_build,
    .forward = split_forward,
    .backward = split_backward,
};

/* ---- tp_scale -------------------------------------------------------------- */

typedef struct scale {
    int taken; /* handovers the sink took: first, the suite reads it */
    int w;
} scale;

static ln_status scale_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                             int *nout, ln_shape *out) {
    scale *s = ln_layer_state(l);
    int64_t f = in[0].nd ? in[0].dim[in[0].nd - 1] : 1;
    return ln_layer_add_weight(ctx, l, "w", 1, &f, 1, "ones", NULL, &s->w);
}

static ln_status scale_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                               ln_tensor *const *y, unsigned flags) {
    const scale *s = ln_layer_state(l);
    const ln_tensor *w = ln_layer_weight(l, s->w);
    int64_t f = w->numel;
    for (int64_t k = 0; k < x[0]->numel; k++)
        ln_f32(y[0])[k] = ln_f32(x[0])[k] * ln_f32(w)[k % f];
    return LN_OK;
}

static ln_status scale_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy, ln_tensor *const *dx,
                                ln_grad_sink *sink, unsigned flags) {
    scale *s = ln_layer_state(l);
    const ln_tensor *w = ln_layer_weight(l, s->w);
    int64_t f = w->numel, rows = x[0]->numel / f;
    if (dx[0])
        for (int64_t k = 0; k < x[0]->numel; k++)
            ln_f32(dx[0])[k] = ln_f32(dy[0])[k] * ln_f32(w)[k % f];
    if (!(flags & LN_NEED_DW) || !ln_layer_trains(l, s->w)) return LN_OK;
    float *g = ln_f32(ln_layer_grad(l, s->w));
    for (int64_t j = 0; j < f; j++) {
        double a = 0;
        for (int64_t r = 0; r < rows; r++)
            a += (double)ln_f32(dy[0])[r * f + j] * ln_f32(x[0])[r * f + j];
        g[j] = (float)a;
    }
    s->taken += ln_grad_ready(sink, s->w, 0, f / 2);
    s->taken += ln_grad_ready(sink, s->w, f / 2, f);
    return LN_OK;
}

static const ln_layer_ops scale_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(scale),
    .build = scale_build,
    .forward = scale_forward,
    .backward = scale_backward,
};

/* ---- tp_normsgd --------------------------------------------------------------- */

static void normsgd_update(const void *state, float *var, const float *grad,
                           float *const *slots, int64_t n, int64_t t, double lr,
                           const double *globals) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)grad[i] * grad[i];
    double k = lr / (ss > 0 ? sqrt(ss) : 1.0);
    for (int64_t i = 0; i < n; i++) var[i] -= (float)(k * grad[i]);
}

static const ln_optimizer_ops normsgd_ops = {
    .size = sizeof(ln_optimizer_ops),
    .default_learning_rate = 0.1,
    .flags = LN_OPT_WHOLE_VARIABLE,
    .update = normsgd_update,
};

/* ---- tp_where -------------------------------------------------------------------- */

typedef struct where_job {
    pthread_t caller;
    float *var;
    _Atomic int other; /* a chunk ran on another thread */
} where_job;

static void where_range(void *arg, int64_t lo, int64_t hi) {
    where_job *j = arg;
    const int mine = pthread_equal(pthread_self(), j->caller);
    if (!mine) atomic_store(&j->other, 1);
    for (int64_t i = lo; i < hi; i++) j->var[i] = mine ? 0.0f : 1.0f;
    if (lo == 0 && mine) {
        const double t0 = ln_time();
        while (!atomic_load(&j->other) && ln_time() - t0 < 2) sched_yield();
    }
}

static void where_update(const void *state, float *var, const float *grad,
                         float *const *slots, int64_t n, int64_t t, double lr,
                         const double *globals) {
    (void)state, (void)grad, (void)slots, (void)t, (void)lr, (void)globals;
    where_job j = {pthread_self(), var, 0};
    ln_parallel_for(n, where_range, &j);
}

static const ln_optimizer_ops where_ops = {
    .size = sizeof(ln_optimizer_ops),
    .default_learning_rate = 0.1,
    .update = where_update,
};

static const ln_unit units[] = {
    {.kind = LN_KIND_LAYER, .name = "tp_add", .class_name = "TpAdd", .version = 1,
     .summary = "test: sum of 2..N inputs", .ops = &add_ops},
    {.kind = LN_KIND_LAYER, .name = "tp_split", .class_name = "TpSplit", .version = 1,
     .summary = "test: x and 2x", .ops = &split_ops},
    {.kind = LN_KIND_LAYER, .name = "tp_scale", .class_name = "TpScale", .version = 1,
     .summary = "test: x w, gradient through the sink", .ops = &scale_ops},
    {.kind = LN_KIND_OPTIMIZER, .name = "tp_normsgd", .class_name = "TpNormSGD",
     .version = 1, .summary = "test: normalised-gradient SGD", .ops = &normsgd_ops},
    {.kind = LN_KIND_OPTIMIZER, .name = "tp_where", .class_name = "TpWhere",
     .version = 1, .summary = "test: which thread updated each element", .ops = &where_ops},
};

LN_PLUGIN("tp_engine") {
    for (int i = 0; i < (int)(sizeof units / sizeof *units); i++) {
        ln_status st = host->add(host, &units[i]);
        if (st) return st;
    }
    return LN_OK;
}
