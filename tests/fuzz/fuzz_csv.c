/*
** fuzz_csv.c -- the CSV reader (ln_read_csv).
**
** Input: an options byte, then the file. Options: bits 0-2 pick the
** delimiter (, ; | : tab space, or the next input byte), bit 3 the header,
** bits 4-5 the dtype (float32, int32, uint8).
**
** Oracle: a second, independent CSV reading of the same bytes following
** the documented rules (lines end in \n or \r\n; blank lines are skipped;
** the first line fixes the column count; quotes protect delimiters; a
** field loses surrounding blanks and one pair of quotes; empty fields are
** NaN in float32 and errors otherwise; a value must be a whole strtod
** number that fits the dtype). With the usual delimiters the reader must
** accept exactly what the reference accepts, with the same shape, column
** names and values. With exotic delimiters (a blank, a quote, a line
** break, any byte) only the general invariants are checked.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/io.h"
#include "lunet/tensor_ops.h"
#include "fuzz_util.h"

typedef struct csv_ref {
    int ok, rows, cols;
    double *v; /* rows * cols values, converted to the dtype */
    char **names;
} csv_ref;

static int is_blank_line(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

/* Split one line into fields (start, length); returns the count. */
static int fields(const char *s, size_t n, char delim, size_t *fs, size_t *fl,
                  int max) {
    int count = 0, quoted = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '"') quoted = !quoted;
        if (i == n || (s[i] == delim && !quoted)) {
            if (count < max) fs[count] = start, fl[count] = i - start;
            count++;
            start = i + 1;
        }
    }
    return count;
}

static void trim(const char *s, size_t *a, size_t *len) {
    while (*len && (s[*a] == ' ' || s[*a] == '\t')) (*a)++, (*len)--;
    while (*len && (s[*a + *len - 1] == ' ' || s[*a + *len - 1] == '\t')) (*len)--;
    if (*len >= 2 && s[*a] == '"' && s[*a + *len - 1] == '"') (*a)++, *len -= 2;
}

/* An explicit integer dtype holds integers in its range only (a fraction
** is refused, as pandas does, never truncated). */
static int fits(ln_dtype dt, double v) {
    if (dt == LN_FLOAT32) return 1;
    if (isnan(v) || v != trunc(v)) return 0;
    return dt == LN_UINT8 ? v >= 0 && v <= 255 : v >= -2147483648.0 && v <= 2147483647.0;
}

static double convert(ln_dtype dt, double v) {
    switch (dt) {
    case LN_FLOAT32: return (float)v;
    case LN_INT32: return (int32_t)v;
    default: return (uint8_t)v;
    }
}

/* strndup's result without reading past s[len - 1] (the input is not a
** C string): up to the first NUL, as strndup stops there too. */
static char *copy_name(const char *s, size_t len) {
    const char *nul = memchr(s, '\0', len);
    if (nul) len = (size_t)(nul - s);
    char *c = malloc(len + 1);
    FZ_CHECK(c != NULL, "out of memory");
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

static void ref_free(csv_ref *r) {
    free(r->v);
    for (int i = 0; r->names && i < r->cols; i++) free(r->names[i]);
    free(r->names);
}

/* The independent reading. Lines are collected first (start, length). */
static csv_ref reference(const char *s, size_t n, char delim, int header,
                         ln_dtype dt) {
    csv_ref r;
    memset(&r, 0, sizeof r);
    size_t nlines = 1;
    for (size_t i = 0; i < n; i++) nlines += s[i] == '\n';
    size_t *ls = malloc(nlines * sizeof *ls), *ll = malloc(nlines * sizeof *ll);
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n && start == n) break; /* no empty line after a final \n */
        if (i == n || s[i] == '\n') {
            size_t len = i - start;
            if (len && s[start + len - 1] == '\r') len--;
            ls[k] = start, ll[k] = len, k++;
            start = i + 1;
        }
    }
    size_t li = 0;
    while (li < k && is_blank_line(s + ls[li], ll[li])) li++;
    if (li == k) goto out; /* empty file */
    size_t maxf = ll[li] + 1;
    size_t *fs = malloc(maxf * sizeof *fs), *fl = malloc(maxf * sizeof *fl);
    r.cols = fields(s + ls[li], ll[li], delim, fs, fl, (int)maxf);
    if (header) {
        r.names = calloc((size_t)r.cols, sizeof *r.names);
        for (int c = 0; c < r.cols; c++) {
            size_t a = ls[li] + fs[c], len = fl[c];
            trim(s, &a, &len);
            r.names[c] = copy_name(s + a, len);
        }
        li++;
    }
    free(fs);
    free(fl);
    fs = malloc((size_t)r.cols * sizeof *fs);
    fl = malloc((size_t)r.cols * sizeof *fl);
    r.v = malloc(sizeof *r.v * (size_t)r.cols * (k - li + 1));
    char *field = malloc(n + 1);
    r.ok = 1;
    for (; li < k && r.ok; li++) {
        const char *line = s + ls[li];
        if (is_blank_line(line, ll[li])) continue;
        if (fields(line, ll[li], delim, fs, fl, r.cols) != r.cols) {
            r.ok = 0;
            break;
        }
        for (int c = 0; c < r.cols && r.ok; c++) {
            size_t a = ls[li] + fs[c], len = fl[c];
            trim(s, &a, &len);
            double v;
            if (len == 0) {
                v = NAN;
                if (dt != LN_FLOAT32) r.ok = 0;
            } else {
                memcpy(field, s + a, len);
                field[len] = '\0';
                char *end;
                v = strtod(field, &end);
                if (end != field + len || !fits(dt, v)) r.ok = 0;
            }
            r.v[(size_t)r.rows * (size_t)r.cols + (size_t)c] = r.ok ? convert(dt, v) : 0;
        }
        if (r.ok) r.rows++;
    }
    free(field);
    free(fs);
    free(fl);
out:
    free(ls);
    free(ll);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_set_input(data, size);
    if (size < 2) return 0;
    static const char delims[] = {',', ';', '|', ':', '\t', ' '};
    uint8_t o = data[0];
    ln_csv_opts opts;
    int exotic = (o & 7) >= 6;
    opts.delimiter = (o & 7) < 6 ? delims[o & 7] : (char)data[1];
    if ((o & 7) == 4 || (o & 7) == 5) exotic = 1; /* blanks: trimmed too */
    opts.header = (o >> 3) & 1;
    static const ln_dtype dts[] = {LN_FLOAT32, LN_INT32, LN_UINT8, LN_FLOAT32};
    opts.dtype = dts[(o >> 4) & 3];
    const uint8_t *file = data + ((o & 7) >= 6 ? 2 : 1);
    size_t n = size - (size_t)(file - data);
    const char *path = fz_put_file(file, n);

    fz_live before = fz_live_now();
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = (ln_tensor *)0x1;
    char **names = (char **)0x1;
    int ncols = -1;
    ln_status st = ln_read_csv(&ctx, path, &opts, &t, &names, &ncols);
    fz_check_result(&ctx, st, t, "read_csv: ", path);
    if (st == LN_OK) {
        FZ_CHECK(t->ndim == 2 && t->dtype == opts.dtype, "shape or dtype");
        FZ_CHECK(t->shape[1] == ncols, "%lld columns, %d names",
                 (long long)t->shape[1], ncols);
        FZ_CHECK(opts.header ? names != NULL : names == NULL, "names");
    } else {
        FZ_CHECK(names == NULL && ncols == 0, "failure left names");
    }
    if (!exotic) {
        csv_ref r = reference((const char *)file, n, opts.delimiter,
                              opts.header, opts.dtype);
        FZ_CHECK(r.ok == (st == LN_OK), "the reference %s what read_csv %s: %s",
                 r.ok ? "accepts" : "refuses", st ? "refuses" : "accepts",
                 st ? ctx.msg : "");
        if (r.ok) {
            FZ_CHECK(t->shape[0] == r.rows && t->shape[1] == r.cols,
                     "shape (%lld, %lld), reference (%d, %d)",
                     (long long)t->shape[0], (long long)t->shape[1], r.rows,
                     r.cols);
            for (int64_t i = 0; i < t->numel; i++) {
                double got = ln_get_f64(t, i);
                FZ_CHECK(got == r.v[i] || (isnan(got) && isnan(r.v[i])),
                         "value %lld: %g, reference %g", (long long)i, got,
                         r.v[i]);
            }
            for (int c = 0; opts.header && c < ncols; c++)
                FZ_CHECK(strcmp(names[c], r.names[c]) == 0,
                         "column name %d: '%s', reference '%s'", c, names[c],
                         r.names[c]);
        }
        ref_free(&r);
    }
    if (st == LN_OK) {
        ln_csv_free_names(names, ncols);
        ln_tensor_release(t);
    }
    fz_live_check(before, "read_csv");
    return 0;
}
