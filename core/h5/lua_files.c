/*
** lua_files.c -- the Lua C module lunet.h5 (lua_files.h): HDF5 files
** (h5.files.h5_create / h5_open), layer configs with their nulls, HDF5
** datasets (h5.read_h5) and -- through lua_json.c -- JSON (h5.json_*). The
** Keras layout itself is written in Lua (lunet/saving.lua,
** lunet/saving_config.lua) on top of these.
**
**   local h5 = require "lunet.h5"
**   local f = h5.files.h5_create(path [, overwrite])  -- built in memory; commit writes path
**   f:group(p); f:set_attr(p, name, "text" | {"a", "b"}); f:write(p, t)
**   f:write_int64(p, n); f:commit()        -- atomic rename over path
**   local g = h5.files.h5_open(path)       -- refuses non-HDF5 files
**   g:kind(p) -> "group" | "dataset" | "other" | nil
**   g:attr_string(p, name), g:attr_strings(p, name) -> value or nil
**   g:attrs(p), g:members(p) -> sorted names
**   g:read(p [, shape]) -> float32 tensor; g:read_int(p); g:shape(p)
**   g:path(); g:close()                    -- also __close and __gc
**   h5.files.layer_config(layer._c)        -- keywords read, nulls kept
** An uncommitted file that is closed or collected is abandoned: the
** temporary file goes, the target is left as it was.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_files.h"
#include "lunet/h5file.h"

#define LN_H5_MT "lunet.H5File"

/* ---- unit configs with their nulls ------------------------------------------------ */

/* files.layer_config(layer) -> the keywords the layer's unit read, nulls
** included as the JSON null, as Keras's configs show them
** ("kernel_regularizer": null) (layer: the lunet.Layer userdata, layer._c
** in Lua). */
static int l_layer_config(lua_State *L) {
    lnL_push_args(L, ln_layer_args(lnH_check_layer(L, 1)), LNL_ARGS_USED | LNL_ARGS_JSON);
    return 1;
}

/* ---- HDF5 files ------------------------------------------------------------------------- */

typedef struct h5_box {
    ln_h5 *f;
} h5_box;

static ln_h5 *check_h5(lua_State *L) {
    h5_box *b = luaL_checkudata(L, 1, LN_H5_MT);
    if (!b->f) luaL_error(L, "the HDF5 file is closed");
    return b->f;
}

static void push_h5(lua_State *L, ln_h5 *f) {
    if (!f) lnL_raise(L);
    h5_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->f = f;
    luaL_setmetatable(L, LN_H5_MT);
}

static int l_h5_create(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "h5_create");
    int flags = lua_isnoneornil(L, 2) || lua_toboolean(L, 2) ? 0 : LN_H5_NO_OVERWRITE;
    h5_box *b = lua_newuserdatauv(L, sizeof *b, 0); /* first: no leak on raise */
    b->f = NULL;
    luaL_setmetatable(L, LN_H5_MT);
    b->f = ln_h5_create(lnL_ctx(), path, flags);
    if (!b->f) return lnL_raise(L);
    return 1;
}

static int l_h5_open(lua_State *L) {
    push_h5(L, ln_h5_open(lnL_ctx(), luaL_checkstring(L, 1)));
    return 1;
}

static int h5_close(lua_State *L) {
    h5_box *b = luaL_checkudata(L, 1, LN_H5_MT);
    ln_h5_close(b->f);
    b->f = NULL;
    return 0;
}

static int h5_commit(lua_State *L) {
    h5_box *b = luaL_checkudata(L, 1, LN_H5_MT);
    ln_h5 *f = b->f;
    if (!f) return luaL_error(L, "commit: the HDF5 file is closed");
    b->f = NULL; /* commit frees it, whatever happens */
    lnL_check(L, ln_h5_commit(lnL_ctx(), f));
    return 0;
}

static int h5_path(lua_State *L) {
    lua_pushstring(L, ln_h5_path(check_h5(L)));
    return 1;
}

static int h5_group(lua_State *L) {
    ln_h5 *f = check_h5(L);
    lnL_check(L, ln_h5_group(lnL_ctx(), f, luaL_checkstring(L, 2)));
    return 0;
}

/* f:set_attr(path, name, "text") or f:set_attr(path, name, {"a", "b"}) */
static int h5_set_attr(lua_State *L) {
    ln_h5 *f = check_h5(L);
    const char *path = luaL_checkstring(L, 2), *name = luaL_checkstring(L, 3);
    if (lua_type(L, 4) == LUA_TSTRING)
        lnL_check(L, ln_h5_set_string(lnL_ctx(), f, path, name, lua_tostring(L, 4)));
    else {
        luaL_checktype(L, 4, LUA_TTABLE);
        int n = (int)luaL_len(L, 4);
        const char **v = lua_newuserdatauv(L, sizeof *v * (size_t)(n ? n : 1), 0);
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 4, i + 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "set_attr: %s: entry %d of '%s' is not a string",
                                  ln_h5_path(f), i + 1, name);
            v[i] = lua_tostring(L, -1);
            lua_pop(L, 1); /* anchored in the table */
        }
        lnL_check(L, ln_h5_set_strings(lnL_ctx(), f, path, name, n, v));
    }
    return 0;
}

static int h5_write(lua_State *L) {
    ln_h5 *f = check_h5(L);
    const char *path = luaL_checkstring(L, 2);
    lnL_check(L, ln_h5_write(lnL_ctx(), f, path, lnL_check_tensor(L, 3)));
    return 0;
}

static int h5_write_int64(lua_State *L) {
    ln_h5 *f = check_h5(L);
    const char *path = luaL_checkstring(L, 2);
    lnL_check(L, ln_h5_write_int64(lnL_ctx(), f, path, luaL_checkinteger(L, 3)));
    return 0;
}

static int h5_kind(lua_State *L) {
    ln_h5 *f = check_h5(L);
    static const char *names[] = {NULL, "group", "dataset", "other", NULL};
    ln_h5_kind kind;
    lnL_check(L, ln_h5_lookup(lnL_ctx(), f, luaL_checkstring(L, 2), &kind));
    const char *k = names[kind];
    if (k) lua_pushstring(L, k);
    else lua_pushnil(L);
    return 1;
}

/* A malloc'ed string list owned by a userdata while it is copied into Lua
** (so a memory error raised on the way frees it). */
typedef struct strings_box {
    int n;
    char **v;
} strings_box;

static int strings_gc(lua_State *L) {
    strings_box *b = luaL_checkudata(L, 1, "lunet.H5Strings");
    ln_h5_free_strings(b->n, b->v);
    b->n = 0;
    b->v = NULL;
    return 0;
}

/* Push a list of the n strings v (taking ownership of v). */
static int push_owned(lua_State *L, int n, char **v) {
    if (!lua_checkstack(L, 4)) {
        ln_h5_free_strings(n, v);
        return luaL_error(L, "out of memory");
    }
    strings_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->n = 0;
    b->v = NULL;
    if (luaL_newmetatable(L, "lunet.H5Strings")) {
        lua_pushcfunction(L, strings_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    b->n = n;
    b->v = v;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    ln_h5_free_strings(b->n, b->v);
    b->n = 0;
    b->v = NULL;
    lua_remove(L, -2);
    return 1;
}

/* After a NOTFOUND: 1 when the object exists (only the attribute is
** missing), 0 when the object itself is missing. */
static int attr_missing(const ln_h5 *f, const char *path) {
    ln_h5_kind k = ln_h5_kind_of(f, path);
    return k != LN_H5_NONE && k != LN_H5_CORRUPT;
}

static int h5_attr_strings(lua_State *L) {
    ln_h5 *f = check_h5(L);
    int n;
    char **v;
    ln_status st = ln_h5_get_strings(lnL_ctx(), f, luaL_checkstring(L, 2),
                                     luaL_checkstring(L, 3), &n, &v);
    if (st == LN_E_NOTFOUND && attr_missing(f, lua_tostring(L, 2))) {
        ln_ctx_clear(lnL_ctx());
        lua_pushnil(L);
        return 1;
    }
    lnL_check(L, st);
    return push_owned(L, n, v);
}

static int h5_attr_string(lua_State *L) {
    ln_h5 *f = check_h5(L);
    char *s;
    ln_status st = ln_h5_get_string(lnL_ctx(), f, luaL_checkstring(L, 2),
                                    luaL_checkstring(L, 3), &s);
    if (st == LN_E_NOTFOUND && attr_missing(f, lua_tostring(L, 2))) {
        ln_ctx_clear(lnL_ctx());
        lua_pushnil(L);
        return 1;
    }
    lnL_check(L, st);
    char **one = malloc(sizeof *one);
    if (!one) {
        free(s);
        return luaL_error(L, "out of memory");
    }
    one[0] = s;
    push_owned(L, 1, one);
    lua_rawgeti(L, -1, 1);
    return 1;
}

static int h5_list(lua_State *L, int attrs) {
    ln_h5 *f = check_h5(L);
    int n;
    char **v;
    lnL_check(L, ln_h5_list(lnL_ctx(), f, luaL_optstring(L, 2, "/"), attrs, &n, &v));
    return push_owned(L, n, v);
}

static int h5_attrs(lua_State *L) { return h5_list(L, 1); }
static int h5_members(lua_State *L) { return h5_list(L, 0); }

static int h5_read(lua_State *L) {
    ln_h5 *f = check_h5(L);
    const char *path = luaL_checkstring(L, 2);
    int64_t shape[LN_MAX_DIM];
    int nd = lua_isnoneornil(L, 3) ? -1 : lnL_check_shape(L, 3, shape, "read");
    ln_tensor *t;
    lnL_check(L, ln_h5_read(lnL_ctx(), f, path, nd, shape, &t));
    lnL_push_tensor(L, t);
    return 1;
}

static int h5_read_int(lua_State *L) {
    ln_h5 *f = check_h5(L);
    int64_t v;
    lnL_check(L, ln_h5_read_int64(lnL_ctx(), f, luaL_checkstring(L, 2), &v));
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
}

static int h5_shape(lua_State *L) {
    ln_h5 *f = check_h5(L);
    int nd;
    int64_t shape[LN_MAX_DIM];
    lnL_check(L, ln_h5_shape(lnL_ctx(), f, luaL_checkstring(L, 2), &nd, shape));
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int h5_tostring(lua_State *L) {
    h5_box *b = luaL_checkudata(L, 1, LN_H5_MT);
    if (!b->f) lua_pushstring(L, "<HDF5 file (closed)>");
    else lua_pushfstring(L, "<HDF5 file '%s'%s>", ln_h5_path(b->f),
                         ln_h5_writable(b->f) ? " (writing)" : "");
    return 1;
}

/* read_h5(path, dataset) -> tensor (ln.io.read_h5). */
static int l_read_h5(lua_State *L) {
    ln_tensor *t;
    lnL_check(L, ln_read_h5(lnL_ctx(), lnL_check_path(L, 1, "read_h5"),
                            luaL_checkstring(L, 2), &t));
    lnL_push_tensor(L, t);
    return 1;
}

const lnL_api *lnH_api;

/* require "lunet.h5": lunet.core first (it publishes the API), then the
** module table: files, json_*, read_h5. */
LN_API int luaopen_lunet_h5(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushstring(L, "lunet.core");
    lua_call(L, 1, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, LNL_API_KEY);
    const lnL_api *api = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!api || api->size < sizeof(lnL_api))
        return luaL_error(L, "lunet.h5: needs the C API of a matching lunet.core");
    lnH_api = api;
    lua_newtable(L);
    lnL_open_json(L);

    static const luaL_Reg h5_methods[] = {
        {"commit", h5_commit},   {"close", h5_close},
        {"path", h5_path},       {"group", h5_group},
        {"set_attr", h5_set_attr}, {"write", h5_write},
        {"write_int64", h5_write_int64}, {"kind", h5_kind},
        {"attr_string", h5_attr_string}, {"attr_strings", h5_attr_strings},
        {"attrs", h5_attrs},     {"members", h5_members},
        {"read", h5_read},       {"read_int", h5_read_int},
        {"shape", h5_shape},     {NULL, NULL}};
    static const luaL_Reg h5_meta[] = {{"__gc", h5_close}, {"__close", h5_close},
                                       {"__tostring", h5_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, LN_H5_MT);
    lnL_register(L, h5_meta);
    lua_newtable(L);
    lnL_register(L, h5_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg file_fns[] = {{"h5_create", l_h5_create},
                                        {"h5_open", l_h5_open},
                                        {"layer_config", l_layer_config},
                                        {NULL, NULL}};
    lua_newtable(L);
    lnL_register(L, file_fns);
    lua_setfield(L, -2, "files");
    lua_pushcfunction(L, l_read_h5);
    lua_setfield(L, -2, "read_h5");
    return 1;
}
