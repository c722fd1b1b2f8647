/*
 * h2.h — the HTTP/2 side of the HTTP layer (h2_session.c, over nghttp2), as the core sees it.
 *
 * The core (server/http/) reaches HTTP/2 only through h2_proto_ops: it installs the table when a
 * connection opens with the client preface, or when HTTP/1.1 asks to switch after an Upgrade: h2c
 * (http_conn_upgrade). The structs below are embedded in the core's own so that nothing is
 * allocated per connection or per request for them: h2_conn in the protocol union of http_conn,
 * h2_stream in every http_stream, h2_worker in http_worker. Their fields are HTTP/2's alone.
 *
 * This header declares nothing of the core's but names of its structs: it sits below
 * http/http_conn.h, which includes it.
 */
#ifndef SLUICE_H2_H
#define SLUICE_H2_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2_RESETS_KEPT 16 /* stream ids an HTTP/2 connection remembers having reset */

struct http_proto_ops;

/* A worker's HTTP/2 state: nghttp2's callbacks and options, its allocator, and the request header
 * strings streams keep referenced (max_headers * 2 per stream of the worker's slab). */
struct h2_worker {
    nghttp2_session_callbacks *callbacks;
    nghttp2_option *option;
    nghttp2_mem mem;
    nghttp2_rcbuf **rcbuf_space;
};

/* A stream's HTTP/2 state; all zero for a new stream, and for one that came from HTTP/1.1 (h2c). */
struct h2_stream {
    nghttp2_rcbuf **rcbufs; /* its max_headers * 2 slots in rcbuf_space, once HEADERS began */
    uint32_t nrcbufs;       /* header strings kept referenced there */
    bool deferred;          /* its DATA waits for the transport (nghttp2 told DEFERRED) */
};

/* A connection's HTTP/2 state; all zero until h2_proto_ops.start. */
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

extern const struct http_proto_ops h2_proto_ops;

#endif
