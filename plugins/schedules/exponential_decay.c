/*
** exponential_decay.c -- tf.keras.optimizers.schedules.ExponentialDecay:
**
**   lr(step) = initial_learning_rate * decay_rate ^ (step / decay_steps)
**
** with the exponent floored when staircase is true. Arguments
** (initial_learning_rate, decay_steps, decay_rate required, also by
** position in that order; staircase false).
*/
#include <math.h>

#include "lunet/optimizer.h"

typedef struct exp_decay {
    double initial, steps, rate;
    int staircase;
} exp_decay;

/* A required number under key (also given by position pos). */
static ln_status required(ln_ctx *ctx, ln_args *a, int pos, const char *key,
                          double *out) {
    ln_status st = ln_args_positional(ctx, a, pos, key);
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "ExponentialDecay: '%s' is required", key);
    return ln_args_number(ctx, a, key, 0, out);
}

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    exp_decay *s = state;
    ln_status st;
    if ((st = required(ctx, args, 1, "initial_learning_rate", &s->initial)) ||
        (st = required(ctx, args, 2, "decay_steps", &s->steps)) ||
        (st = required(ctx, args, 3, "decay_rate", &s->rate)) ||
        (st = ln_args_bool(ctx, args, "staircase", 0, &s->staircase)))
        return st;
    if (!(s->steps > 0))
        return ln_fail(ctx, LN_E_ARG, "ExponentialDecay: 'decay_steps' must be "
                       "> 0, got %g", s->steps);
    if (!(s->rate >= 0))
        return ln_fail(ctx, LN_E_ARG, "ExponentialDecay: 'decay_rate' must be "
                       ">= 0, got %g", s->rate);
    return LN_OK;
}

static double value(const void *state, double step) {
    const exp_decay *s = state;
    double p = step / s->steps;
    if (s->staircase) p = floor(p);
    return s->initial * pow(s->rate, p);
}

static const ln_schedule_ops ops = {sizeof(exp_decay), create, value};
static const ln_unit unit = {LN_KIND_SCHEDULE, "exponential_decay",
    "ExponentialDecay", 1, "initial * rate^(step / decay_steps) (Keras)", &ops};

LN_PLUGIN("exponential_decay") { return host->add(host, &unit); }
