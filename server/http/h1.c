/*
 * h1.c — HTTP/1.1 (and 1.0) for clients that speak only that (curl's default, health checkers),
 * with keep-alive, pipelining one request at a time, chunked responses when the length is unknown
 * (close-delimited for HTTP/1.0), Expect: 100-continue, and the Upgrade: h2c path into HTTP/2
 * (RFC 7540 3.2).
 *
 * Framing is h1_parse.c's, strict per RFC 9112: the request head is copied once into a pool
 * buffer the request keeps (it may arrive in pieces, across segments) and split there in place;
 * the body reaches the handler's on_body where it lies, chunked framing decoded around it. Input
 * stops while a response is in progress, and while a handler keeps more request body than the
 * configured backlog, so a client that pushes faster than the handler goes is held back by TCP,
 * not by memory. A refused request gets its status (400, 431, 501, 505; 503 with Retry-After when
 * a pool is exhausted) and the connection closes; the app layer then discards what the client
 * still sends (lingering close, app.h).
 *
 * What a handler answers while the input is being read is written once the input at hand is
 * parsed: a framing error further on in the same bytes (a bad chunk size after the head) still
 * gets its 400 instead of a 200 head and a cut body. An error after the head went out can only
 * reset the connection.
 *
 * The core reaches this file through h1_proto_ops (h1.h); its state is struct h1_conn, in the
 * connection's protocol union. Responses are written from the protocol-neutral headers the core
 * kept. An Upgrade: h2c is not done here: once the request is complete, and no h1 call is left on
 * the stack, h1.c asks the core to switch (http_conn_upgrade), which installs HTTP/2's table over
 * this state; after that h1.c touches only the stream and the transport.
 */
#include "http/h1.h"

#include <stdio.h>
#include <string.h>

#include "http/http_conn.h"

static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char SWITCHING_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";
/* seconds a client refused for want of a free stream or buffer is asked to wait (RFC 9110 10.2.3) */
#define RETRY_AFTER "1"

static struct h1_conn *h1_of(struct http_conn *hc)
{
    return &hc->proto.h1;
}

static void refuse(struct http_conn *hc, int status);

/* ---- upgrade to HTTP/2 ---------------------------------------------------------------------- */

/* HTTP2-Settings is base64url without padding (RFC 7540 3.2.1); returns the decoded length or -1. */
static ssize_t base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                : c == '='             ? -2
                                       : -1;

        if (v == -2)
            break;
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (ssize_t)n;
}

static void h1_conn_end(struct http_conn *hc);

/* A complete Upgrade: h2c request waits for the switch (upgrade_to_h2), which h1_leave makes. */
static bool upgrade_ready(const struct h1_conn *h)
{
    return h->upgrade_h2c && h->stream && h->stream->request_done;
}

/*
 * Switch to HTTP/2 with the request as its stream 1, from the outermost h1 call (h1_leave): the core
 * clears h1_conn as it installs HTTP/2's table, and no caller is left to read it. What HTTP/2 needs
 * (the stream, the decoded HTTP2-Settings, which lie in the stream's head buffer) is taken first.
 */
static void upgrade_to_h2(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    uint8_t settings[256];
    ssize_t len = base64url_decode(h->settings, h->settings_len, settings, sizeof(settings));
    struct http_upgrade up = {st, settings, len < 0 ? 0 : (size_t)len};

    h->stream = NULL;
    /* HTTP/2 first: the 101 goes out only once it took the HTTP2-Settings (nothing is written before) */
    if (len < 0 || app_writable_bytes(hc->ac) < sizeof(SWITCHING_101) - 1)
        goto refused;
    h1_conn_end(hc);                /* between requests h1 holds no buffer: this only makes sure */
    if (http_conn_upgrade(hc, &up)) /* h1_conn is all zero again: refuse needs none of it */
        goto refused;
    app_write(hc->ac, SWITCHING_101, sizeof(SWITCHING_101) - 1);
    hc->hw->stats.h2c_upgrades++;
    http_dispatch(st);
    hc->ops->input(hc); /* the rest of the input is HTTP/2, starting with the client preface */
    return;
refused:
    http_stream_free(st);
    refuse(hc, 400);
}

/* ---- input -------------------------------------------------------------------------------------- */

static bool response_done(const struct http_conn *hc);
static void response_complete(struct http_conn *hc);
static void output(struct http_conn *hc);

/*
 * Reset the connection. app_abort frees the connection and its stream at once, while the handler
 * or output loop that led here still uses them: inside h1_conn_input or h1_conn_output the reset
 * waits until the outermost of them returns (h1_leave), and nothing more is read meanwhile.
 */
static void h1_abort(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);

    hc->closing = true;
    h->error = true;
    if (!h->depth) {
        app_abort(hc->ac);
        return;
    }
    h->abort = true;
}

static void h1_enter(struct http_conn *hc)
{
    h1_of(hc)->depth++;
}

/* True when the connection is gone, or no longer HTTP/1.1: the caller returns at once. */
static bool h1_leave(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);

    if (--h->depth)
        return false;
    if (h->abort) {
        app_abort(hc->ac);
        return true;
    }
    if (upgrade_ready(h) && !h->error) {
        upgrade_to_h2(hc);
        return true;
    }
    return false;
}

/*
 * Answer status and close, while no byte of a response head went out: a request the framing
 * refused, or one no stream or buffer is left for. After that the only honest end is a reset.
 */
/* The rest of a 100 Continue the transport did not take: nothing else may go out before it. True
 * once it is all out. */
static bool continue_flush(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    const char *rest = CONTINUE_100 + sizeof(CONTINUE_100) - 1 - h->continue_left;

    h->continue_left -= (uint8_t)app_write(hc->ac, rest, h->continue_left);
    return !h->continue_left;
}

static void refuse(struct http_conn *hc, int status)
{
    struct h1_conn *h = h1_of(hc);
    const char *text = http_status_text(status);
    char msg[256];
    int body = snprintf(NULL, 0, "%d %s\n", status, text);
    int n =
        snprintf(msg, sizeof(msg),
                 "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n"
                 "%s\r\n%d %s\n",
                 status, text, body, status == 503 ? "retry-after: " RETRY_AFTER "\r\n" : "", status, text);

    /* a refusal cut into the head of a response, or into a 100 Continue, would garble both */
    if (h->head_written || (h->continue_left && !continue_flush(hc))) {
        h1_abort(hc);
        return;
    }
    if (h->out) { /* a response built but deferred: this one goes instead */
        http_buf_put(hc->hw, h->out);
        h->out = NULL;
    }
    http_count_status(hc->hw, status);
    app_write(hc->ac, msg, (size_t)n);
    h->error = true;
    hc->closing = true;
    app_shutdown(hc->ac);
}

static void refuse_request(struct http_conn *hc, enum h1_error err)
{
    hc->hw->stats.protocol_errors++;
    hc->hw->h1_refused[err]++;
    if (err == H1_ERR_TOO_MANY_HEADERS || err == H1_ERR_HEAD_TOO_LARGE)
        hc->hw->stats.header_limit++;
    refuse(hc, h1_error_status(err));
}

/* Body bytes for the handler, where they lie. */
static void deliver(struct http_conn *hc, const uint8_t *data, size_t len)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    size_t done = len;

    hc->hw->stats.body_bytes_in += len;
    if (st->req.on_body) {
        /* kept before the handler runs: it may send and release some of these bytes at once */
        st->body_kept += len;
        done = st->req.on_body(&st->req, data, len, false);
        st->body_kept -= done < len ? done : len;
    }
    if (st->body_kept > hc->hw->cfg->max_body_backlog)
        h->wait_backlog = true;
    if (len)
        http_stream_body_wait(st); /* the body moved: body_timeout_ms from now */
}

static void request_complete(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;

    /* one request at a time: the next waits until this one's response is out */
    st->request_done = true;
    http_stream_body_wait(st); /* no more body to wait for */
    h->wait_response = true;
    if (!h->upgrade_h2c && st->req.on_body)
        st->req.on_body(&st->req, NULL, 0, true); /* may complete the response */
}

/*
 * Does the request ask for h2c (Upgrade: h2c with HTTP2-Settings)? Like h2o, only requests without
 * a body are upgraded: one that has one is answered over HTTP/1.1 (RFC 9110 7.8 lets the server
 * ignore Upgrade), so its body never needs carrying across. The fields are looked up only when
 * Connection names upgrade: plain requests pay nothing for it.
 */
static bool asks_h2c(const struct h1_conn *h, const struct h1_head *hd, const struct http_request *req,
                     struct http_str *settings)
{
    if (!hd->connection_upgrade || h->http10 || h->body_chunked || h->body_left)
        return false;
    *settings = http_header(req, "http2-settings");
    return settings->ptr && h1_list_has(http_header(req, "upgrade"), "h2c", 3);
}

/* The head is parsed into st: an h2c upgrade to wait for, or a request for its handler. */
static void start_request(struct http_conn *hc, struct http_stream *st, const struct h1_head *hd)
{
    struct h1_conn *h = h1_of(hc);
    struct http_request *req = &st->req;
    struct http_str settings;

    req->method_name = hd->method;
    req->method = method_parse(hd->method.ptr, hd->method.len);
    req->path = hd->path;
    req->query = hd->query;
    req->authority = hd->host;
    req->http_version = hd->http_version;
    req->content_length = hd->content_length;
    h->keep_alive = hd->keep_alive && !hc->closing;
    h->http10 = hd->http_version == 10;
    h->body_chunked = hd->chunked;
    h->body_left = hd->chunked || hd->content_length == UINT64_MAX ? 0 : hd->content_length;
    if (hd->chunked)
        h1_chunked_init(&h->chunked, hc->hw->cfg->max_header_list_size);
    if (asks_h2c(h, hd, req, &settings)) {
        h->upgrade_h2c = true;
        h->settings = settings.ptr;
        h->settings_len = settings.len;
        request_complete(hc); /* dispatched on HTTP/2 once the switch is made (h1_leave) */
        return;
    }
    if (hd->expect_continue && (h->body_chunked || h->body_left)) {
        size_t n = app_write(hc->ac, CONTINUE_100, sizeof(CONTINUE_100) - 1);

        h->continue_left = (uint8_t)(sizeof(CONTINUE_100) - 1 - n); /* the rest goes before the response */
        if (h->continue_left)
            app_want_writable(hc->ac);
    }
    http_dispatch(st);
    if (!h->error && !h->body_chunked && !h->body_left)
        request_complete(hc);
}

/* The head is complete in h->head: parse it and start its request. */
static void head_complete(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = http_stream_new(hc, 0);
    struct h1_head hd;
    enum h1_error err;

    if (!st) {
        refuse(hc, 503);
        return;
    }
    err = h1_parse_head(h->head->data, h->head->len, &hd, st->req_headers, hc->hw->cfg->max_headers);
    if (err) {
        http_stream_free(st);
        refuse_request(hc, err);
        return;
    }
    st->req.nheaders = hd.nheaders;
    st->req_buf = h->head; /* the request's strings point into it: it lives as long as the request */
    h->head = NULL;
    h->stream = st;
    start_request(hc, st, &hd);
}

/*
 * Gather head bytes from in[0..len) into the head buffer; returns how many were taken. Only the
 * head's own bytes are copied when it ends in this segment, and a head lying whole in one segment
 * (the usual case) is searched there before the copy.
 */
static size_t head_input(struct http_conn *hc, const uint8_t *in, size_t len)
{
    struct h1_conn *h = h1_of(hc);
    uint32_t limit =
        hc->hw->cfg->max_header_list_size < HTTP_BUF_SIZE ? hc->hw->cfg->max_header_list_size : HTTP_BUF_SIZE;
    struct http_buf *b = h->head;
    size_t take, end;

    if (!b) {
        b = h->head = http_buf_get(hc->hw);
        if (!b) {
            refuse(hc, 503);
            return 0;
        }
        h->scan = (struct h1_head_scan){0};
        /* request_head_timeout_ms from this first byte (from the connection's start for its first
         * request): the bytes that follow, however they trickle, buy no more time (slowloris) */
        http_conn_wait(hc, HTTP_WAIT_HEAD);
    }
    take = len < limit - b->len ? len : limit - b->len;
    if (!b->len) {
        end = h1_head_end(&h->scan, in, take);
        take = end ? end : take;
        memcpy(b->data, in, take);
        b->len = (uint32_t)take;
    } else {
        memcpy(b->data + b->len, in, take);
        b->len += (uint32_t)take;
        end = h1_head_end(&h->scan, b->data, b->len);
        if (end) { /* what was copied past the end is the body's or the next request's */
            take -= b->len - end;
            b->len = (uint32_t)end;
        }
    }
    if (end)
        head_complete(hc);
    else if (b->len >= limit)
        refuse_request(hc, H1_ERR_HEAD_TOO_LARGE);
    return take;
}

/* Request body bytes from in[0..len); returns how many were taken. */
static size_t body_input(struct http_conn *hc, const uint8_t *in, size_t len)
{
    struct h1_conn *h = h1_of(hc);
    size_t taken = 0;

    if (!h->body_chunked) {
        taken = len < h->body_left ? len : (size_t)h->body_left;
        h->body_left -= taken;
        deliver(hc, in, taken);
        if (!h->body_left && !h->error)
            request_complete(hc);
        return taken;
    }
    while (taken < len && !h1_chunked_done(&h->chunked) && !h->wait_backlog && !h->error) {
        struct h1_span data;
        size_t used;
        enum h1_error err = h1_chunked_step(&h->chunked, in + taken, len - taken, &used, &data);

        if (err) {
            refuse_request(hc, err);
            return taken;
        }
        taken += used;
        if (data.len)
            deliver(hc, data.ptr, data.len);
    }
    if (h1_chunked_done(&h->chunked) && !h->error)
        request_complete(hc);
    return taken;
}

/* Parse what the transport holds, request by request, until a response or the backlog waits. */
static void parse_input(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct app_conn *ac = hc->ac;

    while (!h->error && !h->wait_response && !h->wait_backlog && !ac->shut) {
        bool replay = h->replayed < hc->preface_seen; /* bytes detection read, all a preface's */
        struct iovec iov[1];
        size_t used;

        if (replay)
            iov[0] = (struct iovec){(void *)&HTTP_H2_PREFACE[h->replayed], hc->preface_seen - h->replayed};
        else if (app_peek(ac, iov, 1) < 1)
            break;
        if (h->stream)
            used = body_input(hc, iov[0].iov_base, iov[0].iov_len);
        else
            used = head_input(hc, iov[0].iov_base, iov[0].iov_len);
        if (replay)
            h->replayed += (uint8_t)used;
        else
            app_consume(ac, used);
        if (h->wait_response && !upgrade_ready(h) && response_done(hc))
            response_complete(hc); /* answered before the request body had ended */
        else if (!used && !h->error && !h->wait_response && !h->wait_backlog)
            break;
    }
}

static int h1_conn_start(struct http_conn *hc, const struct http_upgrade *up)
{
    (void)up; /* nothing upgrades to HTTP/1.1 */
    hc->hw->stats.h1_connections++;
    return 0;
}

static void h1_conn_input(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct app_conn *ac = hc->ac;

    /* handlers answer from inside the parsing: their output waits until it is done (see the top) */
    if (h->in_input)
        return;
    h->in_input = true;
    h->resume_input = false;
    h1_enter(hc);
    for (;;) {
        parse_input(hc);
        if (!h->output_deferred || h->error || upgrade_ready(h))
            break;
        h->output_deferred = false;
        output(hc); /* may complete the response, or release the backlog: parse on then */
        if (h->error || h->wait_response || h->wait_backlog)
            break;
    }
    h->in_input = false;
    if (h1_leave(hc) || h->error)
        return;
    /* the client closed its side: done, unless a complete request is still being answered (a request
     * cut short never completes) */
    if (app_eof(ac) && (!h->stream || !h->stream->request_done))
        app_shutdown(ac);
}

/* ---- output -------------------------------------------------------------------------------------- */

static bool has_header(const struct http_stream *st, const char *name)
{
    size_t len = strlen(name);

    for (uint32_t i = 0; i < st->nresp; i++)
        if (st->resp[i].name.len == len && !memcmp(st->resp[i].name.ptr, name, len))
            return true;
    return false;
}

/* Does the response carry a Connection header with the close option? A handler may end the
 * connection this way; it is honoured as a client's would be. */
static bool response_closes(const struct http_stream *st)
{
    for (uint32_t i = 0; i < st->nresp; i++)
        if (st->resp[i].name.len == 10 && !memcmp(st->resp[i].name.ptr, "connection", 10) &&
            h1_list_has(st->resp[i].value, "close", 5))
            return true;
    return false;
}

/* Append s[0, len) at *p: the caller checked the head's whole length first. */
static inline void head_put(uint8_t **p, const void *s, size_t len)
{
    memcpy(*p, s, len);
    *p += len;
}

#define HEAD_LIT(p, lit) head_put(p, lit, sizeof(lit) - 1)

/* A status code's digits, as "%d" prints any int, without format parsing. */
static size_t status_digits(int status, char out[12])
{
    char tmp[12];
    size_t n = 0, len = 0;
    unsigned v = status < 0 ? 0u - (unsigned)status : (unsigned)status;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (status < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

/* A chunk's size line ("%zx\r\n") into out, 19 bytes at most; returns its length. */
static size_t chunk_size_line(char out[24], size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0, len = 0;

    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n);
    while (k)
        out[len++] = tmp[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    return len;
}

/*
 * The status line and headers, into a pool buffer the output drains. The framing fits the
 * request: a body of unknown length is chunked for HTTP/1.1 and, for HTTP/1.0 (which cannot read
 * chunked), delimited by the close; the connection header says what happens after. The head's
 * length is summed first, then its pieces are copied unchecked: snprintf's format parsing cost more
 * than the rest of the head (with a connection per request, ~1% of the server's CPU was vfprintf).
 */
static bool build_head(struct http_conn *hc, struct http_stream *st)
{
    struct h1_conn *h = h1_of(hc);
    bool unknown_length = st->body.kind != BODY_NONE && !has_header(st, "content-length");
    bool closes = response_closes(st);
    const char *text = http_status_text(st->status), *connection = "";
    char digits[12];
    size_t ndigits = status_digits(st->status, digits), text_len = strlen(text), connection_len, total;
    struct http_buf *b;
    uint8_t *p;

    if (closes || (unknown_length && h->http10))
        h->keep_alive = false;
    h->chunked_response = unknown_length && !h->http10;
    if (!closes)
        connection = !h->keep_alive ? "connection: close\r\n" : h->http10 ? "connection: keep-alive\r\n" : "";
    connection_len = strlen(connection);
    total = sizeof("HTTP/1.1  \r\n") - 1 + ndigits + text_len + connection_len + 2;
    for (uint32_t i = 0; i < st->nresp; i++)
        total += st->resp[i].name.len + 2 + st->resp[i].value.len + 2;
    if (h->chunked_response)
        total += sizeof("transfer-encoding: chunked\r\n") - 1;
    if (total > HTTP_BUF_SIZE)
        return false;
    b = http_buf_get(hc->hw);
    if (!b)
        return false;
    p = b->data;
    HEAD_LIT(&p, "HTTP/1.1 ");
    head_put(&p, digits, ndigits);
    HEAD_LIT(&p, " ");
    head_put(&p, text, text_len);
    HEAD_LIT(&p, "\r\n");
    for (uint32_t i = 0; i < st->nresp; i++) {
        head_put(&p, st->resp[i].name.ptr, st->resp[i].name.len);
        HEAD_LIT(&p, ": ");
        head_put(&p, st->resp[i].value.ptr, st->resp[i].value.len);
        HEAD_LIT(&p, "\r\n");
    }
    if (h->chunked_response)
        HEAD_LIT(&p, "transfer-encoding: chunked\r\n");
    head_put(&p, connection, connection_len);
    HEAD_LIT(&p, "\r\n");
    b->len = (uint32_t)(p - b->data);
    h->out = b;
    return true;
}

static bool response_done(const struct http_conn *hc)
{
    const struct h1_conn *h = &hc->proto.h1;
    const struct http_stream *st = h->stream;

    return st && st->responded && st->request_done && !h->out && !h->chunked_response &&
           http_body_done(&st->body);
}

static void response_complete(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;

    h->stream = NULL;
    h->wait_response = false;
    h->head_written = false; /* the next request may still be refused with a status */
    http_stream_free(st);
    if (!h->keep_alive || hc->closing) {
        app_shutdown(hc->ac);
        return;
    }
    h1_conn_input(hc); /* a pipelined request may be waiting */
}

static void output(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    struct app_conn *ac = hc->ac;

    if (h->error) /* refused: the refusal was the last thing written */
        return;
    if (h->continue_left && !continue_flush(hc)) {
        app_want_writable(ac);
        return;
    }
    if (!st || !st->responded)
        return;
    if (h->out) {
        struct http_buf *b = h->out;

        h->head_written = true;
        b->off += (uint32_t)app_write(ac, b->data + b->off, b->len - b->off);
        if (b->off < b->len) {
            app_want_writable(ac);
            return;
        }
        http_buf_put(hc->hw, b);
        h->out = NULL;
    }
    while (http_body_available(&st->body)) {
        size_t room = app_writable_bytes(ac), n = (size_t)http_body_available(&st->body);
        char chunk[24];
        size_t clen;

        if (h->chunked_response) {
            if (room <= 24)
                break;
            if (n > room - 24)
                n = room - 24;
            clen = chunk_size_line(chunk, n);
            app_write(ac, chunk, clen);
        } else {
            if (!room)
                break;
            if (n > room)
                n = room;
        }
        http_body_write(st, n);
        if (h->chunked_response)
            app_write(ac, "\r\n", 2);
    }
    if (!http_body_done(&st->body)) {
        if (http_body_available(&st->body))
            app_want_writable(ac);
        return;
    }
    if (h->chunked_response) { /* the last chunk, with the trailers (RFC 9112 7.1.2) */
        size_t need = 5;

        for (uint32_t i = st->nresp; i < st->nresp + st->ntrailers; i++)
            need += st->resp[i].name.len + st->resp[i].value.len + 4;
        if (app_writable_bytes(ac) < need) {
            app_want_writable(ac);
            return;
        }
        app_write(ac, "0\r\n", 3);
        for (uint32_t i = st->nresp; i < st->nresp + st->ntrailers; i++) {
            app_write(ac, st->resp[i].name.ptr, st->resp[i].name.len);
            app_write(ac, ": ", 2);
            app_write(ac, st->resp[i].value.ptr, st->resp[i].value.len);
            app_write(ac, "\r\n", 2);
        }
        app_write(ac, "\r\n", 2);
        h->chunked_response = false;
    }
    if (response_done(hc))
        response_complete(hc);
    /* else the response went out before the request body ended: the input finishes it */
}

static void h1_conn_output(struct http_conn *hc)
{
    if (h1_of(hc)->in_input) { /* written once the input at hand is parsed (h1_conn_input) */
        h1_of(hc)->output_deferred = true;
        return;
    }
    h1_enter(hc);
    output(hc);
    if (h1_leave(hc))
        return;
    if (h1_of(hc)->resume_input && !h1_of(hc)->depth)
        h1_conn_input(hc);
}

static void h1_stream_respond(struct http_stream *st)
{
    struct http_conn *hc = st->conn;

    if (!build_head(hc, st)) { /* no buffer for the head (counted): nothing of the response went out */
        st->status = 503;      /* what the client hears, for the access log */
        refuse(hc, 503);
        return;
    }
    h1_conn_output(hc);
}

static void h1_stream_resume(struct http_stream *st)
{
    h1_conn_output(st->conn);
}

static void h1_stream_consumed(struct http_stream *st, size_t n)
{
    struct http_conn *hc = st->conn;
    struct h1_conn *h = h1_of(hc);

    (void)n;
    if (h->wait_backlog && st->body_kept <= hc->hw->cfg->max_body_backlog / 2) {
        h->wait_backlog = false;
        if (h->depth) /* from inside output (a drain released it), which still uses the stream */
            h->resume_input = true;
        else
            h1_conn_input(hc);
    }
}

static void h1_stream_reset(struct http_stream *st)
{
    h1_abort(st->conn);
}

/* body_timeout_ms passed with no body byte: 408 Request Timeout with connection: close (RFC 9110
 * 15.5.9) while nothing was answered; after an answer, a FIN if all of it is in the transport (the
 * client has it whole), else a reset (a cut answer must not look complete). */
static void h1_stream_body_timeout(struct http_stream *st)
{
    struct http_conn *hc = st->conn;
    struct h1_conn *h = h1_of(hc);

    h->keep_alive = false;
    if (!st->responded) {
        st->status = 408; /* what the client hears, for the access log */
        refuse(hc, 408);  /* refuse resets instead if a head went out already */
        return;
    }
    hc->closing = true;
    if (!h->out && !h->chunked_response && http_body_done(&st->body))
        app_shutdown(hc->ac);
    else
        h1_abort(hc);
}

static void h1_stream_free(struct http_stream *st)
{
    (void)st; /* what the request holds (its head buffer) is the core's to release */
}

static void h1_conn_end(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);

    if (h->head)
        http_buf_put(hc->hw, h->head);
    if (h->out)
        http_buf_put(hc->hw, h->out);
    h->head = h->out = NULL;
    h->stream = NULL;
}

static void h1_conn_drain(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);

    h->keep_alive = false;
    if (!h->stream)
        app_shutdown(hc->ac);
}

const struct http_proto_ops h1_proto_ops = {
    .name = "http/1.1",
    .start = h1_conn_start,
    .input = h1_conn_input,
    .output = h1_conn_output,
    .drain = h1_conn_drain,
    .end = h1_conn_end,
    .respond = h1_stream_respond,
    .resume = h1_stream_resume,
    .reset = h1_stream_reset,
    .consumed = h1_stream_consumed,
    .stream_free = h1_stream_free,
    .body_timeout = h1_stream_body_timeout,
};
