/*
 * source_service.c — the source service: after a 16-byte request (big-endian length, seed) it streams that
 * many bytes of the deterministic stream, generated straight into send frames (no copy at all).
 */
#include "app/app.h"
#include "common/stream.h"

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void source_send(struct app_conn *ac)
{
    while (ac->done < ac->total) {
        size_t room;
        uint8_t *dst = app_reserve(ac, &room);

        if (!dst)
            return; /* writable resumes us */
        if (room > ac->total - ac->done)
            room = ac->total - ac->done;
        stream_fill(ac->seed, ac->done, dst, room);
        app_commit(ac, room);
        ac->done += room;
    }
    app_shutdown(ac);
}

static void source_readable(struct app_conn *ac)
{
    struct iovec iov[16];
    int n;

    while ((n = app_peek(ac, iov, 16)) > 0) {
        size_t total = 0;

        for (int i = 0; i < n; i++) {
            const uint8_t *p = iov[i].iov_base;

            for (size_t j = 0; j < iov[i].iov_len && ac->header_len < sizeof(ac->header); j++)
                ac->header[ac->header_len++] = p[j];
            total += iov[i].iov_len;
        }
        app_consume(ac, total); /* anything after the request is ignored */
        if (ac->header_len == sizeof(ac->header) && !ac->total && !ac->shut) {
            ac->total = be64(ac->header);
            ac->seed = be64(ac->header + 8);
            source_send(ac);
        }
    }
    if (app_eof(ac) && ac->header_len < sizeof(ac->header))
        app_shutdown(ac); /* the client gave up before asking */
}

static void source_writable(struct app_conn *ac)
{
    if (ac->header_len == sizeof(ac->header))
        source_send(ac);
}

const struct app_ops app_source_ops = {
    .name = "source",
    .readable = source_readable,
    .writable = source_writable,
};
