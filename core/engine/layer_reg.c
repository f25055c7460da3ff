/*
** layer_reg.c -- weight regularization (Keras's L1L2): the penalty
** l1 * sum|w| + l2 * sum w^2 a layer adds to the loss, and its gradient
** l1 * sign(w) + 2 * l2 * w added to the weight gradients after backward.
**
** Both run on the thread team. The gradient is elementwise; when a
** backward hands finished blocks to an early-update sink, the penalty's
** gradient of a block is added as it passes (ln__reg_sink), in pieces of
** SUB elements each handed on at once, so a piece's gradient, its update
** and the penalty of its new values (net_update.c) run while it is in L1
** -- unless the sink behind folds the penalty's gradient into the
** optimizer's own pass (ln__sink_folds_reg: an optimizer with update_reg):
** then blocks only pass through here, counted.
** The penalty sums fixed chunks (LN__PEN_CHUNK) in fixed lanes and adds
** the chunk sums in order: the same number for any thread count, and
** whether this file sums it (ln__reg_penalty) or the update did as it wrote
** the weights (ln__reg_chunks).
*/
#include <math.h>
#include <string.h>

#include "layer_reg.h"
#include "lunet/parallel.h"

typedef struct grad_job {
    float *g;
    const float *v;
    float l1, l2x2;
} grad_job;

LN_CLONES static void grad_range(const grad_job *j, int64_t lo, int64_t hi) {
    float *restrict g = j->g;
    const float *restrict v = j->v;
    const float l1 = j->l1, l2x2 = j->l2x2;
    if (l1 == 0) { /* l2 alone: ln_reg_grad without sign selects */
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) g[i] = ln_reg_grad(g[i], v[i], 0.0f, l2x2);
    } else {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) g[i] = ln_reg_grad(g[i], v[i], l1, l2x2);
    }
}

static void grad_chunk(void *arg, int64_t lo, int64_t hi) {
    grad_range(arg, lo, hi);
}

/* The gradient job of weight w, 0 when w takes no regularization. */
static int grad_job_of(const ln_layer *l, int w, grad_job *j) {
    double l1, l2;
    ln_layer_regularizer(l, w, &l1, &l2);
    ln_tensor *g = ln_layer_grad(l, w);
    if ((l1 == 0 && l2 == 0) || !g || !ln_layer_weight_trainable(l, w)) return 0;
    *j = (grad_job){ln_f32(g), ln_f32(ln_layer_weight(l, w)), (float)l1,
                    (float)(2 * l2)};
    return 1;
}

enum { SUB = 4 * LN__PEN_CHUNK }; /* 16 KB of each of gradient and weight */

static int reg_ready(ln_grad_sink *sink, int w, int64_t lo, int64_t hi) {
    ln__reg_sink *s = (ln__reg_sink *)sink;
    grad_job j;
    if (w >= 0 && w < ln_layer_weight_count(s->l) && grad_job_of(s->l, w, &j)) {
        int64_t n = ln_layer_weight(s->l, w)->numel;
        if (lo < 0 || hi > n || lo >= hi) return 0;
        if (s->folded[w]) { /* the update adds it in its own pass */
            int took = ln_grad_ready(s->outer, w, lo, hi);
            atomic_fetch_add_explicit(&s->done[w], hi - lo, memory_order_relaxed);
            return took;
        }
        /* In pieces of SUB elements (aligned): a piece's gradient, its
        ** update and its penalty (net_update.c) all run while it is in L1. */
        int took = 1;
        for (int64_t a = lo, b; a < hi; a = b) {
            b = (a / SUB + 1) * SUB;
            if (b > hi) b = hi;
            grad_range(&j, a, b);
            took &= ln_grad_ready(s->outer, w, a, b);
        }
        atomic_fetch_add_explicit(&s->done[w], hi - lo, memory_order_relaxed);
        return took;
    }
    return ln_grad_ready(s->outer, w, lo, hi);
}

ln_grad_sink *ln__reg_sink_wrap(const ln_layer *l, ln_grad_sink *outer,
                                ln__reg_sink *s) {
    grad_job j;
    int any = 0;
    for (int w = 0; w < ln_layer_weight_count(l); w++) {
        atomic_init(&s->done[w], 0);
        int on = grad_job_of(l, w, &j);
        s->folded[w] = on && outer && ln__sink_folds_reg(outer, l, w);
        any |= on;
    }
    if (!outer || !any) return outer;
    s->base.ready = reg_ready;
    s->outer = outer;
    s->l = l;
    return &s->base;
}

ln_status ln__reg_grad(ln_ctx *ctx, const ln_layer *l, const ln__reg_sink *s) {
    for (int w = 0; w < ln_layer_weight_count(l); w++) {
        grad_job j;
        if (!grad_job_of(l, w, &j)) continue;
        int64_t n = ln_layer_weight(l, w)->numel;
        int64_t done = s ? atomic_load_explicit(&s->done[w], memory_order_acquire) : 0;
        if (done == n) continue;
        if (done != 0)
            return ln_fail(ctx, LN_E_INTERNAL, "%s: backward handed over %lld "
                           "of the %lld gradient elements of weight %d",
                           ln_layer_name(l), (long long)done, (long long)n, w);
        ln_parallel_for(n, grad_chunk, &j);
    }
    return LN_OK;
}

/* ---- the penalty ----------------------------------------------------------- */

enum { LANES = 64, GROUP = 512 }; /* GROUP chunks' sums on the stack at once */

/* Running sums of |v| (square 0) or v^2 (1) of `lanes` lanes, in float32
** (Keras sums the penalty in float32 too): lane k takes elements k,
** k + lanes, ... -- sixteen of a chunk's 1,024, so a lane's relative error
** stays near 1e-6 -- and the lanes are then added in double. LANES = 4 * 16:
** four groups of sixteen, four vector registers, so the adds do not wait on
** each other's latency; 16 elements per instruction (double lanes took
** four instructions per 16: two conversions, two adds). */
#define LANE_ADD(acc, v, square)                                               \
    for (int k_ = 0; k_ < 16; k_++) {                                          \
        float x_ = (v)[k_];                                                    \
        (acc)[k_] += (square) ? x_ * x_ : fabsf(x_);                           \
    }

/* The sum over n elements: the lanes above (the same order whoever runs
** it), then added pairwise in a fixed tree, in double. */
static inline __attribute__((always_inline)) double lane_sum(const float *v, int64_t n, int square) {
    _Static_assert(LANES == 64, "four groups of sixteen lanes");
    float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        LANE_ADD(a0, v + i, square);
        LANE_ADD(a1, v + i + 16, square);
        LANE_ADD(a2, v + i + 32, square);
        LANE_ADD(a3, v + i + 48, square);
    }
    float f[LANES];
    memcpy(f, a0, sizeof a0);
    memcpy(f + 16, a1, sizeof a1);
    memcpy(f + 32, a2, sizeof a2);
    memcpy(f + 48, a3, sizeof a3);
    for (int k = 0; i < n; i++, k++) {
        float x = v[i];
        f[k] += square ? x * x : fabsf(x);
    }
    double acc[LANES];
    for (int k = 0; k < LANES; k++) acc[k] = f[k];
    for (int k = 0; k < 32; k++) acc[k] += acc[k + 32];
    for (int k = 0; k < 16; k++) acc[k] += acc[k + 16];
    for (int k = 0; k < 8; k++) acc[k] += acc[k + 8];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* The one definition of a chunk's penalty: every path (the standalone sum
** below, the update's ln__reg_chunks) calls this same function, so the
** numbers agree to the bit. */
LN_CLONES double ln__reg_chunk(const float *v, int64_t n, double l1, double l2) {
    double p = 0;
    if (l1 != 0) p += l1 * lane_sum(v, n, 0);
    if (l2 != 0) p += l2 * lane_sum(v, n, 1);
    return p;
}

void ln__reg_chunks(const float *v, int64_t numel, int64_t lo, int64_t hi,
                    double l1, double l2, double *part, unsigned char *done) {
    const int64_t C = LN__PEN_CHUNK;
    for (int64_t c = (lo + C - 1) / C; c * C < hi; c++) {
        int64_t n = numel - c * C < C ? numel - c * C : C;
        if (c * C + n > hi) break; /* ends past hi: not wholly ours */
        part[c] = ln__reg_chunk(v + c * C, n, l1, l2);
        done[c] = 1;
    }
}

typedef struct pen_job {
    const float *v;
    double l1, l2;
    int64_t base; /* first element of the group */
    double part[GROUP];
} pen_job;

/* The penalties of the chunks in [lo, hi) of the group (lo is a multiple
** of LN_PAR_CHUNK, itself a multiple of LN__PEN_CHUNK). */
static void pen_range(void *arg, int64_t lo, int64_t hi) {
    pen_job *j = arg;
    const float *v = j->v + j->base;
    for (int64_t c = lo; c < hi; c += LN__PEN_CHUNK) {
        int64_t n = c + LN__PEN_CHUNK < hi ? LN__PEN_CHUNK : hi - c;
        j->part[c / LN__PEN_CHUNK] = ln__reg_chunk(v + c, n, j->l1, j->l2);
    }
}

double ln__reg_penalty(const ln_layer *l) {
    _Static_assert(LN_PAR_CHUNK % LN__PEN_CHUNK == 0 &&
                   (GROUP * LN__PEN_CHUNK) % LN_PAR_CHUNK == 0 &&
                   LN__PEN_CHUNK % LANES == 0, "penalty chunking");
    double s = 0;
    for (int w = 0; w < ln_layer_weight_count(l); w++) {
        pen_job j;
        ln_layer_regularizer(l, w, &j.l1, &j.l2);
        if (j.l1 == 0 && j.l2 == 0) continue;
        const ln_tensor *t = ln_layer_weight(l, w);
        j.v = ln_f32(t);
        const int64_t span = (int64_t)GROUP * LN__PEN_CHUNK;
        for (j.base = 0; j.base < t->numel; j.base += span) {
            int64_t m = t->numel - j.base < span ? t->numel - j.base : span;
            ln_parallel_for(m, pen_range, &j);
            for (int64_t c = 0; c * LN__PEN_CHUNK < m; c++) s += j.part[c];
        }
    }
    return s;
}
