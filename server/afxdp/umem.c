/*
 * umem.c — mapping the shared packet region, registering it (or adopting a running generation's),
 * and the locked fill/completion rings of each queue (see umem.h).
 */
#include "afxdp/umem.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>

#define HUGE_PAGE    (2u << 20)
#define REFILL_BATCH 64

void umem_config_default(struct umem_config *cfg)
{
    cfg->nframes = 32768;
    cfg->frame_size = 4096;
    cfg->fill_size = 8192;
    cfg->comp_size = 8192;
}

/* A memfd of size bytes (hugetlb when asked), mapped shared into *addr; the fd, or -1 with errno. */
static int map_memfd(const char *name, size_t size, bool huge, void **addr)
{
    int fd = memfd_create(name, MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0)), errnum;

    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) == 0) {
        *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (*addr != MAP_FAILED)
            return fd;
    }
    errnum = errno;
    close(fd);
    errno = errnum;
    return -1;
}

/* The region, shareable with a successor: huge pages when the system has them. */
static int map_region(struct umem *u, char *note, size_t note_len)
{
    if (u->size % HUGE_PAGE == 0) {
        u->area_fd = map_memfd("sluice-umem", u->size, true, &u->area);
        if (u->area_fd >= 0) {
            u->hugepages = true;
            snprintf(note, note_len, "in 2 MiB huge pages");
            return 0;
        }
        snprintf(note, note_len, "in 4 KiB pages (no huge pages: %s; see /proc/sys/vm/nr_hugepages)",
                 strerror(errno));
    } else {
        snprintf(note, note_len, "in 4 KiB pages (size not a multiple of 2 MiB)");
    }
    u->area_fd = map_memfd("sluice-umem", u->size, false, &u->area);
    return u->area_fd < 0 ? -1 : 0;
}

static size_t shared_size(uint32_t nframes)
{
    return sizeof(struct umem_shared) + frame_pool_lists_size(nframes);
}

/* The queues' share of the fill ring entries, and their pointers into the shared state. */
static void queues_init(struct umem *u, const struct umem_config *cfg, uint32_t nqueues)
{
    u->nqueues = nqueues;
    for (uint32_t i = 0; i < nqueues; i++) {
        struct umem_queue *q = &u->queues[i];

        /* the frames kept in fill rings stay what one queue had: more queues share them out */
        q->fill_target = cfg->fill_size / nqueues;
        if (q->fill_target < 2 * REFILL_BATCH)
            q->fill_target = 2 * REFILL_BATCH < cfg->fill_size ? 2 * REFILL_BATCH : cfg->fill_size;
        q->fd = -1;
    }
}

static int shared_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int ret = pthread_mutexattr_init(&attr);

    if (ret)
        return ret;
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    ret = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return ret;
}

/* This process into sh->pids: a free entry, or one whose process is gone. */
static int attach(struct umem *u, struct err *e)
{
    int32_t me = (int32_t)getpid();

    for (int i = 0; i < UMEM_MAX_PROCS; i++) {
        int32_t had = atomic_load(&u->sh->pids[i]);

        if ((had == 0 || (kill(had, 0) && errno == ESRCH)) &&
            atomic_compare_exchange_strong(&u->sh->pids[i], &had, me)) {
            u->attached = true;
            return 0;
        }
    }
    return ERR(e, EXIT_STATUS_STATE, 0, "--takeover: %d live processes map the running server's UMEM already",
               UMEM_MAX_PROCS);
}

uint32_t umem_processes(const struct umem *u, uint32_t *signalled)
{
    int32_t me = (int32_t)getpid();
    uint32_t n = 0;

    *signalled = 0;
    for (int i = 0; i < UMEM_MAX_PROCS; i++) {
        int32_t pid = atomic_load(&u->sh->pids[i]);

        if (!pid || pid == me) {
            n += pid == me;
            continue;
        }
        (*signalled)++;
        n += !(kill(pid, 0) && errno == ESRCH);
    }
    return n;
}

/* The state memfd, fresh (a new UMEM) or another process's (fd given); then the pool over it. */
static int shared_map(struct umem *u, bool fresh, struct err *e)
{
    u->sh_size = shared_size(u->cfg.nframes);
    if (fresh) {
        u->state_fd = map_memfd("sluice-umem-state", u->sh_size, false, (void **)&u->sh);
    } else {
        u->sh = mmap(NULL, u->sh_size, PROT_READ | PROT_WRITE, MAP_SHARED, u->state_fd, 0);
    }
    if (u->state_fd < 0 || u->sh == MAP_FAILED) {
        u->sh = NULL;
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot map the UMEM's shared state (%zu KiB)",
                   u->sh_size >> 10);
    }
    if (!fresh && (u->sh->magic != UMEM_SHARED_MAGIC || u->sh->nframes != u->cfg.nframes))
        return ERR(e, EXIT_STATUS_STATE, 0,
                   "--takeover: the running server's UMEM state is not one of %u frames", u->cfg.nframes);
    for (uint32_t i = 0; i < u->nqueues; i++)
        u->queues[i].sh = &u->sh->queues[i];
    if (frame_pool_attach(&u->pool, u->area, u->cfg.frame_size, u->cfg.nframes, &u->sh->pool, u->sh + 1,
                          fresh))
        return ERR(e, EXIT_STATUS_USAGE, errno, "bad UMEM geometry: %u frames of %u bytes", u->cfg.nframes,
                   u->cfg.frame_size);
    if (!fresh)
        return attach(u, e);
    for (uint32_t i = 0; i < SLUICE_MAX_QUEUES; i++)
        if ((errno = shared_mutex_init(&u->sh->queues[i].fill_lock)) ||
            (errno = shared_mutex_init(&u->sh->queues[i].comp_lock)))
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot set up the UMEM's ring locks");
    u->sh->nframes = u->cfg.nframes;
    u->sh->magic = UMEM_SHARED_MAGIC;
    return attach(u, e);
}

int xsk_ring_map(int fd, uint64_t pgoff, uint32_t entries, void *ring, bool producer, struct xsk_map *m)
{
    struct xdp_mmap_offsets offs;
    socklen_t optlen = sizeof(offs);
    const struct xdp_ring_offset *off;
    struct xsk_ring_prod r; /* xsk_ring_prod and xsk_ring_cons have one layout (DEFINE_XSK_RING) */
    size_t esize;

    if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &offs, &optlen))
        return -errno;
    switch (pgoff) {
    case XDP_PGOFF_RX_RING:
        off = &offs.rx, esize = sizeof(struct xdp_desc);
        break;
    case XDP_PGOFF_TX_RING:
        off = &offs.tx, esize = sizeof(struct xdp_desc);
        break;
    case XDP_UMEM_PGOFF_FILL_RING:
        off = &offs.fr, esize = sizeof(__u64);
        break;
    default:
        off = &offs.cr, esize = sizeof(__u64);
        break;
    }
    m->len = off->desc + entries * esize;
    m->addr = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);
    if (m->addr == MAP_FAILED) {
        m->addr = NULL;
        return -errno;
    }
    r.mask = entries - 1;
    r.size = entries;
    r.producer = (__u32 *)((char *)m->addr + off->producer);
    r.consumer = (__u32 *)((char *)m->addr + off->consumer);
    r.flags = (__u32 *)((char *)m->addr + off->flags);
    r.ring = (char *)m->addr + off->desc;
    r.cached_prod = *r.producer;
    /* a producer's cached_cons runs a ring's size ahead of the consumer (see xsk_prod_nb_free) */
    r.cached_cons = *r.consumer + (producer ? entries : 0);
    memcpy(ring, &r, sizeof(r));
    return 0;
}

void xsk_ring_unmap(struct xsk_map *m)
{
    if (m->addr)
        munmap(m->addr, m->len);
    m->addr = NULL;
}

int umem_queue_rings(struct umem *u, struct umem_queue *q, int fd)
{
    int ret;

    if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &u->cfg.fill_size, sizeof(u->cfg.fill_size)) ||
        setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &u->cfg.comp_size, sizeof(u->cfg.comp_size)))
        return -errno;
    ret = xsk_ring_map(fd, XDP_UMEM_PGOFF_FILL_RING, u->cfg.fill_size, &q->fill, true, &q->fill_map);
    if (!ret)
        ret =
            xsk_ring_map(fd, XDP_UMEM_PGOFF_COMPLETION_RING, u->cfg.comp_size, &q->comp, false, &q->comp_map);
    if (ret) {
        xsk_ring_unmap(&q->fill_map);
        return ret;
    }
    q->fd = fd;
    return 0;
}

int umem_create(struct umem *u, const struct umem_config *cfg, uint32_t nqueues, char *note, size_t note_len,
                struct err *e)
{
    /* room for TX metadata in front of every TX descriptor, so that the kernel may be asked to
     * checksum (Linux 6.8; libxdp 1.3.1 cannot ask, and the distribution's struct lacks the field) */
    struct umem_reg {
        uint64_t addr;
        uint64_t len;
        uint32_t chunk_size;
        uint32_t headroom;
        uint32_t flags;
        uint32_t tx_metadata_len;
    } reg = {
        .len = (size_t)cfg->nframes * cfg->frame_size,
        .chunk_size = cfg->frame_size,
        .flags = UMEM_TX_METADATA_LEN_FLAG,
        .tx_metadata_len = UMEM_TX_META_LEN,
    };
    int ret;

    memset(u, 0, sizeof(*u));
    u->fd = u->area_fd = u->state_fd = -1;
    if (!nqueues || nqueues > SLUICE_MAX_QUEUES)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%u queues: a UMEM serves 1 to %d", nqueues, SLUICE_MAX_QUEUES);
    u->cfg = *cfg;
    queues_init(u, cfg, nqueues);
    u->size = reg.len;
    if (map_region(u, note, note_len)) {
        u->area = NULL;
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot map a %zu MiB UMEM", u->size >> 20);
        goto fail;
    }
    if (shared_map(u, true, e))
        goto fail;
    reg.addr = (uintptr_t)u->area;
    u->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    ret = u->fd < 0 ? -1 : setsockopt(u->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg));
    if (ret && u->fd >= 0 && errno == EINVAL) { /* a kernel before 6.8: no TX metadata */
        u->tx_meta_refused = EINVAL;
        reg.flags = reg.tx_metadata_len = 0;
        ret = setsockopt(u->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg));
    }
    if (ret) {
        ERR(e, err_status_for_errno(errno), errno, "cannot register the UMEM with the kernel (XDP_UMEM_REG)");
        goto fail;
    }
    ret = umem_queue_rings(u, &u->queues[0], u->fd);
    if (ret) {
        ERR(e, err_status_for_errno(-ret), -ret, "cannot set up the UMEM's fill and completion rings");
        goto fail;
    }
    return 0;
fail:
    umem_destroy(u);
    return -1;
}

int umem_adopt(struct umem *u, const struct umem_handover *h, const int *fds, char *note, size_t note_len,
               struct err *e)
{
    int ret;

    memset(u, 0, sizeof(*u));
    u->fd = -1;
    u->area_fd = fds[0];
    u->state_fd = fds[1];
    u->adopted = true;
    u->cfg = h->cfg;
    u->hugepages = h->hugepages;
    u->sg_refused = h->sg_refused;
    u->tx_meta_refused = h->tx_meta_refused;
    queues_init(u, &h->cfg, h->nqueues);
    for (uint32_t i = 0; i < h->nqueues; i++)
        u->queues[i].fd = fds[2 + i];
    u->fd = u->queues[0].fd;
    u->size = (size_t)h->cfg.nframes * h->cfg.frame_size;
    snprintf(note, note_len, "%s, shared with the generation taken over",
             u->hugepages ? "in 2 MiB huge pages" : "in 4 KiB pages");
    u->area = mmap(NULL, u->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->area_fd, 0);
    if (u->area == MAP_FAILED) {
        u->area = NULL;
        ERR(e, EXIT_STATUS_FAILURE, errno, "--takeover: cannot map the running server's %zu MiB UMEM",
            u->size >> 20);
        goto fail;
    }
    if (shared_map(u, false, e))
        goto fail;
    /* the rings of the pool each queue's socket is bound to: the ones the running generation fills */
    for (uint32_t i = 0; i < u->nqueues; i++) {
        struct umem_queue *q = &u->queues[i];

        ret = xsk_ring_map(q->fd, XDP_UMEM_PGOFF_FILL_RING, u->cfg.fill_size, &q->fill, true, &q->fill_map);
        if (!ret)
            ret = xsk_ring_map(q->fd, XDP_UMEM_PGOFF_COMPLETION_RING, u->cfg.comp_size, &q->comp, false,
                               &q->comp_map);
        if (ret) {
            ERR(e, err_status_for_errno(-ret), -ret,
                "--takeover: cannot map the running server's fill and completion rings of its queue %u", i);
            goto fail;
        }
    }
    return 0;
fail:
    umem_destroy(u);
    return -1;
}

int umem_handover_fds(const struct umem *u, struct umem_handover *h, int *fds)
{
    memset(h, 0, sizeof(*h));
    h->layout = UMEM_SHARED_LAYOUT;
    h->shared_size = (uint32_t)(sizeof(struct umem_shared) | sizeof(struct frame_meta) << 16);
    h->cfg = u->cfg;
    h->nqueues = u->nqueues;
    h->hugepages = u->hugepages;
    h->sg_refused = u->sg_refused;
    h->tx_meta_refused = u->tx_meta_refused;
    fds[0] = u->area_fd;
    fds[1] = u->state_fd;
    for (uint32_t i = 0; i < u->nqueues; i++)
        fds[2 + i] = u->queues[i].fd;
    return 2 + (int)u->nqueues;
}

/*
 * After this process's sockets are closed: its mappings of the rings, of the state and of the
 * region, and its descriptors. The shared locks are not destroyed (a successor may hold them); the
 * kernel drops the UMEM with the last socket on it, in whichever process that is.
 */
void umem_destroy(struct umem *u)
{
    for (uint32_t i = 0; i < u->nqueues; i++) {
        xsk_ring_unmap(&u->queues[i].fill_map);
        xsk_ring_unmap(&u->queues[i].comp_map);
        /* adopted: every queue's socket was received; created: the others are the ports' */
        if (u->adopted && u->queues[i].fd >= 0)
            close(u->queues[i].fd);
    }
    if (!u->adopted && u->area && u->fd >= 0) /* (a UMEM never created is all zeros) */
        close(u->fd);
    if (u->pool.meta)
        frame_pool_destroy(&u->pool);
    for (int i = 0; u->attached && i < UMEM_MAX_PROCS; i++) {
        int32_t me = (int32_t)getpid();

        atomic_compare_exchange_strong(&u->sh->pids[i], &me, 0);
    }
    if (u->sh)
        munmap(u->sh, u->sh_size);
    if (u->area)
        munmap(u->area, u->size);
    if (u->area_fd >= 0)
        close(u->area_fd);
    if (u->state_fd >= 0)
        close(u->state_fd);
    memset(u, 0, sizeof(*u));
    u->fd = u->area_fd = u->state_fd = -1;
}

uint32_t umem_refill(struct umem *u, struct umem_queue *q, struct frame_cache *cache)
{
    uint32_t frames[REFILL_BATCH], n = 0, idx;
    int64_t want = (int64_t)q->fill_target - atomic_load_explicit(&q->sh->in_fill, memory_order_relaxed);

    if (want < REFILL_BATCH / 2)
        return 0; /* the ring is nearly full: top it up in batches, not frame by frame */
    if (want > REFILL_BATCH)
        want = REFILL_BATCH;
    while (n < (uint32_t)want) {
        uint32_t f = frame_alloc(cache);

        if (f == FRAME_NONE) {
            atomic_fetch_add_explicit(&u->sh->fill_starved, 1, memory_order_relaxed);
            break;
        }
        frames[n++] = f;
    }
    if (!n)
        return 0;
    frame_lock(&q->sh->fill_lock, &u->sh->pool.lock_recovered);
    /* another process may have produced since: both cached indices from the ring's own (a stale
     * cached_cons would be behind a producer the other process moved past it, and show room that
     * is not there) */
    q->fill.cached_prod = *q->fill.producer;
    q->fill.cached_cons = __atomic_load_n(q->fill.consumer, __ATOMIC_ACQUIRE) + q->fill.size;
    if (xsk_ring_prod__reserve(&q->fill, n, &idx) != n) {
        pthread_mutex_unlock(&q->sh->fill_lock);
        for (uint32_t i = 0; i < n; i++)
            frame_put(cache, frames[i], FRAME_OWN_HELD);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++)
        *xsk_ring_prod__fill_addr(&q->fill, idx + i) = umem_addr(u, frames[i], 0);
    xsk_ring_prod__submit(&q->fill, n);
    atomic_fetch_add_explicit(&q->sh->in_fill, n, memory_order_relaxed);
    pthread_mutex_unlock(&q->sh->fill_lock);
    return n;
}

uint32_t umem_complete(struct umem *u, struct umem_queue *q, struct frame_cache *cache, uint32_t max)
{
    uint32_t frames[256], n, idx;

    /* a glance without the lock: every worker passes by every queue's ring, most often empty */
    if (__atomic_load_n(q->comp.producer, __ATOMIC_ACQUIRE) ==
        __atomic_load_n(q->comp.consumer, __ATOMIC_RELAXED))
        return 0;
    if (max > 256)
        max = 256;
    frame_lock(&q->sh->comp_lock, &u->sh->pool.lock_recovered);
    /* another process may have consumed since: both cached indices from the ring's own */
    q->comp.cached_cons = *q->comp.consumer;
    q->comp.cached_prod = __atomic_load_n(q->comp.producer, __ATOMIC_ACQUIRE);
    n = xsk_ring_cons__peek(&q->comp, max, &idx);
    for (uint32_t i = 0; i < n; i++)
        frames[i] = (uint32_t)(*xsk_ring_cons__comp_addr(&q->comp, idx + i) / u->cfg.frame_size);
    if (n)
        xsk_ring_cons__release(&q->comp, n);
    pthread_mutex_unlock(&q->sh->comp_lock);
    for (uint32_t i = 0; i < n; i++)
        frame_put(cache, frames[i], FRAME_OWN_TX);
    atomic_fetch_sub_explicit(&u->sh->in_tx, n, memory_order_relaxed);
    return n;
}

int64_t umem_in_fill(struct umem *u)
{
    int64_t n = 0;

    for (uint32_t i = 0; i < u->nqueues; i++)
        n += atomic_load(&u->queues[i].sh->in_fill);
    return n;
}
