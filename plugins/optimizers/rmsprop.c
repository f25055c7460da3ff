/*
** rmsprop.c -- RMSprop (Hinton) as tf.keras's RMSprop, plain or centered,
** with or without momentum. Slots, in Keras's order: "rms", then "momentum"
** (momentum > 0), then "mg" (centered).
**
**   s  <- rho * s + (1 - rho) * g^2
**   mg <- rho * mg + (1 - rho) * g          (centered; den = s - mg^2, else s)
**   momentum = 0:  theta <- theta - lr * g / (sqrt(den) + epsilon)
**   momentum mu:   p <- mu * p + lr * g / sqrt(den + epsilon) ; theta <- theta - p
**
** Note where epsilon sits: outside the root without momentum, inside it
** with momentum (Keras's two code paths). The averages (and the momentum
** accumulator) are computed in double and rounded once when stored; the
** plain step runs in float32 on the stored average (plugin_util.h), with
** the fused multiply-adds written out. update_reg: the same with a weight
** regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct rmsprop {
    double rho, momentum, epsilon;
    int centered;
} rmsprop;

/* rho in [0, 1] (0.9), momentum in [0, 1] (0), epsilon >= 0 (1e-7),
** centered (false). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    rmsprop *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "rho", 0.9, &h->rho)) ||
        (st = ln_args_check_range(ctx, "RMSprop", "rho", h->rho, 0, 1)) ||
        (st = ln_args_number(ctx, args, "momentum", 0.0, &h->momentum)) ||
        (st = ln_args_check_range(ctx, "RMSprop", "momentum", h->momentum, 0, 1)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "RMSprop", "epsilon", h->epsilon, 0,
                                  INFINITY)) ||
        (st = ln_args_bool(ctx, args, "centered", 0, &h->centered)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    const rmsprop *h = state;
    int n = 0;
    names[n] = "rms", init[n++] = 0.0f;
    if (h->momentum > 0) names[n] = "momentum", init[n++] = 0.0f;
    if (h->centered) names[n] = "mg", init[n++] = 0.0f;
    return n;
}

typedef struct job {
    float *var, *s, *p, *mg;
    const float *g;
    double lr, rho, mu, eps;
    lu_reg reg;
} job;

/* The four variants, each its own loop; LU_UPDATE_LOOPS makes their plain
** and regularized chunk functions (plugin_util.h). */
LU_BODY void plain_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict s = j->s;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double rho = j->rho;
    const float lr = (float)j->lr, eps = (float)j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float gf = LU_GRAD(r, reg, g, var, i);
        double gi = gf;
        float si = (float)fma(rho, (double)s[i], (1.0 - rho) * gi * gi);
        s[i] = si;
        var[i] -= lr * gf / (sqrtf(si) + eps);
    }
}

LU_BODY void centered_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict s = j->s, *restrict mg = j->mg;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, rho = j->rho, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double si = fma(rho, (double)s[i], (1.0 - rho) * gi * gi);
        double m = fma(rho, (double)mg[i], (1.0 - rho) * gi);
        s[i] = (float)si;
        mg[i] = (float)m;
        var[i] = (float)(var[i] - lr * gi / (sqrt(fma(-m, m, si)) + eps));
    }
}

LU_BODY void momentum_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict s = j->s, *restrict p = j->p;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, rho = j->rho, mu = j->mu, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double si = fma(rho, (double)s[i], (1.0 - rho) * gi * gi);
        double pi = fma(mu, (double)p[i], lr * gi / sqrt(si + eps));
        s[i] = (float)si;
        p[i] = (float)pi;
        var[i] = (float)(var[i] - pi);
    }
}

LU_BODY void centered_momentum_body(const job *j, int64_t lo, int64_t hi,
                                    int reg) {
    float *restrict var = j->var, *restrict s = j->s, *restrict p = j->p,
                    *restrict mg = j->mg;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double lr = j->lr, rho = j->rho, mu = j->mu, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double si = fma(rho, (double)s[i], (1.0 - rho) * gi * gi);
        double m = fma(rho, (double)mg[i], (1.0 - rho) * gi);
        double pi = fma(mu, (double)p[i], lr * gi / sqrt(fma(-m, m, si) + eps));
        s[i] = (float)si;
        mg[i] = (float)m;
        p[i] = (float)pi;
        var[i] = (float)(var[i] - pi);
    }
}

LU_UPDATE_LOOPS(plain, plain_body, job)
LU_UPDATE_LOOPS(centered, centered_body, job)
LU_UPDATE_LOOPS(momentum, momentum_body, job)
LU_UPDATE_LOOPS(centered_momentum, centered_momentum_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const rmsprop *h = state;
    int k = 1;
    job j = {var, slot[0], NULL, NULL, grad, lr, h->rho, h->momentum, h->epsilon,
             reg};
    if (h->momentum > 0) j.p = slot[k++];
    if (h->centered) j.mg = slot[k++];
    ln_range_fn fn = h->momentum > 0
                         ? (h->centered ? LU_PICK(reg, centered_momentum)
                                        : LU_PICK(reg, momentum))
                         : (h->centered ? LU_PICK(reg, centered) : LU_PICK(reg, plain));
    ln_parallel_for(n, fn, &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(rmsprop),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "rmsprop",
    .class_name = "RMSprop",
    .version = 1,
    .summary = "RMSprop, plain or centered, with optional momentum (Keras)",
    .ops = &ops,
};

LN_PLUGIN("rmsprop") { return host->add(host, &unit); }
