/*
** test_losses.c -- every loss through the registry (ln_object_new): batch
** values against float64 references written here, gradients against
** central differences of those references and of the unit itself, on the
** probability path and on the logits path (the fused flag and
** from_logits = true), probability-vs-logits agreement through the softmax
** and sigmoid activations, Keras's clipping at p = 0 and p = 1, label
** smoothing, label dtypes and shapes, errors naming labels and shapes, and
** 1 vs 2 threads.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define EPS 1e-7
#define EPSF 1e-7f

/* ---- float64 references (mean over samples) ------------------------------ */

typedef struct refp {
    int rows, cols, logits;
    double smooth, delta;
} refp;

static double clipd(double p) {
    const double lo = EPSF, hi = 1.0f - EPSF; /* Keras's float32 bounds */
    return p < lo ? lo : p > hi ? hi : p;
}

/* y: labels (sparse) or targets, as doubles */
static double ref_scce(const double *p, const double *y, const refp *r) {
    double tot = 0;
    for (int i = 0; i < r->rows; i++) {
        const double *z = p + i * r->cols;
        int lab = (int)y[i];
        if (r->logits) {
            double m = -INFINITY, s = 0;
            for (int c = 0; c < r->cols; c++) m = fmax(m, z[c]);
            for (int c = 0; c < r->cols; c++) s += exp(z[c] - m);
            tot += m + log(s) - z[lab];
        } else {
            double s = 0;
            for (int c = 0; c < r->cols; c++) s += clipd(z[c]);
            tot += -log(clipd(z[lab]) / s);
        }
    }
    return tot / r->rows;
}

static double ref_cce(const double *p, const double *y, const refp *r) {
    double tot = 0;
    int K = r->cols;
    for (int i = 0; i < r->rows; i++) {
        const double *z = p + i * K, *t = y + i * K;
        double m = -INFINITY, s = 0;
        if (r->logits) {
            for (int c = 0; c < K; c++) m = fmax(m, z[c]);
            for (int c = 0; c < K; c++) s += exp(z[c] - m);
        } else {
            for (int c = 0; c < K; c++) s += z[c];
        }
        for (int c = 0; c < K; c++) {
            double yc = t[c] * (1 - r->smooth) + r->smooth / K;
            double lp = r->logits ? z[c] - m - log(s) : log(clipd(z[c] / s));
            tot -= yc * lp;
        }
    }
    return tot / r->rows;
}

static double ref_bce(const double *p, const double *y, const refp *r) {
    double tot = 0;
    for (int i = 0; i < r->rows; i++) {
        double row = 0;
        for (int c = 0; c < r->cols; c++) {
            double v = p[i * r->cols + c];
            double yc = y[i * r->cols + c] * (1 - r->smooth) + r->smooth / 2;
            if (r->logits) {
                row += -yc * log(1 / (1 + exp(-v))) -
                       (1 - yc) * log(1 - 1 / (1 + exp(-v)));
            } else {
                double q = clipd(v);
                row += -(yc * log(q + EPS) + (1 - yc) * log(1 - q + EPS));
            }
        }
        tot += row / r->cols;
    }
    return tot / r->rows;
}

static double ref_mse(const double *p, const double *y, const refp *r) {
    double tot = 0;
    for (int i = 0; i < r->rows * r->cols; i++)
        tot += (p[i] - y[i]) * (p[i] - y[i]);
    return tot / (r->rows * r->cols);
}

static double ref_mae(const double *p, const double *y, const refp *r) {
    double tot = 0;
    for (int i = 0; i < r->rows * r->cols; i++) tot += fabs(p[i] - y[i]);
    return tot / (r->rows * r->cols);
}

static double ref_huber(const double *p, const double *y, const refp *r) {
    double tot = 0, d = r->delta;
    for (int i = 0; i < r->rows * r->cols; i++) {
        double e = fabs(p[i] - y[i]);
        tot += e <= d ? 0.5 * e * e : 0.5 * d * d + d * (e - d);
    }
    return tot / (r->rows * r->cols);
}

/* ---- running a unit -------------------------------------------------------- */

static ln_object *loss_new(const char *name, ln_args *a) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_object *o = ln_object_new(&ctx, LN_KIND_LOSS, name, a);
    ck_assert_msg(o != NULL, "%s: %s", name, ctx.msg);
    return o;
}

static ln_status run(ln_ctx *ctx, const ln_object *o, const ln_tensor *pred,
                     const ln_tensor *y, int logits, double *loss,
                     ln_tensor *dpred) {
    const ln_loss_ops *ops = o->unit->ops;
    ln_ctx_clear(ctx);
    return ops->compute(ctx, o->state, pred, y, logits, loss, dpred);
}

static ln_tensor *tens(ln_dtype dt, int nd, int64_t a, int64_t b) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t sh[2] = {a, b};
    ln_tensor *t = ln_tensor_new(&ctx, dt, nd, sh);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    return t;
}

typedef double (*ref_fn)(const double *, const double *, const refp *);

/* Checks one configuration: value against ref, the unit's gradient against
** central differences of ref (h = 1e-6, in double) and of the unit itself
** (h = 1e-3 on the float input). */
static void check_case(const char *what, const ln_object *o, ln_tensor *pred,
                       const ln_tensor *y, int logits, ref_fn ref,
                       const refp *rp) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t n = pred->numel;
    double *pd = malloc(n * sizeof *pd), *yd = malloc(y->numel * sizeof *yd);
    for (int64_t i = 0; i < n; i++) pd[i] = ln_f32(pred)[i];
    for (int64_t i = 0; i < y->numel; i++)
        yd[i] = y->dtype == LN_FLOAT32 ? ln_f32(y)[i]
                : y->dtype == LN_INT32 ? ln_i32(y)[i] : ln_u8(y)[i];
    ln_tensor *g = ln_tensor_new_like(&ctx, pred);
    double loss, l2;
    ck_assert_msg(run(&ctx, o, pred, y, logits, &loss, g) == LN_OK, "%s: %s",
                  what, ctx.msg);
    ck_assert_msg(run(&ctx, o, pred, y, logits, &l2, NULL) == LN_OK && l2 == loss,
                  "%s: the loss depends on whether a gradient is asked", what);
    double want = ref(pd, yd, rp);
    ck_assert_msg(fabs(loss - want) <= 1e-6 * fabs(want) + 1e-9,
                  "%s: loss %.10g, float64 reference %.10g", what, loss, want);
    for (int64_t j = 0; j < n; j++) {
        double x0 = pd[j], h = 1e-6;
        pd[j] = x0 + h;
        double up = ref(pd, yd, rp);
        pd[j] = x0 - h;
        double dn = ref(pd, yd, rp);
        pd[j] = x0;
        double fd = (up - dn) / (2 * h), gj = ln_f32(g)[j];
        ck_assert_msg(fabs(gj - fd) <= 1e-4 * fabs(fd) + 1e-7,
                      "%s: d loss / d pred[%lld] = %.8g, reference %.8g", what,
                      (long long)j, gj, fd);
        /* the unit's own finite difference */
        float *pf = ln_f32(pred), f0 = pf[j], hf = 1e-3f * fmaxf(1, fabsf(f0));
        float s[2] = {f0 + hf, f0 - hf};
        double v[2];
        for (int k = 0; k < 2; k++) {
            pf[j] = s[k];
            ck_assert(run(&ctx, o, pred, y, logits, &v[k], NULL) == LN_OK);
        }
        pf[j] = f0;
        double fdu = (v[0] - v[1]) / ((double)s[0] - s[1]);
        ck_assert_msg(fabs(gj - fdu) <= 2e-3 * fabs(fdu) + 2e-5,
                      "%s: d loss / d pred[%lld] = %.8g, unit's own finite "
                      "difference %.8g", what, (long long)j, gj, fdu);
    }
    ln_tensor_release(g);
    free(pd);
    free(yd);
}

/* Random probabilities in [lo, hi) (not normalised: the renormalisation is
** part of what is checked), labels, one-hot targets. */
static ln_tensor *rand_pred(int rows, int cols, float lo, float hi,
                            uint64_t seed) {
    ln_tensor *t = tens(LN_FLOAT32, 2, rows, cols);
    ln_rng r = {seed, 0};
    ln_rng_uniform(&r, ln_f32(t), t->numel, lo, hi);
    return t;
}

static ln_tensor *labels(ln_dtype dt, int rows, int cols, uint64_t seed) {
    ln_tensor *t = tens(dt, 1, rows, 1);
    ln_rng r = {seed, 0};
    for (int i = 0; i < rows; i++) {
        int v = (int)(ln_rng_double(&r) * cols);
        if (dt == LN_FLOAT32) ln_f32(t)[i] = (float)v;
        else if (dt == LN_INT32) ln_i32(t)[i] = v;
        else ln_u8(t)[i] = (uint8_t)v;
    }
    return t;
}

static ln_tensor *onehot(const ln_tensor *lab, int cols) {
    int rows = (int)lab->numel;
    ln_tensor *t = tens(LN_FLOAT32, 2, rows, cols);
    for (int i = 0; i < rows; i++) ln_f32(t)[i * cols + ln_label_at(lab, i)] = 1;
    return t;
}

static ln_args *flag_args(int from_logits, double smooth) {
    ln_args *a = ln_args_new();
    ln_args_set_bool(a, "from_logits", from_logits);
    if (smooth >= 0) ln_args_set_number(a, "label_smoothing", smooth);
    return a;
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(sparse_cce_paths) {
    const int R = 6, K = 5;
    ln_dtype dts[3] = {LN_INT32, LN_UINT8, LN_FLOAT32};
    ln_object *plain = loss_new("sparse_categorical_crossentropy", NULL);
    ln_object *fl = loss_new("sparse_categorical_crossentropy",
                             flag_args(1, -1));
    ck_assert_str_eq(((const ln_loss_ops *)plain->unit->ops)->logits_activation,
                     "softmax");
    ck_assert_str_eq(plain->unit->class_name, "SparseCategoricalCrossentropy");
    for (int d = 0; d < 3; d++) {
        ln_tensor *y = labels(dts[d], R, K, 20 + d);
        ln_tensor *p = rand_pred(R, K, 0.05f, 0.9f, 30 + d);
        refp rp = {R, K, 0, 0, 0};
        check_case("sparse CE probabilities", plain, p, y, 0, ref_scce, &rp);
        ln_tensor *z = rand_pred(R, K, -4, 4, 40 + d);
        rp.logits = 1;
        check_case("sparse CE fused logits", plain, z, y, 1, ref_scce, &rp);
        check_case("sparse CE from_logits", fl, z, y, 0, ref_scce, &rp);
        ln_tensor_release(y);
        ln_tensor_release(p);
        ln_tensor_release(z);
    }
    /* labels (N, 1) */
    ln_tensor *y = labels(LN_INT32, R, K, 50);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t sh[2] = {R, 1};
    ln_tensor *y2 = ln_tensor_reshape(&ctx, y, 2, sh);
    ln_tensor *z = rand_pred(R, K, -3, 3, 51);
    refp rp = {R, K, 1, 0, 0};
    check_case("sparse CE labels (N,1)", plain, z, y2, 1, ref_scce, &rp);
    ln_tensor_release(y), ln_tensor_release(y2), ln_tensor_release(z);
    /* a row sums its exps in lanes of 16: 64 classes (whole lanes), and
    ** 100 (a tail) */
    for (int k = 64; k <= 100; k += 36) {
        ln_tensor *yk = labels(LN_INT32, R, k, 70 + (uint64_t)k);
        ln_tensor *zk = rand_pred(R, k, -4, 4, 71 + (uint64_t)k);
        refp rk = {R, k, 1, 0, 0};
        check_case("sparse CE fused logits, many classes", plain, zk, yk, 1, ref_scce, &rk);
        check_case("sparse CE from_logits, many classes", fl, zk, yk, 0, ref_scce, &rk);
        ln_tensor_release(yk), ln_tensor_release(zk);
    }
    ln_object_free(plain);
    ln_object_free(fl);
}
END_TEST

START_TEST(categorical_cce_paths) {
    const int R = 5, K = 4;
    ln_tensor *lab = labels(LN_INT32, R, K, 60);
    ln_tensor *y = onehot(lab, K);
    /* soft targets too */
    ln_tensor *ys = rand_pred(R, K, 0, 1, 61);
    ln_tensor *p = rand_pred(R, K, 0.05f, 0.9f, 62);
    ln_tensor *z = rand_pred(R, K, -4, 4, 63);
    double smooth[2] = {0, 0.2};
    for (int s = 0; s < 2; s++) {
        ln_object *o = loss_new("categorical_crossentropy", flag_args(0, smooth[s]));
        ln_object *fl = loss_new("categorical_crossentropy", flag_args(1, smooth[s]));
        refp rp = {R, K, 0, smooth[s], 0};
        check_case("categorical CE probabilities", o, p, y, 0, ref_cce, &rp);
        check_case("categorical CE soft targets", o, p, ys, 0, ref_cce, &rp);
        rp.logits = 1;
        check_case("categorical CE fused logits", o, z, y, 1, ref_cce, &rp);
        check_case("categorical CE from_logits", fl, z, ys, 0, ref_cce, &rp);
        ln_object_free(o);
        ln_object_free(fl);
    }
    ln_tensor_release(lab), ln_tensor_release(y), ln_tensor_release(ys);
    ln_tensor_release(p), ln_tensor_release(z);
}
END_TEST

START_TEST(binary_ce_paths) {
    const int R = 4, C = 3;
    ln_tensor *y = rand_pred(R, C, 0, 1, 70);
    for (int i = 0; i < R * C; i++) ln_f32(y)[i] = ln_f32(y)[i] > 0.5f;
    ln_tensor *p = rand_pred(R, C, 0.05f, 0.95f, 71);
    ln_tensor *z = rand_pred(R, C, -5, 5, 72);
    double smooth[2] = {0, 0.1};
    for (int s = 0; s < 2; s++) {
        ln_object *o = loss_new("binary_crossentropy", flag_args(0, smooth[s]));
        ln_object *fl = loss_new("binary_crossentropy", flag_args(1, smooth[s]));
        ck_assert_str_eq(((const ln_loss_ops *)o->unit->ops)->logits_activation,
                         "sigmoid");
        refp rp = {R, C, 0, smooth[s], 0};
        check_case("binary CE probabilities", o, p, y, 0, ref_bce, &rp);
        rp.logits = 1;
        check_case("binary CE fused logits", o, z, y, 1, ref_bce, &rp);
        check_case("binary CE from_logits", fl, z, y, 0, ref_bce, &rp);
        ln_object_free(o);
        ln_object_free(fl);
    }
    /* uint8 targets, predictions (N, 1) against targets (N,) */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *p1 = rand_pred(8, 1, 0.1f, 0.9f, 73);
    ln_tensor *y1 = tens(LN_UINT8, 1, 8, 1);
    for (int i = 0; i < 8; i++) ln_u8(y1)[i] = (uint8_t)(i % 3 == 0);
    ln_object *o = loss_new("binary_crossentropy", NULL);
    refp rp = {8, 1, 0, 0, 0};
    check_case("binary CE (N,1) vs (N,) uint8", o, p1, y1, 0, ref_bce, &rp);
    ln_object_free(o);
    ln_tensor_release(p1), ln_tensor_release(y1);
    ln_tensor_release(y), ln_tensor_release(p), ln_tensor_release(z);
}
END_TEST

START_TEST(regression_losses) {
    const int R = 5, C = 3;
    ln_tensor *p = rand_pred(R, C, -3, 3, 80), *y = rand_pred(R, C, -3, 3, 81);
    refp rp = {R, C, 0, 0, 1.0};
    ln_object *mse = loss_new("mean_squared_error", NULL);
    ln_object *mae = loss_new("mean_absolute_error", NULL);
    ln_object *hub = loss_new("huber", NULL);
    check_case("mse", mse, p, y, 0, ref_mse, &rp);
    check_case("mae", mae, p, y, 0, ref_mae, &rp);
    check_case("huber", hub, p, y, 0, ref_huber, &rp);
    ck_assert(((const ln_loss_ops *)mse->unit->ops)->logits_activation == NULL);
    ck_assert_str_eq(mse->unit->class_name, "MeanSquaredError");
    ck_assert_str_eq(hub->unit->class_name, "Huber");
    ln_args *ha = ln_args_new();
    ln_args_set_number(ha, "delta", 0.5);
    ln_object *hub2 = loss_new("huber", ha);
    rp.delta = 0.5;
    check_case("huber delta 0.5", hub2, p, y, 0, ref_huber, &rp);
    /* both branches of huber were exercised */
    int in = 0, out = 0;
    for (int i = 0; i < R * C; i++) {
        double e = fabs(ln_f32(p)[i] - ln_f32(y)[i]);
        in += e <= 0.5, out += e > 1;
    }
    ck_assert(in > 0 && out > 0);
    /* predictions (N,) against int targets (N, 1) */
    ln_tensor *p1 = tens(LN_FLOAT32, 1, 6, 1), *y1 = tens(LN_INT32, 2, 6, 1);
    for (int i = 0; i < 6; i++) ln_f32(p1)[i] = 0.5f * i, ln_i32(y1)[i] = i % 2;
    refp r1 = {1, 6, 0, 0, 1.0};
    check_case("mse (N,) vs (N,1) int32", mse, p1, y1, 0, ref_mse, &r1);
    ln_tensor_release(p1), ln_tensor_release(y1);
    ln_object_free(mse), ln_object_free(mae), ln_object_free(hub),
        ln_object_free(hub2);
    ln_tensor_release(p), ln_tensor_release(y);
}
END_TEST

/* Rows of 37 (two lanes of 16 and a tail: plugin_loss.h) for the losses
** whose rows run in vectors, with float32 targets (read in place) and
** integer ones (copied into doubles). */
START_TEST(vector_rows) {
    const int R = 3, K = 37;
    ln_tensor *lab = labels(LN_INT32, R, K, 90);
    ln_tensor *yf = onehot(lab, K), *yi = tens(LN_INT32, 2, R, K), *yu = tens(LN_UINT8, 2, R, K);
    ln_tensor *ys = rand_pred(R, K, 0, 1, 91), *yr = rand_pred(R, K, -3, 3, 92);
    for (int i = 0; i < R * K; i++) {
        ln_i32(yi)[i] = (int32_t)ln_f32(yf)[i];
        ln_u8(yu)[i] = (uint8_t)(ln_f32(ys)[i] > 0.5f);
    }
    ln_tensor *z = rand_pred(R, K, -4, 4, 93), *p = rand_pred(R, K, 0.05f, 0.95f, 94);
    ln_object *cce = loss_new("categorical_crossentropy", flag_args(1, 0.1));
    ln_object *bce = loss_new("binary_crossentropy", flag_args(0, 0));
    ln_object *mse = loss_new("mean_squared_error", NULL);
    refp rc = {R, K, 1, 0.1, 0}, rb = {R, K, 0, 0, 0}, rm = {R, K, 0, 0, 1.0};
    check_case("categorical CE logits, 37 classes", cce, z, yf, 0, ref_cce, &rc);
    check_case("categorical CE logits, 37 soft targets", cce, z, ys, 0, ref_cce, &rc);
    check_case("categorical CE logits, 37 int32 targets", cce, z, yi, 0, ref_cce, &rc);
    check_case("binary CE probabilities, 37 columns", bce, p, ys, 0, ref_bce, &rb);
    check_case("binary CE probabilities, 37 uint8 targets", bce, p, yu, 0, ref_bce, &rb);
    rb.logits = 1;
    check_case("binary CE fused logits, 37 columns", bce, z, ys, 1, ref_bce, &rb);
    check_case("binary CE fused logits, 37 uint8 targets", bce, z, yu, 1, ref_bce, &rb);
    check_case("mse, 37 columns", mse, p, yr, 0, ref_mse, &rm);
    check_case("mse, 37 int32 targets", mse, p, yi, 0, ref_mse, &rm);
    /* a row longer than the exponentials categorical CE keeps (1024) */
    ln_tensor *labk = labels(LN_INT32, 2, 1100, 95);
    ln_tensor *yk = onehot(labk, 1100), *zk = rand_pred(2, 1100, -4, 4, 96);
    refp rk = {2, 1100, 1, 0.1, 0};
    check_case("categorical CE logits, 1100 classes", cce, zk, yk, 0, ref_cce, &rk);
    ln_tensor_release(labk), ln_tensor_release(yk), ln_tensor_release(zk);
    ln_object_free(cce), ln_object_free(bce), ln_object_free(mse);
    ln_tensor_release(lab), ln_tensor_release(yf), ln_tensor_release(yi), ln_tensor_release(yu);
    ln_tensor_release(ys), ln_tensor_release(yr), ln_tensor_release(z), ln_tensor_release(p);
}
END_TEST

/* Feeding softmax(z) (sigmoid(z)) to the probability path gives the logits
** path's loss, and its gradient pulled back through the activation's
** backward gives the logits gradient. */
START_TEST(probability_and_logits_agree) {
    const int R = 6, K = 7;
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_activation *sm = ln_activation_new(&ctx, "softmax", NULL);
    ln_activation *sg = ln_activation_new(&ctx, "sigmoid", NULL);
    ck_assert_msg(sm && sg, "%s", ctx.msg);
    ln_tensor *z = rand_pred(R, K, -3, 3, 90);
    ln_tensor *p = tens(LN_FLOAT32, 2, R, K);
    ln_tensor *gp = tens(LN_FLOAT32, 2, R, K), *gz = tens(LN_FLOAT32, 2, R, K);
    ln_tensor *back = tens(LN_FLOAT32, 2, R, K);
    ln_tensor *lab = labels(LN_INT32, R, K, 91), *y = onehot(lab, K);
    ln_tensor *yb = rand_pred(R, K, 0, 1, 92);
    struct {
        const char *name;
        ln_tensor *y;
        ln_activation *act;
    } c[3] = {{"sparse_categorical_crossentropy", lab, sm},
              {"categorical_crossentropy", y, sm},
              {"binary_crossentropy", yb, sg}};
    for (int i = 0; i < 3; i++) {
        ln_object *o = loss_new(c[i].name, NULL);
        ln_activation_forward(c[i].act, ln_f32(z), ln_f32(p), R, K);
        double lp, lz;
        ck_assert(run(&ctx, o, p, c[i].y, 0, &lp, gp) == LN_OK);
        ck_assert(run(&ctx, o, z, c[i].y, 1, &lz, gz) == LN_OK);
        ck_assert_msg(fabs(lp - lz) < 2e-6 * fabs(lz), "%s: %.9g vs %.9g",
                      c[i].name, lp, lz);
        ln_activation_backward(c[i].act, ln_f32(z), ln_f32(p), ln_f32(gp),
                               ln_f32(back), R, K);
        double d = lt_max_abs_diff(ln_f32(back), ln_f32(gz), R * K);
        ck_assert_msg(d < 1e-6, "%s: gradients differ by %g", c[i].name, d);
        ln_object_free(o);
    }
    ln_activation_free(sm), ln_activation_free(sg);
    ln_tensor_release(z), ln_tensor_release(p), ln_tensor_release(gp);
    ln_tensor_release(gz), ln_tensor_release(back), ln_tensor_release(lab);
    ln_tensor_release(y), ln_tensor_release(yb);
}
END_TEST

/* Binary CE from probabilities along a row longer than the lanes: the
** gradient passes at the clip's bounds themselves (TF's clip_by_value) and
** is 0 beyond them, in the vector body and in the tail alike; a NaN
** probability gives a NaN loss and no gradient. */
START_TEST(binary_ce_clip_bounds) {
    ln_ctx ctx;
    double loss;
    enum { N = 37 };
    const float at[5] = {EPSF, 1.0f - EPSF, 0.0f, 1.0f, 0.25f};
    ln_tensor *p = tens(LN_FLOAT32, 2, 1, N), *y = tens(LN_FLOAT32, 2, 1, N);
    ln_tensor *g = tens(LN_FLOAT32, 2, 1, N);
    for (int i = 0; i < N; i++) ln_f32(p)[i] = at[i % 5], ln_f32(y)[i] = (float)(i % 2);
    ln_object *o = loss_new("binary_crossentropy", NULL);
    ck_assert(run(&ctx, o, p, y, 0, &loss, g) == LN_OK);
    ck_assert(isfinite(loss) && loss > 0);
    for (int i = 0; i < N; i++) {
        const int inside = i % 5 == 0 || i % 5 == 1 || i % 5 == 4;
        const float want_sign = i % 2 ? -1.0f : 1.0f; /* -(y/a - (1-y)/b) */
        ck_assert_msg(inside ? ln_f32(g)[i] * want_sign > 0 : ln_f32(g)[i] == 0,
                      "p = %.9g, y = %d: grad %g", at[i % 5], i % 2, ln_f32(g)[i]);
    }
    ln_f32(p)[20] = NAN;
    ck_assert(run(&ctx, o, p, y, 0, &loss, g) == LN_OK);
    ck_assert(isnan(loss) && ln_f32(g)[20] == 0 && ln_f32(g)[21] != 0);
    ln_object_free(o);
    ln_tensor_release(p), ln_tensor_release(y), ln_tensor_release(g);
}
END_TEST

/* p = 0 and p = 1 give finite losses near -log(1e-7), as Keras's clipping
** does, and finite (here zero where clipped) gradients. */
START_TEST(clipping) {
    ln_ctx ctx;
    double loss;
    /* sparse: the true class has p = 0, another p = 1 */
    ln_tensor *p = tens(LN_FLOAT32, 2, 1, 3), *g = tens(LN_FLOAT32, 2, 1, 3);
    ln_tensor *lab = tens(LN_INT32, 1, 1, 1);
    ln_f32(p)[0] = 1, ln_f32(p)[1] = 0, ln_f32(p)[2] = 0;
    ln_i32(lab)[0] = 1;
    ln_object *o = loss_new("sparse_categorical_crossentropy", NULL);
    ck_assert(run(&ctx, o, p, lab, 0, &loss, g) == LN_OK);
    double lo = EPSF, hi = 1.0f - EPSF;
    double want = -log(lo / (hi + 2 * lo));
    ck_assert_msg(fabs(loss - want) < 1e-9 && fabs(loss - 16.118) < 1e-3,
                  "sparse CE at p = 0: %.9g, expected %.9g", loss, want);
    /* every input is clipped: TF's clip gradient is 0 outside the range */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(ln_f32(g)[i] == 0, "sparse CE clipped grad[%d] = %g", i,
                      ln_f32(g)[i]);
    ln_object_free(o);
    /* categorical */
    ln_tensor *y = onehot(lab, 3);
    o = loss_new("categorical_crossentropy", NULL);
    ln_f32(p)[1] = 1e-9f; /* clipped, but not exactly 0 */
    ck_assert(run(&ctx, o, p, y, 0, &loss, g) == LN_OK);
    ck_assert_msg(fabs(loss + log(lo)) < 1e-9, "categorical CE at p = 0: %.9g",
                  loss);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(ln_f32(g)[i] == 0, "categorical CE clipped grad[%d] = %g",
                      i, ln_f32(g)[i]);
    /* exact prediction: tiny but positive loss -log(1 - eps) */
    ln_f32(p)[0] = 0, ln_f32(p)[1] = 1;
    ck_assert(run(&ctx, o, p, y, 0, &loss, g) == LN_OK);
    ck_assert_msg(fabs(loss + log(hi)) < 1e-12, "categorical CE at p = 1: %g",
                  loss);
    ln_object_free(o);
    /* binary: eps added again inside the logs */
    ln_tensor *pb = tens(LN_FLOAT32, 2, 1, 2), *yb = tens(LN_FLOAT32, 2, 1, 2);
    ln_tensor *gb = tens(LN_FLOAT32, 2, 1, 2);
    ln_f32(pb)[0] = 1, ln_f32(yb)[0] = 0; /* -log(1 - (1 - eps) + eps) */
    ln_f32(pb)[1] = 0, ln_f32(yb)[1] = 1; /* -log(eps + eps) */
    o = loss_new("binary_crossentropy", NULL);
    ck_assert(run(&ctx, o, pb, yb, 0, &loss, gb) == LN_OK);
    double l0 = -log((double)(1.0f - (1.0f - EPSF) + EPSF));
    double l1 = -log((double)(EPSF + EPSF));
    ck_assert_msg(fabs(loss - (l0 + l1) / 2) < 1e-6 && loss > 15 && loss < 16,
                  "binary CE at p = 0, 1: %.9g, expected %.9g", loss,
                  (l0 + l1) / 2);
    ck_assert(ln_f32(gb)[0] == 0 && ln_f32(gb)[1] == 0);
    ln_object_free(o);
    /* logits far out stay finite and exact */
    ln_f32(pb)[0] = 200, ln_f32(pb)[1] = -300;
    o = loss_new("binary_crossentropy", NULL);
    ck_assert(run(&ctx, o, pb, yb, 1, &loss, gb) == LN_OK);
    ck_assert_msg(fabs(loss - 250) < 1e-9, "binary CE logits: %.12g", loss);
    ln_object_free(o);
    ln_tensor *zl = tens(LN_FLOAT32, 2, 1, 3);
    ln_f32(zl)[0] = 1000, ln_f32(zl)[1] = -1000, ln_f32(zl)[2] = 0;
    o = loss_new("sparse_categorical_crossentropy", NULL);
    ck_assert(run(&ctx, o, zl, lab, 1, &loss, g) == LN_OK);
    ck_assert_msg(fabs(loss - 2000) < 1e-9, "sparse CE logits: %.12g", loss);
    ck_assert(ln_f32(g)[0] == 1 && ln_f32(g)[1] == -1);
    ln_object_free(o);
    ln_tensor_release(p), ln_tensor_release(g), ln_tensor_release(lab);
    ln_tensor_release(y), ln_tensor_release(pb), ln_tensor_release(yb);
    ln_tensor_release(gb), ln_tensor_release(zl);
}
END_TEST

static void expect_err(const ln_object *o, const ln_tensor *p,
                       const ln_tensor *y, int logits, ln_tensor *g,
                       const char *w1, const char *w2, const char *w3) {
    ln_ctx ctx;
    double loss;
    ck_assert_msg(run(&ctx, o, p, y, logits, &loss, g) != LN_OK,
                  "%s: accepted", o->unit->name);
    ck_assert_msg(strstr(ctx.msg, o->unit->name) && strstr(ctx.msg, w1) &&
                      (!w2 || strstr(ctx.msg, w2)) &&
                      (!w3 || strstr(ctx.msg, w3)),
                  "%s: message '%s'", o->unit->name, ctx.msg);
}

START_TEST(bad_labels_and_shapes) {
    ln_object *s = loss_new("sparse_categorical_crossentropy", NULL);
    ln_tensor *p = rand_pred(4, 10, 0.1f, 0.9f, 100);
    ln_tensor *lab = tens(LN_INT32, 1, 4, 1);
    ln_i32(lab)[3] = 10;
    expect_err(s, p, lab, 0, NULL, "label 10", "index 3", "(4, 10)");
    ln_i32(lab)[3] = 0;
    ln_i32(lab)[1] = -1;
    expect_err(s, p, lab, 1, NULL, "label -1", "index 1", NULL);
    ln_tensor *lf = tens(LN_FLOAT32, 1, 4, 1);
    ln_f32(lf)[2] = 2.5f;
    expect_err(s, p, lf, 0, NULL, "label 2.5", "index 2", "not an integer");
    ln_tensor *l5 = tens(LN_INT32, 1, 5, 1);
    expect_err(s, p, l5, 0, NULL, "(5,)", "(4, 10)", NULL);
    ln_tensor *l42 = tens(LN_INT32, 2, 4, 2);
    expect_err(s, p, l42, 0, NULL, "(4, 2)", "(4, 10)", NULL);
    ln_tensor *v = tens(LN_FLOAT32, 1, 4, 1);
    expect_err(s, v, lab, 0, NULL, "(4,)", NULL, NULL);
    ln_tensor *gbad = tens(LN_FLOAT32, 2, 4, 9);
    ln_i32(lab)[1] = 0;
    expect_err(s, p, lab, 0, gbad, "(4, 9)", "(4, 10)", NULL);
    ln_object *c = loss_new("categorical_crossentropy", NULL);
    ln_tensor *y9 = tens(LN_FLOAT32, 2, 4, 9);
    expect_err(c, p, y9, 0, NULL, "(4, 9)", "(4, 10)", NULL);
    expect_err(c, p, lab, 0, NULL, "(4,)", "(4, 10)", "sparse");
    ln_object *b = loss_new("binary_crossentropy", NULL);
    expect_err(b, p, y9, 0, NULL, "(4, 9)", "(4, 10)", NULL);
    ln_object *m = loss_new("mean_squared_error", NULL);
    expect_err(m, p, y9, 0, NULL, "(4, 9)", "(4, 10)", NULL);
    expect_err(m, p, p, 1, NULL, "logits", NULL, NULL);
    ln_tensor *pi = tens(LN_INT32, 2, 4, 10);
    expect_err(m, pi, p, 0, NULL, "float32", "int32", NULL);
    /* from_logits = true refuses the fused path (it would differ from
    ** Keras, which would apply softmax twice) */
    ln_object *fl = loss_new("categorical_crossentropy", flag_args(1, -1));
    ln_tensor *y10 = tens(LN_FLOAT32, 2, 4, 10);
    expect_err(fl, p, y10, 1, NULL, "from_logits", NULL, NULL);
    /* constructor errors */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "label_smoothing", 1.5);
    ck_assert(ln_object_new(&ctx, LN_KIND_LOSS, "binary_crossentropy", a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "label_smoothing") && strstr(ctx.msg, "1.5"),
                  "%s", ctx.msg);
    a = ln_args_new();
    ln_args_set_number(a, "label_smoothing", 0.1);
    ck_assert(ln_object_new(&ctx, LN_KIND_LOSS, "sparse_categorical_crossentropy",
                            a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "unknown keyword argument 'label_smoothing'"),
                  "%s", ctx.msg);
    ck_assert(ln_object_new(&ctx, LN_KIND_LOSS, "msee", NULL) == NULL);
    ck_assert_msg(strstr(ctx.msg, "unknown loss 'msee'"), "%s", ctx.msg);
    a = ln_args_new();
    ln_args_set_number(a, "delta", -1);
    ck_assert(ln_object_new(&ctx, LN_KIND_LOSS, "huber", a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "'delta'") && strstr(ctx.msg, "huber"), "%s",
                  ctx.msg);
    ln_object_free(s), ln_object_free(c), ln_object_free(b), ln_object_free(m);
    ln_object_free(fl);
    ln_tensor_release(p), ln_tensor_release(lab), ln_tensor_release(lf);
    ln_tensor_release(l5), ln_tensor_release(l42), ln_tensor_release(v);
    ln_tensor_release(gbad), ln_tensor_release(y9), ln_tensor_release(pi);
    ln_tensor_release(y10);
}
END_TEST

/* Large batches (parallel paths): loss and gradient bitwise identical for
** 1 and 2 threads, for every loss and path. */
START_TEST(threads_bitwise_identical) {
    const int R = 20000, K = 10;
    ln_tensor *p = rand_pred(R, K, 0.01f, 1, 110), *z = rand_pred(R, K, -5, 5, 111);
    ln_tensor *lab = labels(LN_UINT8, R, K, 112), *y = onehot(lab, K);
    ln_tensor *g1 = tens(LN_FLOAT32, 2, R, K), *g2 = tens(LN_FLOAT32, 2, R, K);
    struct {
        const char *name;
        ln_tensor *pred, *y;
        int logits;
    } c[] = {{"sparse_categorical_crossentropy", p, lab, 0},
             {"sparse_categorical_crossentropy", z, lab, 1},
             {"categorical_crossentropy", p, y, 0},
             {"categorical_crossentropy", z, y, 1},
             {"binary_crossentropy", p, y, 0},
             {"binary_crossentropy", z, y, 1},
             {"mean_squared_error", z, p, 0},
             {"mean_absolute_error", z, p, 0},
             {"huber", z, p, 0}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        ln_object *o = loss_new(c[i].name, NULL);
        ln_ctx ctx;
        double l1, l2;
        ln_set_num_threads(1);
        ck_assert(run(&ctx, o, c[i].pred, c[i].y, c[i].logits, &l1, g1) == LN_OK);
        ln_set_num_threads(2);
        ck_assert(run(&ctx, o, c[i].pred, c[i].y, c[i].logits, &l2, g2) == LN_OK);
        ck_assert_msg(l1 == l2 && memcmp(ln_f32(g1), ln_f32(g2),
                                         g1->numel * sizeof(float)) == 0,
                      "%s (logits %d) differs: %.17g vs %.17g", c[i].name,
                      c[i].logits, l1, l2);
        ln_object_free(o);
    }
    ln_tensor_release(p), ln_tensor_release(z), ln_tensor_release(lab);
    ln_tensor_release(y), ln_tensor_release(g1), ln_tensor_release(g2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, sparse_cce_paths);
    tcase_add_test(tc, categorical_cce_paths);
    tcase_add_test(tc, binary_ce_paths);
    tcase_add_test(tc, regression_losses);
    tcase_add_test(tc, vector_rows);
    tcase_add_test(tc, probability_and_logits_agree);
    tcase_add_test(tc, clipping);
    tcase_add_test(tc, binary_ce_clip_bounds);
    tcase_add_test(tc, bad_labels_and_shapes);
    tcase_add_test(tc, threads_bitwise_identical);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
