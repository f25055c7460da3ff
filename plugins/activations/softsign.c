/*
** softsign.c -- x / (1 + |x|). Backward 1 / (1 + |x|)^2 from x: recovering
** it from y as (1 - |y|)^2 would lose most digits once |y| nears 1.
*/
#include <math.h>

#include "lunet/plugin_util.h"

LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v / (1.0f + fabsf(v));
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
        float d = 1.0f + fabsf(x[i]);
        dx[i] = dy[i] / (d * d);
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
    .name = "softsign",
    .version = 1,
    .summary = "softsign x/(1+|x|)",
    .ops = &ops,
};

LN_PLUGIN("softsign") { return host->add(host, &unit); }
