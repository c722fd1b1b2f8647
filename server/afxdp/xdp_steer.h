/*
 * xdp_steer.h — the user-space half of stream-prefix steering: the steering program's frame prefix in,
 * connections and frames handed between workers through their inboxes (sched/inbox.h) as struct xdp_steer_msg
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
/*
 * The steering program's struct sluice_xdp_meta (maps/sluice_maps.h) when a received frame's bytes
 * at off start with it, off and len then moved past it to the packet; NULL when they do not. Only a
 * frame to a unicast MAC reaches a socket, and the magic reads as a group address, so no packet is
 * taken for a prefix.
 */
static inline const struct sluice_xdp_meta *xdp_steer_strip_meta(const uint8_t *frame, uint32_t *off,
                                                                 uint32_t *len)
{
    const struct sluice_xdp_meta *m = (const struct sluice_xdp_meta *)(frame + *off);

    if (*len < sizeof(*m) || m->magic != SLUICE_XDP_META_MAGIC)
        return NULL;
    *off += sizeof(*m);
    *len -= sizeof(*m);
    return m;
}

/* What the steering program's prefix m (NULL: none) says; *target is the worker it names, and
 * cookie->valid whether the packet is the ACK of a SYN cookie XDP validated (with what it kept). */
enum tcp_steer xdp_steer_read(struct xdp_worker *x, const struct sluice_xdp_meta *m, uint32_t *target,
                              struct tcp_syncookie *cookie);
/* A received packet into the engine as the steering program placed it (RX batch), with the prefix
 * xdp_steer_strip_meta found in front of it or NULL. */
void xdp_steer_input(struct xdp_worker *x, const struct tcp_rx_chain *chain, const struct sluice_xdp_meta *m);
/* Connections the batch found routed elsewhere go to their worker's inbox (before the flush). */
void xdp_steer_moves(struct xdp_worker *x);
/* Connections and frames other workers handed over; returns how many messages were taken. */
uint32_t xdp_steer_inbox(struct xdp_worker *x);
/* After the threads stopped: what is left in the inbox goes to the engine or back to the pool. */
void xdp_steer_drain_at_stop(struct xdp_worker *x);

#endif
