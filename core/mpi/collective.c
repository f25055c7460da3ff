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

/* Requests of one round of messages and the peer of each. */
typedef struct msgs {
    int n;
    MPI_Request *req;
    int *peer;
    int64_t bytes; /* sent */
} msgs;

static ln_status round_new(ln_ctx *ctx, msgs *r, int cap) {
    r->n = 0;
    r->bytes = 0;
    r->req = malloc((size_t)(cap ? cap : 1) * sizeof *r->req);
    r->peer = malloc((size_t)(cap ? cap : 1) * sizeof *r->peer);
    if (r->req && r->peer) return LN_OK;
    free(r->req);
    free(r->peer);
    return ln_fail(ctx, LN_E_NOMEM, "out of memory");
}

static void round_free(msgs *r) {
    free(r->req);
    free(r->peer);
}

static ln_status post(ln_ctx *ctx, msgs *r, int send, void *p, int64_t count,
                      MPI_Datatype type, int peer, int tag, const char *what) {
    if (count > INT_MAX)
        return ln_fail(ctx, LN_E_ARG, "rank %d: %s: %lld elements in one message (at "
                       "most %d): split the tensor", lnm_rank(), what, (long long)count,
                       INT_MAX);
    int rc = send ? MPI_Isend(p, (int)count, type, peer, tag, lnm_comm(), &r->req[r->n])
                  : MPI_Irecv(p, (int)count, type, peer, tag, lnm_comm(), &r->req[r->n]);
    if (rc != MPI_SUCCESS) return lnm_error(ctx, rc, what, peer);
    if (send) {
        int size = 0;
        MPI_Type_size(type, &size);
        r->bytes += count * size;
    }
    r->peer[r->n++] = peer;
    return LN_OK;
}

/* Wait for a round; on failure the requests stay (the world is broken). */
static ln_status finish(ln_ctx *ctx, msgs *r, const char *what) {
    ln_status st = lnm_wait(ctx, r->n, r->req, r->peer, what);
    r->n = 0;
    return st;
}

static int64_t cut(int64_t n, int parts, int c) { return n * c / parts; }

/* ---- floats: reduce-scatter + allgather ------------------------------------- */

ln_status lnm_allreduce_f32(ln_ctx *ctx, float *x, int64_t n, int op,
                            int64_t rows) {
    const int N = lnm_size(), me = lnm_rank();
    const char *what = "allreduce";
    if (N == 1 || n == 0) return LN_OK;
    double t0 = ln_time();
    int64_t lo = cut(n, N, me), mine = cut(n, N, me + 1) - lo;
    int64_t maxchunk = n / N + 1;
    float *in = reserve(ctx, (size_t)(N - 1) * (size_t)maxchunk * sizeof(float));
    if (!in) return ctx->status;
    int64_t *rin = malloc((size_t)N * sizeof *rin);
    msgs r;
    ln_status st = rin ? round_new(ctx, &r, 4 * N) : ln_fail(ctx, LN_E_NOMEM, "out of memory");
    if (st) {
        free(rin);
        return st;
    }
    int tag = lnm_next_tag(), weighted = rows >= 0;
    rin[me] = rows;
    /* phase 1: chunk q of my vector to rank q; my chunk from everyone */
    for (int q = 0; q < N && !st; q++) {
        if (q == me) continue;
        float *slot = in + (int64_t)(q < me ? q : q - 1) * maxchunk;
        st = post(ctx, &r, 0, slot, mine, MPI_FLOAT, q, tag, what);
        if (!st && weighted) st = post(ctx, &r, 0, &rin[q], 1, MPI_INT64_T, q, tag + 2, what);
    }
    for (int q = 0; q < N && !st; q++) {
        if (q == me) continue;
        int64_t qlo = cut(n, N, q);
        st = post(ctx, &r, 1, x + qlo, cut(n, N, q + 1) - qlo, MPI_FLOAT, q, tag, what);
        if (!st && weighted) st = post(ctx, &r, 1, &rows, 1, MPI_INT64_T, q, tag + 2, what);
    }
    int64_t sent = r.bytes;
    if (!st) st = finish(ctx, &r, what);
    if (!st) { /* my chunk: the sum over ranks 0, 1, ... in that order */
        double total = 0;
        for (int q = 0; q < N; q++) total += (double)rin[q];
        float *mx = x + lo;
        for (int64_t j = 0; j < mine; j++) {
            double s = 0;
            for (int q = 0; q < N; q++) {
                double v = q == me ? mx[j] : in[(int64_t)(q < me ? q : q - 1) * maxchunk + j];
                if (weighted) s += (double)rin[q] * v;
                else if (op == LNM_MAX) s = q == 0 || v > s || isnan(v) ? v : s;
                else s += v;
            }
            if (weighted) s = total > 0 ? s / total : 0;
            else if (op == LNM_MEAN) s /= N;
            mx[j] = (float)s;
        }
    }
    /* phase 2: my reduced chunk to everyone, theirs from them */
    r.bytes = 0;
    for (int q = 0; q < N && !st; q++) {
        if (q == me) continue;
        int64_t qlo = cut(n, N, q);
        st = post(ctx, &r, 0, x + qlo, cut(n, N, q + 1) - qlo, MPI_FLOAT, q, tag + 1, what);
        if (!st) st = post(ctx, &r, 1, x + lo, mine, MPI_FLOAT, q, tag + 1, what);
    }
    sent += r.bytes;
    if (!st) st = finish(ctx, &r, what);
    round_free(&r);
    free(rin);
    lnm_account(ln_time() - t0, sent);
    return st;
}

/* ---- small vectors: everyone gets everything ------------------------------------ */

/* Every rank's n elements of `size` bytes, in rank order, into all
** (N * n elements); x is this rank's. */
static ln_status gather_all(ln_ctx *ctx, const void *x, int64_t n,
                            MPI_Datatype type, int size, void *all,
                            const char *what) {
    const int N = lnm_size(), me = lnm_rank();
    double t0 = ln_time();
    msgs r;
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
    msgs r;
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

/* Dissemination: in msgs k every rank signals rank + 2^k and waits for
** rank - 2^k; after ceil(log2 N) rounds everyone has heard from everyone. */
ln_status lnm_barrier(ln_ctx *ctx) {
    const int N = lnm_size(), me = lnm_rank();
    if (N == 1) return LN_OK;
    double t0 = ln_time();
    msgs r;
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
