/*
 * packets.h — crafted Ethernet frames for the BPF unit tests.
 *
 * A pkt_spec describes a frame (family, addresses, ports, TCP flags, VLAN tag, IPv4 options,
 * fragments, IPv6 extension headers, payload, and deliberate breakage); pkt_build writes it with
 * correct lengths and IPv4 header checksum unless a field asks for it to be wrong.
 */
#ifndef SLUICE_TEST_PACKETS_H
#define SLUICE_TEST_PACKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PKT_MAX 2048

struct pkt_spec {
    int family;      /* 4 or 6 */
    const char *src; /* address text */
    const char *dst;
    __u16 sport;
    __u16 dport;
    __u8 tcp_flags;   /* TH_* below */
    __u8 l4proto;     /* 0 means TCP */
    __u16 vlan_proto; /* 0, 0x8100 or 0x88a8 */
    __u16 ethertype;  /* 0: from family; else forced (ARP, LLDP, mismatches) */
    int ip_options;   /* IPv4 option bytes, multiple of 4, at most 40 */
    __u16 frag;       /* IPv4 frag_off field in host order (MF = 0x2000, offset in 8-byte units) */
    bool ipv6_ext;    /* IPv6: an extension header of type ipv6_ext_type precedes TCP */
    __u8 ipv6_ext_type;
    int ip_version;          /* 0: from family; else forced */
    int ihl;                 /* 0: computed; else forced IPv4 IHL */
    int tcp_doff;            /* 0: 5; else forced TCP data offset */
    size_t payload;          /* bytes of payload after TCP */
    const void *data;        /* the payload's bytes; NULL: 'x' repeated */
    __u32 seq;               /* TCP sequence number; 0: 1000 */
    __u32 ack;               /* TCP acknowledgment number */
    const __u8 *tcp_options; /* option bytes after the TCP header (a multiple of 4); NULL: NOPs to tcp_doff */
    size_t tcp_options_len;
    size_t truncate; /* non-zero: cut the frame to this many bytes */
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* Build the frame into buf (PKT_MAX bytes); returns its length. */
size_t pkt_build(const struct pkt_spec *spec, unsigned char *buf);

#endif
