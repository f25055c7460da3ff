/*
** plugin_metric.h -- helpers shared by the metric plugins (header only).
** Metrics count correct samples with integer reductions, so the totals
** are exact and independent of the thread count.
*/
#ifndef LUNET_PLUGIN_METRIC_H
#define LUNET_PLUGIN_METRIC_H

#include <math.h>

#include "lunet/plugin.h"
#include "lunet/tensor_ops.h"


/* A label or target of any dtype, as a double. */
static inline double mu_value(const ln_tensor *y, int64_t i) {
    return ln_get_f64(y, i);
}

/* Position of the largest of n values; the first one wins ties (and NaNs
** never win), as tf.argmax and numpy do for finite input. */
static inline int64_t mu_argmax_f32(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return best;
}

/* The same over a target tensor of any dtype, from element `base`. */
static inline int64_t mu_argmax_any(const ln_tensor *y, int64_t base,
                                    int64_t n) {
    int64_t best = 0;
    double bv = mu_value(y, base);
    for (int64_t i = 1; i < n; i++) {
        double v = mu_value(y, base + i);
        if (v > bv || (bv != bv && v == v)) best = i, bv = v;
    }
    return best;
}

/* Predictions must be float32 of rank >= min_rank. *rows, *cols: the
** block seen as rows x (last axis). */
static inline ln_status mu_check_pred(ln_ctx *ctx, const char *who,
                                      const ln_tensor *pred, int min_rank,
                                      int64_t *rows, int64_t *cols) {
    char a[128];
    if (pred->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "%s: predictions must be float32, got %s",
                       who, ln_dtype_name(pred->dtype));
    if (pred->ndim < min_rank)
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: predictions of shape %s need at least %d "
                       "dimensions (batch, classes)",
                       who, ln_shape_str(pred, a, sizeof a), min_rank);
    *cols = pred->ndim ? pred->shape[pred->ndim - 1] : 1;
    *rows = *cols ? pred->numel / *cols : 0;
    return LN_OK;
}

/* Integer labels (...) or (..., 1) for predictions (..., K). */
static inline ln_status mu_check_sparse(ln_ctx *ctx, const char *who,
                                        const ln_tensor *pred,
                                        const ln_tensor *y) {
    char a[128], b[128];
    int lead = pred->ndim - 1, ok = 0;
    if (y->ndim == lead || (y->ndim == lead + 1 && y->shape[lead] == 1)) {
        ok = 1;
        for (int i = 0; i < lead; i++) ok &= y->shape[i] == pred->shape[i];
    }
    if (!ok)
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: labels of shape %s do not fit predictions of "
                       "shape %s (one integer label per row expected)",
                       who, ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    return LN_OK;
}

/* Checks of the one-hot metrics: predictions (rows x cols, rank >= 2)
** and targets of exactly their shape. */
static inline ln_status mu_check_onehot(ln_ctx *ctx, const char *who,
                                        const ln_tensor *pred,
                                        const ln_tensor *y, int64_t *rows,
                                        int64_t *cols) {
    char a[128], b[128];
    ln_status st = mu_check_pred(ctx, who, pred, 2, rows, cols);
    if (st) return st;
    if (!ln_shape_equal(pred, y))
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: targets of shape %s do not match predictions of "
                       "shape %s (one-hot targets expected)", who,
                       ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    return LN_OK;
}

/* Checks of the sparse metrics: predictions (rows x cols, rank >= 2) and
** one integer label per row. */
static inline ln_status mu_check_sparse_pred(ln_ctx *ctx, const char *who,
                                             const ln_tensor *pred,
                                             const ln_tensor *y,
                                             int64_t *rows, int64_t *cols) {
    ln_status st;
    if ((st = mu_check_pred(ctx, who, pred, 2, rows, cols)) ||
        (st = mu_check_sparse(ctx, who, pred, y)))
        return st;
    return LN_OK;
}

/* The state of the top-k metrics (k read by mu_read_k). */
typedef struct mu_topk_state {
    int64_t k;
} mu_topk_state;

/* Reads k (default 5, must be >= 1) for the top-k metrics. */
static inline ln_status mu_read_k(ln_ctx *ctx, const char *who, ln_args *args,
                                  int64_t *k) {
    ln_status st = ln_args_int(ctx, args, "k", 5, k);
    if (st) return st;
    if (*k < 1)
        return ln_fail(ctx, LN_E_ARG, "%s: 'k' must be >= 1, got %lld", who,
                       (long long)*k);
    return LN_OK;
}

/* TF's in_top_k: is target t among the k largest of x[0..n)? Ties at the
** boundary all count as in; a non-finite x[t] never does. */
static inline int mu_in_top_k(const float *x, int64_t n, int64_t t,
                              int64_t k) {
    if (t < 0 || t >= n || !isfinite(x[t])) return 0;
    int64_t greater = 0;
    for (int64_t i = 0; i < n; i++) greater += x[i] > x[t];
    return greater < k;
}

/* What a metric that counts hits reads per row (or element): predictions
** p (rows of cols), targets y, and its k or threshold. */
typedef struct mu_rows {
    const float *p;
    const ln_tensor *y;
    int64_t cols, k;
    double thr;
} mu_rows;

/* The number of r in [0, n) with hit(j, r) != 0: on the OpenMP team when
** work > LN_PAR_MIN, else with no OpenMP region at all (entering even an
** if(0) region costs ~1.2 us, ~2.4 us inside a thread team, and a metric
** runs every training step; docs/performance-training.md). Integer
** counts: the same total either way. */
static inline int64_t mu_count(const mu_rows *j, int64_t n, int64_t work,
                               int (*hit)(const mu_rows *, int64_t)) {
    int64_t hits = 0;
    if (work > LN_PAR_MIN) {
#pragma omp parallel for reduction(+ : hits) schedule(static)
        for (int64_t r = 0; r < n; r++) hits += hit(j, r) != 0;
    } else {
        for (int64_t r = 0; r < n; r++) hits += hit(j, r) != 0;
    }
    return hits;
}

#endif
