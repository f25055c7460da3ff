/* Registry refusals: an optimizer without its required update op. */
#include "lunet/plugin.h"

static const ln_optimizer_ops ops = {.size = sizeof(ln_optimizer_ops)};
static const ln_unit nothing = {.kind = LN_KIND_OPTIMIZER, .name = "tp_nothing",
                                .version = 1, .summary = "test: update is NULL",
                                .ops = &ops};

LN_PLUGIN("tp_null_op") { return host->add(host, &nothing); }
