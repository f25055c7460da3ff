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
**
** Any elementwise activation fuses through its own ops (ln_activation_*):
** Dense never looks at which activation it is.
**
** Inside a thread team (lunet/parallel.h) the work is cut into tasks that
** never change a result. Small batches of wide inputs (dense_split) sum
** x W as two halves over kernel rows [0, s) and [s, in) -- on any thread
** count, so the bits never depend on it -- one half per thread, then the
** halves' sum, the bias and the activation by row halves; the weight
** gradients are cut at the same s. Each core thus reads, differentiates
** and updates only its own half of the kernel, step after step (the
** publisher of a job takes task 0, the other thread task 1): on the 2-vCPU
** VM of issue 21 reading rows the other core has just updated cost more
** than the half product saved. Otherwise the forward goes by blocks of
** rows (a row of x W + b does not depend on the others). The activation
** gradient goes by rows, and the weight gradients by blocks of input
** features i: dX[:, i] needs only row i of the kernel and dW[i, :] only
** column i of x, so one task computes both for its block and hands the
** finished kernel rows to the gradient sink (plugin.h) in blocks of
** DENSE_WEIGHT_BLOCK rows: in a training step they are then updated at
** once, while in cache.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/plugin_util.h"

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
    ln_tensor *part;   /* the second half-sum of a split forward */
} dense;

static ln_status dense_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    dense *d = ln_layer_state(l);
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

static ln_status dense_build(ln_ctx *ctx, ln_layer *l, int nin,
                             const ln_shape *in, int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    dense *d = ln_layer_state(l);
    if (in_nd < 1 || in_shape[in_nd - 1] < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs with a non-empty last axis (batch, ..., "
                       "input_dim), got rank %d",
                       in_nd + 1);
    int64_t kshape[2] = {in_shape[in_nd - 1], d->units};
    ln_status st = ln_layer_add_weight(ctx, l, "kernel", 2, kshape, 1, d->kinit,
                                       d->kinit_args, &d->kernel);
    if (st) return st;
    ln_layer_set_regularizer(l, d->kernel, d->kl1, d->kl2);
    if (d->use_bias) {
        st = ln_layer_add_weight(ctx, l, "bias", 1, &d->units, 1, d->binit,
                                 d->binit_args, &d->bias);
        if (st) return st;
        ln_layer_set_regularizer(l, d->bias, d->bl1, d->bl2);
    }
    out[0].dim[in_nd - 1] = d->units;
    return LN_OK;
}

/* Whether the activation can run in place on the output (no pre-activation
** kept): elementwise, and its backward needs only y. */
static int dense_fusable(const dense *d) {
    const ln_activation_ops *o = ln_activation_ops_of(d->act);
    return o->elementwise && !o->backward_uses_x;
}

/* Kernel rows per weight-gradient block (whole micro-tiles). */
#define DENSE_WEIGHT_BLOCK 104

/* Below this many flops a GEMM is not cut into team tasks. */
#define DENSE_TEAM_MIN_FLOPS 5e5

/* Split forward (small batches, wide inputs): x W is summed as
** x[:, :s] W[:s, :] + x[:, s:] W[s:, :], then + bias -- in that order, on
** one thread or two, so the cut never changes a bit. On a team each half
** goes to one thread, and the weight-gradient pass cuts the kernel rows at
** the same s, so each core reads, differentiates and updates only its own
** half of the kernel: measured on this 2-vCPU VM, a core reading kernel
** rows the other core has just updated costs more than the product it
** saves (docs/performance.md). s is lu_feature_halves's cut (from 256
** inputs, up to 128 rows; beyond, the row cut reuses the kernel over enough
** rows): a multiple of 16, so each half of the kernel (and of its
** gradient) starts on a cache line for any units. */
static int64_t dense_split(int64_t rows, int64_t in) { return lu_feature_halves(rows, in); }

/* Rows per task when cutting `rows` for a team of nt: about four tasks per
** thread, whole micro-tile rows (8), and under 128 rows so that no task's
** GEMM packs a private copy of the kernel. */
static int64_t dense_rows_per_task(int64_t rows, int nt) {
    int64_t per = (rows + 4 * nt - 1) / (4 * nt);
    per = (per + 7) / 8 * 8;
    if (per > 120) per = 120;
    return per < 8 ? 8 : per;
}

/* What the tasks of one forward or backward share. */
typedef struct dense_job {
    const dense *d;
    ln_grad_sink *sink; /* where finished weight gradients go (or NULL) */
    const float *x, *w, *bias, *dy, *y;
    float *out, *z, *g, *dx, *dw, *db;
    int64_t rows, in, n, per;
    int64_t split; /* the split row of the kernel, or 0 */
    float *part;   /* the second half-sum (split forward) */
    int act; /* forward: 0 none, 1 in place on out, 2 from z into out;
                backward: 1 the activation's gradient into g */
    int64_t ntasks;
} dense_job;

/* A job's tasks: on the team when the layer's product is worth cutting
** (team), else one after the other on this thread -- a hand-out to the
** other core costs more than a small layer's work (the bias task of a
** 100 -> 10 layer's backward went to the other thread: 2.7 -> 4.7 us). */
static void dense_run(int team, int64_t ntasks, ln_task_fn fn, dense_job *j) {
    if (team) {
        ln_parallel_tasks(ntasks, fn, j);
        return;
    }
    for (int64_t t = 0; t < ntasks; t++) fn(j, t);
}

/* Forward rows [t*per, ...): the GEMM with the bias, then the activation. */
static void dense_fwd_task(void *arg, int64_t t) {
    const dense_job *j = arg;
    int64_t r0 = t * j->per, m = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    ln_gemm_epilogue epi = {j->bias, NULL, NULL};
    float *dst = (j->act == 2 ? j->z : j->out) + r0 * j->n;
    ln_gemm(0, 0, m, j->n, j->in, 1.0f, j->x + r0 * j->in, j->in, j->w, j->n,
            0.0f, dst, j->n, &epi);
    if (j->act) ln_activation_forward(j->d->act, dst, j->out + r0 * j->n, m, j->n);
}

/* Split forward, task 0 or 1: the half-sum over kernel rows [0, s) into
** the destination, or over [s, in) into part. */
static void dense_half_task(void *arg, int64_t t) {
    const dense_job *j = arg;
    const int64_t k0 = t ? j->split : 0, k = t ? j->in - j->split : j->split;
    float *dst = t ? j->part : j->act == 2 ? j->z : j->out;
    ln_gemm(0, 0, j->rows, j->n, k, 1.0f, j->x + k0, j->in, j->w + k0 * j->n, j->n,
            0.0f, dst, j->n, NULL);
}

/* Split forward, rows [t*per, ...): (first + second half-sum) + bias, then
** the activation over the finished rows. */
static void dense_sum_task(void *arg, int64_t t) {
    const dense_job *j = arg;
    int64_t r0 = t * j->per, m = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    float *dst = (j->act == 2 ? j->z : j->out) + r0 * j->n;
    const float *p = j->part + r0 * j->n;
    for (int64_t r = 0; r < m; r++) {
        float *d = dst + r * j->n;
        const float *q = p + r * j->n;
        if (j->bias)
            for (int64_t c = 0; c < j->n; c++) d[c] = (d[c] + q[c]) + j->bias[c];
        else
            for (int64_t c = 0; c < j->n; c++) d[c] = d[c] + q[c];
    }
    if (j->act) ln_activation_forward(j->d->act, dst, j->out + r0 * j->n, m, j->n);
}

/* y = act(x W + b): one GEMM with the bias in its epilogue, then the
** activation over the finished block (in place when it is fusable, else
** from the pre-activation z kept for backward). In a team, row blocks. */
static ln_status dense_forward(ln_ctx *ctx, ln_layer *l,
                               const ln_tensor *const *x, ln_tensor *const *y,
                               unsigned flags) {
    dense *d = ln_layer_state(l);
    const ln_tensor *kernel = ln_layer_weight(l, d->kernel);
    int64_t in = kernel->shape[0], n = d->units;
    int64_t rows = x[0]->numel / in;
    dense_job j = {d, NULL, ln_f32(x[0]), ln_f32(kernel),
                   d->bias >= 0 ? ln_f32(ln_layer_weight(l, d->bias)) : NULL,
                   NULL, NULL, ln_f32(y[0]), NULL, NULL, NULL, NULL, NULL,
                   rows, in, n, rows, 0, NULL, 0, 1};
    if (!(flags & LN_LOGITS) && !ln_activation_is_identity(d->act)) {
        if (dense_fusable(d)) {
            /* The GEMM's epilogue would call the activation once per row
            ** of every tile; one call over the finished block (hot in
            ** cache) does the same arithmetic without the per-call cost. */
            j.act = 1;
        } else {
            ln_status st = lu_buffer_like(ctx, &d->z, y[0]);
            if (st) return st;
            j.z = ln_f32(d->z);
            j.act = 2;
        }
    }
    int nt = ln_parallel_threads();
    const int team = nt > 1 && 2.0 * (double)rows * n * in >= DENSE_TEAM_MIN_FLOPS;
    j.split = dense_split(rows, in);
    if (j.split) { /* two half-sums, then their sum by rows (two tasks) */
        ln_status st = lu_buffer_like(ctx, &d->part, y[0]);
        if (st) return st;
        j.part = ln_f32(d->part);
        dense_run(team, 2, dense_half_task, &j);
        if (team && rows > 1) {
            j.per = (rows + 1) / 2;
            j.ntasks = 2;
        }
        dense_run(team, j.ntasks, dense_sum_task, &j);
        return LN_OK;
    }
    if (team && rows > 8) {
        j.per = dense_rows_per_task(rows, nt);
        j.ntasks = (rows + j.per - 1) / j.per;
    }
    dense_run(team, j.ntasks, dense_fwd_task, &j);
    return LN_OK;
}

/* Rows [t*per, ...) of G = f'(.) dy. */
static void dense_act_grad_task(void *arg, int64_t t) {
    const dense_job *j = arg;
    int64_t r0 = t * j->per, m = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    const int64_t o = r0 * j->n;
    ln_activation_backward(j->d->act, j->z ? j->z + o : NULL, j->y + o,
                           j->dy + o, j->g + o, m, j->n);
}

/* Input features [t*per, ...): dX[:, i] = G W[i, :]^T and
** dW[i, :] = x[:, i]^T G (with dx NULL: dW only), then those kernel rows
** are final and go to the sink (a training step updates them now, in
** cache); the task after the last does the bias. */
static void dense_weight_task(void *arg, int64_t t) {
    const dense_job *j = arg;
    if (t == j->ntasks) {
        ln_sum_rows(j->db, j->g, j->rows, j->n, 0);
        ln_grad_ready(j->sink, j->d->bias, 0, j->n);
        return;
    }
    int64_t i0 = t * j->per, i1 = i0 + j->per < j->in ? i0 + j->per : j->in;
    if (j->split) { /* the two halves of a split forward */
        i0 = t ? j->split : 0;
        i1 = t ? j->in : j->split;
    }
    /* in blocks of DENSE_WEIGHT_BLOCK rows: each block's gradient is
    ** still in cache when the sink updates it */
    for (int64_t b0 = i0; b0 < i1; b0 += DENSE_WEIGHT_BLOCK) {
        const int64_t m = i1 - b0 < DENSE_WEIGHT_BLOCK ? i1 - b0 : DENSE_WEIGHT_BLOCK;
        if (j->dx)
            ln_gemm(0, 1, j->rows, m, j->n, 1.0f, j->g, j->n, j->w + b0 * j->n, j->n,
                    0.0f, j->dx + b0, j->in, NULL);
        if (j->dw) {
            ln_gemm(1, 0, m, j->n, j->rows, 1.0f, j->x + b0, j->in, j->g, j->n,
                    0.0f, j->dw + b0 * j->n, j->n, NULL);
            ln_grad_ready(j->sink, j->d->kernel, b0 * j->n, (b0 + m) * j->n);
        }
    }
}

/* G = dL/dz (dy itself with LN_LOGITS or a linear activation), then
** dW = X^T G, db = column sums of G, dX = G W^T -- only what flags ask.
** In a team: G by row blocks, then dX, dW by blocks of input features and
** db as one more task. */
static ln_status dense_backward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink,
                                unsigned flags) {
    dense *d = ln_layer_state(l);
    const ln_tensor *kernel = ln_layer_weight(l, d->kernel);
    int64_t in = kernel->shape[0], n = d->units;
    int64_t rows = x[0]->numel / in;
    const int nt = ln_parallel_threads();
    const int team = nt > 1 && 2.0 * (double)rows * n * in >= DENSE_TEAM_MIN_FLOPS;
    dense_job j = {d, sink, ln_f32(x[0]), ln_f32(kernel), NULL, ln_f32(dy[0]),
                   ln_f32(y[0]), NULL, NULL, (float *)ln_f32(dy[0]), NULL, NULL,
                   NULL, rows, in, n, rows, 0, NULL, 0, 1};
    if (!(flags & LN_LOGITS) && !ln_activation_is_identity(d->act)) {
        ln_status st = lu_buffer_like(ctx, &d->dz, dy[0]);
        if (st) return st;
        /* fused: backward needs y only; unfused: z is the activation's x */
        j.z = dense_fusable(d) ? NULL : ln_f32(d->z);
        j.g = ln_f32(d->dz);
        j.split = team ? dense_split(rows, in) : 0;
        if (j.split && rows > 1) { /* the rows of the forward's sum tasks */
            j.per = (rows + 1) / 2;
            j.ntasks = 2;
        } else if (team && rows > 8) {
            j.per = dense_rows_per_task(rows, nt);
            j.ntasks = (rows + j.per - 1) / j.per;
        }
        dense_run(team, j.ntasks, dense_act_grad_task, &j);
    }
    if ((flags & LN_NEED_DW) && ln_layer_trains(l, d->kernel))
        j.dw = ln_f32(ln_layer_grad(l, d->kernel));
    if ((flags & LN_NEED_DW) && d->bias >= 0 && ln_layer_trains(l, d->bias))
        j.db = ln_f32(ln_layer_grad(l, d->bias));
    if (dx[0]) j.dx = ln_f32(dx[0]);
    if (!team && !(j.dw && sink)) {
        if (j.dw)
            ln_gemm(1, 0, in, n, rows, 1.0f, j.x, in, j.g, n, 0.0f, j.dw, n, NULL);
        if (j.db) ln_sum_rows(j.db, j.g, rows, n, 0);
        if (j.dx)
            ln_gemm(0, 1, rows, in, n, 1.0f, j.g, n, j.w, n, 0.0f, j.dx, in, NULL);
        return LN_OK;
    }
    /* Feature blocks of whole micro-tiles: the forward's two halves of the
    ** kernel when it was split (each core keeps its own half), else about
    ** four per thread (one task when serial: it runs in blocks anyway). */
    j.split = team ? dense_split(rows, in) : 0;
    if (j.split) {
        j.ntasks = 2;
    } else {
        const int parts = team ? 4 * nt : 1;
        j.per = (in + parts - 1) / parts;
        j.per = (j.per + 7) / 8 * 8;
        j.ntasks = (in + j.per - 1) / j.per;
    }
    if (!team && j.dx) { /* all of dX first: it reads the kernel's old values */
        ln_gemm(0, 1, rows, in, n, 1.0f, j.g, n, j.w, n, 0.0f, j.dx, in, NULL);
        j.dx = NULL;
    }
    dense_run(team, j.ntasks + (j.db != NULL), dense_weight_task, &j);
    return LN_OK;
}

static const char *dense_output_activation(const ln_layer *l) {
    const dense *d = ln_layer_state(l);
    return ln_activation_is_identity(d->act) ? NULL
                                             : ln_activation_name(d->act);
}

static void dense_destroy(ln_layer *l) {
    dense *d = ln_layer_state(l);
    ln_activation_free(d->act);
    ln_tensor_release(d->z);
    ln_tensor_release(d->dz);
    ln_tensor_release(d->part);
}

static const ln_layer_ops dense_ops = {
    .size = sizeof(ln_layer_ops),
    LN_MASK_PASSTHROUGH, /* Keras: supports_masking */
    .state_size = sizeof(dense),
    .create = dense_create,
    .build = dense_build,
    .forward = dense_forward,
    .backward = dense_backward,
    .output_activation = dense_output_activation,
    .destroy = dense_destroy,
};

static const ln_unit dense_unit = {
    .kind = LN_KIND_LAYER,
    .name = "dense",
    .class_name = "Dense",
    .version = 1,
    .summary = "densely connected layer: activation(x . kernel + bias)",
    .ops = &dense_ops,
};

LN_PLUGIN("dense") { return host->add(host, &dense_unit); }
