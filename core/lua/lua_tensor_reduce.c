/*
** lua_tensor_reduce.c -- reductions of Tensor and whole-tensor tests.
**
** Without a dim, a reduction returns a Lua number: :sum, :min, :max of
** integer tensors are exact Lua integers; :argmax/:argmin give the 1-based
** flat position. With a dim (1-based, negative from the end) it returns a
** tensor without that dim (kept with size 1 when keepdim is true): float32
** for sum/mean/std/var, the input's dtype for min/max (plus the 1-based
** int32 positions as a second result), int32 1-based positions for
** argmax/argmin. Integer tensors are reduced along a dim in float32 (exact
** below 2^24); min/max's values are then the elements at the positions
** found, exact. :std and :var are unbiased (÷ n-1), like Torch.
*/
#include <math.h>
#include <stdint.h>

#include "lua_tensor.h"

/* outer/len/inner of x viewed around dim. */
static void around(const ln_tensor *x, int dim, int64_t *outer, int64_t *len,
                   int64_t *inner) {
    *outer = *inner = 1;
    *len = x->shape[dim];
    for (int i = 0; i < x->ndim; i++) {
        if (i < dim) *outer *= x->shape[i];
        if (i > dim) *inner *= x->shape[i];
    }
}

/* The shape of t reduced along dim (kept as 1 with keepdim) into shape,
** its rank into *nd. */
static void reduced_shape(const ln_tensor *t, int dim, int keepdim,
                          int64_t *shape, int *nd) {
    *nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i != dim) shape[(*nd)++] = t->shape[i];
        else if (keepdim) shape[(*nd)++] = 1;
    }
}

/* Reduce the float32 tensor x along dim with ln_reduce into a float32
** tensor (pushed). */
static ln_tensor *reduce_f32(lua_State *L, ln_tensor *x, int dim, int keepdim,
                             ln_reduce_op op) {
    int64_t shape[LN_MAX_DIM], outer, len, inner;
    int nd;
    around(x, dim, &outer, &len, &inner);
    reduced_shape(x, dim, keepdim, shape, &nd);
    ln_tensor *y = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, nd, shape));
    if (y->numel) ln_reduce(op, ln_f32(y), ln_f32(x), outer, len, inner);
    return y;
}

/* Reduce t (any dtype; float32 copy pushed when it is not) along dim. */
static ln_tensor *reduce_dim(lua_State *L, ln_tensor *t, int dim, int keepdim,
                             ln_reduce_op op) {
    return reduce_f32(L, lnT_as(L, t, LN_FLOAT32), dim, keepdim, op);
}

static void no_empty(lua_State *L, const ln_tensor *t, int dim, const char *fn) {
    char b[128];
    if (dim < 0 ? t->numel == 0 : t->shape[dim] == 0)
        luaL_error(L, "%s: nothing to reduce in a tensor of shape %s", fn,
                   lnT_shape(t, b, sizeof b));
}

/* The first position of the extreme of p[0], p[inner], ... (len of them)
** under ln_reduce's rule: the first of equal values, the first NaN. */
static int64_t arg_strided(const float *p, int64_t len, int64_t inner, int want_max) {
    int64_t at = 0;
    float best = p[0];
    for (int64_t l = 0; l < len; l++) {
        float v = p[l * inner];
        if (v != v) return l;
        if (want_max ? v > best : v < best) best = v, at = l;
    }
    return at;
}

/* int32 1-based positions of the extremes of the float32 x along dim
** (pushed; x's dim not empty; x of any dtype along a unit axis). ln_reduce
** gives them as floats, exact up to 2^24; a longer axis is searched here
** with int64 positions. */
static ln_tensor *arg_positions(lua_State *L, ln_tensor *x, int dim, int keepdim,
                                int want_max, const char *fn) {
    int64_t shape[LN_MAX_DIM], outer, len, inner;
    int nd;
    around(x, dim, &outer, &len, &inner);
    if (len > INT32_MAX)
        luaL_error(L, "%s: an axis of %I elements (int32 positions end at %d)", fn,
                   (lua_Integer)len, INT32_MAX);
    reduced_shape(x, dim, keepdim, shape, &nd);
    if (len == 1) { /* a unit axis: the only position, no search */
        ln_tensor *q = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_INT32, nd, shape));
        ln_region r = {1, 0, {q->numel}, {1}};
        ln_region_fill(NULL, q, &r, 1);
        return q;
    }
    ln_tensor *q = lnT_push(L, ln_tensor_new(lnL_ctx(), LN_INT32, nd, shape));
    int32_t *d = ln_i32(q);
    const float *xs = ln_f32(x);
    if (len <= (int64_t)1 << 24) {
        ln_tensor *p = reduce_f32(L, x, dim, keepdim, want_max ? LN_R_ARGMAX : LN_R_ARGMIN);
        const float *s = ln_f32(p);
        for (int64_t i = 0; i < p->numel; i++) d[i] = (int32_t)s[i] + 1;
        lua_pop(L, 1);
        return q;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *p = xs + o * len * inner + i;
            int64_t at = inner == 1 ? ln_argext(p, len, want_max)
                                    : arg_strided(p, len, inner, want_max);
            d[o * inner + i] = (int32_t)(at + 1);
        }
    return q;
}

static int t_sum(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        int64_t is;
        double fs;
        ln_sum_all(t, &is, &fs);
        if (t->dtype == LN_FLOAT32) lua_pushnumber(L, fs);
        else lua_pushinteger(L, is);
        return 1;
    }
    reduce_dim(L, t, lnT_check_dim(L, 2, t, "sum"), lua_toboolean(L, 3), LN_R_SUM);
    return 1;
}

static int t_mean(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        double fs;
        ln_sum_all(t, NULL, &fs);
        lua_pushnumber(L, t->numel ? fs / (double)t->numel : NAN);
        return 1;
    }
    reduce_dim(L, t, lnT_check_dim(L, 2, t, "mean"), lua_toboolean(L, 3), LN_R_MEAN);
    return 1;
}

/* var/std, unbiased. */
static int spread(lua_State *L, int is_std, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        double v = ln_var_all(t, 1);
        lua_pushnumber(L, is_std ? sqrt(v) : v);
        return 1;
    }
    int dim = lnT_check_dim(L, 2, t, fn);
    int64_t n = t->shape[dim];
    ln_tensor *y = reduce_dim(L, t, dim, lua_toboolean(L, 3), is_std ? LN_R_STD : LN_R_VAR);
    float *p = ln_f32(y);
    for (int64_t i = 0; i < y->numel; i++) /* one element: no spread (NaN, as Torch) */
        p[i] = n <= 1 ? NAN : is_std ? p[i] : (float)((double)p[i] * (double)n / (double)(n - 1));
    return 1;
}

static int t_std(lua_State *L) { return spread(L, 1, "std"); }
static int t_var(lua_State *L) { return spread(L, 0, "var"); }

/* min/max: a number, or (values, 1-based positions) along a dim. */
static int extremum(lua_State *L, int want_max, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        no_empty(L, t, -1, fn);
        double v;
        ln_minmax_all(t, want_max, &v, NULL);
        if (t->dtype == LN_FLOAT32) lua_pushnumber(L, v);
        else lua_pushinteger(L, (lua_Integer)v);
        return 1;
    }
    int dim = lnT_check_dim(L, 2, t, fn), keep = lua_toboolean(L, 3);
    no_empty(L, t, dim, fn);
    /* one pass for the positions over a float32 copy (none along a unit
    ** axis); the values are t's elements there (ln_gather; along a unit
    ** axis all of them, a copy), in its dtype: int32 past 2^24 exact, where
    ** the copy rounds them (2^31 - 1 up past int32). Both come with the dim
    ** kept, then lose it unless `keep`. */
    const int unit = t->shape[dim] == 1;
    ln_tensor *q = arg_positions(L, unit ? t : lnT_as(L, t, LN_FLOAT32), dim, 1, want_max, fn);
    ln_tensor *v = lnT_push(L, unit ? ln_tensor_clone(lnL_ctx(), t)
                                    : ln_gather(lnL_ctx(), t, dim, q, 1));
    if (!keep) {
        int64_t shape[LN_MAX_DIM];
        int nd;
        reduced_shape(t, dim, 0, shape, &nd);
        lnT_push_reshape(L, v, nd, shape);
        lnT_push_reshape(L, q, nd, shape);
        return 2;
    }
    lua_pushvalue(L, -2); /* values, then positions */
    return 2;
}

static int t_max(lua_State *L) { return extremum(L, 1, "max"); }
static int t_min(lua_State *L) { return extremum(L, 0, "min"); }

static int arg_extremum(lua_State *L, int want_max, const char *fn) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        no_empty(L, t, -1, fn);
        double v;
        int64_t pos;
        ln_minmax_all(t, want_max, &v, &pos);
        lua_pushinteger(L, pos + 1);
        return 1;
    }
    int dim = lnT_check_dim(L, 2, t, fn);
    no_empty(L, t, dim, fn);
    arg_positions(L, t->shape[dim] == 1 ? t : lnT_as(L, t, LN_FLOAT32), dim,
                  lua_toboolean(L, 3), want_max, fn);
    return 1;
}

static int t_argmax(lua_State *L) { return arg_extremum(L, 1, "argmax"); }
static int t_argmin(lua_State *L) { return arg_extremum(L, 0, "argmin"); }

/* :any() / :all(): is any / every element nonzero? */
static int truth(lua_State *L, int all) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    ln_tensor *m = lnT_push(L, ln_compare_scalar(lnL_ctx(), LN_B_NE, t, 0, 0));
    int64_t c = ln_count_nonzero_u8(ln_u8(m), m->numel);
    lua_pushboolean(L, all ? c == t->numel : c > 0);
    return 1;
}

static int t_any(lua_State *L) { return truth(L, 0); }
static int t_all(lua_State *L) { return truth(L, 1); }

/* :equal(other): same shape and equal values (any dtypes). */
static int t_equal(lua_State *L) {
    ln_tensor *a = lnL_check_tensor(L, 1), *b = lnL_check_tensor(L, 2);
    lua_pushboolean(L, ln_equal(a, b));
    return 1;
}

/* allclose(a, b [, rtol = 1e-5 [, atol = 1e-8]]) like numpy. */
static int l_allclose(lua_State *L) {
    ln_tensor *a = lnL_check_tensor(L, 1), *b = lnL_check_tensor(L, 2);
    double rtol = luaL_optnumber(L, 3, 1e-5), atol = luaL_optnumber(L, 4, 1e-8);
    int r;
    lnL_check(L, ln_allclose(lnL_ctx(), a, b, rtol, atol, &r));
    lua_pushboolean(L, r);
    return 1;
}

void lnT_open_reduce(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {
        {"sum", t_sum}, {"mean", t_mean}, {"std", t_std}, {"var", t_var},
        {"max", t_max}, {"min", t_min}, {"argmax", t_argmax},
        {"argmin", t_argmin}, {"any", t_any}, {"all", t_all},
        {"equal", t_equal}, {"allclose", l_allclose}, {NULL, NULL}};
    static const luaL_Reg f[] = {{"allclose", l_allclose}, {"equal", t_equal},
                                 {NULL, NULL}};
    (void)meta;
    lua_pushvalue(L, methods);
    lnL_register(L, m);
    lua_pop(L, 1);
    lua_pushvalue(L, mod);
    lnL_register(L, f);
    lua_pop(L, 1);
}
