/*
 * worker.c — what every worker shares whatever its datapath: threads pinned to their CPUs, the
 * drain on stop, and the start and stop sequences (see worker.h). The datapath is reached only
 * through its table (datapath.h), at start, at the drain and at stop.
 */
#include "sched/worker.h"

#include "h2/h2.h"
#include "http/http_worker.h"
#include "sluice/router.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t worker_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool worker_tick(struct worker *w, uint64_t now)
{
    struct server *srv = w->srv;

    if (w->apps.http)
        atomic_store_explicit(&w->queue_depth, http_worker_offload_in_flight(w->apps.http),
                              memory_order_relaxed);
    app_table_expire(&w->apps, now);
    /* answers to gRPC deadlines go through the layers (TLS) now: the datapath sees output pending and
     * transmits before it sleeps */
    if (w->apps.http && http_worker_tick(w->apps.http, now))
        app_table_flush(&w->apps);
    if (!w->handed_over && atomic_load_explicit(&srv->handing_over, memory_order_relaxed)) {
        /* no GOAWAY: the connections carry on as they are until their clients close them */
        w->handed_over = true;
        if (srv->cfg.datapath->worker_stop_listening)
            srv->cfg.datapath->worker_stop_listening(w);
    }
    if (w->handed_over)
        atomic_store_explicit(&w->settled, w->apps.open == 0, memory_order_relaxed);
    if (!w->draining && atomic_load_explicit(&srv->draining, memory_order_relaxed)) {
        /* each service finishes what is in flight (HTTP/2: GOAWAY, then the open streams), then FIN */
        w->draining = true;
        w->drain_deadline_ns = now + (uint64_t)srv->cfg.drain_ms * 1000000;
        for (uint32_t i = 0; i < w->apps.nslots; i++)
            if (w->apps.slots[i].transport && w->apps.slots[i].ops->drain)
                w->apps.slots[i].ops->drain(&w->apps.slots[i]);
            else if (w->apps.slots[i].transport)
                app_shutdown(&w->apps.slots[i]);
        app_table_flush(&w->apps); /* what draining wrote (GOAWAY), before the next batch */
        if (srv->cfg.datapath->worker_stop_listening)
            srv->cfg.datapath->worker_stop_listening(w);
    }
    if (w->draining && w->apps.open && now >= w->drain_deadline_ns) {
        /* drain_ms is over: what is still open (a client gone silent, or too slow) is reset, through
         * its service, which lets go of its state (HTTP/2's HPACK tables, a handler's request) */
        for (uint32_t i = 0; i < w->apps.nslots; i++)
            if (w->apps.slots[i].transport)
                app_abort(&w->apps.slots[i]);
        app_table_flush(&w->apps);
    }
    if (w->draining && (w->apps.open == 0 || now >= w->drain_deadline_ns))
        atomic_store(&w->drained, true);
    return atomic_load_explicit(&srv->stop, memory_order_relaxed);
}

void worker_offload_woken(struct worker *w)
{
    offload_clear_wake(w->srv->offload, w->index);
}

void worker_reap_offloaded(struct worker *w)
{
    if (w->srv->offload)
        offload_reap(w->srv->offload, w->index, http_offload_finish);
}

/* A CPU outside the machine (or the cpuset) is EINVAL: the operator's --cpus, so a usage error. */
static int pin_to_cpu(struct worker *w, int cpu, struct err *e)
{
    cpu_set_t set;
    int err;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    err = pthread_setaffinity_np(w->thread, sizeof(set), &set);
    if (err)
        return ERR(e, err == EINVAL ? EXIT_STATUS_USAGE : EXIT_STATUS_FAILURE, err,
                   "worker %u: cannot pin to CPU %d", w->index, cpu);
    return 0;
}

static void release(struct server *srv)
{
    const struct datapath_ops *dp = srv->cfg.datapath;

    /* the workers' threads are gone: the pool finishes what it holds, then the connections close
     * (their requests let go of their jobs), then the jobs are freed, answered to no one */
    if (srv->offload)
        offload_pool_stop(srv->offload);

    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct worker *w = &srv->workers[i];

        if (!w->srv)
            continue;
        dp->worker_release(w);
        if (srv->offload)
            offload_reap(srv->offload, i, http_offload_drop);
        if (w->apps.http)
            http_worker_destroy(w->apps.http);
        if (w->apps.slots)
            app_table_destroy(&w->apps);
    }
    dp->server_release(srv);
    if (srv->offload)
        offload_pool_free(srv->offload);
    srv->offload = NULL;
    for (int i = 0; srv->breakers && i < srv->cfg.http.router->route_count; i++)
        breaker_destroy(&srv->breakers[i]);
    free(srv->breakers);
    srv->breakers = NULL;
    rate_limit_destroy(&srv->rate_limit);
    /* last: closing the connections above ended their requests, whose lines are in the rings */
    access_log_stop(srv->access_log);
    srv->access_log = NULL;
}

static void join_all(struct server *srv)
{
    atomic_store(&srv->stop, true);
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        if (srv->workers[i].started)
            pthread_join(srv->workers[i].thread, NULL);
}

static bool serves_http(const struct server_config *cfg)
{
    for (int i = 0; i < cfg->nservices; i++)
        if (cfg->services[i].ops == &app_http_ops)
            return true;
    return false;
}

int server_start(struct server *srv, const struct server_config *cfg, struct err *e)
{
    const struct datapath_ops *dp = cfg->datapath;
    char about[256] = "";

    memset(srv, 0, sizeof(*srv));
    srv->cfg = *cfg;
    srv->cfg.datapath_cfg = NULL; /* the datapath keeps what it needs of it */
    if (serves_http(cfg) && !cfg->http.router)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "an HTTP service needs the app's routes (struct http_config's router)");
    if (serves_http(cfg) && cfg->offload.max_threads &&
        offload_pool_start(&srv->offload, &cfg->offload, cfg->nworkers, e))
        return -1;
    if (srv->offload && cfg->breaker.failures) {
        srv->breakers = calloc((size_t)cfg->http.router->route_count, sizeof(*srv->breakers));
        if (!srv->breakers) {
            ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate the routes' breakers");
            goto fail;
        }
        for (int i = 0; i < cfg->http.router->route_count; i++)
            breaker_init(&srv->breakers[i], &cfg->breaker);
    }
    if (serves_http(cfg) && rate_limit_init(&srv->rate_limit, &cfg->http.rate_limit, e))
        goto fail;
    if (serves_http(cfg) && cfg->access_log.path &&
        !(srv->access_log = access_log_start(&cfg->access_log, cfg->nworkers, cfg->http.router->route_names,
                                             cfg->http.router->route_count, e)))
        goto fail;
    if (dp->server_init(srv, cfg->datapath_cfg, e))
        goto fail;
    for (uint32_t i = 0; i < cfg->nworkers; i++) {
        struct worker *w = &srv->workers[i];

        w->index = i;
        w->srv = srv;
        w->offload_fd = -1;
        if (app_table_init(&w->apps, cfg->tcp.max_conns, cfg->services, cfg->nservices)) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: cannot allocate %u connection slots", i,
                cfg->tcp.max_conns);
            goto fail;
        }
        w->apps.worker = i;
        w->apps.lingering.ns = (uint64_t)cfg->linger_ms * 1000000;
        w->apps.stalled.ns = (uint64_t)cfg->send_timeout_ms * 1000000;
        w->apps.linger_max_bytes = cfg->linger_max_bytes;
        if (serves_http(cfg) &&
            !(w->apps.http =
                  http_worker_new(&srv->cfg.http, cfg->tcp.max_conns,
                                  srv->cfg.http.h2 == HTTP_H2_NATIVE ? &h2_native_ops : &h2_nghttp2_ops))) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: cannot set up its HTTP layer", i);
            goto fail;
        }
        if (w->apps.http)
            http_worker_set_index(w->apps.http, i);
        if (w->apps.http && srv->offload) {
            http_worker_set_offload(w->apps.http, srv->offload, i, srv->breakers, cfg->offload_slow_ms);
            w->offload_fd = offload_wake_fd(srv->offload, i);
        }
        if (w->apps.http && cfg->http.rate_limit.rps)
            http_worker_set_rate_limit(w->apps.http, &srv->rate_limit);
        if (w->apps.http && srv->access_log)
            http_worker_set_access_log(w->apps.http, access_log_ring(srv->access_log, i));
        if (dp->worker_init(w, e))
            goto fail;
    }
    if (dp->server_ready)
        dp->server_ready(srv);
    server_metrics_register(srv);
    for (uint32_t i = 0; i < cfg->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        int err = pthread_create(&w->thread, NULL, dp->worker_run, w);

        if (err) {
            ERR(e, EXIT_STATUS_FAILURE, err, "cannot start worker %u", i);
            goto fail;
        }
        w->started = true;
        if (pin_to_cpu(w, cfg->cpus[i], e))
            goto fail;
    }
    dp->describe(srv, about, sizeof(about));
    printf("%s: %u worker%s on %s\n", program_invocation_short_name, cfg->nworkers,
           cfg->nworkers == 1 ? "" : "s", about);
    return 0;
fail:
    join_all(srv);
    release(srv);
    return -1;
}

void server_reopen_logs(struct server *srv)
{
    access_log_reopen(srv->access_log);
}

static void print_stats(struct server *srv, FILE *out)
{
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct worker *w = &srv->workers[i];

        fprintf(out, "worker %u\n  worker_loops %llu polls %llu\n", i, (unsigned long long)w->loops,
                (unsigned long long)w->polls);
        srv->cfg.datapath->worker_print_stats(w, out);
#define PRINT(name, help)                                                                                    \
    if (w->apps.stats.name)                                                                                  \
        fprintf(out, "  app_%-24s %llu\n", #name, (unsigned long long)w->apps.stats.name);
        APP_COUNTERS(PRINT)
#undef PRINT
    }
}

void server_hand_over(struct server *srv)
{
    atomic_store(&srv->handing_over, true);
}

bool server_settled(struct server *srv)
{
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        if (!atomic_load(&srv->workers[i].settled))
            return false;
    return true;
}

int server_stop(struct server *srv, FILE *stats, struct err *e)
{
    uint64_t give_up = worker_now_ns() + ((uint64_t)srv->cfg.drain_ms + 1000) * 1000000;
    int ret = 0;

    atomic_store(&srv->draining, true);
    for (bool all = false; !all && worker_now_ns() < give_up;) {
        all = true;
        for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
            all = all && atomic_load(&srv->workers[i].drained);
        if (!all)
            usleep(10000);
    }
    join_all(srv);
    if (srv->cfg.datapath->server_verify)
        ret = srv->cfg.datapath->server_verify(srv, e);
    if (stats)
        print_stats(srv, stats);
    release(srv);
    return ret;
}
