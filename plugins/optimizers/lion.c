/*
** lion.c -- Lion, "EvoLved Sign Momentum" (Chen et al., "Symbolic Discovery
** of Optimization Algorithms", 2023, Algorithm 2), with the paper's
** defaults: learning_rate 1e-4, beta_1 0.9, beta_2 0.99, and decoupled
** weight decay lambda (weight_decay, default 0):
**
**   c = beta_1 * m + (1 - beta_1) * g
**   theta <- theta - lr * (sign(c) + lambda * theta)      (sign(0) = 0)
**   m <- beta_2 * m + (1 - beta_2) * g
**
** One slot "m". The update has the same magnitude lr for every coordinate,
** so Lion wants a learning rate 3-10x smaller than AdamW's. Double math.
*/
#include <math.h>

#include "lunet/plugin_util.h"

/* Selects (a ? b : c) in the loops below vectorise only when the compiler
** may evaluate both sides, which -ftrapping-math (GCC's default) forbids;
** lunet never enables floating-point traps, so lift it for these loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define LN_SELECTS_OK __attribute__((optimize("no-trapping-math")))
#else
#define LN_SELECTS_OK
#endif

typedef struct lion {
    double beta_1, beta_2, weight_decay;
} lion;

/* beta_1, beta_2 in [0, 1] (0.9, 0.99), weight_decay >= 0 (0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    lion *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "Lion", "beta_1", h->beta_1, 0, 1)) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.99, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "Lion", "beta_2", h->beta_2, 0, 1)) ||
        (st = ln_args_number(ctx, args, "weight_decay", 0.0, &h->weight_decay)) ||
        (st = ln_args_check_range(ctx, "Lion", "weight_decay", h->weight_decay,
                                  0, INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    names[0] = "m", init[0] = 0.0f;
    return 1;
}

typedef struct job {
    float *var, *m;
    const float *g;
    double lr, keep, b1, b2;
} job;

LN_SELECTS_OK LN_CLONES static void run(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict m = j->m;
    const float *restrict g = j->g;
    const double lr = j->lr, keep = j->keep, b1 = j->b1, b2 = j->b2;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i], mi = m[i];
        double c = b1 * mi + (1.0 - b1) * gi;
        double s = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
        var[i] = (float)(var[i] * keep - lr * s);
        m[i] = (float)(b2 * mi + (1.0 - b2) * gi);
    }
}

static void update(const void *state, float *var, const float *grad,
                   float *const *slot, int64_t n, int64_t t, double lr,
                   const double *globals) {
    const lion *h = state;
    job j = {var, slot[0], grad, lr, 1.0 - lr * h->weight_decay, h->beta_1,
             h->beta_2};
    ln_parallel_for(n, run, &j);
}

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(lion),
    .default_learning_rate = 1e-4,
    .create = create,
    .slots = slots,
    .update = update,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "lion",
    .class_name = "Lion",
    .version = 1,
    .summary = "Lion: sign momentum with decoupled weight decay (Chen et al. "
               "2023)",
    .ops = &ops,
};

LN_PLUGIN("lion") { return host->add(host, &unit); }
