/*
** io_csv.c -- numeric CSV files with an optional header line.
**
** The file is read whole (at most LN_IO_MAX_BYTES), then parsed twice: once
** to count the rows and check every row has the header's number of fields,
** once to convert. Lines may end in \n or \r\n; blank lines are skipped;
** fields may be quoted ("1.5"); header names lose their quotes and
** surrounding spaces. Errors give the line and column.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lunet/io.h"
#include "lunet/safe_open.h"
#include "lunet/tensor_ops.h"

/* Next line of buf from *pos: [*start, *end) without the line break.
** Returns 0 at the end of the buffer. */
static int next_line(const char *buf, size_t n, size_t *pos, size_t *start,
                     size_t *end) {
    if (*pos >= n) return 0;
    *start = *pos;
    const char *nl = memchr(buf + *pos, '\n', n - *pos);
    size_t e = nl ? (size_t)(nl - buf) : n;
    *pos = nl ? e + 1 : n;
    if (e > *start && buf[e - 1] == '\r') e--;
    *end = e;
    return 1;
}

static int blank(const char *s, size_t a, size_t b) {
    for (size_t i = a; i < b; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

/* Field k boundaries inside [a, b): fills starts/ends for up to max fields,
** returns the count. A quoted field may contain the delimiter. */
static int split(const char *s, size_t a, size_t b, char delim, size_t *fs,
                 size_t *fe, int max) {
    int n = 0;
    size_t i = a;
    for (;;) {
        size_t st = i;
        int quoted = 0;
        while (i < b && (s[i] != delim || quoted)) {
            if (s[i] == '"') quoted = !quoted;
            i++;
        }
        if (n < max) {
            fs[n] = st;
            fe[n] = i;
        }
        n++;
        if (i >= b) break;
        i++; /* the delimiter */
    }
    return n;
}

/* Trim spaces and one pair of quotes from [*a, *b). */
static void trim(const char *s, size_t *a, size_t *b) {
    while (*a < *b && (s[*a] == ' ' || s[*a] == '\t')) (*a)++;
    while (*b > *a && (s[*b - 1] == ' ' || s[*b - 1] == '\t')) (*b)--;
    if (*b - *a >= 2 && s[*a] == '"' && s[*b - 1] == '"') (*a)++, (*b)--;
}

void ln_csv_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Read the whole file into a NUL-terminated buffer. */
static ln_status slurp(ln_ctx *ctx, const char *path, char **out, size_t *len) {
    FILE *f = ln_fopen_read(ctx, "read_csv", path);
    if (!f) return ctx->status;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size > LN_IO_MAX_BYTES) {
        fclose(f);
        return ln_fail(ctx, LN_E_IO, "read_csv: %s: cannot stat or larger than "
                       "%lld bytes", path, (long long)LN_IO_MAX_BYTES);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return ln_fail(ctx, LN_E_NOMEM, "read_csv: %s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return ln_fail(ctx, LN_E_IO, "read_csv: %s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return LN_OK;
}

ln_status ln_read_csv(ln_ctx *ctx, const char *path, const ln_csv_opts *opts,
                      ln_tensor **out, char ***names, int *ncols) {
    ln_csv_opts o = opts ? *opts : (ln_csv_opts){',', 1, LN_FLOAT32};
    char *buf = NULL;
    size_t n = 0, pos = 0, a = 0, b = 0;
    *out = NULL;
    *names = NULL;
    *ncols = 0;
    ln_status st = slurp(ctx, path, &buf, &n);
    if (st) return st;
    int cols = -1, line = 0, header_line = 0;
    size_t data_pos = 0;
    /* the first non-blank line fixes the column count */
    while (next_line(buf, n, &pos, &a, &b)) {
        line++;
        if (blank(buf, a, b)) continue;
        cols = split(buf, a, b, o.delimiter, NULL, NULL, 0);
        header_line = line;
        data_pos = o.header ? pos : a;
        break;
    }
    if (cols < 0) {
        free(buf);
        return ln_fail(ctx, LN_E_FORMAT, "read_csv: %s: the file is empty", path);
    }
    size_t *fs = malloc(sizeof *fs * (size_t)cols), *fe = malloc(sizeof *fe * (size_t)cols);
    char **hdr = o.header ? calloc((size_t)cols, sizeof *hdr) : NULL;
    ln_tensor *t = NULL;
    if (!fs || !fe || (o.header && !hdr)) {
        st = ln_fail(ctx, LN_E_NOMEM, "read_csv: %s: out of memory", path);
        goto done;
    }
    if (o.header) {
        split(buf, a, b, o.delimiter, fs, fe, cols);
        for (int c = 0; c < cols; c++) {
            size_t x = fs[c], y = fe[c];
            trim(buf, &x, &y);
            hdr[c] = strndup(buf + x, y - x);
            if (!hdr[c]) {
                st = ln_fail(ctx, LN_E_NOMEM, "read_csv: %s: out of memory", path);
                goto done;
            }
        }
    }
    /* pass 1: count rows, check field counts */
    int64_t rows = 0;
    pos = data_pos;
    line = o.header ? header_line : header_line - 1;
    while (next_line(buf, n, &pos, &a, &b)) {
        line++;
        if (blank(buf, a, b)) continue;
        int k = split(buf, a, b, o.delimiter, NULL, NULL, 0);
        if (k != cols) {
            st = ln_fail(ctx, LN_E_FORMAT, "read_csv: %s: line %d has %d "
                         "fields, expected %d", path, line, k, cols);
            goto done;
        }
        rows++;
    }
    int64_t shape[2] = {rows, cols};
    t = ln_tensor_new(ctx, o.dtype, 2, shape);
    if (!t) {
        st = ln_prefix(ctx, "read_csv: %s", path);
        goto done;
    }
    /* pass 2: convert */
    int64_t r = 0;
    pos = data_pos;
    line = o.header ? header_line : header_line - 1;
    while (next_line(buf, n, &pos, &a, &b)) {
        line++;
        if (blank(buf, a, b)) continue;
        split(buf, a, b, o.delimiter, fs, fe, cols);
        for (int c = 0; c < cols; c++) {
            size_t x = fs[c], y = fe[c];
            trim(buf, &x, &y);
            double v;
            char *end = NULL;
            char saved = buf[y];
            buf[y] = '\0';
            if (x == y) v = NAN, end = buf + y;
            else v = strtod(buf + x, &end);
            buf[y] = saved;
            int empty = x == y;
            if (end != buf + y || (empty && o.dtype != LN_FLOAT32) ||
                (!empty && !ln_value_fits(o.dtype, v))) {
                char field[48];
                snprintf(field, sizeof field, "%.*s", (int)(y - x < 40 ? y - x : 40),
                         buf + x);
                st = ln_fail(ctx, LN_E_FORMAT, "read_csv: %s: line %d, column "
                             "%d%s%s%s: '%s' %s%s", path, line, c + 1,
                             hdr ? " ('" : "", hdr ? hdr[c] : "", hdr ? "')" : "",
                             field, end != buf + y || empty
                                        ? "is not a number"
                                        : "does not fit in ",
                             end != buf + y || empty ? "" : ln_dtype_name(o.dtype));
                goto done;
            }
            ln_set_f64(t, r * cols + c, v);
        }
        r++;
    }
done:
    free(fs);
    free(fe);
    free(buf);
    if (st) {
        ln_tensor_release(t);
        ln_csv_free_names(hdr, cols);
        return st;
    }
    *out = t;
    *names = hdr;
    *ncols = cols;
    return LN_OK;
}
