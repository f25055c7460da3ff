/*
** testutil.h -- helpers shared by the Check suites.
*/
#ifndef LUNET_TESTUTIL_H
#define LUNET_TESTUTIL_H

#include <check.h>

#include "lunet/plugin.h"

/* Run one suite; returns the process exit status (0 when all passed). */
int lt_run(Suite *s);
/* A float32 tensor of the given shape, filled with U[lo, hi) from a
** private generator seeded with seed. */
ln_tensor *lt_uniform(int nd, const int64_t *shape, float lo, float hi,
                      uint64_t seed);
/* Largest |a - b| over n floats. */
double lt_max_abs_diff(const float *a, const float *b, int64_t n);
/* The path of a test plugin built into LUNET_TEST_PLUGIN_DIR. */
const char *lt_test_plugin(const char *file);

#endif
