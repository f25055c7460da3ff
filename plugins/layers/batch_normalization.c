/*
** batch_normalization.c -- BatchNormalization (Keras, axis -1).
**
** Features are the last axis (F of them); statistics run over every other
** axis, i.e. over R = numel / F rows (the batch for (N, F) input).
**     y = x k + (beta - mean k),  k = gamma / sqrt(var + epsilon)
** Training mode (LN_TRAINING and layer->trainable): mean and the BIASED
** variance of the batch, then the moving statistics are updated once:
**     moving <- moving - (moving - batch) (1 - momentum)
** Inference mode (no LN_TRAINING, or trainable = false as in TF 2): the
** moving statistics, no update; BN is then an affine map of x.
** Weights in Keras's order: gamma (scale), beta (center) trainable,
** moving_mean, moving_variance not.
**
** Statistics and gradient sums are in double, each feature summed over the
** rows in row order by one thread (threads own blocks of features), so
** results do not depend on the number of threads.
*/
#include <stdlib.h>

#include "lunet/plugin_util.h"
#include "layer_simd.h"

#define BN_FBLOCK 64 /* features per thread task in the column sums */

typedef struct bn {
    double momentum, epsilon;
    int center, scale;
    const char *init[4];
    ln_args *init_args[4];
    double gl1, gl2, bl1, bl2;
    int64_t axis;
    int gamma, beta, mmean, mvar; /* weight indices, -1 if absent */
    int64_t f;
    double *mean, *istd;  /* statistics used by the last forward */
    double *s1, *s2;      /* per-feature sums */
    float *k, *c;         /* y = x k + c */
    float *u;             /* backward's per-feature coefficient */
} bn;

static const char *const bn_init_keys[4] = {
    "gamma_initializer", "beta_initializer", "moving_mean_initializer",
    "moving_variance_initializer"};
static const char *const bn_init_defaults[4] = {"ones", "zeros", "zeros",
                                                "ones"};

static ln_status bn_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    bn *b = l->state;
    ln_status st;
    if (ln_args_has(a, "axis")) {
        int n;
        if ((st = ln_args_ints(ctx, a, "axis", 1, &n, &b->axis))) return st;
        if (n != 1)
            return ln_fail(ctx, LN_E_ARG, "'axis' must be one axis, got %d", n);
    } else if ((st = ln_args_int(ctx, a, "axis", -1, &b->axis))) {
        return st;
    }
    if ((st = lu_number(ctx, a, "momentum", 0.99, &b->momentum)) ||
        (st = lu_number(ctx, a, "epsilon", 1e-3, &b->epsilon)) ||
        (st = ln_args_bool(ctx, a, "center", 1, &b->center)) ||
        (st = ln_args_bool(ctx, a, "scale", 1, &b->scale)))
        return st;
    if (b->momentum < 0 || b->momentum > 1)
        return ln_fail(ctx, LN_E_ARG, "'momentum' must be in [0, 1], got %g",
                       b->momentum);
    if (!(b->epsilon > 0))
        return ln_fail(ctx, LN_E_ARG, "'epsilon' must be > 0, got %g",
                       b->epsilon);
    for (int i = 0; i < 4; i++)
        if ((st = lu_initializer(ctx, a, bn_init_keys[i], bn_init_defaults[i],
                                 &b->init[i], &b->init_args[i])))
            return st;
    if ((st = ln_args_regularizer(ctx, a, "gamma_regularizer", &b->gl1, &b->gl2)) ||
        (st = ln_args_regularizer(ctx, a, "beta_regularizer", &b->bl1, &b->bl2)) ||
        (st = lu_nil_only(ctx, a, "gamma_constraint")) ||
        (st = lu_nil_only(ctx, a, "beta_constraint")))
        return st;
    /* Keras options accepted at their defaults only. */
    int renorm, fused = 0;
    if ((st = ln_args_bool(ctx, a, "renorm", 0, &renorm))) return st;
    if (renorm)
        return ln_fail(ctx, LN_E_ARG, "'renorm' = true is not supported");
    if (ln_args_has(a, "fused")) { /* a speed hint in Keras: no effect here */
        if ((st = ln_args_bool(ctx, a, "fused", 0, &fused))) return st;
    } else if ((st = lu_nil_only(ctx, a, "fused"))) {
        return st;
    }
    if ((st = lu_nil_only(ctx, a, "virtual_batch_size")) ||
        (st = lu_nil_only(ctx, a, "adjustment")))
        return st;
    b->gamma = b->beta = b->mmean = b->mvar = -1;
    return LN_OK;
}

static ln_status bn_add(ln_ctx *ctx, ln_layer *l, const char *name, int i,
                        int trainable, double l1, double l2, int *index) {
    bn *b = l->state;
    ln_weight *w;
    ln_status st = ln_layer_add_weight(ctx, l, name, 1, &b->f, trainable,
                                       b->init[i], b->init_args[i], &w);
    if (st) return st;
    w->l1 = l1, w->l2 = l2;
    *index = l->nweights - 1;
    return LN_OK;
}

static ln_status bn_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                          const int64_t *in_shape, int *out_nd,
                          int64_t *out_shape) {
    bn *b = l->state;
    char buf[128];
    if (in_nd < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of rank >= 2 (batch, ..., features), got "
                       "rank %d",
                       in_nd + 1);
    if (b->axis != -1 && b->axis != in_nd)
        return ln_fail(ctx, LN_E_ARG,
                       "'axis' %lld: only the last axis (-1, here %d) of input "
                       "(None, %s is supported",
                       (long long)b->axis, in_nd,
                       ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1);
    b->f = in_shape[in_nd - 1];
    free(b->mean);
    size_t f = (size_t)(b->f ? b->f : 1);
    b->mean = malloc(f * (4 * sizeof(double) + 3 * sizeof(float)));
    if (!b->mean) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    b->istd = b->mean + f;
    b->s1 = b->istd + f;
    b->s2 = b->s1 + f;
    b->k = (float *)(b->s2 + f);
    b->c = b->k + f;
    b->u = b->c + f;
    ln_status st;
    if (b->scale && (st = bn_add(ctx, l, "gamma", 0, 1, b->gl1, b->gl2, &b->gamma)))
        return st;
    if (b->center && (st = bn_add(ctx, l, "beta", 1, 1, b->bl1, b->bl2, &b->beta)))
        return st;
    if ((st = bn_add(ctx, l, "moving_mean", 2, 0, 0, 0, &b->mmean)) ||
        (st = bn_add(ctx, l, "moving_variance", 3, 0, 0, 0, &b->mvar)))
        return st;
    return LN_OK;
}

/* Features [j0, j0 + w) of bn_col_sums (w <= BN_FBLOCK): rows in order,
** each feature its own double accumulator. */
LU_CLONES static void bn_col_block(const float *u, const float *v,
                                   const double *center, int64_t rows,
                                   int64_t f, int64_t j0, int64_t w,
                                   double *s1, double *s2) {
    double a1[BN_FBLOCK] = {0}, a2[BN_FBLOCK] = {0};
    for (int64_t r = 0; r < rows; r++) {
        const float *ur = u + r * f + j0;
        if (center) {
            const double *cj = center + j0;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                double d = (double)ur[j] - cj[j];
                a1[j] += d * d;
            }
        } else if (v) {
            const float *vr = v + r * f + j0;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                a1[j] += ur[j];
                a2[j] += (double)ur[j] * vr[j];
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) a1[j] += ur[j];
        }
    }
    for (int64_t j = 0; j < w; j++) {
        s1[j0 + j] = a1[j];
        if (s2) s2[j0 + j] = a2[j];
    }
}

/* s1[j] = sum_r u[r, j]; with v: s2[j] = sum_r u[r, j] v[r, j] where u, v
** are [rows x f]. When center is given, u[r, j] - center[j] replaces u
** (and v = NULL squares it). Threads own blocks of BN_FBLOCK features;
** each feature is summed in row order. */
static void bn_col_sums(const float *u, const float *v, const double *center,
                        int64_t rows, int64_t f, double *s1, double *s2) {
    int64_t nblk = (f + BN_FBLOCK - 1) / BN_FBLOCK;
    if (rows * f <= LU_PAR_MIN || nblk == 1) {
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t j0 = blk * BN_FBLOCK;
            int64_t w = f - j0 < BN_FBLOCK ? f - j0 : BN_FBLOCK;
            bn_col_block(u, v, center, rows, f, j0, w, s1, s2);
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * BN_FBLOCK;
        int64_t w = f - j0 < BN_FBLOCK ? f - j0 : BN_FBLOCK;
        bn_col_block(u, v, center, rows, f, j0, w, s1, s2);
    }
}

/* The row loops of forward and backward, over rows [r0, r1). */
typedef struct bn_job {
    const float *x, *g, *k, *c, *u;
    const double *mean, *v;
    float *y;
    int64_t f;
} bn_job;

/* y = x k + c */
LU_CLONES static void bn_affine_rows(void *arg, int64_t r0, int64_t r1) {
    const bn_job *b = arg;
    const int64_t f = b->f;
    const float *k = b->k, *c = b->c;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = b->x + r * f;
        float *yr = b->y + r * f;
#pragma omp simd
        for (int64_t j = 0; j < f; j++) yr[j] = xr[j] * k[j] + c[j];
    }
}

/* inference backward: dx = dy k */
LU_CLONES static void bn_scale_rows(void *arg, int64_t r0, int64_t r1) {
    const bn_job *b = arg;
    const int64_t f = b->f;
    const float *k = b->k;
    for (int64_t r = r0; r < r1; r++) {
        const float *gr = b->g + r * f;
        float *dr = b->y + r * f;
#pragma omp simd
        for (int64_t j = 0; j < f; j++) dr[j] = gr[j] * k[j];
    }
}

/* training backward: dx = k dy + (x - mean) u + v (double, rounded once) */
LU_CLONES static void bn_dx_rows(void *arg, int64_t r0, int64_t r1) {
    const bn_job *b = arg;
    const int64_t f = b->f;
    const float *k = b->k, *u = b->u;
    const double *mean = b->mean, *v = b->v;
    for (int64_t r = r0; r < r1; r++) {
        const float *gr = b->g + r * f, *xr = b->x + r * f;
        float *dr = b->y + r * f;
#pragma omp simd
        for (int64_t j = 0; j < f; j++)
            dr[j] = (float)((double)gr[j] * k[j] +
                            ((double)xr[j] - mean[j]) * u[j] + v[j]);
    }
}

/* Training statistics from the sums: istd, and the moving averages
** updated once: moving <- moving - (moving - batch) (1 - momentum). */
LU_CLONES static void bn_batch_stats(bn *b, int64_t rows, float *mm,
                                     float *mv) {
    const double keep = 1.0 - b->momentum, eps = b->epsilon;
    const double inv = 1.0 / (double)rows;
    const double *mean = b->mean, *s2 = b->s2;
    double *istd = b->istd;
#pragma omp simd
    for (int64_t j = 0; j < b->f; j++) {
        double var = s2[j] * inv;
        istd[j] = 1.0 / sqrt(var + eps);
        mm[j] = (float)(mm[j] - ((double)mm[j] - mean[j]) * keep);
        mv[j] = (float)(mv[j] - ((double)mv[j] - var) * keep);
    }
}

/* Inference statistics: the moving ones. */
LU_CLONES static void bn_moving_stats(bn *b, const float *mm, const float *mv) {
    const double eps = b->epsilon;
    double *mean = b->mean, *istd = b->istd;
#pragma omp simd
    for (int64_t j = 0; j < b->f; j++) {
        mean[j] = mm[j];
        istd[j] = 1.0 / sqrt((double)mv[j] + eps);
    }
}

/* y = x k + c with k = gamma istd, c = beta - mean k. */
LU_CLONES static void bn_coefficients(bn *b, const float *gamma,
                                      const float *beta) {
    const double *mean = b->mean, *istd = b->istd;
    float *kk = b->k, *cc = b->c;
#pragma omp simd
    for (int64_t j = 0; j < b->f; j++) {
        double k = (gamma ? gamma[j] : 1.0) * istd[j];
        kk[j] = (float)k;
        cc[j] = (float)((beta ? beta[j] : 0.0) - mean[j] * k);
    }
}

static int bn_training(const ln_layer *l, unsigned flags) {
    return (flags & LN_TRAINING) && l->trainable;
}

static ln_status bn_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                            ln_tensor *y, unsigned flags) {
    bn *b = l->state;
    const int64_t f = b->f, rows = f ? x->numel / f : 0;
    const float *xp = ln_f32(x);
    float *mm = ln_f32(l->weights[b->mmean].value);
    float *mv = ln_f32(l->weights[b->mvar].value);
    const float *gamma = b->gamma >= 0 ? ln_f32(l->weights[b->gamma].value) : NULL;
    const float *beta = b->beta >= 0 ? ln_f32(l->weights[b->beta].value) : NULL;
    if (bn_training(l, flags) && rows > 0) {
        bn_col_sums(xp, NULL, NULL, rows, f, b->s1, NULL);
        for (int64_t j = 0; j < f; j++) b->mean[j] = b->s1[j] / (double)rows;
        bn_col_sums(xp, NULL, b->mean, rows, f, b->s2, NULL);
        bn_batch_stats(b, rows, mm, mv);
    } else {
        bn_moving_stats(b, mm, mv);
    }
    bn_coefficients(b, gamma, beta);
    bn_job job = {xp, NULL, b->k, b->c, NULL, NULL, NULL, ln_f32(y), f};
    lu_rows_range(rows, f, bn_affine_rows, &job);
    return LN_OK;
}

/* With xhat = (x - mean) istd (the statistics of the forward):
**   dbeta = sum dy, dgamma = sum dy xhat;
**   training: dx = gamma istd (dy - dbeta/R - xhat dgamma/R)
**   inference: dx = gamma istd dy. */
static ln_status bn_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                             const ln_tensor *y, const ln_tensor *dy,
                             ln_tensor *dx, unsigned flags) {
    bn *b = l->state;
    const int64_t f = b->f, rows = f ? x->numel / f : 0;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    const int train = bn_training(l, flags);
    ln_weight *wg = b->gamma >= 0 ? &l->weights[b->gamma] : NULL;
    ln_weight *wb = b->beta >= 0 ? &l->weights[b->beta] : NULL;
    const int need_dw = (flags & LN_NEED_DW) &&
                        ((wg && ln_layer_trains(l, wg)) ||
                         (wb && ln_layer_trains(l, wb)));
    const int need_dx = (flags & LN_NEED_DX) && dx;
    if (need_dw || (need_dx && train)) {
        /* s1 = sum dy, s2 = sum dy x; then sum dy xhat = (s2 - mean s1) istd */
        bn_col_sums(g, xp, NULL, rows, f, b->s1, b->s2);
        for (int64_t j = 0; j < f; j++)
            b->s2[j] = (b->s2[j] - b->mean[j] * b->s1[j]) * b->istd[j];
    }
    if (need_dw) {
        if (wg && ln_layer_trains(l, wg)) {
            float *dg = ln_f32(wg->grad);
            for (int64_t j = 0; j < f; j++) dg[j] = (float)b->s2[j];
        }
        if (wb && ln_layer_trains(l, wb)) {
            float *db = ln_f32(wb->grad);
            for (int64_t j = 0; j < f; j++) db[j] = (float)b->s1[j];
        }
    }
    if (!need_dx) return LN_OK;
    const float *k = b->k;
    bn_job job = {xp, g, k, NULL, b->u, b->mean, b->s1, ln_f32(dx), f};
    if (!train) {
        lu_rows_range(rows, f, bn_scale_rows, &job);
        return LN_OK;
    }
    /* dx = k (dy - s1/R - xhat s2/R), xhat = (x - mean) istd, as floats:
    ** dx = k dy + (x - mean) u + v with u = -k istd s2/R, v = -k s1/R. */
    float *u = b->u;
    for (int64_t j = 0; j < f; j++) {
        double kj = k[j], inv = 1.0 / (double)rows;
        u[j] = (float)(-kj * b->istd[j] * b->s2[j] * inv);
        b->s1[j] = -kj * b->s1[j] * inv; /* v, kept in double */
    }
    lu_rows_range(rows, f, bn_dx_rows, &job);
    return LN_OK;
}

static void bn_destroy(ln_layer *l) {
    bn *b = l->state;
    free(b->mean);
}

static const ln_layer_ops bn_ops = {
    sizeof(bn), bn_create, bn_build, bn_forward, bn_backward, NULL,
    bn_destroy};

static const ln_unit bn_unit = {
    LN_KIND_LAYER, "batch_normalization", "BatchNormalization", 1,
    "batch normalization over the last axis (moving statistics for inference)",
    &bn_ops};

LN_PLUGIN("batch_normalization") { return host->add(host, &bn_unit); }
