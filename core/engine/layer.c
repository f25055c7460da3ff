/*
** layer.c -- layer instances: creation from keyword arguments, weights,
** shape checks around the plugin's forward and backward, regularization.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/plugin.h"

ln_layer *ln_layer_new(ln_ctx *ctx, const char *unit, ln_args *args) {
    const ln_unit *u = ln_registry_require(ctx, LN_KIND_LAYER, unit);
    if (!args) args = ln_args_new();
    if (!u || !args) {
        if (u) ln_fail(ctx, LN_E_NOMEM, "out of memory");
        ln_args_free(args);
        return NULL;
    }
    const ln_layer_ops *ops = u->ops;
    ln_layer *l = calloc(1, sizeof *l);
    if (!l || (ops->state_size && !(l->state = calloc(1, ops->state_size)))) {
        free(l);
        ln_args_free(args);
        ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", unit);
        return NULL;
    }
    l->unit = u;
    l->args = args;
    l->trainable = 1;
    l->rng = ln_rng_global();
    snprintf(l->name, sizeof l->name, "%s", u->class_name ? u->class_name : unit);
    if (ops->create && ops->create(ctx, l, args)) {
        ln_prefix(ctx, "%s", l->name);
        ln_layer_free(l);
        return NULL;
    }
    char unused[512];
    if (ln_args_unused(args, unused, sizeof unused)) {
        ln_fail(ctx, LN_E_ARG, "%s: unknown keyword argument %s", l->name,
                unused);
        ln_layer_free(l);
        return NULL;
    }
    return l;
}

void ln_layer_free(ln_layer *l) {
    if (!l) return;
    const ln_layer_ops *ops = l->unit->ops;
    if (ops->destroy) ops->destroy(l);
    for (int i = 0; i < l->nweights; i++) {
        ln_tensor_release(l->weights[i].value);
        ln_tensor_release(l->weights[i].grad);
    }
    ln_args_free(l->args);
    free(l->state);
    free(l);
}

ln_status ln_layer_add_weight(ln_ctx *ctx, ln_layer *l, const char *name,
                              int nd, const int64_t *shape, int trainable,
                              const char *init, ln_args *init_args,
                              ln_weight **out) {
    if (l->nweights == LN_MAX_WEIGHTS)
        return ln_fail(ctx, LN_E_ARG, "%s: more than %d weights", l->name,
                       LN_MAX_WEIGHTS);
    ln_weight *w = &l->weights[l->nweights];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->trainable = trainable;
    w->value = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (!w->value) return ctx->status;
    if (trainable && !(w->grad = ln_tensor_new(ctx, LN_FLOAT32, nd, shape))) {
        ln_tensor_release(w->value);
        return ctx->status;
    }
    if (init) {
        /* Initializer arguments are read on a copy-free borrowed table; the
        ** layer's own args keep ownership. */
        ln_status st = ln_initializer_fill(ctx, init, init_args, w->value, l->rng);
        if (st) {
            ln_tensor_release(w->value);
            ln_tensor_release(w->grad);
            return ln_prefix(ctx, "%s: weight '%s'", l->name, name);
        }
    }
    l->nweights++;
    if (out) *out = w;
    return LN_OK;
}

/* "(None, 784)" for a batch-less shape. */
static const char *none_shape(int nd, const int64_t *s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(None");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, ", %lld", (long long)s[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

ln_status ln_layer_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                         const int64_t *in_shape) {
    char a[128];
    if (l->built) {
        int same = in_nd == l->in_nd;
        for (int i = 0; same && i < in_nd; i++)
            same = in_shape[i] == l->in_shape[i];
        if (same) return LN_OK;
        char b[128];
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: built for input shape %s, called on %s", l->name,
                       none_shape(l->in_nd, l->in_shape, a, sizeof a),
                       none_shape(in_nd, in_shape, b, sizeof b));
    }
    if (in_nd < 0 || in_nd >= LN_MAX_DIM)
        return ln_fail(ctx, LN_E_SHAPE, "%s: input of %d dimensions", l->name,
                       in_nd);
    const ln_layer_ops *ops = l->unit->ops;
    int out_nd = in_nd;
    int64_t out_shape[LN_MAX_DIM];
    if (in_nd) memcpy(out_shape, in_shape, (size_t)in_nd * sizeof *in_shape);
    if (ops->build && ops->build(ctx, l, in_nd, in_shape, &out_nd, out_shape))
        return ln_prefix(ctx, "%s", l->name);
    l->in_nd = in_nd;
    l->out_nd = out_nd;
    if (in_nd) memcpy(l->in_shape, in_shape, (size_t)in_nd * sizeof *in_shape);
    if (out_nd) memcpy(l->out_shape, out_shape, (size_t)out_nd * sizeof *out_shape);
    l->built = 1;
    return LN_OK;
}

static ln_status check_input(ln_ctx *ctx, ln_layer *l, const ln_tensor *x) {
    if (!l->built) {
        ln_status st = ln_layer_build(ctx, l, x->ndim - 1, x->shape + 1);
        if (st) return st;
    }
    int ok = x->dtype == LN_FLOAT32 && x->ndim == l->in_nd + 1;
    for (int i = 0; ok && i < l->in_nd; i++)
        ok = x->shape[i + 1] == l->in_shape[i];
    if (ok) return LN_OK;
    char a[128], b[128];
    if (x->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "%s: expects float32 input, got %s",
                       l->name, ln_dtype_name(x->dtype));
    return ln_fail(ctx, LN_E_SHAPE,
                   "%s: expected input shape %s, got %s", l->name,
                   none_shape(l->in_nd, l->in_shape, a, sizeof a),
                   ln_shape_str(x, b, sizeof b));
}

ln_status ln_layer_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                           ln_tensor *y, unsigned flags) {
    ln_status st = check_input(ctx, l, x);
    if (st) return st;
    int64_t shape[LN_MAX_DIM];
    shape[0] = x->shape[0];
    memcpy(shape + 1, l->out_shape, (size_t)l->out_nd * sizeof *shape);
    if ((st = ln_tensor_resize(ctx, y, l->out_nd + 1, shape))) return st;
    const ln_layer_ops *ops = l->unit->ops;
    if ((st = ops->forward(ctx, l, x, y, flags))) ln_prefix(ctx, "%s", l->name);
    return st;
}

ln_status ln_layer_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                            const ln_tensor *y, const ln_tensor *dy,
                            ln_tensor *dx, unsigned flags) {
    char a[128], b[128];
    if (!l->built)
        return ln_fail(ctx, LN_E_STATE, "%s: backward before forward", l->name);
    if (!ln_shape_equal(dy, y))
        return ln_fail(ctx, LN_E_SHAPE,
                       "%s: output gradient of shape %s for output %s", l->name,
                       ln_shape_str(dy, a, sizeof a), ln_shape_str(y, b, sizeof b));
    ln_status st;
    if ((flags & LN_NEED_DX) && dx &&
        (st = ln_tensor_resize(ctx, dx, x->ndim, x->shape)))
        return st;
    if (!l->trainable) flags &= ~LN_NEED_DW;
    const ln_layer_ops *ops = l->unit->ops;
    if ((st = ops->backward(ctx, l, x, y, dy, dx, flags)))
        return ln_prefix(ctx, "%s", l->name);
    if (!(flags & LN_NEED_DW)) return LN_OK;
    /* Regularization: d/dw (l1*|w| + l2*w^2) added to the loss gradient. */
    for (int i = 0; i < l->nweights; i++) {
        ln_weight *w = &l->weights[i];
        if (!w->grad || !w->trainable || (w->l1 == 0 && w->l2 == 0)) continue;
        float *g = ln_f32(w->grad);
        const float *v = ln_f32(w->value);
        float l1 = (float)w->l1, l2x2 = (float)(2 * w->l2);
        int64_t n = w->value->numel;
#pragma omp parallel for if (n > 65536) schedule(static)
        for (int64_t j = 0; j < n; j++)
            g[j] += l2x2 * v[j] + l1 * (float)((v[j] > 0) - (v[j] < 0));
    }
    return LN_OK;
}

double ln_layer_regularization_loss(const ln_layer *l) {
    double s = 0;
    for (int i = 0; i < l->nweights; i++) {
        const ln_weight *w = &l->weights[i];
        if (w->l1 == 0 && w->l2 == 0) continue;
        const float *v = ln_f32(w->value);
        double a = 0;
        for (int64_t j = 0; j < w->value->numel; j++) a += fabs((double)v[j]);
        s += w->l1 * a + w->l2 * ln_sumsq(v, w->value->numel);
    }
    return s;
}

const char *ln_layer_output_activation(const ln_layer *l) {
    const ln_layer_ops *ops = l->unit->ops;
    return ops->output_activation ? ops->output_activation(l) : NULL;
}
