/*
** sparse_categorical_accuracy.c -- Keras sparse_categorical_accuracy:
** a sample is correct when argmax(pred) (first index wins ties) equals its
** integer label. Labels (...) or (..., 1) of any dtype; a label that is no
** class index simply never matches, as in Keras.
*/
#include "lunet/plugin_metric.h"

#define WHO "sparse_categorical_accuracy"

/* Row r: the argmax is the label. */
static int hit(const mu_rows *j, int64_t r) {
    return (double)mu_argmax_f32(j->p + r * j->cols, j->cols) == mu_value(j->y, r);
}

/* Count rows whose prediction argmax equals the label. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_sparse_pred(ctx, WHO, pred, y, &rows, &cols);
    if (st) return st;
    const float *p = ln_f32(pred);
    const mu_rows j = {p, y, cols, 0, 0};
    hits = mu_count(&j, rows, rows * cols, hit);
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
