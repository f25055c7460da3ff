/*
** conv2d.c -- Conv2D (Keras): 2-D convolution over images: activation(conv(x, kernel) + bias).
** The layer is conv_layer.h's; this file names its rank and direction.
*/
#include "conv_layer.h"

static ln_status conv2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return conv_create(ctx, l, a, 2, 0);
}

static const ln_layer_ops conv2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(conv),
    .create = conv2d_create,
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .output_activation = conv_output_activation,
    .destroy = conv_destroy,
};

static const ln_unit conv2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "conv2d",
    .class_name = "Conv2D",
    .version = 1,
    .summary = "2-D convolution over images: activation(conv(x, kernel) + bias)",
    .ops = &conv2d_ops,
};

LN_PLUGIN("conv2d") { return host->add(host, &conv2d_unit); }
