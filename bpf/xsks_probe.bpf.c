/*
 * xsks_probe.bpf.c — tells user space which `xsks` slots hold an AF_XDP socket.
 *
 * The kernel does not let user space read an XSKMAP, but a BPF program may look entries up. The
 * agent loads this program against the pinned `xsks` map and runs it once with
 * BPF_PROG_TEST_RUN before it unloads anything, so "a server still holds sockets" is a fact read
 * from the kernel, not a guess from pids. It is never attached to a device.
 */
#include "bpf/xsks_map.bpf.h"

__u64 xsks_present; /* bit i set: slot i holds a socket */

/* One slot per bpf_loop iteration: the verifier checks the body once instead of every path. */
static long probe_slot(__u32 index, void *ctx)
{
    __u64 *mask = ctx;

    if (bpf_map_lookup_elem(&xsks, &index))
        *mask |= 1ull << (index & (SLUICE_MAX_WORKERS - 1));
    return 0;
}

SEC("xdp")
int sluice_xsks_probe(struct xdp_md *ctx __attribute__((unused)))
{
    __u64 mask = 0;

    bpf_loop(SLUICE_MAX_WORKERS, probe_slot, &mask, 0);
    xsks_present = mask;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
