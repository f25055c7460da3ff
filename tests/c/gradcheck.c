/*
** gradcheck.c -- finite-difference gradient checks (see gradcheck.h).
**
** Default tolerances, and why:
**  - float64 reference (lt_gc_ref_defaults): step 1e-6 in double, so the
**    numeric derivative's error is ~1e-10 relative (truncation ~h^2,
**    rounding ~1e-16/h). What remains is the float32 analytic gradient:
**    sums of at most a few hundred float products, each rounded at 6e-8,
**    with the cancellation of BatchNormalization's dx (three terms of the
**    size of dy/sigma) -- a few 1e-6 of the variable's scale. atol 2e-5 of
**    the scale plus rtol 1e-4 leaves a margin of ~5x over that, while a
**    wrong formula (a missing term, a wrong sign, a transposed index) is off
**    by O(1) of the scale.
**  - float32 forward (lt_gc_float_defaults): step 1e-3. Rounding in the
**    float32 loss (~6e-8 of each changed output, summed over the outputs a
**    single input touches: one row or one column, <= ~50 values of size
**    ~1) divided by 2e-3 gives up to ~2e-3 of the scale; truncation is
**    ~1e-7. Hence atol 5e-3 of the scale and rtol 1e-2.
*/
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lt_gc_opts lt_gc_ref_defaults(void) {
    return (lt_gc_opts){1e-6, 1e-4, 2e-5, 1e-10};
}

lt_gc_opts lt_gc_float_defaults(void) {
    return (lt_gc_opts){1e-3, 1e-2, 5e-3, 1e-6};
}

/* Numeric derivative of f with respect to element i of v (central). */
static double numeric_at(lt_gc_fn f, void *user, const lt_gc_var *v,
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

int lt_gradcheck(lt_gc_fn f, void *user, const lt_gc_var *vars, int nvars,
                 const lt_gc_opts *o, lt_gc_report *rep) {
    memset(rep, 0, sizeof *rep);
    rep->ok = 1;
    for (int k = 0; k < nvars; k++) {
        const lt_gc_var *v = &vars[k];
        double *num = malloc((size_t)(v->n ? v->n : 1) * sizeof *num);
        if (!num) {
            rep->ok = 0;
            snprintf(rep->msg, sizeof rep->msg, "out of memory");
            return 0;
        }
        double scale = 0;
        for (int64_t i = 0; i < v->n; i++) {
            num[i] = numeric_at(f, user, v, i, o->step);
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

/* ---- layers ------------------------------------------------------------- */

typedef struct layer_run {
    const lt_layer_case *c;
    ln_ctx ctx;
    int64_t batch, ny;
    const double *r;
    /* float64 reference */
    double *xd;
    double **wd;
    double *yd;
    /* float32 layer */
    ln_tensor *xf, *yf;
    float **saved; /* weight values before the check */
    int failed;
} layer_run;

static double ref_loss(void *user) {
    layer_run *run = user;
    const lt_layer_case *c = run->c;
    c->ref(c->cfg, c->layer, run->batch, run->xd, (const double *const *)run->wd,
           run->yd);
    double s = 0;
    for (int64_t i = 0; i < run->ny; i++) s += run->r[i] * run->yd[i];
    return s;
}

/* Non-trainable weights back to their saved values (BatchNormalization's
** moving statistics move with every training forward). */
static void restore_frozen(layer_run *run) {
    ln_layer *l = run->c->layer;
    for (int k = 0; k < ln_layer_weight_count(l); k++)
        if (!ln_layer_trains(l, k))
            memcpy(ln_f32(ln_layer_weight(l, k)), run->saved[k],
                   (size_t)ln_layer_weight(l, k)->numel * sizeof(float));
}

static double layer_loss(void *user) {
    layer_run *run = user;
    const lt_layer_case *c = run->c;
    restore_frozen(run);
    if (c->reseed) ln_rng_seed(ln_layer_rng(c->layer), c->seed);
    if (ln_layer_forward1(&run->ctx, c->layer, run->xf, run->yf, c->flags)) {
        run->failed = 1;
        return NAN;
    }
    const float *y = ln_f32(run->yf);
    double s = 0;
    for (int64_t i = 0; i < run->ny; i++) s += run->r[i] * (double)y[i];
    return s;
}

static int gc_fail(lt_gc_report *rep, const char *fmt, const char *a,
                const char *b) {
    rep->ok = 0;
    snprintf(rep->msg, sizeof rep->msg, fmt, a, b);
    return 0;
}

int lt_layer_gradcheck(const lt_layer_case *c, lt_gc_report *rep) {
    layer_run run;
    memset(&run, 0, sizeof run);
    memset(rep, 0, sizeof *rep);
    run.c = c;
    ln_ctx_clear(&run.ctx);
    ln_layer *l = c->layer;
    int ok = 0;
    ln_tensor *y = ln_tensor_new(&run.ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dy = NULL, *dx = ln_tensor_new(&run.ctx, LN_FLOAT32, 1, (int64_t[]){0});
    float **grads = NULL;
    double *r = NULL;
    if (!y || !dx) return gc_fail(rep, "%s%s", "out of memory", "");

    /* forward of the layer (builds it), with the weights saved first */
    if (!ln_layer_built(l) &&
        lt_build(&run.ctx, l, c->x->ndim - 1, c->x->shape + 1)) {
        gc_fail(rep, "build failed: %s%s", run.ctx.msg, "");
        goto done;
    }
    run.saved = calloc((size_t)ln_layer_weight_count(l) + 1, sizeof *run.saved);
    run.wd = calloc((size_t)ln_layer_weight_count(l) + 1, sizeof *run.wd);
    grads = calloc((size_t)ln_layer_weight_count(l) + 1, sizeof *grads);
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        int64_t n = ln_layer_weight(l, k)->numel;
        run.saved[k] = malloc((size_t)(n ? n : 1) * sizeof(float));
        run.wd[k] = malloc((size_t)(n ? n : 1) * sizeof(double));
        grads[k] = malloc((size_t)(n ? n : 1) * sizeof(float));
        memcpy(run.saved[k], ln_f32(ln_layer_weight(l, k)), (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) run.wd[k][i] = run.saved[k][i];
    }
    if (c->reseed) ln_rng_seed(ln_layer_rng(l), c->seed);
    if (ln_layer_forward1(&run.ctx, l, c->x, y, c->flags)) {
        gc_fail(rep, "forward failed: %s%s", run.ctx.msg, "");
        goto done;
    }
    run.batch = c->x->shape[0];
    run.ny = y->numel;

    /* the float64 reference forward at the same point */
    int64_t nx = c->x->numel;
    run.xd = malloc((size_t)(nx ? nx : 1) * sizeof(double));
    run.yd = malloc((size_t)(run.ny ? run.ny : 1) * sizeof(double));
    r = malloc((size_t)(run.ny ? run.ny : 1) * sizeof(double));
    for (int64_t i = 0; i < nx; i++) run.xd[i] = ln_f32(c->x)[i];
    c->ref(c->cfg, l, run.batch, run.xd, (const double *const *)run.wd, run.yd);
    for (int64_t i = 0; i < run.ny; i++) {
        double ref = run.yd[i], got = ln_f32(y)[i];
        if (!(fabs(got - ref) <= c->fwd_tol * (1 + fabs(ref)))) {
            char a[64], b[64];
            snprintf(a, sizeof a, "y[%lld] = %.9g", (long long)i, got);
            snprintf(b, sizeof b, "%.9g", ref);
            gc_fail(rep, "forward: %s, reference %s", a, b);
            goto done;
        }
    }

    /* backward with dy = r */
    ln_rng rr = {c->r_seed ? c->r_seed : 12345, 0};
    dy = ln_tensor_new_like(&run.ctx, y);
    if (!dy) goto done;
    ln_rng_uniform(&rr, ln_f32(dy), dy->numel, -1.0f, 1.0f);
    for (int64_t i = 0; i < run.ny; i++) r[i] = ln_f32(dy)[i];
    run.r = r;
    if (ln_layer_backward1(&run.ctx, l, c->x, y, dy, dx,
                           c->flags | LN_NEED_DW)) {
        gc_fail(rep, "backward failed: %s%s", run.ctx.msg, "");
        goto done;
    }
    lt_gc_var vars[LN_MAX_WEIGHTS + 1];
    int nv = 0;
    vars[nv++] = (lt_gc_var){"dx", nx, run.xd, NULL, ln_f32(dx)};
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        if (!ln_layer_trains(l, k)) continue;
        const ln_tensor *g = ln_layer_grad(l, k);
        memcpy(grads[k], ln_f32(g), (size_t)g->numel * sizeof(float));
        vars[nv++] = (lt_gc_var){ln_layer_weight_name(l, k), g->numel, run.wd[k],
                                 NULL, grads[k]};
    }
    lt_gc_report sub;
    if (!lt_gradcheck(ref_loss, &run, vars, nv, &c->ref_opts, &sub)) {
        gc_fail(rep, "against the float64 reference: %s%s", sub.msg, "");
        goto done;
    }
    rep->checked = sub.checked;
    rep->worst = sub.worst;

    /* against the layer's own float32 forward */
    if (c->layer_opts.step > 0) {
        run.xf = ln_tensor_clone(&run.ctx, c->x);
        run.yf = ln_tensor_new(&run.ctx, LN_FLOAT32, 1, (int64_t[]){0});
        if (!run.xf || !run.yf) goto done;
        nv = 0;
        vars[nv++] = (lt_gc_var){"dx", nx, NULL, ln_f32(run.xf), ln_f32(dx)};
        for (int k = 0; k < ln_layer_weight_count(l); k++) {
            if (!ln_layer_trains(l, k)) continue;
            const ln_tensor *w = ln_layer_weight(l, k);
            vars[nv++] = (lt_gc_var){ln_layer_weight_name(l, k), w->numel, NULL,
                                     ln_f32(w), grads[k]};
        }
        if (!lt_gradcheck(layer_loss, &run, vars, nv, &c->layer_opts, &sub) ||
            run.failed) {
            gc_fail(rep, "against the float32 layer: %s%s",
                 run.failed ? run.ctx.msg : sub.msg, "");
            goto done;
        }
        rep->checked += sub.checked;
        if (sub.worst > rep->worst) rep->worst = sub.worst;
    }
    ok = 1;
    rep->ok = 1;
done:
    if (run.saved)
        for (int k = 0; k < ln_layer_weight_count(l); k++) {
            if (run.saved[k])
                memcpy(ln_f32(ln_layer_weight(l, k)), run.saved[k],
                       (size_t)ln_layer_weight(l, k)->numel * sizeof(float));
            free(run.saved[k]);
            free(run.wd[k]);
            free(grads[k]);
        }
    free(run.saved);
    free(run.wd);
    free(grads);
    free(run.xd);
    free(run.yd);
    free(r);
    ln_tensor_release(run.xf);
    ln_tensor_release(run.yf);
    ln_tensor_release(y);
    ln_tensor_release(dy);
    ln_tensor_release(dx);
    return ok;
}
