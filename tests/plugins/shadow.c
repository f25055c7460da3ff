/* A user plugin offering units named like built-ins: "adam" (class Adam)
** and a new "tp_radam". Loaded only with {override = true}; found on
** LUNET_PLUGIN_PATH it is refused as a whole, whatever the order. */
#include "lunet/plugin.h"

/* var -= lr * grad: plain SGD under Adam's name, easy to tell apart. */
static void upd(const void *s, float *var, const float *grad,
                float *const *slots, int64_t n, int64_t t, double lr,
                const double *globals) {
    for (int64_t i = 0; i < n; i++) var[i] -= (float)lr * grad[i];
}
static const ln_optimizer_ops ops = {.size = sizeof(ln_optimizer_ops),
                                     .default_learning_rate = 0.5,
                                     .update = upd};
static const ln_unit units[] = {
    {.kind = LN_KIND_OPTIMIZER, .name = "adam", .class_name = "Adam",
     .version = 9, .summary = "test: a shadow of the built-in Adam", .ops = &ops},
    {.kind = LN_KIND_OPTIMIZER, .name = "tp_radam", .class_name = "TpRAdam",
     .version = 1, .summary = "test: refused with its file", .ops = &ops},
};

/* Every unit is offered even after a refusal (plugin.h). */
LN_PLUGIN("tp_shadow") {
    ln_status st = LN_OK;
    for (int i = 0; i < 2; i++) {
        ln_status s = host->add(host, &units[i]);
        if (!st) st = s;
    }
    return st;
}
