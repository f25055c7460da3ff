/*
** net.h -- a chain of layers run as one network (engine, liblunet_nn):
** forward, loss, backward, metric bookkeeping and the optimizer's update
** for one batch or a run of batches in a single call. This is the hot path
** under the Lua model API (Sequential:fit/evaluate/predict); C users can
** drive it directly.
**
** Ownership: a net BORROWS its layers, its loss and its metrics; the caller
** keeps them alive while the net uses them (the Lua binding stores them in
** the net's userdata). The net owns its buffers (one output and one input
** gradient per layer, the gathered batch, the loss gradient); they are sized
** on the first batch and reused, so a training step allocates nothing once
** the largest batch has been seen.
**
** A training step (ln_net_train_batch) is:
**   gather the batch rows -> forward (training) -> batch loss and its
**   gradient -> regularization losses -> metric totals -> backward down to
**   the first layer that has trainable weights.
** It leaves the weight gradients in the layers' gradient tensors
** (ln_layer_grad); applying them is the optimizer's job (Lua:
** optimizer:apply_gradients) -- or the net's own, in a training step with an
** optimizer set (ln_net_set_optimizer): then backward hands each layer a
** gradient sink (plugin.h) through which finished blocks of weight
** gradients are updated at once, while still in cache, unless the
** optimizer needs whole variables (LN_OPT_WHOLE_VARIABLE) or clips: then
** every variable is updated after backward. Same numbers either way.
**
** Fused output: when the last layer's output activation is the loss's
** logits_activation (softmax + sparse/categorical cross-entropy, sigmoid +
** binary cross-entropy) the last layer runs with LN_LOGITS and the loss uses
** its from-logits formula, as Keras does inside fit; metrics still see the
** probabilities (the activation applied to the logits).
*/
#ifndef LUNET_ENGINE_NET_H
#define LUNET_ENGINE_NET_H

#include "lunet/engine/layer.h"
#include "lunet/engine/optimizer.h"

typedef struct ln_net ln_net;

LN_API ln_net *ln_net_new(ln_ctx *ctx);
LN_API void ln_net_free(ln_net *net);

/* The chain, first to last (borrowed). Buffers of a previous chain are
** kept for reuse. n may be 0 (forward then fails). */
LN_API ln_status ln_net_set_layers(ln_ctx *ctx, ln_net *net, int n,
                                   ln_layer *const *layers);
/* The loss: an ln_object of kind LN_KIND_LOSS (borrowed) or NULL. */
LN_API ln_status ln_net_set_loss(ln_ctx *ctx, ln_net *net, ln_object *loss);
/* Metrics: objects of kind LN_KIND_METRIC, or LN_KIND_LOSS (a loss used as
** a metric: the batch means weighted by batch size). Borrowed. */
LN_API ln_status ln_net_set_metrics(ln_ctx *ctx, ln_net *net, int n,
                                    ln_object *const *metrics);
/* Keras's compile-time snapshot of layer.trainable: during training steps
** layer i trains as if layer->trainable were flags[i] (restored after each
** step). NULL: use the layers' own flags. */
LN_API ln_status ln_net_set_trainable(ln_ctx *ctx, ln_net *net,
                                      const int *flags);
/* 1 when the last layer's activation is fused with the loss. */
LN_API int ln_net_fused(const ln_net *net);
LN_API int ln_net_layer_count(const ln_net *net);

/* Low-level steps. forward runs every layer on x (float32, [batch, ...]);
** flags: LN_TRAINING, LN_LOGITS (the last layer skips its activation).
** *y (borrowed, owned by the net) is valid until the next call. x is
** retained until the next forward. */
LN_API ln_status ln_net_forward(ln_ctx *ctx, ln_net *net, ln_tensor *x,
                                unsigned flags, ln_tensor **y);
/* Backpropagates dy (shaped like the last output) with the flags of the
** preceding forward; writes the gradients of trainable weights. With
** need_dx, *dx (borrowed) gets the gradient with respect to x; otherwise
** the walk stops at the first layer with trainable weights. */
LN_API ln_status ln_net_backward(ln_ctx *ctx, ln_net *net,
                                 const ln_tensor *dy, int need_dx,
                                 ln_tensor **dx);

/* Batch rows: idx == NULL takes rows [start, start + n) of x and y;
** otherwise rows idx[start .. start + n). Indices must be < x's first
** size (checked). y may be of any dtype (labels) and is gathered alike. */

/* One training step; *loss gets the batch loss (with regularization). */
LN_API ln_status ln_net_train_batch(ln_ctx *ctx, ln_net *net,
                                    const ln_tensor *x, const ln_tensor *y,
                                    const int64_t *idx, int64_t start,
                                    int64_t n, double *loss);
/* The same in inference mode, without backward. */
LN_API ln_status ln_net_test_batch(ln_ctx *ctx, ln_net *net,
                                   const ln_tensor *x, const ln_tensor *y,
                                   const int64_t *idx, int64_t start,
                                   int64_t n, double *loss);
/* Inference outputs of rows [start, start + n) of x written to rows
** [start, start + n) of out (float32, [N, output shape...]). */
LN_API ln_status ln_net_predict_batch(ln_ctx *ctx, ln_net *net,
                                      const ln_tensor *x, int64_t start,
                                      int64_t n, ln_tensor *out);

/* ---- the fused training step -------------------------------------------------

** The optimizer a training step applies itself, with the (gradient,
** variable) pairs in Keras's order -- what optimizer:apply_gradients gets.
** The net borrows opt and the arrays' contents (names may be NULL); n = 0
** or opt = NULL clears it. Variables are registered with the optimizer (its
** slots created) now, in this order. */
LN_API ln_status ln_net_set_optimizer(ln_ctx *ctx, ln_net *net,
                                      ln_optimizer *opt, int n,
                                      ln_tensor *const *vars,
                                      ln_tensor *const *grads,
                                      const char *const *names);
/* ln_net_train_batch followed by the optimizer's update of every pair, in
** one call; the same numbers as ln_net_train_batch + ln_optimizer_apply.
** Fails with LN_E_STATE when no optimizer is set. */
LN_API ln_status ln_net_train_step(ln_ctx *ctx, ln_net *net,
                                   const ln_tensor *x, const ln_tensor *y,
                                   const int64_t *idx, int64_t start,
                                   int64_t n, double *loss);

/* ---- runs of batches ------------------------------------------------------------

** What fit, evaluate and predict loop over, in one call: batch k (from 0)
** holds rows [start + k*batch, min(start + (k+1)*batch, start + count))
** -- positions in idx when idx != NULL -- so a thread team lives for the
** whole run instead of one batch. A run stops after max_batches batches
** (< 0: no limit), after the first batch that ends more than max_seconds
** (> 0) after the call began (a progress bar's refresh), or at the first
** error (run->batches then counts the batches finished before it). Each
** batch is exactly what the single-batch call would do. */
typedef struct ln_net_run {
    int64_t batches;       /* batches finished */
    int64_t nonfinite;     /* first batch whose loss was NaN or infinite, -1 */
    double nonfinite_loss; /* that loss */
    double loss;           /* the loss of the last batch */
} ln_net_run;

/* Training batches; apply: each batch is a train_step (the optimizer set
** with ln_net_set_optimizer updates the weights), else a train_batch. */
LN_API ln_status ln_net_train_run(ln_ctx *ctx, ln_net *net,
                                  const ln_tensor *x, const ln_tensor *y,
                                  const int64_t *idx, int64_t start,
                                  int64_t count, int64_t batch, int apply,
                                  int64_t max_batches, double max_seconds,
                                  ln_net_run *run);
LN_API ln_status ln_net_test_run(ln_ctx *ctx, ln_net *net, const ln_tensor *x,
                                 const ln_tensor *y, int64_t start,
                                 int64_t count, int64_t batch,
                                 int64_t max_batches, double max_seconds,
                                 ln_net_run *run);
/* Outputs of rows [start, start + count) into the same rows of out. */
LN_API ln_status ln_net_predict_run(ln_ctx *ctx, ln_net *net,
                                    const ln_tensor *x, int64_t start,
                                    int64_t count, int64_t batch,
                                    ln_tensor *out, int64_t max_batches,
                                    double max_seconds, ln_net_run *run);

/* How batches (single ones and runs) use the OpenMP threads:
**   LN_NET_AUTO    (default) measure both ways now and then and keep the
**                  faster (the machine's load decides; results never do);
**   LN_NET_SERIAL  the calling thread runs the layers, kernels fork their
**                  own OpenMP regions above their size thresholds;
**   LN_NET_TEAM    one thread team per run (or single batch,
**                  ln_parallel_region): the calling thread runs the layers
**                  and hands the heavy parts to the team, which waits
**                  spinning in between.
** A team starts only once a batch of the same kind and size ran serially
** (buffers sized). With one OpenMP thread every mode is serial. */
typedef enum ln_net_threading {
    LN_NET_AUTO = 0, LN_NET_SERIAL, LN_NET_TEAM
} ln_net_threading;
LN_API void ln_net_set_threading(ln_net *net, ln_net_threading mode);
/* The way the next batch runs: LN_NET_SERIAL or LN_NET_TEAM. */
LN_API ln_net_threading ln_net_threading_now(const ln_net *net);

/* What the threading did since the net was made or set_threading last
** called: batches run serially and on a team (all kinds), and the AUTO
** probes and their outcomes -- to see what "auto" chose on this machine. */
typedef struct ln_net_threading_stats {
    int64_t serial_batches, team_batches;
    int64_t probes;         /* probes begun */
    int64_t team_chosen;    /* probes that chose the team */
    int64_t serial_chosen;  /* probes that chose serial (early or at the end) */
    int64_t team_dropped;   /* team exploits ended early: slower than serial */
    int64_t stalls_forgiven; /* single team batches over 4 serial batch
                             ** times left out of the team's sum (a rare
                             ** stall of the host, not of the team) */
} ln_net_threading_stats;
LN_API ln_net_threading_stats ln_net_threading_stats_now(const ln_net *net);

/* ---- gradients between backward and the update -------------------------------

** Two optional stages sit between a training batch's backward and the
** optimizer's update (train_step, or the caller's apply after train_batch):
**  - accumulation (ln_net_set_accumulate, k > 1): the gradients of k
**    consecutive training batches are averaged, weighted by their rows, and
**    the update runs once, after the k-th (or at ln_net_flush);
**  - a reducer (ln_net_set_reducer): replaces the gradients -- the mean
**    over this process's rows -- by the mean over every process's rows, the
**    same on every process (data-parallel training: core/mpi).
** The gradients are those backward writes: every weight with a gradient
** tensor of every layer that trains (the compile-time snapshot), in chain
** order. With a stage on, a training batch of 0 rows is allowed: it runs
** no layer and contributes zero gradients with weight 0 (a process whose
** share of a small last batch is empty), and updates are applied after
** backward, never block by block during it. */
typedef struct ln_grad_reducer ln_grad_reducer;
struct ln_grad_reducer {
    /* grads[i] hold the mean gradient over `rows` samples (zeros when rows
    ** is 0); replace them in place by the mean over all processes' samples.
    ** Called at the same step on every process. */
    ln_status (*reduce)(ln_ctx *ctx, ln_grad_reducer *r, int n,
                        ln_tensor *const *grads, int64_t rows);
    /* Optional (all four or none): the same while backward still runs, so
    ** the exchange of the gradients finished first (the last layers')
    ** overlaps the computation of the others. In a training step with the
    ** net's optimizer (train_step, or a run with apply), no accumulation and
    ** the update in pieces allowed:
    **   begin     before backward, with the gradients reduce would get (in
    **             the same order) and this step's rows;
    **   ready     gradient i is final over elements [lo, hi) -- from a
    **             layer's gradient sink, maybe on a team thread, or from the net after
    **             backward for what no layer handed over; every element
    **             exactly once per step;
    **   progress  on the calling thread between two layers' backward: move
    **             the exchanges on (never blocks);
    **   wait      gradient i now holds the mean over all processes (the
    **             net then updates its variable); after backward the net
    **             waits for every gradient.
    ** The numbers are those of reduce, and the processes need not agree on
    ** which of the two ran at a step: both exchange the same messages. */
    ln_status (*begin)(ln_ctx *ctx, ln_grad_reducer *r, int n,
                       ln_tensor *const *grads, int64_t rows);
    void (*ready)(ln_grad_reducer *r, int i, int64_t lo, int64_t hi);
    ln_status (*progress)(ln_ctx *ctx, ln_grad_reducer *r);
    ln_status (*wait)(ln_ctx *ctx, ln_grad_reducer *r, int i);
};
/* NULL: none (the default). Borrowed: the caller keeps r alive. */
LN_API void ln_net_set_reducer(ln_net *net, ln_grad_reducer *r);
/* Batches per update (>= 1; 1, the default, is off). Drops what was
** accumulated and not applied. */
LN_API ln_status ln_net_set_accumulate(ln_ctx *ctx, ln_net *net, int k);
/* Training batches accumulated and not yet applied (0 after an update). */
LN_API int ln_net_pending(const ln_net *net);
/* Finish a partial accumulation now (at an epoch's end): average, reduce
** and, with apply, run the optimizer set with ln_net_set_optimizer;
** without, the gradients are left for the caller's update. Nothing when no
** batch is pending. */
LN_API ln_status ln_net_flush(ln_ctx *ctx, ln_net *net, int apply);

/* The running totals behind ln_net_results, for sums across processes:
** out[2i] = total, out[2i + 1] = count of entry i (0: the loss, then the
** metrics). Returns the number of entries; writes at most max pairs. */
LN_API int ln_net_totals(const ln_net *net, double *out, int max);

/* Per-sample loss weights of output `output` (0-based; 0 for a chain),
** one per row of the data x later given (retained; NULL: unweighted).
** The batch loss becomes sum_i w_i * L_i / batch size (Keras's
** SUM_OVER_BATCH_SIZE) and its gradient follows; metrics stay unweighted
** except those ln_net_set_weighted_metrics names.
** w: float32 vector of finite values >= 0. */
LN_API ln_status ln_net_set_sample_weight(ln_ctx *ctx, ln_net *net, int output,
                                          ln_tensor *w);
/* Which of output `output`'s metrics (as last set, in order) weigh their
** rows by the sample weights (Keras's weighted_metrics): flags[i] != 0.
** Setting the metrics again clears the flags. */
LN_API ln_status ln_net_set_weighted_metrics(ln_ctx *ctx, ln_net *net, int output, int n,
                                             const unsigned char *flags);
/* A batch into a metric's (or a loss averaged as a metric's) running total
** and count; w: one weight per row (Keras's weighted Mean) or NULL. */
LN_API ln_status ln_metric_update_weighted(ln_ctx *ctx, const ln_object *m,
                                           const ln_tensor *pred, const ln_tensor *y,
                                           const float *w, double *total, double *count);

/* Running totals (Keras's stateful Mean metrics), reset per epoch. */
LN_API void ln_net_reset_metrics(ln_net *net);
/* out[0] = mean loss, out[1..] = metric values; returns the count
** (1 + metrics), writing at most max values. NaN before any batch. */
LN_API int ln_net_results(const ln_net *net, double *out, int max);

/* Sum of the regularization losses of the chain's layers. */
LN_API double ln_net_regularization_loss(const ln_net *net);

#endif
