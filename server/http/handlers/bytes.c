/*
 * bytes.c — GET /bytes/:n[?seed=S]: n bytes of the deterministic stream (common/stream.h) for seed
 * S (default 0), generated straight into the transmit buffers. Tests check any body size byte for
 * byte against their own copy of the stream, and benchmarks get bodies of any size for free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/http.h"
#include "common/stream.h"

#define BYTES_MAX (1ull << 34) /* 16 GiB: beyond is a typo, not a test */

/* The value of name=... in a query string, or an empty slice. */
static struct http_str query_value(struct http_str q, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i + n < q.len; i++) {
        if ((i == 0 || q.ptr[i - 1] == '&') && !memcmp(q.ptr + i, name, n) && q.ptr[i + n] == '=') {
            const char *v = q.ptr + i + n + 1, *end = memchr(v, '&', q.len - (size_t)(v - q.ptr));

            return (struct http_str){v, end ? (size_t)(end - v) : q.len - (size_t)(v - q.ptr)};
        }
    }
    return (struct http_str){"", 0};
}

static void generate(void *ctx, uint64_t offset, uint8_t *dst, size_t n)
{
    stream_fill((uint64_t)(uintptr_t)ctx, offset, dst, n);
}

int handler_bytes(struct http_request *req)
{
    struct http_str seed_text = query_value(req->query, "seed");
    uint64_t n, seed = 0;

    if (!http_str_u64(http_param(req, "n"), BYTES_MAX, &n) ||
        (seed_text.len && !http_str_u64(seed_text, UINT64_MAX, &seed))) {
        http_respond_error(req, 400);
        return HANDLER_DONE;
    }
    http_respond_generated(req, 200, "application/octet-stream", n, generate, (void *)(uintptr_t)seed);
    return HANDLER_DONE;
}
