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

#include "lunet/plugin_schedule.h"

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return su_decay_create(ctx, "ExponentialDecay", state, args);
}

static double value(const void *state, double step) {
    const su_decay *s = state;
    return s->initial * pow(s->rate, su_decay_progress(s, step));
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(su_decay),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "exponential_decay",
    .class_name = "ExponentialDecay",
    .version = 1,
    .summary = "initial * rate^(step / decay_steps) (Keras)",
    .ops = &ops,
};

LN_PLUGIN("exponential_decay") { return host->add(host, &unit); }
