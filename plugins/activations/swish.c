/*
** swish.c -- x * sigmoid(x) (Keras swish, TF >= 2.2).
** Backward needs x: s + x * s * (1 - s) with s = sigmoid(x).
*/
#include <math.h>

#include "lunet/plugin.h"

/* Overflow-free logistic function. */
static inline float sigm(float v) {
    float e = expf(-fabsf(v));
    float r = 1.0f / (1.0f + e);
    return v >= 0.0f ? r : e * r;
}

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR(n * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * sigm(v);
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR(n * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], sg = sigm(v);
        dx[i] = (sg + v * sg * (1.0f - sg)) * dy[i];
    }
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
