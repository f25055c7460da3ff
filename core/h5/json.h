/*
** json.h -- JSON text <-> a tree of values, through libjansson (private to
** the core, the Lua binding and the tests; the binding never links
** jansson itself).
**
** A tree is built from ln_json_new_* values: containers take ownership of
** what is added to them, the caller frees the root with ln_json_free.
** Objects keep their keys in insertion order, so written text follows the
** order in which keys were set (Keras configs read naturally).
**
** Numbers: integers stay integers (int64); reals are written with the
** fewest digits (15, 16 or 17 significant) that read back to exactly the
** same doubles, so "0.001" stays "0.001" and every value round-trips
** bit for bit. NaN and infinities cannot be written (JSON has none).
*/
#ifndef LUNET_JSON_H
#define LUNET_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "lunet/lunet.h"

typedef struct ln_json ln_json;

typedef enum ln_json_type {
    LN_JSON_NULL, LN_JSON_BOOL, LN_JSON_INT, LN_JSON_REAL, LN_JSON_STRING,
    LN_JSON_ARRAY, LN_JSON_OBJECT
} ln_json_type;

/* ---- parsing and writing ----------------------------------------------------- */

/* Parse text (len bytes; NUL bytes inside strings are allowed). Duplicate
** keys are refused. `what` names the text in messages ("x.h5: model_config").
** NULL on failure, with the line, column and reason in ctx. */
LN_API ln_json *ln_json_parse(ln_ctx *ctx, const char *what, const char *text,
                              size_t len);
/* The text of v, malloc'ed (free with free()). indent 0: one line with
** ", " and ": " separators, as Python's json.dumps writes; indent > 0:
** pretty-printed. ascii: escape non-ASCII characters as \uXXXX. */
LN_API char *ln_json_dump(ln_ctx *ctx, const ln_json *v, int indent,
                          int ascii);
LN_API void ln_json_free(ln_json *v);

/* ---- reading a tree ------------------------------------------------------------ */

LN_API ln_json_type ln_json_type_of(const ln_json *v);
LN_API int ln_json_bool_value(const ln_json *v);
LN_API int64_t ln_json_int_value(const ln_json *v);
LN_API double ln_json_real_value(const ln_json *v); /* INT converts too */
LN_API const char *ln_json_string_value(const ln_json *v, size_t *len);
/* Entries of an array or an object. */
LN_API size_t ln_json_size(const ln_json *v);
LN_API const ln_json *ln_json_at(const ln_json *array, size_t i);
LN_API const ln_json *ln_json_get(const ln_json *object, const char *key);
/* Object iteration in key order of the text: it = ln_json_iter(o); while
** (it) { key = ln_json_iter_key(it); value = ln_json_iter_value(it);
** it = ln_json_iter_next(o, it); } */
LN_API void *ln_json_iter(const ln_json *object);
LN_API void *ln_json_iter_next(const ln_json *object, void *it);
LN_API const char *ln_json_iter_key(void *it, size_t *len);
LN_API const ln_json *ln_json_iter_value(void *it);

/* ---- building a tree -------------------------------------------------------------- */

/* NULL when out of memory (or, for strings, not valid UTF-8; for reals,
** not finite). */
LN_API ln_json *ln_json_null(void);
LN_API ln_json *ln_json_bool(int v);
LN_API ln_json *ln_json_int(int64_t v);
LN_API ln_json *ln_json_real(double v);
LN_API ln_json *ln_json_string(const char *s, size_t len);
LN_API ln_json *ln_json_array(void);
LN_API ln_json *ln_json_object(void);
/* Add v to a container, taking ownership of v even on failure; LN_E_NOMEM
** (or LN_E_ARG for a NULL v or a key that is not valid UTF-8). */
LN_API ln_status ln_json_append(ln_json *array, ln_json *v);
LN_API ln_status ln_json_set(ln_json *object, const char *key, size_t klen,
                             ln_json *v);

#endif
