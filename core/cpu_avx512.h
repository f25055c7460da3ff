/*
** cpu_avx512.h -- private to core's kernels (kernels.c, kernels_reduce.c,
** rng.c):
** whether this CPU runs AVX-512F, for the hand-written AVX-512 paths that
** GCC's per-CPU clones (LN_CLONES) do not cover. Asked once per file.
*/
#ifndef LUNET_CPU_AVX512_H
#define LUNET_CPU_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
static inline int ln__have_avx512f(void) {
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return have;
}
#endif

#endif
