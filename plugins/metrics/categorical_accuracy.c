/*
** categorical_accuracy.c -- Keras categorical_accuracy: a sample is correct
** when argmax(pred) == argmax(y_true), first index winning ties on both.
*/
#include "lunet/plugin_metric.h"

#define WHO "categorical_accuracy"

/* Count rows whose prediction and target argmax agree. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_onehot(ctx, WHO, pred, y, &rows, &cols);
    if (st) return st;
    const float *p = ln_f32(pred);
    /* no OpenMP region when it would run on one thread (its cost is
    ** several us; docs/performance-training.md) */
    if (rows * cols > LN_PAR_MIN) {
#pragma omp parallel for reduction(+ : hits) schedule(static)
        for (int64_t r = 0; r < rows; r++)
            hits += mu_argmax_f32(p + r * cols, cols) == mu_argmax_any(y, r * cols, cols);
    } else {
        for (int64_t r = 0; r < rows; r++)
            hits += mu_argmax_f32(p + r * cols, cols) == mu_argmax_any(y, r * cols, cols);
    }
    *total += (double)hits;
    *count += (double)rows;
    return LN_OK;
}

static const ln_metric_ops ops = {
    .size = sizeof(ln_metric_ops),
    .update = update,
};
static const ln_unit unit = {
    .kind = LN_KIND_METRIC,
    .name = WHO,
    .class_name = "CategoricalAccuracy",
    .version = 1,
    .summary = "argmax(y_pred) == argmax(y_true)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
