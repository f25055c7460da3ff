/*
** safe_open.c -- opening files for reading without blocking (safe_open.h).
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lunet/safe_open.h"

const char *ln_file_kind(unsigned mode) {
    if (S_ISREG(mode)) return "regular file";
    if (S_ISDIR(mode)) return "folder";
    if (S_ISFIFO(mode)) return "FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "socket";
    if (S_ISCHR(mode)) return "character device";
    if (S_ISBLK(mode)) return "block device";
    return "special file";
}

static int refuse(ln_ctx *ctx, const char *fn, const char *path,
                  const char *fmt, const char *what) {
    char reason[128];
    snprintf(reason, sizeof reason, fmt, what);
    ln_fail(ctx, LN_E_IO, "%s%s%s: %s", fn ? fn : "", fn ? ": " : "", path,
            reason);
    return -1;
}

int ln_open_read(ln_ctx *ctx, const char *fn, const char *path) {
    if (!path || !*path) {
        ln_fail(ctx, LN_E_IO, "%s%sthe path is empty", fn ? fn : "", fn ? ": " : "");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        int err = errno;
        /* a socket cannot be opened (ENXIO): name what it is */
        if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
            return refuse(ctx, fn, path, "is a %s, not a regular file",
                          ln_file_kind(sb.st_mode));
        return refuse(ctx, fn, path, "cannot open: %s", strerror(err));
    }
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return refuse(ctx, fn, path, "cannot stat: %s", strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return refuse(ctx, fn, path, "is a %s, not a regular file",
                      ln_file_kind(sb.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int err = errno;
        close(fd);
        return refuse(ctx, fn, path, "cannot open: %s", strerror(err));
    }
    return fd;
}

FILE *ln_fopen_read(ln_ctx *ctx, const char *fn, const char *path) {
    int fd = ln_open_read(ctx, fn, path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int err = errno;
        close(fd);
        refuse(ctx, fn, path, "cannot open: %s", strerror(err));
    }
    return f;
}

ln_status ln_check_read(ln_ctx *ctx, const char *fn, const char *path) {
    int fd = ln_open_read(ctx, fn, path);
    if (fd < 0) return ctx ? ctx->status : LN_E_IO;
    close(fd);
    return LN_OK;
}
