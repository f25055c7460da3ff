/*
** ones.c -- Keras Ones(): every element 1.
*/
#include "lunet/plugin_initializer.h"

/* Accept an optional seed; fill with 1. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    ln_status st = init_ignore_seed(ctx, args);
    if (st) return st;
    ln_fill(ln_f32(t), t->numel, 1.0f);
    return LN_OK;
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "ones",
    .class_name = "Ones",
    .version = 1,
    .summary = "constant 1",
    .ops = &ops,
};

LN_PLUGIN("ones") { return host->add(host, &unit); }
