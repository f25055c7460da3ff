/*
** softsign.c -- x / (1 + |x|). Backward 1 / (1 + |x|)^2 from x: recovering
** it from y as (1 - |y|)^2 would lose most digits once |y| nears 1.
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 32768

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + fabsf(v));
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = 1.0f + fabsf(x[i]);
        dx[i] = dy[i] / (d * d);
    }
}

static const ln_activation_ops ops = {0, NULL, fwd, bwd, 1, 1};
static const ln_unit unit = {LN_KIND_ACTIVATION, "softsign", NULL, 1,
                             "softsign x/(1+|x|)", &ops};

LN_PLUGIN("softsign") { return host->add(host, &unit); }
