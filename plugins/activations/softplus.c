/*
** softplus.c -- log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so it
** neither overflows for large x nor loses tiny values for very negative x.
** The slope sigmoid(x) equals 1 - e^-y, so backward reads y only:
** dx = -expm1(-y) * dy (accurate at both ends). exp, log1p and expm1 are
** lunet/vmath.h's vectorised ones.
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
        y[i] = (v > 0.0f ? v : 0.0f) + ln_vlog1pf(ln_vexpf(-__builtin_fabsf(v)));
    }
}

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, s, x, NULL, NULL, y, rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *y = j->y, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) dx[i] = -ln_vexpm1f(-y[i]) * dy[i];
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
    .name = "softplus",
    .version = 1,
    .summary = "softplus log(1+e^x)",
    .ops = &ops,
};

LN_PLUGIN("softplus") { return host->add(host, &unit); }
