/*
** control.c -- what answers while a cell runs: the control channel
** (interrupt_request, shutdown_request, kernel_info_request), the
** heartbeat, and SIGINT (Jupyter's default way to interrupt a kernel).
**
** An interrupt sets a flag and a Lua hook on the main state (as lua.c
** does): the running Lua code stops at its next instruction with a
** "KeyboardInterrupt" error. Code that holds a display.busy() guard (fit)
** gets a second to notice it through display.interrupted() and stop at a
** clean point (a batch boundary) first.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "kernel.h"

static kernel *g_kernel; /* the signal handler's kernel */

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int kthread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with main */
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- interrupts ---------------------------------------------------------------- */

static void stop_hook(lua_State *L, lua_Debug *ar) {
    kernel *k = g_kernel;
    (void)ar;
    if (!k->interrupted) {
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    if (k->busy > 0 && mono() - k->interrupt_time < 1.0) {
        lua_sethook(L, stop_hook, LUA_MASKCOUNT, 1000); /* look again soon */
        return;
    }
    kinterrupt_take(k);
    luaL_error(L, "KeyboardInterrupt: interrupted by the user");
}

static void on_sigint(int sig) {
    kernel *k = g_kernel;
    (void)sig;
    if (!k) return;
    if (!pthread_equal(pthread_self(), k->main_thread)) {
        pthread_kill(k->main_thread, SIGINT); /* the Lua state is main's */
        return;
    }
    k->interrupted = 1;
    k->interrupt_time = mono();
    if (k->running)
        lua_sethook(k->L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void kinterrupt_install(kernel *k) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a blocking wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    g_kernel = k;
    sigaction(SIGINT, &sa, NULL);
}

void kinterrupt(kernel *k) { pthread_kill(k->main_thread, SIGINT); }

int kinterrupt_take(kernel *k) {
    if (!k->interrupted) return 0;
    k->interrupted = 0;
    lua_sethook(k->L, NULL, 0, 0);
    return 1;
}

void kinterrupt_reset(kernel *k) {
    kinterrupt_take(k);
    k->busy = 0;
    k->busy_gen++;
}

/* ---- replies shared by the shell and control channels -------------------------- */

json_t *kkernel_info(void) {
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:[], s:b}",
        "status", "ok", "protocol_version", "5.3", "implementation", "lunet",
        "implementation_version", LN_VERSION, "language_info", "name", "lua", "version",
        LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, "mimetype",
        "text/x-lua", "file_extension", ".lua", "pygments_lexer", "lua", "codemirror_mode",
        "lua", "nbconvert_exporter", "script", "banner",
        "lunet " LN_VERSION " (" LUA_RELEASE "): deep learning in C, driven from Lua. "
        "`ln` is lunet.",
        "help_links", "debugger", 0);
}

void kreply_error(kernel *k, void *sock, const kmsg *m, const char *ename,
                  const char *evalue) {
    size_t n = strlen(m->type);
    static const char suffix[] = "_request";
    if (n <= sizeof suffix - 1 || strcmp(m->type + n - (sizeof suffix - 1), suffix)) {
        klog(k, "ignored a '%s' message: %s", m->type, evalue);
        return;
    }
    char type[128];
    snprintf(type, sizeof type, "%.*s_reply", (int)(n - (sizeof suffix - 1)), m->type);
    klog(k, "%s: %s", m->type, evalue);
    ksend(k, sock, m, m->header, type,
          json_pack("{s:s, s:s, s:s, s:[]}", "status", "error", "ename", ename, "evalue",
                    evalue, "traceback"));
}

void kreply_unknown(kernel *k, void *sock, const kmsg *m) {
    char why[200];
    snprintf(why, sizeof why, "unknown message type '%.100s' on this channel", m->type);
    kreply_error(k, sock, m, "UnknownMessageType", why);
}

/* ---- the control thread ------------------------------------------------------- */

static void handle_control(kernel *k, void *sock, const kmsg *m) {
    kstatus(k, m->header, "busy");
    if (m->error[0]) {
        kreply_error(k, sock, m, "BadRequest", m->error);
    } else if (!strcmp(m->type, "interrupt_request")) {
        kinterrupt(k);
        ksend(k, sock, m, m->header, "interrupt_reply", json_pack("{s:s}", "status", "ok"));
    } else if (!strcmp(m->type, "shutdown_request")) {
        int restart = json_is_true(json_object_get(m->content, "restart"));
        ksend(k, sock, m, m->header, "shutdown_reply",
              json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
        k->shutdown = 1;
        zmq_send(k->wake_ctl, "", 0, ZMQ_DONTWAIT); /* main, if it waits */
        kinterrupt(k);                               /* main, if it runs a cell */
    } else if (!strcmp(m->type, "kernel_info_request")) {
        ksend(k, sock, m, m->header, "kernel_info_reply", kkernel_info());
    } else {
        kreply_unknown(k, sock, m);
    }
    kstatus(k, m->header, "idle");
}

static void *control_thread(void *arg) {
    kernel *k = arg;
    void *sock = k->sock[K_CONTROL];
    for (;;) {
        kmsg m;
        int rc = kmsg_recv(k, sock, &m, 0);
        if (rc < 0) break; /* the context is shutting down */
        if (rc == 0) continue;
        handle_control(k, sock, &m);
        kmsg_free(&m);
    }
    zmq_close(sock);
    zmq_close(k->wake_ctl);
    return NULL;
}

/* The heartbeat: every message comes back as it came (REP: all of its
** frames are read before the first goes back). */
static void *hb_thread(void *arg) {
    kernel *k = arg;
    void *sock = k->sock[K_HB];
    enum { MAX = 16 };
    zmq_msg_t f[MAX];
    for (;;) {
        int n = 0, more = 1, rc = 0;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            rc = zmq_msg_recv(&part, sock, 0);
            if (rc < 0) {
                zmq_msg_close(&part);
                if (errno == EINTR && n > 0) continue;
                break;
            }
            more = zmq_msg_more(&part);
            if (n < MAX) f[n++] = part;
            else zmq_msg_close(&part);
        }
        if (rc < 0 && errno == ETERM) {
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
            break;
        }
        for (int i = 0; i < n; i++)
            if (rc < 0 || zmq_msg_send(&f[i], sock, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
                zmq_msg_close(&f[i]);
    }
    zmq_close(sock);
    return NULL;
}

int kcontrol_start(kernel *k) {
    if (kthread_start(&k->hb_thread, hb_thread, k) != 0) return -1;
    if (kthread_start(&k->control_thread, control_thread, k) != 0) {
        zmq_ctx_shutdown(k->zctx);
        pthread_join(k->hb_thread, NULL);
        return -1;
    }
    k->threads_started = 1;
    return 0;
}

void kcontrol_join(kernel *k) {
    pthread_join(k->control_thread, NULL);
    pthread_join(k->hb_thread, NULL);
}
