/*
 * xsks_probe.bpf.c — tells user space which `xsks` slots hold an AF_XDP socket.
 *
 * The kernel does not let user space read an XSKMAP, but a BPF program may look entries up. The
 * agent loads this program against the pinned `xsks` map and runs it once with
 * BPF_PROG_TEST_RUN before it unloads anything, so "a server still holds sockets" is a fact read
 * from the kernel, not a guess from pids. It is never attached to a device.
 */
#include "xsks_map.bpf.h"

__u64 xsks_present; /* bit i set: slot i holds a socket */

SEC("xdp")
int sluice_xsks_probe(struct xdp_md *ctx __attribute__((unused)))
{
    __u64 mask = 0;

    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++) {
        if (bpf_map_lookup_elem(&xsks, &i))
            mask |= 1ull << i;
    }
    xsks_present = mask;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
