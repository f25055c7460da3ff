/*
** lua_graph.c -- the graph methods of a Net (lunet/engine/net_graph.h),
** what lunet.functional's models run on:
**   net:set_graph(layers, ninputs, nodes, outputs)
**        nodes: {{layer = i, inputs = {t, ...}}, ...} (1-based layer
**        indices, 0-based tensor numbers as in net_graph.h)
**   net:set_output_loss(k, loss | nil, weight), net:set_output_metrics(k, list)
**   net:graph_train_run(xs, ys, index|nil, start, count, batch, apply
**                       [, max_batches [, max_seconds]])
**   net:graph_test_run(xs, ys, start, count, batch [, max_b [, max_s]])
**   net:graph_predict_run(xs, start, count, batch, outs [, max_b [, max_s]])
**   net:graph_forward(xs, training) -> {y1, ...} (net-owned, reused)
**   net:graph_results() -> total loss, output losses..., metrics...
** xs, ys, outs are lists of tensors (ys may have holes: outputs without a
** loss); k is 1-based.
*/
#include <string.h>

#include "lua_nn.h"
#include "lua_train.h"

/* A list of n tensors at idx into a new userdata array (nil entries stay
** NULL when holes is set). */
static const ln_tensor **tensor_list(lua_State *L, int idx, const char *fn,
                                     const char *what, int want, int holes) {
    luaL_checktype(L, idx, LUA_TTABLE);
    const ln_tensor **t = lua_newuserdatauv(L, sizeof *t * (size_t)(want ? want : 1), 0);
    for (int i = 0; i < want; i++) {
        if (lua_geti(L, idx, i + 1) == LUA_TNIL && holes) t[i] = NULL;
        else if (lua_isnil(L, -1)) luaL_error(L, "%s: %s %d is missing", fn, what, i + 1);
        else t[i] = lnL_check_tensor(L, -1);
        lua_pop(L, 1);
    }
    return t;
}

static int net_set_graph(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int nl = lnL_len(L, 2, "set_graph", "the number of layers", 1 << 20);
    int nin = (int)lnL_check_int(L, 3, "set_graph", "ninputs", 1, LN_GRAPH_MAX_IO);
    luaL_checktype(L, 4, LUA_TTABLE);
    int nn = lnL_len(L, 4, "set_graph", "the number of nodes", 1 << 20);
    luaL_checktype(L, 5, LUA_TTABLE);
    int no = lnL_len(L, 5, "set_graph", "the number of outputs", LN_GRAPH_MAX_IO);
    ln_layer **ls = lua_newuserdatauv(L, sizeof *ls * (size_t)(nl ? nl : 1), 0);
    for (int i = 0; i < nl; i++) {
        lua_geti(L, 2, i + 1);
        ls[i] = lnL_check_layer(L, -1)->l;
        lua_pop(L, 1);
    }
    ln_net_node *nodes = lua_newuserdatauv(L, sizeof *nodes * (size_t)(nn ? nn : 1), 0);
    for (int j = 0; j < nn; j++) {
        lua_geti(L, 4, j + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_getfield(L, -1, "layer");
        nodes[j].layer = (int)lnL_check_int(L, -1, "set_graph", "layer", 1, nl) - 1;
        lua_pop(L, 1);
        lua_getfield(L, -1, "inputs");
        int top = lua_gettop(L);
        luaL_checktype(L, top, LUA_TTABLE);
        int k = lnL_len(L, top, "set_graph", "node inputs", 1 << 16);
        int *in = lua_newuserdatauv(L, sizeof *in * (size_t)(k ? k : 1), 0);
        for (int i = 0; i < k; i++) {
            lua_geti(L, top, i + 1);
            in[i] = (int)lnL_check_int(L, -1, "set_graph", "tensor", 0, 1 << 30);
            lua_pop(L, 1);
        }
        nodes[j].nin = k;
        nodes[j].in = in;
        lua_setfield(L, top - 1, "_in"); /* keeps `in` alive with the node */
        lua_pop(L, 2);
    }
    int outs[LN_GRAPH_MAX_IO];
    for (int k = 0; k < no; k++) {
        lua_geti(L, 5, k + 1);
        outs[k] = (int)lnL_check_int(L, -1, "set_graph", "output tensor", 0, 1 << 30);
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_graph(lnL_ctx(), net, nl, ls, nin, nn, nodes, no, outs));
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, UV_LAYERS);
    lua_newtable(L);
    lua_setiuservalue(L, 1, UV_LOSS);
    lua_newtable(L);
    lua_setiuservalue(L, 1, UV_METRICS);
    return 0;
}

/* Store v (at idx) in the table of user value uv under key k. */
static void keep(lua_State *L, int uv, int k, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_getiuservalue(L, 1, uv) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, uv);
    }
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, k);
    lua_pop(L, 1);
}

static int net_set_output_loss(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    int k = (int)lnL_check_int(L, 2, "set_output_loss", "output", 1, LN_GRAPH_MAX_IO);
    ln_object *o = lua_isnoneornil(L, 3) ? NULL : lnL_check_object(L, 3)->o;
    double w = luaL_optnumber(L, 4, 1.0);
    lnL_check(L, ln_net_set_output_loss(lnL_ctx(), net, k - 1, o, w));
    keep(L, UV_LOSS, k, 3);
    return 0;
}

static int net_set_output_metrics(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    int k = (int)lnL_check_int(L, 2, "set_output_metrics", "output", 1, LN_GRAPH_MAX_IO);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = lnL_len(L, 3, "set_output_metrics", "the number of metrics", 1 << 20);
    ln_object **ms = lua_newuserdatauv(L, sizeof *ms * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        ms[i] = lnL_check_object(L, -1)->o;
        lua_pop(L, 1);
    }
    lnL_check(L, ln_net_set_output_metrics(lnL_ctx(), net, k - 1, n, ms));
    keep(L, UV_METRICS, k, 3);
    return 0;
}

/* The io of a run from the lists at xi (inputs) and yi (targets, 0: none). */
static ln_net_io make_io(lua_State *L, ln_net *net, int xi, int yi, const char *fn) {
    ln_net_io io = {0};
    if (!ln_net_is_graph(net)) luaL_error(L, "%s: the net is not a graph", fn);
    io.nx = lnL_len(L, xi, fn, "the number of inputs", LN_GRAPH_MAX_IO);
    io.x = tensor_list(L, xi, fn, "input", io.nx, 0);
    if (yi) {
        io.ny = ln_net_graph_outputs(net);
        io.y = tensor_list(L, yi, fn, "target", io.ny, 1);
    }
    return io;
}

static int net_graph_train_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_net_io io = make_io(L, net, 2, 3, "graph_train_run");
    int64_t start = lnL_check_int(L, 5, "train_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 6, "train_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 7, "train_run", "batch_size", 1, INT64_MAX);
    int apply = lua_toboolean(L, 8);
    const int64_t *idx = lnL_opt_index(L, 4, start, count);
    int64_t maxb;
    double maxs;
    lnL_run_limits(L, 9, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_graph_train_run(lnL_ctx(), net, &io, idx, start, count, batch,
                                          apply, maxb, maxs, &run);
    return lnL_push_run(L, st, &run);
}

static int net_graph_test_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_net_io io = make_io(L, net, 2, 3, "graph_test_run");
    int64_t start = lnL_check_int(L, 4, "test_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 5, "test_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 6, "test_run", "batch_size", 1, INT64_MAX), maxb;
    double maxs;
    lnL_run_limits(L, 7, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_graph_test_run(lnL_ctx(), net, &io, start, count, batch, maxb,
                                         maxs, &run);
    return lnL_push_run(L, st, &run);
}

static int net_graph_predict_run(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_net_io io = make_io(L, net, 2, 0, "graph_predict_run");
    int64_t start = lnL_check_int(L, 3, "predict_run", "start", 0, INT64_MAX);
    int64_t count = lnL_check_int(L, 4, "predict_run", "count", 0, INT64_MAX);
    int64_t batch = lnL_check_int(L, 5, "predict_run", "batch_size", 1, INT64_MAX), maxb;
    io.out = (ln_tensor *const *)tensor_list(L, 6, "graph_predict_run", "output",
                                             ln_net_graph_outputs(net), 0);
    double maxs;
    lnL_run_limits(L, 7, &maxb, &maxs);
    ln_net_run run;
    ln_status st = ln_net_graph_predict_run(lnL_ctx(), net, &io, start, count, batch,
                                            maxb, maxs, &run);
    return lnL_push_run(L, st, &run);
}

static int net_graph_forward(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    ln_net_io io = make_io(L, net, 2, 0, "graph_forward");
    unsigned flags = lua_toboolean(L, 3) ? LN_TRAINING : 0;
    int no = ln_net_graph_outputs(net);
    ln_tensor *ys[LN_GRAPH_MAX_IO];
    lnL_check(L, ln_net_graph_forward(lnL_ctx(), net, io.nx, io.x, flags, ys));
    lua_createtable(L, no, 0);
    for (int k = 0; k < no; k++) {
        lnL_push_owned(L, 1, ys[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

static int net_graph_results(lua_State *L) {
    ln_net *net = lnL_check_net(L, 1);
    double v[256];
    int k = ln_net_graph_results(net, v, 256);
    if (k > 256) k = 256;
    luaL_checkstack(L, k, "graph_results");
    for (int i = 0; i < k; i++) lua_pushnumber(L, v[i]);
    return k;
}

void lnL_graph_methods(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"set_graph", net_set_graph},
        {"set_output_loss", net_set_output_loss},
        {"set_output_metrics", net_set_output_metrics},
        {"graph_train_run", net_graph_train_run},
        {"graph_test_run", net_graph_test_run},
        {"graph_predict_run", net_graph_predict_run},
        {"graph_forward", net_graph_forward},
        {"graph_results", net_graph_results},
        {NULL, NULL}};
    lnL_register(L, fns);
}
