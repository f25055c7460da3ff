/*
** kernel.h -- lunet-kernel, the Jupyter kernel (private to core/jupyter).
**
** Jupyter messaging protocol 5.3 over ZeroMQ, messages signed with
** HMAC-SHA256 (OpenSSL), JSON through jansson.
**
** Threads (a cell can run for minutes, the other channels must answer):
**   main      owns the Lua state, the shell and stdin sockets; runs cells
**   control   answers interrupt, shutdown and kernel_info (control.c)
**   heartbeat echoes the front end's pings (control.c)
**   output    forwards what the process writes to fds 1 and 2 as `stream`
**             messages (output.c)
** IOPub is shared: every send on it holds k->iopub_lock. Lock order:
** output lock, then iopub lock, then the signer's lock.
*/
#ifndef LUNET_KERNEL_H
#define LUNET_KERNEL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include <jansson.h>
#include <lua.h>
#include <zmq.h>

/* Requests larger than this (all frames) get an error reply, unread. */
#define K_MAX_REQUEST (64u << 20)
/* ZeroMQ drops a peer that sends a single message larger than this. */
#define K_MAX_ZMQ_MESSAGE (256 << 20)
/* Seconds between two `stream` messages of one stream (at most). */
#define K_STREAM_INTERVAL 0.1
/* Longest run of batches fit makes in C between two interrupt checks. */
#define K_RUN_SECONDS 0.1

/* ---- wire.c: connection file, signatures, messages ---------------------- */

typedef struct kconn {
    char transport[8];  /* "tcp" or "ipc" */
    char ip[256];
    int port[5];        /* shell, iopub, stdin, control, hb */
    char *key;          /* owned */
    size_t keylen;
} kconn;

enum { K_SHELL, K_IOPUB, K_STDIN, K_CONTROL, K_HB };

/* Reads a connection file; 0, or -1 with a message in err. */
int kconn_load(kconn *c, const char *path, char *err, size_t n);
/* "tcp://127.0.0.1:5555" or "ipc://name-5555" for channel ch. */
void kconn_endpoint(const kconn *c, int ch, char *out, size_t n);

typedef struct kmsg {
    zmq_msg_t *frames;
    int nframes, nids;   /* nids: routing identities before "<IDS|MSG>" */
    json_t *header, *parent, *metadata, *content; /* NULL if unparsable */
    const char *type;    /* header.msg_type, owned by header */
    char error[256];     /* why the frames are not a valid request ("" ok) */
} kmsg;

typedef struct kernel kernel;

/* Receives one message from sock. Returns 1 with m filled (m->error set
** when the header parsed but the rest did not: answer with an error),
** 0 when nothing was received (EINTR, EAGAIN) or the message was refused
** (bad signature, no header: logged and dropped), -1 on ETERM. */
int kmsg_recv(kernel *k, void *sock, kmsg *m, int flags);
void kmsg_free(kmsg *m);
/* The content field `key` of m if it is a string, else NULL. */
const char *kmsg_str(const kmsg *m, const char *key);

/* Sends msg_type with content (stolen; NULL = {}) on sock, to the
** identities of `to` (NULL: none), parent header `parent` (borrowed,
** NULL = {}). Returns 0 or -1. */
int ksend(kernel *k, void *sock, const kmsg *to, json_t *parent,
          const char *msg_type, json_t *content);
/* Publishes on IOPub (thread-safe). */
int kpublish(kernel *k, json_t *parent, const char *msg_type, json_t *content);
/* status busy / idle / starting on IOPub. */
void kstatus(kernel *k, json_t *parent, const char *state);

/* A JSON string of n bytes that may not be valid UTF-8: invalid bytes
** become U+FFFD, as Python decodes with errors="replace". */
json_t *kjson_string(const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that ends on a whole UTF-8
** character (an incomplete last one is left for later). */
size_t kutf8_complete(const char *s, size_t n);
/* Code points <-> bytes for cursor positions (Jupyter counts code points). */
size_t kutf8_offset(const char *s, size_t n, size_t codepoints);
size_t kutf8_count(const char *s, size_t n);

/* Messages for the person running Jupyter (the server's terminal). */
void klog(kernel *k, const char *fmt, ...);

/* ---- the kernel ---------------------------------------------------------- */

typedef struct ksigner ksigner;
typedef struct kout kout;

struct kernel {
    kconn conn;
    void *zctx;
    void *sock[5];            /* by channel (hb and control owned by threads) */
    void *wake_main, *wake_ctl; /* inproc pair: the control thread wakes main */
    pthread_mutex_t iopub_lock;
    ksigner *signer;
    char session[40];
    unsigned long msg_seq;
    int log_fd;               /* the original stderr */
    kout *out;
    lua_State *L;
    int ref_jupyter;          /* registry ref of the lunet.jupyter module */
    int execution_count;
    pthread_t main_thread, control_thread, hb_thread;
    int threads_started;      /* control and heartbeat (they own their sockets) */
    kmsg *current;            /* the execute request running (stdin replies) */
    volatile sig_atomic_t interrupted; /* SIGINT seen, not yet acted on */
    volatile sig_atomic_t running;     /* main is running user code */
    volatile sig_atomic_t shutdown;    /* a shutdown_request was answered */
    double interrupt_time;
    int busy;                 /* open display.busy() guards */
    unsigned busy_gen;        /* guards of earlier cells no longer count */
    int allow_stdin;          /* the running request accepts input_request */
};

/* ---- signer (wire.c) ----------------------------------------------------- */

ksigner *ksigner_new(const char *key, size_t keylen, char *err, size_t n);
void ksigner_free(ksigner *s);
/* hex HMAC-SHA256 of the four parts into hex[65] ("" when unsigned). */
void ksigner_sign(ksigner *s, const char *const part[4], const size_t len[4],
                  char hex[65]);
/* 1 when sig (n bytes) is the signature of the parts (constant time). */
int ksigner_check(ksigner *s, const char *const part[4], const size_t len[4],
                  const char *sig, size_t n);
/* A random UUID4 string into out[37]. */
void kuuid(char out[37]);

/* ---- output.c: fds 1 and 2 as `stream` messages -------------------------- */

int kout_start(kernel *k);
/* The request whose cell writes now (borrowed until the next call). */
void kout_set_parent(kernel *k, json_t *parent);
/* Publishes everything written so far (main thread, before results). */
void kout_flush(kernel *k);
void kout_stop(kernel *k);

/* ---- control.c: control and heartbeat threads, interrupts ---------------- */

/* pthread_create with every signal blocked in the new thread. */
int kthread_start(pthread_t *t, void *(*fn)(void *), void *arg);
int kcontrol_start(kernel *k);
void kcontrol_join(kernel *k);
/* Installs the SIGINT handler (interrupts the running cell). */
void kinterrupt_install(kernel *k);
/* Stops the running cell at the next Lua instruction (or fit's next batch
** boundary). Callable from any thread. */
void kinterrupt(kernel *k);
/* 1 (and clears it) when an interrupt is pending, else 0. Main thread. */
int kinterrupt_take(kernel *k);
/* Clears a pending interrupt and open guards (a new cell starts). */
void kinterrupt_reset(kernel *k);
/* The kernel_info_reply content. */
json_t *kkernel_info(void);
/* Answers request m with status error (ename, evalue); a message that is
** not a request is only logged. */
void kreply_error(kernel *k, void *sock, const kmsg *m, const char *ename,
                  const char *evalue);
/* The reply to a request this kernel does not know. */
void kreply_unknown(kernel *k, void *sock, const kmsg *m);

/* ---- lua.c: the Lua state ------------------------------------------------ */

/* Creates the state, lunet as `ln`, lunet.jupyter with the front end
** attached. 0, or -1 (logged). */
int klua_open(kernel *k);
void klua_close(kernel *k);
/* Pushes lunet.jupyter's function `name`. */
void klua_method(kernel *k, const char *name);
/* A Lua value -> JSON (new reference); tables become arrays or objects. */
json_t *klua_to_json(lua_State *L, int idx);

/* ---- shell.c: requests of the shell channel ------------------------------ */

void kshell_handle(kernel *k, kmsg *m);

#endif
