/*
** glorot_uniform.c -- Keras GlorotUniform(seed=None): VarianceScaling(scale=1.0,
** mode='fan_avg', distribution='uniform').
*/
#include "lunet/plugin_initializer.h"

/* Read seed and draw with the fixed scale, mode and distribution. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return vs_fixed(ctx, args, t, fan_in, fan_out, rng, 1.0, "fan_avg",
                    "uniform");
}

static const ln_initializer_ops ops = {fill};
static const ln_unit unit = {LN_KIND_INITIALIZER, "glorot_uniform", "GlorotUniform", 1,
    "Glorot/Xavier uniform: VarianceScaling(1, fan avg, uniform)",
    &ops};

LN_PLUGIN("glorot_uniform") { return host->add(host, &unit); }
