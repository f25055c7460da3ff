/*
** main.c -- lunet-kernel, lunet's Jupyter kernel.
**
**   lunet-kernel -f CONNECTION_FILE      run (Jupyter starts it this way)
**   lunet-kernel install [--user] [--prefix DIR]
**                                        install the kernel spec
**                                        (`lunet kernel install` runs this)
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"

int kinstall_main(int argc, char **argv);

static const char *usage =
    "usage: lunet-kernel -f CONNECTION_FILE    run the kernel (Jupyter does this)\n"
    "       lunet-kernel install [--user] [--prefix DIR]\n"
    "                                          install the kernel spec\n";

static void *open_socket(kernel *k, int type, int ch, char *err, size_t n) {
    char ep[300];
    void *s = zmq_socket(k->zctx, type);
    int linger = 1000, maxmsg = K_MAX_ZMQ_MESSAGE;
    int64_t maxsize = maxmsg;
    if (!s) {
        snprintf(err, n, "cannot make a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    if (type == ZMQ_ROUTER) {
        int on = 1;
        zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &on, sizeof on);
    }
    kconn_endpoint(&k->conn, ch, ep, sizeof ep);
    if (zmq_bind(s, ep) != 0) {
        snprintf(err, n, "cannot listen on %s: %s", ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    k->sock[ch] = s;
    return s;
}

/* The sockets, with signals blocked: ZeroMQ's own threads start here. */
static int open_sockets(kernel *k, char *err, size_t n) {
    static const int type[5] = {ZMQ_ROUTER, ZMQ_PUB, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_REP};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = -1;
    k->zctx = zmq_ctx_new();
    if (!k->zctx) {
        snprintf(err, n, "cannot start ZeroMQ: %s", zmq_strerror(errno));
        goto done;
    }
    for (int ch = 0; ch < 5; ch++)
        if (!open_socket(k, type[ch], ch, err, n)) goto done;
    k->wake_main = zmq_socket(k->zctx, ZMQ_PAIR);
    k->wake_ctl = zmq_socket(k->zctx, ZMQ_PAIR);
    if (!k->wake_main || !k->wake_ctl || zmq_bind(k->wake_main, "inproc://lunet-wake") ||
        zmq_connect(k->wake_ctl, "inproc://lunet-wake")) {
        snprintf(err, n, "cannot make the wake-up pair: %s", zmq_strerror(errno));
        goto done;
    }
    rc = 0;
done:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Serves the shell channel until a shutdown request, or until the process
** that started the kernel is gone (Jupyter names it in JPY_PARENT_PID). */
static void serve(kernel *k) {
    zmq_pollitem_t it[2] = {{k->sock[K_SHELL], 0, ZMQ_POLLIN, 0},
                            {k->wake_main, 0, ZMQ_POLLIN, 0}};
    const char *jpy = getenv("JPY_PARENT_PID");
    long parent = jpy ? strtol(jpy, NULL, 10) : 0;
    while (!k->shutdown) {
        int rc = zmq_poll(it, 2, 1000);
        if (rc < 0) {
            if (errno == EINTR) continue; /* an interrupt with no cell running */
            klog(k, "poll: %s", zmq_strerror(errno));
            return;
        }
        if (parent > 1 && getppid() != (pid_t)parent) {
            klog(k, "the process that started the kernel is gone: exiting");
            return;
        }
        if (it[1].revents & ZMQ_POLLIN) {
            char b;
            zmq_recv(k->wake_main, &b, 1, ZMQ_DONTWAIT);
        }
        if (it[0].revents & ZMQ_POLLIN) {
            kmsg m;
            rc = kmsg_recv(k, k->sock[K_SHELL], &m, ZMQ_DONTWAIT);
            if (rc < 0) return;
            if (rc > 0) {
                kshell_handle(k, &m);
                kmsg_free(&m);
            }
        }
    }
}

static int run(const char *connection_file) {
    static kernel kern; /* the signal handler keeps a pointer to it */
    kernel *k = &kern;
    char err[512];
    k->log_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (k->log_fd < 0) k->log_fd = 2;
    k->main_thread = pthread_self();
    pthread_mutex_init(&k->iopub_lock, NULL);
    if (kconn_load(&k->conn, connection_file, err, sizeof err) != 0 ||
        !(k->signer = ksigner_new(k->conn.key, k->conn.keylen, err, sizeof err)) ||
        open_sockets(k, err, sizeof err) != 0) {
        klog(k, "%s", err);
        return 1;
    }
    kuuid(k->session);
    int status = 1;
    if (kout_start(k) == 0 && klua_open(k) == 0) {
        kinterrupt_install(k);
        if (kcontrol_start(k) == 0) {
            kstatus(k, NULL, "starting");
            serve(k);
            status = 0;
        } else {
            klog(k, "cannot start the control thread");
        }
    }
    kout_stop(k);
    zmq_ctx_shutdown(k->zctx); /* the control and heartbeat threads end */
    if (k->threads_started) kcontrol_join(k);
    for (int ch = 0; ch < 5; ch++)
        if (!k->threads_started || (ch != K_CONTROL && ch != K_HB)) zmq_close(k->sock[ch]);
    if (!k->threads_started) zmq_close(k->wake_ctl);
    zmq_close(k->wake_main);
    zmq_ctx_term(k->zctx);
    klua_close(k);
    ksigner_free(k->signer);
    free(k->conn.key);
    return status;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "install")) return kinstall_main(argc - 1, argv + 1);
    if (argc == 3 && !strcmp(argv[1], "-f")) return run(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--help") && argv[1][0] != '-') return run(argv[1]);
    fputs(usage, argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
