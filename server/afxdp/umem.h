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
 * Two server processes may share it: a new generation taking over from a running one (takeover.h)
 * must, since a device queue takes one buffer pool (the kernel's xsk_bind refuses a second with
 * EBUSY). So the region is a memfd mapped MAP_SHARED (hugetlb when huge pages are there), and what
 * both processes change, the frame pool's free list, count and lock, the frames' metadata (their
 * ownership bits are dropped by whichever process consumes a completion), each queue's ring locks
 * and in_fill, and in_tx, live in a second memfd (struct umem_shared), the locks process-shared
 * and robust. The successor maps both memfds and each queue's fill and completion rings through
 * the running one's first socket on that queue (the kernel maps a bound socket's pool's rings),
 * registers nothing, and binds its own sockets with XDP_SHARED_UMEM on those sockets (umem_adopt).
 * libxdp's rings cache the other end's index and their own: under a queue's lock, each producer
 * (consumer) first re-reads the shared producer (consumer) index, so one process sees the other's
 * progress. Alone, a process pays one load per batch for it, under the lock it took anyway.
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

/* What the processes sharing one queue's rings share of it. */
struct umem_queue_shared {
    pthread_mutex_t fill_lock;
    pthread_mutex_t comp_lock;
    _Atomic int64_t in_fill; /* given through this fill ring, not yet seen in an RX ring of the queue */
};

/* The second memfd's layout: the pool's free list and frames' metadata follow it. */
#define UMEM_SHARED_MAGIC 0x534c554d /* 'SLUM' */
/* Processes that may map one UMEM at once: a generation draining, its successor, and room for one
 * that died without letting go (its entry is taken over when its pid is gone). */
#define UMEM_MAX_PROCS 4
struct umem_shared {
    uint32_t magic;
    uint32_t nframes;
    struct frame_pool_shared pool;
    _Atomic int64_t in_tx;                /* placed in a TX ring, completion not yet consumed */
    _Atomic uint64_t fill_starved;        /* refills that found no free frame */
    _Atomic int32_t pids[UMEM_MAX_PROCS]; /* the processes mapping it, 0 for none (umem_processes) */
    struct umem_queue_shared queues[SLUICE_MAX_QUEUES];
};

/* One device queue's rings: the frames given to the kernel to receive into on that queue, and
 * the frames sent on that queue that the kernel is done with. */
struct umem_queue {
    struct umem_queue_shared *sh;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    uint32_t fill_target; /* frames kept in the fill ring: fill_size shared out between the queues */
    int fd;               /* the queue's first socket, which holds its rings; -1 before it */
    struct xsk_map fill_map, comp_map;
};

struct umem {
    struct umem_config cfg;
    void *area;
    size_t size;
    bool hugepages;
    bool adopted; /* mapped from a running generation's (umem_adopt): registered and bound by it */
    int area_fd;  /* the memfds of the region and of *sh, -1 when none */
    int state_fd;
    struct umem_shared *sh;
    size_t sh_size;
    bool attached; /* this process's pid is in sh->pids */
    struct frame_pool pool;
    int fd;           /* the socket the region is registered on: the first one bound, on queues[0] */
    uint32_t nqueues; /* queues[0] is the first queue served */
    struct umem_queue queues[SLUICE_MAX_QUEUES];
    uint32_t sockets;    /* bound to it so far (the first one's bind sets the modes) */
    int sg_refused;      /* errno of the first bind's refusal of XDP_USE_SG, or 0 */
    int tx_meta_refused; /* errno of the kernel's refusal of TX metadata room, or 0 */
};

/*
 * What a running generation tells its successor about the UMEM, beside its file descriptors
 * (umem_handover_fds): the region's memfd, the state's memfd, then each queue's first socket.
 */
#define UMEM_HANDOVER_FDS (2 + SLUICE_MAX_QUEUES)
#define UMEM_SHARED_LAYOUT                                                                                   \
    1 /* bump with any change to the layouts two builds share through the memfds:                            \
          struct umem_shared, umem_handover, frame_pool_shared, frame_meta */
struct umem_handover {
    uint32_t layout;      /* UMEM_SHARED_LAYOUT of the running build */
    uint32_t shared_size; /* its sizeof(struct umem_shared), sizeof(struct frame_meta) above 16 bits */
    struct umem_config cfg;
    uint32_t nqueues;
    uint32_t hugepages;
    int32_t sg_refused;
    int32_t tx_meta_refused;
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
/* The successor's: map the UMEM h and fds (umem_handover_fds' order, owned from here on, closed
 * on failure too) describe, for h->nqueues queues; its sockets then bind to the queues' sockets. */
int umem_adopt(struct umem *u, const struct umem_handover *h, const int *fds, char *note, size_t note_len,
               struct err *e);

/* What a successor needs: *h and the descriptors into fds; returns how many. */
int umem_handover_fds(const struct umem *u, struct umem_handover *h, int *fds);

/* Unmap and close this process's part; the kernel's UMEM and the memfds live on while a successor
 * holds them. */
void umem_destroy(struct umem *u);

/* Give q its fill and completion rings on fd, the queue's first socket (not yet bound). */
int umem_queue_rings(struct umem *u, struct umem_queue *q, int fd);

/* Top q's fill ring up to its target from cache, in a batch; returns frames given. */
uint32_t umem_refill(struct umem *u, struct umem_queue *q, struct frame_cache *cache);

/* Consume up to max of q's completions, returning their frames' TX ownership into cache. */
uint32_t umem_complete(struct umem *u, struct umem_queue *q, struct frame_cache *cache, uint32_t max);

/* The live processes that map u's UMEM, this one included (another's pid in sh->pids counts when a
 * signal 0 finds it): 2 while a generation drains beside its successor, 1 when alone; a process
 * killed without letting go does not count. *signalled: the system calls that took. */
uint32_t umem_processes(const struct umem *u, uint32_t *signalled);

/* Frames given through the fill rings and not yet received, over every queue. */
int64_t umem_in_fill(struct umem *u);

static inline uint64_t umem_addr(const struct umem *u, uint32_t frame, uint32_t off)
{
    return (uint64_t)frame * u->cfg.frame_size + off;
}

#endif
