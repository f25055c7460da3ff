/*
** lua_tensor_fmt.c -- tostring(t) in numpy's layout and :totable().
**
**   tensor([[ 0.5000, -1.2500],
**           [ 3.0000,  4.0000]], dtype=float32, shape=(2, 2))
**
** Tensors of more than 1000 elements are summarised: along every dim longer
** than 6 only the first and last 3 entries are shown, with "..." between.
** Floats print with 4 decimals ("%.4f"), in scientific notation when the
** largest magnitude is >= 1e8 or the smallest nonzero one < 1e-4, and as
** "3." when every shown value is an integer (numpy's style); integer dtypes
** print as integers. One width for all entries, so columns line up.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lua_tensor.h"

#define EDGE 3
#define THRESHOLD 1000
#define LINEWIDTH 75
#define PREFIX "tensor("

enum { F_INT, F_INTEGRAL, F_FIXED, F_SCI };

typedef struct printer {
    const ln_tensor *t;
    int summarize, mode, width;
    int64_t stride[LN_MAX_DIM];
    luaL_Buffer *b;
    int col; /* current column, for wrapping */
} printer;

/* Format element at flat offset off into buf (no padding). */
static int format1(const printer *p, int64_t off, char *buf, size_t n) {
    double v = ln_get_f64(p->t, off);
    if (p->mode == F_INT) return snprintf(buf, n, "%lld", (long long)v);
    if (v != v) return snprintf(buf, n, "nan");
    if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
    switch (p->mode) {
    case F_INTEGRAL: return snprintf(buf, n, "%.0f.", v);
    case F_SCI: return snprintf(buf, n, "%.4e", v);
    default: return snprintf(buf, n, "%.4f", v);
    }
}

/* Positions shown along a dim of size n: all, or the first and last EDGE. */
static int shown(const printer *p, int64_t n, int64_t i) {
    return !p->summarize || n <= 2 * EDGE || i < EDGE || i >= n - EDGE;
}

typedef void (*visit_fn)(printer *p, int64_t off, void *acc);

/* Call fn for every shown element. */
static void visit(printer *p, int d, int64_t off, visit_fn fn, void *acc) {
    const ln_tensor *t = p->t;
    if (d == t->ndim) {
        fn(p, off, acc);
        return;
    }
    for (int64_t i = 0; i < t->shape[d]; i++) {
        if (!shown(p, t->shape[d], i)) {
            i = t->shape[d] - EDGE - 1;
            continue;
        }
        visit(p, d + 1, off + i * p->stride[d], fn, acc);
    }
}

typedef struct stats {
    int integral;
    double maxabs, minabs; /* over finite values; minabs over nonzero */
} stats;

static void gather_stats(printer *p, int64_t off, void *acc) {
    stats *s = acc;
    double v = ln_get_f64(p->t, off);
    if (!isfinite(v)) return;
    double a = fabs(v);
    if (v != floor(v)) s->integral = 0;
    if (a > s->maxabs) s->maxabs = a;
    if (a > 0 && a < s->minabs) s->minabs = a;
}

static void gather_width(printer *p, int64_t off, void *acc) {
    char buf[64];
    int n = format1(p, off, buf, sizeof buf);
    if (n > *(int *)acc) *(int *)acc = n;
}

static void add(printer *p, const char *s) {
    luaL_addstring(p->b, s);
    const char *nl = strrchr(s, '\n');
    p->col = nl ? (int)strlen(nl + 1) : p->col + (int)strlen(s);
}

static void add_indent(printer *p, int n) {
    for (int i = 0; i < n; i++) luaL_addchar(p->b, ' ');
    p->col = n;
}

/* Emit the sub-array at dim d starting at offset off. */
static void emit(printer *p, int d, int64_t off) {
    const ln_tensor *t = p->t;
    int indent = (int)strlen(PREFIX) + d + 1;
    int64_t n = t->shape[d];
    add(p, "[");
    int first = 1;
    for (int64_t i = 0; i < n; i++) {
        int skip = !shown(p, n, i);
        if (!first) {
            if (d == t->ndim - 1) {
                add(p, ",");
                int need = skip ? 4 : p->width + 1;
                if (p->col + need + 2 > LINEWIDTH) {
                    add(p, "\n");
                    add_indent(p, indent);
                } else {
                    add(p, " ");
                }
            } else {
                add(p, ",");
                for (int k = d; k < t->ndim - 1; k++) add(p, "\n");
                add_indent(p, indent);
            }
        }
        first = 0;
        if (skip) {
            add(p, "...");
            i = n - EDGE - 1;
            continue;
        }
        if (d == t->ndim - 1) {
            char buf[64], pad[80];
            int len = format1(p, off + i, buf, sizeof buf);
            snprintf(pad, sizeof pad, "%*s%s", p->width - len, "", buf);
            add(p, pad);
        } else {
            emit(p, d + 1, off + i * p->stride[d]);
        }
    }
    add(p, "]");
}

static int t_tostring(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    printer p = {t, t->numel > THRESHOLD, F_INT, 0, {0}, NULL, 0};
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        p.stride[i] = s;
        s *= t->shape[i];
    }
    if (t->dtype == LN_FLOAT32 && t->numel) {
        stats st = {1, 0, HUGE_VAL};
        visit(&p, 0, 0, gather_stats, &st);
        if (st.maxabs >= 1e8 || (!st.integral && st.minabs < 1e-4))
            p.mode = F_SCI;
        else p.mode = st.integral ? F_INTEGRAL : F_FIXED;
    } else if (t->dtype == LN_FLOAT32) {
        p.mode = F_FIXED;
    }
    if (t->numel) visit(&p, 0, 0, gather_width, &p.width);
    luaL_Buffer b;
    p.b = &b;
    luaL_buffinit(L, &b);
    add(&p, PREFIX);
    if (t->ndim == 0) {
        char buf[64];
        format1(&p, 0, buf, sizeof buf);
        add(&p, buf);
    } else if (t->numel == 0) {
        add(&p, "[]");
    } else {
        emit(&p, 0, 0);
    }
    char tail[192], sh[128];
    snprintf(tail, sizeof tail, ", dtype=%s, shape=%s)", ln_dtype_name(t->dtype),
             lnT_shape(t, sh, sizeof sh));
    add(&p, tail);
    luaL_pushresult(&b);
    return 1;
}

/* Nested tables of dim d from offset off. */
static void push_table(lua_State *L, const ln_tensor *t, int d, int64_t off,
                       const int64_t *stride) {
    int64_t n = t->shape[d];
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        if (d == t->ndim - 1) lnT_push_elem(L, t, off + i);
        else push_table(L, t, d + 1, off + i * stride[d], stride);
        lua_rawseti(L, -2, i + 1);
    }
}

/* :totable(): nested Lua tables (a number for a 0-d tensor); int32/uint8
** elements become Lua integers. */
static int t_totable(lua_State *L) {
    ln_tensor *t = lnL_check_tensor(L, 1);
    if (t->ndim == 0) {
        lnT_push_elem(L, t, 0);
        return 1;
    }
    int64_t stride[LN_MAX_DIM], s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= t->shape[i];
    }
    luaL_checkstack(L, t->ndim + 4, "totable: nested too deep");
    push_table(L, t, 0, 0, stride);
    return 1;
}

void lnT_open_fmt(lua_State *L, int methods, int meta, int mod) {
    (void)mod;
    lua_pushcfunction(L, t_tostring);
    lua_setfield(L, meta, "__tostring");
    lua_pushcfunction(L, t_totable);
    lua_setfield(L, methods, "totable");
}
