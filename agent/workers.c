/*
 * workers.c — `workers`: the server's workers as the maps see them.
 *
 * The server writes each worker's state into `workers` and its AF_XDP socket into `xsks`; this
 * shows both side by side (the socket column comes from the kernel through the xsks probe), so an
 * operator sees a worker that claims to be live without a socket, or the reverse.
 */
#include <errno.h>
#include <bpf/bpf.h>

#include "agent/agent.h"

static const char workers_help[] =
    "usage: sluice-agent workers --dev DEVICE\n"
    "\n"
    "List the worker slots in use: live flag, whether an AF_XDP socket is registered in xsks,\n"
    "the overload flag, the owning server pid and its open connections.\n"
    "exit status: 0 shown, 2 bad option, 3 not root, 6 not loaded\n";

int cmd_workers(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    __u64 sockets = 0;
    struct pins p;
    int c, shown = 0;

    while ((c = args_getopt(argc, argv, opts, "workers", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'h':
            return agent_help(workers_help);
        default:
            return -1;
        }
    }
    if (agent_require_dev(dev, "workers", e) || agent_open_pins(&p, dev, e))
        return -1;
    if (agent_probe_xsks(p.xsks, &sockets, e)) {
        pins_close(&p);
        return -1;
    }
    printf("%-7s %-5s %-7s %-9s %-8s %s\n", "WORKER", "LIVE", "SOCKET", "OVERLOAD", "PID", "CONNECTIONS");
    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++) {
        struct worker_state ws = {0};
        bool socket = sockets & (1ull << i);

        if (bpf_map_lookup_elem(p.workers, &i, &ws)) {
            pins_close(&p);
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read worker %u", i);
        }
        if (!ws.live && !ws.pid && !socket)
            continue;
        printf("%-7u %-5s %-7s %-9s %-8u %u\n", i, ws.live ? "yes" : "no", socket ? "yes" : "no",
               ws.overload ? "yes" : "no", ws.pid, ws.load);
        shown++;
    }
    if (!shown)
        printf("(no workers registered on %s)\n", dev);
    pins_close(&p);
    return EXIT_STATUS_OK;
}
