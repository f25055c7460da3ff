/*
** net_graph.h -- a net whose layers form a graph (Keras's functional
** models): several inputs, several outputs, layers with several inputs
** and outputs, tensors that feed several layers, layers applied more than
** once (shared weights). Same object as the chain (lunet/engine/net.h):
** once ln_net_set_graph has been called the net runs the graph in
** forward, the batch runs, the optimizer's update and the metric totals;
** ln_net_set_layers makes it a chain again.
**
** Tensors are numbered: 0 .. ninputs-1 are the model's inputs, then the
** outputs of each node in node order (a node with k outputs numbers k
** tensors). Nodes come in an order where every input of a node is a model
** input or an output of an EARLIER node (a topological order; checked), so
** a graph can have no cycle. Layers must be built for their inputs.
**
** Backward walks the nodes in reverse; where a tensor feeds several nodes
** its gradient is the sum of theirs, added in that fixed order (results do
** not depend on the thread count); a layer used by several nodes sums its
** weight gradients the same way (its regularization counted once).
** Buffers: one value and one gradient per tensor, one input-gradient
** scratch per node input, sized on the first batch and reused.
**
** Ownership: as for the chain, the net BORROWS layers, losses and metrics.
*/
#ifndef LUNET_ENGINE_NET_GRAPH_H
#define LUNET_ENGINE_NET_GRAPH_H

#include "lunet/engine/net.h"

#define LN_GRAPH_MAX_IO 64 /* model inputs or outputs */

typedef struct ln_net_node {
    int layer;     /* index into the layers given to ln_net_set_graph */
    int nin;       /* inputs (the layer's output count gives its outputs) */
    const int *in; /* tensor numbers, nin of them */
} ln_net_node;

/* The graph: nlayers distinct layers (each built; Keras's model.layers
** order), nnodes nodes in topological order, the model's output tensors.
** Fails naming the node and layer when the order or a count is wrong. */
LN_API ln_status ln_net_set_graph(ln_ctx *ctx, ln_net *net, int nlayers,
                                  ln_layer *const *layers, int ninputs,
                                  int nnodes, const ln_net_node *nodes,
                                  int noutputs, const int *outputs);
LN_API int ln_net_is_graph(const ln_net *net);
LN_API int ln_net_graph_outputs(const ln_net *net);

/* Output k's loss (borrowed; NULL: that output is not trained) and its
** weight in the total loss (Keras's loss_weights), and its metrics. */
LN_API ln_status ln_net_set_output_loss(ln_ctx *ctx, ln_net *net, int k,
                                        ln_object *loss, double weight);
LN_API ln_status ln_net_set_output_metrics(ln_ctx *ctx, ln_net *net, int k,
                                           int n, ln_object *const *metrics);

/* The data of a graph run: one tensor per model input (x, float32, same
** first size), one per output (y, any dtype; NULL entries for outputs
** without a loss), and for predict one destination per output. */
typedef struct ln_net_io {
    int nx;
    const ln_tensor *const *x;
    int ny;
    const ln_tensor *const *y;
    ln_tensor *const *out;
} ln_net_io;

/* Runs of batches, as ln_net_train_run / test_run / predict_run. */
LN_API ln_status ln_net_graph_train_run(ln_ctx *ctx, ln_net *net,
                                        const ln_net_io *io,
                                        const int64_t *idx, int64_t start,
                                        int64_t count, int64_t batch,
                                        int apply, int64_t max_batches,
                                        double max_seconds, ln_net_run *run);
LN_API ln_status ln_net_graph_test_run(ln_ctx *ctx, ln_net *net,
                                       const ln_net_io *io, int64_t start,
                                       int64_t count, int64_t batch,
                                       int64_t max_batches,
                                       double max_seconds, ln_net_run *run);
LN_API ln_status ln_net_graph_predict_run(ln_ctx *ctx, ln_net *net,
                                          const ln_net_io *io, int64_t start,
                                          int64_t count, int64_t batch,
                                          int64_t max_batches,
                                          double max_seconds,
                                          ln_net_run *run);

/* Low level: forward on whole tensors x[0..nx) (flags: LN_TRAINING);
** y[k] (borrowed, net-owned) gets output k, valid until the next call. */
LN_API ln_status ln_net_graph_forward(ln_ctx *ctx, ln_net *net, int nx,
                                      const ln_tensor *const *x,
                                      unsigned flags, ln_tensor **y);

/* Results of a graph: [total loss, (with several outputs) the loss of
** each output, then each output's metrics in output order]; returns the
** count, writes at most max. */
LN_API int ln_net_graph_results(const ln_net *net, double *out, int max);

#endif
