/*
 * grpc_test.c — server/http/grpc.c's message reader and status mapping, in memory: length-prefixed
 * messages cut at every place a client's DATA frames can cut them (several in one chunk, one over
 * many, the 5-byte prefix itself split), the bound, compression, a message cut short, and the grpc-status
 * the library answers for its HTTP errors. The wire end of gRPC (a real client, deadlines, overload) is
 * tests/grpc/grpc_client.py against examples/grpc-echo.
 */
#include <stdlib.h>
#include <string.h>

#include "sluice/grpc.h"
#include "tests/lib/check.h"

#define MAX_SEEN 16

struct seen {
    size_t n;
    size_t len[MAX_SEEN];
    uint8_t first[MAX_SEEN]; /* each message's first byte, 0 for an empty one */
    const uint8_t *where[MAX_SEEN];
    enum grpc_status stop_at; /* what the callback returns for each message: OK, or a status to stop */
};

static enum grpc_status got(void *ctx, const uint8_t *msg, size_t len)
{
    struct seen *s = ctx;

    if (s->n == MAX_SEEN)
        return GRPC_STATUS_INTERNAL;
    s->len[s->n] = len;
    s->first[s->n] = len ? msg[0] : 0;
    s->where[s->n] = msg;
    s->n++;
    return s->stop_at;
}

/* The wire form of messages of the given lengths, the k-th filled with byte 'a' + k. */
static size_t wire(uint8_t *out, const size_t *lens, size_t n)
{
    size_t at = 0;

    for (size_t k = 0; k < n; k++) {
        out[at++] = 0;
        out[at++] = (uint8_t)(lens[k] >> 24);
        out[at++] = (uint8_t)(lens[k] >> 16);
        out[at++] = (uint8_t)(lens[k] >> 8);
        out[at++] = (uint8_t)lens[k];
        memset(out + at, 'a' + (int)k, lens[k]);
        at += lens[k];
    }
    return at;
}

static void several_in_one_chunk_are_handed_over_in_place(void)
{
    static const size_t lens[] = {3, 0, 100, 1};
    uint8_t buf[256];
    size_t len = wire(buf, lens, 4);
    struct grpc_reader r;
    struct seen s = {0};

    grpc_reader_init(&r, 1024);
    CHECK(grpc_reader_feed(&r, buf, len, got, &s) == GRPC_STATUS_OK);
    CHECK(grpc_reader_end(&r) == GRPC_STATUS_OK);
    CHECKF(s.n == 4, "%zu messages", s.n);
    for (size_t k = 0; k < 4; k++) {
        CHECK(s.len[k] == lens[k]);
        CHECK(!lens[k] || s.first[k] == 'a' + k);
        CHECK(s.where[k] >= buf && s.where[k] <= buf + len); /* not copied */
    }
    grpc_reader_free(&r);
}

/* Every chunk size from 1 byte up, over three messages: the split falls everywhere, the prefix too. */
static void split_at_every_chunk_size(void)
{
    static const size_t lens[] = {7, 300, 2};
    uint8_t buf[512];
    size_t len = wire(buf, lens, 3);

    for (size_t chunk = 1; chunk <= len; chunk++) {
        struct grpc_reader r;
        struct seen s = {0};

        grpc_reader_init(&r, 300);
        for (size_t at = 0; at < len; at += chunk) {
            size_t n = len - at < chunk ? len - at : chunk;

            CHECKF(grpc_reader_feed(&r, buf + at, n, got, &s) == GRPC_STATUS_OK, "chunk %zu", chunk);
        }
        CHECKF(grpc_reader_end(&r) == GRPC_STATUS_OK, "chunk %zu", chunk);
        CHECKF(s.n == 3, "chunk %zu: %zu messages", chunk, s.n);
        for (size_t k = 0; k < 3; k++)
            CHECKF(s.len[k] == lens[k] && s.first[k] == 'a' + k, "chunk %zu, message %zu", chunk, k);
        grpc_reader_free(&r);
    }
}

static void over_the_bound_is_resource_exhausted(void)
{
    static const size_t lens[] = {65};
    uint8_t buf[128];
    size_t len = wire(buf, lens, 1);
    struct grpc_reader r;
    struct seen s = {0};

    grpc_reader_init(&r, 64);
    CHECK(grpc_reader_feed(&r, buf, 5, got, &s) == GRPC_STATUS_RESOURCE_EXHAUSTED); /* at the prefix */
    CHECK(s.n == 0);
    grpc_reader_free(&r);
    grpc_reader_init(&r, 65);
    CHECK(grpc_reader_feed(&r, buf, len, got, &s) == GRPC_STATUS_OK);
    CHECK(s.n == 1);
    grpc_reader_free(&r);
}

static void compressed_is_unimplemented(void)
{
    uint8_t buf[] = {1, 0, 0, 0, 1, 'x'};
    struct grpc_reader r;
    struct seen s = {0};

    grpc_reader_init(&r, 64);
    CHECK(grpc_reader_feed(&r, buf, sizeof(buf), got, &s) == GRPC_STATUS_UNIMPLEMENTED);
    CHECK(s.n == 0);
    grpc_reader_free(&r);
}

static void cut_short_is_internal(void)
{
    static const size_t lens[] = {10};
    uint8_t buf[32];
    size_t len = wire(buf, lens, 1);
    struct grpc_reader r;
    struct seen s = {0};

    grpc_reader_init(&r, 64);
    CHECK(grpc_reader_feed(&r, buf, 3, got, &s) == GRPC_STATUS_OK); /* in the prefix */
    CHECK(grpc_reader_end(&r) == GRPC_STATUS_INTERNAL);
    CHECK(grpc_reader_feed(&r, buf + 3, len - 4, got, &s) == GRPC_STATUS_OK); /* in the message */
    CHECK(grpc_reader_end(&r) == GRPC_STATUS_INTERNAL);
    CHECK(s.n == 0);
    grpc_reader_free(&r);
}

static void the_callback_stops_the_reader(void)
{
    static const size_t lens[] = {1, 1, 1};
    uint8_t buf[32];
    size_t len = wire(buf, lens, 3);
    struct grpc_reader r;
    struct seen s = {.stop_at = GRPC_STATUS_INVALID_ARGUMENT};

    grpc_reader_init(&r, 64);
    CHECK(grpc_reader_feed(&r, buf, len, got, &s) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(s.n == 1);
    grpc_reader_free(&r);
}

static void library_errors_map_to_grpc_statuses(void)
{
    static const struct {
        int http;
        enum grpc_status grpc;
    } map[] = {
        {404, GRPC_STATUS_UNIMPLEMENTED},      {405, GRPC_STATUS_UNIMPLEMENTED},
        {429, GRPC_STATUS_RESOURCE_EXHAUSTED}, {503, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {413, GRPC_STATUS_RESOURCE_EXHAUSTED}, {431, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {400, GRPC_STATUS_INTERNAL},           {500, GRPC_STATUS_INTERNAL},
        {425, GRPC_STATUS_UNAVAILABLE},        {401, GRPC_STATUS_UNAUTHENTICATED},
        {403, GRPC_STATUS_PERMISSION_DENIED},  {418, GRPC_STATUS_UNKNOWN},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        CHECKF(grpc_status_of_http(map[i].http) == map[i].grpc, "HTTP %d", map[i].http);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(several_in_one_chunk_are_handed_over_in_place),
        CHECK_CASE(split_at_every_chunk_size),
        CHECK_CASE(over_the_bound_is_resource_exhausted),
        CHECK_CASE(compressed_is_unimplemented),
        CHECK_CASE(cut_short_is_internal),
        CHECK_CASE(the_callback_stops_the_reader),
        CHECK_CASE(library_errors_map_to_grpc_statuses),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
