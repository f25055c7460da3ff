/*
** dot.c -- Dot (Keras): the dot product of two inputs along an axis of
** each (`axes`: one integer for both or a pair; Keras counts the batch as
** axis 0, so 1 is the first sample axis, -1 the last). Samples of any
** rank (Keras's batch_dot): each input is seen as rows of the contracted
** axis, X (p x k) and Y (q x k) -- p: the product of x's other sample
** axes, in order (1 for rank 1) -- and out[i][j] = sum_c X[i][c] Y[j][c],
** shaped as the rest of x then the rest of y ((None, 1) for two vectors;
** x (None, 3, 4, 6) and y (None, 5, 4) with axes {2, 2}: (None, 3, 6, 5)).
** normalize = true L2-normalizes the rows first (cosine proximity), with
** Keras's l2_normalize: x / sqrt(max(sum x^2, 1e-12)).
*/
#include "lunet/plugin_util.h"

typedef struct side {
    int rank;
    int64_t inner;   /* the product of the sample axes after the contracted one */
    int64_t rows, k; /* p (or q) and the contracted size */
} side;

typedef struct dot {
    int64_t axes[2];
    int normalize;
    side s[2];
} dot;

static ln_status dot_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    dot *d = ln_layer_state(l);
    int n = 0;
    ln_status st = ln_args_positional(ctx, a, 1, "axes");
    if (!st) st = ln_args_ints(ctx, a, "axes", 2, &n, d->axes);
    if (!st) st = ln_args_bool(ctx, a, "normalize", 0, &d->normalize);
    if (st) return st;
    if (n == 0) return ln_fail(ctx, LN_E_ARG, "missing 'axes' (e.g. axes = 1, or {2, 2})");
    if (n == 1) d->axes[1] = d->axes[0];
    return LN_OK;
}

static ln_status dot_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                           int *nout, ln_shape *out) {
    dot *d = ln_layer_state(l);
    char a[128], b[128];
    out[0].nd = 0;
    for (int i = 0; i < 2; i++) {
        int r = in[i].nd;
        int64_t ax = d->axes[i] < 0 ? r + 1 + d->axes[i] : d->axes[i];
        if (r < 1)
            return ln_fail(ctx, LN_E_SHAPE, "input %d %s: Dot takes samples of rank >= 1",
                           i + 1, lu_shape_str(&in[i], a, sizeof a));
        if (ax < 1 || ax > r)
            return ln_fail(ctx, LN_E_ARG, "axis %lld is out of range for input %d %s",
                           (long long)d->axes[i], i + 1, lu_shape_str(&in[i], a, sizeof a));
        if (out[0].nd + r - 1 > LN_MAX_DIM - 1)
            return ln_fail(ctx, LN_E_SHAPE, "inputs %s and %s: the output would have more "
                           "than %d sample axes", lu_shape_str(&in[0], a, sizeof a),
                           lu_shape_str(&in[1], b, sizeof b), LN_MAX_DIM - 1);
        side *s = &d->s[i];
        s->rank = r;
        s->k = in[i].dim[ax - 1];
        s->rows = 1;
        s->inner = 1;
        for (int e = 0; e < r; e++) {
            if (e == ax - 1) continue;
            s->rows *= in[i].dim[e];
            if (e > ax - 1) s->inner *= in[i].dim[e];
            out[0].dim[out[0].nd++] = in[i].dim[e];
        }
    }
    if (d->s[0].k != d->s[1].k)
        return ln_fail(ctx, LN_E_SHAPE, "the contracted axes differ in size: %lld in %s and "
                       "%lld in %s", (long long)d->s[0].k, lu_shape_str(&in[0], a, sizeof a),
                       (long long)d->s[1].k, lu_shape_str(&in[1], b, sizeof b));
    if (out[0].nd == 0) out[0].dim[out[0].nd++] = 1;
    *nout = 1;
    return LN_OK;
}

/* Element c of row i of one sample: row i is (outer, inner) in the axes
** before and after the contracted one. */
static inline int64_t at(const side *s, int64_t i, int64_t c) {
    if (s->inner == 1) return i * s->k + c;
    return (i / s->inner) * s->k * s->inner + c * s->inner + i % s->inner;
}

/* 1 / the L2 norm of row i (1 without normalize). */
static float inv_norm(const dot *d, const side *s, const float *v, int64_t i) {
    if (!d->normalize) return 1.0f;
    double q = 0;
    for (int64_t c = 0; c < s->k; c++) q += (double)v[at(s, i, c)] * v[at(s, i, c)];
    return (float)(1.0 / sqrt(q > 1e-12 ? q : 1e-12));
}

typedef struct dot_job {
    const dot *d;
    const float *x, *y, *dy;
    float *out, *dx, *dyin; /* forward: out; backward: dx (input 1), dyin (input 2) */
} dot_job;

static void fwd_rows(void *arg, int64_t lo, int64_t hi) {
    const dot_job *j = arg;
    const side *sx = &j->d->s[0], *sy = &j->d->s[1];
    int64_t px = sx->rows * sx->k, py = sy->rows * sy->k;
    for (int64_t b = lo; b < hi; b++) {
        const float *x = j->x + b * px, *y = j->y + b * py;
        float *o = j->out + b * sx->rows * sy->rows;
        for (int64_t i = 0; i < sx->rows; i++) {
            float nx = inv_norm(j->d, sx, x, i);
            for (int64_t r = 0; r < sy->rows; r++) {
                float ny = inv_norm(j->d, sy, y, r), acc = 0;
                for (int64_t c = 0; c < sx->k; c++) acc += x[at(sx, i, c)] * y[at(sy, r, c)];
                o[i * sy->rows + r] = acc * nx * ny;
            }
        }
    }
}

/* g (row i of one input, normalized or not) <- the gradient of that row
** from dxn, the gradient with respect to its normalized values. */
static void through_norm(const dot *d, const side *s, const float *v, int64_t i, float *g) {
    if (!d->normalize) return;
    double q = 0, dotp = 0;
    for (int64_t c = 0; c < s->k; c++) q += (double)v[at(s, i, c)] * v[at(s, i, c)];
    float inv = (float)(1.0 / sqrt(q > 1e-12 ? q : 1e-12));
    if (q <= 1e-12) {
        for (int64_t c = 0; c < s->k; c++) g[at(s, i, c)] *= inv;
        return;
    }
    for (int64_t c = 0; c < s->k; c++) dotp += (double)g[at(s, i, c)] * v[at(s, i, c)] * inv;
    for (int64_t c = 0; c < s->k; c++)
        g[at(s, i, c)] = (g[at(s, i, c)] - v[at(s, i, c)] * inv * (float)dotp) * inv;
}

/* The gradient of one input's rows: with respect to its normalized rows
** (sum over the other input's normalized rows, weighted by dy), then
** through the normalization. */
static void side_grad(const dot *d, int mine, const float *v, const float *w, const float *dy,
                      float *dv) {
    const side *sv = &d->s[mine], *sw = &d->s[1 - mine];
    int64_t qy = d->s[1].rows;
    for (int64_t a = 0; a < sv->rows; a++) {
        for (int64_t c = 0; c < sv->k; c++) {
            float acc = 0;
            for (int64_t r = 0; r < sw->rows; r++) {
                float g = mine == 0 ? dy[a * qy + r] : dy[r * qy + a];
                acc += g * w[at(sw, r, c)] * inv_norm(d, sw, w, r);
            }
            dv[at(sv, a, c)] = acc;
        }
        through_norm(d, sv, v, a, dv);
    }
}

static void bwd_rows(void *arg, int64_t lo, int64_t hi) {
    const dot_job *j = arg;
    const side *sx = &j->d->s[0], *sy = &j->d->s[1];
    int64_t px = sx->rows * sx->k, py = sy->rows * sy->k, po = sx->rows * sy->rows;
    for (int64_t b = lo; b < hi; b++) {
        const float *x = j->x + b * px, *y = j->y + b * py, *g = j->dy + b * po;
        if (j->dx) side_grad(j->d, 0, x, y, g, j->dx + b * px);
        if (j->dyin) side_grad(j->d, 1, y, x, g, j->dyin + b * py);
    }
}

static ln_status dot_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                             ln_tensor *const *y, unsigned flags) {
    const dot *d = ln_layer_state(l);
    dot_job j = {d, ln_f32(x[0]), ln_f32(x[1]), NULL, ln_f32(y[0]), NULL, NULL};
    ln_parallel_rows(x[0]->shape[0], d->s[0].rows * d->s[1].rows * d->s[0].k, fwd_rows, &j);
    return LN_OK;
}

static ln_status dot_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *const *y, const ln_tensor *const *dy,
                              ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    const dot *d = ln_layer_state(l);
    dot_job j = {d, ln_f32(x[0]), ln_f32(x[1]), ln_f32(dy[0]), NULL,
                 dx[0] ? ln_f32(dx[0]) : NULL, dx[1] ? ln_f32(dx[1]) : NULL};
    ln_parallel_rows(x[0]->shape[0], 2 * d->s[0].rows * d->s[1].rows * d->s[0].k, bwd_rows,
                     &j);
    return LN_OK;
}

static const ln_layer_ops dot_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(dot),
    .min_inputs = 2,
    .max_inputs = 2,
    .create = dot_create,
    .build = dot_build,
    .forward = dot_forward,
    .backward = dot_backward,
};

static const ln_unit dot_unit = {
    .kind = LN_KIND_LAYER,
    .name = "dot",
    .class_name = "Dot",
    .version = 1,
    .summary = "dot product of two inputs along an axis (cosine with normalize)",
    .ops = &dot_ops,
};

LN_PLUGIN("dot") { return host->add(host, &dot_unit); }
