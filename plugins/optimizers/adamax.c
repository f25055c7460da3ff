/*
** adamax.c -- Adamax (Kingma & Ba 2015, section 7.1) as tf.keras's Adamax:
**
**   m <- beta_1 * m + (1 - beta_1) * g
**   u <- max(beta_2 * u, |g|)
**   theta <- theta - lr / (1 - beta_1^t) * m / (u + epsilon)
**
** Slots "m" and "v" (the infinity norm u, under Keras's name). Epsilon is
** added after the max (PyTorch adds it inside). Arithmetic in double, with
** the fused multiply-adds written out (plugin_util.h). update_reg: the same
** with a weight regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct adamax {
    double beta_1, beta_2, epsilon;
} adamax;

/* beta_1 in [0, 1) (0.9), beta_2 in [0, 1] (0.999), epsilon >= 0 (1e-7). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    adamax *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "Adamax", "beta_1", h->beta_1, 0,
                                  nextafter(1.0, 0.0))) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.999, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "Adamax", "beta_2", h->beta_2, 0, 1)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "Adamax", "epsilon", h->epsilon, 0,
                                  INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    names[0] = "m", init[0] = 0.0f;
    names[1] = "v", init[1] = 0.0f;
    return 2;
}

typedef struct job {
    float *var, *m, *u;
    const float *g;
    double step, b1, b2, eps;
    lu_reg reg;
} job;

/* The loop once; LU_UPDATE_LOOPS makes its plain and regularized chunk
** functions (plugin_util.h). */
LU_BODY void adamax_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict m = j->m, *restrict u = j->u;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double step = j->step, b1 = j->b1, b2 = j->b2, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double ag = fabs(gi);
        double mi = fma(b1, (double)m[i], (1.0 - b1) * gi);
        double ui = b2 * u[i];
        ui = ui > ag ? ui : ag;
        m[i] = (float)mi;
        u[i] = (float)ui;
        var[i] = (float)(var[i] - step * mi / (ui + eps));
    }
}

LU_UPDATE_LOOPS(run, adamax_body, job)

static void apply(const void *state, float *var, const float *grad,
                  float *const *slot, int64_t n, int64_t t, double lr,
                  const double *globals, lu_reg reg) {
    const adamax *h = state;
    job j = {var, slot[0], slot[1], grad, lr / (1.0 - pow(h->beta_1, (double)t)),
             h->beta_1, h->beta_2, h->epsilon, reg};
    ln_parallel_for(n, LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(apply)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(adamax),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "adamax",
    .class_name = "Adamax",
    .version = 1,
    .summary = "Adamax: Adam with the infinity norm (Keras)",
    .ops = &ops,
};

LN_PLUGIN("adamax") { return host->add(host, &unit); }
