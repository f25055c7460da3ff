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

/* Count rows whose target class is in the top k. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    const int64_t k = ((const mu_topk_state *)state)->k;
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_onehot(ctx, WHO, pred, y, &rows, &cols);
    if (st) return st;
    const float *p = ln_f32(pred);
    /* no OpenMP region when it would run on one thread (its cost is
    ** several us; docs/performance-training.md) */
    if (rows * cols > LN_PAR_MIN) {
#pragma omp parallel for reduction(+ : hits) schedule(static)
        for (int64_t r = 0; r < rows; r++)
            hits += mu_in_top_k(p + r * cols, cols, mu_argmax_any(y, r * cols, cols), k);
    } else {
        for (int64_t r = 0; r < rows; r++)
            hits += mu_in_top_k(p + r * cols, cols, mu_argmax_any(y, r * cols, cols), k);
    }
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
