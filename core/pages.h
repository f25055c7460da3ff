/*
** pages.h -- private to core (tensor_pool.c, io_idx.c): large blocks
** mapped straight from the system, in 2 MiB pages where the kernel gives
** them (see pages.c for why).
*/
#ifndef LUNET_PAGES_H
#define LUNET_PAGES_H

#include <stddef.h>

/* Blocks of at least this many bytes are worth mapping (one 2 MiB page). */
#define LN_PAGES_MIN ((size_t)2 << 20)

/* n bytes of zeroed memory, 2 MiB aligned, asked to be backed by 2 MiB
** pages; NULL when the system has no memory. The caller owns the block and
** gives it back with ln__pages_unmap(p, n), n as asked. */
void *ln__pages_map(size_t n);
void ln__pages_unmap(void *p, size_t n);

#endif
