/*
** net_graph.c -- a net whose layers form a graph (lunet/engine/net_graph.h):
** its nodes and tensors with their buffers, forward in node order,
** backward in reverse with gradients summed in that fixed order, the loss
** and metrics of each output, and the batch bodies of graph runs. The
** distinct layers are also the net's chain (net_chain.c), which keeps
** what does not depend on the wiring: the trainable snapshot, the
** regularization, the early update's checks.
**
** Masks (Keras 2): every tensor may carry one (mk[t], a copy in mbuf[t]:
** a shared layer's own mask buffer changes at its next node). A node hands
** its layer the masks of all its inputs; the layer's compute_mask gives
** the mask of its output 0 (the others carry none, as Keras's RNN states);
** a model output's mask makes its loss and metrics skip masked steps.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

typedef struct gnode {
    ln_layer *layer;
    int li;             /* index of the layer among the distinct ones */
    int nin, nout, out0; /* outputs are tensors out0 .. out0 + nout - 1 */
    int *in;
    int shared;  /* the layer runs in several nodes */
    int logits;  /* output 0 is a model output fused with its loss */
    int active;  /* this step's backward visits the node */
    int may_view; /* its output is no model output: it may show its input */
    const ln_tensor **xs, **dys;
    const ln_tensor **ms; /* the inputs' masks (borrowed from mk) */
    ln_tensor **dxs, **scratch;
    int *direct; /* dxs[i] is the tensor's own gradient buffer */
} gnode;

typedef struct gout {
    int t;
    double weight;
    ln_score score;
} gout;

struct ln_graph {
    int ninputs, nnodes, ntensors, noutputs;
    gnode *nodes;
    gout *outs;
    int *consumers;
    ln_tensor **val, **grad; /* per tensor */
    const ln_tensor **cur;   /* per tensor: what the layers read */
    const ln_tensor **mk;    /* per tensor: its mask (mbuf[t]) or NULL */
    ln_tensor **mbuf;        /* per tensor: the mask's storage */
    unsigned char *gset, *need, *seen;
    ln_tensor **ybuf;        /* gathered targets, per output */
    ln_tensor **acc;         /* shared layers: [layer * LN_MAX_WEIGHTS + w] */
    int any_shared, nlayers;
    unsigned flags;          /* of the last forward */
    double loss_total, loss_count;
};

static void release_all(ln_tensor **t, int n) {
    if (!t) return;
    for (int i = 0; i < n; i++) ln_tensor_release(t[i]);
    free(t);
}

void ln__graph_free(ln_graph *g) {
    if (!g) return;
    for (int j = 0; j < g->nnodes; j++) {
        gnode *nd = &g->nodes[j];
        free(nd->in);
        free(nd->xs);
        free(nd->ms);
        free(nd->dys);
        free(nd->dxs);
        free(nd->direct);
        release_all(nd->scratch, nd->nin);
    }
    for (int k = 0; k < g->noutputs; k++) ln__score_free(&g->outs[k].score);
    free(g->nodes);
    free(g->outs);
    free(g->consumers);
    release_all(g->val, g->ntensors);
    release_all(g->grad, g->ntensors);
    free(g->cur);
    free(g->mk);
    release_all(g->mbuf, g->ntensors);
    free(g->gset);
    free(g->need);
    free(g->seen);
    release_all(g->ybuf, g->noutputs);
    release_all(g->acc, g->nlayers * LN_MAX_WEIGHTS);
    free(g);
}

/* n empty float buffers (NULL on failure, ctx set). */
static ln_tensor **buffers(ln_ctx *ctx, int n) {
    ln_tensor **t = calloc((size_t)(n ? n : 1), sizeof *t);
    if (!t) {
        ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if ((ln__score_buffer(ctx, &t[i]))) {
            release_all(t, i);
            return NULL;
        }
    return t;
}

static ln_status check_counts(ln_ctx *ctx, int nlayers, int ninputs, int nnodes,
                              int noutputs) {
    if (nlayers < 1 || nnodes < 1)
        return ln_fail(ctx, LN_E_ARG, "net: a graph needs at least one layer");
    if (ninputs < 1 || ninputs > LN_GRAPH_MAX_IO || noutputs < 1 ||
        noutputs > LN_GRAPH_MAX_IO)
        return ln_fail(ctx, LN_E_ARG, "net: a graph has 1 to %d inputs and "
                       "outputs, got %d inputs and %d outputs", LN_GRAPH_MAX_IO,
                       ninputs, noutputs);
    return LN_OK;
}

/* The node's arrays and its wiring, checked against the tensors known so
** far (*nt: model inputs and the outputs of the nodes before). */
static ln_status make_node(ln_ctx *ctx, ln_graph *g, int j, const ln_net_node *src,
                           int nlayers, ln_layer *const *layers, int *nt) {
    gnode *nd = &g->nodes[j];
    if (src->layer < 0 || src->layer >= nlayers)
        return ln_fail(ctx, LN_E_ARG, "net: node %d names layer %d of %d", j + 1,
                       src->layer + 1, nlayers);
    nd->layer = layers[src->layer];
    nd->li = src->layer;
    const char *name = ln_layer_name(nd->layer);
    if (!ln_layer_built(nd->layer))
        return ln_fail(ctx, LN_E_STATE, "net: node %d: layer %s is not built", j + 1,
                       name);
    if (src->nin != ln_layer_input_count(nd->layer))
        return ln_fail(ctx, LN_E_ARG, "net: node %d: layer %s is built for %d "
                       "inputs, the node gives %d", j + 1, name,
                       ln_layer_input_count(nd->layer), src->nin);
    nd->nin = src->nin;
    nd->nout = ln_layer_output_count(nd->layer);
    size_t m = (size_t)(nd->nin ? nd->nin : 1);
    nd->in = malloc(m * sizeof *nd->in);
    nd->xs = malloc(m * sizeof *nd->xs);
    nd->ms = malloc(m * sizeof *nd->ms);
    nd->dxs = malloc(m * sizeof *nd->dxs);
    nd->direct = malloc(m * sizeof *nd->direct);
    nd->dys = malloc((size_t)nd->nout * sizeof *nd->dys);
    if (!nd->in || !nd->xs || !nd->ms || !nd->dxs || !nd->direct || !nd->dys)
        return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    for (int i = 0; i < nd->nin; i++) {
        int t = src->in[i];
        if (t < 0 || t >= *nt)
            return ln_fail(ctx, LN_E_ARG, "net: node %d (layer %s) reads tensor %d, "
                           "which no earlier node computes (nodes must come in "
                           "topological order)", j + 1, name, t);
        nd->in[i] = t;
    }
    if (!(nd->scratch = buffers(ctx, nd->nin))) return ctx->status;
    nd->out0 = *nt;
    *nt += nd->nout;
    return LN_OK;
}

ln_status ln_net_set_graph(ln_ctx *ctx, ln_net *net, int nlayers,
                           ln_layer *const *layers, int ninputs, int nnodes,
                           const ln_net_node *nodes, int noutputs,
                           const int *outputs) {
    ln_status st = check_counts(ctx, nlayers, ninputs, nnodes, noutputs);
    if (st || (st = ln_net_set_layers(ctx, net, nlayers, layers))) return st;
    ln_graph *g = calloc(1, sizeof *g);
    if (!g) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    g->ninputs = ninputs;
    g->noutputs = noutputs;
    g->nlayers = nlayers;
    g->nodes = calloc((size_t)nnodes, sizeof *g->nodes);
    g->outs = calloc((size_t)noutputs, sizeof *g->outs);
    int *uses = calloc((size_t)nlayers, sizeof *uses);
    if (!g->nodes || !g->outs || !uses) {
        free(uses);
        ln__graph_free(g);
        return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    }
    int nt = ninputs;
    for (int j = 0; j < nnodes && !st; j++, g->nnodes = j)
        st = make_node(ctx, g, j, &nodes[j], nlayers, layers, &nt);
    if (!st) g->nnodes = nnodes;
    g->ntensors = nt;
    if (!st) {
        g->consumers = calloc((size_t)nt, sizeof *g->consumers);
        g->cur = calloc((size_t)nt, sizeof *g->cur);
        g->mk = calloc((size_t)nt, sizeof *g->mk);
        g->gset = calloc((size_t)nt, 1);
        g->need = calloc((size_t)nt, 1);
        g->seen = calloc((size_t)nlayers, 1);
        g->val = buffers(ctx, nt);
        g->grad = g->val ? buffers(ctx, nt) : NULL;
        g->ybuf = g->grad ? calloc((size_t)noutputs, sizeof *g->ybuf) : NULL;
        g->acc = g->ybuf ? buffers(ctx, nlayers * LN_MAX_WEIGHTS) : NULL;
        g->mbuf = g->acc ? buffers(ctx, nt) : NULL;
        if (!g->consumers || !g->cur || !g->mk || !g->mbuf || !g->gset || !g->need || !g->seen || !g->acc)
            st = ctx->status ? ctx->status : ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    }
    for (int k = 0; k < noutputs && !st; k++) {
        if (outputs[k] < ninputs || outputs[k] >= nt)
            st = ln_fail(ctx, LN_E_ARG, "net: output %d is tensor %d, not the output "
                         "of a node", k + 1, outputs[k]);
        g->outs[k].t = outputs[k];
        g->outs[k].weight = 1;
        if (!st) st = ln__score_set_metrics(ctx, &g->outs[k].score, 0, NULL);
        if (!st) st = ln__score_buffer(ctx, &g->outs[k].score.dpred);
    }
    for (int j = 0; j < g->nnodes && !st; j++) {
        uses[g->nodes[j].li]++;
        for (int i = 0; i < g->nodes[j].nin; i++) g->consumers[g->nodes[j].in[i]]++;
    }
    for (int j = 0; j < g->nnodes && !st; j++) {
        g->nodes[j].shared = uses[g->nodes[j].li] > 1;
        g->any_shared |= g->nodes[j].shared;
        g->nodes[j].may_view = 1;
        for (int k = 0; k < noutputs; k++)
            if (g->outs[k].t == g->nodes[j].out0) g->nodes[j].may_view = 0;
    }
    free(uses);
    if (st) {
        ln__graph_free(g);
        return st;
    }
    ln__graph_free(net->graph);
    net->graph = g;
    return LN_OK;
}

int ln_net_is_graph(const ln_net *net) { return net->graph != NULL; }

int ln_net_graph_outputs(const ln_net *net) {
    return net->graph ? net->graph->noutputs : 0;
}

static ln_status need_graph(ln_ctx *ctx, const ln_net *net) {
    if (!net->graph) return ln_fail(ctx, LN_E_STATE, "net: not a graph (ln_net_set_graph)");
    return LN_OK;
}

/* The node whose output 0 is tensor t and may run with LN_LOGITS for a
** loss: nothing else reads t and no other model output is t. */
static gnode *fusable_node(ln_graph *g, int k) {
    int t = g->outs[k].t;
    if (g->consumers[t] != 0) return NULL;
    for (int o = 0; o < g->noutputs; o++)
        if (o != k && g->outs[o].t == t) return NULL;
    for (int j = 0; j < g->nnodes; j++)
        if (g->nodes[j].out0 == t) return &g->nodes[j];
    return NULL;
}

ln_status ln_net_set_output_loss(ln_ctx *ctx, ln_net *net, int k, ln_object *loss,
                                 double weight) {
    ln_status st = need_graph(ctx, net);
    if (st) return st;
    ln_graph *g = net->graph;
    if (k < 0 || k >= g->noutputs)
        return ln_fail(ctx, LN_E_ARG, "net: output %d of %d", k + 1, g->noutputs);
    if (!(weight == weight) || weight < 0 || weight > 1e30)
        return ln_fail(ctx, LN_E_ARG, "net: loss weight %g of output %d (a finite "
                       "number >= 0)", weight, k + 1);
    gnode *nd = fusable_node(g, k);
    ln_chain view = {0};
    if (nd) {
        view.n = 1;
        view.layers = &nd->layer;
    }
    if ((st = ln__score_set_loss(ctx, &g->outs[k].score, loss, &view))) return st;
    if (nd) nd->logits = g->outs[k].score.fused;
    g->outs[k].weight = weight;
    ln__tuner_unsteady(&net->tuner);
    return LN_OK;
}

ln_status ln_net_set_output_metrics(ln_ctx *ctx, ln_net *net, int k, int n,
                                    ln_object *const *metrics) {
    ln_status st = need_graph(ctx, net);
    if (st) return st;
    if (k < 0 || k >= net->graph->noutputs)
        return ln_fail(ctx, LN_E_ARG, "net: output %d of %d", k + 1,
                       net->graph->noutputs);
    ln__tuner_unsteady(&net->tuner);
    return ln__score_set_metrics(ctx, &net->graph->outs[k].score, n, metrics);
}

/* ---- forward and backward ------------------------------------------------------- */

/* The node's inputs' masks to its layer (before its forward or backward). */
static void node_masks(const ln_graph *g, gnode *nd) {
    for (int i = 0; i < nd->nin; i++) nd->ms[i] = g->mk[nd->in[i]];
    ln_layer_set_input_masks(nd->layer, nd->ms);
}

/* After the node's forward: the mask of its output 0, kept in mbuf. */
static ln_status keep_mask(ln_ctx *ctx, ln_graph *g, const gnode *nd) {
    for (int o = 0; o < nd->nout; o++) g->mk[nd->out0 + o] = NULL;
    const ln_tensor *m = ln_layer_output_mask(nd->layer);
    if (!m) return LN_OK;
    ln_tensor *b = g->mbuf[nd->out0];
    ln_status st = ln_tensor_resize(ctx, b, m->ndim, m->shape);
    if (st) return st;
    ln_copy(ln_f32(b), ln_f32(m), m->numel);
    g->mk[nd->out0] = b;
    return LN_OK;
}

/* A view layer's output (LN_MAY_VIEW: Flatten, Reshape) shows its input,
** an input's buffer may show the user's rows (gather_io), until the next
** batch; before that batch gathers or resizes any buffer, every one from
** tensor `from` on gets its own storage back, so each buffer is resized
** in place (net_chain.c does the same for a Sequential). */
static void unalias_values(ln_graph *g, int from) {
    for (int t = from; t < g->ntensors; t++) ln_tensor_unalias(g->val[t]);
}

/* Every node in order on cur[0 .. ninputs); logits: fused outputs skip
** their activation. */
static ln_status graph_forward(ln_ctx *ctx, ln_graph *g, unsigned flags, int logits) {
    unalias_values(g, g->ninputs); /* the nodes' outputs; the inputs are this batch's */
    for (int i = 0; i < g->ninputs; i++) g->mk[i] = NULL;
    for (int j = 0; j < g->nnodes; j++) {
        gnode *nd = &g->nodes[j];
        for (int i = 0; i < nd->nin; i++) nd->xs[i] = g->cur[nd->in[i]];
        node_masks(g, nd);
        unsigned f = flags | (logits && nd->logits ? LN_LOGITS : 0) |
                     (nd->may_view ? LN_MAY_VIEW : 0);
        ln_status st = ln_layer_forward(ctx, nd->layer, nd->nin, nd->xs,
                                        &g->val[nd->out0], f);
        if (!st) st = keep_mask(ctx, g, nd);
        if (st) return st;
        for (int o = 0; o < nd->nout; o++) g->cur[nd->out0 + o] = g->val[nd->out0 + o];
    }
    g->flags = flags;
    return LN_OK;
}

/* grad[t] (+)= src, in the order of the calls. */
static ln_status add_grad(ln_ctx *ctx, ln_graph *g, int t, const ln_tensor *src) {
    if (!g->gset[t]) {
        ln_status st = ln_tensor_resize(ctx, g->grad[t], src->ndim, src->shape);
        if (st) return st;
        ln_copy(ln_f32(g->grad[t]), ln_f32(src), src->numel);
        g->gset[t] = 1;
    } else {
        ln_axpy(ln_f32(g->grad[t]), 1.0f, ln_f32(src), src->numel);
    }
    return LN_OK;
}

/* Which tensors need a gradient (something upstream trains) and which
** nodes backward visits, under the trainable flags now in force. */
static void mark_needs(ln_graph *g) {
    memset(g->need, 0, (size_t)g->ntensors);
    for (int j = 0; j < g->nnodes; j++) {
        gnode *nd = &g->nodes[j];
        int a = ln_layer_has_trainable(nd->layer);
        for (int i = 0; i < nd->nin && !a; i++) a = g->need[nd->in[i]];
        nd->active = a;
        for (int o = 0; o < nd->nout; o++) g->need[nd->out0 + o] = (unsigned char)a;
    }
}

/* A shared layer's weight gradients before its next backward (acc) or
** added back after it. */
static void shared_grads(ln_graph *g, const gnode *nd, int save) {
    for (int w = 0; w < ln_layer_weight_count(nd->layer); w++) {
        ln_tensor *gr = ln_layer_grad(nd->layer, w);
        if (!gr || !ln_layer_trains(nd->layer, w)) continue;
        ln_tensor *a = g->acc[nd->li * LN_MAX_WEIGHTS + w];
        if (save) ln_copy(ln_f32(a), ln_f32(gr), gr->numel);
        else ln_axpy(ln_f32(gr), 1.0f, ln_f32(a), gr->numel);
    }
}

static ln_status size_acc(ln_ctx *ctx, ln_graph *g, const gnode *nd) {
    for (int w = 0; w < ln_layer_weight_count(nd->layer); w++) {
        ln_tensor *gr = ln_layer_grad(nd->layer, w);
        if (!gr) continue;
        ln_status st = ln_tensor_resize(ctx, g->acc[nd->li * LN_MAX_WEIGHTS + w],
                                        gr->ndim, gr->shape);
        if (st) return st;
    }
    return LN_OK;
}

static ln_status node_backward(ln_ctx *ctx, ln_graph *g, gnode *nd, ln_update *upd) {
    ln_status st;
    for (int o = 0; o < nd->nout; o++) {
        int t = nd->out0 + o;
        if (!g->gset[t]) { /* an output nobody reads: zero gradient */
            const ln_tensor *y = g->val[t];
            if ((st = ln_tensor_resize(ctx, g->grad[t], y->ndim, y->shape))) return st;
            memset(ln_data(g->grad[t]), 0, (size_t)y->numel * sizeof(float));
            g->gset[t] = 1;
        }
        nd->dys[o] = g->grad[t];
    }
    for (int i = 0; i < nd->nin; i++) {
        int t = nd->in[i];
        nd->direct[i] = 0;
        nd->dxs[i] = NULL;
        if (!g->need[t]) continue;
        if (!g->gset[t]) {
            nd->dxs[i] = g->grad[t];
            nd->direct[i] = g->gset[t] = 1;
        } else {
            nd->dxs[i] = nd->scratch[i];
        }
    }
    unsigned f = (g->flags & LN_TRAINING) | (nd->logits ? LN_LOGITS : 0) | LN_NEED_DW;
    int again = nd->shared && g->seen[nd->li];
    if (nd->shared && (st = size_acc(ctx, g, nd))) return st;
    if (again) {
        shared_grads(g, nd, 1);
        f |= LN_SKIP_REG;
    }
    node_masks(g, nd);
    ln__layer_sink storage;
    ln_grad_sink *sink = upd && !g->any_shared ? ln__update_sink(upd, nd->layer, &storage)
                                               : NULL;
    st = ln_layer_backward(ctx, nd->layer, nd->xs, (const ln_tensor *const *)&g->val[nd->out0],
                           nd->dys, nd->dxs, sink, f);
    if (st) return st;
    if (again) shared_grads(g, nd, 0);
    g->seen[nd->li] = 1;
    for (int i = 0; i < nd->nin; i++)
        if (nd->dxs[i] && !nd->direct[i] && (st = add_grad(ctx, g, nd->in[i], nd->dxs[i])))
            return st;
    return LN_OK;
}

static ln_status graph_backward(ln_ctx *ctx, ln_graph *g, ln_update *upd) {
    memset(g->gset, 0, (size_t)g->ntensors);
    memset(g->seen, 0, (size_t)g->nlayers);
    mark_needs(g);
    for (int k = 0; k < g->noutputs; k++) {
        gout *o = &g->outs[k];
        if (!o->score.loss || !g->need[o->t]) continue;
        ln_status st = add_grad(ctx, g, o->t, o->score.dpred);
        if (st) return st;
    }
    for (int j = g->nnodes - 1; j >= 0; j--) {
        gnode *nd = &g->nodes[j];
        if (!nd->active) continue;
        ln_status st = node_backward(ctx, g, nd, upd);
        if (st) return st;
    }
    return LN_OK;
}

/* ---- scores ----------------------------------------------------------------------- */

/* Every output's loss (weighted) and metrics, the total with the
** regularization into *loss; with want_grad each dpred scaled by its
** weight. */
static ln_status graph_score(ln_ctx *ctx, ln_net *net, int want_grad, double *loss) {
    ln_graph *g = net->graph;
    ln_chain none = {0};
    double total = ln_net_regularization_loss(net);
    int64_t n = 0;
    for (int k = 0; k < g->noutputs; k++) {
        gout *o = &g->outs[k];
        if (!o->score.loss) continue;
        double v = 0;
        const ln_tensor *out = g->val[o->t];
        n = out->shape[0];
        o->score.mask = g->mk[o->t];
        ln_status st = ln__score_batch(ctx, &o->score, &none, out, g->ybuf[k], want_grad, &v);
        if (st) return ln_prefix(ctx, "output %d", k + 1);
        total += o->weight * v;
        if (want_grad && o->weight != 1)
            ln_scale(ln_f32(o->score.dpred), ln_f32(o->score.dpred), (float)o->weight,
                     o->score.dpred->numel);
    }
    *loss = total;
    g->loss_total += total * (double)n;
    g->loss_count += (double)n;
    return LN_OK;
}

void ln__graph_reset(ln_graph *g) {
    g->loss_total = g->loss_count = 0;
    for (int k = 0; k < g->noutputs; k++) {
        ln_score *s = &g->outs[k].score;
        s->loss_total = s->loss_count = 0;
        for (int i = 0; i < s->nmetrics; i++) s->mtotal[i] = s->mcount[i] = 0;
    }
}

int ln_net_graph_results(const ln_net *net, double *out, int max) {
    const ln_graph *g = net->graph;
    if (!g) return 0;
    int k = 0;
#define PUT(v) do { if (k < max) out[k] = (v); k++; } while (0)
    PUT(g->loss_count > 0 ? g->loss_total / g->loss_count : NAN);
    if (g->noutputs > 1)
        for (int o = 0; o < g->noutputs; o++) {
            const ln_score *s = &g->outs[o].score;
            if (s->loss) PUT(s->loss_count > 0 ? s->loss_total / s->loss_count : NAN);
        }
    for (int o = 0; o < g->noutputs; o++) {
        const ln_score *s = &g->outs[o].score;
        for (int i = 0; i < s->nmetrics; i++)
            PUT(s->mcount[i] > 0 ? s->mtotal[i] / s->mcount[i] : NAN);
    }
#undef PUT
    return k;
}

/* ---- batches ------------------------------------------------------------------------ */

ln_status ln__graph_check_io(ln_ctx *ctx, const ln_net *net, const ln_net_io *io,
                             int targets, int outs) {
    ln_status st = need_graph(ctx, net);
    if (st) return st;
    const ln_graph *g = net->graph;
    if (!io || io->nx != g->ninputs || !io->x)
        return ln_fail(ctx, LN_E_ARG, "net: the graph has %d inputs, got %d", g->ninputs,
                       io ? io->nx : 0);
    char a[128], b[128];
    for (int i = 0; i < io->nx; i++) {
        const ln_tensor *x = io->x[i];
        if (!x || x->ndim < 1 || x->shape[0] != io->x[0]->shape[0])
            return ln_fail(ctx, LN_E_SHAPE, "net: input %d %s and input 1 %s differ "
                           "in sample count", i + 1, x ? ln_shape_str(x, a, sizeof a) : "nil",
                           ln_shape_str(io->x[0], b, sizeof b));
    }
    if (targets) {
        if (io->ny != g->noutputs || !io->y)
            return ln_fail(ctx, LN_E_ARG, "net: the graph has %d outputs, got %d targets",
                           g->noutputs, io->ny);
        for (int k = 0; k < io->ny; k++) {
            const ln_tensor *y = io->y[k];
            if (!g->outs[k].score.loss) continue;
            if (!y || y->ndim < 1 || y->shape[0] != io->x[0]->shape[0])
                return ln_fail(ctx, LN_E_SHAPE, "net: target %d %s and input 1 %s "
                               "differ in sample count", k + 1,
                               y ? ln_shape_str(y, a, sizeof a) : "nil",
                               ln_shape_str(io->x[0], b, sizeof b));
        }
    }
    if (outs && !io->out)
        return ln_fail(ctx, LN_E_ARG, "net: predict needs %d destinations", g->noutputs);
    return LN_OK;
}

/* Gather the batch's rows of every input (and target); evaluation and
** prediction read float32 rows in place where they can (ln__rows_alias,
** given back after the batch: unalias_values). */
static ln_status gather_io(ln_ctx *ctx, ln_graph *g, const ln__batch *b, int targets) {
    char what[32];
    for (int i = 0; i < g->ninputs; i++) {
        const ln_tensor *x = b->io->x[i];
        snprintf(what, sizeof what, "input %d", i + 1);
        int aliased = 0;
        ln_status st = b->kind == LN__K_TRAIN ? LN_OK
                                              : ln__rows_alias(ctx, g->val[i], x, b->idx,
                                                               b->start, b->n, &aliased);
        if (!st && !aliased) st = ln__gather(ctx, g->val[i], x, b->idx, b->start, b->n, what);
        if (st) return st;
        g->cur[i] = g->val[i];
    }
    for (int k = 0; targets && k < g->noutputs; k++) {
        const ln_tensor *y = b->io->y[k];
        if (!g->outs[k].score.loss) continue;
        snprintf(what, sizeof what, "target %d", k + 1);
        ln_score *s = &g->outs[k].score;
        ln_status st = ln__batch_buffer(ctx, &g->ybuf[k], y->dtype);
        if (!st) st = ln__gather(ctx, g->ybuf[k], y, b->idx, b->start, b->n, what);
        if (!st && s->weights && s->weights->shape[0] != y->shape[0])
            return ln_fail(ctx, LN_E_SHAPE, "sample_weight of output %d: %lld weights "
                           "for %lld samples", k + 1, (long long)s->weights->shape[0],
                           (long long)y->shape[0]);
        if (!st) st = ln__score_gather(ctx, s, b->idx, b->start, b->n);
        if (st) return st;
    }
    return LN_OK;
}

static ln_status train_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_graph *g = net->graph;
    if (ln__stage_on(&net->stage))
        return ln_fail(ctx, LN_E_STATE, "net: gradient accumulation and gradient "
                       "reducers are not supported for graphs (functional models) yet");
    ln_status st = gather_io(ctx, g, b, 1);
    if (st) return st;
    ln_update *upd = b->apply && net->update.n > 0 ? &net->update : NULL;
    ln__chain_snapshot(&net->chain, 1);
    st = graph_forward(ctx, g, LN_TRAINING, 1);
    if (!st) st = graph_score(ctx, net, 1, b->loss);
    if (!st && upd) st = ln__update_begin(ctx, upd, &net->chain, b->early && !g->any_shared);
    if (!st) st = graph_backward(ctx, g, upd);
    ln__chain_snapshot(&net->chain, 0);
    if (upd && st) upd->armed = 0;
    if (st || !upd) return st;
    return ln__update_finish(ctx, upd);
}

/* After an evaluation or prediction batch no buffer shows the user's
** rows: a model keeps no reference to its x. */
static ln_status test_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_status st = gather_io(ctx, net->graph, b, 1);
    if (!st) st = graph_forward(ctx, net->graph, 0, 1);
    if (!st) st = graph_score(ctx, net, 0, b->loss);
    unalias_values(net->graph, 0);
    return st;
}

static ln_status predict_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_graph *g = net->graph;
    ln_status st = gather_io(ctx, g, b, 0);
    if (!st) st = graph_forward(ctx, g, 0, 0);
    for (int k = 0; k < g->noutputs && !st; k++)
        st = ln__put_rows(ctx, b->io->out[k], g->val[g->outs[k].t], b->start, b->n);
    unalias_values(g, 0);
    return st;
}

ln_score *ln__graph_score(ln_graph *g, int k) {
    return k >= 0 && k < g->noutputs ? &g->outs[k].score : NULL;
}

ln_status ln__graph_batch(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    unalias_values(net->graph, 0); /* before the inputs are gathered */
    switch (b->kind) {
    case LN__K_TRAIN: return train_body(ctx, net, b);
    case LN__K_TEST: return test_body(ctx, net, b);
    default: return predict_body(ctx, net, b);
    }
}

ln_status ln_net_graph_forward(ln_ctx *ctx, ln_net *net, int nx,
                               const ln_tensor *const *x, unsigned flags, ln_tensor **y) {
    ln_net_io io = {nx, x, 0, NULL, NULL};
    ln_status st = ln__graph_check_io(ctx, net, &io, 0, 0);
    if (st) return st;
    ln_graph *g = net->graph;
    for (int i = 0; i < nx; i++) g->cur[i] = x[i];
    if ((st = graph_forward(ctx, g, flags & LN_TRAINING, 0))) return st;
    for (int k = 0; k < g->noutputs; k++) y[k] = g->val[g->outs[k].t];
    return LN_OK;
}
