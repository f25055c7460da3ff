/*
** tp_layers_support.c -- test-only units for the layer suites:
** "tpl_tanh_x", tanh whose backward claims to need x. Dense must then take
** its unfused path (pre-activation kept, activation applied after the
** GEMM), which the tests compare with the fused path of "tanh".
*/
#include <math.h>

#include "lunet/plugin.h"

static void tanh_fwd(const void *s, const float *x, float *y, int64_t rows,
                     int64_t cols) {
    for (int64_t i = 0; i < rows * cols; i++) y[i] = tanhf(x[i]);
}

static void tanh_bwd(const void *s, const float *x, const float *y,
                     const float *dy, float *dx, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows * cols; i++) {
        float t = tanhf(x[i]);
        dx[i] = (1.0f - t * t) * dy[i];
    }
}

static const ln_activation_ops tanh_x_ops = {
    .size = sizeof(ln_activation_ops),
    .forward = tanh_fwd,
    .backward = tanh_bwd,
    .elementwise = 1,
    .backward_uses_x = 1,
};

static const ln_unit tanh_x_unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "tpl_tanh_x",
    .version = 1,
    .summary = "test: tanh whose backward reads x (forces Dense's unfused "
               "path)",
    .ops = &tanh_x_ops,
};

LN_PLUGIN("tp_layers_support") { return host->add(host, &tanh_x_unit); }
