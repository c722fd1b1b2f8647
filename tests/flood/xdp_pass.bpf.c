/*
 * xdp_pass.bpf.c — XDP_PASS, attached natively to the client's veth of a test topology.
 *
 * A frame the server's XDP program sends back with XDP_TX is queued on the peer veth's receive
 * ring, and the kernel kicks that ring's NAPI only when the peer has a native XDP program
 * (veth_xdp_flush): with GRO alone the frames wait for the next packet that takes the ordinary path,
 * and a SYN-ACK answered in XDP would reach the client only by chance. This program changes
 * nothing; it is there so that the ring is served. Used by tests/flood/syn_flood_test.sh.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
    (void)ctx;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
