/*
** io_idx.c -- IDX files (LeCun's MNIST format), plain or gzip.
**
** Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16,
** 0x0C int32, 0x0D float32, 0x0E float64), the number of dims, then one
** big-endian uint32 per dim, then the data in C order, big-endian.
**
** A plain file's size must equal header + data exactly (checked with stat
** before allocating). A gzip stream's size is only known by inflating it,
** so the data is inflated into 4 MiB chunks first -- never more than the
** stream really holds, and at most the claimed size plus one byte -- and
** the tensor is allocated only once the byte count matches the header.
** The chunks are mapped pages of their own, each unmapped as soon as it is
** converted, so reading 47 MB of images as float32 peaks near the 188 MB
** result, not at the two side by side.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lunet/io.h"
#include "lunet/memory.h"
#include "lunet/safe_open.h"
#include "pages.h"
#include "par_for.h"

#define CHUNK ((size_t)4 << 20)

typedef struct idx_src {
    const char *path;
    FILE *f;   /* plain file */
    gzFile gz; /* gzip stream */
} idx_src;

/* Read up to n bytes; returns the count, or -1 on a read/inflate error
** (message in ctx). */
static int64_t src_read(ln_ctx *ctx, idx_src *s, void *buf, size_t n) {
    if (s->f) {
        size_t got = fread(buf, 1, n, s->f);
        if (got < n && ferror(s->f)) {
            ln_fail(ctx, LN_E_IO, "read_idx: %s: read error: %s", s->path,
                    strerror(errno));
            return -1;
        }
        return (int64_t)got;
    }
    size_t total = 0;
    while (total < n) { /* gzread takes an unsigned count */
        unsigned part = n - total > (1u << 30) ? (1u << 30) : (unsigned)(n - total);
        int got = gzread(s->gz, (char *)buf + total, part);
        if (got < 0) {
            int err;
            const char *m = gzerror(s->gz, &err);
            ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: corrupt gzip data: %s",
                    s->path, m ? m : "inflate error");
            return -1;
        }
        if (got == 0) break;
        total += (size_t)got;
    }
    return (int64_t)total;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Element size in the file and the tensor dtype for an IDX type byte. */
static int idx_type(int code, size_t *fsize, ln_dtype *dtype) {
    switch (code) {
    case 0x08: *fsize = 1, *dtype = LN_UINT8; return 1;
    case 0x09: *fsize = 1, *dtype = LN_INT32; return 1;
    case 0x0B: *fsize = 2, *dtype = LN_INT32; return 1;
    case 0x0C: *fsize = 4, *dtype = LN_INT32; return 1;
    case 0x0D: *fsize = 4, *dtype = LN_FLOAT32; return 1;
    case 0x0E: *fsize = 8, *dtype = LN_FLOAT32; return 1;
    }
    return 0;
}

/* Element i of a big-endian run of type code, widened (exact: every
** IDX type fits a double). */
static double decode(const unsigned char *p, int64_t i, int code) {
    switch (code) {
    case 0x08: return p[i];
    case 0x09: return (int8_t)p[i];
    case 0x0B: return (int16_t)((uint16_t)p[2 * i] << 8 | p[2 * i + 1]);
    case 0x0C: return (int32_t)be32(p + 4 * i);
    case 0x0D: {
        uint32_t u = be32(p + 4 * i);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    }
    uint64_t u = (uint64_t)be32(p + 8 * i) << 32 | be32(p + 8 * i + 4);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Convert n elements of type code from p into t (any dtype read_idx_as
** allows for code) at element index at. */
static void convert(ln_tensor *t, int64_t at, const unsigned char *p, int64_t n,
                    int code) {
    /* on a team: the first touch of the result's pages is most of it */
    if (t->dtype == LN_UINT8) { /* only from uint8 data */
        memcpy(ln_u8(t) + at, p, (size_t)n);
    } else if (t->dtype == LN_INT32) {
        int32_t *d = ln_i32(t) + at;
        LN_FOR(n, for (int64_t i = 0; i < n; i++) d[i] = (int32_t)decode(p, i, code););
    } else if (code == 0x08) { /* images as float32: the common case */
        float *d = ln_f32(t) + at;
        LN_FOR(n, for (int64_t i = 0; i < n; i++) d[i] = p[i];);
    } else {
        float *d = ln_f32(t) + at;
        LN_FOR(n, for (int64_t i = 0; i < n; i++) d[i] = (float)decode(p, i, code););
    }
}

/* The dtype data of type code reads as when the caller asks for `as`
** (LN_IDX_NATIVE: the file's own); 0 if `as` cannot hold it. */
static int target_dtype(int code, ln_dtype native, int as, ln_dtype *out) {
    int integer = code != 0x0D && code != 0x0E;
    if (as == LN_IDX_NATIVE) *out = native;
    else if (as == LN_FLOAT32) *out = LN_FLOAT32;
    else if (as == LN_INT32 && integer) *out = LN_INT32;
    else if (as == LN_UINT8 && code == 0x08) *out = LN_UINT8;
    else return 0;
    return 1;
}

static const char *idx_type_name(int code) {
    switch (code) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    }
    return "float64";
}

/* Chunk i of an inflation of at most want + 1 bytes: CHUNK bytes, the last
** only what is left. Pages of its own, returned to the system when freed
** (a malloc'ed 4 MiB block may come from the heap and stay), in 2 MiB
** pages where the system gives them (pages.c); a small file's chunk is
** too small for one, so its few bytes do not zero a 2 MiB page (a read
** of a 10-byte gzip file: 97-99 us with 4 MiB chunks, 65-76 without). */
static size_t chunk_len(int64_t want, int64_t i) {
    int64_t left = want + 1 - i * (int64_t)CHUNK;
    return left < (int64_t)CHUNK ? (size_t)left : CHUNK;
}

static unsigned char *chunk_new(int64_t want, int64_t i) {
    return ln__pages_map(chunk_len(want, i));
}

static void chunk_free(unsigned char *p, int64_t want, int64_t i) {
    ln__pages_unmap(p, chunk_len(want, i));
}

static void chunks_free(unsigned char **list, int64_t n, int64_t want) {
    for (int64_t i = 0; i < n; i++) chunk_free(list[i], want, i);
    free(list);
}

/* Inflate the rest of a gzip stream into chunks: at most want + 1 bytes.
** *got is the byte count; *chunks and *nchunks the buffers (caller
** frees). */
static ln_status inflate_all(ln_ctx *ctx, idx_src *s, int64_t want,
                             unsigned char ***chunks, int64_t *nchunks,
                             int64_t *got) {
    unsigned char **list = NULL;
    int64_t n = 0, total = 0;
    for (;;) {
        int64_t room = want + 1 - total;
        if (room <= 0) break;
        size_t len = chunk_len(want, n); /* = min(CHUNK, room): every chunk before is full */
        unsigned char **nl = realloc(list, sizeof *list * (size_t)(n + 1));
        unsigned char *buf = nl ? chunk_new(want, n) : NULL;
        if (!buf) {
            chunks_free(nl ? nl : list, n, want);
            return ln_fail(ctx, LN_E_NOMEM, "read_idx: %s: out of memory",
                           s->path);
        }
        list = nl;
        list[n++] = buf;
        int64_t r = src_read(ctx, s, buf, len);
        if (r < 0) {
            chunks_free(list, n, want);
            return ctx->status;
        }
        total += r;
        if ((size_t)r < len) break;
    }
    *chunks = list;
    *nchunks = n;
    *got = total;
    return LN_OK;
}

static ln_status read_body(ln_ctx *ctx, idx_src *s, int is_gz, int as,
                           ln_tensor **out);

ln_status ln_read_idx(ln_ctx *ctx, const char *path, ln_tensor **out) {
    return ln_read_idx_as(ctx, path, LN_IDX_NATIVE, out);
}

ln_status ln_read_idx_as(ln_ctx *ctx, const char *path, int as,
                         ln_tensor **out) {
    *out = NULL;
    if (as != LN_IDX_NATIVE && as != LN_FLOAT32 && as != LN_INT32 && as != LN_UINT8)
        return ln_fail(ctx, LN_E_ARG, "read_idx: %s: unknown dtype %d", path, as);
    idx_src s = {path, NULL, NULL};
    FILE *f = ln_fopen_read(ctx, "read_idx", path);
    if (!f) return ctx->status;
    unsigned char m[2] = {0, 0};
    size_t nm = fread(m, 1, 2, f);
    int is_gz = nm == 2 && m[0] == 0x1f && m[1] == 0x8b;
    ln_status st;
    if (is_gz) {
        /* the file already checked and open: no second open by name */
        int fd = dup(fileno(f));
        fclose(f);
        s.gz = fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 ? gzdopen(fd, "rb") : NULL;
        if (!s.gz) {
            int err = errno;
            if (fd >= 0) close(fd);
            return ln_fail(ctx, LN_E_IO, "read_idx: %s: cannot open: %s", path,
                           strerror(err));
        }
        gzbuffer(s.gz, 1 << 18);
        st = read_body(ctx, &s, 1, as, out);
        gzclose(s.gz);
    } else {
        rewind(f);
        s.f = f;
        st = read_body(ctx, &s, 0, as, out);
        fclose(f);
    }
    return st;
}

/* Header checks, then the data: straight into the tensor for a plain file
** (its size already checked), through chunks for gzip. */
static ln_status read_body(ln_ctx *ctx, idx_src *s, int is_gz, int as,
                           ln_tensor **out) {
    const char *path = s->path;
    unsigned char head[4 + 4 * 255];
    int64_t r = src_read(ctx, s, head, 4);
    if (r < 0) return ctx->status;
    if (r < 4)
        return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: truncated: %lld bytes, "
                       "too short for an IDX header", path, (long long)r);
    size_t fsize;
    ln_dtype native, dtype;
    if (head[0] || head[1] || !idx_type(head[2], &fsize, &native))
        return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: wrong magic %02x %02x "
                       "%02x %02x: not an IDX file (want 00 00 then a type "
                       "08/09/0B/0C/0D/0E)", path, head[0], head[1], head[2],
                       head[3]);
    if (!target_dtype(head[2], native, as, &dtype))
        return ln_fail(ctx, LN_E_ARG, "read_idx: %s: %s data cannot be read as "
                       "%s (float32 holds every IDX type, int32 the integer "
                       "ones)", path, idx_type_name(head[2]),
                       as == LN_INT32 ? "int32" : "uint8");
    int nd = head[3];
    if (nd < 1 || nd > LN_MAX_DIM)
        return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: %d dimensions (1..%d "
                       "supported)", path, nd, LN_MAX_DIM);
    r = src_read(ctx, s, head + 4, 4 * (size_t)nd);
    if (r < 0) return ctx->status;
    if (r < 4 * nd)
        return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: truncated inside the "
                       "header (%d dims need %d bytes)", path, nd, 4 + 4 * nd);
    /* The product of the nonzero dims within the limit, as the tensor's own
    ** shape rule has it (ln_shape_ok), whether or not a dim is zero: so the
    ** limit depends on the dims and the result's type alone. */
    int64_t shape[LN_MAX_DIM], numel = 1;
    int empty = 0;
    size_t widest = fsize > ln_dtype_size(dtype) ? fsize : ln_dtype_size(dtype);
    int64_t limit = LN_IO_MAX_BYTES / (int64_t)widest;
    for (int i = 0; i < nd; i++) {
        shape[i] = be32(head + 4 + 4 * i);
        if (!shape[i]) {
            empty = 1;
            continue;
        }
        if (numel > limit / shape[i])
            return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: dims claim more "
                           "than the %lld-byte limit (dim %d is %lld)", path,
                           (long long)LN_IO_MAX_BYTES, i + 1,
                           (long long)shape[i]);
        numel *= shape[i];
    }
    if (empty) numel = 0;
    int64_t want = numel * (int64_t)fsize, hlen = 4 + 4 * (int64_t)nd;
    if (!is_gz) {
        struct stat sb;
        if (fstat(fileno(s->f), &sb) != 0)
            return ln_fail(ctx, LN_E_IO, "read_idx: %s: cannot stat: %s", path,
                           strerror(errno));
        int64_t have = (int64_t)sb.st_size - hlen;
        if (have != want)
            return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: %s: the header's "
                           "dims need %lld data bytes, the file has %lld", path,
                           have < want ? "truncated" : "trailing data",
                           (long long)want, (long long)have);
        ln_tensor *t = ln_tensor_empty(ctx, dtype, nd, shape);
        if (!t) return ln_prefix(ctx, "read_idx: %s", path);
        if (want == 0) {
            r = 0; /* an empty tensor: nothing to read (and no data pointer) */
        } else if (fsize == 1 && dtype == LN_UINT8) {
            r = src_read(ctx, s, ln_data(t), (size_t)want);
        } else {
            unsigned char *buf = malloc(CHUNK);
            int64_t done = 0, per = (int64_t)(CHUNK / fsize);
            r = buf ? 0 : -1;
            if (!buf) ln_fail(ctx, LN_E_NOMEM, "read_idx: %s: out of memory", path);
            while (buf && done < numel) {
                int64_t k = numel - done < per ? numel - done : per;
                int64_t g = src_read(ctx, s, buf, (size_t)k * fsize);
                if (g < 0) { r = -1; break; }
                if (g < k * (int64_t)fsize) { r = done * (int64_t)fsize + g; break; }
                convert(t, done, buf, k, head[2]);
                done += k;
                r = done * (int64_t)fsize;
            }
            free(buf);
        }
        if (r != want) {
            ln_tensor_release(t);
            if (r < 0) return ctx->status;
            return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: truncated: %lld of "
                           "%lld data bytes", path, (long long)r, (long long)want);
        }
        *out = t;
        return LN_OK;
    }
    unsigned char **chunks = NULL;
    int64_t nchunks = 0, got = 0;
    ln_status st = inflate_all(ctx, s, want, &chunks, &nchunks, &got);
    if (st) return st;
    if (got != want) {
        chunks_free(chunks, nchunks, want);
        if (got < want)
            return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: truncated: the gzip "
                           "data ends after %lld of the %lld data bytes the "
                           "header's dims need", path, (long long)got,
                           (long long)want);
        return ln_fail(ctx, LN_E_FORMAT, "read_idx: %s: trailing data: more "
                       "than the %lld data bytes the header's dims need", path,
                       (long long)want);
    }
    ln_tensor *t = ln_tensor_empty(ctx, dtype, nd, shape);
    int64_t at = 0; /* elements done */
    for (int64_t i = 0; i < nchunks; i++) {
        int64_t bytes = (i + 1 < nchunks) ? (int64_t)CHUNK : got - i * (int64_t)CHUNK;
        int64_t k = bytes / (int64_t)fsize;
        if (t && k > 0) convert(t, at, chunks[i], k, head[2]);
        at += k;
        chunk_free(chunks[i], want, i); /* as it goes: the peak is the result's */
    }
    free(chunks);
    if (!t) return ln_prefix(ctx, "read_idx: %s", path);
    *out = t;
    return LN_OK;
}
