/*
** reducer.h -- the MPI gradient reducer (private to the lunet.mpi module):
** an ln_grad_reducer (engine/net.h) whose reduce averages a step's
** gradients across ranks, weighted by rows, in one fused allreduce.
** Owned by its Lua userdata (lua_mpi.c); a net borrows it.
*/
#ifndef LUNET_MPI_REDUCER_H
#define LUNET_MPI_REDUCER_H

#include "lunet/engine/net.h"
#include "comm.h"

typedef struct lnm_reducer {
    ln_grad_reducer base; /* first: the net sees this */
    lnm_seg *segs;        /* the gradients as one vector */
    int cap;
    lnm_stats stats;      /* reduce calls: seconds (packing included), bytes sent */
    double wait_seconds;  /* of which in the allreduce itself */
} lnm_reducer;

lnm_reducer *lnm_reducer_new(void);
/* n float32 tensors reduced in place as one vector end to end
** (lnm_allreduce_segs; *segs grown to *cap entries). */
ln_status lnm_allreduce_list(ln_ctx *ctx, lnm_seg **segs, int *cap, int n,
                             ln_tensor *const *ts, int op, int64_t rows);
void lnm_reducer_free(lnm_reducer *r);

#endif
