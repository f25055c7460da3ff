/*
** test_h5file.c -- the model-file layer over libhdf5 (core/h5/h5file*.c):
** round trips of groups, string attributes (variable- and fixed-length,
** split beyond 64512 bytes as Keras splits them), datasets of every rank;
** a real Keras-written file; refusals of empty, foreign, truncated and
** corrupt files by name; and atomic writing -- a failed or abandoned write
** (missing folder, file-size limit standing in for a full disk) leaves the
** previous file intact and no temporary file behind.
*/
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lunet/h5file.h"
#include "testutil.h"

static char tmpdir[256];
static ln_ctx ctx;

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lunet_test_h5file_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ln_ctx_clear(&ctx);
}

static void teardown(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Number of entries in the test folder (temporary files included). */
static int folder_entries(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static ln_tensor *ramp(int nd, const int64_t *shape, float start) {
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, nd, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < t->numel; i++) ln_f32(t)[i] = start + 0.25f * (float)i;
    return t;
}

/* A small model-like file at path; returns LN_OK from the commit. */
static ln_status write_model_like(const char *path, float start) {
    ln_h5 *f = ln_h5_create(&ctx, path, 0);
    ck_assert_msg(f != NULL, "%s", ctx.msg);
    ck_assert_int_eq(ln_h5_set_string(&ctx, f, "/", "backend", "tensorflow"), LN_OK);
    ck_assert_int_eq(ln_h5_group(&ctx, f, "model_weights/dense"), LN_OK);
    const char *names[] = {"dense/kernel:0", "dense/bias:0"};
    ck_assert_int_eq(ln_h5_set_strings(&ctx, f, "model_weights/dense", "weight_names", 2, names), LN_OK);
    int64_t ks[2] = {3, 4}, bs[1] = {4};
    ln_tensor *k = ramp(2, ks, start), *b = ramp(1, bs, -start);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "model_weights/dense/dense/kernel:0", k), LN_OK);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "model_weights/dense/dense/bias:0", b), LN_OK);
    ln_tensor_release(k);
    ln_tensor_release(b);
    return ln_h5_commit(&ctx, f);
}

/* The first float of the kernel in a file written by write_model_like. */
static float first_kernel_value(const char *path) {
    ln_h5 *f = ln_h5_open(&ctx, path);
    ck_assert_msg(f != NULL, "%s", ctx.msg);
    int64_t ks[2] = {3, 4};
    ln_tensor *t = NULL;
    ck_assert_int_eq(ln_h5_read(&ctx, f, "model_weights/dense/dense/kernel:0", 2, ks, &t), LN_OK);
    float v = ln_f32(t)[0];
    ln_tensor_release(t);
    ln_h5_close(f);
    return v;
}

/* ---- round trips ---------------------------------------------------------------- */

START_TEST(round_trip) {
    const char *path = tpath("m.h5");
    ln_h5 *f = ln_h5_create(&ctx, path, 0);
    ck_assert_msg(f != NULL, "%s", ctx.msg);
    ck_assert(ln_h5_writable(f));
    ck_assert_str_eq(ln_h5_path(f), path);
    /* nothing at the target until the commit */
    ck_assert_int_eq(file_size(path), -1);
    const char *json = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\xc3\xa9q\"}}";
    ck_assert_int_eq(ln_h5_set_string(&ctx, f, "/", "model_config", json), LN_OK);
    ck_assert_int_eq(ln_h5_set_string(&ctx, f, "", "keras_version", "2.4.0"), LN_OK);
    ck_assert_int_eq(ln_h5_group(&ctx, f, "model_weights"), LN_OK);
    ck_assert_int_eq(ln_h5_group(&ctx, f, "model_weights"), LN_OK); /* exists: fine */
    const char *layers[] = {"flatten", "dense", "batch_normalization"};
    ck_assert_int_eq(ln_h5_set_strings(&ctx, f, "model_weights", "layer_names", 3, layers), LN_OK);
    ck_assert_int_eq(ln_h5_group(&ctx, f, "model_weights/flatten"), LN_OK);
    ck_assert_int_eq(ln_h5_set_strings(&ctx, f, "model_weights/flatten", "weight_names", 0, NULL), LN_OK);
    /* datasets of rank 0 to 3, parents created on the way */
    int64_t s1[1] = {5}, s2[2] = {3, 2}, s3[3] = {2, 3, 4};
    ln_tensor *t0 = ramp(0, NULL, 7.5f), *t1 = ramp(1, s1, 1), *t2 = ramp(2, s2, -1),
              *t3 = ramp(3, s3, 0);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "model_weights/dense/dense/kernel:0", t2), LN_OK);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "model_weights/dense/dense/bias:0", t1), LN_OK);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "x/scalar", t0), LN_OK);
    ck_assert_int_eq(ln_h5_write(&ctx, f, "x/cube", t3), LN_OK);
    ck_assert_int_eq(ln_h5_write_int64(&ctx, f, "optimizer_weights/Adam/iter:0", 1719), LN_OK);
    /* an existing dataset is not overwritten silently */
    ck_assert_int_ne(ln_h5_write(&ctx, f, "x/cube", t3), LN_OK);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "exists"));
    ck_assert_int_eq(ln_h5_commit(&ctx, f), LN_OK);
    ck_assert_int_gt(file_size(path), 0);
    ck_assert_int_eq(folder_entries(), 1); /* no temporary file left */

    f = ln_h5_open(&ctx, path);
    ck_assert_msg(f != NULL, "%s", ctx.msg);
    ck_assert(!ln_h5_writable(f));
    ck_assert_int_eq(ln_h5_kind_of(f, "/"), LN_H5_GROUP);
    ck_assert_int_eq(ln_h5_kind_of(f, "model_weights/dense/dense"), LN_H5_GROUP);
    ck_assert_int_eq(ln_h5_kind_of(f, "model_weights/dense/dense/kernel:0"), LN_H5_DATASET);
    ck_assert_int_eq(ln_h5_kind_of(f, "model_weights/nope/x"), LN_H5_NONE);
    char *s = NULL;
    ck_assert_int_eq(ln_h5_get_string(&ctx, f, "/", "model_config", &s), LN_OK);
    ck_assert_str_eq(s, json);
    free(s);
    ck_assert_int_eq(ln_h5_get_string(&ctx, f, "/", "training_config", &s), LN_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(ctx.msg, path));
    ck_assert(ln_h5_has_attr(f, "/", "keras_version"));
    ck_assert(!ln_h5_has_attr(f, "/", "training_config"));
    int n = 0;
    char **v = NULL;
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "model_weights", "layer_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++) ck_assert_str_eq(v[i], layers[i]);
    ln_h5_free_strings(n, v);
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "model_weights/flatten", "weight_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, 0);
    ln_h5_free_strings(n, v);
    /* a scalar string read as a list: one entry */
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "/", "keras_version", &n, &v), LN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(v[0], "2.4.0");
    ln_h5_free_strings(n, v);
    /* a list of three is not one string */
    ck_assert_int_eq(ln_h5_get_string(&ctx, f, "model_weights", "layer_names", &s), LN_E_FORMAT);
    ln_h5_free_strings(0, NULL);
    /* listings, in name order */
    ck_assert_int_eq(ln_h5_list(&ctx, f, "/", 0, &n, &v), LN_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(v[0], "model_weights");
    ck_assert_str_eq(v[1], "optimizer_weights");
    ck_assert_str_eq(v[2], "x");
    ln_h5_free_strings(n, v);
    ck_assert_int_eq(ln_h5_list(&ctx, f, "/", 1, &n, &v), LN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(v[0], "keras_version");
    ck_assert_str_eq(v[1], "model_config");
    ln_h5_free_strings(n, v);
    /* datasets back, bit for bit, with shape checks */
    ln_tensor *r = NULL;
    ck_assert_int_eq(ln_h5_read(&ctx, f, "x/cube", 3, s3, &r), LN_OK);
    ck_assert(ln_shape_equal(r, t3));
    ck_assert_int_eq(memcmp(ln_f32(r), ln_f32(t3), sizeof(float) * 24), 0);
    ln_tensor_release(r);
    ck_assert_int_eq(ln_h5_read(&ctx, f, "x/scalar", -1, NULL, &r), LN_OK);
    ck_assert_int_eq(r->ndim, 0);
    ck_assert_float_eq(ln_f32(r)[0], 7.5f);
    ln_tensor_release(r);
    int64_t wrong[2] = {2, 3};
    r = NULL;
    ck_assert_int_eq(ln_h5_read(&ctx, f, "model_weights/dense/dense/kernel:0", 2, wrong, &r), LN_E_SHAPE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(ctx.msg, "(3, 2)") && strstr(ctx.msg, "(2, 3)") && strstr(ctx.msg, path) &&
                      strstr(ctx.msg, "kernel:0"), "%s", ctx.msg);
    int nd;
    int64_t shape[8];
    ck_assert_int_eq(ln_h5_shape(&ctx, f, "x/cube", &nd, shape), LN_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(shape[2], 4);
    int64_t it = 0;
    ck_assert_int_eq(ln_h5_read_int64(&ctx, f, "optimizer_weights/Adam/iter:0", &it), LN_OK);
    ck_assert_int_eq(it, 1719);
    /* the counter also reads as a float32 tensor; a vector is not a counter */
    ck_assert_int_eq(ln_h5_read(&ctx, f, "optimizer_weights/Adam/iter:0", 0, NULL, &r), LN_OK);
    ck_assert_float_eq(ln_f32(r)[0], 1719.0f);
    ln_tensor_release(r);
    ck_assert_int_eq(ln_h5_read_int64(&ctx, f, "x/cube", &it), LN_E_FORMAT);
    /* missing objects and groups read as datasets */
    ck_assert_int_eq(ln_h5_read(&ctx, f, "x/none", -1, NULL, &r), LN_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "x/none"));
    ck_assert_int_eq(ln_h5_read(&ctx, f, "model_weights", -1, NULL, &r), LN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "group"));
    /* a file open for reading cannot be written */
    ck_assert_int_eq(ln_h5_write(&ctx, f, "y", t1), LN_E_STATE);
    ck_assert_int_eq(ln_h5_set_string(&ctx, f, "/", "a", "b"), LN_E_STATE);
    ln_h5_close(f);
    ln_tensor_release(t0);
    ln_tensor_release(t1);
    ln_tensor_release(t2);
    ln_tensor_release(t3);
    ck_assert_int_eq(ln_tensor_live_count(), 0);
}
END_TEST

/* Keras splits attribute arrays beyond 64512 bytes into name0, name1, ...
** with numpy.array_split: the fewest chunks that each fit. */
START_TEST(split_attributes) {
    const char *path = tpath("split.h5");
    enum { N = 2001 };
    static char buf[N][48];
    const char *names[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "layer_with_a_rather_long_name_%05d", i);
        names[i] = buf[i];
    }
    size_t size = strlen(buf[0]); /* 35 bytes each: 70035 bytes in all */
    ck_assert_int_gt((long)(size * N), LN_H5_ATTR_LIMIT);
    ln_h5 *f = ln_h5_create(&ctx, path, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ln_h5_set_strings(&ctx, f, "/", "layer_names", N, names), LN_OK);
    ck_assert_int_eq(ln_h5_set_strings(&ctx, f, "/", "short", 2, names), LN_OK);
    ck_assert_int_eq(ln_h5_commit(&ctx, f), LN_OK);
    f = ln_h5_open(&ctx, path);
    ck_assert_ptr_nonnull(f);
    int n;
    char **v;
    ck_assert_int_eq(ln_h5_list(&ctx, f, "/", 1, &n, &v), LN_OK);
    ck_assert_int_eq(n, 3); /* two chunks of 1001 and 1000 names, and "short" */
    ck_assert_str_eq(v[0], "layer_names0");
    ck_assert_str_eq(v[1], "layer_names1");
    ck_assert_str_eq(v[2], "short");
    ln_h5_free_strings(n, v);
    ck_assert(ln_h5_has_attr(f, "/", "layer_names"));
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "/", "layer_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, N);
    for (int i = 0; i < N; i++) ck_assert_str_eq(v[i], names[i]);
    ln_h5_free_strings(n, v);
    ln_h5_close(f);
}
END_TEST

/* ---- a real Keras file ------------------------------------------------------------ */

/* The Keras 2.0.6 interop folder (outside the repository: ../shared). */
static const char *interop(const char *file) {
    static char buf[1024];
    const char *dir = getenv("LUNET_INTEROP_DIR");
    if (dir) {
        snprintf(buf, sizeof buf, "%s/%s", dir, file);
        return buf;
    }
    const char *src = getenv("LUNET_SOURCE_DIR");
    ck_assert_msg(src != NULL, "LUNET_SOURCE_DIR is not set (run under ctest)");
    snprintf(buf, sizeof buf, "%s/../shared/interop/keras2-mnist-mlp/%s", src, file);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(buf, sizeof buf, "%s/tests/data/keras2-mnist-mlp/%s", src, file);
    ck_assert_msg(access(buf, R_OK) == 0, "the Keras interop files are missing "
                  "(set LUNET_INTEROP_DIR)");
    return buf;
}

START_TEST(keras_written_file) {
    const char *path = interop("mnist_mlp_tf_keras_2_weights.h5");
    ln_h5 *f = ln_h5_open(&ctx, path);
    ck_assert_msg(f != NULL, "%s", ctx.msg);
    char *s;
    ck_assert_int_eq(ln_h5_get_string(&ctx, f, "/", "keras_version", &s), LN_OK);
    ck_assert_str_eq(s, "2.0.6"); /* variable-length ASCII */
    free(s);
    int n;
    char **v;
    /* fixed-length NULLPAD strings of 9 bytes: "dense_1" padded, "dropout_1" full */
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "/", "layer_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(v[0], "dense_1");
    ck_assert_str_eq(v[1], "dropout_1");
    ck_assert_str_eq(v[4], "dense_3");
    ln_h5_free_strings(n, v);
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "dense_2", "weight_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(v[0], "dense_2/kernel:0");
    ck_assert_str_eq(v[1], "dense_2/bias:0");
    ln_h5_free_strings(n, v);
    /* a weightless layer: an empty float64 array */
    ck_assert_int_eq(ln_h5_get_strings(&ctx, f, "dropout_1", "weight_names", &n, &v), LN_OK);
    ck_assert_int_eq(n, 0);
    ln_h5_free_strings(n, v);
    int64_t ks[2] = {784, 512};
    ln_tensor *k = NULL;
    ck_assert_int_eq(ln_h5_read(&ctx, f, "dense_1/dense_1/kernel:0", 2, ks, &k), LN_OK);
    double sum = 0;
    for (int64_t i = 0; i < k->numel; i++) sum += ln_f32(k)[i];
    ck_assert(sum == sum && sum != 0); /* real, finite data */
    ln_tensor_release(k);
    ln_h5_close(f);
}
END_TEST

/* ---- refusals -------------------------------------------------------------------- */

/* Opening must fail with the file name and `why` in the message. */
static void refused(const char *path, const char *why) {
    ln_ctx_clear(&ctx);
    ln_h5 *f = ln_h5_open(&ctx, path);
    ck_assert_msg(f == NULL, "%s was accepted", path);
    ck_assert_msg(strstr(ctx.msg, path) != NULL, "message lacks the file name: %s", ctx.msg);
    ck_assert_msg(strstr(ctx.msg, why) != NULL, "message lacks '%s': %s", why, ctx.msg);
}

START_TEST(refuses_foreign_files) {
    write_bytes(tpath("empty.h5"), "", 0);
    refused(tpath("empty.h5"), "empty");
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                        0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1};
    write_bytes(tpath("image.h5"), png, sizeof png);
    refused(tpath("image.h5"), "PNG");
    write_bytes(tpath("model.json"), "{\"class_name\": \"Sequential\"}", 28);
    refused(tpath("model.json"), "JSON");
    write_bytes(tpath("zip.keras"), "PK\x03\x04 and more bytes", 20);
    refused(tpath("zip.keras"), "zip");
    write_bytes(tpath("short.h5"), "\x89HD", 3);
    refused(tpath("short.h5"), "3 bytes");
    write_bytes(tpath("text.h5"), "hello, this is text", 19);
    refused(tpath("text.h5"), "hello");
    refused(tpath("missing.h5"), "No such file");
    refused(tmpdir, "folder");
}
END_TEST

START_TEST(refuses_truncated_files) {
    const char *path = tpath("good.h5");
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char data[1 << 16];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    ck_assert_uint_gt(n, 800);
    ck_assert_uint_lt(n, sizeof data);
    /* cut anywhere past the signature: the file is refused by name */
    size_t cuts[] = {8, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(tpath("cut.h5"), data, cuts[i]);
        refused(tpath("cut.h5"), cuts[i] > 8 ? "truncated" : "HDF5");
    }
}
END_TEST

/* Read everything write_model_like wrote; LN_OK or the first failure. */
static ln_status read_everything(const char *path) {
    ln_ctx_clear(&ctx);
    ln_h5 *f = ln_h5_open(&ctx, path);
    if (!f) return ctx.status;
    int64_t ks[2] = {3, 4}, bs[1] = {4};
    ln_tensor *t = NULL;
    char *s = NULL, **v = NULL;
    int n = 0;
    ln_status st = ln_h5_read(&ctx, f, "model_weights/dense/dense/kernel:0", 2, ks, &t);
    ln_tensor_release(t);
    t = NULL;
    if (!st) st = ln_h5_read(&ctx, f, "model_weights/dense/dense/bias:0", 1, bs, &t);
    ln_tensor_release(t);
    if (!st) st = ln_h5_get_string(&ctx, f, "/", "backend", &s);
    free(s);
    if (!st) st = ln_h5_get_strings(&ctx, f, "model_weights/dense", "weight_names", &n, &v);
    ln_h5_free_strings(n, v);
    if (!st) st = ln_h5_list(&ctx, f, "/", 0, &n, &v);
    if (!st) ln_h5_free_strings(n, v);
    ln_h5_close(f);
    return st;
}

/* Damage the metadata of a good file: the superblock and each structure
** HDF5 marks with a signature (B-tree nodes, symbol-table nodes, local and
** global heaps). Reading the file must then fail naming it -- never crash,
** never pass. A sweep over the whole file must never crash either. */
START_TEST(refuses_corrupt_files) {
    const char *path = tpath("good.h5");
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    ck_assert_int_eq(read_everything(path), LN_OK);
    FILE *fp = fopen(path, "rb");
    static unsigned char data[1 << 16], bad[1 << 16];
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    const char *bad_path = tpath("bad.h5");
    /* the superblock's addresses (base, free space, end of file, root) */
    memcpy(bad, data, n);
    memset(bad + 24, 0x5a, 32);
    write_bytes(bad_path, bad, n);
    ck_assert_int_ne(read_everything(bad_path), LN_OK);
    ck_assert_msg(strstr(ctx.msg, bad_path) != NULL, "%s", ctx.msg);
    static const char *tags[] = {"TREE", "SNOD", "HEAP", "GCOL"};
    int damaged = 0;
    for (size_t at = 0; at + 4 <= n; at++) {
        for (int k = 0; k < 4; k++) {
            if (memcmp(data + at, tags[k], 4)) continue;
            memcpy(bad, data, n);
            memcpy(bad + at, "XXXX", 4);
            write_bytes(bad_path, bad, n);
            ln_status st = read_everything(bad_path);
            ck_assert_msg(st != LN_OK, "a damaged %s at %zu went unnoticed", tags[k], at);
            ck_assert_msg(strstr(ctx.msg, bad_path) != NULL, "no file name: %s", ctx.msg);
            damaged++;
        }
    }
    ck_assert_int_ge(damaged, 6);
    /* a sweep of 48-byte smudges: no crash, failures name the file */
    for (size_t at = 8; at + 48 < n; at += 37) {
        memcpy(bad, data, n);
        memset(bad + at, 0xA5, 48);
        write_bytes(bad_path, bad, n);
        if (read_everything(bad_path) != LN_OK)
            ck_assert_msg(strstr(ctx.msg, bad_path) != NULL, "no file name: %s", ctx.msg);
    }
    ck_assert_int_eq(ln_tensor_live_count(), 0);
}
END_TEST

/* libhdf5 1.10 loops forever on a global heap collection whose free-space
** record claims 0 bytes (a fuzzer found it): such files are refused before
** HDF5 reads them. */
START_TEST(refuses_damaged_global_heaps) {
    char path[512];
    snprintf(path, sizeof path, "%s", tpath("good.h5"));
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    FILE *fp = fopen(path, "rb");
    static unsigned char data[1 << 16];
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    unsigned char *g = memmem(data, n, "GCOL", 4);
    ck_assert_ptr_nonnull(g); /* the "backend" string lives there */
    size_t at = (size_t)(g - data), size = 0;
    for (int i = 7; i >= 0; i--) size = (size << 8) | g[8 + i];
    ck_assert_uint_ge(size, 4096);
    size_t p = 16;
    while (p + 16 <= size && (g[p] | g[p + 1] << 8) != 0) {
        size_t osz = 0;
        for (int i = 7; i >= 0; i--) osz = (osz << 8) | g[p + 8 + i];
        p += 16 + ((osz + 7) & ~(size_t)7);
    }
    ck_assert_uint_lt(p + 16, size); /* the free-space record */
    memset(g + p + 8, 0, 8);
    write_bytes(tpath("loop.h5"), data, n);
    refused(tpath("loop.h5"), "global heap");
    ck_assert_ptr_nonnull(strstr(ctx.msg, "damaged"));
    /* the first object claiming more bytes than the collection holds */
    fp = fopen(path, "rb");
    ck_assert_uint_eq(fread(data, 1, sizeof data, fp), n);
    fclose(fp);
    memset(data + at + 16 + 8, 0x7f, 6);
    write_bytes(tpath("past.h5"), data, n);
    refused(tpath("past.h5"), "global heap");
    ck_assert_int_eq(read_everything(path), LN_OK); /* the good file reads */
}
END_TEST

/* ---- atomic writing ------------------------------------------------------------------- */

START_TEST(commit_replaces_atomically) {
    const char *path = tpath("model.h5");
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    chmod(path, 0640);
    ck_assert_int_eq(write_model_like(path, 2), LN_OK);
    ck_assert_float_eq(first_kernel_value(path), 2.0f);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640); /* the old file's mode is kept */
    ck_assert_int_eq(folder_entries(), 1);
}
END_TEST

START_TEST(abandoned_write_leaves_the_old_file) {
    const char *path = tpath("model.h5");
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    long before = file_size(path);
    ln_h5 *f = ln_h5_create(&ctx, path, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(folder_entries(), 1); /* built in memory: nothing on disk */
    ck_assert_int_eq(ln_h5_set_string(&ctx, f, "/", "half", "written"), LN_OK);
    ln_h5_close(f); /* abandoned: e.g. an error while saving */
    ck_assert_int_eq(folder_entries(), 1);
    ck_assert_int_eq(file_size(path), before);
    ck_assert_float_eq(first_kernel_value(path), 1.0f);
}
END_TEST

START_TEST(unwritable_places) {
    ck_assert_ptr_null(ln_h5_create(&ctx, tpath("no/such/folder/m.h5"), 0));
    ck_assert_msg(strstr(ctx.msg, "no/such/folder") && strstr(ctx.msg, "does not exist"), "%s", ctx.msg);
    write_bytes(tpath("plain"), "x", 1);
    ck_assert_ptr_null(ln_h5_create(&ctx, tpath("plain/m.h5"), 0)); /* a file as folder */
    ck_assert_ptr_nonnull(strstr(ctx.msg, "plain/m.h5"));
    ck_assert_ptr_null(ln_h5_create(&ctx, tmpdir, 0)); /* a folder as file */
    ck_assert_ptr_nonnull(strstr(ctx.msg, "folder"));
    ck_assert_ptr_null(ln_h5_create(&ctx, "", 0));
    ck_assert_int_eq(folder_entries(), 1);
}
END_TEST

/* A file-size limit makes writes fail as a full disk would: the commit (or
** an earlier write) fails, the previous file is intact and no temporary
** file is left. */
START_TEST(full_disk_keeps_the_old_file) {
    const char *path = tpath("model.h5");
    ck_assert_int_eq(write_model_like(path, 1), LN_OK);
    long before = file_size(path);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {16384, 16384};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ln_h5 *f = ln_h5_create(&ctx, path, 0);
    ck_assert_ptr_nonnull(f);
    int64_t shape[2] = {64, 256}; /* 64 KiB of data: beyond the limit */
    ln_tensor *t = ramp(2, shape, 3);
    ln_status st = ln_h5_write(&ctx, f, "big", t);
    if (st == LN_OK) st = ln_h5_commit(&ctx, f);
    else ln_h5_close(f);
    ck_assert_int_ne(st, LN_OK);
    ck_assert_msg(strstr(ctx.msg, path) != NULL, "%s", ctx.msg);
    ln_tensor_release(t);
    ck_assert_int_eq(folder_entries(), 1);
    ck_assert_int_eq(file_size(path), before);
    ck_assert_float_eq(first_kernel_value(path), 1.0f);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("h5file");
    TCase *tc = tcase_create("h5file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, split_attributes);
    tcase_add_test(tc, keras_written_file);
    tcase_add_test(tc, refuses_foreign_files);
    tcase_add_test(tc, refuses_truncated_files);
    tcase_add_test(tc, refuses_corrupt_files);
    tcase_add_test(tc, refuses_damaged_global_heaps);
    tcase_add_test(tc, commit_replaces_atomically);
    tcase_add_test(tc, abandoned_write_leaves_the_old_file);
    tcase_add_test(tc, unwritable_places);
    tcase_add_test(tc, full_disk_keeps_the_old_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return lt_run(suite()); }
