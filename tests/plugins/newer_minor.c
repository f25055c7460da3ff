/* Built against a newer minor ABI than this core offers. */
#include "lunet/plugin.h"

LN_API const ln_plugin_desc ln_plugin_info = {LN_ABI_MAJOR, LN_ABI_MINOR + 1,
                                              "tp_newer_minor"};
LN_API ln_status ln_plugin_init(ln_host *host) { return LN_OK; }
