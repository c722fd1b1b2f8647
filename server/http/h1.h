/*
 * h1.h — the HTTP/1.1 side of the HTTP layer (h1.c, over http-parser), as the core sees it.
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

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_buf;
struct http_stream;
struct http_proto_ops;

/* A connection's HTTP/1.1 state; all zero until h1_proto_ops.start. */
struct h1_conn {
    http_parser parser;
    struct http_buf *head;      /* the request line and headers, copied together */
    struct http_stream *stream; /* the request being read or answered: one at a time */
    struct http_buf *out;       /* response head bytes the transport did not take yet */
    const char *settings;       /* the HTTP2-Settings header of an upgrade, in the stream's head */
    size_t settings_len;
    uint32_t url_len;
    bool in_value;
    bool keep_alive;
    bool upgrade_h2c; /* the request asks for h2c: switch once it is complete */
    bool chunked_response;
    bool wait_response;    /* input waits until the response in progress is complete */
    bool wait_backlog;     /* input waits until a handler releases request body it kept */
    bool resume_input;     /* the backlog cleared while output ran: input resumes after it */
    bool in_input;         /* h1_input is on the stack: callbacks must not re-enter it */
    bool error;            /* a malformed request was answered with 400: close */
    bool abort;            /* reset once the outermost h1 call returns (h1_abort) */
    uint8_t replayed;      /* of the preface bytes detection read, those the parser has had */
    uint8_t depth;         /* h1_input/h1_output calls on the stack */
    uint8_t continue_left; /* bytes of a 100 Continue the transport did not take yet */
};

extern const struct http_proto_ops h1_proto_ops;

#endif
