/*
** selu.c -- scaled ELU with Klambauer et al.'s constants (Keras selu):
** scale * (x > 0 ? x : alpha * (e^x - 1)).
** Backward from y: scale for y > 0, else y + scale * alpha.
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 16384
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    const float scale = (float)SELU_SCALE;
    const float sa = (float)(SELU_SCALE * SELU_ALPHA);
    int64_t n = rows * cols;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? scale * v : sa * expm1f(v);
    }
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    const float scale = (float)SELU_SCALE;
    const float sa = (float)(SELU_SCALE * SELU_ALPHA);
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = (v > 0.0f ? scale : v + sa) * dy[i];
    }
}

static const ln_activation_ops ops = {0, NULL, fwd, bwd, 1, 0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "selu", NULL, 1,
                             "scaled exponential linear unit", &ops};

LN_PLUGIN("selu") { return host->add(host, &unit); }
