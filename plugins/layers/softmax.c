/*
** softmax.c -- Softmax (Keras layer): exp(x - max) / sum exp(x - max)
** along the last axis (axis = -1, the only axis supported; the last axis
** may also be named by its Keras number, i.e. the input's rank - 1).
** Backward: dx = y . (dy - sum(dy . y)) per row, the sum in double.
** Reported as the output activation "softmax", so a final Softmax layer
** fuses with crossentropy like Dense(..., activation = "softmax").
*/
#include "lunet/plugin_util.h"

typedef struct softmax {
    int64_t axis;
} softmax;

static ln_status softmax_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    softmax *s = l->state;
    return ln_args_int(ctx, a, "axis", -1, &s->axis);
}

static ln_status softmax_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                               const int64_t *in_shape, int *out_nd,
                               int64_t *out_shape) {
    const softmax *s = l->state;
    if (in_nd < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of rank >= 2 (batch, ..., classes), got "
                       "rank %d",
                       in_nd + 1);
    if (s->axis != -1 && s->axis != in_nd)
        return ln_fail(ctx, LN_E_ARG,
                       "'axis' %lld: only the last axis (-1) is supported",
                       (long long)s->axis);
    return LN_OK;
}

static ln_status softmax_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                 ln_tensor *y, unsigned flags) {
    int64_t rows, cols;
    if (flags & LN_LOGITS) {
        ln_copy(ln_f32(y), ln_f32(x), x->numel);
        return LN_OK;
    }
    lu_rows_cols(x, &rows, &cols);
    ln_softmax_rows(ln_f32(y), ln_f32(x), rows, cols);
    return LN_OK;
}

static ln_status softmax_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                                  const ln_tensor *y, const ln_tensor *dy,
                                  ln_tensor *dx, unsigned flags) {
    int64_t rows, cols;
    if (!(flags & LN_NEED_DX) || !dx) return LN_OK;
    if (flags & LN_LOGITS) {
        ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
        return LN_OK;
    }
    lu_rows_cols(x, &rows, &cols);
    const float *yp = ln_f32(y), *g = ln_f32(dy);
    float *d = ln_f32(dx);
#pragma omp parallel for if (x->numel > LU_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = yp + r * cols, *gr = g + r * cols;
        float *dr = d + r * cols;
        double dot = 0;
        for (int64_t c = 0; c < cols; c++) dot += (double)gr[c] * yr[c];
        for (int64_t c = 0; c < cols; c++)
            dr[c] = (float)(yr[c] * (gr[c] - dot));
    }
    return LN_OK;
}

static const char *softmax_output_activation(const ln_layer *l) {
    return "softmax";
}

static const ln_layer_ops softmax_ops = {
    sizeof(softmax),  softmax_create,           softmax_build, softmax_forward,
    softmax_backward, softmax_output_activation, NULL};

static const ln_unit softmax_unit = {
    LN_KIND_LAYER, "softmax", "Softmax", 1,
    "softmax along the last axis", &softmax_ops};

LN_PLUGIN("softmax") { return host->add(host, &softmax_unit); }
