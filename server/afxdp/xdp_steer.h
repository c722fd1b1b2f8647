/*
 * xdp_steer.h — the user-space half of stream-prefix steering: XDP metadata in, connections and
 * frames handed between workers through their inboxes (sched/inbox.h) as struct xdp_steer_msg
 * (see xdp_steer.c).
 */
#ifndef SLUICE_AFXDP_XDP_STEER_H
#define SLUICE_AFXDP_XDP_STEER_H

#include <stdint.h>

#include "maps/sluice_maps.h"
#include "net/tcp.h"

struct xdp_worker;

enum xdp_steer_kind {
    XDP_STEER_CONN,  /* a connection: conn holds its TCB */
    XDP_STEER_FRAME, /* a received frame of a connection that moved: frame, off, len */
};

/* A message in a worker's inbox. */
struct xdp_steer_msg {
    uint32_t kind; /* enum xdp_steer_kind */
    uint32_t frame;
    uint32_t off;
    uint32_t len;
    uint64_t sent_ns; /* when the producer exported the connection, for the hand-off latency */
    struct tcp_handoff conn;
};

/* The `flows` key of a connection's tuple (ours local, the client remote). */
struct flow_key xdp_steer_flow_key(const struct pkt_tuple *t);
/* What the steering program's metadata in front of packet says; *target is the worker it names. */
enum tcp_steer xdp_steer_read(struct xdp_worker *x, uint8_t *packet, uint32_t *target);
/* A received frame into the engine as the steering program placed it (RX batch). */
void xdp_steer_input(struct xdp_worker *x, const struct tcp_rx_chain *chain);
/* Connections the batch found routed elsewhere go to their worker's inbox (before the flush). */
void xdp_steer_moves(struct xdp_worker *x);
/* Connections and frames other workers handed over; returns how many messages were taken. */
uint32_t xdp_steer_inbox(struct xdp_worker *x);
/* After the threads stopped: what is left in the inbox goes to the engine or back to the pool. */
void xdp_steer_drain_at_stop(struct xdp_worker *x);

#endif
