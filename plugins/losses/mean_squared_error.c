/*
** mean_squared_error.c -- Keras MeanSquaredError ("mse" in Lua):
** per sample mean over the last axis of (p - y)^2, then the batch mean.
** Gradient 2 (p - y) / (element count). No from-logits form.
*/
#include "lunet/plugin_loss.h"

#define WHO "mean_squared_error"

/* One row: the mean of its elements' losses; writes their gradients. */
static double row(const void *arg, int64_t r) {
    const ls_elem_job *j = arg;
    int64_t base = r * j->cols;
    double sum = 0;
    for (int64_t c = 0; c < j->cols; c++) {
        double e = (double)j->p[base + c] - ls_value(j->y, base + c);
        sum += e * e;
        if (j->dp) j->dp[base + c] = (float)(2.0 * e * j->inv_n);
    }
    return sum / (double)j->cols;
}

/* Check shapes, then the mean over rows of the row losses. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    (void)state;
    return ls_elem_compute(ctx, WHO, pred, y, logits, loss, dpred, 0, row);
}

static const ln_loss_ops ops = {
    .size = sizeof(ln_loss_ops),
    .compute = compute,
};
static const ln_unit unit = {
    .kind = LN_KIND_LOSS,
    .name = WHO,
    .class_name = "MeanSquaredError",
    .version = 1,
    .summary = "mean of (y_pred - y_true)^2",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
