/*
 * xdp_worker.h — a worker's AF_XDP datapath: its socket, its TCP engine and its frame cache.
 *
 * The loop: RX batch -> tcp_input -> (services run from the engine's callbacks during flush) ->
 * TX batch -> completions -> fill ring -> sleep in poll() until packets or the engine's next
 * deadline. Nothing in it allocates memory or takes a lock but the two batch-level ring locks of
 * the shared UMEM (umem.c). The worker's state in the pinned `workers` map is published from here.
 */
#ifndef SLUICE_AFXDP_XDP_WORKER_H
#define SLUICE_AFXDP_XDP_WORKER_H

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "net/frame.h"
#include "sched/handoff.h"
#include "net/tcp.h"
#include "afxdp/xsk_port.h"

#define XDP_WORKER_COUNTERS(X)                                                                               \
    X(rx_packets, "frames taken from the RX ring")                                                           \
    X(tx_packets, "frames placed in the TX ring")                                                            \
    X(tx_ring_full, "times the TX ring had no room for everything the engine emitted")                       \
    X(completions, "TX completions this worker consumed (for any worker's frames)")                          \
    X(refilled, "frames this worker gave to the fill ring")                                                  \
    X(steer_moved_out, "connections handed to the worker their route names")                                  \
    X(steer_moved_in, "connections taken over from the worker that did their handshake")                      \
    X(steer_forwarded, "frames of a connection that moved away, forwarded to its new worker")                 \
    X(steer_forwarded_in, "frames forwarded here by a connection's old worker")                              \
    X(steer_pinned, "connections routed elsewhere after the application had them: they stay")                 \
    X(steer_inbox_full, "hand-offs or forwards refused by a full inbox (connection kept, frame dropped)")     \
    X(steer_import_failed, "connections handed over that found no slot here: dropped")                       \
    X(steer_flow_gone, "flow entries gone (LRU) when a hand-off went to update them")                        \
    X(steer_export_ns, "time spent exporting connections and updating their flows, ns")                      \
    X(steer_latency_ns, "sum over connections moved in of export-to-import time, ns")

struct xdp_worker_stats {
#define XDP_WORKER_STATS_FIELD(name, help) uint64_t name;
    XDP_WORKER_COUNTERS(XDP_WORKER_STATS_FIELD)
#undef XDP_WORKER_STATS_FIELD
};

#define XDP_RX_BATCH 64 /* descriptors taken from the RX ring at a time */

/* A connection this RX batch found routed to another worker. */
struct xdp_move {
    struct tcp_conn *conn;
    uint32_t target;
};

struct xdp_worker {
    struct frame_cache cache;
    struct tcp_engine engine;
    struct xsk_port port;
    struct handoff_inbox inbox; /* connections and frames other workers hand to this one */
    struct xdp_move moves[XDP_RX_BATCH];
    uint32_t nmoves;
    uint64_t next_publish_ns;
    struct xdp_worker_stats stats;
};

struct server;
struct worker;

/* Map the UMEM and open the pins of cfg->ifname (once per server). */
int xdp_server_setup(struct server *srv, char *umem_note, size_t note_len, struct err *e);
/* The worker's engine, socket and its registration in `xsks`. */
int xdp_worker_init(struct worker *w, char *mode_note, size_t note_len, struct err *e);
/* Give the kernel frames to receive into before any worker is marked live. */
void xdp_server_prefill(struct server *srv);
void *xdp_worker_run(void *worker);
/* Every frame is free, in the fill ring, held by a connection or on its way through TX. */
int xdp_server_check_frames(struct server *srv, struct err *e);
void xdp_worker_print_stats(struct worker *w, FILE *out);
/* Deregister from `workers` and `xsks`, close the socket, release the engine's frames. */
void xdp_worker_release(struct worker *w);
void xdp_server_release(struct server *srv);

#endif
