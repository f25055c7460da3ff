/* An optimizer plugin whose update_reg is wrong: plain SGD, its update
** right, its update_reg folding in the l2 penalty's gradient but
** forgetting the l1 one -- the slip ln.testing.check_optimizer's
** regularized steps are there to catch (tests/lua/test_testing.lua). */
#include "lunet/plugin_util.h"

typedef struct job {
    float *var;
    const float *g;
    double lr;
    lu_reg reg;
} job;

LU_BODY void body(const job *j, int64_t lo, int64_t hi, int reg) {
    float *restrict var = j->var;
    const float *restrict g = j->g;
    const lu_reg r = j->reg;
    const float nlr = (float)-j->lr;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++)
        var[i] = fmaf(nlr, LU_GRAD(r, reg ? 1 : 0, g, var, i), var[i]);
}
LU_UPDATE_LOOPS(step, body, job)

static void run(const void *state, float *var, const float *grad,
                float *const *slots, int64_t n, int64_t t, double lr,
                const double *globals, lu_reg reg) {
    job j = {var, grad, lr, reg};
    ln_parallel_for(n, LU_PICK(reg, step), &j);
}
LU_UPDATE_OPS(run)

static const ln_optimizer_ops ops = {
    .size = sizeof(ln_optimizer_ops),
    .default_learning_rate = 0.01,
    .update = update,
    .update_reg = update_reg,
};
static const ln_unit wrong_unit = {
    .kind = LN_KIND_OPTIMIZER,
    .name = "tp_wrong_reg_sgd",
    .class_name = "TpWrongRegSGD",
    .version = 1,
    .summary = "test: SGD whose update_reg forgets the l1 penalty",
    .ops = &ops,
};

LN_PLUGIN("tp_wrong_reg_optimizer") { return host->add(host, &wrong_unit); }
