/*
 * server_metrics.c — the server's /metrics writer: every counter of every worker (HTTP layer, services,
 * TCP engine, AF_XDP socket) and the steering program's per-CPU counters from the pinned `stats`
 * map, in Prometheus text format, one metric name at a time with a sample per worker.
 *
 * It runs on whichever worker got the request and reads the other workers' counters while they
 * run: each is a naturally aligned 64-bit word written only by its worker, read with relaxed
 * atomic loads, so a scrape sees each value whole (if not all from the same instant).
 */
#include <inttypes.h>

#include "http/http_conn.h"
#include "http/http_worker.h"
#include "http/handlers/metrics.h"
#include "sched/worker.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void family(struct http_request *req, const char *name, const char *type, const char *help)
{
    metrics_line(req, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_metrics(struct http_request *req, void *ctx)
{
    struct server *srv = ctx;
    uint32_t n = srv->cfg.nworkers;

#define WORKER_SAMPLES(metric, expr)                                                                         \
    for (uint32_t i = 0; i < n; i++) {                                                                       \
        struct worker *w = &srv->workers[i];                                                                 \
        metrics_line(req, "%s{worker=\"%u\"} %" PRIu64 "\n", metric, i, (uint64_t)(expr));                   \
    }

    family(req, "sluice_connections_open", "gauge", "connections a worker's services hold now");
    WORKER_SAMPLES("sluice_connections_open", LOAD(w->apps.open));

#define HTTP_METRIC(name, help)                                                                              \
    family(req, "sluice_http_" #name "_total", "counter", help);                                             \
    WORKER_SAMPLES("sluice_http_" #name "_total", w->apps.http ? LOAD(w->apps.http->stats.name) : 0);
    HTTP_COUNTERS(HTTP_METRIC)
#undef HTTP_METRIC
    family(req, "sluice_http_system_allocs_total", "counter", "malloc calls the HTTP layer made (pool growth)");
    WORKER_SAMPLES("sluice_http_system_allocs_total", w->apps.http ? http_worker_system_allocs(w->apps.http) : 0);

#define APP_METRIC(name, help)                                                                               \
    family(req, "sluice_app_" #name "_total", "counter", help);                                              \
    WORKER_SAMPLES("sluice_app_" #name "_total", LOAD(w->apps.stats.name));
    APP_COUNTERS(APP_METRIC)
#undef APP_METRIC

    if (srv->cfg.datapath == DATAPATH_XDP) {
        struct sluice_stats bpf;
        struct err e;

#define TCP_METRIC(name, help)                                                                               \
    family(req, "sluice_tcp_" #name "_total", "counter", help);                                              \
    WORKER_SAMPLES("sluice_tcp_" #name "_total", LOAD(w->xdp.engine.stats.name));
        TCP_ENGINE_COUNTERS(TCP_METRIC)
#undef TCP_METRIC
#define XDP_METRIC(name, help)                                                                               \
    family(req, "sluice_afxdp_" #name "_total", "counter", help);                                            \
    WORKER_SAMPLES("sluice_afxdp_" #name "_total", LOAD(w->xdp.stats.name));
        XDP_WORKER_COUNTERS(XDP_METRIC)
#undef XDP_METRIC
        if (pins_read_stats(&srv->pins, &bpf, &e) == 0) {
#define BPF_METRIC(name, help)                                                                               \
    family(req, "sluice_steer_" #name "_total", "counter", help);                                            \
    metrics_line(req, "sluice_steer_" #name "_total %" PRIu64 "\n", (uint64_t)bpf.name);
            SLUICE_VERDICT_COUNTERS(BPF_METRIC)
            SLUICE_EVENT_COUNTERS(BPF_METRIC)
#undef BPF_METRIC
            family(req, "sluice_steer_redirects_total", "counter", "packets the steering program sent to a worker");
            for (uint32_t i = 0; i < SLUICE_MAX_WORKERS; i++)
                if (bpf.redirect_by_worker[i])
                    metrics_line(req, "sluice_steer_redirects_total{worker=\"%u\"} %" PRIu64 "\n", i,
                                 (uint64_t)bpf.redirect_by_worker[i]);
        }
    } else {
#define SOCK_METRIC(name, help)                                                                              \
    family(req, "sluice_sock_" #name "_total", "counter", help);                                             \
    WORKER_SAMPLES("sluice_sock_" #name "_total", LOAD(w->sock.stats.name));
        SOCK_WORKER_COUNTERS(SOCK_METRIC)
#undef SOCK_METRIC
    }
#undef WORKER_SAMPLES
}

void server_metrics_register(struct server *srv)
{
    metrics_set_writer(write_metrics, srv);
}
