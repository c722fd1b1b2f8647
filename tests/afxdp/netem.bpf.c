/*
 * netem.bpf.c — packet loss and duplication for tests, since the kernel here has no netem.
 *
 * A tc (clsact) program for the client side of the test veth, attached on egress (client to
 * server, before the server's XDP program sees the packet) and on ingress (server to client; the
 * server's AF_XDP transmissions bypass the server side's qdisc, so this is where they can be hit).
 * Each packet is dropped with probability drop_ppm and duplicated with probability dup_ppm; a
 * duplicate is marked so it is not duplicated again. Rates are set through the .rodata of the
 * skeleton by the loader (tests/afxdp/netem.c). Only TCP is touched, so ARP and ND keep working.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define DUPLICATE_MARK 0x5d0b

const volatile __u32 drop_ppm = 0;
const volatile __u32 dup_ppm = 0;
const volatile __u32 ifindex = 0;

__u64 dropped;
__u64 duplicated;

static __always_inline int is_tcp(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) > end)
        return 0;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);

        return (void *)(ip + 1) <= end && ip->protocol == IPPROTO_TCP;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);

        return (void *)(ip6 + 1) <= end && ip6->nexthdr == IPPROTO_TCP;
    }
    return 0;
}

static __always_inline int impair(struct __sk_buff *skb, __u64 redirect_flags)
{
    if (skb->mark == DUPLICATE_MARK || !is_tcp(skb))
        return TC_ACT_OK;
    if (bpf_get_prandom_u32() % 1000000 < drop_ppm) {
        __sync_fetch_and_add(&dropped, 1);
        return TC_ACT_SHOT;
    }
    if (bpf_get_prandom_u32() % 1000000 < dup_ppm) {
        __u32 mark = skb->mark;

        skb->mark = DUPLICATE_MARK;
        if (bpf_clone_redirect(skb, ifindex, redirect_flags) == 0)
            __sync_fetch_and_add(&duplicated, 1);
        skb->mark = mark;
    }
    return TC_ACT_OK;
}

SEC("tc")
int netem_egress(struct __sk_buff *skb)
{
    return impair(skb, 0);
}

SEC("tc")
int netem_ingress(struct __sk_buff *skb)
{
    return impair(skb, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
