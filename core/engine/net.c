/*
** net.c -- ln_net: a chain of layers with its buffers, run forward and
** backward one batch at a time, with the loss, regularization and metric
** totals, and the optimizer update of the fused training step (see
** engine/net.h). Runs of batches, and the threads they use, are net_run.c's.
** Nothing here allocates once the buffers have grown to the largest batch.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_impl.h"
#include "net_impl.h"
#include "overflow.h"

/* Forget which batch sizes ran serially: buffers may have to grow again. */
void ln__net_unsteady(ln_net *net) {
    for (int k = 0; k < LN__K_COUNT; k++) net->steady[k] = 0;
    net->steady_ydtype = -1;
}

ln_net *ln_net_new(ln_ctx *ctx) {
    ln_net *net = calloc(1, sizeof *net);
    if (!net) {
        ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        return NULL;
    }
    ln__net_unsteady(net);
    return net;
}

void ln_net_free(ln_net *net) {
    if (!net) return;
    for (int i = 0; i < net->cap; i++) {
        ln_tensor_release(net->ys[i]);
        ln_tensor_release(net->dxs[i]);
    }
    free(net->layers);
    free(net->ys);
    free(net->dxs);
    free(net->snapshot);
    free(net->saved);
    ln_tensor_release(net->in);
    ln_tensor_release(net->xb);
    ln_tensor_release(net->yb);
    ln_activation_free(net->act);
    ln_tensor_release(net->dpred);
    ln_tensor_release(net->probs);
    free(net->metrics);
    free(net->mtotal);
    free(net->mcount);
    free(net->ovars);
    free(net->ograds);
    free(net->onames);
    free((void *)net->covered);
    free(net);
}

/* An empty float tensor for a buffer (resized on use). */
static ln_tensor *empty_buffer(ln_ctx *ctx, ln_dtype dtype) {
    int64_t zero = 0;
    return ln_tensor_new(ctx, dtype, 1, &zero);
}

/* Grow the per-layer arrays to hold n layers; new buffers are empty. */
static ln_status reserve(ln_ctx *ctx, ln_net *net, int n) {
    if (n <= net->cap) return LN_OK;
    ln_layer **l = realloc(net->layers, (size_t)n * sizeof *l);
    if (l) net->layers = l;
    ln_tensor **y = l ? realloc(net->ys, (size_t)n * sizeof *y) : NULL;
    if (y) net->ys = y;
    ln_tensor **d = y ? realloc(net->dxs, (size_t)n * sizeof *d) : NULL;
    if (d) net->dxs = d;
    int *s = d ? realloc(net->saved, (size_t)n * sizeof *s) : NULL;
    if (s) net->saved = s;
    if (!s) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    for (int i = net->cap; i < n; i++) net->ys[i] = net->dxs[i] = NULL;
    for (int i = net->cap; i < n; i++) {
        net->ys[i] = empty_buffer(ctx, LN_FLOAT32);
        net->dxs[i] = empty_buffer(ctx, LN_FLOAT32);
        if (!net->ys[i] || !net->dxs[i]) {
            for (int j = net->cap; j <= i; j++) {
                ln_tensor_release(net->ys[j]);
                ln_tensor_release(net->dxs[j]);
                net->ys[j] = net->dxs[j] = NULL;
            }
            return ctx->status;
        }
    }
    net->cap = n;
    return LN_OK;
}

/* Does the loss say from_logits = true? (then nothing is fused) */
static int loss_from_logits(const ln_object *loss) {
    int n = ln_args_count(loss->args);
    for (int i = 0; i < n; i++) {
        ln_arg a = ln_args_at(loss->args, i);
        if (!strcmp(a.key, "from_logits") && a.type == LN_ARG_BOOL)
            return a.num != 0;
    }
    return 0;
}

/* Decide whether the last activation and the loss fuse; keep the
** activation for the metrics' probabilities. */
static ln_status update_fusion(ln_ctx *ctx, ln_net *net) {
    ln_activation_free(net->act);
    net->act = NULL;
    net->fused = 0;
    if (!net->loss || net->n == 0) return LN_OK;
    const ln_loss_ops *ops = net->loss->unit->ops;
    const char *want = ops->logits_activation;
    const char *have = ln_layer_output_activation(net->layers[net->n - 1]);
    if (!want || !have || strcmp(want, have) || loss_from_logits(net->loss))
        return LN_OK;
    net->act = ln_activation_new(ctx, have, NULL);
    if (!net->act) return ln_prefix(ctx, "net: output activation");
    net->fused = 1;
    return LN_OK;
}

ln_status ln_net_set_layers(ln_ctx *ctx, ln_net *net, int n,
                            ln_layer *const *layers) {
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative layer count");
    ln_status st = reserve(ctx, net, n);
    if (st) return st;
    for (int i = 0; i < n; i++) net->layers[i] = layers[i];
    net->n = n;
    ln__net_unsteady(net);
    free(net->snapshot);
    net->snapshot = NULL;
    net->forwarded = 0;
    return update_fusion(ctx, net);
}

ln_status ln_net_set_loss(ln_ctx *ctx, ln_net *net, ln_object *loss) {
    if (loss && loss->unit->kind != LN_KIND_LOSS)
        return ln_fail(ctx, LN_E_ARG, "net: '%s' is a %s, not a loss",
                       loss->unit->name, ln_kind_name(loss->unit->kind));
    net->loss = loss;
    ln__net_unsteady(net);
    if (!net->dpred && !(net->dpred = empty_buffer(ctx, LN_FLOAT32)))
        return ctx->status;
    return update_fusion(ctx, net);
}

ln_status ln_net_set_metrics(ln_ctx *ctx, ln_net *net, int n,
                             ln_object *const *metrics) {
    for (int i = 0; i < n; i++) {
        ln_kind k = metrics[i]->unit->kind;
        if (k != LN_KIND_METRIC && k != LN_KIND_LOSS)
            return ln_fail(ctx, LN_E_ARG,
                           "net: '%s' is a %s, not a metric or a loss",
                           metrics[i]->unit->name, ln_kind_name(k));
    }
    size_t m = (size_t)(n ? n : 1);
    ln_object **ms = malloc(m * sizeof *ms);
    double *t = calloc(m, sizeof *t), *c = calloc(m, sizeof *c);
    if (!ms || !t || !c) {
        free(ms), free(t), free(c);
        return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    }
    for (int i = 0; i < n; i++) ms[i] = metrics[i];
    free(net->metrics), free(net->mtotal), free(net->mcount);
    net->metrics = ms, net->mtotal = t, net->mcount = c;
    net->nmetrics = n;
    ln__net_unsteady(net);
    if (!net->probs && !(net->probs = empty_buffer(ctx, LN_FLOAT32)))
        return ctx->status;
    return LN_OK;
}

ln_status ln_net_set_trainable(ln_ctx *ctx, ln_net *net, const int *flags) {
    free(net->snapshot);
    net->snapshot = NULL;
    if (!flags || net->n == 0) return LN_OK;
    net->snapshot = malloc((size_t)net->n * sizeof *net->snapshot);
    if (!net->snapshot) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
    for (int i = 0; i < net->n; i++) net->snapshot[i] = flags[i] != 0;
    return LN_OK;
}

int ln_net_fused(const ln_net *net) { return net->fused; }

int ln_net_layer_count(const ln_net *net) { return net->n; }

double ln_net_regularization_loss(const ln_net *net) {
    double s = 0;
    for (int i = 0; i < net->n; i++)
        s += ln_layer_regularization_loss(net->layers[i]);
    return s;
}

/* ---- forward and backward ------------------------------------------------- */

/* Run every layer; the last one gets LN_LOGITS if flags has it. */
static ln_status run_forward(ln_ctx *ctx, ln_net *net, ln_tensor *x,
                             unsigned flags) {
    if (net->n == 0)
        return ln_fail(ctx, LN_E_STATE, "net: the model has no layers");
    if (x != net->in) {
        ln_tensor_retain(x);
        ln_tensor_release(net->in);
        net->in = x;
    }
    net->forwarded = 0;
    const ln_tensor *cur = x;
    for (int i = 0; i < net->n; i++) {
        unsigned f = i == net->n - 1 ? flags : flags & ~LN_LOGITS;
        ln_status st = ln_layer_forward(ctx, net->layers[i], cur, net->ys[i], f);
        if (st) return st;
        cur = net->ys[i];
    }
    net->flags = flags;
    net->forwarded = 1;
    return LN_OK;
}

/* Whether layer l has weights that take gradients. */
static int has_trainable(const ln_layer *l) {
    if (!l->trainable) return 0;
    for (int i = 0; i < l->nweights; i++)
        if (l->weights[i].trainable && l->weights[i].grad) return 1;
    return 0;
}

/* Backward from dy down to layer `stop` (inclusive); layer `stop` writes
** dx only if need_dx. */
static ln_status run_backward(ln_ctx *ctx, ln_net *net, const ln_tensor *dy,
                              int stop, int need_dx) {
    unsigned base = net->flags & (LN_TRAINING | LN_LOGITS);
    for (int i = net->n - 1; i >= stop; i--) {
        unsigned f = (i == net->n - 1 ? base : base & ~LN_LOGITS) | LN_NEED_DW;
        if (i > stop || need_dx) f |= LN_NEED_DX;
        const ln_tensor *in = i ? net->ys[i - 1] : net->in;
        const ln_tensor *g = i == net->n - 1 ? dy : net->dxs[i + 1];
        ln_status st = ln_layer_backward(ctx, net->layers[i], in, net->ys[i], g,
                                         net->dxs[i], f);
        if (st) return st;
    }
    return LN_OK;
}

/* Index of the first layer with trainable weights, or n if none. */
static int first_trainable(const ln_net *net) {
    for (int i = 0; i < net->n; i++)
        if (has_trainable(net->layers[i])) return i;
    return net->n;
}

ln_status ln_net_forward(ln_ctx *ctx, ln_net *net, ln_tensor *x,
                         unsigned flags, ln_tensor **y) {
    ln_status st = run_forward(ctx, net, x, flags & (LN_TRAINING | LN_LOGITS));
    if (st) return st;
    *y = net->ys[net->n - 1];
    return LN_OK;
}

ln_status ln_net_backward(ln_ctx *ctx, ln_net *net, const ln_tensor *dy,
                          int need_dx, ln_tensor **dx) {
    if (!net->forwarded)
        return ln_fail(ctx, LN_E_STATE, "net: backward without a forward");
    int stop = need_dx ? 0 : first_trainable(net);
    if (dx) *dx = NULL;
    if (stop == net->n) return LN_OK;
    ln_status st = run_backward(ctx, net, dy, stop, need_dx);
    if (st) return st;
    if (need_dx && dx) *dx = net->dxs[0];
    return LN_OK;
}

/* ---- batches ---------------------------------------------------------------- */

/* dst <- the selected rows of src (shape [n, src rows' shape]). dst's dtype
** must already be src's. */
static ln_status gather(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src,
                        const int64_t *idx, int64_t start, int64_t n,
                        const char *what) {
    char s[128];
    if (src->ndim < 1)
        return ln_fail(ctx, LN_E_SHAPE, "%s: a scalar has no samples", what);
    int64_t rows = src->shape[0];
    if (start < 0 || n < 0 || (!idx && !ln_range_ok(start, n, rows)))
        return ln_fail(ctx, LN_E_ARG, "%s: %lld rows from row %lld outside %s",
                       what, (long long)n, (long long)start + 1,
                       ln_shape_str(src, s, sizeof s));
    if (idx)
        for (int64_t r = 0; r < n; r++)
            if (idx[start + r] < 0 || idx[start + r] >= rows)
                return ln_fail(ctx, LN_E_ARG, "%s: row %lld outside %s", what,
                               (long long)idx[start + r] + 1,
                               ln_shape_str(src, s, sizeof s));
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[0] = n;
    ln_status st = ln_tensor_resize(ctx, dst, src->ndim, shape);
    if (st) return st;
    int64_t rowlen = rows ? src->numel / rows : 0;
    size_t es = ln_dtype_size(src->dtype);
    if (idx)
        ln_gather_rows(ln_data(dst), ln_data(src), idx + start, n, rowlen, es);
    else
        memcpy(ln_data(dst), (const char *)ln_data(src) + (size_t)(start * rowlen) * es,
               (size_t)(n * rowlen) * es);
    return LN_OK;
}

/* Gather x (float32) and y (any dtype, may be NULL) into the batch buffers. */
static ln_status gather_batch(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                              const ln_tensor *y, const int64_t *idx,
                              int64_t start, int64_t n) {
    if (x->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "x must be float32, got %s (use :float())",
                       ln_dtype_name(x->dtype));
    if (y && (y->ndim < 1 || x->ndim < 1 || y->shape[0] != x->shape[0])) {
        char a[128], b[128];
        return ln_fail(ctx, LN_E_SHAPE, "x %s and y %s differ in sample count",
                       ln_shape_str(x, a, sizeof a), ln_shape_str(y, b, sizeof b));
    }
    if (!net->xb && !(net->xb = empty_buffer(ctx, LN_FLOAT32))) return ctx->status;
    ln_status st = gather(ctx, net->xb, x, idx, start, n, "x");
    if (st || !y) return st;
    if (net->yb && net->yb->dtype != y->dtype) {
        ln_tensor_release(net->yb);
        net->yb = NULL;
    }
    if (!net->yb && !(net->yb = empty_buffer(ctx, y->dtype))) return ctx->status;
    return gather(ctx, net->yb, y, idx, start, n, "y");
}

/* Ask the memory system for rows idx[start .. start + n) of x: the next
** batch's rows, shuffled across the whole set, arrive in cache while this
** batch computes instead of stalling its gather. Only for shuffled rows
** (consecutive ones are the hardware prefetcher's job) and small batches
** (a large one would not stay in cache). A hint; results are unaffected. */
#define PREFETCH_MAX_BYTES (512 * 1024)
static void prefetch_rows(const ln_tensor *x, const int64_t *idx, int64_t start,
                          int64_t n) {
#if defined(__GNUC__)
    if (!idx || n <= 0 || x->ndim < 1 || x->shape[0] <= 0) return;
    const int64_t rows = x->shape[0];
    const size_t bytes = (size_t)(x->numel / rows) * ln_dtype_size(x->dtype);
    if (bytes * (size_t)n > PREFETCH_MAX_BYTES) return;
    const char *base = ln_data(x);
    for (int64_t r = 0; r < n; r++) {
        int64_t row = idx[start + r];
        if (row < 0 || row >= rows) continue;
        const char *p = base + (size_t)row * bytes;
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 1);
    }
#else
    (void)x, (void)idx, (void)start, (void)n;
#endif
}

/* The loss of the forward just run (output of the last layer) into *loss;
** with want_grad the gradient goes to net->dpred. Then the metrics. */
static ln_status loss_and_metrics(ln_ctx *ctx, ln_net *net, int want_grad,
                                  double *loss) {
    if (!net->loss) return ln_fail(ctx, LN_E_STATE, "net: no loss set");
    const ln_tensor *out = net->ys[net->n - 1];
    const ln_loss_ops *lo = net->loss->unit->ops;
    ln_status st;
    if (want_grad && (st = ln_tensor_resize(ctx, net->dpred, out->ndim, out->shape)))
        return st;
    double v = 0;
    st = lo->compute(ctx, net->loss->state, out, net->yb, net->fused, &v,
                     want_grad ? net->dpred : NULL);
    if (st) return st;
    v += ln_net_regularization_loss(net);
    *loss = v;
    int64_t n = out->shape[0];
    net->loss_total += v * (double)n;
    net->loss_count += (double)n;
    if (net->nmetrics == 0) return LN_OK;
    const ln_tensor *pred = out;
    if (net->fused) {
        if ((st = ln_tensor_resize(ctx, net->probs, out->ndim, out->shape)))
            return st;
        int64_t cols = n ? out->numel / n : 0;
        ln_activation_forward(net->act, ln_f32(out), ln_f32(net->probs), n, cols);
        pred = net->probs;
    }
    for (int i = 0; i < net->nmetrics; i++) {
        ln_object *m = net->metrics[i];
        if (m->unit->kind == LN_KIND_METRIC) {
            const ln_metric_ops *mo = m->unit->ops;
            st = mo->update(ctx, m->state, pred, net->yb, &net->mtotal[i],
                            &net->mcount[i]);
        } else {
            const ln_loss_ops *ml = m->unit->ops;
            double mv = 0;
            st = ml->compute(ctx, m->state, pred, net->yb, 0, &mv, NULL);
            net->mtotal[i] += mv * (double)n;
            net->mcount[i] += (double)n;
        }
        if (st) return ln_prefix(ctx, "metric '%s'", m->unit->name);
    }
    return LN_OK;
}

/* ---- one batch ------------------------------------------------------------------ */

/* ---- the fused update ------------------------------------------------------------ */

/* Whether some layer appears twice in the chain (its later backward would
** see weights already updated by the earlier one's early update). */
static int layer_repeated(const ln_net *net) {
    for (int i = 0; i < net->n; i++)
        for (int j = i + 1; j < net->n; j++)
            if (net->layers[i] == net->layers[j]) return 1;
    return 0;
}

int ln_grad_ready_armed(void) { return ln__early_get() != NULL; }

int ln_grad_ready(const ln_layer *l, const ln_weight *w, int64_t lo,
                  int64_t hi) {
    ln_net *net = ln__early_get();
    if (!net || !w || !w->grad || lo < 0 || hi > w->value->numel || lo >= hi)
        return 0;
    /* Regularization is added after the plugin's backward: update later. */
    if (w->l1 != 0 || w->l2 != 0) return 0;
    for (int i = 0; i < net->nopt; i++) {
        if (net->ograds[i] != w->grad || net->ovars[i] != w->value) continue;
        ln__opt_step_range(net->opt, i, ln_f32(w->grad), lo, hi);
        atomic_fetch_add_explicit(&net->covered[i], hi - lo, memory_order_relaxed);
        return 1;
    }
    return 0;
}

/* The optimizer's update after backward: the pairs whose gradients were
** not all handed to ln_grad_ready during backward, then the step count. */
static ln_status finish_early(ln_ctx *ctx, ln_net *net) {
    for (int i = 0; i < net->nopt; i++) {
        int64_t c = atomic_load_explicit(&net->covered[i], memory_order_acquire);
        if (c == 0) {
            ln__opt_step_var(net->opt, i, ln_f32(net->ograds[i]));
        } else if (c != net->ovars[i]->numel) {
            char s[128];
            return ln_fail(ctx, LN_E_INTERNAL, "net: a layer reported %lld of "
                           "the %lld gradient elements of %s %s as final",
                           (long long)c, (long long)net->ovars[i]->numel,
                           net->onames[i] ? net->onames[i] : "a variable",
                           ln_shape_str(net->ovars[i], s, sizeof s));
        }
    }
    ln__opt_step_end(net->opt);
    return LN_OK;
}

/* ---- one batch ------------------------------------------------------------------ */

/* Forward, loss, metrics and backward of a training batch (and the
** optimizer's update when c->apply), with the compile-time trainable
** snapshot in force. With c->early (buffers sized, so nothing can fail
** half-way) and no gradient clipping, layers may have blocks of weights
** updated as soon as their gradients are final (ln_grad_ready): the same
** numbers, while the blocks are still in cache. */
static ln_status train_body(ln_ctx *ctx, ln_net *net, const ln__batch *c) {
    ln_status st = gather_batch(ctx, net, c->x, c->y, c->idx, c->start, c->n);
    if (st) return st;
    prefetch_rows(c->x, c->idx, c->next_start, c->next_n);
    if (net->snapshot)
        for (int i = 0; i < net->n; i++) {
            net->saved[i] = net->layers[i]->trainable;
            net->layers[i]->trainable = net->snapshot[i];
        }
    unsigned flags = LN_TRAINING | (net->fused ? LN_LOGITS : 0);
    int early = 0;
    st = run_forward(ctx, net, net->xb, flags);
    if (!st) st = loss_and_metrics(ctx, net, 1, c->loss);
    if (!st && c->apply && net->nopt > 0 && c->early &&
        ln__opt_pieces_ok(net->opt) && !layer_repeated(net)) {
        st = ln__opt_step_begin(ctx, net->opt, net->nopt, net->ovars,
                                (const ln_tensor *const *)net->ograds,
                                net->onames);
        for (int i = 0; i < net->nopt; i++)
            atomic_store_explicit(&net->covered[i], 0, memory_order_relaxed);
        early = !st;
        if (early) ln__early_set(net);
    }
    if (!st) {
        int stop = first_trainable(net);
        if (stop < net->n) st = run_backward(ctx, net, net->dpred, stop, 0);
    }
    if (early) ln__early_set(NULL);
    if (net->snapshot)
        for (int i = 0; i < net->n; i++) net->layers[i]->trainable = net->saved[i];
    if (st || !c->apply || net->nopt == 0) return st;
    if (early) return finish_early(ctx, net);
    return ln_optimizer_apply(ctx, net->opt, net->nopt, net->ovars,
                              (const ln_tensor *const *)net->ograds, net->onames);
}

static ln_status test_body(ln_ctx *ctx, ln_net *net, const ln__batch *c) {
    ln_status st = gather_batch(ctx, net, c->x, c->y, c->idx, c->start, c->n);
    if (!st) prefetch_rows(c->x, c->idx, c->next_start, c->next_n);
    if (!st) st = run_forward(ctx, net, net->xb, net->fused ? LN_LOGITS : 0);
    if (!st) st = loss_and_metrics(ctx, net, 0, c->loss);
    return st;
}

static ln_status predict_body(ln_ctx *ctx, ln_net *net, const ln__batch *c) {
    ln_status st = gather_batch(ctx, net, c->x, NULL, NULL, c->start, c->n);
    if (!st) st = run_forward(ctx, net, net->xb, 0);
    if (st) return st;
    const ln_tensor *y = net->ys[net->n - 1];
    const ln_tensor *out = c->out;
    const int64_t start = c->start, n = c->n;
    char a[128], b[128];
    int64_t rowlen = n ? y->numel / n : 0;
    if (out->dtype != LN_FLOAT32 || out->ndim < 1 || start + n > out->shape[0] ||
        (out->shape[0] && out->numel / out->shape[0] != rowlen))
        return ln_fail(ctx, LN_E_SHAPE,
                       "predict: output %s cannot hold rows of %s at %lld",
                       ln_shape_str(out, a, sizeof a), ln_shape_str(y, b, sizeof b),
                       (long long)start + 1);
    memcpy(ln_f32(out) + start * rowlen, ln_f32(y), (size_t)(n * rowlen) * sizeof(float));
    return LN_OK;
}

ln_status ln__net_batch(ln_ctx *ctx, ln_net *net, const ln__batch *c) {
    switch (c->kind) {
    case LN__K_TRAIN: return train_body(ctx, net, c);
    case LN__K_TEST: return test_body(ctx, net, c);
    default: return predict_body(ctx, net, c);
    }
}

/* ---- the fused step's optimizer ------------------------------------------------------ */

ln_status ln_net_set_optimizer(ln_ctx *ctx, ln_net *net, ln_optimizer *opt,
                               int n, ln_tensor *const *vars,
                               ln_tensor *const *grads,
                               const char *const *names) {
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative pair count");
    if (!opt || n == 0) {
        net->opt = NULL;
        net->nopt = 0;
        return LN_OK;
    }
    if (n > net->capopt) {
        ln_tensor **v = realloc(net->ovars, (size_t)n * sizeof *v);
        if (v) net->ovars = v;
        ln_tensor **g = v ? realloc(net->ograds, (size_t)n * sizeof *g) : NULL;
        if (g) net->ograds = g;
        const char **nm = g ? realloc(net->onames, (size_t)n * sizeof *nm) : NULL;
        if (nm) net->onames = nm;
        _Atomic int64_t *cv = nm ? malloc((size_t)n * sizeof *cv) : NULL;
        if (cv) {
            free((void *)net->covered);
            net->covered = cv;
        }
        if (!cv) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        net->capopt = n;
    }
    for (int i = 0; i < n; i++) {
        net->ovars[i] = vars[i];
        net->ograds[i] = grads[i];
        net->onames[i] = names ? names[i] : NULL;
    }
    /* Slots created now, in this order (Keras's), never inside a step. */
    ln_status st = ln_optimizer_build(ctx, opt, n, net->ovars, net->onames);
    if (st) {
        net->opt = NULL;
        net->nopt = 0;
        return st;
    }
    net->opt = opt;
    net->nopt = n;
    return LN_OK;
}

void ln_net_reset_metrics(ln_net *net) {
    net->loss_total = net->loss_count = 0;
    for (int i = 0; i < net->nmetrics; i++) net->mtotal[i] = net->mcount[i] = 0;
}

int ln_net_results(const ln_net *net, double *out, int max) {
    int k = 1 + net->nmetrics;
    if (max > 0) out[0] = net->loss_count > 0 ? net->loss_total / net->loss_count : NAN;
    for (int i = 0; i < net->nmetrics && i + 1 < max; i++)
        out[i + 1] = net->mcount[i] > 0 ? net->mtotal[i] / net->mcount[i] : NAN;
    return k;
}
