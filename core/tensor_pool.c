/*
** tensor_pool.c -- storage blocks: the cache of freed blocks by size class
** and the byte counters (rules in memory.h).
**
** Size classes: 64 bytes, then four per power of two -- for
** 2^e < n <= 2^(e+1) the sizes 2^e + k 2^(e-2), k = 1..4. A cached block
** lives in the free list of the largest class not above its capacity, so
** any block of a list is large enough for every request of that class.
** The list links live inside the free blocks themselves.
*/
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/memory.h"
#include "pages.h"
#include "tensor_pool.h"

#define NCLASSES 160

typedef struct free_block {
    struct free_block *next;
    void *base;
    size_t cap;
    int64_t stamp; /* `freed` when the block was cached */
} free_block;

/* AddressSanitizer builds: GCC says so by __SANITIZE_ADDRESS__, clang by
** __has_feature (clang 14 does not define the former). */
#if defined(__SANITIZE_ADDRESS__)
#define LN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LN_ASAN 1
#endif
#endif

#if defined(LN_ASAN)
#define DEFAULT_LIMIT 0 /* let ASan see every use after free */
#define MAP_MIN SIZE_MAX /* and every block, through its malloc */
#else
#define DEFAULT_LIMIT ((int64_t)128 << 20)
/* Blocks from this size on are mapped in 2 MiB pages (pages.c: a fresh
** block's first writes fault a page at a time otherwise). */
#define MAP_MIN LN_PAGES_MIN
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static free_block *lists[NCLASSES];
static int64_t live, peak, made, cached, hits, misses;
static int64_t freed; /* bytes given to ln_pool_free, ever */
static int64_t limit = DEFAULT_LIMIT;

static int bitlen(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* The smallest class holding n bytes: its index and size. */
static int class_up(size_t n, size_t *size) {
    if (n <= 64) {
        *size = 64;
        return 0;
    }
    int e = bitlen(n - 1) - 1; /* 2^e < n <= 2^(e+1), e >= 6 */
    size_t base = (size_t)1 << e, step = base >> 2;
    size_t k = (n - base + step - 1) / step; /* 1..4 */
    *size = base + k * step;
    return (e - 6) * 4 + (int)k;
}

/* The largest class not above cap (cap >= 64). */
static int class_down(size_t cap) {
    size_t size;
    int c = class_up(cap, &size);
    return size > cap ? c - 1 : c;
}

static void count_live(int64_t delta) { /* delta > 0: a block handed out */
    live += delta;
    if (live > peak) peak = live;
    if (delta > 0) made += delta;
}

void *ln_pool_alloc(size_t *cap, int zero, void **base) {
    size_t want = *cap < 64 ? 64 : *cap, size;
    int c = class_up(want, &size);
    pthread_mutex_lock(&lock);
    int cacheable = c < NCLASSES && (int64_t)size <= limit / 4;
    free_block *b = cacheable ? lists[c] : NULL;
    if (b) {
        lists[c] = b->next;
        cached -= (int64_t)b->cap;
        hits++;
        count_live((int64_t)b->cap);
        pthread_mutex_unlock(&lock);
        void *data = b;
        *base = b->base;
        *cap = b->cap;
        if (zero) memset(data, 0, *cap);
        return data;
    }
    misses++;
    pthread_mutex_unlock(&lock);
    /* Class-sized when it could be cached later, exact otherwise. */
    size_t n = cacheable ? size : (want + 63) & ~(size_t)63;
    void *p = n >= MAP_MIN ? ln__pages_map(n) /* zeroed, aligned */
              : zero       ? calloc(1, n + 64)
                           : malloc(n + 64);
    if (!p) return NULL;
    pthread_mutex_lock(&lock);
    count_live((int64_t)n);
    pthread_mutex_unlock(&lock);
    *base = p;
    *cap = n;
    return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* Back to the system, as ln_pool_alloc got it (by the same size rule). */
static void release(void *base, size_t cap) {
    if (cap >= MAP_MIN) ln__pages_unmap(base, cap);
    else free(base);
}

/* Unlink cached blocks, the largest classes first, until at most `keep`
** bytes stay cached; the caller releases them (release_all). Called with
** the lock held; frees outside it would race with a concurrent alloc of
** the same list, so the blocks are unlinked first and freed after. */
static free_block *unlink_beyond(int64_t keep) {
    free_block *out = NULL;
    for (int c = NCLASSES - 1; c >= 0 && cached > keep; c--) {
        while (lists[c] && cached > keep) {
            free_block *b = lists[c];
            lists[c] = b->next;
            cached -= (int64_t)b->cap;
            b->next = out;
            out = b;
        }
    }
    return out;
}

static void release_all(free_block *b) {
    while (b) {
        free_block *next = b->next;
        release(b->base, b->cap);
        b = next;
    }
}

/* Unlink stale mapped blocks of classes other than skip, the largest
** first, until `need` more bytes fit in the cache; the caller releases
** them. Stale: cached while more than twice the limit's bytes were freed,
** so not what a loop cycling through its blocks takes back (at most
** limit / LN_PAGES_MIN mapped blocks are looked at). Lock held. */
static free_block *unlink_stale(int64_t need, int skip) {
    free_block *out = NULL;
    for (int c = NCLASSES - 1; c >= class_down(LN_PAGES_MIN) && cached + need > limit; c--) {
        free_block **pp = &lists[c];
        while (c != skip && *pp && cached + need > limit) {
            free_block *b = *pp;
            if (freed - b->stamp <= 2 * limit) {
                pp = &b->next;
                continue;
            }
            *pp = b->next;
            cached -= (int64_t)b->cap;
            b->next = out;
            out = b;
        }
    }
    return out;
}

/* A freed block is cached when its class may be. A mapped block that finds
** the cache full takes the place of stale mapped blocks (released, it would
** cost its pages' faults when made again; a malloc'ed one mostly goes back
** to glibc's heap, which hands it out again without faults). */
void ln_pool_free(void *base, void *data, size_t cap) {
    int c = cap >= 64 ? class_down(cap) : -1;
    free_block *drop = NULL;
    pthread_mutex_lock(&lock);
    live -= (int64_t)cap;
    freed += (int64_t)cap;
    if (c >= 0 && c < NCLASSES && (int64_t)cap <= limit / 4) {
        if (cached + (int64_t)cap > limit && cap >= MAP_MIN)
            drop = unlink_stale((int64_t)cap, c);
        if (cached + (int64_t)cap <= limit) {
            free_block *b = data;
            b->base = base;
            b->cap = cap;
            b->stamp = freed;
            b->next = lists[c];
            lists[c] = b;
            cached += (int64_t)cap;
            pthread_mutex_unlock(&lock);
            release_all(drop);
            return;
        }
    }
    pthread_mutex_unlock(&lock);
    release_all(drop);
    release(base, cap);
}

void ln_memory_set_cache_limit(int64_t bytes) {
    if (bytes < 0) bytes = 0;
    pthread_mutex_lock(&lock);
    limit = bytes;
    free_block *drop = unlink_beyond(bytes);
    pthread_mutex_unlock(&lock);
    release_all(drop);
}

void ln_memory_empty_cache(void) {
    pthread_mutex_lock(&lock);
    free_block *drop = unlink_beyond(0);
    pthread_mutex_unlock(&lock);
    release_all(drop);
}

int64_t ln_memory_live_bytes(void) { return live; }

int64_t ln_memory_made_bytes(void) { return made; }

int64_t ln_memory_block_bytes(int64_t bytes) {
    size_t size;
    class_up(bytes > 0 ? (size_t)bytes : 0, &size);
    return (int64_t)size;
}

void ln_memory_get_stats(ln_memory_stats *s) {
    pthread_mutex_lock(&lock);
    s->live_bytes = live;
    s->peak_bytes = peak;
    s->cached_bytes = cached;
    s->cache_limit = limit;
    s->cache_hits = hits;
    s->cache_misses = misses;
    pthread_mutex_unlock(&lock);
}
