/*
 * tap_server.c — the TCP engine serving the kernel's own TCP over a TAP device.
 *
 *   tap_server --dev TAP [--echo PORT] [--sink PORT] [--source PORT] [--frames N] [--loss-ppm N] [--seed N]
 *              [--time-wait-ms N]
 *
 * tests/net/tap_test.sh runs it in a network namespace of its own and drives it with
 * tests/net/kernel_client.c through ordinary sockets, so the sans-I/O engine meets a real peer:
 * Linux's TCP, its options, timers and resets. One thread, one frame pool and cache, one engine:
 * it waits on the TAP fd until input or the engine's deadline, reads frames into pool frames,
 * feeds them to the engine, flushes and writes what the engine emits back to the TAP fd (the
 * write copies the frame, so its TX completes at once). Frames that are not TCP (ARP, neighbour
 * discovery, MLD) are released by the engine: the test installs static neighbour entries instead.
 *
 * The services are sluice-server's own (server/app/: echo, sink, source), chosen by the local
 * port of a connection, over the engine through server/app/tcp_io.c.
 *
 * --loss-ppm drops that many frames per million, both ways, from a seeded generator: a lossy path
 * with no qdisc needed, so that Linux's SACKs drive the engine's recovery. TAP_TRACE=1 in the
 * environment prints every segment in and out, tcpdump-style, on stderr. --time-wait-ms shortens
 * 2 MSL (TIME-WAIT, and how long a closed connection waits in FIN-WAIT-2 for the peer's FIN).
 *
 * SIGUSR1 prints the counters; SIGTERM or SIGINT prints them, checks that every frame not held by
 * a connection is back in the pool, and exits (status 1 if a frame is unaccounted for). Nothing
 * is allocated per packet: frames come from the pool and service state from the slots of an
 * app_table made at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "net/tcp.h"
#include "app/tcp_io.h"

#define PROG          "tap_server"
#define FRAME_SIZE    2048
#define RX_BATCH      256  /* frames read before the engine flushes */
#define APP_MAX_CONNS 4096 /* service slots; connections beyond are refused (reset) */

/* What the TAP loop saw, next to the engine's and the services' counters. */
#define TAP_COUNTERS(X)                                                                                      \
    X(rx_frames, "frames read from the TAP device")                                                          \
    X(rx_no_frame, "frames read and dropped: the pool had no free frame")                                    \
    X(tx_frames, "frames written to the TAP device")                                                         \
    X(tx_dropped, "frames the TAP device refused (ENOBUFS, EAGAIN)")                                         \
    X(rx_lost, "received frames dropped on purpose (--loss-ppm)")                                            \
    X(tx_lost, "frames to send dropped on purpose (--loss-ppm)")

struct tap_stats {
#define TAP_STATS_FIELD(name, help) uint64_t name;
    TAP_COUNTERS(TAP_STATS_FIELD)
#undef TAP_STATS_FIELD
};

struct server {
    int tap_fd;
    uint32_t loss_ppm; /* random loss both ways, parts per million: the engine's recovery against Linux's */
    uint64_t rng;
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
    struct frame_pool pool;
    struct frame_cache cache;
    struct tcp_engine engine;
    struct app_table apps;
    struct tap_stats stats;
    uint8_t scratch[FRAME_SIZE]; /* where a frame goes when the pool is empty, to keep the queue moving */
};

static volatile sig_atomic_t stop_requested, dump_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        dump_requested = 1;
    else
        stop_requested = 1;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the TAP device and the loop ------------------------------------------------------------- */

static int tap_open(const char *name)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, PROG ": error: open /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    /* no IFF_VNET_HDR and no TUNSETOFFLOAD: the kernel hands us whole frames with complete checksums */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, PROG ": error: TUNSETIFF %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* TAP_TRACE=1 in the environment prints every TCP segment in (K>E) and out (E>K), tcpdump-style. */
static void trace(const char *dir, const uint8_t *frame, uint32_t len, bool lost)
{
    static int enabled = -1;
    struct pkt p;

    if (enabled < 0)
        enabled = getenv("TAP_TRACE") != NULL;
    if (!enabled || pkt_parse(frame, len, &p) != PKT_OK)
        return;
    fprintf(stderr, "%.6f %s %u>%u [%s%s%s%s%s] seq %u ack %u win %u len %u", monotonic_ns() / 1e9, dir,
            dir[0] == 'K' ? p.tuple.rport : p.tuple.lport, dir[0] == 'K' ? p.tuple.lport : p.tuple.rport,
            p.flags & TCP_SYN ? "S" : "", p.flags & TCP_FIN ? "F" : "", p.flags & TCP_RST ? "R" : "",
            p.flags & TCP_PSH ? "P" : "", p.flags & TCP_ACK ? "." : "", p.seq, p.ack, p.wnd, p.payload_len);
    for (int i = 0; i < p.opts.nsack; i++)
        fprintf(stderr, " sack %u-%u", p.opts.sack[i][0], p.opts.sack[i][1]);
    fprintf(stderr, "%s\n", lost ? " LOST" : "");
}

/* A frame lost on purpose, as --loss-ppm asks (xorshift64*, seeded: a run can be replayed). */
static bool lose(struct server *s)
{
    if (!s->loss_ppm)
        return false;
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (s->rng * 2685821657736338717ull) % 1000000 < s->loss_ppm;
}

/* Read what the TAP device has, up to a batch, and hand each frame to the engine; -1 on a hard error. */
static int receive_batch(struct server *s)
{
    for (int i = 0; i < RX_BATCH; i++) {
        uint32_t frame = frame_alloc(&s->cache);
        uint8_t *buf = frame == FRAME_NONE ? s->scratch : frame_data(&s->pool, frame);
        ssize_t n = read(s->tap_fd, buf, FRAME_SIZE);

        if (n < 0) {
            int err = errno;

            if (frame != FRAME_NONE)
                frame_put(&s->cache, frame, FRAME_OWN_HELD);
            if (err == EAGAIN || err == EINTR)
                return 0;
            fprintf(stderr, PROG ": error: read from the TAP device: %s\n", strerror(err));
            return -1;
        }
        s->stats.rx_frames++;
        if (frame == FRAME_NONE) {
            s->stats.rx_no_frame++; /* dropped, as a full RX ring would; TCP will resend */
            continue;
        }
        if (lose(s)) {
            trace("K>E", buf, (uint32_t)n, true);
            s->stats.rx_lost++;
            frame_put(&s->cache, frame, FRAME_OWN_HELD);
            continue;
        }
        trace("K>E", buf, (uint32_t)n, false);
        tcp_input(&s->engine, frame, 0, (uint32_t)n);
    }
    return 0;
}

/* Write everything the engine emitted; each write copies the frame, which completes its TX. */
static int transmit(struct server *s)
{
    struct tcp_engine *e = &s->engine;
    int status = 0;

    for (uint32_t i = 0; i < e->ntx; i++) {
        const struct tcp_tx *tx = &e->tx[i];
        bool lost = !status && lose(s);
        ssize_t n = status || lost ? 0 : write(s->tap_fd, frame_data(&s->pool, tx->frame) + tx->off, tx->len);

        trace("E>K", frame_data(&s->pool, tx->frame) + tx->off, tx->len, lost);
        if (lost) {
            s->stats.tx_lost++;
        } else if (n == tx->len) {
            s->stats.tx_frames++;
        } else if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
            s->stats.tx_dropped++; /* as a lost packet: the engine retransmits */
        } else if (!status) {
            if (n < 0)
                fprintf(stderr, PROG ": error: write to the TAP device: %s\n", strerror(errno));
            else
                fprintf(stderr, PROG ": error: write to the TAP device: %zd of %u bytes\n", n, tx->len);
            status = -1;
        }
        frame_put(&s->cache, tx->frame, FRAME_OWN_TX);
    }
    tcp_tx_consumed(e, e->ntx);
    return status;
}

static void print_counters(const struct server *s)
{
    const struct tcp_stats *st = &s->engine.stats;
    static const char *const parse_names[] = {
#define PARSE_NAME(name, help) #name,
        PKT_PARSE_RESULTS(PARSE_NAME)
#undef PARSE_NAME
    };

    printf("--- counters\n");
#define PRINT_ENGINE(name, help) printf("%-24s %llu\n", #name, (unsigned long long)st->name);
    TCP_ENGINE_COUNTERS(PRINT_ENGINE)
#undef PRINT_ENGINE
    for (int i = 0; i < PKT_RESULT_COUNT; i++)
        printf("parse_%-18s %llu\n", parse_names[i], (unsigned long long)st->parse[i]);
#define PRINT_APP(name, help) printf("app_%-20s %llu\n", #name, (unsigned long long)s->apps.stats.name);
    APP_COUNTERS(PRINT_APP)
#undef PRINT_APP
#define PRINT_TAP(name, help) printf("%-24s %llu\n", #name, (unsigned long long)s->stats.name);
    TAP_COUNTERS(PRINT_TAP)
#undef PRINT_TAP
    printf("%-24s %u\n", "connections", s->engine.nconns);
    fflush(stdout);
}

static uint32_t frames_in_use(struct server *s)
{
    return s->pool.nframes - frame_pool_free_count(&s->pool) - s->cache.nfree;
}

/* Poll timeout until the engine's deadline, rounded up so that we never wake before it. */
static const struct timespec *until_deadline(const struct tcp_engine *e, struct timespec *ts)
{
    uint64_t deadline = tcp_engine_next_deadline(e), now = monotonic_ns(), wait;

    if (deadline == UINT64_MAX)
        return NULL;
    wait = deadline > now ? deadline - now : 0;
    ts->tv_sec = (time_t)(wait / 1000000000ull);
    ts->tv_nsec = (long)(wait % 1000000000ull);
    return ts;
}

static int serve(struct server *s, const sigset_t *wait_mask)
{
    struct pollfd pfd = {.fd = s->tap_fd, .events = POLLIN};

    while (!stop_requested) {
        struct timespec ts;
        int ready = ppoll(&pfd, 1, until_deadline(&s->engine, &ts), wait_mask);

        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, PROG ": error: ppoll on the TAP device: %s\n", strerror(errno));
            return -1;
        }
        if (dump_requested) {
            dump_requested = 0;
            print_counters(s);
        }
        tcp_engine_begin(&s->engine, monotonic_ns());
        if (ready > 0 && receive_batch(s))
            return -1;
        tcp_engine_flush(&s->engine);
        if (transmit(s))
            return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " --dev TAP [--echo PORT] [--sink PORT] [--source PORT] [--frames N]\n"
                    "       [--loss-ppm N] [--seed N] [--time-wait-ms N]\n");
    exit(2);
}

static unsigned long number_arg(const char *opt, const char *text, unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || end == text || *end || !v || v > max) {
        fprintf(stderr, PROG ": error: bad %s '%s': a number from 1 to %lu\n", opt, text, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static struct server server;
    struct server *s = &server;
    struct tcp_config cfg;
    const char *dev = NULL;
    uint32_t nframes = 65536, time_wait_ms = 0;
    sigset_t block, wait_mask;
    struct sigaction sa = {.sa_handler = on_signal};
    uint32_t in_use, held;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];

        if (i + 1 >= argc)
            usage();
        if (!strcmp(opt, "--dev"))
            dev = argv[++i];
        else if (!strcmp(opt, "--echo") || !strcmp(opt, "--sink") || !strcmp(opt, "--source")) {
            if (s->nservices == APP_MAX_SERVICES)
                usage();
            s->services[s->nservices].port = (uint16_t)number_arg(opt, argv[++i], 65535);
            s->services[s->nservices++].ops = opt[2] == 'e'   ? &app_echo_ops
                                              : opt[3] == 'i' ? &app_sink_ops
                                                              : &app_source_ops;
        } else if (!strcmp(opt, "--frames"))
            nframes = (uint32_t)number_arg(opt, argv[++i], 1u << 20);
        else if (!strcmp(opt, "--loss-ppm"))
            s->loss_ppm = (uint32_t)number_arg(opt, argv[++i], 500000);
        else if (!strcmp(opt, "--time-wait-ms"))
            time_wait_ms = (uint32_t)number_arg(opt, argv[++i], 3600000);
        else if (!strcmp(opt, "--seed"))
            s->rng = number_arg(opt, argv[++i], ULONG_MAX);
        else
            usage();
    }
    if (!dev)
        usage();

    /* the signals arrive only inside ppoll, so a stop request cannot slip in before the wait */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGUSR1);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    s->rng = s->rng * 0x9e3779b97f4a7c15ull + 1; /* never zero, whatever --seed said */
    s->tap_fd = tap_open(dev);
    if (s->tap_fd < 0)
        return 1;
    if (frame_pool_init(&s->pool, NULL, FRAME_SIZE, nframes)) {
        fprintf(stderr, PROG ": error: frame_pool_init of %u frames: %s\n", nframes, strerror(errno));
        return 1;
    }
    frame_cache_init(&s->cache, &s->pool);
    if (app_table_init(&s->apps, APP_MAX_CONNS, s->services, s->nservices)) {
        fprintf(stderr, PROG ": error: %d service slots: %s\n", APP_MAX_CONNS, strerror(errno));
        return 1;
    }
    tcp_config_default(&cfg);
    if (time_wait_ms)
        cfg.time_wait_ms = time_wait_ms;
    if (tcp_engine_init(&s->engine, &cfg, &s->cache, &app_tcp_callbacks, &s->apps, monotonic_ns())) {
        fprintf(stderr, PROG ": error: tcp_engine_init: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < s->nservices; i++) {
        tcp_listen(&s->engine, s->services[i].port);
        printf("%s on port %u\n", s->services[i].ops->name, s->services[i].port);
    }
    printf("ready on %s with %u frames, pid %d\n", dev, nframes, (int)getpid());
    fflush(stdout);

    if (serve(s, &wait_mask))
        status = 1;
    print_counters(s);

    /* every frame is either held by a connection or back in the pool: none leaked, none double-freed */
    in_use = frames_in_use(s);
    held = (uint32_t)tcp_engine_frames_held(&s->engine);
    if (in_use != held) {
        fprintf(stderr, PROG ": error: frame accounting: %u frames in use but connections hold %u\n", in_use,
                held);
        status = 1;
    }
    tcp_engine_destroy(&s->engine);
    frame_cache_drain(&s->cache);
    if (frame_pool_free_count(&s->pool) != s->pool.nframes) {
        fprintf(stderr, PROG ": error: frame accounting: %u of %u frames free after tcp_engine_destroy\n",
                frame_pool_free_count(&s->pool), s->pool.nframes);
        status = 1;
    }
    if (!status)
        printf("frames accounted: %u in use = %u held by connections; all %u free after destroy\n", in_use,
               held, s->pool.nframes);
    app_table_destroy(&s->apps);
    frame_pool_destroy(&s->pool);
    close(s->tap_fd);
    return status;
}
