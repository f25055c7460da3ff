/*
** activation.c -- Activation (Keras): applies a registered activation
** ("relu", {name = "elu", alpha = 0.5}, ...) given as its first positional
** argument or `activation`. Non-elementwise activations (softmax) work
** along the last axis. The activation is reported as the layer's output
** activation, so a final Activation("softmax") fuses with the loss like a
** Dense(..., activation = "softmax"): under LN_LOGITS y = x and dx = dy.
*/
#include "lunet/plugin_util.h"

static ln_status act_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    lu_act_layer *s = ln_layer_state(l);
    ln_status st = ln_args_positional(ctx, a, 1, "activation");
    if (st) return st;
    if (!ln_args_has(a, "activation"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'activation'");
    return lu_activation(ctx, a, "activation", NULL, &s->act);
}

static const ln_layer_ops act_ops = LU_ACT_LAYER_OPS(lu_act_layer, act_create);

static const ln_unit act_unit = {
    .kind = LN_KIND_LAYER,
    .name = "activation",
    .class_name = "Activation",
    .version = 1,
    .summary = "applies an activation function",
    .ops = &act_ops,
};

LN_PLUGIN("activation") { return host->add(host, &act_unit); }
