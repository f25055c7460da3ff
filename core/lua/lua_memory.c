/*
** lua_memory.c -- Lua's garbage collector made to see tensor bytes, and the
** memory statistics and settings (core.memory, ln.memory).
**
** A tensor's box is a few bytes of Lua memory holding megabytes of storage,
** so on its own the collector runs far too rarely for a loop of tensor
** expressions (a loop of `local b = a * 0.9` on 1M elements used to peak
** at gigabytes). As Torch7 did with its heap tracking, every tensor handed
** to Lua first checks the bytes of live storages against a trigger; above
** it, a full collection runs (the temporaries' finalizers release their
** storages into the block cache, where the next temporaries find them) and
** the trigger moves to live + max(min_headroom, ratio * live). So garbage
** stays within that headroom of the live data: 32 MiB and half the live
** bytes by default.
**
** The collection is skipped while the user has stopped the collector
** (collectgarbage("stop")) and inside finalizers.
*/
#include "lua_common.h"
#include "lunet/memory.h"

static int64_t min_headroom = (int64_t)32 << 20;
static double ratio = 0.5;
static int64_t trigger = (int64_t)32 << 20;
static int collecting;

static void retrigger(void) {
    int64_t live = ln_memory_live_bytes();
    int64_t room = (int64_t)(ratio * (double)live);
    trigger = live + (room > min_headroom ? room : min_headroom);
}

void lnL_gc_check(lua_State *L) {
    if (ln_memory_live_bytes() <= trigger || collecting) return;
    if (lua_gc(L, LUA_GCISRUNNING) == 1) {
        collecting = 1;
        lua_gc(L, LUA_GCCOLLECT);
        collecting = 0;
    }
    retrigger();
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* memory.stats() -> {live_bytes, peak_bytes, cached_bytes, cache_limit,
** cache_hits, cache_misses, collect_trigger} */
static int m_stats(lua_State *L) {
    ln_memory_stats s;
    ln_memory_get_stats(&s);
    lua_createtable(L, 0, 7);
    set_int(L, "live_bytes", s.live_bytes);
    set_int(L, "peak_bytes", s.peak_bytes);
    set_int(L, "cached_bytes", s.cached_bytes);
    set_int(L, "cache_limit", s.cache_limit);
    set_int(L, "cache_hits", s.cache_hits);
    set_int(L, "cache_misses", s.cache_misses);
    set_int(L, "collect_trigger", trigger);
    return 1;
}

static int64_t check_bytes(lua_State *L, int idx, const char *fn) {
    int ok;
    lua_Integer n = lua_tointegerx(L, idx, &ok);
    if (!ok || n < 0)
        luaL_error(L, "%s: expects a number of bytes >= 0 (an integer), got %s",
                   fn, lua_isnumber(L, idx) ? lua_tostring(L, idx)
                                             : luaL_typename(L, idx));
    return (int64_t)n;
}

/* memory.set_cache_limit(bytes): the bound of the freed-block cache. */
static int m_set_cache_limit(lua_State *L) {
    ln_memory_set_cache_limit(check_bytes(L, 1, "set_cache_limit"));
    return 0;
}

static int m_empty_cache(lua_State *L) {
    (void)L;
    ln_memory_empty_cache();
    return 0;
}

/* memory.set_collect_headroom(min_bytes [, ratio]): garbage allowed on
** top of the live bytes before a collection: max(min_bytes, ratio * live). */
static int m_set_collect_headroom(lua_State *L) {
    int64_t b = check_bytes(L, 1, "set_collect_headroom");
    double r = luaL_optnumber(L, 2, ratio);
    if (!(r >= 0 && r <= 100))
        return luaL_error(L, "set_collect_headroom: ratio must be in [0, 100], "
                          "got %f", r);
    min_headroom = b;
    ratio = r;
    retrigger();
    return 0;
}

void lnL_open_memory(lua_State *L) {
    static const luaL_Reg fns[] = {{"stats", m_stats},
                                   {"set_cache_limit", m_set_cache_limit},
                                   {"empty_cache", m_empty_cache},
                                   {"set_collect_headroom", m_set_collect_headroom},
                                   {NULL, NULL}};
    lua_newtable(L);
    lnL_register(L, fns);
    lua_setfield(L, -2, "memory");
}
