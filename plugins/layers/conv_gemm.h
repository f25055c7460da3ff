/*
** conv_gemm.h -- convolutions as products on the core's ln_gemm (private to
** the convolution plugins; static, compiled into each).
**
** A convolution relates a "big" side (the image: a Conv's input, a
** Conv2DTranspose's output; n samples of [H, W, cb], channels_last) to a
** "small" side (n samples of [OH, OW, cs]) through the kernel W, stored as
** Keras stores it: (kh, kw, cb/groups, cs), i.e. a [K x cs] matrix with
** K = kh*kw*cb/groups whose column c belongs to group c / (cs/groups).
** The patch matrix P has one row per small pixel: the K big-side values
** its window reads in (kh, kw, channel) order, zeros where the window
** hangs over the padding. Three products cover forward and backward of
** both layers:
**
**   gather:  small = P(big) W (+ bias)      Conv forward, Conv2DTranspose dx
**   scatter: big  += P^T-scatter(small W^T) Conv dx, Conv2DTranspose forward
**   wgrad:   dW    = P(big)^T small         both layers' kernel gradient
**
** How each is cut into tasks (one owner per output element, fixed
** arithmetic, hence bitwise identical results for any thread count):
**  - gather: blocks of CG_ROWS small pixels. A task writes its block's
**    patch rows into its thread's scratch and multiplies them by W with one
**    ln_gemm per group (bias in the epilogue), then applies a fused
**    activation to the finished rows while they are in cache. 1x1 windows
**    with stride 1 and no padding read the image in place.
**  - scatter: one task per sample: blocks of CG_ROWS rows of small W^T
**    (W^T is transposed once per call) are added into the sample's window
**    positions in pixel order. With stride 1 (and enough channels) the
**    same product is a gather instead (cg_flip): small read through the
**    reversed taps and a rearranged kernel, tasks over pixels, no
**    scatter pass (measured: the conv's backward from ~100 to ~150
**    GFLOP/s on one core).
**  - wgrad: tasks own blocks of patch columns of dW^T = small^T P(big)
**    and run over the pixels in chunks of CG_MCHUNK: the chunk's patch
**    columns are built once and ln_gemm_ws adds small^T times them into
**    the task's columns (beta = 1 after the first chunk), so the sum over
**    pixels runs in a fixed chunk order; small^T is packed by panels
**    straight from small into the task's scratch (no transpose pass). The
**    task then writes its columns of dW in Keras's layout. The tasks need
**    nothing else, so they share one parallel run with the input
**    gradient's.
** The gather and scatter products are non-transposed ln_gemm calls with
** fewer than 128 rows, the case ln_gemm serves without packing memory;
** wgrad's ln_gemm_ws packs into the thread's scratch: nothing is
** allocated in a task.
** Patch rows are built with one memcpy per window row where the window
** row is contiguous in the image (dilation 1, one group).
*/
#ifndef LUNET_CONV_GEMM_H
#define LUNET_CONV_GEMM_H

#include "conv_util.h"
#include "lunet/gemm.h"

#define CG_ROWS 120   /* small pixels per gather/scatter product (< 128) */
#define CG_MCHUNK 256 /* pixels per accumulation step of wgrad */
#define CG_KBLK 384   /* at most this many patch columns per wgrad task */

typedef struct cg_conv {
    cu_axis h, w;   /* h.in x w.in big, h.out x w.out small */
    int64_t cb, cs; /* channels of the big and the small side */
    int64_t groups;
    int64_t n;      /* samples */
} cg_conv;

static inline int64_t cg_kdim(const cg_conv *g) {
    return g->h.k * g->w.k * (g->cb / g->groups);
}
static inline int64_t cg_big_pixels(const cg_conv *g) { return g->h.in * g->w.in; }
static inline int64_t cg_small_pixels(const cg_conv *g) { return g->h.out * g->w.out; }
/* Flops of one product (P(big) W over all samples). */
static inline double cg_flops(const cg_conv *g) {
    return 2.0 * (double)g->n * (double)cg_small_pixels(g) * (double)cg_kdim(g) *
           (double)(g->cs / g->groups);
}

/* dst[x] for x in [s0, s1) cut to [lo, hi): src[x - s0], or 0 without src. */
static inline void cg_put(float *dst, int64_t lo, int64_t hi, int64_t s0,
                          int64_t s1, const float *src) {
    int64_t a = s0 > lo ? s0 : lo, b = s1 < hi ? s1 : hi;
    if (a >= b) return;
    if (b - a <= 16) { /* a few floats (one input channel): no call */
        if (src)
            for (int64_t i = a; i < b; i++) dst[i] = src[i - s0];
        else
            for (int64_t i = a; i < b; i++) dst[i] = 0.0f;
    } else if (src) {
        memcpy(dst + a, src + (a - s0), (size_t)(b - a) * sizeof *dst);
    } else {
        memset(dst + a, 0, (size_t)(b - a) * sizeof *dst);
    }
}

/* Columns [k0, k1) of the patch row of small pixel (oh, ow) over the big
** channels [c0, c0 + cg) of one sample xb, into dst[0 .. k1 - k0). */
static LU_UNUSED void cg_patch_row(const cg_conv *g, const float *xb, int64_t oh,
                         int64_t ow, int64_t c0, int64_t cg, int64_t k0,
                         int64_t k1, float *dst) {
    const int64_t kw = g->w.k, seg = kw * cg;
    int64_t a, b, ta, tb;
    dst -= k0;
    cu_taps(&g->h, oh, &a, &b);
    cu_taps(&g->w, ow, &ta, &tb);
    const int64_t iw0 = ow * g->w.s - g->w.pad;
    for (int64_t th = 0; th < g->h.k; th++) {
        const int64_t base = th * seg;
        if (base >= k1) break;
        if (base + seg <= k0) continue;
        if (th < a || th >= b) {
            cg_put(dst, k0, k1, base, base + seg, NULL);
            continue;
        }
        const int64_t ih = oh * g->h.s - g->h.pad + th * g->h.d;
        const float *xr = xb + ih * g->w.in * g->cb + c0;
        if (g->w.d == 1 && cg == g->cb) { /* the window row is contiguous */
            cg_put(dst, k0, k1, base, base + ta * cg, NULL);
            cg_put(dst, k0, k1, base + ta * cg, base + tb * cg,
                   xr + (iw0 + ta) * g->cb);
            cg_put(dst, k0, k1, base + tb * cg, base + seg, NULL);
            continue;
        }
        for (int64_t tw = 0; tw < kw; tw++) {
            const int64_t s0 = base + tw * cg;
            cg_put(dst, k0, k1, s0, s0 + cg,
                   tw >= ta && tw < tb ? xr + (iw0 + tw * g->w.d) * g->cb : NULL);
        }
    }
}

static inline void cg_add(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* The scatter of one patch row: src (kh*kw*cg values) added into the big
** sample xb at the window of small pixel (oh, ow), channels [c0, c0+cg). */
static LU_UNUSED void cg_patch_add(const cg_conv *g, float *xb, int64_t oh, int64_t ow,
                         int64_t c0, int64_t cg, const float *src) {
    int64_t a, b, ta, tb;
    cu_taps(&g->h, oh, &a, &b);
    cu_taps(&g->w, ow, &ta, &tb);
    const int64_t iw0 = ow * g->w.s - g->w.pad, seg = g->w.k * cg;
    for (int64_t th = a; th < b; th++) {
        const int64_t ih = oh * g->h.s - g->h.pad + th * g->h.d;
        float *xr = xb + ih * g->w.in * g->cb + c0;
        const float *sr = src + th * seg;
        if (g->w.d == 1 && cg == g->cb) {
            cg_add(xr + (iw0 + ta) * g->cb, sr + ta * cg, (tb - ta) * cg);
            continue;
        }
        for (int64_t tw = ta; tw < tb; tw++)
            cg_add(xr + (iw0 + tw * g->w.d) * g->cb, sr + tw * cg, cg);
    }
}

/* A 1x1 window with stride 1 and no padding: P(big) is big itself. */
static inline int cg_pointwise(const cg_conv *g) {
    return g->h.k == 1 && g->w.k == 1 && g->h.s == 1 && g->w.s == 1 &&
           g->h.pad == 0 && g->w.pad == 0 && g->groups == 1;
}

/* ---- gather: small = P(big) W + bias ----------------------------------------- */

typedef struct cg_gather_job {
    const cg_conv *g;
    const float *big, *w, *bias;
    float *small;
    const cu_scratch *scr;
    cu_post_fn post;
    const void *post_arg;
} cg_gather_job;

static LU_UNUSED int64_t cg_gather_tasks(const cg_conv *g) {
    return (g->n * cg_small_pixels(g) + CG_ROWS - 1) / CG_ROWS;
}
static LU_UNUSED int64_t cg_gather_scratch(const cg_conv *g) {
    return cg_pointwise(g) ? 0 : CG_ROWS * cg_kdim(g);
}

static LU_UNUSED void cg_gather_task(void *arg, int64_t t) {
    const cg_gather_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t ps = cg_small_pixels(g), rows = g->n * ps;
    const int64_t r0 = t * CG_ROWS, m = rows - r0 < CG_ROWS ? rows - r0 : CG_ROWS;
    const int64_t cg = g->cb / g->groups, csg = g->cs / g->groups, K = cg_kdim(g);
    float *y = j->small + r0 * g->cs;
    if (cg_pointwise(g)) {
        ln_gemm_epilogue epi = {j->bias, NULL, NULL};
        ln_gemm(0, 0, m, g->cs, K, 1.0f, j->big + r0 * g->cb, g->cb, j->w, g->cs,
                0.0f, y, g->cs, &epi);
    } else {
        float *col = cu_scratch_get(j->scr);
        const int64_t pb = cg_big_pixels(g) * g->cb;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            for (int64_t r = 0; r < m; r++) {
                const int64_t row = r0 + r, b = row / ps, p = row % ps;
                cg_patch_row(g, j->big + b * pb, p / g->w.out, p % g->w.out,
                             gi * cg, cg, 0, K, col + r * K);
            }
            ln_gemm_epilogue epi = {j->bias ? j->bias + gi * csg : NULL, NULL, NULL};
            ln_gemm(0, 0, m, csg, K, 1.0f, col, K, j->w + gi * csg, g->cs, 0.0f,
                    y + gi * csg, g->cs, &epi);
        }
    }
    if (j->post) j->post(j->post_arg, y, m, g->cs);
}

/* ---- stride 1: the transposed product as a gather -------------------------------- */

/* With stride 1, big = scatter(small W^T) is itself a convolution of small
** -- the sum over taps t of small[i + pad - t d] W[t]^T -- so it can run as
** a gather (no scatter pass, tasks over pixels): the flipped geometry f
** reads small as its "big" side with the taps reversed and padding
** eff - 1 - pad, through the rearranged kernel of cg_flip_weights. 0 when
** g has a stride, or when the big side has fewer than CG_FLIP_MIN channels
** per group: its product would have as few columns, too narrow for the
** GEMM's 48-wide tiles (the scatter's product has kh*kw as many). */
#define CG_FLIP_MIN 32
static LU_UNUSED int cg_flip(const cg_conv *g, cg_conv *f) {
    if (g->h.s != 1 || g->w.s != 1 || g->cb / g->groups < CG_FLIP_MIN) return 0;
    *f = *g;
    const cu_axis *a[2] = {&g->h, &g->w};
    cu_axis *b[2] = {&f->h, &f->w};
    for (int i = 0; i < 2; i++) {
        b[i]->in = a[i]->out;
        b[i]->out = a[i]->in;
        b[i]->pad = (a[i]->k - 1) * a[i]->d - a[i]->pad;
    }
    f->cb = g->cs;
    f->cs = g->cb;
    return 1;
}

/* The kernel of cg_flip: wf[(t', c), g cbg + ci] = w[(T-1-t', ci), g csg + c]
** for group g, taps t' < T = kh kw, c < csg, ci < cbg (both in Keras's
** (kh, kw, in/groups, out) layout, wf of f). */
static LU_UNUSED void cg_flip_weights(const cg_conv *g, const float *w, float *wf) {
    const int64_t taps = g->h.k * g->w.k, cbg = g->cb / g->groups, csg = g->cs / g->groups;
    for (int64_t t = 0; t < taps; t++) {
        const float *src = w + (taps - 1 - t) * cbg * g->cs;
        float *dst = wf + t * csg * g->cb;
        for (int64_t gi = 0; gi < g->groups; gi++)
            lu_transpose(dst + gi * cbg, g->cb, src + gi * csg, g->cs, cbg, csg);
    }
}

/* ---- scatter: big = scatter(small W^T) + bias ----------------------------------- */

typedef struct cg_scatter_job {
    const cg_conv *g;
    const float *small, *wt, *bias; /* wt: W^T, [cs x K] */
    float *big;
    const cu_scratch *scr;
    cu_post_fn post;
    const void *post_arg;
} cg_scatter_job;

static LU_UNUSED int64_t cg_scatter_scratch(const cg_conv *g) {
    return CG_ROWS * cg_kdim(g);
}

/* Sample t of big, written whole (zeroed, then every window added in
** pixel order), then its bias and post. */
static LU_UNUSED void cg_scatter_task(void *arg, int64_t t) {
    const cg_scatter_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t ps = cg_small_pixels(g), pb = cg_big_pixels(g);
    const int64_t cg = g->cb / g->groups, csg = g->cs / g->groups, K = cg_kdim(g);
    float *xb = j->big + t * pb * g->cb;
    const float *yb = j->small + t * ps * g->cs;
    float *col = cu_scratch_get(j->scr);
    memset(xb, 0, (size_t)(pb * g->cb) * sizeof *xb);
    for (int64_t p0 = 0; p0 < ps; p0 += CG_ROWS) {
        const int64_t m = ps - p0 < CG_ROWS ? ps - p0 : CG_ROWS;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            ln_gemm(0, 0, m, K, csg, 1.0f, yb + p0 * g->cs + gi * csg, g->cs,
                    j->wt + gi * csg * K, K, 0.0f, col, K, NULL);
            for (int64_t r = 0; r < m; r++)
                cg_patch_add(g, xb, (p0 + r) / g->w.out, (p0 + r) % g->w.out,
                             gi * cg, cg, col + r * K);
        }
    }
    if (j->bias)
        for (int64_t p = 0; p < pb; p++) cg_add(xb + p * g->cb, j->bias, g->cb);
    if (j->post) j->post(j->post_arg, xb, pb, g->cb);
}

/* ---- wgrad: dW = P(big)^T small -------------------------------------------------- */

typedef struct cg_wgrad_job {
    const cg_conv *g;
    const float *big, *small;
    float *dwt; /* [cs x K] accumulators (dW^T) */
    float *dw;  /* [K x cs], Keras's layout */
    const cu_scratch *scr;
    int64_t kbs, nkb; /* patch columns per task, tasks per group */
    int64_t wsf;      /* GEMM workspace floats of a task (after its patches) */
} cg_wgrad_job;

/* Blocks for nt threads: whole 48-column panels, up to CG_KBLK columns
** per task, as few tasks as that allows on one thread (the packed chunk of
** small is reused by as many columns as possible), about four per thread
** otherwise. Who computes a column never changes its arithmetic (one FMA
** chain per element over the pixels in chunk order, ln_gemm's kc a
** function of the chunk size), so the split may depend on the thread
** count. */
static LU_UNUSED void cg_wgrad_plan(const cg_conv *g, cg_wgrad_job *j, int nt) {
    const int64_t csg = g->cs / g->groups, K = cg_kdim(g);
    int64_t want = nt > 1 ? (4 * nt + g->groups - 1) / g->groups : 1;
    const int64_t least = (K + CG_KBLK - 1) / CG_KBLK;
    if (want < least) want = least;
    int64_t per = (K + want - 1) / want;
    per = (per + 47) / 48 * 48;
    j->kbs = per > K ? K : per;
    j->nkb = (K + j->kbs - 1) / j->kbs;
    const int64_t rows = g->n * cg_small_pixels(g);
    const int64_t mc = rows < CG_MCHUNK ? rows : CG_MCHUNK;
    j->wsf = (int64_t)ln_gemm_ws_floats(1, 0, csg, j->kbs, mc > 0 ? mc : 1);
}
static LU_UNUSED int64_t cg_wgrad_tasks(const cg_conv *g, const cg_wgrad_job *j) {
    return g->groups * j->nkb;
}
/* Patch columns (none for a pointwise product: read in place), rounded to
** 64 bytes, then the GEMM's packing workspace. */
static LU_UNUSED int64_t cg_wgrad_col_floats(const cg_wgrad_job *j) {
    return cg_pointwise(j->g) ? 0 : (CG_MCHUNK * j->kbs + 15) / 16 * 16;
}
static LU_UNUSED int64_t cg_wgrad_scratch(const cg_wgrad_job *j) {
    return cg_wgrad_col_floats(j) + j->wsf;
}

/* Columns [k0, k0 + kn) of group gi's dW^T = small^T P(big): over the
** pixels in chunks, the chunk's patch columns are built once and one
** ln_gemm_ws adds small^T (packed by panels straight from small, no
** transpose pass) times them into the columns (beta = 1 after the first
** chunk). Then those columns of dW, in Keras's layout. */
static LU_UNUSED void cg_wgrad_task(void *arg, int64_t t) {
    const cg_wgrad_job *j = arg;
    const cg_conv *g = j->g;
    const int64_t cg = g->cb / g->groups, csg = g->cs / g->groups, K = cg_kdim(g);
    const int64_t ps = cg_small_pixels(g), pb = cg_big_pixels(g) * g->cb;
    const int64_t rows = g->n * ps;
    const int64_t gi = t / j->nkb, k0 = (t % j->nkb) * j->kbs;
    const int64_t kn = K - k0 < j->kbs ? K - k0 : j->kbs;
    float *col = cu_scratch_get(j->scr);
    float *ws = col + cg_wgrad_col_floats(j);
    float *c = j->dwt + gi * csg * K + k0;
    for (int64_t m0 = 0; m0 < rows; m0 += CG_MCHUNK) {
        const int64_t mc = rows - m0 < CG_MCHUNK ? rows - m0 : CG_MCHUNK;
        const float *b = col;
        int64_t ldb = kn;
        if (cg_pointwise(g)) {
            b = j->big + m0 * g->cb + k0;
            ldb = g->cb;
        } else {
            for (int64_t r = 0; r < mc; r++) {
                const int64_t row = m0 + r, bi = row / ps, p = row % ps;
                cg_patch_row(g, j->big + bi * pb, p / g->w.out, p % g->w.out,
                             gi * cg, cg, k0, k0 + kn, col + r * kn);
            }
        }
        ln_gemm_ws(1, 0, csg, kn, mc, 1.0f, j->small + m0 * g->cs + gi * csg, g->cs,
                   b, ldb, m0 ? 1.0f : 0.0f, c, K, NULL, ws, (size_t)j->wsf);
    }
    lu_transpose(j->dw + k0 * g->cs + gi * csg, g->cs, c, K, csg, kn);
}

#endif
