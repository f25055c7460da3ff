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
    unsigned char folded[LN_MAX_WEIGHTS]; /* outer adds weight w's gradient */
} ln__reg_sink;

/* Whether sink (a backward's sink for layer l) adds the regularization
** gradient of l's weight w itself, inside the optimizer's pass over each
** block (net_update.c: an early-update sink whose optimizer has
** update_reg); then ln__reg_sink hands w's blocks on untouched. */
int ln__sink_folds_reg(const ln_grad_sink *sink, const ln_layer *l, int w);

/* Resets s and returns the sink to hand l's backward: s's when outer is
** an early-update sink and some weight of l is regularized, else outer. */
ln_grad_sink *ln__reg_sink_wrap(const ln_layer *l, ln_grad_sink *outer,
                                ln__reg_sink *s);
/* After backward: the regularization gradient of the weights s did not
** see (s: the ln__reg_sink_wrap'ed one, or NULL). */
ln_status ln__reg_grad(ln_ctx *ctx, const ln_layer *l, const ln__reg_sink *s);
/* The penalty l1 * sum|w| + l2 * sum w^2 is summed in chunks of
** LN__PEN_CHUNK elements (from element 0 of each weight; each chunk's sum
** in a fixed order, ln__reg_chunk), the chunks' sums added in order, weight
** after weight: any thread count, and whoever computes a chunk (this
** standalone sum, or the update's pass over the new weights), gives the
** same number. */
enum { LN__PEN_CHUNK = 1024 };
double ln__reg_penalty(const ln_layer *l);
/* The penalty of one chunk of n <= LN__PEN_CHUNK elements. */
double ln__reg_chunk(const float *v, int64_t n, double l1, double l2);
/* Of a weight of numel elements at v: the penalty of every chunk lying
** wholly in [lo, hi) (the last chunk may be short) into part[c], and
** done[c] = 1. Disjoint ranges may run on different threads at once. */
void ln__reg_chunks(const float *v, int64_t numel, int64_t lo, int64_t hi,
                    double l1, double l2, double *part, unsigned char *done);

#endif
