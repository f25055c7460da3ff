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

#include "lunet/plugin_schedule.h"

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    return su_decay_create(ctx, "InverseTimeDecay", state, args);
}

static double value(const void *state, double step) {
    const su_decay *s = state;
    return s->initial / (1.0 + s->rate * su_decay_progress(s, step));
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(su_decay),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "inverse_time_decay",
    .class_name = "InverseTimeDecay",
    .version = 1,
    .summary = "initial / (1 + rate * step / decay_steps) (Keras)",
    .ops = &ops,
};

LN_PLUGIN("inverse_time_decay") { return host->add(host, &unit); }
