/*
** merge.c -- Keras's elementwise merge layers: Add, Subtract, Multiply,
** Average, Maximum, Minimum. Every input has the same shape (Keras's
** broadcasting between ranks is not supported: a mismatch is an error
** naming both shapes); the output has that shape. Subtract takes exactly
** two inputs, the others two or more. Gradients: Add dy to each input,
** Subtract dy and -dy, Average dy/n, Multiply dy times the product of the
** other inputs, Maximum/Minimum dy to the first input holding the extreme
** (ties go to the earliest, as a subgradient must pick one). No weights.
** Masks (Keras 2's _Merge.compute_mask): the output keeps a step when
** every input that has a mask keeps it (none has one: no mask).
*/
#include <string.h>

#include "lunet/plugin_util.h"

enum { M_ADD, M_SUB, M_MUL, M_AVG, M_MAX, M_MIN };

typedef struct merge {
    int op;
} merge;

static ln_status merge_build(ln_ctx *ctx, ln_layer *l, int nin,
                             const ln_shape *in, int *nout, ln_shape *out) {
    for (int i = 1; i < nin; i++) {
        int same = in[i].nd == in[0].nd;
        for (int d = 0; same && d < in[0].nd; d++) same = in[i].dim[d] == in[0].dim[d];
        if (same) continue;
        char a[128], b[128];
        return ln_fail(ctx, LN_E_SHAPE,
                       "inputs must have the same shape, got %s (input 1) "
                       "and %s (input %d)",
                       lu_shape_str(&in[0], a, sizeof a),
                       lu_shape_str(&in[i], b, sizeof b), i + 1);
    }
    out[0] = in[0];
    *nout = 1;
    return LN_OK;
}

typedef struct merge_job {
    int op, nin;
    const ln_tensor *const *x;
    float *y;             /* forward: the output */
    const float *dy;      /* backward: the output gradient */
    ln_tensor *const *dx; /* backward: the input gradients (entries may be NULL) */
} merge_job;

/* Elements [lo, hi) of the output: input 0, then each further input
** folded in, in order -- per element the arithmetic of
** v = x0; v = v op x1; v = v op x2; ... (an average divides at the end),
** as whole-range loops in vectors (per element, the loop over inputs with
** a switch inside ran ~2.5 ns an element: 4 us of Wide & Deep's 150-us step
** for an Add of two 32 x 100 inputs). `omp simd` because -O2's cost model
** does not vectorise a loop whose pointers may overlap (these stayed
** scalar: 2.6 us for that Add). An output is never a shifted view of an
** input, so the lanes never overlap. */
LN_CLONES static void fold_range(int op, float *y, const float *u, int64_t lo, int64_t hi) {
    switch (op) {
    case M_SUB:
#pragma omp simd
        for (int64_t e = lo; e < hi; e++) y[e] = y[e] - u[e];
        break;
    case M_MUL:
#pragma omp simd
        for (int64_t e = lo; e < hi; e++) y[e] = y[e] * u[e];
        break;
    case M_MAX:
#pragma omp simd
        for (int64_t e = lo; e < hi; e++) y[e] = u[e] > y[e] ? u[e] : y[e];
        break;
    case M_MIN:
#pragma omp simd
        for (int64_t e = lo; e < hi; e++) y[e] = u[e] < y[e] ? u[e] : y[e];
        break;
    default: /* add, average */
#pragma omp simd
        for (int64_t e = lo; e < hi; e++) y[e] = y[e] + u[e];
        break;
    }
}

LN_CLONES static void scale_range(float *y, const float *x, float div, int64_t lo,
                                  int64_t hi) {
#pragma omp simd
    for (int64_t e = lo; e < hi; e++) y[e] = x[e] / div;
}

static void forward_chunk(void *arg, int64_t lo, int64_t hi) {
    const merge_job *j = arg;
    memcpy(j->y + lo, ln_f32(j->x[0]) + lo, (size_t)(hi - lo) * sizeof(float));
    for (int i = 1; i < j->nin; i++) fold_range(j->op, j->y, ln_f32(j->x[i]), lo, hi);
    if (j->op == M_AVG) scale_range(j->y, j->y, (float)j->nin, lo, hi);
}

/* Max/min: dx_i[e] = dy[e] where input i holds the extreme of element e
** (the first of ties), else 0 -- the index of the extreme found in order,
** as forward's fold finds the value. */
LN_CLONES static void extreme_grad_range(const merge_job *j, int which, float *dx, int64_t lo,
                                         int64_t hi) {
    const float *x0 = ln_f32(j->x[0]);
    for (int64_t e = lo; e < hi; e++) {
        int best = 0;
        float v = x0[e];
        for (int i = 1; i < j->nin; i++) {
            float u = ln_f32(j->x[i])[e];
            if (j->op == M_MAX ? u > v : u < v) best = i, v = u;
        }
        dx[e] = best == which ? j->dy[e] : 0.0f;
    }
}

LN_CLONES static void negate_range(float *y, const float *x, int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t e = lo; e < hi; e++) y[e] = -x[e];
}

static void backward_chunk(void *arg, int64_t lo, int64_t hi) {
    const merge_job *j = arg;
    const size_t bytes = (size_t)(hi - lo) * sizeof(float);
    for (int i = 0; i < j->nin; i++) {
        if (!j->dx[i]) continue;
        float *dx = ln_f32(j->dx[i]);
        switch (j->op) {
        case M_SUB:
            if (i == 0) memcpy(dx + lo, j->dy + lo, bytes);
            else negate_range(dx, j->dy, lo, hi);
            break;
        case M_AVG: scale_range(dx, j->dy, (float)j->nin, lo, hi); break;
        case M_MUL: /* dy times the other inputs, in input order */
            memcpy(dx + lo, j->dy + lo, bytes);
            for (int k = 0; k < j->nin; k++)
                if (k != i) fold_range(M_MUL, dx, ln_f32(j->x[k]), lo, hi);
            break;
        case M_MAX:
        case M_MIN: extreme_grad_range(j, i, dx, lo, hi); break;
        default: memcpy(dx + lo, j->dy + lo, bytes); break;
        }
    }
}

static ln_status merge_forward(ln_ctx *ctx, ln_layer *l,
                               const ln_tensor *const *x, ln_tensor *const *y,
                               unsigned flags) {
    const merge *m = ln_layer_state(l);
    merge_job j = {m->op, ln_layer_input_count(l), x, ln_f32(y[0]), NULL, NULL};
    ln_parallel_for(y[0]->numel, forward_chunk, &j);
    return LN_OK;
}

static ln_status merge_backward(ln_ctx *ctx, ln_layer *l,
                                const ln_tensor *const *x,
                                const ln_tensor *const *y,
                                const ln_tensor *const *dy,
                                ln_tensor *const *dx, ln_grad_sink *sink,
                                unsigned flags) {
    const merge *m = ln_layer_state(l);
    merge_job j = {m->op, ln_layer_input_count(l), x, NULL, ln_f32(dy[0]), dx};
    ln_parallel_for(dy[0]->numel, backward_chunk, &j);
    return LN_OK;
}

/* The AND of the inputs' masks (they must have one shape). */
static ln_status merge_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                            const ln_tensor *in_mask, ln_tensor *out, int *has) {
    (void)x, (void)in_mask;
    const ln_tensor *first = NULL;
    int nin = ln_layer_input_count(l);
    for (int i = 0; i < nin; i++) {
        const ln_tensor *m = ln_layer_input_mask_at(l, i);
        if (!m) continue;
        char a[128], b[128];
        if (first && (m->ndim != first->ndim || m->numel != first->numel))
            return ln_fail(ctx, LN_E_SHAPE, "the inputs' masks differ in shape: %s and "
                           "%s (input %d)", ln_shape_str(first, a, sizeof a),
                           ln_shape_str(m, b, sizeof b), i + 1);
        if (!first) {
            ln_status st = ln_tensor_resize(ctx, out, m->ndim, m->shape);
            if (st) return st;
            ln_copy(ln_f32(out), ln_f32(m), m->numel);
            first = m;
            continue;
        }
        float *o = ln_f32(out);
        const float *v = ln_f32(m);
        for (int64_t k = 0; k < m->numel; k++) o[k] = o[k] != 0.0f && v[k] != 0.0f ? 1.0f : 0.0f;
    }
    *has = first != NULL;
    return LN_OK;
}

#define MERGE_UNIT(OP, NAME, CLASS, MIN, MAX, SUMMARY)                        \
    static ln_status NAME##_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {   \
        ((merge *)ln_layer_state(l))->op = OP;                               \
        return LN_OK;                                                        \
    }                                                                        \
    static const ln_layer_ops NAME##_ops = {                                 \
        .size = sizeof(ln_layer_ops), .state_size = sizeof(merge),           \
        .min_inputs = MIN, .max_inputs = MAX, .create = NAME##_create,       \
        .build = merge_build, .forward = merge_forward,                      \
        .backward = merge_backward, .compute_mask = merge_mask};             \
    static const ln_unit NAME##_unit = {                                     \
        .kind = LN_KIND_LAYER, .name = #NAME, .class_name = CLASS,           \
        .version = 1, .summary = SUMMARY, .ops = &NAME##_ops};

MERGE_UNIT(M_ADD, add, "Add", 2, -1, "sum of its inputs (same shapes)")
MERGE_UNIT(M_SUB, subtract, "Subtract", 2, 2, "first input minus the second")
MERGE_UNIT(M_MUL, multiply, "Multiply", 2, -1, "elementwise product of its inputs")
MERGE_UNIT(M_AVG, average, "Average", 2, -1, "elementwise mean of its inputs")
MERGE_UNIT(M_MAX, maximum, "Maximum", 2, -1, "elementwise maximum of its inputs")
MERGE_UNIT(M_MIN, minimum, "Minimum", 2, -1, "elementwise minimum of its inputs")

LN_PLUGIN("merge") {
    const ln_unit *units[] = {&add_unit, &subtract_unit, &multiply_unit,
                              &average_unit, &maximum_unit, &minimum_unit};
    ln_status st = LN_OK;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        ln_status s = host->add(host, units[i]);
        if (!st) st = s;
    }
    return st;
}
