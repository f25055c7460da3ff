/* An entry that reports failure with its own message. */
#include "lunet/plugin.h"

LN_PLUGIN("tp_failing") {
    return ln_fail(host->ctx, LN_E_ARG, "tp_failing: cannot start today");
}
