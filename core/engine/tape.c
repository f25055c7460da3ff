/*
** tape.c -- gradient tapes: tracked tensors, recording, the backward walk
** (tape.h). Gradient functions live in tape_grad*.c and tape_units.c.
**
** A tape maps each tracked tensor (by address: the tape retains it, so the
** address cannot be reused while the entry lives) to a value id; a node
** names its inputs and outputs by value id. The gradient marks the values
** that depend on a source (forward, in recording order) and the nodes on a
** path to a target (backward), then runs those nodes' gradient functions
** in reverse order, summing contributions per value and dropping a value's
** gradient once its producer has run.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "tape_impl.h"

typedef struct tape_value {
    ln_tensor *t;  /* retained */
    int32_t node;  /* producer, -1 for a leaf (watched or variable) */
} tape_value;

struct ln_tape {
    int persistent, watch_vars, consumed;
    int depth;     /* begins minus ends */
    int suspended; /* computing its own gradient */
    int held;      /* stop_recording calls in progress */
    tape_value *vals;
    int32_t nval, capval;
    int32_t *slots; /* open addressing: value id + 1, 0 empty */
    uint32_t nslots;
    tape_node **nodes;
    int32_t nnode, capnode;
    ln_tensor **leaves; /* scratch for ln_tape_watched */
};

#define MAX_RECORDING 64
static ln_tape *recording[MAX_RECORDING];
static int nrecording, paused;

int ln_tape_active(void) { return paused ? 0 : nrecording; }
void ln_tape_pause(void) { paused++; }
void ln_tape_resume(void) {
    if (paused > 0) paused--;
}

/* ---- the value map ------------------------------------------------------------ */

static uint32_t hash_ptr(const void *p) {
    uint64_t v = (uint64_t)(uintptr_t)p;
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (uint32_t)v;
}

static int32_t map_get(const ln_tape *tp, const ln_tensor *t) {
    if (!tp->nslots || !t) return -1;
    for (uint32_t h = hash_ptr(t) & (tp->nslots - 1);; h = (h + 1) & (tp->nslots - 1)) {
        int32_t s = tp->slots[h];
        if (!s) return -1;
        if (tp->vals[s - 1].t == t) return s - 1;
    }
}

/* Point t's slot at value id (insert or replace). */
static void map_put(ln_tape *tp, const ln_tensor *t, int32_t id) {
    for (uint32_t h = hash_ptr(t) & (tp->nslots - 1);; h = (h + 1) & (tp->nslots - 1)) {
        int32_t s = tp->slots[h];
        if (!s || tp->vals[s - 1].t == t) {
            tp->slots[h] = id + 1;
            return;
        }
    }
}

static ln_status grow_map(ln_ctx *ctx, ln_tape *tp) {
    if ((uint32_t)(tp->nval + 1) * 2 <= tp->nslots) return LN_OK;
    uint32_t n = tp->nslots ? tp->nslots * 2 : 64;
    int32_t *s = calloc(n, sizeof *s);
    if (!s) return ln_fail(ctx, LN_E_NOMEM, "GradientTape: out of memory");
    free(tp->slots);
    tp->slots = s;
    tp->nslots = n;
    for (int32_t i = 0; i < tp->nval; i++) map_put(tp, tp->vals[i].t, i);
    return LN_OK;
}

/* A new value for t (retained), made current for its address. */
static int32_t add_value(ln_ctx *ctx, ln_tape *tp, ln_tensor *t, int32_t node) {
    if (grow_map(ctx, tp)) return -1;
    if (tp->nval == tp->capval) {
        int32_t cap = tp->capval ? tp->capval * 2 : 64;
        tape_value *v = realloc(tp->vals, (size_t)cap * sizeof *v);
        if (!v) {
            ln_fail(ctx, LN_E_NOMEM, "GradientTape: out of memory");
            return -1;
        }
        tp->vals = v;
        tp->capval = cap;
    }
    int32_t id = tp->nval++;
    ln_tensor_retain(t);
    tp->vals[id] = (tape_value){t, node};
    map_put(tp, t, id);
    return id;
}

/* ---- variables ------------------------------------------------------------------ */

/* A flag on the tensor object: views and copies are not variables, and
** nothing outlives the tensor. */
ln_status ln_tape_mark_variable(ln_ctx *ctx, ln_tensor *t, int trainable) {
    if (!trainable) {
        t->flags &= ~LN_TENSOR_VARIABLE;
        return LN_OK;
    }
    if (t->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "Variable: a %s tensor cannot be a trainable "
                       "variable (gradients are float32)", ln_dtype_name(t->dtype));
    t->flags |= LN_TENSOR_VARIABLE;
    return LN_OK;
}

int ln_tape_is_variable(const ln_tensor *t) {
    return (t->flags & LN_TENSOR_VARIABLE) != 0;
}

/* ---- tapes -------------------------------------------------------------------------- */

ln_tape *ln_tape_new(ln_ctx *ctx, int persistent, int watch_variables) {
    ln_tape *tp = calloc(1, sizeof *tp);
    if (!tp) {
        ln_fail(ctx, LN_E_NOMEM, "GradientTape: out of memory");
        return NULL;
    }
    tp->persistent = persistent;
    tp->watch_vars = watch_variables;
    return tp;
}

static void node_free(tape_node *n) {
    for (int i = 0; i < n->nin; i++) ln_tensor_release(n->x[i]);
    for (int i = 0; i < n->nout; i++) ln_tensor_release(n->y[i]);
    ln_tensor_release(n->p.aux);
    free(n);
}

void ln_tape_reset(ln_tape *tp) {
    for (int32_t i = 0; i < tp->nnode; i++) node_free(tp->nodes[i]);
    for (int32_t i = 0; i < tp->nval; i++) ln_tensor_release(tp->vals[i].t);
    tp->nnode = tp->nval = 0;
    if (tp->nslots) memset(tp->slots, 0, tp->nslots * sizeof *tp->slots);
    tp->consumed = 0;
}

static void stop_recording(ln_tape *tp) {
    for (int i = 0; i < nrecording; i++)
        if (recording[i] == tp) {
            memmove(recording + i, recording + i + 1,
                    (size_t)(nrecording - i - 1) * sizeof *recording);
            nrecording--;
            return;
        }
}

/* Put tp in the recording list exactly when it records. */
static void relist(ln_tape *tp) {
    stop_recording(tp);
    if (tp->depth > 0 && !tp->suspended && !tp->held && nrecording < MAX_RECORDING)
        recording[nrecording++] = tp;
}

void ln_tape_free(ln_tape *tp) {
    if (!tp) return;
    stop_recording(tp);
    ln_tape_reset(tp);
    free(tp->vals);
    free(tp->slots);
    free(tp->nodes);
    free(tp->leaves);
    free(tp);
}

ln_status ln_tape_begin(ln_ctx *ctx, ln_tape *tp) {
    if (tp->consumed)
        return ln_fail(ctx, LN_E_STATE, "GradientTape: a non-persistent tape "
                       "records once (make it with {persistent = true} to use it "
                       "again)");
    if (tp->depth == 0 && nrecording == MAX_RECORDING)
        return ln_fail(ctx, LN_E_STATE, "GradientTape: more than %d tapes "
                       "recording at once", MAX_RECORDING);
    tp->depth++;
    relist(tp);
    return LN_OK;
}

void ln_tape_end(ln_tape *tp) {
    if (tp->depth > 0) tp->depth--;
    relist(tp);
}

void ln_tape_hold(ln_tape *tp, int on) {
    if (on) tp->held++;
    else if (tp->held > 0) tp->held--;
    relist(tp);
}

int ln_tape_is_recording(const ln_tape *tp) {
    return tp->depth > 0 && !tp->suspended && !tp->held;
}

int ln_tape_node_count(const ln_tape *tp) { return tp->nnode; }

ln_status ln_tape_watch(ln_ctx *ctx, ln_tape *tp, ln_tensor *t) {
    if (t->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "watch: a %s tensor has no gradient (only "
                       "float32 tensors can be watched)", ln_dtype_name(t->dtype));
    if (tp->consumed)
        return ln_fail(ctx, LN_E_STATE, "watch: this non-persistent tape has "
                       "already given its gradients");
    if (map_get(tp, t) >= 0) return LN_OK;
    return add_value(ctx, tp, t, -1) < 0 ? ctx->status : LN_OK;
}

int ln_tape_tracks(const ln_tape *tp, const ln_tensor *t) {
    return map_get(tp, t) >= 0 || (tp->watch_vars && ln_tape_is_variable(t));
}

int ln_tape_any_tracks(const ln_tensor *t) {
    if (!ln_tape_active()) return 0;
    for (int i = 0; i < nrecording; i++)
        if (ln_tape_tracks(recording[i], t)) return 1;
    return 0;
}

ln_tensor *const *ln_tape_watched(const ln_tape *tp, int *n) {
    ln_tape *w = (ln_tape *)tp;
    free(w->leaves);
    w->leaves = malloc(sizeof *w->leaves * (size_t)(tp->nval ? tp->nval : 1));
    int k = 0;
    for (int32_t i = 0; w->leaves && i < tp->nval; i++)
        if (tp->vals[i].node < 0 && map_get(tp, tp->vals[i].t) == i)
            w->leaves[k++] = tp->vals[i].t;
    *n = k;
    return w->leaves;
}

/* ---- recording ------------------------------------------------------------------------ */

static ln_status record_on(ln_ctx *ctx, ln_tape *tp, ln_tape_opcode op, int nin,
                           ln_tensor *const *x, int nout, ln_tensor *const *y,
                           const ln_tape_params *p) {
    if (tp->nnode == tp->capnode) {
        int32_t cap = tp->capnode ? tp->capnode * 2 : 64;
        tape_node **nn = realloc(tp->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return ln_fail(ctx, LN_E_NOMEM, "GradientTape: out of memory");
        tp->nodes = nn;
        tp->capnode = cap;
    }
    int nt = nin + nout;
    size_t bytes = sizeof(tape_node) + (size_t)nt * (sizeof(ln_tensor *) +
                   sizeof(int32_t) + sizeof(uint32_t));
    tape_node *n = calloc(1, bytes);
    if (!n) return ln_fail(ctx, LN_E_NOMEM, "GradientTape: out of memory");
    n->op = op;
    n->nin = nin;
    n->nout = nout;
    n->x = (ln_tensor **)(n + 1);
    n->y = n->x + nin;
    n->xid = (int32_t *)(n->x + nt);
    n->yid = n->xid + nin;
    n->ver = (uint32_t *)(n->xid + nt);
    if (p) n->p = *p;
    if (n->p.aux) ln_tensor_retain(n->p.aux);
    int32_t self = tp->nnode;
    int failed = 0;
    for (int i = 0; i < nin; i++) {
        n->x[i] = x[i];
        n->xid[i] = -1;
        if (!x[i]) continue;
        ln_tensor_retain(x[i]);
        n->ver[i] = x[i]->storage->version;
        int32_t id = map_get(tp, x[i]);
        if (id < 0 && tp->watch_vars && ln_tape_is_variable(x[i]))
            failed |= (id = add_value(ctx, tp, x[i], -1)) < 0;
        n->xid[i] = id;
    }
    for (int j = 0; j < nout; j++) {
        n->y[j] = y[j];
        ln_tensor_retain(y[j]);
        n->ver[nin + j] = y[j]->storage->version;
        n->yid[j] = -1;
        if (y[j]->dtype == LN_FLOAT32)
            failed |= (n->yid[j] = add_value(ctx, tp, y[j], self)) < 0;
    }
    tp->nodes[tp->nnode++] = n; /* kept even on failure: the tape owns it */
    return failed ? LN_E_NOMEM : LN_OK;
}

ln_status ln_tape_record(ln_ctx *ctx, ln_tape_opcode op, int nin,
                         ln_tensor *const *x, int nout, ln_tensor *const *y,
                         const ln_tape_params *p) {
    if (!ln_tape_active()) return LN_OK;
    for (int k = 0; k < nrecording; k++) {
        ln_tape *tp = recording[k];
        int tracked = 0;
        for (int i = 0; i < nin && !tracked; i++)
            tracked = x[i] && ln_tape_tracks(tp, x[i]);
        if (!tracked) continue;
        ln_status st = record_on(ctx, tp, op, nin, x, nout, y, p);
        if (st) return st;
    }
    return LN_OK;
}

void ln_tape_note_write(ln_tensor *t) {
    if (t) t->storage->version++;
}

/* ---- the gradient --------------------------------------------------------------------- */

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
    } else if (s->refcount == 1 && s->storage->refcount == 1) {
        ln_axpy(ln_f32(s), 1.0f, ln_f32(g), s->numel);
        ln_tensor_release(g);
        return LN_OK;
    } else if (g->refcount == 1 && g->storage->refcount == 1) {
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
        if (t && t->storage->version != n->ver[i])
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
        int32_t id = map_get(tp, sources[i]);
        if (id >= 0) w.reach[id] = w.keep[id] = 1;
    }
    for (int i = 0; i < ntargets; i++) {
        int32_t id = map_get(tp, targets[i]);
        if (id >= 0) w.needed[id] = 1;
    }
    mark(tp, &w);
    /* Sources are reachable from themselves only: stop the walk above them. */
    tp->suspended = 1;
    relist(tp);
    for (int i = 0; i < ntargets && !st; i++) {
        int32_t id = map_get(tp, targets[i]);
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
    relist(tp);
    for (int i = 0; i < nsources && !st; i++) {
        int32_t id = map_get(tp, sources[i]);
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
