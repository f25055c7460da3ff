/*
** tensor_ops_math.c -- arithmetic kernels.h does not cover (int32 with
** broadcasting, floor division and modulo, clamp keeping the dtype),
** whole-tensor reductions of any dtype, and whole-tensor comparisons.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/kernels.h"
#include "lunet/memory.h"
#include "lunet/overflow.h"
#include "lunet/parallel.h"
#include "par_for.h"
#include "tensor_bcast.h"

#define RED_BLOCK 4096

/* r = a op b, exactly, for integer operands (b != 0 for IDIV and MOD, as
** Lua's floor division and modulo); 0 when the result does not fit int32
** (every int32 result is exact: no wrap). */
static inline int arith1_i(ln_arith_op op, int64_t a, int64_t b, int32_t *r) {
    int64_t v = 0;
    int ok = 1;
    switch (op) {
    case LN_A_ADD: ok = ln_add_ok(a, b, &v); break;
    case LN_A_SUB: ok = !__builtin_sub_overflow(a, b, &v); break;
    case LN_A_MUL: ok = ln_mul_ok(a, b, &v); break;
    case LN_A_IDIV:
        if (b == -1) ok = !__builtin_sub_overflow((int64_t)0, a, &v);
        else {
            v = a / b;
            if ((a % b != 0) && ((a < 0) != (b < 0))) v--;
        }
        break;
    case LN_A_MOD:
        v = b == -1 ? 0 : a % b;
        if (v != 0 && ((v < 0) != (b < 0))) v += b;
        break;
    case LN_A_MAX: v = a > b ? a : b; break;
    case LN_A_MIN: v = a < b ? a : b; break;
    }
    *r = (int32_t)v;
    return ok && v >= INT32_MIN && v <= INT32_MAX;
}

/* z[i] = a op b for i in [lo, hi), a = pa[i * sa], b = pb[i * sb] (steps 0
** for a number, 1 for a tensor), op one of + - * max min, in 32-bit lanes
** (64-bit lanes, widened and narrowed, ran `*` at 0.76x PyTorch): the
** wrapped result, and in the sign bits OR'ed into acc[0..16) whether one
** may be outside int32. + and - test the sign bits exactly; * tests the
** float32 product, whose three roundings keep it within 2^-22 of the true
** one, so every product outside int32 has |f| >= 2^31 - 2^10 and a few
** inside it are flagged too (then checked exactly). One vector loop per
** operator (arith1_i's switch per element kept int32 tensors 7-27x behind
** PyTorch), 16 elements a step, the last 16 of a run done again instead
** of a scalar remainder (z never overlaps a or b); acc's lanes rather
** than a reduction, whose finish (16 scalar steps) and remainder took half
** the time of a broadcast over rows of 100. */
#define I32_LOOP(A, B, EXPR, BAD)                                            \
    do {                                                                     \
        if (hi - lo < 16) {                                                  \
            for (int64_t i = lo; i < hi; i++) {                              \
                const int32_t a = (A), b = (B), v = (EXPR);                  \
                acc[0] |= (BAD);                                             \
                z[i] = v;                                                    \
            }                                                                \
            break;                                                           \
        }                                                                    \
        int64_t j = lo;                                                      \
        for (; j + 16 <= hi; j += 16) I32_STEP(j, A, B, EXPR, BAD);          \
        if (j < hi) I32_STEP(hi - 16, A, B, EXPR, BAD);                      \
    } while (0)
/* 16 lanes from element J: the loop above runs whole steps, then the last
** 16 again (the clamp of the last step inside the loop cost GCC's code a
** second branch per step: int32 + on 30k elements 1.65 -> 1.48 us) */
#define I32_STEP(J, A, B, EXPR, BAD)                                         \
    do {                                                                     \
        const int64_t j_ = (J);                                              \
        _Pragma("omp simd")                                                  \
        for (int l = 0; l < 16; l++) {                                       \
            const int64_t i = j_ + l;                                        \
            const int32_t a = (A), b = (B), v = (EXPR);                      \
            acc[l] |= (BAD);                                                 \
            z[i] = v;                                                        \
        }                                                                    \
    } while (0)
#define WRAP(EXPR) ((int32_t)(EXPR))
#define I32_OPS(A, B)                                                        \
    switch (op) {                                                            \
    case LN_A_ADD: I32_LOOP(A, B, WRAP((uint32_t)a + (uint32_t)b),           \
                            (a ^ v) & (b ^ v)); break;                       \
    case LN_A_SUB: I32_LOOP(A, B, WRAP((uint32_t)a - (uint32_t)b),           \
                            (a ^ b) & (a ^ v)); break;                       \
    case LN_A_MUL: I32_LOOP(A, B, WRAP((uint32_t)a * (uint32_t)b),           \
                            -(int32_t)(fabsf((float)a * (float)b) >= 2147482624.0f)); \
        break;                                                               \
    case LN_A_MAX: I32_LOOP(A, B, a > b ? a : b, 0); break;                  \
    case LN_A_MIN: I32_LOOP(A, B, a < b ? a : b, 0); break;                  \
    default: acc[0] = -1; /* // and %: not here */                           \
    }
__attribute__((always_inline)) static inline void
i32_run(ln_arith_op op, int32_t *z, const int32_t *pa, int64_t sa, const int32_t *pb,
        int64_t sb, int64_t lo, int64_t hi, int32_t *acc) {
    const int32_t a0 = pa[0], b0 = pb[0];
    if (sa && sb) I32_OPS(pa[i], pb[i])
    else if (sa) I32_OPS(pa[i], b0)
    else if (sb) I32_OPS(a0, pb[i])
    else I32_OPS(a0, b0)
}
#undef I32_OPS
#undef WRAP
#undef I32_LOOP
#undef I32_STEP

static int any_negative16(const int32_t *acc) {
    int32_t all = 0;
    for (int l = 0; l < 16; l++) all |= acc[l];
    return all < 0;
}

LN_CLONES static int i32_block(ln_arith_op op, int32_t *z, const int32_t *pa, int64_t sa,
                               const int32_t *pb, int64_t sb, int64_t lo, int64_t hi) {
    int32_t acc[16] = {0};
    i32_run(op, z, pa, sa, pb, sb, lo, hi, acc);
    return any_negative16(acc);
}

/* Whether op on same-shape or number operands has a vector loop. */
static int i32_vector_op(ln_arith_op op) {
    return op != LN_A_IDIV && op != LN_A_MOD;
}

/* Whether a result in [lo, hi) is outside int32, by arith1_i. */
static int i32_outside(ln_arith_op op, const int32_t *pa, int64_t sa,
                       const int32_t *pb, int64_t sb, int64_t lo, int64_t hi) {
    int32_t r;
    for (int64_t i = lo; i < hi; i++)
        if (!arith1_i(op, pa[i * sa], pb[i * sb], &r)) return 1;
    return 0;
}

/* Elements [lo, hi) of a broadcast z = x op y (m: the merged walk), a
** vector loop per run of a row, the block checked exactly when flagged;
** 1 when a result does not fit. */
LN_CLONES static int i32_bc_block(ln_arith_op op, const ln_bc *m, int32_t *z,
                                  const int32_t *px, const int32_t *py,
                                  int64_t lo, int64_t hi) {
    const int64_t sx = m->sx[m->nd - 1], sy = m->sy[m->nd - 1];
    int32_t acc[16] = {0};
    LN_BC_RUNS(m, lo, hi, i, len, ox, oy,
               i32_run(op, z + i, px + ox, sx, py + oy, sy, 0, len, acc));
    if (!any_negative16(acc)) return 0;
    int bad = 0;
    LN_BC_RUNS(m, lo, hi, i, len, ox, oy,
               bad |= i32_outside(op, px + ox, sx, py + oy, sy, 0, len));
    return bad;
}

/* Set by a kernel's threads when a result does not fit (only ever to 1). */
static inline void flag_overflow(int *bad) {
#pragma omp atomic write
    *bad = 1;
}

/* What the tasks of an int32 operation share: same-shape or number
** operands (m NULL; a = pa[i * sa], b = pb[i * sb]) or a broadcast's
** merged walk m. bad only ever goes to 1 (flag_overflow). */
typedef struct i32_job {
    ln_arith_op op;
    const ln_bc *m;
    int32_t *z;
    const int32_t *pa, *pb;
    int64_t sa, sb;
    int bad;
} i32_job;

/* Elements [lo, hi) in blocks, a flagged block checked exactly. */
static void i32_range(void *arg, int64_t lo, int64_t hi) {
    i32_job *j = arg;
    const int64_t block = j->m ? LN_BC_BLOCK : RED_BLOCK;
    for (int64_t b = lo; b < hi; b += block) {
        const int64_t e = hi - b < block ? hi : b + block;
        const int bad = j->m ? i32_bc_block(j->op, j->m, j->z, j->pa, j->pb, b, e)
                             : i32_block(j->op, j->z, j->pa, j->sa, j->pb, j->sb, b, e) &&
                                   i32_outside(j->op, j->pa, j->sa, j->pb, j->sb, b, e);
        if (bad) flag_overflow(&j->bad);
    }
}

/* j's n elements, spread as float32 arithmetic is (ln__ew_spread: an
** OpenMP loop over the blocks walked 1M elements 1.3x slower than the
** float loops' tasks, whose order keeps the last pass's lines in cache);
** 1 when a result does not fit (the caller then finds the first,
** serially). */
static int i32_spread(i32_job *j, int64_t n) {
    ln__ew_spread(n, LN_EW_COST, i32_range, j);
    return j->bad;
}

/* z = a op b over n elements, a = pa[i * sa], b = pb[i * sb]. */
static int i32_blocks(ln_arith_op op, int32_t *z, const int32_t *pa, int64_t sa,
                      const int32_t *pb, int64_t sb, int64_t n) {
    i32_job j = {op, NULL, z, pa, pb, sa, sb, 0};
    return i32_spread(&j, n);
}

static const char *const arith_name[] = {"add (+)", "sub (-)", "mul (*)",
    "floor division (//)", "modulo (%)", "maximum", "minimum"};

static ln_status int32_overflow(ln_ctx *ctx, ln_arith_op op, int64_t a,
                                int64_t b, int64_t pos) {
    return ln_fail(ctx, LN_E_ARG, "%s: %lld and %lld (at position %lld) give "
                   "a result outside int32 (use :float() for a float32 "
                   "result)", arith_name[op], (long long)a, (long long)b,
                   (long long)pos + 1);
}

/* Lua's float floor division and modulo. */
static inline float arith1_f(ln_arith_op op, float a, float b) {
    if (op == LN_A_IDIV) return floorf(a / b);
    float m = fmodf(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

static int needs_nonzero(ln_arith_op op) {
    return op == LN_A_IDIV || op == LN_A_MOD;
}

static ln_status zero_divisor(ln_ctx *ctx, ln_arith_op op) {
    return ln_fail(ctx, LN_E_ARG, "%s: integer division by zero",
                   op == LN_A_IDIV ? "floor division (//)" : "modulo (%)");
}

ln_tensor *ln_arith_i32(ln_ctx *ctx, ln_arith_op op, const ln_tensor *x,
                        const ln_tensor *y) {
    if (x->dtype != LN_INT32 || y->dtype != LN_INT32) {
        ln_fail(ctx, LN_E_ARG, "integer arithmetic: expects int32 tensors, "
                "got %s and %s", ln_dtype_name(x->dtype), ln_dtype_name(y->dtype));
        return NULL;
    }
    const int32_t *px = ln_i32(x), *py = ln_i32(y);
    if (needs_nonzero(op))
        for (int64_t i = 0; i < y->numel; i++)
            if (!py[i]) {
                zero_divisor(ctx, op);
                return NULL;
            }
    ln_bc bc;
    if (ln_bc_init(ctx, &bc, x, y, "integer arithmetic")) return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_INT32, bc.nd, bc.shape);
    if (!z) return NULL;
    int32_t *pz = ln_i32(z);
    int bad = 0;
    if (i32_vector_op(op) && ln_shape_equal(x, y))
        bad = i32_blocks(op, pz, px, 1, py, 1, bc.n);
    else if (i32_vector_op(op)) {
        ln_bc m;
        ln_bc_merged(&bc, &m);
        i32_job j = {op, &m, pz, px, py, 0, 0, 0};
        bad = i32_spread(&j, m.n);
    } else
        LN_BC_FOR(&bc, i, ox, oy,
                  if (!arith1_i(op, px[ox], py[oy], &pz[i])) flag_overflow(&bad));
    if (bad) { /* the first offending element, serially, for the message */
        int64_t c[LN_MAX_DIM], ox, oy;
        int32_t r;
        ln_bc_start(&bc, 0, c, &ox, &oy);
        for (int64_t i = 0; i < bc.n; i++, ln_bc_next(&bc, c, &ox, &oy))
            if (!arith1_i(op, px[ox], py[oy], &r)) {
                int32_overflow(ctx, op, px[ox], py[oy], i);
                break;
            }
        ln_tensor_release(z);
        return NULL;
    }
    return z;
}

ln_tensor *ln_arith_i32_scalar(ln_ctx *ctx, ln_arith_op op, const ln_tensor *x,
                               int64_t s, int scalar_first) {
    if (x->dtype != LN_INT32) {
        ln_fail(ctx, LN_E_ARG, "integer arithmetic: expects an int32 tensor, "
                "got %s", ln_dtype_name(x->dtype));
        return NULL;
    }
    const int32_t *px = ln_i32(x);
    int64_t n = x->numel;
    if (needs_nonzero(op)) {
        int zero = !scalar_first && s == 0;
        for (int64_t i = 0; scalar_first && !zero && i < n; i++) zero = !px[i];
        if (zero) {
            zero_divisor(ctx, op);
            return NULL;
        }
    }
    ln_tensor *z = ln_tensor_empty(ctx, LN_INT32, x->ndim, x->shape);
    if (!z) return NULL;
    int32_t *pz = ln_i32(z);
    int bad = 0;
    if (i32_vector_op(op) && s >= INT32_MIN && s <= INT32_MAX) {
        const int32_t s32 = (int32_t)s;
        bad = scalar_first ? i32_blocks(op, pz, &s32, 0, px, 1, n)
                           : i32_blocks(op, pz, px, 1, &s32, 0, n);
    } else {
        LN_FOR(n,
        for (int64_t i = 0; i < n; i++)
            if (!arith1_i(op, scalar_first ? s : px[i], scalar_first ? px[i] : s, &pz[i]))
                flag_overflow(&bad););
    }
    if (bad) {
        int32_t r;
        for (int64_t i = 0; i < n; i++) {
            int64_t a = scalar_first ? s : px[i], b = scalar_first ? px[i] : s;
            if (!arith1_i(op, a, b, &r)) {
                int32_overflow(ctx, op, a, b, i);
                break;
            }
        }
        ln_tensor_release(z);
        return NULL;
    }
    return z;
}

/* Lua's float modulo without fmodf (exact, but ~30 ns an element: 30x
** PyTorch's remainder). For finite a, b != 0 and |a / b| < 2^29, in
** double: q = trunc(a / b) is the true quotient (a float quotient that is
** not an integer stays more than half a double ulp below the next one:
** its distance is a multiple of b's last bit over b), q b is exact (24 +
** 29 bits), so r = a - q b is fmodf's exact value (checked against fmodf
** on 187M pairs, half of them next to multiples of b). Other elements
** (rare) take arith1_f in a second, scalar pass over the block. */
__attribute__((always_inline)) static inline int mod_fast_ok(double a, double b, double q) {
    return fabs(q) < 0x1p29 && fabs(a) < INFINITY && fabs(b) < INFINITY && b != 0;
}

#define MOD_LOOP(A, B)                                                       \
    do {                                                                     \
        _Pragma("omp simd reduction(| : slow)")                              \
        for (int64_t i = lo; i < hi; i++) {                                  \
            const float fb = (B);                                            \
            const double a = (A), b = fb, q = trunc(a / b);                  \
            const int ok = mod_fast_ok(a, b, q);                             \
            float m = (float)(a - q * b);                                    \
            if (m != 0 && (m < 0) != (fb < 0)) m += fb;                      \
            z[i] = ok ? m : 0.0f;                                            \
            slow |= !ok;                                                     \
        }                                                                    \
        for (int64_t i = lo; slow && i < hi; i++) {                          \
            const double a = (A), b = (B);                                   \
            if (!mod_fast_ok(a, b, trunc(a / b))) z[i] = arith1_f(LN_A_MOD, (A), (B)); \
        }                                                                    \
    } while (0)
#define IDIV_LOOP(A, B)                                                      \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) z[i] = floorf((A) / (B)); \
    } while (0)
/* z = a % b (mod) or a // b over [lo, hi), steps sa, sb (0 or 1) */
__attribute__((always_inline)) static inline void
fdm_run(int mod, float *z, const float *pa, int64_t sa, const float *pb, int64_t sb,
        int64_t lo, int64_t hi) {
    int slow = 0;
    const float a0 = pa[0], b0 = pb[0];
    if (!mod) {
        if (sa && sb) IDIV_LOOP(pa[i], pb[i]);
        else if (sa) IDIV_LOOP(pa[i], b0);
        else if (sb) IDIV_LOOP(a0, pb[i]);
        else IDIV_LOOP(a0, b0);
    } else if (sa && sb) MOD_LOOP(pa[i], pb[i]);
    else if (sa) MOD_LOOP(pa[i], b0);
    else if (sb) MOD_LOOP(a0, pb[i]);
    else MOD_LOOP(a0, b0);
}
#undef IDIV_LOOP
#undef MOD_LOOP

LN_CLONES static void fdm_block(int mod, float *z, const float *pa, int64_t sa,
                                const float *pb, int64_t sb, int64_t lo, int64_t hi) {
    fdm_run(mod, z, pa, sa, pb, sb, lo, hi);
}

/* Elements [lo, hi) of a broadcast z = x % y or x // y (m: the merged
** walk), a vector loop per run of a row (the walker's call per element
** through arith1_f: fmodf or floorf, ~30 ns an element) */
LN_CLONES static void fdm_bc_block(int mod, const ln_bc *m, float *z, const float *px,
                                   const float *py, int64_t lo, int64_t hi) {
    const int64_t sx = m->sx[m->nd - 1], sy = m->sy[m->nd - 1];
    LN_BC_RUNS(m, lo, hi, i, len, ox, oy,
               fdm_run(mod, z + i, px + ox, sx, py + oy, sy, 0, len));
}

static void fdm_blocks(int mod, float *z, const float *pa, int64_t sa,
                       const float *pb, int64_t sb, int64_t n) {
    LN_FOR_BLOCKS(n, RED_BLOCK, n, lo, hi, fdm_block(mod, z, pa, sa, pb, sb, lo, hi););
}

ln_tensor *ln_floordiv_mod_f32(ln_ctx *ctx, ln_arith_op op, const ln_tensor *x,
                               const ln_tensor *y, float s, int scalar_first) {
    if ((op != LN_A_IDIV && op != LN_A_MOD) || x->dtype != LN_FLOAT32 ||
        (y && y->dtype != LN_FLOAT32)) {
        ln_fail(ctx, LN_E_ARG, "floor division/modulo: expects float32 "
                "tensors and // or %%");
        return NULL;
    }
    const float *px = ln_f32(x);
    if (!y) {
        ln_tensor *z = ln_tensor_empty(ctx, LN_FLOAT32, x->ndim, x->shape);
        if (!z) return NULL;
        float *pz = ln_f32(z);
        int64_t n = x->numel;
        if (scalar_first) fdm_blocks(op == LN_A_MOD, pz, &s, 0, px, 1, n);
        else fdm_blocks(op == LN_A_MOD, pz, px, 1, &s, 0, n);
        return z;
    }
    ln_bc bc;
    if (ln_bc_init(ctx, &bc, x, y, op == LN_A_IDIV ? "//" : "%")) return NULL;
    ln_tensor *z = ln_tensor_empty(ctx, LN_FLOAT32, bc.nd, bc.shape);
    if (!z) return NULL;
    float *pz = ln_f32(z);
    const float *py = ln_f32(y);
    ln_bc m;
    ln_bc_merged(&bc, &m);
    LN_FOR_BLOCKS(m.n, LN_BC_BLOCK, m.n, lo, hi,
                  fdm_bc_block(op == LN_A_MOD, &m, pz, px, py, lo, hi););
    return z;
}

/* q = |p| or -p over [lo, hi); returns whether -2^31 (no int32 negation)
** was met, noted in the same pass */
LN_CLONES static int neg_abs_block(int32_t *q, const int32_t *p, int absval, int64_t lo,
                                   int64_t hi) {
    int min = 0;
    if (absval) {
#pragma omp simd reduction(| : min)
        for (int64_t i = lo; i < hi; i++) {
            min |= p[i] == INT32_MIN;
            q[i] = p[i] < 0 ? (int32_t)(0u - (uint32_t)p[i]) : p[i];
        }
    } else {
#pragma omp simd reduction(| : min)
        for (int64_t i = lo; i < hi; i++) {
            min |= p[i] == INT32_MIN;
            q[i] = (int32_t)(0u - (uint32_t)p[i]);
        }
    }
    return min;
}

ln_tensor *ln_neg_abs_i32(ln_ctx *ctx, const ln_tensor *x, int absval) {
    if (x->dtype != LN_INT32) {
        ln_fail(ctx, LN_E_ARG, "integer negation: expects int32, got %s",
                ln_dtype_name(x->dtype));
        return NULL;
    }
    ln_tensor *z = ln_tensor_empty(ctx, LN_INT32, x->ndim, x->shape);
    if (!z) return NULL;
    const int32_t *p = ln_i32(x);
    int32_t *q = ln_i32(z);
    int64_t n = x->numel, first = -1;
    int min = 0;
    LN_SUM_FOR_BLOCKS(n, RED_BLOCK, min, b0, b1, min |= neg_abs_block(q, p, absval, b0, b1););
    /* only -2^31 has no int32 negation: looked for when one was met */
    for (int64_t i = 0; min && i < n && first < 0; i++)
        if (p[i] == INT32_MIN) first = i;
    if (first >= 0) {
        ln_fail(ctx, LN_E_ARG, "%s: -2147483648 (at position %lld) has no "
                "int32 %s (use :float() for a float32 result)",
                absval ? "abs" : "unary minus", (long long)first + 1,
                absval ? "absolute value" : "negation");
        ln_tensor_release(z);
        return NULL;
    }
    return z;
}

#define CLAMP_BLOCK(NAME, T)                                                 \
    LN_CLONES static void NAME(T *q, const T *p, T a, T b, int64_t lo, int64_t hi) { \
        LN_PRAGMA_(omp simd)                                                  \
        for (int64_t i = lo; i < hi; i++) q[i] = p[i] < a ? a : p[i] > b ? b : p[i]; \
    }
CLAMP_BLOCK(clamp_i32, int32_t)
CLAMP_BLOCK(clamp_u8, uint8_t)
#undef CLAMP_BLOCK

ln_tensor *ln_clamp_any(ln_ctx *ctx, const ln_tensor *x, double lo, double hi) {
    if (lo != lo || hi != hi || lo > hi) {
        ln_fail(ctx, LN_E_ARG, "clamp: bounds %g..%g are not an interval", lo, hi);
        return NULL;
    }
    ln_tensor *z = ln_tensor_empty(ctx, x->dtype, x->ndim, x->shape);
    if (!z) return NULL;
    int64_t n = x->numel;
    if (x->dtype == LN_FLOAT32) {
        ln_clamp(ln_f32(z), ln_f32(x), (float)lo, (float)hi, n);
        return z;
    }
    double tmin = x->dtype == LN_UINT8 ? 0 : -2147483648.0;
    double tmax = x->dtype == LN_UINT8 ? 255 : 2147483647.0;
    double l = ceil(lo), h = floor(hi);
    l = l < tmin ? tmin : l > tmax ? tmax : l;
    h = h < tmin ? tmin : h > tmax ? tmax : h;
    if (l > h) l = h; /* no integer inside: everything becomes h */
    LN_FOR_BLOCKS(n, RED_BLOCK, n, b0, b1,
        if (x->dtype == LN_INT32)
            clamp_i32(ln_i32(z), ln_i32(x), (int32_t)l, (int32_t)h, b0, b1);
        else
            clamp_u8(ln_u8(z), ln_u8(x), (uint8_t)l, (uint8_t)h, b0, b1););
    return z;
}

/* Integer sums of a block, exact in any order: vector loops (uint8 in
** 32-bit lanes: a block's sum fits) */
LN_CLONES static int64_t isum_i32(const int32_t *p, int64_t lo, int64_t hi) {
    int64_t s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = lo; i < hi; i++) s += p[i];
    return s;
}

LN_CLONES static int64_t isum_u8(const uint8_t *p, int64_t lo, int64_t hi) {
    uint32_t s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = lo; i < hi; i++) s += p[i];
    return s;
}

void ln_sum_all(const ln_tensor *x, int64_t *isum, double *fsum) {
    int64_t n = x->numel, s = 0;
    if (x->dtype == LN_FLOAT32) {
        double f = ln_sum(ln_f32(x), n);
        if (fsum) *fsum = f;
        if (isum) *isum = (int64_t)f;
        return;
    }
    const int i32 = x->dtype == LN_INT32;
    LN_SUM_FOR_BLOCKS(n, RED_BLOCK, s, lo, hi,
        s += i32 ? isum_i32(ln_i32(x), lo, hi) : isum_u8(ln_u8(x), lo, hi););
    if (isum) *isum = s;
    if (fsum) *fsum = (double)s;
}

/* Does candidate v (at a later position) replace the current best? The same
** rule as ln_reduce: strictly better, or a NaN over a number. */
static inline int better(int want_max, double v, double best) {
    if (want_max ? v > best : v < best) return 1;
    return v != v && best == best;
}

/* Per-block best value and position, blocks of SCAN_BLOCK in parallel from
** LN_PAR_MIN elements on: the block's extreme by a vector reduction, then
** its first position, 64 elements at a time by a vector compare
** (integers have no NaN: the same as the scan by `better`, which ran a
** compare and a branch per element, 5x PyTorch's time). The position is
** the first of the extreme for any blocking; large blocks spread the
** reduction's horizontal finish and the search over more elements (at 4096
** elements they cost a third of the time of a 1M stream). */
#define SCAN_BLOCK (8 * RED_BLOCK)
/* The blocks go by ln__spread, as float32's (an OpenMP loop over them
** read 1M int32 elements at 0.85x PyTorch's speed). */
typedef struct scan_job {
    const void *p;
    int64_t n;
    int want_max;
    double *bv;
    int64_t *bp;
} scan_job;
#define DEF_SCAN(T, NAME)                                                     \
    LN_CLONES static void NAME##_block(const T *p, int64_t lo, int64_t hi,    \
                                       int want_max, double *bv, int64_t *bp) { \
        T best = p[lo];                                                       \
        if (want_max) {                                                       \
            LN_PRAGMA_(omp simd reduction(max : best))                        \
            for (int64_t i = lo; i < hi; i++) best = p[i] > best ? p[i] : best; \
        } else {                                                              \
            LN_PRAGMA_(omp simd reduction(min : best))                        \
            for (int64_t i = lo; i < hi; i++) best = p[i] < best ? p[i] : best; \
        }                                                                     \
        int64_t at = lo;                                                      \
        for (;; at += 64) { /* found before hi: best is an element */         \
            const int64_t e = at + 64 < hi ? at + 64 : hi;                    \
            int hit = 0;                                                      \
            LN_PRAGMA_(omp simd reduction(| : hit))                           \
            for (int64_t i = at; i < e; i++) hit |= p[i] == best;             \
            if (hit) break;                                                   \
        }                                                                     \
        while (p[at] != best) at++;                                           \
        *bv = best;                                                           \
        *bp = at;                                                             \
    }                                                                         \
    static void NAME##_range(void *arg, int64_t b0, int64_t b1) {             \
        const scan_job *j = arg;                                              \
        const T *p = j->p;                                                    \
        for (int64_t b = b0; b < b1; b++) {                                   \
            const int64_t lo = b * SCAN_BLOCK;                                \
            const int64_t hi = j->n - lo < SCAN_BLOCK ? j->n : lo + SCAN_BLOCK; \
            NAME##_block(p, lo, hi, j->want_max, j->bv + b, j->bp + b);       \
        }                                                                     \
    }                                                                         \
    static void NAME(const T *p, int64_t n, int want_max, double *bv,         \
                     int64_t *bp) {                                           \
        scan_job j = {p, n, want_max, bv, bp};                                \
        ln__spread((n + SCAN_BLOCK - 1) / SCAN_BLOCK, SCAN_BLOCK, 1, NAME##_range, &j); \
    }
DEF_SCAN(int32_t, scan_i32)
DEF_SCAN(uint8_t, scan_u8)
#undef DEF_SCAN

/* float32 blocks of the whole-tensor extreme and variance: ln_argext,
** ln_ext_value or ln_sum_dev2 per RED_BLOCK block (vectorised,
** kernels_reduce.c), spread by ln__split_spread / ln__spread (par_for.h:
** the helper pool, not an OpenMP region). The
** blocks and the order their results are combined in are fixed: the same
** result for any thread count. */
typedef struct {
    const float *p;
    int64_t n;
    int what; /* F32_ARGEXT, F32_EXT (no positions) or F32_DEV2 */
    int want_max;
    double mean, *bv;
    int64_t *bp;
} f32_blocks_job;
enum { F32_ARGEXT, F32_EXT, F32_DEV2 };

static void f32_blocks(void *arg, int64_t lo, int64_t hi) {
    const f32_blocks_job *j = arg;
    for (int64_t b = lo; b < hi; b++) {
        int64_t s = b * RED_BLOCK, e = s + RED_BLOCK < j->n ? s + RED_BLOCK : j->n;
        if (j->what == F32_ARGEXT) {
            int64_t at = s + ln_argext(j->p + s, e - s, j->want_max);
            j->bp[b] = at;
            j->bv[b] = j->p[at];
        } else if (j->what == F32_EXT) {
            j->bv[b] = ln_ext_value(j->p + s, e - s, j->want_max);
        } else {
            j->bv[b] = ln_sum_dev2(j->p + s, e - s, j->mean);
        }
    }
}

void ln_minmax_all(const ln_tensor *x, int want_max, double *value,
                   int64_t *pos) {
    /* float32 blocks as ln_argext's; integers in SCAN_BLOCK blocks */
    const int64_t n = x->numel, block = x->dtype == LN_FLOAT32 ? RED_BLOCK : SCAN_BLOCK;
    const int64_t nb = (n + block - 1) / block;
    /* calloc: GCC cannot see that n > 0 fills bv[0] below */
    double *bv = calloc(nb ? (size_t)nb : 1, sizeof *bv);
    int64_t *bp = calloc(nb ? (size_t)nb : 1, sizeof *bp);
    if (!bv || !bp || n == 0) { /* fall back to a serial scan */
        double best = n ? ln_get_f64(x, 0) : NAN;
        int64_t at = 0;
        for (int64_t i = 1; i < n; i++) {
            double v = ln_get_f64(x, i);
            if (better(want_max, v, best)) best = v, at = i;
        }
        free(bv);
        free(bp);
        *value = best;
        if (pos) *pos = at;
        return;
    }
    switch (x->dtype) {
    case LN_FLOAT32: {
        f32_blocks_job j = {ln_f32(x), n, pos ? F32_ARGEXT : F32_EXT, want_max, 0, bv, bp};
        ln__split_spread(nb, RED_BLOCK, 1, f32_blocks, &j);
    } break;
    case LN_INT32: scan_i32(ln_i32(x), n, want_max, bv, bp); break;
    case LN_UINT8: scan_u8(ln_u8(x), n, want_max, bv, bp); break;
    }
    double best = bv[0];
    int64_t at = bp[0];
    for (int64_t b = 1; b < nb; b++)
        if (better(want_max, bv[b], best)) best = bv[b], at = bp[b];
    free(bv);
    free(bp);
    *value = best;
    if (pos) *pos = at;
}

double ln_var_all(const ln_tensor *x, int unbiased) {
    int64_t n = x->numel;
    if (n == 0 || (unbiased && n < 2)) return NAN;
    double sum;
    ln_sum_all(x, NULL, &sum);
    double mean = sum / (double)n;
    int64_t nb = (n + RED_BLOCK - 1) / RED_BLOCK;
    double *part = malloc(sizeof *part * (size_t)nb);
    double ss = 0;
    if (!part) {
        for (int64_t i = 0; i < n; i++) {
            double d = ln_get_f64(x, i) - mean;
            ss += d * d;
        }
    } else if (x->dtype == LN_FLOAT32) {
        f32_blocks_job j = {ln_f32(x), n, F32_DEV2, 0, mean, part, NULL};
        ln__spread(nb, RED_BLOCK, 1, f32_blocks, &j);
        for (int64_t b = 0; b < nb; b++) ss += part[b];
        free(part);
    } else {
        LN_FOR(n,
        for (int64_t b = 0; b < nb; b++) {
            int64_t lo = b * RED_BLOCK, hi = lo + RED_BLOCK < n ? lo + RED_BLOCK : n;
            double s = 0;
            if (x->dtype == LN_FLOAT32) {
                const float *p = ln_f32(x);
                for (int64_t i = lo; i < hi; i++) {
                    double d = (double)p[i] - mean;
                    s += d * d;
                }
            } else {
                for (int64_t i = lo; i < hi; i++) {
                    double d = ln_get_f64(x, i) - mean;
                    s += d * d;
                }
            }
            part[b] = s;
        });
        for (int64_t b = 0; b < nb; b++) ss += part[b];
        free(part);
    }
    return ss / (double)(unbiased ? n - 1 : n);
}

/* Any of p[lo..hi) != q[lo..hi) as floats (NaN differs, -0 == +0)? */
LN_CLONES static int f32_differ(const float *p, const float *q, int64_t lo, int64_t hi) {
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = lo; i < hi; i++) bad |= !(p[i] == q[i]);
    return bad;
}

int ln_equal(const ln_tensor *a, const ln_tensor *b) {
    if (!ln_shape_equal(a, b)) return 0;
    int64_t n = a->numel, bad = 0;
    if (a->dtype == b->dtype) { /* block by block, stopping at a difference */
        size_t es = ln_dtype_size(a->dtype);
        for (int64_t lo = 0; lo < n && !bad; lo += RED_BLOCK) {
            int64_t hi = lo + RED_BLOCK < n ? lo + RED_BLOCK : n;
            bad = a->dtype == LN_FLOAT32
                      ? f32_differ(ln_f32(a), ln_f32(b), lo, hi)
                      : memcmp((const char *)ln_data(a) + (size_t)lo * es,
                               (const char *)ln_data(b) + (size_t)lo * es,
                               (size_t)(hi - lo) * es) != 0;
        }
    } else {
        LN_SUM_FOR(n, bad,
        for (int64_t i = 0; i < n; i++)
            bad += !(ln_get_f64(a, i) == ln_get_f64(b, i)););
    }
    return bad == 0;
}

/* Are p[lo..hi) and q[lo..hi) all close (allclose's rule, in double)? As
** in PyTorch and NumPy, infinities are close only to themselves (inf - -inf
** is no finite error, though within an infinite tolerance). */
LN_CLONES static int f32_close(const float *p, const float *q, int64_t lo, int64_t hi,
                               double rtol, double atol) {
    int ok = 1;
#pragma omp simd reduction(& : ok)
    for (int64_t i = lo; i < hi; i++) {
        double x = p[i], y = q[i], d = fabs(x - y);
        ok &= x == y || (d < INFINITY && d <= atol + rtol * fabs(y));
    }
    return ok;
}

ln_status ln_allclose(ln_ctx *ctx, const ln_tensor *a, const ln_tensor *b,
                      double rtol, double atol, int *result) {
    ln_bc bc;
    if (ln_bc_init(ctx, &bc, a, b, "allclose")) return ctx->status;
    if (a->dtype == LN_FLOAT32 && b->dtype == LN_FLOAT32 && ln_shape_equal(a, b)) {
        int ok = 1; /* block by block, stopping at one that is not close */
        for (int64_t lo = 0; lo < a->numel && ok; lo += RED_BLOCK) {
            int64_t hi = lo + RED_BLOCK < a->numel ? lo + RED_BLOCK : a->numel;
            ok = f32_close(ln_f32(a), ln_f32(b), lo, hi, rtol, atol);
        }
        *result = ok;
        return LN_OK;
    }
    uint8_t *ok = malloc((size_t)(bc.n ? bc.n : 1));
    if (!ok) return ln_fail(ctx, LN_E_NOMEM, "allclose: out of memory");
    LN_BC_FOR(&bc, i, oa, ob, {
        double x = ln_get_f64(a, oa), y = ln_get_f64(b, ob), d = fabs(x - y);
        ok[i] = x == y || (d < INFINITY && d <= atol + rtol * fabs(y));
    });
    *result = ln_count_nonzero_u8(ok, bc.n) == bc.n;
    free(ok);
    return LN_OK;
}
