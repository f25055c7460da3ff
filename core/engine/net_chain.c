/*
** net_chain.c -- a net's chain of layers with their buffers (one output
** and one input gradient per layer), run forward and backward; backward
** hands each layer the gradient sink of the net's update when it is armed.
*/
#include <stdlib.h>

#include "net_impl.h"

void ln__chain_free(ln_chain *c) {
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

/* An empty float tensor for a buffer (resized on use). */
static ln_tensor *empty_buffer(ln_ctx *ctx) {
    int64_t zero = 0;
    return ln_tensor_new(ctx, LN_FLOAT32, 1, &zero);
}

/* Grow the per-layer arrays to hold n layers; new buffers are empty. */
ln_status ln__chain_reserve(ln_ctx *ctx, ln_chain *c, int n) {
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

static void unalias(ln_tensor **t, int n) {
    for (int i = 0; i < n; i++) ln_tensor_unalias(t[i]);
}

void ln__chain_unalias(ln_chain *c) {
    unalias(c->ys, c->cap);
    unalias(c->dxs, c->cap);
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
    ln__chain_unalias(c);
    const ln_tensor *cur = x;
    for (int i = 0; i < c->n; i++) {
        /* an inner view layer's output is its input (the last one's is
        ** handed out: its own) */
        unsigned f = i == c->n - 1 ? flags : (flags & ~LN_LOGITS) | LN_MAY_VIEW;
        ln_layer_set_input_mask(c->layers[i], i ? ln_layer_output_mask(c->layers[i - 1]) : NULL);
        ln_status st = ln_layer_forward(ctx, c->layers[i], 1, &cur, &c->ys[i], f);
        if (st) return st;
        cur = c->ys[i];
    }
    c->flags = flags;
    c->forwarded = 1;
    return LN_OK;
}

void ln__chain_forget_input(ln_chain *c) {
    ln__chain_unalias(c); /* a view layer's output may show the input */
    ln_tensor_release(c->in);
    c->in = NULL;
    c->forwarded = 0;
}

ln_status ln__chain_backward(ln_ctx *ctx, ln_chain *c, const ln_tensor *dy,
                             int stop, int need_dx, ln_update *upd) {
    unsigned base = c->flags & (LN_TRAINING | LN_LOGITS);
    unalias(c->dxs, c->cap); /* the outputs, which backward reads, stay */
    for (int i = c->n - 1; i >= stop; i--) {
        /* dxs[0] may be handed out (ln_net_backward), the last layer's dy
        ** is the score's or the caller's: those two copy */
        unsigned f = (i == c->n - 1 ? base : base & ~LN_LOGITS) | LN_NEED_DW |
                     (i > 0 && i < c->n - 1 ? LN_MAY_VIEW : 0);
        const ln_tensor *in = i ? c->ys[i - 1] : c->in;
        const ln_tensor *g = i == c->n - 1 ? dy : c->dxs[i + 1];
        const ln_tensor *out = c->ys[i];
        ln_tensor *dx = i > stop || need_dx ? c->dxs[i] : NULL;
        ln__layer_sink storage;
        ln_grad_sink *sink = upd ? ln__update_sink(upd, c->layers[i], &storage) : NULL;
        ln_status st = ln_layer_backward(ctx, c->layers[i], &in, &out, &g, &dx,
                                         sink, f);
        if (!st && upd) st = ln__stage_progress(ctx, upd); /* the reducer's exchanges */
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

const ln_tensor *ln__chain_output_mask(const ln_chain *c) {
    return c->n ? ln_layer_output_mask(c->layers[c->n - 1]) : NULL;
}
