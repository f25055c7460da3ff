/*
** test_layers_dense.c -- Dense beyond its gradient check: the fused
** (bias + activation in the GEMM epilogue) and unfused paths agree, the
** LN_LOGITS path, weights (names, shapes, Keras's default initializers),
** regularizers, the flags of backward, gradients written not accumulated,
** activation arguments, and a GEMM-sized forward against float64.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ln_ctx ctx;

static ln_tensor *empty(void) {
    return ln_tensor_new(NULL, LN_FLOAT32, 1, (int64_t[]){0});
}

static void load_support(void) {
    ln_ctx_clear(&ctx);
    ck_assert_msg(ln_registry_load(&ctx, lt_test_plugin("tp_layers_support.so"), 0) ==
                      LN_OK,
                  "%s", ctx.msg);
}

/* Copy every weight of a into b (same shapes). */
static void copy_weights(ln_layer *b, const ln_layer *a) {
    ck_assert_int_eq(ln_layer_weight_count(a), ln_layer_weight_count(b));
    for (int k = 0; k < ln_layer_weight_count(a); k++)
        ck_assert_int_eq(ln_tensor_copy(&ctx, ln_layer_weight(b, k),
                                        ln_layer_weight(a, k)),
                         LN_OK);
}

typedef struct pass {
    ln_tensor *y, *dx;
    float *dw, *db;
} pass;

/* Forward + full backward of l on x with dy; grads copied out. */
static pass run(ln_layer *l, const ln_tensor *x, const ln_tensor *dy,
                unsigned flags) {
    pass p = {empty(), empty(), NULL, NULL};
    ln_ctx_clear(&ctx);
    ck_assert_msg(ln_layer_forward1(&ctx, l, x, p.y, flags) == LN_OK, "%s", ctx.msg);
    ck_assert_msg(ln_layer_backward1(&ctx, l, x, p.y, dy, p.dx,
                                    flags | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    const ln_tensor *gw = ln_layer_grad(l, 0), *gb = ln_layer_grad(l, 1);
    p.dw = malloc((size_t)gw->numel * sizeof(float));
    p.db = malloc((size_t)gb->numel * sizeof(float));
    memcpy(p.dw, ln_f32(gw), (size_t)gw->numel * sizeof(float));
    memcpy(p.db, ln_f32(gb), (size_t)gb->numel * sizeof(float));
    return p;
}

static void pass_free(pass *p) {
    ln_tensor_release(p->y);
    ln_tensor_release(p->dx);
    free(p->dw);
    free(p->db);
}

static ln_layer *built(const char *spec, int64_t in) {
    ln_layer *l = lt_layer("dense", spec);
    ln_ctx_clear(&ctx);
    ck_assert_msg(lt_build(&ctx, l, 1, &in) == LN_OK, "%s", ctx.msg);
    return l;
}

/* Fused "tanh" (backward from y) and unfused "tpl_tanh_x" (backward from
** the kept pre-activation) compute the same function: same results. Sizes
** large enough for the GEMM's blocking and threads. */
START_TEST(fused_and_unfused_agree) {
    load_support();
    ln_layer *a = built("#1=70 activation=tanh", 90);
    ln_layer *b = built("#1=70 activation=tpl_tanh_x", 90);
    lt_fill_weights(a, -0.3f, 0.3f, 21);
    copy_weights(b, a);
    ln_tensor *x = lt_uniform(2, (int64_t[]){130, 90}, -1, 1, 22);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){130, 70}, -1, 1, 23);
    pass pa = run(a, x, dy, LN_TRAINING), pb = run(b, x, dy, LN_TRAINING);
    ck_assert_double_le(lt_max_abs_diff(ln_f32(pa.y), ln_f32(pb.y), pa.y->numel), 1e-6);
    ck_assert_double_le(lt_max_abs_diff(ln_f32(pa.dx), ln_f32(pb.dx), pa.dx->numel), 1e-6);
    ck_assert_double_le(lt_max_abs_diff(pa.dw, pb.dw, 90 * 70), 1e-5);
    ck_assert_double_le(lt_max_abs_diff(pa.db, pb.db, 70), 1e-5);
    /* and y really is tanh(x W + b) */
    const float *w = ln_f32(ln_layer_weight(a, 0)), *bias = ln_f32(ln_layer_weight(a, 1));
    double worst = 0;
    for (int64_t r = 0; r < 130; r++)
        for (int64_t j = 0; j < 70; j++) {
            double z = bias[j];
            for (int64_t k = 0; k < 90; k++)
                z += (double)ln_f32(x)[r * 90 + k] * w[k * 70 + j];
            double d = fabs(tanh(z) - ln_f32(pa.y)[r * 70 + j]);
            if (d > worst) worst = d;
        }
    ck_assert_double_le(worst, 2e-6);
    pass_free(&pa);
    pass_free(&pb);
    ln_layer_free(a);
    ln_layer_free(b);
    ln_tensor_release(x);
    ln_tensor_release(dy);
}
END_TEST

/* LN_LOGITS: y is the pre-activation (what a linear Dense gives, bitwise),
** backward takes dy as dL/dz; output_activation names the activation. */
START_TEST(logits_path) {
    ln_layer *sm = built("#1=10 activation=softmax", 50);
    ln_layer *lin = built("#1=10", 50);
    ck_assert_str_eq(ln_layer_output_activation(sm), "softmax");
    ck_assert_ptr_null(ln_layer_output_activation(lin));
    lt_fill_weights(sm, -0.3f, 0.3f, 31);
    copy_weights(lin, sm);
    ln_tensor *x = lt_uniform(2, (int64_t[]){64, 50}, -1, 1, 32);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){64, 10}, -1, 1, 33);
    pass ps = run(sm, x, dy, LN_LOGITS | LN_TRAINING), pl = run(lin, x, dy, LN_TRAINING);
    ck_assert_mem_eq(ln_f32(ps.y), ln_f32(pl.y), (size_t)ps.y->numel * sizeof(float));
    ck_assert_mem_eq(ln_f32(ps.dx), ln_f32(pl.dx), (size_t)ps.dx->numel * sizeof(float));
    ck_assert_mem_eq(ps.dw, pl.dw, 50 * 10 * sizeof(float));
    ck_assert_mem_eq(ps.db, pl.db, 10 * sizeof(float));
    /* without LN_LOGITS the rows are probabilities: softmax(z) */
    ln_tensor *y = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, sm, x, y, 0), LN_OK);
    for (int64_t r = 0; r < 64; r++) {
        double s = 0, m = -INFINITY;
        for (int j = 0; j < 10; j++) m = fmax(m, ln_f32(pl.y)[r * 10 + j]);
        for (int j = 0; j < 10; j++) s += exp(ln_f32(pl.y)[r * 10 + j] - m);
        for (int j = 0; j < 10; j++)
            ck_assert_double_le(fabs(ln_f32(y)[r * 10 + j] -
                                     exp(ln_f32(pl.y)[r * 10 + j] - m) / s),
                                1e-6);
    }
    ln_layer *th = lt_layer("dense", "#1=2 activation=tanh");
    ck_assert_str_eq(ln_layer_output_activation(th), "tanh");
    ln_layer_free(th);
    pass_free(&ps);
    pass_free(&pl);
    ln_tensor_release(y);
    ln_layer_free(sm);
    ln_layer_free(lin);
    ln_tensor_release(x);
    ln_tensor_release(dy);
}
END_TEST

/* kernel (in, units) glorot_uniform within +-sqrt(6/(in+units)), bias
** zeros; names and trainable flags as Keras. */
START_TEST(weights_and_defaults) {
    ln_layer *l = built("#1=128", 784);
    ck_assert_int_eq(ln_layer_weight_count(l), 2);
    lt_weight k = lt_weight_at(l, 0), b = lt_weight_at(l, 1);
    ck_assert_str_eq(k.name, "kernel");
    ck_assert_str_eq(b.name, "bias");
    ck_assert_int_eq(k.value->ndim, 2);
    ck_assert_int_eq(k.value->shape[0], 784);
    ck_assert_int_eq(k.value->shape[1], 128);
    ck_assert_int_eq(b.value->ndim, 1);
    ck_assert_int_eq(b.value->shape[0], 128);
    ck_assert(k.trainable && b.trainable && k.grad && b.grad);
    double lim = sqrt(6.0 / (784 + 128)), mx = 0, ss = 0;
    for (int64_t i = 0; i < k.value->numel; i++) {
        double v = ln_f32(k.value)[i];
        mx = fmax(mx, fabs(v));
        ss += v * v;
    }
    ck_assert_double_le(mx, lim);
    ck_assert_double_ge(mx, 0.99 * lim);
    /* U(-L, L) has variance L^2/3 */
    ck_assert_double_le(fabs(ss / (double)k.value->numel / (lim * lim / 3) - 1), 0.02);
    for (int64_t i = 0; i < 128; i++) ck_assert_float_eq(ln_f32(b.value)[i], 0.0f);
    ck_assert_int_eq(ln_layer_output_shape(l, 0)->nd, 1);
    ck_assert_int_eq(ln_layer_output_shape(l, 0)->dim[0], 128);
    ln_layer_free(l);

    ln_layer *nb = built("units=4 use_bias=false kernel_initializer=ones", 3);
    ck_assert_int_eq(ln_layer_weight_count(nb), 1);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(ln_f32(ln_layer_weight(nb, 0))[i], 1.0f);
    ln_layer_free(nb);
}
END_TEST

/* Regularizers land on the weights; the core adds their gradient. */
START_TEST(regularizers) {
    ln_layer *l = built("#1=3 kernel_regularizer={l2=0.01} bias_regularizer=l1", 5);
    double l1, l2;
    ln_layer_regularizer(l, 0, &l1, &l2);
    ck_assert_double_eq(l2, 0.01);
    ck_assert_double_eq(l1, 0);
    ln_layer_regularizer(l, 1, &l1, &l2);
    ck_assert_double_eq(l1, 0.01);
    ck_assert_double_eq(l2, 0);
    ln_layer *plain = built("#1=3", 5);
    lt_fill_weights(l, -1, 1, 41);
    copy_weights(plain, l);
    ln_tensor *x = lt_uniform(2, (int64_t[]){4, 5}, -1, 1, 42);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){4, 3}, -1, 1, 43);
    pass pr = run(l, x, dy, 0), pp = run(plain, x, dy, 0);
    for (int i = 0; i < 15; i++) {
        float w = ln_f32(ln_layer_weight(l, 0))[i];
        ck_assert_double_le(fabs(pr.dw[i] - (pp.dw[i] + 0.02f * w)), 1e-6);
    }
    for (int j = 0; j < 3; j++) {
        float b = ln_f32(ln_layer_weight(l, 1))[j];
        ck_assert_double_le(fabs(pr.db[j] - (pp.db[j] + 0.01f * (b > 0 ? 1 : -1))), 1e-6);
    }
    double reg = 0;
    for (int i = 0; i < 15; i++) {
        double w = ln_f32(ln_layer_weight(l, 0))[i];
        reg += 0.01 * w * w;
    }
    for (int j = 0; j < 3; j++) reg += 0.01 * fabs(ln_f32(ln_layer_weight(l, 1))[j]);
    ck_assert_double_le(fabs(ln_layer_regularization_loss(l) - reg), 1e-6);
    pass_free(&pr);
    pass_free(&pp);
    ln_layer_free(l);
    ln_layer_free(plain);
    ln_tensor_release(x);
    ln_tensor_release(dy);
}
END_TEST

/* Only what the flags ask is written; gradients are written, not added. */
START_TEST(backward_flags) {
    ln_layer *l = built("#1=6 activation=tanh", 4);
    ln_tensor *x = lt_uniform(2, (int64_t[]){5, 4}, -1, 1, 51);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){5, 6}, -1, 1, 52);
    ln_tensor *y = empty(), *dx = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    lt_weight k = lt_weight_at(l, 0), b = lt_weight_at(l, 1);
    ln_fill(ln_f32(k.grad), k.grad->numel, NAN);
    ln_fill(ln_f32(b.grad), b.grad->numel, NAN);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, dx, 0), LN_OK);
    ck_assert(isnan(ln_f32(k.grad)[0]) && isnan(ln_f32(b.grad)[5]));
    ck_assert_int_eq(dx->numel, 20);
    float keep[20];
    memcpy(keep, ln_f32(dx), sizeof keep);
    ln_fill(ln_f32(dx), 20, NAN);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, NULL, LN_NEED_DW), LN_OK);
    ck_assert(isnan(ln_f32(dx)[0]) && isnan(ln_f32(dx)[19]));
    float g1[24];
    memcpy(g1, ln_f32(k.grad), sizeof g1);
    ck_assert(!isnan(g1[0]));
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_NEED_DW),
                     LN_OK);
    ck_assert_mem_eq(g1, ln_f32(k.grad), sizeof g1); /* not doubled */
    ck_assert_mem_eq(keep, ln_f32(dx), sizeof keep);
    /* a frozen layer gets no weight gradients, but still dx */
    ln_layer_set_trainable(l, 0);
    ln_fill(ln_f32(k.grad), k.grad->numel, NAN);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_NEED_DW),
                     LN_OK);
    ck_assert(isnan(ln_f32(k.grad)[0]));
    ck_assert_mem_eq(keep, ln_f32(dx), sizeof keep);
    ln_tensor_release(y);
    ln_tensor_release(dx);
    ln_tensor_release(x);
    ln_tensor_release(dy);
    ln_layer_free(l);
}
END_TEST

/* A unit reference with arguments: {name = "elu", alpha = 0.5}. The
** activation's effective config is recorded in the layer's. */
START_TEST(activation_arguments) {
    ln_layer *l = built("#1=1 activation={name=elu alpha=0.5} use_bias=false "
                        "kernel_initializer=ones", 1);
    ln_tensor *x = ln_tensor_new(&ctx, LN_FLOAT32, 2, (int64_t[]){3, 1});
    ln_f32(x)[0] = -1.0f, ln_f32(x)[1] = -3.0f, ln_f32(x)[2] = 2.0f;
    ln_tensor *y = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert_double_le(fabs(ln_f32(y)[0] - 0.5 * expm1(-1.0)), 1e-6);
    ck_assert_double_le(fabs(ln_f32(y)[1] - 0.5 * expm1(-3.0)), 1e-6);
    ck_assert_float_eq(ln_f32(y)[2], 2.0f);
    int found = 0;
    for (int i = 0; i < ln_args_count(ln_layer_args(l)); i++) {
        ln_arg a = ln_args_at(ln_layer_args(l), i);
        if (strcmp(a.key, "activation")) continue;
        ck_assert_int_eq(a.type, LN_ARG_TABLE);
        for (int j = 0; j < ln_args_count(a.table); j++) {
            ln_arg s = ln_args_at(a.table, j);
            if (!strcmp(s.key, "name")) {
                ck_assert_str_eq(s.str, "elu");
                found++;
            }
            if (!strcmp(s.key, "alpha")) {
                ck_assert_double_eq(s.num, 0.5);
                found++;
            }
        }
    }
    ck_assert_int_eq(found, 2);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_layer_free(l);
    const char *m = lt_layer_error("dense", "#1=2 activation={name=elu alphax=1}");
    ck_assert_msg(strstr(m, "alphax") && strstr(m, "Dense"), "%s", m);
}
END_TEST

/* Rank-3 input: the last axis is contracted, other axes kept. */
START_TEST(rank3_shape) {
    ln_layer *l = lt_layer("dense", "#1=7");
    ln_tensor *x = lt_uniform(3, (int64_t[]){2, 3, 4}, -1, 1, 61), *y = empty();
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert_int_eq(y->ndim, 3);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 3);
    ck_assert_int_eq(y->shape[2], 7);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_layer_free(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_dense");
    TCase *tc = tcase_create("dense");
    tcase_add_test(tc, fused_and_unfused_agree);
    tcase_add_test(tc, logits_path);
    tcase_add_test(tc, weights_and_defaults);
    tcase_add_test(tc, regularizers);
    tcase_add_test(tc, backward_flags);
    tcase_add_test(tc, activation_arguments);
    tcase_add_test(tc, rank3_shape);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
