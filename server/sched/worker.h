/*
 * worker.h — the server and its pinned workers, on either datapath.
 *
 * A worker is one thread on one CPU that runs to completion: its datapath's loop takes a batch of
 * input, runs the services from the callbacks, sends what they wrote, and sleeps until input or its
 * next timer (or spins, with busy polling). Two datapaths provide the loop:
 *   xdp     AF_XDP sockets over a shared UMEM and sluice's TCP engine (server/afxdp/xdp_worker.c)
 *   socket  epoll over ordinary kernel sockets, SO_REUSEPORT listeners (server/sock/sock_worker.c),
 *           for machines without XDP and as the baseline the benchmarks compare against.
 * This file's part is what both share: configuration, threads and pinning, and the stop sequence
 * (drain connections, then stop, then release).
 */
#ifndef SLUICE_SCHED_WORKER_H
#define SLUICE_SCHED_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app/app.h"
#include "common/err.h"
#include "http/http_config.h"
#include "maps/pins.h"
#include "sock/sock_worker.h"
#include "net/tcp.h"
#include "afxdp/umem.h"
#include "afxdp/xdp_worker.h"

enum datapath { DATAPATH_XDP, DATAPATH_SOCKET };

struct server_config {
    enum datapath datapath;
    const char *ifname;   /* xdp: the device the agent loaded */
    uint32_t nworkers;
    int cpus[SLUICE_MAX_WORKERS]; /* CPU of each worker */
    uint32_t ncpus;               /* CPUs the operator listed; 0: worker i on CPU i mod CPUs */
    uint32_t queue;
    uint32_t ring_size;   /* RX and TX ring entries per socket */
    enum xsk_zerocopy zerocopy;
    bool busy_poll;
    uint32_t drain_ms;    /* how long a stopping server lets connections finish */
    struct umem_config umem;
    struct tcp_config tcp; /* max_conns also bounds the socket datapath's connections */
    struct http_config http;
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
};

struct server;

struct worker {
    uint32_t index;
    struct server *srv;
    pthread_t thread;
    bool started;
    bool draining;
    uint64_t drain_deadline_ns;
    struct app_table apps;
    uint64_t loops;
    uint64_t polls;
    _Atomic bool drained; /* no connection left (TIME-WAIT aside), or the drain time is up */
    struct xdp_worker xdp;
    struct sock_worker sock;
};

struct server {
    struct server_config cfg;
    struct umem umem;  /* xdp */
    struct pins pins;  /* xdp */
    struct worker workers[SLUICE_MAX_WORKERS];
    _Atomic bool draining;
    _Atomic bool stop;
};

/* Set up the datapath, open and register every worker's sockets, start the workers. */
int server_start(struct server *srv, const struct server_config *cfg, struct err *e);

/*
 * Stop: refuse new connections, let open ones finish for up to drain_ms, stop the threads, print
 * every worker's counters to stats (if not NULL), then release everything (on the xdp datapath
 * after checking that every UMEM frame is accounted for; a failed check is the returned error).
 */
int server_stop(struct server *srv, FILE *stats, struct err *e);

/*
 * Called by a datapath loop once per iteration with the time: runs the drain when the server is
 * stopping. Returns true when the loop must end.
 */
bool worker_tick(struct worker *w, uint64_t now_ns);

uint64_t worker_now_ns(void);

/* Make /metrics report this server (server/sched/server_metrics.c). */
void server_metrics_register(struct server *srv);

#endif
