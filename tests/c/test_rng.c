/* Philox fills: reproducible, thread-count independent, right statistics. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
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

/* Philox4x32-10 written out from the paper (Salmon et al., SC'11): the
** reference the library's scalar and vector paths must both equal. */
static void philox_ref(const uint32_t in[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {in[0], in[1], in[2], in[3]}, k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k0, (uint32_t)p1,
                         (uint32_t)(p0 >> 32) ^ c[3] ^ k1, (uint32_t)p0};
        memcpy(c, n, sizeof c);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof c);
}

START_TEST(philox_known_answers) {
    /* Random123's kat_vectors: counter, key, result */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        philox_ref(kat[v], kat[v] + 4, out);
        ck_assert(memcmp(out, kat[v] + 6, sizeof out) == 0);
    }
}
END_TEST

/* A uniform fill, value by value: the block of counter words
** {counter + i / 4 (64 bits), 0, 1 (the uniform stream's tag)}, word i % 4,
** its top 24 bits scaled into [lo, hi). Checked on lengths around the
** vector path's 64-value groups, counters whose low word wraps inside a
** group, and 1 and 2 threads. */
START_TEST(uniform_fill_is_philox) {
    static const int64_t lens[] = {0, 1, 3, 4, 5, 63, 64, 65, 100, 1000, 4099};
    static const uint64_t seeds[] = {0, 123, UINT64_MAX};
    static const uint64_t ctrs[] = {0, 5, 0xFFFFFFF5u, (uint64_t)1 << 63};
    static const float range[][2] = {{0, 1}, {-1, 1}, {-2, 4}, {1, 1.0000002f}};
    float *y = malloc(4099 * sizeof *y);
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        for (size_t a = 0; a < sizeof seeds / sizeof *seeds; a++)
            for (size_t b = 0; b < sizeof ctrs / sizeof *ctrs; b++)
                for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
                    const int64_t n = lens[c];
                    const float lo = range[c % 4][0], hi = range[c % 4][1];
                    ln_rng r = {seeds[a], ctrs[b]};
                    ln_rng_uniform(&r, y, n, lo, hi);
                    ck_assert(r.counter == ctrs[b] + (uint64_t)((n + 3) / 4));
                    int64_t i = 0; /* the first difference (one check: each writes a file) */
                    float v = 0;
                    for (; i < n; i++) {
                        const uint64_t ctr = ctrs[b] + (uint64_t)(i / 4);
                        const uint32_t in[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 1};
                        const uint32_t key[2] = {(uint32_t)seeds[a], (uint32_t)(seeds[a] >> 32)};
                        uint32_t w[4];
                        philox_ref(in, key, w);
                        v = lo + (hi - lo) * ((float)(w[i % 4] >> 8) * 0x1p-24f);
                        v = v < hi ? v : lo;
                        if (memcmp(&v, &y[i], sizeof v) != 0) break;
                    }
                    ck_assert_msg(i == n, "seed %zu counter %zu n %lld at %lld: %.9g vs %.9g", a, b,
                                  (long long)n, (long long)i, i < n ? y[i] : 0, v);
                }
    }
    free(y);
}
END_TEST

/* A normal fill, value by value: block {counter + i / 4, 0, 2 (the normal
** stream's tag)}, Box-Muller in double through libm on words (0, 1) and
** (2, 3) -- ((w + 1) 2^-32, w' 2^-32) to rad cos th, rad sin th -- then
** (float)(mean + std z). The vector path computes log, sin and cos with
** glibc's vector functions and must still give these floats bit for bit:
** lengths around its 64-value groups, a wrapping counter, 1 and 2 threads,
** a fill of 2^20 + 5 values per seed, and NaN / inf / zero std (which no
** vector value is sure of: the scalar fallback). Half the cases fill a
** truncated normal instead (truncated_ref). */
static float normal_ref(uint64_t seed, uint64_t ctr0, int64_t i, float mean, float std) {
    const uint64_t ctr = ctr0 + (uint64_t)(i / 4);
    const uint32_t in[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 2};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t w[4];
    philox_ref(in, key, w);
    const int j = (int)(i % 4), p = j / 2 * 2;
    double u1 = ((double)w[p] + 1.0) * 0x1p-32, u2 = (double)w[p + 1] * 0x1p-32;
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    double z = j % 2 ? rad * sin(th) : rad * cos(th);
    double sz = (double)std * z;
    return (float)((double)mean + sz);
}

/* A truncated normal fill, value by value: value i draws block {counter +
** i, retry, 3 (the truncated stream's tag)} for retry 0, 1, ... and keeps
** the first z = rad cos th (words 0 and 1) with |z| <= 2. The vector path
** keeps first draws it is sure of and redoes the rest. */
static float truncated_ref(uint64_t seed, uint64_t ctr0, int64_t i, float mean, float std) {
    const uint64_t ctr = ctr0 + (uint64_t)i;
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    double z;
    uint32_t retry = 0;
    do {
        const uint32_t in[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), retry++, 3};
        uint32_t w[4];
        philox_ref(in, key, w);
        double u1 = ((double)w[0] + 1.0) * 0x1p-32, u2 = (double)w[1] * 0x1p-32;
        z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    } while (fabs(z) > 2.0);
    double sz = (double)std * z;
    return (float)((double)mean + sz);
}

START_TEST(normal_fill_is_box_muller) {
    static const int64_t lens[] = {1, 3, 4, 5, 63, 64, 65, 127, 128, 1000, 4099, (1 << 20) + 5};
    static const uint64_t seeds[] = {0, 123, UINT64_MAX};
    static const uint64_t ctrs[] = {0, 0xFFFFFFF5u};
    static const float ms[][2] = {{0, 1}, {1, 2}, {-3, 0.01f}, {1e30f, 1e25f},
                                  {0, 0}, {2, NAN}, {0, INFINITY}, {0.5f, 1e-30f}};
    float *y = malloc(((1 << 20) + 5) * sizeof *y);
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        for (size_t a = 0; a < sizeof seeds / sizeof *seeds; a++)
            for (size_t b = 0; b < sizeof ctrs / sizeof *ctrs; b++)
                for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
                    const int64_t n = lens[c];
                    const float mean = ms[(a + c) % 8][0], std = ms[(a + c) % 8][1];
                    const int trunc = (int)((a + b + c) % 2);
                    ln_rng r = {seeds[a], ctrs[b]};
                    if (trunc) ln_rng_truncated_normal(&r, y, n, mean, std);
                    else ln_rng_normal(&r, y, n, mean, std);
                    ck_assert(r.counter == ctrs[b] + (uint64_t)(trunc ? n : (n + 3) / 4));
                    int64_t i = 0; /* the first difference (one check: each writes a file) */
                    float v = 0;
                    for (; i < n; i++) {
                        v = trunc ? truncated_ref(seeds[a], ctrs[b], i, mean, std)
                                  : normal_ref(seeds[a], ctrs[b], i, mean, std);
                        if (memcmp(&v, &y[i], sizeof v) != 0 && !(isnan(v) && isnan(y[i]))) break;
                    }
                    ck_assert_msg(i == n, "%s seed %zu counter %zu n %lld at %lld: %.9g vs %.9g",
                                  trunc ? "truncated" : "normal", a, b, (long long)n, (long long)i,
                                  i < n ? y[i] : 0, v);
                }
    }
    free(y);
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

/* Permutations draw in bulk (16 Philox blocks at a time): the same
** Fisher-Yates swaps as drawing ln_rng_u64 one by one, and the same
** counter after, around the 16- and 256-draw edges. */
START_TEST(permutation_is_fisher_yates) {
    static const int64_t lens[] = {0, 1, 2, 16, 17, 18, 255, 256, 257, 258, 1000, 4099};
    int64_t *p = malloc(4099 * sizeof *p), *q = malloc(4099 * sizeof *q);
    for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
        const int64_t n = lens[c];
        ln_rng a = {77, 0xFFFFFFF0u}, b = a;
        ln_rng_permutation(&a, p, n);
        for (int64_t i = 0; i < n; i++) q[i] = i;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(((unsigned __int128)ln_rng_u64(&b) * (uint64_t)(i + 1)) >> 64);
            int64_t t = q[i];
            q[i] = q[j];
            q[j] = t;
        }
        ck_assert_msg(n == 0 || memcmp(p, q, (size_t)n * sizeof *p) == 0, "n %lld", (long long)n);
        ck_assert(a.counter == b.counter);
    }
    free(p);
    free(q);
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
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, uniform_fill_is_philox);
    tcase_add_test(tc, normal_fill_is_box_muller);
    tcase_add_test(tc, same_for_any_thread_count);
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, seeds_and_permutations);
    tcase_add_test(tc, permutation_is_fisher_yates);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
