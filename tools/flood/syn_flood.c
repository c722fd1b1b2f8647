/*
 * syn_flood.c — a spoofed-source SYN flood for the tests and figures of SYN cookies in XDP.
 *
 *   syn_flood --dst ADDRESS --port PORT [--src PREFIX/N] [--count N] [--seconds S] [--rate PPS]
 *
 * Sends TCP SYNs (MSS option only, as hping3 does) to ADDRESS:PORT from random source addresses
 * inside PREFIX/N (default 10.77.0.0/16, the test topology's) and random ports, through a raw IPv4
 * socket (IP_HDRINCL: the kernel routes the frame and resolves the next hop, the source stays the
 * spoofed one). It stops after N SYNs (default 10000) or S seconds (default 10), whichever comes
 * first, never faster than PPS a second when given; both bounds are required to be finite. Run it
 * in the client namespace of a topology the test made: every address it writes is one the caller
 * named. It prints one line per second (time, SYNs sent, rate) to stderr and, at the end, one line
 * to stdout: "sent N SYNs to ADDRESS:PORT from PREFIX/N in S s (R/s), E send errors".
 * IPv4 only: an IPv6 raw socket cannot spoof its source without IPV6_HDRINCL's quirks, and the
 * cookie path is the same code for both families in XDP (tests/bpf/steer_test.c covers IPv6).
 * Needs CAP_NET_RAW. Exit status: 0 sent, 2 bad arguments, 1 socket error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_COUNT_DEFAULT   10000
#define FLOOD_SECONDS_DEFAULT 10
#define FLOOD_COUNT_MAX       100000000ull
#define FLOOD_SECONDS_MAX     3600
#define FLOOD_MSS             1460

static void usage(void)
{
    fprintf(stderr, "usage: syn_flood --dst ADDRESS --port PORT [--src PREFIX/N] [--count N] [--seconds S] "
                    "[--rate PPS]\n");
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, and no secret is at stake */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static uint32_t sum16(const void *p, size_t n, uint32_t sum)
{
    const uint8_t *b = p;

    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(b[i] << 8 | b[i + 1]);
    return sum;
}

static uint16_t csum(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static unsigned long long number(const char *s, const char *what, unsigned long long max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v == 0 || v > max) {
        fprintf(stderr, "syn_flood: error: %s '%s': expected 1 to %llu\n", what, s, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dst", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},
        {"src", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *dst_text = NULL, *src_text = "10.77.0.0/16";
    unsigned long long count = FLOOD_COUNT_DEFAULT, seconds = FLOOD_SECONDS_DEFAULT, rate = 0, sent = 0,
                       errors = 0;
    unsigned long long port = 0, last_sent = 0;
    struct in_addr dst, src;
    uint32_t prefix_bits = 16, host_mask, net;
    uint64_t seed, start, deadline, next_report;
    struct sockaddr_in to = {.sin_family = AF_INET};
    int c, fd, one = 1;
    char addr[64], *slash;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dst_text = optarg;
            break;
        case 'p':
            port = number(optarg, "port", 65535);
            break;
        case 's':
            src_text = optarg;
            break;
        case 'c':
            count = number(optarg, "count", FLOOD_COUNT_MAX);
            break;
        case 't':
            seconds = number(optarg, "seconds", FLOOD_SECONDS_MAX);
            break;
        case 'r':
            rate = number(optarg, "rate", 100000000);
            break;
        default:
            usage();
        }
    }
    if (!dst_text || !port || optind != argc)
        usage();
    if (inet_pton(AF_INET, dst_text, &dst) != 1) {
        fprintf(stderr, "syn_flood: error: --dst '%s': expected an IPv4 address\n", dst_text);
        return 2;
    }
    snprintf(addr, sizeof(addr), "%s", src_text);
    slash = strchr(addr, '/');
    if (slash) {
        *slash = 0;
        prefix_bits = (uint32_t)strtoul(slash + 1, NULL, 10);
    }
    if (inet_pton(AF_INET, addr, &src) != 1 || prefix_bits < 8 || prefix_bits > 30) {
        fprintf(stderr, "syn_flood: error: --src '%s': expected an IPv4 PREFIX/N with N from 8 to 30\n",
                src_text);
        return 2;
    }
    host_mask = (1u << (32 - prefix_bits)) - 1;
    net = ntohl(src.s_addr) & ~host_mask;

    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
        fprintf(stderr, "syn_flood: error: raw socket: %s (CAP_NET_RAW needed)\n", strerror(errno));
        return 1;
    }
    to.sin_addr = dst;
    seed = now_ns() ^ (uint64_t)getpid() << 32;
    start = now_ns();
    deadline = start + seconds * 1000000000ull;
    next_report = start + 1000000000ull;
    while (sent + errors < count) {
        struct {
            struct iphdr ip;
            struct tcphdr tcp;
            uint8_t mss[4];
        } __attribute__((packed)) pkt;
        struct {
            uint32_t saddr, daddr;
            uint8_t zero, proto;
            uint16_t len;
        } __attribute__((packed)) pseudo;
        uint64_t now = now_ns(), r = rnd(&seed);
        uint32_t host;

        if (now >= deadline)
            break;
        if (now >= next_report) {
            fprintf(stderr, "syn_flood: t=%.0fs sent=%llu rate=%llu/s\n", (double)(now - start) / 1e9, sent,
                    sent - last_sent);
            last_sent = sent;
            next_report += 1000000000ull;
        }
        /* at most `rate` a second: sleep until this SYN's slot (a millisecond at most, so that the
         * deadline and the report keep their time) */
        if (rate && (now - start) * rate < (sent + errors) * 1000000000ull) {
            uint64_t due = start + (sent + errors) * 1000000000ull / rate;
            struct timespec ts = {0, (long)(due - now < 1000000 ? due - now : 1000000)};

            nanosleep(&ts, NULL);
            continue;
        }
        do
            host = (uint32_t)r & host_mask, r = rnd(&seed);
        while (host == 0 || host == host_mask || htonl(net | host) == dst.s_addr);
        memset(&pkt, 0, sizeof(pkt));
        pkt.ip.version = 4;
        pkt.ip.ihl = 5;
        pkt.ip.ttl = 64;
        pkt.ip.protocol = IPPROTO_TCP;
        pkt.ip.tot_len = htons(sizeof(pkt));
        pkt.ip.saddr = htonl(net | host);
        pkt.ip.daddr = dst.s_addr;
        pkt.tcp.source = htons((uint16_t)(1024 + (r >> 16) % 64511));
        pkt.tcp.dest = htons((uint16_t)port);
        pkt.tcp.seq = htonl((uint32_t)(r >> 32));
        pkt.tcp.doff = (sizeof(pkt.tcp) + sizeof(pkt.mss)) / 4;
        pkt.tcp.syn = 1;
        pkt.tcp.window = htons(64240);
        pkt.mss[0] = 2;
        pkt.mss[1] = 4;
        pkt.mss[2] = FLOOD_MSS >> 8;
        pkt.mss[3] = FLOOD_MSS & 0xff;
        pseudo.saddr = pkt.ip.saddr;
        pseudo.daddr = pkt.ip.daddr;
        pseudo.zero = 0;
        pseudo.proto = IPPROTO_TCP;
        pseudo.len = htons(sizeof(pkt.tcp) + sizeof(pkt.mss));
        pkt.tcp.check = htons(
            csum(sum16(&pkt.tcp, sizeof(pkt.tcp) + sizeof(pkt.mss), sum16(&pseudo, sizeof(pseudo), 0))));
        if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(pkt))
            sent++;
        else
            errors++; /* ENOBUFS when the qdisc is full: counted, not retried */
    }
    {
        double secs = (double)(now_ns() - start) / 1e9;

        printf("sent %llu SYNs to %s:%llu from %s in %.2f s (%.0f/s), %llu send errors\n", sent, dst_text,
               port, src_text, secs, secs > 0 ? (double)sent / secs : 0.0, errors);
    }
    close(fd);
    return 0;
}
