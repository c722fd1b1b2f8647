/*
 * h1_parse_test.c — the HTTP/1.1 request framing (server/http/h1_parse.h) on its own, in memory.
 *
 * Table-driven: each head case is a request and the h1_error it must give (H1_OK for a good one);
 * each chunked case is a body and the bytes it decodes to, or its error, fed whole, split at every
 * byte boundary and byte by byte. A stream of pipelined requests is read as a server reads it (head,
 * then Content-Length bytes or chunked framing, then the next), so a smuggling probe is checked for
 * what matters: the request hidden in it never comes out. Every input is copied into a heap block of
 * exactly its length first: under ASan a read past the end fails the test.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/check.h"
#include "http/h1_parse.h"

#define MAX_HEADERS 32
#define MAX_TRAILER 256

static uint8_t *dup_exact(const char *s, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);

    memcpy(b, s, len);
    return b;
}

/* h1_head_end then h1_parse_head on a copy of req; the head's length in *head_len (0: incomplete). */
static enum h1_error parse(const char *req, struct h1_head *h, struct http_header *hd, size_t *head_len)
{
    size_t len = strlen(req);
    uint8_t *b = dup_exact(req, len);
    struct h1_head_scan scan = {0};
    size_t n = h1_head_end(&scan, b, len);
    enum h1_error err = n ? h1_parse_head(b, n, h, hd, MAX_HEADERS) : H1_ERR_HEAD_END;

    *head_len = n;
    /* the strings point into b: the tests that read them use parse_keep */
    free(b);
    return err;
}

/* ---- heads: the verdict ------------------------------------------------------------------------- */

struct head_case {
    const char *name;
    const char *req;
    enum h1_error want;
};

#define H      "Host: a\r\n"
#define GET(v) "GET / " v "\r\n"

static const struct head_case head_cases[] = {
    {"minimal 1.1", GET("HTTP/1.1") H "\r\n", H1_OK},
    {"1.0 without Host", GET("HTTP/1.0") "\r\n", H1_OK},
    {"1.2 served as 1.1", GET("HTTP/1.2") H "\r\n", H1_OK},
    {"empty lines before the request-line", "\r\n\r\n\n" GET("HTTP/1.1") H "\r\n", H1_OK},
    {"LF-only line ends", "GET / HTTP/1.1\nHost: a\n\n", H1_OK},
    {"OWS around a value", GET("HTTP/1.1") "Host: \t a \t\r\n\r\n", H1_OK},
    {"empty value", GET("HTTP/1.1") H "X-Empty:\r\n\r\n", H1_OK},
    {"obs-text in a value", GET("HTTP/1.1") H "X: caf\xc3\xa9\r\n\r\n", H1_OK},
    {"any token method", "M-SEARCH / HTTP/1.1\r\n" H "\r\n", H1_OK},
    {"asterisk-form for another method", "M-SEARCH * HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"OPTIONS *", "OPTIONS * HTTP/1.1\r\n" H "\r\n", H1_OK},
    {"absolute-form", "GET http://b/x?y HTTP/1.1\r\n" H "\r\n", H1_OK},
    {"CONNECT authority-form", "CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", H1_OK},
    {"repeated identical Content-Length",
     "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 3\r\n\r\n", H1_OK},
    {"chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", H1_OK},
    {"TE list with empty elements", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: , chunked ,\r\n\r\n", H1_OK},

    {"HTTP/2.0 request-line", GET("HTTP/2.0") H "\r\n", H1_ERR_VERSION_UNSUPPORTED},
    {"HTTP/0.9 version", GET("HTTP/0.9") H "\r\n", H1_ERR_VERSION_UNSUPPORTED},
    {"no version (0.9 style)", "GET /\r\n\r\n", H1_ERR_REQUEST_LINE},
    {"version with two minor digits", GET("HTTP/1.10") H "\r\n", H1_ERR_VERSION},
    {"lowercase http", GET("http/1.1") H "\r\n", H1_ERR_VERSION},
    {"space after the version", GET("HTTP/1.1 ") H "\r\n", H1_ERR_VERSION},
    {"two spaces after the method", "GET  / HTTP/1.1\r\n" H "\r\n", H1_ERR_REQUEST_LINE},
    {"two spaces after the target", "GET /  HTTP/1.1\r\n" H "\r\n", H1_ERR_VERSION},
    {"tab as separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", H1_ERR_METHOD},
    {"method not a token", "GE(T / HTTP/1.1\r\n" H "\r\n", H1_ERR_METHOD},
    {"target with a CTL", "GET /\x01 HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"target with obs-text", "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"target with a fragment", "GET /a#b HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"target of no form", "GET a HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"CONNECT without port", "CONNECT b HTTP/1.1\r\nHost: b\r\n\r\n", H1_ERR_TARGET},
    {"CONNECT with a path", "CONNECT b:1/x HTTP/1.1\r\nHost: b\r\n\r\n", H1_ERR_TARGET},
    {"CONNECT to an IP-literal", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", H1_OK},
    {"absolute-form of another scheme", "GET ftp://b/ HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"absolute-form without host", "GET http:///a HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"absolute-form with userinfo", "GET http://u@b/ HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"Host with a bad byte", GET("HTTP/1.1") "Host: a{b\r\n\r\n", H1_ERR_HOST},
    {"Host with a bad port", GET("HTTP/1.1") "Host: a:8x\r\n\r\n", H1_ERR_HOST},
    {"empty Host", GET("HTTP/1.1") "Host:\r\n\r\n", H1_OK},
    {"asterisk for GET", "GET * HTTP/1.1\r\n" H "\r\n", H1_ERR_TARGET},
    {"bare CR in the request-line", "GET / HTTP/1.1\rHost: a\r\n\r\n", H1_ERR_BARE_CR},
    {"bare CR in a value", GET("HTTP/1.1") "Host: a\rb\r\n\r\n", H1_ERR_BARE_CR},
    {"bare CR before the request-line", "\r" GET("HTTP/1.1") H "\r\n", H1_ERR_BARE_CR},
    {"CTL in a value", GET("HTTP/1.1") H "X: a\x01b\r\n\r\n", H1_ERR_FIELD_VALUE},
    {"DEL in a value", GET("HTTP/1.1") H "X: a\x7f\r\n\r\n", H1_ERR_FIELD_VALUE},
    {"space before the colon", "POST / HTTP/1.1\r\n" H "Content-Length : 42\r\n\r\n", H1_ERR_FIELD_NAME},
    {"tab before the colon", GET("HTTP/1.1") "Host\t: a\r\n\r\n", H1_ERR_FIELD_NAME},
    {"space in a field name", GET("HTTP/1.1") H "X Y: 1\r\n\r\n", H1_ERR_FIELD_NAME},
    {"empty field name", GET("HTTP/1.1") H ": 1\r\n\r\n", H1_ERR_FIELD_NAME},
    {"field line without colon", GET("HTTP/1.1") H "X\r\n\r\n", H1_ERR_FIELD_NAME},
    {"obs-fold", GET("HTTP/1.1") H "X: a\r\n b\r\n\r\n", H1_ERR_OBS_FOLD},
    {"whitespace before the first field", GET("HTTP/1.1") " Host: a\r\n\r\n", H1_ERR_OBS_FOLD},
    {"1.1 without Host", GET("HTTP/1.1") "\r\n", H1_ERR_HOST},
    {"two Hosts", GET("HTTP/1.1") H H "\r\n", H1_ERR_HOST},
    {"two Hosts on 1.0", GET("HTTP/1.0") H H "\r\n", H1_ERR_HOST},
    {"Content-Length not digits", "POST / HTTP/1.1\r\n" H "Content-Length: 4a\r\n\r\n",
     H1_ERR_CONTENT_LENGTH},
    {"Content-Length signed", "POST / HTTP/1.1\r\n" H "Content-Length: +4\r\n\r\n", H1_ERR_CONTENT_LENGTH},
    {"Content-Length empty", "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", H1_ERR_CONTENT_LENGTH},
    {"Content-Length list", "POST / HTTP/1.1\r\n" H "Content-Length: 4, 4\r\n\r\n", H1_ERR_CONTENT_LENGTH},
    {"Content-Length overflow", "POST / HTTP/1.1\r\n" H "Content-Length: 18446744073709551616\r\n\r\n",
     H1_ERR_CONTENT_LENGTH},
    {"Content-Length UINT64_MAX", "POST / HTTP/1.1\r\n" H "Content-Length: 18446744073709551615\r\n\r\n",
     H1_ERR_CONTENT_LENGTH},
    {"two different Content-Lengths",
     "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 4\r\n\r\n", H1_ERR_CONTENT_LENGTH},
    {"TE last not chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n",
     H1_ERR_TRANSFER_ENCODING},
    {"TE gzip alone", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", H1_ERR_TRANSFER_ENCODING},
    {"TE chunked twice",
     "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     H1_ERR_TRANSFER_ENCODING},
    {"TE empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", H1_ERR_TRANSFER_ENCODING},
    {"TE chunked with a parameter", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;a=b\r\n\r\n",
     H1_ERR_TRANSFER_ENCODING},
    {"TE xchunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", H1_ERR_TRANSFER_ENCODING},
    {"TE gzip, chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
     H1_ERR_UNKNOWN_CODING},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_HTTP10},
    {"TE with Content-Length",
     "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERR_TE_WITH_CL},
};

static void test_head_cases(void)
{
    for (size_t i = 0; i < CHECK_COUNT(head_cases); i++) {
        const struct head_case *c = &head_cases[i];
        struct http_header hd[MAX_HEADERS];
        struct h1_head h;
        size_t n;
        enum h1_error err = parse(c->req, &h, hd, &n);

        CHECKF(err == c->want, "%s: got %s, want %s", c->name, h1_error_name(err), h1_error_name(c->want));
    }
}

/* ---- heads: what comes out ---------------------------------------------------------------------- */

#define CHROME                                                                                               \
    "GET /search/results?q=sluice&page=2 HTTP/1.1\r\n"                                                       \
    "Host: www.example.com\r\n"                                                                              \
    "Connection: keep-alive\r\n"                                                                             \
    "Cache-Control: max-age=0\r\n"                                                                           \
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"           \
    "sec-ch-ua-mobile: ?0\r\n"                                                                               \
    "sec-ch-ua-platform: \"Linux\"\r\n"                                                                      \
    "Upgrade-Insecure-Requests: 1\r\n"                                                                       \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "                    \
    "Chrome/124.0.0.0 Safari/537.36\r\n"                                                                     \
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"      \
    "Sec-Fetch-Site: same-origin\r\n"                                                                        \
    "Sec-Fetch-Mode: navigate\r\n"                                                                           \
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"                                                           \
    "Accept-Language: en-US,en;q=0.9\r\n"                                                                    \
    "\r\n"

static bool str_is(struct http_str s, const char *lit)
{
    return s.ptr && s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

/* parse into a buffer the caller frees, for tests that read the strings */
static enum h1_error parse_keep(const char *req, uint8_t **b, struct h1_head *h, struct http_header *hd)
{
    size_t len = strlen(req), n;
    struct h1_head_scan scan = {0};

    *b = dup_exact(req, len);
    n = h1_head_end(&scan, *b, len);
    return n ? h1_parse_head(*b, n, h, hd, MAX_HEADERS) : H1_ERR_HEAD_END;
}

static void test_browser_head(void)
{
    struct http_header hd[MAX_HEADERS];
    struct h1_head h;
    uint8_t *b;
    enum h1_error err = parse_keep(CHROME, &b, &h, hd);

    CHECKF(err == H1_OK, "%s", h1_error_name(err));
    CHECK(str_is(h.method, "GET"));
    CHECK(str_is(h.target, "/search/results?q=sluice&page=2"));
    CHECK(str_is(h.path, "/search/results"));
    CHECK(str_is(h.query, "q=sluice&page=2"));
    CHECK(str_is(h.host, "www.example.com"));
    CHECK(h.host_index == 0);
    CHECKF(h.nheaders == 13, "%u", h.nheaders);
    CHECK(str_is(hd[3].name, "sec-ch-ua"));
    CHECK(str_is(hd[8].name, "accept"));
    CHECK(str_is(hd[11].value, "gzip, deflate, br, zstd"));
    CHECK(h.http_version == 11 && h.keep_alive && !h.chunked && !h.expect_continue);
    CHECK(h.content_length == UINT64_MAX);
    free(b);
}

static void test_head_fields(void)
{
    struct http_header hd[MAX_HEADERS];
    struct h1_head h;
    uint8_t *b;

    CHECK(
        parse_keep("PUT /up HTTP/1.1\r\nHOST: x\r\nExpect: 100-Continue\r\nContent-Length: 0042\r\n"
                   "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n",
                   &b, &h, hd) == H1_OK);
    CHECK(str_is(hd[0].name, "host") && str_is(hd[0].value, "x"));
    CHECK(h.expect_continue && h.connection_upgrade && h.keep_alive);
    CHECK(h.content_length == 42);
    CHECK(h1_list_has(hd[4].value, "h2c", 3) && !h1_list_has(hd[4].value, "h2", 2));
    CHECK(str_is(h.query, "") && h.query.ptr);
    free(b);

    CHECK(parse_keep(GET("HTTP/1.1") H "Connection: close\r\n\r\n", &b, &h, hd) == H1_OK);
    CHECK(!h.keep_alive);
    free(b);
    /* close anywhere in the list, after elements of any tchar and OWS (the h1_diff fuzzer's finding:
     * http-parser stops at an element starting with '_') */
    CHECK(parse_keep(GET("HTTP/1.1") H "Connection: _  , _x,close\r\n\r\n", &b, &h, hd) == H1_OK);
    CHECK(!h.keep_alive);
    free(b);
    CHECK(parse_keep(GET("HTTP/1.0") "Connection: keep-alive\r\nExpect: 100-continue\r\n\r\n", &b, &h, hd) ==
          H1_OK);
    CHECK(h.keep_alive && h.http_version == 10 && !h.expect_continue && !h.host.ptr && h.host_index == -1);
    free(b);
    CHECK(parse_keep(GET("HTTP/1.0") "\r\n", &b, &h, hd) == H1_OK);
    CHECK(!h.keep_alive);
    free(b);
    CHECK(parse_keep(GET("HTTP/1.3") H "\r\n", &b, &h, hd) == H1_OK);
    CHECK(h.http_version == 11 && h.keep_alive);
    free(b);
    CHECK(parse_keep("GET http://Auth:81 HTTP/1.1\r\nHost: other\r\n\r\n", &b, &h, hd) == H1_OK);
    CHECK(str_is(h.host, "Auth:81") && str_is(h.path, "/") && str_is(h.query, "") && h.host_index == 0);
    free(b);
    CHECK(parse_keep("GET https://a/b/c?d HTTP/1.1\r\nHost: a\r\n\r\n", &b, &h, hd) == H1_OK);
    CHECK(str_is(h.path, "/b/c") && str_is(h.query, "d"));
    free(b);
    CHECK(parse_keep("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &b, &h, hd) ==
          H1_OK);
    CHECK(h.chunked && h.content_length == UINT64_MAX);
    free(b);
}

static void test_too_many_headers(void)
{
    char req[4096];
    struct http_header hd[4];
    struct h1_head h;
    struct h1_head_scan scan = {0};
    size_t n;
    int len = snprintf(req, sizeof(req), GET("HTTP/1.1") H "A: 1\r\nB: 2\r\nC: 3\r\n\r\n");

    n = h1_head_end(&scan, (uint8_t *)req, (size_t)len);
    CHECK(h1_parse_head((uint8_t *)req, n, &h, hd, 4) == H1_OK);
    len = snprintf(req, sizeof(req), GET("HTTP/1.1") H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    scan = (struct h1_head_scan){0};
    n = h1_head_end(&scan, (uint8_t *)req, (size_t)len);
    CHECK(h1_parse_head((uint8_t *)req, n, &h, hd, 4) == H1_ERR_TOO_MANY_HEADERS);
    CHECK(h1_error_status(H1_ERR_TOO_MANY_HEADERS) == 431);
}

/* The end of the head, found however the bytes arrive, each byte searched once. */
static void test_head_end_drip(void)
{
    static const char *const heads[] = {CHROME, "\r\n\n" GET("HTTP/1.1") H "\r\n",
                                        "GET / HTTP/1.1\nHost: a\n\n", "GET / HTTP/1.1\nHost: a\n\r\n"};

    for (size_t k = 0; k < CHECK_COUNT(heads); k++) {
        size_t len = strlen(heads[k]);
        uint8_t *b = dup_exact(heads[k], len);
        struct h1_head_scan scan = {0};
        size_t found = 0, i;

        for (i = 1; i <= len && !found; i++)
            found = h1_head_end(&scan, b, i);
        CHECKF(found == len && i - 1 == len, "head %zu: found %zu of %zu", k, found, len);
        free(b);
    }
    /* only empty lines: never a head */
    struct h1_head_scan scan = {0};
    CHECK(!h1_head_end(&scan, (const uint8_t *)"\r\n\r\n\n\n", 6));
    CHECK(!h1_head_end(&scan, (const uint8_t *)"\r\n\r\n\n\nG\r\n", 9));
    CHECK(h1_head_end(&scan, (const uint8_t *)"\r\n\r\n\n\nG\r\n\r\n", 11) == 11);
}

static void test_error_table(void)
{
    for (int e = 0; e < H1_ERROR_COUNT; e++) {
        int s = h1_error_status((enum h1_error)e);

        CHECKF(h1_error_name((enum h1_error)e) && *h1_error_name((enum h1_error)e), "error %d has no name",
               e);
        CHECKF(e == H1_OK ? s == 0 : s == 400 || s == 431 || s == 501 || s == 505, "%s: %d",
               h1_error_name((enum h1_error)e), s);
        for (int f = 0; f < e; f++)
            CHECKF(strcmp(h1_error_name((enum h1_error)e), h1_error_name((enum h1_error)f)), "%s twice",
                   h1_error_name((enum h1_error)e));
    }
    CHECK(h1_error_status(H1_ERR_UNKNOWN_CODING) == 501 &&
          h1_error_status(H1_ERR_VERSION_UNSUPPORTED) == 505);
}

/* ---- chunked bodies ---------------------------------------------------------------------------- */

struct chunk_case {
    const char *name;
    const char *in;
    const char *body;   /* decoded, when want is H1_OK */
    size_t used;        /* bytes the body takes (what follows is the next request's); 0: all of in */
    enum h1_error want; /* at the end of in: H1_OK means done */
};

static const struct chunk_case chunk_cases[] = {
    {"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 0, H1_OK},
    {"two chunks, hex sizes", "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", "abc0123456789", 0, H1_OK},
    {"uppercase and leading zeros", "00000000000000000000B\r\nhello world\r\n000\r\n\r\n", "hello world", 0,
     H1_OK},
    {"empty body", "0\r\n\r\n", "", 0, H1_OK},
    {"the next request stays", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x", 11, H1_OK},
    {"extensions", "2;a\r\nab\r\n2 ; b = c ;d=\"q\\\"s;\"\r\nde\r\n0;last\r\n\r\n", "abde", 0, H1_OK},
    {"trailers", "1\r\nz\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n", "z", 0, H1_OK},
    {"zz", "zz\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"negative", "-5\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"leading space", " 5\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"empty size", "\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"overflow", "10000000000000000000005\r\nhello\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"above the cap", "4000000000000001\r\n", "", 0, H1_ERR_CHUNK_SIZE},
    {"LF-only size line", "5\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"LF-only after data", "5\r\nhello\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"LF-only last line", "0\r\n\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"data longer than its size", "3\r\nabcd\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"bare CR after size", "5\rhello\r\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"space after size, no extension", "5 \r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_EXT},
    {"extension without name", "5;\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_EXT},
    {"extension name not a token", "5;a@b\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_EXT},
    {"extension value missing", "5;a=\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_EXT},
    {"unterminated quoted value", "5;a=\"b\r\nhello\r\n0\r\n\r\n", "", 0, H1_ERR_CHUNK_EXT},
    {"trailer with space before colon", "0\r\nX : 1\r\n\r\n", "", 0, H1_ERR_TRAILER},
    {"trailer with a CTL", "0\r\nX: \x01\r\n\r\n", "", 0, H1_ERR_TRAILER},
    {"trailer obs-fold", "0\r\nX: 1\r\n 2\r\n\r\n", "", 0, H1_ERR_TRAILER},
    {"trailer LF-only", "0\r\nX: 1\n\r\n", "", 0, H1_ERR_CHUNK_LINE_END},
    {"trailers too large",
     "0\r\nX: 0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "01234567890123456789012345678901234567890123456789\r\n\r\n",
     "", 0, H1_ERR_TRAILER_TOO_LARGE},
};

/* Decode in[0..len) as pieces of piece bytes (0: whole); the data re-assembled into out. */
static enum h1_error decode(const uint8_t *in, size_t len, size_t piece, uint8_t *out, size_t *out_len,
                            size_t *used_total, bool *done)
{
    struct h1_chunked c;
    size_t off = 0;

    h1_chunked_init(&c, MAX_TRAILER);
    *out_len = 0;
    while (off < len && !h1_chunked_done(&c)) {
        size_t n = piece && len - off > piece ? piece : len - off;
        const uint8_t *seg = in + off; /* a segment of its own, as the transport hands them */
        uint8_t *copy = malloc(n);

        memcpy(copy, seg, n);
        size_t at = 0;
        while (at < n && !h1_chunked_done(&c)) {
            struct h1_span d;
            size_t used;
            enum h1_error err = h1_chunked_step(&c, copy + at, n - at, &used, &d);

            if (err) {
                free(copy);
                *used_total = off + at + used;
                *done = false;
                return err;
            }
            if (d.len) {
                if (d.ptr < copy + at || d.ptr + d.len > copy + n)
                    abort();
                memcpy(out + *out_len, d.ptr, d.len);
                *out_len += d.len;
            }
            at += used;
        }
        free(copy);
        off += at;
    }
    *used_total = off;
    *done = h1_chunked_done(&c);
    return H1_OK;
}

static void test_chunk_cases(void)
{
    static const size_t pieces[] = {0, 1, 2, 3, 7};

    for (size_t i = 0; i < CHECK_COUNT(chunk_cases); i++) {
        const struct chunk_case *c = &chunk_cases[i];
        size_t len = strlen(c->in);

        for (size_t k = 0; k < CHECK_COUNT(pieces); k++) {
            uint8_t out[256];
            size_t out_len, used;
            bool done;
            enum h1_error err = decode((const uint8_t *)c->in, len, pieces[k], out, &out_len, &used, &done);

            CHECKF(err == c->want, "%s, pieces of %zu: got %s, want %s", c->name, pieces[k],
                   h1_error_name(err), h1_error_name(c->want));
            if (c->want == H1_OK) {
                CHECKF(done, "%s: not done", c->name);
                CHECKF(used == (c->used ? c->used : len), "%s: used %zu", c->name, used);
                CHECKF(out_len == strlen(c->body) && !memcmp(out, c->body, out_len), "%s: body %.*s", c->name,
                       (int)out_len, out);
            }
        }
    }
}

/* Every body split in two at every byte boundary decodes to the same bytes. */
static void test_chunk_every_split(void)
{
    static const char in[] =
        "4;x=\"y\"\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
    static const char want[] = "Wikipedia in \r\n\r\nchunks.";
    size_t len = sizeof(in) - 1;

    for (size_t cut = 0; cut <= len; cut++) {
        struct h1_chunked c;
        uint8_t *a = dup_exact(in, cut), *b = dup_exact(in + cut, len - cut), out[64];
        size_t out_len = 0;
        const uint8_t *segs[2] = {a, b};
        size_t lens[2] = {cut, len - cut};

        h1_chunked_init(&c, MAX_TRAILER);
        for (int s = 0; s < 2; s++)
            for (size_t at = 0; at < lens[s] && !h1_chunked_done(&c);) {
                struct h1_span d;
                size_t used;

                CHECKF(h1_chunked_step(&c, segs[s] + at, lens[s] - at, &used, &d) == H1_OK, "cut %zu", cut);
                CHECKF(used && used <= lens[s] - at, "cut %zu: used %zu", cut, used);
                memcpy(out + out_len, d.ptr, d.len);
                out_len += d.len;
                at += used;
            }
        free(a);
        free(b);
        CHECKF(h1_chunked_done(&c), "cut %zu", cut);
        CHECKF(out_len == sizeof(want) - 1 && !memcmp(out, want, out_len), "cut %zu", cut);
    }
}

/* ---- a stream of requests, read as a server reads it ------------------------------------------- */

struct seen {
    char target[64];
    char body[64];
};

/* Returns the error that ended the stream (H1_OK: every byte read); *n the requests that came out. */
static enum h1_error read_stream(const char *stream, struct seen *seen, size_t max, size_t *n)
{
    size_t len = strlen(stream), off = 0;
    uint8_t *b = dup_exact(stream, len);
    enum h1_error err = H1_OK;

    *n = 0;
    while (off < len && *n < max) {
        struct h1_head_scan scan = {0};
        struct http_header hd[MAX_HEADERS];
        struct h1_head h;
        size_t head = h1_head_end(&scan, b + off, len - off), blen = 0;
        struct seen *s = &seen[*n];

        if (!head) {
            err = H1_ERR_HEAD_END;
            break;
        }
        err = h1_parse_head(b + off, head, &h, hd, MAX_HEADERS);
        if (err)
            break;
        snprintf(s->target, sizeof(s->target), "%.*s", (int)h.target.len, h.target.ptr);
        off += head;
        if (h.chunked) {
            struct h1_chunked c;

            h1_chunked_init(&c, MAX_TRAILER);
            while (!err && off < len && !h1_chunked_done(&c)) {
                struct h1_span d;
                size_t used;

                err = h1_chunked_step(&c, b + off, len - off, &used, &d);
                memcpy(s->body + blen, d.ptr, d.len < sizeof(s->body) - 1 - blen ? d.len : 0);
                blen += d.len;
                off += used;
            }
            if (!err && !h1_chunked_done(&c))
                err = H1_ERR_HEAD_END;
        } else if (h.content_length != UINT64_MAX) {
            blen = h.content_length < len - off ? h.content_length : len - off;
            memcpy(s->body, b + off, blen);
            off += blen;
        }
        s->body[blen] = 0;
        (*n)++;
        if (err)
            break;
    }
    free(b);
    return err;
}

static void test_pipelined(void)
{
    struct seen s[4];
    size_t n;

    CHECK(read_stream(GET("HTTP/1.1") H "\r\n"
                                        "POST /a HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nxyz"
                                        "POST /b HTTP/1.1\r\n" H
                                        "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
                                        "\r\nGET /c HTTP/1.1\r\n" H "\r\n",
                      s, 4, &n) == H1_OK);
    CHECKF(n == 4, "%zu", n);
    CHECK(!strcmp(s[0].target, "/") && !strcmp(s[1].target, "/a") && !strcmp(s[1].body, "xyz"));
    CHECK(!strcmp(s[2].target, "/b") && !strcmp(s[2].body, "hi") && !strcmp(s[3].target, "/c"));
}

/* The probes of request smuggling: each is refused, and the request hidden in it never comes out. */
static void test_smuggling(void)
{
    static const char *const probes[] = {
        "POST / HTTP/1.1\r\n" H "Content-Length : 42\r\n\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
        "0\r\n\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H "Content-Length: 0\r\nContent-Length: 37\r\n\r\nGET /smuggled HTTP/1.1\r\n" H
        "\r\n",
        "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\n\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H
        "X: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H
        "Transfer-Encoding: chunked\r\n\r\n1;a=\"\r\nx\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
        "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "ffffffffffffffff1\r\nGET /smuggled HTTP/1.1\r\n" H "\r\n",
    };

    for (size_t i = 0; i < CHECK_COUNT(probes); i++) {
        struct seen s[4];
        size_t n;
        enum h1_error err = read_stream(probes[i], s, 4, &n);

        CHECKF(err != H1_OK, "probe %zu accepted", i);
        for (size_t k = 0; k < n; k++)
            CHECKF(!strstr(s[k].target, "smuggled"), "probe %zu: the smuggled request came out", i);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_head_cases),       CHECK_CASE(test_browser_head),      CHECK_CASE(test_head_fields),
        CHECK_CASE(test_too_many_headers), CHECK_CASE(test_head_end_drip),     CHECK_CASE(test_error_table),
        CHECK_CASE(test_chunk_cases),      CHECK_CASE(test_chunk_every_split), CHECK_CASE(test_pipelined),
        CHECK_CASE(test_smuggling),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
