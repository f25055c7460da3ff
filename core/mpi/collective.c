/*
** collective.c -- allreduce, broadcast and barrier from point-to-point
** messages, with a fixed reduction order (comm.h).
**
** allreduce of floats (gradients) is a reduce-scatter then an allgather:
** the vector is cut into N chunks, rank c owns chunk c; every rank sends
** chunk c of its vector to rank c, which sums the N contributions in rank
** order (in double) and sends the result back to everyone. Each rank sends
** and receives 2 (N-1)/N of the vector, as in a ring, but the sum of
** element j is always (((x_0 + x_1) + x_2) + ...) computed by one rank.
** Small vectors of doubles or ints (metric totals) go to every rank whole
** and every rank sums them in the same order: one round of messages.
*/
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

/* A growable scratch buffer (one thread calls collectives). */
static void *scratch;
static size_t scratch_cap;

static void *reserve(ln_ctx *ctx, size_t bytes) {
    if (bytes <= scratch_cap) return scratch;
    void *p = realloc(scratch, bytes);
    if (!p) {
        ln_fail(ctx, LN_E_NOMEM, "rank %d: out of memory (%zu bytes for a collective)",
                lnm_rank(), bytes);
        return NULL;
    }
    scratch = p;
    scratch_cap = bytes;
    return p;
}

static ln_status round_new(ln_ctx *ctx, lnm_msgs *r, int cap) {
    r->n = 0;
    r->cap = cap > 0 ? cap : 1;
    r->bytes = 0;
    r->req = malloc((size_t)r->cap * sizeof *r->req);
    r->peer = malloc((size_t)r->cap * sizeof *r->peer);
    if (r->req && r->peer) return LN_OK;
    free(r->req);
    free(r->peer);
    return ln_fail(ctx, LN_E_NOMEM, "out of memory");
}

static void round_free(lnm_msgs *r) {
    free(r->req);
    free(r->peer);
}

/* Messages are cut into segments of at most this many bytes, posted at
** once: MPI moves them as a pipeline, where one large message waits for a
** rendezvous (much slower here for shared memory under load). Both sides
** cut the same counts alike, and MPI keeps the order of messages with the
** same source and tag. */
#define SEGMENT_BYTES (64 * 1024)

static ln_status post(ln_ctx *ctx, lnm_msgs *r, int send, void *p, int64_t count,
                      MPI_Datatype type, int peer, int tag, const char *what) {
    int size = 0;
    MPI_Type_size(type, &size);
    int64_t per = size > 0 ? SEGMENT_BYTES / size : count;
    if (per < 1) per = 1;
    for (int64_t off = 0; off < count || (count == 0 && off == 0); off += per) {
        int64_t len = count - off < per ? count - off : per;
        if (r->n == r->cap) {
            int cap = 2 * r->cap;
            MPI_Request *q = realloc(r->req, (size_t)cap * sizeof *q);
            if (q) r->req = q;
            int *pe = q ? realloc(r->peer, (size_t)cap * sizeof *pe) : NULL;
            if (!pe) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
            r->peer = pe;
            r->cap = cap;
        }
        char *at = (char *)p + off * size;
        int rc = send ? MPI_Isend(at, (int)len, type, peer, tag, lnm_comm(), &r->req[r->n])
                      : MPI_Irecv(at, (int)len, type, peer, tag, lnm_comm(), &r->req[r->n]);
        if (rc != MPI_SUCCESS) return lnm_error(ctx, rc, what, peer);
        if (send) r->bytes += len * size;
        r->peer[r->n++] = peer;
        if (count == 0) break;
    }
    return LN_OK;
}

/* Wait for a round; on failure the requests stay (the world is broken). */
static ln_status finish(ln_ctx *ctx, lnm_msgs *r, const char *what) {
    ln_status st = lnm_wait(ctx, r->n, r->req, r->peer, what);
    r->n = 0;
    return st;
}

static int64_t cut(int64_t n, int parts, int c) { return n * c / parts; }

/* ---- floats: reduce-scatter + allgather ------------------------------------- */

/* out[j] <- the reduction of src[0][j], src[1][j], ... in that order, in
** double: op LNM_SUM / LNM_MEAN / LNM_MAX, or -1 for the weighted mean
** sum_q w[q] src[q][j] / sum_q w[q] (0 when the weights are all 0). Blocks
** of BLOCK elements stay in L1; the inner loops vectorise. out may be one
** of the sources. The weights are integers below 2^29 (rows, or 1), so
** each product w * s is exact in double: fused (FMA) or not, every clone
** -- every CPU -- gives the same bits. */
#define BLOCK 512
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
CLONES static void combine(float *out, int64_t n, int N, const float *const *src,
                           const double *w, int op) {
    double acc[BLOCK], total = 0;
    for (int q = 0; q < N; q++) total += w[q];
    double scale = op == LNM_MEAN ? (double)N : op < 0 ? total : 1.0;
    for (int64_t j0 = 0; j0 < n; j0 += BLOCK) {
        int64_t m = n - j0 < BLOCK ? n - j0 : BLOCK;
        const float *s0 = src[0] + j0;
        const double w0 = w[0];
#pragma omp simd
        for (int64_t k = 0; k < m; k++) acc[k] = w0 * s0[k];
        for (int q = 1; q < N; q++) {
            const float *sq = src[q] + j0;
            const double wq = w[q];
            if (op == LNM_MAX) {
                for (int64_t k = 0; k < m; k++)
                    acc[k] = sq[k] > acc[k] || isnan(sq[k]) ? sq[k] : acc[k];
            } else {
#pragma omp simd
                for (int64_t k = 0; k < m; k++) acc[k] += wq * sq[k];
            }
        }
        float *o = out + j0;
        if (op == LNM_MAX || op == LNM_SUM) {
#pragma omp simd
            for (int64_t k = 0; k < m; k++) o[k] = (float)acc[k];
        } else if (scale > 0) {
#pragma omp simd
            for (int64_t k = 0; k < m; k++) o[k] = (float)(acc[k] / scale);
        } else {
            for (int64_t k = 0; k < m; k++) o[k] = 0;
        }
    }
}

/* Below this many floats received per rank, or with 2 ranks, every rank
** gets the others' whole vectors and reduces all of it (one round of
** messages, the same bytes for 2 ranks); above, the reduce-scatter and
** allgather (two rounds, 2 (N-1)/N of the vector each way). The sums are
** the same either way, bit for bit. */
#define WHOLE_MAX_FLOATS (64 * 1024)

/* Post the messages of elements [lo, lo + len) of the vector, piece by
** piece along its segments; base != NULL receives them into
** base[0 .. len) instead. */
static ln_status post_range(ln_ctx *ctx, lnm_msgs *r, int send, const lnm_seg *seg,
                            int nseg, int64_t lo, int64_t len, float *base, int peer,
                            int tag, const char *what) {
    int64_t at = 0; /* the first element of segment i */
    for (int i = 0; i < nseg && len > 0; at += seg[i].n, i++) {
        int64_t a = lo > at ? lo : at, b = at + seg[i].n;
        if (b > lo + len) b = lo + len;
        if (a >= b) continue;
        float *p = base ? base + (a - lo) : seg[i].p + (a - at);
        ln_status st = post(ctx, r, send, p, b - a, MPI_FLOAT, peer, tag, what);
        if (st) return st;
    }
    return LN_OK;
}

/* Reduce elements [lo, lo + len) of the vector in place: rank q's values
** are in in[q] (its part, from element lo on), this rank's in the vector. */
static void combine_range(const lnm_seg *seg, int nseg, int64_t lo, int64_t len,
                          int N, int me, const float **src, float *const *in,
                          const double *w, int op) {
    int64_t at = 0;
    for (int i = 0; i < nseg; at += seg[i].n, i++) {
        int64_t a = lo > at ? lo : at, b = at + seg[i].n;
        if (b > lo + len) b = lo + len;
        if (a >= b) continue;
        for (int q = 0; q < N; q++) src[q] = q == me ? seg[i].p + (a - at) : in[q] + (a - lo);
        combine(seg[i].p + (a - at), b - a, N, src, w, op);
    }
}

void lnm_ar_free(lnm_ar *ar) {
    free(ar->in);
    free(ar->rin);
    free(ar->src);
    free(ar->inq);
    free(ar->w);
    round_free(&ar->r);
    memset(ar, 0, sizeof *ar);
}

/* The part of [off, off + n) that rank q reduces. */
static int64_t part_lo(const lnm_ar *ar, int q) {
    return ar->off + (ar->whole ? 0 : cut(ar->n, lnm_size(), q));
}
static int64_t part_len(const lnm_ar *ar, int q) {
    return ar->whole ? ar->n : cut(ar->n, lnm_size(), q + 1) - cut(ar->n, lnm_size(), q);
}

ln_status lnm_ar_start(ln_ctx *ctx, lnm_ar *ar, const lnm_seg *seg, int nseg,
                       int64_t off, int64_t n, int op, int64_t rows) {
    const int N = lnm_size(), me = lnm_rank();
    if (rows >= ((int64_t)1 << 29))
        return ln_fail(ctx, LN_E_ARG, "allreduce: %lld rows in one step (at most 2^29)",
                       (long long)rows);
    ar->seg = seg, ar->nseg = nseg, ar->off = off, ar->n = n, ar->op = op;
    ar->rows = rows, ar->sent = 0, ar->t0 = ln_time();
    ar->phase = N == 1 || n == 0 ? 3 : 1;
    if (ar->phase == 3) return LN_OK;
    ar->whole = N == 2 || n * (N - 1) <= WHOLE_MAX_FLOATS;
    int64_t slot = ar->whole ? n : n / N + 1;
    size_t need = (size_t)(N - 1) * (size_t)slot;
    if (need > ar->incap || !ar->rin) {
        free(ar->in), free(ar->rin), free(ar->src), free(ar->inq), free(ar->w);
        ar->in = malloc((need ? need : 1) * sizeof *ar->in);
        ar->rin = malloc((size_t)N * sizeof *ar->rin);
        ar->src = calloc((size_t)N, sizeof *ar->src);
        ar->inq = calloc((size_t)N, sizeof *ar->inq);
        ar->w = calloc((size_t)N, sizeof *ar->w);
        ar->incap = need;
        if (!ar->in || !ar->rin || !ar->src || !ar->inq || !ar->w) {
            lnm_ar_free(ar);
            return ln_fail(ctx, LN_E_NOMEM, "allreduce: out of memory (%zu floats)", need);
        }
    }
    if (!ar->r.req) {
        ln_status st = round_new(ctx, &ar->r, 8 * N);
        if (st) return st;
    }
    ar->r.n = 0;
    ar->r.bytes = 0;
    ar->tag = lnm_next_tag();
    ar->rin[me] = rows;
    ln_status st = LN_OK;
    const char *what = "allreduce";
    int weighted = rows >= 0;
    /* my part of everyone's vector in, their parts of mine out */
    for (int q = 0; q < N && !st; q++) {
        if (q == me) continue;
        ar->inq[q] = ar->in + (int64_t)(q < me ? q : q - 1) * slot;
        st = post_range(ctx, &ar->r, 0, seg, nseg, part_lo(ar, me), part_len(ar, me),
                        ar->inq[q], q, ar->tag, what);
        if (!st && weighted) st = post(ctx, &ar->r, 0, &ar->rin[q], 1, MPI_INT64_T, q, ar->tag + 2, what);
    }
    for (int q = 0; q < N && !st; q++) {
        if (q == me) continue;
        st = post_range(ctx, &ar->r, 1, seg, nseg, part_lo(ar, q), part_len(ar, q), NULL, q,
                        ar->tag, what);
        if (!st && weighted) st = post(ctx, &ar->r, 1, &ar->rows, 1, MPI_INT64_T, q, ar->tag + 2, what);
    }
    return st;
}

ln_status lnm_ar_poll(ln_ctx *ctx, lnm_ar *ar, int *done) {
    const int N = lnm_size(), me = lnm_rank();
    const char *what = "allreduce";
    *done = ar->phase == 3;
    if (*done) return LN_OK;
    int pending;
    ln_status st = lnm_test(ctx, ar->r.n, ar->r.req, ar->r.peer, what, &pending);
    if (st || pending) return st;
    ar->sent += ar->r.bytes;
    ar->r.n = 0;
    ar->r.bytes = 0;
    if (ar->phase == 1) { /* my part: the sum over ranks 0, 1, ... in that order */
        for (int q = 0; q < N; q++) ar->w[q] = ar->rows >= 0 ? (double)ar->rin[q] : 1.0;
        combine_range(ar->seg, ar->nseg, part_lo(ar, me), part_len(ar, me), N, me, ar->src,
                      ar->inq, ar->w, ar->rows >= 0 ? -1 : ar->op);
        if (!ar->whole) { /* my reduced part to everyone, theirs from them */
            for (int q = 0; q < N && !st; q++) {
                if (q == me) continue;
                st = post_range(ctx, &ar->r, 0, ar->seg, ar->nseg, part_lo(ar, q),
                                part_len(ar, q), NULL, q, ar->tag + 1, what);
                if (!st)
                    st = post_range(ctx, &ar->r, 1, ar->seg, ar->nseg, part_lo(ar, me),
                                    part_len(ar, me), NULL, q, ar->tag + 1, what);
            }
            ar->phase = 2;
            return st;
        }
    }
    ar->phase = 3;
    *done = 1;
    lnm_account(ln_time() - ar->t0, ar->sent);
    return LN_OK;
}

ln_status lnm_ar_stalled(ln_ctx *ctx, const lnm_ar *ar, double since) {
    return lnm_check_time(ctx, ar->r.n, ar->r.req, ar->r.peer, "allreduce", since);
}

ln_status lnm_allreduce_segs(ln_ctx *ctx, const lnm_seg *segs, int nsegs, int op,
                             int64_t rows) {
    static lnm_ar ar; /* its buffers are reused call after call */
    int64_t n = 0;
    for (int i = 0; i < nsegs; i++) n += segs[i].n;
    ln_status st = lnm_ar_start(ctx, &ar, segs, nsegs, 0, n, op, rows);
    double since = ln_time();
    for (int64_t round = 0; !st; round++) {
        int done, phase = ar.phase;
        if ((st = lnm_ar_poll(ctx, &ar, &done)) || done) break;
        if (ar.phase != phase) since = ln_time(); /* progress */
        if ((st = lnm_ar_stalled(ctx, &ar, since))) break;
        lnm_pause(round, ln_time() - since);
    }
    return st;
}

ln_status lnm_allreduce_f32(ln_ctx *ctx, float *x, int64_t n, int op,
                            int64_t rows) {
    lnm_seg one = {x, n};
    return lnm_allreduce_segs(ctx, &one, 1, op, rows);
}

/* ---- small vectors: everyone gets everything ------------------------------------ */

/* Every rank's n elements of `size` bytes, in rank order, into all
** (N * n elements); x is this rank's. */
static ln_status gather_all(ln_ctx *ctx, const void *x, int64_t n,
                            MPI_Datatype type, int size, void *all,
                            const char *what) {
    const int N = lnm_size(), me = lnm_rank();
    double t0 = ln_time();
    lnm_msgs r;
    ln_status st = round_new(ctx, &r, 2 * N);
    if (st) return st;
    int tag = lnm_next_tag();
    memcpy((char *)all + (size_t)me * (size_t)n * (size_t)size, x, (size_t)n * (size_t)size);
    for (int q = 0; q < N && !st; q++)
        if (q != me)
            st = post(ctx, &r, 0, (char *)all + (size_t)q * (size_t)n * (size_t)size, n,
                      type, q, tag, what);
    for (int q = 0; q < N && !st; q++)
        if (q != me) st = post(ctx, &r, 1, (void *)x, n, type, q, tag, what);
    int64_t sent = r.bytes;
    if (!st) st = finish(ctx, &r, what);
    round_free(&r);
    lnm_account(ln_time() - t0, sent);
    return st;
}

ln_status lnm_allreduce_f64(ln_ctx *ctx, double *x, int64_t n, int op) {
    const int N = lnm_size();
    if (N == 1 || n == 0) return LN_OK;
    double *all = reserve(ctx, (size_t)N * (size_t)n * sizeof *all);
    if (!all) return ctx->status;
    ln_status st = gather_all(ctx, x, n, MPI_DOUBLE, sizeof *x, all, "allreduce");
    if (st) return st;
    for (int64_t j = 0; j < n; j++) {
        double s = all[j];
        for (int q = 1; q < N; q++) {
            double v = all[(int64_t)q * n + j];
            s = op == LNM_MAX ? (v > s || isnan(v) ? v : s) : s + v;
        }
        x[j] = op == LNM_MEAN ? s / N : s;
    }
    return LN_OK;
}

ln_status lnm_allreduce_i32(ln_ctx *ctx, int32_t *x, int64_t n, int op) {
    const int N = lnm_size();
    if (N == 1 || n == 0) return LN_OK;
    int32_t *all = reserve(ctx, (size_t)N * (size_t)n * sizeof *all);
    if (!all) return ctx->status;
    ln_status st = gather_all(ctx, x, n, MPI_INT32_T, sizeof *x, all, "allreduce");
    if (st) return st;
    for (int64_t j = 0; j < n; j++) {
        int64_t s = all[j];
        for (int q = 1; q < N; q++) {
            int64_t v = all[(int64_t)q * n + j];
            s = op == LNM_MAX ? (v > s ? v : s) : s + v;
        }
        if (op == LNM_MEAN) s /= N;
        if (s < INT32_MIN || s > INT32_MAX)
            return ln_fail(ctx, LN_E_ARG, "allreduce: the int32 sum %lld of element %lld "
                           "overflows", (long long)s, (long long)j + 1);
        x[j] = (int32_t)s;
    }
    return LN_OK;
}

/* ---- broadcast, barrier ------------------------------------------------------------ */

ln_status lnm_broadcast(ln_ctx *ctx, void *p, int64_t n, int root) {
    const int N = lnm_size(), me = lnm_rank();
    if (root < 0 || root >= N)
        return ln_fail(ctx, LN_E_ARG, "broadcast: root %d outside ranks 0..%d", root, N - 1);
    if (N == 1 || n == 0) return LN_OK;
    double t0 = ln_time();
    lnm_msgs r;
    ln_status st = round_new(ctx, &r, N);
    if (st) return st;
    int tag = lnm_next_tag();
    const char *what = "broadcast";
    /* in pieces of at most INT_MAX bytes */
    for (int64_t off = 0; off < n && !st; off += INT_MAX) {
        int64_t len = n - off < INT_MAX ? n - off : INT_MAX;
        char *q0 = (char *)p + off;
        if (me == root) {
            for (int q = 0; q < N && !st; q++)
                if (q != me) st = post(ctx, &r, 1, q0, len, MPI_BYTE, q, tag, what);
        } else {
            st = post(ctx, &r, 0, q0, len, MPI_BYTE, root, tag, what);
        }
        if (!st) st = finish(ctx, &r, what);
    }
    int64_t sent = r.bytes;
    round_free(&r);
    lnm_account(ln_time() - t0, sent);
    return st;
}

ln_status lnm_broadcast_string(ln_ctx *ctx, char **s, int64_t *n, int root) {
    int64_t len = lnm_rank() == root ? *n : 0;
    ln_status st = lnm_broadcast(ctx, &len, sizeof len, root);
    if (st) return st;
    if (lnm_rank() == root) return lnm_broadcast(ctx, *s, len, root);
    char *p = malloc((size_t)len + 1);
    if (!p) return ln_fail(ctx, LN_E_NOMEM, "broadcast: out of memory (%lld bytes)", (long long)len);
    st = lnm_broadcast(ctx, p, len, root);
    if (st) {
        free(p);
        return st;
    }
    p[len] = '\0';
    *s = p;
    *n = len;
    return LN_OK;
}

/* Dissemination: in lnm_msgs k every rank signals rank + 2^k and waits for
** rank - 2^k; after ceil(log2 N) rounds everyone has heard from everyone. */
ln_status lnm_barrier(ln_ctx *ctx) {
    const int N = lnm_size(), me = lnm_rank();
    if (N == 1) return LN_OK;
    double t0 = ln_time();
    lnm_msgs r;
    ln_status st = round_new(ctx, &r, 2);
    if (st) return st;
    int tag = lnm_next_tag();
    char dummy = 0, sink = 0;
    for (int k = 1; k < N && !st; k <<= 1) {
        st = post(ctx, &r, 0, &sink, 0, MPI_BYTE, (me - k % N + N) % N, tag, "barrier");
        if (!st) st = post(ctx, &r, 1, &dummy, 0, MPI_BYTE, (me + k) % N, tag, "barrier");
        if (!st) st = finish(ctx, &r, "barrier");
    }
    round_free(&r);
    lnm_account(ln_time() - t0, 0);
    return st;
}
