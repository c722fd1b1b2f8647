/*
 * xsk_rings.c — registering the UMEM, mapping the rings and binding AF_XDP sockets through the
 * kernel's socket options (see xsk_rings.h).
 */
#include "afxdp/xsk_rings.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* struct xdp_umem_reg as Linux 6.8 grew it, whatever the installed headers say. */
struct umem_reg {
    uint64_t addr;
    uint64_t len;
    uint32_t chunk_size;
    uint32_t headroom;
    uint32_t flags;
    uint32_t tx_metadata_len;
};

int xsk_rings_register_umem(int fd, void *area, uint64_t size, uint32_t frame_size, uint32_t tx_metadata_len)
{
    struct umem_reg reg = {
        .addr = (uintptr_t)area,
        .len = size,
        .chunk_size = frame_size,
        .flags = tx_metadata_len ? XSK_UMEM_TX_METADATA_LEN : 0,
        .tx_metadata_len = tx_metadata_len,
    };

    return setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) ? -errno : 0;
}

static int offsets(int fd, struct xdp_mmap_offsets *off)
{
    socklen_t len = sizeof(*off);

    return getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, off, &len) ? -errno : 0;
}

/* Map one ring of n entries of entry_size bytes at pgoff, and point r's fields into it. */
static int map_ring(int fd, const struct xdp_ring_offset *o, uint32_t n, size_t entry_size, uint64_t pgoff,
                    struct xsk_ring_prod *r, struct xsk_ring_map *m)
{
    size_t len = o->desc + n * entry_size;
    uint8_t *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);

    if (base == MAP_FAILED)
        return -errno;
    m->base = base;
    m->len = len;
    memset(r, 0, sizeof(*r));
    r->mask = n - 1;
    r->size = n;
    r->producer = (uint32_t *)(base + o->producer);
    r->consumer = (uint32_t *)(base + o->consumer);
    r->flags = (uint32_t *)(base + o->flags);
    r->ring = base + o->desc;
    return 0;
}

int xsk_rings_map_fill_comp(int fd, uint32_t fill_size, uint32_t comp_size, struct xsk_ring_prod *fill,
                            struct xsk_ring_cons *comp, struct xsk_ring_map maps[2])
{
    struct xdp_mmap_offsets off;
    int ret;

    if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &fill_size, sizeof(fill_size)) ||
        setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &comp_size, sizeof(comp_size)))
        return -errno;
    if ((ret = offsets(fd, &off)) ||
        (ret = map_ring(fd, &off.fr, fill_size, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, fill, &maps[0])))
        return ret;
    ret = map_ring(fd, &off.cr, comp_size, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING,
                   (struct xsk_ring_prod *)comp, &maps[1]);
    if (ret) {
        xsk_rings_unmap(maps, 1);
        return ret;
    }
    fill->cached_cons = fill_size; /* a producer starts with every entry free */
    return 0;
}

int xsk_rings_map_rx_tx(int fd, uint32_t rx_size, uint32_t tx_size, struct xsk_ring_cons *rx,
                        struct xsk_ring_prod *tx, struct xsk_ring_map maps[2])
{
    struct xdp_mmap_offsets off;
    int ret;

    if (setsockopt(fd, SOL_XDP, XDP_RX_RING, &rx_size, sizeof(rx_size)) ||
        setsockopt(fd, SOL_XDP, XDP_TX_RING, &tx_size, sizeof(tx_size)))
        return -errno;
    if ((ret = offsets(fd, &off)) ||
        (ret = map_ring(fd, &off.rx, rx_size, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING,
                        (struct xsk_ring_prod *)rx, &maps[0])))
        return ret;
    ret = map_ring(fd, &off.tx, tx_size, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, tx, &maps[1]);
    if (ret) {
        xsk_rings_unmap(maps, 1);
        return ret;
    }
    tx->cached_cons = tx_size;
    return 0;
}

int xsk_rings_bind(int fd, const char *ifname, uint32_t queue, uint16_t flags, int shared_fd)
{
    struct sockaddr_xdp sxdp = {
        .sxdp_family = AF_XDP,
        .sxdp_ifindex = if_nametoindex(ifname),
        .sxdp_queue_id = queue,
        .sxdp_flags = flags,
    };

    if (!sxdp.sxdp_ifindex)
        return -ENODEV;
    if (shared_fd >= 0) {
        sxdp.sxdp_flags = XDP_SHARED_UMEM; /* the sharer's bind flags are the first socket's */
        sxdp.sxdp_shared_umem_fd = (uint32_t)shared_fd;
    }
    return bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) ? -errno : 0;
}

void xsk_rings_unmap(struct xsk_ring_map *maps, int n)
{
    for (int i = 0; i < n; i++)
        if (maps[i].base) {
            munmap(maps[i].base, maps[i].len);
            maps[i].base = NULL;
        }
}
