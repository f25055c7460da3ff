/*
** gradcheck.h -- finite-difference gradient checks for plugin tests
** (installed with the SDK; the shipped plugins' tests use the same code,
** tests/c/gradcheck.c). Header-only; a test program includes it and links
** liblunet_nn.
**
**  - lu_gradcheck: generic. f(user) computes a scalar from variables the
**    checker perturbs in place, one element at a time, by +-step (central
**    differences); the numeric derivative is compared with an analytic
**    gradient. A variable holds double values (d: f is a float64 reference
**    written in the test; step ~1e-6, lu_gc_ref_defaults) or float values
**    (f: f runs the float32 code itself; the step is the exact difference
**    of the rounded perturbed values; lu_gc_float_defaults). An element
**    passes when |numeric - analytic| <= atol * scale + rtol * |numeric| +
**    abs, scale being the variable's largest |numeric| (derivatives small
**    by cancellation are judged on the variable's scale).
**  - lu_layer_gradcheck: a layer (a host-side ln_layer, lunet/engine/layer.h)
**    against its own float32 forward: backward with dy = r (fixed random)
**    gives dx and the gradient of every trainable weight, compared with
**    central differences of L = sum(r . forward(x)) in double. For
**    deterministic layers (a random layer needs a fixed mask: check it in
**    inference mode, or with the generic checker).
**
** Nothing prints: the report holds the worst element (rep->msg) and the
** worst |numeric - analytic| / tolerance (rep->worst, <= 1 passes).
*/
#ifndef LUNET_SDK_GRADCHECK_H
#define LUNET_SDK_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/engine/layer.h"

typedef double (*lu_gc_fn)(void *user);

typedef struct lu_gc_var {
    const char *name;
    int64_t n;
    double *d;         /* perturb these (float64 reference), or ... */
    float *f;          /* ... these (the float32 computation itself) */
    const float *grad; /* the analytic gradient under test, n values */
} lu_gc_var;

typedef struct lu_gc_opts {
    double step;
    double rtol, atol, abs; /* see above */
} lu_gc_opts;

typedef struct lu_gc_report {
    int ok;
    int64_t checked;
    double worst;   /* largest |num - ana| / tolerance (<= 1 passes) */
    char msg[1600]; /* the worst element, or what failed */
} lu_gc_report;

/* Against a float64 reference: step 1e-6 leaves ~1e-10 of error in the
** numeric derivative, so the tolerance covers the float32 analytic
** gradient (sums of a few hundred rounded products, with cancellation):
** atol 2e-5 of the scale, rtol 1e-4. A wrong formula is off by O(1). */
static inline lu_gc_opts lu_gc_ref_defaults(void) {
    return (lu_gc_opts){1e-6, 1e-4, 2e-5, 1e-10};
}

/* Against the float32 computation: step 1e-3; float32 rounding of the
** loss divided by the step gives up to ~2e-3 of the scale: atol 5e-3 of
** the scale, rtol 1e-2. */
static inline lu_gc_opts lu_gc_float_defaults(void) {
    return (lu_gc_opts){1e-3, 1e-2, 5e-3, 1e-6};
}

/* Numeric derivative of f with respect to element i of v (central). */
static inline double lu_gc_numeric(lu_gc_fn f, void *user, const lu_gc_var *v,
                                   int64_t i, double step) {
    if (v->d) {
        double x0 = v->d[i];
        v->d[i] = x0 + step;
        double fp = f(user);
        v->d[i] = x0 - step;
        double fm = f(user);
        v->d[i] = x0;
        return (fp - fm) / (2 * step);
    }
    float x0 = v->f[i];
    float xp = (float)(x0 + step), xm = (float)(x0 - step);
    v->f[i] = xp;
    double fp = f(user);
    v->f[i] = xm;
    double fm = f(user);
    v->f[i] = x0;
    return (fp - fm) / ((double)xp - (double)xm);
}

/* Check every element of every variable; returns rep->ok. */
static inline int lu_gradcheck(lu_gc_fn f, void *user, const lu_gc_var *vars,
                               int nvars, const lu_gc_opts *o,
                               lu_gc_report *rep) {
    memset(rep, 0, sizeof *rep);
    rep->ok = 1;
    for (int k = 0; k < nvars; k++) {
        const lu_gc_var *v = &vars[k];
        double *num = malloc((size_t)(v->n ? v->n : 1) * sizeof *num);
        if (!num) {
            rep->ok = 0;
            snprintf(rep->msg, sizeof rep->msg, "out of memory");
            return 0;
        }
        double scale = 0;
        for (int64_t i = 0; i < v->n; i++) {
            num[i] = lu_gc_numeric(f, user, v, i, o->step);
            if (fabs(num[i]) > scale) scale = fabs(num[i]);
        }
        for (int64_t i = 0; i < v->n; i++) {
            double ana = v->grad[i];
            double tol = o->atol * scale + o->rtol * fabs(num[i]) + o->abs;
            double ratio = fabs(num[i] - ana) / tol;
            if (ratio != ratio) ratio = INFINITY; /* NaN analytic */
            rep->checked++;
            if (ratio > rep->worst) {
                rep->worst = ratio;
                snprintf(rep->msg, sizeof rep->msg,
                         "%s[%lld]: numeric %.9g, analytic %.9g (tolerance "
                         "%.3g, scale %.3g)",
                         v->name, (long long)i, num[i], ana, tol, scale);
            }
            if (ratio > 1) rep->ok = 0;
        }
        free(num);
    }
    return rep->ok;
}

/* ---- a layer against its own forward --------------------------------------- */

typedef struct lu_gc_layer_run {
    ln_ctx *ctx;
    ln_layer *l;
    ln_tensor *x, *y;
    const float *r;
    unsigned flags;
    int failed;
} lu_gc_layer_run;

static inline double lu_gc_layer_loss(void *user) {
    lu_gc_layer_run *run = user;
    if (ln_layer_forward1(run->ctx, run->l, run->x, run->y, run->flags)) {
        run->failed = 1;
        return NAN;
    }
    double s = 0;
    for (int64_t i = 0; i < run->y->numel; i++) s += (double)run->r[i] * ln_f32(run->y)[i];
    return s;
}

/* Check dx and the trainable weights' gradients of layer l at input x (a
** float32 tensor, batch first; the layer is built by the first forward) in
** mode flags (0 or LN_TRAINING), with dy = r drawn from seed. x is
** perturbed and restored; so are the weights. Returns rep->ok; a failing
** forward or backward fails the check with ctx's message. */
static inline int lu_layer_gradcheck(ln_ctx *ctx, ln_layer *l, ln_tensor *x,
                                     unsigned flags, uint64_t seed,
                                     const lu_gc_opts *o, lu_gc_report *rep) {
    memset(rep, 0, sizeof *rep);
    ln_tensor *y = ln_tensor_new(ctx, LN_FLOAT32, 1, &x->numel), *r = NULL,
              *dx = NULL;
    lu_gc_var vars[1 + 16];
    int nv = 0, ok = 0;
    float *grads[16] = {0};
    if (!y || ln_layer_forward1(ctx, l, x, y, flags)) goto done;
    if (!(r = ln_tensor_new_like(ctx, y)) || !(dx = ln_tensor_new_like(ctx, x)))
        goto done;
    ln_rng g = {seed, 0};
    ln_rng_uniform(&g, ln_f32(r), r->numel, -1.0f, 1.0f);
    if (ln_layer_backward1(ctx, l, x, y, r, dx, flags | LN_NEED_DW)) goto done;
    vars[nv++] = (lu_gc_var){"dx", x->numel, NULL, ln_f32(x), ln_f32(dx)};
    for (int w = 0; w < ln_layer_weight_count(l) && nv < 1 + 16; w++) {
        if (!ln_layer_trains(l, w)) continue;
        ln_tensor *wt = ln_layer_weight(l, w), *gt = ln_layer_grad(l, w);
        /* the gradient is copied: every forward below may not touch it,
        ** but a backward would */
        grads[nv - 1] = malloc((size_t)gt->numel * sizeof(float));
        if (!grads[nv - 1]) {
            snprintf(rep->msg, sizeof rep->msg, "out of memory");
            goto done;
        }
        memcpy(grads[nv - 1], ln_f32(gt), (size_t)gt->numel * sizeof(float));
        vars[nv] = (lu_gc_var){ln_layer_weight_name(l, w), wt->numel, NULL,
                               ln_f32(wt), grads[nv - 1]};
        nv++;
    }
    lu_gc_layer_run run = {ctx, l, x, y, ln_f32(r), flags, 0};
    ok = lu_gradcheck(lu_gc_layer_loss, &run, vars, nv, o, rep);
    if (run.failed) {
        ok = rep->ok = 0;
        snprintf(rep->msg, sizeof rep->msg, "forward failed: %s", ctx->msg);
    }
done:
    if (!ok && !rep->msg[0])
        snprintf(rep->msg, sizeof rep->msg, "%s", ctx->msg);
    for (int i = 0; i < 16; i++) free(grads[i]);
    ln_tensor_release(y), ln_tensor_release(r), ln_tensor_release(dx);
    rep->ok = ok;
    return ok;
}

#endif
