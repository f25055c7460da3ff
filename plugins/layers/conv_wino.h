/*
** conv_wino.h -- 3x3 convolutions with stride 1 by Winograd's minimal
** filtering F(2x2, 3x3) (Lavin & Gray 2016), for forward, input gradient
** and kernel gradient (private to the convolution plugins; static).
** Owned by the convolution layers (conv_layer.h includes it).
**
** The output is cut into 2x2 tiles; tile (ty, tx) of a sample reads the
** 4x4 input window d at rows 2 ty - pad_h .. +3 (zeros outside) and
**     y_tile = A^T [ U (.) V ] A,  V = B^T d B,  U = G g G^T
** per (input channel, filter), the 16 products of (.) summed over the
** input channels: one GEMM per transform point xi < 16,
**     M[xi] (tiles x cs) = V[xi] (tiles x cb) . U[xi] (cb x cs),
** 16 multiplications a tile instead of 36 (2.25x fewer flops; 1.72x on a
** 7x7 map, whose 4x4 tiles cover 8x8). The constants (B^T: [1 0 -1 0;
** 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G: [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
** A^T: [1 1 1 0; 0 1 -1 -1]) are all 0, +-1, +-.5: the transforms are
** adds, exact but for rounding (errors ~1e-6 relative, measured against
** the GEMM path in tests/lua/test_conv_wino.lua).
**
** Backward:
**  - input gradient: the same forward over the flipped geometry
**    (cg_flip: dz read with reversed taps, stride 1), whose transformed
**    kernel is U's 16 planes transposed with xi's indices 0 and 3
**    swapped (G applied to a reversed g is G g with rows 0 and 3 swapped);
**  - kernel gradient: dU[xi] = sum over tiles V[xi]^T (A dz A^T)[xi], one
**    GEMM a point, then dW = G^T dU G. V and A dz A^T are rebuilt per
**    chunk of tiles inside the tasks (kept for the whole batch they would
**    take 4x the input and the output in memory: page faults and DRAM
**    traffic cost more than the transforms).
** Tasks (one owner per output element, fixed arithmetic, so bitwise
** identical results for any thread count):
**  - forward / dx: blocks of whole tiles (tiles in (sample, ty, tx) order;
**    row r of a GEMM never depends on the block's other rows, so the block
**    size may follow the thread count): the block's V and its 16 GEMMs in
**    the thread's scratch, the output transform (+ bias, + the fused
**    activation on the tile's finished pixels);
**  - kernel gradient: one task per row i of points (xi = 4 i + k), over
**    the tiles in chunks of CW_TC in a fixed order: the chunk's rows of V
**    and of A dz A^T for its four points, four GEMMs (beta = 1 after the
**    first chunk); then dW by blocks of input channels.
** Channels: multiples of 16 on both sides (whole vectors), at least
** CW_MIN_C (narrower GEMMs waste the 8 x 48 tiles); nothing is allocated
** in a task.
*/
#ifndef LUNET_CONV_WINO_H
#define LUNET_CONV_WINO_H

#include "conv_gemm.h"

#define CW_MIN_C 32 /* channels on each side at least */
#define CW_TB 120   /* tiles per forward block at most (< 128: ln_gemm reads B in place) */
#define CW_TC 128   /* tiles per kernel-gradient chunk */
#define CW_CI 8     /* input channels per transform task */

/* Whether g (a forward or a flipped geometry) runs here. */
static LU_UNUSED int cw_applies(const cg_conv *g) {
    return g->h.k == 3 && g->w.k == 3 && g->h.s == 1 && g->w.s == 1 && g->h.d == 1 &&
           g->w.d == 1 && g->groups == 1 && g->cb % 16 == 0 && g->cs % 16 == 0 &&
           g->cb >= CW_MIN_C && g->cs >= CW_MIN_C && g->h.pad <= 2 && g->w.pad <= 2;
}

static inline int64_t cw_th(const cg_conv *g) { return (g->h.out + 1) / 2; }
static inline int64_t cw_tw(const cg_conv *g) { return (g->w.out + 1) / 2; }
static inline int64_t cw_tiles(const cg_conv *g) { return g->n * cw_th(g) * cw_tw(g); }
/* Multiply-adds x 2 of the 16 GEMMs (the transforms are not counted). */
static inline double cw_flops(const cg_conv *g) {
    return 2.0 * 16.0 * (double)cw_tiles(g) * (double)g->cb * (double)g->cs;
}

/* ---- the kernel transform U = G g G^T ----------------------------------------------- */

typedef struct cw_u_job {
    const cg_conv *g;
    const float *w; /* Keras's (3, 3, cb, cs) */
    float *u;       /* [16][cb][cs] */
    const float *usrc; /* flip: the forward's U ([16][cs][cb] of g's flip) */
} cw_u_job;

static LU_UNUSED int64_t cw_u_tasks(const cg_conv *g) {
    return (g->cb + CW_CI - 1) / CW_CI;
}

LN_CLONES static LU_UNUSED void cw_u_task(void *arg, int64_t t) {
    const cw_u_job *j = arg;
    const int64_t cb = j->g->cb, cs = j->g->cs, pl = cb * cs;
    const int64_t c1 = (t + 1) * CW_CI < cb ? (t + 1) * CW_CI : cb;
    for (int64_t ci = t * CW_CI; ci < c1; ci++) {
        for (int64_t co = 0; co < cs; co += 16) {
            float gg[3][3][16], r[4][3][16];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    const float *src = j->w + (a * 3 + b) * pl + ci * cs + co;
#pragma omp simd
                    for (int l = 0; l < 16; l++) gg[a][b][l] = src[l];
                }
            for (int b = 0; b < 3; b++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    r[0][b][l] = gg[0][b][l];
                    r[1][b][l] = 0.5f * (gg[0][b][l] + gg[1][b][l] + gg[2][b][l]);
                    r[2][b][l] = 0.5f * (gg[0][b][l] - gg[1][b][l] + gg[2][b][l]);
                    r[3][b][l] = gg[2][b][l];
                }
            float *u = j->u + ci * cs + co;
            for (int i = 0; i < 4; i++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    u[(i * 4 + 0) * pl + l] = r[i][0][l];
                    u[(i * 4 + 1) * pl + l] = 0.5f * (r[i][0][l] + r[i][1][l] + r[i][2][l]);
                    u[(i * 4 + 2) * pl + l] = 0.5f * (r[i][0][l] - r[i][1][l] + r[i][2][l]);
                    u[(i * 4 + 3) * pl + l] = r[i][2][l];
                }
        }
    }
}

/* The flipped geometry's U from the forward's: plane (i, j) is the
** forward's plane (p(i), p(j)) transposed, p swapping 0 and 3. One task a
** plane; j->g is the flipped geometry (cb = the forward's cs). */
static LU_UNUSED void cw_uflip_task(void *arg, int64_t t) {
    const cw_u_job *j = arg;
    const int64_t cb = j->g->cb, cs = j->g->cs, pl = cb * cs;
    static const int p[4] = {3, 1, 2, 0};
    const int64_t src = p[t / 4] * 4 + p[t % 4];
    /* forward plane: [cs][cb] (its cb is our cs) -> ours [cb][cs] */
    lu_transpose(j->u + t * pl, cs, j->usrc + src * pl, cb, cs, cb);
}

/* ---- forward (and dx): tiles in blocks ------------------------------------------------- */

typedef struct cw_fwd_job {
    const cg_conv *g;
    const float *big, *u, *bias;
    float *small;
    const cu_scratch *scr;
    cu_post_fn post;
    const void *post_arg;
    int64_t tb; /* tiles per task */
} cw_fwd_job;

/* Tiles per forward task for nt threads: about 4 tasks a thread, whole
** 8-row panels, at most CW_TB (the results do not depend on it). */
static LU_UNUSED int64_t cw_block(const cg_conv *g, int nt) {
    const int64_t T = cw_tiles(g);
    int64_t tb = (T + 4 * nt - 1) / (4 * nt);
    tb = (tb + 7) / 8 * 8;
    if (tb > CW_TB) tb = CW_TB;
    if (tb < 8) tb = 8;
    return tb;
}
static LU_UNUSED int64_t cw_fwd_tasks(const cg_conv *g, int64_t tb) {
    return (cw_tiles(g) + tb - 1) / tb;
}
/* The GEMMs' results, then the block's V. */
static LU_UNUSED int64_t cw_fwd_scratch(const cg_conv *g, int64_t tb) {
    return 16 * tb * (g->cs + g->cb);
}

/* 16 floats as one vector (GCC's vector extension: one zmm register in the
** AVX-512 clone, four SSE registers in the baseline one); cw_vu loads and
** stores unaligned. */
typedef float cw_v __attribute__((vector_size(64)));
typedef cw_v cw_vu __attribute__((aligned(4)));
#define CW_LD(p) (*(const cw_vu *)(const void *)(p))
#define CW_ST(p, x) (*(cw_vu *)(void *)(p) = (x))

/* Row i of B^T applied to (d0, d1, d2, d3): B^T = [1 0 -1 0; 0 1 1 0;
** 0 -1 1 0; 0 1 0 -1]; row i of A to (d0, d1): A = [1 0; 1 1; 1 -1;
** 0 -1]. (Macros: a function returning a vector would change the ABI of
** the baseline clone.) */
#define CW_BT(i, d0, d1, d2, d3)                                                       \
    ((i) == 0 ? (d0) - (d2) : (i) == 1 ? (d1) + (d2) : (i) == 2 ? (d2) - (d1) : (d1) - (d3))
#define CW_A(i, d0, d1) ((i) == 0 ? (d0) : (i) == 1 ? (d0) + (d1) : (i) == 2 ? (d0) - (d1) : -(d1))

/* The 4x4 input window of a tile: rows [r0, r1) and columns [s0, s1) lie
** inside the map, the rest reads as zeros; row[r] is the window's row r
** (the sample itself where outside: never read). */
typedef struct cw_win {
    const float *row[4];
    int r0, r1, s0, s1;
} cw_win;

/* The window at (ih0, iw0) of sample xb ([H][W][cb]). */
static inline __attribute__((always_inline)) void cw_win_at(cw_win *w, const cg_conv *g,
                                                            const float *xb, int64_t ih0,
                                                            int64_t iw0) {
    const int64_t H = g->h.in, W = g->w.in, C = g->cb;
    w->r0 = ih0 < 0 ? (int)-ih0 : 0;
    w->s0 = iw0 < 0 ? (int)-iw0 : 0;
    w->r1 = ih0 + 4 > H ? (int)(H - ih0) : 4;
    w->s1 = iw0 + 4 > W ? (int)(W - iw0) : 4;
    for (int r = 0; r < 4; r++)
        w->row[r] = r >= w->r0 && r < w->r1 ? xb + ((ih0 + r) * W + iw0) * C : xb;
}

/* Column s of the window, channels [c, c + 16), into d[0..3]. */
static inline __attribute__((always_inline)) void cw_win_col(const cw_win *w, int64_t C, int s,
                                                             int64_t c, cw_v d[4]) {
    const cw_v z = {0};
    const int sok = s >= w->s0 && s < w->s1;
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        d[r] = sok && r >= w->r0 && r < w->r1 ? CW_LD(w->row[r] + s * C + c) : z;
}

/* V of one tile: the 4x4 window at (ih0, iw0) of sample xb (zeros outside
** rows [0, H) and columns [0, W)), into v[xi * vs + c] for c < cb. */
LN_CLONES static LU_UNUSED void cw_in_tile(const cg_conv *g, const float *xb, int64_t ih0,
                                           int64_t iw0, float *v, int64_t vs) {
    const int64_t C = g->cb;
    cw_win w;
    cw_win_at(&w, g, xb, ih0, iw0);
    for (int64_t c = 0; c < C; c += 16) {
        cw_v t[4][4];
#pragma GCC unroll 4
        for (int s = 0; s < 4; s++) {
            cw_v d[4];
            cw_win_col(&w, C, s, c, d);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) t[i][s] = CW_BT(i, d[0], d[1], d[2], d[3]);
        }
        float *o = v + c;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                CW_ST(o + (i * 4 + k) * vs, CW_BT(k, t[i][0], t[i][1], t[i][2], t[i][3]));
    }
}

/* y of one tile from m[xi * ms + c] (c < cs): A^T m A + bias, the pixels
** inside the output (nh x nw of the 2x2) written at yp (row stride yrs). */
LN_CLONES static LU_UNUSED void cw_out_tile(int64_t cs, const float *m, int64_t ms,
                                            const float *bias, float *yp, int64_t yrs,
                                            int nh, int nw) {
    const cw_v z = {0};
    for (int64_t c = 0; c < cs; c += 16) {
        cw_v t[2][4];
        const float *mc = m + c;
#pragma GCC unroll 4
        for (int s = 0; s < 4; s++) {
            const cw_v m0 = CW_LD(mc + (0 * 4 + s) * ms), m1 = CW_LD(mc + (1 * 4 + s) * ms);
            const cw_v m2 = CW_LD(mc + (2 * 4 + s) * ms), m3 = CW_LD(mc + (3 * 4 + s) * ms);
            t[0][s] = m0 + m1 + m2;
            t[1][s] = m1 - m2 - m3;
        }
        const cw_v bb = bias ? CW_LD(bias + c) : z;
#pragma GCC unroll 2
        for (int a = 0; a < 2; a++) {
            if (a >= nh) break;
            CW_ST(yp + a * yrs + c, t[a][0] + t[a][1] + t[a][2] + bb);
            if (nw > 1) CW_ST(yp + a * yrs + cs + c, t[a][1] - t[a][2] - t[a][3] + bb);
        }
    }
}

static LU_UNUSED void cw_fwd_task(void *arg, int64_t t) {
    const cw_fwd_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t th = cw_th(g), tw = cw_tw(g), T = cw_tiles(g);
    const int64_t cb = g->cb, cs = g->cs, OH = g->h.out, OW = g->w.out;
    const int64_t t0 = t * j->tb, nb = T - t0 < j->tb ? T - t0 : j->tb;
    float *m = cu_scratch_get(j->scr);
    float *vb = m + 16 * j->tb * cs;
    const int64_t vs = j->tb * cb;
    const int64_t pb = cg_big_pixels(g) * cb;
    for (int64_t r = 0; r < nb; r++) {
        const int64_t tt = t0 + r, n = tt / (th * tw), q = tt % (th * tw);
        cw_in_tile(g, j->big + n * pb, 2 * (q / tw) - g->h.pad, 2 * (q % tw) - g->w.pad,
                   vb + r * cb, vs);
    }
    for (int xi = 0; xi < 16; xi++)
        ln_gemm_ws(0, 0, nb, cs, cb, 1.0f, vb + xi * vs, cb, j->u + xi * cb * cs, cs, 0.0f,
                   m + xi * j->tb * cs, cs, NULL, NULL, 0);
    const int64_t ps = cg_small_pixels(g) * cs;
    for (int64_t r = 0; r < nb; r++) {
        const int64_t tt = t0 + r, n = tt / (th * tw), q = tt % (th * tw);
        const int64_t oh = 2 * (q / tw), ow = 2 * (q % tw);
        const int nh = oh + 1 < OH ? 2 : 1, nw = ow + 1 < OW ? 2 : 1;
        float *yp = j->small + n * ps + (oh * OW + ow) * cs;
        cw_out_tile(cs, m + r * cs, j->tb * cs, j->bias, yp, OW * cs, nh, nw);
        if (j->post)
            for (int a = 0; a < nh; a++) j->post(j->post_arg, yp + a * OW * cs, nw, cs);
    }
}

/* ---- kernel gradient ------------------------------------------------------------------- */

typedef struct cw_wg_job {
    const cg_conv *g;
    const float *x;  /* the forward's input [n][H][W][cb] */
    const float *dz; /* [n][OH][OW][cs] */
    float *du;       /* [16][cb][cs] */
    float *dw;       /* Keras's (3, 3, cb, cs) */
    const cu_scratch *scr;
    int64_t wsf; /* GEMM workspace floats (after the chunk's rows) */
} cw_wg_job;

static LU_UNUSED void cw_wg_plan(const cg_conv *g, cw_wg_job *j) {
    const int64_t T = cw_tiles(g), mc = T < CW_TC ? T : CW_TC;
    j->wsf = (int64_t)ln_gemm_ws_floats(1, 0, g->cb, g->cs, mc > 0 ? mc : 1);
}
static LU_UNUSED int64_t cw_wg_rows(const cg_conv *g) {
    return (4 * CW_TC * (g->cb + g->cs) + 15) / 16 * 16;
}
static LU_UNUSED int64_t cw_wg_scratch(const cw_wg_job *j) {
    return cw_wg_rows(j->g) + j->wsf;
}

/* Rows (i, 0..3) of V = B^T d B and of E = A dz A^T for tiles [t0, t0 +
** nc): v[k][r][c] (c < cb), e[k][r][c] (c < cs). */
LN_CLONES static LU_UNUSED void cw_wg_rows_build(const cw_wg_job *j, int i, int64_t t0,
                                                 int64_t nc, float *v, float *e) {
    const cg_conv *g = j->g;
    const int64_t th = cw_th(g), tw = cw_tw(g), cb = g->cb, cs = g->cs;
    const int64_t OH = g->h.out, OW = g->w.out;
    const int64_t pb = cg_big_pixels(g) * cb, ps = cg_small_pixels(g) * cs;
    const cw_v z = {0};
    for (int64_t r = 0; r < nc; r++) {
        const int64_t tt = t0 + r, n = tt / (th * tw), q = tt % (th * tw);
        const int64_t oh = 2 * (q / tw), ow = 2 * (q % tw);
        /* V: the window at (oh - pad_h, ow - pad_w), zeros outside */
        cw_win w;
        cw_win_at(&w, g, j->x + n * pb, oh - g->h.pad, ow - g->w.pad);
        float *vr = v + r * cb;
        for (int64_t c = 0; c < cb; c += 16) {
            cw_v t[4];
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) {
                cw_v d[4];
                cw_win_col(&w, cb, s, c, d);
                t[s] = CW_BT(i, d[0], d[1], d[2], d[3]);
            }
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                CW_ST(vr + k * CW_TC * cb + c, CW_BT(k, t[0], t[1], t[2], t[3]));
        }
        /* E: the output tile, zeros outside */
        const int h2 = oh + 1 < OH, w2 = ow + 1 < OW;
        const float *p = j->dz + n * ps + (oh * OW + ow) * cs;
        float *er = e + r * cs;
        for (int64_t c = 0; c < cs; c += 16) {
            const cw_v d00 = CW_LD(p + c), d01 = w2 ? CW_LD(p + cs + c) : z;
            const cw_v d10 = h2 ? CW_LD(p + OW * cs + c) : z;
            const cw_v d11 = h2 && w2 ? CW_LD(p + OW * cs + cs + c) : z;
            const cw_v r0v = CW_A(i, d00, d10), r1v = CW_A(i, d01, d11);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) CW_ST(er + k * CW_TC * cs + c, CW_A(k, r0v, r1v));
        }
    }
}

/* Task i < 4: dU[(i, k)] for k < 4 = sum over tile chunks of V^T E, the
** chunk's rows built here (beta = 1 after the first chunk). */
static LU_UNUSED void cw_wg_task(void *arg, int64_t i) {
    const cw_wg_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t T = cw_tiles(g), cb = g->cb, cs = g->cs;
    float *v = cu_scratch_get(j->scr), *e = v + 4 * CW_TC * cb;
    float *ws = v + cw_wg_rows(g);
    for (int64_t t0 = 0; t0 < T; t0 += CW_TC) {
        const int64_t nc = T - t0 < CW_TC ? T - t0 : CW_TC;
        cw_wg_rows_build(j, (int)i, t0, nc, v, e);
        for (int k = 0; k < 4; k++)
            ln_gemm_ws(1, 0, cb, cs, nc, 1.0f, v + k * CW_TC * cb, cb, e + k * CW_TC * cs, cs,
                       t0 ? 1.0f : 0.0f, j->du + (i * 4 + k) * cb * cs, cs, NULL, ws,
                       (size_t)j->wsf);
    }
}

/* dW = G^T dU G for input channels [t CW_CI, ...): Keras's layout. */
LN_CLONES static LU_UNUSED void cw_dw_task(void *arg, int64_t t) {
    const cw_wg_job *j = arg;
    const int64_t cb = j->g->cb, cs = j->g->cs, pl = cb * cs;
    const int64_t c1 = (t + 1) * CW_CI < cb ? (t + 1) * CW_CI : cb;
    for (int64_t ci = t * CW_CI; ci < c1; ci++) {
        for (int64_t co = 0; co < cs; co += 16) {
            const float *s = j->du + ci * cs + co;
            float r[3][4][16];
            for (int k = 0; k < 4; k++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    const float s0 = s[(0 * 4 + k) * pl + l], s1 = s[(1 * 4 + k) * pl + l];
                    const float s2 = s[(2 * 4 + k) * pl + l], s3 = s[(3 * 4 + k) * pl + l];
                    r[0][k][l] = s0 + 0.5f * (s1 + s2);
                    r[1][k][l] = 0.5f * (s1 - s2);
                    r[2][k][l] = 0.5f * (s1 + s2) + s3;
                }
            float *d = j->dw + ci * cs + co;
            for (int a = 0; a < 3; a++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    d[(a * 3 + 0) * pl + l] = r[a][0][l] + 0.5f * (r[a][1][l] + r[a][2][l]);
                    d[(a * 3 + 1) * pl + l] = 0.5f * (r[a][1][l] - r[a][2][l]);
                    d[(a * 3 + 2) * pl + l] = 0.5f * (r[a][1][l] + r[a][2][l]) + r[a][3][l];
                }
        }
    }
}

#endif
