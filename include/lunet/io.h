/*
** io.h -- file readers and writers of the core (liblunet): IDX (MNIST's
** format, plain or gzip), numpy .npy and numeric CSV. (HDF5 files are the
** optional h5 module's: lunet/h5file.h.)
**
** Every function returns LN_OK or an error whose message starts with the
** function and the file name and gives the reason ("read_idx: x.gz:
** truncated: ..."). Sizes claimed by a file are checked against the data
** actually present (and against LN_IO_MAX_BYTES) before any large
** allocation, so a hostile header cannot make the reader allocate more
** than the file really holds.
*/
#ifndef LUNET_IO_H
#define LUNET_IO_H

#include "lunet/tensor.h"

/* The largest tensor a file may describe (bytes after conversion). */
#define LN_IO_MAX_BYTES ((int64_t)1 << 32)

/* IDX file (plain or gzip-compressed): uint8 data gives a uint8 tensor,
** int8/int16/int32 an int32 one, float32/float64 a float32 one. */
LN_API ln_status ln_read_idx(ln_ctx *ctx, const char *path, ln_tensor **out);
/* The same, converted while reading to `as`: LN_FLOAT32 (any IDX type),
** LN_INT32 (the integer types), LN_UINT8 (uint8 data) or LN_IDX_NATIVE
** (as ln_read_idx). Anything else is LN_E_ARG, naming both types. Reading
** uint8 images as float32 never holds both copies: the peak is the
** result's. */
#define LN_IDX_NATIVE (-1)
LN_API ln_status ln_read_idx_as(ln_ctx *ctx, const char *path, int as,
                                ln_tensor **out);

/* numpy .npy (format 1.0, 2.0, 3.0), C order, little-endian: float32 and
** float64 give float32; int32 and int64 (range-checked) give int32; uint8
** and bool give uint8. */
LN_API ln_status ln_load_npy(ln_ctx *ctx, const char *path, ln_tensor **out);
/* Write t as .npy format 1.0 ('<f4', '<i4' or '|u1'), atomically: a
** temporary file in the same folder, flushed and fsync'ed, then renamed
** over path. */
LN_API ln_status ln_save_npy(ln_ctx *ctx, const char *path,
                             const ln_tensor *t);

typedef struct ln_csv_opts {
    char delimiter; /* ',' by default */
    int header;     /* the first line holds column names (default 1) */
    ln_dtype dtype; /* of the result (LN_FLOAT32 by default) */
} ln_csv_opts;

/* A numeric CSV file -> a (rows, cols) tensor. Empty fields are NaN for
** float32 and an error for integer dtypes. *names gets the header's column
** names (malloc'ed, free with ln_csv_free_names; NULL without a header)
** and *ncols their count. */
LN_API ln_status ln_read_csv(ln_ctx *ctx, const char *path,
                             const ln_csv_opts *opts, ln_tensor **out,
                             char ***names, int *ncols);
LN_API void ln_csv_free_names(char **names, int n);

#endif
