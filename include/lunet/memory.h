/*
** memory.h -- where tensor bytes come from: uninitialised tensors, the cache
** of freed storage blocks, and byte counts the Lua binding feeds to Lua's
** garbage collector.
**
** The cache: a storage block freed while it is at most a quarter of the
** cache limit is kept in a free list of its size class (4 classes per
** power of two, so at most 25% more than asked is ever handed out) as long
** as the cached total stays within the limit (128 MiB by default; 0 turns
** the cache off; sanitizer builds start with 0 so freed memory is poisoned
** at once). A block of 2 MiB or more that finds the cache full takes the
** place of stale ones of other classes (cached while twice the limit's
** bytes were freed), the largest first; other blocks are then released. A new storage takes a cached block of its class when there is
** one: a loop making a temporary of the same size every iteration reuses
** the same pages instead of faulting fresh ones in. Blocks are handed out
** uninitialised by ln_tensor_empty and zeroed by ln_tensor_new.
**
** Blocks of 2 MiB and more come straight from the system (mmap), aligned
** to 2 MiB and asked to be backed by 2 MiB pages (madvise MADV_HUGEPAGE, a
** hint the kernel may decline); released, they go back to it. Their first
** writes then fault a 2 MiB page at a time, not 4 KiB (sanitizer builds
** keep malloc, so that every block stays checked).
**
** All counters are plain integers guarded by one mutex; tensors are still
** created and released outside parallel regions only (tensor.h).
*/
#ifndef LUNET_MEMORY_H
#define LUNET_MEMORY_H

#include "lunet/tensor.h"

/* A new tensor whose contents are unspecified (for results a kernel
** overwrites entirely). Same ownership and errors as ln_tensor_new. */
LN_API ln_tensor *ln_tensor_empty(ln_ctx *ctx, ln_dtype dtype, int ndim,
                                  const int64_t *shape);

typedef struct ln_memory_stats {
    int64_t live_bytes;    /* bytes of storages in use (capacity) */
    int64_t peak_bytes;    /* the largest live_bytes seen */
    int64_t cached_bytes;  /* bytes kept in the cache */
    int64_t cache_limit;   /* the cache's bound */
    int64_t cache_hits;    /* storages served from the cache */
    int64_t cache_misses;  /* storages the system allocator served */
} ln_memory_stats;

LN_API void ln_memory_get_stats(ln_memory_stats *s);
/* Bytes of storages in use: what the Lua binding's collector trigger
** compares against (cheap: one load). */
LN_API int64_t ln_memory_live_bytes(void);
/* Bytes of storages made since the process started (capacity; never
** decreases): the young collections' clock. */
LN_API int64_t ln_memory_made_bytes(void);
/* The most storage bytes a tensor of `bytes` bytes of elements takes (its
** size class): what ln_memory_made_bytes() grows by when it is made. */
LN_API int64_t ln_memory_block_bytes(int64_t bytes);
/* Set the cache's bound in bytes (blocks beyond it are released at once);
** 0 disables the cache. Negative values count as 0. */
LN_API void ln_memory_set_cache_limit(int64_t bytes);
/* Release every cached block to the system. */
LN_API void ln_memory_empty_cache(void);

#endif
