/*
** lua_tensor_index.c -- t[key] and t[key] = value, and the indexing
** methods (:index, :gather, :masked_select, :masked_fill).
**
** Keys (positions 1-based, negative from the end):
**   t[i]            a 1-d tensor: the number; n-d: row i as a view
**   t[{i, j, ...}]  integers select along the leading dims; {a, b} is the
**                   inclusive range a..b, {a} is a..a, {} a whole dim (all
**                   Torch7's); as many integers as dims give a number, else
**                   a tensor: a view when the selection is one contiguous
**                   block, else a copy
**   t[mask]         uint8 mask of t's shape or of its leading dims (a 1-d
**                   mask of length #t selects rows): the selected cells, a
**                   copy of shape (count, rest...)
**   t[idx]          int32 tensor of positions: rows idx (a copy, :index(1, idx))
** Assignments write into t through the same keys; a value is a number or a
** tensor (converted to t's dtype) that broadcasts to the selection (masks:
** one value per selected element, one cell repeated, or a single value).
*/
#include <stdlib.h>
#include <string.h>

#include "lua_tensor.h"
#include "lunet/overflow.h"

/* Contiguous strides of t. */
static void strides_of(const ln_tensor *t, int64_t *st) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= t->shape[i];
    }
}

/* One range entry {a [, b]} of a key along dim d: first index and count. */
static void parse_range(lua_State *L, int e, const ln_tensor *t, int d,
                        int64_t *first, int64_t *count, const char *fn) {
    lua_len(L, e);
    int ok, ok1, ok2 = 1;
    lua_Integer len = lua_tointegerx(L, -1, &ok), a, b;
    lua_pop(L, 1);
    int64_t n = t->shape[d], a0, b0;
    char sb[128];
    if (ok && len == 0) {
        *first = 0, *count = n;
        return;
    }
    lua_geti(L, e, 1);
    a = lua_tointegerx(L, -1, &ok1);
    lua_geti(L, e, len >= 2 ? 2 : 1);
    b = lua_tointegerx(L, -1, &ok2);
    lua_pop(L, 2);
    if (!ok || len < 0 || len > 2 || !ok1 || !ok2)
        luaL_error(L, "%s: a range along dim %d must be {first, last}, {i} or "
                   "{} with integers", fn, d + 1);
    /* 1-based, negative from the end (no overflow: n >= 0); first may be
    ** n + 1 and last first - 1 (empty ranges) */
    a0 = a < 0 ? a + n + 1 : a;
    b0 = b < 0 ? b + n + 1 : b;
    if (a0 < 1 || b0 > n || b0 < a0 - 1)
        luaL_error(L, "%s: range {%I, %I} out of range along dim %d of shape "
                   "%s", fn, a, b, d + 1, lnT_shape(t, sb, sizeof sb));
    *first = a0 - 1;
    *count = b0 - a0 + 1;
}

/* A Torch7 slice key (number or table at idx) as a region of t. */
void lnT_parse_region(lua_State *L, int idx, const ln_tensor *t, ln_region *r,
                      const char *fn) {
    int64_t st[LN_MAX_DIM];
    char sb[128];
    strides_of(t, st);
    r->nd = 0;
    r->offset = 0;
    int d = 0;
    int n = lua_type(L, idx) == LUA_TNUMBER
                ? 1 : lnL_len(L, idx, fn, "the number of indices", LN_MAX_DIM + 1);
    for (int k = 1; k <= n; k++) {
        if (d >= t->ndim)
            luaL_error(L, "%s: %d indices for a tensor of shape %s", fn, n,
                       lnT_shape(t, sb, sizeof sb));
        if (lua_type(L, idx) == LUA_TNUMBER) lua_pushvalue(L, idx);
        else lua_geti(L, idx, k);
        int e = lua_gettop(L);
        if (lua_type(L, e) == LUA_TNUMBER) {
            char what[48];
            snprintf(what, sizeof what, "the index along dim %d", d + 1);
            lua_Integer p = lnL_check_int(L, e, fn, what, INT64_MIN, INT64_MAX);
            r->offset += lnT_check_pos(L, p, t->shape[d], d, fn) * st[d];
        } else if (lua_istable(L, e)) {
            int64_t first, count;
            parse_range(L, e, t, d, &first, &count, fn);
            r->offset += first * st[d];
            r->shape[r->nd] = count;
            r->stride[r->nd++] = st[d];
        } else {
            luaL_error(L, "%s: index %d is a %s (use integers, {first, last} "
                       "ranges, {}, a uint8 mask or an int32 index tensor)", fn,
                       k, luaL_typename(L, e));
        }
        lua_pop(L, 1);
        d++;
    }
    for (; d < t->ndim; d++) {
        r->shape[r->nd] = t->shape[d];
        r->stride[r->nd++] = st[d];
    }
}

/* Push the region of t: a number, a view (one block) or a copy. */
static void push_region(lua_State *L, ln_tensor *t, const ln_region *r) {
    if (r->nd == 0) {
        lnT_push_elem(L, t, r->offset);
        return;
    }
    if (!ln_region_is_block(r)) {
        lnT_push(L, ln_region_read(lnL_ctx(), t, r));
        return;
    }
    int64_t n = 1;
    for (int i = 0; i < r->nd; i++) n *= r->shape[i];
    ln_tensor *flat = lnT_push_reshape(L, t, 1, &t->numel);
    ln_tensor *part = lnT_push(L, ln_tensor_narrow(lnL_ctx(), flat, r->offset, n));
    lnT_push_reshape(L, part, r->nd, r->shape);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* The positions of a 1-based index tensor along dim of t, in a scratch
** tensor left on the stack (freed with it, also after an error): n int64
** in an int32 tensor of n x 2, from the tensor pool -- a malloc'ed list of
** 80 KB made glibc trim and regrow its heap on every call of a loop. */
static int64_t *index_list(lua_State *L, const ln_tensor *idx, int64_t size,
                           const char *fn, int64_t *n) {
    const int64_t shape[2] = {idx->numel ? idx->numel : 1, 2};
    ln_tensor *scratch = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_INT32, 2, shape));
    int64_t *v = (int64_t *)ln_data(scratch);
    lnL_check(L, ln_index_positions(lnL_ctx(), idx, 1, size, fn, v));
    *n = idx->numel;
    return v;
}

int lnT_index(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    ln_tensor *k = lnL_test_tensor(L, 2);
    if (k && k->dtype == LN_UINT8) {
        lnT_push(L, ln_masked_select(lnL_ctx(), t, k));
        return 1;
    }
    if (k) {
        char b[128];
        if (t->ndim == 0)
            return luaL_error(L, "index: a 0-d tensor has no rows");
        if (k->dtype != LN_INT32)
            return luaL_error(L, "index: a %s tensor of shape %s cannot index "
                              "(use a uint8 mask or int32 positions)",
                              ln_dtype_name(k->dtype), lnT_shape(k, b, sizeof b));
        int64_t n, *pos = index_list(L, k, t->shape[0], "index", &n);
        lnT_push(L, ln_index_select(lnL_ctx(), t, 0, pos, n));
        return 1;
    }
    int tp = lua_type(L, 2);
    if (tp != LUA_TNUMBER && tp != LUA_TTABLE)
        return luaL_error(L, "index: a tensor cannot be indexed with a %s",
                          luaL_typename(L, 2));
    if (t->ndim == 0 && tp == LUA_TNUMBER)
        return luaL_error(L, "index: a 0-d tensor has no rows (use :item())");
    ln_region r;
    lnT_parse_region(L, 2, t, &r, "index");
    push_region(L, t, &r);
    return 1;
}

/* t[mask] = v */
static void masked_assign(lua_State *L, ln_tensor *t, const ln_tensor *mask,
                          int v) {
    ln_ctx *ctx = lnL_ctx();
    ln_tensor *src = lnL_test_tensor(L, v);
    if (!src) {
        if (lua_type(L, v) != LUA_TNUMBER)
            luaL_error(L, "masked assignment: the value must be a number or "
                       "a tensor, got %s", luaL_typename(L, v));
        lnL_check(L, ln_masked_fill(ctx, t, mask, lua_tonumber(L, v)));
        return;
    }
    int64_t cell;
    lnL_check(L, ln_mask_check(ctx, t, mask, "masked assignment", &cell));
    int64_t count = ln_count_nonzero_u8(ln_u8(mask), mask->numel);
    src = lnT_as(L, src, t->dtype);
    if (src->numel == 1 && count * cell != 1) {
        lnL_check(L, ln_masked_fill(ctx, t, mask, ln_get_f64(src, 0)));
        return;
    }
    if (src->numel == cell && count > 1) { /* one cell for every selection */
        int64_t shape[2] = {count, cell};
        ln_tensor *tiled = lnT_push(L, ln_tensor_new(ctx, t->dtype, 2, shape));
        size_t bytes = (size_t)cell * ln_dtype_size(t->dtype);
        for (int64_t i = 0; i < count; i++)
            memcpy((char *)ln_data(tiled) + (size_t)i * bytes, ln_data(src), bytes);
        src = tiled;
    }
    lnL_check(L, ln_masked_copy(ctx, t, mask, src));
}

/* t[idx] = v along dim 1. */
static void index_assign(lua_State *L, ln_tensor *t, const ln_tensor *k, int v) {
    ln_ctx *ctx = lnL_ctx();
    char a[128], b[128];
    if (k->dtype != LN_INT32)
        luaL_error(L, "index assignment: a %s tensor cannot index (use a uint8 "
                   "mask or int32 positions)", ln_dtype_name(k->dtype));
    if (t->ndim == 0) luaL_error(L, "index assignment: a 0-d tensor has no rows");
    int64_t n, *pos = index_list(L, k, t->shape[0], "index assignment", &n);
    ln_tensor *src = lnL_test_tensor(L, v);
    if (!src) {
        if (lua_type(L, v) != LUA_TNUMBER)
            luaL_error(L, "index assignment: the value must be a number or a "
                       "tensor, got %s", luaL_typename(L, v));
        lnL_check(L, ln_index_fill(ctx, t, 0, pos, n, lua_tonumber(L, v)));
        return;
    }
    src = lnT_as(L, src, t->dtype);
    if (src->numel == 1) {
        lnL_check(L, ln_index_fill(ctx, t, 0, pos, n, ln_get_f64(src, 0)));
        return;
    }
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    int64_t need = t->numel / (t->shape[0] ? t->shape[0] : 1) * n;
    if (t->shape[0] == 0 || src->numel != need)
        luaL_error(L, "index assignment: values of shape %s for %d rows of "
                   "shape %s", lnT_shape(src, a, sizeof a), (int)n,
                   lnT_shape(t, b, sizeof b));
    src = lnT_push_reshape(L, src, t->ndim, shape);
    lnL_check(L, ln_index_copy(ctx, t, 0, pos, n, src));
}

int lnT_newindex(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    ln_tensor *k = lnL_test_tensor(L, 2);
    if (k && k->dtype == LN_UINT8) {
        masked_assign(L, t, k, 3);
        return 0;
    }
    if (k) {
        index_assign(L, t, k, 3);
        return 0;
    }
    int tp = lua_type(L, 2);
    if (tp != LUA_TNUMBER && tp != LUA_TTABLE)
        return luaL_error(L, "assignment: a tensor cannot be indexed with a %s",
                          luaL_typename(L, 2));
    if (t->ndim == 0 && tp == LUA_TNUMBER)
        return luaL_error(L, "assignment: a 0-d tensor has no rows (use :fill())");
    ln_region r;
    lnT_parse_region(L, 2, t, &r, "assignment");
    ln_tensor *src = lnL_test_tensor(L, 3);
    if (src) {
        src = lnT_as(L, src, t->dtype);
        lnL_check(L, ln_region_write(lnL_ctx(), t, &r, src, "assignment"));
    } else if (lua_type(L, 3) == LUA_TNUMBER) {
        lnL_check(L, ln_region_fill(lnL_ctx(), t, &r, lua_tonumber(L, 3)));
    } else {
        return luaL_error(L, "assignment: the value must be a number or a "
                          "tensor, got %s", luaL_typename(L, 3));
    }
    return 0;
}

/* :index(dim, idx): entries idx (1-based int32, any shape, read flat) along
** dim; a copy. */
static int t_index_select(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int dim = lnT_check_dim(L, 2, t, "index");
    ln_tensor *k = lnL_check_tensor(L, 3);
    int64_t n, *pos = index_list(L, k, t->shape[dim], "index", &n);
    lnT_push(L, ln_index_select(lnL_ctx(), t, dim, pos, n));
    return 1;
}

/* :gather(dim, idx): Torch's gather with 1-based positions. */
static int t_gather(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    int dim = lnT_check_dim(L, 2, t, "gather");
    lnT_push(L, ln_gather(lnL_ctx(), t, dim, lnL_check_tensor(L, 3), 1));
    return 1;
}

static int t_masked_select(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    lnT_push(L, ln_masked_select(lnL_ctx(), t, lnL_check_tensor(L, 2)));
    return 1;
}

/* :masked_fill(mask, v): in place, returns self. */
static int t_masked_fill(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1), *m = lnL_check_tensor(L, 2);
    lnL_check(L, ln_masked_fill(lnL_ctx(), t, m, luaL_checknumber(L, 3)));
    lua_settop(L, 1);
    return 1;
}

/* __index: methods by name (the method table is the upvalue), everything
** else is indexing. */
static int t_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1; /* nil for unknown names, so duck typing works */
    }
    return lnT_index(L);
}

void lnT_open_index(lua_State *L, int methods, int meta, int mod) {
    static const luaL_Reg m[] = {{"index", t_index_select},
                                 {"gather", t_gather},
                                 {"masked_select", t_masked_select},
                                 {"masked_fill", t_masked_fill},
                                 {NULL, NULL}};
    (void)mod;
    lua_pushvalue(L, methods);
    lnL_register(L, m);
    lua_pop(L, 1);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, meta, "__index");
    lua_pushcfunction(L, lnT_newindex);
    lua_setfield(L, meta, "__newindex");
}
