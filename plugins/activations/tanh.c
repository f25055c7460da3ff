/*
** tanh.c -- hyperbolic tangent. Backward: 1 - y^2.
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 16384

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = (1.0f - v * v) * dy[i];
    }
}

static const ln_activation_ops ops = {0, NULL, fwd, bwd, 1, 0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "tanh", NULL, 1,
                             "hyperbolic tangent", &ops};

LN_PLUGIN("tanh") { return host->add(host, &unit); }
