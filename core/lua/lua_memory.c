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
** the trigger moves to live + max(min_headroom, ratio * live,
** min(heap_ratio * Lua heap, 32 MiB)). So garbage stays within that headroom
** of the live data: by default 4 MiB and 32 times the Lua heap (up to 32
** MiB); the live term is 0 unless set (at half the live bytes, a script
** holding a 200 MB data set piled 100 MB of a loop's garbage past the
** block cache, and its temporaries faulted in fresh pages).
**
** Why these: a small headroom keeps the temporaries of a loop in cache (a
** temporary is written into a block freed at the last collection, so the
** blocks in flight are the headroom's bytes): with 32 MiB, the chain
** (a * 1.5 + b):exp():sum() on 10k-300k elements ran 20-30 % slower than
** with 4 MiB, which measured best from 10k to 300k (2 MiB and below pay the
** collections; docs/performance.md, eager section). A full collection
** costs ~0.1-0.3 ns per byte of Lua heap (7 us for lunet's own 60 KB), and
** making B bytes of temporaries costs at least ~0.03 ns per byte, so the
** heap term keeps the collections below ~10 % of that work however large
** the program's Lua data grows, up to a 1 MB heap (32 MiB, the former
** default, and the cap: see heap_cap).
** Young collections (issue 21, tenth session): between full collections,
** every young_room bytes of new storage (256 KiB) start a minor
** collection of Lua's generational mode, which lunet selects when it
** loads. It visits only the objects made since the last one (0.4 us for
** one tensor box, ~0.1 us more per young object, against 7 us and more
** for a full one) and frees the temporaries that died meanwhile, so the
** next result is written into a block that is still in L2: a * b on 30k
** elements 3.8 -> 2.1 us, the (a * 1.5 + b):exp():sum() chain on 10k
** 6.3 -> 4.5 us (docs/performance.md, "Young collections"). The check
** runs when an operation reads a tensor argument, before its result is
** made, and when a result is pushed, not counting the result's own block
** (eleventh session): a loop's last result, dead by the next call, is
** freed before that call makes its own, which then takes the same block.
** Timed at the push only, two blocks took turns: ln.cat of two 1M
** tensors 294-305 -> 165-179 us, as fast as with <close>. A tensor
** that lives through two of them grows old and waits for a full
** collection, which the trigger above still bounds (a minor collection
** that leaves the live bytes above it is followed by a full one). In
** incremental mode (collectgarbage("incremental")) the minor collection
** is an incremental step; set_young_headroom(0) turns them off.
** Training steps (twentieth session): a step of a GradientTape loop makes
** megabytes of tensors that live until its end, so young collections
** every 256 KiB made them old and they waited for full collections (fit's
** first epoch with Lua units 1.5x slower, its blocks fresh from the
** system). optimizer:apply_gradients and fit's tape path mark the steps'
** ends (memory.step_end): a young collection there, and between marks a
** young room of twice the last step's bytes.
** The collections are skipped while the user has stopped the collector
** (collectgarbage("stop")) and inside finalizers.
*/
#include "lua_common.h"
#include "lunet/memory.h"

static int64_t min_headroom = (int64_t)4 << 20;
static double ratio = 0;
static double heap_ratio = 32;
/* The heap term's cap: the former fixed headroom. Beyond it the blocks in
** flight outgrow the block cache (128 MiB) and every temporary faults in
** fresh pages, which costs more than the collections it saves. */
static const int64_t heap_cap = (int64_t)32 << 20;
static int64_t trigger = (int64_t)4 << 20;
static int64_t young_room = (int64_t)256 << 10;
/* ln_memory_made_bytes() at the last check that collected: bytes made,
** not live bytes, time the young collections (a <close>, a user's
** collectgarbage() or a finalizer elsewhere frees blocks unseen here) */
static int64_t young_mark;
static int64_t minors, fulls;
static int collecting;
/* memory.step_end: ln_memory_made_bytes() at the last step's end (-1:
** none yet) and the bytes that step made */
static int64_t step_mark = -1, step_bytes;
/* the same for the marks of a loop that marks its own steps */
static int64_t loop_mark = -1, loop_bytes;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The garbage allowed on top of `live` bytes before a full collection. */
static int64_t headroom(lua_State *L, int64_t live) {
    int64_t heap = (int64_t)lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB);
    int64_t by_heap = (int64_t)(heap_ratio * (double)heap);
    if (by_heap > heap_cap) by_heap = heap_cap;
    return max64(min_headroom, max64((int64_t)(ratio * (double)live), by_heap));
}

static void retrigger(lua_State *L) {
    int64_t live = ln_memory_live_bytes();
    trigger = live + headroom(L, live);
}

/* A young collection (when live <= trigger), then a full one if the live
** bytes are still above the trigger. The collector is running and no
** collection is under way. */
static void collect(lua_State *L, int64_t live) {
    collecting = 1;
    if (live <= trigger) {
        lua_gc(L, LUA_GCSTEP, 0); /* generational mode: a minor collection */
        minors++;
        /* Live data it freed (a big temporary that grew old before it
        ** died) lowers the trigger: only dead bytes may sit above the
        ** live ones, not a past peak's headroom. */
        int64_t after = ln_memory_live_bytes();
        int64_t lower = after + headroom(L, after);
        if (lower < trigger) trigger = lower;
    }
    if (ln_memory_live_bytes() > trigger) {
        lua_gc(L, LUA_GCCOLLECT);
        fulls++;
        retrigger(L);
    }
    collecting = 0;
}

/* The young room in force: inside a loop that marks its steps (memory.
** step_end), twice the last step's bytes (up to heap_cap), so that the
** young collections come at the steps' ends, where the step's tensors
** have just died, rather than in the middle, where they would live through
** one and grow old after the next. */
static int64_t young_room_now(int64_t made) {
    if (step_bytes <= young_room || made - step_mark > 2 * step_bytes)
        return young_room;
    return 2 * step_bytes < heap_cap ? 2 * step_bytes : heap_cap;
}

void lnL_gc_check(lua_State *L, int64_t fresh) {
    const int64_t live = ln_memory_live_bytes();
    const int64_t made = ln_memory_made_bytes() - fresh;
    const int young = young_room > 0 && made - young_mark > young_room_now(made);
    if ((live <= trigger && !young) || collecting) return;
    if (lua_gc(L, LUA_GCISRUNNING) == 1) collect(L, live);
    else if (live > trigger) retrigger(L);
    young_mark = ln_memory_made_bytes() - fresh; /* the result is young */
}

/* memory.step_end([loop]): a training loop's step is over and its tensors
** are garbage: a young collection now (their blocks go back to the cache
** for the next step, still in cache), and the young room of the next steps
** follows the step's size (young_room_now). optimizer:apply_gradients
** marks its call; a loop that marks its own steps once its locals are dead
** (fit's tape path) passes loop = true, and the optimizer's marks inside
** it are then ignored (a second young collection in the step would only
** visit the same objects again). */
static int m_step_end(lua_State *L) {
    int64_t made = ln_memory_made_bytes();
    if (lua_toboolean(L, 1)) {
        loop_bytes = loop_mark >= 0 ? made - loop_mark : 0;
        loop_mark = made;
    } else if (loop_mark >= 0 && made - loop_mark <= 2 * loop_bytes) {
        return 0; /* inside a loop that marks its own steps */
    }
    step_bytes = step_mark >= 0 ? made - step_mark : 0;
    step_mark = made;
    if (young_room > 0 && !collecting && lua_gc(L, LUA_GCISRUNNING) == 1) {
        collect(L, ln_memory_live_bytes());
        young_mark = ln_memory_made_bytes();
    }
    return 0;
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* memory.stats() -> {live_bytes, peak_bytes, cached_bytes, cache_limit,
** cache_hits, cache_misses, collect_trigger, young_bytes (made since the
** last young collection), young_collections, full_collections} */
static int m_stats(lua_State *L) {
    ln_memory_stats s;
    ln_memory_get_stats(&s);
    lua_createtable(L, 0, 10);
    set_int(L, "live_bytes", s.live_bytes);
    set_int(L, "peak_bytes", s.peak_bytes);
    set_int(L, "cached_bytes", s.cached_bytes);
    set_int(L, "cache_limit", s.cache_limit);
    set_int(L, "cache_hits", s.cache_hits);
    set_int(L, "cache_misses", s.cache_misses);
    set_int(L, "collect_trigger", trigger);
    set_int(L, "young_bytes", ln_memory_made_bytes() - young_mark);
    set_int(L, "young_collections", minors);
    set_int(L, "full_collections", fulls);
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

/* memory.set_collect_headroom(min_bytes [, ratio [, heap_ratio]]): garbage
** allowed on top of the live bytes before a collection:
** max(min_bytes, ratio * live, heap_ratio * Lua heap bytes). */
static int m_set_collect_headroom(lua_State *L) {
    int64_t b = check_bytes(L, 1, "set_collect_headroom");
    double r = luaL_optnumber(L, 2, ratio);
    double h = luaL_optnumber(L, 3, heap_ratio);
    if (!(r >= 0 && r <= 100))
        return luaL_error(L, "set_collect_headroom: ratio must be in [0, 100], "
                          "got %f", r);
    if (!(h >= 0 && h <= 1000))
        return luaL_error(L, "set_collect_headroom: heap_ratio must be in "
                          "[0, 1000], got %f", h);
    min_headroom = b;
    ratio = r;
    heap_ratio = h;
    retrigger(L);
    return 0;
}

/* memory.set_young_headroom(bytes): new storage bytes between young
** collections; 0: full collections only. */
static int m_set_young_headroom(lua_State *L) {
    young_room = check_bytes(L, 1, "set_young_headroom");
    return 0;
}

void lnL_open_memory(lua_State *L) {
    static const luaL_Reg fns[] = {{"stats", m_stats},
                                   {"set_cache_limit", m_set_cache_limit},
                                   {"empty_cache", m_empty_cache},
                                   {"set_collect_headroom", m_set_collect_headroom},
                                   {"set_young_headroom", m_set_young_headroom},
                                   {"step_end", m_step_end},
                                   {NULL, NULL}};
    /* generational mode for the young collections (lnL_gc_check): entering
    ** it runs one full collection, while lunet's heap is still small */
    lua_gc(L, LUA_GCGEN, 0, 0);
    lua_newtable(L);
    lnL_register(L, fns);
    lua_setfield(L, -2, "memory");
}
