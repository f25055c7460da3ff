/*
** spatial_dropout1d.c -- SpatialDropout1D (Keras): dropout of whole channels in training.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status sdrop1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 1, SP_DROP);
}

static const ln_layer_ops sdrop1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = sdrop1d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit sdrop1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "spatial_dropout1d",
    .class_name = "SpatialDropout1D",
    .version = 1,
    .summary = "dropout of whole channels in training",
    .ops = &sdrop1d_ops,
};

LN_PLUGIN("spatial_dropout1d") { return host->add(host, &sdrop1d_unit); }
