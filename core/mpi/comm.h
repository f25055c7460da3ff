/*
** comm.h -- lunet's MPI world (private to the lunet.mpi module): start-up,
** the collectives data-parallel training needs, and what happens when a
** process fails.
**
** Every collective is built from point-to-point messages on a duplicate of
** MPI_COMM_WORLD, completed by one wait loop (lnm_wait) that
**  - polls the requests (MPI_Testall), so it can give up: after `timeout`
**    seconds without completing it fails naming the ranks it still waits
**    for -- a process that died or hangs never hangs the others;
**  - watches for failure notices: a process whose training raises sends
**    its message to every other one (lnm_fail) before it exits, and they
**    fail at once naming it;
** and MPI errors are returned (MPI_ERRORS_RETURN), never fatal. After a
** failure the world is broken: every later call fails at once with the
** first reason.
**
** Reductions have a fixed order, whatever MPI's own algorithms would do:
** element j of a result is computed by one rank (the owner of j's chunk)
** as the sum over ranks 0, 1, ..., N-1 in that order, in double, rounded
** once; the other ranks receive that value. Every rank gets the same bits,
** and a run repeats bit for bit.
**
** One thread: only the thread that called lnm_init calls these (MPI is
** initialised with MPI_THREAD_FUNNELED); OpenMP teams never do.
*/
#ifndef LUNET_MPI_COMM_H
#define LUNET_MPI_COMM_H

#include <mpi.h>

#include "lunet/lunet.h"

/* Reduction operations. */
enum { LNM_SUM, LNM_MEAN, LNM_MAX };

typedef struct lnm_stats {
    double seconds;  /* in collectives (waiting included) */
    int64_t calls;   /* collectives */
    int64_t bytes;   /* bytes this rank sent */
} lnm_stats;

/* Start MPI (unless the program already did) with a wait limit in seconds
** (> 0). Idempotent: later calls only change the limit. */
ln_status lnm_init(ln_ctx *ctx, double timeout);
int lnm_initialized(void);
int lnm_rank(void);
int lnm_size(void);
double lnm_timeout(void);
/* NULL, or why the world is broken. */
const char *lnm_broken(void);
/* Tell every other rank that this one fails with msg (they raise naming
** this rank), waiting at most a second or two for the notices to leave;
** the world is broken from now on. */
void lnm_fail(const char *msg);
/* MPI_Finalize, unless the world is broken (the process then exits and
** the launcher ends the job) or MPI was started by someone else. */
void lnm_finalize(void);
/* Totals since start (all collectives of this process). */
lnm_stats lnm_get_stats(void);

/* ---- building blocks --------------------------------------------------------- */

/* Wait for n requests; peers[i] is the rank request i talks to (for the
** message on timeout). what names the operation ("allreduce"). */
ln_status lnm_wait(ln_ctx *ctx, int n, MPI_Request *reqs, const int *peers,
                   const char *what);
/* Its pieces, for waits on several things at once: one poll (*pending:
** requests not complete; fails on an MPI error or a failure notice); the
** timeout (fails naming the peers of the pending requests once `since`
** is more than the limit ago); the pause between two polls. */
ln_status lnm_test(ln_ctx *ctx, int n, MPI_Request *reqs, const int *peers,
                   const char *what, int *pending);
ln_status lnm_check_time(ln_ctx *ctx, int n, const MPI_Request *reqs,
                         const int *peers, const char *what, double since);
void lnm_pause(int64_t round, double waited);
/* Fail with the MPI error code's text, naming what and the peer (-1: none). */
ln_status lnm_error(ln_ctx *ctx, int code, const char *what, int peer);
/* The communicator of lunet's collectives; the next tag for a collective
** (every rank calls collectives in the same order, so tags agree). */
MPI_Comm lnm_comm(void);
int lnm_next_tag(void);
/* Count a collective's time and bytes. */
void lnm_account(double seconds, int64_t bytes);

/* ---- collectives (collective.c) --------------------------------------------- */

/* x (n floats, the same n on every rank) <- the reduction over ranks.
** rows >= 0 asks for the row-weighted mean: sum_r rows_r * x_r / sum_r
** rows_r (x holds the mean over this rank's rows; 0 when no rank has
** rows); op is then ignored. */
ln_status lnm_allreduce_f32(ln_ctx *ctx, float *x, int64_t n, int op,
                            int64_t rows);
/* The same for a vector made of segments end to end (n floats at p each;
** the same lengths on every rank), reduced in place: a model's gradient
** tensors without packing them into one buffer. */
typedef struct lnm_seg {
    float *p;
    int64_t n;
} lnm_seg;
ln_status lnm_allreduce_segs(ln_ctx *ctx, const lnm_seg *segs, int nsegs, int op,
                             int64_t rows);
/* One allreduce in flight, over elements [off, off + n) of a vector of
** segments (a bucket of a model's gradients while backward still runs):
** start posts its messages, poll moves it on without blocking (*done: the
** range holds the result), stalled fails once `since` is more than the
** timeout ago. Several may be in flight at once (each has its tags and
** buffers). lnm_allreduce_segs is start then poll until done. Zeroed
** before the first start; lnm_ar_free releases its buffers. */
typedef struct lnm_msgs {
    int n, cap;
    MPI_Request *req;
    int *peer;
    int64_t bytes; /* sent */
} lnm_msgs;
typedef struct lnm_ar {
    const lnm_seg *seg;
    int nseg;
    int64_t off, n, rows;
    int op, whole, phase, tag; /* phase: 1 first round, 2 second, 3 done */
    lnm_msgs r;
    float *in, **inq; /* the other ranks' parts */
    size_t incap;
    int64_t *rin; /* their rows */
    const float **src;
    double *w, t0;
    int64_t sent;
} lnm_ar;
ln_status lnm_ar_start(ln_ctx *ctx, lnm_ar *ar, const lnm_seg *seg, int nseg,
                       int64_t off, int64_t n, int op, int64_t rows);
ln_status lnm_ar_poll(ln_ctx *ctx, lnm_ar *ar, int *done);
ln_status lnm_ar_stalled(ln_ctx *ctx, const lnm_ar *ar, double since);
void lnm_ar_free(lnm_ar *ar);
/* The same for doubles (small vectors: metric totals, Lua numbers). */
ln_status lnm_allreduce_f64(ln_ctx *ctx, double *x, int64_t n, int op);
/* The same for int32 (sums in int64; a result outside int32 fails). */
ln_status lnm_allreduce_i32(ln_ctx *ctx, int32_t *x, int64_t n, int op);
/* bytes of p on root -> p on every rank (n must agree). */
ln_status lnm_broadcast(ln_ctx *ctx, void *p, int64_t n, int root);
/* A string of root's on every rank: *s (malloc'ed, the caller frees) and
** *n; on root, s/n are the input. */
ln_status lnm_broadcast_string(ln_ctx *ctx, char **s, int64_t *n, int root);
ln_status lnm_barrier(ln_ctx *ctx);

#endif
