/*
** top_k_categorical_accuracy.c -- Keras top_k_categorical_accuracy(k=5):
** a sample is correct when the class argmax(y_true) is among the k largest
** predictions (TF's in_top_k: predictions tied with the target's at the
** boundary count as in; a non-finite target prediction never does).
*/
#include "lunet/plugin_metric.h"

#define WHO "top_k_categorical_accuracy"

/* Read k (default 5, >= 1). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return mu_read_k(ctx, WHO, args, &((mu_topk_state *)state)->k);
}

/* Row r: the target's argmax is among the k largest predictions. */
static int hit(const mu_rows *j, int64_t r) {
    return mu_in_top_k(j->p + r * j->cols, j->cols, mu_argmax_any(j->y, r * j->cols, j->cols), j->k);
}

/* Count rows whose target class is in the top k. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    const int64_t k = ((const mu_topk_state *)state)->k;
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_onehot(ctx, WHO, pred, y, &rows, &cols);
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
    .class_name = "TopKCategoricalAccuracy",
    .version = 1,
    .summary = "argmax(y_true) among the k largest (k 5)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
