/*
** test_reduce_paths.c -- core/kernels_reduce.c compiled here a second time
** without the per-CPU paths (LN_NO_CLONES: the generic C a CPU without
** AVX-512 runs), as ln_reduce_generic, against the library's ln_reduce
** (the AVX-512 path on such a machine): the same bits for sums, means and
** extremes (same lanes, same order), var/std within 2 ulp (this copy is
** compiled without the library's -ffp-contract=off). On a machine without
** AVX-512 both are the generic code, and the test still checks them.
*/
#define LN_NO_CLONES 1
#define ln_reduce ln_reduce_generic
#include "../../core/kernels_reduce.c"
#undef ln_reduce

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

LN_API void ln_reduce(ln_reduce_op op, float *y, const float *x,
                      int64_t outer, int64_t len, int64_t inner);

static int ulps(float a, float b) {
    if (a == b || (a != a && b != b)) return 0;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return abs(ia - ib);
}

START_TEST(generic_and_vector_paths_agree) {
    static const int64_t shapes[][3] = {
        {1, 1000, 1}, {7, 33, 1}, {3, 129, 1},  {1, 5, 1000}, {2, 100, 65},
        {4, 7, 300},  {1, 3, 2000}, {9, 64, 31}, {2, 1, 70},  {1000, 17, 1},
        /* the float32 runs: rows over several 512-element runs with a partial
        ** last group, columns over whole and partial 8-row runs */
        {2, 1537, 1}, {3, 64, 1},   {5, 8, 16},  {3, 23, 48}, {1, 17, 1023},
        /* column sums over several groups of RED_GROUP rows, the last one
        ** partial; the last two are shared by groups (sum_by_groups) */
        {2, 300, 65}, {1, 129, 17}, {1, 1000, 200}, {3, 700, 1100},
        /* short rows (16 lanes): up to, at and past a run's first 64 */
        {9, 100, 1}, {4, 128, 1}, {6, 65, 1}, {3, 129, 1}, {5, 1, 1}};
    static const ln_reduce_op ops[] = {LN_R_SUM,    LN_R_MEAN,   LN_R_MAX,
                                       LN_R_MIN,    LN_R_ARGMAX, LN_R_ARGMIN,
                                       LN_R_VAR,    LN_R_STD};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t outer = shapes[s][0], len = shapes[s][1], inner = shapes[s][2];
        int64_t shape[1] = {outer * len * inner};
        ln_tensor *x = lt_uniform(1, shape, -3, 5, 40 + s);
        float *p = ln_f32(x);
        /* ties, a NaN and signed zeros in some rows */
        if (shape[0] > 50) {
            p[3] = p[40] = 7.0f;
            p[10] = -0.0f;
            p[11] = 0.0f;
        }
        if (s % 3 == 1) p[shape[0] / 2] = NAN;
        float *a = malloc(sizeof(float) * (size_t)(outer * inner));
        float *b = malloc(sizeof(float) * (size_t)(outer * inner));
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
            ln_reduce(ops[k], a, p, outer, len, inner);
            ln_reduce_generic(ops[k], b, p, outer, len, inner);
            for (int64_t i = 0; i < outer * inner; i++) {
                if (ops[k] == LN_R_VAR || ops[k] == LN_R_STD)
                    ck_assert_msg(ulps(a[i], b[i]) <= 2, "op %d shape %zu at %ld: %.9g vs %.9g",
                                  (int)ops[k], s, (long)i, a[i], b[i]);
                else
                    ck_assert_msg(memcmp(&a[i], &b[i], 4) == 0,
                                  "op %d shape %zu at %ld: %.9g vs %.9g", (int)ops[k], s,
                                  (long)i, a[i], b[i]);
            }
        }
        free(a);
        free(b);
        ln_tensor_release(x);
    }
}
END_TEST

/* sum_by_groups (the groups of rows shared out) against the column blocks
** walked one by one (cols_range): the same bits, also with a short last
** group and column blocks wider than RED_COLS */
START_TEST(row_groups_and_column_blocks_agree) {
    static const int64_t shapes[][3] = {{1, 1000, 200}, {3, 257, 40},
                                        {1, 130, 2500}, {2, 300, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t outer = shapes[s][0], len = shapes[s][1], inner = shapes[s][2];
        int64_t shape[1] = {outer * len * inner};
        ln_tensor *x = lt_uniform(1, shape, -3, 5, 70 + s);
        float *a = malloc(sizeof(float) * (size_t)(outer * inner));
        float *b = malloc(sizeof(float) * (size_t)(outer * inner));
        for (int mean = 0; mean < 2; mean++) {
            const ln_reduce_op op = mean ? LN_R_MEAN : LN_R_SUM;
            red_job g = {op, a, ln_f32(x), outer, len, inner, 0, 0};
            ck_assert(sum_by_groups(&g));
            red_job c = {op, b, ln_f32(x), outer, len, inner, RED_COLS,
                         (inner + RED_COLS - 1) / RED_COLS};
            cols_range(&c, 0, outer * c.nblk);
            for (int64_t i = 0; i < outer * inner; i++)
                ck_assert_msg(memcmp(&a[i], &b[i], 4) == 0, "op %d shape %zu at %ld: %.9g vs %.9g",
                              (int)op, s, (long)i, a[i], b[i]);
        }
        free(a);
        free(b);
        ln_tensor_release(x);
    }
}
END_TEST

/* A unit axis (len 1): every output is its one element -- x + 0 for a
** sum or mean (-0 gives +0, a NaN stays NaN), x itself for an extreme,
** position 0, variance 0 (NaN for a NaN) -- on 1 and 2 threads, rows and
** columns alike. */
START_TEST(unit_axis_gives_the_elements) {
    static const int64_t shapes[][2] = {{3, 700}, {70000, 1}, {1, 300000}};
    static const ln_reduce_op ops[] = {LN_R_SUM,    LN_R_MEAN,   LN_R_MAX, LN_R_MIN,
                                       LN_R_ARGMAX, LN_R_ARGMIN, LN_R_VAR, LN_R_STD};
    for (int threads = 1; threads <= 2; threads++) {
        ln_set_num_threads(threads);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int64_t outer = shapes[s][0], inner = shapes[s][1], n = outer * inner;
            int64_t shape[1] = {n};
            ln_tensor *x = lt_uniform(1, shape, -3, 5, 90 + s);
            float *p = ln_f32(x);
            p[1] = -0.0f;
            p[2] = NAN;
            p[n - 1] = -INFINITY;
            float *y = malloc(sizeof(float) * (size_t)n);
            for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
                ln_reduce(ops[k], y, p, outer, 1, inner);
                for (int64_t i = 0; i < n; i++) {
                    const float v = p[i];
                    float want;
                    switch (ops[k]) {
                    case LN_R_SUM:
                    case LN_R_MEAN: want = v + 0.0f; break;
                    case LN_R_MAX:
                    case LN_R_MIN: want = v; break;
                    case LN_R_VAR:
                    case LN_R_STD: want = v - v; break; /* 0, NaN for NaN and infinities */
                    default: want = 0.0f;
                    }
                    ck_assert_msg(memcmp(&y[i], &want, 4) == 0 || (y[i] != y[i] && want != want),
                                  "op %d shape %zu, %d thread(s), at %ld: %.9g, want %.9g",
                                  (int)ops[k], s, threads, (long)i, y[i], want);
                }
            }
            free(y);
            ln_tensor_release(x);
        }
    }
    ln_set_num_threads(1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("reduce_paths");
    TCase *tc = tcase_create("reduce_paths");
    tcase_add_test(tc, generic_and_vector_paths_agree);
    tcase_add_test(tc, row_groups_and_column_blocks_agree);
    tcase_add_test(tc, unit_axis_gives_the_elements);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
