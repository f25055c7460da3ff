/*
** lua_autograd.c -- gradient tapes from Lua (core.autograd; the Lua API is
** lunet/autograd.lua) and the wrappers that put binding functions on the
** tape (lua_autograd.h).
**
** core.autograd:
**   tape_new(persistent, watch_variables) -> Tape
**   active() -> whether a tape records;  tracks(t) -> whether one tracks t
**   mark_variable(t [, trainable = true]), is_variable(t)
**   layer_call(layer, x, training) -> y   a layer's forward, recorded
**   loss(loss_object, y_pred, y_true [, logits]) -> 0-d batch loss, recorded
**   regularization(layer) -> 0-d penalty, recorded
** Tape methods: run(fn, ...) -> fn's results (recording meanwhile);
**   stop_recording(fn, ...); watch(t); gradient(targets, sources [, seeds
**   [, zeros]]) -> list (false where unconnected, or zeros); watched();
**   reset(); node_count(); is_recording()
**
** A tape's user value is a table of the Lua objects its nodes point into
** (activation and loss objects, layers): they live as long as the tape.
** The tapes recording now are listed in the registry (RECORDING), so a
** recorder can anchor an object in each.
*/
#include <string.h>

#include "lua_autograd.h"
#include "lua_nn.h"

#define LN_TAPE_MT "lunet.GradientTape"
#define RECORDING "lunet.autograd.recording"

typedef struct ag_tape {
    ln_tape *t;
} ag_tape;

static ag_tape *check_tape(lua_State *L, int idx) {
    ag_tape *u = luaL_checkudata(L, idx, LN_TAPE_MT);
    if (!u->t) luaL_argerror(L, idx, "the tape is freed");
    return u;
}

void ag_record(lua_State *L, ln_tape_opcode op, int nin, ln_tensor *const *x,
               ln_tensor *y, const ln_tape_params *p) {
    lnL_check(L, ln_tape_record(lnL_ctx(), op, nin, x, 1, &y, p));
}

void ag_anchor(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, RECORDING);
    int n = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_getiuservalue(L, -1, 1);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
}

/* Add (on) or remove the tape at idx from the RECORDING list. */
static void listed(lua_State *L, int idx, int on) {
    idx = lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, RECORDING);
    int n = (int)lua_rawlen(L, -1);
    if (on) {
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, n + 1);
    } else {
        for (int i = n; i >= 1; i--) {
            lua_rawgeti(L, -1, i);
            int same = lua_rawequal(L, -1, idx);
            lua_pop(L, 1);
            if (!same) continue;
            for (int j = i; j < n; j++) {
                lua_rawgeti(L, -1, j + 1);
                lua_rawseti(L, -2, j);
            }
            lua_pushnil(L);
            lua_rawseti(L, -2, n);
            break;
        }
    }
    lua_pop(L, 1);
}

/* ---- the wrappers -------------------------------------------------------------- */

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

/* The methods table of the metatable registered as `tname`. */
static void wrap_methods(lua_State *L, const char *tname, const ag_wrap *specs) {
    if (luaL_getmetatable(L, tname) == LUA_TTABLE &&
        lua_getfield(L, -1, "__index") == LUA_TTABLE)
        wrap_all(L, -1, specs);
    lua_pop(L, 2);
}

/* ---- the tape -------------------------------------------------------------------- */

static int l_tape_new(lua_State *L) {
    int persistent = lua_toboolean(L, 1);
    int watch = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    ag_tape *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->t = NULL;
    luaL_setmetatable(L, LN_TAPE_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    if (!(u->t = ln_tape_new(lnL_ctx(), persistent, watch))) return lnL_raise(L);
    return 1;
}

static int tape_gc(lua_State *L) {
    ag_tape *u = luaL_checkudata(L, 1, LN_TAPE_MT);
    ln_tape_free(u->t);
    u->t = NULL;
    return 0;
}

/* Call the function at 2 with the arguments after it between start(tape)
** and stop(tape), even when it raises; returns its results. */
static int bracketed(lua_State *L, void (*start)(ln_tape *), void (*stop)(ln_tape *)) {
    ag_tape *u = check_tape(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int n = lua_gettop(L) - 2;
    start(u->t);
    int st = lua_pcall(L, n, LUA_MULTRET, 0);
    stop(u->t);
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L) - 1;
}

/* tape:run(fn, ...) */
static int tape_run(lua_State *L) {
    ag_tape *u = check_tape(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lnL_check(L, ln_tape_begin(lnL_ctx(), u->t));
    listed(L, 1, 1);
    int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    ln_tape_end(u->t);
    listed(L, 1, 0);
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L) - 1;
}

static void hold_on(ln_tape *t) { ln_tape_hold(t, 1); }
static void hold_off(ln_tape *t) { ln_tape_hold(t, 0); }

/* tape:stop_recording(fn, ...) */
static int tape_stop_recording(lua_State *L) { return bracketed(L, hold_on, hold_off); }

static int tape_watch(lua_State *L) {
    ag_tape *u = check_tape(L, 1);
    lnL_check(L, ln_tape_watch(lnL_ctx(), u->t, lnL_check_tensor(L, 2)));
    return 0;
}

/* A list of tensors at idx into an array kept in a userdata (pushed). */
static ln_tensor **tensor_list(lua_State *L, int idx, int *n, int allow_false,
                               const char *what) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int len = (int)lua_rawlen(L, idx);
    ln_tensor **v = lua_newuserdatauv(L, sizeof *v * (size_t)(len ? len : 1), 0);
    for (int i = 0; i < len; i++) {
        lua_rawgeti(L, idx, i + 1);
        v[i] = lnL_test_tensor(L, -1);
        if (!v[i] && !(allow_false && !lua_toboolean(L, -1)))
            luaL_error(L, "gradient: %s %d is a %s, not a tensor", what, i + 1,
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *n = len;
    return v;
}

/* tape:gradient(targets, sources [, seeds [, zeros]]) */
static int tape_gradient(lua_State *L) {
    ag_tape *u = check_tape(L, 1);
    int nt, ns, nseeds = 0;
    ln_tensor **targets = tensor_list(L, 2, &nt, 0, "target");
    ln_tensor **sources = tensor_list(L, 3, &ns, 0, "source");
    ln_tensor **seeds = lua_isnoneornil(L, 4) ? NULL
                                              : tensor_list(L, 4, &nseeds, 1, "output gradient");
    if (seeds && nseeds != nt)
        return luaL_error(L, "gradient: %d output gradients for %d targets", nseeds, nt);
    int zeros = lua_toboolean(L, 5);
    ln_tensor **grads = lua_newuserdatauv(L, sizeof *grads * (size_t)(ns ? ns : 1), 0);
    lnL_check(L, ln_tape_gradient(lnL_ctx(), u->t, nt, targets, seeds, ns, sources, grads));
    lua_createtable(L, ns, 0);
    for (int i = 0; i < ns; i++) {
        if (grads[i]) {
            lnL_push_tensor(L, grads[i]);
            grads[i] = NULL;
        } else if (zeros) {
            lnL_push_tensor(L, ln_tensor_new(lnL_ctx(), LN_FLOAT32, sources[i]->ndim,
                                             sources[i]->shape));
        } else {
            lua_pushboolean(L, 0);
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int tape_watched(lua_State *L) {
    int n;
    ln_tensor *const *v = ln_tape_watched(check_tape(L, 1)->t, &n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lnL_push_tensor_ref(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int tape_reset(lua_State *L) {
    ag_tape *u = check_tape(L, 1);
    ln_tape_reset(u->t);
    lua_newtable(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

static int tape_node_count(lua_State *L) {
    lua_pushinteger(L, ln_tape_node_count(check_tape(L, 1)->t));
    return 1;
}

static int tape_is_recording(lua_State *L) {
    lua_pushboolean(L, ln_tape_is_recording(check_tape(L, 1)->t));
    return 1;
}

/* ---- functions ------------------------------------------------------------------- */

static int l_active(lua_State *L) {
    lua_pushboolean(L, ln_tape_active() > 0);
    return 1;
}

static int l_tracks(lua_State *L) {
    ln_tensor *t = lnL_test_tensor(L, 1);
    lua_pushboolean(L, t && ln_tape_any_tracks(t));
    return 1;
}

static int l_mark_variable(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int trainable = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    lnL_check(L, ln_tape_mark_variable(lnL_ctx(), t, trainable));
    return 0;
}

static int l_is_variable(lua_State *L) {
    lua_pushboolean(L, ln_tape_is_variable(lnL_check_tensor(L, 1)));
    return 1;
}

/* layer_call(layer, x, training) */
static int l_layer_call(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2), *y;
    unsigned flags = lua_toboolean(L, 3) ? LN_TRAINING : 0;
    ag_anchor(L, 1);
    lnL_check(L, ln_tape_layer_forward(lnL_ctx(), u->l, x, flags, &y));
    lnL_push_tensor(L, y);
    return 1;
}

/* loss(loss_object, y_pred, y_true [, logits]) -> 0-d batch loss */
static int l_loss(lua_State *L) {
    lnL_object *o = lnL_check_object(L, 1);
    if (o->o->unit->kind != LN_KIND_LOSS)
        return luaL_error(L, "loss: '%s' is a %s", o->o->unit->name,
                          ln_kind_name(o->o->unit->kind));
    ln_tensor *pred = lnL_check_float(L, 2, o->o->unit->name);
    ln_tensor *y = lnL_check_tensor(L, 3);
    int logits = lua_toboolean(L, 4);
    const ln_loss_ops *ops = o->o->unit->ops;
    double v;
    lnL_check(L, ops->compute(lnL_ctx(), o->o->state, pred, y, logits, &v, NULL));
    ln_tensor *t = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, 0, NULL));
    ln_f32(t)[0] = (float)v;
    ln_tape_params p = {.i = {logits}};
    p.unit = o->o;
    p.aux = y;
    ag_anchor(L, 1);
    ag_record(L, LN_OP_LOSS, 1, &pred, t, &p);
    return 1;
}

static int l_regularization(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ag_anchor(L, 1);
    lnL_push_tensor(L, ln_tape_layer_regularization(lnL_ctx(), u->l));
    return 1;
}

void lnL_open_autograd(lua_State *L) {
    static const luaL_Reg tape_m[] = {
        {"run", tape_run}, {"stop_recording", tape_stop_recording},
        {"watch", tape_watch}, {"gradient", tape_gradient},
        {"watched", tape_watched}, {"reset", tape_reset},
        {"node_count", tape_node_count}, {"is_recording", tape_is_recording},
        {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"tape_new", l_tape_new}, {"active", l_active}, {"tracks", l_tracks},
        {"mark_variable", l_mark_variable}, {"is_variable", l_is_variable},
        {"layer_call", l_layer_call}, {"loss", l_loss},
        {"regularization", l_regularization}, {NULL, NULL}};
    int mod = lua_gettop(L);
    luaL_newmetatable(L, LN_TAPE_MT);
    lua_pushcfunction(L, tape_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lnL_register(L, tape_m);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, RECORDING);

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

    lua_newtable(L);
    lnL_register(L, fns);
    lua_setfield(L, mod, "autograd");
}
