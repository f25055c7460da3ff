/*
** binary_crossentropy.c -- Keras BinaryCrossentropy(from_logits=False,
** label_smoothing=0).
**
** Predictions and targets of one shape (up to a trailing 1); targets are
** smoothed first: y <- y (1 - s) + s / 2. Per element, from probabilities
** (Keras's backend, clipping and then eps again inside the logs):
**     c = clip(p, eps, 1 - eps),
**     l = -[y log(c + eps) + (1 - y) log(1 - c + eps)]
** and from logits z: l = max(z, 0) - z y + log(1 + e^-|z|), whose
** gradient is sigmoid(z) - y. The per-sample loss is the mean over the last
** axis, the batch loss the mean over samples (so the gradient of every
** element is divided by the element count).
*/
#include "lunet/plugin_loss.h"

#define WHO "binary_crossentropy"

typedef struct job {
    const float *p;
    float *dp;
    const ln_tensor *y;
    int64_t cols;
    double inv_n, keep, add;
} job;

/* One row from probabilities: the mean of its elements' losses. */
static double row_prob(const void *arg, int64_t r) {
    const job *j = arg;
    int64_t base = r * j->cols;
    const float *p = j->p + base;
    double sum = 0;
    for (int64_t c = 0; c < j->cols; c++) {
        int ok;
        float cl = ls_clip(p[c], &ok);
        float a = cl + LS_EPS, b = 1.0f - cl + LS_EPS; /* float, as Keras */
        double y = j->keep * ls_value(j->y, base + c) + j->add;
        sum -= y * log((double)a) + (1.0 - y) * log((double)b);
        if (j->dp) {
            double g = -(y / a - (1.0 - y) / b);
            j->dp[base + c] = ok ? (float)(g * j->inv_n) : 0.0f;
        }
    }
    return sum / (double)j->cols;
}

/* One row from logits. */
static double row_logits(const void *arg, int64_t r) {
    const job *j = arg;
    int64_t base = r * j->cols;
    const float *z = j->p + base;
    double sum = 0;
    for (int64_t c = 0; c < j->cols; c++) {
        double v = z[c], y = j->keep * ls_value(j->y, base + c) + j->add;
        double e = exp(-fabs(v));
        sum += (v > 0 ? v : 0) - v * y + log1p(e);
        if (j->dp) {
            double sg = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            j->dp[base + c] = (float)((sg - y) * j->inv_n);
        }
    }
    return sum / (double)j->cols;
}

/* Check the request and shapes, then average the rows on the chosen path. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    const ls_ce_state *s = state;
    ls_view v = {0, 0};
    ln_status st;
    if ((st = ls_check_elementwise(ctx, WHO, pred, y, dpred, logits, 1,
                                   s->from_logits, &v)))
        return st;
    if (v.rows == 0) {
        *loss = 0;
        return LN_OK;
    }
    job j = {ln_f32(pred), dpred ? ln_f32(dpred) : NULL, y, v.cols,
             1.0 / ((double)v.rows * (double)v.cols), 1.0 - s->smoothing,
             s->smoothing / 2.0};
    double total = ls_sum_rows(v.rows, v.cols,
                               logits || s->from_logits ? row_logits
                                                        : row_prob, &j);
    *loss = total / (double)v.rows;
    return LN_OK;
}

static const ln_loss_ops ops = {
    .size = sizeof(ln_loss_ops),
    .state_size = sizeof(ls_ce_state),
    .create = ls_ce_create,
    .compute = compute,
    .logits_activation = "sigmoid",
};
static const ln_unit unit = {
    .kind = LN_KIND_LOSS,
    .name = WHO,
    .class_name = "BinaryCrossentropy",
    .version = 1,
    .summary = "binary cross-entropy (from_logits, label_smoothing)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
