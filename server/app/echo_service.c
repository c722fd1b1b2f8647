/*
 * echo_service.c — the echo service: what is read is written back, copied once from the receive frames
 * into send frames; reading pauses while the send buffer is full, so a client that does not read
 * its echo is flow-controlled rather than buffered without bound.
 */
#include "app/app.h"

static void echo_pump(struct app_conn *ac)
{
    struct iovec iov[16];
    int n;

    while ((n = app_peek(ac, iov, 16)) > 0) {
        size_t moved = 0;
        bool full = false;

        for (int i = 0; i < n && !full; i++) {
            size_t w = app_write(ac, iov[i].iov_base, iov[i].iov_len);

            moved += w;
            full = w < iov[i].iov_len;
        }
        app_consume(ac, moved);
        if (full)
            return; /* writable resumes us */
    }
    if (app_eof(ac))
        app_shutdown(ac);
}

const struct app_ops app_echo_ops = {
    .name = "echo",
    .readable = echo_pump,
    .writable = echo_pump,
};
