/*
** test_metrics.c -- the accuracy metrics through the registry
** (ln_object_new): hand-made batches with ties (first index wins argmax;
** in_top_k counts ties at the boundary), label dtypes and (N, 1) labels,
** the strict > of binary_accuracy, accumulation into total/count, a large
** random batch against counts computed here, 1 vs 2 threads, and errors.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ln_object *metric_new(const char *name, ln_args *a) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_object *o = ln_object_new(&ctx, LN_KIND_METRIC, name, a);
    ck_assert_msg(o != NULL, "%s: %s", name, ctx.msg);
    return o;
}

static ln_status upd(ln_ctx *ctx, const ln_object *o, const ln_tensor *p,
                     const ln_tensor *y, double *total, double *count) {
    const ln_metric_ops *ops = o->unit->ops;
    ln_ctx_clear(ctx);
    return ops->update(ctx, o->state, p, y, total, count);
}

static ln_tensor *from(ln_dtype dt, int nd, int64_t a, int64_t b,
                       const double *v) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t sh[2] = {a, b};
    ln_tensor *t = ln_tensor_new(&ctx, dt, nd, sh);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    for (int64_t i = 0; v && i < t->numel; i++) {
        if (dt == LN_FLOAT32) ln_f32(t)[i] = (float)v[i];
        else if (dt == LN_INT32) ln_i32(t)[i] = (int32_t)v[i];
        else ln_u8(t)[i] = (uint8_t)v[i];
    }
    return t;
}

/* Runs the metric on (p, y) starting from total = 1, count = 2 (update
** adds) and checks what it added. */
static void expect(const ln_object *o, const ln_tensor *p, const ln_tensor *y,
                   double hits, double n) {
    ln_ctx ctx;
    double total = 1, count = 2;
    ck_assert_msg(upd(&ctx, o, p, y, &total, &count) == LN_OK, "%s: %s",
                  o->unit->name, ctx.msg);
    ck_assert_msg(fabs(total - 1 - hits) < 1e-12 && count - 2 == n,
                  "%s: added %g / %g, expected %g / %g", o->unit->name,
                  total - 1, count - 2, hits, n);
}

static const double P4[12] = {
    0.2, 0.5, 0.3, /* argmax 1 */
    0.4, 0.4, 0.2, /* tie: argmax 0 */
    0.1, 0.1, 0.1, /* all tied: argmax 0 */
    0.3, 0.3, 0.4, /* argmax 2 */
};

START_TEST(sparse_categorical_accuracy) {
    ln_object *o = metric_new("sparse_categorical_accuracy", NULL);
    ck_assert_str_eq(o->unit->class_name, "SparseCategoricalAccuracy");
    ln_tensor *p = from(LN_FLOAT32, 2, 4, 3, P4);
    const double lab[4] = {1, 1, 0, 2}; /* hit, miss (tie goes to 0), hit, hit */
    ln_dtype dts[3] = {LN_INT32, LN_UINT8, LN_FLOAT32};
    for (int d = 0; d < 3; d++) {
        ln_tensor *y = from(dts[d], 1, 4, 1, lab);
        expect(o, p, y, 3, 4);
        ln_tensor_release(y);
    }
    ln_tensor *y41 = from(LN_INT32, 2, 4, 1, lab); /* (N, 1) labels */
    expect(o, p, y41, 3, 4);
    /* a label that is no class index, or not an integer, never matches */
    const double odd[4] = {1.5, 7, 0, 2};
    ln_tensor *yf = from(LN_FLOAT32, 1, 4, 1, odd);
    expect(o, p, yf, 2, 4);
    ln_tensor_release(y41), ln_tensor_release(yf), ln_tensor_release(p);
    ln_object_free(o);
}
END_TEST

START_TEST(categorical_accuracy) {
    ln_object *o = metric_new("categorical_accuracy", NULL);
    ln_tensor *p = from(LN_FLOAT32, 2, 4, 3, P4);
    const double y[12] = {0, 1, 0, /* hit */
                          0, 1, 0, /* miss: pred tie goes to 0 */
                          0.5, 0.5, 0, /* target tie -> 0: hit */
                          0, 0, 1}; /* hit */
    ln_tensor *t = from(LN_FLOAT32, 2, 4, 3, y);
    expect(o, p, t, 3, 4);
    ln_tensor *tu = from(LN_UINT8, 2, 4, 3, (const double[]){0, 0, 1, 1, 0, 0,
                                                             0, 1, 0, 0, 0, 1});
    expect(o, p, tu, 2, 4); /* miss, hit (pred tie -> 0), miss, hit */
    ln_tensor_release(p), ln_tensor_release(t), ln_tensor_release(tu);
    ln_object_free(o);
}
END_TEST

START_TEST(binary_accuracy) {
    ln_object *o = metric_new("binary_accuracy", NULL);
    ck_assert_str_eq(o->unit->class_name, "BinaryAccuracy");
    /* (N, 1) predictions, (N,) targets; 0.5 is not > 0.5 */
    const double p[5] = {0.9, 0.5, 0.50001, 0.1, 0.7};
    const double y[5] = {1, 0, 1, 1, 0};
    ln_tensor *pt = from(LN_FLOAT32, 2, 5, 1, p);
    ln_tensor *yt = from(LN_INT32, 1, 5, 1, y);
    expect(o, pt, yt, 3, 5);
    ln_tensor *yf = from(LN_FLOAT32, 2, 5, 1, y);
    expect(o, pt, yf, 3, 5);
    /* several outputs per sample: per-sample means 2/3 and 1/3 */
    const double p2[6] = {0.9, 0.2, 0.6, 0.1, 0.1, 0.1};
    const double y2[6] = {1, 0, 0, 1, 1, 0};
    ln_tensor *p2t = from(LN_FLOAT32, 2, 2, 3, p2);
    ln_tensor *y2t = from(LN_FLOAT32, 2, 2, 3, y2);
    expect(o, p2t, y2t, 1.0, 2);
    /* threshold */
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "threshold", 0.8);
    ln_object *o8 = metric_new("binary_accuracy", a);
    expect(o8, pt, yt, 3, 5); /* only 0.9 -> 1: samples 0, 1 and 4 match */
    ln_tensor_release(pt), ln_tensor_release(yt), ln_tensor_release(yf);
    ln_tensor_release(p2t), ln_tensor_release(y2t);
    ln_object_free(o), ln_object_free(o8);
}
END_TEST

START_TEST(top_k) {
    const double p[10] = {0.1, 0.3, 0.3, 0.2, 0.1,   /* sample 0 */
                          0.5, 0.1, 0.1, 0.1, 0.2};  /* sample 1 */
    ln_tensor *pt = from(LN_FLOAT32, 2, 2, 5, p);
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "k", 2);
    ln_object *sk = metric_new("sparse_top_k_categorical_accuracy", a);
    a = ln_args_new();
    ln_args_set_number(a, "k", 2);
    ln_object *ck = metric_new("top_k_categorical_accuracy", a);
    /* class 2 ties class 1 for first: in; class 3 third: out;
    ** sample 1: class 4 second: in; class 1, tied with 2 and 3 at 0.1 behind
    ** two larger: out */
    const double l1[2] = {2, 4}, l2[2] = {3, 1};
    ln_tensor *y1 = from(LN_INT32, 1, 2, 1, l1), *y2 = from(LN_UINT8, 1, 2, 1, l2);
    expect(sk, pt, y1, 2, 2);
    expect(sk, pt, y2, 0, 2);
    ln_tensor *o1 = from(LN_FLOAT32, 2, 2, 5, (const double[]){0, 0, 1, 0, 0,
                                                               0, 0, 0, 0, 1});
    expect(ck, pt, o1, 2, 2);
    /* ties at the boundary all count: k = 1 with sample 0's 0.3, 0.3 */
    a = ln_args_new();
    ln_args_set_number(a, "k", 1);
    ln_object *k1 = metric_new("sparse_top_k_categorical_accuracy", a);
    const double l3[2] = {1, 0};
    ln_tensor *y3 = from(LN_INT32, 1, 2, 1, l3);
    expect(k1, pt, y3, 2, 2);
    /* default k = 5 covers every class of 5 */
    ln_object *k5 = metric_new("sparse_top_k_categorical_accuracy", NULL);
    expect(k5, pt, y2, 2, 2);
    ck_assert_int_eq(ln_args_count(k5->args), 1);
    ck_assert(ln_args_at(k5->args, 0).num == 5);
    ln_tensor_release(pt), ln_tensor_release(y1), ln_tensor_release(y2);
    ln_tensor_release(o1), ln_tensor_release(y3);
    ln_object_free(sk), ln_object_free(ck), ln_object_free(k1);
    ln_object_free(k5);
}
END_TEST

/* A large random batch with many ties (values on a coarse grid) against
** counts computed here; 1 and 2 threads agree. */
START_TEST(large_batch_reference_and_threads) {
    const int R = 30000, K = 10;
    ln_tensor *p = from(LN_FLOAT32, 2, R, K, NULL);
    ln_tensor *lab = from(LN_INT32, 1, R, 1, NULL);
    ln_tensor *oh = from(LN_FLOAT32, 2, R, K, NULL);
    ln_rng r = {5, 0};
    float *pf = ln_f32(p);
    for (int i = 0; i < R * K; i++) pf[i] = floorf((float)ln_rng_double(&r) * 4) / 4;
    int64_t hits = 0, top3 = 0;
    for (int i = 0; i < R; i++) {
        int l = (int)(ln_rng_double(&r) * K), best = 0, greater = 0;
        ln_i32(lab)[i] = l;
        ln_f32(oh)[i * K + l] = 1;
        for (int c = 1; c < K; c++)
            if (pf[i * K + c] > pf[i * K + best]) best = c;
        for (int c = 0; c < K; c++) greater += pf[i * K + c] > pf[i * K + l];
        hits += best == l;
        top3 += greater < 3;
    }
    ln_object *sa = metric_new("sparse_categorical_accuracy", NULL);
    ln_object *ca = metric_new("categorical_accuracy", NULL);
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "k", 3);
    ln_object *tk = metric_new("top_k_categorical_accuracy", a);
    for (int th = 1; th <= 2; th++) {
        ln_set_num_threads(th);
        expect(sa, p, lab, (double)hits, R);
        expect(ca, p, oh, (double)hits, R);
        expect(tk, p, oh, (double)top3, R);
    }
    ck_assert(hits > R / 20 && hits < R / 2 && top3 > hits);
    ln_object_free(sa), ln_object_free(ca), ln_object_free(tk);
    ln_tensor_release(p), ln_tensor_release(lab), ln_tensor_release(oh);
}
END_TEST

static void expect_err(const ln_object *o, const ln_tensor *p,
                       const ln_tensor *y, const char *w1, const char *w2) {
    ln_ctx ctx;
    double total = 0, count = 0;
    ck_assert_msg(upd(&ctx, o, p, y, &total, &count) != LN_OK, "%s accepted",
                  o->unit->name);
    ck_assert_msg(strstr(ctx.msg, o->unit->name) && strstr(ctx.msg, w1) &&
                      (!w2 || strstr(ctx.msg, w2)),
                  "%s: message '%s'", o->unit->name, ctx.msg);
    ck_assert(total == 0 && count == 0);
}

START_TEST(errors) {
    ln_tensor *p = from(LN_FLOAT32, 2, 4, 3, P4);
    ln_tensor *y5 = from(LN_INT32, 1, 5, 1, NULL);
    ln_tensor *y42 = from(LN_FLOAT32, 2, 4, 2, NULL);
    ln_tensor *pv = from(LN_FLOAT32, 1, 4, 1, NULL);
    ln_tensor *pi = from(LN_INT32, 2, 4, 3, NULL);
    ln_object *sa = metric_new("sparse_categorical_accuracy", NULL);
    ln_object *ca = metric_new("categorical_accuracy", NULL);
    ln_object *ba = metric_new("binary_accuracy", NULL);
    ln_object *tk = metric_new("top_k_categorical_accuracy", NULL);
    ln_object *st = metric_new("sparse_top_k_categorical_accuracy", NULL);
    expect_err(sa, p, y5, "(5,)", "(4, 3)");
    expect_err(sa, p, y42, "(4, 2)", "(4, 3)");
    expect_err(sa, pv, y5, "(4,)", NULL);
    expect_err(ca, p, y42, "(4, 2)", "(4, 3)");
    expect_err(ba, p, y42, "(4, 2)", "(4, 3)");
    expect_err(tk, p, y42, "(4, 2)", "(4, 3)");
    expect_err(st, p, y5, "(5,)", "(4, 3)");
    expect_err(ca, pi, pi, "float32", "int32");
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "k", 0);
    ck_assert(ln_object_new(&ctx, LN_KIND_METRIC, "top_k_categorical_accuracy",
                            a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "'k'") && strstr(ctx.msg, "top_k"), "%s",
                  ctx.msg);
    a = ln_args_new();
    ln_args_set_number(a, "threshold", 0.5);
    ck_assert(ln_object_new(&ctx, LN_KIND_METRIC, "categorical_accuracy", a) ==
              NULL);
    ck_assert_msg(strstr(ctx.msg, "unknown keyword argument 'threshold'"), "%s",
                  ctx.msg);
    ck_assert(ln_object_new(&ctx, LN_KIND_METRIC, "accuracy", NULL) == NULL);
    ck_assert_msg(strstr(ctx.msg, "unknown metric 'accuracy'"), "%s", ctx.msg);
    ln_tensor_release(p), ln_tensor_release(y5), ln_tensor_release(y42);
    ln_tensor_release(pv), ln_tensor_release(pi);
    ln_object_free(sa), ln_object_free(ca), ln_object_free(ba);
    ln_object_free(tk), ln_object_free(st);
}
END_TEST

int main(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, sparse_categorical_accuracy);
    tcase_add_test(tc, categorical_accuracy);
    tcase_add_test(tc, binary_accuracy);
    tcase_add_test(tc, top_k);
    tcase_add_test(tc, large_batch_reference_and_threads);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
