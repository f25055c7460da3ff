/*
** lua_nn.h -- the userdata of layers and unit objects (lua_nn.c), for the
** other parts of the binding (lua_train.c builds nets of them).
*/
#ifndef LUNET_LUA_NN_H
#define LUNET_LUA_NN_H

#include "lua_common.h"

#define LN_LAYER_MT "lunet.Layer"
#define LN_OBJECT_MT "lunet.Object"

/* A layer: the core's instance plus its own buffers for the low-level
** forward/backward (a net keeps separate ones). */
typedef struct lnL_layer {
    ln_layer *l;
    ln_tensor *x;  /* input of the last forward (retained) */
    ln_tensor *y;  /* output buffer */
    ln_tensor *dx; /* input-gradient buffer */
    unsigned flags; /* of the last forward */
} lnL_layer;

/* A loss, metric or activation instance. */
typedef struct lnL_object {
    ln_object *o;
    ln_tensor *grad;     /* loss gradient buffer */
    double total, count; /* metric running totals */
} lnL_object;

lnL_layer *lnL_check_layer(lua_State *L, int idx);
lnL_object *lnL_check_object(lua_State *L, int idx);


#endif
