/*
 * h2_wire.h — the raw-frame HTTP/2 client the HTTP/2 test tools share (tests/http/h2_conformance.c,
 * tests/http/h2_flood.c): one connection, cleartext with prior knowledge or (h2_wire.tls) TLS 1.3
 * with ALPN h2; frames built by hand (any type, flags, length and stream, the reserved bit
 * included), field blocks encoded by hand, and the server's frames read back one at a time with the
 * bookkeeping every frame needs (SETTINGS and PING acknowledged, flow-control windows given back,
 * responses recorded per stream). Frames can also be gathered into one write (a flood arrives at
 * once), and a connection can come from a chosen local address (a server that budgets floods per
 * client address then sees a client of its own).
 *
 * Over TLS every read, write and close goes through an OpenSSL session instead of the socket (one
 * code path: a transport table in h2_wire.c); the closes mean what they mean in cleartext: a TLS
 * close_notify, a bare TCP FIN and a fatal TLS alert all make the connection "closed", a TCP reset
 * "closed" and peer_reset. The server's certificate is not verified (test certificates are
 * self-signed).
 *
 * Only responses are decoded with libnghttp2's HPACK inflater, never with its session, so that the
 * client can send anything. It is test code: it never lets a server make it wait without bound
 * (every write and read is bounded by h2_wire.timeout_ms or a caller's deadline), and it talks only
 * to the host and port it is given.
 *
 * The names are the ones the conformance cases were written with (send_frame, pump, hb_field, ...),
 * kept unprefixed so that its ~200 cases read as they did before these helpers moved here.
 */
#ifndef SLUICE_TESTS_HTTP_H2_WIRE_H
#define SLUICE_TESTS_HTTP_H2_WIRE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <nghttp2/nghttp2.h>

/* What every tool sets before its first connection. */
struct h2_wire_opts {
    const char *prog;      /* the tool's name, before its messages on stderr */
    int timeout_ms;        /* the longest a write may block, and a connect may take */
    bool verbose;          /* every frame sent and received, on stderr */
    const char *authority; /* the :authority of hb_request */
    bool tls;              /* TLS 1.3 with ALPN h2 (the certificate unverified) instead of cleartext */
    const char *sni;       /* with tls: the server name sent (NULL: none) */
};
extern struct h2_wire_opts h2_wire;

/* Frame types (RFC 9113 6) and one that no registry assigns, for the extension cases (5.5). */
enum {
    FT_DATA = 0x0,
    FT_HEADERS = 0x1,
    FT_PRIORITY = 0x2,
    FT_RST_STREAM = 0x3,
    FT_SETTINGS = 0x4,
    FT_PUSH_PROMISE = 0x5,
    FT_PING = 0x6,
    FT_GOAWAY = 0x7,
    FT_WINDOW_UPDATE = 0x8,
    FT_CONTINUATION = 0x9,
    FT_UNKNOWN = 0x16,
};

#define FLAG_END_STREAM  0x01
#define FLAG_ACK         0x01
#define FLAG_END_HEADERS 0x04
#define FLAG_PADDED      0x08
#define FLAG_PRIORITY    0x20

enum {
    S_HEADER_TABLE_SIZE = 0x1,
    S_ENABLE_PUSH = 0x2,
    S_MAX_CONCURRENT_STREAMS = 0x3,
    S_INITIAL_WINDOW_SIZE = 0x4,
    S_MAX_FRAME_SIZE = 0x5,
    S_MAX_HEADER_LIST_SIZE = 0x6,
};

/* Error codes (RFC 9113 7); E(code) makes a set of codes. */
enum {
    NO_ERROR = 0x0,
    PROTOCOL_ERROR = 0x1,
    INTERNAL_ERROR = 0x2,
    FLOW_CONTROL_ERROR = 0x3,
    SETTINGS_TIMEOUT = 0x4,
    STREAM_CLOSED = 0x5,
    FRAME_SIZE_ERROR = 0x6,
    REFUSED_STREAM = 0x7,
    CANCEL = 0x8,
    COMPRESSION_ERROR = 0x9,
    CONNECT_ERROR = 0xa,
    ENHANCE_YOUR_CALM = 0xb,
    INADEQUATE_SECURITY = 0xc,
    HTTP_1_1_REQUIRED = 0xd,
};
#define E(code) (1u << (code))

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24

#define FRAME_HEADER_LEN  9
#define DEFAULT_MAX_FRAME 16384        /* SETTINGS_MAX_FRAME_SIZE until the server says otherwise */
#define DEFAULT_WINDOW    65535        /* SETTINGS_INITIAL_WINDOW_SIZE's initial value */
#define MAX_WINDOW        0x7fffffffu  /* 2^31-1, the largest flow-control window */
#define MAX_STREAMS       1024         /* streams tracked per connection (stream_forget makes room) */
#define BODY_KEEP         (256 * 1024) /* response body bytes kept per stream for comparisons */

int64_t now_ms(void); /* CLOCK_MONOTONIC */
const char *error_name(uint32_t code);
const char *codes_text(uint32_t codes); /* "STREAM_CLOSED or PROTOCOL_ERROR" */
const char *frame_name(uint8_t type);
void put24(uint8_t *p, uint32_t v);
void put32(uint8_t *p, uint32_t v);
uint32_t get32(const uint8_t *p);

/* ---- one client connection: the socket, what the server said, the state of each stream ------------ */

struct stream_rec {
    uint32_t id;
    int status;        /* final :status, 0 until it arrives */
    int informational; /* the last 1xx :status, 0 if none */
    bool ended;        /* END_STREAM received */
    bool trailers;     /* a field block after the final one */
    int rst_code;      /* -1 until a RST_STREAM */
    uint64_t body_len;
    uint32_t data_frames;
    uint8_t *body; /* the first BODY_KEEP bytes of the body */
    size_t body_cap;
};

enum ev { EV_FRAME, EV_CLOSED, EV_TIMEOUT, EV_BAD };

struct wire_io;
struct ssl_st;

struct h2c {
    int fd;                    /* the TCP socket (over TLS too: poll it, never read or write it) */
    const struct wire_io *_io; /* how bytes cross it: the socket itself, or _tls over it */
    struct ssl_st *_tls;       /* the TLS session when h2_wire.tls, else NULL */
    char tls_note[160];        /* how TLS saw the end: close_notify, TCP FIN, or the alert or error */
    bool peer_closed;          /* the server closed (read returned 0) or reset the connection */
    bool peer_reset;           /* ... and it was a reset (ECONNRESET, or EPIPE once the reset was reported) */
    bool write_failed;         /* a write failed: the server is going away; reads will tell */
    uint64_t bytes_sent;       /* bytes the connection took (over TLS: before encryption) */
    uint8_t *rbuf;             /* bytes read but not yet parsed: rbuf[roff, rlen) */
    size_t roff, rlen, rcap;

    /* The frame pump() returned last. */
    uint8_t ftype, fflags;
    uint32_t fstream, flen;
    uint8_t *fpay;
    size_t fpay_cap;

    nghttp2_hd_inflater *inflater; /* the server's field blocks, in order */
    uint8_t *hblock;               /* a field block being assembled from HEADERS + CONTINUATION */
    size_t hblock_len, hblock_cap;
    uint32_t hblock_stream;
    bool hblock_open, hblock_end_stream;

    bool auto_window_update; /* give back every DATA byte at once (the flow-control cases turn it off) */

    /* What the server said. */
    bool got_settings;
    uint32_t settings_acks; /* SETTINGS ACKs received */
    bool has_max_concurrent, has_max_header_list;
    uint32_t max_concurrent, header_table_size, initial_window, max_frame_size, max_header_list;
    bool got_goaway;
    uint32_t goaway_code, goaway_last;
    uint32_t pings_sent;

    struct stream_rec streams[MAX_STREAMS];
    size_t nstreams;

    char last[200]; /* the last frame of interest received, for failure messages */
    char bad[300];  /* how the server broke the protocol, if it did */
};

/*
 * Connect to host:port (within h2_wire.timeout_ms; with h2_wire.tls the TLS handshake too, within as
 * much again, and it must select ALPN h2); rcvbuf > 0 sets SO_RCVBUF before the connect, so that the
 * window the handshake offers is that small. false: err says why (the connection is still fit for
 * conn_close).
 */
bool h2c_open(struct h2c *c, const char *host, const char *port, int rcvbuf, char *err, size_t err_size);
/* The same from a local address of our choosing (source: a numeric address, NULL for the system's
 * choice): a server that budgets per client address sees each source as its own client. */
bool h2c_open_from(struct h2c *c, const char *host, const char *port, const char *source, int rcvbuf,
                   char *err, size_t err_size);
void conn_close(struct h2c *c);

/* The record of a stream, made on first use; NULL once MAX_STREAMS are tracked. */
struct stream_rec *stream_get(struct h2c *c, uint32_t id);
/* Drop a stream's record (its response is counted and no longer needed): room for the next ones. */
void stream_forget(struct h2c *c, uint32_t id);
bool set_bad(struct h2c *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- writing ------------------------------------------------------------------------------------ */

/* One non-blocking send: the bytes the socket took (0: its buffer is full), or -1 once the connection
 * failed (write_failed set; peer_reset when it was reset). */
ssize_t conn_try_write(struct h2c *c, const void *data, size_t len);
/* All of it, reading while the socket is full; gives up (write_failed) after h2_wire.timeout_ms. */
void conn_write(struct h2c *c, const void *data, size_t len);

/* A frame into out (FRAME_HEADER_LEN + len bytes); returns its size. Nothing is checked. */
size_t frame_put(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t len);
/* Send one frame. Nothing is checked: the stream field goes out as given (the reserved bit included)
 * and any type, flags and length can be sent. */
void send_frame(struct h2c *c, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t len);
void send_raw(struct h2c *c, const void *bytes, size_t len);
/* send_settings(c, 2, S_ENABLE_PUSH, 0u, S_INITIAL_WINDOW_SIZE, 0u): n (id, value) pairs; values are
 * uint32_t (write 0u, 65535u, not 0). */
void send_settings(struct h2c *c, int n, ...);
void send_settings_v(struct h2c *c, int n, va_list ap);
void send_ping(struct h2c *c, uint8_t flags, const uint8_t data[8]);
void send_window_update(struct h2c *c, uint32_t stream, uint32_t increment);
void send_rst(struct h2c *c, uint32_t stream, uint32_t code);
void send_priority(struct h2c *c, uint32_t stream, uint32_t depends_on, bool exclusive, uint8_t weight);
void send_goaway(struct h2c *c, uint32_t last_stream, uint32_t code);
void send_data(struct h2c *c, uint32_t stream, bool end_stream, const void *data, size_t len);

/* Frames built into one buffer and sent in one write: a flood arrives at once, as an attacker's does,
 * rather than a segment per frame. The buffer grows as needed; wb_send empties it for reuse. */
struct wire_batch {
    uint8_t *buf;
    size_t len, cap;
    uint32_t frames;
};
void wb_frame(struct wire_batch *b, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
              size_t len);
void wb_send(struct h2c *c, struct wire_batch *b);
void wb_free(struct wire_batch *b);

/* ---- HPACK field blocks, built by hand (RFC 7541 5 and 6) ------------------------------------------ */

#define HBLOCK_MAX 65536

struct hblock {
    size_t len;
    uint8_t buf[HBLOCK_MAX]; /* what does not fit is dropped */
};

void hb_byte(struct hblock *b, uint8_t v);
void hb_raw(struct hblock *b, const void *bytes, size_t len);
/* An integer with an N-bit prefix (RFC 7541 5.1); pattern holds the representation's leading bits. */
void hb_int(struct hblock *b, uint8_t pattern, unsigned prefix_bits, uint64_t v);
/* A string literal without Huffman coding (RFC 7541 5.2). */
void hb_str(struct hblock *b, const char *s, size_t len);
/* Literal field without indexing, new name (RFC 7541 6.2.2). */
void hb_field_n(struct hblock *b, const char *name, size_t name_len, const char *value, size_t value_len);
void hb_field(struct hblock *b, const char *name, const char *value);
/* Indexed field (RFC 7541 6.1). */
void hb_indexed(struct hblock *b, uint64_t index);
/* Dynamic table size update (RFC 7541 6.3). */
void hb_size_update(struct hblock *b, uint64_t size);
/* "https" over TLS, else "http": the :scheme of the requests. */
const char *wire_scheme(void);
/* :method, :scheme wire_scheme(), :path, :authority h2_wire.authority. */
void hb_request(struct hblock *b, const char *method, const char *path);

/* HEADERS (the stream gets its record) and CONTINUATION holding b. */
void send_headers(struct h2c *c, uint32_t stream, uint8_t flags, const struct hblock *b);
void send_continuation(struct h2c *c, uint32_t stream, uint8_t flags, const struct hblock *b);

/* ---- reading --------------------------------------------------------------------------------------- */

/*
 * Wait until deadline for the next frame. EV_FRAME: c->ftype, fflags, fstream, flen, fpay hold it
 * and its bookkeeping is done. EV_CLOSED: the server closed the connection (any partial frame is
 * dropped). EV_BAD: the server broke the protocol (c->bad says how).
 */
enum ev pump(struct h2c *c, int64_t deadline);
/* What a wait ended with, for "got ..." in a failure. */
const char *got(struct h2c *c, enum ev ev);
/* Wait for the server's SETTINGS and the ACK of ours: EV_FRAME once both came, else what ended the wait. */
enum ev wait_handshake(struct h2c *c, int64_t deadline);

#endif
