/* A layer plugin built for ABI 2.3, before is_view (2.4): its ops table
** ends at compute_mask. It must still load under 2.4, and it is never
** taken for a view: a Sequential calls its forward and backward (copies).
** tests/lua/test_functional.lua uses it. */
#include <stddef.h>

#include "copy_layer_ops.h"
/* each sample to one axis, as Flatten */
static ln_status old_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in, int *nout,
                           ln_shape *out) {
    int64_t n = 1;
    for (int i = 0; i < in[0].nd; i++) n *= in[0].dim[i];
    out[0].nd = 1;
    out[0].dim[0] = n;
    return LN_OK;
}
/* the size of a 2.3 ops table: everything before is_view */
static const ln_layer_ops old_ops = {
    .size = offsetof(ln_layer_ops, is_view),
    .build = old_build,
    .forward = copy_fwd,
    .backward = copy_bwd,
};
static const ln_unit old_unit = {
    .kind = LN_KIND_LAYER,
    .name = "tp_old_flatten",
    .class_name = "TpOldFlatten",
    .version = 1,
    .summary = "test: Flatten's numbers by copies, built for ABI 2.3",
    .ops = &old_ops,
};

LN_API const ln_plugin_desc ln_plugin_info = {2, 3, "tp_old_minor_view"};
LN_API ln_status ln_plugin_init(ln_host *host) { return host->add(host, &old_unit); }
