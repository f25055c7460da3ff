/*
** lua_mpi.c -- the Lua C module lunet.mpi (lib/lua/5.4/lunet/mpi.so), the
** MPI half of lunet.distributed, which loads it on first use. Internal:
** scripts use ln.distributed (core/lua/lunet/distributed.lua).
**
**   mpi.init(timeout) -> rank, size       mpi.initialized()
**   mpi.timeout([seconds]) -> the limit before (sets it)
**   mpi.rank(), mpi.size()                mpi.broken() -> nil | why
**   mpi.allreduce_tensor(t, op)           in place; op "sum" | "mean" | "max"
**   mpi.allreduce_numbers(list, op)       -> a new list
**   mpi.broadcast_tensor(t, root)         in place
**   mpi.broadcast_string(s | nil, root)   -> root's string
**   mpi.barrier()
**   mpi.fail(message)                     tell every other rank, break the world
**   mpi.allreduce_tensors(list, op [, rows])  float32 tensors in place, one
**                                         message (rows: the row-weighted mean)
**   mpi.native_allreduce(t)               MPI_Allreduce (bench/: MPI's own order)
**   mpi.sync_rng(root)                    lunet's generator from root
**   mpi.spread_rng()                      rank r draws from its own stream
**   mpi.reducer() -> GradReducer          for net:set_reducer (engine/net.h);
**                                         reducer:stats() -> table,
**                                         reducer:overlap([on]) -> was on
**   mpi.stats() -> {seconds, calls, bytes}
**   mpi.finalize()                        (also when the Lua state closes)
**
** Tensors are lunet.Tensor userdata of the binding (a box holding one
** ln_tensor *, core/lua/lua_common.h). Errors are raised as Lua errors
** with the rank named.
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "comm.h"
#include "embed.h" /* LNE_EXIT_HOOK */
#include "lunet/rng.h"
#include "lunet/tensor.h"
#include "reducer.h"

#define TENSOR_MT "lunet.Tensor"      /* the binding's tensors */
#define REDUCER_MT "lunet.GradReducer" /* what net:set_reducer takes */
#define SENTINEL_KEY "lunet.mpi.sentinel"

static ln_ctx ctx;

static int raise(lua_State *L) {
    lua_pushstring(L, ctx.msg[0] ? ctx.msg : "MPI: unknown error");
    ln_ctx_clear(&ctx);
    return lua_error(L);
}

static void check(lua_State *L, ln_status st) {
    if (st) raise(L);
}

static void need_init(lua_State *L) {
    if (!lnm_initialized()) luaL_error(L, "lunet.mpi: call init() first");
}

static ln_tensor *check_tensor(lua_State *L, int idx) {
    ln_tensor **box = luaL_checkudata(L, idx, TENSOR_MT);
    if (!*box) luaL_argerror(L, idx, "tensor is closed");
    return *box;
}

static int check_op(lua_State *L, int idx) {
    static const char *const ops[] = {"sum", "mean", "max", NULL};
    static const int codes[] = {LNM_SUM, LNM_MEAN, LNM_MAX};
    return codes[luaL_checkoption(L, idx, "sum", ops)];
}

static int check_root(lua_State *L, int idx) {
    lua_Integer root = luaL_optinteger(L, idx, 0);
    if (root < 0 || root >= lnm_size())
        luaL_error(L, "broadcast: root %d outside ranks 0..%d", (int)root, lnm_size() - 1);
    return (int)root;
}

/* Finalizes MPI when the Lua state closes (the end of the script). */
static int sentinel_gc(lua_State *L) {
    (void)L;
    lnm_finalize();
    return 0;
}

/* The exit hook (embed.h): the lunet interpreter calls it with the message
** of a script that ends with an error. With several ranks this one fails
** the world (lnm_fail: the others' collectives fail at once naming this
** rank and the message's first lines, without the traceback) and so skips
** MPI_Finalize, which would wait for ranks that wait for this one: the
** process exits with an error and the launcher ends the job. Returns the
** message naming this rank. */
static int exit_hook(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = "(an error object that is not a string)";
    if (!lnm_initialized() || lnm_size() < 2) {
        lua_pushstring(L, msg);
        return 1;
    }
    const char *tb = strstr(msg, "\nstack traceback:");
    lua_pushlstring(L, msg, tb ? (size_t)(tb - msg) : strlen(msg));
    lnm_fail(lua_tostring(L, -1)); /* the others say "rank R failed: ..." */
    lua_pop(L, 1);
    char tag[32];
    snprintf(tag, sizeof tag, "rank %d: ", lnm_rank());
    if (strstr(msg, tag)) lua_pushstring(L, msg);
    else lua_pushfstring(L, "%s%s", tag, msg);
    return 1;
}

static int l_init(lua_State *L) {
    double timeout = luaL_checknumber(L, 1);
    int fresh = !lnm_initialized();
    check(L, lnm_init(&ctx, timeout));
    if (fresh) {
        lua_newuserdatauv(L, 1, 0);
        lua_newtable(L);
        lua_pushcfunction(L, sentinel_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, SENTINEL_KEY);
        lua_pushcfunction(L, exit_hook);
        lua_setfield(L, LUA_REGISTRYINDEX, LNE_EXIT_HOOK);
    }
    lua_pushinteger(L, lnm_rank());
    lua_pushinteger(L, lnm_size());
    return 2;
}

/* timeout([seconds]) -> the wait limit (before the change) */
static int l_timeout(lua_State *L) {
    double old = lnm_timeout();
    if (!lua_isnoneornil(L, 1)) check(L, lnm_init(&ctx, luaL_checknumber(L, 1)));
    lua_pushnumber(L, old);
    return 1;
}

static int l_initialized(lua_State *L) {
    lua_pushboolean(L, lnm_initialized());
    return 1;
}

static int l_rank(lua_State *L) {
    lua_pushinteger(L, lnm_rank());
    return 1;
}

static int l_size(lua_State *L) {
    lua_pushinteger(L, lnm_size());
    return 1;
}

static int l_broken(lua_State *L) {
    const char *why = lnm_broken();
    if (why) lua_pushstring(L, why);
    else lua_pushnil(L);
    return 1;
}

static int l_allreduce_tensor(lua_State *L) {
    ln_tensor *t = check_tensor(L, 1);
    int op = check_op(L, 2);
    need_init(L);
    if (t->dtype == LN_FLOAT32) check(L, lnm_allreduce_f32(&ctx, ln_f32(t), t->numel, op, -1));
    else if (t->dtype == LN_INT32)
        check(L, lnm_allreduce_i32(&ctx, (int32_t *)ln_data(t), t->numel, op));
    else return luaL_error(L, "allreduce: %s tensors are not supported (float32, int32)",
                           ln_dtype_name(t->dtype));
    lua_settop(L, 1);
    return 1;
}

/* native_allreduce(t): MPI_Allreduce(MPI_SUM) of a float32 tensor in place
** -- MPI's own algorithm, whose order is not fixed -- for bench/ to compare
** with lunet's (no timeout: MPI's call blocks). */
static int l_native_allreduce(lua_State *L) {
    ln_tensor *t = check_tensor(L, 1);
    need_init(L);
    if (t->dtype != LN_FLOAT32 || t->numel > INT_MAX)
        return luaL_error(L, "native_allreduce: a float32 tensor of at most %d elements", INT_MAX);
    int rc = MPI_Allreduce(MPI_IN_PLACE, ln_data(t), (int)t->numel, MPI_FLOAT, MPI_SUM, lnm_comm());
    if (rc != MPI_SUCCESS) check(L, lnm_error(&ctx, rc, "MPI_Allreduce", -1));
    lua_settop(L, 1);
    return 1;
}

/* allreduce_tensors({t, ...}, op [, rows]): float32 tensors in place, one
** message; rows >= 0: the row-weighted mean (each rank's tensors hold the
** mean over its `rows` rows; op is then ignored) */
static int l_allreduce_tensors(lua_State *L) {
    static lnm_seg *segs;
    static int cap;
    luaL_checktype(L, 1, LUA_TTABLE);
    int op = check_op(L, 2);
    lua_Integer rows = luaL_optinteger(L, 3, -1);
    if (rows < -1 || rows > INT64_MAX / 2) return luaL_error(L, "allreduce: rows %d", (int)rows);
    need_init(L);
    lua_Integer n = luaL_len(L, 1);
    if (n < 0 || n > 1000000) return luaL_error(L, "allreduce: %d tensors", (int)n);
    ln_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)(n ? n : 1), 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        ts[i] = check_tensor(L, -1); /* kept alive by the list */
        lua_pop(L, 1);
    }
    check(L, lnm_allreduce_list(&ctx, &segs, &cap, (int)n, ts, op, (int64_t)rows));
    lua_settop(L, 1);
    return 1;
}

static int l_allreduce_numbers(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int op = check_op(L, 2);
    need_init(L);
    lua_Integer n = luaL_len(L, 1);
    if (n < 0 || n > 100000000) return luaL_error(L, "allreduce: %d numbers", (int)n);
    double *v = lua_newuserdatauv(L, sizeof *v * (size_t)(n ? n : 1), 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        int ok = 0;
        v[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) return luaL_error(L, "allreduce: entry %d is a %s, not a number", (int)i + 1,
                                   luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    check(L, lnm_allreduce_f64(&ctx, v, n, op));
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_broadcast_tensor(lua_State *L) {
    ln_tensor *t = check_tensor(L, 1);
    int root = (need_init(L), check_root(L, 2));
    check(L, lnm_broadcast(&ctx, ln_data(t), t->numel * (int64_t)ln_dtype_size(t->dtype), root));
    lua_settop(L, 1);
    return 1;
}

static int l_broadcast_string(lua_State *L) {
    need_init(L);
    int root = check_root(L, 2);
    size_t len = 0;
    const char *s = lnm_rank() == root ? luaL_checklstring(L, 1, &len) : NULL;
    char *out = (char *)s;
    int64_t n = (int64_t)len;
    check(L, lnm_broadcast_string(&ctx, &out, &n, root));
    if (lnm_rank() == root) {
        lua_pushvalue(L, 1);
        return 1;
    }
    lua_pushlstring(L, out, (size_t)n);
    free(out);
    return 1;
}

static int l_barrier(lua_State *L) {
    need_init(L);
    check(L, lnm_barrier(&ctx));
    return 0;
}

static int l_fail(lua_State *L) {
    lnm_fail(luaL_optstring(L, 1, "(no message)"));
    return 0;
}

/* sync_rng(root): lunet's generator (two 64-bit words) from root. */
static int l_sync_rng(lua_State *L) {
    need_init(L);
    int root = check_root(L, 1);
    ln_rng copy = *ln_rng_global();
    check(L, lnm_broadcast(&ctx, &copy, sizeof copy, root));
    *ln_rng_global() = copy;
    return 0;
}

/* spread_rng(): from here rank r draws from its own stream of the same
** seed (counter + r * 2^40), so its dropout masks differ from the others'. */
static int l_spread_rng(lua_State *L) {
    need_init(L);
    ln_rng_global()->counter += (uint64_t)lnm_rank() << 40;
    return 0;
}

static void push_stats(lua_State *L, lnm_stats s) {
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, s.seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushinteger(L, s.calls);
    lua_setfield(L, -2, "calls");
    lua_pushinteger(L, s.bytes);
    lua_setfield(L, -2, "bytes");
}

static int l_stats(lua_State *L) {
    push_stats(L, lnm_get_stats());
    return 1;
}

static int l_finalize(lua_State *L) {
    (void)L;
    lnm_finalize();
    return 0;
}

/* ---- the reducer --------------------------------------------------------------- */

static lnm_reducer *check_reducer(lua_State *L, int idx) {
    lnm_reducer **box = luaL_checkudata(L, idx, REDUCER_MT);
    if (!*box) luaL_argerror(L, idx, "reducer is closed");
    return *box;
}

static int l_reducer(lua_State *L) {
    need_init(L);
    lnm_reducer **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, REDUCER_MT);
    if (!(*box = lnm_reducer_new())) return luaL_error(L, "reducer: out of memory");
    return 1;
}

static int reducer_gc(lua_State *L) {
    lnm_reducer **box = luaL_checkudata(L, 1, REDUCER_MT);
    lnm_reducer_free(*box);
    *box = NULL;
    return 0;
}

/* reducer:stats() -> {seconds, calls, bytes, wait_seconds, overlapped} of its steps */
static int reducer_stats(lua_State *L) {
    lnm_reducer *r = check_reducer(L, 1);
    push_stats(L, r->stats);
    lua_pushnumber(L, r->wait_seconds);
    lua_setfield(L, -2, "wait_seconds");
    lua_pushinteger(L, r->overlapped);
    lua_setfield(L, -2, "overlapped");
    return 1;
}

/* reducer:overlap([on]) -> whether it overlaps backward (before the change) */
static int reducer_overlap(lua_State *L) {
    lnm_reducer *r = check_reducer(L, 1);
    lua_pushboolean(L, lnm_reducer_overlapping(r));
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        lnm_reducer_overlap(r, lua_toboolean(L, 2));
    }
    return 1;
}

static int reducer_reset_stats(lua_State *L) {
    lnm_reducer *r = check_reducer(L, 1);
    memset(&r->stats, 0, sizeof r->stats);
    r->wait_seconds = 0;
    r->overlapped = 0;
    return 0;
}

LN_API int luaopen_lunet_mpi(lua_State *L) {
    static const luaL_Reg reducer_methods[] = {
        {"stats", reducer_stats}, {"reset_stats", reducer_reset_stats},
        {"overlap", reducer_overlap}, {NULL, NULL}};
    if (luaL_newmetatable(L, REDUCER_MT)) {
        lua_pushcfunction(L, reducer_gc);
        lua_setfield(L, -2, "__gc");
        luaL_newlib(L, reducer_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"init", l_init},
        {"initialized", l_initialized},
        {"timeout", l_timeout},
        {"rank", l_rank},
        {"size", l_size},
        {"broken", l_broken},
        {"allreduce_tensor", l_allreduce_tensor},
        {"allreduce_numbers", l_allreduce_numbers},
        {"allreduce_tensors", l_allreduce_tensors},
        {"native_allreduce", l_native_allreduce},
        {"spread_rng", l_spread_rng},
        {"broadcast_tensor", l_broadcast_tensor},
        {"broadcast_string", l_broadcast_string},
        {"barrier", l_barrier},
        {"fail", l_fail},
        {"sync_rng", l_sync_rng},
        {"reducer", l_reducer},
        {"stats", l_stats},
        {"finalize", l_finalize},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
