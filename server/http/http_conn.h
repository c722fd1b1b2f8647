/*
 * http_conn.h — the HTTP layer's private structures: a connection (HTTP/2 or HTTP/1.1 over an
 * app_io transport), its streams (one request each), response bodies, and the per-worker context
 * that owns the pools they come from. Private to server/http/.
 *
 * Nothing here is allocated per request once the pools are warm: streams come from a free list,
 * body bytes from fixed-size pool buffers, and nghttp2 allocates through a size-class pool
 * (http_mem.c). A worker's structures are only ever touched by that worker.
 */
#ifndef SLUICE_HTTP_CONN_H
#define SLUICE_HTTP_CONN_H

#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "app/app.h"
#include "http/http.h"
#include "http/http_config.h"

#define HTTP_BUF_SIZE         16384 /* one pool buffer */
#define HTTP_MAX_RESP_HEADERS 16
#define HTTP_ARENA_SIZE       768   /* response header names and values added by handlers */
#define H2_RESETS_KEPT        16    /* stream ids an HTTP/2 connection remembers having reset */

struct http_buf {
    struct http_buf *next;
    uint32_t off; /* first unread byte */
    uint32_t len; /* bytes written */
    uint8_t data[HTTP_BUF_SIZE];
};

enum body_kind {
    BODY_NONE,      /* headers only (HEAD, 204, 304) */
    BODY_MEMORY,    /* bytes that outlive the response: static data, a mapped file */
    BODY_QUEUE,     /* pool buffers written by the handler, possibly still growing */
    BODY_GENERATED, /* produced on demand straight into the transmit buffers */
};

struct http_body {
    enum body_kind kind;
    bool ended;           /* no more bytes will be added */
    uint64_t length;      /* total when known, else UINT64_MAX */
    uint64_t sent;
    const uint8_t *memory; /* BODY_MEMORY */
    struct http_buf *head, *tail; /* BODY_QUEUE */
    uint64_t queued;
    void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t len); /* BODY_GENERATED */
    void *generate_ctx;
    void (*release)(const void *body, size_t len); /* once the body is done with (munmap of a file) */
};

struct http_conn;

struct http_stream {
    struct http_request req;
    struct http_conn *conn;
    int32_t id; /* HTTP/2 stream id; 0 for HTTP/1.1 */
    bool request_done;
    bool responded;
    bool head_only;     /* a HEAD request: the body is never sent */
    bool deferred;      /* its DATA waits for the transport (nghttp2 told DEFERRED) */
    bool aborted;
    int status;
    struct http_header *req_headers; /* config.max_headers entries */
    nghttp2_rcbuf **rcbufs;          /* HTTP/2: the header strings, kept referenced */
    uint32_t nrcbufs;
    uint32_t nresp;
    uint32_t arena_used;
    struct http_body body;
    uint64_t body_kept; /* request body bytes on_body kept, not yet released */
    struct http_buf *h1_head; /* HTTP/1.1: the request line and headers its strings point into */
    struct http_stream *next; /* free list, or the connection's list of streams */
    /* last, and not cleared for a new stream (http_stream_new): used only up to nresp, arena_used */
    nghttp2_nv resp[HTTP_MAX_RESP_HEADERS];
    char arena[HTTP_ARENA_SIZE];
};

enum http_proto { PROTO_DETECT, PROTO_H2, PROTO_H1 };

struct http_conn {
    struct app_conn *ac;
    struct http_worker *hw;
    enum http_proto proto;
    bool closing;             /* no more requests; finish what is in flight */
    uint8_t preface_seen;     /* bytes of the HTTP/2 client preface read while undecided (http_worker.c) */
    struct http_stream *streams;
    uint32_t nstreams;
    /* HTTP/2 */
    nghttp2_session *session;
    const uint8_t *pending;   /* output nghttp2 produced that the transport has not taken yet */
    size_t pending_len;
    bool in_session;          /* inside nghttp2 (mem_recv, mem_send): output must wait for its return */
    size_t h2_in_skip;                /* input bytes before the next frame header starts */
    bool h2_await_preface;            /* upgraded, and the client's preface has not come yet */
    uint32_t h2_early_room;           /* output bytes allowed until it comes */
    uint8_t h2_in_hdr[8];             /* a frame header cut short at the end of the input so far */
    uint8_t h2_in_hdr_len;
    int32_t h2_resets[H2_RESETS_KEPT]; /* streams reset lately: frames still arriving on them are ignored */
    uint32_t h2_nresets;
    int32_t h2_resets_forgotten;      /* the highest stream id that fell out of h2_resets */
    bool h2_settings_reading;         /* a SETTINGS frame is being read: the two fields below hold */
    uint32_t h2_settings_window;      /* the peer's SETTINGS_INITIAL_WINDOW_SIZE before that frame */
    int32_t h2_settings_max_window;   /* and the largest stream send window then */
    /* HTTP/1.1 */
    http_parser parser;
    struct http_buf *h1_head; /* the request line and headers, copied together */
    struct http_stream *h1_stream;
    bool h1_in_value;
    bool h1_keep_alive;
    bool h1_upgrade_h2c;
    const char *h1_settings; /* the HTTP2-Settings header of an upgrade, in h1_head */
    size_t h1_settings_len;
    bool h1_chunked_response;
    bool h1_wait_response;    /* input waits until the response in progress is complete */
    bool h1_wait_backlog;     /* input waits until a handler releases request body it kept */
    bool h1_resume_input;     /* the backlog cleared while output ran: input resumes after it */
    bool h1_in_input;         /* h1_conn_input is on the stack: callbacks must not re-enter it */
    bool h1_error;            /* a malformed request was answered with 400: close */
    uint8_t h1_replayed;      /* of the preface_seen bytes, those the parser has had */
    uint8_t h1_depth;         /* h1_conn_input/h1_conn_output calls on the stack */
    bool h1_abort;            /* reset once the outermost of them returns (h1_abort) */
    struct http_buf *h1_out;  /* response head bytes the transport did not take yet */
    uint8_t h1_continue_left; /* bytes of a 100 Continue the transport did not take yet */
    uint32_t h1_url_len;
    struct http_conn *next_free;
};

#define HTTP_COUNTERS(X)                                                                                     \
    X(connections, "HTTP connections opened")                                                                \
    X(h2_connections, "connections that spoke HTTP/2 (prior knowledge or upgrade)")                          \
    X(h1_connections, "connections that spoke HTTP/1.1")                                                      \
    X(h2c_upgrades, "HTTP/1.1 connections upgraded to HTTP/2 (h2c)")                                         \
    X(requests, "requests dispatched")                                                                       \
    X(responses_2xx, "responses with a 2xx status")                                                          \
    X(responses_3xx, "responses with a 3xx status")                                                          \
    X(responses_4xx, "responses with a 4xx status")                                                          \
    X(responses_5xx, "responses with a 5xx status")                                                          \
    X(not_found, "requests no route matched (404)")                                                          \
    X(method_not_allowed, "requests whose path matched under other methods (405)")                           \
    X(protocol_errors, "connections ended for a protocol error (GOAWAY or 400)")                             \
    X(streams_reset, "streams reset by either side")                                                         \
    X(header_limit, "requests refused: too many or too large headers")                                       \
    X(pool_exhausted, "requests refused: no stream or buffer left in the pools")                             \
    X(body_bytes_in, "request body bytes received")                                                          \
    X(body_bytes_out, "response body bytes sent")                                                            \
    X(body_bytes_copied, "response body bytes copied into transmit buffers (at most one copy per byte)")

struct http_stats {
#define HTTP_STATS_FIELD(name, help) uint64_t name;
    HTTP_COUNTERS(HTTP_STATS_FIELD)
#undef HTTP_STATS_FIELD
};

struct http_worker {
    const struct http_config *cfg;
    nghttp2_session_callbacks *callbacks;
    nghttp2_option *option;
    nghttp2_mem mem;
    struct http_mem *mem_pool;
    struct http_conn *conns;      /* slab, one per app slot */
    struct http_conn *free_conns;
    struct http_stream *streams;  /* slab */
    struct http_stream *free_streams;
    struct http_header *header_space;
    nghttp2_rcbuf **rcbuf_space;
    struct http_buf *free_bufs;
    uint32_t bufs_allocated;
    uint32_t conns_used, streams_used, bufs_used; /* handed out, not back yet */
    struct http_stats stats;
};

/* ---- http_worker.c ---------------------------------------------------------------------------- */
struct http_buf *http_buf_get(struct http_worker *hw);
void http_buf_put(struct http_worker *hw, struct http_buf *b);
struct http_stream *http_stream_new(struct http_conn *hc, int32_t id);
void http_stream_free(struct http_stream *st);

/* ---- request.c -------------------------------------------------------------------------------- */
/* Route the request in st and call its handler (or answer 404/405). */
void http_dispatch(struct http_stream *st);
/* Body bytes available to send now, and writing n of them into the transport. */
uint64_t http_body_available(const struct http_body *b);
bool http_body_done(const struct http_body *b);
/* Copy (or generate) the next n bytes of st's body into the transport, which has room for them. */
void http_body_write(struct http_stream *st, size_t n);
void http_body_clear(struct http_worker *hw, struct http_body *b);
void http_count_status(struct http_worker *hw, int status);

/* ---- h2/h2_session.c ----------------------------------------------------------------------------- */
int h2_conn_start(struct http_conn *hc, const uint8_t *upgrade_settings, size_t settings_len, bool head_request);
void h2_conn_input(struct http_conn *hc);
void h2_conn_output(struct http_conn *hc);
void h2_conn_end(struct http_conn *hc);
void h2_conn_preface_read(struct http_conn *hc, size_t n); /* n bytes of it were read while undecided */
void h2_conn_drain(struct http_conn *hc); /* the server stops: GOAWAY, finish the open streams, close */
void h2_stream_respond(struct http_stream *st);
void h2_stream_resume(struct http_stream *st);
void h2_stream_reset(struct http_stream *st);
void h2_stream_consumed(struct http_stream *st, size_t n);
int h2_callbacks_new(nghttp2_session_callbacks **cb);

/* ---- h1.c ------------------------------------------------------------------------------------- */
void h1_conn_start(struct http_conn *hc);
void h1_conn_input(struct http_conn *hc);
void h1_conn_output(struct http_conn *hc);
void h1_conn_end(struct http_conn *hc);
void h1_conn_drain(struct http_conn *hc); /* the server stops: close after the response in progress */
void h1_stream_respond(struct http_stream *st);
void h1_stream_resume(struct http_stream *st);
void h1_stream_reset(struct http_stream *st);
void h1_stream_consumed(struct http_stream *st, size_t n);

#endif
