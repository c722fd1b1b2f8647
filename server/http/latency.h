/*
 * latency.h — request durations per route and per status class, as the histograms of /metrics
 * (sluice_http_request_duration_seconds, server/sched/server_metrics.c).
 *
 * Each worker owns one struct http_latency and is its only writer: an observation is a linear
 * bucket search over a few fixed bounds and two relaxed atomic stores (no lock, no read-modify-write,
 * nothing allocated). Durations are on the worker loop's clock (struct app_table's now_ns, read once per
 * loop iteration after the wait for input, as nginx's and h2o's request times are): no clock read per
 * request, and a resolution of one loop iteration, so a request answered within the batch that brought
 * it counts as 0 and lands in the first bucket. A scrape, on whichever worker, reads every worker's cells
 * with relaxed loads and sums them; a bucket's count is whole, though a scrape may see one request in its
 * bucket and not yet in _sum. The cells are allocated once, with the HTTP layer, for the router's routes.
 */
#ifndef SLUICE_HTTP_LATENCY_H
#define SLUICE_HTTP_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* The buckets' upper bounds (Prometheus `le`), in nanoseconds and as /metrics prints them: from a
 * cached answer (tens of microseconds) to a slow offloaded handler (seconds). Fixed at build time. */
#define HTTP_LATENCY_BUCKETS(X)                                                                              \
    X(50000, "5e-05")                                                                                        \
    X(100000, "0.0001")                                                                                      \
    X(250000, "0.00025")                                                                                     \
    X(500000, "0.0005")                                                                                      \
    X(1000000, "0.001")                                                                                      \
    X(2500000, "0.0025")                                                                                     \
    X(5000000, "0.005")                                                                                      \
    X(10000000, "0.01")                                                                                      \
    X(25000000, "0.025")                                                                                     \
    X(50000000, "0.05")                                                                                      \
    X(100000000, "0.1")                                                                                      \
    X(250000000, "0.25")                                                                                     \
    X(500000000, "0.5")                                                                                      \
    X(1000000000, "1")                                                                                       \
    X(2500000000, "2.5")                                                                                     \
    X(5000000000, "5")                                                                                       \
    X(10000000000, "10")

#define HTTP_LATENCY_COUNT_BUCKET(ns, text) +1
enum { HTTP_LATENCY_NBUCKETS = 0 HTTP_LATENCY_BUCKETS(HTTP_LATENCY_COUNT_BUCKET) };
#undef HTTP_LATENCY_COUNT_BUCKET

/* Status classes, as the responses_Nxx counters count them (http_count_status): below 300 is 2xx. */
enum { HTTP_LATENCY_CLASSES = 4 };
extern const char *const http_latency_class_names[HTTP_LATENCY_CLASSES]; /* "2xx" ... "5xx" */

/* Per (route, class): the finite buckets' own counts (not cumulative), the count over the last bound,
 * then the sum of the durations in nanoseconds. */
#define HTTP_LATENCY_CELLS (HTTP_LATENCY_NBUCKETS + 2)

/* Row 0 is the requests no route ran for (404, 405, 425, 429: route "none"), row r + 1 route r. */
struct http_latency {
    uint32_t nroutes; /* the router's route_count */
    uint64_t *cells;  /* (nroutes + 1) * HTTP_LATENCY_CLASSES * HTTP_LATENCY_CELLS */
};

extern const uint64_t http_latency_bounds_ns[HTTP_LATENCY_NBUCKETS];
extern const char *const http_latency_bounds_text[HTTP_LATENCY_NBUCKETS];

/* 0, or -1 with errno (ENOMEM) */
int http_latency_init(struct http_latency *l, uint32_t nroutes);
void http_latency_destroy(struct http_latency *l);

static inline int http_latency_class(int status)
{
    return status >= 500 ? 3 : status >= 400 ? 2 : status >= 300 ? 1 : 0;
}

/* One request of route (-1: none) answered status took ns; called only by the owning worker. */
void http_latency_observe(struct http_latency *l, int route, int status, uint64_t ns);

/* The cells of (route, class), route -1 for none; read them with relaxed atomic loads. */
static inline const uint64_t *http_latency_cells(const struct http_latency *l, int route, int cls)
{
    return l->cells + ((size_t)(route + 1) * HTTP_LATENCY_CLASSES + (size_t)cls) * HTTP_LATENCY_CELLS;
}

#endif
