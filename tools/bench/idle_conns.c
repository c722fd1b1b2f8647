/*
 * idle_conns.c — holds COUNT idle HTTP/2 connections open to a server, for the benchmark harness
 * (tools/bench/http.sh measures the server's memory per idle connection while they are open).
 *
 * Each connection sends the client preface and an empty SETTINGS, waits for the server's first
 * bytes (its SETTINGS), acknowledges them, and then says nothing more. With -r PATH it first makes
 * one request, GET PATH on stream 1, and waits for its answer to end (END_STREAM on stream 1): a
 * connection that has served a request holds what a fresh one may not (HPACK tables with entries,
 * a closed stream some servers remember, buffers a first response grew). The request's fields are
 * those curl sends (:authority, user-agent and accept indexed in the server's table, :path not).
 * Connections are opened at most BATCH at a time (the servers' listen backlogs and half-open
 * limits stay out of the way). Once every connection is idle or has failed (or TIMEOUT seconds
 * passed) it prints
 *   ready open=N failed=M seconds=S
 * and waits for SIGTERM or SIGINT; then it prints
 *   end open=K
 * (K: connections the server had not closed meanwhile), resets them all (SO_LINGER 0: no TIME-WAIT
 * piles up across runs) and exits 0. A request refused (RST_STREAM, GOAWAY) or never answered
 * counts as failed.
 * Raises its open-file limit to the hard limit when COUNT needs it.
 *
 *   idle_conns [-r PATH] ADDR PORT COUNT [BATCH] [TIMEOUT]     (default BATCH 256, TIMEOUT 60)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* HTTP/2 frame types and flags (RFC 9113 6) this client looks at */
#define FRAME_HEADER 9
#define T_DATA       0
#define T_HEADERS    1
#define T_RST_STREAM 3
#define T_GOAWAY     7
#define F_END_STREAM 0x1

enum conn_state { CONNECTING, WAITING, ANSWERING, READY, FAILED };

struct conn {
    int fd;
    enum conn_state state;
    /* with -r: the server's frames, parsed as they come, to see the answer on stream 1 end */
    uint8_t head[FRAME_HEADER];
    uint8_t head_got; /* bytes of the frame header read so far */
    uint32_t skip;    /* payload bytes of the current frame still to read past */
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

/* One HPACK string literal, not Huffman-coded (RFC 7541 5.2); len < 127. */
static size_t put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);

    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return 1 + n;
}

/* The request's HEADERS frame (END_STREAM | END_HEADERS, stream 1) into out; its length. */
static size_t build_request(uint8_t *out, const char *path, const char *authority)
{
    uint8_t *p = out + FRAME_HEADER;
    size_t len;

    *p++ = 0x82; /* :method GET, static index 2 */
    *p++ = 0x86; /* :scheme http, static index 6 */
    *p++ = 0x04; /* :path: literal without indexing, name at static index 4 (as curl and nghttp2) */
    p += put_str(p, path);
    *p++ = 0x41; /* :authority: literal with incremental indexing, name at static index 1 */
    p += put_str(p, authority);
    *p++ = 0x40 | 58; /* user-agent, static index 58, indexed */
    p += put_str(p, "idle_conns");
    *p++ = 0x40 | 19; /* accept, static index 19, indexed */
    p += put_str(p, "*/*");
    len = (size_t)(p - out - FRAME_HEADER);
    out[0] = 0;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)len;
    out[3] = T_HEADERS;
    out[4] = 0x5; /* END_STREAM | END_HEADERS */
    out[5] = out[6] = out[7] = 0;
    out[8] = 1;
    return FRAME_HEADER + len;
}

/* Reads past the server's frames in buf; 1 once the answer on stream 1 has ended, -1 when the
 * request was refused, else 0 (more to come). */
static int parse_answer(struct conn *c, const uint8_t *buf, size_t n)
{
    while (n) {
        if (c->skip) {
            size_t k = n < c->skip ? n : c->skip;

            c->skip -= (uint32_t)k;
            buf += k;
            n -= k;
            continue;
        }
        c->head[c->head_got++] = *buf++;
        n--;
        if (c->head_got == FRAME_HEADER) {
            uint32_t len = (uint32_t)c->head[0] << 16 | (uint32_t)c->head[1] << 8 | c->head[2];
            uint32_t stream = ((uint32_t)c->head[5] << 24 | (uint32_t)c->head[6] << 16 |
                               (uint32_t)c->head[7] << 8 | c->head[8]) &
                              0x7fffffffu;
            uint8_t type = c->head[3], flags = c->head[4];

            c->head_got = 0;
            c->skip = len;
            if (type == T_GOAWAY || (type == T_RST_STREAM && stream == 1))
                return -1;
            /* the answer's last frame: what follows it (if anything) stays unread */
            if (stream == 1 && (type == T_HEADERS || type == T_DATA) && (flags & F_END_STREAM))
                return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char hello[] = PREFACE "\0\0\0\4\0\0\0\0\0"; /* preface + empty SETTINGS */
    static const char ack[9] = {0, 0, 0, 4, 1, 0, 0, 0, 0};   /* SETTINGS ACK */
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct rlimit rl;
    struct conn *conns;
    struct epoll_event evs[256];
    int count, batch, started = 0, in_progress = 0, ready = 0, failed = 0, open_end = 0, ep, sig, opt;
    double timeout, t0 = now_s();
    const char *path = NULL;
    uint8_t request[FRAME_HEADER + 512];
    size_t request_len = 0;
    sigset_t set;

    while ((opt = getopt(argc, argv, "r:")) != -1) {
        if (opt != 'r' || strlen(optarg) > 120 || optarg[0] != '/') {
            fprintf(stderr, "idle_conns: error: -r takes a path starting with '/', at most 120 bytes\n");
            return 2;
        }
        path = optarg;
    }
    argc -= optind - 1;
    argv += optind - 1;
    if (argc < 4 || argc > 6 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "usage: idle_conns [-r PATH] ADDR PORT COUNT [BATCH] [TIMEOUT]\n");
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
    if (path) {
        char authority[64];

        snprintf(authority, sizeof(authority), "%s:%s", argv[1], argv[2]);
        request_len = build_request(request, path, authority);
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
            uint8_t buf[4096];
            ssize_t got;
            int answer = 0;

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
                continue;
            }
            got = read(c->fd, buf, sizeof(buf));
            if (got < 0 && errno == EAGAIN)
                continue;
            if (got <= 0) {
                fail_conn(ep, c, &in_progress, &failed);
                continue;
            }
            if (c->state == WAITING) { /* the server spoke (its SETTINGS): acknowledge, maybe ask */
                if (write(c->fd, ack, sizeof(ack)) != (ssize_t)sizeof(ack) ||
                    (path && write(c->fd, request, request_len) != (ssize_t)request_len)) {
                    fail_conn(ep, c, &in_progress, &failed);
                    continue;
                }
                c->state = path ? ANSWERING : READY;
            }
            if (c->state == ANSWERING && (answer = parse_answer(c, buf, (size_t)got)) < 0) {
                fail_conn(ep, c, &in_progress, &failed);
                continue;
            }
            if (c->state == READY || answer > 0) { /* then stay quiet */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                c->state = READY;
                in_progress--;
                ready++;
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
