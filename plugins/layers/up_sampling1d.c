/*
** up_sampling1d.c -- UpSampling1D (Keras): each step repeated size times.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status up1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 1, SP_UP);
}

static const ln_layer_ops up1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = up1d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit up1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "up_sampling1d",
    .class_name = "UpSampling1D",
    .version = 1,
    .summary = "each step repeated size times",
    .ops = &up1d_ops,
};

LN_PLUGIN("up_sampling1d") { return host->add(host, &up1d_unit); }
