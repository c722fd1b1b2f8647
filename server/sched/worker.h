/*
 * worker.h — the server and its pinned workers, whatever the datapath.
 *
 * A worker is one thread on one CPU that runs to completion: its datapath's loop takes a batch of
 * input, runs the services from the callbacks, sends what they wrote, and sleeps until input or its
 * next timer (or spins, with busy polling). The datapath is a table of operations (datapath.h)
 * chosen by the configuration; two exist:
 *   xdp     AF_XDP sockets over a shared UMEM and sluice's TCP engine (server/afxdp/xdp_worker.c)
 *   socket  epoll over ordinary kernel sockets, SO_REUSEPORT listeners (server/sock/sock_worker.c),
 *           for machines without XDP and as the baseline the benchmarks compare against.
 * This file's part is what every datapath shares: configuration, services, threads and pinning,
 * and the stop sequence (drain connections, then stop, then release). Nothing here knows which
 * datapath runs.
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
#include "log/access_log.h"
#include "maps/sluice_maps.h"
#include "net/tcp.h"
#include "offload/breaker.h"
#include "offload/offload.h"
#include "sched/datapath.h"

/*
 * What one server generation hands the next (takeover.h). The socket datapath: its listening
 * sockets, each with its port; the new generation serves these very sockets: none is closed while
 * the other still takes connections, so no connection queued on one is lost. AF_XDP: the UMEM's
 * memfds and each queue's first socket, described by blob (struct xdp_handover). At most what one
 * SCM_RIGHTS message carries.
 */
#define SERVER_MAX_INHERITED 253
#define SERVER_HANDOVER_BLOB 128
struct listen_fds {
    int n;
    int fd[SERVER_MAX_INHERITED];
    uint16_t port[SERVER_MAX_INHERITED];
    uint32_t blob_len; /* the datapath's own description of fd, its bytes in blob */
    uint8_t blob[SERVER_HANDOVER_BLOB];
};

/* A quarter of the default max_half_open: a flood turns cookies on long before it evicts real clients'
 * handshakes, and no test or benchmark opens that many at once. */
#define SERVER_SYNCOOKIE_HALF_OPEN_DEFAULT 1024

struct server_config {
    const struct datapath_ops *datapath;
    /* the datapath's own settings, for its server_init (AF_XDP: struct xdp_config) */
    const void *datapath_cfg;
    uint32_t nworkers;
    int cpus[SLUICE_MAX_WORKERS]; /* CPU of each worker */
    uint32_t ncpus;               /* CPUs the operator listed; 0: worker i on CPU i mod CPUs */
    bool busy_poll;
    uint32_t poll_spin_us;     /* longest a worker spins for more work before it sleeps (adaptive) */
    uint32_t drain_ms;         /* how long a stopping server lets connections finish */
    uint32_t linger_ms;        /* lingering close (app.h): how long, and how many bytes, input is */
    uint32_t linger_max_bytes; /* discarded after a service shut a connection */
    uint32_t send_timeout_ms;  /* output that waits this long without progress resets (app.h); 0: never */
    uint32_t shed_busy_pct;    /* AF_XDP: a worker busier than this publishes overload (XDP sheds its
                                  SYNs); 100: never */
    struct tcp_config tcp;     /* the engine's; max_conns also bounds every datapath's connections */

    /* AF_XDP: from this many SYN-RECEIVED connections on a worker, XDP answers its SYNs with cookies;
     * 0: never */
    uint32_t syncookie_half_open;

    struct http_config http;
    struct offload_config offload; /* max_threads 0: no pool, offloaded handlers run on the workers */
    struct breaker_config breaker; /* each offloaded route's; failures 0: none */
    uint32_t offload_slow_ms;      /* an offloaded handler that runs longer fails, for its breaker */
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
    struct listen_fds inherit; /* what was taken over (listeners, AF_XDP's UMEM); the datapath owns it */
    struct access_log_config access_log; /* path NULL: no access log */
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
    bool handed_over;     /* it took the server's hand-over: it stopped taking new connections */
    _Atomic bool settled; /* handed over, and no connection left open */
    int offload_fd;       /* readable when offloaded jobs of this worker are done; -1: no pool */
    /* requests waiting on this worker's behalf (offload jobs); published for steering (`workers`
     * map, queue): written by whoever queues and runs them, read by the datapath's publisher */
    _Atomic uint32_t queue_depth;
    void *dp; /* the datapath's state of this worker (datapath.h), NULL before its init */
};

struct server {
    struct server_config cfg;
    void *dp;                      /* the datapath's server-wide state (datapath.h), NULL before its init */
    struct offload_pool *offload;  /* NULL without one */
    struct breaker *breakers;      /* one per route, with the pool and breaker.failures set */
    struct rate_limit rate_limit;  /* per client address, shared by the workers ([http] rate_limit_rps) */
    struct access_log *access_log; /* NULL without one ([log] access) */
    struct worker workers[SLUICE_MAX_WORKERS];
    _Atomic bool handing_over; /* a new generation took over (takeover.h): take no new connections */
    _Atomic bool draining;
    _Atomic bool stop;
};

/* Set up the datapath, open and register every worker's sockets, start the workers pinned to
 * cfg->cpus (a CPU that cannot be had is an error: the server does not start). */
int server_start(struct server *srv, const struct server_config *cfg, struct err *e);

/*
 * Stop: refuse new connections, let open ones finish for up to drain_ms, stop the threads, print
 * every worker's counters to stats (if not NULL), then release everything (after the datapath's
 * own check, AF_XDP's that every UMEM frame is accounted for; a failed check is the returned error).
 */
int server_stop(struct server *srv, FILE *stats, struct err *e);

/*
 * The hand-over to a new server generation (takeover.h): every worker stops taking new connections
 * and serves its open ones on. server_settled says when none is left; server_stop follows.
 */
void server_hand_over(struct server *srv);
bool server_settled(struct server *srv);

/*
 * Called by a datapath loop once per iteration with the time: runs the drain when the server is
 * stopping. Returns true when the loop must end.
 */
bool worker_tick(struct worker *w, uint64_t now_ns);

uint64_t worker_now_ns(void);

/*
 * Offloaded jobs: a datapath polls w->offload_fd with its sockets and calls worker_offload_woken when it
 * is readable; on every loop, before it flushes what the services wrote, it calls worker_reap_offloaded,
 * which answers the requests whose jobs came back (one atomic load when none did).
 */
void worker_offload_woken(struct worker *w);
void worker_reap_offloaded(struct worker *w);

/* SIGUSR1: the access log (if any) reopens its file, for logrotate. */
void server_reopen_logs(struct server *srv);

/* Make /metrics report this server (server/sched/server_metrics.c). */
void server_metrics_register(struct server *srv);

#endif
