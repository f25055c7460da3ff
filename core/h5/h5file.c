/*
** h5file.c -- model files over libhdf5: creation in memory, committed
** through ln_atomic_write_file (atomic_write.h), careful opening (refusing empty,
** foreign, truncated and corrupt files by name), groups and datasets.
** Attributes live in h5file_attr.c, datasets in h5file_data.c; shared
** helpers in h5file_impl.h.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lunet/atomic_write.h"
#include "h5file_impl.h"
#include "lunet/safe_open.h"

/* ---- errors ------------------------------------------------------------------ */

/* The innermost HDF5 error (where it arose) is the most specific one:
** "truncated file: eof = 800, ...", "bad object header version number". */
static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc && e->desc[0])
        snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

void lnh5_reason(char *buf, size_t n) {
    char inner[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, inner);
    H5Eclear2(H5E_DEFAULT);
    if (inner[0]) snprintf(buf, n, " (HDF5: %s)", inner);
    else if (n) buf[0] = '\0';
}

ln_status lnh5_fail(ln_ctx *ctx, const ln_h5 *f, ln_status code,
                    const char *fmt, ...) {
    char what[LN_MSG_MAX / 2], why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    lnh5_reason(why, sizeof why);
    return ln_fail(ctx, code, "%s: %s%s", f ? f->path : "?", what, why);
}

void lnh5_init(void) {
    /* HDF5 prints its error stack on stderr by default: we report
    ** ourselves. Per thread in thread-safe builds, so done on every entry. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

const char *lnh5_norm(const char *path) {
    return (!path || !path[0]) ? "/" : path;
}

/* ---- objects -------------------------------------------------------------------- */

/* Does every prefix of path exist as a link? 1 yes, 0 no, -1 when HDF5
** fails to look (a damaged file; its reason stays on HDF5's stack).
** H5Lexists fails when an intermediate group is missing, so each level is
** checked in turn. */
static int path_exists(hid_t file, const char *path) {
    char buf[1024];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char keep = buf[i];
        buf[i] = '\0';
        htri_t r = (i == 1 && buf[0] == '/') ? 1 : H5Lexists(file, buf, H5P_DEFAULT);
        buf[i] = keep;
        if (r <= 0) return r < 0 ? -1 : 0;
    }
    return 1;
}

ln_h5_kind ln_h5_kind_of(const ln_h5 *f, const char *path) {
    path = lnh5_norm(path);
    if (!f || f->file < 0) return LN_H5_NONE;
    if (!strcmp(path, "/")) return LN_H5_GROUP;
    int e = path_exists(f->file, path);
    if (e <= 0) {
        if (e == 0) H5Eclear2(H5E_DEFAULT);
        return e < 0 ? LN_H5_CORRUPT : LN_H5_NONE;
    }
    hid_t o = H5Oopen(f->file, path, H5P_DEFAULT);
    if (o < 0) return LN_H5_CORRUPT;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    return t == H5I_GROUP ? LN_H5_GROUP : t == H5I_DATASET ? LN_H5_DATASET
                                                           : LN_H5_OTHER;
}

ln_status ln_h5_lookup(ln_ctx *ctx, const ln_h5 *f, const char *path,
                     ln_h5_kind *out) {
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k == LN_H5_CORRUPT) return lnh5_corrupt(ctx, f, path);
    *out = k;
    return LN_OK;
}

ln_status lnh5_corrupt(ln_ctx *ctx, const ln_h5 *f, const char *path) {
    return lnh5_fail(ctx, f, LN_E_FORMAT, "'%s' cannot be looked up: the file "
                     "is corrupt", lnh5_norm(path));
}

hid_t lnh5_open_object(ln_ctx *ctx, const ln_h5 *f, const char *path) {
    path = lnh5_norm(path);
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k == LN_H5_NONE) {
        lnh5_fail(ctx, f, LN_E_NOTFOUND, "no object '%s'", path);
        return -1;
    }
    if (k == LN_H5_CORRUPT) {
        lnh5_corrupt(ctx, f, path);
        return -1;
    }
    hid_t o = H5Oopen(f->file, path, H5P_DEFAULT);
    if (o < 0)
        lnh5_fail(ctx, f, LN_E_FORMAT, "'%s' cannot be opened (corrupt file?)",
                  path);
    return o;
}

hid_t lnh5_parents_lcpl(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0) H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

ln_status lnh5_need_writable(ln_ctx *ctx, const ln_h5 *f, const char *what) {
    if (!f || f->file < 0)
        return ln_fail(ctx, LN_E_STATE, "%s: the file is closed", what);
    if (!f->writing)
        return ln_fail(ctx, LN_E_STATE, "%s: %s: the file is open for reading",
                       f->path, what);
    return LN_OK;
}

ln_status ln_h5_group(ln_ctx *ctx, ln_h5 *f, const char *path) {
    ln_status st = lnh5_need_writable(ctx, f, "group");
    if (st) return st;
    path = lnh5_norm(path);
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k == LN_H5_GROUP) return LN_OK;
    if (k == LN_H5_CORRUPT) return lnh5_corrupt(ctx, f, path);
    if (k != LN_H5_NONE)
        return lnh5_fail(ctx, f, LN_E_ARG, "cannot create group '%s': a "
                         "dataset of that name exists", path);
    hid_t lcpl = lnh5_parents_lcpl();
    hid_t g = H5Gcreate2(f->file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0)
        return lnh5_fail(ctx, f, LN_E_IO, "cannot create group '%s'", path);
    H5Gclose(g);
    return LN_OK;
}

/* ---- listing ---------------------------------------------------------------------- */

typedef struct name_list {
    int n, cap, failed;
    char **v;
} name_list;

static int list_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **nv = realloc(l->v, sizeof *nv * (size_t)cap);
        if (!nv) return l->failed = 1, -1;
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return l->failed = 1, -1;
    l->n++;
    return 0;
}

static herr_t on_attr(hid_t loc, const char *name, const H5A_info_t *info,
                      void *data) {
    (void)loc, (void)info;
    return list_add(data, name);
}

static herr_t on_link(hid_t loc, const char *name, const H5L_info_t *info,
                      void *data) {
    (void)loc, (void)info;
    return list_add(data, name);
}

void ln_h5_free_strings(int n, char **v) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

ln_status ln_h5_list(ln_ctx *ctx, const ln_h5 *f, const char *path, int attrs,
                     int *n, char ***names) {
    path = lnh5_norm(path);
    hid_t o = lnh5_open_object(ctx, f, path);
    if (o < 0) return ctx->status;
    name_list l = {0, 0, 0, NULL};
    herr_t r;
    if (attrs) {
        r = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &l);
    } else if (H5Iget_type(o) != H5I_GROUP) {
        H5Oclose(o);
        return lnh5_fail(ctx, f, LN_E_ARG, "'%s' is not a group", path);
    } else {
        r = H5Literate(o, H5_INDEX_NAME, H5_ITER_INC, NULL, on_link, &l);
    }
    H5Oclose(o);
    if (r < 0 || l.failed) {
        ln_h5_free_strings(l.n, l.v);
        if (l.failed) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
        return lnh5_fail(ctx, f, LN_E_FORMAT, "the %s of '%s' cannot be listed "
                         "(corrupt file?)", attrs ? "attributes" : "members", path);
    }
    *n = l.n;
    *names = l.v;
    return LN_OK;
}

/* ---- creating and committing ------------------------------------------------------ */

static void h5_free(ln_h5 *f) {
    free(f->path);
    free(f);
}

/* The file-access properties of every file we open: closing the file
** closes whatever is still open in it. */
static hid_t strong_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    return fapl;
}

ln_h5 *ln_h5_create(ln_ctx *ctx, const char *path, int flags) {
    lnh5_init();
    /* the target is checked now (a clear error before the model is
    ** written) and again when committing */
    if (ln_atomic_check(ctx, NULL, path, flags)) return NULL;
    ln_h5 *f = calloc(1, sizeof *f);
    size_t len = strlen(path) + 32;
    char *mem = malloc(len);
    if (!f || !mem || !(f->path = strdup(path))) {
        free(mem);
        if (f) h5_free(f);
        ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    f->file = -1;
    f->writing = 1;
    f->flags = flags;
    /* HDF5 builds the file in memory (the core driver, no backing store:
    ** the name below is never created); ln_h5_commit hands the finished
    ** image to ln_atomic_write_file, so every disk error (a full disk) is
    ** ours to report cleanly and HDF5 never holds a half-written file. */
    static unsigned serial;
    snprintf(mem, len, "%s.in-memory-%u", path, ++serial);
    hid_t fapl = strong_fapl();
    if (fapl >= 0) H5Pset_fapl_core(fapl, 1 << 20, 0);
    f->file = fapl < 0 ? -1 : H5Fcreate(mem, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    free(mem);
    if (fapl >= 0) H5Pclose(fapl);
    if (f->file < 0) {
        lnh5_fail(ctx, f, LN_E_IO, "cannot create the HDF5 file");
        ln_h5_close(f);
        return NULL;
    }
    return f;
}

ln_status ln_h5_commit(ln_ctx *ctx, ln_h5 *f) {
    if (!f) return ln_fail(ctx, LN_E_STATE, "commit: no file");
    ln_status st = lnh5_need_writable(ctx, f, "commit");
    if (st) {
        ln_h5_close(f);
        return st;
    }
    unsigned char *image = NULL;
    ssize_t size = H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0
                       ? -1 : H5Fget_file_image(f->file, NULL, 0);
    if (size <= 0 || !(image = malloc((size_t)size))) {
        st = size <= 0 ? lnh5_fail(ctx, f, LN_E_IO, "cannot finish the HDF5 file")
                       : ln_fail(ctx, LN_E_NOMEM, "%s: out of memory (%lld bytes)",
                                 f->path, (long long)size);
        ln_h5_close(f);
        return st;
    }
    if (H5Fget_file_image(f->file, image, (size_t)size) != size) {
        free(image);
        st = lnh5_fail(ctx, f, LN_E_IO, "cannot finish the HDF5 file");
        ln_h5_close(f);
        return st;
    }
    H5Fclose(f->file);
    f->file = -1;
    st = ln_atomic_write_file(ctx, NULL, f->path, image, (size_t)size, f->flags);
    free(image);
    ln_h5_close(f);
    return st;
}

void ln_h5_close(ln_h5 *f) {
    if (!f) return;
    if (f->file >= 0) H5Fclose(f->file);
    H5Eclear2(H5E_DEFAULT);
    h5_free(f);
}

const char *ln_h5_path(const ln_h5 *f) { return f ? f->path : NULL; }

int ln_h5_writable(const ln_h5 *f) { return f && f->writing && f->file >= 0; }

/* ---- opening ------------------------------------------------------------------------ */

static const unsigned char h5_signature[8] = {0x89, 'H', 'D', 'F',
                                               '\r', '\n', 0x1a, '\n'};

/* What the first bytes of a foreign file look like, for the message. */
static void describe(const unsigned char *b, size_t n, char *out, size_t cap) {
    static const struct { const char *magic; size_t len; const char *what; } kinds[] = {
        {"\x89PNG\r\n\x1a\n", 8, "it is a PNG image"},
        {"PK\x03\x04", 4, "it is a zip archive (a Keras 3 .keras file?)"},
        {"\x93NUMPY", 6, "it is a numpy .npy file"},
        {"\x1f\x8b", 2, "it is gzip-compressed data"},
        {"\x7f" "ELF", 4, "it is an ELF executable or library"},
        {"\xff\xd8\xff", 3, "it is a JPEG image"},
        {"%PDF", 4, "it is a PDF document"},
        {"CDF\x01", 4, "it is a netCDF classic file"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (n >= kinds[i].len && !memcmp(b, kinds[i].magic, kinds[i].len)) {
            snprintf(out, cap, "%s", kinds[i].what);
            return;
        }
    size_t k = 0;
    while (k < n && k < 24 && b[k] >= 0x20 && b[k] < 0x7f) k++;
    size_t first = 0;
    while (first < n && (b[first] == ' ' || b[first] == '\n' || b[first] == '\t' || b[first] == '\r')) first++;
    if (first < n && (b[first] == '{' || b[first] == '['))
        snprintf(out, cap, "it looks like JSON text (a model config? read it "
                 "with ln.models.model_from_json)");
    else if (k >= 4)
        snprintf(out, cap, "it starts with the text \"%.*s\"", (int)k, b);
    else
        snprintf(out, cap, "no HDF5 signature found");
}

/* Look for the HDF5 signature where the format allows it: offset 0, 512,
** 1024, 2048, ... (after a user block). Returns 1 if found, 0 if not, -1
** on a read error (errno set). head gets the first bytes of the file. */
static int find_signature(int fd, off_t size, unsigned char *head,
                          size_t *head_len) {
    ssize_t got = pread(fd, head, 64, 0);
    if (got < 0) return -1;
    *head_len = (size_t)got;
    for (off_t at = 0; at + 8 <= size; at = at ? 2 * at : 512) {
        unsigned char sig[8];
        ssize_t r = pread(fd, sig, 8, at);
        if (r < 0) return -1;
        if (r == 8 && !memcmp(sig, h5_signature, 8)) return 1;
    }
    return 0;
}

/* ---- a guard for libhdf5 --------------------------------------------------------- */

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Walk the objects of the global heap collection at `at` (already seen to
** start with "GCOL") the way libhdf5 does. 1: damaged, 0: sound or not a
** collection at all, -1: read error. */
static int damaged_collection(int fd, off_t at, off_t fsize) {
    unsigned char head[16];
    if (pread(fd, head, 16, at) != 16) return 0;
    uint64_t size = le64(head + 8);
    /* Not a collection (a chance "GCOL" in data), or one HDF5 refuses by
    ** itself (too small, past the end, absurdly large). */
    if (head[4] != 1 || size < 4096 || size > (uint64_t)(fsize - at) ||
        size > ((uint64_t)1 << 28))
        return 0;
    unsigned char *c = malloc((size_t)size);
    if (!c) return 0;
    int bad = 0;
    if (pread(fd, c, (size_t)size, at) != (ssize_t)size) {
        free(c);
        return -1;
    }
    for (uint64_t p = 16; p < size && !bad;) {
        if (p + 16 > size) break; /* a tail too small for a header: free */
        unsigned idx = (unsigned)c[p] | (unsigned)c[p + 1] << 8;
        uint64_t osz = le64(c + p + 8);
        uint64_t need;
        if (idx > 0)
            need = osz > size ? 0 : 16 + ((osz + 7) & ~(uint64_t)7);
        else
            need = osz; /* the free-space record spans the rest */
        if (need == 0 || need > size - p) bad = 1;
        p += need;
    }
    free(c);
    return bad;
}

/* libhdf5 1.10 loops forever on a global heap collection whose free-space
** record claims 0 bytes, and walks out of its buffer on sizes past the
** collection's end. The global heap holds every variable-length string --
** all the root attributes of a model file -- so the collections are
** checked before HDF5 reads any: the file is scanned for their signature
** and each one is walked here first. *where gets the damaged one's offset.
** 1: damaged, 0: fine, -1: read error (errno). */
static int damaged_heaps(int fd, off_t fsize, off_t *where) {
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK + 3);
    if (!buf) return 0;
    int r = 0;
    for (off_t off = 0; off < fsize && !r; off += CHUNK) {
        ssize_t n = pread(fd, buf, CHUNK + 3, off);
        if (n < 0) {
            r = -1;
            break;
        }
        for (ssize_t i = 0; i + 4 <= n && i < CHUNK && !r; i++) {
            unsigned char *hit = memchr(buf + i, 'G', (size_t)(n - i));
            if (!hit) break;
            i = hit - buf;
            if (i + 4 > n || i >= CHUNK) break;
            if (memcmp(hit, "GCOL", 4)) continue;
            r = damaged_collection(fd, off + i, fsize);
            if (r > 0) *where = off + i;
        }
    }
    free(buf);
    return r;
}

ln_h5 *ln_h5_open(ln_ctx *ctx, const char *path) {
    lnh5_init();
    if (!path || !path[0]) {
        ln_fail(ctx, LN_E_ARG, "open: no file name given");
        return NULL;
    }
    if (ln_check_read(ctx, NULL, path)) return NULL; /* never a FIFO: no hang */
    struct stat sb;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        ln_fail(ctx, LN_E_IO, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        ln_fail(ctx, LN_E_IO, "%s: is a folder, not a file", path);
        return NULL;
    }
    unsigned char head[64];
    size_t hn = 0;
    int found = sb.st_size > 0 ? find_signature(fd, sb.st_size, head, &hn) : 0;
    off_t where = 0;
    int damaged = found > 0 ? damaged_heaps(fd, sb.st_size, &where) : 0;
    int err = errno;
    close(fd);
    if (found < 0 || damaged < 0) {
        ln_fail(ctx, LN_E_IO, "%s: cannot read: %s", path, strerror(err));
        return NULL;
    }
    if (damaged) {
        ln_fail(ctx, LN_E_FORMAT, "%s: corrupt HDF5 file: the global heap "
                "collection at byte %lld is damaged", path, (long long)where);
        return NULL;
    }
    if (!found) {
        char what[160];
        if (sb.st_size == 0) snprintf(what, sizeof what, "the file is empty (0 bytes)");
        else if (sb.st_size < 8)
            snprintf(what, sizeof what, "only %lld bytes long", (long long)sb.st_size);
        else describe(head, hn, what, sizeof what);
        ln_fail(ctx, LN_E_FORMAT, "%s: not an HDF5 file: %s", path, what);
        return NULL;
    }
    ln_h5 *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hid_t fapl = strong_fapl();
    f->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->file < 0) {
        lnh5_fail(ctx, f, LN_E_FORMAT, "corrupt or truncated HDF5 file "
                  "(%lld bytes)", (long long)sb.st_size);
        h5_free(f);
        return NULL;
    }
    return f;
}
