/*
** reducer.c -- the gradient reducer a net calls during and after backward
** (ln_grad_reducer, engine/net.h; the buckets are described in reducer.h).
** Each bucket is reduced by the fixed-order allreduce of collective.c, so
** the result of every element does not depend on the buckets, on overlap
** or on timing: the same bits on every rank, run after run.
**
** ready may run on any thread of an OpenMP team (it only counts, with
** atomics); begin, progress, wait and reduce run on the thread that
** initialised MPI, the only one that calls it.
*/
#include <stdlib.h>
#include <string.h>

#include "reducer.h"

/* A bucket: 64 K floats (256 KB), a few per MLP layer of the seed's size --
** small enough to start early, big enough that a round of messages is not
** paid per tensor (PyTorch's DDP starts with a 1 MB bucket). */
#define BUCKET_FLOATS ((int64_t)64 * 1024)

static ln_status grow(ln_ctx *ctx, void **p, int *cap, int n, size_t size) {
    if (n <= *cap) return LN_OK;
    void *q = realloc(*p, (size_t)n * size);
    if (!q) return ln_fail(ctx, LN_E_NOMEM, "allreduce: out of memory");
    *p = q;
    *cap = n;
    return LN_OK;
}

/* ts as segments of one vector (float32 only). */
static ln_status as_segs(ln_ctx *ctx, lnm_seg *segs, int n, ln_tensor *const *ts) {
    for (int i = 0; i < n; i++) {
        if (ts[i]->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "allreduce: tensor %d is %s, not float32", i + 1,
                           ln_dtype_name(ts[i]->dtype));
        segs[i].p = ln_f32(ts[i]);
        segs[i].n = ts[i]->numel;
    }
    return LN_OK;
}

ln_status lnm_allreduce_list(ln_ctx *ctx, lnm_seg **segs, int *cap, int n,
                             ln_tensor *const *ts, int op, int64_t rows) {
    ln_status st = grow(ctx, (void **)segs, cap, n, sizeof **segs);
    if (!st) st = as_segs(ctx, *segs, n, ts);
    return st ? st : lnm_allreduce_segs(ctx, *segs, n, op, rows);
}

static ln_status start_step(ln_ctx *ctx, ln_grad_reducer *base, int n,
                            ln_tensor *const *grads, int64_t rows) {
    lnm_reducer *r = (lnm_reducer *)base;
    double t0 = ln_time();
    int cap = r->cap;
    ln_status st = grow(ctx, (void **)&r->segs, &cap, n, sizeof *r->segs);
    if (!st) st = grow(ctx, (void **)&r->at, &r->cap, n, sizeof *r->at);
    if (!st) st = as_segs(ctx, r->segs, n, grads);
    if (st) return st;
    int64_t total = 0;
    for (int i = 0; i < n; i++) r->at[i] = total, total += r->segs[i].n;
    int64_t nb = (total + BUCKET_FLOATS - 1) / BUCKET_FLOATS;
    if (nb > r->capb) {
        if (nb > 1 << 24) return ln_fail(ctx, LN_E_ARG, "allreduce: %lld gradients", (long long)total);
        lnm_bucket *b = realloc(r->b, (size_t)nb * sizeof *b);
        if (!b) return ln_fail(ctx, LN_E_NOMEM, "allreduce: out of memory");
        memset(b + r->capb, 0, (size_t)(nb - r->capb) * sizeof *b); /* fresh lnm_ar */
        r->b = b;
        r->capb = (int)nb;
    }
    for (int k = 0; k < nb; k++) {
        lnm_bucket *b = &r->b[k];
        b->off = k * BUCKET_FLOATS;
        b->n = total - b->off < BUCKET_FLOATS ? total - b->off : BUCKET_FLOATS;
        atomic_store_explicit(&b->covered, 0, memory_order_relaxed);
        b->started = b->done = 0;
    }
    r->nsegs = n;
    r->nb = r->next = (int)nb;
    r->rows = rows;
    r->stats.calls++;
    r->stats.seconds += ln_time() - t0;
    return LN_OK;
}

static ln_status begin(ln_ctx *ctx, ln_grad_reducer *base, int n,
                       ln_tensor *const *grads, int64_t rows) {
    ((lnm_reducer *)base)->overlapped++;
    return start_step(ctx, base, n, grads, rows);
}

static void ready(ln_grad_reducer *base, int i, int64_t lo, int64_t hi) {
    lnm_reducer *r = (lnm_reducer *)base;
    int64_t a = r->at[i] + lo, z = r->at[i] + hi;
    for (int64_t k = a / BUCKET_FLOATS; k < r->nb && k * BUCKET_FLOATS < z; k++) {
        int64_t s = k * BUCKET_FLOATS, e = s + r->b[k].n;
        int64_t len = (z < e ? z : e) - (a > s ? a : s);
        atomic_fetch_add_explicit(&r->b[k].covered, len, memory_order_acq_rel);
    }
}

/* Start the buckets handed over in full, the last first (every rank starts
** them in this order: their tags agree), then move every started one on. */
static ln_status advance(ln_ctx *ctx, lnm_reducer *r, int *moved) {
    ln_status st = LN_OK;
    while (!st && r->next > 0) {
        lnm_bucket *b = &r->b[r->next - 1];
        if (atomic_load_explicit(&b->covered, memory_order_acquire) != b->n) break;
        st = lnm_ar_start(ctx, &b->ar, r->segs, r->nsegs, b->off, b->n, LNM_SUM, r->rows);
        b->started = 1;
        r->next--;
        *moved = 1;
    }
    for (int k = r->next; k < r->nb && !st; k++) {
        lnm_bucket *b = &r->b[k];
        if (b->done) continue;
        int phase = b->ar.phase;
        st = lnm_ar_poll(ctx, &b->ar, &b->done);
        if (b->ar.phase != phase) *moved = 1;
        if (b->done) r->stats.bytes += b->ar.sent;
    }
    return st;
}

static ln_status progress(ln_ctx *ctx, ln_grad_reducer *base) {
    lnm_reducer *r = (lnm_reducer *)base;
    double t0 = ln_time();
    int moved = 0;
    ln_status st = advance(ctx, r, &moved);
    r->stats.seconds += ln_time() - t0;
    return st;
}

static ln_status wait(ln_ctx *ctx, ln_grad_reducer *base, int i) {
    lnm_reducer *r = (lnm_reducer *)base;
    if (r->segs[i].n == 0) return LN_OK;
    int k0 = (int)(r->at[i] / BUCKET_FLOATS);
    int k1 = (int)((r->at[i] + r->segs[i].n - 1) / BUCKET_FLOATS);
    double t0 = ln_time(), since = t0;
    ln_status st = LN_OK;
    for (int64_t round = 0;; round++) {
        int moved = 0, k = k0;
        if ((st = advance(ctx, r, &moved))) break;
        while (k <= k1 && r->b[k].done) k++;
        if (k > k1) break;
        if (k < r->next)
            return ln_fail(ctx, LN_E_INTERNAL, "allreduce: gradient %d waited for before "
                           "backward handed all of it over", i + 1);
        if (moved) since = ln_time();
        if ((st = lnm_ar_stalled(ctx, &r->b[k].ar, since))) break;
        lnm_pause(round, ln_time() - since);
    }
    double dt = ln_time() - t0;
    r->stats.seconds += dt;
    r->wait_seconds += dt;
    return st;
}

/* After backward: the same buckets, in the same order, as with overlap. */
static ln_status reduce(ln_ctx *ctx, ln_grad_reducer *base, int n,
                        ln_tensor *const *grads, int64_t rows) {
    ln_status st = start_step(ctx, base, n, grads, rows);
    for (int i = 0; i < n && !st; i++) ready(base, i, 0, grads[i]->numel);
    for (int i = n - 1; i >= 0 && !st; i--) st = wait(ctx, base, i);
    return st;
}

void lnm_reducer_overlap(lnm_reducer *r, int on) {
    r->base.begin = on ? begin : NULL;
    r->base.ready = on ? ready : NULL;
    r->base.progress = on ? progress : NULL;
    r->base.wait = on ? wait : NULL;
}

int lnm_reducer_overlapping(const lnm_reducer *r) { return r->base.begin != NULL; }

lnm_reducer *lnm_reducer_new(void) {
    lnm_reducer *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base.reduce = reduce;
    lnm_reducer_overlap(r, 1);
    return r;
}

void lnm_reducer_free(lnm_reducer *r) {
    if (!r) return;
    for (int k = 0; k < r->capb; k++) lnm_ar_free(&r->b[k].ar);
    free(r->b);
    free(r->segs);
    free(r->at);
    free(r);
}
