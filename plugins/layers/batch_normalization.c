/*
** batch_normalization.c -- BatchNormalization (Keras).
**
** Features are one axis (axis, default -1: the channels of channels_last
** feature maps; 1 for channels_first); statistics run over every other
** axis, i.e. over R = numel / F rows (the batch for (N, F) input). A
** feature axis that is not the last is moved last (a transposed copy) and
** back.
**     y = x k + (beta - mean k),  k = gamma / sqrt(var + epsilon)
** Training mode (LN_TRAINING and layer->trainable): mean and the BIASED
** variance of the batch, then the moving statistics are updated once:
**     moving <- moving - (moving - batch) (1 - momentum)
** For 4-D input with axis 1 or 3 (-1) Keras runs TF's fused kernel, whose
** moving variance is updated with the UNBIASED batch variance (R / (R - 1)
** times the biased one that normalizes); so does this layer there, unless
** fused = false (then, as for other inputs, the biased one).
** Inference mode (no LN_TRAINING, or trainable = false as in TF 2): the
** moving statistics, no update; BN is then an affine map of x.
** Weights in Keras's order: gamma (scale), beta (center) trainable,
** moving_mean, moving_variance not.
**
** Statistics and gradient sums are in double, each feature summed over the
** rows in row order by one thread (threads own blocks of features); with
** many rows and few features (feature maps) the rows are cut into fixed
** chunks whose sums are added in chunk order. Results do not depend on the
** number of threads.
**
** Passes: in training, each block of BN_FBLOCK features is independent of
** the others from the statistics to the output, so forward runs ONE task
** per block doing all of its passes (sum, centred sum of squares, the
** statistics, the coefficients, y = x k + c over those columns) while the
** block is in L1, and backward likewise (the two sums, dgamma, dbeta, the
** coefficients, dx): one hand-out of work per pass direction instead of
** three and two, and none at all below BN_TEAM_MIN elements, where the
** hand-out (publishing, a wake-up, the columns moving to the other core)
** costs more than the pass (docs/performance-training.md, "Two threads and
** the BN step"). Each feature's arithmetic is the one of the separate
** passes, in the same order: the fusion changes no bit. The chunked sums
** (many rows, few features) keep their separate passes. On a team, a
** small batch whose rows are whole cache lines (features a multiple of
** 16) goes by the two halves of lu_feature_halves -- where a Dense cuts
** its kernel rows -- whatever its size: a Dense after it then reads only
** the columns its own core wrote, which the publisher alone wrote before
** (experiment 2 on distant vCPUs, docs/performance-training.md).
*/
#include <stdlib.h>

#include "lunet/plugin_util.h"

#define BN_FBLOCK 64 /* features per thread task in the column sums */
#define BN_CHUNK 1024 /* rows per partial sum when rows are cut */
#define BN_SPLIT_ROWS 4096 /* ... which they are from this many rows */
/* rows x features from which the fused passes go to the team (or to an
** OpenMP loop) by blocks: below, one thread runs them all -- a hand-out
** of blocks (and the columns crossing cores) costs more than a pass of
** BN(300) at batch 32 (docs/performance-training.md, "Two threads and the
** BN step"); small batches of whole-line rows go by two halves instead
** (see the top). Overridable at compile time (-DBN_TEAM_MIN=...). */
#ifndef BN_TEAM_MIN
#define BN_TEAM_MIN 65536
#endif

typedef struct bn {
    double momentum, epsilon;
    int center, scale;
    const char *init[4];
    ln_args *init_args[4];
    double gl1, gl2, bl1, bl2;
    int64_t axis;
    int fused;    /* the keyword: -1 nil, 0 false, 1 true */
    int unbiased; /* moving variance from the unbiased batch variance */
    int gamma, beta, mmean, mvar; /* weight indices, -1 if absent */
    int64_t f;
    int64_t inner; /* elements after the feature axis (1: it is the last) */
    ln_tensor *xt, *yt, *dyt; /* feature axis moved last */
    double *part;  /* chunked sums: 2 x chunks x f */
    int64_t part_cap;
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
    bn *b = ln_layer_state(l);
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
    b->fused = -1; /* Keras: a speed hint, which changes the moving variance */
    if (ln_args_has(a, "fused")) {
        if ((st = ln_args_bool(ctx, a, "fused", 0, &fused))) return st;
        b->fused = fused;
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
    bn *b = ln_layer_state(l);
    ln_status st = ln_layer_add_weight(ctx, l, name, 1, &b->f, trainable,
                                       b->init[i], b->init_args[i], index);
    if (!st) ln_layer_set_regularizer(l, *index, l1, l2);
    return st;
}

static ln_status bn_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                          int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    bn *b = ln_layer_state(l);
    char buf[128];
    if (in_nd < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of rank >= 2 (batch, ..., features), got "
                       "rank %d",
                       in_nd + 1);
    /* Keras's axes count the batch axis: 1 .. in_nd, or -in_nd .. -1 */
    const int64_t ax = b->axis < 0 ? in_nd + 1 + b->axis : b->axis;
    if (ax < 1 || ax > in_nd)
        return ln_fail(ctx, LN_E_ARG,
                       "'axis' %lld is not a feature axis of input (None, %s "
                       "(1 .. %d, or -%d .. -1)",
                       (long long)b->axis,
                       ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1, in_nd, in_nd);
    b->f = in_shape[ax - 1];
    b->inner = 1;
    for (int i = (int)ax; i < in_nd; i++) b->inner *= in_shape[i];
    const int fusable = in_nd == 3 && (ax == 1 || ax == 3);
    if (b->fused == 1 && !fusable)
        return ln_fail(ctx, LN_E_ARG,
                       "fused = true needs 4-D input with axis 1 or 3 (-1), got input "
                       "(None, %s and axis %lld",
                       ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1, (long long)b->axis);
    b->unbiased = fusable && b->fused != 0;
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
** each feature its own double accumulator. Four rows per round: the
** accumulators are loaded and stored once per four rows (they live in a
** stack array, not in registers) while each feature still adds its rows
** one by one, in row order -- the same sums, to the bit, as row by row. */
LN_CLONES static void bn_col_block(const float *u, const float *v,
                                   const double *center, int64_t rows,
                                   int64_t f, int64_t j0, int64_t w,
                                   double *s1, double *s2) {
    double a1[BN_FBLOCK] = {0}, a2[BN_FBLOCK] = {0};
    int64_t r = 0;
    const float *p = u + j0, *q = v ? v + j0 : NULL;
    if (center) {
        const double *cj = center + j0;
        for (; r + 4 <= rows; r += 4, p += 4 * f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                double d0 = (double)p[j] - cj[j], d1 = (double)p[f + j] - cj[j];
                double d2 = (double)p[2 * f + j] - cj[j], d3 = (double)p[3 * f + j] - cj[j];
                double t = a1[j];
                t += d0 * d0;
                t += d1 * d1;
                t += d2 * d2;
                t += d3 * d3;
                a1[j] = t;
            }
        }
        for (; r < rows; r++, p += f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                double d = (double)p[j] - cj[j];
                a1[j] += d * d;
            }
        }
    } else if (v) {
        for (; r + 4 <= rows; r += 4, p += 4 * f, q += 4 * f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                double t1 = a1[j], t2 = a2[j];
                t1 += p[j];
                t2 += (double)p[j] * q[j];
                t1 += p[f + j];
                t2 += (double)p[f + j] * q[f + j];
                t1 += p[2 * f + j];
                t2 += (double)p[2 * f + j] * q[2 * f + j];
                t1 += p[3 * f + j];
                t2 += (double)p[3 * f + j] * q[3 * f + j];
                a1[j] = t1;
                a2[j] = t2;
            }
        }
        for (; r < rows; r++, p += f, q += f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                a1[j] += p[j];
                a2[j] += (double)p[j] * q[j];
            }
        }
    } else {
        for (; r + 4 <= rows; r += 4, p += 4 * f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                double t = a1[j];
                t += p[j];
                t += p[f + j];
                t += p[2 * f + j];
                t += p[3 * f + j];
                a1[j] = t;
            }
        }
        for (; r < rows; r++, p += f) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) a1[j] += p[j];
        }
    }
    for (int64_t j = 0; j < w; j++) {
        s1[j0 + j] = a1[j];
        if (s2) s2[j0 + j] = a2[j];
    }
}

/* What the tasks of bn_col_sums share. */
typedef struct bn_sums {
    const float *u, *v;
    const double *center;
    int64_t rows, f, nblk;
    double *s1, *s2, *p1, *p2; /* p1, p2: the chunks' partial sums */
} bn_sums;

/* Feature blocks [b0, b1), over every row. */
static void bn_sum_blocks(void *arg, int64_t b0, int64_t b1) {
    const bn_sums *s = arg;
    for (int64_t blk = b0; blk < b1; blk++) {
        int64_t j0 = blk * BN_FBLOCK;
        int64_t w = s->f - j0 < BN_FBLOCK ? s->f - j0 : BN_FBLOCK;
        bn_col_block(s->u, s->v, s->center, s->rows, s->f, j0, w, s->s1, s->s2);
    }
}

/* (chunk of rows, feature block) pairs [t0, t1), into the partial sums. */
static void bn_sum_chunks(void *arg, int64_t t0, int64_t t1) {
    const bn_sums *s = arg;
    const int64_t f = s->f;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t ch = t / s->nblk, j0 = (t % s->nblk) * BN_FBLOCK;
        const int64_t r0 = ch * BN_CHUNK;
        const int64_t nr = s->rows - r0 < BN_CHUNK ? s->rows - r0 : BN_CHUNK;
        const int64_t w = f - j0 < BN_FBLOCK ? f - j0 : BN_FBLOCK;
        bn_col_block(s->u + r0 * f, s->v ? s->v + r0 * f : NULL, s->center, nr, f, j0,
                     w, s->p1 + ch * f, s->s2 ? s->p2 + ch * f : NULL);
    }
}

/* s1[j] = sum_r u[r, j]; with v: s2[j] = sum_r u[r, j] v[r, j] where u, v
** are [rows x f]. When center is given, u[r, j] - center[j] replaces u
** (and v = NULL squares it). Tasks own blocks of BN_FBLOCK features;
** each feature is summed in row order -- or, from BN_SPLIT_ROWS rows with
** few feature blocks, per chunk of BN_CHUNK rows into part (2 x chunks x
** f doubles), the chunks then added in order. */
static void bn_col_sums(const float *u, const float *v, const double *center,
                        int64_t rows, int64_t f, double *s1, double *s2,
                        double *part) {
    const int64_t nblk = (f + BN_FBLOCK - 1) / BN_FBLOCK;
    bn_sums s = {u, v, center, rows, f, nblk, s1, s2, part, NULL};
    if (rows < BN_SPLIT_ROWS || nblk >= 4) {
        ln_parallel_rows(nblk, rows * BN_FBLOCK, bn_sum_blocks, &s);
        return;
    }
    const int64_t nch = (rows + BN_CHUNK - 1) / BN_CHUNK;
    s.p2 = part + nch * f;
    ln_parallel_rows(nch * nblk, BN_CHUNK * BN_FBLOCK, bn_sum_chunks, &s);
    for (int64_t j = 0; j < f; j++) {
        double a1 = 0, a2 = 0;
        for (int64_t ch = 0; ch < nch; ch++) {
            a1 += s.p1[ch * f + j];
            if (s2) a2 += s.p2[ch * f + j];
        }
        s1[j] = a1;
        if (s2) s2[j] = a2;
    }
}

/* The partial-sum space bn_col_sums needs for `rows` (grown only). */
static ln_status bn_part(ln_ctx *ctx, bn *b, int64_t rows) {
    const int64_t need = 2 * ((rows + BN_CHUNK - 1) / BN_CHUNK) * b->f;
    if (rows < BN_SPLIT_ROWS || need <= b->part_cap) return LN_OK;
    double *p = realloc(b->part, (size_t)need * sizeof *p);
    if (!p) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    b->part = p;
    b->part_cap = need;
    return LN_OK;
}

typedef struct bn_move {
    float *dst;
    const float *src;
    int64_t a, b;
} bn_move;

static void bn_move_blocks(void *arg, int64_t o0, int64_t o1) {
    const bn_move *m = arg;
    const int64_t a = m->a, b = m->b;
    for (int64_t o = o0; o < o1; o++)
        for (int64_t i = 0; i < a; i++)
            for (int64_t j = 0; j < b; j++)
                m->dst[o * a * b + j * a + i] = m->src[o * a * b + i * b + j];
}

/* dst = src with, in each of the numel / (a b) blocks, [a x b] -> [b x a]:
** the feature axis moved last (a = f, b = inner) or back. */
static void bn_move_axis(float *dst, const float *src, int64_t numel, int64_t a,
                         int64_t b) {
    bn_move m = {dst, src, a, b};
    ln_parallel_rows(numel / (a * b), a * b, bn_move_blocks, &m);
}

/* The row loops of forward and backward, over rows [r0, r1). */
typedef struct bn_job {
    const float *x, *g, *k, *c, *u;
    const double *mean, *v;
    float *y;
    int64_t f;
} bn_job;

/* y = x k + c */
LN_CLONES static void bn_affine_rows(void *arg, int64_t r0, int64_t r1) {
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
LN_CLONES static void bn_scale_rows(void *arg, int64_t r0, int64_t r1) {
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
LN_CLONES static void bn_dx_rows(void *arg, int64_t r0, int64_t r1) {
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
LN_CLONES static void bn_batch_stats(bn *b, int64_t rows, float *mm,
                                     float *mv, int64_t j0, int64_t j1) {
    const double keep = 1.0 - b->momentum, eps = b->epsilon;
    const double inv = 1.0 / (double)rows;
    /* the moving variance's estimate: biased, or unbiased as TF's fused BN */
    const double corr = b->unbiased && rows > 1 ? (double)rows / (double)(rows - 1) : 1.0;
    const double *mean = b->mean, *s2 = b->s2;
    double *istd = b->istd;
#pragma omp simd
    for (int64_t j = j0; j < j1; j++) {
        double var = s2[j] * inv;
        istd[j] = 1.0 / sqrt(var + eps);
        mm[j] = (float)(mm[j] - ((double)mm[j] - mean[j]) * keep);
        mv[j] = (float)(mv[j] - ((double)mv[j] - var * corr) * keep);
    }
}

/* Inference statistics: the moving ones. */
LN_CLONES static void bn_moving_stats(bn *b, const float *mm, const float *mv) {
    const double eps = b->epsilon;
    double *mean = b->mean, *istd = b->istd;
#pragma omp simd
    for (int64_t j = 0; j < b->f; j++) {
        mean[j] = mm[j];
        istd[j] = 1.0 / sqrt((double)mv[j] + eps);
    }
}

/* Features [j0, j1) of y = x k + c: k = gamma istd, c = beta - mean k. */
LN_CLONES static void bn_coefficients(bn *b, const float *gamma,
                                      const float *beta, int64_t j0,
                                      int64_t j1) {
    const double *mean = b->mean, *istd = b->istd;
    float *kk = b->k, *cc = b->c;
#pragma omp simd
    for (int64_t j = j0; j < j1; j++) {
        double k = (gamma ? gamma[j] : 1.0) * istd[j];
        kk[j] = (float)k;
        cc[j] = (float)((beta ? beta[j] : 0.0) - mean[j] * k);
    }
}

/* Features [j0, j1) of the backward sums: s2 = sum dy x becomes
** sum dy xhat = (s2 - mean s1) istd. (Not cloned, as it always was: its
** rounding stays that of the baseline build.) */
static void bn_dxhat_sums(bn *b, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++)
        b->s2[j] = (b->s2[j] - b->mean[j] * b->s1[j]) * b->istd[j];
}

/* Features [j0, j1) of training dx = k (dy - s1/R - xhat s2/R), as
** dx = k dy + (x - mean) u + v: u = -k istd s2/R (float), v = -k s1/R
** (double, in s1). */
static void bn_dx_coefficients(bn *b, int64_t rows, int64_t j0, int64_t j1) {
    const float *k = b->k;
    float *u = b->u;
    for (int64_t j = j0; j < j1; j++) {
        double kj = k[j], inv = 1.0 / (double)rows;
        u[j] = (float)(-kj * b->istd[j] * b->s2[j] * inv);
        b->s1[j] = -kj * b->s1[j] * inv;
    }
}

/* The fused passes of one call over blocks of BN_FBLOCK features. */
typedef struct bn_fused {
    bn *b;
    const float *x, *g;    /* input; backward: dy */
    float *y;              /* forward: y; backward: dx (or NULL) */
    float *mm, *mv;        /* moving statistics (forward, training) */
    const float *gamma, *beta;
    float *dg, *db;        /* backward: the gradients asked for (or NULL) */
    ln_grad_sink *sink;    /* backward: where finished dg, db blocks go */
    int64_t rows;
    int train, sums;       /* backward: training-mode dx; the sums needed */
} bn_fused;

/* y[:, j0 .. j0+w) = x k + c over those columns (bn_affine_rows's
** arithmetic). */
LN_CLONES static void bn_affine_cols(const float *x, float *y, const float *k,
                                     const float *c, int64_t rows, int64_t f,
                                     int64_t j0, int64_t w) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * f + j0;
        float *yr = y + r * f + j0;
        const float *kj = k + j0, *cj = c + j0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) yr[j] = xr[j] * kj[j] + cj[j];
    }
}

/* dx[:, j0 .. j0+w): training k dy + (x - mean) u + v (bn_dx_rows's
** arithmetic), or inference dy k (bn_scale_rows's). */
LN_CLONES static void bn_dx_cols(const bn_fused *s, int64_t j0, int64_t w) {
    const bn *b = s->b;
    const int64_t f = b->f;
    const float *k = b->k + j0, *u = b->u + j0;
    const double *mean = b->mean + j0, *v = b->s1 + j0;
    for (int64_t r = 0; r < s->rows; r++) {
        const float *gr = s->g + r * f + j0, *xr = s->x + r * f + j0;
        float *dr = s->y + r * f + j0;
        if (s->train) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                dr[j] = (float)((double)gr[j] * k[j] +
                                ((double)xr[j] - mean[j]) * u[j] + v[j]);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) dr[j] = gr[j] * k[j];
        }
    }
}

/* Training forward, features [j0, j1) in blocks of BN_FBLOCK from j0: per
** block the sum, the mean, the centred sum of squares, the statistics
** (istd, the moving averages), the coefficients and y, while the block's
** columns are in cache. */
static void bn_fwd_cols(const bn_fused *s, int64_t j0, int64_t j1) {
    bn *b = s->b;
    const int64_t f = b->f, rows = s->rows;
    for (int64_t a = j0; a < j1; a += BN_FBLOCK) {
        const int64_t w = j1 - a < BN_FBLOCK ? j1 - a : BN_FBLOCK;
        bn_col_block(s->x, NULL, NULL, rows, f, a, w, b->s1, NULL);
        for (int64_t j = a; j < a + w; j++) b->mean[j] = b->s1[j] / (double)rows;
        bn_col_block(s->x, NULL, b->mean, rows, f, a, w, b->s2, NULL);
        bn_batch_stats(b, rows, s->mm, s->mv, a, a + w);
        bn_coefficients(b, s->gamma, s->beta, a, a + w);
        bn_affine_cols(s->x, s->y, b->k, b->c, rows, f, a, w);
    }
}

/* Backward, features [j0, j1) in blocks of BN_FBLOCK from j0: per block
** s1 = sum dy and s2 = sum dy xhat (when needed), dgamma and dbeta (handed
** to the sink at once), the coefficients u, v and dx. */
static void bn_bwd_cols(const bn_fused *s, int64_t j0, int64_t j1) {
    bn *b = s->b;
    const int64_t f = b->f, rows = s->rows;
    for (int64_t a = j0; a < j1; a += BN_FBLOCK) {
        const int64_t e = j1 - a < BN_FBLOCK ? j1 : a + BN_FBLOCK;
        if (s->sums) {
            bn_col_block(s->g, s->x, NULL, rows, f, a, e - a, b->s1, b->s2);
            bn_dxhat_sums(b, a, e);
        }
        if (s->dg) {
            for (int64_t j = a; j < e; j++) s->dg[j] = (float)b->s2[j];
            ln_grad_ready(s->sink, b->gamma, a, e);
        }
        if (s->db) {
            for (int64_t j = a; j < e; j++) s->db[j] = (float)b->s1[j];
            ln_grad_ready(s->sink, b->beta, a, e);
        }
        if (!s->y) continue;
        if (s->train) bn_dx_coefficients(b, rows, a, e);
        bn_dx_cols(s, a, e - a);
    }
}

/* The fused passes over features [j0, j1) (bn_fwd_cols or bn_bwd_cols). */
typedef void (*bn_cols_fn)(const bn_fused *s, int64_t j0, int64_t j1);

typedef struct bn_cols_job {
    const bn_fused *s;
    bn_cols_fn fn;
    int64_t cut; /* the two halves' cut (bn_run_fused) */
} bn_cols_job;

static void bn_block_range(void *arg, int64_t b0, int64_t b1) {
    const bn_cols_job *j = arg;
    const int64_t f = j->s->b->f;
    j->fn(j->s, b0 * BN_FBLOCK, b1 * BN_FBLOCK < f ? b1 * BN_FBLOCK : f);
}

static void bn_half_task(void *arg, int64_t t) {
    const bn_cols_job *j = arg;
    j->fn(j->s, t ? j->cut : 0, t ? j->s->b->f : j->cut);
}

/* The fused passes: on a team, a small batch of whole-line rows by the two
** halves of the features (see the top); else by blocks on the team (or an
** OpenMP loop) from BN_TEAM_MIN elements, and all here below. */
static void bn_run_fused(const bn_fused *s, bn_cols_fn fn) {
    const int64_t f = s->b->f, nblk = (f + BN_FBLOCK - 1) / BN_FBLOCK;
    bn_cols_job j = {s, fn, f % 16 ? 0 : lu_feature_halves(s->rows, f)};
    if (j.cut && ln_parallel_threads() > 1) {
        ln_parallel_tasks(2, bn_half_task, &j);
        return;
    }
    if (nblk < 2 || s->rows * f < BN_TEAM_MIN) {
        fn(s, 0, f);
        return;
    }
    /* a chunk: a block's columns over every row, about three passes */
    ln_parallel_rows(nblk, 3 * s->rows * BN_FBLOCK, bn_block_range, &j);
}

/* Whether the fused passes apply: the sums of a block run over every row
** (not the chunked sums of many rows and few features). */
static int bn_fusable(const bn *b, int64_t rows) {
    const int64_t nblk = (b->f + BN_FBLOCK - 1) / BN_FBLOCK;
    return rows < BN_SPLIT_ROWS || nblk >= 4;
}

static int bn_training(const ln_layer *l, unsigned flags) {
    return (flags & LN_TRAINING) && ln_layer_trainable(l);
}

static ln_status bn_forward(ln_ctx *ctx, ln_layer *l,
                            const ln_tensor *const *xs, ln_tensor *const *ys,
                            unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    bn *b = ln_layer_state(l);
    const int64_t f = b->f, rows = f ? x->numel / f : 0;
    const float *xp = ln_f32(x);
    float *yp = ln_f32(y);
    ln_status st;
    if ((st = bn_part(ctx, b, rows))) return st;
    if (b->inner > 1) { /* the feature axis moved last, and back at the end */
        if ((st = lu_buffer_like(ctx, &b->xt, x)) || (st = lu_buffer_like(ctx, &b->yt, y)))
            return st;
        bn_move_axis(ln_f32(b->xt), xp, x->numel, f, b->inner);
        xp = ln_f32(b->xt);
        yp = ln_f32(b->yt);
    }
    float *mm = ln_f32(ln_layer_weight(l, b->mmean));
    float *mv = ln_f32(ln_layer_weight(l, b->mvar));
    const float *gamma = b->gamma >= 0 ? ln_f32(ln_layer_weight(l, b->gamma)) : NULL;
    const float *beta = b->beta >= 0 ? ln_f32(ln_layer_weight(l, b->beta)) : NULL;
    const int train = bn_training(l, flags) && rows > 0;
    if (train && bn_fusable(b, rows)) { /* every pass of a block at once */
        bn_fused s = {b, xp, NULL, yp, mm, mv, gamma, beta, NULL, NULL, NULL,
                      rows, 1, 0};
        bn_run_fused(&s, bn_fwd_cols);
    } else {
        if (train) { /* many rows, few features: the chunked sums */
            bn_col_sums(xp, NULL, NULL, rows, f, b->s1, NULL, b->part);
            for (int64_t j = 0; j < f; j++) b->mean[j] = b->s1[j] / (double)rows;
            bn_col_sums(xp, NULL, b->mean, rows, f, b->s2, NULL, b->part);
            bn_batch_stats(b, rows, mm, mv, 0, f);
        } else {
            bn_moving_stats(b, mm, mv);
        }
        bn_coefficients(b, gamma, beta, 0, f);
        bn_job job = {xp, NULL, b->k, b->c, NULL, NULL, NULL, yp, f};
        if (rows * f < BN_TEAM_MIN) bn_affine_rows(&job, 0, rows);
        else ln_parallel_rows(rows, f, bn_affine_rows, &job);
    }
    if (b->inner > 1) bn_move_axis(ln_f32(y), yp, y->numel, b->inner, f);
    return LN_OK;
}

/* With xhat = (x - mean) istd (the statistics of the forward):
**   dbeta = sum dy, dgamma = sum dy xhat;
**   training: dx = gamma istd (dy - dbeta/R - xhat dgamma/R)
**   inference: dx = gamma istd dy. */
static ln_status bn_backward(ln_ctx *ctx, ln_layer *l,
                             const ln_tensor *const *xs,
                             const ln_tensor *const *ys,
                             const ln_tensor *const *dys,
                             ln_tensor *const *dxs, ln_grad_sink *sink,
                             unsigned flags) {
    const ln_tensor *x = xs[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    bn *b = ln_layer_state(l);
    const int64_t f = b->f, rows = f ? x->numel / f : 0;
    const float *xp = ln_f32(x), *g = ln_f32(dy);
    float *dxp = dx ? ln_f32(dx) : NULL;
    const int train = bn_training(l, flags);
    ln_status st;
    if ((st = bn_part(ctx, b, rows))) return st;
    if (b->inner > 1) { /* xt is the forward's; dx goes through yt */
        if ((st = lu_buffer_like(ctx, &b->dyt, dy)) || (st = lu_buffer_like(ctx, &b->yt, dy)))
            return st;
        bn_move_axis(ln_f32(b->dyt), g, dy->numel, f, b->inner);
        xp = ln_f32(b->xt);
        g = ln_f32(b->dyt);
        dxp = ln_f32(b->yt);
    }
    const int dgamma = (flags & LN_NEED_DW) && b->gamma >= 0 && ln_layer_trains(l, b->gamma);
    const int dbeta = (flags & LN_NEED_DW) && b->beta >= 0 && ln_layer_trains(l, b->beta);
    const int need_dx = dx != NULL;
    const int sums = dgamma || dbeta || (need_dx && train);
    float *dg = dgamma ? ln_f32(ln_layer_grad(l, b->gamma)) : NULL;
    float *db = dbeta ? ln_f32(ln_layer_grad(l, b->beta)) : NULL;
    if (!sums && !need_dx) return LN_OK;
    if (bn_fusable(b, rows)) { /* every pass of a block at once */
        bn_fused s = {b, xp, g, need_dx ? dxp : NULL, NULL, NULL, NULL, NULL,
                      dg, db, sink, rows, train, sums};
        bn_run_fused(&s, bn_bwd_cols);
    } else { /* many rows, few features: the chunked sums, then dx by rows */
        if (sums) { /* s1 = sum dy, s2 = sum dy x, then sum dy xhat */
            bn_col_sums(g, xp, NULL, rows, f, b->s1, b->s2, b->part);
            bn_dxhat_sums(b, 0, f);
        }
        for (int64_t j = 0; dg && j < f; j++) dg[j] = (float)b->s2[j];
        for (int64_t j = 0; db && j < f; j++) db[j] = (float)b->s1[j];
        if (!need_dx) return LN_OK;
        if (train) bn_dx_coefficients(b, rows, 0, f);
        bn_job job = {xp, g, b->k, NULL, b->u, b->mean, b->s1, dxp, f};
        ln_parallel_rows(rows, f, train ? bn_dx_rows : bn_scale_rows, &job);
    }
    if (need_dx && b->inner > 1) bn_move_axis(ln_f32(dx), dxp, dx->numel, b->inner, f);
    return LN_OK;
}

static void bn_destroy(ln_layer *l) {
    bn *b = ln_layer_state(l);
    free(b->mean);
    free(b->part);
    ln_tensor_release(b->xt);
    ln_tensor_release(b->yt);
    ln_tensor_release(b->dyt);
}

static const ln_layer_ops bn_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(bn),
    .create = bn_create,
    .build = bn_build,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
};

static const ln_unit bn_unit = {
    .kind = LN_KIND_LAYER,
    .name = "batch_normalization",
    .class_name = "BatchNormalization",
    .version = 1,
    .summary = "batch normalization over one feature axis (moving statistics for inference)",
    .ops = &bn_ops,
};

LN_PLUGIN("batch_normalization") { return host->add(host, &bn_unit); }
