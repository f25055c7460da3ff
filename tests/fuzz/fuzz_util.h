/*
** fuzz_util.h -- helpers shared by the fuzz harnesses (tests/fuzz/fuzz_*.c).
**
** Every harness defines LLVMFuzzerTestOneInput. Built with clang and
** -fsanitize=fuzzer it is a libFuzzer target (tests/fuzz/run_fuzz.sh);
** built with gcc and replay_main.c it replays the corpus and past crash
** inputs as ordinary CTest tests.
**
** Harnesses are test code: when an invariant breaks they print why and
** abort(), which libFuzzer records as a crash and CTest as a failure.
*/
#ifndef LUNET_FUZZ_UTIL_H
#define LUNET_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lunet/engine/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when cond is false (the harness's oracle). */
#define FZ_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) fz_die(__FILE__, __LINE__, #cond, __VA_ARGS__);        \
    } while (0)

void fz_die(const char *file, int line, const char *cond, const char *fmt,
            ...) __attribute__((noreturn, format(printf, 4, 5)));

/* Findings that are not crashes -- a broken contract that a reported,
** still open issue explains (a config that does not round-trip, an
** unclear message) -- go through fz_finding. Strict mode (the default, as
** in the CTest replays) aborts like FZ_CHECK. With LUNET_FUZZ_LENIENT=1
** (run_fuzz.sh) each distinct key is printed once as "FUZZ FINDING: ..."
** and the input saved as $LUNET_FUZZ_FINDINGS/finding-<hash> (when set),
** and fuzzing goes on. fz_set_input tells it the input being run. */
void fz_set_input(const uint8_t *data, size_t n);
void fz_finding(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The bytes as the content of a file: an in-memory file (memfd) reused
** for every input, named by a path the readers can fopen. Returns the
** path (static). */
const char *fz_put_file(const void *data, size_t n);

/* A private folder for files a harness writes by name (the atomic
** writers need a real folder): in /dev/shm when it exists. Created once,
** removed at exit. */
const char *fz_tmpdir(void);

/* Checks shared by all readers after a call: a failure leaves a message
** that starts with `prefix` and names the file; success leaves a tensor. */
void fz_check_result(const ln_ctx *ctx, ln_status st, const ln_tensor *t,
                     const char *prefix, const char *path);

/* Every tensor and storage made while handling one input is released. */
typedef struct fz_live {
    int64_t tensors, storages;
} fz_live;
fz_live fz_live_now(void);
void fz_live_check(fz_live before, const char *what);

/* ---- structured input: a cursor over the fuzz bytes --------------------- */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

/* Each getter returns 0 (or an empty value) once the bytes run out. */
uint8_t fz_u8(fz_in *in);
uint32_t fz_u32(fz_in *in);
/* A number drawn to hit edges: small integers, 0, negatives, fractions,
** huge values, NaN and the infinities. */
double fz_number(fz_in *in);
/* A string of at most max bytes: its length comes first (NUL bytes cut
** it, as C strings would). Written into buf (max + 1 bytes). */
const char *fz_string(fz_in *in, char *buf, size_t max);
/* One of n strings by index. */
const char *fz_pick(fz_in *in, const char *const *v, size_t n);

#endif
