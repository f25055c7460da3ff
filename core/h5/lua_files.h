/*
** lua_files.h -- shared by lua_files.c and lua_json.c (private to the
** binding).
*/
#ifndef LUNET_LUA_FILES_H
#define LUNET_LUA_FILES_H

#include "lua_common.h"

/* The metatable of decoded JSON arrays (field __jsontype = "array"). */
#define LN_JSON_ARRAY_MT "lunet.JSONArray"

/* Add json_encode, json_decode, json_array, json_null and json_array_mt
** to the module table at the top of the stack (called by lnL_open_files). */
void lnL_open_json(lua_State *L);

#endif
