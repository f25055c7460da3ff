/*
** test_gemm.c -- ln_gemm against a float64 reference: all transpose
** combinations, odd shapes, padded leading dimensions, alpha/beta, beta == 0
** over NaNs, the bias/fn epilogue, every kernel this CPU can run, and
** bitwise determinism between 1 and 2 threads; ln_gemm_ws (the caller's
** workspace) gives ln_gemm's bits, with enough and with too little room.
*/
#include <check.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lunet/gemm.h"
#include "lunet/kernels.h"

/* Test hook exported by core/gemm.c (not in the public header). */
LN_API int ln__gemm_force_kernel(const char *name);

static const char *const kernels[] = {"avx512", "avx2", "generic"};
#define NKERNELS 3

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd_u64(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static float rnd_f(void) { /* uniform in [-1, 1) */
    return (float)((double)(rnd_u64() >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}
static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }

static float *fill_new(int64_t count) {
    float *p = malloc((size_t)(count > 0 ? count : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < count; i++) p[i] = rnd_f();
    return p;
}

/* Leaky ReLU with the slope in *arg: the fn epilogue under test. Counts the
** elements it sees, so the test knows every element was visited once. */
static int64_t fn_seen;
static void leaky(float *x, int64_t len, const void *arg) {
    const float s = *(const float *)arg;
    for (int64_t i = 0; i < len; i++)
        if (x[i] < 0.0f) x[i] *= s;
#pragma omp atomic
    fn_seen += len;
}

typedef struct gcase {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    int use_bias, use_fn;
    int nan_c; /* fill C with NaN (only with beta == 0) */
} gcase;

/* Runs one case on the current kernel and thread count and checks it against
** the float64 reference. Returns the maximum error / tolerance ratio. */
static double run_case(const gcase *g) {
    const int64_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
    const int64_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
    ck_assert(g->lda >= ac && g->ldb >= bc && g->ldc >= g->n);
    float *a = fill_new(ar * g->lda), *b = fill_new(br * g->ldb);
    float *c = fill_new(g->m * g->ldc), *c0 = malloc(sizeof(float) *
                                                     (size_t)(g->m * g->ldc));
    float *bias = fill_new(g->n);
    ck_assert_ptr_nonnull(c0);
    if (g->nan_c)
        for (int64_t i = 0; i < g->m * g->ldc; i++) c[i] = NAN;
    memcpy(c0, c, sizeof(float) * (size_t)(g->m * g->ldc));
    const float slope = 0.125f;
    ln_gemm_epilogue epi = {g->use_bias ? bias : NULL,
                            g->use_fn ? leaky : NULL, &slope};
    fn_seen = 0;
    ln_gemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, g->lda, b, g->ldb,
            g->beta, c, g->ldc, (g->use_bias || g->use_fn) ? &epi : NULL);
    if (g->use_fn) ck_assert_int_eq(fn_seen, g->m * g->n);

    /* Check asserts write to a pipe each time: collect, then assert once. */
    double worst = 0.0;
    int64_t bad_i = -1, bad_j = -1, pad_i = -1, pad_j = -1;
    double bad_got = 0.0, bad_ref = 0.0, bad_tol = 0.0;
    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < g->n; j++) {
            double s = 0.0, sa = 0.0;
            for (int64_t q = 0; q < g->k; q++) {
                double x = g->ta ? a[q * g->lda + i] : a[i * g->lda + q];
                double y = g->tb ? b[j * g->ldb + q] : b[q * g->ldb + j];
                s += x * y;
                sa += fabs(x * y);
            }
            double ref = (double)g->alpha * s;
            double mag = fabs((double)g->alpha) * sa;
            if (g->beta != 0.0f) {
                ref += (double)g->beta * c0[i * g->ldc + j];
                mag += fabs((double)g->beta * c0[i * g->ldc + j]);
            }
            if (g->use_bias) {
                ref += bias[j];
                mag += fabs(bias[j]);
            }
            if (g->use_fn && ref < 0.0) ref *= slope;
            double got = c[i * g->ldc + j];
            double tol = (8.0 * sqrt((double)g->k) + 16.0) * FLT_EPSILON *
                             (mag + 1e-30);
            double r = fabs(got - ref) / tol;
            if (!(r <= worst)) { /* also catches NaN */
                worst = isnan(r) ? INFINITY : r;
                if (!(r <= 1.0) && bad_i < 0) {
                    bad_i = i;
                    bad_j = j;
                    bad_got = got;
                    bad_ref = ref;
                    bad_tol = tol;
                }
            }
        }
        /* Padding between rows of C is never touched. */
        for (int64_t j = g->n; j < g->ldc; j++) {
            float x = c[i * g->ldc + j], y = c0[i * g->ldc + j];
            if (memcmp(&x, &y, sizeof x) != 0 && pad_i < 0) {
                pad_i = i;
                pad_j = j;
            }
        }
    }
    ck_assert_msg(bad_i < 0,
                  "%s: C[%lld,%lld] = %.9g, want %.9g (tol %.3g) "
                  "ta=%d tb=%d m=%lld n=%lld k=%lld lda=%lld ldb=%lld "
                  "ldc=%lld alpha=%g beta=%g bias=%d fn=%d nan_c=%d",
                  ln_gemm_kernel_name(), (long long)bad_i, (long long)bad_j,
                  bad_got, bad_ref, bad_tol, g->ta, g->tb, (long long)g->m,
                  (long long)g->n, (long long)g->k, (long long)g->lda,
                  (long long)g->ldb, (long long)g->ldc, (double)g->alpha,
                  (double)g->beta, g->use_bias, g->use_fn, g->nan_c);
    ck_assert_msg(pad_i < 0, "C padding overwritten at [%lld,%lld]",
                  (long long)pad_i, (long long)pad_j);
    free(a);
    free(b);
    free(c);
    free(c0);
    free(bias);
    return worst;
}

static const int64_t sizes[] = {1, 2, 3, 7, 15, 17, 31, 33, 64, 65, 127, 300, 784};
#define NSIZES ((int)(sizeof sizes / sizeof *sizes))

static void random_case(gcase *g, int ta, int tb, double max_work) {
    do {
        g->m = sizes[rnd_int(NSIZES)];
        g->n = sizes[rnd_int(NSIZES)];
        g->k = sizes[rnd_int(NSIZES)];
    } while ((double)g->m * g->n * g->k > max_work);
    g->ta = ta;
    g->tb = tb;
    static const int64_t pads[] = {0, 0, 1, 3, 16};
    g->lda = (ta ? g->m : g->k) + pads[rnd_int(5)];
    g->ldb = (tb ? g->k : g->n) + pads[rnd_int(5)];
    g->ldc = g->n + pads[rnd_int(5)];
    static const float alphas[] = {1.0f, -0.75f, 1.5f};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    g->alpha = alphas[rnd_int(3)];
    g->beta = betas[rnd_int(3)];
    g->nan_c = g->beta == 0.0f && rnd_int(2);
    g->use_bias = rnd_int(3) == 0;
    g->use_fn = rnd_int(3) == 0;
}

/* Each test runs on every kernel the CPU supports; the default is restored. */
#define FOR_EACH_KERNEL(kv)                                                    \
    for (int kv = 0; kv < NKERNELS; kv++)                                      \
        if (ln__gemm_force_kernel(kernels[kv]) == 0)

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_kernel_name) {
    ln_cpu_init();
    const char *name = ln_gemm_kernel_name();
    ck_assert(!strcmp(name, "avx512") || !strcmp(name, "avx2") ||
              !strcmp(name, "generic"));
    ck_assert_int_eq(ln__gemm_force_kernel("generic"), 0);
    ck_assert_str_eq(ln_gemm_kernel_name(), "generic");
    ck_assert_int_eq(ln__gemm_force_kernel("no-such-kernel"), -1);
    ck_assert_str_eq(ln_gemm_kernel_name(), "generic");
    ck_assert_int_eq(ln__gemm_force_kernel(NULL), 0);
    ck_assert_str_eq(ln_gemm_kernel_name(), name);
}
END_TEST

/* Random shapes from `sizes` for one transpose combination (_i = ta*2+tb). */
START_TEST(test_random_shapes) {
    const int ta = _i >> 1, tb = _i & 1;
    rng_state ^= (uint64_t)(_i + 1) * 0x5851F42D4C957F2Dull;
    FOR_EACH_KERNEL(kv) {
        for (int t = 0; t < 40; t++) {
            gcase g;
            random_case(&g, ta, tb, kv == 2 ? 4e5 : 2e6);
            run_case(&g);
        }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* Every small size on each axis, one axis at a time (edges of the tiles). */
START_TEST(test_edges) {
    static const int64_t small[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24,
                                    25, 31, 32, 33, 47, 48, 49, 63, 65, 97};
    const int ns = (int)(sizeof small / sizeof *small);
    FOR_EACH_KERNEL(kv) {
        for (int ab = 0; ab < 4; ab++)
            for (int axis = 0; axis < 3; axis++)
                for (int s = 0; s < ns; s++) {
                    gcase g = {ab >> 1, ab & 1, 19, 37, 29, 0, 0, 0,
                               0.5f, 0.5f, 1, 0, 0};
                    if (axis == 0) g.m = small[s];
                    if (axis == 1) g.n = small[s];
                    if (axis == 2) g.k = small[s];
                    g.lda = (g.ta ? g.m : g.k) + 2;
                    g.ldb = (g.tb ? g.k : g.n) + 1;
                    g.ldc = g.n + 5;
                    run_case(&g);
                }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* The Dense-layer products at batch 32 and 128, every packing path. */
START_TEST(test_dense_shapes) {
    static const int64_t layers[][2] = {{784, 300}, {300, 100}, {100, 10},
                                        {784, 250}};
    static const int64_t batches[] = {32, 128};
    for (int l = 0; l < 4; l++)
        for (int bi = 0; bi < 2; bi++) {
            const int64_t B = batches[bi], in = layers[l][0],
                          out = layers[l][1];
            /* forward Y = X W + b, then f: W stored [in x out] */
            gcase f = {0, 0, B, out, in, in, out, out, 1.0f, 0.0f, 1, 1, 1};
            run_case(&f);
            /* dW += X^T dY */
            gcase w = {1, 0, in, out, B, in, out, out, 1.0f, 1.0f, 0, 0, 0};
            run_case(&w);
            /* dX = dY W^T */
            gcase x = {0, 1, B, in, out, out, out, in, 1.0f, 0.0f, 0, 0, 1};
            run_case(&x);
        }
}
END_TEST

START_TEST(test_beta_zero_nan) {
    FOR_EACH_KERNEL(kv) {
        for (int ab = 0; ab < 4; ab++) {
            gcase g = {ab >> 1, ab & 1, 130, 99, 70, 0, 0, 0,
                       -1.25f, 0.0f, ab & 1, 0, 1};
            g.lda = (g.ta ? g.m : g.k) + 7;
            g.ldb = (g.tb ? g.k : g.n) + 7;
            g.ldc = g.n + 7;
            run_case(&g);
            g.m = 5;
            g.n = 3;
            run_case(&g);
        }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* alpha == 0 or k == 0: C = beta*C (+ epilogue); A and B unread. */
START_TEST(test_degenerate) {
    float c[6] = {1, 2, 3, 4, 5, 6};
    float bias[3] = {10, 20, 30};
    const float slope = 0.5f;
    ln_gemm_epilogue epi = {bias, NULL, &slope};
    ln_gemm(0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, c, 3, &epi);
    const float want[6] = {12, 24, 36, 18, 30, 42};
    for (int i = 0; i < 6; i++) ck_assert_float_eq(c[i], want[i]);
    float d[4] = {NAN, NAN, NAN, NAN};
    float a[4] = {NAN, NAN, NAN, NAN};
    ln_gemm(1, 1, 2, 2, 2, 0.0f, a, 2, a, 2, 0.0f, d, 2, NULL);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(d[i], 0.0f);
    /* m == 0 or n == 0: nothing happens (and nothing is read). */
    ln_gemm(0, 0, 0, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 3, NULL);
    ln_gemm(0, 0, 3, 0, 4, 1.0f, NULL, 4, NULL, 1, 0.0f, NULL, 1, NULL);
    /* The epilogue with only fn. */
    float e[2] = {-4, 4};
    ln_gemm_epilogue ef = {NULL, leaky, &slope};
    fn_seen = 0;
    ln_gemm(0, 0, 1, 2, 0, 1.0f, NULL, 1, NULL, 2, 1.0f, e, 2, &ef);
    ck_assert_float_eq(e[0], -2.0f);
    ck_assert_float_eq(e[1], 4.0f);
    ck_assert_int_eq(fn_seen, 2);
}
END_TEST

/* Same bits for 1 and 2 threads, on shapes large enough to go parallel. */
START_TEST(test_determinism) {
    /* Most are above the flop count where ln_gemm goes parallel (20 MFLOP
    ** for the AVX-512 kernel): row chunks, column chunks, C^T, packed B up
    ** front, row chunks because A is packed (ta) or above 1 MiB (700 x
    ** 400), a grid of row and column chunks (A and B both above 1 MiB,
    ** ragged edges); two stay serial. */
    static const int64_t shapes[][3] = {
        {48, 300, 784},  {784, 500, 32},   {64, 784, 300}, {128, 300, 784},
        {300, 127, 65},  {257, 259, 400},  {1000, 100, 300}, {31, 1001, 97},
        {800, 70, 200},  {130, 1100, 90},  {700, 250, 400}, {522, 601, 520}};
    const int ns = (int)(sizeof shapes / sizeof *shapes);
    const int saved = omp_get_max_threads();
    FOR_EACH_KERNEL(kv) {
        for (int s = 0; s < ns; s++)
            for (int ab = 0; ab < 4; ab++) {
                const int ta = ab >> 1, tb = ab & 1;
                const int64_t m = shapes[s][0], n = shapes[s][1],
                              k = shapes[s][2];
                const int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 3,
                              ldc = n + 2;
                float *a = fill_new((ta ? k : m) * lda);
                float *b = fill_new((tb ? n : k) * ldb);
                float *bias = fill_new(n);
                float *c1 = fill_new(m * ldc);
                float *c2 = malloc(sizeof(float) * (size_t)(m * ldc));
                ck_assert_ptr_nonnull(c2);
                memcpy(c2, c1, sizeof(float) * (size_t)(m * ldc));
                const float slope = 0.01f;
                ln_gemm_epilogue epi = {bias, leaky, &slope};
                const float beta = (s & 1) ? 0.5f : 0.0f;
                omp_set_num_threads(1);
                ln_gemm(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c1, ldc,
                        &epi);
                omp_set_num_threads(2);
                ln_gemm(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c2, ldc,
                        &epi);
                ck_assert_msg(!memcmp(c1, c2, sizeof(float) * (size_t)(m * ldc)),
                              "%s: 1 and 2 threads differ: ta=%d tb=%d m=%lld "
                              "n=%lld k=%lld",
                              ln_gemm_kernel_name(), ta, tb, (long long)m,
                              (long long)n, (long long)k);
                free(a);
                free(b);
                free(bias);
                free(c1);
                free(c2);
            }
    }
    omp_set_num_threads(saved);
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* Row i of C depends only on row i of op(A): the first rows of an (m+1)-row
** product equal an m-row product bit for bit, across the size thresholds
** where the code changes strategy (B packed or not, C^T solved instead). */
START_TEST(test_rows_independent) {
    static const int64_t ms[] = {7, 64, 127, 128, 129};
    FOR_EACH_KERNEL(kv) {
        for (int ab = 0; ab < 4; ab++)
            for (int mi = 0; mi < 5; mi++) {
                const int ta = ab >> 1, tb = ab & 1;
                const int64_t m = ms[mi], n = 300, k = 100;
                const int64_t M = m + 1; /* the bigger product */
                const int64_t lda = ta ? M : k, ldb = tb ? k : n;
                float *a = fill_new((ta ? k : M) * lda);
                float *b = fill_new((tb ? n : k) * ldb);
                float *bias = fill_new(n);
                float *c1 = fill_new(M * n);
                float *c2 = malloc(sizeof(float) * (size_t)(M * n));
                ck_assert_ptr_nonnull(c2);
                memcpy(c2, c1, sizeof(float) * (size_t)(M * n));
                ln_gemm_epilogue epi = {bias, NULL, NULL};
                ln_gemm(ta, tb, M, n, k, 0.75f, a, lda, b, ldb, 0.5f, c1, n,
                        &epi);
                ln_gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, c2, n,
                        &epi);
                ck_assert_msg(!memcmp(c1, c2, sizeof(float) * (size_t)(m * n)),
                              "%s: rows differ between m=%lld and m=%lld "
                              "(ta=%d tb=%d)",
                              ln_gemm_kernel_name(), (long long)m,
                              (long long)M, ta, tb);
                free(a);
                free(b);
                free(bias);
                free(c1);
                free(c2);
            }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* A 2-thread run of the random cases (the threaded split is checked too). */
START_TEST(test_two_threads_correct) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(2);
    for (int ab = 0; ab < 4; ab++) {
        gcase g = {ab >> 1, ab & 1, 301, 157, 333, 0, 0, 0, 0.9f, 0.5f, 1, 1, 0};
        g.lda = (g.ta ? g.m : g.k) + 4;
        g.ldb = (g.tb ? g.k : g.n) + 4;
        g.ldc = g.n + 4;
        run_case(&g);
        g.m = 33; /* C^T */
        g.n = 1500;
        g.lda = (g.ta ? g.m : g.k) + 1;
        g.ldb = (g.tb ? g.k : g.n) + 1;
        g.ldc = g.n + 1;
        run_case(&g);
        g.m = 800; /* narrow: row chunks sharing a B packed up front */
        g.n = 70;
        g.k = 200;
        g.lda = (g.ta ? g.m : g.k) + 2;
        g.ldb = (g.tb ? g.k : g.n) + 2;
        g.ldc = g.n + 2;
        run_case(&g);
    }
    omp_set_num_threads(saved);
}
END_TEST

/* Operands that end right before an inaccessible page: a kernel that loads
** past the last element (of B's rows, A's columns, C, bias) faults. */
typedef struct guarded {
    void *map;
    size_t maplen;
    float *p;
} guarded;

static guarded guarded_new(int64_t count) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = (size_t)count * sizeof(float);
    guarded g;
    g.maplen = (bytes + page - 1) / page * page + page;
    g.map = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(g.map != MAP_FAILED);
    char *guard = (char *)g.map + g.maplen - page;
    ck_assert_int_eq(mprotect(guard, page, PROT_NONE), 0);
    g.p = (float *)(guard - bytes);
    for (int64_t i = 0; i < count; i++) g.p[i] = rnd_f();
    return g;
}

START_TEST(test_no_overread) {
    static const int64_t dims[][3] = {{1, 1, 1},  {3, 5, 7},    {9, 17, 13},
                                      {8, 47, 5}, {17, 33, 65}, {130, 49, 3},
                                      {5, 200, 9}};
    const int nd = (int)(sizeof dims / sizeof *dims);
    FOR_EACH_KERNEL(kv) {
        for (int d = 0; d < nd; d++)
            for (int ab = 0; ab < 4; ab++) {
                const int ta = ab >> 1, tb = ab & 1;
                const int64_t m = dims[d][0], n = dims[d][1], k = dims[d][2];
                guarded a = guarded_new(m * k), b = guarded_new(k * n),
                        c = guarded_new(m * n), bias = guarded_new(n);
                ln_gemm_epilogue epi = {bias.p, NULL, NULL};
                ln_gemm(ta, tb, m, n, k, 1.0f, a.p, ta ? m : k, b.p,
                        tb ? k : n, 0.5f, c.p, n, &epi);
                munmap(a.map, a.maplen);
                munmap(b.map, b.maplen);
                munmap(c.map, c.maplen);
                munmap(bias.map, bias.maplen);
            }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

/* FTZ and DAZ are on in this thread and in the OpenMP threads. */
START_TEST(test_ftz_daz) {
#if defined(__x86_64__)
    ln_cpu_init();
    ln_cpu_init(); /* safe to repeat */
    int ok = 1;
#pragma omp parallel reduction(& : ok)
    {
        unsigned csr = __builtin_ia32_stmxcsr();
        ok = ok & ((csr & 0x8040u) == 0x8040u);
    }
    ck_assert(ok);
    volatile float tiny = 1e-39f; /* a denormal, read as 0 under DAZ */
    volatile float r = tiny * 1.0f;
    ck_assert_float_eq(r, 0.0f);
#endif
}
END_TEST

/* ln_gemm_ws: the same bits as ln_gemm (which may go parallel) for every
** transpose combination, on the convolution's wgrad shapes and others,
** with the workspace it asks for (NaN-filled first: it must not read
** stale floats as data) and with too little (the ln_gemm fallback). */
START_TEST(test_ws_same_bits) {
    static const int64_t shapes[][3] = {
        {128, 288, 256}, {256, 384, 256}, {64, 144, 256}, {7, 50, 33},
        {300, 127, 65},  {31, 1001, 97},  {130, 96, 100}, {16, 49, 1}};
    const int ns = (int)(sizeof shapes / sizeof *shapes);
    FOR_EACH_KERNEL(kv) {
        for (int s = 0; s < ns; s++)
            for (int ab = 0; ab < 4; ab++) {
                const int ta = ab >> 1, tb = ab & 1;
                const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                const int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 3, ldc = n + 2;
                float *a = fill_new((ta ? k : m) * lda);
                float *b = fill_new((tb ? n : k) * ldb);
                float *bias = fill_new(n);
                float *c1 = fill_new(m * ldc);
                float *c2 = malloc(sizeof(float) * (size_t)(m * ldc));
                float *c3 = malloc(sizeof(float) * (size_t)(m * ldc));
                ck_assert_ptr_nonnull(c2);
                ck_assert_ptr_nonnull(c3);
                memcpy(c2, c1, sizeof(float) * (size_t)(m * ldc));
                memcpy(c3, c1, sizeof(float) * (size_t)(m * ldc));
                const size_t wf = ln_gemm_ws_floats(ta, tb, m, n, k);
                float *ws = wf ? malloc(wf * sizeof(float)) : NULL;
                for (size_t i = 0; i < wf; i++) ws[i] = NAN;
                const float slope = 0.01f;
                ln_gemm_epilogue epi = {bias, leaky, &slope};
                const float beta = (s & 1) ? 0.5f : 0.0f;
                ln_gemm(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c1, ldc, &epi);
                ln_gemm_ws(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c2, ldc, &epi,
                           ws, wf);
                ln_gemm_ws(ta, tb, m, n, k, 0.7f, a, lda, b, ldb, beta, c3, ldc, &epi,
                           ws, wf ? wf - 1 : 0);
                ck_assert_msg(!memcmp(c1, c2, sizeof(float) * (size_t)(m * ldc)) &&
                                  !memcmp(c1, c3, sizeof(float) * (size_t)(m * ldc)),
                              "%s: ln_gemm_ws differs from ln_gemm: ta=%d tb=%d m=%lld "
                              "n=%lld k=%lld ws=%zu",
                              ln_gemm_kernel_name(), ta, tb, (long long)m, (long long)n,
                              (long long)k, wf);
                free(ws);
                free(a);
                free(b);
                free(bias);
                free(c1);
                free(c2);
                free(c3);
            }
    }
    ln__gemm_force_kernel(NULL);
}
END_TEST

static Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 1200); /* a hang guard only (sanitized builds are slow) */
    tcase_add_test(tc, test_kernel_name);
    tcase_add_loop_test(tc, test_random_shapes, 0, 4);
    tcase_add_test(tc, test_edges);
    tcase_add_test(tc, test_dense_shapes);
    tcase_add_test(tc, test_beta_zero_nan);
    tcase_add_test(tc, test_degenerate);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_rows_independent);
    tcase_add_test(tc, test_two_threads_correct);
    tcase_add_test(tc, test_no_overread);
    tcase_add_test(tc, test_ftz_daz);
    tcase_add_test(tc, test_ws_same_bits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(gemm_suite());
    /* No fork: liblunet starts the OpenMP pool when it loads (ln_cpu_init),
    ** and libgomp's pool does not survive fork -- a forked test would hang
    ** in its first parallel region. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
