/*
** net.c -- ln_net: its life cycle and settings, and its chain of layers
** with their buffers, run forward and backward (see lunet/engine/net.h).
** The loss and metrics are net_score.c's, the optimizer's update
** net_update.c's, a batch net_batch.c's, runs of batches net_run.c's.
*/
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

ln_net *ln_net_new(ln_ctx *ctx) {
    ln_net *net = calloc(1, sizeof *net);
    if (!net) {
        ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        return NULL;
    }
    ln__tuner_unsteady(&net->tuner);
    return net;
}

static void chain_free(ln_chain *c) {
    for (int i = 0; i < c->cap; i++) {
        ln_tensor_release(c->ys[i]);
        ln_tensor_release(c->dxs[i]);
    }
    free(c->layers);
    free(c->ys);
    free(c->dxs);
    free(c->snapshot);
    free(c->saved);
    ln_tensor_release(c->in);
}

void ln_net_free(ln_net *net) {
    if (!net) return;
    chain_free(&net->chain);
    ln__score_free(&net->score);
    ln__update_free(&net->update);
    ln__batch_free(&net->batch);
    free(net);
}

/* ---- the chain ----------------------------------------------------------------- */

/* An empty float tensor for a buffer (resized on use). */
static ln_tensor *empty_buffer(ln_ctx *ctx) {
    int64_t zero = 0;
    return ln_tensor_new(ctx, LN_FLOAT32, 1, &zero);
}

/* Grow the per-layer arrays to hold n layers; new buffers are empty. */
static ln_status reserve(ln_ctx *ctx, ln_chain *c, int n) {
    if (n <= c->cap) return LN_OK;
    ln_layer **l = realloc(c->layers, (size_t)n * sizeof *l);
    if (l) c->layers = l;
    ln_tensor **y = l ? realloc(c->ys, (size_t)n * sizeof *y) : NULL;
    if (y) c->ys = y;
    ln_tensor **d = y ? realloc(c->dxs, (size_t)n * sizeof *d) : NULL;
    if (d) c->dxs = d;
    int *s = d ? realloc(c->saved, (size_t)n * sizeof *s) : NULL;
    if (s) c->saved = s;
    if (!s) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    for (int i = c->cap; i < n; i++) c->ys[i] = c->dxs[i] = NULL;
    for (int i = c->cap; i < n; i++) {
        c->ys[i] = empty_buffer(ctx);
        c->dxs[i] = empty_buffer(ctx);
        if (!c->ys[i] || !c->dxs[i]) {
            for (int j = c->cap; j <= i; j++) {
                ln_tensor_release(c->ys[j]);
                ln_tensor_release(c->dxs[j]);
                c->ys[j] = c->dxs[j] = NULL;
            }
            return ctx->status;
        }
    }
    c->cap = n;
    return LN_OK;
}

ln_status ln__chain_forward(ln_ctx *ctx, ln_chain *c, ln_tensor *x,
                            unsigned flags) {
    if (c->n == 0) return ln_fail(ctx, LN_E_STATE, "net: the model has no layers");
    if (x != c->in) {
        ln_tensor_retain(x);
        ln_tensor_release(c->in);
        c->in = x;
    }
    c->forwarded = 0;
    const ln_tensor *cur = x;
    for (int i = 0; i < c->n; i++) {
        unsigned f = i == c->n - 1 ? flags : flags & ~LN_LOGITS;
        ln_status st = ln_layer_forward(ctx, c->layers[i], 1, &cur, &c->ys[i], f);
        if (st) return st;
        cur = c->ys[i];
    }
    c->flags = flags;
    c->forwarded = 1;
    return LN_OK;
}

ln_status ln__chain_backward(ln_ctx *ctx, ln_chain *c, const ln_tensor *dy,
                             int stop, int need_dx, ln_update *upd) {
    unsigned base = c->flags & (LN_TRAINING | LN_LOGITS);
    for (int i = c->n - 1; i >= stop; i--) {
        unsigned f = (i == c->n - 1 ? base : base & ~LN_LOGITS) | LN_NEED_DW;
        const ln_tensor *in = i ? c->ys[i - 1] : c->in;
        const ln_tensor *g = i == c->n - 1 ? dy : c->dxs[i + 1];
        const ln_tensor *out = c->ys[i];
        ln_tensor *dx = i > stop || need_dx ? c->dxs[i] : NULL;
        ln__layer_sink storage;
        ln_grad_sink *sink = upd ? ln__update_sink(upd, c->layers[i], &storage) : NULL;
        ln_status st = ln_layer_backward(ctx, c->layers[i], &in, &out, &g, &dx,
                                         sink, f);
        if (st) return st;
    }
    return LN_OK;
}

int ln__chain_first_trainable(const ln_chain *c) {
    for (int i = 0; i < c->n; i++)
        if (ln_layer_has_trainable(c->layers[i])) return i;
    return c->n;
}

void ln__chain_snapshot(ln_chain *c, int on) {
    if (!c->snapshot) return;
    for (int i = 0; i < c->n; i++) {
        if (on) c->saved[i] = ln_layer_trainable(c->layers[i]);
        ln_layer_set_trainable(c->layers[i], on ? c->snapshot[i] : c->saved[i]);
    }
}

ln_tensor *ln__chain_output(const ln_chain *c) { return c->ys[c->n - 1]; }

/* ---- settings --------------------------------------------------------------------- */

ln_status ln_net_set_layers(ln_ctx *ctx, ln_net *net, int n,
                            ln_layer *const *layers) {
    ln_chain *c = &net->chain;
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative layer count");
    ln_status st = reserve(ctx, c, n);
    if (st) return st;
    for (int i = 0; i < n; i++) c->layers[i] = layers[i];
    c->n = n;
    ln__tuner_unsteady(&net->tuner);
    free(c->snapshot);
    c->snapshot = NULL;
    c->forwarded = 0;
    return ln__score_fuse(ctx, &net->score, c);
}

ln_status ln_net_set_trainable(ln_ctx *ctx, ln_net *net, const int *flags) {
    ln_chain *c = &net->chain;
    free(c->snapshot);
    c->snapshot = NULL;
    if (!flags || c->n == 0) return LN_OK;
    c->snapshot = malloc((size_t)c->n * sizeof *c->snapshot);
    if (!c->snapshot) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    for (int i = 0; i < c->n; i++) c->snapshot[i] = flags[i] != 0;
    return LN_OK;
}

int ln_net_fused(const ln_net *net) { return net->score.fused; }

int ln_net_layer_count(const ln_net *net) { return net->chain.n; }

double ln_net_regularization_loss(const ln_net *net) {
    double s = 0;
    for (int i = 0; i < net->chain.n; i++)
        s += ln_layer_regularization_loss(net->chain.layers[i]);
    return s;
}

/* ---- low-level forward and backward ---------------------------------------------- */

ln_status ln_net_forward(ln_ctx *ctx, ln_net *net, ln_tensor *x,
                         unsigned flags, ln_tensor **y) {
    ln_status st = ln__chain_forward(ctx, &net->chain, x,
                                     flags & (LN_TRAINING | LN_LOGITS));
    if (st) return st;
    *y = ln__chain_output(&net->chain);
    return LN_OK;
}

ln_status ln_net_backward(ln_ctx *ctx, ln_net *net, const ln_tensor *dy,
                          int need_dx, ln_tensor **dx) {
    ln_chain *c = &net->chain;
    if (!c->forwarded)
        return ln_fail(ctx, LN_E_STATE, "net: backward without a forward");
    int stop = need_dx ? 0 : ln__chain_first_trainable(c);
    if (dx) *dx = NULL;
    if (stop == c->n) return LN_OK;
    ln_status st = ln__chain_backward(ctx, c, dy, stop, need_dx, NULL);
    if (st) return st;
    if (need_dx && dx) *dx = c->dxs[0];
    return LN_OK;
}
