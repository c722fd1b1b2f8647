/*
 * xdp_worker.h — the AF_XDP datapath: its settings, its server-wide state (the shared UMEM, the
 * pinned maps) and a worker's state (its sockets, one per device queue served, its TCP engine, its
 * frame cache, its inbox), and `xdp_datapath`, the one table through which the scheduler reaches
 * all of it (sched/datapath.h).
 *
 * The loop: RX batch of each socket -> tcp_input -> (services run from the engine's callbacks
 * during flush) -> TX batch on its one transmitting socket -> every queue's completions and fill
 * ring -> sleep in poll() until packets or the engine's next deadline. Nothing in it allocates
 * memory or takes a lock but the batch-level ring locks of the shared UMEM (umem.c). The worker's
 * state in the pinned `workers` map (live, load, overload) is published from here, every
 * SLUICE_PUBLISH_MS: one map update per period, never per packet.
 */
#ifndef SLUICE_AFXDP_XDP_WORKER_H
#define SLUICE_AFXDP_XDP_WORKER_H

#include <stdint.h>
#include <stdio.h>

#include "afxdp/source_cap.h"
#include "afxdp/umem.h"
#include "afxdp/xsk_port.h"
#include "maps/pins.h"
#include "net/frame.h"
#include "net/tcp.h"
#include "sched/datapath.h"
#include "sched/inbox.h"

#define XDP_WORKER_COUNTERS(X)                                                                               \
    X(rx_packets, "frames taken from the RX ring")                                                           \
    X(tx_packets, "frames placed in the TX ring")                                                            \
    X(tx_ring_full, "times the TX ring had no room for everything the engine emitted")                       \
    X(rx_chains, "packets received in more than one frame (multi-buffer)")                                   \
    X(rx_chains_dropped, "packets received in more frames than a segment may span: dropped")                 \
    X(completions, "TX completions this worker consumed (for any worker's frames)")                          \
    X(syscalls, "system calls the worker loop made: TX kicks, polls, wake-ups, map updates, spin yields")    \
    X(spin_ns, "time spent spinning for packets that did not come before sleeping, ns")                      \
    X(refilled, "frames this worker gave to the fill rings")                                                 \
    X(steer_moved_out, "connections handed to the worker their route names")                                 \
    X(steer_moved_in, "connections taken over from the worker that did their handshake")                     \
    X(steer_forwarded, "frames of a connection that moved away, forwarded to its new worker")                \
    X(steer_forwarded_in, "frames forwarded here by a connection's old worker")                              \
    X(steer_pinned, "connections routed elsewhere after the application had them: they stay")                \
    X(steer_chains_dropped, "multi-frame packets of a connection that just moved away: dropped, resent")     \
    X(steer_inbox_full, "hand-offs or forwards refused by a full inbox (connection kept, frame dropped)")    \
    X(steer_import_failed, "connections handed over that found no slot here: dropped")                       \
    X(steer_flow_gone, "flow entries gone (LRU) when a hand-off went to update them")                        \
    X(steer_export_ns, "time spent exporting connections and updating their flows, ns")                      \
    X(steer_latency_ns, "sum over connections moved in of export-to-import time, ns")                        \
    X(source_released, "connections ended whose per-source count (max_conns_per_source) went back")          \
    X(source_release_failed, "per-source releases the BPF program could not run: the count stays")           \
    X(rx_drained_at_stop, "frames left in the worker's RX rings when it stopped, given back to the pool")    \
    X(new_flow_mask_restored, "`meta` new_flow_workers found changed by a racing write, set back to this "   \
                              "generation's slots")

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

/* The [xdp] settings (and --dev): config.c fills one, server_init copies it. */
struct xdp_config {
    const char *ifname; /* the device the agent loaded */
    uint32_t queue;     /* the first device queue served */
    uint32_t queues;    /* how many, from queue on; 0: every RX queue the device has */
    uint32_t ring_size; /* RX and TX ring entries per socket */
    enum xsk_zerocopy zerocopy;
    struct umem_config umem;
};

void xdp_config_default(struct xdp_config *cfg);

/*
 * What a running generation hands its successor (takeover.h) beside umem_handover_fds' descriptors:
 * the successor shares the UMEM and the queues, and takes the other half of the worker slots
 * (SLUICE_GEN_SLOTS).
 */
struct xdp_handover {
    struct umem_handover umem;
    uint32_t first_queue;
    uint32_t slot_base; /* the running generation's first worker slot */
    uint32_t nworkers;
    uint32_t _pad;
};

/* Server-wide (srv->dp): shared by every worker, set up before them and released after them. */
struct xdp_server {
    struct xdp_config cfg;
    struct umem umem;
    uint32_t slot_base; /* worker i is slot slot_base + i in `workers`, `xsks` and flows */
    bool successor;     /* it took over from a running generation */
    struct pins pins;
    struct source_cap source_cap; /* gives per-source counts back as connections end */
    uint32_t nqueues;             /* queues served: cfg.queue to cfg.queue + nqueues - 1 */
    char queue_note[96];          /* for the start-up line: how many queues, and who said so */
    char umem_note[160];          /* for the start-up line: huge pages, or why not */
    char mode_note[96];           /* for the start-up line: zero-copy or copy mode */
    char csum_note[96];           /* for the start-up line: who computes TCP checksums, and why */
};

struct worker;

/* One worker's (w->dp): written by its own thread only, its inbox aside (/metrics reads the counters). */
struct xdp_worker {
    struct worker *worker; /* the scheduler's worker this is the datapath of */
    struct xdp_server *server;
    struct frame_cache cache;
    struct tcp_engine engine;
    struct xsk_port ports[SLUICE_MAX_QUEUES]; /* ports[i] on device queue cfg.queue + i */
    uint32_t nports;
    struct xsk_port *tx_port; /* the one it transmits on: ports[worker index % nports] */
    struct inbox inbox; /* struct xdp_steer_msg: connections and frames other workers hand to this one */
    struct xdp_move moves[XDP_RX_BATCH];
    uint32_t nmoves;
    uint64_t last_work_ns; /* when the loop last had packets or hand-offs to process */
    uint64_t spin_ns;      /* how long it spins now before sleeping: adapts within [0, poll_spin_us] */
    uint64_t next_publish_ns;
    /* the load it publishes (publish() in xdp_worker.c): the busy share over the period since the
     * last publication, measured as the period less the iterations that found nothing to do */
    uint64_t iter_ns;    /* when the current loop iteration began */
    bool iter_idle;      /* the last iteration found no work: it slept, spun or polled empty */
    uint64_t idle_ns;    /* idle time since window_ns */
    uint64_t window_ns;  /* the last publication */
    uint32_t busy_pct;   /* as published; /metrics reads it */
    uint32_t overloaded; /* the overload flag as published (1: XDP sheds, 0: not) */
    uint32_t cached;     /* frames in its cache at the last publication; /metrics reads it */
    uint32_t source_cap; /* max_conns_per_source as read at the last publication; 0: no releases */
    struct xdp_worker_stats stats;
};

/* The AF_XDP datapath's operations (xdp_worker.c). */
extern const struct datapath_ops xdp_datapath;

#endif
