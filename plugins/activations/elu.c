/*
** elu.c -- Keras elu(x, alpha=1.0): x for x > 0, alpha * (e^x - 1) else.
**
** Backward from y alone: 1 for y > 0, else y + alpha (= alpha * e^x), which
** needs alpha >= 0 (negative alphas would make y ambiguous; the ELU layer
** of later Keras versions refuses them too).
*/
#include "lunet/plugin_util.h"
#include "lunet/vmath.h" /* ln_vexpm1f: vectorised */

typedef struct elu_state {
    float alpha;
} elu_state;

/* Read alpha (default 1.0, must be >= 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return lu_read_nonneg(ctx, args, "alpha", 1.0,
                          &((elu_state *)state)->alpha);
}

LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float a = ((const elu_state *)j->state)->alpha;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : a * ln_vexpm1f(v);
    }
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, state, x, NULL, NULL, y, rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float a = ((const elu_state *)j->state)->alpha;
    const float *y = j->y, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = y[i];
        dx[i] = (v > 0.0f ? 1.0f : v + a) * dy[i];
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    lu_act_run(bwd_chunk, state, x, y, dy, dx, rows * cols);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .state_size = sizeof(elu_state),
    .create = create,
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "elu",
    .version = 1,
    .summary = "exponential linear unit (alpha 1.0)",
    .ops = &ops,
};

LN_PLUGIN("elu") { return host->add(host, &unit); }
