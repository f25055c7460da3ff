/* A second shadow of the built-in "adam" (version 10) and nothing else:
** loaded with {override = true} after shadow.so, it replaces a unit while
** the count of units stays the same (lunet.registry must still notice). */
#include "lunet/plugin.h"

static void upd(const void *s, float *var, const float *grad,
                float *const *slots, int64_t n, int64_t t, double lr,
                const double *globals) {
    for (int64_t i = 0; i < n; i++) var[i] -= (float)lr * grad[i];
}
static const ln_optimizer_ops ops = {.size = sizeof(ln_optimizer_ops),
                                     .default_learning_rate = 0.25,
                                     .update = upd};
static const ln_unit unit = {.kind = LN_KIND_OPTIMIZER, .name = "adam",
                             .class_name = "Adam", .version = 10,
                             .summary = "test: another shadow of Adam",
                             .ops = &ops};

LN_PLUGIN("tp_shadow_again") { return host->add(host, &unit); }
