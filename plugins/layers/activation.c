/*
** activation.c -- Activation (Keras): applies a registered activation
** ("relu", {name = "elu", alpha = 0.5}, ...) given as its first positional
** argument or `activation`. Non-elementwise activations (softmax) work
** along the last axis. The activation is reported as the layer's output
** activation, so a final Activation("softmax") fuses with the loss like a
** Dense(..., activation = "softmax"): under LN_LOGITS y = x and dx = dy.
*/
#include "lunet/plugin_util.h"

typedef struct act_layer {
    ln_activation *act;
} act_layer;

static ln_status act_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    act_layer *s = l->state;
    ln_status st = ln_args_positional(ctx, a, 1, "activation");
    if (st) return st;
    if (!ln_args_has(a, "activation"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'activation'");
    return lu_activation(ctx, a, "activation", NULL, &s->act);
}

static ln_status act_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                             ln_tensor *y, unsigned flags) {
    act_layer *s = l->state;
    int64_t rows, cols;
    if ((flags & LN_LOGITS) || ln_activation_is_identity(s->act)) {
        ln_copy(ln_f32(y), ln_f32(x), x->numel);
        return LN_OK;
    }
    lu_rows_cols(x, &rows, &cols);
    ln_activation_forward(s->act, ln_f32(x), ln_f32(y), rows, cols);
    return LN_OK;
}

static ln_status act_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                              const ln_tensor *y, const ln_tensor *dy,
                              ln_tensor *dx, unsigned flags) {
    act_layer *s = l->state;
    int64_t rows, cols;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    if ((flags & LN_LOGITS) || ln_activation_is_identity(s->act)) {
        ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
        return LN_OK;
    }
    lu_rows_cols(x, &rows, &cols);
    ln_activation_backward(s->act, ln_f32(x), ln_f32(y), ln_f32(dy),
                           ln_f32(dx), rows, cols);
    return LN_OK;
}

static const char *act_output_activation(const ln_layer *l) {
    const act_layer *s = l->state;
    return ln_activation_is_identity(s->act) ? NULL
                                             : ln_activation_name(s->act);
}

static void act_destroy(ln_layer *l) {
    act_layer *s = l->state;
    ln_activation_free(s->act);
}

static const ln_layer_ops act_ops = {
    sizeof(act_layer), act_create, NULL, act_forward, act_backward,
    act_output_activation, act_destroy};

static const ln_unit act_unit = {
    LN_KIND_LAYER, "activation", "Activation", 1,
    "applies an activation function", &act_ops};

LN_PLUGIN("activation") { return host->add(host, &act_unit); }
