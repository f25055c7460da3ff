/*
** ftrl.c -- FTRL-Proximal (McMahan et al. 2013) as tf.keras's Ftrl, which
** runs TensorFlow's ApplyFtrlV2 kernel. With p = learning_rate_power (-0.5),
** l2' = l2_regularization_strength + beta / (2 lr), s = l2 shrinkage:
**
**   gs = g + 2 * s * theta
**   n' = n + g^2                    (the accumulator grows by g^2, not gs^2)
**   z <- z + gs - (n'^(-p) - n^(-p)) / lr * theta
**   theta <- |z| > l1 ? (sign(z) * l1 - z) / (n'^(-p) / lr + 2 * l2') : 0
**   n <- n'
**
** Slots "accumulator" (n, starting at initial_accumulator_value = 0.1) and
** "linear" (z). p = -0.5 uses sqrt, as TensorFlow does. Double math, with
** the fused multiply-adds written out (plugin_util.h). update_reg: the
** same with a Keras weight regularizer's gradient folded into g (the
** penalty's gradient is part of the loss's; the rule's own l1/l2/shrinkage
** strengths are separate and apply on top, as in Keras).
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct ftrl {
    double power, init, l1, l2, shrinkage, beta;
} ftrl;

/* learning_rate_power <= 0 (-0.5), initial_accumulator_value >= 0 (0.1),
** l1_regularization_strength, l2_regularization_strength,
** l2_shrinkage_regularization_strength and beta >= 0 (all 0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    ftrl *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "learning_rate_power", -0.5, &h->power)) ||
        (st = ln_args_check_range(ctx, "Ftrl", "learning_rate_power", h->power,
                                  -INFINITY, 0)) ||
        (st = ln_args_number(ctx, args, "initial_accumulator_value", 0.1,
                             &h->init)) ||
        (st = ln_args_check_range(ctx, "Ftrl", "initial_accumulator_value",
                                  h->init, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "l1_regularization_strength", 0.0,
                             &h->l1)) ||
        (st = ln_args_check_range(ctx, "Ftrl", "l1_regularization_strength",
                                  h->l1, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "l2_regularization_strength", 0.0,
                             &h->l2)) ||
        (st = ln_args_check_range(ctx, "Ftrl", "l2_regularization_strength",
                                  h->l2, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "l2_shrinkage_regularization_strength",
                             0.0, &h->shrinkage)) ||
        (st = ln_args_check_range(ctx, "Ftrl",
                                  "l2_shrinkage_regularization_strength",
                                  h->shrinkage, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "beta", 0.0, &h->beta)) ||
        (st = ln_args_check_range(ctx, "Ftrl", "beta", h->beta, 0, INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    const ftrl *h = state;
    names[0] = "accumulator", init[0] = (float)h->init;
    names[1] = "linear", init[1] = 0.0f;
    return 2;
}

typedef struct job {
    float *var, *n, *z;
    const float *g;
    double lr, power, l1, two_l2, two_s;
    lu_reg reg;
} job;

/* The root case (power -0.5), with selects (LU_SELECTS_OK);
** LU_UPDATE_LOOPS_ATTR makes its plain and regularized chunk functions
** (plugin_util.h). gi reads var[i] (a regularizer's gradient) before the
** loop writes it. */
LU_SELECTS_OK LU_BODY void sqrt_body(const job *j, int64_t lo, int64_t hi,
                                     int reg) {
    float *restrict var = j->var, *restrict n = j->n, *restrict z = j->z;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, l1 = j->l1, two_l2 = j->two_l2, two_s = j->two_s;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double w = var[i], ni = n[i];
        double gs = fma(two_s, w, gi);
        double nn = fma(gi, gi, ni);
        double root = sqrt(nn);
        double zi = fma(-((root - sqrt(ni)) / lr), w, (double)z[i] + gs);
        double x = (zi > 0 ? l1 : zi < 0 ? -l1 : 0.0) - zi;
        double y = root / lr + two_l2;
        n[i] = (float)nn;
        z[i] = (float)zi;
        var[i] = (float)(fabs(zi) > l1 ? x / y : 0.0);
    }
}

/* Any other power (pow is not vectorised: these loops stay scalar). */
LU_BODY void pow_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict n = j->n, *restrict z = j->z;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, l1 = j->l1, two_l2 = j->two_l2, two_s = j->two_s;
    const double e = -j->power;
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double w = var[i], ni = n[i];
        double gs = fma(two_s, w, gi);
        double nn = fma(gi, gi, ni);
        double pn = pow(nn, e);
        double zi = fma(-((pn - pow(ni, e)) / lr), w, (double)z[i] + gs);
        double x = (zi > 0 ? l1 : zi < 0 ? -l1 : 0.0) - zi;
        double y = pn / lr + two_l2;
        n[i] = (float)nn;
        z[i] = (float)zi;
        var[i] = (float)(fabs(zi) > l1 ? x / y : 0.0);
    }
}

LU_UPDATE_LOOPS_ATTR(run_sqrt, sqrt_body, job, LU_SELECTS_OK)
LU_UPDATE_LOOPS(run_pow, pow_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const ftrl *h = state;
    double l2 = h->l2 + (h->beta > 0 ? h->beta / (2.0 * lr) : 0.0);
    job j = {var, slot[0], slot[1], grad, lr, h->power, h->l1, 2.0 * l2,
             2.0 * h->shrinkage, reg};
    ln_parallel_for(n, h->power == -0.5 ? LU_PICK(reg, run_sqrt) : LU_PICK(reg, run_pow),
                    &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(ftrl),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "ftrl",
    .class_name = "Ftrl",
    .version = 1,
    .summary = "FTRL-Proximal with L1, L2 and L2-shrinkage regularization "
               "(Keras)",
    .ops = &ops,
};

LN_PLUGIN("ftrl") { return host->add(host, &unit); }
