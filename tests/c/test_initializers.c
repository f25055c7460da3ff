/*
** test_initializers.c -- every initializer through ln_initializer_fill (the
** registry path, fans computed by the core): statistics of large
** fixed-seed samples (mean, variance, truncation bound, uniform limits),
** Keras's fan rules for rank 0/1/2/4 shapes, orthogonality, seeds, 1 vs 2
** threads, recorded configs and argument errors.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TRUNC_CORR 0.87962566103423978
/* Variance of a unit normal truncated to [-2, 2] (= TRUNC_CORR^2). */
#define TRUNC_VAR (TRUNC_CORR * TRUNC_CORR)

static ln_tensor *tensor(int nd, const int64_t *shape) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, nd, shape);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    return t;
}

/* Fill t with name{args}; args may be NULL. Fails the test on error. */
static void fill(const char *name, ln_args *args, ln_tensor *t, ln_rng *rng) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_status st = ln_initializer_fill(&ctx, name, args, t, rng);
    ck_assert_msg(st == LN_OK, "%s: %s", name, ctx.msg);
}

typedef struct stats {
    double mean, var, min, max;
} stats;

static stats stats_of(const ln_tensor *t) {
    const float *x = ln_f32(t);
    stats s = {0, 0, INFINITY, -INFINITY};
    for (int64_t i = 0; i < t->numel; i++) {
        s.mean += x[i];
        s.min = fmin(s.min, x[i]);
        s.max = fmax(s.max, x[i]);
    }
    s.mean /= (double)t->numel;
    for (int64_t i = 0; i < t->numel; i++)
        s.var += ((double)x[i] - s.mean) * ((double)x[i] - s.mean);
    s.var /= (double)t->numel;
    return s;
}

/* The kinds of distribution a case should show. */
enum { NORMAL, TRUNC, UNIFORM };

/* Check a sample against its distribution: for NORMAL/TRUNC `a` is the
** mean and `b` the std before truncation; for UNIFORM [a, b). */
static void check_dist(const char *what, const ln_tensor *t, int kind,
                       double a, double b) {
    stats s = stats_of(t);
    double n = (double)t->numel, mean, var;
    if (kind == UNIFORM) {
        mean = (a + b) / 2;
        var = (b - a) * (b - a) / 12;
        ck_assert_msg(s.min >= (float)a && s.max < (float)b,
                      "%s: range [%g, %g] outside [%g, %g)", what, s.min,
                      s.max, a, b);
        double span = b - a; /* the whole range is used */
        ck_assert_msg(s.min < a + 1e-3 * span && s.max > b - 1e-3 * span,
                      "%s: range [%g, %g] does not fill [%g, %g)", what,
                      s.min, s.max, a, b);
    } else {
        mean = a;
        var = kind == TRUNC ? b * b * TRUNC_VAR : b * b;
        if (kind == TRUNC) {
            double bound = 2 * b * (1 + 1e-6) + 1e-7 * fabs(a);
            ck_assert_msg(s.max - a <= bound && a - s.min <= bound,
                          "%s: [%g, %g] beyond mean %g +- 2 std (%g)", what,
                          s.min, s.max, a, 2 * b);
            ck_assert_msg(s.max - a > 0.99 * 2 * b && a - s.min > 0.99 * 2 * b,
                          "%s: [%g, %g] does not reach +-2 std", what, s.min,
                          s.max);
        } else {
            ck_assert_msg(s.max - a > 2.5 * b && a - s.min > 2.5 * b,
                          "%s: [%g, %g] has no tails beyond 2.5 std", what,
                          s.min, s.max);
        }
    }
    double sd = sqrt(var);
    ck_assert_msg(fabs(s.mean - mean) <= 6 * sd / sqrt(n) + 1e-7 * fabs(mean),
                  "%s: mean %.6g, expected %.6g", what, s.mean, mean);
    ck_assert_msg(fabs(s.var - var) <= 0.02 * var,
                  "%s: variance %.6g, expected %.6g", what, s.var, var);
}

static ln_args *args_num(const char *k1, double v1, const char *k2, double v2) {
    ln_args *a = ln_args_new();
    if (k1) ln_args_set_number(a, k1, v1);
    if (k2) ln_args_set_number(a, k2, v2);
    return a;
}

static const int64_t BIG[2] = {400, 500}; /* fan_in 400, fan_out 500 */

START_TEST(constants) {
    ln_tensor *t = tensor(2, BIG);
    ln_rng r = {1, 0};
    fill("ones", NULL, t, &r);
    stats s = stats_of(t);
    ck_assert(s.min == 1 && s.max == 1);
    fill("zeros", NULL, t, &r);
    s = stats_of(t);
    ck_assert(s.min == 0 && s.max == 0);
    ln_args *a = args_num("value", 2.5, NULL, 0);
    fill("constant", a, t, &r);
    s = stats_of(t);
    ck_assert(s.min == 2.5 && s.max == 2.5);
    ck_assert_int_eq(ln_args_count(a), 1);
    ln_args_free(a);
    fill("constant", NULL, t, &r); /* Keras's default value is 0 */
    s = stats_of(t);
    ck_assert(s.min == 0 && s.max == 0);
    ck_assert(r.counter == 0); /* no draws */
    ln_tensor_release(t);
}
END_TEST

START_TEST(random_families) {
    ln_tensor *t = tensor(2, BIG);
    ln_rng r = {2, 0};
    ln_args *a = args_num("mean", 1, "stddev", 2);
    fill("random_normal", a, t, &r);
    check_dist("random_normal(1, 2)", t, NORMAL, 1, 2);
    ln_args_free(a);
    fill("random_normal", NULL, t, &r);
    check_dist("random_normal()", t, NORMAL, 0, 0.05);
    a = args_num("minval", -1, "maxval", 3);
    fill("random_uniform", a, t, &r);
    check_dist("random_uniform(-1, 3)", t, UNIFORM, -1, 3);
    ln_args_free(a);
    fill("random_uniform", NULL, t, &r);
    check_dist("random_uniform()", t, UNIFORM, -0.05, 0.05);
    a = args_num("mean", 0.5, "stddev", 0.1);
    fill("truncated_normal", a, t, &r);
    check_dist("truncated_normal(0.5, 0.1)", t, TRUNC, 0.5, 0.1);
    ln_args_free(a);
    fill("truncated_normal", NULL, t, &r);
    check_dist("truncated_normal()", t, TRUNC, 0, 0.05);
    ln_tensor_release(t);
}
END_TEST

/* VarianceScaling, every mode x distribution: variance scale / n. */
START_TEST(variance_scaling_all) {
    static const char *modes[] = {"fan_in", "fan_out", "fan_avg"};
    static const double fans[] = {400, 500, 450};
    static const char *dists[] = {"truncated_normal", "normal",
                                  "untruncated_normal", "uniform"};
    static const int kinds[] = {TRUNC, TRUNC, NORMAL, UNIFORM};
    ln_tensor *t = tensor(2, BIG);
    ln_rng r = {3, 0};
    for (int m = 0; m < 3; m++)
        for (int d = 0; d < 4; d++) {
            double scale = 0.5 + m + d;
            ln_args *a = args_num("scale", scale, NULL, 0);
            ln_args_set_string(a, "mode", modes[m]);
            ln_args_set_string(a, "distribution", dists[d]);
            fill("variance_scaling", a, t, &r);
            double s = scale / fans[m];
            char what[128];
            snprintf(what, sizeof what, "variance_scaling(%g, %s, %s)", scale,
                     modes[m], dists[d]);
            if (kinds[d] == UNIFORM)
                check_dist(what, t, UNIFORM, -sqrt(3 * s), sqrt(3 * s));
            else if (kinds[d] == TRUNC)
                check_dist(what, t, TRUNC, 0, sqrt(s) / TRUNC_CORR);
            else
                check_dist(what, t, NORMAL, 0, sqrt(s));
            /* the truncated draws end with variance s itself */
            if (kinds[d] == TRUNC) {
                stats st = stats_of(t);
                ck_assert_msg(fabs(st.var - s) <= 0.02 * s, "%s: var %g vs %g",
                              what, st.var, s);
            }
            ln_args_free(a);
        }
    ln_tensor_release(t);
}
END_TEST

/* The named members of the family, at fan_in 400 / fan_out 500. */
START_TEST(glorot_he_lecun) {
    struct {
        const char *name;
        double var; /* the target variance */
        int uniform;
    } c[] = {
        {"glorot_uniform", 2.0 / 900, 1}, {"glorot_normal", 2.0 / 900, 0},
        {"he_uniform", 2.0 / 400, 1},     {"he_normal", 2.0 / 400, 0},
        {"lecun_uniform", 1.0 / 400, 1},  {"lecun_normal", 1.0 / 400, 0},
    };
    ln_tensor *t = tensor(2, BIG);
    ln_rng r = {4, 0};
    for (int i = 0; i < 6; i++) {
        fill(c[i].name, NULL, t, &r);
        double v = c[i].var;
        if (c[i].uniform)
            check_dist(c[i].name, t, UNIFORM, -sqrt(3 * v), sqrt(3 * v));
        else
            check_dist(c[i].name, t, TRUNC, 0, sqrt(v) / TRUNC_CORR);
    }
    /* the sheet's example: Dense 784 -> 128, L = 0.0811107 */
    int64_t sh[2] = {784, 128};
    ln_tensor *k = tensor(2, sh);
    fill("glorot_uniform", NULL, k, &r);
    stats s = stats_of(k);
    ck_assert_msg(s.max < 0.0811107 && s.max > 0.0811 && s.min >= -0.0811107 &&
                      s.min < -0.0811,
                  "glorot_uniform 784x128: [%g, %g]", s.min, s.max);
    ln_tensor_release(k);
    ln_tensor_release(t);
}
END_TEST

/* Keras's fan rules, directly and through he_uniform's limit sqrt(6/fan_in)
** and lecun_uniform / glorot_uniform. */
START_TEST(fan_rules) {
    double fi, fo;
    ln_compute_fans(0, NULL, &fi, &fo);
    ck_assert(fi == 1 && fo == 1);
    int64_t s1[1] = {50};
    ln_compute_fans(1, s1, &fi, &fo);
    ck_assert(fi == 50 && fo == 50);
    int64_t s2[2] = {30, 70};
    ln_compute_fans(2, s2, &fi, &fo);
    ck_assert(fi == 30 && fo == 70);
    int64_t s4[4] = {3, 5, 16, 32};
    ln_compute_fans(4, s4, &fi, &fo);
    ck_assert(fi == 3 * 5 * 16 && fo == 3 * 5 * 32);

    ln_rng r = {5, 0};
    /* rank 0: fans 1, 1 -> glorot limit sqrt(3) */
    ln_tensor *t0 = tensor(0, NULL);
    fill("glorot_uniform", NULL, t0, &r);
    ck_assert(fabsf(ln_f32(t0)[0]) < sqrtf(3.0f) && ln_f32(t0)[0] != 0);
    ln_tensor_release(t0);
    /* rank 1, large: fans (d, d) */
    int64_t d1[1] = {20000};
    ln_tensor *t1 = tensor(1, d1);
    fill("glorot_uniform", NULL, t1, &r);
    double L = sqrt(6.0 / 40000);
    check_dist("glorot_uniform (20000,)", t1, UNIFORM, -L, L);
    fill("he_normal", NULL, t1, &r);
    check_dist("he_normal (20000,)", t1, TRUNC, 0, sqrt(2.0 / 20000) / TRUNC_CORR);
    ln_tensor_release(t1);
    /* rank 4 conv kernel (3, 5, 16, 32): receptive 15 */
    ln_tensor *t4 = tensor(4, s4);
    fill("he_uniform", NULL, t4, &r);
    L = sqrt(6.0 / 240);
    check_dist("he_uniform (3,5,16,32)", t4, UNIFORM, -L, L);
    fill("glorot_normal", NULL, t4, &r);
    check_dist("glorot_normal (3,5,16,32)", t4, TRUNC, 0,
               sqrt(2.0 / (240 + 480)) / TRUNC_CORR);
    ln_args *a = ln_args_new();
    ln_args_set_string(a, "mode", "fan_out");
    ln_args_set_string(a, "distribution", "untruncated_normal");
    fill("variance_scaling", a, t4, &r);
    check_dist("variance_scaling fan_out (3,5,16,32)", t4, NORMAL, 0,
               sqrt(1.0 / 480));
    ln_args_free(a);
    ln_tensor_release(t4);
    /* shape (1, 1): fans 1, 1 */
    int64_t s11[2] = {1, 1};
    ln_tensor *t11 = tensor(2, s11);
    fill("lecun_uniform", NULL, t11, &r);
    ck_assert(fabsf(ln_f32(t11)[0]) < sqrtf(3.0f));
    ln_tensor_release(t11);
}
END_TEST

/* The named case: VarianceScaling(scale=2, mode="fan_avg",
** distribution="uniform") with a seed -- same values on every call, the
** passed generator untouched, the statistics of U[-L, L),
** L = sqrt(3 * 2 / ((400 + 500) / 2)). */
START_TEST(variance_scaling_seeded_fan_avg_uniform) {
    ln_tensor *t = tensor(2, BIG), *u = tensor(2, BIG);
    ln_rng r = {6, 0};
    ln_args *a = args_num("scale", 2, "seed", 1234);
    ln_args_set_string(a, "mode", "fan_avg");
    ln_args_set_string(a, "distribution", "uniform");
    fill("variance_scaling", a, t, &r);
    fill("variance_scaling", a, u, &r);
    ck_assert(r.counter == 0);
    ck_assert(memcmp(ln_f32(t), ln_f32(u), t->numel * sizeof(float)) == 0);
    double L = sqrt(3.0 * (2.0 / 450));
    check_dist("variance_scaling(2, fan_avg, uniform, seed 1234)", t, UNIFORM,
               -L, L);
    /* the values are those of a generator seeded with 1234 */
    ln_rng own;
    ln_rng_seed(&own, 1234);
    ln_rng_uniform(&own, ln_f32(u), u->numel, -(float)L, (float)L);
    ck_assert(memcmp(ln_f32(t), ln_f32(u), t->numel * sizeof(float)) == 0);
    /* a different seed gives different values */
    ln_args_set_number(a, "seed", 99);
    fill("variance_scaling", a, u, &r);
    ck_assert(memcmp(ln_f32(t), ln_f32(u), t->numel * sizeof(float)) != 0);
    ln_args_free(a);
    /* without a seed the passed generator is used and advances */
    fill("glorot_uniform", NULL, t, &r);
    ck_assert(r.counter > 0);
    fill("glorot_uniform", NULL, u, &r);
    ck_assert(memcmp(ln_f32(t), ln_f32(u), t->numel * sizeof(float)) != 0);
    ln_tensor_release(t);
    ln_tensor_release(u);
}
END_TEST

/* W^T W (or W W^T when rows < cols) is gain^2 I. */
static void check_orthogonal(const ln_tensor *t, double gain) {
    int64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    const float *w = ln_f32(t);
    int tall = rows >= cols;
    int64_t n = tall ? cols : rows, m = tall ? rows : cols;
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double d = 0;
            for (int64_t k = 0; k < m; k++)
                d += tall ? (double)w[k * cols + i] * w[k * cols + j]
                          : (double)w[i * cols + k] * w[j * cols + k];
            double want = i == j ? gain * gain : 0;
            worst = fmax(worst, fabs(d - want));
        }
    ck_assert_msg(worst < 1e-5 * gain * gain, "orthogonality error %g", worst);
}

START_TEST(orthogonal_and_identity) {
    ln_rng r = {8, 0};
    int64_t tall[2] = {120, 80}, wide[2] = {40, 90}, conv[4] = {3, 3, 8, 16};
    ln_tensor *a = tensor(2, tall), *b = tensor(2, wide), *c = tensor(4, conv);
    fill("orthogonal", NULL, a, &r);
    check_orthogonal(a, 1);
    ln_args *g = args_num("gain", 2, "seed", 5);
    fill("orthogonal", g, b, &r);
    check_orthogonal(b, 2);
    fill("orthogonal", NULL, c, &r);
    check_orthogonal(c, 1);
    /* the same seed gives the same matrix; values look like N(0,1/sqrt(n)) */
    ln_tensor *b2 = tensor(2, wide);
    fill("orthogonal", g, b2, &r);
    ck_assert(memcmp(ln_f32(b), ln_f32(b2), b->numel * sizeof(float)) == 0);
    ln_args_free(g);
    stats s = stats_of(a);
    ck_assert_msg(fabs(s.var - 1.0 / 120) < 0.1 / 120, "var %g", s.var);
    /* square: a rotation, and the sign rule makes diag(R) > 0, so the
    ** factor of a lower-triangular-free draw is unique: re-running the
    ** same generator state gives identical output */
    ln_rng r1 = {77, 0}, r2 = {77, 0};
    int64_t sq[2] = {64, 64};
    ln_tensor *q1 = tensor(2, sq), *q2 = tensor(2, sq);
    fill("orthogonal", NULL, q1, &r1);
    fill("orthogonal", NULL, q2, &r2);
    check_orthogonal(q1, 1);
    ck_assert(memcmp(ln_f32(q1), ln_f32(q2), q1->numel * sizeof(float)) == 0);
    /* Q's first column is the draw's first column, normalised (R11 > 0) */
    ln_rng r3 = {77, 0};
    float draw[64 * 64];
    ln_rng_normal(&r3, draw, 64 * 64, 0, 1);
    double nrm = 0;
    for (int i = 0; i < 64; i++) nrm += (double)draw[i * 64] * draw[i * 64];
    nrm = sqrt(nrm);
    for (int i = 0; i < 64; i++)
        ck_assert_msg(fabs(ln_f32(q1)[i * 64] - draw[i * 64] / nrm) < 1e-6,
                      "column 0 row %d: %g vs %g", i, ln_f32(q1)[i * 64],
                      draw[i * 64] / nrm);
    ln_tensor_release(q1);
    ln_tensor_release(q2);

    int64_t e[2] = {3, 5};
    ln_tensor *id = tensor(2, e);
    ln_args *ga = args_num("gain", 2.5, NULL, 0);
    fill("identity", ga, id, &r);
    ln_args_free(ga);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            ck_assert(ln_f32(id)[i * 5 + j] == (i == j ? 2.5f : 0.0f));
    ln_tensor_release(id);

    /* shape errors name the shape */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t v[1] = {7};
    ln_tensor *vec = tensor(1, v);
    ck_assert(ln_initializer_fill(&ctx, "orthogonal", NULL, vec, &r) != LN_OK);
    ck_assert_msg(strstr(ctx.msg, "orthogonal") && strstr(ctx.msg, "(7,)"),
                  "%s", ctx.msg);
    ck_assert(ln_initializer_fill(&ctx, "identity", NULL, c, &r) != LN_OK);
    ck_assert_msg(strstr(ctx.msg, "identity") && strstr(ctx.msg, "(3, 3, 8, 16)"),
                  "%s", ctx.msg);
    ln_tensor_release(vec);
    ln_tensor_release(a);
    ln_tensor_release(b);
    ln_tensor_release(b2);
    ln_tensor_release(c);
}
END_TEST

/* Every random initializer fills large tensors identically with 1 and 2
** threads (same generator state). */
START_TEST(threads_bitwise_identical) {
    static const char *names[] = {"random_normal", "random_uniform",
        "truncated_normal", "variance_scaling", "glorot_normal",
        "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
        "lecun_uniform", "orthogonal"};
    int64_t sh[2] = {300, 260};
    ln_tensor *t1 = tensor(2, sh), *t2 = tensor(2, sh);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ln_rng r1 = {10 + i, 3}, r2 = {10 + i, 3};
        ln_set_num_threads(1);
        fill(names[i], NULL, t1, &r1);
        ln_set_num_threads(2);
        fill(names[i], NULL, t2, &r2);
        ck_assert_msg(memcmp(ln_f32(t1), ln_f32(t2),
                             t1->numel * sizeof(float)) == 0,
                      "%s differs between 1 and 2 threads", names[i]);
        ck_assert(r1.counter == r2.counter);
    }
    ln_tensor_release(t1);
    ln_tensor_release(t2);
}
END_TEST

static const char *config_string(const ln_args *a, const char *key) {
    for (int i = 0; i < ln_args_count(a); i++) {
        ln_arg e = ln_args_at(a, i);
        if (!strcmp(e.key, key)) return e.type == LN_ARG_STRING ? e.str : "?";
    }
    return NULL;
}

START_TEST(recorded_configs) {
    int64_t sh[2] = {4, 3};
    ln_tensor *t = tensor(2, sh);
    ln_rng r = {12, 0};
    /* VarianceScaling records every key; 'normal' becomes its canonical
    ** name and the distribution is read case-insensitively */
    ln_args *a = ln_args_new();
    ln_args_set_string(a, "distribution", "Normal");
    fill("variance_scaling", a, t, &r);
    ck_assert_int_eq(ln_args_count(a), 4);
    ck_assert_str_eq(config_string(a, "distribution"), "truncated_normal");
    ck_assert_str_eq(config_string(a, "mode"), "fan_in");
    ln_args_free(a);
    /* GlorotUniform's config is {seed = nil}; Zeros' is {} */
    a = ln_args_new();
    fill("glorot_uniform", a, t, &r);
    ck_assert_int_eq(ln_args_count(a), 1);
    ck_assert(ln_args_at(a, 0).type == LN_ARG_NULL);
    ck_assert_str_eq(ln_args_at(a, 0).key, "seed");
    ln_args_free(a);
    a = ln_args_new();
    fill("zeros", a, t, &r);
    ck_assert_int_eq(ln_args_count(a), 0);
    ln_args_free(a);
    /* but a seed given to a deterministic initializer is accepted */
    a = args_num("seed", 3, NULL, 0);
    fill("ones", a, t, &r);
    fill("identity", a, t, &r);
    ln_args_free(a);
    ln_tensor_release(t);
}
END_TEST

static void expect_fail(const char *name, ln_args *a, const char *w1,
                        const char *w2) {
    int64_t sh[2] = {4, 3};
    ln_tensor *t = tensor(2, sh);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_rng r = {1, 0};
    ck_assert_msg(ln_initializer_fill(&ctx, name, a, t, &r) != LN_OK,
                  "%s accepted", name);
    ck_assert_msg(strstr(ctx.msg, w1) && (!w2 || strstr(ctx.msg, w2)),
                  "%s: message '%s'", name, ctx.msg);
    ln_args_free(a);
    ln_tensor_release(t);
}

START_TEST(bad_arguments) {
    ln_args *a;
    expect_fail("he_normall", NULL, "unknown initializer 'he_normall'", NULL);
    a = ln_args_new();
    ln_args_set_string(a, "mode", "fan_sum");
    expect_fail("variance_scaling", a, "'mode'", "fan_sum");
    a = ln_args_new();
    ln_args_set_string(a, "distribution", "gaussian");
    expect_fail("variance_scaling", a, "'distribution'", "gaussian");
    expect_fail("variance_scaling", args_num("scale", 0, NULL, 0), "'scale'",
                "variance_scaling");
    expect_fail("random_uniform", args_num("minval", 1, "maxval", -1),
                "minval", "random_uniform");
    expect_fail("random_normal", args_num("stddev", -1, NULL, 0), "'stddev'",
                NULL);
    expect_fail("glorot_uniform", args_num("scale", 2, NULL, 0),
                "unknown keyword argument 'scale'", "glorot_uniform");
    a = ln_args_new();
    ln_args_set_string(a, "seed", "abc");
    expect_fail("he_uniform", a, "'seed'", "he_uniform");
}
END_TEST

int main(void) {
    Suite *s = suite_create("initializers");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, constants);
    tcase_add_test(tc, random_families);
    tcase_add_test(tc, variance_scaling_all);
    tcase_add_test(tc, glorot_he_lecun);
    tcase_add_test(tc, fan_rules);
    tcase_add_test(tc, variance_scaling_seeded_fan_avg_uniform);
    tcase_add_test(tc, orthogonal_and_identity);
    tcase_add_test(tc, threads_bitwise_identical);
    tcase_add_test(tc, recorded_configs);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
