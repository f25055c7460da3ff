/*
** lua_parts.h -- the openers of the parts of the binding. Each adds its
** functions (and metatables) to the table at the top of the stack; only
** lua_core.c calls them, so no part depends on another part's opener.
*/
#ifndef LUNET_LUA_PARTS_H
#define LUNET_LUA_PARTS_H

#include <lua.h>

void lnL_open_nn(lua_State *L);    /* lua_nn.c: layers, unit objects (core.nn) */
void lnL_open_train(lua_State *L); /* lua_train.c: nets, indices (core.nn) */
void lnL_open_optim(lua_State *L); /* lua_optim.c: optimizers, schedules */
void lnL_open_io(lua_State *L);    /* lua_io.c: IDX, NPY, CSV readers */
void lnL_open_memory(lua_State *L); /* lua_memory.c: core.memory */
/* lua_autograd.c: the tape; wraps the differentiable functions the others
** registered, so it is opened last. */
void lnL_open_autograd(lua_State *L);

#endif
