/*
** test_activations.c -- every activation unit through the registry
** (ln_activation_new): values against float64 references written here,
** backward against the references' derivatives and against finite
** differences of the unit's own forward, the declared flags (a y-only
** backward is called with x = NULL), in-place use, the GEMM epilogue, 1 vs
** 2 threads, and argument errors.
*/
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

/* ---- float64 references --------------------------------------------------- */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Keras relu(x, alpha, max_value, threshold): p = {alpha, max, thr}. */
static double r_relu(double x, const double *p) {
    double v = x > p[2] ? x : 0;
    if (v > p[1]) v = p[1];
    return v - p[0] * (p[2] - x > 0 ? p[2] - x : 0);
}
static double d_relu(double x, const double *p) {
    if (x < p[2]) return p[0];
    return x < p[1] ? 1 : 0;
}
static double r_linear(double x, const double *p) { return x; }
static double d_linear(double x, const double *p) { return 1; }
static double r_leaky(double x, const double *p) { return x > 0 ? x : p[0] * x; }
static double d_leaky(double x, const double *p) { return x > 0 ? 1 : p[0]; }
static double r_elu(double x, const double *p) {
    return x > 0 ? x : p[0] * expm1(x);
}
static double d_elu(double x, const double *p) {
    return x > 0 ? 1 : p[0] * exp(x);
}
static double r_selu(double x, const double *p) {
    return SELU_S * (x > 0 ? x : SELU_A * expm1(x));
}
static double d_selu(double x, const double *p) {
    return SELU_S * (x > 0 ? 1 : SELU_A * exp(x));
}
static double r_sigmoid(double x, const double *p) { return sigm(x); }
static double d_sigmoid(double x, const double *p) {
    return sigm(x) * (1 - sigm(x));
}
static double r_hsig(double x, const double *p) {
    double v = 0.2 * x + 0.5;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}
static double d_hsig(double x, const double *p) {
    return fabs(x) < 2.5 ? 0.2 : 0;
}
static double r_tanh(double x, const double *p) { return tanh(x); }
static double d_tanh(double x, const double *p) {
    return 1 - tanh(x) * tanh(x);
}
static double r_softplus(double x, const double *p) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}
static double d_softplus(double x, const double *p) { return sigm(x); }
static double r_softsign(double x, const double *p) {
    return x / (1 + fabs(x));
}
static double d_softsign(double x, const double *p) {
    return 1 / ((1 + fabs(x)) * (1 + fabs(x)));
}
static double r_swish(double x, const double *p) { return x * sigm(x); }
static double d_swish(double x, const double *p) {
    return sigm(x) + x * sigm(x) * (1 - sigm(x));
}
static double r_gelu(double x, const double *p) {
    return 0.5 * x * erfc(-x / sqrt(2.0));
}
static double d_gelu(double x, const double *p) {
    return 0.5 * erfc(-x / sqrt(2.0)) +
           x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}
/* The literal Keras formula. */
static double r_gelu_t(double x, const double *p) {
    double c = sqrt(2 / M_PI);
    return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)));
}
static double d_gelu_t(double x, const double *p) {
    double c = sqrt(2 / M_PI), t = tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) +
           0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
}
static double r_exp(double x, const double *p) { return exp(x); }
static double d_exp(double x, const double *p) { return exp(x); }

/* ---- the cases ------------------------------------------------------------ */

typedef struct kv {
    const char *key;
    double v;
    int is_bool;
} kv;

typedef struct act_case {
    const char *name;
    kv args[3];
    double (*f)(double, const double *);
    double (*df)(double, const double *);
    double p[3];
    int elementwise, uses_x;
    double kinks[2];
    int nkinks;
    double atol; /* absolute slack of the forward check */
} act_case;

#define NOARGS {{NULL, 0, 0}}
#define BIG HUGE_VAL

static const act_case cases[] = {
    {"linear", NOARGS, r_linear, d_linear, {0}, 1, 0, {0}, 0, 0},
    {"relu", NOARGS, r_relu, d_relu, {0, BIG, 0}, 1, 0, {0}, 1, 0},
    {"relu", {{"alpha", 0.1, 0}}, r_relu, d_relu, {0.1, BIG, 0}, 1, 0, {0}, 1,
     0},
    {"relu", {{"max_value", 6, 0}}, r_relu, d_relu, {0, 6, 0}, 1, 0, {0, 6}, 2,
     0},
    {"relu", {{"threshold", 1.5, 0}, {"alpha", 0.2, 0}, {"max_value", 4, 0}},
     r_relu, d_relu, {0.2, 4, 1.5}, 1, 0, {1.5, 4}, 2, 0},
    {"relu", {{"threshold", 3, 0}, {"max_value", 2, 0}}, r_relu, d_relu,
     {0, 2, 3}, 1, 0, {3}, 1, 0},
    {"leaky_relu", NOARGS, r_leaky, d_leaky, {0.3}, 1, 0, {0}, 1, 0},
    {"leaky_relu", {{"alpha", 0.01, 0}}, r_leaky, d_leaky, {0.01}, 1, 0, {0},
     1, 0},
    {"elu", NOARGS, r_elu, d_elu, {1.0}, 1, 0, {0}, 1, 0},
    {"elu", {{"alpha", 0.5, 0}}, r_elu, d_elu, {0.5}, 1, 0, {0}, 1, 0},
    {"selu", NOARGS, r_selu, d_selu, {0}, 1, 0, {0}, 1, 0},
    {"sigmoid", NOARGS, r_sigmoid, d_sigmoid, {0}, 1, 0, {0}, 0, 0},
    {"hard_sigmoid", NOARGS, r_hsig, d_hsig, {0}, 1, 0, {-2.5, 2.5}, 2, 0},
    {"tanh", NOARGS, r_tanh, d_tanh, {0}, 1, 0, {0}, 0, 0},
    {"softplus", NOARGS, r_softplus, d_softplus, {0}, 1, 0, {0}, 0, 0},
    {"softsign", NOARGS, r_softsign, d_softsign, {0}, 1, 1, {0}, 0, 0},
    {"swish", NOARGS, r_swish, d_swish, {0}, 1, 1, {0}, 0, 0},
    {"gelu", NOARGS, r_gelu, d_gelu, {0}, 1, 1, {0}, 0, 0},
    /* the tanh formula in double loses ~1e-16 absolute to cancellation */
    {"gelu", {{"approximate", 1, 1}}, r_gelu_t, d_gelu_t, {0}, 1, 1, {0}, 0,
     1e-14},
    {"exponential", NOARGS, r_exp, d_exp, {0}, 1, 0, {0}, 0, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static ln_activation *make(const act_case *c) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    for (int i = 0; i < 3 && c->args[i].key; i++) {
        if (c->args[i].is_bool) ln_args_set_bool(a, c->args[i].key, (int)c->args[i].v);
        else ln_args_set_number(a, c->args[i].key, c->args[i].v);
    }
    ln_activation *act = ln_activation_new(&ctx, c->name, a);
    ck_assert_msg(act != NULL, "%s: %s", c->name, ctx.msg);
    return act;
}

/* Points: zero, tiny, moderate, large and huge of both signs, then a
** fixed-seed uniform sample. */
static int points(float *x, int max) {
    static const double mags[] = {1e-30, 1e-20, 1e-7, 1e-3, 0.1, 0.5, 1, 1.5,
        2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 80, 88, 100, 1000, 1e6,
        1e30};
    int n = 0;
    x[n++] = 0;
    for (size_t i = 0; i < sizeof mags / sizeof mags[0]; i++) {
        x[n++] = (float)mags[i];
        x[n++] = (float)-mags[i];
    }
    ln_rng r = {7, 0};
    ln_rng_uniform(&r, x + n, max - n, -12, 12);
    return max;
}

static int near_kink(const act_case *c, double x, double d) {
    for (int k = 0; k < c->nkinks; k++)
        if (fabs(x - c->kinks[k]) <= d) return 1;
    return 0;
}

/* Forward values against the float64 reference, on a 5 x (n/5) block. */
START_TEST(values_match_float64) {
    enum { N = 260 };
    float x[N], y[N];
    points(x, N);
    for (int ci = 0; ci < NCASES; ci++) {
        const act_case *c = &cases[ci];
        ln_activation *a = make(c);
        ln_activation_forward(a, x, y, 5, N / 5);
        for (int i = 0; i < N; i++) {
            double ref = c->f(x[i], c->p);
            float rf = (float)ref;
            if (isinf(rf)) {
                ck_assert_msg(y[i] == rf, "%s(%g) = %g, expected %g", c->name,
                              x[i], y[i], rf);
                continue;
            }
            double tol = 1e-6 * fabs(ref) + 1.2e-38 + c->atol;
            ck_assert_msg(fabs(y[i] - ref) <= tol,
                          "%s case %d: f(%.9g) = %.9g, float64 reference "
                          "%.12g", c->name, ci, x[i], y[i], ref);
        }
        ln_activation_free(a);
    }
}
END_TEST

/* Backward against the reference derivative (off the kinks); y-only
** backwards get x = NULL, so the flag is checked too. */
START_TEST(backward_matches_derivative) {
    enum { N = 260 };
    float x[N], y[N], dy[N], dx[N];
    points(x, N);
    ln_rng r = {11, 0};
    ln_rng_uniform(&r, dy, N, -2, 2);
    for (int ci = 0; ci < NCASES; ci++) {
        const act_case *c = &cases[ci];
        ln_activation *a = make(c);
        const ln_activation_ops *o = ln_activation_ops_of(a);
        ck_assert_msg(o->elementwise == c->elementwise &&
                          o->backward_uses_x == c->uses_x,
                      "%s: flags elementwise=%d backward_uses_x=%d", c->name,
                      o->elementwise, o->backward_uses_x);
        ln_activation_forward(a, x, y, 5, N / 5);
        ln_activation_backward(a, o->backward_uses_x ? x : NULL, y, dy, dx, 5,
                               N / 5);
        for (int i = 0; i < N; i++) {
            if (near_kink(c, x[i], 1e-6)) continue;
            double ref = c->df(x[i], c->p) * dy[i];
            if (!isfinite(ref) || !isfinite(c->f(x[i], c->p)) ||
                isinf((float)c->f(x[i], c->p)))
                continue;
            double tol = 1e-5 * fabs(ref) + 5e-7;
            ck_assert_msg(fabs(dx[i] - ref) <= tol,
                          "%s case %d: f'(%.9g) * %.6g = %.9g, reference "
                          "%.12g", c->name, ci, x[i], dy[i], dx[i], ref);
        }
        ln_activation_free(a);
    }
}
END_TEST

/* S(x) = sum_i w_i f(x)_i: backward(dy = w) must match central differences
** of the unit's own forward, for every case and for softmax. */
static void fd_check(ln_activation *a, const char *name, const act_case *c,
                     int rows, int cols, float lo, float hi, uint64_t seed) {
    int n = rows * cols;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    float *w = malloc(n * sizeof *w), *dx = malloc(n * sizeof *dx);
    ln_rng r = {seed, 0};
    ln_rng_uniform(&r, x, n, lo, hi);
    ln_rng_uniform(&r, w, n, -1, 1);
    for (int i = 0; i < n; i++) /* stay clear of the kinks */
        while (c && near_kink(c, x[i], 0.05)) x[i] += 0.1f;
    ln_activation_forward(a, x, y, rows, cols);
    ln_activation_backward(a, x, y, w, dx, rows, cols);
    for (int j = 0; j < n; j++) {
        float x0 = x[j], h = 1e-2f;
        double s[2];
        float step[2] = {x0 + h, x0 - h};
        for (int k = 0; k < 2; k++) {
            x[j] = step[k];
            ln_activation_forward(a, x, y, rows, cols);
            s[k] = 0;
            for (int i = 0; i < n; i++) s[k] += (double)w[i] * y[i];
        }
        x[j] = x0;
        double fd = (s[0] - s[1]) / ((double)step[0] - step[1]);
        ck_assert_msg(fabs(fd - dx[j]) <= 2e-3 * (1 + fabs(fd)),
                      "%s: at x[%d] = %g, backward %.7g, finite difference "
                      "%.7g", name, j, x0, dx[j], fd);
    }
    free(x), free(y), free(w), free(dx);
}

START_TEST(backward_matches_finite_differences) {
    for (int ci = 0; ci < NCASES; ci++) {
        ln_activation *a = make(&cases[ci]);
        fd_check(a, cases[ci].name, &cases[ci], 3, 7, -4, 4, 100 + ci);
        ln_activation_free(a);
    }
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_activation *sm = ln_activation_new(&ctx, "softmax", NULL);
    ck_assert_msg(sm != NULL, "%s", ctx.msg);
    fd_check(sm, "softmax", NULL, 4, 6, -3, 3, 5);
    ln_activation_free(sm);
}
END_TEST

START_TEST(softmax_values_and_stability) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_activation *sm = ln_activation_new(&ctx, "softmax", NULL);
    ck_assert_msg(sm != NULL, "%s", ctx.msg);
    const ln_activation_ops *o = ln_activation_ops_of(sm);
    ck_assert_int_eq(o->elementwise, 0);
    ck_assert_int_eq(o->backward_uses_x, 0);
    /* rows: ordinary, huge logits both ways, all equal, one class */
    float x[4][5] = {{1, 2, 3, 4, 5},
                     {1000, 999, -1000, 0, 1000},
                     {-1e4f, -1e4f + 1, -1e4f + 2, -3e4f, -1e4f},
                     {0.5f, 0.5f, 0.5f, 0.5f, 0.5f}};
    float y[4][5];
    ln_activation_forward(sm, &x[0][0], &y[0][0], 4, 5);
    for (int r = 0; r < 4; r++) {
        double m = -INFINITY, s = 0, sum = 0;
        for (int c = 0; c < 5; c++) m = fmax(m, x[r][c]);
        for (int c = 0; c < 5; c++) s += exp((double)x[r][c] - m);
        for (int c = 0; c < 5; c++) {
            double ref = exp((double)x[r][c] - m) / s;
            ck_assert_msg(fabs(y[r][c] - ref) <= 1e-6 * ref + 1e-37,
                          "softmax row %d col %d: %.9g vs %.12g", r, c,
                          y[r][c], ref);
            sum += y[r][c];
        }
        ck_assert_msg(fabs(sum - 1) < 1e-6, "row %d sums to %.9g", r, sum);
    }
    /* a single column is 1 whatever the input */
    float one[3] = {-50, 0, 80}, out[3];
    ln_activation_forward(sm, one, out, 3, 1);
    for (int i = 0; i < 3; i++) ck_assert(out[i] == 1.0f);
    /* in place */
    float z[2][5];
    memcpy(z, x, sizeof z);
    ln_activation_forward(sm, &z[0][0], &z[0][0], 2, 5);
    ck_assert(memcmp(z, y, sizeof z) == 0);
    /* axis: -1 accepted, anything else refused */
    ln_args *a = ln_args_new();
    ln_args_set_number(a, "axis", -1);
    ln_activation *ok = ln_activation_new(&ctx, "softmax", a);
    ck_assert_msg(ok != NULL, "%s", ctx.msg);
    ln_activation_free(ok);
    a = ln_args_new();
    ln_args_set_number(a, "axis", 0);
    ck_assert(ln_activation_new(&ctx, "softmax", a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "axis") && strstr(ctx.msg, "softmax"), "%s",
                  ctx.msg);
    ln_activation_free(sm);
}
END_TEST

/* Forward in place (y == x), backward with dx == dy, and the GEMM
** epilogue on a row segment all give what the plain calls give. */
/* gelu's exact form (vectorised erfc and exp, gelu.c) within 2 ulp of
** the correctly rounded value, on every 251st float of [-13.5, 10]
** (x Phi(x) is a normal float down to about -13.2) and its backward
** within 4 ulp and 3e-8 of the float64 derivative times dy = 1. */
START_TEST(gelu_within_2_ulp) {
    enum { N = 4096 };
    static float x[N], y[N], one[N], dx[N];
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_activation *a = ln_activation_new(&ctx, "gelu", NULL);
    ck_assert_msg(a != NULL, "%s", ctx.msg);
    for (int i = 0; i < N; i++) one[i] = 1.0f;
    double worst = 0, worst_d = 0;
    float at = 0, at_d = 0;
    float v = -13.5f;
    while (v < 10.0f) {
        int n = 0;
        for (; n < N && v < 10.0f; n++) {
            x[n] = v;
            uint32_t b;
            memcpy(&b, &v, sizeof b);
            b = v < 0 ? b - 251 : b + 251;
            if (v < 0 && b < 0x80000000u) b = 0; /* stepped past -0 */
            memcpy(&v, &b, sizeof v);
        }
        ln_activation_forward(a, x, y, 1, n);
        ln_activation_backward(a, x, y, one, dx, 1, n);
        for (int i = 0; i < n; i++) {
            const double t = x[i];
            const float ref = (float)(0.5 * t * erfc(-t / sqrt(2.0)));
            const float dref = (float)(0.5 * erfc(-t / sqrt(2.0)) +
                                       t * exp(-0.5 * t * t) / sqrt(2 * M_PI));
            if (fabsf(ref) >= FLT_MIN) {
                const double ulp = nextafterf(fabsf(ref), INFINITY) - fabsf(ref);
                const double e = fabs((double)y[i] - ref) / ulp;
                if (e > worst) worst = e, at = x[i];
            }
            if (fabsf(dref) >= FLT_MIN) { /* (the sum cancels near -0.75: 3e-8 of slack) */
                const double ulp = nextafterf(fabsf(dref), INFINITY) - fabsf(dref);
                const double e = (fabs((double)dx[i] - dref) - 3e-8) / ulp;
                if (e > worst_d) worst_d = e, at_d = x[i];
            }
        }
    }
    ck_assert_msg(worst <= 2.0, "gelu(%.9g): %.2f ulp from the correctly rounded value",
                  (double)at, worst);
    ck_assert_msg(worst_d <= 4.0, "gelu'(%.9g): %.2f ulp", (double)at_d, worst_d);
    ln_activation_free(a);
}
END_TEST

START_TEST(in_place_and_epilogue) {
    enum { R = 4, C = 33, N = R * C };
    float x[N], y[N], y2[N], dy[N], dx[N], d2[N];
    ln_rng r = {3, 0};
    ln_rng_uniform(&r, x, N, -6, 6);
    ln_rng_uniform(&r, dy, N, -1, 1);
    for (int ci = 0; ci < NCASES; ci++) {
        ln_activation *a = make(&cases[ci]);
        ln_activation_forward(a, x, y, R, C);
        ln_activation_backward(a, x, y, dy, dx, R, C);
        memcpy(y2, x, sizeof x);
        ln_activation_forward(a, y2, y2, R, C);
        ck_assert_msg(memcmp(y, y2, sizeof y) == 0, "%s in place", cases[ci].name);
        memcpy(d2, dy, sizeof dy);
        ln_activation_backward(a, x, y, d2, d2, R, C);
        ck_assert_msg(memcmp(dx, d2, sizeof dx) == 0, "%s dx == dy",
                      cases[ci].name);
        memcpy(y2, x, sizeof x);
        ln_activation_epilogue(y2 + C, C, a); /* row 1 only */
        ck_assert_msg(memcmp(y2 + C, y + C, C * sizeof(float)) == 0 &&
                          memcmp(y2, x, C * sizeof(float)) == 0,
                      "%s epilogue", cases[ci].name);
        ln_activation_free(a);
    }
}
END_TEST

/* Large blocks (parallel paths) are bitwise identical for 1 and 2 threads. */
START_TEST(threads_bitwise_identical) {
    enum { R = 1500, C = 200, N = R * C };
    float *x = malloc(N * sizeof *x), *dy = malloc(N * sizeof *dy);
    float *y1 = malloc(N * sizeof *y1), *y2 = malloc(N * sizeof *y2);
    float *d1 = malloc(N * sizeof *d1), *d2 = malloc(N * sizeof *d2);
    ln_rng r = {9, 0};
    ln_rng_uniform(&r, x, N, -8, 8);
    ln_rng_uniform(&r, dy, N, -1, 1);
    static const char *extra[] = {"softmax"};
    for (int ci = 0; ci < NCASES + 1; ci++) {
        ln_ctx ctx;
        ln_ctx_clear(&ctx);
        ln_activation *a = ci < NCASES ? make(&cases[ci])
                                       : ln_activation_new(&ctx, extra[0], NULL);
        ck_assert(a != NULL);
        ln_set_num_threads(1);
        ln_activation_forward(a, x, y1, R, C);
        ln_activation_backward(a, x, y1, dy, d1, R, C);
        ln_set_num_threads(2);
        ln_activation_forward(a, x, y2, R, C);
        ln_activation_backward(a, x, y2, dy, d2, R, C);
        ck_assert_msg(memcmp(y1, y2, N * sizeof(float)) == 0 &&
                          memcmp(d1, d2, N * sizeof(float)) == 0,
                      "%s differs between 1 and 2 threads",
                      ln_activation_name(a));
        ln_activation_free(a);
    }
    free(x), free(dy), free(y1), free(y2), free(d1), free(d2);
}
END_TEST

/* TF's conventions at x = 0: relu slope 0, leaky_relu and elu slope
** alpha. */
START_TEST(kink_conventions) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    float x[1] = {0}, y[1], dy[1] = {1}, dx[1];
    ln_activation *a = ln_activation_new(&ctx, "relu", NULL);
    ln_activation_forward(a, x, y, 1, 1);
    ln_activation_backward(a, NULL, y, dy, dx, 1, 1);
    ck_assert(y[0] == 0 && dx[0] == 0);
    ln_activation_free(a);
    a = ln_activation_new(&ctx, "leaky_relu", NULL);
    ln_activation_forward(a, x, y, 1, 1);
    ln_activation_backward(a, NULL, y, dy, dx, 1, 1);
    ck_assert(y[0] == 0 && dx[0] == 0.3f);
    ln_activation_free(a);
    /* elu: Keras's where(x > 0, elu, alpha * elu) has slope alpha at 0 */
    ln_args *ea = ln_args_new();
    ln_args_set_number(ea, "alpha", 0.5);
    a = ln_activation_new(&ctx, "elu", ea);
    ln_activation_forward(a, x, y, 1, 1);
    ln_activation_backward(a, NULL, y, dy, dx, 1, 1);
    ck_assert(y[0] == 0 && dx[0] == 0.5f);
    ln_activation_free(a);
}
END_TEST

/* The effective config records defaults; linear/NULL are the identity. */
START_TEST(config_and_identity) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_activation *a = ln_activation_new(&ctx, "leaky_relu", NULL);
    ck_assert_msg(a != NULL, "%s", ctx.msg);
    ck_assert_int_eq(ln_args_count(a->args), 1);
    ln_arg e = ln_args_at(a->args, 0);
    ck_assert_str_eq(e.key, "alpha");
    ck_assert(e.num == 0.3);
    ln_activation_free(a);
    a = ln_activation_new(&ctx, "relu", NULL);
    ck_assert_int_eq(ln_args_count(a->args), 3); /* alpha, max_value, threshold */
    ln_activation_free(a);
    a = ln_activation_new(&ctx, NULL, NULL);
    ck_assert_msg(a != NULL && ln_activation_is_identity(a), "%s", ctx.msg);
    ck_assert_str_eq(ln_activation_name(a), "linear");
    ln_activation_free(a);
    a = ln_activation_new(&ctx, "gelu", NULL);
    ck_assert(!ln_activation_is_identity(a));
    ln_activation_free(a);
}
END_TEST

static void expect_fail(const char *name, const char *key, double v,
                        const char *want1, const char *want2) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    if (key) ln_args_set_number(a, key, v);
    ck_assert_msg(ln_activation_new(&ctx, name, a) == NULL, "%s{%s=%g} accepted",
                  name, key ? key : "", v);
    ck_assert_msg(strstr(ctx.msg, want1) && (!want2 || strstr(ctx.msg, want2)),
                  "%s: message '%s'", name, ctx.msg);
}

START_TEST(bad_arguments) {
    expect_fail("relux", NULL, 0, "unknown activation 'relux'", NULL);
    expect_fail("relu", "alpha", -0.5, "'alpha'", "activation 'relu'");
    expect_fail("relu", "threshold", -1, "'threshold'", "-1");
    expect_fail("relu", "max_value", -2, "'max_value'", "-2");
    expect_fail("relu", "slope", 1, "unknown keyword argument 'slope'", NULL);
    expect_fail("leaky_relu", "alpha", -0.1, "'alpha'", "'leaky_relu'");
    expect_fail("elu", "alpha", -1, "'alpha'", "elu");
    expect_fail("sigmoid", "alpha", 1, "unknown keyword argument 'alpha'",
                "sigmoid");
    /* wrong type */
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_args *a = ln_args_new();
    ln_args_set_string(a, "approximate", "yes");
    ck_assert(ln_activation_new(&ctx, "gelu", a) == NULL);
    ck_assert_msg(strstr(ctx.msg, "approximate") && strstr(ctx.msg, "boolean"),
                  "%s", ctx.msg);
}
END_TEST

int main(void) {
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, values_match_float64);
    tcase_add_test(tc, backward_matches_derivative);
    tcase_add_test(tc, backward_matches_finite_differences);
    tcase_add_test(tc, softmax_values_and_stability);
    tcase_add_test(tc, gelu_within_2_ulp);
    tcase_add_test(tc, in_place_and_epilogue);
    tcase_add_test(tc, threads_bitwise_identical);
    tcase_add_test(tc, kink_conventions);
    tcase_add_test(tc, config_and_identity);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
