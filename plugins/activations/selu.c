/*
** selu.c -- scaled ELU with Klambauer et al.'s constants (Keras selu):
** scale * (x > 0 ? x : alpha * (e^x - 1)).
** Backward from y: scale for y > 0, else y + scale * alpha.
*/
#include "lunet/plugin_util.h"
#include "lunet/vmath.h" /* ln_vexpm1f: vectorised */

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float scale = (float)SELU_SCALE;
    const float sa = (float)(SELU_SCALE * SELU_ALPHA);
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? scale * v : sa * ln_vexpm1f(v);
    }
}

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, s, x, NULL, NULL, y, rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float scale = (float)SELU_SCALE;
    const float sa = (float)(SELU_SCALE * SELU_ALPHA);
    const float *y = j->y, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = y[i];
        dx[i] = (v > 0.0f ? scale : v + sa) * dy[i];
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
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "selu",
    .version = 1,
    .summary = "scaled exponential linear unit",
    .ops = &ops,
};

LN_PLUGIN("selu") { return host->add(host, &unit); }
