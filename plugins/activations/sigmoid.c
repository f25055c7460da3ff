/*
** sigmoid.c -- 1 / (1 + e^-x), evaluated without overflow for large |x|
** (e^x / (1 + e^x) on the negative side). Backward: y * (1 - y).
*/
#include <math.h>

#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR((n) * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float e = expf(-fabsf(v)); /* in (0, 1] */
        float r = 1.0f / (1.0f + e);
        y[i] = v >= 0.0f ? r : e * r;
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD((n) * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = v * (1.0f - v) * dy[i];
    }
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "sigmoid",
    .version = 1,
    .summary = "logistic sigmoid 1/(1+e^-x)",
    .ops = &ops,
};

LN_PLUGIN("sigmoid") { return host->add(host, &unit); }
