/*
** lua_json.c -- JSON from Lua through libjansson (core/h5/json.h):
**
**   h5.json_encode(value [, {indent = 0, ascii = true}]) -> string
**   h5.json_decode(text [, what]) -> value       (what: for messages)
**   h5.json_null                                 (JSON null in values)
**   h5.json_array(t) -> t                        (mark t as an array)
**
** JSON values map to Lua as: null <-> h5.json_null (nil is written as
** null too), true/false, integers <-> Lua integers, reals <-> floats,
** strings, arrays <-> lists, objects <-> tables with string keys. Decoded
** arrays carry the metatable h5.json_array_mt, so an empty array writes
** back as []; an empty plain table writes as {}. A metatable field
** __jsonorder = {"k1", "k2", ...} writes those keys first, in that order;
** other keys follow sorted, so the text never depends on hashing.
**
** While a tree is built or read it is owned by a userdata ("box") with a
** __gc, so a Lua error raised half-way frees it.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lua_files.h"

#define LN_JSON_BOX_MT "lunet.JSONBox"
#define MAX_DEPTH 200

/* ---- JSON: a box that owns a tree while Lua may raise ------------------------- */

typedef struct json_box {
    ln_json *root;
} json_box;

static json_box *new_box(lua_State *L) {
    json_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->root = NULL;
    luaL_setmetatable(L, LN_JSON_BOX_MT);
    return b;
}

static int box_gc(lua_State *L) {
    json_box *b = luaL_checkudata(L, 1, LN_JSON_BOX_MT);
    ln_json_free(b->root);
    b->root = NULL;
    return 0;
}

/* ---- JSON: encoding -------------------------------------------------------------- */

/* Where a value sits, for messages: "value.config.layers[2].units". */
typedef struct jpath {
    char buf[256];
    size_t len;
} jpath;

static size_t path_push_key(jpath *p, const char *key) {
    size_t old = p->len;
    int w = snprintf(p->buf + p->len, sizeof p->buf - p->len, ".%s", key);
    if (w > 0) p->len = p->len + (size_t)w < sizeof p->buf ? p->len + (size_t)w : sizeof p->buf - 1;
    return old;
}

static size_t path_push_index(jpath *p, lua_Integer i) {
    size_t old = p->len;
    int w = snprintf(p->buf + p->len, sizeof p->buf - p->len, "[%lld]", (long long)i);
    if (w > 0) p->len = p->len + (size_t)w < sizeof p->buf ? p->len + (size_t)w : sizeof p->buf - 1;
    return old;
}

static void path_pop(jpath *p, size_t old) {
    p->len = old;
    p->buf[old] = '\0';
}

static int enc_fail(lua_State *L, const jpath *p, const char *why) {
    return luaL_error(L, "json_encode: %s: %s", p->buf, why);
}

/* The metatable field `field` of the value at idx (pushed; nil if none). */
static int meta_field(lua_State *L, int idx, const char *field) {
    if (!lua_getmetatable(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    int t = lua_getfield(L, -1, field);
    lua_remove(L, -2);
    return t;
}

/* 1 if the table at idx is a non-empty list 1..n with nothing else. */
static int is_list(lua_State *L, int idx) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0) return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || k > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n;
}

static void put_value(lua_State *L, ln_json *parent, int kidx, int vidx,
                      jpath *p, int depth);

/* Fill array `arr` from the list at idx. */
static void encode_list(lua_State *L, int idx, ln_json *arr, jpath *p,
                        int depth) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        size_t old = path_push_index(p, i);
        lua_rawgeti(L, idx, i);
        put_value(L, arr, 0, lua_gettop(L), p, depth + 1);
        lua_pop(L, 1);
        path_pop(p, old);
    }
}

static int key_less(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fill object `obj` from the table at idx: the keys of the metatable's
** __jsonorder list first, in that order, then the others sorted. */
static void encode_object(lua_State *L, int idx, ln_json *obj, jpath *p,
                          int depth) {
    int base = lua_gettop(L);
    if (meta_field(L, idx, "__jsonorder") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int order = base + 1;
    lua_newtable(L); /* keys already written */
    int done = base + 2;
    lua_Integer n = (lua_Integer)lua_rawlen(L, order);
    for (lua_Integer i = 1; i <= n; i++) {
        int k = lua_gettop(L) + 1;
        if (lua_rawgeti(L, order, i) == LUA_TSTRING) {
            lua_pushvalue(L, k);
            int present = lua_rawget(L, idx) != LUA_TNIL;  /* k+1: value */
            lua_pushvalue(L, k);
            int seen = lua_rawget(L, done) != LUA_TNIL;   /* k+2 */
            if (present && !seen) {
                lua_pushvalue(L, k);
                lua_pushboolean(L, 1);
                lua_rawset(L, done);
                size_t old = path_push_key(p, lua_tostring(L, k));
                put_value(L, obj, k, k + 1, p, depth + 1);
                path_pop(p, old);
            }
        }
        lua_settop(L, k - 1);
    }
    /* the remaining keys, collected in a Lua list and sorted */
    lua_newtable(L);
    int rest = base + 3;
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            char why[128];
            snprintf(why, sizeof why, "a table mixes list entries and keys "
                     "(a %s key); JSON objects take string keys only",
                     luaL_typename(L, -1));
            enc_fail(L, p, why);
        }
        lua_pushvalue(L, -1);
        int seen = lua_rawget(L, done) != LUA_TNIL;
        lua_pop(L, 1);
        if (!seen) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, rest, ++count);
        }
    }
    const char **keys = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *keys, 0);
    for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, rest, i); /* the string stays anchored in `rest` */
        keys[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    qsort(keys, (size_t)count, sizeof *keys, key_less);
    for (lua_Integer i = 0; i < count; i++) {
        lua_pushstring(L, keys[i]);
        int k = lua_gettop(L);
        lua_pushvalue(L, k);
        lua_rawget(L, idx);
        size_t old = path_push_key(p, keys[i]);
        put_value(L, obj, k, k + 1, p, depth + 1);
        path_pop(p, old);
        lua_settop(L, k - 1);
    }
    lua_settop(L, base);
}

/* The JSON value of the Lua value at idx: a scalar, or an EMPTY array or
** object for a table (filled by fill_container once it is owned). Raises
** (allocating nothing) on values JSON cannot hold. */
static ln_json *make_value(lua_State *L, int idx, jpath *p, int depth) {
    if (depth > MAX_DEPTH) enc_fail(L, p, "nested too deep (a cycle?)");
    ln_json *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v = ln_json_null(); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) enc_fail(L, p, "cannot write a light userdata");
        v = ln_json_null();
        break;
    case LUA_TBOOLEAN: v = ln_json_bool(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = ln_json_int(lua_tointeger(L, idx));
        } else {
            if (!isfinite(lua_tonumber(L, idx)))
                enc_fail(L, p, "NaN and infinities cannot be written in JSON");
            v = ln_json_real(lua_tonumber(L, idx));
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!(v = ln_json_string(s, len)))
            enc_fail(L, p, "the string is not valid UTF-8");
    } break;
    case LUA_TTABLE: {
        int force = 0; /* 1 array, 2 object */
        if (meta_field(L, idx, "__jsontype") == LUA_TSTRING) {
            const char *t = lua_tostring(L, -1);
            force = !strcmp(t, "array") ? 1 : !strcmp(t, "object") ? 2 : 0;
        }
        lua_pop(L, 1);
        int list = force == 1 || (force != 2 && is_list(L, idx));
        v = list ? ln_json_array() : ln_json_object();
    } break;
    default: {
        char why[96];
        snprintf(why, sizeof why, "cannot write a %s", luaL_typename(L, idx));
        enc_fail(L, p, why);
    }
    }
    if (!v) enc_fail(L, p, "out of memory");
    return v;
}

static void fill_container(lua_State *L, int idx, ln_json *c, jpath *p,
                           int depth) {
    luaL_checkstack(L, 16, "json_encode");
    if (ln_json_type_of(c) == LN_JSON_ARRAY) encode_list(L, idx, c, p, depth);
    else if (ln_json_type_of(c) == LN_JSON_OBJECT) encode_object(L, idx, c, p, depth);
}

/* Attach the value at vidx to parent (appended, or set under the string
** key at kidx), then fill it if it is a container: whatever raises, every
** allocated value is already owned by the tree in the box. */
static void put_value(lua_State *L, ln_json *parent, int kidx, int vidx,
                      jpath *p, int depth) {
    ln_json *v = make_value(L, vidx, p, depth);
    ln_status st;
    if (kidx) {
        size_t klen;
        const char *key = lua_tolstring(L, kidx, &klen);
        st = ln_json_set(parent, key, klen, v);
    } else {
        st = ln_json_append(parent, v);
    }
    if (st) enc_fail(L, p, st == LN_E_NOMEM ? "out of memory" : "the key is not valid UTF-8");
    fill_container(L, vidx, v, p, depth);
}

/* json_encode(value [, {indent = 0, ascii = true}]) -> string */
static int l_json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    int indent = 0, ascii = 1;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "indent");
        indent = (int)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 2, "ascii");
        if (!lua_isnil(L, -1)) ascii = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    lua_settop(L, 1);
    json_box *box = new_box(L);
    jpath p;
    snprintf(p.buf, sizeof p.buf, "value");
    p.len = strlen(p.buf);
    box->root = make_value(L, 1, &p, 0);
    fill_container(L, 1, box->root, &p, 0);
    char *s = ln_json_dump(lnL_ctx(), box->root, indent, ascii);
    if (!s) return lnL_raise(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* ---- JSON: decoding ----------------------------------------------------------------- */

static void push_json(lua_State *L, const ln_json *v, int depth) {
    luaL_checkstack(L, 8, "json_decode");
    switch (ln_json_type_of(v)) {
    case LN_JSON_NULL: lua_pushlightuserdata(L, NULL); break;
    case LN_JSON_BOOL: lua_pushboolean(L, ln_json_bool_value(v)); break;
    case LN_JSON_INT: lua_pushinteger(L, (lua_Integer)ln_json_int_value(v)); break;
    case LN_JSON_REAL: lua_pushnumber(L, ln_json_real_value(v)); break;
    case LN_JSON_STRING: {
        size_t len;
        const char *s = ln_json_string_value(v, &len);
        lua_pushlstring(L, s, len);
    } break;
    case LN_JSON_ARRAY: {
        size_t n = ln_json_size(v);
        lua_createtable(L, (int)(n < 1u << 20 ? n : 0), 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, ln_json_at(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        luaL_setmetatable(L, LN_JSON_ARRAY_MT);
    } break;
    case LN_JSON_OBJECT: {
        lua_createtable(L, 0, (int)(ln_json_size(v) < 1u << 20 ? ln_json_size(v) : 0));
        for (void *it = ln_json_iter(v); it; it = ln_json_iter_next(v, it)) {
            size_t klen;
            const char *k = ln_json_iter_key(it, &klen);
            lua_pushlstring(L, k, klen);
            push_json(L, ln_json_iter_value(it), depth + 1);
            lua_rawset(L, -3);
        }
    } break;
    }
}

/* json_decode(text [, what]) -> value; null is h5.json_null. */
static int l_json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *what = luaL_optstring(L, 2, "json_decode");
    json_box *box = new_box(L);
    box->root = ln_json_parse(lnL_ctx(), what, s, len);
    if (!box->root) return lnL_raise(L);
    push_json(L, box->root, 0);
    return 1;
}

/* json_array(t) -> t, marked to be written as an array (even empty). */
static int l_json_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_setmetatable(L, LN_JSON_ARRAY_MT);
    return 1;
}

void lnL_open_json(lua_State *L) {
    luaL_newmetatable(L, LN_JSON_BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, LN_JSON_ARRAY_MT);
    lua_pushstring(L, "array");
    lua_setfield(L, -2, "__jsontype");
    lua_setfield(L, -2, "json_array_mt");

    static const luaL_Reg json_fns[] = {{"json_encode", l_json_encode},
                                        {"json_decode", l_json_decode},
                                        {"json_array", l_json_array},
                                        {NULL, NULL}};
    lnL_register(L, json_fns);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "json_null");
}
