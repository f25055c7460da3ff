/*
** net_score.c -- a net's loss and metrics: the fusion of the last
** activation with the loss, a batch's loss (with regularization) and its
** gradient, the metrics' running totals (Keras's stateful Mean metrics).

*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

void ln__score_free(ln_score *s) {
    ln_activation_free(s->act);
    ln__score_mask_free(s);
    ln_tensor_release(s->dpred);
    ln_tensor_release(s->probs);
    free(s->metrics);
    free(s->mtotal);
    free(s->mcount);
    ln_tensor_release(s->weights);
    ln_tensor_release(s->wbatch);
    free(s->mweighted);
}

ln_status ln__score_buffer(ln_ctx *ctx, ln_tensor **t) {
    int64_t zero = 0;
    if (!*t && !(*t = ln_tensor_new(ctx, LN_FLOAT32, 1, &zero))) return ctx->status;
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

ln_status ln__score_fuse(ln_ctx *ctx, ln_score *s, const ln_chain *c) {
    ln_activation_free(s->act);
    s->act = NULL;
    s->fused = 0;
    if (!s->loss || c->n == 0) return LN_OK;
    const ln_loss_ops *ops = s->loss->unit->ops;
    const char *want = ops->logits_activation;
    const char *have = ln_layer_output_activation(c->layers[c->n - 1]);
    if (!want || !have || strcmp(want, have) || loss_from_logits(s->loss))
        return LN_OK;
    s->act = ln_activation_new(ctx, have, NULL);
    if (!s->act) return ln_prefix(ctx, "net: output activation");
    s->fused = 1;
    return LN_OK;
}

ln_status ln__score_set_loss(ln_ctx *ctx, ln_score *s, ln_object *loss,
                             const ln_chain *c) {
    if (loss && loss->unit->kind != LN_KIND_LOSS)
        return ln_fail(ctx, LN_E_ARG, "net: '%s' is a %s, not a loss",
                       loss->unit->name, ln_kind_name(loss->unit->kind));
    s->loss = loss;
    ln_status st = ln__score_buffer(ctx, &s->dpred);
    return st ? st : ln__score_fuse(ctx, s, c);
}

ln_status ln__score_set_metrics(ln_ctx *ctx, ln_score *s, int n,
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
    free(s->metrics), free(s->mtotal), free(s->mcount), free(s->mweighted);
    s->metrics = ms, s->mtotal = t, s->mcount = c, s->mweighted = NULL;
    s->nmetrics = n;
    return ln__score_buffer(ctx, &s->probs);
}

/* Keras's weighted SUM_OVER_BATCH_SIZE: sum_i w_i * L_i / n. L_i is the
** loss's own batch mean over the one row i (any loss unit serves, no
** per-sample entry point is needed); the gradient of row i, which the unit
** computed as dL_i / n, is scaled by w_i. */
static ln_status weigh(ln_ctx *ctx, const ln_score *s, const ln_tensor *out,
                       const ln_tensor *y, int want_grad, double *loss) {
    const ln_loss_ops *lo = s->loss->unit->ops;
    const float *w = ln_f32(s->wbatch);
    int64_t n = out->shape[0];
    int64_t plen = n ? out->numel / n : 0, ylen = n ? y->numel / n : 0;
    size_t pes = ln_dtype_size(out->dtype), yes = ln_dtype_size(y->dtype);
    ln_tensor po = *out, yo = *y;
    po.shape[0] = yo.shape[0] = 1;
    po.numel = plen, yo.numel = ylen;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double li = 0;
        po.data = (char *)ln_data(out) + (size_t)(i * plen) * pes;
        yo.data = (char *)ln_data(y) + (size_t)(i * ylen) * yes;
        ln_status st = lo->compute(ctx, s->loss->state, &po, &yo, s->fused, &li, NULL);
        if (st) return st;
        sum += (double)w[i] * li;
    }
    *loss = n ? sum / (double)n : 0;
    if (want_grad) {
        float *d = ln_f32(s->dpred);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < plen; k++) d[i * plen + k] *= w[i];
    }
    return LN_OK;
}

ln_status ln__score_gather(ln_ctx *ctx, ln_score *s, const int64_t *idx,
                           int64_t start, int64_t n) {
    if (!s->weights) return LN_OK;
    ln_status st = ln__batch_buffer(ctx, &s->wbatch, LN_FLOAT32);
    return st ? st : ln__gather(ctx, s->wbatch, s->weights, idx, start, n, "sample_weight");
}

ln_status ln__score_batch(ln_ctx *ctx, ln_score *s, const ln_chain *c,
                          const ln_tensor *out, const ln_tensor *y,
                          int want_grad, double *loss) {
    if (!s->loss) return ln_fail(ctx, LN_E_STATE, "net: no loss set");
    if (s->mask) return ln__score_masked(ctx, s, c, out, y, want_grad, loss);
    const ln_loss_ops *lo = s->loss->unit->ops;
    ln_status st;
    if (want_grad && (st = ln_tensor_resize(ctx, s->dpred, out->ndim, out->shape)))
        return st;
    double v = 0;
    st = lo->compute(ctx, s->loss->state, out, y, s->fused, &v,
                     want_grad ? s->dpred : NULL);
    /* (weighted, the batch call still checks the labels, naming the row) */
    if (!st && s->weights) st = weigh(ctx, s, out, y, want_grad, &v);
    if (st) return st;
    double reg = 0;
    for (int i = 0; i < c->n; i++) { /* as the last update left the weights, if at hand */
        double r;
        if (!ln__update_penalty(s->pen_from, c->layers[i], &r))
            r = ln_layer_regularization_loss(c->layers[i]);
        reg += r;
    }
    v += reg;
    *loss = v;
    int64_t n = out->shape[0];
    s->loss_total += v * (double)n;
    s->loss_count += (double)n;
    if (s->nmetrics == 0) return LN_OK;
    const ln_tensor *pred = out;
    if (s->fused) {
        if ((st = ln_tensor_resize(ctx, s->probs, out->ndim, out->shape))) return st;
        int64_t cols = n ? out->numel / n : 0;
        ln_activation_forward(s->act, ln_f32(out), ln_f32(s->probs), n, cols);
        pred = s->probs;
    }
    for (int i = 0; i < s->nmetrics; i++) {
        const float *w = s->weights && s->mweighted && s->mweighted[i] ? ln_f32(s->wbatch) : NULL;
        st = ln_metric_update_weighted(ctx, s->metrics[i], pred, y, w, &s->mtotal[i],
                                       &s->mcount[i]);
        if (st) return ln_prefix(ctx, "metric '%s'", s->metrics[i]->unit->name);
    }
    return LN_OK;
}

ln_status ln_net_set_sample_weight(ln_ctx *ctx, ln_net *net, int output,
                                   ln_tensor *w) {
    ln_score *s = net->graph ? ln__graph_score(net->graph, output)
                             : output == 0 ? &net->score : NULL;
    if (!s) return ln_fail(ctx, LN_E_ARG, "sample_weight: the net has no output %d",
                           output + 1);
    if (w) {
        char b[128];
        if (w->dtype != LN_FLOAT32 || w->ndim != 1)
            return ln_fail(ctx, LN_E_ARG, "sample_weight: must be a float32 vector, "
                           "got %s %s", ln_dtype_name(w->dtype), ln_shape_str(w, b, sizeof b));
        const float *v = ln_f32(w);
        for (int64_t i = 0; i < w->numel; i++)
            if (!(v[i] >= 0) || isinf(v[i]))
                return ln_fail(ctx, LN_E_ARG, "sample_weight: weight %lld is %g (weights "
                               "must be finite and >= 0)", (long long)i + 1, (double)v[i]);
        ln_tensor_retain(w);
    }
    ln_tensor_release(s->weights);
    s->weights = w;
    return LN_OK;
}

void ln_net_reset_metrics(ln_net *net) {
    ln_score *s = &net->score;
    s->loss_total = s->loss_count = 0;
    for (int i = 0; i < s->nmetrics; i++) s->mtotal[i] = s->mcount[i] = 0;
    if (net->graph) ln__graph_reset(net->graph);
}

int ln_net_results(const ln_net *net, double *out, int max) {
    const ln_score *s = &net->score;
    int k = 1 + s->nmetrics;
    if (max > 0) out[0] = s->loss_count > 0 ? s->loss_total / s->loss_count : NAN;
    for (int i = 0; i < s->nmetrics && i + 1 < max; i++)
        out[i + 1] = s->mcount[i] > 0 ? s->mtotal[i] / s->mcount[i] : NAN;
    return k;
}

int ln_net_totals(const ln_net *net, double *out, int max) {
    const ln_score *s = &net->score;
    int k = 1 + s->nmetrics;
    if (max > 0) {
        out[0] = s->loss_total;
        out[1] = s->loss_count;
    }
    for (int i = 0; i < s->nmetrics && i + 1 < max; i++) {
        out[2 * (i + 1)] = s->mtotal[i];
        out[2 * (i + 1) + 1] = s->mcount[i];
    }
    return k;
}

/* ---- weighted metrics (compile's weighted_metrics) ------------------------------- */

/* Row i of t: a copy of its header with the data moved to the row. */
static ln_tensor row_of(const ln_tensor *t, int64_t i) {
    ln_tensor r = *t;
    int64_t len = t->shape[0] ? t->numel / t->shape[0] : 0;
    r.shape[0] = 1;
    r.numel = len;
    r.data = (char *)ln_data(t) + (size_t)(i * len) * ln_dtype_size(t->dtype);
    return r;
}

/* One batch into a metric's running (total, count): a metric unit's own
** update, or a loss unit's batch mean counted once per row. With w (one
** weight per row of pred), Keras's weighted Mean: each row's values count
** w_i times (total += w_i * row total, count += w_i * row count). */
ln_status ln_metric_update_weighted(ln_ctx *ctx, const ln_object *m, const ln_tensor *pred,
                                    const ln_tensor *y, const float *w, double *total,
                                    double *count) {
    ln_kind kind = m->unit->kind;
    if (kind != LN_KIND_METRIC && kind != LN_KIND_LOSS)
        return ln_fail(ctx, LN_E_ARG, "'%s' is a %s, not a metric or a loss",
                       m->unit->name, ln_kind_name(kind));
    int64_t n = pred->ndim ? pred->shape[0] : 1;
    if (!w) {
        if (kind == LN_KIND_METRIC) {
            const ln_metric_ops *mo = m->unit->ops;
            return mo->update(ctx, m->state, pred, y, total, count);
        }
        const ln_loss_ops *ml = m->unit->ops;
        double mv = 0;
        ln_status st = ml->compute(ctx, m->state, pred, y, 0, &mv, NULL);
        if (st) return st;
        *total += mv * (double)n;
        *count += (double)n;
        return LN_OK;
    }
    char a[128], b[128];
    if (pred->ndim < 1 || y->ndim < 1 || y->shape[0] != n)
        return ln_fail(ctx, LN_E_SHAPE, "'%s': y_true %s and y_pred %s differ in sample count",
                       m->unit->name, ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    for (int64_t i = 0; i < n; i++) {
        ln_tensor p = row_of(pred, i), t = row_of(y, i);
        double rt = 0, rc = 0;
        ln_status st;
        if (kind == LN_KIND_METRIC) {
            const ln_metric_ops *mo = m->unit->ops;
            st = mo->update(ctx, m->state, &p, &t, &rt, &rc);
        } else {
            const ln_loss_ops *ml = m->unit->ops;
            st = ml->compute(ctx, m->state, &p, &t, 0, &rt, NULL);
            rc = 1;
        }
        if (st) return st;
        *total += (double)w[i] * rt;
        *count += (double)w[i] * rc;
    }
    return LN_OK;
}

ln_status ln_net_set_weighted_metrics(ln_ctx *ctx, ln_net *net, int output, int n,
                                      const unsigned char *flags) {
    ln_score *s = net->graph ? ln__graph_score(net->graph, output)
                             : output == 0 ? &net->score : NULL;
    if (!s) return ln_fail(ctx, LN_E_ARG, "weighted_metrics: the net has no output %d",
                           output + 1);
    if (n != s->nmetrics)
        return ln_fail(ctx, LN_E_ARG, "weighted_metrics: output %d has %d metrics, got %d "
                       "flags", output + 1, s->nmetrics, n);
    unsigned char *f = NULL;
    int any = 0;
    for (int i = 0; i < n; i++) any |= flags[i] != 0;
    if (any) {
        if (!(f = malloc((size_t)n))) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        for (int i = 0; i < n; i++) f[i] = flags[i] != 0;
    }
    free(s->mweighted);
    s->mweighted = f;
    return LN_OK;
}
