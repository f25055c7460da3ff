/*
** lua_tensor_math.c -- operators and elementwise methods of Tensor:
** + - * / ^ // % and unary minus with numbers and tensors (numpy
** broadcasting), math functions, clamp, comparisons giving uint8 masks, and
** & | ~ on masks. dtype rules: see the comment at the top of lua_tensor.c.
*/
#include <math.h>
#include <string.h>

#include "lua_tensor.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_IDIV, OP_MOD, OP_MAX, OP_MIN };

static const ln_binary_op float_op[] = {LN_B_ADD, LN_B_SUB, LN_B_MUL, LN_B_DIV,
                                        LN_B_POW, LN_B_ADD, LN_B_ADD, LN_B_MAX,
                                        LN_B_MIN};
static const ln_arith_op int_op[] = {LN_A_ADD, LN_A_SUB, LN_A_MUL, LN_A_ADD,
                                     LN_A_ADD, LN_A_IDIV, LN_A_MOD, LN_A_MAX,
                                     LN_A_MIN};
static const int int_ok[] = {1, 1, 1, 0, 0, 1, 1, 1, 1};

/* A tensor or a number operand. */
typedef struct operand {
    ln_tensor *t;
    double v;
    int is_int;
    lua_Integer iv;
} operand;

static void get_operand(lua_State *L, int idx, operand *o, const char *fn) {
    o->t = lnL_test_tensor(L, idx);
    o->is_int = 0;
    if (o->t) return;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "%s: expects tensors or numbers, argument %d is %s", fn,
                   idx, luaL_typename(L, idx));
    o->v = lua_tonumber(L, idx);
    o->is_int = lua_isinteger(L, idx);
    if (o->is_int) o->iv = lua_tointeger(L, idx);
}

/* Push a op b (a or b a tensor); the result is on the top. */
static int arith(lua_State *L, int op, const char *fn) {
    operand a, b;
    ln_ctx *ctx = lnL_ctx();
    get_operand(L, 1, &a, fn);
    get_operand(L, 2, &b, fn);
    if (!a.t && !b.t) return luaL_error(L, "%s: expects a tensor", fn);
    int ints = int_ok[op] && (a.t ? a.t->dtype != LN_FLOAT32 : a.is_int) &&
               (b.t ? b.t->dtype != LN_FLOAT32 : b.is_int);
    if (ints) {
        ln_tensor *x = a.t ? lnT_as(L, a.t, LN_INT32) : NULL;
        ln_tensor *y = b.t ? lnT_as(L, b.t, LN_INT32) : NULL;
        ln_arith_op iop = int_op[op];
        if (x && y) lnT_push(L, ln_arith_i32(ctx, iop, x, y));
        else if (x) lnT_push(L, ln_arith_i32_scalar(ctx, iop, x, b.iv, 0));
        else lnT_push(L, ln_arith_i32_scalar(ctx, iop, y, a.iv, 1));
        return 1;
    }
    ln_tensor *x = a.t ? lnT_as(L, a.t, LN_FLOAT32) : NULL;
    ln_tensor *y = b.t ? lnT_as(L, b.t, LN_FLOAT32) : NULL;
    if (op == OP_IDIV || op == OP_MOD) {
        ln_arith_op iop = int_op[op];
        if (x) lnT_push(L, ln_floordiv_mod_f32(ctx, iop, x, y, (float)b.v, 0));
        else lnT_push(L, ln_floordiv_mod_f32(ctx, iop, y, NULL, (float)a.v, 1));
        return 1;
    }
    ln_binary_op bop = float_op[op];
    if (x && y) {
        int nd;
        int64_t shape[LN_MAX_DIM];
        if (ln_broadcast_shape(ctx, x->ndim, x->shape, y->ndim, y->shape, &nd,
                               shape)) {
            ln_prefix(ctx, "%s", fn);
            return lnL_raise(L);
        }
        ln_tensor *z = lnT_push(L, ln_tensor_empty(ctx, LN_FLOAT32, nd, shape));
        ln_binary(bop, ln_f32(z), nd, shape, ln_f32(x), x->ndim, x->shape,
                  ln_f32(y), y->ndim, y->shape);
        return 1;
    }
    ln_tensor *t = x ? x : y;
    ln_tensor *z = lnT_push(L, ln_tensor_empty(ctx, LN_FLOAT32, t->ndim, t->shape));
    ln_binary_scalar(bop, ln_f32(z), ln_f32(t), (float)(x ? b.v : a.v), !x,
                     t->numel);
    return 1;
}

static int t_add(lua_State *L) { return arith(L, OP_ADD, "add (+)"); }
static int t_sub(lua_State *L) { return arith(L, OP_SUB, "sub (-)"); }
static int t_mul(lua_State *L) { return arith(L, OP_MUL, "mul (*)"); }
static int t_div(lua_State *L) { return arith(L, OP_DIV, "div (/)"); }
static int t_pow(lua_State *L) { return arith(L, OP_POW, "pow (^)"); }
static int t_idiv(lua_State *L) { return arith(L, OP_IDIV, "floor division (//)"); }
static int t_mod(lua_State *L) { return arith(L, OP_MOD, "modulo (%)"); }
static int t_maximum(lua_State *L) { return arith(L, OP_MAX, "maximum"); }
static int t_minimum(lua_State *L) { return arith(L, OP_MIN, "minimum"); }

/* Unary minus and abs keep integers (as int32); the rest give float32. */
static int unary(lua_State *L, ln_unary_op op, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    (void)fn;
    if (t->dtype != LN_FLOAT32 && (op == LN_U_NEG || op == LN_U_ABS)) {
        ln_tensor *x = lnT_as(L, t, LN_INT32);
        lnT_push(L, ln_neg_abs_i32(lnL_ctx(), x, op == LN_U_ABS));
        return 1;
    }
    ln_tensor *x = lnT_as(L, t, LN_FLOAT32);
    ln_tensor *z = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, x->ndim, x->shape));
    ln_unary(op, ln_f32(z), ln_f32(x), x->numel);
    return 1;
}

static int t_unm(lua_State *L) { return unary(L, LN_U_NEG, "unary minus"); }
static int t_abs(lua_State *L) { return unary(L, LN_U_ABS, "abs"); }
static int t_exp(lua_State *L) { return unary(L, LN_U_EXP, "exp"); }
static int t_log(lua_State *L) { return unary(L, LN_U_LOG, "log"); }
static int t_sqrt(lua_State *L) { return unary(L, LN_U_SQRT, "sqrt"); }
static int t_square(lua_State *L) { return unary(L, LN_U_SQUARE, "square"); }
static int t_sign(lua_State *L) { return unary(L, LN_U_SIGN, "sign"); }
static int t_floor(lua_State *L) { return unary(L, LN_U_FLOOR, "floor"); }
static int t_ceil(lua_State *L) { return unary(L, LN_U_CEIL, "ceil"); }
static int t_round(lua_State *L) { return unary(L, LN_U_ROUND, "round"); }
static int t_tanh(lua_State *L) { return unary(L, LN_U_TANH, "tanh"); }
static int t_sigmoid(lua_State *L) { return unary(L, LN_U_SIGMOID, "sigmoid"); }

/* :clamp(lo, hi) keeping the dtype; nil leaves a side open. */
static int t_clamp(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
    lnT_push(L, ln_clamp_any(lnL_ctx(), t, lo, hi));
    return 1;
}

/* Comparisons: masks (uint8 0/1). The other operand is a number or a tensor
** that broadcasts. */
static int compare(lua_State *L, ln_binary_op op, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    ln_tensor *o = lnL_test_tensor(L, 2);
    if (o) {
        ln_tensor *m = ln_compare(lnL_ctx(), op, t, o);
        if (!m) {
            ln_prefix(lnL_ctx(), "%s", fn);
            return lnL_raise(L);
        }
        lnT_push(L, m);
        return 1;
    }
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "%s: compares with a number or a tensor, got %s",
                          fn, luaL_typename(L, 2));
    lnT_push(L, ln_compare_scalar(lnL_ctx(), op, t, lua_tonumber(L, 2), 0));
    return 1;
}

static int t_eq(lua_State *L) { return compare(L, LN_B_EQ, "eq"); }
static int t_ne(lua_State *L) { return compare(L, LN_B_NE, "ne"); }
static int t_lt(lua_State *L) { return compare(L, LN_B_LT, "lt"); }
static int t_le(lua_State *L) { return compare(L, LN_B_LE, "le"); }
static int t_gt(lua_State *L) { return compare(L, LN_B_GT, "gt"); }
static int t_ge(lua_State *L) { return compare(L, LN_B_GE, "ge"); }

/* The uint8 mask at idx; raises naming the operator otherwise. */
static ln_tensor *check_mask(lua_State *L, int idx, const char *fn) {
    ln_tensor *m = lnL_test_tensor(L, idx);
    if (!m)
        luaL_error(L, "%s: combines uint8 masks, argument %d is %s", fn, idx,
                   luaL_typename(L, idx));
    if (m->dtype != LN_UINT8)
        luaL_error(L, "%s: combines uint8 masks, argument %d is %s (make a mask "
                   "with :ne(0), :gt(...) ...)", fn, idx, ln_dtype_name(m->dtype));
    return m;
}

static int logical(lua_State *L, ln_logic_op op, const char *fn) {
    ln_tensor *a = check_mask(L, 1, fn), *b = check_mask(L, 2, fn);
    ln_tensor *m = ln_logical(lnL_ctx(), op, a, b);
    if (!m) {
        ln_prefix(lnL_ctx(), "%s", fn);
        return lnL_raise(L);
    }
    lnT_push(L, m);
    return 1;
}

static int t_band(lua_State *L) { return logical(L, LN_L_AND, "and (&)"); }
static int t_bor(lua_State *L) { return logical(L, LN_L_OR, "or (|)"); }
static int t_bxor(lua_State *L) { return logical(L, LN_L_XOR, "xor (~)"); }

static int t_bnot(lua_State *L) {
    lnT_push(L, ln_logical_not(lnL_ctx(), check_mask(L, 1, "not (~)")));
    return 1;
}

void lnT_open_math(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {
        {"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div},
        {"pow", t_pow}, {"idiv", t_idiv}, {"mod", t_mod},
        {"maximum", t_maximum}, {"minimum", t_minimum}, {"neg", t_unm},
        {"abs", t_abs}, {"exp", t_exp}, {"log", t_log}, {"sqrt", t_sqrt},
        {"square", t_square}, {"sign", t_sign}, {"floor", t_floor},
        {"ceil", t_ceil}, {"round", t_round}, {"tanh", t_tanh},
        {"sigmoid", t_sigmoid}, {"clamp", t_clamp}, {"eq", t_eq},
        {"ne", t_ne}, {"lt", t_lt}, {"le", t_le}, {"gt", t_gt}, {"ge", t_ge},
        {"logical_and", t_band}, {"logical_or", t_bor},
        {"logical_xor", t_bxor}, {"logical_not", t_bnot}, {NULL, NULL}};
    static const luaL_Reg mm[] = {
        {"__add", t_add}, {"__sub", t_sub}, {"__mul", t_mul},
        {"__div", t_div}, {"__pow", t_pow}, {"__idiv", t_idiv},
        {"__mod", t_mod}, {"__unm", t_unm}, {"__band", t_band},
        {"__bor", t_bor}, {"__bxor", t_bxor}, {"__bnot", t_bnot},
        {NULL, NULL}};
    (void)mod;
    lua_pushvalue(L, methods);
    lnL_register(L, m);
    lua_pop(L, 1);
    lua_pushvalue(L, meta);
    lnL_register(L, mm);
    lua_pop(L, 1);
}
