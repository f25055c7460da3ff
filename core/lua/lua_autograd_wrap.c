/*
** lua_autograd_wrap.c -- every differentiable binding function replaced by
** a wrapper (lua_autograd.h): the original runs directly while no tape
** records; otherwise the wrapper runs it in a frame of its own and hands
** arguments and results to its recorder. In-place functions are refused on
** tracked tensors while recording and bump the written storage's version;
** a layer's own forward, a net's and an optimizer's writes are told to the
** tape (tape.h).
*/
#include <string.h>

#include "lua_autograd.h"
#include "lua_nn.h"

/* Any tensor among arguments 1..n (or in a list argument) tracked? */
static int any_tracked(lua_State *L, int n) {
    for (int i = 1; i <= n; i++) {
        ln_tensor *t = lnL_test_tensor(L, i);
        if (t) {
            if (ln_tape_any_tracks(t)) return 1;
        } else if (lua_type(L, i) == LUA_TTABLE && !lua_getmetatable(L, i)) {
            int len = (int)lua_rawlen(L, i);
            for (int k = 1; k <= len; k++) {
                lua_rawgeti(L, i, k);
                t = lnL_test_tensor(L, -1);
                lua_pop(L, 1);
                if (t && ln_tape_any_tracks(t)) return 1;
            }
        } else if (lua_type(L, i) == LUA_TTABLE) {
            lua_pop(L, 1); /* the metatable */
        }
    }
    return 0;
}

static void refuse_tracked(lua_State *L, const ag_wrap *w, ln_tensor *t) {
    if (t && ln_tape_any_tracks(t))
        luaL_error(L, "%s: writes in place into a tensor a GradientTape is "
                   "tracking; use the out-of-place form inside tape:run",
                   w->name);
}

/* Bump the versions of the variables of an optimizer's pairs (arg 2). */
static void note_pairs(lua_State *L) {
    if (!lua_istable(L, 2)) return;
    int n = (int)lua_rawlen(L, 2);
    for (int i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 2, i) == LUA_TTABLE) {
            lua_rawgeti(L, -1, 2);
            ln_tensor *v = lnL_test_tensor(L, -1);
            if (!v && lua_istable(L, -1)) {
                lua_getfield(L, -1, "value");
                v = lnL_test_tensor(L, -1);
                lua_pop(L, 1);
            }
            ln_tape_note_write(v);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* The wrapper body; desc is the ag_wrap's upvalue, orig the original's. */
static int dispatch(lua_State *L, int desc, int orig) {
    const ag_wrap *w = lua_touserdata(L, lua_upvalueindex(desc));
    switch (w->kind) {
    case AG_FUNC:
        if (!ln_tape_active() && w->rec != ag_rec_matmul) return w->fn(L);
        break;
    case AG_INPLACE: {
        ln_tensor *t = lnL_test_tensor(L, 1);
        if (ln_tape_active()) refuse_tracked(L, w, t);
        ln_tape_note_write(t);
        return w->fn(L);
    }
    case AG_NOTE_LAYER:
        ln_tape_note_layer_forward(lnL_check_layer(L, 1)->l);
        return w->fn(L);
    case AG_NOTE_NET:
        ln_tape_note_layer_forward(NULL);
        return w->fn(L);
    case AG_OPT_APPLY:
        note_pairs(L);
        return w->fn(L);
    }
    int n = lua_gettop(L);
    if (w->rec == ag_rec_matmul && ag_matmul_writes(L, n)) { /* in place */
        if (ln_tape_active() && any_tracked(L, n))
            return luaL_error(L, "matmul: the out form writes in place and "
                              "cannot be recorded; use ln.matmul(a, b) inside "
                              "tape:run");
        ln_tensor *out;
        if (lnL_test_tensor(L, 3)) { /* c:matmul(a, b) */
            out = lnL_test_tensor(L, 1);
        } else { /* ln.matmul(a, b, {out = c}) */
            lua_getfield(L, 3, "out");
            out = lnL_test_tensor(L, -1);
            lua_pop(L, 1);
        }
        ln_tape_note_write(out);
        return w->fn(L);
    }
    if (!ln_tape_active() || (w->rec == ag_rec_index && lua_type(L, 2) == LUA_TSTRING) ||
        !any_tracked(L, n))
        return w->fn(L);
    lua_pushvalue(L, lua_upvalueindex(orig));
    for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
    if (lua_pcall(L, n, LUA_MULTRET, 0) != LUA_OK) { /* at the user's line */
        luaL_where(L, 1);
        const char *where = lua_tostring(L, -1), *msg = lua_tostring(L, -2);
        if (msg && *where && strncmp(msg, where, strlen(where)) != 0) {
            lua_insert(L, -2);
            lua_concat(L, 2);
        } else {
            lua_pop(L, 1);
        }
        return lua_error(L);
    }
    int nres = lua_gettop(L) - n;
    for (int i = 0; i < AG_PAD; i++) {
        lua_pushnil(L);
        lua_insert(L, n + 1);
    }
    nres = w->rec(L, w, n, nres);
    lua_settop(L, AG_RES(n) + nres - 1);
    return nres;
}

/* One wrapper per count of the original's upvalues (the original's stay at
** 1..k, then the descriptor and the original closure). */
static int wrapped0(lua_State *L) { return dispatch(L, 1, 2); }
static int wrapped1(lua_State *L) { return dispatch(L, 2, 3); }
static int wrapped2(lua_State *L) { return dispatch(L, 3, 4); }
static const lua_CFunction wrappers[] = {wrapped0, wrapped1, wrapped2};

/* Replace field spec->name of the table at idx by its wrapper. */
static void wrap_field(lua_State *L, int idx, const ag_wrap *spec) {
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, idx, spec->name) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    int orig = lua_gettop(L), k = 0;
    lua_CFunction fn = lua_tocfunction(L, orig);
    while (k < 3 && lua_getupvalue(L, orig, k + 1)) k++; /* pushes them */
    if (!fn || k > 2) luaL_error(L, "autograd: cannot wrap '%s'", spec->name);
    ag_wrap *w = lua_newuserdatauv(L, sizeof *w, 0);
    *w = *spec;
    w->fn = fn;
    lua_pushvalue(L, orig);
    lua_pushcclosure(L, wrappers[k], k + 2);
    lua_setfield(L, idx, spec->name);
    lua_pop(L, 1);
}

static void wrap_all(lua_State *L, int idx, const ag_wrap *specs) {
    for (; specs->name; specs++) wrap_field(L, idx, specs);
}

#define F(name, rec, op) {name, AG_FUNC, rec, op, NULL}
#define IP(name) {name, AG_INPLACE, NULL, -1, NULL}

static const ag_wrap tensor_methods[] = {
    F("add", ag_rec_binary, LN_OP_ADD), F("sub", ag_rec_binary, LN_OP_SUB),
    F("mul", ag_rec_binary, LN_OP_MUL), F("div", ag_rec_binary, LN_OP_DIV),
    F("pow", ag_rec_binary, LN_OP_POW), F("mod", ag_rec_binary, LN_OP_MOD),
    F("maximum", ag_rec_binary, LN_OP_MAXIMUM), F("minimum", ag_rec_binary, LN_OP_MINIMUM),
    F("idiv", ag_rec_nondiff, -1),
    F("neg", ag_rec_unary, LN_OP_NEG), F("abs", ag_rec_unary, LN_OP_ABS),
    F("exp", ag_rec_unary, LN_OP_EXP), F("log", ag_rec_unary, LN_OP_LOG),
    F("sqrt", ag_rec_unary, LN_OP_SQRT), F("square", ag_rec_unary, LN_OP_SQUARE),
    F("tanh", ag_rec_unary, LN_OP_TANH), F("sigmoid", ag_rec_unary, LN_OP_SIGMOID),
    F("sign", ag_rec_nondiff, -1), F("floor", ag_rec_nondiff, -1),
    F("ceil", ag_rec_nondiff, -1), F("round", ag_rec_nondiff, -1),
    F("clamp", ag_rec_clamp, LN_OP_CLAMP),
    F("sum", ag_rec_reduce, LN_OP_SUM), F("mean", ag_rec_reduce, LN_OP_MEAN),
    F("max", ag_rec_reduce, LN_OP_MAX), F("min", ag_rec_reduce, LN_OP_MIN),
    F("var", ag_rec_nondiff, -1), F("std", ag_rec_nondiff, -1),
    F("norm", ag_rec_norm, LN_OP_NORM), F("logsumexp", ag_rec_norm, LN_OP_LOGSUMEXP),
    F("softmax", ag_rec_softmax, LN_OP_SOFTMAX),
    F("log_softmax", ag_rec_softmax, LN_OP_LOG_SOFTMAX),
    F("reshape", ag_rec_view, -1), F("view", ag_rec_view, -1),
    F("flatten", ag_rec_view, -1), F("squeeze", ag_rec_view, -1),
    F("unsqueeze", ag_rec_view, -1),
    F("narrow", ag_rec_narrow, -1), F("select", ag_rec_narrow, -1),
    F("transpose", ag_rec_transpose, -1), F("t", ag_rec_transpose, -1),
    F("permute", ag_rec_permute, -1),
    F("index", ag_rec_take, LN_OP_INDEX), F("gather", ag_rec_take, LN_OP_GATHER),
    F("masked_select", ag_rec_masked_select, -1),
    F("cat", ag_rec_cat_method, -1), F("clone", ag_rec_clone, -1),
    F("matmul", ag_rec_matmul, -1),
    IP("add_"), IP("sub_"), IP("mul_"), IP("div_"), IP("clamp_"), IP("copy_"),
    IP("fill_"), IP("zero_"), IP("assign"), IP("assign_add"), IP("assign_sub"),
    IP("copy"), IP("fill"), IP("zero"), IP("masked_fill"),
    {NULL, 0, NULL, 0, NULL}};

static const ag_wrap tensor_meta[] = {
    F("__add", ag_rec_binary, LN_OP_ADD), F("__sub", ag_rec_binary, LN_OP_SUB),
    F("__mul", ag_rec_binary, LN_OP_MUL), F("__div", ag_rec_binary, LN_OP_DIV),
    F("__pow", ag_rec_binary, LN_OP_POW), F("__mod", ag_rec_binary, LN_OP_MOD),
    F("__idiv", ag_rec_nondiff, -1), F("__unm", ag_rec_unary, LN_OP_NEG),
    F("__index", ag_rec_index, -1), IP("__newindex"),
    {NULL, 0, NULL, 0, NULL}};

static const ag_wrap module_fns[] = {
    F("cat", ag_rec_cat, LN_OP_CAT), F("stack", ag_rec_cat, LN_OP_STACK),
    F("where", ag_rec_where, -1), F("matmul", ag_rec_matmul, -1),
    {NULL, 0, NULL, 0, NULL}};

static const ag_wrap nn_fns[] = {
    F("tensor_clone", ag_rec_clone, -1), IP("tensor_assign"),
    {NULL, 0, NULL, 0, NULL}};

static const ag_wrap layer_methods[] = {
    {"forward", AG_NOTE_LAYER, NULL, -1, NULL}, {"call", AG_NOTE_LAYER, NULL, -1, NULL},
    {"backward", AG_NOTE_LAYER, NULL, -1, NULL}, {NULL, 0, NULL, 0, NULL}};

static const ag_wrap object_methods[] = {
    F("apply", ag_rec_activation, -1), F("per_sample", ag_rec_per_sample, -1),
    {NULL, 0, NULL, 0, NULL}};

#define NET(name) {name, AG_NOTE_NET, NULL, -1, NULL}
static const ag_wrap net_methods[] = {
    NET("forward"), NET("backward"), NET("train_batch"), NET("train_step"),
    NET("train_run"), NET("test_run"), NET("predict_run"), NET("test_batch"),
    NET("predict_batch"), {NULL, 0, NULL, 0, NULL}};

static const ag_wrap optimizer_methods[] = {
    {"apply", AG_OPT_APPLY, NULL, -1, NULL}, {NULL, 0, NULL, 0, NULL}};

/* Wrap the methods table of the metatable registered as `tname`. */
static void wrap_methods(lua_State *L, const char *tname, const ag_wrap *specs) {
    if (luaL_getmetatable(L, tname) == LUA_TTABLE &&
        lua_getfield(L, -1, "__index") == LUA_TTABLE)
        wrap_all(L, -1, specs);
    lua_pop(L, 2);
}

void ag_install_wrappers(lua_State *L, int mod) {
    luaL_getmetatable(L, LN_TENSOR_MT);
    wrap_all(L, -1, tensor_meta);
    lua_getfield(L, mod, "Tensor");
    wrap_all(L, -1, tensor_methods);
    lua_pop(L, 2);
    wrap_all(L, mod, module_fns);
    lua_getfield(L, mod, "nn");
    wrap_all(L, -1, nn_fns);
    lua_pop(L, 1);
    wrap_methods(L, LN_LAYER_MT, layer_methods);
    wrap_methods(L, LN_OBJECT_MT, object_methods);
    wrap_methods(L, "lunet.Net", net_methods);
    wrap_methods(L, "lunet.Optimizer", optimizer_methods);
}
