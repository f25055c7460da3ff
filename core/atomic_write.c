/*
** atomic_write.c -- the save-target rule and atomic replacement of files
** (see atomic_write.h).
*/
#define _GNU_SOURCE /* renameat2, mkostemp */
#include "lunet/atomic_write.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40 /* as the kernel's ELOOP limit */

struct ln_atomic {
    char *what;   /* for messages (may be NULL) */
    char *path;   /* as given */
    char *target; /* the file replaced (symlinks followed) */
    char *tmp;    /* the temporary file, NULL once renamed */
    int fd;       /* the temporary file's descriptor, -1 once closed */
    int flags;
    int exists;      /* the target existed when checked */
    struct stat old; /* its status then */
    int wrote;       /* bytes written so far (for mid-data) */
};

/* ---- messages ------------------------------------------------------------------ */

static ln_status failv(ln_ctx *ctx, const char *what, const char *path,
                       const char *fmt, va_list ap) {
    char why[LN_MSG_MAX / 2], shown[300];
    vsnprintf(why, sizeof why, fmt, ap);
    size_t len = strlen(path);
    if (len > 240) /* the reason must fit in the message */
        snprintf(shown, sizeof shown, "%.100s...%s (a %zu-byte path)", path,
                 path + len - 100, len);
    else
        snprintf(shown, sizeof shown, "%s", path);
    if (what) return ln_fail(ctx, LN_E_IO, "%s: %s: %s", what, shown, why);
    return ln_fail(ctx, LN_E_IO, "%s: %s", shown, why);
}

static ln_status fail(ln_ctx *ctx, const char *what, const char *path,
                      const char *fmt, ...) LN_PRINTF(4, 5);
static ln_status fail(ln_ctx *ctx, const char *what, const char *path,
                      const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ln_status st = failv(ctx, what, path, fmt, ap);
    va_end(ap);
    return st;
}

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a folder";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* ---- fault injection (tests) ------------------------------------------------------- */

/* SIGKILL when LUNET_FAULT names `point` and this is its n-th file. */
static void fault(const char *point) {
    static int seen[4];
    static const char *const points[4] = {"mid-data", "tmp-written",
                                          "before-rename", "after-rename"};
    const char *f = getenv("LUNET_FAULT");
    if (!f) return;
    size_t len = strlen(point);
    if (strncmp(f, point, len) || (f[len] != '\0' && f[len] != ':')) return;
    int k = 0;
    while (k < 4 && strcmp(points[k], point)) k++;
    if (k == 4) return;
    long n = f[len] == ':' ? strtol(f + len + 1, NULL, 10) : 1;
    if (++seen[k] == n) raise(SIGKILL);
}

/* ---- the target ------------------------------------------------------------------ */

/* The folder part of path ("." when it has none), a new string. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Follow symbolic links from path: *out gets the file they lead to (a new
** string), *st its status and *exists whether it exists. */
static ln_status resolve(ln_ctx *ctx, const char *what, const char *path,
                         char **out, struct stat *st, int *exists) {
    char *cur = strdup(path);
    if (!cur) return fail(ctx, what, path, "out of memory");
    for (int hops = 0;; hops++) {
        struct stat ls;
        if (lstat(cur, &ls) != 0) {
            int err = errno;
            if (err == ENOENT) {
                *exists = 0;
                break;
            }
            free(cur);
            if (err == ENOTDIR)
                return fail(ctx, what, path, "a part of the path is not a folder");
            if (err == ENAMETOOLONG)
                return fail(ctx, what, path, "the file name is too long");
            return fail(ctx, what, path, "cannot look at the file: %s", strerror(err));
        }
        if (!S_ISLNK(ls.st_mode)) {
            *exists = 1;
            *st = ls;
            break;
        }
        if (hops == MAX_LINKS) {
            free(cur);
            return fail(ctx, what, path, "too many levels of symbolic links");
        }
        char link[4096];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0 || n == (ssize_t)sizeof link - 1) {
            int err = n < 0 ? errno : ENAMETOOLONG;
            free(cur);
            return fail(ctx, what, path, "cannot read the symbolic link: %s",
                        strerror(err));
        }
        link[n] = '\0';
        char *next;
        if (link[0] == '/' || !strchr(cur, '/')) {
            next = strdup(link);
        } else {
            char *dir = folder_of(cur);
            size_t len = dir ? strlen(dir) + strlen(link) + 2 : 0;
            next = dir ? malloc(len) : NULL;
            if (next) snprintf(next, len, "%s/%s", dir, link);
            free(dir);
        }
        free(cur);
        if (!next) return fail(ctx, what, path, "out of memory");
        cur = next;
    }
    *out = cur;
    return LN_OK;
}

/* May the caller write a file (or folder) of status st? 0 if so, else
** EACCES or EROFS. As open(O_WRONLY) decides for a normal user; root is
** refused what has no write bit at all. */
static int unwritable(const char *p, const struct stat *st) {
    if (faccessat(AT_FDCWD, p, W_OK, AT_EACCESS) != 0)
        return errno == EROFS ? EROFS : EACCES;
    return geteuid() == 0 && !(st->st_mode & 0222) ? EACCES : 0;
}

/* The reason of unwritable()'s answer, for messages. */
static const char *ro_reason(int err) {
    return err == EROFS ? "is on a read-only file system" : "is read-only";
}

/* The target of path, checked against the rule; its folder is checked
** too. *target gets a new string. */
static ln_status check_target(ln_ctx *ctx, const char *what, const char *path,
                              int flags, char **target, struct stat *st,
                              int *exists) {
    size_t len = path ? strlen(path) : 0;
    if (!len) return fail(ctx, what, "''", "no file name given");
    if (path[len - 1] == '/')
        return fail(ctx, what, path, "names a folder (ends with '/'), not a file");
    ln_status s = resolve(ctx, what, path, target, st, exists);
    if (s) return s;
    int err;
    const char *t = *target;
    const char *via = strcmp(t, path) ? " (the symbolic link's target " : "";
    char note[300] = "";
    if (*via) snprintf(note, sizeof note, "%s'%.200s')", via, t);
    if (*exists) {
        if (!S_ISREG(st->st_mode))
            s = fail(ctx, what, path, "is %s%s; lunet writes only regular "
                     "files", kind_of(st->st_mode), note);
        else if (flags & LN_WRITE_NO_OVERWRITE)
            s = fail(ctx, what, path, "the file exists%s and overwrite = false",
                     note);
        else if ((err = unwritable(t, st)))
            s = fail(ctx, what, path, "%s%s (mode %04o): lunet does not "
                     "replace a file you may not write", ro_reason(err), note,
                     (unsigned)(st->st_mode & 07777));
        if (s) {
            free(*target);
            return s;
        }
    }
    char *dir = folder_of(t);
    struct stat ds;
    if (!dir) s = fail(ctx, what, path, "out of memory");
    else if (stat(dir, &ds) != 0)
        s = fail(ctx, what, path, "the folder '%s' %s", dir,
                 errno == ENOENT ? "does not exist" : strerror(errno));
    else if (!S_ISDIR(ds.st_mode))
        s = fail(ctx, what, path, "'%s' is not a folder", dir);
    else if ((err = unwritable(dir, &ds)))
        s = fail(ctx, what, path, "the folder '%s' %s (mode %04o): lunet "
                 "writes a temporary file next to the target and renames it",
                 dir, ro_reason(err), (unsigned)(ds.st_mode & 07777));
    free(dir);
    if (s) free(*target);
    return s;
}

ln_status ln_atomic_check(ln_ctx *ctx, const char *what, const char *path,
                          int flags) {
    char *target = NULL;
    struct stat st;
    int exists;
    ln_status s = check_target(ctx, what, path, flags, &target, &st, &exists);
    if (!s) free(target);
    return s;
}

/* ---- writing ------------------------------------------------------------------- */

static void atomic_free(ln_atomic *a) {
    free(a->what);
    free(a->path);
    free(a->target);
    free(a->tmp);
    free(a);
}

void ln_atomic_abort(ln_atomic *a) {
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    atomic_free(a);
}

/* Abort a and fail with the reason err. */
static ln_status abort_with(ln_ctx *ctx, ln_atomic *a, const char *step, int err) {
    ln_status s = fail(ctx, a->what, a->path, "cannot write the file (%s "
                       "failed): %s; the previous file, if any, is unchanged",
                       step, strerror(err));
    ln_atomic_abort(a);
    return s;
}

ln_atomic *ln_atomic_open(ln_ctx *ctx, const char *what, const char *path,
                          int flags) {
    ln_atomic *a = calloc(1, sizeof *a);
    if (!a) {
        fail(ctx, what, path ? path : "?", "out of memory");
        return NULL;
    }
    a->fd = -1;
    a->flags = flags;
    if (check_target(ctx, what, path, flags, &a->target, &a->old, &a->exists)) {
        free(a);
        return NULL;
    }
    a->what = what ? strdup(what) : NULL;
    a->path = strdup(path);
    /* ".<name>.XXXXXX" next to the target; the name part is cut so the
    ** temporary name stays within NAME_MAX */
    const char *slash = strrchr(a->target, '/');
    int dlen = slash ? (int)(slash - a->target + 1) : 0;
    size_t cap = strlen(a->target) + 16;
    a->tmp = malloc(cap);
    if ((what && !a->what) || !a->path || !a->tmp) {
        fail(ctx, what, path, "out of memory");
        free(a->tmp);
        a->tmp = NULL;
        ln_atomic_abort(a);
        return NULL;
    }
    snprintf(a->tmp, cap, "%.*s.%.200s.XXXXXX", dlen, a->target, a->target + dlen);
    a->fd = mkostemp(a->tmp, O_CLOEXEC);
    if (a->fd < 0) {
        int err = errno;
        char *dir = folder_of(a->target);
        fail(ctx, what, path, "cannot create a temporary file in the folder "
             "'%s': %s", dir ? dir : "?", strerror(err));
        free(dir);
        free(a->tmp);
        a->tmp = NULL;
        ln_atomic_abort(a);
        return NULL;
    }
    return a;
}

ln_status ln_atomic_write(ln_ctx *ctx, ln_atomic *a, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t half = a->wrote == 0 && n >= 2 ? n / 2 : 0;
    while (n > 0) {
        size_t chunk = half ? half : n;
        ssize_t w = write(a->fd, b, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return abort_with(ctx, a, "write", w == 0 ? ENOSPC : errno);
        b += w;
        n -= (size_t)w;
        a->wrote = 1;
        if (half) {
            half = (size_t)w < half ? half - (size_t)w : 0;
            if (!half) fault("mid-data");
        }
    }
    return LN_OK;
}

/* The mode a new file gets: 0666 less the umask. */
static mode_t new_mode(void) {
    mode_t mask = umask(022);
    umask(mask);
    return 0666 & ~mask;
}

/* fsync the folder holding the target, so that the rename is durable.
** Folders that cannot be synced (EINVAL: some file systems) are fine. */
static int sync_folder(const char *target) {
    char *dir = folder_of(target);
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = 0;
    if (fd < 0) err = errno;
    else if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) err = errno;
    if (fd >= 0) close(fd);
    free(dir);
    return err;
}

/* rename, or with LN_WRITE_NO_OVERWRITE a rename that fails on an
** existing target (hard link + unlink where renameat2 is missing). */
static int put_in_place(const ln_atomic *a) {
    if (!(a->flags & LN_WRITE_NO_OVERWRITE)) return rename(a->tmp, a->target);
    if (renameat2(AT_FDCWD, a->tmp, AT_FDCWD, a->target, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (link(a->tmp, a->target) != 0) return -1;
    unlink(a->tmp);
    return 0;
}

ln_status ln_atomic_commit(ln_ctx *ctx, ln_atomic *a) {
    if (!a) return ln_fail(ctx, LN_E_STATE, "commit: no file");
    if (a->fd < 0) return abort_with(ctx, a, "commit", EBADF);
    if (fsync(a->fd) != 0) return abort_with(ctx, a, "sync", errno);
    fault("tmp-written");
    if (a->exists) {
        if ((a->old.st_uid != geteuid() || a->old.st_gid != getegid()) &&
            fchown(a->fd, a->old.st_uid, a->old.st_gid) != 0) {
            /* not ours to give: the new file keeps the writer's ids */
        }
        if (fchmod(a->fd, a->old.st_mode & 07777) != 0)
            return abort_with(ctx, a, "chmod", errno);
    } else if (fchmod(a->fd, new_mode()) != 0) {
        return abort_with(ctx, a, "chmod", errno);
    }
    int r = close(a->fd);
    a->fd = -1;
    if (r != 0) return abort_with(ctx, a, "close", errno);
    fault("before-rename");
    if (put_in_place(a) != 0) {
        int err = errno;
        if (err == EEXIST) {
            ln_status s = fail(ctx, a->what, a->path, "the file exists and "
                               "overwrite = false");
            ln_atomic_abort(a);
            return s;
        }
        return abort_with(ctx, a, "rename", err);
    }
    free(a->tmp);
    a->tmp = NULL;
    fault("after-rename");
    int err = sync_folder(a->target);
    ln_status s = LN_OK;
    if (err)
        s = fail(ctx, a->what, a->path, "written, but its folder cannot be "
                 "synced: %s", strerror(err));
    atomic_free(a);
    return s;
}

ln_status ln_atomic_write_file(ln_ctx *ctx, const char *what, const char *path,
                               const void *p, size_t n, int flags) {
    ln_atomic *a = ln_atomic_open(ctx, what, path, flags);
    if (!a) return ctx ? ctx->status : LN_E_IO;
    ln_status s = n ? ln_atomic_write(ctx, a, p, n) : LN_OK;
    if (s) return s;
    return ln_atomic_commit(ctx, a);
}
