/*
** adagrad.c -- Adagrad (Duchi et al. 2011) as tf.keras's Adagrad:
**
**   a <- a + g^2 ; theta <- theta - lr * g / (sqrt(a) + epsilon)
**
** slot "accumulator" starting at initial_accumulator_value (0.1); epsilon
** (1e-7) outside the root. The accumulator is summed in double and rounded
** once when stored; the step runs in float32 on the stored value (see
** plugin_util.h for the policy and the per-CPU vectorised loops).
** update_reg: the same with a weight regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct adagrad {
    double initial_accumulator_value, epsilon;
} adagrad;

/* initial_accumulator_value >= 0 (0.1), epsilon >= 0 (1e-7). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    adagrad *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "initial_accumulator_value", 0.1,
                             &h->initial_accumulator_value)) ||
        (st = ln_args_check_range(ctx, "Adagrad", "initial_accumulator_value",
                                  h->initial_accumulator_value, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "Adagrad", "epsilon", h->epsilon, 0,
                                  INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    const adagrad *h = state;
    names[0] = "accumulator";
    init[0] = (float)h->initial_accumulator_value;
    return 1;
}

typedef struct job {
    float *var, *a;
    const float *g;
    double lr, eps;
    lu_reg reg;
} job;

/* a <- a + g^2 (double, rounded once); theta <- theta - lr g / (sqrt(a) + eps)
** in float32 from the stored accumulator. LU_UPDATE_LOOPS makes its plain
** and regularized chunk functions (plugin_util.h). */
LU_BODY void adagrad_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict a = j->a;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const float lr = (float)j->lr, eps = (float)j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float gf = LU_GRAD(r, reg, g, var, i);
        double gi = gf;
        float acc = (float)fma(gi, gi, (double)a[i]);
        a[i] = acc;
        var[i] -= lr * gf / (sqrtf(acc) + eps);
    }
}

LU_UPDATE_LOOPS(run, adagrad_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const adagrad *h = state;
    job j = {var, slot[0], grad, lr, h->epsilon, reg};
    ln_parallel_for(n, LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(adagrad),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "adagrad",
    .class_name = "Adagrad",
    .version = 1,
    .summary = "Adagrad: per-coordinate rates from summed squared gradients "
               "(Keras)",
    .ops = &ops,
};

LN_PLUGIN("adagrad") { return host->add(host, &unit); }
