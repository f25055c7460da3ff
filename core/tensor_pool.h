/*
** tensor_pool.h -- private to tensor.c and tensor_pool.c: the block
** allocator under ln_storage (see memory.h for the cache's rules).
*/
#ifndef LUNET_TENSOR_POOL_H
#define LUNET_TENSOR_POOL_H

#include <stddef.h>

/* A block of at least *cap bytes (64-byte aligned data inside *base); *cap
** is updated to the usable size. zero: the bytes are zeroed. NULL when the
** system has no memory. */
void *ln_pool_alloc(size_t *cap, int zero, void **base);
/* Give a block back (cached or released). */
void ln_pool_free(void *base, void *data, size_t cap);

#endif
