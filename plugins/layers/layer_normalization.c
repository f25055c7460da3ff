/*
** layer_normalization.c -- LayerNormalization (Keras).
**
** Each sample is normalized over the axes `axis` (default -1; a list of
** consecutive axes, Keras numbering with the batch axis 0, negative from
** the end): with x viewed as [outer, norm, inner] (norm = the product of
** those axes),
**     y = (x - mean) / sqrt(var + epsilon) * gamma + beta
** where mean and the biased var run over the norm elements of each (outer,
** inner) group, and gamma and beta (shape: the normalized axes' sizes, as
** Keras) are indexed by the position inside norm. Same in training and
** inference (no moving statistics).
**
** Backward, with xhat = (x - mean) rstd and g = dy gamma:
**     dx = rstd (g - mean(g) - xhat mean(g xhat)),
**     dgamma = sum over groups of dy xhat, dbeta = sum of dy.
** Statistics in double (a group of contiguous elements sums in double
** lanes, below). Tasks own blocks of LN_GROUPS groups (their y and dx) and
** write partial sums of dgamma, dbeta per block, which are then added in
** block order: results do not depend on the number of threads.
*/
#include <math.h>
#include <stdlib.h>

#include "conv_util.h"

#define LN_GROUPS 64 /* groups per task */

typedef struct lnorm {
    int naxes;
    int64_t axes[LN_MAX_DIM];
    double epsilon;
    int center, scale;
    const char *init[2]; /* gamma, beta */
    ln_args *init_args[2];
    double l1[2], l2[2];
    int w[2]; /* weight indices, -1 when absent */
    int64_t outer, norm, inner;
    ln_tensor *stats; /* mean and rstd per group (double) */
    ln_tensor *part;  /* per task block: dgamma, dbeta partial sums (double) */
} lnorm;

static ln_status lnorm_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    lnorm *n = cu_state(l);
    ln_status st;
    if (ln_args_has(a, "axis")) {
        if ((st = ln_args_ints(ctx, a, "axis", LN_MAX_DIM, &n->naxes, n->axes))) return st;
    } else {
        if ((st = ln_args_int(ctx, a, "axis", -1, &n->axes[0]))) return st;
        n->naxes = 1;
    }
    if (n->naxes < 1) return ln_fail(ctx, LN_E_ARG, "'axis' must name at least one axis");
    if ((st = lu_number(ctx, a, "epsilon", 1e-3, &n->epsilon)) ||
        (st = ln_args_bool(ctx, a, "center", 1, &n->center)) ||
        (st = ln_args_bool(ctx, a, "scale", 1, &n->scale)))
        return st;
    if (!(n->epsilon > 0))
        return ln_fail(ctx, LN_E_ARG, "'epsilon' must be > 0, got %g", n->epsilon);
    static const char *const keys[2][4] = {
        {"gamma_initializer", "ones", "gamma_regularizer", "gamma_constraint"},
        {"beta_initializer", "zeros", "beta_regularizer", "beta_constraint"}};
    for (int i = 0; i < 2; i++)
        if ((st = lu_initializer(ctx, a, keys[i][0], keys[i][1], &n->init[i],
                                 &n->init_args[i])) ||
            (st = ln_args_regularizer(ctx, a, keys[i][2], &n->l1[i], &n->l2[i])) ||
            (st = lu_nil_only(ctx, a, keys[i][3])))
            return st;
    n->w[0] = n->w[1] = -1;
    return LN_OK;
}

static ln_status lnorm_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                             int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    lnorm *n = cu_state(l);
    char buf[128];
    int64_t ax[LN_MAX_DIM];
    for (int i = 0; i < n->naxes; i++) {
        ax[i] = n->axes[i] < 0 ? in_nd + 1 + n->axes[i] : n->axes[i];
        if (ax[i] < 1 || ax[i] > in_nd)
            return ln_fail(ctx, LN_E_ARG,
                           "'axis' %lld is not an axis of a sample of input (None, %s "
                           "(1 .. %d, or -%d .. -1)",
                           (long long)n->axes[i],
                           ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1, in_nd, in_nd);
    }
    /* sorted, consecutive, no repeats */
    for (int i = 1; i < n->naxes; i++)
        for (int k = i; k > 0 && ax[k] < ax[k - 1]; k--) {
            int64_t t = ax[k];
            ax[k] = ax[k - 1], ax[k - 1] = t;
        }
    for (int i = 1; i < n->naxes; i++)
        if (ax[i] != ax[i - 1] + 1)
            return ln_fail(ctx, LN_E_ARG,
                           "'axis' must list consecutive axes once each (lunet "
                           "normalizes over one block of axes)");
    int64_t pshape[LN_MAX_DIM];
    n->outer = n->norm = n->inner = 1;
    for (int i = 0; i < in_nd; i++) {
        if (i + 1 < ax[0]) n->outer *= in_shape[i];
        else if (i + 1 > ax[n->naxes - 1]) n->inner *= in_shape[i];
        else pshape[i + 1 - ax[0]] = in_shape[i], n->norm *= in_shape[i];
    }
    ln_status st;
    if (n->scale && (st = cu_add_weight(ctx, l, "gamma", n->naxes, pshape, 1, n->init[0],
                                        n->init_args[0], n->l1[0], n->l2[0], &n->w[0])))
        return st;
    if (n->center && (st = cu_add_weight(ctx, l, "beta", n->naxes, pshape, 1, n->init[1],
                                         n->init_args[1], n->l1[1], n->l2[1], &n->w[1])))
        return st;
    return LN_OK;
}

typedef struct lnorm_job {
    const lnorm *n;
    const float *x, *dy, *gamma, *beta;
    float *y, *dx;
    double *stats, *part; /* part: per block, dgamma then dbeta (norm each) */
    int64_t groups;
} lnorm_job;

/* Element k (< norm) of group q (outer o, inner i) is at base + k * inner. */
static inline int64_t lnorm_base(const lnorm *n, int64_t q) {
    return (q / n->inner) * n->norm * n->inner + q % n->inner;
}

/* ---- one group whose elements are contiguous (inner = 1: the default
** axis = -1) -- sums in LU_LANES double lanes (plugin_util.h: the same bits
** on every CPU, clone and thread count; one chain of dependent additions,
** 4 cycles an element, ran a 32 x 512 step at 2.2x PyTorch's time). The
** elementwise loops do each element's arithmetic as the strided path does. */
#define LN_LANES LU_LANES

/* The sum of x[0..n), or with sq of (x - c)^2, in double lanes. */
LU_ALWAYS_INLINE double lane_sum(const float *x, int64_t n,
                                                             double c, const int sq) {
    double a[LN_LANES] = {0};
    int64_t k = 0;
    for (; k + LN_LANES <= n; k += LN_LANES) {
#pragma omp simd
        for (int i = 0; i < LN_LANES; i++) {
            const double d = sq ? (double)x[k + i] - c : (double)x[k + i];
            a[i] += sq ? d * d : d;
        }
    }
    for (int i = 0; k + i < n; i++) {
        const double d = sq ? (double)x[k + i] - c : (double)x[k + i];
        a[i] += sq ? d * d : d;
    }
    return lu_lanes_total(a);
}

/* y = xhat gamma + beta over a row (has_g, has_b: constants at each call). */
LU_ALWAYS_INLINE void row_out(float *y, const float *x, int64_t n,
                                                          double mean, double rstd,
                                                          const float *gamma, const float *beta,
                                                          const int has_g, const int has_b) {
#pragma omp simd
    for (int64_t k = 0; k < n; k++) {
        double v = ((double)x[k] - mean) * rstd;
        if (has_g) v *= gamma[k];
        if (has_b) v += beta[k];
        y[k] = (float)v;
    }
}

/* Backward's first pass over a row: sg = sum of g, sgx = sum of g xhat
** (g = dy gamma) in lanes, and with has_d dgamma += dy xhat, dbeta += dy. */
LU_ALWAYS_INLINE void row_sums(const float *x, const float *dy,
                                                           int64_t n, double mean, double rstd,
                                                           const float *gamma, double *dg,
                                                           double *db, const int has_g,
                                                           const int has_d, double *sg,
                                                           double *sgx) {
    double a[LN_LANES] = {0}, b[LN_LANES] = {0};
    int64_t k = 0;
#define ROW_SUMS_AT(e, i)                                                    \
    do {                                                                     \
        const double xh = ((double)x[e] - mean) * rstd;                      \
        const double gk = (double)dy[e] * (has_g ? (double)gamma[e] : 1.0);  \
        a[i] += gk;                                                          \
        b[i] += gk * xh;                                                     \
        if (has_d) dg[e] += (double)dy[e] * xh, db[e] += dy[e];              \
    } while (0)
    for (; k + LN_LANES <= n; k += LN_LANES) {
#pragma omp simd
        for (int i = 0; i < LN_LANES; i++) ROW_SUMS_AT(k + i, i);
    }
    for (int i = 0; k + i < n; i++) ROW_SUMS_AT(k + i, i);
#undef ROW_SUMS_AT
    *sg = lu_lanes_total(a);
    *sgx = lu_lanes_total(b);
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)) over a row. */
LU_ALWAYS_INLINE void row_dx(float *dx, const float *x,
                                                         const float *dy, int64_t n,
                                                         double mean, double rstd,
                                                         const float *gamma, double mg,
                                                         double mgx, const int has_g) {
#pragma omp simd
    for (int64_t k = 0; k < n; k++) {
        const double xh = ((double)x[k] - mean) * rstd;
        const double gk = (double)dy[k] * (has_g ? (double)gamma[k] : 1.0);
        dx[k] = (float)(rstd * (gk - mg - xh * mgx));
    }
}

/* ---- tasks: blocks of LN_GROUPS groups ------------------------------------- */

LN_CLONES static void lnorm_fwd_task(void *arg, int64_t t) {
    const lnorm_job *j = arg;
    const lnorm *n = j->n;
    const int64_t q1 = (t + 1) * LN_GROUPS < j->groups ? (t + 1) * LN_GROUPS : j->groups;
    const float *gm = j->gamma, *bt = j->beta;
    for (int64_t q = t * LN_GROUPS; q < q1; q++) {
        const int64_t base = lnorm_base(n, q), st = n->inner, len = n->norm;
        const float *x = j->x + base;
        float *y = j->y + base;
        if (st == 1) {
            const double mean = lane_sum(x, len, 0, 0) / (double)len;
            const double var = lane_sum(x, len, mean, 1) / (double)len;
            const double rstd = 1.0 / sqrt(var + n->epsilon);
            j->stats[2 * q] = mean, j->stats[2 * q + 1] = rstd;
            if (gm && bt) row_out(y, x, len, mean, rstd, gm, bt, 1, 1);
            else if (gm) row_out(y, x, len, mean, rstd, gm, bt, 1, 0);
            else if (bt) row_out(y, x, len, mean, rstd, gm, bt, 0, 1);
            else row_out(y, x, len, mean, rstd, gm, bt, 0, 0);
            continue;
        }
        double s = 0, s2 = 0;
        for (int64_t k = 0; k < len; k++) s += x[k * st];
        const double mean = s / (double)len;
        for (int64_t k = 0; k < len; k++) {
            const double d = (double)x[k * st] - mean;
            s2 += d * d;
        }
        const double rstd = 1.0 / sqrt(s2 / (double)len + n->epsilon);
        j->stats[2 * q] = mean, j->stats[2 * q + 1] = rstd;
        for (int64_t k = 0; k < len; k++) {
            double v = ((double)x[k * st] - mean) * rstd;
            if (gm) v *= gm[k];
            if (bt) v += bt[k];
            y[k * st] = (float)v;
        }
    }
}

LN_CLONES static void lnorm_bwd_task(void *arg, int64_t t) {
    const lnorm_job *j = arg;
    const lnorm *n = j->n;
    const int64_t q1 = (t + 1) * LN_GROUPS < j->groups ? (t + 1) * LN_GROUPS : j->groups;
    double *dg = j->part ? j->part + t * 2 * n->norm : NULL, *db = dg ? dg + n->norm : NULL;
    const float *gm = j->gamma;
    if (dg)
        for (int64_t k = 0; k < 2 * n->norm; k++) dg[k] = 0;
    for (int64_t q = t * LN_GROUPS; q < q1; q++) {
        const int64_t base = lnorm_base(n, q), st = n->inner, len = n->norm;
        const float *x = j->x + base, *g = j->dy + base;
        const double mean = j->stats[2 * q], rstd = j->stats[2 * q + 1];
        double sg = 0, sgx = 0;
        if (st == 1) {
            if (gm && dg) row_sums(x, g, len, mean, rstd, gm, dg, db, 1, 1, &sg, &sgx);
            else if (gm) row_sums(x, g, len, mean, rstd, gm, dg, db, 1, 0, &sg, &sgx);
            else if (dg) row_sums(x, g, len, mean, rstd, gm, dg, db, 0, 1, &sg, &sgx);
            else row_sums(x, g, len, mean, rstd, gm, dg, db, 0, 0, &sg, &sgx);
            if (!j->dx) continue;
            const double mg = sg / (double)len, mgx = sgx / (double)len;
            if (gm) row_dx(j->dx + base, x, g, len, mean, rstd, gm, mg, mgx, 1);
            else row_dx(j->dx + base, x, g, len, mean, rstd, gm, mg, mgx, 0);
            continue;
        }
        for (int64_t k = 0; k < len; k++) {
            const double xh = ((double)x[k * st] - mean) * rstd;
            const double gk = (double)g[k * st] * (gm ? gm[k] : 1.0);
            sg += gk;
            sgx += gk * xh;
            if (dg) dg[k] += (double)g[k * st] * xh, db[k] += g[k * st];
        }
        if (!j->dx) continue;
        const double mg = sg / (double)len, mgx = sgx / (double)len;
        float *dx = j->dx + base;
        for (int64_t k = 0; k < len; k++) {
            const double xh = ((double)x[k * st] - mean) * rstd;
            const double gk = (double)g[k * st] * (gm ? gm[k] : 1.0);
            dx[k * st] = (float)(rstd * (gk - mg - xh * mgx));
        }
    }
}

static ln_status lnorm_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                               ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    lnorm *n = cu_state(l);
    const int64_t groups = x->shape[0] * n->outer * n->inner;
    const int64_t sshape[1] = {2 * groups * 2}; /* doubles as floats */
    ln_status st = lu_buffer(ctx, &n->stats, 1, sshape);
    if (st) return st;
    lnorm_job j = {n, ln_f32(x), NULL, cu_value(l, n->w[0]), cu_value(l, n->w[1]),
                   ln_f32(y), NULL, (double *)ln_f32(n->stats), NULL, groups};
    cu_run_sized(x->numel, (groups + LN_GROUPS - 1) / LN_GROUPS, lnorm_fwd_task, &j);
    return LN_OK;
}

static ln_status lnorm_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                                const ln_tensor *const *ys, const ln_tensor *const *dys,
                                ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    lnorm *n = cu_state(l);
    float *dgamma = cu_grad(l, n->w[0], flags), *dbeta = cu_grad(l, n->w[1], flags);
    const int64_t groups = x->shape[0] * n->outer * n->inner;
    const int64_t nt = (groups + LN_GROUPS - 1) / LN_GROUPS;
    lnorm_job j = {n, ln_f32(x), ln_f32(dy), cu_value(l, n->w[0]), NULL, NULL,
                   dx ? ln_f32(dx) : NULL,
                   (double *)ln_f32(n->stats), NULL, groups};
    if (!n->stats || n->stats->numel < 4 * groups)
        return ln_fail(ctx, LN_E_STATE, "backward without its forward");
    if (dgamma || dbeta) {
        const int64_t pshape[1] = {(nt ? nt : 1) * 2 * n->norm * 2};
        ln_status st = lu_buffer(ctx, &n->part, 1, pshape);
        if (st) return st;
        j.part = (double *)ln_f32(n->part);
    }
    if (!j.dx && !j.part) return LN_OK;
    cu_run_sized(2 * x->numel, nt, lnorm_bwd_task, &j);
    for (int64_t k = 0; j.part && k < n->norm; k++) {
        double sg = 0, sb = 0;
        for (int64_t t = 0; t < nt; t++) {
            sg += j.part[t * 2 * n->norm + k];
            sb += j.part[t * 2 * n->norm + n->norm + k];
        }
        if (dgamma) dgamma[k] = (float)sg;
        if (dbeta) dbeta[k] = (float)sb;
    }
    return LN_OK;
}

static void lnorm_destroy(ln_layer *l) {
    lnorm *n = cu_state(l);
    ln_tensor_release(n->stats);
    ln_tensor_release(n->part);
}

static const ln_layer_ops lnorm_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(lnorm),
    .create = lnorm_create,
    .build = lnorm_build,
    .forward = lnorm_forward,
    .backward = lnorm_backward,
    .destroy = lnorm_destroy,
};

static const ln_unit lnorm_unit = {
    .kind = LN_KIND_LAYER,
    .name = "layer_normalization",
    .class_name = "LayerNormalization",
    .version = 1,
    .summary = "normalizes each sample over its last axes (gamma, beta)",
    .ops = &lnorm_ops,
};

LN_PLUGIN("layer_normalization") { return host->add(host, &lnorm_unit); }
