/*
** sparse_categorical_accuracy.c -- Keras sparse_categorical_accuracy:
** a sample is correct when argmax(pred) (first index wins ties) equals its
** integer label. Labels (...) or (..., 1) of any dtype; a label that is no
** class index simply never matches, as in Keras.
*/
#include "lunet/plugin_metric.h"

#define WHO "sparse_categorical_accuracy"

/* Count rows whose prediction argmax equals the label. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_sparse_pred(ctx, WHO, pred, y, &rows, &cols);
    if (st) return st;
    const float *p = ln_f32(pred);
    /* no OpenMP region when it would run on one thread (its cost is
    ** several us; docs/performance-training.md) */
    if (rows * cols > LN_PAR_MIN) {
#pragma omp parallel for reduction(+ : hits) schedule(static)
        for (int64_t r = 0; r < rows; r++)
            hits += (double)mu_argmax_f32(p + r * cols, cols) == mu_value(y, r);
    } else {
        for (int64_t r = 0; r < rows; r++)
            hits += (double)mu_argmax_f32(p + r * cols, cols) == mu_value(y, r);
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
    .class_name = "SparseCategoricalAccuracy",
    .version = 1,
    .summary = "argmax(y_pred) == integer label",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
