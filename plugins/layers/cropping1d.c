/*
** cropping1d.c -- Cropping1D (Keras): steps cut from the start and the end.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status crop1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 1, SP_CROP);
}

static const ln_layer_ops crop1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = crop1d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit crop1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "cropping1d",
    .class_name = "Cropping1D",
    .version = 1,
    .summary = "steps cut from the start and the end",
    .ops = &crop1d_ops,
};

LN_PLUGIN("cropping1d") { return host->add(host, &crop1d_unit); }
