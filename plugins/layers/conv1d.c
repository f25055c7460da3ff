/*
** conv1d.c -- Conv1D (Keras): 1-D convolution over steps: activation(conv(x, kernel) + bias).
** The layer is conv_layer.h's; this file names its rank and direction.
*/
#include "conv_layer.h"

static ln_status conv1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return conv_create(ctx, l, a, 1, 0);
}

static const ln_layer_ops conv1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(conv),
    .create = conv1d_create,
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .output_activation = conv_output_activation,
    .destroy = conv_destroy,
};

static const ln_unit conv1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "conv1d",
    .class_name = "Conv1D",
    .version = 1,
    .summary = "1-D convolution over steps: activation(conv(x, kernel) + bias)",
    .ops = &conv1d_ops,
};

LN_PLUGIN("conv1d") { return host->add(host, &conv1d_unit); }
