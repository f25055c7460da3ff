/*
** separable_conv2d.c -- SeparableConv2D (Keras): depthwise 2-D convolution followed by a 1x1 (pointwise) one.
** The layer is depthwise_layer.h's.
*/
#include "depthwise_layer.h"

static ln_status separable_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return dw_create(ctx, l, a, 1);
}

static const ln_layer_ops separable_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(dwconv),
    .create = separable_create,
    .build = dw_build,
    .forward = dw_forward,
    .backward = dw_backward,
    .output_activation = dw_output_activation,
    .destroy = dw_destroy,
};

static const ln_unit separable_unit = {
    .kind = LN_KIND_LAYER,
    .name = "separable_conv2d",
    .class_name = "SeparableConv2D",
    .version = 1,
    .summary = "depthwise 2-D convolution followed by a 1x1 (pointwise) one",
    .ops = &separable_ops,
};

LN_PLUGIN("separable_conv2d") { return host->add(host, &separable_unit); }
