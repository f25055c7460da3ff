/*
** hard_sigmoid.c -- Keras hard_sigmoid: clip(0.2 x + 0.5, 0, 1).
**
** Backward from y alone: slope 0.2 where 0 < y < 1, else 0. This differs
** from TF (whose clip gradient passes at the two boundary points
** x = +-2.5) only on that set of measure zero, and lets the activation
** fuse into a GEMM epilogue. 0.2 x + 0.5 is formed in double and rounded
** once: in float it loses digits to cancellation near x = -2.5.
*/
#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD(n)
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(0.2 * (double)x[i] + 0.5);
        v = v < 0.0f ? 0.0f : v; /* compares false for NaN: it goes through */
        y[i] = v > 1.0f ? 1.0f : v;
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD(n)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = (v > 0.0f && v < 1.0f ? 0.2f : 0.0f) * dy[i];
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
    .name = "hard_sigmoid",
    .version = 1,
    .summary = "piecewise linear sigmoid clip(0.2x+0.5, 0, 1)",
    .ops = &ops,
};

LN_PLUGIN("hard_sigmoid") { return host->add(host, &unit); }
