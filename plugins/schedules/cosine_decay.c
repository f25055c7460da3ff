/*
** cosine_decay.c -- tf.keras.optimizers.schedules.CosineDecay (SGDR without
** restarts, Loshchilov & Hutter 2017), as in TF 2.3-2.6:
**
**   f = min(step, decay_steps) / decay_steps
**   lr(step) = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * f)) + alpha)
**
** Arguments: initial_learning_rate, decay_steps (required, also by
** position), alpha (0: the floor as a fraction of the initial rate).
*/
#include <math.h>

#include "lunet/plugin_schedule.h"

typedef struct cos_decay {
    double initial, steps, alpha;
} cos_decay;

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    cos_decay *s = state;
    ln_status st;
    if ((st = su_required(ctx, "CosineDecay", args, 1, "initial_learning_rate",
                          &s->initial)) ||
        (st = su_required(ctx, "CosineDecay", args, 2, "decay_steps",
                          &s->steps)) ||
        (st = ln_args_positional(ctx, args, 3, "alpha")) ||
        (st = ln_args_number(ctx, args, "alpha", 0.0, &s->alpha)))
        return st;
    if (!(s->steps > 0))
        return ln_fail(ctx, LN_E_ARG, "CosineDecay: 'decay_steps' must be > 0, "
                       "got %g", s->steps);
    return LN_OK;
}

static double value(const void *state, double step) {
    const cos_decay *s = state;
    double f = (step < s->steps ? step : s->steps) / s->steps;
    double c = 0.5 * (1.0 + cos(3.14159265358979323846 * f));
    return s->initial * ((1.0 - s->alpha) * c + s->alpha);
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(cos_decay),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "cosine_decay",
    .class_name = "CosineDecay",
    .version = 1,
    .summary = "cosine decay from the initial rate to alpha * initial (Keras)",
    .ops = &ops,
};

LN_PLUGIN("cosine_decay") { return host->add(host, &unit); }
