/*
** cropping2d.c -- Cropping2D (Keras): rows and columns cut from the borders of images.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status crop2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 2, SP_CROP);
}

static const ln_layer_ops crop2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = crop2d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit crop2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "cropping2d",
    .class_name = "Cropping2D",
    .version = 1,
    .summary = "rows and columns cut from the borders of images",
    .ops = &crop2d_ops,
};

LN_PLUGIN("cropping2d") { return host->add(host, &crop2d_unit); }
