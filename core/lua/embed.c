/*
** embed.c -- a Lua state with lunet preloaded as `ln` (see embed.h).
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embed.h"
#include "lunet/lunet.h"

LN_API int luaopen_lunet_core(lua_State *L);

int lnE_exe_dir(char *dir, size_t n) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n) dir[0] = '\0';
    if (len <= 0 || (size_t)len >= n) return -1;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(dir, n, "%s", exe);
    return 0;
}

int lnE_in_build_tree(void) {
    char dir[PATH_MAX], build[PATH_MAX];
    return lnE_exe_dir(dir, sizeof dir) == 0 && realpath(LN_BUILD_BIN_DIR, build) &&
           !strcmp(build, dir);
}

/* Prepend dir's patterns to package[field] ("path": Lua files, "cpath":
** C modules). */
static void prepend(lua_State *L, const char *field, const char *dir) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    if (!strcmp(field, "path"))
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    else
        lua_pushfstring(L, "%s/?.so;%s", dir, lua_tostring(L, -1));
    lua_setfield(L, -3, field);
    lua_pop(L, 2);
}

/* Lua files and the C modules loaded on demand (lunet.h5): the source and
** build trees when run from the build tree, else the installed
** share/lua/5.4 and lib/lua/5.4 next to the executable. */
static void set_paths(lua_State *L) {
    char dir[PATH_MAX], lua_dir[PATH_MAX + 64], cmod_dir[PATH_MAX + 64];
    if (lnE_exe_dir(dir, sizeof dir) != 0) return;
    if (lnE_in_build_tree()) {
        snprintf(lua_dir, sizeof lua_dir, "%s", LN_SOURCE_LUA_DIR);
        snprintf(cmod_dir, sizeof cmod_dir, "%s", LN_BUILD_CMOD_DIR);
    } else {
        snprintf(lua_dir, sizeof lua_dir, "%s/%s", dir, LN_REL_LUA_DIR);
        snprintf(cmod_dir, sizeof cmod_dir, "%s/%s", dir, LN_REL_CMOD_DIR);
    }
    prepend(L, "path", lua_dir);
    prepend(L, "cpath", cmod_dir);
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)",
                                    luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int lnE_docall(lua_State *L, int nargs, int nres) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    return status;
}

int lnE_open(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lunet_core);
    lua_setfield(L, -2, "lunet.core");
    lua_pop(L, 1);
    set_paths(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, "lunet");
    int st = lnE_docall(L, 1, 1);
    if (st != LUA_OK) return st;
    lua_setglobal(L, "ln");
    return LUA_OK;
}
