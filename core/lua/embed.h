/*
** embed.h -- a Lua state with lunet preloaded as `ln`: the set-up the
** `lunet` interpreter (main.c) and the Jupyter kernel (core/jupyter) share.
** Compiled into each executable (never into liblunet or lunet/core.so).
*/
#ifndef LUNET_EMBED_H
#define LUNET_EMBED_H

#include <stddef.h>

#include <lua.h>

/* The folder of the running executable, without a trailing '/'.
** Returns 0, or -1 when it cannot be found (dir is then ""). */
int lnE_exe_dir(char *dir, size_t n);

/* Whether the executable runs from the build tree (it then uses the Lua
** files and data of the source tree). */
int lnE_in_build_tree(void);

/* lua_pcall with a message handler that appends a traceback. */
int lnE_docall(lua_State *L, int nargs, int nres);

/* Preload lunet.core, point package.path at lunet's Lua files and
** package.cpath at its C modules loaded on demand (lunet.h5) -- the source
** and build trees from the build tree, else the installed share/lua/5.4 and
** lib/lua/5.4 -- and set the global `ln` = require "lunet". Returns LUA_OK, or an error status with
** the message (and traceback) on the stack. */
int lnE_open(lua_State *L);

/* The registry key of an optional function a C module may set, called by
** the `lunet` interpreter when a script (or -e code) ends with an error,
** before it prints the message: message -> the message to print. lunet.mpi
** sets it so that the other ranks learn at once which rank failed and why,
** instead of waiting for it (docs/distributed.md). */
#define LNE_EXIT_HOOK "lunet.exit_hook"

#endif
