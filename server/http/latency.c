/*
 * latency.c — the per-worker request duration histograms (latency.h): their cells and the one write
 * per request that fills them. Runs on the worker that owns them, from http_stream_free.
 */
#include "http/latency.h"

#include <errno.h>
#include <stdlib.h>

#define HTTP_LATENCY_BOUND_NS(ns, text)   ns##ull,
#define HTTP_LATENCY_BOUND_TEXT(ns, text) text,
const uint64_t http_latency_bounds_ns[HTTP_LATENCY_NBUCKETS] = {HTTP_LATENCY_BUCKETS(HTTP_LATENCY_BOUND_NS)};
const char *const http_latency_bounds_text[HTTP_LATENCY_NBUCKETS] = {
    HTTP_LATENCY_BUCKETS(HTTP_LATENCY_BOUND_TEXT)};
#undef HTTP_LATENCY_BOUND_NS
#undef HTTP_LATENCY_BOUND_TEXT

const char *const http_latency_class_names[HTTP_LATENCY_CLASSES] = {"2xx", "3xx", "4xx", "5xx"};

int http_latency_init(struct http_latency *l, uint32_t nroutes)
{
    l->nroutes = nroutes;
    l->cells = calloc((size_t)(nroutes + 1) * HTTP_LATENCY_CLASSES * HTTP_LATENCY_CELLS, sizeof(uint64_t));
    if (!l->cells) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void http_latency_destroy(struct http_latency *l)
{
    free(l->cells);
    l->cells = NULL;
}

/* The worker is the cells' only writer: a relaxed load and store, no locked add, and a scrape on
 * another worker reads each 64-bit word whole. */
static inline void bump(uint64_t *cell, uint64_t by)
{
    __atomic_store_n(cell, __atomic_load_n(cell, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

void http_latency_observe(struct http_latency *l, int route, int status, uint64_t ns)
{
    uint64_t *cells;
    int b = 0;

    if (route < -1 || route >= (int)l->nroutes)
        route = -1;
    cells = (uint64_t *)http_latency_cells(l, route, http_latency_class(status));
    /* the first bound at or above ns, from the smallest: a worker's durations gather in the first few
     * buckets (on the loop's clock most are 0), where this stops after a compare or two */
    while (b < HTTP_LATENCY_NBUCKETS && ns > http_latency_bounds_ns[b])
        b++;
    bump(&cells[b], 1);
    bump(&cells[HTTP_LATENCY_NBUCKETS + 1], ns);
}
