/*
** safe_open.h -- opening a file for reading without ever blocking (used by
** liblunet's readers and registry, the HDF5 module and the binding).
**
** open(2) of a FIFO for reading waits for a writer, and reading a
** character device may never end: a reader handed one by mistake would
** hang. These open with O_NONBLOCK, require a regular file (fstat), and
** only then clear O_NONBLOCK. Anything else -- a folder, a FIFO, a socket,
** a device -- is refused with "fn: path: is a FIFO (named pipe), not a
** regular file" (fn NULL: "path: ..."), as the readers' other errors are
** worded. Symlinks are followed (a link to a regular file is fine).
*/
#ifndef LUNET_SAFE_OPEN_H
#define LUNET_SAFE_OPEN_H

#include <stdio.h>

#include "lunet/lunet.h"

/* A read-only descriptor of the regular file at path (O_CLOEXEC), or -1
** with the reason in ctx (LN_E_IO). */
LN_API int ln_open_read(ln_ctx *ctx, const char *fn, const char *path);
/* The same as a stdio stream ("rb"); NULL with the reason in ctx. */
LN_API FILE *ln_fopen_read(ln_ctx *ctx, const char *fn, const char *path);
/* Only the check, for libraries that open by name (HDF5, dlopen): path is
** a regular file this process may open for reading (the file is opened
** and closed again, without blocking). LN_OK or the reason in ctx. */
LN_API ln_status ln_check_read(ln_ctx *ctx, const char *fn, const char *path);
/* "regular file", "folder", "FIFO (named pipe)", "socket", "character
** device", "block device" or "special file", for a st_mode. */
LN_API const char *ln_file_kind(unsigned mode);

#endif
