/*
 * frame.h — fixed-size packet buffers and who owns them.
 *
 * Every byte sluice receives or sends lives in a frame of one region: the AF_XDP UMEM in
 * production, a plain allocation in tests. A frame is named by its index; its metadata says which
 * part holds payload, the TCP sequence number of that payload while it sits in a connection's
 * queue, and who owns it. Ownership is two bits, so that a frame can be both kept by a connection
 * (unacknowledged data) and lent to the NIC (in a TX ring): it returns to the free list only when
 * both have let go, whichever thread lets go last. Indices, not pointers, so a connection and its
 * frames can move to another worker sharing the region.
 *
 * A frame_pool is the shared region with a locked free list; each worker allocates through its own
 * frame_cache, which refills and spills in batches so the lock is taken once per batch, never per
 * packet. Nothing here allocates memory after frame_pool_init.
 *
 * The AF_XDP UMEM's pool may be shared by two server processes (a takeover: afxdp/umem.h): then
 * its free list, its count and lock (struct frame_pool_shared) and its frames' metadata live in a
 * shared mapping (frame_pool_attach), the lock process-shared and robust: a process that died
 * holding it leaves it to the next taker, which counts the recovery (lock_recovered).
 */
#ifndef SLUICE_NET_FRAME_H
#define SLUICE_NET_FRAME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FRAME_NONE UINT32_MAX

/*
 * Room kept in front of every byte transmitted for the metadata a datapath may pass with it
 * (AF_XDP TX metadata: a checksum request), and in front of outgoing payload for that and Ethernet
 * + VLAN + IPv6 + TCP with options.
 */
#define FRAME_TX_META     32
#define FRAME_TX_HEADROOM (FRAME_TX_META + 128)
/* Room the kernel keeps in front of a received frame's data (XDP_PACKET_HEADROOM). */
#define FRAME_RX_HEADROOM 256

#define FRAME_CACHE_SIZE  512 /* frames a worker keeps locally */
#define FRAME_CACHE_BATCH 128 /* frames moved between a cache and the pool at a time */

enum frame_owner {
    FRAME_OWN_HELD = 1u << 0, /* kept by a connection queue or the application */
    FRAME_OWN_TX = 1u << 1,   /* handed to a TX ring; comes back through a completion */
};

enum frame_flag {
    FRAME_F_SENT = 1u << 0,    /* transmitted at least once */
    FRAME_F_RETRANS = 1u << 1, /* retransmitted: no RTT sample from it (Karn) */
    FRAME_F_SACKED = 1u << 2,  /* the peer reported it in a SACK block */
    FRAME_F_LOST = 1u << 3,    /* considered lost by recovery, not yet sent again */
    FRAME_F_RESENT = 1u << 4,  /* sent again in the current recovery episode */
    FRAME_F_CSUM = 1u << 5,    /* csum holds the payload's sum */
};

struct frame_meta {
    uint32_t next;         /* link in whichever queue holds the frame */
    uint32_t seq;          /* TCP sequence number of the byte at off */
    uint16_t off;          /* payload start */
    uint16_t len;          /* payload bytes */
    uint32_t sent_us;      /* last transmission (engine clock, truncated) */
    uint32_t csum;         /* partial sum of the payload, valid with FRAME_F_CSUM */
    _Atomic uint8_t owner; /* enum frame_owner bits */
    uint8_t flags;         /* enum frame_flag bits */
    uint16_t _reserved;
};

/* The pool's lock and count: in the pool itself, or in memory the processes sharing it map. */
struct frame_pool_shared {
    pthread_mutex_t lock; /* guards the free list and nfree */
    uint32_t nfree;
    uint32_t _pad;
    _Atomic uint64_t lock_recovered; /* times a taker found the lock's holder dead (EOWNERDEAD) */
};

struct frame_pool {
    uint8_t *area;
    uint32_t frame_size;
    uint32_t nframes;
    struct frame_meta *meta;
    struct frame_pool_shared *sh; /* &own, or in a shared mapping (frame_pool_attach) */
    uint32_t *free;
    struct frame_pool_shared own;
    bool owns_area;
    bool owns_lists; /* meta and free are its own allocations */
};

struct frame_cache {
    struct frame_pool *pool;
    uint32_t nfree;
    uint32_t free[FRAME_CACHE_SIZE];
    uint64_t alloc_failed; /* allocations the pool could not serve */
};

/*
 * Set up a pool over area (nframes * frame_size bytes), or over a fresh allocation when area is
 * NULL. All frames start free. Returns 0, or -1 with errno set.
 */
int frame_pool_init(struct frame_pool *pool, void *area, uint32_t frame_size, uint32_t nframes);
void frame_pool_destroy(struct frame_pool *pool);

/* The bytes frame_pool_attach wants for nframes frames' free list and metadata. */
size_t frame_pool_lists_size(uint32_t nframes);

/*
 * Set up a pool over area whose state is sh and lists (frame_pool_lists_size bytes), memory that
 * other processes may map: fresh, the state is initialised (every frame free, the lock
 * process-shared and robust); otherwise it is another process's pool, taken as it stands.
 */
int frame_pool_attach(struct frame_pool *pool, void *area, uint32_t frame_size, uint32_t nframes,
                      struct frame_pool_shared *sh, void *lists, bool fresh);

/* Lock m, a robust mutex maybe: a holder that died leaves it consistent again, counted in *recovered. */
void frame_lock(pthread_mutex_t *m, _Atomic uint64_t *recovered);

/* Frames on the pool's shared free list (not counting worker caches). */
uint32_t frame_pool_free_count(struct frame_pool *pool);

void frame_cache_init(struct frame_cache *cache, struct frame_pool *pool);

/* Give every cached frame back to the pool (worker shutdown, hand-off tests). */
void frame_cache_drain(struct frame_cache *cache);

/* A free frame, owned HELD, metadata cleared; FRAME_NONE when the pool is exhausted. */
uint32_t frame_alloc(struct frame_cache *cache);

/* Drop ownership bits; the frame is freed into cache when no owner remains. */
void frame_put(struct frame_cache *cache, uint32_t frame, uint8_t owner);

/* Mark a HELD frame as also lent to a TX ring. */
static inline void frame_lend_tx(struct frame_pool *pool, uint32_t frame)
{
    atomic_fetch_or_explicit(&pool->meta[frame].owner, FRAME_OWN_TX, memory_order_relaxed);
}

static inline bool frame_in_tx(const struct frame_pool *pool, uint32_t frame)
{
    return atomic_load_explicit(&pool->meta[frame].owner, memory_order_acquire) & FRAME_OWN_TX;
}

static inline uint8_t *frame_data(const struct frame_pool *pool, uint32_t frame)
{
    return pool->area + (uint64_t)frame * pool->frame_size;
}

static inline struct frame_meta *frame_meta(const struct frame_pool *pool, uint32_t frame)
{
    return &pool->meta[frame];
}

#endif
