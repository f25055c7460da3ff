/*
** masking.c -- Masking (Keras 2): a step (a position along every axis but
** the last) whose features all equal mask_value is masked. Forward writes
** y = x where the step is kept and 0 where it is masked (as tf.keras's
** Masking.call), and the output mask (float [batch, ...] of 1 keep, 0 skip,
** shaped like x without its last axis) that the next layers receive through
** compute_mask: RNNs skip masked steps, losses and metrics ignore them.
** mask_value: first positional or by name, default 0; NaN or inf refused
** (a comparison with NaN never matches: nothing would ever be masked).
** Backward: dx = dy where kept, 0 where masked.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct masking {
    float value;
} masking;

static ln_status masking_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    masking *m = ln_layer_state(l);
    double v = 0.0;
    ln_status st;
    if ((st = ln_args_positional(ctx, a, 1, "mask_value")) ||
        (st = ln_args_number(ctx, a, "mask_value", 0.0, &v)))
        return st;
    if (!isfinite(v))
        return ln_fail(ctx, LN_E_ARG,
                       "'mask_value' must be a finite number, got %g (NaN never equals "
                       "anything, so no step would ever be masked)", v);
    m->value = (float)v;
    return LN_OK;
}

static ln_status masking_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                               int *nout, ln_shape *out) {
    (void)l, (void)nin, (void)nout, (void)out;
    if (in[0].nd < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "Masking needs samples of rank >= 1 (steps by features), got "
                       "rank 0");
    return LN_OK;
}

/* Whether step i (F features at x) is kept. */
static int kept(const masking *m, const float *x, int64_t F) {
    for (int64_t k = 0; k < F; k++)
        if (x[k] != m->value) return 1;
    return 0;
}

static ln_status masking_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                 ln_tensor *const *y, unsigned flags) {
    (void)ctx, (void)flags;
    const masking *m = ln_layer_state(l);
    const int64_t F = x[0]->shape[x[0]->ndim - 1], n = F ? x[0]->numel / F : 0;
    const float *xp = ln_f32(x[0]);
    float *yp = ln_f32(y[0]);
    for (int64_t i = 0; i < n; i++) {
        int k = kept(m, xp + i * F, F);
        for (int64_t j = 0; j < F; j++) yp[i * F + j] = k ? xp[i * F + j] : 0.0f;
    }
    return LN_OK;
}

static ln_status masking_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                  const ln_tensor *const *y, const ln_tensor *const *dy,
                                  ln_tensor *const *dx, ln_grad_sink *sink,
                                  unsigned flags) {
    (void)ctx, (void)y, (void)sink, (void)flags;
    if (!dx[0]) return LN_OK;
    const masking *m = ln_layer_state(l);
    const int64_t F = x[0]->shape[x[0]->ndim - 1], n = F ? x[0]->numel / F : 0;
    const float *xp = ln_f32(x[0]), *g = ln_f32(dy[0]);
    float *d = ln_f32(dx[0]);
    for (int64_t i = 0; i < n; i++) {
        int k = kept(m, xp + i * F, F);
        for (int64_t j = 0; j < F; j++) d[i * F + j] = k ? g[i * F + j] : 0.0f;
    }
    return LN_OK;
}

/* The mask: x's shape without its last axis, 1 where a step is kept. The
** input's own mask (a mask arriving at Masking) is combined: both must
** keep a step. */
static ln_status masking_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *in_mask, ln_tensor *out, int *has) {
    const masking *m = ln_layer_state(l);
    const int nd = x[0]->ndim;
    const int64_t F = x[0]->shape[nd - 1], n = F ? x[0]->numel / F : 0;
    ln_status st = ln_tensor_resize(ctx, out, nd - 1, x[0]->shape);
    if (st) return st;
    const float *xp = ln_f32(x[0]);
    float *o = ln_f32(out);
    int same = in_mask && in_mask->numel == n;
    for (int64_t i = 0; i < n; i++)
        o[i] = kept(m, xp + i * F, F) && (!same || ln_f32(in_mask)[i] != 0.0f) ? 1.0f : 0.0f;
    *has = 1;
    return LN_OK;
}

static const ln_layer_ops masking_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(masking),
    .create = masking_create,
    .build = masking_build,
    .forward = masking_forward,
    .backward = masking_backward,
    .compute_mask = masking_mask,
};

static const ln_unit masking_unit = {
    .kind = LN_KIND_LAYER,
    .name = "masking",
    .class_name = "Masking",
    .version = 1,
    .summary = "masks the steps whose features all equal mask_value",
    .ops = &masking_ops,
};

LN_PLUGIN("masking") { return host->add(host, &masking_unit); }
