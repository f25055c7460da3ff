/*
** lua_tensor_elem.c -- the fast path of single-element reads and writes:
** t[i] on a 1-d tensor and t[{i, j, ...}] with one integer per dim, read or
** written with a number. They cost a table lookup and a bounds check
** instead of the general slicing machinery (lua_tensor_index.c), which
** every other key still goes through with the same rules and messages.
** Installed as the Tensor metatable's __index and __newindex.
*/
#include "lua_tensor.h"

/* The tensor at 1 when it really is one (this metatable is the upvalue
** `mt`), else NULL: a direct call with another value goes the slow way. */
static ln_tensor *self_tensor(lua_State *L, int mt) {
    ln_tensor **box = lua_touserdata(L, 1);
    if (!box || !*box || !lua_getmetatable(L, 1)) return NULL;
    int same = lua_rawequal(L, -1, lua_upvalueindex(mt));
    lua_pop(L, 1);
    return same ? *box : NULL;
}

/* The flat offset of key 2 when it names one element of t (an integer for
** a 1-d t, or a list of ndim integers), positions checked; -1 when the key
** is of another kind. */
static int64_t element_offset(lua_State *L, const ln_tensor *t, const char *fn) {
    if (lua_isinteger(L, 2)) {
        if (t->ndim != 1) return -1;
        return lnT_check_pos(L, lua_tointeger(L, 2), t->shape[0], 0, fn);
    }
    if (!lua_istable(L, 2) || t->ndim == 0 || lua_rawlen(L, 2) != (size_t)t->ndim)
        return -1;
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        lua_rawgeti(L, 2, d + 1);
        int ok = lua_isinteger(L, -1);
        lua_Integer p = ok ? lua_tointeger(L, -1) : 0;
        lua_pop(L, 1);
        if (!ok) return -1;
        off = off * t->shape[d] + lnT_check_pos(L, p, t->shape[d], d, fn);
    }
    return off;
}

/* __index (upvalues: the method table, the metatable) */
static int e_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1; /* nil for unknown names, so duck typing works */
    }
    ln_tensor *t = self_tensor(L, 2);
    int64_t off = t ? element_offset(L, t, "index") : -1;
    if (off < 0) return lnT_index(L);
    lnT_push_elem(L, t, off);
    return 1;
}

/* __newindex (upvalue: the metatable) */
static int e_newindex(lua_State *L) {
    ln_tensor *t = self_tensor(L, 2);
    int64_t off = t && lua_type(L, 3) == LUA_TNUMBER
                      ? element_offset(L, t, "assignment") : -1;
    if (off < 0) return lnT_newindex(L);
    double v = lua_tonumber(L, 3);
    if (!ln_value_fits(t->dtype, v))
        return luaL_error(L, "assignment: value %s does not fit in %s",
                          lua_tostring(L, 3), ln_dtype_name(t->dtype));
    ln_set_f64(t, off, v);
    return 0;
}

void lnT_open_elem(lua_State *L, int methods, int meta, int mod) {
    (void)mod;
    lua_pushvalue(L, methods);
    lua_pushvalue(L, meta);
    lua_pushcclosure(L, e_index, 2);
    lua_setfield(L, meta, "__index");
    lua_pushnil(L); /* upvalue 1 unused: the metatable is upvalue 2 */
    lua_pushvalue(L, meta);
    lua_pushcclosure(L, e_newindex, 2);
    lua_setfield(L, meta, "__newindex");
}
