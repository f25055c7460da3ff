/*
** layer.c -- layer instances: creation from keyword arguments, weights,
** shape checks around the plugin's forward and backward, regularization,
** and the accessors plugins see a layer through (plugin.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_reg.h"
#include "lunet/engine/layer.h"

typedef struct ln_weight {
    char name[64];    /* Keras's short name: "kernel", "moving_mean" */
    ln_tensor *value; /* owned */
    ln_tensor *grad;  /* same shape, written (not accumulated) by backward;
                         NULL for weights that are never trained */
    int trainable;    /* by nature; in effect only if the layer's is too */
    double l1, l2;    /* regularization factors (0 = none) */
} ln_weight;

struct ln_layer {
    const ln_unit *unit;
    const ln_layer_ops *ops;
    void *state;   /* ops->state_size bytes, owned */
    ln_args *args; /* the keyword arguments; owned */
    char name[LN_NAME_MAX]; /* for messages: "dense_1 (Dense)" style */
    int trainable;          /* Keras's layer.trainable */
    int built;
    int nin, nout;
    ln_shape *in;                 /* nin input shapes */
    ln_shape out[LN_MAX_OUTPUTS]; /* nout output shapes */
    int nweights;
    ln_weight weights[LN_MAX_WEIGHTS];
    ln_rng *rng; /* for dropout-like layers and initializers */
    const ln_tensor *in_mask; /* borrowed: the mask of input 0, or NULL */
    const ln_tensor *const *in_masks; /* borrowed: one per input (graphs), or NULL */
    int mask_armed; /* the masks were handed over for the next forward only */
    ln_tensor *out_mask;      /* owned buffer: the mask of output 0 */
    int has_out_mask;
};

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
    l->ops = ops;
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
    if (l->ops->destroy) l->ops->destroy(l);
    ln_tensor_release(l->out_mask);
    for (int i = 0; i < l->nweights; i++) {
        ln_tensor_release(l->weights[i].value);
        ln_tensor_release(l->weights[i].grad);
    }
    ln_args_free(l->args);
    free(l->in);
    free(l->state);
    free(l);
}

/* ---- accessors ------------------------------------------------------------ */

void *ln_layer_state(const ln_layer *l) { return l->state; }
const char *ln_layer_name(const ln_layer *l) { return l->name; }
int ln_layer_input_count(const ln_layer *l) { return l->nin; }
ln_rng *ln_layer_rng(const ln_layer *l) { return l->rng; }
void ln_layer_set_rng(ln_layer *l, ln_rng *rng) { l->rng = rng; }
const ln_unit *ln_layer_unit(const ln_layer *l) { return l->unit; }
const ln_args *ln_layer_args(const ln_layer *l) { return l->args; }
int ln_layer_trainable(const ln_layer *l) { return l->trainable; }
void ln_layer_set_trainable(ln_layer *l, int t) { l->trainable = t != 0; }
int ln_layer_built(const ln_layer *l) { return l->built; }
int ln_layer_output_count(const ln_layer *l) { return l->nout; }
int ln_layer_weight_count(const ln_layer *l) { return l->nweights; }

void ln_layer_set_name(ln_layer *l, const char *name) {
    snprintf(l->name, sizeof l->name, "%s", name);
}

const ln_shape *ln_layer_input_shape(const ln_layer *l, int i) {
    return i >= 0 && i < l->nin ? &l->in[i] : NULL;
}

const ln_shape *ln_layer_output_shape(const ln_layer *l, int i) {
    return i >= 0 && i < l->nout ? &l->out[i] : NULL;
}

static const ln_weight *weight(const ln_layer *l, int w) {
    return w >= 0 && w < l->nweights ? &l->weights[w] : NULL;
}

ln_tensor *ln_layer_weight(const ln_layer *l, int w) {
    const ln_weight *x = weight(l, w);
    return x ? x->value : NULL;
}

ln_tensor *ln_layer_grad(const ln_layer *l, int w) {
    const ln_weight *x = weight(l, w);
    return x ? x->grad : NULL;
}

const char *ln_layer_weight_name(const ln_layer *l, int w) {
    const ln_weight *x = weight(l, w);
    return x ? x->name : NULL;
}

int ln_layer_weight_trainable(const ln_layer *l, int w) {
    const ln_weight *x = weight(l, w);
    return x && x->trainable;
}

void ln_layer_regularizer(const ln_layer *l, int w, double *l1, double *l2) {
    const ln_weight *x = weight(l, w);
    *l1 = x ? x->l1 : 0;
    *l2 = x ? x->l2 : 0;
}

int ln_layer_trains(const ln_layer *l, int w) {
    const ln_weight *x = weight(l, w);
    return l->trainable && x && x->trainable && x->grad;
}

int ln_layer_has_trainable(const ln_layer *l) {
    for (int i = 0; i < l->nweights; i++)
        if (ln_layer_trains(l, i)) return 1;
    return 0;
}

void ln_layer_set_regularizer(ln_layer *l, int w, double l1, double l2) {
    if (w < 0 || w >= l->nweights) return;
    l->weights[w].l1 = l1;
    l->weights[w].l2 = l2;
}

/* ---- weights ---------------------------------------------------------------- */

ln_status ln_layer_add_weight(ln_ctx *ctx, ln_layer *l, const char *name,
                              int nd, const int64_t *shape, int trainable,
                              const char *init, ln_args *init_args,
                              int *index) {
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
        /* The initializer reads its arguments from the borrowed table; the
        ** layer's own args keep ownership. */
        ln_status st = ln_initializer_fill(ctx, init, init_args, w->value, l->rng);
        if (st) {
            ln_tensor_release(w->value);
            ln_tensor_release(w->grad);
            return ln_prefix(ctx, "%s: weight '%s'", l->name, name);
        }
    }
    if (index) *index = l->nweights;
    l->nweights++;
    return LN_OK;
}

/* The wrapper's view of a wrapped layer's weight: the same tensors. */
ln_status ln_layer_share_weight(ln_ctx *ctx, ln_layer *l, const ln_layer *src,
                                int w) {
    const ln_weight *from = weight(src, w);
    if (!from)
        return ln_fail(ctx, LN_E_ARG, "%s: no weight %d in %s", l->name, w,
                       src->name);
    if (l->nweights == LN_MAX_WEIGHTS)
        return ln_fail(ctx, LN_E_ARG, "%s: more than %d weights", l->name,
                       LN_MAX_WEIGHTS);
    ln_weight *to = &l->weights[l->nweights++];
    *to = *from;
    ln_tensor_retain(to->value);
    if (to->grad) ln_tensor_retain(to->grad);
    return LN_OK;
}

/* ---- build ------------------------------------------------------------------- */

/* "(None, 784)" for a batch-less shape. */
static const char *none_shape(const ln_shape *s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(None");
    for (int i = 0; i < s->nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, ", %lld", (long long)s->dim[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

static int same_shape(const ln_shape *a, const ln_shape *b) {
    if (a->nd != b->nd) return 0;
    for (int i = 0; i < a->nd; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

/* The unit's accepted input counts (0, 0 means exactly one). */
static void input_range(const ln_layer_ops *ops, int *lo, int *hi) {
    *lo = ops->min_inputs, *hi = ops->max_inputs;
    if (*lo == 0 && *hi == 0) *lo = *hi = 1;
}

static ln_status check_count(ln_ctx *ctx, const ln_layer *l, int nin) {
    int lo, hi;
    input_range(l->ops, &lo, &hi);
    if (nin >= lo && (hi < 0 || nin <= hi)) return LN_OK;
    if (lo == hi)
        return ln_fail(ctx, LN_E_ARG, "%s: takes %d input%s, got %d", l->name,
                       lo, lo == 1 ? "" : "s", nin);
    if (hi < 0)
        return ln_fail(ctx, LN_E_ARG, "%s: takes at least %d inputs, got %d",
                       l->name, lo, nin);
    return ln_fail(ctx, LN_E_ARG, "%s: takes %d to %d inputs, got %d", l->name,
                   lo, hi, nin);
}

ln_status ln_layer_build(ln_ctx *ctx, ln_layer *l, int nin,
                         const ln_shape *in) {
    char a[128], b[128];
    ln_status st = check_count(ctx, l, nin);
    if (st) return st;
    if (l->built) {
        if (nin != l->nin)
            return ln_fail(ctx, LN_E_SHAPE, "%s: built for %d inputs, called "
                           "on %d", l->name, l->nin, nin);
        for (int i = 0; i < nin; i++)
            if (!same_shape(&in[i], &l->in[i]))
                return ln_fail(ctx, LN_E_SHAPE,
                               "%s: built for input shape %s, called on %s",
                               l->name, none_shape(&l->in[i], a, sizeof a),
                               none_shape(&in[i], b, sizeof b));
        return LN_OK;
    }
    for (int i = 0; i < nin; i++)
        if (in[i].nd < 0 || in[i].nd >= LN_MAX_DIM)
            return ln_fail(ctx, LN_E_SHAPE, "%s: input of %d dimensions",
                           l->name, in[i].nd);
    ln_shape *copy = malloc(sizeof *copy * (size_t)(nin ? nin : 1));
    if (!copy) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", l->name);
    memcpy(copy, in, sizeof *copy * (size_t)nin);
    int nout = 1;
    ln_shape out[LN_MAX_OUTPUTS];
    memset(out, 0, sizeof out);
    if (nin) out[0] = in[0];
    if (l->ops->build && l->ops->build(ctx, l, nin, in, &nout, out)) {
        free(copy);
        return ln_prefix(ctx, "%s", l->name);
    }
    if (nout < 1 || nout > LN_MAX_OUTPUTS) {
        free(copy);
        return ln_fail(ctx, LN_E_INTERNAL, "%s: the plugin gave %d outputs (1 "
                       "to %d)", l->name, nout, LN_MAX_OUTPUTS);
    }
    free(l->in);
    l->in = copy;
    l->nin = nin;
    l->nout = nout;
    memcpy(l->out, out, sizeof out);
    l->built = 1;
    return LN_OK;
}

/* ---- forward and backward ------------------------------------------------------ */

static ln_status check_inputs(ln_ctx *ctx, ln_layer *l, int nin,
                              const ln_tensor *const *x) {
    if (!l->built) {
        ln_shape in[16] = {{0}}, *s = nin <= 16 ? in : malloc(sizeof *s * (size_t)nin);
        if (!s) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", l->name);
        for (int i = 0; i < nin; i++) {
            s[i].nd = x[i]->ndim - 1;
            for (int d = 1; d < x[i]->ndim; d++) s[i].dim[d - 1] = x[i]->shape[d];
        }
        ln_status st = ln_layer_build(ctx, l, nin, s);
        if (s != in) free(s);
        if (st) return st;
    }
    ln_status st = check_count(ctx, l, nin);
    if (st) return st;
    if (nin != l->nin)
        return ln_fail(ctx, LN_E_SHAPE, "%s: built for %d inputs, called on %d",
                       l->name, l->nin, nin);
    for (int i = 0; i < nin; i++) {
        const ln_tensor *t = x[i];
        const ln_shape *s = &l->in[i];
        int ok = t->dtype == LN_FLOAT32 && t->ndim == s->nd + 1 &&
                 (i == 0 || t->shape[0] == x[0]->shape[0]);
        for (int d = 0; ok && d < s->nd; d++) ok = t->shape[d + 1] == s->dim[d];
        if (ok) continue;
        char a[128], b[128];
        if (t->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "%s: expects float32 input, got %s",
                           l->name, ln_dtype_name(t->dtype));
        return ln_fail(ctx, LN_E_SHAPE, "%s: expected input shape %s, got %s",
                       l->name, none_shape(s, a, sizeof a),
                       ln_shape_str(t, b, sizeof b));
    }
    return LN_OK;
}

/* The output mask after a forward: the plugin's compute_mask, or none. */
static ln_status compute_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x) {
    l->has_out_mask = 0;
    if (!ln_layer_supports_mask(l)) return LN_OK;
    if (!l->out_mask) {
        int64_t zero = 0;
        if (!(l->out_mask = ln_tensor_new(ctx, LN_FLOAT32, 1, &zero))) return ctx->status;
    }
    int has = 0;
    ln_status st = l->ops->compute_mask(ctx, l, x, l->in_mask, l->out_mask, &has);
    if (st) return ln_prefix(ctx, "%s", l->name);
    l->has_out_mask = has;
    return LN_OK;
}

/* Output 0 is input 0's elements (ops 2.4 is_view) in a pass with these
** flags: one input, one output of as many elements, no weights, whatever
** the plugin says. */
static int is_view(const ln_layer *l, unsigned flags) {
    return LN_OPS_HAS(l->ops, is_view) && l->ops->is_view && l->built && l->nin == 1 &&
           l->nout == 1 && l->nweights == 0 &&
           ln_dims_prod(l->in[0].dim, 0, l->in[0].nd) ==
               ln_dims_prod(l->out[0].dim, 0, l->out[0].nd) &&
           l->ops->is_view(l, flags & ~(LN_MAY_VIEW | LN_SKIP_REG));
}

ln_status ln_layer_forward(ln_ctx *ctx, ln_layer *l, int nin,
                           const ln_tensor *const *x, ln_tensor *const *y,
                           unsigned flags) {
    ln_status st = check_inputs(ctx, l, nin, x);
    if (st) return st;
    const int view = (flags & LN_MAY_VIEW) && is_view(l, flags) && x[0]->dtype == y[0]->dtype;
    flags &= ~LN_MAY_VIEW;
    int64_t shape[LN_MAX_DIM];
    shape[0] = nin ? x[0]->shape[0] : 1;
    for (int j = 0; j < l->nout; j++) {
        memcpy(shape + 1, l->out[j].dim, (size_t)l->out[j].nd * sizeof *shape);
        st = view ? ln_tensor_alias(ctx, y[j], x[0], 0, l->out[j].nd + 1, shape)
                  : ln_tensor_resize(ctx, y[j], l->out[j].nd + 1, shape);
        if (st) return st;
    }
    /* masks count for the one forward they were handed over for: a later
    ** call without them (an eager layer call) has none, not stale ones */
    if (!l->mask_armed) l->in_mask = NULL, l->in_masks = NULL;
    l->mask_armed = 0;
    if (!view && (st = l->ops->forward(ctx, l, x, y, flags)))
        return ln_prefix(ctx, "%s", l->name);
    return compute_mask(ctx, l, x);
}

ln_status ln_layer_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                            const ln_tensor *const *y,
                            const ln_tensor *const *dy, ln_tensor *const *dx,
                            ln_grad_sink *sink, unsigned flags) {
    char a[128], b[128];
    l->mask_armed = 0; /* masks set for this backward do not reach a later forward */
    if (!l->built)
        return ln_fail(ctx, LN_E_STATE, "%s: backward before forward", l->name);
    for (int j = 0; j < l->nout; j++)
        if (!ln_shape_equal(dy[j], y[j]))
            return ln_fail(ctx, LN_E_SHAPE,
                           "%s: output gradient of shape %s for output %s",
                           l->name, ln_shape_str(dy[j], a, sizeof a),
                           ln_shape_str(y[j], b, sizeof b));
    ln_status st;
    if ((flags & LN_MAY_VIEW) && is_view(l, flags) && (!dx[0] || dx[0]->dtype == dy[0]->dtype))
        /* no weights: the gradient as it is */
        return dx[0] ? ln_tensor_alias(ctx, dx[0], dy[0], 0, x[0]->ndim, x[0]->shape) : LN_OK;
    flags &= ~LN_MAY_VIEW;
    for (int i = 0; i < l->nin; i++)
        if (dx[i] && (st = ln_tensor_resize(ctx, dx[i], x[i]->ndim, x[i]->shape)))
            return st;
    if (!l->trainable) flags &= ~LN_NEED_DW;
    if (!(flags & LN_NEED_DW)) sink = NULL;
    unsigned skip_reg = flags & LN_SKIP_REG;
    ln__reg_sink reg;
    if (!skip_reg) sink = ln__reg_sink_wrap(l, sink, &reg);
    if ((st = l->ops->backward(ctx, l, x, y, dy, dx, sink, flags & ~LN_SKIP_REG)))
        return ln_prefix(ctx, "%s", l->name);
    if (!(flags & LN_NEED_DW) || skip_reg) return LN_OK;
    return ln__reg_grad(ctx, l, &reg);
}

/* A layer with several outputs (return_state) needs the array forms. */
static ln_status check_single(ln_ctx *ctx, const ln_layer *l) {
    if (!l->built || l->nout == 1) return LN_OK;
    return ln_fail(ctx, LN_E_ARG, "%s: gives %d outputs, called as a layer of "
                   "one output", l->name, l->nout);
}

ln_status ln_layer_forward1(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                            ln_tensor *y, unsigned flags) {
    ln_status st = check_inputs(ctx, l, 1, &x); /* builds it on first use */
    if (st || (st = check_single(ctx, l))) return st;
    return ln_layer_forward(ctx, l, 1, &x, &y, flags);
}

ln_status ln_layer_backward1(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                             const ln_tensor *y, const ln_tensor *dy,
                             ln_tensor *dx, unsigned flags) {
    ln_status st = check_single(ctx, l);
    if (st) return st;
    return ln_layer_backward(ctx, l, &x, &y, &dy, &dx, NULL, flags);
}

double ln_layer_regularization_loss(const ln_layer *l) {
    return ln__reg_penalty(l);
}

void ln_layer_reset_states(ln_layer *l) {
    if (LN_OPS_HAS(l->ops, reset_states) && l->ops->reset_states)
        l->ops->reset_states(l);
}

const char *ln_layer_output_activation(const ln_layer *l) {
    return l->ops->output_activation ? l->ops->output_activation(l) : NULL;
}

int ln_layer_supports_mask(const ln_layer *l) {
    return LN_OPS_HAS(l->ops, compute_mask) && l->ops->compute_mask;
}

void ln_layer_set_input_mask(ln_layer *l, const ln_tensor *mask) {
    l->in_mask = mask;
    l->in_masks = NULL;
    l->mask_armed = 1;
}

void ln_layer_set_input_masks(ln_layer *l, const ln_tensor *const *masks) {
    l->in_masks = masks;
    l->in_mask = masks && l->nin > 0 ? masks[0] : NULL;
    l->mask_armed = 1;
}

const ln_tensor *ln_layer_input_mask(const ln_layer *l) { return l->in_mask; }

const ln_tensor *ln_layer_input_mask_at(const ln_layer *l, int i) {
    if (i < 0 || i >= l->nin) return NULL;
    if (l->in_masks) return l->in_masks[i];
    return i == 0 ? l->in_mask : NULL;
}

const ln_tensor *ln_layer_output_mask(const ln_layer *l) {
    return l->has_out_mask ? l->out_mask : NULL;
}

ln_status ln_mask_keep(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                       const ln_tensor *in_mask, ln_tensor *out_mask, int *has) {
    (void)l, (void)x;
    if (!in_mask) return LN_OK;
    ln_status st = ln_tensor_resize(ctx, out_mask, in_mask->ndim, in_mask->shape);
    if (st) return st;
    memcpy(ln_f32(out_mask), ln_f32(in_mask), (size_t)in_mask->numel * sizeof(float));
    *has = 1;
    return LN_OK;
}
