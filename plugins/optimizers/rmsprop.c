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
** plain step runs in float32 on the stored average (plugin_util.h).
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
} job;

/* The four variants, each its own vectorised loop. */
LN_CLONES static void plain(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict s = j->s;
    const float *restrict g = j->g;
    const double rho = j->rho;
    const float lr = (float)j->lr, eps = (float)j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i];
        float si = (float)(rho * s[i] + (1.0 - rho) * gi * gi);
        s[i] = si;
        var[i] -= lr * g[i] / (sqrtf(si) + eps);
    }
}

LN_CLONES static void centered(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict s = j->s, *restrict mg = j->mg;
    const float *restrict g = j->g;
    const double lr = j->lr, rho = j->rho, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i];
        double si = rho * s[i] + (1.0 - rho) * gi * gi;
        double m = rho * mg[i] + (1.0 - rho) * gi;
        s[i] = (float)si;
        mg[i] = (float)m;
        var[i] = (float)(var[i] - lr * gi / (sqrt(si - m * m) + eps));
    }
}

LN_CLONES static void momentum(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict s = j->s, *restrict p = j->p;
    const float *restrict g = j->g;
    const double lr = j->lr, rho = j->rho, mu = j->mu, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i];
        double si = rho * s[i] + (1.0 - rho) * gi * gi;
        double pi = mu * p[i] + lr * gi / sqrt(si + eps);
        s[i] = (float)si;
        p[i] = (float)pi;
        var[i] = (float)(var[i] - pi);
    }
}

LN_CLONES static void centered_momentum(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict s = j->s, *restrict p = j->p,
                    *restrict mg = j->mg;
    const float *restrict g = j->g;
    const double lr = j->lr, rho = j->rho, mu = j->mu, eps = j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i];
        double si = rho * s[i] + (1.0 - rho) * gi * gi;
        double m = rho * mg[i] + (1.0 - rho) * gi;
        double pi = mu * p[i] + lr * gi / sqrt(si - m * m + eps);
        s[i] = (float)si;
        mg[i] = (float)m;
        p[i] = (float)pi;
        var[i] = (float)(var[i] - pi);
    }
}

static void update(const void *state, float *var, const float *grad,
                   float *const *slot, int64_t n, int64_t t, double lr,
                   const double *globals) {
    const rmsprop *h = state;
    int k = 1;
    job j = {var, slot[0], NULL, NULL, grad, lr, h->rho, h->momentum, h->epsilon};
    if (h->momentum > 0) j.p = slot[k++];
    if (h->centered) j.mg = slot[k++];
    ln_range_fn fn = h->momentum > 0 ? (h->centered ? centered_momentum : momentum)
                                     : (h->centered ? centered : plain);
    ln_parallel_for(n, fn, &j);
}

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(rmsprop),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
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
