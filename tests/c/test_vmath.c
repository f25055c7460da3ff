/* lunet/vmath.h against double-precision libm: the documented ulp bounds
** on strided sweeps over every float32 bit pattern of each range (and dense
** sweeps where the methods switch), special values, and the same through
** ln_unary, bitwise for 1 and 2 threads. The sweeps run in each clone this
** CPU can execute (AVX-512 and AVX2 with contraction into FMAs, and the
** baseline), in vectorised loops as the kernels use them. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "lunet/vmath.h"
#include "testutil.h"

enum { F_EXP, F_EXPM1, F_LOG, F_LOG1P, F_TANH, F_SIGMOID, NF };
static const char *const fname[NF] = {"exp", "expm1", "log", "log1p", "tanh", "sigmoid"};
static const int max_ulp[NF] = {LN_VMATH_MAX_ULP_EXP, LN_VMATH_MAX_ULP_EXPM1,
                                LN_VMATH_MAX_ULP_LOG, LN_VMATH_MAX_ULP_LOG1P,
                                LN_VMATH_MAX_ULP_TANH, LN_VMATH_MAX_ULP_SIGMOID};

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static double ref(int f, double x) {
    switch (f) {
    case F_EXP: return exp(x);
    case F_EXPM1: return expm1(x);
    case F_LOG: return log(x);
    case F_LOG1P: return log1p(x);
    case F_TANH: return tanh(x);
    default: return sigmoid_ref(x);
    }
}

#define CHUNK 4096
typedef void (*apply_fn)(int f, float *y, const float *x, int n);

#define DEFINE_APPLY(NAME, ATTR)                                             \
    ATTR static void NAME(int f, float *y, const float *x, int n) {          \
        switch (f) {                                                         \
        case F_EXP: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vexpf(x[i]); break; \
        case F_EXPM1: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vexpm1f(x[i]); break; \
        case F_LOG: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vlogf(x[i]); break; \
        case F_LOG1P: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vlog1pf(x[i]); break; \
        case F_TANH: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vtanhf(x[i]); break; \
        default: _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vsigmoidf(x[i]); \
        }                                                                    \
    }

DEFINE_APPLY(apply_base, )
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
DEFINE_APPLY(apply_v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_APPLY(apply_v4, __attribute__((target("arch=x86-64-v4"))))
#define HAVE_CLONES 1
#endif

/* Error of y in units of the float32 spacing at the exact result r. */
static double ulp_err(float y, double r) {
    if (isnan(r)) return isnan(y) ? 0 : INFINITY;
    float rf = (float)r;
    if (isinf(rf)) return y == rf ? 0 : INFINITY;
    double a = fabs(r), ulp;
    if (a < FLT_MIN) ulp = ldexp(1, -149);
    else {
        int e;
        frexp(a, &e);
        ulp = ldexp(1, e - 24);
    }
    return fabs((double)y - r) / ulp;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Worst error of function f over the floats of [lo, hi] whose bit patterns
** are `stride` apart (both signs). */
static double sweep(apply_fn apply, int f, float lo, float hi, uint32_t stride,
                    float *worst_x) {
    static float xs[CHUNK], ys[CHUNK];
    double worst = 0;
    for (int s = 0; s < 2; s++) {
        int cnt = 0;
        for (uint64_t b = 0; b < 0x7f800000u; b += stride) {
            float x = from_bits((uint32_t)b | (s ? 0x80000000u : 0));
            if (x >= lo && x <= hi) xs[cnt++] = x;
            if (cnt == CHUNK || (b + stride >= 0x7f800000u && cnt)) {
                apply(f, ys, xs, cnt);
                for (int i = 0; i < cnt; i++) {
                    double e = ulp_err(ys[i], ref(f, xs[i]));
                    if (!(e <= worst)) worst = e, *worst_x = xs[i];
                }
                cnt = 0;
            }
        }
    }
    return worst;
}

/* Dense sweep of [lo, hi] in n steps (where the methods switch). */
static double dense(apply_fn apply, int f, float lo, float hi, int n,
                    float *worst_x) {
    static float xs[CHUNK], ys[CHUNK];
    double worst = 0;
    for (int k = 0; k < n; k += CHUNK) {
        int cnt = n - k < CHUNK ? n - k : CHUNK;
        for (int i = 0; i < cnt; i++) xs[i] = lo + (hi - lo) * (float)(k + i) / (float)n;
        apply(f, ys, xs, cnt);
        for (int i = 0; i < cnt; i++) {
            double e = ulp_err(ys[i], ref(f, xs[i]));
            if (!(e <= worst)) worst = e, *worst_x = xs[i];
        }
    }
    return worst;
}

static void no_ftz(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(_mm_getcsr() & ~(0x8000u | 0x0040u)); /* FTZ, DAZ off */
#endif
}

static void check_bounds(apply_fn apply, const char *clone) {
    no_ftz();
    static const float lo[NF] = {-110, -100, 0, -1, -100, -110};
    static const float hi[NF] = {100, 100, FLT_MAX, FLT_MAX, 100, 100};
    for (int f = 0; f < NF; f++) {
        float wx = 0, wd = 0;
        double w = sweep(apply, f, lo[f], hi[f], 1021, &wx);
        double d = dense(apply, f, -2, 2, 200000, &wd);
        if (f == F_LOG) d = dense(apply, f, 0.5f, 2.0f, 200000, &wd);
        ck_assert_msg(w <= max_ulp[f] && d <= max_ulp[f],
                      "%s (%s clone): %.3f ulp at %a, %.3f ulp at %a (bound %d)",
                      fname[f], clone, w, wx, d, wd, max_ulp[f]);
    }
}

START_TEST(ulp_bounds_baseline) { check_bounds(apply_base, "baseline"); }
END_TEST

START_TEST(ulp_bounds_clones) {
#ifdef HAVE_CLONES
    __builtin_cpu_init();
    int ran = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        check_bounds(apply_v3, "x86-64-v3");
        ran++;
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        check_bounds(apply_v4, "x86-64-v4");
        ran++;
    }
    if (!ran) check_bounds(apply_base, "baseline");
#else
    check_bounds(apply_base, "baseline");
#endif
}
END_TEST

/* ---- double precision: ln_vexp, ln_vlog ---------------------------------------- */

#define DEFINE_APPLY_D(NAME, ATTR)                                           \
    ATTR static void NAME(int is_log, double *y, const double *x, int n) {   \
        if (is_log) {                                                        \
            _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vlog(x[i]); \
        } else {                                                             \
            _Pragma("omp simd") for (int i = 0; i < n; i++) y[i] = ln_vexp(x[i]); \
        }                                                                    \
    }
typedef void (*apply_d_fn)(int is_log, double *y, const double *x, int n);
DEFINE_APPLY_D(apply_d_base, )
#ifdef HAVE_CLONES
DEFINE_APPLY_D(apply_d_v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_APPLY_D(apply_d_v4, __attribute__((target("arch=x86-64-v4"))))
#endif

/* Relative error against libm on 2^20 points of exp's range [-708, 709.78]
** and of log's over 2^-1000 .. 2^1000 (log's relative to max(|log x|, 1)),
** every 2^-20 of [0.5, 2] too; then the special values. */
static void check_double(apply_d_fn apply, const char *clone) {
    enum { N = 1 << 20 };
    static double x[N], y[N];
    double worst = 0, at = 0;
    for (int i = 0; i < N; i++) x[i] = -708.0 + (709.78 + 708.0) * i / (N - 1);
    apply(0, y, x, N);
    for (int i = 0; i < N; i++) {
        const double e = fabs(y[i] / exp(x[i]) - 1);
        if (e > worst) worst = e, at = x[i];
    }
    ck_assert_msg(worst <= LN_VMATH_MAX_REL_D, "%s: ln_vexp(%.17g): relative error %g",
                  clone, at, worst);
    for (int pass = 0; pass < 2; pass++) {
        worst = 0;
        for (int i = 0; i < N; i++)
            x[i] = pass ? 0.5 + 1.5 * i / (N - 1) : exp2(-1000.0 + 2000.0 * i / (N - 1));
        apply(1, y, x, N);
        for (int i = 0; i < N; i++) {
            const double e = fabs(y[i] - log(x[i])) / fmax(fabs(log(x[i])), 1.0);
            if (e > worst) worst = e, at = x[i];
        }
        ck_assert_msg(worst <= LN_VMATH_MAX_REL_D, "%s: ln_vlog(%.17g): relative error %g",
                      clone, at, worst);
    }
    const double inf = INFINITY;
    double sx[8] = {-inf, -800, -708.5, 0, 709.79, inf, NAN, 1}, sy[8];
    apply(0, sy, sx, 8);
    ck_assert(sy[0] == 0 && sy[1] == 0 && sy[2] == 0 && sy[3] == 1 && sy[4] == inf &&
              sy[5] == inf && isnan(sy[6]) && fabs(sy[7] / M_E - 1) <= LN_VMATH_MAX_REL_D);
    double lx[6] = {0.0, -0.0, -1, inf, NAN, 1}, ly[6];
    apply(1, ly, lx, 6);
    ck_assert(ly[0] == -inf && ly[1] == -inf && isnan(ly[2]) && ly[3] == inf && isnan(ly[4]) &&
              ly[5] == 0);
}

START_TEST(double_exp_log) {
    check_double(apply_d_base, "baseline");
#ifdef HAVE_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        check_double(apply_d_v3, "x86-64-v3");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        check_double(apply_d_v4, "x86-64-v4");
#endif
}
END_TEST

static void expect(int f, float x, float want) {
    float y;
    apply_base(f, &y, &x, 1);
    if (isnan(want)) ck_assert_msg(isnan(y), "%s(%a) = %a, want NaN", fname[f], x, y);
    else
        ck_assert_msg(y == want && signbit(y) == signbit(want),
                      "%s(%a) = %a, want %a", fname[f], x, y, want);
}

START_TEST(special_values) {
    no_ftz();
    const float inf = INFINITY, nan = NAN;
    for (int f = 0; f < NF; f++) expect(f, nan, nan);
    expect(F_EXP, inf, inf);
    expect(F_EXP, -inf, 0);
    expect(F_EXP, 0, 1);
    expect(F_EXP, -0.0f, 1);
    expect(F_EXP, 88.8f, inf); /* above ln(FLT_MAX) */
    expect(F_EXP, -104.0f, 0); /* below half the smallest denormal */
    expect(F_EXP, from_bits(1), 1); /* a denormal in */
    float d = 0;
    apply_base(F_EXP, &d, &(float){-100.0f}, 1);
    ck_assert(d > 0 && d < FLT_MIN); /* a denormal out */
    ck_assert(ulp_err(d, exp(-100.0)) <= LN_VMATH_MAX_ULP_EXP);
    expect(F_EXPM1, inf, inf);
    expect(F_EXPM1, -inf, -1);
    expect(F_EXPM1, 0, 0);
    expect(F_EXPM1, -0.0f, -0.0f);
    expect(F_EXPM1, 1e-30f, 1e-30f);
    expect(F_LOG, 0, -inf);
    expect(F_LOG, -0.0f, -inf);
    expect(F_LOG, -1, nan);
    expect(F_LOG, -inf, nan);
    expect(F_LOG, inf, inf);
    expect(F_LOG, 1, 0);
    float l = 0;
    apply_base(F_LOG, &l, &(float){from_bits(1)}, 1); /* smallest denormal */
    ck_assert(ulp_err(l, log(ldexp(1, -149))) <= LN_VMATH_MAX_ULP_LOG);
    expect(F_LOG1P, -1, -inf);
    expect(F_LOG1P, -2, nan);
    expect(F_LOG1P, inf, inf);
    expect(F_LOG1P, 0, 0);
    expect(F_LOG1P, -0.0f, -0.0f);
    expect(F_LOG1P, 1e-30f, 1e-30f);
    expect(F_TANH, inf, 1);
    expect(F_TANH, -inf, -1);
    expect(F_TANH, 0, 0);
    expect(F_TANH, -0.0f, -0.0f);
    expect(F_TANH, 20, 1);
    expect(F_TANH, 1e-30f, 1e-30f);
    expect(F_SIGMOID, inf, 1);
    expect(F_SIGMOID, -inf, 0);
    expect(F_SIGMOID, 0, 0.5f);
    expect(F_SIGMOID, -0.0f, 0.5f);
}
END_TEST

/* The kernels of tensor expressions use them: the same bounds through
** ln_unary, and the same bits for 1 and 2 threads. */
START_TEST(through_ln_unary) {
    enum { N = 300007 };
    float *x = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *y1),
          *y2 = malloc(N * sizeof *y2);
    ck_assert(x && y1 && y2);
    static const ln_unary_op ops[] = {LN_U_EXP, LN_U_LOG, LN_U_TANH, LN_U_SIGMOID};
    static const int fs[] = {F_EXP, F_LOG, F_TANH, F_SIGMOID};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < N; i++)
            x[i] = fs[k] == F_LOG ? 1e-3f + 50.0f * (float)i / N
                                  : -40.0f + 80.0f * (float)i / N;
        omp_set_num_threads(1);
        ln_unary(ops[k], y1, x, N);
        omp_set_num_threads(2);
        ln_unary(ops[k], y2, x, N);
        ck_assert_msg(memcmp(y1, y2, N * sizeof *y1) == 0, "%s: 1 vs 2 threads", fname[fs[k]]);
        for (int i = 0; i < N; i++) {
            double e = ulp_err(y1[i], ref(fs[k], x[i]));
            /* the library's threads flush denormals (FTZ): exp below
            ** FLT_MIN may be 0 there */
            if (fabs(ref(fs[k], x[i])) < FLT_MIN) continue;
            ck_assert_msg(e <= max_ulp[fs[k]], "%s(%a): %.3f ulp", fname[fs[k]], x[i], e);
        }
    }
    free(x);
    free(y1);
    free(y2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("vmath");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, ulp_bounds_baseline);
    tcase_add_test(tc, ulp_bounds_clones);
    tcase_add_test(tc, special_values);
    tcase_add_test(tc, double_exp_log);
    tcase_add_test(tc, through_ln_unary);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
