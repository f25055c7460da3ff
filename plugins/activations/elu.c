/*
** elu.c -- Keras elu(x, alpha=1.0): x for x > 0, alpha * (e^x - 1) else.
**
** Backward from y alone: 1 for y > 0, else y + alpha (= alpha * e^x), which
** needs alpha >= 0 (negative alphas would make y ambiguous; the ELU layer
** of later Keras versions refuses them too).
*/
#include <math.h>

#include "act_util.h"

#define PAR_MIN 16384

typedef struct elu_state {
    float alpha;
} elu_state;

/* Read alpha (default 1.0, must be >= 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return au_read_nonneg(ctx, args, "alpha", 1.0,
                          &((elu_state *)state)->alpha);
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    const float a = ((const elu_state *)state)->alpha;
    int64_t n = rows * cols;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : a * expm1f(v);
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    const float a = ((const elu_state *)state)->alpha;
    int64_t n = rows * cols;
#pragma omp parallel for simd if (parallel: n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        dx[i] = (v > 0.0f ? 1.0f : v + a) * dy[i];
    }
}

static const ln_activation_ops ops = {sizeof(elu_state), create, fwd, bwd, 1,
                                      0};
static const ln_unit unit = {LN_KIND_ACTIVATION, "elu", NULL, 1,
                             "exponential linear unit (alpha 1.0)", &ops};

LN_PLUGIN("elu") { return host->add(host, &unit); }
