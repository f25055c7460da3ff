/*
** elu.c -- ELU (Keras layer): f(x) = x for x > 0, alpha (e^x - 1)
** otherwise (alpha 1.0, >= 0 as later Keras checks). The "elu" activation
** applied as a layer.
*/
#include "lunet/plugin_util.h"

static ln_status elu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    double alpha;
    ln_status st = lu_number(ctx, a, "alpha", 1.0, &alpha);
    if (st) return st;
    ln_args *r = ln_args_new();
    if (!r || ln_args_set_number(r, "alpha", alpha)) {
        ln_args_free(r);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    return lu_act_layer_make(ctx, l, "elu", r);
}

static const ln_layer_ops elu_ops = LU_ACT_LAYER_OPS(lu_act_layer, elu_create);

static const ln_unit elu_unit = {
    .kind = LN_KIND_LAYER,
    .name = "elu",
    .class_name = "ELU",
    .version = 1,
    .summary = "exponential linear unit: alpha (e^x - 1) for x <= 0 (alpha "
               "1.0)",
    .ops = &elu_ops,
};

LN_PLUGIN("elu") { return host->add(host, &elu_unit); }
