/*
 * sock_worker.h — the kernel-socket datapath: epoll over ordinary TCP sockets, reached by the
 * scheduler through its one table, `sock_datapath` (sched/datapath.h).
 *
 * Each worker has its own SO_REUSEPORT listener per service port (IPv6 socket accepting IPv4
 * too), so the kernel spreads connections over workers and no lock is shared. A connection reads
 * into a receive buffer the services peek at, and services write into a send buffer that is
 * flushed once per loop iteration, so writes in one batch leave in one send(). Buffers come from
 * a per-worker free list and go back when empty: an idle connection holds none.
 */
#ifndef SLUICE_SOCK_SOCK_WORKER_H
#define SLUICE_SOCK_SOCK_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app/app.h"
#include "maps/sluice_maps.h"
#include "sched/datapath.h"

#define SOCK_BUF_SIZE 65536

#define SOCK_WORKER_COUNTERS(X)                                                                              \
    X(accepted, "connections accepted")                                                                      \
    X(refused, "connections closed at once: no service slot")                                                \
    X(bytes_in, "bytes received")                                                                            \
    X(bytes_out, "bytes sent")                                                                               \
    X(sends, "send() calls")                                                                                 \
    X(send_blocked, "sends the kernel could not take in full (EPOLLOUT armed)")                              \
    X(errors, "connections ended by a socket error")                                                         \
    X(buffers_allocated, "buffers ever allocated (the free list makes later ones free)")

struct sock_worker_stats {
#define SOCK_WORKER_STATS_FIELD(name, help) uint64_t name;
    SOCK_WORKER_COUNTERS(SOCK_WORKER_STATS_FIELD)
#undef SOCK_WORKER_STATS_FIELD
};

struct sock_conn;

/* One worker's state (w->dp), written by its own thread only (/metrics reads the counters). */
/* A worker's listening sockets: one per service, and those it took over from a previous generation
 * (as many as that one had workers, shared out between this one's). */
#define SOCK_MAX_LISTENERS (APP_MAX_SERVICES + SLUICE_MAX_WORKERS)

struct sock_worker {
    int epfd;
    int listeners[SOCK_MAX_LISTENERS];
    uint16_t listen_ports[SOCK_MAX_LISTENERS];
    int nlisteners;
    struct sock_conn *conns;
    uint32_t max_conns;
    uint32_t free_conn;
    uint32_t dirty; /* connections with bytes to send at the end of this iteration */
    void *free_bufs;
    struct sock_worker_stats stats;
};

/* The kernel-socket datapath's operations (sock_worker.c). */
extern const struct datapath_ops sock_datapath;

#endif
