/*
** json.c -- JSON through libjansson (Debian's libjansson): parsing with
** duplicate keys refused, writing with Python's separators and the
** shortest exact precision for reals. An ln_json is a jansson json_t.
*/
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define J(v) ((json_t *)(v))
#define CJ(v) ((const json_t *)(v))

ln_json *ln_json_parse(ln_ctx *ctx, const char *what, const char *text,
                       size_t len) {
    json_error_t err;
    json_t *v = json_loadb(text, len,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                           &err);
    if (!v)
        ln_fail(ctx, LN_E_FORMAT, "%s: invalid JSON at line %d, column %d: %s",
                what ? what : "json", err.line, err.column, err.text);
    return (ln_json *)v;
}

/* Text of v with `precision` significant digits for reals. */
static char *dump_with(const json_t *v, int indent, int ascii, int precision) {
    size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(precision);
    if (indent > 0) flags |= JSON_INDENT(indent > 31 ? 31 : indent);
    if (ascii) flags |= JSON_ENSURE_ASCII;
    return json_dumps(v, flags);
}

char *ln_json_dump(ln_ctx *ctx, const ln_json *v, int indent, int ascii) {
    if (!v) {
        ln_fail(ctx, LN_E_ARG, "json: nothing to write");
        return NULL;
    }
    /* The fewest digits that give back the very same doubles: 15 digits
    ** read nicely ("0.1", "1e-07"); 17 always round-trip. */
    for (int p = 15; p <= 17; p++) {
        char *s = dump_with(CJ(v), indent, ascii, p);
        if (!s) break;
        if (p == 17) return s;
        json_t *back = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        int same = back && json_equal(back, CJ(v));
        json_decref(back);
        if (same) return s;
        free(s);
    }
    ln_fail(ctx, LN_E_NOMEM, "json: out of memory while writing");
    return NULL;
}

void ln_json_free(ln_json *v) { json_decref(J(v)); }

/* ---- reading ---------------------------------------------------------------- */

ln_json_type ln_json_type_of(const ln_json *v) {
    switch (json_typeof(CJ(v))) {
    case JSON_OBJECT: return LN_JSON_OBJECT;
    case JSON_ARRAY: return LN_JSON_ARRAY;
    case JSON_STRING: return LN_JSON_STRING;
    case JSON_INTEGER: return LN_JSON_INT;
    case JSON_REAL: return LN_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return LN_JSON_BOOL;
    default: return LN_JSON_NULL;
    }
}

int ln_json_bool_value(const ln_json *v) { return json_is_true(CJ(v)); }

int64_t ln_json_int_value(const ln_json *v) {
    return (int64_t)json_integer_value(CJ(v));
}

double ln_json_real_value(const ln_json *v) { return json_number_value(CJ(v)); }

const char *ln_json_string_value(const ln_json *v, size_t *len) {
    if (len) *len = json_string_length(CJ(v));
    return json_string_value(CJ(v));
}

size_t ln_json_size(const ln_json *v) {
    if (json_is_array(CJ(v))) return json_array_size(CJ(v));
    if (json_is_object(CJ(v))) return json_object_size(CJ(v));
    return 0;
}

const ln_json *ln_json_at(const ln_json *array, size_t i) {
    return (const ln_json *)json_array_get(CJ(array), i);
}

const ln_json *ln_json_get(const ln_json *object, const char *key) {
    return (const ln_json *)json_object_get(CJ(object), key);
}

void *ln_json_iter(const ln_json *object) {
    return json_object_iter(J(object));
}

void *ln_json_iter_next(const ln_json *object, void *it) {
    return json_object_iter_next(J(object), it);
}

const char *ln_json_iter_key(void *it, size_t *len) {
    const char *k = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
    if (len) *len = json_object_iter_key_len(it);
#else
    if (len) *len = strlen(k);
#endif
    return k;
}

const ln_json *ln_json_iter_value(void *it) {
    return (const ln_json *)json_object_iter_value(it);
}

/* ---- building ------------------------------------------------------------------ */

ln_json *ln_json_null(void) { return (ln_json *)json_null(); }
ln_json *ln_json_bool(int v) { return (ln_json *)json_boolean(v); }
ln_json *ln_json_int(int64_t v) { return (ln_json *)json_integer((json_int_t)v); }

ln_json *ln_json_real(double v) {
    return isfinite(v) ? (ln_json *)json_real(v) : NULL;
}

ln_json *ln_json_string(const char *s, size_t len) {
    return (ln_json *)json_stringn(s, len);
}

ln_json *ln_json_array(void) { return (ln_json *)json_array(); }
ln_json *ln_json_object(void) { return (ln_json *)json_object(); }

ln_status ln_json_append(ln_json *array, ln_json *v) {
    if (!v) return LN_E_ARG;
    return json_array_append_new(J(array), J(v)) ? LN_E_NOMEM : LN_OK;
}

ln_status ln_json_set(ln_json *object, const char *key, size_t klen,
                      ln_json *v) {
    if (!v) return LN_E_ARG;
#if JANSSON_VERSION_HEX >= 0x020e00
    return json_object_setn_new(J(object), key, klen, J(v)) ? LN_E_ARG : LN_OK;
#else
    if (strlen(key) != klen) {
        json_decref(J(v));
        return LN_E_ARG;
    }
    return json_object_set_new(J(object), key, J(v)) ? LN_E_ARG : LN_OK;
#endif
}
