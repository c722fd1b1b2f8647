/*
 * steer.bpf.c — the XDP steering program: first stop of every packet on a sluice interface.
 *
 * It parses Ethernet (one optional 802.1Q/802.1ad tag), IPv4 (options allowed) or IPv6, and TCP,
 * and decides, in this order:
 *   - not TCP to a configured service            -> XDP_PASS: the kernel keeps ARP, ICMP, SSH, ...
 *   - a flow entry whose owner is live           -> redirect to the owner's AF_XDP socket on the
 *                                                   packet's receive queue (xsks: (queue, worker))
 *   - a SYN without a flow                       -> the less loaded of the two best rendezvous-
 *                                                   hashed live, not overloaded workers; insert
 *                                                   the flow, redirect; every one overloaded: drop
 *     past that worker's published half-open threshold, or for a SERVICE_F_SYNCOOKIE service:
 *                                                -> a SYN cookie SYN-ACK built in the frame, XDP_TX
 *   - an ACK without a flow while cookies may be out -> the cookie checked: valid, the flow is
 *                                                   inserted and the ACK redirected with metadata;
 *                                                   invalid, dropped (see "SYN cookies" below)
 *   - anything else without a flow               -> redirect to the hashed worker, which resets it
 * A new flow's SYN is first counted against its source when max_conns_per_source is set (`meta`),
 * and dropped when the source is at the cap (source_admit; see `sources` in maps/sluice_maps.h).
 * For a steering service (SERVICE_F_STEER) the flow starts in FLOW_AWAIT_PREFIX: the first payload
 * bytes (HTTP/2 :path, HTTP/1.1 request-target or TLS SNI, parsed by prefix_step below) are looked
 * up in `routes` and decide the flow's target worker. The owner (`worker`) is never changed here:
 * user space moves the connection and rewrites it. Every frame of the flow carries struct
 * sluice_xdp_meta while it awaits its route (the owner holds the connection back) and while its
 * target differs from its owner (see maps/sluice_maps.h, "The hand-off contract").
 * A service packet is never passed to the kernel: the kernel has no socket for it and would reset
 * a connection the server owns, so when no worker or no socket is there the packet is dropped.
 * Every packet ends in exactly one verdict counter of `stats`. The entry, sluice_steer, is two steps:
 * steer_parse (L2-L4 into struct steer_pkt, passing what is not TCP) and steer_decide (the above).
 *
 * It must stay cheap (one flow lookup on the established path) and never trust a length field
 * without a bounds check against data_end. The prefix parser runs once per connection (a few
 * segments at most), copies the segment into a per-CPU buffer with bpf_xdp_load_bytes and reads it
 * through masked offsets, so every access is in bounds whatever the lengths in the bytes claim;
 * malformed input only ends in a counter and the default route.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps/sluice_maps.h"
#include "maps/flow_hash.h"
#include "bpf/xsks_map.bpf.h"
#include "bpf/flows_map.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SLUICE_MAX_SERVICES);
    __type(key, struct service_key);
    __type(value, struct service_value);
} services SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, SLUICE_MAX_ROUTES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct route_key);
    __type(value, struct route_value);
} routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLUICE_MAX_WORKERS);
    __type(key, __u32);
    __type(value, struct worker_state);
} workers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sluice_stats);
} stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sluice_meta);
} meta SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SLUICE_MAX_ROUTES);
    __type(key, __u32);
    __type(value, struct route_counters);
} route_stats SEC(".maps");

/*
 * The prefix parser's per-CPU working memory: one segment's bytes and the route key built from
 * them. Private to the program (the agent does not pin it); too large for the 512-byte stack.
 */
#define PREFIX_BUF_MASK (SLUICE_PREFIX_MAX_BYTES - 1)
_Static_assert((SLUICE_PREFIX_MAX_BYTES & PREFIX_BUF_MASK) == 0, "SLUICE_PREFIX_MAX_BYTES: a power of two");

struct prefix_scratch {
    __u8 buf[SLUICE_PREFIX_MAX_BYTES];
    struct route_key key;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct prefix_scratch);
} prefix_scratch SEC(".maps");

static __always_inline int worker_is_live(__u32 worker)
{
    struct worker_state *ws = bpf_map_lookup_elem(&workers, &worker);

    return ws && ws->live;
}

/*
 * The choice of a worker among those of a mask (every worker for a new flow, a route's group for a
 * decision): power of two choices over rendezvous hashing. The scan keeps the two live, not
 * overloaded workers with the highest rendezvous scores for the 4-tuple (the hash's first and
 * second choice) and the best-scored live one whatever its overload; pick_choose then gives the
 * connection to the second choice only when it is clearly less loaded (the load each worker
 * publishes in `workers`: busy share, then queue, then open connections), so an idle system keeps
 * the pure hash's placement and a busy worker's share of new connections goes to its neighbours.
 * Overloaded workers are skipped so that XDP sheds new connections before user space spends a
 * cycle on them. The scan runs under bpf_loop so the verifier checks one iteration instead of
 * unrolling 64 of them.
 */
struct pick_cand {
    __u32 worker;
    __u32 score;
    __u32 busy_pct;
    __u32 queue;
    __u32 conns;
    __u32 _pad;
};

struct pick {
    __u64 mask;     /* workers eligible */
    __u64 stale_ns; /* heartbeats older than this (bpf_ktime_get_ns, CLOCK_MONOTONIC) are stale */
    __u32 hash;
    __u32 ncand;      /* candidates in cand[]: live, not overloaded; cand[0] scores highest */
    __u32 nlive;      /* live workers of the mask, overloaded or not */
    __u32 any_worker; /* the best-scored of those */
    __u32 any_score;
    __u32 cookie_armed; /* some live worker publishes a syncookie_half_open: cookies may be out */
    struct pick_cand cand[2];
};

/*
 * Loads closer than these bands are equal, so that noise does not move placements off the hash:
 * busy shares are a 100 ms window's, published up to 100 ms ago; connection counts differ by
 * chance. Queues (requests waiting) are compared exactly: any wait is a worker behind its work.
 */
#define PICK_BUSY_BAND  10 /* percentage points */
#define PICK_CONNS_BAND 4  /* connections, plus a quarter of the lower count */

static long pick_consider(__u32 index, void *ctx)
{
    struct pick *p = ctx;
    struct worker_state *ws;
    struct pick_cand c;

    if (!(p->mask & (1ull << (index & 63))))
        return 0;
    ws = bpf_map_lookup_elem(&workers, &index);
    if (!ws || !ws->live)
        return 0;
    c.worker = index;
    c.score = flow_hash_score(p->hash, index);
    if (ws->syncookie_half_open)
        p->cookie_armed = 1;
    if (!p->nlive++ || c.score > p->any_score) {
        p->any_worker = index;
        p->any_score = c.score;
    }
    if (ws->overload)
        return 0;
    /* a worker blocked in a handler publishes nothing: its silence is its load */
    c.busy_pct = ws->heartbeat_ns && ws->heartbeat_ns < p->stale_ns ? 100 : ws->busy_pct;
    c.queue = ws->queue;
    c.conns = ws->load;
    c._pad = 0;
    if (!p->ncand || c.score > p->cand[0].score) {
        p->cand[1] = p->cand[0];
        p->cand[0] = c;
    } else if (p->ncand == 1 || c.score > p->cand[1].score) {
        p->cand[1] = c;
    }
    if (p->ncand < 2)
        p->ncand++;
    return 0;
}

static __always_inline __u64 pick_stale_ns(void)
{
    __u64 now = bpf_ktime_get_ns();

    return now > SLUICE_STALE_MS * 1000000ull ? now - SLUICE_STALE_MS * 1000000ull : 0;
}

/* a is clearly less loaded than b: by busy share, then queue, then open connections. */
static __always_inline int pick_less_loaded(const struct pick_cand *a, const struct pick_cand *b)
{
    if (a->busy_pct + PICK_BUSY_BAND <= b->busy_pct)
        return 1;
    if (b->busy_pct + PICK_BUSY_BAND <= a->busy_pct)
        return 0;
    if (a->queue != b->queue)
        return a->queue < b->queue;
    return b->conns > a->conns + a->conns / 4 + PICK_CONNS_BAND;
}

/* Of the two best-scored candidates (ncand > 0), the less loaded; the first on a tie. */
static __always_inline __u32 pick_choose(const struct pick *p, struct sluice_stats *st)
{
    if (p->ncand > 1 && pick_less_loaded(&p->cand[1], &p->cand[0])) {
        st->steer_least_loaded++;
        return p->cand[1].worker;
    }
    return p->cand[0].worker;
}

/* To worker's socket on the queue the packet arrived on: the kernel takes it on no other. */
static __always_inline int redirect_to(struct xdp_md *ctx, __u32 worker, struct sluice_stats *st,
                                       __u64 *verdict)
{
    __u32 queue = ctx->rx_queue_index;

    if (queue >= SLUICE_MAX_QUEUES || worker >= SLUICE_MAX_WORKERS ||
        bpf_redirect_map(&xsks, SLUICE_XSKS_KEY(queue, worker), XDP_DROP) != XDP_REDIRECT) {
        st->drop_no_socket++;
        return XDP_DROP;
    }
    (*verdict)++;
    st->redirect_by_worker[worker & (SLUICE_MAX_WORKERS - 1)]++;
    return XDP_REDIRECT;
}

static __always_inline struct service_value *find_service(struct service_key *sk)
{
    struct service_value *sv = bpf_map_lookup_elem(&services, sk);

    if (sv)
        return sv;
    __builtin_memset(sk->addr, 0, sizeof(sk->addr));
    return bpf_map_lookup_elem(&services, sk);
}

/* ---- the L2-L4 parse --------------------------------------------------------------------------- */

struct vlan_tag {
    __be16 tci;
    __be16 encapsulated_proto;
};

#define IP_MF     0x2000
#define IP_OFFSET 0x1fff

/*
 * What the decision needs of a frame's TCP segment. Only th's fixed header is known to be in
 * bounds: its options (doff) are checked once the segment is known to be a service's.
 */
struct steer_pkt {
    struct flow_key fk; /* the flows key: family, addresses, ports in host order */
    struct tcphdr *th;
    __u32 l4_len; /* TCP header and payload as the IP header claims, not checked against data_end */
    __u32 l3_off; /* where the IP header starts in the frame */
};

/* L2-L4 into *pkt: 1. Else 0: the frame is the kernel's, its pass reason counted here, once. */
static __always_inline int steer_parse(struct xdp_md *ctx, struct steer_pkt *pkt, struct sluice_stats *st)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct tcphdr *th;
    __be16 proto;
    void *l3;

    if ((void *)(eth + 1) > data_end)
        goto malformed;
    if (eth->h_dest[0] & 1) { /* a group address: also what tells user space a frame has a prefix */
        st->pass_not_unicast++;
        return 0;
    }
    proto = eth->h_proto;
    l3 = eth + 1;
    if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
        struct vlan_tag *tag = l3;

        if ((void *)(tag + 1) > data_end)
            goto malformed;
        st->vlan_tagged++;
        proto = tag->encapsulated_proto;
        l3 = tag + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = l3;
        __u32 ihl, tot_len;

        if ((void *)(ip + 1) > data_end || ip->version != 4)
            goto malformed;
        ihl = ip->ihl * 4;
        if (ihl < sizeof(*ip))
            goto malformed;
        if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
            st->pass_fragment++;
            return 0;
        }
        if (ip->protocol != IPPROTO_TCP)
            goto not_tcp;
        th = l3 + ihl;
        tot_len = bpf_ntohs(ip->tot_len);
        pkt->l4_len = tot_len > ihl ? tot_len - ihl : 0;
        pkt->fk.family = SLUICE_IPV4;
        __builtin_memcpy(pkt->fk.saddr, &ip->saddr, 4);
        __builtin_memcpy(pkt->fk.daddr, &ip->daddr, 4);
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = l3;

        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            goto malformed;
        if (ip6->nexthdr != IPPROTO_TCP) {
            switch (ip6->nexthdr) {
            case IPPROTO_HOPOPTS:
            case IPPROTO_ROUTING:
            case IPPROTO_FRAGMENT:
            case IPPROTO_DSTOPTS:
            case IPPROTO_AH:
            case IPPROTO_ESP:
            case IPPROTO_MH:
            case 139: /* HIP */
            case 140: /* Shim6 */
                st->pass_ipv6_ext++;
                return 0;
            }
            goto not_tcp;
        }
        th = (void *)(ip6 + 1);
        pkt->l4_len = bpf_ntohs(ip6->payload_len);
        pkt->fk.family = SLUICE_IPV6;
        __builtin_memcpy(pkt->fk.saddr, &ip6->saddr, 16);
        __builtin_memcpy(pkt->fk.daddr, &ip6->daddr, 16);
    } else {
        st->pass_not_ip++;
        return 0;
    }

    if ((void *)(th + 1) > data_end)
        goto malformed;
    pkt->l3_off = (__u32)(l3 - data);
    pkt->th = th;
    pkt->fk.sport = bpf_ntohs(th->source);
    pkt->fk.dport = bpf_ntohs(th->dest);
    return 1;

malformed:
    st->pass_malformed++;
    return 0;
not_tcp:
    st->pass_not_tcp++;
    return 0;
}

/* ---- stream-prefix parser ----------------------------------------------------------------------
 *
 * A state machine over the connection's first bytes, run one unit (preface, frame header, HPACK
 * field, TLS extension, request line) per bpf_loop step. Each unit is a global function, which the
 * verifier checks once on its own instead of once per path that reaches it (inlined, the steps
 * exceeded the verifier's budget). Between segments the parser's place is kept in the flow entry
 * (prefix_*); the phases below PREFIX_TLS_EXT only live within one segment: a key is never
 * assembled from two segments (one cut by a boundary takes the default route, counted).
 */
enum {
    PREFIX_H2_HEADERS = 16, /* walking the first HEADERS frame's HPACK block */
    PREFIX_TLS_HELLO = 17,  /* the ClientHello up to its extensions */
    PREFIX_HTTP1 = 18,      /* an HTTP/1.1 request line */
};

enum prefix_outcome { PX_RUN = 0, PX_MORE, PX_KEY, PX_FAIL };
enum prefix_reason { PR_NO_KEY = 1, PR_DYNAMIC, PR_MALFORMED, PR_TOO_LONG, PR_CUT };

#define PREFIX_STEPS     64 /* units per segment: 64 tiny SETTINGS frames are hostile, not HTTP/2 */
#define H2_PREFACE_LEN   24
#define H2_FRAME_HEADER  9
#define H2_HEADERS       0x1
#define H2_F_END_HEADERS 0x4
#define H2_F_PADDED      0x8
#define H2_F_PRIORITY    0x20
#define HPACK_STATIC_MAX 61          /* RFC 7541 Appendix A */
#define TLS_LEFT_CUT     0x80000000u /* prefix_left flag: the ClientHello continues past its record */

/*
 * Byte k of the client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", from three little-endian words:
 * computed, not read from a .rodata array the compiler would place in a constant pool.
 */
static __always_inline __u32 h2_preface_byte(__u32 k)
{
    __u64 w = k < 8 ? 0x5448202a20495250ull : k < 16 ? 0x0a0d302e322f5054ull : 0x0a0d0a0d4d530a0dull;

    return (__u32)(w >> (8 * (k & 7))) & 0xff;
}

struct prefix_parse {
    __u32 pos;         /* next byte of buf to read */
    __u32 end;         /* bytes of this segment in buf */
    __u32 clipped;     /* the segment has bytes past end: the byte bound is reached */
    __u32 base;        /* stream offset of buf[0] */
    __u32 phase;       /* enum prefix_phase or the in-segment phases above */
    __u32 skip;        /* as flow_value.prefix_skip */
    __u32 left;        /* as flow_value.prefix_left */
    __u32 outcome;     /* enum prefix_outcome */
    __u32 reason;      /* enum prefix_reason, for PX_FAIL */
    __u32 keylen;      /* bytes of key->prefix, for PX_KEY */
    __u32 block_end;   /* HEADERS: offset in buf where the header block ends (may be past end) */
    __u32 block_flags; /* HEADERS: the frame's flags */
    __u32 inserted;    /* HEADERS: dynamic-table entries the block added so far */
};

/*
 * Reads are masked into the buffer, so no offset a packet claims can leave it; bytes past `end`
 * are stale (an earlier segment's), so every unit compares with end before it trusts a byte.
 */
static __always_inline __u32 rd8(const __u8 *buf, __u32 off)
{
    return buf[off & PREFIX_BUF_MASK];
}

static __always_inline __u32 rd16(const __u8 *buf, __u32 off)
{
    return rd8(buf, off) << 8 | rd8(buf, off + 1);
}

static __always_inline long px_fail(struct prefix_parse *pp, __u32 reason)
{
    pp->outcome = PX_FAIL;
    pp->reason = reason;
    return 1;
}

/* The bytes needed run past what this segment gave us. */
static __always_inline long px_short(struct prefix_parse *pp)
{
    return px_fail(pp, pp->clipped ? PR_TOO_LONG : PR_CUT);
}

/* This segment is used up at a unit boundary: wait for the next one. */
static __always_inline long px_more(struct prefix_parse *pp)
{
    if (pp->clipped)
        return px_fail(pp, PR_TOO_LONG);
    pp->outcome = PX_MORE;
    return 1;
}

static __always_inline long px_key(struct prefix_parse *pp, struct route_key *key, __u32 kind, __u32 len)
{
    key->kind = kind;
    key->prefixlen = ROUTE_KEY_PREFIXLEN(len);
    pp->keylen = len;
    pp->outcome = PX_KEY;
    return 1;
}

/* Copy up to SLUICE_ROUTE_PREFIX_MAX bytes at pos into the key; longer keys are cut (LPM still works). */
static __always_inline __u32 copy_key(const __u8 *buf, __u32 pos, __u32 len, struct route_key *key, int lower)
{
    __u32 n = len < SLUICE_ROUTE_PREFIX_MAX ? len : SLUICE_ROUTE_PREFIX_MAX;

    for (__u32 i = 0; i < SLUICE_ROUTE_PREFIX_MAX; i++) {
        __u8 c;

        if (i >= n)
            break;
        c = (__u8)rd8(buf, pos + i);
        if (lower && c >= 'A' && c <= 'Z')
            c |= 0x20;
        key->prefix[i] = (char)c;
    }
    return n;
}

/*
 * Skip bytes owed from a previous unit (a frame's or an extension's payload). Returns 1 when the
 * segment ends first (outcome set), 0 when the skip is done.
 */
static __always_inline int px_skip(struct prefix_parse *pp)
{
    __u32 avail = pp->end - pp->pos, n = pp->skip < avail ? pp->skip : avail;

    pp->pos += n;
    pp->skip -= n;
    if (pp->skip) {
        px_more(pp);
        return 1;
    }
    return 0;
}

/* Skipping len more bytes from pos must stay within the byte bound. */
static __always_inline int px_skip_fits(const struct prefix_parse *pp, __u32 len)
{
    return (__u64)pp->base + pp->pos + len <= SLUICE_PREFIX_MAX_BYTES;
}

/* RFC 7541 5.1 integer with an N-bit prefix (mask = 2^N - 1); at most 4 continuation bytes. */
enum { HPACK_INT_OK = 0, HPACK_INT_SHORT, HPACK_INT_HUGE };

static __always_inline int hpack_int(const __u8 *buf, __u32 *pos, __u32 lim, __u32 mask, __u32 *out)
{
    __u32 p = *pos, v, b;

    if (p >= lim)
        return HPACK_INT_SHORT;
    v = rd8(buf, p++) & mask;
    if (v == mask) {
        for (__u32 i = 0; i < 5; i++) {
            if (i == 4)
                return HPACK_INT_HUGE; /* > 2^28: no header block of ours is that long */
            if (p >= lim)
                return HPACK_INT_SHORT;
            b = rd8(buf, p++);
            v += (b & 0x7f) << (7 * i);
            if (!(b & 0x80))
                break;
        }
    }
    *pos = p;
    *out = v;
    return HPACK_INT_OK;
}

/* Ran out of block bytes: cut by the segment, by a CONTINUATION frame, or a field past its block. */
static __always_inline long hpack_short(struct prefix_parse *pp)
{
    if (pp->block_end > pp->end)
        return px_short(pp);
    if (!(pp->block_flags & H2_F_END_HEADERS))
        return px_fail(pp, PR_CUT);
    return px_fail(pp, PR_MALFORMED);
}

static __always_inline long hpack_int_fail(struct prefix_parse *pp, int r)
{
    return r == HPACK_INT_SHORT ? hpack_short(pp) : px_fail(pp, PR_MALFORMED);
}

/* A literal header name equal to ":path", raw or Huffman-coded (0xb9 0x58 0xd3 0x3f). */
static __always_inline int hpack_name_is_path(const __u8 *buf, __u32 pos, __u32 len, int huffman)
{
    if (huffman)
        return len == 4 && rd8(buf, pos) == 0xb9 && rd8(buf, pos + 1) == 0x58 && rd8(buf, pos + 2) == 0xd3 &&
               rd8(buf, pos + 3) == 0x3f;
    return len == 5 && rd8(buf, pos) == ':' && rd8(buf, pos + 1) == 'p' && rd8(buf, pos + 2) == 'a' &&
           rd8(buf, pos + 3) == 't' && rd8(buf, pos + 4) == 'h';
}

/*
 * One HPACK field representation (RFC 7541 6). The first HEADERS block of a connection is also
 * the first input of its decoder, so the dynamic table holds only what this block inserted before:
 * a reference within that count is an earlier field of this block (not :path: we stop at the
 * first), a reference past it cannot be resolved and takes the default route.
 */
__noinline long prefix_h2_field(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    struct route_key *key;
    __u32 lim, pos, first, idx, len;
    int r, incremental, is_path = 0, huffman;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    key = &sc->key;
    lim = pp->block_end < pp->end ? pp->block_end : pp->end;
    pos = pp->pos;
    if (pos >= pp->block_end)
        return px_fail(pp, (pp->block_flags & H2_F_END_HEADERS) ? PR_NO_KEY : PR_CUT);
    if (pos >= lim)
        return hpack_short(pp);
    first = rd8(buf, pos);
    if (first & 0x80) { /* indexed field */
        r = hpack_int(buf, &pos, lim, 0x7f, &idx);
        if (r)
            return hpack_int_fail(pp, r);
        if (idx == 4) {
            key->prefix[0] = '/';
            return px_key(pp, key, ROUTE_PATH, 1);
        }
        if (idx == 5) {
            __builtin_memcpy(key->prefix, "/index.html", 11);
            return px_key(pp, key, ROUTE_PATH, 11);
        }
        if (idx == 0)
            return px_fail(pp, PR_MALFORMED);
        if (idx > HPACK_STATIC_MAX + pp->inserted)
            return px_fail(pp, PR_DYNAMIC);
        pp->pos = pos;
        return 0;
    }
    if ((first & 0xe0) == 0x20) { /* dynamic table size update */
        r = hpack_int(buf, &pos, lim, 0x1f, &idx);
        if (r)
            return hpack_int_fail(pp, r);
        pp->pos = pos;
        return 0;
    }
    /* literal: with incremental indexing (01), without (0000) or never indexed (0001) */
    incremental = (first & 0xc0) == 0x40;
    r = hpack_int(buf, &pos, lim, incremental ? 0x3f : 0x0f, &idx);
    if (r)
        return hpack_int_fail(pp, r);
    if (idx == 0) {
        if (pos >= lim)
            return hpack_short(pp);
        huffman = rd8(buf, pos) & 0x80;
        r = hpack_int(buf, &pos, lim, 0x7f, &len);
        if (r)
            return hpack_int_fail(pp, r);
        if (pos + len > lim)
            return hpack_short(pp);
        is_path = hpack_name_is_path(buf, pos, len, huffman);
        pos += len;
    } else if (idx == 4 || idx == 5) {
        is_path = 1;
    } else if (idx > HPACK_STATIC_MAX + pp->inserted) {
        return px_fail(pp, PR_DYNAMIC);
    }
    if (pos >= lim)
        return hpack_short(pp);
    huffman = rd8(buf, pos) & 0x80;
    r = hpack_int(buf, &pos, lim, 0x7f, &len);
    if (r)
        return hpack_int_fail(pp, r);
    if (is_path) {
        __u32 n = len < SLUICE_ROUTE_PREFIX_MAX ? len : SLUICE_ROUTE_PREFIX_MAX;

        if (pos + len > pp->block_end && pp->block_end <= pp->end)
            return hpack_short(pp);
        if (pos + n > lim)
            return hpack_short(pp);
        if (len == 0)
            return px_fail(pp, PR_MALFORMED);
        n = copy_key(buf, pos, n, key, 0);
        return px_key(pp, key, huffman ? ROUTE_PATH_HUFFMAN : ROUTE_PATH, n);
    }
    if (pos + len > lim)
        return hpack_short(pp);
    pp->pos = pos + len;
    if (incremental)
        pp->inserted++;
    return 0;
}

/* At an HTTP/2 frame boundary: skip what the stream allows before HEADERS, then enter HEADERS. */
__noinline long prefix_h2_frame(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    __u32 len, type, flags, pos, start, pad = 0, fixed = 0;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    if (pp->skip && px_skip(pp))
        return 1;
    if (pp->pos >= pp->end)
        return px_more(pp);
    if (pp->pos + H2_FRAME_HEADER > pp->end)
        return px_short(pp);
    pos = pp->pos;
    len = rd8(buf, pos) << 16 | rd8(buf, pos + 1) << 8 | rd8(buf, pos + 2);
    type = rd8(buf, pos + 3);
    flags = rd8(buf, pos + 4);
    pos += H2_FRAME_HEADER;
    switch (type) {
    case H2_HEADERS:
        start = pos;
        if (flags & H2_F_PADDED) {
            if (pos >= pp->end)
                return px_short(pp);
            pad = rd8(buf, pos);
            fixed = 1;
        }
        if (flags & H2_F_PRIORITY)
            fixed += 5;
        if (fixed + pad > len)
            return px_fail(pp, PR_MALFORMED); /* padding larger than the frame */
        pp->pos = start + fixed;
        pp->block_end = start + len - pad;
        pp->block_flags = flags;
        pp->inserted = 0;
        pp->phase = PREFIX_H2_HEADERS;
        if (pp->pos > pp->end)
            return px_short(pp);
        return 0;
    case 0x2: /* PRIORITY */
    case 0x4: /* SETTINGS */
    case 0x6: /* PING */
    case 0x8: /* WINDOW_UPDATE */
        break;
    default:
        if (type < 0xa) /* DATA, RST_STREAM, PUSH_PROMISE, GOAWAY, CONTINUATION before HEADERS */
            return px_fail(pp, PR_MALFORMED);
        break; /* extension frames are ignored (RFC 9113 5.5) */
    }
    pp->pos = pos;
    if (!px_skip_fits(pp, len))
        return px_fail(pp, PR_TOO_LONG);
    pp->skip = len;
    return 0;
}

/* Match the 24-byte client preface, possibly across segments (prefix_skip bytes matched so far). */
__noinline long prefix_h2_preface(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    __u32 matched, avail, n;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    matched = pp->skip;
    avail = pp->end - pp->pos;
    if (matched >= H2_PREFACE_LEN)
        return px_fail(pp, PR_MALFORMED);
    n = H2_PREFACE_LEN - matched;
    if (n > avail)
        n = avail;
    for (__u32 i = 0; i < H2_PREFACE_LEN; i++) {
        if (i >= n)
            break;
        if (rd8(buf, pp->pos + i) != h2_preface_byte(matched + i))
            return px_fail(pp, PR_MALFORMED);
    }
    pp->pos += n;
    pp->skip = matched + n;
    if (pp->skip < H2_PREFACE_LEN)
        return px_more(pp);
    pp->skip = 0;
    pp->phase = PREFIX_H2_FRAME;
    return 0;
}

/* RFC 8446 4.1.2: record and handshake headers, then random, session id, suites, compression. */
__noinline long prefix_tls_hello(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    __u32 pos, record_end, ext_len, n;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    pos = pp->pos;
    if (pos + 5 + 4 + 2 + 32 + 1 > pp->end)
        return px_short(pp);
    if (rd8(buf, pos) != 0x16 || rd8(buf, pos + 1) != 3 || rd8(buf, pos + 5) != 1)
        return px_fail(pp, PR_MALFORMED);
    record_end = pos + 5 + rd16(buf, pos + 3);
    pos += 5 + 4 + 2 + 32;
    n = rd8(buf, pos); /* session id */
    if (n > 32)
        return px_fail(pp, PR_MALFORMED);
    pos += 1 + n;
    if (pos + 2 > pp->end)
        return px_short(pp);
    n = rd16(buf, pos); /* cipher suites */
    if (n == 0 || (n & 1))
        return px_fail(pp, PR_MALFORMED);
    pos += 2 + n;
    if (pos + 1 > pp->end)
        return px_short(pp);
    pos += 1 + rd8(buf, pos); /* compression methods */
    if (pos + 2 > pp->end)
        return pos + 2 > record_end ? px_fail(pp, PR_NO_KEY) : px_short(pp);
    ext_len = rd16(buf, pos);
    pos += 2;
    if (pos > record_end)
        return px_fail(pp, PR_MALFORMED);
    pp->left = ext_len;
    if (pos + ext_len > record_end)
        pp->left = (record_end - pos) | TLS_LEFT_CUT; /* walk the first record only */
    pp->pos = pos;
    pp->skip = 0;
    pp->phase = PREFIX_TLS_EXT;
    return 0;
}

/* One ClientHello extension: server_name (RFC 6066 3) gives the key, others are skipped. */
__noinline long prefix_tls_ext(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    struct route_key *key;
    __u32 left, pos, type, len, name_len;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    key = &sc->key;
    if (pp->skip && px_skip(pp))
        return 1;
    left = pp->left & ~TLS_LEFT_CUT;
    if (left == 0)
        return px_fail(pp, (pp->left & TLS_LEFT_CUT) ? PR_CUT : PR_NO_KEY);
    if (pp->pos >= pp->end)
        return px_more(pp);
    if (pp->pos + 4 > pp->end)
        return px_short(pp);
    pos = pp->pos;
    type = rd16(buf, pos);
    len = rd16(buf, pos + 2);
    pos += 4;
    if (left < 4 || len > left - 4)
        return px_fail(pp, PR_MALFORMED);
    left -= 4 + len;
    if (type == 0) {
        if (len < 5 || pos + 5 > pp->end)
            return len < 5 ? px_fail(pp, PR_MALFORMED) : px_short(pp);
        name_len = rd16(buf, pos + 3);
        if (rd8(buf, pos + 2) != 0 || name_len == 0 || name_len > len - 5)
            return px_fail(pp, PR_MALFORMED);
        pos += 5;
        if (pos + (name_len < SLUICE_ROUTE_PREFIX_MAX ? name_len : SLUICE_ROUTE_PREFIX_MAX) > pp->end)
            return px_short(pp);
        return px_key(pp, key, ROUTE_SNI, copy_key(buf, pos, name_len, key, 1));
    }
    pp->pos = pos;
    pp->left = left | (pp->left & TLS_LEFT_CUT);
    if (!px_skip_fits(pp, len))
        return px_fail(pp, PR_TOO_LONG);
    pp->skip = len;
    return 0;
}

/* "METHOD SP request-target SP": the target up to SLUICE_ROUTE_PREFIX_MAX bytes is the key. */
__noinline long prefix_http1(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    struct route_key *key;
    __u32 pos, i, c, n = 0;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    key = &sc->key;
    pos = pp->pos;
    for (i = 0; i < 17; i++) {
        if (pos + i >= pp->end)
            return px_short(pp);
        c = rd8(buf, pos + i);
        if (c == ' ')
            break;
        if (c < 'A' || c > 'Z' || i == 16)
            return px_fail(pp, PR_MALFORMED);
    }
    if (i == 0)
        return px_fail(pp, PR_MALFORMED);
    pos += i + 1;
    for (i = 0; i < SLUICE_ROUTE_PREFIX_MAX; i++) {
        if (pos + i >= pp->end)
            return px_short(pp);
        c = rd8(buf, pos + i);
        if (c == ' ')
            break;
        if (c < 0x21 || c == 0x7f)
            return px_fail(pp, PR_MALFORMED);
        key->prefix[i] = (char)c;
        n = i + 1;
    }
    if (n == 0)
        return px_fail(pp, PR_MALFORMED);
    return px_key(pp, key, ROUTE_PATH, n);
}

/* Which protocol the first byte speaks. */
__noinline long prefix_start(struct prefix_scratch *sc, struct prefix_parse *pp)
{
    const __u8 *buf;
    __u32 c, avail;

    if (!sc || !pp)
        return 1; /* a global function's pointers are checked: it is verified on its own */
    buf = sc->buf;
    c = rd8(buf, pp->pos);
    avail = pp->end - pp->pos;

    if (c == 'P' && (avail < 3 || (rd8(buf, pp->pos + 1) == 'R' && rd8(buf, pp->pos + 2) == 'I')))
        pp->phase = PREFIX_H2_PREFACE;
    else if (c == 0x16)
        pp->phase = PREFIX_TLS_HELLO;
    else if (c >= 'A' && c <= 'Z')
        pp->phase = PREFIX_HTTP1;
    else
        return px_fail(pp, PR_MALFORMED);
    pp->skip = 0;
    return 0;
}

static long prefix_step(__u32 index, void *ctx)
{
    struct prefix_parse *pp = ctx;
    struct prefix_scratch *sc;
    __u32 zero = 0;
    long r;

    (void)index;
    sc = bpf_map_lookup_elem(&prefix_scratch, &zero);
    if (!sc)
        return px_fail(pp, PR_MALFORMED);
    /* each unit is a global function: the verifier checks it once, not once per path to it */
    switch (pp->phase) {
    case PREFIX_START:
        r = prefix_start(sc, pp);
        break;
    case PREFIX_H2_PREFACE:
        r = prefix_h2_preface(sc, pp);
        break;
    case PREFIX_H2_FRAME:
        r = prefix_h2_frame(sc, pp);
        break;
    case PREFIX_H2_HEADERS:
        r = prefix_h2_field(sc, pp);
        break;
    case PREFIX_TLS_HELLO:
        r = prefix_tls_hello(sc, pp);
        break;
    case PREFIX_TLS_EXT:
        r = prefix_tls_ext(sc, pp);
        break;
    case PREFIX_HTTP1:
        r = prefix_http1(sc, pp);
        break;
    default:
        return px_fail(pp, PR_MALFORMED);
    }
    return r ? 1 : 0; /* a callback returns 0 (go on) or 1 (stop) */
}

/* ---- the decision ------------------------------------------------------------------------------ */

/* Index of the only bit of a one-bit mask, without a table (BPF has no ctz instruction). */
static __always_inline __u32 single_bit_index(__u64 mask)
{
    __u32 i = 0;

    if (mask >> 32) {
        i += 32;
        mask >>= 32;
    }
    if (mask >> 16) {
        i += 16;
        mask >>= 16;
    }
    if (mask >> 8) {
        i += 8;
        mask >>= 8;
    }
    if (mask >> 4) {
        i += 4;
        mask >>= 4;
    }
    if (mask >> 2) {
        i += 2;
        mask >>= 2;
    }
    if (mask >> 1)
        i += 1;
    return i;
}

/*
 * The route's worker, or the one of its group the two choices pick (see pick_consider); -1: none
 * live. The connection is already open, so when every live member is overloaded it is not shed:
 * the hash's first choice among them takes it. The mask names the owner's generation's workers
 * (route_value.workers): shifted to that generation's slots, so the connection stays in its process.
 */
static __always_inline int route_target(__u64 mask, __u32 owner, const struct flow_key *fk,
                                        struct sluice_stats *st)
{
    struct worker_state *ows = bpf_map_lookup_elem(&workers, &owner);
    struct pick p = {};

    if (ows && ows->gen_base < SLUICE_MAX_WORKERS)
        mask <<= ows->gen_base;
    p.mask = mask;

    if (mask && !(mask & (mask - 1))) {
        __u32 w = single_bit_index(mask);

        return worker_is_live(w) ? (int)w : -1;
    }
    p.hash = flow_hash(fk);
    p.stale_ns = pick_stale_ns();
    bpf_loop(SLUICE_MAX_WORKERS, pick_consider, &p, 0);
    if (p.ncand)
        return (int)pick_choose(&p, st);
    return p.nlive ? (int)p.any_worker : -1;
}

static __always_inline void decide_default(struct flow_value *fv, __u32 reason, struct sluice_stats *st)
{
    fv->state = FLOW_DEFAULT_ROUTE;
    fv->target = fv->worker;
    switch (reason) {
    case PR_NO_KEY:
        st->prefix_no_key++;
        break;
    case PR_DYNAMIC:
        st->prefix_hpack_dynamic++;
        break;
    case PR_TOO_LONG:
        st->prefix_too_long++;
        break;
    case PR_CUT:
        st->prefix_cut++;
        break;
    default:
        st->prefix_malformed++;
        break;
    }
}

static __always_inline void decide_key(struct flow_value *fv, const struct flow_key *fk,
                                       struct route_key *key, struct sluice_stats *st)
{
    struct route_value *rv = bpf_map_lookup_elem(&routes, key);
    struct route_counters *rc;
    __u32 route_id;
    int target;

    if (!rv) {
        fv->state = FLOW_DEFAULT_ROUTE;
        fv->target = fv->worker;
        st->prefix_default++;
        return;
    }
    route_id = rv->route_id;
    target = route_target(rv->workers, fv->worker, fk, st);
    fv->state = FLOW_ROUTED;
    fv->route_id = route_id;
    rc = bpf_map_lookup_elem(&route_stats, &route_id);
    if (rc)
        rc->connections++;
    if (target < 0) {
        fv->target = fv->worker;
        st->prefix_target_not_live++;
        return;
    }
    fv->target = (__u32)target;
    st->prefix_routed++;
    if (fv->target != fv->worker) {
        st->prefix_handoffs++;
        if (rc)
            rc->handoffs++;
    }
}

/*
 * A payload segment of a flow in FLOW_AWAIT_PREFIX. Only the next in-order bytes are parsed (a
 * segment overlapping them is parsed from there); anything else is left to the owner unparsed, but
 * counts against the segment bound too: bytes the owner acknowledged past a gap never come back,
 * so a flow must not wait for them (its owner holds the connection until a decision).
 */
static __always_inline void prefix_segment(struct xdp_md *ctx, struct flow_value *fv,
                                           const struct steer_pkt *pkt, struct sluice_stats *st)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    const struct tcphdr *th = pkt->th;
    __u32 hlen = th->doff * 4, payload, start = 0, off, seq = bpf_ntohl(th->seq), budget;
    struct prefix_parse pp = {};
    struct prefix_scratch *sc;
    __u32 zero = 0;
    __u64 n;

    payload = pkt->l4_len > hlen ? pkt->l4_len - hlen : 0;
    off = (__u32)((void *)th + hlen - data);
    if (off > (__u32)(data_end - data))
        return;
    if (payload > (__u32)(data_end - data) - off)
        payload = (__u32)(data_end - data) - off; /* the IP length claims more than arrived */
    if (payload == 0)
        return; /* pure ACKs and empty segments do not decide */
    if (fv->prefix_segments) {
        start = fv->prefix_seq - seq; /* wraps: a later segment gives a huge value */
        if (start >= payload) {
            st->prefix_out_of_order++;
            if (++fv->prefix_segments >= SLUICE_PREFIX_MAX_SEGMENTS)
                decide_default(fv, PR_TOO_LONG, st);
            return;
        }
    }
    fv->prefix_segments++;
    sc = bpf_map_lookup_elem(&prefix_scratch, &zero);
    if (!sc)
        return;
    budget = fv->prefix_bytes < SLUICE_PREFIX_MAX_BYTES ? SLUICE_PREFIX_MAX_BYTES - fv->prefix_bytes : 0;
    pp.end = payload - start;
    if (pp.end > budget) {
        pp.end = budget;
        pp.clipped = 1;
    }
    /* the same value, written so that the verifier sees it within [1, SLUICE_PREFIX_MAX_BYTES] */
    n = ((pp.end - 1) & PREFIX_BUF_MASK) + 1;
    if (pp.end == 0 || pp.end > SLUICE_PREFIX_MAX_BYTES || bpf_xdp_load_bytes(ctx, off + start, sc->buf, n)) {
        decide_default(fv, PR_TOO_LONG, st);
        return;
    }
    pp.base = fv->prefix_bytes;
    pp.phase = fv->prefix_phase;
    pp.skip = fv->prefix_skip;
    pp.left = fv->prefix_left;
    bpf_loop(PREFIX_STEPS, prefix_step, &pp, 0);

    switch (pp.outcome) {
    case PX_KEY:
        decide_key(fv, &pkt->fk, &sc->key, st);
        return;
    case PX_MORE:
        if (fv->prefix_segments >= SLUICE_PREFIX_MAX_SEGMENTS) {
            decide_default(fv, PR_TOO_LONG, st);
            return;
        }
        fv->prefix_seq = seq + start + pp.end;
        fv->prefix_bytes = pp.base + pp.end;
        fv->prefix_phase = (__u16)pp.phase;
        fv->prefix_skip = pp.skip;
        fv->prefix_left = pp.left;
        st->prefix_awaiting_more++;
        return;
    case PX_FAIL:
        decide_default(fv, pp.reason, st);
        return;
    default: /* PREFIX_STEPS units without an end: hostile (64 empty SETTINGS frames) */
        decide_default(fv, PR_TOO_LONG, st);
        return;
    }
}

/*
 * Room for struct sluice_xdp_meta in front of the frame (see maps/sluice_maps.h); NULL when the
 * kernel gives none (meta_failed). Packet pointers taken before are invalid after it.
 */
static __always_inline struct sluice_xdp_meta *prepend_meta(struct xdp_md *ctx, struct sluice_stats *st)
{
    struct sluice_xdp_meta *m;

    if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*m))) {
        st->meta_failed++;
        return NULL;
    }
    m = (void *)(long)ctx->data;
    if ((void *)(m + 1) > (void *)(long)ctx->data_end) {
        st->meta_failed++;
        return NULL;
    }
    return m;
}

/* Prepend struct sluice_xdp_meta: the flow awaits its route, or user space's hand-off to target. */
static __always_inline void add_meta(struct xdp_md *ctx, const struct flow_value *fv, struct sluice_stats *st)
{
    struct sluice_xdp_meta *m = prepend_meta(ctx, st);

    if (!m)
        return;
    m->magic = SLUICE_XDP_META_MAGIC;
    m->target = fv->target;
    m->route_id = fv->route_id;
    m->flow_state = fv->state;
    m->cookie_mss = 0;
    m->cookie_wscale = 0;
    m->cookie_flags = 0;
    st->meta_added++;
}

/* A live owner's segment; `worker` is fv->worker as the caller checked it (user space may rewrite fv). */
static __always_inline int steer_to_owner(struct xdp_md *ctx, const struct steer_pkt *pkt,
                                          struct flow_value *fv, __u32 worker, struct sluice_stats *st)
{
    if (fv->state == FLOW_AWAIT_PREFIX && !pkt->th->rst && !pkt->th->syn) /* a SYN's data is not stream */
        prefix_segment(ctx, fv, pkt, st);
    if (fv->state == FLOW_AWAIT_PREFIX || fv->target != fv->worker)
        add_meta(ctx, fv, st);
    return redirect_to(ctx, worker, st, &st->redirect_flow);
}

/* ---- the per-source connection cap (maps/sluice_maps.h, `sources`) ------------------------------ */

enum source_verdict {
    SOURCE_UNCOUNTED = 0, /* the cap is off, or the source could not be entered: the SYN passes */
    SOURCE_COUNTED,       /* one more open flow for the source: the flow is marked FLOW_F_COUNTED */
    SOURCE_KEPT,          /* the flow was counted already (its owner went): marked again, not added */
    SOURCE_REFUSED,       /* the source is at the cap: the SYN is dropped (drop_source_cap) */
};

/* A SYN about to insert its flow, against its source's count and the cap in `meta`. */
static __always_inline enum source_verdict source_admit(const struct flow_key *fk, struct sluice_stats *st)
{
    struct source_value fresh = {}, *sv;
    struct source_key sk = {};
    struct sluice_meta *m;
    struct flow_value *old;
    __u32 zero = 0, cap;

    m = bpf_map_lookup_elem(&meta, &zero);
    cap = m ? m->max_conns_per_source : 0;
    if (!cap)
        return SOURCE_UNCOUNTED;
    old = bpf_map_lookup_elem(&flows, fk);
    if (old && (old->flags & FLOW_F_COUNTED))
        return SOURCE_KEPT;
    source_key_of(&sk, fk);
    sv = bpf_map_lookup_elem(&sources, &sk);
    if (!sv) {
        bpf_map_update_elem(&sources, &sk, &fresh, BPF_NOEXIST); /* a race's loser finds the winner's */
        sv = bpf_map_lookup_elem(&sources, &sk);
        if (!sv) {
            st->source_insert_failed++;
            return SOURCE_UNCOUNTED;
        }
    }
    /* add first, then look: SYNs of one source on several CPUs cannot all pass at cap - 1 */
    if (__sync_fetch_and_add(&sv->count, 1) >= cap) {
        __sync_fetch_and_add(&sv->count, -1);
        __sync_fetch_and_add(&sv->refused, 1);
        st->drop_source_cap++;
        return SOURCE_REFUSED;
    }
    st->source_counted++;
    return SOURCE_COUNTED;
}

/* The counted SYN's flow could not be inserted: nothing will release the count, so give it back. */
static __always_inline void source_undo(const struct flow_key *fk, struct sluice_stats *st)
{
    struct source_key sk = {};
    struct source_value *sv;

    source_key_of(&sk, fk);
    sv = bpf_map_lookup_elem(&sources, &sk);
    if (sv && source_put(sv))
        st->source_undone++;
}

/*
 * A new connection's flow (after its SYN, or its cookie's ACK), owned by worker and counted against
 * its source as source says, into nv and `flows`. 0 when inserted; else counted, and a count taken
 * for it given back, since nothing would release it.
 */
static __always_inline int flow_insert_new(const struct flow_key *fk, const struct service_value *sv,
                                           __u32 worker, enum source_verdict source, struct flow_value *nv,
                                           struct sluice_stats *st)
{
    __builtin_memset(nv, 0, sizeof(*nv));
    nv->worker = worker;
    nv->target = worker;
    nv->state = (sv->flags & SERVICE_F_STEER) ? FLOW_AWAIT_PREFIX : FLOW_HASHED;
    nv->created_ns = bpf_ktime_get_ns();
    nv->flags = source != SOURCE_UNCOUNTED ? FLOW_F_COUNTED : 0;
    if (!bpf_map_update_elem(&flows, fk, nv, BPF_ANY))
        return 0;
    st->flow_insert_failed++;
    if (source == SOURCE_COUNTED)
        source_undo(fk, st);
    return -1;
}

/* ---- SYN cookies -------------------------------------------------------------------------------
 *
 * Past a worker's half-open threshold, or always for a SERVICE_F_SYNCOOKIE service, a new SYN is
 * answered here and no worker, flow or memory is spent on it: the SYN-ACK is built in the SYN's
 * frame and sent back (XDP_TX), its sequence number the kernel's SYN cookie. The ACK that completes
 * the handshake finds no flow; checked here, a valid one inserts the flow as a SYN would have and
 * goes to its worker with struct sluice_xdp_meta's cookie_* fields, from which the engine opens the
 * connection ESTABLISHED; an invalid one is dropped before any worker sees it. The cookie helpers
 * take headers copied to the stack (they read fields, not the packet), which keeps the verifier's
 * view simple whatever the VLAN tag and option lengths; the reply is written back the same way.
 * What the options become is in maps/sluice_maps.h ("SYN cookies"). For a steering service the
 * cookie ACK's own payload, if any, is not parsed for the route (clients send the handshake's ACK
 * alone): the parser would then meet the stream mid-way and give the connection the default route.
 */
#define TCPOPT_EOL        0
#define TCPOPT_NOP        1
#define TCPOPT_MSS        2
#define TCPOPT_WSCALE     3
#define TCPOPT_SACK_PERM  4
#define TCPOPT_TS         8
#define TCP_OPTS_MAX      40
#define COOKIE_TTL        64
#define COOKIE_SYNACK_WND 65535 /* a SYN-ACK's window is never scaled */

/* The options of a SYN or of the ACK that answers a cookie (the SYN's MSS is the helper's to read). */
struct cookie_opts {
    __u8 wscale; /* SLUICE_COOKIE_NO_WSCALE: none */
    __u8 sack;
    __u8 ts;
    __u8 _pad;
    __u32 tsval;
    __u32 tsecr;
};

struct cookie_opt_walk {
    const __u8 *buf; /* TCP_OPTS_MAX bytes and slack to 64 (reads are masked) */
    __u32 len;
    __u32 pos;
    struct cookie_opts *o;
};

static __always_inline __u32 opt8(const __u8 *buf, __u32 off)
{
    return buf[off & 63];
}

static __always_inline __u32 opt32(const __u8 *buf, __u32 off)
{
    return opt8(buf, off) << 24 | opt8(buf, off + 1) << 16 | opt8(buf, off + 2) << 8 | opt8(buf, off + 3);
}

/* One option per step; a length that runs past the options ends the walk (what was read stays). */
static long cookie_opt_step(__u32 index, void *ctx)
{
    struct cookie_opt_walk *w = ctx;
    __u32 kind, len;

    (void)index;
    if (w->pos >= w->len)
        return 1;
    kind = opt8(w->buf, w->pos);
    if (kind == TCPOPT_EOL)
        return 1;
    if (kind == TCPOPT_NOP) {
        w->pos++;
        return 0;
    }
    if (w->pos + 1 >= w->len)
        return 1;
    len = opt8(w->buf, w->pos + 1);
    if (len < 2 || w->pos + len > w->len)
        return 1;
    if (kind == TCPOPT_WSCALE && len == 3)
        w->o->wscale =
            (__u8)(opt8(w->buf, w->pos + 2) > 14 ? 14 : opt8(w->buf, w->pos + 2)); /* RFC 7323 2.3 */
    else if (kind == TCPOPT_SACK_PERM && len == 2)
        w->o->sack = 1;
    else if (kind == TCPOPT_TS && len == 10) {
        w->o->ts = 1;
        w->o->tsval = opt32(w->buf, w->pos + 2);
        w->o->tsecr = opt32(w->buf, w->pos + 6);
    }
    w->pos += len;
    return 0;
}

/* The headers a cookie helper reads, copied out of the frame; tcp holds the options too. */
struct cookie_hdrs {
    union {
        struct iphdr ip;
        struct ipv6hdr ip6;
    };
    __u8 tcp[sizeof(struct tcphdr) + TCP_OPTS_MAX];
    __u8 _slack[64 - TCP_OPTS_MAX]; /* option reads are masked to 63: they stay in here */
};

/* The cookie paths' working memory, per CPU: the steering program's stack is spent already. */
struct cookie_scratch {
    struct cookie_hdrs h;
    __u8 reply[sizeof(struct tcphdr) + 20]; /* the SYN-ACK's TCP header and options */
    __u8 pseudo[40];                        /* the pseudo-header of the TCP checksum */
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct cookie_scratch);
} cookie_scratch SEC(".maps");

/* Copy the IP and TCP headers (options included) of pkt into h; 0, or -1 (IPv4 options: not ours). */
static __always_inline int cookie_load(struct xdp_md *ctx, const struct steer_pkt *pkt, struct cookie_hdrs *h,
                                       struct cookie_opts *o)
{
    __u32 thl = pkt->th->doff * 4, iplen = pkt->fk.family == SLUICE_IPV4 ? sizeof(h->ip) : sizeof(h->ip6);
    __u32 l4_off = pkt->l3_off + iplen;
    struct cookie_opt_walk w = {.buf = h->tcp + sizeof(struct tcphdr), .o = o};

    if (thl < sizeof(struct tcphdr) || thl > sizeof(h->tcp) || pkt->l3_off > 64)
        return -1;
    if (bpf_xdp_load_bytes(ctx, pkt->l3_off, h, iplen) || bpf_xdp_load_bytes(ctx, l4_off, h->tcp, thl))
        return -1;
    if (pkt->fk.family == SLUICE_IPV4 && h->ip.ihl != 5)
        return -1; /* IP options: the reply is built for a bare header */
    o->wscale = SLUICE_COOKIE_NO_WSCALE;
    w.len = thl - sizeof(struct tcphdr);
    bpf_loop(TCP_OPTS_MAX, cookie_opt_step, &w, 0);
    return 0;
}

/* ones' complement sum folded to the 16 bits a header carries */
static __always_inline __u16 csum_fold32(__s64 sum)
{
    __u64 s = (__u64)sum & 0xffffffff;

    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)~s;
}

static __always_inline int cookie_due(const struct service_value *sv, __u32 worker)
{
    struct worker_state *ws;

    if (sv->flags & SERVICE_F_SYNCOOKIE)
        return 1;
    ws = bpf_map_lookup_elem(&workers, &worker);
    return ws && ws->syncookie_half_open && ws->half_open >= ws->syncookie_half_open;
}

/* The SYN-ACK options: MSS; with timestamps, SACK-permitted (or two NOPs), TS and window scale
 * (or NOPs) as the peer offered them, in Linux's order. Returns their length, 4 or 20. */
static __always_inline __u32 cookie_synack_opts(__u8 *b, const struct cookie_opts *o, __u16 mss, __u32 wscale,
                                                __u32 tsval)
{
    b[0] = TCPOPT_MSS;
    b[1] = 4;
    b[2] = (__u8)(mss >> 8);
    b[3] = (__u8)mss;
    if (!o->ts)
        return 4; /* nowhere to keep window scaling and SACK: offered neither (see maps/sluice_maps.h) */
    b[4] = o->sack ? TCPOPT_SACK_PERM : TCPOPT_NOP;
    b[5] = o->sack ? 2 : TCPOPT_NOP;
    b[6] = TCPOPT_TS;
    b[7] = 10;
    __builtin_memcpy(&b[8], &(__u32){bpf_htonl(tsval)}, 4);
    __builtin_memcpy(&b[12], &(__u32){bpf_htonl(o->tsval)}, 4);
    b[16] = TCPOPT_NOP;
    if (o->wscale == SLUICE_COOKIE_NO_WSCALE || wscale > 14) { /* the peer's, or our worker's: none */
        b[17] = b[18] = b[19] = TCPOPT_NOP;
    } else {
        b[17] = TCPOPT_WSCALE;
        b[18] = 3;
        b[19] = (__u8)wscale;
    }
    return 20;
}

/* The cookie's MSS value (from the helper) as its index in the kernel's table. */
static __always_inline __u32 cookie_mss_index(__u32 family, __u32 mss)
{
    for (__u32 i = 3; i > 0; i--)
        if (mss >= (family == SLUICE_IPV4 ? SLUICE_COOKIE_MSS_V4(i) : SLUICE_COOKIE_MSS_V6(i)))
            return i;
    return 0;
}

/*
 * Answer the SYN pkt with a cookie SYN-ACK on behalf of worker, in its frame: 0 when the frame is
 * the reply (the caller returns XDP_TX), -1 when no cookie could be made (counted; the SYN goes on
 * to the worker as usual).
 */
static __noinline int cookie_syn(struct xdp_md *ctx, const struct steer_pkt *pkt, __u32 worker,
                                 struct sluice_stats *st)
{
    struct worker_state *ws = bpf_map_lookup_elem(&workers, &worker);
    __u32 family = pkt->fk.family, l3_off = pkt->l3_off, iplen, thl, optlen, tsval, cookie, seq, zero = 0;
    struct cookie_scratch *sc = bpf_map_lookup_elem(&cookie_scratch, &zero);
    struct cookie_opts o = {};
    struct tcphdr *rt, *sth;
    __u16 mss, sport, dport;
    __u8 mac[12], *reply, *pseudo;
    __s64 gen, sum;
    int delta;

    if (!ws || !sc)
        goto failed;
    __builtin_memset(sc, 0, sizeof(*sc));
    if (cookie_load(ctx, pkt, &sc->h, &o))
        goto failed;
    reply = sc->reply;
    pseudo = sc->pseudo;
    rt = (struct tcphdr *)reply;
    sth = (struct tcphdr *)sc->h.tcp;
    thl = sth->doff * 4;
    if (thl < sizeof(struct tcphdr) || thl > sizeof(sc->h.tcp))
        goto failed;
    gen = family == SLUICE_IPV4 ? bpf_tcp_raw_gen_syncookie_ipv4(&sc->h.ip, sth, thl)
                                : bpf_tcp_raw_gen_syncookie_ipv6(&sc->h.ip6, sth, thl);
    if (gen < 0)
        goto failed;
    cookie = (__u32)gen;
    /* the worker publishes its IPv4 MSS; over IPv6 the header is 20 bytes longer */
    mss = ws->syncookie_mss ? (__u16)(ws->syncookie_mss - (family == SLUICE_IPV6 ? 20 : 0))
                            : (__u16)(gen >> 32);
    tsval = (__u32)(bpf_ktime_get_ns() / 1000000) & ~((1u << SLUICE_COOKIE_TS_BITS) - 1);
    tsval |= o.wscale | (o.sack ? SLUICE_COOKIE_TS_SACK : 0) |
             SLUICE_COOKIE_TS_MSS(cookie_mss_index(family, (__u32)(gen >> 32)));
    optlen = cookie_synack_opts(reply + sizeof(*rt), &o, mss, ws->syncookie_wscale, tsval);
    seq = bpf_ntohl(sth->seq);
    sport = sth->source;
    dport = sth->dest;

    iplen = family == SLUICE_IPV4 ? sizeof(sc->h.ip) : sizeof(sc->h.ip6);

    rt->source = dport;
    rt->dest = sport;
    rt->seq = bpf_htonl(cookie);
    rt->ack_seq = bpf_htonl(seq + 1);
    rt->doff = (sizeof(*rt) + optlen) / 4;
    rt->syn = 1;
    rt->ack = 1;
    rt->window = bpf_htons(COOKIE_SYNACK_WND);
    if (family == SLUICE_IPV4) {
        __be32 a = sc->h.ip.saddr;

        sc->h.ip.saddr = sc->h.ip.daddr;
        sc->h.ip.daddr = a;
        sc->h.ip.tot_len = bpf_htons((__u16)(iplen + sizeof(*rt) + optlen));
        sc->h.ip.ttl = COOKIE_TTL;
        sc->h.ip.tos = 0;
        sc->h.ip.id = 0;
        sc->h.ip.frag_off = bpf_htons(0x4000); /* DF */
        sc->h.ip.check = 0;
        sc->h.ip.check = csum_fold32(bpf_csum_diff(NULL, 0, (__be32 *)&sc->h.ip, sizeof(sc->h.ip), 0));
        __builtin_memcpy(pseudo, &sc->h.ip.saddr, 8);
        pseudo[9] = IPPROTO_TCP;
        pseudo[11] = (__u8)(sizeof(*rt) + optlen);
        sum = bpf_csum_diff(NULL, 0, (__be32 *)pseudo, 12, 0);
    } else {
        struct in6_addr a = sc->h.ip6.saddr;

        sc->h.ip6.saddr = sc->h.ip6.daddr;
        sc->h.ip6.daddr = a;
        sc->h.ip6.payload_len = bpf_htons((__u16)(sizeof(*rt) + optlen));
        sc->h.ip6.hop_limit = COOKIE_TTL;
        sc->h.ip6.priority = 0;
        __builtin_memset(sc->h.ip6.flow_lbl, 0, sizeof(sc->h.ip6.flow_lbl));
        __builtin_memcpy(pseudo, &sc->h.ip6.saddr, 32);
        pseudo[35] = (__u8)(sizeof(*rt) + optlen);
        pseudo[39] = IPPROTO_TCP;
        sum = bpf_csum_diff(NULL, 0, (__be32 *)pseudo, 40, 0);
    }
    if (optlen == 20)
        sum = bpf_csum_diff(NULL, 0, (__be32 *)reply, sizeof(*rt) + 20, (__u32)sum);
    else
        sum = bpf_csum_diff(NULL, 0, (__be32 *)reply, sizeof(*rt) + 4, (__u32)sum);
    rt->check = csum_fold32(sum);

    if (bpf_xdp_load_bytes(ctx, 0, mac, sizeof(mac)))
        goto failed;
    delta = (int)(l3_off + iplen + sizeof(*rt) + optlen) - (int)bpf_xdp_get_buff_len(ctx);
    if (bpf_xdp_adjust_tail(ctx, delta))
        goto failed;
    /* from here the frame is the reply: the stores lie within the length just set, so they cannot
     * fail; were one to, the client's checksum check would discard what goes out, and it sends again */
    bpf_xdp_store_bytes(ctx, 0, mac + 6, 6);
    bpf_xdp_store_bytes(ctx, 6, mac, 6);
    bpf_xdp_store_bytes(ctx, l3_off, &sc->h, iplen);
    bpf_xdp_store_bytes(ctx, l3_off + iplen, reply, sizeof(*rt) + optlen);
    st->tx_syncookie++;
    return 0;

failed:
    st->syncookie_failed++;
    return -1;
}

/*
 * An ACK without a flow while cookies may be out for the service: it may complete a cookie handshake.
 * (A segment whose flow's owner is gone is no cookie ACK: it goes to a live worker, which resets it.)
 */
static __always_inline int cookie_ack_candidate(const struct steer_pkt *pkt, const struct service_value *sv,
                                                const struct pick *p)
{
    const struct tcphdr *th = pkt->th;

    if (!th->ack || th->syn || th->rst)
        return 0;
    return (sv->flags & SERVICE_F_SYNCOOKIE) || p->cookie_armed;
}

/*
 * The ACK of a cookie handshake: valid, the flow is inserted (owner chosen as for a SYN) and the
 * frame goes to the owner with the cookie's options in its metadata; invalid (forged, or older than
 * the kernel's two-minute window), it is dropped here.
 */
static __noinline int cookie_ack(struct xdp_md *ctx, const struct steer_pkt *pkt,
                                 const struct service_value *sv, struct pick *p, struct sluice_stats *st)
{
    __u32 zero = 0;
    struct cookie_scratch *sc = bpf_map_lookup_elem(&cookie_scratch, &zero);
    struct cookie_opts o = {};
    struct sluice_xdp_meta *m;
    enum source_verdict source;
    __u32 worker, idx;
    long bad;

    if (!sc) {
        st->drop_cookie_invalid++;
        return XDP_DROP;
    }
    __builtin_memset(&sc->h, 0, sizeof(sc->h));
    if (cookie_load(ctx, pkt, &sc->h, &o)) {
        st->drop_cookie_invalid++;
        return XDP_DROP;
    }
    bad = pkt->fk.family == SLUICE_IPV4
              ? bpf_tcp_raw_check_syncookie_ipv4(&sc->h.ip, (struct tcphdr *)sc->h.tcp)
              : bpf_tcp_raw_check_syncookie_ipv6(&sc->h.ip6, (struct tcphdr *)sc->h.tcp);
    if (bad) {
        st->drop_cookie_invalid++;
        return XDP_DROP;
    }
    if (!p->ncand) {
        st->drop_overload++;
        return XDP_DROP;
    }
    worker = pick_choose(p, st);
    source = source_admit(&pkt->fk, st);
    if (source == SOURCE_REFUSED)
        return XDP_DROP; /* the client's handshake is done but no worker knows it: it times out */
    {
        struct flow_value nv;

        flow_insert_new(&pkt->fk, sv, worker, source, &nv, st);
        m = prepend_meta(ctx, st);
        if (!m) /* without its options the worker resets the ACK: the client starts over */
            return redirect_to(ctx, worker, st, &st->redirect_cookie);
        m->magic = SLUICE_XDP_META_MAGIC;
        m->target = worker;
        m->route_id = 0;
        m->flow_state = nv.state;
    }
    idx = o.ts ? SLUICE_COOKIE_MSS_IDX(o.tsecr) : 0;
    m->cookie_mss =
        (__u16)(pkt->fk.family == SLUICE_IPV4 ? SLUICE_COOKIE_MSS_V4(idx) : SLUICE_COOKIE_MSS_V6(idx));
    m->cookie_wscale = o.ts ? (__u8)(o.tsecr & 0xf) : SLUICE_COOKIE_NO_WSCALE;
    m->cookie_flags =
        (o.ts ? SLUICE_COOKIE_TS : 0) | (o.ts && (o.tsecr & SLUICE_COOKIE_TS_SACK) ? SLUICE_COOKIE_SACK : 0);
    return redirect_to(ctx, worker, st, &st->redirect_cookie); /* each carries metadata: not meta_added */
}

/*
 * No live owner. A SYN takes the less loaded of its two best-scored live, not overloaded workers
 * (pick_consider) and inserts its flow, or is shed when every live worker is overloaded; any other
 * segment goes to the best-scored live worker, overloaded or not, which resets it, unless it has no
 * flow at all (had_flow 0) while cookies may be out: then it may complete a cookie handshake.
 */
static __always_inline int steer_by_hash(struct xdp_md *ctx, const struct steer_pkt *pkt,
                                         const struct service_value *sv, struct sluice_stats *st,
                                         int had_flow)
{
    int is_syn = pkt->th->syn && !pkt->th->ack;
    struct pick p = {.mask = ~0ull, .hash = flow_hash(&pkt->fk), .stale_ns = pick_stale_ns()};
    enum source_verdict source;
    struct sluice_meta *m;
    __u32 worker, zero = 0;

    /* new connections go to the newest generation's slots (a takeover's), the others' drain */
    m = bpf_map_lookup_elem(&meta, &zero);
    if (m && m->new_flow_workers)
        p.mask = m->new_flow_workers;
    bpf_loop(SLUICE_MAX_WORKERS, pick_consider, &p, 0);
    if (!p.nlive) {
        st->drop_no_worker++;
        return XDP_DROP;
    }
    if (!is_syn) {
        if (!had_flow && cookie_ack_candidate(pkt, sv, &p))
            return cookie_ack(ctx, pkt, sv, &p, st);
        return redirect_to(ctx, p.any_worker, st, &st->redirect_no_flow);
    }
    if (!p.ncand) {
        st->drop_overload++;
        return XDP_DROP;
    }
    worker = pick_choose(&p, st);
    /* a cookie SYN inserts no flow: its source is counted when the cookie's ACK does (cookie_ack) */
    if (cookie_due(sv, worker) && cookie_syn(ctx, pkt, worker, st) == 0)
        return XDP_TX;
    source = source_admit(&pkt->fk, st);
    if (source == SOURCE_REFUSED)
        return XDP_DROP;

    {
        struct flow_value nv;

        if (!flow_insert_new(&pkt->fk, sv, worker, source, &nv, st) && nv.state == FLOW_AWAIT_PREFIX)
            add_meta(ctx, &nv, st); /* the owner holds the connection back until the route is known */
    }
    return redirect_to(ctx, worker, st, &st->redirect_syn);
}

/* A parsed segment's verdict: only a non-service one is passed (see the top of the file for why). */
static __always_inline int steer_decide(struct xdp_md *ctx, const struct steer_pkt *pkt,
                                        struct sluice_stats *st)
{
    void *data_end = (void *)(long)ctx->data_end;
    const struct tcphdr *th = pkt->th;
    struct service_key sk = {};
    struct service_value *sv;
    struct flow_value *fv;

    __builtin_memcpy(sk.addr, pkt->fk.daddr, sizeof(sk.addr));
    sk.port = pkt->fk.dport;
    sk.family = pkt->fk.family;
    sv = find_service(&sk);
    if (!sv) {
        st->pass_not_service++;
        return XDP_PASS;
    }
    /* the options are checked for a service's segments only: the kernel judges the others */
    if (th->doff < 5 || (void *)th + th->doff * 4 > data_end) {
        st->drop_bad_tcp++;
        return XDP_DROP;
    }

    fv = bpf_map_lookup_elem(&flows, &pkt->fk);
    if (fv) {
        __u32 worker = fv->worker;

        if (worker < SLUICE_MAX_WORKERS && worker_is_live(worker))
            return steer_to_owner(ctx, pkt, fv, worker, st);
        st->flow_owner_gone++;
    }
    return steer_by_hash(ctx, pkt, sv, st, fv != NULL);
}

/* The entry: parse L2-L4 into a steer_pkt, then decide; each ends in one verdict counter. */
SEC("xdp.frags")
int sluice_steer(struct xdp_md *ctx)
{
    struct steer_pkt pkt = {};
    struct sluice_stats *st;
    __u32 zero = 0;

    st = bpf_map_lookup_elem(&stats, &zero);
    if (!st)
        return XDP_PASS; /* cannot happen: a one-entry per-CPU array always has entry 0 */
    if (!steer_parse(ctx, &pkt, st))
        return XDP_PASS; /* not TCP over IP, or malformed: the kernel's, counted by the parse */
    return steer_decide(ctx, &pkt, st);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
