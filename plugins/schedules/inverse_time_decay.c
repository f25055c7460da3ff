/*
** inverse_time_decay.c -- tf.keras.optimizers.schedules.InverseTimeDecay:
**
**   lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)
**
** with step / decay_steps floored when staircase is true. Arguments
** (initial_learning_rate, decay_steps, decay_rate required, also by
** position in that order; staircase false).
*/
#include <math.h>

#include "lunet/optimizer.h"

typedef struct inv_decay {
    double initial, steps, rate;
    int staircase;
} inv_decay;

/* A required number under key (also given by position pos). */
static ln_status required(ln_ctx *ctx, ln_args *a, int pos, const char *key,
                          double *out) {
    ln_status st = ln_args_positional(ctx, a, pos, key);
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "InverseTimeDecay: '%s' is required", key);
    return ln_args_number(ctx, a, key, 0, out);
}

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    inv_decay *s = state;
    ln_status st;
    if ((st = required(ctx, args, 1, "initial_learning_rate", &s->initial)) ||
        (st = required(ctx, args, 2, "decay_steps", &s->steps)) ||
        (st = required(ctx, args, 3, "decay_rate", &s->rate)) ||
        (st = ln_args_bool(ctx, args, "staircase", 0, &s->staircase)))
        return st;
    if (!(s->steps > 0))
        return ln_fail(ctx, LN_E_ARG, "InverseTimeDecay: 'decay_steps' must be "
                       "> 0, got %g", s->steps);
    if (!(s->rate >= 0))
        return ln_fail(ctx, LN_E_ARG, "InverseTimeDecay: 'decay_rate' must be "
                       ">= 0, got %g", s->rate);
    return LN_OK;
}

static double value(const void *state, double step) {
    const inv_decay *s = state;
    double p = step / s->steps;
    if (s->staircase) p = floor(p);
    return s->initial / (1.0 + s->rate * p);
}

static const ln_schedule_ops ops = {sizeof(inv_decay), create, value};
static const ln_unit unit = {LN_KIND_SCHEDULE, "inverse_time_decay",
    "InverseTimeDecay", 1, "initial / (1 + rate * step / decay_steps) (Keras)",
    &ops};

LN_PLUGIN("inverse_time_decay") { return host->add(host, &unit); }
