/*
 * http_conn.h — the HTTP layer's private structures: a connection (HTTP/2 or HTTP/1.1 over an
 * app_io transport), its streams (one request each), response bodies, the per-worker context
 * that owns the pools they come from, and the seam between the core and the protocols
 * (struct http_proto_ops). Private to server/http/ and server/h2/.
 *
 * The core (http_worker.c: pools and the app service; request.c: the handler's API) is the same
 * for both protocols and calls a protocol only through the table its connection holds. Each
 * protocol keeps its own state in its own struct: HTTP/1.1's (http/h1.h) inline in the connection's
 * protocol union, HTTP/2's (h2/nghttp2_session.c) in a slab of its own that proto_state points into.
 *
 * Nothing here is allocated per request once the pools are warm: streams come from a free list,
 * body bytes from fixed-size pool buffers, and nghttp2 allocates through a size-class pool
 * (http_mem.c). A worker's structures are only ever touched by that worker.
 */
#ifndef SLUICE_HTTP_CONN_H
#define SLUICE_HTTP_CONN_H

#include "app/app.h"
#include "http/h1.h"
#include "sluice/http.h"
#include "http/http_config.h"
#include "http/latency.h"
#include "net/timer_wheel.h"

#define HTTP_BUF_SIZE         16384 /* one pool buffer */
#define HTTP_MAX_RESP_HEADERS 16
#define HTTP_ARENA_SIZE       768 /* response header names and values added by handlers */
#define HTTP_H2_ERROR_CODES   16  /* room for RFC 9113's error codes (0x0-0xd) in per-code counters */

/* The HTTP/2 client preface (RFC 9113 3.4): prior knowledge when a connection opens with it. */
#define HTTP_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define HTTP_H2_PREFACE_LEN (sizeof(HTTP_H2_PREFACE) - 1)

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
    bool ended;      /* no more bytes will be added */
    uint64_t length; /* total when known, else UINT64_MAX */
    uint64_t sent;
    const uint8_t *memory;        /* BODY_MEMORY */
    struct http_buf *head, *tail; /* BODY_QUEUE */
    uint64_t queued;
    void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t len); /* BODY_GENERATED */
    void *generate_ctx;
    void (*release)(const void *body, size_t len); /* once the body is done with (munmap of a file) */
};

struct http_conn;
struct http_worker;

struct http_stream {
    struct http_request req;
    struct http_conn *conn;
    int32_t id; /* HTTP/2 stream id; 0 for HTTP/1.1 */
    bool request_done;
    bool responded;
    bool head_only; /* a HEAD request: the body is never sent */
    bool aborted;
    bool grpc;         /* content-type application/grpc (grpc.c) */
    bool dispatched;   /* http_dispatch took it: a request, for the counters, the access log, the probes */
    int status;        /* the answer's, once responded (or the refusal HTTP/1.1 sent instead: 408, 503) */
    uint64_t start_ns; /* the worker loop's clock when the request's head came (the access log's, the
                          probes' and the histograms' duration) */
    struct http_header *req_headers; /* config.max_headers entries */
    uint32_t nresp;
    uint32_t ntrailers; /* trailer fields, in resp[] after the nresp headers */
    uint32_t arena_used;
    struct http_body body;
    uint64_t body_kept;       /* request body bytes on_body kept, not yet released */
    struct http_buf *req_buf; /* the request's fields' strings (the request line's too, HTTP/1.1) */
    void *proto_state;        /* the protocol's own state of the stream, when kept outside (HTTP/2) */
    struct http_stream *next; /* free list, or the connection's list of streams */
    struct http_stream *prev; /* in the connection's list: unlinked in O(1) however many streams it has */
    struct timer deadline;    /* a gRPC request's grpc-timeout, on the worker's wheel (grpc.c) */
    struct timer body_timer;  /* body_timeout_ms since the request body last moved (http_stream_body_wait) */
    /* last, and not cleared for a new stream (http_stream_new): used only up to nresp, arena_used.
     * Protocol-neutral until the protocol encodes them (HPACK, or an HTTP/1.1 head). */
    struct http_header resp[HTTP_MAX_RESP_HEADERS];
    char arena[HTTP_ARENA_SIZE];
};

/* What HTTP/2 needs to take over an HTTP/1.1 connection after Upgrade: h2c (RFC 7540 3.2). */
struct http_upgrade {
    struct http_stream *stream; /* the request that asked: HTTP/2's stream 1, complete */
    const uint8_t *settings;    /* the HTTP2-Settings header, decoded: a SETTINGS payload */
    size_t settings_len;
};

/*
 * A protocol, as the core sees it (h2o's h2o_conn_callbacks_t). A connection holds one table;
 * the core installs it when the first bytes tell which protocol the client speaks, and an h2c
 * upgrade replaces HTTP/1.1's with HTTP/2's (http_conn_upgrade).
 *
 * Connection calls come from the app service (http_worker.c), stream calls from the handler's
 * API (request.c). A protocol writes to the transport itself (its final output), when and as much
 * as it can; handlers never see which protocol carries their request.
 */
struct http_proto_ops {
    const char *name;
    /* The worker's state for the protocol (HTTP/2's in hw->h2_state), before any connection / after the last;
     * NULL when it keeps none. destroy must cope with an init that failed half-way. */
    int (*init)(struct http_worker *hw);
    void (*destroy)(struct http_worker *hw);

    /* The table was just installed and the protocol's state is all zero. up: NULL for a new
     * connection (the bytes detection consumed are the preface's first hc->preface_seen), else
     * the upgrade to take over. Nonzero: refused, nothing written; the core restores the table
     * that was there before, with its state all zero. */
    int (*start)(struct http_conn *hc, const struct http_upgrade *up);
    void (*input)(struct http_conn *hc);  /* the transport has bytes (or its eof) to read */
    void (*output)(struct http_conn *hc); /* the transport has room again */
    void (*drain)(struct http_conn *hc);  /* the server stops: finish what is in flight, then close */
    void (*end)(struct http_conn *hc);    /* the transport is gone: release the protocol's state;
                                             the core frees the streams left after it */

    void (*respond)(struct http_stream *st);            /* st->status, resp[] and body are set: send them */
    void (*resume)(struct http_stream *st);             /* st's body has more bytes, or ended */
    void (*reset)(struct http_stream *st);              /* the handler resets the request */
    void (*consumed)(struct http_stream *st, size_t n); /* the handler released n request body bytes */
    void (*stream_free)(struct http_stream *st);        /* st goes back to the pool (after its on_abort):
                                                           release what the protocol holds for it */
    /* No byte of st's request body came for body_timeout_ms while it was wanted; a handler that had not
     * ended its answer heard on_abort already. End the request as the protocol can (HTTP/1.1: 408 if
     * nothing was answered yet, then close; HTTP/2: RST_STREAM). */
    void (*body_timeout)(struct http_stream *st);
};

/* What a connection's one deadline (struct http_conn's wait_timer) waits for; all zero is none. */
enum http_wait {
    HTTP_WAIT_NONE, /* a request is in flight (its handler, its body or its answer has the time it needs) */
    HTTP_WAIT_HEAD, /* a request head, or the first bytes: request_head_timeout_ms */
    HTTP_WAIT_PREFACE, /* HTTP/2's client preface and first SETTINGS: preface_timeout_ms */
    HTTP_WAIT_IDLE,    /* the next request, none in flight: idle_timeout_ms */
};

struct http_conn {
    struct app_conn *ac;
    struct http_worker *hw;
    const struct http_proto_ops *ops; /* never NULL while open: detection's until a protocol is known */
    bool closing;                     /* no more requests; finish what is in flight */
    uint8_t preface_seen; /* bytes of the HTTP/2 client preface read while undecided (http_worker.c) */
    struct http_stream *streams;
    uint32_t nstreams;
    union {
        struct h1_conn h1;
    } proto;           /* the state of the protocol ops belongs to, if it keeps it here (HTTP/1.1) */
    void *proto_state; /* or where it keeps it (HTTP/2: a slot of its own slab), set by its start */
    /* the one deadline a slow or silent client meets (enum http_wait), on the worker's conn_deadlines */
    uint8_t wait;
    uint64_t wait_since_ms; /* when the head or preface wait began: the connection's start, or a head's first
                               byte */
    struct timer wait_timer;
    struct http_conn *next_free;
};

#define HTTP_COUNTERS(X)                                                                                     \
    X(connections, "HTTP connections opened")                                                                \
    X(h2_connections, "connections that spoke HTTP/2 (prior knowledge or upgrade)")                          \
    X(h1_connections, "connections that spoke HTTP/1.1")                                                     \
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
    X(too_early, "requests in TLS 0-RTT early data with an unsafe method, answered 425 Too Early")           \
    X(early_requests, "requests in TLS 0-RTT early data given to handlers (safe methods)")                   \
    X(trailers_dropped, "request trailer fields dropped: past max_headers with the header fields")           \
    X(pool_exhausted, "requests refused: no stream or buffer left in the pools")                             \
    X(body_bytes_in, "request body bytes received")                                                          \
    X(body_bytes_out, "response body bytes sent")                                                            \
    X(body_bytes_copied, "response body bytes copied into transmit buffers (at most one copy per byte)")     \
    X(h2_refused_streams, "HTTP/2 streams refused (REFUSED_STREAM): over the concurrency or the pool share") \
    X(h2_rapid_reset, "HTTP/2 connections ended for cancelling too many streams (rapid reset)")              \
    X(h2_continuation_flood, "HTTP/2 connections ended for a field block too long in frames or bytes")       \
    X(h2_control_flood, "HTTP/2 connections reset for owing too many control frames to a client")            \
    X(h2_empty_frame_flood, "HTTP/2 connections ended for too many empty frames in a row")                   \
    X(h2_priority_flood, "HTTP/2 connections ended for too many PRIORITY frames")                            \
    X(h2_window_update_flood, "HTTP/2 connections ended for too many WINDOW_UPDATE frames")                  \
    X(h2_source_refused, "HTTP/2 connections refused: their source's connections flooded too often lately")  \
    X(offloaded, "requests handed to the offload pool")                                                      \
    X(offload_shed, "requests answered 503 with Retry-After: the offload pool's queue was full")             \
    X(offload_abandoned, "offloaded requests whose client went away before the pool answered")               \
    X(offload_unanswered, "offloaded handlers that gave no answer the pool can carry: answered 500")         \
    X(offload_breaker_refused, "offloaded requests answered 503 at once: their route's breaker was open")    \
    X(rate_limited, "requests answered 429 with Retry-After: their client was over [http] rate_limit_rps")   \
    X(grpc_requests, "gRPC requests (content-type application/grpc) dispatched")                             \
    X(grpc_unimplemented, "gRPC requests the library answered UNIMPLEMENTED: no route (404, 405)")           \
    X(grpc_resource_exhausted,                                                                               \
      "gRPC requests the library answered RESOURCE_EXHAUSTED: rate limit, offload pool or breaker, size")    \
    X(grpc_internal, "gRPC requests the library answered INTERNAL (400, 500, a handler without an answer)")  \
    X(grpc_unavailable, "gRPC requests the library answered UNAVAILABLE (425 Too Early)")                    \
    X(grpc_other_status, "gRPC requests the library answered another status (UNKNOWN for an unmapped one)")  \
    X(grpc_deadline_exceeded, "gRPC requests answered DEADLINE_EXCEEDED: their grpc-timeout passed first")   \
    X(grpc_deadline_reset,                                                                                   \
      "gRPC requests past their deadline reset (RST_STREAM CANCEL): no trailers could follow")               \
    X(grpc_timeout_malformed, "gRPC requests whose grpc-timeout was malformed (ignored: no deadline)")       \
    X(preface_timeout,                                                                                       \
      "HTTP/2 connections closed: no client preface and first SETTINGS in preface_timeout_ms")               \
    X(request_head_timeout,                                                                                  \
      "HTTP/1.1 connections closed: a request head (or the first bytes) took over request_head_timeout_ms")  \
    X(body_timeout, "requests ended: no request body byte came in body_timeout_ms (408, or RST_STREAM)")     \
    X(idle_timeout, "connections closed: no request in idle_timeout_ms (HTTP/2: GOAWAY NO_ERROR first)")

struct http_stats {
#define HTTP_STATS_FIELD(name, help) uint64_t name;
    HTTP_COUNTERS(HTTP_STATS_FIELD)
#undef HTTP_STATS_FIELD
};

struct http_worker {
    const struct http_config *cfg;
    struct http_mem *mem_pool;
    /* HTTP/2 is plugged in (http_worker_new) and keeps its state in slabs of its own, found by a
     * connection's or stream's index in the slabs below: the core includes nothing of h2/ */
    const struct http_proto_ops *h2;
    void *h2_state;
    uint32_t max_conns;
    struct http_conn *conns; /* slab, one per app slot */
    struct http_conn *free_conns;
    struct http_stream *streams; /* slab */
    struct http_stream *free_streams;
    struct http_header *header_space;
    struct http_buf *free_bufs;
    uint32_t bufs_allocated;
    uint32_t conns_used, streams_used, bufs_used; /* handed out, not back yet */
    struct http_stats stats;
    uint32_t worker;                     /* the worker's index, for the probes (http_worker_set_index) */
    struct http_latency latency;         /* request durations per route and status class, for /metrics */
    char **route_labels;                 /* the routes' names as the probes pass them (http_worker.c) */
    uint64_t h1_refused[H1_ERROR_COUNT]; /* HTTP/1.1 requests refused, by what the framing found */
    /* HTTP/2 GOAWAY and RST_STREAM frames sent (native session), by error code (RFC 9113 7) */
    uint64_t h2_goaway_sent[HTTP_H2_ERROR_CODES];
    uint64_t h2_rst_sent[HTTP_H2_ERROR_CODES];
    /* the offload pool (http_offload.c), NULL without one; this worker submits as offload_submitter */
    struct offload_pool *offload;
    uint32_t offload_submitter;
    uint32_t offload_in_flight; /* jobs submitted whose answer has not come back */
    struct breaker *breakers;   /* per route, NULL for none */
    uint64_t offload_slow_ns;
    struct rate_limit *rate_limit;   /* NULL: no per-client limit */
    struct access_ring *access_ring; /* NULL: no access log */
    /* gRPC deadlines (grpc-timeout) of this worker's streams, in milliseconds of the worker loop's clock:
     * O(1) to arm and cancel, advanced by http_worker_tick */
    struct timer_wheel deadlines;
    /* slow and silent clients, on the same clock: each connection's one wait (enum http_wait), and each
     * request body that is wanted (body_timeout_ms since it last moved) */
    struct timer_wheel conn_deadlines;
    struct timer_wheel body_deadlines;
};

/* ---- http_worker.c ---------------------------------------------------------------------------- */
struct http_buf *http_buf_get(struct http_worker *hw);
void http_buf_put(struct http_worker *hw, struct http_buf *b);
struct http_stream *http_stream_new(struct http_conn *hc, int32_t id);
void http_stream_free(struct http_stream *st);
/* Switch hc to HTTP/2 after an Upgrade: h2c. The caller's protocol state is reused once this is
 * called: it reads none of it after, and passes what HTTP/2 needs in up. 0: hc speaks HTTP/2, up's
 * stream is its stream 1 (not dispatched yet). -1: HTTP/2 refused (the settings); hc has the
 * caller's table back, its state all zero, and up's stream is untouched. */
int http_conn_upgrade(struct http_conn *hc, const struct http_upgrade *up);
/* The connection now waits for what (HTTP_WAIT_NONE: nothing, its deadline is cancelled). A head or
 * preface wait that goes on (or turns from one into the other) keeps counting from when it began, so
 * that no byte a client sends buys it more time; O(1), nothing allocated. */
void http_conn_wait(struct http_conn *hc, enum http_wait what);
/* HTTP/2: the client's first SETTINGS came (after its preface): the preface deadline is met. */
void http_conn_settled(struct http_conn *hc);
/* st's request body moved (or the request was dispatched, or its body ended): its body deadline is
 * body_timeout_ms from now while more is to come, none once the request is complete. O(1). */
void http_stream_body_wait(struct http_stream *st);

/* ---- http_offload.c: a handler's calls on the pool's copy of a request (req->_job set) ------------- */
bool http_offload_add_header(struct http_offload_job *job, const char *name, size_t name_len,
                             const char *value, size_t value_len);
/* copy: the body is copied into memory the job owns (http_respond_copy) */
void http_offload_respond(struct http_offload_job *job, int status, const char *content_type,
                          const void *body, size_t len, void (*release)(const void *body, size_t len),
                          bool copy);
void http_offload_respond_generated(struct http_offload_job *job, int status, const char *content_type,
                                    uint64_t len,
                                    void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t n),
                                    void *ctx);
void http_offload_unsupported(struct http_offload_job *job); /* streaming and the like: answered 500 */
void http_offload_reset(struct http_offload_job *job);

/* ---- http_offload.c, continued --------------------------------------------------------------------- */
bool http_offload_add_trailer(struct http_offload_job *job, const char *name, size_t name_len,
                              const char *value, size_t value_len);
struct http_str http_offload_body(const struct http_offload_job *job);

/* ---- grpc.c ------------------------------------------------------------------------------------ */
/* The library answers status (404, 429, 503...) to a gRPC request: HTTP 200 with the grpc-status it maps
 * to, trailers-only, counted. */
void grpc_library_error(struct http_request *req, int status);
/* Arm st's deadline from its grpc-timeout (none, or malformed: nothing armed). */
void grpc_deadline_arm(struct http_stream *st);
/* The wheel's callback: st's deadline passed. */
void grpc_deadline_fire(struct timer *t, void *ctx);

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
/* st's request is over (from http_stream_free, for a dispatched one): its request_end probe, and its
 * duration into the worker's histograms when it was answered. */
void http_request_ended(struct http_stream *st);
/* st's request is refused to protect the server (reason: the overload probe's, common/probes.h). */
void http_probe_overload(const struct http_stream *st, const char *reason, int status);
/* http_stream_write of several pieces, the protocol told once after all are queued (so an on_drain it
 * calls cannot come between them); false when not all fit the worker's buffers. */
bool http_stream_writev(struct http_request *req, const struct iovec *iov, int n);

#endif
