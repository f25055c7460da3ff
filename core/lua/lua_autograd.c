/*
** lua_autograd.c -- gradient tapes from Lua (core.autograd; the Lua API is
** lunet/autograd.lua). The wrappers that put binding functions on the tape
** are lua_autograd_wrap.c, their recorders lua_autograd_rec.c.
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

/* tape:stop_recording(fn, ...) */
static int tape_stop_recording(lua_State *L) {
    ag_tape *u = check_tape(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    ln_tape_hold(u->t, 1);
    int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    ln_tape_hold(u->t, 0);
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L) - 1;
}

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

/* layer_call(layer, x or {x1, x2, ...}, training) -> y, or a list of the
** outputs of a layer with several */
static int l_layer_call(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_tensor *x[LN_TAPE_MAX_LAYER_INPUTS], *y[LN_MAX_OUTPUTS];
    int nx = 1, ny;
    if (lua_istable(L, 2)) {
        lua_Unsigned len = lua_rawlen(L, 2);
        if (len < 1 || len > LN_TAPE_MAX_LAYER_INPUTS)
            return luaL_error(L, "%s: called on a list of %d inputs (1 to %d)",
                              ln_layer_name(u->l), (int)(len > 999 ? 999 : len),
                              LN_TAPE_MAX_LAYER_INPUTS);
        nx = (int)len;
        for (int i = 0; i < nx; i++) {
            lua_rawgeti(L, 2, i + 1);
            x[i] = lnL_test_tensor(L, -1);
            if (!x[i])
                return luaL_error(L, "%s: input %d is a %s, not a tensor", ln_layer_name(u->l),
                                  i + 1, luaL_typename(L, -1));
            lua_pop(L, 1); /* the list keeps it */
        }
    } else {
        x[0] = lnL_check_tensor(L, 2);
    }
    unsigned flags = lua_toboolean(L, 3) ? LN_TRAINING : 0;
    ag_anchor(L, 1);
    lnL_check(L, ln_tape_layer_call(lnL_ctx(), u->l, nx, x, flags, &ny, y));
    if (ny == 1) {
        lnL_push_tensor(L, y[0]);
        return 1;
    }
    lua_createtable(L, ny, 0);
    for (int j = 0; j < ny; j++) {
        lnL_push_tensor(L, y[j]);
        lua_rawseti(L, -2, j + 1);
    }
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

    ag_install_wrappers(L, mod);

    lua_newtable(L);
    lnL_register(L, fns);
    ag_open_team(L, lua_gettop(L));
    lua_setfield(L, mod, "autograd");
}
