/*
** lua_tensor.c -- the Tensor userdata: creation, shape, element access,
** arithmetic, reductions and conversions from Lua.
*/
#include <string.h>

#include "lua_common.h"

static int t_gc(lua_State *L) {
    ln_tensor **box = luaL_checkudata(L, 1, LN_TENSOR_MT);
    ln_tensor_release(*box);
    *box = NULL;
    return 0;
}

static int t_shape(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int t_tostring(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    char s[128];
    lua_pushfstring(L, "tensor(%s, shape=%s)", ln_dtype_name(t->dtype),
                    ln_shape_str(t, s, sizeof s));
    return 1;
}

static int l_randn(lua_State *L) {
    int64_t shape[LN_MAX_DIM];
    int nd = lnL_check_shape(L, 1, shape, "randn");
    ln_tensor *t = ln_tensor_new(lnL_ctx(), LN_FLOAT32, nd, shape);
    if (!t) return lnL_raise(L);
    ln_rng_normal(ln_rng_global(), ln_f32(t), t->numel, 0.0f, 1.0f);
    lnL_push_tensor(L, t);
    return 1;
}

void lnL_open_tensor(lua_State *L) {
    static const luaL_Reg methods[] = {{"shape", t_shape}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", t_gc}, {"__close", t_gc},
                                    {"__tostring", t_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, LN_TENSOR_MT);
    lnL_register(L, meta);
    lua_newtable(L);
    lnL_register(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"randn", l_randn}, {NULL, NULL}};
    lnL_register(L, fns);
}
