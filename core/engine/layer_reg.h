/*
** layer_reg.h -- weight regularization of a layer (layer_reg.c), for
** layer.c: the penalty's value and its gradient, the latter added either
** block by block as a backward hands blocks to an early-update sink, or
** whole after backward.
*/
#ifndef LN_LAYER_REG_H
#define LN_LAYER_REG_H

#include <stdatomic.h>

#include "lunet/engine/layer.h"

/* A sink in front of a backward's sink: adds the regularization gradient
** of each block handed over, then hands the block on. Lives on the
** caller's stack for one backward. */
typedef struct ln__reg_sink {
    ln_grad_sink base;
    ln_grad_sink *outer;
    const ln_layer *l;
    _Atomic int64_t done[LN_MAX_WEIGHTS]; /* elements regularized, by weight */
} ln__reg_sink;

/* Resets s and returns the sink to hand l's backward: s's when outer is
** an early-update sink and some weight of l is regularized, else outer. */
ln_grad_sink *ln__reg_sink_wrap(const ln_layer *l, ln_grad_sink *outer,
                                ln__reg_sink *s);
/* After backward: the regularization gradient of the weights s did not
** see (s: the ln__reg_sink_wrap'ed one, or NULL). */
ln_status ln__reg_grad(ln_ctx *ctx, const ln_layer *l, const ln__reg_sink *s);
/* l1 * sum|w| + l2 * sum w^2 over l's weights; any thread count gives the
** same number. */
double ln__reg_penalty(const ln_layer *l);

#endif
