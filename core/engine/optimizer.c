/*
** optimizer.c -- optimizer instances: the common keyword arguments, the
** learning rate (number or schedule, then inverse-time decay), and apply:
** clip, begin_step, one plugin update per variable, iterations + 1.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/parallel.h"
#include "optimizer_impl.h"

/* ---- keyword arguments ------------------------------------------------------ */

/* The type of key's entry in a, or -1 when absent. */
static int arg_type(const ln_args *a, const char *key) {
    int n = ln_args_count(a);
    for (int i = 0; i < n; i++) {
        ln_arg e = ln_args_at(a, i);
        if (!strcmp(e.key, key)) return (int)e.type;
    }
    return -1;
}

/* A non-negative number under key, or (when absent or nil) "off" (-1) and
** nothing recorded, so the config shows only the clips that were given. */
static ln_status read_optional(ln_ctx *ctx, ln_args *a, const char *owner,
                               const char *key, double *out) {
    *out = -1;
    if (!ln_args_has(a, key)) {
        if (arg_type(a, key) == LN_ARG_NULL) { /* given as nil: mark read */
            double dummy;
            ln_status st = ln_args_number(ctx, a, key, 0, &dummy);
            if (st) return st;
            return ln_args_set_null(a, key) ? ln_fail(ctx, LN_E_NOMEM, "out of memory")
                                            : LN_OK;
        }
        return LN_OK;
    }
    ln_status st = ln_args_number(ctx, a, key, 0, out);
    if (st) return ln_prefix(ctx, "%s", owner);
    if (!(*out >= 0))
        return ln_fail(ctx, LN_E_ARG, "%s: '%s' must be >= 0, got %g", owner,
                       key, *out);
    return LN_OK;
}

/* The learning rate: a number (also under the legacy `lr`), or a schedule
** reference table that becomes a schedule object; the config then holds the
** schedule's effective arguments under learning_rate. */
static ln_status read_learning_rate(ln_ctx *ctx, ln_optimizer *o, ln_args *a,
                                    const char *owner, double def) {
    int has_lr = ln_args_has(a, "lr"), has_lrate = ln_args_has(a, "learning_rate");
    if (has_lr && has_lrate)
        return ln_fail(ctx, LN_E_ARG,
                       "%s: give 'learning_rate' or its legacy alias 'lr', "
                       "not both", owner);
    if (has_lr) {
        if (arg_type(a, "lr") == LN_ARG_TABLE)
            return ln_fail(ctx, LN_E_ARG,
                           "%s: 'lr' must be a number (use learning_rate for "
                           "a schedule)", owner);
        double v;
        if (ln_args_number(ctx, a, "lr", def, &v)) return ln_prefix(ctx, "%s", owner);
        /* Recorded as learning_rate only. */
        if (ln_args_set_null(a, "lr") || ln_args_set_number(a, "learning_rate", v))
            return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    if (arg_type(a, "learning_rate") == LN_ARG_TABLE) {
        const char *sname;
        ln_args *sub;
        if (ln_args_unit(ctx, a, "learning_rate", NULL, &sname, &sub))
            return ln_prefix(ctx, "%s", owner);
        char unit[LN_NAME_MAX];
        snprintf(unit, sizeof unit, "%s", sname);
        ln_args *sargs = ln_args_new();
        if (!sargs || ln_args_copy(sargs, sub, "name", 0)) {
            ln_args_free(sargs);
            return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        }
        o->schedule = ln_object_new(ctx, LN_KIND_SCHEDULE, unit, sargs);
        if (!o->schedule) return ln_prefix(ctx, "%s: learning_rate", owner);
        /* The config shows the schedule's effective arguments (read marks
        ** kept, so they count as used). */
        ln_args *cfg = ln_args_clone(o->schedule->args);
        if (!cfg || ln_args_set_string(cfg, "name", unit)) {
            ln_args_free(cfg);
            return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        }
        if (ln_args_set_table(a, "learning_rate", cfg)) /* frees cfg */
            return ln_fail(ctx, LN_E_NOMEM, "out of memory");
        o->lr = NAN;
        return LN_OK;
    }
    if (ln_args_number(ctx, a, "learning_rate", def, &o->lr))
        return ln_prefix(ctx, "%s", owner);
    if (!(o->lr >= 0) || isinf(o->lr))
        return ln_fail(ctx, LN_E_ARG,
                       "%s: 'learning_rate' must be a finite number >= 0, got %g",
                       owner, o->lr);
    return LN_OK;
}

/* Read every common keyword into o (before the plugin's create runs, so
** that the core's unknown-key check sees them as read). */
static ln_status read_common(ln_ctx *ctx, ln_optimizer *o, ln_args *a,
                             const ln_unit *u) {
    const ln_optimizer_ops *ops = u->ops;
    const char *owner = u->class_name ? u->class_name : u->name;
    const char *nm;
    if (ln_args_string(ctx, a, "name", owner, &nm)) return ln_prefix(ctx, "%s", owner);
    if (!nm || !*nm || strlen(nm) >= LN_NAME_MAX || strchr(nm, '/'))
        return ln_fail(ctx, LN_E_ARG, "%s: 'name' must be a non-empty name "
                       "without '/'", owner);
    snprintf(o->name, sizeof o->name, "%s", nm);
    ln_status st = read_learning_rate(ctx, o, a, owner, ops->default_learning_rate);
    if (st) return st;
    if (ln_args_number(ctx, a, "decay", 0.0, &o->decay)) return ln_prefix(ctx, "%s", owner);
    if (!(o->decay >= 0) || isinf(o->decay))
        return ln_fail(ctx, LN_E_ARG, "%s: 'decay' must be a finite number >= 0, got %g",
                       owner, o->decay);
    if ((st = read_optional(ctx, a, owner, "clipvalue", &o->clipvalue)) ||
        (st = read_optional(ctx, a, owner, "clipnorm", &o->clipnorm)) ||
        (st = read_optional(ctx, a, owner, "global_clipnorm", &o->global_clipnorm)))
        return st;
    if (o->clipnorm >= 0 && o->global_clipnorm >= 0)
        return ln_fail(ctx, LN_E_ARG,
                       "%s: 'clipnorm' and 'global_clipnorm' cannot both be set",
                       owner);
    return LN_OK;
}

/* ---- life cycle ---------------------------------------------------------------- */

ln_optimizer *ln_optimizer_new(ln_ctx *ctx, const char *name, ln_args *args) {
    if (!args) args = ln_args_new();
    const ln_unit *u = ln_registry_require(ctx, LN_KIND_OPTIMIZER, name);
    ln_optimizer *o = calloc(1, sizeof *o);
    if (!u || !args || !o) {
        if (u) ln_fail(ctx, LN_E_NOMEM, "out of memory");
        ln_args_free(args);
        free(o);
        return NULL;
    }
    o->ops = u->ops;
    if (read_common(ctx, o, args, u)) {
        ln_args_free(args);
        ln_optimizer_free(o);
        return NULL;
    }
    o->obj = ln_object_new(ctx, LN_KIND_OPTIMIZER, name, args); /* owns args */
    if (!o->obj) {
        ln_optimizer_free(o);
        return NULL;
    }
    o->nslots = o->ops->slots ? o->ops->slots(o->obj->state, o->slot_names,
                                              o->slot_init)
                              : 0;
    o->nglobals = o->ops->globals ? o->ops->globals(o->obj->state,
                                                    o->global_names, o->globals)
                                  : 0;
    if (o->nslots < 0 || o->nslots > LN_MAX_SLOTS || o->nglobals < 0 ||
        o->nglobals > LN_MAX_SLOTS) {
        ln_fail(ctx, LN_E_INTERNAL, "optimizer '%s': the plugin declares %d "
                "slots and %d globals (at most %d each)", name, o->nslots,
                o->nglobals, LN_MAX_SLOTS);
        ln_optimizer_free(o);
        return NULL;
    }
    return o;
}

void ln_optimizer_free(ln_optimizer *o) {
    if (!o) return;
    for (int i = 0; i < o->nvars; i++) {
        ln_tensor_release(o->vars[i].var);
        for (int j = 0; j < LN_MAX_SLOTS; j++)
            ln_tensor_release(o->vars[i].slots[j]);
    }
    free(o->vars);
    free(o->index);
    free(o->sumsq);
    free(o->scratch);
    ln_object_free(o->schedule);
    ln_object_free(o->obj);
    free(o);
}

const ln_object *ln_optimizer_object(const ln_optimizer *o) { return o->obj; }
const char *ln_optimizer_name(const ln_optimizer *o) { return o->name; }

/* ---- learning rate ------------------------------------------------------------- */

int ln_optimizer_has_schedule(const ln_optimizer *o) { return o->schedule != NULL; }

double ln_optimizer_learning_rate(const ln_optimizer *o) {
    return o->schedule ? ln_schedule_value(o->schedule, (double)o->iterations)
                       : o->lr;
}

ln_status ln_optimizer_set_learning_rate(ln_ctx *ctx, ln_optimizer *o,
                                         double lr) {
    if (!(lr >= 0) || isinf(lr))
        return ln_fail(ctx, LN_E_ARG,
                       "%s: 'learning_rate' must be a finite number >= 0, got %g",
                       o->name, lr);
    if (ln_args_set_number(o->obj->args, "learning_rate", lr))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    ln_object_free(o->schedule);
    o->schedule = NULL;
    o->lr = lr;
    return LN_OK;
}

double ln_optimizer_lr_at(const ln_optimizer *o, int64_t iterations) {
    double lr = o->schedule ? ln_schedule_value(o->schedule, (double)iterations)
                            : o->lr;
    if (o->decay > 0) lr /= 1.0 + o->decay * (double)iterations;
    return lr;
}

int64_t ln_optimizer_iterations(const ln_optimizer *o) { return o->iterations; }

ln_status ln_optimizer_set_iterations(ln_ctx *ctx, ln_optimizer *o,
                                      int64_t iterations) {
    if (iterations < 0)
        return ln_fail(ctx, LN_E_ARG, "%s: iterations must be >= 0, got %lld",
                       o->name, (long long)iterations);
    o->iterations = iterations;
    return LN_OK;
}

/* ---- variables and slots ----------------------------------------------------- */

/* Register var (name may be NULL) with fresh slots at the plugin's initial
** values; *index gets its position. */
static ln_status add_var(ln_ctx *ctx, ln_optimizer *o, ln_tensor *var,
                         const char *name, int *index) {
    if (o->nvars == o->capvars) {
        int cap = o->capvars ? 2 * o->capvars : 16;
        ln_opt_var *nv = realloc(o->vars, (size_t)cap * sizeof *nv);
        if (!nv) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", o->name);
        o->vars = nv;
        o->capvars = cap;
    }
    ln_opt_var *v = &o->vars[o->nvars];
    memset(v, 0, sizeof *v);
    if (name && *name) {
        snprintf(v->name, sizeof v->name, "%s", name);
        size_t len = strlen(v->name);
        if (len > 2 && !strcmp(v->name + len - 2, ":0")) v->name[len - 2] = '\0';
    } else {
        snprintf(v->name, sizeof v->name, "variable_%d", o->nvars);
    }
    for (int j = 0; j < o->nslots; j++) {
        v->slots[j] = ln_tensor_new(ctx, LN_FLOAT32, var->ndim, var->shape);
        if (!v->slots[j]) {
            for (int k = 0; k < j; k++) ln_tensor_release(v->slots[k]);
            return ln_prefix(ctx, "%s: slot '%s' of '%s'", o->name,
                             o->slot_names[j], v->name);
        }
        if (o->slot_init[j] != 0.0f)
            ln_fill(ln_f32(v->slots[j]), var->numel, o->slot_init[j]);
    }
    ln_tensor_retain(var);
    v->var = var;
    *index = o->nvars++;
    return LN_OK;
}

int ln_optimizer_find_var(const ln_optimizer *o, const ln_tensor *var) {
    for (int i = 0; i < o->nvars; i++)
        if (o->vars[i].var == var) return i;
    return -1;
}

/* Grow the per-apply arrays to n pairs. */
static ln_status reserve_work(ln_ctx *ctx, ln_optimizer *o, int n) {
    if (n <= o->capwork) return LN_OK;
    int *ni = realloc(o->index, (size_t)n * sizeof *ni);
    if (ni) o->index = ni;
    double *ns = realloc(o->sumsq, (size_t)n * sizeof *ns);
    if (ns) o->sumsq = ns;
    if (!ni || !ns) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", o->name);
    o->capwork = n;
    return LN_OK;
}

ln_status ln__opt_reserve_scratch(ln_ctx *ctx, ln_optimizer *o, int64_t n) {
    if (n <= o->capscratch) return LN_OK;
    float *s = realloc(o->scratch, (size_t)n * sizeof *s);
    if (!s) return ln_fail(ctx, LN_E_NOMEM, "%s: out of memory", o->name);
    o->scratch = s;
    o->capscratch = n;
    return LN_OK;
}

/* Check the pairs and map each variable to its slots (o->index), creating
** slots for variables seen for the first time. grads may be NULL (build). */
static ln_status resolve(ln_ctx *ctx, ln_optimizer *o, int n,
                         ln_tensor *const *vars, const ln_tensor *const *grads,
                         const char *const *names) {
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "%s: %d variables", o->name, n);
    ln_status st = reserve_work(ctx, o, n);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        const char *nm = names && names[i] ? names[i] : NULL;
        ln_tensor *v = vars[i];
        if (!v || v->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "%s: variable %d (%s) must be a float32 "
                           "tensor", o->name, i + 1, nm ? nm : "unnamed");
        if (grads) {
            const ln_tensor *g = grads[i];
            char sv[128], sg[128];
            if (!g || g->dtype != LN_FLOAT32)
                return ln_fail(ctx, LN_E_ARG, "%s: the gradient of variable %d "
                               "(%s) must be a float32 tensor", o->name, i + 1,
                               nm ? nm : "unnamed");
            if (!ln_shape_equal(v, g))
                return ln_fail(ctx, LN_E_SHAPE, "%s: variable %d (%s) has shape "
                               "%s but its gradient has shape %s", o->name, i + 1,
                               nm ? nm : "unnamed", ln_shape_str(v, sv, sizeof sv),
                               ln_shape_str(g, sg, sizeof sg));
        }
        /* Fast path: the same variables in the same order as before. */
        int k = i < o->nvars && o->vars[i].var == v ? i : ln_optimizer_find_var(o, v);
        if (k < 0 && (st = add_var(ctx, o, v, nm, &k))) return st;
        if (!ln_shape_equal(o->vars[k].var, v)) /* reshaped since registered */
            return ln_fail(ctx, LN_E_SHAPE, "%s: variable '%s' changed shape",
                           o->name, o->vars[k].name);
        o->index[i] = k;
        if (grads && (st = ln__opt_reserve_scratch(ctx, o, v->numel))) return st;
    }
    return LN_OK;
}

ln_status ln_optimizer_build(ln_ctx *ctx, ln_optimizer *o, int n,
                             ln_tensor *const *vars, const char *const *names) {
    return resolve(ctx, o, n, vars, NULL, names);
}

/* ---- apply ---------------------------------------------------------------------- */

/* The update of variable i of the resolved pairs with its gradient g (clipped
** as configured; global_scale from the global norm), at step t with rate
** lr. Outside a thread team (a GradientTape loop of the user's own) a large
** variable's update is shared with the helper pool like any elementwise
** loop (ln_parallel_for): the caller takes chunks from the front, a helper
** from the back -- about the kernel rows whose half of the step's products
** the helper computed (ln.matmul's feature halves go to it too:
** ln_gemm_team, ln_parallel_pair). Until the products went there, a
** variable of up to 4 MiB updated on the calling thread alone did better
** (the products ran there and read every weight). */
static void update_var(ln_optimizer *o, int i, const float *g, int64_t t,
                       double lr, double global_scale) {
    ln_opt_var *v = &o->vars[o->index[i]];
    const int64_t len = v->var->numel;
    const double cv = o->clipvalue;
    if (cv >= 0 || o->clipnorm >= 0 || o->global_clipnorm >= 0) {
        double scale = global_scale;
        if (cv >= 0) {
            ln__clip_apply(o->scratch, g, len, cv, 1.0);
            g = o->scratch;
        }
        if (o->clipnorm >= 0) scale = ln__clip_factor(ln_sumsq(g, len), o->clipnorm);
        if (scale != 1.0) {
            ln__clip_apply(o->scratch, g, len, -1, scale);
            g = o->scratch;
        }
    }
    float *slots[LN_MAX_SLOTS];
    for (int j = 0; j < o->nslots; j++) slots[j] = ln_f32(v->slots[j]);
    o->ops->update(o->obj->state, ln_f32(v->var), g, slots, len, t, lr, o->globals);
}

ln_status ln_optimizer_apply(ln_ctx *ctx, ln_optimizer *o, int n,
                             ln_tensor *const *vars,
                             const ln_tensor *const *grads,
                             const char *const *names) {
    ln_status st = resolve(ctx, o, n, vars, grads, names);
    if (st) return st;
    const int64_t t = o->iterations + 1;
    const double lr = ln_optimizer_lr_at(o, o->iterations);
    const double cv = o->clipvalue;

    /* global_clipnorm: the norm of all (value-clipped) gradients first,
    ** summed in pair order. */
    double global_scale = 1.0;
    if (o->global_clipnorm >= 0) {
        double total = 0;
        for (int i = 0; i < n; i++) {
            const float *g = ln_f32(grads[i]);
            if (cv >= 0) {
                ln__clip_apply(o->scratch, g, grads[i]->numel, cv, 1.0);
                g = o->scratch;
            }
            total += ln_sumsq(g, grads[i]->numel);
        }
        global_scale = ln__clip_factor(total, o->global_clipnorm);
    }
    if (o->ops->begin_step) o->ops->begin_step(o->obj->state, o->globals, t);
    for (int i = 0; i < n; i++) {
        update_var(o, i, ln_f32(grads[i]), t, lr, global_scale);
    }
    o->iterations = t;
    return LN_OK;
}

/* ---- a step applied in pieces (net_update.c) ------------------------------------------ */

int ln__opt_pieces_ok(const ln_optimizer *o) {
    return o->clipvalue < 0 && o->clipnorm < 0 && o->global_clipnorm < 0 &&
           !(o->ops->flags & LN_OPT_WHOLE_VARIABLE);
}

ln_status ln__opt_step_begin(ln_ctx *ctx, ln_optimizer *o, int n,
                             ln_tensor *const *vars,
                             const ln_tensor *const *grads,
                             const char *const *names) {
    ln_status st = resolve(ctx, o, n, vars, grads, names);
    if (st) return st;
    o->step_t = o->iterations + 1;
    o->step_lr = ln_optimizer_lr_at(o, o->iterations);
    if (o->ops->begin_step) o->ops->begin_step(o->obj->state, o->globals, o->step_t);
    return LN_OK;
}

void ln__opt_step_range(ln_optimizer *o, int i, const float *grad, int64_t lo,
                        int64_t hi) {
    ln_opt_var *v = &o->vars[o->index[i]];
    float *slots[LN_MAX_SLOTS];
    for (int j = 0; j < o->nslots; j++) slots[j] = ln_f32(v->slots[j]) + lo;
    o->ops->update(o->obj->state, ln_f32(v->var) + lo, grad + lo, slots, hi - lo,
                   o->step_t, o->step_lr, o->globals);
}

int ln__opt_folds_reg(const ln_optimizer *o) {
    return LN_OPS_HAS(o->ops, update_reg) && o->ops->update_reg != NULL;
}

void ln__opt_step_range_reg(ln_optimizer *o, int i, const float *grad,
                            int64_t lo, int64_t hi, double l1, double l2) {
    ln_opt_var *v = &o->vars[o->index[i]];
    float *slots[LN_MAX_SLOTS];
    for (int j = 0; j < o->nslots; j++) slots[j] = ln_f32(v->slots[j]) + lo;
    o->ops->update_reg(o->obj->state, ln_f32(v->var) + lo, grad + lo, slots,
                       hi - lo, o->step_t, o->step_lr, o->globals, l1, l2);
}

void ln__opt_step_var(ln_optimizer *o, int i, const float *grad) {
    update_var(o, i, grad, o->step_t, o->step_lr, 1.0);
}

void ln__opt_step_end(ln_optimizer *o) { o->iterations = o->step_t; }
