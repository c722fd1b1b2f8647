/*
 * workers.c — `workers`: the server's workers as the maps see them.
 *
 * The server writes each worker's state into `workers` and its AF_XDP sockets, one per receive queue
 * it serves, into `xsks`; this shows both side by side (the queues column comes from the kernel
 * through the xsks probe), so an operator sees a worker that claims to be live without a socket, one
 * missing a queue, or the reverse; and the load each worker publishes for XDP's choice of a worker
 * for new connections (busy share, queue, open connections, overload) with the publication's age.
 */
#include <errno.h>
#include <time.h>
#include <bpf/bpf.h>

#include "agent/agent.h"

static const char workers_help[] =
    "usage: sluice-agent workers --dev DEVICE\n"
    "\n"
    "List the worker slots in use: live flag, the receive queues on which it has an AF_XDP socket\n"
    "registered in xsks ('-': none), the overload flag (XDP sheds its new connections), the owning\n"
    "server pid, and the load it publishes: open connections, busy share of its last 100 ms (not\n"
    "waiting for input), requests waiting on its behalf, and how long ago it published ('-': never;\n"
    "a worker blocked in a handler publishes late). XDP gives a new connection to the less loaded\n"
    "of the hash's two best workers. During a server takeover both generations show: the one taken\n"
    "over on its slots (overloaded, draining), the new one on the other half (slots 0-31 or 32-63),\n"
    "which new connections go to.\n"
    "exit status: 0 shown, 2 bad option, 3 not root, 6 not loaded\n";

int cmd_workers(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    __u32 queues[SLUICE_MAX_WORKERS];
    struct pins p;
    struct timespec now;
    __u64 now_ns;
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
    if (agent_probe_xsks(p.xsks, queues, e)) {
        pins_close(&p);
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    now_ns = (__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec;
    printf("%-7s %-5s %-7s %-9s %-8s %-12s %-5s %-6s %s\n", "WORKER", "LIVE", "QUEUES", "OVERLOAD", "PID",
           "CONNECTIONS", "BUSY", "QUEUE", "PUBLISHED");
    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++) {
        struct worker_state ws = {0};
        char list[3 * SLUICE_MAX_QUEUES + 1], age[32], busy[16];

        if (bpf_map_lookup_elem(p.workers, &i, &ws)) {
            pins_close(&p);
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read worker %u", i);
        }
        if (!ws.live && !ws.pid && !queues[i])
            continue;
        agent_queue_list(queues[i], list, sizeof(list));
        if (!ws.heartbeat_ns)
            snprintf(age, sizeof(age), "-");
        else if (ws.heartbeat_ns > now_ns)
            snprintf(age, sizeof(age), "0 ms ago");
        else
            snprintf(age, sizeof(age), "%llu ms ago",
                     (unsigned long long)((now_ns - ws.heartbeat_ns) / 1000000));
        snprintf(busy, sizeof(busy), "%u%%", ws.busy_pct);
        printf("%-7u %-5s %-7s %-9s %-8u %-12u %-5s %-6u %s\n", i, ws.live ? "yes" : "no", list,
               ws.overload ? "yes" : "no", ws.pid, ws.load, busy, ws.queue, age);
        shown++;
    }
    if (!shown)
        printf("(no workers registered on %s)\n", dev);
    pins_close(&p);
    return EXIT_STATUS_OK;
}
