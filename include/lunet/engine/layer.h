/*
** layer.h -- the layer runtime (engine, liblunet_nn), host side: layer
** instances made from registered layer units, their weights, and the shape
** checks around the plugin's ops. Plugins see layers only through the
** accessors of plugin.h.
**
** Ownership: a layer owns its state, its keyword arguments (after create
** they hold the effective config) and its weights (value and gradient
** tensors, borrowed by whoever reads them through the accessors).
*/
#ifndef LUNET_ENGINE_LAYER_H
#define LUNET_ENGINE_LAYER_H

#include "lunet/registry.h"

/* A new layer of unit `unit`; takes ownership of args (even on failure). */
LN_API ln_layer *ln_layer_new(ln_ctx *ctx, const char *unit, ln_args *args);
LN_API void ln_layer_free(ln_layer *l);

LN_API const ln_unit *ln_layer_unit(const ln_layer *l);
LN_API const ln_args *ln_layer_args(const ln_layer *l);
/* The name in messages ("Dense" until set; the model names it "dense_1"). */
LN_API void ln_layer_set_name(ln_layer *l, const char *name);
LN_API void ln_layer_set_trainable(ln_layer *l, int trainable);

/* Build for nin input shapes (without the batch axis), once; a second call
** with other shapes fails naming both. The unit's min/max_inputs are
** checked here. */
LN_API ln_status ln_layer_build(ln_ctx *ctx, ln_layer *l, int nin,
                                const ln_shape *in);
LN_API int ln_layer_built(const ln_layer *l);
LN_API int ln_layer_output_count(const ln_layer *l);
LN_API const ln_shape *ln_layer_input_shape(const ln_layer *l, int i);
LN_API const ln_shape *ln_layer_output_shape(const ln_layer *l, int i);

/* Checks the nin inputs against the built shapes (building on first use;
** the message names the layer and both shapes), sizes the outputs y, runs
** the plugin. */
LN_API ln_status ln_layer_forward(ln_ctx *ctx, ln_layer *l, int nin,
                                  const ln_tensor *const *x,
                                  ln_tensor *const *y, unsigned flags);
/* Sizes the input gradients dx (NULL entries: not wanted), runs the
** plugin with the sink (NULL: no early update), adds the regularization
** gradients. Forward with the same flags ran just before. */
/* A host flag of ln_layer_backward: leave the regularization gradient out
** (the second and later backward of a layer a graph runs several times;
** the plugin never sees it). */
#define LN_SKIP_REG 0x100u
/* A host flag of ln_layer_forward and ln_layer_backward: for a layer whose
** ops say it is a view (plugin.h, is_view), y[0] becomes an alias of x[0]
** (dx[0] of dy[0]; ln_tensor_alias) instead of a copy. The caller undoes
** the aliases (ln_tensor_unalias) before the aliased buffers are resized
** for the next batch, and never hands them out (a Sequential's inner
** layers, net_chain.c; a graph's nodes that are no model output,
** net_graph.c). */
#define LN_MAY_VIEW 0x200u
LN_API ln_status ln_layer_backward(ln_ctx *ctx, ln_layer *l,
                                   const ln_tensor *const *x,
                                   const ln_tensor *const *y,
                                   const ln_tensor *const *dy,
                                   ln_tensor *const *dx, ln_grad_sink *sink,
                                   unsigned flags);
/* The single-input, single-output case, for hosts and tests. */
LN_API ln_status ln_layer_forward1(ln_ctx *ctx, ln_layer *l,
                                   const ln_tensor *x, ln_tensor *y,
                                   unsigned flags);
LN_API ln_status ln_layer_backward1(ln_ctx *ctx, ln_layer *l,
                                    const ln_tensor *x, const ln_tensor *y,
                                    const ln_tensor *dy, ln_tensor *dx,
                                    unsigned flags);

/* For wrappers (TimeDistributed), inside build: add to l weight w of src,
** a layer l owns and runs itself, as l's next weight -- the same value and
** gradient tensors (shared), name, trainability and regularization. The
** wrapper then runs src's backward with LN_SKIP_REG (l's adds it). */
LN_API ln_status ln_layer_share_weight(ln_ctx *ctx, ln_layer *l,
                                       const ln_layer *src, int w);

/* Weights: name ("kernel"), trainable by nature, regularization. */
LN_API const char *ln_layer_weight_name(const ln_layer *l, int w);
LN_API int ln_layer_weight_trainable(const ln_layer *l, int w);
/* Weight w's regularization factors (0, 0: none). */
LN_API void ln_layer_regularizer(const ln_layer *l, int w, double *l1,
                                 double *l2);
/* Whether some weight takes gradients (the layer trainable too). */
LN_API int ln_layer_has_trainable(const ln_layer *l);
LN_API double ln_layer_regularization_loss(const ln_layer *l);
LN_API const char *ln_layer_output_activation(const ln_layer *l);
/* The unit's reset_states, if it has one (Keras's layer.reset_states()). */
LN_API void ln_layer_reset_states(ln_layer *l);
/* Masks (Keras 2): the engine hands a layer the mask of its input 0
** (borrowed until the next call; NULL: none) before forward -- for that
** one forward: a forward without it has none; after forward the layer's
** output mask is ln_layer_output_mask (NULL: none). */
LN_API void ln_layer_set_input_mask(ln_layer *l, const ln_tensor *mask);
/* The masks of all the inputs (graphs; masks[i] NULL: input i has none):
** the array is borrowed until the next call, as the masks. */
LN_API void ln_layer_set_input_masks(ln_layer *l, const ln_tensor *const *masks);
LN_API const ln_tensor *ln_layer_output_mask(const ln_layer *l);
/* Whether the layer's ops can compute a mask (compute_mask op). */
LN_API int ln_layer_supports_mask(const ln_layer *l);

#endif
