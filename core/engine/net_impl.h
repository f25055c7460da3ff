/*
** net_impl.h -- the ln_net struct shared by net.c (the chain, its
** buffers, one batch's forward/loss/backward/update) and net_run.c
** (runs of batches, serial or on a thread team, and the automatic choice
** between the two). Private to the core.
*/
#ifndef LUNET_TRAIN_IMPL_H
#define LUNET_TRAIN_IMPL_H

#include <stdatomic.h>

#include "lunet/engine/net.h"
#include "parallel_impl.h"

/* Kinds of batch calls (each has its own buffers and timing). */
enum { LN__K_TRAIN, LN__K_TEST, LN__K_PREDICT, LN__K_COUNT };

/* The automatic choice between serial and team mode for one kind of call
** (net_run.c): probe segments alternate the modes, then the faster
** one runs for a long segment, then it probes again. */
#define LN__PROBE_SEGMENTS 4 /* team, serial, team, serial */
#define LN__PROBE_LEN 16     /* batches per probe segment */
#define LN__PROBE_WARM 3     /* untimed batches at a probe segment's start */
#define LN__FIRST_WAIT 16    /* serial batches before the first probe */
#define LN__EXPLOIT_LEN 256  /* batches in the chosen mode between probes, */
#define LN__EXPLOIT_MAX 4096 /* doubled up to this while the choice holds */

typedef struct ln__auto {
    int best;         /* LN_NET_SERIAL or LN_NET_TEAM */
    int probing;      /* 1 while probing */
    int seg;          /* probe segment index */
    int64_t left;     /* batches left in the current segment */
    int64_t into;     /* batches into the current segment */
    int64_t ref_rows; /* the batch size that is timed */
    int64_t exploit;  /* the current exploit length */
    double t[2][LN__PROBE_SEGMENTS / 2 * LN__PROBE_LEN]; /* [team?][i] */
    int nt[2];
} ln__auto;

struct ln_net {
    int n, cap;
    ln_layer **layers;
    ln_tensor **ys;  /* output of layer i */
    ln_tensor **dxs; /* gradient with respect to the input of layer i */
    int *snapshot;   /* compile-time trainable flags, or NULL */
    int *saved;      /* layers' own flags while a snapshot is in force */
    ln_tensor *in;   /* input of the last forward (retained) */
    unsigned flags;  /* flags of the last forward */
    int forwarded;

    ln_tensor *xb, *yb; /* gathered batch */

    ln_object *loss;
    int fused;          /* last activation fused with the loss */
    ln_activation *act; /* that activation, for metrics' probabilities */
    ln_tensor *dpred;   /* loss gradient */
    ln_tensor *probs;   /* activation of the logits (fused + metrics) */

    int nmetrics;
    ln_object **metrics;
    double *mtotal, *mcount;
    double loss_total, loss_count;

    /* the fused step's optimizer and its pairs (contents borrowed) */
    ln_optimizer *opt;
    int nopt, capopt;
    ln_tensor **ovars, **ograds;
    const char **onames;
    _Atomic int64_t *covered; /* per pair: elements updated early */

    /* threads (net_run.c) */
    ln_net_threading threading;
    int64_t steady[LN__K_COUNT]; /* largest batch run serially, per kind */
    int steady_ydtype;           /* y's dtype of those runs (-1: none) */
    ln__auto am[LN__K_COUNT];
    ln__team team;
};

/* One batch: rows [start, start + n) (of idx's order when idx != NULL). */
typedef struct ln__batch {
    int kind;
    int apply; /* train: the optimizer's update too */
    int early; /* train: buffers sized, updates may run during backward */
    const ln_tensor *x, *y;
    const int64_t *idx;
    int64_t start, n;
    int64_t next_start, next_n; /* the next batch's rows, to prefetch */
    double *loss;   /* train, test */
    ln_tensor *out; /* predict: rows [start, start + n) receive the outputs */
} ln__batch;

/* Gather, forward, loss, metrics, backward and update of one batch, as its
** kind asks (net.c). Runs on whatever thread team is installed. */
ln_status ln__net_batch(ln_ctx *ctx, ln_net *net, const ln__batch *b);
/* Forget which batch sizes ran serially (buffers may have to grow). */
void ln__net_unsteady(ln_net *net);

#endif
