/*
** tape.c -- gradient tapes: tracked tensors, recording, the backward walk
** (tape.h). Gradient functions live in tape_grad*.c and tape_units.c.
**
** A tape maps each tracked tensor (by address: the tape retains it, so the
** address cannot be reused while the entry lives) to a value id; a node
** names its inputs and outputs by value id. The backward walk is
** tape_walk.c.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "tape_impl.h"

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

int32_t tp_map_get(const ln_tape *tp, const ln_tensor *t) {
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
        ln_tensor_set_flags(t, ln_tensor_flags(t) & ~LN_TENSOR_VARIABLE);
        return LN_OK;
    }
    if (t->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "Variable: a %s tensor cannot be a trainable "
                       "variable (gradients are float32)", ln_dtype_name(t->dtype));
    ln_tensor_set_flags(t, ln_tensor_flags(t) | LN_TENSOR_VARIABLE);
    return LN_OK;
}

int ln_tape_is_variable(const ln_tensor *t) {
    return (ln_tensor_flags(t) & LN_TENSOR_VARIABLE) != 0;
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
void tp_relist(ln_tape *tp) {
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
    tp_relist(tp);
    return LN_OK;
}

void ln_tape_end(ln_tape *tp) {
    if (tp->depth > 0) tp->depth--;
    tp_relist(tp);
}

void ln_tape_hold(ln_tape *tp, int on) {
    if (on) tp->held++;
    else if (tp->held > 0) tp->held--;
    tp_relist(tp);
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
    if (tp_map_get(tp, t) >= 0) return LN_OK;
    return add_value(ctx, tp, t, -1) < 0 ? ctx->status : LN_OK;
}

int ln_tape_tracks(const ln_tape *tp, const ln_tensor *t) {
    return tp_map_get(tp, t) >= 0 || (tp->watch_vars && ln_tape_is_variable(t));
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
        if (tp->vals[i].node < 0 && tp_map_get(tp, tp->vals[i].t) == i)
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
        n->ver[i] = ln_tensor_version(x[i]);
        int32_t id = tp_map_get(tp, x[i]);
        if (id < 0 && tp->watch_vars && ln_tape_is_variable(x[i]))
            failed |= (id = add_value(ctx, tp, x[i], -1)) < 0;
        n->xid[i] = id;
    }
    for (int j = 0; j < nout; j++) {
        n->y[j] = y[j];
        ln_tensor_retain(y[j]);
        n->ver[nin + j] = ln_tensor_version(y[j]);
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
    if (t) ln_tensor_bump_version(t);
}

