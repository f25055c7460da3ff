/*
** lua_optim.h -- the Optimizer userdata of lua_optim.c, for the other parts
** of the binding (lua_train.c hands it to a net).
*/
#ifndef LUNET_LUA_OPTIM_H
#define LUNET_LUA_OPTIM_H

#include "lua_common.h"

/* The ln_optimizer of the lunet.Optimizer at idx; raises when freed. */
ln_optimizer *lnL_check_optimizer(lua_State *L, int idx);


#endif
