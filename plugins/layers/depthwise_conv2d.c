/*
** depthwise_conv2d.c -- DepthwiseConv2D (Keras): per-channel 2-D convolution (depth_multiplier outputs per channel).
** The layer is depthwise_layer.h's.
*/
#include "depthwise_layer.h"

static ln_status depthwise_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return dw_create(ctx, l, a, 0);
}

static const ln_layer_ops depthwise_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(dwconv),
    .create = depthwise_create,
    .build = dw_build,
    .forward = dw_forward,
    .backward = dw_backward,
    .output_activation = dw_output_activation,
    .destroy = dw_destroy,
};

static const ln_unit depthwise_unit = {
    .kind = LN_KIND_LAYER,
    .name = "depthwise_conv2d",
    .class_name = "DepthwiseConv2D",
    .version = 1,
    .summary = "per-channel 2-D convolution (depth_multiplier outputs per channel)",
    .ops = &depthwise_ops,
};

LN_PLUGIN("depthwise_conv2d") { return host->add(host, &depthwise_unit); }
