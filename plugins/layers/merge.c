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

static void forward_chunk(void *arg, int64_t lo, int64_t hi) {
    const merge_job *j = arg;
    const float *x0 = ln_f32(j->x[0]);
    for (int64_t e = lo; e < hi; e++) {
        float v = x0[e];
        for (int i = 1; i < j->nin; i++) {
            float u = ln_f32(j->x[i])[e];
            switch (j->op) {
            case M_SUB: v -= u; break;
            case M_MUL: v *= u; break;
            case M_MAX: v = u > v ? u : v; break;
            case M_MIN: v = u < v ? u : v; break;
            default: v += u; break; /* add, average */
            }
        }
        j->y[e] = j->op == M_AVG ? v / (float)j->nin : v;
    }
}

/* The index of the input holding the extreme at element e (first of ties). */
static int extreme_at(const merge_job *j, int64_t e) {
    int best = 0;
    float v = ln_f32(j->x[0])[e];
    for (int i = 1; i < j->nin; i++) {
        float u = ln_f32(j->x[i])[e];
        if (j->op == M_MAX ? u > v : u < v) best = i, v = u;
    }
    return best;
}

static void backward_chunk(void *arg, int64_t lo, int64_t hi) {
    const merge_job *j = arg;
    for (int i = 0; i < j->nin; i++) {
        if (!j->dx[i]) continue;
        float *dx = ln_f32(j->dx[i]);
        for (int64_t e = lo; e < hi; e++) {
            float g = j->dy[e];
            switch (j->op) {
            case M_SUB: g = i == 0 ? g : -g; break;
            case M_AVG: g /= (float)j->nin; break;
            case M_MUL:
                for (int k = 0; k < j->nin; k++)
                    if (k != i) g *= ln_f32(j->x[k])[e];
                break;
            case M_MAX:
            case M_MIN: g = extreme_at(j, e) == i ? g : 0.0f; break;
            default: break;
            }
            dx[e] = g;
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
