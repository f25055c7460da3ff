/*
** max_pooling1d.c -- MaxPooling1D (Keras): the maximum over windows of steps.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status maxpool1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 1, POOL_MAX, 0);
}

static const ln_layer_ops maxpool1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = maxpool1d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit maxpool1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "max_pooling1d",
    .class_name = "MaxPooling1D",
    .version = 1,
    .summary = "the maximum over windows of steps",
    .ops = &maxpool1d_ops,
};

LN_PLUGIN("max_pooling1d") { return host->add(host, &maxpool1d_unit); }
