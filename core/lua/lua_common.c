/*
** lua_common.c -- the helpers every part of the binding shares: the error
** slot, tensor userdata, shapes and keyword arguments. Calls no opener.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_common.h"
#include "lunet/memory.h"

static ln_ctx the_ctx;

ln_ctx *lnL_ctx(void) { return &the_ctx; }

int lnL_raise(lua_State *L) {
    const char *m = the_ctx.msg[0] ? the_ctx.msg : "lunet: unknown error";
    luaL_where(L, 1); /* the Lua line that called the binding, as luaL_error */
    lua_pushstring(L, m);
    lua_concat(L, 2);
    ln_ctx_clear(&the_ctx);
    return lua_error(L);
}

void lnL_check(lua_State *L, ln_status st) {
    if (st != LN_OK) lnL_raise(L);
}

const char *lnL_check_path(lua_State *L, int idx, const char *fn) {
    size_t n;
    const char *p = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (!p)
        return luaL_error(L, "%s: the file path must be a string, got %s", fn,
                          luaL_typename(L, idx)), NULL;
    if (n == 0) return luaL_error(L, "%s: the file path is empty", fn), NULL;
    if (strlen(p) != n)
        return luaL_error(L, "%s: the file path '%s\\0...' holds a NUL byte "
                          "(at byte %d), which no file name can", fn, p,
                          (int)strlen(p) + 1), NULL;
    return p;
}

static const char tensor_mt_key; /* its address keys the registry */

void lnL_new_tensor_mt(lua_State *L) {
    luaL_newmetatable(L, LN_TENSOR_MT);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
}

/* The box at idx if it is a tensor's (open or closed), else NULL. */
static ln_tensor **test_box(lua_State *L, int idx) {
    ln_tensor **box = lua_touserdata(L, idx);
    if (!box || !lua_getmetatable(L, idx)) return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? box : NULL;
}

/* fresh: the bytes of t's block when t was just made (lnL_gc_check) */
static void push_tensor(lua_State *L, ln_tensor *t, int64_t fresh) {
    lnL_gc_check(L, fresh); /* before the box exists: t is not collectable */
    ln_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = t;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    lua_setmetatable(L, -2);
}

void lnL_push_tensor(lua_State *L, ln_tensor *t) {
    if (!t) lnL_raise(L);
    push_tensor(L, t, ln_memory_block_bytes(t->numel * (int64_t)ln_dtype_size(t->dtype)));
}

void lnL_push_tensor_ref(lua_State *L, ln_tensor *t) {
    ln_tensor_retain(t);
    push_tensor(L, t, 0);
}

int lnL_is_tensor(lua_State *L, int idx) {
    ln_tensor **box = test_box(L, idx);
    return box && *box;
}

ln_tensor *lnL_test_tensor(lua_State *L, int idx) {
    ln_tensor **box = test_box(L, idx);
    if (!box) return NULL;
    lnL_gc_check(L, 0); /* the argument is on the stack, so kept */
    return *box;
}

ln_tensor *lnL_check_tensor(lua_State *L, int idx) {
    ln_tensor **box = test_box(L, idx);
    if (!box) luaL_typeerror(L, idx, LN_TENSOR_MT);
    if (!*box) luaL_argerror(L, idx, "tensor is closed");
    lnL_gc_check(L, 0);
    return *box;
}

ln_tensor *lnL_check_float(lua_State *L, int idx, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, idx);
    if (t->dtype != LN_FLOAT32)
        luaL_error(L, "%s: expects a float32 tensor, got %s (use :float())", fn,
                   ln_dtype_name(t->dtype));
    return t;
}

/* "an integer in [lo, hi]", "an integer >= lo" or "an integer". */
static const char *int_range(char *buf, size_t n, int64_t lo, int64_t hi) {
    if (lo == INT64_MIN && hi == INT64_MAX) snprintf(buf, n, "an integer");
    else if (hi == INT64_MAX) snprintf(buf, n, "an integer >= %lld", (long long)lo);
    else if (lo == INT64_MIN) snprintf(buf, n, "an integer <= %lld", (long long)hi);
    else snprintf(buf, n, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    return buf;
}

int64_t lnL_check_int(lua_State *L, int idx, const char *fn, const char *name,
                      int64_t lo, int64_t hi) {
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok || lua_type(L, idx) != LUA_TNUMBER || v < lo || v > hi) {
        char want[96];
        int_range(want, sizeof want, lo, hi);
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s: %s must be %s, got %s", fn, name, want,
                       lua_tostring(L, idx));
        else
            luaL_error(L, "%s: %s must be %s, got %s", fn, name, want,
                       luaL_typename(L, idx));
    }
    return (int64_t)v;
}

int64_t lnL_opt_int(lua_State *L, int idx, const char *fn, const char *name,
                    int64_t lo, int64_t hi, int64_t def) {
    return lua_isnoneornil(L, idx) ? def : lnL_check_int(L, idx, fn, name, lo, hi);
}

int lnL_len(lua_State *L, int idx, const char *fn, const char *name, int max) {
    lua_len(L, idx);
    int64_t n = lnL_check_int(L, -1, fn, name, 0, max);
    lua_pop(L, 1);
    return (int)n;
}

int lnL_check_shape(lua_State *L, int idx, int64_t *shape, const char *fn) {
    int n = 0;
    char what[32];
    if (lua_istable(L, idx)) {
        n = lnL_len(L, idx, fn, "the number of dimensions", LN_MAX_DIM);
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            snprintf(what, sizeof what, "size %d", i + 1);
            shape[i] = lnL_check_int(L, -1, fn, what, 0, INT64_MAX);
            lua_pop(L, 1);
        }
        return n;
    }
    int top = lua_gettop(L);
    for (int i = idx; i <= top; i++) {
        if (n == LN_MAX_DIM) luaL_error(L, "%s: at most %d dimensions", fn, LN_MAX_DIM);
        snprintf(what, sizeof what, "size %d", n + 1);
        shape[n++] = lnL_check_int(L, i, fn, what, 0, INT64_MAX);
    }
    return n;
}

void lnL_register(lua_State *L, const luaL_Reg *fns) {
    for (; fns->name; fns++) {
        lua_pushcfunction(L, fns->func);
        lua_setfield(L, -2, fns->name);
    }
}

/* ---- keyword arguments ------------------------------------------------------ */

static ln_status set_value(lua_State *L, ln_args *a, const char *key, int v,
                           const char *fn, int depth);

/* A Lua table that is a list of numbers? */
static int is_number_list(lua_State *L, int t) {
    lua_Integer n = luaL_len(L, t);
    if (n == 0) {
        lua_pushnil(L);
        int empty = !lua_next(L, t);
        if (!empty) lua_pop(L, 2);
        return empty;
    }
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        count++;
        int ok = lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -2);
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return count == n;
}

/* While a table converts, its ln_args sits in a userdata box whose __gc
** frees it: a Lua error raised halfway (a bad nested value) leaks nothing. */
static int argsbox_gc(lua_State *L) {
    ln_args **box = lua_touserdata(L, 1);
    ln_args_free(*box);
    *box = NULL;
    return 0;
}

static ln_args **argsbox_push(lua_State *L) {
    ln_args **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, "lunet.ArgsBox")) {
        lua_pushcfunction(L, argsbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

static ln_args *table_to_args(lua_State *L, int t, const char *fn, int depth) {
    t = lua_absindex(L, t);
    if (depth > 8) luaL_error(L, "%s: keyword arguments nested too deep", fn);
    ln_args **box = argsbox_push(L);
    if (!(*box = ln_args_new())) luaL_error(L, "%s: out of memory", fn);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        char key[64];
        if (lua_type(L, -2) == LUA_TSTRING) {
            snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
        } else if (lua_isinteger(L, -2)) {
            snprintf(key, sizeof key, "#%lld", (long long)lua_tointeger(L, -2));
        } else {
            luaL_error(L, "%s: keyword names must be strings", fn);
        }
        if (set_value(L, *box, key, lua_gettop(L), fn, depth))
            luaL_error(L, "%s: keyword '%s' has a value of type %s that "
                       "cannot be used here", fn, key, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    ln_args *a = *box;
    *box = NULL;
    lua_pop(L, 1); /* the box */
    return a;
}

/* The number at v as a double: plugins read keyword arguments as doubles,
** so a Lua integer beyond 2^53 (which a double would round) is refused. */
static double exact_number(lua_State *L, int v, const char *fn, const char *key) {
    double d = lua_tonumber(L, v);
    if (lua_isinteger(L, v) &&
        (d >= 9223372036854775808.0 || (lua_Integer)d != lua_tointeger(L, v)))
        luaL_error(L, "%s: keyword '%s': the integer %I is beyond 2^53 and "
                   "has no exact double value", fn, key, lua_tointeger(L, v));
    return d;
}

static ln_status set_value(lua_State *L, ln_args *a, const char *key, int v,
                           const char *fn, int depth) {
    switch (lua_type(L, v)) {
    case LUA_TNUMBER: return ln_args_set_number(a, key, exact_number(L, v, fn, key));
    case LUA_TBOOLEAN: return ln_args_set_bool(a, key, lua_toboolean(L, v));
    case LUA_TSTRING: return ln_args_set_string(a, key, lua_tostring(L, v));
    case LUA_TTABLE: {
        /* A Lua object (initializer, regularizer, schedule) gives its
        ** config table through :get_config(). */
        if (lua_getfield(L, v, "get_config") == LUA_TFUNCTION) {
            lua_pushvalue(L, v);
            lua_call(L, 1, 1);
            if (!lua_istable(L, -1)) {
                lua_pop(L, 1);
                return LN_E_ARG;
            }
            ln_args *sub = table_to_args(L, -1, fn, depth + 1);
            lua_pop(L, 1);
            return ln_args_set_table(a, key, sub);
        }
        lua_pop(L, 1);
        if (is_number_list(L, v)) {
            int n = (int)luaL_len(L, v);
            double *vals = lua_newuserdatauv(L, sizeof(double) * (size_t)(n ? n : 1), 0);
            for (int i = 0; i < n; i++) {
                lua_geti(L, v, i + 1);
                vals[i] = exact_number(L, lua_gettop(L), fn, key);
                lua_pop(L, 1);
            }
            ln_status st = ln_args_set_numbers(a, key, n, vals);
            lua_pop(L, 1); /* vals: a userdata, so a raised error frees it */
            return st;
        }
        return ln_args_set_table(a, key, table_to_args(L, v, fn, depth + 1));
    }
    default: return LN_E_ARG;
    }
}

ln_args *lnL_to_args(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx)) return ln_args_new();
    luaL_checktype(L, idx, LUA_TTABLE);
    return table_to_args(L, idx, fn, 0);
}

/* A number as Lua shows it: an integer when it is one (and fits), so
** configs read {units = 300}, not 300.0. */
static void push_number(lua_State *L, double v) {
    if (v == floor(v) && fabs(v) < 9e15) lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
}

/* Whether a table's keys are "#1" .. "#n" in order (a list of lists as
** the binding stored it): it goes back to Lua as a sequence. */
static int args_is_list(const ln_args *a) {
    int n = ln_args_count(a);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "#%d", i + 1);
        if (strcmp(ln_args_at(a, i).key, key)) return 0;
    }
    return n > 0;
}

void lnL_push_args(lua_State *L, const ln_args *a, unsigned how) {
    luaL_checkstack(L, 6, "keyword arguments");
    int n = ln_args_count(a);
    const int list = args_is_list(a);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        ln_arg e = ln_args_at(a, i);
        if ((how & LNL_ARGS_USED) && !e.used) continue;
        switch (e.type) {
        case LN_ARG_NULL:
            if (!(how & LNL_ARGS_JSON)) continue; /* nil: absent */
            lua_pushlightuserdata(L, NULL);        /* the JSON null */
            break;
        case LN_ARG_BOOL: lua_pushboolean(L, e.num != 0); break;
        case LN_ARG_NUMBER: push_number(L, e.num); break;
        case LN_ARG_STRING: lua_pushstring(L, e.str); break;
        case LN_ARG_NUMBERS:
            lua_createtable(L, e.n, 0);
            for (int j = 0; j < e.n; j++) {
                push_number(L, e.nums[j]);
                lua_rawseti(L, -2, j + 1);
            }
            if (how & LNL_ARGS_JSON) luaL_setmetatable(L, LNL_JSON_ARRAY_MT);
            break;
        case LN_ARG_TABLE: lnL_push_args(L, e.table, how); break;
        }
        if (list) lua_rawseti(L, -2, i + 1);
        else lua_setfield(L, -2, e.key);
    }
}
