/*
 * tcp_bench.c — the TCP engine's CPU cost, two engines back to back in memory on one core.
 *
 * A client engine and a server engine, each over its own frame pool, joined by the shortest wire
 * there is: after an engine's flush its segments are copied straight into frames of the other
 * engine and handed to tcp_input (the copy stands in for the NIC's DMA; its share is reported).
 * Time is a fake clock that moves 1 µs per exchange and jumps to the next deadline when both
 * sides are idle, so nothing here sleeps and timers still work. Measures:
 *   - bulk transfer one way (reserve/commit on one side, peek/consume on the other, no hashing);
 *   - 64-byte request/response over 16 connections;
 *   - memory per idle established connection, and frames it holds (should be none);
 *   - full connection lifecycles (connect, accept, close both ways, TIME-WAIT ends) per second.
 * Prints a markdown table.
 *
 *   tcp_bench [BULK_MIB]      (default 1024)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/frame.h"
#include "net/packet.h"
#include "net/tcp.h"
#include "net/tcp_conn.h" /* sizeof(struct tcp_conn) */

#define CLIENT          0
#define SERVER          1
#define FRAMES_PER_HOST 16384
#define STEP_NS         1000 /* fake time per exchange */
#define SERVER_PORT     80

#define BULK_RUNS  5
#define RR_CONNS   16
#define RR_MSG     64
#define RR_ROUNDS  50000 /* per connection */
#define IDLE_CONNS 1000
#define HS_BATCH   1024
#define HS_TOTAL   (100 * HS_BATCH)

struct host {
    struct frame_pool pool;
    struct frame_cache cache;
    struct tcp_engine engine;
};

struct bench {
    struct host host[2];
    uint64_t now_ns;
    uint64_t wire_frames;
    uint64_t wire_bytes;
    uint64_t wire_dropped; /* the receiver had no frame: should stay 0 */
};

/* What a connection's application does; the same callbacks serve both engines. */
enum role {
    BULK_SENDER,
    BULK_RECEIVER,
    RR_CLIENT,
    RR_SERVER,
    IDLE_CLIENT,
    IDLE_SERVER,
    HS_CLIENT,
    HS_SERVER
};

struct app {
    enum role role;
    struct tcp_conn *conn;
    uint64_t to_send;  /* bulk: bytes still to produce */
    uint64_t received; /* bytes consumed */
    uint64_t rounds;   /* request/response: completed round trips */
    bool started;      /* the first writable ("connected") came */
};

struct workload {
    struct app apps[2 * HS_BATCH + 2 * IDLE_CONNS];
    uint32_t napps;
    uint64_t bulk_bytes;
    uint64_t rr_rounds_done;
    uint64_t rr_limit; /* round trips each request/response client makes */
    uint32_t closed;
};

static struct bench B;
static struct workload W;

static double now_s(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "tcp_bench: error: %s\n", what);
    exit(1);
}

/* ---- the applications ---------------------------------------------------------------------------- */

static struct app *app_new(enum role role, struct tcp_conn *c)
{
    struct app *a;

    if (W.napps == sizeof(W.apps) / sizeof(W.apps[0]))
        die("too many connections for the workload table");
    a = &W.apps[W.napps++];
    memset(a, 0, sizeof(*a));
    a->role = role;
    a->conn = c;
    return a;
}

/* Produce in place, as a zero-copy application would; the payload bytes are left as they are. */
static void bulk_pump(struct app *a)
{
    while (a->to_send) {
        size_t room;

        if (!tcp_write_reserve(a->conn, &room))
            return;
        if (room > a->to_send)
            room = a->to_send;
        tcp_write_commit(a->conn, room);
        a->to_send -= room;
    }
}

static void rr_send(struct app *a)
{
    static const uint8_t msg[RR_MSG];

    if (tcp_write(a->conn, msg, RR_MSG) != RR_MSG)
        die("a 64-byte message did not fit in the send buffer");
}

/* Consume everything readable where it lies; returns the byte count. */
static size_t consume_all(struct tcp_conn *c)
{
    struct iovec iov[64];
    size_t total = 0;
    int n;

    while ((n = tcp_peek(c, iov, 64)) > 0) {
        size_t got = 0;

        for (int i = 0; i < n; i++)
            got += iov[i].iov_len;
        tcp_consume(c, got);
        total += got;
    }
    return total;
}

/* The engines' ctx is the client role of the workload; the server side plays its counterpart. */
static void *on_accept(void *ctx, struct tcp_conn *c)
{
    switch ((enum role)(uintptr_t)ctx) {
    case BULK_SENDER:
        return app_new(BULK_RECEIVER, c);
    case RR_CLIENT:
        return app_new(RR_SERVER, c);
    case IDLE_CLIENT:
        return app_new(IDLE_SERVER, c);
    default:
        return app_new(HS_SERVER, c);
    }
}

static void on_readable(void *ctx, struct tcp_conn *c)
{
    struct app *a = tcp_conn_user(c);
    size_t got = consume_all(c);

    (void)ctx;
    a->received += got;
    switch (a->role) {
    case BULK_RECEIVER:
        W.bulk_bytes += got;
        break;
    case RR_SERVER:
        for (; a->received >= RR_MSG; a->received -= RR_MSG)
            rr_send(a);
        break;
    case RR_CLIENT:
        for (; a->received >= RR_MSG; a->received -= RR_MSG) {
            a->rounds++;
            W.rr_rounds_done++;
            if (a->rounds < W.rr_limit)
                rr_send(a);
        }
        break;
    case IDLE_SERVER:
        if (a->received == RR_MSG)
            rr_send(a);
        break;
    case HS_SERVER:
        if (tcp_eof(c))
            tcp_close(c);
        break;
    default:
        break;
    }
}

static void on_writable(void *ctx, struct tcp_conn *c)
{
    struct app *a = tcp_conn_user(c);

    (void)ctx;
    switch (a->role) {
    case BULK_SENDER:
        bulk_pump(a);
        break;
    case RR_CLIENT:
    case IDLE_CLIENT:
        if (!a->started) {
            a->started = true; /* connected: the first request */
            rr_send(a);
        }
        break;
    case HS_CLIENT:
        if (!a->started) {
            a->started = true;
            tcp_close(c); /* connected: close at once */
        }
        break;
    default:
        break;
    }
}

static void on_closed(void *ctx, struct tcp_conn *c, int error)
{
    (void)ctx;
    (void)c;
    if (error)
        die("a connection closed with an error");
    W.closed++;
}

static const struct tcp_callbacks callbacks = {on_accept, on_readable, on_writable, on_closed};

/* ---- the wire ------------------------------------------------------------------------------------ */

static void setup(enum role workload_role)
{
    struct tcp_config cfg;

    memset(&B, 0, sizeof(B));
    memset(&W, 0, sizeof(W));
    B.now_ns = 1000000000ull;
    for (int i = 0; i < 2; i++) {
        struct host *h = &B.host[i];

        tcp_config_default(&cfg);
        cfg.secret[0] ^= (uint64_t)i;
        if (frame_pool_init(&h->pool, NULL, 2048, FRAMES_PER_HOST))
            die(strerror(errno));
        memset(h->pool.area, 0, (size_t)2048 * FRAMES_PER_HOST); /* fault it in now, as a UMEM would be */
        frame_cache_init(&h->cache, &h->pool);
        if (tcp_engine_init(&h->engine, &cfg, &h->cache, &callbacks, (void *)(uintptr_t)workload_role,
                            B.now_ns))
            die(strerror(errno));
    }
    tcp_listen(&B.host[SERVER].engine, SERVER_PORT);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        tcp_engine_destroy(&B.host[i].engine);
        frame_pool_destroy(&B.host[i].pool);
    }
}

/* Copy host from's emitted segments into the other host's frames and hand them to its engine. */
static uint32_t wire(int from)
{
    struct host *src = &B.host[from], *dst = &B.host[!from];
    struct tcp_engine *e = &src->engine;
    uint32_t n = e->ntx;

    for (uint32_t i = 0; i < n; i++) {
        const struct tcp_tx *tx = &e->tx[i];
        uint32_t frame = frame_alloc(&dst->cache);

        if (frame == FRAME_NONE) {
            B.wire_dropped++;
        } else {
            memcpy(frame_data(&dst->pool, frame), frame_data(&src->pool, tx->frame) + tx->off, tx->len);
            B.wire_bytes += tx->len;
            tcp_input(&dst->engine, frame, 0, tx->len);
        }
        frame_put(&src->cache, tx->frame, FRAME_OWN_TX); /* the copy completes the transmission */
    }
    tcp_tx_consumed(e, n);
    B.wire_frames += n;
    return n;
}

/* One exchange: each engine's timers, flush, and its segments straight to the other. */
static uint32_t exchange(void)
{
    uint32_t moved = 0;

    B.now_ns += STEP_NS;
    for (int i = 0; i < 2; i++)
        tcp_engine_begin(&B.host[i].engine, B.now_ns);
    for (int i = 0; i < 2; i++) {
        tcp_engine_flush(&B.host[i].engine);
        moved += wire(i);
    }
    return moved;
}

/* Exchange until done(); when nothing moves, jump the fake clock to the next deadline. */
static void run_until(bool (*done)(void))
{
    while (!done()) {
        uint64_t next = UINT64_MAX;

        if (exchange())
            continue;
        for (int i = 0; i < 2; i++) {
            uint64_t d = tcp_engine_next_deadline(&B.host[i].engine);

            if (d < next)
                next = d;
        }
        if (next == UINT64_MAX)
            die("nothing left to happen, and the workload is not done");
        if (next > B.now_ns)
            B.now_ns = next - STEP_NS;
    }
}

/* Let time pass: timers fire (delayed ACKs, TIME-WAIT) until nothing is due before now + ns. */
static void let_time_pass(uint64_t ns)
{
    uint64_t end = B.now_ns + ns;

    while (B.now_ns < end) {
        uint64_t next = end;

        if (exchange())
            continue;
        for (int i = 0; i < 2; i++) {
            uint64_t d = tcp_engine_next_deadline(&B.host[i].engine);

            if (d < next)
                next = d;
        }
        if (next > B.now_ns)
            B.now_ns = next - STEP_NS;
        else
            B.now_ns += STEP_NS;
    }
}

static struct tcp_conn *connect_client(uint16_t port, struct app *a)
{
    struct pkt_tuple t;
    struct pkt_link link;
    struct tcp_conn *c;

    memset(&t, 0, sizeof(t));
    memset(&link, 0, sizeof(link));
    t.family = PKT_IPV4;
    memcpy(t.laddr, (uint8_t[]){10, 0, 0, 2}, 4);
    memcpy(t.raddr, (uint8_t[]){10, 0, 0, 1}, 4);
    t.lport = port;
    t.rport = SERVER_PORT;
    memcpy(link.lmac, (uint8_t[]){2, 0, 0, 0, 0, 2}, 6);
    memcpy(link.rmac, (uint8_t[]){2, 0, 0, 0, 0, 1}, 6);
    c = tcp_connect(&B.host[CLIENT].engine, &t, &link, a);
    if (!c)
        die("tcp_connect: no free connection slot");
    a->conn = c;
    return c;
}

/* The cost of the wire itself: the same number of copies of the same sizes, nothing else. */
static double wire_copy_seconds(uint64_t frames, uint64_t bytes)
{
    static uint8_t src[2048], dst[64][2048];
    uint32_t len = frames ? (uint32_t)(bytes / frames) : 0;
    double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

    for (uint64_t i = 0; i < frames; i++) {
        memcpy(dst[i & 63], src, len);
        __asm__ volatile("" : : "r"(dst[i & 63]) : "memory"); /* keep the copy */
    }
    return now_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
}

static uint64_t segments_out(void)
{
    return B.host[0].engine.stats.segs_out + B.host[1].engine.stats.segs_out;
}

/* ---- the measurements ---------------------------------------------------------------------------- */

static uint64_t bulk_target;

static bool bulk_done(void)
{
    return W.bulk_bytes >= bulk_target;
}

/* One bulk transfer; returns its wall and CPU seconds and the segments both engines emitted. */
static void bulk_once(uint64_t bytes, double *wall, double *cpu, uint64_t *segs)
{
    struct app *sender;
    double w0, c0;

    setup(BULK_SENDER);
    sender = app_new(BULK_SENDER, NULL);
    sender->to_send = bytes;
    bulk_target = bytes;
    connect_client(40000, sender);
    w0 = now_s(CLOCK_MONOTONIC);
    c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    run_until(bulk_done);
    *wall = now_s(CLOCK_MONOTONIC) - w0;
    *cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    *segs = segments_out();
    if (B.host[CLIENT].engine.stats.retrans_rto + B.host[CLIENT].engine.stats.retrans_fast || B.wire_dropped)
        die("the bulk transfer lost or retransmitted segments on a lossless wire");
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of BULK_RUNS transfers: one run on a shared machine can be off by half. */
static void bench_bulk(uint64_t bytes)
{
    double wall[BULK_RUNS], cpu[BULK_RUNS], copy;
    uint64_t segs = 0;

    for (int i = 0; i < BULK_RUNS; i++) {
        bulk_once(bytes, &wall[i], &cpu[i], &segs);
        if (i + 1 < BULK_RUNS)
            teardown();
    }
    copy = wire_copy_seconds(B.wire_frames, B.wire_bytes);
    teardown();
    qsort(wall, BULK_RUNS, sizeof(wall[0]), by_value);
    qsort(cpu, BULK_RUNS, sizeof(cpu[0]), by_value);
    printf("| bulk transfer, %llu MiB one way (median of %d; range) | %.2f GB/s (%.2f-%.2f) | %.3f s CPU per "
           "GB, "
           "both ends (wire copies %.0f%% of it); %llu segments, %.0f ns of CPU each |\n",
           (unsigned long long)(bytes >> 20), BULK_RUNS, bytes / wall[BULK_RUNS / 2] / 1e9,
           bytes / wall[BULK_RUNS - 1] / 1e9, bytes / wall[0] / 1e9, cpu[BULK_RUNS / 2] / (bytes / 1e9),
           100 * copy / cpu[BULK_RUNS / 2], (unsigned long long)segs, 1e9 * cpu[BULK_RUNS / 2] / segs);
}

static bool rr_done(void)
{
    return W.rr_rounds_done >= (uint64_t)RR_CONNS * W.rr_limit;
}

static void bench_request_response(void)
{
    double wall, cpu;
    uint64_t segs, rounds = (uint64_t)RR_CONNS * RR_ROUNDS;

    setup(RR_CLIENT);
    W.rr_limit = 1; /* handshakes and one round trip each: not timed */
    for (int i = 0; i < RR_CONNS; i++)
        connect_client((uint16_t)(40000 + i), app_new(RR_CLIENT, NULL));
    run_until(rr_done);
    W.rr_rounds_done = 0;
    W.rr_limit = RR_ROUNDS;
    segs = segments_out();
    {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

        for (uint32_t i = 0; i < W.napps; i++)
            if (W.apps[i].role == RR_CLIENT) {
                W.apps[i].rounds = 0;
                rr_send(&W.apps[i]);
            }
        run_until(rr_done);
        wall = now_s(CLOCK_MONOTONIC) - w0;
        cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    segs = segments_out() - segs;
    printf(
        "| request/response, %d B over %d connections | %.2f M segments/s | %.2f µs of engine work per round "
        "trip (both ends); %.2f segments per round trip |\n",
        RR_MSG, RR_CONNS, segs / wall / 1e6, 1e6 * cpu / rounds, (double)segs / rounds);
    teardown();
}

static bool idle_exchanged(void)
{
    uint32_t answered = 0;

    for (uint32_t i = 0; i < W.napps; i++)
        answered += W.apps[i].role == IDLE_CLIENT && W.apps[i].received == RR_MSG;
    return answered == IDLE_CONNS;
}

static void bench_idle_memory(void)
{
    const struct tcp_engine *se;
    uint32_t nbuckets, live = 0;
    double table_share;

    setup(IDLE_CLIENT);
    se = &B.host[SERVER].engine;
    for (int i = 0; i < IDLE_CONNS; i++)
        connect_client((uint16_t)(20000 + i), app_new(IDLE_CLIENT, NULL));
    run_until(idle_exchanged);
    let_time_pass(2000000000ull); /* delayed ACKs go out; nothing is left in flight */
    for (uint32_t i = 0; i < se->cfg.max_conns; i++)
        live += se->conns[i].state == TCP_ESTABLISHED;
    nbuckets = se->bucket_mask + 1;
    table_share = (double)(nbuckets * sizeof(uint32_t) + se->cfg.tx_max * sizeof(struct tcp_tx) +
                           sizeof(struct tcp_engine)) /
                  se->cfg.max_conns;
    printf("| memory per idle established connection | %zu B | sizeof(struct tcp_conn) %zu B + %.1f B share "
           "of the "
           "hash buckets, TX list and engine (max_conns %u: the slab of %.1f MiB is allocated up front) |\n",
           (size_t)(sizeof(struct tcp_conn) + table_share + 0.5), sizeof(struct tcp_conn), table_share,
           se->cfg.max_conns, (double)se->cfg.max_conns * sizeof(struct tcp_conn) / (1 << 20));
    printf("| frames held by an idle connection | %.2f | %u established server connections after a 64 B "
           "exchange "
           "each hold %llu frames; the client engine holds %llu |\n",
           live ? (double)tcp_engine_frames_held(se) / live : 0.0, live,
           (unsigned long long)tcp_engine_frames_held(se),
           (unsigned long long)tcp_engine_frames_held(&B.host[CLIENT].engine));
    teardown();
}

static bool hs_batch_done(void)
{
    return W.closed >= 2 * HS_BATCH;
}

static void bench_handshakes(void)
{
    double wall, cpu;
    uint32_t total = 0;

    setup(HS_CLIENT);
    {
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

        while (total < HS_TOTAL) {
            W.napps = 0;
            W.closed = 0;
            for (int i = 0; i < HS_BATCH; i++)
                connect_client((uint16_t)(1024 + (total + i) % 60000), app_new(HS_CLIENT, NULL));
            run_until(hs_batch_done);
            /* TIME-WAIT (the client closed first) ends: its slots and tuples are free again */
            let_time_pass((uint64_t)B.host[CLIENT].engine.cfg.time_wait_ms * 1000000 + 1000000000);
            if (B.host[CLIENT].engine.nconns || B.host[SERVER].engine.nconns)
                die("connections left after a handshake batch");
            total += HS_BATCH;
        }
        wall = now_s(CLOCK_MONOTONIC) - w0;
        cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    printf(
        "| connection lifecycles (connect, accept, close both ways, TIME-WAIT ends) | %.0f k/s | %.2f µs of "
        "engine work each (both ends), %u connections in batches of %d |\n",
        total / wall / 1e3, 1e6 * cpu / total, total, HS_BATCH);
    teardown();
}

int main(int argc, char **argv)
{
    uint64_t bulk_mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;

    if (!bulk_mib)
        die("usage: tcp_bench [BULK_MIB]");
    printf("| measurement | result | detail |\n|---|---:|---|\n");
    bench_bulk(bulk_mib << 20);
    bench_request_response();
    bench_idle_memory();
    bench_handshakes();
    return 0;
}
