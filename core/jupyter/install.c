/*
** install.c -- `lunet-kernel install [--user] [--prefix DIR]` (what
** `lunet kernel install` runs): the kernel spec -- kernel.json, made from
** kernel.json.in as `cmake --install` makes it, and the logos -- in
**   --prefix DIR   DIR/share/jupyter/kernels/lunet
**   --user         $JUPYTER_DATA_DIR, $XDG_DATA_HOME/jupyter or
**                  ~/.local/share/jupyter, then kernels/lunet
**   (neither)      /usr/local/share/jupyter/kernels/lunet
** kernel.json names this executable by its absolute path.
*/
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "embed.h"

static const char *const LOGOS[] = {"logo-32x32.png", "logo-64x64.png"};

/* mkdir -p */
static int make_dirs(const char *path) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
            if (c == '\0') return 0;
            *s = c;
        }
    }
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (cap - *n < 4096) {
            char *b = realloc(buf, cap = cap * 2 + 4096);
            if (!b) break;
            buf = b;
        }
        size_t r = fread(buf + *n, 1, cap - *n, f);
        *n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) != 0 || w != n) ? -1 : 0;
}

/* The template with @LUNET_KERNEL@ replaced by exe (JSON-escaped). */
static int write_spec(const char *tmpl, size_t n, const char *exe, const char *path) {
    static const char mark[] = "@LUNET_KERNEL@";
    size_t cap = n + 2 * strlen(exe) + 1, o = 0;
    char *out = malloc(cap);
    if (!out) return -1;
    for (size_t i = 0; i < n;) {
        if (n - i >= sizeof mark - 1 && !memcmp(tmpl + i, mark, sizeof mark - 1)) {
            for (const char *c = exe; *c; c++) {
                if (*c == '"' || *c == '\\') out[o++] = '\\';
                out[o++] = *c;
            }
            i += sizeof mark - 1;
        } else {
            out[o++] = tmpl[i++];
        }
    }
    int rc = write_file(path, out, o);
    free(out);
    return rc;
}

static int fail(const char *what, const char *path) {
    fprintf(stderr, "lunet kernel install: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

int kinstall_main(int argc, char **argv) {
    const char *prefix = NULL;
    int user = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--user")) user = 1;
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) prefix = argv[++i];
        else {
            fprintf(stderr, "usage: lunet kernel install [--user] [--prefix DIR]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    char dest[PATH_MAX], exe_dir[PATH_MAX], data[PATH_MAX + 32], exe[PATH_MAX + 32];
    const char *env;
    if (prefix)
        snprintf(dest, sizeof dest, "%s/share/jupyter/kernels/lunet", prefix);
    else if (user && (env = getenv("JUPYTER_DATA_DIR")) && *env)
        snprintf(dest, sizeof dest, "%s/kernels/lunet", env);
    else if (user && (env = getenv("XDG_DATA_HOME")) && *env)
        snprintf(dest, sizeof dest, "%s/jupyter/kernels/lunet", env);
    else if (user && (env = getenv("HOME")) && *env)
        snprintf(dest, sizeof dest, "%s/.local/share/jupyter/kernels/lunet", env);
    else if (user) {
        fputs("lunet kernel install: --user needs HOME\n", stderr);
        return 1;
    } else
        snprintf(dest, sizeof dest, "/usr/local/share/jupyter/kernels/lunet");
    if (lnE_exe_dir(exe_dir, sizeof exe_dir) != 0) {
        fputs("lunet kernel install: cannot find the executable's folder\n", stderr);
        return 1;
    }
    snprintf(exe, sizeof exe, "%s/lunet-kernel", exe_dir);
    if (lnE_in_build_tree()) snprintf(data, sizeof data, "%s", LN_KERNEL_SOURCE_DIR);
    else snprintf(data, sizeof data, "%s/../share/lunet/jupyter", exe_dir);

    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    size_t n;
    snprintf(from, sizeof from, "%s/kernel.json.in", data);
    char *tmpl = read_file(from, &n);
    if (!tmpl) return fail("cannot read", from);
    if (make_dirs(dest) != 0) return free(tmpl), fail("cannot make", dest);
    snprintf(to, sizeof to, "%s/kernel.json", dest);
    int rc = write_spec(tmpl, n, exe, to);
    free(tmpl);
    if (rc != 0) return fail("cannot write", to);
    for (size_t i = 0; i < sizeof LOGOS / sizeof *LOGOS; i++) {
        snprintf(from, sizeof from, "%s/%s", data, LOGOS[i]);
        snprintf(to, sizeof to, "%s/%s", dest, LOGOS[i]);
        char *png = read_file(from, &n);
        if (!png) return fail("cannot read", from);
        rc = write_file(to, png, n);
        free(png);
        if (rc != 0) return fail("cannot write", to);
    }
    printf("Installed the lunet kernel spec in %s\n", dest);
    return 0;
}
