/*
** plugin_loss.h -- helpers shared by the loss plugins (header only).
**
** Predictions are seen as a [rows x cols] block, cols being the last axis
** (the class axis, or the axis Keras averages over for the elementwise
** losses), rows everything before it. Per-row losses are summed through
** a fixed blocking (LS_BLOCK rows per partial sum, partials added in block
** order) so the batch loss is bitwise the same for any thread count; each
** row's gradient is written by the thread that owns the row.
*/
#ifndef LUNET_PLUGIN_LOSS_H
#define LUNET_PLUGIN_LOSS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lunet/parallel.h"
#include "lunet/plugin.h"
#include "lunet/plugin_util.h"
#include "lunet/tensor_ops.h"
#include "lunet/vmath.h"

#define LS_EPS 1e-7f     /* Keras's backend epsilon */
#define LS_BLOCK 64      /* rows per partial sum */
#define LS_GROUP 256     /* partial sums per pass */

/* The predictions as rows x cols. */
typedef struct ls_view {
    int64_t rows, cols;
} ls_view;

/* A label or target value of any dtype, as a double. */
static inline double ls_value(const ln_tensor *y, int64_t i) {
    return ln_get_f64(y, i);
}

/* Checks shared by every loss: float32 predictions of rank >= min_rank
** and, when given, a float32 gradient buffer of the same size. Fills *v. */
static inline ln_status ls_check_pred(ln_ctx *ctx, const char *who,
                                      const ln_tensor *pred,
                                      const ln_tensor *dpred, int min_rank,
                                      ls_view *v) {
    char a[128], b[128];
    if (pred->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "%s: predictions must be float32, got %s",
                       who, ln_dtype_name(pred->dtype));
    if (pred->ndim < min_rank)
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: predictions of shape %s need at least %d "
                       "dimension%s", who, ln_shape_str(pred, a, sizeof a),
                       min_rank, min_rank > 1 ? "s (batch, classes)" : "");
    if (dpred && (dpred->dtype != LN_FLOAT32 || dpred->numel != pred->numel))
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: gradient buffer of shape %s (%s) does not match "
                       "predictions of shape %s", who,
                       ln_shape_str(dpred, a, sizeof a),
                       ln_dtype_name(dpred->dtype),
                       ln_shape_str(pred, b, sizeof b));
    v->cols = pred->ndim ? pred->shape[pred->ndim - 1] : 1;
    v->rows = v->cols ? pred->numel / v->cols : 0;
    return LN_OK;
}

/* Do the shapes agree up to one trailing axis of length 1 on either side
** (Keras's squeeze_or_expand_dimensions: (N,) against (N, 1))? */
static inline int ls_shapes_fit(const ln_tensor *a, const ln_tensor *b) {
    const ln_tensor *lo = a->ndim <= b->ndim ? a : b;
    const ln_tensor *hi = lo == a ? b : a;
    if (hi->ndim - lo->ndim > 1) return 0;
    if (hi->ndim != lo->ndim && hi->shape[hi->ndim - 1] != 1) return 0;
    for (int i = 0; i < lo->ndim; i++)
        if (lo->shape[i] != hi->shape[i]) return 0;
    return 1;
}

/* The targets of an elementwise loss (binary CE, MSE, ...) must have the
** predictions' shape (up to a trailing 1). */
static inline ln_status ls_check_same(ln_ctx *ctx, const char *who,
                                      const ln_tensor *pred,
                                      const ln_tensor *y) {
    char a[128], b[128];
    if (!ls_shapes_fit(pred, y))
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: targets of shape %s do not match predictions of "
                       "shape %s", who, ln_shape_str(y, a, sizeof a),
                       ln_shape_str(pred, b, sizeof b));
    return LN_OK;
}

/* Refuse the `logits` request when the loss has no from-logits form, or
** when from_logits is already set (pred would be activated twice in Keras;
** the fused path cannot reproduce that). */
static inline ln_status ls_check_logits(ln_ctx *ctx, const char *who,
                                        int logits, int has_form,
                                        int from_logits) {
    if (logits && !has_form)
        return ln_fail(ctx, LN_E_ARG, "%s: has no from-logits form", who);
    if (logits && from_logits)
        return ln_fail(ctx, LN_E_ARG,
                       "%s: from_logits = true already; the fused logits "
                       "path must not be used with it", who);
    return LN_OK;
}

/* ---- rows in vectors ------------------------------------------------------
** For row functions compiled per CPU (LN_CLONES): always inlined, so each
** clone has its own vector code. Sums run in LS_LANES double lanes added
** by lu_lanes_total (plugin_util.h): the same bits on every CPU, clone and
** thread count. */
#define LS_LANES LU_LANES
#define LS_INLINE LU_ALWAYS_INLINE

/* The largest of z[0..n) by m = z > m ? z : m from -inf (a NaN is never
** taken), lane by lane -- the last part as one more vector, its lanes past
** the end reading -inf -- then over the lanes. */
LS_INLINE float ls_row_max(const float *z, int64_t n) {
    float lane[LS_LANES];
    for (int k = 0; k < LS_LANES; k++) lane[k] = -INFINITY;
    for (int64_t c = 0; c < n; c += LS_LANES) {
        const int64_t left = n - c;
#pragma omp simd
        for (int k = 0; k < LS_LANES; k++) {
            const float v = k < left ? z[c + k] : -INFINITY;
            lane[k] = v > lane[k] ? v : lane[k];
        }
    }
    float m = -INFINITY;
    for (int k = 0; k < LS_LANES; k++) m = lane[k] > m ? lane[k] : m;
    return m;
}

/* The sum over z[0..n) of exp(z - m) in double (lunet/vmath.h's ln_vexp),
** the last part as one more vector whose lanes past the end add exp(-inf)
** = +0 (a short row -- ten classes -- costs one vector, not ten scalar
** exponentials); with store (a constant at each call) each exponential,
** rounded to float, into e[0..n) too. */
LS_INLINE double ls_exp_sum(const float *z, int64_t n, double m, float *e, const int store) {
    double a[LS_LANES] = {0};
    int64_t c = 0;
    for (; c + LS_LANES <= n; c += LS_LANES) {
#pragma omp simd
        for (int k = 0; k < LS_LANES; k++) {
            const double v = ln_vexp((double)z[c + k] - m);
            a[k] += v;
            if (store) e[c + k] = (float)v;
        }
    }
    if (c < n) {
        const int64_t left = n - c;
        double v[LS_LANES];
#pragma omp simd
        for (int k = 0; k < LS_LANES; k++) {
            v[k] = ln_vexp(k < left ? (double)z[c + k] - m : -INFINITY);
            a[k] += v[k];
        }
        for (int k = 0; store && k < left; k++) e[c + k] = (float)v[k];
    }
    return lu_lanes_total(a);
}

/* Target element i of t (the targets' data, of dtype dt: a constant at
** each call, so each instantiation reads one type, in vectors), exactly,
** as a double. LS_ROWS_BY_DTYPE(NAME, BODY) defines the per-CPU row
** functions NAME_f32, NAME_i32 and NAME_u8 from an always-inline
** BODY(job, r, dt); LS_ROW_FOR(NAME, dt) picks the one for a dtype. */
LS_INLINE double ls_target_at(const void *t, int64_t i, const ln_dtype dt) {
    return dt == LN_FLOAT32 ? (double)((const float *)t)[i]
           : dt == LN_INT32 ? (double)((const int32_t *)t)[i]
                            : (double)((const uint8_t *)t)[i];
}

#define LS_ROWS_BY_DTYPE(NAME, BODY)                                         \
    LN_CLONES static double NAME##_f32(const void *a, int64_t r) {           \
        return BODY(a, r, LN_FLOAT32);                                       \
    }                                                                        \
    LN_CLONES static double NAME##_i32(const void *a, int64_t r) {           \
        return BODY(a, r, LN_INT32);                                         \
    }                                                                        \
    LN_CLONES static double NAME##_u8(const void *a, int64_t r) {            \
        return BODY(a, r, LN_UINT8);                                         \
    }
#define LS_ROW_FOR(NAME, dt)                                                 \
    ((dt) == LN_FLOAT32 ? NAME##_f32 : (dt) == LN_INT32 ? NAME##_i32 : NAME##_u8)

/* Block b of the group of rows from g (m rows): its rows' sum in order. */
static inline double ls_block_sum(double (*row)(const void *, int64_t), const void *arg,
                                  int64_t g, int64_t m, int64_t b) {
    int64_t lo = g + b * LS_BLOCK, hi = lo + LS_BLOCK;
    if (hi > g + m) hi = g + m;
    double s = 0;
    for (int64_t r = lo; r < hi; r++) s += row(arg, r);
    return s;
}

/* The sum over rows of row(arg, r), in a fixed blocking. row may write the
** gradient of its row; it must not fail. */
static inline double ls_sum_rows(int64_t rows, int64_t cols,
                                 double (*row)(const void *, int64_t),
                                 const void *arg) {
    double total = 0;
    int par = rows * cols >= LN_PAR_MIN;
    for (int64_t g = 0; g < rows; g += (int64_t)LS_GROUP * LS_BLOCK) {
        int64_t m = rows - g;
        if (m > (int64_t)LS_GROUP * LS_BLOCK) m = (int64_t)LS_GROUP * LS_BLOCK;
        int64_t nb = (m + LS_BLOCK - 1) / LS_BLOCK;
        double part[LS_GROUP];
        /* The same blocks either way; no OpenMP region at all when it
        ** would run on one thread: entering even an if(0) region costs
        ** ~1.2 us here, ~2.4 us inside a thread team (every training step
        ** of a small batch paid it; docs/performance-training.md). */
        if (par && nb > 1) {
#pragma omp parallel for schedule(static)
            for (int64_t b = 0; b < nb; b++) part[b] = ls_block_sum(row, arg, g, m, b);
        } else {
            for (int64_t b = 0; b < nb; b++) part[b] = ls_block_sum(row, arg, g, m, b);
        }
        for (int64_t b = 0; b < nb; b++) total += part[b];
    }
    return total;
}

/* The state of the cross-entropies with label smoothing. */
typedef struct ls_ce_state {
    int from_logits;
    double smoothing;
} ls_ce_state;

/* Read from_logits and label_smoothing (in [0, 1]) into an ls_ce_state. */
static inline ln_status ls_ce_create(ln_ctx *ctx, void *state,
                                     ln_args *args) {
    ls_ce_state *s = state;
    ln_status st;
    if ((st = ln_args_bool(ctx, args, "from_logits", 0, &s->from_logits)) ||
        (st = ln_args_number(ctx, args, "label_smoothing", 0.0,
                             &s->smoothing)))
        return st;
    if (!(s->smoothing >= 0 && s->smoothing <= 1))
        return ln_fail(ctx, LN_E_ARG,
                       "'label_smoothing' must be in [0, 1], got %g",
                       s->smoothing);
    return LN_OK;
}

/* The checks of an elementwise loss: the logits request, float32
** predictions (and gradient buffer), targets of the predictions' shape. */
static inline ln_status ls_check_elementwise(ln_ctx *ctx, const char *who,
                                             const ln_tensor *pred,
                                             const ln_tensor *y,
                                             const ln_tensor *dpred,
                                             int logits, int has_form,
                                             int from_logits, ls_view *v) {
    ln_status st;
    if ((st = ls_check_logits(ctx, who, logits, has_form, from_logits)) ||
        (st = ls_check_pred(ctx, who, pred, dpred, 1, v)) ||
        (st = ls_check_same(ctx, who, pred, y)))
        return st;
    return LN_OK;
}

/* A row job of the elementwise regression losses (no from-logits form):
** inv_n = 1 / (element count), param a loss parameter (Huber's delta). */
typedef struct ls_elem_job {
    const float *p;
    float *dp;
    const ln_tensor *y;
    int64_t cols;
    double inv_n, param;
    const void *t; /* the targets' data, for rows in vectors (ls_target_at) */
} ls_elem_job;

/* The whole compute of such a loss: check, then the mean over rows of
** row(job, r) (0 for no rows). */
static inline ln_status ls_elem_compute(ln_ctx *ctx, const char *who,
                                        const ln_tensor *pred,
                                        const ln_tensor *y, int logits,
                                        double *loss, ln_tensor *dpred,
                                        double param,
                                        double (*row)(const void *, int64_t)) {
    ls_view v = {0, 0};
    ln_status st = ls_check_elementwise(ctx, who, pred, y, dpred, logits, 0, 0,
                                        &v);
    if (st) return st;
    if (v.rows == 0) {
        *loss = 0;
        return LN_OK;
    }
    ls_elem_job j = {ln_f32(pred), dpred ? ln_f32(dpred) : NULL, y, v.cols,
                     1.0 / ((double)v.rows * (double)v.cols), param, ln_data(y)};
    *loss = ls_sum_rows(v.rows, v.cols, row, &j) / (double)v.rows;
    return LN_OK;
}

/* Keras's clip of a probability to [eps, 1 - eps] (in float32, as Keras
** computes it), and whether the clip let the gradient through. */
static inline float ls_clip(float p, int *pass) {
    const float lo = LS_EPS, hi = 1.0f - LS_EPS;
    *pass = p >= lo && p <= hi;
    return p < lo ? lo : p > hi ? hi : p;
}

#endif
