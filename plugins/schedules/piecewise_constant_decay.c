/*
** piecewise_constant_decay.c --
** tf.keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values):
**
**   lr(step) = values[k], k = the number of boundaries strictly below step
**
** so values[1] (Lua's first) holds up to and including boundaries[1], and
** the last value holds after the last boundary. #values = #boundaries + 1;
** boundaries must be increasing. Both lists are required (also by position).
*/
#include <string.h>

#include "lunet/plugin.h"

#define MAX_PIECES 256

typedef struct piecewise {
    int n; /* boundaries */
    double b[MAX_PIECES], v[MAX_PIECES + 1];
} piecewise;

/* A required list of numbers under key, also accepted by position. */
static ln_status read_list(ln_ctx *ctx, ln_args *a, int pos, const char *key,
                           int max, int *n, double *out) {
    ln_status st = ln_args_positional(ctx, a, pos, key);
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "'%s' is required", key);
    return ln_args_numbers(ctx, a, key, max, n, out);
}

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    piecewise *s = state;
    int nv = 0;
    ln_status st;
    if ((st = read_list(ctx, args, 1, "boundaries", MAX_PIECES, &s->n, s->b)) ||
        (st = read_list(ctx, args, 2, "values", MAX_PIECES + 1, &nv, s->v)))
        return st;
    if (nv != s->n + 1)
        return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: 'values' needs "
                       "one more entry than 'boundaries' (%d), got %d", s->n, nv);
    for (int i = 1; i < s->n; i++)
        if (!(s->b[i] > s->b[i - 1]))
            return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: 'boundaries' "
                           "must be increasing (entry %d is %g after %g)", i + 1,
                           s->b[i], s->b[i - 1]);
    return LN_OK;
}

static double value(const void *state, double step) {
    const piecewise *s = state;
    int k = 0;
    while (k < s->n && step > s->b[k]) k++;
    return s->v[k];
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(piecewise),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "piecewise_constant_decay",
    .class_name = "PiecewiseConstantDecay",
    .version = 1,
    .summary = "constant rates between step boundaries (Keras)",
    .ops = &ops,
};

LN_PLUGIN("piecewise_constant_decay") { return host->add(host, &unit); }
