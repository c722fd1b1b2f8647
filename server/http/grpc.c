/*
 * grpc.c — gRPC over the handler API (include/sluice/grpc.h): length-prefixed messages in and out,
 * grpc-status in trailers or trailers-only, the library's own errors as gRPC statuses, and the
 * grpc-timeout deadline.
 *
 * Built on http.h's calls only, but for the deadline, which lives in the core: each gRPC stream with a
 * grpc-timeout holds one timer on its worker's wheel (struct http_worker's deadlines), armed at
 * dispatch and cancelled when the stream is freed, so a deadline costs O(1) to arm and to cancel
 * however many streams wait, and the wheel is advanced once per loop iteration (http_worker_tick).
 * Nothing here blocks; the only allocations are a message split across body chunks (bounded by the
 * reader's max) and the unary answer's buffer (grpc_msg_alloc).
 */
#include "sluice/grpc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_conn.h"

#define CONTENT_TYPE "application/grpc"
/* grpc-message after percent-encoding: its raw text is cut to fit the response header arena, which the
 * other fields share */
#define MESSAGE_MAX 256

bool grpc_is_request(const struct http_request *req)
{
    struct http_str ct = http_header(req, "content-type");
    size_t n = sizeof(CONTENT_TYPE) - 1;

    return ct.ptr && ct.len >= n && !strncasecmp(ct.ptr, CONTENT_TYPE, n) &&
           (ct.len == n || ct.ptr[n] == '+' || ct.ptr[n] == ';');
}

/* The brief's table, close to gRPC's "HTTP to gRPC Status Code Mapping" (doc/http-grpc-status-mapping.md)
 * but for overload, which that document calls UNAVAILABLE: here the client learns it was refused for
 * load (RESOURCE_EXHAUSTED), as a server that limits itself says. */
enum grpc_status grpc_status_of_http(int http_status)
{
    switch (http_status) {
    case 400:
    case 500:
        return GRPC_STATUS_INTERNAL;
    case 401:
        return GRPC_STATUS_UNAUTHENTICATED;
    case 403:
        return GRPC_STATUS_PERMISSION_DENIED;
    case 404:
    case 405:
    case 501:
        return GRPC_STATUS_UNIMPLEMENTED;
    case 408:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case 413:
    case 429:
    case 431:
    case 503:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case 425:
    case 502:
    case 504:
        return GRPC_STATUS_UNAVAILABLE;
    default:
        return GRPC_STATUS_UNKNOWN;
    }
}

/* ---- reading messages ------------------------------------------------------------------------------ */

void grpc_reader_init(struct grpc_reader *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
}

void grpc_reader_free(struct grpc_reader *r)
{
    free(r->_buf);
    r->_buf = NULL;
}

enum grpc_status grpc_reader_feed(struct grpc_reader *r, const uint8_t *data, size_t len,
                                  grpc_message_fn on_message, void *ctx)
{
    enum grpc_status status;

    while (len) {
        if (r->_prefix_len < GRPC_PREFIX_LEN) { /* the prefix, maybe itself split */
            size_t want = (size_t)(GRPC_PREFIX_LEN - r->_prefix_len), take = want < len ? want : len;

            memcpy(r->_prefix + r->_prefix_len, data, take);
            r->_prefix_len += (uint8_t)take;
            data += take;
            len -= take;
            if (r->_prefix_len < GRPC_PREFIX_LEN)
                break;
            if (r->_prefix[0] & 1) /* we announce no grpc-encoding, so a client should not compress */
                return GRPC_STATUS_UNIMPLEMENTED;
            r->_need = (size_t)r->_prefix[1] << 24 | (size_t)r->_prefix[2] << 16 |
                       (size_t)r->_prefix[3] << 8 | r->_prefix[4];
            if (r->_need > r->max)
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
            r->_len = 0;
        }
        if (!r->_len && len >= r->_need) { /* whole in this chunk: where it lies */
            status = on_message(ctx, data, r->_need);
            data += r->_need;
            len -= r->_need;
        } else {
            size_t take = r->_need - r->_len < len ? r->_need - r->_len : len;

            if (!r->_buf && !(r->_buf = malloc(r->_need ? r->_need : 1)))
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
            memcpy(r->_buf + r->_len, data, take);
            r->_len += take;
            data += take;
            len -= take;
            if (r->_len < r->_need)
                break;
            status = on_message(ctx, r->_buf, r->_need);
            grpc_reader_free(r); /* sized for this message; the next gets its own */
        }
        r->_prefix_len = 0;
        r->_len = 0;
        if (status != GRPC_STATUS_OK)
            return status;
    }
    return GRPC_STATUS_OK;
}

enum grpc_status grpc_reader_end(const struct grpc_reader *r)
{
    return r->_prefix_len ? GRPC_STATUS_INTERNAL : GRPC_STATUS_OK;
}

/* ---- a unary request ------------------------------------------------------------------------------- */

struct unary {
    struct grpc_reader reader;
    void (*on_request)(struct http_request *req, const uint8_t *msg, size_t len);
    uint8_t *msg; /* the one message, kept until the request ends */
    size_t len;
    bool got;
    enum grpc_status failed;
};

static enum grpc_status unary_message(void *ctx, const uint8_t *msg, size_t len)
{
    struct unary *u = ctx;

    if (u->got)
        return GRPC_STATUS_INTERNAL; /* a unary method takes one message */
    u->got = true;
    u->len = len;
    if (!(u->msg = malloc(len ? len : 1)))
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    memcpy(u->msg, msg, len);
    return GRPC_STATUS_OK;
}

static void unary_free(struct unary *u)
{
    grpc_reader_free(&u->reader);
    free(u->msg);
    free(u);
}

static void unary_abort(struct http_request *req)
{
    unary_free(req->user);
}

static const char *status_text(enum grpc_status s)
{
    switch (s) {
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return "request message too large";
    case GRPC_STATUS_UNIMPLEMENTED:
        return "compressed messages are not supported";
    default:
        return "expected exactly one request message";
    }
}

static size_t unary_body(struct http_request *req, const uint8_t *data, size_t len, bool last)
{
    struct unary *u = req->user;
    enum grpc_status s = GRPC_STATUS_OK;

    if (u->failed == GRPC_STATUS_OK)
        u->failed = grpc_reader_feed(&u->reader, data, len, unary_message, u);
    if (!last && u->failed == GRPC_STATUS_OK)
        return len;
    /* answered now, the rest of the body is only let through (flow control) */
    req->on_body = NULL;
    req->on_abort = NULL;
    req->user = NULL;
    s = u->failed;
    if (s == GRPC_STATUS_OK)
        s = grpc_reader_end(&u->reader);
    if (s == GRPC_STATUS_OK && !u->got)
        s = GRPC_STATUS_INTERNAL;
    if (s == GRPC_STATUS_OK)
        u->on_request(req, u->msg, u->len);
    else
        grpc_respond_status(req, s, status_text(s));
    unary_free(u);
    return len;
}

static enum grpc_status pool_message(void *ctx, const uint8_t *msg, size_t len)
{
    struct unary *u = ctx;

    if (u->got)
        return GRPC_STATUS_INTERNAL;
    u->got = true;
    u->msg = (uint8_t *)msg; /* the body lies whole in the job for the handler's time */
    u->len = len;
    return GRPC_STATUS_OK;
}

int grpc_read_unary(struct http_request *req, size_t max,
                    void (*on_request)(struct http_request *req, const uint8_t *msg, size_t len))
{
    struct unary *u;

    if (req->_job) { /* on the pool: the body was collected whole */
        struct http_str body = http_request_body(req);
        struct unary pool = {.on_request = on_request};
        enum grpc_status s;

        grpc_reader_init(&pool.reader, max);
        s = grpc_reader_feed(&pool.reader, (const uint8_t *)body.ptr, body.len, pool_message, &pool);
        if (s == GRPC_STATUS_OK)
            s = grpc_reader_end(&pool.reader);
        if (s == GRPC_STATUS_OK && !pool.got)
            s = GRPC_STATUS_INTERNAL;
        if (s == GRPC_STATUS_OK)
            on_request(req, pool.msg, pool.len);
        else
            grpc_respond_status(req, s, status_text(s));
        grpc_reader_free(&pool.reader);
        return HANDLER_DONE;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        grpc_respond_status(req, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return HANDLER_DONE;
    }
    grpc_reader_init(&u->reader, max);
    u->on_request = on_request;
    req->user = u;
    req->on_abort = unary_abort;
    req->on_body = unary_body;
    if (req->_stream->request_done) /* no body will come (a HEADERS frame with END_STREAM) */
        unary_body(req, NULL, 0, true);
    return HANDLER_DONE;
}

/* ---- answering ------------------------------------------------------------------------------------- */

/* grpc-message is percent-encoded (PROTOCOL-HTTP2.md): bytes outside 0x20-0x7E, and '%', as %XX. */
static size_t percent_encode(const char *text, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            if (n + 1 > cap)
                break;
            out[n++] = (char)*p;
        } else {
            if (n + 3 > cap)
                break;
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    return n;
}

static void add_status(struct http_request *req, enum grpc_status code, const char *message,
                       bool (*add)(struct http_request *, const char *, const char *, size_t))
{
    char num[12], text[MESSAGE_MAX];
    int n = snprintf(num, sizeof(num), "%d", (int)code);

    add(req, "grpc-status", num, (size_t)n);
    if (message && *message)
        add(req, "grpc-message", text, percent_encode(message, text, sizeof(text)));
}

void grpc_respond_status(struct http_request *req, enum grpc_status code, const char *message)
{
    add_status(req, code, message, http_add_header);
    http_respond(req, 200, CONTENT_TYPE, NULL, 0);
}

uint8_t *grpc_msg_alloc(size_t len)
{
    uint8_t *p = len <= UINT32_MAX ? malloc(GRPC_PREFIX_LEN + len) : NULL;

    return p ? p + GRPC_PREFIX_LEN : NULL;
}

void grpc_msg_free(uint8_t *msg)
{
    if (msg)
        free(msg - GRPC_PREFIX_LEN);
}

static void msg_release(const void *body, size_t len)
{
    (void)len;
    free((void *)body);
}

static void put_prefix(uint8_t *p, size_t len)
{
    p[0] = 0; /* not compressed */
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
}

void grpc_respond_msg(struct http_request *req, uint8_t *msg, size_t len)
{
    uint8_t *p = msg - GRPC_PREFIX_LEN;

    put_prefix(p, len);
    add_status(req, GRPC_STATUS_OK, NULL, http_add_trailer);
    http_respond_owned(req, 200, CONTENT_TYPE, p, GRPC_PREFIX_LEN + len, msg_release);
}

void grpc_respond(struct http_request *req, const void *msg, size_t len)
{
    uint8_t *copy = grpc_msg_alloc(len);

    if (!copy) {
        grpc_respond_status(req, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    memcpy(copy, msg, len);
    grpc_respond_msg(req, copy, len);
}

void grpc_stream_begin(struct http_request *req)
{
    http_respond_stream(req, 200, CONTENT_TYPE, UINT64_MAX);
}

bool grpc_stream_send(struct http_request *req, const void *msg, size_t len)
{
    uint8_t prefix[GRPC_PREFIX_LEN];
    struct iovec iov[2] = {{prefix, sizeof(prefix)}, {(void *)msg, len}};

    if (len > UINT32_MAX)
        return false;
    put_prefix(prefix, len);
    /* both pieces queued before the protocol hears of them: an on_drain it calls may send the next */
    if (http_stream_writev(req, iov, 2))
        return true;
    http_reset(req);
    return false;
}

void grpc_stream_end(struct http_request *req, enum grpc_status code, const char *message)
{
    if (req->_job || !req->_stream->responded) {
        grpc_respond_status(req, code, message);
        return;
    }
    add_status(req, code, message, http_add_trailer);
    http_stream_end(req);
}

/* ---- the library's side ---------------------------------------------------------------------------- */

void grpc_library_error(struct http_request *req, int status)
{
    enum grpc_status code = grpc_status_of_http(status);
    char text[48];

    if (req->_stream) { /* on the worker: its counters (an offloaded handler's calls count nothing) */
        struct http_stats *s = &req->_stream->conn->hw->stats;

        switch (code) {
        case GRPC_STATUS_UNIMPLEMENTED:
            s->grpc_unimplemented++;
            break;
        case GRPC_STATUS_RESOURCE_EXHAUSTED:
            s->grpc_resource_exhausted++;
            break;
        case GRPC_STATUS_INTERNAL:
            s->grpc_internal++;
            break;
        case GRPC_STATUS_UNAVAILABLE:
            s->grpc_unavailable++;
            break;
        default:
            s->grpc_other_status++;
            break;
        }
    }
    snprintf(text, sizeof(text), "HTTP %d %s", status, http_status_text(status));
    grpc_respond_status(req, code, text);
}

/* grpc-timeout (PROTOCOL-HTTP2.md): 1 to 8 digits and a unit, H M S m u n; in milliseconds, rounded up
 * (a wheel tick is one). 99999999H is 3.6e14 ms: no overflow. */
static bool parse_timeout(struct http_str s, uint64_t *ms)
{
    uint64_t v = 0;

    if (s.len < 2 || s.len > 9)
        return false;
    for (size_t i = 0; i + 1 < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    switch (s.ptr[s.len - 1]) {
    case 'H':
        *ms = v * 3600000;
        return true;
    case 'M':
        *ms = v * 60000;
        return true;
    case 'S':
        *ms = v * 1000;
        return true;
    case 'm':
        *ms = v;
        return true;
    case 'u':
        *ms = (v + 999) / 1000;
        return true;
    case 'n':
        *ms = (v + 999999) / 1000000;
        return true;
    default:
        return false;
    }
}

void grpc_deadline_arm(struct http_stream *st)
{
    struct http_worker *hw = st->conn->hw;
    struct http_str t = http_header(&st->req, "grpc-timeout");
    uint64_t ms;

    if (!t.ptr)
        return;
    if (!parse_timeout(t, &ms)) {
        hw->stats.grpc_timeout_malformed++;
        return;
    }
    timer_arm(&hw->deadlines, &st->deadline, st->conn->ac->table->now_ns / 1000000 + ms);
}

/*
 * The deadline passed. A handler that has ended its answer is left alone (what it queued goes out, as
 * the client's own deadline will judge). Otherwise the handler hears on_abort first, so it stops and
 * lets go of the request (an offloaded job is abandoned), then the library ends the answer: trailers-
 * only when nothing was answered, trailers after the queued messages of a stream, or RST_STREAM for a
 * body that cannot take trailers any more.
 */
void grpc_deadline_fire(struct timer *t, void *ctx)
{
    struct http_stream *st = (struct http_stream *)((char *)t - offsetof(struct http_stream, deadline));
    struct http_worker *hw = ctx;
    struct http_request *req = &st->req;
    void (*on_abort)(struct http_request *) = req->on_abort;

    if (st->aborted || (st->responded && st->body.ended))
        return;
    hw->stats.grpc_deadline_exceeded++;
    req->on_abort = NULL;
    req->on_body = NULL;
    req->on_drain = NULL;
    if (on_abort)
        on_abort(req);
    req->user = NULL;
    if (!st->responded) {
        grpc_respond_status(req, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
    } else if (http_add_trailer(req, "grpc-status", "4", 1)) {
        http_add_trailer(req, "grpc-message", "deadline exceeded", 17);
        http_stream_end(req);
    } else {
        hw->stats.grpc_deadline_reset++;
        http_reset(req);
    }
}
