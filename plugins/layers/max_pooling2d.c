/*
** max_pooling2d.c -- MaxPooling2D (Keras): the maximum over windows of pixels.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status maxpool2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 2, POOL_MAX, 0);
}

static const ln_layer_ops maxpool2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = maxpool2d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit maxpool2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "max_pooling2d",
    .class_name = "MaxPooling2D",
    .version = 1,
    .summary = "the maximum over windows of pixels",
    .ops = &maxpool2d_ops,
};

LN_PLUGIN("max_pooling2d") { return host->add(host, &maxpool2d_unit); }
