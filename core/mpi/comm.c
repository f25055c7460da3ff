/*
** comm.c -- lunet's MPI world: start-up and shut-down, the wait loop every
** collective ends in (timeouts, failure notices), and failing (comm.h).
*/
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "comm.h"

#define NOTICE_MAX 2048 /* bytes of a failure notice */
#define TAG_SPAN 30000  /* collective tags cycle through [0, TAG_SPAN) */

static struct {
    int ready;       /* lnm_init ran */
    int own;         /* MPI was started here (so finalized here) */
    int rank, size;
    double timeout;
    MPI_Comm comm;   /* collectives */
    MPI_Comm notice; /* failure notices */
    MPI_Request nreq;
    char nbuf[NOTICE_MAX];
    int tag;
    int broken;
    char why[NOTICE_MAX + 128];
    char out[NOTICE_MAX]; /* this rank's notice, sent by lnm_fail */
    lnm_stats stats;
} W;

ln_status lnm_error(ln_ctx *ctx, int code, const char *what, int peer) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", code);
    int cls = 0;
    MPI_Error_class(code, &cls);
    const char *hint = cls == MPI_ERR_TRUNCATE
                           ? " (the ranks called different collectives, or with different "
                             "sizes: every rank must make the same fit and ln.distributed calls)"
                           : "";
    if (peer >= 0)
        return ln_fail(ctx, LN_E_IO, "rank %d: %s with rank %d: MPI error: %s%s", W.rank,
                       what, peer, text, hint);
    return ln_fail(ctx, LN_E_IO, "rank %d: %s: MPI error: %s%s", W.rank, what, text, hint);
}

ln_status lnm_init(ln_ctx *ctx, double timeout) {
    if (!(timeout > 0)) return ln_fail(ctx, LN_E_ARG, "timeout must be > 0 seconds, got %g", timeout);
    W.timeout = timeout;
    if (W.ready) return LN_OK;
    int started = 0, provided = 0, rc;
    MPI_Initialized(&started);
    if (!started) {
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return ln_fail(ctx, LN_E_IO, "MPI_Init_thread failed (code %d)", rc);
        W.own = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &W.comm)) != MPI_SUCCESS ||
        (rc = MPI_Comm_dup(MPI_COMM_WORLD, &W.notice)) != MPI_SUCCESS)
        return lnm_error(ctx, rc, "MPI_Comm_dup", -1);
    MPI_Comm_set_errhandler(W.comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(W.notice, MPI_ERRORS_RETURN);
    MPI_Comm_rank(W.comm, &W.rank);
    MPI_Comm_size(W.comm, &W.size);
    rc = MPI_Irecv(W.nbuf, NOTICE_MAX, MPI_CHAR, MPI_ANY_SOURCE, 0, W.notice, &W.nreq);
    if (rc != MPI_SUCCESS) return lnm_error(ctx, rc, "MPI_Irecv", -1);
    W.ready = 1;
    return LN_OK;
}

int lnm_initialized(void) { return W.ready; }
int lnm_rank(void) { return W.rank; }
int lnm_size(void) { return W.ready ? W.size : 1; }
double lnm_timeout(void) { return W.timeout; }
const char *lnm_broken(void) { return W.broken ? W.why : NULL; }
MPI_Comm lnm_comm(void) { return W.comm; }
lnm_stats lnm_get_stats(void) { return W.stats; }

int lnm_next_tag(void) {
    int t = W.tag;
    W.tag = (W.tag + 4) % TAG_SPAN;
    return t;
}

void lnm_account(double seconds, int64_t bytes) {
    W.stats.seconds += seconds;
    W.stats.calls++;
    W.stats.bytes += bytes;
}

/* Between two polls of a wait (lnm_pause): spin at first (the answer is usually
** close), then yield the core (still runnable, so back at once when the
** other rank answers), and only in long waits sleep (an idle process
** costs nothing while a slow rank computes or a failure times out). MPI
** progresses inside the polls. */
void lnm_pause(int64_t round, double waited) {
    if (round < 64) return;
    if (waited < 0.005) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, waited < 0.1 ? 50000 : 1000000};
    nanosleep(&ts, NULL);
}

/* A failure notice arrived: the world is broken by its sender. */
static int notice_arrived(void) {
    int flag = 0;
    MPI_Status status;
    if (W.broken) return 1;
    if (MPI_Test(&W.nreq, &flag, &status) != MPI_SUCCESS || !flag) return 0;
    W.nbuf[NOTICE_MAX - 1] = '\0';
    snprintf(W.why, sizeof W.why, "rank %d failed: %s", status.MPI_SOURCE, W.nbuf);
    W.broken = 1;
    return 1;
}

ln_status lnm_test(ln_ctx *ctx, int n, MPI_Request *reqs, const int *peers,
                   const char *what, int *pending) {
    *pending = 0;
    if (W.broken) return ln_fail(ctx, LN_E_IO, "rank %d: %s: %s", W.rank, what, W.why);
    for (int i = 0; i < n; i++) {
        if (reqs[i] == MPI_REQUEST_NULL) continue;
        int flag = 0, rc = MPI_Test(&reqs[i], &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            ln_status st = lnm_error(ctx, rc, what, peers[i]);
            lnm_fail(ctx->msg);
            return st;
        }
        *pending += !flag;
    }
    if (*pending && notice_arrived())
        return ln_fail(ctx, LN_E_IO, "rank %d: %s: %s", W.rank, what, W.why);
    return LN_OK;
}

ln_status lnm_check_time(ln_ctx *ctx, int n, const MPI_Request *reqs,
                         const int *peers, const char *what, double since) {
    if (ln_time() - since <= W.timeout) return LN_OK;
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && len + 16 < sizeof list; i++) {
        if (reqs[i] == MPI_REQUEST_NULL) continue;
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= reqs[j] != MPI_REQUEST_NULL && peers[j] == peers[i];
        if (!seen) len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                           len ? ", " : "", peers[i]);
    }
    ln_fail(ctx, LN_E_IO, "rank %d: %s: no answer from rank %s for %g s (a rank "
            "died, hangs or fell behind; LUNET_DIST_TIMEOUT or "
            "ln.distributed.init{timeout = s} sets the limit)", W.rank, what, list,
            W.timeout);
    lnm_fail(ctx->msg);
    return LN_E_IO;
}

ln_status lnm_wait(ln_ctx *ctx, int n, MPI_Request *reqs, const int *peers,
                   const char *what) {
    double start = ln_time();
    for (int64_t round = 0;; round++) {
        int pending;
        ln_status st = lnm_test(ctx, n, reqs, peers, what, &pending);
        if (st || !pending) return st;
        if ((st = lnm_check_time(ctx, n, reqs, peers, what, start))) return st;
        lnm_pause(round, ln_time() - start);
    }
}

void lnm_fail(const char *msg) {
    if (!W.ready) return;
    if (!W.broken) {
        W.broken = 1;
        snprintf(W.why, sizeof W.why, "%s", msg);
    }
    if (W.out[0]) return; /* notices already sent */
    snprintf(W.out, sizeof W.out, "%s", msg && *msg ? msg : "(no message)");
    int len = (int)strlen(W.out) + 1;
    MPI_Request reqs[64];
    int q = 0;
    while (q < W.size) { /* in groups of 64: the notices of a big world */
        int k = 0;
        for (; q < W.size && k < 64; q++)
            if (q != W.rank && MPI_Isend(W.out, len, MPI_CHAR, q, 0, W.notice, &reqs[k]) == MPI_SUCCESS)
                k++;
        double start = ln_time();
        for (int64_t round = 0; ln_time() - start < 2.0; round++) {
            int flag = 1;
            if (MPI_Testall(k, reqs, &flag, MPI_STATUSES_IGNORE) != MPI_SUCCESS || flag) break;
            lnm_pause(round, ln_time() - start);
        }
    }
}

void lnm_finalize(void) {
    if (!W.ready || W.broken || !W.own) return;
    int done = 0;
    MPI_Finalized(&done);
    if (done) return;
    MPI_Cancel(&W.nreq);
    MPI_Request_free(&W.nreq);
    MPI_Comm_free(&W.comm);
    MPI_Comm_free(&W.notice);
    MPI_Finalize();
    W.ready = 0;
}
