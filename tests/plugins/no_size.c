/* Registry refusals: an ops table whose size was not filled in (how ABI 1
** plugins ported by changing only the version would look). */
#include "lunet/plugin.h"

static void f(const void *s, const float *x, float *y, int64_t r, int64_t c) {}
static void b(const void *s, const float *x, const float *y, const float *dy,
              float *dx, int64_t r, int64_t c) {}
static const ln_activation_ops ops = {.forward = f, .backward = b};
static const ln_unit unsized = {.kind = LN_KIND_ACTIVATION, .name = "tp_unsized",
                                .version = 1, .summary = "test: no .size",
                                .ops = &ops};

LN_PLUGIN("tp_no_size") { return host->add(host, &unsized); }
