/*
** mean_squared_error.c -- Keras MeanSquaredError ("mse" in Lua):
** per sample mean over the last axis of (p - y)^2, then the batch mean.
** Gradient 2 (p - y) / (element count). No from-logits form.
*/
#include "lunet/plugin_loss.h"

#define WHO "mean_squared_error"

/* One row: the mean of its elements' losses, their gradients written, in
** vectors (dt: the targets' dtype, a constant at each call). */
LS_INLINE double mse_row(const ls_elem_job *j, int64_t r, const ln_dtype dt) {
    const int64_t n = j->cols, base = r * n;
    const float *p = j->p + base;
    double a[LS_LANES] = {0};
    int64_t c = 0;
    for (; c + LS_LANES <= n; c += LS_LANES) {
#pragma omp simd
        for (int k = 0; k < LS_LANES; k++) {
            const double e = (double)p[c + k] - ls_target_at(j->t, base + c + k, dt);
            a[k] += e * e;
        }
    }
    for (int k = 0; c + k < n; k++) {
        const double e = (double)p[c + k] - ls_target_at(j->t, base + c + k, dt);
        a[k] += e * e;
    }
    if (j->dp) {
        float *d = j->dp + base;
#pragma omp simd
        for (int64_t q = 0; q < n; q++)
            d[q] = (float)(2.0 * ((double)p[q] - ls_target_at(j->t, base + q, dt)) * j->inv_n);
    }
    return lu_lanes_total(a) / (double)n;
}

LS_ROWS_BY_DTYPE(row, mse_row)

/* Check shapes, then the mean over rows of the row losses. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    (void)state;
    return ls_elem_compute(ctx, WHO, pred, y, logits, loss, dpred, 0,
                           LS_ROW_FOR(row, y->dtype));
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
