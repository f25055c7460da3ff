/*
** gemm.h -- ln_gemm inside the caller's own parallel tasks: one thread (the
** caller's), packing into a workspace the caller owns, never allocating.
**
** ln_gemm (kernels.h) forks its own threads above a size and packs into one
** shared grow-only workspace; a second caller running at the same time
** would allocate its own. Code that already runs GEMMs from several threads
** at once (a convolution's tasks) uses this form instead, with a slice of
** its per-thread scratch memory.
**
** Same arithmetic as ln_gemm: for the same arguments, C is bitwise the same
** (every element is one FMA chain over k in fixed blocks of k; the
** workspace only decides where operands are loaded from).
*/
#ifndef LUNET_GEMM_H
#define LUNET_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "lunet/kernels.h"

/* Floats of workspace ln_gemm_ws needs for these sizes (0: none). */
LN_API size_t ln_gemm_ws_floats(int trans_a, int trans_b, int64_t m, int64_t n,
                                int64_t k);

/* ln_gemm on the calling thread only, packing into ws (ws_floats floats,
** best 64-byte aligned). Allocates nothing when ws_floats >=
** ln_gemm_ws_floats(trans_a, trans_b, m, n, k); with less it falls back to
** ln_gemm (same results). */
LN_API void ln_gemm_ws(int trans_a, int trans_b, int64_t m, int64_t n,
                       int64_t k, float alpha, const float *a, int64_t lda,
                       const float *b, int64_t ldb, float beta, float *c,
                       int64_t ldc, const ln_gemm_epilogue *epi, float *ws,
                       size_t ws_floats);

#endif
