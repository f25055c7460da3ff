/* A shared object without the lunet entry symbols. */
#include "lunet/lunet.h"

LN_API int tp_something_else(void) { return 42; }
