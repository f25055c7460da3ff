/*
** plugin_initializer.h -- helpers shared by the initializer plugins (header only,
** each plugin gets its own static copy).
*/
#ifndef LUNET_PLUGIN_INITIALIZER_H
#define LUNET_PLUGIN_INITIALIZER_H

#include <math.h>
#include <string.h>

#include "lunet/plugin.h"

/* Std of a unit normal truncated to [-2, 2]: Keras divides by it so that a
** truncated draw has the intended variance. */
#define LN_TRUNC_STD_CORR 0.87962566103423978

/* Read `seed` (a number or nil, recorded either way). When it is a number,
** *use is pointed at *own, a generator seeded with it, so every call with
** the same seed gives the same values, as Keras's seeded initializers do;
** otherwise *use is the generator passed in. */
static inline ln_status init_seed(ln_ctx *ctx, ln_args *args, ln_rng *given,
                                  ln_rng *own, ln_rng **use) {
    int64_t seed = 0;
    int n = 0;
    ln_status st = ln_args_ints(ctx, args, "seed", 1, &n, &seed);
    if (st) return st;
    if (n == 1) {
        ln_rng_seed(own, (uint64_t)seed);
        *use = own;
    } else {
        *use = given;
    }
    return LN_OK;
}

/* For the deterministic initializers: a `seed` is accepted (and recorded)
** only when given, so their configs stay Keras's ({} for Zeros). */
static inline ln_status init_ignore_seed(ln_ctx *ctx, ln_args *args) {
    if (!ln_args_has(args, "seed")) return LN_OK;
    ln_rng own, *use;
    return init_seed(ctx, args, NULL, &own, &use);
}

/* Keras's VarianceScaling draw: s = scale / max(1, n) with n the fan the
** mode picks; 'truncated_normal' uses std sqrt(s)/0.8796... cut at 2 std,
** 'untruncated_normal' std sqrt(s), 'uniform' U[-sqrt(3s), sqrt(3s)).
** mode and dist are already validated. */
static inline void vs_draw(ln_tensor *t, double fan_in, double fan_out,
                           ln_rng *rng, double scale, const char *mode,
                           const char *dist) {
    double n = !strcmp(mode, "fan_in")    ? fan_in
               : !strcmp(mode, "fan_out") ? fan_out
                                          : (fan_in + fan_out) / 2.0;
    double s = scale / (n > 1.0 ? n : 1.0);
    float *y = ln_f32(t);
    if (!strcmp(dist, "uniform")) {
        float lim = (float)sqrt(3.0 * s);
        ln_rng_uniform(rng, y, t->numel, -lim, lim);
    } else if (!strcmp(dist, "untruncated_normal")) {
        ln_rng_normal(rng, y, t->numel, 0.0f, (float)sqrt(s));
    } else {
        ln_rng_truncated_normal(rng, y, t->numel, 0.0f,
                                (float)(sqrt(s) / LN_TRUNC_STD_CORR));
    }
}

/* The fixed-parameter members of the family (glorot/he/lecun): read the
** seed, then draw. */
static inline ln_status vs_fixed(ln_ctx *ctx, ln_args *args, ln_tensor *t,
                                 double fan_in, double fan_out, ln_rng *rng,
                                 double scale, const char *mode,
                                 const char *dist) {
    ln_rng own, *use;
    ln_status st = init_seed(ctx, args, rng, &own, &use);
    if (st) return st;
    vs_draw(t, fan_in, fan_out, use, scale, mode, dist);
    return LN_OK;
}

/* RandomNormal / TruncatedNormal: read mean (0), stddev (0.05) and seed,
** refuse a negative or non-finite stddev, then fill with `draw`. */
static inline ln_status normal_fill(ln_ctx *ctx, ln_args *args, ln_tensor *t,
                                    ln_rng *rng,
                                    void (*draw)(ln_rng *, float *, int64_t,
                                                 float, float)) {
    double mean, sd;
    ln_rng own, *use;
    ln_status st;
    if ((st = ln_args_number(ctx, args, "mean", 0.0, &mean)) ||
        (st = ln_args_number(ctx, args, "stddev", 0.05, &sd)) ||
        (st = init_seed(ctx, args, rng, &own, &use)))
        return st;
    if (!(sd >= 0) || !isfinite(sd) || !isfinite(mean))
        return ln_fail(ctx, LN_E_ARG,
                       "'stddev' must be finite and >= 0 (got %g), 'mean' "
                       "finite (got %g)", sd, mean);
    draw(use, ln_f32(t), t->numel, (float)mean, (float)sd);
    return LN_OK;
}

#endif
