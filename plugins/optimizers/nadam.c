/*
** nadam.c -- Nadam (Dozat 2016) as tf.keras's Nadam, with Keras's momentum
** schedule. psi = schedule_decay (0.004), t the 1-based step:
**
**   mu_t = beta_1 * (1 - 0.5 * 0.96^(psi * t))
**   Pi_t = Pi_{t-1} * mu_t   -- the global "momentum_cache", starting at 1,
**                               stored as float32 as Keras's variable is
**   Pi'  = Pi_t * mu_{t+1}
**   g^ = g / (1 - Pi_t) ; m <- beta_1 m + (1 - beta_1) g ; m^ = m / (1 - Pi')
**   v <- beta_2 v + (1 - beta_2) g^2 ; v^ = v / (1 - beta_2^t)
**   theta <- theta - lr * ((1 - mu_t) g^ + mu_{t+1} m^) / (sqrt(v^) + epsilon)
**
** Slots "m", "v". Difference from Keras: `decay` and learning-rate
** schedules apply as for every optimizer (Keras silently ignores a user's
** decay for Nadam and rejects schedules); Keras's config calls psi `decay`,
** which ln.optimizers.get maps to schedule_decay when reading one.
** Moments and the blend (1 - mu_t) g^ + mu_{t+1} m^ (its terms may cancel)
** in double, with the fused multiply-adds written out; the root and
** division in float32 (plugin_util.h). update_reg: the same with a weight
** regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct nadam {
    double beta_1, beta_2, epsilon, schedule_decay;
} nadam;

/* beta_1 in [0, 1] (0.9), beta_2 in [0, 1) (0.999), epsilon >= 0 (1e-7),
** schedule_decay >= 0 (0.004). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    nadam *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "Nadam", "beta_1", h->beta_1, 0, 1)) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.999, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "Nadam", "beta_2", h->beta_2, 0,
                                  nextafter(1.0, 0.0))) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "Nadam", "epsilon", h->epsilon, 0,
                                  INFINITY)) ||
        (st = ln_args_number(ctx, args, "schedule_decay", 0.004,
                             &h->schedule_decay)) ||
        (st = ln_args_check_range(ctx, "Nadam", "schedule_decay",
                                  h->schedule_decay, 0, INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    names[0] = "m", init[0] = 0.0f;
    names[1] = "v", init[1] = 0.0f;
    return 2;
}

static int globals(const void *state, const char **names, double *init) {
    names[0] = "momentum_cache";
    init[0] = 1.0;
    return 1;
}

/* mu_t of Keras's schedule. */
static double mu_at(const nadam *h, double t) {
    return h->beta_1 * fma(-0.5, pow(0.96, h->schedule_decay * t), 1.0);
}

/* Pi_t = Pi_{t-1} * mu_t, rounded to float32 so saved state resumes exactly. */
static void begin_step(const void *state, double *g, int64_t t) {
    g[0] = (float)(g[0] * mu_at(state, (double)t));
}

typedef struct job {
    float *var, *m, *v;
    const float *g;
    double lr, b1, b2, eps, gscale, mscale, vscale, mu_t, mu_next;
    lu_reg reg;
} job;

/* The loop once; LU_UPDATE_LOOPS makes its plain and regularized chunk
** functions (plugin_util.h). */
LU_BODY void nadam_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double b1 = j->b1, b2 = j->b2;
    const double gk = (1.0 - j->mu_t) / j->gscale, mk = j->mu_next / j->mscale;
    const float lr = (float)j->lr, eps = (float)j->eps;
    const float vk = (float)(1.0 / j->vscale);
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        double mi = fma(b1, (double)m[i], (1.0 - b1) * gi);
        float vi = (float)fma(b2, (double)v[i], (1.0 - b2) * gi * gi);
        m[i] = (float)mi;
        v[i] = vi;
        float mbar = (float)fma(mk, mi, gk * gi); /* may cancel: double */
        var[i] -= lr * mbar / (sqrtf(vi * vk) + eps);
    }
}

LU_UPDATE_LOOPS(run, nadam_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const nadam *h = state;
    double td = (double)t;
    double mu_t = mu_at(h, td), mu_next = mu_at(h, td + 1.0);
    double pi = globals[0];
    job j = {var, slot[0], slot[1], grad, lr, h->beta_1, h->beta_2, h->epsilon,
             1.0 - pi, fma(-pi, mu_next, 1.0), 1.0 - pow(h->beta_2, td), mu_t,
             mu_next, reg};
    ln_parallel_for(n, LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(nadam),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .globals = globals,
    .begin_step = begin_step,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "nadam",
    .class_name = "Nadam",
    .version = 1,
    .summary = "Nadam: Adam with Nesterov momentum and Keras's momentum "
               "schedule",
    .ops = &ops,
};

LN_PLUGIN("nadam") { return host->add(host, &unit); }
