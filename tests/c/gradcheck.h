/*
** gradcheck.h -- finite-difference gradient checks for the test suites.
**
** Two levels:
**
** 1. lt_gradcheck: generic. A closure f(user) computes a scalar from
**    variables the checker perturbs in place, one element at a time, by
**    +-step (central differences), and the numeric derivative is compared
**    with an analytic gradient (float32, what a kernel computed). A
**    variable is either
**      - double values (d): f is a float64 reference written in the test,
**        so the numeric derivative is essentially exact (step ~1e-6) and
**        the tolerance only has to cover the float32 analytic gradient; or
**      - float values (f): f runs the float32 code itself; the step is the
**        exact difference of the rounded perturbed values, and the
**        tolerance must also cover float32 rounding in f divided by the
**        step (use a step ~1e-3 and tolerances ~1e-2).
**    An element passes when |numeric - analytic| <= atol * scale +
**    rtol * |numeric| + abs, scale being the variable's largest |numeric|
**    (so derivatives that are small by cancellation are judged on the
**    variable's scale). Activations and losses use it directly.
**
** 2. lt_layer_gradcheck: a layer in a given mode. It runs the layer's
**    forward (compared with a float64 reference forward written in the
**    test), its backward with dy = r (fixed random), and checks dx and the
**    gradient of every trainable weight against central differences of
**    L = sum(r . y_ref) in double; optionally also against central
**    differences of the layer's own float32 forward. For random layers the
**    layer's generator is re-seeded before every forward, so the masks
**    repeat and the reference can redraw them from the same seed.
*/
#ifndef LUNET_GRADCHECK_H
#define LUNET_GRADCHECK_H

#include "lunet/engine/net.h"

typedef double (*lt_gc_fn)(void *user);

typedef struct lt_gc_var {
    const char *name;
    int64_t n;
    double *d;         /* perturb these (float64 reference), or ... */
    float *f;          /* ... these (the float32 computation itself) */
    const float *grad; /* the analytic gradient under test, n values */
} lt_gc_var;

typedef struct lt_gc_opts {
    double step;
    double rtol, atol, abs; /* see above */
} lt_gc_opts;

typedef struct lt_gc_report {
    int ok;
    int64_t checked;
    double worst;  /* largest |num - ana| / tolerance (<= 1 passes) */
    char msg[1600]; /* the worst element, or what failed */
} lt_gc_report;

/* Check every element of every variable; returns rep->ok. */
int lt_gradcheck(lt_gc_fn f, void *user, const lt_gc_var *vars, int nvars,
                 const lt_gc_opts *opts, lt_gc_report *rep);

/* A float64 reference forward of a layer: y (batch x the layer's output
** shape) from x (batch x input shape) and the layer's weights in its
** order (all of them, trainable or not), given as doubles. */
typedef void (*lt_ref_forward)(const void *cfg, const ln_layer *l,
                               int64_t batch, const double *x,
                               const double *const *w, double *y);

typedef struct lt_layer_case {
    ln_layer *layer;  /* created; built by the first forward if needed */
    const ln_tensor *x;
    unsigned flags;   /* LN_TRAINING and/or LN_LOGITS */
    lt_ref_forward ref;
    const void *cfg;  /* handed to ref */
    int reseed;       /* re-seed layer->rng with seed before each forward */
    uint64_t seed;
    double fwd_tol;   /* |y - y_ref| <= fwd_tol (1 + |y_ref|) */
    lt_gc_opts ref_opts;   /* against the float64 reference */
    lt_gc_opts layer_opts; /* against the float32 layer (step 0: skip) */
    uint64_t r_seed;  /* for r */
} lt_layer_case;

/* Default options (documented in gradcheck.c). */
lt_gc_opts lt_gc_ref_defaults(void);
lt_gc_opts lt_gc_float_defaults(void);

/* Run the layer checks; weights are restored afterwards. Returns 1 when
** everything passed, else 0 with the reason in rep->msg. */
int lt_layer_gradcheck(const lt_layer_case *c, lt_gc_report *rep);

#endif
