/*
** net_impl.h -- the parts of an ln_net, one job each (private to the
** engine):
**
**   ln_chain   the layers run in order, their output and input-gradient
**              buffers, the compile-time trainable snapshot (net_chain.c)
**   ln_score   the loss and the metrics with their running totals
**                                                          (net_score.c)
**   ln_update  the optimizer a training step applies, its (gradient,
**              variable) pairs and the gradient sink      (net_update.c)
**   ln_batch   the rows of one batch gathered from x and y, and the batch
**              bodies: train, test, predict                (net_batch.c)
**   ln_tuner   the choice between serial and team runs      (net_run.c)
**   ln_stage   between backward and the update: accumulation over k
**              batches and a reducer across processes      (net_stage.c)
**
** Runs of batches (net_run.c) drive ln__net_batch; nothing of a batch
** allocates once the buffers have grown to the largest batch.
*/
#ifndef LUNET_NET_IMPL_H
#define LUNET_NET_IMPL_H

#include <stdatomic.h>

#include "lunet/engine/net.h"
#include "lunet/engine/net_graph.h"

/* ---- the chain (net_chain.c) ----------------------------------------------------- */

typedef struct ln_chain {
    int n, cap;
    ln_layer **layers;
    ln_tensor **ys;  /* output of layer i */
    ln_tensor **dxs; /* gradient with respect to the input of layer i */
    int *snapshot;   /* compile-time trainable flags, or NULL */
    int *saved;      /* layers' own flags while a snapshot is in force */
    ln_tensor *in;   /* input of the last forward (retained) */
    unsigned flags;  /* flags of the last forward */
    int forwarded;
} ln_chain;

void ln__chain_free(ln_chain *c);
/* Grow the per-layer arrays to hold n layers; new buffers are empty. */
ln_status ln__chain_reserve(ln_ctx *ctx, ln_chain *c, int n);
/* Run every layer on x; the last one gets LN_LOGITS if flags has it. */
ln_status ln__chain_forward(ln_ctx *ctx, ln_chain *c, ln_tensor *x,
                            unsigned flags);
/* Give every buffer that shows another (an inner view layer's output or
** input gradient: LN_MAY_VIEW) its own back, so that the one it showed is
** resized in place: at each pass and before a batch's rows are gathered. */
void ln__chain_unalias(ln_chain *c);
/* Let go of the last forward's input (predict and evaluate read the
** user's rows in place); a backward then needs a forward first. */
void ln__chain_forget_input(ln_chain *c);
/* Backward from dy down to layer `stop` (inclusive), which writes dx only
** if need_dx; each layer with trainable weights gets upd's gradient sink
** when upd is armed. */
struct ln_update;
ln_status ln__chain_backward(ln_ctx *ctx, ln_chain *c, const ln_tensor *dy,
                             int stop, int need_dx, struct ln_update *upd);
/* Index of the first layer with trainable weights, or n if none. */
int ln__chain_first_trainable(const ln_chain *c);
/* Put the compile-time snapshot in force (on) or restore the layers'
** own flags (off). */
void ln__chain_snapshot(ln_chain *c, int on);
/* The output of the last layer. */
ln_tensor *ln__chain_output(const ln_chain *c);
/* The mask of that output after the last forward (Keras 2), or NULL. */
const ln_tensor *ln__chain_output_mask(const ln_chain *c);

/* ---- the loss and the metrics (net_score.c) ------------------------------------ */

typedef struct ln_score {
    ln_object *loss;
    int fused;          /* the last activation fused with the loss */
    ln_activation *act; /* that activation, for metrics' probabilities */
    ln_tensor *dpred;   /* loss gradient */
    ln_tensor *probs;   /* activation of the logits (fused + metrics) */
    int nmetrics;
    ln_object **metrics;
    double *mtotal, *mcount;
    /* masks (net_score_mask.c): the output's mask for this batch (borrowed,
    ** set by the caller before ln__score_batch; NULL: none) and buffers */
    const ln_tensor *mask;
    /* set by a training batch for its ln__score_batch: the update whose
    ** penalty of the current weights the loss may take (NULL: none) */
    const struct ln_update *pen_from;
    struct ln_score_mask *mk;
    double loss_total, loss_count;
    ln_tensor *weights; /* per-sample loss weights of the data set (owned), or NULL */
    ln_tensor *wbatch;  /* the batch's rows of weights */
    unsigned char *mweighted; /* metric i weighs its rows by the weights (compile's
                              ** weighted_metrics); NULL: none does (owned) */
} ln_score;

void ln__score_free(ln_score *s);
/* An empty float tensor *t for a buffer, made on first use. */
ln_status ln__score_buffer(ln_ctx *ctx, ln_tensor **t);
/* The loss (NULL: none) or the metrics (borrowed), checked for kind. */
ln_status ln__score_set_loss(ln_ctx *ctx, ln_score *s, ln_object *loss,
                             const ln_chain *c);
ln_status ln__score_set_metrics(ln_ctx *ctx, ln_score *s, int n,
                                ln_object *const *metrics);
/* The batch's rows of s->weights into s->wbatch (nothing when unweighted). */
ln_status ln__score_gather(ln_ctx *ctx, ln_score *s, const int64_t *idx,
                           int64_t start, int64_t n);
/* Decide whether the chain's last activation and the loss fuse. */
ln_status ln__score_fuse(ln_ctx *ctx, ln_score *s, const ln_chain *c);
/* The loss of out against y into *loss (plus the chain's regularization)
** and, with want_grad, its gradient into s->dpred; then the metrics. */
ln_status ln__score_batch(ln_ctx *ctx, ln_score *s, const ln_chain *c,
                          const ln_tensor *out, const ln_tensor *y,
                          int want_grad, double *loss);
/* The same when s->mask is set: padded steps count for nothing
** (net_score_mask.c), and its buffers' release. */
ln_status ln__score_masked(ln_ctx *ctx, ln_score *s, const ln_chain *c,
                           const ln_tensor *out, const ln_tensor *y, int want_grad,
                           double *loss);
void ln__score_mask_free(ln_score *s);

/* ---- the optimizer's update (net_update.c) ---------------------------------------- */

typedef struct ln_update {
    ln_optimizer *opt; /* borrowed; NULL: none */
    int n, cap;
    ln_tensor **vars, **grads; /* the pairs (contents borrowed) */
    const char **names;
    _Atomic int64_t *covered; /* per pair: elements updated early */
    int armed;                /* this backward hands out gradient sinks */
    struct ln_stage *reduce;  /* armed for the reducer: sinks hand it the
                                 blocks, the update waits for them */
    /* The regularization penalty of the weights the update writes, summed
    ** as it writes them (layer_reg.h's chunks), for the next batch's loss:
    ** per pair its l1, l2 this step (0, 0: none) and its chunks' sums and
    ** flags from pen_off[i]; pen_valid: they hold the weights as they are
    ** now (set by an early update that covered them, cleared by any other
    ** update and at the start of every run). */
    double *pen_l1, *pen_l2, *pen_part;
    unsigned char *pen_done;
    int64_t *pen_off;
    int pen_valid;
} ln_update;

void ln__update_free(ln_update *u);
/* Before backward: arm the early update when it can run (buffers sized so
** nothing fails half-way, no clipping, an elementwise optimizer, no layer
** twice in the chain). */
ln_status ln__update_begin(ln_ctx *ctx, ln_update *u, const ln_chain *c,
                           int can_early);
/* The sink a layer's backward gets: NULL unless armed. sink is the
** caller's storage for it. */
typedef struct ln__layer_sink {
    ln_grad_sink base;
    ln_update *u;
    const ln_layer *l;
} ln__layer_sink;
ln_grad_sink *ln__update_sink(ln_update *u, const ln_layer *l,
                              ln__layer_sink *sink);
/* After backward: the variables not updated early, then the step count. */
ln_status ln__update_finish(ln_ctx *ctx, ln_update *u);
/* The penalty of l's weights (ln_layer_regularization_loss's number, to
** the bit) from the last update's pass, when it holds them: 1 and *out, or
** 0. Only inside a run (ln__update_run_begin forgets it). */
int ln__update_penalty(const ln_update *u, const ln_layer *l, double *out);
void ln__update_run_begin(ln_update *u);

/* ---- one batch (net_batch.c) ------------------------------------------------------ */

/* Kinds of batch calls (each has its own buffers and timing). */
enum { LN__K_TRAIN, LN__K_TEST, LN__K_PREDICT, LN__K_COUNT };

typedef struct ln_batch {
    ln_tensor *x, *y; /* gathered rows */
    ln_tensor *rows;  /* or x's rows where they are (an alias, for one batch) */
} ln_batch;

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
    const ln_net_io *io; /* a graph's inputs and targets (x, y: the first) */
} ln__batch;

/* dst (a float32 buffer) an alias of rows [start, start + n) of x
** (ln_tensor_alias) instead of their copy, when they are consecutive
** (idx NULL) float32 rows whose first element is 64-byte aligned, as a
** buffer's is (the layers then see the same values at the same
** alignment): *aliased 1. Otherwise nothing (*aliased 0): the caller
** gathers. Predict and evaluate, whose layers only read the rows (a
** predict at batch 1000 copied 3 MB a batch). */
ln_status ln__rows_alias(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *x,
                         const int64_t *idx, int64_t start, int64_t n, int *aliased);
/* dst <- the selected rows of src; dst's dtype must be src's (net_batch.c). */
ln_status ln__gather(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src,
                     const int64_t *idx, int64_t start, int64_t n,
                     const char *what);
/* An empty tensor of dtype in *t for a buffer, remade if its dtype differs. */
ln_status ln__batch_buffer(ln_ctx *ctx, ln_tensor **t, ln_dtype dtype);
/* y's n rows into rows [start, start + n) of out (predict). */
ln_status ln__put_rows(ln_ctx *ctx, ln_tensor *out, const ln_tensor *y,
                       int64_t start, int64_t n);

/* ---- the choice of threads (net_run.c) --------------------------------------------- */

/* The automatic choice between serial and team mode for one kind of call:
** probe segments alternate the modes, then the faster one runs for a long
** segment, then it probes again; a team that loses stops early, and a team
** that keeps losing is probed less often and more briefly (net_run.c). */
#define LN__PROBE_SEGMENTS 4 /* serial, team, serial, team */
#define LN__PROBE_LEN 16     /* batches per probe segment */
#define LN__PROBE_WARM 3     /* batches at a serial segment's start left out of its median */
#define LN__TEAM_WARM 8      /* the same for a team segment (the second core
                             ** comes up to speed: up to 8 slow batches on
                             ** the 2-vCPU VM of issue 21) */
#define LN__FIRST_WAIT 16    /* serial batches before the first probe */
#define LN__EXPLOIT_LEN 256  /* batches in the chosen mode between probes, */
#define LN__EXPLOIT_MAX 4096 /* doubled up to this while the choice holds */
#define LN__PROBE_EARLY (LN__PROBE_LEN - LN__TEAM_WARM) /* timed team batches
                             ** before it may lose early: the first team
                             ** segment's, all of them */
#define LN__WATCH_LEN 16     /* team batches per check of a team exploit */
#define LN__PROBE_BUDGET 4   /* serial batch times a team probe may lose in all */
#define LN__FAR_AHEAD 0.7    /* a team segment's median under this share of the
                             ** serial median ends the probe (team chosen) */
#define LN__LOST_SHORT 2     /* losses in a row that make probes short */
#define LN__PROBE_CROWDED 3  /* serial batches over 2x their median that
                             ** make a probe segment crowded */
#define LN__WARM_SLACK 3     /* serial batch times a team segment's first
                             ** LN__TEAM_WARM batches may each take free */
#define LN__STALL 4          /* a team batch over this many serial batch
                             ** times is a stall */
#define LN__STALL_GAP 256    /* one in this many team batches is forgiven */
/* Long batches: two serial batches in a row (not a probe segment's
** first; the batch that sized the buffers may be the first of the two) of
** at least LN__LONG_BATCH seconds each hold the warm-up the
** counts above allow for (waking the worker, moving the weights: a few ms
** in all), so the first wait ends, the timed ones are the first probe's
** serial side (it is one team segment), and probe segments are
** LN__PROBE_LEN_LONG batches with one warm batch each -- a CNN or an RNN
** at batch 32 (8-80 ms a batch) was still in its first probe after a 20-
** or 64-batch epoch, and a 16-batch CNN fit at batch 128 ran 12 of its
** batches on one thread. */
#define LN__LONG_BATCH 2e-3
#define LN__PROBE_LEN_LONG 4

typedef struct ln__auto {
    int best;         /* LN_NET_SERIAL or LN_NET_TEAM */
    int probing;      /* 1 while probing */
    int seg;          /* probe segment index */
    int nsegs;        /* segments of the current probe */
    int64_t left;     /* batches left in the current segment */
    int64_t into;     /* batches into the current segment */
    int64_t ref_rows; /* the batch size that is timed */
    int64_t exploit;  /* the current exploit length */
    double t[2][LN__PROBE_SEGMENTS / 2 * LN__PROBE_LEN]; /* [team?][i] */
    int nt[2];
    double serial_ref; /* median serial batch time of the last probe */
    int nseg_team;     /* timed batches of the current team segment */
    int seg_from;      /* t[0]'s count when the current segment began */
    double excess;     /* team time beyond the serial median: this probe's,
                       ** or this watch window's in a team exploit */
    int lost;          /* probes and exploits the team lost in a row */
    int64_t team_seen;   /* team batches accounted, all probes and exploits */
    int64_t forgiven_at; /* team_seen at the last stall forgiven (0: none) */
    int waiting;         /* 1 during the first wait */
    int long_batches;    /* 1 once two serial batches in a row took LN__LONG_BATCH */
    int long_seen;       /* serial batches in a row that took that long */
    int long_lead;       /* of them, 1 when the first is the sizing batch (untimed) */
} ln__auto;

typedef struct ln_tuner {
    ln_net_threading mode;
    int64_t steady[LN__K_COUNT]; /* largest batch run serially, per kind */
    int steady_ydtype;           /* y's dtype of those runs (-1: none) */
    ln__auto am[LN__K_COUNT];
    /* 1 when the batch that sized the buffers before a kind's first plan
    ** took LN__LONG_BATCH or more (ln__tuner_sized) */
    int sized_long[LN__K_COUNT];
    ln_net_threading_stats stats; /* since the last set_threading */
} ln_tuner;

/* Forget which batch sizes ran serially (buffers may have to grow). */
void ln__tuner_unsteady(ln_tuner *t);

/* The tuner's two steps, exported for the tape runner's batch loop
** (core/lua/lua_autograd_team.c) and tests/c/test_net_tuner.c: plan the
** next segment (*team, *len batches) of `left` batches of `batch` rows;
** account one planned batch of n rows that took dt seconds, -> 1 when the
** segment is over and the next must be planned afresh. */
LN_API void ln__tuner_plan(ln_tuner *t, int kind, int64_t batch, int64_t left,
                           int *team, int64_t *len);
LN_API int ln__tuner_account(ln_tuner *t, int kind, int team, int64_t n, double dt);
/* The batch that sized the buffers (run before any plan, at the full
** thread count, so no serial reference) took dt seconds. */
LN_API void ln__tuner_sized(ln_tuner *t, int kind, double dt);

/* ---- the graph (net_graph.c) -------------------------------------------------------- */

typedef struct ln_graph ln_graph;
void ln__graph_free(ln_graph *g);
void ln__graph_reset(ln_graph *g);
/* Output k's score, or NULL when k is out of range. */
ln_score *ln__graph_score(ln_graph *g, int k);
/* Whether io fits the graph (inputs; targets and destinations if asked). */
ln_status ln__graph_check_io(ln_ctx *ctx, const ln_net *net, const ln_net_io *io,
                             int targets, int outs);
/* A batch of a graph run (b->io set). */
ln_status ln__graph_batch(ln_ctx *ctx, ln_net *net, const ln__batch *b);

/* ---- the stages between backward and the update (net_stage.c) ---------------------- */

typedef struct ln_stage {
    ln_grad_reducer *reducer; /* borrowed; NULL: none */
    int accumulate;           /* batches per update; <= 1: no accumulation */
    int pending;              /* batches accumulated since the last update */
    int64_t pending_rows;     /* their rows */
    int n, cap;
    ln_tensor **grads;        /* the gradients backward writes (borrowed) */
    double *acc;              /* their row-weighted sums, end to end */
    int64_t capacc;
    int *omap, capomap;       /* per update pair: its index in grads, or -1 */
} ln_stage;

void ln__stage_free(ln_stage *s);
/* Accumulation or a reducer is set: updates wait for backward's end, and
** a training batch may have 0 rows. */
int ln__stage_on(const ln_stage *s);
/* After the backward of a training batch of `rows` rows (0: no layer ran,
** the gradients are zeroed), with the trainable snapshot in force: *ready
** gets 1 when the gradients now hold the update's (averaged, reduced). */
ln_status ln__stage_batch(ln_ctx *ctx, ln_stage *s, const ln_chain *c,
                          int64_t rows, int *ready);
/* The reducer's exchange during backward, in a step whose update may run
** in pieces: begin arms it (*on; the optimizer's step begun, the reducer
** told); the update's sinks then hand blocks over (ln__stage_ready), the
** chain calls progress after each layer, and finish (after backward) hands
** over the rest, waits for each gradient and updates its variable. */
ln_status ln__stage_overlap_begin(ln_ctx *ctx, ln_stage *s, const ln_chain *c,
                                  ln_update *u, int64_t rows, int can_early, int *on);
void ln__stage_ready(ln_stage *s, int pair, int64_t lo, int64_t hi);
ln_status ln__stage_progress(ln_ctx *ctx, ln_update *u);
ln_status ln__stage_overlap_finish(ln_ctx *ctx, ln_stage *s, ln_update *u);

/* ---- the net ------------------------------------------------------------------------ */

struct ln_net {
    ln_graph *graph; /* NULL: the chain is the network */
    ln_chain chain;
    ln_score score;
    ln_update update;
    ln_batch batch;
    ln_tuner tuner;
    ln_stage stage;
};

/* Gather, forward, loss, metrics, backward and update of one batch, as its
** kind asks (net_batch.c). Runs on whatever thread team is installed. */
ln_status ln__net_batch(ln_ctx *ctx, ln_net *net, const ln__batch *b);
void ln__batch_free(ln_batch *b);

#endif
