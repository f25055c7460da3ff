/* A plugin of the first ABI (1.0), from before ops tables carried their
** size: refused, with both versions named. */
#include "lunet/plugin.h"

LN_API const ln_plugin_desc ln_plugin_info = {1, 0, "tp_abi1"};
LN_API ln_status ln_plugin_init(ln_host *host) { return LN_OK; }
