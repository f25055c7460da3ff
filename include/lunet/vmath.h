/*
** vmath.h -- float32 exp, expm1, log, log1p, tanh and sigmoid, and double
** exp and log (at the end), written so that GCC vectorises a loop calling
** them (header only; part of the plugin SDK). Owner: core (issue 21).
**
** libm's expf/tanhf/logf are scalar calls: a loop over them runs one
** element at a time. These are branch-free (selects, no tables, no calls),
** so in a LN_CLONES function with `#pragma omp simd` a loop of them becomes
** 16 (AVX-512), 8 (AVX2) or 4 (SSE2) lanes:
**
**     LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
**         ...
**     #pragma omp simd
**         for (int64_t i = lo; i < hi; i++) y[i] = ln_vtanhf(x[i]);
**     }
**
** Method: exp/expm1 reduce x = n ln2 + r, |r| <= ln2/2 (ln2 in two parts),
** expm1(r) is Cephes's degree-7 minimax polynomial (Estrin's scheme), and
** 2^n is applied as two exact power-of-two factors (so results down to the
** smallest denormal round once). log takes the exponent and mantissa from the bits (denormal
** inputs scaled by 2^23 first) and Cephes's degree-9 polynomial on
** [sqrt(1/2) - 1, sqrt(2) - 1]. log1p(u) = log(1 + u) + the rounding error
** of 1 + u over 1 + u; tanh(x) = sign(x) q / (q + 2) with q = expm1(2|x|)
** (|x| capped at 9.5, where tanh is 1 in float); sigmoid(x) = 1 / (1 + e)
** for x >= 0 and e / (1 + e) below, e = exp(-|x|) (one division).
**
** Accuracy against double-precision libm, ulp = the spacing of float32 at
** the exact result (the smallest denormal's below FLT_MIN). Worst errors
** found: every float32 of the range (exhaustive, baseline clone without
** FMA): exp 0.99 on [-110, 100], expm1 1.57 on [-100, 100], log 0.83 on
** (0, inf), log1p 1.44 on [-1, inf); every 1021st bit pattern plus dense
** sweeps of [-2, 2], in the baseline, AVX2 and AVX-512 clones (FMAs
** contracted): tanh 2.26 on [-100, 100], sigmoid 2.12 on [-110, 100].
** The bounds the test asserts (tests/c/test_vmath.c, every clone the CPU
** runs) are LN_VMATH_MAX_ULP_* below: 2 ulp for exp, expm1, log, log1p;
** 3 for tanh and sigmoid.
** Special values as C99 libm: NaN in -> NaN out; exp(+inf) = +inf,
** exp(-inf) = 0, exp overflows to +inf above ln(FLT_MAX) and underflows
** through the denormals to +0; expm1(-inf) = -1; log(+-0) = -inf,
** log(x < 0) = NaN, log(+inf) = +inf; log1p(-1) = -inf, log1p(u < -1) =
** NaN; tanh(+-inf) = +-1; sigmoid(+inf) = 1, sigmoid(-inf) = 0; -0 gives
** -0 for expm1, log1p and tanh. Under the FTZ/DAZ mode lunet sets
** (ln_cpu_init) denormals are zero in and out, as for every float
** operation there: log of a denormal is then -inf.
**
** The same input gives the same bits in every thread (each element is
** computed alone, same code); where a file allows contraction the FMA
** clones may differ from the baseline clone in the last bit (core/kernels.c
** is compiled with -ffp-contract=off, so its clones agree).
*/
#ifndef LUNET_VMATH_H
#define LUNET_VMATH_H

#include <stdint.h>
#include <string.h>

#define LN_VMATH_MAX_ULP_EXP 2
#define LN_VMATH_MAX_ULP_EXPM1 2
#define LN_VMATH_MAX_ULP_LOG 2
#define LN_VMATH_MAX_ULP_LOG1P 2
#define LN_VMATH_MAX_ULP_TANH 3
#define LN_VMATH_MAX_ULP_SIGMOID 3

#if defined(__GNUC__)
#define LN_VM_INLINE static inline __attribute__((always_inline))
#else
#define LN_VM_INLINE static inline
#endif

LN_VM_INLINE uint32_t ln_vm_bits_(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

LN_VM_INLINE float ln_vm_float_(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 2^k for -126 <= k <= 127 (a normal float, exact). */
LN_VM_INLINE float ln_vm_pow2_(int32_t k) {
    return ln_vm_float_((uint32_t)(k + 127) << 23);
}

/* expm1(r) for |r| <= ln2/2: Cephes's minimax polynomial, evaluated in
** Estrin's scheme (pairs, then powers of r^2: a chain of 6 dependent
** operations instead of Horner's 12, so more elements are in flight; the
** accuracy bounds below hold unchanged). core/kernels.c's expm1_core16
** (AVX-512 exp and tanh) and exp_core8 (AVX2) repeat these operations in
** this order: keep them in step. */
LN_VM_INLINE float ln_vm_expm1_poly_(float r) {
    float r2 = r * r;
    float e0 = 5.0000001201e-1f + 1.6666665459e-1f * r;
    float e1 = 4.1665795894e-2f + 8.3334519073e-3f * r;
    float e2 = 1.3981999507e-3f + 1.9875691500e-4f * r;
    float p = e0 + r2 * (e1 + r2 * e2);
    return p * r2 + r;
}

/* e^x - 1 + one (one = 1: e^x; one = 0: e^x - 1), x already clamped to
** [-105, 89] (NaN mapped into it): (q + 1 - 2^-n) 2^n with q = expm1(r),
** 2^n applied as 2^(n >> 1) 2^(n - (n >> 1)), both normal. */
LN_VM_INLINE float ln_vm_exp_core_(float x, int plus_one) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds */
    float nf = (x * 1.44269504088896341f + magic) - magic;
    int32_t n = (int32_t)nf;
    float r = (x - nf * 0.693359375f) - nf * -2.12194440e-4f;
    float q = ln_vm_expm1_poly_(r);
    int32_t m = n < 25 ? n : 25; /* 1 - 2^-m is 1 in float from 25 on */
    float c = plus_one ? 1.0f : 1.0f - ln_vm_pow2_(-m);
    int32_t n1 = n >> 1; /* floor(n / 2) */
    return ((q + c) * ln_vm_pow2_(n1)) * ln_vm_pow2_(n - n1);
}

/* e^x. */
LN_VM_INLINE float ln_vexpf(float x) {
    float c = x > -105.0f ? x : -105.0f; /* NaN -> -105 (put back below) */
    c = c < 89.0f ? c : 89.0f;
    float y = ln_vm_exp_core_(c, 1);
    return x != x ? x : y;
}

/* e^x - 1, accurate near 0. */
LN_VM_INLINE float ln_vexpm1f(float x) {
    float c = x > -88.0f ? x : -88.0f; /* e^-88 - 1 is -1 in float */
    c = c < 89.0f ? c : 89.0f;
    float y = ln_vm_exp_core_(c, 0);
    y = x == 0.0f ? x : y; /* keeps -0 */
    return x != x ? x : y;
}

/* Natural logarithm. */
LN_VM_INLINE float ln_vlogf(float x) {
    const float tiny_lim = 1.17549435e-38f; /* FLT_MIN */
    int tiny = x < tiny_lim;
    float xs = tiny ? x * 8388608.0f : x; /* denormals: scale by 2^23 */
    uint32_t u = ln_vm_bits_(xs);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 126 - (tiny ? 23 : 0);
    float m = ln_vm_float_((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    int low = m < 0.707106781186547524f;
    e = low ? e - 1 : e;
    float f = low ? (m + m) - 1.0f : m - 1.0f; /* [sqrt(1/2) - 1, sqrt(2) - 1) */
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float ef = (float)e;
    float y = p * f * z;
    y = y + ef * -2.12194440e-4f;
    y = y - 0.5f * z;
    y = (f + y) + ef * 0.693359375f;
    const float inf = __builtin_inff();
    y = x < 0.0f ? __builtin_nanf("") : y;
    y = x == 0.0f ? -inf : y;
    y = x == inf ? inf : y;
    return x != x ? x : y;
}

/* log(1 + u), accurate near 0. */
LN_VM_INLINE float ln_vlog1pf(float u) {
    float w = 1.0f + u;
    float c = u - (w - 1.0f); /* the rounding error of 1 + u */
    int finite = w != 0.0f && w < __builtin_inff();
    float y = ln_vlogf(w) + (finite ? c / w : 0.0f);
    y = u == 0.0f ? u : y; /* keeps -0 */
    return u != u ? u : y;
}

/* Hyperbolic tangent. */
LN_VM_INLINE float ln_vtanhf(float x) {
    float a = __builtin_fabsf(x);
    a = a > 9.5f ? 9.5f : a; /* tanh is 1 in float from ~9.01 on */
    float q = ln_vexpm1f(a + a);
    return __builtin_copysignf(q / (q + 2.0f), x);
}

/* Logistic sigmoid 1 / (1 + e^-x), without overflow. */
LN_VM_INLINE float ln_vsigmoidf(float x) {
    float e = ln_vexpf(-__builtin_fabsf(x)); /* (0, 1] */
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}


/* ---- double precision ---------------------------------------------------
** For code that keeps float inputs' arithmetic in double (the losses,
** gelu): ln_vexp and ln_vlog, branch-free like the float ones. Relative
** error against libm below LN_VMATH_MAX_REL_D (measured 3.0e-13 for exp on
** [-708, 709.78], 3.2e-16 for log; tests/c/test_vmath.c). exp: 0 below
** -708 (the result would leave the normal range), +inf above 709.78, NaN in
** -> NaN out. log: x < 0 -> NaN, log(+-0) = -inf, log(+inf) = +inf; x is
** taken as normal (denormals are zero under lunet's FTZ/DAZ mode). Integer
** steps are 64-bit add/and/or/shift only and every select compares
** doubles, so the AVX-512 and AVX2 clones vectorise both (GCC 12's SSE2
** baseline clone vectorises exp, not log). */
#define LN_VMATH_MAX_REL_D 1e-12

LN_VM_INLINE uint64_t ln_vm_bits_d_(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

LN_VM_INLINE double ln_vm_double_(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* exp(a): a = k ln2 + r, k rounded by adding 1.5 * 2^52 (its low bits are
** then k), exp(r) by its Taylor polynomial to r^10 (|r| <= ln2/2), times
** 2^(k-1) built in the exponent bits, times 2 (2^k alone would overflow
** near 709.78). */
LN_VM_INLINE double ln_vexp(double a) {
    const double shift = 6755399441055744.0;
    const double c = a < -708.0 ? -708.0 : a > 709.78 ? 709.78 : a;
    const double t = c * 1.44269504088896340736 + shift, k = t - shift;
    const double r = (c - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const uint64_t e = (ln_vm_bits_d_(t) - ln_vm_bits_d_(shift) + 1022u) << 52;
    double y = (p * ln_vm_double_(e)) * 2.0;
    y = a < -708.0 ? 0.0 : y;
    y = a > 709.78 ? __builtin_inf() : y;
    return a != a ? a : y;
}

/* log(x): x = 2^k m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
** s = (m - 1) / (m + 1), |s| < 0.172, by its odd series to s^21; the
** exponent becomes a double through the bits of 2^52 + e. */
LN_VM_INLINE double ln_vlog(double x) {
    const uint64_t u = ln_vm_bits_d_(x);
    const double m1 = ln_vm_double_((u & 0x000fffffffffffffu) | 0x3ff0000000000000u); /* [1, 2) */
    const double e = ln_vm_double_(0x4330000000000000u | ((u >> 52) & 0x7ffu)) -
                     (4503599627370496.0 + 1023.0);
    const double m = m1 > 1.41421356237309504880 ? 0.5 * m1 : m1;
    const double k = m1 > 1.41421356237309504880 ? e + 1.0 : e;
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 1.0 / 21.0;
    p = p * s2 + 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    const double lm = 2.0 * s + 2.0 * s * s2 * p;
    double y = k * 6.93147180369123816490e-01 + (lm + k * 1.90821492927058770002e-10);
    const double inf = __builtin_inf();
    y = x < 0.0 ? __builtin_nan("") : y;
    y = x == 0.0 ? -inf : y;
    y = x == inf ? inf : y;
    return x != x ? x : y;
}

#endif
