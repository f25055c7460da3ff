/*
** net_score_mask.c -- the loss and the metrics of an output that carries a
** mask (Keras 2: Embedding(mask_zero) or Masking, then e.g. an RNN with
** return_sequences): a masked (padded) step contributes nothing.
**
** The mask m is (batch, steps...) -- the output's shape without its last
** axis. The kept steps' rows of the output and of the targets are gathered
** into compact tensors and the loss unit runs on those once, so
**     loss = sum_{b,t} w_b m_bt L_bt / sum_{b,t} m_bt
** (w_b the sample weights, 1 without): the mean over the unmasked steps --
** Keras 2.0's weighted_masked_objective (score * mask / mean(mask), then
** the mean) and tf.keras 2's apply_valid_mask (total / valid). Its
** gradient goes back to the kept rows; masked rows get 0. A batch whose
** steps are all masked has loss 0 and no gradient (Keras gives NaN there).
** Metrics see only the kept steps (Keras passes the mask as their sample
** weight), so their running means count steps, not samples.
**
** Ownership: masks3 (issue 19). Called from ln__score_batch
** (net_score.c) when the caller set s->mask.
*/
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

struct ln_score_mask {
    ln_tensor *pred, *y, *grad, *probs; /* the kept steps' rows, compact */
    int64_t *keep;                      /* their indices among the steps */
    int64_t cap;
};

void ln__score_mask_free(ln_score *s) {
    struct ln_score_mask *k = s->mk;
    if (!k) return;
    ln_tensor_release(k->pred);
    ln_tensor_release(k->y);
    ln_tensor_release(k->grad);
    ln_tensor_release(k->probs);
    free(k->keep);
    free(k);
    s->mk = NULL;
}

/* The mask's shape must lead the output's (one fewer axis at least) and
** the targets'. */
static ln_status check_shapes(ln_ctx *ctx, const ln_tensor *m, const ln_tensor *out,
                              const ln_tensor *y) {
    char a[128], b[128], c[128];
    int ok = m->ndim >= 1 && m->ndim < out->ndim && y->ndim >= m->ndim;
    for (int i = 0; ok && i < m->ndim; i++)
        ok = m->shape[i] == out->shape[i] && m->shape[i] == y->shape[i];
    if (!ok)
        return ln_fail(ctx, LN_E_SHAPE, "masked loss: the output %s carries a mask %s; "
                       "the targets %s must share its leading axes",
                       ln_shape_str(out, a, sizeof a), ln_shape_str(m, b, sizeof b),
                       ln_shape_str(y, c, sizeof c));
    return LN_OK;
}

/* dst <- (K, src's axes after the mask's) holding the rows keep[0..K). */
static ln_status gather_rows(ln_ctx *ctx, ln_tensor **dst, const ln_tensor *src,
                             int mnd, int64_t steps, const int64_t *keep, int64_t K) {
    ln_status st = ln__batch_buffer(ctx, dst, src->dtype);
    if (st) return st;
    int64_t shape[LN_MAX_DIM];
    int nd = src->ndim - mnd + 1;
    shape[0] = K;
    for (int i = 1; i < nd; i++) shape[i] = src->shape[mnd + i - 1];
    if ((st = ln_tensor_resize(ctx, *dst, nd, shape))) return st;
    size_t row = (size_t)(steps ? src->numel / steps : 0) * ln_dtype_size(src->dtype);
    const char *s = ln_data(src);
    char *d = ln_data(*dst);
    for (int64_t k = 0; k < K; k++) memcpy(d + (size_t)k * row, s + (size_t)keep[k] * row, row);
    return LN_OK;
}

/* Row k of t: its header with the data moved to the row. */
static ln_tensor one_row(const ln_tensor *t, int64_t k) {
    ln_tensor r = *t;
    int64_t len = t->shape[0] ? t->numel / t->shape[0] : 0;
    r.shape[0] = 1;
    r.numel = len;
    r.data = (char *)ln_data(t) + (size_t)(k * len) * ln_dtype_size(t->dtype);
    return r;
}

/* Sample weights: loss = sum_k w_k L_k / K, row k of the gradient (the
** unit's dL_k / K) scaled by w_k. */
static ln_status weigh_rows(ln_ctx *ctx, const ln_score *s, const struct ln_score_mask *k,
                            int64_t K, int64_t per_sample, int want_grad, double *loss) {
    const ln_loss_ops *lo = s->loss->unit->ops;
    const float *w = ln_f32(s->wbatch);
    int64_t plen = k->pred->numel / K;
    double sum = 0;
    for (int64_t i = 0; i < K; i++) {
        ln_tensor p = one_row(k->pred, i), t = one_row(k->y, i);
        double li = 0;
        ln_status st = lo->compute(ctx, s->loss->state, &p, &t, s->fused, &li, NULL);
        if (st) return st;
        double wi = (double)w[k->keep[i] / per_sample];
        sum += wi * li;
        if (want_grad) {
            float *g = ln_f32(k->grad) + i * plen;
            for (int64_t j = 0; j < plen; j++) g[j] *= (float)wi;
        }
    }
    *loss = sum / (double)K;
    return LN_OK;
}

/* The metrics on the kept steps (probabilities when the loss is fused). */
static ln_status masked_metrics(ln_ctx *ctx, ln_score *s, struct ln_score_mask *k,
                                int64_t K) {
    const ln_tensor *pred = k->pred;
    ln_status st;
    if (s->fused) {
        if ((st = ln__score_buffer(ctx, &k->probs)) ||
            (st = ln_tensor_resize(ctx, k->probs, k->pred->ndim, k->pred->shape)))
            return st;
        int64_t cols = k->pred->shape[k->pred->ndim - 1];
        ln_activation_forward(s->act, ln_f32(k->pred), ln_f32(k->probs),
                              cols ? k->pred->numel / cols : 0, cols);
        pred = k->probs;
    }
    for (int i = 0; i < s->nmetrics; i++) {
        ln_object *m = s->metrics[i];
        if (m->unit->kind == LN_KIND_METRIC) {
            const ln_metric_ops *mo = m->unit->ops;
            st = mo->update(ctx, m->state, pred, k->y, &s->mtotal[i], &s->mcount[i]);
        } else {
            const ln_loss_ops *ml = m->unit->ops;
            double mv = 0;
            st = ml->compute(ctx, m->state, pred, k->y, 0, &mv, NULL);
            s->mtotal[i] += mv * (double)K;
            s->mcount[i] += (double)K;
        }
        if (st) return ln_prefix(ctx, "metric '%s'", m->unit->name);
    }
    return LN_OK;
}

/* Which steps the mask keeps, into k->keep; *K their count. */
static ln_status kept_steps(ln_ctx *ctx, struct ln_score_mask *k, const ln_tensor *m,
                            int64_t *K) {
    if (m->numel > k->cap) {
        int64_t *p = realloc(k->keep, (size_t)m->numel * sizeof *p);
        if (!p) return ln_fail(ctx, LN_E_NOMEM, "masked loss: out of memory");
        k->keep = p, k->cap = m->numel;
    }
    const float *mv = ln_f32(m);
    int64_t n = 0;
    for (int64_t i = 0; i < m->numel; i++)
        if (mv[i] != 0.0f) k->keep[n++] = i;
    *K = n;
    return LN_OK;
}

ln_status ln__score_masked(ln_ctx *ctx, ln_score *s, const ln_chain *c,
                           const ln_tensor *out, const ln_tensor *y, int want_grad,
                           double *loss) {
    const ln_tensor *m = s->mask;
    ln_status st = check_shapes(ctx, m, out, y);
    if (st) return st;
    if (!s->mk && !(s->mk = calloc(1, sizeof *s->mk)))
        return ln_fail(ctx, LN_E_NOMEM, "masked loss: out of memory");
    struct ln_score_mask *k = s->mk;
    int64_t K = 0, steps = m->numel, n = out->shape[0];
    if ((st = kept_steps(ctx, k, m, &K)) ||
        (st = gather_rows(ctx, &k->pred, out, m->ndim, steps, k->keep, K)) ||
        (st = gather_rows(ctx, &k->y, y, m->ndim, steps, k->keep, K)))
        return st;
    if (want_grad) {
        if ((st = ln_tensor_resize(ctx, s->dpred, out->ndim, out->shape)) ||
            (st = ln__score_buffer(ctx, &k->grad)) ||
            (st = ln_tensor_resize(ctx, k->grad, k->pred->ndim, k->pred->shape)))
            return st;
        memset(ln_data(s->dpred), 0, (size_t)out->numel * sizeof(float));
    }
    double v = 0;
    if (K > 0) {
        const ln_loss_ops *lo = s->loss->unit->ops;
        st = lo->compute(ctx, s->loss->state, k->pred, k->y, s->fused, &v,
                         want_grad ? k->grad : NULL);
        if (!st && s->weights) st = weigh_rows(ctx, s, k, K, n ? steps / n : 1, want_grad, &v);
        if (st) return st;
        if (want_grad) {
            int64_t plen = out->numel / steps;
            float *d = ln_f32(s->dpred);
            const float *g = ln_f32(k->grad);
            for (int64_t i = 0; i < K; i++)
                memcpy(d + k->keep[i] * plen, g + i * plen, (size_t)plen * sizeof *d);
        }
    }
    for (int i = 0; i < c->n; i++) v += ln_layer_regularization_loss(c->layers[i]);
    *loss = v;
    s->loss_total += v * (double)n;
    s->loss_count += (double)n;
    return s->nmetrics && K > 0 ? masked_metrics(ctx, s, k, K) : LN_OK;
}
