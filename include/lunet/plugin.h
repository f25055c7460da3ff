/*
** plugin.h -- the plugin ABI: how a shared object adds layers, activations,
** initializers, optimizers, schedules, losses and metrics to lunet.
**
** A plugin is a MODULE library that links liblunet (the core) and defines,
** through LN_PLUGIN, two exported symbols: `ln_plugin_info` (the ABI it was
** built for, checked before anything runs) and `ln_plugin_init` (called once
** with a host; it calls host->add for every unit it provides):
**
**     static const ln_layer_ops ops = { ... };
**     static const ln_unit unit = { LN_KIND_LAYER, "dense", "Dense", 1,
**                                   "densely connected layer", &ops };
**     LN_PLUGIN("dense") { return host->add(host, &unit); }
**
** ABI rule: the major numbers must be equal and the core's minor must be at
** least the plugin's. Structs here only ever grow at their end.
**
** Units are named by their Keras string identifier in snake_case ("dense",
** "leaky_relu", "he_normal", "adam"); class_name is the Keras class
** ("LeakyReLU"), used for Lua constructors and saved configs. Saved models
** refer to units as kind/name@version.
**
** Plugins never include Lua headers: keyword arguments arrive as ln_args.
*/
#ifndef LUNET_PLUGIN_H
#define LUNET_PLUGIN_H

#include "lunet/kernels.h"
#include "lunet/lunet.h"
#include "lunet/rng.h"
#include "lunet/tensor.h"

#define LN_ABI_MAJOR 1
#define LN_ABI_MINOR 0

typedef enum ln_kind {
    LN_KIND_LAYER = 0,
    LN_KIND_ACTIVATION,
    LN_KIND_INITIALIZER,
    LN_KIND_OPTIMIZER,
    LN_KIND_SCHEDULE,
    LN_KIND_LOSS,
    LN_KIND_METRIC,
    LN_KIND_COUNT
} ln_kind;

typedef struct ln_unit {
    ln_kind kind;
    const char *name;       /* snake_case Keras identifier, unique per kind */
    const char *class_name; /* Keras class name, e.g. "BatchNormalization" */
    int version;            /* bump when saved state changes meaning */
    const char *summary;    /* one line, shown by `lunet plugins` */
    const void *ops;        /* ln_layer_ops, ln_activation_ops, ... by kind */
} ln_unit;

/* ---- keyword arguments --------------------------------------------------- */

/* A read-only view of the keyword arguments a unit was created with (a Lua
** table, or a saved config). Every read records the effective value -- the
** given one or the default -- so the unit's full config (what get_config and
** model files show) is exactly what it read. A key given but never read is
** reported by the core as an unknown keyword argument after create.
** Getters return LN_OK, or LN_E_ARG with a message naming the key when the
** value has the wrong type. Strings returned stay valid while args live. */
typedef struct ln_args ln_args;

LN_API int ln_args_has(const ln_args *a, const char *key);
/* Positional argument `pos` (1-based, as in Dense{300}) becomes `key`. */
LN_API ln_status ln_args_positional(ln_ctx *ctx, ln_args *a, int pos,
                                    const char *key);
LN_API ln_status ln_args_number(ln_ctx *ctx, ln_args *a, const char *key,
                                double def, double *out);
LN_API ln_status ln_args_int(ln_ctx *ctx, ln_args *a, const char *key,
                             int64_t def, int64_t *out);
LN_API ln_status ln_args_bool(ln_ctx *ctx, ln_args *a, const char *key,
                              int def, int *out);
/* def may be NULL (recorded as null); *out is then NULL when absent. */
LN_API ln_status ln_args_string(ln_ctx *ctx, ln_args *a, const char *key,
                                const char *def, const char **out);
/* A number or a list of numbers; *n gets the count (0 when absent or null). */
LN_API ln_status ln_args_ints(ln_ctx *ctx, ln_args *a, const char *key,
                              int max, int *n, int64_t *out);
/* A number or a list of numbers (not necessarily integers). */
LN_API ln_status ln_args_numbers(ln_ctx *ctx, ln_args *a, const char *key,
                                 int max, int *n, double *out);
/* A unit reference: a string name ("he_normal") or a table
** {name = "variance_scaling", scale = 2, ...} as Lua objects give. *name is
** the unit name; *sub is the table's other keys (never NULL; empty for a
** plain string). def is used when the key is absent. */
LN_API ln_status ln_args_unit(ln_ctx *ctx, ln_args *a, const char *key,
                              const char *def, const char **name,
                              ln_args **sub);
/* A nested table (a list of lists such as ZeroPadding2D's ((1, 1), (2, 2)),
** whose entries are keyed "#1", "#2", ...): *sub is borrowed, NULL when
** the key is absent or null. Any other type fails naming the key. */
LN_API ln_status ln_args_table(ln_ctx *ctx, ln_args *a, const char *key,
                               ln_args **sub);
/* Reject values: helpers for the common checks, messages name the key. */
LN_API ln_status ln_args_check_range(ln_ctx *ctx, const char *owner,
                                     const char *key, double v, double lo,
                                     double hi);

/* Building args from C (tests, the binding, saved configs). */
LN_API ln_args *ln_args_new(void);
LN_API void ln_args_free(ln_args *a);
/* A deep copy (entries, values and used marks); NULL on no memory or a
** NULL a. For handing a borrowed sub-table to a function that takes
** ownership, such as ln_activation_new. */
LN_API ln_args *ln_args_clone(const ln_args *a);
LN_API ln_status ln_args_set_number(ln_args *a, const char *key, double v);
LN_API ln_status ln_args_set_bool(ln_args *a, const char *key, int v);
LN_API ln_status ln_args_set_string(ln_args *a, const char *key,
                                    const char *v);
LN_API ln_status ln_args_set_null(ln_args *a, const char *key);
LN_API ln_status ln_args_set_numbers(ln_args *a, const char *key, int n,
                                     const double *v);
/* Takes ownership of sub. */
LN_API ln_status ln_args_set_table(ln_args *a, const char *key, ln_args *sub);
/* Keys given but never read, comma-separated into buf; 0 if none. */
LN_API int ln_args_unused(const ln_args *a, char *buf, size_t n);

/* Iteration over entries (for configs): type of entry i, its key. */
typedef enum ln_arg_type {
    LN_ARG_NULL, LN_ARG_BOOL, LN_ARG_NUMBER, LN_ARG_STRING, LN_ARG_NUMBERS,
    LN_ARG_TABLE
} ln_arg_type;
typedef struct ln_arg {
    const char *key;
    ln_arg_type type;
    int used;
    double num;         /* NUMBER, BOOL */
    const char *str;    /* STRING */
    int n;              /* NUMBERS */
    const double *nums; /* NUMBERS */
    ln_args *table;     /* TABLE */
} ln_arg;
LN_API int ln_args_count(const ln_args *a);
LN_API ln_arg ln_args_at(const ln_args *a, int i);

/* ---- activations ---------------------------------------------------------- */

/* Works on a [rows x cols] float block; elementwise functions ignore the
** split, softmax works along cols. Kernels may be OpenMP-parallel. */
typedef struct ln_activation_ops {
    size_t state_size; /* bytes of per-instance state (zeroed), may be 0 */
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    void (*forward)(const void *state, const float *x, float *y,
                    int64_t rows, int64_t cols);
    /* dx = f'(x) . dy, given x and y = f(x); dx may alias dy. When
    ** backward_uses_x is 0, x may be NULL (a fused layer kept only y). */
    void (*backward)(const void *state, const float *x, const float *y,
                     const float *dy, float *dx, int64_t rows, int64_t cols);
    int elementwise;     /* 1: any segment may be mapped (fusable in GEMM) */
    int backward_uses_x; /* 1: backward reads x (else y alone suffices) */
} ln_activation_ops;

/* An instance of a unit that is not a layer: its unit, its state
** (state_size bytes, owned) and its arguments (owned; after create they
** hold the effective config). */
typedef struct ln_object {
    const ln_unit *unit;
    void *state;
    ln_args *args;
} ln_object;

/* Create an instance of a registered activation, initializer, loss, metric,
** schedule or optimizer: runs the unit's create and refuses keyword
** arguments it did not read. Takes ownership of args (NULL = none). */
LN_API ln_object *ln_object_new(ln_ctx *ctx, ln_kind kind, const char *name,
                                ln_args *args);
LN_API void ln_object_free(ln_object *o);

typedef ln_object ln_activation;

/* name: a registered activation ("relu"; "linear" and NULL give identity).
** Unknown names fail with "unknown activation 'relux'". */
LN_API ln_activation *ln_activation_new(ln_ctx *ctx, const char *name,
                                        ln_args *args);
LN_API void ln_activation_free(ln_activation *a);
LN_API const char *ln_activation_name(const ln_activation *a);
LN_API const ln_activation_ops *ln_activation_ops_of(const ln_activation *a);
LN_API const void *ln_activation_state(const ln_activation *a);
LN_API int ln_activation_is_identity(const ln_activation *a);
LN_API void ln_activation_forward(const ln_activation *a, const float *x,
                                  float *y, int64_t rows, int64_t cols);
LN_API void ln_activation_backward(const ln_activation *a, const float *x,
                                   const float *y, const float *dy, float *dx,
                                   int64_t rows, int64_t cols);
/* An ln_gemm_epilogue fn applying an elementwise activation in place;
** arg is the ln_activation. */
LN_API void ln_activation_epilogue(float *x, int64_t len, const void *arg);

/* ---- initializers ---------------------------------------------------------- */

typedef struct ln_initializer_ops {
    /* Fill t given its fans (computed by the core with Keras's rules) and
    ** the initializer's arguments (scale, mode, seed, ...). */
    ln_status (*fill)(ln_ctx *ctx, ln_args *args, ln_tensor *t,
                      double fan_in, double fan_out, ln_rng *rng);
} ln_initializer_ops;

/* Keras's fans for a weight shape (rank 0, 1, 2, >= 3 rules). */
LN_API void ln_compute_fans(int nd, const int64_t *shape, double *fan_in,
                            double *fan_out);
/* Fill t with the named initializer; unknown names fail naming them. */
LN_API ln_status ln_initializer_fill(ln_ctx *ctx, const char *name,
                                     ln_args *args, ln_tensor *t,
                                     ln_rng *rng);

/* ---- layers ---------------------------------------------------------------- */

#define LN_MAX_WEIGHTS 8
#define LN_NAME_MAX 128

typedef struct ln_weight {
    char name[64];    /* Keras's short name: "kernel", "moving_mean" */
    ln_tensor *value; /* owned by the layer */
    ln_tensor *grad;  /* same shape, written (not accumulated) by backward;
                         NULL for weights that are never trained */
    int trainable;    /* by nature; in effect only if the layer's is too */
    double l1, l2;    /* regularization factors (0 = none) */
} ln_weight;

typedef struct ln_layer ln_layer;

/* Flags for forward/backward. */
#define LN_TRAINING 1u /* training mode: dropout active, BN batch stats */
#define LN_LOGITS 2u   /* skip the output activation (fused loss path) */
#define LN_NEED_DX 4u  /* backward must write dx */
#define LN_NEED_DW 8u  /* backward must write weight gradients */

typedef struct ln_layer_ops {
    size_t state_size; /* the plugin's private state, zeroed by the core */
    /* Read keyword arguments; no shapes known yet. */
    ln_status (*create)(ln_ctx *ctx, ln_layer *l, ln_args *args);
    /* Given the input shape without the batch axis, add weights
    ** (ln_layer_add_weight) and give the output shape. */
    ln_status (*build)(ln_ctx *ctx, ln_layer *l, int in_nd,
                       const int64_t *in_shape, int *out_nd,
                       int64_t *out_shape);
    /* y is already sized [batch, out_shape...] by the core. */
    ln_status (*forward)(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                         ln_tensor *y, unsigned flags);
    /* Given x, y (as forward left them) and dy, write dx (if LN_NEED_DX;
    ** sized like x by the core) and the gradients of trainable weights (if
    ** LN_NEED_DW). Forward with the same flags ran just before. */
    ln_status (*backward)(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                          const ln_tensor *y, const ln_tensor *dy,
                          ln_tensor *dx, unsigned flags);
    /* The activation applied at the output, if any ("softmax" for
    ** Dense(10, activation = "softmax")), so the model can fuse it with the
    ** loss by passing LN_LOGITS. NULL: none. */
    const char *(*output_activation)(const ln_layer *l);
    void (*destroy)(ln_layer *l); /* free what the state owns; may be NULL */
} ln_layer_ops;

struct ln_layer {
    const ln_unit *unit;
    void *state;   /* unit ops->state_size bytes, owned by the core */
    ln_args *args; /* the keyword arguments; owned by the layer */
    char name[LN_NAME_MAX]; /* for messages: "dense_1 (Dense)" style */
    int trainable;          /* Keras's layer.trainable */
    int built;
    int in_nd, out_nd;
    int64_t in_shape[LN_MAX_DIM], out_shape[LN_MAX_DIM];
    int nweights;
    ln_weight weights[LN_MAX_WEIGHTS];
    ln_rng *rng; /* for dropout-like layers and initializers */
};

/* For plugins, inside build: add a weight of the given shape filled by the
** named initializer (with its args, may be NULL). grad is allocated when
** trainable. *out (optional) gets the borrowed value tensor. */
LN_API ln_status ln_layer_add_weight(ln_ctx *ctx, ln_layer *l,
                                     const char *name, int nd,
                                     const int64_t *shape, int trainable,
                                     const char *init, ln_args *init_args,
                                     ln_weight **out);
/* Read a regularizer keyword ({l1 = .., l2 = ..} or a number = l2, or a
** string "l1"/"l2" with Keras's default 0.01) into *l1, *l2. */
LN_API ln_status ln_args_regularizer(ln_ctx *ctx, ln_args *a, const char *key,
                                     double *l1, double *l2);
static inline int ln_layer_trains(const ln_layer *l, const ln_weight *w) {
    return l->trainable && w->trainable;
}

/* For the model code (Lua binding, tests). */
/* A new layer of unit `unit`; takes ownership of args (even on failure). */
LN_API ln_layer *ln_layer_new(ln_ctx *ctx, const char *unit, ln_args *args);
LN_API void ln_layer_free(ln_layer *l);
LN_API ln_status ln_layer_build(ln_ctx *ctx, ln_layer *l, int in_nd,
                                const int64_t *in_shape);
/* Checks x against the built shape (the message names the layer and both
** shapes), sizes y, runs the plugin. */
LN_API ln_status ln_layer_forward(ln_ctx *ctx, ln_layer *l,
                                  const ln_tensor *x, ln_tensor *y,
                                  unsigned flags);
/* Sizes dx, runs the plugin, adds regularization gradients. */
LN_API ln_status ln_layer_backward(ln_ctx *ctx, ln_layer *l,
                                   const ln_tensor *x, const ln_tensor *y,
                                   const ln_tensor *dy, ln_tensor *dx,
                                   unsigned flags);
LN_API double ln_layer_regularization_loss(const ln_layer *l);
LN_API const char *ln_layer_output_activation(const ln_layer *l);

/* ---- losses and metrics ----------------------------------------------------- */

typedef struct ln_loss_ops {
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    /* The batch loss -- the mean over samples of the per-sample loss
    ** (Keras's SUM_OVER_BATCH_SIZE) -- into *loss and, when dpred is not
    ** NULL, its gradient with respect to pred (dpred sized like pred by the
    ** caller). With `logits`, pred holds the input of logits_activation and
    ** the stable from-logits formula is used. Errors name the loss, the
    ** shapes and any label out of range. */
    ln_status (*compute)(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y_true, int logits, double *loss,
                         ln_tensor *dpred);
    const char *logits_activation; /* "softmax", "sigmoid" or NULL */
} ln_loss_ops;

typedef struct ln_metric_ops {
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    /* Add the per-sample metric values of a batch to *total and the number
    ** of samples to *count (the epoch value is total / count). */
    ln_status (*update)(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y_true, double *total, double *count);
} ln_metric_ops;

/* Label i of a label tensor of any dtype, as an integer. */
LN_API int64_t ln_label_at(const ln_tensor *y, int64_t i);

/* ---- optimizers and schedules ---------------------------------------------- */

#define LN_MAX_SLOTS 4

typedef struct ln_optimizer_ops {
    size_t state_size;
    double default_learning_rate; /* Keras's default for this optimizer */
    /* Read the hyper-parameters (not learning_rate, decay, clip*: the core
    ** reads those). Reject bad values naming the key. */
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args);
    /* Per-variable slots: names ("m", "v") and initial values; returns the
    ** count (<= LN_MAX_SLOTS). */
    int (*slots)(const void *state, const char **names, float *init);
    /* Optimizer-wide scalars kept across steps and saved (Nadam's
    ** momentum_cache); returns the count (<= LN_MAX_SLOTS). NULL: none. */
    int (*globals)(const void *state, const char **names, double *init);
    /* Once per step, before the updates; t is the 1-based step. NULL ok. */
    void (*begin_step)(const void *state, double *globals, int64_t t);
    /* Update one variable of n floats in place. lr is this step's learning
    ** rate (schedule and decay applied); grad is already clipped. */
    void (*update)(const void *state, float *var, const float *grad,
                   float *const *slots, int64_t n, int64_t t, double lr,
                   const double *globals);
} ln_optimizer_ops;

typedef struct ln_schedule_ops {
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args);
    double (*value)(const void *state, double step); /* step: 0-based */
} ln_schedule_ops;

/* ---- the entry point ------------------------------------------------------- */

typedef struct ln_host ln_host;
struct ln_host {
    uint32_t abi_major, abi_minor; /* the core's; always first */
    ln_ctx *ctx;
    /* Register a unit; the unit struct must outlive the plugin (static). */
    ln_status (*add)(ln_host *host, const ln_unit *unit);
    void *registry; /* private to the core */
    const char *path;
};

typedef struct ln_plugin_desc {
    uint32_t abi_major, abi_minor; /* what the plugin was built for */
    const char *name;
} ln_plugin_desc;

typedef ln_status (*ln_plugin_init_fn)(ln_host *host);

#define LN_PLUGIN_INFO_SYMBOL "ln_plugin_info"
#define LN_PLUGIN_INIT_SYMBOL "ln_plugin_init"

#ifdef __cplusplus
#define LN_PLUGIN_EXTERN extern "C"
#else
#define LN_PLUGIN_EXTERN
#endif

/* Defines the plugin's two exported symbols; the body that follows is the
** init function, with `ln_host *host` in scope. */
#define LN_PLUGIN(NAME)                                                      \
    LN_PLUGIN_EXTERN LN_API const ln_plugin_desc ln_plugin_info = {          \
        LN_ABI_MAJOR, LN_ABI_MINOR, NAME};                                  \
    LN_PLUGIN_EXTERN LN_API ln_status ln_plugin_init(ln_host *host)

/* ---- the registry (core side) ---------------------------------------------- */

LN_API const char *ln_kind_name(ln_kind k); /* "layer", "activation", ... */
/* Load one plugin file explicitly. Refusals (not a shared object, no entry,
** ABI mismatch with both versions, a duplicate unit naming both files, the
** entry failing) return an error and leave the registry unchanged. */
LN_API ln_status ln_registry_load(ln_ctx *ctx, const char *path);
/* Scan LUNET_PLUGIN_PATH and the default folders (once; later calls do
** nothing). Files that fail are skipped; their messages are kept. */
LN_API void ln_registry_scan(void);
LN_API int ln_registry_warning_count(void);
LN_API const char *ln_registry_warning(int i);
/* Find a unit (scanning first if needed); NULL if unknown. file (optional)
** gets the plugin's path. */
LN_API const ln_unit *ln_registry_find(ln_kind kind, const char *name,
                                       const char **file);
/* Same, failing with "unknown <kind> '<name>'" into ctx. */
LN_API const ln_unit *ln_registry_require(ln_ctx *ctx, ln_kind kind,
                                          const char *name);
LN_API int ln_registry_count(void);
LN_API const ln_unit *ln_registry_at(int i, const char **file);

#endif
