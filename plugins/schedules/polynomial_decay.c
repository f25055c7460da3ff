/*
** polynomial_decay.c -- tf.keras.optimizers.schedules.PolynomialDecay:
**
**   without cycle: s = min(step, decay_steps), D = decay_steps
**   with cycle:    s = step, D = decay_steps * max(1, ceil(step / decay_steps))
**   lr(step) = (initial - end) * (1 - s / D) ^ power + end
**
** Arguments: initial_learning_rate, decay_steps (required, also by
** position), end_learning_rate (0.0001), power (1.0), cycle (false).
*/
#include <math.h>

#include "lunet/plugin_schedule.h"

typedef struct poly_decay {
    double initial, steps, end, power;
    int cycle;
} poly_decay;

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    poly_decay *s = state;
    ln_status st;
    if ((st = su_required(ctx, "PolynomialDecay", args, 1,
                          "initial_learning_rate", &s->initial)) ||
        (st = su_required(ctx, "PolynomialDecay", args, 2, "decay_steps",
                          &s->steps)) ||
        (st = ln_args_positional(ctx, args, 3, "end_learning_rate")) ||
        (st = ln_args_number(ctx, args, "end_learning_rate", 0.0001, &s->end)) ||
        (st = ln_args_positional(ctx, args, 4, "power")) ||
        (st = ln_args_number(ctx, args, "power", 1.0, &s->power)) ||
        (st = ln_args_positional(ctx, args, 5, "cycle")) ||
        (st = ln_args_bool(ctx, args, "cycle", 0, &s->cycle)))
        return st;
    if (!(s->steps > 0))
        return ln_fail(ctx, LN_E_ARG, "PolynomialDecay: 'decay_steps' must be "
                       "> 0, got %g", s->steps);
    return LN_OK;
}

static double value(const void *state, double step) {
    const poly_decay *s = state;
    double d = s->steps;
    if (s->cycle) {
        double mult = step == 0 ? 1.0 : ceil(step / s->steps);
        d *= mult;
    } else if (step > d) {
        step = d;
    }
    return (s->initial - s->end) * pow(1.0 - step / d, s->power) + s->end;
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(poly_decay),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "polynomial_decay",
    .class_name = "PolynomialDecay",
    .version = 1,
    .summary = "polynomial decay to end_learning_rate (Keras)",
    .ops = &ops,
};

LN_PLUGIN("polynomial_decay") { return host->add(host, &unit); }
