/*
** random_uniform.c -- Keras RandomUniform(minval=-0.05, maxval=0.05,
** seed=None): U[minval, maxval).
*/
#include "lunet/plugin_initializer.h"

/* Read minval, maxval and seed; refuse minval > maxval. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double lo, hi;
    ln_rng own, *use;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "minval", -0.05, &lo)) ||
        (st = ln_args_number(ctx, args, "maxval", 0.05, &hi)) ||
        (st = init_seed(ctx, args, rng, &own, &use)))
        return st;
    if (!isfinite(lo) || !isfinite(hi) || !(lo <= hi))
        return ln_fail(ctx, LN_E_ARG,
                       "need finite 'minval' <= 'maxval', got minval = %g, "
                       "maxval = %g", lo, hi);
    ln_rng_uniform(use, ln_f32(t), t->numel, (float)lo, (float)hi);
    return LN_OK;
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "random_uniform",
    .class_name = "RandomUniform",
    .version = 1,
    .summary = "uniform U[minval, maxval), default +-0.05",
    .ops = &ops,
};

LN_PLUGIN("random_uniform") { return host->add(host, &unit); }
