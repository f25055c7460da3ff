/*
** lua_tensor_inplace.c -- writing into existing tensors, so loops need no
** temporaries: in-place arithmetic and the out-parameter matmul.
**
**   a:add_(b [, alpha])   a += alpha * b      (b a number or a tensor that
**   a:sub_(b [, alpha])   a -= alpha * b       broadcasts to a's shape;
**   a:mul_(b)  a:div_(b)  a *= b, a /= b       alpha defaults to 1)
**   a:clamp_(lo, hi)      a = clamp(a, lo, hi) (nil leaves a side open)
**   a:copy_(src) a:fill_(v) a:zero_()          aliases of copy/fill/zero
**   v:assign(t) v:assign_add(t) v:assign_sub(t) TF's Variable methods
**   ln.matmul(a, b [, {out = c, transpose_a = false, transpose_b = false}])
**   c:matmul(a, b [, opts])  Torch7's form: c = a b, returns c
**   a:matmul(b [, opts])     a new tensor a b
** Every in-place form returns its target. The target keeps its dtype: for
** float32 targets the kernels write in place; an int32 or uint8 target
** gets the result of the out-of-place operation converted (a number must
** then fit it, as in assignment). An operand sharing the target's storage
** in another place is copied first, so each element is read before it is
** overwritten.
*/
#include <math.h>
#include <string.h>

#include "lua_tensor.h"
#include "lunet/tensor_nn.h"

enum { IP_ADD, IP_SUB, IP_MUL, IP_DIV };

static const ln_binary_op ip_op[] = {LN_B_ADD, LN_B_SUB, LN_B_MUL, LN_B_DIV};
static const char *const ip_name[] = {"add_", "sub_", "mul_", "div_"};
static const char *const ip_meta[] = {"__add", "__sub", "__mul", "__div"};

/* b at idx as a float32 tensor that can be read while a is written: b
** itself, a converted copy, or a copy when it overlaps a elsewhere. */
static ln_tensor *readable_operand(lua_State *L, ln_tensor *a, ln_tensor *b) {
    b = lnT_as(L, b, LN_FLOAT32);
    if (ln_tensor_shares_storage(a, b) &&
        !(b->data == a->data && b->numel == a->numel))
        b = lnT_push(L, ln_tensor_clone(lnL_ctx(), b));
    return b;
}

/* The general case: a <- (a op alpha*b) computed out of place by the
** operators (dtype rules of lua_tensor.c), then copied into a. */
static void via_operators(lua_State *L, int op, int has_alpha) {
    lua_settop(L, 3);
    luaL_getmetafield(L, 1, ip_meta[op]);
    lua_pushvalue(L, 1);
    if (has_alpha) { /* alpha * b first, as (a + alpha b) */
        luaL_getmetafield(L, 1, "__mul");
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 1);
    } else {
        lua_pushvalue(L, 2);
    }
    lua_call(L, 2, 1);
    ln_tensor *a = lnL_check_tensor(L, 1), *r = lnL_check_tensor(L, -1);
    r = lnT_as(L, r, a->dtype);
    lnL_check(L, ln_tensor_copy(lnL_ctx(), a, r));
}

static int inplace(lua_State *L, int op) {
    ln_tensor *a = lnL_check_tensor(L, 1);
    const char *fn = ip_name[op];
    int has_alpha = (op == IP_ADD || op == IP_SUB) && !lua_isnoneornil(L, 3);
    double alpha = has_alpha ? luaL_checknumber(L, 3) : 1.0;
    ln_tensor *b = lnL_test_tensor(L, 2);
    if (!b && lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "%s: expects a number or a tensor, got %s", fn,
                          luaL_typename(L, 2));
    if (a->dtype != LN_FLOAT32) {
        via_operators(L, op, has_alpha);
        lua_settop(L, 1);
        return 1;
    }
    float *pa = ln_f32(a);
    if (!b) {
        float s = (float)lua_tonumber(L, 2);
        if (op == IP_SUB) s = -s;
        if (op == IP_ADD || op == IP_SUB)
            ln_binary_scalar(LN_B_ADD, pa, pa, (float)alpha * s, 0, a->numel);
        else
            ln_binary_scalar(ip_op[op], pa, pa, s, 0, a->numel);
        lua_settop(L, 1);
        return 1;
    }
    int nd;
    int64_t shape[LN_MAX_DIM];
    char sa[128], sb[128];
    ln_ctx *ctx = lnL_ctx();
    if (ln_broadcast_shape(ctx, a->ndim, a->shape, b->ndim, b->shape, &nd, shape) ||
        nd != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)nd)) {
        ln_ctx_clear(ctx);
        return luaL_error(L, "%s: a tensor of shape %s cannot be written with an "
                          "operand of shape %s (it must broadcast to the target's "
                          "shape)", fn, lnT_shape(a, sa, sizeof sa),
                          lnT_shape(b, sb, sizeof sb));
    }
    b = readable_operand(L, a, b);
    if (has_alpha && alpha != 1.0) { /* alpha * b, then the plain update */
        ln_tensor *t = lnT_push(L, ln_tensor_empty(ctx, LN_FLOAT32, b->ndim, b->shape));
        ln_scale(ln_f32(t), ln_f32(b), (float)alpha, b->numel);
        b = t;
    }
    if (ln_shape_equal(a, b) && (op == IP_ADD || op == IP_SUB))
        ln_axpy(pa, op == IP_ADD ? 1.0f : -1.0f, ln_f32(b), a->numel);
    else
        ln_binary(ip_op[op], pa, a->ndim, a->shape, pa, a->ndim, a->shape,
                  ln_f32(b), b->ndim, b->shape);
    lua_settop(L, 1);
    return 1;
}

static int t_add_(lua_State *L) { return inplace(L, IP_ADD); }
static int t_sub_(lua_State *L) { return inplace(L, IP_SUB); }
static int t_mul_(lua_State *L) { return inplace(L, IP_MUL); }
static int t_div_(lua_State *L) { return inplace(L, IP_DIV); }

/* a:clamp_(lo, hi) */
static int t_clamp_(lua_State *L) {
    ln_tensor *a = lnL_check_tensor(L, 1);
    double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
    if (a->dtype == LN_FLOAT32) {
        ln_clamp(ln_f32(a), ln_f32(a), (float)lo, (float)hi, a->numel);
    } else {
        ln_tensor *r = lnT_push(L, ln_clamp_any(lnL_ctx(), a, lo, hi));
        lnL_check(L, ln_tensor_copy(lnL_ctx(), a, r));
    }
    lua_settop(L, 1);
    return 1;
}

/* Call method `name` of the tensor at 1 with the arguments 2.. and return
** the tensor (aliases keep one implementation). */
static int alias(lua_State *L, const char *name) {
    int n = lua_gettop(L);
    lnL_check_tensor(L, 1);
    lua_pushvalue(L, 1);
    lua_insert(L, 1); /* [self, self, args...] */
    luaL_getmetafield(L, 1, "__index");
    lua_pushvalue(L, 1);
    lua_pushstring(L, name);
    lua_call(L, 2, 1);
    lua_insert(L, 2); /* [self, method, self, args...] */
    lua_call(L, n, 0);
    return 1;
}

static int t_copy_(lua_State *L) { return alias(L, "copy"); }
static int t_fill_(lua_State *L) { return alias(L, "fill"); }
static int t_zero_(lua_State *L) { return alias(L, "zero"); }

/* ---- matmul ---------------------------------------------------------------------- */

static int opt_flag(lua_State *L, int opts, const char *key) {
    if (!opts) return 0;
    lua_getfield(L, opts, key);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* c = op(a) op(b) into out (NULL: a new tensor, pushed). Pushes c. */
static void matmul_into(lua_State *L, ln_tensor *a, ln_tensor *b, ln_tensor *out,
                        int ta, int tb) {
    char sa[128], sb[128], sc[128];
    if (a->dtype != LN_FLOAT32 || b->dtype != LN_FLOAT32)
        luaL_error(L, "matmul: expects float32 tensors, got %s and %s (use "
                   ":float())", ln_dtype_name(a->dtype), ln_dtype_name(b->dtype));
    if (a->ndim != 2 || b->ndim != 2)
        luaL_error(L, "matmul: expects 2-d tensors, got shapes %s and %s",
                   lnT_shape(a, sa, sizeof sa), lnT_shape(b, sb, sizeof sb));
    int64_t m = a->shape[ta ? 1 : 0], k = a->shape[ta ? 0 : 1];
    int64_t kb = b->shape[tb ? 1 : 0], n = b->shape[tb ? 0 : 1];
    if (k != kb)
        luaL_error(L, "matmul: shapes %s%s and %s%s do not fit (need (m, k) and "
                   "(k, n))", lnT_shape(a, sa, sizeof sa), ta ? " transposed" : "",
                   lnT_shape(b, sb, sizeof sb), tb ? " transposed" : "");
    int64_t shape[2] = {m, n};
    if (out) {
        if (out->dtype != LN_FLOAT32 || out->ndim != 2 || out->shape[0] != m ||
            out->shape[1] != n)
            luaL_error(L, "matmul: the out tensor is %s %s, the product is "
                       "float32 (%d, %d)", ln_dtype_name(out->dtype),
                       lnT_shape(out, sc, sizeof sc), (int)m, (int)n);
        if (ln_tensor_shares_storage(out, a) || ln_tensor_shares_storage(out, b))
            luaL_error(L, "matmul: the out tensor shares memory with an operand");
        lua_pushnil(L); /* the caller pushes out itself */
    } else {
        out = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, 2, shape));
    }
    ln_gemm_team(ta, tb, m, n, k, 1.0f, ln_f32(a), a->shape[1], ln_f32(b),
                 b->shape[1], 0.0f, ln_f32(out), n, NULL); /* team-aware */
}

/* ln.matmul(a, b [, opts]) */
static int l_matmul(lua_State *L) {
    ln_tensor *a = lnL_check_tensor(L, 1), *b = lnL_check_tensor(L, 2);
    int opts = lua_istable(L, 3) ? 3 : 0;
    if (!opts && !lua_isnoneornil(L, 3))
        return luaL_error(L, "matmul: options must be a table ({out = c, "
                          "transpose_a = true, ...}), got %s", luaL_typename(L, 3));
    ln_tensor *out = NULL;
    if (opts) {
        lua_getfield(L, opts, "out");
        out = lua_isnil(L, -1) ? NULL : lnL_test_tensor(L, -1);
        if (!out && !lua_isnil(L, -1))
            return luaL_error(L, "matmul: out must be a tensor, got %s",
                              luaL_typename(L, -1));
    }
    int top = lua_gettop(L);
    matmul_into(L, a, b, out, opt_flag(L, opts, "transpose_a"),
                opt_flag(L, opts, "transpose_b"));
    if (out) lua_pushvalue(L, top); /* the out tensor's own box */
    return 1;
}

/* t:matmul(b [, opts]) -> t b;  c:matmul(a, b [, opts]) -> c = a b, c */
static int t_matmul(lua_State *L) {
    ln_tensor *self = lnL_check_tensor(L, 1);
    ln_tensor *a = lnL_check_tensor(L, 2), *b = lnL_test_tensor(L, 3);
    int opts = lua_istable(L, b ? 4 : 3) ? (b ? 4 : 3) : 0;
    int ta = opt_flag(L, opts, "transpose_a"), tb = opt_flag(L, opts, "transpose_b");
    if (!b) {
        matmul_into(L, self, a, NULL, ta, tb);
        return 1;
    }
    matmul_into(L, a, b, self, ta, tb);
    lua_pushvalue(L, 1);
    return 1;
}

void lnT_open_inplace(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {
        {"add_", t_add_}, {"sub_", t_sub_}, {"mul_", t_mul_}, {"div_", t_div_},
        {"clamp_", t_clamp_}, {"copy_", t_copy_}, {"fill_", t_fill_},
        {"zero_", t_zero_}, {"assign", t_copy_}, {"assign_add", t_add_},
        {"assign_sub", t_sub_}, {"matmul", t_matmul}, {NULL, NULL}};
    static const luaL_Reg f[] = {{"matmul", l_matmul}, {NULL, NULL}};
    (void)meta;
    lnT_register_into(L, methods, m);
    lnT_register_into(L, mod, f);
}
