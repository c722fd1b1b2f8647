/*
 * http_config.h — the HTTP layer's limits and settings, with their defaults. Every limit is a
 * configuration value (sluice.conf, section [http]) and has a counter for when it is hit.
 */
#ifndef SLUICE_HTTP_CONFIG_H
#define SLUICE_HTTP_CONFIG_H

#include <stdint.h>

#include "http/rate_limit.h"
#include "sluice/router.h"

/* The HTTP/2 implementation ([http] h2), in the order of its config choices. */
enum http_h2 {
    HTTP_H2_NATIVE,  /* ours: server/h2/session.c */
    HTTP_H2_NGHTTP2, /* nghttp2's session: server/h2/nghttp2_session.c, the reference */
};

struct http_config {
    const struct router *router;     /* the app's routes (sluice-routegen); required */
    int h2;                          /* enum http_h2 */
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t initial_window_size;    /* SETTINGS_INITIAL_WINDOW_SIZE, and the connection window */
    uint32_t max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE */
    uint32_t max_header_list_size;   /* SETTINGS_MAX_HEADER_LIST_SIZE, also HTTP/1.1 head size */
    uint32_t max_headers;            /* header fields per request */
    uint32_t max_streams;            /* streams per worker, all connections together */
    uint32_t max_body_backlog;       /* request body bytes a handler may keep before input pauses */
    uint32_t max_buffers;            /* pool buffers per worker (16 KiB each) */
    const char *static_dir;          /* served under /static/; NULL: the handler answers 404 */
    /* HTTP/2 flood defences (the native session; nghttp2 has its own, fixed) */
    uint32_t rapid_reset_budget;       /* streams a client may cancel per 10 s, net of those it let finish */
    uint32_t max_continuations;        /* CONTINUATION frames per field block */
    uint32_t max_queued_control;       /* control frames owed to a client that does not read them */
    uint32_t max_empty_frames;         /* frames in a row that carry nothing (empty DATA, empty fragments) */
    uint32_t max_priority_frames;      /* PRIORITY frames, and as many again per stream opened */
    uint32_t max_window_update_frames; /* WINDOW_UPDATE frames, and 10 more per DATA frame sent */
    uint32_t flood_source_strikes; /* floods from one address in 60 s before its connections are refused */
    struct rate_limit_config rate_limit; /* requests per second per client address, 429 beyond; rps 0: none */
    /* slow and silent clients (http_worker.c), in milliseconds of the worker loop's clock; 0: none */
    uint32_t preface_timeout_ms;      /* an HTTP/2 connection's client preface and first SETTINGS */
    uint32_t request_head_timeout_ms; /* an HTTP/1.1 request head, from its first byte (or the connection's
                                         start) */
    uint32_t body_timeout_ms;         /* a request body that stops arriving while it is wanted */
    uint32_t idle_timeout_ms;         /* a connection with no request in flight */
};

#define HTTP_PREFACE_TIMEOUT_MS_DEFAULT      10000
#define HTTP_REQUEST_HEAD_TIMEOUT_MS_DEFAULT 10000
#define HTTP_BODY_TIMEOUT_MS_DEFAULT         60000
#define HTTP_IDLE_TIMEOUT_MS_DEFAULT         60000

void http_config_default(struct http_config *cfg);

#endif
