/*
** truncated_normal.c -- Keras TruncatedNormal(mean=0.0, stddev=0.05,
** seed=None): normal draws farther than 2 stddev from the mean are drawn
** again; no variance correction (unlike VarianceScaling's).
*/
#include "lunet/plugin_initializer.h"

static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    return normal_fill(ctx, args, t, rng, ln_rng_truncated_normal);
}

static const ln_initializer_ops ops = {fill};
static const ln_unit unit = {LN_KIND_INITIALIZER, "truncated_normal",
                             "TruncatedNormal", 1,
                             "normal cut at 2 stddev, default 0, 0.05", &ops};

LN_PLUGIN("truncated_normal") { return host->add(host, &unit); }
