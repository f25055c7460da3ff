/*
** global_average_pooling1d.c -- GlobalAveragePooling1D (Keras): the mean over all steps, per channel.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status gavgpool1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 1, POOL_AVG, 1);
}

static const ln_layer_ops gavgpool1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = gavgpool1d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit gavgpool1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "global_average_pooling1d",
    .class_name = "GlobalAveragePooling1D",
    .version = 1,
    .summary = "the mean over all steps, per channel",
    .ops = &gavgpool1d_ops,
};

LN_PLUGIN("global_average_pooling1d") { return host->add(host, &gavgpool1d_unit); }
