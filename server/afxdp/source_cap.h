/*
 * source_cap.h — the server's half of the per-source connection cap that XDP enforces
 * (maps/sluice_maps.h, `sources`): when a connection a worker held ends, its count goes back to
 * its source, through bpf/source_release.bpf.c (see there why a BPF program does the writing).
 */
#ifndef SLUICE_AFXDP_SOURCE_CAP_H
#define SLUICE_AFXDP_SOURCE_CAP_H

#include "common/err.h"
#include "maps/pins.h"
#include "net/packet.h"

struct source_release;

/* Server-wide: the release program, loaded against the pinned flows and sources maps. */
struct source_cap {
    struct source_release *skel;
    int prog_fd;
};

int source_cap_open(struct source_cap *sc, const struct pins *p, struct err *e);
void source_cap_close(struct source_cap *sc);

/* The cap as `meta` says now (0: off); 0 too when meta cannot be read. One system call. */
uint32_t source_cap_setting(const struct pins *p);

/* The connection of tuple t (the server's side: l = ours, r = the client) ended: 1 when its flow
 * was counted and its count went back, 0 when it was not counted, -1 when the program failed. */
int source_cap_release(const struct source_cap *sc, const struct pkt_tuple *t);

#endif
