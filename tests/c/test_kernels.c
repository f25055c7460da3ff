/* Elementwise, broadcast, reduction and softmax kernels against float64
** references, and their independence from the thread count. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xmmintrin.h>

#include "testutil.h"
#include "../../core/parallel_impl.h"
#include "lunet/vmath.h"

static ln_ctx ctx;

START_TEST(unary_and_clamp) {
    int64_t n = 100003, shape[1] = {n};
    ln_tensor *x = lt_uniform(1, shape, 0.01f, 5, 1), *y = ln_tensor_new_like(&ctx, x);
    const float *a = ln_f32(x);
    float *b = ln_f32(y);
    ln_unary(LN_U_LOG, b, a, n);
    for (int64_t i = 0; i < n; i += 997) ck_assert_float_eq_tol(b[i], log(a[i]), 1e-6);
    ln_unary(LN_U_SIGMOID, b, a, n);
    for (int64_t i = 0; i < n; i += 997) ck_assert_float_eq_tol(b[i], 1 / (1 + exp(-a[i])), 1e-6);
    ln_clamp(b, a, 1, 2, n);
    for (int64_t i = 0; i < n; i++) ck_assert(b[i] >= 1 && b[i] <= 2);
    ln_axpy(b, 2, a, n);
    ln_scale(b, b, 0.5f, n);
    ln_tensor_release(x);
    ln_tensor_release(y);
}
END_TEST

/* ln_unary's exp has its own AVX-512 code (core/kernels.c): every input
** gives the bits of lunet/vmath.h's ln_vexpf (here the baseline build, no
** FMA), on bit patterns across the whole float range, special values and
** lengths that leave a partial vector, with and without FTZ/DAZ. */
static void vexp_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ln_vexpf(x[i]);
}

START_TEST(exp_kernel_matches_vexpf) {
    const int64_t n = 60007; /* below the threads' threshold: this thread's MXCSR */
    float *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    ck_assert(x && a && b);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)i * 2654435761u + 12345u;
        if (i % 3 == 0) x[i] = (float)(i % 55000) / 250.0f - 115.0f; /* dense [-115, 105) */
        else memcpy(&x[i], &u, sizeof u);
    }
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.72283f, 88.72284f,
                              -87.33654f, -103.9f, -104.0f, 1e-45f, -1e-45f, 89.0f, -105.0f};
    memcpy(x, specials, sizeof specials);
    const unsigned csr = _mm_getcsr();
    for (int ftz = 0; ftz < 2; ftz++) {
        _mm_setcsr(ftz ? csr | 0x8040u : csr & ~0x8040u); /* FTZ/DAZ as lunet runs, or off */
        for (int64_t len = n; len > n - 17; len -= 5) {
            memset(a, 0, n * sizeof *a);
            memset(b, 0, n * sizeof *b);
            ln_unary(LN_U_EXP, a, x, len);
            vexp_ref(b, x, len);
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&a[i], &b[i], sizeof *a)) ck_abort_msg("exp(%a): kernel %a, ln_vexpf %a (ftz %d, n %ld)", (double)x[i], (double)a[i], (double)b[i], ftz, (long)len);
        }
    }
    _mm_setcsr(csr);
    free(x);
    free(a);
    free(b);
}
END_TEST

/* ln_unary's tanh and sigmoid too (core/kernels.c, tanh16, sigmoid16): the
** bits of ln_vtanhf and ln_vsigmoidf on the same kind of sweep, dense over
** [-12, 12) for tanh and [-120, 120) for sigmoid. */
static void unary_matches(ln_unary_op op, float (*ref)(float), float dense) {
    const int64_t n = 60007;
    float *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    ck_assert(x && a && b);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)i * 2654435761u + 12345u;
        if (i % 3 == 0) x[i] = ((float)(i % 60000) / 30000.0f - 1.0f) * dense;
        else memcpy(&x[i], &u, sizeof u);
    }
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 9.5f, -9.5f,
                              9.50001f, 9.01f, 1e-45f, -1e-45f, 1e-38f, 0.34657359f, 44.0f,
                              -87.33654f, -88.8f, 104.0f, -104.0f, -105.5f, 105.5f};
    memcpy(x, specials, sizeof specials);
    const unsigned csr = _mm_getcsr();
    for (int ftz = 0; ftz < 2; ftz++) {
        _mm_setcsr(ftz ? csr | 0x8040u : csr & ~0x8040u);
        for (int64_t len = n; len > n - 17; len -= 5) {
            memset(a, 0, n * sizeof *a);
            memset(b, 0, n * sizeof *b);
            ln_unary(op, a, x, len);
            for (int64_t i = 0; i < len; i++) b[i] = ref(x[i]);
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&a[i], &b[i], sizeof *a)) ck_abort_msg("op %d (%a): kernel %a, vmath.h %a (ftz %d, n %ld)", (int)op, (double)x[i], (double)a[i], (double)b[i], ftz, (long)len);
        }
    }
    _mm_setcsr(csr);
    free(x);
    free(a);
    free(b);
}

static float vtanh(float v) { return ln_vtanhf(v); }
static float vsigmoid(float v) { return ln_vsigmoidf(v); }

START_TEST(tanh_and_sigmoid_kernels_match_vmath) {
    unary_matches(LN_U_TANH, vtanh, 12.0f);
    unary_matches(LN_U_SIGMOID, vsigmoid, 120.0f);
}
END_TEST

START_TEST(broadcasting) {
    int64_t sa[2] = {3, 4}, sb[1] = {4}, sc[2] = {3, 1}, so[LN_MAX_DIM];
    int no;
    ln_tensor *a = lt_uniform(2, sa, -1, 1, 2), *b = lt_uniform(1, sb, -1, 1, 3),
              *c = lt_uniform(2, sc, -1, 1, 4);
    ck_assert_int_eq(ln_broadcast_shape(&ctx, 2, sa, 1, sb, &no, so), LN_OK);
    ck_assert_int_eq(no, 2);
    float z[12];
    ln_binary(LN_B_SUB, z, 2, so, ln_f32(a), 2, sa, ln_f32(b), 1, sb);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(z[i * 4 + j], ln_f32(a)[i * 4 + j] - ln_f32(b)[j]);
    ln_binary(LN_B_MUL, z, 2, sa, ln_f32(c), 2, sc, ln_f32(b), 1, sb); /* (3,1)*(4,) */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(z[i * 4 + j], ln_f32(c)[i] * ln_f32(b)[j]);
    int64_t bad[1] = {3};
    ck_assert_int_eq(ln_broadcast_shape(&ctx, 2, sa, 1, bad, &no, so), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, "(3, 4) and (3,)"), "%s", ctx.msg);
    ln_binary_scalar(LN_B_GT, z, ln_f32(a), 0, 0, 12);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(z[i], ln_f32(a)[i] > 0);
    ln_tensor_release(a);
    ln_tensor_release(b);
    ln_tensor_release(c);
}
END_TEST

/* The arithmetic loops are vectorised (omp simd): every length (the vector
** tails), unaligned starts and the in-place form must give, bit for bit,
** each element's own IEEE operation. */
START_TEST(arithmetic_loops_per_element) {
    enum { MAXN = 71 };
    float xs[MAXN + 1], ys[MAXN + 1], z[MAXN + 1], w[MAXN + 1];
    for (int i = 0; i <= MAXN; i++) {
        xs[i] = (float)(i * 0.37 - 9.1);
        ys[i] = (float)(1.3 + (i % 7) * 0.61);
    }
    const ln_binary_op ops[] = {LN_B_ADD, LN_B_SUB, LN_B_MUL, LN_B_DIV};
    for (int off = 0; off < 2; off++)
        for (int n = 0; n <= MAXN - off; n++) {
            const float *x = xs + off, *y = ys + off;
            const float s = 0.7f;
            for (int k = 0; k < 4; k++) {
                for (int first = 0; first < 2; first++) {
                    ln_binary_scalar(ops[k], z, x, s, first, n);
                    for (int i = 0; i < n; i++) {
                        volatile float a = first ? s : x[i], b = first ? x[i] : s;
                        float r = ops[k] == LN_B_ADD ? a + b : ops[k] == LN_B_SUB ? a - b
                                : ops[k] == LN_B_MUL ? a * b : a / b;
                        ck_assert_msg(memcmp(&z[i], &r, sizeof r) == 0, "op %d n %d i %d", k, n, i);
                    }
                }
                int64_t sh[1] = {n};
                ln_binary(ops[k], z, 1, sh, x, 1, sh, y, 1, sh);
                memcpy(w, x, sizeof(float) * (size_t)n); /* in place: w = w op y */
                ln_binary(ops[k], w, 1, sh, w, 1, sh, y, 1, sh);
                for (int i = 0; i < n; i++) {
                    volatile float a = x[i], b = y[i];
                    float r = ops[k] == LN_B_ADD ? a + b : ops[k] == LN_B_SUB ? a - b
                            : ops[k] == LN_B_MUL ? a * b : a / b;
                    ck_assert(memcmp(&z[i], &r, sizeof r) == 0);
                    ck_assert(memcmp(&w[i], &r, sizeof r) == 0);
                }
                /* a row broadcast: [2, n/2] op [n/2] */
                int64_t sz[2] = {2, n / 2}, sr[1] = {n / 2};
                ln_binary(ops[k], z, 2, sz, x, 2, sz, y, 1, sr);
                for (int i = 0; i < 2 * (n / 2); i++) {
                    volatile float a = x[i], b = y[i % (n / 2)];
                    float r = ops[k] == LN_B_ADD ? a + b : ops[k] == LN_B_SUB ? a - b
                            : ops[k] == LN_B_MUL ? a * b : a / b;
                    ck_assert(memcmp(&z[i], &r, sizeof r) == 0);
                }
            }
        }
}
END_TEST

START_TEST(reductions) {
    int64_t shape[3] = {5, 7, 3};
    ln_tensor *x = lt_uniform(3, shape, -2, 2, 5);
    const float *p = ln_f32(x);
    float y[15];
    ln_reduce(LN_R_SUM, y, p, 5, 7, 3);
    for (int o = 0; o < 5; o++)
        for (int i = 0; i < 3; i++) {
            double s = 0;
            for (int l = 0; l < 7; l++) s += p[(o * 7 + l) * 3 + i];
            ck_assert_float_eq_tol(y[o * 3 + i], s, 1e-5);
        }
    ln_reduce(LN_R_ARGMAX, y, p, 5, 7, 3);
    for (int o = 0; o < 5; o++)
        for (int i = 0; i < 3; i++) {
            int best = 0;
            for (int l = 1; l < 7; l++)
                if (p[(o * 7 + l) * 3 + i] > p[(o * 7 + best) * 3 + i]) best = l;
            ck_assert_float_eq(y[o * 3 + i], best);
        }
    float ties[4] = {1, 3, 3, 0}, arg;
    ln_reduce(LN_R_ARGMAX, &arg, ties, 1, 4, 1);
    ck_assert_float_eq(arg, 1); /* first index wins ties */
    float var;
    ln_reduce(LN_R_VAR, &var, ties, 1, 4, 1);
    ck_assert_float_eq_tol(var, 1.6875, 1e-6);
    float cols[3];
    ln_sum_rows(cols, p, 35, 3, 0);
    double s0 = 0;
    for (int r = 0; r < 35; r++) s0 += p[r * 3];
    ck_assert_float_eq_tol(cols[0], s0, 1e-5);
    ln_tensor_release(x);
}
END_TEST

/* Column sums of 1..140 columns (the narrow vector path up to 128, and
** past it) over 1..40 rows, fresh and accumulated: the bits of adding the rows
** one by one in float, the columns past the end left untouched. */
START_TEST(sum_rows_in_row_order) {
    enum { MAXC = 140, MAXR = 40 };
    static float x[MAXR * MAXC];
    float y[MAXC + 1], want[MAXC + 1];
    uint32_t seed = 12345;
    for (int i = 0; i < MAXR * MAXC; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((int)(seed >> 9) - (1 << 22)) / (float)(1 << 13);
    }
    for (int cols = 1; cols <= MAXC; cols++)
        for (int rows = 1; rows <= MAXR; rows += 3)
            for (int acc = 0; acc < 2; acc++) {
                for (int c = 0; c <= MAXC; c++) y[c] = want[c] = 0.5f * (float)c - 3.0f;
                for (int c = 0; c < cols; c++) {
                    float v = acc ? want[c] : 0.0f;
                    for (int r = 0; r < rows; r++) v += x[r * cols + c];
                    want[c] = v;
                }
                ln_sum_rows(y, x, rows, cols, acc);
                for (int c = 0; c <= MAXC; c++)
                    ck_assert_msg(y[c] == want[c], "cols %d rows %d acc %d: y[%d] %.9g, want %.9g",
                                  cols, rows, acc, c, y[c], want[c]);
            }
}
END_TEST

START_TEST(softmax_rows) {
    float x[6] = {1000, 1001, 1002, -1, 0, 1}, y[6], l[6];
    ln_softmax_rows(y, x, 2, 3);
    ln_log_softmax_rows(l, x, 2, 3);
    double e = exp(-2) + exp(-1) + 1;
    ck_assert_float_eq_tol(y[2], 1 / e, 1e-6);
    ck_assert_float_eq_tol(y[3], exp(-2) / e, 1e-6);
    ck_assert_float_eq_tol(l[0], -2 - log(e), 2e-4); /* |x| ~ 1000 */
    ck_assert_float_eq_tol(l[3], -2 - log(e), 1e-6);
    ck_assert_float_eq_tol(y[0] + y[1] + y[2], 1, 1e-6);
}
END_TEST

/* numpy's float32 pairwise sum (8 accumulators up to 128 terms, halves
** above): the accuracy reference for ln_sum's float32 lanes (PyTorch's
** cascade sum behaves alike). */
static float pairwise_f32(const float *x, int64_t n) {
    if (n < 8) {
        float s = 0;
        for (int64_t i = 0; i < n; i++) s += x[i];
        return s;
    }
    if (n <= 128) {
        float r[8];
        for (int k = 0; k < 8; k++) r[k] = x[k];
        int64_t i = 8;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) r[k] += x[i + k];
        float s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += x[i];
        return s;
    }
    int64_t h = n / 2;
    h -= h % 8;
    return pairwise_f32(x, h) + pairwise_f32(x + h, n - h);
}

/* ln_sum's documented order (core/kernels.c, float_sum and block_sum), in
** plain C: blocks of 4096 elements; in a block, runs of up to 1024 whole
** 128-lane rows, float lane k adding x[k], x[k + 128], ... of the run in
** order, lane k then into double d[k % 16] in increasing k; the last n %
** 128 in double; d added pairwise; the blocks in order. Every code path
** (the AVX-512 one, the clones, any thread count) must give these bits. */
static double lane_sum_ref(const float *x, int64_t n) {
    double d[16] = {0};
    int64_t i = 0;
    while (i + 128 <= n) {
        int64_t run = n - i < 1024 ? (n - i) / 128 * 128 : 1024;
        float f[128] = {0};
        for (int64_t r = 0; r < run; r += 128)
            for (int k = 0; k < 128; k++) f[k] += x[i + r + k];
        for (int k = 0; k < 128; k++) d[k % 16] += (double)f[k];
        i += run;
    }
    double tail = 0;
    for (; i < n; i++) tail += x[i];
    double r[8];
    for (int m = 0; m < 8; m++) r[m] = d[m] + d[m + 8];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + tail;
}

START_TEST(sum_bits_follow_the_documented_order) {
    const int64_t sizes[] = {1, 127, 128, 129, 1000, 1024, 1152, 4095, 4096, 4097,
                             10007, 30000, 100000, 300001};
    float *x = malloc(sizeof(float) * 300001);
    ck_assert_ptr_nonnull(x);
    uint64_t st = 99;
    for (int64_t i = 0; i < 300001; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(st >> 11) * 0x1p-53 - 0.3) * (i % 7 == 0 ? 1000.0f : 1.0f);
    }
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int64_t n = sizes[si];
            double want = 0;
            for (int64_t s = 0; s < n; s += 4096)
                want += lane_sum_ref(x + s, n - s < 4096 ? n - s : 4096);
            double got = ln_sum(x, n);
            ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                          "n %lld threads %d: ln_sum %a, documented order %a",
                          (long long)n, th, got, want);
        }
    }
    free(x);
}
END_TEST

static uint64_t lcg_state;
static double lcg01(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

/* ln_sum adds float32 lanes of at most 8 terms, then double: on every size
** and kind of data its RMS error (over ~1M elements' worth of vectors) is
** at most a float32 pairwise sum's (measured: 0.01-0.53 of it), every
** vector's within 8 u sum|x|, and small integers sum exactly. */
START_TEST(sum_accuracy) {
    const int64_t sizes[] = {5, 127, 128, 1000, 2048, 4095, 4097, 10007, 100000, 1000003};
    float *x = malloc(sizeof(float) * 1000003);
    ck_assert_ptr_nonnull(x);
    for (int kind = 0; kind < 3; kind++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int64_t n = sizes[si];
            int trials = n < 250000 ? (int)(1000000 / n) : 4;
            double err_ours = 0, err_pair = 0;
            lcg_state = 12345 + (uint64_t)(kind * 100 + si);
            for (int trial = 0; trial < trials; trial++) {
                long double exact = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    double u = lcg01();
                    x[i] = kind == 0 ? (float)u                       /* [0, 1) */
                         : kind == 1 ? (float)(u - 0.5)               /* signs */
                                     : (float)(exp(20 * u - 10) * (u < 0.7 ? 1 : -1));
                    exact += x[i];
                    mag += fabsl((long double)x[i]);
                }
                double e = (double)((long double)ln_sum(x, n) - exact);
                double p = (double)((long double)pairwise_f32(x, n) - exact);
                err_ours += e * e;
                err_pair += p * p;
                ck_assert_msg(fabs(e) <= 8 * 0x1p-24 * (double)mag,
                              "kind %d n %lld: error %g, bound %g", kind, (long long)n,
                              fabs(e), 8 * 0x1p-24 * (double)mag);
            }
            ck_assert_msg(err_ours <= err_pair, "kind %d n %lld: RMS error %g, "
                          "pairwise float32 %g", kind, (long long)n,
                          sqrt(err_ours / trials), sqrt(err_pair / trials));
        }
    for (int64_t i = 0; i < 1000003; i++) x[i] = (float)(i % 5);
    ck_assert_double_eq(ln_sum(x, 1000003), 2.0 * 1000000 + 0 + 1 + 2);
    free(x);
}
END_TEST

START_TEST(thread_count_independence) {
    int64_t n = 3000017, shape[1] = {n};
    ln_tensor *x = lt_uniform(1, shape, -1, 1, 9);
    omp_set_num_threads(1);
    double s1 = ln_sum(ln_f32(x), n), q1 = ln_sumsq(ln_f32(x), n);
    float r1[4];
    ln_reduce(LN_R_SUM, r1, ln_f32(x), 1, n / 4, 4);
    omp_set_num_threads(2);
    double s2 = ln_sum(ln_f32(x), n), q2 = ln_sumsq(ln_f32(x), n);
    float r2[4];
    ln_reduce(LN_R_SUM, r2, ln_f32(x), 1, n / 4, 4);
    ck_assert(memcmp(&s1, &s2, sizeof s1) == 0);
    ck_assert(memcmp(&q1, &q2, sizeof q1) == 0);
    ck_assert(memcmp(r1, r2, sizeof r1) == 0);
    double ref = 0;
    for (int64_t i = 0; i < n; i++) ref += ln_f32(x)[i];
    /* float32 lanes (sum_accuracy): within 8 u sum|x|, |x| <= 1 */
    ck_assert_double_eq_tol(s1, ref, 8 * 0x1p-24 * (double)n);
    ln_tensor_release(x);
}
END_TEST

START_TEST(gather) {
    float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, y[6];
    int64_t idx[2] = {3, 1};
    ln_gather_rows(y, x, idx, 2, 3, sizeof(float));
    ck_assert_float_eq(y[0], 9);
    ck_assert_float_eq(y[5], 5);
}
END_TEST

START_TEST(denormals_flushed_in_every_thread) {
    ln_cpu_init(); /* before the first parallel region of this process */
    volatile float tiny = 1e-30f;
    int flushed[2] = {0, 0};
    omp_set_num_threads(2);
#pragma omp parallel
    {
        float v = tiny * 1e-10f; /* 1e-40 is a denormal unless flushed */
        flushed[omp_get_thread_num() & 1] = v == 0.0f;
    }
    ck_assert(flushed[0] && flushed[1]);
}
END_TEST


/* ln_parallel_for outside a team hands chunks to helper threads
** (core/parallel_pool.c): the caller takes chunk 0 first and waits in it
** (at most 10 s) until another thread has run a chunk from the back. */
typedef struct {
    pthread_t caller;
    int wait; /* chunk 0 waits for another thread */
    _Atomic int other; /* chunks run by another thread */
    _Atomic int chunks;
} pool_probe;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void probe_range(void *arg, int64_t lo, int64_t hi) {
    pool_probe *p = arg;
    atomic_fetch_add(&p->chunks, 1);
    if (!pthread_equal(pthread_self(), p->caller)) atomic_fetch_add(&p->other, 1);
    if (lo == 0 && p->wait) {
        double t0 = now_s();
        while (!atomic_load(&p->other) && now_s() - t0 < 10) sched_yield();
    }
}

START_TEST(helpers_take_chunks) {
    omp_set_num_threads(2);
    pool_probe p = {.caller = pthread_self(), .wait = 1};
    ln_parallel_for(64 * LN_PAR_CHUNK, probe_range, &p);
    ck_assert_int_eq(atomic_load(&p.chunks), 64);
    ck_assert_msg(atomic_load(&p.other) > 0, "no helper thread took a chunk");
    /* one thread: no helper */
    omp_set_num_threads(1);
    pool_probe q = {.caller = pthread_self()};
    ln_parallel_for(64 * LN_PAR_CHUNK, probe_range, &q);
    ck_assert_int_eq(atomic_load(&q.other), 0);
    ck_assert_int_eq(atomic_load(&q.chunks), 1);
    /* two threads, but this thread alone (ln_parallel_alone): in place,
    ** and the previous setting given back */
    omp_set_num_threads(2);
    ck_assert_int_eq(ln_parallel_alone(1), 0);
    pool_probe r = {.caller = pthread_self()};
    ln_parallel_for(64 * LN_PAR_CHUNK, probe_range, &r);
    ck_assert_int_eq(ln_parallel_alone(0), 1);
    ck_assert_int_eq(atomic_load(&r.other), 0);
    ck_assert_int_eq(atomic_load(&r.chunks), 1);
}
END_TEST

/* A split job (ln__parallel_split, core's elementwise loops just below
** LN_PAR_MIN): every unit exactly once, in tasks of whole multiples of
** the alignment; the caller keeps the first tasks and a helper takes the
** rest -- the caller waits (at most 10 s) in unit 0 until another thread
** has run a unit. With one thread nothing is done and 0 returned. */
enum { SPLIT_UNITS = 1000, SPLIT_ALIGN = 8 };
typedef struct {
    pthread_t caller;
    _Atomic int seen[SPLIT_UNITS];
    _Atomic int other, bad_cut;
} split_probe;

static void split_range(void *arg, int64_t lo, int64_t hi) {
    split_probe *p = arg;
    if (lo % SPLIT_ALIGN || (hi % SPLIT_ALIGN && hi != SPLIT_UNITS)) atomic_store(&p->bad_cut, 1);
    for (int64_t u = lo; u < hi; u++) atomic_fetch_add(&p->seen[u], 1);
    if (!pthread_equal(pthread_self(), p->caller)) atomic_fetch_add(&p->other, 1);
    if (lo == 0) {
        double t0 = now_s();
        while (!atomic_load(&p->other) && now_s() - t0 < 10) sched_yield();
    }
}

START_TEST(split_jobs_cover_every_unit_once) {
    static split_probe p;
    omp_set_num_threads(2);
    int ran = 0;
    for (int k = 0; k < 50 && !ran; k++) { /* a sleeping helper is woken by the 2nd */
        memset(&p, 0, sizeof p);
        p.caller = pthread_self();
        ran = ln__parallel_split(SPLIT_UNITS, SPLIT_ALIGN, split_range, &p);
        if (!ran) ck_assert_int_eq(atomic_load(&p.seen[0]), 0);
    }
    ck_assert_msg(ran, "no split job ran in 50 tries");
    for (int u = 0; u < SPLIT_UNITS; u++) ck_assert_int_eq(atomic_load(&p.seen[u]), 1);
    ck_assert_int_eq(atomic_load(&p.bad_cut), 0);
    ck_assert_msg(atomic_load(&p.other) > 0, "no helper thread took a task");
    omp_set_num_threads(1);
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(ln__parallel_split(SPLIT_UNITS, SPLIT_ALIGN, split_range, &p), 0);
    ck_assert_int_eq(atomic_load(&p.seen[0]), 0);
}
END_TEST

/* The gate of core's OpenMP loops (parallel_omp.c), on made-up clocks: a
** loop whose region outlasted its fastest share times the team by more
** than a wake-up lost; the loops after it run alone, timed, until they have
** run the loss once (the team's loops had earned more since the last loss)
** or `factor` times (8, then doubling); a wake-up's delay is no loss; a
** thread's share is noted as the team's fastest; a reset forgets a loss. */
static ln__omp_loop loop_at(double started_ago, double share_s, int nt) {
    ln__omp_loop k;
    atomic_init(&k.share_ns, (int64_t)(share_s * 1e9));
    k.nt = nt;
    k.t0 = now_s() - started_ago;
    return k;
}

static void pay(double s) {
    ln__omp_loop k = loop_at(s, 0, 1);
    ln__omp_loop_paid(&k);
}

static void end_loop(double took, double share) {
    ln__omp_loop k = loop_at(took, share, 2);
    ln__omp_loop_end(&k);
}

START_TEST(omp_loops_pay_off_a_loss) {
    omp_set_num_threads(2);
    ln__omp_loop k;
    ln__omp_loop_reset();
    ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    end_loop(0.010, 100e-6); /* a loss, forgotten by a fresh account */
    ck_assert_int_eq(ln__omp_loop_go(&k), -1);
    ln__omp_loop_reset();
    ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    end_loop(0.010, 0.010); /* two wins: 20 ms earned */
    end_loop(0.010, 0.010);
    end_loop(0.010, 100e-6); /* a 9.8 ms loss, less than earned: owed once */
    ck_assert_int_eq(ln__omp_loop_go(&k), -1);
    pay(0.009);
    ck_assert_int_eq(ln__omp_loop_go(&k), -1);
    pay(0.001);
    ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    const double owed[2] = {0.0784, 0.1568}; /* nothing earned: 8x, then 16x */
    for (int r = 0; r < 2; r++) {
        end_loop(0.010, 100e-6);
        pay(owed[r] - 0.008);
        ck_assert_int_eq(ln__omp_loop_go(&k), -1);
        pay(0.010);
        ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    }
    end_loop(200e-6, 10e-6); /* 180 us over: a wake-up */
    ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    omp_set_num_threads(1);
    ck_assert_int_eq(ln__omp_loop_go(&k), 0);
    omp_set_num_threads(2);
    ck_assert_int_eq(ln__omp_loop_go(&k), 1);
    double start0 = 0;
#pragma omp parallel num_threads(2)
    {
        const double start = now_s() - (omp_get_thread_num() ? 0.001 : 0.005);
        if (omp_get_thread_num() == 0) start0 = start;
        ln__omp_loop_share_done(&k, start);
    }
    const int64_t share = atomic_load(&k.share_ns);
    ck_assert_int_eq(k.nt, omp_get_max_threads());
    ck_assert(k.t0 == start0);
    if (k.nt == 2) ck_assert_msg(share >= 1000000 && share < 4000000, "share %lld ns", (long long)share);
    omp_set_num_threads(1);
}
END_TEST

/* Split jobs (exp on 50k elements) and mirrored halves (3M, every other
** call): sums, axis sums and elementwise results bitwise equal to one
** thread's. */
START_TEST(split_and_mirrored_jobs_keep_the_bits) {
    const int64_t sizes[2] = {50003, 3000017};
    for (int k = 0; k < 2; k++) {
        const int64_t n = sizes[k], shape[1] = {n};
        ln_tensor *x = lt_uniform(1, shape, -1, 1, 11 + k);
        float *y1 = malloc((size_t)n * sizeof *y1), *y2 = malloc((size_t)n * sizeof *y2);
        float r1[1000], r2[1000];
        ck_assert(y1 && y2);
        omp_set_num_threads(1);
        double s1 = ln_sum(ln_f32(x), n);
        ln_unary(LN_U_EXP, y1, ln_f32(x), n);
        ln_reduce(LN_R_SUM, r1, ln_f32(x), 1, n / 1000, 1000);
        omp_set_num_threads(2);
        for (int turn = 0; turn < 4; turn++) {
            double s2 = ln_sum(ln_f32(x), n);
            ck_assert(memcmp(&s1, &s2, sizeof s1) == 0);
            memset(y2, 0, (size_t)n * sizeof *y2);
            ln_unary(LN_U_EXP, y2, ln_f32(x), n);
            ck_assert(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0);
            ln_reduce(LN_R_SUM, r2, ln_f32(x), 1, n / 1000, 1000);
            ck_assert(memcmp(r1, r2, sizeof r1) == 0);
        }
        free(y1);
        free(y2);
        ln_tensor_release(x);
    }
}
END_TEST

/* The helpers are started on first use; a child forked afterwards (which
** has none of them) starts its own and finishes. */
START_TEST(pool_survives_fork) {
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    ck_assert(x && y);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 1000) * 1e-3f;
    omp_set_num_threads(2);
    ln_unary(LN_U_TANH, y, x, N);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        alarm(60);
        ln_unary(LN_U_EXP, y, x, N);
        _exit(y[N - 1] == expf(x[N - 1]) || fabsf(y[N - 1] - expf(x[N - 1])) < 1e-6f ? 0 : 3);
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    free(x);
    free(y);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, unary_and_clamp);
    tcase_add_test(tc, exp_kernel_matches_vexpf);
    tcase_add_test(tc, tanh_and_sigmoid_kernels_match_vmath);
    tcase_add_test(tc, broadcasting);
    tcase_add_test(tc, arithmetic_loops_per_element);
    tcase_add_test(tc, reductions);
    tcase_add_test(tc, sum_rows_in_row_order);
    tcase_add_test(tc, softmax_rows);
    tcase_add_test(tc, thread_count_independence);
    tcase_add_test(tc, sum_accuracy);
    tcase_add_test(tc, sum_bits_follow_the_documented_order);
    tcase_add_test(tc, gather);
    tcase_add_test(tc, denormals_flushed_in_every_thread);
    tcase_add_test(tc, helpers_take_chunks);
    tcase_add_test(tc, split_jobs_cover_every_unit_once);
    tcase_add_test(tc, omp_loops_pay_off_a_loss);
    tcase_add_test(tc, split_and_mirrored_jobs_keep_the_bits);
    tcase_add_test(tc, pool_survives_fork);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
