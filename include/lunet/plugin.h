/*
** plugin.h -- the plugin ABI 2.4: how a shared object adds layers,
** activations, initializers, optimizers, schedules, losses and metrics to
** lunet. Everything a plugin needs and nothing a host alone needs (hosts
** find the rest in registry.h and the engine headers in lunet/engine/).
**
** A plugin is a MODULE library that links lunet (the core, liblunet, and
** the engine, liblunet_nn) and defines, through LN_PLUGIN, two exported
** symbols: `ln_plugin_info` (the ABI it was built for, checked before
** anything runs) and `ln_plugin_init` (called once with a host; it calls
** host->add for every unit it provides):
**
**     static const ln_layer_ops ops = {
**         .size = sizeof(ln_layer_ops), .state_size = sizeof(dense),
**         .create = dense_create, .build = dense_build,
**         .forward = dense_forward, .backward = dense_backward};
**     static const ln_unit unit = {
**         .kind = LN_KIND_LAYER, .name = "dense", .class_name = "Dense",
**         .version = 1, .summary = "densely connected layer", .ops = &ops};
**     LN_PLUGIN("dense") { return host->add(host, &unit); }
**
** ABI rules:
**  - the major numbers must be equal and the core's minor at least the
**    plugin's; anything else is refused with both versions named;
**  - every ops table starts with its size and is filled by designated
**    initialisers only. Tables only ever grow at their end (a minor bump):
**    the core reads a field only when the table's size covers it
**    (LN_OPS_HAS), so a plugin built for 2.0 keeps working with 2.x;
**  - the layouts of ln_layer, ln_args and the core's objects are private:
**    plugins use the accessors below. Tensors are seen through the frozen
**    view of tensor.h.
**
** Units are named by their Keras string identifier in snake_case ("dense",
** "leaky_relu", "he_normal", "adam"); class_name is the Keras class
** ("LeakyReLU"), used for Lua constructors and saved configs. Names and
** class names are unique per kind (case-insensitively); saved models refer
** to units as kind/name@version.
**
** Plugins never include Lua headers or engine internals: keyword arguments
** arrive as ln_args, work is spread with lunet/parallel.h, finished weight
** gradients go to the gradient sink a backward is handed. The SDK helpers
** the built-ins use are in lunet/plugin_util.h and lunet/plugin_*.h.
*/
#ifndef LUNET_PLUGIN_H
#define LUNET_PLUGIN_H

#include <math.h>
#include <stddef.h>

#include "lunet/args.h"
#include "lunet/kernels.h"
#include "lunet/lunet.h"
#include "lunet/parallel.h"
#include "lunet/rng.h"
#include "lunet/tensor.h"

#define LN_ABI_MAJOR 2
#define LN_ABI_MINOR 4

/* Whether ops table `ops` (any ln_*_ops pointer) has field `f`: the core
** reads fields added by later minors only through this. */
#define LN_OPS_HAS(ops, f)                                                   \
    ((ops)->size >= offsetof(__typeof__(*(ops)), f) + sizeof((ops)->f))

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

/* ---- using other units ------------------------------------------------------ */

/* A registered unit, or NULL with "unknown <kind> '<name>'" in ctx (the
** message names plugins that failed to load). */
LN_API const ln_unit *ln_registry_require(ln_ctx *ctx, ln_kind kind,
                                          const char *name);

/* ---- activations ---------------------------------------------------------- */

/* Works on a [rows x cols] float block; elementwise functions ignore the
** split, softmax works along cols. Kernels may run on several threads
** (lunet/parallel.h): they are called from inside tasks too. */
typedef struct ln_activation_ops {
    size_t size;       /* sizeof(ln_activation_ops) */
    size_t state_size; /* bytes of per-instance state (zeroed), may be 0 */
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    /* Required. y may be x. */
    void (*forward)(const void *state, const float *x, float *y,
                    int64_t rows, int64_t cols);
    /* Required. dx = f'(x) . dy, given x and y = f(x); dx may alias dy.
    ** When backward_uses_x is 0, x may be NULL (a fused layer kept only
    ** y). */
    void (*backward)(const void *state, const float *x, const float *y,
                     const float *dy, float *dx, int64_t rows, int64_t cols);
    int elementwise;     /* 1: any segment may be mapped (fusable in GEMM) */
    int backward_uses_x; /* 1: backward reads x (else y alone suffices) */
} ln_activation_ops;

/* An instance of an activation unit (its state and effective config). */
typedef struct ln_object ln_activation;

/* name: a registered activation ("relu"; "linear" and NULL give identity).
** Takes ownership of args (NULL = none). Unknown names fail with
** "unknown activation 'relux'"; unknown keys name the key. */
LN_API ln_activation *ln_activation_new(ln_ctx *ctx, const char *name,
                                        ln_args *args);
LN_API void ln_activation_free(ln_activation *a);
LN_API const char *ln_activation_name(const ln_activation *a);
/* Its effective config (borrowed; what the activation read). */
LN_API const ln_args *ln_activation_args(const ln_activation *a);
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
    size_t size; /* sizeof(ln_initializer_ops) */
    /* Required. Fill t given its fans (computed by the core with Keras's
    ** rules) and the initializer's arguments (scale, mode, seed, ...). */
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
#define LN_MAX_OUTPUTS 8
#define LN_NAME_MAX 128

/* A shape without the batch axis. */
typedef struct ln_shape {
    int nd;
    int64_t dim[LN_MAX_DIM];
} ln_shape;

typedef struct ln_layer ln_layer; /* private to the engine: use accessors */

/* Flags for forward/backward. */
#define LN_TRAINING 1u /* training mode: dropout active, BN batch stats */
#define LN_LOGITS 2u   /* skip the output activation (fused loss path) */
#define LN_NEED_DW 8u  /* backward must write weight gradients */

/* Where a backward hands finished weight gradients: the gradient of weight
** w (the index ln_layer_add_weight gave) of this layer is final over its
** elements [lo, hi) and this backward no longer reads w's values there.
** The engine may then update those elements at once (its optimizer, while
** they are hot in cache) and returns 1; 0: nothing happened, the update
** comes after backward. A layer that hands over a weight covers each of its
** elements exactly once per backward; calls may come from tasks on several
** threads at once (disjoint ranges). A NULL sink (most calls) means no
** early update: use ln_grad_ready, which accepts it. */
typedef struct ln_grad_sink ln_grad_sink;
struct ln_grad_sink {
    int (*ready)(ln_grad_sink *sink, int w, int64_t lo, int64_t hi);
};
static inline int ln_grad_ready(ln_grad_sink *sink, int w, int64_t lo,
                                int64_t hi) {
    return sink ? sink->ready(sink, w, lo, hi) : 0;
}

/* Layer ops. A layer takes one or several inputs and gives one or several
** outputs (Concatenate: 2..N inputs; an LSTM with return_state: 3
** outputs); the arrays below hold them in order and a single-input layer
** reads x[0]. Tensors carry the batch axis first; shapes given to build do
** not. */
typedef struct ln_layer_ops {
    size_t size;       /* sizeof(ln_layer_ops) */
    size_t state_size; /* the plugin's private state, zeroed by the core */
    /* Inputs accepted: the engine refuses other counts naming the layer.
    ** Both 0 means exactly one; max_inputs -1 means no upper limit. */
    int min_inputs, max_inputs;
    /* Read keyword arguments; no shapes known yet. NULL ok. */
    ln_status (*create)(ln_ctx *ctx, ln_layer *l, ln_args *args);
    /* Given the nin input shapes, add weights (ln_layer_add_weight) and
    ** give the output shapes: out (room for LN_MAX_OUTPUTS) holds in[0]
    ** and *nout 1 on entry. NULL ok: one output shaped like the input. */
    ln_status (*build)(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                       int *nout, ln_shape *out);
    /* Required. y[j] is already sized [batch, out shape j] by the core. */
    ln_status (*forward)(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                         ln_tensor *const *y, unsigned flags);
    /* Required. Given x and y (as forward left them, with the same flags)
    ** and the output gradients dy, write the input gradients dx[i] (sized
    ** like x[i] by the core; NULL when input i needs none) and, with
    ** LN_NEED_DW, the gradients of the weights that train
    ** (ln_layer_trains), handing finished blocks to sink if it likes. */
    ln_status (*backward)(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *const *y,
                          const ln_tensor *const *dy, ln_tensor *const *dx,
                          ln_grad_sink *sink, unsigned flags);
    /* The activation applied at output 0, if any ("softmax" for
    ** Dense(10, activation = "softmax")), so the model can fuse it with the
    ** loss by passing LN_LOGITS. NULL: none. */
    const char *(*output_activation)(const ln_layer *l);
    void (*destroy)(ln_layer *l); /* free what the state owns; NULL ok */
    /* Later minors append here (masks: compute_mask, ...); the core checks
    ** .size before reading them (LN_OPS_HAS). */
    /* 2.1: forget the states a layer carries from one batch to the next
    ** (Keras's stateful RNNs: layer.reset_states()). NULL: it keeps none. */
    void (*reset_states)(ln_layer *l);
    /* 2.2: Keras's compute_mask. Called after each forward that ran with
    ** an input mask, or always for layers that make one (Masking,
    ** Embedding(mask_zero)). in_mask: the mask of input 0 (float, 1 keep,
    ** 0 skip; shaped like x[0] without its last axis), or NULL. Write the
    ** mask of output 0 into out_mask (resize it) and set *has to 1, or
    ** leave *has 0 for none. NULL: the layer drops any mask, as tf.keras 2
    ** does at layers that do not support masking. ln_mask_keep passes the
    ** input mask through (activation-like layers: LN_MASK_PASSTHROUGH). */
    ln_status (*compute_mask)(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *in_mask, ln_tensor *out_mask, int *has);
    /* 2.4: whether output 0 is input 0's elements in their order, only
    ** shaped otherwise, for this layer as built in a forward with these
    ** flags (Flatten, Reshape; Dropout outside training). The
    ** engine may then show x[0]'s elements as y[0] and dy[0]'s as dx[0]
    ** instead of calling forward and backward (a Sequential's inner
    ** layers, a graph's forward; forward and backward stay required for
    ** every other call).
    ** NULL: never. */
    int (*is_view)(const ln_layer *l, unsigned flags);
} ln_layer_ops;

/* The mask of input 0 of the layer's current forward/backward (borrowed;
** float [batch, ...] of 1 (keep) and 0 (masked step)), or NULL: none. */
LN_API const ln_tensor *ln_layer_input_mask(const ln_layer *l);
/* The mask of input i (layers with several inputs, e.g. merge layers in a
** functional model), or NULL: none. */
LN_API const ln_tensor *ln_layer_input_mask_at(const ln_layer *l, int i);
/* A compute_mask that keeps the input mask (when there is one). */
LN_API ln_status ln_mask_keep(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *in_mask, ln_tensor *out_mask, int *has);
/* In an ops table: the layer passes masks through unchanged. */
#define LN_MASK_PASSTHROUGH .compute_mask = ln_mask_keep

/* Accessors for plugins (engine). The state is ops->state_size bytes. */
LN_API void *ln_layer_state(const ln_layer *l);
LN_API const char *ln_layer_name(const ln_layer *l); /* "dense_1" style */
LN_API int ln_layer_input_count(const ln_layer *l);  /* after build */
LN_API int ln_layer_trainable(const ln_layer *l); /* Keras's layer.trainable */
/* The generator of dropout-like layers and initializers: the library's
** (ln.random.seed) unless the layer sets its own (which it owns). */
LN_API ln_rng *ln_layer_rng(const ln_layer *l);
LN_API void ln_layer_set_rng(ln_layer *l, ln_rng *rng);

/* Inside build: add a weight of the given shape filled by the named
** initializer (with its args, may be NULL; NULL init: zeros). Its gradient
** tensor exists when trainable. *index (optional) gets its index for
** ln_layer_weight and the gradient sink. */
LN_API ln_status ln_layer_add_weight(ln_ctx *ctx, ln_layer *l,
                                     const char *name, int nd,
                                     const int64_t *shape, int trainable,
                                     const char *init, ln_args *init_args,
                                     int *index);
/* Regularization factors of weight w (0, 0: none; the engine adds their
** loss and gradient). */
LN_API void ln_layer_set_regularizer(ln_layer *l, int w, double l1,
                                     double l2);
LN_API int ln_layer_weight_count(const ln_layer *l);
/* Weight w's values and gradient (borrowed; the gradient NULL for a
** weight that never trains). */
LN_API ln_tensor *ln_layer_weight(const ln_layer *l, int w);
LN_API ln_tensor *ln_layer_grad(const ln_layer *l, int w);
/* Whether weight w takes a gradient now (the layer and the weight are
** trainable). */
LN_API int ln_layer_trains(const ln_layer *l, int w);

/* ---- losses and metrics ----------------------------------------------------- */

typedef struct ln_loss_ops {
    size_t size; /* sizeof(ln_loss_ops) */
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    /* Required. The batch loss -- the mean over samples of the per-sample
    ** loss (Keras's SUM_OVER_BATCH_SIZE) -- into *loss and, when dpred is
    ** not NULL, its gradient with respect to pred (dpred sized like pred by
    ** the caller). With `logits`, pred holds the input of
    ** logits_activation and the stable from-logits formula is used. Errors
    ** name the loss, the shapes and any label out of range. */
    ln_status (*compute)(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                         const ln_tensor *y_true, int logits, double *loss,
                         ln_tensor *dpred);
    const char *logits_activation; /* "softmax", "sigmoid" or NULL */
} ln_loss_ops;

typedef struct ln_metric_ops {
    size_t size; /* sizeof(ln_metric_ops) */
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    /* Required. Add the per-sample metric values of a batch to *total and
    ** the number of samples to *count (the epoch value is total / count). */
    ln_status (*update)(ln_ctx *ctx, const void *state, const ln_tensor *pred,
                        const ln_tensor *y_true, double *total, double *count);
} ln_metric_ops;

/* Label i of a label tensor of any dtype, as an integer. */
LN_API int64_t ln_label_at(const ln_tensor *y, int64_t i);

/* ---- optimizers and schedules ---------------------------------------------- */

#define LN_MAX_SLOTS 4

/* Optimizer flags. */
#define LN_OPT_WHOLE_VARIABLE 1u /* update needs the whole variable at once */

/* The optimizer contract. update(state, var, grad, slots, n, t, lr,
** globals) updates n consecutive elements of a variable in place; slots
** hold the same elements of its per-variable slots. During fit the engine
** calls it on SLICES of a variable -- any cut, in any order, from several
** threads at once (disjoint slices; a layer hands over finished blocks of
** a weight gradient while backward runs) -- so a rule must be elementwise:
** element i of the result may depend only on element i of var, grad and
** the slots (plus the scalars t, lr, globals). A rule that needs the whole
** variable (a norm of the weights or of the gradient: LARS, LAMB) sets
** LN_OPT_WHOLE_VARIABLE in flags: then update is called once per variable
** and step with the whole of it (n = its size), one variable at a time,
** after backward; it may still spread its own loops (lunet/parallel.h). */
typedef struct ln_optimizer_ops {
    size_t size; /* sizeof(ln_optimizer_ops) */
    size_t state_size;
    double default_learning_rate; /* Keras's default for this optimizer */
    unsigned flags;               /* LN_OPT_WHOLE_VARIABLE or 0 */
    /* Read the hyper-parameters (not learning_rate, decay, clip*: the core
    ** reads those). Reject bad values naming the key. NULL ok. */
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args);
    /* Per-variable slots: names ("m", "v") and initial values; returns the
    ** count (<= LN_MAX_SLOTS). NULL: none. */
    int (*slots)(const void *state, const char **names, float *init);
    /* Optimizer-wide scalars kept across steps and saved (Nadam's
    ** momentum_cache); returns the count (<= LN_MAX_SLOTS). NULL: none. */
    int (*globals)(const void *state, const char **names, double *init);
    /* Once per step, before the updates; t is the 1-based step. NULL ok. */
    void (*begin_step)(const void *state, double *globals, int64_t t);
    /* Required: see the contract above. lr is this step's learning rate
    ** (schedule and decay applied); grad is already clipped. */
    void (*update)(const void *state, float *var, const float *grad,
                   float *const *slots, int64_t n, int64_t t, double lr,
                   const double *globals);
    /* ABI 2.3, optional (NULL, or a 2.2 table without it: the engine adds
    ** the penalty's gradient to grad in a pass of its own, then calls
    ** update). update's rule applied to the gradient of the loss plus a
    ** weight regularizer's penalty l1 * sum|var| + l2 * sum var^2, in ONE
    ** pass: element i uses ln_reg_grad(grad[i], var[i], rl1, rl2x2) (below;
    ** rl1 = (float)l1, rl2x2 = (float)(2 * l2)) where update uses grad[i],
    ** read before var[i] is written, so its results equal, to the bit,
    ** update's on a gradient to which that was added. grad is not written.
    ** Same contract as update otherwise (slices, threads); only called for
    ** elementwise rules (never with LN_OPT_WHOLE_VARIABLE). */
    void (*update_reg)(const void *state, float *var, const float *grad,
                       float *const *slots, int64_t n, int64_t t, double lr,
                       const double *globals, double l1, double l2);
} ln_optimizer_ops;

/* The gradient of the loss plus Keras's L1L2 penalty at one element, in
** float32: g + 2*l2*w + l1*sign(w), with l1 and l2x2 = 2*l2 rounded to
** float. The one definition: the engine's own pass (layer_reg.c) and
** every update_reg use it, so both paths give the same bits: the products
** are explicit fused multiply-adds (one rounding), never left to the
** compiler's contraction, which differs between a loop's vector body and
** its scalar tail (an FMA instruction on x86-64-v3 and up): 2 l2 w is
** rounded on its own (an FMA adding 0), then l1 sign(w), then g, as the
** tape's derivative of the penalty node (tape_units.c) rounds them, so
** both give the same values. A loop that knows l1 == 0 passes the
** constant 0.0f: no sign selects. */
static inline float ln_reg_grad(float g, float w, float l1, float l2x2) {
    float p = fmaf(l2x2, w, 0.0f);
    if (l1 == 0) return g + p;
    return g + (p + (w > 0 ? l1 : w < 0 ? -l1 : 0.0f));
}

typedef struct ln_schedule_ops {
    size_t size; /* sizeof(ln_schedule_ops) */
    size_t state_size;
    ln_status (*create)(ln_ctx *ctx, void *state, ln_args *args); /* NULL ok */
    double (*value)(const void *state, double step); /* required; 0-based */
} ln_schedule_ops;

/* ---- the entry point ------------------------------------------------------- */

typedef struct ln_host ln_host;
struct ln_host {
    uint32_t abi_major, abi_minor; /* the core's; always first */
    ln_ctx *ctx;
    /* Register a unit; the unit and its ops must outlive the plugin
    ** (static). Refuses a NULL required op, a missing or wrong .size, a
    ** name or class name taken, naming the unit -- and then the whole file
    ** is refused. A plugin with several units offers each of them even
    ** after a refusal, so that "unknown unit" errors can name its file. */
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

#endif
