/*
** thresholded_relu.c -- ThresholdedReLU (Keras): f(x) = x for x > theta
** (strict), 0 otherwise; theta 1.0, must be >= 0 (as Keras checks). That
** is relu(x, threshold = theta): the "relu" activation applied as a layer.
*/
#include "lunet/plugin_util.h"

static ln_status trelu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    double theta;
    ln_status st = lu_number(ctx, a, "theta", 1.0, &theta);
    if (st) return st;
    if (theta < 0)
        return ln_fail(ctx, LN_E_ARG, "'theta' must be >= 0, got %g", theta);
    ln_args *r = ln_args_new();
    if (!r || ln_args_set_number(r, "threshold", theta)) {
        ln_args_free(r);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    return lu_act_layer_make(ctx, l, "relu", r);
}

static const ln_layer_ops trelu_ops = LU_ACT_LAYER_OPS(lu_act_layer, trelu_create);

static const ln_unit trelu_unit = {
    .kind = LN_KIND_LAYER,
    .name = "thresholded_relu",
    .class_name = "ThresholdedReLU",
    .version = 1,
    .summary = "x where x > theta, else 0 (theta 1.0)",
    .ops = &trelu_ops,
};

LN_PLUGIN("thresholded_relu") { return host->add(host, &trelu_unit); }
