/*
** relu.c -- ReLU (Keras layer): with t = threshold, m = max_value (nil: no
** cap) and a = negative_slope,
**     f(x) = min(x, m)    for x > t
**     f(x) = a (x - t)    for x <= t
** (Keras's backend.relu(x, alpha = a, max_value = m, threshold = t)): the
** "relu" activation applied as a layer. Keras refuses a negative max_value,
** negative_slope or threshold; so does this.
*/
#include "lunet/plugin_util.h"

static ln_status relu_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    int has_max;
    double m, s, t;
    ln_status st;
    if ((st = lu_opt_number(ctx, a, "max_value", &has_max, &m)) ||
        (st = lu_number(ctx, a, "negative_slope", 0.0, &s)) ||
        (st = lu_number(ctx, a, "threshold", 0.0, &t)))
        return st;
    if (has_max && !(m >= 0))
        return ln_fail(ctx, LN_E_ARG, "'max_value' must be >= 0, got %g", m);
    if (s < 0)
        return ln_fail(ctx, LN_E_ARG, "'negative_slope' must be >= 0, got %g", s);
    if (t < 0)
        return ln_fail(ctx, LN_E_ARG, "'threshold' must be >= 0, got %g", t);
    ln_args *r = ln_args_new();
    if (!r || ln_args_set_number(r, "alpha", s) || ln_args_set_number(r, "threshold", t) ||
        (has_max && ln_args_set_number(r, "max_value", m))) {
        ln_args_free(r);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    return lu_act_layer_make(ctx, l, "relu", r);
}

static const ln_layer_ops relu_ops = LU_ACT_LAYER_OPS(lu_act_layer, relu_create);

static const ln_unit relu_unit = {
    .kind = LN_KIND_LAYER,
    .name = "relu",
    .class_name = "ReLU",
    .version = 1,
    .summary = "rectified linear unit with max_value, negative_slope and "
               "threshold",
    .ops = &relu_ops,
};

LN_PLUGIN("relu") { return host->add(host, &relu_unit); }
