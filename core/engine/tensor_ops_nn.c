/*
** tensor_ops_nn.c -- softmax family along any dim, where, norms, and the
** adjoints of broadcasting and indexing (tensor_nn.h): the tensor kernels
** of the tape and of the Lua tensor API that models need, kept in the
** engine so the core holds only what every user of liblunet needs.
**
** A dim splits a contiguous tensor into [outer, len, inner]; loops give
** each (outer, inner) position to one thread and walk len in order.
*/
#include <math.h>
#include <string.h>

#include "lunet/kernels.h"
#include "lunet/memory.h"
#include "lunet/parallel.h"
#include "lunet/tensor_nn.h"
#include "../par_for.h"
#include "../tensor_dtype.h"

static void split_dim(const ln_tensor *x, int dim, int64_t *outer,
                      int64_t *len, int64_t *inner) {
    *outer = ln_dims_prod(x->shape, 0, dim);
    *len = x->shape[dim];
    *inner = ln_dims_prod(x->shape, dim + 1, x->ndim);
}

/* x's shape with dim removed (or kept as 1). */
static int reduced_shape(const ln_tensor *x, int dim, int keepdim,
                         int64_t *shape) {
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != dim) shape[nd++] = x->shape[i];
        else if (keepdim) shape[nd++] = 1;
    }
    return nd;
}

static ln_status need_float(ln_ctx *ctx, const ln_tensor *x, const char *fn) {
    if (x->dtype == LN_FLOAT32) return LN_OK;
    return ln_fail(ctx, LN_E_ARG, "%s: expects a float32 tensor, got %s", fn,
                   ln_dtype_name(x->dtype));
}

/* ---- broadcasting adjoints ------------------------------------------------------ */

/* shape aligned right to nd dims (left-padded with 1); fails unless it
** broadcasts to `full` of nd dims. */
static ln_status align_shape(ln_ctx *ctx, int nd, const int64_t *full, int ns,
                             const int64_t *shape, int64_t *out, const char *fn) {
    char a[128], b[128];
    if (ns > nd) goto bad;
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - ns);
        out[i] = j >= 0 ? shape[j] : 1;
        if (out[i] != 1 && out[i] != full[i]) goto bad;
    }
    return LN_OK;
bad:
    return ln_fail(ctx, LN_E_SHAPE, "%s: shape %s does not broadcast to %s", fn,
                   ln_dims_str(ns, shape, a, sizeof a), ln_dims_str(nd, full, b, sizeof b));
}

/* Column sums of [rows x cols] as ln_sum_rows computes them (y[c] from 0,
** then x[0, c], x[1, c], ... added in order: the same float additions for
** any cut of the columns), cut into blocks of columns over the thread team
** when one runs (ln_sum_rows alone would be one thread there). */
typedef struct colsum_job {
    float *y;
    const float *x;
    int64_t rows, cols, per;
} colsum_job;

LN_CLONES static void colsum_block(float *y, const float *x, int64_t rows,
                                   int64_t cols, int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) y[c] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) y[c] += xr[c];
    }
}

static void colsum_task(void *arg, int64_t t) {
    const colsum_job *j = arg;
    int64_t c0 = t * j->per, c1 = c0 + j->per < j->cols ? c0 + j->per : j->cols;
    colsum_block(j->y, j->x, j->rows, j->cols, c0, c1);
}

#define COLSUM_TEAM_MIN 32768 /* elements */
#define COLSUM_COLS 64        /* columns per task at least */

static void sum_columns(float *y, const float *x, int64_t rows, int64_t cols) {
    const int nt = ln_parallel_threads();
    if (nt < 2 || rows * cols < COLSUM_TEAM_MIN || cols < 2 * COLSUM_COLS) {
        ln_sum_rows(y, x, rows, cols, 0);
        return;
    }
    int64_t per = (cols + 4 * nt - 1) / (4 * nt);
    per = per < COLSUM_COLS ? COLSUM_COLS : (per + 15) / 16 * 16;
    colsum_job j = {y, x, rows, cols, per};
    ln_parallel_tasks((cols + per - 1) / per, colsum_task, &j);
}

ln_tensor *ln_sum_to(ln_ctx *ctx, const ln_tensor *x, int nd,
                     const int64_t *shape) {
    int64_t t[LN_MAX_DIM];
    if (need_float(ctx, x, "sum_to") ||
        align_shape(ctx, x->ndim, x->shape, nd, shape, t, "sum_to"))
        return NULL;
    /* Reduce the broadcast dims one group at a time, last group first:
    ** [outer, len, inner] with len the product of a run of reduced dims. */
    const ln_tensor *cur = x;
    ln_tensor *owned = NULL;
    int64_t cs[LN_MAX_DIM];
    int cn = x->ndim;
    memcpy(cs, x->shape, sizeof cs);
    for (int hi = cn; hi > 0;) {
        int b = hi - 1;
        while (b >= 0 && !(t[b] == 1 && cs[b] != 1)) b--;
        if (b < 0) break;
        int a = b;
        while (a > 0 && t[a - 1] == 1 && cs[a - 1] != 1) a--;
        int64_t outer = ln_dims_prod(cs, 0, a), len = ln_dims_prod(cs, a, b + 1);
        int64_t inner = ln_dims_prod(cs, b + 1, cn);
        for (int i = a; i <= b; i++) cs[i] = 1;
        ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, cn, cs);
        if (!y) {
            ln_tensor_release(owned);
            return NULL;
        }
        if (outer == 1 && inner > 1)
            sum_columns(ln_f32(y), ln_f32(cur), len, inner);
        else if (y->numel)
            ln_reduce(LN_R_SUM, ln_f32(y), ln_f32(cur), outer, len, inner);
        ln_tensor_release(owned);
        cur = owned = y;
        hi = a;
    }
    if (!owned) return ln_tensor_reshape(ctx, (ln_tensor *)x, nd, shape); /* a view */
    ln_tensor *r = ln_tensor_reshape(ctx, owned, nd, shape);
    ln_tensor_release(owned);
    return r;
}

ln_tensor *ln_expand(ln_ctx *ctx, const ln_tensor *x, int nd,
                     const int64_t *shape) {
    int64_t t[LN_MAX_DIM], st[LN_MAX_DIM];
    if (nd < x->ndim || nd > LN_MAX_DIM ||
        align_shape(ctx, nd, shape, x->ndim, x->shape, t, "expand")) {
        if (!ctx || ctx->status == LN_OK) {
            char a[128], b[128];
            ln_fail(ctx, LN_E_SHAPE, "expand: shape %s does not broadcast to %s",
                    ln_shape_str(x, a, sizeof a), ln_dims_str(nd, shape, b, sizeof b));
        }
        return NULL;
    }
    if (need_float(ctx, x, "expand")) return NULL;
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (!y) return NULL;
    const float *px = ln_f32(x);
    float *py = ln_f32(y);
    int64_t n = y->numel;
    if (x->numel == 1) {
        ln_fill(py, n, n ? px[0] : 0);
        return y;
    }
    if (x->numel == n) {
        memcpy(py, px, (size_t)n * sizeof *py);
        return y;
    }
    /* rows of x repeated: x is the trailing block of y's shape */
    int64_t row = 1;
    int k = nd;
    while (k > 0 && t[k - 1] == shape[k - 1]) row *= shape[--k];
    int lead_ones = 1;
    for (int i = 0; i < k; i++) lead_ones &= t[i] == 1;
    if (lead_ones && row > 1) {
        int64_t reps = n / row;
LN_FOR(n,
        for (int64_t r = 0; r < reps; r++)
            memcpy(py + r * row, px, (size_t)row * sizeof *py););
        return y;
    }
    ln_bc_strides(nd, shape, nd, t, st);
LN_FOR(n,
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, o = 0;
        for (int d = nd - 1; d >= 0; d--) {
            o += (r % shape[d]) * st[d];
            r /= shape[d];
        }
        py[i] = px[o];
    });
    return y;
}

/* ---- softmax family -------------------------------------------------------------- */

ln_tensor *ln_softmax_dim(ln_ctx *ctx, const ln_tensor *x, int dim,
                          int take_log) {
    if (need_float(ctx, x, take_log ? "log_softmax" : "softmax")) return NULL;
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape);
    if (!y || !x->numel) return y;
    int64_t outer, len, inner;
    split_dim(x, dim, &outer, &len, &inner);
    const float *px = ln_f32(x);
    float *py = ln_f32(y);
    if (inner == 1) {
        if (take_log) ln_log_softmax_rows(py, px, outer, len);
        else ln_softmax_rows(py, px, outer, len);
        return y;
    }
    ln_softmax_cols(py, px, outer, len, inner, take_log);
    return y;
}

ln_tensor *ln_softmax_grad(ln_ctx *ctx, const ln_tensor *y, const ln_tensor *g,
                           int dim, int take_log) {
    if (need_float(ctx, y, "softmax gradient") || need_float(ctx, g, "softmax gradient"))
        return NULL;
    if (!ln_shape_equal(y, g)) {
        char a[128], b[128];
        ln_fail(ctx, LN_E_SHAPE, "softmax gradient: output %s and gradient %s differ",
                ln_shape_str(y, a, sizeof a), ln_shape_str(g, b, sizeof b));
        return NULL;
    }
    ln_tensor *gx = ln_tensor_empty(ctx, LN_FLOAT32, y->ndim, y->shape);
    if (!gx || !y->numel) return gx;
    int64_t outer, len, inner;
    split_dim(y, dim, &outer, &len, &inner);
    ln_softmax_backward(ln_f32(gx), ln_f32(y), ln_f32(g), outer, len, inner, take_log);
    return gx;
}

ln_tensor *ln_logsumexp(ln_ctx *ctx, const ln_tensor *x, int dim, int keepdim) {
    if (need_float(ctx, x, "logsumexp")) return NULL;
    int64_t shape[LN_MAX_DIM], outer, len, inner;
    int nd = reduced_shape(x, dim, keepdim, shape);
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (!y) return NULL;
    split_dim(x, dim, &outer, &len, &inner);
    const float *px = ln_f32(x);
    float *py = ln_f32(y);
    if (len < 1) { /* empty: -inf (log of an empty sum) */
        for (int64_t i = 0; i < outer * inner; i++) py[i] = -INFINITY;
        return y;
    }
    if (inner == 1) ln_logsumexp_rows(py, px, outer, len);
    else ln_logsumexp_cols(py, px, outer, len, inner);
    return y;
}

/* ---- where, norms ------------------------------------------------------------------ */

/* where() without broadcasting: element i of each operand is element i of
** the result; blocks of WHERE_BLOCK, each one vector loop in a cloned
** function (a tensor or a number on each side). */
#define WHERE_BLOCK 4096
#define WHERE_LOOP(T, AT)                                                    \
    do {                                                                     \
        const T *cv = AT(cond);                                              \
        if (pa && pb) {                                                      \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)            \
                py[i] = cv[i] != 0 ? pa[i] : pb[i];                          \
        } else if (pa) {                                                     \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)            \
                py[i] = cv[i] != 0 ? pa[i] : fb;                             \
        } else if (pb) {                                                     \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)            \
                py[i] = cv[i] != 0 ? fa : pb[i];                             \
        } else {                                                             \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)            \
                py[i] = cv[i] != 0 ? fa : fb;                                \
        }                                                                    \
    } while (0)

LN_CLONES static void where_block(float *py, const ln_tensor *cond, const float *pa,
                                  float fa, const float *pb, float fb, int64_t lo,
                                  int64_t hi) {
    LN_DTYPE_SWITCH(cond->dtype, WHERE_LOOP); /* a NaN float: != 0, true */
}
#undef WHERE_LOOP

/* Broadcast where(): rows r0..r1 of the output's last dim, each operand
** stepping 0 or 1 along it; the other dims by an odometer once per row
** (a division per dim and a dtype switch per element ran 8x PyTorch's
** time for a (300, 1) condition over 300 x 100). A row is a copy or a fill
** when the condition is one value along it (a column condition), else one
** vector select for the operands' steps (a loop with the steps as run-time
** strides ran 1 ns an element). */
#define WHERE_SEL(A, B)                                                      \
    _Pragma("omp simd") for (int64_t j = 0; j < L; j++) y[j] = cc[j] != 0 ? (A) : (B)
#define WHERE_ROW(T, AT)                                                     \
    do {                                                                     \
        const T *cc = AT(cond) + oc;                                         \
        if (kc == 0) {                                                       \
            const int t = cc[0] != 0;                                        \
            const float *q = t ? qa + o1 : qb + o2;                          \
            if (t ? k1 : k2) {                                               \
                memcpy(y, q, (size_t)L * sizeof *y);                         \
            } else {                                                         \
                const float v = *q;                                          \
                _Pragma("omp simd") for (int64_t j = 0; j < L; j++) y[j] = v; \
            }                                                                \
        } else {                                                             \
            const float *ra = qa + o1, *rb = qb + o2, va = *ra, vb = *rb;    \
            if (k1 && k2) WHERE_SEL(ra[j], rb[j]);                           \
            else if (k1) WHERE_SEL(ra[j], vb);                               \
            else if (k2) WHERE_SEL(va, rb[j]);                               \
            else WHERE_SEL(va, vb);                                          \
        }                                                                    \
    } while (0)

LN_CLONES static void where_rows(float *py, const ln_tensor *cond, const float *qa,
                                 const float *qb, int nd, const int64_t *shape,
                                 const int64_t *sc, const int64_t *s1, const int64_t *s2,
                                 int64_t r0, int64_t r1) {
    /* the last dim's steps: 0 (broadcast) or 1 (contiguous operands) */
    const int64_t L = shape[nd - 1], kc = sc[nd - 1], k1 = s1[nd - 1], k2 = s2[nd - 1];
    int64_t c[LN_MAX_DIM], oc = 0, o1 = 0, o2 = 0, r = r0;
    for (int d = nd - 2; d >= 0; d--) {
        c[d] = r % shape[d];
        r /= shape[d];
        oc += c[d] * sc[d], o1 += c[d] * s1[d], o2 += c[d] * s2[d];
    }
    for (r = r0; r < r1; r++) {
        float *y = py + r * L;
        LN_DTYPE_SWITCH(cond->dtype, WHERE_ROW);
        for (int d = nd - 2; d >= 0; d--) {
            oc += sc[d], o1 += s1[d], o2 += s2[d];
            if (++c[d] < shape[d]) break;
            oc -= sc[d] * shape[d], o1 -= s1[d] * shape[d], o2 -= s2[d] * shape[d];
            c[d] = 0;
        }
    }
}
#undef WHERE_SEL
#undef WHERE_ROW

static int same_dims(int na, const int64_t *a, int nb, const int64_t *b) {
    return na == nb && !memcmp(a, b, sizeof *a * (size_t)na);
}

static void where_same_shape(float *py, const ln_tensor *cond, const float *pa, float fa,
                             const float *pb, float fb, int64_t n) {
    const int64_t nb = (n + WHERE_BLOCK - 1) / WHERE_BLOCK;
    LN_FOR(n, for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * WHERE_BLOCK;
        where_block(py, cond, pa, fa, pb, fb, lo, lo + WHERE_BLOCK < n ? lo + WHERE_BLOCK : n);
    });
}

ln_tensor *ln_where(ln_ctx *ctx, const ln_tensor *cond, const ln_tensor *a,
                    double sa, const ln_tensor *b, double sb) {
    int nd = cond->ndim;
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, cond->shape, sizeof shape);
    const ln_tensor *ops[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (!ops[k]) continue;
        if (need_float(ctx, ops[k], "where")) return NULL;
        if (ln_broadcast_shape(ctx, nd, shape, ops[k]->ndim, ops[k]->shape, &nd, shape)) {
            ln_prefix(ctx, "where");
            return NULL;
        }
    }
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (!y) return NULL;
    int64_t sc[LN_MAX_DIM], s1[LN_MAX_DIM] = {0}, s2[LN_MAX_DIM] = {0};
    ln_bc_strides(nd, shape, cond->ndim, cond->shape, sc);
    if (a) ln_bc_strides(nd, shape, a->ndim, a->shape, s1);
    if (b) ln_bc_strides(nd, shape, b->ndim, b->shape, s2);
    const float *pa = a ? ln_f32(a) : NULL, *pb = b ? ln_f32(b) : NULL;
    const float fa = (float)sa, fb = (float)sb;
    float *py = ln_f32(y);
    int64_t n = y->numel;
    if (same_dims(cond->ndim, cond->shape, nd, shape) &&
        (!a || same_dims(a->ndim, a->shape, nd, shape)) &&
        (!b || same_dims(b->ndim, b->shape, nd, shape))) {
        where_same_shape(py, cond, pa, fa, pb, fb, n); /* no broadcasting */
        return y;
    }
    if (n == 0) return y;
    /* a number is an operand of one element, broadcast everywhere */
    const float *qa = pa ? pa : &fa, *qb = pb ? pb : &fb;
    const int64_t L = shape[nd - 1], rows = n / L;
    const int64_t rb = L >= WHERE_BLOCK ? 1 : WHERE_BLOCK / L, nrb = (rows + rb - 1) / rb;
    LN_FOR(n, for (int64_t k = 0; k < nrb; k++) {
        int64_t r1 = (k + 1) * rb < rows ? (k + 1) * rb : rows;
        where_rows(py, cond, qa, qb, nd, shape, sc, s1, s2, k * rb, r1);
    });
    return y;
}

/* 2-norms along a dim: rows (inner == 1) by the kernels' sum of squares in
** double lanes; columns in pieces of NORM_COLS, each column's squares
** added in double in row order, the columns as vector lanes. (One output
** at a time in a strided double chain: 5x PyTorch's time on 300 x 100.) */
#define NORM_COLS 64
LN_CLONES static void norm2_piece(float *py, const float *px, int64_t len, int64_t inner,
                                  int64_t o, int64_t c0) {
    const int64_t w = inner - c0 < NORM_COLS ? inner - c0 : NORM_COLS;
    double s[NORM_COLS];
    for (int64_t c = 0; c < w; c++) s[c] = 0;
    for (int64_t l = 0; l < len; l++) {
        const float *q = px + (o * len + l) * inner + c0;
#pragma omp simd
        for (int64_t c = 0; c < w; c++) s[c] += (double)q[c] * (double)q[c];
    }
    for (int64_t c = 0; c < w; c++) py[o * inner + c0 + c] = (float)sqrt(s[c]);
}

static void norm2_dim(float *py, const float *px, int64_t outer, int64_t len,
                      int64_t inner) {
    if (inner == 1) {
        LN_FOR(outer * len, for (int64_t o = 0; o < outer; o++)
            py[o] = (float)sqrt(ln_sum_dev2(px + o * len, len, 0.0)););
        return;
    }
    const int64_t pieces = (inner + NORM_COLS - 1) / NORM_COLS;
    LN_FOR(outer * len * inner, for (int64_t k = 0; k < outer * pieces; k++)
        norm2_piece(py, px, len, inner, k / pieces, k % pieces * NORM_COLS););
}

ln_tensor *ln_norm(ln_ctx *ctx, const ln_tensor *x, double p, int dim,
                   int keepdim) {
    if (need_float(ctx, x, "norm")) return NULL;
    if (!(p > 0)) {
        ln_fail(ctx, LN_E_ARG, "norm: p must be > 0 (or math.huge), got %g", p);
        return NULL;
    }
    int64_t shape[LN_MAX_DIM], outer = 1, len = x->numel, inner = 1;
    int nd = 0;
    if (dim >= 0) {
        nd = reduced_shape(x, dim, keepdim, shape);
        split_dim(x, dim, &outer, &len, &inner);
    }
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (!y) return NULL;
    const float *px = ln_f32(x);
    float *py = ln_f32(y);
    int64_t nout = outer * inner;
    if (nout == 1 && inner == 1 && p == 2) {
        /* the whole 2-norm: the kernels' sum of squares (double lanes in a
        ** fixed order, threaded); the serial double chain below took 4
        ** cycles an element, 4-6x PyTorch's time */
        py[0] = (float)sqrt(ln_sumsq(px, len));
        return y;
    }
    if (p == 2 && nout > 1) {
        norm2_dim(py, px, outer, len, inner);
        return y;
    }
LN_FOR((nout > 1) ? (x->numel) : 0,
    for (int64_t oi = 0; oi < nout; oi++) {
        const float *q = px + (oi / inner) * len * inner + oi % inner;
        double s = 0;
        for (int64_t l = 0; l < len; l++) {
            double v = fabs((double)q[l * inner]);
            if (isinf(p)) s = v > s || v != v ? v : s;
            else if (p == 1) s += v;
            else if (p == 2) s += v * v;
            else s += pow(v, p);
        }
        py[oi] = (float)(isinf(p) || p == 1 ? s : p == 2 ? sqrt(s) : pow(s, 1 / p));
    });
    return y;
}

void ln_region_narrow(const ln_tensor *x, int dim, int64_t start, int64_t len,
                      int drop, ln_region *r) {
    int64_t st[LN_MAX_DIM] = {0}, s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= x->shape[d];
    }
    r->nd = 0;
    r->offset = start * st[dim];
    for (int d = 0; d < x->ndim; d++) {
        if (d == dim && drop) continue;
        r->shape[r->nd] = d == dim ? len : x->shape[d];
        r->stride[r->nd++] = st[d];
    }
}

/* ---- indexing adjoints ---------------------------------------------------------------- */

/* y[... k ...] += src[e] for every element e of src, k its index minus
** base along dim (checked), in element order (a repeated index adds in
** that order). A row of src's last dim at a time: the other dims'
** offset steps with an odometer once per row (a conversion through
** ln_get_f64 and a walk of every dim per element took 2 ns an element). */
#define SCATTER_ROWS(NAME, TI)                                               \
    static void NAME(ln_tensor *y, const TI *ix, int64_t base,               \
                     const ln_tensor *src, int dim) {                        \
        const int nd = src->ndim, last = nd - 1;                             \
        const int64_t L = src->shape[last], rows = src->numel / L;           \
        int64_t ys[LN_MAX_DIM], c[LN_MAX_DIM] = {0}, off = 0, st = 1;        \
        for (int d = nd - 1; d >= 0; d--) {                                  \
            ys[d] = st;                                                      \
            st *= y->shape[d];                                               \
        }                                                                    \
        const float *ps = ln_f32(src);                                       \
        float *py = ln_f32(y);                                               \
        const int64_t kstep = ys[dim];                                       \
        for (int64_t r = 0; r < rows; r++) {                                 \
            const TI *ir = ix + r * L;                                       \
            const float *sr = ps + r * L;                                    \
            if (dim == last)                                                 \
                for (int64_t j = 0; j < L; j++) py[off + ir[j] - base] += sr[j]; \
            else                                                             \
                for (int64_t j = 0; j < L; j++)                              \
                    py[off + (ir[j] - base) * kstep + j] += sr[j];           \
            for (int d = last - 1; d >= 0; d--) { /* the next row */         \
                if (d != dim) off += ys[d];                                  \
                if (++c[d] < src->shape[d]) break;                           \
                if (d != dim) off -= ys[d] * src->shape[d];                  \
                c[d] = 0;                                                    \
            }                                                                \
        }                                                                    \
    }
SCATTER_ROWS(scatter_rows_i32, int32_t)
SCATTER_ROWS(scatter_rows_u8, uint8_t)
#undef SCATTER_ROWS

ln_tensor *ln_scatter_add(ln_ctx *ctx, int nd, const int64_t *shape, int dim,
                          const ln_tensor *idx, int64_t base,
                          const ln_tensor *src) {
    char a[128], b[128];
    if (need_float(ctx, src, "scatter_add")) return NULL;
    if (idx->dtype == LN_FLOAT32 || !ln_shape_equal(idx, src) || idx->ndim != nd ||
        dim < 0 || dim >= nd) {
        ln_fail(ctx, LN_E_SHAPE, "scatter_add: index %s %s and values %s must "
                "have one shape of %d dims (along one of them)", ln_dtype_name(idx->dtype),
                ln_shape_str(idx, a, sizeof a), ln_shape_str(src, b, sizeof b), nd);
        return NULL;
    }
    for (int d = 0; d < nd; d++)
        if (d != dim && src->shape[d] > shape[d]) {
            ln_fail(ctx, LN_E_SHAPE, "scatter_add: values %s do not fit in %s",
                    ln_shape_str(src, a, sizeof a), ln_dims_str(nd, shape, b, sizeof b));
            return NULL;
        }
    const int64_t bad = ln_index_first_outside(idx, base, shape[dim]);
    if (bad >= 0) {
        ln_fail(ctx, LN_E_ARG, "scatter_add: index %lld (at position %lld) out of "
                "range %lld..%lld", (long long)ln_get_f64(idx, bad), (long long)bad + 1,
                (long long)base, (long long)(shape[dim] - 1 + base));
        return NULL;
    }
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (!y || !src->numel) return y;
    if (idx->dtype == LN_INT32) scatter_rows_i32(y, ln_i32(idx), base, src, dim);
    else scatter_rows_u8(y, ln_u8(idx), base, src, dim);
    return y;
}

ln_tensor *ln_index_add(ln_ctx *ctx, int nd, const int64_t *shape, int dim,
                        const int64_t *idx, int64_t n, const ln_tensor *src) {
    if (need_float(ctx, src, "index_add")) return NULL;
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (!y) return NULL;
    int64_t outer = ln_dims_prod(shape, 0, dim), size = shape[dim];
    int64_t inner = ln_dims_prod(shape, dim + 1, nd);
    const float *ps = ln_f32(src);
    float *py = ln_f32(y);
LN_FOR((outer > 1) ? (src->numel) : 0,
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < n; r++) {
            float *dst = py + (o * size + idx[r]) * inner;
            const float *from = ps + (o * n + r) * inner;
            for (int64_t i = 0; i < inner; i++) dst[i] += from[i];
        });
    return y;
}
