/*
** tape_impl.h -- private to the tape*.c files: recorded nodes, the table
** of gradient functions, and the differentiable primitives gradients are
** written with.
**
** A gradient function gets a node and the gradients of its outputs
** (gout[j] NULL: zero) and writes new tensors into gin[i] for the inputs
** with need[i] (leaving NULL for no contribution). It computes with the
** tp_* primitives below, each of which records itself when a tape records,
** so gradients are differentiable in turn; quantities that are constant
** almost everywhere (masks, signs) are computed with plain kernels.
*/
#ifndef LUNET_TAPE_IMPL_H
#define LUNET_TAPE_IMPL_H

#include "lunet/tape.h"
#include "lunet/tensor_nn.h"

typedef struct tape_node {
    ln_tape_opcode op;
    int nin, nout;
    ln_tensor **x, **y;  /* retained; x[i] NULL for a number operand */
    int32_t *xid, *yid;  /* value ids on this tape, -1 when not tracked */
    uint32_t *ver;       /* storage versions of x then y when recorded */
    ln_tape_params p;    /* p.aux retained */
} tape_node;

/* The tape (tape.c; the walk is tape_walk.c). */
typedef struct tape_value {
    ln_tensor *t;  /* retained */
    int32_t node;  /* producer, -1 for a leaf (watched or variable) */
} tape_value;

struct ln_tape {
    int persistent, watch_vars, consumed;
    int depth;     /* begins minus ends */
    int suspended; /* computing its own gradient */
    int held;      /* stop_recording calls in progress */
    tape_value *vals;
    int32_t nval, capval;
    int32_t *slots; /* open addressing: value id + 1, 0 empty */
    uint32_t nslots;
    tape_node **nodes;
    int32_t nnode, capnode;
    ln_tensor **leaves; /* scratch for ln_tape_watched */
};

/* The value id of t on tp, or -1. */
int32_t tp_map_get(const ln_tape *tp, const ln_tensor *t);
/* Put tp in the recording list exactly when it records. */
void tp_relist(ln_tape *tp);

typedef ln_status (*tape_grad_fn)(ln_ctx *ctx, const tape_node *n,
                                  ln_tensor *const *gout, const int *need,
                                  ln_tensor **gin);

typedef struct tape_op_info {
    const char *name;
    tape_grad_fn grad; /* NULL: not differentiable */
    int once;          /* a unit: its gradient is not differentiable */
} tape_op_info;

extern const tape_op_info ln_tape_ops[LN_OP_COUNT];

/* A node's name for messages: the op's, or p.name for LN_OP_NONDIFF, or
** the unit's. */
const char *tp_node_name(const tape_node *n);

/* ---- differentiable primitives (new tensors; recorded when a tape does) ---- */

ln_tensor *tp_binary(ln_ctx *ctx, ln_tape_opcode op, ln_tensor *a,
                     ln_tensor *b); /* ADD SUB MUL DIV POW MAXIMUM MINIMUM */
ln_tensor *tp_unary(ln_ctx *ctx, ln_tape_opcode op, ln_tensor *x);
ln_tensor *tp_affine(ln_ctx *ctx, ln_tensor *x, double a, double b);
ln_tensor *tp_pow_scalar(ln_ctx *ctx, ln_tensor *x, double e);
ln_tensor *tp_where(ln_ctx *ctx, ln_tensor *cond, ln_tensor *a, double sa,
                    ln_tensor *b, double sb);
ln_tensor *tp_sum_to(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape);
ln_tensor *tp_expand(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape);
ln_tensor *tp_sum(ln_ctx *ctx, ln_tensor *x, int dim, int keepdim);
ln_tensor *tp_reshape(ln_ctx *ctx, ln_tensor *x, int nd, const int64_t *shape);
ln_tensor *tp_permute(ln_ctx *ctx, ln_tensor *x, const int *perm);
ln_tensor *tp_matmul(ln_ctx *ctx, ln_tensor *a, ln_tensor *b, int ta, int tb);
ln_tensor *tp_region(ln_ctx *ctx, ln_tensor *x, const ln_region *r);
ln_tensor *tp_region_scatter(ln_ctx *ctx, ln_tensor *src, const ln_region *r,
                             int nd, const int64_t *shape);
ln_tensor *tp_gather(ln_ctx *ctx, ln_tensor *x, int dim, ln_tensor *idx);
ln_tensor *tp_scatter_add(ln_ctx *ctx, ln_tensor *src, int dim,
                          ln_tensor *idx, int nd, const int64_t *shape);
ln_tensor *tp_index(ln_ctx *ctx, ln_tensor *x, int dim, ln_tensor *idx);
ln_tensor *tp_index_add(ln_ctx *ctx, ln_tensor *src, int dim, ln_tensor *idx,
                        int nd, const int64_t *shape);
ln_tensor *tp_masked_select(ln_ctx *ctx, ln_tensor *x, ln_tensor *mask);
ln_tensor *tp_masked_scatter(ln_ctx *ctx, ln_tensor *src, ln_tensor *mask,
                             int nd, const int64_t *shape);

/* After a gradient function: when an input it had to give a gradient for
** has none (a failure), release them all and return the failure. */
ln_status tp_check_grads(ln_ctx *ctx, int nin, const int *need, ln_tensor **gin);

/* Record one node with one output (a shorthand of ln_tape_record). */
ln_status tp_record1(ln_ctx *ctx, ln_tape_opcode op, int nin,
                     ln_tensor *const *x, ln_tensor *y,
                     const ln_tape_params *p);

/* The region stored in p by ln_tape_params_region. */
void tp_region_from_params(const ln_tape_params *p, ln_region *r);

/* ---- gradient functions (tape_grad*.c, tape_units.c) ------------------------ */

ln_status tp_grad_binary(ln_ctx *, const tape_node *, ln_tensor *const *,
                         const int *, ln_tensor **);
ln_status tp_grad_unary(ln_ctx *, const tape_node *, ln_tensor *const *,
                        const int *, ln_tensor **);
ln_status tp_grad_where(ln_ctx *, const tape_node *, ln_tensor *const *,
                        const int *, ln_tensor **);
ln_status tp_grad_reduce(ln_ctx *, const tape_node *, ln_tensor *const *,
                         const int *, ln_tensor **);
ln_status tp_grad_softmax(ln_ctx *, const tape_node *, ln_tensor *const *,
                          const int *, ln_tensor **);
ln_status tp_grad_shape(ln_ctx *, const tape_node *, ln_tensor *const *,
                        const int *, ln_tensor **);
ln_status tp_grad_index(ln_ctx *, const tape_node *, ln_tensor *const *,
                        const int *, ln_tensor **);
ln_status tp_grad_matmul(ln_ctx *, const tape_node *, ln_tensor *const *,
                         const int *, ln_tensor **);
ln_status tp_grad_unit(ln_ctx *, const tape_node *, ln_tensor *const *,
                       const int *, ln_tensor **);

#endif
