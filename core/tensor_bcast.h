/*
** tensor_bcast.h -- private helpers of the tensor_ops*.c files: numpy
** broadcasting of two operands walked block by block, and the size rule
** for parallel loops.
**
** LN_BC_FOR walks the output in fixed blocks of LN_BC_BLOCK elements; each
** block finds its start coordinates once and then steps an odometer, so
** a block's work does not depend on which thread runs it. LN_BC_RUNS
** walks a block a run of a row at a time (dims the operands step through
** alike merged first), for bodies that are vector loops.
*/
#ifndef LUNET_TENSOR_BCAST_H
#define LUNET_TENSOR_BCAST_H

#include <string.h>

#include "lunet/parallel.h"
#include "lunet/tensor_ops.h"

#define LN_BC_BLOCK 8192

typedef struct ln_bc {
    int nd;
    int64_t shape[LN_MAX_DIM];
    int64_t n;
    int64_t sx[LN_MAX_DIM], sy[LN_MAX_DIM]; /* 0 where broadcast */
} ln_bc;

/* Output shape and strides for x op y; fails naming fn and both shapes. */
static inline ln_status ln_bc_init(ln_ctx *ctx, ln_bc *bc, const ln_tensor *x,
                                   const ln_tensor *y, const char *fn) {
    ln_status st = ln_broadcast_shape(ctx, x->ndim, x->shape, y->ndim,
                                      y->shape, &bc->nd, bc->shape);
    if (st) return ln_prefix(ctx, "%s", fn);
    bc->n = 1;
    for (int i = 0; i < bc->nd; i++) bc->n *= bc->shape[i];
    ln_bc_strides(bc->nd, bc->shape, x->ndim, x->shape, bc->sx);
    ln_bc_strides(bc->nd, bc->shape, y->ndim, y->shape, bc->sy);
    return LN_OK;
}

/* Coordinates and input offsets of output element i. */
static inline void ln_bc_start(const ln_bc *bc, int64_t i, int64_t *c,
                               int64_t *ox, int64_t *oy) {
    *ox = *oy = 0;
    for (int d = bc->nd - 1; d >= 0; d--) {
        c[d] = i % bc->shape[d];
        i /= bc->shape[d];
        *ox += c[d] * bc->sx[d];
        *oy += c[d] * bc->sy[d];
    }
}

/* Step to the next output element. */
static inline void ln_bc_next(const ln_bc *bc, int64_t *c, int64_t *ox,
                              int64_t *oy) {
    for (int d = bc->nd - 1; d >= 0; d--) {
        *ox += bc->sx[d];
        *oy += bc->sy[d];
        if (++c[d] < bc->shape[d]) return;
        *ox -= bc->sx[d] * bc->shape[d];
        *oy -= bc->sy[d] * bc->shape[d];
        c[d] = 0;
    }
}

/* for every output element I with input offsets OX, OY: the body (the
** remaining arguments, so it may contain commas) */
#define LN_BC_FOR(BC, I, OX, OY, ...)                                       \
    do {                                                                     \
        const ln_bc *bc_ = (BC);                                             \
        int64_t nb_ = (bc_->n + LN_BC_BLOCK - 1) / LN_BC_BLOCK;              \
        LN_PAR_FOR(bc_->n) \
        for (int64_t b_ = 0; b_ < nb_; b_++) {                               \
            int64_t c_[LN_MAX_DIM], OX, OY, lo_ = b_ * LN_BC_BLOCK;          \
            int64_t hi_ = lo_ + LN_BC_BLOCK < bc_->n ? lo_ + LN_BC_BLOCK     \
                                                     : bc_->n;               \
            ln_bc_start(bc_, lo_, c_, &OX, &OY);                             \
            for (int64_t I = lo_; I < hi_; I++) {                            \
                __VA_ARGS__;                                                 \
                ln_bc_next(bc_, c_, &OX, &OY);                               \
            }                                                                \
        }                                                                    \
    } while (0)

/* m = bc with its dims of size 1 dropped and adjacent dims merged where
** both operands step through them as one (contiguous across them, or
** broadcast over both): the same elements in the same order, in fewer
** and longer rows; at least one dim. */
static inline void ln_bc_merged(const ln_bc *bc, ln_bc *m) {
    int nd = 0;
    m->n = bc->n;
    for (int d = 0; d < bc->nd; d++) {
        const int64_t k = bc->shape[d], sx = bc->sx[d], sy = bc->sy[d];
        if (k == 1) continue;
        if (nd > 0 && m->sx[nd - 1] == sx * k && m->sy[nd - 1] == sy * k) {
            m->shape[nd - 1] *= k;
            m->sx[nd - 1] = sx;
            m->sy[nd - 1] = sy;
        } else {
            m->shape[nd] = k;
            m->sx[nd] = sx;
            m->sy[nd] = sy;
            nd++;
        }
    }
    if (nd == 0) m->shape[0] = 1, m->sx[0] = m->sy[0] = 0, nd = 1;
    m->nd = nd;
}

/* Step len elements along the last dim (to its end at most), carrying. */
static inline void ln_bc_skip(const ln_bc *bc, int64_t *c, int64_t len,
                              int64_t *ox, int64_t *oy) {
    const int L = bc->nd - 1;
    *ox += len * bc->sx[L];
    *oy += len * bc->sy[L];
    if ((c[L] += len) < bc->shape[L]) return;
    *ox -= bc->sx[L] * bc->shape[L];
    *oy -= bc->sy[L] * bc->shape[L];
    c[L] = 0;
    for (int d = L - 1; d >= 0; d--) {
        *ox += bc->sx[d];
        *oy += bc->sy[d];
        if (++c[d] < bc->shape[d]) return;
        *ox -= bc->sx[d] * bc->shape[d];
        *oy -= bc->sy[d] * bc->shape[d];
        c[d] = 0;
    }
}

/* Within elements [LO, HI) of a merged walk M (ln_bc_merged): for every
** run of LEN output elements from I along a row, the operands' runs
** starting at offsets OX, OY (stepping by M's last sx, sy: 0 or 1), the
** body (the remaining arguments). Callers split the output into fixed
** blocks (LN_BC_BLOCK), so the work of a block never depends on the thread
** that walks it, and walk a block inside a per-CPU cloned function. */
#define LN_BC_RUNS(M, LO, HI, I, LEN, OX, OY, ...)                           \
    do {                                                                     \
        const ln_bc *m_ = (M);                                               \
        const int L_ = m_->nd - 1;                                           \
        const int64_t hi_ = (HI);                                            \
        int64_t c_[LN_MAX_DIM], OX, OY, I = (LO);                            \
        ln_bc_start(m_, I, c_, &OX, &OY);                                    \
        while (I < hi_) {                                                    \
            const int64_t left_ = m_->shape[L_] - c_[L_];                    \
            const int64_t LEN = left_ < hi_ - I ? left_ : hi_ - I;           \
            __VA_ARGS__;                                                     \
            I += LEN;                                                        \
            ln_bc_skip(m_, c_, LEN, &OX, &OY);                               \
        }                                                                    \
    } while (0)

#endif
