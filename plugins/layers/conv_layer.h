/*
** conv_layer.h -- the convolution layers of Keras (Conv1D, Conv2D,
** Conv1DTranspose, Conv2DTranspose), shared by their plugin files, which
** only name the rank and direction. Private, static.
**
**   Conv:       y = act(conv(x, kernel) + bias)
**   Transpose:  y = act(conv^T(x, kernel) + bias)   (the gradient of a Conv
**               with respect to its input: TF's conv2d_transpose)
**
** Keyword arguments as Keras 2: filters and kernel_size (positional 1 and
** 2), strides, padding ("valid", "same"; Conv1D also "causal"; any case),
** data_format, dilation_rate, groups (Conv only), output_padding
** (transposes), activation, use_bias, kernel/bias initializers and
** regularizers; activity regularizers and constraints: nil only.
** Kernels in Keras's layouts: Conv2D (kh, kw, in/groups, filters), Conv1D
** (k, in/groups, filters), Conv2DTranspose (kh, kw, filters, in),
** Conv1DTranspose (k, filters, in); a 1-D layer is the 2-D one with one row.
**
** The products are conv_gemm.h's: gather for the Conv forward and the
** transposed one's dx; for the other two (big = small W^T) the flipped
** gather when the stride is 1, else the scatter. The activation
** runs inside the forward's tasks, on rows still in cache, when the data
** is channels_last and its backward needs only y (relu, sigmoid, softmax
** over the channels, ...); otherwise the pre-activation z is kept and the
** activation runs after the product. channels_first data is transposed to
** channels_last at the layer's boundaries. With LN_LOGITS the activation is
** skipped and backward takes dy as the gradient with respect to z.
*/
#ifndef LUNET_CONV_LAYER_H
#define LUNET_CONV_LAYER_H

#include <stdlib.h>

#include "conv_c1.h"
#include "conv_wino.h"

enum { CONV_AUTO, CONV_GEMM, CONV_DIRECT, CONV_WINO };

typedef struct conv {
    int rank, transpose;
    int64_t filters, groups;
    int64_t ks[2], st[2], dl[2], op[2]; /* (rows, cols); rank 1 uses [1] */
    int has_op, padding, channels_first, use_bias;
    ln_activation *act; /* never NULL ("linear" is identity) */
    const char *kinit, *binit;
    ln_args *kinit_args, *binit_args; /* borrowed from the layer's args */
    double kl1, kl2, bl1, bl2;
    int kernel, bias; /* weight indices (bias -1 without use_bias) */
    cg_conv g;        /* n set per call */
    cg_conv gf;       /* stride 1: g flipped (cg_flip), for W^T products */
    int flip;
    cu_dims in, out;  /* samples, channels_last */
    ln_tensor *xl, *dxl; /* channels_last input and input gradient */
    cu_out o;            /* the output and its activation */
    ln_tensor *wt, *dwt, *part;
    ln_tensor *c1w, *c1part; /* conv_c1.h: padded kernel, partial sums */
    int algo;                /* CONV_AUTO, CONV_GEMM, CONV_DIRECT, CONV_WINO */
    int wino;                /* conv_wino.h runs forward, dx and dW */
    ln_tensor *wu, *wuf, *wdu; /* its U, flipped U, dU */
    cu_scratch scr;
} conv;

/* ---- create ------------------------------------------------------------------------ */

static ln_status conv_create(ln_ctx *ctx, ln_layer *l, ln_args *a, int rank,
                             int transpose) {
    conv *c = cu_state(l);
    ln_status st;
    int64_t v[2] = {0, 0}, one[2] = {1, 1};
    c->rank = rank;
    c->transpose = transpose;
    if ((st = ln_args_positional(ctx, a, 1, "filters"))) return st;
    if (!ln_args_has(a, "filters"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'filters'");
    if ((st = ln_args_int(ctx, a, "filters", 0, &c->filters))) return st;
    if (c->filters < 1 || c->filters > ((int64_t)1 << 30))
        return ln_fail(ctx, LN_E_ARG, "'filters' must be a positive integer, got %lld",
                       (long long)c->filters);
    /* tuples are read as (rows, cols); a 1-D layer's one value goes to cols */
    int64_t *dst[3] = {c->ks, c->st, c->dl};
    const char *keys[3] = {"kernel_size", "strides", "dilation_rate"};
    for (int i = 0; i < 3; i++) {
        if ((st = cu_tuple(ctx, a, keys[i], i == 0 ? 2 : 0, rank, i ? one : NULL,
                           1, v)))
            return st;
        dst[i][0] = rank == 2 ? v[0] : 1;
        dst[i][1] = v[rank - 1];
    }
    if ((st = cu_padding(ctx, a, rank == 1 && !transpose, &c->padding)) ||
        (st = cu_data_format(ctx, a, &c->channels_first)) ||
        (st = ln_args_int(ctx, a, "groups", 1, &c->groups)))
        return st;
    if (c->groups < 1)
        return ln_fail(ctx, LN_E_ARG, "'groups' must be a positive integer, got %lld",
                       (long long)c->groups);
    if (c->filters % c->groups)
        return ln_fail(ctx, LN_E_ARG,
                       "'filters' (%lld) must be divisible by 'groups' (%lld)",
                       (long long)c->filters, (long long)c->groups);
    if (transpose && c->groups != 1)
        return ln_fail(ctx, LN_E_ARG, "'groups' must be 1 for a transposed convolution");
    if (transpose && ln_args_has(a, "output_padding")) {
        if ((st = cu_tuple(ctx, a, "output_padding", 0, rank, one, 0, v))) return st;
        c->op[0] = rank == 2 ? v[0] : 0;
        c->op[1] = v[rank - 1];
        c->has_op = 1;
        for (int i = 2 - rank; i < 2; i++)
            if (c->op[i] >= c->st[i])
                return ln_fail(ctx, LN_E_ARG,
                               "'output_padding' (%lld) must be smaller than "
                               "'strides' (%lld)",
                               (long long)c->op[i], (long long)c->st[i]);
    } else if (transpose && (st = lu_nil_only(ctx, a, "output_padding"))) {
        return st;
    }
    if ((st = lu_activation(ctx, a, "activation", "linear", &c->act)) ||
        (st = ln_args_bool(ctx, a, "use_bias", 1, &c->use_bias)) ||
        (st = lu_initializer(ctx, a, "kernel_initializer", "glorot_uniform",
                             &c->kinit, &c->kinit_args)) ||
        (st = lu_initializer(ctx, a, "bias_initializer", "zeros", &c->binit,
                             &c->binit_args)) ||
        (st = ln_args_regularizer(ctx, a, "kernel_regularizer", &c->kl1, &c->kl2)) ||
        (st = ln_args_regularizer(ctx, a, "bias_regularizer", &c->bl1, &c->bl2)) ||
        (st = lu_nil_only(ctx, a, "activity_regularizer")) ||
        (st = lu_nil_only(ctx, a, "kernel_constraint")) ||
        (st = lu_nil_only(ctx, a, "bias_constraint")))
        return st;
    /* lunet's own keyword (not Keras's): which kernels run. "auto" picks
    ** per product; "gemm" always conv_gemm.h; "direct" conv_c1.h's (one
    ** input channel only). For benchmarks and tests of the paths. */
    if (ln_args_has(a, "algorithm")) {
        const char *alg;
        if ((st = ln_args_string(ctx, a, "algorithm", "auto", &alg))) return st;
        if (!strcmp(alg, "auto")) c->algo = CONV_AUTO;
        else if (!strcmp(alg, "gemm")) c->algo = CONV_GEMM;
        else if (!strcmp(alg, "direct")) c->algo = CONV_DIRECT;
        else if (!strcmp(alg, "winograd")) c->algo = CONV_WINO;
        else
            return ln_fail(ctx, LN_E_ARG,
                           "'algorithm' must be \"auto\", \"gemm\", \"direct\" or "
                           "\"winograd\", got \"%s\"", alg);
        if ((c->algo == CONV_DIRECT || c->algo == CONV_WINO) && transpose)
            return ln_fail(ctx, LN_E_ARG,
                           "'algorithm' \"%s\" is for a convolution, not a "
                           "transposed one", alg);
    }
    c->kernel = c->bias = -1;
    return LN_OK;
}

/* ---- build ------------------------------------------------------------------------- */

/* Keras's deconv_output_length: the output size of a transposed window. */
static int64_t conv_t_length(int64_t in, int64_t k, int64_t s, int64_t d,
                             int padding, int has_op, int64_t op) {
    const int64_t eff = (k - 1) * d + 1;
    if (!has_op)
        return padding == CU_SAME ? in * s : in * s + (eff > s ? eff - s : 0);
    const int64_t pad = padding == CU_SAME ? eff / 2 : 0;
    return (in - 1) * s + eff - 2 * pad + op;
}

static ln_status conv_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                            int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    conv *c = cu_state(l);
    ln_status st = cu_sample_dims(ctx, c->rank, c->channels_first, in_nd,
                                  in_shape, &c->in);
    if (st) return st;
    if (c->in.c % c->groups) {
        char buf[128];
        return ln_fail(ctx, LN_E_SHAPE,
                       "input channels %lld (input shape (None, %s) must be "
                       "divisible by 'groups' (%lld)",
                       (long long)c->in.c, ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1,
                       (long long)c->groups);
    }
    cu_axis *ax[2] = {&c->g.h, &c->g.w};
    const int64_t sizes[2] = {c->in.h, c->in.w};
    for (int i = 0; i < 2; i++) {
        int64_t big = sizes[i];
        if (c->transpose) {
            big = conv_t_length(sizes[i], c->ks[i], c->st[i], c->dl[i], c->padding,
                                c->has_op, c->op[i]);
            if (big < 1 || big > ((int64_t)1 << 30))
                return ln_fail(ctx, LN_E_SHAPE,
                               "output size %lld along spatial axis %d is out "
                               "of range",
                               (long long)big, i + c->rank - 1);
        }
        if (!cu_axis_make(ax[i], big, c->ks[i], c->st[i], c->dl[i], c->padding))
            return cu_fit_error(ctx, "kernel", c->rank, c->ks + 2 - c->rank,
                                c->dl + 2 - c->rank, in_nd, in_shape);
        if (c->transpose && ax[i]->out != sizes[i])
            return ln_fail(ctx, LN_E_SHAPE,
                           "output_padding %lld gives an output of %lld along "
                           "spatial axis %d, which a stride %lld \"%s\" window "
                           "maps to %lld, not the input's %lld",
                           (long long)c->op[i], (long long)big, i + c->rank - 1,
                           (long long)c->st[i], c->padding == CU_SAME ? "same" : "valid",
                           (long long)ax[i]->out, (long long)sizes[i]);
    }
    c->g.groups = c->groups;
    if (c->transpose) {
        c->g.cb = c->filters, c->g.cs = c->in.c;
        c->out = (cu_dims){c->g.h.in, c->g.w.in, c->filters};
    } else {
        c->g.cb = c->in.c, c->g.cs = c->filters;
        c->out = (cu_dims){c->g.h.out, c->g.w.out, c->filters};
    }
    /* kernel (kh, kw, cb/groups, cs); 1-D drops kh */
    int64_t ks[4] = {c->ks[0], c->ks[1], c->g.cb / c->groups, c->g.cs};
    const int nd = c->rank + 2;
    const int64_t *kshape = ks + 2 - c->rank;
    if (!cu_mul(nd, kshape))
        return ln_fail(ctx, LN_E_SHAPE, "the kernel is too large");
    if ((st = cu_add_weight(ctx, l, "kernel", nd, kshape, 1, c->kinit,
                            c->kinit_args, c->kl1, c->kl2, &c->kernel)))
        return st;
    if (c->use_bias &&
        (st = cu_add_weight(ctx, l, "bias", 1, &c->filters, 1, c->binit,
                            c->binit_args, c->bl1, c->bl2, &c->bias)))
        return st;
    const int64_t kdim = cg_kdim(&c->g), wshape[2] = {c->g.cs, kdim};
    if ((st = lu_buffer(ctx, &c->wt, 2, wshape)) ||
        (st = lu_buffer(ctx, &c->dwt, 2, wshape)))
        return st;
    c->flip = cg_flip(&c->g, &c->gf);
    if (c->algo == CONV_DIRECT && !c1_applies(&c->g, c->transpose))
        return ln_fail(ctx, LN_E_SHAPE,
                       "'algorithm' \"direct\" needs one input channel, got %lld",
                       (long long)c->in.c);
    /* Winograd for 3x3 windows with stride 1 (see conv_wino.h for which),
    ** unless another path is asked for. */
    const int wok = !c->transpose && c->flip && cw_applies(&c->g) && cw_applies(&c->gf);
    if (c->algo == CONV_WINO && !wok)
        return ln_fail(ctx, LN_E_SHAPE,
                       "'algorithm' \"winograd\" needs a 3x3 kernel, strides 1, "
                       "dilation 1, groups 1 and input and output channels that are "
                       "multiples of 16 and at least %d; got kernel %lldx%lld, "
                       "%lld -> %lld channels",
                       CW_MIN_C, (long long)c->ks[0], (long long)c->ks[1],
                       (long long)c->g.cb, (long long)c->g.cs);
    c->wino = wok && (c->algo == CONV_AUTO || c->algo == CONV_WINO);
    cu_out_shape(c->rank, c->channels_first, &c->out, out_nd, out_shape);
    return LN_OK;
}

/* ---- forward ----------------------------------------------------------------------- */

/* Whether conv_c1.h's kernels run (see its header for the switch). */
static int conv_c1_forward(const conv *c) {
    if (c->algo == CONV_GEMM) return 0;
    if (c->algo == CONV_DIRECT) return 1;
    return c1_forward_applies(&c->g, c->transpose);
}
static int conv_c1_wgrad(const conv *c) {
    if (c->algo == CONV_GEMM) return 0;
    return c1_applies(&c->g, c->transpose);
}

/* Sets up big = small W^T (+ bias, then post): with stride 1 a gather over
** the flipped geometry (ga), else a scatter (sc); returns the task count
** and raises *scratch to what the tasks need. *use_sc tells which. */
static int64_t conv_spread(conv *c, const float *w, const float *small,
                           const float *bias, float *big, cu_post_fn post,
                           cg_gather_job *ga, cg_scatter_job *sc, int *use_sc,
                           int64_t *scratch) {
    *use_sc = !c->flip;
    if (c->flip) {
        c->gf.n = c->g.n;
        cg_flip_weights(&c->g, w, ln_f32(c->wt));
        *ga = (cg_gather_job){&c->gf, small, ln_f32(c->wt), bias, big, &c->scr, post, c->act};
        if (cg_gather_scratch(&c->gf) > *scratch) *scratch = cg_gather_scratch(&c->gf);
        return cg_gather_tasks(&c->gf);
    }
    lu_transpose(ln_f32(c->wt), cg_kdim(&c->g), w, c->g.cs, cg_kdim(&c->g), c->g.cs);
    *sc = (cg_scatter_job){&c->g, small, ln_f32(c->wt), bias, big, &c->scr, post, c->act};
    if (cg_scatter_scratch(&c->g) > *scratch) *scratch = cg_scatter_scratch(&c->g);
    return c->g.n;
}

/* Task t of a job set up by conv_spread (or a plain gather, use_sc 0). */
static void conv_spread_task(const cg_gather_job *ga, const cg_scatter_job *sc,
                             int use_sc, int64_t t) {
    if (use_sc) cg_scatter_task((void *)sc, t);
    else cg_gather_task((void *)ga, t);
}

typedef struct conv_fwd_job {
    cg_gather_job ga;
    cg_scatter_job sc;
    int use_sc;
} conv_fwd_job;

static void conv_fwd_task(void *arg, int64_t t) {
    const conv_fwd_job *j = arg;
    conv_spread_task(&j->ga, &j->sc, j->use_sc, t);
}

static ln_status conv_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                              ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    conv *c = cu_state(l);
    const int mode = cu_act_mode(c->act, c->channels_first, flags);
    const float *xl, *w = cu_value(l, c->kernel), *bias = cu_value(l, c->bias);
    float *out;
    ln_status st;
    c->g.n = x->shape[0];
    if ((st = cu_to_last(ctx, c->channels_first, x, &c->in, &c->xl, &xl)))
        return st;
    if ((st = cu_out_begin(ctx, &c->o, mode, c->channels_first, y, &out))) return st;
    cu_post_fn post = mode == 1 ? cu_act_post : NULL;
    conv_fwd_job j;
    int64_t ntasks, scratch = 0;
    if (c->transpose) {
        ntasks = conv_spread(c, w, xl, bias, out, post, &j.ga, &j.sc, &j.use_sc, &scratch);
    } else if (c->wino && c->g.n) {
        const int64_t ushape[1] = {16 * c->g.cb * c->g.cs};
        if ((st = lu_buffer(ctx, &c->wu, 1, ushape))) return st;
        cw_u_job uj = {&c->g, w, ln_f32(c->wu), NULL};
        cu_run_sized(16 * c->g.cb * c->g.cs, cw_u_tasks(&c->g), cw_u_task, &uj);
        const int64_t tb = cw_block(&c->g, cu_threads());
        cw_fwd_job fj = {&c->g, xl, ln_f32(c->wu), bias, out, &c->scr, post, c->act, tb};
        if ((st = cu_scratch_reserve(ctx, &c->scr, cw_fwd_scratch(&c->g, tb)))) return st;
        cu_run(cw_flops(&c->g), cw_fwd_tasks(&c->g, tb), cw_fwd_task, &fj);
        cu_out_end(&c->o, c->act, mode, c->channels_first, y, &c->out);
        return LN_OK;
    } else if (conv_c1_forward(c)) {
        const int64_t wshape[2] = {c->g.h.k * c->g.w.k, c1_cpad(&c->g)};
        if ((st = lu_buffer(ctx, &c->c1w, 2, wshape))) return st;
        c1_pad_kernel(&c->g, w, ln_f32(c->c1w));
        c1_fwd_job cj = {&c->g, xl, ln_f32(c->c1w), bias, out, &c->scr, post, c->act};
        if ((st = cu_scratch_reserve(ctx, &c->scr, c1_scratch(&c->g, 0)))) return st;
        cu_run(cg_flops(&c->g), c1_tasks(&c->g), c1_fwd_task, &cj);
        cu_out_end(&c->o, c->act, mode, c->channels_first, y, &c->out);
        return LN_OK;
    } else {
        j.ga = (cg_gather_job){&c->g, xl, w, bias, out, &c->scr, post, c->act};
        j.use_sc = 0;
        ntasks = cg_gather_tasks(&c->g);
        scratch = cg_gather_scratch(&c->g);
    }
    if ((st = cu_scratch_reserve(ctx, &c->scr, scratch))) return st;
    cu_run(cg_flops(&c->g), ntasks, conv_fwd_task, &j);
    cu_out_end(&c->o, c->act, mode, c->channels_first, y, &c->out);
    return LN_OK;
}

/* ---- backward ---------------------------------------------------------------------- */

/* The tasks of one backward, in one run: the kernel gradient's row blocks
** (the longest tasks first), the input gradient, the bias gradient's
** partial column sums. */
typedef struct conv_bwd_job {
    cg_wgrad_job wg;
    cg_gather_job ga;   /* dx: transposed conv, or conv with stride 1 */
    cg_scatter_job sc;  /* dx: conv with a stride */
    cu_colsum_job cs;
    int64_t nt, nx, nb; /* tasks of each */
    int use_sc;
    int wino;           /* conv_wino.h: kernel gradient ww, dx wx */
    cw_wg_job ww;
    cw_fwd_job wx;
} conv_bwd_job;

static void conv_bwd_task(void *arg, int64_t t) {
    conv_bwd_job *j = arg;
    if (t < j->nt) {
        if (j->wino) cw_wg_task(&j->ww, t);
        else cg_wgrad_task(&j->wg, t);
    } else if ((t -= j->nt) < j->nx) {
        if (j->wino) cw_fwd_task(&j->wx, t);
        else conv_spread_task(&j->ga, &j->sc, j->use_sc, t);
    } else {
        cu_colsum_task(&j->cs, t - j->nx);
    }
}

static ln_status conv_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                               const ln_tensor *const *ys, const ln_tensor *const *dys,
                               ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *y = ys[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    conv *c = cu_state(l);
    const int mode = cu_act_mode(c->act, c->channels_first, flags);
    const cg_conv *g = &c->g;
    float *dw = cu_grad(l, c->kernel, flags), *db = cu_grad(l, c->bias, flags);
    float *dxo = NULL;
    const float *dzl, *xl = c->channels_first ? ln_f32(c->xl) : ln_f32(x);
    ln_status st;
    c->g.n = x->shape[0];
    if ((st = cu_out_grad(ctx, &c->o, c->act, mode, c->channels_first, y, dy, &c->out, &dzl)))
        return st;
    if (dx && (st = cu_last_dst(ctx, c->channels_first, dx, &c->dxl, &dxo)))
        return st;
    conv_bwd_job j;
    memset(&j, 0, sizeof j);
    int64_t scratch = 0;
    /* big and small sides: conv (x, dz), transposed (dz, x) */
    const float *big = c->transpose ? dzl : xl, *small = c->transpose ? xl : dzl;
    const int c1 = dw && g->n && conv_c1_wgrad(c);
    c1_wgrad_job cw = {g, xl, dzl, NULL, dw, &c->scr};
    j.wino = c->wino && g->n;
    if (j.wino && dw) {
        const int64_t ushape[1] = {16 * g->cb * g->cs};
        if ((st = lu_buffer(ctx, &c->wdu, 1, ushape))) return st;
        j.ww = (cw_wg_job){g, xl, dzl, ln_f32(c->wdu), dw, &c->scr, 0};
        cw_wg_plan(g, &j.ww);
        j.nt = 4;
        scratch = cw_wg_scratch(&j.ww);
    } else if (j.wino) {
        /* no kernel gradient asked for */
    } else if (c1) {
        const int64_t pshape[2] = {c1_tasks(g), g->h.k * g->w.k * c1_cpad(g)};
        if ((st = lu_buffer(ctx, &c->c1part, 2, pshape))) return st;
        cw.part = ln_f32(c->c1part);
        scratch = c1_scratch(g, 1);
    } else if (dw && g->n) {
        j.wg = (cg_wgrad_job){g, big, small, ln_f32(c->dwt), dw, &c->scr, 0, 0, 0};
        cg_wgrad_plan(g, &j.wg, cu_threads());
        j.nt = cg_wgrad_tasks(g, &j.wg);
        scratch = cg_wgrad_scratch(&j.wg);
    } else if (dw) {
        memset(dw, 0, (size_t)(cg_kdim(g) * g->cs) * sizeof *dw);
    }
    if (dxo && j.wino) {
        const int64_t ushape[1] = {16 * g->cb * g->cs};
        if ((st = lu_buffer(ctx, &c->wuf, 1, ushape))) return st;
        c->gf.n = g->n;
        cw_u_job uj = {&c->gf, NULL, ln_f32(c->wuf), ln_f32(c->wu)};
        cu_run_sized(16 * g->cb * g->cs, 16, cw_uflip_task, &uj);
        const int64_t tb = cw_block(&c->gf, cu_threads());
        j.wx = (cw_fwd_job){&c->gf, dzl, ln_f32(c->wuf), NULL, dxo, &c->scr, NULL, NULL, tb};
        j.nx = cw_fwd_tasks(&c->gf, tb);
        if (cw_fwd_scratch(&c->gf, tb) > scratch) scratch = cw_fwd_scratch(&c->gf, tb);
    } else if (dxo) {
        if (c->transpose) {
            j.ga = (cg_gather_job){g, dzl, cu_value(l, c->kernel), NULL, dxo, &c->scr,
                                   NULL, NULL};
            j.nx = cg_gather_tasks(g);
            if (cg_gather_scratch(g) > scratch) scratch = cg_gather_scratch(g);
        } else {
            j.nx = conv_spread(c, cu_value(l, c->kernel), dzl, NULL, dxo, NULL, &j.ga,
                               &j.sc, &j.use_sc, &scratch);
        }
    }
    if (db) {
        const int64_t pixels = g->n * (c->transpose ? cg_big_pixels(g) : cg_small_pixels(g));
        j.cs = (cu_colsum_job){dzl, NULL, pixels, c->filters};
        j.nb = cu_colsum_tasks(pixels);
        const int64_t pshape[2] = {j.nb ? j.nb : 1, 2 * c->filters};
        if ((st = lu_buffer(ctx, &c->part, 2, pshape))) return st;
        j.cs.part = (double *)ln_f32(c->part);
    }
    if ((st = cu_scratch_reserve(ctx, &c->scr, scratch))) return st;
    cu_run((j.nt ? cg_flops(g) : 0) + (j.nx ? cg_flops(g) : 0) + (j.nb ? cu_colsum_work(&j.cs) : 0),
           j.nt + j.nx + j.nb, conv_bwd_task, &j);
    if (j.wino && dw) cu_run_sized(16 * g->cb * g->cs, cw_u_tasks(g), cw_dw_task, &j.ww);
    if (c1) {
        cu_run(cg_flops(g), c1_tasks(g), c1_wgrad_task, &cw);
        cu_run_sized(c1_tasks(g) * g->h.k * g->w.k * g->cs, c1_sum_tasks(g), c1_sum_task,
                     &cw);
    }
    if (db) cu_colsum_finish(&j.cs, db);
    if (dxo) cu_from_last(c->channels_first, dx, c->dxl, &c->in);
    return LN_OK;
}

static const char *conv_output_activation(const ln_layer *l) {
    const conv *c = cu_state(l);
    return ln_activation_is_identity(c->act) ? NULL : ln_activation_name(c->act);
}

static void conv_destroy(ln_layer *l) {
    conv *c = cu_state(l);
    ln_activation_free(c->act);
    ln_tensor *bufs[] = {c->xl,  c->dxl,    c->wt, c->dwt, c->part, c->c1w,
                         c->c1part, c->wu, c->wuf, c->wdu};
    cu_out_free(&c->o);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ln_tensor_release(bufs[i]);
    cu_scratch_free(&c->scr);
}

#endif
