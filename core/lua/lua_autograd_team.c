/*
** lua_autograd_team.c -- core.autograd.team_run(fn, ...): fn(...) called
** inside ONE parallel region (lunet/parallel.h's thread team), as the C
** net runs a segment of batches: this thread runs fn (Lua, the tape, the
** kernels), and every kernel it calls hands its work to the team's other
** threads, which wait between kernels (spinning, then yielding) instead of
** being forked and joined by each kernel's own OpenMP region. A training
** step written in Lua makes a dozen kernel calls; on a busy machine each
** fork/join can wait a time slice for a descheduled thread, so a run of
** steps costs one fork/join instead.
**
** With one thread (or inside a region already) fn is simply called. An
** error raised by fn is caught inside the region and raised again after
** it ends (no longjmp across OpenMP). Returns fn's results.
*/
#include "lua_autograd.h"
#include "lunet/parallel.h"

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

void ag_open_team(lua_State *L, int mod) {
    lua_pushcfunction(L, l_team_run);
    lua_setfield(L, mod, "team_run");
}
