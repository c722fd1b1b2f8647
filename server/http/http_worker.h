/*
 * http_worker.h — what the rest of the server sees of the HTTP layer: one http_worker per worker
 * (pools and protocol state), hung on the worker's app_table so that connections on an HTTP port
 * reach it, and its counters for /metrics.
 */
#ifndef SLUICE_HTTP_WORKER_H
#define SLUICE_HTTP_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http_config.h"

struct http_worker;
struct http_stats;
struct http_proto_ops;

/*
 * The pools for a worker serving at most max_conns connections, speaking HTTP/1.1 and the HTTP/2
 * of h2 (h2_nghttp2_ops of h2/h2.h: the caller plugs it in, so that http/ depends on no protocol
 * outside it); NULL with errno set.
 */
struct http_worker *http_worker_new(const struct http_config *cfg, uint32_t max_conns,
                                    const struct http_proto_ops *h2);
void http_worker_destroy(struct http_worker *hw);

struct offload_pool;
struct offload_job;
struct breaker;
struct rate_limit;
/* Offloaded handlers of this worker go to pool, as its submitter number submitter (http_offload.c);
 * breakers: one per route (router_route_count), shared by the workers, NULL for none; a job that ran
 * longer than slow_ms counts as a failure for its route's breaker, as a 5xx answer does. */
void http_worker_set_offload(struct http_worker *hw, struct offload_pool *pool, uint32_t submitter,
                             struct breaker *breakers, uint32_t slow_ms);
/* Offloaded requests of this worker not answered yet: its load, as steering sees it. */
uint32_t http_worker_offload_in_flight(const struct http_worker *hw);
/* Requests are counted against their client's rate in rl (shared by the workers); over it, 429. */
void http_worker_set_rate_limit(struct http_worker *hw, struct rate_limit *rl);
struct access_ring;
/* Each request this worker ends is recorded in ring, its access log ring (log/access_log.h); NULL: none. */
void http_worker_set_access_log(struct http_worker *hw, struct access_ring *ring);
/* The worker loop's clock moved to now_ns (worker_tick): gRPC deadlines that passed are answered. True
 * when that wrote something (the layers' flush puts it on the transports). */
bool http_worker_tick(struct http_worker *hw, uint64_t now_ns);
/* A job of this worker came back from the pool (offload_reap): answer its request, free it. */
void http_offload_finish(struct offload_job *job);
/* The same at stop, the worker's connections gone: free the job, answer nothing. */
void http_offload_drop(struct offload_job *job);

/* The worker's index, as the probes (common/probes.h) and /metrics name it. */
void http_worker_set_index(struct http_worker *hw, uint32_t index);

const struct http_stats *http_worker_stats(const struct http_worker *hw);
/* System allocations made by the HTTP layer so far (nghttp2's pool growth and body buffers). */
uint64_t http_worker_system_allocs(const struct http_worker *hw);

/* Pool objects handed out and not back yet: all zero once every connection has closed (tests). */
struct http_worker_usage {
    uint32_t conns;
    uint32_t streams;
    uint32_t bufs;
    uint64_t mem_blocks; /* nghttp2's */
};
void http_worker_in_use(const struct http_worker *hw, struct http_worker_usage *u);

#endif
