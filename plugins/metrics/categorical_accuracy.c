/*
** categorical_accuracy.c -- Keras categorical_accuracy: a sample is correct
** when argmax(pred) == argmax(y_true), first index winning ties on both.
*/
#include "lunet/plugin_metric.h"

#define WHO "categorical_accuracy"

/* Row r: the argmaxes agree. */
static int hit(const mu_rows *j, int64_t r) {
    return mu_argmax_f32(j->p + r * j->cols, j->cols) == mu_argmax_any(j->y, r * j->cols, j->cols);
}

/* Count rows whose prediction and target argmax agree. */
static ln_status update(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y, double *total, double *count) {
    int64_t rows = 0, cols = 0, hits = 0;
    ln_status st = mu_check_onehot(ctx, WHO, pred, y, &rows, &cols);
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
    .class_name = "CategoricalAccuracy",
    .version = 1,
    .summary = "argmax(y_pred) == argmax(y_true)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
