/*
 * xsk_rings.h — AF_XDP sockets set up on the kernel's interface itself: the UMEM registered (with
 * room for TX metadata), the four rings mapped into libxdp's ring structures, the bind.
 *
 * libxdp (1.3.1 in Debian 12) registers a UMEM without `tx_metadata_len`, so its sockets cannot
 * ask the kernel for checksum offload (XDP_TXMD_FLAGS_CHECKSUM). This does what its
 * xsk_umem__create and xsk_socket__create_shared do, plus that; the rings it fills are libxdp's
 * `struct xsk_ring_prod/cons`, so libxdp's inline ring functions still run the data path.
 */
#ifndef SLUICE_AFXDP_XSK_RINGS_H
#define SLUICE_AFXDP_XSK_RINGS_H

#include <stddef.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include "net/frame.h"

/* Newer than the distribution's UAPI headers may be (Linux 6.8, 6.11). */
#ifndef XDP_TX_METADATA
#define XDP_TX_METADATA (1 << 1) /* xdp_desc.options: metadata precedes this descriptor's data */
#endif
#define XSK_UMEM_TX_METADATA_LEN (1 << 2) /* xdp_umem_reg.flags: tx_metadata_len is set */
#define XSK_TXMD_FLAGS_CHECKSUM  (1 << 1)

/* The kernel's struct xsk_tx_metadata, as far as a checksum request goes. */
struct xsk_tx_meta {
    uint64_t flags;
    uint16_t csum_start;  /* from the descriptor's address: where summing starts */
    uint16_t csum_offset; /* from csum_start: where the sum goes */
    uint32_t _pad;
    uint64_t _launch_time;
};

/* What the UMEM reserves in front of every TX descriptor's data for the metadata. */
#define XSK_TX_META_LEN FRAME_TX_META

/* A mapped ring, for xsk_rings_unmap. */
struct xsk_ring_map {
    void *base;
    size_t len;
};

/*
 * Register area (size bytes, frames of frame_size) on the AF_XDP socket fd, asking for
 * tx_metadata_len bytes of TX metadata when it is not 0. 0, or -errno.
 */
int xsk_rings_register_umem(int fd, void *area, uint64_t size, uint32_t frame_size, uint32_t tx_metadata_len);

/* Size and map the fill and completion rings of fd's (device, queue). 0, or -errno. */
int xsk_rings_map_fill_comp(int fd, uint32_t fill_size, uint32_t comp_size, struct xsk_ring_prod *fill,
                            struct xsk_ring_cons *comp, struct xsk_ring_map maps[2]);

/* Size and map fd's RX and TX rings. 0, or -errno. */
int xsk_rings_map_rx_tx(int fd, uint32_t rx_size, uint32_t tx_size, struct xsk_ring_cons *rx,
                        struct xsk_ring_prod *tx, struct xsk_ring_map maps[2]);

/* Bind fd to queue of the device; shared_fd >= 0: sharing that socket's UMEM. 0, or -errno. */
int xsk_rings_bind(int fd, const char *ifname, uint32_t queue, uint16_t flags, int shared_fd);

void xsk_rings_unmap(struct xsk_ring_map *maps, int n);

#endif
