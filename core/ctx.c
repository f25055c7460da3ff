/*
** ctx.c -- the error context, thread count and clock.
*/
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lunet/kernels.h"
#include "lunet/lunet.h"

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

void ln_set_num_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    ln_cpu_init();
}

int ln_get_num_threads(void) { return omp_get_max_threads(); }

double ln_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
