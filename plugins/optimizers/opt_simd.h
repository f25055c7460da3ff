/*
** opt_simd.h -- what the optimizer plugins share to make their update loops
** fast without a global -march: LN_OPT_CLONES compiles a loop three times
** (x86-64-v4 = AVX-512 + FMA, x86-64-v3 = AVX2 + FMA, and the baseline) and
** picks the widest the CPU runs, once, at load (GCC's target_clones, an
** ifunc). Every thread runs the same clone, so the cut of the work between
** threads never changes a result.
**
** Arithmetic policy of the update rules (keras-semantics.md section 1):
** slot recurrences (m, v, accumulators) stay in double -- a float32
** b1*m + (1-b1)*g loses its relative accuracy when the two terms cancel --
** and are rounded once when stored; the step itself (square root, division
** and the subtraction from the weight) runs in float32 on the stored,
** rounded slot values: 16 lanes per AVX-512 instruction instead of 8, and
** within 1e-6 of the float64 formula relative to the update (each float op
** adds at most 2^-24; tests/c/test_optimizers.c checks every rule).
*/
#ifndef LN_OPT_SIMD_H
#define LN_OPT_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(LN_NO_CLONES)
#define LN_OPT_CLONES                                                        \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",         \
                                 "default")))
#else
#define LN_OPT_CLONES
#endif

#endif
