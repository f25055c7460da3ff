/*
** optimizer_clip.c -- gradient clipping (by value, per-variable norm,
** global norm).
*/
#include <math.h>
#include <string.h>

#include "optimizer_impl.h"

/* out[i] = clamp(x[i], -c, c) * scale, computed in double and rounded once;
** c < 0 (or NaN) skips the clamp. One multiply per element, so vector and
** scalar code paths agree bit for bit whatever the thread split. */
void ln__clip_apply(float *out, const float *x, int64_t n, double clipvalue,
                    double scale) {
    if (clipvalue >= 0) {
        const float hi = (float)clipvalue, lo = -hi;
        LN_PAR_FOR_SIMD(n)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            out[i] = (float)((double)v * scale);
        }
    } else if (scale != 1.0) {
        LN_PAR_FOR_SIMD(n)
        for (int64_t i = 0; i < n; i++) out[i] = (float)((double)x[i] * scale);
    } else if (out != x) {
        memcpy(out, x, (size_t)n * sizeof *out);
    }
}

/* Keras's clip_by_norm factor c / max(norm, c), exactly 1 when the norm does
** not exceed c (so unclipped gradients pass through unchanged). */
double ln__clip_factor(double sumsq, double c) {
    double norm = sqrt(sumsq);
    return norm > c ? c / norm : 1.0;
}

ln_status ln_clip_gradients(ln_ctx *ctx, int n, const ln_tensor *const *grads,
                            ln_tensor *const *out, double clipvalue,
                            double clipnorm, double global_clipnorm) {
    for (int i = 0; i < n; i++) {
        char a[128], b[128];
        if (!grads[i] || !out[i] || grads[i]->dtype != LN_FLOAT32 ||
            out[i]->dtype != LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "clip_gradients: gradient %d and its "
                           "output must be float32 tensors", i + 1);
        if (!ln_shape_equal(grads[i], out[i]))
            return ln_fail(ctx, LN_E_SHAPE, "clip_gradients: gradient %d has "
                           "shape %s but its output has shape %s", i + 1,
                           ln_shape_str(grads[i], a, sizeof a),
                           ln_shape_str(out[i], b, sizeof b));
    }
    if (clipnorm >= 0 && global_clipnorm >= 0)
        return ln_fail(ctx, LN_E_ARG, "clip_gradients: 'clipnorm' and "
                       "'global_clipnorm' cannot both be set");
    for (int i = 0; i < n; i++)
        ln__clip_apply(ln_f32(out[i]), ln_f32(grads[i]), grads[i]->numel,
                       clipvalue, 1.0);
    if (clipnorm >= 0) {
        for (int i = 0; i < n; i++) {
            float *g = ln_f32(out[i]);
            double f = ln__clip_factor(ln_sumsq(g, out[i]->numel), clipnorm);
            if (f != 1.0) ln__clip_apply(g, g, out[i]->numel, -1, f);
        }
    }
    if (global_clipnorm >= 0) {
        double total = 0;
        for (int i = 0; i < n; i++) total += ln_sumsq(ln_f32(out[i]), out[i]->numel);
        double f = ln__clip_factor(total, global_clipnorm);
        if (f != 1.0)
            for (int i = 0; i < n; i++)
                ln__clip_apply(ln_f32(out[i]), ln_f32(out[i]), out[i]->numel,
                               -1, f);
    }
    return LN_OK;
}
