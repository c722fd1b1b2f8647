/*
 * steer_test.c — unit tests of bpf/steer.bpf.c through BPF_PROG_TEST_RUN.
 *
 * The steering program is loaded from its skeleton (not pinned, not attached) and fed crafted
 * frames (tests/bpf/packets.c). Each case asserts the verdict, which single verdict counter moved,
 * the worker a redirect went to (from the per-worker counters) and what changed in `flows`.
 * Workers' sockets are real AF_XDP sockets placed in `xsks` (on queue 0 unless a case says otherwise:
 * a test run's frame arrives on queue 0 unless it names a device and queue); test runs never deliver
 * frames, so the sockets need not be bound. Needs root (CAP_BPF, CAP_NET_ADMIN).
 *
 * The stream-prefix cases feed first bytes captured from real clients (tests/bpf/fixtures/, see its
 * README) and crafted HTTP/2, HTTP/1.1 and TLS inputs, and check the decision written to the flow,
 * the one decision counter that moved, per-route counters, and the struct sluice_xdp_meta the
 * program prepends to the output frame (found as user space finds it: by its magic at the start).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/addr.h"
#include "tests/lib/check.h"
#include "maps/flow_hash.h"
#include "common/hpack_huffman.h"
#include "tests/bpf/packets.h"
#include "bpf/steer.skel.h"
#include "bpf/source_release.skel.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

#define SERVICE_V4 "10.0.0.1"
#define SERVICE_V6 "fd00::1"
#define CLIENT_V4  "10.1.0.2"
#define CLIENT_V6  "fd00::2"

static struct steer *skel;
static struct source_release *release_skel; /* bpf/source_release.bpf.c over skel's flows and sources */
static int xsk_fd[SLUICE_MAX_WORKERS];
static int ncpus;
static __u32 run_ifindex, run_queue; /* the device and receive queue test runs claim (0: none, 0) */

/* ---- fixture ---------------------------------------------------------------------------------- */

static void clear_map(int fd)
{
    unsigned char key[128];

    while (bpf_map_get_next_key(fd, NULL, key) == 0)
        if (bpf_map_delete_elem(fd, key))
            break;
}

static int add_service(const char *addr, __u16 port, __u32 flags)
{
    struct service_key key = {.port = port};
    struct service_value value = {.service_id = port, .flags = flags};

    if (addr_parse(addr, key.addr, &key.family))
        return -1;
    return bpf_map_update_elem(bpf_map__fd(skel->maps.services), &key, &value, BPF_ANY);
}

/* Worker i: live or not, overloaded or not, and with or without a socket in xsks. */
static int set_worker(__u32 i, bool live, bool overload, bool with_socket)
{
    struct worker_state ws = {.live = live, .overload = overload, .pid = live ? (__u32)getpid() : 0};
    int xsks = bpf_map__fd(skel->maps.xsks);
    __u32 slot = SLUICE_XSKS_KEY(0, i);

    if (bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &ws, BPF_ANY))
        return -1;
    if (!with_socket) {
        bpf_map_delete_elem(xsks, &slot);
        return 0;
    }
    if (xsk_fd[i] < 0)
        xsk_fd[i] = socket(AF_XDP, SOCK_RAW, 0);
    if (xsk_fd[i] < 0)
        return -1;
    return bpf_map_update_elem(xsks, &slot, &xsk_fd[i], BPF_ANY);
}

/* Worker i's published load: busy share, requests waiting, open connections (live, overload kept). */
static int set_load(__u32 i, __u32 busy_pct, __u32 queue, __u32 conns)
{
    int fd = bpf_map__fd(skel->maps.workers);
    struct worker_state ws;

    if (bpf_map_lookup_elem(fd, &i, &ws))
        return -1;
    ws.busy_pct = busy_pct;
    ws.queue = queue;
    ws.load = conns;
    return bpf_map_update_elem(fd, &i, &ws, BPF_ANY);
}

static void reset(void)
{
    struct worker_state none = {0};
    struct sluice_stats *zero = calloc(ncpus, sizeof(*zero));
    __u32 k = 0;

    clear_map(bpf_map__fd(skel->maps.services));
    clear_map(bpf_map__fd(skel->maps.flows));
    clear_map(bpf_map__fd(skel->maps.routes));
    {
        struct route_counters *none = calloc(ncpus, sizeof(*none));

        for (__u32 id = 0; id < 64; id++)
            bpf_map_update_elem(bpf_map__fd(skel->maps.route_stats), &id, none, BPF_ANY);
        free(none);
    }
    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++)
        bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &none, BPF_ANY);
    for (__u32 i = 0; i < SLUICE_XSKS_SLOTS; i++)
        bpf_map_delete_elem(bpf_map__fd(skel->maps.xsks), &i);
    bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &k, zero, BPF_ANY);
    free(zero);
    clear_map(bpf_map__fd(skel->maps.sources));
    {
        struct sluice_meta meta = {.abi_version = SLUICE_ABI_VERSION}; /* max_conns_per_source 0: off */

        bpf_map_update_elem(bpf_map__fd(skel->maps.meta), &k, &meta, BPF_ANY);
    }
}

/* Services on port 80 of SERVICE_V4 and SERVICE_V6; workers 0-3 live with sockets. */
static int setup_default(void)
{
    reset();
    if (add_service(SERVICE_V4, 80, 0) || add_service(SERVICE_V6, 80, 0))
        return -1;
    for (__u32 i = 0; i < 4; i++)
        if (set_worker(i, true, false, true))
            return -1;
    return 0;
}

static struct pkt_spec v4(__u8 flags)
{
    return (struct pkt_spec){
        .family = 4, .src = CLIENT_V4, .dst = SERVICE_V4, .sport = 40000, .dport = 80, .tcp_flags = flags};
}

static struct pkt_spec v6(__u8 flags)
{
    return (struct pkt_spec){
        .family = 6, .src = CLIENT_V6, .dst = SERVICE_V6, .sport = 40000, .dport = 80, .tcp_flags = flags};
}

/* ---- running frames and reading what changed -------------------------------------------------- */

static int read_stats(struct sluice_stats *total)
{
    struct sluice_stats *percpu = calloc(ncpus, sizeof(*percpu));
    __u32 zero = 0;

    if (!percpu || bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &zero, percpu)) {
        free(percpu);
        return -1;
    }
    memset(total, 0, sizeof(*total));
    for (int c = 0; c < ncpus; c++)
        for (size_t i = 0; i < sizeof(*total) / 8; i++)
            ((__u64 *)total)[i] += ((__u64 *)&percpu[c])[i];
    free(percpu);
    return 0;
}

struct outcome {
    int verdict;
    struct sluice_stats delta;
    __u32 metalen;               /* bytes of struct sluice_xdp_meta in front of the output frame */
    struct sluice_xdp_meta meta; /* valid when metalen == sizeof(meta) */
};

/* The output frame of the last run (metadata included, metalen bytes of it first) and its length. */
static unsigned char output[PKT_MAX + 256];
static __u32 output_len;

static int run_frame(const unsigned char *frame, size_t len, struct outcome *out)
{
    struct xdp_md ctx_in = {
        .data_end = (__u32)len, .ingress_ifindex = run_ifindex, .rx_queue_index = run_queue};
    struct xdp_md ctx_out = {0};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .data_out = output,
                .data_size_out = sizeof(output), .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in),
                .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out), .repeat = 1);
    struct sluice_stats before, after;

    if (read_stats(&before) || bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts) ||
        read_stats(&after))
        return -1;
    output_len = opts.data_size_out;
    out->verdict = (int)opts.retval;
    memset(&out->meta, 0, sizeof(out->meta));
    out->metalen = 0;
    if (out->verdict == XDP_REDIRECT && output_len >= sizeof(out->meta) + ETH_HLEN) {
        memcpy(&out->meta, output, sizeof(out->meta));
        if (out->meta.magic == SLUICE_XDP_META_MAGIC && ctx_out.data == 0)
            out->metalen = sizeof(out->meta);
        else
            memset(&out->meta, 0, sizeof(out->meta));
    }
    for (size_t i = 0; i < sizeof(before) / 8; i++)
        ((__u64 *)&out->delta)[i] = ((__u64 *)&after)[i] - ((__u64 *)&before)[i];
    return 0;
}

static int run(const struct pkt_spec *spec, struct outcome *out)
{
    unsigned char frame[PKT_MAX];

    return run_frame(frame, pkt_build(spec, frame), out);
}

/* The one verdict counter that moved by one, or NULL when none or several moved. */
static const char *verdict_counter(const struct sluice_stats *d)
{
    const char *name = NULL;
    int moved = 0;

#define ONE(field, help)                                                                                     \
    if (d->field) {                                                                                          \
        moved += (int)d->field;                                                                              \
        name = #field;                                                                                       \
    }
    SLUICE_VERDICT_COUNTERS(ONE)
#undef ONE
    return moved == 1 ? name : NULL;
}

/* The worker whose redirect counter moved, -1 if none, -2 if several. */
static int redirected_worker(const struct sluice_stats *d)
{
    int worker = -1;

    for (int i = 0; i < SLUICE_MAX_WORKERS; i++) {
        if (!d->redirect_by_worker[i])
            continue;
        if (worker != -1 || d->redirect_by_worker[i] != 1)
            return -2;
        worker = i;
    }
    return worker;
}

static const char *verdict_name(int v)
{
    static const char *names[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};

    return v >= 0 && v <= 4 ? names[v] : "?";
}

static struct outcome last;

/* Run spec; check the verdict, that counter alone moved, and the redirect went to worker (-1: none). */
#define EXPECT(spec, want_verdict, want_counter, want_worker)                                                \
    EXPECT_RUN(run((spec), &last), want_verdict, want_counter, want_worker)
/* The same for a frame built by hand. */
#define EXPECT_FRAME(frame, len, want_verdict, want_counter, want_worker)                                    \
    EXPECT_RUN(run_frame((frame), (len), &last), want_verdict, want_counter, want_worker)
#define EXPECT_RUN(call, want_verdict, want_counter, want_worker)                                            \
    do {                                                                                                     \
        const char *_moved;                                                                                  \
        CHECK((call) == 0);                                                                                  \
        CHECKF(last.verdict == (want_verdict), "verdict %s, expected %s", verdict_name(last.verdict),        \
               verdict_name(want_verdict));                                                                  \
        _moved = verdict_counter(&last.delta);                                                               \
        CHECKF(_moved && !strcmp(_moved, (want_counter)), "counter %s moved, expected %s",                   \
               _moved ? _moved : "none or several", (want_counter));                                         \
        CHECKF(redirected_worker(&last.delta) == (want_worker), "redirected to %d, expected %d",             \
               redirected_worker(&last.delta), (want_worker));                                               \
    } while (0)

static int flow_key_of(const struct pkt_spec *s, struct flow_key *key)
{
    memset(key, 0, sizeof(*key));
    key->family = s->family == 6 ? SLUICE_IPV6 : SLUICE_IPV4;
    key->sport = s->sport;
    key->dport = s->dport;
    if (inet_pton(s->family == 6 ? AF_INET6 : AF_INET, s->src, key->saddr) != 1 ||
        inet_pton(s->family == 6 ? AF_INET6 : AF_INET, s->dst, key->daddr) != 1)
        return -1;
    return 0;
}

static int lookup_flow(const struct pkt_spec *s, struct flow_value *value)
{
    struct flow_key key;

    if (flow_key_of(s, &key))
        return -1;
    return bpf_map_lookup_elem(bpf_map__fd(skel->maps.flows), &key, value);
}

static int count_flows(void)
{
    struct flow_key key, next;
    void *prev = NULL;
    int n = 0;

    while (bpf_map_get_next_key(bpf_map__fd(skel->maps.flows), prev, &next) == 0) {
        n++;
        key = next;
        prev = &key;
    }
    return n;
}

/* Rendezvous winner over the workers in mask, computed independently of the program. */
static int expected_worker(const struct pkt_spec *s, __u64 mask)
{
    struct flow_key key;
    __u32 hash, best = 0;
    int winner = -1;

    if (flow_key_of(s, &key))
        return -1;
    hash = flow_hash(&key);
    for (int i = 0; i < SLUICE_MAX_WORKERS; i++) {
        __u32 score;

        if (!(mask & (1ull << i)))
            continue;
        score = flow_hash_score(hash, (__u32)i);
        if (winner < 0 || score > best) {
            best = score;
            winner = i;
        }
    }
    return winner;
}

/* ---- passed to the kernel --------------------------------------------------------------------- */

static void test_arp_passed(void)
{
    struct pkt_spec s = v4(0);

    CHECK(setup_default() == 0);
    s.ethertype = ETH_P_ARP;
    EXPECT(&s, XDP_PASS, "pass_not_ip", -1);
}

static void test_lldp_passed(void)
{
    struct pkt_spec s = v4(0);

    CHECK(setup_default() == 0);
    s.ethertype = 0x88cc;
    EXPECT(&s, XDP_PASS, "pass_not_ip", -1);
}

/*
 * A service's SYN to a group MAC (multicast, broadcast) is the kernel's: what the steering program
 * redirects starts with a unicast MAC or with its prefix, whose magic reads as a group address.
 */
static void test_group_mac_passed(void)
{
    static const unsigned char group[][6] = {{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
                                             {0x33, 0x33, 0x00, 0x00, 0x00, 0x01},
                                             {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                                             {0x31, 0x4d, 0x4c, 0x53, 0x00, 0x00}};
    struct pkt_spec s4 = v4(TH_SYN), s6 = v6(TH_SYN);
    unsigned char frame[PKT_MAX];

    CHECK(setup_default() == 0);
    for (size_t i = 0; i < sizeof(group) / sizeof(group[0]); i++) {
        size_t len = pkt_build(i % 2 ? &s6 : &s4, frame);

        memcpy(frame, group[i], 6);
        EXPECT_FRAME(frame, len, XDP_PASS, "pass_not_unicast", -1);
        CHECK(last.metalen == 0);
    }
    CHECK(run(&s4, &last) == 0 && last.verdict == XDP_REDIRECT && last.delta.redirect_syn == 1);
}

static void test_ethernet_only(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.truncate = ETH_HLEN;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
    CHECK(count_flows() == 0);
}

static void test_ipv4_truncated(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.truncate = ETH_HLEN + 12;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv4_bad_version(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.ip_version = 5;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv4_ihl_too_small(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.ihl = 4;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv4_ihl_past_end(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.ihl = 15;
    s.truncate = ETH_HLEN + 60 + 8; /* options claimed up to 60 bytes, then only 8 of TCP */
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv4_icmp_passed(void)
{
    struct pkt_spec s = v4(0);

    CHECK(setup_default() == 0);
    s.l4proto = IPPROTO_ICMP;
    EXPECT(&s, XDP_PASS, "pass_not_tcp", -1);
}

static void test_ipv4_udp_on_service_port(void)
{
    struct pkt_spec s = v4(0);

    CHECK(setup_default() == 0);
    s.l4proto = IPPROTO_UDP;
    EXPECT(&s, XDP_PASS, "pass_not_tcp", -1);
}

static void test_ipv4_other_port_passed(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.dport = 22;
    EXPECT(&s, XDP_PASS, "pass_not_service", -1);
    CHECK(count_flows() == 0);
}

static void test_ipv4_other_address_passed(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.dst = "10.0.0.9";
    EXPECT(&s, XDP_PASS, "pass_not_service", -1);
}

static void test_ipv4_fragment_mf(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.frag = 0x2000;
    EXPECT(&s, XDP_PASS, "pass_fragment", -1);
    CHECK(count_flows() == 0);
}

static void test_ipv4_fragment_offset(void)
{
    struct pkt_spec s = v4(TH_ACK);

    CHECK(setup_default() == 0);
    s.frag = 185; /* offset 1480 bytes, last fragment */
    EXPECT(&s, XDP_PASS, "pass_fragment", -1);
}

static void test_ipv4_tcp_truncated(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.truncate = ETH_HLEN + 20 + 12;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv6_truncated(void)
{
    struct pkt_spec s = v6(TH_SYN);

    CHECK(setup_default() == 0);
    s.truncate = ETH_HLEN + 30;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_ipv6_bad_version(void)
{
    struct pkt_spec s = v6(TH_SYN);

    CHECK(setup_default() == 0);
    s.ip_version = 4;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void ipv6_extension_passed(__u8 ext)
{
    struct pkt_spec s = v6(TH_SYN);

    CHECK(setup_default() == 0);
    s.ipv6_ext = true;
    s.ipv6_ext_type = ext;
    EXPECT(&s, XDP_PASS, "pass_ipv6_ext", -1);
    CHECK(count_flows() == 0);
}

static void test_ipv6_hop_by_hop(void)
{
    ipv6_extension_passed(IPPROTO_HOPOPTS);
}

static void test_ipv6_routing_header(void)
{
    ipv6_extension_passed(IPPROTO_ROUTING);
}

static void test_ipv6_fragment_header(void)
{
    ipv6_extension_passed(IPPROTO_FRAGMENT);
}

static void test_ipv6_dstopts(void)
{
    ipv6_extension_passed(IPPROTO_DSTOPTS);
}

static void test_ipv6_ah(void)
{
    ipv6_extension_passed(IPPROTO_AH);
}

static void test_ipv6_esp(void)
{
    ipv6_extension_passed(IPPROTO_ESP);
}

static void test_ipv6_icmp_passed(void)
{
    struct pkt_spec s = v6(0);

    CHECK(setup_default() == 0);
    s.l4proto = IPPROTO_ICMPV6;
    EXPECT(&s, XDP_PASS, "pass_not_tcp", -1);
}

static void test_ipv6_other_port_passed(void)
{
    struct pkt_spec s = v6(TH_SYN);

    CHECK(setup_default() == 0);
    s.dport = 443;
    EXPECT(&s, XDP_PASS, "pass_not_service", -1);
}

static void test_family_does_not_cross(void)
{
    struct pkt_spec s = v6(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, false, true) == 0);
    EXPECT(&s, XDP_PASS, "pass_not_service", -1);
}

/* ---- service packets that are dropped --------------------------------------------------------- */

static void test_tcp_doff_too_small(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.tcp_doff = 3;
    EXPECT(&s, XDP_DROP, "drop_bad_tcp", -1);
    CHECK(count_flows() == 0);
}

static void test_tcp_doff_past_end(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.tcp_doff = 15;
    s.truncate = ETH_HLEN + 20 + 40;
    EXPECT(&s, XDP_DROP, "drop_bad_tcp", -1);
}

static void test_no_live_worker(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    EXPECT(&s, XDP_DROP, "drop_no_worker", -1);
    CHECK(count_flows() == 0);
}

static void test_live_worker_without_socket(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(5, true, false, false) == 0);
    EXPECT(&s, XDP_DROP, "drop_no_socket", -1);
}

/* Inside the test's own network namespace, on a device with SLUICE_MAX_QUEUES + 1 receive queues. */
static void queue_cases(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int xsks = bpf_map__fd(skel->maps.xsks), w = expected_worker(&s, 0xf);

    CHECK(system("ip link add sq numrxqueues 17 numtxqueues 17 type veth peer name sqp") == 0);
    run_ifindex = if_nametoindex("sq");
    CHECK(run_ifindex != 0);
    /* workers 0-3 have sockets on queue 0 only: a frame of queue 1 has nowhere to go */
    CHECK(setup_default() == 0);
    run_queue = 1;
    EXPECT(&s, XDP_DROP, "drop_no_socket", -1);
    /* with their sockets on queue 1 too, it goes to the hashed worker's */
    CHECK(setup_default() == 0);
    for (__u32 i = 0; i < 4; i++) {
        __u32 slot = SLUICE_XSKS_KEY(1, i);

        CHECK(bpf_map_update_elem(xsks, &slot, &xsk_fd[i], BPF_ANY) == 0);
    }
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", w);
    /* the flow's later frames on queue 1 follow it; on queue 0 too, while the socket is there */
    s.tcp_flags = TH_ACK;
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", w);
    run_queue = 0;
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", w);
    for (__u32 i = 0; i < 4; i++) {
        __u32 slot = SLUICE_XSKS_KEY(0, i);

        CHECK(bpf_map_delete_elem(xsks, &slot) == 0);
    }
    EXPECT(&s, XDP_DROP, "drop_no_socket", -1);
    /* a queue past SLUICE_MAX_QUEUES has no slot at all */
    run_queue = SLUICE_MAX_QUEUES;
    EXPECT(&s, XDP_DROP, "drop_no_socket", -1);
}

/* xsks is keyed by (receive queue, worker): a frame goes to its worker's socket on its queue. */
static void test_redirect_by_receive_queue(void)
{
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

    CHECK(home >= 0);
    if (unshare(CLONE_NEWNET)) {
        close(home);
        CHECKF(false, "unshare: %s", strerror(errno));
    }
    queue_cases();
    run_ifindex = run_queue = 0;
    /* the namespace, and the device in it, go when the test leaves */
    CHECKF(setns(home, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
    close(home);
}

static void test_all_overloaded_sheds_syn(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, true, true) == 0);
    CHECK(set_worker(1, true, true, true) == 0);
    EXPECT(&s, XDP_DROP, "drop_overload", -1);
    CHECK(count_flows() == 0);
}

static void test_overloaded_still_gets_segments(void)
{
    struct pkt_spec s = v4(TH_ACK);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, true, true) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", 0);
}

/* ---- redirected ------------------------------------------------------------------------------- */

static void test_syn_inserts_flow(void)
{
    struct pkt_spec s = v4(TH_SYN);
    struct flow_value fv;
    int want = expected_worker(&s, 0xf);

    CHECK(setup_default() == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", want);
    CHECK(lookup_flow(&s, &fv) == 0);
    CHECKF(fv.worker == (__u32)want, "flow owner %u", fv.worker);
    CHECKF(fv.state == FLOW_HASHED, "flow state %u", fv.state);
    CHECK(fv.created_ns != 0 && fv.target == fv.worker);
    CHECK(last.metalen == 0 && last.delta.meta_added == 0); /* nothing pending: no metadata */
    CHECK(count_flows() == 1);
}

static void test_established_follows_flow(void)
{
    struct pkt_spec syn = v4(TH_SYN), ack = v4(TH_ACK);
    int want = expected_worker(&syn, 0xf);

    CHECK(setup_default() == 0);
    EXPECT(&syn, XDP_REDIRECT, "redirect_syn", want);
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", want);
    ack.tcp_flags = TH_ACK | TH_PSH;
    ack.payload = 300;
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", want);
    ack.tcp_flags = TH_RST;
    ack.payload = 0;
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", want);
    CHECK(count_flows() == 1);
}

static void test_flow_wins_over_hash(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct flow_key key;
    struct flow_value fv = {.worker = 3, .state = FLOW_ROUTED};
    int hashed = expected_worker(&s, 0xf);

    CHECK(setup_default() == 0);
    if (hashed == 3)
        fv.worker = 2;
    CHECK(flow_key_of(&s, &key) == 0);
    CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &key, &fv, BPF_ANY) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", (int)fv.worker);
}

static void test_syn_retransmit_same_worker(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int want = expected_worker(&s, 0xf);

    CHECK(setup_default() == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", want);
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", want);
    CHECK(count_flows() == 1);
}

static void test_non_syn_without_flow(void)
{
    struct pkt_spec s = v4(TH_ACK | TH_PSH);

    CHECK(setup_default() == 0);
    s.payload = 100;
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, 0xf));
    CHECK(count_flows() == 0);
}

static void test_synack_is_not_a_new_flow(void)
{
    struct pkt_spec s = v4(TH_SYN | TH_ACK);

    CHECK(setup_default() == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, 0xf));
    CHECK(count_flows() == 0);
}

static void test_ipv6_syn_inserts_flow(void)
{
    struct pkt_spec s = v6(TH_SYN);
    struct flow_value fv;
    int want = expected_worker(&s, 0xf);

    CHECK(setup_default() == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", want);
    CHECK(lookup_flow(&s, &fv) == 0);
    CHECK(fv.worker == (__u32)want);
    s.tcp_flags = TH_ACK;
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", want);
}

static void test_ipv4_options(void)
{
    struct pkt_spec s = v4(TH_SYN);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    for (int opt = 4; opt <= 40; opt += 12) {
        s.ip_options = opt;
        s.sport = (__u16)(41000 + opt);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
        CHECKF(lookup_flow(&s, &fv) == 0, "no flow with %d option bytes", opt);
    }
}

static void test_ipv4_dont_fragment_is_not_a_fragment(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.frag = 0x4000;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
}

static void test_vlan_8021q(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.vlan_proto = ETH_P_8021Q;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
    CHECK(last.delta.vlan_tagged == 1);
}

static void test_vlan_8021ad_ipv6(void)
{
    struct pkt_spec s = v6(TH_SYN);

    CHECK(setup_default() == 0);
    s.vlan_proto = ETH_P_8021AD;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
    CHECK(last.delta.vlan_tagged == 1);
}

static void test_vlan_arp_passed(void)
{
    struct pkt_spec s = v4(0);

    CHECK(setup_default() == 0);
    s.vlan_proto = ETH_P_8021Q;
    s.ethertype = ETH_P_ARP;
    EXPECT(&s, XDP_PASS, "pass_not_ip", -1);
}

static void test_vlan_truncated(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    s.vlan_proto = ETH_P_8021Q;
    s.truncate = ETH_HLEN + 2;
    EXPECT(&s, XDP_PASS, "pass_malformed", -1);
}

static void test_wildcard_service_v4(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service("0.0.0.0", 8080, 0) == 0);
    CHECK(set_worker(0, true, false, true) == 0);
    s.dport = 8080;
    s.dst = "10.9.9.9";
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", 0);
    s.dport = 8081;
    EXPECT(&s, XDP_PASS, "pass_not_service", -1);
}

static void test_wildcard_service_v6(void)
{
    struct pkt_spec s = v6(TH_SYN);

    reset();
    CHECK(add_service("::", 8443, 0) == 0);
    CHECK(set_worker(2, true, false, true) == 0);
    s.dport = 8443;
    s.dst = "fd00::99";
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", 2);
}

static void test_steering_service_awaits_prefix(void)
{
    struct pkt_spec s = v4(TH_SYN);
    struct flow_value fv;

    reset();
    CHECK(add_service(SERVICE_V4, 80, SERVICE_F_STEER) == 0);
    CHECK(set_worker(1, true, false, true) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", 1);
    CHECK(lookup_flow(&s, &fv) == 0);
    CHECKF(fv.state == FLOW_AWAIT_PREFIX, "state %u", fv.state);
    CHECK(fv.target == 1 && fv.worker == 1);
    /* the SYN already tells the owner to hold the connection until the route is known */
    CHECKF(last.metalen == sizeof(struct sluice_xdp_meta), "metadata of %u bytes", last.metalen);
    CHECK(last.meta.magic == SLUICE_XDP_META_MAGIC && last.meta.flow_state == FLOW_AWAIT_PREFIX &&
          last.meta.target == 1 && last.delta.meta_added == 1);
}

static void test_overloaded_worker_skipped_for_syn(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, true, true) == 0);
    CHECK(set_worker(1, true, false, true) == 0);
    for (int i = 0; i < 50; i++) {
        s.sport = (__u16)(20000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", 1);
    }
}

static void test_flow_to_overloaded_owner_kept(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int owner = expected_worker(&s, 0x3);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, false, true) == 0);
    CHECK(set_worker(1, true, false, true) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", owner);
    CHECK(set_worker((__u32)owner, true, true, true) == 0);
    s.tcp_flags = TH_ACK;
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", owner);
}

static void test_flow_owner_gone_rehashed(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int owner = expected_worker(&s, 0xf);
    __u64 rest = 0xfull & ~(1ull << owner);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", owner);
    CHECK(set_worker((__u32)owner, false, false, false) == 0);
    s.tcp_flags = TH_ACK;
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, rest));
    CHECK(last.delta.flow_owner_gone == 1);
    /* a new SYN on the same tuple takes a live worker and rewrites the flow */
    s.tcp_flags = TH_SYN;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, rest));
    CHECK(lookup_flow(&s, &fv) == 0);
    CHECK(fv.worker == (__u32)expected_worker(&s, rest));
}

static void test_corrupt_flow_owner(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct flow_key key;
    struct flow_value fv = {.worker = 1000, .state = FLOW_HASHED};

    CHECK(setup_default() == 0);
    CHECK(flow_key_of(&s, &key) == 0);
    CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &key, &fv, BPF_ANY) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, 0xf));
    CHECK(last.delta.flow_owner_gone == 1);
}

/* ---- the stable hash -------------------------------------------------------------------------- */

#define SPREAD_FLOWS 2000

/* Owners of SPREAD_FLOWS fresh SYNs with the given workers live; flows are cleared afterwards. */
static int owners(__u64 live, int *owner)
{
    struct pkt_spec s = v4(TH_SYN);
    struct outcome out;

    reset();
    if (add_service(SERVICE_V4, 80, 0))
        return -1;
    for (__u32 i = 0; i < 8; i++)
        if ((live & (1ull << i)) && set_worker(i, true, false, true))
            return -1;
    for (int f = 0; f < SPREAD_FLOWS; f++) {
        s.sport = (__u16)(10000 + f % 50000);
        s.src = f % 2 ? "10.1.0.2" : "10.1.0.3";
        if (run(&s, &out) || out.verdict != XDP_REDIRECT)
            return -1;
        owner[f] = redirected_worker(&out.delta);
    }
    return 0;
}

static void test_hash_spreads_evenly(void)
{
    int owner[SPREAD_FLOWS], per[4] = {0};

    CHECK(owners(0xf, owner) == 0);
    for (int f = 0; f < SPREAD_FLOWS; f++) {
        CHECK(owner[f] >= 0 && owner[f] < 4);
        per[owner[f]]++;
    }
    for (int w = 0; w < 4; w++)
        CHECKF(per[w] > SPREAD_FLOWS / 4 * 7 / 10 && per[w] < SPREAD_FLOWS / 4 * 13 / 10, "worker %d got %d",
               w, per[w]);
}

static void test_worker_joining_moves_few_flows(void)
{
    static int before[SPREAD_FLOWS], after[SPREAD_FLOWS];
    int moved = 0;

    CHECK(owners(0xf, before) == 0);
    CHECK(owners(0x1f, after) == 0);
    for (int f = 0; f < SPREAD_FLOWS; f++) {
        if (before[f] == after[f])
            continue;
        CHECKF(after[f] == 4, "flow %d moved from %d to %d, not to the new worker", f, before[f], after[f]);
        moved++;
    }
    /* 1/5 of the flows should move; allow for the sample */
    CHECKF(moved > SPREAD_FLOWS / 5 * 7 / 10 && moved < SPREAD_FLOWS / 5 * 13 / 10, "moved %d", moved);
}

static void test_worker_leaving_moves_only_its_flows(void)
{
    static int before[SPREAD_FLOWS], after[SPREAD_FLOWS];

    CHECK(owners(0xf, before) == 0);
    CHECK(owners(0xd, after) == 0); /* worker 1 leaves */
    for (int f = 0; f < SPREAD_FLOWS; f++) {
        if (before[f] != 1)
            CHECKF(after[f] == before[f], "flow %d of worker %d moved to %d", f, before[f], after[f]);
        else
            CHECKF(after[f] != 1, "flow %d stayed on the departed worker", f);
    }
}

/* ---- load-aware choice: power of two choices over the published load ------------------------- */

/* The rendezvous hash's first and second choice over the workers in mask (second -1: only one). */
static int hash_choices(const struct pkt_spec *s, __u64 mask, int *second)
{
    int first = expected_worker(s, mask);

    *second = first >= 0 ? expected_worker(s, mask & ~(1ull << first)) : -1;
    return first;
}

/* Worker 0 busy: every new flow goes to worker 1, those the hash prefers 0 for counted as second choices. */
static void test_busy_worker_loses_new_flows(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int second, preferred0 = 0;

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, false, true) == 0 && set_worker(1, true, false, true) == 0);
    CHECK(set_load(0, 95, 0, 3) == 0 && set_load(1, 5, 0, 3) == 0);
    for (int i = 0; i < 40; i++) {
        struct flow_value fv;
        int first;

        s.sport = (__u16)(21000 + i);
        first = hash_choices(&s, 0x3, &second);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", 1);
        CHECKF(last.delta.steer_least_loaded == (first == 0), "steer_least_loaded %llu, hash's first %d",
               (unsigned long long)last.delta.steer_least_loaded, first);
        CHECK(lookup_flow(&s, &fv) == 0 && fv.worker == 1);
        preferred0 += first == 0;
    }
    CHECKF(preferred0 > 5, "only %d of 40 flows hashed to worker 0 first", preferred0);
    /* existing flows stay where they are when the load turns */
    CHECK(set_load(0, 0, 0, 3) == 0 && set_load(1, 100, 0, 3) == 0);
    s.tcp_flags = TH_ACK;
    for (int i = 0; i < 40; i++) {
        s.sport = (__u16)(21000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_flow", 1);
    }
}

/* Equal loads, and loads within the bands, keep the pure hash's placement: nothing moves. */
static void test_equal_loads_keep_hash(void)
{
    static const __u32 busy[4] = {40, 40, 40, 40}, near_busy[4] = {0, 9, 3, 5};
    static const __u32 conns[4] = {10, 10, 10, 10}, near_conns[4] = {10, 14, 12, 8};
    struct pkt_spec s = v4(TH_SYN);

    for (int round = 0; round < 2; round++) {
        CHECK(setup_default() == 0);
        for (__u32 w = 0; w < 4; w++)
            CHECK(set_load(w, round ? near_busy[w] : busy[w], 2, round ? near_conns[w] : conns[w]) == 0);
        for (int i = 0; i < 100; i++) {
            s.sport = (__u16)(22000 + i);
            s.src = i % 2 ? "10.1.0.2" : "10.1.0.3";
            EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
            CHECK(last.delta.steer_least_loaded == 0);
        }
    }
}

/* Only the hash's two best are compared: an idle third worker does not draw the flow. */
static void test_only_two_choices(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    for (int i = 0; i < 40; i++) {
        int first, second;

        s.sport = (__u16)(23000 + i);
        first = hash_choices(&s, 0xf, &second);
        for (__u32 w = 0; w < 4; w++)
            CHECK(set_load(w, (int)w == first ? 90 : (int)w == second ? 60 : 0, 0, 0) == 0);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", second);
        CHECK(last.delta.steer_least_loaded == 1);
    }
}

/* Busy shares within the band: the queue decides, then (within its band) the open connections. */
static void test_queue_then_connections(void)
{
    struct pkt_spec s = v4(TH_SYN);

    for (int i = 0; i < 20; i++) {
        int first, second;

        s.sport = (__u16)(24000 + i);
        CHECK(setup_default() == 0);
        first = hash_choices(&s, 0xf, &second);
        CHECK(set_load((__u32)first, 50, 1, 0) == 0 && set_load((__u32)second, 55, 0, 0) == 0);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", second); /* a request waits on the first */

        s.sport = (__u16)(25000 + i);
        CHECK(setup_default() == 0);
        first = hash_choices(&s, 0xf, &second);
        CHECK(set_load((__u32)first, 20, 0, 30) == 0 && set_load((__u32)second, 25, 0, 20) == 0);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", second); /* 30 > 20 + 5 + 4 connections */
        CHECK(set_load((__u32)first, 20, 0, 29) == 0);
        s.sport = (__u16)(26000 + i);
        first = hash_choices(&s, 0xf, &second);
        CHECK(set_load((__u32)first, 0, 0, 29) == 0 && set_load((__u32)second, 0, 0, 20) == 0);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", first); /* 29: within the band */
    }
}

static __u64 monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* A worker that stopped publishing (blocked in a handler) counts as fully busy; a fresh one does not. */
static void test_stale_heartbeat_counts_as_busy(void)
{
    int fd = bpf_map__fd(skel->maps.workers);
    struct pkt_spec s = v4(TH_SYN);
    struct worker_state ws;
    __u32 w0 = 0;

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, false, true) == 0 && set_worker(1, true, false, true) == 0);
    CHECK(set_load(1, 50, 0, 0) == 0);
    CHECK(bpf_map_lookup_elem(fd, &w0, &ws) == 0);
    ws.heartbeat_ns = monotonic_ns() - (SLUICE_STALE_MS + 100) * 1000000ull; /* idle, but silent */
    CHECK(bpf_map_update_elem(fd, &w0, &ws, BPF_ANY) == 0);
    for (int i = 0; i < 20; i++) {
        s.sport = (__u16)(28000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", 1);
    }
    ws.heartbeat_ns = monotonic_ns(); /* it published again: idle, so it wins its share back */
    CHECK(bpf_map_update_elem(fd, &w0, &ws, BPF_ANY) == 0);
    for (int i = 0; i < 20; i++) {
        s.sport = (__u16)(28100 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", 0);
    }
}

/* Loaded past the threshold, both workers publish overload: SYNs are shed, other segments are not. */
static void test_all_busy_and_overloaded_shed(void)
{
    struct pkt_spec s = v4(TH_SYN);

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(set_worker(0, true, true, true) == 0 && set_worker(1, true, true, true) == 0);
    CHECK(set_load(0, 100, 3, 8) == 0 && set_load(1, 97, 0, 2) == 0);
    for (int i = 0; i < 10; i++) {
        s.sport = (__u16)(27000 + i);
        EXPECT(&s, XDP_DROP, "drop_overload", -1);
    }
    CHECK(count_flows() == 0);
    s.tcp_flags = TH_ACK; /* not a new connection: to the hash's choice, which resets it */
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, 0x3));
    /* one of them recovers (below its threshold): it takes every new connection */
    CHECK(set_worker(1, true, false, true) == 0 && set_load(1, 70, 0, 2) == 0);
    s.tcp_flags = TH_SYN;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", 1);
}

/* ---- bookkeeping ------------------------------------------------------------------------------ */

static void test_every_packet_counted_once(void)
{
    struct pkt_spec mix[] = {v4(TH_SYN), v4(TH_ACK), v6(TH_SYN), v4(0), v6(0), v4(TH_SYN)};
    struct sluice_stats before, after;
    __u64 verdicts = 0;
    struct outcome out;
    size_t n = sizeof(mix) / sizeof(mix[0]);

    CHECK(setup_default() == 0);
    mix[3].l4proto = IPPROTO_UDP;
    mix[4].dport = 9;
    mix[5].frag = 0x2000;
    CHECK(read_stats(&before) == 0);
    for (int round = 0; round < 10; round++)
        for (size_t i = 0; i < n; i++)
            CHECK(run(&mix[i], &out) == 0);
    CHECK(read_stats(&after) == 0);
#define SUM(field, help) verdicts += after.field - before.field;
    SLUICE_VERDICT_COUNTERS(SUM)
#undef SUM
    CHECKF(verdicts == 10 * n, "%llu verdicts for %zu packets", (unsigned long long)verdicts, 10 * n);
}

/* ---- stream-prefix steering: helpers ---------------------------------------------------------- */

#define FIXTURES "tests/bpf/fixtures/"
#define PREFACE  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

struct bytes {
    unsigned char b[PKT_MAX];
    size_t n;
};

static void put(struct bytes *x, const void *p, size_t n)
{
    if (x->n + n <= sizeof(x->b)) {
        memcpy(x->b + x->n, p, n);
        x->n += n;
    }
}

static void put_byte(struct bytes *x, unsigned int byte)
{
    unsigned char c = (unsigned char)byte;

    put(x, &c, 1);
}

static void put_frame_header(struct bytes *x, __u32 len, __u8 type, __u8 flags, __u32 stream)
{
    unsigned char h[9] = {(unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          type,
                          flags,
                          (unsigned char)(stream >> 24),
                          (unsigned char)(stream >> 16),
                          (unsigned char)(stream >> 8),
                          (unsigned char)stream};

    put(x, h, sizeof(h));
}

/* An HPACK string: raw, or Huffman-coded with the H bit (lengths < 127 only). */
static void put_hpack_string(struct bytes *x, const char *text, bool huffman)
{
    unsigned char coded[256];
    size_t len = strlen(text);

    if (huffman) {
        len = hpack_huffman_encode_padded(text, len, coded, sizeof(coded));
        put_byte(x, 0x80 | (unsigned int)len);
        put(x, coded, len);
    } else {
        put_byte(x, (unsigned int)len);
        put(x, text, len);
    }
}

/* Preface, an empty SETTINGS frame, then a HEADERS frame (END_HEADERS) around block. */
static void h2_first_flight(struct bytes *x, const struct bytes *block)
{
    x->n = 0;
    put(x, PREFACE, 24);
    put_frame_header(x, 0, 0x4, 0, 0);
    put_frame_header(x, (__u32)block->n, 0x1, 0x5, 1);
    put(x, block->b, block->n);
}

/* A typical request block with :path as a literal without indexing (name index 4). */
static void h2_path_block(struct bytes *block, const char *path, bool huffman)
{
    block->n = 0;
    put_byte(block, 0x82); /* :method GET */
    put_byte(block, 0x04);
    put_hpack_string(block, path, huffman);
    put_byte(block, 0x86); /* :scheme http */
    put_byte(block, 0x41); /* :authority, incremental indexing */
    put_hpack_string(block, "10.0.0.1", false);
}

static int load_fixture(const char *name, struct bytes *x)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    f = fopen(path, "rb");
    if (!f)
        return -1;
    x->n = fread(x->b, 1, sizeof(x->b), f);
    fclose(f);
    return x->n ? 0 : -1;
}

/* A path route as the agent writes it: text key and its Huffman twin (when huffman), same value. */
static int add_route_keys(__u32 kind, const char *text, __u64 workers, __u32 id, bool raw, bool huffman)
{
    struct route_key key = {.kind = kind};
    struct route_value value = {.route_id = id, .workers = workers};
    int fd = bpf_map__fd(skel->maps.routes);
    size_t len = strlen(text);

    memcpy(key.prefix, text, len);
    memcpy(value.text, text, len);
    key.prefixlen = ROUTE_KEY_PREFIXLEN(len);
    if (raw && bpf_map_update_elem(fd, &key, &value, BPF_ANY))
        return -1;
    if (kind == ROUTE_PATH && huffman) {
        struct route_key twin = {.kind = ROUTE_PATH_HUFFMAN};

        twin.prefixlen = 32u + (__u32)hpack_huffman_encode(text, len, (unsigned char *)twin.prefix,
                                                           sizeof(twin.prefix), NULL);
        if (bpf_map_update_elem(fd, &twin, &value, BPF_ANY))
            return -1;
    }
    return 0;
}

static int add_route(__u32 kind, const char *text, __u64 workers, __u32 id)
{
    return add_route_keys(kind, text, workers, id, true, true);
}

static struct route_counters route_counters_of(__u32 id)
{
    struct route_counters *percpu = calloc(ncpus, sizeof(*percpu)), total = {0};

    if (percpu && bpf_map_lookup_elem(bpf_map__fd(skel->maps.route_stats), &id, percpu) == 0) {
        for (int c = 0; c < ncpus; c++) {
            total.connections += percpu[c].connections;
            total.handoffs += percpu[c].handoffs;
        }
    }
    free(percpu);
    return total;
}

/* Steering services on port 80 (both families, and TLS on 443); workers 0-3 live with sockets. */
static int setup_steer(void)
{
    reset();
    if (add_service(SERVICE_V4, 80, SERVICE_F_STEER) || add_service(SERVICE_V6, 80, SERVICE_F_STEER) ||
        add_service(SERVICE_V4, 443, SERVICE_F_STEER | SERVICE_F_TLS))
        return -1;
    for (__u32 i = 0; i < 4; i++)
        if (set_worker(i, true, false, true))
            return -1;
    return 0;
}

/* The one decision counter that moved by one, "none", or "several". */
static const char *decision_counter(const struct sluice_stats *d)
{
    const char *name = "none";
    int moved = 0;

#define ONE(field, help)                                                                                     \
    if (d->field) {                                                                                          \
        moved += (int)d->field;                                                                              \
        name = #field;                                                                                       \
    }
    SLUICE_PREFIX_DECISION_COUNTERS(ONE)
#undef ONE
    return moved <= 1 ? name : "several";
}

#define ISN 1000u /* the SYN's sequence number (packets.c); data starts at ISN + 1 */

/* The SYN of s's 4-tuple: a flow in FLOW_AWAIT_PREFIX; returns its owner or -1. */
static int open_conn(const struct pkt_spec *base)
{
    struct pkt_spec s = *base;
    struct outcome out;

    s.tcp_flags = TH_SYN;
    s.payload = 0;
    s.data = NULL;
    s.seq = ISN;
    if (run(&s, &out) || out.verdict != XDP_REDIRECT)
        return -1;
    return redirected_worker(&out.delta);
}

/* A data segment of s's flow: len bytes at stream offset off (sequence ISN + 1 + off). */
static int send_data(const struct pkt_spec *base, const void *data, size_t len, __u32 off,
                     struct outcome *out)
{
    struct pkt_spec s = *base;

    s.tcp_flags = TH_ACK | TH_PSH;
    s.data = data;
    s.payload = len;
    s.seq = ISN + 1 + off;
    return run(&s, out);
}

/* Send bytes as one segment; check a redirect to owner and that decision counter alone moved. */
#define EXPECT_DECISION(spec, data, len, off, owner, want)                                                   \
    do {                                                                                                     \
        const char *_d;                                                                                      \
        CHECK(send_data((spec), (data), (len), (off), &last) == 0);                                          \
        CHECKF(last.verdict == XDP_REDIRECT, "verdict %s", verdict_name(last.verdict));                      \
        CHECKF(last.delta.redirect_flow == 1, "redirect_flow moved by %llu",                                 \
               (unsigned long long)last.delta.redirect_flow);                                                \
        CHECKF(redirected_worker(&last.delta) == (owner), "redirected to %d, not the owner %d",              \
               redirected_worker(&last.delta), (owner));                                                     \
        _d = decision_counter(&last.delta);                                                                  \
        CHECKF(!strcmp(_d, (want)), "decision counter %s, expected %s", _d, (want));                         \
    } while (0)

static struct flow_value flow_of(const struct pkt_spec *s)
{
    struct flow_value fv = {0};

    lookup_flow(s, &fv);
    return fv;
}

/* A worker of 0-3 other than owner: routes to it force a hand-off. */
static __u32 other_than(int owner)
{
    return (__u32)((owner + 1) % 4);
}

/* Route /heavy to a worker other than the owner, send bytes, expect that route decided with metadata. */
static void expect_heavy_routed(struct pkt_spec *s, const struct bytes *x)
{
    struct flow_value fv;
    int owner;
    __u32 target;

    owner = open_conn(s);
    CHECK(owner >= 0);
    target = other_than(owner);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << target, 7) == 0);
    CHECK(add_route(ROUTE_PATH, "/", 1ull << owner, 8) == 0);
    EXPECT_DECISION(s, x->b, x->n, 0, owner, "prefix_routed");
    fv = flow_of(s);
    CHECKF(fv.state == FLOW_ROUTED, "state %u", fv.state);
    CHECKF(fv.route_id == 7, "route %u", fv.route_id);
    CHECKF(fv.target == target && fv.worker == (__u32)owner, "worker %u target %u", fv.worker, fv.target);
    CHECKF(last.metalen == sizeof(struct sluice_xdp_meta), "metadata of %u bytes", last.metalen);
    CHECK(last.meta.magic == SLUICE_XDP_META_MAGIC && last.meta.target == target && last.meta.route_id == 7 &&
          last.meta.flow_state == FLOW_ROUTED);
    CHECK(last.delta.meta_added == 1 && last.delta.prefix_handoffs == 1);
}

static void fixture_routed(const char *name)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;

    CHECK(setup_steer() == 0);
    CHECKF(load_fixture(name, &x) == 0, "cannot read " FIXTURES "%s (run from the repository root)", name);
    expect_heavy_routed(&s, &x);
}

/* ---- server generations (a takeover): slot halves ---------------------------------------------- */

/* Worker slot i belongs to the generation whose first slot is base. */
static int set_gen_base(__u32 i, __u32 base)
{
    int fd = bpf_map__fd(skel->maps.workers);
    struct worker_state ws;

    if (bpf_map_lookup_elem(fd, &i, &ws))
        return -1;
    ws.gen_base = base;
    return bpf_map_update_elem(fd, &i, &ws, BPF_ANY);
}

/* The slots new connections go to (`meta` new_flow_workers; 0: every slot). */
static int set_new_flow_workers(__u64 mask)
{
    int fd = bpf_map__fd(skel->maps.meta);
    struct sluice_meta meta;
    __u32 k = 0;

    if (bpf_map_lookup_elem(fd, &k, &meta))
        return -1;
    meta.new_flow_workers = mask;
    return bpf_map_update_elem(fd, &k, &meta, BPF_ANY);
}

#define LOW_HALF  ((1ull << SLUICE_GEN_SLOTS) - 1)
#define HIGH_HALF (~LOW_HALF)

/* Two generations: workers 0-1 (slots 0 up) and 32-33 (slots 32 up), every one live. */
static int setup_generations(void)
{
    const __u32 slots[] = {0, 1, 32, 33};

    for (int i = 0; i < 4; i++)
        if (set_worker(slots[i], true, false, true) || set_gen_base(slots[i], slots[i] & SLUICE_GEN_SLOTS))
            return -1;
    return 0;
}

/* New connections go to the newest generation's half only; a flow opened before keeps its owner. */
static void test_generations_new_flows_to_newest_half(void)
{
    struct pkt_spec old = v4(TH_SYN), s = v4(TH_SYN);
    int owner;

    reset();
    CHECK(add_service(SERVICE_V4, 80, 0) == 0);
    CHECK(setup_generations() == 0);
    CHECK(set_new_flow_workers(LOW_HALF) == 0);
    owner = expected_worker(&old, 0x3);
    EXPECT(&old, XDP_REDIRECT, "redirect_syn", owner);
    CHECK(set_new_flow_workers(HIGH_HALF) == 0); /* the successor is ready */
    for (int i = 0; i < 40; i++) {
        s.sport = (__u16)(30000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 3ull << 32));
    }
    old.tcp_flags = TH_ACK;
    EXPECT(&old, XDP_REDIRECT, "redirect_flow", owner);
    CHECK(set_new_flow_workers(0) == 0); /* 0: every slot, the fresh server's */
    s.sport = 31000;
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 3ull | 3ull << 32));
}

/* A route's mask names the owner's generation's workers: the decision stays in that process. */
static void test_generations_route_within_owner_half(void)
{
    static const char req[] = "GET /heavy HTTP/1.1\r\nHost: example.com\r\n\r\n";
    struct pkt_spec s = v4(TH_ACK);
    struct flow_value fv;
    int owner;
    __u32 target;

    reset();
    CHECK(add_service(SERVICE_V4, 80, SERVICE_F_STEER) == 0);
    CHECK(setup_generations() == 0);
    CHECK(set_new_flow_workers(HIGH_HALF) == 0);
    owner = open_conn(&s);
    CHECKF(owner == 32 || owner == 33, "owner %d", owner);
    target = 1 - (__u32)(owner - 32); /* the other worker of its generation, as its server numbers it */
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << target, 7) == 0);
    EXPECT_DECISION(&s, req, sizeof(req) - 1, 0, owner, "prefix_routed");
    fv = flow_of(&s);
    CHECKF(fv.target == 32 + target && fv.worker == (__u32)owner, "worker %u target %u", fv.worker,
           fv.target);
    CHECK(last.meta.target == 32 + target);
}

/* ---- stream-prefix steering: real clients ----------------------------------------------------- */

static void test_h2_curl_fixture(void)
{
    fixture_routed("h2_curl.bin");
}

static void test_h2_nghttp_fixture(void)
{
    fixture_routed("h2_nghttp.bin");
}

static void test_h2_h2load_fixture(void)
{
    fixture_routed("h2_h2load.bin");
}

static void test_http1_curl_fixture(void)
{
    fixture_routed("http1_curl.bin");
}

static void tls_fixture(const char *name, const char *want, bool routed)
{
    struct pkt_spec s = v4(TH_ACK);
    struct flow_value fv;
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture(name, &x) == 0);
    s.dport = 443;
    owner = open_conn(&s);
    CHECK(owner >= 0);
    CHECK(add_route(ROUTE_SNI, "heavy.", 1ull << other_than(owner), 3) == 0);
    CHECK(add_route(ROUTE_PATH, "", 1ull << other_than(owner), 4) == 0); /* a path route never matches TLS */
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, want);
    fv = flow_of(&s);
    if (routed) {
        CHECK(fv.state == FLOW_ROUTED && fv.route_id == 3 && fv.target == other_than(owner));
        CHECK(last.metalen == sizeof(struct sluice_xdp_meta));
    } else {
        CHECK(fv.state == FLOW_DEFAULT_ROUTE && fv.target == (__u32)owner && fv.route_id == 0);
        CHECK(last.metalen == 0);
    }
}

static void test_tls_openssl_sni_fixture(void)
{
    tls_fixture("tls_openssl_sni.bin", "prefix_routed", true);
}

static void test_tls_curl_sni_fixture(void)
{
    tls_fixture("tls_curl_sni.bin", "prefix_routed", true);
}

static void test_tls_curl_without_sni_fixture(void)
{
    tls_fixture("tls_curl_no_sni.bin", "prefix_no_key", false);
}

/* SNI is case-insensitive: routes are stored lowercase and XDP lowercases the name it reads. */
static void test_tls_sni_uppercase(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    unsigned char *name;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("tls_curl_sni.bin", &x) == 0);
    name = memmem(x.b, x.n, "heavy.example.com", 17);
    CHECK(name != NULL);
    memcpy(name, "HEAVY.Example.COM", 17);
    s.dport = 443;
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_SNI, "heavy.example.com", 1ull << other_than(owner), 3) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
}

/* ---- HTTP/2 HPACK forms ----------------------------------------------------------------------- */

static void h2_block_routed(const struct bytes *block, const char *route, const char *want)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    h2_first_flight(&x, block);
    owner = open_conn(&s);
    CHECK(owner >= 0);
    CHECK(add_route(ROUTE_PATH, route, 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, want);
    if (!strcmp(want, "prefix_routed"))
        CHECK(flow_of(&s).route_id == 5 && flow_of(&s).target == other_than(owner));
    else
        CHECK(flow_of(&s).state == FLOW_DEFAULT_ROUTE && flow_of(&s).target == (__u32)owner);
}

static void test_h2_raw_path(void)
{
    struct bytes b;

    h2_path_block(&b, "/heavy/x", false);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_huffman_path(void)
{
    struct bytes b;

    h2_path_block(&b, "/heavy/x", true);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_huffman_path_other_route(void)
{
    struct bytes b;

    h2_path_block(&b, "/heavier", true); /* shares "/heav" but not "/heavy" */
    h2_block_routed(&b, "/heavy", "prefix_default");
}

/* Without the Huffman twin a Huffman-coded :path finds nothing: the twin is what matches it. */
static void test_h2_huffman_needs_twin(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes b, x;
    int owner;

    CHECK(setup_steer() == 0);
    h2_path_block(&b, "/heavy/x", true);
    h2_first_flight(&x, &b);
    owner = open_conn(&s);
    CHECK(add_route_keys(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5, true, false) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_default");
    s.sport++;
    owner = open_conn(&s);
    clear_map(bpf_map__fd(skel->maps.routes));
    CHECK(add_route_keys(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5, false, true) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
}

static void test_h2_static_path_slash(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x82);
    put_byte(&b, 0x84); /* :path / */
    h2_block_routed(&b, "/", "prefix_routed");
}

static void test_h2_static_path_index_html(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x82);
    put_byte(&b, 0x85); /* :path /index.html */
    h2_block_routed(&b, "/index", "prefix_routed");
}

static void test_h2_literal_incremental_indexing(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x82);
    put_byte(&b, 0x44); /* literal with incremental indexing, name :path */
    put_hpack_string(&b, "/heavy", true);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_literal_never_indexed_name_5(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x15); /* never indexed, name index 5 (:path /index.html) */
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_literal_name_raw(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x82);
    put_byte(&b, 0x00); /* without indexing, literal name */
    put_hpack_string(&b, ":path", false);
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_literal_name_huffman(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x40); /* incremental indexing, literal name */
    put_hpack_string(&b, ":path", true);
    put_hpack_string(&b, "/heavy", true);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_other_literal_names_skipped(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x00);
    put_hpack_string(&b, "x-path", false);
    put_hpack_string(&b, "/heavy", false);
    put_byte(&b, 0x10);
    put_hpack_string(&b, "user-agent", true);
    put_hpack_string(&b, "curl", true);
    put_byte(&b, 0x04);
    put_hpack_string(&b, "/other", false);
    h2_block_routed(&b, "/heavy", "prefix_default");
}

static void test_h2_multibyte_int_lengths(void)
{
    struct bytes b = {.n = 0};
    char big[200];

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put_byte(&b, 0x0f); /* without indexing, name index 15 + 16 = 31 (content-type): 4-bit prefix int */
    put_byte(&b, 0x10);
    put_byte(&b, 0x7f); /* value length 127 + 72 = 199: 7-bit prefix int */
    put_byte(&b, 72);
    put(&b, big, 199);
    put_byte(&b, 0x04);
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

/* An unresolvable dynamic-table index before :path: the default route, counted. */
static void test_h2_dynamic_reference_unresolvable(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0xbe); /* index 62: the table is empty at the first block */
    put_byte(&b, 0x04);
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_hpack_dynamic");
}

static void test_h2_dynamic_name_unresolvable(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x7f); /* incremental indexing, name index 63 + 0: nothing inserted yet */
    put_byte(&b, 0x00);
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_hpack_dynamic");
}

/* A reference to an entry this block inserted is an earlier field, not :path: skipped. */
static void test_h2_dynamic_reference_resolvable(void)
{
    struct bytes b = {.n = 0};

    put_byte(&b, 0x41); /* :authority, inserted as index 62 */
    put_hpack_string(&b, "example", false);
    put_byte(&b, 0xbe); /* index 62: that :authority again */
    put_byte(&b, 0x20); /* dynamic table size update to 0 */
    put_byte(&b, 0x04);
    put_hpack_string(&b, "/heavy", false);
    h2_block_routed(&b, "/heavy", "prefix_routed");
}

static void test_h2_long_path_truncated_to_key_max(void)
{
    struct bytes b;
    char path[120], route[61];

    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    memcpy(route, path, 60);
    route[60] = '\0';
    h2_path_block(&b, path, false);
    h2_block_routed(&b, route, "prefix_routed");
}

static void test_h2_long_huffman_path_truncated(void)
{
    struct bytes b;
    char path[120], route[61];

    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    memcpy(route, path, 60);
    route[60] = '\0';
    h2_path_block(&b, path, true); /* 119 * 5 bits: more than the 64-byte key */
    h2_block_routed(&b, route, "prefix_routed");
}

static void test_h2_padded_and_priority_headers(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes b, x = {.n = 0};
    unsigned char zeros[16] = {0};
    int owner;

    CHECK(setup_steer() == 0);
    h2_path_block(&b, "/heavy", true);
    put(&x, PREFACE, 24);
    put_frame_header(&x, (__u32)(1 + 5 + b.n + 10), 0x1, 0x4 | 0x8 | 0x20, 1);
    put_byte(&x, 10);
    put(&x, zeros, 5);
    put(&x, b.b, b.n);
    put(&x, zeros, 10);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
}

/* ---- HTTP/2 across segments ------------------------------------------------------------------- */

/* The curl fixture in segments ending at the given stream offsets; all but the last wait. */
static void h2_curl_in_segments(const size_t *cuts, int ncuts, const char *final)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    size_t at = 0;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : x.n;
        bool last_one = i == ncuts;

        EXPECT_DECISION(&s, x.b + at, end - at, (__u32)at, owner, last_one ? final : "none");
        if (!last_one) {
            CHECKF(flow_of(&s).state == FLOW_AWAIT_PREFIX, "segment %d decided", i);
            CHECK(last.delta.prefix_awaiting_more == 1);
            /* still awaiting: the owner is told to hold the connection back */
            CHECK(last.metalen == sizeof(struct sluice_xdp_meta) &&
                  last.meta.flow_state == FLOW_AWAIT_PREFIX && last.meta.target == (__u32)owner &&
                  last.meta.route_id == 0);
        }
        at = end;
    }
}

static void test_h2_preface_alone(void)
{
    size_t cuts[] = {24};

    h2_curl_in_segments(cuts, 1, "prefix_routed");
}

static void test_h2_preface_split(void)
{
    size_t cuts[] = {10, 24};

    h2_curl_in_segments(cuts, 2, "prefix_routed");
}

/* curl's bytes: preface 24, SETTINGS 9+18 to 51, WINDOW_UPDATE 9+4 to 64, HEADERS. */
static void test_h2_frame_per_segment(void)
{
    size_t cuts[] = {24, 51, 64};

    h2_curl_in_segments(cuts, 3, "prefix_routed");
}

static void test_h2_settings_payload_split(void)
{
    size_t cuts[] = {40};

    h2_curl_in_segments(cuts, 1, "prefix_routed");
}

/* A fourth segment that still ends at a frame boundary exhausts the segment bound. */
static void test_h2_too_many_segments(void)
{
    struct pkt_spec s = v4(TH_ACK);
    size_t cuts[] = {0, 10, 24, 51, 64};
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    for (int i = 0; i < 3; i++)
        EXPECT_DECISION(&s, x.b + cuts[i], cuts[i + 1] - cuts[i], (__u32)cuts[i], owner, "none");
    EXPECT_DECISION(&s, x.b + 51, 13, 51, owner, "prefix_too_long");
    CHECK(flow_of(&s).state == FLOW_DEFAULT_ROUTE);
}

/* The curl fixture's first len bytes alone: a segment that ends inside a unit decides at once. */
static void h2_curl_cut(size_t len, const char *want)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, len, 0, owner, want);
    CHECK(flow_of(&s).state == FLOW_DEFAULT_ROUTE && last.metalen == 0);
    /* the rest of the stream is not parsed again */
    EXPECT_DECISION(&s, x.b + len, x.n - len, (__u32)len, owner, "none");
}

static void test_h2_frame_header_cut(void)
{
    h2_curl_cut(30, "prefix_cut"); /* 6 bytes into the SETTINGS frame header */
}

static void test_h2_headers_block_cut(void)
{
    h2_curl_cut(80, "prefix_cut"); /* inside the :path value */
}

/* Retransmitted and out-of-order segments while waiting are redirected, not parsed. */
static void test_h2_out_of_order_and_retransmit(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, 24, 0, owner, "none");             /* the preface */
    EXPECT_DECISION(&s, x.b + 64, x.n - 64, 64, owner, "none"); /* a gap before it: out of order */
    CHECK(last.delta.prefix_out_of_order == 1 && flow_of(&s).state == FLOW_AWAIT_PREFIX);
    EXPECT_DECISION(&s, x.b, 24, 0, owner, "none"); /* the preface again: old */
    CHECK(last.delta.prefix_out_of_order == 1);
    /* a retransmission that overlaps: parsed from where the parser stands */
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
    CHECK(flow_of(&s).target == other_than(owner));
}

/* Bytes past a gap the owner acknowledged never come back: the wait is bounded all the same. */
static void test_h2_gap_never_filled(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, 24, 0, owner, "none");
    EXPECT_DECISION(&s, x.b + 51, 13, 51, owner, "none"); /* past the SETTINGS frame XDP did not see */
    EXPECT_DECISION(&s, x.b + 64, x.n - 64, 64, owner, "none");
    CHECK(last.delta.prefix_out_of_order == 1 && flow_of(&s).state == FLOW_AWAIT_PREFIX);
    EXPECT_DECISION(&s, x.b + 64, x.n - 64, 64, owner, "prefix_too_long");
    CHECK(last.delta.prefix_out_of_order == 1 && flow_of(&s).state == FLOW_DEFAULT_ROUTE &&
          last.metalen == 0);
}

static void test_pure_ack_does_not_decide(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct pkt_spec ack;
    int owner;

    CHECK(setup_steer() == 0);
    owner = open_conn(&s);
    ack = s;
    ack.tcp_flags = TH_ACK;
    ack.seq = ISN + 1; /* 54 bytes padded to 60: the padding is not payload */
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", owner);
    CHECK(!strcmp(decision_counter(&last.delta), "none") && last.delta.prefix_awaiting_more == 0);
    CHECK(last.metalen == sizeof(struct sluice_xdp_meta) && last.meta.flow_state == FLOW_AWAIT_PREFIX);
    CHECK(flow_of(&s).state == FLOW_AWAIT_PREFIX && flow_of(&s).prefix_segments == 0);
}

static void test_non_steering_service_not_parsed(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_default() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "none");
    CHECK(flow_of(&s).state == FLOW_HASHED && flow_of(&s).target == (__u32)owner && last.metalen == 0);
}

/* ---- HTTP/1.1 --------------------------------------------------------------------------------- */

static void http1_line(const char *line, const char *route, const char *want)
{
    struct pkt_spec s = v4(TH_ACK);
    int owner;

    CHECK(setup_steer() == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, route, 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, line, strlen(line), 0, owner, want);
}

static void test_http1_post(void)
{
    http1_line("POST /heavy/upload HTTP/1.1\r\nHost: x\r\n\r\n", "/heavy", "prefix_routed");
}

static void test_http1_no_match(void)
{
    http1_line("GET /light HTTP/1.1\r\n\r\n", "/heavy", "prefix_default");
}

static void test_http1_long_target(void)
{
    char line[200], route[64];

    snprintf(line, sizeof(line), "GET /%0150d HTTP/1.1\r\n\r\n", 0);
    snprintf(route, sizeof(route), "/%050d", 0);
    http1_line(line, route, "prefix_routed");
}

static void test_http1_cut_before_space(void)
{
    http1_line("GET /heav", "/heavy", "prefix_cut");
}

static void test_http1_malformed(void)
{
    http1_line("get /heavy HTTP/1.1\r\n", "/heavy", "prefix_malformed");
}

static void test_http1_method_too_long(void)
{
    http1_line("ABCDEFGHIJKLMNOPQRSTUVWXYZ /heavy HTTP/1.1\r\n", "/heavy", "prefix_malformed");
}

/* ---- hostile and truncated input -------------------------------------------------------------- */

static void h2_hostile(const struct bytes *x, const char *want)
{
    struct pkt_spec s = v4(TH_ACK);
    int owner;

    CHECK(setup_steer() == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "", 1ull << other_than(owner), 5) == 0);
    EXPECT_DECISION(&s, x->b, x->n, 0, owner, want);
    CHECK(flow_of(&s).state == FLOW_DEFAULT_ROUTE && flow_of(&s).target == (__u32)owner && last.metalen == 0);
}

static void test_hostile_garbage(void)
{
    struct bytes x = {.n = 0};

    put(&x, "\x00\x01\x02\x03garbage", 11);
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_bad_preface(void)
{
    struct bytes x = {.n = 0};

    put(&x, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 24);
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_headers_length_past_packet(void)
{
    struct bytes b, x = {.n = 0};

    h2_path_block(&b, "/heavy", false);
    put(&x, PREFACE, 24);
    put_frame_header(&x, 16000, 0x1, 0x4, 1); /* claims 16000 bytes, sends 20 without :path */
    put(&x, b.b, 1);
    put_byte(&x, 0x86);
    h2_hostile(&x, "prefix_cut");
}

static void test_hostile_huge_hpack_int(void)
{
    struct bytes x = {.n = 0}, b = {.n = 0};

    put(&b, "\x0f\xff\xff\xff\xff\xff\x7f", 7);
    put_byte(&b, 0x84);
    h2_first_flight(&x, &b);
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_huge_string_length(void)
{
    struct bytes x = {.n = 0}, b = {.n = 0};

    put(&b, "\x04\x7f\xff\xff\xff\x0f", 6); /* :path of 2^28 bytes */
    put(&b, "/heavy", 6);
    h2_first_flight(&x, &b);
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_padding_larger_than_frame(void)
{
    struct bytes x = {.n = 0};

    put(&x, PREFACE, 24);
    put_frame_header(&x, 4, 0x1, 0x4 | 0x8, 1);
    put(&x, "\xff\x84\x00\x00", 4);
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_many_settings_frames(void)
{
    struct bytes x = {.n = 0};

    put(&x, PREFACE, 24);
    for (int i = 0; i < 100; i++)
        put_frame_header(&x, 0, 0x4, 0, 0);
    h2_hostile(&x, "prefix_too_long");
}

static void test_hostile_settings_past_byte_bound(void)
{
    struct bytes x = {.n = 0};

    put(&x, PREFACE, 24);
    put_frame_header(&x, 100000, 0x4, 0, 0);
    h2_hostile(&x, "prefix_too_long");
}

static void test_hostile_data_before_headers(void)
{
    struct bytes x = {.n = 0};

    put(&x, PREFACE, 24);
    put_frame_header(&x, 4, 0x0, 0, 1);
    put(&x, "abcd", 4);
    h2_hostile(&x, "prefix_malformed");
}

static void test_h2_headers_without_path(void)
{
    struct bytes x = {.n = 0}, b = {.n = 0};

    put(&b, "\x82\x86", 2);
    h2_first_flight(&x, &b);
    h2_hostile(&x, "prefix_no_key");
}

static void test_h2_headers_continued(void)
{
    struct bytes x = {.n = 0};

    put(&x, PREFACE, 24);
    put_frame_header(&x, 2, 0x1, 0x0, 1); /* no END_HEADERS: CONTINUATION would follow */
    put(&x, "\x82\x86", 2);
    h2_hostile(&x, "prefix_cut");
}

static void test_hostile_tls_extension_past_end(void)
{
    struct bytes x;

    CHECK(load_fixture("tls_curl_sni.bin", &x) == 0);
    x.b[0x92] = 0x7f; /* the server_name extension's length */
    h2_hostile(&x, "prefix_malformed");
}

static void test_hostile_tls_name_past_extension(void)
{
    struct bytes x;

    CHECK(load_fixture("tls_curl_sni.bin", &x) == 0);
    x.b[0x98] = 0x40; /* server name length 0x40 inside a 0x16-byte extension */
    h2_hostile(&x, "prefix_malformed");
}

static void test_tls_truncated_hello(void)
{
    struct bytes x;

    CHECK(load_fixture("tls_openssl_sni.bin", &x) == 0);
    x.n = 100; /* ends inside the cipher suites */
    h2_hostile(&x, "prefix_cut");
}

static void test_tls_hello_split_before_sni(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    size_t cut = 0x90; /* just before the server_name extension */
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("tls_curl_sni.bin", &x) == 0);
    s.dport = 443;
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_SNI, "heavy.example.com", 1ull << other_than(owner), 3) == 0);
    EXPECT_DECISION(&s, x.b, cut, 0, owner, "none");
    CHECK(last.delta.prefix_awaiting_more == 1);
    EXPECT_DECISION(&s, x.b + cut, x.n - cut, (__u32)cut, owner, "prefix_routed");
}

/* ---- targets, groups, metadata, counters ------------------------------------------------------ */

static void test_route_to_owner_needs_no_metadata(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << owner, 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
    CHECK(flow_of(&s).target == (__u32)owner && flow_of(&s).state == FLOW_ROUTED);
    CHECK(last.metalen == 0 && last.delta.meta_added == 0 && last.delta.prefix_handoffs == 0);
}

/* Metadata on the decision packet and every later one until user space rewrites worker. */
static void test_metadata_until_handoff(void)
{
    struct pkt_spec s = v4(TH_ACK), ack;
    struct flow_value fv;
    struct flow_key key;
    struct bytes x;
    int owner;
    __u32 target;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    target = other_than(owner);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << target, 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
    CHECK(last.metalen == sizeof(struct sluice_xdp_meta));
    ack = s;
    ack.seq = ISN + 1 + (__u32)x.n;
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", owner); /* a pure ACK */
    CHECK(last.metalen == sizeof(struct sluice_xdp_meta) && last.meta.target == target);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "none"); /* the decision packet retransmitted */
    CHECK(last.metalen == sizeof(struct sluice_xdp_meta) && last.meta.magic == SLUICE_XDP_META_MAGIC);
    CHECK(flow_of(&s).state == FLOW_ROUTED && flow_of(&s).worker == (__u32)owner);

    /* user space finishes the hand-off: worker = target, the rest kept */
    fv = flow_of(&s);
    fv.worker = fv.target;
    CHECK(flow_key_of(&s, &key) == 0);
    CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &key, &fv, BPF_EXIST) == 0);
    EXPECT(&ack, XDP_REDIRECT, "redirect_flow", (int)target);
    CHECK(last.metalen == 0 && last.delta.meta_added == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, (int)target, "none");
    CHECK(last.metalen == 0);
}

static void test_target_not_live(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << 9, 5) == 0); /* worker 9 is not live */
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_target_not_live");
    CHECK(flow_of(&s).state == FLOW_ROUTED && flow_of(&s).route_id == 5 &&
          flow_of(&s).target == (__u32)owner);
    CHECK(last.metalen == 0);
    CHECK(route_counters_of(5).connections == 1 && route_counters_of(5).handoffs == 0);
}

/* A group: the target is the rendezvous winner among the group's live workers. */
static void test_group_hashing(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int per[4] = {0};

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    CHECK(set_worker(2, false, false, false) == 0);         /* a dead group member is never chosen */
    CHECK(add_route(ROUTE_PATH, "/heavy", 0xeull, 5) == 0); /* workers 1, 2, 3 */
    for (int i = 0; i < 60; i++) {
        int owner, want;

        s.sport = (__u16)(30000 + i);
        owner = open_conn(&s);
        CHECK(owner >= 0);
        want = expected_worker(&s, 0xa);
        EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
        CHECKF(flow_of(&s).target == (__u32)want, "target %u, expected %d", flow_of(&s).target, want);
        per[want]++;
    }
    CHECKF(per[1] > 10 && per[3] > 10 && per[0] == 0 && per[2] == 0, "spread %d %d %d %d", per[0], per[1],
           per[2], per[3]);
    CHECK(route_counters_of(5).connections == 60);
}

static void test_group_none_live(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 0x30ull, 5) == 0); /* workers 4 and 5: not live */
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_target_not_live");
}

/* A group decision takes the less loaded of the group's two best: worker 1 busy, its share goes to 3. */
static void test_group_prefers_less_loaded(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int moved = 0;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    CHECK(add_route(ROUTE_PATH, "/heavy", 0xaull, 5) == 0); /* workers 1 and 3 */
    for (int i = 0; i < 40; i++) {
        int owner;

        s.sport = (__u16)(32000 + i);
        CHECK(set_load(1, 0, 0, 0) == 0);
        owner = open_conn(&s); /* while every worker is idle: the owner is the hash's */
        CHECK(owner == expected_worker(&s, 0xf));
        CHECK(set_load(1, 90, 0, 0) == 0);
        EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
        CHECKF(flow_of(&s).target == 3, "target %u", flow_of(&s).target);
        moved += (int)last.delta.steer_least_loaded;
        CHECK(last.delta.steer_least_loaded == (expected_worker(&s, 0xa) == 1));
    }
    CHECKF(moved > 5, "only %d of 40 decisions went to the second choice", moved);
    /* every member overloaded: the connection is open already, so the hash's first choice takes it */
    CHECK(set_worker(1, true, true, true) == 0 && set_worker(3, true, true, true) == 0);
    for (int i = 0; i < 10; i++) {
        int owner;

        s.sport = (__u16)(32100 + i);
        owner = open_conn(&s);
        CHECK(owner == 0 || owner == 2);
        EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
        CHECKF(flow_of(&s).target == (__u32)expected_worker(&s, 0xa), "target %u", flow_of(&s).target);
    }
}

static void test_route_counters(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes heavy, light, b;
    int handoffs = 0;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &heavy) == 0);
    h2_path_block(&b, "/light", true);
    h2_first_flight(&light, &b);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << 1, 11) == 0);
    CHECK(add_route(ROUTE_PATH, "/", 1ull << 0, 12) == 0);
    for (int i = 0; i < 20; i++) {
        const struct bytes *x = i % 4 ? &light : &heavy;
        int owner;

        s.sport = (__u16)(31000 + i);
        owner = open_conn(&s);
        if (x == &heavy && owner != 1)
            handoffs++;
        EXPECT_DECISION(&s, x->b, x->n, 0, owner, "prefix_routed");
    }
    CHECKF(route_counters_of(11).connections == 5, "%llu",
           (unsigned long long)route_counters_of(11).connections);
    CHECK(route_counters_of(12).connections == 15);
    CHECK(route_counters_of(11).handoffs == (__u64)handoffs);
}

/* A route changed between two connections: the second follows, the first keeps its decision. */
static void test_live_route_change(void)
{
    struct pkt_spec s = v4(TH_ACK), s2;
    struct bytes x;
    int owner, owner2;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_curl.bin", &x) == 0);
    owner = open_conn(&s);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << 1, 5) == 0);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_routed");
    CHECK(flow_of(&s).target == 1);
    CHECK(add_route(ROUTE_PATH, "/heavy", 1ull << 2, 5) == 0);
    s2 = s;
    s2.sport++;
    owner2 = open_conn(&s2);
    EXPECT_DECISION(&s2, x.b, x.n, 0, owner2, "prefix_routed");
    CHECK(flow_of(&s2).target == 2 && flow_of(&s).target == 1);
}

static void test_ipv6_decision(void)
{
    struct pkt_spec s = v6(TH_ACK);
    struct bytes x;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("h2_nghttp.bin", &x) == 0);
    expect_heavy_routed(&s, &x);
}

static void test_decided_flow_not_parsed_again(void)
{
    struct pkt_spec s = v4(TH_ACK);
    struct bytes x;
    int owner;

    CHECK(setup_steer() == 0);
    CHECK(load_fixture("http1_curl.bin", &x) == 0);
    owner = open_conn(&s);
    EXPECT_DECISION(&s, x.b, x.n, 0, owner, "prefix_default");
    EXPECT_DECISION(&s, x.b, x.n, (__u32)x.n, owner, "none"); /* a second request */
    CHECK(flow_of(&s).state == FLOW_DEFAULT_ROUTE);
}

/* check_main's setup: the program is loaded once for all the cases (and not for --list) */
/* ---- the per-source connection cap ------------------------------------------------------------- */

static int set_source_cap(__u32 cap)
{
    struct sluice_meta meta = {.abi_version = SLUICE_ABI_VERSION, .max_conns_per_source = cap};
    __u32 zero = 0;

    return bpf_map_update_elem(bpf_map__fd(skel->maps.meta), &zero, &meta, BPF_ANY);
}

/* The source entry of spec's client; count and refused are 0 when it has none. */
static struct source_value source_of(const struct pkt_spec *s)
{
    struct source_value v = {0};
    struct source_key key = {.family = s->family == 6 ? SLUICE_IPV6 : SLUICE_IPV4};

    if (inet_pton(s->family == 6 ? AF_INET6 : AF_INET, s->src, key.addr) == 1)
        bpf_map_lookup_elem(bpf_map__fd(skel->maps.sources), &key, &v);
    return v;
}

/* What the server does when the connection of spec ends: the release program's return, -1 on error. */
static int release(const struct pkt_spec *s)
{
    struct flow_key key;
    LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &key, .ctx_size_in = sizeof(key));

    if (flow_key_of(s, &key) ||
        bpf_prog_test_run_opts(bpf_program__fd(release_skel->progs.sluice_source_release), &run))
        return -1;
    return (int)run.retval;
}

static void test_source_cap_fourth_syn_dropped(void)
{
    struct pkt_spec s = v4(TH_SYN), other = v4(TH_SYN);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    CHECK(set_source_cap(3) == 0);
    for (__u16 i = 0; i < 3; i++) {
        s.sport = (__u16)(40000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
        CHECK(last.delta.source_counted == 1);
        CHECK(lookup_flow(&s, &fv) == 0 && (fv.flags & FLOW_F_COUNTED));
    }
    s.sport = 40003;
    EXPECT(&s, XDP_DROP, "drop_source_cap", -1);
    CHECK(last.delta.source_counted == 0);
    CHECK(count_flows() == 3); /* the refused SYN left no flow */
    CHECKF(source_of(&s).count == 3 && source_of(&s).refused == 1, "count %llu refused %llu",
           (unsigned long long)source_of(&s).count, (unsigned long long)source_of(&s).refused);
    /* another client address has a count of its own */
    other.src = "10.1.0.3";
    EXPECT(&other, XDP_REDIRECT, "redirect_syn", expected_worker(&other, 0xf));
    CHECK(source_of(&other).count == 1);
}

static void test_source_cap_retransmitted_syn_counted_once(void)
{
    struct pkt_spec s = v4(TH_SYN);

    CHECK(setup_default() == 0);
    CHECK(set_source_cap(3) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", expected_worker(&s, 0xf));
    EXPECT(&s, XDP_REDIRECT, "redirect_flow", expected_worker(&s, 0xf));
    CHECK(last.delta.source_counted == 0);
    CHECKF(source_of(&s).count == 1, "count %llu", (unsigned long long)source_of(&s).count);
}

static void test_source_cap_release_after_close(void)
{
    struct pkt_spec a = v4(TH_SYN), b = v4(TH_SYN);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    CHECK(set_source_cap(1) == 0);
    b.sport = 40001;
    EXPECT(&a, XDP_REDIRECT, "redirect_syn", expected_worker(&a, 0xf));
    EXPECT(&b, XDP_DROP, "drop_source_cap", -1);
    /* a closes: the server's release deletes its flow and gives its count back, once */
    CHECK(release(&a) == 1);
    CHECK(lookup_flow(&a, &fv) != 0);
    CHECK(source_of(&a).count == 0);
    CHECK(release(&a) == 0);
    CHECK(source_of(&a).count == 0);
    /* b's retried SYN now connects */
    EXPECT(&b, XDP_REDIRECT, "redirect_syn", expected_worker(&b, 0xf));
    CHECK(source_of(&b).count == 1);
    /* a release of a flow that was never counted changes nothing */
    CHECK(release(&a) == 0);
    CHECK(source_of(&b).count == 1);
}

static void test_source_cap_ipv6(void)
{
    struct pkt_spec a = v6(TH_SYN), b = v6(TH_SYN);

    CHECK(setup_default() == 0);
    CHECK(set_source_cap(1) == 0);
    b.sport = 40001;
    EXPECT(&a, XDP_REDIRECT, "redirect_syn", expected_worker(&a, 0xf));
    EXPECT(&b, XDP_DROP, "drop_source_cap", -1);
    CHECK(release(&a) == 1);
    EXPECT(&b, XDP_REDIRECT, "redirect_syn", expected_worker(&b, 0xf));
}

static void test_source_cap_off_counts_nothing(void)
{
    struct pkt_spec s = v4(TH_SYN);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    for (__u16 i = 0; i < 5; i++) {
        s.sport = (__u16)(40000 + i);
        EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xf));
        CHECK(last.delta.source_counted == 0);
    }
    CHECK(lookup_flow(&s, &fv) == 0 && !(fv.flags & FLOW_F_COUNTED));
    CHECK(source_of(&s).count == 0);
    /* the server's release leaves an uncounted flow where it is */
    CHECK(release(&s) == 0);
    CHECK(lookup_flow(&s, &fv) == 0);
}

static void test_source_cap_owner_gone_keeps_count(void)
{
    struct pkt_spec s = v4(TH_SYN);
    int owner = expected_worker(&s, 0xf);
    struct flow_value fv;

    CHECK(setup_default() == 0);
    CHECK(set_source_cap(2) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", owner);
    CHECK(set_worker((__u32)owner, false, false, false) == 0);
    /* the flow's SYN again, to a live worker: the flow is re-hashed, still counted, not twice */
    EXPECT(&s, XDP_REDIRECT, "redirect_syn", expected_worker(&s, 0xfull & ~(1ull << owner)));
    CHECK(last.delta.source_counted == 0);
    CHECK(lookup_flow(&s, &fv) == 0 && (fv.flags & FLOW_F_COUNTED));
    CHECK(source_of(&s).count == 1);
}

static int load_steering_program(void)
{
    ncpus = libbpf_num_possible_cpus();
    skel = ncpus > 0 ? steer__open_and_load() : NULL;
    if (!skel) {
        printf("not ok - load_steering_program: cannot load bpf/steer.bpf.c: %s (root and BPF needed)\n",
               strerror(errno));
        return -1;
    }
    release_skel = source_release__open();
    if (!release_skel || bpf_map__reuse_fd(release_skel->maps.flows, bpf_map__fd(skel->maps.flows)) ||
        bpf_map__reuse_fd(release_skel->maps.sources, bpf_map__fd(skel->maps.sources)) ||
        source_release__load(release_skel)) {
        printf("not ok - load_steering_program: cannot load bpf/source_release.bpf.c: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- SYN cookies ----------------------------------------------------------------------------------
 *
 * The kernel keeps one syncookie secret for every user, so a SYN-ACK the program made in a test run
 * carries a cookie that a later test run checks: each case makes a real SYN-ACK, verifies it as a
 * client's stack would (checksums, numbers, options), then answers it.
 */
#define COOKIE_MSS    1448 /* what the workers publish as their engine's IPv4 MSS */
#define COOKIE_WSCALE 3
#define CLIENT_TSVAL  0x01020304u

/* Worker i's half-open count and cookie threshold, with what a cookie SYN-ACK offers for it. */
static int set_half_open(__u32 i, __u32 half_open, __u32 threshold)
{
    int fd = bpf_map__fd(skel->maps.workers);
    struct worker_state ws;

    if (bpf_map_lookup_elem(fd, &i, &ws))
        return -1;
    ws.half_open = half_open;
    ws.syncookie_half_open = threshold;
    ws.syncookie_mss = COOKIE_MSS;
    ws.syncookie_wscale = COOKIE_WSCALE;
    return bpf_map_update_elem(fd, &i, &ws, BPF_ANY);
}

static __u32 sum16(const unsigned char *p, size_t n, __u32 sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (__u32)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (__u32)(p[n - 1] << 8);
    return sum;
}

static __u16 fold(__u32 sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)sum;
}

static void put32(unsigned char *b, __u32 v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static __u32 get32(const unsigned char *b)
{
    return (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
}

/* The ones' complement sum of a frame's TCP segment and pseudo-header: 0xffff when its checksum holds. */
static __u16 tcp_sum(const unsigned char *f, size_t len, int family)
{
    size_t l3 = 14, iplen = family == 6 ? 40 : 20, tcplen = len - l3 - iplen;
    __u32 sum = family == 6 ? sum16(f + l3 + 8, 32, 0) : sum16(f + l3 + 12, 8, 0);

    sum += 6 + (__u32)tcplen;
    return fold(sum16(f + l3 + iplen, tcplen, sum));
}

/*
 * A client's segment with TCP options as Linux lays them out in a SYN (MSS, SACK-permitted, TS, NOP,
 * window scale) or after it (NOP, NOP, TS), checksums right; ts false leaves timestamps out.
 */
static size_t client_segment(int family, __u8 flags, __u32 seq, __u32 ack, bool ts, __u32 tsecr,
                             unsigned char *f)
{
    size_t l3 = 14, iplen = family == 6 ? 40 : 20, optlen = 0, tcplen;
    unsigned char *ip = f + l3, *th, *o;

    memset(f, 0, PKT_MAX);
    memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    f[12] = family == 6 ? 0x86 : 0x08;
    f[13] = family == 6 ? 0xdd : 0x00;
    th = ip + iplen;
    o = th + 20;
    if (flags & TH_SYN) {
        memcpy(o, "\x02\x04\x05\xb4", 4); /* MSS 1460 */
        optlen = 4;
        if (ts) {
            memcpy(o + 4, "\x04\x02\x08\x0a", 4);
            put32(o + 8, CLIENT_TSVAL);
            put32(o + 12, 0);
            optlen = 16;
        }
        memcpy(o + optlen, "\x01\x03\x03\x07", 4); /* window scale 7 */
        optlen += 4;
    } else if (ts) {
        memcpy(o, "\x01\x01\x08\x0a", 4);
        put32(o + 4, CLIENT_TSVAL + 1);
        put32(o + 8, tsecr);
        optlen = 12;
    }
    tcplen = 20 + optlen;
    if (family == 6) {
        ip[0] = 0x60;
        ip[4] = (unsigned char)(tcplen >> 8);
        ip[5] = (unsigned char)tcplen;
        ip[6] = IPPROTO_TCP;
        ip[7] = 64;
        inet_pton(AF_INET6, CLIENT_V6, ip + 8);
        inet_pton(AF_INET6, SERVICE_V6, ip + 24);
    } else {
        ip[0] = 0x45;
        ip[2] = (unsigned char)((20 + tcplen) >> 8);
        ip[3] = (unsigned char)(20 + tcplen);
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = IPPROTO_TCP;
        inet_pton(AF_INET, CLIENT_V4, ip + 12);
        inet_pton(AF_INET, SERVICE_V4, ip + 16);
        ip[10] = 0;
        ip[11] = 0;
        {
            __u16 c = (__u16)~fold(sum16(ip, 20, 0));

            ip[10] = (unsigned char)(c >> 8);
            ip[11] = (unsigned char)c;
        }
    }
    th[0] = 40000 >> 8;
    th[1] = 40000 & 0xff;
    th[3] = 80;
    put32(th + 4, seq);
    put32(th + 8, ack);
    th[12] = (unsigned char)((tcplen / 4) << 4);
    th[13] = flags;
    th[14] = 0xff;
    th[15] = 0xff;
    {
        __u16 c = (__u16)~tcp_sum(f, l3 + iplen + tcplen, family);

        th[16] = (unsigned char)(c >> 8);
        th[17] = (unsigned char)c;
    }
    return l3 + iplen + tcplen;
}

/* The SYN-ACK in output, as a client checks it; *cookie its sequence number, *tsval its TSval. */
static void check_synack(int family, __u32 syn_seq, bool ts, __u32 *cookie, __u32 *tsval)
{
    size_t l3 = 14, iplen = family == 6 ? 40 : 20, hlen = ts ? 40 : 24;
    const unsigned char *f = output, *ip = f + l3, *th = ip + iplen, *o = th + 20;
    unsigned char client[16], service[16];

    *cookie = *tsval = 0;
    CHECKF(output_len == l3 + iplen + hlen, "SYN-ACK of %u bytes, expected %zu", output_len,
           l3 + iplen + hlen);
    if (output_len != l3 + iplen + hlen)
        return;
    CHECK(!memcmp(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12)); /* MACs swapped */
    inet_pton(family == 6 ? AF_INET6 : AF_INET, family == 6 ? CLIENT_V6 : CLIENT_V4, client);
    inet_pton(family == 6 ? AF_INET6 : AF_INET, family == 6 ? SERVICE_V6 : SERVICE_V4, service);
    if (family == 6) {
        CHECK(ip[0] >> 4 == 6 && ip[6] == IPPROTO_TCP && (ip[4] << 8 | ip[5]) == (int)hlen);
        CHECK(!memcmp(ip + 8, service, 16) && !memcmp(ip + 24, client, 16));
    } else {
        CHECK(ip[0] == 0x45 && ip[9] == IPPROTO_TCP && (ip[2] << 8 | ip[3]) == (int)(20 + hlen));
        CHECK(!memcmp(ip + 12, service, 4) && !memcmp(ip + 16, client, 4));
        CHECKF(fold(sum16(ip, 20, 0)) == 0xffff, "IPv4 header checksum sums to %#x", fold(sum16(ip, 20, 0)));
    }
    CHECKF(tcp_sum(f, output_len, family) == 0xffff, "TCP checksum sums to %#x",
           tcp_sum(f, output_len, family));
    CHECK((th[0] << 8 | th[1]) == 80 && (th[2] << 8 | th[3]) == 40000);
    CHECKF(th[13] == (TH_SYN | TH_ACK), "flags %#x", th[13]);
    CHECKF(get32(th + 8) == syn_seq + 1, "ack %u, the SYN's seq + 1 %u", get32(th + 8), syn_seq + 1);
    CHECK(th[12] >> 4 == hlen / 4 && (th[14] << 8 | th[15]) == 65535);
    /* the worker's MSS as it publishes it (IPv4), 20 less over IPv6 */
    CHECKF(o[0] == 2 && o[1] == 4 && (o[2] << 8 | o[3]) == COOKIE_MSS - (family == 6 ? 20 : 0),
           "MSS option %u", o[2] << 8 | o[3]);
    *cookie = get32(th + 4);
    if (!ts)
        return;
    CHECK(o[4] == 4 && o[5] == 2);                                           /* SACK permitted */
    CHECK(o[6] == 8 && o[7] == 10 && get32(o + 12) == CLIENT_TSVAL);         /* TS, echoing the SYN's */
    CHECK(o[16] == 1 && o[17] == 3 && o[18] == 3 && o[19] == COOKIE_WSCALE); /* our window shift */
    *tsval = get32(o + 8);
    /* the client's options kept in the TSval as Linux does: wscale 7, SACK, and the index of the MSS the
     * cookie holds (1460 over IPv4: 1460, index 3; over IPv6 the table's 1440, index 2) */
    CHECKF((*tsval & 0xff) == (7u | SLUICE_COOKIE_TS_SACK | SLUICE_COOKIE_TS_MSS(family == 6 ? 2 : 3)),
           "TSval %#x", *tsval);
}

/* Over the threshold a SYN is answered in XDP (no flow, no worker); the ACK opens the flow with the
 * cookie's options in the metadata; a forged ACK is dropped; below the threshold SYNs go to workers. */
static void cookie_case(int family)
{
    unsigned char f[PKT_MAX];
    struct pkt_spec spec = family == 6 ? v6(TH_SYN) : v4(TH_SYN);
    int owner = expected_worker(&spec, 0xf);
    __u32 cookie, tsval, syn_seq = 0xfffffff0u;
    struct flow_value fv;
    size_t len;

    CHECK(setup_default() == 0);
    for (__u32 i = 0; i < 4; i++)
        CHECK(set_half_open(i, 10, 100) == 0);
    len = client_segment(family, TH_SYN, syn_seq, 0, true, 0, f);
    EXPECT_FRAME(f, len, XDP_REDIRECT, "redirect_syn", owner); /* below the threshold: the worker's */
    CHECK(setup_default() == 0);
    for (__u32 i = 0; i < 4; i++)
        CHECK(set_half_open(i, i == (__u32)owner ? 100 : 0, 100) == 0);
    EXPECT_FRAME(f, len, XDP_TX, "tx_syncookie", -1);
    CHECK(count_flows() == 0);
    check_synack(family, syn_seq, true, &cookie, &tsval);

    /* a forged cookie: not cookie + 2, whose low bits only name another of the four MSS values and
     * may pass, as with the kernel's own cookies; a change in the hash bits does not */
    len = client_segment(family, TH_ACK, syn_seq + 1, (cookie ^ 0x00ff0000u) + 1, true, tsval, f);
    EXPECT_FRAME(f, len, XDP_DROP, "drop_cookie_invalid", -1);
    CHECK(count_flows() == 0);

    len = client_segment(family, TH_ACK, syn_seq + 1, cookie + 1, true, tsval, f);
    EXPECT_FRAME(f, len, XDP_REDIRECT, "redirect_cookie", owner);
    CHECKF(last.metalen == sizeof(struct sluice_xdp_meta), "metadata of %u bytes", last.metalen);
    CHECK(last.meta.magic == SLUICE_XDP_META_MAGIC && last.meta.target == (__u32)owner &&
          last.meta.flow_state == FLOW_HASHED);
    CHECKF(last.meta.cookie_mss == (family == 6 ? 1440 : 1460), "cookie MSS %u", last.meta.cookie_mss);
    CHECKF(last.meta.cookie_wscale == 7, "cookie wscale %u", last.meta.cookie_wscale);
    CHECK(last.meta.cookie_flags == (SLUICE_COOKIE_SACK | SLUICE_COOKIE_TS));
    spec.tcp_flags = TH_ACK;
    CHECK(lookup_flow(&spec, &fv) == 0 && fv.worker == (__u32)owner && fv.state == FLOW_HASHED);
    /* the flow exists now: the connection's next segments go to its owner as any flow's */
    EXPECT_FRAME(f, len, XDP_REDIRECT, "redirect_flow", owner);
}

static void test_syncookie_ipv4(void)
{
    cookie_case(4);
}

static void test_syncookie_ipv6(void)
{
    cookie_case(6);
}

/* A SERVICE_F_SYNCOOKIE service: every SYN gets a cookie, whatever the count; without timestamps the
 * SYN-ACK offers only the MSS, and the ACK's metadata says the smallest MSS and no window scaling. */
static void test_syncookie_always_without_timestamps(void)
{
    unsigned char f[PKT_MAX];
    __u32 cookie, tsval;
    size_t len;

    reset();
    CHECK(add_service(SERVICE_V4, 80, SERVICE_F_SYNCOOKIE) == 0);
    for (__u32 i = 0; i < 4; i++)
        CHECK(set_worker(i, true, false, true) == 0 && set_half_open(i, 0, 0) == 0);
    len = client_segment(4, TH_SYN, 1000, 0, false, 0, f);
    EXPECT_FRAME(f, len, XDP_TX, "tx_syncookie", -1);
    check_synack(4, 1000, false, &cookie, &tsval);
    len = client_segment(4, TH_ACK, 1001, cookie + 1, false, 0, f);
    EXPECT_FRAME(
        f, len, XDP_REDIRECT, "redirect_cookie",
        expected_worker(
            &(struct pkt_spec){.family = 4, .src = CLIENT_V4, .dst = SERVICE_V4, .sport = 40000, .dport = 80},
            0xf));
    CHECK(last.meta.cookie_mss == 536 && last.meta.cookie_wscale == SLUICE_COOKIE_NO_WSCALE &&
          last.meta.cookie_flags == 0);
    /* a bare ACK with a wrong cookie for another tuple: dropped, never a worker's */
    len = client_segment(4, TH_ACK | TH_PSH, 5001, 12345, false, 0, f);
    f[14 + 20 + 1] = 99; /* another client port */
    EXPECT_FRAME(f, len, XDP_DROP, "drop_cookie_invalid", -1);
}

/* A steering service's cookie connection starts as any of its connections: the flow awaits its
 * prefix, and the ACK's metadata says hold as well as what the cookie kept. */
static void test_syncookie_steering_service_holds(void)
{
    unsigned char f[PKT_MAX];
    struct pkt_spec spec = v4(TH_ACK);
    struct flow_value fv;
    __u32 cookie, tsval;
    size_t len;

    reset();
    CHECK(add_service(SERVICE_V4, 80, SERVICE_F_SYNCOOKIE | SERVICE_F_STEER) == 0);
    for (__u32 i = 0; i < 4; i++)
        CHECK(set_worker(i, true, false, true) == 0 && set_half_open(i, 0, 0) == 0);
    len = client_segment(4, TH_SYN, 7000, 0, true, 0, f);
    EXPECT_FRAME(f, len, XDP_TX, "tx_syncookie", -1);
    check_synack(4, 7000, true, &cookie, &tsval);
    len = client_segment(4, TH_ACK, 7001, cookie + 1, true, tsval, f);
    EXPECT_FRAME(f, len, XDP_REDIRECT, "redirect_cookie", expected_worker(&spec, 0xf));
    CHECK(last.meta.magic == SLUICE_XDP_META_MAGIC && last.meta.flow_state == FLOW_AWAIT_PREFIX &&
          last.meta.cookie_mss == 1460);
    CHECK(lookup_flow(&spec, &fv) == 0 && fv.state == FLOW_AWAIT_PREFIX && fv.prefix_segments == 0);
}

/* Cookies armed (the workers publish a threshold): an ACK without a flow is checked and, forged,
 * dropped; but a segment whose flow's owner is gone is no cookie ACK: a live worker resets it. */
static void test_syncookie_armed_owner_gone_still_reset(void)
{
    struct pkt_spec s = v4(TH_ACK | TH_PSH);
    struct flow_key key;
    struct flow_value fv = {.worker = 1, .target = 1, .state = FLOW_HASHED};

    CHECK(setup_default() == 0);
    for (__u32 i = 0; i < 4; i++)
        CHECK(set_half_open(i, 0, 1024) == 0);
    s.payload = 10;
    EXPECT(&s, XDP_DROP, "drop_cookie_invalid", -1);
    CHECK(set_worker(1, false, false, false) == 0);
    CHECK(flow_key_of(&s, &key) == 0);
    CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &key, &fv, BPF_ANY) == 0);
    EXPECT(&s, XDP_REDIRECT, "redirect_no_flow", expected_worker(&s, 0xd));
    CHECK(last.delta.flow_owner_gone == 1);
}

/* A worker whose engine does not scale windows publishes no shift: its cookie SYN-ACK offers none
 * (NOPs where the option would be), though the TSval still keeps the client's for the engine. */
static void test_syncookie_worker_without_window_scaling(void)
{
    unsigned char f[PKT_MAX];
    const unsigned char *o = output + 14 + 20 + 20;
    int fd = bpf_map__fd(skel->maps.workers);
    struct worker_state ws;
    size_t len;

    reset();
    CHECK(add_service(SERVICE_V4, 80, SERVICE_F_SYNCOOKIE) == 0);
    for (__u32 i = 0; i < 4; i++) {
        CHECK(set_worker(i, true, false, true) == 0 && set_half_open(i, 0, 0) == 0);
        CHECK(bpf_map_lookup_elem(fd, &i, &ws) == 0);
        ws.syncookie_wscale = SLUICE_COOKIE_NO_WSCALE;
        CHECK(bpf_map_update_elem(fd, &i, &ws, BPF_ANY) == 0);
    }
    len = client_segment(4, TH_SYN, 1000, 0, true, 0, f);
    EXPECT_FRAME(f, len, XDP_TX, "tx_syncookie", -1);
    CHECK(output_len == 14 + 20 + 40);
    CHECK(o[4] == 4 && o[6] == 8); /* SACK-permitted and timestamps as before */
    CHECKF(o[16] == 1 && o[17] == 1 && o[18] == 1 && o[19] == 1, "no window scale option: %u %u %u %u", o[16],
           o[17], o[18], o[19]);
    CHECKF((get32(o + 8) & 0xf) == 7, "TSval %#x keeps the client's shift", get32(o + 8));
    CHECK(tcp_sum(output, output_len, 4) == 0xffff);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
#define T(fn) CHECK_CASE(fn)
        T(test_arp_passed),
        T(test_lldp_passed),
        T(test_group_mac_passed),
        T(test_ethernet_only),
        T(test_ipv4_truncated),
        T(test_ipv4_bad_version),
        T(test_ipv4_ihl_too_small),
        T(test_ipv4_ihl_past_end),
        T(test_ipv4_icmp_passed),
        T(test_ipv4_udp_on_service_port),
        T(test_ipv4_other_port_passed),
        T(test_ipv4_other_address_passed),
        T(test_ipv4_fragment_mf),
        T(test_ipv4_fragment_offset),
        T(test_ipv4_tcp_truncated),
        T(test_ipv6_truncated),
        T(test_ipv6_bad_version),
        T(test_ipv6_hop_by_hop),
        T(test_ipv6_routing_header),
        T(test_ipv6_fragment_header),
        T(test_ipv6_dstopts),
        T(test_ipv6_ah),
        T(test_ipv6_esp),
        T(test_ipv6_icmp_passed),
        T(test_ipv6_other_port_passed),
        T(test_family_does_not_cross),
        T(test_tcp_doff_too_small),
        T(test_tcp_doff_past_end),
        T(test_no_live_worker),
        T(test_live_worker_without_socket),
        T(test_redirect_by_receive_queue),
        T(test_all_overloaded_sheds_syn),
        T(test_overloaded_still_gets_segments),
        T(test_syn_inserts_flow),
        T(test_established_follows_flow),
        T(test_flow_wins_over_hash),
        T(test_syn_retransmit_same_worker),
        T(test_non_syn_without_flow),
        T(test_synack_is_not_a_new_flow),
        T(test_ipv6_syn_inserts_flow),
        T(test_ipv4_options),
        T(test_ipv4_dont_fragment_is_not_a_fragment),
        T(test_vlan_8021q),
        T(test_vlan_8021ad_ipv6),
        T(test_vlan_arp_passed),
        T(test_vlan_truncated),
        T(test_wildcard_service_v4),
        T(test_wildcard_service_v6),
        T(test_steering_service_awaits_prefix),
        T(test_overloaded_worker_skipped_for_syn),
        T(test_flow_to_overloaded_owner_kept),
        T(test_flow_owner_gone_rehashed),
        T(test_corrupt_flow_owner),
        T(test_hash_spreads_evenly),
        T(test_worker_joining_moves_few_flows),
        T(test_worker_leaving_moves_only_its_flows),
        T(test_busy_worker_loses_new_flows),
        T(test_equal_loads_keep_hash),
        T(test_only_two_choices),
        T(test_queue_then_connections),
        T(test_stale_heartbeat_counts_as_busy),
        T(test_all_busy_and_overloaded_shed),
        T(test_every_packet_counted_once),
        T(test_generations_new_flows_to_newest_half),
        T(test_generations_route_within_owner_half),
        T(test_h2_curl_fixture),
        T(test_h2_nghttp_fixture),
        T(test_h2_h2load_fixture),
        T(test_http1_curl_fixture),
        T(test_tls_openssl_sni_fixture),
        T(test_tls_curl_sni_fixture),
        T(test_tls_curl_without_sni_fixture),
        T(test_tls_sni_uppercase),
        T(test_h2_raw_path),
        T(test_h2_huffman_path),
        T(test_h2_huffman_path_other_route),
        T(test_h2_huffman_needs_twin),
        T(test_h2_static_path_slash),
        T(test_h2_static_path_index_html),
        T(test_h2_literal_incremental_indexing),
        T(test_h2_literal_never_indexed_name_5),
        T(test_h2_literal_name_raw),
        T(test_h2_literal_name_huffman),
        T(test_h2_other_literal_names_skipped),
        T(test_h2_multibyte_int_lengths),
        T(test_h2_dynamic_reference_unresolvable),
        T(test_h2_dynamic_name_unresolvable),
        T(test_h2_dynamic_reference_resolvable),
        T(test_h2_long_path_truncated_to_key_max),
        T(test_h2_long_huffman_path_truncated),
        T(test_h2_padded_and_priority_headers),
        T(test_h2_preface_alone),
        T(test_h2_preface_split),
        T(test_h2_frame_per_segment),
        T(test_h2_settings_payload_split),
        T(test_h2_too_many_segments),
        T(test_h2_frame_header_cut),
        T(test_h2_headers_block_cut),
        T(test_h2_out_of_order_and_retransmit),
        T(test_h2_gap_never_filled),
        T(test_pure_ack_does_not_decide),
        T(test_non_steering_service_not_parsed),
        T(test_http1_post),
        T(test_http1_no_match),
        T(test_http1_long_target),
        T(test_http1_cut_before_space),
        T(test_http1_malformed),
        T(test_http1_method_too_long),
        T(test_hostile_garbage),
        T(test_hostile_bad_preface),
        T(test_hostile_headers_length_past_packet),
        T(test_hostile_huge_hpack_int),
        T(test_hostile_huge_string_length),
        T(test_hostile_padding_larger_than_frame),
        T(test_hostile_many_settings_frames),
        T(test_hostile_settings_past_byte_bound),
        T(test_hostile_data_before_headers),
        T(test_h2_headers_without_path),
        T(test_h2_headers_continued),
        T(test_hostile_tls_extension_past_end),
        T(test_hostile_tls_name_past_extension),
        T(test_tls_truncated_hello),
        T(test_tls_hello_split_before_sni),
        T(test_route_to_owner_needs_no_metadata),
        T(test_metadata_until_handoff),
        T(test_target_not_live),
        T(test_group_hashing),
        T(test_group_none_live),
        T(test_group_prefers_less_loaded),
        T(test_route_counters),
        T(test_live_route_change),
        T(test_ipv6_decision),
        T(test_decided_flow_not_parsed_again),
        T(test_source_cap_fourth_syn_dropped),
        T(test_source_cap_retransmitted_syn_counted_once),
        T(test_source_cap_release_after_close),
        T(test_source_cap_ipv6),
        T(test_source_cap_off_counts_nothing),
        T(test_source_cap_owner_gone_keeps_count),
        T(test_syncookie_ipv4),
        T(test_syncookie_ipv6),
        T(test_syncookie_always_without_timestamps),
        T(test_syncookie_worker_without_window_scaling),
        T(test_syncookie_steering_service_holds),
        T(test_syncookie_armed_owner_gone_still_reset),
#undef T
    };
    int status;

    for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
        xsk_fd[i] = -1;
    status = check_main(argc, argv, tests, CHECK_COUNT(tests), load_steering_program);
    source_release__destroy(release_skel);
    steer__destroy(skel);
    for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
        if (xsk_fd[i] >= 0)
            close(xsk_fd[i]);
    return status;
}
