/*
** kernels.c -- elementwise, broadcast and reduction kernels (the softmax
** family: kernels_softmax.c).
**
** Parallel loops give each output element to one thread; sums go through
** fixed-size blocks (LN_BLOCK) whose partial results are added in block
** order, so no result depends on the thread count.
*/
#include <math.h>
#include <string.h>

#include "lunet/kernels.h"
#include "lunet/parallel.h"
#include "lunet/vmath.h"
#include "cpu_simd.h"
#include "par_for.h"

#define LN_BLOCK 4096    /* reduction block, independent of threads */
#define SUM_ROWS_COLS 256 /* columns per thread task in ln_sum_rows */

/* The hot loops are compiled per CPU (LN_CLONES, lunet/parallel.h). The
** simple loops below go through ln_parallel_for, not LN_PAR_FOR: below the
** threshold an OpenMP `if (0)` region still costs 1.4-2.5 us on this
** machine (bench: a 1,000-element axpy 0.08 us alone, 1.5 us inside one). */
typedef struct {
    float *y;
    const float *x;
    float a, b;
} lin_job;

LN_CLONES static void fill_range(void *arg, int64_t lo, int64_t hi) {
    const lin_job *j = arg;
    float *y = j->y, v = j->a;
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) y[i] = v;
}

void ln_fill(float *y, int64_t n, float v) {
    lin_job j = {y, NULL, v, 0};
    ln_parallel_for(n, fill_range, &j);
}

void ln_copy(float *y, const float *x, int64_t n) {
    if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
}

LN_CLONES static void scale_range(void *arg, int64_t lo, int64_t hi) {
    const lin_job *j = arg;
    float *y = j->y, a = j->a;
    const float *x = j->x;
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) y[i] = a * x[i];
}

void ln_scale(float *y, const float *x, float a, int64_t n) {
    lin_job j = {y, x, a, 0};
    ln_parallel_for(n, scale_range, &j);
}

/* Cloned like the others: this file is compiled without FMA contraction
** (core/CMakeLists.txt), so every clone rounds a x and then y + a x. */
LN_CLONES static void axpy_range(void *arg, int64_t lo, int64_t hi) {
    const lin_job *j = arg;
    float *y = j->y, a = j->a;
    const float *x = j->x;
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) y[i] += a * x[i];
}

void ln_axpy(float *y, float a, const float *x, int64_t n) {
    lin_job j = {y, x, a, 0};
    ln_parallel_for(n, axpy_range, &j);
}

/* The elementwise kernels of tensor expressions run through ln__ew_spread
** (par_for.h): below its threshold that is one direct call, with no OpenMP
** entry (an if(0) region still sets up a team in libgomp, most of the cost
** of a 1k-element operation). */
typedef struct {
    int op, scalar_first;
    float *z;
    const float *x, *y;
    float s;
} ew_job;

/* One vectorised loop per operation (a switch per element would keep the
** compiler from vectorising); exp, log, tanh and sigmoid are lunet/vmath.h's
** branch-free versions, 8-16 lanes at a time instead of a libm call per
** element. */
#define U_LOOP(EXPR)                                                         \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {             \
            float v = x[i];                                                  \
            z[i] = (EXPR);                                                   \
        }                                                                    \
    } while (0)

LN_CLONES static void unary_range(void *arg, int64_t lo, int64_t hi) {
    const ew_job *j = arg;
    float *z = j->z;
    const float *x = j->x;
    switch ((ln_unary_op)j->op) {
    case LN_U_NEG: U_LOOP(-v); return;
    case LN_U_ABS: U_LOOP(fabsf(v)); return;
    case LN_U_EXP: U_LOOP(ln_vexpf(v)); return;
    case LN_U_LOG: U_LOOP(ln_vlogf(v)); return;
    case LN_U_SQRT: U_LOOP(sqrtf(v)); return;
    case LN_U_SQUARE: U_LOOP(v * v); return;
    case LN_U_SIGN: U_LOOP((float)((v > 0) - (v < 0))); return;
    case LN_U_FLOOR: U_LOOP(floorf(v)); return;
    case LN_U_CEIL: U_LOOP(ceilf(v)); return;
    case LN_U_ROUND: U_LOOP(roundf(v)); return;
    case LN_U_TANH: U_LOOP(ln_vtanhf(v)); return;
    case LN_U_SIGMOID: U_LOOP(ln_vsigmoidf(v)); return;
    }
}

/* exp on AVX-512 with the instructions GCC does not find from the C of
** ln_vexpf: min/max for the clamp, vrndscaleps for the rounding and
** vscalefps for the 2^n factor (one rounding, as the two exact factors of
** the C version: the same bits; with FTZ a denormal result is flushed in
** both). The other operations are ln_vexpf's, in its order (vmath.h's
** Estrin polynomial), so every input gives the bits of the x86-64-v3 and
** baseline clones: tests/c/test_kernels.c compares them on a sweep of bit
** patterns. 0.30 -> 0.20 ns an element in cache on this machine's core. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(LN_NO_CLONES)
#include <immintrin.h>
#define LN_EXP512 1

/* ln_vm_exp_core_'s first steps on c (already clamped): n = round(c log2 e)
** into *nf, and q = expm1(r) for the reduced r, vmath.h's Estrin polynomial */
__attribute__((target("avx512f"))) static inline __m512 expm1_core16(__m512 c, __m512 *nf) {
#define K(v) _mm512_set1_ps(v)
    *nf = _mm512_roundscale_ps(_mm512_mul_ps(c, K(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(c, _mm512_mul_ps(*nf, K(0.693359375f))),
                             _mm512_mul_ps(*nf, K(-2.12194440e-4f)));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 e0 = _mm512_add_ps(K(5.0000001201e-1f), _mm512_mul_ps(K(1.6666665459e-1f), r));
    __m512 e1 = _mm512_add_ps(K(4.1665795894e-2f), _mm512_mul_ps(K(8.3334519073e-3f), r));
    __m512 e2 = _mm512_add_ps(K(1.3981999507e-3f), _mm512_mul_ps(K(1.9875691500e-4f), r));
    __m512 p = _mm512_add_ps(e0, _mm512_mul_ps(r2, _mm512_add_ps(e1, _mm512_mul_ps(r2, e2))));
    return _mm512_add_ps(_mm512_mul_ps(p, r2), r);
#undef K
}

__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 xv) {
    __m512 c = _mm512_min_ps(_mm512_max_ps(xv, _mm512_set1_ps(-105.0f)), _mm512_set1_ps(89.0f));
    __m512 nf, q = expm1_core16(c, &nf);
    __m512 y = _mm512_scalef_ps(_mm512_add_ps(q, _mm512_set1_ps(1.0f)), nf);
    /* NaN in, the same NaN out */
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), y, xv);
}

/* tanh on AVX-512: ln_vtanhf's operations in its order (vmath.h), with
** expm1_core16 for its expm1, as exp16. |x| <= 9.5 makes the 2^n of
** expm1(2|x|) 2^0..2^28, so scaling once (vscalefps) is the C version's two
** exact factors. Each min/max takes its operands in the order that gives
** a NaN what the C select gives it (|x| stays NaN, the clamp makes it -88,
** and the NaN is put back at the end). The same bits on every input
** (tests/c/test_kernels.c). */
__attribute__((target("avx512f"))) static inline __m512 tanh16(__m512 xv) {
#define K(v) _mm512_set1_ps(v)
    const __m512 a = _mm512_min_ps(K(9.5f), _mm512_abs_ps(xv));
    const __m512 u = _mm512_add_ps(a, a);
    /* ln_vexpm1f(u): the clamp, then ln_vm_exp_core_(c, 0) */
    const __m512 c = _mm512_min_ps(_mm512_max_ps(u, K(-88.0f)), K(89.0f));
    __m512 nf;
    const __m512 q = expm1_core16(c, &nf);
    /* 1 - 2^-m, m = min(n, 25) */
    const __m512 one = K(1.0f);
    const __m512 cm = _mm512_sub_ps(one, _mm512_scalef_ps(one, _mm512_sub_ps(_mm512_setzero_ps(),
                                                      _mm512_min_ps(nf, K(25.0f)))));
    __m512 e = _mm512_scalef_ps(_mm512_add_ps(q, cm), nf);
    e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, _mm512_setzero_ps(), _CMP_EQ_OQ), e, u);
    e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q), e, u);
    const __m512 t = _mm512_div_ps(e, _mm512_add_ps(e, K(2.0f)));
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u); /* copysign(t, x) */
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_andnot_si512(sign, _mm512_castps_si512(t)),
                        _mm512_and_si512(sign, _mm512_castps_si512(xv))));
#undef K
}

/* ln_vsigmoidf: exp16 of -|x| (a NaN stays one, its sign set as C's
** negation sets it), then one division */
__attribute__((target("avx512f"))) static inline __m512 sigmoid16(__m512 xv) {
    const __m512 e = exp16(_mm512_castsi512_ps(_mm512_or_si512( /* -|x|: the sign set */
        _mm512_castps_si512(xv), _mm512_set1_epi32((int)0x80000000u))));
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 num = _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask(xv, _mm512_setzero_ps(), _CMP_GE_OQ), e, one);
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
}

/* fn16 over [lo, hi), the tail masked */
#define UNARY512_RANGE(name, fn16)                                           \
    __attribute__((target("avx512f"))) static void name(void *arg, int64_t lo, \
                                                        int64_t hi) {        \
        const ew_job *j = arg;                                               \
        float *z = j->z;                                                     \
        const float *x = j->x;                                               \
        int64_t i = lo;                                                      \
        for (; i + 16 <= hi; i += 16)                                        \
            _mm512_storeu_ps(z + i, fn16(_mm512_loadu_ps(x + i)));           \
        if (i < hi) {                                                        \
            __mmask16 m = (__mmask16)((1u << (hi - i)) - 1);                 \
            _mm512_mask_storeu_ps(z + i, m, fn16(_mm512_maskz_loadu_ps(m, x + i))); \
        }                                                                    \
    }
UNARY512_RANGE(exp512_range, exp16)
UNARY512_RANGE(tanh512_range, tanh16)
UNARY512_RANGE(sigmoid512_range, sigmoid16)
#undef UNARY512_RANGE

/* The same three on AVX2: vmath.h's operations in its order, 8 lanes, 2^n
** built in the exponent bits as the C code's two exact factors (no
** vscalefps here). The v3 clone of the C code spills and blends: on Zen 3
** (30k elements, one thread) exp 0.74 -> 0.65 ns an element, tanh 1.27 ->
** 1.06. The target leaves out "fma" so that no multiply-add is contracted:
** the bits stay the baseline build's (tests/c/test_kernels.c, every input). */
#define T256 __attribute__((target("avx2")))
#define AI256 __attribute__((always_inline, target("avx2"))) static inline
#define K8(v) _mm256_set1_ps(v)

/* 2^k for -126 <= k <= 127 (ln_vm_pow2_) */
AI256 __m256 pow2_8(__m256i k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

/* ln_vm_exp_core_(c, plus_one) on c already clamped */
AI256 __m256 exp_core8(__m256 c, int plus_one) {
    const __m256 nf = _mm256_round_ps(_mm256_mul_ps(c, K8(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i n = _mm256_cvttps_epi32(nf);
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(c, _mm256_mul_ps(nf, K8(0.693359375f))),
                                   _mm256_mul_ps(nf, K8(-2.12194440e-4f)));
    const __m256 r2 = _mm256_mul_ps(r, r);
    const __m256 e0 = _mm256_add_ps(K8(5.0000001201e-1f), _mm256_mul_ps(K8(1.6666665459e-1f), r));
    const __m256 e1 = _mm256_add_ps(K8(4.1665795894e-2f), _mm256_mul_ps(K8(8.3334519073e-3f), r));
    const __m256 e2 = _mm256_add_ps(K8(1.3981999507e-3f), _mm256_mul_ps(K8(1.9875691500e-4f), r));
    const __m256 p = _mm256_add_ps(e0, _mm256_mul_ps(r2, _mm256_add_ps(e1, _mm256_mul_ps(r2, e2))));
    const __m256 q = _mm256_add_ps(_mm256_mul_ps(p, r2), r);
    __m256 cc = K8(1.0f);
    if (!plus_one) /* 1 - 2^-m, m = min(n, 25) */
        cc = _mm256_sub_ps(cc, pow2_8(_mm256_sub_epi32(
                                   _mm256_setzero_si256(), _mm256_min_epi32(n, _mm256_set1_epi32(25)))));
    const __m256i n1 = _mm256_srai_epi32(n, 1);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(q, cc), pow2_8(n1)),
                         pow2_8(_mm256_sub_epi32(n, n1)));
}

AI256 __m256 exp8(__m256 x) {
    /* max/min operand order: a NaN becomes -105, as the C selects */
    const __m256 c = _mm256_min_ps(_mm256_max_ps(x, K8(-105.0f)), K8(89.0f));
    return _mm256_blendv_ps(exp_core8(c, 1), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

AI256 __m256 tanh8(__m256 x) {
    const __m256 sign = K8(-0.0f);
    const __m256 a = _mm256_min_ps(K8(9.5f), _mm256_andnot_ps(sign, x)); /* NaN stays */
    const __m256 u = _mm256_add_ps(a, a);
    const __m256 c = _mm256_min_ps(_mm256_max_ps(u, K8(-88.0f)), K8(89.0f));
    __m256 e = exp_core8(c, 0);
    e = _mm256_blendv_ps(e, u, _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_EQ_OQ));
    e = _mm256_blendv_ps(e, u, _mm256_cmp_ps(u, u, _CMP_UNORD_Q));
    const __m256 t = _mm256_div_ps(e, _mm256_add_ps(e, K8(2.0f)));
    return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, x));
}

AI256 __m256 sigmoid8(__m256 x) {
    const __m256 e = exp8(_mm256_or_ps(x, K8(-0.0f))); /* -|x| */
    const __m256 num = _mm256_blendv_ps(e, K8(1.0f), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(K8(1.0f), e));
}
#undef K8

/* fn8 over [lo, hi); the tail through a local vector (a masked store is
** microcoded on AMD) */
#define UNARY256_RANGE(name, fn8)                                            \
    T256 static void name(void *arg, int64_t lo, int64_t hi) {               \
        const ew_job *j = arg;                                               \
        float *z = j->z;                                                     \
        const float *x = j->x;                                               \
        int64_t i = lo;                                                      \
        for (; i + 8 <= hi; i += 8)                                          \
            _mm256_storeu_ps(z + i, fn8(_mm256_loadu_ps(x + i)));            \
        if (i < hi) {                                                        \
            float t[8] = {0};                                                \
            memcpy(t, x + i, (size_t)(hi - i) * sizeof *t);                  \
            _mm256_storeu_ps(t, fn8(_mm256_loadu_ps(t)));                    \
            memcpy(z + i, t, (size_t)(hi - i) * sizeof *t);                  \
        }                                                                    \
    }
UNARY256_RANGE(exp256_range, exp8)
UNARY256_RANGE(tanh256_range, tanh8)
UNARY256_RANGE(sigmoid256_range, sigmoid8)
#undef UNARY256_RANGE
#undef AI256
#undef T256

#endif

void ln_unary(ln_unary_op op, float *y, const float *x, int64_t n) {
    ew_job j = {.op = op, .z = y, .x = x};
    /* the vmath functions cost ~8 adds an element: threads pay off sooner */
    int heavy = op == LN_U_EXP || op == LN_U_LOG || op == LN_U_TANH ||
                op == LN_U_SIGMOID;
#ifdef LN_EXP512
    if ((op == LN_U_EXP || op == LN_U_TANH || op == LN_U_SIGMOID) && ln__have_avx512f()) {
        ln__ew_spread(n, LN_PAR_COST_VMATH,
                      op == LN_U_EXP ? exp512_range
                                     : op == LN_U_TANH ? tanh512_range : sigmoid512_range,
                      &j);
        return;
    }
    if ((op == LN_U_EXP || op == LN_U_TANH || op == LN_U_SIGMOID) && ln__have_avx2()) {
        ln__ew_spread(n, LN_PAR_COST_VMATH,
                      op == LN_U_EXP ? exp256_range
                                     : op == LN_U_TANH ? tanh256_range : sigmoid256_range,
                      &j);
        return;
    }
#endif
    ln__ew_spread(n, heavy ? LN_PAR_COST_VMATH : 1, unary_range, &j);
}

LN_CLONES static void clamp_range(void *arg, int64_t lo, int64_t hi) {
    const lin_job *j = arg;
    float *y = j->y, l = j->a, h = j->b;
    const float *x = j->x;
    /* the two selects of vmaxps and vminps (a NaN stays NaN, -0 stays):
    ** the same values as v < l ? l : v > h ? h : v for l <= h, which GCC
    ** compiled to four compares and two blends (100k: 1.5x abs's time) */
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {
        const float v = x[i], t = l > v ? l : v;
        y[i] = h < t ? h : t;
    }
}

/* Spread as the unary kernels above (ln_parallel_for's chunks walked 1M
** elements at 0.88x PyTorch's speed). */
void ln_clamp(float *y, const float *x, float lo, float hi, int64_t n) {
    lin_job j = {y, x, lo, hi};
    ln__ew_spread(n, 1, clamp_range, &j);
}

static inline float binary1(ln_binary_op op, float a, float b) {
    switch (op) {
    case LN_B_ADD: return a + b;
    case LN_B_SUB: return a - b;
    case LN_B_MUL: return a * b;
    case LN_B_DIV: return a / b;
    case LN_B_POW: return powf(a, b);
    case LN_B_MAX: return a > b ? a : b;
    case LN_B_MIN: return a < b ? a : b;
    case LN_B_EQ: return (float)(a == b);
    case LN_B_NE: return (float)(a != b);
    case LN_B_LT: return (float)(a < b);
    case LN_B_LE: return (float)(a <= b);
    case LN_B_GT: return (float)(a > b);
    case LN_B_GE: return (float)(a >= b);
    }
    return 0;
}

/* The common arithmetic gets a loop of its own (the switch per element
** of binary1 keeps the compiler from vectorising). EW_SIMD: `omp simd`,
** because at -O2 GCC's cost model vectorises no loop whose trip count or
** aliasing it must check at run time -- without it these loops ran one
** element per instruction. The iterations are independent (z may equal x
** or y, never overlap them otherwise: kernels.h), and each element is the
** same IEEE operation in a vector lane as alone, so the bits do not move. */
#define EW_LOOP(EXPR)                                                        \
    do {                                                                     \
        for (int64_t i = lo; i < hi; i++) z[i] = (EXPR);                     \
    } while (0)
#define EW_SIMD(EXPR)                                                        \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) z[i] = (EXPR); \
    } while (0)

LN_CLONES static void scalar_range(void *arg, int64_t lo, int64_t hi) {
    const ew_job *j = arg;
    float *z = j->z, s = j->s;
    const float *x = j->x;
    ln_binary_op op = (ln_binary_op)j->op;
    int first = j->scalar_first;
    switch (op) {
    case LN_B_ADD: EW_SIMD(x[i] + s); return;
    case LN_B_MUL: EW_SIMD(x[i] * s); return;
    case LN_B_SUB: if (first) EW_SIMD(s - x[i]); else EW_SIMD(x[i] - s); return;
    case LN_B_DIV: if (first) EW_SIMD(s / x[i]); else EW_SIMD(x[i] / s); return;
    case LN_B_MAX: /* binary1's rule, operands in order (NaN, -0) */
        if (first) EW_SIMD(s > x[i] ? s : x[i]); else EW_SIMD(x[i] > s ? x[i] : s);
        return;
    case LN_B_MIN:
        if (first) EW_SIMD(s < x[i] ? s : x[i]); else EW_SIMD(x[i] < s ? x[i] : s);
        return;
    case LN_B_POW:
        /* x^2 as x * x (the correctly rounded square; powf's is within
        ** 1 ulp of it, 40x slower), x^1 as x: PyTorch does the same */
        if (!first && s == 2.0f) { EW_SIMD(x[i] * x[i]); return; }
        if (!first && s == 1.0f) { EW_SIMD(x[i]); return; }
        break;
    default: break;
    }
    if (first) EW_LOOP(binary1(op, s, x[i]));
    else EW_LOOP(binary1(op, x[i], s));
}

void ln_binary_scalar(ln_binary_op op, float *z, const float *x, float s,
                      int scalar_first, int64_t n) {
    ew_job j = {.op = op, .scalar_first = scalar_first, .z = z, .x = x, .s = s};
    ln__ew_spread(n, LN_EW_COST, scalar_range, &j);
}

LN_CLONES static void same_shape_range(void *arg, int64_t lo, int64_t hi) {
    const ew_job *j = arg;
    float *z = j->z;
    const float *x = j->x, *y = j->y;
    ln_binary_op op = (ln_binary_op)j->op;
    switch (op) {
    case LN_B_ADD: EW_SIMD(x[i] + y[i]); return;
    case LN_B_SUB: EW_SIMD(x[i] - y[i]); return;
    case LN_B_MUL: EW_SIMD(x[i] * y[i]); return;
    case LN_B_DIV: EW_SIMD(x[i] / y[i]); return;
    case LN_B_MAX: EW_SIMD(x[i] > y[i] ? x[i] : y[i]); return; /* binary1's rule */
    case LN_B_MIN: EW_SIMD(x[i] < y[i] ? x[i] : y[i]); return;
    default: EW_LOOP(binary1(op, x[i], y[i]));
    }
}

ln_status ln_broadcast_shape(ln_ctx *ctx, int na, const int64_t *sa, int nb,
                             const int64_t *sb, int *nout, int64_t *sout) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t a = i < n - na ? 1 : sa[i - (n - na)];
        int64_t b = i < n - nb ? 1 : sb[i - (n - nb)];
        if (a != b && a != 1 && b != 1) {
            char x[128], y[128];
            return ln_fail(ctx, LN_E_SHAPE,
                           "shapes %s and %s cannot be broadcast together",
                           ln_dims_str(na, sa, x, sizeof x),
                           ln_dims_str(nb, sb, y, sizeof y));
        }
        sout[i] = a == 1 ? b : a;
    }
    *nout = n;
    return LN_OK;
}

/* Broadcasting: z's elements row by row (a row: the last dimension), each
** operand's offset found once per range and then stepped, the row itself
** one loop whose operands are contiguous or a repeated number (x[i] + b[i]
** with b a row vector is a plain vector loop). The same arithmetic per
** element as the same-shape loop. */
typedef struct {
    ew_job e;
    int nz;
    const int64_t *sz;
    int64_t tx[LN_MAX_DIM], ty[LN_MAX_DIM];
} bc_job;

#define ROW_LOOP(EXPR)                                                       \
    do {                                                                     \
        for (int64_t i = 0; i < n; i++) z[i] = (EXPR);                       \
    } while (0)
#define ROW_SIMD(EXPR)                                                       \
    do {                                                                     \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) z[i] = (EXPR);   \
    } while (0)

#define ROW_OPS(A, B)                                                        \
    switch (op) {                                                            \
    case LN_B_ADD: ROW_SIMD((A) + (B)); return;                              \
    case LN_B_SUB: ROW_SIMD((A) - (B)); return;                              \
    case LN_B_MUL: ROW_SIMD((A) * (B)); return;                              \
    case LN_B_DIV: ROW_SIMD((A) / (B)); return;                              \
    case LN_B_MAX: ROW_SIMD((A) > (B) ? (A) : (B)); return;                  \
    case LN_B_MIN: ROW_SIMD((A) < (B) ? (A) : (B)); return;                  \
    default: ROW_LOOP(binary1(op, (A), (B))); return;                        \
    }

/* always inlined: GCC otherwise keeps one baseline (SSE2) copy for every
** clone of bcast_range (measured: m + row 2x slower than a * b) */
__attribute__((always_inline)) static inline void
bcast_row(ln_binary_op op, float *z, const float *x, int64_t sx, const float *y, int64_t sy,
          int64_t n) {
    if (sx == 1 && sy == 1) ROW_OPS(x[i], y[i])
    if (sx == 1 && sy == 0) {
        const float b = *y;
        ROW_OPS(x[i], b)
    }
    if (sx == 0 && sy == 1) {
        const float a = *x;
        ROW_OPS(a, y[i])
    }
    ROW_LOOP(binary1(op, x[i * sx], y[i * sy]));
}

LN_CLONES static void bcast_range(void *arg, int64_t lo, int64_t hi) {
    const bc_job *j = arg;
    const int nz = j->nz, L = nz - 1;
    const int64_t *sz = j->sz, *tx = j->tx, *ty = j->ty;
    int64_t idx[LN_MAX_DIM], ox = 0, oy = 0, r = lo;
    if (lo >= hi) return;
    for (int d = L; d >= 0; d--) {
        idx[d] = r % sz[d];
        r /= sz[d];
        ox += idx[d] * tx[d];
        oy += idx[d] * ty[d];
    }
    for (int64_t i = lo; i < hi;) {
        const int64_t c = idx[L], len = sz[L] - c < hi - i ? sz[L] - c : hi - i;
        bcast_row((ln_binary_op)j->e.op, j->e.z + i, j->e.x + ox, tx[L], j->e.y + oy,
                  ty[L], len);
        i += len;
        if (i >= hi) break;
        /* the next row: column 0, the index above carried */
        ox -= c * tx[L];
        oy -= c * ty[L];
        idx[L] = 0;
        for (int d = L - 1; d >= 0; d--) {
            ox += tx[d];
            oy += ty[d];
            if (++idx[d] < sz[d]) break;
            ox -= idx[d] * tx[d];
            oy -= idx[d] * ty[d];
            idx[d] = 0;
        }
    }
}

void ln_binary(ln_binary_op op, float *z, int nz, const int64_t *sz,
               const float *x, int nx, const int64_t *sx, const float *y,
               int ny, const int64_t *sy) {
    int64_t n = 1, tx[LN_MAX_DIM], ty[LN_MAX_DIM];
    for (int i = 0; i < nz; i++) n *= sz[i];
    ln_bc_strides(nz, sz, nx, sx, tx);
    ln_bc_strides(nz, sz, ny, sy, ty);
    /* Fast paths: same shapes, or y a row vector broadcast over rows. */
    int same = 1;
    for (int i = 0; i < nz; i++) same &= tx[i] != 0 && ty[i] != 0;
    if (same && nx == nz && ny == nz) {
        ew_job j = {.op = op, .z = z, .x = x, .y = y};
        ln__ew_spread(n, LN_EW_COST, same_shape_range, &j);
        return;
    }
    bc_job j = {{.op = op, .z = z, .x = x, .y = y}, nz, sz, {0}, {0}};
    for (int d = 0; d < nz; d++) {
        j.tx[d] = tx[d];
        j.ty[d] = ty[d];
    }
    ln_parallel_for(n, bcast_range, &j);
}

/* Sum of the squares of x[0..n) in double: 8 lanes, each summing every
** 8th element in order, then added pairwise -- a fixed order the compiler
** vectorises, so the result does not depend on the CPU or the threads. */
LN_CLONES static double sq_lane_sum(const float *x, int64_t n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++) tail += (double)x[i] * x[i];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
           ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail;
}

/* Sum of x[0..n) (n <= LN_BLOCK): FSUM_LANES float32 lanes, lane k adding
** x[k], x[k + 128], ... in order, restarted every FSUM_RUN elements (8 per
** lane); each run's lane j then goes into double accumulator j % 16, lanes
** in increasing order; the last n % 128 elements are added in double.
** Written with GCC's generic 8-float vectors (one ymm in the AVX-512 and
** AVX2 clones, two xmm in the baseline one: wider generic vectors are
** lowered through memory on AVX2), so every clone performs the same
** operations per lane: the same bits on any CPU and for any thread count.
** Accuracy: float32 roundings on at most 8 terms per lane (relative error
** <= 7 u for terms of one sign, u = 2^-24), double after that -- at least
** as good as a float32 pairwise or cascade sum (PyTorch's cascades 4 levels
** of 16 at 1M), though no longer the double sum's near-exactness;
** tests/c/test_kernels.c checks it against a float32 pairwise sum. Throughput: eight independent vector additions per 64 elements
** instead of one dependent double addition per 8 (the old double lanes
** were bound by that chain and the conversions). */
#define FSUM_LANES 128
#define FSUM_RUN 1024
typedef float ln__v8f __attribute__((vector_size(32)));
typedef double ln__v4d __attribute__((vector_size(32)));

/* (macros: a vector passed to or returned from a function changes the ABI
** between the clones) */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))

LN_CLONES static double float_sum(const float *x, int64_t n) {
    double d[16] = {0};
    int64_t i = 0;
    while (i + FSUM_LANES <= n) {
        const int64_t run = n - i < FSUM_RUN ? (n - i) / FSUM_LANES * FSUM_LANES
                                             : FSUM_RUN;
        /* lanes 0..63 over the run, then lanes 64..127 (the run is in L1):
        ** eight vector accumulators at a time fit the registers of every
        ** clone, and each lane still adds its own elements in order */
        float f[FSUM_LANES];
        for (int h = 0; h < 2; h++) {
            ln__v8f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0},
                    s6 = {0}, s7 = {0}, v;
            for (const float *p = x + i + 64 * h, *e = x + i + run; p < e;
                 p += FSUM_LANES) {
                LOAD8(v, p); s0 += v;
                LOAD8(v, p + 8); s1 += v;
                LOAD8(v, p + 16); s2 += v;
                LOAD8(v, p + 24); s3 += v;
                LOAD8(v, p + 32); s4 += v;
                LOAD8(v, p + 40); s5 += v;
                LOAD8(v, p + 48); s6 += v;
                LOAD8(v, p + 56); s7 += v;
            }
            float *o = f + 64 * h;
            memcpy(o, &s0, 32);
            memcpy(o + 8, &s1, 32);
            memcpy(o + 16, &s2, 32);
            memcpy(o + 24, &s3, 32);
            memcpy(o + 32, &s4, 32);
            memcpy(o + 40, &s5, 32);
            memcpy(o + 48, &s6, 32);
            memcpy(o + 56, &s7, 32);
        }
        for (int k = 0; k < FSUM_LANES / 16; k++)
            for (int m = 0; m < 16; m++) d[m] += (double)f[16 * k + m];
        i += run;
    }
    double tail = 0;
    for (; i < n; i++) tail += x[i];
    double r[8];
    for (int m = 0; m < 8; m++) r[m] = d[m] + d[m + 8];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + tail;
}

#ifdef LN_EXP512
/* float_sum on AVX-512: the same 128 lanes and the same operations per lane
** (lane k adds x[k], x[k + 128], ... within a run, then goes into double
** accumulator k % 16 in increasing k), so the same bits; one pass of eight
** 16-float accumulators over the run instead of two of 8-float ones. In L1
** and L2 it reads as fast as a plain load loop (30k: 1.10 -> 0.73 us,
** 100k: 3.7 -> 3.1 us; a loop adding every element, 2.8 us). */
__attribute__((target("avx512f"))) static double float_sum512(const float *x,
                                                              int64_t n) {
    __m512d d0 = _mm512_setzero_pd(), d1 = _mm512_setzero_pd();
    int64_t i = 0;
    while (i + FSUM_LANES <= n) {
        const int64_t run = n - i < FSUM_RUN ? (n - i) / FSUM_LANES * FSUM_LANES
                                             : FSUM_RUN;
        /* named accumulators: an array of them stays in memory at -O2 */
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0,
               s5 = s0, s6 = s0, s7 = s0;
        for (const float *p = x + i, *e = x + i + run; p < e; p += FSUM_LANES) {
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p));
            s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + 16));
            s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + 32));
            s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + 48));
            s4 = _mm512_add_ps(s4, _mm512_loadu_ps(p + 64));
            s5 = _mm512_add_ps(s5, _mm512_loadu_ps(p + 80));
            s6 = _mm512_add_ps(s6, _mm512_loadu_ps(p + 96));
            s7 = _mm512_add_ps(s7, _mm512_loadu_ps(p + 112));
        }
        /* s0..s7 into d0 (lanes 0-7) and d1 (8-15) in order, from the
        ** registers: an array of them went through the stack, and its
        ** 32-byte reloads of 64-byte stores stalled (a:sum() on 100k
        ** elements, one thread: 2.73 -> 2.50 us) */
#define ACC8(v)                                                              \
    d0 = _mm512_add_pd(d0, _mm512_cvtps_pd(_mm512_castps512_ps256(v))),       \
    d1 = _mm512_add_pd(d1, _mm512_cvtps_pd(_mm256_castpd_ps(                  \
                               _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))))
        ACC8(s0), ACC8(s1), ACC8(s2), ACC8(s3);
        ACC8(s4), ACC8(s5), ACC8(s6), ACC8(s7);
#undef ACC8
        i += run;
    }
    double d[16], tail = 0;
    _mm512_storeu_pd(d, d0);
    _mm512_storeu_pd(d + 8, d1);
    for (; i < n; i++) tail += x[i];
    double r[8];
    for (int m = 0; m < 8; m++) r[m] = d[m] + d[m + 8];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + tail;
}
#endif

static double lane_sum(const float *x, int64_t n) {
#ifdef LN_EXP512
    if (ln__have_avx512f()) return float_sum512(x, n);
#endif
    return float_sum(x, n);
}

/* Blocks [lo, hi) of a block sum: part[b] = lane_sum of block b. */
typedef struct {
    const float *x;
    int64_t m;
    double *part;
    int square;
} sum_job;

static void sum_blocks(void *arg, int64_t lo, int64_t hi) {
    const sum_job *j = arg;
    for (int64_t b = lo; b < hi; b++) {
        int64_t s = b * LN_BLOCK, e = s + LN_BLOCK < j->m ? s + LN_BLOCK : j->m;
        j->part[b] = j->square ? sq_lane_sum(j->x + s, e - s) : lane_sum(j->x + s, e - s);
    }
}

/* Sum of x (or of x squared): blocks of LN_BLOCK, each summed as above
** into a double, the partial sums then added in block order. The blocks
** are spread by ln__split_spread (par_for.h).
** Which thread sums a block never changes its partial sum or the order
** they are added in. */
static double block_sum(const float *x, int64_t n, int square) {
    enum { GROUP = 256 };
    double total = 0;
    for (int64_t g = 0; g < n; g += (int64_t)GROUP * LN_BLOCK) {
        int64_t m = n - g < (int64_t)GROUP * LN_BLOCK ? n - g
                                                      : (int64_t)GROUP * LN_BLOCK;
        int64_t nb = (m + LN_BLOCK - 1) / LN_BLOCK;
        double part[GROUP];
        sum_job j = {x + g, m, part, square};
        ln__split_spread(nb, LN_BLOCK, 1, sum_blocks, &j);
        for (int64_t b = 0; b < nb; b++) total += part[b];
    }
    return total;
}

double ln_sum(const float *x, int64_t n) { return block_sum(x, n, 0); }
double ln_sumsq(const float *x, int64_t n) { return block_sum(x, n, 1); }

/* ln_reduce (sum/mean/max/... along an axis): kernels_reduce.c. */

/* Columns [c0, c1) of the column sums, rows in order: y[c] starts at 0 (or
** its old value) and gets x[0, c], x[1, c], ... added one by one -- the
** same sequence of float additions for every cut of the columns, but with
** the columns (contiguous) as the vectorised inner loop. */
LN_CLONES static void sum_rows_block(float *y, const float *x, int64_t rows,
                                     int64_t cols, int64_t c0, int64_t c1,
                                     int accumulate) {
    if (!accumulate)
        for (int64_t c = c0; c < c1; c++) y[c] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) y[c] += xr[c];
    }
}

#ifdef LN_EXP512
/* The same sums for up to 128 columns, in up to eight vector registers:
** the loop above keeps y in memory, so each row waits for the last row's
** store (an RNN's bias gradient: 80 columns over 1,600 rows). Lanes past
** cols add +0 and are never stored: the same bits. */
__attribute__((target("avx512f"))) static void sum_rows_narrow512(float *y, const float *x,
                                                                  int64_t rows, int64_t cols,
                                                                  int accumulate) {
    __mmask16 m[8];
    __m512 a[8];
    const int nv = (int)((cols + 15) / 16);
    for (int v = 0; v < 8; v++) {
        int64_t left = cols - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        a[v] = accumulate ? _mm512_maskz_loadu_ps(m[v], y + 16 * v) : _mm512_setzero_ps();
    }
#define NARROW_ROWS(NV)                                                              \
    for (int64_t r = 0; r < rows; r++) {                                             \
        const float *xr = x + r * cols;                                              \
        for (int v = 0; v < (NV); v++)                                               \
            a[v] = _mm512_add_ps(a[v], _mm512_maskz_loadu_ps(m[v], xr + 16 * v));   \
    }
    switch (nv) {
    case 1: NARROW_ROWS(1) break;
    case 2: NARROW_ROWS(2) break;
    case 3: NARROW_ROWS(3) break;
    case 4: NARROW_ROWS(4) break;
    case 5: NARROW_ROWS(5) break;
    case 6: NARROW_ROWS(6) break;
    case 7: NARROW_ROWS(7) break;
    default: NARROW_ROWS(8) break;
    }
#undef NARROW_ROWS
    for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(y + 16 * v, m[v], a[v]);
}
#endif

void ln_sum_rows(float *y, const float *x, int64_t rows, int64_t cols,
                 int accumulate) {
#ifdef LN_EXP512
    if (cols > 0 && cols <= 128 && rows > 1 && ln__have_avx512f()) {
        sum_rows_narrow512(y, x, rows, cols, accumulate);
        return;
    }
#endif
    if (rows * cols <= LN_PAR_MIN || cols < 2 * SUM_ROWS_COLS) {
        sum_rows_block(y, x, rows, cols, 0, cols, accumulate);
        return;
    }
    const int64_t nblk = (cols + SUM_ROWS_COLS - 1) / SUM_ROWS_COLS;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t c0 = b * SUM_ROWS_COLS;
        int64_t c1 = c0 + SUM_ROWS_COLS < cols ? c0 + SUM_ROWS_COLS : cols;
        sum_rows_block(y, x, rows, cols, c0, c1, accumulate);
    }
}

/* Rows [lo, hi) of a gather; the source rows GATHER_AHEAD rows on are
** prefetched (rows in a random order defeat the hardware's stream
** prefetch). */
#define GATHER_AHEAD 8
typedef struct gather_job {
    char *y;
    const char *x;
    const int64_t *idx;
    size_t bytes;
} gather_job;

static void gather_range(void *arg, int64_t lo, int64_t hi) {
    const gather_job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        if (r + GATHER_AHEAD < hi) {
            const char *p = j->x + (size_t)j->idx[r + GATHER_AHEAD] * j->bytes;
            for (size_t o = 0; o < j->bytes && o < 4096; o += 64) __builtin_prefetch(p + o);
        }
        memcpy(j->y + (size_t)r * j->bytes, j->x + (size_t)j->idx[r] * j->bytes, j->bytes);
    }
}

void ln_gather_rows(void *y, const void *x, const int64_t *idx, int64_t nidx,
                    int64_t rowlen, size_t elsize) {
    gather_job j = {y, x, idx, (size_t)rowlen * elsize};
    const int64_t cost = (int64_t)(j.bytes / 4) > 0 ? (int64_t)(j.bytes / 4) : 1;
    ln__spread(nidx, cost, 1, gather_range, &j);
}
