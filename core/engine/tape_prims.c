/*
** tape_prims.c -- the differentiable primitives gradients are written with
** (tape_impl.h): each computes a new tensor with the kernels and records
** itself when a tape records, so gradients can be differentiated again.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "tape_impl.h"

ln_status tp_record1(ln_ctx *ctx, ln_tape_opcode op, int nin,
                     ln_tensor *const *x, ln_tensor *y, const ln_tape_params *p) {
    if (!ln_tape_active()) return LN_OK;
    return ln_tape_record(ctx, op, nin, x, 1, &y, p);
}

ln_status tp_check_grads(ln_ctx *ctx, int nin, const int *need, ln_tensor **gin) {
    for (int i = 0; i < nin; i++)
        if (need[i] && !gin[i]) {
            for (int j = 0; j < nin; j++) {
                ln_tensor_release(gin[j]);
                gin[j] = NULL;
            }
            return ctx && ctx->status ? ctx->status : LN_E_NOMEM;
        }
    return LN_OK;
}

/* Record y (owned) and return it, or release it on failure. */
static ln_tensor *done(ln_ctx *ctx, ln_tape_opcode op, int nin, ln_tensor *const *x,
                       ln_tensor *y, const ln_tape_params *p) {
    if (!y) return NULL;
    if (tp_record1(ctx, op, nin, x, y, p)) {
        ln_tensor_release(y);
        return NULL;
    }
    return y;
}

static ln_tensor *like(ln_ctx *ctx, const ln_tensor *x) {
    return ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape);
}

ln_tensor *tp_binary(ln_ctx *ctx, ln_tape_opcode op, ln_tensor *a, ln_tensor *b) {
    if (!a || !b) return NULL;
    ln_binary_op k;
    switch (op) {
    case LN_OP_ADD: k = LN_B_ADD; break;
    case LN_OP_SUB: k = LN_B_SUB; break;
    case LN_OP_MUL: k = LN_B_MUL; break;
    case LN_OP_DIV: k = LN_B_DIV; break;
    case LN_OP_POW: k = LN_B_POW; break;
    case LN_OP_MAXIMUM: k = LN_B_MAX; break;
    case LN_OP_MINIMUM: k = LN_B_MIN; break;
    default: ln_fail(ctx, LN_E_INTERNAL, "tape: bad binary op"); return NULL;
    }
    int nd;
    int64_t shape[LN_MAX_DIM];
    if (ln_broadcast_shape(ctx, a->ndim, a->shape, b->ndim, b->shape, &nd, shape))
        return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (z)
        ln_binary(k, ln_f32(z), nd, shape, ln_f32(a), a->ndim, a->shape, ln_f32(b),
                  b->ndim, b->shape);
    return done(ctx, op, 2, (ln_tensor *[]){a, b}, z, NULL);
}

ln_tensor *tp_unary(ln_ctx *ctx, ln_tape_opcode op, ln_tensor *x) {
    if (!x) return NULL;
    ln_unary_op k;
    switch (op) {
    case LN_OP_NEG: k = LN_U_NEG; break;
    case LN_OP_ABS: k = LN_U_ABS; break;
    case LN_OP_EXP: k = LN_U_EXP; break;
    case LN_OP_LOG: k = LN_U_LOG; break;
    case LN_OP_SQRT: k = LN_U_SQRT; break;
    case LN_OP_SQUARE: k = LN_U_SQUARE; break;
    case LN_OP_TANH: k = LN_U_TANH; break;
    case LN_OP_SIGMOID: k = LN_U_SIGMOID; break;
    default: ln_fail(ctx, LN_E_INTERNAL, "tape: bad unary op"); return NULL;
    }
    ln_tensor *y = like(ctx, x);
    if (y) ln_unary(k, ln_f32(y), ln_f32(x), x->numel);
    return done(ctx, op, 1, &x, y, NULL);
}

ln_tensor *tp_affine(ln_ctx *ctx, ln_tensor *x, double a, double b) {
    if (!x) return NULL;
    ln_tensor *y = like(ctx, x);
    if (!y) return NULL;
    const float fa = (float)a, fb = (float)b, *px = ln_f32(x);
    float *py = ln_f32(y);
    int64_t n = x->numel;
#pragma omp parallel for simd if (parallel: n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) py[i] = fa * px[i] + fb;
    ln_tape_params p = {.p = {a, b}};
    return done(ctx, LN_OP_AFFINE, 1, &x, y, &p);
}

ln_tensor *tp_pow_scalar(ln_ctx *ctx, ln_tensor *x, double e) {
    if (!x) return NULL;
    ln_tensor *y = like(ctx, x);
    if (y) ln_binary_scalar(LN_B_POW, ln_f32(y), ln_f32(x), (float)e, 0, x->numel);
    ln_tape_params p = {.p = {e}, .i = {2}};
    return done(ctx, LN_OP_POW, 2, (ln_tensor *[]){x, NULL}, y, &p);
}

ln_tensor *tp_where(ln_ctx *ctx, ln_tensor *cond, ln_tensor *a, double sa,
                    ln_tensor *b, double sb) {
    if (!cond) return NULL;
    ln_tensor *y = ln_where(ctx, cond, a, sa, b, sb);
    ln_tape_params p = {.p = {sa, sb}, .i = {(a ? 0 : 1) | (b ? 0 : 2)}};
    p.aux = cond;
    return done(ctx, LN_OP_WHERE, 2, (ln_tensor *[]){a, b}, y, &p);
}

ln_tensor *tp_sum_to(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape) {
    if (!x) return NULL;
    return done(ctx, LN_OP_SUM_TO, 1, &x, ln_sum_to(ctx, x, nd, shape), NULL);
}

ln_tensor *tp_expand(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape) {
    if (!x) return NULL;
    return done(ctx, LN_OP_EXPAND, 1, &x, ln_expand(ctx, x, nd, shape), NULL);
}

ln_tensor *tp_sum(ln_ctx *ctx, ln_tensor *x, int dim, int keepdim) {
    if (!x) return NULL;
    int64_t shape[LN_MAX_DIM], outer = 1, len = x->numel, inner = 1;
    int nd = 0;
    if (dim >= 0) {
        for (int i = 0; i < x->ndim; i++) {
            if (i < dim) outer *= x->shape[i];
            if (i > dim) inner *= x->shape[i];
            if (i != dim) shape[nd++] = x->shape[i];
            else if (keepdim) shape[nd++] = 1;
        }
        len = x->shape[dim];
    }
    ln_tensor *y = ln_tensor_empty(ctx, LN_FLOAT32, nd, shape);
    if (y && y->numel) ln_reduce(LN_R_SUM, ln_f32(y), ln_f32(x), outer, len, inner);
    ln_tape_params p = {.i = {dim, keepdim}};
    return done(ctx, LN_OP_SUM, 1, &x, y, &p);
}

ln_tensor *tp_reshape(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape) {
    if (!x) return NULL;
    return done(ctx, LN_OP_RESHAPE, 1, &x, ln_tensor_reshape(ctx, x, nd, shape), NULL);
}

ln_tensor *tp_permute(ln_ctx *ctx, ln_tensor *x, const int *perm) {
    if (!x) return NULL;
    ln_tape_params p = {0};
    for (int i = 0; i < x->ndim; i++) p.i[i] = perm[i];
    return done(ctx, LN_OP_PERMUTE, 1, &x, ln_permute(ctx, x, perm), &p);
}

ln_tensor *tp_matmul(ln_ctx *ctx, ln_tensor *a, ln_tensor *b, int ta, int tb) {
    if (!a || !b) return NULL;
    int64_t m = a->shape[ta ? 1 : 0], k = a->shape[ta ? 0 : 1];
    int64_t n = b->shape[tb ? 0 : 1];
    ln_tensor *c = ln_tensor_empty(ctx, LN_FLOAT32, 2, (int64_t[]){m, n});
    if (c) /* on the team when one runs (fit's steps with a Lua unit) */
        ln_gemm_team(ta, tb, m, n, k, 1.0f, ln_f32(a), a->shape[1], ln_f32(b),
                     b->shape[1], 0.0f, ln_f32(c), n, NULL);
    ln_tape_params p = {.i = {ta, tb}};
    return done(ctx, LN_OP_MATMUL, 2, (ln_tensor *[]){a, b}, c, &p);
}

/* ---- regions ------------------------------------------------------------------ */

void ln_tape_params_region(ln_tape_params *p, const ln_region *r) {
    p->i[0] = r->nd;
    p->i[1] = r->offset;
    for (int d = 0; d < r->nd; d++) {
        p->i[2 + d] = r->shape[d];
        p->i[10 + d] = r->stride[d];
    }
}

void tp_region_from_params(const ln_tape_params *p, ln_region *r) {
    r->nd = (int)p->i[0];
    r->offset = p->i[1];
    for (int d = 0; d < r->nd; d++) {
        r->shape[d] = p->i[2 + d];
        r->stride[d] = p->i[10 + d];
    }
}

ln_tensor *tp_region(ln_ctx *ctx, ln_tensor *x, const ln_region *r) {
    if (!x) return NULL;
    ln_tape_params p = {0};
    ln_tape_params_region(&p, r);
    return done(ctx, LN_OP_REGION, 1, &x, ln_region_read(ctx, x, r), &p);
}

ln_tensor *tp_region_scatter(ln_ctx *ctx, ln_tensor *src, const ln_region *r,
                             int nd, const int64_t *shape) {
    if (!src) return NULL;
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (y && ln_region_write(ctx, y, r, src, "gradient")) {
        ln_tensor_release(y);
        return NULL;
    }
    ln_tape_params p = {0};
    ln_tape_params_region(&p, r);
    return done(ctx, LN_OP_REGION_SCATTER, 1, &src, y, &p);
}

/* ---- indexing ------------------------------------------------------------------------ */

ln_tensor *tp_gather(ln_ctx *ctx, ln_tensor *x, int dim, ln_tensor *idx) {
    if (!x || !idx) return NULL;
    ln_tape_params p = {.i = {dim}};
    p.aux = idx;
    return done(ctx, LN_OP_GATHER, 1, &x, ln_gather(ctx, x, dim, idx, 0), &p);
}

ln_tensor *tp_scatter_add(ln_ctx *ctx, ln_tensor *src, int dim, ln_tensor *idx,
                          int nd, const int64_t *shape) {
    if (!src || !idx) return NULL;
    ln_tape_params p = {.i = {dim}};
    p.aux = idx;
    return done(ctx, LN_OP_SCATTER_ADD, 1, &src,
                ln_scatter_add(ctx, nd, shape, dim, idx, 0, src), &p);
}

/* idx: int32 0-based positions as an int64 list (malloc'ed). */
static int64_t *positions(ln_ctx *ctx, const ln_tensor *idx) {
    int64_t *v = malloc(sizeof *v * (size_t)(idx->numel ? idx->numel : 1));
    if (!v) {
        ln_fail(ctx, LN_E_NOMEM, "gradient: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < idx->numel; i++) v[i] = (int64_t)ln_get_f64(idx, i);
    return v;
}

ln_tensor *tp_index(ln_ctx *ctx, ln_tensor *x, int dim, ln_tensor *idx) {
    if (!x) return NULL;
    int64_t *v = positions(ctx, idx);
    ln_tensor *y = v ? ln_index_select(ctx, x, dim, v, idx->numel) : NULL;
    free(v);
    ln_tape_params p = {.i = {dim}};
    p.aux = idx;
    return done(ctx, LN_OP_INDEX, 1, &x, y, &p);
}

ln_tensor *tp_index_add(ln_ctx *ctx, ln_tensor *src, int dim, ln_tensor *idx,
                        int nd, const int64_t *shape) {
    if (!src) return NULL;
    int64_t *v = positions(ctx, idx);
    ln_tensor *y = v ? ln_index_add(ctx, nd, shape, dim, v, idx->numel, src) : NULL;
    free(v);
    ln_tape_params p = {.i = {dim}};
    p.aux = idx;
    return done(ctx, LN_OP_INDEX_ADD, 1, &src, y, &p);
}

ln_tensor *tp_masked_select(ln_ctx *ctx, ln_tensor *x, ln_tensor *mask) {
    if (!x) return NULL;
    ln_tape_params p = {0};
    p.aux = mask;
    return done(ctx, LN_OP_MASKED_SELECT, 1, &x, ln_masked_select(ctx, x, mask), &p);
}

ln_tensor *tp_masked_scatter(ln_ctx *ctx, ln_tensor *src, ln_tensor *mask,
                             int nd, const int64_t *shape) {
    if (!src) return NULL;
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (y && ln_masked_copy(ctx, y, mask, src)) {
        ln_tensor_release(y);
        return NULL;
    }
    ln_tape_params p = {0};
    p.aux = mask;
    return done(ctx, LN_OP_MASKED_SCATTER, 1, &src, y, &p);
}
