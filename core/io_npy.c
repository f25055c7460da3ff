/*
** io_npy.c -- numpy's .npy format, read and written.
**
** File: "\x93NUMPY", major, minor, the header length (uint16 LE for 1.x,
** uint32 LE for 2.x/3.x), then the header: a Python dict literal
** {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
** spaces to a 64-byte boundary and ended by '\n'; then the data in C order.
** The data size must match the header's shape exactly; this is checked
** against the file size before the tensor is allocated.
*/
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lunet/atomic_write.h"
#include "lunet/io.h"
#include "lunet/safe_open.h"

#define NPY_MAX_HEADER ((uint32_t)1 << 20)

typedef struct npy_header {
    char descr[16];
    int fortran, have_descr, have_fortran, have_shape;
    int nd;
    int64_t shape[LN_MAX_DIM];
} npy_header;

static void skip_ws(const char **p) {
    while (**p && isspace((unsigned char)**p)) (*p)++;
}

/* A quoted Python string into out (at most n - 1 chars). */
static int parse_str(const char **p, char *out, size_t n) {
    char q = **p;
    if (q != '\'' && q != '"') return 0;
    const char *s = ++*p;
    while (**p && **p != q) (*p)++;
    if (**p != q) return 0;
    size_t len = (size_t)(*p - s);
    if (len >= n) len = n - 1;
    memcpy(out, s, len);
    out[len] = '\0';
    (*p)++;
    return 1;
}

/* A tuple of non-negative integers: (), (5,), (2, 3). */
static int parse_shape(const char **p, npy_header *h) {
    if (**p != '(') return 0;
    (*p)++;
    h->nd = 0;
    for (;;) {
        skip_ws(p);
        if (**p == ')') {
            (*p)++;
            return 1;
        }
        if (!isdigit((unsigned char)**p) || h->nd == LN_MAX_DIM) return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(*p, &end, 10);
        if (errno || v > (unsigned long long)INT64_MAX) return 0;
        h->shape[h->nd++] = (int64_t)v;
        *p = end;
        if (**p == 'L') (*p)++; /* Python 2 longs */
        skip_ws(p);
        if (**p == ',') (*p)++;
        else if (**p != ')') return 0;
    }
}

/* Parse the header dict; on failure *why names the problem. */
static int parse_header(const char *s, npy_header *h, const char **why) {
    const char *p = s;
    memset(h, 0, sizeof *h);
    skip_ws(&p);
    if (*p++ != '{') return *why = "the header is not a dict", 0;
    for (;;) {
        char key[32];
        skip_ws(&p);
        if (*p == '}') break;
        if (!parse_str(&p, key, sizeof key)) return *why = "a header key is not a string", 0;
        skip_ws(&p);
        if (*p++ != ':') return *why = "a header key has no value", 0;
        skip_ws(&p);
        if (!strcmp(key, "descr")) {
            if (!parse_str(&p, h->descr, sizeof h->descr))
                return *why = "'descr' is not a plain dtype string (structured dtypes are not supported)", 0;
            h->have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (!strncmp(p, "True", 4)) h->fortran = 1, p += 4;
            else if (!strncmp(p, "False", 5)) h->fortran = 0, p += 5;
            else return *why = "'fortran_order' is not True or False", 0;
            h->have_fortran = 1;
        } else if (!strcmp(key, "shape")) {
            if (!parse_shape(&p, h))
                return *why = "'shape' is not a tuple of at most 8 sizes", 0;
            h->have_shape = 1;
        } else {
            return *why = "unknown key in the header", 0;
        }
        skip_ws(&p);
        if (*p == ',') p++;
        else if (*p != '}') return *why = "the header dict is malformed", 0;
    }
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return *why = "the header lacks 'descr', 'fortran_order' or 'shape'", 0;
    return 1;
}

/* dtype of a descr: returns the item size, 0 if unsupported. */
static size_t descr_type(const char *d, ln_dtype *dt, char *kind) {
    static const struct { const char *s; size_t size; ln_dtype dt; char kind; } map[] = {
        {"<f4", 4, LN_FLOAT32, 'f'}, {"<f8", 8, LN_FLOAT32, 'f'},
        {"<i4", 4, LN_INT32, 'i'},   {"<i8", 8, LN_INT32, 'i'},
        {"|u1", 1, LN_UINT8, 'u'},   {"<u1", 1, LN_UINT8, 'u'},
        {"|b1", 1, LN_UINT8, 'b'},
    };
    char norm[16];
    snprintf(norm, sizeof norm, "%s", d);
    if (norm[0] == '=') norm[0] = '<'; /* native: little-endian here */
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(norm, map[i].s)) {
            *dt = map[i].dt;
            *kind = map[i].kind;
            return map[i].size;
        }
    return 0;
}

/* Convert n items of the file's type into t. Fails (returns the index + 1
** of the first bad value) for int64 values outside int32. */
static int64_t convert(ln_tensor *t, int64_t at, const unsigned char *p,
                       int64_t n, size_t size, char kind) {
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *q = p + (size_t)i * size;
        if (kind == 'f' && size == 4) memcpy(ln_f32(t) + at + i, q, 4);
        else if (kind == 'f') {
            double d;
            memcpy(&d, q, 8);
            ln_f32(t)[at + i] = (float)d;
        } else if (kind == 'i' && size == 4) memcpy(ln_i32(t) + at + i, q, 4);
        else if (kind == 'i') {
            int64_t v;
            memcpy(&v, q, 8);
            if (v < INT32_MIN || v > INT32_MAX) return at + i + 1;
            ln_i32(t)[at + i] = (int32_t)v;
        } else if (kind == 'b') ln_u8(t)[at + i] = q[0] != 0;
        else ln_u8(t)[at + i] = q[0];
    }
    return 0;
}

ln_status ln_load_npy(ln_ctx *ctx, const char *path, ln_tensor **out) {
    *out = NULL;
    FILE *f = ln_fopen_read(ctx, "load_npy", path);
    if (!f) return ctx->status;
    ln_status st = LN_OK;
    char *hdr = NULL;
    unsigned char *buf = NULL;
    ln_tensor *t = NULL;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6)) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: wrong magic: not a .npy "
                     "file (want \\x93NUMPY)", path);
        goto done;
    }
    int major = pre[6];
    uint32_t hlen;
    int64_t pre_len;
    if (major == 1) {
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) < 2) {
            st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: truncated header", path);
            goto done;
        }
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
               (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
        pre_len = 12;
    } else {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: format version %d.%d is "
                     "not supported (1.x, 2.x, 3.x are)", path, major, pre[7]);
        goto done;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = ln_fail(ctx, LN_E_IO, "load_npy: %s: cannot stat: %s", path,
                     strerror(errno));
        goto done;
    }
    if (hlen > NPY_MAX_HEADER || (int64_t)hlen > (int64_t)sb.st_size - pre_len) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: the header claims %u "
                     "bytes (limit %u, file %lld bytes)", path, hlen,
                     NPY_MAX_HEADER, (long long)sb.st_size);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) < hlen) {
        st = ln_fail(ctx, hdr ? LN_E_FORMAT : LN_E_NOMEM, "load_npy: %s: %s",
                     path, hdr ? "truncated header" : "out of memory");
        goto done;
    }
    hdr[hlen] = '\0';
    npy_header h;
    const char *why = "";
    if (!parse_header(hdr, &h, &why)) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: bad header: %s", path, why);
        goto done;
    }
    ln_dtype dt;
    char kind;
    size_t size = descr_type(h.descr, &dt, &kind);
    if (!size) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: dtype '%s' is not "
                     "supported (float32, float64, int32, int64, uint8, bool; "
                     "little-endian)", path, h.descr);
        goto done;
    }
    if (h.fortran) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: Fortran-order arrays are "
                     "not supported (save with np.ascontiguousarray)", path);
        goto done;
    }
    int64_t numel = 1;
    size_t widest = size > ln_dtype_size(dt) ? size : ln_dtype_size(dt);
    for (int i = 0; i < h.nd; i++) {
        if (h.shape[i] && numel > LN_IO_MAX_BYTES / (int64_t)widest / h.shape[i]) {
            st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: shape claims more "
                         "than the %lld-byte limit", path,
                         (long long)LN_IO_MAX_BYTES);
            goto done;
        }
        numel *= h.shape[i];
    }
    int64_t want = numel * (int64_t)size;
    int64_t have = (int64_t)sb.st_size - pre_len - (int64_t)hlen;
    if (have != want) {
        st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: %s: shape and dtype need "
                     "%lld data bytes, the file has %lld", path,
                     have < want ? "truncated" : "trailing data",
                     (long long)want, (long long)have);
        goto done;
    }
    t = ln_tensor_new(ctx, dt, h.nd, h.shape);
    if (!t) {
        st = ln_prefix(ctx, "load_npy: %s", path);
        goto done;
    }
    const size_t chunk = (size_t)4 << 20;
    int64_t per = (int64_t)(chunk / size), done_n = 0;
    buf = malloc(chunk);
    if (!buf) {
        st = ln_fail(ctx, LN_E_NOMEM, "load_npy: %s: out of memory", path);
        goto done;
    }
    while (done_n < numel) {
        int64_t k = numel - done_n < per ? numel - done_n : per;
        if (fread(buf, size, (size_t)k, f) < (size_t)k) {
            st = ln_fail(ctx, LN_E_IO, "load_npy: %s: read error after %lld "
                         "items", path, (long long)done_n);
            goto done;
        }
        int64_t bad = convert(t, done_n, buf, k, size, kind);
        if (bad) {
            st = ln_fail(ctx, LN_E_FORMAT, "load_npy: %s: int64 value at "
                         "position %lld does not fit in int32", path,
                         (long long)bad);
            goto done;
        }
        done_n += k;
    }
done:
    if (st) ln_tensor_release(t);
    else *out = t;
    free(buf);
    free(hdr);
    fclose(f);
    return st;
}

static const char *npy_descr(ln_dtype d) {
    return d == LN_FLOAT32 ? "<f4" : d == LN_INT32 ? "<i4" : "|u1";
}

ln_status ln_save_npy(ln_ctx *ctx, const char *path, const ln_tensor *t) {
    char hdr[512], dims[256] = "";
    size_t k = 0;
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(dims + k, sizeof dims - k, "%lld,%s",
                              (long long)t->shape[i],
                              i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1) dims[k - 1] = '\0'; /* (2, 3) but (5,) */
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': "
                       "False, 'shape': (%s), }", npy_descr(t->dtype), dims);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    memset(hdr + len, ' ', (size_t)pad);
    hdr[len + pad] = '\n';
    uint16_t hlen = (uint16_t)(len + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    size_t bytes = (size_t)t->numel * ln_dtype_size(t->dtype);
    ln_atomic *a = ln_atomic_open(ctx, "save_npy", path, 0);
    if (!a) return ctx->status;
    ln_status st = ln_atomic_write(ctx, a, pre, 10);
    if (!st) st = ln_atomic_write(ctx, a, hdr, hlen);
    if (!st && bytes) st = ln_atomic_write(ctx, a, ln_data(t), bytes);
    return st ? st : ln_atomic_commit(ctx, a);
}
