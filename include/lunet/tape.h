/*
** tape.h -- reverse-mode automatic differentiation: the gradient tape.
**
** A tape records, while it is recording, every operation whose inputs it
** tracks: the operation's code, its input and output tensors (retained)
** and its parameters form a node. A tensor is tracked when it was watched
** (ln_tape_watch), when it is a trainable variable (ln_tape_mark_variable)
** and the tape watches accessed variables (the default), or when a
** recorded node produced it. ln_tape_gradient walks the nodes backwards
** from targets to sources, calling each operation's gradient function in
** C; a non-persistent tape can give one set of gradients, after which it
** releases everything it holds.
**
** Who records: whoever computes an operation on tensors calls
** ln_tape_record with the inputs and outputs once they exist -- the Lua
** binding does it for every tensor method, the gradient functions do it
** for the operations they compute, so a tape recording while another
** tape's gradient is computed sees those operations too (gradients of
** gradients). ln_tape_active() is 0 when no tape records: callers skip
** all tape work then (one load).
**
** Nesting: any number of tapes may record at once (ln_tape_begin/end
** bracket a recording; they nest); an operation is recorded on each
** recording tape that tracks one of its inputs. While a tape computes its
** own gradient it does not record.
**
** Units: activation, loss and layer units are differentiated by their own
** backward (plugin.h), once: the gradient of such a gradient is refused
** with a message naming the unit. Layer nodes remember the generator
** state of their forward; when the layer ran another forward since (it
** keeps per-call buffers, such as Dense's pre-activation or Dropout's
** mask), its backward first runs the forward again with that state --
** restoring the layer's non-trainable weights (BatchNormalization's moving
** statistics) around it -- so a layer may be called any number of times
** on one tape.
**
** In-place writes: the binding bumps a storage's version on every in-place
** write; a node remembers the versions of its tensors, and the gradient
** refuses a node whose inputs or outputs were written since it was
** recorded (naming the operation).
**
** Ownership: ln_tape_new returns a tape the caller frees with
** ln_tape_free; the tape retains the tensors it records and releases them
** when it is freed, reset, or (non-persistent) after its gradient.
** Gradients returned are new references the caller releases. Units
** (params.unit) are borrowed: keep them alive while a tape holds their
** nodes (the Lua binding anchors their objects in the tape). Tapes and
** recording are not thread-safe (like the rest of tensor creation).
*/
#ifndef LUNET_TAPE_H
#define LUNET_TAPE_H

#include "lunet/plugin.h"
#include "lunet/tensor_ops.h"

typedef struct ln_tape ln_tape;

/* Operation codes. Inputs are tensors or, where a number may stand for
** one, NULL with the number in p[0] (binary operations: i[0] bit 0 = the
** first operand is the number, bit 1 = the second). */
typedef enum ln_tape_opcode {
    /* elementwise, numpy broadcasting: x0 op x1 */
    LN_OP_ADD, LN_OP_SUB, LN_OP_MUL, LN_OP_DIV, LN_OP_POW, LN_OP_MOD,
    LN_OP_MAXIMUM, LN_OP_MINIMUM,
    /* unary */
    LN_OP_NEG, LN_OP_ABS, LN_OP_EXP, LN_OP_LOG, LN_OP_SQRT, LN_OP_SQUARE,
    LN_OP_TANH, LN_OP_SIGMOID,
    LN_OP_CLAMP,    /* p[0] lo, p[1] hi */
    LN_OP_AFFINE,   /* y = p[0] x + p[1] */
    LN_OP_WHERE,    /* aux the condition; x0, x1 the branches (or numbers
                       p[0], p[1] with i[0] bits as for binary operations) */
    /* reductions: i[0] dim (-1: every element, a 0-d result), i[1] keepdim */
    LN_OP_SUM, LN_OP_MEAN,
    LN_OP_MAX, LN_OP_MIN, /* aux: 0-based int32 positions along dim (dim
                             >= 0; shaped like the output), or the flat
                             position (dim -1) */
    LN_OP_NORM,           /* p[0] the order (INFINITY: max |x|) */
    LN_OP_LOGSUMEXP,
    LN_OP_SOFTMAX, LN_OP_LOG_SOFTMAX, /* i[0] dim */
    /* shapes and indexing */
    LN_OP_RESHAPE,        /* any view with x0's elements in order */
    LN_OP_REGION,         /* i[0] nd, i[1] offset, i[2..9] shape,
                             i[10..17] strides (an ln_region of x0) */
    LN_OP_PERMUTE,        /* i[0..nd) the permutation */
    LN_OP_INDEX,          /* i[0] dim, aux int32 0-based positions */
    LN_OP_GATHER,         /* i[0] dim, aux int32 0-based positions */
    LN_OP_MASKED_SELECT,  /* aux the uint8 mask */
    LN_OP_CAT,            /* i[0] dim; n inputs */
    LN_OP_STACK,          /* i[0] dim; n inputs */
    LN_OP_CLONE,
    LN_OP_MATMUL,         /* i[0] transpose x0, i[1] transpose x1 */
    /* adjoints (what gradients are made of; differentiable in turn) */
    LN_OP_SUM_TO,         /* x0 summed down to y's shape */
    LN_OP_EXPAND,         /* x0 broadcast to y's shape */
    LN_OP_SCATTER_ADD,    /* i[0] dim, aux int32 0-based positions */
    LN_OP_INDEX_ADD,      /* i[0] dim, aux int32 0-based positions */
    LN_OP_MASKED_SCATTER, /* aux the uint8 mask */
    LN_OP_REGION_SCATTER, /* region as LN_OP_REGION, into zeros of y's shape */
    /* units, differentiable once: unit points at the instance */
    LN_OP_ACTIVATION,     /* ln_activation; rows are the leading dims */
    LN_OP_LOSS,           /* ln_object (loss); aux y_true, i[0] logits;
                             y the 0-d batch mean */
    LN_OP_LOSS_PER_SAMPLE,/* the same; y the (N,) per-sample losses */
    LN_OP_LAYER,          /* ln_layer; x0..x(i[5]-1) its inputs, then its
                             trainable weights; y its outputs; i[0] flags,
                             i[1..2] the generator state before the
                             forward, i[3] the stamp, i[4] the net epoch */
    LN_OP_REGULARIZATION, /* ln_layer; x.. its regularized weights; y 0-d */
    /* anything a gradient must not pass: name says what */
    LN_OP_NONDIFF,
    LN_OP_COUNT
} ln_tape_opcode;

#define LN_TAPE_MAX_INTS 20

typedef struct ln_tape_params {
    double p[4];                  /* numbers */
    int64_t i[LN_TAPE_MAX_INTS];  /* dims, flags, permutations, regions */
    const void *unit;             /* the unit instance (not owned) */
    ln_tensor *aux;               /* a saved tensor (retained by the node) */
    const char *name;             /* LN_OP_NONDIFF: the operation, for
                                     messages (static storage) */
} ln_tape_params;

/* Store region r into p as LN_OP_REGION expects it. */
LN_API void ln_tape_params_region(ln_tape_params *p, const ln_region *r);

/* ---- tapes ------------------------------------------------------------------ */

/* persistent: gradients may be asked more than once. watch_variables:
** variables used while recording are tracked without ln_tape_watch. */
LN_API ln_tape *ln_tape_new(ln_ctx *ctx, int persistent, int watch_variables);
LN_API void ln_tape_free(ln_tape *tape); /* NULL is fine */
/* Forget every node and tracked tensor (the tape can record anew). */
LN_API void ln_tape_reset(ln_tape *tape);

/* Start / stop recording on this tape (they nest: a tape records while
** its begins outnumber its ends). */
LN_API ln_status ln_tape_begin(ln_ctx *ctx, ln_tape *tape);
LN_API void ln_tape_end(ln_tape *tape);
/* Stop / resume recording on this tape alone (tf's stop_recording). */
LN_API void ln_tape_hold(ln_tape *tape, int on);
/* Pause / resume all recording (tf.GradientTape.stop_recording, and the
** operations a gradient computes for its own bookkeeping). They nest. */
LN_API void ln_tape_pause(void);
LN_API void ln_tape_resume(void);

/* Number of tapes recording now (0 when paused). */
LN_API int ln_tape_active(void);
LN_API int ln_tape_is_recording(const ln_tape *tape);
/* Track t on this tape (a float32 tensor; others are refused). */
LN_API ln_status ln_tape_watch(ln_ctx *ctx, ln_tape *tape, ln_tensor *t);
/* Whether t is tracked by this tape / by any recording tape. */
LN_API int ln_tape_tracks(const ln_tape *tape, const ln_tensor *t);
LN_API int ln_tape_any_tracks(const ln_tensor *t);
/* Tracked leaves (watched tensors and variables) in the order first seen;
** *n gets the count. Borrowed, valid until the tape changes. */
LN_API ln_tensor *const *ln_tape_watched(const ln_tape *tape, int *n);
LN_API int ln_tape_node_count(const ln_tape *tape);

/* Record an operation on every recording tape that tracks one of its
** inputs (a no-op when none does). x[i] may be NULL for a number operand;
** y are the outputs (float32). */
LN_API ln_status ln_tape_record(ln_ctx *ctx, ln_tape_opcode op, int nin,
                                ln_tensor *const *x, int nout,
                                ln_tensor *const *y, const ln_tape_params *p);

/* Gradients of sum_k sum(seeds[k] * targets[k]) with respect to each
** source: grads[i] gets a new tensor shaped like sources[i], or NULL when
** the targets do not depend on it (through tracked operations). seeds may
** be NULL, and entries NULL, for ones. Fails (naming the cause) on integer
** targets or sources, a seed of another shape, a non-differentiable
** operation between a source and a target, a tensor written in place
** since it was recorded, or a second use of a non-persistent tape. */
LN_API ln_status ln_tape_gradient(ln_ctx *ctx, ln_tape *tape, int ntargets,
                                  ln_tensor *const *targets,
                                  ln_tensor *const *seeds, int nsources,
                                  ln_tensor *const *sources, ln_tensor **grads);

/* ---- variables ---------------------------------------------------------------- */

/* Mark t as a variable (tracked by every tape that watches variables,
** once used while it records) or unmark it (trainable = 0): the flag
** LN_TENSOR_VARIABLE of this tensor object (not of its views). */
LN_API ln_status ln_tape_mark_variable(ln_ctx *ctx, ln_tensor *t, int trainable);
LN_API int ln_tape_is_variable(const ln_tensor *t);

/* ---- in-place writes and layers ------------------------------------------------- */

/* Note an in-place write of t's storage (see above). */
LN_API void ln_tape_note_write(ln_tensor *t);
/* Note a forward of a layer outside the tape (the low-level layer API, a
** net): the tape's layer nodes recompute before their backward. l NULL:
** any layer (a whole net). */
LN_API void ln_tape_note_layer_forward(const ln_layer *l);
/* Run layer l on its nx inputs x (building it for their shapes first if
** needed) into new tensors y[0..*ny) (room for LN_MAX_OUTPUTS; flags as
** ln_layer_forward) and record it (with its trainable weights marked as
** variables). */
#define LN_TAPE_MAX_LAYER_INPUTS 32
LN_API ln_status ln_tape_layer_call(ln_ctx *ctx, ln_layer *l, int nx,
                                    ln_tensor *const *x, unsigned flags,
                                    int *ny, ln_tensor **y);
/* The same for one input, keeping the first output only. */
LN_API ln_status ln_tape_layer_forward(ln_ctx *ctx, ln_layer *l,
                                       ln_tensor *x, unsigned flags,
                                       ln_tensor **y);
/* The layer's regularization penalty as a new 0-d tensor, recorded. */
LN_API ln_tensor *ln_tape_layer_regularization(ln_ctx *ctx, ln_layer *l);

#endif
