/*
 * umem.h — the packet memory every worker's AF_XDP sockets share, and its fill and completion rings.
 *
 * One region (huge pages when the system has them) holds every frame; the frame pool (frame.h)
 * hands them out. It is registered once (XDP_UMEM_REG) and every socket shares it (XDP_SHARED_UMEM).
 * The kernel wants one fill ring (frames it may receive into) and one completion ring (frames it
 * has finished sending) per device queue the region is bound to, shared by all the sockets on that
 * queue: struct umem_queue, one per queue served, its rings set up on the queue's first socket.
 * Workers produce to the fill rings and consume from the completion rings under a lock each, in
 * batches; every worker tends every queue's pair, so no queue starves while one worker sleeps. The
 * region's frames are always in exactly one place: free, in a fill ring or an RX ring, held by a
 * connection, in a TX ring or a completion ring; the counters below and the frames' own ownership
 * bits make that checkable (xdp_server_check_frames).
 *
 * The sockets and rings are set up here and in xsk_port.c with the system calls themselves; only
 * libxdp's ring accessors (xdp/xsk.h) are used. libxdp 1.3.1's xsk_socket__create_shared binds every
 * shared socket against the UMEM's first socket, and the kernel takes that only for sockets on the
 * first socket's queue: a second socket on another queue must name a socket of its own queue.
 */
#ifndef SLUICE_AFXDP_UMEM_H
#define SLUICE_AFXDP_UMEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include "common/err.h"
#include "maps/sluice_maps.h"
#include "net/frame.h"

/* A ring's mapping of a socket's memory, for munmap. */
struct xsk_map {
    void *addr;
    size_t len;
};

/* Map the ring at pgoff (XDP_PGOFF_*, XDP_UMEM_PGOFF_*) of socket fd, whose size was set with
 * setsockopt, into *ring (a struct xsk_ring_prod or xsk_ring_cons); -errno on failure. */
int xsk_ring_map(int fd, uint64_t pgoff, uint32_t entries, void *ring, bool producer, struct xsk_map *m);
void xsk_ring_unmap(struct xsk_map *m);

struct umem_config {
    uint32_t nframes;
    uint32_t frame_size;
    uint32_t fill_size; /* fill ring entries (power of two) */
    uint32_t comp_size; /* completion ring entries (power of two) */
};

/* One device queue's rings: the frames given to the kernel to receive into on that queue, and
 * the frames sent on that queue that the kernel is done with. */
struct umem_queue {
    pthread_mutex_t fill_lock;
    struct xsk_ring_prod fill;
    pthread_mutex_t comp_lock;
    struct xsk_ring_cons comp;
    _Atomic int64_t in_fill; /* given through this fill ring, not yet seen in an RX ring of the queue */
    uint32_t fill_target;    /* frames kept in the fill ring: fill_size shared out between the queues */
    int fd;                  /* the queue's first socket, which holds its rings; -1 before it */
    struct xsk_map fill_map, comp_map;
};

struct umem {
    struct umem_config cfg;
    void *area;
    size_t size;
    bool hugepages;
    struct frame_pool pool;
    int fd;           /* the socket the region is registered on: the first one bound, on queues[0] */
    uint32_t nqueues; /* queues[0] is the first queue served */
    struct umem_queue queues[SLUICE_MAX_QUEUES];
    _Atomic int64_t in_tx;         /* placed in a TX ring, completion not yet consumed */
    _Atomic uint64_t fill_starved; /* refills that found no free frame */
    uint32_t sockets;              /* bound to it so far (the first one's bind sets the modes) */
    int sg_refused;                /* errno of the first bind's refusal of XDP_USE_SG, or 0 */
    int tx_meta_refused;           /* errno of the kernel's refusal of TX metadata room, or 0 */
};

/* AF_XDP's socket family and level, for C libraries that do not name them. */
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

/* TX metadata (Linux 6.8, 6.11), newer than the distribution's UAPI headers may be. */
#ifndef XDP_TX_METADATA
#define XDP_TX_METADATA (1 << 1) /* xdp_desc.options: metadata precedes this descriptor's data */
#endif
#define UMEM_TX_METADATA_LEN_FLAG (1 << 2) /* xdp_umem_reg.flags: tx_metadata_len is set */
#define UMEM_TXMD_FLAGS_CHECKSUM  (1 << 1)

/* The kernel's struct xsk_tx_metadata, as far as a checksum request goes. */
struct umem_tx_meta {
    uint64_t flags;
    uint16_t csum_start;  /* from the descriptor's address: where summing starts */
    uint16_t csum_offset; /* from csum_start: where the sum goes */
    uint32_t _pad;
    uint64_t _launch_time;
};

/* What the UMEM reserves in front of every TX descriptor's data for that metadata. */
#define UMEM_TX_META_LEN FRAME_TX_META

void umem_config_default(struct umem_config *cfg);

/* Map the region and register it with the kernel for nqueues queues (1..SLUICE_MAX_QUEUES); reports
 * huge pages or why not in *note. queues[0]'s rings are set up here on u->fd, the others' on their
 * queue's first socket (umem_queue_rings, from xsk_port_open). */
int umem_create(struct umem *u, const struct umem_config *cfg, uint32_t nqueues, char *note, size_t note_len,
                struct err *e);
void umem_destroy(struct umem *u);

/* Give q its fill and completion rings on fd, the queue's first socket (not yet bound). */
int umem_queue_rings(struct umem *u, struct umem_queue *q, int fd);

/* Top q's fill ring up to its target from cache, in a batch; returns frames given. */
uint32_t umem_refill(struct umem *u, struct umem_queue *q, struct frame_cache *cache);

/* Consume up to max of q's completions, returning their frames' TX ownership into cache. */
uint32_t umem_complete(struct umem *u, struct umem_queue *q, struct frame_cache *cache, uint32_t max);

/* Frames given through the fill rings and not yet received, over every queue. */
int64_t umem_in_fill(struct umem *u);

static inline uint64_t umem_addr(const struct umem *u, uint32_t frame, uint32_t off)
{
    return (uint64_t)frame * u->cfg.frame_size + off;
}

#endif
