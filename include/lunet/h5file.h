/*
** h5file.h -- a small layer over libhdf5 for model files (Keras 2's layout:
** see docs/model-files.md). It knows HDF5, not Keras: groups, string
** attributes, float32 datasets and the iteration counter.
**
** Writing is atomic. ln_h5_create checks the target (the save-target rule
** of docs/model-files.md: symlinks followed, only regular files replaced,
** read-only files refused) and builds the file in memory; ln_h5_commit
** writes it to a temporary file in the target's folder, fsyncs it, renames
** it over the target and fsyncs the folder. Until the commit returns LN_OK
** the target is untouched; any failure (a full disk, a missing folder)
** removes the temporary file and leaves a previous file as it was.
**
** Reading refuses what is not a sound HDF5 file -- empty, foreign (a PNG,
** a zip), truncated or corrupt -- with the file name and what is wrong.
** HDF5's own error printing is switched off; its reason, when it has one,
** is quoted in the message.
**
** Paths name objects from the root: "model_weights/dense/dense/kernel:0"
** ("/" and "" are the root). A '/' inside a name makes nested groups, as in
** Keras files; writers create the groups on the way.
**
** Strings: ln_h5_set_string writes a scalar variable-length string tagged
** ASCII (what h5py writes for Python bytes, as Keras 2 does; the bytes are
** UTF-8); ln_h5_set_strings an array of fixed-length NULLPAD ASCII strings
** (Keras's layer_names, weight_names), split into name0, name1, ... when
** larger than 64512 bytes, as Keras does;
** an empty list is an empty float64 array, as Keras writes for weightless
** layers. Readers accept both kinds of strings, scalars or arrays, and the
** split form.
**
** Every function returns LN_OK or an error whose message starts with the
** file name; out-parameters are only set on success.
*/
#ifndef LUNET_H5FILE_H
#define LUNET_H5FILE_H

#include "lunet/tensor.h"

typedef struct ln_h5 ln_h5;

/* Attribute arrays larger than this (bytes) are split (Keras's limit). */
#define LN_H5_ATTR_LIMIT 64512

/* ---- opening and closing ------------------------------------------------- */

/* Flags of ln_h5_create. */
#define LN_H5_NO_OVERWRITE 1 /* refuse an existing target */

/* A new file for writing `path`, built in memory until ln_h5_commit. NULL
** on failure (a target the rule refuses, a missing folder, ...). */
LN_API ln_h5 *ln_h5_create(ln_ctx *ctx, const char *path, int flags);
/* Finish a file opened by ln_h5_create: flush, fsync, rename over the
** target, fsync the folder. Frees f whatever happens; on failure the
** temporary file is removed and the target is unchanged. */
LN_API ln_status ln_h5_commit(ln_ctx *ctx, ln_h5 *f);

/* Open an existing file read-only, after checking it is HDF5. */
LN_API ln_h5 *ln_h5_open(ln_ctx *ctx, const char *path);

/* Close a file (NULL is fine). A file being written and not committed is
** abandoned: its temporary file is removed, the target is unchanged. */
LN_API void ln_h5_close(ln_h5 *f);

/* The target path given to create/open. */
LN_API const char *ln_h5_path(const ln_h5 *f);
LN_API int ln_h5_writable(const ln_h5 *f);

/* ---- objects ---------------------------------------------------------------- */

typedef enum ln_h5_kind {
    LN_H5_NONE = 0, /* no such object */
    LN_H5_GROUP,
    LN_H5_DATASET,
    LN_H5_OTHER, /* a named datatype or anything else */
    LN_H5_CORRUPT /* the lookup itself failed: the file is damaged */
} ln_h5_kind;

/* What `path` is. LN_H5_CORRUPT leaves HDF5's reason pending: the next
** error reported on this file quotes it. */
LN_API ln_h5_kind ln_h5_kind_of(const ln_h5 *f, const char *path);
/* The same, failing (LN_E_FORMAT, naming the file, the path and HDF5's
** reason) instead of giving LN_H5_CORRUPT. */
LN_API ln_status ln_h5_lookup(ln_ctx *ctx, const ln_h5 *f, const char *path,
                              ln_h5_kind *out);
/* Create group `path` and missing parents; an existing group is fine. */
LN_API ln_status ln_h5_group(ln_ctx *ctx, ln_h5 *f, const char *path);
/* Names of the attributes (attrs = 1) or of the members (attrs = 0) of
** object `path`, in name order, into a malloc'ed array of malloc'ed
** strings (free with ln_h5_free_strings). */
LN_API ln_status ln_h5_list(ln_ctx *ctx, const ln_h5 *f, const char *path,
                            int attrs, int *n, char ***names);
LN_API void ln_h5_free_strings(int n, char **v);

/* ---- attributes ---------------------------------------------------------------- */

/* A scalar variable-length string attribute tagged ASCII, as Keras 2
** writes them (replaces one of the same name). */
LN_API ln_status ln_h5_set_string(ln_ctx *ctx, ln_h5 *f, const char *path,
                                  const char *name, const char *value);
/* An array of fixed-length NULLPAD ASCII strings (see above for the split
** and the empty case). */
LN_API ln_status ln_h5_set_strings(ln_ctx *ctx, ln_h5 *f, const char *path,
                                   const char *name, int n,
                                   const char *const *values);
/* 1 when attribute `name` (or its split form name0) exists on `path`. */
LN_API int ln_h5_has_attr(const ln_h5 *f, const char *path, const char *name);
/* A string attribute stored as a scalar or a one-element array, variable-
** or fixed-length; *out is malloc'ed. LN_E_NOTFOUND when absent. */
LN_API ln_status ln_h5_get_string(ln_ctx *ctx, const ln_h5 *f,
                                  const char *path, const char *name,
                                  char **out);
/* A string array attribute (also a scalar string: one entry; an empty
** array of any type: none), joining split parts name0, name1, ...
** Free with ln_h5_free_strings. LN_E_NOTFOUND when absent. */
LN_API ln_status ln_h5_get_strings(ln_ctx *ctx, const ln_h5 *f,
                                   const char *path, const char *name, int *n,
                                   char ***out);

/* ---- datasets ---------------------------------------------------------------------- */

/* Write tensor t (any rank, 0-d included) as dataset `path`: float32 as
** little-endian IEEE float32, int32 and uint8 as the same integer types.
** Parent groups are created. */
LN_API ln_status ln_h5_write(ln_ctx *ctx, ln_h5 *f, const char *path,
                             const ln_tensor *t);
/* A 0-d little-endian int64 dataset (Keras's iteration counter). */
LN_API ln_status ln_h5_write_int64(ln_ctx *ctx, ln_h5 *f, const char *path,
                                   int64_t v);
/* The dataset's shape (rank 0 for scalars). */
LN_API ln_status ln_h5_shape(ln_ctx *ctx, const ln_h5 *f, const char *path,
                             int *nd, int64_t *shape);
/* Read a float or integer dataset as a new float32 tensor. With nd >= 0
** the dataset must have exactly that shape (a mismatch fails naming the
** dataset and both shapes, before anything is allocated). */
LN_API ln_status ln_h5_read(ln_ctx *ctx, const ln_h5 *f, const char *path,
                            int nd, const int64_t *shape, ln_tensor **out);
/* Read a dataset holding one integer (any integer type, or a float with
** an integral value), e.g. the iteration counter. */
LN_API ln_status ln_h5_read_int64(ln_ctx *ctx, const ln_h5 *f,
                                  const char *path, int64_t *v);

/* One dataset ("/group/name") of an HDF5 file: float types give float32,
** unsigned 8-bit integers uint8, other integers int32 (range-checked).
** Errors start with "read_h5: <path>:". */
LN_API ln_status ln_read_h5(ln_ctx *ctx, const char *path,
                            const char *dataset, ln_tensor **out);

#endif
