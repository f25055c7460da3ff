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
** the paper and Random123's known answers.
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
#include "cpu_avx512.h"
#define RNG512 1

/* 16 Philox blocks at once (counters ctr .. ctr + 15; c2 = 0, c3 = tag),
** the scalar rounds lane by lane: the same words as philox(). */
__attribute__((target("avx512f"))) static void philox16(uint64_t ctr, uint32_t tag,
                                                        uint64_t key, __m512i w[4]) {
    uint32_t lo32[16], hi32[16];
    for (int l = 0; l < 16; l++) {
        lo32[l] = (uint32_t)(ctr + (uint64_t)l);
        hi32[l] = (uint32_t)((ctr + (uint64_t)l) >> 32);
    }
    __m512i c0 = _mm512_loadu_si512(lo32), c1 = _mm512_loadu_si512(hi32);
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
    w[0] = c0, w[1] = c1, w[2] = c2, w[3] = c3;
}

/* Blocks [b, b + 16) of a uniform fill, all 64 values inside y: word j of
** block b + l to y[4 (b + l) + j], as uniform_block. */
__attribute__((target("avx512f"))) static void uniform16(float *y, int64_t b, uint64_t base,
                                                         uint64_t key, float lo, float hi,
                                                         float span) {
    __m512i w[4];
    philox16(base + (uint64_t)b, TAG_UNIFORM, key, w);
    const __m512 scale = _mm512_set1_ps(0x1p-24f), vlo = _mm512_set1_ps(lo),
                 vhi = _mm512_set1_ps(hi), vspan = _mm512_set1_ps(span);
    __m512 v[4];
    for (int j = 0; j < 4; j++) {
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w[j], 8)), scale);
        __m512 t = _mm512_add_ps(vlo, _mm512_mul_ps(vspan, u)); /* no FMA: the scalar bits */
        v[j] = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, vhi, _CMP_LT_OQ), vlo, t);
    }
    /* lane l of v[j] to y[4 l + j]: interleave within 128-bit lanes, then
    ** transpose the 4 x 4 grid of 128-bit lanes */
    __m512 a = _mm512_unpacklo_ps(v[0], v[1]), bb = _mm512_unpackhi_ps(v[0], v[1]);
    __m512 c = _mm512_unpacklo_ps(v[2], v[3]), d = _mm512_unpackhi_ps(v[2], v[3]);
    __m512 e = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
    __m512 f = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
    __m512 g = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(bb), _mm512_castps_pd(d)));
    __m512 h = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(bb), _mm512_castps_pd(d)));
    __m512 ef01 = _mm512_shuffle_f32x4(e, f, 0x44), gh01 = _mm512_shuffle_f32x4(g, h, 0x44);
    __m512 ef23 = _mm512_shuffle_f32x4(e, f, 0xEE), gh23 = _mm512_shuffle_f32x4(g, h, 0xEE);
    float *o = y + 4 * b;
    _mm512_storeu_ps(o, _mm512_shuffle_f32x4(ef01, gh01, 0x88));
    _mm512_storeu_ps(o + 16, _mm512_shuffle_f32x4(ef01, gh01, 0xDD));
    _mm512_storeu_ps(o + 32, _mm512_shuffle_f32x4(ef23, gh23, 0x88));
    _mm512_storeu_ps(o + 48, _mm512_shuffle_f32x4(ef23, gh23, 0xDD));
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

void ln_rng_normal(ln_rng *r, float *y, int64_t n, float mean, float std) {
    uint64_t base = r->counter, key = r->seed;
    int64_t nb = (n + 3) / 4;
    LN_FOR(n * 2, for (int64_t b = 0; b < nb; b++) {
        block4 w = philox(base + (uint64_t)b, 0, TAG_NORMAL, key);
        double z[4];
        box_muller(w.v[0], w.v[1], &z[0], &z[1]);
        box_muller(w.v[2], w.v[3], &z[2], &z[3]);
        int64_t i0 = 4 * b, m = n - i0 < 4 ? n - i0 : 4;
        for (int64_t j = 0; j < m; j++) y[i0 + j] = (float)(mean + std * z[j]);
    });
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

void ln_rng_truncated_normal(ln_rng *r, float *y, int64_t n, float mean,
                             float std) {
    uint64_t base = r->counter, key = r->seed;
    LN_FOR(n * 2, for (int64_t i = 0; i < n; i++) {
        double z;
        uint32_t retry = 0;
        do z = normal_at(base + (uint64_t)i, retry++, TAG_TRUNC, key);
        while (fabs(z) > 2.0);
        y[i] = (float)(mean + std * z);
    });
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

void ln_rng_permutation(ln_rng *r, int64_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* unbiased bound by 128-bit multiply (Lemire) */
        uint64_t x = ln_rng_u64(r);
        int64_t j = (int64_t)(((unsigned __int128)x * (uint64_t)(i + 1)) >> 64);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
