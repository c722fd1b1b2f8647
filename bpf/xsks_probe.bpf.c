/*
 * xsks_probe.bpf.c — tells user space which `xsks` slots hold an AF_XDP socket.
 *
 * The kernel does not let user space read an XSKMAP, but a BPF program may look entries up. The
 * agent loads this program against the pinned `xsks` map and runs it once with
 * BPF_PROG_TEST_RUN before it unloads anything, so "a server still holds sockets" is a fact read
 * from the kernel, not a guess from pids. It is never attached to a device.
 */
#include "bpf/xsks_map.bpf.h"

/* Bit q of xsks_queues[w] set: worker w has a socket on queue q (slot SLUICE_XSKS_KEY(q, w)). */
__u32 xsks_queues[SLUICE_MAX_WORKERS];

_Static_assert(SLUICE_MAX_QUEUES <= 32, "a worker's queues are bits of a __u32");

/* One slot per bpf_loop iteration: the verifier checks the body once instead of every path. */
static long probe_slot(__u32 slot, void *ctx __attribute__((unused)))
{
    __u32 worker = slot % SLUICE_MAX_WORKERS, queue = slot / SLUICE_MAX_WORKERS;

    if (bpf_map_lookup_elem(&xsks, &slot))
        xsks_queues[worker & (SLUICE_MAX_WORKERS - 1)] |= 1u << (queue & (SLUICE_MAX_QUEUES - 1));
    return 0;
}

SEC("xdp")
int sluice_xsks_probe(struct xdp_md *ctx __attribute__((unused)))
{
    for (__u32 w = 0; w < SLUICE_MAX_WORKERS; w++)
        xsks_queues[w] = 0;
    bpf_loop(SLUICE_XSKS_SLOTS, probe_slot, NULL, 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
