/*
** zero_padding2d.c -- ZeroPadding2D (Keras): rows and columns of zeros around images.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status zpad2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 2, SP_PAD);
}

static const ln_layer_ops zpad2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = zpad2d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit zpad2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "zero_padding2d",
    .class_name = "ZeroPadding2D",
    .version = 1,
    .summary = "rows and columns of zeros around images",
    .ops = &zpad2d_ops,
};

LN_PLUGIN("zero_padding2d") { return host->add(host, &zpad2d_unit); }
