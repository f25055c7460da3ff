/*
** test_optimizers.c -- every optimizer plugin against an independent float64
** implementation of its formula (keras-semantics.md section 1), step by
** step: at each of >= 50 steps the reference is fed the plugin's current
** float32 state (weights, slots, globals) and the same gradients, and the
** new state must agree within 1e-6 relative (weights: 1e-6 of the update
** plus the float32 rounding of the stored weight). Also: 25-step
** trajectories of a small regression against float64 runs, resuming from
** saved state in a fresh process (bitwise), 1 vs 2 threads (bitwise), the
** weight list, configs, argument errors and no allocation after step 1.
*/
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lunet/engine/optimizer.h"
#include "testutil.h"

/* ---- the float64 reference ----------------------------------------------------- */

typedef struct ref {
    const char *opt;    /* unit name */
    double lr, decay;   /* learning rate (or schedule initial), decay */
    double clipvalue, clipnorm, global_clipnorm; /* < 0: off */
    double s_steps, s_rate; /* exponential_decay schedule when s_steps > 0 */
    double mu, rho, eps, b1, b2, init, psi, wd;
    int nesterov, centered, amsgrad;
    double power, l1, l2, shrink, beta; /* Ftrl */
} ref;

/* The hyper-parameters as keyword arguments for the plugin. */
static ln_args *ref_args(const ref *r) {
    ln_args *a = ln_args_new();
    const char *o = r->opt;
    if (r->s_steps > 0) {
        ln_args *s = ln_args_new();
        ln_args_set_string(s, "name", "exponential_decay");
        ln_args_set_number(s, "initial_learning_rate", r->lr);
        ln_args_set_number(s, "decay_steps", r->s_steps);
        ln_args_set_number(s, "decay_rate", r->s_rate);
        ln_args_set_table(a, "learning_rate", s);
    } else {
        ln_args_set_number(a, "learning_rate", r->lr);
    }
    if (r->decay > 0) ln_args_set_number(a, "decay", r->decay);
    if (r->clipvalue >= 0) ln_args_set_number(a, "clipvalue", r->clipvalue);
    if (r->clipnorm >= 0) ln_args_set_number(a, "clipnorm", r->clipnorm);
    if (r->global_clipnorm >= 0)
        ln_args_set_number(a, "global_clipnorm", r->global_clipnorm);
    if (!strcmp(o, "sgd")) {
        ln_args_set_number(a, "momentum", r->mu);
        ln_args_set_bool(a, "nesterov", r->nesterov);
    } else if (!strcmp(o, "adagrad")) {
        ln_args_set_number(a, "initial_accumulator_value", r->init);
        ln_args_set_number(a, "epsilon", r->eps);
    } else if (!strcmp(o, "rmsprop")) {
        ln_args_set_number(a, "rho", r->rho);
        ln_args_set_number(a, "momentum", r->mu);
        ln_args_set_number(a, "epsilon", r->eps);
        ln_args_set_bool(a, "centered", r->centered);
    } else if (!strcmp(o, "adam") || !strcmp(o, "adamw")) {
        ln_args_set_number(a, "beta_1", r->b1);
        ln_args_set_number(a, "beta_2", r->b2);
        ln_args_set_number(a, "epsilon", r->eps);
        ln_args_set_bool(a, "amsgrad", r->amsgrad);
        if (!strcmp(o, "adamw")) ln_args_set_number(a, "weight_decay", r->wd);
    } else if (!strcmp(o, "adamax")) {
        ln_args_set_number(a, "beta_1", r->b1);
        ln_args_set_number(a, "beta_2", r->b2);
        ln_args_set_number(a, "epsilon", r->eps);
    } else if (!strcmp(o, "nadam")) {
        ln_args_set_number(a, "beta_1", r->b1);
        ln_args_set_number(a, "beta_2", r->b2);
        ln_args_set_number(a, "epsilon", r->eps);
        ln_args_set_number(a, "schedule_decay", r->psi);
    } else if (!strcmp(o, "adadelta")) {
        ln_args_set_number(a, "rho", r->rho);
        ln_args_set_number(a, "epsilon", r->eps);
    } else if (!strcmp(o, "ftrl")) {
        ln_args_set_number(a, "learning_rate_power", r->power);
        ln_args_set_number(a, "initial_accumulator_value", r->init);
        ln_args_set_number(a, "l1_regularization_strength", r->l1);
        ln_args_set_number(a, "l2_regularization_strength", r->l2);
        ln_args_set_number(a, "l2_shrinkage_regularization_strength", r->shrink);
        ln_args_set_number(a, "beta", r->beta);
    } else if (!strcmp(o, "lion")) {
        ln_args_set_number(a, "beta_1", r->b1);
        ln_args_set_number(a, "beta_2", r->b2);
        ln_args_set_number(a, "weight_decay", r->wd);
    }
    return a;
}

/* Learning rate of the step after `it` applied steps. */
static double ref_lr(const ref *r, int64_t it) {
    double lr = r->lr;
    if (r->s_steps > 0) lr = r->lr * pow(r->s_rate, (double)it / r->s_steps);
    return lr / (1.0 + r->decay * (double)it);
}

/* Keras's gradient transforms on double copies: clipvalue, per-variable
** clipnorm, then global_clipnorm; the result is rounded to float32. */
static void ref_clip(const ref *r, int nv, double **g, const int64_t *len) {
    double total = 0;
    for (int k = 0; k < nv; k++) {
        if (r->clipvalue >= 0)
            for (int64_t i = 0; i < len[k]; i++)
                g[k][i] = fmin(fmax(g[k][i], -r->clipvalue), r->clipvalue);
        double s = 0;
        for (int64_t i = 0; i < len[k]; i++) s += g[k][i] * g[k][i];
        if (r->clipnorm >= 0) {
            double f = r->clipnorm / fmax(sqrt(s), r->clipnorm);
            for (int64_t i = 0; i < len[k]; i++) g[k][i] *= f;
        }
        total += s;
    }
    if (r->global_clipnorm >= 0) {
        double f = r->global_clipnorm / fmax(sqrt(total), r->global_clipnorm);
        for (int k = 0; k < nv; k++)
            for (int64_t i = 0; i < len[k]; i++) g[k][i] *= f;
    }
    /* Clipped gradients are float32 tensors (in Keras too): the update
    ** sees them rounded. */
    for (int k = 0; k < nv; k++)
        for (int64_t i = 0; i < len[k]; i++) g[k][i] = (float)g[k][i];
}

static double sgn(double x) { return (x > 0) - (x < 0); }

/* One step of the rule on one variable of n elements: w and s[j] hold the
** state before the step, g the (clipped) gradient; the new state goes to
** w_out and s_out[j]. glob[0] is Nadam's momentum cache before the step;
** glob[1] receives the new one. */
static void ref_update(const ref *r, int64_t t, double lr, int64_t n,
                       const double *w, const double *g, double *const *s,
                       double *w_out, double *const *s_out, double *glob) {
    const char *o = r->opt;
    double T = (double)t;
    if (!strcmp(o, "sgd")) {
        for (int64_t i = 0; i < n; i++) {
            if (r->mu == 0) {
                w_out[i] = w[i] - lr * g[i];
                continue;
            }
            double v = r->mu * s[0][i] - lr * g[i];
            s_out[0][i] = v;
            w_out[i] = r->nesterov ? w[i] + r->mu * v - lr * g[i] : w[i] + v;
        }
    } else if (!strcmp(o, "adagrad")) {
        for (int64_t i = 0; i < n; i++) {
            double a = s[0][i] + g[i] * g[i];
            s_out[0][i] = a;
            w_out[i] = w[i] - lr * g[i] / (sqrt(a) + r->eps);
        }
    } else if (!strcmp(o, "rmsprop")) {
        int jm = r->mu > 0 ? 1 : -1, jc = r->centered ? (r->mu > 0 ? 2 : 1) : -1;
        for (int64_t i = 0; i < n; i++) {
            double ms = r->rho * s[0][i] + (1 - r->rho) * g[i] * g[i];
            s_out[0][i] = ms;
            double den = ms;
            if (jc >= 0) {
                double mg = r->rho * s[jc][i] + (1 - r->rho) * g[i];
                s_out[jc][i] = mg;
                den = ms - mg * mg;
            }
            if (jm >= 0) {
                double mom = r->mu * s[jm][i] + lr * g[i] / sqrt(den + r->eps);
                s_out[jm][i] = mom;
                w_out[i] = w[i] - mom;
            } else {
                w_out[i] = w[i] - lr * g[i] / (sqrt(den) + r->eps);
            }
        }
    } else if (!strcmp(o, "adam") || !strcmp(o, "adamw")) {
        double alpha = lr * sqrt(1 - pow(r->b2, T)) / (1 - pow(r->b1, T));
        double wd = !strcmp(o, "adamw") ? r->wd : 0;
        for (int64_t i = 0; i < n; i++) {
            double m = r->b1 * s[0][i] + (1 - r->b1) * g[i];
            double v = r->b2 * s[1][i] + (1 - r->b2) * g[i] * g[i];
            s_out[0][i] = m;
            s_out[1][i] = v;
            double den = v;
            if (r->amsgrad) den = s_out[2][i] = fmax(s[2][i], v);
            double decayed = w[i] - lr * wd * w[i];
            w_out[i] = decayed - alpha * m / (sqrt(den) + r->eps);
        }
    } else if (!strcmp(o, "adamax")) {
        for (int64_t i = 0; i < n; i++) {
            double m = r->b1 * s[0][i] + (1 - r->b1) * g[i];
            double u = fmax(r->b2 * s[1][i], fabs(g[i]));
            s_out[0][i] = m;
            s_out[1][i] = u;
            w_out[i] = w[i] - lr / (1 - pow(r->b1, T)) * m / (u + r->eps);
        }
    } else if (!strcmp(o, "nadam")) {
        double mu_t = r->b1 * (1 - 0.5 * pow(0.96, r->psi * T));
        double mu_n = r->b1 * (1 - 0.5 * pow(0.96, r->psi * (T + 1)));
        double pi_t = glob[0] * mu_t, pi_n = pi_t * mu_n;
        for (int64_t i = 0; i < n; i++) {
            double gh = g[i] / (1 - pi_t);
            double m = r->b1 * s[0][i] + (1 - r->b1) * g[i];
            double mh = m / (1 - pi_n);
            double v = r->b2 * s[1][i] + (1 - r->b2) * g[i] * g[i];
            double vh = v / (1 - pow(r->b2, T));
            double mbar = (1 - mu_t) * gh + mu_n * mh;
            s_out[0][i] = m;
            s_out[1][i] = v;
            w_out[i] = w[i] - lr * mbar / (sqrt(vh) + r->eps);
        }
        glob[1] = pi_t;
    } else if (!strcmp(o, "adadelta")) {
        for (int64_t i = 0; i < n; i++) {
            double a = r->rho * s[0][i] + (1 - r->rho) * g[i] * g[i];
            double d = g[i] * sqrt(s[1][i] + r->eps) / sqrt(a + r->eps);
            s_out[0][i] = a;
            s_out[1][i] = r->rho * s[1][i] + (1 - r->rho) * d * d;
            w_out[i] = w[i] - lr * d;
        }
    } else if (!strcmp(o, "ftrl")) {
        double l2 = r->l2 + r->beta / (2 * lr), e = -r->power;
        for (int64_t i = 0; i < n; i++) {
            double gs = g[i] + 2 * r->shrink * w[i];
            double acc = s[0][i], nacc = acc + g[i] * g[i];
            double pa = r->power == -0.5 ? sqrt(acc) : pow(acc, e);
            double pn = r->power == -0.5 ? sqrt(nacc) : pow(nacc, e);
            double z = s[1][i] + gs - (pn - pa) / lr * w[i];
            s_out[0][i] = nacc;
            s_out[1][i] = z;
            w_out[i] = fabs(z) > r->l1 ? (sgn(z) * r->l1 - z) / (pn / lr + 2 * l2) : 0;
        }
    } else if (!strcmp(o, "lion")) {
        for (int64_t i = 0; i < n; i++) {
            double c = r->b1 * s[0][i] + (1 - r->b1) * g[i];
            w_out[i] = w[i] - lr * (sgn(c) + r->wd * w[i]);
            s_out[0][i] = r->b2 * s[0][i] + (1 - r->b2) * g[i];
        }
    } else {
        ck_abort_msg("no reference for %s", o);
    }
}

/* ---- helpers ------------------------------------------------------------------- */

static ln_ctx ctx;

/* Check's assertions only work inside a test: the resuming child process
** (run outside Check) reports failures itself. */
static int in_child;
#define REQUIRE(cond, ...)                                                    \
    do {                                                                      \
        if (in_child) {                                                       \
            if (!(cond)) {                                                    \
                fprintf(stderr, __VA_ARGS__);                                 \
                fputc('\n', stderr);                                          \
                _exit(3);                                                     \
            }                                                                 \
        } else {                                                              \
            ck_assert_msg(cond, __VA_ARGS__);                                 \
        }                                                                     \
    } while (0)

static ln_optimizer *make(const char *name, ln_args *a) {
    ln_ctx_clear(&ctx);
    ln_optimizer *o = ln_optimizer_new(&ctx, name, a);
    ck_assert_msg(o != NULL, "%s: %s", name, ctx.msg);
    return o;
}

static void apply_ok(ln_optimizer *o, int n, ln_tensor **vars, ln_tensor **grads,
                     const char *const *names) {
    ln_ctx_clear(&ctx);
    REQUIRE(ln_optimizer_apply(&ctx, o, n, vars,
                                     (const ln_tensor *const *)grads, names) == LN_OK,
                  "%s", ctx.msg);
}

/* The plugin's initial slot values (what the reference starts from). */
static int slot_inits(const ln_optimizer *o, float *init) {
    const char *names[LN_MAX_SLOTS];
    const ln_optimizer_ops *ops = ln_optimizer_object(o)->unit->ops;
    return ops->slots ? ops->slots(ln_optimizer_object(o)->state, names, init) : 0;
}

/* Gradients of step `step` for variable k: uniform, with a scale that
** changes from step to step so norm clipping is sometimes active. */
static void fill_grad(ln_tensor *g, int step, int k) {
    ln_rng r = {1000u + (uint64_t)step * 31u + (uint64_t)k, 0};
    double scale = (step % 3 == 0) ? 3.0 : (step % 3 == 1) ? 0.2 : 1.0;
    ln_rng_uniform(&r, ln_f32(g), g->numel, (float)-scale, (float)scale);
}

static double ulpf(double x) {
    float f = (float)fabs(x);
    return (double)nextafterf(f, INFINITY) - (double)f;
}

static double *dalloc(int64_t n) {
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

#define NV 3

/* Run `steps` steps of r on three variables (the last one of `big`
** elements), comparing every step with the reference fed the plugin's
** float32 state. */
static void check_rule(const ref *r, int steps, int64_t big) {
    int64_t shapes[NV][2] = {{6, 5}, {37, 1}, {big, 1}};
    int nds[NV] = {2, 1, 1};
    const char *names[NV] = {"dense/kernel", "dense/bias", "big/kernel:0"};
    ln_tensor *vars[NV], *grads[NV];
    int64_t len[NV];
    double *w[NV], *g[NV], *w_out[NV], *s_in[NV][LN_MAX_SLOTS],
        *s_out[NV][LN_MAX_SLOTS];
    for (int k = 0; k < NV; k++) {
        vars[k] = lt_uniform(nds[k], shapes[k], -0.5f, 0.5f, 7 + (uint64_t)k);
        grads[k] = ln_tensor_new_like(&ctx, vars[k]);
        len[k] = vars[k]->numel;
        w[k] = dalloc(len[k]), g[k] = dalloc(len[k]), w_out[k] = dalloc(len[k]);
        for (int j = 0; j < LN_MAX_SLOTS; j++)
            s_in[k][j] = dalloc(len[k]), s_out[k][j] = dalloc(len[k]);
    }
    ln_optimizer *o = make(r->opt, ref_args(r));
    float init[LN_MAX_SLOTS];
    int nslots = slot_inits(o, init);
    double glob[2] = {1.0, 1.0};
    for (int step = 0; step < steps; step++) {
        /* The state before the step, as the plugin holds it. */
        for (int k = 0; k < NV; k++) {
            fill_grad(grads[k], step, k);
            for (int64_t i = 0; i < len[k]; i++) {
                w[k][i] = ln_f32(vars[k])[i];
                g[k][i] = ln_f32(grads[k])[i];
                for (int j = 0; j < nslots; j++)
                    s_in[k][j][i] = step ? ln_f32(ln_optimizer_slot(o, k, j))[i]
                                         : init[j];
            }
        }
        if (ln_optimizer_global_count(o)) glob[0] = ln_optimizer_global(o, 0);
        int64_t it = ln_optimizer_iterations(o);
        ck_assert_int_eq(it, step);
        apply_ok(o, NV, vars, grads, names);
        ck_assert_int_eq(ln_optimizer_iterations(o), step + 1);
        ck_assert_int_eq(ln_optimizer_slot_count(o), nslots);
        /* The reference step. */
        ref_clip(r, NV, g, len);
        double lr = ref_lr(r, it);
        for (int k = 0; k < NV; k++) {
            ref_update(r, it + 1, lr, len[k], w[k], g[k], s_in[k], w_out[k],
                       s_out[k], glob);
            for (int64_t i = 0; i < len[k]; i++) {
                double got = ln_f32(vars[k])[i], want = w_out[k][i];
                double tol = 1e-6 * fabs(want - w[k][i]) + ulpf(want);
                if (!(fabs(got - want) <= tol))
                    ck_abort_msg("%s step %d var %d[%lld]: %.9g, reference %.9g "
                              "(from %.9g, lr %g)", r->opt, step + 1, k,
                              (long long)i, got, want, w[k][i], lr);
                for (int j = 0; j < nslots; j++) {
                    double sg = ln_f32(ln_optimizer_slot(o, k, j))[i];
                    double sw = s_out[k][j][i];
                    if (!(fabs(sg - sw) <= 1e-6 * fabs(sw)))
                        ck_abort_msg("%s step %d slot '%s' of var %d[%lld]: %.9g, "
                                  "reference %.9g", r->opt, step + 1,
                                  ln_optimizer_slot_name(o, j), k, (long long)i,
                                  sg, sw);
                }
            }
        }
        if (ln_optimizer_global_count(o)) {
            double got = ln_optimizer_global(o, 0);
            ck_assert_msg(fabs(got - glob[1]) <= 1e-6 * fabs(glob[1]),
                          "%s step %d momentum_cache %.9g, reference %.9g",
                          r->opt, step + 1, got, glob[1]);
        }
    }
    for (int k = 0; k < NV; k++) {
        free(w[k]), free(g[k]), free(w_out[k]);
        for (int j = 0; j < LN_MAX_SLOTS; j++) free(s_in[k][j]), free(s_out[k][j]);
        ln_tensor_release(vars[k]);
        ln_tensor_release(grads[k]);
    }
    ln_optimizer_free(o);
}

/* Defaults as tf.keras: every field, then per case overrides. */
static ref base(const char *opt, double lr) {
    ref r = {.opt = opt, .lr = lr, .clipvalue = -1, .clipnorm = -1,
             .global_clipnorm = -1, .rho = 0.9, .eps = 1e-7, .b1 = 0.9,
             .b2 = 0.999, .init = 0.1, .psi = 0.004, .power = -0.5};
    return r;
}

/* ---- the cases ------------------------------------------------------------------- */

#define MAXCASES 64
static ref cases[MAXCASES];
static int ncases;

static void add(ref r) {
    ck_assert_int_lt(ncases, MAXCASES);
    cases[ncases++] = r;
}

/* Every optimizer and option; large epsilons (0.1) make the position of
** epsilon (inside or outside the root, epsilon-hat) visible. */
static void add_cases(void) {
    ref r;
    ncases = 0;
    add(base("sgd", 0.1));
    r = base("sgd", 0.05), r.mu = 0.9, add(r);
    r = base("sgd", 0.05), r.mu = 0.9, r.nesterov = 1, add(r);
    r = base("sgd", 0.05), r.mu = 0.5, r.decay = 0.05, add(r);
    r = base("sgd", 0.1), r.clipnorm = 1.0, add(r);
    r = base("sgd", 0.1), r.mu = 0.8, r.s_steps = 10, r.s_rate = 0.5, add(r);
    r = base("adagrad", 0.1), add(r);
    r = base("adagrad", 0.1), r.eps = 0.1, r.init = 0.0, add(r);
    r = base("rmsprop", 0.01), add(r);
    r = base("rmsprop", 0.01), r.eps = 0.1, add(r);
    r = base("rmsprop", 0.01), r.centered = 1, add(r);
    r = base("rmsprop", 0.01), r.centered = 1, r.eps = 0.1, add(r);
    r = base("rmsprop", 0.01), r.mu = 0.9, r.eps = 0.1, add(r);
    r = base("rmsprop", 0.01), r.mu = 0.9, add(r);
    r = base("rmsprop", 0.01), r.mu = 0.9, r.centered = 1, r.eps = 0.1, add(r);
    r = base("rmsprop", 0.01), r.global_clipnorm = 2.0, r.clipvalue = 0.8, add(r);
    r = base("adam", 0.01), add(r);
    r = base("adam", 0.01), r.eps = 0.1, add(r);
    r = base("adam", 0.01), r.amsgrad = 1, add(r);
    r = base("adam", 0.01), r.amsgrad = 1, r.eps = 0.1, r.b1 = 0.5, r.b2 = 0.9, add(r);
    r = base("adam", 0.01), r.decay = 0.02, add(r);
    r = base("adam", 0.01), r.clipvalue = 0.5, add(r);
    r = base("adam", 0.01), r.clipvalue = 1.0, r.clipnorm = 2.0, add(r);
    r = base("adam", 0.01), r.global_clipnorm = 3.0, add(r);
    r = base("adam", 0.05), r.s_steps = 7, r.s_rate = 0.3, r.decay = 0.1, add(r);
    r = base("adamax", 0.01), add(r);
    r = base("adamax", 0.01), r.eps = 0.1, add(r);
    r = base("nadam", 0.01), add(r);
    r = base("nadam", 0.01), r.eps = 0.1, add(r);
    r = base("nadam", 0.01), r.psi = 0.5, r.decay = 0.01, add(r);
    r = base("adadelta", 1.0), r.rho = 0.95, add(r);
    r = base("adadelta", 1.0), r.rho = 0.95, r.eps = 0.1, add(r);
    r = base("ftrl", 0.1), add(r);
    r = base("ftrl", 0.1), r.l1 = 0.01, r.l2 = 0.02, r.shrink = 0.05, r.beta = 0.3, add(r);
    r = base("ftrl", 0.1), r.power = -0.7, r.l1 = 0.001, r.init = 0.5, add(r);
    r = base("adamw", 0.01), r.wd = 0.004, add(r);
    r = base("adamw", 0.01), r.wd = 0.1, r.amsgrad = 1, r.eps = 0.1, add(r);
    r = base("lion", 0.001), r.b2 = 0.99, add(r);
    r = base("lion", 0.001), r.b2 = 0.99, r.wd = 0.5, r.decay = 0.01, add(r);
}
#define NCASES 39

START_TEST(step_by_step) {
    add_cases();
    ck_assert_int_eq(ncases, NCASES);
    /* One case in three also has a variable over the parallel threshold. */
    check_rule(&cases[_i], 50, _i % 3 == 0 ? 40000 : 11);
}
END_TEST

/* ---- 25-step trajectories of a small regression ------------------------------------ */

/* Least squares y = X w + b on 16 samples and 3 features. */
#define NS 16
#define NF 3
static double X[NS][NF], Y[NS];

static void make_data(void) {
    ln_rng r = {99, 0};
    for (int s = 0; s < NS; s++) {
        double y = 0.3;
        for (int f = 0; f < NF; f++) {
            X[s][f] = 2 * ln_rng_double(&r) - 1;
            y += X[s][f] * (f + 1) * 0.7;
        }
        Y[s] = y + 0.05 * (ln_rng_double(&r) - 0.5);
    }
}

/* Gradient of the mean squared error at p = (w[0..NF-1], b). */
static void regression_grad(const double *p, double *gp) {
    for (int f = 0; f <= NF; f++) gp[f] = 0;
    for (int s = 0; s < NS; s++) {
        double e = p[NF] - Y[s];
        for (int f = 0; f < NF; f++) e += X[s][f] * p[f];
        for (int f = 0; f < NF; f++) gp[f] += 2 * e * X[s][f] / NS;
        gp[NF] += 2 * e / NS;
    }
}

/* 25 steps of the plugin (float32 state, gradients from its own weights)
** against 25 steps of the reference kept entirely in double. */
START_TEST(trajectory_25) {
    add_cases();
    make_data();
    const ref *r = &cases[_i];
    int64_t shw[1] = {NF}, shb[1] = {1};
    ln_tensor *vars[2] = {ln_tensor_new(&ctx, LN_FLOAT32, 1, shw),
                          ln_tensor_new(&ctx, LN_FLOAT32, 1, shb)};
    ln_tensor *grads[2] = {ln_tensor_new_like(&ctx, vars[0]),
                           ln_tensor_new_like(&ctx, vars[1])};
    ln_optimizer *o = make(r->opt, ref_args(r));
    double p[NF + 1] = {0.1, -0.2, 0.05, 0.0}, pn[NF + 1], glob[2] = {1.0, 1.0};
    double s[LN_MAX_SLOTS][NF + 1], sn[LN_MAX_SLOTS][NF + 1];
    double *sp[2][LN_MAX_SLOTS], *snp[2][LN_MAX_SLOTS];
    float init[LN_MAX_SLOTS];
    int nslots = slot_inits(o, init);
    for (int j = 0; j < LN_MAX_SLOTS; j++) {
        for (int f = 0; f <= NF; f++) s[j][f] = j < nslots ? init[j] : 0;
        sp[0][j] = s[j], sp[1][j] = s[j] + NF;
        snp[0][j] = sn[j], snp[1][j] = sn[j] + NF;
    }
    for (int f = 0; f < NF; f++) ln_f32(vars[0])[f] = (float)p[f];
    for (int step = 0; step < 25; step++) {
        double fp[NF + 1], gp[NF + 1];
        for (int f = 0; f < NF; f++) fp[f] = ln_f32(vars[0])[f];
        fp[NF] = ln_f32(vars[1])[0];
        regression_grad(fp, gp);
        for (int f = 0; f < NF; f++) ln_f32(grads[0])[f] = (float)gp[f];
        ln_f32(grads[1])[0] = (float)gp[NF];
        apply_ok(o, 2, vars, grads, NULL);

        regression_grad(p, gp);
        double *g2[2] = {gp, gp + NF};
        int64_t len[2] = {NF, 1};
        ref_clip(r, 2, g2, len);
        double lr = ref_lr(r, step);
        ref_update(r, step + 1, lr, NF, p, gp, sp[0], pn, snp[0], glob);
        ref_update(r, step + 1, lr, 1, p + NF, gp + NF, sp[1], pn + NF, snp[1], glob);
        glob[0] = glob[1];
        memcpy(p, pn, sizeof p);
        for (int j = 0; j < nslots; j++) memcpy(s[j], sn[j], sizeof s[j]);
    }
    for (int f = 0; f <= NF; f++) {
        double got = f < NF ? ln_f32(vars[0])[f] : ln_f32(vars[1])[0];
        ck_assert_msg(fabs(got - p[f]) <= 2e-5 * fmax(1.0, fabs(p[f])),
                      "%s: weight %d after 25 steps %.9g, float64 run %.9g",
                      r->opt, f, got, p[f]);
    }
    for (int k = 0; k < 2; k++) {
        ln_tensor_release(vars[k]);
        ln_tensor_release(grads[k]);
    }
    ln_optimizer_free(o);
}
END_TEST

/* ---- resuming from saved state in a fresh process ------------------------------------ */

/* Configurations that exercise the saved state: globals (Nadam's momentum
** cache), schedule and decay driven by the restored iteration count,
** three slots, clipping. */
static ref resume_case(int c) {
    ref r;
    switch (c) {
    case 0:
        r = base("nadam", 0.02), r.s_steps = 5, r.s_rate = 0.7, r.decay = 0.05;
        r.clipnorm = 1.5;
        return r;
    case 1:
        r = base("rmsprop", 0.01), r.mu = 0.9, r.centered = 1,
        r.global_clipnorm = 2.0;
        return r;
    default:
        r = base("adam", 0.01), r.amsgrad = 1, r.clipvalue = 0.7;
        return r;
    }
}
#define NRESUME 3
#define RESUME_AT 10
#define RESUME_END 20

static const char *rnames[2] = {"dense/kernel", "dense/bias"};

static void resume_vars(ln_tensor **vars, ln_tensor **grads) {
    int64_t s0[2] = {9, 4}, s1[1] = {4};
    vars[0] = ln_tensor_new(&ctx, LN_FLOAT32, 2, s0);
    vars[1] = ln_tensor_new(&ctx, LN_FLOAT32, 1, s1);
    REQUIRE(vars[0] && vars[1], "%s", ctx.msg);
    for (int k = 0; k < 2; k++) {
        ln_rng r = {11 + (uint64_t)k, 0};
        ln_rng_uniform(&r, ln_f32(vars[k]), vars[k]->numel, -1, 1);
        grads[k] = ln_tensor_new_like(&ctx, vars[k]);
        REQUIRE(grads[k], "%s", ctx.msg);
    }
}

static void run_steps(ln_optimizer *o, ln_tensor **vars, ln_tensor **grads,
                      int from, int to) {
    for (int step = from; step < to; step++) {
        fill_grad(grads[0], step, 0);
        fill_grad(grads[1], step, 1);
        apply_ok(o, 2, vars, grads, rnames);
    }
}

/* A tensor list on disk: count, then dtype, ndim, shape, raw data each. */
static void write_tensors(const char *path, int n, ln_tensor *const *t) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL, "cannot open %s", path);
    fwrite(&n, sizeof n, 1, f);
    for (int i = 0; i < n; i++) {
        int32_t hdr[2] = {(int32_t)t[i]->dtype, t[i]->ndim};
        fwrite(hdr, sizeof hdr, 1, f);
        fwrite(t[i]->shape, sizeof(int64_t), (size_t)t[i]->ndim, f);
        fwrite(ln_data(t[i]), ln_dtype_size(t[i]->dtype), (size_t)t[i]->numel, f);
    }
    REQUIRE(fclose(f) == 0, "cannot write %s", path);
}

static int read_tensors(const char *path, ln_tensor **t, int max) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL, "cannot open %s", path);
    int n = 0;
    REQUIRE(fread(&n, sizeof n, 1, f) == 1 && n <= max, "bad %s", path);
    for (int i = 0; i < n; i++) {
        int32_t hdr[2];
        int64_t shape[LN_MAX_DIM];
        REQUIRE(fread(hdr, sizeof hdr, 1, f) == 1 && hdr[1] >= 0 &&
                    hdr[1] <= LN_MAX_DIM &&
                    fread(shape, sizeof(int64_t), (size_t)hdr[1], f) == (size_t)hdr[1],
                "bad %s", path);
        t[i] = ln_tensor_new(&ctx, (ln_dtype)hdr[0], hdr[1], shape);
        REQUIRE(t[i] != NULL, "%s", ctx.msg);
        REQUIRE(fread(ln_data(t[i]), ln_dtype_size(t[i]->dtype), (size_t)t[i]->numel,
                      f) == (size_t)t[i]->numel, "bad %s", path);
    }
    fclose(f);
    return n;
}

/* Variables then every optimizer weight, copied. */
static int snapshot(ln_optimizer *o, ln_tensor **vars, ln_tensor **out) {
    int n = 0;
    out[n++] = ln_tensor_clone(&ctx, vars[0]);
    out[n++] = ln_tensor_clone(&ctx, vars[1]);
    for (int w = 0; w < ln_optimizer_weight_count(o); w++) {
        out[n] = ln_optimizer_get_weight(&ctx, o, w);
        REQUIRE(out[n] != NULL, "%s", ctx.msg);
        n++;
    }
    return n;
}

/* The child: a fresh process reads the variables and optimizer weights
** saved at RESUME_AT, restores them into a new optimizer and finishes the
** run. Returns the process status. */
static int resume_child(int c, const char *in, const char *out) {
    ln_tensor *saved[64], *vars[2], *grads[2], *final[64];
    in_child = 1;
    int n = read_tensors(in, saved, 64);
    ref r = resume_case(c);
    ln_ctx_clear(&ctx);
    ln_optimizer *o = ln_optimizer_new(&ctx, r.opt, ref_args(&r));
    if (!o) {
        fprintf(stderr, "resume: %s\n", ctx.msg);
        for (int i = 0; i < n; i++) ln_tensor_release(saved[i]);
        return 2;
    }
    resume_vars(vars, grads);
    ln_copy(ln_f32(vars[0]), ln_f32(saved[0]), vars[0]->numel);
    ln_copy(ln_f32(vars[1]), ln_f32(saved[1]), vars[1]->numel);
    int status = 0, m = 0;
    if (ln_optimizer_build(&ctx, o, 2, vars, rnames) ||
        ln_optimizer_set_weights(&ctx, o, n - 2,
                                 (const ln_tensor *const *)saved + 2)) {
        fprintf(stderr, "resume: %s\n", ctx.msg);
        status = 3;
    } else {
        run_steps(o, vars, grads, RESUME_AT, RESUME_END);
        m = snapshot(o, vars, final);
        write_tensors(out, m, final);
    }
    /* everything released: the sanitized suite's LeakSanitizer checks this
    ** process too */
    for (int i = 0; i < m; i++) ln_tensor_release(final[i]);
    for (int i = 0; i < n; i++) ln_tensor_release(saved[i]);
    for (int k = 0; k < 2; k++) ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
    ln_optimizer_free(o);
    return status;
}

START_TEST(resume_in_fresh_process) {
    ref r = resume_case(_i);
    ln_tensor *vars[2], *grads[2], *straight[64], *saved[64], *resumed[64];
    /* The uninterrupted run. */
    ln_optimizer *o = make(r.opt, ref_args(&r));
    resume_vars(vars, grads);
    run_steps(o, vars, grads, 0, RESUME_END);
    int n = snapshot(o, vars, straight);
    ln_optimizer_free(o);
    for (int k = 0; k < 2; k++) ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
    /* The interrupted one: save at RESUME_AT, continue in a new process. */
    o = make(r.opt, ref_args(&r));
    resume_vars(vars, grads);
    run_steps(o, vars, grads, 0, RESUME_AT);
    int m = snapshot(o, vars, saved);
    char in[64], out[64], cs[16];
    snprintf(in, sizeof in, "/tmp/ln_opt_resume_%d_%d.in", (int)getpid(), _i);
    snprintf(out, sizeof out, "/tmp/ln_opt_resume_%d_%d.out", (int)getpid(), _i);
    snprintf(cs, sizeof cs, "%d", _i);
    write_tensors(in, m, saved);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *argv[] = {"test_optimizers", "--resume", cs, in, out, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the resuming process failed (status %d)", status);
    int k = read_tensors(out, resumed, 64);
    ck_assert_int_eq(k, n);
    for (int i = 0; i < n; i++) {
        ck_assert(ln_shape_equal(straight[i], resumed[i]));
        ck_assert_int_eq(straight[i]->dtype, resumed[i]->dtype);
        ck_assert_msg(!memcmp(ln_data(straight[i]), ln_data(resumed[i]),
                              (size_t)straight[i]->numel *
                                  ln_dtype_size(straight[i]->dtype)),
                      "%s: tensor %d differs after resuming", r.opt, i);
    }
    remove(in);
    remove(out);
    for (int i = 0; i < n; i++) ln_tensor_release(straight[i]), ln_tensor_release(resumed[i]);
    for (int i = 0; i < m; i++) ln_tensor_release(saved[i]);
    for (int i = 0; i < 2; i++) ln_tensor_release(vars[i]), ln_tensor_release(grads[i]);
    ln_optimizer_free(o);
}
END_TEST

/* ---- 1 vs 2 threads ------------------------------------------------------------------ */

/* Variables far over the parallel threshold, 8 steps with 1 thread and with
** 2: weights and slots must be bitwise equal. */
static int run_threads(const ref *r, int threads, ln_tensor **out) {
    ln_set_num_threads(threads);
    int64_t s0[1] = {3 * LN_PAR_MIN + 123}, s1[1] = {LN_PAR_MIN + 5};
    ln_tensor *vars[2] = {lt_uniform(1, s0, -1, 1, 21), lt_uniform(1, s1, -1, 1, 22)};
    ln_tensor *grads[2] = {ln_tensor_new_like(&ctx, vars[0]),
                           ln_tensor_new_like(&ctx, vars[1])};
    ln_optimizer *o = make(r->opt, ref_args(r));
    run_steps(o, vars, grads, 0, 8);
    int n = snapshot(o, vars, out);
    ln_optimizer_free(o);
    for (int k = 0; k < 2; k++) ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
    return n;
}

START_TEST(threads_bitwise) {
    add_cases();
    ln_tensor *one[64], *two[64];
    int n = run_threads(&cases[_i], 1, one);
    ck_assert_int_eq(run_threads(&cases[_i], 2, two), n);
    ck_assert_int_eq(ln_get_num_threads(), 2);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(!memcmp(ln_data(one[i]), ln_data(two[i]),
                              (size_t)one[i]->numel * ln_dtype_size(one[i]->dtype)),
                      "%s: tensor %d differs between 1 and 2 threads",
                      cases[_i].opt, i);
        ln_tensor_release(one[i]);
        ln_tensor_release(two[i]);
    }
}
END_TEST

/* ---- configs, weight lists, errors ------------------------------------------------------ */

/* The entry under key in a (type -1 when absent). */
static ln_arg find_arg(const ln_args *a, const char *key) {
    for (int i = 0; i < ln_args_count(a); i++) {
        ln_arg e = ln_args_at(a, i);
        if (!strcmp(e.key, key)) return e;
    }
    ln_arg none = {key, (ln_arg_type)-1, 0, 0, NULL, 0, NULL, NULL};
    return none;
}

static void expect_number(const ln_args *a, const char *key, double v) {
    ln_arg e = find_arg(a, key);
    ck_assert_msg(e.type == LN_ARG_NUMBER, "config '%s' missing", key);
    ck_assert_msg(e.num == v, "config '%s' = %g, expected %g", key, e.num, v);
}

START_TEST(config_has_every_hyper_parameter) {
    ln_optimizer *o = make("adam", NULL);
    const ln_args *c = ln_optimizer_object(o)->args;
    expect_number(c, "learning_rate", 0.001);
    expect_number(c, "decay", 0.0);
    expect_number(c, "beta_1", 0.9);
    expect_number(c, "beta_2", 0.999);
    expect_number(c, "epsilon", 1e-7);
    ck_assert_int_eq(find_arg(c, "amsgrad").type, LN_ARG_BOOL);
    ck_assert_str_eq(find_arg(c, "name").str, "Adam");
    ck_assert_int_eq((int)find_arg(c, "clipnorm").type, -1); /* only when given */
    ck_assert_str_eq(ln_optimizer_name(o), "Adam");
    ln_optimizer_free(o);

    /* Keras's default learning rates, and Lion's from its paper. */
    const char *names[] = {"sgd", "adagrad", "rmsprop", "adam", "adamax", "nadam",
                           "adadelta", "ftrl", "adamw", "lion"};
    double lrs[] = {0.01, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 1e-4};
    for (int i = 0; i < 10; i++) {
        o = make(names[i], NULL);
        ck_assert_msg(ln_optimizer_learning_rate(o) == lrs[i], "%s", names[i]);
        ln_optimizer_free(o);
    }
    o = make("adamw", NULL);
    expect_number(ln_optimizer_object(o)->args, "weight_decay", 0.004);
    ln_optimizer_free(o);
    o = make("ftrl", NULL);
    expect_number(ln_optimizer_object(o)->args, "learning_rate_power", -0.5);
    expect_number(ln_optimizer_object(o)->args, "initial_accumulator_value", 0.1);
    ln_optimizer_free(o);

    /* The legacy alias is recorded as learning_rate. */
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "lr", 0.25);
    ln_args_set_number(a, "clipnorm", 1.0);
    o = make("sgd", a);
    c = ln_optimizer_object(o)->args;
    expect_number(c, "learning_rate", 0.25);
    expect_number(c, "clipnorm", 1.0);
    ck_assert_int_eq(find_arg(c, "lr").type, LN_ARG_NULL);
    ck_assert(ln_optimizer_lr_at(o, 0) == 0.25);
    /* Setting a constant. */
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_optimizer_set_learning_rate(&ctx, o, 0.125), LN_OK);
    expect_number(c, "learning_rate", 0.125);
    ck_assert_int_ne(ln_optimizer_set_learning_rate(&ctx, o, -1), LN_OK);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "learning_rate"));
    ln_optimizer_free(o);

    /* A schedule: its effective arguments land in the config; decay
    ** applies after it; setting a number drops it. */
    ref r = base("sgd", 0.5);
    r.s_steps = 4, r.s_rate = 0.5, r.decay = 0.25;
    o = make("sgd", ref_args(&r));
    ln_arg lr = find_arg(ln_optimizer_object(o)->args, "learning_rate");
    ck_assert_int_eq(lr.type, LN_ARG_TABLE);
    ck_assert_str_eq(find_arg(lr.table, "name").str, "exponential_decay");
    expect_number(lr.table, "decay_steps", 4);
    ck_assert_int_eq(find_arg(lr.table, "staircase").type, LN_ARG_BOOL);
    ck_assert(ln_optimizer_has_schedule(o));
    for (int it = 0; it < 9; it++)
        ck_assert_msg(fabs(ln_optimizer_lr_at(o, it) - ref_lr(&r, it)) <=
                          1e-15 * ref_lr(&r, it), "lr at %d", it);
    ck_assert_int_eq(ln_optimizer_set_learning_rate(&ctx, o, 0.1), LN_OK);
    ck_assert(!ln_optimizer_has_schedule(o));
    expect_number(ln_optimizer_object(o)->args, "learning_rate", 0.1);
    ln_optimizer_free(o);
}
END_TEST

/* ln_optimizer_new must fail with msg containing want. */
static void expect_error(const char *name, ln_args *a, const char *want) {
    ln_ctx_clear(&ctx);
    ln_optimizer *o = ln_optimizer_new(&ctx, name, a);
    ck_assert_msg(o == NULL, "%s accepted bad arguments (want '%s')", name, want);
    ck_assert_msg(strstr(ctx.msg, want) != NULL, "message '%s' lacks '%s'",
                  ctx.msg, want);
}

static ln_args *one_number(const char *key, double v) {
    ln_args *a = ln_args_new();
    ln_args_set_number(a, key, v);
    return a;
}

START_TEST(bad_arguments_name_the_key) {
    expect_error("adam", one_number("learning_rate", -0.1), "'learning_rate'");
    expect_error("adam", one_number("lr", -0.1), "'learning_rate'");
    expect_error("sgd", one_number("momentum", 1.5), "'momentum'");
    expect_error("sgd", one_number("momentum", -0.1), "'momentum'");
    expect_error("rmsprop", one_number("momentum", 2), "'momentum'");
    expect_error("adam", one_number("beta_1", 1.0), "'beta_1'");
    expect_error("adam", one_number("betaa_1", 0.5), "'betaa_1'");
    expect_error("sgd", one_number("decay", -1), "'decay'");
    expect_error("sgd", one_number("clipnorm", -1), "'clipnorm'");
    expect_error("sgd", one_number("clipvalue", -1), "'clipvalue'");
    expect_error("ftrl", one_number("learning_rate_power", 0.5), "'learning_rate_power'");
    expect_error("adagrad", one_number("initial_accumulator_value", -1),
                 "'initial_accumulator_value'");
    expect_error("adamx", NULL, "unknown optimizer 'adamx'");
    ln_args *a = one_number("clipnorm", 1);
    ln_args_set_number(a, "global_clipnorm", 1);
    expect_error("sgd", a, "global_clipnorm");
    a = one_number("lr", 0.1);
    ln_args_set_number(a, "learning_rate", 0.1);
    expect_error("sgd", a, "'lr'");
    a = ln_args_new();
    ln_args_set_string(a, "momentum", "fast");
    expect_error("sgd", a, "'momentum'");
    a = ln_args_new();
    ln_args *s = ln_args_new();
    ln_args_set_string(s, "name", "exponential_decay");
    ln_args_set_number(s, "initial_learning_rate", 0.1);
    ln_args_set_table(a, "learning_rate", s);
    expect_error("sgd", a, "'decay_steps'");
    a = ln_args_new();
    s = ln_args_new();
    ln_args_set_string(s, "name", "sawtooth");
    ln_args_set_table(a, "learning_rate", s);
    expect_error("sgd", a, "unknown schedule 'sawtooth'");
}
END_TEST

START_TEST(weights_in_keras_order) {
    int64_t s0[2] = {3, 2}, s1[1] = {2};
    ln_tensor *vars[2] = {lt_uniform(2, s0, -1, 1, 1), lt_uniform(1, s1, -1, 1, 2)};
    ln_tensor *grads[2] = {lt_uniform(2, s0, -1, 1, 3), lt_uniform(1, s1, -1, 1, 4)};
    const char *names[2] = {"dense/kernel:0", "dense/bias"};
    char buf[256];

    ln_optimizer *o = make("adam", NULL);
    ck_assert_int_eq(ln_optimizer_weight_count(o), 1);
    /* Restoring before the slots exist says how to build them. */
    ln_tensor *it0 = ln_optimizer_get_weight(&ctx, o, 0);
    ln_tensor *w3[3] = {it0, vars[0], vars[1]};
    ck_assert_int_ne(ln_optimizer_set_weights(&ctx, o, 3, (const ln_tensor *const *)w3), LN_OK);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "build"));
    ln_tensor_release(it0);
    apply_ok(o, 2, vars, grads, names);
    apply_ok(o, 2, vars, grads, names);
    ck_assert_int_eq(ln_optimizer_weight_count(o), 5);
    const char *want[] = {"Adam/iter:0", "Adam/dense/kernel/m:0", "Adam/dense/bias/m:0",
                          "Adam/dense/kernel/v:0", "Adam/dense/bias/v:0"};
    for (int w = 0; w < 5; w++)
        ck_assert_str_eq(ln_optimizer_weight_name(o, w, buf, sizeof buf), want[w]);
    ck_assert_int_eq(ln_optimizer_find_var(o, vars[1]), 1);
    ck_assert_int_eq(ln_optimizer_find_var(o, grads[1]), -1);
    ck_assert_int_eq(ln_optimizer_slot_index(o, "v"), 1);
    ck_assert_str_eq(ln_optimizer_var_name(o, 0), "dense/kernel");
    ln_tensor *w[5];
    for (int i = 0; i < 5; i++) ck_assert_ptr_nonnull(w[i] = ln_optimizer_get_weight(&ctx, o, i));
    ck_assert_int_eq(w[0]->dtype, LN_INT32);
    ck_assert_int_eq(w[0]->ndim, 0);
    ck_assert_int_eq(ln_i32(w[0])[0], 2);
    ck_assert(ln_shape_equal(w[2], vars[1]));
    ck_assert(!memcmp(ln_f32(w[3]), ln_f32(ln_optimizer_slot(o, 0, 1)), 6 * sizeof(float)));
    /* A wrong count, then a wrong shape: nothing changes. */
    ck_assert_int_eq(ln_optimizer_set_weights(&ctx, o, 4, (const ln_tensor *const *)w), LN_E_ARG);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "5"));
    ln_tensor *tmp = w[1];
    w[1] = w[2];
    ck_assert_int_eq(ln_optimizer_set_weights(&ctx, o, 5, (const ln_tensor *const *)w), LN_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "Adam/dense/kernel/m:0"));
    w[1] = tmp;
    ck_assert_int_eq(ln_optimizer_iterations(o), 2);
    /* A fresh optimizer, built, takes the list. */
    ln_optimizer *p = make("adam", NULL);
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_optimizer_build(&ctx, p, 2, vars, names), LN_OK);
    ck_assert_int_eq(ln_optimizer_set_weights(&ctx, p, 5, (const ln_tensor *const *)w), LN_OK);
    ck_assert_int_eq(ln_optimizer_iterations(p), 2);
    ck_assert(!memcmp(ln_f32(ln_optimizer_slot(p, 1, 0)), ln_f32(w[2]), 2 * sizeof(float)));
    ck_assert_int_ne(ln_optimizer_set_iterations(&ctx, p, -1), LN_OK);
    for (int i = 0; i < 5; i++) ln_tensor_release(w[i]);
    ln_optimizer_free(p);
    ln_optimizer_free(o);

    /* Globals come right after the iteration count; a custom name prefixes. */
    ln_args *a = ln_args_new();
    ln_args_set_string(a, "name", "nad");
    o = make("nadam", a);
    apply_ok(o, 2, vars, grads, NULL);
    ck_assert_int_eq(ln_optimizer_weight_count(o), 6);
    ck_assert_str_eq(ln_optimizer_weight_name(o, 0, buf, sizeof buf), "nad/iter:0");
    ck_assert_str_eq(ln_optimizer_weight_name(o, 1, buf, sizeof buf), "nad/momentum_cache:0");
    ck_assert_str_eq(ln_optimizer_weight_name(o, 2, buf, sizeof buf), "nad/variable_0/m:0");
    ln_tensor *mc = ln_optimizer_get_weight(&ctx, o, 1);
    ck_assert_float_eq(ln_f32(mc)[0], (float)ln_optimizer_global(o, 0));
    ln_tensor_release(mc);
    ln_optimizer_free(o);

    /* SGD without momentum has no slots. */
    o = make("sgd", NULL);
    apply_ok(o, 2, vars, grads, NULL);
    ck_assert_int_eq(ln_optimizer_weight_count(o), 1);
    ln_optimizer_free(o);
    for (int k = 0; k < 2; k++) ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
}
END_TEST

START_TEST(bad_pairs_are_refused) {
    int64_t s3[1] = {3}, s4[1] = {4};
    ln_tensor *v = lt_uniform(1, s3, -1, 1, 1), *g = lt_uniform(1, s4, -1, 1, 2);
    ln_tensor *vi = ln_tensor_new(&ctx, LN_INT32, 1, s3);
    ln_optimizer *o = make("adam", NULL);
    const char *nm[1] = {"dense/bias"};
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_optimizer_apply(&ctx, o, 1, &v, (const ln_tensor *const *)&g, nm),
                     LN_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(ctx.msg, "dense/bias"));
    ck_assert_ptr_nonnull(strstr(ctx.msg, "(3"));
    ck_assert_ptr_nonnull(strstr(ctx.msg, "(4"));
    ck_assert_int_eq(ln_optimizer_apply(&ctx, o, 1, &vi, (const ln_tensor *const *)&vi, nm),
                     LN_E_ARG);
    ck_assert_int_eq(ln_optimizer_iterations(o), 0);
    ln_optimizer_free(o);
    ln_tensor_release(v), ln_tensor_release(g), ln_tensor_release(vi);
}
END_TEST

/* ---- no allocation after the first step ----------------------------------------------- */

#if !defined(__SANITIZE_ADDRESS__)
/* Count heap calls made while `counting` is set (this thread only: the
** variables are small, so no OpenMP region runs). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static int counting;
static long nallocs;
void *malloc(size_t n) {
    if (counting) nallocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (counting) nallocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (counting) nallocs++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n) {
    if (counting) nallocs++;
    return __libc_memalign(al, n);
}

START_TEST(no_allocation_after_first_step) {
    add_cases();
    ln_set_num_threads(1);
    int64_t s0[2] = {20, 10}, s1[1] = {10};
    ln_tensor *vars[2] = {lt_uniform(2, s0, -1, 1, 5), lt_uniform(1, s1, -1, 1, 6)};
    ln_tensor *grads[2] = {ln_tensor_new_like(&ctx, vars[0]),
                           ln_tensor_new_like(&ctx, vars[1])};
    ln_optimizer *o = make(cases[_i].opt, ref_args(&cases[_i]));
    run_steps(o, vars, grads, 0, 1);
    for (int k = 0; k < 2; k++) fill_grad(grads[k], 1, k);
    ln_status st = LN_OK;
    nallocs = 0;
    counting = 1; /* no Check assertion in here: they allocate */
    for (int step = 1; step < 6 && !st; step++)
        st = ln_optimizer_apply(&ctx, o, 2, vars, (const ln_tensor *const *)grads, NULL);
    counting = 0;
    ck_assert_msg(st == LN_OK, "%s", ctx.msg);
    ck_assert_msg(nallocs == 0, "%s: %ld allocations in steps 2-6", cases[_i].opt,
                  nallocs);
    ln_optimizer_free(o);
    for (int k = 0; k < 2; k++) ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
}
END_TEST
#endif

START_TEST(clip_helper_matches_apply) {
    /* ln_clip_gradients then SGD(lr 1) without clipping equals SGD(lr 1)
    ** with the same clipping inside apply, bitwise. */
    ref r = base("sgd", 1.0);
    r.clipvalue = 0.9, r.global_clipnorm = 1.5;
    ln_tensor *vars[2], *grads[2], *vars2[2], *clipped[2];
    resume_vars(vars, grads);
    resume_vars(vars2, clipped);
    fill_grad(grads[0], 0, 0);
    fill_grad(grads[1], 0, 1);
    ln_optimizer *o = make("sgd", ref_args(&r));
    apply_ok(o, 2, vars, grads, NULL);
    ln_ctx_clear(&ctx);
    ck_assert_int_eq(ln_clip_gradients(&ctx, 2, (const ln_tensor *const *)grads, clipped,
                                       0.9, -1, 1.5), LN_OK);
    ln_optimizer *p = make("sgd", one_number("learning_rate", 1.0));
    apply_ok(p, 2, vars2, clipped, NULL);
    for (int k = 0; k < 2; k++)
        ck_assert(!memcmp(ln_f32(vars[k]), ln_f32(vars2[k]), (size_t)vars[k]->numel * 4));
    ck_assert_int_ne(ln_clip_gradients(&ctx, 2, (const ln_tensor *const *)grads, clipped,
                                       -1, 1, 1), LN_OK);
    ln_optimizer_free(o);
    ln_optimizer_free(p);
    for (int k = 0; k < 2; k++) {
        ln_tensor_release(vars[k]), ln_tensor_release(grads[k]);
        ln_tensor_release(vars2[k]), ln_tensor_release(clipped[k]);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("optimizers");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, step_by_step, 0, NCASES);
    tcase_add_loop_test(tc, trajectory_25, 0, NCASES);
    tcase_add_loop_test(tc, threads_bitwise, 0, NCASES);
    tcase_add_loop_test(tc, resume_in_fresh_process, 0, NRESUME);
    suite_add_tcase(s, tc);
    TCase *api = tcase_create("api");
    tcase_add_test(api, config_has_every_hyper_parameter);
    tcase_add_test(api, bad_arguments_name_the_key);
    tcase_add_test(api, weights_in_keras_order);
    tcase_add_test(api, bad_pairs_are_refused);
    tcase_add_test(api, clip_helper_matches_apply);
#if !defined(__SANITIZE_ADDRESS__)
    tcase_add_loop_test(api, no_allocation_after_first_step, 0, NCASES);
#endif
    suite_add_tcase(s, api);
    return s;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--resume"))
        return resume_child(atoi(argv[2]), argv[3], argv[4]);
    return lt_run(suite());
}
