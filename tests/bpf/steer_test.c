/*
 * steer_test.c — unit tests of bpf/steer.bpf.c through BPF_PROG_TEST_RUN.
 *
 * The steering program is loaded from its skeleton (not pinned, not attached) and fed crafted
 * frames (tests/bpf/packets.c). Each case asserts the verdict, which single verdict counter moved,
 * the worker a redirect went to (from the per-worker counters) and what changed in `flows`.
 * Workers' sockets are real AF_XDP sockets placed in `xsks`; test runs never deliver frames, so the
 * sockets need not be bound. Needs root (CAP_BPF, CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "check.h"
#include "flow_hash.h"
#include "packets.h"
#include "steer.skel.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

#define SERVICE_V4 "10.0.0.1"
#define SERVICE_V6 "fd00::1"
#define CLIENT_V4  "10.1.0.2"
#define CLIENT_V6  "fd00::2"

static struct steer *skel;
static int xsk_fd[SLUICE_MAX_WORKERS];
static int ncpus;

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

    if (bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &ws, BPF_ANY))
        return -1;
    if (!with_socket) {
        bpf_map_delete_elem(xsks, &i);
        return 0;
    }
    if (xsk_fd[i] < 0)
        xsk_fd[i] = socket(AF_XDP, SOCK_RAW, 0);
    if (xsk_fd[i] < 0)
        return -1;
    return bpf_map_update_elem(xsks, &i, &xsk_fd[i], BPF_ANY);
}

static void reset(void)
{
    struct worker_state none = {0};
    struct sluice_stats *zero = calloc(ncpus, sizeof(*zero));
    __u32 k = 0;

    clear_map(bpf_map__fd(skel->maps.services));
    clear_map(bpf_map__fd(skel->maps.flows));
    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++) {
        bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &none, BPF_ANY);
        bpf_map_delete_elem(bpf_map__fd(skel->maps.xsks), &i);
    }
    bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &k, zero, BPF_ANY);
    free(zero);
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
    return (struct pkt_spec){.family = 4, .src = CLIENT_V4, .dst = SERVICE_V4, .sport = 40000, .dport = 80,
                             .tcp_flags = flags};
}

static struct pkt_spec v6(__u8 flags)
{
    return (struct pkt_spec){.family = 6, .src = CLIENT_V6, .dst = SERVICE_V6, .sport = 40000, .dport = 80,
                             .tcp_flags = flags};
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
};

static int run(const struct pkt_spec *spec, struct outcome *out)
{
    unsigned char frame[PKT_MAX];
    size_t len = pkt_build(spec, frame);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = 1);
    struct sluice_stats before, after;

    if (read_stats(&before) || bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts) ||
        read_stats(&after))
        return -1;
    out->verdict = (int)opts.retval;
    for (size_t i = 0; i < sizeof(before) / 8; i++)
        ((__u64 *)&out->delta)[i] = ((__u64 *)&after)[i] - ((__u64 *)&before)[i];
    return 0;
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
#define EXPECT(spec, want_verdict, want_counter, want_worker)                                                 \
    do {                                                                                                     \
        const char *_moved;                                                                                  \
        CHECK(run((spec), &last) == 0);                                                                      \
        CHECKF(last.verdict == (want_verdict), "verdict %s, expected %s", verdict_name(last.verdict),        \
               verdict_name(want_verdict));                                                                  \
        _moved = verdict_counter(&last.delta);                                                               \
        CHECKF(_moved && !strcmp(_moved, (want_counter)), "counter %s moved, expected %s",                    \
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
    CHECK(fv.created_ns != 0);
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

int main(void)
{
    static const struct {
        void (*fn)(void);
        const char *name;
    } tests[] = {
#define T(fn) {fn, #fn}
        T(test_arp_passed),
        T(test_lldp_passed),
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
        T(test_every_packet_counted_once),
#undef T
    };
    int status = 0;

    for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
        xsk_fd[i] = -1;
    ncpus = libbpf_num_possible_cpus();
    skel = ncpus > 0 ? steer__open_and_load() : NULL;
    if (!skel) {
        printf("not ok - load_steering_program: cannot load bpf/steer.bpf.c: %s (root and BPF needed)\n",
               strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        check_run(tests[i].fn, tests[i].name);
    status = check_exit_status();
    steer__destroy(skel);
    for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
        if (xsk_fd[i] >= 0)
            close(xsk_fd[i]);
    return status;
}
