/*
** gemm.c -- single-precision GEMM: C = alpha*op(A)*op(B) + beta*C, row-major.
**
** Structure (BLIS-like, written for row-major C with vectors along N):
**  - a micro-kernel keeps an mr x (nv*vw) tile of C in vector registers and
**    runs an FMA chain over one K block: for each k it loads nv vectors of a
**    row of op(B) and broadcasts mr elements of a column of op(A);
**  - op(A) is read in place through (row stride, k stride); only A^T is
**    copied into an MR x kc panel for larger problems (its k steps are lda
**    apart, which can map a whole panel onto a few L1 sets);
**  - op(B) is read in place when B is not transposed and few rows of C
**    reuse it (the Dense forward at small batch), else packed into kc x NR
**    panels (a transpose for B^T);
**  - A*B^T with few rows (dX = dY*W^T) is solved as C^T = B*A^T: B's rows
**    are broadcast in place, the small A^T is packed, and the kernel
**    transposes its tile in registers on the way out;
**  - blocking: K in kc blocks (kc depends on K only), N in nc column blocks
**    whose packed B block stays in L2, the A panel stays in L1;
**  - threads (above a flop count) take chunks of whole column panels, or of
**    row panels when N is narrow, dynamically, and run the same sequential
**    code on them; no allocation in the parallel region (one grow-only
**    workspace, sliced per thread).
**
** Determinism: every element of C is one FMA chain over k in increasing
** order within each kc block, then C = alpha*acc + beta*C (first block) or
** C = alpha*acc + C (later blocks), then + bias. Tile shapes, edge kernels,
** packing, C^T and the thread split only decide who computes an element and
** from where its operands are loaded, never the arithmetic, and kc is a
** function of K only. So results are bitwise identical for every thread
** count (and row i of C does not depend on the other rows).
**
** Kernels: AVX-512 (8 x 48), AVX2+FMA (4 x 24) and portable C (4 x 16),
** chosen at run time from CPUID; each ISA path is compiled with a target
** attribute so the rest of the library stays generic x86-64.
*/
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "lunet/gemm.h"
#include "lunet/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "cpu_simd.h" /* ln__cpu_simd_level, ln__mask8 */
#define LN_GEMM_X86 1
#endif

/* ---- micro-kernel interface --------------------------------------------- */

typedef struct gk_args {
    int64_t kc;
    const float *a; /* op(A)(i, k) at a[i*ars + k*aks] */
    int64_t ars, aks;
    const float *b; /* op(B)(k, j) at b[k*bks + j] */
    int64_t bks;
    float *c;
    int64_t ldc;
    const float *bias; /* bias of this tile's first column, or NULL */
    float alpha, beta;
    int load_c;        /* 0: C = alpha*acc; 1: C = alpha*acc + beta*C */
    int mr, nv, nlast; /* rows, vectors, valid lanes of the last vector */
    int ct; /* the tile is of C^T: element (r, j) goes to c[j*ldc + r] and
            ** bias[r] is added (the swapped problem, see ln_gemm) */
} gk_args;

typedef void (*gk_kernel)(const gk_args *);
/* dst[k*nr + j] = op(B)(k, j) for k < kc, j < w (w <= nr). src points at
** op(B)(0, 0) of the panel: B is k x n with ldb (bt = 0) or n x k (bt = 1). */
typedef void (*gk_pack_b)(float *dst, const float *src, int64_t ldb,
                          int64_t kc, int64_t w, int nr);

typedef struct gemm_isa {
    const char *name;
    int mr, vw, nv; /* micro-tile: mr rows x nv vectors of vw floats */
    double par_min_flops; /* below this, one thread (see ln_gemm) */
    gk_kernel kernel;
    gk_pack_b pack_bn, pack_bt;
    /* B read in place: 1 = panel loop outside the row blocks (gemm_block),
    ** set where it was measured to pay */
    int panels_outer;
} gemm_isa;

/* ---- packing (portable) ------------------------------------------------- */

static void pack_bn_c(float *dst, const float *src, int64_t ldb, int64_t kc,
                      int64_t w, int nr) {
    for (int64_t k = 0; k < kc; k++)
        memcpy(dst + k * nr, src + k * ldb, (size_t)w * sizeof(float));
}

static void pack_bt_c(float *dst, const float *src, int64_t ldb, int64_t kc,
                      int64_t w, int nr) {
    /* 4 rows of B^T source at a time to keep several streams going. */
    int64_t j = 0;
    for (; j + 4 <= w; j += 4) {
        const float *s0 = src + j * ldb, *s1 = s0 + ldb, *s2 = s1 + ldb,
                    *s3 = s2 + ldb;
        for (int64_t k = 0; k < kc; k++) {
            float *d = dst + k * nr + j;
            d[0] = s0[k];
            d[1] = s1[k];
            d[2] = s2[k];
            d[3] = s3[k];
        }
    }
    for (; j < w; j++) {
        const float *s = src + j * ldb;
        for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = s[k];
    }
}

/* dst[k*mr_max + r] = op(A)(r, k) for r < mr, k < kc; only for A^T (rows
** of op(A) contiguous: ars == 1), where it is a copy of mr floats per k. */
static void pack_at(float *dst, const float *src, int64_t aks, int64_t kc,
                    int mr, int mr_max) {
    if (mr == 8 && mr_max == 8) {
        for (int64_t k = 0; k < kc; k++)
            memcpy(dst + k * 8, src + k * aks, 8 * sizeof(float));
    } else if (mr == 4 && mr_max == 4) {
        for (int64_t k = 0; k < kc; k++)
            memcpy(dst + k * 4, src + k * aks, 4 * sizeof(float));
    } else {
        for (int64_t k = 0; k < kc; k++)
            for (int r = 0; r < mr; r++) dst[k * mr_max + r] = src[k * aks + r];
    }
}

/* ---- portable kernel: 4 x 16 ------------------------------------------- */

#define GEN_MR 4
#define GEN_VW 8
#define GEN_NV 2

static void kernel_generic(const gk_args *p) {
    float acc[GEN_MR][GEN_VW * GEN_NV];
    const int mr = p->mr, w = (p->nv - 1) * GEN_VW + p->nlast;
    memset(acc, 0, sizeof acc);
    const float *a = p->a, *b = p->b;
    for (int64_t k = 0; k < p->kc; k++) {
        for (int r = 0; r < mr; r++) {
            const float av = a[r * p->ars];
            if (w == GEN_VW * GEN_NV)
                for (int j = 0; j < GEN_VW * GEN_NV; j++) acc[r][j] += av * b[j];
            else
                for (int j = 0; j < w; j++) acc[r][j] += av * b[j];
        }
        a += p->aks;
        b += p->bks;
    }
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < w; j++) {
            float *c = p->ct ? p->c + j * p->ldc + r : p->c + r * p->ldc + j;
            float x = p->load_c ? p->alpha * acc[r][j] + p->beta * *c
                                : p->alpha * acc[r][j];
            if (p->bias) x += p->bias[p->ct ? r : j];
            *c = x;
        }
    }
}

static const gemm_isa isa_generic = {"generic",      GEN_MR,    GEN_VW,
                                     GEN_NV,         2.0e6,     kernel_generic,
                                     pack_bn_c,      pack_bt_c,
                                     0};

#ifdef LN_GEMM_X86

/* ---- AVX-512: 8 x 48 ---------------------------------------------------- */

#define T512                                                                   \
    __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define AI __attribute__((always_inline)) inline

/* 16 x 16 transpose in registers. */
static AI T512 void tr16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] =
                _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] =
                _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
        }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
}

static AI T512 void k512_body(const gk_args *p, const int MR, const int NV,
                             const int CT) {
    __m512 acc[8][3];
    const __mmask16 ml = (__mmask16)((1u << p->nlast) - 1u);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    const float *a = p->a, *b = p->b;
    const int64_t ars = p->ars, aks = p->aks, bks = p->bks;
    for (int64_t k = p->kc; k > 0; k--) {
        __m512 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV - 1; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        bv[NV - 1] = _mm512_maskz_loadu_ps(ml, b + 16 * (NV - 1));
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(a[r * ars]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
        a += aks;
        b += bks;
    }
    const __m512 va = _mm512_set1_ps(p->alpha), vb = _mm512_set1_ps(p->beta);
    float *c = p->c;
    const int64_t ldc = p->ldc;
    if (CT) {
        /* Transpose each 16-column slab in registers: row l of it is MR
        ** consecutive elements of row 16v + l of C. */
        const __mmask16 mj = (__mmask16)((1u << MR) - 1u);
        const __m512 bj = p->bias ? _mm512_maskz_loadu_ps(mj, p->bias)
                                  : _mm512_setzero_ps();
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            __m512 t[16];
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                t[r] = r < MR && r < 8 ? acc[r][v] : _mm512_setzero_ps();
            tr16(t);
            const int nl = v == NV - 1 ? p->nlast : 16;
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++) {
                if (l < nl) {
                    float *cp = c + (16 * v + l) * ldc;
                    __m512 x;
                    if (p->load_c)
                        x = _mm512_fmadd_ps(
                            va, t[l],
                            _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mj, cp)));
                    else
                        x = _mm512_mul_ps(va, t[l]);
                    if (p->bias) x = _mm512_add_ps(x, bj);
                    _mm512_mask_storeu_ps(cp, mj, x);
                }
            }
        }
        return;
    }
    __m512 bias[3] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                      _mm512_setzero_ps()};
    if (p->bias) {
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            bias[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? ml : 0xFFFF,
                                            p->bias + 16 * v);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            const __mmask16 mk = v == NV - 1 ? ml : 0xFFFF;
            float *cp = c + r * ldc + 16 * v;
            __m512 x;
            if (p->load_c)
                x = _mm512_fmadd_ps(
                    va, acc[r][v],
                    _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mk, cp)));
            else
                x = _mm512_mul_ps(va, acc[r][v]);
            if (p->bias) x = _mm512_add_ps(x, bias[v]);
            _mm512_mask_storeu_ps(cp, mk, x);
        }
    }
}

#define K512(M, V)                                                             \
    static T512 void k512_##M##_##V(const gk_args *p) {                        \
        k512_body(p, M, V, 0);                                                 \
    }                                                                          \
    static T512 void k512t_##M##_##V(const gk_args *p) {                       \
        k512_body(p, M, V, 1);                                                 \
    }
#define K512_ROW(M) K512(M, 1) K512(M, 2) K512(M, 3)
K512_ROW(1)
K512_ROW(2)
K512_ROW(3)
K512_ROW(4)
K512_ROW(5)
K512_ROW(6)
K512_ROW(7)
K512_ROW(8)

static T512 void kernel_avx512(const gk_args *p) {
#define K512_CASE(M)                                                           \
    case M:                                                                    \
        if (p->ct) {                                                           \
            if (p->nv == 3) k512t_##M##_3(p);                                  \
            else if (p->nv == 2) k512t_##M##_2(p);                             \
            else k512t_##M##_1(p);                                             \
        } else {                                                               \
            if (p->nv == 3) k512_##M##_3(p);                                   \
            else if (p->nv == 2) k512_##M##_2(p);                              \
            else k512_##M##_1(p);                                              \
        }                                                                      \
        break;
    switch (p->mr) {
        K512_CASE(1)
        K512_CASE(2)
        K512_CASE(3)
        K512_CASE(4)
        K512_CASE(5)
        K512_CASE(6)
        K512_CASE(7)
        K512_CASE(8)
    default: break;
    }
#undef K512_CASE
}

/* B^T panel: rows j of the source (contiguous in k) become columns. */
static T512 void pack_bt_avx512(float *dst, const float *src, int64_t ldb,
                                int64_t kc, int64_t w, int nr) {
    int64_t j = 0;
    for (; j + 16 <= w; j += 16) {
        const float *s = src + j * ldb;
        int64_t k = 0;
        for (; k + 16 <= kc; k += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(s + i * ldb + k);
            tr16(r);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps(dst + (k + i) * nr + j, r[i]);
        }
        if (k < kc) {
            const __mmask16 mk = (__mmask16)((1u << (kc - k)) - 1u);
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_maskz_loadu_ps(mk, s + i * ldb + k);
            tr16(r);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                if (i < kc - k)
                _mm512_storeu_ps(dst + (k + i) * nr + j, r[i]);
        }
    }
    if (j < w) pack_bt_c(dst + j, src + j * ldb, ldb, kc, w - j, nr);
}

/* 2 threads pay from ~20 MFLOP (~80 us on one core): measured with
** OMP_WAIT_POLICY=passive on 2 cores, where a wake-up and join cost
** ~30-50 us. */
static const gemm_isa isa_avx512 = {"avx512",  8,         16,
                                    3,         20.0e6,    kernel_avx512,
                                    pack_bn_c, pack_bt_avx512,
                                    0};

/* ---- AVX2 + FMA: 4 x 24 -------------------------------------------------- */

#define T256 __attribute__((target("avx2,fma")))

static AI T256 void k256_body(const gk_args *p, const int MR, const int NV,
                             const int CT, const int FULL) {
    __m256 acc[4][3];
    const __m256i ml = ln__mask8(p->nlast);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
    const float *a = p->a, *b = p->b;
    const int64_t ars = p->ars, aks = p->aks, bks = p->bks;
    for (int64_t k = p->kc; k > 0; k--) {
        __m256 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV - 1; v++) bv[v] = _mm256_loadu_ps(b + 8 * v);
        bv[NV - 1] = FULL ? _mm256_loadu_ps(b + 8 * (NV - 1))
                          : _mm256_maskload_ps(b + 8 * (NV - 1), ml);
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * ars);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
        a += aks;
        b += bks;
    }
    const __m256 va = _mm256_set1_ps(p->alpha), vb = _mm256_set1_ps(p->beta);
    float *c = p->c;
    const int64_t ldc = p->ldc;
    if (CT) {
        float tile[4][24] __attribute__((aligned(32)));
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                _mm256_store_ps(&tile[r][8 * v], acc[r][v]);
        const int w = (NV - 1) * 8 + p->nlast;
        for (int l = 0; l < w; l++) {
            float *cp = c + l * ldc;
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) {
                float x = p->load_c
                              ? __builtin_fmaf(p->alpha, tile[r][l],
                                               p->beta * cp[r])
                              : p->alpha * tile[r][l];
                if (p->bias) x += p->bias[r];
                cp[r] = x;
            }
        }
        return;
    }
    /* Full vectors use plain loads and stores: AMD's masked store is
    ** microcoded (~20x a plain one), a tenth of a 4 x 24 tile's time. */
    const int load_c = p->load_c;
    const float *bias = p->bias;
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            const int part = v == NV - 1 && !FULL;
            float *cp = c + r * ldc + 8 * v;
            __m256 x;
            if (load_c)
                x = _mm256_fmadd_ps(
                    va, acc[r][v],
                    _mm256_mul_ps(vb, part ? _mm256_maskload_ps(cp, ml)
                                           : _mm256_loadu_ps(cp)));
            else
                x = _mm256_mul_ps(va, acc[r][v]);
            if (bias)
                x = _mm256_add_ps(x, part ? _mm256_maskload_ps(bias + 8 * v, ml)
                                          : _mm256_loadu_ps(bias + 8 * v));
            if (part) _mm256_maskstore_ps(cp, ml, x);
            else _mm256_storeu_ps(cp, x);
        }
    }
}

#define K256(M, V)                                                             \
    static T256 void k256_##M##_##V(const gk_args *p) {                        \
        if (p->nlast == 8) k256_body(p, M, V, 0, 1);                           \
        else k256_body(p, M, V, 0, 0);                                         \
    }                                                                          \
    static T256 void k256t_##M##_##V(const gk_args *p) {                       \
        if (p->nlast == 8) k256_body(p, M, V, 1, 1);                           \
        else k256_body(p, M, V, 1, 0);                                         \
    }
#define K256_ROW(M) K256(M, 1) K256(M, 2) K256(M, 3)
K256_ROW(1)
K256_ROW(2)
K256_ROW(3)
K256_ROW(4)

static T256 void kernel_avx2(const gk_args *p) {
#define K256_CASE(M)                                                           \
    case M:                                                                    \
        if (p->ct) {                                                           \
            if (p->nv == 3) k256t_##M##_3(p);                                  \
            else if (p->nv == 2) k256t_##M##_2(p);                             \
            else k256t_##M##_1(p);                                             \
        } else {                                                               \
            if (p->nv == 3) k256_##M##_3(p);                                   \
            else if (p->nv == 2) k256_##M##_2(p);                              \
            else k256_##M##_1(p);                                              \
        }                                                                      \
        break;
    switch (p->mr) {
        K256_CASE(1)
        K256_CASE(2)
        K256_CASE(3)
        K256_CASE(4)
    default: break;
    }
#undef K256_CASE
}

static const gemm_isa isa_avx2 = {"avx2",    4,        8,          3,
                                  10.0e6,    kernel_avx2, pack_bn_c,
                                  pack_bt_c, 1};

#endif /* LN_GEMM_X86 */

/* ---- dispatch ------------------------------------------------------------ */

static const gemm_isa *_Atomic gemm_isa_cur;

static const gemm_isa *isa_best(void) {
#ifdef LN_GEMM_X86
    int l = ln__cpu_simd_level();
    if (l >= 2) return &isa_avx512;
    if (l >= 1) return &isa_avx2;
#endif
    return &isa_generic;
}

static const gemm_isa *get_isa(void) {
    const gemm_isa *i = atomic_load_explicit(&gemm_isa_cur, memory_order_acquire);
    if (!i) {
        i = isa_best();
        atomic_store_explicit(&gemm_isa_cur, i, memory_order_release);
    }
    return i;
}

const char *ln_gemm_kernel_name(void) { return get_isa()->name; }

/* Test and benchmark hook (not in the public header): force a kernel by name
** ("avx512", "avx2", "generic"), or NULL / "" for the best one. Returns 0, or
** -1 when this CPU cannot run that kernel (nothing changes then). A call
** already running keeps the kernel it started with. */
LN_API int ln__gemm_force_kernel(const char *name) {
    const gemm_isa *i = NULL;
    if (!name || !*name) i = isa_best();
    else if (!strcmp(name, "generic")) i = &isa_generic;
#ifdef LN_GEMM_X86
    else if (!strcmp(name, "avx2") && ln__cpu_simd_level() >= 1) i = &isa_avx2;
    else if (!strcmp(name, "avx512") && ln__cpu_simd_level() >= 2)
        i = &isa_avx512;
#endif
    if (!i) return -1;
    atomic_store_explicit(&gemm_isa_cur, i, memory_order_release);
    return 0;
}

/* ---- the blocked driver -------------------------------------------------- */

#ifdef LN_GEMM_TUNE /* development only: thresholds from the environment */
static long tune(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? atol(v) : def;
}
#define GEMM_KC_MAX tune("KC", 384)
#define GEMM_NC_MAX tune("NC", 384)
#define GEMM_PACK_B_MIN_M tune("PBM", 128)
#define GEMM_PAR_MIN_FLOPS(isa) ((double)tune("PAR", (long)(isa)->par_min_flops))
#define GEMM_CT_MAX_M tune("CTM", 128)
#define GEMM_CT_MIN_K tune("CTK", 32)
#define GEMM_SPLIT_M_MIN_A_BYTES ((double)tune("SMA", 1L << 20))
#define GEMM_SPLIT_M_MAX_B_BYTES ((double)tune("SMB", 8L << 20))
#define GEMM_PANELS_OUTER(isa) tune("PO", (isa)->panels_outer)
#else
#define GEMM_KC_MAX 384 /* K block: an MR x kc A panel stays in L1 */
#define GEMM_NC_MAX 384 /* N block: a kc x nc packed B block stays in L2 */
/* Pack B (not transposed) when at least this many rows of C reuse it. */
#define GEMM_PACK_B_MIN_M 128
/* Fewer flops than this stay on one thread (per kernel, measured). */
#define GEMM_PAR_MIN_FLOPS(isa) ((isa)->par_min_flops)
/* B read in place: loop over its panels outside the row blocks. */
#define GEMM_PANELS_OUTER(isa) ((isa)->panels_outer)
/* A*B^T with at most this many rows (and k not tiny) is solved as
** C^T = B*A^T. */
#define GEMM_CT_MAX_M 128
#define GEMM_CT_MIN_K 32
/* On threads, an op(A) of more bytes than this is cut by rows (ln_gemm):
** column chunks would each read it from beyond L2 -- unless the copy of
** B that row chunks share would take more than the second number. */
#define GEMM_SPLIT_M_MIN_A_BYTES (1 << 20)
#define GEMM_SPLIT_M_MAX_B_BYTES (8 << 20)
#endif

double ln_gemm_threads_from(void) { return GEMM_PAR_MIN_FLOPS(get_isa()); }

typedef struct gemm_plan {
    const gemm_isa *isa;
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    const ln_gemm_epilogue *epi;
    int64_t kc, nc;
    int pack_a, pack_b;
    int ct; /* solving C^T = op(B)^T op(A)^T: m, n, a, b are swapped */
    const float *bpre; /* all of op(B) packed up front (shared), or NULL */
    int64_t npad;      /* n rounded up to panels: bpre block stride / kc */
    size_t ws_floats;  /* per thread */
} gemm_plan;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static void epilogue_rows(const ln_gemm_epilogue *epi, float *c, int64_t ldc,
                          int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++) epi->fn(c + i * ldc, cols, epi->arg);
}

/* Packs op(B)[pc:pc+kc, jc:jc+nc] as kc x NR panels at dst. */
static void pack_b_block(const gemm_plan *P, float *dst, int64_t pc,
                         int64_t kc, int64_t jc, int64_t nc) {
    const gemm_isa *isa = P->isa;
    const int NR = isa->vw * isa->nv;
    for (int64_t jr = 0; jr < nc; jr += NR) {
        const int64_t w = nc - jr < NR ? nc - jr : NR;
        float *d = dst + (jr / NR) * kc * NR;
        if (P->tb)
            isa->pack_bt(d, P->b + (jc + jr) * P->ldb + pc, P->ldb, kc, w, NR);
        else
            isa->pack_bn(d, P->b + pc * P->ldb + jc + jr, P->ldb, kc, w, NR);
    }
}

/* Width of the panel of B starting at column jr of an nc-wide block. */
static int64_t panel_width(const gemm_plan *P, int64_t nc, int64_t jr,
                           int packed) {
    const int VW = P->isa->vw, NR = VW * P->isa->nv;
    int64_t w = nc - jr < NR ? nc - jr : NR;
    /* B read in place: a last panel of one vector (256 = 5 x 48 + 16
    ** columns) runs at half speed (its broadcasts are amortised over one FMA
    ** each): split the last two as evenly as whole vectors allow (32 + 32).
    ** Packed B keeps NR-wide panels (its layout). */
    if (!packed && nc - jr > NR && nc - jr <= NR + VW)
        w = (nc - jr + 2 * VW - 1) / (2 * VW) * VW;
    return w;
}

/* One micro-tile: rows ir..ir+g->mr of the block, columns jc+jr..+w, the k
** block at pc (g->a, g->kc, g->load_c, g->beta already set). bp: the packed
** B block, or NULL to read B in place. */
static void run_tile(const gemm_plan *P, gk_args *g, const float *bp,
                     int64_t pc, int64_t kc, int last, int64_t ir, int64_t jc,
                     int64_t jr, int64_t w) {
    const int VW = P->isa->vw, NR = VW * P->isa->nv;
    const float *bias = last && P->epi ? P->epi->bias : NULL;
    g->nv = (int)((w + VW - 1) / VW);
    g->nlast = (int)(w - (g->nv - 1) * VW);
    if (bp) {
        g->b = bp + (jr / NR) * kc * NR;
        g->bks = NR;
    } else {
        g->b = P->b + pc * P->ldb + jc + jr;
        g->bks = P->ldb;
    }
    if (P->ct) {
        g->c = P->c + (jc + jr) * P->ldc + ir;
        g->bias = bias ? bias + ir : NULL;
    } else {
        g->c = P->c + ir * P->ldc + jc + jr;
        g->bias = bias ? bias + jc + jr : NULL;
    }
    P->isa->kernel(g);
}

/* Rows [i0, i1) x columns [j0, j1) of C (of C^T when P->ct), sequentially.
** ws: this thread's workspace of P->ws_floats floats (64-byte aligned), or
** NULL if nothing is packed per thread. With P->bpre, j0 must be 0. */
static void gemm_block(const gemm_plan *P, int64_t i0, int64_t i1, int64_t j0,
                       int64_t j1, float *ws) {
    const gemm_isa *isa = P->isa;
    const int MR = isa->mr, NR = isa->vw * isa->nv;
    const int64_t K = P->k;
    const int64_t a_rs = P->ta ? 1 : P->lda, a_ks = P->ta ? P->lda : 1;
    const int fn = P->epi && P->epi->fn;
    const int own_b = P->pack_b && !P->bpre;
    float *bbuf = ws;
    float *abuf = ws ? ws + (own_b ? P->kc * ceil_div(P->nc, NR) * NR : 0)
                     : NULL;
    gk_args g;
    g.alpha = P->alpha;
    g.ldc = P->ldc;
    g.ct = P->ct;

    for (int64_t jc = j0; jc < j1; jc += P->nc) {
        const int64_t nc = j1 - jc < P->nc ? j1 - jc : P->nc;
        for (int64_t pc = 0; pc < K; pc += P->kc) {
            const int64_t kc = K - pc < P->kc ? K - pc : P->kc;
            const int first = pc == 0, last = pc + kc == K;
            const float *bp = NULL; /* the packed block, if any */
            if (P->bpre)
                bp = P->bpre + pc * P->npad + jc * kc;
            else if (P->pack_b) {
                pack_b_block(P, bbuf, pc, kc, jc, nc);
                bp = bbuf;
            }
            g.kc = kc;
            g.load_c = first ? P->beta != 0.0f : 1;
            g.beta = first ? P->beta : 1.0f;
            if (!bp && !P->pack_a && GEMM_PANELS_OUTER(isa)) {
                /* B in place (few rows of C): a panel's kc strided rows
                ** are fetched once and reused by every row block (from L1
                ** when they fit), instead of the whole B block being swept
                ** from L2 once per row block; A's rows stream instead.
                ** Measured on AVX2 with 512 KiB of L2 (784 x 300 at batch
                ** 32: 0.76-0.85x -> 0.94-0.99x OpenBLAS). The AVX-512
                ** kernel keeps the row blocks outside: on Zen 5 (1 MiB of
                ** L2) the panel-outer order gained nothing (182-211
                ** GFLOP/s either way, alternated; PO=1 in a tuning build). */
                g.ars = a_rs;
                g.aks = a_ks;
                for (int64_t jr = 0, w; jr < nc; jr += w) {
                    w = panel_width(P, nc, jr, 0);
                    for (int64_t ir = i0; ir < i1; ir += MR) {
                        g.mr = (int)(i1 - ir < MR ? i1 - ir : MR);
                        g.a = P->a + ir * a_rs + pc * a_ks;
                        run_tile(P, &g, NULL, pc, kc, last, ir, jc, jr, w);
                    }
                }
                if (last && fn && !P->ct)
                    epilogue_rows(P->epi, P->c + i0 * P->ldc + jc, P->ldc,
                                  i1 - i0, nc);
            } else {
                for (int64_t ir = i0; ir < i1; ir += MR) {
                    const int mr = (int)(i1 - ir < MR ? i1 - ir : MR);
                    const float *ap = P->a + ir * a_rs + pc * a_ks;
                    if (P->pack_a) {
                        pack_at(abuf, ap, a_ks, kc, mr, MR);
                        g.a = abuf;
                        g.ars = 1;
                        g.aks = MR;
                    } else {
                        g.a = ap;
                        g.ars = a_rs;
                        g.aks = a_ks;
                    }
                    g.mr = mr;
                    for (int64_t jr = 0, w; jr < nc; jr += w) {
                        w = panel_width(P, nc, jr, bp != NULL);
                        run_tile(P, &g, bp, pc, kc, last, ir, jc, jr, w);
                    }
                    if (last && fn && !P->ct)
                        epilogue_rows(P->epi, P->c + ir * P->ldc + jc, P->ldc,
                                      mr, nc);
                }
            }
            /* C^T: rows jc..jc+nc of C are finished over columns i0..i1. */
            if (last && fn && P->ct)
                epilogue_rows(P->epi, P->c + jc * P->ldc + i0, P->ldc, nc,
                              i1 - i0);
        }
    }
}

/* ---- workspace: one grow-only buffer, taken with a try-lock ------------- */

static atomic_flag ws_lock = ATOMIC_FLAG_INIT;
static float *ws_buf;
static size_t ws_cap; /* floats */

/* Returns a buffer of at least `floats` floats (64-byte aligned), *own set to
** 1 if the caller must free it. NULL if no memory. */
static float *ws_get(size_t floats, int *own) {
    *own = 0;
    if (!atomic_flag_test_and_set_explicit(&ws_lock, memory_order_acquire)) {
        if (ws_cap < floats) {
            size_t want = floats + floats / 4;
            size_t bytes = (want * sizeof(float) + 63) & ~(size_t)63;
            float *p = aligned_alloc(64, bytes);
            if (p) {
                free(ws_buf);
                ws_buf = p;
                ws_cap = bytes / sizeof(float);
            }
        }
        if (ws_cap >= floats) return ws_buf;
        atomic_flag_clear_explicit(&ws_lock, memory_order_release);
    }
    /* Someone else holds the shared buffer (a concurrent call). */
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) *own = 1;
    return p;
}

static void ws_put(float *p, int own) {
    if (own) free(p);
    else if (p) atomic_flag_clear_explicit(&ws_lock, memory_order_release);
}

/* ---- the entry point ---------------------------------------------------- */

/* C = beta*C, then the epilogue: for alpha == 0 or k == 0. */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc,
                    const ln_gemm_epilogue *epi) {
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) ci[j] = 0.0f;
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++) ci[j] *= beta;
        if (epi && epi->bias)
            for (int64_t j = 0; j < n; j++) ci[j] += epi->bias[j];
        if (epi && epi->fn) epi->fn(ci, n, epi->arg);
    }
}

/* Plain loops, no workspace: only when no memory is left for packing. */
static void gemm_unpacked_ref(const gemm_plan *P) {
    const int64_t a_rs = P->ta ? 1 : P->lda, a_ks = P->ta ? P->lda : 1;
    const int64_t b_ks = P->tb ? 1 : P->ldb, b_ns = P->tb ? P->ldb : 1;
    for (int64_t i = 0; i < P->m; i++) {
        for (int64_t j = 0; j < P->n; j++) {
            float *cp = P->ct ? P->c + j * P->ldc + i : P->c + i * P->ldc + j;
            float x = 0.0f;
            for (int64_t pc = 0; pc < P->k; pc += P->kc) {
                const int64_t kc = P->k - pc < P->kc ? P->k - pc : P->kc;
                float acc = 0.0f;
                for (int64_t q = pc; q < pc + kc; q++)
                    acc += P->a[i * a_rs + q * a_ks] * P->b[q * b_ks + j * b_ns];
                if (pc == 0)
                    x = P->beta != 0.0f ? P->alpha * acc + P->beta * *cp
                                        : P->alpha * acc;
                else
                    x = P->alpha * acc + x;
            }
            if (P->epi && P->epi->bias) x += P->epi->bias[P->ct ? i : j];
            *cp = x;
        }
    }
    if (P->epi && P->epi->fn) {
        const int64_t rows = P->ct ? P->n : P->m, cols = P->ct ? P->m : P->n;
        epilogue_rows(P->epi, P->c, P->ldc, rows, cols);
    }
}

/* The plan of one product (m, n > 0, k > 0, alpha != 0): orientation
** (C or C^T), kc, packing and blocking; no threads yet. */
static void plan_init(gemm_plan *P, int trans_a, int trans_b, int64_t m,
                      int64_t n, int64_t k, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc, const ln_gemm_epilogue *epi) {
    P->isa = get_isa();
    const int MR = P->isa->mr, NR = P->isa->vw * P->isa->nv;
    P->k = k;
    P->alpha = alpha;
    P->beta = beta;
    P->c = c;
    P->ldc = ldc;
    P->epi = epi && (epi->bias || epi->fn) ? epi : NULL;
    /* A*B^T with few rows (dX = dY*W^T of a Dense layer): packing B^T
    ** (n x k, a transpose) would cost as much as the product. Solve
    ** C^T = B * op(A)^T instead: B's rows are broadcast in place, only the
    ** small op(A)^T is packed, and the kernel stores its tiles transposed.
    ** Every element is the same FMA chain, so the result is bitwise the
    ** same as the direct way. */
    P->ct = trans_b && n > m && m <= GEMM_CT_MAX_M && k >= GEMM_CT_MIN_K;
    if (P->ct) {
        P->ta = 0; /* op(A') = op(B)^T = B, rows contiguous in k */
        P->tb = !trans_a;
        P->m = n;
        P->n = m;
        P->a = b;
        P->lda = ldb;
        P->b = a;
        P->ldb = lda;
    } else {
        P->ta = trans_a != 0;
        P->tb = trans_b != 0;
        P->m = m;
        P->n = n;
        P->a = a;
        P->lda = lda;
        P->b = b;
        P->ldb = ldb;
    }
    m = P->m;
    n = P->n;
    /* kc depends on K only (determinism); blocks as even as possible. */
    P->kc = ceil_div(k, ceil_div(k, GEMM_KC_MAX));
    P->pack_b = P->tb || m >= GEMM_PACK_B_MIN_M;
    /* A^T: the MR floats of a k step are contiguous, k steps lda apart (the
    ** same L1 sets when lda is a multiple of 1 KiB): copy the panel. */
    P->pack_a = P->ta && m >= 2 * MR && n > NR;
    P->nc = P->pack_b ? GEMM_NC_MAX / NR * NR : n;
    if (P->nc > n) P->nc = n;
    P->bpre = NULL;
    P->npad = ceil_div(n, NR) * NR;
}

/* Workspace floats of one thread running gemm_block on plan P (B packed by
** the thread itself), rounded to 4 KiB slices. */
static size_t plan_ws_floats(const gemm_plan *P) {
    const int MR = P->isa->mr, NR = P->isa->vw * P->isa->nv;
    size_t per = 0;
    if (P->pack_b) per += (size_t)(P->kc * ceil_div(P->nc, NR) * NR);
    if (P->pack_a) per += (size_t)(P->kc * MR);
    return (per + 1023) & ~(size_t)1023;
}

size_t ln_gemm_ws_floats(int trans_a, int trans_b, int64_t m, int64_t n,
                         int64_t k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    gemm_plan P;
    static const float one = 1.0f;
    plan_init(&P, trans_a, trans_b, m, n, k, 1.0f, &one, 1, &one, 1, 0.0f,
              NULL, 1, NULL);
    return plan_ws_floats(&P);
}

void ln_gemm_ws(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc,
                const ln_gemm_epilogue *epi, float *ws, size_t ws_floats) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc, epi);
        return;
    }
    gemm_plan P;
    plan_init(&P, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc, epi);
    const size_t per = plan_ws_floats(&P);
    if (per > ws_floats || (per && !ws)) {
        ln_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                epi);
        return;
    }
    P.ws_floats = per;
    gemm_block(&P, 0, P.m, 0, P.n, per ? ws : NULL);
}

void ln_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda, const float *b,
             int64_t ldb, float beta, float *c, int64_t ldc,
             const ln_gemm_epilogue *epi) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc, epi);
        return;
    }
    gemm_plan P;
    plan_init(&P, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc, epi);
    const int MR = P.isa->mr, NR = P.isa->vw * P.isa->nv;
    m = P.m;
    n = P.n;

    /* Threads. Below GEMM_PAR_MIN_FLOPS one thread is faster: waking a
    ** sleeping OpenMP thread and joining it costs tens of microseconds.
    ** Above, C is cut into chunks of whole column panels (or of row panels
    ** when N is narrow), about 4 per thread, handed out dynamically: a thread
    ** that wakes late takes fewer. Who computes a chunk never changes its
    ** bits. Column chunks pack their own part of B; row chunks share a B
    ** packed once up front. But every column chunk reads all of op(A): a
    ** transposed A is packed again by each, and a large one comes from
    ** beyond L2 each time, so those go by rows when there are enough and
    ** B is packed once (a copy of at most GEMM_SPLIT_M_MAX_B_BYTES) or
    ** read in place. When B is as costly (both beyond L2 and too large to
    ** pack up front: 1024^3), C is cut into an nt x nt grid instead, so
    ** that A is read nt times and B packed nt times rather than A read
    ** 4 nt times (2 threads, 1024^3 and 2048^3: 291-317 -> 329-368
    ** GFLOP/s, from 0.87-0.90x to 0.96-0.99x OpenBLAS's speed). */
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    int nt = 1;
    if (flops >= GEMM_PAR_MIN_FLOPS(P.isa) && !omp_in_parallel())
        nt = omp_get_max_threads();
    const int64_t n_panels = ceil_div(n, NR), m_panels = ceil_div(m, MR);
    const int a_costly = P.pack_a || (double)m * (double)k * sizeof(float) >
                                         GEMM_SPLIT_M_MIN_A_BYTES;
    const int rows_better =
        a_costly && m_panels >= 4 * (int64_t)nt &&
        (!P.pack_b || (n <= P.nc && (double)k * (double)P.npad * sizeof(float) <=
                                        GEMM_SPLIT_M_MAX_B_BYTES));
    const int split_n =
        (n_panels >= 2 * nt || n_panels >= m_panels) && !rows_better;
    const int grid = split_n && a_costly && P.pack_b && nt > 1 &&
                     (double)k * (double)n * sizeof(float) > GEMM_SPLIT_M_MIN_A_BYTES &&
                     m_panels >= 4 * (int64_t)nt && n_panels >= 4 * (int64_t)nt;
    /* chunk ch: rows [(ch / ccols) * rows_per, ...), columns
    ** [(ch % ccols) * cols_per, ...) */
    int64_t rows_per = m, cols_per = n, ccols = 1, nchunks;
    if (grid) {
        rows_per = ceil_div(m_panels, nt) * MR;
        cols_per = ceil_div(n_panels, nt) * NR;
        ccols = ceil_div(n, cols_per);
        nchunks = ceil_div(m, rows_per) * ccols;
    } else if (split_n) {
        cols_per = ceil_div(n_panels, 4 * (int64_t)nt) * NR;
        if (cols_per > P.nc) cols_per = P.nc;
        ccols = nchunks = ceil_div(n, cols_per);
    } else {
        rows_per = ceil_div(m_panels, 4 * (int64_t)nt) * MR;
        nchunks = ceil_div(m, rows_per);
    }
    if (nchunks < 2) nt = 1;
    if (nt > nchunks) nt = (int)nchunks;
    const int prepack = nt > 1 && !split_n && P.pack_b && n <= P.nc;

    size_t per = 0, shared = 0;
    if (P.pack_b && !prepack) per += (size_t)(P.kc * ceil_div(P.nc, NR) * NR);
    if (P.pack_a) per += (size_t)(P.kc * MR);
    per = (per + 1023) & ~(size_t)1023; /* 4 KiB slices */
    if (prepack) shared = ((size_t)(k * P.npad) + 1023) & ~(size_t)1023;
    P.ws_floats = per;

    float *ws = NULL;
    int own = 0;
    if (per || shared) {
        ws = ws_get(shared + per * (size_t)nt, &own);
        if (!ws) {
            gemm_unpacked_ref(&P);
            return;
        }
    }
    if (prepack) {
        for (int64_t pc = 0; pc < k; pc += P.kc)
            pack_b_block(&P, ws + pc * P.npad, pc,
                         k - pc < P.kc ? k - pc : P.kc, 0, n);
        P.bpre = ws;
    }
    float *wt = ws ? ws + shared : NULL;
    if (nt <= 1) {
        gemm_block(&P, 0, m, 0, n, wt);
    } else {
#pragma omp parallel num_threads(nt)
        {
            float *mine = per ? wt + per * (size_t)omp_get_thread_num() : NULL;
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t ch = 0; ch < nchunks; ch++) {
                const int64_t i0 = ch / ccols * rows_per, j0 = ch % ccols * cols_per;
                gemm_block(&P, i0, i0 + rows_per < m ? i0 + rows_per : m, j0,
                           j0 + cols_per < n ? j0 + cols_per : n, mine);
            }
        }
    }
    ws_put(ws, own);
}
