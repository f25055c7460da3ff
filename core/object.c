/*
** object.c -- instances of non-layer units (registry.h), and the helpers
** plugins use to run activations and initializers (plugin.h).
*/
#include <stdlib.h>
#include <string.h>

#include "lunet/registry.h"

typedef ln_status (*create_fn)(ln_ctx *, void *, ln_args *);

/* state_size and create sit in different ops structs per kind. */
static void ops_of(const ln_unit *u, size_t *size, create_fn *create) {
    *size = 0;
    *create = NULL;
    switch (u->kind) {
    case LN_KIND_ACTIVATION: {
        const ln_activation_ops *o = u->ops;
        *size = o->state_size, *create = o->create;
    } break;
    case LN_KIND_LOSS: {
        const ln_loss_ops *o = u->ops;
        *size = o->state_size, *create = o->create;
    } break;
    case LN_KIND_METRIC: {
        const ln_metric_ops *o = u->ops;
        *size = o->state_size, *create = o->create;
    } break;
    case LN_KIND_SCHEDULE: {
        const ln_schedule_ops *o = u->ops;
        *size = o->state_size, *create = o->create;
    } break;
    case LN_KIND_OPTIMIZER: {
        const ln_optimizer_ops *o = u->ops;
        *size = o->state_size, *create = o->create;
    } break;
    default: break;
    }
}

ln_object *ln_object_new(ln_ctx *ctx, ln_kind kind, const char *name,
                         ln_args *args) {
    const ln_unit *u = ln_registry_require(ctx, kind, name);
    ln_object *o = NULL;
    if (!args) args = ln_args_new();
    if (!u || !args) {
        if (u) ln_fail(ctx, LN_E_NOMEM, "out of memory");
        goto fail;
    }
    size_t size;
    create_fn create;
    ops_of(u, &size, &create);
    o = calloc(1, sizeof *o);
    if (!o || (size && !(o->state = calloc(1, size)))) {
        ln_fail(ctx, LN_E_NOMEM, "%s '%s': out of memory", ln_kind_name(kind),
                name);
        goto fail;
    }
    o->unit = u;
    o->args = args;
    if (create && create(ctx, o->state, args)) {
        ln_prefix(ctx, "%s '%s'", ln_kind_name(kind), name);
        ln_object_free(o);
        return NULL;
    }
    char unused[512];
    if (ln_args_unused(args, unused, sizeof unused)) {
        ln_fail(ctx, LN_E_ARG, "%s '%s': unknown keyword argument %s",
                ln_kind_name(kind), name, unused);
        ln_object_free(o);
        return NULL;
    }
    return o;
fail:
    if (o) free(o->state);
    free(o);
    ln_args_free(args);
    return NULL;
}

void ln_object_free(ln_object *o) {
    if (!o) return;
    ln_args_free(o->args);
    free(o->state);
    free(o);
}

/* ---- activations ---------------------------------------------------------- */

ln_activation *ln_activation_new(ln_ctx *ctx, const char *name,
                                 ln_args *args) {
    return ln_object_new(ctx, LN_KIND_ACTIVATION, name ? name : "linear", args);
}

void ln_activation_free(ln_activation *a) { ln_object_free(a); }

const char *ln_activation_name(const ln_activation *a) { return a->unit->name; }

const ln_args *ln_activation_args(const ln_activation *a) { return a->args; }

const ln_activation_ops *ln_activation_ops_of(const ln_activation *a) {
    return a->unit->ops;
}

const void *ln_activation_state(const ln_activation *a) { return a->state; }

int ln_activation_is_identity(const ln_activation *a) {
    return !a || !strcmp(a->unit->name, "linear");
}

void ln_activation_forward(const ln_activation *a, const float *x, float *y,
                           int64_t rows, int64_t cols) {
    const ln_activation_ops *o = a->unit->ops;
    o->forward(a->state, x, y, rows, cols);
}

void ln_activation_backward(const ln_activation *a, const float *x,
                            const float *y, const float *dy, float *dx,
                            int64_t rows, int64_t cols) {
    const ln_activation_ops *o = a->unit->ops;
    o->backward(a->state, x, y, dy, dx, rows, cols);
}

void ln_activation_epilogue(float *x, int64_t len, const void *arg) {
    const ln_activation *a = arg;
    const ln_activation_ops *o = a->unit->ops;
    o->forward(a->state, x, x, 1, len);
}

/* ---- schedules ------------------------------------------------------------ */

double ln_schedule_value(const ln_object *s, double step) {
    const ln_schedule_ops *ops = s->unit->ops;
    return ops->value(s->state, step);
}

/* ---- initializers ---------------------------------------------------------- */

void ln_compute_fans(int nd, const int64_t *shape, double *fan_in,
                     double *fan_out) {
    if (nd < 1) {
        *fan_in = *fan_out = 1;
    } else if (nd == 1) {
        *fan_in = *fan_out = (double)shape[0];
    } else if (nd == 2) {
        *fan_in = (double)shape[0];
        *fan_out = (double)shape[1];
    } else {
        double receptive = 1;
        for (int i = 0; i < nd - 2; i++) receptive *= (double)shape[i];
        *fan_in = (double)shape[nd - 2] * receptive;
        *fan_out = (double)shape[nd - 1] * receptive;
    }
}

ln_status ln_initializer_fill(ln_ctx *ctx, const char *name, ln_args *args,
                              ln_tensor *t, ln_rng *rng) {
    const ln_unit *u = ln_registry_require(ctx, LN_KIND_INITIALIZER, name);
    if (!u) return ctx->status;
    if (t->dtype != LN_FLOAT32)
        return ln_fail(ctx, LN_E_ARG, "initializer '%s': float32 tensors only",
                       name);
    double fi, fo;
    ln_compute_fans(t->ndim, t->shape, &fi, &fo);
    const ln_initializer_ops *o = u->ops;
    ln_args *own = NULL;
    if (!args) args = own = ln_args_new();
    ln_status st = o->fill(ctx, args, t, fi, fo, rng ? rng : ln_rng_global());
    if (st == LN_OK) {
        char unused[512];
        if (ln_args_unused(args, unused, sizeof unused))
            st = ln_fail(ctx, LN_E_ARG,
                         "initializer '%s': unknown keyword argument %s", name,
                         unused);
    } else {
        ln_prefix(ctx, "initializer '%s'", name);
    }
    ln_args_free(own);
    return st;
}

int64_t ln_label_at(const ln_tensor *y, int64_t i) {
    switch (y->dtype) {
    case LN_FLOAT32: return (int64_t)ln_f32(y)[i];
    case LN_INT32: return ln_i32(y)[i];
    case LN_UINT8: return ln_u8(y)[i];
    }
    return 0;
}
