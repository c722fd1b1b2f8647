/*
 * nghttp2_session.c — HTTP/2 with nghttp2 over a connection's transport.
 *
 * Input is fed to nghttp2_session_mem_recv (Debian 12's nghttp2 1.52 predates mem_recv2) straight
 * from where the transport holds it (UMEM frames on the AF_XDP datapath) and released once parsed. nghttp2's
 * own frames (HEADERS, SETTINGS, WINDOW_UPDATE, ...) come out of nghttp2_session_mem_send and are copied into
 * transmit buffers; DATA frames are written with NGHTTP2_DATA_FLAG_NO_COPY: their payload goes from the
 * response body (http_body_write) into transmit buffers directly, and their size follows what the transport
 * can take, so a body never waits in an intermediate buffer. Request bodies are flow-controlled by
 * what handlers are done with (nghttp2_session_consume), not by arrival.
 *
 * nghttp2 callbacks may not call back into the session's send side, so output runs after
 * mem_recv or mem_send returns (in_session), and responses a handler gives later flush on their own.
 *
 * A few rules of RFC 9113 nghttp2 1.52 leaves to the application are kept here (a frame header is
 * looked at on the way in, a callback per frame; never a pass over the bytes): a CONTINUATION over
 * SETTINGS_MAX_FRAME_SIZE, HEADERS on a stream id below one already used, DATA on a stream closed
 * other than by our reset, and a SETTINGS_INITIAL_WINDOW_SIZE that overflows a stream's window.
 *
 * The core reaches this file only through h2_nghttp2_ops (h2/h2.h). Its state is struct h2_worker
 * per worker (hw->h2_state), with slabs of struct h2_conn and struct h2_stream beside the core's
 * slabs of connections and streams, each pointed at by its connection's or stream's proto_state;
 * response headers come from the core as neutral name/value slices, turned into nghttp2's array
 * on the stack when the response is submitted.
 */
#include "h2/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "http/http_mem.h"

#define H2_FRAME_HEADER 9 /* RFC 9113 4.1 */

#define H2_RESETS_KEPT 16 /* stream ids an HTTP/2 connection remembers having reset */

/* A stream's HTTP/2 state; set when HTTP/2 takes the stream (a HEADERS frame, or the h2c upgrade). */
struct h2_stream {
    nghttp2_rcbuf **rcbufs; /* its max_headers * 2 slots in rcbuf_space, once HEADERS began */
    uint32_t nrcbufs;       /* header strings kept referenced there */
    bool deferred;          /* its DATA waits for the transport (nghttp2 told DEFERRED) */
};

/* A connection's HTTP/2 state; h2_nghttp2_ops.start clears it. */
struct h2_conn {
    nghttp2_session *session;
    const uint8_t *pending; /* output nghttp2 produced that the transport has not taken yet */
    size_t pending_len;
    bool in_session;    /* inside nghttp2 (mem_recv, mem_send): output must wait for its return */
    bool await_preface; /* upgraded, and the client's preface has not come yet */
    uint8_t in_hdr_len;
    uint8_t in_hdr[8];   /* a frame header cut short at the end of the input so far */
    size_t in_skip;      /* input bytes before the next frame header starts */
    uint32_t early_room; /* output bytes allowed until the preface comes */
    uint32_t nresets;
    int32_t resets[H2_RESETS_KEPT]; /* streams reset lately: frames still arriving on them are ignored */
    int32_t resets_forgotten;       /* the highest stream id that fell out of resets */
    bool settings_reading;          /* a SETTINGS frame is being read: the two fields below hold */
    uint32_t settings_window;       /* the peer's SETTINGS_INITIAL_WINDOW_SIZE before that frame */
    int32_t settings_max_window;    /* and the largest stream send window then */
};

/* A worker's HTTP/2 state (hw->h2_state): nghttp2's callbacks and options, its allocator, the
 * request header strings streams keep referenced (max_headers * 2 per stream of the worker's
 * slab), and the per-connection and per-stream state, one slot per slot of the core's slabs. */
struct h2_worker {
    nghttp2_session_callbacks *callbacks;
    nghttp2_option *option;
    nghttp2_mem mem;
    nghttp2_rcbuf **rcbuf_space;
    struct h2_conn *conns;     /* hw->max_conns */
    struct h2_stream *streams; /* cfg->max_streams */
};

static struct h2_worker *h2_worker_of(const struct http_worker *hw)
{
    return hw->h2_state;
}

/* A connection's and a stream's HTTP/2 state: the slot of the same index as theirs in the core's
 * slabs, which h2_conn_start and h2_stream_take point them at. */
static struct h2_conn *h2_of(const struct http_conn *hc)
{
    return hc->proto_state;
}

static struct h2_stream *h2_stream_of(const struct http_stream *st)
{
    return st->proto_state;
}

/* HTTP/2 takes st (a new stream, or the request of an h2c upgrade): its state starts empty. */
static struct h2_stream *h2_stream_take(struct http_stream *st)
{
    struct http_worker *hw = st->conn->hw;
    struct h2_stream *h2s = &h2_worker_of(hw)->streams[st - hw->streams];

    *h2s = (struct h2_stream){0};
    st->proto_state = h2s;
    return h2s;
}

static struct http_stream *stream_of(nghttp2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s, id);
}

static void fail_connection(struct http_conn *hc)
{
    hc->hw->stats.protocol_errors++;
    hc->closing = true;
}

/*
 * Output an upgraded connection sends after the 101 before the client's preface arrives: curl
 * reads the 101 and what follows into one 32 KiB buffer and gives up when more came.
 */
#define H2_UPGRADE_FIRST_FLIGHT 16384

/* ---- what nghttp2 1.52 leaves to the application ------------------------------------------------ */

/* A connection error nghttp2 does not detect itself: queue its GOAWAY and stop reading (mem_recv
 * fails, h2_conn_input sends the GOAWAY and closes). */
static int conn_error(nghttp2_session *s, uint32_t code)
{
    nghttp2_session_terminate_session(s, code);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/*
 * RFC 9113 5.1: frames arriving on a stream we reset are ignored (the client may have sent them
 * before it saw our RST_STREAM), other frames on closed streams are errors. nghttp2 forgets closed
 * streams and ignores both, so a connection remembers the streams it reset lately. Once more were
 * reset than it keeps, ids up to the highest one forgotten get nghttp2's leniency.
 */
static bool reset_lately(const struct http_conn *hc, int32_t id)
{
    const struct h2_conn *h = h2_of(hc);
    uint32_t n = h->nresets < H2_RESETS_KEPT ? h->nresets : H2_RESETS_KEPT;

    if (id <= h->resets_forgotten)
        return true;
    for (uint32_t i = 0; i < n; i++)
        if (h->resets[i] == id)
            return true;
    return false;
}

static void remember_reset(struct http_conn *hc, int32_t id)
{
    struct h2_conn *h = h2_of(hc);
    int32_t *slot;

    if (!(id & 1) || reset_lately(hc, id)) /* only client streams: we open none */
        return;
    slot = &h->resets[h->nresets++ % H2_RESETS_KEPT];
    if (h->nresets > H2_RESETS_KEPT && *slot > h->resets_forgotten)
        h->resets_forgotten = *slot;
    *slot = id;
}

/* A stream the client opened before, now closed, and not by a reset of ours. */
static bool closed_not_reset(nghttp2_session *s, const struct http_conn *hc, int32_t id)
{
    return (id & 1) && id <= nghttp2_session_get_last_proc_stream_id(s) &&
           !nghttp2_session_find_stream(s, id) && !reset_lately(hc, id);
}

/*
 * 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE that takes a stream's send window past 2^31-1 is a
 * connection error; nghttp2 only resets that stream. Before nghttp2 reads a SETTINGS frame, note the
 * peer's initial window and the largest stream window; once it has applied the frame, each value
 * it set tells whether that window overflowed (a change moves every stream window by the same
 * amount, and the first overflow ends the connection). Per SETTINGS frame, not per request.
 */
static void settings_begin(nghttp2_session *s, struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    int32_t max = 0;

    for (struct http_stream *st = hc->streams; st; st = st->next) {
        int32_t w = nghttp2_session_get_stream_remote_window_size(s, st->id);

        if (w > max)
            max = w;
    }
    h->settings_reading = true;
    h->settings_window = nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
    h->settings_max_window = max;
}

static int settings_end(nghttp2_session *s, struct http_conn *hc, const nghttp2_settings *f)
{
    struct h2_conn *h = h2_of(hc);

    if (!h->settings_reading) /* the HTTP2-Settings of an upgrade: no stream had a window yet */
        return 0;
    h->settings_reading = false;
    http_conn_settled(hc); /* a SETTINGS frame from the client: the preface deadline is met */
    for (size_t i = 0; i < f->niv; i++)
        if (f->iv[i].settings_id == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE &&
            (int64_t)h->settings_max_window + f->iv[i].value - h->settings_window > NGHTTP2_MAX_WINDOW_SIZE)
            return conn_error(s, NGHTTP2_FLOW_CONTROL_ERROR);
    return 0;
}

/* Called for each frame header nghttp2 does not drop at once, before it looks at the payload. */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
    struct http_conn *hc = user;

    switch (hd->type) {
    case NGHTTP2_HEADERS: /* 5.1.1: a new stream's id is above all earlier ones; nghttp2 ignores lower ones */
        if (closed_not_reset(s, hc, hd->stream_id))
            return conn_error(s, NGHTTP2_PROTOCOL_ERROR);
        break;
    case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK))
            settings_begin(s, hc);
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    (void)s;
    if (frame->hd.type == NGHTTP2_RST_STREAM)
        remember_reset(user, frame->hd.stream_id);
    return 0;
}

/* nghttp2 answers an invalid frame with a stream error (RST_STREAM queued, a refused stream never
 * opened) or a connection error: either way, frames that follow on that stream are to be ignored. */
static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *frame, int lib_error, void *user)
{
    (void)s;
    (void)lib_error;
    remember_reset(user, frame->hd.stream_id);
    return 0;
}

/* ---- request side ------------------------------------------------------------------------------- */

/* A stream's slots for the header strings it keeps referenced: max_headers * 2 of them, found by
 * its place in the worker's slab (so a stream from HTTP/1.1 needs none). */
static nghttp2_rcbuf **rcbufs_of(const struct http_stream *st)
{
    const struct http_worker *hw = st->conn->hw;

    return h2_worker_of(hw)->rcbuf_space + (size_t)(st - hw->streams) * hw->cfg->max_headers * 2;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct http_conn *hc = user;
    struct http_stream *st;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    st = http_stream_new(hc, frame->hd.stream_id);
    if (!st) /* out of streams: the client may retry this one elsewhere or later */
        return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    h2_stream_take(st)->rcbufs = rcbufs_of(st);
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    return 0;
}

static bool keep_rcbuf(struct http_stream *st, nghttp2_rcbuf *rc)
{
    struct h2_stream *h2s = h2_stream_of(st);

    if (h2s->nrcbufs == st->conn->hw->cfg->max_headers * 2)
        return false;
    nghttp2_rcbuf_incref(rc);
    h2s->rcbufs[h2s->nrcbufs++] = rc;
    return true;
}

static struct http_str str_of(nghttp2_rcbuf *rc)
{
    nghttp2_vec v = nghttp2_rcbuf_get_buf(rc);

    return (struct http_str){(const char *)v.base, v.len};
}

/* A request trailer field (nghttp2 has validated it): after the header fields, within max_headers. */
static int keep_trailer(struct http_stream *st, nghttp2_rcbuf *name, nghttp2_rcbuf *value)
{
    struct http_request *req = &st->req;

    if (req->nheaders + req->ntrailers == st->conn->hw->cfg->max_headers || !keep_rcbuf(st, name) ||
        !keep_rcbuf(st, value)) {
        st->conn->hw->stats.trailers_dropped++; /* RFC 9110 6.5.1 lets a recipient discard them */
        return 0;
    }
    req->trailers = st->req_headers + req->nheaders;
    req->trailers[req->ntrailers].name = str_of(name);
    req->trailers[req->ntrailers++].value = str_of(value);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, nghttp2_rcbuf *name,
                     nghttp2_rcbuf *value, uint8_t flags, void *user)
{
    struct http_stream *st = stream_of(s, frame->hd.stream_id);
    struct http_str n = str_of(name), v = str_of(value);
    struct http_request *req;

    (void)flags;
    (void)user;
    if (st && frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS)
        return keep_trailer(st, name, value);
    if (!st || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* a refused stream: nghttp2 has validated its fields, nothing to keep */
    req = &st->req;
    if (!keep_rcbuf(st, name) || !keep_rcbuf(st, value) ||
        (n.ptr[0] != ':' && req->nheaders == st->conn->hw->cfg->max_headers)) {
        st->conn->hw->stats.header_limit++;
        st->status = 431; /* answered once the headers are complete */
        return 0;
    }
    if (n.ptr[0] != ':') {
        st->req_headers[req->nheaders].name = n;
        st->req_headers[req->nheaders].value = v;
        req->nheaders++;
        if (n.len == 14 && !memcmp(n.ptr, "content-length", 14)) {
            uint64_t len = 0;

            for (size_t i = 0; i < v.len; i++)
                len = len * 10 + (uint64_t)(v.ptr[i] - '0'); /* nghttp2 checked it is all digits */
            req->content_length = len;
        }
    } else if (n.len == 7 && !memcmp(n.ptr, ":method", 7)) {
        req->method_name = v;
        req->method = method_parse(v.ptr, v.len);
    } else if (n.len == 5 && !memcmp(n.ptr, ":path", 5)) {
        const char *q = memchr(v.ptr, '?', v.len);

        req->path = (struct http_str){v.ptr, q ? (size_t)(q - v.ptr) : v.len};
        req->query = q ? (struct http_str){q + 1, v.len - (size_t)(q - v.ptr) - 1} : (struct http_str){"", 0};
    } else if (n.len == 10 && !memcmp(n.ptr, ":authority", 10)) {
        req->authority = v;
    }
    return 0;
}

static void body_end(struct http_stream *st)
{
    st->request_done = true;
    http_stream_body_wait(st); /* no more body to wait for */
    if (st->req.on_body)
        st->req.on_body(&st->req, NULL, 0, true);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct http_stream *st = stream_of(s, frame->hd.stream_id);

    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        return settings_end(s, user, &frame->settings);
    if (!st)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        st->req.http_version = 20;
        if (st->status == 431)
            http_respond_error(&st->req, 431);
        else
            http_dispatch(st);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
            body_end(st);
    } else if (frame->hd.type == NGHTTP2_DATA && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        body_end(st);
    } else if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        body_end(st); /* trailers end the request */
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                         void *user)
{
    struct http_conn *hc = user;
    struct http_stream *st = stream_of(s, id);
    size_t done = len;

    (void)flags;
    hc->hw->stats.body_bytes_in += len;
    if (!st) {
        nghttp2_session_consume_connection(s, len);
        return 0;
    }
    if (st->req.on_body) {
        /* kept before the handler runs: it may release some of these bytes at once */
        st->body_kept += len;
        done = st->req.on_body(&st->req, data, len, false);
        if (done > len)
            done = len;
        st->body_kept -= done;
    }
    if (done)
        nghttp2_session_consume(s, id, done);
    if (len)
        http_stream_body_wait(st); /* the body moved: body_timeout_ms from now */
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    struct http_stream *st = stream_of(s, id);

    (void)user;
    if (!st)
        return 0;
    if (error_code != NGHTTP2_NO_ERROR)
        st->conn->hw->stats.streams_reset++;
    if (st->body_kept) /* bytes a handler never released still count against the connection window */
        nghttp2_session_consume_connection(s, st->body_kept);
    nghttp2_session_set_stream_user_data(s, id, NULL);
    http_stream_free(st);
    return 0;
}

/* ---- response side ------------------------------------------------------------------------------ */

/* The response's trailers, once its last DATA is read: the stream ends with them, not with the DATA
 * (nghttp2 lets the read callback submit them). */
static void submit_trailers(nghttp2_session *s, struct http_stream *st, uint32_t *data_flags)
{
    nghttp2_nv nva[HTTP_MAX_RESP_HEADERS];

    if (!st->ntrailers)
        return;
    for (uint32_t i = 0; i < st->ntrailers; i++) {
        const struct http_header *t = &st->resp[st->nresp + i];

        nva[i] = (nghttp2_nv){(uint8_t *)t->name.ptr, (uint8_t *)t->value.ptr, t->name.len, t->value.len,
                              NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    }
    if (!nghttp2_submit_trailer(s, st->id, nva, st->ntrailers))
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user)
{
    struct http_stream *st = source->ptr;
    struct http_conn *hc = user;
    struct h2_conn *h = h2_of(hc);
    uint64_t avail = http_body_available(&st->body);
    size_t room = app_writable_bytes(hc->ac);
    bool early = h->await_preface && room > h->early_room; /* the limit is not the transport's */

    (void)s;
    (void)id;
    (void)buf;
    if (!avail && st->body.ended) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        submit_trailers(s, st, data_flags);
        return 0;
    }
    if (early)
        room = h->early_room;
    if (!avail || room <= H2_FRAME_HEADER) {
        h2_stream_of(st)->deferred = true;
        if (avail && !early) /* else the client's preface resumes it (h2_conn_output) */
            app_want_writable(hc->ac);
        return NGHTTP2_ERR_DEFERRED;
    }
    if (length > room - H2_FRAME_HEADER)
        length = room - H2_FRAME_HEADER;
    if (length > avail)
        length = (size_t)avail;
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (st->body.ended && length == avail) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        submit_trailers(s, st, data_flags);
    }
    return (ssize_t)length;
}

static int send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *source, void *user)
{
    struct http_stream *st = source->ptr;
    struct http_conn *hc = user;
    struct h2_conn *h = h2_of(hc);

    (void)s;
    (void)frame;
    if (app_writable_bytes(hc->ac) < H2_FRAME_HEADER + length) {
        app_want_writable(hc->ac);
        return NGHTTP2_ERR_WOULDBLOCK;
    }
    app_write(hc->ac, framehd, H2_FRAME_HEADER);
    http_body_write(st, length);
    if (h->await_preface)
        h->early_room -=
            h->early_room > H2_FRAME_HEADER + length ? (uint32_t)(H2_FRAME_HEADER + length) : h->early_room;
    return 0;
}

static void h2_conn_output(struct http_conn *hc);

/* The response's HEADERS: :status, then the headers the core kept, encoded by nghttp2 from an
 * array built here on the stack (names and values are not copied: they live in the stream). */
static void h2_stream_respond(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h2_conn *h = h2_of(hc);
    nghttp2_nv nva[HTTP_MAX_RESP_HEADERS + 1];
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    char *status = st->arena + st->arena_used;
    uint32_t nfields;

    if (st->arena_used + 4 > sizeof(st->arena)) {
        st->arena_used = 0; /* the headers added will not fit with it: answer bare */
        st->nresp = 0;
        st->ntrailers = 0;
        status = st->arena;
    }
    status[0] = (char)('0' + st->status / 100 % 10);
    status[1] = (char)('0' + st->status / 10 % 10);
    status[2] = (char)('0' + st->status % 10);
    st->arena_used += 4;
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3,
                          NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    /* without a body the trailer fields go in the one HEADERS frame (gRPC's trailers-only form) */
    nfields = st->nresp + (st->body.kind == BODY_NONE ? st->ntrailers : 0);
    for (uint32_t i = 0; i < nfields; i++)
        nva[i + 1] = (nghttp2_nv){(uint8_t *)st->resp[i].name.ptr, (uint8_t *)st->resp[i].value.ptr,
                                  st->resp[i].name.len, st->resp[i].value.len,
                                  NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    if (nghttp2_submit_response(h->session, st->id, nva, nfields + 1,
                                st->body.kind == BODY_NONE ? NULL : &prd)) {
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    }
    if (!h->in_session)
        h2_conn_output(hc);
}

static void h2_stream_resume(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h2_conn *h = h2_of(hc);

    if (h2_stream_of(st)->deferred) {
        h2_stream_of(st)->deferred = false;
        nghttp2_session_resume_data(h->session, st->id);
    }
    if (!h->in_session)
        h2_conn_output(hc);
}

static void h2_stream_consumed(struct http_stream *st, size_t n)
{
    struct http_conn *hc = st->conn;
    struct h2_conn *h = h2_of(hc);

    nghttp2_session_consume(h->session, st->id, n);
    if (!h->in_session)
        h2_conn_output(hc);
}

static void h2_stream_reset(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h2_conn *h = h2_of(hc);

    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    if (!h->in_session)
        h2_conn_output(hc);
}

/* body_timeout_ms passed with no DATA: RST_STREAM, NO_ERROR once the response is complete, else
 * CANCEL (as the native session, session.c's h2_stream_body_timeout says why). */
static void h2_stream_body_timeout(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h2_conn *h = h2_of(hc);
    bool answered = st->responded && st->body.ended && !http_body_available(&st->body);

    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id,
                              answered ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
    if (!h->in_session)
        h2_conn_output(hc);
}

/* The header strings the request kept (none for a stream that came from HTTP/1.1) go back to
 * nghttp2's pool; after the stream's on_abort, which may still read them. */
static void h2_stream_free(struct http_stream *st)
{
    struct h2_stream *h2s = h2_stream_of(st);

    for (uint32_t i = 0; i < h2s->nrcbufs; i++)
        nghttp2_rcbuf_decref(h2s->rcbufs[i]);
}

/* ---- the connection ----------------------------------------------------------------------------- */

static int h2_callbacks_new(nghttp2_session_callbacks **cb)
{
    if (nghttp2_session_callbacks_new(cb))
        return -1;
    nghttp2_session_callbacks_set_on_begin_frame_callback(*cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(*cb, on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(*cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(*cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(*cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(*cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(*cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(*cb, on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(*cb, send_data);
    return 0;
}

static void h2_conn_end(struct http_conn *hc);
static void h2_conn_preface_read(struct http_conn *hc, size_t n);

static int h2_worker_init(struct http_worker *hw)
{
    struct h2_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return -1;
    hw->h2_state = w;
    w->rcbuf_space = calloc((size_t)hw->cfg->max_streams * hw->cfg->max_headers * 2, sizeof(*w->rcbuf_space));
    w->conns = calloc(hw->max_conns, sizeof(*w->conns));
    w->streams = calloc(hw->cfg->max_streams, sizeof(*w->streams));
    if (!w->rcbuf_space || !w->conns || !w->streams || h2_callbacks_new(&w->callbacks) ||
        nghttp2_option_new(&w->option))
        return -1;
    w->mem = http_mem_nghttp2(hw->mem_pool);
    /* request body flow control follows what handlers are done with (http_body_release) */
    nghttp2_option_set_no_auto_window_update(w->option, 1);
    nghttp2_option_set_max_send_header_block_length(w->option, hw->cfg->max_header_list_size);
    return 0;
}

static void h2_worker_destroy(struct http_worker *hw)
{
    struct h2_worker *w = hw->h2_state;

    if (!w)
        return;
    if (w->callbacks)
        nghttp2_session_callbacks_del(w->callbacks);
    if (w->option)
        nghttp2_option_del(w->option);
    free(w->rcbuf_space);
    free(w->conns);
    free(w->streams);
    free(w);
    hw->h2_state = NULL;
}

/* A new connection (after the preface), or an upgraded one whose request becomes stream 1. */
static int h2_conn_start(struct http_conn *hc, const struct http_upgrade *up)
{
    struct http_worker *hw = hc->hw;
    struct h2_worker *w = h2_worker_of(hw);
    struct h2_conn *h = &w->conns[hc - hw->conns];
    const struct http_config *cfg = hw->cfg;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->initial_window_size},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cfg->max_frame_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_list_size},
    };

    memset(h, 0, sizeof(*h)); /* the slot may hold what the previous connection left */
    hc->proto_state = h;
    if (nghttp2_session_server_new3(&h->session, w->callbacks, hc, w->option, &w->mem))
        return -1;
    /* an upgrade's HTTP2-Settings that nghttp2 refuses leaves the connection as it was: no 101 yet */
    if ((up && nghttp2_session_upgrade2(h->session, up->settings, up->settings_len,
                                        up->stream->req.method == METHOD_HEAD, NULL)) ||
        nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
        nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)cfg->initial_window_size)) {
        h2_conn_end(hc);
        return -1;
    }
    h->in_skip = NGHTTP2_CLIENT_MAGIC_LEN; /* the input starts with the client preface, then frames */
    /* after a 101 a client reads our SETTINGS and the response with the 101 into one buffer before
     * it sends its preface (curl's is 32 KiB and fails when more comes): the rest waits for it */
    h->await_preface = up != NULL;
    h->early_room = H2_UPGRADE_FIRST_FLIGHT;
    hw->stats.h2_connections++;
    if (up) { /* the upgraded request is stream 1, half-closed (remote) already */
        struct http_stream *st = up->stream;

        h2_stream_take(st); /* its header strings are HTTP/1.1's: none to keep */
        st->id = 1;
        st->req.http_version = 20;
        st->request_done = true;
        nghttp2_session_set_stream_user_data(h->session, 1, st);
    } else {
        h2_conn_preface_read(hc, hc->preface_seen); /* detection consumed them */
    }
    return 0;
}

/*
 * After the client's FIN only a stream whose handler has more to give can still finish: one that
 * waits for request body, or for the client's flow-control window, never will (and would hold the
 * connection open for good). Waiting on the transport counts as the handler's (deferred).
 */
static bool handler_pending(const struct http_conn *hc)
{
    for (const struct http_stream *st = hc->streams; st; st = st->next)
        if (st->request_done && (!st->responded || !st->body.ended || h2_stream_of(st)->deferred))
            return true;
    return false;
}

static void h2_conn_output(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    struct app_conn *ac = hc->ac;

    if (!h->session)
        return;
    for (struct http_stream *st = hc->streams; st; st = st->next) {
        if (h2_stream_of(st)->deferred && http_body_available(&st->body)) {
            h2_stream_of(st)->deferred = false;
            nghttp2_session_resume_data(h->session, st->id);
        }
    }
    for (;;) {
        ssize_t n;

        if (h->pending_len) {
            size_t len = h->pending_len, w;

            if (h->await_preface && len > h->early_room)
                len = h->early_room;
            w = app_write(ac, h->pending, len);
            h->pending += w;
            h->pending_len -= w;
            if (h->await_preface)
                h->early_room -= (uint32_t)w;
            if (h->pending_len) {
                if (w == len && h->await_preface)
                    return; /* the rest follows the client's preface (h2_conn_input) */
                app_want_writable(ac);
                return;
            }
        }
        h->in_session = true;
        n = nghttp2_session_mem_send(h->session, &h->pending);
        h->in_session = false;
        if (n < 0) {
            fail_connection(hc);
            h->pending_len = 0;
            break;
        }
        if (n == 0)
            break;
        h->pending_len = (size_t)n;
    }
    /* done: after an error (its GOAWAY went out above), when nghttp2 has nothing more to do, or when
     * the client closed its side and every response that can still finish is out */
    if (hc->closing || (!nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session)) ||
        (app_eof(ac) && !nghttp2_session_want_write(h->session) && !handler_pending(hc)))
        app_shutdown(ac);
}

/* A position in the input: iov[i] starts at offset base. Positions only move forward, so finding
 * one costs nothing per frame however many pieces the input is in. */
struct in_cursor {
    const struct iovec *iov;
    int n, i;
    size_t base;
};

static void cursor_seek(struct in_cursor *c, size_t off)
{
    while (c->i < c->n && off >= c->base + c->iov[c->i].iov_len) {
        c->base += c->iov[c->i].iov_len;
        c->i++;
    }
}

/* Feed nghttp2 the input from *fed up to `to`. */
static void feed(struct http_conn *hc, struct in_cursor *c, size_t *fed, size_t to)
{
    struct h2_conn *h = h2_of(hc);

    while (*fed < to && !hc->closing) {
        size_t from, end;
        ssize_t rv;

        cursor_seek(c, *fed);
        from = *fed - c->base;
        end = to - c->base < c->iov[c->i].iov_len ? to - c->base : c->iov[c->i].iov_len;
        h->in_session = true;
        rv = nghttp2_session_mem_recv(h->session, (const uint8_t *)c->iov[c->i].iov_base + from, end - from);
        h->in_session = false;
        if (rv < 0) { /* nghttp2 queued the GOAWAY the error calls for, if any: send it, then close */
            fail_connection(hc);
            return;
        }
        *fed = c->base + end;
    }
}

/* The 9 bytes of a frame header at offset off; false when the input holds fewer (those are copied). */
static bool frame_header_at(struct in_cursor *c, size_t off, uint8_t hd[H2_FRAME_HEADER])
{
    size_t got = 0;

    cursor_seek(c, off);
    off -= c->base;
    for (int i = c->i; i < c->n && got < H2_FRAME_HEADER; i++, off = 0) {
        size_t take = c->iov[i].iov_len - off;

        if (take > H2_FRAME_HEADER - got)
            take = H2_FRAME_HEADER - got;
        memcpy(hd + got, (const uint8_t *)c->iov[i].iov_base + off, take);
        got += take;
    }
    return got == H2_FRAME_HEADER;
}

/*
 * Input goes to nghttp2 where it lies. Frame headers are located on the way (payloads are skipped
 * by their length: the cost is per frame, not per byte), because two checks must see nghttp2's
 * state just before a frame and nghttp2 gives no callback there: DATA on a stream it forgot is
 * dropped silently, and a CONTINUATION's length is never checked (4.2). Input is fed up to such a
 * frame, checked, and fed on. A frame header cut short at the end of the input is kept aside (at
 * most 8 bytes) until the rest comes, so that the transport is always read to the end (its eof
 * says the client's FIN came and everything before it was consumed).
 *
 * One call feeds what one app_peek lends; true when the transport may hold more than it lent.
 */
static bool input_some(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);
    struct app_conn *ac = hc->ac;
    struct iovec iov[17]; /* the header kept aside, then what the transport lends */
    int n = app_peek(ac, iov + 1, 16);
    struct in_cursor scan = {iov, n + 1, 0, 0}, feeding = scan;
    size_t total = 0, fed = 0, keep = 0, next = h->in_skip; /* next: where the next frame header starts */
    uint8_t hd[H2_FRAME_HEADER];

    if (n > 0)
        h->await_preface = false; /* the client's preface is coming: output need not wait */
    iov[0] = (struct iovec){h->in_hdr, h->in_hdr_len};
    for (int i = 0; i <= n; i++)
        total += iov[i].iov_len;
    while (!hc->closing && frame_header_at(&scan, next, hd)) {
        uint32_t len = (uint32_t)hd[0] << 16 | (uint32_t)hd[1] << 8 | hd[2];
        int32_t id =
            (int32_t)(((uint32_t)hd[5] << 24 | (uint32_t)hd[6] << 16 | (uint32_t)hd[7] << 8 | hd[8]) &
                      0x7fffffff);

        if (hd[3] == NGHTTP2_DATA) {
            feed(hc, &feeding, &fed, next);
            /* 6.1: a stream error STREAM_CLOSED, once: later DATA on it is ignored as on any reset stream */
            if (!hc->closing && closed_not_reset(h->session, hc, id)) {
                nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_STREAM_CLOSED);
                remember_reset(hc, id);
            }
        } else if (hd[3] == NGHTTP2_CONTINUATION &&
                   len > nghttp2_session_get_local_settings(h->session, NGHTTP2_SETTINGS_MAX_FRAME_SIZE)) {
            feed(hc, &feeding, &fed, next);
            if (!hc->closing) {
                nghttp2_session_terminate_session(h->session, NGHTTP2_FRAME_SIZE_ERROR);
                fail_connection(hc);
            }
        }
        next += H2_FRAME_HEADER + (size_t)len;
    }
    if (!hc->closing && next < total) /* a frame header cut short: fewer than 9 bytes */
        keep = total - next;
    if (keep) {
        uint8_t cut[H2_FRAME_HEADER];

        frame_header_at(&scan, next, cut); /* copies the keep bytes there are */
        feed(hc, &feeding, &fed, next);
        memcpy(h->in_hdr, cut, keep); /* after the feed, which may still read the old ones */
    } else {
        feed(hc, &feeding, &fed, total);
    }
    h->in_hdr_len = (uint8_t)keep;
    h->in_skip = next > total ? next - total : 0;
    /* everything the transport lent is fed or kept aside; once closing, what is left goes too */
    app_consume(ac, hc->closing ? SIZE_MAX : total - iov[0].iov_len);
    return n == 16 && !hc->closing;
}

static void h2_conn_input(struct http_conn *hc)
{
    /* on AF_XDP each piece is one segment: a burst takes several rounds, and no new readable comes
     * for what is already queued */
    while (input_some(hc))
        ;
    h2_conn_output(hc);
}

static void h2_conn_preface_read(struct http_conn *hc, size_t n)
{
    struct h2_conn *h = h2_of(hc);

    h->await_preface = false;
    h->in_session = true;
    nghttp2_session_mem_recv(h->session, (const uint8_t *)NGHTTP2_CLIENT_MAGIC, n); /* it matched: no error */
    h->in_session = false;
    h->in_skip -= n;
}

static void h2_conn_end(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    if (h->session)
        nghttp2_session_del(h->session);
    h->session = NULL;
}

static void h2_conn_drain(struct http_conn *hc)
{
    struct h2_conn *h = h2_of(hc);

    /* streams the client opened so far still get their responses (RFC 9113 6.8) */
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2_conn_output(hc);
}

const struct http_proto_ops h2_nghttp2_ops = {
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
