/*
** dense.c -- Dense (Keras): y = activation(x . kernel + bias).
**
** kernel is stored (input_dim, units) like Keras; an input of rank > 2
** contracts its last axis (Keras's tensordot), i.e. it is viewed as
** [rows x input_dim]. The forward pass is one ln_gemm whose epilogue adds
** the bias; when the activation is elementwise and its backward needs only
** y, it then runs in place over the finished output, still hot in cache
** (fused: no pre-activation buffer). Otherwise the pre-activation z is kept
** in a layer-owned buffer and the activation writes y from it (unfused).
** With LN_LOGITS the activation is skipped (y = z) and backward takes dy as
** the gradient with respect to z: the model fuses softmax/sigmoid with the
** loss that way.
*/
#include <stdlib.h>

#include "layer_util.h"

typedef struct dense {
    int64_t units;
    int use_bias;
    ln_activation *act; /* never NULL ("linear" is identity) */
    const char *kinit, *binit;
    ln_args *kinit_args, *binit_args; /* borrowed from the layer's args */
    double kl1, kl2, bl1, bl2;
    int kernel, bias;  /* weight indices (bias -1 when use_bias = false) */
    ln_tensor *z;      /* pre-activation (unfused path) */
    ln_tensor *dz;     /* gradient with respect to z */
} dense;

static ln_status dense_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    dense *d = l->state;
    ln_status st;
    int64_t units;
    if ((st = ln_args_positional(ctx, a, 1, "units"))) return st;
    if (!ln_args_has(a, "units"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'units'");
    if ((st = ln_args_int(ctx, a, "units", 0, &units))) return st;
    if (units <= 0)
        return ln_fail(ctx, LN_E_ARG, "'units' must be a positive integer, got %lld",
                       (long long)units);
    d->units = units;
    if ((st = lu_activation(ctx, a, "activation", "linear", &d->act))) return st;
    if ((st = ln_args_bool(ctx, a, "use_bias", 1, &d->use_bias))) return st;
    if ((st = lu_initializer(ctx, a, "kernel_initializer", "glorot_uniform",
                             &d->kinit, &d->kinit_args)))
        return st;
    if ((st = lu_initializer(ctx, a, "bias_initializer", "zeros", &d->binit,
                             &d->binit_args)))
        return st;
    if ((st = ln_args_regularizer(ctx, a, "kernel_regularizer", &d->kl1, &d->kl2)) ||
        (st = ln_args_regularizer(ctx, a, "bias_regularizer", &d->bl1, &d->bl2)) ||
        (st = lu_nil_only(ctx, a, "activity_regularizer")) ||
        (st = lu_nil_only(ctx, a, "kernel_constraint")) ||
        (st = lu_nil_only(ctx, a, "bias_constraint")))
        return st;
    d->bias = -1;
    return LN_OK;
}

static ln_status dense_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                             const int64_t *in_shape, int *out_nd,
                             int64_t *out_shape) {
    dense *d = l->state;
    if (in_nd < 1 || in_shape[in_nd - 1] < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs with a non-empty last axis (batch, ..., "
                       "input_dim), got rank %d",
                       in_nd + 1);
    int64_t kshape[2] = {in_shape[in_nd - 1], d->units};
    ln_weight *w;
    ln_status st = ln_layer_add_weight(ctx, l, "kernel", 2, kshape, 1, d->kinit,
                                       d->kinit_args, &w);
    if (st) return st;
    w->l1 = d->kl1, w->l2 = d->kl2;
    d->kernel = l->nweights - 1;
    if (d->use_bias) {
        st = ln_layer_add_weight(ctx, l, "bias", 1, &d->units, 1, d->binit,
                                 d->binit_args, &w);
        if (st) return st;
        w->l1 = d->bl1, w->l2 = d->bl2;
        d->bias = l->nweights - 1;
    }
    *out_nd = in_nd;
    out_shape[in_nd - 1] = d->units;
    return LN_OK;
}

/* Whether the activation can run inside the GEMM epilogue: elementwise and
** its backward needs only y. */
static int dense_fusable(const dense *d) {
    const ln_activation_ops *o = ln_activation_ops_of(d->act);
    return o->elementwise && !o->backward_uses_x;
}

/* y = act(x W + b): one GEMM, bias (and a fusable activation) in its
** epilogue; else z kept and the activation applied after. */
static ln_status dense_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                               ln_tensor *y, unsigned flags) {
    dense *d = l->state;
    int64_t in = l->weights[d->kernel].value->shape[0], n = d->units;
    int64_t rows = x->numel / in;
    const float *w = ln_f32(l->weights[d->kernel].value);
    ln_gemm_epilogue epi = {
        d->bias >= 0 ? ln_f32(l->weights[d->bias].value) : NULL, NULL, NULL};
    if ((flags & LN_LOGITS) || ln_activation_is_identity(d->act)) {
        ln_gemm(0, 0, rows, n, in, 1.0f, ln_f32(x), in, w, n, 0.0f, ln_f32(y),
                n, &epi);
        return LN_OK;
    }
    if (dense_fusable(d)) {
        /* The GEMM's epilogue would call the activation once per row of
        ** every tile; one call over the finished block (hot in cache) costs
        ** the same arithmetic without the per-call overhead. */
        ln_gemm(0, 0, rows, n, in, 1.0f, ln_f32(x), in, w, n, 0.0f, ln_f32(y),
                n, &epi);
        ln_activation_forward(d->act, ln_f32(y), ln_f32(y), rows, n);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, &d->z, y);
    if (st) return st;
    ln_gemm(0, 0, rows, n, in, 1.0f, ln_f32(x), in, w, n, 0.0f, ln_f32(d->z),
            n, &epi);
    ln_activation_forward(d->act, ln_f32(d->z), ln_f32(y), rows, n);
    return LN_OK;
}

/* G = dL/dz (dy itself with LN_LOGITS or a linear activation), then
** dW = X^T G, db = column sums of G, dX = G W^T -- only what flags ask. */
static ln_status dense_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                const ln_tensor *y, const ln_tensor *dy,
                                ln_tensor *dx, unsigned flags) {
    dense *d = l->state;
    ln_weight *kw = &l->weights[d->kernel];
    int64_t in = kw->value->shape[0], n = d->units;
    int64_t rows = x->numel / in;
    const float *g = ln_f32(dy);
    if (!(flags & LN_LOGITS) && !ln_activation_is_identity(d->act)) {
        ln_status st = lu_buffer_like(ctx, &d->dz, dy);
        if (st) return st;
        /* fused: backward needs y only; unfused: z is the activation's x */
        const float *z = dense_fusable(d) ? NULL : ln_f32(d->z);
        ln_activation_backward(d->act, z, ln_f32(y), g, ln_f32(d->dz), rows, n);
        g = ln_f32(d->dz);
    }
    if ((flags & LN_NEED_DW) && ln_layer_trains(l, kw))
        ln_gemm(1, 0, in, n, rows, 1.0f, ln_f32(x), in, g, n, 0.0f,
                ln_f32(kw->grad), n, NULL);
    if ((flags & LN_NEED_DW) && d->bias >= 0 &&
        ln_layer_trains(l, &l->weights[d->bias]))
        ln_sum_rows(ln_f32(l->weights[d->bias].grad), g, rows, n, 0);
    if ((flags & LN_NEED_DX) && dx)
        ln_gemm(0, 1, rows, in, n, 1.0f, g, n, ln_f32(kw->value), n, 0.0f,
                ln_f32(dx), in, NULL);
    return LN_OK;
}

static const char *dense_output_activation(const ln_layer *l) {
    const dense *d = l->state;
    return ln_activation_is_identity(d->act) ? NULL
                                             : ln_activation_name(d->act);
}

static void dense_destroy(ln_layer *l) {
    dense *d = l->state;
    ln_activation_free(d->act);
    ln_tensor_release(d->z);
    ln_tensor_release(d->dz);
}

static const ln_layer_ops dense_ops = {
    sizeof(dense),  dense_create,           dense_build,   dense_forward,
    dense_backward, dense_output_activation, dense_destroy};

static const ln_unit dense_unit = {
    LN_KIND_LAYER, "dense", "Dense", 1,
    "densely connected layer: activation(x . kernel + bias)", &dense_ops};

LN_PLUGIN("dense") { return host->add(host, &dense_unit); }
