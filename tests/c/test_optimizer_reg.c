/*
** test_optimizer_reg.c -- every built-in elementwise optimizer offers
** update_reg (plugin.h, ABI 2.3), and it gives, to the bit, update's
** results on the gradient ln_reg_grad made -- the engine's two-pass path --
** for l2 alone and l1 with l2, over several steps, whatever the cut of the
** variable into slices (vector bodies against scalar tails: where a
** compiler's FMA contraction would differ). The whole-variable rules (LAMB,
** LARS) keep the two-pass path: the engine never calls update_reg for them.
** Owner: opt6 (issue 21, regularizers folded into the optimizer step).
*/
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/engine/optimizer.h"
#include "lunet/plugin.h"
#include "testutil.h"

static ln_ctx ctx;

/* Every elementwise rule and variant (lr, options) of plugins/optimizers. */
static const struct {
    const char *unit, *spec;
} cases[] = {
    {"sgd", "learning_rate=0.1"},
    {"sgd", "learning_rate=0.05 momentum=0.9"},
    {"sgd", "learning_rate=0.05 momentum=0.9 nesterov=true"},
    {"adam", "learning_rate=0.01"},
    {"adam", "learning_rate=0.01 amsgrad=true epsilon=0.1"},
    {"adamw", "learning_rate=0.01 weight_decay=0.1"},
    {"adamw", "learning_rate=0.01 weight_decay=0.1 amsgrad=true"},
    {"adagrad", "learning_rate=0.1"},
    {"adagrad", "learning_rate=0.1 epsilon=0.1 initial_accumulator_value=0"},
    {"rmsprop", "learning_rate=0.01"},
    {"rmsprop", "learning_rate=0.01 centered=true"},
    {"rmsprop", "learning_rate=0.01 momentum=0.9"},
    {"rmsprop", "learning_rate=0.01 momentum=0.9 centered=true epsilon=0.1"},
    {"nadam", "learning_rate=0.01"},
    {"nadam", "learning_rate=0.01 schedule_decay=0.5 epsilon=0.1"},
    {"adamax", "learning_rate=0.01"},
    {"adadelta", "learning_rate=1"},
    {"lion", "learning_rate=0.001"},
    {"lion", "learning_rate=0.001 weight_decay=0.5"},
    {"ftrl", "learning_rate=0.1"},
    {"ftrl", "learning_rate=0.1 l1_regularization_strength=0.01 "
             "l2_regularization_strength=0.02 "
             "l2_shrinkage_regularization_strength=0.05 beta=0.3"},
    {"ftrl", "learning_rate=0.1 learning_rate_power=-0.7 "
             "l1_regularization_strength=0.001"},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

enum { N = 1037, STEPS = 6 };

/* A variable, its slots and the optimizer's globals. */
typedef struct state {
    float var[N], slot[LN_MAX_SLOTS][N];
    double globals[LN_MAX_SLOTS];
} state;

static void init_state(const ln_optimizer_ops *ops, const void *hs, state *s,
                       int *nslots) {
    const char *names[LN_MAX_SLOTS];
    float init[LN_MAX_SLOTS] = {0};
    double ginit[LN_MAX_SLOTS] = {0};
    *nslots = ops->slots ? ops->slots(hs, names, init) : 0;
    int ng = ops->globals ? ops->globals(hs, names, ginit) : 0;
    ln_rng rng;
    ln_rng_seed(&rng, 7);
    ln_rng_uniform(&rng, s->var, N, -1.0f, 1.0f);
    for (int64_t i = 0; i < N; i += 97) s->var[i] = 0; /* sign(0): no l1 term */
    for (int k = 0; k < *nslots; k++)
        for (int64_t i = 0; i < N; i++) s->slot[k][i] = init[k];
    for (int k = 0; k < LN_MAX_SLOTS; k++) s->globals[k] = k < ng ? ginit[k] : 0;
}

/* Update [lo, hi) of s with grad: update on ln_reg_grad's gradient
** (two_pass), or update_reg. */
static void run_slice(const ln_optimizer_ops *ops, const void *hs, state *s,
                      int nslots, const float *grad, int64_t lo, int64_t hi,
                      int64_t t, double lr, double l1, double l2, int two_pass) {
    float *slots[LN_MAX_SLOTS];
    for (int k = 0; k < nslots; k++) slots[k] = s->slot[k] + lo;
    if (two_pass) {
        static float g2[N];
        for (int64_t i = lo; i < hi; i++)
            g2[i] = ln_reg_grad(grad[i], s->var[i], (float)l1, (float)(2 * l2));
        ops->update(hs, s->var + lo, g2 + lo, slots, hi - lo, t, lr, s->globals);
    } else {
        ops->update_reg(hs, s->var + lo, grad + lo, slots, hi - lo, t, lr,
                        s->globals, l1, l2);
    }
}

START_TEST(update_reg_is_update_on_the_regularized_gradient) {
    ln_ctx_clear(&ctx);
    ln_optimizer *o = ln_optimizer_new(&ctx, cases[_i].unit, lt_args(cases[_i].spec));
    ck_assert_msg(o != NULL, "%s: %s", cases[_i].unit, ctx.msg);
    const ln_object *obj = ln_optimizer_object(o);
    const ln_optimizer_ops *ops = obj->unit->ops;
    ck_assert_msg(!(ops->flags & LN_OPT_WHOLE_VARIABLE), "%s", cases[_i].unit);
    ck_assert_msg(ops->update_reg != NULL, "%s {%s}: no update_reg",
                  cases[_i].unit, cases[_i].spec);
    const double lr = ln_optimizer_lr_at(o, 0);
    /* Cuts: whole; odd slices (scalar heads and tails around vector bodies) */
    static const int64_t cuts_b[] = {0, 3, 21, 500, 1030, N};
    static const double regs[][2] = {{0, 0.03}, {0.01, 0.03}, {0.02, 0}};
    for (int r = 0; r < 3; r++) {
        static state a, b;
        int nslots;
        init_state(ops, obj->state, &a, &nslots);
        init_state(ops, obj->state, &b, &nslots);
        ln_rng rng;
        ln_rng_seed(&rng, 11 + (uint64_t)r);
        static float grad[N];
        for (int64_t t = 1; t <= STEPS; t++) {
            ln_rng_uniform(&rng, grad, N, -1.0f, 1.0f);
            if (ops->begin_step) {
                ops->begin_step(obj->state, a.globals, t);
                ops->begin_step(obj->state, b.globals, t);
            }
            run_slice(ops, obj->state, &a, nslots, grad, 0, N, t, lr, regs[r][0],
                      regs[r][1], 1);
            for (int c = 0; c + 1 < (int)(sizeof cuts_b / sizeof cuts_b[0]); c++)
                run_slice(ops, obj->state, &b, nslots, grad, cuts_b[c], cuts_b[c + 1],
                          t, lr, regs[r][0], regs[r][1], 0);
            for (int64_t i = 0; i < N; i++) {
                ck_assert_msg(!memcmp(&a.var[i], &b.var[i], sizeof(float)),
                              "%s {%s}, l1 %g l2 %g, step %lld: weight %lld: "
                              "two-pass %.9g, update_reg %.9g",
                              cases[_i].unit, cases[_i].spec, regs[r][0],
                              regs[r][1], (long long)t, (long long)i, a.var[i],
                              b.var[i]);
                for (int k = 0; k < nslots; k++)
                    ck_assert_msg(!memcmp(&a.slot[k][i], &b.slot[k][i], sizeof(float)),
                                  "%s {%s}, step %lld: slot %d of %lld differs",
                                  cases[_i].unit, cases[_i].spec, (long long)t, k,
                                  (long long)i);
            }
        }
        /* the regularizer changed something (l1 or l2 reached the rule) */
        static state plain;
        init_state(ops, obj->state, &plain, &nslots);
        ln_rng rp;
        ln_rng_seed(&rp, 11 + (uint64_t)r);
        for (int64_t t = 1; t <= STEPS; t++) {
            ln_rng_uniform(&rp, grad, N, -1.0f, 1.0f);
            if (ops->begin_step) ops->begin_step(obj->state, plain.globals, t);
            run_slice(ops, obj->state, &plain, nslots, grad, 0, N, t, lr, 0, 0, 1);
        }
        ck_assert_msg(memcmp(plain.var, b.var, sizeof plain.var) != 0,
                      "%s: the regularizer changed nothing", cases[_i].unit);
    }
    ln_optimizer_free(o);
}
END_TEST

/* LAMB and LARS need the whole variable: the engine adds the penalty's
** gradient in its own pass before their update (plugin.h: update_reg is
** never called with LN_OPT_WHOLE_VARIABLE), so they offer none. */
START_TEST(whole_variable_rules_keep_the_two_pass_path) {
    static const char *units[] = {"lamb", "lars"};
    for (int k = 0; k < 2; k++) {
        ln_ctx_clear(&ctx);
        ln_optimizer *o = ln_optimizer_new(&ctx, units[k], NULL);
        ck_assert_msg(o != NULL, "%s: %s", units[k], ctx.msg);
        const ln_optimizer_ops *ops = ln_optimizer_object(o)->unit->ops;
        ck_assert(ops->flags & LN_OPT_WHOLE_VARIABLE);
        ck_assert(ops->update_reg == NULL);
        ln_optimizer_free(o);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("optimizer_reg");
    TCase *tc = tcase_create("fold");
    tcase_add_loop_test(tc, update_reg_is_update_on_the_regularized_gradient, 0, NCASES);
    tcase_add_test(tc, whole_variable_rules_keep_the_two_pass_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return lt_run(suite()); }
