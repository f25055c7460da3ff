/*
** reducer.c -- the gradient reducer a net calls between backward and the
** optimizer's update (ln_grad_reducer, engine/net.h): the gradients of one
** step, packed end to end into one buffer (one fused allreduce instead of
** one per tensor: a message's latency is paid once), averaged across
** ranks weighted by each rank's rows, unpacked.
*/
#include <stdlib.h>
#include <string.h>

#include "reducer.h"

ln_status lnm_allreduce_list(ln_ctx *ctx, float **buf, int64_t *cap, int n,
                             ln_tensor *const *ts, int op, int64_t rows) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ts[i]->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "allreduce: tensor %d is %s, not float32", i + 1,
                           ln_dtype_name(ts[i]->dtype));
        total += ts[i]->numel;
    }
    if (total > *cap) {
        float *b = realloc(*buf, (size_t)total * sizeof *b);
        if (!b) return ln_fail(ctx, LN_E_NOMEM, "allreduce: out of memory");
        *buf = b;
        *cap = total;
    }
    float *p = *buf;
    for (int i = 0; i < n; i++) {
        memcpy(p, ln_data(ts[i]), (size_t)ts[i]->numel * sizeof *p);
        p += ts[i]->numel;
    }
    ln_status st = lnm_allreduce_f32(ctx, *buf, total, op, rows);
    if (st) return st;
    p = *buf;
    for (int i = 0; i < n; i++) {
        memcpy(ln_data(ts[i]), p, (size_t)ts[i]->numel * sizeof *p);
        p += ts[i]->numel;
    }
    return LN_OK;
}

static ln_status reduce(ln_ctx *ctx, ln_grad_reducer *base, int n,
                        ln_tensor *const *grads, int64_t rows) {
    lnm_reducer *r = (lnm_reducer *)base;
    double t0 = ln_time();
    lnm_stats before = lnm_get_stats();
    ln_status st = lnm_allreduce_list(ctx, &r->buf, &r->cap, n, grads, LNM_SUM, rows);
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
    free(r->buf);
    free(r);
}
