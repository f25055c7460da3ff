/* Registers a unit whose name the good test plugin already uses. */
#include "lunet/plugin.h"

static void f(const void *s, const float *x, float *y, int64_t r, int64_t c) {}
static void b(const void *s, const float *x, const float *y, const float *dy,
              float *dx, int64_t r, int64_t c) {}
static const ln_activation_ops ops = {
    .size = sizeof(ln_activation_ops),
    .forward = f,
    .backward = b,
    .elementwise = 1,
};
static const ln_unit fresh = {
    .kind = LN_KIND_ACTIVATION,
    .name = "tp_fresh",
    .version = 1,
    .summary = "test: registered before the duplicate",
    .ops = &ops,
};
static const ln_unit dup = {
    .kind = LN_KIND_ACTIVATION,
    .name = "tp_double",
    .version = 1,
    .summary = "test: duplicate",
    .ops = &ops,
};

LN_PLUGIN("tp_dup") {
    ln_status st = host->add(host, &fresh);
    return st ? st : host->add(host, &dup);
}
