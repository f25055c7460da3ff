/*
** plugin_schedule.h -- helpers shared by the schedule plugins (header only).
*/
#ifndef LUNET_PLUGIN_SCHEDULE_H
#define LUNET_PLUGIN_SCHEDULE_H

#include <math.h>

#include "lunet/plugin.h"

/* A required number under key (also given by position pos); who names
** the schedule in the error. */
static inline ln_status su_required(ln_ctx *ctx, const char *who, ln_args *a,
                                    int pos, const char *key, double *out) {
    ln_status st = ln_args_positional(ctx, a, pos, key);
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "%s: '%s' is required", who, key);
    return ln_args_number(ctx, a, key, 0, out);
}

/* The state of the Keras decays of the form f(initial, rate, p) with
** p = step / decay_steps, floored when staircase is true. */
typedef struct su_decay {
    double initial, steps, rate;
    int staircase;
} su_decay;

/* Reads (initial_learning_rate, decay_steps, decay_rate required, also by
** position in that order; staircase false) and checks decay_steps > 0,
** decay_rate >= 0. */
static inline ln_status su_decay_create(ln_ctx *ctx, const char *who,
                                        su_decay *s, ln_args *args) {
    ln_status st;
    if ((st = su_required(ctx, who, args, 1, "initial_learning_rate",
                          &s->initial)) ||
        (st = su_required(ctx, who, args, 2, "decay_steps", &s->steps)) ||
        (st = su_required(ctx, who, args, 3, "decay_rate", &s->rate)) ||
        (st = ln_args_bool(ctx, args, "staircase", 0, &s->staircase)))
        return st;
    if (!(s->steps > 0))
        return ln_fail(ctx, LN_E_ARG, "%s: 'decay_steps' must be > 0, got %g",
                       who, s->steps);
    if (!(s->rate >= 0))
        return ln_fail(ctx, LN_E_ARG, "%s: 'decay_rate' must be >= 0, got %g",
                       who, s->rate);
    return LN_OK;
}

/* p = step / decay_steps, floored when staircase is true. */
static inline double su_decay_progress(const su_decay *s, double step) {
    double p = step / s->steps;
    if (s->staircase) p = floor(p);
    return p;
}

#endif
