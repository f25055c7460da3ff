/*
** softmax.c -- Softmax (Keras layer): exp(x - max) / sum exp(x - max)
** along the last axis (axis = -1, the only axis supported; the last axis
** may also be named by its Keras number, i.e. the input's rank - 1): the
** "softmax" activation applied as a layer, so a final Softmax layer fuses
** with crossentropy like Dense(..., activation = "softmax").
*/
#include "lunet/plugin_util.h"

typedef struct softmax {
    lu_act_layer base; /* first: the shared activation-layer ops use it */
    int64_t axis;
} softmax;

static ln_status softmax_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    softmax *s = ln_layer_state(l);
    ln_status st = ln_args_int(ctx, a, "axis", -1, &s->axis);
    return st ? st : lu_act_layer_make(ctx, l, "softmax", NULL);
}

static ln_status softmax_build(ln_ctx *ctx, ln_layer *l, int nin,
                               const ln_shape *in, int *nout, ln_shape *out) {
    const softmax *s = ln_layer_state(l);
    if (in[0].nd < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of rank >= 2 (batch, ..., classes), got "
                       "rank %d",
                       in[0].nd + 1);
    if (s->axis != -1 && s->axis != in[0].nd)
        return ln_fail(ctx, LN_E_ARG,
                       "'axis' %lld: only the last axis (-1) is supported",
                       (long long)s->axis);
    return LN_OK;
}

static const ln_layer_ops softmax_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(softmax),
    .create = softmax_create,
    .build = softmax_build,
    .forward = lu_act_layer_forward,
    .backward = lu_act_layer_backward,
    .output_activation = lu_act_layer_output,
    .destroy = lu_act_layer_destroy,
};

static const ln_unit softmax_unit = {
    .kind = LN_KIND_LAYER,
    .name = "softmax",
    .class_name = "Softmax",
    .version = 1,
    .summary = "softmax along the last axis",
    .ops = &softmax_ops,
};

LN_PLUGIN("softmax") { return host->add(host, &softmax_unit); }
