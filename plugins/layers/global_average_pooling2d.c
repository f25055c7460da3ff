/*
** global_average_pooling2d.c -- GlobalAveragePooling2D (Keras): the mean over all pixels, per channel.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status gavgpool2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 2, POOL_AVG, 1);
}

static const ln_layer_ops gavgpool2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = gavgpool2d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit gavgpool2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "global_average_pooling2d",
    .class_name = "GlobalAveragePooling2D",
    .version = 1,
    .summary = "the mean over all pixels, per channel",
    .ops = &gavgpool2d_ops,
};

LN_PLUGIN("global_average_pooling2d") { return host->add(host, &gavgpool2d_unit); }
