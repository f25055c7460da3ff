/*
** reducer.c -- the gradient reducer a net calls between backward and the
** optimizer's update (ln_grad_reducer, engine/net.h): the gradients of one
** step, taken end to end as one vector (one fused allreduce instead of one
** per tensor: a round of messages is paid once, and nothing is copied into
** a buffer), averaged across ranks weighted by each rank's rows.
*/
#include <stdlib.h>
#include <string.h>

#include "reducer.h"

ln_status lnm_allreduce_list(ln_ctx *ctx, lnm_seg **segs, int *cap, int n,
                             ln_tensor *const *ts, int op, int64_t rows) {
    if (n > *cap) {
        lnm_seg *p = realloc(*segs, (size_t)n * sizeof *p);
        if (!p) return ln_fail(ctx, LN_E_NOMEM, "allreduce: out of memory");
        *segs = p;
        *cap = n;
    }
    for (int i = 0; i < n; i++) {
        if (ts[i]->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "allreduce: tensor %d is %s, not float32", i + 1,
                           ln_dtype_name(ts[i]->dtype));
        (*segs)[i].p = ln_f32(ts[i]);
        (*segs)[i].n = ts[i]->numel;
    }
    return lnm_allreduce_segs(ctx, *segs, n, op, rows);
}

static ln_status reduce(ln_ctx *ctx, ln_grad_reducer *base, int n,
                        ln_tensor *const *grads, int64_t rows) {
    lnm_reducer *r = (lnm_reducer *)base;
    double t0 = ln_time();
    lnm_stats before = lnm_get_stats();
    ln_status st = lnm_allreduce_list(ctx, &r->segs, &r->cap, n, grads, LNM_SUM, rows);
    if (st) return st;
    lnm_stats after = lnm_get_stats();
    r->stats.seconds += ln_time() - t0;
    r->stats.calls++;
    r->stats.bytes += after.bytes - before.bytes;
    r->wait_seconds += after.seconds - before.seconds;
    return LN_OK;
}

lnm_reducer *lnm_reducer_new(void) {
    lnm_reducer *r = calloc(1, sizeof *r);
    if (r) r->base.reduce = reduce;
    return r;
}

void lnm_reducer_free(lnm_reducer *r) {
    if (!r) return;
    free(r->segs);
    free(r);
}
