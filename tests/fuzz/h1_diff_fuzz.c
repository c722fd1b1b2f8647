/*
 * h1_diff_fuzz.c — differential libFuzzer target: our HTTP/1.1 request framing (server/http/h1_parse.c,
 * read as a server reads it by tests/fuzz/h1_stream.c) against Debian's http-parser (-lhttp_parser, its
 * lenient default build, HTTP_PARSER_STRICT=0), on the same bytes.
 *
 * The input format is h1_fuzz.c's (two bytes of seed for the cut points, then the request stream), so
 * both share tests/fuzz/corpus/h1/ and h1.dict. http-parser gets the stream in one call and records each
 * message; ours reads it cut. Request by request:
 *   - both accept: method, target, version (1.x above 1.1 is 1.1 for both), header names (ours are
 *     lowercased) and values, keep-alive, Content-Length and the body bytes must agree, unless a row
 *     of `same_request_differs` explains it;
 *   - one rejects, the other accepts: the case must be a row of `we_refuse` (keyed by our error) or of
 *     `they_refuse` (keyed by http-parser's errno and a test of the request): a strictness difference
 *     with its RFC section. Anything else aborts, with both verdicts on stderr.
 * Comparison stops at the first request either side refuses, or after an upgrade (http-parser stops
 * parsing there). While our side still waits for the end of a head, http-parser may already refuse
 * what it saw of it: we judge a head only whole, and that is not a disagreement.
 */
#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/fuzz/h1_stream.h"

#define MAX_CUTS  64
#define HP_FIELDS 512
#define COUNT(a)  (sizeof(a) / sizeof((a)[0]))

static const uint8_t *g_end; /* the end of the current input, for the tests of the rows */

/* ---- the listed differences ----------------------------------------------------------------------- */

/* We refuse, http-parser (lenient) accepts: the request breaks a rule we enforce and it does not. */
static const struct we_refuse {
    enum h1_error err;
    const char *rfc;
    const char *why;
} we_refuse[] = {
    {H1_ERR_BARE_CR, "RFC 9112 §2.2", "a bare CR in the head: http-parser takes CR as a line end"},
    {H1_ERR_FIELD_NAME, "RFC 9112 §5.1", "whitespace before the colon: http-parser keeps it in the name"},
    {H1_ERR_FIELD_VALUE, "RFC 9110 §5.5",
     "a CTL as a value's first byte: http-parser checks only the ones after it"},
    {H1_ERR_OBS_FOLD, "RFC 9112 §5.2", "obs-fold, whitespace before the first field: http-parser folds"},
    {H1_ERR_HOST, "RFC 9112 §3.2", "HTTP/1.1 without Host or with two: http-parser does not look"},
    {H1_ERR_TARGET, "RFC 9112 §3.2",
     "target with obs-text or '#', or of no form: http-parser takes fragments, "
     "bytes above 0x7F (lenient build), and any form for any method"},
    {H1_ERR_REQUEST_LINE, "RFC 9112 §3",
     "more than one SP between the parts: http-parser skips extra spaces"},
    {H1_ERR_VERSION, "RFC 9112 §2.3",
     "HTTP-version with more than one digit a side: http-parser takes up to 3"},
    {H1_ERR_VERSION_UNSUPPORTED, "RFC 9110 §2.5, §15.6.6", "major version other than 1: 505 for us"},
    {H1_ERR_TRANSFER_ENCODING, "RFC 9112 §6.3, §7", "chunked listed twice, or with a parameter"},
    {H1_ERR_TE_HTTP10, "RFC 9112 §6.1", "Transfer-Encoding in HTTP/1.0: faulty framing for us"},
    {H1_ERR_UNKNOWN_CODING, "RFC 9112 §6.1",
     "a coding before chunked (gzip, chunked): 501 for us, http-parser "
     "passes the body on still coded"},
    {H1_ERR_TOO_MANY_HEADERS, "RFC 6585 §5", "more than 64 fields: http-parser has no count limit"},
    {H1_ERR_HEAD_TOO_LARGE, "RFC 6585 §5",
     "a head above 16 KiB (our head buffer); http-parser's limit is 80 KiB"},
    {H1_ERR_CHUNK_SIZE, "RFC 9112 §7.1", "chunk-size above 2^62: http-parser's cap is 2^64-17"},
    {H1_ERR_CHUNK_EXT, "RFC 9112 §7.1.1", "chunk extension syntax: http-parser skips anything to CR"},
    {H1_ERR_CHUNK_LINE_END, "RFC 9112 §7.1",
     "chunk line or data not ended by CRLF: http-parser takes a bare LF"},
    {H1_ERR_TRAILER, "RFC 9112 §7.1.2, §5", "trailer field syntax: http-parser folds, takes spaces in names"},
    {H1_ERR_TRAILER_TOO_LARGE, "RFC 9112 §7.1.2", "trailers above our 4 KiB limit"},
};

struct hp_msg;
static bool method_unknown_to_them(const struct h1s_request *q, const struct hp_msg *m);
static bool repeated_content_length(const struct h1s_request *q, const struct hp_msg *m);
static bool name_extends_framing_field(const struct h1s_request *q, const struct hp_msg *m);
static bool framing_value_trailing_ows(const struct h1s_request *q, const struct hp_msg *m);
static bool empty_list_element(const struct h1s_request *q, const struct hp_msg *m);
static bool in_trailers(const struct h1s_request *q, const struct hp_msg *m);
static bool chunk_line_htab(const struct h1s_request *q, const struct hp_msg *m);
static bool content_length_past_their_guard(const struct h1s_request *q, const struct hp_msg *m);

/* http-parser refuses, we accept. */
static const struct they_refuse {
    enum http_errno err;
    bool (*applies)(const struct h1s_request *q, const struct hp_msg *m);
    const char *rfc;
    const char *why;
} they_refuse[] = {
    {HPE_INVALID_METHOD, method_unknown_to_them, "RFC 9110 §9.1",
     "a method that is a token but not in http-parser's fixed list: any token for us (405/501 later)"},
    {HPE_UNEXPECTED_CONTENT_LENGTH, repeated_content_length, "RFC 9110 §8.6",
     "Content-Length repeated with the same value: one value for us"},
    {HPE_INVALID_TRANSFER_ENCODING, name_extends_framing_field, "RFC 9110 §5.1",
     "a field whose name starts with transfer-encoding (transfer-encoding*): http-parser takes it for TE"},
    {HPE_INVALID_TRANSFER_ENCODING, framing_value_trailing_ows, "RFC 9112 §5",
     "Transfer-Encoding: chunked with whitespace after it: http-parser does not trim it, so chunked is not "
     "last"},
    {HPE_INVALID_TRANSFER_ENCODING, empty_list_element, "RFC 9110 §5.6.1",
     "an empty element in the Transfer-Encoding list (\", chunked\"): recipients must skip it, http-parser "
     "fails"},
    {HPE_INVALID_CHUNK_SIZE, chunk_line_htab, "RFC 9112 §7.1.1",
     "HTAB as BWS after a chunk-size (\"5\\t;x\"): http-parser takes only SP"},
    {HPE_INVALID_CONTENT_LENGTH, in_trailers, "RFC 9110 §6.5.1",
     "Content-Length in the trailers: framing fields there mean nothing; we drop trailers unread"},
    {HPE_UNEXPECTED_CONTENT_LENGTH, in_trailers, "RFC 9110 §6.5.1", "the same, repeated or after TE"},
    {HPE_INVALID_TRANSFER_ENCODING, in_trailers, "RFC 9110 §6.5.1", "the same for Transfer-Encoding"},
    {HPE_INVALID_CONTENT_LENGTH, framing_value_trailing_ows, "RFC 9112 §5",
     "Content-Length with a HTAB after the digits: http-parser takes only SP there"},
    {HPE_INVALID_CONTENT_LENGTH, name_extends_framing_field, "RFC 9110 §5.1",
     "a field whose name starts with content-length: http-parser takes it for Content-Length"},
    {HPE_UNEXPECTED_CONTENT_LENGTH, name_extends_framing_field, "RFC 9110 §5.1",
     "a field whose name starts with content-length or transfer-encoding: http-parser counts it as one"},
    {HPE_INVALID_CONTENT_LENGTH, content_length_past_their_guard, "RFC 9110 §8.6",
     "Content-Length above (2^64-11)/10: http-parser's overflow guard; we take any value below 2^64-1"},
};

/* Both accept, and see a different request. */
static bool connection_close_and_keep_alive(const struct h1s_request *q, const struct hp_msg *m);
static bool framing_value_trailing_ows(const struct h1s_request *q, const struct hp_msg *m);
static bool connection_not_tokens(const struct h1s_request *q, const struct hp_msg *m);
static bool connection_token_prefix(const struct h1s_request *q, const struct hp_msg *m);
static bool empty_list_element(const struct h1s_request *q, const struct hp_msg *m);
static bool connection_element_underscore(const struct h1s_request *q, const struct hp_msg *m);
static const struct same_request_differs {
    const char *what;
    bool (*applies)(const struct h1s_request *q, const struct hp_msg *m);
    const char *rfc;
    const char *why;
} same_request_differs[] = {
    {"keep_alive", connection_close_and_keep_alive, "RFC 9112 §9.3, §9.6",
     "HTTP/1.0 with Connection: close and keep-alive: close wins for us, keep-alive for http-parser"},
    {"keep_alive", framing_value_trailing_ows, "RFC 9112 §5",
     "Connection with a HTAB in its list or after it: http-parser takes only SP as OWS and misses the token"},
    {"keep_alive", connection_not_tokens, "RFC 9110 §7.6.1",
     "a Connection list with an element that is not a token: we still read the others, http-parser may not"},
    {"keep_alive", connection_token_prefix, "RFC 9110 §7.6.1",
     "a Connection element that is a proper prefix of close, keep-alive or upgrade (\"k, close\"): "
     "http-parser "
     "swallows the comma after it and misses the next token"},
    {"chunked", framing_value_trailing_ows, "RFC 9112 §5",
     "Transfer-Encoding: chunked with a HTAB after it, in an upgrade request: http-parser misses chunked"},
    {"chunked", name_extends_framing_field, "RFC 9110 §5.1",
     "a field whose name starts with transfer-encoding (transfer-encodingx): http-parser takes its value for "
     "the coding list and misses the chunked of the real field"},
    {"keep_alive", empty_list_element, "RFC 9110 §5.6.1",
     "an empty element in the Connection list (\",keep-alive\"): http-parser then misses the token"},
    {"keep_alive", connection_element_underscore, "RFC 9110 §5.6.2, §7.6.1",
     "a Connection element after the first that starts with '_' (\"a, _x, close\"), a tchar: http-parser "
     "leaves its token state there and misses the tokens after it"},
    {"chunked", empty_list_element, "RFC 9110 §5.6.1",
     "\"chunked,\": an empty element after chunked; http-parser then misses chunked (and takes an upgrade "
     "request without its body)"},
};

/* ---- http-parser's side ---------------------------------------------------------------------------- */

struct hp_msg {
    bool begun, head_done, complete;
    int method;
    unsigned short major, minor;
    bool keep_alive, chunked, upgrade;
    uint64_t content_length;
    struct http_str url;
    struct http_header fields[HP_FIELDS];
    uint32_t nfields;
    bool in_value;
    uint8_t *body;
    size_t body_len;
};

struct hp_run {
    struct hp_msg msg[H1S_MAX_REQUESTS];
    uint32_t n;
    uint8_t *bodies;
    size_t body_at;
};

static struct hp_msg *cur(http_parser *p)
{
    struct hp_run *r = p->data;

    return &r->msg[r->n - 1];
}

/* With the whole input in one call, each element comes in one piece; appending keeps it right if not. */
static void extend(struct http_str *s, const char *at, size_t len)
{
    if (!s->ptr)
        *s = (struct http_str){at, len};
    else
        s->len = (size_t)(at + len - s->ptr);
}

static int hp_begin(http_parser *p)
{
    struct hp_run *r = p->data;

    if (r->n == H1S_MAX_REQUESTS)
        return -1; /* as many as our side reads */
    memset(&r->msg[r->n], 0, sizeof(r->msg[0]));
    r->msg[r->n].begun = true;
    r->msg[r->n].body = r->bodies + r->body_at;
    r->n++;
    return 0;
}

static int hp_url(http_parser *p, const char *at, size_t len)
{
    extend(&cur(p)->url, at, len);
    return 0;
}

static int hp_field(http_parser *p, const char *at, size_t len)
{
    struct hp_msg *m = cur(p);

    if (m->head_done) /* a trailer field: ours are checked and dropped */
        return 0;
    if (m->in_value || !m->nfields) {
        if (m->nfields == HP_FIELDS)
            return -1;
        m->fields[m->nfields++] = (struct http_header){{NULL, 0}, {NULL, 0}};
        m->in_value = false;
    }
    extend(&m->fields[m->nfields - 1].name, at, len);
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t len)
{
    struct hp_msg *m = cur(p);

    if (m->head_done)
        return 0;
    m->in_value = true;
    extend(&m->fields[m->nfields - 1].value, at, len);
    return 0;
}

static int hp_headers_complete(http_parser *p)
{
    struct hp_msg *m = cur(p);

    m->head_done = true;
    m->method = p->method;
    m->major = p->http_major;
    m->minor = p->http_minor;
    m->keep_alive = http_should_keep_alive(p);
    m->chunked = p->flags & F_CHUNKED;
    m->content_length = p->flags & F_CONTENTLENGTH ? p->content_length : UINT64_MAX;
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len)
{
    struct hp_run *r = p->data;
    struct hp_msg *m = cur(p);

    memcpy(r->bodies + r->body_at, at, len);
    r->body_at += len;
    m->body_len += len;
    return 0;
}

static int hp_complete(http_parser *p)
{
    struct hp_msg *m = cur(p);

    m->complete = true;
    m->upgrade = p->upgrade;
    return 0;
}

static const http_parser_settings hp_settings = {
    .on_message_begin = hp_begin,
    .on_url = hp_url,
    .on_header_field = hp_field,
    .on_header_value = hp_value,
    .on_headers_complete = hp_headers_complete,
    .on_body = hp_body,
    .on_message_complete = hp_complete,
};

/* ---- the tests of the rows ------------------------------------------------------------------------- */

static bool method_unknown_to_them(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (int i = 0; i < 64; i++) {
        const char *s = http_method_str((enum http_method)i);

        if (strlen(s) == q->head.method.len && !memcmp(s, q->head.method.ptr, q->head.method.len))
            return false;
    }
    return true;
}

static uint32_t count_fields(const struct h1s_request *q, const char *name)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < q->head.nheaders; i++)
        n += q->headers[i].name.len == strlen(name) && !memcmp(q->headers[i].name.ptr, name, strlen(name));
    return n;
}

static bool repeated_content_length(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    return q->head_done && count_fields(q, "content-length") > 1;
}

static bool name_extends_framing_field(const struct h1s_request *q, const struct hp_msg *m)
{
    static const char *const names[] = {"transfer-encoding", "content-length"};

    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++)
        for (size_t k = 0; k < COUNT(names); k++)
            if (q->headers[i].name.len > strlen(names[k]) &&
                !memcmp(q->headers[i].name.ptr, names[k], strlen(names[k])))
                return true;
    return false;
}

static bool framing_value_trailing_ows(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++) {
        struct http_str v = q->headers[i].value;

        /* the head is parsed in place: the bytes after a trimmed value are still there */
        if (((q->headers[i].name.len == 17 && !memcmp(q->headers[i].name.ptr, "transfer-encoding", 17)) ||
             (q->headers[i].name.len == 14 && !memcmp(q->headers[i].name.ptr, "content-length", 14)) ||
             (q->headers[i].name.len == 10 && !memcmp(q->headers[i].name.ptr, "connection", 10))) &&
            (v.ptr[v.len] == ' ' || v.ptr[v.len] == '\t' || memchr(v.ptr, '\t', v.len)))
            return true;
    }
    return false;
}

static bool empty_list_element(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++) {
        struct http_str v = q->headers[i].value;
        bool empty = true; /* the element so far holds only OWS */

        if ((q->headers[i].name.len != 17 || memcmp(q->headers[i].name.ptr, "transfer-encoding", 17)) &&
            (q->headers[i].name.len != 10 || memcmp(q->headers[i].name.ptr, "connection", 10)))
            continue;
        for (size_t k = 0; k <= v.len; k++) {
            if (k == v.len || v.ptr[k] == ',') {
                if (empty)
                    return true;
                empty = true;
            } else if (v.ptr[k] != ' ' && v.ptr[k] != '\t') {
                empty = false;
            }
        }
    }
    return false;
}

static bool connection_not_tokens(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++) {
        struct http_str v = q->headers[i].value;

        if (q->headers[i].name.len != 10 || memcmp(q->headers[i].name.ptr, "connection", 10))
            continue;
        for (size_t k = 0; k < v.len; k++)
            if (!strchr("!#$%&'*+-.^_`|~, \t", v.ptr[k]) && !isalnum((unsigned char)v.ptr[k]))
                return true;
    }
    return false;
}

static bool connection_token_prefix(const struct h1s_request *q, const struct hp_msg *m)
{
    static const char *const tokens[] = {"close", "keep-alive", "upgrade"};

    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++) {
        struct http_str v = q->headers[i].value;

        if (q->headers[i].name.len != 10 || memcmp(q->headers[i].name.ptr, "connection", 10))
            continue;
        for (size_t k = 0, start = 0; k <= v.len; k++) {
            if (k < v.len && v.ptr[k] != ',')
                continue;
            while (start < k && (v.ptr[start] == ' ' || v.ptr[start] == '\t'))
                start++;
            for (size_t t = 0; t < COUNT(tokens); t++)
                if (k > start && k - start < strlen(tokens[t]) &&
                    !strncasecmp(v.ptr + start, tokens[t], k - start))
                    return true;
            start = k + 1;
        }
    }
    return false;
}

static bool connection_element_underscore(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++) {
        struct http_str v = q->headers[i].value;

        if (q->headers[i].name.len != 10 || memcmp(q->headers[i].name.ptr, "connection", 10))
            continue;
        for (size_t k = 0; k < v.len; k++) {
            size_t next = k + 1;

            if (v.ptr[k] != ',')
                continue;
            while (next < v.len && (v.ptr[next] == ' ' || v.ptr[next] == '\t'))
                next++;
            if (next < v.len && v.ptr[next] == '_')
                return true;
        }
    }
    return false;
}

static bool chunk_line_htab(const struct h1s_request *q, const struct hp_msg *m)
{
    const uint8_t *body = q->head_bytes + q->head_avail;

    (void)m;
    return q->head.chunked && memchr(body, '\t', (size_t)(g_end - body));
}

static bool content_length_past_their_guard(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    return q->head.content_length != UINT64_MAX && q->head.content_length > (UINT64_MAX - 10) / 10;
}

static bool in_trailers(const struct h1s_request *q, const struct hp_msg *m)
{
    return q->head.chunked && m && m->head_done;
}

static bool connection_close_and_keep_alive(const struct h1s_request *q, const struct hp_msg *m)
{
    (void)m;
    for (uint32_t i = 0; i < q->head.nheaders; i++)
        if (q->headers[i].name.len == 10 && !memcmp(q->headers[i].name.ptr, "connection", 10) &&
            h1_list_has(q->headers[i].value, "close", 5))
            return q->head.http_version == 10;
    return false;
}

/* ---- comparing ------------------------------------------------------------------------------------- */

enum verdict { WAITING, COMPLETE, REFUSED };

static const char *const verdict_names[] = {"waiting", "complete", "refused"};

static void disagree(const char *what, uint32_t i, enum verdict ours, enum h1_error e, enum verdict theirs,
                     enum http_errno he)
{
    fprintf(stderr, "h1_diff_fuzz: invariant broken: request %u: %s (ours %s %s, http-parser %s %s)\n", i,
            what, verdict_names[ours], h1_error_name(e), verdict_names[theirs], http_errno_name(he));
    abort();
}

static bool str_eq(struct http_str a, struct http_str b)
{
    return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len));
}

static struct http_str trim(struct http_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static bool has_bare_cr(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (b[i] == '\r' && b[i + 1] != '\n')
            return true;
    return false;
}

/* The first field of both heads that differs, or NULL. */
static const char *head_differs(const struct h1s_request *q, const struct hp_msg *m)
{
    const char *method = http_method_str((enum http_method)m->method);
    uint64_t cl = m->chunked ? UINT64_MAX : m->content_length;

    if (strlen(method) != q->head.method.len || memcmp(method, q->head.method.ptr, q->head.method.len))
        return "method";
    if (!str_eq(q->head.target, m->url))
        return "target";
    if (m->major != 1 || q->head.http_version != (m->minor ? 11 : 10))
        return "version";
    if (q->head.nheaders != m->nfields)
        return "header count";
    for (uint32_t i = 0; i < m->nfields; i++) {
        struct http_str a = q->headers[i].name, b = m->fields[i].name;

        if (a.len != b.len || strncasecmp(a.ptr, b.ptr, a.len))
            return "header name";
        if (!str_eq(q->headers[i].value, trim(m->fields[i].value)))
            return "header value";
    }
    if (q->head.chunked != m->chunked)
        return "chunked";
    if (q->head.content_length != cl)
        return "content_length";
    if (q->head.keep_alive != m->keep_alive)
        return "keep_alive";
    return NULL;
}

static void compare(const struct h1s_result *ours, const struct hp_run *theirs, enum http_errno herr)
{
    for (uint32_t i = 0; i < H1S_MAX_REQUESTS; i++) {
        const struct h1s_request *q = i < ours->n ? &ours->req[i] : NULL;
        const struct hp_msg *m = i < theirs->n ? &theirs->msg[i] : NULL;
        bool their_last = i + 1 >= theirs->n;
        enum verdict o = !q || q->incomplete ? WAITING : q->err ? REFUSED : COMPLETE;
        enum verdict t = m && m->complete                                               ? COMPLETE
                         : their_last && herr != HPE_OK && herr != HPE_CB_message_begin ? REFUSED
                                                                                        : WAITING;
        enum h1_error err = q ? q->err : H1_OK;
        const char *what;

        /* a head that came in part and holds a bare CR is one we refuse once it is whole: http-parser
         * took that CR for a line end and may have ended the head there */
        if (o == WAITING && q && !q->head_done && has_bare_cr(q->head_bytes, q->head_avail)) {
            o = REFUSED;
            err = H1_ERR_BARE_CR;
        }
        if (q && m && q->head_done && m->head_done && o != REFUSED && t != REFUSED) {
            what = head_differs(q, m);
            if (what) {
                size_t k = 0;

                while (k < COUNT(same_request_differs) && !(same_request_differs[k].applies(q, m) &&
                                                            !strcmp(same_request_differs[k].what, what)))
                    k++;
                if (k == COUNT(same_request_differs))
                    disagree(what, i, o, q->err, t, herr);
                return; /* listed: the streams may part from here */
            }
            size_t n = q->body_len < m->body_len ? q->body_len : m->body_len;

            /* CONNECT has no content (RFC 9110 §9.3.6): http-parser tunnels what follows, we frame it as
             * the fields say, and h1.c refuses CONNECT anyway */
            if (m->method == HTTP_CONNECT)
                return;
            if ((o == COMPLETE && t == COMPLETE && q->body_len != m->body_len) || memcmp(q->body, m->body, n))
                disagree("body", i, o, q->err, t, herr);
        }
        if (o == REFUSED && t == REFUSED)
            return;
        if (o == REFUSED) {
            size_t k = 0;

            while (k < COUNT(we_refuse) && we_refuse[k].err != err)
                k++;
            if (k == COUNT(we_refuse))
                disagree("we refuse, http-parser does not, and no row lists it", i, o, err, t, herr);
            return;
        }
        if (t == REFUSED) {
            size_t k = 0;

            if (q && !q->head_done && o == WAITING)
                return; /* we judge a head only whole */
            while (k < COUNT(they_refuse) &&
                   !(they_refuse[k].err == herr && q && q->head_done && they_refuse[k].applies(q, m)))
                k++;
            if (k == COUNT(they_refuse))
                disagree("http-parser refuses, we do not, and no row lists it", i, o, q ? q->err : H1_OK, t,
                         herr);
            return;
        }
        if (o != t)
            disagree("one side has the request complete, the other waits", i, o, q ? q->err : H1_OK, t, herr);
        if (o == WAITING || m->upgrade)
            return; /* http-parser stops at an upgrade: what follows is another protocol to it */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct h1s_result ours;
    static struct hp_run theirs;
    size_t cuts[MAX_CUTS], ncuts;
    http_parser p;

    if (size < 2)
        return 0;
    data += 2;
    size -= 2;
    ncuts = h1s_cuts((uint32_t)data[-2] << 8 | data[-1], size, cuts, MAX_CUTS);
    h1s_read(data, size, cuts, ncuts, &ours);
    g_end = data + size;

    memset(&theirs, 0, sizeof(theirs));
    theirs.bodies = malloc(size ? size : 1);
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &theirs;
    http_parser_execute(&p, &hp_settings, (const char *)data, size);
    compare(&ours, &theirs, HTTP_PARSER_ERRNO(&p));
    free(theirs.bodies);
    h1s_free(&ours);
    return 0;
}
