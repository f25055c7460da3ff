/*
** io_h5.c -- one dataset of an HDF5 file into a tensor (libhdf5).
**
** HDF5's own error printing is switched off (H5Eset_auto2) and every
** failure is reported here, naming the file and the dataset. Float
** datasets are converted to float32 by the library; 8-bit unsigned ones
** read as uint8; other integers are read as int64 and range-checked into
** int32, so nothing is silently clipped.
*/
#include <errno.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lunet/h5file.h"
#include "lunet/io.h"
#include "lunet/safe_open.h"

static const char *class_name(H5T_class_t c) {
    switch (c) {
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "reference";
    case H5T_TIME: return "time";
    default: return "unknown";
    }
}

/* Is `name` an object of the file, and of which kind? (-1: missing) */
static int object_type(hid_t file, const char *name) {
    hid_t obj = H5Oopen(file, name, H5P_DEFAULT);
    if (obj < 0) return -1;
    H5I_type_t t = H5Iget_type(obj);
    H5Oclose(obj);
    return (int)t;
}

/* Read dataset `did` (dataspace dims already known) into a new tensor. */
static ln_status read_data(ln_ctx *ctx, const char *path, const char *name,
                           hid_t did, int nd, const int64_t *shape,
                           ln_tensor **out) {
    hid_t type = H5Dget_type(did);
    if (type < 0)
        return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s': cannot "
                       "read its type", path, name);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    H5T_sign_t sign = H5Tget_sign(type);
    H5Tclose(type);
    ln_dtype dt;
    hid_t mem;
    if (cls == H5T_FLOAT) dt = LN_FLOAT32, mem = H5T_NATIVE_FLOAT;
    else if (cls == H5T_INTEGER && size == 1 && sign == H5T_SGN_NONE)
        dt = LN_UINT8, mem = H5T_NATIVE_UINT8;
    else if (cls == H5T_INTEGER) dt = LN_INT32, mem = H5T_NATIVE_INT64;
    else
        return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s' holds %s "
                       "values; only float and integer datasets can be read",
                       path, name, class_name(cls));
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] && numel > LN_IO_MAX_BYTES / 8 / shape[i])
            return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s' is "
                           "larger than the %lld-byte limit", path, name,
                           (long long)LN_IO_MAX_BYTES);
        numel *= shape[i];
    }
    ln_tensor *t = ln_tensor_new(ctx, dt, nd, shape);
    if (!t) return ln_prefix(ctx, "read_h5: %s: dataset '%s'", path, name);
    if (numel == 0) {
        *out = t;
        return LN_OK;
    }
    void *buf = ln_data(t);
    int64_t *wide = NULL;
    if (mem == H5T_NATIVE_INT64) {
        wide = malloc(sizeof *wide * (size_t)numel);
        if (!wide) {
            ln_tensor_release(t);
            return ln_fail(ctx, LN_E_NOMEM, "read_h5: %s: dataset '%s': out "
                           "of memory", path, name);
        }
        buf = wide;
    }
    if (H5Dread(did, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(wide);
        ln_tensor_release(t);
        return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s': the data "
                       "cannot be read (corrupt or truncated file?)", path, name);
    }
    if (wide) {
        for (int64_t i = 0; i < numel; i++) {
            if (wide[i] < INT32_MIN || wide[i] > INT32_MAX) {
                ln_status st = ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset "
                                       "'%s': value %lld at position %lld does "
                                       "not fit in int32", path, name,
                                       (long long)wide[i], (long long)i + 1);
                free(wide);
                ln_tensor_release(t);
                return st;
            }
            ln_i32(t)[i] = (int32_t)wide[i];
        }
        free(wide);
    }
    *out = t;
    return LN_OK;
}

ln_status ln_read_h5(ln_ctx *ctx, const char *path, const char *dataset,
                     ln_tensor **out) {
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (ln_check_read(ctx, "read_h5", path)) return ctx->status; /* no hang */
    if (access(path, R_OK) != 0)
        return ln_fail(ctx, LN_E_IO, "read_h5: %s: cannot open: %s", path,
                       strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: not an HDF5 file", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: cannot open as HDF5 "
                       "(corrupt or truncated?)", path);
    ln_status st = LN_OK;
    hid_t did = -1, space = -1;
    int kind = object_type(file, dataset);
    if (kind < 0) {
        st = ln_fail(ctx, LN_E_NOTFOUND, "read_h5: %s: no dataset '%s'", path,
                     dataset);
        goto done;
    }
    if (kind != H5I_DATASET) {
        st = ln_fail(ctx, LN_E_ARG, "read_h5: %s: '%s' is a %s, not a dataset",
                     path, dataset,
                     kind == H5I_GROUP ? "group" : "named datatype");
        goto done;
    }
    did = H5Dopen2(file, dataset, H5P_DEFAULT);
    space = did < 0 ? -1 : H5Dget_space(did);
    if (did < 0 || space < 0) {
        st = ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s' cannot be "
                     "opened", path, dataset);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    int nd = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space);
    if (sc == H5S_NULL || nd < 0 || nd > LN_MAX_DIM) {
        st = ln_fail(ctx, LN_E_FORMAT, "read_h5: %s: dataset '%s' has %s (at "
                     "most %d dims are supported)", path, dataset,
                     sc == H5S_NULL ? "no dataspace" : "too many dims",
                     LN_MAX_DIM);
        goto done;
    }
    hsize_t dims[LN_MAX_DIM];
    int64_t shape[LN_MAX_DIM];
    if (nd > 0) H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
    st = read_data(ctx, path, dataset, did, nd, shape, out);
done:
    if (space >= 0) H5Sclose(space);
    if (did >= 0) H5Dclose(did);
    H5Fclose(file);
    return st;
}
