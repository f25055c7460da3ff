/*
** huber.c -- Keras Huber(delta=1.0): per element, with e = p - y,
**     0.5 e^2                   for |e| <= delta
**     delta |e| - 0.5 delta^2   otherwise,
** mean over the last axis, then over the batch. Gradient e inside,
** delta sign(e) outside, divided by the element count.
*/
#include "lunet/plugin_loss.h"

#define WHO "huber"

typedef struct huber_state {
    double delta;
} huber_state;

/* Read delta (default 1.0, must be >= 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    huber_state *s = state;
    ln_status st = ln_args_number(ctx, args, "delta", 1.0, &s->delta);
    if (st) return st;
    if (!(s->delta >= 0) || !isfinite(s->delta))
        return ln_fail(ctx, LN_E_ARG,
                       "'delta' must be a finite number >= 0, got %g",
                       s->delta);
    return LN_OK;
}

/* One row: the mean of its elements' losses; writes their gradients. */
static double row(const void *arg, int64_t r) {
    const ls_elem_job *j = arg;
    int64_t base = r * j->cols;
    double sum = 0, d = j->param;
    for (int64_t c = 0; c < j->cols; c++) {
        double e = (double)j->p[base + c] - ls_value(j->y, base + c);
        double a = fabs(e), g;
        if (a <= d) {
            sum += 0.5 * e * e;
            g = e;
        } else {
            sum += d * a - 0.5 * d * d;
            g = e > 0 ? d : -d;
        }
        if (j->dp) j->dp[base + c] = (float)(g * j->inv_n);
    }
    return sum / (double)j->cols;
}

/* Check shapes, then the mean over rows of the row losses. */
static ln_status compute(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y, int logits, double *loss,
                         ln_tensor *dpred) {
    const huber_state *s = state;
    return ls_elem_compute(ctx, WHO, pred, y, logits, loss, dpred, s->delta,
                           row);
}

static const ln_loss_ops ops = {
    .size = sizeof(ln_loss_ops),
    .state_size = sizeof(huber_state),
    .create = create,
    .compute = compute,
};
static const ln_unit unit = {
    .kind = LN_KIND_LOSS,
    .name = WHO,
    .class_name = "Huber",
    .version = 1,
    .summary = "Huber loss (delta 1.0)",
    .ops = &ops,
};

LN_PLUGIN(WHO) { return host->add(host, &unit); }
