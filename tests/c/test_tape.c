/* The gradient tape from C (tape.h): recording an operation computed by the
** caller, output gradients, a C layer through ln_tape_layer_forward against
** its own backward, the block cache's reuse (memory.h), and the refusals. */
#include <math.h>
#include <string.h>

#include "lunet/memory.h"
#include "lunet/tape.h"
#include "testutil.h"

static ln_ctx ctx;

/* y = a * b (same shapes), computed here and recorded. */
static ln_tensor *mul(ln_tensor *a, ln_tensor *b) {
    ln_tensor *y = ln_tensor_empty(&ctx, LN_FLOAT32, a->ndim, a->shape);
    ln_binary(LN_B_MUL, ln_f32(y), y->ndim, y->shape, ln_f32(a), a->ndim, a->shape,
              ln_f32(b), b->ndim, b->shape);
    ck_assert_int_eq(ln_tape_record(&ctx, LN_OP_MUL, 2, (ln_tensor *[]){a, b}, 1, &y, NULL),
                     LN_OK);
    return y;
}

START_TEST(records_what_the_caller_computes) {
    int64_t live = ln_tensor_live_count(), n = 3;
    ln_tensor *a = lt_uniform(1, &n, -1, 1, 1), *b = lt_uniform(1, &n, -1, 1, 2);
    ln_tape *t = ln_tape_new(&ctx, 1, 1);
    ck_assert_int_eq(ln_tape_active(), 0);
    ck_assert_int_eq(ln_tape_begin(&ctx, t), LN_OK);
    ck_assert_int_eq(ln_tape_watch(&ctx, t, a), LN_OK);
    ln_tensor *y = mul(a, a), *z = mul(y, b); /* z = a^2 b */
    ln_tape_end(t);
    ck_assert_int_eq(ln_tape_node_count(t), 2);
    ln_tensor *seed = lt_uniform(1, &n, -1, 1, 3), *g[2];
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &z, &seed, 2, (ln_tensor *[]){a, b}, g),
                     LN_OK);
    ck_assert_ptr_null(g[1]); /* b was not watched */
    for (int i = 0; i < 3; i++) {
        float av = ln_f32(a)[i], want = 2 * av * ln_f32(b)[i] * ln_f32(seed)[i];
        ck_assert_float_eq_tol(ln_f32(g[0])[i], want, 1e-6);
    }
    ln_tensor_release(g[0]);
    /* persistent: again, with ones as the seed */
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &z, NULL, 1, &a, g), LN_OK);
    ck_assert_float_eq_tol(ln_f32(g[0])[1], 2 * ln_f32(a)[1] * ln_f32(b)[1], 1e-6);
    ln_tensor_release(g[0]);
    ln_tape_free(t);
    ln_tensor_release(y);
    ln_tensor_release(z);
    ln_tensor_release(seed);
    ln_tensor_release(a);
    ln_tensor_release(b);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

START_TEST(variables_and_refusals) {
    int64_t n = 2;
    ln_tensor *v = lt_uniform(1, &n, -1, 1, 4), *i = ln_tensor_new(&ctx, LN_INT32, 1, &n);
    ck_assert_int_eq(ln_tape_mark_variable(&ctx, v, 1), LN_OK);
    ck_assert(ln_tape_is_variable(v));
    ck_assert_int_eq(ln_tape_mark_variable(&ctx, i, 1), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "int32"), "%s", ctx.msg);
    ln_tape *t = ln_tape_new(&ctx, 0, 1);
    ck_assert_int_eq(ln_tape_watch(&ctx, t, i), LN_E_ARG);
    ln_tape_begin(&ctx, t);
    ck_assert(ln_tape_any_tracks(v)); /* a variable, watched on use */
    ln_tensor *y = mul(v, v);
    ln_tape_end(t);
    ln_tensor *g;
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &y, NULL, 1, &i, &g), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "source 1") && strstr(ctx.msg, "int32"), "%s", ctx.msg);
    ln_tape_free(t);
    t = ln_tape_new(&ctx, 0, 1);
    ln_tape_begin(&ctx, t);
    ln_tensor *y2 = mul(v, v);
    ln_tape_end(t);
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &y2, NULL, 1, &v, &g), LN_OK);
    ln_tensor_release(g);
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &y2, NULL, 1, &v, &g), LN_E_STATE);
    ck_assert_msg(strstr(ctx.msg, "non-persistent"), "%s", ctx.msg);
    ln_tape_free(t);
    ln_tensor_release(y);
    ln_tensor_release(y2);
    ln_tensor_release(v);
    ln_tensor_release(i);
}
END_TEST

START_TEST(a_layer_node_is_its_backward) {
    ln_layer *l = lt_layer("dense", "#1=4 activation=tanh");
    int64_t xs[2] = {5, 3}, in = 3;
    ln_shape shape = {1, {3}};
    ck_assert_int_eq(ln_layer_build(&ctx, l, 1, &shape), LN_OK);
    ln_tensor *x = lt_uniform(2, xs, -1, 1, 5);
    ln_tape *t = ln_tape_new(&ctx, 0, 1);
    ln_tape_begin(&ctx, t);
    ln_tape_watch(&ctx, t, x);
    ln_tensor *y;
    ck_assert_int_eq(ln_tape_layer_forward(&ctx, l, x, LN_TRAINING, &y), LN_OK);
    ln_tape_end(t);
    ln_tensor *dy = lt_uniform(2, y->shape, -1, 1, 6), *g[3];
    ln_tensor *src[3] = {x, ln_layer_weight(l, 0), ln_layer_weight(l, 1)};
    ck_assert_int_eq(ln_tape_gradient(&ctx, t, 1, &y, &dy, 3, src, g), LN_OK);
    /* the same through the layer's own forward/backward */
    ln_tensor *y2 = ln_tensor_new(&ctx, LN_FLOAT32, 1, &in), *dx = ln_tensor_new_like(&ctx, x);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y2, LN_TRAINING), LN_OK);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y2, dy, dx, LN_TRAINING | LN_NEED_DW),
                     LN_OK);
    ck_assert(ln_equal(g[0], dx));
    ck_assert(ln_equal(g[1], ln_layer_grad(l, 0)));
    ck_assert(ln_equal(g[2], ln_layer_grad(l, 1)));
    for (int k = 0; k < 3; k++) ln_tensor_release(g[k]);
    ln_tape_free(t);
    ln_tensor_release(y);
    ln_tensor_release(y2);
    ln_tensor_release(dx);
    ln_tensor_release(dy);
    ln_tensor_release(x);
    ln_layer_free(l);
}
END_TEST

START_TEST(the_block_cache_reuses_and_is_bounded) {
    ln_memory_set_cache_limit((int64_t)64 << 20);
    int64_t n = 100000;
    ln_memory_stats s0, s1;
    ln_memory_get_stats(&s0);
    for (int k = 0; k < 10; k++) {
        ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, 1, &n);
        for (int64_t j = 0; j < n; j++) ck_assert(ln_f32(t)[j] == 0.0f); /* zeroed */
        ln_fill(ln_f32(t), n, 7.0f);
        ln_tensor_release(t);
    }
    ln_memory_get_stats(&s1);
    ck_assert_int_ge(s1.cache_hits - s0.cache_hits, 9);
    ck_assert_int_le(s1.cached_bytes, s1.cache_limit);
    ln_memory_set_cache_limit(0);
    ln_memory_get_stats(&s1);
    ck_assert_int_eq(s1.cached_bytes, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tape");
    TCase *tc = tcase_create("tape");
    tcase_add_test(tc, records_what_the_caller_computes);
    tcase_add_test(tc, variables_and_refusals);
    tcase_add_test(tc, a_layer_node_is_its_backward);
    tcase_add_test(tc, the_block_cache_reuses_and_is_bounded);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
