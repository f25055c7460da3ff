/* The plugin registry: loading good plugins and refusing bad ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ln_ctx ctx;

static ln_status load(const char *file) {
    ln_ctx_clear(&ctx);
    return ln_registry_load(&ctx, lt_test_plugin(file), 0);
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
    snprintf(want, sizeof want, "ABI 99.0, this lunet has %d.%d",
             LN_ABI_MAJOR, LN_ABI_MINOR);
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

/* ABI 1 plugins (ops tables without sizes, public layer layouts) are
** refused with both versions named. */
START_TEST(refuses_abi1) {
    ck_assert_int_eq(load("abi1.so"), LN_E_ABI);
    ck_assert_msg(strstr(ctx.msg, "abi1.so") && strstr(ctx.msg, "ABI 1.0") &&
                  strstr(ctx.msg, "this lunet has 2.0"), "%s", ctx.msg);
}
END_TEST

/* Required ops and the size of the ops table are checked at registration,
** naming the unit and the op. */
START_TEST(refuses_malformed_ops) {
    ck_assert_int_eq(load("null_op.so"), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "optimizer 'tp_nothing'") &&
                  strstr(ctx.msg, "required op 'update' is NULL"), "%s", ctx.msg);
    ck_assert_int_eq(load("no_size.so"), LN_E_ABI);
    ck_assert_msg(strstr(ctx.msg, "activation 'tp_unsized'") &&
                  strstr(ctx.msg, "size 0") &&
                  strstr(ctx.msg, "sizeof(ln_activation_ops)"), "%s", ctx.msg);
    ck_assert_ptr_null(ln_registry_find(LN_KIND_ACTIVATION, "tp_unsized", NULL));
}
END_TEST

/* The built-in plugin folder, as lunet finds it, before or after `dir`. */
static void use_builtins(const char *dir, int dir_first) {
    char path[4096];
    snprintf(path, sizeof path, dir_first ? "%s:" : ":%s", dir);
    setenv("LUNET_PLUGIN_PATH", path, 1);
}

/* A new folder holding a copy of test plugin `file` (a user's folder). */
static const char *user_folder(const char *file) {
    static char dir[] = "/tmp/lunet-user-XXXXXX";
    char to[4096];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(to, sizeof to, "%s/%s", dir, file);
    FILE *in = fopen(lt_test_plugin(file), "rb"), *out = fopen(to, "wb");
    ck_assert(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    return dir;
}

/* A user plugin cannot replace a built-in, whatever the order: on
** LUNET_PLUGIN_PATH before the defaults it is refused (both files named in
** the warnings), loaded explicitly too; the unknown-unit error of its other
** unit says why. Only {override = true} replaces on purpose. */
START_TEST(builtin_not_shadowed) {
    const char *dir = user_folder("shadow.so");
    use_builtins(dir, 1);
    const char *file = NULL;
    const ln_unit *adam = ln_registry_find(LN_KIND_OPTIMIZER, "adam", &file);
    ck_assert_ptr_nonnull(adam);
    ck_assert_int_eq(adam->version, 1);
    ck_assert_msg(strstr(file, "ln_optimizers_adam.so"), "%s", file);
    int warned = 0;
    for (int i = 0; i < ln_registry_warning_count(); i++) {
        const char *w = ln_registry_warning(i);
        if (strstr(w, "shadow.so") && strstr(w, "ln_optimizers_adam.so") &&
            strstr(w, "override = true"))
            warned = 1;
    }
    ck_assert_msg(warned, "no warning names both files");
    ln_ctx_clear(&ctx);
    ck_assert_ptr_null(ln_registry_require(&ctx, LN_KIND_OPTIMIZER, "tp_radam"));
    ck_assert_msg(strstr(ctx.msg, "unknown optimizer 'tp_radam'") &&
                  strstr(ctx.msg, "shadow.so was refused") &&
                  strstr(ctx.msg, "duplicate optimizer 'adam'"), "%s", ctx.msg);
    /* an unknown unit no refused file offered lists the failed files */
    ln_ctx_clear(&ctx);
    ck_assert_ptr_null(ln_registry_require(&ctx, LN_KIND_LAYER, "tp_none"));
    ck_assert_msg(strstr(ctx.msg, "plugins that failed to load") &&
                  strstr(ctx.msg, "shadow.so"), "%s", ctx.msg);
    char to[4096];
    snprintf(to, sizeof to, "%s/shadow.so", dir);
    unlink(to);
    rmdir(dir);
}
END_TEST

START_TEST(override_is_explicit) {
    use_builtins("/nonexistent", 0);
    ck_assert_int_eq(load("shadow.so"), LN_E_DUPLICATE);
    ck_assert_msg(strstr(ctx.msg, "duplicate optimizer 'adam'") &&
                  strstr(ctx.msg, "ln_optimizers_adam.so") &&
                  strstr(ctx.msg, "shadow.so"), "%s", ctx.msg);
    ck_assert_int_eq(ln_registry_find(LN_KIND_OPTIMIZER, "adam", NULL)->version, 1);
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_registry_load(&ctx, lt_test_plugin("shadow.so"),
                                      LN_LOAD_OVERRIDE), LN_OK);
    const char *file = NULL;
    ck_assert_int_eq(ln_registry_find(LN_KIND_OPTIMIZER, "adam", &file)->version, 9);
    ck_assert_msg(strstr(file, "shadow.so"), "%s", file);
    ck_assert_ptr_nonnull(ln_registry_find(LN_KIND_OPTIMIZER, "tp_radam", NULL));
}
END_TEST

/* Class names are unique per kind (case-insensitively, as Lua resolves
** them): unit radam2 with class Adam is refused. */
START_TEST(refuses_class_clash) {
    use_builtins("/nonexistent", 0);
    ck_assert_int_eq(load("clash.so"), LN_E_DUPLICATE);
    ck_assert_msg(strstr(ctx.msg, "optimizer 'radam2'") &&
                  strstr(ctx.msg, "'Adam' is taken by optimizer 'adam'"), "%s",
                  ctx.msg);
    ck_assert_ptr_null(ln_registry_find(LN_KIND_OPTIMIZER, "radam2", NULL));
    /* not even on purpose: override replaces same-named units only */
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_registry_load(&ctx, lt_test_plugin("clash.so"),
                                      LN_LOAD_OVERRIDE), LN_E_DUPLICATE);
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
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert(ln_shape_equal(x, y));
    ck_assert_double_eq(lt_max_abs_diff(ln_f32(x), ln_f32(y), 12), 0);
    int64_t bad[2] = {4, 5};
    ln_tensor *xb = lt_uniform(2, bad, -1, 1, 7);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, xb, y, 0), LN_E_SHAPE);
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
    tcase_add_test(tc, refuses_abi1);
    tcase_add_test(tc, refuses_malformed_ops);
    tcase_add_test(tc, builtin_not_shadowed);
    tcase_add_test(tc, override_is_explicit);
    tcase_add_test(tc, refuses_class_clash);
    tcase_add_test(tc, unknown_unit_message);
    tcase_add_test(tc, layer_through_registry);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
