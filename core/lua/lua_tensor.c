/*
** lua_tensor.c -- the Tensor userdata: creation, dtypes, shape, views and
** copies. Indexing is in lua_tensor_index.c, operators and comparisons in
** lua_tensor_math.c, reductions in lua_tensor_reduce.c, printing and
** tables in lua_tensor_fmt.c. The user-facing description is
** docs/tensors.md; the rules in short:
**
** Positions and dims are 1-based like Lua and Torch7; a negative dim or
** position counts from the end (-1 is the last). Class labels stay 0-based
** data, as in the dataset files and Keras.
**
** dtypes: float32 (math), int32 (labels, indices), uint8 (pixels, masks).
**  - + - * // % and unary minus, abs, clamp, maximum/minimum keep integers:
**    when every tensor operand is int32 or uint8 and every number is a Lua
**    integer, the result is int32 (uint8 operands are widened first;
**    results wrap like C int32). Otherwise the result is float32.
**  - / and ^ and the math functions (exp, log, sqrt, ...) always give
**    float32, like Lua's / and ^ give floats.
**  - comparisons (:eq :ne :lt :le :gt :ge) give uint8 masks of 0/1 for any
**    dtypes (compared as numbers); & | ~ combine uint8 masks (~ alone is
**    logical not).
**  - assignment (t[...] = v, masked, indexed, :copy, :fill) keeps the
**    target's dtype: tensor values are converted like :float()/:int()/
**    :byte() do (float to int truncates); a Lua number must fit the dtype.
**  - :float() :int() :byte() :type(d) return the tensor itself when it
**    already has that dtype (use :clone() for a copy).
**
** Views: tensors are always contiguous, so a view is a contiguous block of
** the same storage: narrow/select along dim 1, reshape/view/flatten/
** squeeze/unsqueeze, t[i] and t[{i, j}] on leading dims. narrow/select
** along other dims, transpose/permute and slices that are not one block
** return copies.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_tensor.h"
#include "lunet/overflow.h"

/* ---- shared helpers ---------------------------------------------------------- */

ln_tensor *lnT_push(lua_State *L, ln_tensor *t) {
    lnL_push_tensor(L, t);
    return t;
}

const char *lnT_shape(const ln_tensor *t, char *buf, size_t n) {
    return ln_shape_str(t, buf, n);
}

ln_dtype lnT_opt_dtype(lua_State *L, int idx, ln_dtype def, const char *fn) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: dtype must be a string (\"float32\", \"int32\" or "
                   "\"uint8\"), got %s", fn, luaL_typename(L, idx));
    const char *s = lua_tostring(L, idx);
    if (!strcmp(s, "float32") || !strcmp(s, "float")) return LN_FLOAT32;
    if (!strcmp(s, "int32") || !strcmp(s, "int")) return LN_INT32;
    if (!strcmp(s, "uint8") || !strcmp(s, "byte")) return LN_UINT8;
    luaL_error(L, "%s: unknown dtype '%s' (use \"float32\", \"int32\" or "
               "\"uint8\")", fn, s);
    return def;
}

int lnT_check_dim(lua_State *L, int idx, const ln_tensor *t, const char *fn) {
    int64_t given = lnL_check_int(L, idx, fn, "dim", INT64_MIN, INT64_MAX), d = 0;
    char b[128];
    if (!ln_pos_ok(given, t->ndim, &d))
        luaL_error(L, "%s: dim %I out of range for shape %s (dims are 1..%d, "
                   "negative count from the end)", fn, (lua_Integer)given,
                   lnT_shape(t, b, sizeof b), t->ndim);
    return (int)d;
}

int lnT_opt_dim(lua_State *L, int idx, const ln_tensor *t, int def,
                const char *fn) {
    return lua_isnoneornil(L, idx) ? def : lnT_check_dim(L, idx, t, fn);
}

int64_t lnT_check_pos(lua_State *L, lua_Integer pos, int64_t n, int dim,
                      const char *fn) {
    int64_t p = 0;
    if (!ln_pos_ok(pos, n, &p))
        luaL_error(L, "%s: index %I out of range 1..%I along dim %d "
                   "(positions are 1-based, negative count from the end)",
                   fn, pos, (lua_Integer)n, dim + 1);
    return p;
}

ln_tensor *lnT_as(lua_State *L, ln_tensor *t, ln_dtype dtype) {
    if (t->dtype == dtype) return t;
    return lnT_push(L, ln_tensor_cast(lnL_ctx(), t, dtype));
}

int lnT_shape_args(lua_State *L, int idx, int64_t *shape, int allow_infer,
                   const char *fn, int *next) {
    int n = 0;
    char what[32];
    int64_t lo = allow_infer ? -1 : 0;
    if (lua_type(L, idx) == LUA_TTABLE) {
        int len = lnL_len(L, idx, fn, "the number of dimensions", LN_MAX_DIM);
        for (int i = 0; i < len; i++) {
            lua_geti(L, idx, i + 1);
            snprintf(what, sizeof what, "size %d", i + 1);
            shape[n++] = lnL_check_int(L, -1, fn, what, lo, INT64_MAX);
            lua_pop(L, 1);
        }
        if (next) *next = idx + 1;
        return n;
    }
    int i = idx;
    for (; lua_type(L, i) == LUA_TNUMBER; i++) {
        if (n == LN_MAX_DIM)
            luaL_error(L, "%s: at most %d dimensions", fn, LN_MAX_DIM);
        snprintf(what, sizeof what, "size %d", n + 1);
        shape[n++] = lnL_check_int(L, i, fn, what, lo, INT64_MAX);
    }
    if (next) *next = i;
    return n;
}

ln_tensor *lnT_push_reshape(lua_State *L, ln_tensor *t, int nd,
                            const int64_t *shape) {
    return lnT_push(L, ln_tensor_reshape(lnL_ctx(), t, nd, shape));
}

void lnT_push_elem(lua_State *L, const ln_tensor *t, int64_t i) {
    switch (t->dtype) {
    case LN_FLOAT32: lua_pushnumber(L, (lua_Number)ln_f32(t)[i]); break;
    case LN_INT32: lua_pushinteger(L, ln_i32(t)[i]); break;
    case LN_UINT8: lua_pushinteger(L, ln_u8(t)[i]); break;
    }
}

void lnT_register_into(lua_State *L, int t, const luaL_Reg *fns) {
    lua_pushvalue(L, t);
    lnL_register(L, fns);
    lua_pop(L, 1);
}

/* Fill all of t with v (already checked to fit). */
static void fill_all(ln_tensor *t, double v) {
    ln_region r = {1, 0, {t->numel}, {1}};
    ln_region_fill(NULL, t, &r, v);
}

/* ---- creation ------------------------------------------------------------------- */

/* Shape of a nested table: follow the first entries down to a number. */
static int nested_shape(lua_State *L, int idx, int64_t *shape) {
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == LN_MAX_DIM)
            luaL_error(L, "tensor: nested tables deeper than %d", LN_MAX_DIM);
        shape[nd++] = (int64_t)lua_rawlen(L, -1);
        if (shape[nd - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

/* Copy a nested table into t (row-major), checking it is rectangular. */
static void nested_fill(lua_State *L, int tbl, ln_tensor *t, int depth,
                        int64_t *pos, int64_t *path) {
    int64_t n = (int64_t)lua_rawlen(L, tbl);
    if (n != t->shape[depth]) {
        char at[128] = "";
        size_t k = 0;
        for (int i = 0; i < depth && k < sizeof at; i++)
            k += (size_t)snprintf(at + k, sizeof at - k, "[%lld]",
                                  (long long)path[i]);
        luaL_error(L, "tensor: ragged nested table: entry %s has %I elements, "
                   "expected %I", depth ? at : "(top)", (lua_Integer)n,
                   (lua_Integer)t->shape[depth]);
    }
    for (int64_t i = 1; i <= n; i++) {
        path[depth] = i;
        lua_rawgeti(L, tbl, i);
        if (depth + 1 < t->ndim) {
            if (!lua_istable(L, -1))
                luaL_error(L, "tensor: entry at depth %d, position %I is a %s "
                           "where a table was expected", depth + 1, (lua_Integer)i,
                           luaL_typename(L, -1));
            nested_fill(L, lua_gettop(L), t, depth + 1, pos, path);
        } else {
            double v = 0;
            if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
            else if (lua_type(L, -1) == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
            else
                luaL_error(L, "tensor: element %I at depth %d is a %s, not a "
                           "number", (lua_Integer)i, depth + 1, luaL_typename(L, -1));
            if (!ln_value_fits(t->dtype, v))
                luaL_error(L, "tensor: value %s does not fit in %s",
                           lua_tostring(L, -1), ln_dtype_name(t->dtype));
            ln_set_f64(t, (*pos)++, v);
        }
        lua_pop(L, 1);
    }
}

/* ln.tensor(nested_table | number | tensor [, dtype]) */
static int l_tensor(lua_State *L) {
    ln_tensor *src = lnL_test_tensor(L, 1);
    if (src) {
        ln_dtype d = lnT_opt_dtype(L, 2, src->dtype, "tensor");
        lnT_push(L, ln_tensor_cast(lnL_ctx(), src, d));
        return 1;
    }
    ln_dtype d = lnT_opt_dtype(L, 2, LN_FLOAT32, "tensor");
    if (lua_type(L, 1) == LUA_TNUMBER) {
        double v = lua_tonumber(L, 1);
        if (!ln_value_fits(d, v))
            return luaL_error(L, "tensor: value %s does not fit in %s",
                              lua_tostring(L, 1), ln_dtype_name(d));
        ln_tensor *t = lnT_push(L, ln_tensor_new(lnL_ctx(), d, 0, NULL));
        ln_set_f64(t, 0, v);
        return 1;
    }
    if (!lua_istable(L, 1))
        return luaL_error(L, "tensor: expects a (nested) table of numbers, a "
                          "number or a tensor, got %s", luaL_typename(L, 1));
    int64_t shape[LN_MAX_DIM], path[LN_MAX_DIM], pos = 0;
    int nd = nested_shape(L, 1, shape);
    ln_tensor *t = lnT_push(L, ln_tensor_new(lnL_ctx(), d, nd, shape));
    if (t->numel) nested_fill(L, 1, t, 0, &pos, path);
    return 1;
}

/* zeros/ones(d1, d2, ... | {d1, d2, ...} [, dtype]) */
static int make_filled(lua_State *L, double v, const char *fn) {
    int64_t shape[LN_MAX_DIM];
    int next;
    int nd = lnT_shape_args(L, 1, shape, 0, fn, &next);
    ln_dtype d = lnT_opt_dtype(L, next, LN_FLOAT32, fn);
    if (!lua_isnoneornil(L, next + 1))
        return luaL_error(L, "%s: unexpected argument %d (%s)", fn, next + 1,
                          luaL_typename(L, next + 1));
    if (v == 0) {
        lnT_push(L, ln_tensor_new(lnL_ctx(), d, nd, shape));
        return 1;
    }
    fill_all(lnT_push(L, ln_tensor_empty(lnL_ctx(), d, nd, shape)), v);
    return 1;
}

static int l_zeros(lua_State *L) { return make_filled(L, 0, "zeros"); }
static int l_ones(lua_State *L) { return make_filled(L, 1, "ones"); }

/* full(shape, value [, dtype]) -- shape a table or one integer. */
static int l_full(lua_State *L) {
    int64_t shape[LN_MAX_DIM];
    int next, nd;
    if (lua_type(L, 1) == LUA_TTABLE) nd = lnT_shape_args(L, 1, shape, 0, "full", &next);
    else {
        shape[0] = lnL_check_int(L, 1, "full", "size", 0, INT64_MAX);
        nd = 1, next = 2;
    }
    double v = luaL_checknumber(L, next);
    ln_dtype d = lnT_opt_dtype(L, next + 1, LN_FLOAT32, "full");
    if (!ln_value_fits(d, v))
        return luaL_error(L, "full: value %s does not fit in %s",
                          lua_tostring(L, next), ln_dtype_name(d));
    /* every element is written: no zeroing first */
    fill_all(lnT_push(L, ln_tensor_empty(lnL_ctx(), d, nd, shape)), v);
    return 1;
}

/* arange(stop) | arange(start, stop [, step]) [, dtype]: int32 when every
** number is an integer, else float32 (numpy's half-open range). */
static int l_arange(lua_State *L) {
    double a[3];
    int n = 0, all_int = 1;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        all_int &= lua_isinteger(L, n + 1);
        a[n] = lua_tonumber(L, n + 1);
        /* computed in doubles: an integer they would round is refused */
        if (lua_isinteger(L, n + 1) &&
            (a[n] >= 9223372036854775808.0 ||
             (lua_Integer)a[n] != lua_tointeger(L, n + 1)))
            return luaL_error(L, "arange: the integer %I is beyond 2^53 (no "
                              "exact double)", lua_tointeger(L, n + 1));
        n++;
    }
    if (n == 0) return luaL_error(L, "arange: expects (stop) or (start, stop [, step])");
    ln_dtype d = lnT_opt_dtype(L, n + 1, all_int ? LN_INT32 : LN_FLOAT32, "arange");
    double start = n == 1 ? 0 : a[0], stop = n == 1 ? a[0] : a[1];
    double step = n == 3 ? a[2] : 1;
    lnT_push(L, ln_arange(lnL_ctx(), start, stop, step, d));
    return 1;
}

static int random_fill(lua_State *L, int normal, const char *fn) {
    int64_t shape[LN_MAX_DIM];
    int next;
    int nd = lnT_shape_args(L, 1, shape, 0, fn, &next);
    if (!lua_isnone(L, next))
        return luaL_error(L, "%s: sizes must be integers, argument %d is %s",
                          fn, next, luaL_typename(L, next));
    ln_tensor *t = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, nd, shape)); /* every value written */
    if (normal) ln_rng_normal(ln_rng_global(), ln_f32(t), t->numel, 0.0f, 1.0f);
    else ln_rng_uniform(ln_rng_global(), ln_f32(t), t->numel, 0.0f, 1.0f);
    return 1;
}

/* rand(...) U[0, 1); randn(...) N(0, 1); both from the seeded generator. */
static int l_rand(lua_State *L) { return random_fill(L, 0, "rand"); }
static int l_randn(lua_State *L) { return random_fill(L, 1, "randn"); }

/* randperm(n): int32 1..n in a random order (seeded generator). */
static int l_randperm(lua_State *L) {
    int64_t n = lnL_check_int(L, 1, "randperm", "n", 0, INT32_MAX);
    ln_tensor *t = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_INT32, 1, (int64_t[]){n}));
    /* malloc, not a Lua userdata: freed at once, its block is reused by the
    ** next call instead of faulting in fresh pages until a collection */
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!perm) return luaL_error(L, "randperm: out of memory for %lld elements", (long long)n);
    ln_rng_permutation(ln_rng_global(), perm, n);
    int32_t *p = ln_i32(t);
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)perm[i] + 1;
    free(perm);
    return 1;
}

/* cat({t1, t2, ...} [, dim]) or cat(t1, t2, ... [, dim]); dim defaults to 1. */
static int l_cat(lua_State *L) {
    int n, dim_arg;
    int list = lua_istable(L, 1) && !lnL_test_tensor(L, 1);
    if (list) {
        n = lnL_len(L, 1, "cat", "the number of tensors", INT32_MAX / 2);
        dim_arg = 2;
    } else {
        n = 0;
        while (lnL_test_tensor(L, n + 1)) n++;
        dim_arg = n + 1;
    }
    if (n < 1) return luaL_error(L, "cat: expects a list of tensors");
    lua_settop(L, dim_arg); /* scratch space goes above the arguments */
    const ln_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        if (list) lua_geti(L, 1, i + 1);
        else lua_pushvalue(L, i + 1);
        ts[i] = lnL_test_tensor(L, -1);
        if (!ts[i])
            return luaL_error(L, "cat: entry %d is a %s, not a tensor", i + 1,
                              luaL_typename(L, -1));
        lua_pop(L, 1); /* still referenced by the list or the arguments */
    }
    int dim = lnT_opt_dim(L, dim_arg, ts[0], 0, "cat");
    lnT_push(L, ln_cat(lnL_ctx(), ts, n, dim, "cat"));
    return 1;
}

static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, lnL_is_tensor(L, 1));
    return 1;
}

/* one_hot(labels [, num_classes]): float32 labels.shape + (C,); labels are
** 0-based class ids; C defaults to max(labels) + 1. */
static int l_one_hot(lua_State *L) {
    ln_tensor *y = lnL_check_tensor(L, 1);
    int64_t c;
    if (lua_isnoneornil(L, 2)) {
        double mx = -1;
        if (y->numel) ln_minmax_all(y, 1, &mx, NULL);
        if (mx != mx) return luaL_error(L, "one_hot: labels contain NaN");
        /* a label too large for a tensor is refused below, naming it */
        c = mx < 0 ? 1 : mx < 9.0e15 ? (int64_t)mx + 1 : INT64_MAX;
    } else {
        c = lnL_check_int(L, 2, "one_hot", "num_classes", 1, INT64_MAX);
    }
    lnT_push(L, ln_one_hot(lnL_ctx(), y, c, "one_hot"));
    return 1;
}

/* ---- dtype and shape ---------------------------------------------------------------- */

static int t_gc(lua_State *L) {
    ln_tensor **box = luaL_checkudata(L, 1, LN_TENSOR_MT);
    ln_tensor_release(*box);
    *box = NULL;
    return 0;
}

static int convert(lua_State *L, ln_dtype d) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (t->dtype == d) lua_settop(L, 1);
    else lnT_push(L, ln_tensor_cast(lnL_ctx(), t, d));
    return 1;
}

static int t_float(lua_State *L) { return convert(L, LN_FLOAT32); }
static int t_int(lua_State *L) { return convert(L, LN_INT32); }
static int t_byte(lua_State *L) { return convert(L, LN_UINT8); }

/* :type() -> "float32" | "int32" | "uint8"; :type(dtype) converts. */
static int t_type(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_pushstring(L, ln_dtype_name(t->dtype));
        return 1;
    }
    return convert(L, lnT_opt_dtype(L, 2, t->dtype, "type"));
}

static int t_shape(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* :size() -> the shape table; :size(d) -> the size of dim d. */
static int t_size(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return t_shape(L);
    lua_pushinteger(L, t->shape[lnT_check_dim(L, 2, t, "size")]);
    return 1;
}

static int t_dim(lua_State *L) {
    lua_pushinteger(L, lnL_check_tensor(L, 1)->ndim);
    return 1;
}

static int t_numel(lua_State *L) {
    lua_pushinteger(L, lnL_check_tensor(L, 1)->numel);
    return 1;
}

static int t_len(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "#: a 0-d tensor has no length");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

/* :item() -> the only element as a Lua number. */
static int t_item(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    char b[128];
    if (t->numel != 1)
        return luaL_error(L, "item: the tensor has %I elements (shape %s), "
                          "not 1", (lua_Integer)t->numel, lnT_shape(t, b, sizeof b));
    lnT_push_elem(L, t, 0);
    return 1;
}

/* ---- views and copies ------------------------------------------------------------------ */

static int t_clone(lua_State *L) {
    lnT_push(L, ln_tensor_clone(lnL_ctx(), lnL_check_tensor(L, 1)));
    return 1;
}

/* Every tensor is contiguous: returns itself. */
static int t_contiguous(lua_State *L) {
    lnL_check_tensor(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* :narrow(dim, start, len): a view along dim 1, a copy along others. */
static int t_narrow(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int dim = lnT_check_dim(L, 2, t, "narrow");
    int64_t size = t->shape[dim], s0;
    int64_t start = lnL_check_int(L, 3, "narrow", "start", INT64_MIN, INT64_MAX);
    int64_t len = lnL_check_int(L, 4, "narrow", "length", 0, INT64_MAX);
    char b[128];
    if (!ln_start_ok(start, size, &s0) || !ln_range_ok(s0, len, size))
        return luaL_error(L, "narrow: start %I, length %I out of range along "
                          "dim %d of shape %s", (lua_Integer)start,
                          (lua_Integer)len, dim + 1, lnT_shape(t, b, sizeof b));
    if (dim == 0) lnT_push(L, ln_tensor_narrow(lnL_ctx(), t, s0, len));
    else lnT_push(L, ln_narrow_copy(lnL_ctx(), t, dim, s0, len));
    return 1;
}

/* :select(dim, i): the slice at position i, without dim (a view along dim
** 1, a copy along others). */
static int t_select(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int dim = lnT_check_dim(L, 2, t, "select");
    int64_t p = lnT_check_pos(L, lnL_check_int(L, 3, "select", "index",
                                                INT64_MIN, INT64_MAX),
                              t->shape[dim], dim, "select");
    ln_tensor *n = dim == 0 ? lnT_push(L, ln_tensor_narrow(lnL_ctx(), t, p, 1))
                            : lnT_push(L, ln_narrow_copy(lnL_ctx(), t, dim, p, 1));
    int64_t shape[LN_MAX_DIM];
    int k = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != dim) shape[k++] = t->shape[i];
    lnT_push_reshape(L, n, k, shape);
    return 1;
}

/* :reshape(...) / :view(...): sizes as integers or a table, one -1. */
static int t_reshape(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int64_t shape[LN_MAX_DIM];
    int next;
    int nd = lnT_shape_args(L, 2, shape, 1, "reshape", &next);
    if (!lua_isnone(L, next))
        return luaL_error(L, "reshape: sizes must be integers, argument %d "
                          "is %s", next - 1, luaL_typename(L, next));
    lnT_push_reshape(L, t, nd, shape);
    return 1;
}

static int t_flatten(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    lnT_push_reshape(L, t, 1, &t->numel);
    return 1;
}

/* :squeeze([dim]): drop size-1 dims (only dim, if given and of size 1). */
static int t_squeeze(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int only = lua_isnoneornil(L, 2) ? -1 : lnT_check_dim(L, 2, t, "squeeze");
    int64_t shape[LN_MAX_DIM];
    int k = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1 || (only >= 0 && i != only)) shape[k++] = t->shape[i];
    lnT_push_reshape(L, t, k, shape);
    return 1;
}

/* :unsqueeze(dim): a size-1 dim inserted at position dim (1..ndim+1;
** -1 appends). */
static int t_unsqueeze(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int64_t given = lnL_check_int(L, 2, "unsqueeze", "dim", INT64_MIN, INT64_MAX), d;
    char b[128];
    if (!ln_pos_ok(given, t->ndim + 1, &d) || t->ndim == LN_MAX_DIM)
        return luaL_error(L, "unsqueeze: dim %I out of range for shape %s",
                          (lua_Integer)given, lnT_shape(t, b, sizeof b));
    d++; /* 1-based below */
    int64_t shape[LN_MAX_DIM];
    for (int i = 0, k = 0; i <= t->ndim; i++)
        shape[i] = i == d - 1 ? 1 : t->shape[k++];
    lnT_push_reshape(L, t, t->ndim + 1, shape);
    return 1;
}

/* :permute(d1, d2, ...) or :permute{...}: a copy with dims reordered. */
static int t_permute(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int perm[LN_MAX_DIM], n, list = lua_istable(L, 2);
    char b[128];
    n = list ? lnL_len(L, 2, "permute", "the number of dims", LN_MAX_DIM + 1)
             : lua_gettop(L) - 1;
    if (n != t->ndim)
        return luaL_error(L, "permute: %d dims given for shape %s", n,
                          lnT_shape(t, b, sizeof b));
    for (int i = 0; i < n; i++) {
        if (list) lua_geti(L, 2, i + 1);
        else lua_pushvalue(L, i + 2);
        perm[i] = lnT_check_dim(L, lua_gettop(L), t, "permute");
        lua_pop(L, 1);
    }
    lnT_push(L, ln_permute(lnL_ctx(), t, perm));
    return 1;
}

/* :transpose(d1, d2): a copy with two dims swapped. :t() for 2-d. */
static int t_transpose(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int a = lnT_check_dim(L, 2, t, "transpose");
    int b = lnT_check_dim(L, 3, t, "transpose");
    int perm[LN_MAX_DIM];
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    perm[a] = b, perm[b] = a;
    lnT_push(L, ln_permute(lnL_ctx(), t, perm));
    return 1;
}

static int t_t(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    char b[128];
    if (t->ndim != 2)
        return luaL_error(L, "t: expects a 2-d tensor, got shape %s",
                          lnT_shape(t, b, sizeof b));
    int perm[2] = {1, 0};
    lnT_push(L, ln_permute(lnL_ctx(), t, perm));
    return 1;
}

/* :copy(src): self <- src (same number of elements, converted to self's
** dtype); returns self. */
static int t_copy(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1), *s = lnL_check_tensor(L, 2);
    char a[128], b[128];
    if (s->numel != t->numel)
        return luaL_error(L, "copy: source of shape %s has %I elements, the "
                          "tensor of shape %s has %I", lnT_shape(s, a, sizeof a),
                          (lua_Integer)s->numel, lnT_shape(t, b, sizeof b),
                          (lua_Integer)t->numel);
    s = lnT_as(L, s, t->dtype);
    lnL_check(L, ln_tensor_copy(lnL_ctx(), t, s));
    lua_settop(L, 1);
    return 1;
}

/* :fill(v) / :zero(): in place; return self. */
static int t_fill(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    double v = luaL_checknumber(L, 2);
    if (!ln_value_fits(t->dtype, v))
        return luaL_error(L, "fill: value %s does not fit in %s",
                          lua_tostring(L, 2), ln_dtype_name(t->dtype));
    fill_all(t, v);
    lua_settop(L, 1);
    return 1;
}

static int t_zero(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    fill_all(t, 0);
    lua_settop(L, 1);
    return 1;
}

/* :cat(other [, dim]) */
static int t_cat(lua_State *L) {
    ln_tensor *a = lnL_check_tensor(L, 1), *b = lnL_check_tensor(L, 2);
    const ln_tensor *ts[2] = {a, b};
    int dim = lnT_opt_dim(L, 3, a, 0, "cat");
    lnT_push(L, ln_cat(lnL_ctx(), ts, 2, dim, "cat"));
    return 1;
}

/* Tensor's own methods, metamethods and module functions (the parts add
** theirs; lua_core.c assembles the metatable). */
void lnT_open_base(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {
        {"float", t_float}, {"int", t_int}, {"byte", t_byte},
        {"type", t_type}, {"shape", t_shape}, {"size", t_size},
        {"dim", t_dim}, {"numel", t_numel}, {"item", t_item},
        {"clone", t_clone}, {"contiguous", t_contiguous},
        {"narrow", t_narrow}, {"select", t_select}, {"reshape", t_reshape},
        {"view", t_reshape}, {"flatten", t_flatten}, {"squeeze", t_squeeze},
        {"unsqueeze", t_unsqueeze}, {"permute", t_permute},
        {"transpose", t_transpose}, {"t", t_t}, {"copy", t_copy},
        {"fill", t_fill}, {"zero", t_zero}, {"cat", t_cat}, {NULL, NULL}};
    static const luaL_Reg mm[] = {{"__gc", t_gc}, {"__close", t_gc},
                                  {"__len", t_len}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones},
        {"full", l_full}, {"arange", l_arange}, {"rand", l_rand},
        {"randn", l_randn}, {"randperm", l_randperm}, {"cat", l_cat},
        {"is_tensor", l_is_tensor}, {"one_hot", l_one_hot}, {NULL, NULL}};
    lua_pushvalue(L, methods);
    lnL_register(L, m);
    lua_pushvalue(L, meta);
    lnL_register(L, mm);
    lua_pushvalue(L, mod);
    lnL_register(L, fns);
    lua_pop(L, 3);
}
