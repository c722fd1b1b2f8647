/*
 * h2_wire.c — the raw-frame HTTP/2 client of the test tools (see h2_wire.h): writing frames and
 * field blocks by hand, reading the server's frames back with the bookkeeping each needs, over the
 * socket itself or over TLS (the transports below: one code path above them).
 *
 * Test code, never part of the server: it may allocate freely, but it never waits without bound.
 */
#include "tests/http/h2_wire.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define RBUF_MAX (64u << 20) /* unread bytes buffered from the server, at most */

struct h2_wire_opts h2_wire = {.prog = "h2_wire", .timeout_ms = 2000, .authority = "localhost"};

static void wire_oom(void)
{
    fprintf(stderr, "%s: out of memory\n", h2_wire.prog);
    exit(2);
}

static const char *const error_names[] = {
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
};

static const char *const frame_names[] = {
    "DATA",         "HEADERS", "PRIORITY", "RST_STREAM",    "SETTINGS",
    "PUSH_PROMISE", "PING",    "GOAWAY",   "WINDOW_UPDATE", "CONTINUATION",
};

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *error_name(uint32_t code)
{
    static char buf[4][32];
    static unsigned next;
    if (code < sizeof(error_names) / sizeof(error_names[0]))
        return error_names[code];
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "error 0x%x", code);
    return b;
}

/* "PROTOCOL_ERROR", "STREAM_CLOSED or PROTOCOL_ERROR" */
const char *codes_text(uint32_t codes)
{
    static char buf[4][160];
    static unsigned next;
    char *b = buf[next++ % 4];
    b[0] = '\0';
    for (uint32_t code = 0; code < 32; code++) {
        if (codes & E(code)) {
            if (b[0] != '\0')
                strncat(b, " or ", sizeof(buf[0]) - strlen(b) - 1);
            strncat(b, error_name(code), sizeof(buf[0]) - strlen(b) - 1);
        }
    }
    return b;
}

/* ------------------------------------------------------------------------------------------------ */
/* One client connection.                                                                          */

struct stream_rec *stream_get(struct h2c *c, uint32_t id)
{
    for (size_t i = 0; i < c->nstreams; i++)
        if (c->streams[i].id == id)
            return &c->streams[i];
    if (c->nstreams == MAX_STREAMS)
        return NULL;
    struct stream_rec *s = &c->streams[c->nstreams++];
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->rst_code = -1;
    return s;
}

void stream_forget(struct h2c *c, uint32_t id)
{
    for (size_t i = 0; i < c->nstreams; i++) {
        if (c->streams[i].id == id) {
            free(c->streams[i].body);
            c->streams[i] = c->streams[--c->nstreams];
            return;
        }
    }
}

bool set_bad(struct h2c *c, const char *fmt, ...)
{
    if (c->bad[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->bad, sizeof(c->bad), fmt, ap);
        va_end(ap);
    }
    return false;
}

/* ------------------------------------------------------------------------------------------------ */
/* Transports: how bytes cross the connection. Both speak recv(2) and send(2)'s language, so that   */
/* reading, writing and the close have one code path above them whatever the transport:            */
/* > 0 bytes; 0 from recv: the peer closed; -1 with errno EAGAIN (nothing now), ECONNRESET or EPIPE  */
/* (a reset) or another (the connection failed).                                                   */

struct wire_io {
    /* After the TCP connect, before the first byte: false, err says why. */
    bool (*start)(struct h2c *c, const char *host, const char *port, char *err, size_t err_size);
    ssize_t (*recv)(struct h2c *c, void *buf, size_t len);
    ssize_t (*send)(struct h2c *c, const void *buf, size_t len);
    /* Bytes read from the socket already and not yet returned: poll() cannot see them. */
    bool (*pending)(struct h2c *c);
    void (*close)(struct h2c *c);
};

static bool tcp_start(struct h2c *c, const char *host, const char *port, char *err, size_t err_size)
{
    (void)c, (void)host, (void)port, (void)err, (void)err_size;
    return true;
}

static ssize_t tcp_recv(struct h2c *c, void *buf, size_t len)
{
    return recv(c->fd, buf, len, 0);
}

static ssize_t tcp_send(struct h2c *c, const void *buf, size_t len)
{
    return send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static bool tcp_pending(struct h2c *c)
{
    (void)c;
    return false;
}

static void tcp_close(struct h2c *c)
{
    (void)c;
}

static const struct wire_io tcp_io = {tcp_start, tcp_recv, tcp_send, tcp_pending, tcp_close};

/*
 * TLS 1.3 over the same non-blocking socket. One client context for the process: no certificate
 * verification (the servers under test use self-signed certificates), ALPN h2 only. A TCP FIN
 * without close_notify counts as a close like close_notify itself (SSL_OP_IGNORE_UNEXPECTED_EOF),
 * as the cases judge "the server closed", not how politely. Partial writes and a moving write buffer
 * let conn_try_write report what a record took, as send() would, and retry from a new pointer.
 * OpenSSL writes with write(2), not send(MSG_NOSIGNAL): the tools ignore SIGPIPE (they do anyway).
 */
static const unsigned char alpn_h2[] = {2, 'h', '2'};

static SSL_CTX *tls_ctx(void)
{
    static SSL_CTX *ctx;
    if (ctx)
        return ctx;
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2)) != 0) {
        fprintf(stderr, "%s: cannot set up an OpenSSL client context\n", h2_wire.prog);
        exit(2);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* The last OpenSSL error as text ("sslv3 alert handshake failure"), "" when there is none. */
static void tls_error_text(char *out, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    out[0] = '\0';
    if (e != 0)
        ERR_error_string_n(e, out, size);
}

/* An OpenSSL call that did not succeed (ret), in recv(2)'s language. */
static ssize_t tls_failed(struct h2c *c, int ret)
{
    int saved = errno;
    switch (SSL_get_error(c->_tls, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN; /* a record not whole yet, a ticket only, or a full socket */
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify, or a bare FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        if (!c->tls_note[0])
            snprintf(c->tls_note, sizeof(c->tls_note), "%s",
                     SSL_get_shutdown(c->_tls) & SSL_RECEIVED_SHUTDOWN ? "close_notify" : "TCP FIN");
        return 0;
    case SSL_ERROR_SYSCALL: /* the socket failed: errno says how (ECONNRESET, EPIPE) */
        errno = saved != 0 ? saved : EIO;
        return -1;
    default: /* a fatal alert from the server, or a record we cannot accept: the session is over */
        if (!c->tls_note[0])
            tls_error_text(c->tls_note, sizeof(c->tls_note));
        errno = EPROTO;
        return -1;
    }
}

static bool tls_start(struct h2c *c, const char *host, const char *port, char *err, size_t err_size)
{
    c->_tls = SSL_new(tls_ctx());
    if (!c->_tls || !SSL_set_fd(c->_tls, c->fd) ||
        (h2_wire.sni && !SSL_set_tlsext_host_name(c->_tls, h2_wire.sni))) {
        snprintf(err, err_size, "expected an OpenSSL session, got none (out of memory?)");
        return false;
    }
    int64_t deadline = now_ms() + h2_wire.timeout_ms;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(c->_tls);
        if (r == 1)
            break;
        int e = SSL_get_error(c->_tls, r);
        int64_t wait = deadline - now_ms();
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && wait > 0) {
            struct pollfd pfd = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
            poll(&pfd, 1, (int)wait);
            continue;
        }
        char why[160];
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            snprintf(why, sizeof(why), "no handshake within %.1f s", h2_wire.timeout_ms / 1000.0);
        else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
            snprintf(why, sizeof(why), "the connection %s", errno ? strerror(errno) : "closed");
        else
            tls_error_text(why, sizeof(why));
        snprintf(err, err_size, "expected a TLS 1.3 handshake with %s port %s, got %s", host, port, why);
        return false;
    }
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->_tls, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        snprintf(err, err_size, "expected ALPN h2 from %s port %s, got %s%.*s%s", host, port,
                 alpn_len ? "\"" : "no protocol selected", (int)alpn_len, alpn_len ? (const char *)alpn : "",
                 alpn_len ? "\"" : "");
        return false;
    }
    return true;
}

static ssize_t tls_recv(struct h2c *c, void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(c->_tls, buf, len, &n);
    return r == 1 ? (ssize_t)n : tls_failed(c, r);
}

static ssize_t tls_send(struct h2c *c, const void *buf, size_t len)
{
    size_t n = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(c->_tls, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    ssize_t f = tls_failed(c, r);
    if (f == 0) { /* we cannot write after our own close_notify; the peer's allows it (TLS 1.3) */
        errno = EPIPE;
        f = -1;
    }
    return f;
}

/* Decrypted bytes OpenSSL holds (a record larger than the read): the socket shows nothing more. */
static bool tls_pending(struct h2c *c)
{
    return SSL_pending(c->_tls) > 0;
}

static void tls_close(struct h2c *c)
{
    if (!c->_tls)
        return;
    /* A close_notify while the connection is sound, as a polite client sends: one try, no wait. */
    if (SSL_is_init_finished(c->_tls) && !c->peer_closed && !c->write_failed) {
        ERR_clear_error();
        SSL_shutdown(c->_tls);
    }
    SSL_free(c->_tls);
    ERR_clear_error();
    c->_tls = NULL;
}

static const struct wire_io tls_io = {tls_start, tls_recv, tls_send, tls_pending, tls_close};

/* Read what is there (non-blocking) into rbuf. Returns false when the connection is closed. */
static bool read_some(struct h2c *c)
{
    if (c->roff > 0 && c->roff == c->rlen)
        c->roff = c->rlen = 0;
    if (c->rcap - c->rlen < 65536) {
        if (c->roff > 0) { /* reclaim the parsed bytes first */
            memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
            c->rlen -= c->roff;
            c->roff = 0;
        }
        if (c->rcap - c->rlen < 65536) {
            if (c->rcap >= RBUF_MAX) {
                set_bad(c, "server sent over %u MiB that we could not parse", RBUF_MAX >> 20);
                c->peer_closed = true;
                return false;
            }
            size_t cap = c->rcap ? c->rcap * 2 : 262144;
            uint8_t *p = realloc(c->rbuf, cap);
            if (!p)
                wire_oom();
            c->rbuf = p;
            c->rcap = cap;
        }
    }
    for (;;) {
        ssize_t n = c->_io->recv(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t)n;
            return true;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        /* 0: orderly close (FIN, close_notify); ECONNRESET: reset; EPROTO: TLS ended it (an alert). All
         * are "closed", a reset told apart in peer_reset. */
        if (n < 0 && errno == ECONNRESET)
            c->peer_reset = true;
        c->peer_closed = true;
        return false;
    }
}

ssize_t conn_try_write(struct h2c *c, const void *data, size_t len)
{
    if (c->write_failed)
        return -1;
    for (;;) {
        ssize_t n = c->_io->send(c, data, len);
        if (n >= 0) {
            c->bytes_sent += (uint64_t)n;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        /* ECONNRESET: the server reset the connection. EPIPE: it was reset and a read or write has
         * already reported it (after a FIN alone a write still goes through). */
        if (errno == ECONNRESET || errno == EPIPE)
            c->peer_reset = true;
        c->write_failed = true; /* the server closed; reading will show how */
        return -1;
    }
}

void conn_write(struct h2c *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    int64_t deadline = now_ms() + h2_wire.timeout_ms;
    while (len > 0 && !c->write_failed) {
        ssize_t n = conn_try_write(c, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0) {
            int64_t wait = deadline - now_ms();
            if (wait <= 0) {
                c->write_failed = true;
                break;
            }
            /* Keep reading while we wait, so that neither side blocks on the other's full buffers. */
            struct pollfd pfd = {.fd = c->fd, .events = POLLOUT | POLLIN};
            if (poll(&pfd, 1, (int)wait) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
                read_some(c);
        }
    }
}

void put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const char *frame_name(uint8_t type)
{
    static char buf[16];
    if (type < sizeof(frame_names) / sizeof(frame_names[0]))
        return frame_names[type];
    snprintf(buf, sizeof(buf), "type 0x%02x", type);
    return buf;
}

size_t frame_put(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t len)
{
    put24(out, (uint32_t)len);
    out[3] = type;
    out[4] = flags;
    put32(out + 5, stream);
    if (len > 0)
        memcpy(out + FRAME_HEADER_LEN, payload, len);
    return FRAME_HEADER_LEN + len;
}

void send_frame(struct h2c *c, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t len)
{
    if (h2_wire.verbose)
        fprintf(stderr, "#   send %s length %zu flags 0x%02x stream %u%s\n", frame_name(type), len, flags,
                stream & MAX_WINDOW, stream & 0x80000000u ? " (R bit set)" : "");
    /* One write for header and payload: small frames leave in one segment (TCP_NODELAY is on). */
    if (len <= 16384) {
        uint8_t buf[FRAME_HEADER_LEN + 16384];
        conn_write(c, buf, frame_put(buf, type, flags, stream, payload, len));
    } else {
        uint8_t hdr[FRAME_HEADER_LEN];
        frame_put(hdr, type, flags, stream, NULL, 0);
        put24(hdr, (uint32_t)len); /* the length of the payload that follows on its own */
        conn_write(c, hdr, sizeof(hdr));
        conn_write(c, payload, len);
    }
}

void send_raw(struct h2c *c, const void *bytes, size_t len)
{
    if (h2_wire.verbose)
        fprintf(stderr, "#   send %zu raw bytes\n", len);
    conn_write(c, bytes, len);
}

/* n (id, value) pairs from ap; values are uint32_t (write 0u, 65535u, not 0). */
void send_settings_v(struct h2c *c, int n, va_list ap)
{
    uint8_t buf[6 * 16];
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++) {
        unsigned id = va_arg(ap, unsigned);
        uint32_t value = va_arg(ap, uint32_t);
        buf[6 * i] = (uint8_t)(id >> 8);
        buf[6 * i + 1] = (uint8_t)id;
        put32(buf + 6 * i + 2, value);
    }
    send_frame(c, FT_SETTINGS, 0, 0, buf, 6 * (size_t)n);
}

/* send_settings(c, 2, S_ENABLE_PUSH, 0u, S_INITIAL_WINDOW_SIZE, 0u): n (id, value) pairs. */
void send_settings(struct h2c *c, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    send_settings_v(c, n, ap);
    va_end(ap);
}

void send_ping(struct h2c *c, uint8_t flags, const uint8_t data[8])
{
    send_frame(c, FT_PING, flags, 0, data, 8);
}

void send_window_update(struct h2c *c, uint32_t stream, uint32_t increment)
{
    uint8_t p[4];
    put32(p, increment);
    send_frame(c, FT_WINDOW_UPDATE, 0, stream, p, 4);
}

void send_rst(struct h2c *c, uint32_t stream, uint32_t code)
{
    uint8_t p[4];
    put32(p, code);
    send_frame(c, FT_RST_STREAM, 0, stream, p, 4);
}

void send_priority(struct h2c *c, uint32_t stream, uint32_t depends_on, bool exclusive, uint8_t weight)
{
    uint8_t p[5];
    put32(p, depends_on | (exclusive ? 0x80000000u : 0));
    p[4] = weight;
    send_frame(c, FT_PRIORITY, 0, stream, p, 5);
}

void send_goaway(struct h2c *c, uint32_t last_stream, uint32_t code)
{
    uint8_t p[8];
    put32(p, last_stream);
    put32(p + 4, code);
    send_frame(c, FT_GOAWAY, 0, 0, p, 8);
}

void send_data(struct h2c *c, uint32_t stream, bool end_stream, const void *data, size_t len)
{
    send_frame(c, FT_DATA, end_stream ? FLAG_END_STREAM : 0, stream, data, len);
}

/* ------------------------------------------------------------------------------------------------ */
/* HPACK field blocks, built by hand (RFC 7541 5 and 6).                                          */

void hb_byte(struct hblock *b, uint8_t v)
{
    if (b->len < HBLOCK_MAX)
        b->buf[b->len++] = v;
}

void hb_raw(struct hblock *b, const void *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        hb_byte(b, ((const uint8_t *)bytes)[i]);
}

/* An integer with an N-bit prefix (RFC 7541 5.1); pattern holds the representation's leading bits. */
void hb_int(struct hblock *b, uint8_t pattern, unsigned prefix_bits, uint64_t v)
{
    uint64_t max = (1u << prefix_bits) - 1;
    if (v < max) {
        hb_byte(b, (uint8_t)(pattern | v));
        return;
    }
    hb_byte(b, (uint8_t)(pattern | max));
    v -= max;
    while (v >= 128) {
        hb_byte(b, (uint8_t)(0x80 | (v & 0x7f)));
        v >>= 7;
    }
    hb_byte(b, (uint8_t)v);
}

/* A string literal without Huffman coding (RFC 7541 5.2). */
void hb_str(struct hblock *b, const char *s, size_t len)
{
    hb_int(b, 0x00, 7, len);
    hb_raw(b, s, len);
}

/* Literal field without indexing, new name (RFC 7541 6.2.2): the representation the tools use. */
void hb_field_n(struct hblock *b, const char *name, size_t name_len, const char *value, size_t value_len)
{
    hb_byte(b, 0x00);
    hb_str(b, name, name_len);
    hb_str(b, value, value_len);
}

void hb_field(struct hblock *b, const char *name, const char *value)
{
    hb_field_n(b, name, strlen(name), value, strlen(value));
}

/* Indexed field (RFC 7541 6.1). */
void hb_indexed(struct hblock *b, uint64_t index)
{
    hb_int(b, 0x80, 7, index);
}

/* Dynamic table size update (RFC 7541 6.3). */
void hb_size_update(struct hblock *b, uint64_t size)
{
    hb_int(b, 0x20, 5, size);
}

const char *wire_scheme(void)
{
    return h2_wire.tls ? "https" : "http";
}

void hb_request(struct hblock *b, const char *method, const char *path)
{
    hb_field(b, ":method", method);
    hb_field(b, ":scheme", wire_scheme());
    hb_field(b, ":path", path);
    hb_field(b, ":authority", h2_wire.authority);
}

void send_headers(struct h2c *c, uint32_t stream, uint8_t flags, const struct hblock *b)
{
    stream_get(c, stream & MAX_WINDOW);
    send_frame(c, FT_HEADERS, flags, stream, b->buf, b->len);
}

void send_continuation(struct h2c *c, uint32_t stream, uint8_t flags, const struct hblock *b)
{
    send_frame(c, FT_CONTINUATION, flags, stream, b->buf, b->len);
}

void wb_frame(struct wire_batch *b, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
              size_t len)
{
    if (b->len + FRAME_HEADER_LEN + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + FRAME_HEADER_LEN + len)
            cap *= 2;
        uint8_t *n = realloc(b->buf, cap);
        if (!n)
            wire_oom();
        b->buf = n;
        b->cap = cap;
    }
    b->len += frame_put(b->buf + b->len, type, flags, stream, payload, len);
    b->frames++;
}

void wb_send(struct h2c *c, struct wire_batch *b)
{
    if (h2_wire.verbose)
        fprintf(stderr, "#   send %u frames in one write (%zu bytes)\n", b->frames, b->len);
    conn_write(c, b->buf, b->len);
    b->len = 0;
    b->frames = 0;
}

void wb_free(struct wire_batch *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------------------------------ */
/* Reading: pump() returns the next frame (after the bookkeeping every frame needs) or what ended  */
/* the wait.                                                                                      */

static void describe_frame(struct h2c *c, char *out, size_t size);

static bool decode_field_block(struct h2c *c, uint32_t stream, const uint8_t *in, size_t len, bool end_stream)
{
    int status = 0;
    bool has_status = false;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t n = nghttp2_hd_inflate_hd2(c->inflater, &nv, &flags, in, len, 1);
        if (n < 0)
            return set_bad(c, "the server's field block on stream %u does not decode: %s", stream,
                           nghttp2_strerror((int)n));
        in += n;
        len -= (size_t)n;
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 7 && memcmp(nv.name, ":status", 7) == 0) {
            has_status = true;
            status = 0;
            for (size_t i = 0; i < nv.valuelen && nv.value[i] >= '0' && nv.value[i] <= '9'; i++)
                status = status * 10 + (nv.value[i] - '0');
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(c->inflater);
            break;
        }
        if (n == 0 && len == 0)
            break;
    }
    struct stream_rec *s = stream_get(c, stream);
    if (!s)
        return true;
    if (has_status && status >= 100 && status < 200)
        s->informational = status;
    else if (has_status && s->status == 0)
        s->status = status;
    else if (!has_status && s->status != 0)
        s->trailers = true;
    else
        return set_bad(c, "the server's field block on stream %u has no :status", stream);
    if (end_stream)
        s->ended = true;
    return true;
}

static bool hblock_append(struct h2c *c, const uint8_t *p, size_t len)
{
    if (c->hblock_len + len > c->hblock_cap) {
        size_t cap = (c->hblock_len + len) * 2;
        uint8_t *n = realloc(c->hblock, cap);
        if (!n)
            wire_oom();
        c->hblock = n;
        c->hblock_cap = cap;
    }
    memcpy(c->hblock + c->hblock_len, p, len);
    c->hblock_len += len;
    return true;
}

/* The bookkeeping for the frame just read: acknowledgements, windows, stream states. */
static bool process_frame(struct h2c *c)
{
    const uint8_t *p = c->fpay;
    uint32_t len = c->flen, stream = c->fstream & MAX_WINDOW;
    if (c->hblock_open && c->ftype != FT_CONTINUATION)
        return set_bad(c, "the server sent %s in the middle of a field block", frame_name(c->ftype));
    switch (c->ftype) {
    case FT_DATA: {
        uint32_t pad = 0, off = 0;
        if (stream == 0)
            return set_bad(c, "the server sent DATA on stream 0");
        if (c->fflags & FLAG_PADDED) {
            if (len < 1 || p[0] >= len)
                return set_bad(c, "the server sent DATA with a bad pad length");
            pad = p[0];
            off = 1;
        }
        struct stream_rec *s = stream_get(c, stream);
        if (s) {
            uint32_t n = len - off - pad;
            if (n > 0 && s->body_len < BODY_KEEP) {
                size_t keep = n;
                if (s->body_len + keep > BODY_KEEP)
                    keep = BODY_KEEP - (size_t)s->body_len;
                if (s->body_len + keep > s->body_cap) {
                    size_t cap = s->body_cap ? s->body_cap * 2 : 65536;
                    while (cap < s->body_len + keep)
                        cap *= 2;
                    uint8_t *nb = realloc(s->body, cap);
                    if (!nb)
                        wire_oom();
                    s->body = nb;
                    s->body_cap = cap;
                }
                memcpy(s->body + s->body_len, p + off, keep);
            }
            s->body_len += n;
            s->data_frames++;
            if (c->fflags & FLAG_END_STREAM)
                s->ended = true;
        }
        if (c->auto_window_update && len > 0) {
            send_window_update(c, 0, len);
            if (!(c->fflags & FLAG_END_STREAM))
                send_window_update(c, stream, len);
        }
        return true;
    }
    case FT_HEADERS: {
        uint32_t off = 0, pad = 0;
        if (c->fflags & FLAG_PADDED) {
            if (len < 1)
                return set_bad(c, "the server sent a padded HEADERS without a pad length");
            pad = p[0];
            off = 1;
        }
        if (c->fflags & FLAG_PRIORITY)
            off += 5;
        if (off + pad > len)
            return set_bad(c, "the server sent HEADERS with a bad pad length");
        c->hblock_len = 0;
        hblock_append(c, p + off, len - off - pad);
        c->hblock_stream = stream;
        c->hblock_end_stream = (c->fflags & FLAG_END_STREAM) != 0;
        if (!(c->fflags & FLAG_END_HEADERS)) {
            c->hblock_open = true;
            return true;
        }
        return decode_field_block(c, stream, c->hblock, c->hblock_len, c->hblock_end_stream);
    }
    case FT_CONTINUATION:
        if (!c->hblock_open || stream != c->hblock_stream)
            return set_bad(c, "the server sent CONTINUATION outside a field block");
        hblock_append(c, p, len);
        if (!(c->fflags & FLAG_END_HEADERS))
            return true;
        c->hblock_open = false;
        return decode_field_block(c, stream, c->hblock, c->hblock_len, c->hblock_end_stream);
    case FT_PUSH_PROMISE:
        return set_bad(c, "the server sent PUSH_PROMISE though we sent SETTINGS_ENABLE_PUSH 0");
    case FT_SETTINGS:
        if (c->fflags & FLAG_ACK) {
            c->settings_acks++;
            return true;
        }
        if (len % 6 != 0)
            return set_bad(c, "the server sent a SETTINGS frame of %u bytes", len);
        for (uint32_t i = 0; i < len; i += 6) {
            unsigned id = (unsigned)p[i] << 8 | p[i + 1];
            uint32_t value = get32(p + i + 2);
            if (id == S_MAX_CONCURRENT_STREAMS) {
                c->has_max_concurrent = true;
                c->max_concurrent = value;
            } else if (id == S_HEADER_TABLE_SIZE) {
                c->header_table_size = value;
            } else if (id == S_INITIAL_WINDOW_SIZE) {
                c->initial_window = value;
            } else if (id == S_MAX_FRAME_SIZE) {
                c->max_frame_size = value;
            } else if (id == S_MAX_HEADER_LIST_SIZE) {
                c->has_max_header_list = true;
                c->max_header_list = value;
            }
        }
        c->got_settings = true;
        send_frame(c, FT_SETTINGS, FLAG_ACK, 0, NULL, 0);
        return true;
    case FT_PING:
        if (len != 8)
            return set_bad(c, "the server sent a PING of %u bytes", len);
        if (!(c->fflags & FLAG_ACK))
            send_ping(c, FLAG_ACK, p);
        return true;
    case FT_GOAWAY:
        if (len < 8)
            return set_bad(c, "the server sent a GOAWAY of %u bytes", len);
        c->got_goaway = true;
        c->goaway_last = get32(p) & MAX_WINDOW;
        c->goaway_code = get32(p + 4);
        return true;
    case FT_RST_STREAM: {
        if (len != 4)
            return set_bad(c, "the server sent a RST_STREAM of %u bytes", len);
        struct stream_rec *s = stream_get(c, stream);
        if (s)
            s->rst_code = (int)get32(p);
        return true;
    }
    default:
        return true;
    }
}

static void describe_frame(struct h2c *c, char *out, size_t size)
{
    uint32_t stream = c->fstream & MAX_WINDOW;
    struct stream_rec *s;
    switch (c->ftype) {
    case FT_GOAWAY:
        snprintf(out, size, "GOAWAY %s (last stream %u)", c->flen >= 8 ? error_name(get32(c->fpay + 4)) : "?",
                 c->flen >= 4 ? get32(c->fpay) & MAX_WINDOW : 0);
        break;
    case FT_RST_STREAM:
        snprintf(out, size, "RST_STREAM %s on stream %u", c->flen >= 4 ? error_name(get32(c->fpay)) : "?",
                 stream);
        break;
    case FT_HEADERS:
    case FT_CONTINUATION:
        s = stream_get(c, stream);
        if (s && s->status && (c->fflags & FLAG_END_HEADERS))
            snprintf(out, size, "%s on stream %u (:status %d%s)", frame_name(c->ftype), stream, s->status,
                     c->fflags & FLAG_END_STREAM ? ", END_STREAM" : "");
        else
            snprintf(out, size, "%s on stream %u", frame_name(c->ftype), stream);
        break;
    case FT_DATA:
        snprintf(out, size, "DATA on stream %u (%u bytes%s)", stream, c->flen,
                 c->fflags & FLAG_END_STREAM ? ", END_STREAM" : "");
        break;
    case FT_PING:
    case FT_SETTINGS:
        snprintf(out, size, "%s%s", frame_name(c->ftype), c->fflags & FLAG_ACK ? " ACK" : "");
        break;
    case FT_WINDOW_UPDATE:
        snprintf(out, size, "WINDOW_UPDATE on stream %u (+%u)", stream, c->flen >= 4 ? get32(c->fpay) : 0);
        break;
    default:
        snprintf(out, size, "%s on stream %u", frame_name(c->ftype), stream);
    }
}

/*
 * Wait until deadline for the next frame. EV_FRAME: c->ftype, fflags, fstream, flen, fpay hold it
 * and its bookkeeping is done. EV_CLOSED: the server closed the connection (any partial frame is
 * dropped). EV_BAD: the server broke the protocol (c->bad says how).
 */
enum ev pump(struct h2c *c, int64_t deadline)
{
    if (c->bad[0])
        return EV_BAD;
    for (;;) {
        size_t avail = c->rlen - c->roff;
        if (avail >= 9) {
            const uint8_t *h = c->rbuf + c->roff;
            uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
            if (avail >= 9 + (size_t)len) {
                if (len > c->fpay_cap) {
                    uint8_t *n = realloc(c->fpay, len);
                    if (!n)
                        wire_oom();
                    c->fpay = n;
                    c->fpay_cap = len;
                }
                c->ftype = h[3];
                c->fflags = h[4];
                c->fstream = get32(h + 5);
                c->flen = len;
                memcpy(c->fpay, h + 9, len);
                c->roff += 9 + len;
                if (len > DEFAULT_MAX_FRAME) {
                    set_bad(c, "the server sent a %s of %u bytes, over our SETTINGS_MAX_FRAME_SIZE %u",
                            frame_name(c->ftype), len, DEFAULT_MAX_FRAME);
                    return EV_BAD;
                }
                bool ok = process_frame(c);
                char text[sizeof(c->last)];
                describe_frame(c, text, sizeof(text));
                if (h2_wire.verbose)
                    fprintf(stderr, "#   recv %s\n", text);
                /* WINDOW_UPDATE and SETTINGS ACK say little about a failure; keep the last telling frame. */
                if (!(c->ftype == FT_WINDOW_UPDATE || (c->ftype == FT_SETTINGS && (c->fflags & FLAG_ACK))) ||
                    c->last[0] == '\0')
                    memcpy(c->last, text, sizeof(text));
                return ok ? EV_FRAME : EV_BAD;
            }
        }
        if (c->peer_closed)
            return EV_CLOSED;
        if (c->_io->pending(c)) { /* already off the socket: poll() would not wake for it */
            read_some(c);
            continue;
        }
        int64_t wait = deadline - now_ms();
        if (wait <= 0)
            return EV_TIMEOUT;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)wait);
        if (r > 0)
            read_some(c);
        else if (r < 0 && errno != EINTR)
            c->peer_closed = true;
    }
}

/* What a wait ended with, for "got ..." in a failure. */
const char *got(struct h2c *c, enum ev ev)
{
    static char buf[400];
    switch (ev) {
    case EV_FRAME:
        snprintf(buf, sizeof(buf), "%s", c->last);
        break;
    case EV_CLOSED:
        snprintf(buf, sizeof(buf), "the connection closed%s%s%s%s%s", c->last[0] ? " after " : "", c->last,
                 c->tls_note[0] ? " (TLS: " : "", c->tls_note, c->tls_note[0] ? ")" : "");
        break;
    case EV_TIMEOUT:
        snprintf(buf, sizeof(buf), "nothing more within %.1f s%s%s", h2_wire.timeout_ms / 1000.0,
                 c->last[0] ? "; last frame " : "", c->last);
        break;
    case EV_BAD:
        snprintf(buf, sizeof(buf), "a broken reply: %s", c->bad);
        break;
    }
    return buf;
}

/* ------------------------------------------------------------------------------------------------ */
/* Connections.                                                                                   */

bool h2c_open(struct h2c *c, const char *host, const char *port, int rcvbuf, char *errbuf, size_t err_size)
{
    return h2c_open_from(c, host, port, NULL, rcvbuf, errbuf, err_size);
}

/* Bind fd to the numeric address source (port 0: any), of the family the connection uses. */
static int bind_source(int fd, int family, const char *source)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST},
                    *res;
    if (getaddrinfo(source, NULL, &hints, &res) != 0)
        return EADDRNOTAVAIL; /* not an address of this family: try the next way to the server */
    int err = bind(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
    freeaddrinfo(res);
    return err;
}

bool h2c_open_from(struct h2c *c, const char *host, const char *port, const char *source, int rcvbuf,
                   char *errbuf, size_t err_size)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->_io = h2_wire.tls ? &tls_io : &tcp_io;
    c->auto_window_update = true;
    c->header_table_size = 4096;
    c->initial_window = DEFAULT_WINDOW;
    c->max_frame_size = DEFAULT_MAX_FRAME;
    if (nghttp2_hd_inflate_new(&c->inflater) != 0) {
        fprintf(stderr, "%s: nghttp2_hd_inflate_new failed\n", h2_wire.prog);
        exit(2);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, err_size, "expected to resolve %s, got %s", host, gai_strerror(rc));
        return false;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* Before the connect: the window scale offered in the SYN follows from it. */
        if (rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (source && (err = bind_source(fd, ai->ai_family, source)) != 0) {
            close(fd);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        socklen_t elen = sizeof(err);
        if (poll(&pfd, 1, h2_wire.timeout_ms) != 1) {
            err = ETIMEDOUT;
            close(fd);
            continue;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            close(fd);
            continue;
        }
        c->fd = fd;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(errbuf, err_size, "expected a TCP connection to %s port %s%s%s, got %s", host, port,
                 source ? " from " : "", source ? source : "", strerror(err));
        return false;
    }
    return c->_io->start(c, host, port, errbuf, err_size);
}

void conn_close(struct h2c *c)
{
    if (c->_io) /* NULL: never opened (a zeroed struct) */
        c->_io->close(c);
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->nstreams; i++)
        free(c->streams[i].body);
    free(c->rbuf);
    free(c->fpay);
    free(c->hblock);
    nghttp2_hd_inflate_del(c->inflater);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

enum ev wait_handshake(struct h2c *c, int64_t deadline)
{
    while (!(c->got_settings && c->settings_acks >= 1)) {
        if (now_ms() >= deadline) /* pump returns a frame already read whatever the deadline */
            return EV_TIMEOUT;
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return ev;
    }
    return EV_FRAME;
}
