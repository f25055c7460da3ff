/*
** conn.c -- the connection file Jupyter writes for a kernel: transport,
** address, the five ports and the signing key.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

static const char *const PORT_KEYS[5] = {"shell_port", "iopub_port", "stdin_port",
                                         "control_port", "hb_port"};

int kconn_load(kconn *c, const char *path, char *err, size_t n) {
    json_error_t je;
    memset(c, 0, sizeof *c);
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        snprintf(err, n, "cannot read the connection file %s: %s (line %d)", path,
                 je.text, je.line);
        return -1;
    }
    int rc = -1;
    const char *transport = json_string_value(json_object_get(j, "transport"));
    const char *ip = json_string_value(json_object_get(j, "ip"));
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *scheme = json_string_value(json_object_get(j, "signature_scheme"));
    if (!transport) transport = "tcp";
    if (!ip) ip = "127.0.0.1";
    if (strcmp(transport, "tcp") && strcmp(transport, "ipc")) {
        snprintf(err, n, "%s: transport '%s' is not supported (tcp or ipc)", path, transport);
        goto done;
    }
    if (strlen(ip) >= sizeof c->ip) {
        snprintf(err, n, "%s: the ip is too long", path);
        goto done;
    }
    if (key && key[0] && scheme && strcmp(scheme, "hmac-sha256")) {
        snprintf(err, n, "%s: signature scheme '%s' is not supported (hmac-sha256)", path,
                 scheme);
        goto done;
    }
    for (int i = 0; i < 5; i++) {
        json_t *p = json_object_get(j, PORT_KEYS[i]);
        json_int_t v = json_is_integer(p) ? json_integer_value(p) : -1;
        if (v <= 0 || v > 65535) {
            snprintf(err, n, "%s: %s is missing or not a port number", path, PORT_KEYS[i]);
            goto done;
        }
        c->port[i] = (int)v;
    }
    snprintf(c->transport, sizeof c->transport, "%s", transport);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    c->keylen = key ? strlen(key) : 0;
    c->key = strdup(key ? key : "");
    rc = c->key ? 0 : -1;
    if (rc) snprintf(err, n, "out of memory");
done:
    json_decref(j);
    return rc;
}

void kconn_endpoint(const kconn *c, int ch, char *out, size_t n) {
    if (!strcmp(c->transport, "ipc"))
        snprintf(out, n, "ipc://%s-%d", c->ip, c->port[ch]);
    else
        snprintf(out, n, "tcp://%s:%d", c->ip, c->port[ch]);
}
