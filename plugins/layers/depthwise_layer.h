/*
** depthwise_layer.h -- DepthwiseConv2D and SeparableConv2D (Keras), shared
** by depthwise_conv2d.c and separable_conv2d.c. Private, static.
**
**   DepthwiseConv2D:  y[.., c*dm + j] = act(sum_t x[tap t, c] W[t, c, j] + b)
**   SeparableConv2D:  y = act(pointwise(depthwise(x)) + b), the pointwise
**                     step a 1x1 convolution (conv_gemm.h) of the
**                     depthwise output u, kept for backward.
** depthwise_kernel (kh, kw, in, depth_multiplier), pointwise_kernel
** (1, 1, in * depth_multiplier, filters), as Keras stores them.
**
** The depthwise step is a direct kernel (a product per channel is too
** small for a GEMM): forward tasks own rows of output pixels and sum the
** taps in window order, vectorised over the channels; dx tasks own
** samples and gather, per input pixel, the outputs that read it; the
** kernel gradient's tasks own (row of taps, block of channels) for windows
** up to DW_ROW_MAX wide, else (tap, block of channels), and sum over the
** pixels in a fixed order (per tap, float sums of DW_CHUNK pixels added
** into double totals).
*/
#ifndef LUNET_DEPTHWISE_LAYER_H
#define LUNET_DEPTHWISE_LAYER_H

#include <stdlib.h>

#include "conv_gemm.h"

#define DW_CHUNK 256  /* pixels per float partial sum of the kernel gradient */
#define DW_CBLK 64    /* outputs (in * multiplier) per kernel-gradient task:
                      ** four vectors of sums in registers */

typedef struct dwconv {
    int separable;
    int64_t filters, dm;
    int64_t ks[2], st[2], dl[2];
    int padding, channels_first, use_bias;
    ln_activation *act;
    const char *init[3]; /* depthwise, pointwise, bias */
    ln_args *init_args[3];
    double l1[3], l2[3];
    int w[3];            /* weight indices (-1 when absent) */
    cu_axis h, wa;       /* the depthwise window */
    int64_t n;
    cu_dims in, out;
    cg_conv pw;          /* the pointwise step (separable) */
    ln_tensor *xl, *u, *du, *dxl, *wt, *dwt, *part;
    ln_tensor *xe, *dxe; /* dm > 1: the input and dx with channels repeated */
    int32_t *rd[2]; /* per axis: the outputs that read input i, dw_readers */
    cu_out o; /* the output and its activation */
    cu_scratch scr;
} dwconv;

static const char *const dw_keys[3][3] = {
    {"depthwise_initializer", "depthwise_regularizer", "depthwise_constraint"},
    {"pointwise_initializer", "pointwise_regularizer", "pointwise_constraint"},
    {"bias_initializer", "bias_regularizer", "bias_constraint"}};

static ln_status dw_create(ln_ctx *ctx, ln_layer *l, ln_args *a, int separable) {
    dwconv *d = cu_state(l);
    ln_status st;
    int64_t v[2] = {0, 0}, one[2] = {1, 1}, groups;
    d->separable = separable;
    if (separable) {
        if ((st = ln_args_positional(ctx, a, 1, "filters"))) return st;
        if (!ln_args_has(a, "filters"))
            return ln_fail(ctx, LN_E_ARG, "missing required argument 'filters'");
        if ((st = ln_args_int(ctx, a, "filters", 0, &d->filters))) return st;
        if (d->filters < 1 || d->filters > ((int64_t)1 << 30))
            return ln_fail(ctx, LN_E_ARG, "'filters' must be a positive integer, got %lld",
                           (long long)d->filters);
    }
    int64_t *dst[3] = {d->ks, d->st, d->dl};
    const char *keys[3] = {"kernel_size", "strides", "dilation_rate"};
    for (int i = 0; i < 3; i++) {
        if ((st = cu_tuple(ctx, a, keys[i], i == 0 ? 1 + separable : 0, 2,
                           i ? one : NULL, 1, v)))
            return st;
        dst[i][0] = v[0], dst[i][1] = v[1];
    }
    if ((st = cu_padding(ctx, a, 0, &d->padding)) ||
        (st = cu_data_format(ctx, a, &d->channels_first)) ||
        (st = ln_args_int(ctx, a, "depth_multiplier", 1, &d->dm)) ||
        (st = ln_args_int(ctx, a, "groups", 1, &groups)))
        return st;
    if (d->dm < 1 || d->dm > ((int64_t)1 << 20))
        return ln_fail(ctx, LN_E_ARG, "'depth_multiplier' must be a positive integer, got %lld",
                       (long long)d->dm);
    if (groups != 1)
        return ln_fail(ctx, LN_E_ARG, "'groups' must be 1 here, got %lld",
                       (long long)groups);
    if ((st = lu_activation(ctx, a, "activation", "linear", &d->act)) ||
        (st = ln_args_bool(ctx, a, "use_bias", 1, &d->use_bias)) ||
        (st = lu_nil_only(ctx, a, "activity_regularizer")))
        return st;
    for (int i = 0; i < 3; i++) {
        if (i == 1 && !separable) continue;
        if ((st = lu_initializer(ctx, a, dw_keys[i][0], i == 2 ? "zeros" : "glorot_uniform",
                                 &d->init[i], &d->init_args[i])) ||
            (st = ln_args_regularizer(ctx, a, dw_keys[i][1], &d->l1[i], &d->l2[i])) ||
            (st = lu_nil_only(ctx, a, dw_keys[i][2])))
            return st;
    }
    d->w[0] = d->w[1] = d->w[2] = -1;
    return LN_OK;
}

/* For an axis of the window, *rd[i k + m] = the output whose tap k-1-m
** reads input i, or -1 (dx's gather without divisions). Owned by the
** state (freed by dw_destroy). */
static ln_status dw_readers(ln_ctx *ctx, const cu_axis *ax, int32_t **rd) {
    free(*rd);
    *rd = NULL;
    if (ax->in > INT32_MAX / ax->k)
        return ln_fail(ctx, LN_E_SHAPE,
                       "an input axis of %lld pixels under a window of %lld taps is too "
                       "large (at most 2^31 - 1 pairs)",
                       (long long)ax->in, (long long)ax->k);
    if (!(*rd = malloc(sizeof **rd * (size_t)(ax->in * ax->k))))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < ax->in; i++)
        for (int64_t m = 0; m < ax->k; m++) {
            const int64_t n = i + ax->pad - (ax->k - 1 - m) * ax->d, o = n / ax->s;
            (*rd)[i * ax->k + m] = n >= 0 && n % ax->s == 0 && o < ax->out ? (int32_t)o : -1;
        }
    return LN_OK;
}

static ln_status dw_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                          int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    dwconv *d = cu_state(l);
    ln_status st = cu_sample_dims(ctx, 2, d->channels_first, in_nd, in_shape, &d->in);
    if (st) return st;
    if (!cu_axis_make(&d->h, d->in.h, d->ks[0], d->st[0], d->dl[0], d->padding) ||
        !cu_axis_make(&d->wa, d->in.w, d->ks[1], d->st[1], d->dl[1], d->padding))
        return cu_fit_error(ctx, "kernel", 2, d->ks, d->dl, in_nd, in_shape);
    const int64_t cm = d->in.c * d->dm;
    if ((st = dw_readers(ctx, &d->h, &d->rd[0])) || (st = dw_readers(ctx, &d->wa, &d->rd[1])))
        return st;
    d->out = (cu_dims){d->h.out, d->wa.out, d->separable ? d->filters : cm};
    const int64_t dshape[4] = {d->ks[0], d->ks[1], d->in.c, d->dm};
    if (!cu_mul(4, dshape)) return ln_fail(ctx, LN_E_SHAPE, "the kernel is too large");
    if ((st = cu_add_weight(ctx, l, "depthwise_kernel", 4, dshape, 1, d->init[0],
                            d->init_args[0], d->l1[0], d->l2[0], &d->w[0])))
        return st;
    if (d->separable) {
        const int64_t pshape[4] = {1, 1, cm, d->filters};
        if ((st = cu_add_weight(ctx, l, "pointwise_kernel", 4, pshape, 1, d->init[1],
                                d->init_args[1], d->l1[1], d->l2[1], &d->w[1])))
            return st;
        const cu_axis one = {d->h.out, d->h.out, 1, 1, 1, 0};
        d->pw.h = one;
        d->pw.w = (cu_axis){d->wa.out, d->wa.out, 1, 1, 1, 0};
        d->pw.cb = cm, d->pw.cs = d->filters, d->pw.groups = 1;
        const int64_t wshape[2] = {d->filters, cm};
        if ((st = lu_buffer(ctx, &d->wt, 2, wshape)) ||
            (st = lu_buffer(ctx, &d->dwt, 2, wshape)))
            return st;
    }
    if (d->use_bias &&
        (st = cu_add_weight(ctx, l, "bias", 1, &d->out.c, 1, d->init[2],
                            d->init_args[2], d->l1[2], d->l2[2], &d->w[2])))
        return st;
    cu_out_shape(2, d->channels_first, &d->out, out_nd, out_shape);
    return LN_OK;
}

/* ---- the depthwise kernels (channels_last) ---------------------------------------- */

/* The kernels see one input channel per output (dm = 1): with a depth
** multiplier the input's channels are repeated first (dw_expand_task:
** x[.., c] at c*dm + j), so every kernel runs the same vector loop, and
** dx sums each channel's dm columns at the end of dw_dx_task. The taps
** are summed in registers, up to four vectors of DW_LANES channels. */
#define DW_LANES 16

typedef struct dw_job {
    const dwconv *d;
    const float *x, *w, *bias, *dy; /* x with in.c * dm channels */
    float *y, *dx, *dw;
    float *dxe; /* dm > 1: dx with in.c * dm channels, folded into dx */
    const float *xl; /* dm > 1: the input to repeat into x (dw_expand_task) */
    cu_post_fn post;
    const void *post_arg;
} dw_job;

/* Sample t of the input with each channel repeated dm times. */
static void dw_expand_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const int64_t C = j->d->in.c, dm = j->d->dm, px = j->d->in.h * j->d->in.w;
    const float *src = j->xl + t * px * C;
    float *dst = (float *)j->x + t * px * C * dm;
    for (int64_t i = 0; i < px * C; i++)
        for (int64_t q = 0; q < dm; q++) dst[i * dm + q] = src[i];
}

/* 16 floats as one vector (GCC's vector extension, as conv_wino.h: one
** zmm register in the AVX-512 clone, two ymm in the AVX2 one); named
** accumulators stay in registers, where an array of floats stays in
** memory. dw_v loads and stores unaligned. */
typedef float dw_v __attribute__((vector_size(4 * DW_LANES), aligned(4), may_alias));
#define DW_LD(p) (*(const dw_v *)(const void *)(p))

/* acc_k += a[16 k ..] * b[16 k ..] for the nv (1-4, a constant) vectors
** of a block: four independent sums hide the FMA's latency. */
#define DW_FMA4(nv, a, b)                                             \
    do {                                                              \
        a0 += DW_LD(a) * DW_LD(b);                                    \
        if ((nv) > 1) a1 += DW_LD((a) + DW_LANES) * DW_LD((b) + DW_LANES); \
        if ((nv) > 2) a2 += DW_LD((a) + 2 * DW_LANES) * DW_LD((b) + 2 * DW_LANES); \
        if ((nv) > 3) a3 += DW_LD((a) + 3 * DW_LANES) * DW_LD((b) + 3 * DW_LANES); \
    } while (0)
#define DW_STORE4(nv, p)                                                   \
    do {                                                                   \
        *(dw_v *)(void *)(p) = a0;                                         \
        if ((nv) > 1) *(dw_v *)(void *)((p) + DW_LANES) = a1;              \
        if ((nv) > 2) *(dw_v *)(void *)((p) + 2 * DW_LANES) = a2;          \
        if ((nv) > 3) *(dw_v *)(void *)((p) + 3 * DW_LANES) = a3;          \
    } while (0)

/* Output pixel (oh, ow) of sample xb, channels [c0, c0 + nv DW_LANES):
** the bias, then the taps in window order. */
LU_ALWAYS_INLINE void dw_fwd_vecs(const dw_job *j, const float *xb, float *yo, int64_t oh,
                                  int64_t ow, int64_t c0, const int nv) {
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, W = d->in.w;
    int64_t a, e, ta, te;
    cu_taps(&d->h, oh, &a, &e);
    cu_taps(&d->wa, ow, &ta, &te);
    dw_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    if (j->bias) {
        const float *bp = j->bias + c0;
        a0 = DW_LD(bp);
        if (nv > 1) a1 = DW_LD(bp + DW_LANES);
        if (nv > 2) a2 = DW_LD(bp + 2 * DW_LANES);
        if (nv > 3) a3 = DW_LD(bp + 3 * DW_LANES);
    }
    for (int64_t th = a; th < e; th++)
        for (int64_t tw = ta; tw < te; tw++) {
            const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
            const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
            const float *xp = xb + (ih * W + iw) * cm + c0;
            const float *wp = j->w + (th * d->ks[1] + tw) * cm + c0;
            DW_FMA4(nv, xp, wp);
        }
    DW_STORE4(nv, yo + c0);
}

/* The same for the last nc < DW_LANES channels, one at a time. */
LU_ALWAYS_INLINE void dw_fwd_tail(const dw_job *j, const float *xb, float *yo, int64_t oh,
                                  int64_t ow, int64_t c0, int64_t nc) {
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, W = d->in.w;
    int64_t a, e, ta, te;
    cu_taps(&d->h, oh, &a, &e);
    cu_taps(&d->wa, ow, &ta, &te);
    for (int64_t k = 0; k < nc; k++) {
        float acc = j->bias ? j->bias[c0 + k] : 0.0f;
        for (int64_t th = a; th < e; th++)
            for (int64_t tw = ta; tw < te; tw++) {
                const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
                const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
                acc += xb[(ih * W + iw) * cm + c0 + k] * j->w[(th * d->ks[1] + tw) * cm + c0 + k];
            }
        yo[c0 + k] = acc;
    }
}

/* Channels of one pixel: blocks of four vectors, then single vectors,
** then the rest one by one. BLOCK(c0, nv) and TAIL(c0, nc). */
#define DW_CHANNELS(cm, BLOCK, TAIL)                                           \
    do {                                                                       \
        int64_t c0_ = 0;                                                       \
        for (; c0_ + 4 * DW_LANES <= (cm); c0_ += 4 * DW_LANES) BLOCK(c0_, 4); \
        for (; c0_ + DW_LANES <= (cm); c0_ += DW_LANES) BLOCK(c0_, 1);         \
        if (c0_ < (cm)) TAIL(c0_, (cm) - c0_);                                 \
    } while (0)

/* y row t (sample t / oh, output row t % oh). */
LN_CLONES static void dw_fwd_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm;
    const int64_t b = t / d->h.out, oh = t % d->h.out;
    const float *xb = j->x + b * d->in.h * d->in.w * cm;
    float *yr = j->y + t * d->wa.out * cm;
    for (int64_t ow = 0; ow < d->wa.out; ow++) {
#define FWD_BLOCK(c0, nv) dw_fwd_vecs(j, xb, yr + ow * cm, oh, ow, c0, nv)
#define FWD_TAIL(c0, nc) dw_fwd_tail(j, xb, yr + ow * cm, oh, ow, c0, nc)
        DW_CHANNELS(cm, FWD_BLOCK, FWD_TAIL);
#undef FWD_BLOCK
#undef FWD_TAIL
    }
    if (j->post) j->post(j->post_arg, yr, d->wa.out, cm);
}

/* dx at input pixel (ih, iw) of a sample, channels [c0, c0 + nv
** DW_LANES): the outputs that read it, in the order a scatter over the
** outputs (rows, then columns) would add them: taps from the last. */
LU_ALWAYS_INLINE void dw_dx_vecs(const dw_job *j, const float *gb, float *xo, int64_t ih,
                                 int64_t iw, int64_t c0, const int nv) {
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, kh = d->ks[0], kw = d->ks[1];
    const int32_t *rh = d->rd[0] + ih * kh, *rw = d->rd[1] + iw * kw;
    dw_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int64_t mh = 0; mh < kh; mh++) {
        if (rh[mh] < 0) continue;
        for (int64_t mw = 0; mw < kw; mw++) {
            if (rw[mw] < 0) continue;
            const float *g = gb + (rh[mh] * d->wa.out + rw[mw]) * cm + c0;
            const float *wp = j->w + ((kh - 1 - mh) * kw + kw - 1 - mw) * cm + c0;
            DW_FMA4(nv, g, wp);
        }
    }
    DW_STORE4(nv, xo + c0);
}

/* The same for the last nc < DW_LANES channels, one at a time. */
LU_ALWAYS_INLINE void dw_dx_tail(const dw_job *j, const float *gb, float *xo, int64_t ih,
                                 int64_t iw, int64_t c0, int64_t nc) {
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, kh = d->ks[0], kw = d->ks[1];
    const int32_t *rh = d->rd[0] + ih * kh, *rw = d->rd[1] + iw * kw;
    for (int64_t k = 0; k < nc; k++) {
        float acc = 0.0f;
        for (int64_t mh = 0; mh < kh; mh++) {
            if (rh[mh] < 0) continue;
            for (int64_t mw = 0; mw < kw; mw++) {
                if (rw[mw] < 0) continue;
                acc += gb[(rh[mh] * d->wa.out + rw[mw]) * cm + c0 + k] *
                       j->w[((kh - 1 - mh) * kw + kw - 1 - mw) * cm + c0 + k];
            }
        }
        xo[c0 + k] = acc;
    }
}

/* dx of sample t, pixel by pixel (no two tasks write one pixel); with a
** depth multiplier each channel's dm columns are summed in order. */
LN_CLONES static void dw_dx_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t C = d->in.c, dm = d->dm, cm = C * dm, px = d->in.h * d->in.w;
    const float *gb = j->dy + t * d->h.out * d->wa.out * cm;
    float *xb = (dm > 1 ? j->dxe : j->dx) + t * px * cm;
    for (int64_t ih = 0; ih < d->in.h; ih++)
        for (int64_t iw = 0; iw < d->in.w; iw++) {
            float *xo = xb + (ih * d->in.w + iw) * cm;
#define DX_BLOCK(c0, nv) dw_dx_vecs(j, gb, xo, ih, iw, c0, nv)
#define DX_TAIL(c0, nc) dw_dx_tail(j, gb, xo, ih, iw, c0, nc)
            DW_CHANNELS(cm, DX_BLOCK, DX_TAIL);
#undef DX_BLOCK
#undef DX_TAIL
        }
    if (dm == 1) return;
    float *dx = j->dx + t * px * C;
    for (int64_t i = 0; i < px * C; i++) {
        float s = xb[i * dm];
        for (int64_t q = 1; q < dm; q++) s += xb[i * dm + q];
        dx[i] = s;
    }
}

static LU_UNUSED int64_t dw_dw_blocks(const dwconv *d) {
    return (d->in.c * d->dm + DW_CBLK - 1) / DW_CBLK;
}

/* Kernel gradient of tap t / blocks, outputs [o0, o0 + on) of it: each
** task reads its block of x and dy once per tap. (Measured at 32 x 14 x
** 14 x 64, against 256-channel blocks summed in memory: one pass over the
** pixels for every tap, its sums in memory, took 1.6x their time, blocks
** of 16 channels with one sum in a register 1.4x; these 64-channel blocks
** in four registers 0.85x.) */
LN_CLONES static void dw_dw_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, W = d->in.w;
    const int64_t nblk = dw_dw_blocks(d), tap = t / nblk;
    const int64_t o0 = (t % nblk) * DW_CBLK, on = cm - o0 < DW_CBLK ? cm - o0 : DW_CBLK;
    const int64_t th = tap / d->ks[1], tw = tap % d->ks[1];
    float part[DW_CBLK];
    double total[DW_CBLK];
    dw_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}; /* a full block's sums */
    for (int64_t o = 0; o < on; o++) part[o] = 0.0f, total[o] = 0.0;
    int64_t count = 0;
    for (int64_t b = 0; b < d->n; b++)
        for (int64_t oh = 0; oh < d->h.out; oh++) {
            const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
            if (ih < 0 || ih >= d->in.h) continue;
            for (int64_t ow = 0; ow < d->wa.out; ow++) {
                const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
                if (iw < 0 || iw >= W) continue;
                const float *xp = j->x + ((b * d->in.h + ih) * W + iw) * cm + o0;
                const float *g = j->dy + ((b * d->h.out + oh) * d->wa.out + ow) * cm + o0;
                if (on == DW_CBLK) {
                    DW_FMA4(4, xp, g);
                } else {
#pragma omp simd
                    for (int64_t o = 0; o < on; o++) part[o] += xp[o] * g[o];
                }
                if (++count == DW_CHUNK) {
                    if (on == DW_CBLK) {
                        DW_STORE4(4, part);
                        a0 = a1 = a2 = a3 = (dw_v){0};
                    }
                    for (int64_t o = 0; o < on; o++) total[o] += part[o], part[o] = 0.0f;
                    count = 0;
                }
            }
        }
    if (on == DW_CBLK) DW_STORE4(4, part);
    float *dwp = j->dw + tap * cm + o0;
    for (int64_t o = 0; o < on; o++) dwp[o] = (float)(total[o] + part[o]);
}

/* Windows at most DW_ROW_MAX taps wide: one task per (row of taps, block
** of DW_CBLK outputs) sums every tap of the row while dy's block is in
** registers, so x and dy are read once per row instead of once per tap.
** Per tap the pixels come in the same order, and every DW_CHUNK of them
** go into the double totals, as dw_dw_task: the same bits. */
#define DW_ROW_MAX 3

static LU_UNUSED int64_t dw_dw_tasks(const dwconv *d) {
    return (d->ks[1] <= DW_ROW_MAX ? d->ks[0] : d->ks[0] * d->ks[1]) * dw_dw_blocks(d);
}

/* The sums of tap k of the row (k < kw, a constant) from the pixel's x at
** xp and its dy block g0..g3 (full blocks), or part (the last block). */
#define DW_ROW_TAP(k, p)                                                             \
    do {                                                                             \
        const int64_t iw = ow * d->wa.s - d->wa.pad + (k) * d->wa.d;                 \
        if (iw < 0 || iw >= W) break;                                                \
        const float *xp = xr + iw * cm + o0;                                         \
        if (on == DW_CBLK) {                                                         \
            p##0 += DW_LD(xp) * g0, p##1 += DW_LD(xp + DW_LANES) * g1;               \
            p##2 += DW_LD(xp + 2 * DW_LANES) * g2, p##3 += DW_LD(xp + 3 * DW_LANES) * g3; \
        } else {                                                                     \
            _Pragma("omp simd") for (int64_t o = 0; o < on; o++) part[k][o] += xp[o] * g[o]; \
        }                                                                            \
        if (++count[k] == DW_CHUNK) {                                                \
            if (on == DW_CBLK) {                                                     \
                dw_v *q = (dw_v *)(void *)part[k];                                   \
                q[0] = p##0, q[1] = p##1, q[2] = p##2, q[3] = p##3;                  \
                p##0 = p##1 = p##2 = p##3 = (dw_v){0};                               \
            }                                                                        \
            for (int64_t o = 0; o < on; o++) total[k][o] += part[k][o], part[k][o] = 0.0f; \
            count[k] = 0;                                                            \
        }                                                                            \
    } while (0)

LU_ALWAYS_INLINE void dw_dw_row(const dw_job *j, int64_t t, const int kw) {
    const dwconv *d = j->d;
    const int64_t cm = d->in.c * d->dm, W = d->in.w;
    const int64_t nblk = dw_dw_blocks(d), th = t / nblk;
    const int64_t o0 = (t % nblk) * DW_CBLK, on = cm - o0 < DW_CBLK ? cm - o0 : DW_CBLK;
    float part[DW_ROW_MAX][DW_CBLK];
    double total[DW_ROW_MAX][DW_CBLK];
    int64_t count[DW_ROW_MAX] = {0};
    dw_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}; /* tap 0's sums (full blocks) */
    dw_v b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}; /* tap 1's */
    dw_v c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}; /* tap 2's */
    for (int k = 0; k < kw; k++)
        for (int64_t o = 0; o < on; o++) part[k][o] = 0.0f, total[k][o] = 0.0;
    for (int64_t b = 0; b < d->n; b++)
        for (int64_t oh = 0; oh < d->h.out; oh++) {
            const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
            if (ih < 0 || ih >= d->in.h) continue;
            const float *xr = j->x + (b * d->in.h + ih) * W * cm;
            for (int64_t ow = 0; ow < d->wa.out; ow++) {
                const float *g = j->dy + ((b * d->h.out + oh) * d->wa.out + ow) * cm + o0;
                dw_v g0 = {0}, g1 = {0}, g2 = {0}, g3 = {0};
                if (on == DW_CBLK)
                    g0 = DW_LD(g), g1 = DW_LD(g + DW_LANES), g2 = DW_LD(g + 2 * DW_LANES),
                    g3 = DW_LD(g + 3 * DW_LANES);
                DW_ROW_TAP(0, a);
                if (kw > 1) DW_ROW_TAP(1, b);
                if (kw > 2) DW_ROW_TAP(2, c);
            }
        }
    if (on == DW_CBLK) {
        dw_v *q = (dw_v *)(void *)part[0];
        q[0] = a0, q[1] = a1, q[2] = a2, q[3] = a3;
        q = (dw_v *)(void *)part[1];
        if (kw > 1) q[0] = b0, q[1] = b1, q[2] = b2, q[3] = b3;
        q = (dw_v *)(void *)part[2];
        if (kw > 2) q[0] = c0, q[1] = c1, q[2] = c2, q[3] = c3;
    }
    for (int k = 0; k < kw; k++) {
        float *dwp = j->dw + (th * d->ks[1] + k) * cm + o0;
        for (int64_t o = 0; o < on; o++) dwp[o] = (float)(total[k][o] + part[k][o]);
    }
}
#undef DW_ROW_TAP

/* Kernel-gradient task t of dw_dw_tasks. */
LN_CLONES static void dw_dw_any_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    switch (j->d->ks[1]) {
    case 1: dw_dw_row(j, t, 1); break;
    case 2: dw_dw_row(j, t, 2); break;
    case 3: dw_dw_row(j, t, 3); break;
    default: dw_dw_task(arg, t);
    }
}

/* ---- the layer ---------------------------------------------------------------------- */

static ln_status dw_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                            ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    dwconv *d = cu_state(l);
    const int mode = cu_act_mode(d->act, d->channels_first, flags);
    const float *xl, *bias = cu_value(l, d->w[2]);
    float *out;
    ln_status st;
    d->n = x->shape[0];
    if ((st = cu_to_last(ctx, d->channels_first, x, &d->in, &d->xl, &xl))) return st;
    if ((st = cu_out_begin(ctx, &d->o, mode, d->channels_first, y, &out))) return st;
    cu_post_fn post = mode == 1 ? cu_act_post : NULL;
    dw_job j = {.d = d, .x = xl, .w = cu_value(l, d->w[0]), .bias = bias, .y = out,
                .post = post, .post_arg = d->act};
    if (d->dm > 1) { /* kept for backward */
        const int64_t eshape[2] = {d->n * d->in.h * d->in.w, d->in.c * d->dm};
        if ((st = lu_buffer(ctx, &d->xe, 2, eshape))) return st;
        j.xl = xl, j.x = ln_f32(d->xe);
        cu_run((double)(d->xe->numel), d->n, dw_expand_task, &j);
    }
    if (d->separable) {
        const int64_t ushape[2] = {d->n * d->h.out * d->wa.out, d->in.c * d->dm};
        if ((st = lu_buffer(ctx, &d->u, 2, ushape))) return st;
        j.y = ln_f32(d->u), j.bias = NULL, j.post = NULL;
    }
    cu_run(2.0 * (double)(d->n * d->h.out * d->wa.out * d->in.c) * (double)(d->ks[0] * d->ks[1] * d->dm),
           d->n * d->h.out, dw_fwd_task, &j);
    if (d->separable) {
        d->pw.n = d->n;
        cg_gather_job g = {&d->pw, ln_f32(d->u), cu_value(l, d->w[1]), bias, out, &d->scr,
                           post, d->act};
        cu_run(cg_flops(&d->pw), cg_gather_tasks(&d->pw), cg_gather_task, &g);
    }
    cu_out_end(&d->o, d->act, mode, d->channels_first, y, &d->out);
    return LN_OK;
}

/* The tasks of a backward's run (see dw_backward). */
typedef struct dw_bwd_job {
    dw_job dj;
    cg_wgrad_job wg;
    cu_colsum_job cs;
    int64_t nw, nx, nt, nb;
} dw_bwd_job;

static void dw_bwd_task(void *arg, int64_t t) {
    dw_bwd_job *j = arg;
    if (t < j->nw) dw_dw_any_task(&j->dj, t);
    else if ((t -= j->nw) < j->nx) dw_dx_task(&j->dj, t);
    else if ((t -= j->nx) < j->nt) cg_wgrad_task(&j->wg, t);
    else cu_colsum_task(&j->cs, t - j->nt);
}

static ln_status dw_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                             const ln_tensor *const *ys, const ln_tensor *const *dys,
                             ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *y = ys[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    dwconv *d = cu_state(l);
    const int mode = cu_act_mode(d->act, d->channels_first, flags);
    float *gdw = cu_grad(l, d->w[0], flags), *gpw = cu_grad(l, d->w[1], flags);
    float *gb = cu_grad(l, d->w[2], flags), *dxo = NULL;
    /* the input as the kernels read it: channels repeated, channels_last */
    const float *dzl, *xl = d->dm > 1            ? ln_f32(d->xe)
                            : d->channels_first ? ln_f32(d->xl)
                                                : ln_f32(x);
    const int64_t cm = d->in.c * d->dm, ntap = d->ks[0] * d->ks[1];
    ln_status st;
    d->n = d->pw.n = x->shape[0];
    if ((st = cu_out_grad(ctx, &d->o, d->act, mode, d->channels_first, y, dy, &d->out, &dzl)))
        return st;
    const int need_dx = dx != NULL;
    if (need_dx && (st = cu_last_dst(ctx, d->channels_first, dx, &d->dxl, &dxo)))
        return st;
    dw_bwd_job j;
    memset(&j, 0, sizeof j);
    int64_t scratch = 0;
    j.dj = (dw_job){.d = d, .x = xl, .w = cu_value(l, d->w[0]), .dy = dzl, .dx = dxo, .dw = gdw};
    if (dxo && d->dm > 1) {
        const int64_t eshape[2] = {d->n * d->in.h * d->in.w, cm};
        if ((st = lu_buffer(ctx, &d->dxe, 2, eshape))) return st;
        j.dj.dxe = ln_f32(d->dxe);
    }
    if (gb) {
        const int64_t pixels = d->n * d->h.out * d->wa.out;
        j.cs = (cu_colsum_job){dzl, NULL, pixels, d->out.c};
        j.nb = cu_colsum_tasks(pixels);
        const int64_t pshape[2] = {j.nb ? j.nb : 1, 2 * d->out.c};
        if ((st = lu_buffer(ctx, &d->part, 2, pshape))) return st;
        j.cs.part = (double *)ln_f32(d->part);
    }
    if (d->separable) {
        /* pointwise first: du = dz PW^T (a 1x1 product, no patches), and
        ** the pointwise kernel's gradient u^T dz; then the depthwise step
        ** runs on du */
        const int64_t ushape[2] = {d->n * d->h.out * d->wa.out, cm};
        if ((st = lu_buffer(ctx, &d->du, 2, ushape))) return st;
        lu_transpose(ln_f32(d->wt), cm, cu_value(l, d->w[1]), d->filters, cm, d->filters);
        cg_conv pwt = d->pw; /* the 1x1 product the other way round */
        pwt.cb = d->filters, pwt.cs = cm;
        cg_gather_job du = {&pwt, dzl, ln_f32(d->wt), NULL, ln_f32(d->du), &d->scr, NULL, NULL};
        if (gpw && d->n) {
            j.wg = (cg_wgrad_job){&d->pw, ln_f32(d->u), dzl, ln_f32(d->dwt), gpw, &d->scr, 0, 0, 0};
            cg_wgrad_plan(&d->pw, &j.wg, cu_threads());
            j.nt = cg_wgrad_tasks(&d->pw, &j.wg);
            if (cg_wgrad_scratch(&j.wg) > scratch) scratch = cg_wgrad_scratch(&j.wg);
        } else if (gpw) {
            memset(gpw, 0, (size_t)(cm * d->filters) * sizeof *gpw);
        }
        if ((st = cu_scratch_reserve(ctx, &d->scr, scratch))) return st;
        cu_run(cg_flops(&d->pw), cg_gather_tasks(&pwt), cg_gather_task, &du);
        j.dj.dy = ln_f32(d->du);
    }
    /* one run: depthwise kernel gradient, dx, the pointwise kernel
    ** gradient, bias partial sums */
    j.nw = gdw ? dw_dw_tasks(d) : 0;
    j.nx = dxo ? d->n : 0;
    cu_run(2.0 * (double)x->numel * (double)(ntap * d->dm) +
               (d->separable ? cg_flops(&d->pw) : 0) + (j.nb ? cu_colsum_work(&j.cs) : 0),
           j.nw + j.nx + j.nt + j.nb, dw_bwd_task, &j);
    if (gb) cu_colsum_finish(&j.cs, gb);
    if (dxo) cu_from_last(d->channels_first, dx, d->dxl, &d->in);
    return LN_OK;
}

static const char *dw_output_activation(const ln_layer *l) {
    const dwconv *d = cu_state(l);
    return ln_activation_is_identity(d->act) ? NULL : ln_activation_name(d->act);
}

static void dw_destroy(ln_layer *l) {
    dwconv *d = cu_state(l);
    ln_activation_free(d->act);
    ln_tensor *bufs[] = {d->xl, d->u, d->du, d->dxl, d->wt, d->dwt, d->part, d->xe, d->dxe};
    cu_out_free(&d->o);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ln_tensor_release(bufs[i]);
    free(d->rd[0]), free(d->rd[1]);
    cu_scratch_free(&d->scr);
}

#endif
