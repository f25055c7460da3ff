/*
** he_normal.c -- Keras HeNormal(seed=None): VarianceScaling(scale=2.0,
** mode='fan_in', distribution='truncated_normal').
*/
#include "lunet/plugin_initializer.h"

/* Read seed and draw with the fixed scale, mode and distribution. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return vs_fixed(ctx, args, t, fan_in, fan_out, rng, 2.0, "fan_in",
                    "truncated_normal");
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "he_normal",
    .class_name = "HeNormal",
    .version = 1,
    .summary = "He normal: VarianceScaling(2, fan in, truncated normal)",
    .ops = &ops,
};

LN_PLUGIN("he_normal") { return host->add(host, &unit); }
