/*
 * h1.h — the HTTP/1.1 side of the HTTP layer (h1.c, over the strict framing of h1_parse.c), as the
 * core sees it.
 *
 * The core reaches HTTP/1.1 only through h1_proto_ops, installed when a connection's first bytes
 * are not the HTTP/2 client preface. h1_conn lives in the protocol union of http_conn, which the
 * core clears when an h2c upgrade installs HTTP/2's table, so h1.c reads nothing of it once it
 * asked the core to switch (http_conn_upgrade).
 *
 * Sits below http/http_conn.h, which includes it; names no struct of the core's but by pointer.
 */
#ifndef SLUICE_H1_H
#define SLUICE_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/h1_parse.h"

struct http_buf;
struct http_stream;
struct http_proto_ops;

/* A connection's HTTP/1.1 state; all zero until h1_proto_ops.start. */
struct h1_conn {
    struct http_buf *head;      /* the request head being gathered (one copy of its bytes) */
    struct h1_head_scan scan;   /* how far the search for its end went */
    struct http_stream *stream; /* the request being read or answered: one at a time */
    struct http_buf *out;       /* response head bytes the transport did not take yet */
    uint64_t body_left;         /* request body bytes still to come (Content-Length) */
    struct h1_chunked chunked;  /* the request body's framing when it is chunked */
    const char *settings;       /* the HTTP2-Settings header of an upgrade, in the stream's head */
    size_t settings_len;
    bool body_chunked;
    bool keep_alive;
    bool http10;      /* the request is HTTP/1.0: no chunked response, keep-alive only if asked */
    bool upgrade_h2c; /* the request asks for h2c: switch once it is complete */
    bool chunked_response;
    bool head_written;     /* some of the response head reached the transport: no other answer now */
    bool wait_response;    /* input waits until the response in progress is complete */
    bool wait_backlog;     /* input waits until a handler releases request body it kept */
    bool resume_input;     /* the backlog cleared while output ran: input resumes after it */
    bool in_input;         /* h1_input is on the stack: it writes what handlers answered once it is done */
    bool output_deferred;  /* a handler answered inside h1_input: write it when the input is done */
    bool error;            /* a request was refused (4xx/5xx and close): nothing more is read or sent */
    bool abort;            /* reset once the outermost h1 call returns (h1_abort) */
    uint8_t replayed;      /* of the preface bytes detection read, those the head has had */
    uint8_t depth;         /* h1_input/h1_output calls on the stack */
    uint8_t continue_left; /* bytes of a 100 Continue the transport did not take yet */
};

extern const struct http_proto_ops h1_proto_ops;

#endif
