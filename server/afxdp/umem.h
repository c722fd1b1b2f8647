/*
 * umem.h — the packet memory every worker's AF_XDP socket shares, and its two shared rings.
 *
 * One region (huge pages when the system has them) holds every frame; the frame pool (frame.h)
 * hands them out. All sockets are bound to the same interface queue with XDP_SHARED_UMEM, so the
 * kernel uses one fill ring (frames it may receive into) and one completion ring (frames it has
 * finished sending) for all of them; workers produce to the first and consume from the second
 * under a lock each, in batches. The region's frames are always in exactly one place: free, in the
 * fill ring or an RX ring, held by a connection, in a TX ring or the completion ring; the counters
 * below and the frames' own ownership bits make that checkable (xdp_server_check_frames).
 */
#ifndef SLUICE_AFXDP_UMEM_H
#define SLUICE_AFXDP_UMEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include "afxdp/xsk_rings.h"
#include "common/err.h"
#include "net/frame.h"

struct umem_config {
    uint32_t nframes;
    uint32_t frame_size;
    uint32_t fill_size; /* fill ring entries (power of two) */
    uint32_t comp_size; /* completion ring entries (power of two) */
};

struct umem {
    struct umem_config cfg;
    void *area;
    size_t size;
    bool hugepages;
    struct frame_pool pool;
    int fd;              /* the socket the UMEM is registered on: also the first worker's */
    bool registered;     /* with the kernel, its fill and completion rings mapped */
    int tx_meta_refused; /* errno of the kernel's refusal of TX metadata room, or 0 */
    struct xsk_ring_map maps[2];
    pthread_mutex_t fill_lock;
    struct xsk_ring_prod fill;
    pthread_mutex_t comp_lock;
    struct xsk_ring_cons comp;
    _Atomic int64_t in_fill;       /* given to the kernel through the fill ring, not yet seen in an RX ring */
    _Atomic int64_t in_tx;         /* placed in a TX ring, completion not yet consumed */
    _Atomic uint64_t fill_starved; /* refills that found no free frame */
    uint32_t sockets;              /* bound to it so far (the first one's bind sets the modes) */
    int sg_refused;                /* errno of the first bind's refusal of XDP_USE_SG, or 0 */
};

void umem_config_default(struct umem_config *cfg);

/* Map the region and register it with the kernel; reports huge pages or why not in *note. */
int umem_create(struct umem *u, const struct umem_config *cfg, char *note, size_t note_len, struct err *e);
void umem_destroy(struct umem *u);

/* Top the fill ring up to its target from cache; returns frames given. */
uint32_t umem_refill(struct umem *u, struct frame_cache *cache);

/* Consume up to max completions, returning their frames' TX ownership into cache. */
uint32_t umem_complete(struct umem *u, struct frame_cache *cache, uint32_t max);

static inline uint64_t umem_addr(const struct umem *u, uint32_t frame, uint32_t off)
{
    return (uint64_t)frame * u->cfg.frame_size + off;
}

#endif
