/*
** constant.c -- Keras Constant(value=0): every element `value`.
*/
#include "lunet/plugin_initializer.h"

/* Read value (default 0) and an optional seed; fill with value. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double v;
    ln_status st = ln_args_number(ctx, args, "value", 0.0, &v);
    if (st || (st = init_ignore_seed(ctx, args))) return st;
    ln_fill(ln_f32(t), t->numel, (float)v);
    return LN_OK;
}

static const ln_initializer_ops ops = {fill};
static const ln_unit unit = {LN_KIND_INITIALIZER, "constant", "Constant", 1,
                             "constant `value` (default 0)", &ops};

LN_PLUGIN("constant") { return host->add(host, &unit); }
