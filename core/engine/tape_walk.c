/*
** tape_walk.c -- ln_tape_gradient: mark the values that depend on a source
** (forward, in recording order) and the nodes on a path to a target
** (backward), then run those nodes' gradient functions in reverse order,
** summing contributions per value and dropping a value's gradient once its
** producer has run.
*/
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "tape_impl.h"

/* *slot += g (takes g's reference): in place when *slot is ours alone. */
static ln_status accumulate(ln_ctx *ctx, ln_tensor **slot, ln_tensor *g) {
    ln_tensor *s = *slot;
    if (!s) {
        *slot = g;
        return LN_OK;
    }
    ln_tensor *sum;
    if (ln_tape_active()) {
        sum = tp_binary(ctx, LN_OP_ADD, s, g);
    } else if (ln_tensor_sole_owner(s)) {
        ln_axpy(ln_f32(s), 1.0f, ln_f32(g), s->numel);
        ln_tensor_release(g);
        return LN_OK;
    } else if (ln_tensor_sole_owner(g)) {
        ln_axpy(ln_f32(g), 1.0f, ln_f32(s), g->numel);
        ln_tensor_release(s);
        *slot = g;
        return LN_OK;
    } else {
        sum = ln_tensor_empty(ctx, LN_FLOAT32, s->ndim, s->shape);
        if (sum)
            ln_binary(LN_B_ADD, ln_f32(sum), s->ndim, s->shape, ln_f32(s), s->ndim,
                      s->shape, ln_f32(g), g->ndim, g->shape);
    }
    ln_tensor_release(s);
    ln_tensor_release(g);
    *slot = sum;
    return sum ? LN_OK : ctx->status;
}

/* The gradient of a unit is computed by the unit: when another tape records
** and tracks what flowed into it, record that the result cannot be
** differentiated again. */
static ln_status mark_once(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                           ln_tensor **gin) {
    ln_tensor *ins[64], *outs[64];
    int ni = 0, no = 0;
    for (int j = 0; j < n->nout && ni < 32; j++)
        if (gout[j]) ins[ni++] = gout[j];
    for (int i = 0; i < n->nin && ni < 64; i++)
        if (n->x[i]) ins[ni++] = n->x[i];
    for (int i = 0; i < n->nin && no < 64; i++)
        if (gin[i]) outs[no++] = gin[i];
    if (!no) return LN_OK;
    ln_tape_params p = {0};
    p.name = tp_node_name(n);
    return ln_tape_record(ctx, LN_OP_NONDIFF, ni, ins, no, outs, &p);
}

static ln_status check_versions(ln_ctx *ctx, const tape_node *n) {
    for (int i = 0; i < n->nin + n->nout; i++) {
        ln_tensor *t = i < n->nin ? n->x[i] : n->y[i - n->nin];
        if (t && ln_tensor_version(t) != n->ver[i])
            return ln_fail(ctx, LN_E_STATE, "gradient: a tensor that '%s' used was "
                           "modified in place after the tape recorded it (compute "
                           "the gradient first, or use out-of-place operations)",
                           tp_node_name(n));
    }
    return LN_OK;
}

typedef struct walk {
    uint8_t *reach;   /* per value: depends on a source */
    uint8_t *needed;  /* per value: a target depends on it */
    uint8_t *keep;    /* per value: a source (its gradient is returned) */
    ln_tensor **grad; /* per value */
} walk;

static void walk_free(walk *w, int32_t nval) {
    if (w->grad)
        for (int32_t i = 0; i < nval; i++) ln_tensor_release(w->grad[i]);
    free(w->reach);
    free(w->needed);
    free(w->keep);
    free(w->grad);
}

static ln_status check_float(ln_ctx *ctx, const ln_tensor *t, const char *what,
                             int i) {
    if (t->dtype == LN_FLOAT32) return LN_OK;
    return ln_fail(ctx, LN_E_ARG, "gradient: %s %d is a %s tensor; only float32 "
                   "tensors have gradients", what, i + 1, ln_dtype_name(t->dtype));
}

/* Run the gradient functions of the nodes between sources and targets. */
static ln_status backward(ln_ctx *ctx, ln_tape *tp, walk *w) {
    ln_tensor *gout[64], *gin[256];
    int need[256];
    for (int32_t k = tp->nnode - 1; k >= 0; k--) {
        const tape_node *n = tp->nodes[k];
        int any_out = 0, any_in = 0;
        for (int j = 0; j < n->nout; j++) {
            gout[j] = n->yid[j] >= 0 ? w->grad[n->yid[j]] : NULL;
            any_out |= gout[j] != NULL;
        }
        for (int i = 0; i < n->nin; i++) {
            need[i] = n->xid[i] >= 0 && w->reach[n->xid[i]] && w->needed[n->xid[i]];
            any_in |= need[i];
            gin[i] = NULL;
        }
        if (any_out && any_in) {
            const tape_op_info *op = &ln_tape_ops[n->op];
            if (!op->grad)
                return ln_fail(ctx, LN_E_ARG, "gradient: the target depends on a "
                               "source through '%s', which is not differentiable",
                               tp_node_name(n));
            ln_status st = check_versions(ctx, n);
            if (!st) st = op->grad(ctx, n, gout, need, gin);
            if (!st && op->once && ln_tape_active()) st = mark_once(ctx, n, gout, gin);
            for (int i = 0; i < n->nin; i++) {
                if (!gin[i]) continue;
                if (!st && need[i]) st = accumulate(ctx, &w->grad[n->xid[i]], gin[i]);
                else ln_tensor_release(gin[i]);
            }
            if (st) return st;
        }
        for (int j = 0; j < n->nout; j++) /* complete; no longer needed */
            if (n->yid[j] >= 0 && !w->keep[n->yid[j]]) {
                ln_tensor_release(w->grad[n->yid[j]]);
                w->grad[n->yid[j]] = NULL;
            }
    }
    return LN_OK;
}

/* Mark values depending on a source, then those a target depends on. */
static void mark(const ln_tape *tp, walk *w) {
    for (int32_t k = 0; k < tp->nnode; k++) {
        const tape_node *n = tp->nodes[k];
        int r = 0;
        for (int i = 0; i < n->nin; i++) r |= n->xid[i] >= 0 && w->reach[n->xid[i]];
        if (r)
            for (int j = 0; j < n->nout; j++)
                if (n->yid[j] >= 0) w->reach[n->yid[j]] = 1;
    }
    for (int32_t k = tp->nnode - 1; k >= 0; k--) {
        const tape_node *n = tp->nodes[k];
        int need = 0;
        for (int j = 0; j < n->nout; j++) need |= n->yid[j] >= 0 && w->needed[n->yid[j]];
        if (need)
            for (int i = 0; i < n->nin; i++)
                if (n->xid[i] >= 0) w->needed[n->xid[i]] = 1;
    }
}

ln_status ln_tape_gradient(ln_ctx *ctx, ln_tape *tp, int ntargets,
                           ln_tensor *const *targets, ln_tensor *const *seeds,
                           int nsources, ln_tensor *const *sources,
                           ln_tensor **grads) {
    char a[128], b[128];
    for (int i = 0; i < nsources; i++) grads[i] = NULL;
    if (tp->consumed)
        return ln_fail(ctx, LN_E_STATE, "gradient: a non-persistent GradientTape "
                       "gives one set of gradients (make it with {persistent = "
                       "true} to ask again)");
    if (tp->suspended)
        return ln_fail(ctx, LN_E_STATE, "gradient: called on a tape while it "
                       "computes its own gradient");
    ln_status st = LN_OK;
    for (int i = 0; i < ntargets && !st; i++) {
        st = check_float(ctx, targets[i], "target", i);
        if (!st && seeds && seeds[i] && !ln_shape_equal(seeds[i], targets[i]))
            st = ln_fail(ctx, LN_E_SHAPE, "gradient: output gradient %d has shape %s, "
                         "its target %s", i + 1, ln_shape_str(seeds[i], a, sizeof a),
                         ln_shape_str(targets[i], b, sizeof b));
        if (!st && seeds && seeds[i]) st = check_float(ctx, seeds[i], "output gradient", i);
    }
    for (int i = 0; i < nsources && !st; i++) st = check_float(ctx, sources[i], "source", i);
    if (st) return st;
    walk w = {0};
    int32_t nv = tp->nval;
    w.reach = calloc((size_t)nv + 1, 1);
    w.needed = calloc((size_t)nv + 1, 1);
    w.keep = calloc((size_t)nv + 1, 1);
    w.grad = calloc((size_t)nv + 1, sizeof *w.grad);
    if (!w.reach || !w.needed || !w.keep || !w.grad) {
        walk_free(&w, 0);
        return ln_fail(ctx, LN_E_NOMEM, "gradient: out of memory");
    }
    int any = 0;
    for (int i = 0; i < nsources; i++) {
        int32_t id = tp_map_get(tp, sources[i]);
        if (id >= 0) w.reach[id] = w.keep[id] = 1;
    }
    for (int i = 0; i < ntargets; i++) {
        int32_t id = tp_map_get(tp, targets[i]);
        if (id >= 0) w.needed[id] = 1;
    }
    mark(tp, &w);
    /* Sources are reachable from themselves only: stop the walk above them. */
    tp->suspended = 1;
    tp_relist(tp);
    for (int i = 0; i < ntargets && !st; i++) {
        int32_t id = tp_map_get(tp, targets[i]);
        if (id < 0 || !w.reach[id]) continue;
        any = 1;
        ln_tensor *s = seeds ? seeds[i] : NULL;
        if (s) ln_tensor_retain(s);
        else if ((s = ln_tensor_empty(ctx, LN_FLOAT32, targets[i]->ndim, targets[i]->shape)))
            ln_fill(ln_f32(s), s->numel, 1.0f);
        st = s ? accumulate(ctx, &w.grad[id], s) : ctx->status;
    }
    if (!st && any) st = backward(ctx, tp, &w);
    tp->suspended = 0;
    tp_relist(tp);
    for (int i = 0; i < nsources && !st; i++) {
        int32_t id = tp_map_get(tp, sources[i]);
        if (id < 0 || !w.grad[id]) continue;
        grads[i] = w.grad[id];
        ln_tensor_retain(grads[i]);
    }
    walk_free(&w, nv);
    if (st)
        for (int i = 0; i < nsources; i++) {
            ln_tensor_release(grads[i]);
            grads[i] = NULL;
        }
    if (!tp->persistent) {
        ln_tape_reset(tp);
        tp->consumed = 1;
    }
    return st;
}
