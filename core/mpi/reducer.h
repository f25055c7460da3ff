/*
** reducer.h -- the MPI gradient reducer (private to the lunet.mpi module):
** an ln_grad_reducer (engine/net.h) that averages a step's gradients
** across ranks, weighted by rows. The gradients are one vector end to end,
** cut in buckets of BUCKET_FLOATS; each bucket is one allreduce, started
** (in a fixed order: the last bucket first) as soon as backward has handed
** all of it over, so with overlap on the exchange of the last layers'
** gradients runs while the first layers' backward computes. reduce (after
** backward) sends the very same messages, so ranks may mix both.
** Owned by its Lua userdata (lua_mpi.c); a net borrows it.
*/
#ifndef LUNET_MPI_REDUCER_H
#define LUNET_MPI_REDUCER_H

#include <stdatomic.h>

#include "lunet/engine/net.h"
#include "comm.h"

typedef struct lnm_bucket {
    int64_t off, n;            /* elements [off, off + n) of the vector */
    _Atomic int64_t covered;   /* of which final (ready) */
    int started, done;
    lnm_ar ar;
} lnm_bucket;

typedef struct lnm_reducer {
    ln_grad_reducer base; /* first: the net sees this */
    lnm_seg *segs;        /* the gradients as one vector */
    int64_t *at;          /* the first element of each segment */
    int nsegs, cap;
    lnm_bucket *b;        /* this step's buckets */
    int nb, capb, next;   /* buckets [next, nb) are started */
    int64_t rows;
    lnm_stats stats;      /* steps: seconds in the reducer's calls, bytes sent */
    double wait_seconds;  /* of which blocked in wait (the exposed exchange) */
    int64_t overlapped;   /* steps whose exchange began during backward */
} lnm_reducer;

lnm_reducer *lnm_reducer_new(void);
/* With overlap on (the default) the net hands gradients over during
** backward (begin/ready/progress/wait); off, it calls reduce after. */
void lnm_reducer_overlap(lnm_reducer *r, int on);
int lnm_reducer_overlapping(const lnm_reducer *r);
/* n float32 tensors reduced in place as one vector end to end
** (lnm_allreduce_segs; *segs grown to *cap entries). */
ln_status lnm_allreduce_list(ln_ctx *ctx, lnm_seg **segs, int *cap, int n,
                             ln_tensor *const *ts, int op, int64_t rows);
void lnm_reducer_free(lnm_reducer *r);

#endif
