/*
** relu.c -- Keras relu(x, alpha=0, max_value=None, threshold=0).
**
**   f(x) = (x > threshold ? x : 0), clipped to [0, max_value] when given,
**          minus alpha * max(threshold - x, 0); f(NaN) = NaN.
**
** Arguments are limited to Keras's ReLU-layer domain (alpha, threshold and
** max_value all >= 0): there the output alone tells the slope, so backward
** reads y only and the activation fuses into Dense's output. Slopes from
** y: y < 0 -> alpha; 0 < y < max_value -> 1; else 0 (TF's
** ReluGrad/Relu6Grad convention at the kinks), except in the pure leaky case
** (threshold 0, no max_value) where TF's LeakyReluGrad gives alpha at 0.
**
** The loops select without branches (a branch on the sign of fresh data is
** mispredicted half the time) and are compiled per CPU (LN_CLONES): this is
** the ReLU of Dense(activation = "relu"), of the ReLU and ThresholdedReLU
** layers and of Activation("relu") alike.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct relu_state {
    float alpha, threshold, max_value; /* max_value = +inf when not given */
    int leaky;                         /* threshold 0, no max, alpha != 0 */
} relu_state;

/* Read alpha, max_value (number or nil) and threshold. */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    relu_state *s = state;
    double alpha, thr, maxv = INFINITY;
    int n = 0;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "alpha", 0.0, &alpha))) return st;
    if (ln_args_has(args, "max_value")) {
        if ((st = ln_args_number(ctx, args, "max_value", 0.0, &maxv)))
            return st;
        n = 1;
    } else {
        const char *none;
        if ((st = ln_args_string(ctx, args, "max_value", NULL, &none)))
            return st;
    }
    if ((st = ln_args_number(ctx, args, "threshold", 0.0, &thr))) return st;
    if ((st = lu_check_nonneg(ctx, "alpha", alpha)) ||
        (st = lu_check_nonneg(ctx, "threshold", thr)))
        return st;
    if (n && (maxv < 0 || maxv != maxv))
        return ln_fail(ctx, LN_E_ARG,
                       "'max_value' must be >= 0 or nil, got %g", maxv);
    s->alpha = (float)alpha;
    s->threshold = (float)thr;
    s->max_value = (float)maxv;
    s->leaky = thr == 0 && !n && alpha != 0;
    return LN_OK;
}

/* The plain case (alpha 0): y = min(x > t ? x : 0, m); NaN stays NaN. */
LN_CLONES static void fwd_plain(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const relu_state *s = j->state;
    const float t = s->threshold, m = s->max_value;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        float p = v > t ? v : 0.0f;
        p = p > m ? m : p;
        y[i] = v != v ? v : p;
    }
}

/* With alpha: y = min(x > t ? x : 0, m) - alpha max(t - x, 0). */
LN_CLONES static void fwd_leaky(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const relu_state *s = j->state;
    const float a = s->alpha, t = s->threshold, m = s->max_value;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        float p = v > t ? v : 0.0f;
        p = p > m ? m : p;
        float neg = t - v > 0.0f ? t - v : 0.0f;
        float r = p - a * neg;
        y[i] = v != v ? v : r;
    }
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    const relu_state *s = state;
    lu_act_run(s->alpha == 0.0f ? fwd_plain : fwd_leaky, state, x, NULL, NULL, y,
               rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const relu_state *s = j->state;
    const float a = s->alpha, m = s->max_value;
    const float at_zero = s->leaky ? a : 0.0f;
    const float *y = j->y, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = y[i];
        float d = v < 0.0f ? a : v > 0.0f ? (v < m ? 1.0f : 0.0f) : at_zero;
        dx[i] = d * dy[i];
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    lu_act_run(bwd_chunk, state, x, y, dy, dx, rows * cols);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .state_size = sizeof(relu_state),
    .create = create,
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};

static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "relu",
    .version = 1,
    .summary = "rectified linear unit (alpha, max_value, threshold)",
    .ops = &ops,
};

LN_PLUGIN("relu") { return host->add(host, &unit); }
