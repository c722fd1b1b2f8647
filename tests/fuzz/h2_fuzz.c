/*
 * h2_fuzz.c — libFuzzer target for the HTTP input path: server/h2 (both HTTP/2 implementations:
 * our session, h2_native_ops, and the nghttp2 glue, h2_nghttp2_ops) and server/http (HTTP/1.1,
 * dispatch, pools, the built-in handlers) with the router compiled from server/sluice.routes, run as
 * sluice-server runs them (http_worker_new, app_http_ops) over an in-memory transport (struct app_io)
 * instead of TCP. Every input runs twice, once against each implementation (H2_FUZZ_IMPL=native or
 * nghttp2 runs only that one, for triage), so that every seed and regress_* reproducer holds both to
 * the checks below; tests/fuzz/h2_diff_fuzz.c compares the two with each other.
 *
 * An input is a client: one byte of configuration, then records that write bytes or whole frames
 * to the server (each write one segment, so input arrives cut where the input says), read the
 * server's output, open or shrink the transport's send room, deliver writable, half-close or reset
 * the connection. The connection starts as HTTP/2 with the client preface written by the harness
 * (so the fuzzer does not have to find it), or as HTTP/1.1, by the configuration byte.
 *
 * It aborts (a crash for libFuzzer) when the server:
 *   - breaks the app_io contract: touches a transport after abort or close, consumes more than
 *     peek showed, commits more than reserve offered;
 *   - writes output a client cannot parse. HTTP/2: the first frame a SETTINGS, each frame within
 *     the SETTINGS_MAX_FRAME_SIZE the client allowed, only frame types and stream ids a server
 *     sends, CONTINUATION only right after its HEADERS, field blocks that decode (HPACK) to one
 *     response starting with :status, DATA only between a stream's HEADERS and its END_STREAM and
 *     within the flow-control credit the client gave, nothing after a GOAWAY for an error.
 *     HTTP/1.1: responses http-parser accepts (not checked once the client sent a HEAD: the parser
 *     cannot tell which response has no body);
 * *   - leaves pool objects out (connections, streams, body buffers, size-class blocks) once its
 *     connection is closed (http_worker_in_use), or an app slot taken.
 * Work per input is bounded: at most OUT_BUDGET bytes of output a connection, a bounded drain.
 * The workers (per implementation one with the default http_config, one with tight limits) live
 * across inputs; every input ends with its connections closed and the pools checked empty. The
 * native session reads the clock only from its app_table (now_ns), which stays 0 here: an input
 * runs the same every time.
 *
 * Seed corpus: H2_FUZZ_WRITE_SEEDS=DIR h2_fuzz writes the seeds of write_seeds() to DIR and exits;
 * tests/fuzz/corpus/h2/ holds them plus regress_* reproducers of bugs found. H2_FUZZ_TRACE=1 prints
 * what an input does. The record format is defined once, here.
 */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "common/err.h"
#include "sluice/http.h"
#include "h2/h2.h"
#include "h2/hpack.h"
#include "http/http_worker.h"
#include "http/handlers/metrics.h"
#include "http/handlers/static_file.h"

extern const struct router app_router; /* server/sluice.routes, compiled */

#define PORT                      80
#define MAX_CONNS                 2
#define MAX_SEGS                  256        /* client writes not consumed yet */
#define OUT_BUDGET                (2u << 20) /* output bytes a connection may write in one input */
#define MAX_CONNECTIONS_PER_INPUT 8          /* resets open new ones */
#define DRAIN_ROUNDS              64
#define NTRACK                    128 /* streams whose output is followed one by one */

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24

/* ---- the input format ---------------------------------------------------------------------------- */

/*
 * Byte 0, the configuration (0 when the input is empty):
 *   bits0-1 start: 0 HTTP/2 (preface and an empty SETTINGS written first), 1 HTTP/2 (preface
 *           only), 2 HTTP/1.1 (nothing written first), 3 HTTP/2 with the preface in three writes
 *   bits2-3 the most one reserve offers {65536, 1460, 100, 1}
 *   bits4-5 the transport's send buffer {256 KiB, 16 KiB, 1000, 10}
 *   bit6    the worker with tight limits (tight_config) instead of the defaults
 *   bit7    the client keeps its side open at the end: the connection ends with a reset
 * Records: one op byte, low 3 bits the operation, high 5 bits its argument.
 */
enum fuzz_op {
    OP_SEND = 0,     /* arg&1: u16 length (else u8); arg&2: more follows (no readable yet); the bytes,
                        or arg&4: that many bytes of 'x' (a large body from a short input) */
    OP_FRAME = 1,    /* arg&15: type (frame_types); arg&16 more follows; u8 flags, u8 stream (0xff: 2^31-1),
                        u16 length: bit15 set = that many zero bytes, else the payload follows */
    OP_READ = 2,     /* arg&7: bytes the client reads (read_sizes); arg&8: no writable afterwards */
    OP_WRITABLE = 3, /* arg&1: call writable even if the server did not ask; arg&2: drain instead (the
                        server stops: app_ops.drain) */
    OP_FIN = 4,      /* the client half-closes */
    OP_RESET = 5,    /* the client resets the connection; a new one opens */
    OP_LIMITS = 6,   /* arg&3: reserve room, arg>>2&3: send buffer (the configuration's tables) */
    OP_READABLE = 7, /* readable with nothing new */
};
#define ARG_MORE 2

static const size_t room_sizes[4] = {65536, 1460, 100, 1};
static const size_t sendbuf_sizes[4] = {256 << 10, 16 << 10, 1000, 10};
static const size_t read_sizes[8] = {SIZE_MAX, 1, 9, 100, 1000, 16384, 65536, SIZE_MAX};
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

/* ---- failing ---------------------------------------------------------------------------------------- */

static int current_impl; /* the implementation the input runs against: impls[] */

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

    fprintf(stderr, "h2_fuzz: %s:%d: invariant broken: ", file, line);
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

/* ---- the workers ------------------------------------------------------------------------------------ */

/* The implementations, in the order inputs run through them. */
static const struct {
    const char *name;
    const struct http_proto_ops *ops;
} impls[2] = {{"native", &h2_native_ops}, {"nghttp2", &h2_nghttp2_ops}};

static struct http_config default_config, tight_config;
static struct http_worker *workers[2][2]; /* [implementation][tight limits] */
static struct app_table tables[2][2];
static bool impl_skipped[2]; /* H2_FUZZ_IMPL named the other one */

static void metrics_writer(struct http_request *req, void *ctx)
{
    const struct http_stats *s = http_worker_stats(ctx);

    (void)s;
    metrics_line(req, "# HELP sluice_fuzz_lines lines of a metrics body, streamed\n");
    for (int i = 0; i < 40; i++)
        metrics_line(req, "sluice_fuzz_line{n=\"%d\"} %d\n", i, i * 1000);
}

/* A directory for /static/: a small file, one larger than a pool buffer, an empty one, a subdirectory. */
static void make_static_dir(void)
{
    static char dir[] = "/tmp/h2_fuzz_static.XXXXXX";
    static const struct {
        const char *name;
        size_t size;
    } files[] = {{"index.html", 100}, {"big.bin", 70000}, {"empty.txt", 0}, {"d/x.css", 10}};
    char path[256];
    struct err e;

    CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/d", dir);
    mkdir(path, 0700);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
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

    http_config_default(&default_config);
    http_config_default(&tight_config);
    default_config.router = tight_config.router = &app_router;
    tight_config.max_concurrent_streams = 4;
    tight_config.initial_window_size = 65535;
    tight_config.max_header_list_size = 1024;
    tight_config.max_headers = 6;
    tight_config.max_streams = 3; /* fewer than max_concurrent_streams: streams get refused */
    tight_config.max_body_backlog = 4096;
    tight_config.max_buffers = 5;
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < 2; i++) {
            workers[m][i] = http_worker_new(i ? &tight_config : &default_config, MAX_CONNS, impls[m].ops);
            CHECK(workers[m][i], "http_worker_new: %s", strerror(errno));
            CHECK(!app_table_init(&tables[m][i], MAX_CONNS, &service, 1), "app_table_init");
            tables[m][i].http = workers[m][i];
        }
    }
    metrics_set_writer(metrics_writer, workers[0][0]);
    make_static_dir();
}

/* ---- the transport (struct app_io) ------------------------------------------------------------------ */

struct seg {
    uint8_t *data; /* one client write, malloc'd: freed once consumed, so a stale pointer trips ASan */
    size_t len, off;
};

struct fake {
    struct app_table *table;
    struct app_conn *ac;
    bool open; /* from app_open until the close */
    struct seg segs[MAX_SEGS];
    int nsegs;
    bool fin;  /* the client half-closed */
    bool shut; /* the server's FIN is queued */
    bool want_writable;
    uint8_t *out; /* written by the server, not read by the client yet */
    size_t out_len, out_cap;
    size_t room;     /* the most one reserve offers */
    size_t budget;   /* output the client will still take on this connection */
    size_t reserved; /* the last reserve's offer, for commit */
};

static struct fake fake;

static struct fake *transport(void *t, const char *what)
{
    CHECK(t == &fake && fake.open, "%s on a transport that is closed (or was never opened)", what);
    return t;
}

static size_t input_left(void)
{
    size_t n = 0;

    for (int i = 0; i < fake.nsegs; i++)
        n += fake.segs[i].len - fake.segs[i].off;
    return n;
}

static void drop_segs(void)
{
    for (int i = 0; i < fake.nsegs; i++)
        free(fake.segs[i].data);
    fake.nsegs = 0;
}

static int io_peek(void *t, struct iovec *iov, int max)
{
    struct fake *f = transport(t, "peek");
    int n = 0;

    for (int i = 0; i < f->nsegs && n < max; i++) {
        iov[n].iov_base = f->segs[i].data + f->segs[i].off;
        iov[n].iov_len = f->segs[i].len - f->segs[i].off;
        n++;
    }
    return n;
}

static void io_consume(void *t, size_t n)
{
    struct fake *f = transport(t, "consume");
    int done = 0;

    CHECK(n == SIZE_MAX || n <= input_left(), "consume(%zu) with %zu bytes to read", n, input_left());
    while (done < f->nsegs && n) {
        struct seg *s = &f->segs[done];
        size_t take = s->len - s->off < n ? s->len - s->off : n;

        s->off += take;
        n -= take;
        if (s->off < s->len)
            break;
        free(s->data);
        done++;
    }
    memmove(f->segs, f->segs + done, (size_t)(f->nsegs - done) * sizeof(f->segs[0]));
    f->nsegs -= done;
}

static bool io_eof(void *t)
{
    struct fake *f = transport(t, "eof");

    return f->fin && !f->nsegs;
}

static size_t io_writable(void *t)
{
    struct fake *f = transport(t, "writable");
    size_t avail = f->out_cap - f->out_len;

    if (f->shut)
        return 0;
    return avail < f->budget ? avail : f->budget;
}

static uint8_t *io_reserve(void *t, size_t *room)
{
    struct fake *f = transport(t, "reserve");
    size_t avail = io_writable(t);

    *room = 0;
    f->reserved = 0;
    if (!avail) {
        if (!f->shut)
            f->want_writable = true; /* as the real transports: writable follows */
        return NULL;
    }
    *room = f->reserved = avail < f->room ? avail : f->room;
    return f->out + f->out_len;
}

static void io_commit(void *t, size_t n)
{
    struct fake *f = transport(t, "commit");

    CHECK(n <= f->reserved, "commit(%zu) after reserve offered %zu", n, f->reserved);
    f->out_len += n;
    f->budget -= n;
    f->reserved = 0;
}

static void io_shutdown(void *t)
{
    transport(t, "shutdown")->shut = true;
}

static void io_abort(void *t)
{
    struct fake *f = transport(t, "abort");

    tracef("  server aborts\n");
    f->open = false; /* app_abort calls app_closed itself */
    f->ac = NULL;
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

/* ---- the client's side: what it sent ---------------------------------------------------------------- */

struct stream_track {
    uint32_t id;
    uint64_t credit; /* WINDOW_UPDATE increments the client sent for it */
    uint64_t sent;   /* DATA payload the server sent on it */
    bool headers, ended, reset;
};

/*
 * The client's frames, followed when the connection is HTTP/2 from its first byte (after an h2c
 * upgrade the frames start where the server's HTTP/1.1 parser says: the checks that need them are
 * then relaxed). Upper bounds only: the server may not have read them yet.
 */
static struct {
    bool strict;
    bool saw_head; /* an HTTP/1.1 HEAD request: its response has no body */
    size_t skip;   /* bytes before the next frame header */
    uint8_t hd[9];
    size_t hd_len;
    uint8_t type, flags;
    uint32_t sid;
    size_t left; /* payload bytes of the current frame still to come */
    uint8_t payload[16384];
    size_t payload_len;
    bool lost;            /* a frame longer than the server accepts: the connection is over */
    uint32_t max_frame;   /* the largest valid SETTINGS_MAX_FRAME_SIZE sent (16384 at first) */
    uint64_t max_initial; /* the largest SETTINGS_INITIAL_WINDOW_SIZE sent (65535 at first) */
    uint64_t conn_credit; /* 65535 + increments on stream 0 */
    uint32_t max_stream;  /* the highest stream id a HEADERS named */
    struct stream_track streams[NTRACK];
    int nstreams;
} cl;

static struct stream_track *track(uint32_t id)
{
    for (int i = 0; i < cl.nstreams; i++)
        if (cl.streams[i].id == id)
            return &cl.streams[i];
    if (cl.nstreams == NTRACK)
        return NULL;
    cl.streams[cl.nstreams] = (struct stream_track){.id = id};
    return &cl.streams[cl.nstreams++];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void client_frame_done(void)
{
    const uint8_t *p = cl.payload;

    if (cl.type == NGHTTP2_SETTINGS && !(cl.flags & NGHTTP2_FLAG_ACK) && cl.payload_len % 6 == 0) {
        for (size_t i = 0; i + 6 <= cl.payload_len; i += 6) {
            uint32_t v = be32(p + i + 2);

            if (p[i + 1] == NGHTTP2_SETTINGS_MAX_FRAME_SIZE && v >= 16384 && v <= 16777215 &&
                v > cl.max_frame)
                cl.max_frame = v;
            if (p[i + 1] == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE && v > cl.max_initial)
                cl.max_initial = v;
        }
    } else if (cl.type == NGHTTP2_WINDOW_UPDATE && cl.payload_len == 4) {
        uint32_t inc = be32(p) & 0x7fffffff;
        struct stream_track *st;

        if (!cl.sid)
            cl.conn_credit += inc;
        else if ((st = track(cl.sid)))
            st->credit += inc;
    }
}

static void client_sent(const uint8_t *data, size_t len)
{
    if (!cl.saw_head && memmem(data, len, "HEAD", 4))
        cl.saw_head = true;
    while (cl.strict && !cl.lost && len) {
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
            cl.left = (size_t)cl.hd[0] << 16 | (size_t)cl.hd[1] << 8 | cl.hd[2];
            cl.type = cl.hd[3];
            cl.flags = cl.hd[4];
            cl.sid = be32(cl.hd + 5) & 0x7fffffff;
            cl.payload_len = 0;
            if (cl.left > sizeof(cl.payload)) { /* over the server's SETTINGS_MAX_FRAME_SIZE: it ends here */
                cl.lost = true;
                return;
            }
            if (cl.type == NGHTTP2_HEADERS && (cl.sid & 1) && cl.sid > cl.max_stream)
                cl.max_stream = cl.sid;
        }
        if (cl.left) {
            size_t n = cl.left < len ? cl.left : len;

            memcpy(cl.payload + cl.payload_len, data, n);
            cl.payload_len += n;
            cl.left -= n;
            data += n;
            len -= n;
        }
        if (!cl.left) {
            client_frame_done();
            cl.hd_len = 0;
        }
    }
}

/* ---- the client's side: checking what the server wrote ---------------------------------------------- */

static struct {
    bool started; /* the first byte came */
    bool h2;      /* else HTTP/1.1, until a 101 */
    http_parser parser;
    bool h1_done; /* upgraded, or HTTP/1.1 output no longer checked */
    uint8_t hd[9];
    size_t hd_len;
    uint8_t type, flags;
    uint32_t sid;
    size_t len, left;
    uint8_t payload[65536];
    bool seen_settings;
    bool goaway_error;     /* a GOAWAY with an error code went out: nothing may follow */
    uint32_t continuation; /* stream of a field block waiting for CONTINUATION, 0 when none */
    uint8_t block[1 << 17];
    size_t block_len;
    uint64_t conn_sent;
    nghttp2_hd_inflater *inflater;
} out;

static void check_field_block(uint32_t sid)
{
    const uint8_t *p = out.block;
    size_t left = out.block_len;
    int nfields = 0;

    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t n = nghttp2_hd_inflate_hd2(out.inflater, &nv, &flags, p, left, 1);

        CHECK(n >= 0, "stream %u: the response's field block does not decode: %s", sid,
              nghttp2_strerror((int)n));
        p += n;
        left -= (size_t)n;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (nfields == 0)
                CHECK(nv.namelen == 7 && !memcmp(nv.name, ":status", 7) && nv.valuelen == 3 &&
                          nv.value[0] >= '1' && nv.value[0] <= '5' && nv.value[1] >= '0' &&
                          nv.value[1] <= '9' && nv.value[2] >= '0' && nv.value[2] <= '9',
                      "stream %u: a response that does not start with :status", sid);
            else
                CHECK(nv.namelen && nv.name[0] != ':', "stream %u: a pseudo-header after :status", sid);
            nfields++;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(out.inflater);
            break;
        }
        if (n == 0 && !left)
            break;
    }
    CHECK(nfields > 0, "stream %u: an empty response field block", sid);
    out.block_len = 0;
}

static void add_block(const uint8_t *p, size_t n)
{
    CHECK(out.block_len + n <= sizeof(out.block), "a response field block over %zu bytes", sizeof(out.block));
    memcpy(out.block + out.block_len, p, n);
    out.block_len += n;
}

/* A frame's header has come: the checks that need no payload. */
static void frame_begin(void)
{
    uint32_t max_frame = cl.strict ? cl.max_frame : 16777215;
    struct stream_track *st = NULL;

    tracef("  < frame type %u flags 0x%02x stream %u length %zu\n", out.type, out.flags, out.sid, out.len);
    CHECK(!out.goaway_error, "a frame (type %u) after a GOAWAY for an error", out.type);
    CHECK(out.len <= max_frame, "a frame of %zu bytes over the client's SETTINGS_MAX_FRAME_SIZE %u", out.len,
          max_frame);
    CHECK(out.seen_settings || (out.type == NGHTTP2_SETTINGS && !(out.flags & NGHTTP2_FLAG_ACK)),
          "the server's first frame is type %u, not SETTINGS", out.type);
    CHECK(!out.continuation || (out.type == NGHTTP2_CONTINUATION && out.sid == out.continuation),
          "a frame of type %u inside the field block of stream %u", out.type, out.continuation);
    switch (out.type) {
    case NGHTTP2_DATA:
    case NGHTTP2_HEADERS:
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_CONTINUATION:
        CHECK(out.sid & 1, "frame type %u on stream %u: not a client stream", out.type, out.sid);
        CHECK(!cl.strict || out.sid <= cl.max_stream, "frame type %u on stream %u the client never opened",
              out.type, out.sid);
        st = track(out.sid);
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_GOAWAY:
        CHECK(out.sid == 0, "frame type %u on stream %u", out.type, out.sid);
        break;
    case NGHTTP2_WINDOW_UPDATE:
        break;
    default:
        FAIL("a frame of type %u from a server", out.type);
    }
    if (out.type == NGHTTP2_DATA) {
        CHECK(out.len <= sizeof(out.payload), "DATA over 64 KiB"); /* not kept, only counted */
        if (st) {
            CHECK(st->headers && !st->ended && !st->reset, "DATA on stream %u outside its response", out.sid);
            st->sent += out.len;
            CHECK(!cl.strict || st->sent <= cl.max_initial + st->credit,
                  "stream %u: %llu bytes of DATA, over the client's window (at most %llu)", out.sid,
                  (unsigned long long)st->sent, (unsigned long long)(cl.max_initial + st->credit));
            if (out.flags & NGHTTP2_FLAG_END_STREAM)
                st->ended = true;
        }
        out.conn_sent += out.len;
        CHECK(!cl.strict || out.conn_sent <= cl.conn_credit,
              "%llu bytes of DATA, over the connection window %llu", (unsigned long long)out.conn_sent,
              (unsigned long long)cl.conn_credit);
    } else if (out.type == NGHTTP2_HEADERS && st) {
        CHECK(!st->headers && !st->reset, "a second HEADERS (or one after RST_STREAM) on stream %u", out.sid);
        st->headers = true;
        if (out.flags & NGHTTP2_FLAG_END_STREAM)
            st->ended = true;
    } else if (out.type == NGHTTP2_RST_STREAM && st) {
        st->reset = true;
    }
}

/* The whole frame has come (DATA payloads are not kept). */
static void frame_end(void)
{
    const uint8_t *p = out.payload;
    size_t len = out.len;

    switch (out.type) {
    case NGHTTP2_SETTINGS:
        CHECK(out.flags & NGHTTP2_FLAG_ACK ? len == 0 : len % 6 == 0, "SETTINGS of %zu bytes", len);
        out.seen_settings = true;
        break;
    case NGHTTP2_PING:
        CHECK(len == 8, "PING of %zu bytes", len);
        break;
    case NGHTTP2_RST_STREAM:
        CHECK(len == 4, "RST_STREAM of %zu bytes", len);
        break;
    case NGHTTP2_WINDOW_UPDATE:
        CHECK(len == 4 && (be32(p) & 0x7fffffff), "WINDOW_UPDATE of %zu bytes or of 0", len);
        break;
    case NGHTTP2_GOAWAY:
        CHECK(len >= 8, "GOAWAY of %zu bytes", len);
        out.goaway_error = be32(p + 4) != NGHTTP2_NO_ERROR;
        tracef("  < GOAWAY last %u error %u\n", be32(p) & 0x7fffffff, be32(p + 4));
        break;
    case NGHTTP2_HEADERS: {
        size_t skip = 0, pad = 0;

        if (out.flags & NGHTTP2_FLAG_PADDED) {
            CHECK(len >= 1, "padded HEADERS without room for Pad Length");
            pad = p[0];
            skip = 1;
        }
        if (out.flags & NGHTTP2_FLAG_PRIORITY)
            skip += 5;
        CHECK(skip + pad <= len, "HEADERS padding or priority past its end");
        add_block(p + skip, len - skip - pad);
        if (out.flags & NGHTTP2_FLAG_END_HEADERS)
            check_field_block(out.sid);
        else
            out.continuation = out.sid;
        break;
    }
    case NGHTTP2_CONTINUATION:
        CHECK(out.continuation, "CONTINUATION without HEADERS before it");
        add_block(p, len);
        if (out.flags & NGHTTP2_FLAG_END_HEADERS) {
            out.continuation = 0;
            check_field_block(out.sid);
        }
        break;
    default:
        break;
    }
}

static void h2_output(const uint8_t *data, size_t len)
{
    while (len) {
        if (out.hd_len < 9) {
            out.hd[out.hd_len++] = *data++;
            len--;
            if (out.hd_len < 9)
                continue;
            out.len = out.left = (size_t)out.hd[0] << 16 | (size_t)out.hd[1] << 8 | out.hd[2];
            out.type = out.hd[3];
            out.flags = out.hd[4];
            out.sid = be32(out.hd + 5) & 0x7fffffff;
            frame_begin();
            CHECK(out.type == NGHTTP2_DATA || out.len <= sizeof(out.payload), "a type %u frame of %zu bytes",
                  out.type, out.len);
        }
        if (out.left) {
            size_t n = out.left < len ? out.left : len;

            if (out.type != NGHTTP2_DATA)
                memcpy(out.payload + (out.len - out.left), data, n);
            out.left -= n;
            data += n;
            len -= n;
        }
        if (!out.left) {
            frame_end();
            out.hd_len = 0;
        }
    }
}

static int h1_headers_complete(http_parser *p)
{
    tracef("  < HTTP/1.1 %u\n", p->status_code);
    return 0;
}

static const http_parser_settings h1_settings = {.on_headers_complete = h1_headers_complete};

static void client_received(const uint8_t *data, size_t len)
{
    if (!out.started) { /* an HTTP/1.1 start may still have sent the HTTP/2 preface: the server says */
        out.started = true;
        out.h2 = out.h2 || data[0] != 'H';
    }
    if (!out.h2 && !out.h1_done) {
        size_t n;

        if (cl.saw_head) { /* from here on the parser could take a HEAD response's headers for a body */
            out.h1_done = true;
            return;
        }
        n = http_parser_execute(&out.parser, &h1_settings, (const char *)data, len);
        if (out.parser.upgrade) {
            CHECK(out.parser.status_code == 101, "an upgrade without 101");
            out.h2 = true;
            data += n;
            len -= n;
        } else {
            CHECK(HTTP_PARSER_ERRNO(&out.parser) == HPE_OK, "the HTTP/1.1 output does not parse: %s (%s)",
                  http_errno_name(HTTP_PARSER_ERRNO(&out.parser)),
                  http_errno_description(HTTP_PARSER_ERRNO(&out.parser)));
            return;
        }
    }
    if (out.h2)
        h2_output(data, len);
}

/* ---- the connection ---------------------------------------------------------------------------------- */

static void conn_reset_state(int start)
{
    memset(&cl, 0, sizeof(cl));
    cl.strict = start != 2;
    cl.skip = PREFACE_LEN;
    cl.max_frame = 16384;
    cl.max_initial = 65535;
    cl.conn_credit = 65535;
    if (out.inflater)
        nghttp2_hd_inflate_del(out.inflater);
    memset(&out, 0, sizeof(out));
    out.h2 = start != 2;
    http_parser_init(&out.parser, HTTP_RESPONSE);
    CHECK(!nghttp2_hd_inflate_new(&out.inflater), "nghttp2_hd_inflate_new");
}

/* After each call into the server: a connection both sides have finished is closed, as TCP would. */
static void settle(void)
{
    if (fake.open && fake.shut && fake.fin && !fake.out_len) {
        struct app_conn *ac = fake.ac;

        tracef("  closed (both FINs)\n");
        fake.open = false;
        fake.ac = NULL;
        drop_segs();
        app_closed(fake.table, ac, 0);
    }
}

static void deliver_readable(void)
{
    if (!fake.open)
        return;
    app_readable(fake.ac);
    settle();
}

static void deliver_writable(bool force)
{
    if (!fake.open || (!fake.want_writable && !force))
        return;
    fake.want_writable = false;
    app_writable(fake.ac);
    settle();
}

static void deliver_drain(void)
{
    if (!fake.open || !fake.ac->ops->drain)
        return;
    tracef("  server drains\n");
    fake.ac->ops->drain(fake.ac);
    settle();
}

static void client_write(const uint8_t *data, size_t len, bool more)
{
    struct seg *s;

    if (!fake.open || fake.fin || fake.nsegs == MAX_SEGS)
        return;
    tracef("  > %zu bytes%s\n", len, more ? " (more follows)" : "");
    client_sent(data, len);
    if (len) {
        s = &fake.segs[fake.nsegs++];
        s->data = malloc(len);
        CHECK(s->data, "malloc");
        memcpy(s->data, data, len);
        s->len = len;
        s->off = 0;
    }
    if (!more)
        deliver_readable();
}

static void client_read(size_t max)
{
    size_t n = fake.out_len < max ? fake.out_len : max;

    if (!n)
        return;
    tracef("  client reads %zu of %zu bytes\n", n, fake.out_len);
    client_received(fake.out, n);
    memmove(fake.out, fake.out + n, fake.out_len - n);
    fake.out_len -= n;
    settle();
}

static void client_reset(void)
{
    struct app_conn *ac = fake.ac;

    if (!fake.open)
        return;
    tracef("  client resets\n");
    fake.open = false;
    fake.ac = NULL;
    drop_segs();
    app_closed(fake.table, ac, ECONNRESET);
}

static void conn_open(struct app_table *t, int start, size_t room, size_t sendbuf)
{
    static const uint8_t settings[9] = {0, 0, 0, NGHTTP2_SETTINGS, 0, 0, 0, 0, 0};

    conn_reset_state(start);
    drop_segs();
    free(fake.out);
    memset(&fake, 0, sizeof(fake));
    fake.table = t;
    fake.room = room;
    fake.out_cap = sendbuf;
    fake.out = malloc(sendbuf);
    fake.budget = OUT_BUDGET;
    CHECK(fake.out, "malloc");
    fake.open = true;
    fake.ac = app_open(t, PORT, &fake_io, &fake);
    CHECK(fake.ac, "app_open found no free slot: a connection was not given back");
    CHECK(fake.open, "the HTTP service refused a connection: its pool has none left");
    switch (start) {
    case 0:
        client_write((const uint8_t *)PREFACE, PREFACE_LEN, true);
        client_write(settings, sizeof(settings), false);
        break;
    case 1:
        client_write((const uint8_t *)PREFACE, PREFACE_LEN, false);
        break;
    case 3:
        client_write((const uint8_t *)PREFACE, 3, false);
        client_write((const uint8_t *)PREFACE + 3, 14, false);
        client_write((const uint8_t *)PREFACE + 17, PREFACE_LEN - 17, true);
        client_write(settings, sizeof(settings), false);
        break;
    default:
        break;
    }
}

/* ---- one input -------------------------------------------------------------------------------------- */

static void op_frame(struct input *in, unsigned arg)
{
    static uint8_t buf[9 + 32768];
    uint8_t type = frame_types[arg & 15];
    uint8_t flags = (uint8_t)in_u8(in);
    unsigned sbyte = in_u8(in);
    uint32_t sid = sbyte == 0xff ? 0x7fffffff : sbyte;
    unsigned len = in_u16(in);

    if (len & 0x8000) {
        len &= 0x7fff;
        memset(buf + 9, 0, len);
    } else {
        len &= 0x7fff;
        if (len > (size_t)(in->end - in->p))
            len = (unsigned)(in->end - in->p);
        memcpy(buf + 9, in->p, len);
        in->p += len;
    }
    buf[0] = (uint8_t)(len >> 16);
    buf[1] = (uint8_t)(len >> 8);
    buf[2] = (uint8_t)len;
    buf[3] = type;
    buf[4] = flags;
    buf[5] = (uint8_t)(sid >> 24);
    buf[6] = (uint8_t)(sid >> 16);
    buf[7] = (uint8_t)(sid >> 8);
    buf[8] = (uint8_t)sid;
    tracef("> frame type %u flags 0x%02x stream %u length %u\n", type, flags, sid, len);
    client_write(buf, 9 + len, arg & 16);
}

static void check_pools(int m, int w)
{
    struct http_worker_usage u;

    http_worker_in_use(workers[m][w], &u);
    CHECK(!u.conns && !u.streams && !u.bufs && !u.mem_blocks,
          "%s: after the close, still in use: %u connections, %u streams, %u buffers, %llu pool blocks",
          impls[m].name, u.conns, u.streams, u.bufs, (unsigned long long)u.mem_blocks);
    CHECK(tables[m][w].open == 0, "%s: after the close, %u app slots still taken", impls[m].name,
          tables[m][w].open);
}

/* One input against implementation m. */
static void run_input(int m, const uint8_t *data, size_t size)
{
    current_impl = m;
    struct input in = {data, data + size};
    unsigned cfg = in_u8(&in);
    int start = cfg & 3, w = cfg >> 6 & 1, connections = 1;
    size_t room = room_sizes[cfg >> 2 & 3], sendbuf = sendbuf_sizes[cfg >> 4 & 3];
    struct app_table *table = &tables[m][w];

    tracef("input (%s): start %d, room %zu, send buffer %zu, %s limits\n", impls[m].name, start, room,
           sendbuf, w ? "tight" : "default");
    conn_open(table, start, room, sendbuf);
    while (in.p < in.end) {
        unsigned op = in_u8(&in), arg = op >> 3;

        switch (op & 7) {
        case OP_SEND: {
            static uint8_t filler[65536];
            size_t len = arg & 1 ? in_u16(&in) : in_u8(&in);

            if (arg & 4) {
                memset(filler, 'x', len);
                client_write(filler, len, arg & ARG_MORE);
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
        case OP_READ:
            client_read(read_sizes[arg & 7]);
            if (!(arg & 8))
                deliver_writable(false);
            break;
        case OP_WRITABLE:
            if (arg & 2)
                deliver_drain();
            else
                deliver_writable(arg & 1);
            break;
        case OP_FIN:
            if (fake.open && !fake.fin) {
                tracef("> FIN\n");
                fake.fin = true;
                deliver_readable();
            }
            break;
        case OP_RESET:
            client_reset();
            check_pools(m, w);
            if (connections++ < MAX_CONNECTIONS_PER_INPUT)
                conn_open(table, start, room, sendbuf);
            break;
        case OP_LIMITS:
            if (fake.open) {
                fake.room = room_sizes[arg & 3];
                /* the send buffer only grows: what is in it stays */
                if (sendbuf_sizes[arg >> 2 & 3] > fake.out_cap) {
                    uint8_t *bigger = realloc(fake.out, sendbuf_sizes[arg >> 2 & 3]);

                    CHECK(bigger, "realloc");
                    fake.out = bigger;
                    fake.out_cap = sendbuf_sizes[arg >> 2 & 3];
                }
            }
            deliver_writable(false);
            break;
        case OP_READABLE:
            deliver_readable();
            break;
        }
    }
    /* the end: the client half-closes (or not), reads everything the server still sends, then resets */
    if (fake.open && !(cfg & 0x80) && !fake.fin) {
        fake.fin = true;
        deliver_readable();
    }
    for (int round = 0; round < DRAIN_ROUNDS && fake.open; round++) {
        bool wanted = fake.want_writable;
        size_t had = fake.out_len;

        client_read(SIZE_MAX);
        deliver_writable(false);
        if (!had && !wanted && !fake.out_len) {
            /* quiet: the built-in handlers answer at once, so after the client's FIN nothing can
             * still finish and the server must end the connection */
            CHECK(!fake.open || !fake.fin || fake.shut,
                  "the client half-closed, nothing moves, and the server keeps the connection open");
            break;
        }
    }
    client_reset();
    check_pools(m, w);
    drop_segs();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int m = 0; m < 2; m++)
        if (!impl_skipped[m])
            run_input(m, data, size);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------------------ */

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

static unsigned type_index(uint8_t type)
{
    for (unsigned i = 0; i < 16; i++)
        if (frame_types[i] == type)
            return i;
    return 0;
}

static void frame(struct seed *s, uint8_t type, uint8_t flags, uint8_t sid, const void *payload, size_t len)
{
    put8(s, OP_FRAME | type_index(type) << 3);
    put8(s, flags);
    put8(s, sid);
    put16(s, (unsigned)len);
    put(s, payload, len);
}

/* A frame of len zero bytes, without len bytes of input. */
static void frame_zeros(struct seed *s, uint8_t type, uint8_t flags, uint8_t sid, unsigned len)
{
    put8(s, OP_FRAME | type_index(type) << 3);
    put8(s, flags);
    put8(s, sid);
    put16(s, 0x8000 | len);
}

static void send_bytes(struct seed *s, const char *text)
{
    size_t len = strlen(text);

    put8(s, OP_SEND | 1 << 3);
    put16(s, (unsigned)len);
    put(s, text, len);
}

static void send_filler(struct seed *s, unsigned len, bool more)
{
    put8(s, OP_SEND | (1 | 4 | (more ? ARG_MORE : 0)) << 3);
    put16(s, len);
}

static void read_all(struct seed *s)
{
    put8(s, OP_READ);
}

/* HPACK (RFC 7541): an integer with an N-bit prefix, and a literal field without indexing. */
struct block {
    uint8_t b[1024];
    size_t len;
};

static void hp_int(struct block *b, uint8_t first, int prefix, size_t v)
{
    size_t max = ((size_t)1 << prefix) - 1;

    if (v < max) {
        b->b[b->len++] = (uint8_t)(first | v);
        return;
    }
    b->b[b->len++] = (uint8_t)(first | max);
    for (v -= max; v >= 128; v >>= 7)
        b->b[b->len++] = (uint8_t)(v % 128 + 128);
    b->b[b->len++] = (uint8_t)v;
}

static void hp_indexed(struct block *b, unsigned index)
{
    hp_int(b, 0x80, 7, index);
}

/* name_index 0: a literal name follows */
static void hp_literal(struct block *b, unsigned name_index, const char *name, const char *value)
{
    hp_int(b, 0x00, 4, name_index);
    if (!name_index) {
        hp_int(b, 0x00, 7, strlen(name));
        memcpy(b->b + b->len, name, strlen(name));
        b->len += strlen(name);
    }
    hp_int(b, 0x00, 7, strlen(value));
    memcpy(b->b + b->len, value, strlen(value));
    b->len += strlen(value);
}

/* :method (2 GET, 3 POST), :scheme http, :path, :authority */
static struct block request(const char *method, const char *path)
{
    struct block b = {.len = 0};

    if (!strcmp(method, "GET"))
        hp_indexed(&b, 2);
    else if (!strcmp(method, "POST"))
        hp_indexed(&b, 3);
    else
        hp_literal(&b, 2, NULL, method);
    hp_indexed(&b, 6);
    hp_literal(&b, 4, NULL, path);
    hp_literal(&b, 1, NULL, "localhost");
    return b;
}

static void headers(struct seed *s, uint8_t sid, const struct block *b, bool end_stream)
{
    frame(s, NGHTTP2_HEADERS,
          (uint8_t)(NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0)), sid, b->b,
          b->len);
}

static void get(struct seed *s, uint8_t sid, const char *path)
{
    struct block b = request("GET", path);

    headers(s, sid, &b, true);
}

static void settings(struct seed *s, const uint16_t *ids, const uint32_t *values, int n)
{
    uint8_t p[60];

    for (int i = 0; i < n; i++) {
        p[i * 6] = (uint8_t)(ids[i] >> 8);
        p[i * 6 + 1] = (uint8_t)ids[i];
        for (int k = 0; k < 4; k++)
            p[i * 6 + 2 + k] = (uint8_t)(values[i] >> (24 - 8 * k));
    }
    frame(s, NGHTTP2_SETTINGS, 0, 0, p, (size_t)n * 6);
}

static void window_update(struct seed *s, uint8_t sid, uint32_t inc)
{
    uint8_t p[4] = {(uint8_t)(inc >> 24), (uint8_t)(inc >> 16), (uint8_t)(inc >> 8), (uint8_t)inc};

    frame(s, NGHTTP2_WINDOW_UPDATE, 0, sid, p, 4);
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f && fwrite(s->buf, 1, s->len, f) == s->len && !fclose(f), "%s: %s", path, strerror(errno));
}

static void write_seeds(const char *dir)
{
    static const char upgrade[] =
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    static const uint8_t ping[8] = "sluice!!";
    static const uint8_t rst_cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
    static const uint8_t goaway[8] = {0}; /* last stream 0 (the server opened none), NO_ERROR */
    struct seed *s = calloc(1, sizeof(*s));
    struct block b;

    CHECK(s, "calloc");
    mkdir(dir, 0755);

    /* GET /healthz */
    s->len = 0;
    put8(s, 0);
    get(s, 1, "/healthz");
    read_all(s);
    write_seed(dir, "h2_get_healthz", s);

    /* POST /echo, the body in three DATA frames, read as it comes back */
    s->len = 0;
    put8(s, 0);
    b = request("POST", "/echo");
    hp_literal(&b, 28, NULL, "30");
    headers(s, 1, &b, false);
    frame(s, NGHTTP2_DATA, 0, 1, "0123456789", 10);
    read_all(s);
    frame(s, NGHTTP2_DATA, 0, 1, "abcdefghij", 10);
    frame(s, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "ABCDEFGHIJ", 10);
    read_all(s);
    write_seed(dir, "h2_post_echo", s);

    /* GET /bytes/100000: the default windows take 65535, WINDOW_UPDATE lets the rest go */
    s->len = 0;
    put8(s, 0);
    get(s, 1, "/bytes/100000");
    read_all(s);
    window_update(s, 0, 100000);
    window_update(s, 1, 100000);
    read_all(s);
    write_seed(dir, "h2_bytes_window_update", s);

    /* SETTINGS: a table size of 0, larger frames, a tiny stream window, one stream; then a larger window */
    s->len = 0;
    put8(s, 1);
    {
        static const uint16_t ids[] = {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, NGHTTP2_SETTINGS_MAX_FRAME_SIZE,
                                       NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                                       NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS};
        static const uint32_t values[] = {0, 32768, 10, 1};
        static const uint16_t ids2[] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE};
        static const uint32_t values2[] = {100000};

        settings(s, ids, values, 4);
        frame(s, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
        get(s, 1, "/bytes/1000");
        read_all(s);
        settings(s, ids2, values2, 1);
        get(s, 3, "/healthz");
        read_all(s);
    }
    write_seed(dir, "h2_settings", s);

    /* PING, and a PING ACK the server never asked for */
    s->len = 0;
    put8(s, 0);
    frame(s, NGHTTP2_PING, 0, 0, ping, 8);
    frame(s, NGHTTP2_PING, NGHTTP2_FLAG_ACK, 0, ping, 8);
    read_all(s);
    write_seed(dir, "h2_ping", s);

    /* RST_STREAM on an echo in progress, DATA still arriving on it, then another request */
    s->len = 0;
    put8(s, 0);
    b = request("POST", "/echo");
    headers(s, 1, &b, false);
    frame(s, NGHTTP2_DATA, 0, 1, "hello", 5);
    frame(s, NGHTTP2_RST_STREAM, 0, 1, rst_cancel, 4);
    get(s, 3, "/healthz");
    read_all(s);
    write_seed(dir, "h2_rst_stream", s);

    /* GOAWAY after a request */
    s->len = 0;
    put8(s, 0);
    get(s, 1, "/healthz");
    frame(s, NGHTTP2_GOAWAY, 0, 0, goaway, 8);
    read_all(s);
    write_seed(dir, "h2_goaway", s);

    /* a field block in HEADERS and two CONTINUATION frames; /static/ and /metrics; 404 and 405 */
    s->len = 0;
    put8(s, 0);
    b = request("GET", "/static/index.html");
    frame(s, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, b.b, 5);
    frame(s, NGHTTP2_CONTINUATION, 0, 1, b.b + 5, 5);
    frame(s, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, b.b + 10, b.len - 10);
    get(s, 3, "/static/big.bin");
    get(s, 5, "/metrics");
    get(s, 7, "/nowhere");
    b = request("DELETE", "/healthz");
    headers(s, 9, &b, true);
    read_all(s);
    window_update(s, 0, 1 << 20);
    window_update(s, 3, 1 << 20);
    read_all(s);
    write_seed(dir, "h2_continuation_static_metrics", s);

    /* tight limits: more streams than allowed, bodies larger than the buffers */
    s->len = 0;
    put8(s, 0x40);
    for (uint8_t sid = 1; sid <= 13; sid += 2)
        get(s, sid, "/bytes/20000");
    read_all(s);
    write_seed(dir, "h2_tight_limits", s);

    /* a send buffer of 10 bytes, one byte per reserve: output trickles out as the client reads */
    s->len = 0;
    put8(s, 0x3c);
    get(s, 1, "/bytes/300");
    for (int i = 0; i < 8; i++) {
        put8(s, OP_READ | 4 << 3); /* 100 bytes, then writable */
    }
    write_seed(dir, "h2_small_room", s);

    /* HTTP/1.1: three requests pipelined on one keep-alive connection */
    s->len = 0;
    put8(s, 2);
    send_bytes(
        s, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /bytes/10 HTTP/1.1\r\nHost: localhost\r\n\r\n"
           "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    read_all(s);
    write_seed(dir, "h1_keepalive_pipeline", s);

    /* HTTP/1.1: a chunked upload after Expect: 100-continue, then a request that closes */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nExpect: "
                  "100-continue\r\n\r\n");
    read_all(s);
    send_bytes(s, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    send_bytes(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    read_all(s);
    write_seed(dir, "h1_chunked_expect", s);

    /* h2c: the upgrade request is stream 1; the preface and SETTINGS, then stream 3 */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, upgrade);
    read_all(s);
    put8(s, OP_SEND | ARG_MORE << 3);
    put8(s, PREFACE_LEN + 9);
    put(s, PREFACE, PREFACE_LEN);
    put(s, "\0\0\0\4\0\0\0\0\0", 9);
    get(s, 3, "/healthz");
    read_all(s);
    write_seed(dir, "h2c_upgrade", s);

    /* the cases nghttp2 1.52 leaves to nghttp2_session.c: DATA on a stream a higher one closed (RST_STREAM
     * STREAM_CLOSED), HEADERS on a lower stream id, an oversized CONTINUATION, and a
     * SETTINGS_INITIAL_WINDOW_SIZE that takes a stream window past 2^31-1 (GOAWAY each) */
    s->len = 0;
    put8(s, 0);
    get(s, 5, "/healthz");
    read_all(s);
    frame(s, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 3, "test", 4);
    frame(s, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 3, "test", 4);
    read_all(s);
    get(s, 1, "/healthz");
    read_all(s);
    write_seed(dir, "h2_closed_and_lower_streams", s);

    s->len = 0;
    put8(s, 0);
    b = request("GET", "/healthz");
    headers(s, 1, &b, false);
    s->len -= b.len + 5; /* the same frame without END_HEADERS */
    frame(s, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, b.b, b.len);
    frame_zeros(s, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, 16385);
    read_all(s);
    write_seed(dir, "h2_continuation_too_large", s);

    s->len = 0;
    put8(s, 0);
    b = request("POST", "/echo");
    headers(s, 1, &b, false);
    window_update(s, 1, 0x7fffffff - 65535);
    {
        static const uint16_t ids[] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE};
        static const uint32_t values[] = {65536};

        settings(s, ids, values, 1);
    }
    read_all(s);
    write_seed(dir, "h2_initial_window_overflow", s);

    /* trailers end a request body */
    s->len = 0;
    put8(s, 0);
    b = request("POST", "/echo");
    headers(s, 1, &b, false);
    frame(s, NGHTTP2_DATA, 0, 1, "body", 4);
    b.len = 0;
    hp_literal(&b, 0, "x-checksum", "1234");
    headers(s, 1, &b, true);
    read_all(s);
    write_seed(dir, "h2_trailers", s);

    /* tight limits: more header fields than max_headers (431), streams refused when the pool is out */
    s->len = 0;
    put8(s, 0x40);
    b = request("GET", "/healthz");
    for (int i = 0; i < 7; i++)
        hp_literal(&b, 0, "x-many", "field");
    headers(s, 1, &b, true);
    for (uint8_t sid = 3; sid <= 11; sid += 2) {
        b = request("POST", "/echo");
        headers(s, sid, &b, false);
    }
    read_all(s);
    write_seed(dir, "h2_tight_headers_and_streams", s);

    /* tight limits, a 10-byte send buffer: three echoes run out of pool buffers, one is reset */
    s->len = 0;
    put8(s, 0x70);
    for (uint8_t sid = 1; sid <= 5; sid += 2) {
        b = request("POST", "/echo");
        headers(s, sid, &b, false);
    }
    for (int i = 0; i < 2; i++) /* 60000 bytes: within the connection window of 65535 */
        for (uint8_t sid = 1; sid <= 5; sid += 2)
            frame_zeros(s, NGHTTP2_DATA, 0, sid, 10000);
    put8(s, OP_READ | 4 << 3);
    read_all(s);
    write_seed(dir, "h2_echo_out_of_buffers", s);

    /* the server stops (drain): GOAWAY, the response in flight finishes */
    s->len = 0;
    put8(s, 0);
    get(s, 1, "/bytes/100000");
    put8(s, OP_WRITABLE | 2 << 3);
    read_all(s);
    window_update(s, 0, 100000);
    window_update(s, 1, 100000);
    get(s, 3, "/healthz");
    read_all(s);
    write_seed(dir, "h2_drain", s);

    s->len = 0;
    put8(s, 2);
    send_bytes(s, "GET /bytes/50000 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    put8(s, OP_WRITABLE | 2 << 3);
    read_all(s);
    write_seed(dir, "h1_drain", s);

    /* HTTP/1.1 with a 10-byte send buffer: 100 Continue, a chunked body, a pipelined request */
    s->len = 0;
    put8(s, 0x32);
    send_bytes(s,
               "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
               "Expect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int i = 0; i < 30; i++)
        put8(s, OP_READ | 2 << 3); /* 9 bytes, then writable */
    write_seed(dir, "h1_small_sendbuf", s);

    /* regression: an HTTP2-Settings nghttp2 refuses (23 bytes: not whole settings) was found out
     * after the 101 had gone: HTTP/2 without SETTINGS and without the upgraded request's answer */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAAAAAAAAA\r\n\r\n");
    read_all(s);
    put8(s, OP_SEND | ARG_MORE << 3);
    put8(s, PREFACE_LEN + 9);
    put(s, PREFACE, PREFACE_LEN);
    put(s, "\0\0\0\4\0\0\0\0\0", 9);
    get(s, 3, "/healthz");
    read_all(s);
    write_seed(dir, "regress_h2c_bad_settings", s);

    /* regression: after the client's FIN a request cut short (a stream waiting for body, HTTP/2 or
     * HTTP/1.1) held the connection open for good */
    s->len = 0;
    put8(s, 0);
    b = request("POST", "/echo");
    headers(s, 1, &b, false);
    frame(s, NGHTTP2_DATA, 0, 1, "part", 4);
    read_all(s);
    put8(s, OP_FIN);
    read_all(s);
    write_seed(dir, "regress_h2_fin_with_open_stream", s);

    s->len = 0;
    put8(s, 2);
    send_bytes(s, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\npart");
    read_all(s);
    put8(s, OP_FIN);
    read_all(s);
    write_seed(dir, "regress_h1_fin_with_open_request", s);

    /* regression: part of the client preface, then the FIN: the undecided connection stayed open
     * for good (detection only peeked, so the transport never reported eof) */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, "PRI * HTTP/2.0\r");
    write_seed(dir, "regress_partial_preface_fin", s);

    /* HTTP/1.1 whose first byte comes alone and matches the preface's: it is replayed to the parser */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, "P");
    send_bytes(s, "OST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    read_all(s);
    write_seed(dir, "h1_first_byte_alone", s);

    /* regressions: chunked trailers reached the header callbacks after the head had gone to the
     * request (NULL buffer); an echo out of buffers reset the connection from inside the parser,
     * which went on with the freed connection */
    s->len = 0;
    put8(s, 2);
    send_bytes(s, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                  "x-trailer: y\r\n\r\n");
    read_all(s);
    write_seed(dir, "regress_h1_chunked_trailers", s);

    s->len = 0;
    put8(s, 0x76);
    put8(s, OP_SEND | (1 | ARG_MORE) << 3);
    put16(s, 56);
    put(s, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 120000\r\n\r\n", 56);
    send_filler(s, 60000, true);
    send_filler(s, 60000, false);
    read_all(s);
    write_seed(dir, "regress_h1_reset_inside_parser", s);
    free(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("H2_FUZZ_WRITE_SEEDS"), *only = getenv("H2_FUZZ_IMPL");

    (void)argc;
    (void)argv;
    trace = getenv("H2_FUZZ_TRACE") != NULL;
    for (int m = 0; m < 2 && only && *only; m++)
        impl_skipped[m] = strcmp(only, impls[m].name) != 0;
    CHECK(!impl_skipped[0] || !impl_skipped[1], "H2_FUZZ_IMPL=%s: native or nghttp2", only);
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    workers_init();
    return 0;
}
