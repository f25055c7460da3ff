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
**    and the fused activation. Used below C1_FWD_MAX filters, where it
**    beats im2col + GEMM (measured by bench/bench_conv_layers.lua); above,
**    the GEMM's wider tiles win and conv_gemm.h's gather runs.
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

#define C1_VW 8         /* filters per vector */
#define C1_PB 8         /* output pixels per forward register block */
#define C1_TB 8         /* taps of a kernel row per wgrad register block */
#define C1_CHUNK 1920   /* output pixels per wgrad chunk (whole rows) */
#define C1_FWD_MAX 48   /* the forward runs here below this many filters */

typedef float c1_v __attribute__((vector_size(C1_VW * 4)));
typedef float c1_vu __attribute__((vector_size(C1_VW * 4), aligned(4)));

/* Eight accumulators a0..a7 (named: GCC at -O2 keeps an array of them in
** memory), each += p[i * st] * v. */
#define C1_DECL8(a) c1_v a##0 = {0}, a##1 = {0}, a##2 = {0}, a##3 = {0}, \
                         a##4 = {0}, a##5 = {0}, a##6 = {0}, a##7 = {0}
#define C1_FMA8(a, p, st, v)                                                     \
    do {                                                                         \
        a##0 += (p)[0] * (v), a##1 += (p)[(st)] * (v);                         \
        a##2 += (p)[2 * (st)] * (v), a##3 += (p)[3 * (st)] * (v);               \
        a##4 += (p)[4 * (st)] * (v), a##5 += (p)[5 * (st)] * (v);               \
        a##6 += (p)[6 * (st)] * (v), a##7 += (p)[7 * (st)] * (v);               \
    } while (0)
#define C1_LIST8(a) {a##0, a##1, a##2, a##3, a##4, a##5, a##6, a##7}

/* 1 when the direct kernels apply: a convolution (not its transpose) of a
** one-channel big side. Any window, stride, dilation and padding. */
static inline int c1_applies(const cg_conv *g, int transpose) {
    return !transpose && g->cb == 1 && g->groups == 1;
}
static inline int c1_forward_applies(const cg_conv *g, int transpose) {
    return c1_applies(g, transpose) && g->cs < C1_FWD_MAX;
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

/* Output rows [r0, r1) from padded rows xp (row 0 = padded row r0*s). */
LN_CLONES static void c1_fwd_rows(const c1_fwd_job *j, const float *xp, int64_t r0,
                                  int64_t r1, float *y) {
    const cg_conv *g = j->g;
    const int64_t cs = g->cs, cp = c1_cpad(g), ow_n = g->w.out, wp = c1_wp(g);
    const int64_t kh = g->h.k, kw = g->w.k, sh = g->h.s, sw = g->w.s;
    const int64_t dh = g->h.d, dw = g->w.d;
    for (int64_t oh = r0; oh < r1; oh++) {
        const float *xr0 = xp + (oh - r0) * sh * wp;
        float *yr = y + (oh - r0) * ow_n * cs;
        for (int64_t c0 = 0; c0 < cs; c0 += C1_VW) {
            const int64_t cn = cs - c0 < C1_VW ? cs - c0 : C1_VW;
            c1_v bv = {0};
            if (j->bias)
                for (int64_t c = 0; c < cn; c++) bv[c] = j->bias[c0 + c];
            for (int64_t ow0 = 0; ow0 < ow_n; ow0 += C1_PB) {
                C1_DECL8(a);
                for (int64_t th = 0; th < kh; th++) {
                    const float *xr = xr0 + th * dh * wp + ow0 * sw;
                    const float *wr = j->w + th * kw * cp + c0;
                    for (int64_t tw = 0; tw < kw; tw++) {
                        const c1_v wv = *(const c1_v *)(wr + tw * cp);
                        C1_FMA8(a, xr + tw * dw, sw, wv);
                    }
                }
                const c1_v acc[C1_PB] = C1_LIST8(a);
                const int64_t pn = ow_n - ow0 < C1_PB ? ow_n - ow0 : C1_PB;
                for (int64_t i = 0; i < pn; i++) {
                    const c1_v v = acc[i] + bv;
                    float *d = yr + (ow0 + i) * cs + c0;
                    if (cn == C1_VW) *(c1_vu *)d = v;
                    else
                        for (int64_t c = 0; c < cn; c++) d[c] = v[c];
                }
            }
        }
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
    if (j->post) j->post(j->post_arg, y, (r1 - r0) * g->w.out, g->cs);
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

/* Chunk rows [r0, r1): part[t][c] = sum over its pixels p (in order) of
** xp[p + t] dyc[p][c], dyc the chunk's dy with cpad filters per pixel. */
LN_CLONES static void c1_wgrad_rows(const cg_conv *g, const float *xp, const float *dyc,
                                    int64_t r0, int64_t r1, float *part) {
    const int64_t cp = c1_cpad(g), ow_n = g->w.out, wp = c1_wp(g);
    const int64_t kh = g->h.k, kw = g->w.k, sh = g->h.s, sw = g->w.s;
    const int64_t dh = g->h.d, dw = g->w.d;
    for (int64_t c0 = 0; c0 < cp; c0 += C1_VW)
        for (int64_t th = 0; th < kh; th++)
            for (int64_t tw0 = 0; tw0 < kw; tw0 += C1_TB) {
                C1_DECL8(a);
                for (int64_t oh = r0; oh < r1; oh++) {
                    const float *xr = xp + ((oh - r0) * sh + th * dh) * wp + tw0 * dw;
                    const float *dr = dyc + (oh - r0) * ow_n * cp + c0;
                    for (int64_t ow = 0; ow < ow_n; ow++) {
                        const c1_v dv = *(const c1_vu *)(dr + ow * cp);
                        C1_FMA8(a, xr + ow * sw, dw, dv);
                    }
                }
                const c1_v acc[C1_TB] = C1_LIST8(a);
                const int64_t tn = kw - tw0 < C1_TB ? kw - tw0 : C1_TB;
                for (int64_t i = 0; i < tn; i++)
                    *(c1_vu *)(part + (th * kw + tw0 + i) * cp + c0) = acc[i];
            }
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
