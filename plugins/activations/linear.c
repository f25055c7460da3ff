/*
** linear.c -- the identity activation (Keras "linear", activation=None).
*/
#include <string.h>

#include "lunet/plugin.h"

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    if (y != x) memcpy(y, x, (size_t)(rows * cols) * sizeof *y);
}

static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    if (dx != dy) memcpy(dx, dy, (size_t)(rows * cols) * sizeof *dx);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = fwd,
    .backward = bwd,
    .elementwise = 1,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "linear",
    .version = 1,
    .summary = "identity: f(x) = x",
    .ops = &ops,
};

LN_PLUGIN("linear") { return host->add(host, &unit); }
