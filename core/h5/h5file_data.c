/*
** h5file_data.c -- datasets of model files: float32 tensors of any rank
** (0-d included) and int64 counters written, read back with shape checks
** made before anything is allocated.
*/
#include <string.h>

#include "h5file_impl.h"

static ln_status write_data(ln_ctx *ctx, ln_h5 *f, const char *path,
                            hid_t ftype, hid_t mtype, int nd,
                            const int64_t *shape, const void *data,
                            int64_t numel) {
    ln_status st = lnh5_need_writable(ctx, f, "write");
    if (st) return st;
    path = lnh5_norm(path);
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k == LN_H5_CORRUPT) return lnh5_corrupt(ctx, f, path);
    if (k != LN_H5_NONE)
        return lnh5_fail(ctx, f, LN_E_ARG, "cannot write dataset '%s': it "
                         "exists already", path);
    hsize_t dims[LN_MAX_DIM];
    for (int i = 0; i < nd; i++) dims[i] = (hsize_t)shape[i];
    hid_t space = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = lnh5_parents_lcpl();
    hid_t d = space < 0 ? -1 : H5Dcreate2(f->file, path, ftype, space, lcpl,
                                          H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : numel ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL,
                                             H5P_DEFAULT, data) : 0;
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    H5Pclose(lcpl);
    if (d < 0 || r < 0)
        return lnh5_fail(ctx, f, LN_E_IO, "cannot write dataset '%s'", path);
    return LN_OK;
}

ln_status ln_h5_write(ln_ctx *ctx, ln_h5 *f, const char *path,
                      const ln_tensor *t) {
    hid_t ftype, mtype;
    switch (t->dtype) {
    case LN_FLOAT32: ftype = H5T_IEEE_F32LE, mtype = H5T_NATIVE_FLOAT; break;
    case LN_INT32: ftype = H5T_STD_I32LE, mtype = H5T_NATIVE_INT32; break;
    case LN_UINT8: ftype = H5T_STD_U8LE, mtype = H5T_NATIVE_UINT8; break;
    default: return ln_fail(ctx, LN_E_ARG, "write: unknown dtype");
    }
    return write_data(ctx, f, path, ftype, mtype, t->ndim, t->shape,
                      ln_data(t), t->numel);
}

ln_status ln_h5_write_int64(ln_ctx *ctx, ln_h5 *f, const char *path,
                            int64_t v) {
    return write_data(ctx, f, path, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL,
                      &v, 1);
}

/* Open dataset `path` and read its rank, dims and type class. */
static hid_t open_dataset(ln_ctx *ctx, const ln_h5 *f, const char *path,
                          int *nd, int64_t *shape, H5T_class_t *cls) {
    path = lnh5_norm(path);
    ln_h5_kind k = ln_h5_kind_of(f, path);
    if (k != LN_H5_DATASET) {
        if (k == LN_H5_NONE)
            lnh5_fail(ctx, f, LN_E_NOTFOUND, "no dataset '%s'", path);
        else if (k == LN_H5_CORRUPT)
            lnh5_corrupt(ctx, f, path);
        else
            lnh5_fail(ctx, f, LN_E_FORMAT, "'%s' is a %s, not a dataset", path,
                      k == LN_H5_GROUP ? "group" : "named datatype");
        return -1;
    }
    hid_t d = H5Dopen2(f->file, path, H5P_DEFAULT);
    hid_t space = d < 0 ? -1 : H5Dget_space(d);
    hid_t type = d < 0 ? -1 : H5Dget_type(d);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    H5S_class_t sc = space < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(space);
    *cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    if (type >= 0) H5Tclose(type);
    if (rank >= 0 && rank <= LN_MAX_DIM && sc != H5S_NULL) {
        hsize_t dims[LN_MAX_DIM];
        if (rank) H5Sget_simple_extent_dims(space, dims, NULL);
        for (int i = 0; i < rank; i++) shape[i] = (int64_t)dims[i];
        *nd = rank;
    }
    if (space >= 0) H5Sclose(space);
    if (d < 0 || rank < 0 || *cls == H5T_NO_CLASS) {
        lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' cannot be opened (corrupt "
                  "file?)", path);
        if (d >= 0) H5Dclose(d);
        return -1;
    }
    if (rank > LN_MAX_DIM || sc == H5S_NULL) {
        lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' has %s", path,
                  sc == H5S_NULL ? "no data space" : "more than 8 dimensions");
        H5Dclose(d);
        return -1;
    }
    return d;
}

ln_status ln_h5_shape(ln_ctx *ctx, const ln_h5 *f, const char *path, int *nd,
                      int64_t *shape) {
    H5T_class_t cls;
    int64_t s[LN_MAX_DIM];
    int r = 0;
    hid_t d = open_dataset(ctx, f, path, &r, s, &cls);
    if (d < 0) return ctx->status;
    H5Dclose(d);
    *nd = r;
    memcpy(shape, s, sizeof(int64_t) * (size_t)r);
    return LN_OK;
}

ln_status ln_h5_read(ln_ctx *ctx, const ln_h5 *f, const char *path, int nd,
                     const int64_t *shape, ln_tensor **out) {
    H5T_class_t cls;
    int64_t s[LN_MAX_DIM];
    int r = 0;
    path = lnh5_norm(path);
    hid_t d = open_dataset(ctx, f, path, &r, s, &cls);
    if (d < 0) return ctx->status;
    ln_status st = LN_OK;
    ln_tensor *t = NULL;
    char a[128], b[128];
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        st = lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' does not hold "
                       "numbers (HDF5 type class %d)", path, (int)cls);
        goto done;
    }
    if (nd >= 0 && (nd != r || (r && memcmp(s, shape, sizeof(int64_t) * (size_t)r)))) {
        st = ln_fail(ctx, LN_E_SHAPE, "%s: dataset '%s' has shape %s, "
                     "expected %s", f->path, path, ln_dims_str(r, s, a, sizeof a),
                     ln_dims_str(nd, shape, b, sizeof b));
        goto done;
    }
    int64_t numel = 1;
    for (int i = 0; i < r; i++) {
        if (s[i] && numel > ((int64_t)1 << 32) / s[i]) {
            st = ln_fail(ctx, LN_E_FORMAT, "%s: dataset '%s' is too large (%s)",
                         f->path, path, ln_dims_str(r, s, a, sizeof a));
            goto done;
        }
        numel *= s[i];
    }
    if (!(t = ln_tensor_new(ctx, LN_FLOAT32, r, s))) {
        st = ln_prefix(ctx, "%s: dataset '%s'", f->path, path);
        goto done;
    }
    if (numel && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         ln_f32(t)) < 0)
        st = lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' cannot be read "
                       "(corrupt or truncated file?)", path);
done:
    H5Dclose(d);
    if (st) ln_tensor_release(t);
    else *out = t;
    return st;
}

ln_status ln_h5_read_int64(ln_ctx *ctx, const ln_h5 *f, const char *path,
                           int64_t *v) {
    H5T_class_t cls;
    int64_t s[LN_MAX_DIM];
    int r = 0;
    path = lnh5_norm(path);
    hid_t d = open_dataset(ctx, f, path, &r, s, &cls);
    if (d < 0) return ctx->status;
    int64_t numel = 1;
    for (int i = 0; i < r; i++) numel *= s[i];
    ln_status st = LN_OK;
    char a[128];
    if (numel != 1 || (cls != H5T_INTEGER && cls != H5T_FLOAT)) {
        st = ln_fail(ctx, LN_E_FORMAT, "%s: dataset '%s' should hold one "
                     "integer, it holds %s of shape %s", f->path, path,
                     cls == H5T_INTEGER || cls == H5T_FLOAT ? "numbers" : "other data",
                     ln_dims_str(r, s, a, sizeof a));
    } else if (cls == H5T_INTEGER) {
        if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            st = lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' cannot be read",
                           path);
    } else {
        double x;
        if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &x) < 0)
            st = lnh5_fail(ctx, f, LN_E_FORMAT, "dataset '%s' cannot be read",
                           path);
        else if (!(x >= -9.2e18 && x <= 9.2e18) || x != (double)(int64_t)x)
            st = ln_fail(ctx, LN_E_FORMAT, "%s: dataset '%s' should hold an "
                         "integer, it holds %g", f->path, path, x);
        else
            *v = (int64_t)x;
    }
    H5Dclose(d);
    return st;
}
