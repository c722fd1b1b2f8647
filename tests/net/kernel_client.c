/*
 * kernel_client.c — Linux's own TCP, through ordinary sockets, as the client of sluice's servers
 * (tests/net/tap_server.c, sluice-server over AF_XDP or kernel sockets, and the benchmarks).
 *
 *   kernel_client MODE --addr ADDR --port PORT [--bytes N] [--conns C] [--seed S] [--kind K]
 *                 [--pause-ms P] [--hold-ms H] [--within-ms W] [--timeout SEC]
 *
 *   echo      C concurrent connections (nonblocking, one epoll loop) each write N bytes of their own
 *             stream in random-sized writes, half-close, and must read exactly those N bytes back;
 *             --pause-ms P: nothing is read for the first P ms, so the server's window closes
 *   upload    write N bytes to the sink, half-close, and compare the 32 bytes it returns with our own
 *             SHA-256 of what we sent
 *   download  ask the source for N bytes of stream S (8-byte big-endian length, 8-byte seed) and
 *             verify every byte, the SHA-256 and the EOF right after the last byte; --pause-ms P:
 *             stop reading for P ms halfway, so our window closes and the server must probe it;
 *             --hold-ms H: after the EOF, keep the socket open H ms before closing it
 *   abort     C connections of --kind echo, upload or download each move N bytes, then all are
 *             reset mid-transfer (SO_LINGER 0, close: the kernel sends RST)
 *   refused   a connection must be refused with a reset (ECONNREFUSED)
 *   rr        C connections to echo each send --bytes, wait for the echo, repeat for --seconds;
 *             prints round trips per second (for the benchmark)
 *
 * ADDR is IPv4 or IPv6. Everything runs under one overall deadline (--timeout, default 60 s);
 * --within-ms W also fails a run that succeeded but took longer than W ms (stalls that only cost time).
 * Exit status 0 only when everything was verified; each failure is one line on stderr. A success
 * prints one summary line with the time it took. The stream is common/stream.h's stream_fill(), the
 * server's source service's.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/stream.h"

#define PROG         "kernel_client"
#define IO_MAX       65536 /* largest single write or read */
#define MAX_FAILURES 10    /* failure lines printed before they are only counted */

struct options {
    const char *mode;
    const char *addr;
    const char *port;
    const char *kind;
    uint64_t bytes;
    uint64_t seed;
    unsigned conns;
    unsigned timeout_s;
    unsigned seconds; /* rr: how long to run */
    unsigned pause_ms;
    unsigned within_ms;
    unsigned hold_ms;
};

static struct sockaddr_storage peer;
static socklen_t peer_len;
static uint64_t deadline_ns;
static uint64_t rng_state;
static unsigned failures;

/* ---- small helpers ----------------------------------------------------------------------------- */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    if (failures++ >= MAX_FAILURES)
        return;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": error: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* A random I/O size from 1 to IO_MAX, most often small: the engine sees every segment size. */
static size_t random_size(uint64_t left)
{
    size_t n = (size_t)(rng_next() % IO_MAX) + 1;

    if (rng_next() % 2)
        n = n % 1500 + 1;
    return n < left ? n : (size_t)left;
}

static double seconds_since(uint64_t start_ns)
{
    return (double)(monotonic_ns() - start_ns) / 1e9;
}

static double mib_per_s(uint64_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / (1 << 20) / seconds : 0;
}

static int remaining_ms(void)
{
    uint64_t now = monotonic_ns();

    return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- the byte stream (common/stream.h, as the server's source service) ------------------------- */

/* -1 when got matches stream seed from pos, else the index of the first differing byte. */
static long stream_mismatch(uint64_t seed, uint64_t pos, const uint8_t *got, size_t n)
{
    uint8_t want[IO_MAX];

    stream_fill(seed, pos, want, n);
    if (!memcmp(got, want, n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return (long)i;
    return -1;
}

/* ---- sockets ----------------------------------------------------------------------------------- */

static int resolve(const char *addr, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    int rc = getaddrinfo(addr, port, &hints, &ai);

    if (rc) {
        fprintf(stderr, PROG ": error: bad address '%s' port '%s': %s\n", addr, port, gai_strerror(rc));
        return -1;
    }
    memcpy(&peer, ai->ai_addr, ai->ai_addrlen);
    peer_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* A blocking connected socket whose sends and receives give up at the overall deadline; -1 on error. */
static int connect_blocking(const char *what)
{
    int fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ms = remaining_ms();
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    if (fd < 0) {
        fail("%s: socket: %s", what, strerror(errno));
        return -1;
    }
    if (!ms)
        tv.tv_usec = 1000;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&peer, peer_len)) {
        fail("%s: connect: %s", what, errno == EINPROGRESS ? "timed out" : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, const char *what)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            fail("%s: send: %s", what, errno == EAGAIN ? "timed out" : strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* recv with the timeout reported as such; returns bytes, 0 at EOF, -1 after reporting. */
static ssize_t recv_some(int fd, uint8_t *buf, size_t n, const char *what, uint64_t got, uint64_t want)
{
    for (;;) {
        ssize_t r = recv(fd, buf, n, 0);

        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        fail("%s: recv after %llu of %llu bytes: %s", what, (unsigned long long)got, (unsigned long long)want,
             errno == EAGAIN ? "timed out" : strerror(errno));
        return -1;
    }
}

/* Close with SO_LINGER 0: the kernel drops what is queued and sends RST instead of FIN. */
static int close_with_reset(int fd, const char *what)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
        fail("%s: setsockopt SO_LINGER: %s", what, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* ---- echo -------------------------------------------------------------------------------------- */

struct echo_conn {
    int fd;
    uint16_t port;
    bool connected;
    bool write_done; /* everything sent and SHUT_WR done */
    bool finished;   /* EOF read, or failed */
    uint64_t seed;
    uint64_t sent;
    uint64_t received;
};

/* Wait for what the connection can do next: read (unless paused) and write (until all is sent). */
static void echo_watch(struct echo_conn *c, int epfd, unsigned i, bool reading, int op)
{
    struct epoll_event ev = {.events = (reading ? EPOLLIN : 0) | (c->write_done ? 0 : EPOLLOUT),
                             .data.u32 = i};

    epoll_ctl(epfd, op, c->fd, &ev);
}

static void echo_finish(struct echo_conn *c, int epfd)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->finished = true;
}

static void echo_write(struct echo_conn *c, uint64_t total, int epfd, unsigned i, bool reading)
{
    uint8_t buf[IO_MAX];

    while (c->sent < total) {
        size_t n = random_size(total - c->sent);
        ssize_t w;

        stream_fill(c->seed, c->sent, buf, n);
        w = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                return;
            fail("echo connection %u (port %u): send after %llu bytes: %s", i, c->port,
                 (unsigned long long)c->sent, strerror(errno));
            echo_finish(c, epfd);
            return;
        }
        c->sent += (uint64_t)w;
    }
    if (!c->write_done) {
        c->write_done = true;
        shutdown(c->fd, SHUT_WR);
        echo_watch(c, epfd, i, reading, EPOLL_CTL_MOD);
    }
}

static void echo_read(struct echo_conn *c, uint64_t total, int epfd, unsigned i)
{
    uint8_t buf[IO_MAX];

    for (;;) {
        ssize_t r = recv(c->fd, buf, random_size(IO_MAX), 0);
        long bad;

        if (r < 0) {
            if (errno == EAGAIN)
                return;
            fail("echo connection %u (port %u): recv after %llu of %llu bytes: %s", i, c->port,
                 (unsigned long long)c->received, (unsigned long long)total, strerror(errno));
            echo_finish(c, epfd);
            return;
        }
        if (r == 0) {
            if (c->received != total)
                fail("echo connection %u (port %u): EOF after %llu of %llu bytes", i, c->port,
                     (unsigned long long)c->received, (unsigned long long)total);
            echo_finish(c, epfd);
            return;
        }
        if (c->received + (uint64_t)r > c->sent) {
            fail("echo connection %u (port %u): %llu bytes back but only %llu sent", i, c->port,
                 (unsigned long long)(c->received + (uint64_t)r), (unsigned long long)c->sent);
            echo_finish(c, epfd);
            return;
        }
        bad = stream_mismatch(c->seed, c->received, buf, (size_t)r);
        if (bad >= 0) {
            fail("echo connection %u (port %u): byte %llu came back wrong", i, c->port,
                 (unsigned long long)(c->received + (uint64_t)bad));
            echo_finish(c, epfd);
            return;
        }
        c->received += (uint64_t)r;
    }
}

static int run_echo(const struct options *o)
{
    struct echo_conn *conns = calloc(o->conns, sizeof(*conns));
    struct epoll_event events[256];
    unsigned left = o->conns;
    uint64_t start = monotonic_ns(), read_from = start + (uint64_t)o->pause_ms * 1000000;
    bool reading = !o->pause_ms;
    int epfd = epoll_create1(EPOLL_CLOEXEC);

    if (!conns || epfd < 0) {
        fail("echo: %s: %s", conns ? "epoll_create1" : "calloc", strerror(errno));
        free(conns);
        return -1;
    }
    for (unsigned i = 0; i < o->conns; i++) {
        struct echo_conn *c = &conns[i];

        c->seed = o->seed + i;
        c->fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&peer, peer_len) && errno != EINPROGRESS)) {
            fail("echo connection %u: %s: %s", i, c->fd < 0 ? "socket" : "connect", strerror(errno));
            if (c->fd >= 0)
                close(c->fd);
            c->finished = true;
            left--;
            continue;
        }
        c->port = local_port(c->fd);
        echo_watch(c, epfd, i, reading, EPOLL_CTL_ADD);
    }
    while (left) {
        int wait_ms = remaining_ms(), n;
        uint64_t now = monotonic_ns();

        if (!reading && now >= read_from) {
            reading = true; /* the pause is over: every connection reads again */
            for (unsigned i = 0; i < o->conns; i++)
                if (!conns[i].finished)
                    echo_watch(&conns[i], epfd, i, reading, EPOLL_CTL_MOD);
        }
        if (!reading && (int)((read_from - now) / 1000000) + 1 < wait_ms)
            wait_ms = (int)((read_from - now) / 1000000) + 1; /* wake when the pause ends */
        n = epoll_wait(epfd, events, 256, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && !reading && remaining_ms())
            continue;
        if (n <= 0) {
            for (unsigned i = 0; i < o->conns; i++)
                if (!conns[i].finished)
                    fail("echo connection %u (port %u): timed out: %s, %llu sent, %llu of %llu back", i,
                         conns[i].port, conns[i].connected ? "connected" : "not connected",
                         (unsigned long long)conns[i].sent, (unsigned long long)conns[i].received,
                         (unsigned long long)o->bytes);
            break;
        }
        for (int k = 0; k < n; k++) {
            unsigned i = events[k].data.u32;
            struct echo_conn *c = &conns[i];

            if (c->finished)
                continue;
            if (!c->connected) {
                int err = 0;
                socklen_t len = sizeof(err);

                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    fail("echo connection %u (port %u): connect: %s", i, c->port, strerror(err));
                    echo_finish(c, epfd);
                    left--;
                    continue;
                }
                c->connected = true;
            }
            if (events[k].events & EPOLLOUT)
                echo_write(c, o->bytes, epfd, i, reading);
            if (!c->finished && reading && (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                echo_read(c, o->bytes, epfd, i);
            if (c->finished)
                left--;
        }
    }
    close(epfd);
    free(conns);
    if (failures)
        return -1;
    printf("echo: %u connections x %llu bytes came back exactly in %.2f s (%.1f MiB/s each way)%s\n",
           o->conns, (unsigned long long)o->bytes, seconds_since(start),
           mib_per_s(o->bytes * o->conns, seconds_since(start)),
           o->pause_ms ? ", reading paused at first" : "");
    return 0;
}

/* ---- upload and download ----------------------------------------------------------------------- */

/* Send n bytes of stream seed in random-sized writes, hashing them into sha when given. */
static int send_stream(int fd, uint64_t seed, uint64_t n, EVP_MD_CTX *sha, const char *what)
{
    uint8_t buf[IO_MAX];

    for (uint64_t sent = 0; sent < n;) {
        size_t chunk = random_size(n - sent);

        stream_fill(seed, sent, buf, chunk);
        if (sha)
            EVP_DigestUpdate(sha, buf, chunk);
        if (send_all(fd, buf, chunk, what))
            return -1;
        sent += chunk;
    }
    return 0;
}

static int run_upload(const struct options *o)
{
    uint8_t mine[EVP_MAX_MD_SIZE], theirs[64];
    char mine_hex[2 * EVP_MAX_MD_SIZE + 1], theirs_hex[129];
    unsigned int mine_len = 0;
    size_t got = 0;
    uint64_t start = monotonic_ns();
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int fd, status = -1;

    if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        fail("upload: EVP_DigestInit_ex failed");
        EVP_MD_CTX_free(sha);
        return -1;
    }
    fd = connect_blocking("upload");
    if (fd < 0)
        goto out;
    if (send_stream(fd, o->seed, o->bytes, sha, "upload"))
        goto out_close;
    if (shutdown(fd, SHUT_WR)) {
        fail("upload: shutdown: %s", strerror(errno));
        goto out_close;
    }
    for (;;) {
        ssize_t r = recv_some(fd, theirs + got, sizeof(theirs) - got, "upload", got, 32);

        if (r < 0)
            goto out_close;
        if (r == 0)
            break;
        got += (size_t)r;
        if (got == sizeof(theirs))
            break;
    }
    EVP_DigestFinal_ex(sha, mine, &mine_len);
    hex(mine, mine_len, mine_hex);
    hex(theirs, got, theirs_hex);
    if (got != mine_len || memcmp(mine, theirs, mine_len)) {
        fail("upload: the sink's digest of %llu bytes is %s (%zu bytes), ours is %s",
             (unsigned long long)o->bytes, got ? theirs_hex : "empty", got, mine_hex);
        goto out_close;
    }
    printf("upload: %llu bytes in %.2f s (%.1f MiB/s), SHA-256 %s matches\n", (unsigned long long)o->bytes,
           seconds_since(start), mib_per_s(o->bytes, seconds_since(start)), mine_hex);
    status = 0;
out_close:
    close(fd);
out:
    EVP_MD_CTX_free(sha);
    return status;
}

static int send_source_request(int fd, uint64_t bytes, uint64_t seed, const char *what)
{
    uint8_t request[16];

    put_be64(request, bytes);
    put_be64(request + 8, seed);
    return send_all(fd, request, sizeof(request), what);
}

/* Read n bytes of stream seed from fd, verifying each; -1 after reporting a mismatch, error or early EOF. */
static int receive_stream(int fd, uint64_t seed, uint64_t from, uint64_t n, EVP_MD_CTX *got_sha,
                          EVP_MD_CTX *want_sha, const char *what)
{
    uint8_t buf[IO_MAX], want[IO_MAX];

    for (uint64_t got = from; got < n;) {
        ssize_t r = recv_some(fd, buf, random_size(n - got), what, got, n);

        if (r < 0)
            return -1;
        if (r == 0) {
            fail("%s: EOF after %llu of %llu bytes", what, (unsigned long long)got, (unsigned long long)n);
            return -1;
        }
        stream_fill(seed, got, want, (size_t)r);
        if (memcmp(buf, want, (size_t)r)) {
            fail("%s: byte %llu differs from the stream", what,
                 (unsigned long long)(got + (uint64_t)stream_mismatch(seed, got, buf, (size_t)r)));
            return -1;
        }
        if (got_sha)
            EVP_DigestUpdate(got_sha, buf, (size_t)r);
        if (want_sha)
            EVP_DigestUpdate(want_sha, want, (size_t)r);
        got += (uint64_t)r;
    }
    return 0;
}

static int run_download(const struct options *o)
{
    uint8_t got_digest[EVP_MAX_MD_SIZE], want_digest[EVP_MAX_MD_SIZE], extra;
    char got_hex[2 * EVP_MAX_MD_SIZE + 1], want_hex[2 * EVP_MAX_MD_SIZE + 1];
    unsigned int got_len = 0, want_len = 0;
    uint64_t start = monotonic_ns();
    EVP_MD_CTX *got_sha = EVP_MD_CTX_new(), *want_sha = EVP_MD_CTX_new();
    int fd = -1, status = -1;
    ssize_t r;

    if (!got_sha || !want_sha || !EVP_DigestInit_ex(got_sha, EVP_sha256(), NULL) ||
        !EVP_DigestInit_ex(want_sha, EVP_sha256(), NULL)) {
        fail("download: EVP_DigestInit_ex failed");
        goto out;
    }
    fd = connect_blocking("download");
    if (fd < 0)
        goto out;
    if (send_source_request(fd, o->bytes, o->seed, "download"))
        goto out;
    if (o->pause_ms) { /* a reader that stops: our window fills and closes, the server must probe it */
        struct timespec pause = {.tv_sec = o->pause_ms / 1000,
                                 .tv_nsec = (long)(o->pause_ms % 1000) * 1000000};

        if (receive_stream(fd, o->seed, 0, o->bytes / 2, got_sha, want_sha, "download"))
            goto out;
        nanosleep(&pause, NULL);
    }
    if (receive_stream(fd, o->seed, o->pause_ms ? o->bytes / 2 : 0, o->bytes, got_sha, want_sha, "download"))
        goto out;
    r = recv_some(fd, &extra, 1, "download", o->bytes, o->bytes);
    if (r != 0) {
        if (r > 0)
            fail("download: more than the %llu bytes asked for", (unsigned long long)o->bytes);
        goto out;
    }
    EVP_DigestFinal_ex(got_sha, got_digest, &got_len);
    EVP_DigestFinal_ex(want_sha, want_digest, &want_len);
    hex(got_digest, got_len, got_hex);
    hex(want_digest, want_len, want_hex);
    if (got_len != want_len || memcmp(got_digest, want_digest, got_len)) {
        fail("download: SHA-256 %s, the stream's is %s", got_hex, want_hex);
        goto out;
    }
    printf("download: %llu bytes in %.2f s (%.1f MiB/s)%s, SHA-256 %s matches\n",
           (unsigned long long)o->bytes, seconds_since(start), mib_per_s(o->bytes, seconds_since(start)),
           o->pause_ms ? " with a pause halfway" : "", got_hex);
    if (o->hold_ms) { /* a peer that never closes: the server's FIN-WAIT-2 must end on its own */
        struct timespec hold = {.tv_sec = o->hold_ms / 1000, .tv_nsec = (long)(o->hold_ms % 1000) * 1000000};

        nanosleep(&hold, NULL);
    }
    status = 0;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(got_sha);
    EVP_MD_CTX_free(want_sha);
    return status;
}

/* ---- abort and refused ------------------------------------------------------------------------- */

/* Move o->bytes on one connection of the given kind, leaving the transfer unfinished; -1 on error. */
static int abort_transfer(int fd, const struct options *o, uint64_t seed, const char *what)
{
    if (!strcmp(o->kind, "upload"))
        return send_stream(fd, seed, o->bytes, NULL, what); /* no half-close: the sink waits for more */
    if (!strcmp(o->kind, "download")) {
        /* ask for far more than we read, so the source is still sending when the reset comes */
        if (send_source_request(fd, o->bytes * 16 + (1 << 20), seed, what))
            return -1;
        return receive_stream(fd, seed, 0, o->bytes, NULL, NULL, what);
    }
    /* echo: send twice what we read back, so bytes are in flight both ways */
    if (send_stream(fd, seed, 2 * o->bytes, NULL, what))
        return -1;
    return receive_stream(fd, seed, 0, o->bytes, NULL, NULL, what);
}

static int run_abort(const struct options *o)
{
    int *fds = calloc(o->conns, sizeof(*fds));
    uint64_t start = monotonic_ns();
    char what[64];

    if (!fds) {
        fail("abort: calloc: %s", strerror(errno));
        return -1;
    }
    if (strcmp(o->kind, "upload") && strcmp(o->kind, "download") && strcmp(o->kind, "echo")) {
        fail("abort: bad --kind '%s': echo, upload or download", o->kind);
        free(fds);
        return -1;
    }
    for (unsigned i = 0; i < o->conns; i++) {
        snprintf(what, sizeof(what), "abort %s connection %u", o->kind, i);
        fds[i] = connect_blocking(what);
        if (fds[i] >= 0 && abort_transfer(fds[i], o, o->seed + i, what)) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    /* all of them are mid-transfer now: reset them together */
    for (unsigned i = 0; i < o->conns; i++) {
        snprintf(what, sizeof(what), "abort %s connection %u", o->kind, i);
        if (fds[i] >= 0)
            close_with_reset(fds[i], what);
    }
    free(fds);
    if (failures)
        return -1;
    printf("abort: %u %s connections reset after %llu bytes each in %.2f s\n", o->conns, o->kind,
           (unsigned long long)o->bytes, seconds_since(start));
    return 0;
}

static int run_refused(void)
{
    int fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ms = remaining_ms();
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    int rc, err;

    if (fd < 0) {
        fail("refused: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    rc = connect(fd, (struct sockaddr *)&peer, peer_len);
    err = errno;
    close(fd);
    if (rc == 0) {
        fail("refused: the connection was accepted");
        return -1;
    }
    if (err != ECONNREFUSED) {
        fail("refused: connect failed with '%s', not ECONNREFUSED (a reset)",
             err == EINPROGRESS ? "timed out" : strerror(err));
        return -1;
    }
    printf("refused: connect got ECONNREFUSED\n");
    return 0;
}

/* ---- request/response rounds ------------------------------------------------------------------- */

struct rr_conn {
    int fd;
    uint64_t rounds;
    size_t got; /* bytes of the current round's echo received */
};

/*
 * C connections to the echo service each send a message of --bytes, wait for all of it to come
 * back, check it and send the next, for --seconds: the small-message round trips a benchmark
 * counts. Prints the rate; fails on any byte that does not match.
 */
static int run_rr(const struct options *o)
{
    struct rr_conn *conns = calloc(o->conns, sizeof(*conns));
    uint8_t msg[IO_MAX], buf[IO_MAX];
    uint64_t start, end, rounds = 0;
    int epfd = epoll_create1(0);

    if (!conns || epfd < 0 || o->bytes == 0 || o->bytes > IO_MAX) {
        fail("rr: --bytes must be 1..%d", IO_MAX);
        return 1;
    }
    stream_fill(o->seed, 0, msg, o->bytes);
    for (unsigned i = 0; i < o->conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};

        conns[i].fd = connect_blocking("rr");
        if (conns[i].fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev))
            return 1;
    }
    start = monotonic_ns();
    end = start + (uint64_t)o->seconds * 1000000000ull;
    for (unsigned i = 0; i < o->conns; i++)
        if (send_all(conns[i].fd, msg, o->bytes, "rr"))
            return 1;
    while (monotonic_ns() < end) {
        struct epoll_event events[64];
        int n = epoll_wait(epfd, events, 64, 100);

        for (int k = 0; k < n; k++) {
            struct rr_conn *c = &conns[events[k].data.u32];
            ssize_t r = recv(c->fd, buf, o->bytes - c->got, MSG_DONTWAIT);

            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fail("rr: connection %u: %s", events[k].data.u32,
                     r ? strerror(errno) : "closed by the server");
                return 1;
            }
            if (memcmp(buf, msg + c->got, (size_t)r)) {
                fail("rr: connection %u: the echo differs from what was sent", events[k].data.u32);
                return 1;
            }
            c->got += (size_t)r;
            if (c->got == o->bytes) {
                c->got = 0;
                c->rounds++;
                rounds++;
                if (send_all(c->fd, msg, o->bytes, "rr"))
                    return 1;
            }
        }
    }
    printf("rr: %llu round trips in %.2f s (%.0f/s), %u connections x %llu bytes\n",
           (unsigned long long)rounds, seconds_since(start), rounds / seconds_since(start), o->conns,
           (unsigned long long)o->bytes);
    for (unsigned i = 0; i < o->conns; i++)
        close(conns[i].fd);
    free(conns);
    close(epfd);
    return 0;
}

/* ---- command line ------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " echo|upload|download|abort|refused|rr --addr ADDR --port PORT [--bytes N]\n"
            "       [--conns C] [--seed S] [--kind echo|upload|download] [--pause-ms P] [--hold-ms H]\n"
            "       [--within-ms W] [--seconds S] [--timeout SEC]\n");
    exit(2);
}

static uint64_t number_arg(const char *opt, const char *text)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 0);
    if (errno || end == text || *end || text[0] == '-') {
        fprintf(stderr, PROG ": error: bad %s '%s': not a number\n", opt, text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct options o = {
        .conns = 1, .bytes = 1 << 20, .seed = 1, .timeout_s = 60, .kind = "upload", .seconds = 5};
    uint64_t start;
    int status;

    if (argc < 2)
        usage();
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];

        if (i + 1 >= argc)
            usage();
        if (!strcmp(opt, "--addr"))
            o.addr = argv[++i];
        else if (!strcmp(opt, "--port"))
            o.port = argv[++i];
        else if (!strcmp(opt, "--kind"))
            o.kind = argv[++i];
        else if (!strcmp(opt, "--bytes"))
            o.bytes = number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--seed"))
            o.seed = number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--conns"))
            o.conns = (unsigned)number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--hold-ms"))
            o.hold_ms = (unsigned)number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--within-ms"))
            o.within_ms = (unsigned)number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--pause-ms"))
            o.pause_ms = (unsigned)number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--timeout"))
            o.timeout_s = (unsigned)number_arg(opt, argv[++i]);
        else if (!strcmp(opt, "--seconds"))
            o.seconds = (unsigned)number_arg(opt, argv[++i]);
        else
            usage();
    }
    if (!o.addr || !o.port || !o.conns || !o.timeout_s)
        usage();
    if (resolve(o.addr, o.port))
        return 2;
    rng_state = stream_word(o.seed, 0) | 1;
    start = monotonic_ns();
    deadline_ns = start + (uint64_t)o.timeout_s * 1000000000ull;

    if (!strcmp(o.mode, "echo"))
        status = run_echo(&o);
    else if (!strcmp(o.mode, "upload"))
        status = run_upload(&o);
    else if (!strcmp(o.mode, "download"))
        status = run_download(&o);
    else if (!strcmp(o.mode, "abort"))
        status = run_abort(&o);
    else if (!strcmp(o.mode, "refused"))
        status = run_refused();
    else if (!strcmp(o.mode, "rr"))
        status = run_rr(&o);
    else
        usage();
    if (!status && o.within_ms && seconds_since(start) * 1000 > o.within_ms)
        fail("%s: took %.2f s, more than the %.2f s allowed", o.mode, seconds_since(start),
             o.within_ms / 1000.0);
    if (failures > MAX_FAILURES)
        fprintf(stderr, PROG ": error: %u more failures not shown\n", failures - MAX_FAILURES);
    return status || failures ? 1 : 0;
}
