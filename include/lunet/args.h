/*
** args.h -- keyword arguments (core): what a unit is created with (a Lua
** table, or a saved config), and the record of what it read.
**
** Plugins read with the getters; hosts (the binding, tests, saved configs)
** build tables with ln_args_new and the setters. Every read records the
** effective value -- the given one or the default -- so the unit's full
** config (what get_config and model files show) is exactly what it read. A
** key given but never read is reported by the core as an unknown keyword
** argument after create. Getters return LN_OK, or LN_E_ARG with a message
** naming the key when the value has the wrong type. Strings returned stay
** valid while args live.
*/
#ifndef LUNET_ARGS_H
#define LUNET_ARGS_H

#include "lunet/lunet.h"

typedef struct ln_args ln_args;

LN_API int ln_args_has(const ln_args *a, const char *key);
/* Positional argument `pos` (1-based, as in Dense{300}) becomes `key`. */
LN_API ln_status ln_args_positional(ln_ctx *ctx, ln_args *a, int pos,
                                    const char *key);
LN_API ln_status ln_args_number(ln_ctx *ctx, ln_args *a, const char *key,
                                double def, double *out);
LN_API ln_status ln_args_int(ln_ctx *ctx, ln_args *a, const char *key,
                             int64_t def, int64_t *out);
LN_API ln_status ln_args_bool(ln_ctx *ctx, ln_args *a, const char *key,
                              int def, int *out);
/* def may be NULL (recorded as null); *out is then NULL when absent. */
LN_API ln_status ln_args_string(ln_ctx *ctx, ln_args *a, const char *key,
                                const char *def, const char **out);
/* A number or a list of numbers; *n gets the count (0 when absent or null). */
LN_API ln_status ln_args_ints(ln_ctx *ctx, ln_args *a, const char *key,
                              int max, int *n, int64_t *out);
/* A number or a list of numbers (not necessarily integers). */
LN_API ln_status ln_args_numbers(ln_ctx *ctx, ln_args *a, const char *key,
                                 int max, int *n, double *out);
/* A unit reference: a string name ("he_normal") or a table
** {name = "variance_scaling", scale = 2, ...} as Lua objects give. *name is
** the unit name; *sub is the table's other keys (never NULL; empty for a
** plain string). def is used when the key is absent. */
LN_API ln_status ln_args_unit(ln_ctx *ctx, ln_args *a, const char *key,
                              const char *def, const char **name,
                              ln_args **sub);
/* A nested table (a list of lists such as ZeroPadding2D's ((1, 1), (2, 2)),
** whose entries are keyed "#1", "#2", ...): *sub is borrowed, NULL when
** the key is absent or null. Any other type fails naming the key. */
LN_API ln_status ln_args_table(ln_ctx *ctx, ln_args *a, const char *key,
                               ln_args **sub);
/* Reject values: helpers for the common checks, messages name the key. */
LN_API ln_status ln_args_check_range(ln_ctx *ctx, const char *owner,
                                     const char *key, double v, double lo,
                                     double hi);

/* Building args from C (tests, the binding, saved configs). */
LN_API ln_args *ln_args_new(void);
LN_API void ln_args_free(ln_args *a);
/* Copy every entry of src except key `skip` (NULL: none) into dst,
** tables deeply; entries of dst with the same keys are replaced. With
** marks, the copies keep src's read marks (a config copied whole);
** without, they are unread (arguments for another unit to read afresh).
** The one copy of ln_args: everything below that copies uses it. */
LN_API ln_status ln_args_copy(ln_args *dst, const ln_args *src,
                              const char *skip, int marks);
/* A new deep copy with the read marks (ln_args_copy into a new table);
** NULL on no memory or a NULL a. */
LN_API ln_args *ln_args_clone(const ln_args *a);
LN_API ln_status ln_args_set_number(ln_args *a, const char *key, double v);
LN_API ln_status ln_args_set_bool(ln_args *a, const char *key, int v);
LN_API ln_status ln_args_set_string(ln_args *a, const char *key,
                                    const char *v);
LN_API ln_status ln_args_set_null(ln_args *a, const char *key);
LN_API ln_status ln_args_set_numbers(ln_args *a, const char *key, int n,
                                     const double *v);
/* Takes ownership of sub. */
LN_API ln_status ln_args_set_table(ln_args *a, const char *key, ln_args *sub);
/* Keys given but never read, comma-separated into buf; 0 if none. */
LN_API int ln_args_unused(const ln_args *a, char *buf, size_t n);

/* Iteration over entries (for configs): type of entry i, its key. */
typedef enum ln_arg_type {
    LN_ARG_NULL, LN_ARG_BOOL, LN_ARG_NUMBER, LN_ARG_STRING, LN_ARG_NUMBERS,
    LN_ARG_TABLE
} ln_arg_type;
typedef struct ln_arg {
    const char *key;
    ln_arg_type type;
    int used;
    double num;         /* NUMBER, BOOL */
    const char *str;    /* STRING */
    int n;              /* NUMBERS */
    const double *nums; /* NUMBERS */
    ln_args *table;     /* TABLE */
} ln_arg;
LN_API int ln_args_count(const ln_args *a);
LN_API ln_arg ln_args_at(const ln_args *a, int i);

/* A regularizer keyword ({l1 = .., l2 = ..}, a number = l2, or "l1", "l2",
** "l1_l2" with Keras's default 0.01) into *l1, *l2; absent or nil: 0, 0. */
LN_API ln_status ln_args_regularizer(ln_ctx *ctx, ln_args *a, const char *key,
                                     double *l1, double *l2);

#endif
