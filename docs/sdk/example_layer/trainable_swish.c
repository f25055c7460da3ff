/*
** trainable_swish.c -- Swish with a trainable slope per feature
** (Ramachandran et al. 2017), an out-of-tree lunet layer: the example of
** docs/plugins.md, section 6.
**
**   y[r, j] = x[r, j] * sigmoid(beta[j] * x[r, j])   (j: the last axis)
**   dx      = dy * (s + beta x s (1 - s)),   s = sigmoid(beta x)
**   dbeta[j] = sum over rows r of dy x^2 s (1 - s)
**
** Keyword arguments (the layer's config): beta_initializer ("ones"),
** beta_regularizer (nil). From Lua: ln.layers.TrainableSwish{}.
*/
#include <math.h>

#include "lunet/plugin_util.h"

/* The layer's private state (zeroed by the core; ln_layer_state). */
typedef struct tswish {
    const char *init;   /* beta's initializer ... */
    ln_args *init_args; /* ... and its arguments (borrowed from the config) */
    double l1, l2;      /* beta's regularization */
    int beta;           /* beta's weight index */
} tswish;

/* Keyword arguments, before any shape is known. Every read is recorded:
** the layer's get_config() and model files show the effective values. */
static ln_status create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    tswish *s = ln_layer_state(l);
    ln_status st;
    if ((st = lu_initializer(ctx, a, "beta_initializer", "ones", &s->init,
                             &s->init_args)) ||
        (st = ln_args_regularizer(ctx, a, "beta_regularizer", &s->l1, &s->l2)))
        return st;
    return LN_OK;
}

/* The input shape (without the batch axis) is known: one beta per feature
** of the last axis. The output is shaped like the input (the default). */
static ln_status build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                       int *nout, ln_shape *out) {
    tswish *s = ln_layer_state(l);
    int64_t shape[1] = {in[0].nd ? in[0].dim[in[0].nd - 1] : 1};
    ln_status st = ln_layer_add_weight(ctx, l, "beta", 1, shape, 1, s->init,
                                       s->init_args, &s->beta);
    if (st) return st;
    ln_layer_set_regularizer(l, s->beta, s->l1, s->l2);
    return LN_OK;
}

static inline float sigm(float v) {
    float e = expf(-fabsf(v)), r = 1.0f / (1.0f + e);
    return v >= 0.0f ? r : e * r;
}

typedef struct job {
    const float *x, *dy, *beta;
    float *out;
    int64_t cols;
} job;

/* Rows [lo, hi) of y (ln_parallel_rows hands out whole rows). */
LN_CLONES static void fwd_rows(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->cols;
        float *y = j->out + r * j->cols;
        for (int64_t c = 0; c < j->cols; c++) y[c] = x[c] * sigm(j->beta[c] * x[c]);
    }
}

LN_CLONES static void dx_rows(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->cols, *dy = j->dy + r * j->cols;
        float *dx = j->out + r * j->cols;
        for (int64_t c = 0; c < j->cols; c++) {
            float b = j->beta[c], s = sigm(b * x[c]);
            dx[c] = dy[c] * (s + b * x[c] * s * (1.0f - s));
        }
    }
}

/* Columns [lo, hi) of dbeta: each a sum over the rows in row order (one
** owner per element, so any thread count gives the same bits). */
typedef struct dbeta_job {
    const float *x, *dy, *beta;
    float *dbeta;
    int64_t rows, cols;
} dbeta_job;

static void dbeta_cols(void *arg, int64_t lo, int64_t hi) {
    const dbeta_job *j = arg;
    for (int64_t c = lo; c < hi; c++) {
        double acc = 0;
        for (int64_t r = 0; r < j->rows; r++) {
            float x = j->x[r * j->cols + c], s = sigm(j->beta[c] * x);
            acc += (double)j->dy[r * j->cols + c] * x * x * s * (1.0f - s);
        }
        j->dbeta[c] = (float)acc;
    }
}

/* flags: LN_TRAINING in fit (this layer computes the same either way; a
** dropout-like layer would branch on it). */
static ln_status forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                         ln_tensor *const *y, unsigned flags) {
    const tswish *s = ln_layer_state(l);
    int64_t rows, cols;
    lu_rows_cols(x[0], &rows, &cols);
    job j = {ln_f32(x[0]), NULL, ln_f32(ln_layer_weight(l, s->beta)),
             ln_f32(y[0]), cols};
    ln_parallel_rows(rows, cols, fwd_rows, &j);
    return LN_OK;
}

/* dx[0] is NULL when the input needs no gradient (the first layer); the
** weight gradient is written (not accumulated) with LN_NEED_DW when beta
** trains. A finished gradient may be handed to the sink (an optimizer then
** updates it at once); this layer finishes dbeta last, so it does not. */
static ln_status backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *const *y, const ln_tensor *const *dy,
                          ln_tensor *const *dx, ln_grad_sink *sink,
                          unsigned flags) {
    const tswish *s = ln_layer_state(l);
    int64_t rows, cols;
    lu_rows_cols(x[0], &rows, &cols);
    const float *beta = ln_f32(ln_layer_weight(l, s->beta));
    if (dx[0]) {
        job j = {ln_f32(x[0]), ln_f32(dy[0]), beta, ln_f32(dx[0]), cols};
        ln_parallel_rows(rows, cols, dx_rows, &j);
    }
    if ((flags & LN_NEED_DW) && ln_layer_trains(l, s->beta)) {
        dbeta_job j = {ln_f32(x[0]), ln_f32(dy[0]), beta,
                       ln_f32(ln_layer_grad(l, s->beta)), rows, cols};
        ln_parallel_for(cols, dbeta_cols, &j);
    }
    return LN_OK;
}

static const ln_layer_ops ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(tswish),
    .create = create,
    .build = build,
    .forward = forward,
    .backward = backward,
};

static const ln_unit unit = {
    .kind = LN_KIND_LAYER,
    .name = "trainable_swish",
    .class_name = "TrainableSwish",
    .version = 1,
    .summary = "Swish with a trainable slope per feature (example plugin)",
    .ops = &ops,
};

LN_PLUGIN("trainable_swish") { return host->add(host, &unit); }
