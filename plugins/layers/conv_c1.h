/*
** conv_c1.h -- direct kernels for a convolution whose big side has ONE
** channel (the first layer of a grey-image model: Fashion-MNIST's 28x28x1),
** private to the convolution plugins (static, compiled into each).
**
** With one input channel the patch matrix of conv_gemm.h has only kh*kw
** columns (25 for 5x5, 49 for 7x7): building it costs as much as the
** product, and its thin K dimension starves the GEMM's tiles. Here the
** image is read in place instead, through a zero-padded copy of the rows
** a task needs (so the inner loops carry no bounds tests), and the
** filters are the vector lanes (vectors of C1_VW floats):
**
**  - forward: tasks are (sample, block of output rows); C1_PB output pixels
**    of one row are accumulated in registers over the kh*kw taps (one
**    broadcast pixel times one vector of filters per FMA), then the bias
**    and the fused activation. Used below C1_FWD_MAX16 filters with
**    AVX-512 (16 filters a vector), below C1_FWD_MAX without, where it
**    beats im2col + GEMM; above, the GEMM's wider tiles win and
**    conv_gemm.h's gather runs. Measured, 1 thread, 28x28x1 batch 32,
**    GFLOP/s direct / GEMM: 5x5 filters 16: 66 / 12, 64: 62 / 34, 96:
**    99 / 84, 128: 113 / 107; 7x7 64: 129 / 89, 112: 80 / 83; 3x3 128:
**    40 / 42 (bench/bench_conv_layers.lua --sweep shows the same).
**  - weight gradient: tasks are fixed chunks of about C1_CHUNK output pixels
**    (whole output rows of one sample); a chunk accumulates its part of
**    dW[t][c] = sum_p x[p + t] dy[p][c] in registers (one kernel row of
**    taps times one vector of filters), pixels in order, into its own slot
**    of a partial-sum buffer; the slots are then added in chunk order. The
**    chunks depend on the geometry only, never on the thread count, so
**    every element of dW is the same sum for any number of threads.
**
** Memory: the padded rows (and, when the filter count is not a multiple
** of C1_VW, a padded copy of the chunk's dy) live in the layer's per-thread
** cu_scratch, the padded kernel and the partial sums in layer buffers, all
** grown before a run: no task allocates, and no ln_gemm is called (its
** shared workspace is taken with a try-lock, and a second concurrent
** caller would allocate).
**
** The kernels are compiled per CPU (LN_CLONES: AVX-512, AVX2 + FMA,
** baseline); every thread runs the same clone.
*/
#ifndef LUNET_CONV_C1_H
#define LUNET_CONV_C1_H

#include "conv_gemm.h"
#include "lunet/parallel.h"

#define C1_VW 8         /* filters per vector (16 with AVX-512, conv_c1.h below) */
#define C1_PB 8         /* output pixels per forward register block */
#define C1_TB 8         /* taps (of the flattened window) per wgrad block */
#define C1_CHUNK 1920   /* output pixels per wgrad chunk (whole rows) */
#define C1_FWD_MAX 48   /* the forward runs here below this many filters, */
#define C1_FWD_MAX16 100 /* or this many with AVX-512 (measured, see below) */

typedef float c1_v __attribute__((vector_size(32)));
typedef float c1_vu __attribute__((vector_size(32), aligned(4)));
typedef float c1_w __attribute__((vector_size(64)));
typedef float c1_wu __attribute__((vector_size(64), aligned(4)));

/* Eight accumulators a0..a7 of vector type VT (named: GCC at -O2 keeps an
** array of them in memory). */
#define C1_DECL8(VT, a) VT a##0 = {0}, a##1 = {0}, a##2 = {0}, a##3 = {0}, \
                           a##4 = {0}, a##5 = {0}, a##6 = {0}, a##7 = {0}
#define C1_LIST8(a) {a##0, a##1, a##2, a##3, a##4, a##5, a##6, a##7}

/* On a CPU with AVX-512 the blocks of 16 filters run in a function
** compiled for it (one zmm register per block), the rest in LN_CLONES
** functions with 8 filters per vector. The arithmetic of an element is the
** same FMA chain either way. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(LN_NO_CLONES)
#define C1_HAVE16 1
#define C1_T16 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
static int c1_use16(void) { return __builtin_cpu_supports("avx512f"); }
#else
#define C1_HAVE16 0
#define C1_T16
static int c1_use16(void) { return 0; }
#endif

/* 1 when the direct kernels apply: a convolution (not its transpose) of a
** one-channel big side. Any window, stride, dilation and padding. */
static inline int c1_applies(const cg_conv *g, int transpose) {
    return !transpose && g->cb == 1 && g->groups == 1;
}
static inline int c1_forward_applies(const cg_conv *g, int transpose) {
    return c1_applies(g, transpose) && g->cs < (c1_use16() ? C1_FWD_MAX16 : C1_FWD_MAX);
}

static inline int64_t c1_cpad(const cg_conv *g) {
    return (g->cs + C1_VW - 1) / C1_VW * C1_VW;
}
/* Width of a padded row: every tap of every output pixel lands inside. */
static inline int64_t c1_wp(const cg_conv *g) {
    return (g->w.out - 1) * g->w.s + (g->w.k - 1) * g->w.d + 1;
}
/* Output rows per chunk (a task of either kernel). */
static inline int64_t c1_rows(const cg_conv *g) {
    int64_t r = C1_CHUNK / g->w.out;
    if (r < 1) r = 1;
    return r > g->h.out ? g->h.out : r;
}
static inline int64_t c1_chunks_per_sample(const cg_conv *g) {
    const int64_t r = c1_rows(g);
    return (g->h.out + r - 1) / r;
}
static inline int64_t c1_tasks(const cg_conv *g) {
    return g->n * c1_chunks_per_sample(g);
}
/* Floats read past the padded rows by the fixed-size register blocks. */
static inline int64_t c1_slack(const cg_conv *g) {
    return C1_PB * g->w.s + C1_TB * g->w.d + C1_VW;
}
/* Padded input rows of a chunk of r output rows. */
static inline int64_t c1_in_rows(const cg_conv *g, int64_t r) {
    return (r - 1) * g->h.s + (g->h.k - 1) * g->h.d + 1;
}
/* Per-thread scratch floats: padded rows, then (wgrad) a padded dy. */
static LU_UNUSED int64_t c1_scratch(const cg_conv *g, int wgrad) {
    const int64_t r = c1_rows(g);
    int64_t s = (c1_in_rows(g, r) * c1_wp(g) + c1_slack(g) + 15) / 16 * 16;
    if (wgrad && g->cs % C1_VW) s += r * g->w.out * c1_cpad(g);
    return s;
}

/* Chunk t: sample *b, output rows [*r0, *r1). */
static inline void c1_chunk(const cg_conv *g, int64_t t, int64_t *b, int64_t *r0,
                            int64_t *r1) {
    const int64_t per = c1_chunks_per_sample(g), rows = c1_rows(g);
    *b = t / per;
    *r0 = (t % per) * rows;
    *r1 = *r0 + rows < g->h.out ? *r0 + rows : g->h.out;
}

/* The padded input rows read by output rows [r0, r1) of sample xb (one
** channel, [H, W]) into dst: row i is padded row r0*s + i, i.e. image row
** r0*s + i - pad, zeros outside the image; then the slack, zeroed. */
static LU_UNUSED void c1_pad_rows(const cg_conv *g, const float *xb, int64_t r0,
                                  int64_t r1, float *dst) {
    const int64_t wp = c1_wp(g), nr = c1_in_rows(g, r1 - r0);
    const int64_t pw = g->w.pad, W = g->w.in;
    int64_t n = W < wp - pw ? W : wp - pw; /* image columns inside a row */
    for (int64_t i = 0; i < nr; i++) {
        float *d = dst + i * wp;
        const int64_t ih = r0 * g->h.s + i - g->h.pad;
        if (ih < 0 || ih >= g->h.in || n <= 0) {
            memset(d, 0, (size_t)wp * sizeof *d);
            continue;
        }
        if (pw) memset(d, 0, (size_t)pw * sizeof *d);
        memcpy(d + pw, xb + ih * W, (size_t)n * sizeof *d);
        if (pw + n < wp) memset(d + pw + n, 0, (size_t)(wp - pw - n) * sizeof *d);
    }
    memset(dst + nr * wp, 0, (size_t)c1_slack(g) * sizeof *dst);
}

/* ---- forward --------------------------------------------------------------------- */

typedef struct c1_fwd_job {
    const cg_conv *g;
    const float *x;    /* [n, H, W] */
    const float *w;    /* [kh*kw, cpad]: the kernel, filters zero-padded */
    const float *bias; /* [cs] or NULL */
    float *y;          /* [n, OH, OW, cs] */
    const cu_scratch *scr;
    cu_post_fn post;
    const void *post_arg;
} c1_fwd_job;

/* One forward block: output pixels [ow0, ow0 + pn) of one row (padded rows
** from xr0) times filters [c0, c0 + cn), VT holding the filter lanes. */
#define C1_FWD_BLOCK(VT, VTU)                                                    \
    do {                                                                         \
        C1_DECL8(VT, a);                                                         \
        for (int64_t th = 0; th < kh; th++) {                                    \
            const float *xr = xr0 + th * dh * wp + ow0 * sw;                     \
            const float *wr = w + th * kw * cp + c0;                             \
            for (int64_t tw = 0; tw < kw; tw++) {                                \
                const VT wv = *(const VTU *)(wr + tw * cp);                      \
                const float *p = xr + tw * dw;                                   \
                a0 += p[0] * wv, a1 += p[sw] * wv;                               \
                a2 += p[2 * sw] * wv, a3 += p[3 * sw] * wv;                      \
                a4 += p[4 * sw] * wv, a5 += p[5 * sw] * wv;                      \
                a6 += p[6 * sw] * wv, a7 += p[7 * sw] * wv;                      \
            }                                                                    \
        }                                                                        \
        const VT acc[8] = C1_LIST8(a);                                           \
        VT bv = {0};                                                             \
        if (bias)                                                                \
            for (int64_t c = 0; c < cn; c++) bv[c] = bias[c0 + c];               \
        for (int64_t i = 0; i < pn; i++) {                                       \
            const VT v = acc[i] + bv;                                            \
            float *d = yr + (ow0 + i) * cs + c0;                                 \
            if (cn == (int64_t)(sizeof(VT) / 4)) *(VTU *)d = v;                  \
            else                                                                 \
                for (int64_t c = 0; c < cn; c++) d[c] = v[c];                    \
        }                                                                        \
    } while (0)

#define C1_FWD_SETUP                                                             \
    const cg_conv *g = j->g;                                                     \
    const int64_t cs = g->cs, cp = c1_cpad(g), ow_n = g->w.out, wp = c1_wp(g);   \
    const int64_t kh = g->h.k, kw = g->w.k, sw = g->w.s, dh = g->h.d, dw = g->w.d; \
    const float *w = j->w, *bias = j->bias;                                      \
    const float *xr0 = xp + (oh - r0) * g->h.s * wp;                             \
    float *yr = y + (oh - r0) * ow_n * cs

/* Output row oh, filters [c0, c1) in blocks of 8. */
LN_CLONES static void c1_fwd_row8(const c1_fwd_job *j, const float *xp, int64_t r0,
                                  int64_t oh, float *y, int64_t c0s) {
    C1_FWD_SETUP;
    for (int64_t c0 = c0s; c0 < cs; c0 += 8) {
        const int64_t cn = cs - c0 < 8 ? cs - c0 : 8;
        for (int64_t ow0 = 0; ow0 < ow_n; ow0 += C1_PB) {
            const int64_t pn = ow_n - ow0 < C1_PB ? ow_n - ow0 : C1_PB;
            C1_FWD_BLOCK(c1_v, c1_vu);
        }
    }
}

/* Output row oh, the filters of whole blocks of 16 (AVX-512); returns
** where the rest starts. */
C1_T16 static int64_t c1_fwd_row16(const c1_fwd_job *j, const float *xp, int64_t r0,
                                   int64_t oh, float *y) {
    C1_FWD_SETUP;
    int64_t c0 = 0;
    for (; cp - c0 >= 16; c0 += 16) {
        const int64_t cn = cs - c0 < 16 ? cs - c0 : 16;
        for (int64_t ow0 = 0; ow0 < ow_n; ow0 += C1_PB) {
            const int64_t pn = ow_n - ow0 < C1_PB ? ow_n - ow0 : C1_PB;
            C1_FWD_BLOCK(c1_w, c1_wu);
        }
    }
    return c0;
}

/* Output rows [r0, r1) from padded rows xp (row 0 = padded row r0*s). */
static void c1_fwd_rows(const c1_fwd_job *j, const float *xp, int64_t r0, int64_t r1,
                        float *y) {
    const int wide = C1_HAVE16 && c1_use16();
    for (int64_t oh = r0; oh < r1; oh++) {
        const int64_t c0 = wide ? c1_fwd_row16(j, xp, r0, oh, y) : 0;
        if (c0 < j->g->cs) c1_fwd_row8(j, xp, r0, oh, y, c0);
    }
}

static LU_UNUSED void c1_fwd_task(void *arg, int64_t t) {
    const c1_fwd_job *j = arg;
    const cg_conv *g = j->g;
    int64_t b, r0, r1;
    c1_chunk(g, t, &b, &r0, &r1);
    float *xp = cu_scratch_get(j->scr);
    c1_pad_rows(g, j->x + b * g->h.in * g->w.in, r0, r1, xp);
    float *y = j->y + (b * g->h.out + r0) * g->w.out * g->cs;
    c1_fwd_rows(j, xp, r0, r1, y);
    /* the activation in pieces of at most CG_ROWS pixels, as the gather's
    ** tasks give it: a larger piece may make it open a parallel region of
    ** its own inside this task (libgomp allocates a team for it) */
    const int64_t np = (r1 - r0) * g->w.out;
    if (j->post)
        for (int64_t p0 = 0; p0 < np; p0 += CG_ROWS)
            j->post(j->post_arg, y + p0 * g->cs, np - p0 < CG_ROWS ? np - p0 : CG_ROWS, g->cs);
}

/* The kernel [kh*kw, cs] (Keras's (kh, kw, 1, cs)) with its filters padded
** to whole vectors, into wp ([kh*kw, cpad], 64-byte aligned). */
static LU_UNUSED void c1_pad_kernel(const cg_conv *g, const float *w, float *wpad) {
    const int64_t taps = g->h.k * g->w.k, cs = g->cs, cp = c1_cpad(g);
    for (int64_t t = 0; t < taps; t++) {
        memcpy(wpad + t * cp, w + t * cs, (size_t)cs * sizeof *w);
        if (cp > cs) memset(wpad + t * cp + cs, 0, (size_t)(cp - cs) * sizeof *w);
    }
}

/* ---- weight gradient -------------------------------------------------------------- */

typedef struct c1_wgrad_job {
    const cg_conv *g;
    const float *x;  /* [n, H, W] */
    const float *dy; /* [n, OH, OW, cs] */
    float *part;     /* [tasks, kh*kw, cpad]: one slot per chunk */
    float *dw;       /* [kh*kw, cs] */
    const cu_scratch *scr;
} c1_wgrad_job;

/* One weight-gradient block: taps [t0, t0 + 8) of the flattened kh*kw
** window (taps past the end read tap 0 and are dropped) times filters
** [c0, c0 + lanes) over the chunk's pixels in order. */
#define C1_WG_BLOCK(VT, VTU)                                                     \
    do {                                                                         \
        const float *q[8];                                                       \
        for (int i = 0; i < 8; i++) {                                            \
            const int64_t t = t0 + i < K ? t0 + i : 0;                           \
            q[i] = xp + (t / kw) * dh * wp + (t % kw) * dw;                      \
        }                                                                        \
        const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];              \
        const float *q4 = q[4], *q5 = q[5], *q6 = q[6], *q7 = q[7];              \
        C1_DECL8(VT, a);                                                         \
        for (int64_t oh = r0; oh < r1; oh++) {                                   \
            const float *dr = dyc + (oh - r0) * ow_n * cp + c0;                  \
            int64_t o = (oh - r0) * sh * wp;                                     \
            for (int64_t ow = 0; ow < ow_n; ow++, o += sw) {                     \
                const VT dv = *(const VTU *)(dr + ow * cp);                      \
                a0 += q0[o] * dv, a1 += q1[o] * dv, a2 += q2[o] * dv;            \
                a3 += q3[o] * dv, a4 += q4[o] * dv, a5 += q5[o] * dv;            \
                a6 += q6[o] * dv, a7 += q7[o] * dv;                              \
            }                                                                    \
        }                                                                        \
        const VT acc[8] = C1_LIST8(a);                                           \
        const int64_t tn = K - t0 < 8 ? K - t0 : 8;                              \
        for (int64_t i = 0; i < tn; i++) *(VTU *)(part + (t0 + i) * cp + c0) = acc[i]; \
    } while (0)

#define C1_WG_SETUP                                                              \
    const int64_t cp = c1_cpad(g), ow_n = g->w.out, wp = c1_wp(g);               \
    const int64_t kw = g->w.k, K = g->h.k * kw, sh = g->h.s, sw = g->w.s;        \
    const int64_t dh = g->h.d, dw = g->w.d

/* Chunk rows [r0, r1): part[t][c] = sum over its pixels p (in order) of
** xp[p + t] dyc[p][c], dyc the chunk's dy with cpad filters per pixel;
** filters from c0s in blocks of 8. */
LN_CLONES static void c1_wgrad_rows8(const cg_conv *g, const float *xp, const float *dyc,
                                     int64_t r0, int64_t r1, float *part, int64_t c0s) {
    C1_WG_SETUP;
    for (int64_t c0 = c0s; c0 < cp; c0 += 8)
        for (int64_t t0 = 0; t0 < K; t0 += 8) C1_WG_BLOCK(c1_v, c1_vu);
}

/* The same over whole blocks of 16 filters (AVX-512); returns where the
** rest starts. */
C1_T16 static int64_t c1_wgrad_rows16(const cg_conv *g, const float *xp, const float *dyc,
                                      int64_t r0, int64_t r1, float *part) {
    C1_WG_SETUP;
    int64_t c0 = 0;
    for (; cp - c0 >= 16; c0 += 16)
        for (int64_t t0 = 0; t0 < K; t0 += 8) C1_WG_BLOCK(c1_w, c1_wu);
    return c0;
}

static void c1_wgrad_rows(const cg_conv *g, const float *xp, const float *dyc, int64_t r0,
                          int64_t r1, float *part) {
    const int64_t c0 = C1_HAVE16 && c1_use16() ? c1_wgrad_rows16(g, xp, dyc, r0, r1, part) : 0;
    if (c0 < c1_cpad(g)) c1_wgrad_rows8(g, xp, dyc, r0, r1, part, c0);
}

static LU_UNUSED void c1_wgrad_task(void *arg, int64_t t) {
    const c1_wgrad_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t cs = g->cs, cp = c1_cpad(g), ow_n = g->w.out;
    int64_t b, r0, r1;
    c1_chunk(g, t, &b, &r0, &r1);
    float *xp = cu_scratch_get(j->scr);
    c1_pad_rows(g, j->x + b * g->h.in * g->w.in, r0, r1, xp);
    const float *dy = j->dy + (b * g->h.out + r0) * ow_n * cs;
    if (cs != cp) { /* whole vectors per pixel: a padded copy */
        float *dyc = xp + (c1_in_rows(g, c1_rows(g)) * c1_wp(g) + c1_slack(g) + 15) /
                              16 * 16;
        const int64_t np = (r1 - r0) * ow_n;
        for (int64_t p = 0; p < np; p++) {
            memcpy(dyc + p * cp, dy + p * cs, (size_t)cs * sizeof *dy);
            memset(dyc + p * cp + cs, 0, (size_t)(cp - cs) * sizeof *dy);
        }
        dy = dyc;
    }
    c1_wgrad_rows(g, xp, dy, r0, r1, j->part + t * g->h.k * g->w.k * cp);
}

/* dW = the chunks' partial sums added in chunk order (task t: element
** block t of C1_CHUNK floats of dW, any thread). */
static LU_UNUSED int64_t c1_sum_tasks(const cg_conv *g) {
    return (g->h.k * g->w.k * g->cs + C1_CHUNK - 1) / C1_CHUNK;
}
static LU_UNUSED void c1_sum_task(void *arg, int64_t t) {
    const c1_wgrad_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t cs = g->cs, cp = c1_cpad(g), K = g->h.k * g->w.k;
    const int64_t e0 = t * C1_CHUNK, e1 = e0 + C1_CHUNK < K * cs ? e0 + C1_CHUNK : K * cs;
    const int64_t nt = c1_tasks(g), slot = K * cp;
    for (int64_t e = e0; e < e1; e++) {
        const int64_t k = e / cs, c = e % cs;
        const float *p = j->part + k * cp + c;
        float s = p[0];
        for (int64_t i = 1; i < nt; i++) s += p[i * slot];
        j->dw[e] = s;
    }
}

#endif
