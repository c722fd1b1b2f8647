/*
 * h1_parse_bench.c — nanoseconds per HTTP/1.1 request head: our parser (server/http/h1_parse.c)
 * against Debian's http-parser, on the same browser-like head, in memory, one core.
 *
 * The head is what Chrome sends for a navigation: a GET with a query and 13 header fields, about
 * 700 bytes. Each side does what h1.c needs of a head: ours finds its end (h1_head_end) and parses
 * it in place (h1_parse_head: slices, names lowercased, Host, Connection, Content-Length); for
 * http-parser the callbacks record the same (the target, each name and value as a slice, the
 * method, keep-alive and content-length at on_headers_complete), with no copy on either side.
 * Parsing in place lowercases the names the first time only; later rounds do the same work on
 * names already lowercase, as the loads and stores are the same. Each side runs ROUNDS times,
 * interleaved; the median per head is printed with min-max, then the ratio, as a markdown table.
 *
 *   h1_parse_bench [HEADS_PER_ROUND]      (default 500000)
 *
 * Never run under a sanitizer for figures.
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/h1_parse.h"

#define ROUNDS      9
#define MAX_HEADERS 64

static const char HEAD[] =
    "GET /search/results?q=sluice+http2&page=2 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: max-age=0\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;"
    "q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "\r\n";

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the callbacks record: the same as struct h1_head and its headers. */
struct hp_out {
    struct http_str url;
    struct http_header headers[MAX_HEADERS];
    uint32_t nheaders;
    bool in_value;
    bool keep_alive;
    const char *method;
    uint64_t content_length;
};

static int hp_url(http_parser *p, const char *at, size_t len)
{
    struct hp_out *o = p->data;

    o->url = (struct http_str){at, len};
    return 0;
}

static int hp_field(http_parser *p, const char *at, size_t len)
{
    struct hp_out *o = p->data;

    if (o->nheaders == MAX_HEADERS)
        return -1;
    o->headers[o->nheaders++].name = (struct http_str){at, len};
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t len)
{
    struct hp_out *o = p->data;

    o->headers[o->nheaders - 1].value = (struct http_str){at, len};
    return 0;
}

static int hp_headers_complete(http_parser *p)
{
    struct hp_out *o = p->data;

    o->method = http_method_str((enum http_method)p->method);
    o->keep_alive = http_should_keep_alive(p);
    o->content_length = p->flags & F_CONTENTLENGTH ? p->content_length : UINT64_MAX;
    return 0;
}

static const http_parser_settings hp_settings = {
    .on_url = hp_url,
    .on_header_field = hp_field,
    .on_header_value = hp_value,
    .on_headers_complete = hp_headers_complete,
};

static volatile uint32_t sink; /* keeps the results alive */

static double run_ours(uint8_t *buf, size_t len, long n)
{
    struct http_header headers[MAX_HEADERS];
    struct h1_head h;
    uint64_t t0 = now_ns();

    for (long i = 0; i < n; i++) {
        struct h1_head_scan scan = {0};
        size_t end = h1_head_end(&scan, buf, len);

        if (h1_parse_head(buf, end, &h, headers, MAX_HEADERS) != H1_OK || !h.keep_alive)
            abort();
        sink += h.nheaders;
    }
    return (double)(now_ns() - t0) / (double)n;
}

static double run_http_parser(const uint8_t *buf, size_t len, long n)
{
    struct hp_out o;
    http_parser p;
    uint64_t t0 = now_ns();

    for (long i = 0; i < n; i++) {
        o.nheaders = 0;
        http_parser_init(&p, HTTP_REQUEST);
        p.data = &o;
        if (http_parser_execute(&p, &hp_settings, (const char *)buf, len) != len || !o.keep_alive)
            abort();
        sink += o.nheaders;
    }
    return (double)(now_ns() - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 500000;
    size_t len = sizeof(HEAD) - 1;
    uint8_t *ours = malloc(len), *theirs = malloc(len);
    double a[ROUNDS], b[ROUNDS];

    if (n <= 0) {
        fprintf(stderr, "usage: h1_parse_bench [HEADS_PER_ROUND]\n");
        return 2;
    }
    memcpy(ours, HEAD, len);
    memcpy(theirs, HEAD, len);
    run_ours(ours, len, n / 10 + 1); /* warm up caches and branch predictors */
    run_http_parser(theirs, len, n / 10 + 1);
    for (int r = 0; r < ROUNDS; r++) {
        a[r] = run_ours(ours, len, n);
        b[r] = run_http_parser(theirs, len, n);
    }
    qsort(a, ROUNDS, sizeof(a[0]), cmp_double);
    qsort(b, ROUNDS, sizeof(b[0]), cmp_double);
    printf("| parser (a %zu-byte head, 13 fields) | ns per head, median of %d | min-max | MB/s |\n", len,
           ROUNDS);
    printf("|---|---|---|---|\n");
    printf("| sluice h1_parse | %.1f | %.1f-%.1f | %.0f |\n", a[ROUNDS / 2], a[0], a[ROUNDS - 1],
           (double)len * 1e3 / a[ROUNDS / 2]);
    printf("| http-parser %d.%d.%d | %.1f | %.1f-%.1f | %.0f |\n", HTTP_PARSER_VERSION_MAJOR,
           HTTP_PARSER_VERSION_MINOR, HTTP_PARSER_VERSION_PATCH, b[ROUNDS / 2], b[0], b[ROUNDS - 1],
           (double)len * 1e3 / b[ROUNDS / 2]);
    printf("\nh1_parse takes %.2fx http-parser's time (%.1fx faster)\n", a[ROUNDS / 2] / b[ROUNDS / 2],
           b[ROUNDS / 2] / a[ROUNDS / 2]);
    free(ours);
    free(theirs);
    return 0;
}
