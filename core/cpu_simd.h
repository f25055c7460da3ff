/*
** cpu_simd.h -- private to core's kernels (kernels.c, kernels_reduce.c,
** rng.c, tensor_copy.c, gemm.c): whether the hand-written paths that GCC's
** per-CPU clones (LN_CLONES) do not cover may use AVX-512, or AVX2 with FMA
** (the level of cpu.c, which LUNET_SIMD may lower), asked once per file;
** and the AVX2 helpers those paths share.
*/
#ifndef LUNET_CPU_SIMD_H
#define LUNET_CPU_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

int ln__cpu_simd_level(void); /* cpu.c: CPU and OS support, LUNET_SIMD */

/* AVX-512F with VL/DQ/BW and FMA (level 2) */
static inline int ln__have_avx512f(void) {
    static int have = -1;
    if (have < 0) have = ln__cpu_simd_level() >= 2;
    return have;
}

/* AVX2 with FMA (level 1) */
static inline int ln__have_avx2(void) {
    static int have = -1;
    if (have < 0) have = ln__cpu_simd_level() >= 1;
    return have;
}

/* An AVX2 lane mask of the first n lanes (0 <= n <= 8), for masked loads
** of a partial vector: fast on every x86. (AMD microcodes masked stores;
** keep them out of loop bodies.) */
static inline __attribute__((always_inline, target("avx2"))) __m256i ln__mask8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

#endif
