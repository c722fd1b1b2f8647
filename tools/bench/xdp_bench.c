/*
 * xdp_bench.c — nanoseconds per packet of the steering program, by packet class.
 *
 * Loads bpf/steer.bpf.c from its skeleton (nothing attached), configures one service and four
 * live workers with AF_XDP sockets, and runs each class of frame through BPF_PROG_TEST_RUN with a
 * large repeat count; the kernel reports the mean run time. Prints a markdown table.
 *
 * Prefix decisions happen once per connection, so a repeat loop cannot time them: each decision
 * case resets its flow to FLOW_AWAIT_PREFIX from user space and times single runs (the kernel's
 * per-run figure), reporting the mean and the median of REPEAT / 100 of them, beside the same
 * single-run timing of an already decided flow (single runs cost more than a repeat loop's mean).
 * The SYN cookie cases (bench_cookies) are timed the same way.
 *
 *   xdp_bench [REPEAT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/addr.h"
#include "common/hpack_huffman.h"
#include "tests/bpf/packets.h"
#include "maps/sluice_maps.h"
#include "bpf/steer.skel.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

#define WORKERS 4
#define ISN     1000u

static int setup(struct steer *skel, int *xsk)
{
    struct service_key key = {.port = 80};
    struct service_value value = {.service_id = 1};
    struct flow_key flow = {.family = SLUICE_IPV4, .sport = 40000, .dport = 80};
    struct flow_value owner = {.worker = 1, .state = FLOW_HASHED};
    __u8 family;

    if (addr_parse("10.0.0.1", key.addr, &key.family) ||
        bpf_map_update_elem(bpf_map__fd(skel->maps.services), &key, &value, BPF_ANY))
        return -1;
    for (__u32 i = 0; i < WORKERS; i++) {
        struct worker_state ws = {.live = 1};
        __u32 slot = SLUICE_XSKS_KEY(0, i); /* test runs' frames arrive on queue 0 */

        xsk[i] = socket(AF_XDP, SOCK_RAW, 0);
        if (xsk[i] < 0 || bpf_map_update_elem(bpf_map__fd(skel->maps.workers), &i, &ws, BPF_ANY) ||
            bpf_map_update_elem(bpf_map__fd(skel->maps.xsks), &slot, &xsk[i], BPF_ANY))
            return -1;
    }
    if (addr_parse("10.1.0.2", flow.saddr, &family) || addr_parse("10.0.0.1", flow.daddr, &family))
        return -1;
    return bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &flow, &owner, BPF_ANY);
}

/* Port 81 steers; /heavy goes to worker 2, a path default and an SNI route to worker 3. */
static int setup_steering(struct steer *skel)
{
    struct service_key key = {.port = 81};
    struct service_value value = {.service_id = 2, .flags = SERVICE_F_STEER};
    static const struct {
        __u32 kind;
        const char *text;
        __u64 workers;
    } routes[] = {{ROUTE_PATH, "/heavy", 1u << 2},
                  {ROUTE_PATH, "", 1u << 3},
                  {ROUTE_SNI, "heavy.example.com", 1u << 3}};
    int fd = bpf_map__fd(skel->maps.routes);

    if (addr_parse("10.0.0.1", key.addr, &key.family) ||
        bpf_map_update_elem(bpf_map__fd(skel->maps.services), &key, &value, BPF_ANY))
        return -1;
    for (__u32 i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        struct route_key k = {.kind = routes[i].kind};
        struct route_value v = {.route_id = i + 1, .workers = routes[i].workers};
        size_t len = strlen(routes[i].text);

        memcpy(k.prefix, routes[i].text, len);
        memcpy(v.text, routes[i].text, len);
        k.prefixlen = ROUTE_KEY_PREFIXLEN(len);
        if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
            return -1;
        if (routes[i].kind == ROUTE_PATH) {
            k.kind = ROUTE_PATH_HUFFMAN;
            memset(k.prefix, 0, sizeof(k.prefix));
            k.prefixlen = 32u + (__u32)hpack_huffman_encode(routes[i].text, len, (unsigned char *)k.prefix,
                                                            sizeof(k.prefix), NULL);
            if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
                return -1;
        }
    }
    return 0;
}

static int read_fixture(const char *name, unsigned char *buf, size_t size, size_t *len)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "tests/bpf/fixtures/%s", name);
    f = fopen(path, "rb");
    if (!f)
        return -1;
    *len = fread(buf, 1, size, f);
    fclose(f);
    return *len ? 0 : -1;
}

static int cmp_u32(const void *a, const void *b)
{
    __u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

    return x < y ? -1 : x > y;
}

/* What bench_single_runs does to spec's flow before each run. */
enum flow_reset {
    FLOW_KEEP,   /* nothing: the run finds what the last one left */
    FLOW_DELETE, /* a run that inserts the flow inserts it every time */
    FLOW_PUT,    /* the given value, so every run decides from the same state */
};

/*
 * Single runs of spec's frame (the kernel copies it for each, so a run that rewrites its frame leaves
 * the next one the original), the flow reset before each; prints mean and median ns. One run is too
 * short for the kernel's timer (repeat would run on what the first run left), so each is timed alone.
 */
static int bench_single_runs(struct steer *skel, const char *name, const struct pkt_spec *spec,
                             enum flow_reset reset, const struct flow_value *fv, __u32 runs)
{
    struct flow_key flow = {.family = SLUICE_IPV4, .sport = spec->sport, .dport = spec->dport};
    unsigned char frame[PKT_MAX];
    size_t len = pkt_build(spec, frame);
    __u32 *ns = calloc(runs, sizeof(*ns)), retval = 0;
    unsigned long long sum = 0;
    __u8 family;

    if (!ns || addr_parse(spec->src, flow.saddr, &family) || addr_parse(spec->dst, flow.daddr, &family)) {
        free(ns);
        return -1;
    }
    for (__u32 r = 0; r < runs; r++) {
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = 1);

        if (reset == FLOW_DELETE)
            bpf_map_delete_elem(bpf_map__fd(skel->maps.flows), &flow);
        if ((reset == FLOW_PUT && bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &flow, fv, BPF_ANY)) ||
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts)) {
            free(ns);
            return -1;
        }
        ns[r] = opts.duration;
        sum += opts.duration;
        retval = opts.retval;
    }
    qsort(ns, runs, sizeof(*ns), cmp_u32);
    printf("| %s | %llu (median %u) | %u |\n", name, sum / runs, ns[runs / 2], retval);
    free(ns);
    return 0;
}

/*
 * A connection's first payload segment, decided on every run: the flow is put back into
 * FLOW_AWAIT_PREFIX (owner 1) before each.
 */
static int bench_decision(struct steer *skel, const char *name, const char *fixture, __u32 runs)
{
    struct flow_value await = {.worker = 1, .target = 1, .state = fixture ? FLOW_AWAIT_PREFIX : FLOW_HASHED};
    unsigned char payload[1500];
    struct pkt_spec spec = {.family = 4,
                            .src = "10.1.0.2",
                            .dst = "10.0.0.1",
                            .sport = 40002,
                            .dport = 81,
                            .tcp_flags = 0x18,
                            .seq = ISN + 1,
                            .data = payload};
    size_t plen = 100;

    memset(payload, 'x', plen);
    if (fixture && read_fixture(fixture, payload, sizeof(payload), &plen))
        return -1;
    spec.payload = plen;
    return bench_single_runs(skel, name, &spec, FLOW_PUT, &await, runs);
}

static int set_source_cap(struct steer *skel, __u32 cap)
{
    struct sluice_meta meta = {.abi_version = SLUICE_ABI_VERSION, .max_conns_per_source = cap};
    __u32 zero = 0;

    return bpf_map_update_elem(bpf_map__fd(skel->maps.meta), &zero, &meta, BPF_ANY);
}

/*
 * A new connection's SYN with the per-source cap at cap (0: off; else high enough never to refuse):
 * its flow is deleted before each run, so every run inserts it (and, with a cap, counts it).
 */
static int bench_new_syn(struct steer *skel, const char *name, __u32 cap, __u32 runs)
{
    struct pkt_spec spec = {
        .family = 4, .src = "10.1.0.4", .dst = "10.0.0.1", .sport = 40004, .dport = 80, .tcp_flags = 0x02};

    if (set_source_cap(skel, cap) || bench_single_runs(skel, name, &spec, FLOW_DELETE, NULL, runs))
        return -1;
    return set_source_cap(skel, 0);
}

/*
 * SYN cookies (port 82, a SERVICE_F_SYNCOOKIE service): what XDP spends on a flood's SYN (the cookie
 * SYN-ACK built and sent back), on a forged ACK (checked, dropped) and on the ACK of a real cookie
 * (checked, flow inserted, metadata, redirected). A run changes its frame (the SYN becomes the SYN-ACK)
 * or the flows (the ACK inserts one), so each case times single runs on a fresh copy, as decisions do;
 * the valid ACK's flow is deleted before each run.
 */
static const __u8 syn_options[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};

static int bench_cookies(struct steer *skel, __u32 runs)
{
    struct service_key key = {.port = 82};
    struct service_value value = {.service_id = 3, .flags = SERVICE_F_SYNCOOKIE};
    struct pkt_spec syn = {.family = 4,
                           .src = "10.1.0.2",
                           .dst = "10.0.0.1",
                           .sport = 40004,
                           .dport = 82,
                           .tcp_flags = 0x02,
                           .seq = ISN,
                           .tcp_options = syn_options,
                           .tcp_options_len = sizeof(syn_options)};
    __u8 ack_options[12] = {1, 1, 8, 10, 0, 0, 0, 2};
    struct pkt_spec ack = syn;
    unsigned char frame[PKT_MAX], out[PKT_MAX];
    size_t len = pkt_build(&syn, frame);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .data_out = out,
                .data_size_out = sizeof(out), .repeat = 1);
    __u32 cookie;

    if (addr_parse("10.0.0.1", key.addr, &key.family) ||
        bpf_map_update_elem(bpf_map__fd(skel->maps.services), &key, &value, BPF_ANY) ||
        bench_single_runs(skel, "SYN cookie: SYN answered with a SYN-ACK (XDP_TX)", &syn, FLOW_KEEP, NULL,
                          runs))
        return -1;
    /* one SYN-ACK to answer: its cookie (seq) and TSval (the options' carrier) make the real ACK */
    if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts) || opts.retval != XDP_TX)
        return -1;
    memcpy(&cookie, out + 14 + 20 + 4, 4);
    memcpy(ack_options + 8, out + 14 + 20 + 20 + 8, 4);
    ack.tcp_flags = 0x10;
    ack.seq = ISN + 1;
    ack.ack = ntohl(cookie) + 1;
    ack.tcp_options = ack_options;
    ack.tcp_options_len = sizeof(ack_options);
    if (bench_single_runs(skel, "SYN cookie: ACK with a valid cookie (flow inserted, metadata, redirected)",
                          &ack, FLOW_DELETE, NULL, runs))
        return -1;
    ack.ack ^= 0x00ff0000u;
    return bench_single_runs(skel, "SYN cookie: ACK with a forged cookie (dropped)", &ack, FLOW_DELETE, NULL,
                             runs);
}

int main(int argc, char **argv)
{
    struct {
        const char *name;
        struct pkt_spec spec;
    } classes[] = {
        {"ARP (passed: not IP)", {.family = 4, .src = "10.1.0.2", .dst = "10.0.0.1", .ethertype = ETH_P_ARP}},
        {"TCP to another port (passed)",
         {.family = 4, .src = "10.1.0.2", .dst = "10.0.0.1", .sport = 40000, .dport = 22, .tcp_flags = 0x10}},
        {"established flow (redirected)",
         {.family = 4,
          .src = "10.1.0.2",
          .dst = "10.0.0.1",
          .sport = 40000,
          .dport = 80,
          .tcp_flags = 0x10,
          .payload = 100}},
        {"no flow, rendezvous over 64 slots",
         {.family = 4, .src = "10.1.0.3", .dst = "10.0.0.1", .sport = 40001, .dport = 80, .tcp_flags = 0x10}},
    };
    __u32 repeat = argc > 1 ? (__u32)atoi(argv[1]) : 1000000;
    int xsk[WORKERS];
    struct steer *skel = steer__open_and_load();

    if (!skel || setup(skel, xsk) || setup_steering(skel)) {
        fprintf(stderr, "xdp_bench: error: cannot load or configure the steering program: %s\n",
                strerror(errno));
        return 1;
    }
    printf("| packet class | ns/packet | verdict |\n|---|---:|---|\n");
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        unsigned char frame[PKT_MAX];
        size_t len = pkt_build(&classes[i].spec, frame);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = repeat);

        if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts)) {
            fprintf(stderr, "xdp_bench: error: test run failed: %s\n", strerror(errno));
            return 1;
        }
        printf("| %s | %u | %u |\n", classes[i].name, opts.duration, opts.retval);
    }
    {
        static const struct {
            const char *name, *fixture;
        } decisions[] = {
            {"reference: the same single-run timing of a decided flow's segment", NULL},
            {"decision: h2 curl first flight (Huffman :path, routed, metadata)", "h2_curl.bin"},
            {"decision: h2 nghttp first flight (5 PRIORITY frames, routed)", "h2_nghttp.bin"},
            {"decision: HTTP/1.1 request line (routed)", "http1_curl.bin"},
            {"decision: TLS ClientHello SNI (openssl, routed)", "tls_openssl_sni.bin"},
        };
        __u32 runs = repeat / 100 ? repeat / 100 : 1;

        for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
            if (bench_decision(skel, decisions[i].name, decisions[i].fixture, runs)) {
                fprintf(stderr, "xdp_bench: error: decision case (run from the repository root): %s\n",
                        strerror(errno));
                return 1;
            }
        }
    }
    if (bench_cookies(skel, repeat / 100 ? repeat / 100 : 1)) {
        fprintf(stderr, "xdp_bench: error: SYN cookie case: %s\n", strerror(errno));
        return 1;
    }
    {
        /* a decided flow waiting for its hand-off: every frame gets metadata */
        struct flow_key flow = {.family = SLUICE_IPV4, .sport = 40003, .dport = 81};
        struct flow_value routed = {.worker = 1, .target = 2, .route_id = 1, .state = FLOW_ROUTED};
        struct pkt_spec spec = {.family = 4,
                                .src = "10.1.0.2",
                                .dst = "10.0.0.1",
                                .sport = 40003,
                                .dport = 81,
                                .tcp_flags = 0x10,
                                .payload = 100};
        unsigned char frame[PKT_MAX];
        size_t len = pkt_build(&spec, frame);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = repeat);
        __u8 family;

        if (addr_parse("10.1.0.2", flow.saddr, &family) || addr_parse("10.0.0.1", flow.daddr, &family) ||
            bpf_map_update_elem(bpf_map__fd(skel->maps.flows), &flow, &routed, BPF_ANY) ||
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts)) {
            fprintf(stderr, "xdp_bench: error: test run failed: %s\n", strerror(errno));
            return 1;
        }
        printf("| flow awaiting hand-off (metadata prepended) | %u | %u |\n", opts.duration, opts.retval);
    }
    {
        /* the per-source connection cap: a new flow's SYN without and with counting, and a SYN refused */
        __u32 runs = repeat / 100 ? repeat / 100 : 1;
        struct pkt_spec spec = {.family = 4,
                                .src = "10.1.0.5",
                                .dst = "10.0.0.1",
                                .sport = 40005,
                                .dport = 80,
                                .tcp_flags = 0x02};
        unsigned char frame[PKT_MAX];
        size_t len = pkt_build(&spec, frame);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .repeat = repeat);
        struct source_key src = {.family = SLUICE_IPV4};
        struct source_value full = {.count = 1};
        __u8 family;

        if (bench_new_syn(skel, "new flow's SYN, per-source cap off (single runs)", 0, runs) ||
            bench_new_syn(skel, "new flow's SYN, counted against its source (single runs)", UINT32_MAX,
                          runs) ||
            addr_parse("10.1.0.5", src.addr, &family) ||
            bpf_map_update_elem(bpf_map__fd(skel->maps.sources), &src, &full, BPF_ANY) ||
            set_source_cap(skel, 1) ||
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_steer), &opts)) {
            fprintf(stderr, "xdp_bench: error: per-source cap case failed: %s\n", strerror(errno));
            return 1;
        }
        printf("| SYN refused at the per-source cap (drop_source_cap) | %u | %u |\n", opts.duration,
               opts.retval);
    }
    steer__destroy(skel);
    return 0;
}
