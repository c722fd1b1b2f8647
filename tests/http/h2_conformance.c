/*
 * h2_conformance.c — an HTTP/2 conformance suite of our own: a client that speaks raw frames to a
 * server under test (cleartext with prior knowledge, or TLS with ALPN h2) and checks, one case per
 * rule, that it answers as RFC 9113 (HTTP/2) and RFC 7541 (HPACK) require.
 *
 *   h2_conformance --host ADDR --port PORT [--timeout SEC] [--only SUBSTRING] [--list] [--verbose]
 *                  [--path /healthz] [--echo-path /echo] [--bytes-path-prefix /bytes/]
 *                  [--authority HOST:PORT] [--echo-mode echo|any]
 *                  [--defences] [--flood-sources ADDR[,ADDR...]] [--tls [--sni NAME]]
 *
 * --tls runs every case over its own TLS 1.3 connection that negotiated ALPN h2 (certificate not
 * verified: test servers use self-signed ones; --sni NAME sends that server name, none by default;
 * requests then carry :scheme https). A case's "the connection closes" is met by a TLS close_notify,
 * a bare TCP FIN, a fatal TLS alert or a reset alike, as in cleartext by a FIN or a reset. One case
 * runs only over TLS: 3.4/alpn-h2-http1-request, an HTTP/1.1 request where ALPN said h2 (an invalid
 * preface: 3.4 connection error, the close, a GOAWAY PROTOCOL_ERROR optional, no HTTP/1.1 reply).
 *
 * It judges sluice's HTTP/2 server (tests/http/conformance.sh runs it against sluice-server) and was
 * calibrated against nghttpd and h2o (tests/http/h2_reference.sh). Coverage follows h2spec's 146
 * cases, renumbered to RFC 9113 (3.4 preface, 4.x frames, 5.x streams and errors, 6.x frame types,
 * 8.x HTTP semantics) plus RFC 7541 (named hpack-SECTION), and adds edge cases h2spec does not have.
 * Cases are named SECTION/NUMBER (numbered in the table's order within a section, the identifiers the
 * reference results below use) or, for those added since, SECTION/NAME.
 *
 * Every frame is built by hand: a 9-byte header and a payload written byte by byte, field blocks
 * from literal representations (and a few Huffman strings, RFC 7541 Appendix B) encoded here. Only
 * responses are decoded with libnghttp2's HPACK inflater, never with its session, so that the
 * client can send anything. The frame layer (connection, frames, field blocks, reading) is
 * tests/http/h2_wire.c, shared with tests/http/h2_flood.c; the cases and their verdicts are here.
 * Each case runs on a fresh connection; every wait is bounded by --timeout (default 2 s) so the
 * suite never hangs.
 *
 * Output: one TAP line per case, "ok - NAME", "not ok - NAME: expected X, got Y" or "skip - NAME:
 * why"; a summary on stderr; exit status 0 only when no case failed. A connection error passes as a
 * GOAWAY with an allowed code followed by the close, or as a bare close where h2spec also accepts
 * that; a stream error as a RST_STREAM with an allowed code, or as such a connection error (RFC 9113
 * 5.4 lets an endpoint treat any stream error as a connection error). The RFC is the judge: where it
 * names one error code, one is accepted, even where h2spec accepts two.
 *
 * The server under test serves GET --path (200, a short body), POST --echo-path (200, echoing the
 * request body) and GET --bytes-path-prefix N (200, exactly N bytes; this suite asks for N = 100 and
 * 100000). --echo-mode any accepts any complete response to the echo path, for reference servers
 * without an echo handler.
 *
 * Stricter than h2spec where the RFC names one outcome: SETTINGS of a length not a multiple of 6,
 * RST_STREAM of a wrong length, PING of a wrong length on stream 0: FRAME_SIZE_ERROR only, as
 * connection errors; window overflows (6.9.1): the GOAWAY or RST_STREAM the RFC names, not a bare
 * close; a GOAWAY for an error must be followed by the close (5.4.1). Two codes are accepted where
 * two rules apply: CONTINUATION on a closed or half-closed stream (STREAM_CLOSED, or PROTOCOL_ERROR
 * for a CONTINUATION without HEADERS), HEADERS on a stream closed both ways (STREAM_CLOSED, or
 * PROTOCOL_ERROR for a reused identifier), padded frames with no room for the Pad Length
 * (FRAME_SIZE_ERROR for a missing mandatory field, or PROTOCOL_ERROR for padding >= payload).
 *
 * Request trailers (8.1: a field section after the content, in a HEADERS with END_STREAM), beyond
 * 8.1/4-5 and 8.3/3: 8.1/trailers-without-data (no DATA between the two field blocks: an echo of
 * nothing), -continuation (trailers in HEADERS + CONTINUATION, then a request on the connection),
 * -several-data, -content-length (4 octets as announced, then trailers: echo), -short-body
 * (content-length 10, 4 octets, trailers: 8.1.1 stream error PROTOCOL_ERROR), -get (GET whose
 * END_STREAM comes with trailers: response), -uppercase and -connection (8.2, 8.2.2 hold in trailers:
 * PROTOCOL_ERROR), -then-data (DATA after the trailers' END_STREAM: 5.1 STREAM_CLOSED).
 *
 * Defences (--defences; default off, so that the reference servers keep the results below). Not RFC
 * requirements: the limits sluice's native HTTP/2 codec keeps against floods, at their defaults
 * (README.md's [http] table), which the server under test must be running with. Each case stays just
 * within a limit (a PING answered shows the connection went on) and then passes it, sending what
 * exceeds it in one write; a flood is GOAWAY ENHANCE_YOUR_CALM followed by the close:
 *   defence/rapid-reset           200 POSTs cancelled (RST_STREAM CANCEL) before their body, 50 to a
 *                                 write: PING answered; the 201st: GOAWAY (rapid_reset_budget, 10 s)
 *   defence/rapid-reset-one-write 201 cancelled POSTs in one write: GOAWAY, and no REFUSED_STREAM, as
 *                                 each stream is closed before the next opens (5.1, 5.1.2)
 *   defence/rapid-reset-net       125 rounds of 2 cancelled POSTs and a GET answered whole: 250 cancels
 *                                 but 125 net of completed streams, no GOAWAY
 *   defence/continuation-frames   a field block in HEADERS + 31 CONTINUATION: response; one in 33
 *                                 frames: GOAWAY (max_continuations: 32 frames per block)
 *   defence/continuation-bytes    a field block past 64 KiB in HEADERS + 5 CONTINUATION, never ended:
 *                                 GOAWAY (what the server joins is bounded by max_header_list_size)
 *   defence/empty-data            16 empty DATA without END_STREAM: PING answered; 17: GOAWAY
 *                                 (max_empty_frames)
 *   defence/empty-fragments       empty HEADERS + 15 empty CONTINUATION, then the block: response;
 *                                 empty HEADERS + 16 empty CONTINUATION: GOAWAY
 *   defence/priority              100 PRIORITY: PING answered; a request, 100 more: answered; the 201st:
 *                                 GOAWAY (max_priority_frames, as many again per stream opened)
 *   defence/window-update         100 WINDOW_UPDATE with no DATA sent to us: PING answered; the 101st:
 *                                 GOAWAY (max_window_update_frames, 10 more per DATA frame sent)
 *   defence/concurrency-refused   SETTINGS_MAX_CONCURRENT_STREAMS + 10 POSTs without their bodies:
 *                                 RST_STREAM REFUSED_STREAM on the last 10 and no GOAWAY; the bodies
 *                                 sent, the others echoed; a new request answered
 *   defence/large-block           a 20 KB field block (within max_header_list_size) in HEADERS +
 *                                 CONTINUATION: answered (431 at most), the connection goes on
 *   defence/hpack-bomb-431        a 4000-octet value indexed, then a block of enough 1-octet references
 *                                 to it to pass SETTINGS_MAX_HEADER_LIST_SIZE: :status 431; a request
 *                                 using the entry once: 200 (the connection and its table go on)
 *   defence/goaway-last-stream    the 201st cancelled stream and 5 GETs after it in one write: the
 *                                 GOAWAY's last stream is below the GETs, none of them answered
 * The 10 cases a flood may end (all but concurrency-refused and hpack-bomb-431; rapid-reset-net only
 * when it fails) connect from the addresses --flood-sources names, one per case in turn: sluice refuses
 * the connections of an address ended for floods flood_source_strikes (4) times in 60 s, which would
 * fail the cases after. Give each its own address (on loopback any 127.0.0.0/8 address will do);
 * without the option they connect from the system's choice.
 *
 * Reference results (tests/http/h2_reference.sh: loopback, --timeout 2, stable over repeated runs).
 * The RFC stays the judge, so each reference fails the cases where it deviates:
 *
 *   nghttpd 1.52.0 (--no-tls --echo-upload): 219 passed, 4 failed, 1 skipped
 *     4.2/6     takes a CONTINUATION larger than SETTINGS_MAX_FRAME_SIZE and answers the request
 *               (nghttp2 does not check a CONTINUATION's size); 4.2: FRAME_SIZE_ERROR.
 *     5.1.1/2   ignores HEADERS on a stream identifier lower than the last one (nghttp2 does so by
 *               design, not to punish races it cannot tell apart); 5.1.1: connection error
 *               PROTOCOL_ERROR.
 *     5.1.1/5   ignores DATA on a stream a higher one implicitly closed; 6.1: stream error
 *               STREAM_CLOSED for DATA on a stream neither open nor half-closed (local).
 *     6.9.2/3   answers a SETTINGS_INITIAL_WINDOW_SIZE change that takes a stream window past
 *               2^31-1 with RST_STREAM FLOW_CONTROL_ERROR; 6.9.2: a connection error.
 *     (5.4.2/1 skipped: nghttpd makes WINDOW_UPDATE 0 on a stream a connection error, as allowed.)
 *   h2o 2.2.5 (mruby handlers for the three routes): 206 passed, 18 failed
 *     3.4/3     answers a PING sent in place of the preface's SETTINGS; 3.4: PROTOCOL_ERROR.
 *     5.1.1/2   GOAWAY STREAM_CLOSED for a lower stream identifier; 5.1.1: PROTOCOL_ERROR.
 *     6.2/8     PROTOCOL_ERROR for HEADERS too short for its priority fields; 4.2: FRAME_SIZE_ERROR.
 *     6.5.2/7   after SETTINGS_HEADER_TABLE_SIZE 0 its next field block does not start with the
 *               dynamic table size update RFC 7541 4.2 requires (our inflater rejects it).
 *     6.9.2/3   misses the SETTINGS_INITIAL_WINDOW_SIZE change that overflows a stream window.
 *     8.1.1/4   answers a GET with content-length 10 and no DATA with 200.
 *     8.2.1/1-5 answers field names with a space or colon and values with NUL, LF or CR with a 400
 *               and no RST_STREAM (8.1.1: malformed is a stream error; the response is optional).
 *     8.2.1/6-7 accepts field values with leading or trailing whitespace (200).
 *     8.2.2/2-3 accepts keep-alive and proxy-connection (RFC 9113 names them; RFC 7540 did not).
 *     8.3.1/1   answers an empty :path with 404.
 *     8.5/1     answers CONNECT with :scheme and :path with 404.
 *     hpack-4.2/3 accepts a dynamic table size update after the first field of a block.
 *
 *   Over --tls (nghttpd with a self-signed certificate; h2o with listen: ssl:) each fails the same
 *   cases as in cleartext; h2o also fails 3.4/alpn-h2-http1-request: it waits for all 24 octets of
 *   the preface before comparing them, so the 18-octet HTTP/1.1 request leaves it waiting.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/http/h2_wire.h"

#define PROG "h2_conformance"

#define DUMMY_VALUE_LEN   4000 /* h2spec's MaxHeaderLen: the size of one x-dummy value */
#define FLOOD_SOURCES_MAX 64   /* addresses --flood-sources may name */

static struct options {
    const char *host;
    const char *port;
    int timeout_ms;
    const char *path;
    const char *echo_path;
    const char *bytes_prefix;
    const char *authority;
    bool echo_any; /* --echo-mode any: any complete response to the echo path passes */
    bool defences; /* --defences: run the defence cases too */
    bool tls;      /* --tls: every connection TLS 1.3 with ALPN h2 (--sni: the server name sent) */
    const char *sni;
    bool verbose;
    bool list;
    const char *only;
    char *flood_sources[FLOOD_SOURCES_MAX]; /* --flood-sources: local addresses, one per flood case in turn */
    size_t nflood_sources, next_flood_source;
} opt = {
    .host = "127.0.0.1",
    .port = NULL,
    .timeout_ms = 2000,
    .path = "/healthz",
    .echo_path = "/echo",
    .bytes_prefix = "/bytes/",
};

/* ------------------------------------------------------------------------------------------------ */
/* The verdict of the running case: empty fail text and no skip means it passed.                  */

static char case_fail[1024];
static char case_skip[256];

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
    if (case_fail[0] == '\0') { /* the first failure is the one worth reading */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(case_fail, sizeof(case_fail), fmt, ap);
        va_end(ap);
    }
    return false;
}

/* More about a failure already reported (where in a long case it came), appended to it. */
static void fail_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_context(const char *fmt, ...)
{
    size_t n = strlen(case_fail);
    if (n == 0 || n + 1 >= sizeof(case_fail))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_fail + n, sizeof(case_fail) - n, fmt, ap);
    va_end(ap);
}

static void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_skip, sizeof(case_skip), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------------ */
/* Field blocks beyond h2_wire's literals: h2spec's dummy fields, Huffman strings.                 */

/* n headers x-dummyI with DUMMY_VALUE_LEN-byte values, as h2spec's DummyHeaders. */
static void hb_dummies(struct hblock *b, int n)
{
    static char value[DUMMY_VALUE_LEN];
    memset(value, 'x', sizeof(value));
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-dummy%d", i);
        hb_field_n(b, name, strlen(name), value, sizeof(value));
    }
}

/*
 * Huffman coding (RFC 7541 5.2, codes from Appendix B) for the few characters the cases need, and
 * a bit writer that can also emit what a correct encoder never does (EOS, zero padding).
 */
static const struct {
    char ch;
    uint8_t bits;
    uint32_t code;
} huffman_codes[] = {
    {' ', 6, 0x14}, {'-', 6, 0x16}, {'.', 6, 0x17}, {'/', 6, 0x18}, {'0', 5, 0x0},  {'1', 5, 0x1},
    {'2', 5, 0x2},  {'3', 6, 0x19}, {'4', 6, 0x1a}, {'5', 6, 0x1b}, {'6', 6, 0x1c}, {'7', 6, 0x1d},
    {'8', 6, 0x1e}, {'9', 6, 0x1f}, {':', 7, 0x5c}, {'a', 5, 0x3},  {'b', 6, 0x23}, {'c', 5, 0x4},
    {'d', 6, 0x24}, {'e', 5, 0x5},  {'f', 6, 0x25}, {'g', 6, 0x26}, {'h', 6, 0x27}, {'i', 5, 0x6},
    {'j', 7, 0x74}, {'k', 7, 0x75}, {'l', 6, 0x28}, {'m', 6, 0x29}, {'n', 6, 0x2a}, {'o', 5, 0x7},
    {'p', 6, 0x2b}, {'q', 7, 0x76}, {'r', 6, 0x2c}, {'s', 5, 0x8},  {'t', 5, 0x9},  {'u', 6, 0x2d},
    {'v', 7, 0x77}, {'w', 7, 0x78}, {'x', 7, 0x79}, {'y', 7, 0x7a}, {'z', 7, 0x7b},
};
#define HUFFMAN_EOS      0x3fffffffu
#define HUFFMAN_EOS_BITS 30

struct bitw {
    uint8_t buf[256];
    size_t nbits;
};

static void bits_put(struct bitw *w, uint32_t code, unsigned nbits)
{
    for (unsigned i = nbits; i-- > 0 && w->nbits < 8 * sizeof(w->buf); w->nbits++) {
        uint8_t mask = (uint8_t)(0x80 >> (w->nbits % 8));
        if ((code >> i) & 1)
            w->buf[w->nbits / 8] |= mask;
        else
            w->buf[w->nbits / 8] &= (uint8_t)~mask;
    }
}

static void huffman_put(struct bitw *w, const char *s)
{
    for (; *s; s++) {
        size_t i = 0;
        while (i < sizeof(huffman_codes) / sizeof(huffman_codes[0]) && huffman_codes[i].ch != *s)
            i++;
        if (i == sizeof(huffman_codes) / sizeof(huffman_codes[0])) {
            fprintf(stderr, PROG ": no Huffman code here for '%c'\n", *s);
            exit(2);
        }
        bits_put(w, huffman_codes[i].code, huffman_codes[i].bits);
    }
}

/* Pad to a whole byte with pad_bit (1: the EOS prefix, as RFC 7541 requires); returns the bytes. */
static size_t bits_finish(struct bitw *w, unsigned pad_bit)
{
    while (w->nbits % 8)
        bits_put(w, pad_bit, 1);
    return w->nbits / 8;
}

/* A Huffman-coded string literal (H bit set) holding w's bytes. */
static void hb_huffman_bits(struct hblock *b, struct bitw *w, unsigned pad_bit)
{
    size_t n = bits_finish(w, pad_bit);
    hb_int(b, 0x80, 7, n);
    hb_raw(b, w->buf, n);
}

static void hb_huffman(struct hblock *b, const char *s)
{
    struct bitw w = {.nbits = 0};
    huffman_put(&w, s);
    hb_huffman_bits(b, &w, 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* Waiting.                                                                                       */

static int64_t deadline_after_timeout(void)
{
    return now_ms() + opt.timeout_ms;
}

/* ------------------------------------------------------------------------------------------------ */
/* Connections.                                                                                   */

/* source: the local address to connect from (NULL: the system's choice). */
static bool conn_open(struct h2c *c, const char *source)
{
    char err[300];
    if (!h2c_open_from(c, opt.host, opt.port, source, 0, err, sizeof(err)))
        return fail("%s", err);
    return true;
}

/* Wait for the server's SETTINGS and the ACK of ours: the state every case but the preface ones starts from.
 */
static bool await_handshake(struct h2c *c)
{
    enum ev ev = wait_handshake(c, deadline_after_timeout());
    if (ev != EV_FRAME)
        /* A server that counts floods per client address refuses one that flooded too often: say so,
         * since the case itself then never ran. */
        return fail("expected the server's SETTINGS and the ACK of ours, got %s%s", got(c, ev),
                    c->got_goaway && c->goaway_code == ENHANCE_YOUR_CALM
                        ? " (this client address flooded too often for the server? see --flood-sources)"
                        : "");
    return true;
}

static bool handshake(struct h2c *c)
{
    send_raw(c, PREFACE, PREFACE_LEN);
    /* No push, and the default window said out loud, as h2spec does. */
    send_settings(c, 2, S_ENABLE_PUSH, 0u, S_INITIAL_WINDOW_SIZE, (uint32_t)DEFAULT_WINDOW);
    return await_handshake(c);
}

/* ------------------------------------------------------------------------------------------------ */
/* Requests.                                                                                      */

static const char *bytes_path(unsigned n)
{
    static char buf[4][256];
    static unsigned next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "%s%u", opt.bytes_prefix, n);
    return b;
}

/* GET path, one HEADERS with END_STREAM and END_HEADERS. */
static void send_get(struct h2c *c, uint32_t stream, const char *path)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", path);
    send_headers(c, stream, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
}

/* POST to the echo path; the body follows in DATA frames unless end_stream. */
static void send_post(struct h2c *c, uint32_t stream, bool end_stream)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    send_headers(c, stream, FLAG_END_HEADERS | (end_stream ? FLAG_END_STREAM : 0), &b);
}

/* A field block of the common request plus one more field, in one HEADERS with END_STREAM. */
static void send_get_with(struct h2c *c, uint32_t stream, const char *name, const char *value)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_field(&b, name, value);
    send_headers(c, stream, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
}

/* ------------------------------------------------------------------------------------------------ */
/* Expectations: each waits (bounded) for what the RFC requires and returns false after fail().    */

#define ALLOW_CLOSE  1u /* a close without GOAWAY passes */
#define ALLOW_GOAWAY 2u /* a connection error: GOAWAY with an accepted code, then the close */
#define ALLOW_RST    4u /* a stream error: RST_STREAM with an accepted code on the stream */

static const char *wanted_error(uint32_t stream, uint32_t codes, unsigned allow)
{
    static char buf[512];
    char rst[200] = "", goaway[200] = "";
    if (allow & ALLOW_RST)
        snprintf(rst, sizeof(rst), "RST_STREAM %s on stream %u", codes_text(codes), stream);
    if (allow & ALLOW_GOAWAY)
        snprintf(goaway, sizeof(goaway), "GOAWAY %s and close", codes_text(codes));
    snprintf(buf, sizeof(buf), "%s%s%s%s", rst, rst[0] && goaway[0] ? " or " : "", goaway,
             allow & ALLOW_CLOSE ? " (or a close)" : "");
    return buf;
}

/* After a GOAWAY for an error the server MUST close the connection (RFC 9113 5.4.1). */
static bool expect_close_after_goaway(struct h2c *c)
{
    int64_t deadline = deadline_after_timeout();
    char goaway[64];
    snprintf(goaway, sizeof(goaway), "GOAWAY %s", error_name(c->goaway_code));
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_CLOSED)
            return true;
        if (ev == EV_TIMEOUT)
            return fail("expected the connection to close after %s, got it still open after %.1f s", goaway,
                        opt.timeout_ms / 1000.0);
        if (ev == EV_BAD)
            return fail("expected the connection to close after %s, got %s", goaway, got(c, ev));
    }
}

static bool expect_error(struct h2c *c, uint32_t stream, uint32_t codes, unsigned allow)
{
    int64_t deadline = deadline_after_timeout();
    const char *want = wanted_error(stream, codes, allow);
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_CLOSED) {
            if (allow & ALLOW_CLOSE)
                return true;
            return fail("expected %s, got %s", want, got(c, ev));
        }
        if (ev == EV_TIMEOUT) {
            struct stream_rec *s = stream ? stream_get(c, stream) : NULL;
            if (s && s->status)
                return fail("expected %s, got a :status %d response%s and no error within %.1f s", want,
                            s->status, s->ended ? "" : " (unfinished)", opt.timeout_ms / 1000.0);
            return fail("expected %s, got %s", want, got(c, ev));
        }
        if (ev == EV_BAD)
            return fail("expected %s, got %s", want, got(c, ev));
        if (c->ftype == FT_GOAWAY) {
            if ((allow & ALLOW_GOAWAY) && c->goaway_code < 32 && (codes & E(c->goaway_code)))
                return expect_close_after_goaway(c);
            return fail("expected %s, got %s", want, c->last);
        }
        if (c->ftype == FT_RST_STREAM && (c->fstream & MAX_WINDOW) == stream) {
            uint32_t code = get32(c->fpay);
            if ((allow & ALLOW_RST) && code < 32 && (codes & E(code)))
                return true;
            return fail("expected %s, got %s", want, c->last);
        }
    }
}

#define expect_conn_error(c, codes) expect_error((c), 0, (codes), ALLOW_GOAWAY | ALLOW_CLOSE)
#define expect_stream_error(c, stream, codes)                                                                \
    expect_error((c), (stream), (codes), ALLOW_RST | ALLOW_GOAWAY | ALLOW_CLOSE)

/* The connection closes, with or without a GOAWAY before (3.4: no HTTP/2 connection to report on). */
static bool expect_close(struct h2c *c)
{
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_CLOSED)
            return true;
        if (ev == EV_TIMEOUT)
            return fail("expected the connection to close, got it still open after %.1f s%s%s",
                        opt.timeout_ms / 1000.0, c->last[0] ? "; last frame " : "", c->last);
        if (ev == EV_BAD)
            return fail("expected the connection to close, got %s", got(c, ev));
    }
}

/* Frames that mean "the server did not ignore what it had to ignore". */
static bool is_error_frame(struct h2c *c)
{
    return c->ftype == FT_GOAWAY;
}

/* A PING is answered with an ACK carrying the same payload: the connection is alive and in sync. */
static bool expect_ping_ack(struct h2c *c, const uint8_t data[8])
{
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected PING ACK, got %s", got(c, ev));
        if (is_error_frame(c))
            return fail("expected PING ACK, got %s", c->last);
        if (c->ftype == FT_PING && (c->fflags & FLAG_ACK) && c->flen == 8 && memcmp(c->fpay, data, 8) == 0)
            return true;
    }
}

/* Send a PING of our own and wait for its ACK. */
static bool expect_alive(struct h2c *c)
{
    uint8_t data[8];
    snprintf((char *)data, sizeof(data), "alive%02u", c->pings_sent++ % 100);
    data[7] = 0x5a;
    send_ping(c, 0, data);
    return expect_ping_ack(c, data);
}

static bool expect_settings_ack(struct h2c *c, uint32_t acks_before)
{
    int64_t deadline = deadline_after_timeout();
    while (c->settings_acks <= acks_before) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected SETTINGS ACK, got %s", got(c, ev));
        if (is_error_frame(c))
            return fail("expected SETTINGS ACK, got %s", c->last);
    }
    return true;
}

/* send_settings, then wait until the server has acknowledged (so applied) them. */
static bool settings_sync(struct h2c *c, int n, ...)
{
    uint32_t acks = c->settings_acks;
    va_list ap;
    va_start(ap, n);
    send_settings_v(c, n, ap);
    va_end(ap);
    return expect_settings_ack(c, acks);
}

static const char *stream_state_text(struct stream_rec *s)
{
    static char buf[200];
    if (!s || (!s->status && s->rst_code < 0))
        return "";
    snprintf(buf, sizeof(buf), " (stream %u so far: :status %d, %llu body bytes%s)", s->id, s->status,
             (unsigned long long)s->body_len, s->ended ? ", ended" : "");
    return buf;
}

/*
 * A complete response on the stream: final :status (status > 0: that one) and END_STREAM, with
 * body_len bytes of body (body_len < 0: any).
 */
static bool expect_response(struct h2c *c, uint32_t stream, int status, int64_t body_len)
{
    int64_t deadline = deadline_after_timeout();
    struct stream_rec *s = stream_get(c, stream);
    char want[120];
    snprintf(want, sizeof(want), "a complete %s%d response on stream %u", status > 0 ? ":status " : "",
             status > 0 ? status : 0, stream);
    if (status <= 0)
        snprintf(want, sizeof(want), "a complete response on stream %u", stream);
    if (!s)
        return fail("expected %s, got too many streams to track", want);
    while (!(s->status && s->ended)) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected %s, got %s%s", want, got(c, ev), stream_state_text(s));
        if (c->ftype == FT_GOAWAY && (c->goaway_code != NO_ERROR || c->goaway_last < stream))
            return fail("expected %s, got %s", want, c->last);
        if (c->ftype == FT_RST_STREAM && (c->fstream & MAX_WINDOW) == stream && !(s->status && s->ended))
            return fail("expected %s, got %s", want, c->last);
    }
    if (status > 0 && s->status != status)
        return fail("expected %s, got :status %d", want, s->status);
    if (body_len >= 0 && s->body_len != (uint64_t)body_len)
        return fail("expected %s with %lld body bytes, got %llu", want, (long long)body_len,
                    (unsigned long long)s->body_len);
    return true;
}

/* The response to GET --path: 200 with a body. */
static bool expect_ok(struct h2c *c, uint32_t stream)
{
    if (!expect_response(c, stream, 200, -1))
        return false;
    if (stream_get(c, stream)->body_len == 0)
        return fail("expected a body in the :status 200 response on stream %u, got none", stream);
    return true;
}

/* The response to a POST to the echo path: 200 echoing body (--echo-mode any: any complete response). */
static bool expect_echo(struct h2c *c, uint32_t stream, const void *body, size_t len)
{
    if (opt.echo_any)
        return expect_response(c, stream, -1, -1);
    if (!expect_response(c, stream, 200, (int64_t)len))
        return false;
    struct stream_rec *s = stream_get(c, stream);
    size_t n = len < BODY_KEEP ? len : BODY_KEEP;
    if (n > 0 && memcmp(s->body, body, n) != 0)
        return fail("expected the echo of our %zu-byte body on stream %u, got different bytes", len, stream);
    return true;
}

/* The final response headers on the stream (the body may be held back by flow control). */
static bool expect_headers(struct h2c *c, uint32_t stream)
{
    int64_t deadline = deadline_after_timeout();
    struct stream_rec *s = stream_get(c, stream);
    while (!s->status) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected response HEADERS on stream %u, got %s", stream, got(c, ev));
        if (is_error_frame(c) || (c->ftype == FT_RST_STREAM && (c->fstream & MAX_WINDOW) == stream))
            return fail("expected response HEADERS on stream %u, got %s", stream, c->last);
    }
    return true;
}

/* The next DATA frame on the stream carries exactly len bytes (the flow-control cases). */
static bool expect_data_frame(struct h2c *c, uint32_t stream, uint32_t len)
{
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected DATA of %u bytes on stream %u, got %s", len, stream, got(c, ev));
        if (is_error_frame(c) || (c->ftype == FT_RST_STREAM && (c->fstream & MAX_WINDOW) == stream))
            return fail("expected DATA of %u bytes on stream %u, got %s", len, stream, c->last);
        if (c->ftype == FT_DATA && (c->fstream & MAX_WINDOW) == stream) {
            uint32_t n = c->flen;
            if ((c->fflags & FLAG_PADDED) && n >= 1)
                n -= 1 + c->fpay[0];
            if (n != len)
                return fail("expected DATA of %u bytes on stream %u, got %s", len, stream, c->last);
            return true;
        }
    }
}

/* The frame-size cases send a frame just past the server's limit: keep that limit sendable. */
static bool server_frame_limit_ok(struct h2c *c)
{
    if (c->max_frame_size > (1u << 20)) {
        skip("the server accepts frames of %u bytes; this suite sends at most 1 MiB", c->max_frame_size);
        return false;
    }
    return true;
}

#define REQUIRE(x)                                                                                           \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            return;                                                                                          \
    } while (0)

/* ================================================================================================ */
/* The cases. Each starts on a fresh connection after the handshake unless its table entry says     */
/* CASE_RAW; the table at the end gives each one its section, name and what the RFC requires.       */

static const uint8_t ping_payload[8] = {'h', '2', 'c', 'o', 'n', 'f', 'o', 'k'};

/* A frame of a type no one assigned (FT_UNKNOWN) with 8 zero bytes, which a server must discard. */
static void send_unknown_frame(struct h2c *c, uint8_t flags, uint32_t stream)
{
    static const uint8_t zeros[8];
    send_frame(c, FT_UNKNOWN, flags, stream, zeros, sizeof(zeros));
}

/* ---- 3.4 HTTP/2 connection preface ---- */

static void case_preface_first_frame_is_settings(struct h2c *c)
{
    send_raw(c, PREFACE, PREFACE_LEN);
    send_settings(c, 1, S_INITIAL_WINDOW_SIZE, (uint32_t)DEFAULT_WINDOW);
    enum ev ev = pump(c, deadline_after_timeout());
    if (ev != EV_FRAME) {
        fail("expected SETTINGS as the server's first frame, got %s", got(c, ev));
        return;
    }
    if (c->ftype != FT_SETTINGS || (c->fflags & FLAG_ACK))
        fail("expected SETTINGS (no ACK) as the server's first frame, got %s", c->last);
}

static void case_preface_invalid(struct h2c *c)
{
    send_raw(c, "INVALID CONNECTION PREFACE\r\n\r\n", 30);
    expect_close(c);
}

static void case_preface_without_settings(struct h2c *c)
{
    /* The client preface is the magic string and then a SETTINGS frame: a PING first is invalid. */
    send_raw(c, PREFACE, PREFACE_LEN);
    send_ping(c, 0, ping_payload);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_preface_byte_by_byte(struct h2c *c)
{
    uint8_t buf[PREFACE_LEN + 9 + 6];
    memcpy(buf, PREFACE, PREFACE_LEN);
    put24(buf + PREFACE_LEN, 6);
    buf[PREFACE_LEN + 3] = FT_SETTINGS;
    buf[PREFACE_LEN + 4] = 0;
    put32(buf + PREFACE_LEN + 5, 0);
    buf[PREFACE_LEN + 9] = 0;
    buf[PREFACE_LEN + 10] = S_ENABLE_PUSH;
    put32(buf + PREFACE_LEN + 11, 0);
    for (size_t i = 0; i < sizeof(buf); i++) {
        conn_write(c, buf + i, 1);
        usleep(2000); /* each byte its own segment (TCP_NODELAY) */
    }
    REQUIRE(await_handshake(c));
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

/* On a TLS connection whose ALPN said h2 the preface is still required (RFC 9113 3.4): an HTTP/1.1
 * request there is an invalid preface, a connection error, and never an HTTP/1.1 exchange (a server
 * that falls back to HTTP/1.1 on ALPN h2 would answer it with "HTTP/1.1 400" or worse, a response). */
static void case_tls_http1_request(struct h2c *c)
{
    static const char request[] = "GET / HTTP/1.1\r\n\r\n";
    send_raw(c, request, sizeof(request) - 1);
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_CLOSED)
            break;
        if (ev == EV_TIMEOUT) {
            /* 18 octets, fewer than the preface's 24: its first already differs ('G', not 'P'). */
            fail("expected the connection to close, got it still open after %.1f s%s%s (does the server wait "
                 "for all 24 octets of the preface before comparing them?)",
                 opt.timeout_ms / 1000.0, c->last[0] ? "; last frame " : "", c->last);
            return;
        }
        if (ev == EV_BAD) {
            fail("expected the connection to close, got %s", got(c, ev));
            return;
        }
        /* The server's SETTINGS may precede the verdict (it can send its preface at once); a GOAWAY
         * must say PROTOCOL_ERROR; a response means it took the bytes as a request. */
        if (c->ftype == FT_GOAWAY && c->goaway_code != PROTOCOL_ERROR) {
            fail("expected the close, a GOAWAY PROTOCOL_ERROR before it at most, got %s", c->last);
            return;
        }
        if (c->ftype == FT_HEADERS || c->ftype == FT_DATA || c->ftype == FT_PUSH_PROMISE) {
            fail("expected the close, got %s", c->last);
            return;
        }
    }
    /* Bytes left that no frame holds: "HTTP/1.1 400 ..." read as a frame header claims megabytes. */
    size_t rest = c->rlen - c->roff;
    if (rest > 0) {
        char text[64];
        size_t n = 0;
        for (size_t i = 0; i < rest && n + 1 < sizeof(text); i++) {
            uint8_t b = c->rbuf[c->roff + i];
            text[n++] = b >= 0x20 && b < 0x7f ? (char)b : '.';
        }
        text[n] = '\0';
        fail(
            "expected the close without an HTTP/1.1 reply, got %zu bytes that are no HTTP/2 frame before it: "
            "\"%s\"",
            rest, text);
    }
}

/* ---- 4.1 Frame format ---- */

static void case_unknown_frame_type(struct h2c *c)
{
    send_unknown_frame(c, 0, 0);
    expect_alive(c);
}

static void case_undefined_flags_ping(struct h2c *c)
{
    send_ping(c, 0xfe, ping_payload); /* every flag but ACK */
    expect_ping_ack(c, ping_payload);
}

static void case_reserved_bit_ping(struct h2c *c)
{
    send_frame(c, FT_PING, 0, 0x80000000u, ping_payload, 8);
    expect_ping_ack(c, ping_payload);
}

static void case_unknown_frame_on_open_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_unknown_frame(c, 0xff, 1);
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_undefined_flags_headers(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    /* 0x02, 0x10, 0x40, 0x80 are undefined for HEADERS. */
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | 0xd2, &b);
    expect_ok(c, 1);
}

static void case_undefined_flags_data(struct h2c *c)
{
    send_post(c, 1, false);
    send_frame(c, FT_DATA, FLAG_END_STREAM | 0xf6, 1, "test",
               4); /* all but END_STREAM and PADDED undefined */
    expect_echo(c, 1, "test", 4);
}

/* ---- 4.2 Frame size ---- */

static void case_data_max_frame_size(struct h2c *c)
{
    static uint8_t body[DEFAULT_MAX_FRAME];
    memset(body, 'x', sizeof(body));
    send_post(c, 1, false);
    send_data(c, 1, true, body, sizeof(body));
    expect_echo(c, 1, body, sizeof(body));
}

static void case_data_over_max_frame_size(struct h2c *c)
{
    REQUIRE(server_frame_limit_ok(c));
    size_t len = (size_t)c->max_frame_size + 1;
    uint8_t *body = calloc(1, len);
    send_post(c, 1, false);
    send_data(c, 1, true, body, len);
    free(body);
    expect_stream_error(c, 1, E(FRAME_SIZE_ERROR));
}

static void case_headers_over_max_frame_size(struct h2c *c)
{
    REQUIRE(server_frame_limit_ok(c));
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&b, (int)(c->max_frame_size / DUMMY_VALUE_LEN) + 1);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_settings_over_max_frame_size(struct h2c *c)
{
    REQUIRE(server_frame_limit_ok(c));
    size_t len = ((size_t)c->max_frame_size / 6 + 1) * 6; /* a multiple of 6: only the size is wrong */
    uint8_t *p = calloc(1, len);
    for (size_t i = 0; i < len; i += 6) {
        p[i + 1] = S_ENABLE_PUSH; /* ENABLE_PUSH 0, over and over */
    }
    send_frame(c, FT_SETTINGS, 0, 0, p, len);
    free(p);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_unknown_over_max_frame_size(struct h2c *c)
{
    REQUIRE(server_frame_limit_ok(c));
    size_t len = (size_t)c->max_frame_size + 1;
    uint8_t *p = calloc(1, len);
    send_frame(c, FT_UNKNOWN, 0, 0, p, len);
    free(p);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_continuation_over_max_frame_size(struct h2c *c)
{
    REQUIRE(server_frame_limit_ok(c));
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, (int)(c->max_frame_size / DUMMY_VALUE_LEN) + 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

/* ---- 4.3 Field section compression and decompression ---- */

static void case_invalid_field_block(struct h2c *c)
{
    /* A literal with incremental indexing cut short after its first byte. */
    send_frame(c, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, "\x40", 1);
    expect_conn_error(c, E(COMPRESSION_ERROR));
}

static void case_priority_inside_field_block(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_priority(c, 1, 0, false, 255);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_headers_other_stream_inside_field_block(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_headers(c, 3, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_data_inside_field_block(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    hb_dummies(&more, 1);
    send_headers(c, 1, 0, &b);
    send_data(c, 1, true, "test", 4);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_field_block_split_mid_field(struct h2c *c)
{
    struct hblock b = {.len = 0}, first = {.len = 0}, second = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_field(&b, "x-split", "the field block is one unit, frames are not");
    size_t cut = b.len - 7; /* inside the last value */
    hb_raw(&first, b.buf, cut);
    hb_raw(&second, b.buf + cut, b.len - cut);
    send_headers(c, 1, FLAG_END_STREAM, &first);
    send_continuation(c, 1, FLAG_END_HEADERS, &second);
    expect_ok(c, 1);
}

static void case_dynamic_table_across_streams(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_byte(&b, 0x40); /* literal with incremental indexing, new name: dynamic table entry 62 */
    hb_str(&b, "x-probe", 7);
    hb_str(&b, "one", 3);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    REQUIRE(expect_ok(c, 1));
    struct hblock b2 = {.len = 0};
    hb_request(&b2, "GET", opt.path);
    hb_indexed(&b2, 62); /* the entry stream 1 added */
    send_headers(c, 3, FLAG_END_STREAM | FLAG_END_HEADERS, &b2);
    expect_ok(c, 3);
}

/* ---- 5.1 Stream states ---- */

static void case_idle_data(struct h2c *c)
{
    send_data(c, 1, true, "test", 4);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_idle_rst_stream(struct h2c *c)
{
    send_rst(c, 1, CANCEL);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_idle_window_update(struct h2c *c)
{
    send_window_update(c, 1, 100);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_idle_continuation(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_continuation(c, 1, FLAG_END_HEADERS, &b);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_idle_priority(struct h2c *c)
{
    send_priority(c, 1, 0, false, 255);
    expect_alive(c);
}

static void case_idle_server_stream_window_update(struct h2c *c)
{
    /* Stream 2 would be the server's; it reserved nothing (push is off), so it is idle. */
    send_window_update(c, 2, 100);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

/* Stream 1 half-closed (remote) for sure: our window is 0, so the server holds the body back. */
static bool open_half_closed_remote(struct h2c *c)
{
    if (!settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 0u))
        return false;
    send_get(c, 1, opt.path);
    return expect_headers(c, 1);
}

static void case_half_closed_data(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_half_closed_headers(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    send_get(c, 1, opt.path);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_half_closed_continuation(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    struct hblock b = {.len = 0};
    hb_dummies(&b, 1);
    send_continuation(c, 1, FLAG_END_HEADERS, &b);
    /* STREAM_CLOSED for the state, or PROTOCOL_ERROR for a CONTINUATION without HEADERS (6.10). */
    expect_stream_error(c, 1, E(STREAM_CLOSED) | E(PROTOCOL_ERROR));
}

static void case_half_closed_window_update(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    c->auto_window_update = false;
    send_window_update(c, 1, 1);
    expect_data_frame(c, 1, 1);
}

static void case_half_closed_priority(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    c->auto_window_update = false;
    send_priority(c, 1, 0, false, 255);
    send_window_update(c, 1, 1);
    expect_data_frame(c, 1, 1);
}

static void case_half_closed_rst_stream(struct h2c *c)
{
    REQUIRE(open_half_closed_remote(c));
    send_rst(c, 1, CANCEL);
    expect_alive(c);
}

static void case_open_window_update(struct h2c *c)
{
    send_post(c, 1, false);
    send_window_update(c, 1, 100);
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_open_priority(struct h2c *c)
{
    send_post(c, 1, false);
    send_priority(c, 1, 0, false, 16);
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_open_rst_then_new_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_rst(c, 1, CANCEL);
    send_get(c, 3, opt.path);
    expect_ok(c, 3);
}

static void case_closed_after_rst_data(struct h2c *c)
{
    send_post(c, 1, false);
    send_rst(c, 1, CANCEL);
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_closed_after_rst_headers(struct h2c *c)
{
    send_post(c, 1, false);
    send_rst(c, 1, CANCEL);
    send_get(c, 1, opt.path);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_closed_after_rst_continuation(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_dummies(&b, 1);
    send_post(c, 1, false);
    send_rst(c, 1, CANCEL);
    send_continuation(c, 1, FLAG_END_HEADERS, &b);
    expect_stream_error(c, 1, E(STREAM_CLOSED) | E(PROTOCOL_ERROR));
}

/* Stream 1 closed both ways: a complete request and a complete response. */
static bool open_and_close_stream(struct h2c *c)
{
    send_get(c, 1, opt.path);
    return expect_ok(c, 1);
}

static void case_closed_data(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_closed_headers(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    send_get(c, 1, opt.path);
    /* A frame on a closed stream (STREAM_CLOSED), or a reused stream identifier (5.1.1, PROTOCOL_ERROR). */
    expect_conn_error(c, E(STREAM_CLOSED) | E(PROTOCOL_ERROR));
}

static void case_closed_continuation(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    struct hblock b = {.len = 0};
    hb_dummies(&b, 1);
    send_continuation(c, 1, FLAG_END_HEADERS, &b);
    expect_conn_error(c, E(STREAM_CLOSED) | E(PROTOCOL_ERROR));
}

static void case_closed_priority(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    send_priority(c, 1, 0, false, 255);
    expect_alive(c);
}

static void case_closed_window_update(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    send_window_update(c, 1, 100); /* "for a short period after": the server MUST ignore it */
    expect_alive(c);
}

static void case_closed_rst_stream(struct h2c *c)
{
    REQUIRE(open_and_close_stream(c));
    send_rst(c, 1, CANCEL);
    expect_alive(c);
}

/* ---- 5.1.1 Stream identifiers ---- */

static void case_even_stream_id(struct h2c *c)
{
    send_get(c, 2, opt.path);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_smaller_stream_id(struct h2c *c)
{
    send_get(c, 5, opt.path);
    send_get(c, 3, opt.path);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_reuse_half_closed_stream(struct h2c *c)
{
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 0u));
    send_get(c, 5, opt.path);
    send_get(c, 5, opt.path);
    expect_stream_error(c, 5, E(STREAM_CLOSED));
}

static void case_skipped_stream_ids(struct h2c *c)
{
    send_get(c, 5, opt.path);
    send_get(c, 11, opt.path);
    REQUIRE(expect_ok(c, 5));
    expect_ok(c, 11);
}

static void case_data_on_implicitly_closed_stream(struct h2c *c)
{
    send_get(c, 5, opt.path);
    REQUIRE(expect_ok(c, 5));
    /* Opening 5 closed the idle stream 3 (5.1.1): DATA on it is DATA on a closed stream (6.1). */
    send_data(c, 3, true, "test", 4);
    expect_stream_error(c, 3, E(STREAM_CLOSED));
}

static void case_largest_stream_id(struct h2c *c)
{
    send_get(c, MAX_WINDOW, opt.path);
    expect_ok(c, MAX_WINDOW);
}

static void case_reserved_bit_stream_id(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_frame(c, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 0x80000001u, b.buf, b.len);
    stream_get(c, 1);
    expect_ok(c, 1);
}

/* ---- 5.1.2 Stream concurrency ---- */

static void case_exceed_max_concurrent_streams(struct h2c *c)
{
    if (!c->has_max_concurrent) {
        skip("the server sets no SETTINGS_MAX_CONCURRENT_STREAMS");
        return;
    }
    if (c->max_concurrent >= MAX_STREAMS - 1) {
        skip("SETTINGS_MAX_CONCURRENT_STREAMS is %u; this suite opens at most %d streams", c->max_concurrent,
             MAX_STREAMS - 1);
        return;
    }
    /* Window 0: no response can finish, so every stream stays open. */
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 0u));
    uint32_t id = 1;
    for (uint32_t i = 0; i <= c->max_concurrent; i++, id += 2)
        send_get(c, id, opt.path);
    expect_stream_error(c, id - 2, E(PROTOCOL_ERROR) | E(REFUSED_STREAM));
}

/* ---- 5.3 Priority (RFC 9113 keeps the RFC 7540 frames' syntax and the self-dependency rule) ---- */

static void case_headers_depends_on_itself(struct h2c *c)
{
    struct hblock b = {.len = 0};
    uint8_t prio[5];
    put32(prio, 1);
    prio[4] = 255;
    hb_raw(&b, prio, 5);
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PRIORITY, &b);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_priority_depends_on_itself(struct h2c *c)
{
    send_priority(c, 1, 1, false, 255);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_priority_then_request(struct h2c *c, uint32_t depends_on, bool exclusive, uint8_t weight)
{
    send_priority(c, 1, depends_on, exclusive, weight);
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_priority_weight_1(struct h2c *c)
{
    case_priority_then_request(c, 0, false, 0);
}

static void case_priority_weight_256(struct h2c *c)
{
    case_priority_then_request(c, 0, false, 255);
}

static void case_priority_exclusive(struct h2c *c)
{
    case_priority_then_request(c, 0, true, 0);
}

static void case_priority_dependency(struct h2c *c)
{
    send_priority(c, 3, 1, false, 0); /* 3 depends on 1, both idle */
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_headers_depends_on_missing_stream(struct h2c *c)
{
    struct hblock b = {.len = 0};
    uint8_t prio[5];
    put32(prio, 0x80000000u | 101); /* exclusive on a stream that never existed */
    prio[4] = 15;
    hb_raw(&b, prio, 5);
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PRIORITY, &b);
    expect_ok(c, 1);
}

/* ---- 5.4 Error handling ---- */

static const uint8_t ping_on_stream_3[] = {0, 0, 8, FT_PING, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0};

static void case_connection_error_closes(struct h2c *c)
{
    send_raw(c, ping_on_stream_3, sizeof(ping_on_stream_3));
    expect_close(c);
}

static void case_connection_error_goaway_first(struct h2c *c)
{
    send_raw(c, ping_on_stream_3, sizeof(ping_on_stream_3));
    expect_error(c, 0, E(PROTOCOL_ERROR), ALLOW_GOAWAY);
}

static void case_goaway_last_stream_id(struct h2c *c)
{
    send_get(c, 1, opt.path);
    REQUIRE(expect_ok(c, 1));
    send_raw(c, ping_on_stream_3, sizeof(ping_on_stream_3));
    REQUIRE(expect_error(c, 0, E(PROTOCOL_ERROR), ALLOW_GOAWAY));
    if (c->goaway_last != 1)
        fail("expected GOAWAY with last stream 1, got last stream %u", c->goaway_last);
}

static void case_stream_error_keeps_connection(struct h2c *c)
{
    send_post(c, 1, false);
    send_window_update(c, 1, 0);
    REQUIRE(expect_stream_error(c, 1, E(PROTOCOL_ERROR)));
    if (c->got_goaway || c->peer_closed) {
        skip("the server made the stream error a connection error, which RFC 9113 5.4 allows");
        return;
    }
    send_get(c, 3, opt.path);
    expect_ok(c, 3);
}

/* ---- 5.5 Extending HTTP/2 ---- */

static void case_unknown_extension_frame(struct h2c *c)
{
    send_unknown_frame(c, 0, 0);
    send_ping(c, 0, ping_payload);
    expect_ping_ack(c, ping_payload);
}

static void case_unknown_frame_inside_field_block(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_unknown_frame(c, 0, 0);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

/* ---- 6.1 DATA ---- */

static void case_data_stream_0(struct h2c *c)
{
    send_data(c, 0, true, "test", 4);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_data_half_closed(struct h2c *c)
{
    send_post(c, 1, true);
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

static void case_data_invalid_pad_length(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    hb_field(&b, "content-length", "4");
    send_headers(c, 1, FLAG_END_HEADERS, &b);
    send_frame(c, FT_DATA, FLAG_END_STREAM | FLAG_PADDED, 1,
               "\x06"
               "Test",
               5); /* 6 bytes of padding in 5 */
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_data_padded(struct h2c *c)
{
    send_post(c, 1, false);
    send_frame(c, FT_DATA, FLAG_END_STREAM | FLAG_PADDED, 1,
               "\x06"
               "test\0\0\0\0\0\0",
               11);
    expect_echo(c, 1, "test", 4);
}

static void case_data_all_padding(struct h2c *c)
{
    send_post(c, 1, false);
    send_frame(c, FT_DATA, FLAG_PADDED, 1, "\x04\0\0\0\0", 5); /* no data, 4 bytes of padding */
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_data_padded_empty(struct h2c *c)
{
    send_post(c, 1, false);
    send_frame(c, FT_DATA, FLAG_END_STREAM | FLAG_PADDED, 1, NULL, 0); /* no room for the Pad Length */
    /* Too small for a mandatory field (4.2: FRAME_SIZE_ERROR), or padding >= payload (PROTOCOL_ERROR). */
    expect_conn_error(c, E(FRAME_SIZE_ERROR) | E(PROTOCOL_ERROR));
}

static void case_data_single(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_data_multiple(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "te", 2);
    send_data(c, 1, false, "s", 1);
    send_data(c, 1, true, "t", 1);
    expect_echo(c, 1, "test", 4);
}

static void case_data_empty_end_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, true, NULL, 0);
    expect_echo(c, 1, "", 0);
}

/* ---- 6.2 HEADERS ---- */

static void case_ping_inside_field_block(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_ping(c, 0, ping_payload);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_headers_stream_0(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_frame(c, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 0, b.buf, b.len);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_headers_invalid_pad_length(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_byte(&b, 0); /* pad length, set below */
    hb_request(&b, "GET", opt.path);
    b.buf[0] = (uint8_t)(b.len + 1); /* more padding than the frame holds; b.len < 255 */
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED, &b);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_headers_plain(struct h2c *c)
{
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_headers_padded(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_byte(&b, 8);
    hb_request(&b, "GET", opt.path);
    hb_raw(&b, "\0\0\0\0\0\0\0\0", 8);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED, &b);
    expect_ok(c, 1);
}

static void case_headers_priority(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_raw(&b, "\0\0\0\0\xff", 5); /* depends on 0, weight 256 */
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PRIORITY, &b);
    expect_ok(c, 1);
}

static void case_headers_padded_priority(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_byte(&b, 8);
    hb_raw(&b, "\x80\0\0\0\x0f", 5); /* exclusive on 0, weight 16 */
    hb_request(&b, "GET", opt.path);
    hb_raw(&b, "\0\0\0\0\0\0\0\0", 8);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY, &b);
    expect_ok(c, 1);
}

static void case_headers_priority_too_short(struct h2c *c)
{
    send_frame(c, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PRIORITY, 1, "\0\0\0", 3);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_headers_padded_empty(struct h2c *c)
{
    send_frame(c, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED, 1, NULL, 0);
    /* Too small for a mandatory field (4.2: FRAME_SIZE_ERROR), or padding >= payload (PROTOCOL_ERROR). */
    expect_conn_error(c, E(FRAME_SIZE_ERROR) | E(PROTOCOL_ERROR));
}

/* ---- 6.3 PRIORITY ---- */

static void case_priority_stream_0(struct h2c *c)
{
    send_priority(c, 0, 0, false, 255);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_priority_bad_length(struct h2c *c)
{
    send_get(c, 1, opt.path);
    send_frame(c, FT_PRIORITY, 0, 1, "\x80\0\0\x01", 4);
    expect_stream_error(c, 1, E(FRAME_SIZE_ERROR));
}

static void case_priority_bad_length_idle(struct h2c *c)
{
    send_frame(c, FT_PRIORITY, 0, 3, "\0\0\0\0\x10\0", 6);
    expect_stream_error(c, 3, E(FRAME_SIZE_ERROR));
}

static void case_priority_idle_then_lower(struct h2c *c)
{
    send_priority(c, 3, 0, false, 255); /* does not open stream 3 */
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

/* ---- 6.4 RST_STREAM ---- */

static void case_rst_stream_0(struct h2c *c)
{
    send_rst(c, 0, CANCEL);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_rst_idle(struct h2c *c)
{
    send_rst(c, 1, CANCEL);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_rst_bad_length(struct h2c *c)
{
    send_get(c, 1, opt.path);
    send_frame(c, FT_RST_STREAM, 0, 1, "\0\0\0", 3);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_rst_cancels_response(struct h2c *c)
{
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 0u));
    send_get(c, 1, bytes_path(100000));
    REQUIRE(expect_headers(c, 1));
    send_rst(c, 1, CANCEL);
    /* Open every window: whatever the server still sends on stream 1 after this would show. */
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, (uint32_t)DEFAULT_WINDOW));
    struct stream_rec *s1 = stream_get(c, 1);
    uint64_t before = s1->body_len;
    send_get(c, 3, opt.path);
    REQUIRE(expect_ok(c, 3));
    REQUIRE(expect_alive(c));
    if (s1->body_len != before)
        fail("expected no DATA on stream 1 after RST_STREAM, got %llu more bytes",
             (unsigned long long)(s1->body_len - before));
}

/* ---- 6.5 SETTINGS ---- */

static void case_settings_ack_with_payload(struct h2c *c)
{
    send_frame(c, FT_SETTINGS, FLAG_ACK, 0, "\0", 1);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_settings_on_stream(struct h2c *c)
{
    send_frame(c, FT_SETTINGS, 0, 1, "\0\x03\0\0\0\x64", 6);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_settings_bad_length(struct h2c *c)
{
    send_frame(c, FT_SETTINGS, 0, 0, "\0\x03\0\0\0\x64\0\x02", 8);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_settings_values(struct h2c *c)
{
    settings_sync(c, 4, S_HEADER_TABLE_SIZE, 4096u, S_MAX_CONCURRENT_STREAMS, 100u, S_MAX_FRAME_SIZE, 16384u,
                  S_MAX_HEADER_LIST_SIZE, 65536u);
}

static void case_settings_empty(struct h2c *c)
{
    uint32_t acks = c->settings_acks;
    send_frame(c, FT_SETTINGS, 0, 0, NULL, 0);
    expect_settings_ack(c, acks);
}

/* ---- 6.5.2 Defined settings ---- */

static void case_enable_push_2(struct h2c *c)
{
    send_settings(c, 1, S_ENABLE_PUSH, 2u);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_initial_window_too_large(struct h2c *c)
{
    send_settings(c, 1, S_INITIAL_WINDOW_SIZE, 0x80000000u);
    expect_conn_error(c, E(FLOW_CONTROL_ERROR));
}

static void case_max_frame_size_too_small(struct h2c *c)
{
    send_settings(c, 1, S_MAX_FRAME_SIZE, 16383u);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_max_frame_size_too_large(struct h2c *c)
{
    send_settings(c, 1, S_MAX_FRAME_SIZE, 16777216u);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_unknown_setting(struct h2c *c)
{
    REQUIRE(settings_sync(c, 1, 0xffu, 1u));
    expect_alive(c);
}

static void case_max_frame_size_bounds(struct h2c *c)
{
    REQUIRE(settings_sync(c, 2, S_MAX_FRAME_SIZE, 16777215u, S_MAX_FRAME_SIZE, 16384u));
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_header_table_size_0(struct h2c *c)
{
    REQUIRE(settings_sync(c, 1, S_HEADER_TABLE_SIZE, 0u));
    /* The server's encoder must now start its next field block with a size update to 0. */
    nghttp2_hd_inflate_change_table_size(c->inflater, 0);
    send_get(c, 1, opt.path);
    REQUIRE(expect_ok(c, 1));
    send_get(c, 3, opt.path);
    expect_ok(c, 3);
}

static void case_max_concurrent_streams_0(struct h2c *c)
{
    /* Our limit binds only the streams the server would open (pushes), never our requests. */
    REQUIRE(settings_sync(c, 1, S_MAX_CONCURRENT_STREAMS, 0u));
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_enable_push_0_and_1(struct h2c *c)
{
    uint32_t acks = c->settings_acks;
    send_settings(c, 2, S_ENABLE_PUSH, 1u, S_ENABLE_PUSH, 0u);
    expect_settings_ack(c, acks);
}

/* ---- 6.5.3 Settings synchronization ---- */

static void case_settings_processed_in_order(struct h2c *c)
{
    c->auto_window_update = false;
    REQUIRE(settings_sync(c, 2, S_INITIAL_WINDOW_SIZE, 100u, S_INITIAL_WINDOW_SIZE, 1u));
    send_get(c, 1, opt.path);
    expect_data_frame(c, 1, 1);
}

static void case_settings_acknowledged(struct h2c *c)
{
    uint32_t acks = c->settings_acks;
    send_settings(c, 1, S_ENABLE_PUSH, 0u);
    expect_settings_ack(c, acks);
}

/* ---- 6.7 PING ---- */

static void case_ping(struct h2c *c)
{
    send_ping(c, 0, ping_payload);
    expect_ping_ack(c, ping_payload);
}

static void case_ping_ack_not_answered(struct h2c *c)
{
    static const uint8_t unexpected[8] = {'i', 'n', 'v', 'a', 'l', 'i', 'd', '!'};
    send_ping(c, FLAG_ACK, unexpected);
    send_ping(c, 0, ping_payload);
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME) {
            fail("expected PING ACK, got %s", got(c, ev));
            return;
        }
        if (is_error_frame(c)) {
            fail("expected PING ACK, got %s", c->last);
            return;
        }
        if (c->ftype == FT_PING && memcmp(c->fpay, unexpected, 8) == 0) {
            fail("expected no answer to our PING ACK, got a PING carrying its payload");
            return;
        }
        if (c->ftype == FT_PING && (c->fflags & FLAG_ACK) && memcmp(c->fpay, ping_payload, 8) == 0)
            return;
    }
}

static void case_ping_on_stream(struct h2c *c)
{
    send_frame(c, FT_PING, 0, 1, ping_payload, 8);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_ping_short(struct h2c *c)
{
    send_frame(c, FT_PING, 0, 0, ping_payload, 6);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_ping_long(struct h2c *c)
{
    static const uint8_t sixteen[16];
    send_frame(c, FT_PING, 0, 0, sixteen, 16);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_ping_burst(struct h2c *c)
{
    uint8_t data[10][8];
    for (int i = 0; i < 10; i++) {
        memcpy(data[i], "burst-0", 7);
        data[i][7] = (uint8_t)('0' + i);
        send_ping(c, 0, data[i]);
    }
    for (int i = 0; i < 10; i++)
        REQUIRE(expect_ping_ack(c, data[i])); /* each answered, in order */
}

/* ---- 6.8 GOAWAY ---- */

static void case_goaway_on_stream(struct h2c *c)
{
    send_frame(c, FT_GOAWAY, 0, 1, "\0\0\0\0\0\0\0\0", 8);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_goaway_short(struct h2c *c)
{
    send_frame(c, FT_GOAWAY, 0, 0, "\0\0\0\0", 4);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_goaway_in_flight(struct h2c *c)
{
    send_get(c, 1, opt.path);
    send_goaway(c, 0, NO_ERROR); /* we open no more streams; stream 1 is ours and goes on */
    expect_ok(c, 1);
}

/* ---- 6.9 WINDOW_UPDATE ---- */

static void case_window_update_0_connection(struct h2c *c)
{
    send_window_update(c, 0, 0);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_window_update_0_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_window_update(c, 1, 0);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_window_update_bad_length(struct h2c *c)
{
    send_frame(c, FT_WINDOW_UPDATE, 0, 0, "\0\0\x01", 3);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_window_update_bad_length_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_frame(c, FT_WINDOW_UPDATE, 0, 1, "\0\0\0\x01\0", 5);
    expect_conn_error(c, E(FRAME_SIZE_ERROR));
}

static void case_window_update_connection(struct h2c *c)
{
    send_window_update(c, 0, 1000);
    expect_alive(c);
}

static void case_window_update_stream(struct h2c *c)
{
    send_post(c, 1, false);
    send_window_update(c, 1, 1000);
    send_data(c, 1, true, "test", 4);
    expect_echo(c, 1, "test", 4);
}

static void case_window_update_reserved_bit(struct h2c *c)
{
    /* The increment is 1: the R bit MUST be ignored (6.9). Read as 2^31+1 it would overflow the window. */
    send_window_update(c, 0, 0x80000001u);
    expect_alive(c);
}

/* ---- 6.9.1 The flow-control window ---- */

static void case_initial_window_1(struct h2c *c)
{
    c->auto_window_update = false;
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 1u));
    send_get(c, 1, opt.path);
    expect_data_frame(c, 1, 1);
}

static void case_connection_window_overflow(struct h2c *c)
{
    send_window_update(c, 0, MAX_WINDOW);
    send_window_update(c, 0, MAX_WINDOW);
    expect_error(c, 0, E(FLOW_CONTROL_ERROR), ALLOW_GOAWAY); /* the RFC names the GOAWAY */
}

static void case_stream_window_overflow(struct h2c *c)
{
    send_post(c, 1, false);
    send_window_update(c, 1, MAX_WINDOW);
    send_window_update(c, 1, MAX_WINDOW);
    expect_error(c, 1, E(FLOW_CONTROL_ERROR), ALLOW_RST | ALLOW_GOAWAY); /* the RFC names RST_STREAM */
}

/* ---- 6.9.2 Initial flow-control window size ---- */

static void case_initial_window_change_after_headers(struct h2c *c)
{
    c->auto_window_update = false;
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 0u));
    send_get(c, 1, opt.path);
    REQUIRE(expect_headers(c, 1));
    send_settings(c, 1, S_INITIAL_WINDOW_SIZE, 1u);
    expect_data_frame(c, 1, 1);
}

static void case_negative_window(struct h2c *c)
{
    c->auto_window_update = false;
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 3u));
    send_get(c, 1, bytes_path(100));
    REQUIRE(expect_data_frame(c, 1, 3));
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 2u)); /* window 3 - 3 + (2 - 3) = -1 */
    send_window_update(c, 1, 2);                             /* -1 + 2 = 1 */
    expect_data_frame(c, 1, 1);
}

/* The body ends while the stream's window is below 0: an empty END_STREAM may go at once (6.9.1) or
 * once the window is above 0 again, never a byte past the body */
static void case_negative_window_body_ends(struct h2c *c)
{
    c->auto_window_update = false;
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 3u));
    send_post(c, 1, false);
    send_data(c, 1, false, "abc", 3);
    REQUIRE(expect_data_frame(c, 1, 3));                     /* the echo: the window is 0 */
    REQUIRE(settings_sync(c, 1, S_INITIAL_WINDOW_SIZE, 2u)); /* 0 + (2 - 3) = -1 */
    send_data(c, 1, true, "", 0);
    send_window_update(c, 1, 2); /* -1 + 2 = 1 */
    expect_echo(c, 1, "abc", 3);
}

static void case_initial_window_change_overflows_stream(struct h2c *c)
{
    send_post(c, 1, false);                                /* stays open: the echo waits for the body */
    send_window_update(c, 1, MAX_WINDOW - DEFAULT_WINDOW); /* the server's window for stream 1: 2^31-1 */
    send_settings(c, 1, S_INITIAL_WINDOW_SIZE, (uint32_t)DEFAULT_WINDOW + 1); /* ... plus one */
    expect_conn_error(c, E(FLOW_CONTROL_ERROR));
}

/* ---- 6.10 CONTINUATION ---- */

static void case_continuation_multiple(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 1, 0, &more);
    more.len = 0;
    hb_field(&more, "x-dummy1", "second fragment");
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_ok(c, 1);
}

static void case_continuation_single(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_field(&more, "x-continued", "yes");
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_ok(c, 1);
}

static void case_continuation_empty(struct h2c *c)
{
    struct hblock b = {.len = 0}, none = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &none);
    expect_ok(c, 1);
}

static void case_continuation_then_data(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    hb_dummies(&more, 1);
    send_headers(c, 1, 0, &b);
    send_continuation(c, 1, 0, &more);
    send_data(c, 1, true, "test", 4);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_continuation_stream_0(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 0, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_continuation_other_stream(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 3, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_continuation_after_end_headers(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_continuation_after_ended_continuation(struct h2c *c)
{
    struct hblock b = {.len = 0}, more = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_dummies(&more, 1);
    send_headers(c, 1, FLAG_END_STREAM, &b);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_continuation_after_data(struct h2c *c)
{
    struct hblock more = {.len = 0};
    hb_dummies(&more, 1);
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

/* ---- 7 Error codes ---- */

static void case_goaway_unknown_code(struct h2c *c)
{
    send_goaway(c, 0, 0xff);
    send_ping(c, 0, ping_payload);
    /* No special behaviour: the PING is answered, or the connection just ends, without an error. */
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_CLOSED)
            return;
        if (ev != EV_FRAME) {
            fail("expected PING ACK or a close, got %s", got(c, ev));
            return;
        }
        if (c->ftype == FT_GOAWAY && c->goaway_code != NO_ERROR) {
            fail("expected PING ACK or a close, got %s", c->last);
            return;
        }
        if (c->ftype == FT_PING && (c->fflags & FLAG_ACK) && memcmp(c->fpay, ping_payload, 8) == 0)
            return;
    }
}

static void case_rst_unknown_code(struct h2c *c)
{
    send_post(c, 1, false);
    send_rst(c, 1, 0xff);
    send_ping(c, 0, ping_payload);
    expect_ping_ack(c, ping_payload);
}

/* ---- 8.1 HTTP message framing ---- */

static void case_get(struct h2c *c)
{
    send_get(c, 1, opt.path);
    expect_ok(c, 1);
}

static void case_head(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "HEAD", opt.path);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_response(c, 1, 200, 0);
}

static void case_post(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    hb_field(&b, "content-length", "11");
    send_headers(c, 1, FLAG_END_HEADERS, &b);
    send_data(c, 1, true, "hello world", 11);
    expect_echo(c, 1, "hello world", 11);
}

static void case_post_trailers(struct h2c *c)
{
    struct hblock t = {.len = 0};
    hb_field(&t, "x-trailer", "done");
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &t);
    expect_echo(c, 1, "test", 4);
}

static void case_trailers_without_end_stream(struct h2c *c)
{
    struct hblock t = {.len = 0};
    hb_field(&t, "x-trailer", "done");
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_headers(c, 1, FLAG_END_HEADERS, &t);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_large_response(struct h2c *c)
{
    send_get(c, 1, bytes_path(100000));
    expect_response(c, 1, 200, 100000);
}

static void case_concurrent_requests(struct h2c *c)
{
    for (uint32_t id = 1; id <= 9; id += 2)
        send_get(c, id, opt.path);
    for (uint32_t id = 1; id <= 9; id += 2)
        REQUIRE(expect_ok(c, id));
}

static void case_interleaved_bodies(struct h2c *c)
{
    send_post(c, 1, false);
    send_post(c, 3, false);
    send_data(c, 1, false, "one-", 4);
    send_data(c, 3, false, "three-", 6);
    send_data(c, 1, true, "body", 4);
    send_data(c, 3, true, "body", 4);
    REQUIRE(expect_echo(c, 1, "one-body", 8));
    expect_echo(c, 3, "three-body", 10);
}

/* 8.1.1: content-length must equal the DATA payload. */
static void post_with_length(struct h2c *c, const char *content_length)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "POST", opt.echo_path);
    hb_field(&b, "content-length", content_length);
    send_headers(c, 1, FLAG_END_HEADERS, &b);
}

static void case_content_length_mismatch(struct h2c *c)
{
    post_with_length(c, "1");
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_content_length_mismatch_multiple(struct h2c *c)
{
    post_with_length(c, "1");
    send_data(c, 1, false, "test", 4);
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_content_length_short_body(struct h2c *c)
{
    post_with_length(c, "10");
    send_data(c, 1, true, "test", 4);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_content_length_no_body(struct h2c *c)
{
    send_get_with(c, 1, "content-length", "10");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

/* ---- 8.1 request trailers: a field section after the content, in a HEADERS with END_STREAM ---- */

/* Trailers: one HEADERS with END_STREAM and END_HEADERS holding name: value. */
static void send_trailers(struct h2c *c, uint32_t stream, const char *name, const char *value)
{
    struct hblock t = {.len = 0};
    hb_field(&t, name, value);
    send_headers(c, stream, FLAG_END_STREAM | FLAG_END_HEADERS, &t);
}

static void case_trailers_without_data(struct h2c *c)
{
    send_post(c, 1, false);
    send_trailers(c, 1, "x-trailer", "done");
    expect_echo(c, 1, "", 0);
}

static void case_trailers_continuation(struct h2c *c)
{
    struct hblock t = {.len = 0}, more = {.len = 0};
    hb_field(&t, "x-trailer", "done");
    hb_field(&more, "x-trailer-more", "also done");
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_headers(c, 1, FLAG_END_STREAM, &t);
    send_continuation(c, 1, FLAG_END_HEADERS, &more);
    REQUIRE(expect_echo(c, 1, "test", 4));
    send_get(c, 3, opt.path); /* the field block ended: the connection goes on */
    expect_ok(c, 3);
}

static void case_trailers_several_data(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "one-", 4);
    send_data(c, 1, false, "two-", 4);
    send_data(c, 1, false, "three", 5);
    send_trailers(c, 1, "x-trailer", "done");
    expect_echo(c, 1, "one-two-three", 13);
}

static void case_trailers_content_length(struct h2c *c)
{
    post_with_length(c, "4");
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "x-trailer", "done");
    expect_echo(c, 1, "test", 4);
}

static void case_trailers_short_body(struct h2c *c)
{
    post_with_length(c, "10");
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "x-trailer", "done");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_trailers_on_get(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    send_headers(c, 1, FLAG_END_HEADERS, &b);
    send_trailers(c, 1, "x-trailer", "done");
    expect_ok(c, 1);
}

static void case_trailers_uppercase(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "X-Trailer", "done");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_trailers_connection_field(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "connection", "close");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_trailers_content_length_disagrees(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "content-length", "5");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_data_after_trailers(struct h2c *c)
{
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_trailers(c, 1, "x-trailer", "done");
    send_data(c, 1, true, "more", 4);
    expect_stream_error(c, 1, E(STREAM_CLOSED));
}

/* ---- 8.2 HTTP fields ---- */

static void case_field_uppercase(struct h2c *c)
{
    send_get_with(c, 1, "X-TEST", "ok");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_name_space(struct h2c *c)
{
    send_get_with(c, 1, "x test", "ok");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_name_colon(struct h2c *c)
{
    send_get_with(c, 1, "x:test", "ok");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void get_with_raw_value(struct h2c *c, const char *value, size_t len)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_field_n(&b, "x-test", 6, value, len);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
}

static void case_field_value_nul(struct h2c *c)
{
    get_with_raw_value(c, "a\0b", 3);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_value_lf(struct h2c *c)
{
    get_with_raw_value(c, "a\nx-injected: 1", 15);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_value_cr(struct h2c *c)
{
    get_with_raw_value(c, "a\rb", 3);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_value_leading_space(struct h2c *c)
{
    get_with_raw_value(c, " ok", 3);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_field_value_trailing_tab(struct h2c *c)
{
    get_with_raw_value(c, "ok\t", 3);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

/* ---- 8.2.2 Connection-specific fields ---- */

static void case_connection_field(struct h2c *c)
{
    send_get_with(c, 1, "connection", "keep-alive");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_keep_alive_field(struct h2c *c)
{
    send_get_with(c, 1, "keep-alive", "timeout=5");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_proxy_connection_field(struct h2c *c)
{
    send_get_with(c, 1, "proxy-connection", "keep-alive");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_transfer_encoding_field(struct h2c *c)
{
    send_get_with(c, 1, "transfer-encoding", "chunked");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_upgrade_field(struct h2c *c)
{
    send_get_with(c, 1, "upgrade", "h2c");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_te_not_trailers(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_field(&b, "trailers", "test");
    hb_field(&b, "te", "trailers, deflate");
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_te_trailers(struct h2c *c)
{
    send_get_with(c, 1, "te", "trailers");
    expect_ok(c, 1);
}

/* ---- 8.3 HTTP control data (pseudo-header fields) ---- */

static void case_unknown_pseudo(struct h2c *c)
{
    send_get_with(c, 1, ":test", "ok");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_response_pseudo_in_request(struct h2c *c)
{
    send_get_with(c, 1, ":status", "200");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_pseudo_in_trailers(struct h2c *c)
{
    struct hblock t = {.len = 0};
    hb_field(&t, ":method", "POST");
    send_post(c, 1, false);
    send_data(c, 1, false, "test", 4);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &t);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_pseudo_after_regular(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_field(&b, ":method", "GET");
    hb_field(&b, ":scheme", wire_scheme());
    hb_field(&b, "x-test", "ok");
    hb_field(&b, ":path", opt.path);
    hb_field(&b, ":authority", opt.authority);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

/* A request field block from (name, value) pairs, NULL-terminated. */
static void send_request_fields(struct h2c *c, uint32_t stream, const char *const *fields)
{
    struct hblock b = {.len = 0};
    for (; fields[0]; fields += 2)
        hb_field(&b, fields[0], fields[1]);
    send_headers(c, stream, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
}

static void case_empty_path(struct h2c *c)
{
    const char *f[] = {":method", "GET",        ":scheme",     wire_scheme(), ":path",
                       "",        ":authority", opt.authority, NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_missing_method(struct h2c *c)
{
    const char *f[] = {":scheme", wire_scheme(), ":path", opt.path, ":authority", opt.authority, NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_missing_scheme(struct h2c *c)
{
    const char *f[] = {":method", "GET", ":path", opt.path, ":authority", opt.authority, NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_missing_path(struct h2c *c)
{
    const char *f[] = {":method", "GET", ":scheme", wire_scheme(), ":authority", opt.authority, NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_duplicate_method(struct h2c *c)
{
    send_get_with(c, 1, ":method", "GET");
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_duplicate_scheme(struct h2c *c)
{
    send_get_with(c, 1, ":scheme", wire_scheme());
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_duplicate_path(struct h2c *c)
{
    send_get_with(c, 1, ":path", opt.path);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_duplicate_authority(struct h2c *c)
{
    send_get_with(c, 1, ":authority", opt.authority);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

/* ---- 8.4 Server push, 8.5 CONNECT ---- */

static void case_push_promise_from_client(struct h2c *c)
{
    struct hblock b = {.len = 0};
    uint8_t promised[4];
    put32(promised, 2);
    hb_raw(&b, promised, 4);
    hb_request(&b, "GET", opt.path);
    send_get(c, 1, opt.path);
    send_frame(c, FT_PUSH_PROMISE, FLAG_END_HEADERS, 1, b.buf, b.len);
    expect_conn_error(c, E(PROTOCOL_ERROR));
}

static void case_connect_with_scheme_and_path(struct h2c *c)
{
    const char *f[] = {":method", "CONNECT",    ":scheme",     wire_scheme(), ":path",
                       "/",       ":authority", opt.authority, NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

static void case_connect_without_authority(struct h2c *c)
{
    const char *f[] = {":method", "CONNECT", NULL};
    send_request_fields(c, 1, f);
    expect_stream_error(c, 1, E(PROTOCOL_ERROR));
}

/* ---- RFC 7541 HPACK: representations a server must accept ---- */

/* The common request, then rep (raw bytes) appended to its field block. */
static void get_with_representation(struct h2c *c, const struct hblock *rep, bool before)
{
    struct hblock b = {.len = 0};
    if (before)
        hb_raw(&b, rep->buf, rep->len);
    hb_request(&b, "GET", opt.path);
    if (!before)
        hb_raw(&b, rep->buf, rep->len);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
}

/* kind: 0x40 incremental indexing (6-bit index), 0x00 without indexing, 0x10 never indexed (4-bit). */
static void representation_case(struct h2c *c, uint8_t kind, bool indexed_name, bool huffman)
{
    struct hblock r = {.len = 0};
    unsigned prefix = kind == 0x40 ? 6 : 4;
    if (indexed_name) {
        hb_int(&r, kind, prefix, 58); /* user-agent, static table */
    } else {
        hb_int(&r, kind, prefix, 0);
        if (huffman)
            hb_huffman(&r, "x-test");
        else
            hb_str(&r, "x-test", 6);
    }
    if (huffman)
        hb_huffman(&r, "h2conformance");
    else
        hb_str(&r, "h2conformance", 13);
    get_with_representation(c, &r, false);
    expect_ok(c, 1);
}

static void case_hpack_indexed(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_indexed(&r, 58); /* user-agent with an empty value */
    get_with_representation(c, &r, false);
    expect_ok(c, 1);
}

static void case_hpack_incremental_indexed_name(struct h2c *c)
{
    representation_case(c, 0x40, true, false);
}

static void case_hpack_incremental_indexed_name_huffman(struct h2c *c)
{
    representation_case(c, 0x40, true, true);
}

static void case_hpack_incremental_new_name(struct h2c *c)
{
    representation_case(c, 0x40, false, false);
}

static void case_hpack_incremental_new_name_huffman(struct h2c *c)
{
    representation_case(c, 0x40, false, true);
}

static void case_hpack_without_indexing_indexed_name(struct h2c *c)
{
    representation_case(c, 0x00, true, false);
}

static void case_hpack_without_indexing_indexed_name_huffman(struct h2c *c)
{
    representation_case(c, 0x00, true, true);
}

static void case_hpack_without_indexing_new_name(struct h2c *c)
{
    representation_case(c, 0x00, false, false);
}

static void case_hpack_without_indexing_new_name_huffman(struct h2c *c)
{
    representation_case(c, 0x00, false, true);
}

static void case_hpack_never_indexed_indexed_name(struct h2c *c)
{
    representation_case(c, 0x10, true, false);
}

static void case_hpack_never_indexed_indexed_name_huffman(struct h2c *c)
{
    representation_case(c, 0x10, true, true);
}

static void case_hpack_never_indexed_new_name(struct h2c *c)
{
    representation_case(c, 0x10, false, false);
}

static void case_hpack_never_indexed_new_name_huffman(struct h2c *c)
{
    representation_case(c, 0x10, false, true);
}

static void case_hpack_size_update(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_size_update(&r, 0);
    get_with_representation(c, &r, true);
    expect_ok(c, 1);
}

static void case_hpack_two_size_updates(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_size_update(&r, 0);
    hb_size_update(&r, 4096);
    get_with_representation(c, &r, true);
    expect_ok(c, 1);
}

static void case_hpack_dynamic_table_entry(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_byte(&r, 0x40);
    hb_str(&r, "x-added", 7);
    hb_str(&r, "then-used", 9);
    hb_indexed(&r, 62); /* the entry just added, in the same field block */
    get_with_representation(c, &r, false);
    expect_ok(c, 1);
}

static void case_hpack_entry_larger_than_table(struct h2c *c)
{
    /* An entry bigger than the whole table empties it and is not an error (RFC 7541 4.4). */
    static char value[4100];
    memset(value, 'v', sizeof(value));
    struct hblock r = {.len = 0};
    hb_byte(&r, 0x40);
    hb_str(&r, "x-big", 5);
    hb_str(&r, value, sizeof(value));
    get_with_representation(c, &r, false);
    expect_ok(c, 1);
}

/* ---- RFC 7541 HPACK: decoding errors (each a connection error COMPRESSION_ERROR, RFC 9113 4.3) ---- */

static void hpack_error_case(struct h2c *c, const struct hblock *rep, bool before)
{
    get_with_representation(c, rep, before);
    expect_conn_error(c, E(COMPRESSION_ERROR));
}

static void case_hpack_index_past_tables(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_indexed(&r, 62); /* the dynamic table is empty: 61 is the last index */
    hpack_error_case(c, &r, false);
}

static void case_hpack_index_far_past_tables(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_indexed(&r, 1000);
    hpack_error_case(c, &r, false);
}

static void case_hpack_literal_name_index_past_tables(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_int(&r, 0x00, 4, 62);
    hb_str(&r, "x", 1);
    hpack_error_case(c, &r, false);
}

static void case_hpack_index_0(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_byte(&r, 0x80);
    hpack_error_case(c, &r, false);
}

static void case_hpack_size_update_at_end(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_size_update(&r, 0);
    hpack_error_case(c, &r, false);
}

static void case_hpack_size_update_after_field(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_field(&b, ":method", "GET");
    hb_size_update(&b, 0);
    hb_field(&b, ":scheme", wire_scheme());
    hb_field(&b, ":path", opt.path);
    hb_field(&b, ":authority", opt.authority);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_conn_error(c, E(COMPRESSION_ERROR));
}

static void case_hpack_size_update_over_setting(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_size_update(&r, (uint64_t)c->header_table_size + 1);
    hpack_error_case(c, &r, true);
}

static void case_hpack_evicted_entry(struct h2c *c)
{
    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_byte(&b, 0x40);
    hb_str(&b, "x-gone", 6);
    hb_str(&b, "soon", 4);
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    REQUIRE(expect_ok(c, 1));
    struct hblock b2 = {.len = 0};
    hb_size_update(&b2, 0); /* evicts everything */
    hb_request(&b2, "GET", opt.path);
    hb_indexed(&b2, 62);
    send_headers(c, 3, FLAG_END_STREAM | FLAG_END_HEADERS, &b2);
    expect_conn_error(c, E(COMPRESSION_ERROR));
}

static void case_hpack_integer_overflow(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_byte(&r, 0xff); /* an index whose continuation bytes never fit 64 bits */
    for (int i = 0; i < 10; i++)
        hb_byte(&r, 0xff);
    hb_byte(&r, 0x7f);
    hpack_error_case(c, &r, false);
}

static void case_hpack_string_length_overflow(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_byte(&r, 0x00);
    hb_byte(&r, 0x7f); /* a name length past 2^64 */
    for (int i = 0; i < 10; i++)
        hb_byte(&r, 0xff);
    hb_byte(&r, 0x7f);
    hpack_error_case(c, &r, false);
}

static void case_hpack_string_past_block(struct h2c *c)
{
    struct hblock r = {.len = 0};
    hb_byte(&r, 0x00);
    hb_str(&r, "x-test", 6);
    hb_int(&r, 0x00, 7, 100); /* a 100-byte value of which 3 bytes follow */
    hb_raw(&r, "abc", 3);
    hpack_error_case(c, &r, false);
}

/* x-test with a Huffman value "test" whose padding is malformed in the way given. */
static void huffman_error_case(struct h2c *c, int variant)
{
    struct hblock r = {.len = 0};
    struct bitw w = {.nbits = 0};
    hb_byte(&r, 0x00);
    hb_huffman(&r, "x-test");
    if (variant == 2)
        bits_put(&w, HUFFMAN_EOS, HUFFMAN_EOS_BITS);
    huffman_put(&w, "test");
    if (variant == 0) { /* padding longer than 7 bits: a whole byte of EOS prefix after the last code */
        size_t n = bits_finish(&w, 1);
        w.buf[n] = 0xff;
        w.nbits += 8;
    }
    hb_huffman_bits(&r, &w, variant == 1 ? 0 : 1); /* variant 1: padded with zeros, not the EOS prefix */
    hpack_error_case(c, &r, false);
}

static void case_hpack_huffman_long_padding(struct h2c *c)
{
    huffman_error_case(c, 0);
}

static void case_hpack_huffman_zero_padding(struct h2c *c)
{
    huffman_error_case(c, 1);
}

static void case_hpack_huffman_eos(struct h2c *c)
{
    huffman_error_case(c, 2);
}

/* ================================================================================================ */
/* Defences (--defences). Not RFC requirements: the limits sluice's native HTTP/2 codec keeps       */
/* against floods (README.md's [http] table), at their defaults. Each case stays just within a      */
/* limit (the connection goes on: a PING is answered) and then passes it, sending what exceeds it   */
/* in one write, as an attacker does. A flood may end the connection of the cases marked CASE_FLOOD. */

#define RAPID_RESET_BUDGET  200 /* rapid_reset_budget: client-cancelled streams per 10 s, net of completed */
#define MAX_BLOCK_FRAMES    32  /* max_continuations: frames (HEADERS + CONTINUATION) per field block */
#define MAX_EMPTY_FRAMES    16  /* max_empty_frames: frames in a row that carry nothing */
#define MAX_PRIORITY_FRAMES 100 /* max_priority_frames: PRIORITY frames, as many again per stream opened */
#define MAX_WINDOW_UPDATES  100 /* max_window_update_frames: WINDOW_UPDATEs before we were sent any DATA */
#define HEADER_LIST_SIZE    65536 /* max_header_list_size, when the server's SETTINGS do not say it */
#define CANCELS_PER_WRITE   50    /* rapid-reset: cancelled streams per write, each write acknowledged */
#define NET_ROUNDS          125   /* rapid-reset-net: rounds of 2 cancelled streams and 1 completed one */
#define EXTRA_STREAMS       10    /* concurrency-refused: streams past SETTINGS_MAX_CONCURRENT_STREAMS */
#define AFTER_FLOOD         5     /* goaway-last-stream: requests sent after the flood, in its write */
#define BOMB_NAME           "x-bomb"
#define BOMB_VALUE_LEN      4000 /* one dynamic table entry of 6 + 4000 + 32 bytes, within the 4096 */

/* The one batch the defence cases build their floods in: emptied for each use, freed by main. */
static struct wire_batch flood_batch;

static struct wire_batch *batch(void)
{
    flood_batch.len = 0;
    flood_batch.frames = 0;
    return &flood_batch;
}

/* The batch, then a PING: the connection goes on when the PING is answered with no GOAWAY before it
 * (the server reads in order, so it took every frame of the batch). */
static bool send_expect_alive(struct h2c *c, struct wire_batch *b, const char *what)
{
    uint8_t data[8];
    snprintf((char *)data, sizeof(data), "calm%03u", c->pings_sent++ % 1000);
    data[7] = 0x5a;
    wb_frame(b, FT_PING, 0, 0, data, sizeof(data));
    wb_send(c, b);
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME)
            return fail("expected the connection to go on after %s (our PING answered), got %s", what,
                        got(c, ev));
        if (c->ftype == FT_GOAWAY)
            return fail("expected the connection to go on after %s (our PING answered), got %s", what,
                        c->last);
        if (c->ftype == FT_PING && (c->fflags & FLAG_ACK) && c->flen == 8 && memcmp(c->fpay, data, 8) == 0)
            return true;
    }
}

/* The batch; then GOAWAY ENHANCE_YOUR_CALM and the close. */
static bool send_expect_calm(struct h2c *c, struct wire_batch *b, const char *what)
{
    wb_send(c, b);
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_FRAME && c->ftype != FT_GOAWAY)
            continue;
        if (ev == EV_FRAME && c->goaway_code == ENHANCE_YOUR_CALM)
            return expect_close_after_goaway(c);
        return fail("expected GOAWAY ENHANCE_YOUR_CALM and the close after %s, got %s", what,
                    ev == EV_FRAME ? c->last : got(c, ev));
    }
}

/* n POSTs to the echo path, each cancelled (RST_STREAM CANCEL) before its body: streams the server
 * cannot have answered whole, so each is a cancel. Returns the next stream id. */
static uint32_t wb_cancelled_posts(struct wire_batch *b, uint32_t id, unsigned n)
{
    struct hblock post = {.len = 0};
    uint8_t cancel[4];
    hb_request(&post, "POST", opt.echo_path);
    put32(cancel, CANCEL);
    for (unsigned i = 0; i < n; i++, id += 2) {
        wb_frame(b, FT_HEADERS, FLAG_END_HEADERS, id, post.buf, post.len);
        wb_frame(b, FT_RST_STREAM, 0, id, cancel, sizeof(cancel));
    }
    return id;
}

/* The field block blk as HEADERS and CONTINUATIONs, nframes frames of at least one byte each;
 * END_HEADERS on the last when end_headers. */
static void wb_block(struct wire_batch *b, uint32_t stream, uint8_t flags, const struct hblock *blk,
                     unsigned nframes, bool end_headers)
{
    size_t per = blk->len / nframes, off = 0;
    for (unsigned i = 0; i < nframes; i++) {
        bool last = i + 1 == nframes;
        size_t n = last ? blk->len - off : per;
        uint8_t end = last && end_headers ? FLAG_END_HEADERS : 0;
        if (i == 0)
            wb_frame(b, FT_HEADERS, flags | end, stream, blk->buf, n);
        else
            wb_frame(b, FT_CONTINUATION, end, stream, blk->buf + off, n);
        off += n;
    }
}

static void wb_priorities(struct wire_batch *b, uint32_t stream, unsigned n)
{
    uint8_t prio[5];
    put32(prio, 0);
    prio[4] = 15;
    for (unsigned i = 0; i < n; i++)
        wb_frame(b, FT_PRIORITY, 0, stream, prio, sizeof(prio));
}

/* n cancelled streams from *id on, CANCELS_PER_WRITE to a write, each write's PING answered before the
 * next: well under SETTINGS_MAX_CONCURRENT_STREAMS per read, whatever a server counts as open. */
static bool cancel_streams(struct h2c *c, uint32_t *id, unsigned n)
{
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done < CANCELS_PER_WRITE ? n - done : CANCELS_PER_WRITE;
        struct wire_batch *b = batch();
        char what[80];
        *id = wb_cancelled_posts(b, *id, k);
        done += k;
        snprintf(what, sizeof(what), "%u cancelled streams", done);
        if (!send_expect_alive(c, b, what))
            return false;
    }
    return true;
}

static void case_defence_rapid_reset(struct h2c *c)
{
    uint32_t id = 1;
    REQUIRE(cancel_streams(c, &id, RAPID_RESET_BUDGET));
    struct wire_batch *b = batch();
    wb_cancelled_posts(b, id, 1);
    send_expect_calm(c, b, "the 201st cancelled stream");
}

/* The same flood in one write. A stream the client reset is closed (RFC 9113 5.1), and closed streams
 * do not count toward SETTINGS_MAX_CONCURRENT_STREAMS (5.1.2): none may be refused as one too many,
 * and every one is a cancel. */
static void case_defence_rapid_reset_one_write(struct h2c *c)
{
    struct wire_batch *b = batch();
    wb_cancelled_posts(b, 1, RAPID_RESET_BUDGET + 1);
    wb_send(c, b);
    int64_t deadline = deadline_after_timeout();
    for (;;) {
        enum ev ev = pump(c, deadline);
        if (ev == EV_FRAME && c->ftype == FT_RST_STREAM && get32(c->fpay) == REFUSED_STREAM) {
            fail(
                "expected GOAWAY ENHANCE_YOUR_CALM after 201 streams opened and cancelled one by one, got %s "
                "(no stream was open beside it)",
                c->last);
            return;
        }
        if (ev == EV_FRAME && c->ftype != FT_GOAWAY)
            continue;
        if (ev == EV_FRAME && c->goaway_code == ENHANCE_YOUR_CALM) {
            expect_close_after_goaway(c);
            return;
        }
        fail("expected GOAWAY ENHANCE_YOUR_CALM and the close after 201 cancelled streams in one write, got "
             "%s",
             ev == EV_FRAME ? c->last : got(c, ev));
        return;
    }
}

/* The budget counts cancels net of the streams answered whole: a client that cancels some of its
 * streams but lets more finish is not flooding. Each round's answer is awaited, so that it counts
 * before the next round's cancels. */
static void case_defence_rapid_reset_net(struct h2c *c)
{
    struct hblock get = {.len = 0};
    hb_request(&get, "GET", opt.path);
    uint32_t id = 1;
    for (unsigned round = 0; round < NET_ROUNDS; round++) {
        struct wire_batch *b = batch();
        id = wb_cancelled_posts(b, id, 2);
        wb_frame(b, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, id, get.buf, get.len);
        wb_send(c, b);
        if (!expect_ok(c, id)) {
            fail_context(" (in round %u of %u: %u streams cancelled, %u answered)", round + 1, NET_ROUNDS,
                         2 * (round + 1), round);
            return;
        }
        stream_forget(c, id);
        id += 2;
    }
    send_expect_alive(c, batch(), "250 cancelled streams and 125 answered ones, in turn");
}

static void case_defence_continuation_frames(struct h2c *c)
{
    struct hblock blk = {.len = 0};
    char filler[128];
    memset(filler, 'f', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    hb_request(&blk, "GET", opt.path);
    hb_field(&blk, "x-filler", filler); /* room for a non-empty fragment in each frame */
    struct wire_batch *b = batch();
    wb_block(b, 1, FLAG_END_STREAM, &blk, MAX_BLOCK_FRAMES, true);
    wb_send(c, b);
    REQUIRE(expect_ok(c, 1));
    wb_block(b, 3, FLAG_END_STREAM, &blk, MAX_BLOCK_FRAMES + 1, false);
    send_expect_calm(c, b, "a field block's 33rd frame (HEADERS and 32 CONTINUATION)");
}

static void case_defence_continuation_bytes(struct h2c *c)
{
    static struct hblock blk;
    blk.len = 0;
    hb_request(&blk, "GET", opt.path);
    hb_dummies(&blk, 3); /* 12 KB: under a frame's 16 KiB; six of them pass the limit */
    struct wire_batch *b = batch();
    wb_frame(b, FT_HEADERS, FLAG_END_STREAM, 1, blk.buf, blk.len);
    for (int i = 0; i < 5; i++) /* the same bytes again: the limit is hit before anything is decoded */
        wb_frame(b, FT_CONTINUATION, 0, 1, blk.buf, blk.len);
    char what[100];
    snprintf(what, sizeof(what), "%zu bytes of field block in HEADERS and 5 CONTINUATION", 6 * blk.len);
    send_expect_calm(c, b, what);
}

static void case_defence_empty_data(struct h2c *c)
{
    send_post(c, 1, false);
    struct wire_batch *b = batch();
    for (int i = 0; i < MAX_EMPTY_FRAMES; i++)
        wb_frame(b, FT_DATA, 0, 1, NULL, 0);
    REQUIRE(send_expect_alive(c, b, "16 empty DATA frames"));
    for (int i = 0; i <= MAX_EMPTY_FRAMES; i++)
        wb_frame(b, FT_DATA, 0, 1, NULL, 0);
    send_expect_calm(c, b, "17 empty DATA frames in a row");
}

static void case_defence_empty_fragments(struct h2c *c)
{
    struct hblock blk = {.len = 0};
    hb_request(&blk, "GET", opt.path);
    struct wire_batch *b = batch();
    wb_frame(b, FT_HEADERS, FLAG_END_STREAM, 1, NULL, 0);
    for (int i = 1; i < MAX_EMPTY_FRAMES; i++)
        wb_frame(b, FT_CONTINUATION, 0, 1, NULL, 0);
    wb_frame(b, FT_CONTINUATION, FLAG_END_HEADERS, 1, blk.buf, blk.len);
    wb_send(c, b);
    REQUIRE(expect_ok(c, 1)); /* 16 empty fragments, then the block */
    wb_frame(b, FT_HEADERS, 0, 3, NULL, 0);
    for (int i = 0; i < MAX_EMPTY_FRAMES; i++)
        wb_frame(b, FT_CONTINUATION, 0, 3, NULL, 0);
    send_expect_calm(c, b, "17 empty field block fragments in a row");
}

static void case_defence_priority(struct h2c *c)
{
    struct wire_batch *b = batch();
    wb_priorities(b, 1, MAX_PRIORITY_FRAMES);
    REQUIRE(send_expect_alive(c, b, "100 PRIORITY frames"));
    send_get(c, 1, opt.path);
    REQUIRE(expect_ok(c, 1));
    wb_priorities(b, 1, MAX_PRIORITY_FRAMES); /* one stream opened: as many again */
    REQUIRE(send_expect_alive(c, b, "200 PRIORITY frames and one stream"));
    wb_priorities(b, 1, 1);
    send_expect_calm(c, b, "the 201st PRIORITY frame with one stream");
}

static void case_defence_window_update(struct h2c *c)
{
    uint8_t one[4];
    put32(one, 1);
    struct wire_batch *b = batch();
    for (int i = 0; i < MAX_WINDOW_UPDATES; i++)
        wb_frame(b, FT_WINDOW_UPDATE, 0, 0, one, sizeof(one));
    REQUIRE(send_expect_alive(c, b, "100 WINDOW_UPDATE frames"));
    wb_frame(b, FT_WINDOW_UPDATE, 0, 0, one, sizeof(one));
    send_expect_calm(c, b, "the 101st WINDOW_UPDATE frame with no DATA sent to us");
}

static void case_defence_concurrency_refused(struct h2c *c)
{
    if (!c->has_max_concurrent) {
        fail("expected SETTINGS_MAX_CONCURRENT_STREAMS in the server's SETTINGS, got none");
        return;
    }
    uint32_t max = c->max_concurrent;
    if (max + EXTRA_STREAMS >= MAX_STREAMS) {
        skip("SETTINGS_MAX_CONCURRENT_STREAMS is %u; this suite opens at most %d streams", max,
             MAX_STREAMS - 1);
        return;
    }
    /* POSTs whose bodies have not come: every stream admitted stays open. */
    struct hblock post = {.len = 0};
    hb_request(&post, "POST", opt.echo_path);
    struct wire_batch *b = batch();
    uint32_t last_admitted = 2 * max - 1, last = 2 * (max + EXTRA_STREAMS) - 1;
    for (uint32_t id = 1; id <= last; id += 2) {
        stream_get(c, id);
        wb_frame(b, FT_HEADERS, FLAG_END_HEADERS, id, post.buf, post.len);
    }
    wb_send(c, b);
    int64_t deadline = deadline_after_timeout();
    for (unsigned refused = 0; refused < EXTRA_STREAMS;) {
        enum ev ev = pump(c, deadline);
        if (ev != EV_FRAME) {
            fail("expected RST_STREAM REFUSED_STREAM on streams %u to %u, got %s (%u so far)",
                 last_admitted + 2, last, got(c, ev), refused);
            return;
        }
        if (c->ftype == FT_GOAWAY) {
            fail("expected RST_STREAM REFUSED_STREAM on streams %u to %u, got %s", last_admitted + 2, last,
                 c->last);
            return;
        }
        if (c->ftype != FT_RST_STREAM)
            continue;
        uint32_t id = c->fstream & MAX_WINDOW;
        if (id <= last_admitted || get32(c->fpay) != REFUSED_STREAM) {
            fail("expected RST_STREAM REFUSED_STREAM on streams %u to %u only, got %s", last_admitted + 2,
                 last, c->last);
            return;
        }
        refused++;
    }
    /* The admitted ones are answered once their bodies come; the refused ones never are. */
    for (uint32_t id = 1; id <= last_admitted; id += 2)
        wb_frame(b, FT_DATA, FLAG_END_STREAM, id, "x", 1);
    wb_send(c, b);
    for (uint32_t id = 1; id <= last_admitted; id += 2)
        REQUIRE(expect_echo(c, id, "x", 1));
    for (uint32_t id = last_admitted + 2; id <= last; id += 2)
        if (stream_get(c, id)->status) {
            fail("expected no response on refused stream %u, got :status %d", id, stream_get(c, id)->status);
            return;
        }
    send_get(c, last + 2, opt.path);
    expect_ok(c, last + 2);
}

/* A field block of references to one large dynamic table entry decodes to far more than it weighs:
 * past SETTINGS_MAX_HEADER_LIST_SIZE the request is answered 431, and the connection goes on with its
 * table in step. */
static void case_defence_large_block(struct h2c *c)
{
    static struct hblock blk;
    blk.len = 0;
    hb_request(&blk, "GET", opt.path);
    hb_dummies(&blk, 5); /* 20 KB: within SETTINGS_MAX_HEADER_LIST_SIZE, past one 16 KiB frame */
    struct wire_batch *b = batch();
    wb_block(b, 1, FLAG_END_STREAM, &blk, 2, true);
    wb_send(c, b);
    REQUIRE(expect_response(c, 1, -1, -1));
    send_get(c, 3, opt.path);
    expect_ok(c, 3);
}

static void case_defence_hpack_bomb(struct h2c *c)
{
    static char value[BOMB_VALUE_LEN];
    memset(value, 'b', sizeof(value));
    size_t entry = strlen(BOMB_NAME) + sizeof(value) + 32; /* RFC 7541 4.1 */
    if (c->header_table_size < entry) {
        skip("SETTINGS_HEADER_TABLE_SIZE is %u; the bomb needs an entry of %zu bytes", c->header_table_size,
             entry);
        return;
    }
    uint32_t list = c->has_max_header_list ? c->max_header_list : HEADER_LIST_SIZE;
    size_t refs = list / entry + 2;

    struct hblock b = {.len = 0};
    hb_request(&b, "GET", opt.path);
    hb_byte(&b, 0x40); /* literal with incremental indexing, new name: dynamic table index 62 */
    hb_str(&b, BOMB_NAME, strlen(BOMB_NAME));
    hb_str(&b, value, sizeof(value));
    send_headers(c, 1, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    REQUIRE(expect_ok(c, 1));

    b.len = 0;
    hb_request(&b, "GET", opt.path);
    for (size_t i = 0; i < refs; i++)
        hb_indexed(&b, 62);
    send_headers(c, 3, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    REQUIRE(expect_response(c, 3, 431, -1));

    b.len = 0;
    hb_request(&b, "GET", opt.path);
    hb_indexed(&b, 62);
    send_headers(c, 5, FLAG_END_STREAM | FLAG_END_HEADERS, &b);
    expect_ok(c, 5);
}

/* A flood's GOAWAY names the last stream the server took; requests sent after the flood, in the same
 * write, lie above it and get no handler (no response). */
static void case_defence_goaway_last_stream(struct h2c *c)
{
    struct hblock get = {.len = 0};
    hb_request(&get, "GET", opt.path);
    uint32_t id = 1;
    REQUIRE(cancel_streams(c, &id, RAPID_RESET_BUDGET));
    struct wire_batch *b = batch();
    uint32_t first_after = wb_cancelled_posts(b, id, 1);
    for (uint32_t i = 0, after = first_after; i < AFTER_FLOOD; i++, after += 2)
        wb_frame(b, FT_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, after, get.buf, get.len);
    REQUIRE(send_expect_calm(c, b, "the 201st cancelled stream and 5 requests"));
    if (c->goaway_last >= first_after) {
        fail("expected GOAWAY's last stream below %u (the first request after the flood), got %u",
             first_after, c->goaway_last);
        return;
    }
    for (size_t i = 0; i < c->nstreams; i++)
        if (c->streams[i].id > c->goaway_last && (c->streams[i].status || c->streams[i].data_frames)) {
            fail("expected no response above GOAWAY's last stream %u, got one on stream %u", c->goaway_last,
                 c->streams[i].id);
            return;
        }
}

/* ================================================================================================ */
/* The table: section (RFC 9113, or hpack-SECTION for RFC 7541), what the case sends, what the RFC  */
/* requires. Cases are numbered within their section in this order: "6.9.1/2 ..."; a section that  */
/* names its case ("8.1/trailers-get") takes no number.                                             */

#define CASE_RAW        1u /* the case does the connection preface itself */
#define CASE_DEFENCE    2u /* a defence case: run only with --defences */
#define CASE_FLOOD      4u /* a flood may end its connection: from the next --flood-sources address */
#define CASE_TLS        8u /* about what TLS negotiated: run only with --tls */
#define MAX_UNREACHABLE 5  /* cases in a row without a connection or handshake: the server is gone */

struct h2_case {
    const char *section;
    const char *name;
    const char *requires;
    void (*run)(struct h2c *c);
    unsigned flags;
};

#define CONN_ERR(code)   "connection error " code
#define STREAM_ERR(code) "stream error " code

static const struct h2_case cases[] = {
    {"3.4", "sends the client connection preface", "SETTINGS is the server's first frame",
     case_preface_first_frame_is_settings, CASE_RAW},
    {"3.4", "sends an invalid connection preface", "the connection closes", case_preface_invalid, CASE_RAW},
    {"3.4", "sends a preface whose first frame is not SETTINGS", CONN_ERR("PROTOCOL_ERROR"),
     case_preface_without_settings, CASE_RAW},
    {"3.4", "sends the preface one byte at a time", "handshake and response", case_preface_byte_by_byte,
     CASE_RAW},
    {"3.4/alpn-h2-http1-request", "sends an HTTP/1.1 request on a TLS connection that negotiated h2",
     CONN_ERR("PROTOCOL_ERROR") ": the close (GOAWAY optional), no HTTP/1.1 reply", case_tls_http1_request,
     CASE_RAW | CASE_TLS},

    {"4.1", "sends a frame of unknown type", "ignored; PING answered", case_unknown_frame_type, 0},
    {"4.1", "sends PING with undefined flags", "flags ignored; PING answered", case_undefined_flags_ping, 0},
    {"4.1", "sends PING with the reserved stream bit set", "bit ignored; PING answered",
     case_reserved_bit_ping, 0},
    {"4.1", "sends a frame of unknown type on an open stream", "ignored; echo",
     case_unknown_frame_on_open_stream, 0},
    {"4.1", "sends HEADERS with undefined flags", "flags ignored; response", case_undefined_flags_headers, 0},
    {"4.1", "sends DATA with undefined flags", "flags ignored; echo", case_undefined_flags_data, 0},

    {"4.2", "sends DATA of 2^14 octets", "accepted; echo", case_data_max_frame_size, 0},
    {"4.2", "sends DATA over SETTINGS_MAX_FRAME_SIZE", STREAM_ERR("FRAME_SIZE_ERROR"),
     case_data_over_max_frame_size, 0},
    {"4.2", "sends HEADERS over SETTINGS_MAX_FRAME_SIZE", CONN_ERR("FRAME_SIZE_ERROR"),
     case_headers_over_max_frame_size, 0},
    {"4.2", "sends SETTINGS over SETTINGS_MAX_FRAME_SIZE", CONN_ERR("FRAME_SIZE_ERROR"),
     case_settings_over_max_frame_size, 0},
    {"4.2", "sends an unknown frame over SETTINGS_MAX_FRAME_SIZE on stream 0", CONN_ERR("FRAME_SIZE_ERROR"),
     case_unknown_over_max_frame_size, 0},
    {"4.2", "sends CONTINUATION over SETTINGS_MAX_FRAME_SIZE", CONN_ERR("FRAME_SIZE_ERROR"),
     case_continuation_over_max_frame_size, 0},

    {"4.3", "sends an invalid field block fragment", CONN_ERR("COMPRESSION_ERROR"), case_invalid_field_block,
     0},
    {"4.3", "sends PRIORITY inside a field block", CONN_ERR("PROTOCOL_ERROR"),
     case_priority_inside_field_block, 0},
    {"4.3", "sends HEADERS on another stream inside a field block", CONN_ERR("PROTOCOL_ERROR"),
     case_headers_other_stream_inside_field_block, 0},
    {"4.3", "sends DATA inside a field block", CONN_ERR("PROTOCOL_ERROR"), case_data_inside_field_block, 0},
    {"4.3", "splits a field block in the middle of a field", "response", case_field_block_split_mid_field, 0},
    {"4.3", "uses a dynamic table entry added on an earlier stream", "response",
     case_dynamic_table_across_streams, 0},

    {"5.1", "idle: sends DATA", CONN_ERR("PROTOCOL_ERROR"), case_idle_data, 0},
    {"5.1", "idle: sends RST_STREAM", CONN_ERR("PROTOCOL_ERROR"), case_idle_rst_stream, 0},
    {"5.1", "idle: sends WINDOW_UPDATE", CONN_ERR("PROTOCOL_ERROR"), case_idle_window_update, 0},
    {"5.1", "idle: sends CONTINUATION", CONN_ERR("PROTOCOL_ERROR"), case_idle_continuation, 0},
    {"5.1", "idle: sends PRIORITY", "accepted; PING answered", case_idle_priority, 0},
    {"5.1", "idle: sends WINDOW_UPDATE on a stream the server never reserved", CONN_ERR("PROTOCOL_ERROR"),
     case_idle_server_stream_window_update, 0},
    {"5.1", "open: sends WINDOW_UPDATE", "accepted; echo", case_open_window_update, 0},
    {"5.1", "open: sends PRIORITY", "accepted; echo", case_open_priority, 0},
    {"5.1", "open: sends RST_STREAM, then a new request", "response on the new stream",
     case_open_rst_then_new_stream, 0},
    {"5.1", "half-closed (remote): sends DATA", STREAM_ERR("STREAM_CLOSED"), case_half_closed_data, 0},
    {"5.1", "half-closed (remote): sends HEADERS", STREAM_ERR("STREAM_CLOSED"), case_half_closed_headers, 0},
    {"5.1", "half-closed (remote): sends CONTINUATION", STREAM_ERR("STREAM_CLOSED or PROTOCOL_ERROR"),
     case_half_closed_continuation, 0},
    {"5.1", "half-closed (remote): sends WINDOW_UPDATE", "accepted; DATA flows",
     case_half_closed_window_update, 0},
    {"5.1", "half-closed (remote): sends PRIORITY", "accepted; DATA flows", case_half_closed_priority, 0},
    {"5.1", "half-closed (remote): sends RST_STREAM", "accepted; PING answered", case_half_closed_rst_stream,
     0},
    {"5.1", "closed: sends DATA after RST_STREAM", STREAM_ERR("STREAM_CLOSED"), case_closed_after_rst_data,
     0},
    {"5.1", "closed: sends HEADERS after RST_STREAM", STREAM_ERR("STREAM_CLOSED"),
     case_closed_after_rst_headers, 0},
    {"5.1", "closed: sends CONTINUATION after RST_STREAM", STREAM_ERR("STREAM_CLOSED or PROTOCOL_ERROR"),
     case_closed_after_rst_continuation, 0},
    {"5.1", "closed: sends DATA after both END_STREAMs", STREAM_ERR("STREAM_CLOSED"), case_closed_data, 0},
    {"5.1", "closed: sends HEADERS after both END_STREAMs", CONN_ERR("STREAM_CLOSED or PROTOCOL_ERROR"),
     case_closed_headers, 0},
    {"5.1", "closed: sends CONTINUATION after both END_STREAMs", CONN_ERR("STREAM_CLOSED or PROTOCOL_ERROR"),
     case_closed_continuation, 0},
    {"5.1", "closed: sends PRIORITY", "accepted; PING answered", case_closed_priority, 0},
    {"5.1", "closed: sends WINDOW_UPDATE just after the stream closed", "ignored; PING answered",
     case_closed_window_update, 0},
    {"5.1", "closed: sends RST_STREAM just after the stream closed", "ignored; PING answered",
     case_closed_rst_stream, 0},

    {"5.1.1", "sends an even-numbered stream identifier", CONN_ERR("PROTOCOL_ERROR"), case_even_stream_id, 0},
    {"5.1.1", "sends a stream identifier smaller than the previous one", CONN_ERR("PROTOCOL_ERROR"),
     case_smaller_stream_id, 0},
    {"5.1.1", "sends HEADERS twice on a half-closed (remote) stream", STREAM_ERR("STREAM_CLOSED"),
     case_reuse_half_closed_stream, 0},
    {"5.1.1", "skips stream identifiers", "responses", case_skipped_stream_ids, 0},
    {"5.1.1", "sends DATA on a stream implicitly closed by a higher one", STREAM_ERR("STREAM_CLOSED"),
     case_data_on_implicitly_closed_stream, 0},
    {"5.1.1", "uses the largest stream identifier 2^31-1", "response", case_largest_stream_id, 0},
    {"5.1.1", "sends HEADERS with the reserved stream bit set", "bit ignored; response",
     case_reserved_bit_stream_id, 0},

    {"5.1.2", "exceeds SETTINGS_MAX_CONCURRENT_STREAMS", STREAM_ERR("PROTOCOL_ERROR or REFUSED_STREAM"),
     case_exceed_max_concurrent_streams, 0},

    {"5.3", "sends PRIORITY with weight 1", "response", case_priority_weight_1, 0},
    {"5.3", "sends PRIORITY with weight 256", "response", case_priority_weight_256, 0},
    {"5.3", "sends PRIORITY with a stream dependency", "response", case_priority_dependency, 0},
    {"5.3", "sends PRIORITY with the exclusive flag", "response", case_priority_exclusive, 0},
    {"5.3", "sends HEADERS depending on a stream that never existed", "response",
     case_headers_depends_on_missing_stream, 0},
    {"5.3.1", "sends HEADERS that depends on itself", STREAM_ERR("PROTOCOL_ERROR"),
     case_headers_depends_on_itself, 0},
    {"5.3.1", "sends PRIORITY that depends on itself", STREAM_ERR("PROTOCOL_ERROR"),
     case_priority_depends_on_itself, 0},

    {"5.4.1", "sends an invalid PING: the connection closes", "the connection closes",
     case_connection_error_closes, 0},
    {"5.4.1", "sends an invalid PING: GOAWAY comes first (SHOULD)", "GOAWAY PROTOCOL_ERROR, then close",
     case_connection_error_goaway_first, 0},
    {"5.4.1", "sends an invalid PING after a request: GOAWAY names that stream (SHOULD)",
     "GOAWAY with last stream 1", case_goaway_last_stream_id, 0},
    {"5.4.2", "causes a stream error, then sends a new request", "RST_STREAM, then a response",
     case_stream_error_keeps_connection, 0},

    {"5.5", "sends an unknown extension frame", "ignored; PING answered", case_unknown_extension_frame, 0},
    {"5.5", "sends an unknown extension frame inside a field block", CONN_ERR("PROTOCOL_ERROR"),
     case_unknown_frame_inside_field_block, 0},

    {"6.1", "sends DATA on stream 0", CONN_ERR("PROTOCOL_ERROR"), case_data_stream_0, 0},
    {"6.1", "sends DATA on a half-closed (remote) stream", STREAM_ERR("STREAM_CLOSED"), case_data_half_closed,
     0},
    {"6.1", "sends DATA with a pad length past the payload", CONN_ERR("PROTOCOL_ERROR"),
     case_data_invalid_pad_length, 0},
    {"6.1", "sends padded DATA", "padding dropped; echo", case_data_padded, 0},
    {"6.1", "sends DATA that is all padding", "accepted; echo", case_data_all_padding, 0},
    {"6.1", "sends padded DATA too short for its Pad Length", CONN_ERR("FRAME_SIZE_ERROR or PROTOCOL_ERROR"),
     case_data_padded_empty, 0},
    {"6.1", "sends one DATA frame", "echo", case_data_single, 0},
    {"6.1", "sends several DATA frames", "echo", case_data_multiple, 0},
    {"6.1", "ends a request with an empty DATA frame", "echo", case_data_empty_end_stream, 0},

    {"6.2", "sends PING inside a field block", CONN_ERR("PROTOCOL_ERROR"), case_ping_inside_field_block, 0},
    {"6.2", "sends HEADERS on stream 0", CONN_ERR("PROTOCOL_ERROR"), case_headers_stream_0, 0},
    {"6.2", "sends HEADERS with a pad length past the payload", STREAM_ERR("PROTOCOL_ERROR"),
     case_headers_invalid_pad_length, 0},
    {"6.2", "sends HEADERS", "response", case_headers_plain, 0},
    {"6.2", "sends padded HEADERS", "response", case_headers_padded, 0},
    {"6.2", "sends HEADERS with priority", "response", case_headers_priority, 0},
    {"6.2", "sends padded HEADERS with priority", "response", case_headers_padded_priority, 0},
    {"6.2", "sends HEADERS with the PRIORITY flag too short for its fields", CONN_ERR("FRAME_SIZE_ERROR"),
     case_headers_priority_too_short, 0},
    {"6.2", "sends padded HEADERS too short for its Pad Length",
     CONN_ERR("FRAME_SIZE_ERROR or PROTOCOL_ERROR"), case_headers_padded_empty, 0},

    {"6.3", "sends PRIORITY on stream 0", CONN_ERR("PROTOCOL_ERROR"), case_priority_stream_0, 0},
    {"6.3", "sends PRIORITY of 4 octets", STREAM_ERR("FRAME_SIZE_ERROR"), case_priority_bad_length, 0},
    {"6.3", "sends PRIORITY of 6 octets on an idle stream", STREAM_ERR("FRAME_SIZE_ERROR"),
     case_priority_bad_length_idle, 0},
    {"6.3", "sends PRIORITY for an idle stream, then HEADERS on a lower one", "response",
     case_priority_idle_then_lower, 0},

    {"6.4", "sends RST_STREAM on stream 0", CONN_ERR("PROTOCOL_ERROR"), case_rst_stream_0, 0},
    {"6.4", "sends RST_STREAM on an idle stream", CONN_ERR("PROTOCOL_ERROR"), case_rst_idle, 0},
    {"6.4", "sends RST_STREAM of 3 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_rst_bad_length, 0},
    {"6.4", "cancels a response in flight", "no more DATA on it; other streams go on",
     case_rst_cancels_response, 0},

    {"6.5", "sends SETTINGS ACK with a payload", CONN_ERR("FRAME_SIZE_ERROR"), case_settings_ack_with_payload,
     0},
    {"6.5", "sends SETTINGS on stream 1", CONN_ERR("PROTOCOL_ERROR"), case_settings_on_stream, 0},
    {"6.5", "sends SETTINGS of 8 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_settings_bad_length, 0},
    {"6.5", "sends SETTINGS with values", "SETTINGS ACK", case_settings_values, 0},
    {"6.5", "sends empty SETTINGS", "SETTINGS ACK", case_settings_empty, 0},

    {"6.5.2", "sends SETTINGS_ENABLE_PUSH 2", CONN_ERR("PROTOCOL_ERROR"), case_enable_push_2, 0},
    {"6.5.2", "sends SETTINGS_INITIAL_WINDOW_SIZE 2^31", CONN_ERR("FLOW_CONTROL_ERROR"),
     case_initial_window_too_large, 0},
    {"6.5.2", "sends SETTINGS_MAX_FRAME_SIZE 2^14-1", CONN_ERR("PROTOCOL_ERROR"),
     case_max_frame_size_too_small, 0},
    {"6.5.2", "sends SETTINGS_MAX_FRAME_SIZE 2^24", CONN_ERR("PROTOCOL_ERROR"), case_max_frame_size_too_large,
     0},
    {"6.5.2", "sends an unknown setting", "ignored; SETTINGS ACK", case_unknown_setting, 0},
    {"6.5.2", "sends SETTINGS_MAX_FRAME_SIZE 2^24-1 and 2^14", "SETTINGS ACK; response",
     case_max_frame_size_bounds, 0},
    {"6.5.2", "sends SETTINGS_HEADER_TABLE_SIZE 0", "responses decode with no dynamic table",
     case_header_table_size_0, 0},
    {"6.5.2", "sends SETTINGS_MAX_CONCURRENT_STREAMS 0", "our requests still answered",
     case_max_concurrent_streams_0, 0},
    {"6.5.2", "sends SETTINGS_ENABLE_PUSH 1 then 0", "SETTINGS ACK", case_enable_push_0_and_1, 0},

    {"6.5.3", "sends SETTINGS_INITIAL_WINDOW_SIZE 100 then 1 in one frame", "DATA of 1 octet",
     case_settings_processed_in_order, 0},
    {"6.5.3", "sends SETTINGS", "SETTINGS ACK", case_settings_acknowledged, 0},

    {"6.7", "sends PING", "PING ACK with the same payload", case_ping, 0},
    {"6.7", "sends PING ACK", "not answered", case_ping_ack_not_answered, 0},
    {"6.7", "sends PING on stream 1", CONN_ERR("PROTOCOL_ERROR"), case_ping_on_stream, 0},
    {"6.7", "sends PING of 6 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_ping_short, 0},
    {"6.7", "sends PING of 16 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_ping_long, 0},
    {"6.7", "sends ten PINGs at once", "ten PING ACKs in order", case_ping_burst, 0},

    {"6.8", "sends GOAWAY on stream 1", CONN_ERR("PROTOCOL_ERROR"), case_goaway_on_stream, 0},
    {"6.8", "sends GOAWAY of 4 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_goaway_short, 0},
    {"6.8", "sends GOAWAY with a request in flight", "the request is answered", case_goaway_in_flight, 0},

    {"6.9", "sends WINDOW_UPDATE of 0 on the connection", CONN_ERR("PROTOCOL_ERROR"),
     case_window_update_0_connection, 0},
    {"6.9", "sends WINDOW_UPDATE of 0 on a stream", STREAM_ERR("PROTOCOL_ERROR"), case_window_update_0_stream,
     0},
    {"6.9", "sends WINDOW_UPDATE of 3 octets", CONN_ERR("FRAME_SIZE_ERROR"), case_window_update_bad_length,
     0},
    {"6.9", "sends WINDOW_UPDATE of 5 octets on a stream", CONN_ERR("FRAME_SIZE_ERROR"),
     case_window_update_bad_length_stream, 0},
    {"6.9", "sends WINDOW_UPDATE on the connection", "accepted; PING answered", case_window_update_connection,
     0},
    {"6.9", "sends WINDOW_UPDATE on a stream", "accepted; echo", case_window_update_stream, 0},
    {"6.9", "sends WINDOW_UPDATE with the reserved bit set", "bit ignored; PING answered",
     case_window_update_reserved_bit, 0},

    {"6.9.1", "sends SETTINGS_INITIAL_WINDOW_SIZE 1, then a request", "DATA of 1 octet",
     case_initial_window_1, 0},
    {"6.9.1", "sends too large a WINDOW_UPDATE on the connection", "GOAWAY FLOW_CONTROL_ERROR",
     case_connection_window_overflow, 0},
    {"6.9.1", "sends too large a WINDOW_UPDATE on a stream", "RST_STREAM FLOW_CONTROL_ERROR",
     case_stream_window_overflow, 0},

    {"6.9.2", "changes SETTINGS_INITIAL_WINDOW_SIZE after HEADERS", "DATA of 1 octet",
     case_initial_window_change_after_headers, 0},
    {"6.9.2", "makes a stream window negative", "DATA of 1 octet once positive", case_negative_window, 0},
    {"6.9.2/body-ends", "makes a stream window negative, then ends the request body", "the echo, ended",
     case_negative_window_body_ends, 0},
    {"6.9.2", "changes SETTINGS_INITIAL_WINDOW_SIZE so a window passes 2^31-1",
     CONN_ERR("FLOW_CONTROL_ERROR"), case_initial_window_change_overflows_stream, 0},

    {"6.10", "sends multiple CONTINUATION frames", "response", case_continuation_multiple, 0},
    {"6.10", "sends one CONTINUATION frame", "response", case_continuation_single, 0},
    {"6.10", "sends an empty CONTINUATION frame", "response", case_continuation_empty, 0},
    {"6.10", "sends CONTINUATION followed by DATA", CONN_ERR("PROTOCOL_ERROR"), case_continuation_then_data,
     0},
    {"6.10", "sends CONTINUATION on stream 0", CONN_ERR("PROTOCOL_ERROR"), case_continuation_stream_0, 0},
    {"6.10", "sends CONTINUATION on another stream", CONN_ERR("PROTOCOL_ERROR"),
     case_continuation_other_stream, 0},
    {"6.10", "sends CONTINUATION after HEADERS with END_HEADERS", CONN_ERR("PROTOCOL_ERROR"),
     case_continuation_after_end_headers, 0},
    {"6.10", "sends CONTINUATION after CONTINUATION with END_HEADERS", CONN_ERR("PROTOCOL_ERROR"),
     case_continuation_after_ended_continuation, 0},
    {"6.10", "sends CONTINUATION after DATA", CONN_ERR("PROTOCOL_ERROR"), case_continuation_after_data, 0},

    {"7", "sends GOAWAY with an unknown error code", "no special behaviour", case_goaway_unknown_code, 0},
    {"7", "sends RST_STREAM with an unknown error code", "no special behaviour; PING answered",
     case_rst_unknown_code, 0},

    {"8.1", "sends GET", ":status 200 with a body", case_get, 0},
    {"8.1", "sends HEAD", ":status 200 with no body", case_head, 0},
    {"8.1", "sends POST with content-length", "echo", case_post, 0},
    {"8.1", "sends POST with trailers", "echo", case_post_trailers, 0},
    {"8.1", "sends trailers without END_STREAM", STREAM_ERR("PROTOCOL_ERROR"),
     case_trailers_without_end_stream, 0},
    {"8.1", "asks for a 100000-octet response", ":status 200 with 100000 octets", case_large_response, 0},
    {"8.1", "sends five requests at once", "five responses", case_concurrent_requests, 0},
    {"8.1", "interleaves two request bodies", "two echoes", case_interleaved_bodies, 0},
    {"8.1/trailers-without-data", "sends POST with trailers and no DATA", "echo of an empty body",
     case_trailers_without_data, 0},
    {"8.1/trailers-continuation", "sends trailers in HEADERS and CONTINUATION, then a request",
     "echo, then a response", case_trailers_continuation, 0},
    {"8.1/trailers-several-data", "sends trailers after three DATA frames", "echo",
     case_trailers_several_data, 0},
    {"8.1/trailers-content-length", "sends content-length 4, 4 octets of DATA and trailers", "echo",
     case_trailers_content_length, 0},
    {"8.1/trailers-short-body", "sends content-length 10, 4 octets of DATA and trailers",
     STREAM_ERR("PROTOCOL_ERROR"), case_trailers_short_body, 0},
    {"8.1/trailers-get", "sends GET without END_STREAM, then trailers", "response", case_trailers_on_get, 0},
    {"8.1/trailers-uppercase", "sends a field name in uppercase in trailers", STREAM_ERR("PROTOCOL_ERROR"),
     case_trailers_uppercase, 0},
    {"8.1/trailers-connection", "sends connection in trailers", STREAM_ERR("PROTOCOL_ERROR"),
     case_trailers_connection_field, 0},
    {"8.1/trailers-content-length-disagrees", "sends 4 octets of DATA, then content-length 5 in trailers",
     STREAM_ERR("PROTOCOL_ERROR"), case_trailers_content_length_disagrees, 0},
    {"8.1/trailers-then-data", "sends DATA after trailers", STREAM_ERR("STREAM_CLOSED"),
     case_data_after_trailers, 0},
    {"8.1.1", "sends content-length 1 with 4 octets of DATA", STREAM_ERR("PROTOCOL_ERROR"),
     case_content_length_mismatch, 0},
    {"8.1.1", "sends content-length 1 with 8 octets in two DATA frames", STREAM_ERR("PROTOCOL_ERROR"),
     case_content_length_mismatch_multiple, 0},
    {"8.1.1", "sends content-length 10 with 4 octets of DATA", STREAM_ERR("PROTOCOL_ERROR"),
     case_content_length_short_body, 0},
    {"8.1.1", "sends content-length 10 with no DATA", STREAM_ERR("PROTOCOL_ERROR"),
     case_content_length_no_body, 0},

    {"8.2", "sends a field name in uppercase", STREAM_ERR("PROTOCOL_ERROR"), case_field_uppercase, 0},
    {"8.2.1", "sends a field name with a space", STREAM_ERR("PROTOCOL_ERROR"), case_field_name_space, 0},
    {"8.2.1", "sends a field name with a colon", STREAM_ERR("PROTOCOL_ERROR"), case_field_name_colon, 0},
    {"8.2.1", "sends a field value with NUL", STREAM_ERR("PROTOCOL_ERROR"), case_field_value_nul, 0},
    {"8.2.1", "sends a field value with LF", STREAM_ERR("PROTOCOL_ERROR"), case_field_value_lf, 0},
    {"8.2.1", "sends a field value with CR", STREAM_ERR("PROTOCOL_ERROR"), case_field_value_cr, 0},
    {"8.2.1", "sends a field value with leading space", STREAM_ERR("PROTOCOL_ERROR"),
     case_field_value_leading_space, 0},
    {"8.2.1", "sends a field value with a trailing tab", STREAM_ERR("PROTOCOL_ERROR"),
     case_field_value_trailing_tab, 0},
    {"8.2.2", "sends connection", STREAM_ERR("PROTOCOL_ERROR"), case_connection_field, 0},
    {"8.2.2", "sends keep-alive", STREAM_ERR("PROTOCOL_ERROR"), case_keep_alive_field, 0},
    {"8.2.2", "sends proxy-connection", STREAM_ERR("PROTOCOL_ERROR"), case_proxy_connection_field, 0},
    {"8.2.2", "sends transfer-encoding", STREAM_ERR("PROTOCOL_ERROR"), case_transfer_encoding_field, 0},
    {"8.2.2", "sends upgrade", STREAM_ERR("PROTOCOL_ERROR"), case_upgrade_field, 0},
    {"8.2.2", "sends TE other than trailers", STREAM_ERR("PROTOCOL_ERROR"), case_te_not_trailers, 0},
    {"8.2.2", "sends TE: trailers", "response", case_te_trailers, 0},

    {"8.3", "sends an unknown pseudo-header", STREAM_ERR("PROTOCOL_ERROR"), case_unknown_pseudo, 0},
    {"8.3", "sends the response pseudo-header :status", STREAM_ERR("PROTOCOL_ERROR"),
     case_response_pseudo_in_request, 0},
    {"8.3", "sends a pseudo-header in trailers", STREAM_ERR("PROTOCOL_ERROR"), case_pseudo_in_trailers, 0},
    {"8.3", "sends a pseudo-header after a regular field", STREAM_ERR("PROTOCOL_ERROR"),
     case_pseudo_after_regular, 0},
    {"8.3.1", "sends an empty :path", STREAM_ERR("PROTOCOL_ERROR"), case_empty_path, 0},
    {"8.3.1", "omits :method", STREAM_ERR("PROTOCOL_ERROR"), case_missing_method, 0},
    {"8.3.1", "omits :scheme", STREAM_ERR("PROTOCOL_ERROR"), case_missing_scheme, 0},
    {"8.3.1", "omits :path", STREAM_ERR("PROTOCOL_ERROR"), case_missing_path, 0},
    {"8.3.1", "duplicates :method", STREAM_ERR("PROTOCOL_ERROR"), case_duplicate_method, 0},
    {"8.3.1", "duplicates :scheme", STREAM_ERR("PROTOCOL_ERROR"), case_duplicate_scheme, 0},
    {"8.3.1", "duplicates :path", STREAM_ERR("PROTOCOL_ERROR"), case_duplicate_path, 0},
    {"8.3.1", "duplicates :authority", STREAM_ERR("PROTOCOL_ERROR"), case_duplicate_authority, 0},

    {"8.4", "sends PUSH_PROMISE", CONN_ERR("PROTOCOL_ERROR"), case_push_promise_from_client, 0},
    {"8.5", "sends CONNECT with :scheme and :path", STREAM_ERR("PROTOCOL_ERROR"),
     case_connect_with_scheme_and_path, 0},
    {"8.5", "sends CONNECT without :authority", STREAM_ERR("PROTOCOL_ERROR"), case_connect_without_authority,
     0},

    {"hpack-6.1", "sends an indexed field", "response", case_hpack_indexed, 0},
    {"hpack-6.2.1", "sends a literal with incremental indexing, indexed name", "response",
     case_hpack_incremental_indexed_name, 0},
    {"hpack-6.2.1", "sends a literal with incremental indexing, indexed name, Huffman", "response",
     case_hpack_incremental_indexed_name_huffman, 0},
    {"hpack-6.2.1", "sends a literal with incremental indexing, new name", "response",
     case_hpack_incremental_new_name, 0},
    {"hpack-6.2.1", "sends a literal with incremental indexing, new name, Huffman", "response",
     case_hpack_incremental_new_name_huffman, 0},
    {"hpack-6.2.2", "sends a literal without indexing, indexed name", "response",
     case_hpack_without_indexing_indexed_name, 0},
    {"hpack-6.2.2", "sends a literal without indexing, indexed name, Huffman", "response",
     case_hpack_without_indexing_indexed_name_huffman, 0},
    {"hpack-6.2.2", "sends a literal without indexing, new name", "response",
     case_hpack_without_indexing_new_name, 0},
    {"hpack-6.2.2", "sends a literal without indexing, new name, Huffman", "response",
     case_hpack_without_indexing_new_name_huffman, 0},
    {"hpack-6.2.3", "sends a literal never indexed, indexed name", "response",
     case_hpack_never_indexed_indexed_name, 0},
    {"hpack-6.2.3", "sends a literal never indexed, indexed name, Huffman", "response",
     case_hpack_never_indexed_indexed_name_huffman, 0},
    {"hpack-6.2.3", "sends a literal never indexed, new name", "response", case_hpack_never_indexed_new_name,
     0},
    {"hpack-6.2.3", "sends a literal never indexed, new name, Huffman", "response",
     case_hpack_never_indexed_new_name_huffman, 0},
    {"hpack-6.3", "sends a dynamic table size update", "response", case_hpack_size_update, 0},
    {"hpack-4.2", "sends two dynamic table size updates", "response", case_hpack_two_size_updates, 0},
    {"hpack-2.3.2", "adds a dynamic table entry and uses it", "response", case_hpack_dynamic_table_entry, 0},
    {"hpack-4.4", "adds an entry larger than the dynamic table", "table emptied; response",
     case_hpack_entry_larger_than_table, 0},
    {"hpack-2.3.3", "sends index 62 with an empty dynamic table", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_index_past_tables, 0},
    {"hpack-2.3.3", "sends index 1000", CONN_ERR("COMPRESSION_ERROR"), case_hpack_index_far_past_tables, 0},
    {"hpack-2.3.3", "sends a literal whose name index is past the tables", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_literal_name_index_past_tables, 0},
    {"hpack-4.3", "uses an entry a size update evicted", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_evicted_entry, 0},
    {"hpack-6.1", "sends index 0", CONN_ERR("COMPRESSION_ERROR"), case_hpack_index_0, 0},
    {"hpack-4.2", "sends a dynamic table size update at the end of a field block",
     CONN_ERR("COMPRESSION_ERROR"), case_hpack_size_update_at_end, 0},
    {"hpack-4.2", "sends a dynamic table size update after a field", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_size_update_after_field, 0},
    {"hpack-6.3", "sends a size update over SETTINGS_HEADER_TABLE_SIZE", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_size_update_over_setting, 0},
    {"hpack-5.1", "sends an index that overflows 64 bits", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_integer_overflow, 0},
    {"hpack-5.1", "sends a string length that overflows 64 bits", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_string_length_overflow, 0},
    {"hpack-5.2", "sends a string longer than the field block", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_string_past_block, 0},
    {"hpack-5.2", "sends a Huffman string with padding longer than 7 bits", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_huffman_long_padding, 0},
    {"hpack-5.2", "sends a Huffman string padded with zeros", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_huffman_zero_padding, 0},
    {"hpack-5.2", "sends a Huffman string containing EOS", CONN_ERR("COMPRESSION_ERROR"),
     case_hpack_huffman_eos, 0},

    {"defence/rapid-reset", "cancels 200 streams, then one more",
     "PING answered; then GOAWAY ENHANCE_YOUR_CALM", case_defence_rapid_reset, CASE_DEFENCE | CASE_FLOOD},
    {"defence/rapid-reset-one-write", "opens and cancels 201 streams one by one, in one write",
     "GOAWAY ENHANCE_YOUR_CALM; no stream refused", case_defence_rapid_reset_one_write,
     CASE_DEFENCE | CASE_FLOOD},
    {"defence/rapid-reset-net", "cancels 250 streams and lets 125 finish, in turn",
     "PING answered, no GOAWAY", case_defence_rapid_reset_net, CASE_DEFENCE | CASE_FLOOD},
    {"defence/continuation-frames", "sends a field block in 32 frames, then one in 33",
     "response; then GOAWAY ENHANCE_YOUR_CALM", case_defence_continuation_frames, CASE_DEFENCE | CASE_FLOOD},
    {"defence/continuation-bytes", "sends a field block past 64 KiB in HEADERS and CONTINUATIONs",
     "GOAWAY ENHANCE_YOUR_CALM", case_defence_continuation_bytes, CASE_DEFENCE | CASE_FLOOD},
    {"defence/empty-data", "sends 16 empty DATA frames, then 17",
     "PING answered; then GOAWAY ENHANCE_YOUR_CALM", case_defence_empty_data, CASE_DEFENCE | CASE_FLOOD},
    {"defence/empty-fragments", "sends 16 empty field block fragments, then 17",
     "response; then GOAWAY ENHANCE_YOUR_CALM", case_defence_empty_fragments, CASE_DEFENCE | CASE_FLOOD},
    {"defence/priority", "sends 100 PRIORITY frames, a request, 100 more, then one more",
     "PING answered twice; then GOAWAY ENHANCE_YOUR_CALM", case_defence_priority, CASE_DEFENCE | CASE_FLOOD},
    {"defence/window-update", "sends 100 WINDOW_UPDATE frames, then one more",
     "PING answered; then GOAWAY ENHANCE_YOUR_CALM", case_defence_window_update, CASE_DEFENCE | CASE_FLOOD},
    {"defence/concurrency-refused", "opens 10 streams past SETTINGS_MAX_CONCURRENT_STREAMS",
     "RST_STREAM REFUSED_STREAM on the 10; the others answered", case_defence_concurrency_refused,
     CASE_DEFENCE},
    {"defence/large-block", "sends a 20 KB field block, within SETTINGS_MAX_HEADER_LIST_SIZE, in two frames",
     "a response (431 at most), the connection kept", case_defence_large_block, CASE_DEFENCE},
    {"defence/hpack-bomb-431", "references a 4 KB table entry past SETTINGS_MAX_HEADER_LIST_SIZE",
     ":status 431; the connection goes on", case_defence_hpack_bomb, CASE_DEFENCE},
    {"defence/goaway-last-stream",
     "sends 5 requests after the stream that makes a rapid reset flood, in its write",
     "GOAWAY ENHANCE_YOUR_CALM below them; none answered", case_defence_goaway_last_stream,
     CASE_DEFENCE | CASE_FLOOD},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* "6.9.1/2 sends too large a WINDOW_UPDATE on a stream": the number counts within the section. A section
 * that names its case ("8.1/trailers-get", "defence/priority") is the case's identifier as it is, and
 * takes no number: the numbered identifiers stay those the reference results list. */
static void case_full_name(size_t i, char *out, size_t size)
{
    if (strchr(cases[i].section, '/')) {
        snprintf(out, size, "%s %s", cases[i].section, cases[i].name);
        return;
    }
    int n = 1;
    for (size_t j = 0; j < i; j++)
        if (strcmp(cases[j].section, cases[i].section) == 0)
            n++;
    snprintf(out, size, "%s/%d %s", cases[i].section, n, cases[i].name);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " --host ADDR --port PORT [--timeout SEC] [--only SUBSTRING] [--list] [--verbose]\n"
        "       [--path /healthz] [--echo-path /echo] [--bytes-path-prefix /bytes/] [--authority HOST:PORT]\n"
        "       [--echo-mode echo|any] [--defences] [--flood-sources ADDR[,ADDR...]] [--tls [--sni NAME]]\n");
}

/* "10.77.0.10,10.77.0.11": kept as given (h2_wire resolves each when it connects). */
static void parse_flood_sources(const char *list)
{
    char *copy = strdup(list);
    if (!copy) {
        perror(PROG ": strdup");
        exit(2);
    }
    for (char *save = NULL, *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        if (opt.nflood_sources == FLOOD_SOURCES_MAX) {
            fprintf(stderr, PROG ": --flood-sources names more than %d addresses\n", FLOOD_SOURCES_MAX);
            exit(2);
        }
        opt.flood_sources[opt.nflood_sources++] = a;
    }
}

/* The address a flood case connects from: the next of --flood-sources, in turn; NULL without them. */
static const char *next_flood_source(void)
{
    if (opt.nflood_sources == 0)
        return NULL;
    return opt.flood_sources[opt.next_flood_source++ % opt.nflood_sources];
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
        else if (strcmp(a, "--timeout") == 0 && v && atof(v) > 0)
            opt.timeout_ms = (int)(atof(v) * 1000);
        else if (strcmp(a, "--path") == 0 && v)
            opt.path = v;
        else if (strcmp(a, "--echo-path") == 0 && v)
            opt.echo_path = v;
        else if (strcmp(a, "--bytes-path-prefix") == 0 && v)
            opt.bytes_prefix = v;
        else if (strcmp(a, "--authority") == 0 && v)
            opt.authority = v;
        else if (strcmp(a, "--only") == 0 && v)
            opt.only = v;
        else if (strcmp(a, "--echo-mode") == 0 && v && (strcmp(v, "echo") == 0 || strcmp(v, "any") == 0))
            opt.echo_any = strcmp(v, "any") == 0;
        else if (strcmp(a, "--flood-sources") == 0 && v)
            parse_flood_sources(v);
        else if (strcmp(a, "--sni") == 0 && v)
            opt.sni = v;
        else {
            takes_value = false;
            if (strcmp(a, "--list") == 0)
                opt.list = true;
            else if (strcmp(a, "--defences") == 0)
                opt.defences = true;
            else if (strcmp(a, "--tls") == 0)
                opt.tls = true;
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
    if (!opt.list && !opt.port) {
        fprintf(stderr, PROG ": --port is required\n");
        usage(stderr);
        exit(2);
    }
    if (opt.sni && !opt.tls) {
        fprintf(stderr, PROG ": --sni needs --tls\n");
        usage(stderr);
        exit(2);
    }
    if (!opt.authority) {
        static char authority[300];
        snprintf(authority, sizeof(authority), strchr(opt.host, ':') ? "[%s]:%s" : "%s:%s", opt.host,
                 opt.port ? opt.port : "80");
        opt.authority = authority;
    }
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    h2_wire.prog = PROG;
    h2_wire.timeout_ms = opt.timeout_ms;
    h2_wire.verbose = opt.verbose;
    h2_wire.authority = opt.authority;
    h2_wire.tls = opt.tls;
    h2_wire.sni = opt.sni;
    signal(SIGPIPE, SIG_IGN); /* a write to a closed connection fails, TLS's included (OpenSSL uses write) */
    int passed = 0, failed = 0, skipped = 0, unreachable_in_row = 0;
    int64_t start = now_ms();
    for (size_t i = 0; i < NCASES; i++) {
        char name[300];
        case_full_name(i, name, sizeof(name));
        if (opt.only && !strstr(name, opt.only))
            continue;
        if ((cases[i].flags & CASE_DEFENCE) && !opt.defences)
            continue;
        if ((cases[i].flags & CASE_TLS) && !opt.tls)
            continue;
        if (opt.list) {
            printf("%s\n", name);
            if (opt.verbose)
                printf("    requires: %s\n", cases[i].requires);
            continue;
        }
        if (opt.verbose)
            fprintf(stderr, "# %s (requires: %s)\n", name, cases[i].requires);
        case_fail[0] = case_skip[0] = '\0';
        if (unreachable_in_row >= MAX_UNREACHABLE) {
            /* Still one line per case, but no more waiting on a server that is gone. */
            snprintf(case_fail, sizeof(case_fail), "not run: the last %d cases found no HTTP/2 server",
                     MAX_UNREACHABLE);
        } else {
            struct h2c *c = calloc(1, sizeof(*c)); /* large (stream table): on the heap */
            if (!c) {
                perror(PROG ": calloc");
                return 2;
            }
            const char *source = cases[i].flags & CASE_FLOOD ? next_flood_source() : NULL;
            if (conn_open(c, source) && ((cases[i].flags & CASE_RAW) || handshake(c))) {
                unreachable_in_row = 0;
                cases[i].run(c);
            } else {
                unreachable_in_row++;
            }
            conn_close(c);
            free(c);
        }
        if (case_fail[0]) {
            printf("not ok - %s: %s\n", name, case_fail);
            failed++;
        } else if (case_skip[0]) {
            printf("skip - %s: %s\n", name, case_skip);
            skipped++;
        } else {
            printf("ok - %s\n", name);
            passed++;
        }
        fflush(stdout);
    }
    wb_free(&flood_batch);
    if (!opt.list)
        fprintf(stderr, PROG ": %d passed, %d failed, %d skipped against %s port %s%s in %.1f s\n", passed,
                failed, skipped, opt.host, opt.port, opt.tls ? " (TLS)" : "", (now_ms() - start) / 1000.0);
    return failed ? 1 : 0;
}
