/*
** softmax.c -- row-wise softmax of a [rows x cols] block (Keras's axis -1):
** y = exp(x - max) / sum exp(x - max), the sum in double in column order
** (the kernel ln_softmax_rows: the Softmax layer and fused losses see the
** same numbers).
** Backward from y alone: dx = y * (dy - sum_c dy_c * y_c) per row (the
** sum in double, rounded to float).
** Not elementwise: a GEMM epilogue must not apply it to row segments.
*/
#include <math.h>

#include "lunet/plugin.h"

/* Only Keras's default axis is meaningful on a [rows x cols] block; an
** explicit axis = -1 is accepted so that configs naming it load. */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    if (!ln_args_has(args, "axis")) return LN_OK;
    int64_t axis;
    ln_status st = ln_args_int(ctx, args, "axis", -1, &axis);
    if (st) return st;
    if (axis != -1)
        return ln_fail(ctx, LN_E_ARG,
                       "only axis = -1 (the last axis) is supported, "
                       "got axis = %lld", (long long)axis);
    return LN_OK;
}

static void fwd(const void *s, const float *x, float *y, int64_t rows,
                int64_t cols) {
    ln_softmax_rows(y, x, rows, cols);
}

/* The kernel's backward (ln_softmax_backward): the dot in double lanes and
** the rows in vectors; a serial double chain here ran a Softmax layer's
** 32 x 1000 step at 1.3x PyTorch's time. */
static void bwd(const void *s, const float *x, const float *y,
                const float *dy, float *dx, int64_t rows, int64_t cols) {
    ln_softmax_backward(dx, y, dy, rows, cols, 1, 0);
}

static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .create = create,
    .forward = fwd,
    .backward = bwd,
};
static const ln_unit unit = {
    .kind = LN_KIND_ACTIVATION,
    .name = "softmax",
    .version = 1,
    .summary = "softmax along the last axis",
    .ops = &ops,
};

LN_PLUGIN("softmax") { return host->add(host, &unit); }
