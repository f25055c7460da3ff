/*
** kernels_reduce.c -- ln_reduce: sum, mean, max, min, argmax, argmin, var
** and std of a tensor viewed as [outer, len, inner] along its middle axis
** (Tensor:sum(dim) and friends, autograd's sum-to-shape). Owner: core
** (issue 21).
**
** Two layouts, each vectorised along the memory:
**  - inner == 1 (the last axis): every output is a contiguous row.
**    sum/mean: the whole-tensor sum's accuracy scheme (kernels.c) on the
**    row -- 64 float32 lanes, each adding at most 8 elements (a run of
**    512), the lanes then added into 16 double accumulators in a fixed
**    order, those in a fixed tree (row_fsum_c); a row of at most 128: 16
**    lanes of at most 8 elements each. var/std: the row's mean and
**    squared deviations in 32 double lanes (element l to lane l % 32, in
**    order, then a fixed tree, the tail after). max/min/arg*: a vectorised
**    pass finds the extreme value (and whether a NaN is there), a second
**    finds its first position in blocks.
**  - inner > 1: a block of up to RED_COLS outputs at once, the outputs
**    being the contiguous, vectorised loop. sum/mean: per run of 8 rows
**    each output's float32 partial ((r0 + r1) + (r2 + r3)) + ((r4 + r5) +
**    (r6 + r7)) (a short last run in row order), added into its group's
**    double (a group: 128 rows or more, group_rows), the groups' doubles
**    added in order; large sums share out the groups (sum_by_groups),
**    smaller ones the column blocks. var/std: the rows added in double in
**    order (the old scalar loop's bits). max/min/arg*: best and position
**    per output, rows in order.
** Error of a sum or mean (both layouts): at most 7 float32 roundings per
** partial of <= 8 terms, so |error| <= 7 u sum|x| (u = 2^-24) plus the
** double additions (~1e-16 sum|x|) and the final rounding to float32 --
** the whole-tensor sum's bound; tests/lua/test_reduce_axis.lua checks it
** against a double reference. (The double accumulation it replaces
** converted every float, 8 per instruction: 1.2-1.8x the time.) Like any
** float32 sum (PyTorch's too), a partial can overflow to inf where a
** double sum of values near FLT_MAX would not.
** Every output is computed by one task with arithmetic that does not
** depend on the cut, and the lanes are generic vectors, the same operations
** in every clone (LN_CLONES), and the AVX-512 paths (intrinsics where
** GCC's own code is slow) do the same operations per lane: the same bits
** for any thread count and CPU (tests/c/test_reduce_paths.c compares the
** generic and AVX-512 paths). This file is compiled with -ffp-contract=off
** (core/CMakeLists.txt): no fused multiply-add in the variance, so every
** path rounds alike. ln_argext and ln_sum_dev2 expose the row kernels to
** the whole-tensor :max/:argmax/:var (tensor_ops_math.c).
**
** Semantics (unchanged): ties go to the first position; a NaN beats every
** number (the first NaN wins); var is biased (÷ len), std unbiased.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/kernels.h"
#include "lunet/parallel.h"
#include "cpu_simd.h"
#include "par_for.h"

#define RED_LANES 32 /* double lanes of a row sum: 4 vectors of 8 */
#define RED_COLS 1024 /* outputs per block when inner > 1 */
#define RED_FIND 64  /* elements per block of the position search */
#define RED_RUN 8    /* rows per float32 partial when inner > 1 */
#define RED_GROUP 128 /* rows per double partial of a sum when inner > 1, */
#define RED_GROUP_ELEMS 16384 /* or more for narrow rows (group_rows) */
#define RED_GROUP_MIN 524288 /* elements from which groups are the tasks */
#define RS_LANES 64  /* float32 lanes of a row sum */
#define RS_RUN 512   /* elements per run of a row sum: 8 per lane */
#define RS_SHORT 128 /* rows up to this long: 16 lanes of 8 (row_fsum_c) */

typedef double red_v8d __attribute__((vector_size(64)));
typedef float red_v8f __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(LN_NO_CLONES)
#include <immintrin.h>
#define RED512 1
/* The same lanes and operations as the generic code below, written with
** the AVX-512 conversions GCC does not emit from it (it converts 8 floats
** as two halves and reassembles them: 3x slower): the same bits. */
#define T512(s) __attribute__((target("avx512f"))) s
T512(static double row_sum512(const float *x, int64_t n, double mean, int dev2)) {
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    const __m512d mv = _mm512_set1_pd(mean);
    int64_t i = 0;
#define CV(k) _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8 * (k)))
#define SQ(d) _mm512_mul_pd(_mm512_sub_pd(d, mv), _mm512_sub_pd(d, mv))
    if (dev2)
        for (; i + RED_LANES <= n; i += RED_LANES) {
            a0 = _mm512_add_pd(a0, SQ(CV(0)));
            a1 = _mm512_add_pd(a1, SQ(CV(1)));
            a2 = _mm512_add_pd(a2, SQ(CV(2)));
            a3 = _mm512_add_pd(a3, SQ(CV(3)));
        }
    else
        for (; i + RED_LANES <= n; i += RED_LANES) {
            a0 = _mm512_add_pd(a0, CV(0));
            a1 = _mm512_add_pd(a1, CV(1));
            a2 = _mm512_add_pd(a2, CV(2));
            a3 = _mm512_add_pd(a3, CV(3));
        }
#undef CV
#undef SQ
    double s[8];
    _mm512_storeu_pd(s, _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
    double r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        r += dev2 ? d * d : (double)x[i];
    }
    return r;
}

/* 16 float32 lanes' partials into two double accumulators (lanes 0-7,
** 8-15) */
#define ACC16(dp, p)                                                          \
    do {                                                                     \
        __m512 p_ = (p);                                                     \
        __m256 lo_ = _mm512_castps512_ps256(p_);                             \
        __m256 hi_ = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p_), 1)); \
        _mm512_store_pd((dp), _mm512_add_pd(_mm512_load_pd(dp), _mm512_cvtps_pd(lo_))); \
        _mm512_store_pd((dp) + 8, _mm512_add_pd(_mm512_load_pd((dp) + 8), _mm512_cvtps_pd(hi_))); \
    } while (0)

/* row_fsum_c's lanes and operations (see there) with AVX-512 vectors: the
** four 16-float accumulators are lanes 0-15, 16-31, 32-47, 48-63; the
** partial last group zero-masked loads (+0 in the missing lanes, as the
** generic code adds). Inlined into the loop over rows (a short row is
** mostly fixed cost: no call, no spill, one 64-bit mask). */
#define LO8(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define HI8(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
/* r[m] = d[m] + d[m + 8] (given), then ((r0 + r1) + (r2 + r3)) + ((r4 + r5)
** + (r6 + r7)): adjacent pairs, pairs of pairs, the two halves */
__attribute__((always_inline, target("avx512f"))) static inline double tree16(__m512d r) {
    r = _mm512_add_pd(r, _mm512_permute_pd(r, 0x55));
    r = _mm512_add_pd(r, _mm512_permutex_pd(r, 0x4e));
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(r), _mm512_extractf64x4_pd(r, 1));
    return _mm256_cvtsd_f64(h);
}

__attribute__((always_inline, target("avx512f"))) static inline double
row_fsum512(const float *x, int64_t n) {
    if (n > 0 && n <= RS_SHORT) { /* m0: elements 0-63, m1: 64-127 */
        const uint64_t m0 = n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
        const uint64_t m1 = n >= 128 ? ~UINT64_C(0) : n > 64 ? (UINT64_C(1) << (n - 64)) - 1 : 0;
#define LD(o, m, sh) _mm512_maskz_loadu_ps((__mmask16)((m) >> (sh)), x + (o))
        const __m512 a = _mm512_add_ps(LD(0, m0, 0), LD(64, m1, 0));
        const __m512 b = _mm512_add_ps(LD(16, m0, 16), LD(80, m1, 16));
        const __m512 c = _mm512_add_ps(LD(32, m0, 32), LD(96, m1, 32));
        const __m512 e = _mm512_add_ps(LD(48, m0, 48), LD(112, m1, 48));
#undef LD
        const __m512 f = _mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, e));
        return tree16(_mm512_add_pd(LO8(f), HI8(f)));
    }
    __m512d d0 = _mm512_setzero_pd(), d1 = d0;
    for (int64_t i = 0; i < n; i += RS_RUN) {
        const int64_t e = n - i < RS_RUN ? n : i + RS_RUN;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int64_t k = i;
        for (; k + RS_LANES <= e; k += RS_LANES) {
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + k));
            s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + k + 16));
            s2 = _mm512_add_ps(s2, _mm512_loadu_ps(x + k + 32));
            s3 = _mm512_add_ps(s3, _mm512_loadu_ps(x + k + 48));
        }
        if (k < e) {
            const uint64_t m = (UINT64_C(1) << (e - k)) - 1; /* e - k < 64 */
            s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps((__mmask16)m, x + k));
            s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps((__mmask16)(m >> 16), x + k + 16));
            s2 = _mm512_add_ps(s2, _mm512_maskz_loadu_ps((__mmask16)(m >> 32), x + k + 32));
            s3 = _mm512_add_ps(s3, _mm512_maskz_loadu_ps((__mmask16)(m >> 48), x + k + 48));
        }
        d0 = _mm512_add_pd(d0, LO8(s0)), d1 = _mm512_add_pd(d1, HI8(s0));
        d0 = _mm512_add_pd(d0, LO8(s1)), d1 = _mm512_add_pd(d1, HI8(s1));
        d0 = _mm512_add_pd(d0, LO8(s2)), d1 = _mm512_add_pd(d1, HI8(s2));
        d0 = _mm512_add_pd(d0, LO8(s3)), d1 = _mm512_add_pd(d1, HI8(s3));
    }
    return tree16(_mm512_add_pd(d0, d1));
}
#undef LO8
#undef HI8

/* :sum/:mean of rows [lo, hi) of length n, one dispatch for all of them */
T512(static void rows_fsum512(float *y, const float *x, int64_t lo, int64_t hi,
                              int64_t n, int mean)) {
    for (int64_t o = lo; o < hi; o++) {
        double v = row_fsum512(x + o * n, n);
        y[o] = mean ? (float)(v / (double)n) : (float)v;
    }
}

/* row_arg's two passes on AVX-512: the extreme (max/min of 4 vectors; NaN
** noted apart), then the first lane equal to it (or unordered), by mask. */
T512(static float row_ext512(const float *x, int64_t n, int want_max, int *has_nan)) {
    __m512 m0 = _mm512_set1_ps(x[0]), m1 = m0, m2 = m0, m3 = m0;
    __mmask16 nan = 0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16),
               v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q) |
               _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
        if (want_max) {
            m0 = _mm512_max_ps(m0, v0), m1 = _mm512_max_ps(m1, v1);
            m2 = _mm512_max_ps(m2, v2), m3 = _mm512_max_ps(m3, v3);
        } else {
            m0 = _mm512_min_ps(m0, v0), m1 = _mm512_min_ps(m1, v1);
            m2 = _mm512_min_ps(m2, v2), m3 = _mm512_min_ps(m3, v3);
        }
    }
    /* the rest: whole vectors, then one masked (the masked-off lanes hold
    ** x[0], which changes no extreme) */
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff
                                        : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mask_loadu_ps(m1, k, x + i);
        if (want_max) m1 = _mm512_max_ps(m1, v);
        else m1 = _mm512_min_ps(m1, v);
        nan |= _mm512_mask_cmp_ps_mask(k, v, v, _CMP_UNORD_Q);
    }
    *has_nan = nan != 0;
    if (want_max)
        return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    return _mm512_reduce_min_ps(_mm512_min_ps(_mm512_min_ps(m0, m1), _mm512_min_ps(m2, m3)));
}

T512(static int64_t row_find512(const float *x, int64_t n, float m, int nan)) {
    const __m512 mv = _mm512_set1_ps(m);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff
                                        : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        __mmask16 h = nan ? _mm512_mask_cmp_ps_mask(k, v, v, _CMP_UNORD_Q)
                          : _mm512_mask_cmp_ps_mask(k, v, mv, _CMP_EQ_OQ);
        if (h) return i + __builtin_ctz((unsigned)h);
    }
    return 0; /* not reached */
}

/* group_sum_c's lanes and operations, 16 columns at a time (the last 1-15
** masked: their lanes add +0 and are never read). acc: 64-byte aligned,
** room for w rounded up to 16. */
T512(static void group_sum512(double *acc, const float *base, int64_t rows,
                              int64_t inner, int64_t w)) {
    const int64_t w16 = (w + 15) / 16 * 16;
    const __mmask16 tail = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1u : 0xffffu);
    for (int64_t c = 0; c < w16; c += 8) _mm512_store_pd(acc + c, _mm512_setzero_pd());
    for (int64_t l = 0; l < rows; l += RED_RUN) {
        const float *r = base + l * inner;
        if (rows - l >= RED_RUN) {
            for (int64_t c = 0; c < w16; c += 16) {
                const float *q = r + c;
                const __mmask16 m = c + 16 <= w ? 0xffffu : tail;
#define LD(k) _mm512_maskz_loadu_ps(m, q + (k) * inner)
                __m512 p01 = _mm512_add_ps(LD(0), LD(1)), p23 = _mm512_add_ps(LD(2), LD(3));
                __m512 p45 = _mm512_add_ps(LD(4), LD(5)), p67 = _mm512_add_ps(LD(6), LD(7));
#undef LD
                ACC16(acc + c, _mm512_add_ps(_mm512_add_ps(p01, p23), _mm512_add_ps(p45, p67)));
            }
        } else {
            const int64_t run = rows - l;
            for (int64_t c = 0; c < w16; c += 16) {
                const float *q = r + c;
                const __mmask16 m = c + 16 <= w ? 0xffffu : tail;
                __m512 p = _mm512_maskz_loadu_ps(m, q);
                for (int64_t k = 1; k < run; k++)
                    p = _mm512_add_ps(p, _mm512_maskz_loadu_ps(m, q + k * inner));
                ACC16(acc + c, p);
            }
        }
    }
}

/* The inner > 1 case for max/min/arg*: columns [c0, c0 + w) of rows base,
** base + inner, ... (len rows); returns how many leading columns it did
** (the rest: the generic loop): 64 columns in four (best, position) pairs,
** the scalar rule per lane (strictly better, or a NaN over a number). */
T512(static int64_t cols512(ln_reduce_op op, float *y, const float *base,
                             int64_t len, int64_t inner, int64_t w)) {
    int64_t c = 0;
    if (op == LN_R_VAR || op == LN_R_STD || len < 1 || len > INT32_MAX) return 0;
    const int want_max = op == LN_R_MAX || op == LN_R_ARGMAX;
    const int values = op == LN_R_MAX || op == LN_R_MIN;
#define TAKE(v, b, PRED)                                                     \
    (_mm512_cmp_ps_mask(v, b, PRED) |                                        \
     _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(b, b, _CMP_ORD_Q), v, v, _CMP_UNORD_Q))
#define EXT_GROUP(PRED)                                                      \
    do {                                                                     \
        const float *r = base + c;                                           \
        __m512 b0 = _mm512_loadu_ps(r), b1 = _mm512_loadu_ps(r + 16),        \
               b2 = _mm512_loadu_ps(r + 32), b3 = _mm512_loadu_ps(r + 48);   \
        __m512i p0 = _mm512_setzero_si512(), p1 = p0, p2 = p0, p3 = p0;      \
        for (int64_t l = 1; l < len; l++) {                                  \
            r += inner;                                                      \
            _mm_prefetch((const char *)(r + 4 * inner), _MM_HINT_T0);        \
            _mm_prefetch((const char *)(r + 4 * inner + 16), _MM_HINT_T0);   \
            _mm_prefetch((const char *)(r + 4 * inner + 32), _MM_HINT_T0);   \
            _mm_prefetch((const char *)(r + 4 * inner + 48), _MM_HINT_T0);   \
            const __m512i lv = _mm512_set1_epi32((int)l);                    \
            __m512 v0 = _mm512_loadu_ps(r), v1 = _mm512_loadu_ps(r + 16),    \
                   v2 = _mm512_loadu_ps(r + 32), v3 = _mm512_loadu_ps(r + 48); \
            __mmask16 k0 = TAKE(v0, b0, PRED), k1 = TAKE(v1, b1, PRED),      \
                      k2 = TAKE(v2, b2, PRED), k3 = TAKE(v3, b3, PRED);      \
            b0 = _mm512_mask_blend_ps(k0, b0, v0);                           \
            p0 = _mm512_mask_blend_epi32(k0, p0, lv);                        \
            b1 = _mm512_mask_blend_ps(k1, b1, v1);                           \
            p1 = _mm512_mask_blend_epi32(k1, p1, lv);                        \
            b2 = _mm512_mask_blend_ps(k2, b2, v2);                           \
            p2 = _mm512_mask_blend_epi32(k2, p2, lv);                        \
            b3 = _mm512_mask_blend_ps(k3, b3, v3);                           \
            p3 = _mm512_mask_blend_epi32(k3, p3, lv);                        \
        }                                                                    \
        if (values) {                                                        \
            _mm512_storeu_ps(y + c, b0), _mm512_storeu_ps(y + c + 16, b1);   \
            _mm512_storeu_ps(y + c + 32, b2), _mm512_storeu_ps(y + c + 48, b3); \
        } else {                                                             \
            _mm512_storeu_ps(y + c, _mm512_cvtepi32_ps(p0));                 \
            _mm512_storeu_ps(y + c + 16, _mm512_cvtepi32_ps(p1));            \
            _mm512_storeu_ps(y + c + 32, _mm512_cvtepi32_ps(p2));            \
            _mm512_storeu_ps(y + c + 48, _mm512_cvtepi32_ps(p3));            \
        }                                                                    \
    } while (0)
    for (; c + 64 <= w; c += 64) {
        if (want_max) EXT_GROUP(_CMP_GT_OQ);
        else EXT_GROUP(_CMP_LT_OQ);
    }
#undef EXT_GROUP
#undef TAKE
    return c;
}

/* row_fsum_c's lanes and operations with AVX2 vectors (GCC leaves the
** generic code's padded loads scalar: m:sum(2) over rows of 100 ran at
** 1.2 ns an element). Float lanes 0-63 are s[0..7], 8 each; the 16 double
** accumulators d[0..3], 4 each; missing elements are masked loads (+0). */
#define T256(s) __attribute__((target("avx2"))) s
#define CVLO(v) _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define CVHI(v) _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))
/* ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)) of r03 = r0..r3 and
** r47 = r4..r7, as row_fsum_c's last line */
__attribute__((always_inline, target("avx2"))) static inline double
tree8_256(__m256d r03, __m256d r47) {
    const __m256d h = _mm256_hadd_pd(r03, r47); /* r0+r1 r4+r5 r2+r3 r6+r7 */
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h),
                                 _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

__attribute__((always_inline, target("avx2"))) static inline double
row_fsum256(const float *x, int64_t n) {
    if (n > 0 && n <= RS_SHORT) { /* lane m: x[m + 16 q], q = 0..7 */
        __m256 v[16];
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++) {
            const int64_t o = 8 * (int64_t)q;
            v[q] = o + 8 <= n  ? _mm256_loadu_ps(x + o)
                   : o >= n    ? _mm256_setzero_ps()
                               : _mm256_maskload_ps(x + o, ln__mask8((int)(n - o)));
        }
        /* lanes 0-7 from v[2q], lanes 8-15 from v[2q + 1] */
        const __m256 lo = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(v[0], v[8]), _mm256_add_ps(v[2], v[10])),
            _mm256_add_ps(_mm256_add_ps(v[4], v[12]), _mm256_add_ps(v[6], v[14])));
        const __m256 hi = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(v[1], v[9]), _mm256_add_ps(v[3], v[11])),
            _mm256_add_ps(_mm256_add_ps(v[5], v[13]), _mm256_add_ps(v[7], v[15])));
        return tree8_256(_mm256_add_pd(CVLO(lo), CVLO(hi)),
                         _mm256_add_pd(CVHI(lo), CVHI(hi)));
    }
    __m256d d0 = _mm256_setzero_pd(), d1 = d0, d2 = d0, d3 = d0;
    for (int64_t i = 0; i < n; i += RS_RUN) {
        const int64_t e = n - i < RS_RUN ? n : i + RS_RUN;
        __m256 s[8]; /* unrolled loops: kept in registers */
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) s[l] = _mm256_setzero_ps();
        int64_t k = i;
        for (; k + RS_LANES <= e; k += RS_LANES)
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++)
                s[l] = _mm256_add_ps(s[l], _mm256_loadu_ps(x + k + 8 * l));
        if (k < e)
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                const int64_t o = k + 8 * l;
                if (o < e)
                    s[l] = _mm256_add_ps(
                        s[l], o + 8 <= e ? _mm256_loadu_ps(x + o)
                                         : _mm256_maskload_ps(x + o, ln__mask8((int)(e - o))));
            }
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) { /* lanes 16 q + m into d[m], in order */
            d0 = _mm256_add_pd(d0, CVLO(s[2 * q]));
            d1 = _mm256_add_pd(d1, CVHI(s[2 * q]));
            d2 = _mm256_add_pd(d2, CVLO(s[2 * q + 1]));
            d3 = _mm256_add_pd(d3, CVHI(s[2 * q + 1]));
        }
    }
    return tree8_256(_mm256_add_pd(d0, d2), _mm256_add_pd(d1, d3));
}
#undef CVLO
#undef CVHI

/* row_sum512's lanes and operations (ROW_LANES) on AVX2: double lane l of
** accumulator k is half h = l / 4 of a[k][h]. The generic code's 8-double
** vectors are lowered through the stack on AVX2 (var of 1M: 0.66 ns an
** element). No "fma" in the target: (d - mean)^2 + a stays two roundings. */
T256(static double row_sum256(const float *x, int64_t n, double mean, int dev2)) {
    __m256d a[4][2]; /* unrolled loops: kept in registers */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) a[k][0] = a[k][1] = _mm256_setzero_pd();
    const __m256d mv = _mm256_set1_pd(mean);
    int64_t i = 0;
    for (; i + RED_LANES <= n; i += RED_LANES)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256 f = _mm256_loadu_ps(x + i + 8 * k);
            __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
            __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
            if (dev2) {
                lo = _mm256_sub_pd(lo, mv), hi = _mm256_sub_pd(hi, mv);
                lo = _mm256_mul_pd(lo, lo), hi = _mm256_mul_pd(hi, hi);
            }
            a[k][0] = _mm256_add_pd(a[k][0], lo);
            a[k][1] = _mm256_add_pd(a[k][1], hi);
        }
    double r = tree8_256(
        _mm256_add_pd(_mm256_add_pd(a[0][0], a[1][0]), _mm256_add_pd(a[2][0], a[3][0])),
        _mm256_add_pd(_mm256_add_pd(a[0][1], a[1][1]), _mm256_add_pd(a[2][1], a[3][1])));
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        r += dev2 ? d * d : (double)x[i];
    }
    return r;
}

/* row_ext512 and row_find512 on AVX2: the extreme of 4 vectors (NaN noted
** apart), the tail's missing lanes taking the accumulator's own values;
** then the first lane equal to it (or unordered). The generic loops were
** left half scalar (m:max(2) over rows of 100: 72 ns a row). */
T256(static float row_ext256(const float *x, int64_t n, int want_max, int *has_nan)) {
    __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0, m2 = m0, m3 = m0;
    __m256 nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8),
                     v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q),
                                             _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q)));
        if (want_max) {
            m0 = _mm256_max_ps(m0, v0), m1 = _mm256_max_ps(m1, v1);
            m2 = _mm256_max_ps(m2, v2), m3 = _mm256_max_ps(m3, v3);
        } else {
            m0 = _mm256_min_ps(m0, v0), m1 = _mm256_min_ps(m1, v1);
            m2 = _mm256_min_ps(m2, v2), m3 = _mm256_min_ps(m3, v3);
        }
    }
    for (; i < n; i += 8) {
        const __m256i k = ln__mask8((int)(n - i < 8 ? n - i : 8));
        const __m256 v = _mm256_blendv_ps(m1, _mm256_maskload_ps(x + i, k),
                                          _mm256_castsi256_ps(k));
        m1 = want_max ? _mm256_max_ps(m1, v) : _mm256_min_ps(m1, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    *has_nan = _mm256_movemask_ps(nan) != 0;
    /* across the lanes (any order: without a NaN the extreme is exact, and
    ** a zero's sign or a NaN's value is decided by the caller's find) */
#define EXT(a, b) (want_max ? _mm256_max_ps(a, b) : _mm256_min_ps(a, b))
    __m256 m = EXT(EXT(m0, m1), EXT(m2, m3));
    m = EXT(m, _mm256_permute2f128_ps(m, m, 1));
    m = EXT(m, _mm256_shuffle_ps(m, m, 0x4e));
    m = EXT(m, _mm256_shuffle_ps(m, m, 0xb1));
#undef EXT
    return _mm256_cvtss_f32(m);
}

T256(static int64_t row_find256(const float *x, int64_t n, float m, int nan)) {
    const __m256 mv = _mm256_set1_ps(m);
    for (int64_t i = 0; i < n; i += 8) {
        const int w = n - i < 8 ? (int)(n - i) : 8;
        const __m256 v =
            w == 8 ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, ln__mask8(w));
        const int h = _mm256_movemask_ps(nan ? _mm256_cmp_ps(v, v, _CMP_UNORD_Q)
                                             : _mm256_cmp_ps(v, mv, _CMP_EQ_OQ)) &
                      ((1 << w) - 1);
        if (h) return i + __builtin_ctz((unsigned)h);
    }
    return 0; /* not reached */
}

T256(static void rows_fsum256(float *y, const float *x, int64_t lo, int64_t hi,
                              int64_t n, int mean)) {
    for (int64_t o = lo; o < hi; o++) {
        double v = row_fsum256(x + o * n, n);
        y[o] = mean ? (float)(v / (double)n) : (float)v;
    }
}

#endif

/* x[0..n) as a double: lanes, then the tail in order. mean != 0 or square:
** the sum of (x - mean)^2 instead. A macro body shared by both so the lane
** order is the same. (Vectors are never passed between functions: the
** clones' ABIs differ.) */
#define ROW_LANES(TERM)                                                      \
    red_v8d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                          \
    int64_t i = 0;                                                           \
    for (; i + RED_LANES <= n; i += RED_LANES) {                             \
        red_v8f f;                                                           \
        red_v8d d;                                                           \
        memcpy(&f, x + i, sizeof f);                                         \
        d = __builtin_convertvector(f, red_v8d);                             \
        a0 += TERM(d);                                                       \
        memcpy(&f, x + i + 8, sizeof f);                                     \
        d = __builtin_convertvector(f, red_v8d);                             \
        a1 += TERM(d);                                                       \
        memcpy(&f, x + i + 16, sizeof f);                                    \
        d = __builtin_convertvector(f, red_v8d);                             \
        a2 += TERM(d);                                                       \
        memcpy(&f, x + i + 24, sizeof f);                                    \
        d = __builtin_convertvector(f, red_v8d);                             \
        a3 += TERM(d);                                                       \
    }                                                                        \
    red_v8d s = (a0 + a1) + (a2 + a3);                                       \
    double r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))

#define PLAIN(d) (d)
#define DEV2(d) (((d) - mv) * ((d) - mv))

LN_CLONES static double row_sum_c(const float *x, int64_t n) {
    ROW_LANES(PLAIN);
    for (; i < n; i++) r += (double)x[i];
    return r;
}

/* Sum of x[0..n) for :sum/:mean along the last axis, the whole-tensor
** sum's scheme (kernels.c float_sum) on a row: RS_LANES float32 lanes,
** lane k adding x[i + k], x[i + k + 64], ... over a run of RS_RUN elements
** (at most 8 terms per lane, from +0; the last group of a run padded with
** +0), then lane k into double accumulator k % 16 in increasing k, the 16
** added in a fixed tree. Error: at most 7 float32 roundings on each lane's
** partial, <= 7 u sum|x| (u = 2^-24) plus the double additions' ~1e-16 and
** the final rounding -- the bound tests/lua/test_reduce_axis.lua checks
** against a double reference. The double accumulation it replaces
** converted every float (8 per instruction): 2x the time of this.
** A row of 1 to RS_SHORT elements: 16 float32 lanes, lane m the tree
** ((x[m] + x[m+64]) + (x[m+16] + x[m+80])) + ((x[m+32] + x[m+96]) +
** (x[m+48] + x[m+112])) (+0 past the row), each into a double, those in
** the same tree: the same bound, with one conversion to double per 16
** lanes instead of four (m:sum(2) of 300 rows of 100: 2.9 -> 2.4 us). */
LN_CLONES static double row_fsum_c(const float *x, int64_t n) {
    double d[16] = {0};
    if (n > 0 && n <= RS_SHORT) {
        for (int m = 0; m < 16; m++) {
            float v[8];
            for (int q = 0; q < 8; q++) v[q] = m + 16 * q < n ? x[m + 16 * q] : 0.0f;
            d[m] = (double)(((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])));
        }
        n = 0; /* the tree below */
    }
    for (int64_t i = 0; i < n; i += RS_RUN) {
        const int64_t e = n - i < RS_RUN ? n : i + RS_RUN;
        float f[RS_LANES] = {0};
        int64_t k = i;
        for (; k + RS_LANES <= e; k += RS_LANES) {
#pragma omp simd
            for (int l = 0; l < RS_LANES; l++) f[l] += x[k + l];
        }
        if (k < e)
            for (int l = 0; l < RS_LANES; l++) f[l] += k + l < e ? x[k + l] : 0.0f;
        for (int q = 0; q < RS_LANES / 16; q++)
            for (int m = 0; m < 16; m++) d[m] += (double)f[16 * q + m];
    }
    double r[8];
    for (int m = 0; m < 8; m++) r[m] = d[m] + d[m + 8];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}

/* sum of (x - mean)^2 */
LN_CLONES static double row_dev2_c(const float *x, int64_t n, double mean) {
    const red_v8d mv = {mean, mean, mean, mean, mean, mean, mean, mean};
    ROW_LANES(DEV2);
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        r += d * d;
    }
    return r;
}

/* row_arg's two passes, generic: pass 1 finds the extreme value m (any
** order: max and min are exact) and whether a NaN occurs; pass 2 the first
** element equal to m (or the first NaN), a block at a time. */
LN_CLONES static float row_ext_c(const float *x, int64_t n, int want_max, int *has_nan) {
    float m = x[0];
    int nan = 0;
    if (want_max) {
#pragma omp simd reduction(max : m) reduction(| : nan)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            nan |= v != v;
            m = v > m ? v : m;
        }
    } else {
#pragma omp simd reduction(min : m) reduction(| : nan)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            nan |= v != v;
            m = v < m ? v : m;
        }
    }
    *has_nan = nan;
    return m;
}

LN_CLONES static int64_t row_find_c(const float *x, int64_t n, float m, int nan) {
    for (int64_t b = 0; b < n; b += RED_FIND) {
        int64_t e = b + RED_FIND < n ? b + RED_FIND : n;
        int hit = 0;
        if (nan) {
#pragma omp simd reduction(| : hit)
            for (int64_t i = b; i < e; i++) hit |= x[i] != x[i];
        } else {
#pragma omp simd reduction(| : hit)
            for (int64_t i = b; i < e; i++) hit |= x[i] == m;
        }
        if (!hit) continue;
        for (int64_t i = b; i < e; i++)
            if (nan ? x[i] != x[i] : x[i] == m) return i;
    }
    return 0; /* not reached: some element is m or NaN */
}

static double row_sum(const float *x, int64_t n) {
#ifdef RED512
    if (ln__have_avx512f()) return row_sum512(x, n, 0, 0);
    if (ln__have_avx2()) return row_sum256(x, n, 0, 0);
#endif
    return row_sum_c(x, n);
}

LN_CLONES static void rows_fsum_c(float *y, const float *x, int64_t lo, int64_t hi,
                                  int64_t n, int mean) {
    for (int64_t o = lo; o < hi; o++) {
        double v = row_fsum_c(x + o * n, n);
        y[o] = mean ? (float)(v / (double)n) : (float)v;
    }
}

static void rows_fsum(float *y, const float *x, int64_t lo, int64_t hi, int64_t n,
                      int mean) {
#ifdef RED512
    if (ln__have_avx512f()) {
        rows_fsum512(y, x, lo, hi, n, mean);
        return;
    }
    if (ln__have_avx2()) {
        rows_fsum256(y, x, lo, hi, n, mean);
        return;
    }
#endif
    rows_fsum_c(y, x, lo, hi, n, mean);
}

static double row_dev2(const float *x, int64_t n, double mean) {
#ifdef RED512
    if (ln__have_avx512f()) return row_sum512(x, n, mean, 1);
    if (ln__have_avx2()) return row_sum256(x, n, mean, 1);
#endif
    return row_dev2_c(x, n, mean);
}

/* Pass 1: the row's extreme value and whether a NaN occurs. */
static float row_ext(const float *x, int64_t n, int want_max, int *nan) {
#ifdef RED512
    if (ln__have_avx512f()) return row_ext512(x, n, want_max, nan);
    if (ln__have_avx2()) return row_ext256(x, n, want_max, nan);
#endif
    return row_ext_c(x, n, want_max, nan);
}

/* First position of the row's extreme under the rule above. Equal values
** (-0 and +0 too) keep the first, as the scalar rule did. */
static int64_t row_arg(const float *x, int64_t n, int want_max) {
    int nan;
    const float m = row_ext(x, n, want_max, &nan);
#ifdef RED512
    if (ln__have_avx512f()) return row_find512(x, n, m, nan);
    if (ln__have_avx2()) return row_find256(x, n, m, nan);
#endif
    return row_find_c(x, n, m, nan);
}

int64_t ln_argext(const float *x, int64_t n, int want_max) {
    return n > 0 ? row_arg(x, n, want_max) : 0;
}

/* x[row_arg(x, n, want_max)] in one pass where it can (ln_ext_value). A
** static function: rows_range calls it directly, not through the exported
** name (which tests/c/test_reduce_paths.c defines a second time). */
static float row_value(const float *x, int64_t n, int want_max) {
    if (n <= 0) return NAN;
    int nan;
    const float m = row_ext(x, n, want_max, &nan);
    if (!nan && m != 0) return m;
    /* the first NaN, or the first zero of its sign (max(-0, +0) may be
    ** either), as ln_argext's element */
#ifdef RED512
    if (ln__have_avx512f()) return x[row_find512(x, n, m, nan)];
    if (ln__have_avx2()) return x[row_find256(x, n, m, nan)];
#endif
    return x[row_find_c(x, n, m, nan)];
}

float ln_ext_value(const float *x, int64_t n, int want_max) {
    return row_value(x, n, want_max);
}

double ln_sum_dev2(const float *x, int64_t n, double mean) {
    return row_dev2(x, n, mean);
}

typedef struct {
    ln_reduce_op op;
    float *y;
    const float *x;
    int64_t outer, len, inner;
    int64_t bw, nblk; /* inner > 1: blocks of bw columns, nblk per outer */
} red_job;

/* Outputs [lo, hi) of the last-axis case: one row each. */
static void rows_range(void *arg, int64_t lo, int64_t hi) {
    const red_job *j = arg;
    const int64_t len = j->len;
    if (j->op == LN_R_SUM || j->op == LN_R_MEAN) {
        rows_fsum(j->y, j->x, lo, hi, len, j->op == LN_R_MEAN);
        return;
    }
    for (int64_t o = lo; o < hi; o++) {
        const float *p = j->x + o * len;
        float *y = j->y + o;
        switch (j->op) {
        case LN_R_SUM:
        case LN_R_MEAN: break; /* rows_fsum above */
        case LN_R_MAX:
        case LN_R_MIN: *y = row_value(p, len, j->op == LN_R_MAX); break;
        case LN_R_ARGMAX:
        case LN_R_ARGMIN:
            *y = len ? (float)row_arg(p, len, j->op == LN_R_ARGMAX) : 0.0f;
            break;
        case LN_R_VAR:
        case LN_R_STD: {
            double mean = row_sum(p, len) / (double)len;
            double ss = row_dev2(p, len, mean);
            *y = j->op == LN_R_VAR ? (float)(ss / (double)len)
                                   : (float)sqrt(ss / (double)(len > 1 ? len - 1 : 1));
        } break;
        }
    }
}

/* Rows [0, rows) of a block of w columns (rows `inner` apart) into
** acc[0..w): per run of RED_RUN rows each column's float32 partial
** ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)) (a shorter last run:
** r0 + r1 + ... in row order), added into its double from 0. */
LN_CLONES static void group_sum_c(double *acc, const float *base, int64_t rows,
                                  int64_t inner, int64_t w) {
    float part[RED_COLS];
    for (int64_t c = 0; c < w; c++) acc[c] = 0;
    for (int64_t l = 0; l < rows; l += RED_RUN) {
        const int64_t run = rows - l < RED_RUN ? rows - l : RED_RUN;
        const float *r = base + l * inner;
        if (run == RED_RUN) {
            const float *r1 = r + inner, *r2 = r + 2 * inner, *r3 = r + 3 * inner,
                        *r4 = r + 4 * inner, *r5 = r + 5 * inner, *r6 = r + 6 * inner,
                        *r7 = r + 7 * inner;
#pragma omp simd
            for (int64_t c = 0; c < w; c++)
                part[c] = ((r[c] + r1[c]) + (r2[c] + r3[c])) +
                          ((r4[c] + r5[c]) + (r6[c] + r7[c]));
        } else {
            for (int64_t c = 0; c < w; c++) part[c] = r[c];
            for (int64_t k = 1; k < run; k++) {
                const float *q = r + k * inner;
#pragma omp simd
                for (int64_t c = 0; c < w; c++) part[c] += q[c];
            }
        }
#pragma omp simd
        for (int64_t c = 0; c < w; c++) acc[c] += (double)part[c];
    }
}

/* acc: 64-byte aligned, room for w rounded up to 16 (group_sum512) */
static void group_sum(double *acc, const float *base, int64_t rows, int64_t inner,
                      int64_t w) {
#ifdef RED512
    if (ln__have_avx512f()) {
        group_sum512(acc, base, rows, inner, w);
        return;
    }
#endif
    group_sum_c(acc, base, rows, inner, w);
}

/* Rows per group of a column sum: RED_GROUP, more when rows are narrow,
** so that a group is RED_GROUP_ELEMS elements or more (a group's fixed
** cost stays small); then evened out over the groups that makes (the
** groups are the tasks of sum_by_groups). Depends on the shape only,
** never on the threads. */
static int64_t group_rows(int64_t len, int64_t inner) {
    int64_t r = (RED_GROUP_ELEMS / inner + RED_RUN - 1) / RED_RUN * RED_RUN;
    if (r < RED_GROUP) r = RED_GROUP;
    const int64_t n = (len + r - 1) / r; /* groups; then as even as runs allow */
    return n > 1 ? ((len + n - 1) / n + RED_RUN - 1) / RED_RUN * RED_RUN : r;
}

/* y[0..w) from the columns' double sums: the sums, or the means */
LN_CLONES static void finish_sums(ln_reduce_op op, float *y, const double *tot, int64_t len,
                                  int64_t w) {
    if (op == LN_R_SUM) {
#pragma omp simd
        for (int64_t c = 0; c < w; c++) y[c] = (float)tot[c];
    } else {
#pragma omp simd
        for (int64_t c = 0; c < w; c++) y[c] = (float)(tot[c] / (double)len);
    }
}

/* A sum or mean of w columns over len rows: the groups' doubles
** (group_rows rows each, group_sum) added in group order, from 0. */
LN_CLONES static void cols_sum(ln_reduce_op op, float *y, const float *base, int64_t len,
                               int64_t inner, int64_t w) {
    double tot[RED_COLS] __attribute__((aligned(64))), g[RED_COLS] __attribute__((aligned(64)));
    const int64_t gr = group_rows(len, inner);
    double *acc = len <= gr ? tot : g; /* one group: its doubles are the total */
    if (acc == g)
        for (int64_t c = 0; c < w; c++) tot[c] = 0;
    for (int64_t l = 0; l < len; l += gr) {
        group_sum(acc, base + l * inner, len - l < gr ? len - l : gr, inner, w);
        if (acc == g) {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) tot[c] += g[c];
        }
    }
    finish_sums(op, y, tot, len, w);
}

/* One block of the inner > 1 case: outputs y[c0..c1) of outer index o. */
LN_CLONES static void cols_block(const red_job *j, int64_t o, int64_t c0, int64_t c1) {
    const int64_t len = j->len, inner = j->inner;
    int64_t w = c1 - c0;
    const float *base = j->x + o * len * inner + c0;
    float *y = j->y + o * inner + c0;
    if (j->op == LN_R_SUM || j->op == LN_R_MEAN) {
        cols_sum(j->op, y, base, len, inner, w);
        return;
    }
    double acc[RED_COLS], ss[RED_COLS];
#ifdef RED512
    if (ln__have_avx512f()) {
        int64_t done = cols512(j->op, y, base, len, inner, w);
        base += done, y += done, w -= done;
        if (w == 0) return;
    }
#endif
    switch (j->op) {
    case LN_R_VAR:
    case LN_R_STD: {
        for (int64_t c = 0; c < w; c++) acc[c] = 0;
        for (int64_t l = 0; l < len; l++) {
            const float *r = base + l * inner;
#pragma omp simd
            for (int64_t c = 0; c < w; c++) acc[c] += (double)r[c];
        }
        for (int64_t c = 0; c < w; c++) {
            acc[c] /= (double)len; /* the mean */
            ss[c] = 0;
        }
        for (int64_t l = 0; l < len; l++) {
            const float *r = base + l * inner;
#pragma omp simd
            for (int64_t c = 0; c < w; c++) {
                double d = r[c] - acc[c];
                ss[c] += d * d;
            }
        }
        for (int64_t c = 0; c < w; c++)
            y[c] = j->op == LN_R_VAR
                       ? (float)(ss[c] / (double)len)
                       : (float)sqrt(ss[c] / (double)(len > 1 ? len - 1 : 1));
        return;
    }
    default: break;
    }
    /* max/min/arg*: best and its position per output, rows in order */
    const int want_max = j->op == LN_R_MAX || j->op == LN_R_ARGMAX;
    const int values = j->op == LN_R_MAX || j->op == LN_R_MIN;
    float best[RED_COLS];
    int64_t pos[RED_COLS];
    if (len == 0) {
        for (int64_t c = 0; c < w; c++) y[c] = values ? NAN : 0.0f;
        return;
    }
    for (int64_t c = 0; c < w; c++) {
        best[c] = base[c];
        pos[c] = 0;
    }
    for (int64_t l = 1; l < len; l++) {
        const float *r = base + l * inner;
        if (want_max) {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) {
                float v = r[c], b = best[c];
                int take = (v > b) | ((v != v) & (b == b));
                best[c] = take ? v : b;
                pos[c] = take ? l : pos[c];
            }
        } else {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) {
                float v = r[c], b = best[c];
                int take = (v < b) | ((v != v) & (b == b));
                best[c] = take ? v : b;
                pos[c] = take ? l : pos[c];
            }
        }
    }
    for (int64_t c = 0; c < w; c++) y[c] = values ? best[c] : (float)pos[c];
}

/* Tasks [lo, hi) of the inner > 1 case: task t is block t % nblk of outer
** index t / nblk. */
static void cols_range(void *arg, int64_t lo, int64_t hi) {
    const red_job *j = arg;
    for (int64_t t = lo; t < hi; t++) {
        int64_t o = t / j->nblk, c0 = (t % j->nblk) * j->bw;
        int64_t c1 = c0 + j->bw < j->inner ? c0 + j->bw : j->inner;
        cols_block(j, o, c0, c1);
    }
}

/* A sum or mean of RED_GROUP_MIN elements or more with too few column
** blocks to share: the tasks are groups of rows instead, so that each core
** reads a contiguous part of the memory, not a strip of every row (two
** threads, m:sum(1) of 1000 x 1000: 52-56 -> 43-50 us; of 10000 x 100:
** 99-140 -> 51-60 us). The groups' doubles go to `part` (one row of inner,
** padded to 16, per outer index and group), then are added in group
** order: cols_sum's arithmetic, the same bits. Below RED_GROUP_MIN the
** column blocks win (800 x 400: 9.2-10.5 against 12.2-13.2 us): finer
** tasks, and no partials to add. Returns 0 (nothing done) without memory. */
typedef struct {
    const red_job *j;
    double *part;
    int64_t rows, ngr, nbw, stride; /* per group, groups, RED_COLS blocks, part's row */
} group_job;

static void groups_range(void *arg, int64_t lo, int64_t hi) {
    const group_job *gj = arg;
    const red_job *j = gj->j;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t b = t % gj->nbw, g = t / gj->nbw % gj->ngr, o = t / gj->nbw / gj->ngr;
        const int64_t c0 = b * RED_COLS, l0 = g * gj->rows;
        const int64_t w = j->inner - c0 < RED_COLS ? j->inner - c0 : RED_COLS;
        const int64_t rows = j->len - l0 < gj->rows ? j->len - l0 : gj->rows;
        group_sum(gj->part + (o * gj->ngr + g) * gj->stride + c0,
                  j->x + (o * j->len + l0) * j->inner + c0, rows, j->inner, w);
    }
}

/* y[0..inner) from ngr rows of group sums `stride` apart, added in order */
LN_CLONES static void add_groups(ln_reduce_op op, float *y, const double *part, int64_t ngr,
                                 int64_t stride, int64_t len, int64_t inner) {
    double tot[RED_COLS] __attribute__((aligned(64)));
    for (int64_t c0 = 0; c0 < inner; c0 += RED_COLS) {
        const int64_t w = inner - c0 < RED_COLS ? inner - c0 : RED_COLS;
        const double *p = part + c0;
        for (int64_t c = 0; c < w; c++) tot[c] = 0;
        for (int64_t g = 0; g < ngr; g++, p += stride)
#pragma omp simd
            for (int64_t c = 0; c < w; c++) tot[c] += p[c];
        finish_sums(op, y + c0, tot, len, w);
    }
}

static int sum_by_groups(const red_job *j) {
    const int64_t gr = group_rows(j->len, j->inner);
    group_job gj = {j, NULL, gr, (j->len + gr - 1) / gr,
                    (j->inner + RED_COLS - 1) / RED_COLS, (j->inner + 15) / 16 * 16};
    /* at most 1/32 of x's bytes: stride < 2 inner, a group >= 128 rows */
    const size_t bytes = (size_t)(j->outer * gj.ngr * gj.stride) * sizeof(double);
    gj.part = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!gj.part) return 0; /* the column blocks: the same arithmetic */
    const int64_t w = j->inner < RED_COLS ? j->inner : RED_COLS;
    ln__spread(j->outer * gj.ngr * gj.nbw, gr * w, 1, groups_range, &gj);
    for (int64_t o = 0; o < j->outer; o++)
        add_groups(j->op, j->y + o * j->inner, gj.part + o * gj.ngr * gj.stride, gj.ngr,
                   gj.stride, j->len, j->inner);
    free(gj.part);
    return 1;
}

void ln_reduce(ln_reduce_op op, float *y, const float *x, int64_t outer,
               int64_t len, int64_t inner) {
    if (outer <= 0 || inner <= 0) return;
    /* One element per output (a unit axis): the same values as the paths
    ** below -- x + 0 for a sum (-0 gives +0, as 0 + x in the accumulators),
    ** x for an extreme, 0 for its position -- as one elementwise pass, not
    ** through the column path's double buffers (m:sum(1) of 1 x 100k:
    ** 21 us). */
    if (len == 1 && op != LN_R_VAR && op != LN_R_STD) {
        const int64_t n = outer * inner;
        if (op == LN_R_SUM || op == LN_R_MEAN) ln_binary_scalar(LN_B_ADD, y, x, 0.0f, 0, n);
        else if (op == LN_R_MAX || op == LN_R_MIN) ln_copy(y, x, n);
        else ln_fill(y, n, 0.0f);
        return;
    }
    /* blocks of RED_COLS columns, narrower (down to 64) when that leaves
    ** fewer than 8 tasks for the threads to share -- only if threads will
    ** share them: alone, one wide block reads each row in one sweep
    ** (m:sum(1) on 300 x 100: 1.31 -> 1.15 us) */
    int64_t bw = RED_COLS;
    const int64_t work = outer * len * inner;
    const int shared = ln_parallel_threads() > 1 || work >= LN_PAR_MIN ||
                       (work > LN__EW_SPLIT && ln_get_num_threads() > 1);
    if ((op == LN_R_SUM || op == LN_R_MEAN) && inner > 1 && len > group_rows(len, inner) &&
        work >= RED_GROUP_MIN &&
        outer * ((inner + RED_COLS - 1) / RED_COLS) < 8) {
        red_job j = {op, y, x, outer, len, inner, 0, 0};
        if (sum_by_groups(&j)) return;
    }
    if (outer < 8 && shared) {
        int64_t per = (8 + outer - 1) / outer; /* blocks wanted per outer */
        bw = ((inner + per - 1) / per + 63) / 64 * 64;
        bw = bw < 64 ? 64 : bw > RED_COLS ? RED_COLS : bw;
    }
    red_job j = {op, y, x, outer, len, inner, bw, (inner + bw - 1) / bw};
    /* the cost of an output: its elements (at least one unit) */
    const int64_t cost = len > 0 ? len : 1;
    if (inner == 1) {
        ln__split_spread(outer, cost, 1, rows_range, &j);
        return;
    }
    const int64_t w = inner < bw ? inner : bw;
    ln__split_spread(outer * j.nblk, cost * w, 1, cols_range, &j);
}
