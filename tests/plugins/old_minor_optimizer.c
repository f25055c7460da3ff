/* An optimizer plugin built for ABI 2.2, before update_reg (2.3): its ops
** table ends at update. Plain SGD, its loop written as sgd.c's (one
** float32 fused multiply-add), so a regularized fit with it -- the engine adds
** the penalty's gradient in a pass of its own, then calls update -- must
** give the bits of the built-in SGD, which folds it into update_reg.
** tests/lua/test_regularizers_fold.lua uses it. */
#include <stddef.h>

#include "lunet/plugin_util.h"

typedef struct job {
    float *var;
    const float *g;
    double lr;
} job;

LN_CLONES static void plain(void *arg, int64_t lo, int64_t hi) {
    const job *j = arg;
    float *restrict var = j->var;
    const float *restrict g = j->g;
    const float nlr = (float)-j->lr;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) var[i] = fmaf(nlr, g[i], var[i]);
}

static void old_update(const void *state, float *var, const float *grad,
                       float *const *slot, int64_t n, int64_t t, double lr,
                       const double *globals) {
    job j = {var, grad, lr};
    ln_parallel_for(n, plain, &j);
}

/* the size of a 2.2 ops table: everything before update_reg */
static const ln_optimizer_ops old_ops = {
    .size = offsetof(ln_optimizer_ops, update_reg),
    .default_learning_rate = 0.01,
    .update = old_update,
};
static const ln_unit old_unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "tp_old_sgd",
    .class_name = "TpOldSGD",
    .version = 1,
    .summary = "test: plain SGD built for ABI 2.2 (no update_reg)",
    .ops = &old_ops,
};

LN_API const ln_plugin_desc ln_plugin_info = {2, 2, "tp_old_minor_optimizer"};
LN_API ln_status ln_plugin_init(ln_host *host) { return host->add(host, &old_unit); }
