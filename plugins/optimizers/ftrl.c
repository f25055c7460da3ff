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
** "linear" (z). p = -0.5 uses sqrt, as TensorFlow does. Double math.
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
} job;

/* The root case (power -0.5). */
LN_SELECTS_OK LN_CLONES static void run_sqrt(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict n = j->n, *restrict z = j->z;
    const float *restrict g = j->g;
    const double lr = j->lr, l1 = j->l1, two_l2 = j->two_l2, two_s = j->two_s;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double w = var[i], gi = g[i], ni = n[i];
        double gs = gi + two_s * w;
        double nn = ni + gi * gi;
        double root = sqrt(nn);
        double zi = z[i] + gs - (root - sqrt(ni)) / lr * w;
        double x = (zi > 0 ? l1 : zi < 0 ? -l1 : 0.0) - zi;
        double y = root / lr + two_l2;
        n[i] = (float)nn;
        z[i] = (float)zi;
        var[i] = (float)(fabs(zi) > l1 ? x / y : 0.0);
    }
}

/* Any other power (pow is not vectorised, so this loop is scalar). */
static void run_pow(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict n = j->n, *restrict z = j->z;
    const float *restrict g = j->g;
    const double lr = j->lr, l1 = j->l1, two_l2 = j->two_l2, two_s = j->two_s;
    const double e = -j->power;
    for (int64_t i = lo; i < hi; i++) {
        double w = var[i], gi = g[i], ni = n[i];
        double gs = gi + two_s * w;
        double nn = ni + gi * gi;
        double pn = pow(nn, e);
        double zi = z[i] + gs - (pn - pow(ni, e)) / lr * w;
        double x = (zi > 0 ? l1 : zi < 0 ? -l1 : 0.0) - zi;
        double y = pn / lr + two_l2;
        n[i] = (float)nn;
        z[i] = (float)zi;
        var[i] = (float)(fabs(zi) > l1 ? x / y : 0.0);
    }
}

static void update(const void *state, float *var, const float *grad,
                   float *const *slot, int64_t n, int64_t t, double lr,
                   const double *globals) {
    const ftrl *h = state;
    double l2 = h->l2 + (h->beta > 0 ? h->beta / (2.0 * lr) : 0.0);
    job j = {var, slot[0], slot[1], grad, lr, h->power, h->l1, 2.0 * l2,
             2.0 * h->shrinkage};
    ln_parallel_for(n, h->power == -0.5 ? run_sqrt : run_pow, &j);
}

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(ftrl),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
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
