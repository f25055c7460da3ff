/*
** atomic_write.h -- every file lunet writes goes through here (core; the
** binding and the h5 module use it).
**
** The save-target rule (docs/model-files.md, "Save targets"):
**  - a symbolic link is followed (any depth, dangling ones too): the file
**    it names is replaced and the link stays;
**  - the target must be a regular file or not exist: folders, devices,
**    FIFOs and sockets are refused, and so are names ending in '/';
**  - a file the caller may not write is refused: for a normal user as
**    open(O_WRONLY) would (access with the effective ids); for root, a file
**    with no write bit at all (0444) -- read-only on purpose -- is refused
**    too, and so is a folder with no write bit;
**  - the new content goes to a temporary file ".<name>.XXXXXX" in the
**    target's folder, is fsync'ed, gets the old file's mode and owner (or
**    0666 less the umask), and is renamed over the target; the folder is
**    fsync'ed. Until then the target is untouched; on any failure the
**    temporary file is removed.
**
** Messages: "<what>: <path>: <reason>" (what may be NULL).
**
** Fault injection (tests only): LUNET_FAULT=<point>[:<n>] kills the process
** with SIGKILL at the n-th file (default 1) that reaches <point>:
**   mid-data       half of the first write of the file is on disk
**   tmp-written    the temporary file is complete and fsync'ed
**   before-rename  it is closed, about to be renamed
**   after-rename   renamed, the folder not yet fsync'ed
*/
#ifndef LUNET_ATOMIC_WRITE_H
#define LUNET_ATOMIC_WRITE_H

#include <stddef.h>

#include "lunet/lunet.h"

typedef struct ln_atomic ln_atomic;

/* Flags. */
#define LN_WRITE_NO_OVERWRITE 1 /* refuse an existing target */

/* Check path against the rule without creating anything. */
LN_API ln_status ln_atomic_check(ln_ctx *ctx, const char *what,
                                 const char *path, int flags);

/* Check path, then create the temporary file next to its target. NULL on
** failure. */
LN_API ln_atomic *ln_atomic_open(ln_ctx *ctx, const char *what,
                                 const char *path, int flags);
/* Append n bytes (short writes and EINTR handled). On failure a is
** aborted (freed). */
LN_API ln_status ln_atomic_write(ln_ctx *ctx, ln_atomic *a, const void *p,
                                 size_t n);
/* fsync, mode, rename over the target, fsync the folder. Frees a whatever
** happens. */
LN_API ln_status ln_atomic_commit(ln_ctx *ctx, ln_atomic *a);
/* Remove the temporary file and free a (NULL is fine). */
LN_API void ln_atomic_abort(ln_atomic *a);

/* The whole file at once: open, write, commit. */
LN_API ln_status ln_atomic_write_file(ln_ctx *ctx, const char *what,
                                      const char *path, const void *p,
                                      size_t n, int flags);

#endif
