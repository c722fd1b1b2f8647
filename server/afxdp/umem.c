/*
 * umem.c — mapping the shared packet region, registering it, and the locked fill/completion rings
 * (see umem.h).
 */
#include "afxdp/umem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define HUGE_PAGE (2u << 20)

void umem_config_default(struct umem_config *cfg)
{
    cfg->nframes = 32768;
    cfg->frame_size = 4096;
    cfg->fill_size = 8192;
    cfg->comp_size = 8192;
}

static void *map_region(size_t size, bool *huge, char *note, size_t note_len)
{
    void *area;

    if (size % HUGE_PAGE == 0) {
        area = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
        if (area != MAP_FAILED) {
            *huge = true;
            snprintf(note, note_len, "in 2 MiB huge pages");
            return area;
        }
        snprintf(note, note_len, "in 4 KiB pages (no huge pages: %s; see /proc/sys/vm/nr_hugepages)",
                 strerror(errno));
    } else {
        snprintf(note, note_len, "in 4 KiB pages (size not a multiple of 2 MiB)");
    }
    *huge = false;
    return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
}

int umem_create(struct umem *u, const struct umem_config *cfg, char *note, size_t note_len, struct err *e)
{
    int ret;

    memset(u, 0, sizeof(*u));
    u->fd = -1;
    u->cfg = *cfg;
    u->size = (size_t)cfg->nframes * cfg->frame_size;
    u->area = map_region(u->size, &u->hugepages, note, note_len);
    if (u->area == MAP_FAILED) {
        u->area = NULL;
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot map a %zu MiB UMEM", u->size >> 20);
    }
    if (frame_pool_init(&u->pool, u->area, cfg->frame_size, cfg->nframes)) {
        ERR(e, EXIT_STATUS_USAGE, errno, "bad UMEM geometry: %u frames of %u bytes", cfg->nframes,
            cfg->frame_size);
        goto fail;
    }
    u->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        ERR(e, err_status_for_errno(errno), errno, "cannot open an AF_XDP socket");
        goto fail;
    }
    /* room for TX metadata, so that the kernel may be asked to checksum (Linux 6.8; older ones say EINVAL) */
    ret = xsk_rings_register_umem(u->fd, u->area, u->size, cfg->frame_size, XSK_TX_META_LEN);
    if (ret == -EINVAL) {
        u->tx_meta_refused = EINVAL;
        ret = xsk_rings_register_umem(u->fd, u->area, u->size, cfg->frame_size, 0);
    }
    if (!ret)
        ret = xsk_rings_map_fill_comp(u->fd, cfg->fill_size, cfg->comp_size, &u->fill, &u->comp, u->maps);
    if (ret) {
        ERR(e, err_status_for_errno(-ret), -ret, "cannot register the UMEM with the kernel");
        goto fail;
    }
    pthread_mutex_init(&u->fill_lock, NULL);
    pthread_mutex_init(&u->comp_lock, NULL);
    u->registered = true;
    return 0;
fail:
    umem_destroy(u);
    return -1;
}

void umem_destroy(struct umem *u)
{
    if (u->registered) {
        pthread_mutex_destroy(&u->fill_lock);
        pthread_mutex_destroy(&u->comp_lock);
    }
    xsk_rings_unmap(u->maps, 2);
    if (u->fd >= 0)
        close(u->fd);
    if (u->pool.meta)
        frame_pool_destroy(&u->pool);
    if (u->area)
        munmap(u->area, u->size);
    memset(u, 0, sizeof(*u));
}

#define REFILL_BATCH 64

uint32_t umem_refill(struct umem *u, struct frame_cache *cache)
{
    uint32_t frames[REFILL_BATCH], n = 0, idx;
    int64_t want = (int64_t)u->cfg.fill_size - atomic_load_explicit(&u->in_fill, memory_order_relaxed);

    if (want < REFILL_BATCH / 2)
        return 0; /* the ring is nearly full: top it up in batches, not frame by frame */
    if (want > REFILL_BATCH)
        want = REFILL_BATCH;
    while (n < (uint32_t)want) {
        uint32_t f = frame_alloc(cache);

        if (f == FRAME_NONE) {
            atomic_fetch_add_explicit(&u->fill_starved, 1, memory_order_relaxed);
            break;
        }
        frames[n++] = f;
    }
    if (!n)
        return 0;
    pthread_mutex_lock(&u->fill_lock);
    if (xsk_ring_prod__reserve(&u->fill, n, &idx) != n) {
        pthread_mutex_unlock(&u->fill_lock);
        for (uint32_t i = 0; i < n; i++)
            frame_put(cache, frames[i], FRAME_OWN_HELD);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++)
        *xsk_ring_prod__fill_addr(&u->fill, idx + i) = umem_addr(u, frames[i], 0);
    xsk_ring_prod__submit(&u->fill, n);
    atomic_fetch_add_explicit(&u->in_fill, n, memory_order_relaxed);
    pthread_mutex_unlock(&u->fill_lock);
    return n;
}

uint32_t umem_complete(struct umem *u, struct frame_cache *cache, uint32_t max)
{
    uint32_t frames[256], n, idx;

    if (max > 256)
        max = 256;
    pthread_mutex_lock(&u->comp_lock);
    n = xsk_ring_cons__peek(&u->comp, max, &idx);
    for (uint32_t i = 0; i < n; i++)
        frames[i] = (uint32_t)(*xsk_ring_cons__comp_addr(&u->comp, idx + i) / u->cfg.frame_size);
    if (n)
        xsk_ring_cons__release(&u->comp, n);
    pthread_mutex_unlock(&u->comp_lock);
    for (uint32_t i = 0; i < n; i++)
        frame_put(cache, frames[i], FRAME_OWN_TX);
    atomic_fetch_sub_explicit(&u->in_tx, n, memory_order_relaxed);
    return n;
}
