/*
 * http.h — what a handler sees: the request view and the response builder, the same over HTTP/2
 * and HTTP/1.1, over AF_XDP and over kernel sockets.
 *
 * A handler (routed by the compiled router, include/sluice/router.h) reads the request's method,
 * path, params and headers, may receive the body in chunks as they arrive, and answers with one of
 * the http_respond* calls — now, or later from the same worker (a handler that returns without
 * answering keeps the request open until it does, or until the client goes away, which on_abort
 * reports). Strings are slices (pointer + length) into buffers the request owns; nothing here is
 * copied unless a call says so. gRPC over these calls is in <sluice/grpc.h>.
 *
 * Response bodies come from: memory that outlives the response (static data), bytes copied into
 * the server's pool buffers, a mapped file, or a stream the handler writes as it goes. Each body
 * byte is copied once, from where it lies into the transmit buffers.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/router.h"

struct http_str {
    const char *ptr;
    size_t len;
};

#define HTTP_STR(lit) ((struct http_str){(lit), sizeof(lit) - 1})

struct http_header {
    struct http_str name; /* lowercase */
    struct http_str value;
};

struct http_stream;
struct http_offload_job;

struct http_request {
    enum method method;
    struct http_str method_name;
    struct http_str path;  /* without the query */
    struct http_str query; /* after '?', empty when none */
    struct http_str authority;
    struct http_header *headers;
    uint32_t nheaders;
    /* The request's trailer fields (HTTP/2; RFC 9110 6.5), known when on_body is called with last set.
     * They share max_headers with the header fields: the ones past it are dropped (RFC 9110 6.5.1 lets a
     * recipient discard trailers) and counted (trailers_dropped). */
    struct http_header *trailers;
    uint32_t ntrailers;
    uint64_t content_length; /* UINT64_MAX when the client did not say */
    struct router_match route;
    int http_version; /* 20 or 11 */
    /* The request arrived in TLS 0-RTT early data, before the client's handshake finished: an attacker
     * may replay it. Only safe methods get here (GET, HEAD, OPTIONS); others are answered 425 Too Early
     * (RFC 8470) before any handler runs. */
    bool early;

    /*
     * Set by a handler that wants the request body: called with each chunk as it arrives, last
     * set on the final one (len may be 0). Returns how many bytes it is done with; bytes it keeps
     * (an echo that sends them back) are released later with http_body_release, which is what
     * lets the client send more (flow control).
     */
    size_t (*on_body)(struct http_request *req, const uint8_t *data, size_t len, bool last);
    /* Set by a handler that answers later: the client went away first, or a gRPC request's deadline
     * passed (<sluice/grpc.h>: the library answers it). Either way the handler stops and makes no more
     * calls on req, which is gone, or no longer the handler's, after. */
    void (*on_abort)(struct http_request *req);
    /* Set by a handler streaming a response: n queued bytes just went out (an echo releases as many
     * request body bytes, so the client's window follows what was sent back). */
    void (*on_drain)(struct http_request *req, size_t n);
    void *user; /* the handler's per-request state */

    struct http_stream *_stream;   /* private: the protocol's side of the request */
    struct http_offload_job *_job; /* private: set on the offload pool's copy of the request */
};

/* Params captured by the route, by name; an empty slice when absent. */
struct http_str http_param(const struct http_request *req, const char *name);
/* A decimal number of at most max (a param, a query value): false for anything else, overflow included. */
bool http_str_u64(struct http_str s, uint64_t max, uint64_t *out);
/* The first request header called name (lowercase), or an empty slice with ptr NULL. */
struct http_str http_header(const struct http_request *req, const char *name);
/* The same among the request's trailer fields. */
struct http_str http_trailer(const struct http_request *req, const char *name);

/*
 * Add a response header before answering. The name must be lowercase; both strings are copied
 * into the request's small header arena. Returns false when it is full or the name is invalid.
 */
bool http_add_header(struct http_request *req, const char *name, const char *value, size_t value_len);

/*
 * The http_respond* calls: status, then content_type, which must outlive the response (a string
 * literal: it is encoded when the head goes out, not copied; NULL for none), then the body.
 */

/* Answer with a body that stays valid until the response is sent (static data, a mapped file). */
void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len);
/* Answer with body owned by the response: release(body, len) once it is sent (a mapped file's munmap). */
void http_respond_owned(struct http_request *req, int status, const char *content_type, const void *body,
                        size_t len, void (*release)(const void *body, size_t len));
/* Answer with len bytes produced on demand by generate, straight into the transmit buffers. */
void http_respond_generated(struct http_request *req, int status, const char *content_type, uint64_t len,
                            void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t n), void *ctx);
/* Answer with a copy of body (for data that does not outlive the call). */
void http_respond_copy(struct http_request *req, int status, const char *content_type, const void *body,
                       size_t len);
/* Answer with a short text body explaining status ("404 not found\n"). */
void http_respond_error(struct http_request *req, int status);

/*
 * Answer with a body written as it goes: http_stream_write copies into pool buffers queued for
 * sending, http_stream_end finishes it. length is the body's size if known (content-length), else
 * UINT64_MAX. on_drain tells when queued bytes have gone out, so a producer can pace itself;
 * http_stream_queued says how many wait.
 */
void http_respond_stream(struct http_request *req, int status, const char *content_type, uint64_t length);
size_t http_stream_write(struct http_request *req, const void *data, size_t len);
void http_stream_end(struct http_request *req);
size_t http_stream_queued(const struct http_request *req);

/*
 * Add a trailer field to the response: before answering (with any of the http_respond* calls, from an
 * offloaded handler too), or to a streamed response until http_stream_end. Sent after the body (HTTP/2:
 * a HEADERS frame that ends the stream, as gRPC's grpc-status; HTTP/1.1: in the last chunk of a chunked
 * body, and dropped when the body is not chunked); a response without a body carries them in its one
 * HEADERS frame (gRPC's trailers-only form). The strings are copied into the response header arena,
 * which headers and trailers share. Returns false when it is full or the field is invalid.
 */
bool http_add_trailer(struct http_request *req, const char *name, const char *value, size_t value_len);

/* Release n body bytes that on_body kept. */
void http_body_release(struct http_request *req, size_t n);

/* Reset the request (RST_STREAM, or close the HTTP/1.1 connection). */
void http_reset(struct http_request *req);

/*
 * Run fn(req, ctx) on the offload pool instead of this worker, for work that blocks or takes long
 * (a route marked `offload` in the routes file does this for its handler). fn sees a copy of the
 * request, submitted once its body has arrived (http_request_body), and answers with http_add_header,
 * http_add_trailer and http_respond, http_respond_owned, http_respond_copy, http_respond_generated or
 * http_respond_error (not a stream); its answer goes out from the worker. When the pool is full the request
 * is answered 503 with Retry-After; without a pool fn runs here and now. Returns HANDLER_DONE (or what fn
 * returned when it ran here).
 */
int http_offload(struct http_request *req, int (*fn)(struct http_request *req, void *ctx), void *ctx);

/*
 * The whole request body of an offloaded request, for its handler on the pool: the worker collects it
 * before the pool runs the handler (at most [http] max_body_backlog bytes; a larger body is answered 413).
 * Elsewhere an empty slice: handlers on a worker read the body with on_body.
 */
struct http_str http_request_body(const struct http_request *req);

/* The reason phrase of a status code ("Not Found"). */
const char *http_status_text(int status);

#endif
