/*
 * grpc.h — gRPC over HTTP/2 for handlers: recognising a gRPC request, reading its length-prefixed
 * messages as the body arrives, and answering with messages, a status and its trailers.
 *
 * The library never looks inside a message: messages are bytes (protobuf, or anything else the app
 * serialises). A gRPC request is an HTTP/2 POST with content-type application/grpc[+format]; each
 * message on the wire is a 5-byte prefix (a compressed flag, then the length, big-endian) and the
 * bytes. The answer is HEADERS (:status 200, content-type), the messages as DATA, then trailers with
 * grpc-status and grpc-message; a failure before any message is one HEADERS frame carrying all of it
 * (trailers-only).
 *
 * What the library does for every gRPC request, whatever the handler:
 *   - its own errors (no route, rate limit, offload pool full, too large, a handler without answer) are
 *     answered HTTP 200 with the grpc-status they map to (grpc_status_of_http), never an error page;
 *   - a grpc-timeout header arms a deadline on the worker's clock: when it passes before the handler
 *     ended its answer, on_abort tells the handler to stop and the library answers DEADLINE_EXCEEDED
 *     (trailers-only, or trailers after the messages already queued, or RST_STREAM CANCEL when the
 *     answer is a body that cannot take trailers). Its precision is the worker loop's wake period
 *     (100 ms at most). A malformed grpc-timeout is ignored (and counted).
 * Compression (grpc-encoding) is not supported: a compressed message is answered UNIMPLEMENTED.
 *
 * Calls are made on the request's worker, or, for an offloaded handler, on the pool's copy of the
 * request (grpc_read_unary and the unary answers work there; streaming does not).
 */
#ifndef SLUICE_GRPC_H
#define SLUICE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/http.h"

/* https://grpc.github.io/grpc/core/md_doc_statuscodes.html */
enum grpc_status {
    GRPC_STATUS_OK = 0,
    GRPC_STATUS_CANCELLED = 1,
    GRPC_STATUS_UNKNOWN = 2,
    GRPC_STATUS_INVALID_ARGUMENT = 3,
    GRPC_STATUS_DEADLINE_EXCEEDED = 4,
    GRPC_STATUS_NOT_FOUND = 5,
    GRPC_STATUS_ALREADY_EXISTS = 6,
    GRPC_STATUS_PERMISSION_DENIED = 7,
    GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    GRPC_STATUS_FAILED_PRECONDITION = 9,
    GRPC_STATUS_ABORTED = 10,
    GRPC_STATUS_OUT_OF_RANGE = 11,
    GRPC_STATUS_UNIMPLEMENTED = 12,
    GRPC_STATUS_INTERNAL = 13,
    GRPC_STATUS_UNAVAILABLE = 14,
    GRPC_STATUS_DATA_LOSS = 15,
    GRPC_STATUS_UNAUTHENTICATED = 16,
};

#define GRPC_PREFIX_LEN 5 /* compressed flag, 4-byte big-endian length */
/* grpc-java's and grpc-go's default for a received message; a reader's limit is its own */
#define GRPC_MAX_MESSAGE_DEFAULT (4u << 20)

/* content-type application/grpc, or application/grpc+format (proto, json...) */
bool grpc_is_request(const struct http_request *req);

/* The grpc-status the library answers for an HTTP status it would have sent (404 → UNIMPLEMENTED). */
enum grpc_status grpc_status_of_http(int http_status);

/*
 * Messages out of body chunks split anywhere: several in one chunk, one over many. A message that lies
 * whole in a chunk is handed over where it lies; one split across chunks is joined in the reader's
 * buffer (malloc'd, at most max bytes). State is all-zero but for max.
 */
struct grpc_reader {
    size_t max; /* the largest message accepted: RESOURCE_EXHAUSTED beyond */
    /* private */
    uint8_t _prefix[GRPC_PREFIX_LEN];
    uint8_t _prefix_len; /* prefix bytes seen of the message under way */
    uint8_t *_buf;       /* the message under way, when split */
    size_t _len, _need;  /* its bytes in _buf, and its length */
};

/* A message: msg is valid during the call only. Return GRPC_STATUS_OK to go on, anything else stops the
 * reader, which returns it. */
typedef enum grpc_status (*grpc_message_fn)(void *ctx, const uint8_t *msg, size_t len);

void grpc_reader_init(struct grpc_reader *r, size_t max);
/* Feed the next len body bytes. GRPC_STATUS_OK, or what stopped it: RESOURCE_EXHAUSTED (a message over
 * max, or no memory), UNIMPLEMENTED (a compressed message), or on_message's own status. */
enum grpc_status grpc_reader_feed(struct grpc_reader *r, const uint8_t *data, size_t len,
                                  grpc_message_fn on_message, void *ctx);
/* At the end of the body: OK, or INTERNAL when a message was cut short. */
enum grpc_status grpc_reader_end(const struct grpc_reader *r);
void grpc_reader_free(struct grpc_reader *r);

/*
 * A unary (or server-streaming) method's request: exactly one message of at most max bytes, given to
 * on_request once the request has ended (msg valid during the call only). Anything else is answered by
 * the library: no message or two → INTERNAL, too large → RESOURCE_EXHAUSTED, compressed → UNIMPLEMENTED.
 * Takes req->on_body, on_abort and user until on_request runs (then they are the handler's again).
 * On the offload pool it reads http_request_body and calls on_request at once. Returns HANDLER_DONE.
 */
int grpc_read_unary(struct http_request *req, size_t max,
                    void (*on_request)(struct http_request *req, const uint8_t *msg, size_t len));

/*
 * Unary answers: HEADERS, one DATA with the message, trailers grpc-status 0.
 * grpc_respond copies msg (it need not outlive the call). For one copy of the bytes only, serialise
 * into a buffer from grpc_msg_alloc and hand it over with grpc_respond_msg: the response frees it once
 * sent (grpc_msg_free if it is never handed over).
 */
void grpc_respond(struct http_request *req, const void *msg, size_t len);
uint8_t *grpc_msg_alloc(size_t len); /* len bytes to write the message into; NULL when memory is short */
void grpc_msg_free(uint8_t *msg);
void grpc_respond_msg(struct http_request *req, uint8_t *msg, size_t len);

/* Any status, before anything was answered: trailers-only (HEADERS :status 200, content-type,
 * grpc-status, grpc-message percent-encoded, END_STREAM). message may be NULL; a long one is cut. */
void grpc_respond_status(struct http_request *req, enum grpc_status code, const char *message);

/*
 * Server streaming (on the worker only): begin, send messages (each queued whole, or the stream is
 * reset and false returned when the worker's buffers are out), end with a status. Pace a long stream
 * with on_drain and http_stream_queued (<sluice/http.h>). grpc_stream_end before grpc_stream_begin is
 * grpc_respond_status.
 */
void grpc_stream_begin(struct http_request *req);
bool grpc_stream_send(struct http_request *req, const void *msg, size_t len);
void grpc_stream_end(struct http_request *req, enum grpc_status code, const char *message);

#endif
