/*
 * idle_conns.c — holds COUNT idle HTTP/2 connections open to a server, for the benchmark harness
 * (tools/bench/http.sh measures the server's memory per idle connection while they are open).
 *
 * Each connection sends the client preface and an empty SETTINGS, waits for the server's first
 * bytes (its SETTINGS), acknowledges them, and then says nothing more. Connections are opened at
 * most BATCH at a time (the servers' listen backlogs and half-open limits stay out of the way).
 * Once every connection is open or has failed (or TIMEOUT seconds passed) it prints
 *   ready open=N failed=M seconds=S
 * and waits for SIGTERM or SIGINT; then it prints
 *   end open=K
 * (K: connections the server had not closed meanwhile), resets them all (SO_LINGER 0: no TIME-WAIT
 * piles up across runs) and exits 0.
 * Raises its open-file limit to the hard limit when COUNT needs it.
 *
 *   idle_conns ADDR PORT COUNT [BATCH] [TIMEOUT]     (default BATCH 256, TIMEOUT 60)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

enum conn_state { CONNECTING, WAITING, READY, FAILED };

struct conn {
    int fd;
    enum conn_state state;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_conn(int ep, struct conn *c, int *in_progress, int *failed)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    c->state = FAILED;
    (*in_progress)--;
    (*failed)++;
}

int main(int argc, char **argv)
{
    static const char hello[] = PREFACE "\0\0\0\4\0\0\0\0\0"; /* preface + empty SETTINGS */
    static const char ack[9] = {0, 0, 0, 4, 1, 0, 0, 0, 0};   /* SETTINGS ACK */
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct rlimit rl;
    struct conn *conns;
    struct epoll_event evs[256];
    int count, batch, started = 0, in_progress = 0, ready = 0, failed = 0, open_end = 0, ep, sig;
    double timeout, t0 = now_s();
    sigset_t set;

    if (argc < 4 || argc > 6 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "usage: idle_conns ADDR PORT COUNT [BATCH] [TIMEOUT]\n");
        return 2;
    }
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    count = atoi(argv[3]);
    batch = argc > 4 ? atoi(argv[4]) : 256;
    timeout = argc > 5 ? atof(argv[5]) : 60;
    if (count < 1 || batch < 1) {
        fprintf(stderr, "idle_conns: error: COUNT and BATCH must be positive\n");
        return 2;
    }
    /* SIGTERM/SIGINT are taken with sigwait at the end: block them from the start */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)count + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < (rlim_t)count + 64) {
            fprintf(stderr, "idle_conns: error: %d connections need %d open files; the limit is %llu\n",
                    count, count + 64, (unsigned long long)rl.rlim_cur);
            return 1;
        }
    }
    conns = calloc((size_t)count, sizeof(*conns));
    ep = epoll_create1(0);
    if (!conns || ep < 0) {
        perror("idle_conns: error");
        return 1;
    }
    while (ready + failed < count && now_s() - t0 < timeout) {
        int n;

        while (started < count && in_progress < batch) {
            struct conn *c = &conns[started];
            struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)started};

            started++;
            in_progress++;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) ||
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev)) {
                c->state = FAILED;
                in_progress--;
                failed++;
                continue;
            }
            c->state = CONNECTING;
        }
        n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            char buf[4096];

            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};

                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err ||
                    write(c->fd, hello, sizeof(hello) - 1) != (ssize_t)(sizeof(hello) - 1) ||
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev)) {
                    fail_conn(ep, c, &in_progress, &failed);
                    continue;
                }
                c->state = WAITING;
            } else if (c->state == WAITING) {
                ssize_t got = read(c->fd, buf, sizeof(buf));

                if (got <= 0 && !(got < 0 && errno == EAGAIN)) {
                    fail_conn(ep, c, &in_progress, &failed);
                    continue;
                }
                if (got > 0) { /* the server spoke (its SETTINGS): acknowledge, then stay quiet */
                    if (write(c->fd, ack, sizeof(ack)) != (ssize_t)sizeof(ack)) {
                        fail_conn(ep, c, &in_progress, &failed);
                        continue;
                    }
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    c->state = READY;
                    in_progress--;
                    ready++;
                }
            }
        }
    }
    printf("ready open=%d failed=%d seconds=%.2f\n", ready, count - ready, now_s() - t0);
    fflush(stdout);
    sigwait(&set, &sig);
    for (int i = 0; i < started; i++) {
        struct pollfd p = {.fd = conns[i].fd, .events = POLLRDHUP};

        if (conns[i].state == READY && poll(&p, 1, 0) == 0) /* no FIN, reset or error came */
            open_end++;
        if (conns[i].fd >= 0) { /* a reset, not a FIN: no TIME-WAIT, the server lets go at once */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};

            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(conns[i].fd);
        }
    }
    printf("end open=%d\n", open_end);
    return 0;
}
