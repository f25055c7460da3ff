/*
** leaky_relu.c -- LeakyReLU (Keras): f(x) = x for x > 0, alpha x
** otherwise; alpha defaults to 0.3 (PyTorch's default is 0.01). The
** "leaky_relu" activation applied as a layer. alpha must be >= 0 (as
** Keras 3 checks), so the slope is known from y alone.
*/
#include "lunet/plugin_util.h"

static ln_status leaky_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    double alpha;
    ln_status st = lu_number(ctx, a, "alpha", 0.3, &alpha);
    if (st) return st;
    ln_args *r = ln_args_new();
    if (!r || ln_args_set_number(r, "alpha", alpha)) {
        ln_args_free(r);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    return lu_act_layer_make(ctx, l, "leaky_relu", r);
}

static const ln_layer_ops leaky_ops = LU_ACT_LAYER_OPS(lu_act_layer, leaky_create);

static const ln_unit leaky_unit = {
    .kind = LN_KIND_LAYER,
    .name = "leaky_relu",
    .class_name = "LeakyReLU",
    .version = 1,
    .summary = "leaky rectified linear unit: alpha x for x <= 0 (alpha 0.3)",
    .ops = &leaky_ops,
};

LN_PLUGIN("leaky_relu") { return host->add(host, &leaky_unit); }
