/* A layer plugin built for ABI 2.1, before compute_mask (2.2): its ops
** table ends at reset_states. It must still load under 2.2, and a mask
** reaching it is dropped (as tf.keras 2 drops masks at layers without
** mask support). tests/lua/test_masks_roundtrip.lua uses it. */
#include <stddef.h>

#include "copy_layer_ops.h"

/* the size of a 2.1 ops table: everything before compute_mask */
static const ln_layer_ops old_ops = {
    .size = offsetof(ln_layer_ops, compute_mask),
    .forward = copy_fwd,
    .backward = copy_bwd,
};
static const ln_unit old_unit = {
    .kind = LN_KIND_LAYER,
    .name = "tp_old_identity",
    .class_name = "TpOldIdentity",
    .version = 1,
    .summary = "test: y = x, built for ABI 2.1",
    .ops = &old_ops,
};

LN_API const ln_plugin_desc ln_plugin_info = {2, 1, "tp_old_minor"};
LN_API ln_status ln_plugin_init(ln_host *host) { return host->add(host, &old_unit); }
