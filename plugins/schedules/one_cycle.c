/*
** one_cycle.c -- the 1cycle learning-rate schedule (L. Smith, "A disciplined
** approach to neural network hyper-parameters", 2018), as the
** OneCycleScheduler of Geron's Hands-On Machine Learning (2nd ed., ch. 11):
** a linear rise from start to max over the first half of the cycle, a
** linear fall back to start over the second half, then a linear fall to
** last over the final steps. With T = total_steps, L = last_steps,
** H = floor((T - L) / 2):
**
**   step < H        start + (max - start) * step / H
**   step < 2H       max + (start - max) * (step - H) / H
**   otherwise       start + (last - start) * (step - 2H) / (T - 2H),
**                   held at last after step T
**
** Arguments: total_steps (required; the number of optimizer steps of the
** whole training, e.g. epochs * ceil(N / batch_size)), max_learning_rate
** (required), start_learning_rate (max / 10), last_steps (T // 10 + 1),
** last_learning_rate (start / 1000). Positions: total_steps,
** max_learning_rate. Only the rate cycles (no momentum cycling).
*/
#include <math.h>

#include "lunet/plugin.h"

typedef struct one_cycle {
    double total, max, start, last, half;
} one_cycle;

static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    one_cycle *s = state;
    int64_t total, last_steps;
    ln_status st;
    if ((st = ln_args_positional(ctx, args, 1, "total_steps")) ||
        (st = ln_args_positional(ctx, args, 2, "max_learning_rate")))
        return st;
    if (!ln_args_has(args, "total_steps") || !ln_args_has(args, "max_learning_rate"))
        return ln_fail(ctx, LN_E_ARG, "OneCycle: '%s' is required",
                       ln_args_has(args, "total_steps") ? "max_learning_rate"
                                                        : "total_steps");
    if ((st = ln_args_int(ctx, args, "total_steps", 0, &total)) ||
        (st = ln_args_number(ctx, args, "max_learning_rate", 0, &s->max)))
        return st;
    if (total < 2)
        return ln_fail(ctx, LN_E_ARG, "OneCycle: 'total_steps' must be >= 2, "
                       "got %lld", (long long)total);
    if (!(s->max >= 0))
        return ln_fail(ctx, LN_E_ARG, "OneCycle: 'max_learning_rate' must be "
                       ">= 0, got %g", s->max);
    if ((st = ln_args_number(ctx, args, "start_learning_rate", s->max / 10,
                             &s->start)) ||
        (st = ln_args_int(ctx, args, "last_steps", total / 10 + 1, &last_steps)) ||
        (st = ln_args_number(ctx, args, "last_learning_rate", s->start / 1000,
                             &s->last)))
        return st;
    if (last_steps < 0 || last_steps >= total)
        return ln_fail(ctx, LN_E_ARG, "OneCycle: 'last_steps' must be in "
                       "[0, total_steps), got %lld", (long long)last_steps);
    s->total = (double)total;
    s->half = (double)((total - last_steps) / 2);
    return LN_OK;
}

static double value(const void *state, double step) {
    const one_cycle *s = state;
    const double h = s->half;
    if (step < h) return s->start + (s->max - s->start) * step / h;
    if (step < 2 * h) return s->max + (s->start - s->max) * (step - h) / h;
    if (step >= s->total) return s->last;
    return s->start + (s->last - s->start) * (step - 2 * h) / (s->total - 2 * h);
}

static const ln_schedule_ops ops = {
    .size = sizeof(ln_schedule_ops),
    .state_size = sizeof(one_cycle),
    .create = create,
    .value = value,
};
static const ln_unit unit = {
    .kind = LN_KIND_SCHEDULE,
    .name = "one_cycle",
    .class_name = "OneCycle",
    .version = 1,
    .summary = "1cycle: linear warm-up to max, back down, then annealing "
               "(Smith)",
    .ops = &ops,
};

LN_PLUGIN("one_cycle") { return host->add(host, &unit); }
