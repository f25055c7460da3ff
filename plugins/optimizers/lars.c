/*
** lars.c -- LARS (You, Gitman & Ginsburg 2017, "Large Batch Training of
** Convolutional Networks") as the TensorFlow Model Garden's LARS optimizer
** (the SimCLR one) with classic momentum: SGD with momentum whose learning
** rate is scaled per variable by the trust ratio.
**
**   g' = g + weight_decay * theta
**   trust = eeta * |theta| / |g'| when both norms are > 0, else 1
**   v <- momentum * v + lr * trust * g'
**   theta <- theta - v                      (nesterov: - momentum * v
**                                                       - lr * trust * g')
**
** The velocity has TF's sign (it is subtracted), unlike Keras's SGD. The
** norms are over the whole variable (LN_OPT_WHOLE_VARIABLE): one pass sums
** |theta|^2 and |g'|^2 with a fixed blocking (lu_parallel_sums: the same for
** any thread count), a second applies the step. Slot "momentum". The
** Model Garden's exclude_from_* lists (variable names) and its
** classic_momentum = false variant are not offered.
*/
#include <math.h>

#include "lunet/plugin_util.h"

typedef struct lars {
    double momentum, eeta, weight_decay;
    int nesterov;
} lars;

/* momentum in [0, 1] (0.9), eeta >= 0 (0.001), weight_decay >= 0 (0),
** nesterov (false). */
static ln_status create(ln_ctx *ctx, void *state, ln_args *args) {
    lars *h = state;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "momentum", 0.9, &h->momentum)) ||
        (st = ln_args_check_range(ctx, "LARS", "momentum", h->momentum, 0, 1)) ||
        (st = ln_args_number(ctx, args, "eeta", 0.001, &h->eeta)) ||
        (st = ln_args_check_range(ctx, "LARS", "eeta", h->eeta, 0, INFINITY)) ||
        (st = ln_args_number(ctx, args, "weight_decay", 0.0, &h->weight_decay)) ||
        (st = ln_args_check_range(ctx, "LARS", "weight_decay", h->weight_decay,
                                  0, INFINITY)) ||
        (st = ln_args_bool(ctx, args, "nesterov", 0, &h->nesterov)))
        return st;
    return LN_OK;
}

static int slots(const void *state, const char **names, float *init) {
    (void)state;
    names[0] = "momentum", init[0] = 0.0f;
    return 1;
}

typedef struct job {
    float *var, *v;
    const float *g;
    double mu, wd;
    double slr, a, b; /* lr * trust, and the step's factors (apply) */
} job;

/* |theta|^2 and |g'|^2 of the block. */
LN_CLONES static void norms(void *arg, int64_t lo, int64_t hi, double *acc) {
    const job *j = arg;
    const float *restrict var = j->var, *restrict g = j->g;
    const double wd = j->wd;
    double ww = 0, gg = 0;
#pragma omp simd reduction(+ : ww, gg)
    for (int64_t i = lo; i < hi; i++) {
        double w = var[i], gi = g[i] + wd * w;
        ww += w * w;
        gg += gi * gi;
    }
    acc[0] += ww;
    acc[1] += gg;
}

/* theta <- theta - (a v + b g'): a = 1, b = 0, or with Nesterov a =
** momentum, b = lr * trust (one loop for both, no branch inside). */
LN_CLONES static void apply(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var, *restrict v = j->v;
    const float *restrict g = j->g;
    const double mu = j->mu, wd = j->wd, slr = j->slr, a = j->a, b = j->b;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        double w = var[i], gi = g[i] + wd * w;
        double vi = mu * v[i] + slr * gi;
        v[i] = (float)vi;
        var[i] = (float)(w - (a * vi + b * gi));
    }
}

static void update(const void *state, float *var, const float *grad,
                   float *const *slot, int64_t n, int64_t t, double lr,
                   const double *globals) {
    (void)t, (void)globals;
    const lars *h = state;
    double sums[2];
    job j = {var, slot[0], grad, h->momentum, h->weight_decay, 0, 1, 0};
    lu_parallel_sums(n, norms, &j, 2, sums);
    double wn = sqrt(sums[0]), gn = sqrt(sums[1]);
    j.slr = lr * (wn > 0 && gn > 0 ? h->eeta * wn / gn : 1.0);
    if (h->nesterov) j.a = h->momentum, j.b = j.slr;
    ln_parallel_for(n, apply, &j);
}

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .state_size = sizeof(lars),
    .default_learning_rate = 0.01,
    .flags = LN_OPT_WHOLE_VARIABLE,
    .create = create,
    .slots = slots,
    .update = update,
};

static const ln_unit unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "lars",
    .class_name = "LARS",
    .version = 1,
    .summary = "LARS: SGD with momentum, scaled by the per-variable trust ratio",
    .ops = &ops,
};

LN_PLUGIN("lars") { return host->add(host, &unit); }
