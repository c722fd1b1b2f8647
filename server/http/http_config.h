/*
 * http_config.h — the HTTP layer's limits and settings, with their defaults. Every limit is a
 * configuration value (sluice.conf, section [http]) and has a counter for when it is hit.
 */
#ifndef SLUICE_HTTP_CONFIG_H
#define SLUICE_HTTP_CONFIG_H

#include <stdint.h>

struct http_config {
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t initial_window_size;    /* SETTINGS_INITIAL_WINDOW_SIZE, and the connection window */
    uint32_t max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE */
    uint32_t max_header_list_size;   /* SETTINGS_MAX_HEADER_LIST_SIZE, also HTTP/1.1 head size */
    uint32_t max_headers;            /* header fields per request */
    uint32_t max_streams;            /* streams per worker, all connections together */
    uint32_t max_body_backlog;       /* request body bytes a handler may keep before input pauses */
    uint32_t max_buffers;            /* pool buffers per worker (16 KiB each) */
    const char *static_dir;          /* served under /static/; NULL: the handler answers 404 */
};

void http_config_default(struct http_config *cfg);

#endif
