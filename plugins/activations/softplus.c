/*
** softplus.c -- log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so it
** neither overflows for large x nor loses tiny values for very negative x.
** The slope sigmoid(x) equals 1 - e^-y, so backward reads y only:
** dx = -expm1(-y) * dy (accurate at both ends).
*/
#include <math.h>

#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR(n * 2)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = (v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v)));
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR(n * 2)
    for (int64_t i = 0; i < n; i++) dx[i] = -expm1f(-y[i]) * dy[i];
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "softplus",
    .version = 1,
    .summary = "softplus log(1+e^x)",
    .ops = &ops,
};

LN_PLUGIN("softplus") { return host->add(host, &unit); }
