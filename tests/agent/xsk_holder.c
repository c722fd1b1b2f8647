/*
 * xsk_holder.c — a stand-in for a server in the agent tests: it opens an interface's pins, puts
 * an (unbound) AF_XDP socket into `xsks` at a worker's slot on a receive queue (0 unless QUEUE is
 * given), marks the worker live with its pid,
 * prints "ready" and holds them until SIGTERM/SIGINT, then marks the worker dead and exits.
 * Closing the socket removes it from `xsks` (the kernel does that), as when a server stops.
 *
 *   xsk_holder DEVICE WORKER [QUEUE]
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/err.h"
#include "maps/pins.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct worker_state ws = {.live = 1, .pid = (__u32)getpid()};
    struct err e = {0};
    struct pins p;
    __u32 worker, queue, slot;
    int fd;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: xsk_holder DEVICE WORKER [QUEUE]\n");
        return EXIT_STATUS_USAGE;
    }
    worker = (__u32)atoi(argv[2]);
    queue = argc == 4 ? (__u32)atoi(argv[3]) : 0;
    slot = SLUICE_XSKS_KEY(queue, worker);
    if (pins_open(&p, argv[1], &e)) {
        err_print(stderr, "xsk_holder", &e);
        return e.status;
    }
    fd = socket(AF_XDP, SOCK_RAW, 0);
    if (fd < 0 || bpf_map_update_elem(p.xsks, &slot, &fd, BPF_ANY) ||
        bpf_map_update_elem(p.workers, &worker, &ws, BPF_ANY)) {
        fprintf(stderr, "xsk_holder: error: cannot register worker %u on queue %u: %s\n", worker, queue,
                strerror(errno));
        return EXIT_STATUS_FAILURE;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        pause();
    memset(&ws, 0, sizeof(ws));
    bpf_map_update_elem(p.workers, &worker, &ws, BPF_ANY);
    close(fd);
    pins_close(&p);
    return EXIT_STATUS_OK;
}
