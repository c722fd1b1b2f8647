/*
 * packet.c — header parsing and writing for Ethernet, IPv4, IPv6 and TCP (see packet.h).
 *
 * Every length field is checked against the bytes actually present before it is used; a frame
 * that fails any check is reported by its enum pkt_result and never half-parsed into use.
 */
#include "net/packet.h"

#include <string.h>

#include "net/checksum.h"

#define ETH_P_IPV4   0x0800
#define ETH_P_IPV6   0x86dd
#define ETH_P_8021Q  0x8100
#define ETH_P_8021AD 0x88a8
#define IPPROTO_TCP_ 6

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool pkt_parse_tcp_options(const uint8_t *opt, uint32_t len, struct tcp_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (uint32_t i = 0; i < len;) {
        uint8_t kind = opt[i], olen;

        if (kind == 0) /* end of option list */
            break;
        if (kind == 1) { /* no-operation */
            i++;
            continue;
        }
        if (i + 1 >= len)
            return false;
        olen = opt[i + 1];
        if (olen < 2 || i + olen > len)
            return false;
        switch (kind) {
        case 2:
            if (olen != 4)
                return false;
            o->mss_present = true;
            o->mss = get16(opt + i + 2);
            break;
        case 3:
            if (olen != 3)
                return false;
            o->ws_present = true;
            o->wscale = opt[i + 2] > 14 ? 14 : opt[i + 2]; /* RFC 7323 2.3: larger values are treated as 14 */
            break;
        case 4:
            if (olen != 2)
                return false;
            o->sack_permitted = true;
            break;
        case 5:
            if ((olen - 2) % 8 || olen < 10)
                return false;
            o->nsack = 0;
            for (uint32_t b = i + 2; b + 8 <= (uint32_t)i + olen && o->nsack < PKT_MAX_SACK; b += 8) {
                o->sack[o->nsack][0] = get32(opt + b);
                o->sack[o->nsack][1] = get32(opt + b + 4);
                o->nsack++;
            }
            break;
        case 8:
            if (olen != 10)
                return false;
            o->ts_present = true;
            o->tsval = get32(opt + i + 2);
            o->tsecr = get32(opt + i + 6);
            break;
        default: /* unknown options are skipped by their length (RFC 9293 3.1) */
            break;
        }
        i += olen;
    }
    return true;
}

static bool is_ipv6_extension(uint8_t next)
{
    switch (next) {
    case 0:
    case 43:
    case 44:
    case 50:
    case 51:
    case 60:
    case 135:
    case 139:
    case 140:
        return true;
    default:
        return false;
    }
}

enum pkt_result pkt_parse(const uint8_t *data, uint32_t len, struct pkt *p)
{
    return pkt_parse_chain(data, len, 0, 0, p);
}

enum pkt_result pkt_parse_chain(const uint8_t *data, uint32_t first, uint32_t more, uint32_t more_sum,
                                struct pkt *p)
{
    uint32_t l3, l4, l4_len, len = first + more;
    uint16_t ethertype;
    uint32_t sum;
    int addr_len;

    if (len < PKT_ETH_LEN)
        return PKT_TRUNCATED;
    memcpy(p->link.lmac, data, 6);
    memcpy(p->link.rmac, data + 6, 6);
    ethertype = get16(data + 12);
    l3 = PKT_ETH_LEN;
    p->link.vlan_tci = 0;
    p->link.vlan_proto = 0;
    if (ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD) {
        if (len < PKT_ETH_LEN + PKT_VLAN_LEN)
            return PKT_TRUNCATED;
        p->link.vlan_proto = ethertype;
        p->link.vlan_tci = get16(data + 14);
        ethertype = get16(data + 16);
        l3 += PKT_VLAN_LEN;
    }

    memset(&p->tuple, 0, sizeof(p->tuple));
    if (ethertype == ETH_P_IPV4) {
        const uint8_t *ip = data + l3;
        uint32_t ihl, tot_len;

        if (first < l3 + PKT_IPV4_LEN)
            return PKT_TRUNCATED;
        if (ip[0] >> 4 != 4)
            return PKT_BAD_HEADER;
        ihl = (uint32_t)(ip[0] & 0xf) * 4;
        tot_len = get16(ip + 2);
        if (ihl < PKT_IPV4_LEN || tot_len < ihl)
            return PKT_BAD_HEADER;
        if (len < l3 + tot_len || (more && len != l3 + tot_len) || first < l3 + ihl)
            return PKT_TRUNCATED; /* a chain ends where the packet does: no padding in pieces */
        if (csum_fold(csum_partial(ip, ihl, 0)) != 0xffff)
            return PKT_BAD_IP_CSUM;
        if (get16(ip + 6) & 0x3fff) /* MF or a fragment offset */
            return PKT_FRAGMENT;
        if (ip[9] != IPPROTO_TCP_)
            return PKT_NOT_TCP;
        p->tuple.family = PKT_IPV4;
        memcpy(p->tuple.raddr, ip + 12, 4);
        memcpy(p->tuple.laddr, ip + 16, 4);
        l4 = l3 + ihl;
        l4_len = tot_len - ihl;
        addr_len = 4;
    } else if (ethertype == ETH_P_IPV6) {
        const uint8_t *ip6 = data + l3;
        uint32_t payload_len;

        if (first < l3 + PKT_IPV6_LEN)
            return PKT_TRUNCATED;
        if (ip6[0] >> 4 != 6)
            return PKT_BAD_HEADER;
        payload_len = get16(ip6 + 4);
        if (len < l3 + PKT_IPV6_LEN + payload_len || (more && len != l3 + PKT_IPV6_LEN + payload_len))
            return PKT_TRUNCATED;
        if (ip6[6] != IPPROTO_TCP_)
            return is_ipv6_extension(ip6[6]) ? PKT_IPV6_EXT : PKT_NOT_TCP;
        p->tuple.family = PKT_IPV6;
        memcpy(p->tuple.raddr, ip6 + 8, 16);
        memcpy(p->tuple.laddr, ip6 + 24, 16);
        l4 = l3 + PKT_IPV6_LEN;
        l4_len = payload_len;
        addr_len = 16;
    } else {
        return PKT_NOT_IP;
    }

    {
        const uint8_t *th = data + l4;
        uint32_t doff;

        if (l4_len < PKT_TCP_LEN || first < l4 + PKT_TCP_LEN)
            return PKT_TRUNCATED;
        doff = (uint32_t)(th[12] >> 4) * 4;
        if (doff < PKT_TCP_LEN || doff > l4_len)
            return PKT_BAD_HEADER;
        if (first < l4 + doff)
            return PKT_TRUNCATED; /* the headers of a chain are all in its first piece */
        sum = csum_pseudo(p->tuple.raddr, p->tuple.laddr, addr_len, IPPROTO_TCP_, l4_len);
        if (!more)
            sum = csum_partial(th, l4_len, sum);
        else
            sum = csum_fold(csum_partial(th, first - l4, sum)) + csum_at(more_sum, first - l4);
        if (csum_fold(sum) != 0xffff)
            return PKT_BAD_TCP_CSUM;
        p->tuple.rport = get16(th);
        p->tuple.lport = get16(th + 2);
        p->seq = get32(th + 4);
        p->ack = get32(th + 8);
        p->flags = th[13];
        p->wnd = get16(th + 14);
        p->tcp_hdr_len = (uint8_t)doff;
        if (!pkt_parse_tcp_options(th + PKT_TCP_LEN, doff - PKT_TCP_LEN, &p->opts))
            return PKT_BAD_OPTIONS;
        p->payload_off = (uint16_t)(l4 + doff);
        p->payload_len = (uint16_t)(l4_len - doff);
    }
    return PKT_OK;
}

uint32_t pkt_headers_len(const struct pkt_tuple *t, const struct pkt_link *link)
{
    return PKT_ETH_LEN + (link->vlan_proto ? PKT_VLAN_LEN : 0) +
           (t->family == PKT_IPV6 ? PKT_IPV6_LEN : PKT_IPV4_LEN) + PKT_TCP_LEN;
}

uint32_t pkt_write_headers(uint8_t *hdr, const struct pkt_tuple *t, const struct pkt_link *link,
                           const struct pkt_segment *seg)
{
    uint32_t tcp_len = PKT_TCP_LEN + seg->options_len + seg->payload_len;
    int addr_len = t->family == PKT_IPV6 ? 16 : 4;
    uint8_t *p = hdr, *th;
    uint32_t sum;

    memcpy(p, link->rmac, 6);
    memcpy(p + 6, link->lmac, 6);
    p += 12;
    if (link->vlan_proto) {
        put16(p, link->vlan_proto);
        put16(p + 2, link->vlan_tci);
        p += 4;
    }
    put16(p, t->family == PKT_IPV6 ? ETH_P_IPV6 : ETH_P_IPV4);
    p += 2;

    if (t->family == PKT_IPV6) {
        put32(p, 0x60000000u);
        put16(p + 4, (uint16_t)tcp_len);
        p[6] = IPPROTO_TCP_;
        p[7] = 64;
        memcpy(p + 8, t->laddr, 16);
        memcpy(p + 24, t->raddr, 16);
        p += PKT_IPV6_LEN;
    } else {
        p[0] = 0x45;
        p[1] = 0;
        put16(p + 2, (uint16_t)(PKT_IPV4_LEN + tcp_len));
        put16(p + 4, seg->ip_id);
        put16(p + 6, 0x4000); /* don't fragment */
        p[8] = 64;
        p[9] = IPPROTO_TCP_;
        put16(p + 10, 0);
        memcpy(p + 12, t->laddr, 4);
        memcpy(p + 16, t->raddr, 4);
        put16(p + 10, csum_finish(csum_partial(p, PKT_IPV4_LEN, 0)));
        p += PKT_IPV4_LEN;
    }

    th = p;
    put16(th, t->lport);
    put16(th + 2, t->rport);
    put32(th + 4, seg->seq);
    put32(th + 8, seg->ack);
    th[12] = (uint8_t)((PKT_TCP_LEN + seg->options_len) / 4) << 4;
    th[13] = seg->flags;
    put16(th + 14, seg->wnd);
    put32(th + 16, 0); /* checksum and urgent pointer */
    if (seg->options_len)
        memcpy(th + PKT_TCP_LEN, seg->options, seg->options_len);
    sum = csum_pseudo(t->laddr, t->raddr, addr_len, IPPROTO_TCP_, tcp_len);
    if (seg->csum_offload) { /* the pseudo-header's sum: the device adds the rest (CHECKSUM_PARTIAL) */
        put16(th + 16, csum_fold(sum));
        return (uint32_t)(th - hdr) + PKT_TCP_LEN + seg->options_len;
    }
    sum = csum_partial(th, PKT_TCP_LEN + seg->options_len, sum);
    sum = csum_fold(sum) + csum_fold(seg->payload_sum);
    put16(th + 16, csum_finish(sum));
    return (uint32_t)(th - hdr) + PKT_TCP_LEN + seg->options_len;
}
