/*
 * xdp_bench.c — nanoseconds per packet of the steering program, by packet class.
 *
 * Loads bpf/steer.bpf.c from its skeleton (nothing attached), configures one service and four
 * live workers with AF_XDP sockets, and runs each class of frame through BPF_PROG_TEST_RUN with a
 * large repeat count; the kernel reports the mean run time. Prints a markdown table.
 *
 *   xdp_bench [REPEAT]
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "packets.h"
#include "sluice_maps.h"
#include "steer.skel.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

#define WORKERS 4

static int setup(struct steer *skel, int *xsk)
{
    struct service_key key = {.port = 80};
    struct service_value value = {.service_id = 1};
    struct flow_key flow = {.family = SLUICE_IPV4, .sport = 40000, .dport = 80};
    struct flow_value owner = {.worker = 1, .state = FLOW_HASHED};
    __u8 family;

    if (addr_parse("10.0.0.1", key.addr, &key.family) ||
        bpf_map_update_elem(bpf_map__fd(skel->maps.services), &key, &value, BPF_ANY))
        return -1;
    for (__u32 i = 0; i < WORKERS; i++) {
        struct worker_state ws = {.live = 1};

        xsk[i] = socket(AF_XDP, SOCK_RAW, 0);
        if (xsk[i] < 0 || bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &ws, BPF_ANY) ||
            bpf_map_update_elem(bpf_map__fd(skel->maps.xsks), &i, &xsk[i], BPF_ANY))
            return -1;
    }
    if (addr_parse("10.1.0.2", flow.saddr, &family) || addr_parse("10.0.0.1", flow.daddr, &family))
        return -1;
    return bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &flow, &owner, BPF_ANY);
}

int main(int argc, char **argv)
{
    struct {
        const char *name;
        struct pkt_spec spec;
    } classes[] = {
        {"ARP (passed: not IP)", {.family = 4, .src = "10.1.0.2", .dst = "10.0.0.1", .ethertype = ETH_P_ARP}},
        {"TCP to another port (passed)",
         {.family = 4, .src = "10.1.0.2", .dst = "10.0.0.1", .sport = 40000, .dport = 22, .tcp_flags = 0x10}},
        {"established flow (redirected)",
         {.family = 4, .src = "10.1.0.2", .dst = "10.0.0.1", .sport = 40000, .dport = 80, .tcp_flags = 0x10,
          .payload = 100}},
        {"no flow, rendezvous over 64 slots",
         {.family = 4, .src = "10.1.0.3", .dst = "10.0.0.1", .sport = 40001, .dport = 80, .tcp_flags = 0x10}},
    };
    __u32 repeat = argc > 1 ? (__u32)atoi(argv[1]) : 1000000;
    int xsk[WORKERS];
    struct steer *skel = steer__open_and_load();

    if (!skel || setup(skel, xsk)) {
        fprintf(stderr, "xdp_bench: error: cannot load or configure the steering program: %s\n", strerror(errno));
        return 1;
    }
    printf("| packet class | ns/packet | verdict |\n|---|---:|---|\n");
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        unsigned char frame[PKT_MAX];
        size_t len = pkt_build(&classes[i].spec, frame);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = repeat);

        if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts)) {
            fprintf(stderr, "xdp_bench: error: test run failed: %s\n", strerror(errno));
            return 1;
        }
        printf("| %s | %u | %u |\n", classes[i].name, opts.duration, opts.retval);
    }
    steer__destroy(skel);
    return 0;
}
