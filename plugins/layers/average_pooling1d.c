/*
** average_pooling1d.c -- AveragePooling1D (Keras): the mean over windows of steps (\"same\": of those inside).
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status avgpool1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 1, POOL_AVG, 0);
}

static const ln_layer_ops avgpool1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = avgpool1d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit avgpool1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "average_pooling1d",
    .class_name = "AveragePooling1D",
    .version = 1,
    .summary = "the mean over windows of steps (\"same\": of those inside)",
    .ops = &avgpool1d_ops,
};

LN_PLUGIN("average_pooling1d") { return host->add(host, &avgpool1d_unit); }
