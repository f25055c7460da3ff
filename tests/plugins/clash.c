/* Registry refusals: an optimizer whose class name is a built-in's
** ("Adam", so ln.optimizers.Adam{} could mean either). */
#include "lunet/plugin.h"

static void upd(const void *s, float *var, const float *grad,
                float *const *slots, int64_t n, int64_t t, double lr,
                const double *globals) {}
static const ln_optimizer_ops ops = {.size = sizeof(ln_optimizer_ops),
                                     .update = upd};
static const ln_unit radam2 = {.kind = LN_KIND_OPTIMIZER, .name = "radam2",
                               .class_name = "Adam", .version = 1,
                               .summary = "test: class name taken",
                               .ops = &ops};

LN_PLUGIN("tp_clash") { return host->add(host, &radam2); }
