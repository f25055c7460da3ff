/*
** lua_autograd_rec.c -- one recorder per kind of binding function: after
** the original ran (it checked every argument), read the arguments again,
** record the node the tape needs (tape.h's conventions: 0-based dims and
** positions) and turn numbers that stand for reductions of recorded
** tensors into 0-d tensors. Arguments are at 1..n, results at n+1..
*/
#include <math.h>
#include <string.h>

#include "lua_autograd.h"
#include "lua_nn.h"
#include "lunet/tensor_nn.h"

/* The float32 tensor result at idx, or NULL (then nothing is recorded). */
static ln_tensor *float_result(lua_State *L, int idx) {
    ln_tensor *t = lnL_test_tensor(L, idx);
    return t && t->dtype == LN_FLOAT32 ? t : NULL;
}

/* The tensor at idx as float32 (a converted copy kept on the stack), or
** NULL for a number (stored in *v). */
static ln_tensor *operand(lua_State *L, int idx, double *v) {
    ln_tensor *t = lnL_test_tensor(L, idx);
    if (!t) {
        *v = lua_tonumber(L, idx);
        return NULL;
    }
    return lnT_as(L, t, LN_FLOAT32);
}

/* Replace the number at idx by a 0-d float32 tensor holding it. */
static ln_tensor *number_to_tensor(lua_State *L, int idx) {
    ln_tensor *t = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_FLOAT32, 0, NULL));
    ln_f32(t)[0] = (float)lua_tonumber(L, idx);
    lua_replace(L, idx);
    return t;
}

/* A 0-based dim from a (validated) 1-based argument; def when absent. */
static int dim_arg(lua_State *L, int idx, const ln_tensor *t, int def) {
    if (lua_isnoneornil(L, idx)) return def;
    lua_Integer d = lua_tointeger(L, idx);
    return (int)(d < 0 ? d + t->ndim : d - 1);
}

/* 1-based positions (int32 or uint8 at idx) as a new int32 tensor of
** 0-based ones (flattened when `flat`), kept on the stack. */
static ln_tensor *zero_based(lua_State *L, int idx, int flat) {
    ln_tensor *p = lnL_check_tensor(L, idx);
    int64_t n = p->numel;
    ln_tensor *q = lnT_push(L, flat ? ln_tensor_empty(lnL_ctx(), LN_INT32, 1, &n)
                                    : ln_tensor_empty(lnL_ctx(), LN_INT32, p->ndim, p->shape));
    int32_t *d = ln_i32(q);
    for (int64_t i = 0; i < n; i++) d[i] = (int32_t)ln_get_f64(p, i) - 1;
    return q;
}

static void record1(lua_State *L, const ag_wrap *w, ln_tensor *x, ln_tensor *y,
                    const ln_tape_params *p) {
    ag_record(L, (ln_tape_opcode)w->op, 1, &x, y, p);
}

/* ---- elementwise -------------------------------------------------------------- */

int ag_rec_binary(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    ln_tape_params p = {0};
    double va = 0, vb = 0;
    ln_tensor *a = operand(L, 1, &va), *b = operand(L, 2, &vb);
    if (!a) p.i[0] |= 1, p.p[0] = va;
    if (!b) p.i[0] |= 2, p.p[0] = vb;
    ag_record(L, (ln_tape_opcode)w->op, 2, (ln_tensor *[]){a, b}, y, &p);
    return nres;
}

int ag_rec_unary(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (y) record1(L, w, lnL_check_tensor(L, 1), y, NULL);
    return nres;
}

/* A float result that no gradient may pass: refused when asked through. */
int ag_rec_nondiff(lua_State *L, const ag_wrap *w, int n, int nres) {
    if (lua_type(L, AG_RES(n)) == LUA_TNUMBER) number_to_tensor(L, AG_RES(n));
    ln_tensor *y = float_result(L, AG_RES(n)), *in[8];
    int k = 0;
    for (int i = 1; i <= n && k < 8; i++)
        if (lnL_test_tensor(L, i)) in[k++] = lnL_test_tensor(L, i);
    ln_tape_params p = {0};
    p.name = w->name;
    if (y) ag_record(L, LN_OP_NONDIFF, k, in, y, &p);
    return nres;
}

int ag_rec_clamp(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    ln_tape_params p = {.p = {luaL_optnumber(L, 2, -HUGE_VAL), luaL_optnumber(L, 3, HUGE_VAL)}};
    if (y) record1(L, w, lnL_check_tensor(L, 1), y, &p);
    return nres;
}

int ag_rec_where(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    ln_tape_params p = {0};
    ln_tensor *a = operand(L, 2, &p.p[0]), *b = operand(L, 3, &p.p[1]);
    p.i[0] = (a ? 0 : 1) | (b ? 0 : 2);
    p.aux = lnL_check_tensor(L, 1);
    ag_record(L, LN_OP_WHERE, 2, (ln_tensor *[]){a, b}, y, &p);
    return nres;
}

/* ---- reductions ------------------------------------------------------------------ */

/* sum, mean, max, min: (dim [, keepdim]) or over everything (a number made
** a 0-d tensor; max and min then keep the flat position). */
int ag_rec_reduce(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1);
    int is_ext = w->op == LN_OP_MAX || w->op == LN_OP_MIN;
    ln_tape_params p = {0};
    ln_tensor *y;
    if (lua_isnoneornil(L, 2)) {
        p.i[0] = -1;
        y = number_to_tensor(L, AG_RES(n));
        if (is_ext) {
            double v;
            int64_t pos;
            ln_minmax_all(x, w->op == LN_OP_MAX, &v, &pos);
            p.aux = lnT_push(L, ln_tensor_empty(lnL_ctx(), LN_INT32, 0, NULL));
            ln_i32(p.aux)[0] = (int32_t)pos;
        }
    } else {
        p.i[0] = dim_arg(L, 2, x, 0);
        p.i[1] = lua_toboolean(L, 3);
        y = float_result(L, AG_RES(n));
        if (is_ext) p.aux = zero_based(L, AG_RES(n) + 1, 0);
    }
    if (y) record1(L, w, x, y, &p);
    return nres;
}

/* norm([p [, dim [, keepdim]]]) and logsumexp([dim [, keepdim]]): over
** every element (a number made a 0-d tensor) without dim. */
int ag_rec_norm(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1);
    int d = w->op == LN_OP_NORM ? 3 : 2; /* norm's p comes first */
    ln_tape_params p = {.p = {luaL_optnumber(L, 2, 2)}};
    p.i[0] = dim_arg(L, d, x, -1);
    p.i[1] = lua_toboolean(L, d + 1);
    ln_tensor *y = p.i[0] < 0 ? number_to_tensor(L, AG_RES(n)) : float_result(L, AG_RES(n));
    if (y) record1(L, w, x, y, &p);
    return nres;
}

int ag_rec_softmax(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    ln_tape_params p = {.i = {dim_arg(L, 2, x, x->ndim - 1)}};
    if (y) record1(L, w, x, y, &p);
    return nres;
}

/* ---- shapes ------------------------------------------------------------------------ */

int ag_rec_view(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (y) ag_record(L, LN_OP_RESHAPE, 1, (ln_tensor *[]){lnL_check_tensor(L, 1)}, y, NULL);
    return nres;
}

int ag_rec_clone(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (y) ag_record(L, LN_OP_CLONE, 1, (ln_tensor *[]){lnL_check_tensor(L, 1)}, y, NULL);
    return nres;
}

static void record_region(lua_State *L, ln_tensor *x, ln_tensor *y, const ln_region *r) {
    ln_tape_params p = {0};
    ln_tape_params_region(&p, r);
    ag_record(L, LN_OP_REGION, 1, &x, y, &p);
}

/* narrow(dim, start, len) and select(dim, i) (three arguments): a region
** of x along dim, the dim dropped by select. */
int ag_rec_narrow(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    int dim = dim_arg(L, 2, x, 0), select = n == 3;
    lua_Integer start = lua_tointeger(L, 3);
    if (start < 0) start += x->shape[dim] + 1;
    ln_region r;
    ln_region_narrow(x, dim, start - 1, select ? 1 : lua_tointeger(L, 4), select, &r);
    record_region(L, x, y, &r);
    return nres;
}

static void record_perm(lua_State *L, ln_tensor *x, ln_tensor *y, const int *perm) {
    ln_tape_params p = {0};
    for (int i = 0; i < x->ndim; i++) p.i[i] = perm[i];
    ag_record(L, LN_OP_PERMUTE, 1, &x, y, &p);
}

/* transpose(d1, d2) and t() */
int ag_rec_transpose(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    int perm[LN_MAX_DIM];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    int a = n >= 3 ? dim_arg(L, 2, x, 0) : 0, b = n >= 3 ? dim_arg(L, 3, x, 1) : 1;
    perm[a] = b, perm[b] = a;
    record_perm(L, x, y, perm);
    return nres;
}

/* permute(d1, d2, ...) or permute{...} */
int ag_rec_permute(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    int perm[LN_MAX_DIM], list = lua_istable(L, 2);
    for (int i = 0; i < x->ndim; i++) {
        if (list) lua_geti(L, 2, i + 1);
        else lua_pushvalue(L, i + 2);
        perm[i] = dim_arg(L, lua_gettop(L), x, i);
        lua_pop(L, 1);
    }
    record_perm(L, x, y, perm);
    return nres;
}

/* cat(inputs, dim): inputs are the tensors at the given stack slots. */
static void record_cat(lua_State *L, ln_tape_opcode op, int ni, const int *slots,
                       int dim, ln_tensor *y) {
    ln_tensor *in[256];
    if (ni > 256) luaL_error(L, "cat: more than 256 tensors cannot be recorded");
    for (int i = 0; i < ni; i++) in[i] = lnL_check_tensor(L, slots[i]);
    ln_tape_params p = {.i = {dim}};
    ag_record(L, op, ni, in, y, &p);
}

/* a:cat(b [, dim]) */
int ag_rec_cat_method(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    if (y) record_cat(L, LN_OP_CAT, 2, (int[]){1, 2}, dim_arg(L, 3, x, 0), y);
    return nres;
}

/* Push the entries of the list at 1 (or the tensors at 1..) and gather
** their slots; returns the count and the index of the dim argument. */
static int list_slots(lua_State *L, int n, int *slots, int *dim_idx) {
    int count = 0;
    if (lua_istable(L, 1) && !lnL_test_tensor(L, 1)) {
        int len = (int)luaL_len(L, 1);
        for (int i = 0; i < len && i < 256; i++) {
            lua_geti(L, 1, i + 1);
            slots[count++] = lua_gettop(L);
        }
        *dim_idx = 2;
    } else {
        while (count < n && lnL_test_tensor(L, count + 1)) {
            slots[count] = count + 1;
            count++;
        }
        *dim_idx = count + 1;
    }
    return count;
}

/* ln.cat(list or tensors... [, dim]) and ln.stack(list [, dim]) */
int ag_rec_cat(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    int slots[256], di, ni = list_slots(L, n, slots, &di);
    record_cat(L, (ln_tape_opcode)w->op, ni, slots, dim_arg(L, di, y, 0), y);
    return nres;
}

/* ---- indexing ------------------------------------------------------------------------ */

/* index(dim, idx) (LN_OP_INDEX: positions read flat) and gather(dim, idx) */
int ag_rec_take(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    ln_tape_params p = {.i = {dim_arg(L, 2, x, 0)}};
    p.aux = zero_based(L, 3, w->op == LN_OP_INDEX);
    record1(L, w, x, y, &p);
    return nres;
}

int ag_rec_masked_select(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *y = float_result(L, AG_RES(n));
    ln_tape_params p = {0};
    p.aux = lnL_check_tensor(L, 2);
    if (y) ag_record(L, LN_OP_MASKED_SELECT, 1, &x, y, &p);
    return nres;
}

/* t[key] with a non-string key: a mask, positions, or a Torch7 slice (a
** single element becomes a 0-d tensor). */
int ag_rec_index(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *x = lnL_check_tensor(L, 1), *k = lnL_test_tensor(L, 2);
    ln_tape_params p = {0};
    if (k && k->dtype == LN_UINT8) {
        ln_tensor *y = float_result(L, AG_RES(n));
        p.aux = k;
        if (y) ag_record(L, LN_OP_MASKED_SELECT, 1, &x, y, &p);
        return nres;
    }
    if (k) {
        ln_tensor *y = float_result(L, AG_RES(n));
        p.aux = zero_based(L, 2, 1);
        if (y) ag_record(L, LN_OP_INDEX, 1, &x, y, &p);
        return nres;
    }
    ln_region r;
    lnT_parse_region(L, 2, x, &r, "index");
    ln_tensor *y = r.nd == 0 ? number_to_tensor(L, AG_RES(n)) : float_result(L, AG_RES(n));
    if (y) record_region(L, x, y, &r);
    return nres;
}

/* ---- matmul ---------------------------------------------------------------------------- */

static int flag(lua_State *L, int opts, const char *key) {
    if (!lua_istable(L, opts)) return 0;
    lua_getfield(L, opts, key);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static void record_matmul(lua_State *L, ln_tensor *a, ln_tensor *b, ln_tensor *y,
                          int opts) {
    ln_tape_params p = {.i = {flag(L, opts, "transpose_a"), flag(L, opts, "transpose_b")}};
    ag_record(L, LN_OP_MATMUL, 2, (ln_tensor *[]){a, b}, y, &p);
}

/* The out forms write in place: c:matmul(a, b) (a tensor third argument)
** and ln.matmul(a, b, {out = c}). */
int ag_matmul_writes(lua_State *L, int n) {
    if (n < 3) return 0;
    if (lnL_test_tensor(L, 3)) return 1;
    if (!lua_istable(L, 3)) return 0;
    lua_getfield(L, 3, "out");
    int out = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return out;
}

/* ln.matmul(a, b [, opts]) and t:matmul(b [, opts]) */
int ag_rec_matmul(lua_State *L, const ag_wrap *w, int n, int nres) {
    ln_tensor *y = float_result(L, AG_RES(n));
    if (y) record_matmul(L, lnL_check_tensor(L, 1), lnL_check_tensor(L, 2), y, 3);
    return nres;
}

/* ---- units ----------------------------------------------------------------------------- */

/* activation:apply(x) */
int ag_rec_activation(lua_State *L, const ag_wrap *w, int n, int nres) {
    lnL_object *o = lnL_check_object(L, 1);
    ln_tensor *y = float_result(L, AG_RES(n));
    if (!y) return nres;
    ln_tape_params p = {0};
    p.unit = o->o;
    ag_anchor(L, 1);
    ag_record(L, LN_OP_ACTIVATION, 1, (ln_tensor *[]){lnL_check_tensor(L, 2)}, y, &p);
    return nres;
}

/* loss_or_metric:per_sample(pred, y_true) */
int ag_rec_per_sample(lua_State *L, const ag_wrap *w, int n, int nres) {
    lnL_object *o = lnL_check_object(L, 1);
    ln_tensor *y = float_result(L, AG_RES(n)), *pred = lnL_check_tensor(L, 2);
    if (!y) return nres;
    ln_tape_params p = {0};
    if (o->o->unit->kind != LN_KIND_LOSS) {
        p.name = o->o->unit->name; /* a metric: not differentiable */
        ag_record(L, LN_OP_NONDIFF, 1, &pred, y, &p);
        return nres;
    }
    p.unit = o->o;
    p.aux = lnL_check_tensor(L, 3);
    ag_anchor(L, 1);
    ag_record(L, LN_OP_LOSS_PER_SAMPLE, 1, &pred, y, &p);
    return nres;
}
