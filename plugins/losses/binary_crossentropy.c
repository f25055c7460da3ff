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
    int64_t cols;
    double inv_n, keep, add;
    const void *t; /* the targets' data (ls_target_at) */
} job;

/* Rows in vectors (lunet/vmath.h's double log and exp instead of libm's
** calls: 5.9x PyTorch's time at 256 x 1000 from logits, 1.5x from
** probabilities); dt: the targets' dtype, a constant at each call
** (LS_ROWS_BY_DTYPE). */

/* Element c of a row from probabilities: Keras's clip, then eps again
** inside the logs (a and b in float, as Keras); no gradient where the clip
** bites (or p is NaN: the loss is NaN then). */
LS_INLINE double prob_at(const job *j, const float *p, float *d, int64_t base, int64_t c,
                         const ln_dtype dt, const int want_d) {
    const float v = p[c], lo = LS_EPS, hi = 1.0f - LS_EPS;
    float cl = v < lo ? lo : v; /* ls_clip's value, in two selects */
    cl = cl > hi ? hi : cl;
    const float a = cl + LS_EPS, b = 1.0f - cl + LS_EPS;
    const double y = j->keep * ls_target_at(j->t, base + c, dt) + j->add;
    if (want_d) {
        /* the float made before the select: GCC 12 vectorises only so */
        const float g = (float)(-(y / a - (1.0 - y) / b) * j->inv_n);
        d[c] = (v >= lo) & (v <= hi) ? g : 0.0f;
    }
    return -(y * ln_vlog((double)a) + (1.0 - y) * ln_vlog((double)b));
}

/* Element c of a row from logits: max(z, 0) - z y + log(1 + e^-|z|). */
LS_INLINE double logit_at(const job *j, const float *z, float *d, int64_t base, int64_t c,
                          const ln_dtype dt, const int want_d) {
    const double v = z[c];
    const double y = j->keep * ls_target_at(j->t, base + c, dt) + j->add;
    const double e = ln_vexp(-fabs(v)), w = 1.0 + e;
    if (want_d) d[c] = (float)(((v >= 0 ? 1.0 : e) / w - y) * j->inv_n);
    /* log1p(e): log(1 + e) and the rounding error of 1 + e */
    return (v > 0 ? v : 0) - v * y + (ln_vlog(w) + (e - (w - 1.0)) / w);
}

/* The mean of a row's element losses in lanes (with the gradients when
** want_d, a constant at each call). */
#define BCE_ROW(AT, j, r, dt, want_d)                                       \
    do {                                                                     \
        const int64_t n_ = (j)->cols, base_ = (r) * n_;                      \
        const float *p_ = (j)->p + base_;                                    \
        float *d_ = want_d ? (j)->dp + base_ : NULL;                         \
        double a_[LS_LANES] = {0};                                           \
        int64_t c_ = 0;                                                      \
        for (; c_ + LS_LANES <= n_; c_ += LS_LANES) {                        \
            _Pragma("omp simd") for (int k = 0; k < LS_LANES; k++)           \
                a_[k] += AT(j, p_, d_, base_, c_ + k, dt, want_d);                  \
        }                                                                    \
        for (int k = 0; c_ + k < n_; k++) a_[k] += AT(j, p_, d_, base_, c_ + k, dt, want_d); \
        return lu_lanes_total(a_) / (double)n_;                              \
    } while (0)

LS_INLINE double logits_row(const job *j, int64_t r, const ln_dtype dt) {
    if (j->dp) BCE_ROW(logit_at, j, r, dt, 1);
    BCE_ROW(logit_at, j, r, dt, 0);
}

LS_ROWS_BY_DTYPE(row_logits, logits_row)

LS_INLINE double probs_row(const job *j, int64_t r, const ln_dtype dt) {
    if (j->dp) BCE_ROW(prob_at, j, r, dt, 1);
    BCE_ROW(prob_at, j, r, dt, 0);
}

LS_ROWS_BY_DTYPE(row_probs, probs_row)

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
    job j = {ln_f32(pred), dpred ? ln_f32(dpred) : NULL, v.cols,
             1.0 / ((double)v.rows * (double)v.cols), 1.0 - s->smoothing,
             s->smoothing / 2.0, ln_data(y)};
    if (!logits && !s->from_logits)
        *loss = ls_sum_rows(v.rows, v.cols, LS_ROW_FOR(row_probs, y->dtype), &j) / (double)v.rows;
    else
        *loss = ls_sum_rows(v.rows, v.cols, LS_ROW_FOR(row_logits, y->dtype), &j) / (double)v.rows;
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
