/*
** time_distributed.c -- TimeDistributed (Keras 2): applies the wrapped
** layer to every time step of a (batch, timesteps, ...) input, with one set
** of weights for all the steps.
**
** As Keras does when the batch size is known, the steps are folded into
** the batch: the wrapped layer runs once on (batch * timesteps, ...) -- the
** same memory, rows in (sample, step) order -- and its output is read back
** as (batch, timesteps, ...). So any single-input, single-output layer can
** be wrapped, and per-sample layers (Dropout's masks, BatchNormalization's
** statistics) see batch * timesteps samples, as in Keras.
**
** The wrapped layer is a private engine layer owned by the state; its
** weights are this layer's weights (shared tensors, same order and names:
** "time_distributed/kernel:0" as tf.keras 2 names them), so saving,
** optimizers, the gradient sink and regularization see the wrapper only.
*/
#include "lunet/engine/layer.h"
#include "lunet/plugin_util.h"

typedef struct tdist {
    ln_layer *inner; /* owned */
    ln_tensor *y, *dx; /* the wrapped layer's output and input gradient */
    int own_rng;       /* the wrapped layer has its own generator (a seed) */
} tdist;

static ln_status tdist_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    tdist *s = ln_layer_state(l);
    const char *unit;
    ln_args *sub, *own;
    ln_status st;
    if ((st = ln_args_positional(ctx, a, 1, "layer")) ||
        (st = ln_args_unit(ctx, a, "layer", NULL, &unit, &sub)))
        return st;
    if (!unit) return ln_fail(ctx, LN_E_ARG, "missing required argument 'layer'");
    if (!(own = ln_args_new()) || ln_args_copy(own, sub, "name", 0)) {
        ln_args_free(own);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    if (!(s->inner = ln_layer_new(ctx, unit, own))) return ln_prefix(ctx, "'layer'");
    s->own_rng = ln_layer_rng(s->inner) != ln_rng_global();
    /* the config records what the wrapped layer read (its defaults too) */
    if (ln_args_copy(sub, ln_layer_args(s->inner), NULL, 1))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    return LN_OK;
}

static ln_status tdist_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                             int *nout, ln_shape *out) {
    tdist *s = ln_layer_state(l);
    char b[128];
    ln_status st;
    if (in[0].nd < 2)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of shape (batch, timesteps, ...), got %s",
                       lu_shape_str(&in[0], b, sizeof b));
    ln_shape step = {in[0].nd - 1, {0}};
    for (int i = 1; i < in[0].nd; i++) step.dim[i - 1] = in[0].dim[i];
    if ((st = ln_layer_build(ctx, s->inner, 1, &step))) return st;
    if (ln_layer_output_count(s->inner) != 1)
        return ln_fail(ctx, LN_E_ARG, "the wrapped layer must have one output, it has %d",
                       ln_layer_output_count(s->inner));
    const ln_shape *o = ln_layer_output_shape(s->inner, 0);
    if (o->nd + 1 >= LN_MAX_DIM)
        return ln_fail(ctx, LN_E_SHAPE, "output of %d dimensions", o->nd + 2);
    for (int w = 0; w < ln_layer_weight_count(s->inner); w++)
        if ((st = ln_layer_share_weight(ctx, l, s->inner, w))) return st;
    out[0].nd = o->nd + 1;
    out[0].dim[0] = in[0].dim[0];
    for (int i = 0; i < o->nd; i++) out[0].dim[i + 1] = o->dim[i];
    return LN_OK;
}

/* t (batch, timesteps, ...) seen as (batch * timesteps, ...): a view
** sharing its storage (released by the caller). */
static ln_tensor *folded(ln_ctx *ctx, const ln_tensor *t) {
    int64_t shape[LN_MAX_DIM];
    shape[0] = t->shape[0] * t->shape[1];
    for (int i = 2; i < t->ndim; i++) shape[i - 1] = t->shape[i];
    return ln_tensor_reshape(ctx, (ln_tensor *)t, t->ndim - 1, shape);
}

/* dst (batch, timesteps, ...) <- src (batch * timesteps, ...). */
static void unfold(ln_tensor *dst, const ln_tensor *src) {
    ln_copy(ln_f32(dst), ln_f32(src), dst->numel);
}

static ln_status tdist_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                               ln_tensor *const *y, unsigned flags) {
    tdist *s = ln_layer_state(l);
    ln_tensor *xf = folded(ctx, x[0]);
    if (!xf) return ctx->status;
    if (!s->own_rng) ln_layer_set_rng(s->inner, ln_layer_rng(l)); /* the wrapper's */
    ln_status st = lu_buffer(ctx, &s->y, 1, &y[0]->numel);
    if (!st) st = ln_layer_forward(ctx, s->inner, 1, (const ln_tensor *const *)&xf, &s->y,
                                   flags);
    ln_tensor_release(xf);
    if (!st) unfold(y[0], s->y);
    return st;
}

static ln_status tdist_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                const ln_tensor *const *y, const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    tdist *s = ln_layer_state(l);
    ln_tensor *xf = folded(ctx, x[0]), *dyf = xf ? folded(ctx, dy[0]) : NULL;
    ln_status st = dyf ? LN_OK : ctx->status;
    if (!st && dx[0]) st = lu_buffer(ctx, &s->dx, 1, &x[0]->numel);
    if (!st) {
        const ln_tensor *in[1] = {xf}, *out[1] = {s->y}, *g[1] = {dyf};
        ln_tensor *dxs[1] = {dx[0] ? s->dx : NULL};
        /* the wrapper's own ln_layer_backward adds the regularization */
        st = ln_layer_backward(ctx, s->inner, in, out, g, dxs, sink, flags | LN_SKIP_REG);
    }
    ln_tensor_release(xf);
    ln_tensor_release(dyf);
    if (!st && dx[0]) unfold(dx[0], s->dx);
    (void)y;
    return st;
}

static const char *tdist_activation(const ln_layer *l) {
    const tdist *s = ln_layer_state(l);
    return ln_layer_output_activation(s->inner);
}

static void tdist_reset_states(ln_layer *l) {
    tdist *s = ln_layer_state(l);
    ln_layer_reset_states(s->inner);
}

static void tdist_destroy(ln_layer *l) {
    tdist *s = ln_layer_state(l);
    ln_layer_free(s->inner);
    ln_tensor_release(s->y);
    ln_tensor_release(s->dx);
}

static const ln_layer_ops ops = {
    .size = sizeof(ln_layer_ops), .state_size = sizeof(tdist), .create = tdist_create,
    .build = tdist_build, .forward = tdist_forward, .backward = tdist_backward,
    .output_activation = tdist_activation, .destroy = tdist_destroy,
    .reset_states = tdist_reset_states, LN_MASK_PASSTHROUGH,
};

static const ln_unit unit = {
    .kind = LN_KIND_LAYER, .name = "time_distributed", .class_name = "TimeDistributed",
    .version = 1, .summary = "applies a layer to every time step (shared weights)",
    .ops = &ops};

LN_PLUGIN("time_distributed") { return host->add(host, &unit); }
