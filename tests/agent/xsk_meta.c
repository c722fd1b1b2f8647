/*
 * xsk_meta.c — checks, on a real interface, that the steering program's struct sluice_xdp_meta
 * reaches an AF_XDP socket's UMEM as a prefix of the frame (maps/sluice_maps.h).
 *
 * It stands in for a server with two workers: WORKER gets a bound AF_XDP socket (copy mode, queue
 * 0) and is live; TARGET is live but overloaded and has no socket, so new connections hash to
 * WORKER while routes may still name TARGET. Every frame that arrives is printed as one line,
 *   frame N len L meta yes|no [magic M target T route R state S]
 * (L the packet's length, without the prefix). It prints "ready" once
 * registered and exits after FRAMES frames or 10 s, marking both workers dead.
 *
 *   xsk_meta DEVICE WORKER TARGET FRAMES
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>

#include "common/err.h"
#include "maps/pins.h"

#define XSK_META_FRAMES     64
#define XSK_META_FRAME_SIZE 4096

static int run(const char *dev, __u32 worker, __u32 target, int want, struct pins *p)
{
    struct xsk_umem_config ucfg = {
        .fill_size = XSK_META_FRAMES, .comp_size = XSK_META_FRAMES, .frame_size = XSK_META_FRAME_SIZE};
    struct xsk_socket_config scfg = {.rx_size = XSK_META_FRAMES,
                                     .tx_size = XSK_META_FRAMES,
                                     .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
                                     .bind_flags = XDP_COPY};
    struct worker_state live = {.live = 1, .pid = (__u32)getpid()};
    struct worker_state busy = {.live = 1, .overload = 1, .pid = (__u32)getpid()};
    /* zeroed: libxdp sets a ring's cached_cons but not its cached_prod, which reserve starts from */
    struct xsk_ring_prod fill = {0};
    struct xsk_ring_cons comp = {0}, rx = {0};
    struct xsk_umem *umem = NULL;
    struct xsk_socket *xsk = NULL;
    size_t size = (size_t)XSK_META_FRAMES * XSK_META_FRAME_SIZE;
    void *area;
    __u32 idx;
    __u32 slot = SLUICE_XSKS_KEY(0, worker);
    int fd, got = 0, ret = 1;
    time_t until = time(NULL) + 10;

    area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return 1;
    if (xsk_umem__create(&umem, area, size, &fill, &comp, &ucfg) ||
        xsk_socket__create(&xsk, dev, 0, umem, &rx, NULL, &scfg)) {
        fprintf(stderr, "xsk_meta: error: cannot create the AF_XDP socket: %s\n", strerror(errno));
        goto out;
    }
    if (xsk_ring_prod__reserve(&fill, XSK_META_FRAMES, &idx) != XSK_META_FRAMES) {
        fprintf(stderr, "xsk_meta: error: the fill ring does not take %d frames\n", XSK_META_FRAMES);
        goto out;
    }
    for (__u32 i = 0; i < XSK_META_FRAMES; i++)
        *xsk_ring_prod__fill_addr(&fill, idx + i) = (__u64)i * XSK_META_FRAME_SIZE;
    xsk_ring_prod__submit(&fill, XSK_META_FRAMES);
    fd = xsk_socket__fd(xsk);
    if (bpf_map_update_elem(p->xsks, &slot, &fd, BPF_ANY) ||
        bpf_map_update_elem(p->workers, &worker, &live, BPF_ANY) ||
        bpf_map_update_elem(p->workers, &target, &busy, BPF_ANY)) {
        fprintf(stderr, "xsk_meta: error: cannot register the workers: %s\n", strerror(errno));
        goto out;
    }
    printf("ready\n");
    fflush(stdout);
    while (got < want && time(NULL) < until) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        __u32 n;

        if (poll(&pfd, 1, 200) <= 0)
            continue;
        n = xsk_ring_cons__peek(&rx, XSK_META_FRAMES, &idx);
        for (__u32 i = 0; i < n; i++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);
            unsigned char *data = xsk_umem__get_data(area, d->addr);
            struct sluice_xdp_meta m;

            /* the steering program's word is a prefix of the frame (maps/sluice_maps.h) */
            memcpy(&m, data, d->len >= sizeof(m) ? sizeof(m) : 0);
            if (d->len >= sizeof(m) && m.magic == SLUICE_XDP_META_MAGIC) {
                printf("frame %d len %zu meta yes magic %08x target %u route %u state %u\n", got,
                       d->len - sizeof(m), m.magic, m.target, m.route_id, m.flow_state);
            } else {
                printf("frame %d len %u meta no\n", got, d->len);
            }
            got++;
        }
        xsk_ring_cons__release(&rx, n);
        fflush(stdout);
    }
    ret = got >= want ? 0 : 1;
out : {
    struct worker_state dead = {0};

    bpf_map_update_elem(p->workers, &worker, &dead, BPF_ANY);
    bpf_map_update_elem(p->workers, &target, &dead, BPF_ANY);
}
    if (xsk)
        xsk_socket__delete(xsk);
    if (umem)
        xsk_umem__delete(umem);
    munmap(area, size);
    return ret;
}

int main(int argc, char **argv)
{
    struct err e = {0};
    struct pins p;
    int ret;

    if (argc != 5) {
        fprintf(stderr, "usage: xsk_meta DEVICE WORKER TARGET FRAMES\n");
        return EXIT_STATUS_USAGE;
    }
    if (pins_open(&p, argv[1], &e)) {
        err_print(stderr, "xsk_meta", &e);
        return e.status;
    }
    ret = run(argv[1], (__u32)atoi(argv[2]), (__u32)atoi(argv[3]), atoi(argv[4]), &p);
    pins_close(&p);
    return ret;
}
