/*
** registry.h -- the host side of plugins (core): loading and listing them,
** and instances of the units that are not layers.
**
** Units come from plugin files: those of LUNET_PLUGIN_PATH (a colon list;
** an empty entry stands for the default folders) and the default folders
** themselves -- the build tree's plugin folder, or the installed one next
** to the library -- scanned once, lazily, the default folders first; and
** those loaded explicitly. Within a kind, unit names and class names are
** unique (case-insensitively): a file offering a taken one is refused as a
** whole, naming both files, whatever the order -- a user plugin cannot
** silently replace a built-in. An explicit load with LN_LOAD_OVERRIDE
** replaces units of the same kind and name on purpose.
*/
#ifndef LUNET_REGISTRY_H
#define LUNET_REGISTRY_H

#include "lunet/plugin.h"

LN_API const char *ln_kind_name(ln_kind k); /* "layer", "activation", ... */

#define LN_LOAD_OVERRIDE 1u /* the file's units replace same-named ones */

/* Load one plugin file explicitly (after the scan, so that built-ins are
** known). Refusals (not a shared object, no entry, ABI mismatch with both
** versions, a malformed unit, a duplicate naming both files, the entry
** failing) return an error and leave the registry unchanged. */
LN_API ln_status ln_registry_load(ln_ctx *ctx, const char *path,
                                  unsigned flags);
/* Scan LUNET_PLUGIN_PATH and the default folders (once; later calls do
** nothing). Files that fail are skipped; their messages are kept. */
LN_API void ln_registry_scan(void);
LN_API int ln_registry_warning_count(void);
LN_API const char *ln_registry_warning(int i);
/* Find a unit (scanning first if needed); NULL if unknown. file (optional)
** gets the plugin's path. */
LN_API const ln_unit *ln_registry_find(ln_kind kind, const char *name,
                                       const char **file);
/* Why unit `name` (or class name) of `kind` is missing when a refused file
** offered it: "its plugin <file> was refused: <why>" into buf; returns the
** length (0: no refused file offered it). */
LN_API int ln_registry_refusal(ln_kind kind, const char *name, char *buf,
                               size_t n);
/* The same, else the list of the files that failed to load; the
** "unknown <kind>" errors of C callers carry it. */
LN_API int ln_registry_explain(ln_kind kind, const char *name, char *buf,
                               size_t n);
LN_API int ln_registry_count(void);
LN_API const ln_unit *ln_registry_at(int i, const char **file);
/* A number that changes whenever a plugin's units are added or replace
** others (an override keeps the count): callers caching the units by kind
** rebuild when it changes. */
LN_API int ln_registry_generation(void);

/* ---- instances of non-layer units ------------------------------------------ */

/* A unit instance: its unit, its state (state_size bytes, owned) and its
** arguments (owned; after create they hold the effective config). */
typedef struct ln_object {
    const ln_unit *unit;
    void *state;
    ln_args *args;
} ln_object;

/* Create an instance of a registered activation, initializer, loss, metric,
** schedule or optimizer: runs the unit's create and refuses keyword
** arguments it did not read. Takes ownership of args (NULL = none). */
LN_API ln_object *ln_object_new(ln_ctx *ctx, ln_kind kind, const char *name,
                                ln_args *args);
LN_API void ln_object_free(ln_object *o);

/* The value of a schedule object at a 0-based step. */
LN_API double ln_schedule_value(const ln_object *schedule, double step);

#endif
