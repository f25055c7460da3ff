/*
** args.c -- keyword arguments handed to plugins, and the record of what
** each unit read (its effective config).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/args.h"
#include "lunet/tensor.h"

typedef struct entry {
    char *key;
    ln_arg_type type;
    int used;
    double num;
    char *str;
    int n;
    double *nums;
    ln_args *table;
} entry;

struct ln_args {
    int count, cap;
    entry *e;
};

ln_args *ln_args_new(void) { return calloc(1, sizeof(ln_args)); }

static void entry_clear(entry *e) {
    free(e->str);
    free(e->nums);
    ln_args_free(e->table);
    e->str = NULL;
    e->nums = NULL;
    e->table = NULL;
    e->n = 0;
}

void ln_args_free(ln_args *a) {
    if (!a) return;
    for (int i = 0; i < a->count; i++) {
        entry_clear(&a->e[i]);
        free(a->e[i].key);
    }
    free(a->e);
    free(a);
}

static entry *find(const ln_args *a, const char *key) {
    for (int i = 0; a && i < a->count; i++)
        if (strcmp(a->e[i].key, key) == 0) return &a->e[i];
    return NULL;
}

/* The entry for key, created (NULL-typed) if absent; NULL on no memory. */
static entry *slot(ln_args *a, const char *key) {
    entry *e = find(a, key);
    if (e) {
        entry_clear(e);
        return e;
    }
    if (a->count == a->cap) {
        int cap = a->cap ? 2 * a->cap : 8;
        entry *ne = realloc(a->e, (size_t)cap * sizeof *ne);
        if (!ne) return NULL;
        a->e = ne;
        a->cap = cap;
    }
    e = &a->e[a->count];
    memset(e, 0, sizeof *e);
    e->key = strdup(key);
    if (!e->key) return NULL;
    a->count++;
    return e;
}

ln_status ln_args_set_number(ln_args *a, const char *key, double v) {
    entry *e = slot(a, key);
    if (!e) return LN_E_NOMEM;
    e->type = LN_ARG_NUMBER;
    e->num = v;
    return LN_OK;
}

ln_status ln_args_set_bool(ln_args *a, const char *key, int v) {
    entry *e = slot(a, key);
    if (!e) return LN_E_NOMEM;
    e->type = LN_ARG_BOOL;
    e->num = v != 0;
    return LN_OK;
}

ln_status ln_args_set_string(ln_args *a, const char *key, const char *v) {
    if (!v) return ln_args_set_null(a, key);
    entry *e = slot(a, key);
    if (!e) return LN_E_NOMEM;
    e->type = LN_ARG_STRING;
    e->str = strdup(v);
    return e->str ? LN_OK : LN_E_NOMEM;
}

ln_status ln_args_set_null(ln_args *a, const char *key) {
    entry *e = slot(a, key);
    if (!e) return LN_E_NOMEM;
    e->type = LN_ARG_NULL;
    return LN_OK;
}

ln_status ln_args_set_numbers(ln_args *a, const char *key, int n,
                              const double *v) {
    entry *e = slot(a, key);
    if (!e) return LN_E_NOMEM;
    e->type = LN_ARG_NUMBERS;
    e->n = n;
    e->nums = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!e->nums) return LN_E_NOMEM;
    if (n) memcpy(e->nums, v, (size_t)n * sizeof *v);
    return LN_OK;
}

ln_status ln_args_set_table(ln_args *a, const char *key, ln_args *sub) {
    entry *e = slot(a, key);
    if (!e) {
        ln_args_free(sub);
        return LN_E_NOMEM;
    }
    e->type = LN_ARG_TABLE;
    e->table = sub;
    return LN_OK;
}

ln_status ln_args_copy(ln_args *dst, const ln_args *src, const char *skip,
                       int marks) {
    for (int i = 0; src && i < src->count; i++) {
        const entry *e = &src->e[i];
        ln_status st = LN_OK;
        if (skip && !strcmp(e->key, skip)) continue;
        switch (e->type) {
        case LN_ARG_NULL: st = ln_args_set_null(dst, e->key); break;
        case LN_ARG_BOOL: st = ln_args_set_bool(dst, e->key, e->num != 0); break;
        case LN_ARG_NUMBER: st = ln_args_set_number(dst, e->key, e->num); break;
        case LN_ARG_STRING: st = ln_args_set_string(dst, e->key, e->str); break;
        case LN_ARG_NUMBERS: st = ln_args_set_numbers(dst, e->key, e->n, e->nums); break;
        case LN_ARG_TABLE: {
            ln_args *sub = ln_args_new();
            st = sub ? ln_args_copy(sub, e->table, NULL, marks) : LN_E_NOMEM;
            st = st ? (ln_args_free(sub), st) : ln_args_set_table(dst, e->key, sub);
        } break;
        }
        if (st) return st;
        if (marks) find(dst, e->key)->used = e->used;
    }
    return LN_OK;
}

ln_args *ln_args_clone(const ln_args *a) {
    if (!a) return NULL;
    ln_args *c = ln_args_new();
    if (c && ln_args_copy(c, a, NULL, 1)) {
        ln_args_free(c);
        return NULL;
    }
    return c;
}

int ln_args_has(const ln_args *a, const char *key) {
    entry *e = find(a, key);
    return e && e->type != LN_ARG_NULL;
}

int ln_args_count(const ln_args *a) { return a ? a->count : 0; }

ln_arg ln_args_at(const ln_args *a, int i) {
    const entry *e = &a->e[i];
    return (ln_arg){e->key, e->type, e->used, e->num, e->str, e->n, e->nums,
                    e->table};
}

int ln_args_unused(const ln_args *a, char *buf, size_t n) {
    int count = 0;
    size_t k = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; a && i < a->count; i++) {
        /* a null value means "the default": never an unknown key */
        if (a->e[i].used || a->e[i].type == LN_ARG_NULL) continue;
        int w = snprintf(buf + k, k < n ? n - k : 0, "%s'%s'",
                         count ? ", " : "", a->e[i].key);
        if (w > 0) k += (size_t)w;
        count++;
    }
    return count;
}

static const char *type_name(ln_arg_type t) {
    static const char *n[] = {"nil", "a boolean", "a number", "a string",
                              "a list", "a table"};
    return n[t];
}

static ln_status wrong_type(ln_ctx *ctx, const entry *e, const char *want) {
    return ln_fail(ctx, LN_E_ARG, "keyword '%s' must be %s, got %s", e->key,
                   want, type_name(e->type));
}

ln_status ln_args_positional(ln_ctx *ctx, ln_args *a, int pos,
                             const char *key) {
    char pk[16];
    snprintf(pk, sizeof pk, "#%d", pos);
    entry *p = find(a, pk);
    if (!p) return LN_OK;
    if (find(a, key))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' given both by position %d and by name", key, pos);
    char *k = strdup(key);
    if (!k) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    free(p->key);
    p->key = k;
    return LN_OK;
}

ln_status ln_args_number(ln_ctx *ctx, ln_args *a, const char *key, double def,
                         double *out) {
    entry *e = find(a, key);
    if (!e || e->type == LN_ARG_NULL) {
        *out = def;
        return ln_args_set_number(a, key, def) ? ln_fail(ctx, LN_E_NOMEM, "out of memory")
                                               : (find(a, key)->used = 1, LN_OK);
    }
    if (e->type != LN_ARG_NUMBER) return wrong_type(ctx, e, "a number");
    e->used = 1;
    *out = e->num;
    return LN_OK;
}

/* Exactly representable as an int64_t (and not NaN or infinite). */
static int is_int64(double v) {
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 &&
           v == (double)(int64_t)v;
}

ln_status ln_args_int(ln_ctx *ctx, ln_args *a, const char *key, int64_t def,
                      int64_t *out) {
    double v;
    ln_status st = ln_args_number(ctx, a, key, (double)def, &v);
    if (st) return st;
    if (!is_int64(v))
        return ln_fail(ctx, LN_E_ARG, "keyword '%s' must be an integer, got %.17g",
                       key, v);
    *out = (int64_t)v;
    return LN_OK;
}

ln_status ln_args_bool(ln_ctx *ctx, ln_args *a, const char *key, int def,
                       int *out) {
    entry *e = find(a, key);
    if (!e || e->type == LN_ARG_NULL) {
        *out = def;
        if (ln_args_set_bool(a, key, def)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        find(a, key)->used = 1;
        return LN_OK;
    }
    if (e->type != LN_ARG_BOOL) return wrong_type(ctx, e, "a boolean");
    e->used = 1;
    *out = e->num != 0;
    return LN_OK;
}

ln_status ln_args_string(ln_ctx *ctx, ln_args *a, const char *key,
                         const char *def, const char **out) {
    entry *e = find(a, key);
    if (!e || e->type == LN_ARG_NULL) {
        if (ln_args_set_string(a, key, def)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        e = find(a, key);
        e->used = 1;
        *out = e->str;
        return LN_OK;
    }
    if (e->type != LN_ARG_STRING) return wrong_type(ctx, e, "a string");
    e->used = 1;
    *out = e->str;
    return LN_OK;
}

ln_status ln_args_ints(ln_ctx *ctx, ln_args *a, const char *key, int max,
                       int *n, int64_t *out) {
    double v[LN_MAX_DIM * 8];
    if (max > (int)(sizeof v / sizeof *v)) max = (int)(sizeof v / sizeof *v);
    ln_status st = ln_args_numbers(ctx, a, key, max, n, v);
    if (st) {
        if (st == LN_E_ARG && find(a, key)->type != LN_ARG_NUMBERS &&
            find(a, key)->type != LN_ARG_NUMBER)
            return wrong_type(ctx, find(a, key), "a list of integers");
        return st;
    }
    for (int i = 0; i < *n; i++) {
        if (!is_int64(v[i])) {
            *n = 0;
            return ln_fail(ctx, LN_E_ARG, "keyword '%s' must hold integers, "
                           "entry %d is %.17g", key, i + 1, v[i]);
        }
        out[i] = (int64_t)v[i];
    }
    return LN_OK;
}

ln_status ln_args_numbers(ln_ctx *ctx, ln_args *a, const char *key, int max,
                          int *n, double *out) {
    entry *e = find(a, key);
    *n = 0;
    if (!e || e->type == LN_ARG_NULL) {
        if (ln_args_set_null(a, key)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        find(a, key)->used = 1;
        return LN_OK;
    }
    e->used = 1;
    if (e->type == LN_ARG_NUMBER) {
        if (max < 1) return ln_fail(ctx, LN_E_ARG, "keyword '%s': too many values", key);
        out[0] = e->num;
        *n = 1;
        return LN_OK;
    }
    if (e->type != LN_ARG_NUMBERS) return wrong_type(ctx, e, "a list of numbers");
    if (e->n > max)
        return ln_fail(ctx, LN_E_ARG, "keyword '%s': %d values, at most %d",
                       key, e->n, max);
    for (int i = 0; i < e->n; i++) out[i] = e->nums[i];
    *n = e->n;
    return LN_OK;
}

ln_status ln_args_unit(ln_ctx *ctx, ln_args *a, const char *key,
                       const char *def, const char **name, ln_args **sub) {
    entry *e = find(a, key);
    *name = NULL;
    *sub = NULL;
    if (e && e->type == LN_ARG_TABLE) {
        e->used = 1;
        entry *n = find(e->table, "name");
        if (!n || n->type != LN_ARG_STRING)
            return ln_fail(ctx, LN_E_ARG,
                           "keyword '%s': the table needs a name", key);
        n->used = 1;
        *name = n->str;
        *sub = e->table;
        return LN_OK;
    }
    if (e && e->type != LN_ARG_NULL && e->type != LN_ARG_STRING)
        return wrong_type(ctx, e, "a name or a table with a name");
    const char *given = e && e->type == LN_ARG_STRING ? e->str : def;
    if (!given) { /* absent, no default: recorded as null */
        if (ln_args_set_null(a, key)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        find(a, key)->used = 1;
        return LN_OK;
    }
    /* A plain name becomes {name = ...}, so the config can hold sub-args. */
    ln_args *t = ln_args_new();
    if (!t || ln_args_set_string(t, "name", given)) {
        ln_args_free(t);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    find(t, "name")->used = 1;
    if (ln_args_set_table(a, key, t)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    e = find(a, key);
    e->used = 1;
    *name = find(t, "name")->str;
    *sub = t;
    return LN_OK;
}

ln_status ln_args_table(ln_ctx *ctx, ln_args *a, const char *key,
                        ln_args **sub) {
    entry *e = find(a, key);
    *sub = NULL;
    if (!e || e->type == LN_ARG_NULL) {
        if (ln_args_set_null(a, key)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        find(a, key)->used = 1;
        return LN_OK;
    }
    if (e->type != LN_ARG_TABLE) return wrong_type(ctx, e, "a list of lists");
    e->used = 1;
    *sub = e->table;
    return LN_OK;
}

ln_status ln_args_check_range(ln_ctx *ctx, const char *owner, const char *key,
                              double v, double lo, double hi) {
    if (v >= lo && v <= hi) return LN_OK;
    return ln_fail(ctx, LN_E_ARG, "%s: '%s' must be in [%g, %g], got %g", owner,
                   key, lo, hi, v);
}

ln_status ln_args_regularizer(ln_ctx *ctx, ln_args *a, const char *key,
                              double *l1, double *l2) {
    *l1 = *l2 = 0;
    entry *e = find(a, key);
    if (!e || e->type == LN_ARG_NULL) {
        if (ln_args_set_null(a, key)) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        find(a, key)->used = 1;
        return LN_OK;
    }
    e->used = 1;
    if (e->type == LN_ARG_NUMBER) {
        *l2 = e->num;
    } else if (e->type == LN_ARG_STRING) {
        if (strcmp(e->str, "l2") == 0) *l2 = 0.01;
        else if (strcmp(e->str, "l1") == 0) *l1 = 0.01;
        else if (strcmp(e->str, "l1_l2") == 0) *l1 = *l2 = 0.01;
        else
            return ln_fail(ctx, LN_E_NOTFOUND, "unknown regularizer '%s'",
                           e->str);
    } else if (e->type == LN_ARG_TABLE) {
        for (int i = 0; i < e->table->count; i++) {
            entry *t = &e->table->e[i];
            if (strcmp(t->key, "name") == 0) { t->used = 1; continue; }
            if (t->type != LN_ARG_NUMBER ||
                (strcmp(t->key, "l1") && strcmp(t->key, "l2")))
                return ln_fail(ctx, LN_E_ARG,
                               "keyword '%s': unknown regularizer key '%s'",
                               key, t->key);
            t->used = 1;
            if (strcmp(t->key, "l1") == 0) *l1 = t->num;
            else *l2 = t->num;
        }
    } else {
        return wrong_type(ctx, e, "a regularizer");
    }
    if (*l1 < 0 || *l2 < 0)
        return ln_fail(ctx, LN_E_ARG, "keyword '%s': negative factor", key);
    return LN_OK;
}
