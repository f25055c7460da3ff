/*
** optimizer_state.c -- an optimizer's saved state: its variables, their
** slots, the globals and the iteration count, as Keras's weight list.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optimizer_impl.h"

int ln_optimizer_var_count(const ln_optimizer *o) { return o->nvars; }

ln_tensor *ln_optimizer_var(const ln_optimizer *o, int i) {
    return i >= 0 && i < o->nvars ? o->vars[i].var : NULL;
}

const char *ln_optimizer_var_name(const ln_optimizer *o, int i) {
    return i >= 0 && i < o->nvars ? o->vars[i].name : NULL;
}

int ln_optimizer_slot_count(const ln_optimizer *o) { return o->nslots; }

const char *ln_optimizer_slot_name(const ln_optimizer *o, int j) {
    return j >= 0 && j < o->nslots ? o->slot_names[j] : NULL;
}

int ln_optimizer_slot_index(const ln_optimizer *o, const char *name) {
    for (int j = 0; j < o->nslots; j++)
        if (!strcmp(o->slot_names[j], name)) return j;
    return -1;
}

ln_tensor *ln_optimizer_slot(const ln_optimizer *o, int i, int j) {
    if (i < 0 || i >= o->nvars || j < 0 || j >= o->nslots) return NULL;
    return o->vars[i].slots[j];
}

int ln_optimizer_global_count(const ln_optimizer *o) { return o->nglobals; }

const char *ln_optimizer_global_name(const ln_optimizer *o, int k) {
    return k >= 0 && k < o->nglobals ? o->global_names[k] : NULL;
}

double ln_optimizer_global(const ln_optimizer *o, int k) {
    return k >= 0 && k < o->nglobals ? o->globals[k] : NAN;
}

void ln_optimizer_set_global(ln_optimizer *o, int k, double v) {
    if (k >= 0 && k < o->nglobals) o->globals[k] = v;
}

int ln_optimizer_weight_count(const ln_optimizer *o) {
    return 1 + o->nglobals + o->nslots * o->nvars;
}

/* Weight w -> (kind, index): 0 iterations, 1 global k, 2 slot (var i, j). */
static int locate(const ln_optimizer *o, int w, int *i, int *j) {
    if (w == 0) return 0;
    w -= 1;
    if (w < o->nglobals) {
        *i = w;
        return 1;
    }
    w -= o->nglobals;
    if (o->nvars == 0 || w >= o->nslots * o->nvars) return -1;
    *j = w / o->nvars;
    *i = w % o->nvars;
    return 2;
}

const char *ln_optimizer_weight_name(const ln_optimizer *o, int w, char *buf,
                                     size_t n) {
    int i = 0, j = 0;
    switch (w >= 0 ? locate(o, w, &i, &j) : -1) {
    case 0: snprintf(buf, n, "%s/iter:0", o->name); break;
    case 1: snprintf(buf, n, "%s/%s:0", o->name, o->global_names[i]); break;
    case 2:
        snprintf(buf, n, "%s/%s/%s:0", o->name, o->vars[i].name,
                 o->slot_names[j]);
        break;
    default: snprintf(buf, n, "?"); break;
    }
    return buf;
}

ln_tensor *ln_optimizer_get_weight(ln_ctx *ctx, const ln_optimizer *o, int w) {
    int i = 0, j = 0;
    int kind = w >= 0 ? locate(o, w, &i, &j) : -1;
    ln_tensor *t = NULL;
    switch (kind) {
    case 0:
        if (o->iterations > INT32_MAX) {
            ln_fail(ctx, LN_E_ARG, "%s: iterations %lld do not fit an int32 "
                    "tensor", o->name, (long long)o->iterations);
            return NULL;
        }
        if ((t = ln_tensor_new(ctx, LN_INT32, 0, NULL)))
            ln_i32(t)[0] = (int32_t)o->iterations;
        return t;
    case 1:
        if ((t = ln_tensor_new(ctx, LN_FLOAT32, 0, NULL)))
            ln_f32(t)[0] = (float)o->globals[i];
        return t;
    case 2: return ln_tensor_clone(ctx, o->vars[i].slots[j]);
    default:
        ln_fail(ctx, LN_E_ARG, "%s: no weight %d (it has %d)", o->name, w + 1,
                ln_optimizer_weight_count(o));
        return NULL;
    }
}

/* Check that weight w can take value t (message names both). */
static ln_status check_weight(ln_ctx *ctx, const ln_optimizer *o, int w,
                              const ln_tensor *t) {
    char name[LN_NAME_MAX * 2], a[128], b[128];
    int i = 0, j = 0;
    int kind = locate(o, w, &i, &j);
    ln_optimizer_weight_name(o, w, name, sizeof name);
    if (!t) return ln_fail(ctx, LN_E_ARG, "%s: set_weights: no value for '%s'", o->name, name);
    if (kind == 0) {
        if (t->numel != 1 || (t->dtype != LN_INT32 && t->dtype != LN_FLOAT32))
            return ln_fail(ctx, LN_E_SHAPE, "%s: set_weights: '%s' needs one "
                           "int32 or float32 value, got %s %s", o->name, name,
                           ln_dtype_name(t->dtype), ln_shape_str(t, a, sizeof a));
        double v = t->dtype == LN_INT32 ? ln_i32(t)[0] : ln_f32(t)[0];
        if (!(v >= 0) || v != floor(v))
            return ln_fail(ctx, LN_E_ARG, "%s: set_weights: '%s' must be a "
                           "non-negative integer, got %g", o->name, name, v);
        return LN_OK;
    }
    if (t->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "%s: set_weights: '%s' must be float32, "
                       "got %s", o->name, name, ln_dtype_name(t->dtype));
    if (kind == 1) {
        if (t->numel != 1)
            return ln_fail(ctx, LN_E_SHAPE, "%s: set_weights: '%s' is a scalar, "
                           "got shape %s", o->name, name, ln_shape_str(t, a, sizeof a));
        return LN_OK;
    }
    if (!ln_shape_equal(t, o->vars[i].slots[j]))
        return ln_fail(ctx, LN_E_SHAPE, "%s: set_weights: '%s' has shape %s, "
                       "got %s", o->name, name,
                       ln_shape_str(o->vars[i].slots[j], a, sizeof a),
                       ln_shape_str(t, b, sizeof b));
    return LN_OK;
}

ln_status ln_optimizer_set_weights(ln_ctx *ctx, ln_optimizer *o, int n,
                                   const ln_tensor *const *w) {
    int want = ln_optimizer_weight_count(o);
    if (n != want)
        return ln_fail(ctx, LN_E_ARG, "%s: set_weights got %d weights but the "
                       "optimizer has %d (iterations, %d globals, %d slots x %d "
                       "variables)%s", o->name, n, want, o->nglobals, o->nslots,
                       o->nvars, o->nvars ? "" : "; build it on the variables first");
    for (int k = 0; k < n; k++) {
        ln_status st = check_weight(ctx, o, k, w[k]);
        if (st) return st;
    }
    for (int k = 0; k < n; k++) {
        int i = 0, j = 0;
        switch (locate(o, k, &i, &j)) {
        case 0:
            o->iterations = w[k]->dtype == LN_INT32 ? ln_i32(w[k])[0]
                                                    : (int64_t)ln_f32(w[k])[0];
            break;
        case 1: o->globals[i] = ln_f32(w[k])[0]; break;
        case 2:
            ln_copy(ln_f32(o->vars[i].slots[j]), ln_f32(w[k]), w[k]->numel);
            break;
        }
    }
    return LN_OK;
}
