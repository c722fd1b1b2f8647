/*
 * session.c — HTTP/2 of our own (RFC 9113) over a connection's transport: h2_native_ops.
 *
 * Frames are read where the transport holds them (UMEM frames on AF_XDP, pool buffers on
 * sockets), one byte-stream state machine per connection: a frame header or the few fixed bytes
 * of a control frame cut across two pieces are gathered in 9 + 8 bytes of the connection, DATA
 * payloads go to the handler's on_body as slices of the received pieces (never copied), and a
 * header block is decoded in place when it lies whole in one piece; only a block split across
 * pieces or CONTINUATION frames is joined, in one pool buffer (past 16 KiB, up to
 * max_header_list_size, in one size-class block; server/h2/hpack.c decodes it).
 * Decoded request strings are copied once, into the stream's pool buffer (st->req_buf), where the
 * request's slices point.
 *
 * Output is written straight into the transport: HEADERS encoded on the stack and written whole,
 * DATA as a 9-byte header and then the body copied from where it lies (http_body_write). Control
 * frames the connection owes (SETTINGS and PING acknowledgements, RST_STREAM, WINDOW_UPDATE,
 * GOAWAY) go out at once when the transport has room, else wait in one pool buffer; a client that
 * makes them pile up without reading them is a flood (max_queued_control).
 *
 * The defences, each a [http] setting and a counter: rapid reset (streams the client cancels
 * before their answer, per window, net of the answers it let finish), CONTINUATION floods (frames
 * and bytes per header block), HPACK bombs (the decoded list is bounded; past it the block is still
 * decoded for the table's sake but nothing is kept, and the request is answered 431), floods of
 * frames that make no progress (empty frames in a row, PRIORITY and WINDOW_UPDATE beyond what
 * the streams opened and the data sent explain), more streams than SETTINGS_MAX_CONCURRENT_STREAMS
 * (REFUSED_STREAM for the extra ones), a fair share of the worker's stream pool per connection, and
 * an address whose connections flooded too often lately (flood_source_strikes). Output that cannot
 * move (a client that reads nothing, or keeps its windows shut) is reported to the app layer, whose
 * send timeout resets it.
 *
 * Nothing here is allocated per request or per frame: stream and connection state live in slabs
 * beside the core's (one slot per slot), HPACK tables in blocks of the worker's size-class pool
 * held while they have entries. Streams finished during a call are freed at the end of it (reap),
 * so that no handler call ever sees its stream vanish underneath.
 */
#include "h2/h2.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2/h2_frame.h"
#include "h2/hpack.h"
#include "h2/hpack_static.h"
#include "http/http_conn.h"
#include "http/http_mem.h"

#define RESETS_KEPT            16                   /* stream ids a connection remembers having reset */
#define RESET_WINDOW_NS        (10 * 1000000000ull) /* the window of rapid_reset_budget */
#define SOURCES                256                  /* sources a worker remembers flooding (direct-mapped) */
#define SOURCE_WINDOW_NS       (60 * 1000000000ull) /* how long a source's strikes count */
#define WINDOW_UPDATE_PER_DATA 10 /* WINDOW_UPDATEs a client may send per DATA frame we sent */
#define RESPONSE_HEAD_MAX      (HTTP_ARENA_SIZE + 256) /* an encoded response field block: the arena + :status */
#define UPGRADE_FIRST_FLIGHT   16384                   /* see h2_conn_start */

/* A stream's HTTP/2 state, in the slot of the same index as the core's stream. */
struct h2_stream {
    int64_t send_window;
    uint32_t recv_window;   /* what the client may still send on it */
    uint32_t recv_unacked;  /* released by the handler, not yet given back by WINDOW_UPDATE */
    uint64_t body_received; /* against content-length (RFC 9113 8.1.1) */
    bool end_stream_in;     /* half-closed (remote) */
    bool headers_out;
    bool end_stream_out;   /* half-closed (local) */
    bool body_out;         /* the body is out, its trailers not yet */
    bool closed;           /* reset by either side, or both ends done: freed by reap */
    uint16_t req_buf_used; /* bytes of st->req_buf its header fields took: its trailers' go after */
};

/* Where the input state machine is: what the next bytes are. */
enum in_phase {
    IN_PREFACE, /* the rest of the client preface */
    IN_HEADER,  /* a frame header */
    IN_PREFIX,  /* Pad Length and priority fields of DATA or HEADERS */
    IN_PAYLOAD,
    IN_PAD,
};

struct h2_conn {
    struct hpack_decoder dec;
    struct hpack_encoder enc;
    /* the frame being read */
    uint8_t phase;
    uint8_t hdr_len, scratch_len;
    uint8_t hdr[H2_FRAME_HEADER];
    uint8_t scratch[8]; /* the fixed bytes of a control frame, or a frame's prefix */
    uint8_t type, flags, prefix_len;
    uint32_t id;
    uint32_t left; /* bytes of the current phase still to come */
    uint32_t pad;  /* padding after the payload */
    uint32_t preface_left;
    /* a header block joined across frames or pieces (HEADERS, then CONTINUATION until END_HEADERS) */
    struct http_buf *block;
    uint8_t *block_big; /* instead, past one pool buffer */
    uint32_t block_len;
    uint32_t block_id;
    uint16_t block_frames;
    bool in_block;
    bool block_end_stream;
    bool block_whole; /* the block is being decoded in place */
    /* settings */
    bool settings_seen; /* the client's first frame was its SETTINGS (3.4) */
    bool settings_acked;
    uint32_t peer_window;    /* the client's SETTINGS_INITIAL_WINDOW_SIZE */
    uint32_t peer_max_frame; /* the client's SETTINGS_MAX_FRAME_SIZE */
    /* flow control, connection level */
    int64_t send_window;
    uint32_t recv_window;
    uint32_t recv_unacked;
    /* streams */
    int32_t last_id; /* the highest stream the client opened */
    uint32_t goaway_last;
    bool goaway_sent, goaway_error, goaway_received;
    bool in_call;        /* inside input or output: frees wait for reap, output for the caller */
    bool settings_owed;  /* our SETTINGS, the first frame we send: not from start, which writes nothing */
    bool source_refused; /* its source struck out: GOAWAY ENHANCE_YOUR_CALM at the first input */
    bool await_preface;
    uint32_t early_room;
    /* control frames that wait for room */
    struct http_buf *ctl;
    uint32_t ctl_frames;
    uint64_t out_bytes; /* written so far: progress, for the send timeout */
    /* flood accounting */
    uint64_t cancel_window_start;
    uint32_t cancels;
    uint32_t empty_run;
    uint32_t priority_frames, window_updates;
    uint32_t streams_opened, data_frames_sent;
    uint32_t open_streams; /* open or half-closed: what SETTINGS_MAX_CONCURRENT_STREAMS bounds */
    bool abort;            /* reset the transport once the call is over (a flood that blocks our output) */
    bool data_to_stream;   /* the DATA frame being read goes to its stream (else it is dropped) */
    uint32_t nresets;
    int32_t resets[RESETS_KEPT];
    int32_t resets_forgotten;
};

/* A client address whose connections were ended for a flood: past flood_source_strikes in the
 * window, its new connections are refused at once (a client that reconnects to reset again). */
struct h2_source {
    uint8_t addr[16];
    uint32_t strikes;
    uint64_t since;
};

struct h2_worker {
    struct hpack_alloc alloc;
    struct h2_source sources[SOURCES];
    struct h2_conn *conns;     /* hw->max_conns */
    struct h2_stream *streams; /* cfg->max_streams */
};

static struct h2_worker *h2_worker_of(const struct http_worker *hw)
{
    return hw->h2_state;
}

static struct h2_conn *h2_of(const struct http_conn *hc)
{
    return hc->proto_state;
}

static struct h2_stream *h2s_of(const struct http_stream *st)
{
    return st->proto_state;
}

static const struct http_config *cfg_of(const struct http_conn *hc)
{
    return hc->hw->cfg;
}

static uint64_t now_of(const struct http_conn *hc)
{
    return hc->ac->table->now_ns;
}

/* ---- output ------------------------------------------------------------------------------------ */

/* What the transport takes now; before an upgraded client's preface, at most early_room. */
static size_t out_room(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    size_t room = app_writable_bytes(hc->ac);

    return h->await_preface && room > h->early_room ? h->early_room : room;
}

/* Call output again when the transport has room; unless the limit is early_room, which the client's
 * preface lifts (input runs output then). */
static void want_room(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (!h->await_preface || app_writable_bytes(hc->ac) <= h->early_room)
        app_want_writable(hc->ac);
}

static void out_write(struct http_conn *hc, const void *p, size_t n)
{
    struct h2_conn *h = h2_of(hc);

    app_write(hc->ac, p, n);
    h->out_bytes += n;
    if (h->await_preface)
        h->early_room -= (uint32_t)n;
}

/* A client that makes control frames pile up without reading them: reset the transport (once the
 * call is over: app_abort frees the connection). */
static void control_flood(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (!h->abort)
        hc->hw->stats.h2_control_flood++;
    h->abort = true;
    hc->closing = true;
}

static void send_settings(struct http_conn *hc);

/* A control frame: now if nothing waits before it and there is room, else after what waits. */
static void ctl_write(struct http_conn *hc, const uint8_t *frame, size_t n)
{
    struct h2_conn *h = h2_of(hc);
    struct http_buf *b;

    if (h->abort)
        return;
    if (h->settings_owed) {
        h->settings_owed = false;
        send_settings(hc);
    }
    b = h->ctl;
    if (!b && out_room(hc) >= n) {
        out_write(hc, frame, n);
        return;
    }
    if (!b && !(b = h->ctl = http_buf_get(hc->hw))) {
        control_flood(hc); /* the pool is out: nowhere to keep what it owes */
        return;
    }
    if (b->len + n > HTTP_BUF_SIZE || ++h->ctl_frames > cfg_of(hc)->max_queued_control) {
        control_flood(hc);
        return;
    }
    memcpy(b->data + b->len, frame, n);
    b->len += (uint32_t)n;
    want_room(hc);
}

/* The control frames that waited: as many as fit. True when none is left. */
static bool ctl_flush(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    struct http_buf *b = h->ctl;
    size_t room, n;

    if (!b)
        return true;
    room = out_room(hc);
    n = b->len - b->off < room ? b->len - b->off : room;
    out_write(hc, b->data + b->off, n);
    b->off += (uint32_t)n;
    if (b->off < b->len) {
        want_room(hc);
        return false;
    }
    http_buf_put(hc->hw, b);
    h->ctl = NULL;
    h->ctl_frames = 0;
    return true;
}

static void send_rst(struct http_conn *hc, uint32_t id, uint32_t code)
{
    uint8_t f[H2_FRAME_HEADER + 4];

    h2_frame_header(f, 4, H2_RST_STREAM, 0, id);
    h2_put32(f + H2_FRAME_HEADER, code);
    hc->hw->h2_rst_sent[code < H2_ERROR_COUNT ? code : H2_INTERNAL_ERROR]++;
    hc->hw->stats.streams_reset++;
    ctl_write(hc, f, sizeof(f));
}

static void send_window_update(struct http_conn *hc, uint32_t id, uint32_t n)
{
    uint8_t f[H2_FRAME_HEADER + 4];

    h2_frame_header(f, 4, H2_WINDOW_UPDATE, 0, id);
    h2_put32(f + H2_FRAME_HEADER, n);
    ctl_write(hc, f, sizeof(f));
}

static void send_goaway(struct http_conn *hc, uint32_t code)
{
    struct h2_conn *h = h2_of(hc);
    uint8_t f[H2_FRAME_HEADER + 8];

    h->goaway_sent = true;
    h->goaway_last = (uint32_t)h->last_id;
    h2_frame_header(f, 8, H2_GOAWAY, 0, 0);
    h2_put32(f + H2_FRAME_HEADER, h->goaway_last);
    h2_put32(f + H2_FRAME_HEADER + 4, code);
    hc->hw->h2_goaway_sent[code < H2_ERROR_COUNT ? code : H2_INTERNAL_ERROR]++;
    ctl_write(hc, f, sizeof(f));
}

/* A connection error (5.4.1): GOAWAY with the code, read nothing more, close once it is out. */
static void conn_error(struct http_conn *hc, uint32_t code)
{
    struct h2_conn *h = h2_of(hc);

    if (h->goaway_error || h->abort)
        return;
    if (code != H2_ENHANCE_YOUR_CALM)
        hc->hw->stats.protocol_errors++;
    send_goaway(hc, code);
    h->goaway_error = true;
    hc->closing = true;
}

static struct h2_source *source_of(const struct http_conn *hc)
{
    const uint8_t *a = hc->ac->peer;
    uint32_t h = 2166136261u;

    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 16777619u;
    return &h2_worker_of(hc->hw)->sources[h % SOURCES];
}

/* Its strikes in the current window (the slot is taken over when another address had it). A transport
 * that gives no address (all zero: in-memory tests and benches) is no source: it is never struck. */
static uint32_t source_strikes(const struct http_conn *hc, bool strike)
{
    static const uint8_t unknown[16];
    struct h2_source *s = source_of(hc);
    uint64_t now = now_of(hc);
    bool current = !memcmp(s->addr, hc->ac->peer, 16) && now - s->since <= SOURCE_WINDOW_NS;

    if (!memcmp(hc->ac->peer, unknown, 16))
        return 0;

    if (strike && !current) {
        memcpy(s->addr, hc->ac->peer, 16);
        s->strikes = 0;
        s->since = now;
        current = true;
    }
    if (strike)
        s->strikes++;
    return current ? s->strikes : 0;
}

/* A flood: the connection ends with ENHANCE_YOUR_CALM, and its source takes a strike. */
static void flood(struct http_conn *hc, uint64_t *counter)
{
    if (h2_of(hc)->goaway_error)
        return;
    (*counter)++;
    source_strikes(hc, true);
    conn_error(hc, H2_ENHANCE_YOUR_CALM);
}

/* ---- streams ------------------------------------------------------------------------------------ */

/* RFC 9113 5.1: frames on a stream we reset are ignored (the client may have sent them before
 * it saw our RST_STREAM); other frames on closed streams are errors. */
static bool reset_lately(const struct h2_conn *h, uint32_t id)
{
    uint32_t n = h->nresets < RESETS_KEPT ? h->nresets : RESETS_KEPT;

    if ((int32_t)id <= h->resets_forgotten)
        return true;
    for (uint32_t i = 0; i < n; i++)
        if (h->resets[i] == (int32_t)id)
            return true;
    return false;
}

static void remember_reset(struct h2_conn *h, uint32_t id)
{
    int32_t *slot;

    if (reset_lately(h, id))
        return;
    slot = &h->resets[h->nresets++ % RESETS_KEPT];
    if (h->nresets > RESETS_KEPT && *slot > h->resets_forgotten)
        h->resets_forgotten = *slot;
    *slot = (int32_t)id;
}

static struct http_stream *find_stream(const struct http_conn *hc, uint32_t id)
{
    for (struct http_stream *st = hc->streams; st; st = st->next)
        if ((uint32_t)st->id == id && !h2s_of(st)->closed)
            return st;
    return NULL;
}

/* The stream is over on our side: no longer counted as open (5.1.2), freed at the end of the call
 * (reap). */
static void stream_close(struct http_stream *st)
{
    struct h2_stream *s = h2s_of(st);

    if (!s->closed)
        h2_of(st->conn)->open_streams--;
    s->closed = true;
}

/* 5.1: a stream the client has not opened yet (we open none: every even one is idle), or 0. */
static bool stream_idle(const struct h2_conn *h, uint32_t id)
{
    return !id || !(id & 1) || id > (uint32_t)h->last_id;
}

/* A stream error (5.4.2): RST_STREAM, and the stream is gone. */
static void stream_error(struct http_conn *hc, struct http_stream *st, uint32_t id, uint32_t code)
{
    send_rst(hc, id, code);
    remember_reset(h2_of(hc), id);
    if (st)
        stream_close(st);
}

/* Request body bytes a stream no longer holds: the client may send as many again (batched). */
static void release_conn(struct http_conn *hc, uint32_t n)
{
    struct h2_conn *h = h2_of(hc);

    h->recv_unacked += n;
    if (h->recv_unacked >= cfg_of(hc)->initial_window_size / 2 && !hc->closing) {
        send_window_update(hc, 0, h->recv_unacked);
        h->recv_window += h->recv_unacked;
        h->recv_unacked = 0;
    }
}

static void release_stream(struct http_stream *st, uint32_t n)
{
    struct h2_stream *s = h2s_of(st);
    struct http_conn *hc = st->conn;

    release_conn(hc, n);
    if (s->closed || s->end_stream_in)
        return; /* nothing more will come on it */
    s->recv_unacked += n;
    if (s->recv_unacked >= cfg_of(hc)->initial_window_size / 2) {
        send_window_update(hc, (uint32_t)st->id, s->recv_unacked);
        s->recv_window += s->recv_unacked;
        s->recv_unacked = 0;
    }
}

/* Free the streams that are over; each was closed outside any handler call that could use it. */
static void reap(struct http_conn *hc)
{
    struct http_stream **link = &hc->streams;

    while (*link) {
        struct http_stream *st = *link;

        if (h2s_of(st)->closed) {
            if (st->body_kept) /* bytes a handler never released still count against the connection */
                release_conn(hc, (uint32_t)st->body_kept);
            http_stream_free(st); /* unlinks it: *link is the next one */
            continue;
        }
        link = &st->next;
    }
}

/* A stream is done when the client sent all it will and our response is out; a stream the client
 * let finish pays back one cancellation of the rapid reset budget. */
static void stream_check_done(struct http_stream *st)
{
    struct h2_stream *s = h2s_of(st);
    struct h2_conn *h = h2_of(st->conn);

    if (s->end_stream_in && s->end_stream_out) {
        stream_close(st);
        if (h->cancels)
            h->cancels--;
    }
}

/* ---- request headers ---------------------------------------------------------------------------- */

/*
 * RFC 9113 8.2.1: a field name is a lowercase token (RFC 9110 5.1, as nghttp2 checks it: no 0x00-0x20,
 * no uppercase, no 0x7f-0xff, no delimiter, no colon but a pseudo-header's first); a value holds no NUL,
 * CR or LF and no whitespace at either end, nor, as RFC 9110 5.5's field-value and nghttp2 have it, any
 * other control byte but HTAB. Values are checked eight bytes at a time (every request's every value
 * goes through here), names byte by byte against the table (most come from HPACK's static table and are
 * not checked at all). A word has a bad byte when one of the classic zero-byte tests below finds one;
 * the tail is checked byte by byte against the table.
 */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static const uint8_t name_byte_ok[256] = {
    ['!'] = 1, ['#' ... '\''] = 1, ['*'] = 1,         ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['0' ... '9'] = 1,  ['^' ... 'z'] = 1, ['|'] = 1, ['~'] = 1,
};
static const uint8_t value_byte_bad[256] = {[0 ... 8] = 1, [10 ... 31] = 1, [0x7f] = 1};

/* Whether a byte is below n (n <= 128), for the bytes below 0x80: exact as a whole, not per byte. */
static inline uint64_t word_has_below(uint64_t x, uint8_t n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

/* A byte in (m, n), exactly, for the bytes below 0x80 (the masks keep borrows inside each byte). */
static inline uint64_t word_has_between(uint64_t x, uint8_t m, uint8_t n)
{
    uint64_t low = x & (ONES * 127);

    return (ONES * (127u + n) - low) & ~x & (low + ONES * (127u - m)) & HIGHS;
}

static inline uint64_t word_has(uint64_t x, uint8_t c)
{
    return word_has_below(x ^ (ONES * c), 1);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t x;

    memcpy(&x, p, 8);
    return x;
}

static bool field_name_ok(const uint8_t *n, uint32_t len)
{
    uint8_t ok = 1;

    for (uint32_t i = len && n[0] == ':'; i < len; i++)
        ok &= name_byte_ok[n[i]];
    return ok && len && !(n[0] == ':' && len == 1);
}

static bool field_value_ok(const uint8_t *v, uint32_t len)
{
    uint64_t bad = 0;
    uint8_t bad_tail = 0;
    uint32_t i = 0;

    if (len && (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' ' || v[len - 1] == '\t'))
        return false;
    for (; i + 8 <= len; i += 8) {
        uint64_t x = load64(v + i);

        bad |= word_has_below(x, '\t') | word_has_between(x, '\t', ' ') | word_has(x, 0x7f);
    }
    for (; i < len; i++)
        bad_tail |= value_byte_bad[v[i]];
    return !bad && !bad_tail;
}

#define NAME_IS(f, lit)  ((f)->name_len == sizeof(lit) - 1 && !memcmp((f)->name, lit, sizeof(lit) - 1))
#define VALUE_IS(f, lit) ((f)->value_len == sizeof(lit) - 1 && !memcmp((f)->value, lit, sizeof(lit) - 1))

enum {
    PSEUDO_METHOD = 1,
    PSEUDO_SCHEME = 2,
    PSEUDO_PATH = 4,
    PSEUDO_AUTHORITY = 8,
};

/* What decoding one field block found: the request it fills, with its header fields or its trailers
 * (NULL for refused streams and blocks on streams already closed). */
struct block_read {
    struct http_conn *hc;
    struct http_stream *st;
    bool trailers;
    bool malformed;
    bool regular_seen;
    bool too_many;
    bool authority_required; /* :scheme is http or https: :authority or host must say it (8.3.1) */
    bool has_host;
    bool path_asterisk;
    uint8_t pseudo;
    uint64_t content_length;
};

static struct http_str str_of(const uint8_t *p, uint32_t len)
{
    return (struct http_str){(const char *)p, len};
}

/* 8.2.2: connection-specific fields are malformed; te may only say trailers. */
static bool connection_specific(const struct hpack_field *f)
{
    switch (f->name_len) {
    case 2:
        return NAME_IS(f, "te") && !VALUE_IS(f, "trailers");
    case 7:
        return NAME_IS(f, "upgrade");
    case 10:
        return NAME_IS(f, "connection") || NAME_IS(f, "keep-alive");
    case 16:
        return NAME_IS(f, "proxy-connection");
    case 17:
        return NAME_IS(f, "transfer-encoding");
    default:
        return false;
    }
}

/* Which pseudo-header field f is (0: none we take); a name from the static table by its index. */
static uint8_t pseudo_bit(const struct hpack_field *f)
{
    switch (f->name_index) {
    case 0:
        break;
    case HPACK_STATIC_AUTHORITY:
        return PSEUDO_AUTHORITY;
    case HPACK_STATIC_METHOD:
    case HPACK_STATIC_METHOD + 1:
        return PSEUDO_METHOD;
    case HPACK_STATIC_PATH:
    case HPACK_STATIC_PATH + 1:
        return PSEUDO_PATH;
    case HPACK_STATIC_SCHEME:
    case HPACK_STATIC_SCHEME + 1:
        return PSEUDO_SCHEME;
    default: /* :status */
        return 0;
    }
    if (NAME_IS(f, ":method"))
        return PSEUDO_METHOD;
    if (NAME_IS(f, ":scheme"))
        return PSEUDO_SCHEME;
    if (NAME_IS(f, ":path"))
        return PSEUDO_PATH;
    if (NAME_IS(f, ":authority"))
        return PSEUDO_AUTHORITY;
    return 0;
}

static int on_field(void *ctx, const struct hpack_field *f)
{
    struct block_read *r = ctx;
    struct http_request *req = r->st ? &r->st->req : NULL;
    uint8_t bit;

    if ((!f->name_index && !field_name_ok(f->name, f->name_len)) ||
        (!f->value_static && !field_value_ok(f->value, f->value_len))) {
        r->malformed = true;
        return 0;
    }
    if (f->name[0] == ':') {
        if (r->regular_seen || r->trailers) {
            r->malformed = true;
            return 0;
        }
        bit = pseudo_bit(f);
        if (!bit || (r->pseudo & bit)) { /* unknown (:protocol included: RFC 8441 is off), or twice */
            r->malformed = true;
            return 0;
        }
        r->pseudo |= bit;
        if (bit == PSEUDO_SCHEME)
            r->authority_required = VALUE_IS(f, "http") || VALUE_IS(f, "https");
        /* 8.3.1: an absolute path (origin-form), or '*' for OPTIONS (checked once the method is known) */
        if (bit == PSEUDO_PATH && (!f->value_len || (f->value[0] != '/' && !VALUE_IS(f, "*"))))
            r->malformed = true;
        r->path_asterisk |= bit == PSEUDO_PATH && VALUE_IS(f, "*");
        if (!req)
            return 0;
        if (bit == PSEUDO_METHOD) {
            req->method_name = str_of(f->value, f->value_len);
            req->method = method_parse(req->method_name.ptr, req->method_name.len);
        } else if (bit == PSEUDO_PATH) {
            const char *v = (const char *)f->value, *q = memchr(v, '?', f->value_len);

            req->path = (struct http_str){v, q ? (size_t)(q - v) : f->value_len};
            req->query = q ? (struct http_str){q + 1, f->value_len - (size_t)(q - v) - 1} : HTTP_STR("");
        } else if (bit == PSEUDO_AUTHORITY) {
            req->authority = str_of(f->value, f->value_len);
        }
        return 0;
    }
    r->regular_seen = true;
    r->has_host |= f->name_index ? f->name_index == HPACK_STATIC_HOST : NAME_IS(f, "host");
    if (f->name_index ? f->name_index == HPACK_STATIC_TRANSFER_ENCODING : connection_specific(f)) {
        r->malformed = true;
        return 0;
    }
    if (f->name_index ? f->name_index == HPACK_STATIC_CONTENT_LENGTH : NAME_IS(f, "content-length")) {
        uint64_t n = 0;

        if (!f->value_len)
            r->malformed = true;
        for (uint32_t i = 0; i < f->value_len && !r->malformed; i++) {
            uint8_t d = (uint8_t)(f->value[i] - '0');

            if (d > 9 || n > (UINT64_MAX - 1 - d) / 10)
                r->malformed = true;
            n = n * 10 + d;
        }
        if (r->content_length != UINT64_MAX && r->content_length != n)
            r->malformed = true;
        r->content_length = n;
    }
    if (!req)
        return 0;
    if (r->trailers) { /* after the header fields, in the same array and bound */
        if (req->nheaders + req->ntrailers == cfg_of(r->hc)->max_headers) {
            r->hc->hw->stats.trailers_dropped++; /* RFC 9110 6.5.1 lets a recipient discard them */
            return 0;
        }
        req->trailers = r->st->req_headers + req->nheaders;
        req->trailers[req->ntrailers].name = str_of(f->name, f->name_len);
        req->trailers[req->ntrailers].value = str_of(f->value, f->value_len);
        req->ntrailers++;
        return 0;
    }
    if (req->nheaders == cfg_of(r->hc)->max_headers) {
        r->too_many = true;
        return 1; /* the rest is decoded for the table's sake only */
    }
    r->st->req_headers[req->nheaders].name = str_of(f->name, f->name_len);
    r->st->req_headers[req->nheaders].value = str_of(f->value, f->value_len);
    req->nheaders++;
    return 0;
}

static void body_end(struct http_stream *st)
{
    h2s_of(st)->end_stream_in = true;
    st->request_done = true;
    http_stream_body_wait(st); /* no more body to wait for */
    if (st->req.on_body)
        st->req.on_body(&st->req, NULL, 0, true);
    stream_check_done(st);
}

/* A fair share of the worker's stream pool: a few connections never take all of it. */
static bool stream_allowed(const struct http_conn *hc)
{
    const struct http_worker *hw = hc->hw;
    uint32_t max = hw->cfg->max_streams, used = hw->streams_used;

    uint32_t open = h2_of(hc)->open_streams;

    if (open >= hw->cfg->max_concurrent_streams)
        return false;
    if (used >= max - max / 4)
        return open < 1;
    if (used >= max / 2)
        return open < 8;
    return true;
}

/* A new stream from the core's pool, with its HTTP/2 state in the slot of the same index. */
static struct http_stream *stream_open(struct http_conn *hc, uint32_t id)
{
    struct http_worker *hw = hc->hw;
    struct h2_conn *h = h2_of(hc);
    struct http_stream *st = http_stream_new(hc, (int32_t)id);
    struct h2_stream *s;

    if (!st)
        return NULL;
    s = &h2_worker_of(hw)->streams[st - hw->streams];
    *s = (struct h2_stream){.send_window = h->peer_window, .recv_window = cfg_of(hc)->initial_window_size};
    st->proto_state = s;
    h->open_streams++;
    return st;
}

/* A whole field block of HEADERS (+ CONTINUATION) on stream id. */
static void headers_complete(struct http_conn *hc, uint32_t id, const uint8_t *block, size_t len,
                             bool end_stream)
{
    struct h2_conn *h = h2_of(hc);
    struct http_worker *hw = hc->hw;
    struct http_stream *st =
        id <= (uint32_t)h->last_id ? find_stream(hc, id) : NULL; /* a new one is in no list */
    struct block_read r = {.hc = hc, .content_length = UINT64_MAX};
    uint8_t none[1], *out = none; /* a block decoded only for the table's sake: nothing is kept */
    size_t out_cap = 0;
    enum hpack_result res;

    if (st) { /* trailers (8.1): the end of the request, no pseudo-header; after its header fields */
        r.trailers = true;
        if (!h2s_of(st)->end_stream_in) { /* else not the request's: the stream is reset already */
            r.st = st;
            out = st->req_buf->data + h2s_of(st)->req_buf_used;
            out_cap = HTTP_BUF_SIZE - h2s_of(st)->req_buf_used;
        }
    } else if (id > (uint32_t)h->last_id) {
        h->last_id = (int32_t)id;
        h->streams_opened++;
        if (h->goaway_sent || reset_lately(h, id)) {
            /* above our GOAWAY's last stream, or reset before its block ended: ignored, but its
             * block still moves the table */
        } else if (!stream_allowed(hc)) {
            hw->stats.h2_refused_streams++;
            stream_error(hc, NULL, id, H2_REFUSED_STREAM);
        } else if (!(st = stream_open(hc, id)) || !(st->req_buf = http_buf_get(hw))) {
            if (st)
                stream_close(st);
            st = NULL;
            stream_error(hc, NULL, id, H2_REFUSED_STREAM); /* out of streams or buffers: retry elsewhere */
        } else {
            r.st = st;
            out = st->req_buf->data;
            out_cap = HTTP_BUF_SIZE;
        }
    }
    res = hpack_decode(&h->dec, block, len, out, out_cap, cfg_of(hc)->max_header_list_size, on_field, &r);
    if (r.st && !r.trailers)
        h2s_of(st)->req_buf_used = (uint16_t)hpack_decoder_out_used(&h->dec);
    if (res == HPACK_ERR_COMPRESSION || res == HPACK_ERR_NOMEM) {
        conn_error(hc, res == HPACK_ERR_NOMEM ? H2_INTERNAL_ERROR : H2_COMPRESSION_ERROR);
        return;
    }
    if (!st)
        return;
    if (r.trailers) {
        /* 8.1: trailers end the request; pseudo-headers there, or no END_STREAM, make it malformed */
        if (r.malformed || r.pseudo || !end_stream) {
            stream_error(hc, st, id, H2_PROTOCOL_ERROR);
            return;
        }
        if (res == HPACK_LIST_TOO_LARGE) { /* past max_header_list_size, or the request's buffer */
            hw->stats.header_limit++;
            stream_error(hc, st, id, H2_ENHANCE_YOUR_CALM);
            return;
        }
        if ((st->req.content_length != UINT64_MAX && h2s_of(st)->body_received != st->req.content_length) ||
            (r.content_length != UINT64_MAX && h2s_of(st)->body_received != r.content_length)) {
            stream_error(hc, st, id, H2_PROTOCOL_ERROR); /* 8.1.1, a content-length trailer included */
            return;
        }
        body_end(st);
        return;
    }
    if (res == HPACK_OK && !r.malformed) {
        bool connect = st->req.method_name.len == 7 && !memcmp(st->req.method_name.ptr, "CONNECT", 7);

        /* 8.3.1: :method, :scheme and :path, but for CONNECT (8.5): :authority alone */
        if (!(r.pseudo & PSEUDO_METHOD) ||
            (connect ? (r.pseudo & (PSEUDO_SCHEME | PSEUDO_PATH)) || !(r.pseudo & PSEUDO_AUTHORITY)
                     : (r.pseudo & (PSEUDO_SCHEME | PSEUDO_PATH)) != (PSEUDO_SCHEME | PSEUDO_PATH)))
            r.malformed = true;
        if (end_stream && r.content_length != UINT64_MAX && r.content_length != 0)
            r.malformed = true; /* 8.1.1: content-length says a body, END_STREAM says none */
        if (!connect && r.authority_required && !(r.pseudo & PSEUDO_AUTHORITY) && !r.has_host)
            r.malformed = true;
        if (r.path_asterisk && st->req.method != METHOD_OPTIONS)
            r.malformed = true;
    }
    if (r.malformed && res == HPACK_OK) {
        stream_error(hc, st, id, H2_PROTOCOL_ERROR);
        return;
    }
    st->req.http_version = 20;
    st->req.content_length = r.content_length;
    if (res == HPACK_LIST_TOO_LARGE || r.too_many || r.malformed) {
        hw->stats.header_limit++;
        http_respond_error(&st->req, 431);
    } else {
        http_dispatch(st);
    }
    if (end_stream && !h2s_of(st)->closed)
        body_end(st);
}

/* ---- the frames --------------------------------------------------------------------------------- */

/* 6.5.2: the error a setting's value is, 0 when it is valid (unknown settings are ignored). */
static uint32_t settings_check(uint16_t id, uint32_t v)
{
    switch (id) {
    case H2_SETTINGS_ENABLE_PUSH:
    case H2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
    case H2_SETTINGS_NO_RFC7540_PRIORITIES:
        return v > 1 ? H2_PROTOCOL_ERROR : 0;
    case H2_SETTINGS_INITIAL_WINDOW_SIZE:
        return v > H2_MAX_WINDOW ? H2_FLOW_CONTROL_ERROR : 0;
    case H2_SETTINGS_MAX_FRAME_SIZE:
        return v < H2_DEFAULT_FRAME_SIZE || v > H2_MAX_FRAME_SIZE ? H2_PROTOCOL_ERROR : 0;
    default:
        return 0;
    }
}

static void settings_entry(struct http_conn *hc, uint16_t id, uint32_t v)
{
    struct h2_conn *h = h2_of(hc);
    uint32_t err = settings_check(id, v);

    if (err) {
        conn_error(hc, err);
        return;
    }
    switch (id) {
    case H2_SETTINGS_HEADER_TABLE_SIZE:
        hpack_encoder_set_peer_table_size(&h->enc, v);
        break;
    case H2_SETTINGS_INITIAL_WINDOW_SIZE: {
        int64_t delta = (int64_t)v - h->peer_window;

        /* 6.9.2: every stream window moves by the change; one past 2^31-1 ends the connection */
        for (struct http_stream *st = hc->streams; st; st = st->next) {
            struct h2_stream *s = h2s_of(st);

            if (!s)
                continue;
            s->send_window += delta;
            if (s->send_window > H2_MAX_WINDOW) {
                conn_error(hc, H2_FLOW_CONTROL_ERROR);
                return;
            }
        }
        h->peer_window = v;
        break;
    }
    case H2_SETTINGS_MAX_FRAME_SIZE:
        h->peer_max_frame = v;
        break;
    default: /* MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE bound what we send: we push nothing,
                and our response heads are small; unknown settings are ignored (6.5.2) */
        break;
    }
}

/* Frames that carry nothing the server acts on, many in a row: a flood (empty DATA, empty field
 * block fragments). */
static void empty_frame(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (++h->empty_run > cfg_of(hc)->max_empty_frames)
        flood(hc, &hc->hw->stats.h2_empty_frame_flood);
}

/* A client stream ended by the client before we answered it whole: counts toward rapid reset. */
static void client_cancel(struct http_conn *hc, struct http_stream *st)
{
    struct h2_conn *h = h2_of(hc);
    uint64_t now = now_of(hc);

    if (h2s_of(st)->end_stream_out)
        return;
    if (now - h->cancel_window_start > RESET_WINDOW_NS) {
        h->cancel_window_start = now;
        h->cancels = 0;
    }
    if (++h->cancels > cfg_of(hc)->rapid_reset_budget)
        flood(hc, &hc->hw->stats.h2_rapid_reset);
}

/* A frame header was read: check it against the state, set up reading its payload. */
static void frame_begin(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    const struct http_config *cfg = cfg_of(hc);
    uint32_t len = (uint32_t)h->hdr[0] << 16 | (uint32_t)h->hdr[1] << 8 | h->hdr[2];
    uint32_t id = h2_get32(h->hdr + 5) & 0x7fffffff;
    uint8_t type = h->hdr[3], flags = h->hdr[4];

    h->type = type;
    h->flags = flags;
    h->id = id;
    h->left = len;
    h->pad = 0;
    h->prefix_len = 0;
    h->scratch_len = 0;
    h->phase = IN_PAYLOAD;
    /* 4.2: nothing larger than we allow, and room for the fields the flags announce (6.1, 6.2: checked
     * before the stream's state, as nghttp2 does); 3.4: the client's first frame is its SETTINGS */
    if (len > cfg->max_frame_size ||
        ((type == H2_DATA || type == H2_HEADERS) &&
         len < (flags & H2_FLAG_PADDED ? 1u : 0u) +
                   (type == H2_HEADERS && (flags & H2_FLAG_PRIORITY) ? 5u : 0u))) {
        conn_error(hc, H2_FRAME_SIZE_ERROR);
        return;
    }
    if (!h->settings_seen && (type != H2_SETTINGS || (flags & H2_FLAG_ACK))) {
        conn_error(hc, H2_PROTOCOL_ERROR);
        return;
    }
    /* 6.10: within a field block only its CONTINUATIONs */
    if (h->in_block != (type == H2_CONTINUATION) || (h->in_block && id != h->block_id)) {
        conn_error(hc, H2_PROTOCOL_ERROR);
        return;
    }
    /* only a frame that moves a request on ends a run of empty ones (a PING between them does not) */
    if ((type == H2_DATA || type == H2_HEADERS || type == H2_CONTINUATION) &&
        (len || (flags & (H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS))))
        h->empty_run = 0;
    switch (type) {
    case H2_DATA: {
        struct http_stream *st;

        if (stream_idle(h, id)) { /* 6.1: stream 0, or idle */
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (len > h->recv_window) { /* 6.9.1: past the connection window */
            conn_error(hc, H2_FLOW_CONTROL_ERROR);
            return;
        }
        h->recv_window -= len;
        if (!len && !(flags & H2_FLAG_END_STREAM))
            empty_frame(hc);
        st = find_stream(hc, id);
        if (st && h2s_of(st)->end_stream_in) { /* half-closed (remote): 5.1 */
            stream_error(hc, st, id, H2_STREAM_CLOSED);
            st = NULL;
        } else if (!st && !reset_lately(h, id) && !h->goaway_sent) {
            stream_error(hc, NULL, id, H2_STREAM_CLOSED);
        } else if (st && len > h2s_of(st)->recv_window) {
            stream_error(hc, st, id, H2_FLOW_CONTROL_ERROR);
            st = NULL;
        }
        h->data_to_stream = st != NULL;
        if (st)
            h2s_of(st)->recv_window -= len;
        else if (len)
            release_conn(hc, len); /* nobody reads it: the connection window gets it back */
        h->prefix_len = flags & H2_FLAG_PADDED ? 1 : 0;
        break;
    }
    case H2_HEADERS:
        if (!id || !(id & 1)) {
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (id <= (uint32_t)h->last_id) {
            struct http_stream *st = find_stream(hc, id);

            if (!st && !reset_lately(h, id)) { /* 5.1: the last stream, closed; 5.1.1: an id below it */
                conn_error(hc, id == (uint32_t)h->last_id ? H2_STREAM_CLOSED : H2_PROTOCOL_ERROR);
                return;
            }
            if (st && h2s_of(st)->end_stream_in) {
                stream_error(hc, st, id, H2_STREAM_CLOSED);
                /* its block must still be read for the table: go on */
            }
        }
        h->prefix_len = (flags & H2_FLAG_PADDED ? 1 : 0) + (flags & H2_FLAG_PRIORITY ? 5 : 0);
        h->in_block = true;
        h->block_id = id;
        h->block_frames = 1;
        h->block_end_stream = flags & H2_FLAG_END_STREAM;
        if (!len && !(flags & H2_FLAG_END_HEADERS))
            empty_frame(hc);
        break;
    case H2_CONTINUATION:
        if (++h->block_frames > cfg->max_continuations) {
            flood(hc, &hc->hw->stats.h2_continuation_flood);
            return;
        }
        if (!len && !(flags & H2_FLAG_END_HEADERS))
            empty_frame(hc);
        break;
    case H2_PRIORITY:
        if (!id) {
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (len != 5) { /* 6.3; on an idle stream no RST_STREAM may go (6.4): the connection ends */
            if (stream_idle(h, id)) {
                conn_error(hc, H2_FRAME_SIZE_ERROR);
                return;
            }
            stream_error(hc, find_stream(hc, id), id, H2_FRAME_SIZE_ERROR);
            h->phase = IN_PAD; /* skip it */
            h->pad = len;
            h->left = 0;
            return;
        }
        if (++h->priority_frames > cfg->max_priority_frames * (1 + h->streams_opened))
            flood(hc, &hc->hw->stats.h2_priority_flood);
        break;
    case H2_RST_STREAM:
        if (stream_idle(h, id)) { /* 6.4 */
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (len != 4)
            conn_error(hc, H2_FRAME_SIZE_ERROR);
        break;
    case H2_SETTINGS:
        if (id) {
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if ((flags & H2_FLAG_ACK) ? len != 0 : len % 6 != 0) {
            conn_error(hc, H2_FRAME_SIZE_ERROR);
            return;
        }
        if (!h->settings_seen && !(flags & H2_FLAG_ACK))
            http_conn_settled(hc); /* the preface deadline is met */
        h->settings_seen = true;
        break;
    case H2_PUSH_PROMISE: /* 8.4: a client never pushes */
        conn_error(hc, H2_PROTOCOL_ERROR);
        return;
    case H2_PING:
        if (id) {
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (len != 8)
            conn_error(hc, H2_FRAME_SIZE_ERROR);
        break;
    case H2_GOAWAY:
        if (id) {
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        if (len < 8)
            conn_error(hc, H2_FRAME_SIZE_ERROR);
        break;
    case H2_WINDOW_UPDATE:
        if (len != 4) {
            conn_error(hc, H2_FRAME_SIZE_ERROR);
            return;
        }
        if (id && (id > (uint32_t)h->last_id || !(id & 1))) { /* idle: we reserve no even stream */
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        /* a client sends them as it reads our DATA: beyond that, they are a flood */
        if (++h->window_updates >
            cfg->max_window_update_frames + WINDOW_UPDATE_PER_DATA * (uint64_t)h->data_frames_sent)
            flood(hc, &hc->hw->stats.h2_window_update_flood);
        break;
    default: /* 5.5: unknown types are ignored */
        break;
    }
    if (h->prefix_len) {
        if (len < h->prefix_len) { /* 6.1, 6.2: no room for the fields the flags announce */
            conn_error(hc, H2_FRAME_SIZE_ERROR);
            return;
        }
        h->phase = IN_PREFIX;
        h->left = len - h->prefix_len; /* the rest, after the prefix */
    }
}

/* The prefix (Pad Length, priority fields) is in scratch. */
static void prefix_done(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    uint32_t rest = h->left;

    h->phase = IN_PAYLOAD;
    if (h->flags & H2_FLAG_PADDED) {
        h->pad = h->scratch[0];
        if (h->pad > rest) { /* 6.1: padding as long as the payload or longer */
            conn_error(hc, H2_PROTOCOL_ERROR);
            return;
        }
        h->left = rest - h->pad;
    }
    if (h->type == H2_HEADERS && (h->flags & H2_FLAG_PRIORITY)) {
        const uint8_t *p = h->scratch + (h->flags & H2_FLAG_PADDED ? 1 : 0);

        if ((h2_get32(p) & 0x7fffffff) == h->id) { /* 5.3.1: a stream cannot depend on itself */
            stream_error(hc, find_stream(hc, h->id), h->id, H2_PROTOCOL_ERROR);
        }
    }
    if (h->type == H2_DATA && h->data_to_stream)
        release_conn(hc, h->pad + 1); /* padding is flow-controlled, and nobody keeps it */
}

static void data_bytes(struct http_conn *hc, const uint8_t *p, uint32_t n)
{
    struct h2_conn *h = h2_of(hc);
    struct http_stream *st = h->data_to_stream ? find_stream(hc, h->id) : NULL;
    struct h2_stream *s;
    size_t done = n;

    if (!st) { /* dropped: released at the frame's start, or now if its stream ended in the frame */
        if (h->data_to_stream)
            release_conn(hc, n);
        return;
    }
    s = h2s_of(st);
    s->body_received += n;
    hc->hw->stats.body_bytes_in += n;
    if (st->req.content_length != UINT64_MAX && s->body_received > st->req.content_length) {
        release_conn(hc, n);
        stream_error(hc, st, h->id, H2_PROTOCOL_ERROR); /* 8.1.1 */
        return;
    }
    if (st->req.on_body) {
        st->body_kept += n; /* before the handler runs: it may release some of these bytes at once */
        done = st->req.on_body(&st->req, p, n, false);
        if (done > n)
            done = n;
        st->body_kept -= done;
    }
    if (done)
        release_stream(st, (uint32_t)done);
    if (n)
        http_stream_body_wait(st); /* the body moved: body_timeout_ms from now */
}

/* Field block bytes: kept in the block buffer, unless the whole block is decoded in place. */
/* Field block bytes, joined: in one pool buffer, or past 16 KiB (a large cookie) in one block of the
 * worker's size classes, up to max_header_list_size (a block within it is answered, 431 at worst). */
static void block_bytes(struct http_conn *hc, const uint8_t *p, uint32_t n)
{
    struct h2_conn *h = h2_of(hc);
    uint32_t max = cfg_of(hc)->max_header_list_size;

    if (h->block_len + n > max) {
        flood(hc, &hc->hw->stats.h2_continuation_flood);
        return;
    }
    if (!h->block_big && !h->block && !(h->block = http_buf_get(hc->hw))) {
        conn_error(hc, H2_INTERNAL_ERROR);
        return;
    }
    if (!h->block_big && h->block_len + n > HTTP_BUF_SIZE) {
        if (!(h->block_big = http_mem_alloc(hc->hw->mem_pool, max))) {
            conn_error(hc, H2_INTERNAL_ERROR);
            return;
        }
        memcpy(h->block_big, h->block->data, h->block_len);
        http_buf_put(hc->hw, h->block);
        h->block = NULL;
    }
    memcpy((h->block_big ? h->block_big : h->block->data) + h->block_len, p, n);
    h->block_len += n;
}

static void block_release(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (h->block)
        http_buf_put(hc->hw, h->block);
    if (h->block_big)
        http_mem_free(hc->hw->mem_pool, h->block_big);
    h->block = NULL;
    h->block_big = NULL;
    h->block_len = 0;
}

static void block_end(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    const uint8_t *block = h->block_big ? h->block_big : h->block ? h->block->data : (const uint8_t *)"";

    h->in_block = false;
    headers_complete(hc, h->block_id, block, h->block_len, h->block_end_stream);
    block_release(hc);
}

/* The fixed-size payload of a control frame is in scratch (its first 8 bytes for GOAWAY). */
static void control_done(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    switch (h->type) {
    case H2_RST_STREAM: {
        struct http_stream *st = find_stream(hc, h->id);

        if (st) { /* the handler is told by on_abort when the stream is freed */
            hc->hw->stats.streams_reset++;
            client_cancel(hc, st);
            stream_close(st);
        }
        break;
    }
    case H2_PING:
        if (!(h->flags & H2_FLAG_ACK)) {
            uint8_t f[H2_FRAME_HEADER + 8];

            h2_frame_header(f, 8, H2_PING, H2_FLAG_ACK, 0);
            memcpy(f + H2_FRAME_HEADER, h->scratch, 8);
            ctl_write(hc, f, sizeof(f));
        }
        break;
    case H2_GOAWAY:
        h->goaway_received = true; /* no new streams will come; those in flight finish */
        break;
    case H2_WINDOW_UPDATE: {
        uint32_t inc = h2_get32(h->scratch) & 0x7fffffff;
        struct http_stream *st;

        if (!h->id) {
            if (!inc || h->send_window + inc > H2_MAX_WINDOW) {
                conn_error(hc, inc ? H2_FLOW_CONTROL_ERROR : H2_PROTOCOL_ERROR);
                return;
            }
            h->send_window += inc;
            break;
        }
        st = find_stream(hc, h->id);
        if (!inc) {
            stream_error(hc, st, h->id, H2_PROTOCOL_ERROR);
            break;
        }
        if (!st)
            break;
        if (h2s_of(st)->send_window + inc > H2_MAX_WINDOW) {
            stream_error(hc, st, h->id, H2_FLOW_CONTROL_ERROR);
            break;
        }
        h2s_of(st)->send_window += inc;
        break;
    }
    case H2_PRIORITY: /* 5.3.1: a stream cannot depend on itself; no RST_STREAM on an idle one (6.4) */
        if ((h2_get32(h->scratch) & 0x7fffffff) == h->id) {
            if (stream_idle(h, h->id))
                conn_error(hc, H2_PROTOCOL_ERROR);
            else
                stream_error(hc, find_stream(hc, h->id), h->id, H2_PROTOCOL_ERROR);
        }
        break;
    default:
        break;
    }
}

/* The frame's payload was all read. */
static void frame_end(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    switch (h->type) {
    case H2_DATA:
        if (h->flags & H2_FLAG_END_STREAM) {
            struct http_stream *st = find_stream(hc, h->id);

            if (st && h->data_to_stream && !h2s_of(st)->end_stream_in) {
                if (st->req.content_length != UINT64_MAX &&
                    h2s_of(st)->body_received != st->req.content_length)
                    stream_error(hc, st, h->id, H2_PROTOCOL_ERROR);
                else
                    body_end(st);
            }
        }
        break;
    case H2_HEADERS:
    case H2_CONTINUATION:
        if ((h->flags & H2_FLAG_END_HEADERS) && !h->block_whole)
            block_end(hc);
        h->block_whole = false;
        break;
    case H2_SETTINGS:
        if (h->flags & H2_FLAG_ACK) {
            h->settings_acked = true;
        } else if (!hc->closing) {
            uint8_t f[H2_FRAME_HEADER];

            h2_frame_header(f, 0, H2_SETTINGS, H2_FLAG_ACK, 0);
            ctl_write(hc, f, sizeof(f));
        }
        break;
    case H2_GOAWAY:
    case H2_RST_STREAM:
    case H2_PING:
    case H2_WINDOW_UPDATE:
    case H2_PRIORITY:
        control_done(hc);
        break;
    default:
        break;
    }
    h->phase = IN_HEADER;
    h->hdr_len = 0;
}

/* Payload bytes of the current frame, n of them at p (not past the frame). */
static void payload_bytes(struct http_conn *hc, const uint8_t *p, uint32_t n)
{
    struct h2_conn *h = h2_of(hc);

    switch (h->type) {
    case H2_DATA:
        data_bytes(hc, p, n);
        break;
    case H2_HEADERS:
    case H2_CONTINUATION:
        /* a whole block in this piece, in one frame, with nothing joined before: decoded in place */
        if (!h->block_len && n == h->left && (h->flags & H2_FLAG_END_HEADERS)) {
            h->in_block = false;
            h->block_whole = true;
            headers_complete(hc, h->block_id, p, n, h->block_end_stream);
        } else {
            block_bytes(hc, p, n);
        }
        break;
    case H2_SETTINGS:
        /* entries are 6 bytes: gathered in scratch, applied one by one */
        for (uint32_t i = 0; i < n && !hc->closing; i++) {
            h->scratch[h->scratch_len++] = p[i];
            if (h->scratch_len == 6) {
                settings_entry(hc, (uint16_t)(h->scratch[0] << 8 | h->scratch[1]), h2_get32(h->scratch + 2));
                h->scratch_len = 0;
            }
        }
        break;
    case H2_RST_STREAM:
    case H2_PING:
    case H2_GOAWAY:
    case H2_WINDOW_UPDATE:
    case H2_PRIORITY: {
        uint32_t take =
            n < sizeof(h->scratch) - h->scratch_len ? n : (uint32_t)sizeof(h->scratch) - h->scratch_len;

        memcpy(h->scratch + h->scratch_len, p, take); /* GOAWAY's debug data is skipped */
        h->scratch_len += (uint8_t)take;
        break;
    }
    default:
        break;
    }
}

/* Run the input state machine over n bytes at p; returns how many it used (all, unless closing). */
static size_t input_bytes(struct http_conn *hc, const uint8_t *p, size_t n)
{
    struct h2_conn *h = h2_of(hc);
    const uint8_t *start = p, *end = p + n;

    while (p < end && !hc->closing) {
        size_t avail = (size_t)(end - p);

        switch (h->phase) {
        case IN_PREFACE: {
            size_t off = HTTP_H2_PREFACE_LEN - h->preface_left;
            size_t take = avail < h->preface_left ? avail : h->preface_left;

            if (memcmp(p, &HTTP_H2_PREFACE[off], take)) {
                conn_error(hc, H2_PROTOCOL_ERROR);
                break;
            }
            p += take;
            h->preface_left -= (uint32_t)take;
            if (!h->preface_left)
                h->phase = IN_HEADER;
            break;
        }
        case IN_HEADER:
            if (!h->hdr_len && avail >= H2_FRAME_HEADER) {
                memcpy(h->hdr, p, H2_FRAME_HEADER);
                h->hdr_len = H2_FRAME_HEADER;
                p += H2_FRAME_HEADER;
            } else {
                size_t take = H2_FRAME_HEADER - h->hdr_len;

                take = take < avail ? take : avail;
                memcpy(h->hdr + h->hdr_len, p, take);
                h->hdr_len += (uint8_t)take;
                p += take;
                if (h->hdr_len < H2_FRAME_HEADER)
                    break;
            }
            frame_begin(hc);
            if (!hc->closing && h->phase == IN_PAYLOAD && !h->left)
                frame_end(hc);
            break;
        case IN_PREFIX: {
            size_t take = h->prefix_len - h->scratch_len;

            take = take < avail ? take : avail;
            memcpy(h->scratch + h->scratch_len, p, take);
            h->scratch_len += (uint8_t)take;
            p += take;
            if (h->scratch_len == h->prefix_len) {
                h->scratch_len = 0;
                prefix_done(hc);
                if (!hc->closing && !h->left && !h->pad)
                    frame_end(hc);
                else if (!hc->closing && !h->left)
                    h->phase = IN_PAD;
            }
            break;
        }
        case IN_PAYLOAD: {
            uint32_t take = avail < h->left ? (uint32_t)avail : h->left;

            payload_bytes(hc, p, take);
            p += take;
            h->left -= take;
            if (!h->left && !hc->closing) {
                if (h->pad)
                    h->phase = IN_PAD;
                else
                    frame_end(hc);
            }
            break;
        }
        case IN_PAD: {
            uint32_t take = avail < h->pad ? (uint32_t)avail : h->pad;

            p += take;
            h->pad -= take;
            if (!h->pad)
                frame_end(hc);
            break;
        }
        }
    }
    return (size_t)(p - start);
}

/* ---- the response side -------------------------------------------------------------------------- */

/*
 * A HEADERS frame of st's fields resp[from, from + count), after :status when status is set (the
 * response's head), or alone (its trailers): whole, when the transport has room for the largest
 * block the arena can make. Room is checked before encoding: the encoder's table moves as it
 * encodes, and a block that did not go out would leave the client's table behind.
 */
static bool write_fields(struct http_conn *hc, struct http_stream *st, int status, uint32_t from,
                         uint32_t count, bool end)
{
    struct h2_conn *h = h2_of(hc);
    uint8_t f[H2_FRAME_HEADER + RESPONSE_HEAD_MAX], *out = f + H2_FRAME_HEADER;
    size_t cap = sizeof(f) - H2_FRAME_HEADER, len, n = 1;

    if (out_room(hc) < sizeof(f))
        return false;
    len = hpack_encode_block_start(&h->enc, out, cap);
    if (status)
        len += n = hpack_encode_status(&h->enc, out + len, cap - len, status);
    for (uint32_t i = from; i < from + count && n; i++)
        len += n = hpack_encode_field(&h->enc, out + len, cap - len, (const uint8_t *)st->resp[i].name.ptr,
                                      st->resp[i].name.len, (const uint8_t *)st->resp[i].value.ptr,
                                      st->resp[i].value.len);
    if (!n) { /* cannot happen with the arena's bound: the tables would part, so the connection ends */
        conn_error(hc, H2_INTERNAL_ERROR);
        return false;
    }
    h2_frame_header(f, (uint32_t)len, H2_HEADERS, H2_FLAG_END_HEADERS | (end ? H2_FLAG_END_STREAM : 0),
                    (uint32_t)st->id);
    out_write(hc, f, H2_FRAME_HEADER + len);
    if (end) {
        h2s_of(st)->end_stream_out = true;
        stream_check_done(st);
    }
    return true;
}

/* A response without a body carries its trailer fields in its one HEADERS frame, which ends the stream
 * (gRPC's trailers-only form): a second HEADERS after an empty head would say no more. */
static bool write_headers(struct http_conn *hc, struct http_stream *st)
{
    bool bodiless = st->body.kind == BODY_NONE;

    if (!write_fields(hc, st, st->status, 0, st->nresp + (bodiless ? st->ntrailers : 0), bodiless))
        return false;
    h2s_of(st)->headers_out = true;
    return true;
}

/* One DATA frame of st's body, as much as the windows, the frame size and the transport allow, or
 * its trailers once the body is out. True when it wrote one. */
static bool write_data(struct http_conn *hc, struct http_stream *st)
{
    struct h2_conn *h = h2_of(hc);
    struct h2_stream *s = h2s_of(st);
    uint64_t avail = http_body_available(&st->body);
    size_t room = out_room(hc), n;
    uint8_t f[H2_FRAME_HEADER];
    bool end;

    if (!avail && st->body.ended && st->ntrailers && s->body_out)
        return write_fields(hc, st, 0, st->nresp, st->ntrailers, true);
    if (room <= H2_FRAME_HEADER || (avail && (s->send_window <= 0 || h->send_window <= 0)))
        return false;
    if (!avail && !st->body.ended)
        return false;
    n = room - H2_FRAME_HEADER;
    if (n > avail)
        n = (size_t)avail;
    /* a window may be below 0 (SETTINGS_INITIAL_WINDOW_SIZE lowered, 6.9.2): then only an empty
     * END_STREAM may go */
    if ((int64_t)n > s->send_window)
        n = s->send_window > 0 ? (size_t)s->send_window : 0;
    if ((int64_t)n > h->send_window)
        n = h->send_window > 0 ? (size_t)h->send_window : 0;
    if (n > h->peer_max_frame)
        n = h->peer_max_frame;
    end = st->body.ended && n == avail;
    if (!n && !end)
        return false;
    if (end && st->ntrailers && !n) { /* nothing left but the trailers */
        s->body_out = true;
        return write_fields(hc, st, 0, st->nresp, st->ntrailers, true);
    }
    h2_frame_header(f, (uint32_t)n, H2_DATA, end && !st->ntrailers ? H2_FLAG_END_STREAM : 0,
                    (uint32_t)st->id);
    out_write(hc, f, H2_FRAME_HEADER);
    if (n) {
        http_body_write(st, n);
        h->out_bytes += n;
        if (h->await_preface)
            h->early_room -= (uint32_t)n;
    }
    s->send_window -= (int64_t)n;
    h->send_window -= (int64_t)n;
    h->data_frames_sent++;
    if (end && st->ntrailers)
        s->body_out = true; /* the trailers follow, in the next round */
    else if (end) {
        s->end_stream_out = true;
        stream_check_done(st);
    }
    return true;
}

/*
 * After the client's FIN no WINDOW_UPDATE can come: a stream can still finish only when its handler
 * has more to give, or its bytes fit the windows it has. One that waits for request body, or for a
 * window, never will (and would hold the connection open for good).
 */
static bool can_still_finish(const struct http_conn *hc)
{
    const struct h2_conn *h = h2_of(hc);

    for (const struct http_stream *st = hc->streams; st; st = st->next) {
        const struct h2_stream *s = h2s_of(st);
        uint64_t avail;

        if (s->closed || !st->request_done || s->end_stream_out)
            continue;
        if (!st->responded || !st->body.ended)
            return true;
        avail = http_body_available(&st->body);
        if (!avail || (s->send_window >= (int64_t)avail && h->send_window >= (int64_t)avail))
            return true;
    }
    return false;
}

static bool output_pending(const struct http_conn *hc)
{
    const struct h2_conn *h = h2_of(hc);

    if (h->ctl)
        return true;
    for (const struct http_stream *st = hc->streams; st; st = st->next) {
        const struct h2_stream *s = h2s_of(st);

        if (!s->closed && st->responded && !s->end_stream_out)
            return true;
    }
    return false;
}

/* Bytes that could go out now but for the transport's room or the client's windows. */
static bool output_blocked(const struct http_conn *hc)
{
    if (h2_of(hc)->ctl)
        return true;
    for (const struct http_stream *st = hc->streams; st; st = st->next) {
        const struct h2_stream *s = h2s_of(st);

        if (!s->closed && st->responded && !s->end_stream_out &&
            (!s->headers_out || st->body.ended || http_body_available(&st->body)))
            return true;
    }
    return false;
}

/* Done: after a connection error (its GOAWAY went out), after a GOAWAY either way once no stream is
 * left (6.8), or once the client closed its side and every response that can still finish is out. */
static void shutdown_if_done(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (h->ctl || h->abort)
        return;
    if ((hc->closing && (h->goaway_error || !h->open_streams)) ||
        ((h->goaway_received || h->goaway_sent) && !h->open_streams) ||
        (app_eof(hc->ac) && !can_still_finish(hc)))
        app_shutdown(hc->ac);
}

static void output_frames(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    bool progress = true;

    if (h->abort)
        return;
    if (h->settings_owed) {
        h->settings_owed = false;
        send_settings(hc);
    }
    if (!ctl_flush(hc))
        goto out;
    while (progress && !(hc->closing && h->goaway_error)) {
        progress = false;
        for (struct http_stream *st = hc->streams; st; st = st->next) {
            struct h2_stream *s = h2s_of(st);

            if (s->closed || !st->responded || s->end_stream_out)
                continue;
            if (!s->headers_out) {
                if (!write_headers(hc, st)) {
                    want_room(hc);
                    goto out;
                }
                progress = true;
                continue;
            }
            if (write_data(hc, st))
                progress = true;
        }
    }
    if (out_room(hc) <= H2_FRAME_HEADER && output_pending(hc))
        want_room(hc);
out:
    shutdown_if_done(hc);
}

/* Write what can go; output that cannot, and does not move, is bounded by the send timeout (a
 * client that reads nothing, or keeps its windows closed, holds no stream for good). */
static void output(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    uint64_t before = h->out_bytes;

    output_frames(hc);
    if (!h->abort)
        app_output_waits(hc->ac, output_blocked(hc), h->out_bytes != before);
}

/* ---- the operations ----------------------------------------------------------------------------- */

/* The end of a call from the core: streams that ended are freed, and a flood resets the transport
 * (which frees the connection: nothing is touched after). */
static void call_end(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    reap(hc);
    h->in_call = false;
    if (h->abort)
        app_abort(hc->ac);
    else
        shutdown_if_done(hc); /* streams the call ended may have been the last ones */
}

static void h2_conn_output(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (h->in_call)
        return;
    h->in_call = true;
    output(hc);
    call_end(hc);
}

static void h2_conn_input(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    struct app_conn *ac = hc->ac;
    struct iovec iov[16];
    int n;

    h->in_call = true;
    if (h->source_refused && !h->goaway_error) { /* this source flooded too often lately */
        hc->hw->stats.h2_source_refused++;
        conn_error(hc, H2_ENHANCE_YOUR_CALM);
    }
    do {
        size_t used = 0;

        n = app_peek(ac, iov, 16);
        if (n > 0)
            h->await_preface = false; /* the client's preface is coming: output need not wait */
        for (int i = 0; i < n && !hc->closing; i++)
            used += input_bytes(hc, iov[i].iov_base, iov[i].iov_len);
        /* once closing, what is left is dropped: the lingering close reads the rest */
        app_consume(ac, hc->closing ? SIZE_MAX : used);
        reap(hc); /* streams the frames closed: their slots serve the frames that follow */
    } while (n == 16 && !hc->closing);
    output(hc);
    call_end(hc);
}

static void h2_stream_respond(struct http_stream *st)
{
    h2_conn_output(st->conn);
}

static void h2_stream_resume(struct http_stream *st)
{
    h2_conn_output(st->conn);
}

static void h2_stream_consumed(struct http_stream *st, size_t n)
{
    if (!h2s_of(st)->closed)
        release_stream(st, (uint32_t)n);
    else /* reap releases only what is still kept: these the connection gets back now */
        release_conn(st->conn, (uint32_t)n);
    h2_conn_output(st->conn);
}

static void h2_stream_reset(struct http_stream *st)
{
    struct http_conn *hc = st->conn;

    if (!h2s_of(st)->closed)
        stream_error(hc, st, (uint32_t)st->id, H2_CANCEL);
    h2_conn_output(hc);
}

/*
 * body_timeout_ms passed with no DATA on a stream whose request body is wanted: RST_STREAM. NO_ERROR
 * when our response is complete (RFC 9113 8.1: the server asks the client to stop sending a request it
 * no longer needs, and the client keeps the response); otherwise CANCEL (7: the stream is no longer
 * needed), as the handler heard on_abort. Not PROTOCOL_ERROR: the client broke no rule of the protocol,
 * it was only slow; and not a 408 response, after which the stream would still wait for a request body
 * that may never end (RST_STREAM ends it at once, and frees its slot of max_concurrent_streams).
 */
static void h2_stream_body_timeout(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h2_stream *s = h2s_of(st);

    if (!s->closed)
        stream_error(hc, st, (uint32_t)st->id, s->end_stream_out ? H2_NO_ERROR : H2_CANCEL);
    h2_conn_output(hc);
}

static void h2_stream_free(struct http_stream *st)
{
    (void)st; /* nothing held outside the slot */
}

static void *pool_alloc(void *ctx, size_t n)
{
    return http_mem_alloc(ctx, n);
}

static void pool_free(void *ctx, void *p, size_t n)
{
    (void)n;
    http_mem_free(ctx, p);
}

static int h2_worker_init(struct http_worker *hw)
{
    struct h2_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return -1;
    hw->h2_state = w;
    w->conns = calloc(hw->max_conns, sizeof(*w->conns));
    w->streams = calloc(hw->cfg->max_streams, sizeof(*w->streams));
    if (!w->conns || !w->streams)
        return -1;
    w->alloc = (struct hpack_alloc){pool_alloc, pool_free, hw->mem_pool};
    return 0;
}

static void h2_worker_destroy(struct http_worker *hw)
{
    struct h2_worker *w = hw->h2_state;

    if (!w)
        return;
    free(w->conns);
    free(w->streams);
    free(w);
    hw->h2_state = NULL;
}

/* Our SETTINGS (sent first, 3.4), and the connection window raised to initial_window_size. */
static void send_settings(struct http_conn *hc)
{
    const struct http_config *cfg = cfg_of(hc);
    const uint32_t iv[][2] = {
        {H2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
        {H2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->initial_window_size},
        {H2_SETTINGS_MAX_FRAME_SIZE, cfg->max_frame_size},
        {H2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_list_size},
        {H2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    uint8_t f[H2_FRAME_HEADER + sizeof(iv) / sizeof(iv[0]) * 6], *p = f + H2_FRAME_HEADER;

    h2_frame_header(f, (uint32_t)(sizeof(f) - H2_FRAME_HEADER), H2_SETTINGS, 0, 0);
    for (size_t i = 0; i < sizeof(iv) / sizeof(iv[0]); i++, p += 6) {
        p[0] = (uint8_t)(iv[i][0] >> 8);
        p[1] = (uint8_t)iv[i][0];
        h2_put32(p + 2, iv[i][1]);
    }
    ctl_write(hc, f, sizeof(f));
    if (cfg->initial_window_size > H2_DEFAULT_WINDOW)
        send_window_update(hc, 0, cfg->initial_window_size - H2_DEFAULT_WINDOW);
}

static void h2_conn_end(struct http_conn *hc);

static int h2_conn_start(struct http_conn *hc, const struct http_upgrade *up)
{
    struct http_worker *hw = hc->hw;
    struct h2_worker *w = h2_worker_of(hw);
    struct h2_conn *h = &w->conns[hc - hw->conns];
    const struct http_config *cfg = hw->cfg;

    memset(h, 0, sizeof(*h));
    hc->proto_state = h;
    h->peer_window = H2_DEFAULT_WINDOW;
    h->peer_max_frame = H2_DEFAULT_FRAME_SIZE;
    h->send_window = H2_DEFAULT_WINDOW;
    h->recv_window =
        cfg->initial_window_size > H2_DEFAULT_WINDOW ? cfg->initial_window_size : H2_DEFAULT_WINDOW;
    h->cancel_window_start = now_of(hc);
    hpack_decoder_init(&h->dec, H2_DEFAULT_TABLE_SIZE, &w->alloc);
    hpack_encoder_init(&h->enc, &w->alloc);
    if (up) {
        /* 3.2.1 of RFC 7540: HTTP2-Settings is the client's SETTINGS, acknowledged by the 101 */
        bool valid = up->settings_len % 6 == 0;

        for (size_t i = 0; valid && i < up->settings_len; i += 6)
            valid = !settings_check((uint16_t)(up->settings[i] << 8 | up->settings[i + 1]),
                                    h2_get32(up->settings + i + 2));
        if (!valid) { /* refused before anything is written: HTTP/1.1 answers it */
            h2_conn_end(hc);
            return -1;
        }
        for (size_t i = 0; i < up->settings_len; i += 6)
            settings_entry(hc, (uint16_t)(up->settings[i] << 8 | up->settings[i + 1]),
                           h2_get32(up->settings + i + 2));
    }
    h->preface_left = HTTP_H2_PREFACE_LEN - (up ? 0 : hc->preface_seen);
    h->phase = h->preface_left ? IN_PREFACE : IN_HEADER;
    /* after a 101 a client reads our SETTINGS and the response with the 101 into one buffer before
     * it sends its preface (curl's is 32 KiB and fails when more comes): the rest waits for it */
    h->await_preface = up != NULL;
    h->early_room = UPGRADE_FIRST_FLIGHT;
    hw->stats.h2_connections++;
    h->settings_owed = true;
    h->source_refused = source_strikes(hc, false) >= cfg->flood_source_strikes;
    if (up) { /* the upgraded request is stream 1, half-closed (remote) already */
        struct http_stream *st = up->stream;
        struct h2_stream *s = &w->streams[st - hw->streams];

        *s = (struct h2_stream){.send_window = h->peer_window, .end_stream_in = true};
        st->proto_state = s;
        h->open_streams = 1;
        st->id = 1;
        st->req.http_version = 20;
        st->request_done = true;
        h->last_id = 1;
        h->streams_opened = 1;
    }
    return 0;
}

static void h2_conn_end(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    hpack_decoder_free(&h->dec);
    hpack_encoder_free(&h->enc);
    block_release(hc);
    if (h->ctl)
        http_buf_put(hc->hw, h->ctl);
    h->ctl = NULL;
}

static void h2_conn_drain(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    /* streams the client opened so far still get their responses (6.8) */
    if (!h->goaway_sent)
        send_goaway(hc, H2_NO_ERROR);
    h2_conn_output(hc);
}

const struct http_proto_ops h2_native_ops = {
    .name = "h2",
    .init = h2_worker_init,
    .destroy = h2_worker_destroy,
    .start = h2_conn_start,
    .input = h2_conn_input,
    .output = h2_conn_output,
    .drain = h2_conn_drain,
    .end = h2_conn_end,
    .respond = h2_stream_respond,
    .resume = h2_stream_resume,
    .reset = h2_stream_reset,
    .consumed = h2_stream_consumed,
    .stream_free = h2_stream_free,
    .body_timeout = h2_stream_body_timeout,
};
