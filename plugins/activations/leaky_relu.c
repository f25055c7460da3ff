/*
** leaky_relu.c -- f(x) = x for x > 0, alpha * x otherwise.
**
** keras.activations (TF 2.3) has no leaky_relu function; the unit follows
** the LeakyReLU layer, whose alpha defaults to 0.3 (tf.nn.leaky_relu's 0.2
** is not used). alpha must be >= 0 so that the slope can be read from y
** (y > 0 -> 1, else alpha; TF's LeakyReluGrad also gives alpha at x = 0).
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct leaky_state {
    float alpha;
} leaky_state;

/* Read alpha (default 0.3, must be >= 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return lu_read_nonneg(ctx, args, "alpha", 0.3,
                          &((leaky_state *)state)->alpha);
}

LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float a = ((const leaky_state *)j->state)->alpha;
    const float *x = j->x;
    float *y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : a * v;
    }
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, state, x, NULL, NULL, y, rows * cols);
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float a = ((const leaky_state *)j->state)->alpha;
    const float *y = j->y, *dy = j->dy;
    float *dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) dx[i] = (y[i] > 0.0f ? 1.0f : a) * dy[i];
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    lu_act_run(bwd_chunk, state, x, y, dy, dx, rows * cols);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .state_size = sizeof(leaky_state),
    .create = create,
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "leaky_relu",
    .version = 1,
    .summary = "leaky ReLU, alpha 0.3 (the LeakyReLU layer's)",
    .ops = &ops,
};

LN_PLUGIN("leaky_relu") { return host->add(host, &unit); }
