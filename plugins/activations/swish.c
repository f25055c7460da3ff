/*
** swish.c -- x * sigmoid(x) (Keras swish, TF >= 2.2), sigmoid being
** lunet/vmath.h's vectorised, overflow-free ln_vsigmoidf.
** Backward needs x: s + x * s * (1 - s) with s = sigmoid(x).
*/
#include "lunet/plugin_util.h"
#include "lunet/vmath.h"

LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v * ln_vsigmoidf(v);
    }
}

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, s, x, NULL, NULL, y, rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *x = j->x, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i], sg = ln_vsigmoidf(v);
        dx[i] = (sg + v * sg * (1.0f - sg)) * dy[i];
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    lu_act_run(bwd_chunk, s, x, y, dy, dx, rows * cols);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
    .backward_uses_x = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "swish",
    .version = 1,
    .summary = "swish x*sigmoid(x)",
    .ops = &ops,
};

LN_PLUGIN("swish") { return host->add(host, &unit); }
