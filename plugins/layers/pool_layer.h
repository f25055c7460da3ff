/*
** pool_layer.h -- the pooling layers of Keras, shared by their plugin
** files (max_pooling2d.c, average_pooling1d.c, global_max_pooling2d.c ...),
** which only name the rank, the reduction and whether it is global.
** Private, static.
**
** Local pooling: pool_size (positional 1), strides (default: pool_size),
** padding "valid"/"same" (any case; TF's asymmetric "same"), data_format.
** A window reads the pixels inside the input only: max pooling ignores the
** padding, and "same" average pooling divides by the number of pixels
** inside the input, as TF does. Global pooling: data_format, keepdims.
**
** Max pooling keeps, per output element, the input pixel it came from:
** the first maximum in window order (rows, then columns) -- a fixed rule
** for ties -- and backward routes the gradient there. An inference forward
** computes the maxima only; a backward after one finds the positions again. Forward tasks own
** blocks of output rows; backward tasks own samples (windows may overlap,
** so a sample's gradient is summed by one task in output order).
*/
#ifndef LUNET_POOL_LAYER_H
#define LUNET_POOL_LAYER_H

#include <float.h>

#include "conv_util.h"

enum { POOL_MAX, POOL_AVG };

typedef struct pool {
    int rank, kind, global, keepdims, padding, channels_first;
    int64_t ps[2], st[2]; /* (rows, cols); rank 1 uses [1] */
    cu_axis h, w;
    cu_dims in, out;
    ln_tensor *xl, *yl, *dyl, *dxl;
    ln_tensor *arg; /* max: input pixel of each output element (int32) */
    int arg_valid;  /* arg is from the last forward (training ones keep it) */
} pool;

static ln_status pool_create(ln_ctx *ctx, ln_layer *l, ln_args *a, int rank,
                             int kind, int global) {
    pool *p = cu_state(l);
    ln_status st;
    p->rank = rank, p->kind = kind, p->global = global;
    if ((st = cu_data_format(ctx, a, &p->channels_first))) return st;
    if (global) return ln_args_bool(ctx, a, "keepdims", 0, &p->keepdims);
    int64_t v[2] = {0, 0}, two[2] = {2, 2};
    if ((st = cu_tuple(ctx, a, "pool_size", 1, rank, two, 1, v))) return st;
    p->ps[0] = rank == 2 ? v[0] : 1;
    p->ps[1] = v[rank - 1];
    if ((st = cu_tuple(ctx, a, "strides", 0, rank, v, 1, v))) return st;
    p->st[0] = rank == 2 ? v[0] : 1;
    p->st[1] = v[rank - 1];
    return cu_padding(ctx, a, 0, &p->padding);
}

static ln_status pool_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                            int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    pool *p = cu_state(l);
    ln_status st = cu_sample_dims(ctx, p->rank, p->channels_first, in_nd,
                                  in_shape, &p->in);
    if (st) return st;
    if (p->global) {
        p->out = (cu_dims){1, 1, p->in.c};
        if (!p->keepdims) {
            *out_nd = 1;
            out_shape[0] = p->in.c;
            return LN_OK;
        }
    } else {
        const int64_t one = 1;
        if (!cu_axis_make(&p->h, p->in.h, p->ps[0], p->st[0], 1, p->padding) ||
            !cu_axis_make(&p->w, p->in.w, p->ps[1], p->st[1], 1, p->padding))
            return cu_fit_error(ctx, "pool_size", p->rank, p->ps + 2 - p->rank,
                                (const int64_t[]){one, one}, in_nd, in_shape);
        p->out = (cu_dims){p->h.out, p->w.out, p->in.c};
    }
    cu_out_shape(p->rank, p->channels_first, &p->out, out_nd, out_shape);
    return LN_OK;
}

/* ---- kernels (channels_last samples) ------------------------------------------ */

typedef struct pool_job {
    const pool *p;
    const float *x, *dy;
    float *y, *dx;
    int32_t *arg;
    int64_t n;
} pool_job;

/* Output row t (sample t / oh, row t % oh) of local max pooling. */
LN_CLONES static void pool_max_row(const pool *p, const float *xb, float *yr,
                                   int32_t *ar, int64_t oh) {
    const int64_t C = p->in.c, W = p->in.w;
    int64_t a, b;
    cu_taps(&p->h, oh, &a, &b);
    for (int64_t ow = 0; ow < p->w.out; ow++) {
        int64_t ta, tb;
        cu_taps(&p->w, ow, &ta, &tb);
        float *yo = yr + ow * C;
        int32_t *ao = ar ? ar + ow * C : NULL;
        const int64_t ih0 = oh * p->h.s - p->h.pad, iw0 = ow * p->w.s - p->w.pad;
        int first = 1;
        for (int64_t th = a; th < b; th++)
            for (int64_t tw = ta; tw < tb; tw++) {
                const int32_t pix = (int32_t)((ih0 + th) * W + iw0 + tw);
                const float *xp = xb + (int64_t)pix * C;
                if (!ao) { /* inference: the maximum only */
                    if (first) memcpy(yo, xp, (size_t)C * sizeof *yo);
                    else
#pragma omp simd
                        for (int64_t c = 0; c < C; c++) yo[c] = xp[c] > yo[c] ? xp[c] : yo[c];
                    first = 0;
                    continue;
                }
                if (first) {
                    for (int64_t c = 0; c < C; c++) yo[c] = xp[c], ao[c] = pix;
                    first = 0;
                    continue;
                }
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const int gt = xp[c] > yo[c];
                    yo[c] = gt ? xp[c] : yo[c];
                    ao[c] = gt ? pix : ao[c];
                }
            }
    }
}

LN_CLONES static void pool_avg_row(const pool *p, const float *xb, float *yr,
                                   int64_t oh) {
    const int64_t C = p->in.c, W = p->in.w;
    int64_t a, b;
    cu_taps(&p->h, oh, &a, &b);
    for (int64_t ow = 0; ow < p->w.out; ow++) {
        int64_t ta, tb;
        cu_taps(&p->w, ow, &ta, &tb);
        float *yo = yr + ow * C;
        const int64_t ih0 = oh * p->h.s - p->h.pad, iw0 = ow * p->w.s - p->w.pad;
        for (int64_t c = 0; c < C; c++) yo[c] = 0.0f;
        for (int64_t th = a; th < b; th++)
            for (int64_t tw = ta; tw < tb; tw++) {
                const float *xp = xb + ((ih0 + th) * W + iw0 + tw) * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) yo[c] += xp[c];
            }
        const float inv = 1.0f / (float)((b - a) * (tb - ta));
#pragma omp simd
        for (int64_t c = 0; c < C; c++) yo[c] *= inv;
    }
}

static void pool_fwd_task(void *arg, int64_t t) {
    const pool_job *j = arg;
    const pool *p = j->p;
    const int64_t oh = t % p->h.out, b = t / p->h.out;
    const int64_t in_per = p->in.h * p->in.w * p->in.c;
    const int64_t row = t * p->w.out * p->in.c;
    if (p->kind == POOL_MAX)
        pool_max_row(p, j->x + b * in_per, j->y + row, j->arg ? j->arg + row : NULL, oh);
    else
        pool_avg_row(p, j->x + b * in_per, j->y + row, oh);
}

/* Sample t of dx, whole: zeroed, then every output's gradient added to the
** pixels it came from, in output order. */
LN_CLONES static void pool_bwd_task(void *arg, int64_t t) {
    const pool_job *j = arg;
    const pool *p = j->p;
    const int64_t C = p->in.c, W = p->in.w;
    const int64_t in_per = p->in.h * W * C, out_per = p->h.out * p->w.out * C;
    float *dx = j->dx + t * in_per;
    const float *dy = j->dy + t * out_per;
    memset(dx, 0, (size_t)in_per * sizeof *dx);
    if (p->kind == POOL_MAX) {
        const int32_t *ar = j->arg + t * out_per;
        for (int64_t o = 0; o < out_per; o += C)
            for (int64_t c = 0; c < C; c++) dx[(int64_t)ar[o + c] * C + c] += dy[o + c];
        return;
    }
    for (int64_t oh = 0; oh < p->h.out; oh++) {
        int64_t a, b;
        cu_taps(&p->h, oh, &a, &b);
        for (int64_t ow = 0; ow < p->w.out; ow++) {
            int64_t ta, tb;
            cu_taps(&p->w, ow, &ta, &tb);
            const float inv = 1.0f / (float)((b - a) * (tb - ta));
            const float *g = dy + (oh * p->w.out + ow) * C;
            const int64_t ih0 = oh * p->h.s - p->h.pad, iw0 = ow * p->w.s - p->w.pad;
            for (int64_t th = a; th < b; th++)
                for (int64_t tw = ta; tw < tb; tw++) {
                    float *d = dx + ((ih0 + th) * W + iw0 + tw) * C;
#pragma omp simd
                    for (int64_t c = 0; c < C; c++) d[c] += g[c] * inv;
                }
        }
    }
}

/* Global pooling of sample t: pixels in order, ties to the first. */
LN_CLONES static void pool_global_task(void *arg, int64_t t) {
    const pool_job *j = arg;
    const pool *p = j->p;
    const int64_t C = p->in.c, P = p->in.h * p->in.w;
    const float *x = j->x + t * P * C;
    float *y = j->y + t * C;
    int32_t *ar = j->arg ? j->arg + t * C : NULL;
    for (int64_t c = 0; c < C; c++) y[c] = x[c];
    if (ar)
        for (int64_t c = 0; c < C; c++) ar[c] = 0;
    for (int64_t q = 1; q < P; q++) {
        const float *xp = x + q * C;
        if (ar) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                const int gt = xp[c] > y[c];
                y[c] = gt ? xp[c] : y[c];
                ar[c] = gt ? (int32_t)q : ar[c];
            }
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) y[c] += xp[c];
        }
    }
    if (!ar) {
        const float inv = 1.0f / (float)P;
        for (int64_t c = 0; c < C; c++) y[c] *= inv;
    }
}

LN_CLONES static void pool_global_bwd_task(void *arg, int64_t t) {
    const pool_job *j = arg;
    const pool *p = j->p;
    const int64_t C = p->in.c, P = p->in.h * p->in.w;
    float *dx = j->dx + t * P * C;
    const float *dy = j->dy + t * C;
    if (j->arg) {
        const int32_t *ar = j->arg + t * C;
        memset(dx, 0, (size_t)(P * C) * sizeof *dx);
        for (int64_t c = 0; c < C; c++) dx[(int64_t)ar[c] * C + c] = dy[c];
        return;
    }
    const float inv = 1.0f / (float)P;
    for (int64_t q = 0; q < P; q++)
#pragma omp simd
        for (int64_t c = 0; c < C; c++) dx[q * C + c] = dy[c] * inv;
}

/* ---- the layer ---------------------------------------------------------------------- */

/* Runs the forward into yl (channels_last) from xl; max pooling records
** where each maximum came from when `record` (needed by backward). */
static ln_status pool_run(ln_ctx *ctx, pool *p, const float *xl, float *yl,
                          int64_t n, int64_t ynumel, int record) {
    pool_job j = {p, xl, NULL, yl, NULL, NULL, n};
    record = record && p->kind == POOL_MAX;
    if (record) {
        const int64_t shape[1] = {ynumel};
        if (!p->arg && !(p->arg = ln_tensor_new(ctx, LN_INT32, 1, shape)))
            return ctx->status;
        ln_status st = ln_tensor_resize(ctx, p->arg, 1, shape);
        if (st) return st;
        j.arg = (int32_t *)ln_data(p->arg);
    }
    const int64_t work = n * p->in.h * p->in.w * p->in.c;
    if (p->global) cu_run_sized(work, n, pool_global_task, &j);
    else cu_run_sized(work, n * p->h.out, pool_fwd_task, &j);
    p->arg_valid = record;
    return LN_OK;
}

static ln_status pool_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                              ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    pool *p = cu_state(l);
    const float *xl;
    float *yl;
    ln_status st;
    if ((st = cu_to_last(ctx, p->channels_first, x, &p->in, &p->xl, &xl)) ||
        (st = cu_last_dst(ctx, p->channels_first, y, &p->yl, &yl)))
        return st;
    /* global max records its maxima always (one per channel: free) */
    if ((st = pool_run(ctx, p, xl, yl, x->shape[0], y->numel,
                       (flags & LN_TRAINING) || p->global)))
        return st;
    cu_from_last(p->channels_first, y, p->yl, &p->out);
    return LN_OK;
}

static ln_status pool_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                               const ln_tensor *const *ys, const ln_tensor *const *dys,
                               ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *y = ys[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    pool *p = cu_state(l);
    if (!dx) return LN_OK;
    const float *dyl;
    float *dxl;
    ln_status st;
    if (p->kind == POOL_MAX && !(p->arg_valid && p->arg->numel == y->numel)) {
        /* an inference forward kept no positions: find them again */
        const float *xl = p->channels_first ? ln_f32(p->xl) : ln_f32(x);
        if ((st = lu_buffer_like(ctx, &p->yl, y)) ||
            (st = pool_run(ctx, p, xl, ln_f32(p->yl), x->shape[0], y->numel, 1)))
            return st;
    }
    if ((st = cu_to_last(ctx, p->channels_first, dy, &p->out, &p->dyl, &dyl)) ||
        (st = cu_last_dst(ctx, p->channels_first, dx, &p->dxl, &dxl)))
        return st;
    pool_job j = {p, NULL, dyl, NULL, dxl,
                  p->kind == POOL_MAX ? (int32_t *)ln_data(p->arg) : NULL, x->shape[0]};
    cu_run_sized(x->numel, j.n, p->global ? pool_global_bwd_task : pool_bwd_task, &j);
    cu_from_last(p->channels_first, dx, p->dxl, &p->in);
    return LN_OK;
}

static void pool_destroy(ln_layer *l) {
    pool *p = cu_state(l);
    ln_tensor_release(p->xl);
    ln_tensor_release(p->yl);
    ln_tensor_release(p->dyl);
    ln_tensor_release(p->dxl);
    ln_tensor_release(p->arg);
}

#endif
