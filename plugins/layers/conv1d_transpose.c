/*
** conv1d_transpose.c -- Conv1DTranspose (Keras): transposed 1-D convolution (the gradient of Conv1D with respect to its input).
** The layer is conv_layer.h's; this file names its rank and direction.
*/
#include "conv_layer.h"

static ln_status conv1d_t_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return conv_create(ctx, l, a, 1, 1);
}

static const ln_layer_ops conv1d_t_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(conv),
    .create = conv1d_t_create,
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .output_activation = conv_output_activation,
    .destroy = conv_destroy,
};

static const ln_unit conv1d_t_unit = {
    .kind = LN_KIND_LAYER,
    .name = "conv1d_transpose",
    .class_name = "Conv1DTranspose",
    .version = 1,
    .summary = "transposed 1-D convolution (the gradient of Conv1D with respect to its input)",
    .ops = &conv1d_t_ops,
};

LN_PLUGIN("conv1d_transpose") { return host->add(host, &conv1d_t_unit); }
