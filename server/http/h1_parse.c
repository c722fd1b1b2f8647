/*
 * h1_parse.c — the HTTP/1.1 request framing of h1_parse.h: the head, parsed in place, and the chunked
 * body, decoded incrementally. Pure: bytes in, slices and an h1_error out; no I/O, no allocation, no
 * clock, nothing kept between calls but what the caller holds (struct h1_head_scan, struct h1_chunked).
 *
 * Speed comes from byte-class tables (one load per byte, no branch per character class) and from the
 * head's own last byte: h1_parse_head first checks that the head ends in LF, and every scanning loop
 * stops at an LF, so the loops need no bounds check. Each RFC rule is at the place that enforces it,
 * with its section.
 */
#include "http/h1_parse.h"

#include <string.h>

/* ---- errors -------------------------------------------------------------------------------------- */

static const char *const error_names[H1_ERROR_COUNT] = {[H1_OK] = "ok",
#define H1_ERROR_NAME(id, label, status, help) [H1_ERR_##id] = label,
                                                        H1_ERRORS(H1_ERROR_NAME)
#undef H1_ERROR_NAME
};

static const int error_statuses[H1_ERROR_COUNT] = {
#define H1_ERROR_STATUS(id, label, status, help) [H1_ERR_##id] = status,
    H1_ERRORS(H1_ERROR_STATUS)
#undef H1_ERROR_STATUS
};

const char *h1_error_name(enum h1_error e)
{
    return (unsigned)e < H1_ERROR_COUNT ? error_names[e] : "unknown";
}

int h1_error_status(enum h1_error e)
{
    return (unsigned)e < H1_ERROR_COUNT ? error_statuses[e] : 400;
}

/* ---- byte classes -------------------------------------------------------------------------------- */

/* tchar (RFC 9110 §5.6.2) lowercased, 0 for any other byte: a field name is checked and lowercased by
 * one load per byte. */
#define SAME(c) [c] = c
#define UP(c)   [c] = (c) + ('a' - 'A')
static const uint8_t tchar_lower[256] = {
    SAME('!'), SAME('#'), SAME('$'), SAME('%'), SAME('&'), SAME('\''), SAME('*'), SAME('+'), SAME('-'),
    SAME('.'), SAME('^'), SAME('_'), SAME('`'), SAME('|'), SAME('~'),  SAME('0'), SAME('1'), SAME('2'),
    SAME('3'), SAME('4'), SAME('5'), SAME('6'), SAME('7'), SAME('8'),  SAME('9'), SAME('a'), SAME('b'),
    SAME('c'), SAME('d'), SAME('e'), SAME('f'), SAME('g'), SAME('h'),  SAME('i'), SAME('j'), SAME('k'),
    SAME('l'), SAME('m'), SAME('n'), SAME('o'), SAME('p'), SAME('q'),  SAME('r'), SAME('s'), SAME('t'),
    SAME('u'), SAME('v'), SAME('w'), SAME('x'), SAME('y'), SAME('z'),  UP('A'),   UP('B'),   UP('C'),
    UP('D'),   UP('E'),   UP('F'),   UP('G'),   UP('H'),   UP('I'),    UP('J'),   UP('K'),   UP('L'),
    UP('M'),   UP('N'),   UP('O'),   UP('P'),   UP('Q'),   UP('R'),    UP('S'),   UP('T'),   UP('U'),
    UP('V'),   UP('W'),   UP('X'),   UP('Y'),   UP('Z'),
};
#undef SAME
#undef UP

/* field-vchar, SP and HTAB (RFC 9110 §5.5): a field value's bytes. obs-text (0x80-0xFF) is allowed in
 * values, as the RFC allows; CTLs and DEL are not. */
static const uint8_t value_ok[256] = {['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1};

/* A request-target's bytes (RFC 9112 §3.2, RFC 3986): VCHAR without '#'. No obs-text: a target is
 * ASCII, and a byte above 0x7E is more likely a smuggling probe than a URI. */
static const uint8_t target_ok[256] = {['!' ... '"'] = 1, ['$' ... '~'] = 1};

/* reg-name's bytes (RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims), for an authority's host */
static const uint8_t reg_name_ok[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1,  ['_'] = 1, ['~'] = 1,
    ['%'] = 1,         ['!'] = 1,         ['$'] = 1,         ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1,         ['+'] = 1,         [','] = 1,         [';'] = 1, ['='] = 1,
};

/* HEXDIG's value + 1, 0 for any other byte. */
static const uint8_t hex_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* ASCII case-insensitive equality of s[0..len) with lowercase lit (a token: letters, digits, '-'). */
static bool token_eq(const char *s, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)(s[i] | (is_alpha((uint8_t)s[i]) ? 0x20 : 0)) != (uint8_t)lit[i])
            return false;
    return true;
}

#define TOKEN_EQ(s, len, lit) token_eq((s), (len), lit, sizeof(lit) - 1)

/* ---- lists (RFC 9110 §5.6.1) --------------------------------------------------------------------- */

/* The next non-empty element of a comma-separated list at *at, trimmed; false at the end. Empty
 * elements are skipped, as §5.6.1 asks of recipients. */
static bool list_next(const char **at, const char *end, struct http_str *elem)
{
    const char *p = *at;

    for (;;) {
        while (p < end && (is_ows((uint8_t)*p) || *p == ','))
            p++;
        if (p == end) {
            *at = p;
            return false;
        }
        const char *s = p, *e;

        while (p < end && *p != ',')
            p++;
        e = p;
        while (e > s && is_ows((uint8_t)e[-1]))
            e--;
        *elem = (struct http_str){s, (size_t)(e - s)};
        *at = p;
        return true;
    }
}

/* The leading token of a list element ("gzip" of "gzip;q=1"), and what follows it, trimmed. */
static struct http_str element_token(struct http_str elem, struct http_str *rest)
{
    size_t n = 0;

    while (n < elem.len && tchar_lower[(uint8_t)elem.ptr[n]])
        n++;
    size_t r = n;
    while (r < elem.len && is_ows((uint8_t)elem.ptr[r]))
        r++;
    *rest = (struct http_str){elem.ptr + r, elem.len - r};
    return (struct http_str){elem.ptr, n};
}

bool h1_list_has(struct http_str value, const char *token, size_t token_len)
{
    const char *at = value.ptr, *end;
    struct http_str elem, rest;

    if (!value.ptr) /* no such field: the end is not computed from a null pointer */
        return false;
    end = value.ptr + value.len;
    while (list_next(&at, end, &elem)) {
        struct http_str t = element_token(elem, &rest);

        if ((!rest.len || rest.ptr[0] == ';') && t.len == token_len) {
            size_t i = 0;

            while (i < t.len && (t.ptr[i] | 0x20) == (token[i] | 0x20))
                i++;
            if (i == t.len)
                return true;
        }
    }
    return false;
}

/* ---- the head ------------------------------------------------------------------------------------ */

size_t h1_head_end(struct h1_head_scan *scan, const uint8_t *buf, size_t len)
{
    size_t i = scan->pos;

    /* empty lines before the request-line are not the end of a head (RFC 9112 §2.2); scan->pos passes
     * scan->start once the request-line's first byte is in */
    if (i == scan->start) {
        while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
            i++;
        scan->start = i;
        if (i == len) {
            scan->pos = i;
            return 0;
        }
        i++;
    }
    /* the end is an LF ending an empty line: LF LF or LF CR LF. buf[start] is neither CR nor LF, so
     * looking back from an LF past start never matches and never reads before buf. */
    while (i < len) {
        const uint8_t *lf = memchr(buf + i, '\n', len - i);

        if (!lf)
            break;
        i = (size_t)(lf - buf);
        if (buf[i - 1] == '\n' || (buf[i - 1] == '\r' && buf[i - 2] == '\n')) {
            scan->pos = i + 1;
            return i + 1;
        }
        i++;
    }
    scan->pos = len;
    return 0;
}

/*
 * uri-host [":" port] (RFC 3986 §3.2), the authority of a target or a Host value: a reg-name or an
 * IP-literal in brackets, no userinfo (RFC 9110 §4.2.4 asks to treat one as an error). need_port: the
 * authority-form of CONNECT, where the port is required (RFC 9112 §3.2.3).
 */
static bool authority_ok(const char *a, size_t len, bool need_port)
{
    const char *p = a, *end = a + len;

    if (p < end && *p == '[') {
        for (p++; p < end && *p != ']'; p++)
            if (!hex_value[(uint8_t)*p] && *p != ':' && *p != '.')
                return false;
        if (p == end)
            return false;
        p++;
    } else {
        while (p < end && reg_name_ok[(uint8_t)*p])
            p++;
    }
    if (p == end)
        return !need_port;
    if (*p++ != ':' || (need_port && (p == end || p == a + 1)))
        return false;
    while (p < end && is_digit((uint8_t)*p))
        p++;
    return p == end;
}

/* Folds the semantics of the fields the framing depends on as they are parsed. */
struct head_fields {
    uint32_t host_count;
    bool have_cl;
    bool have_te;
    bool te_last_chunked;
    bool te_unknown;
    uint8_t te_chunked; /* how many times chunked was listed */
    bool conn_close, conn_keep_alive;
};

static enum h1_error content_length(struct h1_head *out, struct head_fields *f, struct http_str v)
{
    uint64_t n = 0;

    /* 1*DIGIT (RFC 9110 §8.6): no sign, no list, no empty value; UINT64_MAX means "none" */
    if (!v.len)
        return H1_ERR_CONTENT_LENGTH;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t d = (uint8_t)v.ptr[i] - '0';

        if (d > 9 || n > (UINT64_MAX - 1 - d) / 10)
            return H1_ERR_CONTENT_LENGTH;
        n = n * 10 + d;
    }
    /* repeated lines with one value are that value (§8.6); two values are a smuggling attempt */
    if (f->have_cl && n != out->content_length)
        return H1_ERR_CONTENT_LENGTH;
    f->have_cl = true;
    out->content_length = n;
    return H1_OK;
}

static enum h1_error transfer_encoding(struct head_fields *f, struct http_str v)
{
    const char *at = v.ptr, *end = v.ptr + v.len;
    struct http_str elem, rest;

    /* a list over any number of lines (RFC 9112 §6.1); only the last coding matters for framing */
    f->have_te = true;
    while (list_next(&at, end, &elem)) {
        struct http_str t = element_token(elem, &rest);

        if (!t.len || (rest.len && rest.ptr[0] != ';'))
            return H1_ERR_TRANSFER_ENCODING;
        f->te_last_chunked = TOKEN_EQ(t.ptr, t.len, "chunked");
        if (f->te_last_chunked) {
            if (rest.len) /* chunked takes no parameters (RFC 9112 §7) */
                return H1_ERR_TRANSFER_ENCODING;
            f->te_chunked++;
        } else {
            f->te_unknown = true;
        }
    }
    return H1_OK;
}

static void connection(struct h1_head *out, struct head_fields *f, struct http_str v)
{
    const char *at = v.ptr, *end = v.ptr + v.len;
    struct http_str elem;

    /* connection-option = token (RFC 9110 §7.6.1); other options name hop-by-hop fields: ignored */
    while (list_next(&at, end, &elem)) {
        if (TOKEN_EQ(elem.ptr, elem.len, "close"))
            f->conn_close = true;
        else if (TOKEN_EQ(elem.ptr, elem.len, "keep-alive"))
            f->conn_keep_alive = true;
        else if (TOKEN_EQ(elem.ptr, elem.len, "upgrade"))
            out->connection_upgrade = true;
    }
}

/* One field line whose name (lowercase) the framing depends on; a switch on the length first, as a
 * head of a dozen fields mostly holds names of other lengths. */
static enum h1_error field(struct h1_head *out, struct head_fields *f, struct http_str name,
                           struct http_str value, uint32_t index)
{
    switch (name.len) {
    case 4:
        if (!memcmp(name.ptr, "host", 4)) {
            /* RFC 9112 §3.2: more than one Host is a 400 */
            if (++f->host_count > 1)
                return H1_ERR_HOST;
            /* §3.2: an invalid Host value is a 400 too */
            if (!authority_ok(value.ptr, value.len, false))
                return H1_ERR_HOST;
            out->host_index = (int32_t)index;
            if (!out->host.ptr) /* an absolute-form target's authority comes first (§3.2.2) */
                out->host = value;
        }
        break;
    case 6:
        if (!memcmp(name.ptr, "expect", 6))
            out->expect_continue = h1_list_has(value, "100-continue", 12);
        break;
    case 10:
        if (!memcmp(name.ptr, "connection", 10))
            connection(out, f, value);
        break;
    case 14:
        if (!memcmp(name.ptr, "content-length", 14))
            return content_length(out, f, value);
        break;
    case 17:
        if (!memcmp(name.ptr, "transfer-encoding", 17))
            return transfer_encoding(f, value);
        break;
    }
    return H1_OK;
}

/* The target's form (RFC 9112 §3.2) decides its path, query and authority. */
static enum h1_error target_form(struct h1_head *out)
{
    const char *t = out->target.ptr, *end = t + out->target.len, *q;

    if (out->method.len == 7 && !memcmp(out->method.ptr, "CONNECT", 7)) {
        /* authority-form, CONNECT's only form (§3.2.3): host:port, no path */
        if (!authority_ok(t, out->target.len, true))
            return H1_ERR_TARGET;
        out->host = out->target;
        out->path = (struct http_str){t, 0};
        out->query = (struct http_str){end, 0};
        return H1_OK;
    }
    if (t[0] == '*') {
        /* asterisk-form, OPTIONS only (§3.2.4) */
        if (out->target.len != 1 || out->method.len != 7 || memcmp(out->method.ptr, "OPTIONS", 7))
            return H1_ERR_TARGET;
        out->path = out->target;
        out->query = (struct http_str){end, 0};
        return H1_OK;
    }
    if (t[0] != '/') {
        /* absolute-form (§3.2.2): "http" or "https" "://" authority path-abempty ["?" query]. Only the
         * schemes this server serves: another is a request meant for a proxy (RFC 9110 §7.4) */
        const char *p = t, *a;

        while (p < end && is_alpha((uint8_t)*p))
            p++;
        if (!(TOKEN_EQ(t, (size_t)(p - t), "http") || TOKEN_EQ(t, (size_t)(p - t), "https")) || end - p < 3 ||
            memcmp(p, "://", 3))
            return H1_ERR_TARGET;
        a = p + 3;
        p = a;
        while (p < end && *p != '/' && *p != '?')
            p++;
        /* an http(s) URI with an empty host is invalid (RFC 9110 §4.2.1) */
        if (p == a || *a == ':' || !authority_ok(a, (size_t)(p - a), false))
            return H1_ERR_TARGET;
        out->host = (struct http_str){a, (size_t)(p - a)};
        t = p;
        if (p == end || *p == '?') { /* an empty path is "/" (RFC 9110 §4.2.3) */
            out->path = HTTP_STR("/");
            out->query =
                p == end ? (struct http_str){end, 0} : (struct http_str){p + 1, (size_t)(end - p - 1)};
            return H1_OK;
        }
    }
    q = memchr(t, '?', (size_t)(end - t));
    out->path = (struct http_str){t, (size_t)((q ? q : end) - t)};
    out->query = q ? (struct http_str){q + 1, (size_t)(end - q - 1)} : (struct http_str){end, 0};
    return H1_OK;
}

/* Past the line end at p: CRLF, or a bare LF (RFC 9112 §2.2 lets a recipient take it in the head). A
 * CR must be followed by LF; p[1] is in the head, as its last byte is LF, not CR. */
#define LINE_END(p, err)                                                                                     \
    do {                                                                                                     \
        if (*(p) == '\r') {                                                                                  \
            if ((p)[1] != '\n')                                                                              \
                return H1_ERR_BARE_CR;                                                                       \
            (p)++;                                                                                           \
        }                                                                                                    \
        if (*(p) != '\n')                                                                                    \
            return (err);                                                                                    \
        (p)++;                                                                                               \
    } while (0)

enum h1_error h1_parse_head(uint8_t *buf, size_t len, struct h1_head *out, struct http_header *headers,
                            uint32_t max_headers)
{
    uint8_t *p = buf, *end = buf + len, *s;
    struct head_fields f = {0};
    enum h1_error err;
    uint32_t n = 0;

    *out = (struct h1_head){.content_length = UINT64_MAX, .host_index = -1};
    /* every loop below stops at an LF: this one bounds them all */
    if (!len || end[-1] != '\n')
        return H1_ERR_HEAD_END;
    while (*p == '\r' || *p == '\n') { /* empty lines before the request-line (§2.2) */
        LINE_END(p, H1_ERR_HEAD_END);
        if (p == end)
            return H1_ERR_HEAD_END;
    }

    /* request-line = method SP request-target SP HTTP-version (§3), exactly one SP between them */
    s = p;
    while (tchar_lower[*p])
        p++;
    if (*p != ' ' || p == s)
        return *p == ' ' || *p == '\r' || *p == '\n' ? H1_ERR_REQUEST_LINE : H1_ERR_METHOD;
    out->method = (struct http_str){(char *)s, (size_t)(p - s)};
    s = ++p;
    while (target_ok[*p])
        p++;
    if (*p != ' ' || p == s)
        return *p == ' ' || *p == '\r' || *p == '\n' ? H1_ERR_REQUEST_LINE : H1_ERR_TARGET;
    out->target = (struct http_str){(char *)s, (size_t)(p - s)};
    p++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (§2.3); "HTTP/1.1\n" is the shortest rest of a head */
    if (end - p < 9 || memcmp(p, "HTTP/", 5) || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]) ||
        (p[8] != '\r' && p[8] != '\n'))
        return H1_ERR_VERSION;
    /* RFC 9110 §2.5: a later minor version is answered as the highest we speak; another major is 505 */
    if (p[5] != '1')
        return H1_ERR_VERSION_UNSUPPORTED;
    out->http_version = p[7] == '0' ? 10 : 11;
    p += 8;
    LINE_END(p, H1_ERR_VERSION);
    err = target_form(out);
    if (err)
        return err;

    /* field lines (§5): name ":" OWS value OWS, until the empty line */
    for (;;) {
        uint8_t *name, *v, *ve, c;

        if (p == end)
            return H1_ERR_HEAD_END;
        if (*p == '\r' || *p == '\n') {
            LINE_END(p, H1_ERR_HEAD_END);
            if (p != end)
                return H1_ERR_HEAD_END;
            break;
        }
        /* obs-fold (§5.2), and whitespace between the request-line and the first field (§2.2) */
        if (is_ows(*p))
            return H1_ERR_OBS_FOLD;
        name = p;
        while ((c = tchar_lower[*p]))
            *p++ = c;
        /* no whitespace between name and colon (§5.1): a proxy may read "Content-Length : 42" otherwise */
        if (*p != ':' || p == name)
            return H1_ERR_FIELD_NAME;
        s = p++;
        while (is_ows(*p))
            p++;
        v = p;
        while (value_ok[*p])
            p++;
        ve = p;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        LINE_END(p, H1_ERR_FIELD_VALUE);
        /* a folded line continues this value: refused as that, before the value is judged alone */
        if (p < end && is_ows(*p))
            return H1_ERR_OBS_FOLD;
        if (n == max_headers)
            return H1_ERR_TOO_MANY_HEADERS;
        headers[n] = (struct http_header){{(char *)name, (size_t)(s - name)}, {(char *)v, (size_t)(ve - v)}};
        err = field(out, &f, headers[n].name, headers[n].value, n);
        if (err)
            return err;
        n++;
    }
    out->nheaders = n;

    /* RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (HTTP/1.0 predates Host) */
    if (out->http_version == 11 && !f.host_count)
        return H1_ERR_HOST;
    if (f.have_te) {
        /* §6.1: TE in HTTP/1.0 means faulty framing; TE with Content-Length is how requests are
         * smuggled past a proxy reading the other one (§6.3 lets us refuse rather than pick) */
        if (out->http_version == 10)
            return H1_ERR_TE_HTTP10;
        if (f.have_cl)
            return H1_ERR_TE_WITH_CL;
        /* §6.3: a request whose final coding is not chunked has no knowable length */
        if (!f.te_last_chunked || f.te_chunked > 1)
            return H1_ERR_TRANSFER_ENCODING;
        /* §6.1: a coding we do not decode (gzip, chunked): 501 */
        if (f.te_unknown)
            return H1_ERR_UNKNOWN_CODING;
        out->chunked = true;
    }
    out->keep_alive = out->http_version == 11 ? !f.conn_close : f.conn_keep_alive && !f.conn_close;
    /* RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored */
    out->expect_continue = out->expect_continue && out->http_version == 11;
    return H1_OK;
}

/* ---- the chunked body (RFC 9112 §7.1) ------------------------------------------------------------ */

/* Where the decoder is; the comment is what the next byte may be. */
enum {
    CK_SIZE_FIRST,    /* HEXDIG */
    CK_SIZE,          /* HEXDIG, BWS, ';' or CR */
    CK_SIZE_WS,       /* BWS, then ';': whitespace after a size only comes before an extension */
    CK_EXT_NAME0,     /* BWS, then a token */
    CK_EXT_NAME,      /* token, BWS, '=', ';' or CR */
    CK_EXT_NAME_WS,   /* BWS, then '=' or ';' */
    CK_EXT_VALUE0,    /* BWS, then a token or a quoted-string */
    CK_EXT_TOKEN,     /* token, BWS, ';' or CR */
    CK_EXT_QUOTED,    /* qdtext, '\' or the closing '"' */
    CK_EXT_ESCAPE,    /* the byte of a quoted-pair */
    CK_EXT_VALUE_END, /* BWS, ';' or CR */
    CK_EXT_VALUE_WS,  /* BWS, then ';' */
    CK_SIZE_LF,       /* LF ending the size line */
    CK_DATA,          /* chunk data */
    CK_DATA_CR,       /* CR after the data */
    CK_DATA_LF,       /* LF after the data */
    CK_TRAILER0,      /* a trailer field's first byte, or CR of the final empty line */
    CK_TRAILER_NAME,  /* token or ':' */
    CK_TRAILER_VALUE, /* field value bytes or CR */
    CK_TRAILER_LF,    /* LF ending a trailer line */
    CK_LAST_LF,       /* LF ending the body */
    CK_DONE,
    CK_ERROR, /* _left holds the error */
};

void h1_chunked_init(struct h1_chunked *c, uint32_t max_trailer_bytes)
{
    *c = (struct h1_chunked){._max_trailer = max_trailer_bytes, ._state = CK_SIZE_FIRST};
}

bool h1_chunked_done(const struct h1_chunked *c)
{
    return c->_state == CK_DONE;
}

/* qdtext and the byte of a quoted-pair (RFC 9110 §5.6.4), without the '"' and '\' qdtext leaves out. */
static bool is_qdtext(uint8_t ch)
{
    return ch == '\t' || (ch >= ' ' && ch != 0x7f);
}

enum h1_error h1_chunked_step(struct h1_chunked *c, const uint8_t *in, size_t len, size_t *used,
                              struct h1_span *data)
{
    const uint8_t *p = in, *end = in + len;
    enum h1_error err = H1_OK;

    *data = (struct h1_span){in, 0};
    if (c->_state == CK_ERROR) {
        *used = 0;
        return (enum h1_error)c->_left;
    }
    while (p < end && c->_state != CK_DONE) {
        uint8_t ch = *p;

        /* a bare LF anywhere in the framing is an error: no leniency where requests are smuggled */
        switch (c->_state) {
        case CK_DATA: {
            size_t n = (size_t)(end - p) < c->_left ? (size_t)(end - p) : (size_t)c->_left;

            *data = (struct h1_span){p, n};
            p += n;
            c->_left -= n;
            if (!c->_left)
                c->_state = CK_DATA_CR;
            goto out;
        }
        case CK_SIZE_FIRST:
            /* chunk-size = 1*HEXDIG: no sign, no 0x, no leading whitespace */
            if (!hex_value[ch]) {
                err = ch == '\n' ? H1_ERR_CHUNK_LINE_END : H1_ERR_CHUNK_SIZE;
                goto fail;
            }
            c->_left = hex_value[ch] - 1u;
            c->_state = CK_SIZE;
            break;
        case CK_SIZE:
            if (hex_value[ch]) {
                if (c->_left > (H1_CHUNK_SIZE_MAX - (hex_value[ch] - 1u)) >> 4) {
                    err = H1_ERR_CHUNK_SIZE;
                    goto fail;
                }
                c->_left = c->_left << 4 | (hex_value[ch] - 1u);
            } else if (ch == '\r') {
                c->_state = CK_SIZE_LF;
            } else if (ch == ';') {
                c->_line = 0;
                c->_state = CK_EXT_NAME0;
            } else if (is_ows(ch)) {
                c->_line = 0;
                c->_state = CK_SIZE_WS;
            } else {
                err = ch == '\n' ? H1_ERR_CHUNK_LINE_END : H1_ERR_CHUNK_SIZE;
                goto fail;
            }
            break;
        case CK_SIZE_LF:
            if (ch != '\n') {
                err = H1_ERR_CHUNK_LINE_END;
                goto fail;
            }
            c->_line = 0;
            c->_state = c->_left ? CK_DATA : CK_TRAILER0;
            break;
        case CK_DATA_CR:
            if (ch != '\r') {
                err = H1_ERR_CHUNK_LINE_END;
                goto fail;
            }
            c->_state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (ch != '\n') {
                err = H1_ERR_CHUNK_LINE_END;
                goto fail;
            }
            c->_state = CK_SIZE_FIRST;
            break;
        case CK_LAST_LF:
            if (ch != '\n') {
                err = H1_ERR_CHUNK_LINE_END;
                goto fail;
            }
            c->_state = CK_DONE;
            break;
        case CK_TRAILER0:
        case CK_TRAILER_NAME:
        case CK_TRAILER_VALUE:
        case CK_TRAILER_LF:
            if (c->_state == CK_TRAILER0 && ch == '\r') {
                c->_state = CK_LAST_LF;
                break;
            }
            /* trailer fields are read only to find the end; their bytes are bounded, never kept */
            if (++c->_line > c->_max_trailer) {
                err = H1_ERR_TRAILER_TOO_LARGE;
                goto fail;
            }
            if (c->_state == CK_TRAILER0 || c->_state == CK_TRAILER_NAME) {
                if (tchar_lower[ch])
                    c->_state = CK_TRAILER_NAME;
                else if (ch == ':' && c->_state == CK_TRAILER_NAME)
                    c->_state = CK_TRAILER_VALUE;
                else {
                    err = ch == '\n' ? H1_ERR_CHUNK_LINE_END : H1_ERR_TRAILER;
                    goto fail;
                }
            } else if (c->_state == CK_TRAILER_VALUE) {
                if (ch == '\r')
                    c->_state = CK_TRAILER_LF;
                else if (!value_ok[ch]) {
                    err = ch == '\n' ? H1_ERR_CHUNK_LINE_END : H1_ERR_TRAILER;
                    goto fail;
                }
            } else {
                if (ch != '\n') {
                    err = H1_ERR_CHUNK_LINE_END;
                    goto fail;
                }
                c->_state = CK_TRAILER0;
            }
            break;
        default:
            /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ) (§7.1.1): checked and
             * skipped, at most H1_CHUNK_EXT_MAX bytes a line */
            if (++c->_line > H1_CHUNK_EXT_MAX) {
                err = H1_ERR_CHUNK_EXT;
                goto fail;
            }
            err = ch == '\n' ? H1_ERR_CHUNK_LINE_END : H1_ERR_CHUNK_EXT;
            switch (c->_state) {
            case CK_SIZE_WS:
            case CK_EXT_VALUE_WS:
                if (ch == ';')
                    c->_state = CK_EXT_NAME0;
                else if (!is_ows(ch))
                    goto fail;
                break;
            case CK_EXT_NAME0:
                if (tchar_lower[ch])
                    c->_state = CK_EXT_NAME;
                else if (!is_ows(ch))
                    goto fail;
                break;
            case CK_EXT_NAME:
            case CK_EXT_TOKEN:
            case CK_EXT_VALUE_END:
                if (ch == '\r')
                    c->_state = CK_SIZE_LF;
                else if (ch == ';')
                    c->_state = CK_EXT_NAME0;
                else if (ch == '=' && c->_state == CK_EXT_NAME)
                    c->_state = CK_EXT_VALUE0;
                else if (is_ows(ch))
                    c->_state = c->_state == CK_EXT_NAME ? CK_EXT_NAME_WS : CK_EXT_VALUE_WS;
                else if (!tchar_lower[ch] || c->_state == CK_EXT_VALUE_END)
                    goto fail;
                break;
            case CK_EXT_NAME_WS:
                if (ch == '=')
                    c->_state = CK_EXT_VALUE0;
                else if (ch == ';')
                    c->_state = CK_EXT_NAME0;
                else if (!is_ows(ch))
                    goto fail;
                break;
            case CK_EXT_VALUE0:
                if (ch == '"')
                    c->_state = CK_EXT_QUOTED;
                else if (tchar_lower[ch])
                    c->_state = CK_EXT_TOKEN;
                else if (!is_ows(ch))
                    goto fail;
                break;
            case CK_EXT_QUOTED:
                if (ch == '"')
                    c->_state = CK_EXT_VALUE_END;
                else if (ch == '\\')
                    c->_state = CK_EXT_ESCAPE;
                else if (!is_qdtext(ch))
                    goto fail;
                break;
            case CK_EXT_ESCAPE:
                if (!is_qdtext(ch))
                    goto fail;
                c->_state = CK_EXT_QUOTED;
                break;
            }
            err = H1_OK;
            break;
        }
        p++;
    }
out:
    *used = (size_t)(p - in);
    return H1_OK;
fail:
    c->_state = CK_ERROR;
    c->_left = err;
    *used = (size_t)(p - in);
    return err;
}
