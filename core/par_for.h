/*
** par_for.h -- private to core's tensor loops (tensor_ops*.c, kernels.c,
** engine/tensor_ops_nn.c, tensor.c): LN_PAR_FOR / LN_PAR_SUM without the
** OpenMP region below the threshold. Owner: core (issue 21).
**
** `#pragma omp parallel for if (n >= LN_PAR_MIN)` still enters libgomp when
** the condition is false (a team of one is set up and torn down): 4-5 us on
** this machine, measured on 1,000-element `t:contiguous()`, `ln.arange`,
** `a:gt(0.5)`, `a:int()` and `ln.cat` (each 4.4-5.1 us against 0.37 for
** `a + a`, which never entered a region). These macros take the loop as
** their argument and compile it twice: an OpenMP loop from LN_PAR_MIN units
** of work on (outside any parallel region, as LN_PAR_FOR's nested regions
** ran on one thread there anyway), a plain loop below.
**
**     LN_FOR(n, for (int64_t i = 0; i < n; i++) y[i] = f(x[i]););
**     LN_SUM_FOR(n, count, for (...) count += ...;);   -- integers only
**
** The loops themselves are unchanged, so are their results.
*/
#ifndef LUNET_PAR_FOR_H
#define LUNET_PAR_FOR_H

#include <omp.h>

#include "lunet/parallel.h"

#define LN_FOR(n, ...)                                                       \
    do {                                                                     \
        if ((n) >= LN_PAR_MIN && !omp_in_parallel()) {                      \
            LN_PRAGMA_(omp parallel for schedule(static))                    \
            __VA_ARGS__                                                      \
        } else {                                                             \
            __VA_ARGS__                                                      \
        }                                                                    \
    } while (0)

#define LN_SUM_FOR(n, var, ...)                                              \
    do {                                                                     \
        if ((n) >= LN_PAR_MIN && !omp_in_parallel()) {                      \
            LN_PRAGMA_(omp parallel for reduction(+ : var) schedule(static)) \
            __VA_ARGS__                                                      \
        } else {                                                             \
            __VA_ARGS__                                                      \
        }                                                                    \
    } while (0)

#endif
