/*
** output.c -- everything the process writes to fds 1 and 2 (Lua's print
** and io.write, C libraries, child processes) becomes `stream` messages
** (stdout, stderr) on IOPub.
**
** fds 1 and 2 are pipes read by the output thread. What is read waits in a
** buffer and is published at most every K_STREAM_INTERVAL seconds per
** stream, so a progress bar redrawn 20 times a second costs a few messages.
** Before publishing, the buffer is compacted as a terminal would show it:
** text overwritten by "\r" or erased by "\b" within the buffer is dropped
** (a "\r" is kept, so the front end also overwrites what it already shows).
** The main thread calls kout_flush before it publishes results, so output
** and results stay in order.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"

typedef struct stream {
    const char *name;   /* "stdout" / "stderr" */
    int rfd;            /* the pipe's read end */
    char *buf;          /* pending text */
    size_t len, cap;
    double last;        /* when it last published */
} stream;

struct kout {
    stream s[2];
    json_t *parent;     /* the request writing now (own reference) */
    pthread_mutex_t lock;
    pthread_t thread;
    volatile int stop;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Drops a whole UTF-8 character (or one byte) from the end of b[lo..*n). */
static void pop_char(char *b, size_t lo, size_t *n) {
    while (*n > lo && ((unsigned char)b[*n - 1] & 0xc0) == 0x80) (*n)--;
    if (*n > lo) (*n)--;
}

/* Rewrites s->buf as a terminal shows it (see above). */
static void compact(stream *s) {
    char *b = s->buf;
    size_t o = 0, line = 0; /* output length, start of its last line */
    for (size_t i = 0; i < s->len; i++) {
        char c = b[i];
        if (c == '\r' && i + 1 < s->len && b[i + 1] != '\n') {
            o = line; /* the line is rewritten: keep only the "\r" */
            b[o++] = '\r';
        } else if (c == '\b' && o > line && b[o - 1] != '\b' && b[o - 1] != '\r') {
            pop_char(b, line, &o);
        } else if (c == '\b' && o > line && b[o - 1] == '\r') {
            /* at the start of a line a backspace does nothing */
        } else {
            b[o++] = c;
            if (c == '\n') line = o;
        }
    }
    s->len = o;
}

/* Publishes s's buffer (lock held). all: also an incomplete last UTF-8
** character (the cell ended). */
static void publish(kernel *k, stream *s, int all) {
    compact(s);
    size_t n = all ? s->len : kutf8_complete(s->buf, s->len);
    if (n == 0) return;
    json_t *text = kjson_string(s->buf, n);
    kpublish(k, k->out->parent, "stream",
             json_pack("{s:s, s:o}", "name", s->name, "text", text ? text : json_string("")));
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    s->last = now();
}

/* Reads what the pipe holds into the buffer (lock held). */
static void drain(stream *s) {
    for (;;) {
        if (s->cap - s->len < 4096) {
            size_t cap = s->cap ? s->cap * 2 : 65536;
            char *b = realloc(s->buf, cap);
            if (!b) return; /* the pipe keeps it until memory is back */
            s->buf = b, s->cap = cap;
        }
        ssize_t r = read(s->rfd, s->buf + s->len, s->cap - s->len);
        if (r > 0) {
            s->len += (size_t)r;
            if (s->len > (1u << 20)) return; /* publish before reading more */
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        return; /* EAGAIN or EOF */
    }
}

static void *output_thread(void *arg) {
    kernel *k = arg;
    kout *o = k->out;
    struct pollfd p[2] = {{o->s[0].rfd, POLLIN, 0}, {o->s[1].rfd, POLLIN, 0}};
    while (!o->stop) {
        int rc = poll(p, 2, 50);
        if (rc < 0 && errno != EINTR) break;
        pthread_mutex_lock(&o->lock);
        double t = now();
        for (int i = 0; i < 2; i++) {
            stream *s = &o->s[i];
            if (rc > 0 && (p[i].revents & (POLLIN | POLLHUP))) drain(s);
            if (s->len && (t - s->last >= K_STREAM_INTERVAL || s->len > (1u << 16)))
                publish(k, s, 0);
        }
        pthread_mutex_unlock(&o->lock);
    }
    return NULL;
}

/* Makes fd (1 or 2) the write end of a new pipe; the read end into s. */
static int redirect(stream *s, int fd, const char *name) {
    int p[2];
    if (pipe(p) != 0) return -1;
    if (dup2(p[1], fd) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    s->name = name;
    s->rfd = p[0];
    return 0;
}

int kout_start(kernel *k) {
    kout *o = calloc(1, sizeof *o);
    if (!o) return -1;
    k->out = o;
    pthread_mutex_init(&o->lock, NULL);
    fflush(stdout);
    fflush(stderr);
    if (redirect(&o->s[0], 1, "stdout") || redirect(&o->s[1], 2, "stderr") ||
        kthread_start(&o->thread, output_thread, k) != 0) {
        klog(k, "cannot capture the output: %s", strerror(errno));
        dup2(k->log_fd, 1);
        dup2(k->log_fd, 2);
        for (int i = 0; i < 2; i++)
            if (o->s[i].name) close(o->s[i].rfd);
        pthread_mutex_destroy(&o->lock);
        free(o);
        k->out = NULL;
        return -1;
    }
    setvbuf(stdout, NULL, _IOLBF, BUFSIZ);
    return 0;
}

void kout_set_parent(kernel *k, json_t *parent) {
    pthread_mutex_lock(&k->out->lock);
    json_decref(k->out->parent);
    k->out->parent = json_incref(parent);
    pthread_mutex_unlock(&k->out->lock);
}

void kout_flush(kernel *k) {
    kout *o = k->out;
    fflush(stdout);
    fflush(stderr);
    pthread_mutex_lock(&o->lock);
    for (int i = 0; i < 2; i++) {
        drain(&o->s[i]);
        while (o->s[i].len) {
            publish(k, &o->s[i], 1);
            drain(&o->s[i]);
        }
    }
    pthread_mutex_unlock(&o->lock);
}

void kout_stop(kernel *k) {
    kout *o = k->out;
    if (!o) return;
    kout_flush(k);
    o->stop = 1;
    pthread_join(o->thread, NULL);
    /* nothing reads the pipes any more: late writes go to the log */
    dup2(k->log_fd, 1);
    dup2(k->log_fd, 2);
    for (int i = 0; i < 2; i++) {
        close(o->s[i].rfd);
        free(o->s[i].buf);
    }
    json_decref(o->parent);
    pthread_mutex_destroy(&o->lock);
    free(o);
    k->out = NULL;
}
