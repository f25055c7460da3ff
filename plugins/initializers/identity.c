/*
** identity.c -- Keras Identity(gain=1.0): gain times the identity matrix;
** 2-D shapes only (rectangular ones get ones on the main diagonal).
*/
#include "lunet/plugin_initializer.h"

/* Read gain (and an optional seed); refuse shapes that are not 2-D. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double gain;
    ln_status st = ln_args_number(ctx, args, "gain", 1.0, &gain);
    if (st || (st = init_ignore_seed(ctx, args))) return st;
    if (t->ndim != 2) {
        char buf[128];
        return ln_fail(ctx, LN_E_SHAPE,
                       "only 2-D shapes have an identity matrix, got %s",
                       ln_shape_str(t, buf, sizeof buf));
    }
    int64_t rows = t->shape[0], cols = t->shape[1];
    float *y = ln_f32(t);
    ln_fill(y, t->numel, 0.0f);
    for (int64_t i = 0; i < rows && i < cols; i++)
        y[i * cols + i] = (float)gain;
    return LN_OK;
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "identity",
    .class_name = "Identity",
    .version = 1,
    .summary = "gain times the identity matrix (2-D)",
    .ops = &ops,
};

LN_PLUGIN("identity") { return host->add(host, &unit); }
