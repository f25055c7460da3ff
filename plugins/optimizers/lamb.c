/*
** lamb.c -- LAMB (You et al. 2020, "Large Batch Optimization for Deep
** Learning") as TensorFlow Addons' tfa.optimizers.LAMB: Adam's direction
** plus decoupled weight decay, scaled per variable by the trust ratio.
**
**   m <- beta_1 m + (1 - beta_1) g ;  v <- beta_2 v + (1 - beta_2) g^2
**   r  = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
**        + weight_decay * theta
**   ratio = |theta| / |r| when both norms are > 0, else 1
**   theta <- theta - lr * ratio * r
**
** The norms are over the whole variable, so the rule declares
** LN_OPT_WHOLE_VARIABLE: update gets every variable whole. One pass updates
** the moments and sums |theta|^2 and |r|^2 with a fixed blocking
** (lu_parallel_sums: the same for any thread count), a second applies the
** step, recomputing r from the stored moments exactly as the first did.
** Slots "m", "v". TF Addons' exclude_from_weight_decay and
** exclude_from_layer_adaptation (lists of variable names) are not offered.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct lamb {
    double beta_1, beta_2, epsilon, weight_decay;
} lamb;

/* beta_1 in [0, 1) (0.9), beta_2 in [0, 1] (0.999), epsilon >= 0 (1e-6,
** TF Addons'), weight_decay >= 0 (0). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    lamb *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "beta_1", 0.9, &h->beta_1)) ||
        (st = ln_args_check_range(ctx, "LAMB", "beta_1", h->beta_1, 0,
                                  nextafter(1.0, 0.0))) ||
        (st = ln_args_number(ctx, args, "beta_2", 0.999, &h->beta_2)) ||
        (st = ln_args_check_range(ctx, "LAMB", "beta_2", h->beta_2, 0, 1)) ||
        (st = ln_args_number(ctx, args, "epsilon", 1e-6, &h->epsilon)) ||
        (st = ln_args_check_range(ctx, "LAMB", "epsilon", h->epsilon, 0,
                                  INFINITY)) ||
        (st = ln_args_number(ctx, args, "weight_decay", 0.0, &h->weight_decay)) ||
        (st = ln_args_check_range(ctx, "LAMB", "weight_decay", h->weight_decay,
                                  0, INFINITY)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    (void)state;
    names[0] = "m", init[0] = 0.0f;
    names[1] = "v", init[1] = 0.0f;
    return 2;
}

typedef struct job {
    float *var, *m, *v;
    const float *g;
    double b1, b2, c1, c2, eps, wd;
    double step; /* lr * ratio, for the second pass */
} job;

/* The moments, and |theta|^2, |r|^2 of the block. */
LN_CLONES static void moments(void *arg, int64_t lo, int64_t hi, double *acc) {
    const job *j = arg;
    float *restrict var = j->var, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const double b1 = j->b1, b2 = j->b2, c1 = j->c1, c2 = j->c2, eps = j->eps,
                 wd = j->wd;
    double ww = 0, rr = 0;
#pragma omp simd reduction(+ : ww, rr)
    for (int64_t i = lo; i < hi; i++) {
        double gi = g[i], w = var[i];
        float mi = (float)(b1 * m[i] + (1.0 - b1) * gi);
        float vi = (float)(b2 * v[i] + (1.0 - b2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        double r = (mi / c1) / (sqrt(vi / c2) + eps) + wd * w;
        ww += w * w;
        rr += r * r;
    }
    acc[0] += ww;
    acc[1] += rr;
}

LN_CLONES static void apply(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var;
    const float *restrict m = j->m, *restrict v = j->v;
    const double c1 = j->c1, c2 = j->c2, eps = j->eps, wd = j->wd, s = j->step;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double w = var[i];
        double r = (m[i] / c1) / (sqrt(v[i] / c2) + eps) + wd * w;
        var[i] = (float)(w - s * r);
    }
}

static void update(const void *state, float *var, const float *grad,
                   float *const *slot, int64_t n, int64_t t, double lr,
                   const double *globals) {
    (void)globals;
    const lamb *h = state;
    double td = (double)t, sums[2];
    job j = {var, slot[0], slot[1], grad, h->beta_1, h->beta_2,
             1.0 - pow(h->beta_1, td), 1.0 - pow(h->beta_2, td), h->epsilon,
             h->weight_decay, 0};
    lu_parallel_sums(n, moments, &j, 2, sums);
    double wn = sqrt(sums[0]), rn = sqrt(sums[1]);
    j.step = lr * (wn > 0 && rn > 0 ? wn / rn : 1.0);
    ln_parallel_for(n, apply, &j);
}

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(lamb),
    .default_learning_rate = 0.001,
    .flags = LN_OPT_WHOLE_VARIABLE,
    .create = create,
    .slots = slots,
    .update = update,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "lamb",
    .class_name = "LAMB",
    .version = 1,
    .summary = "LAMB: Adam with weight decay, scaled by the per-variable trust ratio",
    .ops = &ops,
};

LN_PLUGIN("lamb") { return host->add(host, &unit); }
