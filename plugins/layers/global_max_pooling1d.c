/*
** global_max_pooling1d.c -- GlobalMaxPooling1D (Keras): the maximum over all steps, per channel.
** The layer is pool_layer.h's; this file names its rank and reduction.
*/
#include "pool_layer.h"

static ln_status gmaxpool1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return pool_create(ctx, l, a, 1, POOL_MAX, 1);
}

static const ln_layer_ops gmaxpool1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(pool),
    .create = gmaxpool1d_create,
    .build = pool_build,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const ln_unit gmaxpool1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "global_max_pooling1d",
    .class_name = "GlobalMaxPooling1D",
    .version = 1,
    .summary = "the maximum over all steps, per channel",
    .ops = &gmaxpool1d_ops,
};

LN_PLUGIN("global_max_pooling1d") { return host->add(host, &gmaxpool1d_unit); }
