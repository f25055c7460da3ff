/*
** fuzz_h5model.c -- the HDF5 model loader: lunet/saving.lua (model_config
** and layer configs, layer_names, weight_names, weight datasets, optimizer
** state, lunet_units) over core/h5/h5file*.c and core/h5/json.c.
**
** The loader is Lua, so this harness embeds Lua 5.4 and the lunet binding
** (as the `lunet` executable does) in one state made at start-up, and
** hands each input to tests/fuzz/fuzz_h5model.lua, which holds the modes
** and the invariants. Input: a mode byte, then the bytes:
**   mode % 3 == 0   model JSON text (ln.models.model_from_json)
**   mode % 3 == 1   a whole file (load_model, load_weights); read as mode 2
**                   when LUNET_FUZZ_H5_RAW=0
**   mode % 3 == 2   a file described part by part (written, then loaded)
** A broken invariant comes back as a Lua error and aborts; a finding that
** is not a crash (an unclear message) goes through fz_finding. After each
** input a full garbage collection must bring the live tensors back to
** what they were.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_util.h"

#ifndef FUZZ_LUA_DIR
#error "FUZZ_LUA_DIR: the lunet Lua sources (core/lua)"
#endif

LN_API int luaopen_lunet_core(lua_State *L);
LN_API int luaopen_lunet_h5(lua_State *L);

static lua_State *L;
static int run_ref = LUA_NOREF;

static void die_lua(const char *what) {
    fz_die(__FILE__, __LINE__, what, "%s", lua_tostring(L, -1));
}

/* fuzz_finding(key, message): a finding of the Lua driver (fz_finding). */
static int l_finding(lua_State *L) {
    fz_finding(luaL_checkstring(L, 1), "%s", luaL_checkstring(L, 2));
    return 0;
}

/* The Lua state, lunet loaded, and the driver's run function. */
static void setup(void) {
    if (L) return;
    L = luaL_newstate();
    FZ_CHECK(L != NULL, "cannot create a Lua state");
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lunet_core);
    lua_setfield(L, -2, "lunet.core");
    lua_pushcfunction(L, luaopen_lunet_h5);
    lua_setfield(L, -2, "lunet.h5");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushstring(L, FUZZ_LUA_DIR "/?.lua;" FUZZ_LUA_DIR "/?/init.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    lua_register(L, "fuzz_finding", l_finding);
    char driver[1024];
    snprintf(driver, sizeof driver, "%s/fuzz_h5model.lua", FUZZ_DIR);
    if (luaL_dofile(L, driver) != LUA_OK) die_lua("loading fuzz_h5model.lua");
    FZ_CHECK(lua_isfunction(L, -1), "fuzz_h5model.lua returns no function");
    run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* the fixed model and lunet's caches are made once, outside the
    ** per-input tensor count */
    lua_gc(L, LUA_GCCOLLECT);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    fz_set_input(data, size);
    if (size < 1) return 0;
    int mode = data[0] % 3;
    /* LUNET_FUZZ_H5_RAW=0: whole-file inputs are read as part-by-part
    ** descriptions instead, which keeps libhdf5's own parser (whose bugs
    ** on corrupt files are not lunet's; see docs/reliability.md) out of a
    ** fuzzing session aimed at lunet's loader */
    const char *raw = getenv("LUNET_FUZZ_H5_RAW");
    if (mode == 1 && raw && !strcmp(raw, "0")) mode = 2;
    /* a real file (libhdf5 does not open /proc/self/fd paths) on tmpfs */
    char path[512] = "";
    if (mode == 1) {
        snprintf(path, sizeof path, "%s/raw.h5", fz_tmpdir());
        FILE *f = fopen(path, "wb");
        FZ_CHECK(f && fwrite(data + 1, 1, size - 1, f) == size - 1 && fclose(f) == 0,
                 "cannot write %s", path);
    }
    lua_gc(L, LUA_GCCOLLECT);
    fz_live before = fz_live_now();
    lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
    lua_pushinteger(L, mode);
    lua_pushlstring(L, (const char *)data + 1, size - 1);
    lua_pushstring(L, path);
    lua_pushstring(L, fz_tmpdir());
    if (lua_pcall(L, 4, 0, 0) != LUA_OK) die_lua("fuzz_h5model.lua");
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT);
    fz_live_check(before, "the model loader");
    return 0;
}
