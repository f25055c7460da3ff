/*
** lua_autograd_team.c -- running Lua code on lunet's thread team
** (lunet/parallel.h). Owner: core (issues 16 and 21).
**
** core.autograd.team_run(fn, ...): fn(...) called inside ONE parallel
** region: this thread runs fn (Lua, the tape, the kernels), and every
** kernel it calls hands its work to the team's other threads, which wait
** between kernels (spinning, then yielding) instead of being forked and
** joined by each kernel's own OpenMP region. With one thread (or inside a
** region already) fn is simply called. An error raised by fn is caught
** inside the region and raised again after it ends (no longjmp across
** OpenMP). Returns fn's results.
**
** core.autograd.team_batches(tuner, kind, count, bs, max_batches, seconds,
** fn): the batch loop of fit/evaluate/predict for models with Lua units
** (lunet.engine_tape): fn(s, n) for the batches of bs rows in [0, count),
** at most max_batches of them (nil: all), stopping after the batch that
** ends `seconds` after the start (nil: never) -> the batches done, or nil,
** the error and the batches done before the failed one. The batches run
** in segments, serial (as one thread when the tuner chose it; forced
** "serial" lets kernels fork their own threads above their size
** threshold) or inside one team region, chosen by the C net's measuring
** tuner (core/engine/net_run.c, LN_NET_AUTO): probes alternate the two,
** the faster per batch runs for long segments, and the probe repeats. A
** batch-32 step written in Lua is mostly serial work (Lua, the binding,
** the tape), where a team's second thread spins and its hand-offs cost more
** than the kernels it shares; at batch 256 the team wins 1.4x. The numbers
** never depend on the choice. core.autograd.tuner() makes the tuner's
** state (one per tape runner), tuner_set(t, "auto" | "serial" | "team")
** forces a mode, tuner_mode(t) -> "serial" | "team", how the next batch of
** a run would go, tuner_stats(t) -> what the runs did since tuner_set (the
** C net's threading_stats table).
*/
#include <string.h>

#include "lua_autograd.h"
#include "lua_train.h"
#include "lunet/parallel.h"
#include "../engine/net_impl.h"

#define TUNER_MT "lunet.TapeTuner"

typedef struct team_call {
    lua_State *L;
    int nargs, status;
} team_call;

static ln_status team_body(void *arg) {
    team_call *c = arg;
    c->status = lua_pcall(c->L, c->nargs, LUA_MULTRET, 0);
    return LN_OK;
}

static int l_team_run(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int base = 0; /* results start above the function's slot */
    team_call c = {L, lua_gettop(L) - 1, LUA_OK};
    if (!ln_parallel_team_possible()) {
        lua_call(L, c.nargs, LUA_MULTRET);
        return lua_gettop(L) - base;
    }
    ln_parallel_region(team_body, &c);
    if (c.status != LUA_OK) return lua_error(L);
    return lua_gettop(L) - base;
}

/* ---- team_batches ------------------------------------------------------------ */

static const char *const kinds[] = {"train", "test", "predict", NULL};
static const char *const modes[] = {"auto", "serial", "team", NULL};

typedef struct batch_loop {
    lua_State *L;
    ln_tuner *tu;
    int kind, fn;            /* fn: stack index of the batch function */
    int64_t count, bs, nb;   /* rows, batch size, batches */
    int64_t k, max;          /* batches done; stop after max (-1: none) */
    double deadline;         /* stop after a batch ending past it (0: none) */
    int failed, stopped, team;
} batch_loop;

/* Batches up to k1 with whatever team is installed; `planned`: they belong
** to a segment the tuner planned (timed and accounted). Lua errors are
** caught here (inside a region no longjmp may leave it). */
static void run_some(batch_loop *b, int64_t k1, int planned) {
    lua_State *L = b->L;
    while (b->k < k1) {
        int64_t s = b->k * b->bs;
        int64_t n = b->count - s < b->bs ? b->count - s : b->bs;
        lua_pushvalue(L, b->fn);
        lua_pushinteger(L, (lua_Integer)s);
        lua_pushinteger(L, (lua_Integer)n);
        double t0 = ln_time();
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            b->failed = 1; /* the message stays on the stack */
            return;
        }
        double t1 = ln_time();
        b->k++;
        if (b->team) b->tu->stats.team_batches++;
        else b->tu->stats.serial_batches++;
        int over = planned && ln__tuner_account(b->tu, b->kind, b->team, n, t1 - t0);
        if ((b->max >= 0 && b->k >= b->max) || (b->deadline > 0 && t1 >= b->deadline)) {
            b->stopped = 1;
            return;
        }
        if (over) return; /* the next segment is planned afresh */
    }
}

typedef struct segment {
    batch_loop *b;
    int64_t k1;
} segment;

static ln_status segment_body(void *arg) {
    segment *s = arg;
    run_some(s->b, s->k1, 1);
    return LN_OK;
}

static ln_tuner *check_tuner(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, TUNER_MT);
}

static int64_t check_count(lua_State *L, int idx, const char *what, int64_t min) {
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < min)
        return luaL_error(L, "team_batches: %s must be >= %d (got %I)", what,
                          (int)min, v);
    return (int64_t)v;
}

static int l_team_batches(lua_State *L) {
    batch_loop b = {L, check_tuner(L, 1), luaL_checkoption(L, 2, NULL, kinds), 7,
                    check_count(L, 3, "count", 0), check_count(L, 4, "bs", 1),
                    0, 0, -1, 0, 0, 0, 0};
    if (!lua_isnoneornil(L, 5)) b.max = check_count(L, 5, "max_batches", 0);
    if (!lua_isnoneornil(L, 6)) b.deadline = ln_time() + luaL_checknumber(L, 6);
    luaL_checktype(L, 7, LUA_TFUNCTION);
    lua_settop(L, 7);
    luaL_checkstack(L, 8, "team_batches");
    b.nb = b.count / b.bs + (b.count % b.bs != 0);
    ln_tuner *tu = b.tu;
    while (b.k < b.nb && !b.stopped && !b.failed) {
        if (tu->mode == LN_NET_SERIAL || !ln_parallel_team_possible()) {
            b.team = 0;
            run_some(&b, b.nb, 0);
            continue;
        }
        int64_t len;
        ln__tuner_plan(tu, b.kind, b.bs, b.nb - b.k, &b.team, &len);
        if (b.team) {
            segment s = {&b, b.k + len};
            ln_parallel_region(segment_body, &s);
        } else {
            /* as one thread, like the C net's serial segments (net_run.c
            ** serial_alone): no kernel forks a region of its own there */
            int nt = ln_get_num_threads();
            ln_set_num_threads(1);
            run_some(&b, b.k + len, 1);
            ln_set_num_threads(nt);
        }
    }
    if (b.failed) {
        lua_pushnil(L);
        lua_insert(L, -2);
        lua_pushinteger(L, (lua_Integer)b.k);
        return 3;
    }
    lua_pushinteger(L, (lua_Integer)b.k);
    return 1;
}

static int l_tuner(lua_State *L) {
    ln_tuner *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    t->mode = LN_NET_AUTO;
    t->steady_ydtype = -1;
    luaL_setmetatable(L, TUNER_MT);
    return 1;
}

static int l_tuner_set(lua_State *L) {
    ln_tuner *t = check_tuner(L, 1);
    int m = luaL_checkoption(L, 2, NULL, modes);
    memset(t->am, 0, sizeof t->am); /* a new choice starts from scratch */
    memset(&t->stats, 0, sizeof t->stats);
    t->mode = (ln_net_threading)m;
    return 0;
}

/* What the runs did since tuner_set (as the C net's threading_stats()). */
static int l_tuner_stats(lua_State *L) {
    lnL_push_threading_stats(L, &check_tuner(L, 1)->stats);
    return 1;
}

/* How the next batch of a run would go (as the C net's threading()). */
static int l_tuner_mode(lua_State *L) {
    const ln_tuner *t = check_tuner(L, 1);
    int team = ln_parallel_team_possible() &&
               (t->mode == LN_NET_TEAM ||
                (t->mode == LN_NET_AUTO && t->am[LN__K_TRAIN].ref_rows > 0 &&
                 (t->am[LN__K_TRAIN].probing ? t->am[LN__K_TRAIN].seg % 2 == 1
                                             : t->am[LN__K_TRAIN].best == LN_NET_TEAM)));
    lua_pushstring(L, team ? "team" : "serial");
    return 1;
}

void ag_open_team(lua_State *L, int mod) {
    luaL_newmetatable(L, TUNER_MT);
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"team_run", l_team_run},
                                   {"team_batches", l_team_batches},
                                   {"tuner", l_tuner},
                                   {"tuner_set", l_tuner_set},
                                   {"tuner_mode", l_tuner_mode},
                                   {"tuner_stats", l_tuner_stats},
                                   {NULL, NULL}};
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, mod, f->name);
    }
}
