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
    const void *t; /* the targets' data, for the logits rows (ls_target_at) */
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

/* Classes whose exponentials a row keeps on the stack (8 KB) for its
** gradient; a longer row computes them again. */
#define CCE_KEEP 1024

/* One sample from logits, in vectors (libm's exp per element ran 6.8x
** PyTorch's time at 256 x 1000): the max, and the sums of exp(z - m), of
** the targets and of target (z - m), in lanes (plugin_loss.h); each
** gradient element from its exponential in double, kept (keep: a
** constant at each call) or computed again (a soft or one-hot target
** makes softmax - target cancel: a float copy would not do). dt: the
** targets' dtype, a constant at each call (LS_ROWS_BY_DTYPE). */
LS_INLINE double logits_body(const job *j, int64_t r, const ln_dtype dt, const int keep) {
    const int64_t n = j->cols, base = r * n;
    const float *z = j->p + base;
    const double m = ls_row_max(z, n), kp = j->keep, add = j->add;
    double as[LS_LANES] = {0}, ay[LS_LANES] = {0}, az[LS_LANES] = {0}, eb[CCE_KEEP];
    int64_t c = 0;
#define CCE_SUMS_AT(e, k)                                                    \
    do {                                                                     \
        const double t = kp * ls_target_at(j->t, base + (e), dt) + add;      \
        const double u = (double)z[e] - m, x = ln_vexp(u);                   \
        if (keep) eb[e] = x;                                                 \
        as[k] += x;                                                          \
        ay[k] += t;                                                          \
        az[k] += t * u;                                                      \
    } while (0)
    for (; c + LS_LANES <= n; c += LS_LANES) {
#pragma omp simd
        for (int k = 0; k < LS_LANES; k++) CCE_SUMS_AT(c + k, k);
    }
    for (int k = 0; c + k < n; k++) CCE_SUMS_AT(c + k, k);
#undef CCE_SUMS_AT
    const double sum = lu_lanes_total(as), ysum = lu_lanes_total(ay), yz = lu_lanes_total(az);
    if (j->dp) {
        float *d = j->dp + base;
#pragma omp simd
        for (int64_t q = 0; q < n; q++) {
            const double sm = (keep ? eb[q] : ln_vexp((double)z[q] - m)) / sum;
            const double t = kp * ls_target_at(j->t, base + q, dt) + add;
            d[q] = (float)((ysum * sm - t) * j->inv_rows);
        }
    }
    return ysum * log(sum) - yz;
}

LS_INLINE double logits_row(const job *j, int64_t r, const ln_dtype dt) {
    return j->dp && j->cols <= CCE_KEEP ? logits_body(j, r, dt, 1) : logits_body(j, r, dt, 0);
}

LS_ROWS_BY_DTYPE(row_logits, logits_row)

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
             s->smoothing / (double)v.cols, NULL};
    if (!logits && !s->from_logits) {
        *loss = ls_sum_rows(v.rows, v.cols, row_prob, &j) / (double)v.rows;
        return LN_OK;
    }
    j.t = ln_data(y);
    *loss = ls_sum_rows(v.rows, v.cols, LS_ROW_FOR(row_logits, y->dtype), &j) / (double)v.rows;
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
