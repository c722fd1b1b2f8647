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

/* 2: flow_value gained target and the prefix parser's place; route_stats; prefix/meta counters
 * 3: xsks keyed by (receive queue, worker): SLUICE_XSKS_KEY, SLUICE_MAX_QUEUES
 * 4: worker_state gained busy_pct and queue (the published load); stats counter steer_least_loaded
 * 5: the per-source connection cap: `sources` map, flow_value.flags (was _pad),
 *    sluice_meta.max_conns_per_source, stats drop_source_cap and source_*
 * 6: SYN cookies in XDP: SERVICE_F_SYNCOOKIE; worker_state gained half_open, syncookie_half_open,
 *    syncookie_mss and syncookie_wscale; sluice_xdp_meta gained the cookie_* fields; stats counters
 *    tx_syncookie, redirect_cookie, drop_cookie_invalid, syncookie_failed
 * 7: server generations (a takeover on AF_XDP): worker_state gained gen_base, sluice_meta gained
 *    new_flow_workers; route masks name a generation's workers from its gen_base; SLUICE_GEN_SLOTS
 * 8: sluice_xdp_meta is a prefix of the redirected frame itself (bpf_xdp_adjust_head), no longer XDP
 *    metadata (bpf_xdp_adjust_meta, which some kernels refuse); stats counter pass_not_unicast */
#define SLUICE_ABI_VERSION 8

/* Pins live at SLUICE_PIN_ROOT/<ifname>/<map name>; the attachment is the bpf_link pinned as "link". */
#define SLUICE_PIN_ROOT        "/sys/fs/bpf/sluice"
#define SLUICE_PIN_LINK        "link"
#define SLUICE_MAP_SERVICES    "services"
#define SLUICE_MAP_FLOWS       "flows"
#define SLUICE_MAP_ROUTES      "routes"
#define SLUICE_MAP_WORKERS     "workers"
#define SLUICE_MAP_XSKS        "xsks"
#define SLUICE_MAP_STATS       "stats"
#define SLUICE_MAP_META        "meta"
#define SLUICE_MAP_ROUTE_STATS "route_stats"
#define SLUICE_MAP_SOURCES     "sources"

/* Limits. SLUICE_MAX_WORKERS bounds the route target bitmask (one bit per worker); the XSKMAP has a
 * slot per (receive queue, worker), queues 0 to SLUICE_MAX_QUEUES - 1 (see `xsks` below). */
#define SLUICE_MAX_WORKERS 64
/*
 * Server generations (a takeover, server/takeover.h) take alternating halves of the worker slots: a
 * server started fresh uses slots 0 up (all 64 when it has that many workers), the generation that
 * takes over from it slots SLUICE_GEN_SLOTS up, the next one 0 up again; so a generation taken over,
 * or taking over, has at most SLUICE_GEN_SLOTS workers. A worker's slot is its generation's
 * worker_state.gen_base plus its index in its server: the key of its `workers` and `xsks` entries
 * and the `worker` its flows record.
 */
#define SLUICE_GEN_SLOTS        32
#define SLUICE_MAX_QUEUES       16
#define SLUICE_MAX_SERVICES     1024
#define SLUICE_MAX_FLOWS        262144
#define SLUICE_MAX_ROUTES       4096
#define SLUICE_ROUTE_PREFIX_MAX 64    /* bytes of route prefix text, not NUL-terminated when full */
#define SLUICE_MAX_SOURCES      65536 /* client addresses whose open connections `sources` counts */

/*
 * Bounds of the stream-prefix parser in XDP (bpf/steer.bpf.c). A connection whose key is not found
 * within its first SLUICE_PREFIX_MAX_BYTES stream bytes or SLUICE_PREFIX_MAX_SEGMENTS payload
 * segments (in order or not: out-of-order ones are not parsed but count) takes the default route
 * (counted as prefix_too_long). MAX_BYTES is also the size of the per-CPU buffer the parser copies
 * a segment into, so it must be a power of two.
 */
#define SLUICE_PREFIX_MAX_BYTES    4096
#define SLUICE_PREFIX_MAX_SEGMENTS 4

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
    __u16 port;  /* host byte order, so that dumps read naturally */
    __u8 family; /* enum sluice_family */
    __u8 _pad;
};

enum service_flags {
    SERVICE_F_TLS = 1u << 0,   /* connections carry TLS: the routing key is the ClientHello SNI */
    SERVICE_F_STEER = 1u << 1, /* steer connections by their first bytes through `routes` */

    /* XDP answers every SYN with a SYN cookie, whatever the workers' half-open counts */
    SERVICE_F_SYNCOOKIE = 1u << 2,
};
#define SERVICE_F_ALL (SERVICE_F_TLS | SERVICE_F_STEER | SERVICE_F_SYNCOOKIE)

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
    FLOW_AWAIT_PREFIX = 2,  /* steering service: the first bytes have not decided the route yet */
    FLOW_ROUTED = 3,        /* a route matched the first bytes: route_id and target are set */
    FLOW_DEFAULT_ROUTE = 4, /* no route (or no key within the bounds): target = worker, owner kept */
};

/* Where the prefix parser stands between segments (flow_value.prefix_phase); XDP-private. */
enum prefix_phase {
    PREFIX_START = 0,      /* no payload parsed yet: the protocol is still unknown */
    PREFIX_H2_PREFACE = 1, /* inside the HTTP/2 client preface: prefix_skip bytes of it matched */
    PREFIX_H2_FRAME = 2,   /* between HTTP/2 frames: prefix_skip payload bytes of a frame to skip first */
    PREFIX_TLS_EXT = 3,    /* between ClientHello extensions: skip prefix_skip, prefix_left ext bytes left */
};

/*
 * The hand-off contract. `worker` is the worker that owns the connection now (the one that did the
 * handshake); XDP redirects every packet there and never changes it for an existing flow. When the
 * prefix decides, XDP writes state, route_id and `target` (the worker the route chose). XDP
 * prepends struct sluice_xdp_meta to every packet of the flow it redirects while the flow is in
 * FLOW_AWAIT_PREFIX (the SYN included: the owner holds the connection back from the application)
 * and while target != worker; user space moves the connection, then rewrites `worker = target`
 * itself (bpf_map_update_elem, BPF_EXIST, the rest of the value kept). For FLOW_HASHED and
 * FLOW_AWAIT_PREFIX, target == worker.
 *
 * The prefix_* fields are the parser's place in the byte stream while FLOW_AWAIT_PREFIX; only XDP
 * reads them.
 */
struct flow_value {
    __u32 worker;
    __u32 state;           /* enum flow_state */
    __u32 route_id;        /* 0 until a route matched */
    __u32 target;          /* worker chosen by the route; == worker when no hand-off is due */
    __u64 created_ns;      /* bpf_ktime_get_ns() when the SYN was seen */
    __u32 prefix_seq;      /* TCP sequence number of the next stream byte to parse */
    __u32 prefix_bytes;    /* stream bytes parsed so far (at most SLUICE_PREFIX_MAX_BYTES) */
    __u32 prefix_skip;     /* per prefix_phase: bytes to skip, or preface bytes matched */
    __u32 prefix_left;     /* PREFIX_TLS_EXT: extension bytes left in the ClientHello's record */
    __u16 prefix_phase;    /* enum prefix_phase */
    __u16 prefix_segments; /* payload segments seen while awaiting */
    __u32 flags;           /* enum flow_flags */
};

enum flow_flags {
    FLOW_F_COUNTED = 1u << 0, /* the flow holds one of its source's `sources` counts (see below) */
};

/*
 * The steering program's word to user space, in front of a redirected frame of a flow in
 * FLOW_AWAIT_PREFIX (flow_state says so; target == worker) or whose target != worker: the decision
 * packet and every later one (retransmissions too) until user space rewrites worker; and in front of
 * the ACK that opens a connection from a valid SYN cookie (cookie_mss non-zero, see "SYN cookies"
 * below). Frames without it belong to flows with nothing pending (hashed, decided to their owner) or
 * lost it (stats meta_failed). It is a prefix of the frame itself (bpf_xdp_adjust_head), not XDP
 * metadata: bpf_xdp_adjust_meta is refused by some kernels' verifiers, and the prefix reaches the
 * UMEM the same way in copy and zero-copy mode. The program redirects only frames to a unicast MAC
 * (others are the kernel's: pass_not_unicast), and the magic, read as a destination MAC, is a group
 * address, so a frame that starts with it carries the prefix. A reader strips it and finds it again
 * just before the packet, where it clears magic (UMEM bytes are reused). Host byte order.
 */
#define SLUICE_XDP_META_MAGIC 0x534c4d31 /* 'SLM1' */

struct sluice_xdp_meta {
    __u32 magic;      /* SLUICE_XDP_META_MAGIC */
    __u32 target;     /* flow_value.target: the worker the connection must move to */
    __u32 route_id;   /* flow_value.route_id */
    __u32 flow_state; /* flow_value.state: FLOW_AWAIT_PREFIX (hold) or FLOW_ROUTED (move to target) */

    /* cookie_mss non-zero: the frame is an ACK whose SYN cookie XDP validated, and these are what the
     * cookie kept of the client's SYN: its MSS, its window shift (SLUICE_COOKIE_NO_WSCALE: none) and
     * enum sluice_cookie_flags */
    __u16 cookie_mss;
    __u8 cookie_wscale;
    __u8 cookie_flags;
};

/*
 * SYN cookies (bpf/steer.bpf.c, "SYN cookies"). Past a worker's published half-open threshold, or
 * always for a SERVICE_F_SYNCOOKIE service, XDP answers a new SYN itself (XDP_TX) with a SYN-ACK
 * whose sequence number is the kernel's SYN cookie (bpf_tcp_raw_gen_syncookie_*: it encodes one of
 * four MSS values); the ACK that comes back without a flow is checked (bpf_tcp_raw_check_syncookie_*)
 * before a worker sees it, and a valid one opens the flow and carries the cookie_* fields above: the
 * worker's engine opens the connection ESTABLISHED from it. The check helper says valid or not but
 * not which MSS the cookie holds, so, as Linux does (cookie_init_timestamp), the options live in the
 * SYN-ACK's TSval, which the ACK echoes: bits 0-3 the peer's window shift (15: none), bit 4 SACK
 * permitted, and (ours) bits 6-7 the MSS index in SLUICE_COOKIE_MSS_V4/V6. A peer that sent no
 * timestamps loses window scaling and SACK (the SYN-ACK offers neither) and gets the smallest MSS.
 */
#define SLUICE_COOKIE_NO_WSCALE      15
#define SLUICE_COOKIE_TS_BITS        8 /* low TSval bits that carry the options */
#define SLUICE_COOKIE_TS_SACK        (1u << 4)
#define SLUICE_COOKIE_TS_MSS(i)      ((__u32)(i) << 6)
#define SLUICE_COOKIE_MSS_IDX(tsval) (((tsval) >> 6) & 3)
/* the kernel's tables (net/ipv4/syncookies.c, net/ipv6/syncookies.c): what the cookie's MSS can be */
#define SLUICE_COOKIE_MSS_V4(i) ((i) == 0 ? 536 : (i) == 1 ? 1300 : (i) == 2 ? 1440 : 1460)
#define SLUICE_COOKIE_MSS_V6(i) ((i) == 0 ? 1220 : (i) == 1 ? 1420 : (i) == 2 ? 1440 : 8940)

enum sluice_cookie_flags {
    SLUICE_COOKIE_SACK = 1u << 0, /* the peer permitted SACK */
    SLUICE_COOKIE_TS = 1u << 1,   /* the peer sends timestamps (the ACK's TSecr carried the options) */
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
    /* bitmask of target workers: one bit is a worker, several a group hashed within. Bit i names the
     * server's worker i: the slot gen_base + i of the generation that owns the connection, so a
     * decision never moves a connection to another process */
    __u64 workers;
    char text[SLUICE_ROUTE_PREFIX_MAX]; /* the route as the operator wrote it, for Huffman keys */
};

/*
 * A path route lives in `routes` twice: under ROUTE_PATH with its text, and under ROUTE_PATH_HUFFMAN
 * with the HPACK Huffman code of that text (prefixlen 32 + the code's exact bit count, no EOS
 * padding; codes longer than SLUICE_ROUTE_PREFIX_MAX bytes are cut there), same route_id, workers
 * and text. XDP looks a Huffman-coded :path up as its coded bytes: Huffman codes are prefix-free
 * and concatenate, so code(prefix) is a bit prefix of code(path) exactly when prefix is a prefix
 * of path, and the LPM trie matches bits. This keeps Huffman decoding (a 257-symbol state machine
 * per bit or nibble) out of the verifier's way; the agent writes both keys (sluice-agent route add).
 */

/* route_stats: per-CPU array indexed by route_id (ids >= SLUICE_MAX_ROUTES are not counted). */
struct route_counters {
    __u64 connections; /* connections the prefix decided to this route */
    __u64 handoffs;    /* of those, connections whose target was another worker than the owner */
};

/*
 * xsks: XSKMAP, the AF_XDP socket that worker w has bound to the device's receive queue q sits at
 * SLUICE_XSKS_KEY(q, w). The kernel delivers a redirected frame only to a socket bound to the queue
 * the frame arrived on (any other is a drop), so the program redirects a packet of queue
 * rx_queue_index to its worker's socket on that queue; each worker has one on every queue it
 * serves. Written by the server, read by the agent through bpf/xsks_probe.bpf.c.
 */
#define SLUICE_XSKS_SLOTS              (SLUICE_MAX_QUEUES * SLUICE_MAX_WORKERS)
#define SLUICE_XSKS_KEY(queue, worker) ((queue)*SLUICE_MAX_WORKERS + (worker))

/*
 * workers: index -> state of the server's worker with that index. Written by the server: by each
 * worker's own thread, from its loop, every SLUICE_PUBLISH_MS or so (never per packet), so a worker
 * blocked in a handler publishes nothing until it returns; heartbeat_ns says when it last did.
 *
 * The load (busy_pct, queue, load) orders XDP's choice between a new connection's two best
 * rendezvous candidates (bpf/steer.bpf.c, "power of two choices"): the less loaded one wins, by
 * busy_pct, then queue, then open connections. overload takes a worker out of the choice for new
 * connections; when it is set on every live worker a SYN is shed (stats drop_overload). The server
 * sets it while draining and while busy_pct is past its [server] shed_busy_pct, with hysteresis.
 * A worker whose heartbeat is older than SLUICE_STALE_MS (non-zero: it has published) counts as
 * 100% busy in that choice: it is blocked, and cannot say so.
 * A new connection's chosen worker whose half_open has reached its syncookie_half_open (non-zero) has
 * XDP answer the SYN with a cookie on its behalf (see "SYN cookies" above); while any live worker
 * publishes a non-zero syncookie_half_open, ACKs without a flow are checked as cookies.
 */
#define SLUICE_PUBLISH_MS 100
#define SLUICE_STALE_MS   (4 * SLUICE_PUBLISH_MS)

struct worker_state {
    __u32 live;         /* the worker's AF_XDP sockets are registered in `xsks` and it accepts flows */
    __u32 overload;     /* new connections are shed in XDP while set */
    __u32 pid;          /* server process that owns the worker */
    __u32 load;         /* open connections */
    __u64 heartbeat_ns; /* CLOCK_MONOTONIC of the last publication */
    __u32 busy_pct;     /* share of the last publication period not spent waiting for input, 0..100 */
    __u32 queue;        /* requests waiting on the worker's behalf (offload jobs) */

    /* SYN cookies ("SYN cookies" above): from syncookie_half_open connections in SYN-RECEIVED
     * (half_open) on, 0: never, XDP answers the worker's SYNs; its SYN-ACK offers syncookie_mss (the
     * engine's IPv4 MSS, IPv6 20 less; 0: the peer's) and syncookie_wscale (SLUICE_COOKIE_NO_WSCALE:
     * none) as the worker's engine would */
    __u32 half_open;
    __u32 syncookie_half_open;
    __u32 syncookie_mss;
    __u32 syncookie_wscale;
    __u32 gen_base; /* the first slot of the worker's generation (SLUICE_GEN_SLOTS above) */
    __u32 _pad;
};

/*
 * stats: one per-CPU entry of named counters. Every packet the steering program sees ends in
 * exactly one of the verdict counters below; bpftool prints them by name, the agent sums CPUs.
 */
#define SLUICE_VERDICT_COUNTERS(X)                                                                           \
    X(pass_not_unicast, "to a multicast or broadcast MAC: passed to the kernel")                             \
    X(pass_not_ip, "not IPv4 or IPv6 (ARP, LLDP, ...): passed to the kernel")                                \
    X(pass_malformed, "truncated or invalid Ethernet/IP/TCP header: passed to the kernel")                   \
    X(pass_fragment, "IPv4 fragment: passed to the kernel")                                                  \
    X(pass_ipv6_ext, "IPv6 extension header before TCP: passed to the kernel")                               \
    X(pass_not_tcp, "not TCP (ICMP, UDP, ...): passed to the kernel")                                        \
    X(pass_not_service, "TCP not addressed to a service: passed to the kernel")                              \
    X(redirect_flow, "existing flow: redirected to its owner")                                               \
    X(redirect_syn, "SYN without a flow: worker hashed, flow inserted, redirected")                          \
    X(redirect_no_flow, "non-SYN without a flow: redirected to the hashed worker, which resets it")          \
    X(drop_no_socket, "chosen worker has no AF_XDP socket on the packet's receive queue: dropped")           \
    X(drop_no_worker, "no live worker for a service packet: dropped")                                        \
    X(drop_overload, "SYN shed because every live worker is overloaded: dropped")                            \
    X(drop_bad_tcp, "TCP header length invalid on a service port: dropped")                                  \
    X(drop_source_cap, "SYN of a new connection whose source has max_conns_per_source open: dropped")        \
    X(tx_syncookie, "SYN answered by XDP with a SYN cookie SYN-ACK: XDP_TX")                                 \
    X(redirect_cookie, "ACK without a flow whose SYN cookie is valid: flow inserted, redirected")            \
    X(drop_cookie_invalid, "ACK without a flow while cookies are in use, its cookie invalid: dropped")

/* Exactly one of these per connection whose prefix was decided (steering services only). */
#define SLUICE_PREFIX_DECISION_COUNTERS(X)                                                                   \
    X(prefix_routed, "decision: a route matched; target is its (live) worker")                               \
    X(prefix_target_not_live, "decision: a route matched but no worker of it is live: target = owner")       \
    X(prefix_default, "decision: key found but no route matched: default route (owner kept)")                \
    X(prefix_no_key, "decision: stream parsed, no key in it (HEADERS without :path, no SNI)")                \
    X(prefix_hpack_dynamic, "decision: :path behind an unresolvable HPACK dynamic-table index: default")     \
    X(prefix_malformed, "decision: not HTTP/2, HTTP/1.1 or TLS, or invalid framing: default route")          \
    X(prefix_too_long, "decision: no key within the byte or segment bound: default route")                   \
    X(prefix_cut, "decision: key or header cut by a segment boundary: default route")

#define SLUICE_EVENT_COUNTERS(X)                                                                             \
    X(vlan_tagged, "packets that carried an 802.1Q/802.1ad tag")                                             \
    X(flow_owner_gone, "flow owner no longer live: flow re-hashed")                                          \
    X(flow_insert_failed, "flow table update failed")                                                        \
    X(steer_least_loaded, "new flow or group decision given to its second choice, the less loaded")          \
    SLUICE_PREFIX_DECISION_COUNTERS(X)                                                                       \
    X(prefix_handoffs, "decisions whose target is another worker than the owner: hand-off due")              \
    X(prefix_awaiting_more, "segment parsed, key not complete yet: the flow waits for the next one")         \
    X(prefix_out_of_order, "payload not at the parser's sequence number while awaiting: not parsed")         \
    X(meta_added, "struct sluice_xdp_meta prepended: the frame's flow awaits its route or hand-off")         \
    X(meta_failed, "bpf_xdp_adjust_head failed: frame redirected without metadata")                          \
    X(source_counted, "new flows counted against their source (max_conns_per_source set)")                   \
    X(source_insert_failed, "sources table update failed: the SYN passed uncounted")                         \
    X(source_undone, "counted SYNs whose flow insert failed: the count was given back")                      \
    X(syncookie_failed, "SYN a cookie was due for but not made (IPv4 options, helper error): to a worker")

struct sluice_stats {
#define SLUICE_STATS_FIELD(name, help) __u64 name;
    SLUICE_VERDICT_COUNTERS(SLUICE_STATS_FIELD)
    SLUICE_EVENT_COUNTERS(SLUICE_STATS_FIELD)
#undef SLUICE_STATS_FIELD
    __u64 redirect_by_worker[SLUICE_MAX_WORKERS];
};

/*
 * sources: LRU client address -> its open connections, for the per-source connection cap
 * (sluice_meta.max_conns_per_source; 0 turns counting off). nginx's limit_conn on
 * $binary_remote_addr, enforced before user space sees the SYN.
 *
 * Who writes what. XDP, at the SYN of a flow it inserts, adds 1 (an atomic fetch-and-add, so that
 * SYNs of one source on several CPUs cannot pass the cap together), refuses the SYN if the count
 * was already at the cap (stats drop_source_cap; the add is undone), and marks the flow
 * FLOW_F_COUNTED. A retransmitted SYN finds its flow and is not counted again; a SYN whose flow
 * insert fails undoes its add. The server, when a connection it holds ends (or it refuses its SYN),
 * runs bpf/source_release.bpf.c with the flow's key: it deletes a FLOW_F_COUNTED flow and, when the
 * delete was its own (one caller wins), takes 1 off the source, never below 0. All changes to
 * `count` are atomic adds from BPF, so XDP and every worker can change it at once.
 *
 * Limits, by design: an entry the LRU evicts (more than SLUICE_MAX_SOURCES sources) starts again
 * at 0, and so does every source when the agent changes the cap (it clears the map); a counted
 * flow the flows LRU evicts before its end, or whose server never ended it (killed; the SYN never
 * reached a worker), keeps its count until its source entry goes; flows opened while the cap was
 * 0 are not counted.
 */
struct source_key {
    __u8 addr[16]; /* IPv4 in addr[0..3], the rest zero */
    __u32 family;  /* enum sluice_family */
};

struct source_value {
    __u64 count;   /* open flows counted (FLOW_F_COUNTED) */
    __u64 refused; /* SYNs refused at the cap */
};

/* meta: one entry written by the agent at load, read by everyone who opens the pins; a server
 * writes new_flow_workers (read, changed, written back as the agent does) once its workers are
 * live. */
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
    __u64 loaded_at;            /* seconds since the epoch */
    __u32 max_conns_per_source; /* the per-source cap (`sources`): 0 off; agent load --max-conns-per-source */
    __u32 _pad;
    /* the worker slots new connections (SYNs, cookie ACKs) go to: the newest generation's half; 0:
     * every slot (no takeover since the load, or a server started fresh) */
    __u64 new_flow_workers;
};

#endif
