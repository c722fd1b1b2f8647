/*
 * worker.h — the server and its pinned workers.
 *
 * A worker is one thread on one CPU that runs to completion, in a loop: a batch from its AF_XDP
 * RX ring through its TCP engine and the applications, its segments into its TX ring, then the
 * shared completion and fill rings, then sleep in poll() until packets or its next timer (or spin,
 * with busy polling). Workers share nothing but the UMEM and its two locked rings; a connection's
 * packets always reach the worker that owns it because the XDP program's flow table says so.
 */
#ifndef SLUICE_SCHED_WORKER_H
#define SLUICE_SCHED_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app.h"
#include "err.h"
#include "pins.h"
#include "tcp.h"
#include "umem.h"
#include "xsk_port.h"

struct server_config {
    const char *ifname;
    uint32_t nworkers;
    int cpus[SLUICE_MAX_WORKERS]; /* CPU of each worker */
    uint32_t queue;
    uint32_t ring_size;   /* RX and TX ring entries per socket */
    enum xsk_zerocopy zerocopy;
    bool busy_poll;
    uint32_t drain_ms;    /* how long a stopping server lets connections finish */
    struct umem_config umem;
    struct tcp_config tcp;
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
};

#define WORKER_COUNTERS(X)                                                                                   \
    X(loops, "iterations of the worker loop")                                                                \
    X(polls, "times the worker slept in poll()")                                                             \
    X(rx_packets, "frames taken from the RX ring")                                                           \
    X(tx_packets, "frames placed in the TX ring")                                                            \
    X(tx_ring_full, "times the TX ring had no room for everything the engine emitted")                       \
    X(completions, "TX completions this worker consumed (for any worker's frames)")                          \
    X(refilled, "frames this worker gave to the fill ring")

struct worker_stats {
#define WORKER_STATS_FIELD(name, help) uint64_t name;
    WORKER_COUNTERS(WORKER_STATS_FIELD)
#undef WORKER_STATS_FIELD
};

struct server;

struct worker {
    uint32_t index;
    struct server *srv;
    pthread_t thread;
    bool started;
    struct frame_cache cache;
    struct tcp_engine engine;
    struct xsk_port port;
    struct app_table apps;
    struct worker_stats stats;
    _Atomic bool drained; /* no connection left but TIME-WAIT */
};

struct server {
    struct server_config cfg;
    struct umem umem;
    struct pins pins;
    struct worker workers[SLUICE_MAX_WORKERS];
    _Atomic bool draining;
    _Atomic bool stop;
};

/* Map the UMEM, open and register every worker's socket, start the workers. */
int server_start(struct server *srv, const struct server_config *cfg, struct err *e);

/*
 * Stop: shed new connections in XDP (overload flag), let open ones finish for up to drain_ms, stop
 * the threads, print every worker's counters to stats (if not NULL), then deregister the sockets
 * from `xsks` and `workers` and release everything. Returns 0 when every frame was accounted for.
 *
 * Deregistration comes after draining, not before: the steering program only sends a flow's
 * packets to a live worker, so a worker marked dead first could not finish its connections.
 */
int server_stop(struct server *srv, FILE *stats, struct err *e);

#endif
