/*
** embedding.c -- Embedding (Keras): integer indices -> rows of a
** trainable (input_dim, output_dim) matrix `embeddings`.
**
** The input holds indices (stored as float32, as every input of lunet; an
** index must be an integer in [0, input_dim), else the forward fails naming
** it and its position); the output appends the axis output_dim. The
** gradient of the embeddings is a scatter-add: each output column block is
** owned by one task, and the rows are added in input order, so the sums do
** not depend on the thread count. Indices take no gradient (dx is zero).
**
** mask_zero = true (Keras 2): index 0 is padding; the output mask (float,
** shaped like the input, 1 where the index is not 0) goes to the next
** layers (RNNs skip those steps, losses and metrics ignore them). As in
** Keras, input_dim must then count the padding index too.
*/
#include <math.h>
#include <string.h>

#include "lunet/plugin_util.h"

typedef struct embedding {
    int64_t input_dim, output_dim;
    const char *init;
    ln_args *init_args;
    double l1, l2;
    int w;
    int mask_zero;
} embedding;

static ln_status emb_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    embedding *e = ln_layer_state(l);
    ln_status st;
    int has_length;
    double input_length; /* Keras's, for the config: the input shape rules */
    if ((st = ln_args_positional(ctx, a, 1, "input_dim")) ||
        (st = ln_args_positional(ctx, a, 2, "output_dim")))
        return st;
    if (!ln_args_has(a, "input_dim") || !ln_args_has(a, "output_dim"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'",
                       ln_args_has(a, "input_dim") ? "output_dim" : "input_dim");
    if ((st = ln_args_int(ctx, a, "input_dim", 0, &e->input_dim)) ||
        (st = ln_args_int(ctx, a, "output_dim", 0, &e->output_dim)))
        return st;
    if (e->input_dim < 1 || e->input_dim > ((int64_t)1 << 31) ||
        e->output_dim < 1 || e->output_dim > ((int64_t)1 << 24))
        return ln_fail(ctx, LN_E_ARG,
                       "'input_dim' must be in [1, 2^31] and 'output_dim' in "
                       "[1, 2^24], got %lld and %lld", (long long)e->input_dim,
                       (long long)e->output_dim);
    if ((st = lu_initializer(ctx, a, "embeddings_initializer", "random_uniform",
                             &e->init, &e->init_args)) ||
        (st = ln_args_regularizer(ctx, a, "embeddings_regularizer", &e->l1, &e->l2)) ||
        (st = lu_nil_only(ctx, a, "activity_regularizer")) ||
        (st = lu_nil_only(ctx, a, "embeddings_constraint")) ||
        (st = ln_args_bool(ctx, a, "mask_zero", 0, &e->mask_zero)) ||
        (st = lu_opt_number(ctx, a, "input_length", &has_length, &input_length)))
        return st;
    return LN_OK;
}

static ln_status emb_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                           int *nout, ln_shape *out) {
    embedding *e = ln_layer_state(l);
    if (in[0].nd + 1 > LN_MAX_DIM)
        return ln_fail(ctx, LN_E_SHAPE, "input of rank %d is too large", in[0].nd + 1);
    int64_t shape[2] = {e->input_dim, e->output_dim};
    ln_status st = ln_layer_add_weight(ctx, l, "embeddings", 2, shape, 1, e->init,
                                       e->init_args, &e->w);
    if (st) return st;
    ln_layer_set_regularizer(l, e->w, e->l1, e->l2);
    out[0].dim[out[0].nd++] = e->output_dim;
    return LN_OK;
}

static ln_status emb_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                             ln_tensor *const *y, unsigned flags) {
    const embedding *e = ln_layer_state(l);
    const float *idx = ln_f32(x[0]), *w = ln_f32(ln_layer_weight(l, e->w));
    float *out = ln_f32(y[0]);
    const int64_t n = x[0]->numel, od = e->output_dim;
    for (int64_t i = 0; i < n; i++) {
        float v = idx[i];
        if (!(v >= 0 && v < (float)e->input_dim && v == floorf(v)))
            return ln_fail(ctx, LN_E_ARG,
                           "index %g at position %lld is not an integer in [0, %lld) "
                           "(input_dim)", v, (long long)i, (long long)e->input_dim);
        memcpy(out + i * od, w + (int64_t)v * od, (size_t)od * sizeof *out);
    }
    (void)flags;
    return LN_OK;
}

typedef struct emb_job {
    const float *idx, *dy;
    float *dw;
    int64_t n, od, per;
} emb_job;

/* Columns [t*per, ...) of the embeddings' gradient. */
static void emb_grad_task(void *arg, int64_t t) {
    const emb_job *j = arg;
    int64_t c0 = t * j->per, c1 = c0 + j->per < j->od ? c0 + j->per : j->od;
    for (int64_t i = 0; i < j->n; i++) {
        float *dst = j->dw + (int64_t)j->idx[i] * j->od;
        const float *src = j->dy + i * j->od;
        for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
    }
}

static ln_status emb_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *const *y, const ln_tensor *const *dy,
                              ln_tensor *const *dx, ln_grad_sink *sink,
                              unsigned flags) {
    const embedding *e = ln_layer_state(l);
    if (dx[0]) memset(ln_f32(dx[0]), 0, (size_t)dx[0]->numel * sizeof(float));
    if (!(flags & LN_NEED_DW) || !ln_layer_trains(l, e->w)) return LN_OK;
    ln_tensor *g = ln_layer_grad(l, e->w);
    memset(ln_f32(g), 0, (size_t)g->numel * sizeof(float));
    emb_job j = {ln_f32(x[0]), ln_f32(dy[0]), ln_f32(g), x[0]->numel, e->output_dim,
                 e->output_dim};
    int nt = ln_parallel_threads();
    if (nt > 1 && j.od >= 32) j.per = (j.od + 4 * nt - 1) / (4 * nt);
    ln_parallel_tasks((j.od + j.per - 1) / j.per, emb_grad_task, &j);
    (void)ctx, (void)y, (void)sink;
    return LN_OK;
}

/* mask_zero: 1 where the index is not 0 (else no mask, as Keras). */
static ln_status emb_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *in_mask, ln_tensor *out, int *has) {
    const embedding *e = ln_layer_state(l);
    (void)in_mask;
    if (!e->mask_zero) return LN_OK;
    ln_status st = ln_tensor_resize(ctx, out, x[0]->ndim, x[0]->shape);
    if (st) return st;
    const float *xp = ln_f32(x[0]);
    float *o = ln_f32(out);
    for (int64_t i = 0; i < x[0]->numel; i++) o[i] = xp[i] != 0.0f ? 1.0f : 0.0f;
    *has = 1;
    return LN_OK;
}

static const ln_layer_ops emb_ops = {
    .compute_mask = emb_mask,
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(embedding),
    .create = emb_create,
    .build = emb_build,
    .forward = emb_forward,
    .backward = emb_backward,
};

static const ln_unit emb_unit = {
    .kind = LN_KIND_LAYER,
    .name = "embedding",
    .class_name = "Embedding",
    .version = 1,
    .summary = "integer indices to dense vectors (rows of `embeddings`)",
    .ops = &emb_ops,
};

LN_PLUGIN("embedding") { return host->add(host, &emb_unit); }
