/*
** tanh.c -- hyperbolic tangent. Backward: 1 - y^2.
*/
#include <math.h>

#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR(n * 2)
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD((n) * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = (1.0f - v * v) * dy[i];
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
    .name = "tanh",
    .version = 1,
    .summary = "hyperbolic tangent",
    .ops = &ops,
};

LN_PLUGIN("tanh") { return host->add(host, &unit); }
