/*
 * echo.c — POST|PUT /echo: the request body comes back as the response body, as it arrives.
 *
 * Each chunk is copied once into the response's pool buffers and kept against the client's flow
 * control window until it has been sent back (on_drain releases it), so a client that sends faster
 * than it reads is held back by its window, and memory stays bounded by it. A client that says it
 * takes trailers (te: trailers, as gRPC does) gets the body's length after it, as x-echo-bytes, and
 * the request's own trailer fields (names up to 63 bytes) back as response trailers.
 */
#include <stdio.h>
#include <string.h>

#include "sluice/http.h"

static size_t echo_body(struct http_request *req, const uint8_t *data, size_t len, bool last)
{
    if (len && http_stream_write(req, data, len) < len) {
        http_reset(req); /* out of buffers: cut the response rather than send a wrong body */
        return len;
    }
    req->user = (void *)((uintptr_t)req->user + len); /* the bytes echoed so far */
    if (last) {
        struct http_str te = http_header(req, "te");

        if (te.len == 8 && !memcmp(te.ptr, "trailers", 8)) {
            char n[24], name[64];
            int k = snprintf(n, sizeof(n), "%zu", (size_t)(uintptr_t)req->user);

            http_add_trailer(req, "x-echo-bytes", n, (size_t)k);
            for (uint32_t i = 0; i < req->ntrailers; i++)
                if (req->trailers[i].name.len < sizeof(name)) {
                    memcpy(name, req->trailers[i].name.ptr, req->trailers[i].name.len);
                    name[req->trailers[i].name.len] = '\0';
                    http_add_trailer(req, name, req->trailers[i].value.ptr, req->trailers[i].value.len);
                }
        }
        http_stream_end(req);
    }
    return 0;
}

static void echo_drained(struct http_request *req, size_t n)
{
    http_body_release(req, n);
}

int handler_echo(struct http_request *req)
{
    http_respond_stream(req, 200, "application/octet-stream", req->content_length);
    req->on_body = echo_body;
    req->on_drain = echo_drained;
    return HANDLER_DONE;
}
