/*
** utf8.c -- UTF-8 for the wire: Jupyter's JSON strings must be valid
** UTF-8 and its cursor positions count code points, while Lua strings are
** bytes.
*/
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

/* Length of the valid UTF-8 sequence at s[0..n), 0 if it is not one, or
** -1 if it is a valid but incomplete start. */
static int seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -1;
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

size_t kutf8_complete(const char *s, size_t n) {
    /* only the last 3 bytes can start an incomplete character */
    size_t from = n > 3 ? n - 3 : 0;
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xc0 && seq_len((const unsigned char *)s + i, n - i) == -1) return i;
    }
    return n;
}

json_t *kjson_string(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        int l = seq_len(u + i, n - i);
        if (l <= 0) bad++, i++;
        else i += (size_t)l;
    }
    if (!bad) return json_stringn_nocheck(s, n);
    char *clean = malloc(n + 2 * bad + 1);
    if (!clean) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int l = seq_len(u + i, n - i);
        if (l <= 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3, i++;
        } else {
            memcpy(clean + o, s + i, (size_t)l);
            o += (size_t)l, i += (size_t)l;
        }
    }
    json_t *j = json_stringn_nocheck(clean, o);
    free(clean);
    return j;
}

/* A byte that does not continue a character starts a code point (invalid
** bytes count as one each, as after replacement). */
static int starts_char(unsigned char c) { return (c & 0xc0) != 0x80; }

size_t kutf8_offset(const char *s, size_t n, size_t codepoints) {
    size_t i = 0, cp = 0;
    while (i < n) {
        if (starts_char((unsigned char)s[i])) {
            if (cp == codepoints) return i;
            cp++;
        }
        i++;
    }
    return n;
}

size_t kutf8_count(const char *s, size_t n) {
    size_t cp = 0;
    for (size_t i = 0; i < n; i++) cp += starts_char((unsigned char)s[i]);
    return cp;
}
