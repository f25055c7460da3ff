/*
** ada_belief.c -- AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting
** Stepsizes by the Belief in Observed Gradients", NeurIPS 2020), an
** out-of-tree lunet plugin: the example of docs/plugins.md.
**
**   m <- beta_1 * m + (1 - beta_1) * g
**   s <- beta_2 * s + (1 - beta_2) * (g - m)^2 + epsilon
**   theta <- theta - lr * (m / (1 - beta_1^t)) / (sqrt(s / (1 - beta_2^t)) + epsilon)
**
** Where Adam divides by the root of the second moment of g, AdaBelief
** divides by the spread of g around its running mean m. Slots "m", "s".
** From Lua: ln.optimizers.AdaBelief{learning_rate = 1e-3}.
*/
#include <math.h>

#include "lunet/plugin_util.h"

/* The hyper-parameters, read once in create: the plugin's state. */
typedef struct ada_belief {
    double beta_1, beta_2, epsilon;
} ada_belief;

/* Read the keyword arguments (the core reads learning_rate, decay and the
** clips). Every read records the effective value in the config; a value
** out of range fails with a message naming the key. */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    ada_belief *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "AdaBelief", "beta_1", h->beta_1, 0,
                                  0.999999)) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.999, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "AdaBelief", "beta_2", h->beta_2, 0,
                                  0.999999)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-14, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "AdaBelief", "epsilon", h->epsilon, 0,
                                  INFINITY)))
        return st;
    return LN_OK;
}

/* Two slots per variable, both starting at 0. */
static int slots(const void *state, const char **names, float *init) {
    names[0] = "m", init[0] = 0.0f;
    names[1] = "s", init[1] = 0.0f;
    return 2;
}

/* What one update needs, for the chunks ln_parallel_for hands out. */
typedef struct job {
    float *var, *m, *s;
    const float *g;
    double b1, b2, eps;
    float alpha, eps_hat; /* the step with both bias corrections folded in */
    lu_reg reg;           /* a weight regularizer's gradient to fold in */
} job;

/* Elements [lo, hi). The moments are computed in double and rounded once
** when stored; the step runs in float32 on the stored moments (16 lanes per
** AVX-512 instruction, not 8: the built-ins' policy, plugin_util.h), with
** the bias corrections folded into alpha and eps_hat, exactly:
**   lr (m / c1) / (sqrt(s / c2) + eps) = alpha m / (sqrt(s) + eps_hat),
**   alpha = lr sqrt(c2) / c1, eps_hat = eps sqrt(c2).
** LU_GRAD is the gradient with the regularizer's folded in when reg says
** so, and every product meeting a sum is an explicit fma, so the three
** compiled loops (LU_UPDATE_LOOPS) round alike. The chunks never depend on
** the thread count. */
LU_BODY void body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict m = j->m, *restrict s = j->s;
    const float *restrict g = j->g;
    const double b1 = j->b1, b2 = j->b2, eps = j->eps;
    const float alpha = j->alpha, eps_hat = j->eps_hat;
    const lu_reg r = j->reg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double md = fma(b1, (double)m[i], (1.0 - b1) * gi);
        double d = gi - md;
        float mi = (float)md;
        float si = (float)fma(b2, (double)s[i], fma((1.0 - b2) * d, d, eps));
        m[i] = mi;
        s[i] = si;
        var[i] -= alpha * mi / (sqrtf(si) + eps_hat);
    }
}
LU_UPDATE_LOOPS(step, body, job)

/* n elements of a variable, in place -- the whole of it, or a slice while
** backward runs (plugin.h: the optimizer contract; the rule is elementwise)
** -- t is the 1-based step. */
static void run(const void *state, float *var, const float *grad,
                float *const *slot, int64_t n, int64_t t, double lr,
                const double *globals, lu_reg reg) {
    const ada_belief *h = state;
    double c1 = 1.0 - pow(h->beta_1, (double)t), c2 = 1.0 - pow(h->beta_2, (double)t);
    job j = {var, slot[0], slot[1], grad, h->beta_1, h->beta_2, h->epsilon,
             (float)(lr * sqrt(c2) / c1), (float)(h->epsilon * sqrt(c2)), reg};
    ln_parallel_for(n, LU_PICK(reg, step), &j);
}
LU_UPDATE_OPS(run) /* update and update_reg (an l1/l2 penalty folded in) */

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(ada_belief),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "ada_belief",
    .class_name = "AdaBelief",
    .version = 1,
    .summary = "AdaBelief: Adam scaled by the belief in the gradient (example "
               "plugin)",
    .ops = &ops,
};

LN_PLUGIN("ada_belief") { return host->add(host, &unit); }
