/*
** lua_train.h -- what the net's binding (lua_train.c) shares with its
** graph methods (lua_graph.c) and the tape runner (lua_autograd_team.c):
** the net userdata, its user values, the run helpers. Private to the
** binding.
*/
#ifndef LUNET_LUA_TRAIN_H
#define LUNET_LUA_TRAIN_H

#include <lua.h>

#include "lunet/engine/net_graph.h"

/* The net's user values: what it borrows, kept alive with it. UV_LOSS and
** UV_METRICS hold, for a graph, tables by output. */
enum {
    UV_LAYERS = 1, UV_LOSS, UV_METRICS, UV_CACHE, UV_OPT, UV_PAIRS, UV_REDUCER,
    UV_COUNT = UV_REDUCER
};

ln_net *lnL_check_net(lua_State *L, int idx);
/* Push the net-owned tensor t (one userdata per tensor object). */
void lnL_push_owned(lua_State *L, int owner, ln_tensor *t);
/* The optional Index at idx covering rows [start, start + n), or NULL. */
const int64_t *lnL_opt_index(lua_State *L, int idx, int64_t start, int64_t n);
/* A run's results, or nil, the message, the failed batch. */
int lnL_push_run(lua_State *L, ln_status st, const ln_net_run *run);
/* max_batches and max_seconds at idx, idx + 1 (optional). */
void lnL_run_limits(lua_State *L, int idx, int64_t *maxb, double *maxs);
/* threading_stats()'s table: {serial_batches, team_batches, probes,
** team_chosen, serial_chosen, team_dropped, stalls_forgiven}. */
void lnL_push_threading_stats(lua_State *L, const ln_net_threading_stats *s);
/* Add the graph methods (lua_graph.c) to the methods table at the top. */
void lnL_graph_methods(lua_State *L);

#endif
