/*
** rng.c -- Philox4x32-10 (Salmon et al., SC'11), counter-based.
**
** Value i of a fill is computed from the 128-bit counter (counter + i,
** retry, stream tag) and the 64-bit key (the seed), so any thread can compute
** any value on its own: fills are identical for every thread count.
** Uniform fills (Dropout's masks every batch) run 16 blocks at a time on
** AVX-512 -- the same words and, compiled without FMA contraction
** (core/CMakeLists.txt), the same floats: 3.6 -> 0.6 ns a value here;
** tests/c/test_rng.c checks both paths against Philox written out from
** the paper and Random123's known answers. Normal and truncated normal
** fills (GaussianNoise every batch, the *_normal initializers) run their
** Box-Muller in AVX-512 vectors with glibc's vector log/sin/cos and keep
** the scalar path's floats bit for bit: a value the vector functions
** cannot be sure of is recomputed by the scalar code (see affine8).
*/
#include <math.h>

#include "lunet/parallel.h"
#include "lunet/rng.h"
#include "par_for.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t v[4]; } block4;

static block4 philox(uint64_t ctr, uint32_t c2, uint32_t c3, uint64_t key) {
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return (block4){{c0, c1, c2, c3}};
}

/* Stream tags keep the kinds of draws apart for the same counter. */
enum { TAG_UNIFORM = 1, TAG_NORMAL = 2, TAG_TRUNC = 3, TAG_SCALAR = 4 };

static inline double u01(uint32_t hi, uint32_t lo) { /* 53-bit in [0,1) */
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * 0x1p-53;
}

static ln_rng global_rng = {42, 0};

ln_rng *ln_rng_global(void) { return &global_rng; }

void ln_rng_seed(ln_rng *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
}

/* Fills use all four words of a block: value i comes from block
** counter + i / 4, word i % 4. */
static inline float word01(uint32_t w) { /* 24 bits, in [0, 1) */
    return (float)(w >> 8) * 0x1p-24f;
}

/* Values [4 b, 4 b + 4) of a uniform fill (fewer at the end of y). */
static inline void uniform_block(float *y, int64_t n, int64_t b, uint64_t base,
                                 uint64_t key, float lo, float hi, float span) {
    block4 w = philox(base + (uint64_t)b, 0, TAG_UNIFORM, key);
    int64_t i0 = 4 * b, m = n - i0 < 4 ? n - i0 : 4;
    for (int64_t j = 0; j < m; j++) {
        float v = lo + span * word01(w.v[j]);
        y[i0 + j] = v < hi ? v : lo; /* rounding must not reach hi */
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#include "cpu_simd.h"
#define RNG512 1

/* 16 Philox blocks at once (counters ctr .. ctr + 15; c2 = 0, c3 = tag),
** the scalar rounds lane by lane: the same words as philox(). */
/* The AVX-512 helpers below are always inlined and keep no arrays in
** memory: GCC gives such arrays 64-byte alignment and aligned moves, which
** fault on the 32-byte-aligned frames of ASan's fake stack
** (detect_stack_use_after_return, scripts/sanitize.sh). */
#define V512 __attribute__((always_inline, target("avx512f"))) static inline

V512 void philox16(uint64_t ctr, uint32_t tag, uint64_t key, __m512i *w0, __m512i *w1,
                   __m512i *w2, __m512i *w3) {
    /* counters ctr + l: low words, and the high word carried where the low
    ** one wrapped */
    const __m512i lo = _mm512_set1_epi32((int)(uint32_t)ctr), hi = _mm512_set1_epi32((int)(ctr >> 32));
    __m512i c0 = _mm512_add_epi32(lo, _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    __m512i c1 = _mm512_mask_add_epi32(hi, _mm512_cmplt_epu32_mask(c0, lo), hi, _mm512_set1_epi32(1));
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_set1_epi32((int)tag);
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        /* high halves of the 32 x 32 products: even lanes from one
        ** multiply, odd lanes (shifted down) from another */
        __m512i hp0 = _mm512_mask_blend_epi32(
            0xAAAA, _mm512_srli_epi64(_mm512_mul_epu32(c0, m0), 32),
            _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0));
        __m512i hp1 = _mm512_mask_blend_epi32(
            0xAAAA, _mm512_srli_epi64(_mm512_mul_epu32(c2, m1), 32),
            _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1));
        __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hp1, c1), _mm512_set1_epi32((int)k0));
        __m512i n1 = _mm512_mullo_epi32(c2, m1);
        __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hp0, c3), _mm512_set1_epi32((int)k1));
        __m512i n3 = _mm512_mullo_epi32(c0, m0);
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    *w0 = c0, *w1 = c1, *w2 = c2, *w3 = c3;
}

/* Lane l of vj to o[4 l + j]: interleave within 128-bit lanes, then
** transpose the 4 x 4 grid of 128-bit lanes. */
V512 void store_interleaved(float *o, __m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m512 a = _mm512_unpacklo_ps(v0, v1), bb = _mm512_unpackhi_ps(v0, v1);
    __m512 c = _mm512_unpacklo_ps(v2, v3), d = _mm512_unpackhi_ps(v2, v3);
    __m512 e = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
    __m512 f = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
    __m512 g = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(bb), _mm512_castps_pd(d)));
    __m512 h = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(bb), _mm512_castps_pd(d)));
    __m512 ef01 = _mm512_shuffle_f32x4(e, f, 0x44), gh01 = _mm512_shuffle_f32x4(g, h, 0x44);
    __m512 ef23 = _mm512_shuffle_f32x4(e, f, 0xEE), gh23 = _mm512_shuffle_f32x4(g, h, 0xEE);
    _mm512_storeu_ps(o, _mm512_shuffle_f32x4(ef01, gh01, 0x88));
    _mm512_storeu_ps(o + 16, _mm512_shuffle_f32x4(ef01, gh01, 0xDD));
    _mm512_storeu_ps(o + 32, _mm512_shuffle_f32x4(ef23, gh23, 0x88));
    _mm512_storeu_ps(o + 48, _mm512_shuffle_f32x4(ef23, gh23, 0xDD));
}

/* 16 words as uniform_block turns one into a value */
V512 __m512 uniform_words(__m512i w, __m512 lo, __m512 hi, __m512 span) {
    __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w, 8)), _mm512_set1_ps(0x1p-24f));
    __m512 t = _mm512_add_ps(lo, _mm512_mul_ps(span, u)); /* no FMA: the scalar bits */
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, hi, _CMP_LT_OQ), lo, t);
}

/* Blocks [b, b + 16) of a uniform fill, all 64 values inside y: word j of
** block b + l to y[4 (b + l) + j], as uniform_block. */
__attribute__((target("avx512f"))) static void uniform16(float *y, int64_t b, uint64_t base,
                                                         uint64_t key, float lo, float hi,
                                                         float span) {
    __m512i w0, w1, w2, w3;
    philox16(base + (uint64_t)b, TAG_UNIFORM, key, &w0, &w1, &w2, &w3);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vspan = _mm512_set1_ps(span);
    store_interleaved(y + 4 * b, uniform_words(w0, vlo, vhi, vspan), uniform_words(w1, vlo, vhi, vspan),
                      uniform_words(w2, vlo, vhi, vspan), uniform_words(w3, vlo, vhi, vspan));
}
#endif

void ln_rng_uniform(ln_rng *r, float *y, int64_t n, float lo, float hi) {
    uint64_t base = r->counter, key = r->seed;
    int64_t nb = (n + 3) / 4;
    float span = hi - lo;
#ifdef RNG512
    if (ln__have_avx512f()) {
        /* groups of 16 whole blocks (64 values), the rest block by block */
        const int64_t ng = n / 64;
        LN_FOR(n, for (int64_t g = 0; g < ng; g++) uniform16(y, 16 * g, base, key, lo, hi, span););
        for (int64_t b = 16 * ng; b < nb; b++) uniform_block(y, n, b, base, key, lo, hi, span);
        r->counter += (uint64_t)nb;
        return;
    }
#endif
    LN_FOR(n, for (int64_t b = 0; b < nb; b++) uniform_block(y, n, b, base, key, lo, hi, span););
    r->counter += (uint64_t)nb;
}

/* Two standard normals from two words (Box-Muller). */
static inline void box_muller(uint32_t a, uint32_t b, double *z0, double *z1) {
    double u1 = ((double)a + 1.0) * 0x1p-32; /* (0, 1] */
    double u2 = (double)b * 0x1p-32;
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    *z0 = rad * cos(th);
    *z1 = rad * sin(th);
}

/* Values [4 b, 4 b + 4) of a normal fill (fewer at the end of y). */
static inline void normal_block(float *y, int64_t n, int64_t b, uint64_t base,
                                uint64_t key, float mean, float std) {
    block4 w = philox(base + (uint64_t)b, 0, TAG_NORMAL, key);
    double z[4];
    box_muller(w.v[0], w.v[1], &z[0], &z[1]);
    box_muller(w.v[2], w.v[3], &z[2], &z[3]);
    int64_t i0 = 4 * b, m = n - i0 < 4 ? n - i0 : 4;
    for (int64_t j = 0; j < m; j++) y[i0 + j] = (float)(mean + std * z[j]);
}

#ifdef RNG512
/* glibc's vector math (libmvec, which libm's link script brings in): 8
** doubles a call. Measured against the scalar log, sin and cos on 2^24
** arguments of the Box-Muller grid (u1 near 1 and near 0, th near the
** multiples of pi/2): at most 1, 2 and 1.7 ulp apart. */
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_log(__m512d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_sin(__m512d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_cos(__m512d);

/* Box-Muller's radius and angle for 8 pairs of words, rounded as
** box_muller rounds them (the conversions and scalings are exact). */
V512 void polar8(__m256i a, __m256i b, __m512d *rad, __m512d *th) {
    const __m512d one = _mm512_set1_pd(1.0), scale = _mm512_set1_pd(0x1p-32);
    __m512d u1 = _mm512_mul_pd(_mm512_add_pd(_mm512_cvtepu32_pd(a), one), scale);
    __m512d u2 = _mm512_mul_pd(_mm512_cvtepu32_pd(b), scale);
    *rad = _mm512_sqrt_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), _ZGVeN8v_log(u1)));
    *th = _mm512_mul_pd(_mm512_set1_pd(6.283185307179586), u2);
}

/* mean + std z (no FMA: the scalar bits) into *t, and the lanes whose float
** is certain. z differs from box_muller's by less than 2^-44 |z| + 2^-60
** rad (256 ulp and an absolute floor; the functions differ by 2 ulp at
** most), t then by less than m = |std| that + 2^-50 |t|, so when t - m and
** t + m round to the same float, box_muller's value rounds to it too. */
V512 __mmask8 affine8(__m512d z, __m512d rad, __m512d mean, __m512d std, __m512d *t) {
    *t = _mm512_add_pd(mean, _mm512_mul_pd(std, z));
    __m512d dz = _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(z), _mm512_set1_pd(0x1p-44)),
                               _mm512_mul_pd(rad, _mm512_set1_pd(0x1p-60)));
    __m512d m = _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(std), dz),
                              _mm512_mul_pd(_mm512_abs_pd(*t), _mm512_set1_pd(0x1p-50)));
    __m512 lo = _mm512_zextps256_ps512(_mm512_cvtpd_ps(_mm512_sub_pd(*t, m)));
    __m512 hi = _mm512_zextps256_ps512(_mm512_cvtpd_ps(_mm512_add_pd(*t, m)));
    /* equal, and as bits (-0 and +0 are not; a NaN never is: the scalar
    ** code decides those) */
    return (__mmask8)(_mm512_cmp_ps_mask(lo, hi, _CMP_EQ_OQ) &
                      _mm512_cmpeq_epi32_mask(_mm512_castps_si512(lo), _mm512_castps_si512(hi)));
}

/* 16 doubles (two halves) as 16 floats */
V512 __m512 floats16(__m512d lo, __m512d hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo))),
        _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}

/* lanes 0-7 (h = 0) or 8-15 of a */
V512 __m256i half8(__m512i a, int h) {
    return h ? _mm512_extracti64x4_epi64(a, 1) : _mm512_castsi512_si256(a);
}

/* One word pair of 16 blocks (a: the u1 words, b: the u2 words) to the
** 16 cos values (*zc) and the 16 sin values (*zs); returns whether all 32
** are certain. */
V512 int pair16(__m512i a, __m512i b, __m512d mean, __m512d std, __m512 *zc, __m512 *zs) {
    __m512d rad, th, c0, s0, c1, s1;
    polar8(half8(a, 0), half8(b, 0), &rad, &th);
    __mmask8 sure = affine8(_mm512_mul_pd(rad, _ZGVeN8v_cos(th)), rad, mean, std, &c0) &
                    affine8(_mm512_mul_pd(rad, _ZGVeN8v_sin(th)), rad, mean, std, &s0);
    polar8(half8(a, 1), half8(b, 1), &rad, &th);
    sure &= affine8(_mm512_mul_pd(rad, _ZGVeN8v_cos(th)), rad, mean, std, &c1) &
            affine8(_mm512_mul_pd(rad, _ZGVeN8v_sin(th)), rad, mean, std, &s1);
    *zc = floats16(c0, c1);
    *zs = floats16(s0, s1);
    return sure == 0xFF;
}

/* Blocks [b, b + 16) of a normal fill, all 64 values inside y, as
** normal_block computes them: pair (word 0, word 1) of block b + l to
** y[4 (b + l)] (cos) and y[4 (b + l) + 1] (sin), pair (2, 3) to + 2, + 3.
** A group where any value is not certain is redone by normal_block (for
** N(0, 1) a value is uncertain about once in 2^20). */
__attribute__((target("avx512f"))) static void normal16(float *y, int64_t b, uint64_t base,
                                                        uint64_t key, float mean, float std) {
    __m512i w0, w1, w2, w3;
    philox16(base + (uint64_t)b, TAG_NORMAL, key, &w0, &w1, &w2, &w3);
    const __m512d vm = _mm512_set1_pd((double)mean), vs = _mm512_set1_pd((double)std);
    __m512 v0, v1, v2, v3;
    const int sure = pair16(w0, w1, vm, vs, &v0, &v1) & pair16(w2, w3, vm, vs, &v2, &v3);
    if (!sure) {
        for (int64_t k = b; k < b + 16; k++) normal_block(y, 4 * (b + 16), k, base, key, mean, std);
        return;
    }
    store_interleaved(y + 4 * b, v0, v1, v2, v3);
}
#endif

void ln_rng_normal(ln_rng *r, float *y, int64_t n, float mean, float std) {
    uint64_t base = r->counter, key = r->seed;
    int64_t nb = (n + 3) / 4;
#ifdef RNG512
    if (ln__have_avx512f()) {
        const int64_t ng = n / 64;
        LN_FOR(n * 2, for (int64_t g = 0; g < ng; g++) normal16(y, 16 * g, base, key, mean, std););
        for (int64_t b = 16 * ng; b < nb; b++) normal_block(y, n, b, base, key, mean, std);
        r->counter += (uint64_t)nb;
        return;
    }
#endif
    LN_FOR(n * 2, for (int64_t b = 0; b < nb; b++) normal_block(y, n, b, base, key, mean, std););
    r->counter += (uint64_t)nb;
}

/* One standard normal for element i, try `retry` (truncated draws). */
static inline double normal_at(uint64_t ctr, uint32_t retry, uint32_t tag,
                               uint64_t key) {
    block4 w = philox(ctr, retry, tag, key);
    double z0, z1;
    box_muller(w.v[0], w.v[1], &z0, &z1);
    return z0;
}

/* Value i of a truncated normal fill: draws retry 0, 1, ... until |z| <= 2. */
static inline float truncated_at(uint64_t base, int64_t i, uint64_t key, float mean, float std) {
    double z;
    uint32_t retry = 0;
    do z = normal_at(base + (uint64_t)i, retry++, TAG_TRUNC, key);
    while (fabs(z) > 2.0);
    return (float)(mean + std * z);
}

#ifdef RNG512
/* 8 first draws (words a, b) of a truncated fill: *t, and the lanes kept */
V512 __mmask8 truncated8(__m256i a, __m256i b, __m512d mean, __m512d std, __m512d *t) {
    __m512d rad, th;
    polar8(a, b, &rad, &th);
    __m512d z = _mm512_mul_pd(rad, _ZGVeN8v_cos(th));
    return affine8(z, rad, mean, std, t) &
           _mm512_cmp_pd_mask(_mm512_abs_pd(z), _mm512_set1_pd(2.0 - 0x1p-38), _CMP_LE_OQ);
}

/* Values [i, i + 16) of a truncated normal fill: each value's first draw
** (word pair (0, 1) of block base + i, retry 0), kept where it is certain
** and |z| is below 2 by more than z's possible difference from the
** scalar's; the rest (4.6 % redraw) by truncated_at. */
__attribute__((target("avx512f"))) static void truncated16(float *y, int64_t i, uint64_t base,
                                                           uint64_t key, float mean, float std) {
    __m512i w0, w1, w2, w3;
    philox16(base + (uint64_t)i, TAG_TRUNC, key, &w0, &w1, &w2, &w3);
    const __m512d vm = _mm512_set1_pd((double)mean), vs = _mm512_set1_pd((double)std);
    __m512d t0, t1;
    const unsigned keep = truncated8(half8(w0, 0), half8(w1, 0), vm, vs, &t0) |
                          (unsigned)truncated8(half8(w0, 1), half8(w1, 1), vm, vs, &t1) << 8;
    _mm512_mask_storeu_ps(y + i, (__mmask16)keep, floats16(t0, t1));
    for (unsigned redo = ~keep & 0xFFFFu; redo; redo &= redo - 1) {
        const int64_t j = i + __builtin_ctz(redo);
        y[j] = truncated_at(base, j, key, mean, std);
    }
}
#endif

void ln_rng_truncated_normal(ln_rng *r, float *y, int64_t n, float mean,
                             float std) {
    uint64_t base = r->counter, key = r->seed;
#ifdef RNG512
    if (ln__have_avx512f()) {
        const int64_t ng = n / 16;
        LN_FOR(n * 2, for (int64_t g = 0; g < ng; g++) truncated16(y, 16 * g, base, key, mean, std););
        for (int64_t i = 16 * ng; i < n; i++) y[i] = truncated_at(base, i, key, mean, std);
        r->counter += (uint64_t)n;
        return;
    }
#endif
    LN_FOR(n * 2, for (int64_t i = 0; i < n; i++) y[i] = truncated_at(base, i, key, mean, std););
    r->counter += (uint64_t)n;
}

uint64_t ln_rng_u64(ln_rng *r) {
    block4 b = philox(r->counter++, 0, TAG_SCALAR, r->seed);
    return ((uint64_t)b.v[0] << 32) | b.v[1];
}

double ln_rng_double(ln_rng *r) {
    block4 b = philox(r->counter++, 0, TAG_SCALAR, r->seed);
    return u01(b.v[0], b.v[1]);
}

/* ln_rng_u64's next k values (k a multiple of 16 on the vector path): words
** 0 and 1 of the scalar stream's blocks, counter by counter */
#ifdef RNG512
__attribute__((target("avx512f"))) static void u64_block16(uint64_t *out, uint64_t ctr,
                                                           uint64_t key) {
    __m512i w0, w1, w2, w3;
    philox16(ctr, TAG_SCALAR, key, &w0, &w1, &w2, &w3);
    /* (w0 << 32) | w1 per lane: unpacking interleaves within 128-bit lanes
    ** (lo: counters 0, 1, 4, 5, ...; hi: 2, 3, 6, 7, ...), put in order */
    const __m512i lo = _mm512_unpacklo_epi32(w1, w0), hi = _mm512_unpackhi_epi32(w1, w0);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi64(lo, _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi));
    _mm512_storeu_si512(out + 8, _mm512_permutex2var_epi64(lo, _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4), hi));
}
#endif

static void u64_stream(ln_rng *r, uint64_t *out, int64_t k) {
    int64_t i = 0;
#ifdef RNG512
    if (ln__have_avx512f())
        for (; i + 16 <= k; i += 16) {
            u64_block16(out + i, r->counter, r->seed);
            r->counter += 16;
        }
#endif
    for (; i < k; i++) out[i] = ln_rng_u64(r);
}

void ln_rng_permutation(ln_rng *r, int64_t *perm, int64_t n) {
    uint64_t draws[256];
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0;) {
        /* the next draws in bulk: the same values ln_rng_u64 gives one by one */
        const int64_t k = i < 256 ? i : 256;
        u64_stream(r, draws, k);
        for (int64_t d = 0; d < k; d++, i--) {
            /* unbiased bound by 128-bit multiply (Lemire) */
            int64_t j = (int64_t)(((unsigned __int128)draws[d] * (uint64_t)(i + 1)) >> 64);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
}
