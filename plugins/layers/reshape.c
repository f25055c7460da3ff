/*
** reshape.c -- Reshape (Keras): each sample takes target_shape (without the
** batch axis), in row-major order; one entry may be -1 (inferred from the
** sample size). Reshape{{28, 28, 1}} turns 28x28 images into one-channel
** ones for a Conv2D. No weights; forward and backward copy.
*/
#include "lunet/plugin_util.h"

typedef struct reshape {
    int nd;
    int64_t target[LN_MAX_DIM];
} reshape;

static inline reshape *reshape_of(const ln_layer *l) { return ln_layer_state(l); }

static ln_status reshape_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    reshape *r = reshape_of(l);
    ln_status st;
    int unknown = 0;
    if ((st = ln_args_positional(ctx, a, 1, "target_shape"))) return st;
    if (!ln_args_has(a, "target_shape"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'target_shape'");
    if ((st = ln_args_ints(ctx, a, "target_shape", LN_MAX_DIM - 1, &r->nd, r->target)))
        return st;
    if (r->nd < 1)
        return ln_fail(ctx, LN_E_ARG, "'target_shape' must list at least one size");
    for (int i = 0; i < r->nd; i++) {
        if (r->target[i] == -1 && !unknown++) continue;
        if (r->target[i] < 1 || r->target[i] > ((int64_t)1 << 40))
            return ln_fail(ctx, LN_E_ARG,
                           "'target_shape' entries must be positive sizes or one -1, "
                           "got %lld at position %d",
                           (long long)r->target[i], i + 1);
    }
    return LN_OK;
}

static ln_status reshape_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                               int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    const reshape *r = reshape_of(l);
    char a[128], b[128];
    int64_t n = 1, known = 1;
    int at = -1;
    for (int i = 0; i < in_nd; i++) n *= in_shape[i];
    for (int i = 0; i < r->nd; i++) {
        if (r->target[i] == -1) at = i;
        else if ((known *= r->target[i]) > ((int64_t)1 << 40)) break;
    }
    memcpy(out_shape, r->target, (size_t)r->nd * sizeof *out_shape);
    if (at >= 0 && known > 0 && n % known == 0) out_shape[at] = n / known;
    else if (at >= 0) known = -1;
    if ((at < 0 && known != n) || known < 0)
        return ln_fail(ctx, LN_E_SHAPE,
                       "total size of the new array must be unchanged: input shape "
                       "(None, %s, target_shape (%s)",
                       ln_dims_str(in_nd, in_shape, a, sizeof a) + 1,
                       ln_dims_str(r->nd, r->target, b, sizeof b) + 1);
    *out_nd = r->nd;
    return LN_OK;
}

static ln_status reshape_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                                 ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    ln_copy(ln_f32(y), ln_f32(x), x->numel);
    return LN_OK;
}

static ln_status reshape_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                                  const ln_tensor *const *ys, const ln_tensor *const *dys,
                                  ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    if (dx) ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
    return LN_OK;
}

static int reshape_is_view(const ln_layer *l, unsigned flags) { return 1; }

static const ln_layer_ops reshape_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(reshape),
    .create = reshape_create,
    .build = reshape_build,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .is_view = reshape_is_view,
};

static const ln_unit reshape_unit = {
    .kind = LN_KIND_LAYER,
    .name = "reshape",
    .class_name = "Reshape",
    .version = 1,
    .summary = "each sample reshaped to target_shape (one -1 inferred)",
    .ops = &reshape_ops,
};

LN_PLUGIN("reshape") { return host->add(host, &reshape_unit); }
