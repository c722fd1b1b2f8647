/*
 * xdp_steer.h — the user-space half of stream-prefix steering: XDP metadata in, connections and
 * frames handed between workers (see xdp_steer.c).
 */
#ifndef SLUICE_AFXDP_XDP_STEER_H
#define SLUICE_AFXDP_XDP_STEER_H

#include <stdint.h>

#include "net/tcp.h"

struct worker;

/* What the steering program's metadata in front of packet says; *target is the worker it names. */
enum tcp_steer xdp_steer_read(struct worker *w, uint8_t *packet, uint32_t *target);
/* A received frame into the engine as the steering program placed it (RX batch). */
void xdp_steer_input(struct worker *w, uint32_t frame, uint32_t off, uint32_t len);
/* Connections the batch found routed elsewhere go to their worker's inbox (before the flush). */
void xdp_steer_moves(struct worker *w);
/* Connections and frames other workers handed over; returns how many messages were taken. */
uint32_t xdp_steer_inbox(struct worker *w);
/* After the threads stopped: what is left in the inbox goes to the engine or back to the pool. */
void xdp_steer_drain_at_stop(struct worker *w);

#endif
