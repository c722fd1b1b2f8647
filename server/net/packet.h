/*
 * packet.h — Ethernet/802.1Q, IPv4, IPv6 and TCP on the wire: parsing a received frame into a
 * struct pkt with every header validated (lengths, IPv4 header checksum, TCP checksum, options),
 * and writing the headers of a segment in front of its payload.
 *
 * Pure functions over byte buffers: no allocation, no I/O. The TCP engine calls pkt_parse on each
 * received frame and pkt_write_headers for each segment it emits.
 */
#ifndef SLUICE_NET_PACKET_H
#define SLUICE_NET_PACKET_H

#include <stdbool.h>
#include <stdint.h>

#define PKT_ETH_LEN      14
#define PKT_VLAN_LEN     4
#define PKT_IPV4_LEN     20
#define PKT_IPV6_LEN     40
#define PKT_TCP_LEN      20
#define PKT_TCP_OPTS_MAX 40
#define PKT_MAX_SACK     4

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

enum pkt_family { PKT_IPV4 = 4, PKT_IPV6 = 6 };

/* The connection a segment belongs to, seen from our side: l = local (server), r = remote. */
struct pkt_tuple {
    uint8_t laddr[16];
    uint8_t raddr[16];
    uint16_t lport;
    uint16_t rport;
    uint8_t family; /* enum pkt_family; IPv4 addresses in the first 4 bytes */
    uint8_t _pad[3];
};

struct tcp_opts {
    bool mss_present;
    bool ws_present;
    bool sack_permitted;
    bool ts_present;
    uint16_t mss;
    uint8_t wscale;
    uint8_t nsack;
    uint32_t tsval;
    uint32_t tsecr;
    uint32_t sack[PKT_MAX_SACK][2]; /* [start, end) sequence numbers */
};

/* Link-layer addressing to answer a frame with: learnt from what the peer sent us. */
struct pkt_link {
    uint8_t lmac[6];     /* ours */
    uint8_t rmac[6];     /* the peer's (or its router's) */
    uint16_t vlan_tci;   /* 0 when untagged */
    uint16_t vlan_proto; /* 0x8100 or 0x88a8, in host order; 0 when untagged */
};

struct pkt {
    struct pkt_tuple tuple;
    struct pkt_link link;
    uint32_t seq;
    uint32_t ack;
    uint16_t wnd;
    uint8_t flags;
    uint8_t tcp_hdr_len;
    struct tcp_opts opts;
    uint16_t payload_off; /* from the start of the frame data handed to pkt_parse */
    uint16_t payload_len;
};

/* Outcomes of pkt_parse; each one is a counter in the engine. */
#define PKT_PARSE_RESULTS(X)                                                                                 \
    X(PKT_OK, "valid TCP segment")                                                                           \
    X(PKT_NOT_IP, "not IPv4 or IPv6")                                                                        \
    X(PKT_NOT_TCP, "not TCP")                                                                                \
    X(PKT_TRUNCATED, "shorter than its headers claim")                                                       \
    X(PKT_BAD_HEADER, "invalid IP or TCP header field")                                                      \
    X(PKT_BAD_IP_CSUM, "IPv4 header checksum wrong")                                                         \
    X(PKT_BAD_TCP_CSUM, "TCP checksum wrong")                                                                \
    X(PKT_FRAGMENT, "IP fragment")                                                                           \
    X(PKT_IPV6_EXT, "IPv6 extension header")                                                                 \
    X(PKT_BAD_OPTIONS, "malformed TCP options")

enum pkt_result {
#define PKT_RESULT_ENUM(name, help) name,
    PKT_PARSE_RESULTS(PKT_RESULT_ENUM)
#undef PKT_RESULT_ENUM
        PKT_RESULT_COUNT
};

enum pkt_result pkt_parse(const uint8_t *data, uint32_t len, struct pkt *p);

/*
 * pkt_parse for a packet received in pieces: first bytes at data (every header among them), then
 * more bytes elsewhere whose csum_partial, as if they began at an even offset, is more_sum.
 * payload_len counts all of them; payload_off is in the first piece.
 */
enum pkt_result pkt_parse_chain(const uint8_t *data, uint32_t first, uint32_t more, uint32_t more_sum,
                                struct pkt *p);

/* Parse the TCP options area; false when it is malformed. */
bool pkt_parse_tcp_options(const uint8_t *opt, uint32_t len, struct tcp_opts *o);

/* What pkt_write_headers needs beyond the tuple and link. */
struct pkt_segment {
    uint32_t seq;
    uint32_t ack;
    uint16_t wnd;
    uint8_t flags;
    uint16_t ip_id;         /* IPv4 identification */
    const uint8_t *options; /* TCP options, already laid out, length a multiple of 4 */
    uint8_t options_len;
    uint32_t payload_len;
    uint32_t payload_sum; /* csum_partial of the payload */
    bool csum_offload;    /* the TCP checksum is left to the device: payload_sum is not needed */
};

/* Bytes of Ethernet + IP + TCP headers (without options) for a tuple and link. */
uint32_t pkt_headers_len(const struct pkt_tuple *t, const struct pkt_link *link);

/*
 * Write Ethernet, IP and TCP headers (with options and checksums) for a segment into hdr, which
 * is immediately followed by the payload. Returns the number of header bytes written. With
 * seg->csum_offload the TCP checksum field gets the pseudo-header's sum, for a device to finish
 * from the TCP header on (Linux's CHECKSUM_PARTIAL).
 */
uint32_t pkt_write_headers(uint8_t *hdr, const struct pkt_tuple *t, const struct pkt_link *link,
                           const struct pkt_segment *seg);

#endif
