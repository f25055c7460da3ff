/*
** The merge and shape layers (plugins/layers/merge.c, concatenate.c,
** repeat_vector.c, permute.c): forward against
** float64 references written here, dx of every input against central
** differences of L = sum(r . y_ref) (gradcheck.c), shape mismatches named
** with both shapes, input counts, and bitwise equality for 1 and 2 threads.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

static ln_ctx ctx;

#define MAXIN 4

typedef struct mcase {
    const char *unit, *spec;
    int nin, nd;                 /* nd: sample dims */
    int64_t dims[MAXIN][3];      /* per input sample shape */
    int axis;                    /* concatenate: sample axis (0-based) */
    int rep;                     /* repeat_vector: n */
    int perm[3];                 /* permute: dims (1-based, Keras) */
} mcase;

/* y = op(x) in double; shapes from the case. */
static void reference(const mcase *c, int64_t batch, double *const *x, double *y) {
    int64_t per[MAXIN];
    for (int i = 0; i < c->nin; i++) {
        per[i] = 1;
        for (int d = 0; d < c->nd; d++) per[i] *= c->dims[i][d];
    }
    if (!strcmp(c->unit, "dot")) { /* perm[0..1]: the axes (1-based); rep: normalize */
        /* a row: the sample axes other than the contracted one, in order
        ** (outer: before it, inner: after it); element e of row i is at
        ** (i / inner) * k * inner + e * inner + i % inner */
        int64_t rows[2], k = 0, inner[2];
        for (int s = 0; s < 2; s++) {
            int ax = c->perm[s];
            k = c->dims[s][ax - 1];
            rows[s] = 1, inner[s] = 1;
            for (int e = 0; e < c->nd; e++) {
                if (e == ax - 1) continue;
                rows[s] *= c->dims[s][e];
                if (e > ax - 1) inner[s] *= c->dims[s][e];
            }
        }
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < rows[0]; i++)
                for (int64_t j = 0; j < rows[1]; j++) {
                    const double *xv = x[0] + b * per[0] + (i / inner[0]) * k * inner[0] +
                                       i % inner[0];
                    const double *yv = x[1] + b * per[1] + (j / inner[1]) * k * inner[1] +
                                       j % inner[1];
                    double s = 0, nx = 0, ny = 0;
                    for (int64_t e = 0; e < k; e++) {
                        double xe = xv[e * inner[0]], ye = yv[e * inner[1]];
                        s += xe * ye;
                        nx += xe * xe;
                        ny += ye * ye;
                    }
                    if (c->rep) s /= sqrt(nx > 1e-12 ? nx : 1e-12) * sqrt(ny > 1e-12 ? ny : 1e-12);
                    y[(b * rows[0] + i) * rows[1] + j] = s;
                }
        return;
    }
    if (!strcmp(c->unit, "repeat_vector")) {
        int64_t f = c->dims[0][0];
        for (int64_t b = 0; b < batch; b++)
            for (int k = 0; k < c->rep; k++)
                for (int64_t e = 0; e < f; e++) y[(b * c->rep + k) * f + e] = x[0][b * f + e];
        return;
    }
    if (!strcmp(c->unit, "permute")) { /* nd 3: y[b][i0][i1][i2] = x[b][...] */
        const int64_t *d = c->dims[0];
        int64_t o[3] = {d[c->perm[0] - 1], d[c->perm[1] - 1], d[c->perm[2] - 1]};
        int64_t stride[3] = {d[1] * d[2], d[2], 1}, k = 0;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i0 = 0; i0 < o[0]; i0++)
                for (int64_t i1 = 0; i1 < o[1]; i1++)
                    for (int64_t i2 = 0; i2 < o[2]; i2++)
                        y[k++] = x[0][b * per[0] + i0 * stride[c->perm[0] - 1] +
                                      i1 * stride[c->perm[1] - 1] + i2 * stride[c->perm[2] - 1]];
        return;
    }
    if (!strcmp(c->unit, "concatenate")) {
        int64_t outer = batch, after = 1;
        for (int d = 0; d < c->axis; d++) outer *= c->dims[0][d];
        for (int d = c->axis + 1; d < c->nd; d++) after *= c->dims[0][d];
        int64_t k = 0;
        for (int64_t r = 0; r < outer; r++)
            for (int i = 0; i < c->nin; i++) {
                int64_t inner = c->dims[i][c->axis] * after;
                for (int64_t e = 0; e < inner; e++) y[k++] = x[i][r * inner + e];
            }
        return;
    }
    for (int64_t e = 0; e < batch * per[0]; e++) {
        double v = x[0][e];
        for (int i = 1; i < c->nin; i++) {
            double u = x[i][e];
            if (!strcmp(c->unit, "subtract")) v -= u;
            else if (!strcmp(c->unit, "multiply")) v *= u;
            else if (!strcmp(c->unit, "maximum")) v = u > v ? u : v;
            else if (!strcmp(c->unit, "minimum")) v = u < v ? u : v;
            else v += u;
        }
        y[e] = !strcmp(c->unit, "average") ? v / c->nin : v;
    }
}

typedef struct run {
    const mcase *c;
    int64_t batch, ny;
    double *xd[MAXIN], *y, *r;
} run;

static double ref_loss(void *user) {
    run *u = user;
    reference(u->c, u->batch, u->xd, u->y);
    double s = 0;
    for (int64_t e = 0; e < u->ny; e++) s += u->r[e] * u->y[e];
    return s;
}

/* Forward vs reference, backward vs central differences. */
static void check_case(const mcase *c) {
    const int64_t batch = 3;
    ln_layer *l = lt_layer(c->unit, c->spec);
    ln_tensor *x[MAXIN];
    run u = {c, batch, 0, {0}, NULL, NULL};
    for (int i = 0; i < c->nin; i++) {
        int64_t shape[4] = {batch};
        memcpy(shape + 1, c->dims[i], (size_t)c->nd * sizeof *shape);
        x[i] = lt_uniform(c->nd + 1, shape, -1, 1, 40 + (uint64_t)i);
        u.xd[i] = malloc((size_t)x[i]->numel * sizeof(double));
        for (int64_t e = 0; e < x[i]->numel; e++) u.xd[i][e] = ln_f32(x[i])[e];
    }
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
    ck_assert_msg(ln_layer_forward(&ctx, l, c->nin, (const ln_tensor *const *)x, &y, 0) == LN_OK,
                  "%s: %s", c->unit, ctx.msg);
    u.ny = y->numel;
    u.y = malloc((size_t)u.ny * sizeof(double));
    u.r = malloc((size_t)u.ny * sizeof(double));
    ln_tensor *r = lt_uniform(y->ndim, y->shape, -1, 1, 77);
    for (int64_t e = 0; e < u.ny; e++) u.r[e] = ln_f32(r)[e];
    reference(c, batch, u.xd, u.y);
    for (int64_t e = 0; e < u.ny; e++)
        ck_assert_msg(fabs(ln_f32(y)[e] - u.y[e]) <= 1e-6 * (1 + fabs(u.y[e])),
                      "%s: y[%lld] = %g, reference %g", c->unit, (long long)e,
                      ln_f32(y)[e], u.y[e]);
    ln_tensor *dx[MAXIN];
    for (int i = 0; i < c->nin; i++) dx[i] = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
    ck_assert_int_eq(ln_layer_backward(&ctx, l, (const ln_tensor *const *)x,
                                       (const ln_tensor *const *)&y,
                                       (const ln_tensor *const *)&r, dx, NULL, 0),
                     LN_OK);
    lt_gc_var vars[MAXIN];
    static const char *names[MAXIN] = {"dx1", "dx2", "dx3", "dx4"};
    for (int i = 0; i < c->nin; i++)
        vars[i] = (lt_gc_var){names[i], x[i]->numel, u.xd[i], NULL, ln_f32(dx[i])};
    lt_gc_opts o = lt_gc_ref_defaults();
    lt_gc_report rep;
    ck_assert_msg(lt_gradcheck(ref_loss, &u, vars, c->nin, &o, &rep), "%s: %s", c->unit,
                  rep.msg);
    for (int i = 0; i < c->nin; i++) {
        ln_tensor_release(x[i]);
        ln_tensor_release(dx[i]);
        free(u.xd[i]);
    }
    ln_tensor_release(y);
    ln_tensor_release(r);
    free(u.y);
    free(u.r);
    ln_layer_free(l);
}

START_TEST(elementwise_gradients) {
    static const char *units[] = {"add", "subtract", "multiply", "average", "maximum",
                                  "minimum"};
    for (size_t k = 0; k < sizeof units / sizeof *units; k++) {
        int nin = strcmp(units[k], "subtract") ? 3 : 2;
        mcase c = {units[k], "", nin, 2, {{4, 5}, {4, 5}, {4, 5}}, 0, 0, {0}};
        check_case(&c);
    }
}
END_TEST

START_TEST(concatenate_gradients) {
    mcase last = {"concatenate", "", 3, 2, {{4, 2}, {4, 5}, {4, 1}}, 1, 0, {0}};
    check_case(&last);
    mcase first = {"concatenate", "axis=1", 2, 2, {{2, 3}, {4, 3}}, 0, 0, {0}};
    check_case(&first);
    mcase mid = {"concatenate", "axis=-2", 2, 3, {{2, 3, 2}, {2, 1, 2}}, 1, 0, {0}};
    check_case(&mid);
}
END_TEST

/* Shape mismatches name the layer and both shapes; counts are enforced. */
START_TEST(bad_inputs) {
    ln_layer *add = lt_layer("add", "");
    ln_shape in[2] = {{1, {3}}, {1, {4}}};
    ck_assert_int_eq(ln_layer_build(&ctx, add, 2, in), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "Add"), "%s", ctx.msg);
    ck_assert_msg(strstr(ctx.msg, "(None, 3)") && strstr(ctx.msg, "(None, 4)"), "%s", ctx.msg);
    ck_assert_int_eq(ln_layer_build(&ctx, add, 1, in), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "at least 2 inputs, got 1"), "%s", ctx.msg);
    ln_layer *sub = lt_layer("subtract", "");
    ln_shape three[3] = {{1, {3}}, {1, {3}}, {1, {3}}};
    ck_assert_int_eq(ln_layer_build(&ctx, sub, 3, three), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "takes 2 inputs, got 3"), "%s", ctx.msg);
    ln_layer *cat = lt_layer("concatenate", "");
    ln_shape mism[2] = {{2, {3, 4}}, {2, {2, 5}}};
    ck_assert_int_eq(ln_layer_build(&ctx, cat, 2, mism), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "(None, 3, 4)") && strstr(ctx.msg, "(None, 2, 5)"), "%s",
                  ctx.msg);
    ln_layer *cat0 = lt_layer("concatenate", "axis=0");
    ck_assert_int_eq(ln_layer_build(&ctx, cat0, 2, three), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "batch axis"), "%s", ctx.msg);
    ln_layer_free(add);
    ln_layer_free(sub);
    ln_layer_free(cat);
    ln_layer_free(cat0);
}
END_TEST

/* Large enough to run in parallel: the same bits with 1 and 2 threads. */
START_TEST(threads_do_not_change_numbers) {
    static const char *units[] = {"multiply", "maximum", "concatenate"};
    for (size_t k = 0; k < 3; k++) {
        float *keep[2] = {NULL, NULL};
        int64_t n = 0;
        for (int t = 1; t <= 2; t++) {
            ln_set_num_threads(t);
            ln_layer *l = lt_layer(units[k], "");
            ln_tensor *x[2] = {lt_uniform(2, (int64_t[]){256, 300}, -1, 1, 1),
                               lt_uniform(2, (int64_t[]){256, 300}, -1, 1, 2)};
            ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
            ck_assert_int_eq(ln_layer_forward(&ctx, l, 2, (const ln_tensor *const *)x, &y, 0),
                             LN_OK);
            ln_tensor *dx[2] = {ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL),
                                ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL)};
            ck_assert_int_eq(ln_layer_backward(&ctx, l, (const ln_tensor *const *)x,
                                               (const ln_tensor *const *)&y,
                                               (const ln_tensor *const *)&y, dx, NULL, 0),
                             LN_OK);
            n = y->numel + dx[1]->numel;
            keep[t - 1] = malloc((size_t)n * sizeof(float));
            memcpy(keep[t - 1], ln_f32(y), (size_t)y->numel * sizeof(float));
            memcpy(keep[t - 1] + y->numel, ln_f32(dx[1]), (size_t)dx[1]->numel * sizeof(float));
            ln_tensor_release(x[0]), ln_tensor_release(x[1]), ln_tensor_release(y);
            ln_tensor_release(dx[0]), ln_tensor_release(dx[1]);
            ln_layer_free(l);
        }
        ck_assert_mem_eq(keep[0], keep[1], (size_t)n * sizeof(float));
        free(keep[0]), free(keep[1]);
    }
    ln_set_num_threads(2);
}
END_TEST

START_TEST(shape_layer_gradients) {
    mcase rep = {"repeat_vector", "#1=3", 1, 1, {{5}}, 0, 3, {0}};
    check_case(&rep);
    mcase perm = {"permute", "dims=[3,1,2]", 1, 3, {{2, 3, 4}}, 0, 0, {3, 1, 2}};
    check_case(&perm);
    mcase swap = {"permute", "dims=[2,1,3]", 1, 3, {{4, 2, 3}}, 0, 0, {2, 1, 3}};
    check_case(&swap);
    mcase vec = {"dot", "axes=1", 2, 1, {{5}, {5}}, 0, 0, {1, 1}};
    check_case(&vec);
    mcase cosine = {"dot", "axes=-1 normalize=true", 2, 1, {{5}, {5}}, 0, 1, {1, 1}};
    check_case(&cosine);
    mcase mat = {"dot", "axes=2", 2, 2, {{3, 4}, {2, 4}}, 0, 0, {2, 2}};
    check_case(&mat);
    mcase first = {"dot", "axes=[1,1] normalize=true", 2, 2, {{4, 3}, {4, 2}}, 0, 1, {1, 1}};
    check_case(&first);
    /* samples of rank 3 (Keras's batch_dot): a middle, a first and a last axis */
    mcase mid = {"dot", "axes=[2,2]", 2, 3, {{3, 4, 2}, {2, 4, 3}}, 0, 0, {2, 2}};
    check_case(&mid);
    mcase mixed = {"dot", "axes=[1,3] normalize=true", 2, 3, {{4, 2, 3}, {2, 3, 4}}, 0, 1, {1, 3}};
    check_case(&mixed);
    mcase last3 = {"dot", "axes=-1", 2, 3, {{2, 3, 5}, {3, 1, 5}}, 0, 0, {3, 3}};
    check_case(&last3);
    ck_assert_str_eq(lt_layer_error("permute", "dims=[1,1]"),
                     "Permute: 'dims' must be a permutation of 1..2, got 1 at position 2");
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_merge");
    TCase *tc = tcase_create("merge");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, elementwise_gradients);
    tcase_add_test(tc, concatenate_gradients);
    tcase_add_test(tc, shape_layer_gradients);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, threads_do_not_change_numbers);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
