/*
** gelu.c -- Keras gelu(x, approximate=False) (TF >= 2.4):
**   exact:       0.5 x (1 + erf(x / sqrt 2))
**   approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
** The approximate form is evaluated as x * sigmoid(2u) (the same function:
** 0.5 (1 + tanh u) = sigmoid(2u)) to avoid the cancellation of 1 + tanh u
** for negative x.
** Backward needs x: Phi(x) + x phi(x) for the exact form, the derivative of
** the tanh expression for the approximate one.
*/
#include <math.h>

#include "lunet/plugin.h"

#define PAR_MIN 16384
#define SQRT_2_PI 0.79788456080286535588f  /* sqrt(2/pi) */
#define INV_SQRT2 0.70710678118654752440f  /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.3989422804014327f   /* 1/sqrt(2 pi) */
#define GELU_C 0.044715f

/* sigmoid(2u) without overflow. */
static inline float sig2(float u) {
    float e = expf(-2.0f * fabsf(u));
    float r = 1.0f / (1.0f + e);
    return u >= 0.0f ? r : e * r;
}

typedef struct gelu_state {
    int approximate;
} gelu_state;

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    gelu_state *s = state;
    return ln_args_bool(ctx, args, "approximate", 0, &s->approximate);
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int approx = ((const gelu_state *)state)->approximate;
    int64_t n = rows * cols;
    if (approx) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float u = SQRT_2_PI * (v + GELU_C * v * v * v);
            y[i] = v * sig2(u);
        }
    } else {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            /* 0.5 erfc(-v/sqrt2) keeps Phi accurate in the far left tail */
            y[i] = v * 0.5f * erfcf(-v * INV_SQRT2);
        }
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int approx = ((const gelu_state *)state)->approximate;
    int64_t n = rows * cols;
    if (approx) {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], v2 = v * v;
            float s = sig2(SQRT_2_PI * (v + GELU_C * v2 * v));
            float du = SQRT_2_PI * (1.0f + 3.0f * GELU_C * v2);
            /* d/dx x sigmoid(2u) = s + x * 2 s (1 - s) u'; the second
            ** term is 0 once s saturates, even where u' overflows */
            float w = s * (1.0f - s);
            float d = w > 0.0f ? s + 2.0f * v * w * du : s;
            dx[i] = d * dy[i];
        }
    } else {
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * erfcf(-v * INV_SQRT2);
            float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] = (cdf + v * pdf) * dy[i];
        }
    }
}

static const ln_activation_ops ops = {sizeof(gelu_state), create, fwd, bwd, 1,
                                      1};
static const ln_unit unit = {LN_KIND_ACTIVATION, "gelu", NULL, 1,
                             "Gaussian error linear unit (approximate)", &ops};

LN_PLUGIN("gelu") { return host->add(host, &unit); }
