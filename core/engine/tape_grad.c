/*
** tape_grad.c -- gradients of the elementwise operations, where, the
** reductions and the softmax family. Formulas are written with the tp_*
** primitives (differentiable again; a NULL argument -- an earlier failure
** -- gives NULL); masks and signs, constant almost everywhere, with plain
** kernels. Broadcast operands get their gradient summed back to their own
** shape. Intermediate results go into a scope released at the end.
*/
#include <math.h>

#include "lunet/memory.h"
#include "tape_impl.h"

typedef struct scope {
    ln_tensor *t[24];
    int n;
} scope;

/* Keep t until the scope ends; returns t. */
static ln_tensor *K(scope *s, ln_tensor *t) {
    if (t && s->n < 24) s->t[s->n++] = t;
    return t;
}

static ln_status end(ln_ctx *ctx, scope *s, const int *need, ln_tensor **gin,
                     int nin) {
    for (int i = 0; i < s->n; i++) ln_tensor_release(s->t[i]);
    return tp_check_grads(ctx, nin, need, gin);
}

/* ---- constants (not recorded) ----------------------------------------------- */

static ln_tensor *const_sign(ln_ctx *ctx, const ln_tensor *x) {
    ln_tensor *s = ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape);
    if (s) ln_unary(LN_U_SIGN, ln_f32(s), ln_f32(x), x->numel);
    return s;
}

/* a op b as a uint8 mask; a NULL operand is the number s. */
static ln_tensor *const_mask(ln_ctx *ctx, ln_binary_op op, const ln_tensor *a,
                             const ln_tensor *b, double s) {
    if (a && b) return ln_compare(ctx, op, a, b);
    return a ? ln_compare_scalar(ctx, op, a, s, 0) : ln_compare_scalar(ctx, op, b, s, 1);
}

/* g summed down to x's shape: g itself (a new reference) when equal. */
static ln_tensor *to_shape(ln_ctx *ctx, ln_tensor *g, const ln_tensor *x) {
    if (!g) return NULL;
    if (ln_shape_equal(g, x)) {
        ln_tensor_retain(g);
        return g;
    }
    return tp_sum_to(ctx, g, x->ndim, x->shape);
}

/* ---- binary ------------------------------------------------------------------------ */

ln_status tp_grad_binary(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                         const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *a = n->x[0], *b = n->x[1], *z = n->y[0], *m;
    double s = n->p.p[0];
    scope S = {0};
    switch (n->op) {
    case LN_OP_ADD:
    case LN_OP_SUB:
        if (need[0]) gin[0] = to_shape(ctx, g, a);
        if (need[1])
            gin[1] = n->op == LN_OP_ADD ? to_shape(ctx, g, b)
                     : tp_unary(ctx, LN_OP_NEG, K(&S, to_shape(ctx, g, b)));
        break;
    case LN_OP_MUL:
        if (need[0]) gin[0] = b ? to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, g, b)), a)
                                : tp_affine(ctx, g, s, 0);
        if (need[1]) gin[1] = a ? to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, g, a)), b)
                                : tp_affine(ctx, g, s, 0);
        break;
    case LN_OP_DIV: /* z = a / b: dz/da = 1 / b, dz/db = -z / b */
        if (need[0]) gin[0] = b ? to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_DIV, g, b)), a)
                                : tp_affine(ctx, g, 1.0 / s, 0);
        if (need[1]) {
            ln_tensor *t = K(&S, tp_binary(ctx, LN_OP_DIV,
                                           K(&S, tp_binary(ctx, LN_OP_MUL, g, z)), b));
            gin[1] = tp_unary(ctx, LN_OP_NEG, K(&S, to_shape(ctx, t, b)));
        }
        break;
    case LN_OP_POW: /* z = a ^ b: dz/da = b a^(b-1), dz/db = z log a */
        if (need[0]) {
            ln_tensor *d;
            if (b)
                d = K(&S, tp_binary(ctx, LN_OP_MUL, b,
                                    K(&S, tp_binary(ctx, LN_OP_POW, a,
                                                    K(&S, tp_affine(ctx, b, 1, -1))))));
            else
                d = K(&S, tp_affine(ctx, K(&S, tp_pow_scalar(ctx, a, s - 1)), s, 0));
            gin[0] = to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, g, d)), a);
        }
        if (need[1]) {
            ln_tensor *gz = K(&S, tp_binary(ctx, LN_OP_MUL, g, z));
            gin[1] = a ? to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, gz,
                                                       K(&S, tp_unary(ctx, LN_OP_LOG, a)))), b)
                       : tp_affine(ctx, gz, log(s), 0);
        }
        break;
    case LN_OP_MOD: /* z = a - floor(a / b) b */
        if (need[0]) gin[0] = to_shape(ctx, g, a);
        if (need[1]) {
            ln_tensor *q = K(&S, ln_tensor_empty(ctx, LN_FLOAT32, z->ndim, z->shape));
            if (q) { /* floor(a / b), a constant */
                float *pq = ln_f32(q);
                if (a)
                    ln_binary(LN_B_DIV, pq, q->ndim, q->shape, ln_f32(a), a->ndim,
                              a->shape, ln_f32(b), b->ndim, b->shape);
                else
                    ln_binary_scalar(LN_B_DIV, pq, ln_f32(b), (float)s, 1, q->numel);
                ln_unary(LN_U_FLOOR, pq, pq, q->numel);
            }
            ln_tensor *t = K(&S, to_shape(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, g, q)), b));
            gin[1] = tp_unary(ctx, LN_OP_NEG, t);
        }
        break;
    case LN_OP_MAXIMUM:
    case LN_OP_MINIMUM: /* ties go to the first operand, as TF */
        m = K(&S, const_mask(ctx, n->op == LN_OP_MAXIMUM ? LN_B_GE : LN_B_LE, a, b, s));
        if (need[0]) gin[0] = to_shape(ctx, K(&S, tp_where(ctx, m, g, 0, NULL, 0)), a);
        if (need[1]) gin[1] = to_shape(ctx, K(&S, tp_where(ctx, m, NULL, 0, g, 0)), b);
        break;
    default:
        return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad binary op");
    }
    return end(ctx, &S, need, gin, 2);
}

/* ---- unary ------------------------------------------------------------------------------ */

ln_status tp_grad_unary(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                        const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *x = n->x[0], *y = n->y[0];
    scope S = {0};
    if (!need[0]) return LN_OK;
    switch (n->op) {
    case LN_OP_NEG: gin[0] = tp_unary(ctx, LN_OP_NEG, g); break;
    case LN_OP_ABS: gin[0] = tp_binary(ctx, LN_OP_MUL, g, K(&S, const_sign(ctx, x))); break;
    case LN_OP_EXP: gin[0] = tp_binary(ctx, LN_OP_MUL, g, y); break;
    case LN_OP_LOG: gin[0] = tp_binary(ctx, LN_OP_DIV, g, x); break;
    case LN_OP_SQRT:
        gin[0] = tp_binary(ctx, LN_OP_DIV, K(&S, tp_affine(ctx, g, 0.5, 0)), y);
        break;
    case LN_OP_SQUARE:
        gin[0] = tp_binary(ctx, LN_OP_MUL, g, K(&S, tp_affine(ctx, x, 2, 0)));
        break;
    case LN_OP_TANH: /* 1 - y^2 */
        gin[0] = tp_binary(ctx, LN_OP_MUL, g,
                           K(&S, tp_affine(ctx, K(&S, tp_unary(ctx, LN_OP_SQUARE, y)), -1, 1)));
        break;
    case LN_OP_SIGMOID: /* y (1 - y) */
        gin[0] = tp_binary(ctx, LN_OP_MUL, g,
                           K(&S, tp_binary(ctx, LN_OP_MUL, y, K(&S, tp_affine(ctx, y, -1, 1)))));
        break;
    case LN_OP_AFFINE: gin[0] = tp_affine(ctx, g, n->p.p[0], 0); break;
    case LN_OP_CLAMP: { /* passes where lo <= x <= hi */
        ln_tensor *c = K(&S, ln_tensor_empty(ctx, LN_UINT8, x->ndim, x->shape));
        if (c) {
            const float *px = ln_f32(x), lo = (float)n->p.p[0], hi = (float)n->p.p[1];
            uint8_t *pc = ln_u8(c);
            for (int64_t i = 0; i < x->numel; i++) pc[i] = px[i] >= lo && px[i] <= hi;
        }
        gin[0] = tp_where(ctx, c, g, 0, NULL, 0);
    } break;
    default: return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad unary op");
    }
    return end(ctx, &S, need, gin, 1);
}

ln_status tp_grad_where(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                        const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *cond = n->p.aux;
    scope S = {0};
    if (need[0]) gin[0] = to_shape(ctx, K(&S, tp_where(ctx, cond, g, 0, NULL, 0)), n->x[0]);
    if (need[1]) gin[1] = to_shape(ctx, K(&S, tp_where(ctx, cond, NULL, 0, g, 0)), n->x[1]);
    return end(ctx, &S, need, gin, 2);
}

/* ---- reductions ------------------------------------------------------------------------- */

/* t (shaped like a reduction's output) with the reduced dim kept as 1. */
static ln_tensor *kept(ln_ctx *ctx, ln_tensor *t, const ln_tensor *x, int dim,
                       int keepdim) {
    if (dim < 0 || keepdim) {
        ln_tensor_retain(t);
        return t;
    }
    int64_t shape[LN_MAX_DIM];
    for (int i = 0; i < x->ndim; i++) shape[i] = i == dim ? 1 : x->shape[i];
    return tp_reshape(ctx, t, x->ndim, shape);
}

/* gk scattered to the positions in aux (max and min). */
static ln_tensor *to_positions(ln_ctx *ctx, scope *S, const tape_node *n,
                               ln_tensor *gk) {
    ln_tensor *x = n->x[0], *pos = n->p.aux;
    int dim = (int)n->p.i[0];
    if (dim >= 0) {
        int64_t shape[LN_MAX_DIM];
        for (int i = 0; i < x->ndim; i++) shape[i] = i == dim ? 1 : x->shape[i];
        ln_tensor *p = K(S, ln_tensor_reshape(ctx, pos, x->ndim, shape));
        return tp_scatter_add(ctx, gk, dim, p, x->ndim, x->shape);
    }
    int64_t one = 1;
    ln_tensor *p = K(S, ln_tensor_reshape(ctx, pos, 1, &one));
    ln_tensor *g1 = K(S, tp_reshape(ctx, gk, 1, &one));
    ln_tensor *flat = K(S, tp_scatter_add(ctx, g1, 0, p, 1, &x->numel));
    return tp_reshape(ctx, flat, x->ndim, x->shape);
}

/* g d|x|_p/dx, with g and the norm y kept-shaped. */
static ln_tensor *norm_grad(ln_ctx *ctx, scope *S, const tape_node *n,
                            ln_tensor *gk, ln_tensor *yk) {
    ln_tensor *x = n->x[0];
    double p = n->p.p[0];
    ln_tensor *sign = K(S, const_sign(ctx, x));
    if (p == 1) return tp_binary(ctx, LN_OP_MUL, gk, sign);
    if (isinf(p)) { /* every entry reaching the largest |x| */
        ln_tensor *ax = K(S, ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape));
        if (!ax) return NULL;
        ln_unary(LN_U_ABS, ln_f32(ax), ln_f32(x), x->numel);
        ln_tensor *m = K(S, ln_compare(ctx, LN_B_EQ, ax, yk));
        return tp_where(ctx, m, K(S, tp_binary(ctx, LN_OP_MUL, gk, sign)), 0, NULL, 0);
    }
    /* g sign(x) |x|^(p-1) / |x|_p^(p-1), taken as 0 where the norm is 0 */
    ln_tensor *zero = K(S, ln_compare_scalar(ctx, LN_B_EQ, yk, 0, 0));
    ln_tensor *den = K(S, tp_where(ctx, zero, NULL, 1, yk, 0));
    ln_tensor *num = x;
    if (p != 2) {
        num = K(S, tp_binary(ctx, LN_OP_MUL, sign,
                             K(S, tp_pow_scalar(ctx, K(S, tp_unary(ctx, LN_OP_ABS, x)), p - 1))));
        den = K(S, tp_pow_scalar(ctx, den, p - 1));
    }
    ln_tensor *q = K(S, tp_binary(ctx, LN_OP_DIV, num, den));
    return tp_binary(ctx, LN_OP_MUL, gk, q);
}

ln_status tp_grad_reduce(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                         const int *need, ln_tensor **gin) {
    ln_tensor *x = n->x[0], *y = n->y[0];
    int dim = (int)n->p.i[0], keep = (int)n->p.i[1];
    scope S = {0};
    if (!need[0]) return LN_OK;
    ln_tensor *gk = K(&S, kept(ctx, gout[0], x, dim, keep));
    switch (n->op) {
    case LN_OP_SUM: gin[0] = tp_expand(ctx, gk, x->ndim, x->shape); break;
    case LN_OP_MEAN: {
        double len = dim >= 0 ? (double)x->shape[dim] : (double)x->numel;
        ln_tensor *e = tp_expand(ctx, gk, x->ndim, x->shape);
        if (e && !ln_tape_active()) { /* first order: scale in place */
            ln_scale(ln_f32(e), ln_f32(e), (float)(1.0 / len), e->numel);
            gin[0] = e;
        } else {
            gin[0] = tp_affine(ctx, K(&S, e), 1.0 / len, 0);
        }
    } break;
    case LN_OP_MAX:
    case LN_OP_MIN: gin[0] = to_positions(ctx, &S, n, gk); break;
    case LN_OP_NORM:
        gin[0] = norm_grad(ctx, &S, n, gk, K(&S, kept(ctx, y, x, dim, keep)));
        break;
    case LN_OP_LOGSUMEXP: { /* g softmax(x) */
        ln_tensor *yk = K(&S, kept(ctx, y, x, dim, keep));
        ln_tensor *e = K(&S, tp_unary(ctx, LN_OP_EXP,
                                      K(&S, tp_binary(ctx, LN_OP_SUB, x, yk))));
        gin[0] = tp_binary(ctx, LN_OP_MUL, gk, e);
    } break;
    default: return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad reduction");
    }
    return end(ctx, &S, need, gin, 1);
}

/* softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g) -- along dim. */
ln_status tp_grad_softmax(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                          const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *y = n->y[0];
    int dim = (int)n->p.i[0];
    scope S = {0};
    if (!need[0]) return LN_OK;
    if (!ln_tape_active()) { /* first order: one fused kernel */
        gin[0] = ln_softmax_grad(ctx, y, g, dim, n->op == LN_OP_LOG_SOFTMAX);
        return end(ctx, &S, need, gin, 1);
    }
    if (n->op == LN_OP_SOFTMAX) {
        ln_tensor *s = K(&S, tp_sum(ctx, K(&S, tp_binary(ctx, LN_OP_MUL, g, y)), dim, 1));
        gin[0] = tp_binary(ctx, LN_OP_MUL, y, K(&S, tp_binary(ctx, LN_OP_SUB, g, s)));
    } else {
        ln_tensor *s = K(&S, tp_sum(ctx, g, dim, 1));
        ln_tensor *e = K(&S, tp_unary(ctx, LN_OP_EXP, y));
        gin[0] = tp_binary(ctx, LN_OP_SUB, g, K(&S, tp_binary(ctx, LN_OP_MUL, e, s)));
    }
    return end(ctx, &S, need, gin, 1);
}
