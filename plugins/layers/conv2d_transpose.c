/*
** conv2d_transpose.c -- Conv2DTranspose (Keras): transposed 2-D convolution (the gradient of Conv2D with respect to its input).
** The layer is conv_layer.h's; this file names its rank and direction.
*/
#include "conv_layer.h"

static ln_status conv2d_t_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return conv_create(ctx, l, a, 2, 1);
}

static const ln_layer_ops conv2d_t_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(conv),
    .create = conv2d_t_create,
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .output_activation = conv_output_activation,
    .destroy = conv_destroy,
};

static const ln_unit conv2d_t_unit = {
    .kind = LN_KIND_LAYER,
    .name = "conv2d_transpose",
    .class_name = "Conv2DTranspose",
    .version = 1,
    .summary = "transposed 2-D convolution (the gradient of Conv2D with respect to its input)",
    .ops = &conv2d_t_ops,
};

LN_PLUGIN("conv2d_transpose") { return host->add(host, &conv2d_t_unit); }
