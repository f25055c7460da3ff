/*
** net_update.c -- the optimizer a net's training step applies: its
** (gradient, variable) pairs, and the gradient sink through which layers
** hand over finished blocks of weight gradients during backward.
**
** When the early update is armed, a layer's backward gets a sink bound to
** that layer; sink->ready(w, lo, hi) runs the optimizer's update over
** elements [lo, hi) of the pair holding weight w, at once, while they are
** hot in cache (the optimizer's step applied in pieces: optimizer_impl.h).
** The variables nobody handed over are updated after backward, whole.
** The numbers are those of one ln_optimizer_apply after backward: update
** rules are elementwise unless they say otherwise (LN_OPT_WHOLE_VARIABLE),
** and then the update is never armed.
**
** A regularized weight's blocks take the penalty's gradient inside the
** optimizer's own pass when the plugin offers update_reg (plugin.h, ABI
** 2.3; ln__sink_folds_reg tells layer_reg.c's sink to hand them on
** untouched), else that sink adds it to each block first.
** A regularized weight's new values also have their penalty summed as the
** update writes them (layer_reg.h's chunks: the chunks wholly inside each
** block handed over, the few across blocks at the end), so the next
** batch's loss takes it from here instead of one more pass over every
** weight (ln__update_penalty; the same number to the bit).
*/
#include <stdlib.h>

#include <string.h>

#include "layer_reg.h"
#include "net_impl.h"
#include "optimizer_impl.h"

void ln__update_free(ln_update *u) {
    free(u->vars);
    free(u->grads);
    free(u->names);
    free((void *)u->covered);
    free(u->pen_l1);
    free(u->pen_l2);
    free(u->pen_part);
    free(u->pen_done);
    free(u->pen_off);
}

static int64_t pen_chunks(const ln_tensor *t) {
    return (t->numel + LN__PEN_CHUNK - 1) / LN__PEN_CHUNK;
}

/* The penalty buffers for pairs vars[0..n) (no step is running). */
static ln_status pen_alloc(ln_ctx *ctx, ln_update *u, int n) {
    u->pen_valid = 0;
    int64_t *off = realloc(u->pen_off, (size_t)(n + 1) * sizeof *off);
    if (!off) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    u->pen_off = off;
    off[0] = 0;
    for (int i = 0; i < n; i++) off[i + 1] = off[i] + pen_chunks(u->vars[i]);
    size_t m = (size_t)(off[n] > 0 ? off[n] : 1);
    double *l1 = realloc(u->pen_l1, (size_t)n * sizeof *l1);
    if (l1) u->pen_l1 = l1;
    double *l2 = l1 ? realloc(u->pen_l2, (size_t)n * sizeof *l2) : NULL;
    if (l2) u->pen_l2 = l2;
    double *part = l2 ? realloc(u->pen_part, m * sizeof *part) : NULL;
    if (part) u->pen_part = part;
    unsigned char *done = part ? realloc(u->pen_done, m) : NULL;
    if (!done) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    u->pen_done = done;
    for (int i = 0; i < n; i++) u->pen_l1[i] = u->pen_l2[i] = 0;
    return LN_OK;
}

ln_status ln_net_set_optimizer(ln_ctx *ctx, ln_net *net, ln_optimizer *opt,
                               int n, ln_tensor *const *vars,
                               ln_tensor *const *grads,
                               const char *const *names) {
    ln_update *u = &net->update;
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative pair count");
    u->pen_valid = 0;
    if (!opt || n == 0) {
        u->opt = NULL;
        u->n = 0;
        return LN_OK;
    }
    if (n > u->cap) {
        ln_tensor **v = realloc(u->vars, (size_t)n * sizeof *v);
        if (v) u->vars = v;
        ln_tensor **g = v ? realloc(u->grads, (size_t)n * sizeof *g) : NULL;
        if (g) u->grads = g;
        const char **nm = g ? realloc(u->names, (size_t)n * sizeof *nm) : NULL;
        if (nm) u->names = nm;
        _Atomic int64_t *cv = nm ? malloc((size_t)n * sizeof *cv) : NULL;
        if (cv) {
            free((void *)u->covered);
            u->covered = cv;
        }
        if (!cv) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        u->cap = n;
    }
    for (int i = 0; i < n; i++) {
        u->vars[i] = vars[i];
        u->grads[i] = grads[i];
        u->names[i] = names ? names[i] : NULL;
    }
    /* Slots created now, in this order (Keras's), never inside a step. */
    ln_status st = pen_alloc(ctx, u, n);
    if (!st) st = ln_optimizer_build(ctx, opt, n, u->vars, u->names);
    if (st) {
        u->opt = NULL;
        u->n = 0;
        return st;
    }
    u->opt = opt;
    u->n = n;
    return LN_OK;
}

/* Whether some layer appears twice in the chain (its later backward would
** see weights already updated by the earlier one's early update). */
static int layer_repeated(const ln_chain *c) {
    for (int i = 0; i < c->n; i++)
        for (int j = i + 1; j < c->n; j++)
            if (c->layers[i] == c->layers[j]) return 1;
    return 0;
}

/* The pair holding var, or -1. */
static int pair_of(const ln_update *u, const ln_tensor *var) {
    for (int i = 0; i < u->n; i++)
        if (u->vars[i] == var) return i;
    return -1;
}

/* Which pairs are regularized weights of the chain's layers, and with
** what; their chunk flags cleared. */
static void pen_begin(ln_update *u, const ln_chain *c) {
    for (int i = 0; i < u->n; i++) u->pen_l1[i] = u->pen_l2[i] = 0;
    for (int k = 0; k < c->n; k++) {
        const ln_layer *l = c->layers[k];
        for (int w = 0; w < ln_layer_weight_count(l); w++) {
            double l1, l2;
            ln_layer_regularizer(l, w, &l1, &l2);
            int i = l1 != 0 || l2 != 0 ? pair_of(u, ln_layer_weight(l, w)) : -1;
            if (i < 0 || u->pen_off[i + 1] - u->pen_off[i] != pen_chunks(u->vars[i]))
                continue;
            u->pen_l1[i] = l1;
            u->pen_l2[i] = l2;
            memset(u->pen_done + u->pen_off[i], 0,
                   (size_t)(u->pen_off[i + 1] - u->pen_off[i]));
        }
    }
}

static int pen_on(const ln_update *u, int i) {
    return u->pen_l1[i] != 0 || u->pen_l2[i] != 0;
}

ln_status ln__update_begin(ln_ctx *ctx, ln_update *u, const ln_chain *c,
                           int can_early) {
    u->armed = 0;
    u->pen_valid = 0; /* the weights are about to change */
    if (!can_early || !u->opt || u->n == 0 || !ln__opt_pieces_ok(u->opt) ||
        layer_repeated(c))
        return LN_OK;
    ln_status st = ln__opt_step_begin(ctx, u->opt, u->n, u->vars,
                                      (const ln_tensor *const *)u->grads, u->names);
    if (st) return st;
    for (int i = 0; i < u->n; i++)
        atomic_store_explicit(&u->covered[i], 0, memory_order_relaxed);
    pen_begin(u, c);
    u->armed = 1;
    return LN_OK;
}

/* The pair of layer l's weight w (its value and gradient tensors), or -1. */
static int pair_of_weight(const ln_update *u, const ln_layer *l, int w) {
    const ln_tensor *grad = ln_layer_grad(l, w), *var = ln_layer_weight(l, w);
    for (int i = 0; grad && i < u->n; i++)
        if (u->grads[i] == grad && u->vars[i] == var) return i;
    return -1;
}

/* Whether pair i's regularization gradient goes into the optimizer's own
** pass (update_reg) instead of being added to the gradient before it. */
static int folds_reg(const ln_update *u, int i) {
    return !u->reduce && pen_on(u, i) && ln__opt_folds_reg(u->opt);
}

enum { SUB = 4 * LN__PEN_CHUNK }; /* 16 KB of each of gradient and weight */

static int sink_ready(ln_grad_sink *sink, int w, int64_t lo, int64_t hi) {
    ln__layer_sink *s = (ln__layer_sink *)sink;
    ln_update *u = s->u;
    int i = pair_of_weight(u, s->l, w);
    if (i < 0 || lo < 0 || hi > u->vars[i]->numel || lo >= hi) return 0;
    const float *grad = ln_f32(u->grads[i]);
    const ln_tensor *var = u->vars[i];
    if (u->reduce) { /* the reducer's first, then the update (net_stage.c) */
        ln__stage_ready(u->reduce, i, lo, hi);
    } else if (folds_reg(u, i)) {
        /* One pass: gradient, penalty gradient and update (update_reg);
        ** then the penalty of the new values, in pieces of SUB elements
        ** (aligned) so that it reads them from L1. */
        for (int64_t a = lo, b; a < hi; a = b) {
            b = (a / SUB + 1) * SUB;
            if (b > hi) b = hi;
            ln__opt_step_range_reg(u->opt, i, grad, a, b, u->pen_l1[i], u->pen_l2[i]);
            ln__reg_chunks(ln_f32(var), var->numel, a, b, u->pen_l1[i],
                           u->pen_l2[i], u->pen_part + u->pen_off[i],
                           u->pen_done + u->pen_off[i]);
        }
    } else {
        /* (a regularized weight's blocks come with the penalty's gradient
        ** added: layer_reg.c's sink sits in front of this one) */
        ln__opt_step_range(u->opt, i, grad, lo, hi);
        if (pen_on(u, i)) /* the new values, still in cache */
            ln__reg_chunks(ln_f32(var), var->numel, lo, hi, u->pen_l1[i],
                           u->pen_l2[i], u->pen_part + u->pen_off[i],
                           u->pen_done + u->pen_off[i]);
    }
    atomic_fetch_add_explicit(&u->covered[i], hi - lo, memory_order_relaxed);
    return 1;
}

int ln__sink_folds_reg(const ln_grad_sink *sink, const ln_layer *l, int w) {
    if (!sink || sink->ready != sink_ready) return 0;
    const ln__layer_sink *s = (const ln__layer_sink *)sink;
    if (s->l != l) return 0;
    int i = pair_of_weight(s->u, l, w);
    return i >= 0 && folds_reg(s->u, i);
}

ln_grad_sink *ln__update_sink(ln_update *u, const ln_layer *l,
                              ln__layer_sink *sink) {
    if (!u->armed) return NULL;
    sink->base.ready = sink_ready;
    sink->u = u;
    sink->l = l;
    return &sink->base;
}

/* The chunks of pair i the blocks did not cover wholly, from its new
** values. */
static void pen_complete(ln_update *u, int i) {
    const ln_tensor *t = u->vars[i];
    const float *v = ln_f32(t);
    double *part = u->pen_part + u->pen_off[i];
    unsigned char *done = u->pen_done + u->pen_off[i];
    for (int64_t c = 0; c * LN__PEN_CHUNK < t->numel; c++) {
        if (done[c]) continue;
        int64_t lo = c * LN__PEN_CHUNK;
        int64_t n = t->numel - lo < LN__PEN_CHUNK ? t->numel - lo : LN__PEN_CHUNK;
        part[c] = ln__reg_chunk(v + lo, n, u->pen_l1[i], u->pen_l2[i]);
        done[c] = 1;
    }
}

ln_status ln__update_finish(ln_ctx *ctx, ln_update *u) {
    u->pen_valid = 0;
    if (!u->armed)
        return ln_optimizer_apply(ctx, u->opt, u->n, u->vars,
                                  (const ln_tensor *const *)u->grads, u->names);
    u->armed = 0;
    for (int i = 0; i < u->n; i++) {
        int64_t c = atomic_load_explicit(&u->covered[i], memory_order_acquire);
        if (c == 0) {
            ln__opt_step_var(u->opt, i, ln_f32(u->grads[i]));
        } else if (c != u->vars[i]->numel) {
            char s[128];
            return ln_fail(ctx, LN_E_INTERNAL, "net: a layer reported %lld of "
                           "the %lld gradient elements of %s %s as final",
                           (long long)c, (long long)u->vars[i]->numel,
                           u->names[i] ? u->names[i] : "a variable",
                           ln_shape_str(u->vars[i], s, sizeof s));
        }
    }
    ln__opt_step_end(u->opt);
    if (!u->reduce) {
        for (int i = 0; i < u->n; i++)
            if (pen_on(u, i)) pen_complete(u, i);
        u->pen_valid = 1;
    }
    return LN_OK;
}

int ln__update_penalty(const ln_update *u, const ln_layer *l, double *out) {
    if (!u || !u->pen_valid) return 0;
    double s = 0; /* summed as ln__reg_penalty sums */
    for (int w = 0; w < ln_layer_weight_count(l); w++) {
        double l1, l2;
        ln_layer_regularizer(l, w, &l1, &l2);
        if (l1 == 0 && l2 == 0) continue;
        int i = pair_of(u, ln_layer_weight(l, w));
        if (i < 0 || u->pen_l1[i] != l1 || u->pen_l2[i] != l2) return 0;
        const double *part = u->pen_part + u->pen_off[i];
        for (int64_t c = 0, m = u->pen_off[i + 1] - u->pen_off[i]; c < m; c++)
            s += part[c];
    }
    *out = s;
    return 1;
}

void ln__update_run_begin(ln_update *u) { u->pen_valid = 0; }
