/*
** adadelta.c -- Adadelta (Zeiler 2012) as tf.keras's Adadelta, which keeps
** a learning rate (default 0.001; the paper's method is lr = 1):
**
**   a <- rho * a + (1 - rho) * g^2
**   delta = g * sqrt(d + epsilon) / sqrt(a + epsilon)
**   theta <- theta - lr * delta
**   d <- rho * d + (1 - rho) * delta^2
**
** Slots "accum_grad" (a) and "accum_var" (d), Keras's names. Double math,
** with the fused multiply-adds written out (plugin_util.h). update_reg: the
** same with a weight regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct adadelta {
    double rho, epsilon;
} adadelta;

/* rho in [0, 1] (0.95), epsilon >= 0 (1e-7). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    adadelta *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "rho", 0.95, &h->rho)) ||
        (st = ln_args_check_range(ctx, "Adadelta", "rho", h->rho, 0, 1)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "Adadelta", "epsilon", h->epsilon, 0,
                                  INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    names[0] = "accum_grad", init[0] = 0.0f;
    names[1] = "accum_var", init[1] = 0.0f;
    return 2;
}

typedef struct job {
    float *var, *a, *d;
    const float *g;
    double lr, rho, eps;
    lu_reg reg;
} job;

/* The loop once; LU_UPDATE_LOOPS makes its plain and regularized chunk
** functions (plugin_util.h). */
LU_BODY void adadelta_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict a = j->a, *restrict d = j->d;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, rho = j->rho, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double ai = fma(rho, (double)a[i], (1.0 - rho) * gi * gi);
        double delta = gi * sqrt(d[i] + eps) / sqrt(ai + eps);
        double di = fma(rho, (double)d[i], (1.0 - rho) * delta * delta);
        a[i] = (float)ai;
        d[i] = (float)di;
        var[i] = (float)fma(-lr, delta, (double)var[i]);
    }
}

LU_UPDATE_LOOPS(run, adadelta_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const adadelta *h = state;
    job j = {var, slot[0], slot[1], grad, lr, h->rho, h->epsilon, reg};
    ln_parallel_for(n, LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(adadelta),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "adadelta",
    .class_name = "Adadelta",
    .version = 1,
    .summary = "Adadelta: step sizes from running averages of updates (Keras)",
    .ops = &ops,
};

LN_PLUGIN("adadelta") { return host->add(host, &unit); }
