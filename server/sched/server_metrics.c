/*
 * server_metrics.c — the server's /metrics writer: every counter of every worker (HTTP layer,
 * services, TLS, then the datapath's own: TCP engine, AF_XDP socket and the steering program's counters
 * from the pinned `stats` map, or the kernel-socket datapath's) in Prometheus text format, one
 * metric name at a time with a sample per worker. The datapath writes its families through the
 * struct metrics_sink passed to its table's write_metrics (datapath.h), so it never sees HTTP.
 *
 * It runs on whichever worker got the request and reads the other workers' counters while they
 * run: each is a naturally aligned 64-bit word written only by its worker, read with relaxed
 * atomic loads, so a scrape sees each value whole (if not all from the same instant).
 */
#include <inttypes.h>

#include "h2/h2_frame.h"
#include "http/http_conn.h"
#include "http/http_worker.h"
#include "http/handlers/metrics.h"
#include "sluice/router.h"
#include "sched/worker.h"
#include "tls/tls.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void family(struct http_request *req, const char *name, const char *type, const char *help)
{
    metrics_line(req, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The metrics_sink a datapath writes through: the same lines as this file's own families. */
static void sink_family(void *ctx, const char *name, const char *type, const char *help)
{
    family(ctx, name, type, help);
}

static void sink_sample(void *ctx, const char *name, uint32_t worker, uint64_t value)
{
    if (worker == METRICS_NO_WORKER)
        metrics_line(ctx, "%s %" PRIu64 "\n", name, value);
    else
        metrics_line(ctx, "%s{worker=\"%u\"} %" PRIu64 "\n", name, worker, value);
}

static void sink_sample_queue(void *ctx, const char *name, uint32_t worker, uint32_t queue, uint64_t value)
{
    metrics_line(ctx, "%s{worker=\"%u\",queue=\"%u\"} %" PRIu64 "\n", name, worker, queue, value);
}

/* One sample per worker and error code that occurred (codes never sent stay out of the output). */
static void h2_frames_by_code(struct http_request *req, const struct server *srv, uint32_t n,
                              const char *name, const char *help, bool rst)
{
    family(req, name, "counter", help);
    for (uint32_t code = 0; code < HTTP_H2_ERROR_CODES; code++)
        for (uint32_t i = 0; i < n; i++) {
            const struct http_worker *hw = srv->workers[i].apps.http;
            uint64_t v = !hw ? 0 : rst ? LOAD(hw->h2_rst_sent[code]) : LOAD(hw->h2_goaway_sent[code]);

            if (v)
                metrics_line(req, "%s{worker=\"%u\",code=\"%s\"} %" PRIu64 "\n", name, i,
                             h2_error_label(code), v);
        }
}

/* The worker's TLS counters, when a service runs over TLS. */
static const struct tls_stats *tls_stats_of(const struct worker *w)
{
    for (int i = 0; i < w->apps.nservices; i++)
        if (w->apps.services[i].layer == &tls_layer)
            return tls_worker_stats(w->apps.layer_state[i]);
    return NULL;
}

/* Each offloaded route's breaker, labelled with the route. */
static void breaker_metrics(struct http_request *req, const struct router *router, struct breaker *breakers)
{
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"sluice_offload_breaker_state", "gauge",
         "an offloaded route's breaker: 0 closed, 1 open, 2 half-open"},
        {"sluice_offload_breaker_opened_total", "counter", "times an offloaded route's breaker opened"},
        {"sluice_offload_breaker_refused_total", "counter", "requests an open breaker answered 503 at once"},
    };
    uint64_t now = worker_now_ns();

    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        family(req, families[f].name, families[f].type, families[f].help);
        for (int r = 0; r < router->route_count; r++) {
            struct breaker_stats s;
            uint64_t v;

            if (!router->route_offloaded[r])
                continue;
            breaker_stats(&breakers[r], &s);
            v = f == 0 ? (uint64_t)breaker_state(&breakers[r], now) : f == 1 ? s.opened : s.refused;
            metrics_line(req, "%s{route=\"%s\"} %" PRIu64 "\n", families[f].name, router->route_names[r], v);
        }
    }
}

/* Request durations (http/latency.h): every worker's cells summed, one histogram per route and status
 * class that saw a request (the others stay out of the output), buckets cumulative as Prometheus wants. */
static void latency_metrics(struct http_request *req, const struct server *srv, const struct router *router)
{
    static const char name[] = "sluice_http_request_duration_seconds";

    family(req, name, "histogram",
           "time from a request's dispatch to the end of its answer, by route (\"none\": 404, 405, 425, 429) "
           "and status class");
    for (int route = -1; route < router->route_count; route++)
        for (int cls = 0; cls < HTTP_LATENCY_CLASSES; cls++) {
            uint64_t cells[HTTP_LATENCY_CELLS] = {0}, count = 0;
            const char *label = route < 0 ? "none" : router->route_names[route];

            for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
                const struct http_worker *hw = srv->workers[i].apps.http;
                const uint64_t *c;

                if (!hw || (uint32_t)(route + 1) > hw->latency.nroutes)
                    continue;
                c = http_latency_cells(&hw->latency, route, cls);
                for (int k = 0; k < HTTP_LATENCY_CELLS; k++)
                    cells[k] += LOAD(c[k]);
            }
            for (int b = 0; b <= HTTP_LATENCY_NBUCKETS; b++)
                count += cells[b];
            if (!count)
                continue;
            count = 0;
            for (int b = 0; b < HTTP_LATENCY_NBUCKETS; b++) {
                count += cells[b];
                metrics_line(req, "%s_bucket{route=\"%s\",code=\"%s\",le=\"%s\"} %" PRIu64 "\n", name, label,
                             http_latency_class_names[cls], http_latency_bounds_text[b], count);
            }
            count += cells[HTTP_LATENCY_NBUCKETS];
            metrics_line(req, "%s_bucket{route=\"%s\",code=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, label,
                         http_latency_class_names[cls], count);
            metrics_line(req, "%s_sum{route=\"%s\",code=\"%s\"} %" PRIu64 ".%09" PRIu64 "\n", name, label,
                         http_latency_class_names[cls], cells[HTTP_LATENCY_NBUCKETS + 1] / 1000000000,
                         cells[HTTP_LATENCY_NBUCKETS + 1] % 1000000000);
            metrics_line(req, "%s_count{route=\"%s\",code=\"%s\"} %" PRIu64 "\n", name, label,
                         http_latency_class_names[cls], count);
        }
}

/* The offload pool's figures: server-wide, no worker label. */
static void offload_metrics(struct http_request *req, const struct offload_pool *pool)
{
    struct offload_stats s;

    offload_pool_stats(pool, &s);
    const struct {
        const char *name, *type, *help;
        uint64_t value;
    } rows[] = {
        {"sluice_offload_threads", "gauge", "offload pool threads running", s.threads},
        {"sluice_offload_threads_busy", "gauge", "offload pool threads running a job now", s.busy},
        {"sluice_offload_queued", "gauge", "offloaded jobs waiting for a thread", s.queued},
        {"sluice_offload_submitted_total", "counter", "jobs handed to the offload pool", s.submitted},
        {"sluice_offload_completed_total", "counter", "jobs the offload pool ran", s.completed},
        {"sluice_offload_rejected_total", "counter", "jobs refused: the queue was at queue_max", s.rejected},
        {"sluice_offload_stolen_total", "counter", "jobs a thread took from another deque than its own",
         s.stolen},
        {"sluice_offload_grown_total", "counter", "threads started beyond min_threads", s.grown},
        {"sluice_offload_shrunk_total", "counter", "threads that left after idling", s.shrunk},
        {"sluice_offload_wait_ns_total", "counter", "time jobs waited for a thread, summed", s.wait_ns},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        family(req, rows[i].name, rows[i].type, rows[i].help);
        metrics_line(req, "%s %" PRIu64 "\n", rows[i].name, rows[i].value);
    }
}

/* The access log's: what each worker's ring dropped, and what the logger thread wrote. */
static void access_log_metrics(struct http_request *req, const struct server *srv)
{
    struct access_log_stats s;

    access_log_stats(srv->access_log, &s);
    const struct {
        const char *name, *help;
        uint64_t value;
    } rows[] = {
        {"sluice_access_log_lines_total", "access log lines written", s.written},
        {"sluice_access_log_write_errors_total", "access log lines lost to a failed write", s.write_errors},
        {"sluice_access_log_reopened_total", "access log files reopened (SIGUSR1)", s.reopened},
        {"sluice_access_log_reopen_errors_total", "SIGUSR1 reopens that failed (the old file kept)",
         s.reopen_errors},
    };

    family(req, "sluice_access_log_dropped_total", "counter",
           "requests whose access log line was dropped: the worker's ring ([log] access_ring) was full");
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        sink_sample(
            req, "sluice_access_log_dropped_total", i,
            atomic_load_explicit(&access_log_ring(srv->access_log, i)->dropped, memory_order_relaxed));
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        family(req, rows[i].name, "counter", rows[i].help);
        metrics_line(req, "%s %" PRIu64 "\n", rows[i].name, rows[i].value);
    }
    family(req, "sluice_access_log_cpu_seconds_total", "counter",
           "CPU time of the access log's logger thread (formatting and writing every line)");
    metrics_line(req, "sluice_access_log_cpu_seconds_total %.6f\n", (double)s.cpu_ns / 1e9);
}

static void write_metrics(struct http_request *req, void *ctx)
{
    struct server *srv = ctx;
    uint32_t n = srv->cfg.nworkers;
    struct metrics_sink sink = {
        .family = sink_family, .sample = sink_sample, .sample_queue = sink_sample_queue, .ctx = req};

#define WORKER_SAMPLES(metric, expr)                                                                         \
    for (uint32_t i = 0; i < n; i++) {                                                                       \
        struct worker *w = &srv->workers[i];                                                                 \
        sink_sample(req, metric, i, (uint64_t)(expr));                                                       \
    }

    family(req, "sluice_connections_open", "gauge", "connections a worker's services hold now");
    WORKER_SAMPLES("sluice_connections_open", LOAD(w->apps.open));

#define HTTP_METRIC(name, help)                                                                              \
    family(req, "sluice_http_" #name "_total", "counter", help);                                             \
    WORKER_SAMPLES("sluice_http_" #name "_total", w->apps.http ? LOAD(w->apps.http->stats.name) : 0);
    HTTP_COUNTERS(HTTP_METRIC)
#undef HTTP_METRIC
    if (srv->cfg.http.router)
        latency_metrics(req, srv, srv->cfg.http.router);
    family(req, "sluice_http_system_allocs_total", "counter",
           "malloc calls the HTTP layer made (pool growth)");
    WORKER_SAMPLES("sluice_http_system_allocs_total",
                   w->apps.http ? http_worker_system_allocs(w->apps.http) : 0);

    family(req, "sluice_http1_refused_total", "counter",
           "HTTP/1.1 requests refused (400, 431, 501, 505 and close), by what their framing broke");
    for (int e = H1_OK + 1; e < H1_ERROR_COUNT; e++)
        for (uint32_t i = 0; i < n; i++)
            metrics_line(req, "sluice_http1_refused_total{worker=\"%u\",reason=\"%s\"} %" PRIu64 "\n", i,
                         h1_error_name((enum h1_error)e),
                         srv->workers[i].apps.http ? LOAD(srv->workers[i].apps.http->h1_refused[e]) : 0);

    h2_frames_by_code(req, srv, n, "sluice_http2_goaway_sent_total",
                      "HTTP/2 GOAWAY frames sent (native session), by error code", false);
    h2_frames_by_code(req, srv, n, "sluice_http2_rst_stream_sent_total",
                      "HTTP/2 RST_STREAM frames sent (native session), by error code", true);

#define APP_METRIC(name, help)                                                                               \
    family(req, "sluice_app_" #name "_total", "counter", help);                                              \
    WORKER_SAMPLES("sluice_app_" #name "_total", LOAD(w->apps.stats.name));
    APP_COUNTERS(APP_METRIC)
#undef APP_METRIC

    if (tls_stats_of(&srv->workers[0])) {
#define TLS_METRIC(name, help)                                                                               \
    family(req, "sluice_tls_" #name "_total", "counter", help);                                              \
    WORKER_SAMPLES("sluice_tls_" #name "_total", tls_stats_of(w) ? LOAD(tls_stats_of(w)->name) : 0);
        TLS_COUNTERS(TLS_METRIC)
#undef TLS_METRIC
    }

    if (srv->offload)
        offload_metrics(req, srv->offload);
    if (srv->breakers)
        breaker_metrics(req, srv->cfg.http.router, srv->breakers);
    if (srv->cfg.http.rate_limit.rps) {
        struct rate_limit_stats s;

        rate_limit_stats(&srv->rate_limit, &s);
        family(req, "sluice_rate_limit_clients", "gauge",
               "client addresses the per-client rate limit tracks now");
        metrics_line(req, "sluice_rate_limit_clients %" PRIu64 "\n", s.tracked);
        family(req, "sluice_rate_limit_forgotten_total", "counter",
               "clients the rate limit forgot to make room for another (the idlest)");
        metrics_line(req, "sluice_rate_limit_forgotten_total %" PRIu64 "\n", s.replaced);
    }

    if (srv->access_log)
        access_log_metrics(req, srv);

    srv->cfg.datapath->write_metrics(srv, &sink);
#undef WORKER_SAMPLES
}

void server_metrics_register(struct server *srv)
{
    metrics_set_writer(write_metrics, srv);
}
