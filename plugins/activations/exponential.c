/*
** exponential.c -- e^x. Its own derivative, so backward reads y only.
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 16384

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] * dy[i];
}

static const ln_activation_ops ops = {0, NULL, fwd, bwd, 1, 0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "exponential", NULL, 1,
                             "exponential e^x", &ops};

LN_PLUGIN("exponential") { return host->add(host, &unit); }
