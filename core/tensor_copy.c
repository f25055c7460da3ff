/*
** tensor_copy.c -- out (contiguous) = in seen through a shape and strides:
** the copy under permute, contiguous() of a transpose and region reads.
**
** Dims the view keeps together are merged first, so a permute of a cube
** that moves two dims as one is the 2-d transpose it is. Two dims form the
** inner pair, copied by a loop that knows their strides; the other dims are
** walked once per piece of the pair, never per element. The pair is
**   rows:    the last two dims, the last contiguous in the input;
**   tiles:   the input's contiguous dim and the last, copied in tiles
**            read along the input and written while in L1 (16 x 16
**            transposes in AVX-512 registers where the CPU has them);
**   strided: the last two dims, neither contiguous (a stepped slice).
** The work is cut into pieces of about BLOCK elements in a fixed order, so
** which thread copies what never changes the result.
*/
#include "tensor_copy.h"

#include "par_for.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "cpu_simd.h"
#define HAVE_TILES16 1
#endif

enum { TILE = 32, BLOCK = 8192 };
enum { ROWS, TILES, STRIDED };

typedef struct plan {
    int nd, kind, p, l;      /* the pair is dims p and l = nd - 1 */
    int no, od[LN_MAX_DIM];  /* the other dims, outermost first */
    int64_t shape[LN_MAX_DIM], in[LN_MAX_DIM], out[LN_MAX_DIM];
    int64_t mb, lb, mch, lch; /* piece size along p and l, pieces along each */
} plan;

/* Drop size-1 dims and merge a dim into the one before it when the input
** steps over both as one; at least two dims remain. */
static void merge_dims(plan *P, int nd, const int64_t *shape,
                       const int64_t *stride) {
    int k = 0;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 1) continue;
        if (k > 0 && P->in[k - 1] == stride[d] * shape[d]) {
            P->shape[k - 1] *= shape[d];
            P->in[k - 1] = stride[d];
        } else {
            P->shape[k] = shape[d];
            P->in[k++] = stride[d];
        }
    }
    while (k < 2) { /* pad in front: a dim of 1 is never stepped over */
        for (int d = k; d > 0; d--) {
            P->shape[d] = P->shape[d - 1];
            P->in[d] = P->in[d - 1];
        }
        P->shape[0] = 1;
        P->in[0] = 0;
        k++;
    }
    P->nd = k;
    int64_t s = 1;
    for (int d = k - 1; d >= 0; d--) {
        P->out[d] = s;
        s *= P->shape[d];
    }
}

static void make_plan(plan *P, int nd, const int64_t *shape,
                      const int64_t *stride) {
    merge_dims(P, nd, shape, stride);
    int l = P->nd - 1;
    P->l = l;
    P->p = l - 1;
    P->kind = P->in[l] == 1 ? ROWS : STRIDED;
    for (int d = 0; d < l && P->kind == STRIDED; d++)
        if (P->in[d] == 1) {
            P->kind = TILES;
            P->p = d;
        }
    P->no = 0;
    for (int d = 0; d < l; d++)
        if (d != P->p) P->od[P->no++] = d;
    int64_t M = P->shape[P->p], L = P->shape[l];
    if (P->kind == TILES) P->mb = M < TILE ? M : TILE;
    else P->mb = L >= BLOCK ? 1 : (M < BLOCK / L ? M : BLOCK / L);
    P->lb = BLOCK / P->mb < L ? BLOCK / P->mb : L;
    P->mch = (M + P->mb - 1) / P->mb;
    P->lch = (L + P->lb - 1) / P->lb;
}

#ifdef HAVE_TILES16
#define V512 __attribute__((always_inline, target("avx512f"))) static inline

/* o[m * op + j] = s[m + j * il] for m < mc, j < jc (1..16 each): jc masked
** loads, a 16 x 16 transpose in registers (pairs of 32-bit lanes, of 64-bit
** lanes, then of 128-bit quarters twice), mc masked stores. Named
** variables, not arrays: see rng.c on ASan's fake stack. */
V512 void tile16(uint32_t *o, int64_t op, const uint32_t *s, int64_t il,
                 int mc, int jc) {
    __mmask16 mm = (__mmask16)((1u << mc) - 1), mj = (__mmask16)((1u << jc) - 1);
    __m512i z = _mm512_setzero_si512();
#define LD(j) __m512i r##j = j < jc ? _mm512_maskz_loadu_epi32(mm, s + j * il) : z
    LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
    LD(8); LD(9); LD(10); LD(11); LD(12); LD(13); LD(14); LD(15);
#define S1(a, b)                                                             \
    __m512i t##a = _mm512_unpacklo_epi32(r##a, r##b);                        \
    __m512i t##b = _mm512_unpackhi_epi32(r##a, r##b)
    S1(0, 1); S1(2, 3); S1(4, 5); S1(6, 7);
    S1(8, 9); S1(10, 11); S1(12, 13); S1(14, 15);
#define S2(a, b, c, d)                                                       \
    r##a = _mm512_unpacklo_epi64(t##a, t##c);                                \
    r##b = _mm512_unpackhi_epi64(t##a, t##c);                                \
    r##c = _mm512_unpacklo_epi64(t##b, t##d);                                \
    r##d = _mm512_unpackhi_epi64(t##b, t##d)
    S2(0, 1, 2, 3); S2(4, 5, 6, 7); S2(8, 9, 10, 11); S2(12, 13, 14, 15);
#define S3(a, b)                                                             \
    t##a = _mm512_shuffle_i32x4(r##a, r##b, 0x88);                           \
    t##b = _mm512_shuffle_i32x4(r##a, r##b, 0xdd)
    S3(0, 4); S3(1, 5); S3(2, 6); S3(3, 7);
    S3(8, 12); S3(9, 13); S3(10, 14); S3(11, 15);
#define S4(a, b)                                                             \
    r##a = _mm512_shuffle_i32x4(t##a, t##b, 0x88);                           \
    r##b = _mm512_shuffle_i32x4(t##a, t##b, 0xdd)
    S4(0, 8); S4(1, 9); S4(2, 10); S4(3, 11);
    S4(4, 12); S4(5, 13); S4(6, 14); S4(7, 15);
#define ST(m) if (m < mc) _mm512_mask_storeu_epi32(o + m * op, mj, r##m)
    ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
    ST(8); ST(9); ST(10); ST(11); ST(12); ST(13); ST(14); ST(15);
#undef LD
#undef S1
#undef S2
#undef S3
#undef S4
#undef ST
}

__attribute__((target("avx512f"))) static void
tiles16(uint32_t *o, int64_t op, const uint32_t *s, int64_t il, int64_t m0,
        int64_t m1, int64_t l0, int64_t l1) {
    for (int64_t j = l0; j < l1; j += 16)
        for (int64_t m = m0; m < m1; m += 16)
            tile16(o + m * op + j, op, s + m + j * il, il,
                   m1 - m < 16 ? (int)(m1 - m) : 16,
                   l1 - j < 16 ? (int)(l1 - j) : 16);
}
#endif

/* One piece: rows m0..m1 of dim p, columns l0..l1 of the last dim. */
#define PIECE(T)                                                             \
    do {                                                                     \
        T *o = (T *)out + ob;                                                \
        const T *s = (const T *)in + ib;                                     \
        if (P->kind == ROWS) {                                               \
            for (int64_t m = m0; m < m1; m++) {                              \
                T *om = o + m * op;                                          \
                const T *sm = s + m * ip;                                    \
                LN_PRAGMA_(omp simd)                                         \
                for (int64_t j = l0; j < l1; j++) om[j] = sm[j];             \
            }                                                                \
        } else if (P->kind == TILES) {                                       \
            for (int64_t c0 = l0; c0 < l1; c0 += TILE) {                     \
                int64_t c1 = c0 + TILE < l1 ? c0 + TILE : l1;                \
                for (int64_t j = c0; j < c1; j++)                            \
                    for (int64_t m = m0; m < m1; m++)                        \
                        o[m * op + j] = s[m + j * il];                       \
            }                                                                \
        } else {                                                             \
            for (int64_t m = m0; m < m1; m++)                                \
                for (int64_t j = l0; j < l1; j++)                            \
                    o[m * op + j] = s[m * ip + j * il];                      \
        }                                                                    \
    } while (0)

LN_CLONES static void copy_piece(void *out, const void *in, size_t es, const plan *P,
                       int64_t ob, int64_t ib, int64_t ms, int64_t ls) {
    int64_t M = P->shape[P->p], L = P->shape[P->l];
    int64_t m0 = ms * P->mb, m1 = m0 + P->mb < M ? m0 + P->mb : M;
    int64_t l0 = ls * P->lb, l1 = l0 + P->lb < L ? l0 + P->lb : L;
    int64_t op = P->out[P->p], ip = P->in[P->p], il = P->in[P->l];
#ifdef HAVE_TILES16
    if (P->kind == TILES && es == 4 && ln__have_avx512f()) {
        tiles16((uint32_t *)out + ob, op, (const uint32_t *)in + ib, il, m0,
                m1, l0, l1);
        return;
    }
#endif
    if (es == 4) PIECE(uint32_t);
    else PIECE(uint8_t);
}

/* Copy pieces u0..u1 (in the order outer index, then p, then l). */
static void copy_pieces(void *out, const void *in, size_t es, const plan *P,
                        int64_t u0, int64_t u1) {
    int64_t per = P->mch * P->lch, o = u0 / per, c[LN_MAX_DIM];
    int64_t ms = u0 % per / P->lch, ls = u0 % P->lch, ob = 0, ib = 0;
    for (int k = P->no - 1; k >= 0; k--) {
        int d = P->od[k];
        c[k] = o % P->shape[d];
        o /= P->shape[d];
        ob += c[k] * P->out[d];
        ib += c[k] * P->in[d];
    }
    for (int64_t u = u0; u < u1; u++) {
        copy_piece(out, in, es, P, ob, ib, ms, ls);
        if (++ls < P->lch) continue;
        ls = 0;
        if (++ms < P->mch) continue;
        ms = 0;
        for (int k = P->no - 1; k >= 0; k--) {
            int d = P->od[k];
            ob += P->out[d];
            ib += P->in[d];
            if (++c[k] < P->shape[d]) break;
            ob -= P->out[d] * P->shape[d];
            ib -= P->in[d] * P->shape[d];
            c[k] = 0;
        }
    }
}

void ln_strided_copy(void *out, const void *in, size_t es, int nd,
                     const int64_t *shape, const int64_t *stride, int64_t n) {
    plan P;
    make_plan(&P, nd, shape, stride);
    int64_t size = P.mb * P.lb, units = n / (P.shape[P.p] * P.shape[P.l]);
    units *= P.mch * P.lch;
    int64_t ub = size >= BLOCK ? 1 : BLOCK / size;
    int64_t nb = (units + ub - 1) / ub;
    LN_FOR(n, for (int64_t b = 0; b < nb; b++) {
        int64_t u0 = b * ub, u1 = u0 + ub < units ? u0 + ub : units;
        copy_pieces(out, in, es, &P, u0, u1);
    });
}
