/*
** ctx.c -- the error context, thread count and clock.
*/
#define _GNU_SOURCE /* pthread_getattr_default_np */
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>

#include "lunet/kernels.h"
#include "lunet/lunet.h"
#include "parallel_impl.h"

void ln_ctx_clear(ln_ctx *ctx) {
    ctx->status = LN_OK;
    ctx->msg[0] = '\0';
}

ln_status ln_vfail(ln_ctx *ctx, ln_status code, const char *fmt, va_list ap) {
    if (ctx) {
        ctx->status = code;
        vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    }
    return code;
}

ln_status ln_fail(ln_ctx *ctx, ln_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ln_vfail(ctx, code, fmt, ap);
    va_end(ap);
    return code;
}

ln_status ln_prefix(ln_ctx *ctx, const char *fmt, ...) {
    if (!ctx) return LN_E_INTERNAL;
    char head[LN_MSG_MAX], old[LN_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, ctx->msg, sizeof old);
    size_t h = strlen(head);
    if (h + 2 >= sizeof ctx->msg) return ctx->status;
    memcpy(ctx->msg, head, h);
    memcpy(ctx->msg + h, ": ", 2);
    size_t room = sizeof ctx->msg - h - 3, o = strlen(old);
    if (o > room) o = room;
    memcpy(ctx->msg + h + 2, old, o);
    ctx->msg[h + 2 + o] = '\0';
    return ctx->status;
}

const char *ln_status_name(ln_status s) {
    static const char *names[] = {"ok", "bad argument", "shape mismatch",
        "out of memory", "i/o error", "bad format", "not found",
        "ABI mismatch", "duplicate", "bad state", "internal error"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

/* The stack size libgomp gives each thread: OMP_STACKSIZE or
** GOMP_STACKSIZE (a number with an optional B/K/M/G suffix, K by default),
** else the pthread default (ulimit -s). */
static size_t thread_stack_size(void) {
    const char *e = getenv("OMP_STACKSIZE");
    if (!e) e = getenv("GOMP_STACKSIZE");
    if (e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        while (*end == ' ') end++;
        int shift = 10;
        switch (*end) {
        case 'b': case 'B': shift = 0; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        }
        if (end != e && v > 0 && v < (1ull << 40)) return (size_t)(v << shift);
    }
    size_t size = (size_t)8 << 20;
    pthread_attr_t a;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &size);
        pthread_attr_destroy(&a);
    }
    return size;
}

int ln_max_threads(void) {
    int max = LN_MAX_THREADS;
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
        /* half the address space for the stacks (and their guard pages) */
        uint64_t fit = (uint64_t)as.rlim_cur / 2 / (thread_stack_size() + 65536);
        if (fit < (uint64_t)max) max = fit < 1 ? 1 : (int)fit;
    }
    return max;
}

void ln_set_num_threads(int n) {
    int max = ln_max_threads();
    omp_set_num_threads(n < 1 ? 1 : n > max ? max : n);
    ln__omp_loop_reset();
    ln_cpu_init();
}

int ln_get_num_threads(void) { return omp_get_max_threads(); }

double ln_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
