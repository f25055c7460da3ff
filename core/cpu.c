/*
** cpu.c -- CPU set-up shared by the kernels: denormals flushed to zero in
** every thread that runs kernels, and the SIMD level the GEMM dispatches on.
*/

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define LN_X86 1
#endif

/* Internal (not in a public header): the widest usable SIMD level,
** 2 = AVX-512F/VL/DQ/BW + FMA, 1 = AVX2 + FMA, 0 = none. Cached. The
** GEMM kernel and the hand-written paths of cpu_simd.h follow it. */
int ln__cpu_simd_level(void);

/* MXCSR: FTZ is bit 15, DAZ bit 6. */
#define LN_MXCSR_FTZ 0x8000u
#define LN_MXCSR_DAZ 0x0040u

static void set_ftz_daz(void) {
#ifdef LN_X86
    unsigned csr = _mm_getcsr();
    unsigned want = csr | LN_MXCSR_FTZ | LN_MXCSR_DAZ;
    if (want != csr) _mm_setcsr(want);
#endif
}

/* LUNET_SIMD=avx2 or generic lowers the level, as PyTorch's
** ATEN_CPU_CAPABILITY does: the tests run the narrower paths on a wider
** CPU, and a user can rule a kernel out. Any other value changes nothing
** (`lunet --version` names the GEMM kernel in use). */
static int simd_cap(void) {
    const char *e = getenv("LUNET_SIMD");
    if (e && !strcmp(e, "generic")) return 0;
    if (e && !strcmp(e, "avx2")) return 1;
    return 2;
}

int ln__cpu_simd_level(void) {
    static volatile int level = -1;
    int l = level;
    if (l >= 0) return l;
    l = 0;
#if defined(LN_X86) && defined(__GNUC__)
    /* libgcc's checks include the OS support (XCR0) for the vector state. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        l = 1;
    if (l == 1 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw"))
        l = 2;
#endif
    if (l > simd_cap()) l = simd_cap();
    level = l; /* idempotent: racing writers store the same value */
    return l;
}

/* Only the calling thread: POSIX threads inherit the floating-point
** environment of the thread that creates them, and GOMP creates its workers
** from the master at the first parallel region, so they start with FTZ/DAZ
** set. Not starting the pool here keeps `lunet -e 'print(1)'` from paying
** for thread creation (about 9 ms on a loaded 2-core machine). */
void ln_cpu_init(void) {
    (void)ln__cpu_simd_level();
    set_ftz_daz();
    /* OMP_NUM_THREADS=100000 would make the first parallel region crash
    ** in libgomp: the same bound as ln_set_num_threads */
    if (omp_get_max_threads() > ln_max_threads())
        omp_set_num_threads(ln_max_threads());
}
