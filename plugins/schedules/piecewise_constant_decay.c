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

#include "lunet/optimizer.h"

#define MAX_PIECES 256

typedef struct piecewise {
    int n; /* boundaries */
    double b[MAX_PIECES], v[MAX_PIECES + 1];
} piecewise;

/* A list of numbers under key (a single number counts as a list of one).
** plugin.h has no reader for lists of non-integers: the entry is marked
** read through ln_args_ints (which marks before checking integrality) and
** its values are taken from the entry itself. */
static ln_status read_list(ln_ctx *ctx, ln_args *a, int pos, const char *key,
                           int max, int *n, double *out) {
    ln_status st = ln_args_positional(ctx, a, pos, key);
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: '%s' is required",
                       key);
    int count = ln_args_count(a);
    for (int i = 0; i < count; i++) {
        ln_arg e = ln_args_at(a, i);
        if (strcmp(e.key, key)) continue;
        if (e.type == LN_ARG_NUMBER) {
            *n = 1;
            out[0] = e.num;
        } else if (e.type == LN_ARG_NUMBERS) {
            if (e.n > max)
                return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: '%s' has "
                               "%d values, at most %d", key, e.n, max);
            *n = e.n;
            memcpy(out, e.nums, (size_t)e.n * sizeof *out);
        } else {
            return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: '%s' must be "
                           "a list of numbers", key);
        }
        ln_ctx scratch;
        int64_t ignored[MAX_PIECES + 1];
        int m;
        ln_ctx_clear(&scratch);
        (void)ln_args_ints(&scratch, a, key, MAX_PIECES + 1, &m, ignored);
        return LN_OK;
    }
    return ln_fail(ctx, LN_E_ARG, "PiecewiseConstantDecay: '%s' is required", key);
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

static const ln_schedule_ops ops = {sizeof(piecewise), create, value};
static const ln_unit unit = {LN_KIND_SCHEDULE, "piecewise_constant_decay",
    "PiecewiseConstantDecay", 1, "constant rates between step boundaries (Keras)",
    &ops};

LN_PLUGIN("piecewise_constant_decay") { return host->add(host, &unit); }
