/*
** tensor_ops_mask.c -- masks: comparisons giving uint8 0/1 tensors, logical
** and/or/xor/not, and selection or assignment through a mask.
**
** Selections are laid out by a prefix sum over fixed blocks of mask cells
** (counted in parallel, summed in block order), so every output position
** is known before copying and the result never depends on thread count.
*/
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "par_for.h"
#include "tensor_bcast.h"
#include "tensor_dtype.h"

#define MASK_BLOCK 4096

static int is_compare(ln_ctx *ctx, ln_binary_op op) {
    if (op >= LN_B_EQ && op <= LN_B_GE) return 1;
    ln_fail(ctx, LN_E_ARG, "compare: operator %d is not a comparison", op);
    return 0;
}

/* Elements [lo, hi) of p (of type T) against the number s, compared in
** double (exact for every dtype), one vector loop per operator (a number first
** flips the operator: see ln_compare_scalar). */
#define CMP_LOOP(EXPR)                                                       \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) m[i] = (EXPR); \
    } while (0)
#define CMP_BLOCK(NAME, T)                                                   \
    LN_CLONES static void NAME(uint8_t *m, const T *p, double s, ln_binary_op op, \
                               int64_t lo, int64_t hi) {                     \
        switch (op) {                                                        \
        case LN_B_EQ: CMP_LOOP((double)p[i] == s); break;                    \
        case LN_B_NE: CMP_LOOP((double)p[i] != s); break;                    \
        case LN_B_LT: CMP_LOOP((double)p[i] < s); break;                     \
        case LN_B_LE: CMP_LOOP((double)p[i] <= s); break;                    \
        case LN_B_GT: CMP_LOOP((double)p[i] > s); break;                     \
        case LN_B_GE: CMP_LOOP((double)p[i] >= s); break;                    \
        default: break;                                                      \
        }                                                                    \
    }
CMP_BLOCK(cmp_f32_block, float)
CMP_BLOCK(cmp_i32_block, int32_t)
CMP_BLOCK(cmp_u8_block, uint8_t)
#undef CMP_BLOCK

/* Elements [lo, hi) of two tensors of one shape and dtype, compared in
** their type (exactly as in double: widening is exact) */
#define CMP_PAIR_BLOCK(NAME, T)                                              \
    LN_CLONES static void NAME(uint8_t *m, const T *p, const T *q,           \
                               ln_binary_op op, int64_t lo, int64_t hi) {    \
        switch (op) {                                                        \
        case LN_B_EQ: CMP_LOOP(p[i] == q[i]); break;                         \
        case LN_B_NE: CMP_LOOP(p[i] != q[i]); break;                         \
        case LN_B_LT: CMP_LOOP(p[i] < q[i]); break;                          \
        case LN_B_LE: CMP_LOOP(p[i] <= q[i]); break;                         \
        case LN_B_GT: CMP_LOOP(p[i] > q[i]); break;                          \
        case LN_B_GE: CMP_LOOP(p[i] >= q[i]); break;                         \
        default: break;                                                      \
        }                                                                    \
    }
CMP_PAIR_BLOCK(cmp_f32_pair_block, float)
CMP_PAIR_BLOCK(cmp_i32_pair_block, int32_t)
CMP_PAIR_BLOCK(cmp_u8_pair_block, uint8_t)
#undef CMP_PAIR_BLOCK
#undef CMP_LOOP

/* Broadcast or mixed-dtype operands: each run of a row (LN_BC_RUNS)
** widened to double WIDE elements at a time (exact for every dtype), then
** one vector loop per operator (the walker with a switch per element took
** 2.3 ns an element: 3.5-25x PyTorch's time). */
#define WIDE 256

__attribute__((always_inline)) static inline void
widen_run(double *w, const ln_tensor *t, int64_t off, int64_t step, int64_t n) {
#define WIDEN(T, AT)                                                         \
    do {                                                                     \
        const T *p = AT(t) + off;                                            \
        if (step) {                                                          \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) w[i] = p[i]; \
        } else {                                                             \
            const double v = p[0];                                           \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) w[i] = v;    \
        }                                                                    \
    } while (0)
    LN_DTYPE_SWITCH(t->dtype, WIDEN);
#undef WIDEN
}

#define RUN_LOOP(EXPR)                                                       \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) m[i] = (EXPR);   \
    } while (0)
__attribute__((always_inline)) static inline void
cmp_run(ln_binary_op op, uint8_t *m, const double *a, const double *b, int64_t n) {
    switch (op) {
    case LN_B_EQ: RUN_LOOP(a[i] == b[i]); break;
    case LN_B_NE: RUN_LOOP(a[i] != b[i]); break;
    case LN_B_LT: RUN_LOOP(a[i] < b[i]); break;
    case LN_B_LE: RUN_LOOP(a[i] <= b[i]); break;
    case LN_B_GT: RUN_LOOP(a[i] > b[i]); break;
    case LN_B_GE: RUN_LOOP(a[i] >= b[i]); break;
    default: break;
    }
}

__attribute__((always_inline)) static inline void
logic_run(ln_logic_op op, uint8_t *m, const double *a, const double *b, int64_t n) {
    switch (op) {
    case LN_L_AND: RUN_LOOP((a[i] != 0) & (b[i] != 0)); break;
    case LN_L_OR: RUN_LOOP((a[i] != 0) | (b[i] != 0)); break;
    case LN_L_XOR: RUN_LOOP((a[i] != 0) ^ (b[i] != 0)); break;
    }
}
#undef RUN_LOOP

/* Elements [lo, hi) of z = x op y (m: the merged walk; logic: op is an
** ln_logic_op, else an ln_binary_op comparison). */
LN_CLONES static void widened_block(int op, int logic, const ln_bc *m, uint8_t *z,
                                    const ln_tensor *x, const ln_tensor *y,
                                    int64_t lo, int64_t hi) {
    const int64_t sx = m->sx[m->nd - 1], sy = m->sy[m->nd - 1];
    double a[WIDE], b[WIDE];
    LN_BC_RUNS(m, lo, hi, i, len, ox, oy,
        for (int64_t k = 0; k < len; k += WIDE) {
            const int64_t n = len - k < WIDE ? len - k : WIDE;
            widen_run(a, x, ox + k * sx, sx, n);
            widen_run(b, y, oy + k * sy, sy, n);
            if (logic) logic_run((ln_logic_op)op, z + i + k, a, b, n);
            else cmp_run((ln_binary_op)op, z + i + k, a, b, n);
        });
}

static void widened(int op, int logic, const ln_bc *bc, uint8_t *z,
                    const ln_tensor *x, const ln_tensor *y) {
    ln_bc m;
    ln_bc_merged(bc, &m);
    LN_FOR_BLOCKS(m.n, LN_BC_BLOCK, m.n, lo, hi,
                  widened_block(op, logic, &m, z, x, y, lo, hi););
}

ln_tensor *ln_compare_scalar(ln_ctx *ctx, ln_binary_op op, const ln_tensor *x,
                             double s, int scalar_first) {
    if (!is_compare(ctx, op)) return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_UINT8, x->ndim, x->shape);
    if (!z) return NULL;
    uint8_t *m = ln_u8(z);
    /* s op x is x op' s: > and <, >= and <= swap; == and != stay */
    const ln_binary_op o = !scalar_first ? op
                           : op == LN_B_LT ? LN_B_GT
                           : op == LN_B_GT ? LN_B_LT
                           : op == LN_B_LE ? LN_B_GE
                           : op == LN_B_GE ? LN_B_LE
                                           : op;
    const void *p = ln_data(x);
    LN_FOR_BLOCKS(x->numel, MASK_BLOCK, x->numel, lo, hi,
        switch (x->dtype) {
        case LN_FLOAT32: cmp_f32_block(m, p, s, o, lo, hi); break;
        case LN_INT32: cmp_i32_block(m, p, s, o, lo, hi); break;
        case LN_UINT8: cmp_u8_block(m, p, s, o, lo, hi); break;
        });
    return z;
}

ln_tensor *ln_compare(ln_ctx *ctx, ln_binary_op op, const ln_tensor *x,
                      const ln_tensor *y) {
    if (!is_compare(ctx, op)) return NULL;
    ln_bc bc;
    if (ln_bc_init(ctx, &bc, x, y, "compare")) return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_UINT8, bc.nd, bc.shape);
    if (!z) return NULL;
    uint8_t *m = ln_u8(z);
    if (x->dtype == y->dtype && ln_shape_equal(x, y)) {
        const void *p = ln_data(x), *q = ln_data(y);
        LN_FOR_BLOCKS(x->numel, MASK_BLOCK, x->numel, lo, hi,
            switch (x->dtype) {
            case LN_FLOAT32: cmp_f32_pair_block(m, p, q, op, lo, hi); break;
            case LN_INT32: cmp_i32_pair_block(m, p, q, op, lo, hi); break;
            case LN_UINT8: cmp_u8_pair_block(m, p, q, op, lo, hi); break;
            });
        return z;
    }
    widened(op, 0, &bc, m, x, y);
    return z;
}

/* Two uint8 tensors of one shape, and a uint8 tensor's not: one vector
** loop per operator (through the broadcast walker with a switch per
** element: 65x PyTorch's time for two 30k masks) */
LN_CLONES static void logic_u8_pair_block(uint8_t *m, const uint8_t *p,
                                          const uint8_t *q, ln_logic_op op,
                                          int64_t lo, int64_t hi) {
    switch (op) {
    case LN_L_AND:
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) m[i] = (p[i] != 0) & (q[i] != 0);
        break;
    case LN_L_OR:
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) m[i] = (p[i] | q[i]) != 0;
        break;
    case LN_L_XOR:
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) m[i] = (p[i] != 0) ^ (q[i] != 0);
        break;
    }
}

LN_CLONES static void not_u8_block(uint8_t *m, const uint8_t *p, int64_t lo,
                                   int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) m[i] = p[i] == 0;
}

ln_tensor *ln_logical(ln_ctx *ctx, ln_logic_op op, const ln_tensor *x,
                      const ln_tensor *y) {
    ln_bc bc;
    if (ln_bc_init(ctx, &bc, x, y, "logical op")) return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_UINT8, bc.nd, bc.shape);
    if (!z) return NULL;
    uint8_t *m = ln_u8(z);
    if (x->dtype == LN_UINT8 && y->dtype == LN_UINT8 && ln_shape_equal(x, y)) {
        const uint8_t *px = ln_u8(x), *py = ln_u8(y);
        LN_FOR_BLOCKS(x->numel, MASK_BLOCK, x->numel, lo, hi,
                    logic_u8_pair_block(m, px, py, op, lo, hi););
    } else {
        widened(op, 1, &bc, m, x, y);
    }
    return z;
}

ln_tensor *ln_logical_not(ln_ctx *ctx, const ln_tensor *x) {
    ln_tensor *z = ln_tensor_empty(ctx, LN_UINT8, x->ndim, x->shape);
    if (!z) return NULL;
    uint8_t *m = ln_u8(z);
    int64_t n = x->numel;
    if (x->dtype == LN_UINT8) {
        const uint8_t *p = ln_u8(x);
        LN_FOR_BLOCKS(n, MASK_BLOCK, n, lo, hi, not_u8_block(m, p, lo, hi););
    } else {
        LN_FOR(n,
        for (int64_t i = 0; i < n; i++) m[i] = ln_get_f64(x, i) == 0;);
    }
    return z;
}

/* Nonzero cells of m[lo, hi) (one vector loop: 32-bit lane counts, a
** block has at most MASK_BLOCK). */
LN_CLONES static int64_t nonzero_block(const uint8_t *m, int64_t lo, int64_t hi) {
    int32_t c = 0;
#pragma omp simd reduction(+ : c)
    for (int64_t i = lo; i < hi; i++) c += m[i] != 0;
    return c;
}

int64_t ln_count_nonzero_u8(const uint8_t *m, int64_t n) {
    int64_t c = 0;
    const int64_t nb = (n + MASK_BLOCK - 1) / MASK_BLOCK;
    LN_SUM_FOR(n, c, for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * MASK_BLOCK;
        c += nonzero_block(m, lo, lo + MASK_BLOCK < n ? lo + MASK_BLOCK : n);
    });
    return c;
}

ln_status ln_mask_check(ln_ctx *ctx, const ln_tensor *x, const ln_tensor *mask,
                        const char *fn, int64_t *cell) {
    char a[128], b[128];
    if (mask->dtype != LN_UINT8)
        return ln_fail(ctx, LN_E_ARG, "%s: a mask must be a uint8 tensor (from "
                       ":eq, :gt, ...), got %s", fn, ln_dtype_name(mask->dtype));
    int ok = mask->ndim <= x->ndim && mask->ndim > 0;
    for (int i = 0; ok && i < mask->ndim; i++) ok = mask->shape[i] == x->shape[i];
    if (!ok)
        return ln_fail(ctx, LN_E_SHAPE, "%s: mask of shape %s does not fit "
                       "tensor of shape %s (it must match the leading dims)",
                       fn, ln_shape_str(mask, a, sizeof a),
                       ln_shape_str(x, b, sizeof b));
    *cell = ln_dims_prod(x->shape, mask->ndim, x->ndim);
    return LN_OK;
}

/* Block offsets for a mask: off[b] = number of selected cells before block
** b; returns the total, or -1 when out of memory. *offp is malloc'ed. */
static int64_t mask_offsets(const uint8_t *m, int64_t n, int64_t **offp) {
    int64_t nb = (n + MASK_BLOCK - 1) / MASK_BLOCK;
    int64_t *off = malloc(sizeof *off * (size_t)(nb + 1));
    if (!off) return -1;
    LN_FOR_BLOCKS(n, MASK_BLOCK, n, lo, hi, off[lo / MASK_BLOCK] = nonzero_block(m, lo, hi););
    int64_t total = 0;
    for (int64_t b = 0; b < nb; b++) {
        int64_t c = off[b];
        off[b] = total;
        total += c;
    }
    off[nb] = total;
    *offp = off;
    return total;
}

/* Cells of 1 or 4 bytes of the block [lo, hi) whose dense slots start at
** k: without a branch per cell (one per cell was mispredicted on half of
** a random mask). Every cell up to the block's last selected one is
** copied to slot k (gather) or blended from it (scatter), and k steps on
** selected cells only: an unselected cell's slot is the next selected
** one's, which then overwrites it (gather) or which it only reads
** (scatter), so no slot outside the block's own is touched. The blend is
** written with a bit mask: GCC made `m[i] ? v : x[i]` a branch. */
#define MOVE_CELLS(NAME, T)                                                  \
    LN_CLONES static void NAME(T *x, T *dense, const uint8_t *m, int64_t lo,  \
                               int64_t hi, int64_t k, int scatter) {         \
        int64_t last = hi - 1;                                               \
        while (last >= lo && !m[last]) last--;                               \
        if (scatter)                                                         \
            for (int64_t i = lo; i <= last; i++) {                           \
                const T on = (T)0 - (T)(m[i] != 0);                          \
                x[i] = (dense[k] & on) | (x[i] & (T)~on);                    \
                k += m[i] != 0;                                              \
            }                                                                \
        else                                                                 \
            for (int64_t i = lo; i <= last; i++) {                           \
                dense[k] = x[i];                                             \
                k += m[i] != 0;                                              \
            }                                                                \
    }
MOVE_CELLS(move_cells4, uint32_t)
MOVE_CELLS(move_cells1, uint8_t)

/* Copy selected cells between a dense array and the masked positions:
** gather (dense <- x[mask]) or scatter (x[mask] <- dense). */
static void mask_move(char *x, char *dense, const uint8_t *m, int64_t n,
                      const int64_t *off, size_t cellb, int scatter) {
    LN_FOR_BLOCKS(n, MASK_BLOCK, n * (int64_t)cellb, lo, hi,
        int64_t k = off[lo / MASK_BLOCK];
        if (off[lo / MASK_BLOCK + 1] == k) continue; /* nothing selected */
        if (cellb == 4 && ((uintptr_t)x | (uintptr_t)dense) % 4 == 0) {
            move_cells4((uint32_t *)x, (uint32_t *)dense, m, lo, hi, k, scatter);
            continue;
        }
        if (cellb == 1) {
            move_cells1((uint8_t *)x, (uint8_t *)dense, m, lo, hi, k, scatter);
            continue;
        }
        for (int64_t i = lo; i < hi; i++) {
            if (!m[i]) continue;
            char *xp = x + (size_t)i * cellb, *dp = dense + (size_t)k * cellb;
            if (scatter) memcpy(xp, dp, cellb); else memcpy(dp, xp, cellb);
            k++;
        });
}

ln_tensor *ln_masked_select(ln_ctx *ctx, const ln_tensor *x,
                            const ln_tensor *mask) {
    int64_t cell, *off;
    if (ln_mask_check(ctx, x, mask, "mask selection", &cell)) return NULL;
    int64_t count = mask_offsets(ln_u8(mask), mask->numel, &off);
    if (count < 0) {
        ln_fail(ctx, LN_E_NOMEM, "mask selection: out of memory");
        return NULL;
    }
    int64_t shape[LN_MAX_DIM];
    int nd = 1 + x->ndim - mask->ndim;
    shape[0] = count;
    for (int i = 1; i < nd; i++) shape[i] = x->shape[mask->ndim + i - 1];
    ln_tensor *y = ln_tensor_empty(ctx, x->dtype, nd, shape); /* count cells moved in */
    if (y && y->numel)
        mask_move(ln_data(x), ln_data(y), ln_u8(mask), mask->numel, off,
                  (size_t)cell * ln_dtype_size(x->dtype), 0);
    free(off);
    return y;
}

/* p[i] = m[i] ? v : p[i] for one-element cells, blocks [lo, hi): a blend
** the compiler vectorises (a branch per element mispredicted on half of a
** random mask: 0.99x PyTorch's out-of-place masked_fill at 30k). */
#define FILL_BLEND(NAME, T)                                                  \
    LN_CLONES static void NAME(T *p, const uint8_t *m, T v, int64_t lo,       \
                               int64_t hi) {                                 \
        LN_PRAGMA_(omp simd)                                                 \
        for (int64_t i = lo; i < hi; i++) p[i] = m[i] ? v : p[i];            \
    }
FILL_BLEND(fill_blend4, uint32_t)
FILL_BLEND(fill_blend1, uint8_t)

ln_status ln_masked_fill(ln_ctx *ctx, ln_tensor *x, const ln_tensor *mask,
                         double v) {
    int64_t cell;
    if (ln_mask_check(ctx, x, mask, "masked assignment", &cell))
        return ctx->status;
    if (!ln_value_fits(x->dtype, v))
        return ln_fail(ctx, LN_E_ARG, "masked assignment: value %g does not "
                       "fit in %s", v, ln_dtype_name(x->dtype));
    const uint8_t *m = ln_u8(mask);
    int64_t n = mask->numel;
    if (cell == 1) {
        union { float f; int32_t i; uint32_t u; } w;
        if (x->dtype == LN_FLOAT32) w.f = (float)v;
        else w.i = (int32_t)v;
        LN_FOR_BLOCKS(n, MASK_BLOCK, n, lo, hi,
            if (x->dtype == LN_UINT8) fill_blend1(ln_u8(x), m, (uint8_t)v, lo, hi);
            else fill_blend4(ln_data(x), m, w.u, lo, hi););
        return LN_OK;
    }
#define FILL(T, ACC)                                                          \
    do {                                                                      \
        T *p = ACC(x), val = (T)v;                                            \
        LN_FOR(n * cell, \
        for (int64_t i = 0; i < n; i++)                                       \
            if (m[i])                                                         \
                for (int64_t j = 0; j < cell; j++) p[i * cell + j] = val;);     \
    } while (0)
    LN_DTYPE_SWITCH(x->dtype, FILL);
#undef FILL
    return LN_OK;
}

ln_status ln_masked_copy(ln_ctx *ctx, ln_tensor *x, const ln_tensor *mask,
                         const ln_tensor *src) {
    int64_t cell, *off;
    if (ln_mask_check(ctx, x, mask, "masked assignment", &cell))
        return ctx->status;
    int64_t count = mask_offsets(ln_u8(mask), mask->numel, &off);
    if (count < 0)
        return ln_fail(ctx, LN_E_NOMEM, "masked assignment: out of memory");
    if (src->dtype != x->dtype || src->numel != count * cell) {
        char a[128], b[128];
        free(off);
        return ln_fail(ctx, LN_E_SHAPE, "masked assignment: %lld cells of %lld "
                       "elements selected in %s %s, but the values are %s %s",
                       (long long)count, (long long)cell, ln_dtype_name(x->dtype),
                       ln_shape_str(x, a, sizeof a), ln_dtype_name(src->dtype),
                       ln_shape_str(src, b, sizeof b));
    }
    if (count)
        mask_move(ln_data(x), ln_data(src), ln_u8(mask), mask->numel, off,
                  (size_t)cell * ln_dtype_size(x->dtype), 1);
    free(off);
    return LN_OK;
}
