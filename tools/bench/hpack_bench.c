/*
 * hpack_bench.c — nanoseconds per HPACK field block: our decoder and encoder (server/h2/hpack.c)
 * against libnghttp2's inflater and deflater, on the same blocks, in memory, one core.
 *
 * Decoding, three request blocks, each made by nghttp2's deflater as a client would send it:
 *   - a browser's first request on a connection (a Chrome navigation, 16 fields): Huffman-coded
 *     literals, most of them inserted into the table; decoded over and over on one decoder, so each
 *     round inserts again and evicts what the table cannot hold, on both sides alike;
 *   - the same browser's next request (another :path): indexed references to those entries and a
 *     Huffman-coded :path; decoded on a table warmed by the first request;
 *   - h2load's request after its first: seven fields, all indexed (what a load test measures).
 * Each side does what a server needs of a block: ours copies every name and value into the stream's
 * buffer (on_field sums their lengths); nghttp2 hands out reference-counted strings, whose lengths are
 * summed the same way. Encoding, the response sluice sends most: :status 200, content-type text/plain
 * and content-length 13 — ours through hpack_encode_block_start, _status, _field, _content_length,
 * nghttp2 through nghttp2_hd_deflate_hd with three fields — on encoders warmed by a first response.
 * Each side runs ROUNDS times, interleaved; the median per block is printed with min-max, then the
 * ratio, as a markdown table.
 *
 *   hpack_bench [BLOCKS_PER_ROUND]      (default 200000)
 *
 * Never run under a sanitizer for figures.
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h2/hpack.h"

#define ROUNDS   9
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink; /* keeps the results alive */

static void *sys_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void sys_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

static const struct hpack_alloc alloc = {sys_alloc, sys_free, NULL};

#define NV(n, v)                                                                                             \
    {                                                                                                        \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE                   \
    }

#define BROWSER_FIELDS(path)                                                                                 \
    NV(":method", "GET"), NV(":authority", "www.example.com"), NV(":scheme", "https"), NV(":path", path),    \
        NV("sec-ch-ua", "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""),    \
        NV("sec-ch-ua-mobile", "?0"), NV("sec-ch-ua-platform", "\"Linux\""),                                 \
        NV("upgrade-insecure-requests", "1"),                                                                \
        NV("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "           \
                         "Chrome/124.0.0.0 Safari/537.36"),                                                  \
        NV("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"          \
                     "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"),                         \
        NV("sec-fetch-site", "same-origin"), NV("sec-fetch-mode", "navigate"), NV("sec-fetch-user", "?1"),   \
        NV("sec-fetch-dest", "document"), NV("accept-encoding", "gzip, deflate, br, zstd"),                  \
        NV("accept-language", "en-US,en;q=0.9,de;q=0.8")

static const nghttp2_nv browser1[] = {BROWSER_FIELDS("/search/results?q=sluice+http2&page=2")};
static const nghttp2_nv browser2[] = {BROWSER_FIELDS("/static/app.3f9a1c.js")};
static const nghttp2_nv h2load[] = {
    NV(":method", "GET"),
    NV(":path", "/"),
    NV(":scheme", "http"),
    NV(":authority", "10.0.0.1:8080"),
    NV("accept", "*/*"),
    NV("accept-encoding", "gzip, deflate"),
    NV("user-agent", "h2load nghttp2/1.52.0"),
};
static const nghttp2_nv response[] = {
    NV(":status", "200"),
    NV("content-type", "text/plain"),
    NV("content-length", "13"),
};

/* A block as a client sends it: the blocks before it (warm) went through the same deflater. */
struct block {
    uint8_t b[4096];
    size_t len;
};

static void deflate(nghttp2_hd_deflater *def, const nghttp2_nv *nv, size_t n, struct block *out)
{
    ssize_t len = nghttp2_hd_deflate_hd(def, out->b, sizeof(out->b), nv, n);

    if (len < 0)
        abort();
    out->len = (size_t)len;
}

static int on_field(void *ctx, const struct hpack_field *f)
{
    *(uint64_t *)ctx += f->name_len + f->value_len;
    return 0;
}

static uint8_t out_buf[16384];

static double run_ours(struct hpack_decoder *d, const struct block *blk, size_t fields, long n)
{
    uint64_t t0 = now_ns(), bytes = 0;

    for (long i = 0; i < n; i++)
        if (hpack_decode(d, blk->b, blk->len, out_buf, sizeof(out_buf), 65536, on_field, &bytes) != HPACK_OK)
            abort();
    sink += bytes / fields;
    return (double)(now_ns() - t0) / (double)n;
}

static double run_nghttp2(nghttp2_hd_inflater *inf, const struct block *blk, size_t fields, long n)
{
    uint64_t t0 = now_ns(), bytes = 0;

    for (long i = 0; i < n; i++) {
        const uint8_t *in = blk->b;
        size_t len = blk->len, got = 0;

        for (;;) {
            nghttp2_nv nv;
            int flags = 0;
            ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, len, 1);

            if (rv < 0)
                abort();
            in += rv;
            len -= (size_t)rv;
            if (flags & NGHTTP2_HD_INFLATE_EMIT) {
                bytes += nv.namelen + nv.valuelen;
                got++;
            }
            if (flags & NGHTTP2_HD_INFLATE_FINAL)
                break;
        }
        nghttp2_hd_inflate_end_headers(inf);
        if (got != fields)
            abort();
    }
    sink += bytes;
    return (double)(now_ns() - t0) / (double)n;
}

static double run_encode_ours(struct hpack_encoder *e, long n)
{
    uint8_t out[256];
    uint64_t t0 = now_ns(), bytes = 0;

    for (long i = 0; i < n; i++) {
        size_t k = hpack_encode_block_start(e, out, sizeof(out));

        k += hpack_encode_status(e, out + k, sizeof(out) - k, 200);
        k += hpack_encode_field(e, out + k, sizeof(out) - k, (const uint8_t *)"content-type", 12,
                                (const uint8_t *)"text/plain", 10);
        k += hpack_encode_content_length(e, out + k, sizeof(out) - k, 13);
        bytes += k;
    }
    sink += bytes;
    return (double)(now_ns() - t0) / (double)n;
}

static double run_encode_nghttp2(nghttp2_hd_deflater *def, long n)
{
    uint8_t out[256];
    uint64_t t0 = now_ns(), bytes = 0;

    for (long i = 0; i < n; i++) {
        ssize_t k = nghttp2_hd_deflate_hd(def, out, sizeof(out), response, COUNT(response));

        if (k < 0)
            abort();
        bytes += (uint64_t)k;
    }
    sink += bytes;
    return (double)(now_ns() - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void row(const char *what, size_t bytes, double *a, double *b)
{
    qsort(a, ROUNDS, sizeof(a[0]), cmp_double);
    qsort(b, ROUNDS, sizeof(b[0]), cmp_double);
    printf("| %s | %zu | %.1f | %.1f-%.1f | %.1f | %.1f-%.1f | %.2fx |\n", what, bytes, a[ROUNDS / 2], a[0],
           a[ROUNDS - 1], b[ROUNDS / 2], b[0], b[ROUNDS - 1], b[ROUNDS / 2] / a[ROUNDS / 2]);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    struct {
        const char *name;
        const nghttp2_nv *warm; /* sent before, on the same connection */
        size_t nwarm;
        const nghttp2_nv *nv;
        size_t nnv;
    } cases[] = {
        {"browser GET, first request (16 fields, Huffman literals, inserted)", NULL, 0, browser1,
         COUNT(browser1)},
        {"browser GET, next request (indexed + Huffman :path)", browser1, COUNT(browser1), browser2,
         COUNT(browser2)},
        {"h2load GET, next request (7 fields, all indexed)", h2load, COUNT(h2load), h2load, COUNT(h2load)},
    };
    double a[ROUNDS], b[ROUNDS];

    if (n <= 0) {
        fprintf(stderr, "usage: hpack_bench [BLOCKS_PER_ROUND]\n");
        return 2;
    }
    printf("| request block | bytes | sluice hpack_decode, ns (median of %d) | min-max | nghttp2 %s "
           "inflate, ns | min-max | sluice faster by |\n",
           ROUNDS, NGHTTP2_VERSION);
    printf("|---|---|---|---|---|---|---|\n");
    for (size_t c = 0; c < COUNT(cases); c++) {
        nghttp2_hd_deflater *def;
        nghttp2_hd_inflater *inf;
        struct hpack_decoder d;
        struct block warm, blk;

        if (nghttp2_hd_deflate_new(&def, 4096) || nghttp2_hd_inflate_new(&inf))
            abort();
        hpack_decoder_init(&d, 4096, &alloc);
        if (cases[c].warm) {
            deflate(def, cases[c].warm, cases[c].nwarm, &warm);
            run_ours(&d, &warm, cases[c].nwarm, 1);
            run_nghttp2(inf, &warm, cases[c].nwarm, 1);
        }
        deflate(def, cases[c].nv, cases[c].nnv, &blk);
        run_ours(&d, &blk, cases[c].nnv, n / 10 + 1); /* warm up caches and branch predictors */
        run_nghttp2(inf, &blk, cases[c].nnv, n / 10 + 1);
        for (int r = 0; r < ROUNDS; r++) {
            a[r] = run_ours(&d, &blk, cases[c].nnv, n);
            b[r] = run_nghttp2(inf, &blk, cases[c].nnv, n);
        }
        row(cases[c].name, blk.len, a, b);
        hpack_decoder_free(&d);
        nghttp2_hd_deflate_del(def);
        nghttp2_hd_inflate_del(inf);
    }

    {
        nghttp2_hd_deflater *def;
        struct hpack_encoder e;
        uint8_t out[256];
        size_t len;

        if (nghttp2_hd_deflate_new(&def, 4096))
            abort();
        hpack_encoder_init(&e, &alloc);
        run_encode_ours(&e, n / 10 + 1); /* the first response inserts content-type; the rest index it */
        run_encode_nghttp2(def, n / 10 + 1);
        len = hpack_encode_block_start(&e, out, sizeof(out));
        len += hpack_encode_status(&e, out + len, sizeof(out) - len, 200);
        len += hpack_encode_field(&e, out + len, sizeof(out) - len, (const uint8_t *)"content-type", 12,
                                  (const uint8_t *)"text/plain", 10);
        len += hpack_encode_content_length(&e, out + len, sizeof(out) - len, 13);
        for (int r = 0; r < ROUNDS; r++) {
            a[r] = run_encode_ours(&e, n);
            b[r] = run_encode_nghttp2(def, n);
        }
        printf("\n| response block | bytes | sluice hpack_encode_*, ns (median of %d) | min-max | nghttp2 %s "
               "deflate, ns | min-max | sluice faster by |\n",
               ROUNDS, NGHTTP2_VERSION);
        printf("|---|---|---|---|---|---|---|\n");
        row(":status 200, content-type text/plain, content-length 13 (warm)", len, a, b);
        hpack_encoder_free(&e);
        nghttp2_hd_deflate_del(def);
    }
    return 0;
}
