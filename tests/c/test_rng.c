/* Philox fills: reproducible, thread-count independent, right statistics. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 1000003

static void moments(const float *x, int64_t n, double *mean, double *var) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *var = q / (double)n;
}

START_TEST(same_for_any_thread_count) {
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int kind = 0; kind < 3; kind++) {
        ln_rng r1 = {123, 0}, r2 = {123, 0};
        omp_set_num_threads(1);
        if (kind == 0) ln_rng_uniform(&r1, a, N, -1, 1);
        if (kind == 1) ln_rng_normal(&r1, a, N, 0, 1);
        if (kind == 2) ln_rng_truncated_normal(&r1, a, N, 0, 1);
        omp_set_num_threads(2);
        if (kind == 0) ln_rng_uniform(&r2, b, N, -1, 1);
        if (kind == 1) ln_rng_normal(&r2, b, N, 0, 1);
        if (kind == 2) ln_rng_truncated_normal(&r2, b, N, 0, 1);
        ck_assert(memcmp(a, b, N * sizeof *a) == 0);
        ck_assert(r1.counter == r2.counter && r1.counter >= (N + 3) / 4);
    }
    free(a);
    free(b);
}
END_TEST

START_TEST(statistics) {
    float *x = malloc(N * sizeof *x);
    ln_rng r = {7, 0};
    double m, v;
    ln_rng_uniform(&r, x, N, -2, 4);
    moments(x, N, &m, &v);
    ck_assert_double_eq_tol(m, 1, 0.01);
    ck_assert_double_eq_tol(v, 3, 0.02); /* 36/12 */
    for (int64_t i = 0; i < N; i++) ck_assert(x[i] >= -2 && x[i] < 4);
    ln_rng_normal(&r, x, N, 1, 2);
    moments(x, N, &m, &v);
    ck_assert_double_eq_tol(m, 1, 0.01);
    ck_assert_double_eq_tol(v, 4, 0.03);
    ln_rng_truncated_normal(&r, x, N, 0, 1);
    moments(x, N, &m, &v);
    ck_assert_double_eq_tol(m, 0, 0.005);
    /* variance of a unit normal truncated at +-2 is 0.87962566^2 */
    ck_assert_double_eq_tol(v, 0.87962566103423978 * 0.87962566103423978, 0.005);
    for (int64_t i = 0; i < N; i++) ck_assert(fabsf(x[i]) <= 2);
    free(x);
}
END_TEST

START_TEST(seeds_and_permutations) {
    ln_rng a = {1, 0}, b = {1, 0}, c = {2, 0};
    ck_assert(ln_rng_u64(&a) == ln_rng_u64(&b));
    ck_assert(ln_rng_u64(&a) != ln_rng_u64(&c));
    int64_t p[1000];
    int seen[1000] = {0};
    ln_rng_permutation(&a, p, 1000);
    for (int i = 0; i < 1000; i++) seen[p[i]]++;
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(seen[i], 1);
    ln_rng_seed(&b, 1);
    ck_assert(b.counter == 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_set_timeout(tc, 1200); /* a hang guard only (sanitized builds are slow) */
    tcase_add_test(tc, same_for_any_thread_count);
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, seeds_and_permutations);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
