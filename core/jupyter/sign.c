/*
** sign.c -- HMAC-SHA256 message signatures (OpenSSL) and UUIDs.
**
** A message is signed over its header, parent header, metadata and content
** frames, as bytes; the signature is the lowercase hex digest. An empty
** key means unsigned messages (Jupyter's "no authentication").
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kernel.h"

struct ksigner {
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* initialised with the key; copied per message */
    pthread_mutex_t lock;
};

ksigner *ksigner_new(const char *key, size_t keylen, char *err, size_t n) {
    ksigner *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (keylen == 0) return s;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    s->keyed = s->mac ? EVP_MAC_CTX_new(s->mac) : NULL;
    if (!s->keyed ||
        !EVP_MAC_init(s->keyed, (const unsigned char *)key, keylen, params)) {
        snprintf(err, n, "OpenSSL cannot make an HMAC-SHA256");
        ksigner_free(s);
        return NULL;
    }
    return s;
}

void ksigner_free(ksigner *s) {
    if (!s) return;
    EVP_MAC_CTX_free(s->keyed);
    EVP_MAC_free(s->mac);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The raw HMAC into mac[32]; 0, or -1 when unsigned or OpenSSL fails. */
static int hmac(ksigner *s, const char *const part[4], const size_t len[4],
                unsigned char mac[32]) {
    if (!s->keyed) return -1;
    pthread_mutex_lock(&s->lock);
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->keyed);
    size_t outl = 0;
    int ok = c != NULL;
    for (int i = 0; ok && i < 4; i++)
        ok = EVP_MAC_update(c, (const unsigned char *)part[i], len[i]);
    ok = ok && EVP_MAC_final(c, mac, &outl, 32) && outl == 32;
    EVP_MAC_CTX_free(c);
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : -1;
}

static void to_hex(const unsigned char *b, size_t n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[2 * n] = '\0';
}

void ksigner_sign(ksigner *s, const char *const part[4], const size_t len[4],
                  char hex[65]) {
    unsigned char mac[32];
    if (hmac(s, part, len, mac) != 0) {
        hex[0] = '\0';
        return;
    }
    to_hex(mac, 32, hex);
}

int ksigner_check(ksigner *s, const char *const part[4], const size_t len[4],
                  const char *sig, size_t n) {
    if (!s->keyed) return 1;
    char hex[65];
    unsigned char mac[32];
    if (n != 64 || hmac(s, part, len, mac) != 0) return 0;
    to_hex(mac, 32, hex);
    return CRYPTO_memcmp(hex, sig, 64) == 0;
}

void kuuid(char out[37]) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* OpenSSL's generator failing is unheard of; stay unique anyway. */
        static unsigned long n;
        unsigned long v[2] = {__atomic_add_fetch(&n, 1, __ATOMIC_RELAXED),
                              (unsigned long)getpid() ^ (unsigned long)time(NULL)};
        memcpy(b, v, sizeof b);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 1 */
    char hex[33];
    to_hex(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}
