/*
** he_uniform.c -- Keras HeUniform(seed=None): VarianceScaling(scale=2.0,
** mode='fan_in', distribution='uniform').
*/
#include "lunet/plugin_initializer.h"

/* Read seed and draw with the fixed scale, mode and distribution. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return vs_fixed(ctx, args, t, fan_in, fan_out, rng, 2.0, "fan_in",
                    "uniform");
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "he_uniform",
    .class_name = "HeUniform",
    .version = 1,
    .summary = "He uniform: VarianceScaling(2, fan in, uniform)",
    .ops = &ops,
};

LN_PLUGIN("he_uniform") { return host->add(host, &unit); }
