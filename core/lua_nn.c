/*
** lua_nn.c -- layers, losses, metrics, activations, initializers and
** optimizers from Lua: thin userdata over the core's instances.
*/
#include "lua_common.h"

void lnL_open_nn(lua_State *L) { (void)L; }
