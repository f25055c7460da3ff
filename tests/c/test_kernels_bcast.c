/* ln_binary with broadcasting (its row-by-row path) against a per-element
** reference computed from the multi-index, for shapes where a row vector,
** a column, a middle axis or a leading size-1 dimension broadcasts; sizes
** large enough to be split into parallel ranges that start and end inside
** rows; and bitwise equality of 1 and 2 threads. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* z[i] = x op y by the definition: each operand's offset from z's index. */
static float ref1(ln_binary_op op, float a, float b) {
    switch (op) {
    case LN_B_ADD: return a + b;
    case LN_B_SUB: return a - b;
    case LN_B_MUL: return a * b;
    case LN_B_DIV: return a / b;
    case LN_B_MAX: return a > b ? a : b;
    case LN_B_GT: return (float)(a > b);
    default: return 0;
    }
}

static void reference(ln_binary_op op, float *z, int nz, const int64_t *sz,
                      const float *x, int nx, const int64_t *sx, const float *y,
                      int ny, const int64_t *sy) {
    int64_t n = 1;
    for (int d = 0; d < nz; d++) n *= sz[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, ox = 0, oy = 0, mx = 1, my = 1;
        for (int d = nz - 1; d >= 0; d--) {
            int64_t c = r % sz[d];
            r /= sz[d];
            int dx = d - (nz - nx), dy = d - (nz - ny);
            if (dx >= 0) {
                ox += (sx[dx] == 1 ? 0 : c) * mx;
                mx *= sx[dx];
            }
            if (dy >= 0) {
                oy += (sy[dy] == 1 ? 0 : c) * my;
                my *= sy[dy];
            }
        }
        z[i] = ref1(op, x[ox], y[oy]);
    }
}

typedef struct {
    int nx, ny;
    int64_t sx[4], sy[4];
} shapes;

static const shapes CASES[] = {
    {2, 1, {3, 4}, {4}},                   /* row vector (a bias) */
    {1, 2, {4}, {3, 4}},                   /* the row vector first */
    {2, 2, {5, 1}, {1, 7}},                /* outer product shape */
    {2, 2, {300, 1}, {300, 257}},          /* a column */
    {3, 2, {3, 1, 4}, {2, 4}},             /* a middle axis */
    {4, 4, {2, 1, 3, 1}, {1, 4, 1, 5}},    /* alternating */
    {2, 1, {70001, 3}, {3}},               /* short rows, many ranges */
    {2, 2, {3, 70001}, {1, 70001}},        /* long rows cut by ranges */
    {3, 3, {97, 1, 1031}, {1, 13, 1031}},  /* rows across range ends */
    {2, 1, {3, 4}, {1}},                   /* a one-element operand */
    {2, 2, {0, 3}, {1, 3}},                /* empty */
};

START_TEST(broadcast_against_reference) {
    static const ln_binary_op ops[] = {LN_B_ADD, LN_B_SUB, LN_B_MUL, LN_B_DIV,
                                       LN_B_MAX, LN_B_GT};
    ln_ctx ctx = {0};
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        const shapes *s = &CASES[c];
        int nz;
        int64_t sz[4];
        ck_assert_int_eq(ln_broadcast_shape(&ctx, s->nx, s->sx, s->ny, s->sy, &nz, sz), LN_OK);
        int64_t n = 1;
        for (int d = 0; d < nz; d++) n *= sz[d];
        ln_tensor *x = lt_uniform(s->nx, s->sx, -2, 2, (uint64_t)(10 + c));
        ln_tensor *y = lt_uniform(s->ny, s->sy, 0.5f, 3, (uint64_t)(50 + c));
        size_t bytes = (size_t)(n ? n : 1) * sizeof(float);
        float *want = malloc(bytes), *z1 = malloc(bytes), *z2 = malloc(bytes);
        ck_assert(want && z1 && z2);
        for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
            /* both operand orders: the broadcast one on either side */
            for (int swap = 0; swap < 2; swap++) {
                const ln_tensor *a = swap ? y : x, *b = swap ? x : y;
                int na = swap ? s->ny : s->nx, nb = swap ? s->nx : s->ny;
                const int64_t *sa = swap ? s->sy : s->sx, *sb = swap ? s->sx : s->sy;
                reference(ops[k], want, nz, sz, ln_f32(a), na, sa, ln_f32(b), nb, sb);
                omp_set_num_threads(1);
                ln_binary(ops[k], z1, nz, sz, ln_f32(a), na, sa, ln_f32(b), nb, sb);
                omp_set_num_threads(2);
                ln_binary(ops[k], z2, nz, sz, ln_f32(a), na, sa, ln_f32(b), nb, sb);
                ck_assert_msg(memcmp(want, z1, (size_t)n * sizeof(float)) == 0,
                              "case %zu op %zu swap %d: 1 thread differs from the reference",
                              c, k, swap);
                ck_assert_msg(memcmp(z1, z2, (size_t)n * sizeof(float)) == 0,
                              "case %zu op %zu swap %d: 2 threads differ from 1", c, k, swap);
            }
        }
        free(want);
        free(z1);
        free(z2);
        ln_tensor_release(x);
        ln_tensor_release(y);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("kernels_bcast");
    TCase *tc = tcase_create("kernels_bcast");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, broadcast_against_reference);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
