/*
** rng.h -- counter-based random numbers (Philox4x32-10).
**
** A generator is a key (the seed) and a counter of 128-bit Philox blocks.
** A fill of n values uses the blocks [counter, counter + k) -- uniform and
** normal fills take four values from each block (k = ceil(n / 4)), the
** truncated normal one block per value -- so value i depends only on (seed,
** counter, i); then the counter advances by k. Fills are therefore identical
** for any thread count and reproducible from the seed alone.
*/
#ifndef LUNET_RNG_H
#define LUNET_RNG_H

#include "lunet/lunet.h"

typedef struct ln_rng {
    uint64_t seed;
    uint64_t counter;
} ln_rng;

/* The library's generator, seeded by ln.random.seed(n). Not thread-safe:
** draw from it only outside parallel regions. */
LN_API ln_rng *ln_rng_global(void);
LN_API void ln_rng_seed(ln_rng *r, uint64_t seed);

LN_API void ln_rng_uniform(ln_rng *r, float *y, int64_t n, float lo,
                           float hi); /* [lo, hi) */
LN_API void ln_rng_normal(ln_rng *r, float *y, int64_t n, float mean,
                          float std);
/* Normal draws farther than 2*std from the mean are drawn again (Keras's
** TruncatedNormal; no variance correction here). */
LN_API void ln_rng_truncated_normal(ln_rng *r, float *y, int64_t n,
                                    float mean, float std);
LN_API double ln_rng_double(ln_rng *r); /* one draw in [0, 1) */
LN_API uint64_t ln_rng_u64(ln_rng *r);
/* perm <- a uniformly random permutation of 0..n-1 (Fisher-Yates). */
LN_API void ln_rng_permutation(ln_rng *r, int64_t *perm, int64_t n);

#endif
