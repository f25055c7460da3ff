/*
** testutil.h -- helpers shared by the Check suites.
*/
#ifndef LUNET_TESTUTIL_H
#define LUNET_TESTUTIL_H

#include <check.h>

#include "lunet/engine/net.h"

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

/* Keyword arguments from a compact spec, for tests:
**   "#1=300 activation=tanh use_bias=false rate=0.5 seed=nil
**    shared_axes=[1,2] kernel_regularizer={l2=0.01} data_format=channels_first"
** Values: numbers, true/false, nil, [n,...] lists, {k=v ...} tables, else
** strings (may be quoted "..."). "#N" keys are positional arguments. NULL
** or "" gives empty args. Fails the test on a malformed spec. */
ln_args *lt_args(const char *spec);
/* ln_layer_new(unit, lt_args(spec)); fails the test with the message if
** creation fails. */
ln_layer *lt_layer(const char *unit, const char *spec);
/* Create a layer expecting failure; returns the message (static buffer). */
const char *lt_layer_error(const char *unit, const char *spec);
/* Weight k of a layer as the tests look at it (borrowed tensors). */
typedef struct lt_weight {
    const char *name;
    ln_tensor *value, *grad; /* grad NULL when it never trains */
    int trainable;           /* by nature */
    int index;
} lt_weight;
lt_weight lt_weight_at(const ln_layer *l, int k);
/* The weight named name ("gamma"), or one with index -1. */
lt_weight lt_weight_named(const ln_layer *l, const char *name);

/* Build l for one input of shape [nd] dims (without the batch axis). */
ln_status lt_build(ln_ctx *ctx, ln_layer *l, int nd, const int64_t *dims);
/* Overwrite every weight of a built layer with U[lo, hi) values from a
** private generator (seeded with seed + the weight's index). */
void lt_fill_weights(ln_layer *l, float lo, float hi, uint64_t seed);
/* A layer's forward and backward (flags | LN_NEED_DW, dx wanted) with
** `threads` OpenMP threads, for thread-count comparisons: the layer
** unit{spec} is built for x = U[-2, 2) of shape (nd dims, batch first),
** its weights filled by fill (NULL: U[-0.5, 0.5)), dy = U[-1, 1). Returns
** (malloc'd) y, dx, then every weight's value after the forward and its
** gradient, concatenated; *len gets the count. */
float *lt_layer_run(const char *unit, const char *spec, int nd,
                    const int64_t *shape, unsigned flags, int threads,
                    void (*fill)(ln_layer *l), int64_t *len);
/* Push every x[i] with |x[i] - at| < margin out to at +- margin (keeps
** finite differences away from a kink). */
void lt_away_from(ln_tensor *x, float at, float margin);

#endif
