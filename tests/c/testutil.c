#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int lt_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

ln_tensor *lt_uniform(int nd, const int64_t *shape, float lo, float hi,
                      uint64_t seed) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, nd, shape);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    ln_rng r = {seed, 0};
    ln_rng_uniform(&r, ln_f32(t), t->numel, lo, hi);
    return t;
}

double lt_max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

const char *lt_test_plugin(const char *file) {
    static char buf[4096];
    const char *dir = getenv("LUNET_TEST_PLUGIN_DIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "test_plugins", file);
    return buf;
}
