/*
** adam.c -- Adam (Kingma & Ba 2015) and AMSGrad (Reddi et al. 2018) as
** tf.keras's Adam, with epsilon-hat: both bias corrections are folded into
** the step size and epsilon is added to the root of the raw second moment.
**
**   alpha_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
**   m <- beta_1 * m + (1 - beta_1) * g ; v <- beta_2 * v + (1 - beta_2) * g^2
**   amsgrad: vhat <- max(vhat, v), used in place of v below
**   theta <- theta - alpha_t * m / (sqrt(v) + epsilon)
**
** Slots "m", "v" (and "vhat"). The moments are computed in double and
** rounded once when stored; the step runs in float32 on the stored moments
** (plugin_util.h: the policy, and the per-CPU vectorised loops).
** update_reg: the same with a weight regularizer's gradient folded in.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct adam {
    double beta_1, beta_2, epsilon;
    int amsgrad;
} adam;

/* beta_1 in [0, 1) (0.9), beta_2 in [0, 1] (0.999), epsilon >= 0 (1e-7),
** amsgrad (false). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    adam *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "Adam", "beta_1", h->beta_1, 0,
                                  nextafter(1.0, 0.0))) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.999, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "Adam", "beta_2", h->beta_2, 0, 1)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-7, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "Adam", "epsilon", h->epsilon, 0,
                                  INFINITY)) ||
        (st = ln_args_bool(ctx, args, "amsgrad", 0, &h->amsgrad)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    const adam *h = state;
    names[0] = "m", init[0] = 0.0f;
    names[1] = "v", init[1] = 0.0f;
    if (!h->amsgrad) return 2;
    names[2] = "vhat", init[2] = 0.0f;
    return 3;
}

typedef struct job {
    float *var, *m, *v, *vhat;
    const float *g;
    double alpha, b1, b2, eps;
    lu_reg reg;
} job;

/* Both loops once; LU_UPDATE_LOOPS makes their plain and regularized chunk
** functions (plugin_util.h). */
LU_BODY void adam_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double b1 = j->b1, b2 = j->b2;
    const float alpha = (float)j->alpha, eps = (float)j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        float mi = (float)fma(b1, (double)m[i], (1.0 - b1) * gi);
        float vi = (float)fma(b2, (double)v[i], (1.0 - b2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        var[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}

LU_BODY void amsgrad_body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var, *restrict m = j->m, *restrict v = j->v,
                    *restrict vhat = j->vhat;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const double b1 = j->b1, b2 = j->b2;
    const float alpha = (float)j->alpha, eps = (float)j->eps;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double gi = LU_GRAD(r, reg, g, var, i);
        float mi = (float)fma(b1, (double)m[i], (1.0 - b1) * gi);
        float vi = (float)fma(b2, (double)v[i], (1.0 - b2) * gi * gi);
        float old = vhat[i];
        float vh = old > vi ? old : vi;
        m[i] = mi;
        v[i] = vi;
        vhat[i] = vh;
        var[i] -= alpha * mi / (sqrtf(vh) + eps);
    }
}

LU_UPDATE_LOOPS(run, adam_body, job)
LU_UPDATE_LOOPS(run_amsgrad, amsgrad_body, job)

static void step(const void *state, float *var, const float *grad,
                 float *const *slot, int64_t n, int64_t t, double lr,
                 const double *globals, lu_reg reg) {
    const adam *h = state;
    double td = (double)t;
    double alpha = lr * sqrt(1.0 - pow(h->beta_2, td)) / (1.0 - pow(h->beta_1, td));
    job j = {var, slot[0], slot[1], h->amsgrad ? slot[2] : NULL, grad, alpha,
             h->beta_1, h->beta_2, h->epsilon, reg};
    ln_parallel_for(n, h->amsgrad ? LU_PICK(reg, run_amsgrad) : LU_PICK(reg, run), &j);
}

LU_UPDATE_OPS(step)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(adam),
    .default_learning_rate = 0.001,
    .create = create,
    .slots = slots,
    .update = update,
    .update_reg = update_reg,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "adam",
    .class_name = "Adam",
    .version = 1,
    .summary = "Adam with Keras's epsilon-hat, and AMSGrad",
    .ops = &ops,
};

LN_PLUGIN("adam") { return host->add(host, &unit); }
