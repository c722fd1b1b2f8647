/*
 * http_worker.c — a worker's HTTP layer: its pools (connections, streams, body buffers, nghttp2's
 * memory) and the service the app layer dispatches HTTP connections to (app_http_ops). Part of
 * the protocol-neutral core: it reaches HTTP/2 and HTTP/1.1 only through their http_proto_ops.
 *
 * A connection starts undecided, with detection's table: the first bytes say whether it is HTTP/2
 * with prior knowledge (the 24-byte client preface) or HTTP/1.1 (anything else), and that
 * protocol's table is installed. HTTP/1.1 may later ask for HTTP/2's (h2c, http_conn_upgrade).
 *
 * Slow and silent clients meet deadlines kept here, on the worker's timer wheels (O(1) to arm and
 * cancel, nothing allocated, no system call: the time is the worker loop's, from the app table): a
 * connection waits for one thing at a time (enum http_wait: its first bytes or a request head, HTTP/2's
 * preface and first SETTINGS, or its next request), and a request body that is wanted must keep
 * moving. The protocols say when what they wait for changes; the deadlines themselves are the core's.
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
#include "log/access_log.h"

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
    cfg->h2 = HTTP_H2_NATIVE;
    cfg->rapid_reset_budget = 200;
    cfg->max_continuations = 32;
    cfg->max_queued_control = 1000;
    cfg->max_empty_frames = 16;
    cfg->max_priority_frames = 100;
    cfg->max_window_update_frames = 100;
    cfg->flood_source_strikes = 4;
    cfg->rate_limit = (struct rate_limit_config){
        .rps = RATE_LIMIT_RPS_DEFAULT, .burst = RATE_LIMIT_BURST_DEFAULT, .slots = RATE_LIMIT_SLOTS_DEFAULT};
    cfg->preface_timeout_ms = HTTP_PREFACE_TIMEOUT_MS_DEFAULT;
    cfg->request_head_timeout_ms = HTTP_REQUEST_HEAD_TIMEOUT_MS_DEFAULT;
    cfg->body_timeout_ms = HTTP_BODY_TIMEOUT_MS_DEFAULT;
    cfg->idle_timeout_ms = HTTP_IDLE_TIMEOUT_MS_DEFAULT;
}

/*
 * The routes' names copied out of the app's read-only data, in one block (the pointers, then the
 * text). A tracer reads the strings a probe passes with bpf_probe_read_user_str, which cannot fault a
 * page in: a name on a page of the binary nothing has read yet (or the kernel reclaimed) comes out
 * empty, while this memory stays resident.
 */
static char **copy_route_labels(const struct router *router)
{
    int n = router ? router->route_count : 0;
    size_t bytes = (size_t)n * sizeof(char *);
    char **labels, *text;

    for (int i = 0; i < n; i++)
        bytes += strlen(router->route_names[i]) + 1;
    labels = malloc(bytes ? bytes : 1);
    if (!labels)
        return NULL;
    text = (char *)(labels + n);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(router->route_names[i]) + 1;

        labels[i] = memcpy(text, router->route_names[i], len);
        text += len;
    }
    return labels;
}

struct http_worker *http_worker_new(const struct http_config *cfg, uint32_t max_conns,
                                    const struct http_proto_ops *h2)
{
    struct http_worker *hw = calloc(1, sizeof(*hw));

    if (!hw)
        return NULL;
    hw->cfg = cfg;
    hw->h2 = h2;
    hw->max_conns = max_conns;
    timer_wheel_init(&hw->deadlines, 0); /* the first tick moves it to the loop's clock */
    timer_wheel_init(&hw->conn_deadlines, 0);
    timer_wheel_init(&hw->body_deadlines, 0);
    hw->mem_pool = http_mem_new();
    hw->conns = calloc(max_conns, sizeof(*hw->conns));
    hw->streams = calloc(cfg->max_streams, sizeof(*hw->streams));
    hw->header_space = calloc((size_t)cfg->max_streams * cfg->max_headers, sizeof(*hw->header_space));
    hw->route_labels = copy_route_labels(cfg->router);
    if (!hw->mem_pool || !hw->conns || !hw->streams || !hw->header_space || !hw->route_labels ||
        http_latency_init(&hw->latency, cfg->router ? (uint32_t)cfg->router->route_count : 0))
        goto fail;
    /* HTTP/1.1 keeps no per-worker state; HTTP/2 keeps its own behind hw->h2_state */
    if (h2->init && h2->init(hw))
        goto fail;
    for (uint32_t i = max_conns; i-- > 0;) {
        hw->conns[i].next_free = hw->free_conns;
        hw->free_conns = &hw->conns[i];
    }
    for (uint32_t i = cfg->max_streams; i-- > 0;) {
        struct http_stream *st = &hw->streams[i];

        st->req_headers = &hw->header_space[(size_t)i * cfg->max_headers];
        st->next = hw->free_streams;
        hw->free_streams = st;
    }
    return hw;
fail:
    http_worker_destroy(hw);
    errno = ENOMEM;
    return NULL;
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
    if (hw->h2 && hw->h2->destroy)
        hw->h2->destroy(hw);
    http_mem_destroy(hw->mem_pool);
    http_latency_destroy(&hw->latency);
    free(hw->route_labels);
    free(hw->conns);
    free(hw->streams);
    free(hw->header_space);
    free(hw);
}

void http_worker_set_offload(struct http_worker *hw, struct offload_pool *pool, uint32_t submitter,
                             struct breaker *breakers, uint32_t slow_ms)
{
    hw->offload = pool;
    hw->offload_submitter = submitter;
    hw->breakers = breakers;
    hw->offload_slow_ns = (uint64_t)slow_ms * 1000000;
}

uint32_t http_worker_offload_in_flight(const struct http_worker *hw)
{
    return hw->offload_in_flight;
}

static void conn_deadline_fire(struct timer *t, void *ctx);
static void body_deadline_fire(struct timer *t, void *ctx);

bool http_worker_tick(struct http_worker *hw, uint64_t now_ns)
{
    const struct http_stats *s = &hw->stats;
    uint64_t answered = s->grpc_deadline_exceeded + s->preface_timeout + s->request_head_timeout +
                        s->body_timeout + s->idle_timeout;

    timer_wheel_advance(&hw->deadlines, now_ns / 1000000, grpc_deadline_fire, hw);
    timer_wheel_advance(&hw->conn_deadlines, now_ns / 1000000, conn_deadline_fire, hw);
    timer_wheel_advance(&hw->body_deadlines, now_ns / 1000000, body_deadline_fire, hw);
    return s->grpc_deadline_exceeded + s->preface_timeout + s->request_head_timeout + s->body_timeout +
               s->idle_timeout !=
           answered;
}

void http_worker_set_rate_limit(struct http_worker *hw, struct rate_limit *rl)
{
    hw->rate_limit = rl;
}

void http_worker_set_index(struct http_worker *hw, uint32_t index)
{
    hw->worker = index;
}

void http_worker_set_access_log(struct http_worker *hw, struct access_ring *ring)
{
    hw->access_ring = ring;
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

    if (!st) {
        hw->stats.pool_exhausted++;
        return NULL;
    }
    ASAN_UNPOISON_MEMORY_REGION(st, sizeof(*st));
    hw->free_streams = st->next;
    hw->streams_used++;
    headers = st->req_headers;
    memset(st, 0, offsetof(struct http_stream, resp)); /* resp and arena count from nresp, arena_used */
    st->req_headers = headers;
    st->req.headers = headers;
    st->req.content_length = UINT64_MAX;
    st->req._stream = st;
    st->conn = hc;
    st->id = id;
    st->start_ns = hc->ac->table->now_ns;
    st->next = hc->streams;
    st->prev = NULL;
    if (hc->streams)
        hc->streams->prev = st;
    hc->streams = st;
    hc->nstreams++;
    /* a request is in flight: what it needs is bounded by its own deadlines (body, send timeout), and
     * HTTP/2's preface wait, which an h2c upgrade's stream 1 does not end */
    if (hc->wait == HTTP_WAIT_IDLE || hc->wait == HTTP_WAIT_HEAD)
        http_conn_wait(hc, HTTP_WAIT_NONE);
    return st;
}

/* st's request, in the worker's access log ring: numbers and the strings copied, nothing formatted, no
 * system call; when the logger is behind, the ring counts it dropped. */
static void access_record(struct access_ring *ring, const struct http_stream *st)
{
    const struct http_request *req = &st->req;
    const struct app_conn *ac = st->conn->ac;
    struct access_str str[ACCESS_F_COUNT] = {
        [ACCESS_F_METHOD] = {req->method_name.ptr, req->method_name.len},
        [ACCESS_F_PATH] = {req->path.ptr, req->path.len},
        [ACCESS_F_QUERY] = {req->query.ptr, req->query.len},
    };
    uint32_t want = ring->fields;
    struct access_record *r;

    if ((want & ACCESS_FIELD_BIT(ACCESS_F_HOST)) && req->authority.len) {
        str[ACCESS_F_HOST] = (struct access_str){req->authority.ptr, req->authority.len};
        want &= ~ACCESS_FIELD_BIT(ACCESS_F_HOST);
    }

    /* the optional strings the format prints, in one pass over the fields (their names are lowercase) */
    for (uint32_t i = 0; want && i < req->nheaders; i++) {
        const struct http_str *n = &req->headers[i].name;
        int f = n->len == 4 && !memcmp(n->ptr, "host", 4)           ? ACCESS_F_HOST
                : n->len == 7 && !memcmp(n->ptr, "referer", 7)      ? ACCESS_F_REFERER
                : n->len == 10 && !memcmp(n->ptr, "user-agent", 10) ? ACCESS_F_USER_AGENT
                                                                    : -1;

        if (f >= 0 && (want & ACCESS_FIELD_BIT(f))) {
            str[f] = (struct access_str){req->headers[i].value.ptr, req->headers[i].value.len};
            want &= ~ACCESS_FIELD_BIT(f);
        }
    }
    r = access_ring_record(ring, str);
    if (!r)
        return;
    r->status = (uint16_t)(st->status ? st->status : 499); /* 499 (nginx's): no answer was sent */
    r->route = (int16_t)(req->route.result == ROUTER_FOUND ? req->route.route : -1);
    r->worker = ring->worker;
    r->end_ns = ac->table->now_ns;
    r->duration_ns = r->end_ns - st->start_ns;
    r->bytes = st->body.sent;
    memcpy(r->addr, ac->peer, sizeof(r->addr));
    r->version = (uint8_t)req->http_version;
    r->flags |= ac->layer ? ACCESS_TLS : 0;
    access_ring_commit(ring, r);
}

void http_stream_free(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct http_worker *hw = hc->hw;

    if (st->prev)
        st->prev->next = st->next;
    else
        hc->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    hc->nstreams--;
    timer_cancel(&hw->deadlines, &st->deadline);
    timer_cancel(&hw->body_deadlines, &st->body_timer);
    /* the client went away before the answer was complete: a handler still at work must know */
    if (!st->aborted && st->req.on_abort && (!st->responded || !http_body_done(&st->body)))
        st->req.on_abort(&st->req);
    if (st->dispatched)
        http_request_ended(st);
    if (hw->access_ring && st->dispatched) /* off: this one predictable branch */
        access_record(hw->access_ring, st);
    hc->ops->stream_free(st);
    http_body_clear(hw, &st->body);
    if (st->req_buf)
        http_buf_put(hw, st->req_buf);
    st->next = hw->free_streams;
    hw->free_streams = st;
    hw->streams_used--;
    ASAN_POISON_MEMORY_REGION(st, offsetof(struct http_stream, next));
    /* the last request is over: the connection is idle until the next one (http_closed cancels this
     * for a connection that is going) */
    if (!hc->nstreams && hc->wait == HTTP_WAIT_NONE && !hc->closing && hc->ac && !hc->ac->shut)
        http_conn_wait(hc, HTTP_WAIT_IDLE);
}

/* ---- deadlines of slow and silent clients ------------------------------------------------------ */

static uint64_t conn_now_ms(const struct http_conn *hc)
{
    return hc->ac->table->now_ns / 1000000;
}

static uint32_t wait_ms(const struct http_config *cfg, enum http_wait what)
{
    switch (what) {
    case HTTP_WAIT_HEAD:
        return cfg->request_head_timeout_ms;
    case HTTP_WAIT_PREFACE:
        return cfg->preface_timeout_ms;
    case HTTP_WAIT_IDLE:
        return cfg->idle_timeout_ms;
    default:
        return 0;
    }
}

void http_conn_wait(struct http_conn *hc, enum http_wait what)
{
    struct http_worker *hw = hc->hw;
    bool began = hc->wait == HTTP_WAIT_HEAD || hc->wait == HTTP_WAIT_PREFACE;
    uint32_t ms = wait_ms(hw->cfg, what);

    if (what == hc->wait && timer_armed(&hc->wait_timer))
        return; /* a wait that goes on keeps its deadline: no byte buys more time */
    if (!began || (what != HTTP_WAIT_HEAD && what != HTTP_WAIT_PREFACE))
        hc->wait_since_ms = conn_now_ms(hc);
    hc->wait = (uint8_t)what;
    if (!ms) {
        timer_cancel(&hw->conn_deadlines, &hc->wait_timer);
        return;
    }
    timer_arm(&hw->conn_deadlines, &hc->wait_timer, hc->wait_since_ms + ms);
}

void http_conn_settled(struct http_conn *hc)
{
    if (hc->wait == HTTP_WAIT_PREFACE)
        http_conn_wait(hc, hc->nstreams ? HTTP_WAIT_NONE : HTTP_WAIT_IDLE);
}

/*
 * The connection's wait ran out: it is closed as the server's stop would close it (its protocol's
 * drain), which with nothing in flight is at once: HTTP/2 says GOAWAY NO_ERROR first (RFC 9113 6.8:
 * the client knows no request of it was dropped), HTTP/1.1 closes (as nginx does when its
 * client_header_timeout or keepalive_timeout passes; a 408 is optional, RFC 9110 15.5.9, and would
 * meet a client that may have sent no request at all). A connection already shut is the lingering
 * close's to bound.
 */
static void conn_deadline_fire(struct timer *t, void *ctx)
{
    struct http_conn *hc = (struct http_conn *)((char *)t - offsetof(struct http_conn, wait_timer));
    struct http_worker *hw = ctx;
    enum http_wait what = hc->wait;

    hc->wait = HTTP_WAIT_NONE;
    if (!hc->ac || hc->ac->shut)
        return;
    if (what == HTTP_WAIT_IDLE)
        hw->stats.idle_timeout++;
    else if (what == HTTP_WAIT_PREFACE || hc->preface_seen || hc->ac->alpn == APP_ALPN_H2)
        hw->stats.preface_timeout++; /* undecided, but what came was the preface's start */
    else
        hw->stats.request_head_timeout++;
    hc->ops->drain(hc);
}

static uint64_t stream_now_ms(const struct http_stream *st)
{
    return conn_now_ms(st->conn);
}

void http_stream_body_wait(struct http_stream *st)
{
    struct http_worker *hw = st->conn->hw;
    uint32_t ms = hw->cfg->body_timeout_ms;

    if (!ms || st->request_done || st->aborted) {
        timer_cancel(&hw->body_deadlines, &st->body_timer);
        return;
    }
    timer_arm(&hw->body_deadlines, &st->body_timer, stream_now_ms(st) + ms);
}

/*
 * No request body byte came for body_timeout_ms. While any request of the connection holds body bytes
 * its handler has not released, the client may be held back by us (HTTP/1.1 stops reading past the
 * backlog, HTTP/2 withholds WINDOW_UPDATE): then the clock starts again. Otherwise the handler, unless
 * it ended its answer, hears on_abort (as for a gRPC deadline, grpc.c) and the protocol ends the
 * request (its body_timeout).
 */
static void body_deadline_fire(struct timer *t, void *ctx)
{
    struct http_stream *st = (struct http_stream *)((char *)t - offsetof(struct http_stream, body_timer));
    struct http_conn *hc = st->conn;
    struct http_worker *hw = ctx;
    struct http_request *req = &st->req;

    if (st->request_done || st->aborted || !hc->ac || hc->ac->shut)
        return;
    for (const struct http_stream *o = hc->streams; o; o = o->next)
        if (o->body_kept) {
            http_stream_body_wait(st);
            return;
        }
    hw->stats.body_timeout++;
    if (!st->responded || !st->body.ended) {
        void (*on_abort)(struct http_request *) = req->on_abort;

        req->on_abort = NULL;
        req->on_body = NULL;
        req->on_drain = NULL;
        if (on_abort)
            on_abort(req);
        req->user = NULL;
    }
    hc->ops->body_timeout(st);
}

/* ---- protocols ------------------------------------------------------------------------------- */

/* Give hc the protocol ops (its state zeroed) and start it; on refusal hc keeps the table it had. */
static int install(struct http_conn *hc, const struct http_proto_ops *ops, const struct http_upgrade *up)
{
    const struct http_proto_ops *prev = hc->ops;

    memset(&hc->proto, 0, sizeof(hc->proto));
    hc->ops = ops;
    if (!ops->start(hc, up)) {
        if (ops ==
            hc->hw->h2) /* its preface (the rest of it, or all of it after an h2c upgrade) and SETTINGS */
            http_conn_wait(hc, HTTP_WAIT_PREFACE);
        return 0;
    }
    memset(&hc->proto, 0, sizeof(hc->proto));
    hc->ops = prev;
    return -1;
}

int http_conn_upgrade(struct http_conn *hc, const struct http_upgrade *up)
{
    return install(hc, hc->hw->h2, up);
}

/* A connection whose TLS ALPN chose h2 must open with the client preface; anything else is a
 * connection error (RFC 9113 3.4), answered by closing, since the client may not speak HTTP/2 at all. */
static int preface_error_start(struct http_conn *hc, const struct http_upgrade *up)
{
    (void)up;
    hc->hw->stats.protocol_errors++;
    app_shutdown(hc->ac);
    return 0;
}

static void preface_error_input(struct http_conn *hc)
{
    (void)hc;
}

static const struct http_proto_ops preface_error_ops = {
    .name = "h2-preface-error",
    .start = preface_error_start,
    .input = preface_error_input,
    .output = preface_error_input,
    .drain = preface_error_input,
    .end = preface_error_input,
};

/*
 * Prior knowledge is the client preface; anything that stops matching it is HTTP/1.1 (unless TLS's
 * ALPN chose one of them: then it is that one). What matches
 * is consumed as it comes (hc->preface_seen): otherwise a client that sends part of it and its FIN
 * would never be seen to end (the transport's eof waits for every byte to be read). The protocol
 * chosen is handed those bytes from the constant (its start, or h1.c's replay). NULL: undecided.
 */
static const struct http_proto_ops *detect(struct http_conn *hc)
{
    struct app_conn *ac = hc->ac;
    struct iovec iov[4];
    size_t seen = hc->preface_seen, took = 0;
    int n;

    if (ac->alpn == APP_ALPN_HTTP11)
        return &h1_proto_ops;
    n = app_peek(ac, iov, 4);

    for (int i = 0; i < n && seen < HTTP_H2_PREFACE_LEN; i++) {
        size_t take =
            iov[i].iov_len < HTTP_H2_PREFACE_LEN - seen ? iov[i].iov_len : HTTP_H2_PREFACE_LEN - seen;

        if (memcmp(iov[i].iov_base, &HTTP_H2_PREFACE[seen], take))
            return ac->alpn == APP_ALPN_H2
                       ? &preface_error_ops
                       : &h1_proto_ops; /* what matched in this call is still in the transport */
        seen += take;
        took += take;
    }
    app_consume(ac, took);
    hc->preface_seen = (uint8_t)seen;
    if (seen == HTTP_H2_PREFACE_LEN)
        return hc->hw->h2;
    if (app_eof(ac) && seen)
        return ac->alpn == APP_ALPN_H2 ? &preface_error_ops : &h1_proto_ops;
    return NULL;
}

static void detect_input(struct http_conn *hc)
{
    const struct http_proto_ops *ops = detect(hc);

    if (!ops) {
        if (app_eof(hc->ac))
            app_shutdown(hc->ac);
        return;
    }
    if (install(hc, ops, NULL)) {
        app_abort(hc->ac);
        return;
    }
    hc->ops->input(hc);
}

static void detect_output(struct http_conn *hc)
{
    (void)hc; /* nothing was written yet */
}

static void detect_drain(struct http_conn *hc)
{
    app_shutdown(hc->ac);
}

static void detect_end(struct http_conn *hc)
{
    (void)hc;
}

/* Until the first bytes tell the protocol. No stream exists yet: the stream calls stay NULL. */
static const struct http_proto_ops detect_ops = {
    .name = "detect",
    .input = detect_input,
    .output = detect_output,
    .drain = detect_drain,
    .end = detect_end,
};

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
    hc->ops = &detect_ops;
    ac->proto = hc;
    hw->stats.connections++;
    if (!ac->layer) /* else once its handshake is done (http_ready) */
        http_conn_wait(hc, HTTP_WAIT_HEAD);
}

/* The layer's handshake is done (TLS): the first bytes are due, HTTP/2's preface if ALPN chose h2. A
 * connection that already chose its protocol (requests in TLS 0-RTT early data) keeps its own wait. */
static void http_ready(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    if (hc && hc->ops == &detect_ops)
        http_conn_wait(hc, ac->alpn == APP_ALPN_H2 ? HTTP_WAIT_PREFACE : HTTP_WAIT_HEAD);
}

static void http_readable(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    hc->ops->input(hc);
}

static void http_drain(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    hc->ops->drain(hc);
}

static void http_writable(struct app_conn *ac)
{
    struct http_conn *hc = ac->proto;

    hc->ops->output(hc);
}

static void http_closed(struct app_conn *ac, int error)
{
    struct http_conn *hc = ac->proto;
    struct http_worker *hw;

    (void)error;
    if (!hc)
        return;
    hw = hc->hw;
    hc->ops->end(hc);
    while (hc->streams)
        http_stream_free(hc->streams);
    timer_cancel(&hw->conn_deadlines, &hc->wait_timer);
    hc->wait = HTTP_WAIT_NONE;
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
    .ready = http_ready,
};
