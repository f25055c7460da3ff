/*
** binary_accuracy.c -- Keras binary_accuracy(threshold=0.5): per element
** (pred > threshold) == y_true (strict >, exact comparison with the target
** value), averaged over the last axis per sample. Targets have the
** predictions' shape up to a trailing 1. Rank-1 predictions count each
** element as a sample.
**
** The per-sample values are k/D (k matches of D); the total adds
** sum(k) / D, computed from an exact integer count.
*/
#include "lunet/plugin_metric.h"

#define WHO "binary_accuracy"

typedef struct bacc_state {
    double threshold;
} bacc_state;

/* Read threshold (default 0.5). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    bacc_state *s = state;
    return ln_args_number(ctx, args, "threshold", 0.5, &s->threshold);
}

/* Shapes equal up to one trailing axis of length 1 on either side. */
static int shapes_fit(const ln_tensor *a, const ln_tensor *b) {
    const ln_tensor *lo = a->ndim <= b->ndim ? a : b;
    const ln_tensor *hi = lo == a ? b : a;
    if (hi->ndim - lo->ndim > 1) return 0;
    if (hi->ndim != lo->ndim && hi->shape[hi->ndim - 1] != 1) return 0;
    for (int i = 0; i < lo->ndim; i++)
        if (lo->shape[i] != hi->shape[i]) return 0;
    return 1;
}

/* Element i thresholded equals its target. */
static int hit(const mu_rows *j, int64_t i) {
    return (j->p[i] > j->thr ? 1.0 : 0.0) == mu_value(j->y, i);
}

/* Count matching elements exactly; add their per-sample means. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    const bacc_state *s = state;
    int64_t rows = 0, cols = 0, hits = 0;
    char a[128], b[128];
    ln_status st = mu_check_pred(ctx, WHO, pred, 1, &rows, &cols);
    if (st) return st;
    if (!shapes_fit(pred, y))
        return ln_fail(ctx, LN_E_SHAPE,
                       WHO ": targets of shape %s do not match predictions of "
                       "shape %s", ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    if (pred->ndim == 1) rows = pred->numel, cols = 1;
    const float *p = ln_f32(pred);
    const mu_rows j = {p, y, 1, 0, s->threshold};
    hits = mu_count(&j, pred->numel, pred->numel, hit);
    *total += cols ? (double)hits / (double)cols : 0.0;
    *count += (double)rows;
    return LN_OK;
}

static const ln_metric_ops ops = {
    .size = sizeof(ln_metric_ops),
    .state_size = sizeof(bacc_state),
    .create = create,
    .update = update,
};
static const ln_unit unit = {
    .kind = LN_KIND_METRIC,
    .name = WHO,
    .class_name = "BinaryAccuracy",
    .version = 1,
    .summary = "(y_pred > threshold) == y_true, threshold 0.5",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
