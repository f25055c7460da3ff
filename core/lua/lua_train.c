/*
** lua_train.c -- the network object (ln_net, lunet/engine/net.h) and index
** permutations from Lua: the hot path of Sequential:fit/evaluate/predict.
**
** In the table core.nn (see lua_nn.c):
**   nn.net_new()      -> Net (lunet.Net)
**   nn.index_new(n)   -> Index (lunet.Index): 0..n-1, shuffled in place
**   nn.tensor_zeros(shape) -> a new float32 tensor
**   nn.tensor_clone(t), nn.tensor_assign(dst, src, what), nn.tensor_info(t)
**
** A Net keeps the Lua objects it borrows from (layers, loss, metrics, the
** optimizer and its pairs) in its user values so they outlive it. Batch
** positions here are 0-based (internal API; the Lua model layer sits on
** top).
**
** Net methods: set_layers, set_loss, set_metrics, set_trainable, fused,
** forward, backward, train_batch, train_step (train_batch + the update of
** the optimizer given to set_optimizer, in one C call), test_batch,
** predict_batch, train_run / test_run / predict_run (runs of batches in one
** call, lunet/engine/net.h), reset_metrics, results, regularization_loss,
** set_optimizer(optimizer_userdata | nil, pairs), set_threading("auto" |
** "serial" | "team"), threading() -> the mode the next batch uses,
** threading_stats() -> what the threading did since set_threading,
** set_accumulate(k), set_sample_weight(output, w | nil),
** set_weighted_metrics(output, flags), pending(),
** flush(apply), set_reducer(reducer | nil)
** (a lunet.GradReducer userdata holding an ln_grad_reducer *, made by an
** optional module such as lunet.mpi), totals() (net.h).
** Index methods: shuffle, arange, size, totable, take (rows of a tensor at
** a run of entries), shard (one process's share of every batch).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua_parts.h"
#include "lua_nn.h"
#include "lua_optim.h"
#include "lua_train.h"
#include "lunet/kernels.h"
#include "lunet/overflow.h"

#define LN_NET_MT "lunet.Net"
#define LN_INDEX_MT "lunet.Index"

#define LN_REDUCER_MT "lunet.GradReducer"

typedef struct lnL_net {
    ln_net *net;
} lnL_net;

typedef struct lnL_index {
    int64_t n;
    int64_t *v;
} lnL_index;

ln_net *lnL_check_net(lua_State *L, int idx) {
    lnL_net *u = luaL_checkudata(L, idx, LN_NET_MT);
    if (!u->net) luaL_argerror(L, idx, "net is freed");
    return u->net;
}

static lnL_index *check_index(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, LN_INDEX_MT);
}

/* Push the net-owned tensor t as a userdata created once per tensor
** object (cached by address in the net's user value UV_CACHE). */
void lnL_push_owned(lua_State *L, int owner, ln_tensor *t) {
    owner = lua_absindex(L, owner);
    lua_getiuservalue(L, owner, UV_CACHE);
    if (lua_rawgetp(L, -1, t) == LUA_TUSERDATA) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    lnL_push_tensor_ref(L, t);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, t);
    lua_remove(L, -2);
}

static int l_net_new(lua_State *L) {
    lnL_net *u = lua_newuserdatauv(L, sizeof *u, UV_COUNT);
    u->net = NULL;
    luaL_setmetatable(L, LN_NET_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, UV_CACHE);
    u->net = ln_net_new(lnL_ctx());
    if (!u->net) return lnL_raise(L);
    return 1;
}

static int net_gc(lua_State *L) {
    lnL_net *u = luaL_checkudata(L, 1, LN_NET_MT);
    ln_net_free(u->net);
    u->net = NULL;
    return 0;
}

/* net:set_layers({layer, ...}) */
static int net_set_layers(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = lnL_len(L, 2, "set_layers", "the number of layers", 1 << 20);
    ln_layer **ls = lua_newuserdatauv(L, sizeof *ls * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        ls[i] = lnL_check_layer(L, -1)->l;
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_layers(lnL_ctx(), net, n, ls));
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, UV_LAYERS);
    return 0;
}

/* net:set_loss(loss_object | nil) */
static int net_set_loss(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_object *o = lua_isnoneornil(L, 2) ? NULL : lnL_check_object(L, 2)->o;
    lnL_check(L, ln_net_set_loss(lnL_ctx(), net, o));
    lua_settop(L, 2);
    lua_setiuservalue(L, 1, UV_LOSS);
    return 0;
}

/* net:set_metrics({object, ...}) -- metric or loss objects */
static int net_set_metrics(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = lnL_len(L, 2, "set_metrics", "the number of metrics", 1 << 20);
    ln_object **ms = lua_newuserdatauv(L, sizeof *ms * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        ms[i] = lnL_check_object(L, -1)->o;
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_metrics(lnL_ctx(), net, n, ms));
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, UV_METRICS);
    return 0;
}

/* net:set_trainable({bool, ...} | nil): the compile-time snapshot. */
static int net_set_trainable(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lnL_check(L, ln_net_set_trainable(lnL_ctx(), net, NULL));
        return 0;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = ln_net_layer_count(net);
    int given = lnL_len(L, 2, "set_trainable", "the number of flags", 1 << 20);
    if (given != n)
        return luaL_error(L, "set_trainable: %d flags for %d layers", given, n);
    int *f = lua_newuserdatauv(L, sizeof *f * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        f[i] = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_trainable(lnL_ctx(), net, f));
    return 0;
}

static int net_fused(lua_State *L) {
    lua_pushboolean(L, ln_net_fused(lnL_check_net(L, 1)));
    return 1;
}

/* net:forward(x [, training [, logits]]) -> y (net-owned, reused) */
static int net_forward(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    unsigned flags = (lua_toboolean(L, 3) ? LN_TRAINING : 0) |
                     (lua_toboolean(L, 4) ? LN_LOGITS : 0);
    ln_tensor *y;
    lnL_check(L, ln_net_forward(lnL_ctx(), net, x, flags, &y));
    lnL_push_owned(L, 1, y);
    return 1;
}

/* net:backward(dy [, need_dx]) -> dx (net-owned) when need_dx */
static int net_backward(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *dy = lnL_check_tensor(L, 2);
    int need_dx = lua_toboolean(L, 3);
    ln_tensor *dx;
    lnL_check(L, ln_net_backward(lnL_ctx(), net, dy, need_dx, &dx));
    if (!dx) return 0;
    lnL_push_owned(L, 1, dx);
    return 1;
}

/* The optional index at idx (nil or an Index). */
const int64_t *lnL_opt_index(lua_State *L, int idx, int64_t start,
                                int64_t n) {
    if (lua_isnoneornil(L, idx)) return NULL;
    lnL_index *ix = check_index(L, idx);
    if (!ln_range_ok(start, n, ix->n))
        luaL_error(L, "batch of %I rows from %I outside an index of %I",
                   (lua_Integer)n, (lua_Integer)start, (lua_Integer)ix->n);
    return ix->v;
}

typedef ln_status (*batch_fn)(ln_ctx *, ln_net *, const ln_tensor *,
                              const ln_tensor *, const int64_t *, int64_t,
                              int64_t, double *);

static int run_batch(lua_State *L, batch_fn fn) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    ln_tensor *y = lnL_check_tensor(L, 3);
    int64_t start = lnL_check_int(L, 5, "batch", "start", 0, INT64_MAX);
    int64_t n = lnL_check_int(L, 6, "batch", "the number of rows", 0, INT64_MAX);
    const int64_t *idx = lnL_opt_index(L, 4, start, n);
    double loss;
    lnL_check(L, fn(lnL_ctx(), net, x, y, idx, start, n, &loss));
    lua_pushnumber(L, loss);
    return 1;
}

/* net:train_batch(x, y, index|nil, start, n) -> batch loss */
static int net_train_batch(lua_State *L) { return run_batch(L, ln_net_train_batch); }
/* net:train_step(x, y, index|nil, start, n) -> batch loss (and the update) */
static int net_train_step(lua_State *L) { return run_batch(L, ln_net_train_step); }
/* net:test_batch(x, y, index|nil, start, n) -> batch loss */
static int net_test_batch(lua_State *L) { return run_batch(L, ln_net_test_batch); }

/* net:predict_batch(x, start, n, out): rows start.. of out */
static int net_predict_batch(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    int64_t start = lnL_check_int(L, 3, "predict_batch", "start", 0, INT64_MAX);
    int64_t n = lnL_check_int(L, 4, "predict_batch", "the number of rows", 0, INT64_MAX);
    ln_tensor *out = lnL_check_tensor(L, 5);
    lnL_check(L, ln_net_predict_batch(lnL_ctx(), net, x, start, n, out));
    return 0;
}

/* net:set_optimizer(optimizer_userdata, {{grad, var, name = ...}, ...}) or
** net:set_optimizer(nil): what train_step applies. */
static int net_set_optimizer(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lnL_check(L, ln_net_set_optimizer(lnL_ctx(), net, NULL, 0, NULL, NULL, NULL));
        lua_pushnil(L);
        lua_setiuservalue(L, 1, UV_OPT);
        lua_pushnil(L);
        lua_setiuservalue(L, 1, UV_PAIRS);
        return 0;
    }
    ln_optimizer *o = lnL_check_optimizer(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = lnL_len(L, 3, "set_optimizer", "the number of pairs", 1000000);
    size_t cnt = (size_t)(n ? n : 1);
    ln_tensor **vars = lua_newuserdatauv(L, cnt * (2 * sizeof(ln_tensor *) +
                                                   sizeof(char *)), 0);
    ln_tensor **grads = vars + cnt;
    const char **names = (const char **)(grads + cnt);
    for (int i = 0; i < (int)n; i++) {
        if (lua_rawgeti(L, 3, i + 1) != LUA_TTABLE)
            return luaL_error(L, "set_optimizer: entry %d must be a pair {gradient, "
                              "variable, name = ...}", i + 1);
        lua_rawgeti(L, -1, 1);
        grads[i] = lnL_test_tensor(L, -1);
        lua_rawgeti(L, -2, 2);
        vars[i] = lnL_test_tensor(L, -1);
        if (!grads[i] || !vars[i])
            return luaL_error(L, "set_optimizer: pair %d must hold a gradient "
                              "tensor then a variable tensor", i + 1);
        lua_getfield(L, -3, "name");
        /* strings of the pairs table, kept alive in UV_PAIRS */
        names[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 4);
    }
    lnL_check(L, ln_net_set_optimizer(lnL_ctx(), net, o, (int)n, vars, grads, names));
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, UV_OPT);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, 1, UV_PAIRS);
    return 0;
}

static const char *const threading_names[] = {"auto", "serial", "team", NULL};

/* net:set_threading("auto" | "serial" | "team") */
static int net_set_threading(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    int m = luaL_checkoption(L, 2, NULL, threading_names);
    ln_net_set_threading(net, (ln_net_threading)m);
    return 0;
}

/* net:threading() -> "serial" or "team": how the next batch runs */
static int net_threading(lua_State *L) {
    lua_pushstring(L, threading_names[ln_net_threading_now(lnL_check_net(L, 1))]);
    return 1;
}

/* net:threading_stats() -> {serial_batches, team_batches, probes,
** team_chosen, serial_chosen, team_dropped, stalls_forgiven} since
** set_threading */
void lnL_push_threading_stats(lua_State *L, const ln_net_threading_stats *s) {
    const struct { const char *name; int64_t v; } f[] = {
        {"serial_batches", s->serial_batches}, {"team_batches", s->team_batches},
        {"probes", s->probes}, {"team_chosen", s->team_chosen},
        {"serial_chosen", s->serial_chosen}, {"team_dropped", s->team_dropped},
        {"stalls_forgiven", s->stalls_forgiven}};
    lua_createtable(L, 0, (int)(sizeof f / sizeof f[0]));
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        lua_pushinteger(L, (lua_Integer)f[i].v);
        lua_setfield(L, -2, f[i].name);
    }
}

static int net_threading_stats(lua_State *L) {
    ln_net_threading_stats s = ln_net_threading_stats_now(lnL_check_net(L, 1));
    lnL_push_threading_stats(L, &s);
    return 1;
}

/* Push a run's results (true on success) or nil, the message, the 0-based
** batch of the run that failed. */
int lnL_push_run(lua_State *L, ln_status st, const ln_net_run *run) {
    if (st) {
        ln_ctx *ctx = lnL_ctx();
        lua_pushnil(L);
        lua_pushstring(L, ctx->msg[0] ? ctx->msg : "lunet: unknown error");
        ln_ctx_clear(ctx);
        lua_pushinteger(L, (lua_Integer)run->batches);
        return 3;
    }
    lua_pushinteger(L, (lua_Integer)run->batches);
    if (run->nonfinite >= 0) lua_pushinteger(L, (lua_Integer)run->nonfinite);
    else lua_pushnil(L);
    lua_pushnumber(L, run->nonfinite_loss);
    lua_pushnumber(L, run->loss);
    return 4;
}

/* Optional limits of a run at idx, idx + 1: max_batches (nil: none) and
** max_seconds (nil or 0: none). */
void lnL_run_limits(lua_State *L, int idx, int64_t *maxb, double *maxs) {
    *maxb = lnL_opt_int(L, idx, "run", "max_batches", 0, INT64_MAX, -1);
    *maxs = luaL_optnumber(L, idx + 1, 0);
}

/* net:train_run(x, y, index|nil, start, count, batch, apply [, max_batches
** [, max_seconds]]) -> batches done, first non-finite batch (0-based) or
** nil, its loss, the last loss; or nil, message, failed batch (0-based). */
static int net_train_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2), *y = lnL_check_tensor(L, 3);
    int64_t start = lnL_check_int(L, 5, "train_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 6, "train_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 7, "train_run", "batch_size", 1, INT64_MAX);
    int apply = lua_toboolean(L, 8);
    const int64_t *idx = lnL_opt_index(L, 4, start, count);
    int64_t maxb;
    double maxs;
    lnL_run_limits(L, 9, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_train_run(lnL_ctx(), net, x, y, idx, start, count, batch,
                                    apply, maxb, maxs, &run);
    return lnL_push_run(L, st, &run);
}

/* net:test_run(x, y, start, count, batch [, max_batches [, max_seconds]]) */
static int net_test_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2), *y = lnL_check_tensor(L, 3);
    int64_t start = lnL_check_int(L, 4, "test_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 5, "test_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 6, "test_run", "batch_size", 1, INT64_MAX), maxb;
    double maxs;
    lnL_run_limits(L, 7, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_test_run(lnL_ctx(), net, x, y, start, count, batch, maxb,
                                   maxs, &run);
    return lnL_push_run(L, st, &run);
}

/* net:predict_run(x, start, count, batch, out [, max_batches [, max_seconds]]) */
static int net_predict_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    int64_t start = lnL_check_int(L, 3, "predict_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 4, "predict_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 5, "predict_run", "batch_size", 1, INT64_MAX), maxb;
    ln_tensor *out = lnL_check_tensor(L, 6);
    double maxs;
    lnL_run_limits(L, 7, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_predict_run(lnL_ctx(), net, x, start, count, batch, out,
                                      maxb, maxs, &run);
    return lnL_push_run(L, st, &run);
}

/* net:set_accumulate(k): batches per update (1: off). */
static int net_set_accumulate(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    if (k < 1 || k > 1000000000)
        return luaL_error(L, "accumulate_steps must be in [1, 1e9], got %I", k);
    lnL_check(L, ln_net_set_accumulate(lnL_ctx(), net, (int)k));
    return 0;
}

/* net:set_sample_weight(output, w | nil): per-sample loss weights of an
** output (1-based), one per row of the x later given. */
static int net_set_sample_weight(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    ln_tensor *w = lua_isnoneornil(L, 3) ? NULL : lnL_check_tensor(L, 3);
    if (k < 1 || k > 1000000)
        return luaL_error(L, "sample_weight: output %I out of range", k);
    lnL_check(L, ln_net_set_sample_weight(lnL_ctx(), net, (int)k - 1, w));
    return 0;
}

/* net:set_weighted_metrics(output, {flag, ...}): which of the output's
** metrics (1-based output, flags in the order the metrics were set) weigh
** their rows by the sample weights (compile's weighted_metrics). */
static int net_set_weighted_metrics(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (k < 1 || k > 1000000)
        return luaL_error(L, "weighted_metrics: output %I out of range", k);
    int n = lnL_len(L, 3, "set_weighted_metrics", "the number of flags", 1 << 20);
    unsigned char *f = lua_newuserdatauv(L, (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        f[i] = (unsigned char)lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_weighted_metrics(lnL_ctx(), net, (int)k - 1, n, f));
    return 0;
}

/* net:pending() -> training batches accumulated and not yet applied */
static int net_pending(lua_State *L) {
    lua_pushinteger(L, ln_net_pending(lnL_check_net(L, 1)));
    return 1;
}

/* net:flush(apply): the partial accumulation averaged, reduced (and applied) */
static int net_flush(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    lnL_check(L, ln_net_flush(lnL_ctx(), net, lua_toboolean(L, 2)));
    return 0;
}

/* net:set_reducer(reducer | nil) */
static int net_set_reducer(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_grad_reducer *r = NULL;
    if (!lua_isnoneornil(L, 2)) {
        ln_grad_reducer **box = luaL_checkudata(L, 2, LN_REDUCER_MT);
        if (!*box) return luaL_argerror(L, 2, "reducer is closed");
        r = *box;
    }
    ln_net_set_reducer(net, r);
    lua_settop(L, 2);
    lua_setiuservalue(L, 1, UV_REDUCER);
    return 0;
}

/* net:totals() -> loss total, loss count, metric 1 total, count, ... */
static int net_totals(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    double v[128];
    int k = ln_net_totals(net, v, 64);
    if (k > 64) k = 64;
    luaL_checkstack(L, 2 * k, "totals");
    for (int i = 0; i < 2 * k; i++) lua_pushnumber(L, v[i]);
    return 2 * k;
}

/* nn.tensor_zeros(shape) -> a new float32 tensor (outputs of predict). */
static int l_tensor_zeros(lua_State *L) {
    int64_t shape[LN_MAX_DIM];
    luaL_checktype(L, 1, LUA_TTABLE);
    int nd = lnL_check_shape(L, 1, shape, "predict");
    lnL_push_tensor(L, ln_tensor_new(lnL_ctx(), LN_FLOAT32, nd, shape));
    return 1;
}

/* nn.tensor_clone(t) -> a new tensor with its own storage (get_weights). */
static int l_tensor_clone(lua_State *L) {
    lnL_push_tensor(L, ln_tensor_clone(lnL_ctx(), lnL_check_tensor(L, 1)));
    return 1;
}

/* nn.tensor_assign(dst, src, what): copy src into dst in place; the shapes
** must be equal (the message names `what` and both shapes). */
static int l_tensor_assign(lua_State *L) {
    ln_tensor *dst = lnL_check_tensor(L, 1), *src = lnL_check_tensor(L, 2);
    const char *what = luaL_optstring(L, 3, "assign");
    char a[128], b[128];
    if (!ln_shape_equal(dst, src) || dst->dtype != src->dtype)
        return luaL_error(L, "%s: expected a %s tensor of shape %s, got %s %s",
                          what, ln_dtype_name(dst->dtype),
                          ln_shape_str(dst, a, sizeof a),
                          ln_dtype_name(src->dtype), ln_shape_str(src, b, sizeof b));
    lnL_check(L, ln_tensor_copy(lnL_ctx(), dst, src));
    return 0;
}

/* nn.tensor_info(t) -> dtype name, number of dimensions */
static int l_tensor_info(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    lua_pushstring(L, ln_dtype_name(t->dtype));
    lua_pushinteger(L, t->ndim);
    return 2;
}

static int net_reset_metrics(lua_State *L) {
    ln_net_reset_metrics(lnL_check_net(L, 1));
    return 0;
}

/* net:results() -> mean loss, metric values... */
static int net_results(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    double v[64];
    int k = ln_net_results(net, v, 64);
    if (k > 64) k = 64;
    luaL_checkstack(L, k, "results");
    for (int i = 0; i < k; i++) lua_pushnumber(L, v[i]);
    return k;
}

static int net_regularization_loss(lua_State *L) {
    lua_pushnumber(L, ln_net_regularization_loss(lnL_check_net(L, 1)));
    return 1;
}

/* ---- index -------------------------------------------------------------------- */

static int l_index_new(lua_State *L) {
    int64_t n = lnL_check_int(L, 1, "index", "size", 0, (int64_t)1 << 40);
    lnL_index *ix = lua_newuserdatauv(L, sizeof *ix, 0);
    ix->n = 0;
    ix->v = NULL;
    luaL_setmetatable(L, LN_INDEX_MT);
    ix->v = malloc(sizeof *ix->v * (size_t)(n ? n : 1));
    if (!ix->v) return luaL_error(L, "index: out of memory");
    ix->n = n;
    for (int64_t i = 0; i < n; i++) ix->v[i] = i;
    return 1;
}

static int index_gc(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    free(ix->v);
    ix->v = NULL;
    ix->n = 0;
    return 0;
}

/* index:shuffle(): a fresh uniform permutation of 0..n-1 drawn from the
** global generator (ln.random.seed makes it reproducible). */
static int index_shuffle(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    ln_rng_permutation(ln_rng_global(), ix->v, ix->n);
    return 0;
}

static int index_arange(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    for (int64_t i = 0; i < ix->n; i++) ix->v[i] = i;
    return 0;
}

static int index_size(lua_State *L) {
    lua_pushinteger(L, check_index(L, 1)->n);
    return 1;
}

/* Rows [lo, hi) of a batch of b rows that part p of np takes. */
static int64_t share(int64_t b, int64_t np, int64_t p) { return b * p / np; }

/* index:shard(src | nil, count, batch, nparts, part): self <- part's share
** of every batch of positions [0, count) of src (of 0, 1, ... when nil),
** batches of `batch` positions, the last one the rest: part p takes
** positions [b*p/np, b*(p+1)/np) of a batch of b, so the shares of a batch
** differ by at most one. self's size must be the total share (checked). */
static int index_shard(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    lnL_index *src = lua_isnoneornil(L, 2) ? NULL : check_index(L, 2);
    int64_t count = luaL_checkinteger(L, 3), batch = luaL_checkinteger(L, 4);
    int64_t np = luaL_checkinteger(L, 5), p = luaL_checkinteger(L, 6);
    if (count < 0 || batch < 1 || np < 1 || np > batch || p < 0 || p >= np ||
        (src && count > src->n) || np > (INT64_MAX / batch))
        return luaL_error(L, "index:shard: bad arguments (count %I, batch %I, part %I of %I)",
                          (lua_Integer)count, (lua_Integer)batch, (lua_Integer)p,
                          (lua_Integer)np);
    int64_t want = 0;
    for (int64_t s = 0; s < count; s += batch) {
        int64_t b = count - s < batch ? count - s : batch;
        want += share(b, np, p + 1) - share(b, np, p);
    }
    if (want != ix->n)
        return luaL_error(L, "index:shard: the index holds %I entries, the share is %I",
                          (lua_Integer)ix->n, (lua_Integer)want);
    int64_t k = 0;
    for (int64_t s = 0; s < count; s += batch) {
        int64_t b = count - s < batch ? count - s : batch;
        for (int64_t r = share(b, np, p); r < share(b, np, p + 1); r++)
            ix->v[k++] = src ? src->v[s + r] : s + r;
    }
    return 0;
}

/* index:totable() -> the 0-based entries as a Lua list. */
static int index_totable(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    lua_createtable(L, (int)ix->n, 0);
    for (int64_t i = 0; i < ix->n; i++) {
        lua_pushinteger(L, ix->v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* The entries [start, start + n) of ix, checked against ix and against the
** rows of t (raises naming `fn`). */
static const int64_t *index_run(lua_State *L, const lnL_index *ix, const ln_tensor *t,
                                lua_Integer start, lua_Integer n, const char *fn) {
    if (start < 0 || n < 0 || start > ix->n || n > ix->n - start)
        luaL_error(L, "index:%s: entries [%I, %I) are outside the index of %I", fn,
                   (lua_Integer)start, (lua_Integer)(start + n), (lua_Integer)ix->n);
    if (t->ndim < 1) luaL_error(L, "index:%s: a 0-d tensor has no rows", fn);
    const int64_t *pos = ix->v + start;
    for (lua_Integer i = 0; i < n; i++)
        if (pos[i] < 0 || pos[i] >= t->shape[0])
            luaL_error(L, "index:%s: entry %I is row %I of a tensor of %I rows", fn,
                       (lua_Integer)(start + i), (lua_Integer)pos[i],
                       (lua_Integer)t->shape[0]);
    return pos;
}

/* index:take(t, start, n) -> the rows of t (along its first dim) at
** entries [start, start + n) of the index (0-based start), as a new tensor:
** a batch of a shuffled epoch gathered in one call (fit's tape path), by
** blocks of rows on the thread team when one runs. */
static int index_take(lua_State *L) {
    lnL_index *ix = check_index(L, 1);
    ln_tensor *t = lnL_check_tensor(L, 2);
    lua_Integer start = luaL_checkinteger(L, 3), n = luaL_checkinteger(L, 4);
    const int64_t *pos = index_run(L, ix, t, start, n, "take");
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    ln_tensor *y = ln_tensor_empty(lnL_ctx(), t->dtype, t->ndim, shape);
    if (y && y->numel) /* the rows' elements: numel / rows */
        ln_gather_rows(ln_data(y), ln_data(t), pos, n, t->numel / t->shape[0],
                       ln_dtype_size(t->dtype));
    lnL_push_tensor(L, y);
    return 1;
}

/* Adds the net and index functions to the table at the top (core.nn). */
void lnL_open_train(lua_State *L) {
    static const luaL_Reg net_methods[] = {
        {"set_layers", net_set_layers},
        {"set_loss", net_set_loss},
        {"set_metrics", net_set_metrics},
        {"set_trainable", net_set_trainable},
        {"fused", net_fused},
        {"forward", net_forward},
        {"backward", net_backward},
        {"train_batch", net_train_batch},
        {"train_step", net_train_step},
        {"train_run", net_train_run},
        {"test_run", net_test_run},
        {"predict_run", net_predict_run},
        {"set_optimizer", net_set_optimizer},
        {"set_threading", net_set_threading},
        {"threading_stats", net_threading_stats},
        {"threading", net_threading},
        {"test_batch", net_test_batch},
        {"predict_batch", net_predict_batch},
        {"reset_metrics", net_reset_metrics},
        {"results", net_results},
        {"regularization_loss", net_regularization_loss},
        {"set_accumulate", net_set_accumulate},
        {"set_sample_weight", net_set_sample_weight},
        {"set_weighted_metrics", net_set_weighted_metrics},
        {"pending", net_pending},
        {"flush", net_flush},
        {"set_reducer", net_set_reducer},
        {"totals", net_totals},
        {NULL, NULL}};
    luaL_newmetatable(L, LN_NET_MT);
    lua_pushcfunction(L, net_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lnL_register(L, net_methods);
    lnL_graph_methods(L);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg index_methods[] = {
        {"shuffle", index_shuffle},
        {"arange", index_arange},
        {"size", index_size},
        {"totable", index_totable},
        {"shard", index_shard},
        {"take", index_take},
        {NULL, NULL}};
    luaL_newmetatable(L, LN_INDEX_MT);
    lua_pushcfunction(L, index_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lnL_register(L, index_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg fns[] = {{"net_new", l_net_new},
                                   {"index_new", l_index_new},
                                   {"tensor_zeros", l_tensor_zeros},
                                   {"tensor_clone", l_tensor_clone},
                                   {"tensor_assign", l_tensor_assign},
                                   {"tensor_info", l_tensor_info},
                                   {NULL, NULL}};
    lnL_register(L, fns);
}
