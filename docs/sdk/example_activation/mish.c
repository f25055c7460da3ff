/*
** mish.c -- Mish (Misra 2019): x * tanh(softplus(x)), an out-of-tree lunet
** activation: the example of docs/plugins.md, section 7.
**
**   forward   y = x t,  t = tanh(softplus(x))
**   backward  dx = dy (t + x (1 - t^2) sigmoid(x))    (needs x)
**
** softplus(x) = max(x, 0) + log1p(exp(-|x|)) never overflows. From Lua:
** ln.layers.Activation{"mish"}, ln.layers.Dense{64, activation = "mish"}
** (Dense fuses it: it is elementwise), ln.activations.get("mish").
*/
#include <math.h>

#include "lunet/plugin_util.h"

static inline float softplus(float v) { return fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))); }

/* Chunks of [lo, hi) compiled per CPU level; lu_act_run spreads them. */
LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *restrict x = j->x;
    float *restrict y = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) y[i] = x[i] * tanhf(softplus(x[i]));
}

LN_CLONES static void bwd_chunk(void *arg, int64_t lo, int64_t hi) {
    const lu_act_job *j = arg;
    const float *restrict x = j->x, *restrict dy = j->dy;
    float *restrict dx = j->out;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float v = x[i], t = tanhf(softplus(v)), s = 1.0f / (1.0f + expf(-v));
        dx[i] = dy[i] * (t + v * (1.0f - t * t) * s);
    }
}

/* A [rows x cols] block; y may be x, dx may be dy (elementwise). */
static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    lu_act_run(fwd_chunk, state, x, NULL, NULL, y, rows * cols);
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    lu_act_run(bwd_chunk, state, x, y, dy, dx, rows * cols);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,     /* any segment may be mapped: Dense fuses it */
    .backward_uses_x = 1, /* backward reads x (not y alone) */
};

static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "mish",
    .version = 1,
    .summary = "Mish x*tanh(softplus(x)) (example plugin)",
    .ops = &ops,
};

LN_PLUGIN("mish") { return host->add(host, &unit); }
