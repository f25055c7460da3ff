/*
** fuzz_args.c -- keyword-argument parsing: ln_args built from the input
** bytes create layers, activations, initializers, optimizers, schedules,
** losses and metrics through the registry, and what is created is used.
**
** Input (a byte cursor, see fuzz_util.h): the kind, the unit (a registered
** one by index, or a made-up name), then the arguments: up to 8 entries,
** each a key (a known keyword, a positional #1/#2, or made-up bytes) and a
** value (nil, a boolean, an edge-case number, a string, a list of numbers,
** or a nested table, usually a unit reference {name = ...}).
**
** Oracle:
**  - creation returns an instance or an error with a message; an unknown
**    unit's message names it;
**  - an instance's effective config (the args after creation) creates an
**    equal instance again: the same config, entry by entry (model files
**    rely on this round trip);
**  - layers with modest sizes are built on a small input shape and run
**    forward and backward; activations, initializers, optimizers,
**    schedules, losses and metrics are run once on small data;
**  - no tensor leaks (LeakSanitizer covers the rest under libFuzzer).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "lunet/engine/optimizer.h"

/* ---- the registry's units, by kind ----------------------------------------- */

#define MAX_UNITS 128
static const char *units[LN_KIND_COUNT][MAX_UNITS];
static int nunits[LN_KIND_COUNT];

static void list_units(void) {
    static int done;
    if (done) return;
    done = 1;
    ln_registry_scan();
    for (int i = 0; i < ln_registry_count(); i++) {
        const ln_unit *u = ln_registry_at(i, NULL);
        if (u->kind < LN_KIND_COUNT && nunits[u->kind] < MAX_UNITS)
            units[u->kind][nunits[u->kind]++] = u->name;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    list_units();
    return 0;
}

/* ---- arguments from bytes ------------------------------------------------------- */

static const char *const keys[] = {
    "units", "activation", "use_bias", "kernel_initializer",
    "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "rate", "seed",
    "noise_shape", "stddev", "alpha", "max_value", "negative_slope",
    "threshold", "theta", "axis", "momentum", "epsilon", "center", "scale",
    "beta_initializer", "gamma_initializer", "moving_mean_initializer",
    "moving_variance_initializer", "shared_axes", "alpha_initializer",
    "lower", "upper", "data_format", "learning_rate", "lr", "decay",
    "clipvalue", "clipnorm", "global_clipnorm", "name", "beta_1", "beta_2",
    "amsgrad", "nesterov", "rho", "centered", "initial_accumulator_value",
    "weight_decay", "learning_rate_power", "l1_regularization_strength",
    "l2_regularization_strength", "l2_shrinkage_regularization_strength",
    "beta", "initial_learning_rate", "decay_steps", "decay_rate",
    "staircase", "boundaries", "values", "end_learning_rate", "power",
    "cycle", "maximal_learning_rate", "warmup", "from_logits",
    "label_smoothing", "delta", "k", "mode", "distribution", "value",
    "mean", "minval", "maxval", "gain", "l1", "l2", "reduction", "#1",
    "#2", "#3",
};
static const char *const strings[] = {
    "relu", "softmax", "sigmoid", "linear", "tanh", "he_normal",
    "glorot_uniform", "zeros", "ones", "variance_scaling", "fan_in",
    "fan_out", "fan_avg", "uniform", "normal", "truncated_normal",
    "untruncated_normal", "channels_last", "channels_first", "l1", "l2",
    "l1_l2", "auto", "sum", "none", "exponential_decay", "adam", "",
    "relux", "he_normall",
};

static ln_args *fuzz_args(fz_in *in, int depth);

static void fuzz_value(fz_in *in, ln_args *a, const char *key, int depth) {
    char buf[40];
    switch (fz_u8(in) % 8) {
    case 0: ln_args_set_null(a, key); break;
    case 1: ln_args_set_bool(a, key, fz_u8(in) & 1); break;
    case 2:
    case 3: ln_args_set_number(a, key, fz_number(in)); break;
    case 4: ln_args_set_string(a, key, fz_pick(in, strings, sizeof strings / sizeof *strings)); break;
    case 5: ln_args_set_string(a, key, fz_string(in, buf, 32)); break;
    case 6: {
        double v[9];
        int n = fz_u8(in) % 9;
        for (int i = 0; i < n; i++) v[i] = fz_number(in);
        ln_args_set_numbers(a, key, n, v);
    } break;
    default:
        if (depth < 3) ln_args_set_table(a, key, fuzz_args(in, depth + 1));
        else ln_args_set_null(a, key);
        break;
    }
}

/* A table of arguments; nested ones usually name a unit. */
static ln_args *fuzz_args(fz_in *in, int depth) {
    ln_args *a = ln_args_new();
    FZ_CHECK(a != NULL, "out of memory");
    if (depth > 0 && fz_u8(in) % 4)
        ln_args_set_string(a, "name", fz_pick(in, strings, sizeof strings / sizeof *strings));
    int n = fz_u8(in) % 9;
    for (int i = 0; i < n; i++) {
        char buf[40];
        const char *key = fz_u8(in) % 8 ? fz_pick(in, keys, sizeof keys / sizeof *keys)
                                        : fz_string(in, buf, 24);
        fuzz_value(in, a, key, depth);
    }
    return a;
}

/* ---- configs: fresh copies and comparison -------------------------------------- */

/* A copy of the entries without their `used` marks (as a saved config is
** read back). */
static ln_args *fresh_copy(const ln_args *a) {
    ln_args *c = ln_args_new();
    FZ_CHECK(c != NULL, "out of memory");
    for (int i = 0; i < ln_args_count(a); i++) {
        ln_arg e = ln_args_at(a, i);
        switch (e.type) {
        case LN_ARG_NULL: ln_args_set_null(c, e.key); break;
        case LN_ARG_BOOL: ln_args_set_bool(c, e.key, e.num != 0); break;
        case LN_ARG_NUMBER: ln_args_set_number(c, e.key, e.num); break;
        case LN_ARG_STRING: ln_args_set_string(c, e.key, e.str); break;
        case LN_ARG_NUMBERS: ln_args_set_numbers(c, e.key, e.n, e.nums); break;
        case LN_ARG_TABLE: ln_args_set_table(c, e.key, fresh_copy(e.table)); break;
        }
    }
    return c;
}

static int same_number(double a, double b) {
    return a == b || (isnan(a) && isnan(b));
}

/* Equal configs: the same used keys with the same values. Returns NULL,
** or what differs (a static message). */
static const char *config_diff(const ln_args *a, const ln_args *b) {
    static char why[256];
    int na = ln_args_count(a), nb = ln_args_count(b);
    for (int i = 0; i < na; i++) {
        ln_arg x = ln_args_at(a, i);
        if (!x.used) continue;
        const char *sub = NULL;
        int found = 0, same = 1;
        for (int j = 0; j < nb && !found; j++) {
            ln_arg y = ln_args_at(b, j);
            if (strcmp(x.key, y.key)) continue;
            found = 1;
            if (x.type != y.type) {
                same = 0;
                break;
            }
            switch (x.type) {
            case LN_ARG_BOOL:
            case LN_ARG_NUMBER: same = same_number(x.num, y.num); break;
            case LN_ARG_STRING: same = !strcmp(x.str, y.str); break;
            case LN_ARG_NUMBERS:
                same = x.n == y.n;
                for (int k = 0; same && k < x.n; k++) same = same_number(x.nums[k], y.nums[k]);
                break;
            case LN_ARG_TABLE: sub = config_diff(x.table, y.table); break;
            case LN_ARG_NULL: break;
            }
        }
        if (sub) return sub;
        if (!found || !same) {
            snprintf(why, sizeof why, "config key '%s' %s on re-creation", x.key,
                     found ? "changed" : "is gone");
            return why;
        }
    }
    return NULL;
}

/* Are all numbers in the args modest (so building allocates little)? */
static int modest(const ln_args *a) {
    for (int i = 0; i < ln_args_count(a); i++) {
        ln_arg e = ln_args_at(a, i);
        if (e.type == LN_ARG_NUMBER && fabs(e.num) > 64) return 0;
        if (e.type == LN_ARG_NUMBERS)
            for (int k = 0; k < e.n; k++)
                if (fabs(e.nums[k]) > 64) return 0;
        if (e.type == LN_ARG_TABLE && !modest(e.table)) return 0;
    }
    return 1;
}

/* ---- small data ------------------------------------------------------------------ */

static ln_tensor *make(ln_ctx *ctx, ln_dtype dt, int nd, const int64_t *shape,
                       fz_in *in) {
    ln_tensor *t = ln_tensor_new(ctx, dt, nd, shape);
    FZ_CHECK(t != NULL, "small tensor: %s", ctx->msg);
    for (int64_t i = 0; i < t->numel; i++) {
        double v = fz_u8(in) & 1 ? fz_number(in) : (double)((i * 7) % 5) - 2;
        if (dt == LN_FLOAT32) ln_f32(t)[i] = (float)v;
        else if (dt == LN_INT32) ln_i32(t)[i] = (int32_t)(isfinite(v) && fabs(v) < 1e9 ? v : 0);
        else ln_u8(t)[i] = (uint8_t)((int64_t)(isfinite(v) && fabs(v) < 1e9 ? v : 0) & 0xff);
    }
    return t;
}

static void check_failure(const ln_ctx *ctx, ln_status st, const char *what) {
    FZ_CHECK(st != LN_OK && ctx->status == st, "%s: status mismatch", what);
    FZ_CHECK(ctx->msg[0] != '\0', "%s failed without a message", what);
}

/* ---- per kind ------------------------------------------------------------------------ */

static void run_layer(ln_ctx *ctx, ln_layer *l, fz_in *in) {
    int nd = 1 + fz_u8(in) % 3;
    int64_t shape[LN_MAX_DIM], batch = 1 + fz_u8(in) % 4;
    for (int i = 0; i < nd; i++) shape[i] = 1 + fz_u8(in) % 6;
    ln_shape sh = {nd, {0}};
    memcpy(sh.dim, shape, sizeof *shape * (size_t)nd);
    ln_status st = ln_layer_build(ctx, l, 1, &sh);
    if (st) {
        check_failure(ctx, st, "build");
        return;
    }
    int64_t xs[LN_MAX_DIM] = {batch};
    memcpy(xs + 1, shape, sizeof *shape * (size_t)nd);
    ln_tensor *x = make(ctx, LN_FLOAT32, nd + 1, xs, in);
    int64_t one = 1;
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, 1, &one);
    ln_tensor *dx = ln_tensor_new(ctx, LN_FLOAT32, 1, &one);
    FZ_CHECK(y && dx, "small tensors");
    unsigned flags = fz_u8(in) & (LN_TRAINING | LN_LOGITS);
    st = ln_layer_forward1(ctx, l, x, y, flags);
    if (st) {
        check_failure(ctx, st, "forward");
    } else {
        int out_nd = ln_layer_output_shape(l, 0)->nd;
        FZ_CHECK(y->ndim == out_nd + 1 && y->shape[0] == batch,
                 "%s: forward gave %d dims for %d", ln_layer_name(l), y->ndim,
                 out_nd + 1);
        ln_tensor *dy = make(ctx, LN_FLOAT32, y->ndim, y->shape, in);
        st = ln_layer_backward1(ctx, l, x, y, dy, dx, flags | LN_NEED_DW);
        if (st) check_failure(ctx, st, "backward");
        else FZ_CHECK(ln_shape_equal(dx, x), "%s: dx not shaped like x", ln_layer_name(l));
        (void)ln_layer_regularization_loss(l);
        ln_tensor_release(dy);
    }
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(dx);
}

static void run_object(ln_ctx *ctx, ln_object *o, fz_in *in) {
    int64_t rows = 1 + fz_u8(in) % 4, cols = 1 + fz_u8(in) % 5;
    int64_t shape[2] = {rows, cols};
    switch (o->unit->kind) {
    case LN_KIND_ACTIVATION: {
        ln_tensor *x = make(ctx, LN_FLOAT32, 2, shape, in);
        ln_tensor *y = ln_tensor_new_like(ctx, x), *dx = ln_tensor_new_like(ctx, x);
        ln_activation_forward(o, ln_f32(x), ln_f32(y), rows, cols);
        ln_activation_backward(o, ln_f32(x), ln_f32(y), ln_f32(x), ln_f32(dx), rows, cols);
        ln_tensor_release(x);
        ln_tensor_release(y);
        ln_tensor_release(dx);
    } break;
    case LN_KIND_SCHEDULE: {
        const ln_schedule_ops *ops = o->unit->ops;
        static const double steps[] = {0, 1, 2, 10, 1e6, 1e300};
        for (int i = 0; i < 6; i++) (void)ops->value(o->state, steps[i]);
    } break;
    case LN_KIND_LOSS:
    case LN_KIND_METRIC: {
        ln_tensor *pred = make(ctx, LN_FLOAT32, 2, shape, in);
        int sparse = fz_u8(in) & 1;
        ln_dtype dt = fz_u8(in) & 1 ? LN_INT32 : LN_FLOAT32;
        ln_tensor *yt = sparse ? make(ctx, dt, 1, shape, in)
                               : make(ctx, dt, 2, shape, in);
        ln_status st;
        if (o->unit->kind == LN_KIND_LOSS) {
            const ln_loss_ops *ops = o->unit->ops;
            ln_tensor *d = ln_tensor_new_like(ctx, pred);
            double loss;
            st = ops->compute(ctx, o->state, pred, yt, fz_u8(in) & 1, &loss, d);
            ln_tensor_release(d);
        } else {
            const ln_metric_ops *ops = o->unit->ops;
            double total = 0, count = 0;
            st = ops->update(ctx, o->state, pred, yt, &total, &count);
        }
        if (st) check_failure(ctx, st, o->unit->name);
        ln_tensor_release(pred);
        ln_tensor_release(yt);
    } break;
    default: break;
    }
}

static void run_optimizer(ln_ctx *ctx, ln_optimizer *o, fz_in *in) {
    int64_t shape[2] = {2, 3};
    ln_tensor *var = make(ctx, LN_FLOAT32, 2, shape, in);
    ln_tensor *grad = make(ctx, LN_FLOAT32, 2, shape, in);
    const char *name = "dense/kernel:0";
    for (int step = 0; step < 2; step++) {
        ln_status st = ln_optimizer_apply(ctx, o, 1, &var, (const ln_tensor *const *)&grad, &name);
        if (st) {
            check_failure(ctx, st, "apply");
            break;
        }
    }
    int nw = ln_optimizer_weight_count(o);
    ln_tensor *w[1 + LN_MAX_SLOTS * 2 + LN_MAX_SLOTS];
    int got = 0;
    for (int i = 0; i < nw && i < (int)(sizeof w / sizeof *w); i++) {
        char buf[256];
        FZ_CHECK(ln_optimizer_weight_name(o, i, buf, sizeof buf) != NULL, "weight name");
        w[got] = ln_optimizer_get_weight(ctx, o, i);
        FZ_CHECK(w[got] != NULL, "get_weight %d: %s", i, ctx->msg);
        got++;
    }
    if (got == nw && ln_optimizer_var_count(o) > 0) {
        ln_status st = ln_optimizer_set_weights(ctx, o, got, (const ln_tensor *const *)w);
        FZ_CHECK(st == LN_OK, "set_weights(get_weights) failed: %s", ctx->msg);
    }
    for (int i = 0; i < got; i++) ln_tensor_release(w[i]);
    ln_tensor_release(var);
    ln_tensor_release(grad);
}

/* Create a unit of `kind` from args (owned); NULL on failure. */
static void *create(ln_ctx *ctx, ln_kind kind, const char *name, ln_args *args) {
    if (kind == LN_KIND_LAYER) return ln_layer_new(ctx, name, args);
    if (kind == LN_KIND_OPTIMIZER) return ln_optimizer_new(ctx, name, args);
    return ln_object_new(ctx, kind, name, args);
}

static void destroy(ln_kind kind, void *p) {
    if (kind == LN_KIND_LAYER) ln_layer_free(p);
    else if (kind == LN_KIND_OPTIMIZER) ln_optimizer_free(p);
    else ln_object_free(p);
}

static const ln_args *config_of(ln_kind kind, void *p) {
    if (kind == LN_KIND_LAYER) return ln_layer_args(p);
    if (kind == LN_KIND_OPTIMIZER) return ln_optimizer_object(p)->args;
    return ((ln_object *)p)->args;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_set_input(data, size);
    list_units();
    fz_in in = {data, size};
    ln_kind kind = (ln_kind)(fz_u8(&in) % LN_KIND_COUNT);
    char namebuf[40];
    const char *name;
    int known = fz_u8(&in) < 240 && nunits[kind] > 0;
    if (known) name = units[kind][fz_u8(&in) % nunits[kind]];
    else name = fz_string(&in, namebuf, 32);
    ln_args *args = fuzz_args(&in, 0);
    int small = modest(args);
    fz_live before = fz_live_now();
    ln_ctx ctx;
    ln_ctx_clear(&ctx);

    if (kind == LN_KIND_INITIALIZER) {
        /* borrowed args: the caller keeps them */
        int nd = fz_u8(&in) % 5;
        int64_t shape[LN_MAX_DIM];
        for (int i = 0; i < nd; i++) shape[i] = fz_u8(&in) % 7;
        ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, nd, shape);
        FZ_CHECK(t != NULL, "small tensor");
        ln_status st = ln_initializer_fill(&ctx, name, args, t, NULL);
        if (st) check_failure(&ctx, st, "initializer");
        if (st == LN_E_NOTFOUND)
            FZ_CHECK(strstr(ctx.msg, name) != NULL, "unknown initializer "
                     "not named: %s", ctx.msg);
        ln_tensor_release(t);
        ln_args_free(args);
        fz_live_check(before, "initializer");
        return 0;
    }

    void *u = create(&ctx, kind, name, args); /* takes args */
    if (!u) {
        check_failure(&ctx, ctx.status, "create");
        if (!known && !ln_registry_find(kind, name, NULL))
            FZ_CHECK(strstr(ctx.msg, name) != NULL, "unknown %s '%s' not "
                     "named: %s", ln_kind_name(kind), name, ctx.msg);
        fz_live_check(before, "create");
        return 0;
    }
    /* the effective config creates the same unit again */
    ln_ctx ctx2;
    ln_ctx_clear(&ctx2);
    void *again = create(&ctx2, kind, name, fresh_copy(config_of(kind, u)));
    char key[160];
    if (!again) {
        /* one key per kind of refusal, whatever the unit: the unit's name
        ** in the message becomes '*' */
        char msg[64];
        snprintf(msg, sizeof msg, "%.60s", ctx2.msg);
        char *at = strstr(msg, name);
        if (at && name[0]) {
            size_t k = strlen(name);
            *at = '*';
            memmove(at + 1, at + k, strlen(at + k) + 1);
        }
        snprintf(key, sizeof key, "config refused: %s: %s", ln_kind_name(kind), msg);
        fz_finding(key, "%s '%s': its own effective config is refused: %s",
                   ln_kind_name(kind), name, ctx2.msg);
    } else {
        const char *why = config_diff(config_of(kind, u), config_of(kind, again));
        if (!why) why = config_diff(config_of(kind, again), config_of(kind, u));
        if (why) {
            snprintf(key, sizeof key, "config changed: %s/%s: %s", ln_kind_name(kind),
                     name, why);
            fz_finding(key, "%s '%s': %s", ln_kind_name(kind), name, why);
        }
        destroy(kind, again);
    }

    if (kind == LN_KIND_LAYER && small) run_layer(&ctx, u, &in);
    else if (kind == LN_KIND_OPTIMIZER) run_optimizer(&ctx, u, &in);
    else if (kind != LN_KIND_LAYER) run_object(&ctx, u, &in);
    destroy(kind, u);
    fz_live_check(before, "unit");
    return 0;
}
