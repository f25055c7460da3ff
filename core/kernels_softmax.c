/*
** kernels_softmax.c -- the softmax family: softmax, log-softmax and
** logsumexp along rows (the last dim) and along columns (a dim with
** contiguous elements after it), exponentials in vectors (vmath.h), sums
** in double lanes in a fixed order: the same bits on any CPU and for any
** thread count.
*/
#include <math.h>

#include "lunet/kernels.h"
#include "lunet/parallel.h"
#include "lunet/vmath.h"

/* The larger of m and each of x[0..n), by m = x[c] > m ? x[c] : m in 16
** lanes (lane k takes c = k, k + 16, ...), then the lanes in order by the
** same rule: a NaN in x is never taken, a NaN m stays; as the serial loop,
** except which of +0 and -0 survives a tie between lanes. The serial loop
** is a chain of dependent compares: 3 cycles an element. */
#define MAX_LANES 16
__attribute__((always_inline)) static inline float row_max(const float *x, int64_t n, float m) {
    float lane[MAX_LANES];
    for (int k = 0; k < MAX_LANES; k++) lane[k] = -INFINITY;
    int64_t c = 0;
    for (; c + MAX_LANES <= n; c += MAX_LANES) {
#pragma omp simd
        for (int k = 0; k < MAX_LANES; k++) lane[k] = x[c + k] > lane[k] ? x[c + k] : lane[k];
    }
    for (int k = 0; c + k < n; k++) lane[k] = x[c + k] > lane[k] ? x[c + k] : lane[k];
    for (int k = 0; k < MAX_LANES; k++) m = lane[k] > m ? lane[k] : m;
    return m;
}

/* Rows [lo, hi) of the softmax: the exponentials vectorised (vmath.h) and
** summed as they are stored, in 16 double lanes (lane k takes c = k, k +
** 16, ..., in order; the lanes then in a fixed tree), the same operations
** in every clone. The serial sum it replaces was a chain of dependent
** additions, 4 cycles an element: a third of the row's time. */
typedef struct {
    float *y;
    const float *x;
    int64_t cols;
} softmax_job;

/* 16 double lanes added in a fixed tree: lane k + lane k + 8, then pairs.
** (These helpers are always inlined: a helper GCC keeps out of line is
** compiled once, for the baseline CPU, under every clone of its callers.) */
#define SUM_LANES 16
__attribute__((always_inline)) static inline double lanes_tree16(double *acc) {
    for (int k = 0; k < 8; k++) acc[k] += acc[k + 8];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* x[0..n) in 16 double lanes (lane k takes k, k + 16, ... in order) */
__attribute__((always_inline)) static inline double lane_sum16(const float *x, int64_t n) {
    double acc[SUM_LANES] = {0};
    int64_t c = 0;
    for (; c + SUM_LANES <= n; c += SUM_LANES) {
#pragma omp simd
        for (int k = 0; k < SUM_LANES; k++) acc[k] += (double)x[c + k];
    }
    for (int k = 0; c + k < n; k++) acc[k] += (double)x[c + k];
    return lanes_tree16(acc);
}

/* The sum of exp(x[c] - m) over [0, n) as lane_sum16 sums (the last part
** as one more vector, its lanes past the end adding +0: a scalar
** exponential cost as much as a vector of them); into y[c] too unless y is
** NULL (a constant: the stores then vanish). */
__attribute__((always_inline)) static inline double exp_lane_sum16(float *y, const float *x,
                                                                  int64_t n, float m) {
    double acc[SUM_LANES] = {0};
    int64_t c = 0;
    for (; c + SUM_LANES <= n; c += SUM_LANES) {
#pragma omp simd
        for (int k = 0; k < SUM_LANES; k++) {
            const float e = ln_vexpf(x[c + k] - m);
            if (y) y[c + k] = e;
            acc[k] += (double)e;
        }
    }
    if (c < n) {
        const int64_t left = n - c;
        float e[SUM_LANES];
#pragma omp simd
        for (int k = 0; k < SUM_LANES; k++) {
            e[k] = ln_vexpf((k < left ? x[c + k] : m) - m);
            acc[k] += k < left ? (double)e[k] : 0.0;
        }
        /* (stored after the loop: a masked store in it was 2x slower) */
        for (int k = 0; y && k < left; k++) y[c + k] = e[k];
    }
    return lanes_tree16(acc);
}

LN_CLONES static void softmax_range(void *arg, int64_t lo, int64_t hi) {
    const softmax_job *j = arg;
    const int64_t cols = j->cols;
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = j->x + r * cols;
        float *yr = j->y + r * cols;
        /* (a tie of +0 and -0 may keep the other zero than the serial
        ** loop did: exp(x - m) is the same either way) */
        const float m = row_max(xr, cols, -INFINITY);
        const float inv = (float)(1.0 / exp_lane_sum16(yr, xr, cols, m));
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
}

void ln_softmax_rows(float *y, const float *x, int64_t rows, int64_t cols) {
    softmax_job j = {y, x, cols};
    ln_parallel_rows(rows, cols * 4, softmax_range, &j);
}

/* Rows [lo, hi) of the log-softmax: x - (m + log sum exp(x - m)), the
** exponentials vectorised in float (vmath.h, within 1 ulp) and summed as
** lane_sum16 sums (16 lanes: the exponentials a whole AVX-512 vector; 8
** lanes ran them in halves, 34 -> 25 us on 300 rows of 100), the same
** operations in every clone. The sum in double of libm's exp it replaced
** cost 4.6 ns an element: 4.7x PyTorch's time. */
LN_CLONES static void log_softmax_range(void *arg, int64_t lo, int64_t hi) {
    const softmax_job *j = arg;
    const int64_t cols = j->cols;
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = j->x + r * cols;
        float *yr = j->y + r * cols;
        const float m = row_max(xr + 1, cols - 1, xr[0]);
        const float lse = m + (float)log(exp_lane_sum16(NULL, xr, cols, m));
#pragma omp simd
        for (int64_t k = 0; k < cols; k++) yr[k] = xr[k] - lse;
    }
}

void ln_log_softmax_rows(float *y, const float *x, int64_t rows,
                         int64_t cols) {
    if (cols < 1) return;
    softmax_job j = {y, x, cols};
    ln_parallel_rows(rows, cols * 4, log_softmax_range, &j);
}

/* Rows [lo, hi) of logsumexp: m + log sum exp(x - m) in double, the sum as
** log_softmax's; an infinite m is the result (all -inf: -inf; a +inf:
** +inf), a NaN anywhere gives NaN. */
LN_CLONES static void logsumexp_range(void *arg, int64_t lo, int64_t hi) {
    const softmax_job *j = arg;
    const int64_t cols = j->cols;
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = j->x + r * cols;
        const float m = row_max(xr + 1, cols - 1, xr[0]);
        j->y[r] = isinf(m) ? m : (float)((double)m + log(exp_lane_sum16(NULL, xr, cols, m)));
    }
}

void ln_logsumexp_rows(float *y, const float *x, int64_t rows, int64_t cols) {
    if (cols < 1) return;
    softmax_job j = {y, x, cols};
    ln_parallel_rows(rows, cols * 4, logsumexp_range, &j);
}


/* Along columns: x is [outer x len x inner], the softmax taken over len for
** each of the inner columns. Each piece is one outer index and up to
** COL_BLOCK adjacent columns; its rows are read as contiguous runs, the
** columns being the vector lanes: the max by the rows' rule (m = x > m ?
** x : m, from the first row), then sum exp(x - m) in double, one
** accumulator per column adding the rows in order. (The loop it replaces
** ran one column at a time, a stride of `inner` floats per element and
** libm in double: 4x PyTorch's time.) */
#define COL_BLOCK 64
typedef struct {
    float *y;
    const float *x;
    int64_t len, inner, blocks; /* blocks of columns per outer index */
    int op;                     /* 0 softmax, 1 log-softmax, 2 logsumexp */
} cols_job;

LN_CLONES static void softmax_cols_range(void *arg, int64_t lo, int64_t hi) {
    const cols_job *j = arg;
    const int64_t len = j->len, inner = j->inner;
    float m[COL_BLOCK];
    double s[COL_BLOCK];
    for (int64_t u = lo; u < hi; u++) {
        const int64_t o = u / j->blocks, c0 = u % j->blocks * COL_BLOCK;
        const int64_t w = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        const float *x = j->x + o * len * inner + c0;
        for (int64_t c = 0; c < w; c++) {
            m[c] = x[c];
            s[c] = 0;
        }
        for (int64_t l = 1; l < len; l++) {
            const float *xl = x + l * inner;
#pragma omp simd
            for (int64_t c = 0; c < w; c++) m[c] = xl[c] > m[c] ? xl[c] : m[c];
        }
        for (int64_t l = 0; l < len; l++) {
            const float *xl = x + l * inner;
            if (j->op == 0) {
                float *yl = j->y + o * len * inner + c0 + l * inner;
#pragma omp simd
                for (int64_t c = 0; c < w; c++) {
                    yl[c] = ln_vexpf(xl[c] - m[c]);
                    s[c] += (double)yl[c];
                }
            } else {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) s[c] += (double)ln_vexpf(xl[c] - m[c]);
            }
        }
        if (j->op == 2) {
            float *y = j->y + o * inner + c0;
            for (int64_t c = 0; c < w; c++)
                y[c] = isinf(m[c]) ? m[c] : (float)((double)m[c] + log(s[c]));
            continue;
        }
        for (int64_t c = 0; c < w; c++) /* the scale (softmax) or the shift */
            m[c] = j->op == 0 ? (float)(1.0 / s[c]) : m[c] + (float)log(s[c]);
        for (int64_t l = 0; l < len; l++) {
            float *yl = j->y + o * len * inner + c0 + l * inner;
            const float *xl = x + l * inner;
            if (j->op == 0) {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) yl[c] *= m[c];
            } else {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) yl[c] = xl[c] - m[c];
            }
        }
    }
}

static void softmax_cols(float *y, const float *x, int64_t outer, int64_t len,
                         int64_t inner, int op) {
    if (outer < 1 || len < 1 || inner < 1) return;
    cols_job j = {y, x, len, inner, (inner + COL_BLOCK - 1) / COL_BLOCK, op};
    int64_t w = inner < COL_BLOCK ? inner : COL_BLOCK;
    ln_parallel_rows(outer * j.blocks, len * w * 4, softmax_cols_range, &j);
}

void ln_softmax_cols(float *y, const float *x, int64_t outer, int64_t len,
                     int64_t inner, int take_log) {
    softmax_cols(y, x, outer, len, inner, take_log ? 1 : 0);
}

void ln_logsumexp_cols(float *y, const float *x, int64_t outer, int64_t len,
                       int64_t inner) {
    softmax_cols(y, x, outer, len, inner, 2);
}

/* The gradient of softmax (gx = y (g - sum g y)) and of log-softmax (gx =
** g - exp(y) sum g) along len: rows (inner == 1) summed in 16 double
** lanes as lane_sum16 does, columns in pieces as softmax_cols, the
** exponentials in vectors. (One element at a time with libm's expf and a
** dependent double sum, it was three quarters of a log_softmax step on
** 32 x 10000.) */
typedef struct {
    float *gx;
    const float *y, *g;
    int64_t len, inner, blocks;
    int take_log;
} grad_job;

/* sum g[c] y[c] over [0, n) in lane_sum16's 16 double lanes */
__attribute__((always_inline)) static inline double dot_lane_sum16(const float *g, const float *y,
                                                                   int64_t n) {
    double acc[SUM_LANES] = {0};
    int64_t c = 0;
    for (; c + SUM_LANES <= n; c += SUM_LANES) {
#pragma omp simd
        for (int k = 0; k < SUM_LANES; k++) acc[k] += (double)g[c + k] * (double)y[c + k];
    }
    for (int k = 0; c + k < n; k++) acc[k] += (double)g[c + k] * (double)y[c + k];
    return lanes_tree16(acc);
}

LN_CLONES static void grad_rows_range(void *arg, int64_t lo, int64_t hi) {
    const grad_job *j = arg;
    const int64_t n = j->len;
    for (int64_t r = lo; r < hi; r++) {
        const float *y = j->y + r * n, *g = j->g + r * n;
        float *gx = j->gx + r * n;
        const float s = (float)(j->take_log ? lane_sum16(g, n) : dot_lane_sum16(g, y, n));
        if (j->take_log) {
#pragma omp simd
            for (int64_t c = 0; c < n; c++) gx[c] = g[c] - ln_vexpf(y[c]) * s;
        } else {
#pragma omp simd
            for (int64_t c = 0; c < n; c++) gx[c] = y[c] * (g[c] - s);
        }
    }
}

LN_CLONES static void grad_cols_range(void *arg, int64_t lo, int64_t hi) {
    const grad_job *j = arg;
    const int64_t len = j->len, inner = j->inner;
    double s[COL_BLOCK];
    float fs[COL_BLOCK];
    for (int64_t u = lo; u < hi; u++) {
        const int64_t o = u / j->blocks, c0 = u % j->blocks * COL_BLOCK;
        const int64_t w = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        const int64_t at = o * len * inner + c0;
        for (int64_t c = 0; c < w; c++) s[c] = 0;
        for (int64_t l = 0; l < len; l++) {
            const float *y = j->y + at + l * inner, *g = j->g + at + l * inner;
            if (j->take_log) {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) s[c] += (double)g[c];
            } else {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) s[c] += (double)g[c] * (double)y[c];
            }
        }
        for (int64_t c = 0; c < w; c++) fs[c] = (float)s[c];
        for (int64_t l = 0; l < len; l++) {
            const float *y = j->y + at + l * inner, *g = j->g + at + l * inner;
            float *gx = j->gx + at + l * inner;
            if (j->take_log) {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) gx[c] = g[c] - ln_vexpf(y[c]) * fs[c];
            } else {
#pragma omp simd
                for (int64_t c = 0; c < w; c++) gx[c] = y[c] * (g[c] - fs[c]);
            }
        }
    }
}

void ln_softmax_backward(float *gx, const float *y, const float *g, int64_t outer,
                         int64_t len, int64_t inner, int take_log) {
    if (outer < 1 || len < 1 || inner < 1) return;
    grad_job j = {gx, y, g, len, inner, (inner + COL_BLOCK - 1) / COL_BLOCK, take_log};
    if (inner == 1) {
        ln_parallel_rows(outer, len * 8, grad_rows_range, &j);
        return;
    }
    int64_t w = inner < COL_BLOCK ? inner : COL_BLOCK;
    ln_parallel_rows(outer * j.blocks, len * w * 8, grad_cols_range, &j);
}
