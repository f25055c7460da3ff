/*
** spatial_dropout2d.c -- SpatialDropout2D (Keras): dropout of whole feature maps in training.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status sdrop2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 2, SP_DROP);
}

static const ln_layer_ops sdrop2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = sdrop2d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit sdrop2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "spatial_dropout2d",
    .class_name = "SpatialDropout2D",
    .version = 1,
    .summary = "dropout of whole feature maps in training",
    .ops = &sdrop2d_ops,
};

LN_PLUGIN("spatial_dropout2d") { return host->add(host, &sdrop2d_unit); }
