/*
** lunet.h -- status codes, the error context, threads and the library's
** version. Every fallible C function returns an ln_status and, on failure,
** leaves a human-readable message in the ln_ctx it was handed. Only the Lua
** binding turns a message into a Lua error; nothing in the core or in a
** plugin prints, exits or aborts on user input.
*/
#ifndef LUNET_H
#define LUNET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LN_VERSION_MAJOR 0
#define LN_VERSION_MINOR 1
#define LN_VERSION_PATCH 0
#define LN_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define LN_API __attribute__((visibility("default")))
#define LN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LN_API
#define LN_PRINTF(f, a)
#endif

typedef enum ln_status {
    LN_OK = 0,
    LN_E_ARG,       /* a bad argument value or type */
    LN_E_SHAPE,     /* shapes do not fit */
    LN_E_NOMEM,     /* an allocation failed */
    LN_E_IO,        /* a file could not be read or written */
    LN_E_FORMAT,    /* a file is corrupt or not of the expected kind */
    LN_E_NOTFOUND,  /* an unknown name */
    LN_E_ABI,       /* a plugin built for another ABI */
    LN_E_DUPLICATE, /* a unit name registered twice */
    LN_E_STATE,     /* an operation called out of order (e.g. before build) */
    LN_E_INTERNAL
} ln_status;

#define LN_MSG_MAX 1024

/* The error slot. One per Lua state (or per test); not shared across
** threads. msg is empty after ln_ctx_clear. */
typedef struct ln_ctx {
    ln_status status;
    char msg[LN_MSG_MAX];
} ln_ctx;

LN_API void ln_ctx_clear(ln_ctx *ctx);

/* Record a failure and return its code, so callers write
**   return ln_fail(ctx, LN_E_SHAPE, "dense: expected %d, got %d", a, b);
** ctx may be NULL (the message is then dropped). */
LN_API ln_status ln_fail(ln_ctx *ctx, ln_status code, const char *fmt, ...)
    LN_PRINTF(3, 4);
LN_API ln_status ln_vfail(ln_ctx *ctx, ln_status code, const char *fmt,
                          va_list ap);
/* Put "prefix: " before the message already in ctx; returns ctx->status. */
LN_API ln_status ln_prefix(ln_ctx *ctx, const char *fmt, ...) LN_PRINTF(2, 3);

LN_API const char *ln_status_name(ln_status s);

/* Threads used by every kernel (OpenMP). Results never depend on it.
** ln_set_num_threads clamps n into [1, ln_max_threads()]: more threads than
** that gain nothing on any machine and make libgomp end the process
** ("Thread creation failed") or crash instead of returning an error. */
#define LN_MAX_THREADS 1024
LN_API void ln_set_num_threads(int n);
LN_API int ln_get_num_threads(void);
/* LN_MAX_THREADS, or fewer when the address-space limit (ulimit -v) cannot
** hold that many thread stacks (at most half of it for stacks). */
LN_API int ln_max_threads(void);

/* Wall-clock seconds (monotonic), sub-microsecond resolution. */
LN_API double ln_time(void);

#endif
