/*
** net.c -- ln_net (lunet/engine/net.h): its life cycle, its settings and
** the low-level forward and backward, over its parts (net_impl.h): the
** chain (net_chain.c), the loss and metrics (net_score.c), the optimizer's
** update (net_update.c), a batch (net_batch.c), runs of batches and their
** threads (net_run.c).
*/
#include <stdlib.h>

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

void ln_net_free(ln_net *net) {
    if (!net) return;
    ln__graph_free(net->graph);
    ln__chain_free(&net->chain);
    ln__score_free(&net->score);
    ln__update_free(&net->update);
    ln__batch_free(&net->batch);
    ln__stage_free(&net->stage);
    free(net);
}

/* ---- settings --------------------------------------------------------------------- */

ln_status ln_net_set_layers(ln_ctx *ctx, ln_net *net, int n,
                            ln_layer *const *layers) {
    ln_chain *c = &net->chain;
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative layer count");
    ln_status st = ln__chain_reserve(ctx, c, n);
    if (st) return st;
    ln__graph_free(net->graph); /* a chain again (ln_net_set_graph sets it after) */
    net->graph = NULL;
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

ln_status ln_net_set_loss(ln_ctx *ctx, ln_net *net, ln_object *loss) {
    ln__tuner_unsteady(&net->tuner);
    return ln__score_set_loss(ctx, &net->score, loss, &net->chain);
}

ln_status ln_net_set_metrics(ln_ctx *ctx, ln_net *net, int n,
                             ln_object *const *metrics) {
    ln__tuner_unsteady(&net->tuner);
    return ln__score_set_metrics(ctx, &net->score, n, metrics);
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
