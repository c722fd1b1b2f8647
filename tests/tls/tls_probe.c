/*
 * tls_probe.c — malformed TLS handshakes against a server under test, from a plain TCP client: what
 * a server must survive before any HTTP is spoken. Each attack is judged on what comes back, record
 * by record: before a handshake completes a server may answer a bad ClientHello only with an alert
 * record (content type 21) and the close, never with anything else, and never by hanging.
 *
 *   tls_probe HOST PORT [--bad-sni NAME] [--sni NAME] [--only NAME] [--verbose]
 *
 * The attacks (their NAME for --only):
 *   prefix-fin         a real TLS 1.3 ClientHello (OpenSSL's first flight, captured from a memory BIO
 *                      pair), cut after each k of its 1..len-1 bytes, then our FIN (shutdown SHUT_WR):
 *                      the server closes (FIN or reset) within 5 s, an alert before it at most
 *   prefix-open        the same cuts at ~40 offsets, without the FIN: within 200 ms nothing but alerts
 *                      (or the close); then we close (the handshake timeout is tested elsewhere)
 *   random-bytes       20 connections at once, 2 KiB of random bytes each (a fixed seed): an alert or
 *                      the close within 5 s on every one
 *   huge-client-hello  a ClientHello of over 64 KiB (a 65535-byte extension block, its bulk one GREASE
 *                      extension that a server must otherwise ignore), in 16 KiB records: an alert or
 *                      the close within 5 s; a ServerHello means the server took it
 *   tls10-only         a valid ClientHello for TLS 1.0 only (legacy_version 0x0301, no
 *                      supported_versions): alert protocol_version (70) or the close
 *   unknown-cipher     a TLS 1.3 ClientHello offering TLS_AES_128_CCM_8_SHA256 (0x1305) alone:
 *                      alert handshake_failure (40) or the close
 *   bad-sni            with --bad-sni NAME, a TLS 1.3 ClientHello naming NAME: alert unrecognized_name
 *                      (112) or the close (skipped without the option)
 *   alpn-mismatch      a TLS 1.3 ClientHello whose ALPN offers "foo/1" alone: alert
 *                      no_application_protocol (120) or the close
 *   others-go-on       while prefix-fin runs (either selects both), another thread opens a full TLS
 *                      connection (ALPN http/1.1, --sni NAME if given) every 100 ms, 5 at least, sends
 *                      "GET /healthz HTTP/1.1" and must read an "HTTP/1.1 200" status line: all of
 *                      them, within 5 s each
 *
 * Only with --only (it needs a server that offers 0-RTT, and a handshake that succeeds):
 *   replay             a 0-RTT replay. A full TLS 1.3 connection (ALPN http/1.1) gets a session whose
 *                      ticket allows early data; a resumption of it with "GET /healthz?replay" as
 *                      early data is written by OpenSSL on a memory BIO pair and its first flight
 *                      (ClientHello and early data) captured, never answered; those very bytes go out
 *                      on two new connections, one after the other, each read for 2 s and closed. The
 *                      server should serve the first copy's request and refuse the second's early data
 *                      (its ClientHello random was seen): that shows in its counters only, which the
 *                      caller compares (tests/tls/tls_test.sh); here, both copies must be answered
 *                      with a ServerHello. Then a fresh 0-RTT connection with the same session must
 *                      have its early data (GET /healthz) accepted and answered "HTTP/1.1 200". Two
 *                      lines: "replay: sent one 0-RTT flight twice", "replay: a fresh 0-RTT connection
 *                      with the same ticket is still accepted". Requests made: 3 at most (the first
 *                      connection's, the first copy's, the fresh 0-RTT one's).
 *
 * --sni NAME is the server name of the ClientHellos that should be acceptable but for what each
 * attack breaks (none by default); --bad-sni NAME the one a server must refuse.
 *
 * Output: one line per attack, "ok - NAME", "not ok - NAME: why" or "skip - NAME: why" (an attack of
 * parts: "ok - NAME: part" or "not ok - NAME: part: why" for each), a summary on stderr; exit status 0
 * when nothing failed, 1 when something did, 2 for bad usage or a setup failure (OpenSSL would not
 * build a ClientHello). Test code: every wait is bounded (5 s per reply, 30 s for prefix-fin, which
 * also stops after 3 failing offsets, 50 s for the whole run), and it talks only to HOST PORT.
 * Certificates are never verified.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROG "tls_probe"

#define REPLY_WAIT_MS          5000  /* the longest a server may take to answer an attack */
#define OPEN_WAIT_MS           200   /* prefix-open: how long we watch a cut ClientHello without FIN */
#define ALERT_GRACE_MS         200   /* after an alert: how long we still watch for anything else */
#define CONNECT_WAIT_MS        2000  /* a TCP connect */
#define PREFIX_FIN_MS          30000 /* prefix-fin, all offsets */
#define PREFIX_FIN_FAILS       3     /* prefix-fin stops after this many failing offsets */
#define PREFIX_OPEN_CUTS       40    /* prefix-open: offsets tried */
#define RANDOM_CONNS           20    /* random-bytes: connections */
#define RANDOM_BYTES           2048  /* random-bytes: bytes per connection */
#define OTHERS_EVERY_MS        100   /* others-go-on: a new connection this often */
#define OTHERS_MIN             5     /* others-go-on: at least this many, however quick prefix-fin is */
#define BUDGET_MS              50000 /* the whole run (others-go-on's last connection may take 5 s more) */
#define RECORD_MAX             16384 /* TLS plaintext record payload, at most (RFC 8446 5.1) */
#define REPLY_BUF              32768 /* bytes of a reply kept while its records are parsed */
#define HUGE_EXTENSIONS        65535 /* huge-client-hello: the extension block, as large as its length allows */
#define GREASE_EXTENSION       0x1a1a /* RFC 8701: a server must ignore it */
#define EXT_ALPN               16     /* RFC 7301 3.1 */
#define EXT_SUPPORTED_VERSIONS 43     /* RFC 8446 4.2.1: its absence means TLS 1.2 or older */
#define REPLAY_READ_MS         2000   /* replay: how long each copy of the flight is read */

enum { CT_ALERT = 21, CT_HANDSHAKE = 22 };
enum {
    ALERT_HANDSHAKE_FAILURE = 40,
    ALERT_PROTOCOL_VERSION = 70,
    ALERT_UNRECOGNIZED_NAME = 112,
    ALERT_NO_APPLICATION_PROTOCOL = 120,
};

static struct options {
    const char *host, *port, *bad_sni, *sni, *only;
    bool verbose;
} opt;

static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;
static int64_t run_deadline;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    if (!opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- the verdict of the running attack: empty fail text and no skip means it passed --------------- */

static char attack_fail[768];
static char attack_skip[256];
static const char *attack_name; /* the running attack's */
static unsigned attack_parts;   /* lines it printed for its parts itself */
static int passed, failed, skipped;

/* A line of its own for a part of the running attack: passed when why is NULL. */
static void part(const char *what, const char *why)
{
    if (why) {
        printf("not ok - %s: %s: %s\n", attack_name, what, why);
        failed++;
    } else {
        printf("ok - %s: %s\n", attack_name, what);
        passed++;
    }
    fflush(stdout);
    attack_parts++;
}

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
    if (attack_fail[0] == '\0') { /* the first failure is the one worth reading */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(attack_fail, sizeof(attack_fail), fmt, ap);
        va_end(ap);
    }
    return false;
}

/* ---- names ---------------------------------------------------------------------------------------- */

/* Alert descriptions (RFC 8446 6, RFC 6066 for unrecognized_name, RFC 7301 for ALPN's). */
static const char *const alert_names[256] = {
    [0] = "close_notify",
    [10] = "unexpected_message",
    [20] = "bad_record_mac",
    [22] = "record_overflow",
    [40] = "handshake_failure",
    [42] = "bad_certificate",
    [47] = "illegal_parameter",
    [50] = "decode_error",
    [51] = "decrypt_error",
    [70] = "protocol_version",
    [71] = "insufficient_security",
    [80] = "internal_error",
    [86] = "inappropriate_fallback",
    [90] = "user_canceled",
    [109] = "missing_extension",
    [110] = "unsupported_extension",
    [112] = "unrecognized_name",
    [120] = "no_application_protocol",
};

static const char *alert_name(unsigned desc)
{
    return desc < 256 && alert_names[desc] ? alert_names[desc] : "unassigned";
}

/* Record content types (RFC 8446 5.1). */
static const char *const record_names[256] = {
    [20] = "change_cipher_spec",
    [21] = "alert",
    [22] = "handshake",
    [23] = "application_data",
};

/* ---- plain TCP ------------------------------------------------------------------------------------ */

/* A non-blocking socket connected to the server by deadline, or -1 (why says why). */
static int tcp_connect(int64_t deadline, char *why, size_t size)
{
    int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, size, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* each write its own segment(s) */
    int err = 0;
    if (connect(fd, (struct sockaddr *)&server_addr, server_addr_len) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int wait = (int)(deadline - now_ms());
            socklen_t elen = sizeof(err);
            if (wait <= 0 || poll(&pfd, 1, wait) != 1)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
                err = errno;
        }
    }
    if (err != 0) {
        snprintf(why, size, "could not connect to %s port %s: %s", opt.host, opt.port, strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}

/* All of buf by deadline. 0, or the errno that stopped it: ECONNRESET and EPIPE mean the server
 * closed first, which the reply then shows; ETIMEDOUT that it stopped reading. */
static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return errno;
        int wait = (int)(deadline - now_ms());
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (wait <= 0 || poll(&pfd, 1, wait) == 0)
            return ETIMEDOUT;
    }
    return 0;
}

/* ---- the server's reply, record by record -------------------------------------------------------- */

struct reply {
    uint8_t buf[REPLY_BUF]; /* bytes read, not yet parsed as whole records */
    size_t len;
    bool closed, reset;               /* the server closed: FIN (read 0), or reset (ECONNRESET) */
    bool timed_out;                   /* still open at the deadline */
    unsigned alerts;                  /* whole alert records */
    unsigned alert_level, alert_desc; /* the first one's */
    bool other;                       /* a record that is no alert (or bytes that are no record) */
    unsigned other_type, other_hs;    /* its content type; for a handshake record its first message type */
    char other_text[24];              /* its first bytes, printable, when they are no TLS record at all */
    char err[80];                     /* a read error other than a reset */
};

/* Note the bytes at p (n of them) as the first thing that is no alert. */
static void reply_other(struct reply *r, const uint8_t *p, size_t n)
{
    r->other = true;
    r->other_type = p[0];
    r->other_hs = p[0] == CT_HANDSHAKE && n > 5 ? p[5] : 256;
    size_t i = 0;
    for (; i < n && i + 1 < sizeof(r->other_text); i++) /* "HTTP/1.1 400 ...": a plain HTTP answer */
        r->other_text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    r->other_text[i] = '\0';
}

/* Parse the whole records in r->buf; false once something that is no alert came. */
static bool reply_parse(struct reply *r)
{
    size_t off = 0;
    while (r->len - off >= 5 && !r->other) {
        const uint8_t *h = r->buf + off;
        size_t body = (size_t)h[3] << 8 | h[4];
        if (h[0] != CT_ALERT || body > RECORD_MAX + 256) { /* judged on the header: no need to wait */
            reply_other(r, h, r->len - off);
            break;
        }
        if (r->len - off < 5 + body)
            break;
        if (body >= 2 && r->alerts++ == 0) {
            r->alert_level = h[5];
            r->alert_desc = h[6];
        }
        off += 5 + body;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
    return !r->other;
}

/*
 * Read the server's reply until it closes, something that is no alert comes, or deadline; with
 * stop_at_alert, also ALERT_GRACE_MS after the first whole alert (an alert alone answers the
 * attacks that allow "alert or close").
 */
static void read_reply(int fd, int64_t deadline, bool stop_at_alert, struct reply *r)
{
    memset(r, 0, sizeof(*r));
    for (;;) {
        if (stop_at_alert && r->alerts > 0) {
            deadline = min64(deadline, now_ms() + ALERT_GRACE_MS);
            stop_at_alert = false;
        }
        /* Past the deadline still one look without waiting: replies read one after another by a
         * common deadline (random-bytes) have been waiting in our buffer. */
        int64_t wait = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, wait > 0 ? (int)wait : 0);
        if (ready < 0 && errno == EINTR && wait > 0)
            continue;
        if (ready <= 0) {
            r->timed_out = true;
            break;
        }
        ssize_t n = recv(fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
            if (!reply_parse(r))
                break;
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0)
            r->closed = true;
        else if (errno == ECONNRESET)
            r->closed = r->reset = true;
        else {
            r->closed = true;
            snprintf(r->err, sizeof(r->err), "%s", strerror(errno));
        }
        break;
    }
    /* Bytes left at the close that cannot start an alert record are no alert either. */
    if (!r->other && r->len > 0 && r->buf[0] != CT_ALERT)
        reply_other(r, r->buf, r->len);
}

/* "an alert handshake_failure (40), then a reset", for messages. */
static const char *reply_text(const struct reply *r, int waited_ms)
{
    static char buf[300];
    char first[160] = "";
    if (r->other) {
        if (r->other_type == CT_HANDSHAKE && r->other_hs == 2)
            snprintf(first, sizeof(first), "a handshake record (ServerHello)");
        else if (r->other_type == CT_HANDSHAKE && r->other_hs < 256)
            snprintf(first, sizeof(first), "a handshake record (message type %u)", r->other_hs);
        else if (r->other_type < 256 && record_names[r->other_type])
            snprintf(first, sizeof(first), "a %s record", record_names[r->other_type]);
        else
            snprintf(first, sizeof(first), "bytes that are no TLS record: \"%s\"", r->other_text);
        if (r->alerts)
            snprintf(first + strlen(first), sizeof(first) - strlen(first), " after an alert %s (%u)",
                     alert_name(r->alert_desc), r->alert_desc);
    } else if (r->alerts) {
        snprintf(first, sizeof(first), "an alert %s (%u, level %u)", alert_name(r->alert_desc), r->alert_desc,
                 r->alert_level);
    }
    /* How it ended: a close, or still open (not known once something else came: we stopped there). */
    char end[120] = "";
    if (r->closed)
        snprintf(end, sizeof(end), "%s", r->reset ? "a reset" : r->err[0] ? r->err : "the close");
    else if (!r->other)
        snprintf(end, sizeof(end), "the connection still open after %.1f s", waited_ms / 1000.0);
    snprintf(buf, sizeof(buf), "%s%s%s", first[0] ? first : "nothing", end[0] ? ", then " : "", end);
    return buf;
}

/* ---- ClientHellos, built by OpenSSL -------------------------------------------------------------- */

struct hello {
    uint8_t *buf; /* the first flight: one handshake record holding the ClientHello */
    size_t len;
    /* Where the ClientHello's fields are in buf (offsets), as parsed. */
    size_t suites_len_at, ext_len_at, ext_at, ext_len;
    unsigned legacy_version;
    uint16_t suites[64];
    size_t nsuites;
    uint16_t exts[64];
    size_t nexts;
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

/* Find the fields of the ClientHello in h->buf (RFC 8446 4.1.2); false when it is not one whole. */
static bool hello_parse(struct hello *h)
{
    const uint8_t *p = h->buf;
    size_t len = h->len;
    if (len < 9 || p[0] != CT_HANDSHAKE || 5 + (size_t)get16(p + 3) != len || p[5] != 1 ||
        ((size_t)p[6] << 16 | (size_t)p[7] << 8 | p[8]) != len - 9)
        return false;
    size_t off = 9;
    if (off + 2 + 32 + 1 > len)
        return false;
    h->legacy_version = get16(p + off);
    h->nsuites = h->nexts = 0;
    off += 2 + 32;
    off += 1 + p[off]; /* legacy_session_id */
    if (off + 2 > len)
        return false;
    h->suites_len_at = off;
    size_t cs = get16(p + off);
    off += 2;
    if (off + cs > len)
        return false;
    for (size_t i = 0; i + 1 < cs && h->nsuites < 64; i += 2)
        h->suites[h->nsuites++] = get16(p + off + i);
    off += cs;
    if (off + 1 > len)
        return false;
    off += 1 + p[off]; /* legacy_compression_methods */
    if (off + 2 > len)
        return false;
    h->ext_len_at = off;
    h->ext_len = get16(p + off);
    h->ext_at = off + 2;
    if (h->ext_at + h->ext_len != len)
        return false;
    for (size_t e = h->ext_at; e + 4 <= len && h->nexts < 64; e += 4 + get16(p + e + 2))
        h->exts[h->nexts++] = get16(p + e);
    return true;
}

/* Offer exactly these cipher suites instead (record, message and list lengths follow). */
static void hello_set_suites(struct hello *h, const uint16_t *suites, size_t n)
{
    size_t old = get16(h->buf + h->suites_len_at), len = h->len - old + 2 * n;
    uint8_t *p = malloc(len);
    if (!p)
        die("out of memory");
    memcpy(p, h->buf, h->suites_len_at);
    put16(p + h->suites_len_at, 2 * n);
    for (size_t i = 0; i < n; i++)
        put16(p + h->suites_len_at + 2 + 2 * i, suites[i]);
    memcpy(p + h->suites_len_at + 2 + 2 * n, h->buf + h->suites_len_at + 2 + old,
           h->len - h->suites_len_at - 2 - old);
    put16(p + 3, len - 5);
    put24(p + 6, len - 9);
    free(h->buf);
    h->buf = p;
    h->len = len;
    if (!hello_parse(h))
        die("a ClientHello with its cipher suites replaced does not parse");
    note("  its cipher suites replaced: %zu now, %zu bytes", h->nsuites, h->len);
}

static bool hello_has_ext(const struct hello *h, uint16_t type)
{
    for (size_t i = 0; i < h->nexts; i++)
        if (h->exts[i] == type)
            return true;
    return false;
}

/*
 * The first flight of an OpenSSL client configured by the arguments, captured on a memory BIO pair:
 * versions min..max, suites13 (TLS 1.3 suites, NULL: the default), list12 (TLS 1.2 and older, NULL:
 * the default), sni (NULL: none), alpn (the protocol list, in its wire format; NULL: h2 and http/1.1).
 * Dies when OpenSSL will not build it.
 */
static void openssl_die(const char *what) __attribute__((noreturn));
static void openssl_die(const char *what)
{
    char e[160] = "no error given";
    if (ERR_peek_last_error() != 0)
        ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
    die("OpenSSL would not build the %s ClientHello: %s", what, e);
}

static void make_hello(struct hello *h, const char *what, int min, int max, const char *suites13,
                       const char *list12, const char *sni, const char *alpn)
{
    if (!alpn)
        alpn = "\x02h2\x08http/1.1";
    memset(h, 0, sizeof(*h));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    BIO *inner, *net;
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max) ||
        (suites13 && !SSL_CTX_set_ciphersuites(ctx, suites13)) ||
        (list12 && !SSL_CTX_set_cipher_list(ctx, list12)))
        openssl_die(what);
    if (min < TLS1_2_VERSION)
        SSL_CTX_set_security_level(ctx, 0); /* OpenSSL 3 offers TLS 1.0 at level 0 only */
    if (!(ssl = SSL_new(ctx)) || !BIO_new_bio_pair(&inner, 0, &net, 0))
        openssl_die(what);
    SSL_set_bio(ssl, inner, inner); /* ssl owns inner now */
    if ((sni && !SSL_set_tlsext_host_name(ssl, sni)) ||
        SSL_set_alpn_protos(ssl, (const unsigned char *)alpn, (unsigned)strlen(alpn)))
        openssl_die(what);
    SSL_set_connect_state(ssl);
    int ret = SSL_do_handshake(ssl); /* writes the first flight into the pair, then wants the reply */
    if (ret == 1 || SSL_get_error(ssl, ret) != SSL_ERROR_WANT_READ)
        openssl_die(what);
    h->len = BIO_ctrl_pending(net);
    if (h->len == 0 || !(h->buf = malloc(h->len)) || BIO_read(net, h->buf, (int)h->len) != (int)h->len)
        openssl_die(what);
    BIO_free(net);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (!hello_parse(h))
        die("the %s ClientHello OpenSSL built is not one handshake record holding one ClientHello", what);
    note("%s ClientHello: %zu bytes, legacy_version 0x%04x, %zu cipher suites, %zu extensions", what, h->len,
         h->legacy_version, h->nsuites, h->nexts);
}

/* ---- the attacks ---------------------------------------------------------------------------------- */

static struct hello hello13; /* a TLS 1.3 ClientHello, the cuts' source */

/* The offsets prefix-open tries: every one within the record and handshake headers (1..9), then
 * evenly spread over the rest, PREFIX_OPEN_CUTS in all. */
static size_t open_cuts(size_t len, size_t *cuts)
{
    size_t n = 0;
    for (size_t k = 1; k <= 9 && k < len; k++)
        cuts[n++] = k;
    size_t rest = PREFIX_OPEN_CUTS - n;
    for (size_t i = 1; i <= rest && len > 10; i++) {
        size_t k = 9 + (len - 10) * i / rest;
        if (k > cuts[n - 1] && k < len)
            cuts[n++] = k;
    }
    return n;
}

/* One connection that sends bytes, then (fin) our FIN, and reads the reply until deadline. false:
 * no connection (why says why). */
static bool send_and_read(const uint8_t *bytes, size_t len, bool fin, int64_t deadline, bool stop_at_alert,
                          struct reply *r, char *why, size_t why_size)
{
    int fd = tcp_connect(min64(deadline, now_ms() + CONNECT_WAIT_MS), why, why_size);
    if (fd < 0)
        return false;
    int err = send_all(fd, bytes, len, deadline);
    if (fin && err == 0)
        shutdown(fd, SHUT_WR);
    read_reply(fd, deadline, stop_at_alert, r);
    close(fd);
    return true;
}

static void attack_prefix_fin(void)
{
    int64_t deadline = min64(now_ms() + PREFIX_FIN_MS, run_deadline);
    size_t failures = 0, tried = 0;
    char first[400] = "";
    for (size_t k = 1; k < hello13.len && failures < PREFIX_FIN_FAILS; k++) {
        if (now_ms() >= deadline) {
            fail("stopped at offset %zu of %zu: %d s were not enough for every offset%s%s", k,
                 hello13.len - 1, PREFIX_FIN_MS / 1000, first[0] ? "; first failure " : "", first);
            return;
        }
        struct reply r;
        char why[200];
        int64_t t0 = now_ms();
        tried++;
        if (!send_and_read(hello13.buf, k, true, min64(t0 + REPLY_WAIT_MS, deadline), false, &r, why,
                           sizeof(why))) {
            failures++;
            if (!first[0])
                snprintf(first, sizeof(first), "after %zu bytes: %s", k, why);
            continue;
        }
        if (r.other || !r.closed) {
            failures++;
            if (!first[0])
                snprintf(
                    first, sizeof(first),
                    "after %zu bytes and our FIN: expected the close (an alert before it at most), got %s", k,
                    reply_text(&r, (int)(now_ms() - t0)));
        }
    }
    if (failures)
        fail("%zu of the %zu cuts tried failed%s; first %s", failures, tried,
             failures >= PREFIX_FIN_FAILS ? " (stopped there)" : "", first);
    else
        note("prefix-fin: %zu cuts, each closed", tried);
}

static void attack_prefix_open(void)
{
    size_t cuts[PREFIX_OPEN_CUTS + 10];
    size_t n = open_cuts(hello13.len, cuts);
    for (size_t i = 0; i < n; i++) {
        if (now_ms() >= run_deadline) {
            fail("stopped at offset %zu: the run's %d s are spent", cuts[i], BUDGET_MS / 1000);
            return;
        }
        struct reply r;
        char why[200];
        int64_t t0 = now_ms();
        if (!send_and_read(hello13.buf, cuts[i], false, t0 + OPEN_WAIT_MS, false, &r, why, sizeof(why))) {
            fail("after %zu bytes: %s", cuts[i], why);
            return;
        }
        if (r.other) {
            fail("after %zu bytes, no FIN: expected nothing but alerts (or the close) within %d ms, got %s",
                 cuts[i], OPEN_WAIT_MS, reply_text(&r, (int)(now_ms() - t0)));
            return;
        }
    }
    note("prefix-open: %zu cuts, nothing but alerts or the close", n);
}

/* xorshift64*: the same bytes on every run, so a failure can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void attack_random_bytes(void)
{
    int fds[RANDOM_CONNS];
    uint8_t bytes[RANDOM_CONNS][RANDOM_BYTES];
    int64_t deadline = min64(now_ms() + REPLY_WAIT_MS, run_deadline);
    char why[200];
    /* All sent at once, then each reply read by the common deadline: they waited in our buffers. */
    for (int i = 0; i < RANDOM_CONNS; i++) {
        uint64_t seed = 0x5eed0000u + (uint64_t)i;
        for (size_t j = 0; j < RANDOM_BYTES; j += 8) {
            uint64_t v = rng_next(&seed);
            memcpy(bytes[i] + j, &v, 8);
        }
        fds[i] = tcp_connect(min64(deadline, now_ms() + CONNECT_WAIT_MS), why, sizeof(why));
        if (fds[i] < 0)
            fail("connection %d: %s", i, why);
        else
            send_all(fds[i], bytes[i], RANDOM_BYTES, deadline);
    }
    for (int i = 0; i < RANDOM_CONNS; i++) {
        if (fds[i] < 0)
            continue;
        struct reply r;
        read_reply(fds[i], deadline, true, &r);
        close(fds[i]);
        if (r.other || (!r.closed && r.alerts == 0))
            fail("connection %d (bytes %02x %02x %02x %02x %02x ...): expected an alert or the close "
                 "within %d s, got %s",
                 i, bytes[i][0], bytes[i][1], bytes[i][2], bytes[i][3], bytes[i][4], REPLY_WAIT_MS / 1000,
                 reply_text(&r, REPLY_WAIT_MS));
        else
            note("random-bytes %d: %s", i, reply_text(&r, REPLY_WAIT_MS));
    }
}

static void attack_huge_client_hello(void)
{
    /* hello13 with its extension block grown to HUGE_EXTENSIONS by one GREASE extension at its end. */
    size_t fixed = hello13.ext_len_at - 9; /* the ClientHello body up to its extensions' length */
    size_t grease = HUGE_EXTENSIONS - hello13.ext_len - 4;
    size_t msg_len = fixed + 2 + HUGE_EXTENSIONS;
    uint8_t *msg = calloc(1, 4 + msg_len);
    size_t records = (4 + msg_len + RECORD_MAX - 1) / RECORD_MAX;
    uint8_t *wire = malloc(4 + msg_len + 5 * records);
    if (!msg || !wire)
        die("out of memory");
    msg[0] = 1; /* client_hello */
    put24(msg + 1, msg_len);
    memcpy(msg + 4, hello13.buf + 9, fixed);
    put16(msg + 4 + fixed, HUGE_EXTENSIONS);
    memcpy(msg + 4 + fixed + 2, hello13.buf + hello13.ext_at, hello13.ext_len);
    uint8_t *g = msg + 4 + fixed + 2 + hello13.ext_len;
    put16(g, GREASE_EXTENSION);
    put16(g + 2, grease); /* and grease zero bytes (calloc) */
    size_t wlen = 0;
    for (size_t off = 0; off < 4 + msg_len; off += RECORD_MAX) {
        size_t n = 4 + msg_len - off < RECORD_MAX ? 4 + msg_len - off : RECORD_MAX;
        wire[wlen] = CT_HANDSHAKE;
        put16(wire + wlen + 1, 0x0301); /* as OpenSSL's first record */
        put16(wire + wlen + 3, n);
        memcpy(wire + wlen + 5, msg + off, n);
        wlen += 5 + n;
    }
    note("huge-client-hello: a ClientHello of %zu bytes in %zu records (%zu bytes)", msg_len, records, wlen);
    struct reply r;
    char why[200];
    int64_t t0 = now_ms();
    if (!send_and_read(wire, wlen, false, min64(t0 + REPLY_WAIT_MS, run_deadline), true, &r, why,
                       sizeof(why)))
        fail("%s", why);
    else if (r.other || (!r.closed && r.alerts == 0))
        fail("a ClientHello of %zu bytes: expected an alert or the close within %d s, got %s", msg_len,
             REPLY_WAIT_MS / 1000, reply_text(&r, (int)(now_ms() - t0)));
    else
        note("huge-client-hello: %s", reply_text(&r, (int)(now_ms() - t0)));
    free(msg);
    free(wire);
}

/* A whole ClientHello that the server must refuse: alert `want` or the close, nothing else. */
static void expect_refusal(const struct hello *h, unsigned want, const char *what)
{
    struct reply r;
    char why[200];
    int64_t t0 = now_ms();
    if (!send_and_read(h->buf, h->len, false, min64(t0 + REPLY_WAIT_MS, run_deadline), true, &r, why,
                       sizeof(why))) {
        fail("%s", why);
        return;
    }
    const char *got = reply_text(&r, (int)(now_ms() - t0));
    if (r.other || (r.alerts > 0 && r.alert_desc != want) || (!r.closed && r.alerts == 0))
        fail("%s: expected an alert %s (%u) or the close within %d s, got %s", what, alert_name(want), want,
             REPLY_WAIT_MS / 1000, got);
    else
        note("%s: %s", what, got);
}

static void attack_tls10_only(void)
{
    struct hello h;
    make_hello(&h, "TLS 1.0", TLS1_VERSION, TLS1_VERSION, NULL, "DEFAULT:@SECLEVEL=0", opt.sni, NULL);
    if (h.legacy_version != 0x0301 || hello_has_ext(&h, EXT_SUPPORTED_VERSIONS))
        die("OpenSSL's TLS 1.0 ClientHello says 0x%04x%s", h.legacy_version,
            hello_has_ext(&h, EXT_SUPPORTED_VERSIONS) ? " and has supported_versions" : "");
    expect_refusal(&h, ALERT_PROTOCOL_VERSION, "a ClientHello for TLS 1.0 only");
    free(h.buf);
}

static void attack_unknown_cipher(void)
{
    struct hello h;
    make_hello(&h, "CCM_8 only", TLS1_3_VERSION, TLS1_3_VERSION, "TLS_AES_128_CCM_8_SHA256", NULL, opt.sni,
               NULL);
    /* OpenSSL adds the renegotiation SCSV (0x00ff), no cipher suite but a signal: leave it out. */
    static const uint16_t ccm8[] = {0x1305};
    hello_set_suites(&h, ccm8, 1);
    if (h.nsuites != 1 || h.suites[0] != 0x1305 || !hello_has_ext(&h, EXT_SUPPORTED_VERSIONS))
        die("OpenSSL's ClientHello offers %zu suites (first 0x%04x), not TLS_AES_128_CCM_8_SHA256 alone",
            h.nsuites, h.nsuites ? h.suites[0] : 0);
    expect_refusal(&h, ALERT_HANDSHAKE_FAILURE, "a ClientHello offering TLS_AES_128_CCM_8_SHA256 alone");
    free(h.buf);
}

static void attack_bad_sni(void)
{
    if (!opt.bad_sni) {
        snprintf(attack_skip, sizeof(attack_skip), "no --bad-sni NAME given");
        return;
    }
    struct hello h;
    make_hello(&h, "bad SNI", TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL, opt.bad_sni, NULL);
    char what[300];
    snprintf(what, sizeof(what), "a ClientHello naming \"%s\"", opt.bad_sni);
    expect_refusal(&h, ALERT_UNRECOGNIZED_NAME, what);
    free(h.buf);
}

static void attack_alpn_mismatch(void)
{
    struct hello h;
    make_hello(&h, "ALPN foo/1", TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL, opt.sni, "\005foo/1");
    if (!hello_has_ext(&h, EXT_ALPN) || !hello_has_ext(&h, EXT_SUPPORTED_VERSIONS))
        die("OpenSSL's ClientHello offering foo/1 has no ALPN or no supported_versions extension");
    expect_refusal(&h, ALERT_NO_APPLICATION_PROTOCOL, "a ClientHello whose ALPN offers foo/1 alone");
    free(h.buf);
}

/* ---- others-go-on: full TLS connections beside prefix-fin ---------------------------------------- */

static struct others {
    pthread_t thread;
    atomic_bool stop;
    _Atomic int64_t stopped_at; /* when prefix-fin ended: OTHERS_MIN runs may still start for a while */
    SSL_CTX *ctx;
    unsigned runs, failures;
    int64_t slowest_ms;
    char first[400];
} others;

/* A client context for whole connections: ALPN http/1.1, versions from min up; certificates are not
 * verified (test certificates are self-signed). */
static SSL_CTX *client_ctx_new(int min)
{
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, min) || SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)))
        die("cannot set up an OpenSSL client context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* After an OpenSSL call returned ret: wait (by deadline) for what it wants. false: it failed. */
static bool ssl_wait(SSL *ssl, int fd, int ret, int64_t deadline)
{
    int e = SSL_get_error(ssl, ret);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return false;
    int wait = (int)(deadline - now_ms());
    struct pollfd pfd = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
    return wait > 0 && poll(&pfd, 1, wait) == 1;
}

static const char healthz_request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/* One request over a new TLS connection (--sni NAME if given), and what came back. */
struct https_get {
    SSL_CTX *ctx;
    const char *request;
    SSL_SESSION *resume; /* a session to resume; NULL: a full handshake */
    bool early;          /* the request goes as 0-RTT early data (resuming), and must be accepted */
    bool whole;          /* read until the server closes (the request says Connection: close), not
                          * only the status line: every NewSessionTicket before it has been read */
    /* the answer */
    int early_status;     /* SSL_get_early_data_status() once the handshake is done */
    SSL_SESSION *session; /* with whole: the session at the end, of the last ticket; the caller frees it */
};

/* OpenSSL's reason for the failure of a call that returned ret, or what it was waiting for. */
static void ssl_why(SSL *ssl, int ret, const char *what, char *why, size_t size)
{
    int e = SSL_get_error(ssl, ret);
    char text[160] = "";
    if (ERR_peek_last_error() != 0)
        ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
    snprintf(why, size, "%s: %s", what,
             text[0]                                                 ? text
             : e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? "no progress within 5 s"
                                                                     : "the connection closed");
}

/* g->request over a new connection: true when the answer's status line says HTTP/1.1 200 (and, for
 * g->early, the early data was accepted), within 5 s. */
static bool https_get(struct https_get *g, char *why, size_t size)
{
    int64_t deadline = now_ms() + REPLY_WAIT_MS;
    size_t len = strlen(g->request), got_len = 0, n;
    char got[256], rest[4096];
    bool ok = false;
    SSL *ssl = NULL;
    int r;

    g->early_status = SSL_EARLY_DATA_NOT_SENT;
    g->session = NULL;
    int fd = tcp_connect(min64(deadline, now_ms() + CONNECT_WAIT_MS), why, size);
    if (fd < 0)
        return false;
    ssl = SSL_new(g->ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) || (opt.sni && !SSL_set_tlsext_host_name(ssl, opt.sni)) ||
        (g->resume && !SSL_set_session(ssl, g->resume))) {
        snprintf(why, size, "no OpenSSL session");
        goto Exit;
    }
    /* early data: OpenSSL writes the ClientHello and the request at once, then finishes the handshake */
    while (g->early && (r = SSL_write_early_data(ssl, g->request, len, &n)) != 1) {
        if (!ssl_wait(ssl, fd, r, deadline)) {
            ssl_why(ssl, r, "the early data could not be written", why, size);
            goto Exit;
        }
    }
    while ((r = SSL_connect(ssl)) != 1) {
        if (!ssl_wait(ssl, fd, r, deadline)) {
            ssl_why(ssl, r, "the TLS handshake failed", why, size);
            goto Exit;
        }
    }
    g->early_status = SSL_get_early_data_status(ssl);
    if (g->early && g->early_status != SSL_EARLY_DATA_ACCEPTED) {
        snprintf(why, size, "the server %s the early data",
                 g->early_status == SSL_EARLY_DATA_REJECTED ? "rejected" : "did not take");
        goto Exit;
    }
    while (!g->early && (r = SSL_write_ex(ssl, g->request, len, &n)) != 1) {
        if (!ssl_wait(ssl, fd, r, deadline)) {
            snprintf(why, size, "the request could not be written");
            goto Exit;
        }
    }
    /* the status line into got; with whole, the rest (unread) until the close */
    while (g->whole || (got_len < sizeof(got) - 1 && !memchr(got, '\n', got_len))) {
        bool head = got_len < sizeof(got) - 1;
        r = head ? SSL_read_ex(ssl, got + got_len, sizeof(got) - 1 - got_len, &n)
                 : SSL_read_ex(ssl, rest, sizeof(rest), &n);
        if (r == 1)
            got_len += head ? n : 0;
        else if (!ssl_wait(ssl, fd, r, deadline))
            break;
    }
    got[got_len] = '\0';
    ok = strncmp(got, "HTTP/1.1 200", 12) == 0;
    if (!ok) {
        char *eol = strpbrk(got, "\r\n");
        if (eol)
            *eol = '\0';
        snprintf(why, size, "expected an \"HTTP/1.1 200\" status line within 5 s, got \"%.80s\"%s", got,
                 got_len ? "" : " (nothing)");
    }
    if (g->whole)
        g->session = SSL_get1_session(ssl);
    /* our close_notify: freed without one, an SSL marks its session not resumable */
    SSL_shutdown(ssl);
Exit:
    if (ssl)
        SSL_free(ssl);
    ERR_clear_error(); /* this thread's queue: OpenSSL keeps one per thread */
    close(fd);
    return ok;
}

/* One GET /healthz over a new TLS connection: true when its status line says HTTP/1.1 200. */
static bool healthz_once(char *why, size_t size)
{
    struct https_get g = {.ctx = others.ctx, .request = healthz_request};
    return https_get(&g, why, size);
}

static void *others_main(void *arg)
{
    (void)arg;
    int64_t next = now_ms();
    do {
        char why[300];
        int64_t t0 = now_ms();
        bool ok = healthz_once(why, sizeof(why));
        int64_t took = now_ms() - t0;
        others.runs++;
        if (took > others.slowest_ms)
            others.slowest_ms = took;
        if (!ok && others.failures++ == 0)
            snprintf(others.first, sizeof(others.first), "connection %u: %s", others.runs, why);
        next += OTHERS_EVERY_MS;
        int64_t wait = next - now_ms();
        if (wait > 0)
            usleep((useconds_t)wait * 1000);
        /* However quick prefix-fin was, OTHERS_MIN runs; but no more than their time's worth after it. */
    } while ((!atomic_load(&others.stop) ||
              (others.runs < OTHERS_MIN &&
               now_ms() < atomic_load(&others.stopped_at) + OTHERS_MIN * OTHERS_EVERY_MS)) &&
             now_ms() < run_deadline);
    return NULL;
}

static void others_start(void)
{
    others.ctx = client_ctx_new(TLS1_2_VERSION);
    atomic_store(&others.stop, false);
    if (pthread_create(&others.thread, NULL, others_main, NULL) != 0)
        die("pthread_create failed");
}

/* Stop the thread and judge what it saw. */
static void others_verdict(void)
{
    atomic_store(&others.stopped_at, now_ms());
    atomic_store(&others.stop, true);
    pthread_join(others.thread, NULL);
    SSL_CTX_free(others.ctx);
    if (others.failures)
        fail("%u of %u connections beside prefix-fin failed; first %s", others.failures, others.runs,
             others.first);
    else
        note("others-go-on: %u connections, the slowest %lld ms", others.runs, (long long)others.slowest_ms);
}

/* ---- replay: one 0-RTT flight sent twice ------------------------------------------------------- */

/*
 * The first flight of a connection resuming sess with request as 0-RTT early data: the ClientHello
 * and the early data records, as OpenSSL writes them into a memory BIO pair that never gets an
 * answer. Its length in *len; NULL when OpenSSL would not write it (why says why). The SSL resumes a
 * copy of sess: freed in the middle of its handshake, an SSL marks its session not resumable.
 */
static uint8_t *capture_early_flight(SSL_CTX *ctx, SSL_SESSION *sess, const char *request, size_t *len,
                                     char *why, size_t size)
{
    SSL *ssl = SSL_new(ctx);
    SSL_SESSION *copy = SSL_SESSION_dup(sess);
    BIO *inner = NULL, *net = NULL;
    uint8_t *flight = NULL;
    size_t n = 0;

    if (!ssl || !copy || !BIO_new_bio_pair(&inner, 0, &net, 0)) {
        snprintf(why, size, "no OpenSSL session or BIO pair");
        goto Exit;
    }
    SSL_set_bio(ssl, inner, inner); /* ssl owns inner now */
    if ((opt.sni && !SSL_set_tlsext_host_name(ssl, opt.sni)) || !SSL_set_session(ssl, copy)) {
        snprintf(why, size, "OpenSSL would not take the session or the server name");
        goto Exit;
    }
    SSL_set_connect_state(ssl);
    if (SSL_write_early_data(ssl, request, strlen(request), &n) != 1 || n != strlen(request)) {
        char text[160] = "no error given";
        if (ERR_peek_last_error() != 0)
            ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
        snprintf(why, size, "OpenSSL would not write the early data: %s", text);
        goto Exit;
    }
    *len = BIO_ctrl_pending(net);
    if (*len == 0 || !(flight = malloc(*len)) || BIO_read(net, flight, (int)*len) != (int)*len) {
        snprintf(why, size, "no first flight to capture (%zu bytes)", *len);
        free(flight);
        flight = NULL;
    }
Exit:
    BIO_free(net);
    SSL_free(ssl);
    SSL_SESSION_free(copy);
    ERR_clear_error();
    return flight;
}

/* What one copy of the flight got back within REPLAY_READ_MS. */
struct copy_answer {
    size_t bytes;
    uint8_t head[6]; /* the first record's header and the first byte of its body */
    bool closed;
};

/* The flight on a new connection, read for REPLAY_READ_MS or until the server closes, then closed.
 * false: no connection, or the flight could not be sent (why says why). */
static bool send_flight(const uint8_t *flight, size_t len, struct copy_answer *a, char *why, size_t size)
{
    int64_t deadline = now_ms() + REPLAY_READ_MS;
    uint8_t buf[4096];
    int err, fd = tcp_connect(now_ms() + CONNECT_WAIT_MS, why, size);

    memset(a, 0, sizeof(*a));
    if (fd < 0)
        return false;
    if ((err = send_all(fd, flight, len, deadline)) != 0) {
        snprintf(why, size, "the flight could not be sent: %s", strerror(err));
        close(fd);
        return false;
    }
    for (;;) {
        int64_t wait = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, wait > 0 ? (int)wait : 0);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            a->closed = true;
            break;
        }
        for (size_t i = 0; i < (size_t)n && a->bytes + i < sizeof(a->head); i++)
            a->head[a->bytes + i] = buf[i];
        a->bytes += (size_t)n;
    }
    close(fd);
    return true;
}

static bool copy_has_server_hello(const struct copy_answer *a)
{
    return a->bytes >= sizeof(a->head) && a->head[0] == CT_HANDSHAKE && a->head[5] == 2;
}

/* "a ServerHello (260 bytes in all), then the connection still open", for messages. */
static const char *copy_text(const struct copy_answer *a)
{
    static char buf[160];
    const char *first = copy_has_server_hello(a)   ? "a ServerHello"
                        : a->bytes == 0            ? "nothing"
                        : a->head[0] == CT_ALERT   ? "an alert"
                        : record_names[a->head[0]] ? record_names[a->head[0]]
                                                   : "bytes that are no TLS record";
    snprintf(buf, sizeof(buf), "%s (%zu bytes in all), then %s", first, a->bytes,
             a->closed ? "the close" : "the connection still open");
    return buf;
}

static void attack_replay(void)
{
    static const char replay_request[] =
        "GET /healthz?replay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    SSL_CTX *ctx = client_ctx_new(TLS1_3_VERSION);
    struct https_get first = {.ctx = ctx, .request = healthz_request, .whole = true};
    struct https_get fresh = {.ctx = ctx, .request = healthz_request, .early = true, .whole = true};
    struct copy_answer copies[2];
    uint8_t *flight = NULL;
    size_t flight_len = 0;
    bool sent = true;
    char why[400];

    /* a session whose ticket allows early data */
    if (!https_get(&first, why, sizeof(why))) {
        fail("a first TLS 1.3 connection for a session: %s", why);
        goto Exit;
    }
    if (!first.session || !SSL_SESSION_is_resumable(first.session)) {
        fail("a first TLS 1.3 connection for a session: the server sent no ticket");
        goto Exit;
    }
    if (SSL_SESSION_get_max_early_data(first.session) == 0) {
        fail("the server offers no early data");
        goto Exit;
    }
    note("replay: a session whose ticket allows %u bytes of early data",
         SSL_SESSION_get_max_early_data(first.session));

    /* one flight, captured, sent twice */
    flight = capture_early_flight(ctx, first.session, replay_request, &flight_len, why, sizeof(why));
    if (!flight) {
        fail("%s", why);
        goto Exit;
    }
    note("replay: a first flight of %zu bytes (ClientHello and early data)", flight_len);
    for (int i = 0; i < 2 && sent; i++) {
        if (!(sent = send_flight(flight, flight_len, &copies[i], why, sizeof(why))))
            break;
        note("replay: copy %d got %s", i + 1, copy_text(&copies[i]));
    }
    if (!sent) {
        part("sent one 0-RTT flight twice", why);
    } else if (!copy_has_server_hello(&copies[0]) || !copy_has_server_hello(&copies[1])) {
        char text[300];
        snprintf(text, sizeof(text), "expected a ServerHello to each copy; the first got %s",
                 copy_text(&copies[0]));
        snprintf(text + strlen(text), sizeof(text) - strlen(text), ", the second %s", copy_text(&copies[1]));
        part("sent one 0-RTT flight twice", text);
    } else {
        part("sent one 0-RTT flight twice", NULL);
    }

    /* a genuine 0-RTT connection with the same session: a ClientHello of its own */
    fresh.resume = first.session;
    part("a fresh 0-RTT connection with the same ticket is still accepted",
         https_get(&fresh, why, sizeof(why)) ? NULL : why);
    SSL_SESSION_free(fresh.session);
Exit:
    free(flight);
    SSL_SESSION_free(first.session);
    SSL_CTX_free(ctx);
}

/* ---- main ----------------------------------------------------------------------------------------- */

struct attack {
    const char *name;
    void (*run)(void);
    bool on_request; /* run only when --only names it */
};

static const struct attack attacks[] = {
    {"prefix-fin", attack_prefix_fin, false},
    {"others-go-on", others_verdict, false}, /* started before prefix-fin, judged after it */
    {"prefix-open", attack_prefix_open, false},
    {"random-bytes", attack_random_bytes, false},
    {"huge-client-hello", attack_huge_client_hello, false},
    {"tls10-only", attack_tls10_only, false},
    {"unknown-cipher", attack_unknown_cipher, false},
    {"bad-sni", attack_bad_sni, false},
    {"alpn-mismatch", attack_alpn_mismatch, false},
    {"replay", attack_replay, true},
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " HOST PORT [--bad-sni NAME] [--sni NAME] [--only NAME] [--verbose]\n"
               "attacks:");
    for (size_t i = 0; i < NATTACKS; i++)
        fprintf(f, " %s%s", attacks[i].name, attacks[i].on_request ? " (only when --only names it)" : "");
    fputc('\n', f);
}

static bool selected(const char *name)
{
    if (!opt.only) {
        for (size_t i = 0; i < NATTACKS; i++)
            if (!strcmp(attacks[i].name, name))
                return !attacks[i].on_request;
        return false;
    }
    /* others-go-on runs beside prefix-fin: either name selects both */
    bool pair = !strcmp(name, "prefix-fin") || !strcmp(name, "others-go-on");
    bool only_pair = !strcmp(opt.only, "prefix-fin") || !strcmp(opt.only, "others-go-on");
    return !strcmp(opt.only, name) || (pair && only_pair);
}

static void parse_options(int argc, char **argv)
{
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bad-sni") && v)
            opt.bad_sni = argv[++i];
        else if (!strcmp(a, "--sni") && v)
            opt.sni = argv[++i];
        else if (!strcmp(a, "--only") && v)
            opt.only = argv[++i];
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v"))
            opt.verbose = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (a[0] != '-' && positional < 2)
            *(positional++ == 0 ? &opt.host : &opt.port) = a;
        else {
            fprintf(stderr, PROG ": bad option or missing value: %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (positional != 2) {
        usage(stderr);
        exit(2);
    }
    bool known = !opt.only;
    for (size_t i = 0; i < NATTACKS && !known; i++)
        known = !strcmp(opt.only, attacks[i].name);
    if (!known) {
        fprintf(stderr, PROG ": --only: no attack named %s\n", opt.only);
        usage(stderr);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN); /* OpenSSL writes with write(2): a closed connection must fail, not kill */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
    if (rc != 0)
        die("cannot resolve %s port %s: %s", opt.host, opt.port, gai_strerror(rc));
    memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
    server_addr_len = res->ai_addrlen;
    freeaddrinfo(res);

    int64_t start = now_ms();
    run_deadline = start + BUDGET_MS;
    make_hello(&hello13, "TLS 1.3", TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL, opt.sni, NULL);
    if (selected("prefix-fin"))
        others_start();
    for (size_t i = 0; i < NATTACKS; i++) {
        if (!selected(attacks[i].name))
            continue;
        attack_fail[0] = attack_skip[0] = '\0';
        attack_name = attacks[i].name;
        attack_parts = 0;
        /* others-go-on is judged even when the time ran out: its thread must be joined */
        if (now_ms() >= run_deadline && attacks[i].run != others_verdict)
            fail("not run: the run's %d s are spent", BUDGET_MS / 1000);
        else
            attacks[i].run();
        if (attack_fail[0]) {
            printf("not ok - %s: %s\n", attacks[i].name, attack_fail);
            failed++;
        } else if (attack_skip[0]) {
            printf("skip - %s: %s\n", attacks[i].name, attack_skip);
            skipped++;
        } else if (attack_parts == 0) { /* an attack of parts has printed its lines */
            printf("ok - %s\n", attacks[i].name);
            passed++;
        }
        fflush(stdout);
    }
    free(hello13.buf);
    fprintf(stderr, PROG ": %d passed, %d failed, %d skipped against %s port %s in %.1f s\n", passed, failed,
            skipped, opt.host, opt.port, (now_ms() - start) / 1000.0);
    return failed ? 1 : 0;
}
