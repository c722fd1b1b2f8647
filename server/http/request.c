/*
 * request.c — the handler's side of a request (http.h): params and headers, the response builder,
 * response bodies and how their bytes reach the transport, and routing to the handler.
 *
 * A body's bytes are copied once, from where they lie (static memory, a mapped file, the pool
 * buffers a handler wrote into) into the transport's transmit buffers; generated bodies are
 * produced there directly. The protocols (h2/nghttp2_session.c, h1.c) decide when and how many.
 *
 * Part of the protocol-neutral core: response headers are kept as plain name/value slices until
 * the protocol encodes them, and the protocol is reached only through its connection's
 * http_proto_ops (respond, resume, consumed, reset).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/probes.h"
#include "http/http_conn.h"
#include "sluice/grpc.h"

struct http_str http_param(const struct http_request *req, const char *name)
{
    for (uint16_t i = 0; i < req->route.nparams; i++)
        if (!strcmp(req->route.params[i].name, name))
            return (struct http_str){req->route.params[i].value, req->route.params[i].len};
    return (struct http_str){"", 0};
}

bool http_str_u64(struct http_str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s.len || s.len > 20)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static struct http_str find_field(const struct http_header *fields, uint32_t n, const char *name)
{
    size_t len = strlen(name);

    for (uint32_t i = 0; i < n; i++)
        if (fields[i].name.len == len && !strncasecmp(fields[i].name.ptr, name, len))
            return fields[i].value;
    return (struct http_str){NULL, 0};
}

struct http_str http_header(const struct http_request *req, const char *name)
{
    return find_field(req->headers, req->nheaders, name);
}

struct http_str http_trailer(const struct http_request *req, const char *name)
{
    return find_field(req->trailers, req->ntrailers, name);
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void http_count_status(struct http_worker *hw, int status)
{
    if (status >= 500)
        hw->stats.responses_5xx++;
    else if (status >= 400)
        hw->stats.responses_4xx++;
    else if (status >= 300)
        hw->stats.responses_3xx++;
    else
        hw->stats.responses_2xx++;
}

/* ---- response headers ------------------------------------------------------------------------- */

static const char *arena_copy(struct http_stream *st, const char *s, size_t len)
{
    char *dst;

    if (st->arena_used + len + 1 > sizeof(st->arena))
        return NULL;
    dst = st->arena + st->arena_used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    st->arena_used += (uint32_t)len + 1;
    return dst;
}

/* A header field goes before the trailer fields added so far (resp[] keeps headers, then trailers):
 * they move up one, a few small copies at most, on a header added after a trailer. */
static bool add_resp(struct http_stream *st, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    if (st->nresp + st->ntrailers == HTTP_MAX_RESP_HEADERS)
        return false;
    memmove(&st->resp[st->nresp + 1], &st->resp[st->nresp], st->ntrailers * sizeof(st->resp[0]));
    st->resp[st->nresp++] = (struct http_header){{name, name_len}, {value, value_len}};
    return true;
}

/* A response field as both protocols can carry it: a lowercase token name, no CR, LF or NUL in the value. */
static bool field_ok(const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (!name_len)
        return false;
    for (size_t i = 0; i < name_len; i++)
        if ((name[i] >= 'A' && name[i] <= 'Z') || name[i] <= ' ' || name[i] == ':' || name[i] > '~')
            return false;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return false;
    return true;
}

bool http_add_header(struct http_request *req, const char *name, const char *value, size_t value_len)
{
    struct http_stream *st = req->_stream;
    size_t name_len = strlen(name);
    const char *n, *v;

    if (!field_ok(name, name_len, value, value_len))
        return false;
    if (req->_job)
        return http_offload_add_header(req->_job, name, name_len, value, value_len);
    if (st->responded)
        return false;
    n = arena_copy(st, name, name_len);
    v = n ? arena_copy(st, value, value_len) : NULL;
    return v && add_resp(st, n, name_len, v, value_len);
}

bool http_add_trailer(struct http_request *req, const char *name, const char *value, size_t value_len)
{
    struct http_stream *st = req->_stream;
    size_t name_len = strlen(name);
    const char *n, *v;

    if (!field_ok(name, name_len, value, value_len))
        return false;
    if (req->_job)
        return http_offload_add_trailer(req->_job, name, name_len, value, value_len);
    /* before any answer (they go with whatever body it has), or while a streamed body is still open */
    if ((st->responded && (st->body.kind != BODY_QUEUE || st->body.ended)) || st->head_only ||
        st->nresp + st->ntrailers == HTTP_MAX_RESP_HEADERS)
        return false;
    n = arena_copy(st, name, name_len);
    v = n ? arena_copy(st, value, value_len) : NULL;
    if (!v)
        return false;
    st->resp[st->nresp + st->ntrailers++] = (struct http_header){{n, name_len}, {v, value_len}};
    return true;
}

/* ---- bodies ------------------------------------------------------------------------------------ */

uint64_t http_body_available(const struct http_body *b)
{
    switch (b->kind) {
    case BODY_MEMORY:
    case BODY_GENERATED:
        return b->length - b->sent;
    case BODY_QUEUE:
        return b->queued;
    default:
        return 0;
    }
}

bool http_body_done(const struct http_body *b)
{
    return b->kind == BODY_NONE || (b->ended && http_body_available(b) == 0);
}

void http_body_clear(struct http_worker *hw, struct http_body *b)
{
    while (b->head) {
        struct http_buf *next = b->head->next;

        http_buf_put(hw, b->head);
        b->head = next;
    }
    b->tail = NULL;
    b->queued = 0;
    if (b->release) {
        b->release(b->memory, b->length);
        b->release = NULL;
    }
}

void http_body_write(struct http_stream *st, size_t n)
{
    struct http_conn *hc = st->conn;
    struct http_worker *hw = hc->hw;
    struct http_body *b = &st->body;
    struct app_conn *ac = hc->ac;
    size_t total = n;

    hw->stats.body_bytes_out += n;
    if (b->kind != BODY_GENERATED)
        hw->stats.body_bytes_copied += n;
    while (n) {
        size_t room;
        uint8_t *dst = app_reserve(ac, &room);

        if (!dst)
            break; /* callers checked app_writable_bytes: not reached */
        if (room > n)
            room = n;
        switch (b->kind) {
        case BODY_MEMORY:
            memcpy(dst, b->memory + b->sent, room);
            break;
        case BODY_GENERATED:
            b->generate(b->generate_ctx, b->sent, dst, room);
            break;
        case BODY_QUEUE: {
            struct http_buf *buf;

            while (b->head->off == b->head->len && b->head->next) { /* drained, and no longer the tail */
                buf = b->head;
                b->head = buf->next;
                http_buf_put(hw, buf);
            }
            buf = b->head;
            if (room > buf->len - buf->off)
                room = buf->len - buf->off;
            memcpy(dst, buf->data + buf->off, room);
            buf->off += (uint32_t)room;
            b->queued -= room;
            if (buf->off == buf->len && !buf->next && b->ended) {
                b->head = b->tail = NULL;
                http_buf_put(hw, buf);
            }
            break;
        }
        default:
            return;
        }
        app_commit(ac, room);
        b->sent += room;
        n -= room;
    }
    if (b->kind == BODY_QUEUE && st->req.on_drain)
        st->req.on_drain(&st->req, total - n);
}

/* ---- answering --------------------------------------------------------------------------------- */

static void respond(struct http_stream *st, int status, const char *content_type)
{
    struct http_conn *hc = st->conn;
    uint64_t length = st->body.kind == BODY_NONE ? 0 : st->body.length;

    if (st->responded)
        return;
    st->responded = true;
    st->status = status;
    http_count_status(hc->hw, status);
    if (content_type)
        add_resp(st, "content-type", 12, content_type, strlen(content_type));
    if (length != UINT64_MAX && status >= 200 && status != 204 && status != 304) {
        char text[20], *p = text + sizeof(text); /* decimal digits, last first: no printf per response */
        const char *v;

        do
            *--p = (char)('0' + length % 10);
        while (length /= 10);
        v = arena_copy(st, p, (size_t)(text + sizeof(text) - p));
        if (v)
            add_resp(st, "content-length", 14, v, (size_t)(text + sizeof(text) - p));
    }
    if (st->head_only) { /* HEAD: the headers a GET would have, no body */
        http_body_clear(hc->hw, &st->body);
        st->body.kind = BODY_NONE;
    }
    hc->ops->respond(st);
}

static bool body_begin(struct http_stream *st, enum body_kind kind, uint64_t length)
{
    if (st->responded)
        return false;
    memset(&st->body, 0, sizeof(st->body));
    st->body.kind = kind;
    st->body.length = length;
    return true;
}

void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    http_respond_owned(req, status, content_type, body, len, NULL);
}

void http_respond_owned(struct http_request *req, int status, const char *content_type, const void *body,
                        size_t len, void (*release)(const void *body, size_t len))
{
    struct http_stream *st = req->_stream;

    if (req->_job) {
        http_offload_respond(req->_job, status, content_type, body, len, release, false);
        return;
    }
    if (!body_begin(st, len ? BODY_MEMORY : BODY_NONE, len)) {
        if (release)
            release(body, len);
        return;
    }
    st->body.length = len; /* also for an empty body, which stays BODY_NONE */
    st->body.memory = body;
    st->body.ended = true;
    st->body.release = release;
    respond(st, status, content_type);
}

void http_respond_generated(struct http_request *req, int status, const char *content_type, uint64_t len,
                            void (*generate)(void *ctx, uint64_t offset, uint8_t *dst, size_t n), void *ctx)
{
    struct http_stream *st = req->_stream;

    if (req->_job) {
        http_offload_respond_generated(req->_job, status, content_type, len, generate, ctx);
        return;
    }
    if (!body_begin(st, len ? BODY_GENERATED : BODY_NONE, len))
        return;
    st->body.generate = generate;
    st->body.generate_ctx = ctx;
    st->body.ended = true;
    respond(st, status, content_type);
}

void http_respond_stream(struct http_request *req, int status, const char *content_type, uint64_t length)
{
    struct http_stream *st = req->_stream;

    if (req->_job) {
        http_offload_unsupported(req->_job);
        return;
    }
    if (!body_begin(st, length == 0 ? BODY_NONE : BODY_QUEUE, length))
        return;
    respond(st, status, content_type);
}

/* Queue bytes without telling the protocol; respond or resume does that. */
static size_t queue(struct http_stream *st, const void *data, size_t len)
{
    struct http_body *b = &st->body;
    const uint8_t *src = data;
    size_t done = 0;

    while (done < len) {
        struct http_buf *t = b->tail;
        size_t room;

        if (!t || t->len == HTTP_BUF_SIZE) {
            t = http_buf_get(st->conn->hw);
            if (!t)
                break;
            if (b->tail)
                b->tail->next = t;
            else
                b->head = t;
            b->tail = t;
        }
        room = HTTP_BUF_SIZE - t->len;
        if (room > len - done)
            room = len - done;
        memcpy(t->data + t->len, src + done, room);
        t->len += (uint32_t)room;
        b->queued += room;
        done += room;
    }
    return done;
}

void http_respond_copy(struct http_request *req, int status, const char *content_type, const void *body,
                       size_t len)
{
    struct http_stream *st = req->_stream;

    if (req->_job) {
        http_offload_respond(req->_job, status, content_type, body, len, NULL, true);
        return;
    }
    if (!body_begin(st, len ? BODY_QUEUE : BODY_NONE, len))
        return;
    if (queue(st, body, len) < len) {
        http_body_clear(st->conn->hw, &st->body);
        memset(&st->body, 0, sizeof(st->body));
        respond(st, 503, NULL);
        return;
    }
    st->body.ended = true;
    respond(st, status, content_type);
}

void http_respond_error(struct http_request *req, int status)
{
    char text[64];
    int len;

    /* a gRPC client reads its answer in grpc-status, and an HTTP error page would only say "unknown" */
    if (grpc_is_request(req)) {
        grpc_library_error(req, status);
        return;
    }
    len = snprintf(text, sizeof(text), "%d %s\n", status, http_status_text(status));
    http_respond_copy(req, status, "text/plain; charset=utf-8", text, (size_t)len);
}

static void resume(struct http_stream *st)
{
    if (!st->responded || st->head_only)
        return;
    st->conn->ops->resume(st);
}

size_t http_stream_write(struct http_request *req, const void *data, size_t len)
{
    struct http_stream *st = req->_stream;
    size_t done;

    if (req->_job)
        return 0;
    if (st->body.kind != BODY_QUEUE || st->body.ended)
        return 0;
    done = queue(st, data, len);
    if (done)
        resume(st);
    return done;
}

bool http_stream_writev(struct http_request *req, const struct iovec *iov, int n)
{
    struct http_stream *st = req->_stream;
    size_t want = 0, done = 0;

    if (req->_job || st->body.kind != BODY_QUEUE || st->body.ended)
        return false;
    for (int i = 0; i < n; i++) {
        want += iov[i].iov_len;
        done += queue(st, iov[i].iov_base, iov[i].iov_len);
    }
    if (done)
        resume(st);
    return done == want;
}

void http_stream_end(struct http_request *req)
{
    struct http_stream *st = req->_stream;

    if (req->_job)
        return;
    if (st->body.ended)
        return;
    st->body.ended = true;
    resume(st);
}

size_t http_stream_queued(const struct http_request *req)
{
    return req->_job ? 0 : req->_stream->body.queued;
}

void http_body_release(struct http_request *req, size_t n)
{
    struct http_stream *st = req->_stream;

    if (req->_job)
        return;
    if (n > st->body_kept)
        n = st->body_kept;
    st->body_kept -= n;
    st->conn->ops->consumed(st, n);
}

void http_reset(struct http_request *req)
{
    struct http_stream *st = req->_stream;

    if (req->_job) {
        http_offload_reset(req->_job);
        return;
    }
    st->aborted = true;
    st->conn->ops->reset(st);
}

struct http_str http_request_body(const struct http_request *req)
{
    return req->_job ? http_offload_body(req->_job) : (struct http_str){"", 0};
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* The route that ran for st's request, -1 for none (404, 405, or a limit's answer before the router). */
static int route_of(const struct http_stream *st)
{
    return st->req.route.result == ROUTER_FOUND ? st->req.route.route : -1;
}

/* A route's name for the probes: the routes file's "METHODS pattern", "none" when no route ran. */
static const char *route_label(const struct http_worker *hw, int route)
{
    return route >= 0 && route < hw->cfg->router->route_count ? hw->route_labels[route] : "none";
}

static uint32_t conn_id(const struct http_conn *hc)
{
    return hc->ac ? app_conn_id(hc->ac) : UINT32_MAX;
}

/* The request's path as the probes carry it: NUL-terminated in buf, cut to SLUICE_PROBE_PATH_MAX - 1
 * bytes. Evaluated only while a tracer is attached (the probe macros test their semaphore first). */
static const char *probe_path(char buf[SLUICE_PROBE_PATH_MAX], const struct http_request *req)
{
    size_t n = req->path.len < SLUICE_PROBE_PATH_MAX - 1 ? req->path.len : SLUICE_PROBE_PATH_MAX - 1;

    if (n)
        memcpy(buf, req->path.ptr, n);
    buf[n] = '\0';
    return buf;
}

void http_request_ended(struct http_stream *st)
{
    struct http_worker *hw = st->conn->hw;
    uint64_t now = st->conn->ac ? st->conn->ac->table->now_ns : st->start_ns;
    uint64_t ns = now > st->start_ns ? now - st->start_ns : 0;
    int status = st->status; /* 0 when nothing was answered */
    char path[SLUICE_PROBE_PATH_MAX];

    SLUICE_PROBE_REQUEST_END(hw->worker, route_label(hw, route_of(st)), method_name(st->req.method),
                             probe_path(path, &st->req), status, ns);
    if (status)
        http_latency_observe(&hw->latency, route_of(st), status, ns);
}

void http_probe_overload(const struct http_stream *st, const char *reason, int status)
{
    const struct http_worker *hw = st->conn->hw;

    SLUICE_PROBE_OVERLOAD(hw->worker, conn_id(st->conn), st->id, reason, route_label(hw, route_of(st)),
                          status);
}

static void allow_header(struct http_stream *st, uint32_t allow)
{
    char text[96];
    size_t n = 0;

    for (int m = 0; m < METHOD_COUNT; m++)
        if (allow & (1u << m))
            n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", n ? ", " : "",
                                  method_name((enum method)m));
    http_add_header(&st->req, "allow", text, n);
}

/* The client is over its rate ([http] rate_limit_rps): answered 429 with Retry-After. The time is the
 * worker loop's clock, read once per batch: no clock read per request. */
static bool over_rate(struct http_worker *hw, struct http_stream *st)
{
    uint32_t wait;
    char text[16];
    int n;

    if (rate_limit_take(hw->rate_limit, st->conn->ac->peer, st->conn->ac->table->now_ns, &wait))
        return false;
    hw->stats.rate_limited++;
    http_probe_overload(st, "rate_limited", 429);
    n = snprintf(text, sizeof(text), "%u", wait);
    http_add_header(&st->req, "retry-after", text, (size_t)n);
    http_respond_error(&st->req, 429);
    return true;
}

void http_dispatch(struct http_stream *st)
{
    struct http_request *req = &st->req;
    struct http_worker *hw = st->conn->hw;
    char path[SLUICE_PROBE_PATH_MAX];

    hw->stats.requests++;
    st->dispatched = true;
    req->route.result = ROUTER_NOT_FOUND; /* until matched: 425 and 429 are answered before the router */
    if (!req->path.ptr)                   /* CONNECT has no :path (RFC 9113 8.5): no route has it, so 404 */
        req->path = (struct http_str){"", 0};
    SLUICE_PROBE_REQUEST_START(hw->worker, conn_id(st->conn), st->id, method_name(req->method),
                               probe_path(path, req), req->http_version);
    http_stream_body_wait(st); /* a body still to come is due within body_timeout_ms */
    st->head_only = req->method == METHOD_HEAD;
    st->grpc = grpc_is_request(req);
    if (st->grpc)
        hw->stats.grpc_requests++;
    req->early = st->conn->ac->early;
    if (req->early && req->method != METHOD_GET && req->method != METHOD_HEAD &&
        req->method != METHOD_OPTIONS) {
        hw->stats.too_early++;
        http_respond_error(req, 425);
        return;
    }
    if (req->early)
        hw->stats.early_requests++;
    if (hw->rate_limit && over_rate(hw, st))
        return;
    hw->cfg->router->match(req->method, req->path.ptr, req->path.len, &req->route);
    switch (req->route.result) {
    case ROUTER_FOUND:
        if (st->grpc) /* before the handler, which may answer at once (and cancel it) */
            grpc_deadline_arm(st);
        hw->cfg->router->dispatch(req->route.route, req);
        break;
    case ROUTER_METHOD_NOT_ALLOWED:
        hw->stats.method_not_allowed++;
        allow_header(st, req->route.allow);
        http_respond_error(req, 405);
        break;
    default:
        hw->stats.not_found++;
        http_respond_error(req, 404);
        break;
    }
}
