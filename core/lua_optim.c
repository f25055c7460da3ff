/*
** lua_optim.c -- optimizers and learning-rate schedules from Lua.
*/
#include "lua_common.h"

void lnL_open_optim(lua_State *L) { (void)L; }
