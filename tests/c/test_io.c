/*
** test_io.c -- the file readers and writers of core/io_*.c: IDX (plain and
** gzip), NPY, CSV and HDF5, good files and hostile ones. Hostile files must
** be refused with the file name and the reason, leave no tensor behind,
** and -- for sizes a header merely claims -- allocate nothing large (the
** gzip case runs under an address-space limit).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "lunet/h5file.h"
#include "lunet/io.h"
#include "testutil.h"

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lunet_test_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.')) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
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

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* gzip through the gzip program (Debian-essential), so this test needs no
** zlib of its own on the link line. */
static void write_gz(const char *path, const void *data, size_t n) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -n -c > '%s'", path);
    FILE *p = popen(cmd, "w");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fwrite(data, 1, n, p), n);
    ck_assert_int_eq(pclose(p), 0);
}

/* An IDX header for type code and dims into buf; returns its length. */
static size_t idx_header(unsigned char *buf, int code, int nd, const uint32_t *dims) {
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)code;
    buf[3] = (unsigned char)nd;
    for (int i = 0; i < nd; i++) {
        buf[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        buf[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        buf[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        buf[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)nd;
}

/* Expect a refusal with code st naming the file and containing `why`. */
static void expect_fail(ln_status got, ln_ctx *ctx, ln_status st,
                        const char *path, const char *why) {
    ck_assert_msg(got == st, "status %s, want %s (%s)", ln_status_name(got),
                  ln_status_name(st), ctx->msg);
    ck_assert_msg(strstr(ctx->msg, path) != NULL, "no file name in: %s", ctx->msg);
    ck_assert_msg(strstr(ctx->msg, why) != NULL, "no '%s' in: %s", why, ctx->msg);
}

/* ---- IDX ---------------------------------------------------------------------- */

START_TEST(idx_plain_types) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    unsigned char buf[256];
    uint32_t dims[2] = {2, 3};
    /* uint8 */
    size_t h = idx_header(buf, 0x08, 2, dims);
    for (int i = 0; i < 6; i++) buf[h + i] = (unsigned char)(250 + i % 6);
    write_file(tpath("u8.idx"), buf, h + 6);
    ln_tensor *t;
    ck_assert_int_eq(ln_read_idx(&ctx, tpath("u8.idx"), &t), LN_OK);
    ck_assert_int_eq(t->dtype, LN_UINT8);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[1], 3);
    ck_assert_int_eq(ln_u8(t)[5], 255);
    ln_tensor_release(t);
    /* int16 big-endian, negative values */
    h = idx_header(buf, 0x0B, 1, (uint32_t[]){3});
    unsigned char i16[6] = {0xFF, 0xFE, 0x01, 0x00, 0x7F, 0xFF}; /* -2 256 32767 */
    memcpy(buf + h, i16, 6);
    write_file(tpath("i16.idx"), buf, h + 6);
    ck_assert_int_eq(ln_read_idx(&ctx, tpath("i16.idx"), &t), LN_OK);
    ck_assert_int_eq(t->dtype, LN_INT32);
    ck_assert_int_eq(ln_i32(t)[0], -2);
    ck_assert_int_eq(ln_i32(t)[1], 256);
    ck_assert_int_eq(ln_i32(t)[2], 32767);
    ln_tensor_release(t);
    /* float32 and float64 */
    h = idx_header(buf, 0x0D, 1, (uint32_t[]){1});
    unsigned char f32[4] = {0x3F, 0xC0, 0x00, 0x00}; /* 1.5 */
    memcpy(buf + h, f32, 4);
    write_file(tpath("f32.idx"), buf, h + 4);
    ck_assert_int_eq(ln_read_idx(&ctx, tpath("f32.idx"), &t), LN_OK);
    ck_assert(ln_f32(t)[0] == 1.5f);
    ln_tensor_release(t);
    h = idx_header(buf, 0x0E, 1, (uint32_t[]){1});
    unsigned char f64[8] = {0xC0, 0x04, 0, 0, 0, 0, 0, 0}; /* -2.5 */
    memcpy(buf + h, f64, 8);
    write_file(tpath("f64.idx"), buf, h + 8);
    ck_assert_int_eq(ln_read_idx(&ctx, tpath("f64.idx"), &t), LN_OK);
    ck_assert(ln_f32(t)[0] == -2.5f);
    ln_tensor_release(t);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

START_TEST(idx_gzip_large) {
    /* 3000 x 28 x 28 uint8 through gzip: more than one 4 MiB chunk */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    uint32_t dims[3] = {7000, 28, 28};
    size_t n = 7000 * 28 * 28;
    unsigned char *buf = malloc(16 + n);
    size_t h = idx_header(buf, 0x08, 3, dims);
    for (size_t i = 0; i < n; i++) buf[h + i] = (unsigned char)(i * 2654435761u >> 24);
    write_gz(tpath("big.idx.gz"), buf, h + n);
    ln_tensor *t;
    ck_assert_int_eq(ln_read_idx(&ctx, tpath("big.idx.gz"), &t), LN_OK);
    ck_assert_int_eq(t->numel, (int64_t)n);
    ck_assert_int_eq(memcmp(ln_u8(t), buf + h, n), 0);
    ln_tensor_release(t);
    free(buf);
}
END_TEST

START_TEST(idx_read_as) {
    /* every IDX type as float32, the integer ones as int32, uint8 as uint8;
    ** the rest refused naming both types */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    unsigned char buf[64];
    static const struct {
        int code, size;
        unsigned char data[8];
        double want;
    } cases[] = {
        {0x08, 1, {0xFB}, 251},     {0x09, 1, {0xFB}, -5},
        {0x0B, 2, {0xFF, 0xFE}, -2}, {0x0C, 4, {0x80, 0, 0, 1}, -2147483647.0},
        {0x0D, 4, {0x3F, 0xC0, 0, 0}, 1.5}, {0x0E, 8, {0xC0, 0x04, 0, 0, 0, 0, 0, 0}, -2.5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int integer = cases[c].code <= 0x0C;
        size_t h = idx_header(buf, cases[c].code, 1, (uint32_t[]){1});
        memcpy(buf + h, cases[c].data, (size_t)cases[c].size);
        write_file(tpath("as.idx"), buf, h + (size_t)cases[c].size);
        write_gz(tpath("as.idx.gz"), buf, h + (size_t)cases[c].size);
        for (int gz = 0; gz < 2; gz++) {
            const char *p = tpath(gz ? "as.idx.gz" : "as.idx");
            ln_tensor *t;
            ck_assert_int_eq(ln_read_idx_as(&ctx, p, LN_FLOAT32, &t), LN_OK);
            ck_assert_int_eq(t->dtype, LN_FLOAT32);
            ck_assert_msg(ln_f32(t)[0] == (float)cases[c].want, "code %02x: %g",
                          cases[c].code, ln_f32(t)[0]);
            ln_tensor_release(t);
            t = NULL;
            ln_status st = ln_read_idx_as(&ctx, p, LN_INT32, &t);
            if (integer) {
                ck_assert_int_eq(st, LN_OK);
                ck_assert_int_eq(t->dtype, LN_INT32);
                ck_assert_int_eq(ln_i32(t)[0], (int32_t)cases[c].want);
                ln_tensor_release(t);
            } else {
                expect_fail(st, &ctx, LN_E_ARG, p, "data cannot be read as int32");
                ck_assert_ptr_null(t);
            }
            t = NULL;
            st = ln_read_idx_as(&ctx, p, LN_UINT8, &t);
            if (cases[c].code == 0x08) {
                ck_assert_int_eq(st, LN_OK);
                ck_assert_int_eq(ln_u8(t)[0], 251);
                ln_tensor_release(t);
            } else {
                expect_fail(st, &ctx, LN_E_ARG, p, "cannot be read as uint8");
                ck_assert_ptr_null(t);
            }
            ck_assert_int_eq(ln_read_idx_as(&ctx, p, LN_IDX_NATIVE, &t), LN_OK);
            ck_assert_int_eq(t->dtype, cases[c].code == 0x08 ? LN_UINT8
                                       : integer ? LN_INT32 : LN_FLOAT32);
            ln_tensor_release(t);
            expect_fail(ln_read_idx_as(&ctx, p, 7, &t), &ctx, LN_E_ARG, p,
                        "unknown dtype");
        }
    }
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

/* This process's resident set (VmRSS) or peak (VmHWM) in KiB. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) v = strtol(line + n + 1, NULL, 10);
    if (f) fclose(f);
    ck_assert_int_ge(v, 0);
    return v;
}

START_TEST(idx_gzip_as_float_peak) {
    /* 16 MiB of uint8 images read from gzip as float32 (64 MiB): the
    ** inflated bytes are let go as they are converted, so the peak stays
    ** near the result (before: inflated + result, 80 MiB). */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    uint32_t dims[3] = {21400, 28, 28};
    size_t n = (size_t)dims[0] * 28 * 28, piece = (size_t)1 << 20;
    unsigned char head[16], *buf = malloc(piece);
    size_t h = idx_header(head, 0x08, 3, dims);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -1 -n -c > '%s'", tpath("peak.idx.gz"));
    FILE *p = popen(cmd, "w");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fwrite(head, 1, h, p), h);
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)((at + i) % 251);
        ck_assert_uint_eq(fwrite(buf, 1, k, p), k);
    }
    ck_assert_int_eq(pclose(p), 0);
    free(buf);
    long before = status_kib("VmRSS");
    FILE *c = fopen("/proc/self/clear_refs", "w"); /* "5": VmHWM := VmRSS */
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(fputs("5", c) >= 0 && fclose(c) == 0, 1);
    ln_tensor *t;
    ck_assert_int_eq(ln_read_idx_as(&ctx, tpath("peak.idx.gz"), LN_FLOAT32, &t), LN_OK);
    long peak = status_kib("VmHWM") - before, result = (long)(n * 4 / 1024);
    for (size_t i = 0; i < n; i += 4093)
        ck_assert(ln_f32(t)[i] == (float)(i % 251));
    ck_assert(ln_f32(t)[n - 1] == (float)((n - 1) % 251));
#if !defined(__SANITIZE_ADDRESS__) /* ASan's allocator and shadow pages add their own */
    ck_assert_msg(peak < result + 8 * 1024, "peak %ld KiB over the %ld KiB result",
                  peak - result, result);
#endif
    (void)peak;
    ln_tensor_release(t);
}
END_TEST

START_TEST(idx_wrong_magic) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    unsigned char buf[16] = {0x01, 0x00, 0x08, 0x01, 0, 0, 0, 1, 7};
    write_file(tpath("magic.idx"), buf, 9);
    ln_tensor *t = NULL;
    expect_fail(ln_read_idx(&ctx, tpath("magic.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("magic.idx"), "wrong magic");
    ck_assert_ptr_null(t);
    buf[0] = 0, buf[2] = 0x42; /* unknown type */
    write_file(tpath("type.idx"), buf, 9);
    expect_fail(ln_read_idx(&ctx, tpath("type.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("type.idx"), "wrong magic");
    buf[2] = 0x08, buf[3] = 0; /* zero dims */
    write_file(tpath("nd0.idx"), buf, 9);
    expect_fail(ln_read_idx(&ctx, tpath("nd0.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("nd0.idx"), "dimensions");
    write_file(tpath("empty.idx"), buf, 0);
    expect_fail(ln_read_idx(&ctx, tpath("empty.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("empty.idx"), "truncated");
    expect_fail(ln_read_idx(&ctx, tpath("missing.idx"), &t), &ctx, LN_E_IO,
                tpath("missing.idx"), "No such file");
}
END_TEST

START_TEST(idx_truncated_and_trailing) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_storage_live_count();
    unsigned char buf[64];
    size_t h = idx_header(buf, 0x0C, 2, (uint32_t[]){2, 2});
    memset(buf + h, 1, 16);
    ln_tensor *t = NULL;
    write_file(tpath("short.idx"), buf, h + 10);
    expect_fail(ln_read_idx(&ctx, tpath("short.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("short.idx"), "truncated");
    write_file(tpath("long.idx"), buf, h + 20);
    expect_fail(ln_read_idx(&ctx, tpath("long.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("long.idx"), "trailing data");
    write_file(tpath("hdr.idx"), buf, 9); /* cut inside the dims */
    expect_fail(ln_read_idx(&ctx, tpath("hdr.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("hdr.idx"), "truncated inside the header");
    write_gz(tpath("short.idx.gz"), buf, h + 10);
    expect_fail(ln_read_idx(&ctx, tpath("short.idx.gz"), &t), &ctx, LN_E_FORMAT,
                tpath("short.idx.gz"), "truncated");
    write_gz(tpath("long.idx.gz"), buf, h + 20);
    expect_fail(ln_read_idx(&ctx, tpath("long.idx.gz"), &t), &ctx, LN_E_FORMAT,
                tpath("long.idx.gz"), "trailing data");
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ln_storage_live_count(), live);
}
END_TEST

START_TEST(idx_overflowing_dims) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    unsigned char buf[64];
    uint32_t dims[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    size_t h = idx_header(buf, 0x08, 4, dims);
    ln_tensor *t = NULL;
    write_file(tpath("ovf.idx"), buf, h + 4);
    expect_fail(ln_read_idx(&ctx, tpath("ovf.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("ovf.idx"), "limit");
    write_gz(tpath("ovf.idx.gz"), buf, h + 4);
    expect_fail(ln_read_idx(&ctx, tpath("ovf.idx.gz"), &t), &ctx, LN_E_FORMAT,
                tpath("ovf.idx.gz"), "limit");
    /* product wraps to a small number in 64 bits: 2^32 * 2^32 */
    uint32_t wrap[3] = {65536, 65536, 65536};
    h = idx_header(buf, 0x08, 3, wrap);
    write_file(tpath("wrap.idx"), buf, h);
    expect_fail(ln_read_idx(&ctx, tpath("wrap.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("wrap.idx"), "limit");
    ck_assert_ptr_null(t);
}
END_TEST

/* Limit the address space to what the process uses plus `extra` bytes, so
** an allocation of the claimed size would fail. Not under ASan (its shadow
** memory needs a huge address space). */
static void limit_address_space(size_t extra) {
#if defined(__SANITIZE_ADDRESS__)
    (void)extra;
#else
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    struct rlimit r;
    r.rlim_cur = r.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
#endif
}

START_TEST(idx_gigantic_claim) {
    /* The header claims 3 GB; the file holds a few bytes. Run (in Check's
    ** forked child) with 256 MB of address space to spare. */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    unsigned char buf[64];
    uint32_t dims[4] = {1000, 1000, 1000, 3};
    size_t h = idx_header(buf, 0x08, 4, dims);
    memset(buf + h, 9, 6);
    write_gz(tpath("huge.idx.gz"), buf, h + 6);
    write_file(tpath("huge.idx"), buf, h + 6);
    limit_address_space((size_t)256 << 20);
    ln_tensor *t = NULL;
    expect_fail(ln_read_idx(&ctx, tpath("huge.idx.gz"), &t), &ctx, LN_E_FORMAT,
                tpath("huge.idx.gz"), "truncated");
    ck_assert_msg(strstr(ctx.msg, "3000000000") != NULL, "%s", ctx.msg);
    expect_fail(ln_read_idx(&ctx, tpath("huge.idx"), &t), &ctx, LN_E_FORMAT,
                tpath("huge.idx"), "truncated");
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(idx_gzip_ends_early) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    uint32_t dims[2] = {200, 200};
    unsigned char *buf = malloc(16 + 40000);
    size_t h = idx_header(buf, 0x08, 2, dims);
    uint32_t x = 12345;
    for (int i = 0; i < 40000; i++) {
        x = x * 1664525u + 1013904223u;
        buf[h + i] = (unsigned char)(x >> 24);
    }
    write_gz(tpath("full.gz"), buf, h + 40000);
    free(buf);
    FILE *f = fopen(tpath("full.gz"), "rb");
    unsigned char gzbuf[50000];
    size_t n = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    write_file(tpath("cut.gz"), gzbuf, n / 2);
    ln_tensor *t = NULL;
    ln_status st = ln_read_idx(&ctx, tpath("cut.gz"), &t);
    ck_assert_int_eq(st, LN_E_FORMAT);
    ck_assert_msg(strstr(ctx.msg, tpath("cut.gz")) && (strstr(ctx.msg, "truncated") ||
                  strstr(ctx.msg, "corrupt gzip")), "%s", ctx.msg);
    /* corrupt the deflate data in the middle */
    gzbuf[n / 2] ^= 0x55;
    gzbuf[n / 2 + 1] ^= 0xAA;
    write_file(tpath("bad.gz"), gzbuf, n);
    st = ln_read_idx(&ctx, tpath("bad.gz"), &t);
    ck_assert_int_eq(st, LN_E_FORMAT);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(ctx.msg, tpath("bad.gz")) != NULL, "%s", ctx.msg);
}
END_TEST

/* ---- NPY ------------------------------------------------------------------------- */

START_TEST(npy_roundtrip) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    int64_t shape[3] = {2, 3, 4};
    ln_dtype types[3] = {LN_FLOAT32, LN_INT32, LN_UINT8};
    for (int k = 0; k < 3; k++) {
        ln_tensor *a = ln_tensor_new(&ctx, types[k], 3, shape), *b = NULL;
        for (int64_t i = 0; i < a->numel; i++) {
            if (types[k] == LN_FLOAT32) ln_f32(a)[i] = (float)i * 0.5f - 3;
            else if (types[k] == LN_INT32) ln_i32(a)[i] = (int32_t)(i * 1000003 - 7);
            else ln_u8(a)[i] = (uint8_t)(i * 11);
        }
        ck_assert_int_eq(ln_save_npy(&ctx, tpath("a.npy"), a), LN_OK);
        ck_assert_int_eq(ln_load_npy(&ctx, tpath("a.npy"), &b), LN_OK);
        ck_assert_int_eq(b->dtype, a->dtype);
        ck_assert(ln_shape_equal(a, b));
        ck_assert_int_eq(memcmp(ln_data(a), ln_data(b),
                                (size_t)a->numel * ln_dtype_size(a->dtype)), 0);
        ln_tensor_release(a);
        ln_tensor_release(b);
    }
    /* the header is numpy's: 64-byte aligned, ends in \n */
    FILE *f = fopen(tpath("a.npy"), "rb");
    char head[129] = {0}; /* NUL-terminated for strstr */
    ck_assert_uint_eq(fread(head, 1, 128, f), 128);
    fclose(f);
    ck_assert_int_eq(memcmp(head, "\x93NUMPY\x01\x00", 8), 0);
    int hlen = (unsigned char)head[8] | (unsigned char)head[9] << 8;
    ck_assert_int_eq((10 + hlen) % 64, 0);
    ck_assert_int_eq(head[10 + hlen - 1], '\n');
    ck_assert(strstr(head + 10, "{'descr': '|u1', 'fortran_order': False, "
                                "'shape': (2, 3, 4), }") == head + 10);
    /* 1-d and 0-d shapes */
    ln_tensor *s = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){5}), *r;
    ck_assert_int_eq(ln_save_npy(&ctx, tpath("v.npy"), s), LN_OK);
    ck_assert_int_eq(ln_load_npy(&ctx, tpath("v.npy"), &r), LN_OK);
    ck_assert_int_eq(r->ndim, 1);
    ck_assert_int_eq(r->shape[0], 5);
    ln_tensor_release(r);
    ln_tensor_release(s);
    s = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
    ln_f32(s)[0] = 4.25f;
    ck_assert_int_eq(ln_save_npy(&ctx, tpath("s.npy"), s), LN_OK);
    ck_assert_int_eq(ln_load_npy(&ctx, tpath("s.npy"), &r), LN_OK);
    ck_assert_int_eq(r->ndim, 0);
    ck_assert(ln_f32(r)[0] == 4.25f);
    ln_tensor_release(r);
    ln_tensor_release(s);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

START_TEST(npy_atomic_save) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *a = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){3});
    write_file(tpath("keep.npy"), "old", 3);
    ck_assert_int_eq(ln_save_npy(&ctx, tpath("keep.npy"), a), LN_OK);
    struct stat sb;
    ck_assert_int_eq(stat(tpath("keep.npy"), &sb), 0);
    ck_assert_int_eq(sb.st_size, 128 + 12);
    /* no temporary left in the folder */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || (e->d_name[1] && e->d_name[1] != '.')) files++;
    closedir(d);
    ck_assert_int_eq(files, 1);
    /* a folder that does not exist */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.npy", tmpdir);
    ck_assert_int_eq(ln_save_npy(&ctx, bad, a), LN_E_IO);
    ck_assert_msg(strstr(ctx.msg, bad) != NULL, "%s", ctx.msg);
    ln_tensor_release(a);
}
END_TEST

/* Write a .npy file with a given header dict and data bytes. */
static void write_npy(const char *path, const char *dict, const void *data,
                      size_t n, int hlen_override) {
    char buf[4096];
    int len = (int)strlen(dict);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    int hlen = len + pad + 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    int h = hlen_override ? hlen_override : hlen;
    buf[8] = (char)(h & 0xff);
    buf[9] = (char)((h >> 8) & 0xff);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', (size_t)pad);
    buf[10 + len + pad] = '\n';
    memcpy(buf + 10 + hlen, data, n);
    write_file(path, buf, 10 + (size_t)hlen + n);
}

START_TEST(npy_hostile) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    ln_tensor *t = NULL;
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    write_file(tpath("magic.npy"), "\x93NUMPX\x01\x00\x10\x00", 10);
    expect_fail(ln_load_npy(&ctx, tpath("magic.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("magic.npy"), "wrong magic");
    write_file(tpath("ver.npy"), "\x93NUMPY\x09\x00\x10\x00", 10);
    expect_fail(ln_load_npy(&ctx, tpath("ver.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("ver.npy"), "version");
    /* a header claiming 4 GB in format 2.0 */
    write_file(tpath("hlen.npy"), "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_fail(ln_load_npy(&ctx, tpath("hlen.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("hlen.npy"), "header claims");
    write_npy(tpath("fort.npy"), "{'descr': '<f4', 'fortran_order': True, "
              "'shape': (2, 4), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("fort.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("fort.npy"), "Fortran");
    write_npy(tpath("c8.npy"), "{'descr': '<c8', 'fortran_order': False, "
              "'shape': (4,), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("c8.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("c8.npy"), "'<c8' is not supported");
    write_npy(tpath("be.npy"), "{'descr': '>f4', 'fortran_order': False, "
              "'shape': (8,), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("be.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("be.npy"), "'>f4' is not supported");
    write_npy(tpath("rec.npy"), "{'descr': [('a', '<f4')], 'fortran_order': "
              "False, 'shape': (8,), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("rec.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("rec.npy"), "structured");
    write_npy(tpath("trunc.npy"), "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (100,), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("trunc.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("trunc.npy"), "truncated");
    write_npy(tpath("trail.npy"), "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (2,), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("trail.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("trail.npy"), "trailing data");
    write_npy(tpath("huge.npy"), "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (100000, 100000, 100000), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("huge.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("huge.npy"), "limit");
    write_npy(tpath("dims.npy"), "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 8), }", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("dims.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("dims.npy"), "at most 8");
    write_npy(tpath("nodict.npy"), "[1, 2]", data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("nodict.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("nodict.npy"), "not a dict");
    write_npy(tpath("noshape.npy"), "{'descr': '<f4', 'fortran_order': False}",
              data, 32, 0);
    expect_fail(ln_load_npy(&ctx, tpath("noshape.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("noshape.npy"), "lacks");
    int64_t big[2] = {1, (int64_t)1 << 40};
    write_npy(tpath("i8.npy"), "{'descr': '<i8', 'fortran_order': False, "
              "'shape': (2,), }", big, 16, 0);
    expect_fail(ln_load_npy(&ctx, tpath("i8.npy"), &t), &ctx, LN_E_FORMAT,
                tpath("i8.npy"), "does not fit in int32");
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ln_tensor_live_count(), live);
    /* good: float64 and int64 in range convert */
    double d[3] = {0.5, -1.25, 1e3};
    write_npy(tpath("f8.npy"), "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (3,), }", d, 24, 0);
    ck_assert_int_eq(ln_load_npy(&ctx, tpath("f8.npy"), &t), LN_OK);
    ck_assert(ln_f32(t)[1] == -1.25f);
    ln_tensor_release(t);
    big[1] = -5;
    write_npy(tpath("i8ok.npy"), "{'descr': '<i8', 'fortran_order': False, "
              "'shape': (2,), }", big, 16, 0);
    ck_assert_int_eq(ln_load_npy(&ctx, tpath("i8ok.npy"), &t), LN_OK);
    ck_assert_int_eq(t->dtype, LN_INT32);
    ck_assert_int_eq(ln_i32(t)[1], -5);
    ln_tensor_release(t);
}
END_TEST

/* ---- CSV --------------------------------------------------------------------------- */

START_TEST(csv_read) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    const char *text = "\"a\", b ,c\r\n1,2.5,-3\r\n\r\n4,,6e2\r\n";
    write_file(tpath("x.csv"), text, strlen(text));
    ln_tensor *t;
    char **names;
    int nc;
    ck_assert_int_eq(ln_read_csv(&ctx, tpath("x.csv"), NULL, &t, &names, &nc), LN_OK);
    ck_assert_int_eq(nc, 3);
    ck_assert_str_eq(names[0], "a");
    ck_assert_str_eq(names[1], "b");
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    ck_assert(ln_f32(t)[1] == 2.5f);
    ck_assert(ln_f32(t)[4] != ln_f32(t)[4]); /* empty -> NaN */
    ck_assert(ln_f32(t)[5] == 600.0f);
    ln_tensor_release(t);
    ln_csv_free_names(names, nc);
    /* no header, ';' delimiter, int dtype */
    text = "1;2\n3;4\n";
    write_file(tpath("y.csv"), text, strlen(text));
    ln_csv_opts o = {';', 0, LN_INT32};
    ck_assert_int_eq(ln_read_csv(&ctx, tpath("y.csv"), &o, &t, &names, &nc), LN_OK);
    ck_assert_ptr_null(names);
    ck_assert_int_eq(t->dtype, LN_INT32);
    ck_assert_int_eq(ln_i32(t)[3], 4);
    ln_tensor_release(t);
}
END_TEST

START_TEST(csv_errors) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    ln_tensor *t = NULL;
    char **names = NULL;
    int nc;
    const char *ragged = "a,b\n1,2\n3\n";
    write_file(tpath("r.csv"), ragged, strlen(ragged));
    expect_fail(ln_read_csv(&ctx, tpath("r.csv"), NULL, &t, &names, &nc), &ctx,
                LN_E_FORMAT, tpath("r.csv"), "line 3 has 1 fields, expected 2");
    const char *bad = "a,b\n1,x2\n";
    write_file(tpath("b.csv"), bad, strlen(bad));
    expect_fail(ln_read_csv(&ctx, tpath("b.csv"), NULL, &t, &names, &nc), &ctx,
                LN_E_FORMAT, tpath("b.csv"), "line 2, column 2 ('b'): 'x2' is not a number");
    const char *empty_int = "1,\n";
    write_file(tpath("e.csv"), empty_int, strlen(empty_int));
    ln_csv_opts o = {',', 0, LN_INT32};
    expect_fail(ln_read_csv(&ctx, tpath("e.csv"), &o, &t, &names, &nc), &ctx,
                LN_E_FORMAT, tpath("e.csv"), "is not a number");
    const char *range = "300\n";
    write_file(tpath("u.csv"), range, strlen(range));
    o.dtype = LN_UINT8;
    expect_fail(ln_read_csv(&ctx, tpath("u.csv"), &o, &t, &names, &nc), &ctx,
                LN_E_FORMAT, tpath("u.csv"), "does not fit in uint8");
    write_file(tpath("z.csv"), "", 0);
    expect_fail(ln_read_csv(&ctx, tpath("z.csv"), NULL, &t, &names, &nc), &ctx,
                LN_E_FORMAT, tpath("z.csv"), "empty");
    expect_fail(ln_read_csv(&ctx, tpath("none.csv"), NULL, &t, &names, &nc), &ctx,
                LN_E_IO, tpath("none.csv"), "cannot open");
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

/* ---- HDF5 ---------------------------------------------------------------------------- */

static const char *h5_file(void) {
    static char p[1024];
    const char *src = getenv("LUNET_SOURCE_DIR");
    snprintf(p, sizeof p, "%s/tests/data/small.h5", src ? src : "../..");
    return p;
}

START_TEST(h5_read) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t;
    ck_assert_msg(ln_read_h5(&ctx, h5_file(), "/f32", &t) == LN_OK, "%s", ctx.msg);
    ck_assert_int_eq(t->dtype, LN_FLOAT32);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert(ln_f32(t)[5] == 6.25f);
    ln_tensor_release(t);
    ck_assert_int_eq(ln_read_h5(&ctx, h5_file(), "/i64", &t), LN_OK);
    ck_assert_int_eq(t->dtype, LN_INT32);
    ck_assert_int_eq(ln_i32(t)[2], 2147483647);
    ln_tensor_release(t);
    ck_assert_int_eq(ln_read_h5(&ctx, h5_file(), "/u8", &t), LN_OK);
    ck_assert_int_eq(t->dtype, LN_UINT8);
    ck_assert_int_eq(ln_u8(t)[1], 255);
    ln_tensor_release(t);
    ck_assert_int_eq(ln_read_h5(&ctx, h5_file(), "grp/i16", &t), LN_OK);
    ck_assert_int_eq(ln_i32(t)[0], -300);
    ln_tensor_release(t);
    ck_assert_int_eq(ln_read_h5(&ctx, h5_file(), "/scalar", &t), LN_OK);
    ck_assert_int_eq(t->ndim, 0);
    ck_assert(ln_f32(t)[0] == 2.5f);
    ln_tensor_release(t);
}
END_TEST

START_TEST(h5_errors) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    int64_t live = ln_tensor_live_count();
    ln_tensor *t = NULL;
    const char *f = h5_file();
    expect_fail(ln_read_h5(&ctx, f, "/big_i64", &t), &ctx, LN_E_FORMAT, f,
                "does not fit in int32");
    expect_fail(ln_read_h5(&ctx, f, "/names", &t), &ctx, LN_E_FORMAT, f,
                "'/names' holds string values");
    expect_fail(ln_read_h5(&ctx, f, "/grp", &t), &ctx, LN_E_ARG, f,
                "'/grp' is a group");
    expect_fail(ln_read_h5(&ctx, f, "/missing/x", &t), &ctx, LN_E_NOTFOUND, f,
                "no dataset '/missing/x'");
    write_file(tpath("fake.h5"), "not hdf5 at all", 15);
    expect_fail(ln_read_h5(&ctx, tpath("fake.h5"), "/x", &t), &ctx, LN_E_FORMAT,
                tpath("fake.h5"), "not an HDF5 file");
    expect_fail(ln_read_h5(&ctx, tpath("none.h5"), "/x", &t), &ctx, LN_E_IO,
                tpath("none.h5"), "cannot open");
    /* a truncated copy of a real file */
    FILE *in = fopen(f, "rb");
    ck_assert_ptr_nonnull(in);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    write_file(tpath("cut.h5"), buf, n / 2);
    ln_status st = ln_read_h5(&ctx, tpath("cut.h5"), "/f32", &t);
    ck_assert_int_ne(st, LN_OK);
    ck_assert_msg(strstr(ctx.msg, tpath("cut.h5")) != NULL, "%s", ctx.msg);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ln_tensor_live_count(), live);
}
END_TEST

int main(void) {
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idx_plain_types);
    tcase_add_test(tc, idx_gzip_large);
    tcase_add_test(tc, idx_read_as);
    tcase_add_test(tc, idx_gzip_as_float_peak);
    tcase_add_test(tc, idx_wrong_magic);
    tcase_add_test(tc, idx_truncated_and_trailing);
    tcase_add_test(tc, idx_overflowing_dims);
    tcase_add_test(tc, idx_gigantic_claim);
    tcase_add_test(tc, idx_gzip_ends_early);
    tcase_add_test(tc, npy_roundtrip);
    tcase_add_test(tc, npy_atomic_save);
    tcase_add_test(tc, npy_hostile);
    tcase_add_test(tc, csv_read);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, h5_read);
    tcase_add_test(tc, h5_errors);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
