/*
** orthogonal.c -- Keras Orthogonal(gain=1.0, seed=None).
**
** The shape is seen as a matrix of rows = prod(shape[:-1]) and
** cols = shape[-1]. A normal matrix A of (max, min) = (M, N) is drawn
** (row-major, as Keras draws it), its thin QR factor Q is taken with the
** signs fixed so that diag(R) > 0 -- which is what modified Gram-Schmidt
** gives directly -- and the result is gain * Q, or gain * Q^T when
** rows < cols. The factorisation runs in double, column by column in a
** fixed order; each column has one owner thread, so results do not depend
** on the thread count.
*/
#include <stdlib.h>

#include "lunet/plugin_initializer.h"

/* In-place modified Gram-Schmidt on the N columns (each of length M,
** stored contiguously in q) of a full-rank M x N matrix, N <= M. Returns
** the index of a column found dependent, or -1. */
static int64_t mgs(double *q, int64_t m, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        double *qk = q + k * m, nrm = 0;
        for (int64_t i = 0; i < m; i++) nrm += qk[i] * qk[i];
        nrm = sqrt(nrm);
        if (!(nrm > 0)) return k;
        for (int64_t i = 0; i < m; i++) qk[i] /= nrm;
        int64_t rest = n - k - 1;
        LN_PAR_FOR(rest * m)
        for (int64_t j = k + 1; j < n; j++) {
            double *qj = q + j * m, r = 0;
            for (int64_t i = 0; i < m; i++) r += qk[i] * qj[i];
            for (int64_t i = 0; i < m; i++) qj[i] -= r * qk[i];
        }
    }
    return -1;
}

/* Read gain and seed; draw, orthogonalise in double, write gain * Q (or
** its transpose) into t. Refuses shapes of rank < 2. */
static ln_status fill(ln_ctx *ctx, ln_args *args, ln_tensor *t, double fan_in,
                      double fan_out, ln_rng *rng) {
    double gain;
    ln_rng own, *use;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "gain", 1.0, &gain)) ||
        (st = init_seed(ctx, args, rng, &own, &use)))
        return st;
    if (t->ndim < 2) {
        char buf[128];
        return ln_fail(ctx, LN_E_SHAPE,
                       "the tensor must be at least 2-D, got shape %s",
                       ln_shape_str(t, buf, sizeof buf));
    }
    int64_t cols = t->shape[t->ndim - 1];
    int64_t rows = cols ? t->numel / cols : 0;
    if (t->numel == 0) return LN_OK;
    int64_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    float *a = ln_f32(t); /* the draw fits in t: m * n == rows * cols */
    double *q = malloc((size_t)(m * n) * sizeof *q);
    if (!q) return ln_fail(ctx, LN_E_NOMEM, "out of memory (%lld x %lld)",
                           (long long)m, (long long)n);
    ln_rng_normal(use, a, m * n, 0.0f, 1.0f);
    for (int64_t i = 0; i < m; i++) /* column j of A -> q + j*m */
        for (int64_t j = 0; j < n; j++) q[j * m + i] = a[i * n + j];
    int64_t bad = mgs(q, m, n);
    if (bad >= 0) {
        free(q);
        return ln_fail(ctx, LN_E_INTERNAL,
                       "the random matrix is rank-deficient at column %lld",
                       (long long)bad);
    }
    /* rows >= cols: out[i][j] = Q[i][j] = column j, entry i;
    ** rows < cols:  out[i][j] = Q^T[i][j] = column i, entry j. */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            a[i * cols + j] = (float)(gain * (rows >= cols ? q[j * m + i]
                                                          : q[i * m + j]));
    free(q);
    return LN_OK;
}

static const ln_initializer_ops ops = {
    .size = sizeof(ln_initializer_ops),
    .fill = fill,
};
static const ln_unit unit = {
    .kind = LN_KIND_INITIALIZER,
    .name = "orthogonal",
    .class_name = "Orthogonal",
    .version = 1,
    .summary = "gain times a random orthogonal matrix (QR)",
    .ops = &ops,
};

LN_PLUGIN("orthogonal") { return host->add(host, &unit); }
