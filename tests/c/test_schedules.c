/*
** test_schedules.c -- the learning-rate schedule plugins against their
** formulas (tf.keras.optimizers.schedules; 1cycle as in Hands-On ML),
** written out here independently, over many steps including the edges
** (staircase, cycle, boundaries, the end of decay); configs with defaults;
** positional arguments; errors that name the key.
*/
#include <check.h>
#include <math.h>
#include <string.h>

#include "lunet/engine/optimizer.h"
#include "testutil.h"

static ln_ctx ctx;

static ln_object *make(const char *unit, const char *spec) {
    ln_ctx_clear(&ctx);
    ln_object *s = ln_object_new(&ctx, LN_KIND_SCHEDULE, unit, lt_args(spec));
    ck_assert_msg(s != NULL, "%s{%s}: %s", unit, spec, ctx.msg);
    return s;
}

static void expect_error(const char *unit, const char *spec, const char *want) {
    ln_ctx_clear(&ctx);
    ln_object *s = ln_object_new(&ctx, LN_KIND_SCHEDULE, unit, lt_args(spec));
    ck_assert_msg(s == NULL, "%s{%s} was accepted", unit, spec);
    ck_assert_msg(strstr(ctx.msg, want) != NULL, "'%s' lacks '%s'", ctx.msg, want);
}

static void near(double got, double want, const char *what, double step) {
    ck_assert_msg(fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want)),
                  "%s at step %g: %.17g, expected %.17g", what, step, got, want);
}

static double config_number(const ln_object *s, const char *key) {
    for (int i = 0; i < ln_args_count(s->args); i++) {
        ln_arg e = ln_args_at(s->args, i);
        if (!strcmp(e.key, key)) {
            ck_assert_msg(e.type == LN_ARG_NUMBER || e.type == LN_ARG_BOOL,
                          "config '%s' is not a number", key);
            return e.num;
        }
    }
    ck_abort_msg("config has no '%s'", key);
    return 0;
}

START_TEST(exponential_decay) {
    ln_object *s = make("exponential_decay",
                        "initial_learning_rate=0.1 decay_steps=1000 decay_rate=0.96");
    for (int step = 0; step <= 5000; step += 37)
        near(ln_schedule_value(s, step), 0.1 * pow(0.96, step / 1000.0), "exp", step);
    ck_assert(config_number(s, "staircase") == 0);
    ln_object_free(s);
    s = make("exponential_decay", "#1=0.5 #2=10 #3=0.5 staircase=true");
    for (int step = 0; step <= 100; step++)
        near(ln_schedule_value(s, step), 0.5 * pow(0.5, floor(step / 10.0)), "stair", step);
    near(ln_schedule_value(s, 9), 0.5, "stair", 9);
    near(ln_schedule_value(s, 10), 0.25, "stair", 10);
    ck_assert(config_number(s, "decay_steps") == 10);
    ln_object_free(s);
    expect_error("exponential_decay", "initial_learning_rate=0.1 decay_rate=0.5",
                 "'decay_steps'");
    expect_error("exponential_decay", "#1=0.1 #2=0 #3=0.5", "'decay_steps'");
    expect_error("exponential_decay", "#1=0.1 #2=10 #3=0.5 rate=2", "'rate'");
}
END_TEST

START_TEST(inverse_time_decay) {
    ln_object *s = make("inverse_time_decay", "#1=0.1 #2=1.0 #3=0.5");
    for (int step = 0; step <= 300; step += 7)
        near(ln_schedule_value(s, step), 0.1 / (1 + 0.5 * step), "inv", step);
    ln_object_free(s);
    s = make("inverse_time_decay",
             "initial_learning_rate=1 decay_steps=5 decay_rate=2 staircase=true");
    for (int step = 0; step <= 60; step++)
        near(ln_schedule_value(s, step), 1.0 / (1 + 2 * floor(step / 5.0)), "inv", step);
    ln_object_free(s);
    expect_error("inverse_time_decay", "#1=0.1 #2=10", "'decay_rate'");
}
END_TEST

START_TEST(piecewise_constant_decay) {
    /* Keras's documented example: 1.0 up to step 100000, 0.5 up to 110000,
    ** then 0.1. */
    ln_object *s = make("piecewise_constant_decay",
                        "boundaries=[100000,110000] values=[1.0,0.5,0.1]");
    near(ln_schedule_value(s, 0), 1.0, "pw", 0);
    near(ln_schedule_value(s, 100000), 1.0, "pw", 100000);
    near(ln_schedule_value(s, 100001), 0.5, "pw", 100001);
    near(ln_schedule_value(s, 110000), 0.5, "pw", 110000);
    near(ln_schedule_value(s, 110001), 0.1, "pw", 110001);
    near(ln_schedule_value(s, 1e9), 0.1, "pw", 1e9);
    ln_object_free(s);
    s = make("piecewise_constant_decay", "#1=[3,7,9] #2=[4,3,2,1]");
    for (int step = 0; step < 15; step++) {
        double want = step <= 3 ? 4 : step <= 7 ? 3 : step <= 9 ? 2 : 1;
        near(ln_schedule_value(s, step), want, "pw", step);
    }
    ln_object_free(s);
    expect_error("piecewise_constant_decay", "boundaries=[1,2] values=[1,2]", "'values'");
    expect_error("piecewise_constant_decay", "boundaries=[5,2] values=[1,2,3]",
                 "'boundaries'");
    expect_error("piecewise_constant_decay", "values=[1,2]", "'boundaries'");
    expect_error("piecewise_constant_decay", "boundaries=[1] values=fast", "'values'");
}
END_TEST

START_TEST(polynomial_decay) {
    ln_object *s = make("polynomial_decay", "#1=0.1 #2=100");
    ck_assert(config_number(s, "end_learning_rate") == 0.0001);
    ck_assert(config_number(s, "power") == 1.0);
    for (int step = 0; step <= 250; step += 3) {
        double st = step < 100 ? step : 100;
        near(ln_schedule_value(s, step), (0.1 - 0.0001) * (1 - st / 100) + 0.0001,
             "poly", step);
    }
    ln_object_free(s);
    s = make("polynomial_decay",
             "initial_learning_rate=1 decay_steps=10 end_learning_rate=0.1 power=0.5 cycle=true");
    for (int step = 0; step <= 45; step++) {
        double d = 10 * (step == 0 ? 1 : ceil(step / 10.0));
        near(ln_schedule_value(s, step), 0.9 * pow(1 - step / d, 0.5) + 0.1, "cycle", step);
    }
    ln_object_free(s);
    expect_error("polynomial_decay", "#1=0.1", "'decay_steps'");
}
END_TEST

START_TEST(cosine_decay) {
    ln_object *s = make("cosine_decay", "#1=0.2 #2=50 alpha=0.1");
    for (int step = 0; step <= 80; step++) {
        double f = (step < 50 ? step : 50) / 50.0;
        double c = 0.5 * (1 + cos(3.14159265358979323846 * f));
        near(ln_schedule_value(s, step), 0.2 * ((1 - 0.1) * c + 0.1), "cos", step);
    }
    near(ln_schedule_value(s, 0), 0.2, "cos", 0);
    near(ln_schedule_value(s, 50), 0.02, "cos", 50);
    ln_object_free(s);
    s = make("cosine_decay", "initial_learning_rate=1 decay_steps=4");
    ck_assert(config_number(s, "alpha") == 0);
    ln_object_free(s);
}
END_TEST

/* Geron's OneCycleScheduler, written out: start = max / 10, last_steps =
** T // 10 + 1, half = (T - last_steps) // 2, last = start / 1000. */
static double one_cycle_ref(double T, double max, double step) {
    double start = max / 10, last = start / 1000;
    double L = floor(T / 10) + 1, H = floor((T - L) / 2);
    if (step < H) return (max - start) * step / H + start;
    if (step < 2 * H) return (start - max) * (step - H) / H + max;
    if (step > T) return last;
    return (last - start) * (step - 2 * H) / (T - 2 * H) + start;
}

START_TEST(one_cycle) {
    ln_object *s = make("one_cycle", "total_steps=1000 max_learning_rate=0.05");
    ck_assert(config_number(s, "start_learning_rate") == 0.005);
    ck_assert(config_number(s, "last_steps") == 101);
    ck_assert(fabs(config_number(s, "last_learning_rate") - 5e-6) < 1e-20);
    for (int step = 0; step <= 1100; step++)
        near(ln_schedule_value(s, step), one_cycle_ref(1000, 0.05, step), "1cycle", step);
    /* The shape: rises to the max at half the cycle, back to start, ends low. */
    near(ln_schedule_value(s, 449), one_cycle_ref(1000, 0.05, 449), "1cycle", 449);
    ck_assert(ln_schedule_value(s, 449) > 0.049);
    near(ln_schedule_value(s, 898), 0.005, "1cycle", 898);
    near(ln_schedule_value(s, 1000), 5e-6, "1cycle", 1000);
    ln_object_free(s);
    s = make("one_cycle", "#1=100 #2=1.0 start_learning_rate=0.2 last_steps=20 "
                          "last_learning_rate=0.01");
    near(ln_schedule_value(s, 0), 0.2, "1cycle", 0);
    near(ln_schedule_value(s, 40), 1.0, "1cycle", 40);
    near(ln_schedule_value(s, 80), 0.2, "1cycle", 80);
    near(ln_schedule_value(s, 90), 0.105, "1cycle", 90);
    near(ln_schedule_value(s, 100), 0.01, "1cycle", 100);
    ln_object_free(s);
    expect_error("one_cycle", "max_learning_rate=0.1", "'total_steps'");
    expect_error("one_cycle", "total_steps=100", "'max_learning_rate'");
    expect_error("one_cycle", "total_steps=100 max_learning_rate=1 last_steps=100",
                 "'last_steps'");
}
END_TEST

START_TEST(units_are_registered) {
    const char *units[] = {"exponential_decay", "inverse_time_decay",
                           "piecewise_constant_decay", "polynomial_decay",
                           "cosine_decay", "one_cycle"};
    const char *classes[] = {"ExponentialDecay", "InverseTimeDecay",
                             "PiecewiseConstantDecay", "PolynomialDecay",
                             "CosineDecay", "OneCycle"};
    for (int i = 0; i < 6; i++) {
        const ln_unit *u = ln_registry_find(LN_KIND_SCHEDULE, units[i], NULL);
        ck_assert_msg(u != NULL, "%s is not registered", units[i]);
        ck_assert_str_eq(u->class_name, classes[i]);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("schedules");
    TCase *tc = tcase_create("schedules");
    tcase_add_test(tc, exponential_decay);
    tcase_add_test(tc, inverse_time_decay);
    tcase_add_test(tc, piecewise_constant_decay);
    tcase_add_test(tc, polynomial_decay);
    tcase_add_test(tc, cosine_decay);
    tcase_add_test(tc, one_cycle);
    tcase_add_test(tc, units_are_registered);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
