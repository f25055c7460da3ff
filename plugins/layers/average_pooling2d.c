/*
** average_pooling2d.c -- AveragePooling2D (Keras): the mean over windows of pixels (\"same\": of those inside).
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status avgpool2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 2, POOL_AVG, 0);
}

static const ln_layer_ops avgpool2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = avgpool2d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit avgpool2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "average_pooling2d",
    .class_name = "AveragePooling2D",
    .version = 1,
    .summary = "the mean over windows of pixels (\"same\": of those inside)",
    .ops = &avgpool2d_ops,
};

LN_PLUGIN("average_pooling2d") { return host->add(host, &avgpool2d_unit); }
