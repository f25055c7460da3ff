/*
** optimizer.h -- the optimizer runtime (engine, liblunet_nn): what turns an
** optimizer plugin (ln_optimizer_ops in plugin.h) into something a training
** loop calls.
**
** An ln_optimizer is an ln_object of kind LN_KIND_OPTIMIZER plus the state
** Keras's OptimizerV2 keeps around every update rule:
**  - the common keyword arguments, read here and never by the plugin:
**      learning_rate   a number, or a schedule reference
**                      {name = "exponential_decay", initial_learning_rate = ..}
**                      evaluated at `iterations` (0 on the first step);
**      lr              the legacy alias of learning_rate (recorded as
**                      learning_rate in the config);
**      decay           inverse-time decay applied after the schedule:
**                      lr_t = lr(iterations) / (1 + decay * iterations);
**      clipvalue       g <- clamp(g, -c, c), per tensor;
**      clipnorm        g <- g * c / max(|g|, c), per variable;
**      global_clipnorm g <- g * c / max(G, c), G the norm of all gradients
**                      (not together with clipnorm);
**      name            the optimizer's name ("Adam"), prefix of its
**                      variables' names.
**  - per-variable slots ("m", "v"), created on the first apply that sees a
**    variable, with the plugin's initial values;
**  - optimizer-wide globals (Nadam's momentum_cache);
**  - the iteration counter (steps already applied).
**
** apply(n, vars, grads) clips (clipvalue, then clipnorm, then
** global_clipnorm; norms are summed in double with a fixed blocking, so the
** result never depends on the thread count), runs the plugin's begin_step
** once, its update once per variable, and increments the counter. After the
** first apply with a given set of variables nothing is allocated. During
** fit the net may instead apply a step in pieces (slices of variables while
** backward runs, ln_optimizer_pieces_ok) -- the same numbers.
**
** Saved state follows Keras's get_weights order: [iterations, globals...,
** slot 1 of every variable in order, slot 2 of every variable, ...], named
** "Adam/iter:0", "Nadam/momentum_cache:0", "Adam/dense/kernel/m:0".
*/
#ifndef LUNET_ENGINE_OPTIMIZER_H
#define LUNET_ENGINE_OPTIMIZER_H

#include "lunet/registry.h"

typedef struct ln_optimizer ln_optimizer;

/* ---- life cycle ------------------------------------------------------------ */

/* A new optimizer of the registered unit `name` ("adam"). Takes ownership of
** args (NULL = all defaults), even on failure. Bad values and unknown keys
** fail naming the key. */
LN_API ln_optimizer *ln_optimizer_new(ln_ctx *ctx, const char *name,
                                      ln_args *args);
LN_API void ln_optimizer_free(ln_optimizer *o);

/* The underlying object: its unit (name, class_name, version) and its args,
** which after creation hold the effective config (every hyper-parameter with
** its value, defaults included). */
LN_API const ln_object *ln_optimizer_object(const ln_optimizer *o);
/* The config name ("Adam" unless the `name` keyword said otherwise). */
LN_API const char *ln_optimizer_name(const ln_optimizer *o);

/* ---- learning rate and iterations -------------------------------------------- */

/* 1 when learning_rate is a schedule. */
LN_API int ln_optimizer_has_schedule(const ln_optimizer *o);
/* The learning rate before `decay`: the number, or the schedule's value at
** the current iteration count. */
LN_API double ln_optimizer_learning_rate(const ln_optimizer *o);
/* Replace the learning rate by a constant (a schedule is dropped, as Keras's
** `optimizer.learning_rate = x` does); the config follows. lr >= 0. */
LN_API ln_status ln_optimizer_set_learning_rate(ln_ctx *ctx, ln_optimizer *o,
                                                double lr);
/* The learning rate the step after `iterations` applied steps uses:
** schedule value at `iterations`, then decay. */
LN_API double ln_optimizer_lr_at(const ln_optimizer *o, int64_t iterations);
LN_API int64_t ln_optimizer_iterations(const ln_optimizer *o);
LN_API ln_status ln_optimizer_set_iterations(ln_ctx *ctx, ln_optimizer *o,
                                             int64_t iterations);

/* ---- updates ------------------------------------------------------------------ */

/* One optimizer step over n (gradient, variable) pairs. vars are float32
** tensors updated in place; grads[i] must have vars[i]'s shape and are not
** modified. names (may be NULL, or hold NULLs) name variables seen for the
** first time ("dense/kernel"; a trailing ":0" is dropped); others get
** "variable_<k>". */
LN_API ln_status ln_optimizer_apply(ln_ctx *ctx, ln_optimizer *o, int n,
                                    ln_tensor *const *vars,
                                    const ln_tensor *const *grads,
                                    const char *const *names);
/* Create the slots of these variables now without stepping (Keras's
** _create_all_weights), so saved weights can be restored before training. */
LN_API ln_status ln_optimizer_build(ln_ctx *ctx, ln_optimizer *o, int n,
                                    ln_tensor *const *vars,
                                    const char *const *names);

/* ---- state --------------------------------------------------------------------- */

LN_API int ln_optimizer_var_count(const ln_optimizer *o);
LN_API ln_tensor *ln_optimizer_var(const ln_optimizer *o, int i); /* borrowed */
LN_API const char *ln_optimizer_var_name(const ln_optimizer *o, int i);
/* Index of var among the optimizer's variables, -1 if it has no slots. */
LN_API int ln_optimizer_find_var(const ln_optimizer *o, const ln_tensor *var);

LN_API int ln_optimizer_slot_count(const ln_optimizer *o); /* per variable */
LN_API const char *ln_optimizer_slot_name(const ln_optimizer *o, int j);
LN_API int ln_optimizer_slot_index(const ln_optimizer *o, const char *name);
/* Slot j of variable i, live (updates write it); borrowed. */
LN_API ln_tensor *ln_optimizer_slot(const ln_optimizer *o, int i, int j);

LN_API int ln_optimizer_global_count(const ln_optimizer *o);
LN_API const char *ln_optimizer_global_name(const ln_optimizer *o, int k);
LN_API double ln_optimizer_global(const ln_optimizer *o, int k);
LN_API void ln_optimizer_set_global(ln_optimizer *o, int k, double v);

/* Keras's weight list: 1 + globals + slots * variables entries. */
LN_API int ln_optimizer_weight_count(const ln_optimizer *o);
/* "Adam/iter:0", "Nadam/momentum_cache:0", "Adam/dense/kernel/m:0". */
LN_API const char *ln_optimizer_weight_name(const ln_optimizer *o, int w,
                                            char *buf, size_t n);
/* A copy of weight w: iterations as a 0-d int32 tensor, globals as 0-d
** float32 ones, slots as float32 tensors shaped like their variable. */
LN_API ln_tensor *ln_optimizer_get_weight(ln_ctx *ctx, const ln_optimizer *o,
                                          int w);
/* Set every weight at once (same order and count as get); checks all
** shapes before changing anything. The iteration count may come as an int32
** or float32 tensor of one element. Slots must exist (apply or build). */
LN_API ln_status ln_optimizer_set_weights(ln_ctx *ctx, ln_optimizer *o, int n,
                                          const ln_tensor *const *w);

/* ---- helpers for update rules and training loops ------------------------------ */

/* Clip gradients as apply does: out[i] <- transformed grads[i] (out[i] may
** be grads[i]; every out[i] is float32 shaped like grads[i]). A negative
** or NaN clipvalue, clipnorm or global_clipnorm means "off". For training
** loops and optimizers written in Lua. */
LN_API ln_status ln_clip_gradients(ln_ctx *ctx, int n,
                                   const ln_tensor *const *grads,
                                   ln_tensor *const *out, double clipvalue,
                                   double clipnorm, double global_clipnorm);

#endif
