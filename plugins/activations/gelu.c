/*
** gelu.c -- Keras gelu(x, approximate=False) (TF >= 2.4):
**   exact:       0.5 x (1 + erf(x / sqrt 2))
**   approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
** The approximate form is evaluated as x * sigmoid(2u) (the same function:
** 0.5 (1 + tanh u) = sigmoid(2u)) to avoid the cancellation of 1 + tanh u
** for negative x. Both forms are evaluated in double: the exponentials
** amplify the rounding of their float arguments by about x^2.
** Backward needs x: Phi(x) + x phi(x) for the exact form, the derivative of
** the tanh expression for the approximate one.
*/
#include <math.h>

#include "lunet/plugin.h"

#define SQRT_2_PI 0.79788456080286535588   /* sqrt(2/pi) */
#define INV_SQRT2 0.70710678118654752440   /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define GELU_C 0.044715

/* sigmoid(2u) without overflow. */
static inline double sig2(double u) {
    double e = exp(-2.0 * fabs(u));
    double r = 1.0 / (1.0 + e);
    return u >= 0.0 ? r : e * r;
}

typedef struct gelu_state {
    int approximate;
} gelu_state;

/* Read approximate (default false). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    gelu_state *s = state;
    return ln_args_bool(ctx, args, "approximate", 0, &s->approximate);
}

static void fwd(const void *state, const float *x, float *y, int64_t rows,
                int64_t cols) {
    int approx = ((const gelu_state *)state)->approximate;
    int64_t n = rows * cols;
    if (approx) {
        LN_PAR_FOR(n * 2)
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            double u = SQRT_2_PI * (v + GELU_C * v * v * v);
            y[i] = (float)(v * sig2(u));
        }
    } else {
        LN_PAR_FOR(n * 2)
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            /* 0.5 erfc(-v/sqrt2) keeps Phi accurate in the left tail; in
            ** double, since erfc amplifies the argument's rounding error
            ** by about v^2 */
            y[i] = (float)(v * 0.5 * erfc(-v * INV_SQRT2));
        }
    }
}

static void bwd(const void *state, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    int approx = ((const gelu_state *)state)->approximate;
    int64_t n = rows * cols;
    if (approx) {
        LN_PAR_FOR(n * 2)
        for (int64_t i = 0; i < n; i++) {
            double v = x[i], v2 = v * v;
            double s = sig2(SQRT_2_PI * (v + GELU_C * v2 * v));
            double du = SQRT_2_PI * (1.0 + 3.0 * GELU_C * v2);
            /* d/dx x sigmoid(2u) = s + x * 2 s (1 - s) u'; the second
            ** term is 0 once s saturates, even where u' overflows */
            double w = s * (1.0 - s);
            double d = w > 0.0 ? s + 2.0 * v * w * du : s;
            dx[i] = (float)d * dy[i];
        }
    } else {
        LN_PAR_FOR(n * 2)
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            double cdf = 0.5 * erfc(-v * INV_SQRT2);
            double pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
            dx[i] = (float)(cdf + v * pdf) * dy[i];
        }
    }
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .state_size = sizeof(gelu_state),
    .create = create,
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
    .backward_uses_x = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "gelu",
    .version = 1,
    .summary = "Gaussian error linear unit (approximate)",
    .ops = &ops,
};

LN_PLUGIN("gelu") { return host->add(host, &unit); }
