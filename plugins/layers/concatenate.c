/*
** concatenate.c -- Concatenate (Keras): joins two or more inputs along
** `axis` (Keras counts the batch axis: the default -1 is the last one,
** 1 the first after the batch; 0 is refused). The other sizes must agree;
** a mismatch is an error naming the inputs' shapes. Each input is seen as
** [outer, inner_i] (outer: the batch and the axes before `axis`; inner_i:
** the axis and those after), the output as [outer, sum of inner_i]. The
** input gradients are the matching slices of dy. No weights.
** Masks (Keras 2's Concatenate.compute_mask): along the last axis a step
** is kept when every input with a mask keeps it; along an earlier axis the
** masks are joined along it (an input without a mask counts as all kept;
** Keras accepts that only when its last axis has size 1).
*/
#include "lunet/plugin_util.h"

#define CAT_MAX_INPUTS 64

typedef struct concatenate {
    int64_t axis;       /* as given (Keras) */
    int ax;             /* the axis in shapes without the batch */
    int64_t outer_rest; /* product of the sizes before ax (without batch) */
    int nin;
    int64_t inner[CAT_MAX_INPUTS], total;
} concatenate;

static ln_status cat_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    concatenate *c = ln_layer_state(l);
    return ln_args_int(ctx, a, "axis", -1, &c->axis);
}

static ln_status cat_build(ln_ctx *ctx, ln_layer *l, int nin,
                           const ln_shape *in, int *nout, ln_shape *out) {
    concatenate *c = ln_layer_state(l);
    char a[128], b[128];
    int nd = in[0].nd;
    if (nin > CAT_MAX_INPUTS)
        return ln_fail(ctx, LN_E_ARG, "takes at most %d inputs, got %d",
                       CAT_MAX_INPUTS, nin);
    if (c->axis == 0 || c->axis > nd || c->axis < -nd)
        return ln_fail(ctx, LN_E_ARG,
                       "axis %lld is out of range for inputs of shape %s "
                       "(1..%d or -%d..-1; 0 is the batch axis)",
                       (long long)c->axis, lu_shape_str(&in[0], a, sizeof a),
                       nd, nd);
    c->ax = c->axis > 0 ? (int)c->axis - 1 : nd + (int)c->axis;
    out[0] = in[0];
    out[0].dim[c->ax] = 0;
    for (int i = 0; i < nin; i++) {
        int ok = in[i].nd == nd;
        for (int d = 0; ok && d < nd; d++) ok = d == c->ax || in[i].dim[d] == in[0].dim[d];
        if (!ok)
            return ln_fail(ctx, LN_E_SHAPE,
                           "a Concatenate layer requires inputs with matching "
                           "shapes except for the concatenation axis %lld; got "
                           "%s (input 1) and %s (input %d)",
                           (long long)c->axis, lu_shape_str(&in[0], a, sizeof a),
                           lu_shape_str(&in[i], b, sizeof b), i + 1);
        out[0].dim[c->ax] += in[i].dim[c->ax];
    }
    c->outer_rest = 1;
    for (int d = 0; d < c->ax; d++) c->outer_rest *= in[0].dim[d];
    int64_t after = 1;
    for (int d = c->ax + 1; d < nd; d++) after *= in[0].dim[d];
    c->nin = nin;
    c->total = 0;
    for (int i = 0; i < nin; i++) {
        c->inner[i] = in[i].dim[c->ax] * after;
        c->total += c->inner[i];
    }
    *nout = 1;
    return LN_OK;
}

typedef struct cat_job {
    const concatenate *c;
    const ln_tensor *const *x; /* forward */
    ln_tensor *const *dx;      /* backward (entries may be NULL) */
    float *y;                  /* forward: output */
    const float *dy;           /* backward */
} cat_job;

static void fwd_rows(void *arg, int64_t lo, int64_t hi) {
    const cat_job *j = arg;
    const concatenate *c = j->c;
    for (int64_t r = lo; r < hi; r++) {
        float *y = j->y + r * c->total;
        for (int i = 0; i < c->nin; i++) {
            ln_copy(y, ln_f32(j->x[i]) + r * c->inner[i], c->inner[i]);
            y += c->inner[i];
        }
    }
}

static void bwd_rows(void *arg, int64_t lo, int64_t hi) {
    const cat_job *j = arg;
    const concatenate *c = j->c;
    for (int64_t r = lo; r < hi; r++) {
        const float *dy = j->dy + r * c->total;
        for (int i = 0; i < c->nin; i++) {
            if (j->dx[i]) ln_copy(ln_f32(j->dx[i]) + r * c->inner[i], dy, c->inner[i]);
            dy += c->inner[i];
        }
    }
}

static ln_status cat_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                             ln_tensor *const *y, unsigned flags) {
    const concatenate *c = ln_layer_state(l);
    cat_job j = {c, x, NULL, ln_f32(y[0]), NULL};
    int64_t rows = x[0]->shape[0] * c->outer_rest;
    ln_parallel_rows(rows, c->total, fwd_rows, &j);
    return LN_OK;
}

static ln_status cat_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *const *y, const ln_tensor *const *dy,
                              ln_tensor *const *dx, ln_grad_sink *sink,
                              unsigned flags) {
    const concatenate *c = ln_layer_state(l);
    cat_job j = {c, x, dx, NULL, ln_f32(dy[0])};
    int64_t rows = x[0]->shape[0] * c->outer_rest;
    ln_parallel_rows(rows, c->total, bwd_rows, &j);
    return LN_OK;
}

/* The output mask (see the head comment); masks are (batch, axes but the last). */
static ln_status cat_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *in_mask, ln_tensor *out, int *has) {
    (void)in_mask;
    const concatenate *c = ln_layer_state(l);
    int any = 0, nd = x[0]->ndim; /* with the batch axis */
    for (int i = 0; i < c->nin; i++) {
        const ln_tensor *m = ln_layer_input_mask_at(l, i);
        if (!m) continue;
        any = 1;
        int ok = m->ndim == nd - 1;
        for (int d = 0; ok && d < nd - 1; d++) ok = m->shape[d] == x[i]->shape[d];
        char a[128], b[128];
        if (!ok)
            return ln_fail(ctx, LN_E_SHAPE, "input %d's mask %s does not fit the input %s "
                           "(one value per step: the input's shape without its last axis)",
                           i + 1, ln_shape_str(m, a, sizeof a), ln_shape_str(x[i], b, sizeof b));
    }
    if (!any) return LN_OK;
    int64_t shape[LN_MAX_DIM];
    for (int d = 0; d < nd - 1; d++) shape[d] = x[0]->shape[d];
    const int last = c->ax == nd - 2; /* c->ax counts without the batch axis */
    if (!last) {
        shape[c->ax + 1] = 0;
        for (int i = 0; i < c->nin; i++) shape[c->ax + 1] += x[i]->shape[c->ax + 1];
    }
    ln_status st = ln_tensor_resize(ctx, out, nd - 1, shape);
    if (st) return st;
    float *o = ln_f32(out);
    if (last) {
        for (int64_t k = 0; k < out->numel; k++) o[k] = 1.0f;
        for (int i = 0; i < c->nin; i++) {
            const ln_tensor *m = ln_layer_input_mask_at(l, i);
            if (!m) continue;
            const float *v = ln_f32(m);
            for (int64_t k = 0; k < out->numel; k++) o[k] = o[k] != 0.0f && v[k] != 0.0f;
        }
    } else { /* rows: batch and the axes before ax; row i of input k: inner_k */
        int64_t rows = 1, after = 1;
        for (int d = 0; d <= c->ax; d++) rows *= shape[d];
        for (int d = c->ax + 2; d < nd - 1; d++) after *= shape[d];
        int64_t total = shape[c->ax + 1] * after, off = 0;
        for (int i = 0; i < c->nin; i++) {
            const ln_tensor *m = ln_layer_input_mask_at(l, i);
            int64_t inner = x[i]->shape[c->ax + 1] * after;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < inner; k++)
                    o[r * total + off + k] = m ? (ln_f32(m)[r * inner + k] != 0.0f) : 1.0f;
            off += inner;
        }
    }
    *has = 1;
    return LN_OK;
}

static const ln_layer_ops cat_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(concatenate),
    .min_inputs = 2,
    .max_inputs = CAT_MAX_INPUTS,
    .create = cat_create,
    .build = cat_build,
    .forward = cat_forward,
    .backward = cat_backward,
    .compute_mask = cat_mask,
};

static const ln_unit cat_unit = {
    .kind = LN_KIND_LAYER,
    .name = "concatenate",
    .class_name = "Concatenate",
    .version = 1,
    .summary = "joins its inputs along an axis",
    .ops = &cat_ops,
};

LN_PLUGIN("concatenate") { return host->add(host, &cat_unit); }
