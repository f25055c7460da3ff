/*
** net_stage.c -- what happens to a training batch's weight gradients
** between backward and the optimizer's update (see engine/net.h):
** accumulation over k batches, weighted by their rows, and a reducer that
** averages them across processes. Both are off by default; then nothing
** here runs and training steps are exactly as before.
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

int ln__stage_on(const ln_net *net) {
    return net->reducer != NULL || net->accumulate > 1;
}

void ln__stage_free(ln_net *net) {
    free(net->sgrads);
    free(net->acc);
    free(net->omap);
}

void ln_net_set_reducer(ln_net *net, ln_grad_reducer *r) { net->reducer = r; }

ln_status ln_net_set_accumulate(ln_ctx *ctx, ln_net *net, int k) {
    if (k < 1) return ln_fail(ctx, LN_E_ARG, "net: accumulate %d batches (>= 1)", k);
    net->accumulate = k;
    net->pending = 0;
    net->pending_rows = 0;
    return LN_OK;
}

int ln_net_pending(const ln_net *net) { return net->pending; }

/* The gradients backward writes, in chain order: every weight with a
** gradient tensor (trainable by nature) of every layer that trains now. */
static ln_status collect(ln_ctx *ctx, ln_net *net) {
    int n = 0;
    for (int i = 0; i < net->n; i++) {
        const ln_layer *l = net->layers[i];
        for (int j = 0; l->trainable && j < l->nweights; j++) n += l->weights[j].grad != NULL;
    }
    if (n > net->capsgrads) {
        ln_tensor **g = realloc(net->sgrads, (size_t)n * sizeof *g);
        if (!g) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        net->sgrads = g;
        net->capsgrads = n;
    }
    n = 0;
    for (int i = 0; i < net->n; i++) {
        const ln_layer *l = net->layers[i];
        for (int j = 0; l->trainable && j < l->nweights; j++)
            if (l->weights[j].grad) net->sgrads[n++] = l->weights[j].grad;
    }
    net->nsgrads = n;
    return LN_OK;
}

static ln_status reduce(ln_ctx *ctx, ln_net *net, int64_t rows) {
    if (!net->reducer) return LN_OK;
    ln_status st = net->reducer->reduce(ctx, net->reducer, net->nsgrads,
                                        net->sgrads, rows);
    return st ? ln_prefix(ctx, "net: reducing the gradients") : LN_OK;
}

/* The accumulated mean into the gradients, then the reducer. */
static ln_status finish(ln_ctx *ctx, ln_net *net) {
    double inv = net->pending_rows > 0 ? 1.0 / (double)net->pending_rows : 0.0;
    const double *a = net->acc;
    for (int i = 0; i < net->nsgrads; i++) {
        float *g = ln_f32(net->sgrads[i]);
        int64_t m = net->sgrads[i]->numel;
        for (int64_t j = 0; j < m; j++) g[j] = (float)(a[j] * inv);
        a += m;
    }
    int64_t rows = net->pending_rows;
    net->pending = 0;
    net->pending_rows = 0;
    return reduce(ctx, net, rows);
}

ln_status ln__stage_batch(ln_ctx *ctx, ln_net *net, int64_t rows, int *ready) {
    *ready = 0;
    int first = net->accumulate <= 1 || net->pending == 0;
    ln_status st = first ? collect(ctx, net) : LN_OK;
    if (st) return st;
    if (rows == 0)
        for (int i = 0; i < net->nsgrads; i++)
            memset(ln_data(net->sgrads[i]), 0, (size_t)net->sgrads[i]->numel * sizeof(float));
    if (net->accumulate <= 1) {
        *ready = 1;
        return reduce(ctx, net, rows);
    }
    int64_t total = 0;
    for (int i = 0; i < net->nsgrads; i++) total += net->sgrads[i]->numel;
    if (total > net->capacc) {
        double *a = realloc(net->acc, (size_t)total * sizeof *a);
        if (!a) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        net->acc = a;
        net->capacc = total;
    }
    double *a = net->acc, w = (double)rows;
    for (int i = 0; i < net->nsgrads; i++) {
        const float *g = ln_f32(net->sgrads[i]);
        int64_t m = net->sgrads[i]->numel;
        if (first)
            for (int64_t j = 0; j < m; j++) a[j] = w * g[j];
        else
            for (int64_t j = 0; j < m; j++) a[j] += w * g[j];
        a += m;
    }
    net->pending++;
    net->pending_rows += rows;
    if (net->pending < net->accumulate) return LN_OK;
    *ready = 1;
    return finish(ctx, net);
}

ln_status ln_net_flush(ln_ctx *ctx, ln_net *net, int apply) {
    if (net->pending == 0) return LN_OK;
    ln_status st = finish(ctx, net);
    if (st || !apply || !net->opt || net->nopt == 0) return st;
    return ln_optimizer_apply(ctx, net->opt, net->nopt, net->ovars,
                              (const ln_tensor *const *)net->ograds, net->onames);
}

int ln_net_totals(const ln_net *net, double *out, int max) {
    int k = 1 + net->nmetrics;
    if (max > 0) {
        out[0] = net->loss_total;
        out[1] = net->loss_count;
    }
    for (int i = 0; i < net->nmetrics && i + 1 < max; i++) {
        out[2 * (i + 1)] = net->mtotal[i];
        out[2 * (i + 1) + 1] = net->mcount[i];
    }
    return k;
}

/* ---- the reducer's overlap with backward --------------------------------------- */

ln_status ln__overlap_begin(ln_ctx *ctx, ln_net *net, int64_t rows, int *on) {
    ln_grad_reducer *r = net->reducer;
    *on = 0;
    if (!r || !r->begin || !r->ready || !r->progress || !r->wait || net->accumulate > 1)
        return LN_OK;
    ln_status st = collect(ctx, net);
    if (st) return st;
    if (net->nopt > net->capomap) {
        int *m = realloc(net->omap, (size_t)net->nopt * sizeof *m);
        if (!m) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        net->omap = m;
        net->capomap = net->nopt;
    }
    for (int i = 0; i < net->nopt; i++) {
        net->omap[i] = -1;
        for (int j = 0; j < net->nsgrads && net->omap[i] < 0; j++)
            if (net->sgrads[j] == net->ograds[i]) net->omap[i] = j;
    }
    st = ln__opt_step_begin(ctx, net->opt, net->nopt, net->ovars,
                            (const ln_tensor *const *)net->ograds, net->onames);
    if (!st) st = r->begin(ctx, r, net->nsgrads, net->sgrads, rows);
    if (st) return ln_prefix(ctx, "net: reducing the gradients");
    for (int i = 0; i < net->nopt; i++)
        atomic_store_explicit(&net->covered[i], 0, memory_order_relaxed);
    net->overlapping = *on = 1;
    return LN_OK;
}

void ln__overlap_ready(ln_net *net, int i, int64_t lo, int64_t hi) {
    if (net->omap[i] >= 0) net->reducer->ready(net->reducer, net->omap[i], lo, hi);
    atomic_fetch_add_explicit(&net->covered[i], hi - lo, memory_order_relaxed);
}

ln_status ln__overlap_progress(ln_ctx *ctx, ln_net *net) {
    if (!net->overlapping) return LN_OK;
    ln_status st = net->reducer->progress(ctx, net->reducer);
    return st ? ln_prefix(ctx, "net: reducing the gradients") : LN_OK;
}

ln_status ln__overlap_finish(ln_ctx *ctx, ln_net *net) {
    ln_grad_reducer *r = net->reducer;
    net->overlapping = 0;
    for (int j = 0; j < net->nsgrads; j++) { /* what no layer handed over */
        int i = 0;
        while (i < net->nopt && net->omap[i] != j) i++;
        int64_t c = i < net->nopt ? atomic_load_explicit(&net->covered[i], memory_order_acquire) : 0;
        if (c == 0) {
            r->ready(r, j, 0, net->sgrads[j]->numel);
        } else if (c != net->sgrads[j]->numel) {
            char s[128];
            return ln_fail(ctx, LN_E_INTERNAL, "net: a layer reported %lld of the %lld "
                           "gradient elements of %s %s as final", (long long)c,
                           (long long)net->ovars[i]->numel,
                           net->onames[i] ? net->onames[i] : "a variable",
                           ln_shape_str(net->ovars[i], s, sizeof s));
        }
    }
    /* the last layers' gradients were final first: their exchange ends first */
    ln_status st = LN_OK;
    for (int i = net->nopt - 1; i >= 0 && !st; i--) {
        if (net->omap[i] >= 0) st = r->wait(ctx, r, net->omap[i]);
        if (!st) ln__opt_step_var(net->opt, i, ln_f32(net->ograds[i]));
    }
    for (int j = net->nsgrads - 1; j >= 0 && !st; j--) st = r->wait(ctx, r, j);
    if (st) return ln_prefix(ctx, "net: reducing the gradients");
    ln__opt_step_end(net->opt);
    return LN_OK;
}
