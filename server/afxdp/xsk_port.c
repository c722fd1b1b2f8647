/*
 * xsk_port.c — opening AF_XDP sockets over the shared UMEM (see xsk_port.h), with the system calls
 * themselves and libxdp's ring accessors (umem.h says why not xsk_socket__create_shared).
 *
 * The kernel decides what a bind shares by the socket it names in sxdp_shared_umem_fd: on that
 * socket's queue a new socket shares its buffer pool, and so its fill and completion rings (it must
 * bring none); on another queue it gets a pool of its own and must bring both rings. So the first
 * socket on each queue brings the rings and names the UMEM's socket, and later ones on that queue
 * name the queue's first. Only the UMEM's very first bind carries flags (the kernel refuses flags
 * beside XDP_SHARED_UMEM); every further queue's pool takes the first bind's modes from the kernel
 * (xp_assign_dev_shared: copy or zero-copy, XDP_USE_NEED_WAKEUP, and XDP_USE_SG, a flag of the
 * UMEM). So multi-buffer and need-wakeup hold on every queue or on none. A successor generation
 * (umem_adopt) binds every socket to the running one's socket of its queue: same pool, same rings.
 */
#include "afxdp/xsk_port.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>

/* The kernel's own choice when neither flag is given: zero-copy if the driver supports it, else copy. */
static uint16_t bind_flags_for(enum xsk_zerocopy zc)
{
    switch (zc) {
    case XSK_ZC_ON:
        return XDP_ZEROCOPY;
    case XSK_ZC_OFF:
        return XDP_COPY;
    default:
        return 0;
    }
}

static int bind_to(int fd, unsigned ifindex, uint32_t queue, uint16_t flags, int shared_fd)
{
    struct sockaddr_xdp sxdp = {
        .sxdp_family = AF_XDP,
        .sxdp_ifindex = ifindex,
        .sxdp_queue_id = queue,
        .sxdp_flags = flags,
        .sxdp_shared_umem_fd = shared_fd >= 0 ? (uint32_t)shared_fd : 0,
    };

    return bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) ? -errno : 0;
}

/* The socket, its rings and its bind; -errno on failure, p->fd set (to close) once there is one. */
static int open_socket(struct xsk_port *p, struct umem *u, const struct xsk_port_config *cfg,
                       unsigned ifindex)
{
    struct umem_queue *q = cfg->uq;
    /* an adopted UMEM (a takeover) is bound on every queue already: its sockets all share */
    bool first = !u->sockets && !u->adopted, first_on_queue = q->fd < 0;
    uint16_t flags = bind_flags_for(cfg->zerocopy) | XDP_USE_NEED_WAKEUP | XDP_USE_SG;
    int ret;

    /* the UMEM's first socket is the one it is registered on, with queues[0]'s rings on it */
    p->fd = first ? u->fd : socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return -errno;
    if (!first && first_on_queue && (ret = umem_queue_rings(u, q, p->fd)))
        return ret;
    if (setsockopt(p->fd, SOL_XDP, XDP_RX_RING, &cfg->rx_size, sizeof(cfg->rx_size)) ||
        setsockopt(p->fd, SOL_XDP, XDP_TX_RING, &cfg->tx_size, sizeof(cfg->tx_size)))
        return -errno;
    if ((ret = xsk_ring_map(p->fd, XDP_PGOFF_RX_RING, cfg->rx_size, &p->rx, false, &p->rx_map)) ||
        (ret = xsk_ring_map(p->fd, XDP_PGOFF_TX_RING, cfg->tx_size, &p->tx, true, &p->tx_map)))
        return ret;
    if (!first)
        return bind_to(p->fd, ifindex, cfg->queue, XDP_SHARED_UMEM, first_on_queue ? u->fd : q->fd);
    ret = bind_to(p->fd, ifindex, cfg->queue, flags, -1);
    if (ret == -EINVAL || ret == -EOPNOTSUPP) { /* no XDP_USE_SG before Linux 6.6, or not from the driver */
        u->sg_refused = -ret;
        ret = bind_to(p->fd, ifindex, cfg->queue, flags & ~XDP_USE_SG, -1);
    }
    return ret;
}

int xsk_port_open(struct xsk_port *p, struct umem *u, const struct xsk_port_config *cfg, char *mode_note,
                  size_t note_len, struct err *e)
{
    struct xdp_options opts = {0};
    socklen_t optlen = sizeof(opts);
    unsigned ifindex = if_nametoindex(cfg->ifname);
    int ret;

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (!ifindex)
        return ERR(e, EXIT_STATUS_NO_DEVICE, errno, "no device %s for AF_XDP", cfg->ifname);
    ret = open_socket(p, u, cfg, ifindex);
    if (ret) {
        if (cfg->uq->fd == p->fd && p->fd != u->fd) { /* its queue's rings went up with it */
            xsk_ring_unmap(&cfg->uq->fill_map);
            xsk_ring_unmap(&cfg->uq->comp_map);
            cfg->uq->fd = -1;
        }
        xsk_port_close(p, u);
        if (ret == -ENODEV || ret == -ENXIO)
            return ERR(e, EXIT_STATUS_NO_DEVICE, -ret, "no device %s for AF_XDP", cfg->ifname);
        return ERR(e, err_status_for_errno(-ret), -ret, "cannot bind an AF_XDP socket to %s queue %u%s",
                   cfg->ifname, cfg->queue, cfg->zerocopy == XSK_ZC_ON ? " in zero-copy mode" : "");
    }
    if (getsockopt(p->fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0 && (opts.flags & XDP_OPTIONS_ZEROCOPY))
        p->zerocopy = true;
    p->queue = cfg->queue;
    p->uq = cfg->uq;
    u->sockets++;
    p->multi_buffer = !u->sg_refused;
    snprintf(mode_note, note_len, "%s, %s%s%s",
             p->zerocopy                   ? "zero-copy mode"
             : cfg->zerocopy == XSK_ZC_OFF ? "copy mode (requested)"
                                           : "copy mode (the driver has no zero-copy support)",
             p->multi_buffer ? "multi-buffer" : "single-buffer (multi-buffer refused: ",
             p->multi_buffer ? "" : strerror(u->sg_refused), p->multi_buffer ? "" : ")");
    return 0;
}

void xsk_port_close(struct xsk_port *p, struct umem *u)
{
    xsk_ring_unmap(&p->rx_map);
    xsk_ring_unmap(&p->tx_map);
    /* the UMEM's own socket is closed with the UMEM; a queue's first keeps the rings' mappings valid */
    if (p->fd >= 0 && p->fd != u->fd)
        close(p->fd);
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}

uint32_t xsk_port_rx_queues(const char *ifname, const char **how)
{
    struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
    struct ifreq ifr = {.ifr_data = (void *)&ch};
    char path[64 + IF_NAMESIZE];
    struct dirent *de;
    uint32_t n = 0;
    DIR *d;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (fd >= 0) {
        if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
            n = ch.rx_count + ch.combined_count;
        close(fd);
    }
    if (n) {
        *how = "ethtool channels";
        return n;
    }
    /* no channels reported (or not at all): the queues the kernel set up, as sysfs lists them */
    snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
    d = opendir(path);
    while (d && (de = readdir(d)))
        n += !strncmp(de->d_name, "rx-", 3);
    if (d)
        closedir(d);
    *how = n ? "sysfs" : "unknown";
    return n;
}

uint32_t xsk_port_tx_pending(const struct xsk_port *p)
{
    return *p->tx.producer - __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE);
}

/* A few batches per call: the peer's backlog (netdev_max_backlog) takes bursts, not floods. */
#define KICKS_MAX 8

void xsk_port_kick_tx(struct xsk_port *p)
{
    /* in copy mode one sendto() transmits at most 32 descriptors (the kernel's TX_BATCH_SIZE) and
     * answers EAGAIN for the rest: go on until the ring is drained or the kernel pushes back */
    for (int i = 0; i < KICKS_MAX && xsk_port_tx_pending(p) && xsk_ring_prod__needs_wakeup(&p->tx); i++) {
        p->tx_kicks++;
        if (sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN)
            break; /* EBUSY, ENOBUFS, ENETDOWN: the next loop tries again */
    }
}

int xsk_port_kernel_stats(const struct xsk_port *p, struct xsk_port_kernel_stats *s)
{
    struct xdp_statistics st = {0};
    socklen_t len = sizeof(st);

    if (getsockopt(p->fd, SOL_XDP, XDP_STATISTICS, &st, &len))
        return -1;
    s->rx_dropped = st.rx_dropped;
    s->rx_invalid = st.rx_invalid_descs;
    s->tx_invalid = st.tx_invalid_descs;
    s->rx_ring_full = st.rx_ring_full;
    s->fill_ring_empty = st.rx_fill_ring_empty_descs;
    s->tx_ring_empty = st.tx_ring_empty_descs;
    return 0;
}
