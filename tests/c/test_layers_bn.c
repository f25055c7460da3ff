/*
** test_layers_bn.c -- BatchNormalization's state: moving statistics after
** N training steps equal Keras's rule computed here in double (batch mean,
** BIASED batch variance, moving <- moving - (moving - batch)(1 - momentum);
** for 4-D feature maps with axis 1 or 3, TF's fused kernel's UNBIASED
** variance unless fused = false); a channels_first layer (axis 1) equals
** the channels_last one on the transposed input;
** inference uses them and updates nothing; trainable = false freezes
** gamma/beta (no gradients) and switches to inference even with
** LN_TRAINING; weights, defaults and options (center/scale, momentum).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ln_ctx ctx;

static ln_tensor *empty(void) {
    return ln_tensor_new(NULL, LN_FLOAT32, 1, (int64_t[]){0});
}

static lt_weight weight(ln_layer *l, const char *name) {
    return lt_weight_named(l, name);
}

/* Keras's update for one step, in double, from x viewed as [rows x f]. */
static void keras_step(const float *x, int64_t rows, int64_t f, double mom,
                       int unbiased, double *mm, double *mv) {
    for (int64_t j = 0; j < f; j++) {
        double mean = 0, var = 0;
        for (int64_t r = 0; r < rows; r++) mean += x[r * f + j];
        mean /= (double)rows;
        for (int64_t r = 0; r < rows; r++)
            var += (x[r * f + j] - mean) * (x[r * f + j] - mean);
        var /= (double)(unbiased ? rows - 1 : rows);
        mm[j] -= (mm[j] - mean) * (1 - mom);
        mv[j] -= (mv[j] - var) * (1 - mom);
    }
}

/* Run N training steps on different batches (any rank, features last) and
** compare the moving statistics with keras_step's. */
static void moving_stats_case(const char *spec, double mom, int nd,
                              const int64_t *shape, int steps, int unbiased) {
    ln_layer *l = lt_layer("batch_normalization", spec);
    int64_t f = shape[nd - 1], n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    int64_t rows = n / f;
    double *mm = calloc((size_t)f, sizeof *mm), *mv = malloc((size_t)f * sizeof *mv);
    for (int64_t j = 0; j < f; j++) mv[j] = 1; /* Keras's initial values */
    ln_tensor *y = empty();
    for (int s = 0; s < steps; s++) {
        /* batches with a per-feature offset and spread, so stats move */
        ln_tensor *x = lt_uniform(nd, shape, -1, 1, 100 + (uint64_t)s);
        for (int64_t i = 0; i < n; i++)
            ln_f32(x)[i] = ln_f32(x)[i] * (1.0f + (float)(i % f)) + 0.5f * (float)(i % f);
        ln_ctx_clear(&ctx);
        ck_assert_msg(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING) == LN_OK, "%s", ctx.msg);
        keras_step(ln_f32(x), rows, f, mom, unbiased, mm, mv);
        ln_tensor_release(x);
    }
    const float *lm = ln_f32(weight(l, "moving_mean").value);
    const float *lv = ln_f32(weight(l, "moving_variance").value);
    for (int64_t j = 0; j < f; j++) {
        ck_assert_msg(fabs(lm[j] - mm[j]) <= 1e-6 * (1 + fabs(mm[j])),
                      "moving_mean[%lld] = %.9g, Keras rule %.9g", (long long)j,
                      lm[j], mm[j]);
        ck_assert_msg(fabs(lv[j] - mv[j]) <= 1e-6 * (1 + fabs(mv[j])),
                      "moving_variance[%lld] = %.9g, Keras rule %.9g",
                      (long long)j, lv[j], mv[j]);
    }
    free(mm);
    free(mv);
    ln_tensor_release(y);
    ln_layer_free(l);
}

START_TEST(moving_statistics_follow_keras) {
    moving_stats_case("", 0.99, 2, (int64_t[]){32, 7}, 5, 0);
    moving_stats_case("momentum=0.9", 0.9, 2, (int64_t[]){16, 70}, 6, 0);
    moving_stats_case("momentum=0", 0.0, 2, (int64_t[]){9, 3}, 2, 0);
    moving_stats_case("", 0.99, 3, (int64_t[]){4, 5, 6}, 3, 0); /* over 20 rows */
    moving_stats_case("", 0.99, 2, (int64_t[]){300, 200}, 2, 0); /* threads */
    /* feature maps: TF's fused kernel (unbiased), unless fused = false */
    moving_stats_case("", 0.99, 4, (int64_t[]){4, 5, 6, 3}, 3, 1);
    moving_stats_case("axis=3 momentum=0.9", 0.9, 4, (int64_t[]){2, 3, 3, 5}, 2, 1);
    moving_stats_case("fused=false", 0.99, 4, (int64_t[]){4, 5, 6, 3}, 3, 0);
    moving_stats_case("", 0.99, 4, (int64_t[]){8, 24, 24, 3}, 2, 1); /* row chunks */
    moving_stats_case("", 0.99, 3, (int64_t[]){5, 7, 4}, 2, 0);      /* 3-D: not fused */
}
END_TEST

/* axis = 1 on (N, C, H, W) is axis = -1 on the transposed (N, H, W, C):
** the same outputs, moving statistics and gradients (training). */
START_TEST(channels_first_equals_channels_last) {
    const int64_t n = 3, c = 4, h = 5, w = 6;
    ln_tensor *xf = lt_uniform(4, (int64_t[]){n, c, h, w}, -2, 3, 31);
    ln_tensor *xl = lt_uniform(4, (int64_t[]){n, h, w, c}, 0, 1, 32);
    ln_tensor *gf = lt_uniform(4, (int64_t[]){n, c, h, w}, -1, 1, 33);
    ln_tensor *gl = lt_uniform(4, (int64_t[]){n, h, w, c}, 0, 1, 34);
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < h * w; p++) {
                ln_f32(xl)[(b * h * w + p) * c + k] = ln_f32(xf)[(b * c + k) * h * w + p];
                ln_f32(gl)[(b * h * w + p) * c + k] = ln_f32(gf)[(b * c + k) * h * w + p];
            }
    ln_layer *lf = lt_layer("batch_normalization", "axis=1");
    ln_layer *ll = lt_layer("batch_normalization", "");
    ln_tensor *yf = empty(), *yl = empty(), *df = empty(), *dl = empty();
    ln_ctx_clear(&ctx);
    ck_assert_msg(ln_layer_forward1(&ctx, lf, xf, yf, LN_TRAINING) == LN_OK, "%s", ctx.msg);
    ck_assert_msg(ln_layer_forward1(&ctx, ll, xl, yl, LN_TRAINING) == LN_OK, "%s", ctx.msg);
    ck_assert_msg(ln_layer_backward1(&ctx, lf, xf, yf, gf, df, LN_TRAINING | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    ck_assert_msg(ln_layer_backward1(&ctx, ll, xl, yl, gl, dl, LN_TRAINING | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < h * w; p++) {
                const int64_t i = (b * c + k) * h * w + p, o = (b * h * w + p) * c + k;
                ck_assert_float_eq(ln_f32(yf)[i], ln_f32(yl)[o]);
                ck_assert_float_eq(ln_f32(df)[i], ln_f32(dl)[o]);
            }
    for (int k = 0; k < ln_layer_weight_count(lf); k++) {
        const lt_weight a = lt_weight_at(lf, k), b = lt_weight_at(ll, k);
        ck_assert_int_eq(memcmp(ln_f32(a.value), ln_f32(b.value), (size_t)c * sizeof(float)), 0);
        if (a.grad)
            ck_assert_int_eq(memcmp(ln_f32(a.grad), ln_f32(b.grad), (size_t)c * sizeof(float)), 0);
    }
    ln_tensor *bad[] = {xf, xl, gf, gl, yf, yl, df, dl};
    for (int i = 0; i < 8; i++) ln_tensor_release(bad[i]);
    ln_layer_free(lf);
    ln_layer_free(ll);
}
END_TEST

/* After training steps, inference normalises with the moving statistics
** (gamma, beta included) and changes nothing. */
START_TEST(inference_uses_moving_statistics) {
    ln_layer *l = lt_layer("batch_normalization", "epsilon=0.01");
    ln_tensor *x = lt_uniform(2, (int64_t[]){20, 6}, -3, 5, 7), *y = empty();
    for (int s = 0; s < 4; s++)
        ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING), LN_OK);
    lt_weight g = weight(l, "gamma"), b = weight(l, "beta");
    lt_weight mm = weight(l, "moving_mean"), mv = weight(l, "moving_variance");
    for (int j = 0; j < 6; j++) {
        ln_f32(g.value)[j] = 0.5f + 0.25f * (float)j;
        ln_f32(b.value)[j] = -0.3f * (float)j;
    }
    float m0[6], v0[6];
    memcpy(m0, ln_f32(mm.value), sizeof m0);
    memcpy(v0, ln_f32(mv.value), sizeof v0);
    ck_assert_float_ne(m0[0], 0.0f); /* training moved them */
    ln_tensor *x2 = lt_uniform(2, (int64_t[]){5, 6}, -2, 2, 8);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x2, y, 0), LN_OK);
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 6; j++) {
            double want = ln_f32(g.value)[j] * (ln_f32(x2)[r * 6 + j] - m0[j]) /
                              sqrt((double)v0[j] + 0.01) +
                          ln_f32(b.value)[j];
            ck_assert_double_le(fabs(ln_f32(y)[r * 6 + j] - want), 2e-6 * (1 + fabs(want)));
        }
    ck_assert_mem_eq(m0, ln_f32(mm.value), sizeof m0);
    ck_assert_mem_eq(v0, ln_f32(mv.value), sizeof v0);
    ln_tensor_release(x);
    ln_tensor_release(x2);
    ln_tensor_release(y);
    ln_layer_free(l);
}
END_TEST

/* trainable = false (TF 2): LN_TRAINING still gives the inference output,
** the moving statistics stay, gamma/beta get no gradient, dx = k dy. */
START_TEST(frozen_runs_in_inference_mode) {
    ln_layer *l = lt_layer("batch_normalization", "");
    ln_tensor *x = lt_uniform(2, (int64_t[]){8, 4}, -2, 2, 9), *y = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING), LN_OK);
    lt_weight g = weight(l, "gamma"), b = weight(l, "beta");
    lt_weight mm = weight(l, "moving_mean"), mv = weight(l, "moving_variance");
    for (int j = 0; j < 4; j++) ln_f32(g.value)[j] = 1.5f - 0.2f * (float)j;
    float m0[4], v0[4];
    memcpy(m0, ln_f32(mm.value), sizeof m0);
    memcpy(v0, ln_f32(mv.value), sizeof v0);
    ln_tensor *yi = empty(), *dx = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, yi, 0), LN_OK);
    ln_layer_set_trainable(l, 0);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING), LN_OK);
    ck_assert_mem_eq(ln_f32(y), ln_f32(yi), 32 * sizeof(float));
    ck_assert_mem_eq(m0, ln_f32(mm.value), sizeof m0);
    ck_assert_mem_eq(v0, ln_f32(mv.value), sizeof v0);
    ln_fill(ln_f32(g.grad), 4, NAN);
    ln_fill(ln_f32(b.grad), 4, NAN);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){8, 4}, -1, 1, 10);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, dx,
                                       LN_TRAINING | LN_NEED_DW),
                     LN_OK);
    for (int j = 0; j < 4; j++) ck_assert(isnan(ln_f32(g.grad)[j]) && isnan(ln_f32(b.grad)[j]));
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 4; j++) {
            double k = ln_f32(g.value)[j] / sqrt((double)v0[j] + 1e-3);
            ck_assert_double_le(fabs(ln_f32(dx)[r * 4 + j] - k * ln_f32(dy)[r * 4 + j]), 1e-6);
        }
    /* parameter counts move to non-trainable */
    int trainable = 0;
    for (int k = 0; k < ln_layer_weight_count(l); k++) trainable += ln_layer_trains(l, k);
    ck_assert_int_eq(trainable, 0);
    ln_layer_set_trainable(l, 1);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING), LN_OK);
    ck_assert(memcmp(m0, ln_f32(mm.value), sizeof m0) != 0); /* training again */
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(yi);
    ln_tensor_release(dx);
    ln_tensor_release(dy);
    ln_layer_free(l);
}
END_TEST

/* Keras's weights: gamma, beta (trainable), moving_mean, moving_variance
** (not), initialised ones, zeros, zeros, ones; 4F parameters. */
START_TEST(weights_and_defaults) {
    ln_layer *l = lt_layer("batch_normalization", "");
    int64_t f = 128;
    ck_assert_int_eq(lt_build(&ctx, l, 1, &f), LN_OK);
    static const char *names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
    static const float init[] = {1, 0, 0, 1};
    ck_assert_int_eq(ln_layer_weight_count(l), 4);
    int64_t total = 0, trainable = 0;
    for (int k = 0; k < 4; k++) {
        lt_weight w = lt_weight_at(l, k);
        ck_assert_str_eq(w.name, names[k]);
        ck_assert_int_eq(w.value->ndim, 1);
        ck_assert_int_eq(w.value->shape[0], 128);
        ck_assert_int_eq(w.trainable, k < 2);
        ck_assert_int_eq(w.grad != NULL, k < 2);
        for (int j = 0; j < 128; j++) ck_assert_float_eq(ln_f32(w.value)[j], init[k]);
        total += w.value->numel;
        if (ln_layer_trains(l, w.index)) trainable += w.value->numel;
    }
    ck_assert_int_eq(total, 512);
    ck_assert_int_eq(trainable, 256);
    ln_layer_free(l);

    ln_layer *c = lt_layer("batch_normalization", "center=false");
    ck_assert_int_eq(lt_build(&ctx, c, 1, &f), LN_OK);
    ck_assert_int_eq(ln_layer_weight_count(c), 3);
    ck_assert_str_eq(ln_layer_weight_name(c, 0), "gamma");
    ck_assert_str_eq(ln_layer_weight_name(c, 1), "moving_mean");
    ln_layer_free(c);
    ln_layer *s = lt_layer("batch_normalization", "scale=false "
                           "moving_variance_initializer={name=constant value=2}");
    ck_assert_int_eq(lt_build(&ctx, s, 1, &f), LN_OK);
    ck_assert_int_eq(ln_layer_weight_count(s), 3);
    ck_assert_str_eq(ln_layer_weight_name(s, 0), "beta");
    ck_assert_float_eq(ln_f32(ln_layer_weight(s, 2))[5], 2.0f);
    ln_layer_free(s);
}
END_TEST

/* Training output is the batch-normalised input: per feature mean ~0 and
** biased variance var/(var+eps) with gamma 1, beta 0. */
START_TEST(training_output_normalised) {
    ln_layer *l = lt_layer("batch_normalization", "");
    ln_tensor *x = lt_uniform(2, (int64_t[]){64, 3}, 2, 10, 11), *y = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING), LN_OK);
    for (int j = 0; j < 3; j++) {
        double m = 0, v = 0, mx = 0, vx = 0;
        for (int r = 0; r < 64; r++) m += ln_f32(y)[r * 3 + j], mx += ln_f32(x)[r * 3 + j];
        m /= 64, mx /= 64;
        for (int r = 0; r < 64; r++) {
            v += pow(ln_f32(y)[r * 3 + j] - m, 2);
            vx += pow(ln_f32(x)[r * 3 + j] - mx, 2);
        }
        v /= 64, vx /= 64;
        ck_assert_double_le(fabs(m), 1e-6);
        ck_assert_double_le(fabs(v - vx / (vx + 1e-3)), 1e-5);
    }
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_layer_free(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_bn");
    TCase *tc = tcase_create("batch_normalization");
    tcase_add_test(tc, moving_statistics_follow_keras);
    tcase_add_test(tc, channels_first_equals_channels_last);
    tcase_add_test(tc, inference_uses_moving_statistics);
    tcase_add_test(tc, frozen_runs_in_inference_mode);
    tcase_add_test(tc, weights_and_defaults);
    tcase_add_test(tc, training_output_normalised);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
