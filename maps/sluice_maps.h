/*
 * sluice_maps.h — the kernel/userspace contract.
 *
 * Every BPF map that sluice pins, with its key and value layout, enums, limits, pin paths and the
 * ABI version, is defined here once. bpf/ (the XDP steering program), agent/ (sluice-agent),
 * server/ (registers its AF_XDP sockets and workers) and tests/ all include this header; nothing
 * else may restate a layout or a limit. Any change to a struct, enum value or limit below is an
 * ABI change: bump SLUICE_ABI_VERSION so the agent refuses to mix old pinned maps with new code.
 *
 * Layouts are plain C with fixed-width fields and no implicit padding, so that their BTF makes
 * `bpftool map dump` print named fields (route prefixes as text) and so that the byte images the
 * agent prints for `bpftool map update` are exact.
 */
#ifndef SLUICE_MAPS_H
#define SLUICE_MAPS_H

#include <linux/types.h>

#define SLUICE_ABI_VERSION 1

/* Pins live at SLUICE_PIN_ROOT/<ifname>/<map name>; the attachment is the bpf_link pinned as "link". */
#define SLUICE_PIN_ROOT      "/sys/fs/bpf/sluice"
#define SLUICE_PIN_LINK      "link"
#define SLUICE_MAP_SERVICES  "services"
#define SLUICE_MAP_FLOWS     "flows"
#define SLUICE_MAP_ROUTES    "routes"
#define SLUICE_MAP_WORKERS   "workers"
#define SLUICE_MAP_XSKS      "xsks"
#define SLUICE_MAP_STATS     "stats"
#define SLUICE_MAP_META      "meta"

/* Limits. SLUICE_MAX_WORKERS bounds the XSKMAP and the route target bitmask (one bit per worker). */
#define SLUICE_MAX_WORKERS      64
#define SLUICE_MAX_SERVICES     1024
#define SLUICE_MAX_FLOWS        262144
#define SLUICE_MAX_ROUTES       4096
#define SLUICE_ROUTE_PREFIX_MAX 64 /* bytes of route prefix text, not NUL-terminated when full */

enum sluice_family {
    SLUICE_FAMILY_NONE = 0,
    SLUICE_IPV4 = 4,
    SLUICE_IPV6 = 6,
};

/*
 * services: which (destination address, port) pairs sluice serves. Everything else is passed to
 * the kernel untouched. An all-zero address of a family is a wildcard for that family's port; the
 * exact address is tried first. IPv4 addresses occupy addr[0..3], the rest is zero.
 */
struct service_key {
    __u8 addr[16];
    __u16 port; /* host byte order, so that dumps read naturally */
    __u8 family; /* enum sluice_family */
    __u8 _pad;
};

enum service_flags {
    SERVICE_F_TLS = 1u << 0,   /* connections carry TLS: the routing key is the ClientHello SNI */
    SERVICE_F_STEER = 1u << 1, /* steer connections by their first bytes through `routes` */
};
#define SERVICE_F_ALL (SERVICE_F_TLS | SERVICE_F_STEER)

struct service_value {
    __u32 service_id;
    __u32 flags; /* enum service_flags */
};

/* flows: LRU 5-tuple -> owning worker. The protocol is always TCP; the client side is "src". */
struct flow_key {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport; /* host byte order */
    __u16 dport;
    __u32 family; /* enum sluice_family */
};

enum flow_state {
    FLOW_HASHED = 1,        /* owner chosen by the stable hash; the service does not steer */
    FLOW_AWAIT_PREFIX = 2,  /* steering service: owner is provisional until the first bytes arrive */
    FLOW_ROUTED = 3,        /* a route matched the first bytes; owner is the routed worker */
    FLOW_DEFAULT_ROUTE = 4, /* no route matched within the bounded prefix; owner kept */
};

struct flow_value {
    __u32 worker;
    __u32 state;    /* enum flow_state */
    __u32 route_id; /* 0 until a route matched */
    __u32 _pad;
    __u64 created_ns; /* bpf_ktime_get_ns() when the SYN was seen */
};

/*
 * routes: LPM trie keyed by (kind, prefix bytes). prefixlen counts bits after itself, so it covers
 * the 32-bit kind and then the prefix: a route for "/api" has prefixlen 32 + 8 * 4, and a kind's
 * default route (empty prefix) has prefixlen 32. Longest prefix wins.
 */
enum route_kind {
    ROUTE_PATH = 1,         /* HTTP/2 :path or HTTP/1.1 request-target, raw bytes */
    ROUTE_SNI = 2,          /* TLS ClientHello server_name */
    ROUTE_PATH_HUFFMAN = 3, /* :path as HPACK Huffman-coded bits; text form kept in the value */
};

struct route_key {
    __u32 prefixlen;
    __u32 kind; /* enum route_kind */
    char prefix[SLUICE_ROUTE_PREFIX_MAX];
};
#define ROUTE_KEY_PREFIXLEN(nbytes) (32u + 8u * (nbytes))

struct route_value {
    __u32 route_id;
    __u32 _pad;
    __u64 workers; /* bitmask of target workers: one bit is a worker, several a group hashed within */
    char text[SLUICE_ROUTE_PREFIX_MAX]; /* the route as the operator wrote it, for Huffman keys */
};

/* workers: index -> state of the server's worker with that index. Written by the server. */
struct worker_state {
    __u32 live;     /* the worker's AF_XDP socket is registered in `xsks` and it accepts flows */
    __u32 overload; /* new connections are shed in XDP while set */
    __u32 pid;      /* server process that owns the worker */
    __u32 load;     /* open connections, for operators and future balancing */
    __u64 heartbeat_ns;
};

/*
 * stats: one per-CPU entry of named counters. Every packet the steering program sees ends in
 * exactly one of the verdict counters below; bpftool prints them by name, the agent sums CPUs.
 */
#define SLUICE_VERDICT_COUNTERS(X)                                                                           \
    X(pass_not_ip, "not IPv4 or IPv6 (ARP, LLDP, ...): passed to the kernel")                              \
    X(pass_malformed, "truncated or invalid Ethernet/IP/TCP header: passed to the kernel")                 \
    X(pass_fragment, "IPv4 fragment: passed to the kernel")                                                \
    X(pass_ipv6_ext, "IPv6 extension header before TCP: passed to the kernel")                             \
    X(pass_not_tcp, "not TCP (ICMP, UDP, ...): passed to the kernel")                                      \
    X(pass_not_service, "TCP not addressed to a service: passed to the kernel")                            \
    X(redirect_flow, "existing flow: redirected to its owner")                                             \
    X(redirect_syn, "SYN without a flow: worker hashed, flow inserted, redirected")                        \
    X(redirect_no_flow, "non-SYN without a flow: redirected to the hashed worker, which resets it")        \
    X(drop_no_socket, "chosen worker has no AF_XDP socket registered: dropped")                            \
    X(drop_no_worker, "no live worker for a service packet: dropped")                                      \
    X(drop_overload, "SYN shed because every live worker is overloaded: dropped")                          \
    X(drop_bad_tcp, "TCP header length invalid on a service port: dropped")

#define SLUICE_EVENT_COUNTERS(X)                                                                             \
    X(vlan_tagged, "packets that carried an 802.1Q/802.1ad tag")                                           \
    X(flow_owner_gone, "flow owner no longer live: flow re-hashed")                                        \
    X(flow_insert_failed, "flow table update failed")

struct sluice_stats {
#define SLUICE_STATS_FIELD(name, help) __u64 name;
    SLUICE_VERDICT_COUNTERS(SLUICE_STATS_FIELD)
    SLUICE_EVENT_COUNTERS(SLUICE_STATS_FIELD)
#undef SLUICE_STATS_FIELD
    __u64 redirect_by_worker[SLUICE_MAX_WORKERS];
};

/* meta: one entry written by the agent at load, read by everyone who opens the pins. */
enum sluice_attach_mode {
    SLUICE_ATTACH_NONE = 0,
    SLUICE_ATTACH_NATIVE = 1,
    SLUICE_ATTACH_GENERIC = 2,
};

struct sluice_meta {
    __u32 abi_version;
    __u32 attach_mode; /* enum sluice_attach_mode */
    __u32 ifindex;
    __u32 max_workers;
    __u64 loaded_at; /* seconds since the epoch */
};

#endif
