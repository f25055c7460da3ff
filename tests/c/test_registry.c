/* The plugin registry: loading good plugins and refusing bad ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ln_ctx ctx;

static ln_status load(const char *file) {
    ln_ctx_clear(&ctx);
    return ln_registry_load(&ctx, lt_test_plugin(file));
}

START_TEST(loads_good_plugin) {
    ck_assert_int_eq(load("good.so"), LN_OK);
    const char *file = NULL;
    const ln_unit *u = ln_registry_find(LN_KIND_ACTIVATION, "tp_double", &file);
    ck_assert_ptr_nonnull(u);
    ck_assert_ptr_nonnull(strstr(file, "good.so"));
    u = ln_registry_find(LN_KIND_LAYER, "tp_identity", NULL);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->version, 3);
    ck_assert_str_eq(u->class_name, "TpIdentity");
    /* the same kind/name pair is not found under another kind */
    ck_assert_ptr_null(ln_registry_find(LN_KIND_LOSS, "tp_double", NULL));
    /* loading the same file twice is a no-op, not a duplicate */
    ck_assert_int_eq(load("good.so"), LN_OK);
}
END_TEST

START_TEST(refuses_text_file) {
    ck_assert_int_eq(load("not_a_plugin.so"), LN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "not_a_plugin.so"));
    ck_assert_ptr_nonnull(strstr(ctx.msg, "not a loadable shared object"));
}
END_TEST

START_TEST(refuses_missing_file) {
    ck_assert_int_eq(load("does_not_exist.so"), LN_E_IO);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "does_not_exist.so"));
}
END_TEST

START_TEST(refuses_missing_entry) {
    ck_assert_int_eq(load("no_entry.so"), LN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "no lunet entry point"));
}
END_TEST

START_TEST(refuses_abi_major) {
    ck_assert_int_eq(load("bad_abi.so"), LN_E_ABI);
    char want[64];
    snprintf(want, sizeof want, "ABI %d.0, this lunet has %d.%d",
             LN_ABI_MAJOR + 98, LN_ABI_MAJOR, LN_ABI_MINOR);
    ck_assert_msg(strstr(ctx.msg, want), "message: %s", ctx.msg);
}
END_TEST

START_TEST(refuses_newer_minor) {
    ck_assert_int_eq(load("newer_minor.so"), LN_E_ABI);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "newer_minor.so"));
}
END_TEST

START_TEST(refuses_failing_entry) {
    ck_assert_int_ne(load("failing.so"), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "cannot start today"), "message: %s", ctx.msg);
}
END_TEST

START_TEST(refuses_duplicate_atomically) {
    ck_assert_int_eq(load("good.so"), LN_OK);
    int before = ln_registry_count();
    ck_assert_int_eq(load("dup.so"), LN_E_DUPLICATE);
    ck_assert_msg(strstr(ctx.msg, "good.so") && strstr(ctx.msg, "dup.so"),
                  "both files named: %s", ctx.msg);
    /* nothing of the refused plugin was registered */
    ck_assert_int_eq(ln_registry_count(), before);
    ck_assert_ptr_null(ln_registry_find(LN_KIND_ACTIVATION, "tp_fresh", NULL));
}
END_TEST

START_TEST(unknown_unit_message) {
    ln_ctx_clear(&ctx);
    ck_assert_ptr_null(ln_registry_require(&ctx, LN_KIND_ACTIVATION, "relux"));
    ck_assert_str_eq(ctx.msg, "unknown activation 'relux'");
}
END_TEST

START_TEST(layer_through_registry) {
    ck_assert_int_eq(load("good.so"), LN_OK);
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "bogus", 1);
    ck_assert_ptr_null(ln_layer_new(&ctx, "tp_identity", a));
    ck_assert_msg(strstr(ctx.msg, "unknown keyword argument 'bogus'"), "%s", ctx.msg);
    ln_layer *l = ln_layer_new(&ctx, "tp_identity", NULL);
    ck_assert_ptr_nonnull(l);
    int64_t shape[2] = {4, 3};
    ln_tensor *x = lt_uniform(2, shape, -1, 1, 7);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
    ck_assert_int_eq(ln_layer_forward(&ctx, l, x, y, 0), LN_OK);
    ck_assert(ln_shape_equal(x, y));
    ck_assert_double_eq(lt_max_abs_diff(ln_f32(x), ln_f32(y), 12), 0);
    int64_t bad[2] = {4, 5};
    ln_tensor *xb = lt_uniform(2, bad, -1, 1, 7);
    ck_assert_int_eq(ln_layer_forward(&ctx, l, xb, y, 0), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "TpIdentity") && strstr(ctx.msg, "(None, 3)") &&
                  strstr(ctx.msg, "(4, 5)"), "%s", ctx.msg);
    ln_tensor_release(x);
    ln_tensor_release(xb);
    ln_tensor_release(y);
    ln_layer_free(l);
}
END_TEST

int main(void) {
    /* Keep the default plugin folders out: only explicit loads here. */
    setenv("LUNET_PLUGIN_PATH", "/nonexistent", 1);
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, loads_good_plugin);
    tcase_add_test(tc, refuses_text_file);
    tcase_add_test(tc, refuses_missing_file);
    tcase_add_test(tc, refuses_missing_entry);
    tcase_add_test(tc, refuses_abi_major);
    tcase_add_test(tc, refuses_newer_minor);
    tcase_add_test(tc, refuses_failing_entry);
    tcase_add_test(tc, refuses_duplicate_atomically);
    tcase_add_test(tc, unknown_unit_message);
    tcase_add_test(tc, layer_through_registry);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
