/*
** sparse_categorical_crossentropy.c -- Keras
** SparseCategoricalCrossentropy(from_logits=False).
**
** Predictions (..., K), integer labels (...) or (..., 1) of any dtype.
** From probabilities Keras takes q = log(clip(p, eps, 1 - eps)) and applies
** the softmax cross-entropy to q, so per sample
**     L = log(sum_j c_j) - log(c_y),   c = clip(p)
** (an implicit renormalisation). From logits z (the fused path, or
** from_logits = true): L = logsumexp(z) - z_y, gradient softmax(z) - onehot.
** The batch loss is the mean over samples; gradients are divided by N.
*/
#include "lunet/plugin_loss.h"

#define WHO "sparse_categorical_crossentropy"

typedef struct scce_state {
    int from_logits;
} scce_state;

typedef struct job {
    const float *p;
    float *dp; /* NULL: no gradient */
    const ln_tensor *y;
    int64_t cols;
    double inv_rows;
} job;

/* Read from_logits. */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    scce_state *s = state;
    return ln_args_bool(ctx, args, "from_logits", 0, &s->from_logits);
}

/* One sample from probabilities. */
static double row_prob(const void *arg, int64_t r) {
    const job *j = arg;
    const float *p = j->p + r * j->cols;
    int64_t y = ln_label_at(j->y, r);
    double sum = 0;
    int pass;
    for (int64_t c = 0; c < j->cols; c++) sum += ls_clip(p[c], &pass);
    float cy = ls_clip(p[y], &pass);
    if (j->dp) {
        float *d = j->dp + r * j->cols;
        for (int64_t c = 0; c < j->cols; c++) {
            int ok;
            float cc = ls_clip(p[c], &ok);
            double g = 1.0 / sum - (c == y ? 1.0 / cc : 0.0);
            d[c] = ok ? (float)(g * j->inv_rows) : 0.0f;
        }
    }
    return log(sum) - log((double)cy);
}

/* One sample from logits, in vectors (the exponentials were libm calls,
** one element at a time: 7x PyTorch's time at 256 x 1000): the max and
** the sum of exp(z - m) in lanes (plugin_loss.h), the exponentials kept
** in the gradient row (as floats) and scaled there by 1 / (sum rows);
** the label's element from its exponential in double (softmax - 1 would
** lose the float's rounding to cancellation). */
LN_CLONES static double row_logits(const void *arg, int64_t r) {
    const job *j = arg;
    const int64_t n = j->cols;
    const float *z = j->p + r * n;
    const int64_t y = ln_label_at(j->y, r);
    const double m = ls_row_max(z, n), inv = j->inv_rows;
    float *d = j->dp ? j->dp + r * n : NULL;
    const double sum = d ? ls_exp_sum(z, n, m, d, 1) : ls_exp_sum(z, n, m, NULL, 0);
    if (d) {
        const double scale = inv / sum;
#pragma omp simd
        for (int64_t c = 0; c < n; c++) d[c] = (float)((double)d[c] * scale);
        d[y] = (float)((ln_vexp((double)z[y] - m) / sum - 1.0) * inv);
    }
    return m + log(sum) - (double)z[y];
}

/* Labels must fit the predictions' leading axes and lie in [0, K). */
static ln_status check_labels(ln_ctx *ctx, const ln_tensor *pred,
                              const ln_tensor *y, ls_view v) {
    char a[128], b[128];
    int lead = pred->ndim - 1, ok = 1;
    if (y->ndim == lead) {
        for (int i = 0; i < lead; i++) ok &= y->shape[i] == pred->shape[i];
    } else if (y->ndim == lead + 1 && y->shape[lead] == 1) {
        for (int i = 0; i < lead; i++) ok &= y->shape[i] == pred->shape[i];
    } else {
        ok = 0;
    }
    if (!ok)
        return ln_fail(ctx, LN_E_SHAPE,
                       WHO ": labels of shape %s do not fit predictions of "
                       "shape %s (one integer label per row expected)",
                       ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    for (int64_t i = 0; i < v.rows; i++) {
        double lv = ls_value(y, i);
        if (lv != floor(lv))
            return ln_fail(ctx, LN_E_ARG,
                           WHO ": label %g at index %lld is not an integer",
                           lv, (long long)i);
        if (lv < 0 || lv >= (double)v.cols)
            return ln_fail(ctx, LN_E_ARG,
                           WHO ": label %g at index %lld is out of range "
                           "[0, %lld) for predictions of shape %s",
                           lv, (long long)i, (long long)v.cols,
                           ln_shape_str(pred, b, sizeof b));
    }
    return LN_OK;
}

/* Check the request, shapes and labels (before any parallel work), then
** average the rows on the chosen path. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    const scce_state *s = state;
    ls_view v = {0, 0};
    ln_status st;
    if ((st = ls_check_logits(ctx, WHO, logits, 1, s->from_logits)) ||
        (st = ls_check_pred(ctx, WHO, pred, dpred, 2, &v)) ||
        (st = check_labels(ctx, pred, y, v)))
        return st;
    if (v.rows == 0) {
        *loss = 0;
        return LN_OK;
    }
    job j = {ln_f32(pred), dpred ? ln_f32(dpred) : NULL, y, v.cols,
             1.0 / (double)v.rows};
    double total = ls_sum_rows(v.rows, v.cols,
                               logits || s->from_logits ? row_logits
                                                        : row_prob, &j);
    *loss = total / (double)v.rows;
    return LN_OK;
}

static const ln_loss_ops ops = {
    .size = sizeof(ln_loss_ops),
    .state_size = sizeof(scce_state),
    .create = create,
    .compute = compute,
    .logits_activation = "softmax",
};
static const ln_unit unit = {
    .kind = LN_KIND_LOSS,
    .name = WHO,
    .class_name = "SparseCategoricalCrossentropy",
    .version = 1,
    .summary = "cross-entropy with integer labels (from_logits)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
