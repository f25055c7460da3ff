/*
** lua_optim.c -- optimizers and learning-rate schedules from Lua: thin
** userdata over ln_optimizer (optimizer.h) and schedule objects. The Lua
** API (ln.optimizers, ln.schedules) wraps these in core/lua/lunet/.
**
** In lunet.core:
**   optimizer_new(unit, args)  -> Optimizer (lunet.Optimizer)
**   schedule_new(unit, args)   -> Schedule (lunet.Schedule)
**   clip_gradients(grads, outs, clipvalue, clipnorm, global_clipnorm)
**                              (nil = off; outs[i] receives grads[i] clipped)
** Optimizer methods (positions 1-based):
**   :apply(pairs)          pairs = {{grad, var, name = "dense/kernel"}, ...}
**   :build(list)           list of pairs or variables: create their slots
**   :config()              the effective keyword arguments (a new table)
**   :unit()                unit name, class name
**   :name()                config name ("Adam")
**   :iterations([n])       get, or set to n
**   :learning_rate([x])    the number (schedule: its value now), or set x
**   :has_schedule()        whether learning_rate is a schedule
**   :lr_at([iterations])   the rate a step uses (schedule, then decay)
**   :weights()             Keras's get_weights: a list of new tensors
**   :weight_names()        their names ("Adam/dense/kernel/m:0")
**   :set_weights(list)     the same list back (first entry may be a number)
**   :var_count(), :var(i), :var_name(i), :find_var(tensor) -> i or nil
**   :slot_names()          {"m", "v"}
**   :slot(i or tensor, name or j) -> the live slot tensor
**   :globals()             {momentum_cache = 0.45, ...}
**   :set_global(name, x)
** Schedule methods: :value(step) (0-based), :config(), :unit().
**
** apply reuses arrays kept in the userdata: after the first step with a
** given number of pairs it allocates nothing (no Lua tables either).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_parts.h"
#include "lua_optim.h"

#define LN_OPTIMIZER_MT "lunet.Optimizer"
#define LN_SCHEDULE_MT "lunet.Schedule"

typedef struct lnL_opt {
    ln_optimizer *o;
    int cap; /* capacity of the arrays below */
    ln_tensor **vars;
    const ln_tensor **grads;
    const char **names;
} lnL_opt;

static lnL_opt *check_opt(lua_State *L, int idx) {
    lnL_opt *u = luaL_checkudata(L, idx, LN_OPTIMIZER_MT);
    if (!u->o) luaL_argerror(L, idx, "optimizer is freed");
    return u;
}

ln_optimizer *lnL_check_optimizer(lua_State *L, int idx) {
    return check_opt(L, idx)->o;
}

static ln_object *check_schedule(lua_State *L, int idx) {
    ln_object **box = luaL_checkudata(L, idx, LN_SCHEDULE_MT);
    if (!*box) luaL_argerror(L, idx, "schedule is freed");
    return *box;
}

/* ---- construction ------------------------------------------------------------ */

static int l_optimizer_new(lua_State *L) {
    const char *unit = luaL_checkstring(L, 1);
    ln_args *a = lnL_to_args(L, 2, unit);
    lnL_opt *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LN_OPTIMIZER_MT);
    u->o = ln_optimizer_new(lnL_ctx(), unit, a);
    if (!u->o) return lnL_raise(L);
    return 1;
}

static int o_gc(lua_State *L) {
    lnL_opt *u = luaL_checkudata(L, 1, LN_OPTIMIZER_MT);
    ln_optimizer_free(u->o);
    free(u->vars);
    free(u->grads);
    free(u->names);
    memset(u, 0, sizeof *u);
    return 0;
}

static int l_schedule_new(lua_State *L) {
    const char *unit = luaL_checkstring(L, 1);
    ln_args *a = lnL_to_args(L, 2, unit);
    ln_object **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, LN_SCHEDULE_MT);
    *box = ln_object_new(lnL_ctx(), LN_KIND_SCHEDULE, unit, a);
    if (!*box) return lnL_raise(L);
    return 1;
}

static int s_gc(lua_State *L) {
    ln_object **box = luaL_checkudata(L, 1, LN_SCHEDULE_MT);
    ln_object_free(*box);
    *box = NULL;
    return 0;
}

static int s_value(lua_State *L) {
    ln_object *s = check_schedule(L, 1);
    lua_pushnumber(L, ln_schedule_value(s, luaL_checknumber(L, 2)));
    return 1;
}

static int s_config(lua_State *L) {
    ln_object *s = check_schedule(L, 1);
    lnL_push_args(L, s->args, 0);
    return 1;
}

static int s_unit(lua_State *L) {
    ln_object *s = check_schedule(L, 1);
    lua_pushstring(L, s->unit->name);
    lua_pushstring(L, s->unit->class_name ? s->unit->class_name : s->unit->name);
    return 2;
}

/* ---- the pairs list ------------------------------------------------------------- */

/* Room for n pairs in u's arrays. */
static void reserve(lua_State *L, lnL_opt *u, int n) {
    if (n <= u->cap) return;
    ln_tensor **v = realloc(u->vars, (size_t)n * sizeof *v);
    if (v) u->vars = v;
    const ln_tensor **g = realloc(u->grads, (size_t)n * sizeof *g);
    if (g) u->grads = g;
    const char **nm = realloc(u->names, (size_t)n * sizeof *nm);
    if (nm) u->names = nm;
    if (!v || !g || !nm) luaL_error(L, "apply_gradients: out of memory");
    u->cap = n;
}

/* The variable tensor of a pair entry at the top: a tensor, or a variable
** table ({value = tensor, ...}: layer.variables, model.trainable_variables). */
static ln_tensor *pair_var(lua_State *L) {
    ln_tensor *v = lnL_test_tensor(L, -1);
    if (v || !lua_istable(L, -1)) return v;
    lua_getfield(L, -1, "value");
    v = lnL_test_tensor(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Read the list at idx into u's arrays: entries are pairs {grad, var,
** name = ...} (Keras's zip(grads, vars); var a tensor or a variable table;
** a pair without a gradient is skipped, as Keras skips None) or, when
** grads_optional, bare variables. Returns the count. Strings stay valid
** while the list is alive (the caller's stack holds it). */
static int read_pairs(lua_State *L, lnL_opt *u, int idx, int grads_optional,
                      const char *fn) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = lnL_len(L, idx, fn, "the number of pairs", 1000000);
    reserve(L, u, n);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int t = lua_rawgeti(L, idx, i + 1);
        if (grads_optional && pair_var(L)) {
            u->vars[k] = pair_var(L);
            u->grads[k] = NULL;
            u->names[k++] = NULL;
            lua_pop(L, 1);
            continue;
        }
        if (t != LUA_TTABLE)
            luaL_error(L, "%s: entry %d must be a pair {gradient, variable, "
                       "name = ...}, got %s", fn, i + 1, luaL_typename(L, -1));
        lua_rawgeti(L, -1, 1);
        u->grads[k] = lnL_test_tensor(L, -1);
        int no_grad = !lua_toboolean(L, -1);
        lua_rawgeti(L, -2, 2);
        u->vars[k] = pair_var(L);
        if (!u->vars[k] || (!u->grads[k] && !grads_optional && !no_grad))
            luaL_error(L, "%s: pair %d must hold a gradient tensor then a "
                       "variable (a tensor or a layer's variable)", fn, i + 1);
        lua_getfield(L, -3, "name");
        u->names[k] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 4);
        if (u->grads[k] || grads_optional) k++;
    }
    if (n > 0 && k == 0 && !grads_optional)
        luaL_error(L, "%s: no gradients provided for any variable", fn);
    return k;
}

static int o_apply(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = read_pairs(L, u, 2, 0, "apply_gradients");
    lnL_check(L, ln_optimizer_apply(lnL_ctx(), u->o, n, u->vars, u->grads,
                                    u->names));
    return 0;
}

static int o_build(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = read_pairs(L, u, 2, 1, "build");
    lnL_check(L, ln_optimizer_build(lnL_ctx(), u->o, n, u->vars, u->names));
    return 0;
}

/* ---- configuration and learning rate ---------------------------------------------- */

static int o_config(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    lnL_push_args(L, ln_optimizer_object(u->o)->args, 0);
    return 1;
}

static int o_unit(lua_State *L) {
    const ln_unit *unit = ln_optimizer_object(check_opt(L, 1)->o)->unit;
    lua_pushstring(L, unit->name);
    lua_pushstring(L, unit->class_name ? unit->class_name : unit->name);
    return 2;
}

static int o_name(lua_State *L) {
    lua_pushstring(L, ln_optimizer_name(check_opt(L, 1)->o));
    return 1;
}

static int o_iterations(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_Integer it = luaL_checkinteger(L, 2);
        lnL_check(L, ln_optimizer_set_iterations(lnL_ctx(), u->o, (int64_t)it));
        return 0;
    }
    lua_pushinteger(L, (lua_Integer)ln_optimizer_iterations(u->o));
    return 1;
}

static int o_learning_rate(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        double lr = luaL_checknumber(L, 2);
        lnL_check(L, ln_optimizer_set_learning_rate(lnL_ctx(), u->o, lr));
        return 0;
    }
    lua_pushnumber(L, ln_optimizer_learning_rate(u->o));
    return 1;
}

static int o_has_schedule(lua_State *L) {
    lua_pushboolean(L, ln_optimizer_has_schedule(check_opt(L, 1)->o));
    return 1;
}

static int o_lr_at(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    lua_Integer it = luaL_optinteger(L, 2, (lua_Integer)ln_optimizer_iterations(u->o));
    if (it < 0) luaL_argerror(L, 2, "iterations must be >= 0");
    lua_pushnumber(L, ln_optimizer_lr_at(u->o, (int64_t)it));
    return 1;
}

/* ---- state ---------------------------------------------------------------------------- */

static int o_weights(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = ln_optimizer_weight_count(u->o);
    lua_createtable(L, n, 0);
    for (int w = 0; w < n; w++) {
        lnL_push_tensor(L, ln_optimizer_get_weight(lnL_ctx(), u->o, w));
        lua_rawseti(L, -2, w + 1);
    }
    return 1;
}

static int o_weight_names(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = ln_optimizer_weight_count(u->o);
    char buf[LN_NAME_MAX * 3];
    lua_createtable(L, n, 0);
    for (int w = 0; w < n; w++) {
        lua_pushstring(L, ln_optimizer_weight_name(u->o, w, buf, sizeof buf));
        lua_rawseti(L, -2, w + 1);
    }
    return 1;
}

/* set_weights(list): tensors in Keras's order; the iteration count may also
** be a Lua integer. */
static int o_set_weights(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (n < 1 || n > 1 << 20)
        return luaL_error(L, "set_weights: expected a list of %d weights, got %d",
                          ln_optimizer_weight_count(u->o), n);
    const ln_tensor **w = lua_newuserdatauv(L, (size_t)n * sizeof *w, 0);
    lua_rawgeti(L, 2, 1);
    if (lua_isinteger(L, -1)) { /* a number: boxed as an int32 tensor */
        lua_Integer v = lua_tointeger(L, -1);
        if (v < 0 || v > INT32_MAX)
            return luaL_error(L, "set_weights: iterations %I out of range", v);
        ln_tensor *it = ln_tensor_new(lnL_ctx(), LN_INT32, 0, NULL);
        if (!it) return lnL_raise(L);
        ln_i32(it)[0] = (int32_t)v;
        lnL_push_tensor(L, it); /* the stack owns it until we return */
    }
    for (int i = 0; i < n; i++) {
        if (i > 0) lua_rawgeti(L, 2, i + 1);
        w[i] = lnL_test_tensor(L, -1);
        if (!w[i])
            return luaL_error(L, "set_weights: entry %d must be a tensor, got %s",
                              i + 1, luaL_typename(L, -1));
        if (i > 0) lua_pop(L, 1); /* the list keeps it alive */
    }
    lnL_check(L, ln_optimizer_set_weights(lnL_ctx(), u->o, n, w));
    return 0;
}

static int o_var_count(lua_State *L) {
    lua_pushinteger(L, ln_optimizer_var_count(check_opt(L, 1)->o));
    return 1;
}

static int check_var_index(lua_State *L, lnL_opt *u, int idx) {
    lua_Integer i = luaL_checkinteger(L, idx);
    if (i < 1 || i > ln_optimizer_var_count(u->o))
        luaL_error(L, "optimizer: no variable %I (it has %d)", i,
                   ln_optimizer_var_count(u->o));
    return (int)i - 1;
}

static int o_var(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    lnL_push_tensor_ref(L, ln_optimizer_var(u->o, check_var_index(L, u, 2)));
    return 1;
}

static int o_var_name(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    lua_pushstring(L, ln_optimizer_var_name(u->o, check_var_index(L, u, 2)));
    return 1;
}

static int o_find_var(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int i = ln_optimizer_find_var(u->o, lnL_check_tensor(L, 2));
    if (i < 0) lua_pushnil(L);
    else lua_pushinteger(L, i + 1);
    return 1;
}

static int o_slot_names(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = ln_optimizer_slot_count(u->o);
    lua_createtable(L, n, 0);
    for (int j = 0; j < n; j++) {
        lua_pushstring(L, ln_optimizer_slot_name(u->o, j));
        lua_rawseti(L, -2, j + 1);
    }
    return 1;
}

/* slot(var, name): var a variable tensor or its 1-based index; name a slot
** name or 1-based index. Raises naming what is missing. */
static int o_slot(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int i;
    ln_tensor *t = lnL_test_tensor(L, 2);
    if (t) {
        i = ln_optimizer_find_var(u->o, t);
        if (i < 0)
            return luaL_error(L, "get_slot: the optimizer has no slots for this "
                              "variable (not trained by it yet)");
    } else {
        i = check_var_index(L, u, 2);
    }
    int j;
    if (lua_type(L, 3) == LUA_TSTRING) {
        j = ln_optimizer_slot_index(u->o, lua_tostring(L, 3));
        if (j < 0) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int k = 0; k < ln_optimizer_slot_count(u->o); k++) {
                if (k) luaL_addstring(&b, ", ");
                luaL_addstring(&b, ln_optimizer_slot_name(u->o, k));
            }
            luaL_pushresult(&b);
            return luaL_error(L, "get_slot: %s has no slot '%s' (slots: %s)",
                              ln_optimizer_name(u->o), lua_tostring(L, 3),
                              lua_tostring(L, -1));
        }
    } else {
        lua_Integer k = luaL_checkinteger(L, 3);
        if (k < 1 || k > ln_optimizer_slot_count(u->o))
            return luaL_error(L, "get_slot: no slot %I", k);
        j = (int)k - 1;
    }
    lnL_push_tensor_ref(L, ln_optimizer_slot(u->o, i, j));
    return 1;
}

static int o_globals(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    int n = ln_optimizer_global_count(u->o);
    lua_createtable(L, 0, n);
    for (int k = 0; k < n; k++) {
        lua_pushnumber(L, ln_optimizer_global(u->o, k));
        lua_setfield(L, -2, ln_optimizer_global_name(u->o, k));
    }
    return 1;
}

static int o_set_global(lua_State *L) {
    lnL_opt *u = check_opt(L, 1);
    const char *name = luaL_checkstring(L, 2);
    double v = luaL_checknumber(L, 3);
    for (int k = 0; k < ln_optimizer_global_count(u->o); k++)
        if (!strcmp(ln_optimizer_global_name(u->o, k), name)) {
            ln_optimizer_set_global(u->o, k, v);
            return 0;
        }
    return luaL_error(L, "%s has no global '%s'", ln_optimizer_name(u->o), name);
}

/* ---- gradient clipping for training loops and Lua optimizers ------------------------ */

static double opt_number(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? -1.0 : luaL_checknumber(L, idx);
}

static int l_clip_gradients(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = lnL_len(L, 1, "clip_gradients", "the number of gradients", 1000000);
    int nout = lnL_len(L, 2, "clip_gradients", "the number of outputs", 1000000);
    if (nout != n)
        return luaL_error(L, "clip_gradients: %d gradients but %d outputs", n, nout);
    const ln_tensor **g = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *g, 0);
    ln_tensor **out = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *out, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        g[i] = lnL_check_float(L, -1, "clip_gradients");
        lua_rawgeti(L, 2, i + 1);
        out[i] = lnL_check_float(L, -1, "clip_gradients");
        lua_pop(L, 2);
    }
    double cv = opt_number(L, 3), cn = opt_number(L, 4), gn = opt_number(L, 5);
    lnL_check(L, ln_clip_gradients(lnL_ctx(), n, g, out, cv, cn, gn));
    return 0;
}

void lnL_open_optim(lua_State *L) {
    static const luaL_Reg omethods[] = {
        {"apply", o_apply},
        {"build", o_build},
        {"config", o_config},
        {"unit", o_unit},
        {"name", o_name},
        {"iterations", o_iterations},
        {"learning_rate", o_learning_rate},
        {"has_schedule", o_has_schedule},
        {"lr_at", o_lr_at},
        {"weights", o_weights},
        {"weight_names", o_weight_names},
        {"set_weights", o_set_weights},
        {"var_count", o_var_count},
        {"var", o_var},
        {"var_name", o_var_name},
        {"find_var", o_find_var},
        {"slot_names", o_slot_names},
        {"slot", o_slot},
        {"globals", o_globals},
        {"set_global", o_set_global},
        {NULL, NULL}};
    static const luaL_Reg ometa[] = {{"__gc", o_gc}, {"__close", o_gc},
                                     {NULL, NULL}};
    luaL_newmetatable(L, LN_OPTIMIZER_MT);
    lnL_register(L, ometa);
    lua_newtable(L);
    lnL_register(L, omethods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg smethods[] = {{"value", s_value}, {"config", s_config},
                                        {"unit", s_unit}, {NULL, NULL}};
    static const luaL_Reg smeta[] = {{"__gc", s_gc}, {"__close", s_gc},
                                     {NULL, NULL}};
    luaL_newmetatable(L, LN_SCHEDULE_MT);
    lnL_register(L, smeta);
    lua_newtable(L);
    lnL_register(L, smethods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg fns[] = {{"optimizer_new", l_optimizer_new},
                                   {"schedule_new", l_schedule_new},
                                   {"clip_gradients", l_clip_gradients},
                                   {NULL, NULL}};
    lnL_register(L, fns);
}
