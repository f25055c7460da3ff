/*
** tape_units.c -- activation, loss and layer units on the tape, and layer
** regularization: each is differentiated by the unit's own backward
** (once: these gradients are not recorded).
**
** Layers keep per-call state (Dense's pre-activation, Dropout's mask,
** BatchNormalization's batch statistics), so a layer node is "fresh" only
** while no other forward of that layer has run: every tape forward stamps
** the layer, and forwards outside the tape (the low-level layer API, nets)
** are noted by the binding. A stale node runs its forward again first,
** with the generator state it had and the layer's non-trainable weights
** restored around it. The layer's regularizers are not part of its node:
** their penalty is a node of its own (ln_tape_layer_regularization), as
** Keras adds model.losses to the loss explicitly.
*/
#include <stdlib.h>
#include <string.h>

#include "lunet/engine/layer.h"
#include "lunet/memory.h"
#include "tape_impl.h"

/* ---- layer stamps ------------------------------------------------------------ */

#define NSTAMPS 256
static struct {
    const ln_layer *l;
    uint64_t stamp;
} stamps[NSTAMPS]; /* direct-mapped: a collision only costs a recompute */
static uint64_t last_stamp, net_epoch;

static uint32_t slot_of(const ln_layer *l) {
    return (uint32_t)(((uintptr_t)l >> 4) * 2654435761u) % NSTAMPS;
}

static uint64_t stamp_layer(const ln_layer *l) {
    uint32_t s = slot_of(l);
    stamps[s].l = l;
    stamps[s].stamp = ++last_stamp;
    return last_stamp;
}

static int fresh(const tape_node *n) {
    const ln_layer *l = n->p.unit;
    uint32_t s = slot_of(l);
    return stamps[s].l == l && stamps[s].stamp == (uint64_t)n->p.i[3] &&
           net_epoch == (uint64_t)n->p.i[4];
}

void ln_tape_note_layer_forward(const ln_layer *l) {
    if (l) stamp_layer(l);
    else net_epoch++;
}

/* ---- layers ---------------------------------------------------------------------- */

static void release_all(int n, ln_tensor **t) {
    for (int j = 0; j < n; j++) {
        ln_tensor_release(t[j]);
        t[j] = NULL;
    }
}

/* New empty tensors y[0..n) for a layer's outputs. */
static ln_status new_outputs(ln_ctx *ctx, int n, ln_tensor **y) {
    int64_t zero = 0;
    for (int j = 0; j < n; j++)
        if (!(y[j] = ln_tensor_empty(ctx, LN_FLOAT32, 1, &zero))) {
            release_all(j, y);
            return ctx->status;
        }
    return LN_OK;
}

ln_status ln_tape_layer_call(ln_ctx *ctx, ln_layer *l, int nx, ln_tensor *const *x,
                             unsigned flags, int *ny, ln_tensor **y) {
    if (nx < 1 || nx > LN_TAPE_MAX_LAYER_INPUTS)
        return ln_fail(ctx, LN_E_ARG, "%s: called on %d inputs (1 to %d on a tape)",
                       ln_layer_name(l), nx, LN_TAPE_MAX_LAYER_INPUTS);
    /* the output count is known once built: build for x's shapes first */
    if (!ln_layer_built(l)) {
        ln_shape in[LN_TAPE_MAX_LAYER_INPUTS];
        for (int i = 0; i < nx; i++) {
            if (x[i]->ndim < 1 || x[i]->ndim > LN_MAX_DIM)
                return ln_fail(ctx, LN_E_SHAPE, "%s: input %d has %d dimensions (a batch "
                               "axis first)", ln_layer_name(l), i + 1, x[i]->ndim);
            in[i].nd = x[i]->ndim - 1;
            for (int d = 1; d < x[i]->ndim; d++) in[i].dim[d - 1] = x[i]->shape[d];
        }
        ln_status st = ln_layer_build(ctx, l, nx, in);
        if (st) return st;
    }
    int nout = ln_layer_output_count(l);
    ln_status st = new_outputs(ctx, nout, y);
    if (st) return st;
    ln_rng before = *ln_layer_rng(l);
    st = ln_layer_forward(ctx, l, nx, (const ln_tensor *const *)x, y, flags);
    if (st) {
        release_all(nout, y);
        return st;
    }
    ln_tape_params p = {0};
    p.unit = l;
    p.i[0] = flags;
    p.i[1] = (int64_t)before.seed;
    p.i[2] = (int64_t)before.counter;
    p.i[3] = (int64_t)stamp_layer(l);
    p.i[4] = (int64_t)net_epoch;
    p.i[5] = nx;
    ln_tensor *in[LN_TAPE_MAX_LAYER_INPUTS + LN_MAX_WEIGHTS];
    int nin = 0;
    for (int i = 0; i < nx; i++) in[nin++] = x[i];
    for (int k = 0; k < ln_layer_weight_count(l) && !st; k++) {
        if (!ln_layer_grad(l, k) || !ln_layer_trains(l, k)) continue;
        st = ln_tape_mark_variable(ctx, ln_layer_weight(l, k), 1);
        in[nin++] = ln_layer_weight(l, k);
    }
    if (!st) st = ln_tape_record(ctx, LN_OP_LAYER, nin, in, nout, y, &p);
    if (st) {
        release_all(nout, y);
        return st;
    }
    *ny = nout;
    return LN_OK;
}

ln_status ln_tape_layer_forward(ln_ctx *ctx, ln_layer *l, ln_tensor *x,
                                unsigned flags, ln_tensor **yout) {
    ln_tensor *y[LN_MAX_OUTPUTS];
    int ny;
    ln_status st = ln_tape_layer_call(ctx, l, 1, &x, flags, &ny, y);
    if (st) return st;
    release_all(ny - 1, y + 1); /* the first output only */
    *yout = y[0];
    return LN_OK;
}

/* Run the node's forward again: the layer's state is then this call's. */
static ln_status recompute(ln_ctx *ctx, const tape_node *n) {
    ln_layer *l = (ln_layer *)n->p.unit;
    ln_tensor *keep[LN_MAX_WEIGHTS] = {0}, *y[LN_MAX_OUTPUTS] = {0};
    ln_status st = LN_OK;
    int nw = ln_layer_weight_count(l);
    for (int k = 0; k < nw && !st; k++)
        if (!ln_layer_weight_trainable(l, k) &&
            !(keep[k] = ln_tensor_clone(ctx, ln_layer_weight(l, k))))
            st = ctx->status;
    if (!st) st = new_outputs(ctx, n->nout, y);
    if (!st) {
        ln_rng *rng = ln_layer_rng(l), now = *rng;
        rng->seed = (uint64_t)n->p.i[1];
        rng->counter = (uint64_t)n->p.i[2];
        st = ln_layer_forward(ctx, l, (int)n->p.i[5], (const ln_tensor *const *)n->x, y,
                              (unsigned)n->p.i[0]);
        *rng = now;
    }
    for (int k = 0; k < nw; k++)
        if (keep[k]) {
            ln_tensor_copy(NULL, ln_layer_weight(l, k), keep[k]);
            ln_tensor_release(keep[k]);
        }
    release_all(n->nout, y);
    if (st) return st;
    uint32_t s = slot_of(l);
    stamps[s].l = l;
    stamps[s].stamp = (uint64_t)n->p.i[3];
    return LN_OK;
}

/* The data inputs' gradients and the weights' from the layer's backward,
** without its regularizers (ln_layer_backward's checks, then the plugin).
** An output without a gradient (gout[j] NULL) counts as zeros. */
static ln_status layer_grad(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                            const int *need, ln_tensor **gin) {
    ln_layer *l = (ln_layer *)n->p.unit;
    int nx = (int)n->p.i[5], need_dw = 0;
    for (int i = nx; i < n->nin; i++) need_dw |= need[i];
    if (!fresh(n)) {
        ln_status st = recompute(ctx, n);
        if (st) return st;
    }
    unsigned flags = (unsigned)n->p.i[0] |
                     (need_dw && ln_layer_trainable(l) ? LN_NEED_DW : 0);
    ln_tensor *zeros[LN_MAX_OUTPUTS] = {0};
    const ln_tensor *gs[LN_MAX_OUTPUTS];
    ln_status st = LN_OK;
    for (int j = 0; j < n->nout && !st; j++) {
        if (!gout[j] && !(zeros[j] = ln_tensor_new_like(ctx, n->y[j]))) st = ctx->status;
        gs[j] = gout[j] ? gout[j] : zeros[j];
    }
    for (int i = 0; i < nx && !st; i++)
        if (need[i] && !(gin[i] = ln_tensor_empty(ctx, LN_FLOAT32, n->x[i]->ndim,
                                                  n->x[i]->shape)))
            st = ctx->status;
    /* the plugin's own backward: ln_layer_backward would add the
    ** regularizers, which are a node of their own here */
    if (!st) {
        const ln_layer_ops *ops = ln_layer_unit(l)->ops;
        st = ops->backward(ctx, l, (const ln_tensor *const *)n->x,
                           (const ln_tensor *const *)n->y, gs, gin, NULL, flags);
        if (st) ln_prefix(ctx, "%s", ln_layer_name(l));
    }
    release_all(n->nout, zeros);
    if (st) return st;
    for (int i = nx; i < n->nin; i++) {
        if (!need[i] || !(flags & LN_NEED_DW)) continue;
        for (int k = 0; k < ln_layer_weight_count(l); k++) {
            ln_tensor *gw = ln_layer_grad(l, k);
            if (ln_layer_weight(l, k) != n->x[i] || !gw || !ln_layer_trains(l, k)) continue;
            if (!(gin[i] = ln_tensor_clone(ctx, gw))) return ctx->status;
        }
    }
    return LN_OK;
}

/* ---- regularization ------------------------------------------------------------------ */

ln_tensor *ln_tape_layer_regularization(ln_ctx *ctx, ln_layer *l) {
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, 0, NULL);
    if (!y) return NULL;
    ln_f32(y)[0] = (float)ln_layer_regularization_loss(l);
    ln_tensor *in[LN_MAX_WEIGHTS];
    int nin = 0;
    ln_status st = LN_OK;
    for (int k = 0; k < ln_layer_weight_count(l) && !st; k++) {
        double l1, l2;
        ln_layer_regularizer(l, k, &l1, &l2);
        if (!ln_layer_grad(l, k) || !ln_layer_trains(l, k) || (l1 == 0 && l2 == 0)) continue;
        st = ln_tape_mark_variable(ctx, ln_layer_weight(l, k), 1);
        in[nin++] = ln_layer_weight(l, k);
    }
    ln_tape_params p = {0};
    p.unit = l;
    if (!st && nin) st = ln_tape_record(ctx, LN_OP_REGULARIZATION, nin, in, 1, &y, &p);
    if (st) {
        ln_tensor_release(y);
        return NULL;
    }
    return y;
}

/* g (2 l2 w + l1 sign(w)): the sum ln_layer_backward adds, scaled by g. */
static ln_status reg_grad(ln_ctx *ctx, const tape_node *n, ln_tensor *g,
                          const int *need, ln_tensor **gin) {
    const ln_layer *l = n->p.unit;
    float s = ln_f32(g)[0];
    for (int i = 0; i < n->nin; i++) {
        if (!need[i]) continue;
        double wl1 = 0, wl2 = 0;
        for (int k = 0; k < ln_layer_weight_count(l); k++)
            if (ln_layer_weight(l, k) == n->x[i]) ln_layer_regularizer(l, k, &wl1, &wl2);
        ln_tensor *v = n->x[i];
        if (!(gin[i] = ln_tensor_empty(ctx, LN_FLOAT32, v->ndim, v->shape)))
            return ctx->status;
        const float *pv = ln_f32(v);
        float *pg = ln_f32(gin[i]);
        float l1 = (float)wl1, l2x2 = (float)(2 * wl2);
        for (int64_t j = 0; j < v->numel; j++) {
            pg[j] = l2x2 * pv[j] + l1 * (float)((pv[j] > 0) - (pv[j] < 0));
            if (s != 1.0f) pg[j] *= s;
        }
    }
    return LN_OK;
}

/* ---- activations and losses ------------------------------------------------------------ */

static ln_status activation_grad(ln_ctx *ctx, const tape_node *n, ln_tensor *g,
                                 ln_tensor **gin) {
    const ln_activation *a = n->p.unit;
    ln_tensor *x = n->x[0], *y = n->y[0];
    if (!(gin[0] = ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape)))
        return ctx->status;
    int64_t cols = x->ndim ? x->shape[x->ndim - 1] : 1;
    ln_activation_backward(a, ln_f32(x), ln_f32(y), ln_f32(g), ln_f32(gin[0]),
                           cols ? x->numel / cols : 0, cols);
    return LN_OK;
}

/* The loss's gradient of its batch mean, scaled by g (LN_OP_LOSS) or, per
** sample, by N g[i] (LN_OP_LOSS_PER_SAMPLE: each sample's loss depends on
** its own prediction only). */
static ln_status loss_grad(ln_ctx *ctx, const tape_node *n, ln_tensor *g,
                           ln_tensor **gin) {
    const ln_object *o = n->p.unit;
    const ln_loss_ops *ops = o->unit->ops;
    ln_tensor *pred = n->x[0];
    if (!(gin[0] = ln_tensor_empty(ctx, LN_FLOAT32, pred->ndim, pred->shape)))
        return ctx->status;
    double v;
    ln_status st = ops->compute(ctx, o->state, pred, n->p.aux, (int)n->p.i[0], &v,
                                gin[0]);
    if (st) return st;
    float *d = ln_f32(gin[0]);
    const float *pg = ln_f32(g);
    if (n->op == LN_OP_LOSS) {
        if (pg[0] != 1.0f)
            for (int64_t j = 0; j < pred->numel; j++) d[j] *= pg[0];
        return LN_OK;
    }
    int64_t rows = pred->ndim ? pred->shape[0] : 1;
    int64_t cell = rows ? pred->numel / rows : 0;
    for (int64_t r = 0; r < rows; r++) {
        float f = pg[r] * (float)rows;
        for (int64_t j = 0; j < cell; j++) d[r * cell + j] *= f;
    }
    return LN_OK;
}

ln_status tp_grad_unit(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                       const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0];
    ln_status st;
    switch (n->op) {
    case LN_OP_ACTIVATION: st = need[0] ? activation_grad(ctx, n, g, gin) : LN_OK; break;
    case LN_OP_LOSS:
    case LN_OP_LOSS_PER_SAMPLE: st = need[0] ? loss_grad(ctx, n, g, gin) : LN_OK; break;
    case LN_OP_LAYER: st = layer_grad(ctx, n, gout, need, gin); break;
    case LN_OP_REGULARIZATION: st = reg_grad(ctx, n, g, need, gin); break;
    default: return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad unit op");
    }
    if (st)
        for (int i = 0; i < n->nin; i++) {
            ln_tensor_release(gin[i]);
            gin[i] = NULL;
        }
    return st;
}

/* The unit's name for messages. */
const char *tp_node_name(const tape_node *n) {
    if (n->p.name) return n->p.name;
    switch (n->op) {
    case LN_OP_ACTIVATION:
    case LN_OP_LOSS:
    case LN_OP_LOSS_PER_SAMPLE:
        return ((const ln_object *)n->p.unit)->unit->name;
    case LN_OP_LAYER:
    case LN_OP_REGULARIZATION:
        return ln_layer_name((const ln_layer *)n->p.unit);
    default: return ln_tape_ops[n->op].name;
    }
}
