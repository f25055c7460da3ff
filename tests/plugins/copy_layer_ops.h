/* copy_layer_ops.h -- forward and backward of a test layer whose output is
** its input, by copies (y = x, dx = dy): the old-minor layer plugins'
** (old_minor_layer.c, old_minor_view.c). */
#ifndef LUNET_TEST_COPY_LAYER_OPS_H
#define LUNET_TEST_COPY_LAYER_OPS_H

#include "lunet/plugin.h"

static ln_status copy_fwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          ln_tensor *const *y, unsigned flags) {
    return ln_tensor_copy(ctx, y[0], x[0]);
}

static ln_status copy_bwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *const *y, const ln_tensor *const *dy,
                          ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    return dx[0] ? ln_tensor_copy(ctx, dx[0], dy[0]) : LN_OK;
}

#endif
