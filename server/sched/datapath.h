/*
 * datapath.h — the seam between the scheduler and a datapath: one table of operations each
 * datapath exports (server/afxdp/: `xdp_datapath`, server/sock/: `sock_datapath`), so that the
 * scheduler (worker.c, server_metrics.c) starts, drains, stops and reports workers knowing only
 * the table. A new datapath (a test double, io_uring) is one more table and touches no file here.
 *
 * The datapath owns two opaque states: srv->dp, server-wide (AF_XDP: the UMEM and the pinned maps),
 * and w->dp, per worker (its socket or epoll set, its TCP engine, its counters). Each is allocated
 * by the datapath's init and freed by its release; release also runs after a failed or partial
 * init, so it must accept what init left (NULL included).
 *
 * Cost: the scheduler calls through the table at start, at stop and per scrape, never per loop
 * iteration or per packet: the thread body (worker_run) is the datapath's own loop, which calls
 * worker_tick directly.
 */
#ifndef SLUICE_SCHED_DATAPATH_H
#define SLUICE_SCHED_DATAPATH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

struct listen_fds;
struct server;
struct worker;

/*
 * Where a datapath writes its /metrics families (Prometheus text): the scheduler's writer passes
 * one, so a datapath neither formats the exposition nor depends on the HTTP layer. A family is
 * announced once, then its samples follow: worker is the sample's `worker` label, or
 * METRICS_NO_WORKER for a server-wide sample without labels.
 */
#define METRICS_NO_WORKER UINT32_MAX

struct metrics_sink {
    void (*family)(void *ctx, const char *name, const char *type, const char *help);
    void (*sample)(void *ctx, const char *name, uint32_t worker, uint64_t value);
    /* A sample of one worker's socket on one device queue: labelled worker and queue. */
    void (*sample_queue)(void *ctx, const char *name, uint32_t worker, uint32_t queue, uint64_t value);
    void *ctx;
};

struct datapath_ops {
    const char *name; /* as in --datapath */
    /* Once, before any worker: server-wide state into srv->dp from cfg, the datapath's own
     * settings (srv->cfg.datapath_cfg, which need not outlive this call). */
    int (*server_init)(struct server *srv, const void *cfg, struct err *e);
    /* Each worker, after its services (w->apps): its state into w->dp, its sockets opened. */
    int (*worker_init)(struct worker *w, struct err *e);
    /* Optional: after every worker's init, before any thread starts (AF_XDP: fill the fill ring). */
    void (*server_ready)(struct server *srv);
    /* The worker thread's body: the loop, until worker_tick says stop. */
    void *(*worker_run)(void *worker);
    /* Optional, on the worker's own thread when the drain begins: stop taking new connections
     * (kernel sockets: close the listeners; AF_XDP: publish the worker overloaded in `workers` at
     * once, and XDP sheds them). */
    void (*worker_stop_listening)(struct worker *w);
    /* Optional, once the server started, before any worker stops listening: every worker's listening
     * sockets, for a successor generation to serve (takeover.h). Returns how many, -1 past max. */
    int (*listeners)(struct server *srv, struct listen_fds *out);
    /* What the start-up line says after "N workers on ": the device, the mode, the memory. */
    void (*describe)(struct server *srv, char *buf, size_t len);
    /* A worker's datapath counters in server_stop's report, one "  name value" line each. */
    void (*worker_print_stats)(struct worker *w, FILE *out);
    /* The datapath's /metrics families, every worker's samples (see server_metrics.c). */
    void (*write_metrics)(struct server *srv, const struct metrics_sink *sink);
    /* Optional, at stop after the threads were joined: check the datapath's own accounting
     * (AF_XDP: every UMEM frame is somewhere); a failure is server_stop's error. */
    int (*server_verify)(struct server *srv, struct err *e);
    /* Undo worker_init (also a partial one, or none: w->dp NULL); w->dp is NULL after. */
    void (*worker_release)(struct worker *w);
    /* Undo server_init (also a partial one, or none: srv->dp NULL); srv->dp is NULL after. */
    void (*server_release)(struct server *srv);
};

#endif
