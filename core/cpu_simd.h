/*
** cpu_simd.h -- private to core's kernels (kernels.c, kernels_reduce.c,
** rng.c, tensor_copy.c): whether this CPU runs AVX-512F, or AVX2 with FMA,
** for the hand-written paths that GCC's per-CPU clones (LN_CLONES) do not
** cover. Asked once per file.
*/
#ifndef LUNET_CPU_SIMD_H
#define LUNET_CPU_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__)
static inline int ln__have_avx512f(void) {
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return have;
}

static inline int ln__have_avx2(void) {
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return have;
}
#endif

#endif
