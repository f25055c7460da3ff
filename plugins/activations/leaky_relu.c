/*
** leaky_relu.c -- f(x) = x for x > 0, alpha * x otherwise.
**
** keras.activations (TF 2.3) has no leaky_relu function; the unit follows
** the LeakyReLU layer, whose alpha defaults to 0.3 (tf.nn.leaky_relu's 0.2
** is not used). alpha must be >= 0 so that the slope can be read from y
** (y > 0 -> 1, else alpha; TF's LeakyReluGrad also gives alpha at x = 0).
*/
#include <math.h>

#include "act_util.h"

#define PAR_MIN 32768

typedef struct leaky_state {
    float alpha;
} leaky_state;

/* Read alpha (default 0.3, must be >= 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return au_read_nonneg(ctx, args, "alpha", 0.3,
                          &((leaky_state *)state)->alpha);
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    const float a = ((const leaky_state *)state)->alpha;
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : a * v;
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    const float a = ((const leaky_state *)state)->alpha;
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = (y[i] > 0.0f ? 1.0f : a) * dy[i];
}

static const ln_activation_ops ops = {sizeof(leaky_state), create, fwd, bwd,
                                      1, 0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "leaky_relu", NULL, 1,
                             "leaky ReLU, alpha 0.3 (the LeakyReLU layer's)",
                             &ops};

LN_PLUGIN("leaky_relu") { return host->add(host, &unit); }
