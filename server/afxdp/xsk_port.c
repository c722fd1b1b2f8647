/*
 * xsk_port.c — opening AF_XDP sockets over the shared UMEM with libxdp (see xsk_port.h).
 */
#include "afxdp/xsk_port.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* The first socket binds the UMEM's own (with flags); the others share it. */
static int try_open(struct xsk_port *p, struct umem *u, const struct xsk_port_config *cfg,
                    uint16_t bind_flags)
{
    return xsk_rings_bind(p->fd, cfg->ifname, cfg->queue, bind_flags, u->sockets ? u->fd : -1);
}

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

int xsk_port_open(struct xsk_port *p, struct umem *u, const struct xsk_port_config *cfg, char *mode_note,
                  size_t note_len, struct err *e)
{
    struct xdp_options opts = {0};
    socklen_t optlen = sizeof(opts);
    int ret;

    memset(p, 0, sizeof(*p));
    p->fd = u->sockets ? socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0) : u->fd;
    if (p->fd < 0)
        return ERR(e, err_status_for_errno(errno), errno, "cannot open an AF_XDP socket");
    p->owns_fd = u->sockets > 0;
    ret = xsk_rings_map_rx_tx(p->fd, cfg->rx_size, cfg->tx_size, &p->rx, &p->tx, p->maps);
    if (ret) {
        xsk_port_close(p);
        return ERR(e, err_status_for_errno(-ret), -ret, "cannot set up the rings of an AF_XDP socket");
    }
    /* the sockets sharing the UMEM share the first one's bind: its flags are its alone to give */
    ret = try_open(p, u, cfg, bind_flags_for(cfg->zerocopy) | XDP_USE_NEED_WAKEUP | XDP_USE_SG);
    if (!u->sockets && (ret == -EINVAL || ret == -EOPNOTSUPP)) { /* before Linux 6.6, or the driver's */
        u->sg_refused = -ret;
        ret = try_open(p, u, cfg, bind_flags_for(cfg->zerocopy) | XDP_USE_NEED_WAKEUP);
    }
    if (ret) {
        xsk_port_close(p);
        if (ret == -ENODEV || ret == -ENXIO)
            return ERR(e, EXIT_STATUS_NO_DEVICE, -ret, "no device %s for AF_XDP", cfg->ifname);
        return ERR(e, err_status_for_errno(-ret), -ret, "cannot bind an AF_XDP socket to %s queue %u%s",
                   cfg->ifname, cfg->queue, cfg->zerocopy == XSK_ZC_ON ? " in zero-copy mode" : "");
    }
    if (getsockopt(p->fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0 && (opts.flags & XDP_OPTIONS_ZEROCOPY))
        p->zerocopy = true;
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

void xsk_port_close(struct xsk_port *p)
{
    xsk_rings_unmap(p->maps, 2);
    if (p->owns_fd && p->fd >= 0)
        close(p->fd);
    memset(p, 0, sizeof(*p));
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
