/*
 * http_worker.c — a worker's HTTP layer: its pools (connections, streams, body buffers, nghttp2's
 * memory) and the service the app layer dispatches HTTP connections to (app_http_ops).
 *
 * A connection starts undecided: the first bytes say whether it is HTTP/2 with prior knowledge
 * (the 24-byte client preface) or HTTP/1.1 (anything else; h1.c may later upgrade it to h2c).
 *
 * In a sanitizer build an object back in its pool is poisoned but for its free-list link, so that
 * ASan reports a use after free that the pool would otherwise hide.
 */
#include "http/http_worker.h"

#include <errno.h>
#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "http/http_mem.h"

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN (sizeof(PREFACE) - 1)

void http_config_default(struct http_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_concurrent_streams = 100;
    cfg->initial_window_size = 1 << 20;
    cfg->max_frame_size = 16384;
    cfg->max_header_list_size = 65536;
    cfg->max_headers = 64;
    cfg->max_streams = 16384;
    cfg->max_body_backlog = 1 << 20;
    cfg->max_buffers = 65536;
}

struct http_worker *http_worker_new(const struct http_config *cfg, uint32_t max_conns)
{
    struct http_worker *hw = calloc(1, sizeof(*hw));

    if (!hw)
        return NULL;
    hw->cfg = cfg;
    hw->mem_pool = http_mem_new();
    hw->conns = calloc(max_conns, sizeof(*hw->conns));
    hw->streams = calloc(cfg->max_streams, sizeof(*hw->streams));
    hw->header_space = calloc((size_t)cfg->max_streams * cfg->max_headers, sizeof(*hw->header_space));
    hw->rcbuf_space = calloc((size_t)cfg->max_streams * cfg->max_headers * 2, sizeof(*hw->rcbuf_space));
    if (!hw->mem_pool || !hw->conns || !hw->streams || !hw->header_space || !hw->rcbuf_space ||
        h2_callbacks_new(&hw->callbacks) || nghttp2_option_new(&hw->option)) {
        http_worker_destroy(hw);
        errno = ENOMEM;
        return NULL;
    }
    hw->mem = http_mem_nghttp2(hw->mem_pool);
    /* request body flow control follows what handlers are done with (http_body_release) */
    nghttp2_option_set_no_auto_window_update(hw->option, 1);
    nghttp2_option_set_max_send_header_block_length(hw->option, cfg->max_header_list_size);
    for (uint32_t i = max_conns; i-- > 0;) {
        hw->conns[i].next_free = hw->free_conns;
        hw->free_conns = &hw->conns[i];
    }
    for (uint32_t i = cfg->max_streams; i-- > 0;) {
        struct http_stream *st = &hw->streams[i];

        st->req_headers = &hw->header_space[(size_t)i * cfg->max_headers];
        st->rcbufs = &hw->rcbuf_space[(size_t)i * cfg->max_headers * 2];
        st->next = hw->free_streams;
        hw->free_streams = st;
    }
    return hw;
}

void http_worker_destroy(struct http_worker *hw)
{
    if (!hw)
        return;
    while (hw->free_bufs) {
        struct http_buf *b = hw->free_bufs;

        hw->free_bufs = b->next;
        free(b);
    }
    if (hw->callbacks)
        nghttp2_session_callbacks_del(hw->callbacks);
    if (hw->option)
        nghttp2_option_del(hw->option);
    http_mem_destroy(hw->mem_pool);
    free(hw->conns);
    free(hw->streams);
    free(hw->header_space);
    free(hw->rcbuf_space);
    free(hw);
}

const struct http_stats *http_worker_stats(const struct http_worker *hw)
{
    return &hw->stats;
}

uint64_t http_worker_system_allocs(const struct http_worker *hw)
{
    return http_mem_system_allocs(hw->mem_pool) + hw->bufs_allocated;
}

void http_worker_in_use(const struct http_worker *hw, struct http_worker_usage *u)
{
    u->conns = hw->conns_used;
    u->streams = hw->streams_used;
    u->bufs = hw->bufs_used;
    u->mem_blocks = http_mem_in_use(hw->mem_pool);
}

/* ---- pools ------------------------------------------------------------------------------------- */

struct http_buf *http_buf_get(struct http_worker *hw)
{
    struct http_buf *b = hw->free_bufs;

    if (b) {
        ASAN_UNPOISON_MEMORY_REGION(b, sizeof(*b));
        hw->free_bufs = b->next;
    } else {
        if (hw->bufs_allocated >= hw->cfg->max_buffers || !(b = malloc(sizeof(*b)))) {
            hw->stats.pool_exhausted++;
            return NULL;
        }
        hw->bufs_allocated++;
    }
    hw->bufs_used++;
    b->next = NULL;
    b->off = b->len = 0;
    return b;
}

void http_buf_put(struct http_worker *hw, struct http_buf *b)
{
    hw->bufs_used--;
    b->next = hw->free_bufs;
    hw->free_bufs = b;
    ASAN_POISON_MEMORY_REGION(&b->off, sizeof(*b) - offsetof(struct http_buf, off));
}

struct http_stream *http_stream_new(struct http_conn *hc, int32_t id)
{
    struct http_worker *hw = hc->hw;
    struct http_stream *st = hw->free_streams;
    struct http_header *headers;
    nghttp2_rcbuf **rcbufs;

    if (!st) {
        hw->stats.pool_exhausted++;
        return NULL;
    }
    ASAN_UNPOISON_MEMORY_REGION(st, sizeof(*st));
    hw->free_streams = st->next;
    hw->streams_used++;
    headers = st->req_headers;
    rcbufs = st->rcbufs;
    memset(st, 0, offsetof(struct http_stream, resp)); /* resp and arena count from nresp, arena_used */
    st->req_headers = headers;
    st->rcbufs = rcbufs;
    st->req.headers = headers;
    st->req.content_length = UINT64_MAX;
    st->req._stream = st;
    st->conn = hc;
    st->id = id;
    st->next = hc->streams;
    hc->streams = st;
    hc->nstreams++;
    return st;
}

void http_stream_free(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct http_worker *hw = hc->hw;

    for (struct http_stream **link = &hc->streams; *link; link = &(*link)->next) {
        if (*link == st) {
            *link = st->next;
            break;
        }
    }
    hc->nstreams--;
    /* the client went away before the answer was complete: a handler still at work must know */
    if (!st->aborted && st->req.on_abort && (!st->responded || !http_body_done(&st->body)))
        st->req.on_abort(&st->req);
    for (uint32_t i = 0; i < st->nrcbufs; i++)
        nghttp2_rcbuf_decref(st->rcbufs[i]);
    http_body_clear(hw, &st->body);
    if (st->h1_head)
        http_buf_put(hw, st->h1_head);
    st->next = hw->free_streams;
    hw->free_streams = st;
    hw->streams_used--;
    ASAN_POISON_MEMORY_REGION(st, offsetof(struct http_stream, next));
}

/* ---- the HTTP service, as the app layer sees it ------------------------------------------------ */

static void http_open(struct app_conn *ac)
{
    struct http_worker *hw = ac->table->http;
    struct http_conn *hc = hw ? hw->free_conns : NULL;

    if (!hc) {
        app_abort(ac);
        return;
    }
    ASAN_UNPOISON_MEMORY_REGION(hc, sizeof(*hc));
    hw->free_conns = hc->next_free;
    hw->conns_used++;
    memset(hc, 0, sizeof(*hc));
    hc->ac = ac;
    hc->hw = hw;
    hc->proto = PROTO_DETECT;
    ac->proto = hc;
    hw->stats.connections++;
}

/*
 * Prior knowledge is the client preface; anything that stops matching it is HTTP/1.1. What matches
 * is consumed as it comes (hc->preface_seen): otherwise a client that sends part of it and its FIN
 * would never be seen to end (the transport's eof waits for every byte to be read). The protocol
 * chosen is handed those bytes from the constant (h2_conn_preface_read, or h1.c's replay).
 */
static enum http_proto detect(struct http_conn *hc)
{
    struct app_conn *ac = hc->ac;
    struct iovec iov[4];
    size_t seen = hc->preface_seen, took = 0;
    int n = app_peek(ac, iov, 4);

    for (int i = 0; i < n && seen < PREFACE_LEN; i++) {
        size_t take = iov[i].iov_len < PREFACE_LEN - seen ? iov[i].iov_len : PREFACE_LEN - seen;

        if (memcmp(iov[i].iov_base, &PREFACE[seen], take))
            return PROTO_H1; /* what matched in this call is still in the transport */
        seen += take;
        took += take;
    }
    app_consume(ac, took);
    hc->preface_seen = (uint8_t)seen;
    if (seen == PREFACE_LEN)
        return PROTO_H2;
    return app_eof(ac) && seen ? PROTO_H1 : PROTO_DETECT;
}

static void http_readable(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    if (hc->proto == PROTO_DETECT) {
        hc->proto = detect(hc);
        if (hc->proto == PROTO_H2) {
            if (h2_conn_start(hc, NULL, 0, false)) {
                app_abort(ac);
                return;
            }
            h2_conn_preface_read(hc, hc->preface_seen);
        } else if (hc->proto == PROTO_H1) {
            h1_conn_start(hc);
        } else {
            if (app_eof(ac))
                app_shutdown(ac);
            return;
        }
    }
    if (hc->proto == PROTO_H2)
        h2_conn_input(hc);
    else
        h1_conn_input(hc);
}

static void http_drain(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    if (hc->proto == PROTO_H2)
        h2_conn_drain(hc);
    else if (hc->proto == PROTO_H1)
        h1_conn_drain(hc);
    else
        app_shutdown(ac);
}

static void http_writable(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    if (hc->proto == PROTO_H2)
        h2_conn_output(hc);
    else if (hc->proto == PROTO_H1)
        h1_conn_output(hc);
}

static void http_closed(struct app_conn *ac, int error)
{
    struct http_conn *hc = ac->proto;
    struct http_worker *hw;

    (void)error;
    if (!hc)
        return;
    hw = hc->hw;
    if (hc->proto == PROTO_H2)
        h2_conn_end(hc);
    else if (hc->proto == PROTO_H1)
        h1_conn_end(hc);
    while (hc->streams)
        http_stream_free(hc->streams);
    ac->proto = NULL;
    hc->ac = NULL;
    hc->next_free = hw->free_conns;
    hw->free_conns = hc;
    hw->conns_used--;
    ASAN_POISON_MEMORY_REGION(hc, offsetof(struct http_conn, next_free));
}

const struct app_ops app_http_ops = {
    .name = "http",
    .open = http_open,
    .readable = http_readable,
    .writable = http_writable,
    .closed = http_closed,
    .drain = http_drain,
};
