/*
 * packets.c — writes the frames described by pkt_spec (see packets.h).
 */
#include "tests/bpf/packets.h"

#include <arpa/inet.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

static __u16 ip_checksum(const void *data, size_t len)
{
    const __u8 *p = data;
    __u32 sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (__u32)p[i] << 8 | p[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((__u16)~sum);
}

/* Headers are built in aligned locals and copied: in the frame they sit at odd offsets. */
static size_t put_tcp(const struct pkt_spec *s, unsigned char *p)
{
    struct tcphdr th = {0};
    size_t len;

    th.source = htons(s->sport);
    th.dest = htons(s->dport);
    int doff = s->tcp_doff ? s->tcp_doff : 5 + (int)(s->tcp_options_len / 4);

    th.seq = htonl(s->seq ? s->seq : 1000);
    th.ack_seq = htonl(s->ack);
    th.doff = (__u16)doff;
    th.window = htons(65535);
    memcpy(p, &th, sizeof(th));
    p[13] = s->tcp_flags;
    len = (size_t)(doff > 5 ? doff : 5) * 4;
    memset(p + sizeof(th), 1, len - sizeof(th)); /* NOP options */
    if (s->tcp_options)
        memcpy(p + sizeof(th), s->tcp_options, s->tcp_options_len);
    if (s->data)
        memcpy(p + len, s->data, s->payload);
    else
        memset(p + len, 'x', s->payload);
    return len + s->payload;
}

size_t pkt_build(const struct pkt_spec *s, unsigned char *buf)
{
    struct ethhdr eth;
    unsigned char *p = buf + sizeof(eth);
    __u8 proto = s->l4proto ? s->l4proto : IPPROTO_TCP;
    __u16 ethertype = s->ethertype ? s->ethertype : (s->family == 6 ? ETH_P_IPV6 : ETH_P_IP);
    size_t len;

    memset(buf, 0, PKT_MAX);
    memcpy(eth.h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
    memcpy(eth.h_source, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
    if (s->vlan_proto) {
        eth.h_proto = htons(s->vlan_proto);
        p[0] = 0x00;
        p[1] = 0x2a; /* VLAN 42 */
        p[2] = (__u8)(ethertype >> 8);
        p[3] = (__u8)ethertype;
        p += 4;
    } else {
        eth.h_proto = htons(ethertype);
    }
    memcpy(buf, &eth, sizeof(eth));

    if (s->family == 6) {
        struct ipv6hdr ip6 = {0};
        unsigned char *l4 = p + sizeof(ip6);
        size_t l4len;

        ip6.version = s->ip_version ? s->ip_version : 6;
        ip6.hop_limit = 64;
        inet_pton(AF_INET6, s->src, &ip6.saddr);
        inet_pton(AF_INET6, s->dst, &ip6.daddr);
        if (s->ipv6_ext) {
            ip6.nexthdr = s->ipv6_ext_type;
            l4[0] = proto; /* the extension's next header */
            l4[1] = 0;     /* 8 bytes long */
            l4 += 8;
        } else {
            ip6.nexthdr = proto;
        }
        l4len = proto == IPPROTO_TCP ? put_tcp(s, l4) : 8 + s->payload;
        ip6.payload_len = htons((__u16)(l4 - (p + sizeof(ip6)) + l4len));
        memcpy(p, &ip6, sizeof(ip6));
        len = (size_t)(l4 - buf) + l4len;
    } else {
        struct iphdr ip = {0};
        size_t hlen = sizeof(ip) + (size_t)s->ip_options;
        size_t l4len;

        ip.version = s->ip_version ? s->ip_version : 4;
        ip.ihl = s->ihl ? s->ihl : (__u8)(hlen / 4);
        ip.ttl = 64;
        ip.protocol = proto;
        ip.frag_off = htons(s->frag);
        inet_pton(AF_INET, s->src, &ip.saddr);
        inet_pton(AF_INET, s->dst, &ip.daddr);
        memset(p + sizeof(ip), 1, (size_t)s->ip_options); /* NOP options */
        l4len = proto == IPPROTO_TCP ? put_tcp(s, p + hlen) : 8 + s->payload;
        ip.tot_len = htons((__u16)(hlen + l4len));
        memcpy(p, &ip, sizeof(ip));
        ip.check = ip_checksum(p, hlen);
        memcpy(p, &ip, sizeof(ip));
        len = (size_t)(p - buf) + hlen + l4len;
    }
    if (len < 60)
        len = 60; /* Ethernet minimum frame, as on the wire */
    if (s->truncate && s->truncate < len)
        len = s->truncate;
    return len;
}
