/*
** tape_grad_shape.c -- gradients of the operations that move elements
** (views, regions, permutations, concatenation), of indexing and of
** matmul. Each is the adjoint move: a region read scatters back into
** zeros, a gather scatter-adds, an index select index-adds, and so on, and
** each adjoint is itself recorded (its own gradient is the forward move).
*/
#include <stdlib.h>

#include "tape_impl.h"

/* The region of input i of a cat (stack: select) along dim inside g. */
static void part_region(const tape_node *n, int i, const ln_tensor *g, int dim,
                        ln_region *r) {
    int64_t start = 0;
    if (n->op == LN_OP_STACK) {
        ln_region_narrow(g, dim, i, 1, 1, r);
        return;
    }
    for (int k = 0; k < i; k++) start += n->x[k]->shape[dim];
    ln_region_narrow(g, dim, start, n->x[i]->shape[dim], 0, r);
}

ln_status tp_grad_shape(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                        const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *x = n->x[0];
    ln_region r;
    switch (n->op) {
    case LN_OP_RESHAPE:
        if (need[0]) gin[0] = tp_reshape(ctx, g, x->ndim, x->shape);
        break;
    case LN_OP_CLONE:
        if (need[0]) ln_tensor_retain(g), gin[0] = g;
        break;
    case LN_OP_PERMUTE: {
        int inv[LN_MAX_DIM];
        for (int d = 0; d < x->ndim; d++) inv[n->p.i[d]] = d;
        if (need[0]) gin[0] = tp_permute(ctx, g, inv);
    } break;
    case LN_OP_SUM_TO:
        if (need[0]) gin[0] = tp_expand(ctx, g, x->ndim, x->shape);
        break;
    case LN_OP_EXPAND:
        if (need[0]) gin[0] = tp_sum_to(ctx, g, x->ndim, x->shape);
        break;
    case LN_OP_REGION:
        tp_region_from_params(&n->p, &r);
        if (need[0]) gin[0] = tp_region_scatter(ctx, g, &r, x->ndim, x->shape);
        break;
    case LN_OP_REGION_SCATTER:
        tp_region_from_params(&n->p, &r);
        if (need[0]) gin[0] = tp_region(ctx, g, &r);
        break;
    case LN_OP_CAT:
    case LN_OP_STACK: {
        int dim = (int)n->p.i[0];
        for (int i = 0; i < n->nin; i++) {
            if (!need[i]) continue;
            part_region(n, i, g, dim, &r);
            gin[i] = tp_region(ctx, g, &r);
        }
    } break;
    default: return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad shape op");
    }
    return tp_check_grads(ctx, n->nin, need, gin);
}

ln_status tp_grad_index(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                        const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *x = n->x[0], *aux = n->p.aux;
    int dim = (int)n->p.i[0];
    if (!need[0]) return LN_OK;
    switch (n->op) {
    case LN_OP_INDEX: gin[0] = tp_index_add(ctx, g, dim, aux, x->ndim, x->shape); break;
    case LN_OP_INDEX_ADD: gin[0] = tp_index(ctx, g, dim, aux); break;
    case LN_OP_GATHER: gin[0] = tp_scatter_add(ctx, g, dim, aux, x->ndim, x->shape); break;
    case LN_OP_SCATTER_ADD: gin[0] = tp_gather(ctx, g, dim, aux); break;
    case LN_OP_MASKED_SELECT:
        gin[0] = tp_masked_scatter(ctx, g, aux, x->ndim, x->shape);
        break;
    case LN_OP_MASKED_SCATTER: gin[0] = tp_masked_select(ctx, g, aux); break;
    default: return ln_fail(ctx, LN_E_INTERNAL, "gradient: bad index op");
    }
    return tp_check_grads(ctx, 1, need, gin);
}

/* z = op(A) op(B):
**   dA = g op(B)^T           (or its transpose, op(B) g^T, when A is used
**   dB = op(A)^T g            transposed; likewise g^T op(A) for B) */
ln_status tp_grad_matmul(ln_ctx *ctx, const tape_node *n, ln_tensor *const *gout,
                         const int *need, ln_tensor **gin) {
    ln_tensor *g = gout[0], *a = n->x[0], *b = n->x[1];
    int ta = (int)n->p.i[0], tb = (int)n->p.i[1];
    if (need[0]) gin[0] = ta ? tp_matmul(ctx, b, g, tb, 1) : tp_matmul(ctx, g, b, 0, !tb);
    if (need[1]) gin[1] = tb ? tp_matmul(ctx, g, a, 1, ta) : tp_matmul(ctx, a, g, !ta, 0);
    return tp_check_grads(ctx, 2, need, gin);
}
