/*
 * h2_diff_fuzz.c — differential libFuzzer target: our HTTP/2 session (server/h2/session.c,
 * h2_native_ops) against the nghttp2 glue (server/h2/nghttp2_session.c, h2_nghttp2_ops, the
 * reference), on the same client byte stream.
 *
 * Both run as sluice-server runs them (http_worker_new, app_http_ops, the router compiled from
 * server/sluice.routes and its handlers: /healthz, /echo, /bytes/N, /static/, /metrics), each in a
 * worker of its own with the same http_config, over an in-memory transport (struct app_io). The
 * input is a client: it starts with the client preface, then records that write raw bytes, frames,
 * whole requests or control frames; each record is one write, delivered to both servers as one
 * piece, so both see the stream cut at the same places. The client reads all either server writes
 * after every write. Nothing reads a clock: the native session's now_ns is set here (OP_CLOCK).
 *
 * What is compared, per side:
 *   - the requests dispatched (http_dispatch, wrapped at link time: -Wl,--wrap=http_dispatch):
 *     method, path, query, authority, the regular header list, the body bytes the handler got
 *     (its on_body, wrapped the same way) and whether the body ended;
 *   - the outcome, decoded from the server's output by the frame reader here (HPACK through
 *     nghttp2_hd_inflate, never either session): how the connection ended (open, closed after
 *     the client's FIN, closed before it, GOAWAY with a code, reset), and per stream its RST_STREAM
 *     code, its :status, whether the response ended, its body's length and hash.
 * The outcomes must be the same, except where a row of `differences` says why they may not be,
 * with the RFC section that allows it. After a connection error the two may part at the error:
 * streams and requests the erring side has no trace of are not compared. Any other difference
 * prints both sides and aborts (a crash for libFuzzer). Every input also ends with both workers'
 * pools empty (http_worker_in_use), as in h2_fuzz.c.
 *
 * Seeds: H2_DIFF_WRITE_SEEDS=DIR h2_diff_fuzz writes the seeds of write_seeds() to DIR and exits;
 * tests/fuzz/corpus/h2diff/ holds them plus regress_* reproducers. H2_DIFF_TRACE=1 prints what an
 * input does and both outcomes. The input format is defined once, here.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "h2/h2.h"
#include "h2/hpack.h"
#include "http/handlers/metrics.h"
#include "http/handlers/static_file.h"
#include "sluice/http.h"
#include "http/http_conn.h"
#include "http/http_worker.h"

extern const struct router app_router; /* server/sluice.routes, compiled */

#define PORT        80
#define OUT_CAP     (256u << 10) /* the transport's send buffer: the client empties it after each write */
#define OUT_BUDGET  (4u << 20)   /* output bytes a server may write in one input */
#define PUMP_ROUNDS 64
#define NSLOTS      257 /* stream ids 0-255 as themselves, 2^31-1 in the last slot */
#define BIG_SID     0x7fffffffu
#define COUNT(a)    (sizeof(a) / sizeof((a)[0]))

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24

/* ---- the input format ---------------------------------------------------------------------------- */

/*
 * Byte 0, the configuration (0 when the input is empty):
 *   bits0-1 the http_config both servers get: 0 and 3 the defaults, 1 strict protocol limits
 *           (strict_config: few streams and headers, small flood budgets), 2 small pools (pool_config)
 *   bit2    the harness writes only the preface (else the preface and an empty SETTINGS, one write)
 *   bit3    the preface comes in three writes
 *   bit4    the client keeps its side open at the end (else it half-closes, then reads what comes)
 * Records: one op byte, low 3 bits the operation, high 5 bits its argument (ARG_MORE: no readable
 * after the write, the next write joins it in the transport).
 */
enum op {
    OP_SEND = 0,    /* arg&1: u16 length (else u8); arg&4: that many zero bytes, else the bytes follow */
    OP_FRAME = 1,   /* arg&15: type (frame_types), arg&16: more; u8 flags, u8 stream, u16 length: bit15
                       set = that many zero bytes, else the payload follows */
    OP_REQUEST = 2, /* a request's field block (build_request): arg&1 END_STREAM, arg&4 cut into
                       CONTINUATION frames, arg&8 HEADERS padded and with priority, arg&16 extra fields;
                       u8 stream, u8 method<<4|path, u8 mods, [u8 cut], [u8 count, u8 value length] */
    OP_DATA = 3,    /* arg&1 END_STREAM, arg&4 padded (u8 pad length follows), arg&8 the payload
                       follows (else zero bytes), arg&16 more; u8 stream, u16 length (15 bits) */
    OP_CONTROL = 4, /* arg&7 the frame (control_frame), arg&8 more, arg&16 its variant */
    OP_CLOCK = 5,   /* the clock moves (arg+1) seconds */
    OP_FIN = 6,     /* the client half-closes */
    OP_READABLE = 7 /* readable with nothing new */
};
#define ARG_MORE 2

static const uint8_t frame_types[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x16, 0, 1, 9, 8, 0};

struct input {
    const uint8_t *p, *end;
};

static unsigned in_u8(struct input *in)
{
    return in->p < in->end ? *in->p++ : 0;
}

static unsigned in_u16(struct input *in)
{
    unsigned hi = in_u8(in);

    return hi << 8 | in_u8(in);
}

static uint32_t in_u32(struct input *in)
{
    uint32_t hi = in_u16(in);

    return hi << 16 | in_u16(in);
}

static uint32_t sid_of(unsigned byte)
{
    return byte == 0xff ? BIG_SID : byte;
}

static int slot_of(uint32_t id)
{
    return id < 256 ? (int)id : id == BIG_SID ? NSLOTS - 1 : -1;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- failing ---------------------------------------------------------------------------------------- */

static bool trace;

static void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tracef(const char *fmt, ...)
{
    va_list ap;

    if (!trace)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "h2_diff_fuzz: %s:%d: invariant broken: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FAIL(...) fail(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            FAIL(__VA_ARGS__);                                                                               \
    } while (0)

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* A growable byte string (request bodies and header lists, kept per input). */
struct bytes {
    uint8_t *p;
    size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p, "realloc");
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static bool bytes_eq(const struct bytes *a, const struct bytes *b)
{
    return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len));
}

/* One is where the other started. */
static bool bytes_prefix(const struct bytes *a, const struct bytes *b)
{
    size_t n = a->len < b->len ? a->len : b->len;

    return !n || !memcmp(a->p, b->p, n);
}

/* ---- the two servers -------------------------------------------------------------------------------- */

enum conn_end {
    END_OPEN,         /* still open when the input ended */
    END_CLOSED,       /* the server's FIN after the client's, no GOAWAY for an error */
    END_CLOSED_EARLY, /* the server's FIN before the client's, no GOAWAY for an error */
    END_GOAWAY,       /* a GOAWAY with an error code (then the FIN) */
    END_RESET,        /* the server reset the transport, no GOAWAY for an error before */
    END_DROPPED,      /* the server's FIN for an error (its counter says), with no GOAWAY */
};

static const char *const end_names[] = {
    "open",  "closed after the client's FIN",      "closed before the client's FIN", "GOAWAY",
    "reset", "closed for an error, without GOAWAY"};

/* What a server wrote about one stream. */
struct stream_out {
    int status;      /* the first HEADERS' :status, 0 when none */
    int headers;     /* HEADERS frames (field blocks) */
    bool ended;      /* END_STREAM */
    uint32_t rst;    /* the first RST_STREAM's code + 1, 0 when none */
    uint32_t rsts;   /* the codes of all its RST_STREAMs, a bit each (codes above 31: bit 31) */
    uint64_t data;   /* DATA payload bytes */
    uint64_t hash;   /* of those bytes */
    uint64_t grants; /* WINDOW_UPDATE increments for it (client to server flow control) */
};

/* What a handler got: a request dispatched on that stream. */
struct request_rec {
    bool dispatched;
    int dispatches;
    struct bytes head; /* method, path, query, authority, then each regular header, NUL-separated */
    struct bytes body;
    bool body_ended;
    size_t (*on_body)(struct http_request *req, const uint8_t *data, size_t len,
                      bool last); /* the handler's */
};

/* A client frame, as its header said. */
struct cframe {
    uint8_t type, flags;
    uint32_t sid, len;
    bool idle;     /* a stream other than 0 the client had not opened: even, or above every HEADERS before */
    int16_t first; /* the first payload byte (Pad Length when PADDED), -1 until it came */
    bool opener;   /* the client's first frame (RFC 9113 3.4: its SETTINGS) */
    bool in_block; /* it came while a field block waited for its CONTINUATION */
    bool after_goaway; /* it came after a GOAWAY of the client's */
    bool skipped;      /* a HEADERS on an odd stream below the highest one, never named by a HEADERS */
    bool whole;        /* all its payload came */
    uint32_t word;     /* its first 4 payload bytes (GOAWAY: the last stream id), when whole */
};

#define MAX_CULPRITS                                                                                         \
    4096 /* frames of one readable kept (a flood of small frames must not push the culprit out) */
#define PRINT_CULPRITS 64 /* of them printed */
#define MAX_FAR        16

struct far_rst {
    uint32_t sid, code;
};

struct seg {
    uint8_t *data; /* one client write, malloc'd: freed once consumed, so a stale pointer trips ASan */
    size_t len, off;
};

#define MAX_SEGS 512

struct side {
    const char *name;
    const struct http_proto_ops *ops;
    struct http_worker *workers[3]; /* one per configuration */
    struct app_table tables[3];
    struct http_worker *hw; /* this input's */
    struct app_table *table;
    struct http_stats stats_before;

    /* the transport */
    struct app_conn *ac;
    bool open, fin, shut, shut_before_fin, aborted, want_writable;
    struct seg segs[MAX_SEGS];
    int nsegs;
    uint8_t out[OUT_CAP];
    size_t out_len, budget;
    size_t reserved;

    /* the client's frame reader of the server's output */
    uint8_t hd[9];
    size_t hd_len;
    uint8_t type, flags;
    uint32_t sid;
    size_t len, left;
    uint8_t payload[65536];
    struct bytes block;
    uint32_t block_sid;
    nghttp2_hd_inflater *inflater;
    bool broken; /* its output stopped making sense (a check failed in a way we report at the end) */

    /* the outcome */
    bool goaway;
    uint32_t goaway_code, goaway_last;
    unsigned pings_acked, settings_acked, settings_frames;
    uint32_t server_initial_window; /* its SETTINGS_INITIAL_WINDOW_SIZE, 65535 until its SETTINGS */
    bool server_settings_read;      /* its SETTINGS came: the client's next ACK applies it */
    bool unexpected_ack;            /* the client sent more ACKs than it had read SETTINGS from it */
    bool window_applied;            /* the client acknowledged it: stream windows start there */
    uint64_t conn_grants;           /* its WINDOW_UPDATE increments on stream 0 */
    struct stream_out streams[NSLOTS];
    struct request_rec requests[NSLOTS];
    enum conn_end end;
    struct far_rst far[MAX_FAR]; /* RST_STREAMs on streams beyond the slots (raw HEADERS named them) */
    int nfar;
    const char *violation; /* the first rule of RFC 9113 its output broke, NULL when none */
    uint8_t violation_type;
    uint32_t violation_sid;
    /* the client frames delivered in the readable after which the connection ended (one of them
     * made it end), when it ended early */
    struct cframe culprits[MAX_CULPRITS];
    int nculprits;
    bool ended_early;

    /* client to server flow control as the client saw it (see client_data) */
    bool overran_conn;
    bool overran[NSLOTS];
    /* server to client: a WINDOW_UPDATE or SETTINGS that may take its send window past 2^31-1 */
    bool send_overflow_conn, send_overflow_settings;
    bool send_overflow[NSLOTS];
};

static struct side sides[2] = {{.name = "native", .ops = &h2_native_ops},
                               {.name = "nghttp2", .ops = &h2_nghttp2_ops}};

static struct http_config configs[3];
static const char *const config_names[3] = {"default", "strict", "pools"};
static const int config_of_bits[4] = {0, 1, 2, 0};

static uint64_t now_ns;

static struct side *side_of_worker(const struct http_worker *hw)
{
    for (int i = 0; i < 2; i++)
        if (sides[i].hw == hw)
            return &sides[i];
    return NULL;
}

static void metrics_writer(struct http_request *req, void *ctx)
{
    (void)ctx; /* the same body from both: the counters of the two differ by design */
    metrics_line(req, "# HELP sluice_fuzz_lines lines of a metrics body, streamed\n");
    for (int i = 0; i < 40; i++)
        metrics_line(req, "sluice_fuzz_line{n=\"%d\"} %d\n", i, i * 1000);
}

/* A directory for /static/: a small file, one larger than a pool buffer, an empty one. */
static void make_static_dir(void)
{
    static char dir[] = "/tmp/h2_diff_fuzz_static.XXXXXX";
    static const struct {
        const char *name;
        size_t size;
    } files[] = {{"index.html", 100}, {"big.bin", 70000}, {"empty.txt", 0}};
    char path[256];
    struct err e;

    CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    for (size_t i = 0; i < COUNT(files); i++) {
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        f = fopen(path, "w");
        CHECK(f, "%s: %s", path, strerror(errno));
        for (size_t n = 0; n < files[i].size; n++)
            fputc('a' + (int)(n % 26), f);
        fclose(f);
    }
    CHECK(!static_file_open_dir(dir, &e), "static dir: %s", e.msg);
}

static void workers_init(void)
{
    static const struct app_service service = {.port = PORT, .ops = &app_http_ops};
    struct http_config *strict = &configs[1], *pools = &configs[2];

    for (int c = 0; c < 3; c++) {
        http_config_default(&configs[c]);
        configs[c].router = &app_router;
    }
    /* strict: the protocol's limits close by, the pools ample */
    strict->max_concurrent_streams = 3;
    strict->initial_window_size = 65535; /* the default: no window to grow, none before the ACK */
    strict->max_header_list_size = 1024;
    strict->max_headers = 6;
    strict->max_streams = 64;
    strict->max_buffers = 64;
    strict->rapid_reset_budget = 4;
    strict->max_continuations = 4;
    strict->max_queued_control = 16;
    strict->max_empty_frames = 3;
    strict->max_priority_frames = 4;
    strict->max_window_update_frames = 4;
    /* pools: a worker of few streams and buffers (h2_fuzz.c's tight limits) */
    pools->max_concurrent_streams = 4;
    pools->initial_window_size = 65535;
    pools->max_header_list_size = 1024;
    pools->max_headers = 6;
    pools->max_streams = 3;
    pools->max_body_backlog = 4096;
    pools->max_buffers = 5;
    for (int s = 0; s < 2; s++) {
        for (int c = 0; c < 3; c++) {
            sides[s].workers[c] = http_worker_new(&configs[c], 1, sides[s].ops);
            CHECK(sides[s].workers[c], "http_worker_new: %s", strerror(errno));
            CHECK(!app_table_init(&sides[s].tables[c], 1, &service, 1), "app_table_init");
            sides[s].tables[c].http = sides[s].workers[c];
        }
        CHECK(!nghttp2_hd_inflate_new(&sides[s].inflater), "nghttp2_hd_inflate_new");
    }
    metrics_set_writer(metrics_writer, NULL);
    make_static_dir();
}

/* ---- the requests handlers get (http_dispatch and on_body, wrapped) ---------------------------------- */

void __real_http_dispatch(struct http_stream *st);
void __wrap_http_dispatch(struct http_stream *st);

static struct request_rec *request_of(const struct http_stream *st)
{
    struct side *s = side_of_worker(st->conn->hw);
    int slot = slot_of((uint32_t)st->id);

    return s && slot >= 0 ? &s->requests[slot] : NULL;
}

static size_t record_body(struct http_request *req, const uint8_t *data, size_t len, bool last)
{
    struct request_rec *r = request_of(req->_stream);

    CHECK(r && r->on_body, "on_body of a request nobody recorded");
    bytes_add(&r->body, data, len);
    if (last) {
        CHECK(!r->body_ended, "on_body called after the last chunk");
        r->body_ended = true;
    }
    return r->on_body(req, data, len, last);
}

static void head_add(struct bytes *b, struct http_str s)
{
    bytes_add(b, s.ptr, s.len);
    bytes_add(b, "", 1);
}

void __wrap_http_dispatch(struct http_stream *st)
{
    struct request_rec *r = request_of(st);
    const struct http_request *req = &st->req;

    if (!r) {
        __real_http_dispatch(st);
        return;
    }
    r->dispatches++;
    if (!r->dispatched) {
        r->dispatched = true;
        head_add(&r->head, req->method_name);
        head_add(&r->head, req->path);
        head_add(&r->head, req->query);
        head_add(&r->head, req->authority);
        for (uint32_t i = 0; i < req->nheaders; i++) {
            head_add(&r->head, req->headers[i].name);
            head_add(&r->head, req->headers[i].value);
        }
    }
    __real_http_dispatch(st);
    if (st->req.on_body && st->req.on_body != record_body) {
        r->on_body = st->req.on_body;
        st->req.on_body = record_body;
    }
}

/* ---- the transport (struct app_io), one per side ------------------------------------------------------ */

static struct side *transport(void *t, const char *what)
{
    struct side *s = t;

    CHECK((s == &sides[0] || s == &sides[1]) && s->open, "%s on a transport that is closed", what);
    return s;
}

static size_t input_left(const struct side *s)
{
    size_t n = 0;

    for (int i = 0; i < s->nsegs; i++)
        n += s->segs[i].len - s->segs[i].off;
    return n;
}

static void drop_segs(struct side *s)
{
    for (int i = 0; i < s->nsegs; i++)
        free(s->segs[i].data);
    s->nsegs = 0;
}

static int io_peek(void *t, struct iovec *iov, int max)
{
    struct side *s = transport(t, "peek");
    int n = 0;

    for (int i = 0; i < s->nsegs && n < max; i++, n++)
        iov[n] = (struct iovec){s->segs[i].data + s->segs[i].off, s->segs[i].len - s->segs[i].off};
    return n;
}

static void io_consume(void *t, size_t n)
{
    struct side *s = transport(t, "consume");
    int done = 0;

    CHECK(n == SIZE_MAX || n <= input_left(s), "%s: consume(%zu) with %zu bytes to read", s->name, n,
          input_left(s));
    while (done < s->nsegs && n) {
        struct seg *g = &s->segs[done];
        size_t take = g->len - g->off < n ? g->len - g->off : n;

        g->off += take;
        n -= take;
        if (g->off < g->len)
            break;
        free(g->data);
        done++;
    }
    memmove(s->segs, s->segs + done, (size_t)(s->nsegs - done) * sizeof(s->segs[0]));
    s->nsegs -= done;
}

static bool io_eof(void *t)
{
    struct side *s = transport(t, "eof");

    return s->fin && !s->nsegs;
}

static size_t io_writable(void *t)
{
    struct side *s = transport(t, "writable");
    size_t avail = OUT_CAP - s->out_len;

    if (s->shut)
        return 0;
    return avail < s->budget ? avail : s->budget;
}

static uint8_t *io_reserve(void *t, size_t *room)
{
    struct side *s = transport(t, "reserve");
    size_t avail = io_writable(t);

    *room = s->reserved = avail;
    if (!avail) {
        if (!s->shut)
            s->want_writable = true;
        return NULL;
    }
    return s->out + s->out_len;
}

static void io_commit(void *t, size_t n)
{
    struct side *s = transport(t, "commit");

    CHECK(n <= s->reserved, "%s: commit(%zu) after reserve offered %zu", s->name, n, s->reserved);
    s->out_len += n;
    s->budget -= n;
    s->reserved = 0;
}

static void io_shutdown(void *t)
{
    struct side *s = transport(t, "shutdown");

    if (!s->shut)
        s->shut_before_fin = !s->fin;
    s->shut = true;
}

static void io_abort(void *t)
{
    struct side *s = transport(t, "abort");

    tracef("  %s: the server resets the connection\n", s->name);
    s->open = false; /* app_abort calls app_closed itself */
    s->aborted = true;
    s->ac = NULL;
    drop_segs(s);
}

static void io_want_writable(void *t)
{
    transport(t, "want_writable")->want_writable = true;
}

static const struct app_io fake_io = {
    .peek = io_peek,
    .consume = io_consume,
    .eof = io_eof,
    .reserve = io_reserve,
    .commit = io_commit,
    .shutdown = io_shutdown,
    .abort = io_abort,
    .writable = io_writable,
    .want_writable = io_want_writable,
};

/* ---- the client's frame reader of a server's output ---------------------------------------------------- */

/* A rule of RFC 9113 the server's output broke: kept (the first one), and compared at the end, so
 * that a known one can be let through while fuzzing goes on. */
static void violation(struct side *s, uint8_t type, uint32_t sid, const char *what)
{
    if (s->violation)
        return;
    s->violation = what;
    s->violation_type = type;
    s->violation_sid = sid;
    tracef("  %s: %s (type %u, stream %u)\n", s->name, what, type, sid);
}

static uint32_t highest_headers; /* the highest stream a client HEADERS named */

/* Where a frame on a stream is recorded: frames on a stream the client never opened are a violation. */
static struct stream_out *out_stream(struct side *s, uint32_t id)
{
    static struct stream_out untracked;
    int slot = slot_of(id);

    memset(&untracked, 0, sizeof(untracked));
    if (!(id & 1) || id > highest_headers) {
        violation(s, s->type, id,
                  "a frame on a stream idle for the client (RFC 9113 5.1: it must answer with a "
                  "connection error PROTOCOL_ERROR; 6.4: no RST_STREAM on an idle stream)");
        return &untracked;
    }
    return slot > 0 ? &s->streams[slot] : &untracked;
}

/* A response field block: its :status (the checks of its form are h2_fuzz.c's). */
static void field_block(struct side *s)
{
    const uint8_t *p = s->block.p ? s->block.p : (const uint8_t *)""; /* no NULL + 0 */
    size_t left = s->block.len;
    struct stream_out *o = out_stream(s, s->block_sid);
    int nfields = 0;

    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t n = nghttp2_hd_inflate_hd2(s->inflater, &nv, &flags, p, left, 1);

        CHECK(n >= 0, "%s: stream %u: the response's field block does not decode: %s", s->name, s->block_sid,
              nghttp2_strerror((int)n));
        p += n;
        left -= (size_t)n;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (!nfields++ && o->headers == 1) {
                CHECK(nv.namelen == 7 && !memcmp(nv.name, ":status", 7) && nv.valuelen == 3,
                      "%s: stream %u: a response that does not start with :status", s->name, s->block_sid);
                o->status = (nv.value[0] - '0') * 100 + (nv.value[1] - '0') * 10 + (nv.value[2] - '0');
            }
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(s->inflater);
            break;
        }
        if (n == 0 && !left)
            break;
    }
    s->block.len = 0;
    s->block_sid = 0;
}

static void out_frame_begin(struct side *s)
{
    tracef("  %s < type %u flags 0x%02x stream %u length %zu\n", s->name, s->type, s->flags, s->sid, s->len);
    CHECK(s->type == 0 || s->len <= sizeof(s->payload), "%s: a frame of type %u and %zu bytes", s->name,
          s->type, s->len);
    if (s->type == NGHTTP2_DATA) {
        struct stream_out *o = out_stream(s, s->sid);

        o->data += s->len;
        if (s->flags & NGHTTP2_FLAG_END_STREAM)
            o->ended = true;
    }
}

static void out_frame_end(struct side *s)
{
    const uint8_t *p = s->payload;
    size_t len = s->len;

    switch (s->type) {
    case NGHTTP2_HEADERS: {
        struct stream_out *o = out_stream(s, s->sid);
        size_t skip = 0, pad = 0;

        if (s->flags & NGHTTP2_FLAG_PADDED) {
            CHECK(len >= 1, "%s: padded HEADERS without its Pad Length", s->name);
            pad = p[0];
            skip = 1;
        }
        if (s->flags & NGHTTP2_FLAG_PRIORITY)
            skip += 5;
        CHECK(skip + pad <= len, "%s: HEADERS padding past its end", s->name);
        o->headers++;
        if (s->flags & NGHTTP2_FLAG_END_STREAM)
            o->ended = true;
        s->block.len = 0;
        s->block_sid = s->sid;
        bytes_add(&s->block, p + skip, len - skip - pad);
        if (s->flags & NGHTTP2_FLAG_END_HEADERS)
            field_block(s);
        break;
    }
    case NGHTTP2_CONTINUATION:
        CHECK(s->block_sid && s->sid == s->block_sid, "%s: CONTINUATION without its HEADERS", s->name);
        bytes_add(&s->block, p, len);
        if (s->flags & NGHTTP2_FLAG_END_HEADERS)
            field_block(s);
        break;
    case NGHTTP2_RST_STREAM: {
        struct stream_out *o = out_stream(s, s->sid);

        CHECK(len == 4, "%s: RST_STREAM of %zu bytes", s->name, len);
        if (slot_of(s->sid) < 0 && s->nfar < MAX_FAR) /* a stream id beyond the slots: kept aside */
            s->far[s->nfar++] = (struct far_rst){s->sid, be32(p)};
        if (!o->rst)
            o->rst = be32(p) + 1;
        o->rsts |= 1u << (be32(p) < 31 ? be32(p) : 31);
        break;
    }
    case NGHTTP2_SETTINGS:
        CHECK(!s->sid, "%s: SETTINGS on stream %u", s->name, s->sid);
        if (s->flags & NGHTTP2_FLAG_ACK) {
            s->settings_acked++;
            break;
        }
        CHECK(len % 6 == 0, "%s: SETTINGS of %zu bytes", s->name, len);
        for (size_t i = 0; i < len; i += 6)
            if ((p[i] << 8 | p[i + 1]) == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE)
                s->server_initial_window = be32(p + i + 2);
        s->settings_frames++;
        s->server_settings_read = true;
        break;
    case NGHTTP2_PING:
        CHECK(len == 8 && !s->sid, "%s: PING of %zu bytes on stream %u", s->name, len, s->sid);
        if (s->flags & NGHTTP2_FLAG_ACK)
            s->pings_acked++;
        break;
    case NGHTTP2_GOAWAY:
        CHECK(len >= 8 && !s->sid, "%s: GOAWAY of %zu bytes on stream %u", s->name, len, s->sid);
        if (!s->goaway || (!s->goaway_code && be32(p + 4))) { /* an error GOAWAY wins over a NO_ERROR one */
            s->goaway = true;
            s->goaway_last = be32(p) & 0x7fffffff;
            s->goaway_code = be32(p + 4);
        }
        tracef("  %s < GOAWAY last stream %u, %s\n", s->name, be32(p) & 0x7fffffff,
               nghttp2_http2_strerror(be32(p + 4)));
        break;
    case NGHTTP2_WINDOW_UPDATE:
        CHECK(len == 4, "%s: WINDOW_UPDATE of %zu bytes", s->name, len);
        if (!s->sid)
            s->conn_grants += be32(p) & 0x7fffffff;
        else
            out_stream(s, s->sid)->grants += be32(p) & 0x7fffffff;
        break;
    case NGHTTP2_DATA:
        break;
    default:
        FAIL("%s: a frame of type %u from a server", s->name, s->type);
    }
}

/* The client reads what the server wrote. */
static void client_read(struct side *s)
{
    const uint8_t *data = s->out;
    size_t len = s->out_len;

    while (len) {
        if (s->hd_len < 9) {
            s->hd[s->hd_len++] = *data++;
            len--;
            if (s->hd_len < 9)
                continue;
            s->len = s->left = (size_t)s->hd[0] << 16 | (size_t)s->hd[1] << 8 | s->hd[2];
            s->type = s->hd[3];
            s->flags = s->hd[4];
            s->sid = be32(s->hd + 5) & 0x7fffffff;
            out_frame_begin(s);
        }
        if (s->left) {
            size_t n = s->left < len ? s->left : len;

            if (s->type == NGHTTP2_DATA)
                out_stream(s, s->sid)->hash = fnv(out_stream(s, s->sid)->hash, data, n);
            else
                memcpy(s->payload + (s->len - s->left), data, n);
            s->left -= n;
            data += n;
            len -= n;
        }
        if (!s->left) {
            out_frame_end(s);
            s->hd_len = 0;
        }
    }
    s->out_len = 0;
}

/* ---- the client's side: the frames it sent, as both servers read them -----------------------------------
 */

/*
 * The client's stream after the preface, split into frames by their lengths as a server splits it (up
 * to where a server stops reading, the two split it alike). Facts the rows of `differences` test.
 */
static struct {
    size_t skip; /* preface bytes still to come */
    uint8_t hd[9];
    size_t hd_len;
    uint8_t type, flags;
    uint32_t sid, len, left;
    uint8_t payload[16];
    size_t payload_len;
    bool fin;
    /* facts */
    uint64_t conn_data;          /* DATA lengths (padding included), all streams */
    uint64_t data[NSLOTS];       /* per stream */
    uint64_t initial_window;     /* the client's SETTINGS_INITIAL_WINDOW_SIZE, as last sent */
    uint64_t conn_wu;            /* its WINDOW_UPDATE increments on stream 0 */
    uint64_t wu[NSLOTS];         /* per stream */
    bool wu_zero;                /* a WINDOW_UPDATE of 0 */
    uint32_t block_frames;       /* frames of the field block being sent (HEADERS + CONTINUATION) */
    uint32_t max_block_frames;   /* the most in one block */
    uint32_t block_bytes;        /* bytes of the field block being sent */
    uint32_t max_block_bytes;    /* the most in one block */
    uint32_t max_settings;       /* the most entries in one SETTINGS */
    uint32_t max_frame_len;      /* the longest frame */
    bool bad_settings_value;     /* a SETTINGS value RFC 9113 6.5.2 makes an error */
    uint32_t settings_begun;     /* SETTINGS frames (not ACKs) begun */
    bool no_prio_known;          /* SETTINGS_NO_RFC7540_PRIORITIES is fixed: by an entry, or 0 by the
                                    first SETTINGS ending without one (RFC 9218 2.1) */
    uint32_t no_prio;            /* its value then */
    bool no_prio_changed;        /* an entry changed it after that */
    uint32_t resets;             /* RST_STREAM frames */
    uint32_t empty_frames;       /* empty DATA, HEADERS or CONTINUATION without END_* */
    uint32_t priority_frames;    /* PRIORITY frames */
    uint32_t window_updates;     /* WINDOW_UPDATE frames */
    bool unknown_type;           /* a frame of an extension type */
    uint32_t acks;               /* SETTINGS ACK frames */
    uint32_t goaways;            /* GOAWAY frames */
    uint32_t pings_after_goaway; /* PINGs (not ACKs) after a GOAWAY */
    uint32_t frames;             /* frames begun */
    bool in_block;               /* a HEADERS or CONTINUATION without END_HEADERS came last */
    bool cut_short;              /* the FIN came inside a frame */
    /* the frames begun since the last readable (and the one being sent then) */
    struct cframe pending[MAX_CULPRITS];
    int npending;
    int cur_pending; /* the frame being sent in pending[], -1 when it is not there */
    /* the client's field blocks, decoded as the servers decode them (the first one per stream: its
     * request's header list) */
    bool hpack_broken;            /* a block did not decode, or came apart: nothing more is decoded */
    uint32_t list_fields[NSLOTS]; /* regular fields */
    uint32_t list_all[NSLOTS];    /* all fields, pseudo-header fields too */
    uint64_t list_size[NSLOTS];   /* RFC 9113 6.5.2: name + value + 32 per field */
    uint64_t list_bytes[NSLOTS];  /* name + value per field */
    bool list_seen[NSLOTS];
    uint64_t max_list_size;           /* the largest list of any block */
    bool headers_on[NSLOTS];          /* a HEADERS named the stream */
    bool block_open[NSLOTS];          /* a field block on it began and has not ended */
    bool wu_zero_on[NSLOTS];          /* a WINDOW_UPDATE of 0 on it */
    bool after_goaway[NSLOTS];        /* its HEADERS came after a GOAWAY of the client's */
    bool priority_on[NSLOTS];         /* a PRIORITY frame named it (as the stream or its parent) */
    bool bad_priority_on[NSLOTS];     /* a PRIORITY frame of a length other than 5 on it */
    bool reset_on[NSLOTS];            /* the client sent RST_STREAM on it */
    bool ended_on[NSLOTS];            /* the client sent END_STREAM on it */
    bool framed_after_goaway[NSLOTS]; /* a frame on it came after a GOAWAY of the client's */
    bool trailers_on[NSLOTS];         /* a second HEADERS on it: trailers */
    bool held_end_at_goaway; /* at its first GOAWAY, nghttp2 held an empty END_STREAM DATA we had sent */
} cl;

static void note_held_end_at_goaway(void);

static struct bytes cl_frame; /* the payload of the HEADERS or CONTINUATION being sent */
static struct bytes cl_block; /* the field block being sent */
static uint32_t cl_block_sid;
static nghttp2_hd_inflater *cl_inflater;

static void client_reset_state(void)
{
    memset(&cl, 0, sizeof(cl));
    cl_frame.len = cl_block.len = 0;
    cl_block_sid = 0;
    if (cl_inflater)
        nghttp2_hd_inflate_del(cl_inflater);
    CHECK(!nghttp2_hd_inflate_new(&cl_inflater), "nghttp2_hd_inflate_new");
    cl.skip = PREFACE_LEN;
    cl.initial_window = 65535;
}

/* The client sends DATA of len bytes on sid: past the window a server had given when it was written? */
static void client_data(uint32_t sid, uint32_t len)
{
    int slot = slot_of(sid);

    cl.conn_data += len;
    if (slot >= 0)
        cl.data[slot] += len;
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        uint64_t initial = s->window_applied ? s->server_initial_window : 65535;

        if (cl.conn_data > 65535 + s->conn_grants)
            s->overran_conn = true;
        if (slot >= 0 && cl.data[slot] > initial + s->streams[slot].grants)
            s->overran[slot] = true;
    }
}

/* A client WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE: may a server's send window pass 2^31-1? Its
 * window is the client's initial window and increments less the DATA it sent, which is at least what
 * the client read of it so far: so this is an upper bound. */
static void client_windows_moved(bool by_settings)
{
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        uint64_t sent = 0;

        for (int slot = 1; slot < NSLOTS; slot++) {
            sent += s->streams[slot].data;
            if (cl.initial_window + cl.wu[slot] > 0x7fffffffu + s->streams[slot].data) {
                if (by_settings)
                    s->send_overflow_settings = true;
                else
                    s->send_overflow[slot] = true;
            }
        }
        if (65535 + cl.conn_wu > 0x7fffffffu + sent)
            s->send_overflow_conn = true;
    }
}

/* A frame like the one before it, its header's facts all the same, where nothing of its payload matters
 * to the rows (empty, a CONTINUATION, DATA without padding): it tells them nothing more. Once the
 * readable's list is half full such repeats are not kept, so that a flood of them (empty DATA or
 * SETTINGS, a field block cut into thousands of CONTINUATIONs) leaves room for the frames after it. */
static bool repeats_last(const struct cframe *f)
{
    const struct cframe *p;

    if (cl.npending < MAX_CULPRITS / 2 || (f->len && f->type != NGHTTP2_CONTINUATION &&
                                           (f->type != NGHTTP2_DATA || (f->flags & NGHTTP2_FLAG_PADDED))))
        return false;
    p = &cl.pending[cl.npending - 1];
    return (p->whole || !p->len) && p->type == f->type && p->flags == f->flags && p->sid == f->sid &&
           p->len == f->len && p->idle == f->idle && p->opener == f->opener && p->in_block == f->in_block &&
           p->after_goaway == f->after_goaway && p->skipped == f->skipped;
}

static void client_frame_begin(void)
{
    struct cframe f = {
        .type = cl.type,
        .flags = cl.flags,
        .sid = cl.sid,
        .len = cl.len,
        .idle = cl.sid && (!(cl.sid & 1) || cl.sid > highest_headers),
        .first = -1,
        .opener = !cl.frames,
        .in_block = cl.in_block,
        .after_goaway = cl.goaways > 0,
        .skipped = cl.type == NGHTTP2_HEADERS && (cl.sid & 1) && cl.sid < highest_headers &&
                   !(slot_of(cl.sid) > 0 && cl.headers_on[slot_of(cl.sid)]),
    };

    cl.cur_pending = -1;
    if (cl.npending < MAX_CULPRITS && !repeats_last(&f)) {
        cl.cur_pending = cl.npending;
        cl.pending[cl.npending++] = f;
    }
    cl.frames++;
    if (cl.len > cl.max_frame_len)
        cl.max_frame_len = cl.len;
    if (cl.type == NGHTTP2_HEADERS) {
        cl.block_frames = 1;
        cl.block_bytes = cl.len;
        if ((cl.sid & 1) && cl.sid > highest_headers)
            highest_headers = cl.sid;
    } else if (cl.type == NGHTTP2_CONTINUATION) {
        cl.block_frames++;
        cl.block_bytes += cl.len;
    }
    if (cl.block_frames > cl.max_block_frames)
        cl.max_block_frames = cl.block_frames;
    if (cl.block_bytes > cl.max_block_bytes)
        cl.max_block_bytes = cl.block_bytes;
    if (!cl.len && ((cl.type == NGHTTP2_DATA && !(cl.flags & NGHTTP2_FLAG_END_STREAM)) ||
                    ((cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_CONTINUATION) &&
                     !(cl.flags & NGHTTP2_FLAG_END_HEADERS))))
        cl.empty_frames++;
    if (cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_CONTINUATION)
        cl.in_block = !(cl.flags & NGHTTP2_FLAG_END_HEADERS);
    if (cl.goaways && slot_of(cl.sid) > 0)
        cl.framed_after_goaway[slot_of(cl.sid)] = true;
    if ((cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_DATA) && (cl.flags & NGHTTP2_FLAG_END_STREAM) &&
        slot_of(cl.sid) > 0)
        cl.ended_on[slot_of(cl.sid)] = true;
    if (cl.type == NGHTTP2_HEADERS && slot_of(cl.sid) > 0) {
        cl.trailers_on[slot_of(cl.sid)] |= cl.headers_on[slot_of(cl.sid)];
        cl.after_goaway[slot_of(cl.sid)] |= cl.goaways > 0;
        cl.headers_on[slot_of(cl.sid)] = true;
        cl.block_open[slot_of(cl.sid)] = true;
    }
    switch (cl.type) {
    case NGHTTP2_DATA:
        client_data(cl.sid, cl.len);
        break;
    case NGHTTP2_SETTINGS:
        if (!(cl.flags & NGHTTP2_FLAG_ACK) && cl.len / 6 > cl.max_settings)
            cl.max_settings = cl.len / 6;
        if (!(cl.flags & NGHTTP2_FLAG_ACK) && cl.settings_begun++ && !cl.no_prio_known)
            cl.no_prio_known = true; /* the first one ended without the entry: 0 */
        if ((cl.flags & NGHTTP2_FLAG_ACK) && !cl.len) {
            cl.acks++;
            for (int i = 0; i < 2; i++) {
                if (sides[i].server_settings_read)
                    sides[i].window_applied = true;
                if (cl.acks > sides[i].settings_frames)
                    sides[i].unexpected_ack = true;
            }
        }
        break;
    case NGHTTP2_RST_STREAM:
        cl.resets++;
        if (slot_of(cl.sid) > 0)
            cl.reset_on[slot_of(cl.sid)] = true;
        break;
    case NGHTTP2_GOAWAY:
        if (!cl.goaways++)
            note_held_end_at_goaway();
        break;
    case NGHTTP2_PING:
        cl.pings_after_goaway += cl.goaways && !(cl.flags & NGHTTP2_FLAG_ACK);
        break;
    case NGHTTP2_PRIORITY:
        cl.priority_frames++;
        if (slot_of(cl.sid) > 0) {
            cl.priority_on[slot_of(cl.sid)] = true;
            cl.bad_priority_on[slot_of(cl.sid)] |= cl.len != 5;
        }
        break;
    case NGHTTP2_WINDOW_UPDATE:
        cl.window_updates++;
        break;
    default:
        if (cl.type > NGHTTP2_CONTINUATION)
            cl.unknown_type = true;
        break;
    }
}

/* A whole client field block: its header list, measured as a server measures it. */
static void client_block(uint32_t sid)
{
    const uint8_t *p = cl_block.p ? cl_block.p : (const uint8_t *)""; /* no NULL + 0 */
    size_t left = cl_block.len;
    int slot = slot_of(sid);
    uint32_t fields = 0, all = 0;
    uint64_t size = 0, bytes = 0;

    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t n = nghttp2_hd_inflate_hd2(cl_inflater, &nv, &flags, p, left, 1);

        if (n < 0) {
            cl.hpack_broken = true;
            return;
        }
        p += n;
        left -= (size_t)n;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            fields += nv.namelen && nv.name[0] != ':';
            all++;
            size += 32 + nv.namelen + nv.valuelen;
            bytes += nv.namelen + nv.valuelen;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(cl_inflater);
            break;
        }
        if (!n && !left) {
            cl.hpack_broken = true;
            return;
        }
    }
    if (size > cl.max_list_size)
        cl.max_list_size = size;
    if (slot > 0 && !cl.list_seen[slot]) {
        cl.list_seen[slot] = true;
        cl.list_fields[slot] = fields;
        cl.list_all[slot] = all;
        cl.list_size[slot] = size;
        cl.list_bytes[slot] = bytes;
    }
}

/* A HEADERS or CONTINUATION frame came whole: its fragment joins the block. */
static void client_fragment(void)
{
    size_t skip = 0, pad = 0;

    if (cl.type == NGHTTP2_HEADERS) {
        cl_block.len = 0;
        cl_block_sid = cl.sid;
        if (cl.flags & NGHTTP2_FLAG_PADDED) {
            pad = cl_frame.len ? cl_frame.p[0] : 0;
            skip = 1;
        }
        if (cl.flags & NGHTTP2_FLAG_PRIORITY)
            skip += 5;
    } else if (cl.sid != cl_block_sid) {
        cl.hpack_broken = true;
    }
    if (skip + pad > cl_frame.len) {
        cl.hpack_broken = true;
        return;
    }
    if (cl_frame.len)
        bytes_add(&cl_block, cl_frame.p + skip, cl_frame.len - skip - pad);
    if ((cl.flags & NGHTTP2_FLAG_END_HEADERS) && !cl.hpack_broken)
        client_block(cl_block_sid);
}

static void client_frame_end(void)
{
    const uint8_t *p = cl.payload;

    if (cl.cur_pending >= 0) {
        cl.pending[cl.cur_pending].whole = true;
        if (cl.payload_len >= 4)
            cl.pending[cl.cur_pending].word = be32(p);
    }
    if ((cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_CONTINUATION) && !cl.hpack_broken)
        client_fragment();
    if ((cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_CONTINUATION) &&
        (cl.flags & NGHTTP2_FLAG_END_HEADERS) && slot_of(cl.sid) > 0)
        cl.block_open[slot_of(cl.sid)] = false;
    if (cl.type == NGHTTP2_WINDOW_UPDATE && cl.payload_len == 4) {
        uint32_t inc = be32(p) & 0x7fffffff;
        int slot = slot_of(cl.sid);

        if (!inc) {
            cl.wu_zero = true;
            if (slot > 0)
                cl.wu_zero_on[slot] = true;
        }
        if (!cl.sid)
            cl.conn_wu += inc;
        else if (slot >= 0)
            cl.wu[slot] += inc;
        client_windows_moved(false);
    }
}

/* A SETTINGS entry, as it comes (entries are applied one by one). */
static void client_setting(const uint8_t *e)
{
    uint16_t id = (uint16_t)(e[0] << 8 | e[1]);
    uint32_t v = be32(e + 2);

    switch (id) {
    case NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE:
        if (v > 0x7fffffff)
            cl.bad_settings_value = true;
        cl.initial_window = v;
        client_windows_moved(true);
        break;
    case NGHTTP2_SETTINGS_MAX_FRAME_SIZE:
        if (v < 16384 || v > 16777215)
            cl.bad_settings_value = true;
        break;
    case 9: /* NO_RFC7540_PRIORITIES */
        cl.no_prio_changed |= cl.no_prio_known && v != cl.no_prio;
        cl.no_prio_known = true;
        cl.no_prio = v;
        /* fall through */
    case NGHTTP2_SETTINGS_ENABLE_PUSH:
    case 8: /* ENABLE_CONNECT_PROTOCOL */
        if (v > 1)
            cl.bad_settings_value = true;
        break;
    default:
        break;
    }
}

static void client_sent(const uint8_t *data, size_t len)
{
    while (len) {
        if (cl.skip) {
            size_t n = cl.skip < len ? cl.skip : len;

            cl.skip -= n;
            data += n;
            len -= n;
            continue;
        }
        if (cl.hd_len < 9) {
            cl.hd[cl.hd_len++] = *data++;
            len--;
            if (cl.hd_len < 9)
                continue;
            cl.len = cl.left = (uint32_t)cl.hd[0] << 16 | (uint32_t)cl.hd[1] << 8 | cl.hd[2];
            cl.type = cl.hd[3];
            cl.flags = cl.hd[4];
            cl.sid = be32(cl.hd + 5) & 0x7fffffff;
            cl.payload_len = 0;
            cl_frame.len = 0;
            client_frame_begin();
        }
        if (cl.type == NGHTTP2_SETTINGS && !(cl.flags & NGHTTP2_FLAG_ACK) && cl.len % 6 == 0) {
            /* entries one at a time, as both servers apply them */
            while (cl.left && len) {
                cl.payload[cl.payload_len++] = *data++;
                len--;
                cl.left--;
                if (cl.payload_len == 6) {
                    client_setting(cl.payload);
                    cl.payload_len = 0;
                }
            }
        } else if (cl.left && len) {
            size_t n = cl.left < len ? cl.left : len, keep = sizeof(cl.payload) - cl.payload_len;

            if (!cl.payload_len && cl.npending && cl.pending[cl.npending - 1].first < 0)
                cl.pending[cl.npending - 1].first = data[0];
            if (cl.type == NGHTTP2_HEADERS || cl.type == NGHTTP2_CONTINUATION)
                bytes_add(&cl_frame, data, n);
            memcpy(cl.payload + cl.payload_len, data, n < keep ? n : keep); /* the first bytes are enough */
            cl.payload_len += n < keep ? n : keep;
            cl.left -= (uint32_t)n;
            data += n;
            len -= n;
        }
        if (!cl.left) {
            client_frame_end();
            cl.hd_len = 0;
        }
    }
}

/* ---- driving both servers ----------------------------------------------------------------------------- */

/* After each call into a server: a connection both sides have finished is closed, as TCP would. */
static void settle(struct side *s)
{
    if (s->open && s->shut && s->fin && !s->out_len) {
        struct app_conn *ac = s->ac;

        tracef("  %s: closed (both FINs)\n", s->name);
        s->open = false;
        s->ac = NULL;
        drop_segs(s);
        app_closed(s->table, ac, 0);
    }
}

/* The client reads everything, and the server writes while it asks to. */
static void pump(struct side *s)
{
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        client_read(s);
        settle(s);
        if (!s->open || !s->want_writable || !io_writable(s))
            return;
        s->want_writable = false;
        app_writable(s->ac);
    }
    client_read(s);
    settle(s);
}

/* The frames of this readable: what ended the connection, if it ended now. */
static void note_culprits(struct side *s)
{
    if (s->ended_early || !((s->goaway && s->goaway_code) || s->aborted || (s->shut && !s->fin)))
        return;
    s->ended_early = true;
    memcpy(s->culprits, cl.pending, sizeof(cl.pending[0]) * (size_t)cl.npending);
    s->nculprits = cl.npending;
}

static void deliver_readable(struct side *s)
{
    if (!s->open)
        return;
    app_readable(s->ac);
    pump(s);
    note_culprits(s);
}

/* A side left bytes unread beyond the frame still coming (it stopped reading while the client did not
 * read its output): it judges those frames at a later readable, so they stay its culprits until then. */
static bool side_lags(void)
{
    size_t current = cl.hd_len == 9 && cl.left ? 9 + (size_t)(cl.len - cl.left) : cl.hd_len;

    for (int i = 0; i < 2; i++)
        if (sides[i].open && !sides[i].ended_early && input_left(&sides[i]) > current)
            return true;
    return false;
}

/* Both sides had their readable: the frames pending start over (with the one still coming), unless a
 * side has yet to read some of them. */
static void pending_delivered(void)
{
    bool in_frame = cl.hd_len == 9 && cl.left;

    if (side_lags())
        return;

    if (in_frame && cl.cur_pending >= 0) {
        cl.pending[0] = cl.pending[cl.cur_pending];
        cl.npending = 1;
        cl.cur_pending = 0;
    } else {
        cl.npending = 0;
        cl.cur_pending = -1;
    }
}

static void client_write(const uint8_t *data, size_t len, bool more)
{
    if (cl.fin)
        return;
    tracef("> %zu bytes%s\n", len, more ? " (more follows)" : "");
    client_sent(data, len);
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];

        if (!s->open || s->nsegs == MAX_SEGS)
            continue;
        if (len) {
            struct seg *g = &s->segs[s->nsegs++];

            g->data = malloc(len);
            CHECK(g->data, "malloc");
            memcpy(g->data, data, len);
            g->len = len;
            g->off = 0;
        }
        if (!more)
            deliver_readable(s);
    }
    if (!more)
        pending_delivered();
}

static void client_fin(void)
{
    if (cl.fin)
        return;
    tracef("> FIN\n");
    cl.fin = true;
    cl.cut_short = cl.hd_len == 9 && cl.left;
    for (int i = 0; i < 2; i++) {
        if (!sides[i].open)
            continue;
        sides[i].fin = true;
        deliver_readable(&sides[i]);
    }
    pending_delivered();
}

static void side_open(struct side *s, int config)
{
    for (int slot = 0; slot < NSLOTS; slot++) {
        struct request_rec *r = &s->requests[slot];
        struct bytes head = r->head, body = r->body;

        head.len = body.len = 0;
        *r = (struct request_rec){.head = head, .body = body};
    }
    memset(s->streams, 0, sizeof(s->streams));
    for (int slot = 0; slot < NSLOTS; slot++)
        s->streams[slot].hash = FNV_START;
    memset(s->overran, 0, sizeof(s->overran));
    memset(s->send_overflow, 0, sizeof(s->send_overflow));
    s->overran_conn = s->send_overflow_conn = s->send_overflow_settings = false;
    s->hw = s->workers[config];
    s->table = &s->tables[config];
    s->table->now_ns = now_ns;
    s->stats_before = *http_worker_stats(s->hw);
    s->open = true;
    s->fin = s->shut = s->shut_before_fin = s->aborted = s->want_writable = false;
    s->out_len = 0;
    s->budget = OUT_BUDGET;
    s->hd_len = 0;
    s->block.len = 0;
    s->block_sid = 0;
    nghttp2_hd_inflate_del(s->inflater);
    CHECK(!nghttp2_hd_inflate_new(&s->inflater), "nghttp2_hd_inflate_new");
    s->goaway = false;
    s->goaway_code = s->goaway_last = 0;
    s->pings_acked = s->settings_acked = s->settings_frames = 0;
    s->server_initial_window = 65535;
    s->server_settings_read = s->window_applied = s->unexpected_ack = false;
    s->conn_grants = 0;
    s->end = END_OPEN;
    s->nculprits = 0;
    s->ended_early = false;
    s->violation = NULL;
    s->nfar = 0;
    s->ac = app_open(s->table, PORT, &fake_io, s);
    CHECK(s->ac, "%s: app_open found no free slot: a connection was not given back", s->name);
    CHECK(s->open, "%s: the HTTP service refused a connection", s->name);
}

static void side_close(struct side *s)
{
    struct http_worker_usage u;

    if (s->open) {
        struct app_conn *ac = s->ac;

        s->open = false;
        s->ac = NULL;
        drop_segs(s);
        app_closed(s->table, ac, ECONNRESET);
    }
    http_worker_in_use(s->hw, &u);
    CHECK(!u.conns && !u.streams && !u.bufs && !u.mem_blocks,
          "%s: after the close, still in use: %u connections, %u streams, %u buffers, %llu pool blocks",
          s->name, u.conns, u.streams, u.bufs, (unsigned long long)u.mem_blocks);
    CHECK(s->table->open == 0, "%s: after the close, %u app slots still taken", s->name, s->table->open);
}

static void clock_moves(uint64_t ns)
{
    now_ns += ns;
    for (int i = 0; i < 2; i++)
        sides[i].table->now_ns = now_ns;
}

/* ---- building frames ------------------------------------------------------------------------------------
 */

struct frame_buf {
    uint8_t b[9 + 65536];
    size_t len;
};

static void fb_header(struct frame_buf *f, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    f->b[f->len++] = (uint8_t)(len >> 16);
    f->b[f->len++] = (uint8_t)(len >> 8);
    f->b[f->len++] = (uint8_t)len;
    f->b[f->len++] = type;
    f->b[f->len++] = flags;
    f->b[f->len++] = (uint8_t)(sid >> 24);
    f->b[f->len++] = (uint8_t)(sid >> 16);
    f->b[f->len++] = (uint8_t)(sid >> 8);
    f->b[f->len++] = (uint8_t)sid;
}

static void fb_put(struct frame_buf *f, const void *p, size_t n)
{
    CHECK(f->len + n <= sizeof(f->b), "frame buffer");
    memcpy(f->b + f->len, p, n);
    f->len += n;
}

static void fb_u32(struct frame_buf *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    fb_put(f, b, 4);
}

/* HPACK (RFC 7541): an integer with an N-bit prefix, literal fields without indexing. */
struct block {
    uint8_t b[65536];
    size_t len;
};

static void hp_int(struct block *b, uint8_t first, int prefix, size_t v)
{
    size_t max = ((size_t)1 << prefix) - 1;

    if (b->len + 8 > sizeof(b->b))
        return;
    if (v < max) {
        b->b[b->len++] = (uint8_t)(first | v);
        return;
    }
    b->b[b->len++] = (uint8_t)(first | max);
    for (v -= max; v >= 128; v >>= 7)
        b->b[b->len++] = (uint8_t)(v % 128 + 128);
    b->b[b->len++] = (uint8_t)v;
}

static void hp_str(struct block *b, const char *s, size_t n)
{
    hp_int(b, 0x00, 7, n);
    if (b->len + n > sizeof(b->b))
        n = sizeof(b->b) - b->len;
    memcpy(b->b + b->len, s, n);
    b->len += n;
}

/* name_index 0: a literal name follows */
static void hp_literal(struct block *b, unsigned name_index, const char *name, const char *value)
{
    hp_int(b, 0x00, 4, name_index);
    if (!name_index)
        hp_str(b, name, strlen(name));
    hp_str(b, value, strlen(value));
}

static const char *const methods[8] = {"GET", "POST", "PUT", "HEAD", "DELETE", "CONNECT", "OPTIONS", "PATCH"};
static const char *const paths[16] = {
    "/healthz",
    "/echo",
    "/bytes/100",
    "/bytes/70000",
    "/metrics",
    "/static/index.html",
    "/static/big.bin",
    "/nowhere",
    "/healthz?x=1",
    "",
    "*",
    "/bytes/abc",
    "/static/../x",
    "/echo?a=b",
    "/bytes/0",
    "healthz",
};

enum request_mods {
    MOD_NO_METHOD = 1,
    MOD_NO_SCHEME = 2,
    MOD_NO_PATH = 4,
    MOD_NO_AUTHORITY = 8,
    MOD_CONTENT_LENGTH = 16, /* content-length: 5 */
    MOD_CONNECTION = 32,     /* a connection-specific field (8.2.2): connection: close */
    MOD_PSEUDO_LAST = 64,    /* :path after a regular field (8.3) */
    MOD_UPPERCASE = 128,     /* a field name with an uppercase letter (8.2.1) */
};

/* A request's field block: literal fields (the static table's names), so no dynamic table state. */
static void build_request(struct block *b, unsigned sel, unsigned mods, unsigned extras, unsigned vlen)
{
    static char value[1024];
    const char *method = methods[sel >> 4 & 7], *path = paths[sel & 15];

    b->len = 0;
    if (!(mods & MOD_NO_METHOD))
        hp_literal(b, 2, NULL, method);
    if (!(mods & MOD_NO_SCHEME))
        hp_literal(b, 6, NULL, "http");
    if (!(mods & MOD_NO_PATH) && !(mods & MOD_PSEUDO_LAST))
        hp_literal(b, 4, NULL, path);
    if (!(mods & MOD_NO_AUTHORITY))
        hp_literal(b, 1, NULL, "localhost");
    hp_literal(b, 58, NULL, "h2_diff_fuzz"); /* user-agent */
    if (mods & MOD_CONTENT_LENGTH)
        hp_literal(b, 28, NULL, "5");
    if (mods & MOD_CONNECTION)
        hp_literal(b, 0, "connection", "close");
    if (mods & MOD_UPPERCASE)
        hp_literal(b, 0, "X-Upper", "1");
    memset(value, 'v', sizeof(value));
    value[vlen * 4 < sizeof(value) ? vlen * 4 : sizeof(value) - 1] = '\0';
    for (unsigned i = 0; i < extras && b->len + strlen(value) + 32 < sizeof(b->b); i++) {
        char name[16];

        snprintf(name, sizeof(name), "x-f%u", i);
        hp_literal(b, 0, name, value);
    }
    if ((mods & MOD_PSEUDO_LAST) && !(mods & MOD_NO_PATH))
        hp_literal(b, 4, NULL, path);
}

/* A field block in HEADERS (and CONTINUATION frames: cut, or past 16384 bytes), written at once. */
static void write_field_block(uint32_t sid, const struct block *b, bool end_stream, unsigned cut,
                              bool cut_many, bool padded, bool more)
{
    static struct frame_buf f;
    size_t first = b->len, off, step;
    uint8_t flags = end_stream ? NGHTTP2_FLAG_END_STREAM : 0;

    if (cut_many) {
        step = cut + 1;
        first = step < b->len ? step : b->len;
    } else {
        step = 16384;
        if (cut)
            first = cut % (b->len + 1);
    }
    if (first > 16384 - 6 - 3)
        first = 16384 - 6 - 3;
    f.len = 0;
    if (padded)
        flags |= NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_PRIORITY;
    if (first == b->len)
        flags |= NGHTTP2_FLAG_END_HEADERS;
    fb_header(&f, (uint32_t)(first + (padded ? 6 + 3 : 0)), NGHTTP2_HEADERS, flags, sid);
    if (padded) {
        static const uint8_t prefix[6] = {3, 0, 0, 0, 0, 15}; /* pad length 3, depends on 0, weight 16 */

        fb_put(&f, prefix, 6);
    }
    fb_put(&f, b->b, first);
    if (padded)
        fb_put(&f, "\0\0\0", 3);
    for (off = first; off < b->len; off += step) {
        size_t n = b->len - off < step ? b->len - off : step;

        if (f.len + 9 + n > sizeof(f.b)) { /* write what is built: one piece per 64 KiB */
            client_write(f.b, f.len, true);
            f.len = 0;
        }
        fb_header(&f, (uint32_t)n, NGHTTP2_CONTINUATION, off + n == b->len ? NGHTTP2_FLAG_END_HEADERS : 0,
                  sid);
        fb_put(&f, b->b + off, n);
    }
    client_write(f.b, f.len, more);
}

static void op_frame(struct input *in, unsigned arg)
{
    static struct frame_buf f;
    uint8_t type = frame_types[arg & 15];
    uint8_t flags = (uint8_t)in_u8(in);
    uint32_t sid = sid_of(in_u8(in));
    unsigned len = in_u16(in);

    bool zeros = len & 0x8000;

    len &= 0x7fff;
    if (!zeros && len > (size_t)(in->end - in->p))
        len = (unsigned)(in->end - in->p);
    f.len = 0;
    fb_header(&f, len, type, flags, sid);
    if (zeros) {
        memset(f.b + f.len, 0, len);
        f.len += len;
    } else {
        fb_put(&f, in->p, len);
        in->p += len;
    }
    tracef("> frame type %u flags 0x%02x stream %u length %u\n", type, flags, sid, (unsigned)(f.len - 9));
    client_write(f.b, f.len, arg & 16);
}

static void op_request(struct input *in, unsigned arg)
{
    static struct block b;
    uint32_t sid = sid_of(in_u8(in));
    unsigned sel = in_u8(in), mods = in_u8(in), cut = 0, extras = 0, vlen = 0;

    if (arg & 4)
        cut = in_u8(in);
    if (arg & 16) {
        extras = in_u8(in);
        vlen = in_u8(in);
    }
    build_request(&b, sel, mods, extras, vlen);
    tracef("> request on stream %u: %s %s, mods 0x%02x, %u extra fields%s%s\n", sid, methods[sel >> 4 & 7],
           paths[sel & 15], mods, extras, arg & 1 ? ", END_STREAM" : "", arg & 4 ? ", cut" : "");
    write_field_block(sid, &b, arg & 1, cut & 0x7f, (arg & 4) && (cut & 0x80), arg & 8, arg & ARG_MORE);
}

static void op_data(struct input *in, unsigned arg)
{
    static struct frame_buf f;
    uint32_t sid = sid_of(in_u8(in));
    unsigned len = in_u16(in) & 0x7fff, pad = arg & 4 ? in_u8(in) : 0;
    uint8_t flags = (uint8_t)((arg & 1 ? NGHTTP2_FLAG_END_STREAM : 0) | (arg & 4 ? NGHTTP2_FLAG_PADDED : 0));

    if ((arg & 8) && len > (size_t)(in->end - in->p))
        len = (unsigned)(in->end - in->p);
    f.len = 0;
    fb_header(&f, len + (arg & 4 ? 1 + pad : 0), NGHTTP2_DATA, flags, sid);
    if (arg & 4)
        f.b[f.len++] = (uint8_t)pad;
    if (arg & 8) {
        fb_put(&f, in->p, len);
        in->p += len;
    } else {
        for (unsigned i = 0; i < len; i++)
            f.b[f.len++] = (uint8_t)('a' + i % 26);
    }
    memset(f.b + f.len, 0, pad);
    f.len += pad;
    tracef("> DATA stream %u, %u bytes%s%s\n", sid, len, arg & 4 ? ", padded" : "",
           arg & 1 ? ", END_STREAM" : "");
    client_write(f.b, f.len, arg & 16);
}

/* Control frames, by arg&7; arg&16 picks a variant. */
static void op_control(struct input *in, unsigned arg)
{
    static struct frame_buf f;
    bool variant = arg & 16;

    f.len = 0;
    switch (arg & 7) {
    case 0: /* SETTINGS ACK; variant: an empty SETTINGS */
        fb_header(&f, 0, NGHTTP2_SETTINGS, variant ? 0 : NGHTTP2_FLAG_ACK, 0);
        break;
    case 1: { /* PING; variant: a PING ACK */
        uint8_t p[8] = {'p', 'i', 'n', 'g', 0, 0, 0, (uint8_t)in_u8(in)};

        fb_header(&f, 8, NGHTTP2_PING, variant ? NGHTTP2_FLAG_ACK : 0, 0);
        fb_put(&f, p, 8);
        break;
    }
    case 2: { /* WINDOW_UPDATE: u8 stream, u32 increment */
        uint32_t sid = sid_of(in_u8(in));

        fb_header(&f, 4, NGHTTP2_WINDOW_UPDATE, 0, sid);
        fb_u32(&f, in_u32(in));
        break;
    }
    case 3: { /* RST_STREAM: u8 stream, u8 code */
        uint32_t sid = sid_of(in_u8(in));

        fb_header(&f, 4, NGHTTP2_RST_STREAM, 0, sid);
        fb_u32(&f, in_u8(in));
        break;
    }
    case 4: { /* PRIORITY: u8 stream, u8 the stream it depends on, u8 weight; variant: exclusive */
        uint32_t sid = sid_of(in_u8(in)), dep = sid_of(in_u8(in));
        uint8_t w = (uint8_t)in_u8(in);

        fb_header(&f, 5, NGHTTP2_PRIORITY, 0, sid);
        fb_u32(&f, dep | (variant ? 0x80000000u : 0));
        fb_put(&f, &w, 1);
        break;
    }
    case 5: { /* SETTINGS of one entry: u8 id, u32 value; variant: the entry twice */
        uint8_t e[6];
        uint32_t v;

        e[0] = 0;
        e[1] = (uint8_t)in_u8(in);
        v = in_u32(in);
        e[2] = (uint8_t)(v >> 24);
        e[3] = (uint8_t)(v >> 16);
        e[4] = (uint8_t)(v >> 8);
        e[5] = (uint8_t)v;
        fb_header(&f, variant ? 12 : 6, NGHTTP2_SETTINGS, 0, 0);
        fb_put(&f, e, 6);
        if (variant)
            fb_put(&f, e, 6);
        break;
    }
    case 6: { /* GOAWAY: u8 last stream, u8 code */
        uint32_t last = sid_of(in_u8(in));

        fb_header(&f, 8, NGHTTP2_GOAWAY, 0, 0);
        fb_u32(&f, last);
        fb_u32(&f, in_u8(in));
        break;
    }
    default: { /* an empty DATA on u8 stream; variant: an empty CONTINUATION */
        uint32_t sid = sid_of(in_u8(in));

        fb_header(&f, 0, variant ? NGHTTP2_CONTINUATION : NGHTTP2_DATA, 0, sid);
        break;
    }
    }
    tracef("> control frame type %u flags 0x%02x stream %u\n", f.b[3], f.b[4], be32(f.b + 5) & 0x7fffffff);
    client_write(f.b, f.len, arg & 8);
}

/* The n-th NUL-terminated part of a recorded request head (0 method, 1 path, 2 query, 3 authority,
 * then names and values), or NULL. */
static const char *head_part(const struct request_rec *r, int n, size_t *len)
{
    size_t i = 0;

    for (int k = 0; i < r->head.len; k++) {
        const char *p = (const char *)r->head.p + i;
        size_t l = strnlen(p, r->head.len - i);

        if (k == n) {
            *len = l;
            return p;
        }
        i += l + 1;
    }
    return NULL;
}

static bool has_field(const struct request_rec *r, const char *name)
{
    size_t len;
    const char *p;

    for (int n = 4; (p = head_part(r, n, &len)); n += 2)
        if (len == strlen(name) && !memcmp(p, name, len))
            return true;
    return false;
}

/* ---- the outcomes, and the listed differences --------------------------------------------------------- */

static bool errored(const struct side *s)
{
    return s->end == END_GOAWAY || s->end == END_RESET || s->end == END_CLOSED_EARLY || s->end == END_DROPPED;
}

/* How much one of a side's counters moved in this input. */
static uint64_t counter_moved(const struct side *s, size_t offset)
{
    const uint64_t *now = (const uint64_t *)((const char *)http_worker_stats(s->hw) + offset);
    const uint64_t *before = (const uint64_t *)((const char *)&s->stats_before + offset);

    return *now - *before;
}

#define NATIVE_MOVED(field) counter_moved(&sides[0], offsetof(struct http_stats, field))

/* What a row is about: the connection's end, one stream's outcome, or one request. */
enum aspect { CONNECTION, STREAM, REQUEST };

/* The difference a row excuses is between sides[0] (native) and sides[1] (nghttp2); slot is the
 * stream's (0 for the connection). */
struct diff_ctx {
    int slot;
    const char *what; /* which comparison failed */
};

/* Our flood verdict, where the client's frames went past the budget it names (what each counts is
 * narrower than what the client sent, so this is necessary, not sufficient). */
static bool native_flood(const struct diff_ctx *d)
{
    const struct http_config *c = sides[0].hw->cfg;

    (void)d;
    if (sides[0].end != END_GOAWAY || sides[0].goaway_code != NGHTTP2_ENHANCE_YOUR_CALM)
        return false;
    return (NATIVE_MOVED(h2_rapid_reset) && cl.resets > c->rapid_reset_budget) ||
           (NATIVE_MOVED(h2_continuation_flood) &&
            (cl.max_block_frames > c->max_continuations || cl.max_block_bytes > c->max_header_list_size ||
             cl.max_list_size > c->max_header_list_size)) ||
           (NATIVE_MOVED(h2_empty_frame_flood) && cl.empty_frames > c->max_empty_frames) ||
           (NATIVE_MOVED(h2_priority_flood) && cl.priority_frames > c->max_priority_frames) ||
           (NATIVE_MOVED(h2_window_update_flood) && cl.window_updates > c->max_window_update_frames);
}

static bool nghttp2_continuations(const struct diff_ctx *d)
{
    (void)d;
    /* Debian's 1.52.0-1+deb12u2 (CVE-2024-28182): more than 8 CONTINUATION frames in a block end the
     * session, mem_recv fails (NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) and nothing is queued: a bare close */
    return cl.max_block_frames > 1 + 8 && sides[1].end == END_DROPPED;
}

/* Which side's FLOW_CONTROL_ERROR the client's frames explain. */
static bool flow_control_explained(const struct side *s, int slot)
{
    return s->overran_conn || s->send_overflow_conn || s->send_overflow_settings ||
           (slot > 0 && (s->overran[slot] || s->send_overflow[slot]));
}

static bool is_fce(const struct side *s, int slot)
{
    if (s->end == END_GOAWAY && s->goaway_code == NGHTTP2_FLOW_CONTROL_ERROR)
        return true;
    return slot > 0 && s->streams[slot].rst == NGHTTP2_FLOW_CONTROL_ERROR + 1;
}

static bool flow_control(const struct diff_ctx *d)
{
    for (int i = 0; i < 2; i++) {
        const struct side *s = &sides[i];

        if (!is_fce(s, d->slot))
            continue;
        /* the side that said FLOW_CONTROL_ERROR had given less than the client used (or was to get a
         * window past 2^31-1); the other may have given more, or found the error elsewhere */
        if (flow_control_explained(s, d->slot))
            return true;
    }
    return false;
}

/* Both ended the connection, by one of the frames of the same readable that matches test. */
static bool both_for(const struct diff_ctx *d, bool (*test)(const struct cframe *f), uint32_t code_a,
                     uint32_t code_b)
{
    (void)d;
    for (int i = 0; i < 2; i++) {
        const struct side *s = &sides[i];
        bool found = false;

        if (s->end != END_GOAWAY || (s->goaway_code != code_a && s->goaway_code != code_b))
            return false;
        for (int k = 0; k < s->nculprits && !found; k++)
            found = test(&s->culprits[k]);
        if (!found)
            return false;
    }
    return true;
}

/* A frame too short or too long for its type (RFC 9113 4.2: FRAME_SIZE_ERROR). */
static bool size_fault(const struct cframe *f)
{
    uint32_t padded = f->flags & NGHTTP2_FLAG_PADDED ? 1 : 0;

    if (f->len > 16384) /* every configuration's max_frame_size */
        return true;
    switch (f->type) {
    case NGHTTP2_DATA:
        return f->len < padded;
    case NGHTTP2_HEADERS:
        return f->len < padded + (f->flags & NGHTTP2_FLAG_PRIORITY ? 5 : 0);
    case NGHTTP2_PRIORITY:
        return f->len != 5;
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_WINDOW_UPDATE:
        return f->len != 4;
    case NGHTTP2_SETTINGS:
        return f->flags & NGHTTP2_FLAG_ACK ? f->len != 0 : f->len % 6 != 0;
    case NGHTTP2_PUSH_PROMISE:
        return f->len < 4 + padded;
    case NGHTTP2_PING:
        return f->len != 8;
    case NGHTTP2_GOAWAY:
        return f->len < 8;
    default:
        return false;
    }
}

/* A frame on a stream its type may not use, or of a type a client may not send: a connection error of
 * its own (PROTOCOL_ERROR: 6.x for the stream, 5.1 for an idle one, 8.4 for PUSH_PROMISE). */
static bool stream_fault(const struct cframe *f)
{
    if (f->opener && (f->type != NGHTTP2_SETTINGS || (f->flags & NGHTTP2_FLAG_ACK)))
        return true; /* 3.4 */
    if (f->in_block != (f->type == NGHTTP2_CONTINUATION))
        return true; /* 6.10 */
    switch (f->type) {
    case NGHTTP2_DATA:
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_CONTINUATION:
        return !f->sid || f->idle;
    case NGHTTP2_HEADERS:
        return !f->sid || !(f->sid & 1);
    case NGHTTP2_PRIORITY:
        return !f->sid;
    case NGHTTP2_WINDOW_UPDATE:
        return f->idle;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_GOAWAY:
        return f->sid != 0;
    case NGHTTP2_PUSH_PROMISE:
        return true;
    default:
        return false;
    }
}

static bool two_faults(const struct cframe *f)
{
    return size_fault(f) && stream_fault(f);
}

/* DATA or HEADERS with no room for the Pad Length or priority fields its flags announce. */
static bool prefix_fault(const struct cframe *f)
{
    uint32_t need = (f->flags & NGHTTP2_FLAG_PADDED ? 1 : 0) +
                    (f->type == NGHTTP2_HEADERS && (f->flags & NGHTTP2_FLAG_PRIORITY) ? 5 : 0);

    return (f->type == NGHTTP2_DATA || f->type == NGHTTP2_HEADERS) && f->len < need;
}

static bool prefix_codes(const struct diff_ctx *d)
{
    return both_for(d, prefix_fault, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FRAME_SIZE_ERROR);
}

/* HEADERS on a stream the client used before (not idle): a reused identifier (5.1.1, PROTOCOL_ERROR) on
 * a closed stream (5.1, STREAM_CLOSED). */
static bool headers_reused(const struct cframe *f)
{
    return f->type == NGHTTP2_HEADERS && !f->idle && f->sid;
}

static bool reused_or_closed(const struct diff_ctx *d)
{
    return both_for(d, headers_reused, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_STREAM_CLOSED) ||
           (cl.hpack_broken &&
            both_for(d, headers_reused, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_COMPRESSION_ERROR)) ||
           (cl.hpack_broken && both_for(d, headers_reused, NGHTTP2_STREAM_CLOSED, NGHTTP2_COMPRESSION_ERROR));
}

static bool size_or_stream_first(const struct diff_ctx *d)
{
    return both_for(d, two_faults, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FRAME_SIZE_ERROR);
}

/* The client's FIN (or the input's end) came inside a frame that one side refused at its header,
 * while the other waited for its payload and saw no error: when to judge is the receiver's. */
static bool judged_at_header(const struct diff_ctx *d)
{
    const struct cframe *last = cl.npending ? &cl.pending[cl.npending - 1] : NULL;

    (void)d;
    if (!last || !(cl.cut_short || (cl.hd_len == 9 && cl.left)))
        return false;
    for (int i = 0; i < 2; i++) {
        const struct side *s = &sides[i], *o = &sides[!i];

        if (s->end != END_GOAWAY || o->end == END_GOAWAY || o->end == END_RESET || !s->nculprits)
            continue;
        const struct cframe *c = &s->culprits[s->nculprits - 1];

        if (c->type == last->type && c->sid == last->sid && c->len == last->len && !c->whole)
            return true;
    }
    return false;
}

/* nghttp2 decodes a field block fragment by fragment as it comes; we decode it whole, once it ended. */
static bool nghttp2_decodes_as_it_comes(const struct diff_ctx *d)
{
    const struct side *s = &sides[1];

    (void)d;
    if (s->end != END_GOAWAY || s->goaway_code != NGHTTP2_COMPRESSION_ERROR ||
        (sides[0].end == END_GOAWAY && sides[0].goaway_code == NGHTTP2_COMPRESSION_ERROR))
        return false;
    for (int k = 0; k < s->nculprits; k++) {
        const struct cframe *f = &s->culprits[k];

        if ((f->type == NGHTTP2_HEADERS || f->type == NGHTTP2_CONTINUATION) &&
            (!f->whole || !(f->flags & NGHTTP2_FLAG_END_HEADERS)))
            return true;
    }
    return false;
}

/* nghttp2 refuses a client GOAWAY whose last stream id is one it could not have opened (odd), or
 * above the one of an earlier GOAWAY. */
static bool nghttp2_goaway_last_stream(const struct diff_ctx *d)
{
    const struct side *s = &sides[1];

    (void)d;
    if (s->end != END_GOAWAY || s->goaway_code != NGHTTP2_PROTOCOL_ERROR)
        return false;
    for (int k = 0; k < s->nculprits; k++) {
        const struct cframe *f = &s->culprits[k];

        if (f->type == NGHTTP2_GOAWAY && !f->sid && f->len >= 8 && f->whole &&
            (((f->word & 0x7fffffff) & 1) || cl.goaways > 1))
            return true;
    }
    return false;
}

/* A header list over the limits: one side refuses it (431, or RST_STREAM: a list it did not read to
 * its end may be malformed too), the other may refuse it otherwise or go on (nghttp2 does not hold
 * a request to SETTINGS_MAX_HEADER_LIST_SIZE, which 6.5.2 makes advisory). */
static bool header_list_over_limit(const struct diff_ctx *d)
{
    const struct http_config *c = sides[0].hw->cfg;
    const struct stream_out *a = &sides[0].streams[d->slot], *b = &sides[1].streams[d->slot];

    if (d->slot <= 0 || !cl.list_seen[d->slot] ||
        (cl.list_fields[d->slot] <= c->max_headers && cl.list_size[d->slot] <= c->max_header_list_size))
        return false;
    return a->status == 431 || a->rst || b->status == 431 || b->rst;
}

/* The fields of a request past one 16 KiB pool buffer (where we keep them, as an HTTP/1.1 head):
 * ours answers 431 though the list is within SETTINGS_MAX_HEADER_LIST_SIZE (or resets the stream, when
 * the client's next frame on it is a stream error before the 431 went out) and dispatches nothing;
 * nghttp2 keeps them, or resets the stream for a malformed field we did not read. */
static bool native_fields_over_buffer(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot];

    return d->slot > 0 && cl.list_seen[d->slot] && cl.list_bytes[d->slot] > HTTP_BUF_SIZE &&
           (a->status == 431 || (!a->status && a->rst)) && !sides[0].requests[d->slot].dispatched;
}

/* nghttp2 judges a field block as it decodes each fragment (and a trailer HEADERS by its flags at
 * once); we judge a block when it has ended. This one never ended. nghttp2's reset may also have
 * come before the response its handler had made went out, which ours sent. */
static bool nghttp2_judges_unended_block(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot], *b = &sides[1].streams[d->slot];

    return d->slot > 0 && cl.block_open[d->slot] && b->rst && !a->rst &&
           (a->status == b->status || !b->status);
}

/* DATA on a stream the client never opened, below one it did: implicitly closed (5.1.1), STREAM_CLOSED
 * (6.1), as we answer. nghttp2's glue tells closed from idle by nghttp2's last processed stream, which
 * a refused or reset stream does not move, and nghttp2 then drops the frame. */
static bool glue_misses_implicit_close(const struct diff_ctx *d)
{
    const struct stream_out *b = &sides[1].streams[d->slot];

    return d->slot > 0 && (uint32_t)d->slot < highest_headers &&
           sides[0].streams[d->slot].rst == NGHTTP2_STREAM_CLOSED + 1 && !b->rst && !b->status;
}

/* A WINDOW_UPDATE of 0 on a closed stream: we answer the stream error 6.9 names; nghttp2 drops frames
 * on a stream it no longer holds before it reads them. */
static bool nghttp2_ignores_wu0_closed(const struct diff_ctx *d)
{
    const struct stream_out *b = &sides[1].streams[d->slot];

    /* nghttp2 may reset it later for another frame (DATA there: STREAM_CLOSED) */
    return d->slot > 0 && cl.wu_zero_on[d->slot] &&
           sides[0].streams[d->slot].rst == NGHTTP2_PROTOCOL_ERROR + 1 &&
           (!b->rst || b->rst == NGHTTP2_STREAM_CLOSED + 1);
}

/* A frame on a stream the client reset, or ended and got its whole response on: we answer the stream
 * error STREAM_CLOSED 5.1 requires; nghttp2 drops frames on a stream it no longer holds (it keeps a
 * closed one only while RFC 7540's priority tree needs it). */
static bool nghttp2_forgot_closed_stream(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot];

    return d->slot > 0 && (cl.reset_on[d->slot] || (cl.ended_on[d->slot] && a->ended)) &&
           a->rst == NGHTTP2_STREAM_CLOSED + 1 && !sides[1].streams[d->slot].rst;
}

/* A stream at SETTINGS_MAX_CONCURRENT_STREAMS refused (REFUSED_STREAM) by one side and taken by the other
 * (served, or judged on its own frames), after the server had reset a lower stream of the client's with a
 * stream error: nghttp2 frees a stream it resets only once its RST_STREAM has gone out, we at once, so for a
 * while it counts one stream more than we do, and which of the streams past the limit is refused differs. */
static bool concurrency_counts_a_reset_stream(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot], *b = &sides[1].streams[d->slot];
    bool a_refused = a->rst == NGHTTP2_REFUSED_STREAM + 1, b_refused = b->rst == NGHTTP2_REFUSED_STREAM + 1;

    if (d->slot <= 0 || a_refused == b_refused)
        return false;
    for (int lower = 1; lower < d->slot; lower++) {
        uint32_t rst = sides[0].streams[lower].rst;

        if (rst && rst != NGHTTP2_REFUSED_STREAM + 1 && sides[1].streams[lower].rst == rst &&
            !cl.reset_on[lower])
            return true;
    }
    return false;
}

/* A PRIORITY of the wrong length on a stream the client reset, or ended and got its whole response on: we
 * answer the stream error FRAME_SIZE_ERROR 6.3 requires; nghttp2 drops frames on a stream it no longer
 * holds, before their length is looked at. */
static bool nghttp2_forgot_bad_priority(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot];

    return d->slot > 0 && cl.bad_priority_on[d->slot] &&
           (cl.reset_on[d->slot] || (cl.ended_on[d->slot] && a->ended)) &&
           a->rst == NGHTTP2_FRAME_SIZE_ERROR + 1 && !sides[1].streams[d->slot].rst;
}

/* nghttp2's max_settings (32 entries per SETTINGS frame, its fix of CVE-2020-11080). */
static bool nghttp2_max_settings(const struct diff_ctx *d)
{
    (void)d;
    return sides[1].end == END_GOAWAY && sides[1].goaway_code == NGHTTP2_ENHANCE_YOUR_CALM &&
           cl.max_settings > 32;
}

/* nghttp2's glue keeps max_headers * 2 strings per stream, pseudo-header fields' too: more than
 * max_headers fields in all (fewer regular ones) get its 431, or nothing at all when the client's next
 * frame on the stream reset it before that 431 went out (and the request was never dispatched). */
static bool nghttp2_counts_pseudo_headers(const struct diff_ctx *d)
{
    const struct http_config *c = sides[0].hw->cfg;
    const struct stream_out *b = &sides[1].streams[d->slot];

    return d->slot > 0 && cl.list_seen[d->slot] && cl.list_all[d->slot] > c->max_headers &&
           (b->status == 431 || (!b->status && b->rst && !sides[1].requests[d->slot].dispatched)) &&
           sides[0].streams[d->slot].status != 431;
}

/* After the client's GOAWAY nghttp2 reads nothing more of what would start something (with nothing in
 * flight it closes, its session_is_closing): an error in what followed the GOAWAY is ours alone. It
 * still checks each frame's length at its header, so it may end with FRAME_SIZE_ERROR for a later frame. */
static bool nghttp2_done_after_goaway(const struct diff_ctx *d)
{
    const struct side *s = &sides[0], *t = &sides[1];
    bool stopped = !errored(t);

    (void)d;
    if (s->end != END_GOAWAY)
        return false;
    for (int k = 0; k < t->nculprits && !stopped; k++) /* nghttp2 closed at a GOAWAY, or at a size */
        stopped = (t->end == END_CLOSED_EARLY && t->culprits[k].type == NGHTTP2_GOAWAY) ||
                  (t->end == END_GOAWAY && t->goaway_code == NGHTTP2_FRAME_SIZE_ERROR &&
                   t->culprits[k].after_goaway && size_fault(&t->culprits[k]));
    /* or in a readable that began no frame (the GOAWAY came in an earlier one) */
    stopped |= !t->nculprits && t->end == END_CLOSED_EARLY && cl.goaways;
    if (!stopped)
        return false;
    if (!s->nculprits && cl.goaways) /* our error was in bytes that began no frame: all after the GOAWAY */
        return true;
    for (int k = 0; k < s->nculprits; k++)
        if (s->culprits[k].after_goaway)
            return true;
    return false;
}

/* HEADERS on a stream id below the last one that no HEADERS named before (5.1.1: a connection error
 * PROTOCOL_ERROR). nghttp2's glue tells them by nghttp2's last processed stream, which a refused or reset
 * stream does not move, and misses ids a PRIORITY named (nghttp2 keeps a stream for it, RFC 7540's tree);
 * nghttp2 then ignores the block (decoding it for the table, which may fail: COMPRESSION_ERROR). */
static bool same_frame(const struct cframe *a, const struct cframe *b)
{
    return a->type == b->type && a->flags == b->flags && a->sid == b->sid && a->len == b->len;
}

static bool glue_misses_lower_stream(const struct diff_ctx *d)
{
    const struct side *s = &sides[0], *t = &sides[1];

    (void)d;
    if (s->end != END_GOAWAY || s->goaway_code != NGHTTP2_PROTOCOL_ERROR || t->end == END_RESET)
        return false;
    for (int k = 0; k < s->nculprits; k++) {
        bool theirs = false, later_size = false; /* nghttp2 ended in the same readable, for the block? */

        for (int j = 0; j < t->nculprits; j++) {
            theirs |= same_frame(&t->culprits[j], &s->culprits[k]) && t->end == END_GOAWAY &&
                      t->goaway_code != NGHTTP2_COMPRESSION_ERROR;
            /* not when its FRAME_SIZE_ERROR is a later frame's: it went past the block, ignoring it */
            later_size |= theirs && !same_frame(&t->culprits[j], &s->culprits[k]) &&
                          size_fault(&t->culprits[j]) && t->goaway_code == NGHTTP2_FRAME_SIZE_ERROR;
        }
        if (s->culprits[k].skipped && (!theirs || later_size))
            return true;
    }
    return false;
}

/* CONNECT with a content-length its DATA does not match: malformed (8.1.1), as we answer; nghttp2 leaves
 * content-length unchecked on CONNECT (which has no content, RFC 9110 9.3.6) and dispatches it. */
static bool nghttp2_connect_content_length(const struct diff_ctx *d)
{
    const struct request_rec *r = &sides[1].requests[d->slot];
    size_t len;
    const char *m;

    if (d->slot <= 0 || !r->dispatched || sides[0].streams[d->slot].rst != NGHTTP2_PROTOCOL_ERROR + 1)
        return false;
    m = head_part(r, 0, &len);
    return m && len == 7 && !memcmp(m, "CONNECT", 7) && has_field(r, "content-length");
}

/* A response whose body ended with nothing left to send while a window it needs is empty: we send the
 * empty DATA with END_STREAM (6.9.1 allows it), nghttp2 defers DATA until the window opens. */
static bool nghttp2_defers_empty_end(const struct diff_ctx *d)
{
    const struct stream_out *a = &sides[0].streams[d->slot], *b = &sides[1].streams[d->slot];
    int64_t conn = 65535 + (int64_t)cl.conn_wu, stream;

    if (d->slot <= 0 || !a->ended || b->ended || a->data != b->data || a->hash != b->hash)
        return false;
    for (int slot = 1; slot < NSLOTS; slot++)
        conn -= (int64_t)sides[1].streams[slot].data;
    stream = (int64_t)cl.initial_window + (int64_t)cl.wu[d->slot] - (int64_t)b->data;
    return conn <= 0 || stream <= 0;
}

/* At the client's first GOAWAY, as the servers' output stands then (a later WINDOW_UPDATE may
 * release what nghttp2 held). */
static void note_held_end_at_goaway(void)
{
    for (int slot = 1; slot < NSLOTS && !cl.held_end_at_goaway; slot++) {
        struct diff_ctx held = {slot, "held end"};

        cl.held_end_at_goaway = nghttp2_defers_empty_end(&held);
    }
}

/* After the client's GOAWAY we had nothing in flight, so we closed (6.8), while nghttp2 still held a
 * stream's empty END_STREAM DATA for a window (nghttp2_defers_empty_end) and read on: held at the
 * GOAWAY, or at the end (our END_STREAM went after the GOAWAY). */
static bool done_at_goaway_while_nghttp2_holds_end(const struct diff_ctx *d)
{
    bool held = cl.held_end_at_goaway;

    (void)d;
    if (sides[0].end != END_CLOSED_EARLY || !cl.goaways)
        return false;
    for (int slot = 1; slot < NSLOTS && !held; slot++) {
        struct diff_ctx at_end = {slot, "held end"};

        held = nghttp2_defers_empty_end(&at_end);
    }
    return held;
}

/* PINGs after the client's GOAWAY, in the readable that brought it, with nothing in flight: nghttp2
 * stops reading at the GOAWAY, we answer them. */
static bool nghttp2_pings_after_goaway(const struct diff_ctx *d)
{
    (void)d;
    return cl.pings_after_goaway && sides[1].pings_acked < sides[0].pings_acked &&
           (sides[1].end == END_CLOSED || sides[1].end == END_CLOSED_EARLY);
}

/* Trailers past max_header_list_size or the request's buffer: we reset the stream ENHANCE_YOUR_CALM
 * without reading the rest; nghttp2 has no bound on trailers and judges every field (a malformed one:
 * PROTOCOL_ERROR). */
static bool native_trailers_over_bound(const struct diff_ctx *d)
{
    return d->slot > 0 && cl.trailers_on[d->slot] &&
           sides[0].streams[d->slot].rst == NGHTTP2_ENHANCE_YOUR_CALM + 1;
}

/* A stream error of ours for a frame that came after the client's GOAWAY: nghttp2, with nothing in
 * flight, stopped reading at the GOAWAY and never saw it. */
static bool nghttp2_unread_after_goaway(const struct diff_ctx *d)
{
    return d->slot > 0 && cl.framed_after_goaway[d->slot] && sides[0].streams[d->slot].rst &&
           !sides[1].streams[d->slot].rst && !sides[1].streams[d->slot].headers;
}

/* A stream the client opened after its GOAWAY, read by us and not by nghttp2, which stops reading at
 * the GOAWAY when nothing is in flight (what came with it in the same readable included). */
static bool nghttp2_stops_at_goaway(const struct diff_ctx *d)
{
    const struct stream_out *b = &sides[1].streams[d->slot];

    return d->slot > 0 && cl.after_goaway[d->slot] && !b->headers && !b->rst &&
           !sides[1].requests[d->slot].dispatched &&
           (sides[1].end == END_CLOSED_EARLY || sides[1].end == END_CLOSED);
}

/* The same, for the connection: nghttp2 closed at the GOAWAY, we went on with the streams after it. */
static bool nghttp2_stopped_at_goaway(const struct diff_ctx *d)
{
    const struct side *t = &sides[1];
    bool stopped = false;

    (void)d;
    for (int k = 0; k < t->nculprits && !stopped; k++)
        stopped = t->end == END_CLOSED_EARLY && t->culprits[k].type == NGHTTP2_GOAWAY;
    for (int slot = 1; slot < NSLOTS && stopped; slot++)
        if (cl.after_goaway[slot] && (sides[0].streams[slot].headers || sides[0].streams[slot].rst))
            return true;
    return false;
}

/* DATA whose padding does not fit: no room for Pad Length (4.2), or Pad Length past the payload (6.1). */
static bool bad_padding(const struct cframe *f)
{
    return f->type == NGHTTP2_DATA && (f->flags & NGHTTP2_FLAG_PADDED) &&
           (!f->len || (f->first >= 0 && (uint32_t)f->first >= f->len));
}

/* nghttp2 drops DATA on a stream it closed before it looks at the frame's padding. */
static bool nghttp2_skips_padding_check(const struct diff_ctx *d)
{
    const struct side *s = &sides[0];

    (void)d;
    if (s->end != END_GOAWAY ||
        (s->goaway_code != NGHTTP2_FRAME_SIZE_ERROR && s->goaway_code != NGHTTP2_PROTOCOL_ERROR))
        return false;
    for (int k = 0; k < s->nculprits; k++) /* nghttp2, if it ended, ended with another code */
        if (bad_padding(&s->culprits[k]) && !s->culprits[k].idle)
            return true;
    return false;
}

static bool settings_ack(const struct cframe *f)
{
    return f->type == NGHTTP2_SETTINGS && (f->flags & NGHTTP2_FLAG_ACK) && !f->len;
}

/* nghttp2 ended the connection for a SETTINGS ACK it had no SETTINGS outstanding for. */
/* SETTINGS_NO_RFC7540_PRIORITIES changed after the client's first SETTINGS: RFC 9218 2.1 lets the
 * receiver make it a connection error PROTOCOL_ERROR; nghttp2 does, we take the new value. */
static bool nghttp2_priorities_setting_changed(const struct diff_ctx *d)
{
    (void)d;
    return sides[1].end == END_GOAWAY && sides[1].goaway_code == NGHTTP2_PROTOCOL_ERROR && cl.no_prio_changed;
}

static bool nghttp2_unexpected_ack(const struct diff_ctx *d)
{
    const struct side *s = &sides[1];

    (void)d;
    if (s->end != END_GOAWAY || s->goaway_code != NGHTTP2_PROTOCOL_ERROR || !s->unexpected_ack)
        return false;
    for (int k = 0; k < s->nculprits; k++)
        if (settings_ack(&s->culprits[k]))
            return true;
    return false;
}

/* One side ended the connection with code X for a frame on stream k; the other reset k with X. */
static bool stream_or_connection_error(const struct diff_ctx *d)
{
    (void)d;
    for (int i = 0; i < 2; i++) {
        const struct side *s = &sides[i], *o = &sides[!i];

        if (s->end != END_GOAWAY)
            continue;
        for (int k = 0; k < s->nculprits; k++) {
            int slot = slot_of(s->culprits[k].sid);

            if (slot > 0 && s->goaway_code < 31 && (o->streams[slot].rsts & 1u << s->goaway_code))
                return true;
            for (int j = 0; j < o->nfar; j++)
                if (o->far[j].sid == s->culprits[k].sid && o->far[j].code == s->goaway_code)
                    return true;
        }
    }
    return false;
}

/* A stream over SETTINGS_MAX_CONCURRENT_STREAMS once the client acknowledged it: nghttp2 ends the
 * connection (PROTOCOL_ERROR) at its HEADERS, we refuse the stream (REFUSED_STREAM) once its block has
 * ended (one that never ends gets no verdict from us). */
static bool nghttp2_concurrency_connection_error(const struct diff_ctx *d)
{
    const struct side *t = &sides[1];

    (void)d;
    if (t->end != END_GOAWAY || t->goaway_code != NGHTTP2_PROTOCOL_ERROR)
        return false;
    for (int k = 0; k < t->nculprits; k++) {
        int slot = slot_of(t->culprits[k].sid);

        if (t->culprits[k].type == NGHTTP2_HEADERS && slot > 0 &&
            (sides[0].streams[slot].rst == NGHTTP2_REFUSED_STREAM + 1 ||
             (cl.block_open[slot] && !sides[0].streams[slot].rst && !sides[0].streams[slot].headers)))
            return true;
    }
    return false;
}

/* nghttp2 ended the connection with STREAM_CLOSED for a frame on a stream it had reset itself. */
static bool nghttp2_frame_after_its_reset(const struct diff_ctx *d)
{
    const struct side *s = &sides[1];

    (void)d;
    if (s->end != END_GOAWAY || s->goaway_code != NGHTTP2_STREAM_CLOSED)
        return false;
    for (int k = 0; k < s->nculprits; k++) {
        int slot = slot_of(s->culprits[k].sid);

        /* nghttp2's own RST_STREAM may not have gone out: the GOAWAY came first; ours says the
         * server's verdict on the stream was a reset */
        if (slot > 0 && ((s->streams[slot].rst && s->streams[slot].rst != NGHTTP2_STREAM_CLOSED + 1) ||
                         sides[0].streams[slot].rst))
            return true;
    }
    return false;
}

static const struct difference {
    enum aspect aspect;
    bool (*applies)(const struct diff_ctx *d);
    const char *rfc;
    const char *why;
} differences[] = {
    {CONNECTION, native_flood, "RFC 9113 10.5",
     "our flood budgets (rapid reset, CONTINUATION frames and bytes per block, empty frames, PRIORITY, "
     "WINDOW_UPDATE): ENHANCE_YOUR_CALM where nghttp2 1.52 goes on (it has none of these but a fixed "
     "CONTINUATION count)"},
    {CONNECTION, nghttp2_continuations, "RFC 9113 10.5",
     "more than 8 CONTINUATION frames in one field block: Debian's nghttp2 (CVE-2024-28182 fix) drops the "
     "connection without a GOAWAY; ours allows max_continuations (32 by default)"},
    {CONNECTION, flow_control, "RFC 9113 6.9.1, 6.9.2",
     "FLOW_CONTROL_ERROR from the side whose window the client overran (or whose send window a "
     "WINDOW_UPDATE or SETTINGS may take past 2^31-1): when a receiver sends WINDOW_UPDATE, and whether "
     "SETTINGS_INITIAL_WINDOW_SIZE counts before the client's ACK, are its own choices"},
    {STREAM, flow_control, "RFC 9113 6.9.1, 6.9.2", "the same, as a stream error"},
    {REQUEST, flow_control, "RFC 9113 6.9.1", "the same: the body a stream got before its window ran out"},
    {CONNECTION, size_or_stream_first, "RFC 9113 4.2, 5.1, 6.x, 8.4",
     "a frame with two faults that each make a connection error: a wrong size (FRAME_SIZE_ERROR) on a "
     "stream its type may not use, or a PUSH_PROMISE (PROTOCOL_ERROR); which check comes first is the "
     "receiver's (we look at the stream first, nghttp2 at the size)"},
    {CONNECTION, judged_at_header, "RFC 9113 5.4.1",
     "the client's last frame, cut short by its FIN (or the input's end), is an error by its header alone: "
     "one side says so at the header, the other waits for the payload that never comes"},
    {CONNECTION, nghttp2_decodes_as_it_comes, "RFC 9113 4.3",
     "COMPRESSION_ERROR from nghttp2 for a field block not ended yet: it decodes each fragment as it comes, "
     "we decode a block once it is whole; the block never ended, or another error came first for us"},
    {CONNECTION, nghttp2_goaway_last_stream, "RFC 9113 6.8",
     "a client GOAWAY whose last stream id names a stream the server could not have opened (odd) or grows "
     "over an earlier GOAWAY's: nghttp2 makes it a connection error PROTOCOL_ERROR; 6.8 names no error "
     "(we take it as the client's end: no new streams)"},
    {STREAM, header_list_over_limit, "RFC 9113 8.1.1, 10.5.1; RFC 6585 5",
     "a request header list over max_headers or max_header_list_size: 431 on one side, RST_STREAM "
     "PROTOCOL_ERROR on the other (a list one did not read to its end may also be malformed)"},
    {STREAM, native_fields_over_buffer, "RFC 9113 6.5.2, 10.5.1; RFC 6585 5",
     "a request whose field names and values take more than one 16 KiB pool buffer (the same bound as an "
     "HTTP/1.1 head): ours answers 431 (unless a later frame on the stream is a stream error first); "
     "SETTINGS_MAX_HEADER_LIST_SIZE is advisory and nghttp2 keeps them (or resets the stream for a malformed "
     "field past where we stopped reading)"},
    {REQUEST, native_fields_over_buffer, "RFC 9113 6.5.2", "the same: the request nghttp2 dispatched"},
    {STREAM, nghttp2_counts_pseudo_headers, "RFC 6585 5",
     "more than max_headers fields counting the pseudo-header fields: nghttp2's glue answers 431 (it keeps "
     "max_headers * 2 strings for all fields), we count the regular fields only"},
    {REQUEST, nghttp2_counts_pseudo_headers, "RFC 6585 5", "the same: the request we dispatched"},
    {CONNECTION, reused_or_closed, "RFC 9113 5.1, 5.1.1",
     "HEADERS on a stream the client had used and that is closed: STREAM_CLOSED for a frame on a closed "
     "stream (5.1, nghttp2's) or PROTOCOL_ERROR for an identifier below the last one (5.1.1, ours when it "
     "is not the last); tests/http/h2_conformance.c accepts both. When its block does not decode either, "
     "COMPRESSION_ERROR (4.3) from the side that decodes it first"},
    {CONNECTION, prefix_codes, "RFC 9113 4.2, 6.1, 6.2",
     "DATA or HEADERS too short for the Pad Length (or priority fields) its flags announce: FRAME_SIZE_ERROR "
     "for a missing mandatory field (4.2, ours) or PROTOCOL_ERROR for padding as long as the payload "
     "(6.1, 6.2, nghttp2's); tests/http/h2_conformance.c accepts both"},
    {REQUEST, header_list_over_limit, "RFC 9113 6.5.2, 10.5.1", "the same: dispatched on one side only"},
    {STREAM, nghttp2_judges_unended_block, "RFC 9113 4.3, 8.1.1",
     "a field block that never ended (no END_HEADERS before the input's end): nghttp2 resets the stream for "
     "what the fragments so far held (or for a trailer HEADERS without END_STREAM, at its header); we "
     "judge a block once it has ended"},
    {REQUEST, nghttp2_judges_unended_block, "RFC 9113 4.3", "the same"},
    {STREAM, glue_misses_implicit_close, "RFC 9113 5.1.1, 6.1",
     "DATA on a stream the client skipped (a higher one opened): STREAM_CLOSED, as we answer; nghttp2's glue "
     "takes it for idle when the higher stream was refused or reset (nghttp2's last processed stream did "
     "not move) and nghttp2 drops it (the glue's deviation)"},
    {STREAM, nghttp2_ignores_wu0_closed, "RFC 9113 6.9",
     "WINDOW_UPDATE with an increment of 0 on a closed stream: the stream error PROTOCOL_ERROR 6.9 names, as "
     "we answer; nghttp2 drops frames on a stream it forgot before it reads them"},
    {STREAM, nghttp2_forgot_closed_stream, "RFC 9113 5.1",
     "a frame other than PRIORITY on a stream the client reset, or ended and had its whole response on: the "
     "stream error STREAM_CLOSED 5.1 requires, "
     "as we answer; nghttp2 drops frames on a stream it no longer holds (it keeps a closed stream only "
     "while RFC 7540's priority tree needs it)"},
    {STREAM, concurrency_counts_a_reset_stream, "RFC 9113 5.1.2",
     "which stream past SETTINGS_MAX_CONCURRENT_STREAMS is refused, after the server reset a lower one: "
     "nghttp2 counts a stream it reset until its RST_STREAM is sent, we stop at once; 5.1.2 lets either "
     "refuse a stream over the limit"},
    {STREAM, nghttp2_forgot_bad_priority, "RFC 9113 6.3, 5.1",
     "a PRIORITY frame of a length other than 5 on a stream the client reset, or ended and had its whole "
     "response on: the stream error FRAME_SIZE_ERROR 6.3 requires, as we answer; nghttp2 drops frames on a "
     "stream it no longer holds before it reads their length"},
    {CONNECTION, nghttp2_max_settings, "RFC 9113 10.5",
     "a SETTINGS frame of more than 32 entries: ENHANCE_YOUR_CALM from nghttp2 (its max_settings, the fix "
     "of CVE-2020-11080); we apply them (each costs nothing kept)"},
    {CONNECTION, nghttp2_done_after_goaway, "RFC 9113 6.8",
     "frames after the client's GOAWAY, one of them an error: nghttp2 has nothing in flight and closes "
     "without reading them, or reads only their lengths (FRAME_SIZE_ERROR for a later one); we still "
     "read them and answer the error"},
    {CONNECTION, glue_misses_lower_stream, "RFC 9113 5.1.1",
     "HEADERS opening a stream identifier below the last one: a connection error PROTOCOL_ERROR, as we "
     "answer; nghttp2's glue checks against nghttp2's last processed stream, which a refused or reset "
     "stream does not move (nor does it see ids a PRIORITY named: nghttp2 keeps a stream for those), and "
     "nghttp2 ignores the block (h2_conformance 5.1.1/2), or fails decoding it (COMPRESSION_ERROR)"},
    {STREAM, nghttp2_connect_content_length, "RFC 9113 8.1.1; RFC 9110 9.3.6",
     "CONNECT with a content-length its DATA does not match: malformed, a stream error PROTOCOL_ERROR, as we "
     "answer; nghttp2 does not check content-length on CONNECT and dispatches it (its deviation)"},
    {REQUEST, nghttp2_connect_content_length, "RFC 9113 8.1.1", "the same: the request nghttp2 dispatched"},
    {STREAM, nghttp2_defers_empty_end, "RFC 9113 6.9.1",
     "a response body that ended with nothing left to send while the connection or stream window is empty: "
     "we send the empty DATA with END_STREAM, which 6.9.1 allows; nghttp2 holds DATA until the window "
     "opens"},
    {CONNECTION, done_at_goaway_while_nghttp2_holds_end, "RFC 9113 6.8, 6.9.1",
     "the client's GOAWAY with nothing in flight for us (we had sent a body's empty END_STREAM DATA at an "
     "empty window, as 6.9.1 allows): we close; nghttp2 still holds that DATA, so a stream is in flight "
     "and it reads on"},
    {CONNECTION, nghttp2_pings_after_goaway, "RFC 9113 6.8",
     "PINGs after the client's GOAWAY in the readable that brought it, nothing in flight: nghttp2 stops "
     "reading at the GOAWAY, we answer them"},
    {STREAM, nghttp2_stops_at_goaway, "RFC 9113 6.8",
     "a stream the client opened after its own GOAWAY, in the readable that brought the GOAWAY, with nothing "
     "in flight before: we read and serve it (6.8 stops the GOAWAY's sender from accepting streams, not "
     "from opening them); nghttp2 stops reading at the GOAWAY and closes"},
    {REQUEST, nghttp2_stops_at_goaway, "RFC 9113 6.8", "the same: the request we dispatched"},
    {STREAM, native_trailers_over_bound, "RFC 9113 10.5.1; RFC 9110 6.5.1",
     "request trailers past max_header_list_size or the request's 16 KiB buffer: we reset the stream "
     "ENHANCE_YOUR_CALM; nghttp2 bounds no trailers and judges each field (PROTOCOL_ERROR for a malformed "
     "one past where we stopped)"},
    {STREAM, nghttp2_unread_after_goaway, "RFC 9113 6.8",
     "a frame after the client's GOAWAY that is a stream error (a PRIORITY of the wrong size, say): we read "
     "and answer it; nghttp2, with nothing in flight, stopped reading at the GOAWAY"},
    {CONNECTION, nghttp2_stopped_at_goaway, "RFC 9113 6.8",
     "the same: the connection goes on with our streams"},
    {CONNECTION, nghttp2_skips_padding_check, "RFC 9113 4.2, 6.1",
     "DATA on a closed stream whose padding does not fit (no room for Pad Length, or Pad Length past the "
     "payload): a connection error, as we answer; nghttp2 drops DATA on a stream it closed before it "
     "reads the padding, and goes on (its deviation)"},
    {CONNECTION, nghttp2_priorities_setting_changed, "RFC 9218 2.1",
     "SETTINGS_NO_RFC7540_PRIORITIES changed after the client's first SETTINGS (absent there: 0): the "
     "receiver MAY make it a connection error PROTOCOL_ERROR, as nghttp2 does; we ignore the setting (we "
     "use no RFC 7540 priorities either way)"},
    {CONNECTION, nghttp2_unexpected_ack, "RFC 9113 6.5.3",
     "a SETTINGS ACK with none of the server's SETTINGS unacknowledged: nghttp2 makes it a connection "
     "error PROTOCOL_ERROR; 6.5.3 names no error for it, and we ignore it"},
    {CONNECTION, nghttp2_frame_after_its_reset, "RFC 9113 5.1",
     "a frame on a stream the server reset: 5.1 says it MUST be ignored (the client may have sent it "
     "before it saw the RST_STREAM), as we do; nghttp2 1.52 still holds the closed stream and makes it a "
     "connection error STREAM_CLOSED (its deviation)"},
    {CONNECTION, nghttp2_concurrency_connection_error, "RFC 9113 5.1.2, 5.4.1",
     "a stream over SETTINGS_MAX_CONCURRENT_STREAMS: a stream error PROTOCOL_ERROR or REFUSED_STREAM "
     "(5.1.2); "
     "we refuse it (REFUSED_STREAM: the client may retry), nghttp2 makes it a connection error "
     "PROTOCOL_ERROR once the client acknowledged the setting"},
    {CONNECTION, stream_or_connection_error, "RFC 9113 5.4.1, 5.1",
     "a stream error on one side is a connection error with the same code on the other: an endpoint may "
     "treat any stream error as a connection error (nghttp2 does, for frames on a stream the client "
     "closed or reset: 5.1 allows STREAM_CLOSED as a connection error there)"},
};

/* ---- comparing -------------------------------------------------------------------------------------------
 */

static void print_head(FILE *f, const struct bytes *h)
{
    static const char *const parts[] = {"method", "path", "query", "authority"};
    size_t i = 0;
    int n = 0;

    while (i < h->len) {
        const char *s = (const char *)h->p + i;
        size_t len = strnlen(s, h->len - i);

        if (n < 4)
            fprintf(f, "%s%s \"%.*s\"", n ? ", " : "", parts[n], (int)len, s);
        else
            fprintf(f, "%s%.*s", n % 2 ? ": " : "; ", (int)(len > 60 ? 60 : len), s);
        i += len + 1;
        n++;
    }
}

static void print_side(FILE *f, const struct side *s)
{
    fprintf(f, "  %s: connection %s", s->name, end_names[s->end]);
    if (s->goaway)
        fprintf(f, " (GOAWAY %s, last stream %u)", nghttp2_http2_strerror(s->goaway_code), s->goaway_last);
    fprintf(f, ", %u PING ACKs\n", s->pings_acked);
    if (s->violation)
        fprintf(f, "    its output breaks a rule: %s (frame type %u, stream %u)\n", s->violation,
                s->violation_type, s->violation_sid);
    if (s->nculprits) {
        fprintf(f, "    ended by one of the frames of that readable:");
        for (int k = 0; k < s->nculprits && k < PRINT_CULPRITS; k++)
            fprintf(f, " [type %u flags 0x%02x stream %u%s length %u]", s->culprits[k].type,
                    s->culprits[k].flags, s->culprits[k].sid, s->culprits[k].idle ? " (idle)" : "",
                    s->culprits[k].len);
        fputc('\n', f);
    }
    for (int slot = 1; slot < NSLOTS; slot++) {
        const struct stream_out *o = &s->streams[slot];
        const struct request_rec *r = &s->requests[slot];
        uint32_t id = slot == NSLOTS - 1 ? BIG_SID : (uint32_t)slot;

        if (!o->headers && !o->rst && !o->data && !r->dispatched)
            continue;
        fprintf(f, "    stream %u:", id);
        if (o->status)
            fprintf(f, " %d, %llu body bytes (hash %016llx)%s", o->status, (unsigned long long)o->data,
                    (unsigned long long)o->hash, o->ended ? ", ended" : ", not ended");
        if (o->rst)
            fprintf(f, " RST_STREAM %s", nghttp2_http2_strerror(o->rst - 1));
        if (s->overran[slot])
            fprintf(f, " [client overran its window]");
        fputc('\n', f);
        if (r->dispatched) {
            fprintf(f, "      request (dispatched %d time%s): ", r->dispatches, r->dispatches > 1 ? "s" : "");
            print_head(f, &r->head);
            fprintf(f, "\n      body %zu bytes%s\n", r->body.len, r->body_ended ? ", ended" : "");
        }
    }
}

static void disagree(enum aspect aspect, int slot, const char *what) __attribute__((noreturn));
static void disagree(enum aspect aspect, int slot, const char *what)
{
    static const char *const aspect_names[] = {"connection", "stream", "request"};

    fprintf(stderr,
            "h2_diff_fuzz: the two sessions disagree: %s %u: %s, and no row of `differences` explains it\n",
            aspect_names[aspect], slot == NSLOTS - 1 ? BIG_SID : (unsigned)slot, what);
    print_side(stderr, &sides[0]);
    print_side(stderr, &sides[1]);
    fprintf(stderr, "  client: %u frames in its largest field block, %u entries in its largest SETTINGS\n",
            cl.max_block_frames, cl.max_settings);
    abort();
}

static bool row_applies(const struct difference *rows, size_t n, enum aspect aspect, const struct diff_ctx *d)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].aspect == aspect && rows[i].applies(d)) {
            tracef("  listed (%s): %s\n", rows[i].rfc, rows[i].why);
            return true;
        }
    return false;
}

static bool connections_differ(void);

/* The difference is listed: true, and the comparison of that aspect stops there. A stream or request
 * difference is also listed when the connections ended differently for a listed reason: the streams
 * after that point (or all of them, for a verdict on the whole connection) may part. */
static bool listed(enum aspect aspect, int slot, const char *what)
{
    struct diff_ctx d = {slot, what}, whole = {0, "the connections end differently"};

    if (row_applies(differences, COUNT(differences), aspect, &d))
        return true;
    if (aspect != CONNECTION && connections_differ() &&
        row_applies(differences, COUNT(differences), CONNECTION, &whole))
        return true;
    disagree(aspect, slot, what);
}

/* What differs in how the connections ended, or NULL. */
static const char *connection_difference(void)
{
    const struct side *a = &sides[0], *b = &sides[1];

    if (a->end != b->end)
        return "the connections end differently";
    if (a->end == END_GOAWAY && a->goaway_code != b->goaway_code)
        return "GOAWAY with different codes";
    if (!errored(a) && a->pings_acked != b->pings_acked)
        return "a different number of PING ACKs";
    return NULL;
}

static bool connections_differ(void)
{
    return connection_difference() != NULL;
}

static void compare_connection(void)
{
    const char *what = connection_difference();

    if (what)
        listed(CONNECTION, 0, what);
}

/* A side with no trace of the stream, whose connection ended early: it stopped before it. */
static bool stopped_before(const struct side *s, int slot)
{
    const struct stream_out *o = &s->streams[slot];

    return errored(s) && !o->headers && !o->rst && !o->data && !s->requests[slot].dispatched;
}

/* compare_stream and compare_request: false once a listed difference lets the streams part */
static bool compare_stream(int slot)
{
    const struct stream_out *a = &sides[0].streams[slot], *b = &sides[1].streams[slot];
    bool cut = errored(&sides[0]) || errored(&sides[1]);

    if (stopped_before(&sides[0], slot) || stopped_before(&sides[1], slot))
        return true;
    if (a->status != b->status) {
        /* after a connection error the response may have gone out on one side only: the other has
         * no verdict on the stream at all */
        if (!(cut && ((!a->status && !a->rst) || (!b->status && !b->rst))))
            return !listed(STREAM, slot, "a different :status");
    } else if (a->rst != b->rst) {
        if (!(cut && (!a->rst || !b->rst))) /* the other may have made it a connection error */
            return !listed(STREAM, slot, "a different RST_STREAM");
    } else if (a->ended && b->ended && (a->data != b->data || a->hash != b->hash)) {
        return !listed(STREAM, slot, "a different response body");
    } else if (a->ended != b->ended && !cut && !a->rst && sides[0].budget && sides[1].budget) {
        return !listed(STREAM, slot, "the response ended on one side only");
    }
    return true;
}

static bool compare_request(int slot)
{
    const struct request_rec *a = &sides[0].requests[slot], *b = &sides[1].requests[slot];
    const struct stream_out *oa = &sides[0].streams[slot], *ob = &sides[1].streams[slot];
    bool cut = errored(&sides[0]) || errored(&sides[1]) || oa->rst || ob->rst;

    if (stopped_before(&sides[0], slot) || stopped_before(&sides[1], slot))
        return true;
    if (a->dispatched != b->dispatched)
        return !listed(REQUEST, slot, "dispatched on one side only");
    if (!a->dispatched)
        return true;
    if (a->dispatches != b->dispatches)
        return !listed(REQUEST, slot, "dispatched a different number of times");
    if (!bytes_eq(&a->head, &b->head))
        return !listed(REQUEST, slot, "a different request head");
    if (!bytes_prefix(&a->body, &b->body))
        return !listed(REQUEST, slot, "different request body bytes");
    if (!cut && (a->body_ended != b->body_ended || (a->body_ended && a->body.len != b->body.len)))
        return !listed(REQUEST, slot, "the request body ended differently");
    return true;
}

static void outcome(struct side *s)
{
    if (s->aborted && !(s->goaway && s->goaway_code))
        s->end = END_RESET;
    else if (s->goaway && s->goaway_code)
        s->end = END_GOAWAY;
    else if ((s->shut || !s->open) && counter_moved(s, offsetof(struct http_stats, protocol_errors)))
        s->end = END_DROPPED; /* the session failed and had no GOAWAY to send (nghttp2's fatal errors) */
    else if (s->shut || (!s->open && !s->aborted))
        s->end = s->shut_before_fin ? END_CLOSED_EARLY : END_CLOSED;
    else
        s->end = END_OPEN;
}

static void compare(void)
{
    for (int i = 0; i < 2; i++)
        outcome(&sides[i]);
    if (trace) {
        print_side(stderr, &sides[0]);
        print_side(stderr, &sides[1]);
    }
    for (int i = 0; i < 2; i++)
        if (sides[i].violation)
            listed(CONNECTION, 0, i ? "nghttp2's output breaks a rule" : "native's output breaks a rule");
    /* the streams in the order they opened; a listed difference in one lets the later ones and the
     * connection's end part (their concurrency, pool shares and what is in flight at a GOAWAY may
     * differ from there) */
    for (int slot = 1; slot < NSLOTS; slot++)
        if (!compare_stream(slot) || !compare_request(slot))
            return;
    compare_connection();
}

/* ---- one input ------------------------------------------------------------------------------------------
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t settings[9] = {0, 0, 0, NGHTTP2_SETTINGS, 0, 0, 0, 0, 0};
    struct input in = {data, data + size};
    unsigned cfgbyte = in_u8(&in);
    int config = config_of_bits[cfgbyte & 3];

    client_reset_state();
    highest_headers = 0;
    now_ns = 1000 * 1000000000ull;
    tracef("input: %s config, %s, %s\n", config_names[config],
           cfgbyte & 4 ? "preface only" : "preface + SETTINGS",
           cfgbyte & 16 ? "kept open" : "FIN at the end");
    for (int i = 0; i < 2; i++)
        side_open(&sides[i], config);
    if (cfgbyte & 8) {
        client_write((const uint8_t *)PREFACE, 3, false);
        client_write((const uint8_t *)PREFACE + 3, 14, false);
        client_write((const uint8_t *)PREFACE + 17, PREFACE_LEN - 17, !(cfgbyte & 4));
    } else {
        client_write((const uint8_t *)PREFACE, PREFACE_LEN, !(cfgbyte & 4));
    }
    if (!(cfgbyte & 4))
        client_write(settings, sizeof(settings), false);
    while (in.p < in.end && (sides[0].open || sides[1].open)) {
        unsigned op = in_u8(&in), arg = op >> 3;

        switch (op & 7) {
        case OP_SEND: {
            static uint8_t zeros[65536];
            size_t len = arg & 1 ? in_u16(&in) : in_u8(&in);

            if (arg & 4) {
                client_write(zeros, len, arg & ARG_MORE);
                break;
            }
            if (len > (size_t)(in.end - in.p))
                len = (size_t)(in.end - in.p);
            client_write(in.p, len, arg & ARG_MORE);
            in.p += len;
            break;
        }
        case OP_FRAME:
            op_frame(&in, arg);
            break;
        case OP_REQUEST:
            op_request(&in, arg);
            break;
        case OP_DATA:
            op_data(&in, arg);
            break;
        case OP_CONTROL:
            op_control(&in, arg);
            break;
        case OP_CLOCK:
            tracef("> the clock moves %u s\n", arg + 1);
            clock_moves((uint64_t)(arg + 1) * 1000000000ull);
            break;
        case OP_FIN:
            client_fin();
            break;
        case OP_READABLE:
            for (int i = 0; i < 2; i++)
                deliver_readable(&sides[i]);
            break;
        }
    }
    if (!(cfgbyte & 16))
        client_fin();
    else
        for (int i = 0; i < 2; i++) /* what waits for a "more" write goes in */
            deliver_readable(&sides[i]);
    compare();
    for (int i = 0; i < 2; i++)
        side_close(&sides[i]);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------------------------
 */

struct seed {
    uint8_t buf[65536];
    size_t len;
};

static void put(struct seed *s, const void *p, size_t n)
{
    CHECK(s->len + n <= sizeof(s->buf), "seed too long");
    if (n)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put8(struct seed *s, unsigned v)
{
    uint8_t b = (uint8_t)v;

    put(s, &b, 1);
}

static void put16(struct seed *s, unsigned v)
{
    put8(s, v >> 8);
    put8(s, v);
}

static void put32(struct seed *s, uint32_t v)
{
    put16(s, v >> 16);
    put16(s, v & 0xffff);
}

/* path: the index in paths[], method: in methods[] */
static void s_request(struct seed *s, uint8_t sid, unsigned method, unsigned path, unsigned mods,
                      bool end_stream)
{
    put8(s, OP_REQUEST | (end_stream ? 1 : 0) << 3);
    put8(s, sid);
    put8(s, method << 4 | path);
    put8(s, mods);
}

static void s_data(struct seed *s, uint8_t sid, const char *text, bool end_stream)
{
    put8(s, OP_DATA | (8 | (end_stream ? 1 : 0)) << 3);
    put8(s, sid);
    put16(s, (unsigned)strlen(text));
    put(s, text, strlen(text));
}

static void s_control(struct seed *s, unsigned kind, bool variant)
{
    put8(s, OP_CONTROL | (kind | (variant ? 16 : 0)) << 3);
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f && fwrite(s->buf, 1, s->len, f) == s->len && !fclose(f), "%s: %s", path, strerror(errno));
}

enum { M_GET, M_POST, M_PUT, M_HEAD, M_DELETE, M_CONNECT };
enum { P_HEALTHZ, P_ECHO, P_BYTES_100, P_BYTES_70000, P_METRICS, P_STATIC, P_STATIC_BIG, P_NOWHERE };

static void write_seeds(const char *dir)
{
    struct seed *s = calloc(1, sizeof(*s));

    CHECK(s, "calloc");
    mkdir(dir, 0755);

    /* GET /healthz, HEAD /healthz, a 404 and a 405 */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_GET, P_HEALTHZ, 0, true);
    s_request(s, 3, M_HEAD, P_HEALTHZ, 0, true);
    s_request(s, 5, M_GET, P_NOWHERE, 0, true);
    s_request(s, 7, M_DELETE, P_HEALTHZ, 0, true);
    write_seed(dir, "get_head_404_405", s);

    /* POST /echo: the body in three DATA frames, one padded */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_POST, P_ECHO, 0, false);
    s_data(s, 1, "0123456789", false);
    put8(s, OP_DATA | (4 | 8) << 3);
    put8(s, 1);
    put16(s, 5);
    put8(s, 7);
    put(s, "abcde", 5);
    s_data(s, 1, "ABCDEFGHIJ", true);
    write_seed(dir, "post_echo_padded", s);

    /* POST /echo with content-length 5 and trailers */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_POST, P_ECHO, MOD_CONTENT_LENGTH, false);
    s_data(s, 1, "hello", false);
    put8(s, OP_FRAME | 1 << 3); /* HEADERS, END_STREAM | END_HEADERS: x-checksum: 1 */
    put8(s, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS);
    put8(s, 1);
    put16(s, 14);
    put(s, "\x00\x0ax-checksum\x01\x31", 14);
    write_seed(dir, "post_echo_trailers", s);

    /* HEADERS cut into CONTINUATION frames, padded and with priority */
    s->len = 0;
    put8(s, 0);
    put8(s, OP_REQUEST | (1 | 4 | 8) << 3);
    put8(s, 1);
    put8(s, M_GET << 4 | P_STATIC);
    put8(s, 0);
    put8(s, 0x80 | 7); /* fragments of 8 bytes */
    put8(s, OP_REQUEST | (1 | 4) << 3);
    put8(s, 3);
    put8(s, M_GET << 4 | P_METRICS);
    put8(s, 0);
    put8(s, 10);
    write_seed(dir, "continuation_padded_priority", s);

    /* /bytes/70000: past the default windows; the client's WINDOW_UPDATEs let the rest go */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_GET, P_BYTES_70000, 0, true);
    s_control(s, 2, false);
    put8(s, 0);
    put32(s, 100000);
    s_control(s, 2, false);
    put8(s, 1);
    put32(s, 100000);
    write_seed(dir, "bytes_window_update", s);

    /* SETTINGS: the client's window raised, then lowered; ACK; PING; PING ACK */
    s->len = 0;
    put8(s, 4); /* the preface alone: the client's SETTINGS are these */
    s_control(s, 5, false);
    put8(s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
    put32(s, 200000);
    s_control(s, 0, false);
    s_request(s, 1, M_GET, P_STATIC_BIG, 0, true);
    s_control(s, 5, false);
    put8(s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
    put32(s, 10);
    s_control(s, 1, false);
    put8(s, 1);
    s_control(s, 1, true);
    put8(s, 2);
    write_seed(dir, "settings_ping", s);

    /* RST_STREAM on an echo in flight, DATA still arriving on it, another request */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_POST, P_ECHO, 0, false);
    s_data(s, 1, "hello", false);
    s_control(s, 3, false);
    put8(s, 1);
    put8(s, NGHTTP2_CANCEL);
    s_data(s, 1, "late", true);
    s_request(s, 3, M_GET, P_HEALTHZ, 0, true);
    write_seed(dir, "rst_stream", s);

    /* PRIORITY frames, one exclusive, one on an idle stream; GOAWAY from the client */
    s->len = 0;
    put8(s, 0);
    s_control(s, 4, false);
    put8(s, 3);
    put8(s, 0);
    put8(s, 200);
    s_request(s, 1, M_GET, P_BYTES_100, 0, true);
    s_control(s, 4, true);
    put8(s, 5);
    put8(s, 1);
    put8(s, 16);
    s_control(s, 6, false);
    put8(s, 0);
    put8(s, 0);
    write_seed(dir, "priority_goaway", s);

    /* malformed requests: no :path, a connection field, an uppercase name, :path after a field,
     * CONNECT, content-length with END_STREAM */
    s->len = 0;
    put8(s, 0);
    s_request(s, 1, M_GET, P_HEALTHZ, MOD_NO_PATH, true);
    s_request(s, 3, M_GET, P_HEALTHZ, MOD_CONNECTION, true);
    s_request(s, 5, M_GET, P_HEALTHZ, MOD_UPPERCASE, true);
    s_request(s, 7, M_GET, P_HEALTHZ, MOD_PSEUDO_LAST, true);
    s_request(s, 9, M_CONNECT, P_HEALTHZ, MOD_NO_PATH | MOD_NO_SCHEME, true);
    s_request(s, 11, M_POST, P_ECHO, MOD_CONTENT_LENGTH, true);
    write_seed(dir, "malformed_requests", s);

    /* strict limits: more streams than allowed, more fields than max_headers, a large header list */
    s->len = 0;
    put8(s, 1);
    for (uint8_t sid = 1; sid <= 9; sid += 2)
        s_request(s, sid, M_POST, P_ECHO, 0, false);
    put8(s, OP_REQUEST | (1 | 16) << 3);
    put8(s, 11);
    put8(s, M_GET << 4 | P_HEALTHZ);
    put8(s, 0);
    put8(s, 10); /* 10 fields */
    put8(s, 2);
    put8(s, OP_REQUEST | (1 | 16) << 3);
    put8(s, 13);
    put8(s, M_GET << 4 | P_HEALTHZ);
    put8(s, 0);
    put8(s, 2);
    put8(s, 200); /* 2 fields of 800 bytes */
    write_seed(dir, "strict_streams_headers", s);

    /* small pools: echoes run the buffers out */
    s->len = 0;
    put8(s, 2);
    for (uint8_t sid = 1; sid <= 5; sid += 2)
        s_request(s, sid, M_POST, P_ECHO, 0, false);
    for (uint8_t sid = 1; sid <= 5; sid += 2) {
        put8(s, OP_DATA << 3 | OP_DATA);
        put8(s, sid);
        put16(s, 10000);
    }
    write_seed(dir, "pools_echo", s);

    /* the preface and a request in pieces, the client keeps its side open; the clock moves */
    s->len = 0;
    put8(s, 8 | 16);
    s_request(s, 1, M_GET, P_HEALTHZ, 0, true);
    put8(s, OP_CLOCK | 9 << 3);
    s_request(s, 3, M_GET, P_BYTES_100, 0, true);
    write_seed(dir, "cut_preface_kept_open", s);

    /* frames a server must refuse: DATA on stream 0, a PUSH_PROMISE, an unknown type (ignored) */
    s->len = 0;
    put8(s, 0);
    put8(s, OP_FRAME | 10 << 3); /* type 0x16: ignored */
    put8(s, 0);
    put8(s, 1);
    put16(s, 0x8000 | 4);
    s_request(s, 1, M_GET, P_HEALTHZ, 0, true);
    put8(s, OP_FRAME | 5 << 3); /* PUSH_PROMISE */
    put8(s, NGHTTP2_FLAG_END_HEADERS);
    put8(s, 1);
    put16(s, 0x8000 | 4);
    write_seed(dir, "unknown_and_push_promise", s);

    /* many resets: rapid reset (strict: a budget of 4) */
    s->len = 0;
    put8(s, 1);
    for (uint8_t sid = 1; sid <= 15; sid += 2) {
        s_request(s, sid, M_GET, P_BYTES_70000, 0, true);
        s_control(s, 3, false);
        put8(s, sid);
        put8(s, NGHTTP2_CANCEL);
    }
    write_seed(dir, "rapid_reset", s);

    /* regressions of native bugs this target found, fixed in session.c since */
    s->len = 0; /* 1: after the client's FIN, an echo waiting for its body keeps the connection open */
    put8(s, 0);
    s_request(s, 1, M_POST, P_ECHO, 0, false);
    s_data(s, 1, "part", false);
    write_seed(dir, "regress_native_open_after_fin", s);

    s->len = 0; /* 2: GET without :authority or host, dispatched */
    put8(s, 0);
    s_request(s, 1, M_GET, P_HEALTHZ, MOD_NO_AUTHORITY, true);
    write_seed(dir, "regress_native_no_authority", s);

    s->len = 0; /* 3: an empty field block (HEADERS of length 0): hpack_decode(NULL, 0) */
    put8(s, 0);
    put8(s, OP_FRAME | 1 << 3);
    put8(s, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
    put8(s, 1);
    put16(s, 0);
    write_seed(dir, "regress_native_empty_field_block", s);

    s->len = 0; /* 5: a :path not in origin form: "healthz", and "*" for GET */
    put8(s, 0);
    s_request(s, 1, M_GET, 15, 0, true);
    s_request(s, 3, M_GET, 10, 0, true);
    write_seed(dir, "regress_native_path_not_origin_form", s);

    s->len = 0; /* 6: a 20 KiB field block (20 fields of 1020 bytes) in HEADERS + CONTINUATION */
    put8(s, 0);
    put8(s, OP_REQUEST | (1 | 16) << 3);
    put8(s, 1);
    put8(s, M_GET << 4 | P_HEALTHZ);
    put8(s, 0);
    put8(s, 20);
    put8(s, 255);
    write_seed(dir, "regress_native_block_over_buffer", s);

    s->len = 0; /* 3 again: a refused stream's block (decoded with no output) holding an empty field */
    put8(s, 1);
    for (uint8_t sid = 1; sid <= 5; sid += 2)
        s_request(s, sid, M_POST, P_ECHO, 0, false);
    put8(s, OP_FRAME | 1 << 3);
    put8(s, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
    put8(s, 7);
    put16(s, 3);
    put(s, "\0\0\0", 3); /* a literal field, new name: both empty */
    write_seed(dir, "regress_native_refused_empty_field", s);

    s->len = 0; /* 7: a request and the client's GOAWAY in one write: its response is the last */
    put8(s, 0);
    put8(s, OP_REQUEST | (1 | ARG_MORE) << 3);
    put8(s, 1);
    put8(s, M_GET << 4 | P_HEALTHZ);
    put8(s, 0);
    s_control(s, 6, false);
    put8(s, 0);
    put8(s, 0);
    write_seed(dir, "regress_native_open_after_goaway", s);

    s->len = 0; /* 4: RST_STREAM on idle streams: PRIORITY of 18 bytes on stream 2; DATA on stream 4 */
    put8(s, 0);
    put8(s, OP_FRAME | 2 << 3);
    put8(s, 0);
    put8(s, 2);
    put16(s, 0x8000 | 18);
    write_seed(dir, "regress_native_rst_on_idle_priority", s);
    s->len = 0;
    put8(s, 0);
    s_request(s, 5, M_GET, P_HEALTHZ, 0, true);
    s_data(s, 4, "x", true);
    write_seed(dir, "regress_native_rst_on_idle_data", s);
    s->len = 0;
    put8(s, 0);
    s_request(s, 5, M_GET, P_HEALTHZ, 0, true);
    s_control(s, 3, false);
    put8(s, 2);
    put8(s, NGHTTP2_CANCEL);
    write_seed(dir, "regress_native_rst_on_idle_rst", s);
    free(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("H2_DIFF_WRITE_SEEDS");

    (void)argc;
    (void)argv;
    trace = getenv("H2_DIFF_TRACE") != NULL;
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    workers_init();
    return 0;
}
