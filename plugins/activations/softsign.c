/*
** softsign.c -- x / (1 + |x|). Backward 1 / (1 + |x|)^2 from x: recovering
** it from y as (1 - |y|)^2 would lose most digits once |y| nears 1.
*/
#include <math.h>

#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD(n)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + fabsf(v));
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    LN_PAR_FOR_SIMD(n)
    for (int64_t i = 0; i < n; i++) {
        float d = 1.0f + fabsf(x[i]);
        dx[i] = dy[i] / (d * d);
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
    .name = "softsign",
    .version = 1,
    .summary = "softsign x/(1+|x|)",
    .ops = &ops,
};

LN_PLUGIN("softsign") { return host->add(host, &unit); }
