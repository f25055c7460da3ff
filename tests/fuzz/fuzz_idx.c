/*
** fuzz_idx.c -- the IDX reader (ln_read_idx, and ln_read_idx_as float32),
** plain and gzip.
**
** Input: one flag byte, then the file. Flag bit 0 gzips the rest before it
** is written (so the gzip path sees meaningful IDX data, not only corrupt
** streams); bits 1-3 then cut that many sixteenths off the compressed
** stream's end; bit 4 appends a second gzip member. Without bit 0 the rest
** is the file as is (it may itself start with the gzip magic).
**
** Oracle: an independent decoder of the (uncompressed) bytes says whether
** the file is a well-formed IDX file and what it holds. A well-formed plain
** file must load with exactly the decoded shape, dtype and values; a
** malformed one must be refused with a message naming read_idx and the
** file; no tensor may leak either way.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lunet/io.h"
#include "lunet/tensor_ops.h"
#include "fuzz_util.h"

/* gzip data[0..n) into a malloc'ed buffer (*out_n bytes). */
static uint8_t *gzip_bytes(const uint8_t *data, size_t n, size_t *out_n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    FZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK,
             "deflateInit2");
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *buf = malloc(cap);
    FZ_CHECK(buf != NULL, "out of memory");
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    FZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return buf;
}

typedef struct idx_ref {
    int valid;   /* 1: the reader must accept; 0: refuse; -1: either */
    int code, nd;
    int64_t shape[LN_MAX_DIM];
    size_t fsize, hlen;
    ln_dtype dtype;
} idx_ref;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The independent reading of the uncompressed bytes d[0..n). */
static idx_ref reference(const uint8_t *d, size_t n) {
    idx_ref r;
    memset(&r, 0, sizeof r);
    if (n < 4 || d[0] || d[1]) return r;
    r.code = d[2];
    switch (r.code) {
    case 0x08: r.fsize = 1, r.dtype = LN_UINT8; break;
    case 0x09: r.fsize = 1, r.dtype = LN_INT32; break;
    case 0x0B: r.fsize = 2, r.dtype = LN_INT32; break;
    case 0x0C: r.fsize = 4, r.dtype = LN_INT32; break;
    case 0x0D: r.fsize = 4, r.dtype = LN_FLOAT32; break;
    case 0x0E: r.fsize = 8, r.dtype = LN_FLOAT32; break;
    default: return r;
    }
    r.nd = d[3];
    r.hlen = 4 + 4 * (size_t)r.nd;
    if (r.nd < 1 || r.nd > LN_MAX_DIM || n < r.hlen) return r;
    /* element counts in floating point, so nothing overflows; the limit
    ** applies to the converted size (int8 and int16 widen to int32) */
    size_t widest = r.dtype == LN_UINT8 ? 1 : 4;
    if (r.fsize > widest) widest = r.fsize;
    double count = 1, nonzero = 1;
    int too_big = 0;
    for (int i = 0; i < r.nd; i++) {
        r.shape[i] = be32(d + 4 + 4 * i);
        count *= (double)r.shape[i];
        if (r.shape[i]) nonzero *= (double)r.shape[i];
        if (nonzero * (double)widest > (double)LN_IO_MAX_BYTES) too_big = 1;
    }
    int exact = (double)(n - r.hlen) == count * (double)r.fsize;
    /* an empty file whose other dims are huge may be refused */
    r.valid = too_big ? (exact ? -1 : 0) : exact;
    return r;
}

/* Element i of the decoded data, as a double. */
static double ref_value(const idx_ref *r, const uint8_t *body, int64_t i) {
    const uint8_t *p = body + (size_t)i * r->fsize;
    switch (r->code) {
    case 0x08: return p[0];
    case 0x09: return (int8_t)p[0];
    case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
        double x;
        memcpy(&x, &u, 8);
        return (float)x;
    }
    }
}

/* The loaded tensor holds what the file's first bytes say. */
static void check_loaded(const uint8_t *plain, size_t n, const ln_tensor *t) {
    idx_ref r = reference(plain, n);
    FZ_CHECK(r.valid != 0, "read_idx accepted a malformed file (%zu bytes, "
             "type %02x, %d dims)", n, r.code, r.nd);
    FZ_CHECK(t->dtype == r.dtype, "dtype %s for type %02x",
             ln_dtype_name(t->dtype), r.code);
    FZ_CHECK(t->ndim == r.nd, "ndim %d, header says %d", t->ndim, r.nd);
    for (int i = 0; i < r.nd; i++)
        FZ_CHECK(t->shape[i] == r.shape[i], "dim %d: %lld, header %lld", i,
                 (long long)t->shape[i], (long long)r.shape[i]);
    for (int64_t i = 0; i < t->numel; i++) {
        double want = ref_value(&r, plain + r.hlen, i), got = ln_get_f64(t, i);
        FZ_CHECK(got == want || (isnan(got) && isnan(want)),
                 "element %lld: %g, file holds %g", (long long)i, got, want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_set_input(data, size);
    if (size < 1) return 0;
    uint8_t flags = data[0];
    const uint8_t *raw = data + 1;
    size_t n = size - 1;
    /* plain: the uncompressed content the reader should see */
    uint8_t *plain = malloc(n + 8 + 1), *gz = NULL;
    FZ_CHECK(plain != NULL, "out of memory");
    memcpy(plain, raw, n);
    size_t plain_n = n;
    const uint8_t *file = raw;
    size_t file_n = n;
    int cut = 0, gzipped = flags & 1;
    if (gzipped) {
        gz = gzip_bytes(raw, n, &file_n);
        cut = (flags >> 1) & 7;
        if (flags & 16) { /* a second member: zlib reads on through it */
            size_t k = n < 8 ? n : 8, n2;
            uint8_t *more = gzip_bytes(raw, k, &n2);
            uint8_t *both = realloc(gz, file_n + n2);
            FZ_CHECK(both != NULL, "out of memory");
            memcpy(both + file_n, more, n2);
            free(more);
            gz = both;
            file_n += n2;
            memcpy(plain + n, raw, k);
            plain_n += k;
        }
        file_n -= file_n * (size_t)cut / 16;
        file = gz;
    } else if (n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        plain_n = 0; /* a gzip stream of its own: content unknown */
    }
    const char *path = fz_put_file(file, file_n);
    fz_live before = fz_live_now();
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = (ln_tensor *)0x1;
    ln_status st = ln_read_idx(&ctx, path, &t);
    fz_check_result(&ctx, st, t, "read_idx: ", path);
    if (st == LN_OK && plain_n) {
        /* a cut stream may still hold a whole file: its loaded prefix */
        size_t used = 4 + 4 * (size_t)t->ndim;
        idx_ref r = reference(plain, plain_n);
        used += (size_t)t->numel * (r.fsize ? r.fsize : 1);
        FZ_CHECK(cut || used == plain_n, "read_idx used %zu of %zu bytes",
                 used, plain_n);
        check_loaded(plain, used <= plain_n ? used : plain_n, t);
    }
    if (st == LN_OK) { /* read again as float32: the same values, unless
                        ** float32 passes the byte limit */
        ln_tensor *f = NULL;
        ln_status sf = ln_read_idx_as(&ctx, path, LN_FLOAT32, &f);
        double claimed = 4; /* bytes of the nonzero dims' product as float32 */
        for (int i = 0; i < t->ndim; i++)
            if (t->shape[i]) claimed *= (double)t->shape[i];
        if (sf != LN_OK && claimed > (double)LN_IO_MAX_BYTES) {
            FZ_CHECK(strstr(ctx.msg, "limit") != NULL, "as float32, over the "
                     "limit, refused for another reason: %s", ctx.msg);
        } else {
            FZ_CHECK(sf == LN_OK, "read as float32 refused a file read as is: %s",
                     ctx.msg);
            FZ_CHECK(f->dtype == LN_FLOAT32 && f->numel == t->numel,
                     "as float32: %s of %lld elements, want %lld",
                     ln_dtype_name(f->dtype), (long long)f->numel,
                     (long long)t->numel);
            for (int64_t i = 0; i < t->numel; i++) {
                float want = (float)ln_get_f64(t, i), got = ln_f32(f)[i];
                FZ_CHECK(got == want || (isnan(got) && isnan(want)),
                         "as float32, element %lld: %g, read as is %g",
                         (long long)i, got, want);
            }
            ln_tensor_release(f);
        }
    }
    if (st != LN_OK && plain_n && !cut)
        FZ_CHECK(reference(plain, plain_n).valid != 1,
                 "a well-formed IDX file%s was refused: %s",
                 gzipped ? " (gzip)" : "", ctx.msg);
    ln_tensor_release(st == LN_OK ? t : NULL);
    fz_live_check(before, "read_idx");
    free(gz);
    free(plain);
    return 0;
}
