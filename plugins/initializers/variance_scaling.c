/*
** variance_scaling.c -- Keras VarianceScaling(scale=1.0, mode='fan_in',
** distribution='truncated_normal', seed=None). distribution is read
** case-insensitively, 'normal' is Keras's alias of 'truncated_normal', and
** the recorded config holds the canonical lower-case name, as Keras's
** get_config does.
*/
#include <strings.h>

#include "lunet/plugin_initializer.h"

/* The canonical distribution name for s, or NULL if unknown. */
static const char *canon_dist(const char *s) {
    if (!strcasecmp(s, "normal") || !strcasecmp(s, "truncated_normal"))
        return "truncated_normal";
    if (!strcasecmp(s, "untruncated_normal")) return "untruncated_normal";
    if (!strcasecmp(s, "uniform")) return "uniform";
    return NULL;
}

/* Read and validate scale, mode, distribution and seed, record the
** canonical distribution name, then draw. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double scale;
    const char *mode, *dist_in, *dist;
    ln_rng own, *use;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "scale", 1.0, &scale)) ||
        (st = ln_args_string(ctx, args, "mode", "fan_in", &mode)) ||
        (st = ln_args_string(ctx, args, "distribution", "truncated_normal",
                             &dist_in)) ||
        (st = init_seed(ctx, args, rng, &own, &use)))
        return st;
    if (!(scale > 0) || !isfinite(scale))
        return ln_fail(ctx, LN_E_ARG,
                       "'scale' must be a positive number, got %g", scale);
    if (strcmp(mode, "fan_in") && strcmp(mode, "fan_out") &&
        strcmp(mode, "fan_avg"))
        return ln_fail(ctx, LN_E_ARG,
                       "'mode' must be 'fan_in', 'fan_out' or 'fan_avg', got "
                       "'%s'", mode);
    if (!(dist = canon_dist(dist_in)))
        return ln_fail(ctx, LN_E_ARG,
                       "'distribution' must be 'truncated_normal' (or "
                       "'normal'), 'untruncated_normal' or 'uniform', got '%s'",
                       dist_in);
    if (strcmp(dist, dist_in) &&
        ln_args_set_string(args, "distribution", dist))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    vs_draw(t, fan_in, fan_out, use, scale, mode, dist);
    return LN_OK;
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "variance_scaling",
    .class_name = "VarianceScaling",
    .version = 1,
    .summary = "scale/fan variance (scale, mode, distribution)",
    .ops = &ops,
};

LN_PLUGIN("variance_scaling") { return host->add(host, &unit); }
