/*
** registry.c -- loading plugins (dlopen), checking what they register, and
** finding their units by name (registry.h).
**
** A plugin's units are staged while its entry runs and committed only if
** every one is acceptable -- ops table of the right size, required ops
** present, name and class name free in its kind -- so a refusal changes
** nothing. Refused files are remembered with their reason and the units
** they offered, so "unknown optimizer 'radam'" can say which file offered
** it and why it was refused.
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
#include <strings.h>
#include <sys/stat.h>

#include "lunet/registry.h"
#include "lunet/safe_open.h"

#define MAX_STAGED 256

typedef struct reg_unit {
    const ln_unit *unit;
    char *file;
} reg_unit;

/* A plugin file that was refused: why, and the units it offered. */
typedef struct refused {
    char *file, *why;
    int n;
    ln_kind *kinds;
    char **names; /* unit names, then class names ("" when none): 2n */
} refused;

static reg_unit *units;
static int nunits, capunits;
static char **loaded_files;
static int nloaded;
static char **warnings;
static int nwarnings;
static refused *refusals;
static int nrefused;
static int scanned;
static int generation; /* commits of units: see ln_registry_generation */

const char *ln_kind_name(ln_kind k) {
    static const char *names[] = {"layer", "activation", "initializer",
        "optimizer", "schedule", "loss", "metric"};
    return (unsigned)k < LN_KIND_COUNT ? names[k] : "?";
}

int ln_registry_count(void) {
    ln_registry_scan();
    return nunits;
}

int ln_registry_generation(void) {
    ln_registry_scan();
    return generation;
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

int ln_registry_refusal(ln_kind kind, const char *name, char *buf, size_t n) {
    if (n) buf[0] = '\0';
    for (int i = 0; name && i < nrefused; i++)
        for (int j = 0; j < refusals[i].n; j++)
            if (refusals[i].kinds[j] == kind &&
                (!strcmp(refusals[i].names[j], name) ||
                 !strcasecmp(refusals[i].names[refusals[i].n + j], name)))
                return snprintf(buf, n, "its plugin %s was refused: %s",
                                refusals[i].file, refusals[i].why);
    return 0;
}

int ln_registry_explain(ln_kind kind, const char *name, char *buf, size_t n) {
    int k = ln_registry_refusal(kind, name, buf, n);
    for (int i = 0; !k && i < nwarnings && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%s",
                      i ? "; " : "plugins that failed to load: ", warnings[i]);
    return k;
}

const ln_unit *ln_registry_require(ln_ctx *ctx, ln_kind kind,
                                   const char *name) {
    const ln_unit *u = ln_registry_find(kind, name, NULL);
    if (!u) {
        char why[LN_MSG_MAX];
        ln_registry_explain(kind, name, why, sizeof why);
        ln_fail(ctx, LN_E_NOTFOUND, "unknown %s '%s'%s%s%s", ln_kind_name(kind),
                name ? name : "(nil)", why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
    return u;
}

/* ---- checking a unit ------------------------------------------------------------ */

/* While a plugin's init runs, its units are staged here. */
typedef struct staging {
    const ln_unit *u[MAX_STAGED]; /* accepted so far */
    int n;
    const ln_unit *offered[MAX_STAGED]; /* everything host->add saw */
    int noffered;
    const char *path;
    unsigned flags;
    int failed;
} staging;

/* The ops table's size against the kind's struct, and the ops a unit of the
** kind cannot do without. Tables of ABI 2.0 are complete; a later minor
** accepts tables from the offset of its first new field on (LN_OPS_HAS). */
static ln_status check_ops(ln_ctx *ctx, const ln_unit *u) {
    const char *missing = NULL, *tname = NULL;
    size_t want = 0, have = *(const size_t *)u->ops;
#define REQUIRE(T, field)                                                    \
    do {                                                                     \
        if (!missing && !((const T *)u->ops)->field) missing = #field;       \
    } while (0)
    switch (u->kind) {
    case LN_KIND_LAYER: {
        const ln_layer_ops *o = u->ops;
        want = sizeof *o, tname = "ln_layer_ops";
        if (have == offsetof(ln_layer_ops, reset_states) || /* 2.0 */
            have == offsetof(ln_layer_ops, compute_mask) || /* 2.1 */
            have == offsetof(ln_layer_ops, is_view))        /* 2.2, 2.3 */
            want = have;
        if (have == want) {
            REQUIRE(ln_layer_ops, forward);
            REQUIRE(ln_layer_ops, backward);
            if (o->min_inputs < 0 || (o->max_inputs >= 0 && o->max_inputs < o->min_inputs))
                return ln_fail(ctx, LN_E_ARG, "layer '%s': inputs %d to %d is "
                               "no range (max_inputs -1 means no limit)", u->name,
                               o->min_inputs, o->max_inputs);
        }
    } break;
    case LN_KIND_ACTIVATION:
        want = sizeof(ln_activation_ops), tname = "ln_activation_ops";
        if (have == want) {
            REQUIRE(ln_activation_ops, forward);
            REQUIRE(ln_activation_ops, backward);
        }
        break;
    case LN_KIND_INITIALIZER:
        want = sizeof(ln_initializer_ops), tname = "ln_initializer_ops";
        if (have == want) REQUIRE(ln_initializer_ops, fill);
        break;
    case LN_KIND_OPTIMIZER:
        want = sizeof(ln_optimizer_ops), tname = "ln_optimizer_ops";
        if (have == offsetof(ln_optimizer_ops, update_reg)) /* 2.0 to 2.2 */
            want = have;
        if (have == want) REQUIRE(ln_optimizer_ops, update);
        break;
    case LN_KIND_SCHEDULE:
        want = sizeof(ln_schedule_ops), tname = "ln_schedule_ops";
        if (have == want) REQUIRE(ln_schedule_ops, value);
        break;
    case LN_KIND_LOSS:
        want = sizeof(ln_loss_ops), tname = "ln_loss_ops";
        if (have == want) REQUIRE(ln_loss_ops, compute);
        break;
    case LN_KIND_METRIC:
        want = sizeof(ln_metric_ops), tname = "ln_metric_ops";
        if (have == want) REQUIRE(ln_metric_ops, update);
        break;
    default: break;
    }
#undef REQUIRE
    if (have != want)
        return ln_fail(ctx, LN_E_ABI, "%s '%s': its ops table has size %zu, "
                       "this lunet's %s has %zu (fill .size = sizeof(%s))",
                       ln_kind_name(u->kind), u->name, have, tname, want, tname);
    if (missing)
        return ln_fail(ctx, LN_E_ARG, "%s '%s': the required op '%s' is NULL",
                       ln_kind_name(u->kind), u->name, missing);
    return LN_OK;
}

/* Whether units a and b of one kind would answer to the same name: unit
** names are looked up exactly, class names in any case (lunet.registry's
** resolve), so every name and class name must differ case-insensitively. */
static const char *clash(const ln_unit *a, const ln_unit *b) {
    const char *an[2] = {a->name, a->class_name}, *bn[2] = {b->name, b->class_name};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (an[i] && bn[j] && !strcasecmp(an[i], bn[j])) return bn[j];
    return NULL;
}

static ln_status host_add(ln_host *host, const ln_unit *u) {
    staging *s = host->registry;
    ln_status st;
    if (u && u->name && (unsigned)u->kind < LN_KIND_COUNT && s->noffered < MAX_STAGED)
        s->offered[s->noffered++] = u;
    if (!u || !u->name || !*u->name || !u->ops || (unsigned)u->kind >= LN_KIND_COUNT) {
        s->failed = 1;
        return ln_fail(host->ctx, LN_E_ARG, "a malformed unit (no name, no ops "
                       "or an unknown kind)");
    }
    if ((st = check_ops(host->ctx, u))) {
        s->failed = 1;
        return st;
    }
    for (int i = 0; i < s->n; i++) {
        const char *c = s->u[i]->kind == u->kind ? clash(s->u[i], u) : NULL;
        if (c) {
            s->failed = 1;
            return ln_fail(host->ctx, LN_E_DUPLICATE, "%s '%s' and '%s' both "
                           "answer to '%s'", ln_kind_name(u->kind), s->u[i]->name,
                           u->name, c);
        }
    }
    for (int i = 0; i < nunits; i++) {
        const ln_unit *old = units[i].unit;
        const char *c = old->kind == u->kind ? clash(old, u) : NULL;
        /* An override replaces the unit of the same name (and only it). */
        if (!c || ((s->flags & LN_LOAD_OVERRIDE) && !strcmp(old->name, u->name)))
            continue;
        s->failed = 1;
        if (!strcmp(old->name, u->name))
            return ln_fail(host->ctx, LN_E_DUPLICATE,
                           "duplicate %s '%s': in %s and in %s (to replace it on "
                           "purpose: ln.load_plugin(path, {override = true}))",
                           ln_kind_name(u->kind), u->name, units[i].file, s->path);
        return ln_fail(host->ctx, LN_E_DUPLICATE,
                       "%s '%s': the name '%s' is taken by %s '%s' of %s",
                       ln_kind_name(u->kind), u->name, c, ln_kind_name(old->kind),
                       old->name, units[i].file);
    }
    if (s->n == MAX_STAGED) {
        s->failed = 1;
        return ln_fail(host->ctx, LN_E_ARG, "more than %d units", MAX_STAGED);
    }
    s->u[s->n++] = u;
    return LN_OK;
}

/* ---- loading ---------------------------------------------------------------------- */

static int already_loaded(const char *real) {
    for (int i = 0; i < nloaded; i++)
        if (!strcmp(loaded_files[i], real)) return 1;
    return 0;
}

/* Remember a refused file, its reason and the units it offered. */
static void remember_refusal(const char *file, const char *why,
                             const staging *s) {
    refused *nr = realloc(refusals, (size_t)(nrefused + 1) * sizeof *nr);
    if (!nr) return;
    refusals = nr;
    refused *r = &refusals[nrefused];
    memset(r, 0, sizeof *r);
    r->file = strdup(file);
    r->why = strdup(why);
    int n = s ? s->noffered : 0;
    if (n) {
        r->kinds = malloc(sizeof *r->kinds * (size_t)n);
        r->names = calloc(2 * (size_t)n, sizeof *r->names);
    }
    int ok = r->file && r->why && (!n || (r->kinds && r->names));
    for (int i = 0; ok && i < n; i++) {
        const ln_unit *u = s->offered[i];
        r->kinds[i] = u->kind;
        r->names[i] = strdup(u->name);
        r->names[n + i] = strdup(u->class_name ? u->class_name : "");
        ok = r->names[i] && r->names[n + i];
    }
    if (!ok) {
        for (int i = 0; r->names && i < 2 * n; i++) free(r->names[i]);
        free(r->file), free(r->why), free(r->kinds), free(r->names);
        return;
    }
    r->n = n;
    nrefused++;
}

/* Commit the staged units of file (replacing same-named ones on override). */
static ln_status commit(ln_ctx *ctx, const staging *st, const char *real) {
    char *file = strdup(real);
    char **nl = realloc(loaded_files, (size_t)(nloaded + 1) * sizeof *nl);
    if (nl) loaded_files = nl;
    if (!file || !nl) {
        free(file);
        return ln_fail(ctx, LN_E_NOMEM, "load_plugin: out of memory");
    }
    if (nunits + st->n > capunits) {
        int cap = capunits ? capunits : 64;
        while (cap < nunits + st->n) cap *= 2;
        reg_unit *nu = realloc(units, (size_t)cap * sizeof *nu);
        if (!nu) {
            free(file);
            return ln_fail(ctx, LN_E_NOMEM, "load_plugin: out of memory");
        }
        units = nu;
        capunits = cap;
    }
    loaded_files[nloaded++] = file;
    generation++;
    for (int i = 0; i < st->n; i++) {
        reg_unit *old = lookup(st->u[i]->kind, st->u[i]->name);
        if (old) *old = (reg_unit){st->u[i], file};
        else units[nunits++] = (reg_unit){st->u[i], file};
    }
    return LN_OK;
}

/* Load one file; a refusal is remembered for the "unknown unit" errors. */
static ln_status load(ln_ctx *ctx, const char *path, unsigned flags) {
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
        ln_fail(ctx, LN_E_ABI,
                "load_plugin: '%s' was built for plugin ABI %u.%u, this lunet "
                "has %d.%d%s", path, maj, min, LN_ABI_MAJOR, LN_ABI_MINOR,
                maj < LN_ABI_MAJOR ? " (rebuild it against this lunet's headers)" : "");
        remember_refusal(real, ctx->msg, NULL);
        return LN_E_ABI;
    }
    staging st = {.n = 0, .path = real, .flags = flags, .failed = 0};
    ln_ctx local;
    ln_ctx_clear(&local);
    ln_host host = {LN_ABI_MAJOR, LN_ABI_MINOR, &local, host_add, &st, real};
    ln_status rc = init(&host);
    if (rc != LN_OK || st.failed) {
        /* Keep the handle: the plugin may have left state pointing into it. */
        ln_fail(ctx, rc ? rc : local.status, "load_plugin: '%s' refused: %s",
                path, local.msg[0] ? local.msg : "its entry reported failure");
        remember_refusal(real, local.msg[0] ? local.msg : "its entry reported failure",
                         &st);
        return ctx->status;
    }
    return commit(ctx, &st, real);
}

ln_status ln_registry_load(ln_ctx *ctx, const char *path, unsigned flags) {
    ln_registry_scan(); /* built-ins first, whatever the order of calls */
    return load(ctx, path, flags);
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
        if (ctx.status || load(&ctx, path, 0)) warn(ctx.msg);
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
    /* The default folders first when they take part (no variable, or an
    ** empty entry in it): a user's folder cannot shadow a built-in. */
    int defaults = !env || !*env || env[0] == ':' || strstr(env, "::") ||
                   env[strlen(env) - 1] == ':';
    if (defaults) scan_defaults();
    for (const char *p = env; p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len > 0 && len < PATH_MAX) {
            char dir[PATH_MAX];
            memcpy(dir, p, len);
            dir[len] = '\0';
            scan_dir(dir);
        } else {
            warn("LUNET_PLUGIN_PATH: an entry longer than PATH_MAX is skipped");
        }
        p = colon ? colon + 1 : NULL;
    }
}
