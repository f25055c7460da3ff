/*
** truncated_normal.c -- Keras TruncatedNormal(mean=0.0, stddev=0.05,
** seed=None): normal draws farther than 2 stddev from the mean are drawn
** again; no variance correction (unlike VarianceScaling's).
*/
#include "init_util.h"

/* Read mean, stddev and seed; refuse a negative or non-finite stddev. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double mean, sd;
    ln_rng own, *use;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "mean", 0.0, &mean)) ||
        (st = ln_args_number(ctx, args, "stddev", 0.05, &sd)) ||
        (st = init_seed(ctx, args, rng, &own, &use)))
        return st;
    if (!(sd >= 0) || !isfinite(sd) || !isfinite(mean))
        return ln_fail(ctx, LN_E_ARG,
                       "'stddev' must be finite and >= 0 (got %g), 'mean' "
                       "finite (got %g)", sd, mean);
    ln_rng_truncated_normal(use, ln_f32(t), t->numel, (float)mean, (float)sd);
    return LN_OK;
}

static const ln_initializer_ops ops = {fill};
static const ln_unit unit = {LN_KIND_INITIALIZER, "truncated_normal",
                             "TruncatedNormal", 1,
                             "normal cut at 2 stddev, default 0, 0.05", &ops};

LN_PLUGIN("truncated_normal") { return host->add(host, &unit); }
