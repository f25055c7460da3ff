/*
** lua_files.h -- the Lua C module lunet.h5 (lua_files.c: HDF5 files and
** unit configs; lua_json.c: JSON), loaded by require "lunet.h5" only when a
** script saves or loads, so that libhdf5 and libjansson stay out of
** start-up.
**
** The module reaches the binding's helpers through the table lunet.core
** publishes in the Lua registry (lua_api.h) -- never by linking or symbol
** lookup -- so it loads alike in the lunet interpreter and in stock lua5.4.
** The lnL_* names below stand for the table's functions, as SQLite's
** extensions call through their sqlite3_api.
*/
#ifndef LUNET_LUA_FILES_H
#define LUNET_LUA_FILES_H

#include <lauxlib.h>
#include <lua.h>

#include "lua_api.h"

/* The metatable of decoded JSON arrays (field __jsontype = "array"). */
#define LN_JSON_ARRAY_MT LNL_JSON_ARRAY_MT

/* Set by luaopen_lunet_h5 before anything else runs. */
extern const lnL_api *lnH_api;

#define lnL_ctx() (lnH_api->ctx())
#define lnL_raise(L) (lnH_api->raise(L))
#define lnL_push_tensor(L, t) (lnH_api->push_tensor((L), (t)))
#define lnL_check_tensor(L, i) (lnH_api->check_tensor((L), (i)))
#define lnL_check_shape(L, i, s, fn) (lnH_api->check_shape((L), (i), (s), (fn)))
#define lnL_push_args(L, a, how) (lnH_api->push_args((L), (a), (how)))
#define lnL_check_path(L, i, fn) (lnH_api->check_path((L), (i), (fn)))
#define lnL_register(L, fns) luaL_setfuncs((L), (fns), 0)
/* The ln_layer of the lunet.Layer at i (layer._c in Lua). */
#define lnH_check_layer(L, i) (lnH_api->check_layer((L), (i)))

/* Raise if st != LN_OK. */
static inline void lnL_check(lua_State *L, ln_status st) {
    if (st != LN_OK) lnL_raise(L);
}

/* Add json_encode, json_decode, json_array, json_null and json_array_mt
** to the module table at the top of the stack (lua_json.c). */
void lnL_open_json(lua_State *L);

#endif
