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

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "truncated_normal",
    .class_name = "TruncatedNormal",
    .version = 1,
    .summary = "normal cut at 2 stddev, default 0, 0.05",
    .ops = &ops,
};

LN_PLUGIN("truncated_normal") { return host->add(host, &unit); }
