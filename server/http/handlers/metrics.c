/*
 * metrics.c — GET /metrics: the Prometheus text exposition (version 0.0.4) of every counter the
 * server keeps, as the registered writer produces it (see metrics.h).
 */
#include "http/handlers/metrics.h"

#include <stdarg.h>
#include <stdio.h>

static void (*writer)(struct http_request *req, void *ctx);
static void *writer_ctx;

void metrics_set_writer(void (*write)(struct http_request *req, void *ctx), void *ctx)
{
    writer = write;
    writer_ctx = ctx;
}

void metrics_line(struct http_request *req, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        http_stream_write(req, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int handler_metrics(struct http_request *req)
{
    http_respond_stream(req, 200, "text/plain; version=0.0.4; charset=utf-8", UINT64_MAX);
    if (writer)
        writer(req, writer_ctx);
    http_stream_end(req);
    return HANDLER_DONE;
}
