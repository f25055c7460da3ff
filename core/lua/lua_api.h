/*
** lua_api.h -- the C functions the binding (lunet.core) publishes to Lua C
** modules loaded after it, such as the HDF5 module lunet.h5: a table of
** function pointers stored in the Lua registry under LNL_API_KEY, read by
** the module when it opens (SQLite's loadable-extension scheme). Nothing
** here depends on symbol visibility, so stock lua5.4 -- which loads C
** modules with RTLD_LOCAL -- works as well as the lunet interpreter.
**
** Append-only: a module checks `size` before reading a field.
*/
#ifndef LUNET_LUA_API_H
#define LUNET_LUA_API_H

#include <stddef.h>

#include <lua.h>

#include "lunet/engine/layer.h"

#define LNL_API_KEY "lunet.api"
#define LNL_JSON_ARRAY_MT "lunet.JSONArray" /* JSON arrays (lunet.h5) */

/* lnL_push_args: what to convert. */
#define LNL_ARGS_USED 1u /* only the entries the unit read (its config) */
#define LNL_ARGS_JSON 2u /* nulls as the JSON null (light userdata NULL)
                            instead of absent; number lists as JSON arrays */

typedef struct lnL_api {
    size_t size; /* sizeof(lnL_api) of the binding */
    ln_ctx *(*ctx)(void);
    int (*raise)(lua_State *L);
    void (*push_tensor)(lua_State *L, ln_tensor *t);
    ln_tensor *(*check_tensor)(lua_State *L, int idx);
    int (*check_shape)(lua_State *L, int idx, int64_t *shape, const char *fn);
    void (*push_args)(lua_State *L, const ln_args *a, unsigned how);
    /* The ln_layer of a lunet.Layer userdata (layer._c in Lua). */
    ln_layer *(*check_layer)(lua_State *L, int idx);
    /* The file path at idx: a non-empty string without NUL bytes. */
    const char *(*check_path)(lua_State *L, int idx, const char *fn);
} lnL_api;

#endif
