/*
** h5file_attr.c -- string attributes of model files: scalar variable-length
** strings tagged ASCII (h5py's bytes, as Keras 2 writes them: its loaders
** .decode() what h5py 2.x gives; the bytes are UTF-8) and arrays of
** fixed-length NULLPAD ASCII strings (Keras's layer_names / weight_names),
** split into name0, name1, ... beyond LN_H5_ATTR_LIMIT bytes exactly as
** Keras splits them. Readers take either kind, scalar or array, whole or
** split.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5file_impl.h"

/* ---- writing ----------------------------------------------------------------- */

/* Remove attribute `name` and its split parts name0, name1, ... */
static void remove_attr(hid_t obj, const char *name) {
    char part[300];
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    for (int i = 0;; i++) {
        snprintf(part, sizeof part, "%s%d", name, i);
        if (H5Aexists(obj, part) <= 0) break;
        H5Adelete(obj, part);
    }
    H5Eclear2(H5E_DEFAULT);
}

/* Open the object an attribute goes on, for writing. */
static hid_t attr_target(ln_ctx *ctx, ln_h5 *f, const char *path,
                         const char *name) {
    if (lnh5_need_writable(ctx, f, "set attribute")) return -1;
    if (!name || !name[0] || strlen(name) > 250) {
        ln_fail(ctx, LN_E_ARG, "%s: bad attribute name", f->path);
        return -1;
    }
    hid_t o = lnh5_open_object(ctx, f, path);
    if (o >= 0) remove_attr(o, name);
    return o;
}

/* Create attribute `name` of (type, space) on obj and write buf. */
static ln_status put(ln_ctx *ctx, ln_h5 *f, hid_t obj, const char *path,
                     const char *name, hid_t type, hid_t space,
                     const void *buf) {
    hid_t a = type < 0 || space < 0
                  ? -1 : H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, type, buf);
    if (a >= 0) H5Aclose(a);
    if (a < 0 || r < 0)
        return lnh5_fail(ctx, f, LN_E_IO, "cannot write attribute '%s' of '%s'",
                         name, lnh5_norm(path));
    return LN_OK;
}

ln_status ln_h5_set_string(ln_ctx *ctx, ln_h5 *f, const char *path,
                           const char *name, const char *value) {
    hid_t o = attr_target(ctx, f, path, name);
    if (o < 0) return ctx->status;
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_ASCII);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    hid_t space = H5Screate(H5S_SCALAR);
    const char *v = value ? value : "";
    ln_status st = put(ctx, f, o, path, name, type, space, &v);
    H5Sclose(space);
    H5Tclose(type);
    H5Oclose(o);
    return st;
}

/* n fixed-length strings of `size` bytes (NULLPAD) from values[0..n). */
static ln_status put_fixed(ln_ctx *ctx, ln_h5 *f, hid_t obj, const char *path,
                           const char *name, int n, size_t size,
                           const char *const *values) {
    char *buf = calloc((size_t)n, size);
    if (!buf) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * size, values[i], strlen(values[i]));
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, size);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    H5Tset_cset(type, H5T_CSET_ASCII);
    hsize_t dim = (hsize_t)n;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    ln_status st = put(ctx, f, obj, path, name, type, space, buf);
    H5Sclose(space);
    H5Tclose(type);
    free(buf);
    return st;
}

ln_status ln_h5_set_strings(ln_ctx *ctx, ln_h5 *f, const char *path,
                            const char *name, int n,
                            const char *const *values) {
    hid_t o = attr_target(ctx, f, path, name);
    if (o < 0) return ctx->status;
    ln_status st = LN_OK;
    if (n <= 0) { /* Keras: an empty float64 array */
        hsize_t zero = 0;
        hid_t space = H5Screate_simple(1, &zero, NULL);
        double none = 0;
        st = put(ctx, f, o, path, name, H5T_IEEE_F64LE, space, &none);
        H5Sclose(space);
        H5Oclose(o);
        return st;
    }
    size_t size = 1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        if (len > size) size = len;
    }
    if (size > LN_H5_ATTR_LIMIT) {
        H5Oclose(o);
        return ln_fail(ctx, LN_E_ARG, "%s: attribute '%s' of '%s': a name of "
                       "%zu bytes is longer than HDF5 allows (%d)", f->path,
                       name, lnh5_norm(path), size, LN_H5_ATTR_LIMIT);
    }
    /* Keras: the fewest chunks (numpy.array_split) each within the limit. */
    int chunks = 1;
    while ((((size_t)n + (size_t)chunks - 1) / (size_t)chunks) * size > LN_H5_ATTR_LIMIT)
        chunks++;
    if (chunks == 1) {
        st = put_fixed(ctx, f, o, path, name, n, size, values);
    } else {
        int at = 0;
        for (int c = 0; c < chunks && !st; c++) {
            int count = n / chunks + (c < n % chunks);
            char part[300];
            snprintf(part, sizeof part, "%s%d", name, c);
            st = put_fixed(ctx, f, o, path, part, count, size, values + at);
            at += count;
        }
    }
    H5Oclose(o);
    return st;
}

/* ---- reading -------------------------------------------------------------------- */

int ln_h5_has_attr(const ln_h5 *f, const char *path, const char *name) {
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k == LN_H5_NONE || k == LN_H5_CORRUPT) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    hid_t o = H5Oopen(f->file, lnh5_norm(path), H5P_DEFAULT);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    char part[300];
    snprintf(part, sizeof part, "%s0", name);
    int has = H5Aexists(o, name) > 0 || H5Aexists(o, part) > 0;
    H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return has;
}

/* A fixed-length string of `size` bytes at p as a C string: cut at the
** first NUL, trailing spaces dropped for SPACEPAD. */
static char *fixed_dup(const char *p, size_t size, H5T_str_t pad) {
    size_t len = 0;
    while (len < size && p[len]) len++;
    if (pad == H5T_STR_SPACEPAD)
        while (len > 0 && p[len - 1] == ' ') len--;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* Read every string of attribute a (scalar: one; an empty array of any
** type: none) into a new malloc'ed array. */
static ln_status read_attr(ln_ctx *ctx, const ln_h5 *f, const char *path,
                           const char *name, hid_t a, int *n, char ***out) {
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    hssize_t count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    ln_status st = LN_OK;
    char **v = NULL;
    void *raw = NULL;
    hid_t mem = -1;
    if (type < 0 || count < 0) {
        st = lnh5_fail(ctx, f, LN_E_FORMAT, "attribute '%s' of '%s' cannot be "
                       "read (corrupt file?)", name, path);
        goto done;
    }
    if (count == 0) {
        *n = 0;
        *out = NULL;
        goto done;
    }
    if (cls != H5T_STRING) {
        st = ln_fail(ctx, LN_E_FORMAT, "%s: attribute '%s' of '%s' should hold "
                     "text, it holds %s", f->path, name, path,
                     cls == H5T_INTEGER || cls == H5T_FLOAT ? "numbers" : "other data");
        goto done;
    }
    if (count > (1 << 24) || !(v = calloc((size_t)count, sizeof *v))) {
        st = ln_fail(ctx, LN_E_NOMEM, "%s: attribute '%s': out of memory",
                     f->path, name);
        goto done;
    }
    if (H5Tis_variable_str(type) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        char **ptrs = calloc((size_t)count, sizeof *ptrs);
        raw = ptrs;
        if (!ptrs) {
            st = ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
            goto done;
        }
        if (H5Aread(a, mem, ptrs) < 0) {
            st = lnh5_fail(ctx, f, LN_E_FORMAT, "attribute '%s' of '%s' "
                           "cannot be read (corrupt file?)", name, path);
            goto done;
        }
        for (hssize_t i = 0; i < count; i++) {
            const char *s = ptrs[i] ? ptrs[i] : "";
            if (!(v[i] = strdup(s)) && !st)
                st = ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
            if (ptrs[i]) H5free_memory(ptrs[i]);
        }
    } else {
        size_t size = H5Tget_size(type);
        H5T_str_t pad = H5Tget_strpad(type);
        mem = H5Tcopy(type);
        if (!size || !(raw = malloc((size_t)count * size))) {
            st = ln_fail(ctx, LN_E_FORMAT, "%s: attribute '%s': bad string size",
                         f->path, name);
            goto done;
        }
        if (H5Aread(a, mem, raw) < 0) {
            st = lnh5_fail(ctx, f, LN_E_FORMAT, "attribute '%s' of '%s' "
                           "cannot be read (corrupt file?)", name, path);
            goto done;
        }
        for (hssize_t i = 0; i < count && !st; i++)
            if (!(v[i] = fixed_dup((char *)raw + (size_t)i * size, size, pad)))
                st = ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
    }
    if (!st) {
        *n = (int)count;
        *out = v;
        v = NULL;
    }
done:
    ln_h5_free_strings((int)(count > 0 ? count : 0), v);
    free(raw);
    if (mem >= 0) H5Tclose(mem);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    return st;
}

/* Append attribute `name` of object o to (*n, *v). 1: appended, 0: no
** such attribute, -1: error in ctx. */
static int append_attr(ln_ctx *ctx, const ln_h5 *f, hid_t o, const char *path,
                       const char *name, int *n, char ***v) {
    htri_t has = H5Aexists(o, name);
    if (has < 0) {
        lnh5_fail(ctx, f, LN_E_FORMAT, "the attributes of '%s' cannot be read "
                  "(corrupt file?)", path);
        return -1;
    }
    if (has == 0) return 0;
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    if (a < 0) {
        lnh5_fail(ctx, f, LN_E_FORMAT, "attribute '%s' of '%s' cannot be "
                  "opened (corrupt file?)", name, path);
        return -1;
    }
    int k = 0;
    char **part = NULL;
    ln_status st = read_attr(ctx, f, path, name, a, &k, &part);
    H5Aclose(a);
    if (st) return -1;
    char **nv = k ? realloc(*v, sizeof *nv * (size_t)(*n + k)) : *v;
    if (k && !nv) {
        ln_h5_free_strings(k, part);
        ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", f->path);
        return -1;
    }
    for (int i = 0; i < k; i++) nv[*n + i] = part[i];
    free(part);
    *v = nv;
    *n += k;
    return 1;
}

ln_status ln_h5_get_strings(ln_ctx *ctx, const ln_h5 *f, const char *path,
                            const char *name, int *n, char ***out) {
    path = lnh5_norm(path);
    hid_t o = lnh5_open_object(ctx, f, path);
    if (o < 0) return ctx->status;
    int count = 0;
    char **v = NULL;
    int r = append_attr(ctx, f, o, path, name, &count, &v);
    if (r == 0) { /* the split form: name0, name1, ... */
        char part[300];
        for (int i = 0;; i++) {
            snprintf(part, sizeof part, "%s%d", name, i);
            int ri = append_attr(ctx, f, o, path, part, &count, &v);
            if (ri < 0) r = -1;
            if (ri <= 0) break;
            r = 1;
        }
    }
    H5Oclose(o);
    if (r <= 0) {
        ln_h5_free_strings(count, v);
        if (r < 0) return ctx->status;
        return ln_fail(ctx, LN_E_NOTFOUND, "%s: no attribute '%s' on '%s'",
                       f->path, name, path);
    }
    *n = count;
    *out = v;
    return LN_OK;
}

ln_status ln_h5_get_string(ln_ctx *ctx, const ln_h5 *f, const char *path,
                           const char *name, char **out) {
    path = lnh5_norm(path);
    hid_t o = lnh5_open_object(ctx, f, path);
    if (o < 0) return ctx->status;
    int n = 0;
    char **v = NULL;
    int r = append_attr(ctx, f, o, path, name, &n, &v);
    H5Oclose(o);
    if (r < 0) return ctx->status;
    if (r == 0)
        return ln_fail(ctx, LN_E_NOTFOUND, "%s: no attribute '%s' on '%s'",
                       f->path, name, path);
    if (n != 1) {
        ln_h5_free_strings(n, v);
        return ln_fail(ctx, LN_E_FORMAT, "%s: attribute '%s' of '%s' should be "
                       "one string, it holds %d", f->path, name, path, n);
    }
    *out = v[0];
    free(v);
    return LN_OK;
}
