/*
 * h1.c — HTTP/1.1 for clients that speak only that (curl's default, health checkers), with
 * keep-alive, pipelining one request at a time, chunked responses when the length is unknown,
 * Expect: 100-continue, and the Upgrade: h2c path into HTTP/2 (RFC 7540 3.2).
 *
 * Parsing is Debian's http-parser. The request line and headers are copied once into a pool
 * buffer the request keeps (http-parser hands them over in pieces, possibly split across
 * segments); the body reaches the handler's on_body where it lies. Input stops while a response is
 * in progress, and while a handler keeps more request body than the configured backlog, so a
 * client that pushes faster than the handler goes is held back by TCP, not by memory.
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
#include <strings.h>

#include "http/http_conn.h"

static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char SWITCHING_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";
static const char BAD_REQUEST_400[] =
    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 16\r\nconnection: close\r\n\r\n"
    "400 Bad Request\n";
static const char TOO_LARGE_431[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\ncontent-length: 36\r\n"
    "connection: close\r\n\r\n431 Request Header Fields Too Large\n";

static struct http_conn *conn_of(http_parser *p)
{
    return p->data;
}

static struct h1_conn *h1_of(struct http_conn *hc)
{
    return &hc->proto.h1;
}

/* Append request head bytes to the pool buffer, lowercased when they are a header name. */
static bool head_append(struct http_conn *hc, const char *at, size_t len, bool lower)
{
    struct http_buf *b = h1_of(hc)->head;

    if (!b || b->len + len > HTTP_BUF_SIZE || b->len + len > hc->hw->cfg->max_header_list_size) {
        hc->hw->stats.header_limit++;
        return false;
    }
    for (size_t i = 0; i < len; i++)
        b->data[b->len + i] = lower && at[i] >= 'A' && at[i] <= 'Z' ? (uint8_t)(at[i] + 32) : (uint8_t)at[i];
    b->len += (uint32_t)len;
    return true;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);

    h->stream = http_stream_new(hc, 0);
    h->head = h->stream ? http_buf_get(hc->hw) : NULL;
    if (!h->head)
        return -1;
    h->url_len = 0;
    h->in_value = false;
    h->upgrade_h2c = false;
    h->settings = NULL;
    h->stream->req.http_version = 11;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);

    h->url_len += (uint32_t)len;
    return head_append(hc, at, len, false) ? 0 : -1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    struct http_request *req = &st->req;

    if (!h->head) /* the head went to the request: these are a chunked body's trailers, not kept */
        return 0;
    if (h->in_value || !req->nheaders || req->headers[req->nheaders - 1].value.ptr) {
        if (req->nheaders == hc->hw->cfg->max_headers) {
            hc->hw->stats.header_limit++;
            return -1;
        }
        st->req_headers[req->nheaders++] =
            (struct http_header){{(char *)h->head->data + h->head->len, 0}, {NULL, 0}};
        h->in_value = false;
    }
    req->headers[req->nheaders - 1].name.len += len;
    return head_append(hc, at, len, true) ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);
    struct http_header *hdr = &h->stream->req.headers[h->stream->req.nheaders - 1];

    if (!h->head) /* trailers */
        return 0;
    if (!h->in_value) {
        hdr->value.ptr = (char *)h->head->data + h->head->len;
        h->in_value = true;
    }
    hdr->value.len += len;
    return head_append(hc, at, len, false) ? 0 : -1;
}

static bool header_has_token(struct http_str v, const char *token)
{
    size_t n = strlen(token);

    for (size_t i = 0; i + n <= v.len; i++)
        if (!strncasecmp(v.ptr + i, token, n) &&
            (i + n == v.len || v.ptr[i + n] == ',' || v.ptr[i + n] == ' '))
            return true;
    return false;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    struct http_request *req = &st->req;
    const char *url = (const char *)h->head->data, *q;
    const char *method = http_method_str((enum http_method)p->method);

    req->method_name = (struct http_str){method, strlen(method)};
    req->method = method_parse(method, strlen(method));
    q = memchr(url, '?', h->url_len);
    req->path = (struct http_str){url, q ? (size_t)(q - url) : h->url_len};
    req->query = q ? (struct http_str){q + 1, h->url_len - (size_t)(q - url) - 1} : (struct http_str){"", 0};
    req->authority = http_header(req, "host");
    if (p->flags & F_CONTENTLENGTH)
        req->content_length = p->content_length;
    h->keep_alive = http_should_keep_alive(p);
    st->req_buf = h->head; /* the request's strings point into it: it lives as long as the request */
    h->head = NULL;
    /* like h2o, upgrade only requests without a body: one that has one is answered over HTTP/1.1
     * (RFC 9110 7.8 lets the server ignore Upgrade), so its body never needs carrying across */
    if (p->upgrade && !(p->flags & F_CHUNKED) &&
        (req->content_length == UINT64_MAX || !req->content_length) &&
        header_has_token(http_header(req, "upgrade"), "h2c") && http_header(req, "http2-settings").ptr) {
        struct http_str s = http_header(req, "http2-settings");

        h->upgrade_h2c = true;
        h->settings = s.ptr;
        h->settings_len = s.len;
        return 0; /* dispatched on HTTP/2 once the request is complete */
    }
    if (header_has_token(http_header(req, "expect"), "100-continue")) {
        size_t n = app_write(hc->ac, CONTINUE_100, sizeof(CONTINUE_100) - 1);

        h->continue_left = (uint8_t)(sizeof(CONTINUE_100) - 1 - n); /* the rest goes before the response */
        if (h->continue_left)
            app_want_writable(hc->ac);
    }
    http_dispatch(st);
    /* an upgrade we do not take is answered as a plain request: http-parser must not treat the rest
     * of the stream as another protocol (RFC 9110 7.8: the server may ignore Upgrade) */
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;
    size_t done = len;

    hc->hw->stats.body_bytes_in += len;
    if (st->req.on_body) {
        /* kept before the handler runs: it may send and release some of these bytes at once */
        st->body_kept += len;
        done = st->req.on_body(&st->req, (const uint8_t *)at, len, false);
        st->body_kept -= done < len ? done : len;
    }
    if (st->body_kept > hc->hw->cfg->max_body_backlog) {
        h->wait_backlog = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *hc = conn_of(p);
    struct h1_conn *h = h1_of(hc);
    struct http_stream *st = h->stream;

    /* one request at a time: the next waits until this one's response is out */
    st->request_done = true;
    h->wait_response = true;
    http_parser_pause(p, 1);
    if (!h->upgrade_h2c && st->req.on_body)
        st->req.on_body(&st->req, NULL, 0, true); /* may complete the response and free st */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void bad_request(struct http_conn *hc, const char *response, size_t len);

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
        goto refuse;
    h1_conn_end(hc);                /* between requests h1 holds no buffer: this only makes sure */
    if (http_conn_upgrade(hc, &up)) /* h1_conn is all zero again: bad_request needs none of it */
        goto refuse;
    app_write(hc->ac, SWITCHING_101, sizeof(SWITCHING_101) - 1);
    hc->hw->stats.h2c_upgrades++;
    http_dispatch(st);
    hc->ops->input(hc); /* the rest of the input is HTTP/2, starting with the client preface */
    return;
refuse:
    http_stream_free(st);
    bad_request(hc, BAD_REQUEST_400, sizeof(BAD_REQUEST_400) - 1);
}

/* ---- input -------------------------------------------------------------------------------------- */

static bool response_done(const struct http_conn *hc);
static void response_complete(struct http_conn *hc);

/*
 * Reset the connection. app_abort frees the connection and its stream at once, while the parser
 * callback or output loop that led a handler here still uses them: inside h1_conn_input or
 * h1_conn_output the reset waits until the outermost of them returns (h1_leave), and nothing more
 * is read meanwhile.
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
    http_parser_pause(&h->parser, 1); /* no more callbacks for the rest of this input */
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

static void bad_request(struct http_conn *hc, const char *response, size_t len)
{
    struct h1_conn *h = h1_of(hc);

    hc->hw->stats.protocol_errors++;
    if (!h->stream || !h->stream->responded)
        app_write(hc->ac, response, len);
    h->error = true;
    app_shutdown(hc->ac);
}

static int h1_conn_start(struct http_conn *hc, const struct http_upgrade *up)
{
    struct h1_conn *h = h1_of(hc);

    (void)up; /* nothing upgrades to HTTP/1.1 */
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = hc;
    hc->hw->stats.h1_connections++;
    return 0;
}

static void h1_conn_input(struct http_conn *hc)
{
    struct h1_conn *h = h1_of(hc);
    struct app_conn *ac = hc->ac;

    /* handlers answer from inside parser callbacks; the loop below re-checks what they changed */
    if (h->in_input)
        return;
    h->in_input = true;
    h->resume_input = false;
    h1_enter(hc);
    while (!h->error && !h->wait_response && !h->wait_backlog) {
        bool replay = h->replayed < hc->preface_seen; /* bytes detection read, all a preface's */
        struct iovec iov[1];
        size_t parsed;

        if (replay)
            iov[0] = (struct iovec){(void *)&HTTP_H2_PREFACE[h->replayed], hc->preface_seen - h->replayed};
        else if (app_peek(ac, iov, 1) < 1)
            break;
        http_parser_pause(&h->parser, 0);
        parsed = http_parser_execute(&h->parser, &parser_settings, iov[0].iov_base, iov[0].iov_len);
        if (replay)
            h->replayed += (uint8_t)parsed;
        else
            app_consume(ac, parsed);
        if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED) {
            if (upgrade_ready(h))
                break;             /* the switch waits for h1_leave */
            if (response_done(hc)) /* answered before the request body had ended */
                response_complete(hc);
            continue;
        }
        if (HTTP_PARSER_ERRNO(&h->parser) != HPE_OK) {
            bool limit = h->head && h->head->len >= HTTP_BUF_SIZE;

            if (limit || HTTP_PARSER_ERRNO(&h->parser) == HPE_CB_header_field ||
                HTTP_PARSER_ERRNO(&h->parser) == HPE_CB_header_value ||
                HTTP_PARSER_ERRNO(&h->parser) == HPE_CB_url)
                bad_request(hc, TOO_LARGE_431, sizeof(TOO_LARGE_431) - 1);
            else
                bad_request(hc, BAD_REQUEST_400, sizeof(BAD_REQUEST_400) - 1);
            break;
        }
    }
    h->in_input = false;
    if (h1_leave(hc) || h->error)
        return;
    /* the client closed its side: done, unless a complete request is still being answered (a request
     * cut short never completes) */
    if (app_eof(ac) && !h->error && (!h->stream || !h->stream->request_done))
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

/* The status line and headers, into a pool buffer the output drains. */
static bool build_head(struct http_conn *hc, struct http_stream *st)
{
    struct h1_conn *h = h1_of(hc);
    struct http_buf *b = http_buf_get(hc->hw);
    int n;

    if (!b)
        return false;
    n = snprintf((char *)b->data, HTTP_BUF_SIZE, "HTTP/1.1 %d %s\r\n", st->status,
                 http_status_text(st->status));
    for (uint32_t i = 0; i < st->nresp && n < HTTP_BUF_SIZE; i++)
        n += snprintf((char *)b->data + n, HTTP_BUF_SIZE - (size_t)n, "%.*s: %.*s\r\n",
                      (int)st->resp[i].name.len, st->resp[i].name.ptr, (int)st->resp[i].value.len,
                      st->resp[i].value.ptr);
    h->chunked_response = st->body.kind != BODY_NONE && !has_header(st, "content-length");
    if (h->chunked_response && n < HTTP_BUF_SIZE)
        n += snprintf((char *)b->data + n, HTTP_BUF_SIZE - (size_t)n, "transfer-encoding: chunked\r\n");
    if (!h->keep_alive && n < HTTP_BUF_SIZE)
        n += snprintf((char *)b->data + n, HTTP_BUF_SIZE - (size_t)n, "connection: close\r\n");
    if (n + 2 > HTTP_BUF_SIZE) {
        http_buf_put(hc->hw, b);
        return false;
    }
    memcpy(b->data + n, "\r\n", 2);
    b->len = (uint32_t)n + 2;
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

    if (h->continue_left) {
        const char *rest = CONTINUE_100 + sizeof(CONTINUE_100) - 1 - h->continue_left;

        h->continue_left -= (uint8_t)app_write(ac, rest, h->continue_left);
        if (h->continue_left) {
            app_want_writable(ac);
            return;
        }
    }
    if (!st || !st->responded)
        return;
    if (h->out) {
        struct http_buf *b = h->out;

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
        int clen = 0;

        if (h->chunked_response) {
            if (room <= 24)
                break;
            if (n > room - 24)
                n = room - 24;
            clen = snprintf(chunk, sizeof(chunk), "%zx\r\n", n);
            app_write(ac, chunk, (size_t)clen);
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
    if (h->chunked_response) {
        if (app_writable_bytes(ac) < 5) {
            app_want_writable(ac);
            return;
        }
        app_write(ac, "0\r\n\r\n", 5);
        h->chunked_response = false;
    }
    if (response_done(hc))
        response_complete(hc);
    /* else the response went out before the request body ended: the input finishes it */
}

static void h1_conn_output(struct http_conn *hc)
{
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

    if (!build_head(hc, st)) {
        hc->hw->stats.pool_exhausted++;
        h1_abort(hc);
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
};
