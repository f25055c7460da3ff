/*
** test_tensor_ops.c -- the kernels of include/lunet/tensor_ops.h against
** naive loops written here, their refusals, and bitwise-identical results
** for 1 and 2 threads on tensors large enough to run in parallel.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/tensor_nn.h"
#include "lunet/tensor_ops.h"
#include "testutil.h"

static ln_ctx ctx;

static ln_tensor *new_t(ln_dtype d, int nd, const int64_t *shape) {
    ln_tensor *t = ln_tensor_new(&ctx, d, nd, shape);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    return t;
}

/* A tensor of dtype d with pseudo-random small values (seeded). */
static ln_tensor *rand_t(ln_dtype d, int nd, const int64_t *shape, uint64_t seed) {
    ln_tensor *u = lt_uniform(nd, shape, -50, 50, seed);
    if (d == LN_FLOAT32) return u;
    if (d == LN_UINT8)
        for (int64_t i = 0; i < u->numel; i++) ln_f32(u)[i] = fabsf(ln_f32(u)[i]) * 5;
    ln_tensor *c = ln_tensor_cast(&ctx, u, d);
    ln_tensor_release(u);
    return c;
}

static int same_bytes(const ln_tensor *a, const ln_tensor *b) {
    return a->dtype == b->dtype && ln_shape_equal(a, b) &&
           !memcmp(ln_data(a), ln_data(b), (size_t)a->numel * ln_dtype_size(a->dtype));
}

START_TEST(permute_and_narrow) {
    int64_t live = ln_tensor_live_count();
    int64_t s[3] = {3, 4, 5};
    ln_tensor *x = rand_t(LN_FLOAT32, 3, s, 1);
    int perm[3] = {2, 0, 1};
    ln_tensor *y = ln_permute(&ctx, x, perm);
    ck_assert_int_eq(y->shape[0], 5);
    ck_assert_int_eq(y->shape[1], 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 5; k++)
                ck_assert(ln_f32(y)[(k * 3 + i) * 4 + j] == ln_f32(x)[(i * 4 + j) * 5 + k]);
    int bad[3] = {0, 0, 1};
    ck_assert_ptr_null(ln_permute(&ctx, x, bad));
    ck_assert(strstr(ctx.msg, "permute") != NULL);
    ln_tensor *n = ln_narrow_copy(&ctx, x, 2, 1, 3);
    ck_assert_int_eq(n->shape[2], 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++)
                ck_assert(ln_f32(n)[(i * 4 + j) * 3 + k] == ln_f32(x)[(i * 4 + j) * 5 + k + 1]);
    ck_assert_ptr_null(ln_narrow_copy(&ctx, x, 2, 3, 3));
    ck_assert_msg(strstr(ctx.msg, "(3, 4, 5)") != NULL, "%s", ctx.msg);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(n);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

START_TEST(cat_dims) {
    int64_t sa[2] = {2, 3}, sb[2] = {2, 1}, sc[2] = {1, 3};
    ln_tensor *a = rand_t(LN_INT32, 2, sa, 2), *b = rand_t(LN_INT32, 2, sb, 3);
    const ln_tensor *ts[2] = {a, b};
    ln_tensor *y = ln_cat(&ctx, ts, 2, 1, "cat");
    ck_assert_int_eq(y->shape[1], 4);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 3; j++) ck_assert_int_eq(ln_i32(y)[i * 4 + j], ln_i32(a)[i * 3 + j]);
        ck_assert_int_eq(ln_i32(y)[i * 4 + 3], ln_i32(b)[i]);
    }
    ck_assert_ptr_null(ln_cat(&ctx, ts, 2, 0, "cat"));
    ck_assert_msg(strstr(ctx.msg, "cat: tensor 2 is int32 (2, 1) but tensor 1 is int32 (2, 3)"),
                  "%s", ctx.msg);
    ln_tensor *c = rand_t(LN_INT32, 2, sc, 4);
    const ln_tensor *t2[2] = {a, c};
    ln_tensor *z = ln_cat(&ctx, t2, 2, 0, "cat");
    ck_assert_int_eq(z->shape[0], 3);
    ck_assert_int_eq(memcmp(ln_i32(z) + 6, ln_i32(c), 12), 0);
    ln_tensor_release(a);
    ln_tensor_release(b);
    ln_tensor_release(c);
    ln_tensor_release(y);
    ln_tensor_release(z);
}
END_TEST

START_TEST(index_ops) {
    int64_t s[2] = {4, 3};
    ln_tensor *x = rand_t(LN_FLOAT32, 2, s, 5);
    ln_tensor *idx = new_t(LN_INT32, 1, (int64_t[]){3});
    ln_i32(idx)[0] = 4, ln_i32(idx)[1] = 1, ln_i32(idx)[2] = 4;
    int64_t *pos, n;
    ck_assert_int_eq(ln_index_list(&ctx, idx, 1, 4, "index", &pos, &n), LN_OK);
    ck_assert_int_eq(pos[0], 3);
    ln_tensor *y = ln_index_select(&ctx, x, 0, pos, n);
    ck_assert_int_eq(y->shape[0], 3);
    ck_assert_int_eq(memcmp(ln_f32(y), ln_f32(x) + 9, 12), 0);
    ck_assert_int_eq(memcmp(ln_f32(y) + 3, ln_f32(x), 12), 0);
    ln_tensor *cols = ln_index_select(&ctx, x, 1, (int64_t[]){2, 0}, 2);
    ck_assert(ln_f32(cols)[0] == ln_f32(x)[2] && ln_f32(cols)[2] == ln_f32(x)[5]);
    ck_assert(ln_f32(cols)[3] == ln_f32(x)[3]);
    /* repeated index: the last write wins */
    ln_tensor *src = new_t(LN_FLOAT32, 2, (int64_t[]){3, 3});
    for (int i = 0; i < 9; i++) ln_f32(src)[i] = (float)i;
    ck_assert_int_eq(ln_index_copy(&ctx, x, 0, pos, n, src), LN_OK);
    ck_assert(ln_f32(x)[9] == 6.0f && ln_f32(x)[0] == 3.0f);
    ck_assert_int_eq(ln_index_fill(&ctx, x, 0, pos, 1, 7), LN_OK);
    ck_assert(ln_f32(x)[10] == 7.0f);
    free(pos);
    ln_i32(idx)[1] = 0;
    ck_assert_int_eq(ln_index_list(&ctx, idx, 1, 4, "index", &pos, &n), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "index 0 (at position 2) out of range 1..4"), "%s", ctx.msg);
    /* gather along dim 1 */
    ln_tensor *g = new_t(LN_INT32, 2, (int64_t[]){4, 1});
    for (int i = 0; i < 4; i++) ln_i32(g)[i] = 3 - i % 3;
    ln_tensor *gy = ln_gather(&ctx, x, 1, g, 1);
    for (int i = 0; i < 4; i++) ck_assert(ln_f32(gy)[i] == ln_f32(x)[i * 3 + 2 - i % 3]);
    ln_i32(g)[2] = 9;
    ck_assert_ptr_null(ln_gather(&ctx, x, 1, g, 1));
    ck_assert(strstr(ctx.msg, "gather: index 9") != NULL);
    ck_assert_int_eq(ln_index_first_outside(g, 1, 3), 2);
    ck_assert_int_eq(ln_index_first_outside(g, 1, 9), -1);
    /* scatter_add: gather's adjoint; the first bad index named, else sums */
    ln_tensor *gv = ln_tensor_new(&ctx, LN_FLOAT32, 2, (int64_t[]){4, 1});
    ck_assert_ptr_null(ln_scatter_add(&ctx, 2, s, 1, g, 1, gv));
    ck_assert_msg(strstr(ctx.msg, "scatter_add: index 9 (at position 3) out of range 1..3"),
                  "%s", ctx.msg);
    ck_assert_ptr_null(ln_scatter_add(&ctx, 2, s, 2, g, 1, gv));
    ln_i32(g)[2] = 3; /* row r gets r + 1 at its index, zeros elsewhere */
    for (int i = 0; i < 4; i++) ln_f32(gv)[i] = (float)(i + 1);
    ln_tensor *sc = ln_scatter_add(&ctx, 2, s, 1, g, 1, gv);
    ck_assert_ptr_nonnull(sc);
    for (int i = 0; i < 12; i++) {
        const int row = i / 3, col = i % 3;
        const float want = col == ln_i32(g)[row] - 1 ? (float)(row + 1) : 0.0f;
        ck_assert_msg(ln_f32(sc)[i] == want, "element %d: %g, want %g", i, ln_f32(sc)[i], want);
    }
    ln_tensor_release(gv);
    ln_tensor_release(sc);
    ln_tensor_release(x);
    ln_tensor_release(idx);
    ln_tensor_release(y);
    ln_tensor_release(cols);
    ln_tensor_release(src);
    ln_tensor_release(g);
    ln_tensor_release(gy);
}
END_TEST

START_TEST(masks) {
    int64_t s[2] = {5, 4};
    ln_tensor *x = rand_t(LN_FLOAT32, 2, s, 6);
    ln_tensor *m = ln_compare_scalar(&ctx, LN_B_GT, x, 0, 0);
    int64_t count = 0;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(ln_u8(m)[i], ln_f32(x)[i] > 0);
        count += ln_f32(x)[i] > 0;
    }
    ck_assert_int_eq(ln_count_nonzero_u8(ln_u8(m), 20), count);
    ln_tensor *sel = ln_masked_select(&ctx, x, m);
    ck_assert_int_eq(sel->ndim, 1);
    ck_assert_int_eq(sel->shape[0], count);
    for (int i = 0, k = 0; i < 20; i++)
        if (ln_f32(x)[i] > 0) ck_assert(ln_f32(sel)[k++] == ln_f32(x)[i]);
    /* row mask: (5,) selecting rows of (5, 4) */
    ln_tensor *rm = new_t(LN_UINT8, 1, (int64_t[]){5});
    ln_u8(rm)[1] = ln_u8(rm)[4] = 1;
    ln_tensor *rows = ln_masked_select(&ctx, x, rm);
    ck_assert_int_eq(rows->shape[0], 2);
    ck_assert_int_eq(rows->shape[1], 4);
    ck_assert_int_eq(memcmp(ln_f32(rows) + 4, ln_f32(x) + 16, 16), 0);
    ck_assert_int_eq(ln_masked_fill(&ctx, x, rm, -1), LN_OK);
    ck_assert(ln_f32(x)[4] == -1 && ln_f32(x)[19] == -1 && ln_f32(x)[0] != -1);
    ln_tensor *vals = new_t(LN_FLOAT32, 2, (int64_t[]){2, 4});
    for (int i = 0; i < 8; i++) ln_f32(vals)[i] = 100.0f + (float)i;
    ck_assert_int_eq(ln_masked_copy(&ctx, x, rm, vals), LN_OK);
    ck_assert(ln_f32(x)[5] == 101 && ln_f32(x)[16] == 104);
    ck_assert_int_eq(ln_masked_copy(&ctx, x, m, vals), LN_E_SHAPE);
    /* wrong mask shape and dtype */
    ln_tensor *bad = new_t(LN_UINT8, 1, (int64_t[]){4});
    ck_assert_ptr_null(ln_masked_select(&ctx, x, bad));
    ck_assert_msg(strstr(ctx.msg, "mask of shape (4,) does not fit tensor of shape (5, 4)"),
                  "%s", ctx.msg);
    ck_assert_ptr_null(ln_masked_select(&ctx, x, x));
    ck_assert(strstr(ctx.msg, "uint8") != NULL);
    /* logical ops with broadcasting */
    ln_tensor *a = new_t(LN_UINT8, 2, (int64_t[]){2, 1}), *b = new_t(LN_UINT8, 1, (int64_t[]){3});
    ln_u8(a)[0] = 1, ln_u8(b)[1] = 1, ln_u8(b)[2] = 1;
    ln_tensor *o = ln_logical(&ctx, LN_L_AND, a, b), *xo = ln_logical(&ctx, LN_L_XOR, a, b);
    uint8_t want_and[6] = {0, 1, 1, 0, 0, 0}, want_xor[6] = {1, 0, 0, 0, 1, 1};
    ck_assert_int_eq(memcmp(ln_u8(o), want_and, 6), 0);
    ck_assert_int_eq(memcmp(ln_u8(xo), want_xor, 6), 0);
    ln_tensor *nt = ln_logical_not(&ctx, b);
    ck_assert_int_eq(ln_u8(nt)[0], 1);
    ck_assert_int_eq(ln_u8(nt)[1], 0);
    ln_tensor *t[] = {x, m, sel, rm, rows, vals, bad, a, b, o, xo, nt};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) ln_tensor_release(t[i]);
}
END_TEST

START_TEST(int_arith) {
    ln_tensor *x = new_t(LN_INT32, 1, (int64_t[]){4}), *y = new_t(LN_INT32, 1, (int64_t[]){4});
    int32_t xv[4] = {7, -7, 7, -7}, yv[4] = {2, 2, -2, -2};
    memcpy(ln_i32(x), xv, 16);
    memcpy(ln_i32(y), yv, 16);
    ln_tensor *q = ln_arith_i32(&ctx, LN_A_IDIV, x, y), *r = ln_arith_i32(&ctx, LN_A_MOD, x, y);
    int32_t wq[4] = {3, -4, -4, 3}, wr[4] = {1, 1, -1, -1}; /* Lua's 7//-2 = -4, 7%-2 = -1 */
    ck_assert_int_eq(memcmp(ln_i32(q), wq, 16), 0);
    ck_assert_int_eq(memcmp(ln_i32(r), wr, 16), 0);
    ln_i32(y)[1] = 0;
    ck_assert_ptr_null(ln_arith_i32(&ctx, LN_A_MOD, x, y));
    ck_assert(strstr(ctx.msg, "division by zero") != NULL);
    ck_assert_ptr_null(ln_arith_i32_scalar(&ctx, LN_A_IDIV, x, 0, 0));
    ln_tensor *s = ln_arith_i32_scalar(&ctx, LN_A_SUB, x, 10, 1); /* 10 - x */
    ck_assert_int_eq(ln_i32(s)[1], 17);
    ln_tensor *f = ln_tensor_cast(&ctx, x, LN_FLOAT32);
    ln_tensor *fm = ln_floordiv_mod_f32(&ctx, LN_A_MOD, f, NULL, -2, 0);
    ck_assert(ln_f32(fm)[0] == -1.0f && ln_f32(fm)[1] == -1.0f);
    ln_tensor *c = ln_clamp_any(&ctx, x, -3.5, 5.5);
    ck_assert_int_eq(ln_i32(c)[0], 5);
    ck_assert_int_eq(ln_i32(c)[1], -3);
    ln_tensor *na = ln_neg_abs_i32(&ctx, x, 1);
    ck_assert_int_eq(ln_i32(na)[1], 7);
    ln_tensor *t[] = {x, y, q, r, s, f, fm, c, na};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) ln_tensor_release(t[i]);
}
END_TEST

START_TEST(reductions_and_regions) {
    int64_t s[1] = {10000};
    ln_tensor *x = rand_t(LN_FLOAT32, 1, s, 8);
    ln_f32(x)[777] = 1000;
    ln_f32(x)[9000] = 1000; /* tie: the first wins */
    double v;
    int64_t pos;
    ln_minmax_all(x, 1, &v, &pos);
    ck_assert(v == 1000 && pos == 777);
    ln_f32(x)[5000] = NAN;
    ln_minmax_all(x, 0, &v, &pos);
    ck_assert(v != v && pos == 5000);
    ln_f32(x)[5000] = 0;
    double mean = 0, ss = 0;
    for (int i = 0; i < 10000; i++) mean += ln_f32(x)[i];
    mean /= 10000;
    for (int i = 0; i < 10000; i++) ss += (ln_f32(x)[i] - mean) * (ln_f32(x)[i] - mean);
    ck_assert(fabs(ln_var_all(x, 1) - ss / 9999) < 1e-9 * ss);
    ln_tensor *u = new_t(LN_UINT8, 1, s);
    memset(ln_u8(u), 255, 10000);
    int64_t isum;
    ln_sum_all(u, &isum, NULL);
    ck_assert_int_eq(isum, 2550000);
    /* a region: column 1 of a (3, 4) tensor */
    ln_tensor *m = new_t(LN_INT32, 2, (int64_t[]){3, 4});
    for (int i = 0; i < 12; i++) ln_i32(m)[i] = i;
    ln_region col = {1, 1, {3}, {4}};
    ck_assert(!ln_region_is_block(&col));
    ln_tensor *c = ln_region_read(&ctx, m, &col);
    ck_assert_int_eq(ln_i32(c)[2], 9);
    ck_assert_int_eq(ln_region_fill(&ctx, m, &col, -1), LN_OK);
    ck_assert_int_eq(ln_i32(m)[5], -1);
    ck_assert_int_eq(ln_region_fill(&ctx, u, &(ln_region){1, 0, {2}, {1}}, 256), LN_E_ARG);
    ln_region rows = {2, 4, {2, 4}, {4, 1}};
    ck_assert(ln_region_is_block(&rows));
    ln_tensor *one = new_t(LN_INT32, 1, (int64_t[]){4});
    ln_i32(one)[3] = 42;
    ck_assert_int_eq(ln_region_write(&ctx, m, &rows, one, "assignment"), LN_OK);
    ck_assert_int_eq(ln_i32(m)[11], 42);
    ck_assert_int_eq(ln_i32(m)[7], 42);
    ln_tensor *wrong = new_t(LN_INT32, 1, (int64_t[]){3});
    ck_assert_int_eq(ln_region_write(&ctx, m, &rows, wrong, "assignment"), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "values of shape (3,) do not broadcast to the selected shape (2, 4)"),
                  "%s", ctx.msg);
    ln_tensor *t[] = {x, u, m, c, one, wrong};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) ln_tensor_release(t[i]);
}
END_TEST

START_TEST(equal_allclose_arange_onehot) {
    ln_tensor *a = ln_arange(&ctx, 0, 6, 1, LN_INT32), *b = ln_arange(&ctx, 0, 6, 1, LN_FLOAT32);
    ck_assert(ln_equal(a, b));
    ln_f32(b)[2] += 1e-6f;
    ck_assert(!ln_equal(a, b));
    int r;
    ck_assert_int_eq(ln_allclose(&ctx, a, b, 1e-5, 1e-8, &r), LN_OK);
    ck_assert(r);
    ck_assert_int_eq(ln_allclose(&ctx, a, b, 0, 0, &r), LN_OK);
    ck_assert(!r);
    ln_tensor *c = ln_arange(&ctx, 0, 4, 1, LN_FLOAT32);
    ck_assert_int_eq(ln_allclose(&ctx, a, c, 1e-5, 1e-8, &r), LN_E_SHAPE);
    ln_tensor *d = ln_arange(&ctx, 1, 0, -0.25, LN_FLOAT32);
    ck_assert_int_eq(d->numel, 4);
    ck_assert(ln_f32(d)[3] == 0.25f);
    ln_tensor *h = ln_one_hot(&ctx, a, 6, "one_hot");
    ck_assert_int_eq(h->shape[1], 6);
    ck_assert(ln_f32(h)[5 * 6 + 5] == 1.0f && ln_f32(h)[5 * 6 + 4] == 0.0f);
    ck_assert_ptr_null(ln_one_hot(&ctx, a, 5, "to_categorical"));
    ck_assert_msg(strstr(ctx.msg, "to_categorical: label 5 at position 6 is not a class id in 0..4"),
                  "%s", ctx.msg);
    ln_tensor *t[] = {a, b, c, d, h};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) ln_tensor_release(t[i]);
}
END_TEST

/* Run every parallel kernel with n threads; results into out[]. */
#define NOUT 16
static void run_all(int threads, ln_tensor **out, double *nums) {
    ln_set_num_threads(threads);
    int64_t s[2] = {600, 1000}, sb[1] = {1000}, sr[1] = {600};
    ln_tensor *x = rand_t(LN_FLOAT32, 2, s, 11), *y = rand_t(LN_FLOAT32, 1, sb, 12);
    ln_tensor *xi = rand_t(LN_INT32, 2, s, 13), *yi = rand_t(LN_INT32, 1, sb, 14);
    for (int64_t i = 0; i < yi->numel; i++) if (!ln_i32(yi)[i]) ln_i32(yi)[i] = 3;
    ln_tensor *xu = rand_t(LN_UINT8, 2, s, 15);
    int k = 0;
    out[k++] = ln_compare(&ctx, LN_B_LT, x, y);
    out[k++] = ln_compare_scalar(&ctx, LN_B_GE, xu, 100, 0);
    out[k++] = ln_masked_select(&ctx, x, out[0]);
    ln_tensor *rv = rand_t(LN_FLOAT32, 1, sr, 16);
    ln_tensor *rm = ln_compare_scalar(&ctx, LN_B_GT, rv, 0, 0);
    out[k++] = ln_masked_select(&ctx, xu, rm);
    out[k++] = ln_arith_i32(&ctx, LN_A_MOD, xi, yi);
    out[k++] = ln_floordiv_mod_f32(&ctx, LN_A_IDIV, x, y, 0, 0);
    int perm[2] = {1, 0};
    out[k++] = ln_permute(&ctx, x, perm);
    out[k++] = ln_narrow_copy(&ctx, x, 1, 100, 700);
    out[k++] = ln_logical(&ctx, LN_L_OR, out[0], out[1]);
    out[k++] = ln_clamp_any(&ctx, xi, -10, 10);
    ln_tensor *xc = ln_tensor_clone(&ctx, x);
    ln_masked_fill(&ctx, xc, out[0], 3.5);
    out[k++] = xc;
    ln_tensor *g = ln_tensor_new(&ctx, LN_INT32, 2, s);
    for (int64_t i = 0; i < g->numel; i++) ln_i32(g)[i] = (int32_t)((i * 7919) % 1000) + 1;
    out[k++] = ln_gather(&ctx, x, 1, g, 1);
    ln_region r = {2, 1, {600, 500}, {1000, 2}}; /* odd columns */
    out[k++] = ln_region_read(&ctx, x, &r);
    while (k < NOUT) out[k++] = NULL;
    double v;
    int64_t p;
    ln_minmax_all(x, 1, &v, &p);
    nums[0] = v, nums[1] = (double)p;
    nums[2] = ln_var_all(x, 1);
    ln_sum_all(xi, NULL, &nums[3]);
    ln_tensor *t[] = {x, y, xi, yi, xu, g, rv, rm};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) ln_tensor_release(t[i]);
}

/* The vector paths (blocks of 4096, cloned loops) of scalar comparisons and
** casts, element by element against the scalar C rules, on lengths around
** the blocks and beyond the threaded threshold, with NaN, infinities and
** the range edges in them. */
static float edge_value(int64_t i) {
    static const float edges[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 0.5f, -0.5f,
                                  -0.99f, 255.0f, 255.9f, 256.0f, -1.0f, -2147483648.0f,
                                  2147483648.0f, -2147483904.0f, 2147483520.0f};
    const int ne = (int)(sizeof edges / sizeof *edges);
    return i % 7 == 3 ? edges[(i / 7) % ne] : (float)((i * 37) % 1001) / 10.0f - 50.0f;
}

START_TEST(vector_compares_and_casts) {
    static const int64_t lens[] = {1, 4095, 4096, 4097, 140001};
    static const ln_binary_op ops[] = {LN_B_EQ, LN_B_NE, LN_B_LT, LN_B_LE, LN_B_GT, LN_B_GE};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int64_t n = lens[li];
        ln_tensor *x = new_t(LN_FLOAT32, 1, &n);
        float *p = ln_f32(x);
        for (int64_t i = 0; i < n; i++) p[i] = edge_value(i);
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
            for (int first = 0; first <= 1; first++) {
                const double sv = 0.5;
                ln_tensor *m = ln_compare_scalar(&ctx, ops[k], x, sv, first);
                ck_assert_msg(m != NULL, "%s", ctx.msg);
                for (int64_t i = 0; i < n; i++) {
                    const double a = first ? sv : (double)p[i], b = first ? (double)p[i] : sv;
                    const int want = ops[k] == LN_B_EQ ? a == b : ops[k] == LN_B_NE ? a != b
                                   : ops[k] == LN_B_LT ? a < b : ops[k] == LN_B_LE ? a <= b
                                   : ops[k] == LN_B_GT ? a > b : a >= b;
                    ck_assert_msg(ln_u8(m)[i] == want, "op %d first %d n %ld at %ld (%g)",
                                  (int)ops[k], first, (long)n, (long)i, (double)p[i]);
                }
                ln_tensor_release(m);
            }
        /* casts: the first value that does not fit is named, by position */
        for (int to = 0; to < 2; to++) {
            const ln_dtype dt = to ? LN_UINT8 : LN_INT32;
            ln_tensor *c = ln_tensor_cast(&ctx, x, dt);
            int64_t first_bad = -1;
            for (int64_t i = 0; i < n && first_bad < 0; i++) {
                const double v = p[i];
                const int fits = dt == LN_UINT8 ? v > -1 && v < 256
                                                : v > -2147483649.0 && v < 2147483648.0;
                if (!fits) first_bad = i;
            }
            if (first_bad >= 0) {
                ck_assert(c == NULL);
                char want[64];
                snprintf(want, sizeof want, "at position %ld does not fit", (long)first_bad + 1);
                ck_assert_msg(strstr(ctx.msg, want) != NULL, "n %ld: %s", (long)n, ctx.msg);
            } else {
                ck_assert_msg(c != NULL, "%s", ctx.msg);
                for (int64_t i = 0; i < n; i++)
                    ck_assert(dt == LN_UINT8 ? ln_u8(c)[i] == (uint8_t)p[i]
                                             : ln_i32(c)[i] == (int32_t)p[i]);
                ln_tensor_release(c);
            }
        }
        /* each range edge alone, at position n (the last block's end) */
        static const struct { float v; ln_dtype to; int fits; } edge[] = {
            {-1.0f, LN_UINT8, 0},          {-0.99f, LN_UINT8, 1},
            {255.99f, LN_UINT8, 1},        {256.0f, LN_UINT8, 0},
            {-2147483648.0f, LN_INT32, 1}, {-2147483904.0f, LN_INT32, 0},
            {2147483520.0f, LN_INT32, 1},  {2147483648.0f, LN_INT32, 0}};
        for (size_t e = 0; e < sizeof edge / sizeof *edge; e++) {
            ln_tensor *z = new_t(LN_FLOAT32, 1, &n);
            ln_f32(z)[n - 1] = edge[e].v;
            ln_tensor *c = ln_tensor_cast(&ctx, z, edge[e].to);
            ck_assert_msg((c != NULL) == edge[e].fits, "%.9g to %d, n %ld", (double)edge[e].v,
                          (int)edge[e].to, (long)n);
            if (c) {
                ck_assert(edge[e].to == LN_UINT8 ? ln_u8(c)[n - 1] == (uint8_t)edge[e].v
                                                 : ln_i32(c)[n - 1] == (int32_t)edge[e].v);
                ln_tensor_release(c);
            }
            ln_tensor_release(z);
        }
        /* the same values with the misfits replaced: every element converts */
        for (int64_t i = 0; i < n; i++)
            if (!(p[i] > -1.0f && p[i] < 256.0f)) p[i] = (float)(i % 256);
        ln_tensor *c8 = ln_tensor_cast(&ctx, x, LN_UINT8);
        ln_tensor *c32 = ln_tensor_cast(&ctx, x, LN_INT32);
        ck_assert_msg(c8 && c32, "%s", ctx.msg);
        ln_tensor *back = ln_tensor_cast(&ctx, c8, LN_FLOAT32);
        ln_tensor *i2u = ln_tensor_cast(&ctx, c32, LN_UINT8);
        ck_assert_msg(back && i2u, "%s", ctx.msg);
        for (int64_t i = 0; i < n; i++) {
            ck_assert(ln_u8(c8)[i] == (uint8_t)p[i] && ln_i32(c32)[i] == (int32_t)p[i]);
            ck_assert(ln_f32(back)[i] == (float)(uint8_t)p[i] && ln_u8(i2u)[i] == ln_u8(c8)[i]);
        }
        /* integer elements against a number, both orders; the count of a mask */
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
            for (int first = 0; first <= 1; first++)
                for (int which = 0; which < 2; which++) {
                    const ln_tensor *src = which ? c32 : c8;
                    const double sv = 100.5 + which * 0.5; /* 100.5 and 101: ties for int32 */
                    ln_tensor *m = ln_compare_scalar(&ctx, ops[k], src, sv, first);
                    ck_assert_msg(m != NULL, "%s", ctx.msg);
                    int64_t ones = 0;
                    for (int64_t i = 0; i < n; i++) {
                        const double e = which ? ln_i32(c32)[i] : ln_u8(c8)[i];
                        const double a = first ? sv : e, b = first ? e : sv;
                        const int want = ops[k] == LN_B_EQ ? a == b : ops[k] == LN_B_NE ? a != b
                                       : ops[k] == LN_B_LT ? a < b : ops[k] == LN_B_LE ? a <= b
                                       : ops[k] == LN_B_GT ? a > b : a >= b;
                        ck_assert(ln_u8(m)[i] == want);
                        ones += want;
                    }
                    ck_assert_int_eq(ln_count_nonzero_u8(ln_u8(m), n), ones);
                    ln_tensor_release(m);
                }
        ln_i32(c32)[n - 1] = 256;
        ck_assert(ln_tensor_cast(&ctx, c32, LN_UINT8) == NULL);
        char want[64];
        snprintf(want, sizeof want, "value 256 at position %ld", (long)n);
        ck_assert_msg(strstr(ctx.msg, want) != NULL, "%s", ctx.msg);
        /* where without broadcasting: a float condition (NaN counts as true) */
        ln_tensor *cond = new_t(LN_FLOAT32, 1, &n);
        for (int64_t i = 0; i < n; i++) ln_f32(cond)[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? NAN : -0.0f;
        ln_tensor *w1 = ln_where(&ctx, cond, x, 0, NULL, 7);
        ln_tensor *w2 = ln_where(&ctx, c8, NULL, -1, x, 0);
        ck_assert_msg(w1 && w2, "%s", ctx.msg);
        for (int64_t i = 0; i < n; i++) {
            ck_assert(ln_f32(w1)[i] == (i % 3 == 1 ? p[i] : 7.0f));
            ck_assert(ln_f32(w2)[i] == (ln_u8(c8)[i] ? -1.0f : p[i]));
        }
        ln_tensor_release(w1);
        ln_tensor_release(w2);
        ln_tensor_release(cond);
        ln_tensor_release(back);
        ln_tensor_release(i2u);
        ln_tensor_release(c8);
        ln_tensor_release(c32);
        ln_tensor_release(x);
    }
}
END_TEST

/* Two float32 tensors of one shape: comparisons (the same-shape vector
** path) and maximum / minimum (same shape and a broadcast row), against
** the scalar rules, on ties, NaN, infinities and signed zeros. */
START_TEST(tensor_pairs_compare_and_extremes) {
    static const int64_t lens[] = {1, 17, 4096, 4097, 140001};
    static const ln_binary_op ops[] = {LN_B_EQ, LN_B_NE, LN_B_LT, LN_B_LE, LN_B_GT, LN_B_GE};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int64_t n = lens[li];
        ln_tensor *x = new_t(LN_FLOAT32, 1, &n), *y = new_t(LN_FLOAT32, 1, &n);
        float *p = ln_f32(x), *q = ln_f32(y);
        for (int64_t i = 0; i < n; i++) {
            p[i] = edge_value(i);
            q[i] = i % 5 == 0 ? p[i] : edge_value(i * 3 + 1); /* a tie every fifth */
            if (i % 11 == 1) p[i] = i % 2 ? 0.0f : -0.0f, q[i] = -p[i]; /* zeros of both signs */
        }
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
            ln_tensor *m = ln_compare(&ctx, ops[k], x, y);
            ck_assert_msg(m != NULL, "%s", ctx.msg);
            int64_t bad = -1;
            for (int64_t i = 0; i < n && bad < 0; i++) {
                const float a = p[i], b = q[i];
                const int want = ops[k] == LN_B_EQ ? a == b : ops[k] == LN_B_NE ? a != b
                               : ops[k] == LN_B_LT ? a < b : ops[k] == LN_B_LE ? a <= b
                               : ops[k] == LN_B_GT ? a > b : a >= b;
                if (ln_u8(m)[i] != want) bad = i;
            }
            ck_assert_msg(bad < 0, "op %d n %ld at %ld", (int)ops[k], (long)n, (long)bad);
            ln_tensor_release(m);
        }
        float *z = malloc((size_t)n * sizeof *z);
        const int64_t row[2] = {1, n};
        for (int mx = 0; mx <= 1; mx++)
            for (int bc = 0; bc <= 1; bc++) { /* same shapes, or x broadcast to y's (1, n) */
                ln_binary(mx ? LN_B_MAX : LN_B_MIN, z, bc ? 2 : 1, bc ? row : &n, p, 1, &n, q,
                          bc ? 2 : 1, bc ? row : &n);
                int64_t bad = -1;
                for (int64_t i = 0; i < n && bad < 0; i++) {
                    const float a = p[i], b = q[i], want = mx ? (a > b ? a : b) : (a < b ? a : b);
                    if (memcmp(&want, &z[i], sizeof want) != 0) bad = i;
                }
                ck_assert_msg(bad < 0, "%s n %ld broadcast %d at %ld", mx ? "max" : "min",
                              (long)n, bc, (long)bad);
            }
        free(z);
        ln_tensor_release(x);
        ln_tensor_release(y);
    }
}
END_TEST

/* int32 and uint8 pairs of one shape: their own loops, compared in their
** type; extremes of each range, ties every fifth element */
START_TEST(tensor_pairs_compare_integers) {
    static const int64_t lens[] = {1, 17, 4097, 140001};
    static const ln_binary_op ops[] = {LN_B_EQ, LN_B_NE, LN_B_LT, LN_B_LE, LN_B_GT, LN_B_GE};
    for (int u8 = 0; u8 <= 1; u8++)
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            const int64_t n = lens[li];
            const ln_dtype dt = u8 ? LN_UINT8 : LN_INT32;
            ln_tensor *x = new_t(dt, 1, &n), *y = new_t(dt, 1, &n);
            for (int64_t i = 0; i < n; i++) {
                int64_t a = i % 7 == 3 ? (u8 ? 255 : INT32_MAX) : i % 7 == 4 ? (u8 ? 0 : INT32_MIN)
                                                                          : (i * 37) % 251 - (u8 ? 0 : 125);
                int64_t b = i % 5 == 0 ? a : (i * 53 + 11) % 251 - (u8 ? 0 : 125);
                if (u8) ln_u8(x)[i] = (uint8_t)a, ln_u8(y)[i] = (uint8_t)b;
                else ln_i32(x)[i] = (int32_t)a, ln_i32(y)[i] = (int32_t)b;
            }
            for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
                ln_tensor *m = ln_compare(&ctx, ops[k], x, y);
                ck_assert_msg(m != NULL, "%s", ctx.msg);
                int64_t bad = -1;
                for (int64_t i = 0; i < n && bad < 0; i++) {
                    const int64_t a = u8 ? ln_u8(x)[i] : ln_i32(x)[i];
                    const int64_t b = u8 ? ln_u8(y)[i] : ln_i32(y)[i];
                    const int want = ops[k] == LN_B_EQ ? a == b : ops[k] == LN_B_NE ? a != b
                                   : ops[k] == LN_B_LT ? a < b : ops[k] == LN_B_LE ? a <= b
                                   : ops[k] == LN_B_GT ? a > b : a >= b;
                    if (ln_u8(m)[i] != want) bad = i;
                }
                ck_assert_msg(bad < 0, "%s op %d n %ld at %ld", u8 ? "uint8" : "int32",
                              (int)ops[k], (long)n, (long)bad);
                ln_tensor_release(m);
            }
            ln_tensor_release(x);
            ln_tensor_release(y);
        }
}
END_TEST

/* The whole-tensor extreme without its position (one pass where it can)
** is, bit for bit, the element the position path finds and a scalar scan's
** (the first NaN, with its payload; the first zero of +0 and -0), on
** lengths around the vectors and the 4096 blocks, for 1 and 2 threads. */
static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

START_TEST(extreme_value_alone) {
    static const int64_t lens[] = {1, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 10000, 140001};
    for (int threads = 1; threads <= 2; threads++) {
        ln_set_num_threads(threads);
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (int pattern = 0; pattern < 5; pattern++) {
                const int64_t n = lens[li];
                ln_tensor *x = new_t(LN_FLOAT32, 1, &n);
                float *p = ln_f32(x);
                for (int64_t i = 0; i < n; i++)
                    p[i] = pattern >= 3 ? 0.0f : (float)((i * 7919) % 1009) - 504.0f;
                if (pattern == 1) p[n - 1] = 600.0f, p[0] = -600.0f; /* at the ends */
                if (pattern == 2) { /* two NaNs of other payloads; the first wins */
                    uint32_t a = 0x7fc00001u, b = 0x7fc00002u;
                    memcpy(&p[n * 2 / 3], &a, sizeof a);
                    memcpy(&p[n - 1], &b, sizeof b);
                }
                if (pattern == 3) p[n / 2] = -0.0f; /* +0 first */
                if (pattern == 4) /* -0 first */
                    for (int64_t i = 0; i < n / 2 + 1; i++) p[i] = -0.0f;
                for (int want_max = 0; want_max <= 1; want_max++) {
                    float ref = p[0];
                    for (int64_t i = 1; i < n; i++) {
                        const float v = p[i];
                        if (ref == ref && (v != v || (want_max ? v > ref : v < ref))) ref = v;
                    }
                    double alone, with;
                    int64_t pos;
                    ln_minmax_all(x, want_max, &alone, NULL);
                    ln_minmax_all(x, want_max, &with, &pos);
                    ck_assert_msg(fbits((float)alone) == fbits(ref) &&
                                      fbits((float)with) == fbits(ref) &&
                                      fbits(p[pos]) == fbits(ref),
                                  "n %lld pattern %d max %d threads %d: %a / %a, want %a",
                                  (long long)n, pattern, want_max, threads, alone, with,
                                  (double)ref);
                }
                ln_tensor_release(x);
            }
    }
    ln_set_num_threads(1);
}
END_TEST

START_TEST(threads_identical) {
    ln_tensor *a[NOUT], *b[NOUT];
    double na[4], nb[4];
    run_all(1, a, na);
    run_all(2, b, nb);
    for (int i = 0; i < NOUT; i++) {
        if (!a[i]) continue;
        ck_assert_msg(same_bytes(a[i], b[i]), "output %d differs between 1 and 2 threads", i);
        ln_tensor_release(a[i]);
        ln_tensor_release(b[i]);
    }
    ck_assert_int_eq(memcmp(na, nb, sizeof na), 0);
}
END_TEST

int main(void) {
    ln_ctx_clear(&ctx);
    Suite *s = suite_create("tensor_ops");
    TCase *tc = tcase_create("tensor_ops");
    tcase_add_test(tc, permute_and_narrow);
    tcase_add_test(tc, cat_dims);
    tcase_add_test(tc, index_ops);
    tcase_add_test(tc, masks);
    tcase_add_test(tc, int_arith);
    tcase_add_test(tc, reductions_and_regions);
    tcase_add_test(tc, equal_allclose_arange_onehot);
    tcase_add_test(tc, vector_compares_and_casts);
    tcase_add_test(tc, tensor_pairs_compare_and_extremes);
    tcase_add_test(tc, tensor_pairs_compare_integers);
    tcase_add_test(tc, extreme_value_alone);
    tcase_add_test(tc, threads_identical);
    suite_add_tcase(s, tc);
    /* No fork: OpenMP thread pools and fork() do not mix reliably (a child
    ** forked after the parent ran a parallel region once hung here). */
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
