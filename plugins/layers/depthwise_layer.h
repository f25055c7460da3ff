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
** samples (windows overlap); the kernel gradient's tasks own (tap, block
** of channels) and sum over the pixels in a fixed order (float sums of
** DW_CHUNK pixels added into double totals).
*/
#ifndef LUNET_DEPTHWISE_LAYER_H
#define LUNET_DEPTHWISE_LAYER_H

#include <stdlib.h>

#include "conv_gemm.h"

#define DW_CHUNK 256  /* pixels per float partial sum of the kernel gradient */
#define DW_CBLK 256   /* outputs (in * multiplier) per kernel-gradient task */

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

typedef struct dw_job {
    const dwconv *d;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw;
    cu_post_fn post;
    const void *post_arg;
} dw_job;

/* y row t (sample t / oh, output row t % oh). */
LN_CLONES static void dw_fwd_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t C = d->in.c, dm = d->dm, cm = C * dm, W = d->in.w;
    const int64_t b = t / d->h.out, oh = t % d->h.out;
    const float *xb = j->x + b * d->in.h * W * C;
    float *yr = j->y + t * d->wa.out * cm;
    int64_t a, e;
    cu_taps(&d->h, oh, &a, &e);
    for (int64_t ow = 0; ow < d->wa.out; ow++) {
        float *yo = yr + ow * cm;
        int64_t ta, te;
        cu_taps(&d->wa, ow, &ta, &te);
        for (int64_t o = 0; o < cm; o++) yo[o] = j->bias ? j->bias[o] : 0.0f;
        for (int64_t th = a; th < e; th++)
            for (int64_t tw = ta; tw < te; tw++) {
                const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
                const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
                const float *xp = xb + (ih * W + iw) * C;
                const float *wp = j->w + (th * d->ks[1] + tw) * cm;
                if (dm == 1) {
#pragma omp simd
                    for (int64_t c = 0; c < C; c++) yo[c] += xp[c] * wp[c];
                } else {
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t q = 0; q < dm; q++)
                            yo[c * dm + q] += xp[c] * wp[c * dm + q];
                }
            }
    }
    if (j->post) j->post(j->post_arg, yr, d->wa.out, cm);
}

/* dx of sample t: zeroed, then every output's contributions in order. */
LN_CLONES static void dw_dx_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t C = d->in.c, dm = d->dm, cm = C * dm, W = d->in.w;
    float *dxb = j->dx + t * d->in.h * W * C;
    const float *gb = j->dy + t * d->h.out * d->wa.out * cm;
    memset(dxb, 0, (size_t)(d->in.h * W * C) * sizeof *dxb);
    for (int64_t oh = 0; oh < d->h.out; oh++) {
        int64_t a, e;
        cu_taps(&d->h, oh, &a, &e);
        for (int64_t ow = 0; ow < d->wa.out; ow++) {
            const float *g = gb + (oh * d->wa.out + ow) * cm;
            int64_t ta, te;
            cu_taps(&d->wa, ow, &ta, &te);
            for (int64_t th = a; th < e; th++)
                for (int64_t tw = ta; tw < te; tw++) {
                    const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
                    const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
                    float *xp = dxb + (ih * W + iw) * C;
                    const float *wp = j->w + (th * d->ks[1] + tw) * cm;
                    if (dm == 1) {
#pragma omp simd
                        for (int64_t c = 0; c < C; c++) xp[c] += g[c] * wp[c];
                    } else {
                        for (int64_t c = 0; c < C; c++) {
                            float s = 0.0f;
                            for (int64_t q = 0; q < dm; q++) s += g[c * dm + q] * wp[c * dm + q];
                            xp[c] += s;
                        }
                    }
                }
        }
    }
}

static LU_UNUSED int64_t dw_dw_blocks(const dwconv *d) {
    return (d->in.c * d->dm + DW_CBLK - 1) / DW_CBLK;
}

/* Kernel gradient of tap t / blocks, outputs [o0, o0 + on) of it. */
LN_CLONES static void dw_dw_task(void *arg, int64_t t) {
    const dw_job *j = arg;
    const dwconv *d = j->d;
    const int64_t C = d->in.c, dm = d->dm, cm = C * dm, W = d->in.w;
    const int64_t nblk = dw_dw_blocks(d), tap = t / nblk;
    const int64_t o0 = (t % nblk) * DW_CBLK, on = cm - o0 < DW_CBLK ? cm - o0 : DW_CBLK;
    const int64_t th = tap / d->ks[1], tw = tap % d->ks[1];
    float part[DW_CBLK];
    double total[DW_CBLK];
    for (int64_t o = 0; o < on; o++) part[o] = 0.0f, total[o] = 0.0;
    int64_t count = 0;
    for (int64_t b = 0; b < d->n; b++)
        for (int64_t oh = 0; oh < d->h.out; oh++) {
            const int64_t ih = oh * d->h.s - d->h.pad + th * d->h.d;
            if (ih < 0 || ih >= d->in.h) continue;
            for (int64_t ow = 0; ow < d->wa.out; ow++) {
                const int64_t iw = ow * d->wa.s - d->wa.pad + tw * d->wa.d;
                if (iw < 0 || iw >= W) continue;
                const float *xp = j->x + ((b * d->in.h + ih) * W + iw) * C;
                const float *g = j->dy + ((b * d->h.out + oh) * d->wa.out + ow) * cm + o0;
                if (dm == 1) {
                    xp += o0;
#pragma omp simd
                    for (int64_t o = 0; o < on; o++) part[o] += xp[o] * g[o];
                } else {
                    for (int64_t o = 0; o < on; o++) part[o] += xp[(o0 + o) / dm] * g[o];
                }
                if (++count == DW_CHUNK) {
                    for (int64_t o = 0; o < on; o++) total[o] += part[o], part[o] = 0.0f;
                    count = 0;
                }
            }
        }
    float *dwp = j->dw + tap * cm + o0;
    for (int64_t o = 0; o < on; o++) dwp[o] = (float)(total[o] + part[o]);
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
    dw_job j = {d, xl, cu_value(l, d->w[0]), bias, NULL, out, NULL, NULL, post, d->act};
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
    if (t < j->nw) dw_dw_task(&j->dj, t);
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
    const float *dzl, *xl = d->channels_first ? ln_f32(d->xl) : ln_f32(x);
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
    j.dj = (dw_job){d, xl, cu_value(l, d->w[0]), NULL, dzl, NULL, dxo, gdw, NULL, NULL};
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
        int64_t scratch = 0;
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
    j.nw = gdw ? ntap * dw_dw_blocks(d) : 0;
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
    ln_tensor *bufs[] = {d->xl, d->u, d->du, d->dxl, d->wt, d->dwt, d->part};
    cu_out_free(&d->o);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ln_tensor_release(bufs[i]);
    cu_scratch_free(&d->scr);
}

#endif
