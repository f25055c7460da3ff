/*
** random_normal.c -- Keras RandomNormal(mean=0.0, stddev=0.05, seed=None).
*/
#include "lunet/plugin_initializer.h"

static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return normal_fill(ctx, args, t, rng, ln_rng_normal);
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "random_normal",
    .class_name = "RandomNormal",
    .version = 1,
    .summary = "normal N(mean, stddev^2), default 0, 0.05",
    .ops = &ops,
};

LN_PLUGIN("random_normal") { return host->add(host, &unit); }
