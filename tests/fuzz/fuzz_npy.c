/*
** fuzz_npy.c -- the .npy reader (ln_load_npy) and, for what it accepts,
** the writer (ln_save_npy).
**
** Input: the file as is.
**
** Oracle: a refusal names load_npy and the file. An accepted file's data
** is the last numel * itemsize bytes of the file, right after the header
** its preamble announces (itemsize 1, 4 or 8 as the dtype allows): the
** tensor must hold exactly those values converted (bool -> 0/1, float64
** -> float32, int64 -> int32). The tensor then goes through ln_save_npy
** and back, bit for bit. No tensor may leak.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/io.h"
#include "fuzz_util.h"

/* Bytes of the preamble and header as the preamble announces them. */
static size_t header_end(const uint8_t *d, size_t n) {
    if (n < 10) return 0;
    if (d[6] == 1) return 10 + ((size_t)d[8] | (size_t)d[9] << 8);
    if (n < 12) return 0;
    return 12 + ((size_t)d[8] | (size_t)d[9] << 8 | (size_t)d[10] << 16 |
                 (size_t)d[11] << 24);
}

/* Does the tensor hold the data section read with this item size? */
static int matches(const ln_tensor *t, const uint8_t *body, size_t item,
                   int as_bool) {
    for (int64_t i = 0; i < t->numel; i++) {
        const uint8_t *q = body + (size_t)i * item;
        switch (t->dtype) {
        case LN_UINT8:
            if (ln_u8(t)[i] != (as_bool ? q[0] != 0 : q[0])) return 0;
            break;
        case LN_INT32: {
            int64_t v;
            if (item == 4) {
                int32_t w;
                memcpy(&w, q, 4);
                v = w;
            } else {
                memcpy(&v, q, 8);
            }
            if (ln_i32(t)[i] != v) return 0;
        } break;
        case LN_FLOAT32: {
            float want;
            if (item == 4) {
                memcpy(&want, q, 4);
            } else {
                double d;
                memcpy(&d, q, 8);
                want = (float)d;
            }
            float got = ln_f32(t)[i];
            if (item == 4 ? memcmp(&got, &want, 4) != 0
                          : !(got == want || (isnan(got) && isnan(want))))
                return 0;
        } break;
        }
    }
    return 1;
}

static void check_values(const uint8_t *d, size_t n, const ln_tensor *t) {
    size_t start = header_end(d, n);
    FZ_CHECK(start > 0 && start <= n, "accepted a file with a bad preamble");
    size_t data = n - start;
    static const size_t items[] = {1, 4, 8};
    for (int k = 0; k < 3; k++) {
        size_t item = items[k];
        if (t->dtype == LN_UINT8 && item != 1) continue;
        if (t->dtype != LN_UINT8 && item == 1) continue;
        if ((uint64_t)t->numel * item != data) continue;
        if (t->dtype == LN_UINT8) {
            /* uint8 or bool: the bytes as they are, or 0/1 */
            if (matches(t, d + start, 1, 0) || matches(t, d + start, 1, 1)) return;
        } else if (matches(t, d + start, item, 0)) {
            return;
        }
    }
    FZ_CHECK(0, "load_npy: %lld %s values do not match the %zu data bytes",
             (long long)t->numel, ln_dtype_name(t->dtype), data);
}

/* save_npy then load_npy gives the same tensor, bit for bit. */
static void check_round_trip(const ln_tensor *t) {
    char path[256];
    snprintf(path, sizeof path, "%s/round.npy", fz_tmpdir());
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_status st = ln_save_npy(&ctx, path, t);
    FZ_CHECK(st == LN_OK, "save_npy failed: %s", ctx.msg);
    ln_tensor *back = NULL;
    st = ln_load_npy(&ctx, path, &back);
    FZ_CHECK(st == LN_OK, "the file save_npy wrote does not load: %s", ctx.msg);
    FZ_CHECK(back->dtype == t->dtype && back->ndim == t->ndim &&
                 back->numel == t->numel,
             "round trip changed the dtype or shape");
    for (int i = 0; i < t->ndim; i++)
        FZ_CHECK(back->shape[i] == t->shape[i], "round trip changed dim %d", i);
    FZ_CHECK(t->numel == 0 || memcmp(ln_data(back), ln_data(t),
                                     (size_t)t->numel * ln_dtype_size(t->dtype)) == 0,
             "round trip changed the values");
    ln_tensor_release(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_set_input(data, size);
    const char *path = fz_put_file(data, size);
    fz_live before = fz_live_now();
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = (ln_tensor *)0x1;
    ln_status st = ln_load_npy(&ctx, path, &t);
    fz_check_result(&ctx, st, t, "load_npy: ", path);
    if (st == LN_OK) {
        FZ_CHECK(size >= 10 && memcmp(data, "\x93NUMPY", 6) == 0,
                 "accepted a file without the magic");
        check_values(data, size, t);
        /* writing is slow (fsync): only for modest tensors */
        if (t->numel <= 4096) check_round_trip(t);
        ln_tensor_release(t);
    }
    fz_live_check(before, "load_npy");
    return 0;
}
