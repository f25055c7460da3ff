/* Tensors: lifecycle, views sharing storage, resize, casts, no leaks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"

#include "testutil.h"

static ln_ctx ctx;

START_TEST(lifecycle_and_views) {
    int64_t live_t = ln_tensor_live_count(), live_s = ln_storage_live_count();
    int64_t shape[3] = {4, 2, 3};
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, 3, shape);
    ck_assert_int_eq(t->numel, 24);
    for (int i = 0; i < 24; i++) ln_f32(t)[i] = (float)i;
    ln_tensor *n = ln_tensor_narrow(&ctx, t, 1, 2); /* rows 2..3 */
    ck_assert_int_eq(n->shape[0], 2);
    ck_assert_float_eq(ln_f32(n)[0], 6.0f);
    ck_assert_ptr_eq(ln_data(n), (char *)ln_data(t) + 6 * sizeof(float));
    int64_t rs[2] = {-1, 3};
    ln_tensor *r = ln_tensor_reshape(&ctx, n, 2, rs);
    ck_assert_int_eq(r->shape[0], 4);
    ln_f32(r)[0] = -1; /* writes through to t */
    ck_assert_float_eq(ln_f32(t)[6], -1.0f);
    ln_tensor_release(t); /* the views keep the storage alive */
    ck_assert_float_eq(ln_f32(n)[1], 7.0f);
    ln_tensor_release(n);
    ln_tensor_release(r);
    ck_assert_int_eq(ln_tensor_live_count(), live_t);
    ck_assert_int_eq(ln_storage_live_count(), live_s);
}
END_TEST

START_TEST(bad_views_refused) {
    int64_t shape[2] = {3, 4};
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, 2, shape);
    ck_assert_ptr_null(ln_tensor_narrow(&ctx, t, 2, 2));
    ck_assert_msg(strstr(ctx.msg, "out of range") && strstr(ctx.msg, "(3, 4)"), "%s", ctx.msg);
    int64_t rs[2] = {5, -1};
    ck_assert_ptr_null(ln_tensor_reshape(&ctx, t, 2, rs));
    ck_assert_msg(strstr(ctx.msg, "cannot view shape (3, 4)"), "%s", ctx.msg);
    int64_t huge[3] = {1 << 30, 1 << 30, 1 << 30};
    ck_assert_ptr_null(ln_tensor_new(&ctx, LN_FLOAT32, 3, huge));
    ck_assert_int_eq(ctx.status, LN_E_NOMEM);
    int64_t neg[1] = {-3};
    ck_assert_ptr_null(ln_tensor_new(&ctx, LN_FLOAT32, 1, neg));
    ln_tensor_release(t);
}
END_TEST

START_TEST(resize_reuses_storage) {
    int64_t big[2] = {32, 300}, small[2] = {24, 300};
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, 2, big);
    void *data = ln_data(t);
    ck_assert_int_eq(ln_tensor_resize(&ctx, t, 2, small), LN_OK);
    ck_assert_ptr_eq(ln_data(t), data);
    ck_assert_int_eq(t->numel, 24 * 300);
    ck_assert_int_eq(ln_tensor_resize(&ctx, t, 2, big), LN_OK);
    ck_assert_ptr_eq(ln_data(t), data);
    /* a shared storage is never resized under its other users */
    ln_tensor *v = ln_tensor_narrow(&ctx, t, 0, 1);
    ck_assert_int_eq(ln_tensor_resize(&ctx, t, 2, small), LN_OK);
    ck_assert_ptr_ne(ln_data(t), ln_data(v));
    ln_tensor_release(v);
    ln_tensor_release(t);
}
END_TEST

/* A buffer shows another's elements (ln_tensor_alias) and gets its own
** storage back (ln_tensor_unalias, or a resize), allocating nothing; the
** one it showed is then its storage's only user again. */
START_TEST(alias_and_back) {
    int64_t rows[2] = {6, 10}, flat[1] = {60}, part[2] = {2, 10}, zero[1] = {0};
    ln_tensor *a = ln_tensor_new(&ctx, LN_FLOAT32, 2, rows);
    for (int i = 0; i < 60; i++) ln_f32(a)[i] = (float)i;
    ln_tensor *b = ln_tensor_new(&ctx, LN_FLOAT32, 1, zero);
    void *own = ln_data(b);
    const int64_t storages = ln_storage_live_count();
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, a, 0, 1, flat), LN_OK);
    ck_assert_ptr_eq(ln_data(b), ln_data(a));
    ck_assert_int_eq(b->ndim, 1);
    ck_assert_int_eq(b->numel, 60);
    ck_assert(ln_tensor_shares_storage(a, b) && !ln_tensor_sole_owner(a));
    /* again, at rows 3-4: the first alias is let go */
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, a, 30, 2, part), LN_OK);
    ck_assert_float_eq(ln_f32(b)[0], 30.0f);
    ck_assert_float_eq(ln_f32(b)[19], 49.0f);
    ck_assert_int_eq(ln_storage_live_count(), storages);
    ln_tensor_unalias(b);
    ck_assert_ptr_eq(ln_data(b), own);
    ck_assert_int_eq(b->numel, 0);
    ck_assert(ln_tensor_sole_owner(a) && !ln_tensor_shares_storage(a, b));
    ln_tensor_unalias(b); /* not an alias: nothing */
    ck_assert_ptr_eq(ln_data(b), own);
    /* a resize of the alias gives it its own storage too */
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, a, 0, 2, rows), LN_OK);
    ck_assert_int_eq(ln_tensor_resize(&ctx, b, 2, part), LN_OK);
    ck_assert(!ln_tensor_shares_storage(a, b) && ln_tensor_sole_owner(a));
    void *mine = ln_data(a);
    ck_assert_int_eq(ln_tensor_resize(&ctx, a, 2, part), LN_OK);
    ck_assert_ptr_eq(ln_data(a), mine);
    /* refused: beyond src, another dtype, itself */
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, a, 1, 2, part), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "(2, 10) from element 1 as float32 (2, 10)"), "%s", ctx.msg);
    ln_tensor *u = ln_tensor_new(&ctx, LN_UINT8, 2, part);
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, u, 0, 2, part), LN_E_ARG);
    ck_assert_int_eq(ln_tensor_alias(&ctx, a, a, 0, 2, part), LN_E_ARG);
    /* released while an alias: both storages go */
    ck_assert_int_eq(ln_tensor_alias(&ctx, b, a, 0, 1, (int64_t[]){20}), LN_OK);
    ln_tensor_release(a);
    ck_assert_float_eq(ln_f32(b)[19], 19.0f); /* the alias keeps a's elements */
    ln_tensor_release(b);
    ln_tensor_release(u);
    ck_assert_int_eq(ln_storage_live_count(), storages - 2);
}
END_TEST

START_TEST(casts_and_copies) {
    int64_t shape[1] = {5};
    ln_tensor *u = ln_tensor_new(&ctx, LN_UINT8, 1, shape);
    for (int i = 0; i < 5; i++) ln_u8(u)[i] = (uint8_t)(250 + i);
    ln_tensor *f = ln_tensor_cast(&ctx, u, LN_FLOAT32);
    ck_assert_float_eq(ln_f32(f)[4], 254.0f);
    ln_tensor *i32 = ln_tensor_cast(&ctx, f, LN_INT32);
    ck_assert_int_eq(ln_i32(i32)[0], 250);
    ln_tensor *c = ln_tensor_clone(&ctx, f);
    ck_assert_ptr_ne(ln_data(c), ln_data(f));
    ck_assert_int_eq(ln_tensor_copy(&ctx, c, u), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "uint8"), "%s", ctx.msg);
    ck_assert_int_eq(ln_label_at(u, 3), 253);
    char buf[64];
    ck_assert_str_eq(ln_shape_str(u, buf, sizeof buf), "(5,)");
    ln_tensor_release(u);
    ln_tensor_release(f);
    ln_tensor_release(i32);
    ln_tensor_release(c);
}
END_TEST

START_TEST(args_record_config) {
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "#1", 300);
    ln_args_set_string(a, "kernel_initializer", "he_normal");
    ln_args_set_string(a, "typo", "x");
    ck_assert_int_eq(ln_args_positional(&ctx, a, 1, "units"), LN_OK);
    int64_t units;
    ck_assert_int_eq(ln_args_int(&ctx, a, "units", 0, &units), LN_OK);
    ck_assert_int_eq(units, 300);
    int use_bias;
    ck_assert_int_eq(ln_args_bool(&ctx, a, "use_bias", 1, &use_bias), LN_OK);
    ck_assert_int_eq(use_bias, 1);
    const char *name;
    ln_args *sub;
    ck_assert_int_eq(ln_args_unit(&ctx, a, "kernel_initializer", "glorot_uniform",
                                  &name, &sub), LN_OK);
    ck_assert_str_eq(name, "he_normal");
    ck_assert_int_eq(ln_args_unit(&ctx, a, "bias_initializer", "zeros", &name, &sub), LN_OK);
    ck_assert_str_eq(name, "zeros");
    double x;
    ck_assert_int_eq(ln_args_number(&ctx, a, "kernel_initializer", 0, &x), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "'kernel_initializer' must be a number"), "%s", ctx.msg);
    char unused[128];
    ck_assert_int_eq(ln_args_unused(a, unused, sizeof unused), 1);
    ck_assert_str_eq(unused, "'typo'");
    /* defaults are recorded: the config lists use_bias */
    int found = 0;
    for (int i = 0; i < ln_args_count(a); i++)
        if (!strcmp(ln_args_at(a, i).key, "use_bias")) found = ln_args_at(a, i).used;
    ck_assert_int_eq(found, 1);
    ln_args_free(a);
}
END_TEST

#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
/* The kernel's transparent huge page mode: 1 when a region that asks gets
** 2 MiB pages ("always" or "madvise"), 0 when none do ("never"). */
static int thp_offered(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
    }
    return strstr(line, "[always]") || strstr(line, "[madvise]");
}

/* A counter of /proc/vmstat (0 when absent). */
static long vmstat(const char *name) {
    FILE *f = fopen("/proc/vmstat", "r");
    char key[128];
    long v, found = 0;
    while (f && fscanf(f, "%127s %ld", key, &v) == 2)
        if (!strcmp(key, name)) found = v;
    if (f) fclose(f);
    return found;
}

/* AnonHugePages (KiB) of the mapping holding p, from /proc/self/smaps. */
static long huge_kib_at(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0;
    long kib = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && !strncmp(line, "AnonHugePages:", 14))
            kib = strtol(line + 14, NULL, 10);
    }
    if (f) fclose(f);
    return kib;
}
#endif

START_TEST(large_blocks_in_huge_pages) {
    /* 8 MiB of float32: zeroed by ln_tensor_new, and on Linux a mapping of
    ** its own, aligned to 2 MiB and asked for 2 MiB pages */
    int64_t shape[1] = {2 << 20};
    ln_memory_stats before;
    ln_memory_get_stats(&before);
    ln_memory_set_cache_limit(0); /* every block fresh from the system */
    long fallback0 = 0;
#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
    fallback0 = vmstat("thp_fault_fallback");
#endif
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, 1, shape);
    ck_assert_ptr_nonnull(t);
    float *x = ln_f32(t);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < t->numel; i++) nonzero += x[i] != 0.0f;
    ck_assert_int_eq(nonzero, 0);
    for (int64_t i = 0; i < t->numel; i++) x[i] = (float)i;
#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
    ck_assert_int_eq((uintptr_t)x % (2u << 20), 0);
    if (thp_offered()) {
        /* written through, the block is in 2 MiB pages unless the kernel
        ** had none to give (which it counts as a fallback) */
        long kib = huge_kib_at(x), fallback = vmstat("thp_fault_fallback") - fallback0;
        ck_assert_msg(kib >= 2048 || fallback > 0,
                      "8 MiB block: %ld KiB in huge pages, %ld fallbacks", kib, fallback);
    } else {
        fprintf(stderr, "large_blocks_in_huge_pages: the kernel offers no "
                "transparent huge pages; the page check was not made\n");
    }
#endif
    ck_assert(x[12345] == 12345.0f);
    ln_tensor_release(t); /* back to the system (cache off) */
    ln_tensor *u = ln_tensor_new(&ctx, LN_FLOAT32, 1, shape);
    ck_assert_ptr_nonnull(u);
    nonzero = 0;
    for (int64_t i = 0; i < u->numel; i++) nonzero += ln_f32(u)[i] != 0.0f;
    ck_assert_int_eq(nonzero, 0);
    ln_tensor_release(u);
    ln_memory_set_cache_limit(before.cache_limit);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("tensor");
    tcase_add_test(tc, lifecycle_and_views);
    tcase_add_test(tc, bad_views_refused);
    tcase_add_test(tc, resize_reuses_storage);
    tcase_add_test(tc, alias_and_back);
    tcase_add_test(tc, casts_and_copies);
    tcase_add_test(tc, args_record_config);
    tcase_add_test(tc, large_blocks_in_huge_pages);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
