/*
** sigmoid.c -- 1 / (1 + e^-x), evaluated without overflow for large |x|
** (e^x / (1 + e^x) on the negative side). Backward: y * (1 - y).
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 16384

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
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
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = v * (1.0f - v) * dy[i];
    }
}

static const ln_activation_ops ops = {0, NULL, fwd, bwd, 1, 0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "sigmoid", NULL, 1,
                             "logistic sigmoid 1/(1+e^-x)", &ops};

LN_PLUGIN("sigmoid") { return host->add(host, &unit); }
