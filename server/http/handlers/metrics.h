/*
 * metrics.h — GET /metrics answers with what the server's metrics writer produces: the server
 * (server/sched/server_metrics.c) registers it once before the workers start; the handler only frames it
 * as a Prometheus text response. metrics_line formats one line into the response.
 */
#ifndef SLUICE_HTTP_METRICS_H
#define SLUICE_HTTP_METRICS_H

#include "sluice/http.h"

void metrics_set_writer(void (*write)(struct http_request *req, void *ctx), void *ctx);
void metrics_line(struct http_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
