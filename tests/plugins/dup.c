/* Registers a unit whose name the good test plugin already uses. */
#include "lunet/plugin.h"

static void f(const void *s, const float *x, float *y, int64_t r, int64_t c) {}
static void b(const void *s, const float *x, const float *y, const float *dy,
              float *dx, int64_t r, int64_t c) {}
static const ln_activation_ops ops = {0, NULL, f, b, 1, 0};
static const ln_unit fresh = {LN_KIND_ACTIVATION, "tp_fresh", NULL, 1,
                              "test: registered before the duplicate", &ops};
static const ln_unit dup = {LN_KIND_ACTIVATION, "tp_double", NULL, 1,
                            "test: duplicate", &ops};

LN_PLUGIN("tp_dup") {
    ln_status st = host->add(host, &fresh);
    return st ? st : host->add(host, &dup);
}
