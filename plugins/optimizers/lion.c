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
** so Lion wants a learning rate 3-10x smaller than AdamW's. Double math,
** with the fused multiply-adds written out (plugin_util.h). update_reg: the
** same with a weight regularizer's gradient folded in (Keras adds the
** penalty's gradient to g; it is not Lion's decoupled weight_decay).
*/
#include <math.h>

#include "lunet/plugin_util.h"

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
    lu_reg reg;
} job;

/* The loop once, with selects (LU_SELECTS_OK); LU_UPDATE_LOOPS_ATTR makes
** its plain and regularized chunk functions (plugin_util.h). */
LU_SELECTS_OK LU_BODY void lion_body(const job *j, int64_t lo, int64_t hi,
                                     int reg) {
    float *restrict var = j->var, *restrict m = j->m;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, keep = j->keep, b1 = j->b1, b2 = j->b2;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i), mi = m[i];
        double c = fma(b1, mi, (1.0 - b1) * gi);
        double s = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
        var[i] = (float)fma((double)var[i], keep, -(lr * s));
        m[i] = (float)fma(b2, mi, (1.0 - b2) * gi);
    }
}

LU_UPDATE_LOOPS_ATTR(run, lion_body, job, LU_SELECTS_OK)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const lion *h = state;
    job j = {var, slot[0], grad, lr, fma(-lr, h->weight_decay, 1.0), h->beta_1,
             h->beta_2, reg};
    ln_parallel_for(n, LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(lion),
    .default_learning_rate = 1e-4,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
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
