/*
** act_util.h -- helpers shared by the activation plugins (header only,
** each plugin gets its own static copy).
*/
#ifndef LN_ACT_UTIL_H
#define LN_ACT_UTIL_H

#include <math.h>

#include "lunet/plugin.h"

/* Fail unless v, the argument key, is a finite number >= 0. */
static inline ln_status au_check_nonneg(ln_ctx *ctx, const char *key,
                                        double v) {
    if (v < 0 || !isfinite(v))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' must be a finite number >= 0, got %g", key, v);
    return LN_OK;
}

/* Read the argument key (default dflt), a finite number >= 0, into *out. */
static inline ln_status au_read_nonneg(ln_ctx *ctx, ln_args *args,
                                       const char *key, double dflt,
                                       float *out) {
    double v;
    ln_status st = ln_args_number(ctx, args, key, dflt, &v);
    if (st || (st = au_check_nonneg(ctx, key, v))) return st;
    *out = (float)v;
    return LN_OK;
}

#endif
