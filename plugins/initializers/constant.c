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

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "constant",
    .class_name = "Constant",
    .version = 1,
    .summary = "constant `value` (default 0)",
    .ops = &ops,
};

LN_PLUGIN("constant") { return host->add(host, &unit); }
