/*
** pages.c -- large blocks straight from mmap, asked to be backed by 2 MiB
** pages (madvise MADV_HUGEPAGE).
**
** Why: where the kernel gives transparent huge pages only to the regions
** that ask for them (THP "madvise", as on the 2-vCPU machine of
** docs/performance-training.md), every 4 KiB page of a fresh block costs
** one fault when first written. There a fault took 10-11 us: 276 ms to
** first write 100 MB, against 6-26 ms in 2 MiB pages (157 ms once, while
** the kernel compacted memory for them). Fresh blocks are many: data sets
** as they are read, the buffers of a model's first step, tensors larger
** than the block cache keeps. The block is aligned to 2 MiB so that all
** of it can be; a kernel without huge pages just maps small ones.
*/
#include "pages.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)

static size_t page_round(size_t n) {
    long p = sysconf(_SC_PAGESIZE); /* from the auxiliary vector: cheap */
    size_t page = p > 0 ? (size_t)p : 4096;
    return (n + page - 1) / page * page;
}

void *ln__pages_map(size_t n) {
    if (n > SIZE_MAX / 2) return NULL; /* no such memory; no wrap below */
    size_t len = page_round(n ? n : 1);
    /* a mapping one huge page longer, cut down to the aligned part */
    char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (a > p) munmap(p, (size_t)(a - p));
    size_t tail = (size_t)(p + len + HUGE_PAGE - (a + len));
    if (tail) munmap(a + len, tail);
#ifdef MADV_HUGEPAGE
    madvise(a, len, MADV_HUGEPAGE); /* a hint: small pages if refused */
#endif
    return a;
}

void ln__pages_unmap(void *p, size_t n) {
    if (p) munmap(p, page_round(n ? n : 1));
}
