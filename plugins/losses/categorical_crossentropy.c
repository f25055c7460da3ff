/*
** categorical_crossentropy.c -- Keras CategoricalCrossentropy(
** from_logits=False, label_smoothing=0).
**
** Predictions and one-hot (or soft) targets of the same shape (..., K).
** Targets are smoothed first: y <- y (1 - s) + s / K.
** From probabilities (Keras's backend): q = p / sum(p) along the last
** axis, c = clip(q, eps, 1 - eps), L = -sum_j y_j log c_j. Its gradient
** goes through the clip (zero where it bites) and the renormalisation:
**     g_j = -y_j / c_j,  dL/dp_k = (g_k - sum_j g_j q_j) / sum(p).
** From logits: L = sum_j y_j (logsumexp(z) - z_j),
**     dL/dz_k = (sum_j y_j) softmax(z)_k - y_k.
** The batch loss is the mean over samples; gradients are divided by N.
*/
#include "lunet/plugin_loss.h"

#define WHO "categorical_crossentropy"

typedef struct job {
    const float *p;
    float *dp;
    const ln_tensor *y;
    int64_t cols;
    double inv_rows, keep, add; /* smoothed y = keep * y + add */
} job;

/* Target i after label smoothing. */
static inline double target(const job *j, int64_t i) {
    return j->keep * ls_value(j->y, i) + j->add;
}

/* One sample from probabilities. */
static double row_prob(const void *arg, int64_t r) {
    const job *j = arg;
    const float *p = j->p + r * j->cols;
    int64_t base = r * j->cols;
    double sum = 0, loss = 0, gq = 0;
    for (int64_t c = 0; c < j->cols; c++) sum += p[c];
    for (int64_t c = 0; c < j->cols; c++) {
        int ok;
        float q = (float)(p[c] / sum);
        float cc = ls_clip(q, &ok);
        double yc = target(j, base + c);
        loss -= yc * log((double)cc);
        if (ok) gq += -yc / cc * q;
    }
    if (j->dp) {
        float *d = j->dp + base;
        for (int64_t c = 0; c < j->cols; c++) {
            int ok;
            float cc = ls_clip((float)(p[c] / sum), &ok);
            double g = ok ? -target(j, base + c) / cc : 0.0;
            d[c] = (float)((g - gq) / sum * j->inv_rows);
        }
    }
    return loss;
}

/* One sample from logits. */
static double row_logits(const void *arg, int64_t r) {
    const job *j = arg;
    const float *z = j->p + r * j->cols;
    int64_t base = r * j->cols;
    float m = -INFINITY;
    for (int64_t c = 0; c < j->cols; c++) m = z[c] > m ? z[c] : m;
    double sum = 0, ysum = 0, yz = 0;
    for (int64_t c = 0; c < j->cols; c++) {
        double yc = target(j, base + c);
        sum += exp((double)z[c] - m);
        ysum += yc;
        yz += yc * ((double)z[c] - m);
    }
    double lse = log(sum); /* of z - m */
    if (j->dp) {
        float *d = j->dp + base;
        for (int64_t c = 0; c < j->cols; c++) {
            double sm = exp((double)z[c] - m) / sum;
            d[c] = (float)((ysum * sm - target(j, base + c)) * j->inv_rows);
        }
    }
    return ysum * lse - yz;
}

/* Check the request and shapes, then average the rows on the chosen path. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    const ls_ce_state *s = state;
    ls_view v = {0, 0};
    char a[128], b[128];
    ln_status st;
    if ((st = ls_check_logits(ctx, WHO, logits, 1, s->from_logits)) ||
        (st = ls_check_pred(ctx, WHO, pred, dpred, 2, &v)))
        return st;
    if (!ln_shape_equal(pred, y))
        return ln_fail(ctx, LN_E_SHAPE,
                       WHO ": targets of shape %s do not match predictions of "
                       "shape %s (one-hot targets expected; integer labels "
                       "go to sparse_categorical_crossentropy)",
                       ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    if (v.rows == 0) {
        *loss = 0;
        return LN_OK;
    }
    job j = {ln_f32(pred), dpred ? ln_f32(dpred) : NULL, y, v.cols,
             1.0 / (double)v.rows, 1.0 - s->smoothing,
             s->smoothing / (double)v.cols};
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
    .logits_activation = "softmax",
};
static const ln_unit unit = {
    .kind = LN_KIND_LOSS,
    .name = WHO,
    .class_name = "CategoricalCrossentropy",
    .version = 1,
    .summary = "cross-entropy with one-hot targets (from_logits, "
               "label_smoothing)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
