/*
** lecun_uniform.c -- Keras LecunUniform(seed=None): VarianceScaling(scale=1.0,
** mode='fan_in', distribution='uniform').
*/
#include "lunet/plugin_initializer.h"

/* Read seed and draw with the fixed scale, mode and distribution. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return vs_fixed(ctx, args, t, fan_in, fan_out, rng, 1.0, "fan_in",
                    "uniform");
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "lecun_uniform",
    .class_name = "LecunUniform",
    .version = 1,
    .summary = "LeCun uniform: VarianceScaling(1, fan in, uniform)",
    .ops = &ops,
};

LN_PLUGIN("lecun_uniform") { return host->add(host, &unit); }
