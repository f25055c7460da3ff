/*
** net_stage.c -- what happens to a training batch's weight gradients
** between backward and the optimizer's update (see engine/net.h):
** accumulation over k batches, weighted by their rows, and a reducer that
** averages them across processes -- after backward, or during it (the
** reducer's overlap: the update's gradient sinks hand it finished blocks).
** Both are off by default; then nothing here runs and training steps are
** exactly as before.
**
** Accumulation keeps the row-weighted sum of the batches' mean gradients
** in double (one buffer for all gradients, end to end), so the mean of k
** batches of b rows is the mean one batch of k*b rows would give, to
** float rounding.
*/
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"
#include "optimizer_impl.h"

int ln__stage_on(const ln_stage *s) {
    return s->reducer != NULL || s->accumulate > 1;
}

void ln__stage_free(ln_stage *s) {
    free(s->grads);
    free(s->acc);
    free(s->omap);
}

void ln_net_set_reducer(ln_net *net, ln_grad_reducer *r) { net->stage.reducer = r; }

ln_status ln_net_set_accumulate(ln_ctx *ctx, ln_net *net, int k) {
    if (k < 1) return ln_fail(ctx, LN_E_ARG, "net: accumulate %d batches (>= 1)", k);
    net->stage.accumulate = k;
    net->stage.pending = 0;
    net->stage.pending_rows = 0;
    return LN_OK;
}

int ln_net_pending(const ln_net *net) { return net->stage.pending; }

/* The gradients backward writes, in chain order: every weight with a
** gradient tensor (trainable by nature) of every layer that trains now. */
static ln_status collect(ln_ctx *ctx, ln_stage *s, const ln_chain *c) {
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        const ln_layer *l = c->layers[i];
        for (int w = 0; ln_layer_trainable(l) && w < ln_layer_weight_count(l); w++)
            n += ln_layer_grad(l, w) != NULL;
    }
    if (n > s->cap) {
        ln_tensor **g = realloc(s->grads, (size_t)n * sizeof *g);
        if (!g) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        s->grads = g;
        s->cap = n;
    }
    n = 0;
    for (int i = 0; i < c->n; i++) {
        const ln_layer *l = c->layers[i];
        for (int w = 0; ln_layer_trainable(l) && w < ln_layer_weight_count(l); w++)
            if (ln_layer_grad(l, w)) s->grads[n++] = ln_layer_grad(l, w);
    }
    s->n = n;
    return LN_OK;
}

static ln_status reduce(ln_ctx *ctx, ln_stage *s, int64_t rows) {
    if (!s->reducer) return LN_OK;
    ln_status st = s->reducer->reduce(ctx, s->reducer, s->n, s->grads, rows);
    return st ? ln_prefix(ctx, "net: reducing the gradients") : LN_OK;
}

/* The accumulated mean into the gradients, then the reducer. */
static ln_status finish(ln_ctx *ctx, ln_stage *s) {
    double inv = s->pending_rows > 0 ? 1.0 / (double)s->pending_rows : 0.0;
    const double *a = s->acc;
    for (int i = 0; i < s->n; i++) {
        float *g = ln_f32(s->grads[i]);
        int64_t m = s->grads[i]->numel;
        for (int64_t j = 0; j < m; j++) g[j] = (float)(a[j] * inv);
        a += m;
    }
    int64_t rows = s->pending_rows;
    s->pending = 0;
    s->pending_rows = 0;
    return reduce(ctx, s, rows);
}

ln_status ln__stage_batch(ln_ctx *ctx, ln_stage *s, const ln_chain *c,
                          int64_t rows, int *ready) {
    *ready = 0;
    int first = s->accumulate <= 1 || s->pending == 0;
    ln_status st = first ? collect(ctx, s, c) : LN_OK;
    if (st) return st;
    if (rows == 0)
        for (int i = 0; i < s->n; i++)
            memset(ln_data(s->grads[i]), 0, (size_t)s->grads[i]->numel * sizeof(float));
    if (s->accumulate <= 1) {
        *ready = 1;
        return reduce(ctx, s, rows);
    }
    int64_t total = 0;
    for (int i = 0; i < s->n; i++) total += s->grads[i]->numel;
    if (total > s->capacc) {
        double *a = realloc(s->acc, (size_t)total * sizeof *a);
        if (!a) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        s->acc = a;
        s->capacc = total;
    }
    double *a = s->acc, w = (double)rows;
    for (int i = 0; i < s->n; i++) {
        const float *g = ln_f32(s->grads[i]);
        int64_t m = s->grads[i]->numel;
        if (first)
            for (int64_t j = 0; j < m; j++) a[j] = w * g[j];
        else
            for (int64_t j = 0; j < m; j++) a[j] += w * g[j];
        a += m;
    }
    s->pending++;
    s->pending_rows += rows;
    if (s->pending < s->accumulate) return LN_OK;
    *ready = 1;
    return finish(ctx, s);
}

ln_status ln_net_flush(ln_ctx *ctx, ln_net *net, int apply) {
    ln_stage *s = &net->stage;
    ln_update *u = &net->update;
    if (s->pending == 0) return LN_OK;
    ln_status st = finish(ctx, s);
    if (st || !apply || !u->opt || u->n == 0) return st;
    return ln_optimizer_apply(ctx, u->opt, u->n, u->vars,
                              (const ln_tensor *const *)u->grads, u->names);
}

/* ---- the reducer's overlap with backward --------------------------------------- */

ln_status ln__stage_overlap_begin(ln_ctx *ctx, ln_stage *s, const ln_chain *c,
                                  ln_update *u, int64_t rows, int can_early, int *on) {
    ln_grad_reducer *r = s->reducer;
    *on = 0;
    if (!r || !r->begin || !r->ready || !r->progress || !r->wait || s->accumulate > 1)
        return LN_OK;
    ln_status st = ln__update_begin(ctx, u, c, can_early);
    if (st || !u->armed) return st;
    st = collect(ctx, s, c);
    if (!st && u->n > s->capomap) {
        int *m = realloc(s->omap, (size_t)u->n * sizeof *m);
        if (m) s->omap = m, s->capomap = u->n;
        else st = ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    }
    for (int i = 0; !st && i < u->n; i++) {
        s->omap[i] = -1;
        for (int j = 0; j < s->n && s->omap[i] < 0; j++)
            if (s->grads[j] == u->grads[i]) s->omap[i] = j;
    }
    if (!st && (st = r->begin(ctx, r, s->n, s->grads, rows)))
        ln_prefix(ctx, "net: reducing the gradients");
    if (st) {
        u->armed = 0;
        return st;
    }
    u->reduce = s;
    *on = 1;
    return LN_OK;
}

void ln__stage_ready(ln_stage *s, int pair, int64_t lo, int64_t hi) {
    if (s->omap[pair] >= 0) s->reducer->ready(s->reducer, s->omap[pair], lo, hi);
}

ln_status ln__stage_progress(ln_ctx *ctx, ln_update *u) {
    if (!u->armed || !u->reduce) return LN_OK;
    ln_grad_reducer *r = u->reduce->reducer;
    return r->progress(ctx, r) ? ln_prefix(ctx, "net: reducing the gradients") : LN_OK;
}

ln_status ln__stage_overlap_finish(ln_ctx *ctx, ln_stage *s, ln_update *u) {
    ln_grad_reducer *r = s->reducer;
    u->armed = 0;
    u->reduce = NULL;
    for (int j = 0; j < s->n; j++) { /* what no layer handed over */
        int i = 0;
        while (i < u->n && s->omap[i] != j) i++;
        int64_t c = i < u->n ? atomic_load_explicit(&u->covered[i], memory_order_acquire) : 0;
        if (c == 0) {
            r->ready(r, j, 0, s->grads[j]->numel);
        } else if (c != s->grads[j]->numel) {
            char sh[128];
            return ln_fail(ctx, LN_E_INTERNAL, "net: a layer reported %lld of the %lld "
                           "gradient elements of %s %s as final", (long long)c,
                           (long long)u->vars[i]->numel,
                           u->names[i] ? u->names[i] : "a variable",
                           ln_shape_str(u->vars[i], sh, sizeof sh));
        }
    }
    /* the last layers' gradients were final first: their exchange ends first */
    ln_status st = LN_OK;
    for (int i = u->n - 1; i >= 0 && !st; i--) {
        if (s->omap[i] >= 0) st = r->wait(ctx, r, s->omap[i]);
        if (!st) ln__opt_step_var(u->opt, i, ln_f32(u->grads[i]));
    }
    for (int j = s->n - 1; j >= 0 && !st; j--) st = r->wait(ctx, r, j);
    if (st) return ln_prefix(ctx, "net: reducing the gradients");
    ln__opt_step_end(u->opt);
    return LN_OK;
}
