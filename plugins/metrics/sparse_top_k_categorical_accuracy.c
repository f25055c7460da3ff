/*
** sparse_top_k_categorical_accuracy.c -- Keras
** sparse_top_k_categorical_accuracy(k=5): a sample is correct when its
** integer label is among the k largest predictions (TF's in_top_k; a label
** that is no class index never matches).
*/
#include "lunet/plugin_metric.h"

#define WHO "sparse_top_k_categorical_accuracy"

/* Read k (default 5, >= 1). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return mu_read_k(ctx, WHO, args, &((mu_topk_state *)state)->k);
}

/* Row r: its label is among the k largest predictions. */
static int hit(const mu_rows *j, int64_t r) {
    double lv = mu_value(j->y, r);
    int64_t t = lv == floor(lv) && lv >= 0 && lv < (double)j->cols ? (int64_t)lv : -1;
    return mu_in_top_k(j->p + r * j->cols, j->cols, t, j->k);
}

/* Count rows whose label is in the top k. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    const int64_t k = ((const mu_topk_state *)state)->k;
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_sparse_pred(ctx, WHO, pred, y, &rows, &cols);
    if (st) return st;
    const float *p = ln_f32(pred);
    const mu_rows j = {p, y, cols, k, 0};
    hits = mu_count(&j, rows, rows * cols, hit);
    *total += (double)hits;
    *count += (double)rows;
    return LN_OK;
}

static const ln_metric_ops ops = {
    .size = sizeof(ln_metric_ops),
    .state_size = sizeof(mu_topk_state),
    .create = create,
    .update = update,
};
static const ln_unit unit = {
    .kind = LN_KIND_METRIC,
    .name = WHO,
    .class_name = "SparseTopKCategoricalAccuracy",
    .version = 1,
    .summary = "integer label among the k largest (k 5)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
