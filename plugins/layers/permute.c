/*
** permute.c -- Permute (Keras): reorders the axes of each sample; dims is
** a permutation of 1..rank (Keras counts the sample axes from 1, the batch
** axis stays first). Output axis i is input axis dims[i]. The gradient is
** the inverse permutation of dy. Each output element has one owner.
*/
#include "lunet/plugin_util.h"

typedef struct permute {
    int nd;
    int64_t dims[LN_MAX_DIM];
    int64_t in_stride[LN_MAX_DIM];  /* of each INPUT axis, in elements */
    int64_t out_dim[LN_MAX_DIM];
    int64_t per;                    /* elements per sample */
} permute;

static ln_status permute_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    permute *p = ln_layer_state(l);
    ln_status st = ln_args_positional(ctx, a, 1, "dims");
    int n = 0;
    if (!st) st = ln_args_ints(ctx, a, "dims", LN_MAX_DIM - 1, &n, p->dims);
    if (st) return st;
    if (n < 1) return ln_fail(ctx, LN_E_ARG, "missing 'dims' (a permutation such as {2, 1})");
    int seen[LN_MAX_DIM] = {0};
    for (int i = 0; i < n; i++) {
        if (p->dims[i] < 1 || p->dims[i] > n || seen[p->dims[i] - 1]++)
            return ln_fail(ctx, LN_E_ARG, "'dims' must be a permutation of 1..%d, got %lld "
                           "at position %d", n, (long long)p->dims[i], i + 1);
    }
    p->nd = n;
    return LN_OK;
}

static ln_status permute_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                               int *nout, ln_shape *out) {
    permute *p = ln_layer_state(l);
    char a[128];
    if (in[0].nd != p->nd)
        return ln_fail(ctx, LN_E_SHAPE, "dims has %d axes, the input %s has %d", p->nd,
                       lu_shape_str(&in[0], a, sizeof a), in[0].nd);
    int64_t s = 1;
    for (int d = p->nd - 1; d >= 0; d--) {
        p->in_stride[d] = s;
        s *= in[0].dim[d];
    }
    p->per = s;
    out[0].nd = p->nd;
    for (int i = 0; i < p->nd; i++) out[0].dim[i] = p->out_dim[i] = in[0].dim[p->dims[i] - 1];
    return LN_OK;
}

typedef struct permute_job {
    const permute *p;
    const float *src;
    float *dst;
    int back; /* 0: dst = permuted src; 1: dst = src permuted back */
} permute_job;

/* rows: samples; walks the output in order, the input by strides. */
static void permute_rows(void *arg, int64_t lo, int64_t hi) {
    const permute_job *j = arg;
    const permute *p = j->p;
    for (int64_t b = lo; b < hi; b++) {
        const float *s = j->src + b * p->per;
        float *d = j->dst + b * p->per;
        for (int64_t e = 0; e < p->per; e++) {
            int64_t rem = e, off = 0;
            for (int i = p->nd - 1; i >= 0; i--) {
                off += (rem % p->out_dim[i]) * p->in_stride[p->dims[i] - 1];
                rem /= p->out_dim[i];
            }
            if (j->back) d[off] = s[e];
            else d[e] = s[off];
        }
    }
}

static ln_status permute_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                 ln_tensor *const *y, unsigned flags) {
    const permute *p = ln_layer_state(l);
    permute_job j = {p, ln_f32(x[0]), ln_f32(y[0]), 0};
    ln_parallel_rows(x[0]->shape[0], p->per * p->nd, permute_rows, &j);
    return LN_OK;
}

static ln_status permute_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                                  const ln_tensor *const *y, const ln_tensor *const *dy,
                                  ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    const permute *p = ln_layer_state(l);
    if (!dx[0]) return LN_OK;
    permute_job j = {p, ln_f32(dy[0]), ln_f32(dx[0]), 1};
    ln_parallel_rows(x[0]->shape[0], p->per * p->nd, permute_rows, &j);
    return LN_OK;
}

static const ln_layer_ops permute_ops = {
    .size = sizeof(ln_layer_ops),
    .state_size = sizeof(permute),
    .create = permute_create,
    .build = permute_build,
    .forward = permute_forward,
    .backward = permute_backward,
};

static const ln_unit permute_unit = {
    .kind = LN_KIND_LAYER,
    .name = "permute",
    .class_name = "Permute",
    .version = 1,
    .summary = "reorders the axes of each sample",
    .ops = &permute_ops,
};

LN_PLUGIN("permute") { return host->add(host, &permute_unit); }
