/*
** wire.c -- Jupyter messages on ZeroMQ sockets:
**   [identities...] "<IDS|MSG>" signature header parent_header metadata
**   content [buffers...]
** Every received message is checked before anything reads it: its size,
** its signature (constant time), then its JSON. A message with a wrong
** signature or no readable header is dropped (logged); one whose header
** reads but whose other parts do not is answered with an error.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"

#define DELIM "<IDS|MSG>"
#define MAX_FRAMES 4096

void klog(kernel *k, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    static const char tag[] = "[lunet-kernel] ";
    if (write(k->log_fd, tag, sizeof tag - 1) < 0 || write(k->log_fd, buf, (size_t)n) < 0)
        return; /* nowhere left to report it */
}

void kmsg_free(kmsg *m) {
    for (int i = 0; i < m->nframes; i++) zmq_msg_close(&m->frames[i]);
    free(m->frames);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    memset(m, 0, sizeof *m);
}

const char *kmsg_str(const kmsg *m, const char *key) {
    return json_string_value(json_object_get(m->content, key));
}

/* Receives every frame of one message; 1, 0 (nothing: EAGAIN/EINTR before
** the first frame) or -1 (ETERM). Frames past MAX_FRAMES are dropped. */
static int recv_frames(void *sock, kmsg *m, int flags, size_t *total) {
    int cap = 8, more = 1;
    *total = 0;
    m->frames = malloc(sizeof *m->frames * (size_t)cap);
    if (!m->frames) return 0;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        int rc = zmq_msg_recv(&f, sock, m->nframes == 0 ? flags : 0);
        if (rc < 0) {
            zmq_msg_close(&f);
            if (errno == EINTR && m->nframes > 0) continue; /* finish it */
            return errno == ETERM ? -1 : 0;
        }
        more = zmq_msg_more(&f);
        *total += zmq_msg_size(&f);
        if (m->nframes == MAX_FRAMES) {
            zmq_msg_close(&f);
            continue;
        }
        if (m->nframes == cap) {
            zmq_msg_t *g = realloc(m->frames, sizeof *g * (size_t)cap * 2);
            if (!g) {
                zmq_msg_close(&f);
                continue;
            }
            m->frames = g, cap *= 2;
        }
        m->frames[m->nframes++] = f;
    }
    return 1;
}

static const char *fdata(kmsg *m, int i) { return zmq_msg_data(&m->frames[i]); }
static size_t fsize(kmsg *m, int i) { return zmq_msg_size(&m->frames[i]); }

/* Parses frame i as a JSON object; NULL with the reason in m->error. */
static json_t *parse(kmsg *m, int i, const char *what) {
    json_error_t je;
    json_t *j = json_loadb(fdata(m, i), fsize(m, i), JSON_REJECT_DUPLICATES, &je);
    if (!j)
        snprintf(m->error, sizeof m->error, "the %s is not valid JSON: %s (position %d)",
                 what, je.text, je.position);
    else if (!json_is_object(j)) {
        snprintf(m->error, sizeof m->error, "the %s is not a JSON object", what);
        json_decref(j);
        j = NULL;
    }
    return j;
}

int kmsg_recv(kernel *k, void *sock, kmsg *m, int flags) {
    size_t total;
    memset(m, 0, sizeof *m);
    int rc = recv_frames(sock, m, flags, &total);
    if (rc <= 0) {
        kmsg_free(m);
        return rc;
    }
    int d = 0;
    while (d < m->nframes &&
           !(fsize(m, d) == sizeof DELIM - 1 && !memcmp(fdata(m, d), DELIM, sizeof DELIM - 1)))
        d++;
    m->nids = d;
    if (d + 5 > m->nframes) {
        klog(k, "refused a message without the <IDS|MSG> frames (%d frames)", m->nframes);
        goto drop;
    }
    const char *part[4];
    size_t len[4];
    for (int i = 0; i < 4; i++) part[i] = fdata(m, d + 2 + i), len[i] = fsize(m, d + 2 + i);
    if (!ksigner_check(k->signer, part, len, fdata(m, d + 1), fsize(m, d + 1))) {
        klog(k, "refused a message with a wrong signature");
        goto drop;
    }
    m->header = parse(m, d + 2, "header");
    m->type = json_string_value(json_object_get(m->header, "msg_type"));
    if (!m->type || !m->type[0]) {
        klog(k, "refused a message without a msg_type (%s)",
             m->error[0] ? m->error : "no msg_type in the header");
        goto drop;
    }
    m->error[0] = '\0';
    if (total > K_MAX_REQUEST) {
        snprintf(m->error, sizeof m->error,
                 "the request is %zu bytes, more than the kernel accepts (%u)", total,
                 K_MAX_REQUEST);
        return 1;
    }
    if (!(m->parent = parse(m, d + 3, "parent header")) ||
        !(m->metadata = parse(m, d + 4, "metadata")) ||
        !(m->content = parse(m, d + 5, "content")))
        return 1;
    return 1;
drop:
    kmsg_free(m);
    return 0;
}

/* ---- sending ----------------------------------------------------------------- */

static int send_frame(void *sock, const void *data, size_t n, int more) {
    for (;;) {
        if (zmq_send(sock, data, n, more ? ZMQ_SNDMORE : 0) >= 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* ISO 8601 UTC with microseconds, as Jupyter writes dates. */
static void now_iso(char out[40]) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", date, (long)tv.tv_usec);
}

static json_t *new_header(kernel *k, const char *msg_type) {
    char id[80], date[40];
    unsigned long seq = __atomic_add_fetch(&k->msg_seq, 1, __ATOMIC_RELAXED);
    snprintf(id, sizeof id, "%s_%ld_%lu", k->session, (long)getpid(), seq);
    now_iso(date);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "session", k->session,
                     "username", "lunet", "date", date, "msg_type", msg_type, "version",
                     "5.3");
}

/* Sends the frames of one message; identities from `to`, or `topic`. */
static int send_message(kernel *k, void *sock, const kmsg *to, const char *topic,
                        json_t *parent, const char *msg_type, json_t *content) {
    json_t *header = new_header(k, msg_type), *meta = json_object();
    char *part[4] = {NULL, NULL, NULL, NULL};
    int rc = -1;
    if (!content) content = json_object();
    if (!header || !meta || !content) goto done;
    json_t *obj[4] = {header, parent ? parent : meta, meta, content};
    size_t len[4];
    for (int i = 0; i < 4; i++) {
        part[i] = json_dumps(obj[i], JSON_COMPACT);
        if (!part[i]) goto done;
        len[i] = strlen(part[i]);
    }
    char sig[65];
    ksigner_sign(k->signer, (const char *const *)part, len, sig);
    rc = 0;
    if (to)
        for (int i = 0; i < to->nids && rc == 0; i++)
            rc = send_frame(sock, zmq_msg_data((zmq_msg_t *)&to->frames[i]),
                            zmq_msg_size((zmq_msg_t *)&to->frames[i]), 1);
    if (topic && rc == 0) rc = send_frame(sock, topic, strlen(topic), 1);
    if (rc == 0) rc = send_frame(sock, DELIM, sizeof DELIM - 1, 1);
    if (rc == 0) rc = send_frame(sock, sig, strlen(sig), 1);
    for (int i = 0; i < 4 && rc == 0; i++) rc = send_frame(sock, part[i], len[i], i < 3);
    if (rc) klog(k, "cannot send %s: %s", msg_type, zmq_strerror(errno));
done:
    for (int i = 0; i < 4; i++) free(part[i]);
    json_decref(header);
    json_decref(meta);
    json_decref(content);
    return rc;
}

int ksend(kernel *k, void *sock, const kmsg *to, json_t *parent, const char *msg_type,
          json_t *content) {
    return send_message(k, sock, to, NULL, parent, msg_type, content);
}

int kpublish(kernel *k, json_t *parent, const char *msg_type, json_t *content) {
    char topic[96];
    snprintf(topic, sizeof topic, "kernel.%s.%s", k->session, msg_type);
    pthread_mutex_lock(&k->iopub_lock);
    int rc = send_message(k, k->sock[K_IOPUB], NULL, topic, parent, msg_type, content);
    pthread_mutex_unlock(&k->iopub_lock);
    return rc;
}

void kstatus(kernel *k, json_t *parent, const char *state) {
    kpublish(k, parent, "status", json_pack("{s:s}", "execution_state", state));
}
