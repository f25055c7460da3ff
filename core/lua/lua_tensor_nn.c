/*
** lua_tensor_nn.c -- Tensor operations models are written with, beyond
** arithmetic (kernels in core/tensor_ops_nn.c):
**
**   t:softmax([dim = -1]), t:log_softmax([dim = -1])
**   t:logsumexp([dim [, keepdim]])   log(sum(exp(t))) along dim, stable;
**                                    without dim over every element (a number)
**   t:norm([p = 2 [, dim [, keepdim]]])  p-norm (math.huge: max |t|);
**                                    without dim over every element (a number)
**   ln.where(cond, a, b)             cond ? a : b elementwise, broadcasting;
**                                    a, b float32 tensors or numbers
**   ln.stack({t1, t2, ...} [, dim = 1])  a new dim of size n at dim
**   a < b, a <= b (and > >=)         one-element tensors and numbers compare
**                                    like numbers (the 0-d results of a tape)
** Dims are 1-based (negative from the end); results are float32. Inside
** tape:run, reductions of recorded tensors give 0-d tensors instead of
** numbers (lua_autograd.c).
*/
#include <math.h>
#include <string.h>

#include "lua_tensor.h"
#include "lunet/tensor_nn.h"

static int softmax(lua_State *L, int take_log, const char *fn) {
    ln_tensor *t = lnL_check_float(L, 1, fn);
    char b[128];
    if (t->ndim == 0)
        return luaL_error(L, "%s: expects at least 1 dim, got shape %s", fn,
                          lnT_shape(t, b, sizeof b));
    int dim = lnT_opt_dim(L, 2, t, t->ndim - 1, fn);
    lnT_push(L, ln_softmax_dim(lnL_ctx(), t, dim, take_log));
    return 1;
}

static int t_softmax(lua_State *L) { return softmax(L, 0, "softmax"); }
static int t_log_softmax(lua_State *L) { return softmax(L, 1, "log_softmax"); }

/* t viewed as 1-d (every element along one dim), pushed. */
static ln_tensor *flat(lua_State *L, ln_tensor *t) {
    return lnT_push_reshape(L, t, 1, &t->numel);
}

static int t_logsumexp(lua_State *L) {
    ln_tensor *t = lnL_check_float(L, 1, "logsumexp");
    if (lua_isnoneornil(L, 2)) {
        ln_tensor *y = lnT_push(L, ln_logsumexp(lnL_ctx(), flat(L, t), 0, 0));
        lua_pushnumber(L, ln_f32(y)[0]);
        return 1;
    }
    int dim = lnT_check_dim(L, 2, t, "logsumexp");
    lnT_push(L, ln_logsumexp(lnL_ctx(), t, dim, lua_toboolean(L, 3)));
    return 1;
}

static int t_norm(lua_State *L) {
    ln_tensor *t = lnL_check_float(L, 1, "norm");
    double p = luaL_optnumber(L, 2, 2);
    if (!(p > 0))
        return luaL_error(L, "norm: p must be > 0 (or math.huge), got %f", p);
    if (lua_isnoneornil(L, 3)) {
        ln_tensor *y = lnT_push(L, ln_norm(lnL_ctx(), t, p, -1, 0));
        lua_pushnumber(L, ln_f32(y)[0]);
        return 1;
    }
    int dim = lnT_check_dim(L, 3, t, "norm");
    lnT_push(L, ln_norm(lnL_ctx(), t, p, dim, lua_toboolean(L, 4)));
    return 1;
}

/* A where() branch: a float32 tensor (converted when needed) or a number. */
static ln_tensor *branch(lua_State *L, int idx, double *v) {
    ln_tensor *t = lnL_test_tensor(L, idx);
    if (t) return lnT_as(L, t, LN_FLOAT32);
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "where: argument %d must be a tensor or a number, got %s",
                   idx, luaL_typename(L, idx));
    *v = lua_tonumber(L, idx);
    return NULL;
}

static int l_where(lua_State *L) {
    ln_tensor *c = lnL_check_tensor(L, 1);
    double sa = 0, sb = 0;
    ln_tensor *a = branch(L, 2, &sa), *b = branch(L, 3, &sb);
    lnT_push(L, ln_where(lnL_ctx(), c, a, sa, b, sb));
    return 1;
}

static int l_stack(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    char a[128], b[128];
    if (n < 1) return luaL_error(L, "stack: expects a non-empty list of tensors");
    lua_settop(L, 2);
    lua_geti(L, 1, 1);
    ln_tensor *first = lnL_test_tensor(L, -1);
    if (!first) return luaL_error(L, "stack: entry 1 is a %s, not a tensor",
                                  luaL_typename(L, -1));
    lua_pop(L, 1);
    lua_Integer d = luaL_optinteger(L, 2, 1), given = d;
    if (d < 0) d += first->ndim + 2;
    if (d < 1 || d > first->ndim + 1 || first->ndim == LN_MAX_DIM)
        return luaL_error(L, "stack: dim %d out of range for tensors of shape %s",
                          (int)given, lnT_shape(first, a, sizeof a));
    int64_t shape[LN_MAX_DIM];
    for (int i = 0, k = 0; i <= first->ndim; i++)
        shape[i] = i == d - 1 ? 1 : first->shape[k++];
    const ln_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        ln_tensor *t = lnL_test_tensor(L, -1);
        if (!t) return luaL_error(L, "stack: entry %d is a %s, not a tensor", i + 1,
                                  luaL_typename(L, -1));
        if (!ln_shape_equal(t, first))
            return luaL_error(L, "stack: entry %d has shape %s, entry 1 %s (stacked "
                              "tensors have one shape)", i + 1,
                              lnT_shape(t, a, sizeof a), lnT_shape(first, b, sizeof b));
        ts[i] = lnT_push_reshape(L, t, first->ndim + 1, shape); /* stays on the stack */
        lua_remove(L, -2);
    }
    lnT_push(L, ln_cat(lnL_ctx(), ts, n, (int)d - 1, "stack"));
    return 1;
}

/* The value of a one-element tensor or a number at idx, for < and <=. */
static double scalar_of(lua_State *L, int idx, const char *op) {
    if (lua_type(L, idx) == LUA_TNUMBER) return lua_tonumber(L, idx);
    ln_tensor *t = lnL_test_tensor(L, idx);
    char b[128];
    if (!t || t->numel != 1)
        luaL_error(L, "comparison (%s): only one-element tensors and numbers compare "
                   "like numbers, got %s (use :lt() :le() :gt() :ge() for masks)", op,
                   t ? lnT_shape(t, b, sizeof b) : luaL_typename(L, idx));
    return ln_get_f64(t, 0);
}

static int t_lt(lua_State *L) {
    lua_pushboolean(L, scalar_of(L, 1, "<") < scalar_of(L, 2, "<"));
    return 1;
}

static int t_le(lua_State *L) {
    lua_pushboolean(L, scalar_of(L, 1, "<=") <= scalar_of(L, 2, "<="));
    return 1;
}

void lnT_open_nn(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {{"softmax", t_softmax},
                                 {"log_softmax", t_log_softmax},
                                 {"logsumexp", t_logsumexp},
                                 {"norm", t_norm},
                                 {NULL, NULL}};
    static const luaL_Reg f[] = {{"where", l_where}, {"stack", l_stack}, {NULL, NULL}};
    static const luaL_Reg mm[] = {{"__lt", t_lt}, {"__le", t_le}, {NULL, NULL}};
    lnT_register_into(L, methods, m);
    lnT_register_into(L, mod, f);
    lnT_register_into(L, meta, mm);
}
