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

static const ln_activation_ops tanh_x_ops = {0, NULL, tanh_fwd, tanh_bwd, 1, 1};

static const ln_unit tanh_x_unit = {
    LN_KIND_ACTIVATION, "tpl_tanh_x", NULL, 1,
    "test: tanh whose backward reads x (forces Dense's unfused path)",
    &tanh_x_ops};

LN_PLUGIN("tp_layers_support") { return host->add(host, &tanh_x_unit); }
