/* Claims a plugin ABI major this core does not have. */
#include "lunet/plugin.h"

LN_API const ln_plugin_desc ln_plugin_info = {99, 0, "tp_bad_abi"};
LN_API ln_status ln_plugin_init(ln_host *host) { return LN_OK; }
