/*
** global_max_pooling2d.c -- GlobalMaxPooling2D (Keras): the maximum over all pixels, per channel.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status gmaxpool2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 2, POOL_MAX, 1);
}

static const ln_layer_ops gmaxpool2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = gmaxpool2d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit gmaxpool2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "global_max_pooling2d",
    .class_name = "GlobalMaxPooling2D",
    .version = 1,
    .summary = "the maximum over all pixels, per channel",
    .ops = &gmaxpool2d_ops,
};

LN_PLUGIN("global_max_pooling2d") { return host->add(host, &gmaxpool2d_unit); }
