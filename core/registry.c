/*
** registry.c -- loading plugins (dlopen) and finding their units by name.
**
** Handles are never closed while the process runs: units' ops tables live in
** the plugins' memory and layers may still point at them.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lunet/plugin.h"
#include "safe_open.h"

typedef struct reg_unit {
    const ln_unit *unit;
    char *file;
} reg_unit;

static reg_unit *units;
static int nunits, capunits;
static char **loaded_files;
static int nloaded;
static char **warnings;
static int nwarnings;
static int scanned;

const char *ln_kind_name(ln_kind k) {
    static const char *names[] = {"layer", "activation", "initializer",
        "optimizer", "schedule", "loss", "metric"};
    return (unsigned)k < LN_KIND_COUNT ? names[k] : "?";
}

int ln_registry_count(void) {
    ln_registry_scan();
    return nunits;
}

const ln_unit *ln_registry_at(int i, const char **file) {
    if (i < 0 || i >= nunits) return NULL;
    if (file) *file = units[i].file;
    return units[i].unit;
}

static reg_unit *lookup(ln_kind kind, const char *name) {
    for (int i = 0; i < nunits; i++)
        if (units[i].unit->kind == kind && !strcmp(units[i].unit->name, name))
            return &units[i];
    return NULL;
}

const ln_unit *ln_registry_find(ln_kind kind, const char *name,
                                const char **file) {
    ln_registry_scan();
    reg_unit *r = name ? lookup(kind, name) : NULL;
    if (r && file) *file = r->file;
    return r ? r->unit : NULL;
}

const ln_unit *ln_registry_require(ln_ctx *ctx, ln_kind kind,
                                   const char *name) {
    const ln_unit *u = ln_registry_find(kind, name, NULL);
    if (!u)
        ln_fail(ctx, LN_E_NOTFOUND, "unknown %s '%s'", ln_kind_name(kind),
                name ? name : "(nil)");
    return u;
}

/* While a plugin's init runs, its units are staged here and committed only
** if every one of them is acceptable, so a refusal changes nothing. */
typedef struct staging {
    const ln_unit *u[256];
    int n;
    const char *path;
    int failed;
} staging;

static ln_status host_add(ln_host *host, const ln_unit *u) {
    staging *s = host->registry;
    if (!u || !u->name || !u->ops || (unsigned)u->kind >= LN_KIND_COUNT) {
        s->failed = 1;
        return ln_fail(host->ctx, LN_E_ARG, "%s: a malformed unit", s->path);
    }
    reg_unit *old = lookup(u->kind, u->name);
    int dup_here = 0;
    for (int i = 0; i < s->n; i++)
        if (s->u[i]->kind == u->kind && !strcmp(s->u[i]->name, u->name))
            dup_here = 1;
    if (old || dup_here) {
        s->failed = 1;
        return ln_fail(host->ctx, LN_E_DUPLICATE,
                       "duplicate %s '%s': in %s and in %s",
                       ln_kind_name(u->kind), u->name,
                       old ? old->file : s->path, s->path);
    }
    if (s->n == 256) {
        s->failed = 1;
        return ln_fail(host->ctx, LN_E_ARG, "%s: more than 256 units", s->path);
    }
    s->u[s->n++] = u;
    return LN_OK;
}

static int already_loaded(const char *real) {
    for (int i = 0; i < nloaded; i++)
        if (!strcmp(loaded_files[i], real)) return 1;
    return 0;
}

ln_status ln_registry_load(ln_ctx *ctx, const char *path) {
    char real[PATH_MAX];
    struct stat sb;
    if (!path || !*path)
        return ln_fail(ctx, LN_E_ARG, "load_plugin: empty path");
    if (stat(path, &sb) != 0 || !realpath(path, real))
        return ln_fail(ctx, LN_E_IO, "load_plugin: cannot open '%s': %s", path,
                       strerror(errno));
    /* dlopen would block reading a FIFO */
    if (ln_check_read(ctx, "load_plugin", path)) return ctx->status;
    if (already_loaded(real)) return LN_OK;
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return ln_fail(ctx, LN_E_FORMAT,
                       "load_plugin: '%s' is not a loadable shared object (%s)",
                       path, dlerror());
    const ln_plugin_desc *info = dlsym(h, LN_PLUGIN_INFO_SYMBOL);
    ln_plugin_init_fn init = (ln_plugin_init_fn)dlsym(h, LN_PLUGIN_INIT_SYMBOL);
    if (!info || !init) {
        dlclose(h);
        return ln_fail(ctx, LN_E_FORMAT,
                       "load_plugin: '%s' has no lunet entry point (%s)", path,
                       info ? LN_PLUGIN_INIT_SYMBOL : LN_PLUGIN_INFO_SYMBOL);
    }
    if (info->abi_major != LN_ABI_MAJOR || info->abi_minor > LN_ABI_MINOR) {
        unsigned maj = info->abi_major, min = info->abi_minor;
        dlclose(h);
        return ln_fail(ctx, LN_E_ABI,
                       "load_plugin: '%s' was built for plugin ABI %u.%u, this "
                       "lunet has %d.%d",
                       path, maj, min, LN_ABI_MAJOR, LN_ABI_MINOR);
    }
    staging st = {.n = 0, .path = real, .failed = 0};
    ln_ctx local;
    ln_ctx_clear(&local);
    ln_host host = {LN_ABI_MAJOR, LN_ABI_MINOR, &local, host_add, &st, real};
    ln_status rc = init(&host);
    if (rc != LN_OK || st.failed) {
        /* Keep the handle: the plugin may have left state pointing into it. */
        return ln_fail(ctx, rc ? rc : local.status,
                       "load_plugin: '%s' refused: %s", path,
                       local.msg[0] ? local.msg : "its entry reported failure");
    }
    char *file = strdup(real);
    char **nl = realloc(loaded_files, (size_t)(nloaded + 1) * sizeof *nl);
    if (!file || !nl) {
        free(file);
        if (nl) loaded_files = nl;
        return ln_fail(ctx, LN_E_NOMEM, "load_plugin: out of memory");
    }
    loaded_files = nl;
    loaded_files[nloaded++] = file;
    if (nunits + st.n > capunits) {
        int cap = capunits ? capunits : 64;
        while (cap < nunits + st.n) cap *= 2;
        reg_unit *nu = realloc(units, (size_t)cap * sizeof *nu);
        if (!nu) return ln_fail(ctx, LN_E_NOMEM, "load_plugin: out of memory");
        units = nu;
        capunits = cap;
    }
    for (int i = 0; i < st.n; i++) units[nunits++] = (reg_unit){st.u[i], file};
    return LN_OK;
}

static void warn(const char *msg) {
    char **nw = realloc(warnings, (size_t)(nwarnings + 1) * sizeof *nw);
    if (!nw) return;
    warnings = nw;
    char *m = strdup(msg);
    if (m) warnings[nwarnings++] = m;
}

int ln_registry_warning_count(void) { return nwarnings; }
const char *ln_registry_warning(int i) {
    return i >= 0 && i < nwarnings ? warnings[i] : NULL;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every *.so in dir, in name order (so scans are reproducible); no
** limit on their number. */
static void scan_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 3 || strcmp(de->d_name + len - 3, ".so")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, sizeof *nn * (size_t)cap);
            if (!nn) {
                warn("plugin folder: out of memory listing it; the rest of it is not loaded");
                break;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name))) n++;
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        ln_ctx ctx;
        ln_ctx_clear(&ctx);
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
            ln_fail(&ctx, LN_E_IO, "load_plugin: %s/%s: the path is too long", dir,
                    names[i]);
        if (ctx.status || ln_registry_load(&ctx, path)) warn(ctx.msg);
        free(names[i]);
    }
    free(names);
}

/* The folder holding liblunet itself. */
static int library_dir(char *out, size_t n) {
    Dl_info info;
    if (!dladdr((void *)ln_registry_scan, &info) || !info.dli_fname) return 0;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real)) return 0;
    char *slash = strrchr(real, '/');
    if (!slash) return 0;
    *slash = '\0';
    snprintf(out, n, "%s", real);
    return 1;
}

static void scan_defaults(void) {
    char libdir[PATH_MAX], build[PATH_MAX];
    if (!library_dir(libdir, sizeof libdir)) return;
    /* In the build tree use its plugin folder, once installed the one next
    ** to the library: never both, or every unit would be a duplicate. */
    if (realpath(LN_BUILD_LIB_DIR, build) && !strcmp(build, libdir)) {
        scan_dir(LN_BUILD_PLUGIN_DIR);
    } else {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/%s", libdir, LN_REL_PLUGIN_DIR);
        scan_dir(dir);
    }
}

void ln_registry_scan(void) {
    if (scanned) return;
    scanned = 1;
    const char *env = getenv("LUNET_PLUGIN_PATH");
    if (!env) {
        scan_defaults();
        return;
    }
    /* A colon list; an empty entry stands for the default folders. */
    const char *p = env;
    int defaults_done = 0;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len == 0) {
            if (!defaults_done) scan_defaults();
            defaults_done = 1;
        } else if (len < PATH_MAX) {
            char dir[PATH_MAX];
            memcpy(dir, p, len);
            dir[len] = '\0';
            scan_dir(dir);
        } else {
            warn("LUNET_PLUGIN_PATH: an entry longer than PATH_MAX is skipped");
        }
        if (!colon) break;
        p = colon + 1;
    }
}
