/*
** lua_nn.c -- layers, losses, metrics, activations and initializers from
** Lua: thin userdata over the core's instances. The Keras-style classes
** (lunet.layers, lunet.losses, ...) are written in Lua on top of these.
**
** Registered in the table core.nn (kept out of ln.* on purpose):
**   nn.layer_new(unit, args)        -> Layer (lunet.Layer)
**   nn.loss_new / metric_new / activation_new(name, args) -> Object
**   nn.initializer_fill(name, args, shape) -> tensor
**   nn.initializer_check(name, args)
**
** Persistent buffers (a layer's output and input gradient, a loss's
** gradient) reach Lua as one userdata each, created on first use and kept in
** the owner's user values: calling forward again pushes the same object.
*/
#include <string.h>

#include "lua_parts.h"
#include "lua_nn.h"

/* Push the tensor t through the owner's user value `slot`, creating the
** boxed userdata only the first time (t's identity never changes). */
static void push_cached(lua_State *L, int owner, int slot, ln_tensor *t) {
    owner = lua_absindex(L, owner);
    if (lua_getiuservalue(L, owner, slot) == LUA_TUSERDATA) return;
    lua_pop(L, 1);
    lnL_push_tensor_ref(L, t);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, owner, slot);
}

/* Push a shape (without the batch axis) as a Lua list. */
static void push_dims(lua_State *L, const ln_shape *s) {
    lua_createtable(L, s->nd, 0);
    for (int i = 0; i < s->nd; i++) {
        lua_pushinteger(L, s->dim[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* ---- layers ------------------------------------------------------------------ */

lnL_layer *lnL_check_layer(lua_State *L, int idx) {
    lnL_layer *u = luaL_checkudata(L, idx, LN_LAYER_MT);
    if (!u->l) luaL_argerror(L, idx, "layer is freed");
    return u;
}

/* nn.layer_new(unit, args) -> Layer. args: a keyword table (positional
** entries allowed); the Lua side has removed name/input_shape/trainable. */
static int l_layer_new(lua_State *L) {
    const char *unit = luaL_checkstring(L, 1);
    ln_args *args = lnL_to_args(L, 2, unit);
    lnL_layer *u = lua_newuserdatauv(L, sizeof *u, 2);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LN_LAYER_MT);
    ln_ctx *ctx = lnL_ctx();
    u->l = ln_layer_new(ctx, unit, args); /* takes args */
    if (!u->l) return lnL_raise(L);
    int64_t zero = 0;
    u->y = ln_tensor_new(ctx, LN_FLOAT32, 1, &zero);
    u->dx = u->y ? ln_tensor_new(ctx, LN_FLOAT32, 1, &zero) : NULL;
    if (!u->dx) return lnL_raise(L);
    return 1;
}

static int layer_gc(lua_State *L) {
    lnL_layer *u = luaL_checkudata(L, 1, LN_LAYER_MT);
    ln_layer_free(u->l);
    ln_tensor_release(u->x);
    ln_tensor_release(u->y);
    ln_tensor_release(u->dx);
    memset(u, 0, sizeof *u);
    return 0;
}

/* layer:set_name(name): the name used in messages, "dense_1 (Dense)". */
static int layer_set_name(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const ln_unit *unit = ln_layer_unit(u->l);
    char full[LN_NAME_MAX];
    snprintf(full, sizeof full, "%s (%s)", name,
             unit->class_name ? unit->class_name : unit->name);
    ln_layer_set_name(u->l, full);
    return 0;
}

/* layer:build(shape) -> output shape (both without the batch axis). */
static int layer_build(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_shape in;
    luaL_checktype(L, 2, LUA_TTABLE);
    in.nd = lnL_check_shape(L, 2, in.dim, ln_layer_name(u->l));
    lnL_check(L, ln_layer_build(lnL_ctx(), u->l, 1, &in));
    if (ln_layer_output_count(u->l) != 1)
        return luaL_error(L, "%s: gives %d outputs (return_state); a Sequential model "
                          "takes layers with one output: use a functional model "
                          "(ln.Input, ln.Model)", ln_layer_name(u->l),
                          ln_layer_output_count(u->l));
    push_dims(L, ln_layer_output_shape(u->l, 0));
    return 1;
}

/* layer:build_inputs({shape, ...}) -> {output shape, ...}: a layer with
** several inputs (a merge) or outputs; shapes without the batch axis. */
static int layer_build_inputs(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = lnL_len(L, 2, ln_layer_name(u->l), "the number of inputs", 1 << 16);
    ln_shape *in = lua_newuserdatauv(L, sizeof *in * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        in[i].nd = lnL_check_shape(L, lua_gettop(L), in[i].dim, ln_layer_name(u->l));
        lua_pop(L, 1);
    }
    lnL_check(L, ln_layer_build(lnL_ctx(), u->l, n, in));
    int nout = ln_layer_output_count(u->l);
    lua_createtable(L, nout, 0);
    for (int j = 0; j < nout; j++) {
        push_dims(L, ln_layer_output_shape(u->l, j));
        lua_rawseti(L, -2, j + 1);
    }
    return 1;
}

/* layer:input_count() -> inputs it was built for (0: not built). */
static int layer_input_count(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    lua_pushinteger(L, ln_layer_built(l) ? ln_layer_input_count(l) : 0);
    return 1;
}

static int layer_is_built(lua_State *L) {
    lua_pushboolean(L, ln_layer_built(lnL_check_layer(L, 1)->l));
    return 1;
}

static int layer_input_shape(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    if (!ln_layer_built(l)) return 0;
    push_dims(L, ln_layer_input_shape(l, 0));
    return 1;
}

static int layer_output_shape(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    if (!ln_layer_built(l)) return 0;
    push_dims(L, ln_layer_output_shape(l, 0));
    return 1;
}

/* layer:forward(x [, training [, logits]]) -> y, the layer's own output
** buffer (the same tensor object every call; valid until the next). */
static int layer_forward(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    unsigned flags = (lua_toboolean(L, 3) ? LN_TRAINING : 0) |
                     (lua_toboolean(L, 4) ? LN_LOGITS : 0);
    lnL_check(L, ln_layer_forward1(lnL_ctx(), u->l, x, u->y, flags));
    ln_tensor_retain(x);
    ln_tensor_release(u->x);
    u->x = x;
    u->flags = flags;
    push_cached(L, 1, 1, u->y);
    return 1;
}

/* layer:call(x) -> a new tensor: inference-mode output (Keras layer(x)). */
static int layer_call(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_tensor *x = lnL_check_tensor(L, 2);
    ln_ctx *ctx = lnL_ctx();
    lnL_check(L, ln_layer_forward1(ctx, u->l, x, u->y, 0));
    ln_tensor_retain(x);
    ln_tensor_release(u->x);
    u->x = x;
    u->flags = 0;
    lnL_push_tensor(L, ln_tensor_clone(ctx, u->y));
    return 1;
}

/* layer:backward(dy [, need_dx = true [, need_dw = true]]) -> dx or nil.
** Uses the input and flags of the preceding forward. */
static int layer_backward(lua_State *L) {
    lnL_layer *u = lnL_check_layer(L, 1);
    ln_tensor *dy = lnL_check_tensor(L, 2);
    int need_dx = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    int need_dw = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
    if (!u->x)
        return luaL_error(L, "%s: backward before forward", ln_layer_name(u->l));
    unsigned flags = u->flags | (need_dw ? LN_NEED_DW : 0);
    lnL_check(L, ln_layer_backward1(lnL_ctx(), u->l, u->x, u->y, dy,
                                    need_dx ? u->dx : NULL, flags));
    if (!need_dx) return 0;
    push_cached(L, 1, 2, u->dx);
    return 1;
}

/* layer:weights() -> list of {name = "kernel", value = t, grad = t|nil,
** trainable = bool (by nature; the layer's flag is separate)} in creation
** order. Tensors share the layer's storage. */
static int layer_weights(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    int n = ln_layer_weight_count(l);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, ln_layer_weight_name(l, i));
        lua_setfield(L, -2, "name");
        lnL_push_tensor_ref(L, ln_layer_weight(l, i));
        lua_setfield(L, -2, "value");
        if (ln_layer_grad(l, i)) {
            lnL_push_tensor_ref(L, ln_layer_grad(l, i));
            lua_setfield(L, -2, "grad");
        }
        lua_pushboolean(L, ln_layer_weight_trainable(l, i));
        lua_setfield(L, -2, "trainable");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* layer:config() -> the effective keyword arguments (what the unit read). */
static int layer_config(lua_State *L) {
    lnL_push_args(L, ln_layer_args(lnL_check_layer(L, 1)->l), LNL_ARGS_USED);
    return 1;
}

static int layer_output_activation(lua_State *L) {
    const char *a = ln_layer_output_activation(lnL_check_layer(L, 1)->l);
    if (!a) return 0;
    lua_pushstring(L, a);
    return 1;
}

/* layer:trainable([flag]) -> flag (set when given). */
static int layer_trainable(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    if (!lua_isnoneornil(L, 2)) ln_layer_set_trainable(l, lua_toboolean(L, 2));
    lua_pushboolean(L, ln_layer_trainable(l));
    return 1;
}

static int layer_reset_states(lua_State *L) {
    ln_layer_reset_states(lnL_check_layer(L, 1)->l);
    return 0;
}

static int layer_regularization_loss(lua_State *L) {
    lua_pushnumber(L, ln_layer_regularization_loss(lnL_check_layer(L, 1)->l));
    return 1;
}

/* layer:unit() -> name, class_name, version of the plugin unit. */
static int layer_unit(lua_State *L) {
    const ln_unit *u = ln_layer_unit(lnL_check_layer(L, 1)->l);
    lua_pushstring(L, u->name);
    lua_pushstring(L, u->class_name ? u->class_name : u->name);
    lua_pushinteger(L, u->version);
    return 3;
}

/* layer:count_params() -> total, trainable (in effect now). */
static int layer_count_params(lua_State *L) {
    ln_layer *l = lnL_check_layer(L, 1)->l;
    lua_Integer total = 0, trainable = 0;
    for (int i = 0; i < ln_layer_weight_count(l); i++) {
        total += ln_layer_weight(l, i)->numel;
        if (ln_layer_trains(l, i)) trainable += ln_layer_weight(l, i)->numel;
    }
    lua_pushinteger(L, total);
    lua_pushinteger(L, trainable);
    return 2;
}

static int layer_tostring(lua_State *L) {
    lnL_layer *u = luaL_checkudata(L, 1, LN_LAYER_MT);
    lua_pushfstring(L, "Layer(%s)", u->l ? ln_layer_name(u->l) : "freed");
    return 1;
}

/* ---- losses, metrics, activations --------------------------------------------- */

lnL_object *lnL_check_object(lua_State *L, int idx) {
    lnL_object *u = luaL_checkudata(L, idx, LN_OBJECT_MT);
    if (!u->o) luaL_argerror(L, idx, "object is freed");
    return u;
}

static lnL_object *check_kind(lua_State *L, int idx, ln_kind k, const char *fn) {
    lnL_object *u = lnL_check_object(L, idx);
    if (u->o->unit->kind != k)
        luaL_error(L, "%s: '%s' is a %s, not a %s", fn, u->o->unit->name,
                   ln_kind_name(u->o->unit->kind), ln_kind_name(k));
    return u;
}

static int object_new(lua_State *L, ln_kind kind) {
    const char *name = luaL_checkstring(L, 1);
    ln_args *args = lnL_to_args(L, 2, name);
    lnL_object *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LN_OBJECT_MT);
    u->o = ln_object_new(lnL_ctx(), kind, name, args);
    if (!u->o) return lnL_raise(L);
    return 1;
}

static int l_loss_new(lua_State *L) { return object_new(L, LN_KIND_LOSS); }
static int l_metric_new(lua_State *L) { return object_new(L, LN_KIND_METRIC); }
static int l_activation_new(lua_State *L) { return object_new(L, LN_KIND_ACTIVATION); }

static int object_gc(lua_State *L) {
    lnL_object *u = luaL_checkudata(L, 1, LN_OBJECT_MT);
    ln_object_free(u->o);
    ln_tensor_release(u->grad);
    memset(u, 0, sizeof *u);
    return 0;
}

/* obj:unit() -> kind, name, class_name, version */
static int object_unit(lua_State *L) {
    const ln_unit *u = lnL_check_object(L, 1)->o->unit;
    lua_pushstring(L, ln_kind_name(u->kind));
    lua_pushstring(L, u->name);
    lua_pushstring(L, u->class_name ? u->class_name : u->name);
    lua_pushinteger(L, u->version);
    return 4;
}

static int object_config(lua_State *L) {
    lnL_push_args(L, lnL_check_object(L, 1)->o->args, LNL_ARGS_USED);
    return 1;
}

/* loss:compute(pred, y [, logits [, want_grad]]) -> batch loss, gradient.
** The gradient (with respect to pred) is the loss's own buffer. */
static int object_compute(lua_State *L) {
    lnL_object *u = check_kind(L, 1, LN_KIND_LOSS, "compute");
    ln_tensor *pred = lnL_check_float(L, 2, u->o->unit->name);
    ln_tensor *y = lnL_check_tensor(L, 3);
    int logits = lua_toboolean(L, 4);
    int want = lua_toboolean(L, 5);
    ln_ctx *ctx = lnL_ctx();
    if (want && !u->grad && !(u->grad = ln_tensor_new_like(ctx, pred)))
        return lnL_raise(L);
    if (want) lnL_check(L, ln_tensor_resize(ctx, u->grad, pred->ndim, pred->shape));
    const ln_loss_ops *ops = u->o->unit->ops;
    double v = 0;
    lnL_check(L, ops->compute(ctx, u->o->state, pred, y, logits, &v,
                              want ? u->grad : NULL));
    lua_pushnumber(L, v);
    if (!want) return 1;
    push_cached(L, 1, 1, u->grad);
    return 2;
}

/* obj:per_sample(pred, y) -> tensor (N,) of per-sample values: a loss's
** per-sample losses or a metric's per-sample scores (Keras's loss and
** metric functions return these). */
static int object_per_sample(lua_State *L) {
    lnL_object *u = lnL_check_object(L, 1);
    ln_kind kind = u->o->unit->kind;
    if (kind != LN_KIND_LOSS && kind != LN_KIND_METRIC)
        return luaL_error(L, "per_sample: '%s' is a %s", u->o->unit->name,
                          ln_kind_name(kind));
    ln_tensor *pred = lnL_check_float(L, 2, u->o->unit->name);
    ln_tensor *y = lnL_check_tensor(L, 3);
    ln_ctx *ctx = lnL_ctx();
    char a[128], b[128];
    if (pred->ndim < 1 || y->ndim < 1 || pred->shape[0] != y->shape[0])
        return luaL_error(L, "%s: y_true %s and y_pred %s differ in sample count",
                          u->o->unit->name, ln_shape_str(y, a, sizeof a),
                          ln_shape_str(pred, b, sizeof b));
    int64_t n = pred->shape[0];
    ln_tensor *out = ln_tensor_new(ctx, LN_FLOAT32, 1, &n);
    if (!out) return lnL_raise(L);
    lnL_push_tensor(L, out);
    for (int64_t i = 0; i < n; i++) {
        ln_tensor *p = ln_tensor_narrow(ctx, pred, i, 1);
        ln_tensor *t = p ? ln_tensor_narrow(ctx, y, i, 1) : NULL;
        double v = 0, total = 0, count = 0;
        ln_status st = ctx->status;
        if (t && kind == LN_KIND_LOSS) {
            const ln_loss_ops *ops = u->o->unit->ops;
            st = ops->compute(ctx, u->o->state, p, t, 0, &v, NULL);
        } else if (t) {
            const ln_metric_ops *ops = u->o->unit->ops;
            st = ops->update(ctx, u->o->state, p, t, &total, &count);
            v = count > 0 ? total / count : 0;
        }
        ln_tensor_release(p);
        ln_tensor_release(t);
        if (st) {
            /* a row's message names the row's shapes: the whole batch's
            ** check names the shapes the caller gave */
            ln_ctx_clear(ctx);
            if (kind == LN_KIND_LOSS)
                st = ((const ln_loss_ops *)u->o->unit->ops)->compute(ctx, u->o->state,
                                                                     pred, y, 0, &v, NULL);
            else
                st = ((const ln_metric_ops *)u->o->unit->ops)->update(ctx, u->o->state,
                                                                      pred, y, &total, &count);
            if (!st) ln_fail(ctx, LN_E_ARG, "%s: sample %lld (1-based) of y_true %s and "
                             "y_pred %s cannot be scored", u->o->unit->name,
                             (long long)i + 1, ln_shape_str(y, a, sizeof a),
                             ln_shape_str(pred, b, sizeof b));
            return lnL_raise(L);
        }
        ln_f32(out)[i] = (float)v;
    }
    return 1;
}

static int object_logits_activation(lua_State *L) {
    lnL_object *u = check_kind(L, 1, LN_KIND_LOSS, "logits_activation");
    const ln_loss_ops *ops = u->o->unit->ops;
    if (!ops->logits_activation) return 0;
    lua_pushstring(L, ops->logits_activation);
    return 1;
}

/* metric:update(pred, y [, w]): adds the batch to the running totals (w:
** one weight per sample, Keras's weighted Mean). A loss
** object used as a metric adds its batch mean weighted by batch size. */
static int object_update(lua_State *L) {
    lnL_object *u = lnL_check_object(L, 1);
    ln_tensor *pred = lnL_check_float(L, 2, u->o->unit->name);
    ln_tensor *y = lnL_check_tensor(L, 3);
    ln_ctx *ctx = lnL_ctx();
    const float *w = NULL;
    if (!lua_isnoneornil(L, 4)) { /* sample weights: one per row of pred */
        ln_tensor *wt = lnL_check_float(L, 4, u->o->unit->name);
        char a[128], b[128];
        int64_t n = pred->ndim ? pred->shape[0] : 1;
        if (!(wt->ndim == 1 || (wt->ndim == 2 && wt->shape[1] == 1)) || wt->shape[0] != n)
            return luaL_error(L, "%s: sample_weight %s must hold one weight per sample of "
                              "y_pred %s", u->o->unit->name, ln_shape_str(wt, a, sizeof a),
                              ln_shape_str(pred, b, sizeof b));
        w = ln_f32(wt);
    }
    lnL_check(L, ln_metric_update_weighted(ctx, u->o, pred, y, w, &u->total, &u->count));
    return 0;
}

/* metric:result() -> total / count (0 before any update, as Keras). */
static int object_result(lua_State *L) {
    lnL_object *u = lnL_check_object(L, 1);
    lua_pushnumber(L, u->count > 0 ? u->total / u->count : 0.0);
    return 1;
}

static int object_reset(lua_State *L) {
    lnL_object *u = lnL_check_object(L, 1);
    u->total = u->count = 0;
    return 0;
}

/* activation:apply(x) -> a new tensor f(x), rows = first axis. */
static int object_apply(lua_State *L) {
    lnL_object *u = check_kind(L, 1, LN_KIND_ACTIVATION, "apply");
    ln_tensor *x = lnL_check_float(L, 2, u->o->unit->name);
    if (x->ndim < 1)
        return luaL_error(L, "%s: expects at least a 1-D tensor", u->o->unit->name);
    ln_tensor *y = ln_tensor_empty(lnL_ctx(), LN_FLOAT32, x->ndim, x->shape);
    if (!y) return lnL_raise(L);
    int64_t cols = x->shape[x->ndim - 1];
    ln_activation_forward(u->o, ln_f32(x), ln_f32(y), cols ? x->numel / cols : 0,
                          cols);
    lnL_push_tensor(L, y);
    return 1;
}

/* activation:gradient(x, dy) -> a new tensor f'(x) . dy. */
static int object_gradient(lua_State *L) {
    lnL_object *u = check_kind(L, 1, LN_KIND_ACTIVATION, "gradient");
    const char *nm = u->o->unit->name;
    ln_tensor *x = lnL_check_float(L, 2, nm);
    ln_tensor *dy = lnL_check_float(L, 3, nm);
    char a[128], b[128];
    if (!ln_shape_equal(x, dy) || x->ndim < 1)
        return luaL_error(L, "%s: x %s and dy %s must have one shape", nm,
                          ln_shape_str(x, a, sizeof a), ln_shape_str(dy, b, sizeof b));
    ln_ctx *ctx = lnL_ctx();
    ln_tensor *y = ln_tensor_new_like(ctx, x);
    ln_tensor *dx = y ? ln_tensor_new_like(ctx, x) : NULL;
    if (!dx) {
        ln_tensor_release(y);
        return lnL_raise(L);
    }
    int64_t cols = x->shape[x->ndim - 1], rows = cols ? x->numel / cols : 0;
    ln_activation_forward(u->o, ln_f32(x), ln_f32(y), rows, cols);
    ln_activation_backward(u->o, ln_f32(x), ln_f32(y), ln_f32(dy), ln_f32(dx),
                           rows, cols);
    ln_tensor_release(y);
    lnL_push_tensor(L, dx);
    return 1;
}

static int object_tostring(lua_State *L) {
    lnL_object *u = luaL_checkudata(L, 1, LN_OBJECT_MT);
    if (!u->o) lua_pushliteral(L, "Object(freed)");
    else
        lua_pushfstring(L, "%s '%s'", ln_kind_name(u->o->unit->kind),
                        u->o->unit->name);
    return 1;
}

/* ---- initializers --------------------------------------------------------------- */

/* nn.initializer_fill(name, args, shape) -> a new float32 tensor filled
** from the global generator. */
static int l_initializer_fill(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    int64_t shape[LN_MAX_DIM];
    luaL_checktype(L, 3, LUA_TTABLE);
    int nd = lnL_check_shape(L, 3, shape, name);
    ln_ctx *ctx = lnL_ctx();
    ln_tensor *t = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
    if (!t) return lnL_raise(L);
    lnL_push_tensor(L, t);
    ln_args *args = lnL_to_args(L, 2, name);
    ln_status st = ln_initializer_fill(ctx, name, args, t, ln_rng_global());
    ln_args_free(args);
    lnL_check(L, st);
    return 1;
}

/* nn.initializer_check(name, args): raises if the name is unknown or an
** argument is refused. Fills a 1x1 tensor from a private generator, so the
** global random stream is untouched. */
static int l_initializer_check(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    ln_ctx *ctx = lnL_ctx();
    int64_t shape[2] = {1, 1};
    ln_tensor *t = ln_tensor_new(ctx, LN_FLOAT32, 2, shape);
    if (!t) return lnL_raise(L);
    lnL_push_tensor(L, t);
    ln_args *args = lnL_to_args(L, 2, name);
    ln_rng rng;
    ln_rng_seed(&rng, 0);
    ln_status st = ln_initializer_fill(ctx, name, args, t, &rng);
    ln_args_free(args);
    lnL_check(L, st);
    return 0;
}

/* ---- registration ------------------------------------------------------------------ */

/* Adds the layer and object functions to the table at the top (core.nn). */
void lnL_open_nn(lua_State *L) {
    static const luaL_Reg layer_methods[] = {
        {"set_name", layer_set_name},
        {"build", layer_build},
        {"build_inputs", layer_build_inputs},
        {"input_count", layer_input_count},
        {"is_built", layer_is_built},
        {"input_shape", layer_input_shape},
        {"output_shape", layer_output_shape},
        {"forward", layer_forward},
        {"call", layer_call},
        {"backward", layer_backward},
        {"weights", layer_weights},
        {"config", layer_config},
        {"output_activation", layer_output_activation},
        {"trainable", layer_trainable},
        {"regularization_loss", layer_regularization_loss},
        {"reset_states", layer_reset_states},
        {"unit", layer_unit},
        {"count_params", layer_count_params},
        {NULL, NULL}};
    static const luaL_Reg layer_meta[] = {{"__gc", layer_gc},
                                          {"__tostring", layer_tostring},
                                          {NULL, NULL}};
    luaL_newmetatable(L, LN_LAYER_MT);
    lnL_register(L, layer_meta);
    lua_newtable(L);
    lnL_register(L, layer_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg object_methods[] = {
        {"unit", object_unit},
        {"config", object_config},
        {"compute", object_compute},
        {"per_sample", object_per_sample},
        {"logits_activation", object_logits_activation},
        {"update", object_update},
        {"result", object_result},
        {"reset", object_reset},
        {"apply", object_apply},
        {"gradient", object_gradient},
        {NULL, NULL}};
    static const luaL_Reg object_meta[] = {{"__gc", object_gc},
                                           {"__tostring", object_tostring},
                                           {NULL, NULL}};
    luaL_newmetatable(L, LN_OBJECT_MT);
    lnL_register(L, object_meta);
    lua_newtable(L);
    lnL_register(L, object_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg fns[] = {
        {"layer_new", l_layer_new},
        {"loss_new", l_loss_new},
        {"metric_new", l_metric_new},
        {"activation_new", l_activation_new},
        {"initializer_fill", l_initializer_fill},
        {"initializer_check", l_initializer_check},
        {NULL, NULL}};
    lnL_register(L, fns);
}
