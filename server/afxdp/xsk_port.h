/*
 * xsk_port.h — one AF_XDP socket of a worker, on one device queue: its own RX and TX rings over
 * the shared UMEM.
 *
 * The first socket opened binds the UMEM to the interface (zero-copy when the driver can, copy mode
 * otherwise, and says which); the others join it with XDP_SHARED_UMEM, the first one on each further
 * queue bringing that queue's fill and completion rings (struct umem_queue). No XDP program is
 * loaded here: the agent's steering program redirects into the pinned `xsks` map, where the
 * server registers each socket at SLUICE_XSKS_KEY(queue, worker).
 */
#ifndef SLUICE_AFXDP_XSK_PORT_H
#define SLUICE_AFXDP_XSK_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include "common/err.h"
#include "afxdp/umem.h"
#include "net/tcp.h"

struct sluice_xdp_meta;

/* Multi-buffer (Linux 6.6), newer than the distribution's UAPI headers may be. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

enum xsk_zerocopy { XSK_ZC_AUTO, XSK_ZC_ON, XSK_ZC_OFF };

struct xsk_port {
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    struct xsk_map rx_map, tx_map;
    int fd;                /* -1 when closed */
    uint32_t queue;        /* the device queue it is bound to */
    struct umem_queue *uq; /* that queue's fill and completion rings */
    bool zerocopy;
    bool multi_buffer;            /* XDP_USE_SG: a packet may span frames, chained with XDP_PKT_CONTD */
    struct tcp_rx_chain rx_chain; /* a packet whose frames this RX ring has shown in part */
    const struct sluice_xdp_meta *rx_chain_meta; /* the steering program's prefix to it, or NULL */
    bool rx_chain_overflow;                      /* ... in more frames than it may have: dropped to its end */
    uint64_t rx_packets;
    uint64_t tx_kicks;
};

struct xsk_port_config {
    const char *ifname;
    uint32_t queue;        /* the device queue */
    struct umem_queue *uq; /* the UMEM's rings for that queue */
    uint32_t rx_size;
    uint32_t tx_size;
    enum xsk_zerocopy zerocopy;
};

/*
 * Open a socket on cfg->queue of cfg->ifname over u. The first call binds the UMEM (mode chosen
 * per cfg->zerocopy, multi-buffer when the kernel and driver take it; *mode_note explains both);
 * later calls share it, and its modes, on any queue.
 */
int xsk_port_open(struct xsk_port *p, struct umem *u, const struct xsk_port_config *cfg, char *mode_note,
                  size_t note_len, struct err *e);
void xsk_port_close(struct xsk_port *p, struct umem *u);

/*
 * How many RX queues ifname has: its RX and combined channels by ETHTOOL_GCHANNELS, else its rx-N
 * entries under /sys/class/net/DEV/queues (where /sys belongs to this network namespace). *how
 * names the source; 0 when neither answered.
 */
uint32_t xsk_port_rx_queues(const char *ifname, const char **how);

/* Ask the kernel to process the TX ring if it needs to be told (copy mode always does). */
void xsk_port_kick_tx(struct xsk_port *p);
/* Descriptors in the TX ring the kernel has not taken yet: while there are, someone must kick. */
uint32_t xsk_port_tx_pending(const struct xsk_port *p);

/* The kernel's drop counters for this socket (XDP_STATISTICS). */
struct xsk_port_kernel_stats {
    uint64_t rx_dropped;
    uint64_t rx_invalid;
    uint64_t tx_invalid;
    uint64_t rx_ring_full;
    uint64_t fill_ring_empty;
    uint64_t tx_ring_empty;
};
int xsk_port_kernel_stats(const struct xsk_port *p, struct xsk_port_kernel_stats *s);

#endif
