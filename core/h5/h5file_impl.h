/*
** h5file_impl.h -- shared by h5file.c and h5file_attr.c (private).
*/
#ifndef LUNET_H5FILE_IMPL_H
#define LUNET_H5FILE_IMPL_H

#include <hdf5.h>

#include "lunet/h5file.h"

struct ln_h5 {
    hid_t file;  /* -1 once closed */
    int writing; /* created by ln_h5_create, not yet committed */
    int flags;   /* LN_H5_NO_OVERWRITE (writing) */
    char *path;  /* the target */
};

/* Silence HDF5's error printing (every entry point calls it). */
void lnh5_init(void);
/* " (HDF5: <innermost reason>)" or "" into buf; clears HDF5's stack. */
void lnh5_reason(char *buf, size_t n);
/* ln_fail with "<file>: <message>" plus HDF5's reason. */
ln_status lnh5_fail(ln_ctx *ctx, const ln_h5 *f, ln_status code,
                    const char *fmt, ...) LN_PRINTF(4, 5);
/* "/" for NULL or "". */
const char *lnh5_norm(const char *path);
/* H5Oopen of an existing object, failing (NOTFOUND / FORMAT) with the
** file name and the path. */
hid_t lnh5_open_object(ln_ctx *ctx, const ln_h5 *f, const char *path);
/* LN_E_FORMAT: looking up `path` failed (ln_h5_kind_of gave CORRUPT). */
ln_status lnh5_corrupt(ln_ctx *ctx, const ln_h5 *f, const char *path);
/* A link-creation property list that creates missing parent groups. */
hid_t lnh5_parents_lcpl(void);
/* LN_E_STATE unless f is open for writing (what: the operation). */
ln_status lnh5_need_writable(ln_ctx *ctx, const ln_h5 *f, const char *what);

#endif
