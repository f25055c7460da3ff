/*
** up_sampling2d.c -- UpSampling2D (Keras): images enlarged by integer factors (nearest or bilinear).
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status up2d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 2, SP_UP);
}

static const ln_layer_ops up2d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = up2d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit up2d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "up_sampling2d",
    .class_name = "UpSampling2D",
    .version = 1,
    .summary = "images enlarged by integer factors (nearest or bilinear)",
    .ops = &up2d_ops,
};

LN_PLUGIN("up_sampling2d") { return host->add(host, &up2d_unit); }
