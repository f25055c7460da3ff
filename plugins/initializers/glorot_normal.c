/*
** glorot_normal.c -- Keras GlorotNormal(seed=None): VarianceScaling(scale=1.0,
** mode='fan_avg', distribution='truncated_normal').
*/
#include "lunet/plugin_initializer.h"

/* Read seed and draw with the fixed scale, mode and distribution. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return vs_fixed(ctx, args, t, fan_in, fan_out, rng, 1.0, "fan_avg",
                    "truncated_normal");
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "glorot_normal",
    .class_name = "GlorotNormal",
    .version = 1,
    .summary = "Glorot/Xavier normal: VarianceScaling(1, fan avg, truncated "
               "normal)",
    .ops = &ops,
};

LN_PLUGIN("glorot_normal") { return host->add(host, &unit); }
