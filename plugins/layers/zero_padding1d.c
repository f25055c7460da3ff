/*
** zero_padding1d.c -- ZeroPadding1D (Keras): zeros added before and after the steps.
** The layer is spatial_layer.h's; this file names its rank and kind.
*/
#include "spatial_layer.h"

static ln_status zpad1d_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return sp_create(ctx, l, a, 1, SP_PAD);
}

static const ln_layer_ops zpad1d_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(spatial),
    .create = zpad1d_create,
    .build = sp_build,
    .forward = sp_forward,
    .backward = sp_backward,
    .is_view = sp_is_view,
    .destroy = sp_destroy,
};

static const ln_unit zpad1d_unit = {
    .kind = LN_KIND_LAYER,
    .name = "zero_padding1d",
    .class_name = "ZeroPadding1D",
    .version = 1,
    .summary = "zeros added before and after the steps",
    .ops = &zpad1d_ops,
};

LN_PLUGIN("zero_padding1d") { return host->add(host, &zpad1d_unit); }
