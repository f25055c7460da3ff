/*
** fuzz_util.c -- shared helpers of the fuzz harnesses (see fuzz_util.h).
*/
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"

void fz_die(const char *file, int line, const char *cond, const char *fmt,
            ...) {
    va_list ap;
    fprintf(stderr, "\nFUZZ INVARIANT BROKEN at %s:%d: %s\n  ", file, line,
            cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- findings ------------------------------------------------------------------ */

static const uint8_t *cur_data;
static size_t cur_n;

void fz_set_input(const uint8_t *data, size_t n) {
    cur_data = data;
    cur_n = n;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void fz_finding(const char *key, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *lenient = getenv("LUNET_FUZZ_LENIENT");
    if (!lenient || strcmp(lenient, "1") != 0)
        fz_die(__FILE__, __LINE__, key, "%s", msg);
    static uint64_t seen[512];
    static int nseen;
    uint64_t h = fnv1a(key);
    for (int i = 0; i < nseen; i++)
        if (seen[i] == h) return;
    if (nseen < 512) seen[nseen++] = h;
    fprintf(stderr, "\nFUZZ FINDING [%s]: %s\n", key, msg);
    const char *dir = getenv("LUNET_FUZZ_FINDINGS");
    if (dir && cur_data) {
        char path[1024];
        snprintf(path, sizeof path, "%s/finding-%016llx", dir, (unsigned long long)h);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(cur_data, 1, cur_n, f);
            fclose(f);
        }
    }
}

/* ---- files ------------------------------------------------------------------ */

const char *fz_put_file(const void *data, size_t n) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lunet-fuzz", 0);
        FZ_CHECK(fd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, (const char *)data + done, n - done, (off_t)done);
        FZ_CHECK(w > 0, "pwrite to the memfd failed");
        done += (size_t)w;
    }
    return path;
}

static char tmpdir[128];

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void tmpdir_cleanup(void) {
    if (tmpdir[0]) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_tmpdir(void) {
    if (tmpdir[0]) return tmpdir;
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)
                           ? "/dev/shm"
                           : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(tmpdir, sizeof tmpdir, "%s/lunet-fuzz-XXXXXX", base);
    FZ_CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp(%s) failed", tmpdir);
    atexit(tmpdir_cleanup);
    return tmpdir;
}

/* ---- result checks ------------------------------------------------------------ */

void fz_check_result(const ln_ctx *ctx, ln_status st, const ln_tensor *t,
                     const char *prefix, const char *path) {
    if (st == LN_OK) {
        FZ_CHECK(t != NULL, "%s succeeded without a tensor", prefix);
        FZ_CHECK(t->ndim >= 0 && t->ndim <= LN_MAX_DIM, "ndim %d", t->ndim);
        int64_t numel = 1;
        for (int i = 0; i < t->ndim; i++) {
            FZ_CHECK(t->shape[i] >= 0, "negative size");
            numel *= t->shape[i];
        }
        FZ_CHECK(numel == t->numel, "numel %lld, shape product %lld",
                 (long long)t->numel, (long long)numel);
        return;
    }
    FZ_CHECK(t == NULL, "%s failed but left a tensor", prefix);
    FZ_CHECK(ctx->status == st, "status %d in ctx, %d returned", ctx->status,
             st);
    FZ_CHECK(st == LN_E_IO || st == LN_E_FORMAT || st == LN_E_NOMEM ||
                 st == LN_E_ARG || st == LN_E_NOTFOUND,
             "unexpected status %s: %s", ln_status_name(st), ctx->msg);
    FZ_CHECK(strncmp(ctx->msg, prefix, strlen(prefix)) == 0,
             "message does not start with '%s': %s", prefix, ctx->msg);
    FZ_CHECK(strstr(ctx->msg, path) != NULL, "message does not name the file "
             "%s: %s", path, ctx->msg);
}

fz_live fz_live_now(void) {
    return (fz_live){ln_tensor_live_count(), ln_storage_live_count()};
}

void fz_live_check(fz_live before, const char *what) {
    fz_live now = fz_live_now();
    FZ_CHECK(now.tensors == before.tensors && now.storages == before.storages,
             "%s leaked tensors: %lld -> %lld tensors, %lld -> %lld storages",
             what, (long long)before.tensors, (long long)now.tensors,
             (long long)before.storages, (long long)now.storages);
}

/* ---- structured input ------------------------------------------------------------ */

uint8_t fz_u8(fz_in *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

uint32_t fz_u32(fz_in *in) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | fz_u8(in);
    return v;
}

double fz_number(fz_in *in) {
    uint8_t k = fz_u8(in);
    switch (k % 16) {
    case 0: return 0;
    case 1: return 1;
    case 2: return -1;
    case 3: return NAN;
    case 4: return INFINITY;
    case 5: return -INFINITY;
    case 6: return 1e300;
    case 7: { /* large integers of either sign */
        double v = (double)fz_u32(in);
        return fz_u8(in) & 1 ? -v : v;
    }
    case 8: return (double)(fz_u8(in) % 16) / 16.0;                 /* fractions */
    case 9: return 2147483648.0;
    case 10: return -(double)(fz_u8(in) % 8);
    case 11: {
        double d;
        uint64_t u = (uint64_t)fz_u32(in) << 32;
        u |= fz_u32(in);
        memcpy(&d, &u, sizeof d);
        return d; /* any bit pattern */
    }
    default: { /* small integers 1..11 */
        double base = (double)(k % 16 - 11);
        return base + (fz_u8(in) % 8);
    }
    }
}

const char *fz_string(fz_in *in, char *buf, size_t max) {
    size_t len = fz_u8(in);
    if (len > max) len = max;
    if (len > in->n) len = in->n;
    memcpy(buf, in->p, len);
    buf[len] = '\0';
    in->p += len;
    in->n -= len;
    return buf;
}

const char *fz_pick(fz_in *in, const char *const *v, size_t n) {
    return v[fz_u8(in) % n];
}
