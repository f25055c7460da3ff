/*
** lua_core.c -- the C module `lunet.core`: the library-wide functions
** (plugins, threads, clock, seed) and luaopen_lunet_core, the one place
** that calls every opener of the binding and publishes its C API to the
** modules loaded later (lua_api.h). Nothing calls into this file.
*/
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lua_nn.h"
#include "lua_parts.h"
#include "lua_tensor.h"

/* ---- library-wide functions ------------------------------------------------ */

/* load_plugin(path [, {override = true}]): override replaces units of the
** same kind and name on purpose (else a duplicate is refused). */
static int l_load_plugin(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "load_plugin");
    unsigned flags = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "override"))
                return luaL_error(L, "load_plugin: unknown option '%s' (override)",
                                  lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                                 : luaL_typename(L, -2));
            if (lua_toboolean(L, -1)) flags |= LN_LOAD_OVERRIDE;
            lua_pop(L, 1);
        }
    }
    lnL_check(L, ln_registry_load(lnL_ctx(), path, flags));
    return 0;
}

/* plugins() -> list of {kind, name, class_name, version, file, summary} */
static int l_plugins(lua_State *L) {
    int n = ln_registry_count();
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const char *file;
        const ln_unit *u = ln_registry_at(i, &file);
        lua_createtable(L, 0, 6);
        lua_pushstring(L, ln_kind_name(u->kind));
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, u->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, u->class_name ? u->class_name : u->name);
        lua_setfield(L, -2, "class_name");
        lua_pushinteger(L, u->version);
        lua_setfield(L, -2, "version");
        lua_pushstring(L, file);
        lua_setfield(L, -2, "file");
        lua_pushstring(L, u->summary ? u->summary : "");
        lua_setfield(L, -2, "summary");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* plugin_generation() -> a number that changes when units are added or
** replaced (lunet.registry rebuilds its tables then, not at every lookup). */
static int l_plugin_generation(lua_State *L) {
    lua_pushinteger(L, ln_registry_generation());
    return 1;
}

/* plugin_refusal(kind, name) -> "its plugin <file> was refused: <why>"
** when a refused plugin offered unit (or class) `name` of `kind` ("layer",
** "optimizer", ...), or nil. */
static int l_plugin_refusal(lua_State *L) {
    static const char *const kinds[] = {"layer", "activation", "initializer",
        "optimizer", "schedule", "loss", "metric", NULL};
    const char *k = luaL_checkstring(L, 1);
    int kind = 0;
    while (kinds[kind] && strcmp(kinds[kind], k)) kind++;
    if (!kinds[kind]) return 0; /* callbacks, regularizers: no plugins */
    char why[LN_MSG_MAX];
    ln_registry_scan();
    if (!ln_registry_refusal((ln_kind)kind, luaL_checkstring(L, 2), why, sizeof why))
        return 0;
    lua_pushstring(L, why);
    return 1;
}

static int l_plugin_warnings(lua_State *L) {
    ln_registry_scan();
    int n = ln_registry_warning_count();
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, ln_registry_warning(i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_time(lua_State *L) {
    lua_pushnumber(L, ln_time());
    return 1;
}

static int l_seed(lua_State *L) {
    int64_t s = lnL_check_int(L, 1, "random.seed", "seed", INT64_MIN, INT64_MAX);
    ln_rng_seed(ln_rng_global(), (uint64_t)s);
    return 0;
}

/* set_num_threads(n): 1 <= n <= ln_max_threads() (lunet.h says why). */
static int l_set_num_threads(lua_State *L) {
    int64_t n = lnL_check_int(L, 1, "set_num_threads", "the number of threads",
                              1, ln_max_threads());
    ln_set_num_threads((int)n);
    return 0;
}

static int l_max_threads(lua_State *L) {
    lua_pushinteger(L, ln_max_threads());
    return 1;
}

static int l_get_num_threads(lua_State *L) {
    lua_pushinteger(L, ln_get_num_threads());
    return 1;
}

static int l_isatty(lua_State *L) {
    int fd = (int)lnL_opt_int(L, 1, "isatty", "fd", 0, INT32_MAX, 1);
    lua_pushboolean(L, isatty(fd));
    return 1;
}

/* tensor_key(t) -> a light userdata naming the tensor object itself: two
** Lua values for one tensor (a model's weight seen twice) give the same
** key, so tables keyed by tensors (Lua optimizers' slots) find it. */
static int l_tensor_key(lua_State *L) {
    lua_pushlightuserdata(L, lnL_check_tensor(L, 1));
    return 1;
}

static void open_lib(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"load_plugin", l_load_plugin},
        {"plugins", l_plugins},
        {"plugin_generation", l_plugin_generation},
        {"plugin_warnings", l_plugin_warnings},
        {"plugin_refusal", l_plugin_refusal},
        {"time", l_time},
        {"seed", l_seed},
        {"set_num_threads", l_set_num_threads},
        {"get_num_threads", l_get_num_threads},
        {"max_threads", l_max_threads},
        {"isatty", l_isatty},
        {"tensor_key", l_tensor_key},
        {NULL, NULL}};
    lnL_register(L, fns);
    lua_pushstring(L, LN_VERSION_STRING);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, ln_gemm_kernel_name());
    lua_setfield(L, -2, "gemm_kernel");
}

/* The Tensor metatable, assembled from the parts of the tensor binding. */
static void open_tensor(lua_State *L) {
    int mod = lua_gettop(L);
    lnL_new_tensor_mt(L);
    int meta = lua_gettop(L);
    lua_newtable(L);
    int methods = lua_gettop(L);
    lnT_open_base(L, methods, meta, mod);
    lnT_open_index(L, methods, meta, mod);
    lnT_open_math(L, methods, meta, mod);
    lnT_open_reduce(L, methods, meta, mod);
    lnT_open_fmt(L, methods, meta, mod);
    lnT_open_inplace(L, methods, meta, mod);
    lnT_open_nn(L, methods, meta, mod);
    lnT_open_elem(L, methods, meta, mod); /* __index, __newindex */
    lua_pushvalue(L, methods);
    lua_setfield(L, mod, "Tensor"); /* the method table, for Lua extensions */
    lua_settop(L, mod);
}

static ln_layer *api_check_layer(lua_State *L, int idx) {
    return lnL_check_layer(L, idx)->l;
}

/* What lunet.core offers the C modules loaded after it (lua_api.h). */
static const lnL_api the_api = {
    sizeof(lnL_api), lnL_ctx, lnL_raise, lnL_push_tensor, lnL_check_tensor,
    lnL_check_shape, lnL_push_args, api_check_layer, lnL_check_path};

LN_API int luaopen_lunet_core(lua_State *L) {
    /* Not in a library constructor: an OpenMP pool started at load time
    ** would hang children of fork() (Check's test runner, for one). */
    int asked = ln_get_num_threads(); /* OMP_NUM_THREADS, if set */
    ln_cpu_init();
    if (ln_get_num_threads() < asked)
        fprintf(stderr, "lunet: warning: %d threads asked (OMP_NUM_THREADS); "
                "using %d, the most lunet allows here (LN_MAX_THREADS or the "
                "address-space limit)\n", asked, ln_get_num_threads());
    /* A write past the file-size limit (ulimit -f) must fail with EFBIG,
    ** so a save raises an error instead of killing the process. */
    struct sigaction sa;
    if (sigaction(SIGXFSZ, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGXFSZ, SIG_IGN);
    lua_pushlightuserdata(L, (void *)&the_api);
    lua_setfield(L, LUA_REGISTRYINDEX, LNL_API_KEY);
    lua_newtable(L);
    open_lib(L);
    open_tensor(L);
    lua_newtable(L); /* core.nn */
    lnL_open_nn(L);
    lnL_open_train(L);
    lua_setfield(L, -2, "nn");
    lnL_open_io(L);
    lnL_open_optim(L);
    lnL_open_memory(L);
    lnL_open_autograd(L); /* last: wraps the functions the others registered */
    return 1;
}
