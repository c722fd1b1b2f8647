/*
 * tcp_script_test.c — edge cases of the server TCP engine against a scripted peer.
 *
 * Engine 0 of the simulated network (sim.h) listens on port 80 (and, for the active-open cases,
 * connects from it with tcp_connect, as test peers and tools do). The peer is not an engine: each
 * test writes the peer's segments byte by byte (pkt_write_headers), injects them, and captures
 * every segment the server emits through the wire hook, so that it can assert exact flags,
 * sequence and acknowledgment numbers, windows, options, lengths and the times between segments,
 * plus the connection's state, the application's callbacks and the engine's counters. The link
 * from the peer has no delay, so an injected segment is processed at the instant it is sent and
 * the gaps between server segments are the engine's own timers. Every test ends with each frame
 * back in its pool or held by a connection.
 *
 * TEST_ONLY=substring runs the matching tests; SIM_TRACE=1 prints every server segment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/check.h"
#include "net/checksum.h"
#include "net/packet.h"
#include "tests/net/sim.h"
#include "net/tcp.h"

#define SERVER_PORT 80
#define NS_PER_MS   1000000ull
#define ANY         UINT64_MAX /* in an expectation: any value */
#define MAX_SEEN    2048       /* server segments captured and not yet examined */
#define MAX_PEERS   4
#define SEEN_BYTES  1600 /* payload bytes kept per captured segment */

/* What the peer offers in its SYN. */
enum offer {
    OFFER_MSS = 1u << 0,
    OFFER_WS = 1u << 1,
    OFFER_SACK = 1u << 2,
    OFFER_TS = 1u << 3,
    OFFER_ALL = OFFER_MSS | OFFER_WS | OFFER_SACK | OFFER_TS,
};

/* The scripted peer's side of one connection. */
struct peer {
    int family;
    uint16_t port;
    struct pkt_tuple tuple; /* the peer's view: l = peer, r = server */
    struct pkt_link link;
    struct pkt_tuple server_tuple; /* the same connection as the server names it */
    unsigned offer;
    uint16_t mss;
    uint8_t wscale; /* raw value offered; the option allows up to 255 */
    uint32_t iss;
    uint32_t snd_nxt; /* the peer's next sequence number */
    uint32_t rcv_nxt; /* what the peer acknowledges */
    uint32_t server_iss;
    uint32_t server_nxt; /* the server's next new sequence number, as the peer saw it */
    uint16_t wnd;        /* window field the peer sends (its scaling applies) */
    bool ts;             /* timestamps negotiated: every segment carries them */
    uint32_t tsval;      /* the peer's TSval in its next segment; grows by one per segment */
    uint32_t ts_echo;    /* the server's latest TSval, echoed as TSecr */
    int nsack;           /* SACK blocks for the segments the peer sends */
    uint32_t sack[PKT_MAX_SACK][2];
};

/* A segment the server emitted. */
struct seen {
    struct pkt p;
    uint64_t at_ms; /* simulated time */
    uint8_t payload[SEEN_BYTES];
};

/* The server's application: what the callbacks saw, and how it behaves. */
struct app {
    struct tcp_conn *conn;
    bool read_all; /* consume everything readable from the readable callback */
    bool refuse;
    int accepted;
    int readable_calls;
    int writable_calls;
    int closed_calls;
    int close_error;
    bool eof;
    uint64_t bytes_read;
    uint64_t written; /* stream offset of the next byte the application writes */
};

struct script {
    struct sim sim;
    bool live;
    bool batching; /* peer segments wait for batch_end to be processed together */
    struct seen seen[MAX_SEEN];
    uint32_t seen_head; /* next to examine; seen[i % MAX_SEEN] */
    uint32_t seen_tail;
    bool seen_overflow;
    uint32_t unparsable;
    struct peer *peers[MAX_PEERS];
    int npeers;
    struct app app;
    struct tcp_syncookie cookie; /* what the next frame to the server carries, while cookie_armed */
    bool cookie_armed;
};

static struct script S;

#define HERE __FILE__, __LINE__

/* CHECK for helpers that return bool: records the failure and returns false. */
#define REQUIRE(cond)                                                                                        \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            check_fail(__FILE__, __LINE__, "%s", #cond);                                                     \
            return false;                                                                                    \
        }                                                                                                    \
    } while (0)

#define REQUIREF(cond, fmt, ...)                                                                             \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            check_fail(__FILE__, __LINE__, "%s (" fmt ")", #cond, __VA_ARGS__);                              \
            return false;                                                                                    \
        }                                                                                                    \
    } while (0)

static struct tcp_engine *server(void)
{
    return &S.sim.host[SIM_SERVER].engine;
}

static const struct tcp_stats *stats(void)
{
    return &server()->stats;
}

static uint64_t now_ms(void)
{
    return S.sim.now_ns / NS_PER_MS;
}

/* ---- byte streams: what each side sends, so a retransmission can be compared ------------------- */

static uint8_t peer_byte(uint32_t seq)
{
    return (uint8_t)(seq * 31u + 1);
}

static uint8_t server_byte(uint64_t offset)
{
    return (uint8_t)(offset * 131u + 7);
}

/* ---- the server's application ----------------------------------------------------------------- */

static void app_read_all(struct tcp_conn *c)
{
    size_t n = tcp_readable(c);

    S.app.bytes_read += n;
    tcp_consume(c, n);
}

static void *on_accept(void *ctx, struct tcp_conn *c)
{
    (void)ctx;
    if (S.app.refuse)
        return NULL;
    S.app.conn = c;
    S.app.accepted++;
    return &S.app;
}

static void on_readable(void *ctx, struct tcp_conn *c)
{
    (void)ctx;
    S.app.readable_calls++;
    if (S.app.read_all)
        app_read_all(c);
    if (tcp_eof(c))
        S.app.eof = true;
}

static void on_writable(void *ctx, struct tcp_conn *c)
{
    (void)ctx;
    (void)c;
    S.app.writable_calls++;
}

static void on_closed(void *ctx, struct tcp_conn *c, int error)
{
    (void)ctx;
    S.app.closed_calls++;
    S.app.close_error = error;
    if (S.app.conn == c)
        S.app.conn = NULL;
}

static const struct tcp_callbacks callbacks = {on_accept, on_readable, on_writable, on_closed};

/* The application writes n more bytes of its stream; returns how many the engine took. */
static size_t app_write(size_t n)
{
    uint8_t buf[4096];
    size_t done = 0;

    while (done < n) {
        size_t chunk = n - done < sizeof(buf) ? n - done : sizeof(buf), took;

        for (size_t i = 0; i < chunk; i++)
            buf[i] = server_byte(S.app.written + i);
        took = tcp_write(S.app.conn, buf, chunk);
        S.app.written += took;
        done += took;
        if (took < chunk)
            break;
    }
    return done;
}

/* ---- the wire ---------------------------------------------------------------------------------- */

static struct peer *peer_of(const struct pkt *p)
{
    for (int i = 0; i < S.npeers; i++)
        if (S.peers[i]->port == p->tuple.lport && S.peers[i]->family == p->tuple.family)
            return S.peers[i];
    return NULL;
}

/* The wire hook: every server segment is parsed and kept for the test; none is delivered. */
static bool capture(void *ctx, int from, uint8_t *frame, uint32_t len)
{
    struct seen *sg;
    struct peer *peer;
    struct pkt p;

    (void)ctx;
    if (from != SIM_SERVER)
        return false;
    if (pkt_parse(frame, len, &p) != PKT_OK) {
        S.unparsable++;
        return false;
    }
    if (S.seen_tail - S.seen_head == MAX_SEEN) {
        S.seen_overflow = true;
        return false;
    }
    sg = &S.seen[S.seen_tail++ % MAX_SEEN];
    sg->p = p;
    sg->at_ms = now_ms();
    memcpy(sg->payload, frame + p.payload_off, p.payload_len < SEEN_BYTES ? p.payload_len : SEEN_BYTES);
    peer = peer_of(&p);
    if (peer && p.opts.ts_present)
        peer->ts_echo = p.opts.tsval;
    return false;
}

/* Process everything due at the current instant: injected segments, timers, output. */
static void run_now(void)
{
    sim_run(&S.sim, NULL, NULL, 0);
}

/*
 * Let ms milliseconds of simulated time pass: every timer and segment due in that span is
 * handled, then the clock reads exactly now + ms (sim_run stops at the last event), and the
 * engines are told so that what the test does next happens at that time.
 */
static void advance_ms(uint64_t ms)
{
    uint64_t target = S.sim.now_ns + ms * NS_PER_MS;

    sim_run(&S.sim, NULL, NULL, ms * NS_PER_MS);
    if (S.sim.now_ns < target)
        S.sim.now_ns = target;
    for (int i = 0; i < 2; i++)
        tcp_engine_begin(&S.sim.host[i].engine, S.sim.now_ns);
}

static void batch_begin(void)
{
    S.batching = true;
}

static void batch_end(void)
{
    S.batching = false;
    run_now();
}

/* ---- set-up and tear-down ---------------------------------------------------------------------- */

static struct tcp_config test_config(void)
{
    struct tcp_config cfg;

    tcp_config_default(&cfg);
    cfg.max_conns = 64; /* the slab is walked by tcp_engine_frames_held: keep it small */
    cfg.max_half_open = 64;
    return cfg;
}

static void script_destroy(void)
{
    if (S.live)
        sim_destroy(&S.sim);
    S.live = false;
}

static bool script_init(const struct tcp_config *server_cfg)
{
    struct tcp_config cfg[2];

    script_destroy();
    memset(&S, 0, sizeof(S));
    cfg[SIM_SERVER] = *server_cfg;
    cfg[SIM_CLIENT] = test_config();
    if (sim_init(&S.sim, 1, cfg, 4096, &callbacks, NULL)) {
        check_fail(HERE, "sim_init: %s", strerror(errno));
        return false;
    }
    S.live = true;
    S.sim.link[SIM_CLIENT].delay_ns = 0; /* a scripted segment arrives the instant it is sent */
    S.sim.hook = capture;
    S.app.read_all = true;
    tcp_listen(server(), SERVER_PORT);
    return true;
}

/* Every frame is back in its pool or held by a connection; nothing reached the unused client engine. */
static bool frames_accounted(void)
{
    run_now(); /* frees closed connections and drains an abort's reset */
    REQUIREF(sim_frames_in_use(&S.sim, SIM_SERVER) == tcp_engine_frames_held(server()),
             "%u frames in use, %llu held", sim_frames_in_use(&S.sim, SIM_SERVER),
             (unsigned long long)tcp_engine_frames_held(server()));
    REQUIREF(sim_frames_in_use(&S.sim, SIM_CLIENT) == 0, "%u client frames in use",
             sim_frames_in_use(&S.sim, SIM_CLIENT));
    REQUIREF(S.unparsable == 0, "%u unparsable server frames", S.unparsable);
    REQUIRE(!S.seen_overflow);
    return true;
}

/* ---- the scripted peer ------------------------------------------------------------------------- */

static void peer_init(struct peer *p, int family, uint16_t port, uint32_t iss, unsigned offer)
{
    struct pkt_link server_link;

    memset(p, 0, sizeof(*p));
    p->family = family;
    p->port = port;
    sim_tuple(&S.sim, SIM_CLIENT, family, port, SERVER_PORT, &p->tuple, &p->link);
    sim_tuple(&S.sim, SIM_SERVER, family, port, SERVER_PORT, &p->server_tuple, &server_link);
    p->offer = offer;
    p->mss = family == PKT_IPV6 ? 1440 : 1460;
    p->wscale = 7;
    p->iss = iss;
    p->snd_nxt = iss;
    p->wnd = 65535;
    p->tsval = 1000;
    if (S.npeers < MAX_PEERS)
        S.peers[S.npeers++] = p;
}

struct options {
    uint8_t b[PKT_TCP_OPTS_MAX];
    uint8_t len;
};

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static void opt_bytes(struct options *o, const uint8_t *bytes, uint8_t n)
{
    memcpy(o->b + o->len, bytes, n);
    o->len = (uint8_t)(o->len + n);
}

static void opt_timestamps(struct options *o, uint32_t tsval, uint32_t tsecr)
{
    uint8_t b[12] = {1, 1, 8, 10};

    put_be32(b + 4, tsval);
    put_be32(b + 8, tsecr);
    opt_bytes(o, b, sizeof(b));
}

/* Options as a real stack lays them out, each padded with NOPs to 4 bytes. */
static void peer_options(const struct peer *p, uint8_t flags, struct options *o)
{
    o->len = 0;
    if (flags & TCP_SYN) {
        if (p->offer & OFFER_MSS)
            opt_bytes(o, (const uint8_t[]){2, 4, (uint8_t)(p->mss >> 8), (uint8_t)p->mss}, 4);
        if (p->offer & OFFER_WS)
            opt_bytes(o, (const uint8_t[]){1, 3, 3, p->wscale}, 4);
        if (p->offer & OFFER_SACK)
            opt_bytes(o, (const uint8_t[]){1, 1, 4, 2}, 4);
        if (p->offer & OFFER_TS)
            opt_timestamps(o, p->tsval, 0);
        return;
    }
    if (p->ts)
        opt_timestamps(o, p->tsval, p->ts_echo);
    if (p->nsack) {
        opt_bytes(o, (const uint8_t[]){1, 1, 5, (uint8_t)(2 + 8 * p->nsack)}, 4);
        for (int i = 0; i < p->nsack; i++) {
            put_be32(o->b + o->len, p->sack[i][0]);
            put_be32(o->b + o->len + 4, p->sack[i][1]);
            o->len = (uint8_t)(o->len + 8);
        }
    }
}

/* A complete frame from the peer into frame; returns its length. The payload is peer_byte(seq). */
static uint32_t build_frame(const struct peer *p, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd,
                            const uint8_t *opts, uint8_t opts_len, uint32_t len, uint8_t *frame)
{
    uint32_t hlen = pkt_headers_len(&p->tuple, &p->link) + opts_len;
    uint8_t *payload = frame + hlen;
    struct pkt_segment seg = {
        .seq = seq,
        .ack = ack,
        .wnd = wnd,
        .flags = flags,
        .ip_id = (uint16_t)seq,
        .options = opts,
        .options_len = opts_len,
        .payload_len = len,
    };

    for (uint32_t i = 0; i < len; i++)
        payload[i] = peer_byte(seq + i);
    seg.payload_sum = csum_partial(payload, len, 0);
    pkt_write_headers(frame, &p->tuple, &p->link, &seg);
    return hlen + len;
}

static void inject(const uint8_t *frame, uint32_t len)
{
    sim_inject(&S.sim, SIM_CLIENT, frame, len);
    if (!S.batching)
        run_now();
}

/* A segment from the peer with its usual options (timestamps, pending SACK blocks). */
static void peer_send(struct peer *p, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    uint8_t frame[2048];
    struct options o;

    peer_options(p, flags, &o);
    inject(frame, build_frame(p, flags, seq, ack, p->wnd, o.b, o.len, len, frame));
    p->tsval++;
}

/* len bytes of new data (and FIN when flags has it) with an ACK of what the peer holds. */
static void peer_data(struct peer *p, uint32_t len, uint8_t flags)
{
    peer_send(p, (uint8_t)(TCP_ACK | flags), p->snd_nxt, p->rcv_nxt, len);
    p->snd_nxt += len + !!(flags & TCP_FIN);
}

static void peer_ack(struct peer *p)
{
    peer_send(p, TCP_ACK, p->snd_nxt, p->rcv_nxt, 0);
}

/* ---- expectations on what the server sent ------------------------------------------------------ */

static const char *flag_text(uint8_t flags, char buf[9])
{
    static const char names[] = "FSRPAUEC";
    int n = 0;

    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            buf[n++] = names[i];
    buf[n] = '\0';
    return buf;
}

static uint32_t seen_pending(void)
{
    return S.seen_tail - S.seen_head;
}

/*
 * The next captured server segment must have these flags (PSH aside: where it falls is the
 * engine's choice), sequence and acknowledgment numbers and payload length; ANY matches anything.
 * Returns it, or NULL after recording the mismatch.
 */
static const struct seen *expect_next(const char *file, int line, uint8_t flags, uint64_t seq, uint64_t ack,
                                      uint64_t len)
{
    const struct seen *sg;
    char want[9], got[9];

    if (!seen_pending()) {
        check_fail(file, line, "expected [%s] seq %lld ack %lld len %lld at %llu ms, the server sent nothing",
                   flag_text(flags, want), seq == ANY ? -1ll : (long long)seq,
                   ack == ANY ? -1ll : (long long)ack, len == ANY ? -1ll : (long long)len,
                   (unsigned long long)now_ms());
        return NULL;
    }
    sg = &S.seen[S.seen_head++ % MAX_SEEN];
    if ((sg->p.flags & ~TCP_PSH) != (flags & ~TCP_PSH) || (seq != ANY && sg->p.seq != (uint32_t)seq) ||
        (ack != ANY && sg->p.ack != (uint32_t)ack) || (len != ANY && sg->p.payload_len != len)) {
        check_fail(
            file, line, "expected [%s] seq %lld ack %lld len %lld, got [%s] seq %u ack %u len %u at %llu ms",
            flag_text(flags, want), seq == ANY ? -1ll : (long long)seq, ack == ANY ? -1ll : (long long)ack,
            len == ANY ? -1ll : (long long)len, flag_text(sg->p.flags, got), sg->p.seq, sg->p.ack,
            sg->p.payload_len, (unsigned long long)sg->at_ms);
        return NULL;
    }
    return sg;
}

static bool expect_none(const char *file, int line)
{
    const struct seen *sg;
    char got[9];

    if (!seen_pending())
        return true;
    sg = &S.seen[S.seen_head % MAX_SEEN];
    check_fail(file, line, "expected nothing, the server sent [%s] seq %u ack %u len %u at %llu ms",
               flag_text(sg->p.flags, got), sg->p.seq, sg->p.ack, sg->p.payload_len,
               (unsigned long long)sg->at_ms);
    return false;
}

/* In a test: the next server segment, assigned to var, or the test ends failed. */
#define EXPECT(var, flags, seq, ack, len)                                                                    \
    do {                                                                                                     \
        if (!((var) = expect_next(HERE, flags, seq, ack, len)))                                              \
            return;                                                                                          \
    } while (0)

#define EXPECT_SEG(flags, seq, ack, len)                                                                     \
    do {                                                                                                     \
        if (!expect_next(HERE, flags, seq, ack, len))                                                        \
            return;                                                                                          \
    } while (0)

#define EXPECT_NONE()                                                                                        \
    do {                                                                                                     \
        if (!expect_none(HERE))                                                                              \
            return;                                                                                          \
    } while (0)

/* The payload of sg is the application's stream from offset on. */
static bool payload_is_server_stream(const struct seen *sg, uint64_t offset)
{
    for (uint32_t i = 0; i < sg->p.payload_len && i < SEEN_BYTES; i++)
        if (sg->payload[i] != server_byte(offset + i))
            return false;
    return true;
}

/* ---- the server's connection ------------------------------------------------------------------- */

static struct tcp_conn *server_conn(const struct peer *p)
{
    return tcp_conn_lookup(server(), &p->server_tuple);
}

/* TIME-WAIT is a compact entry once the application heard closed(0) (tcp_time_wait.c), not a connection. */
static bool in_time_wait_entry(const struct peer *p)
{
    return !server_conn(p) && tcp_time_wait_held(server(), &p->server_tuple);
}

static const char *state_text(const struct peer *p)
{
    struct tcp_conn *c = server_conn(p);

    if (c)
        return tcp_state_name(tcp_conn_state(c));
    return in_time_wait_entry(p) ? "TIME-WAIT (entry)" : "no connection";
}

static bool in_state(const struct peer *p, enum tcp_state want)
{
    struct tcp_conn *c = server_conn(p);

    if (c)
        return tcp_conn_state(c) == want;
    return want == TCP_TIME_WAIT && in_time_wait_entry(p);
}

/* Nothing of p's connection is left on the server, TIME-WAIT included. */
static bool gone(const struct peer *p)
{
    return !server_conn(p) && !in_time_wait_entry(p);
}

#define CHECK_STATE(p, want)                                                                                 \
    CHECKF(in_state(p, want), "state %s, expected %s", state_text(p), tcp_state_name(want))
#define REQUIRE_STATE(p, want)                                                                               \
    REQUIREF(in_state(p, want), "state %s, expected %s", state_text(p), tcp_state_name(want))

/* ---- getting a connection into a state --------------------------------------------------------- */

static void learn_synack(struct peer *p, const struct seen *synack)
{
    p->server_iss = synack->p.seq;
    p->server_nxt = synack->p.seq + 1;
    p->rcv_nxt = synack->p.seq + 1;
    p->snd_nxt = p->iss + 1;
    p->ts = (p->offer & OFFER_TS) && synack->p.opts.ts_present;
}

/* SYN, SYN-ACK, ACK: the connection is established and the application has it. */
static bool handshake(struct peer *p)
{
    const struct seen *sg;
    int accepted = S.app.accepted;

    peer_send(p, TCP_SYN, p->iss, 0, 0);
    if (!(sg = expect_next(HERE, TCP_SYN | TCP_ACK, ANY, p->iss + 1, 0)))
        return false;
    learn_synack(p, sg);
    REQUIRE_STATE(p, TCP_SYN_RECEIVED);
    peer_ack(p);
    REQUIRE_STATE(p, TCP_ESTABLISHED);
    REQUIRE(S.app.accepted == accepted + 1);
    REQUIRE(S.app.conn == server_conn(p));
    return expect_none(HERE);
}

/* The application shuts down writing; its FIN must go out at once. */
static bool server_sends_fin(struct peer *p)
{
    tcp_shutdown(S.app.conn);
    run_now();
    if (!expect_next(HERE, TCP_FIN | TCP_ACK, p->server_nxt, p->snd_nxt, 0))
        return false;
    p->server_nxt++;
    return true;
}

/* The peer's FIN, which the server must acknowledge at once. */
static bool peer_sends_fin(struct peer *p)
{
    peer_data(p, 0, TCP_FIN);
    return expect_next(HERE, TCP_ACK, p->server_nxt, p->snd_nxt, 0) != NULL;
}

/*
 * A fresh connection from p brought into state want by the shortest exchange. The peer
 * acknowledges the server's FIN only where the state requires it (FIN-WAIT-2, TIME-WAIT).
 */
static bool reach_state(struct peer *p, enum tcp_state want)
{
    const struct seen *sg;

    if (want == TCP_SYN_RECEIVED) {
        peer_send(p, TCP_SYN, p->iss, 0, 0);
        if (!(sg = expect_next(HERE, TCP_SYN | TCP_ACK, ANY, p->iss + 1, 0)))
            return false;
        learn_synack(p, sg);
        REQUIRE_STATE(p, TCP_SYN_RECEIVED);
        return true;
    }
    if (!handshake(p))
        return false;
    switch (want) {
    case TCP_ESTABLISHED:
        return true;
    case TCP_CLOSE_WAIT:
    case TCP_LAST_ACK:
        if (!peer_sends_fin(p))
            return false;
        REQUIRE_STATE(p, TCP_CLOSE_WAIT);
        if (want == TCP_CLOSE_WAIT)
            return true;
        if (!server_sends_fin(p))
            return false;
        REQUIRE_STATE(p, TCP_LAST_ACK);
        return true;
    default:
        break;
    }
    if (!server_sends_fin(p))
        return false;
    REQUIRE_STATE(p, TCP_FIN_WAIT_1);
    if (want == TCP_FIN_WAIT_1)
        return true;
    if (want == TCP_CLOSING) { /* the peer's FIN crosses ours: it does not acknowledge ours yet */
        if (!peer_sends_fin(p))
            return false;
        REQUIRE_STATE(p, TCP_CLOSING);
        return true;
    }
    p->rcv_nxt = p->server_nxt;
    peer_ack(p);
    REQUIRE_STATE(p, TCP_FIN_WAIT_2);
    if (!expect_none(HERE))
        return false;
    if (want == TCP_FIN_WAIT_2)
        return true;
    if (!peer_sends_fin(p))
        return false;
    REQUIRE_STATE(p, TCP_TIME_WAIT);
    return true;
}

/* A test's end: every server segment examined and every frame accounted for. */
#define FINISH()                                                                                             \
    do {                                                                                                     \
        CHECK(frames_accounted());                                                                           \
        EXPECT_NONE();                                                                                       \
        script_destroy();                                                                                    \
    } while (0)

/* ---- the handshake ------------------------------------------------------------------------------ */

/*
 * The peer offers `offer`; the SYN-ACK must echo exactly what was offered with an unscaled window,
 * and the first data segment must be as large as the negotiated MSS allows: seg_len.
 */
static void handshake_case(int family, unsigned offer, uint16_t mss, uint8_t wscale, uint32_t seg_len)
{
    struct tcp_config cfg = test_config();
    const struct seen *synack, *data;
    uint32_t options_len = 4; /* MSS, always sent */
    uint32_t syn_tsval;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, family, 40000, 0xfffffff0u, offer); /* the peer's sequence space wraps soon */
    p.mss = mss;
    p.wscale = wscale;
    syn_tsval = p.tsval;
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(synack, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    learn_synack(&p, synack);
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    CHECK(S.app.accepted == 0);

    /* 256 KiB of receive buffer, but a SYN's window is never scaled (RFC 7323 2.2) */
    CHECKF(synack->p.wnd == 65535, "SYN-ACK window %u", synack->p.wnd);
    CHECK(synack->p.opts.mss_present);
    CHECKF(synack->p.opts.mss == (family == PKT_IPV6 ? 1440 : 1460), "our MSS %u", synack->p.opts.mss);
    CHECKF(synack->p.opts.ws_present == !!(offer & OFFER_WS), "window scale present %d",
           synack->p.opts.ws_present);
    if (offer & OFFER_WS) {
        CHECKF(synack->p.opts.wscale == 3, "our shift %u; 256 KiB needs 3", synack->p.opts.wscale);
        options_len += 4;
    }
    CHECKF(synack->p.opts.sack_permitted == !!(offer & OFFER_SACK), "SACK-permitted %d",
           synack->p.opts.sack_permitted);
    if (offer & OFFER_SACK)
        options_len += 4;
    CHECKF(synack->p.opts.ts_present == !!(offer & OFFER_TS), "timestamps %d", synack->p.opts.ts_present);
    if (offer & OFFER_TS) {
        CHECKF(synack->p.opts.tsecr == syn_tsval, "TSecr %u, the SYN's TSval %u", synack->p.opts.tsecr,
               syn_tsval);
        options_len += 12;
    }
    CHECKF(synack->p.tcp_hdr_len == 20 + options_len, "TCP header %u bytes, expected %u",
           synack->p.tcp_hdr_len, 20 + options_len);
    CHECK(synack->p.opts.nsack == 0);

    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1 && S.app.conn == server_conn(&p));
    CHECK(stats()->conns_accepted == 1);
    EXPECT_NONE();

    CHECK(app_write(3 * seg_len) == 3 * seg_len);
    run_now();
    EXPECT(data, TCP_ACK, p.server_nxt, p.snd_nxt, seg_len);
    CHECK(payload_is_server_stream(data, 0));
    /* scaled from here on: 256 KiB >> 3; without scaling the 16-bit maximum */
    CHECKF(data->p.wnd == ((offer & OFFER_WS) ? 32768 : 65535), "data segment window %u", data->p.wnd);
    CHECKF(data->p.opts.ts_present == !!(offer & OFFER_TS), "timestamps on data %d", data->p.opts.ts_present);
    EXPECT_SEG(TCP_ACK, p.server_nxt + seg_len, p.snd_nxt, seg_len);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 2 * seg_len, p.snd_nxt, seg_len);
    EXPECT_NONE();
    FINISH();
}

/*
 * The steering program's side of a SYN cookie handshake: it answered the SYN itself, checked the
 * returning ACK and hands it to the engine with what the cookie kept (S.cookie, for one frame).
 */
static void cookie_steer(void *ctx, struct sim *s, uint32_t frame, uint32_t len)
{
    struct tcp_rx_chain chain = {.n = 1, .piece = {{frame, 0, (uint16_t)len}}};
    struct tcp_conn *c;

    (void)ctx;
    tcp_input_cookie_chain(&s->host[SIM_SERVER].engine, &chain, TCP_STEER_PLACED,
                           S.cookie_armed ? &S.cookie : NULL, &c);
    S.cookie_armed = false;
}

/* The peer as XDP's cookie SYN-ACK left it: server ISS iss, our SYN-ACK's TSval synack_tsval. */
static void cookie_peer(struct peer *p, uint32_t iss, uint32_t synack_tsval)
{
    p->server_iss = iss;
    p->server_nxt = p->rcv_nxt = iss + 1;
    p->snd_nxt = p->iss + 1;
    p->ts = (p->offer & OFFER_TS) != 0;
    p->ts_echo = synack_tsval;
    S.sim.steer = cookie_steer;
}

/* The cookie ACK carries 100 bytes: the connection opens ESTABLISHED with the cookie's MSS, window
 * shift, SACK and timestamps, the bytes are delivered, and what the server sends follows them. */
static void test_cookie_ack_opens_established(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *ack, *data;
    uint32_t synack_tsval = 0x12345600u | 7u | 1u << 4 | 1u << 6; /* as XDP encodes it */
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40100, 5000, OFFER_ALL);
    cookie_peer(&p, 0xabcdef00u, synack_tsval);
    S.cookie = (struct tcp_syncookie){.valid = true, .sack = true, .ts = true, .wscale = 7, .mss = 1300};
    S.cookie_armed = true;
    peer_data(&p, 100, 0);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1 && S.app.conn == server_conn(&p));
    CHECK(S.app.bytes_read == 100);
    CHECK(stats()->conns_cookie == 1 && stats()->rst_sent == 0 && server()->nhalf_open == 0);
    advance_ms(cfg.delack_ms);
    EXPECT(ack, TCP_ACK, p.server_iss + 1, p.snd_nxt, 0);
    CHECK(ack->p.opts.ts_present);
    /* the client's PAWS: our clock goes on from the SYN-ACK's TSval, not from a fresh offset */
    CHECKF(ack->p.opts.tsval - synack_tsval < 1000, "TSval %u after the SYN-ACK's %u", ack->p.opts.tsval,
           synack_tsval);
    CHECKF(ack->p.opts.tsecr == p.tsval - 1, "TSecr %u, the ACK's TSval %u", ack->p.opts.tsecr, p.tsval - 1);
    CHECKF(ack->p.wnd == cfg.rcv_buf >> 3, "window %u: 256 KiB scaled by 3, the shift XDP offered",
           ack->p.wnd);

    /* the peer's 1300-byte MSS, less the timestamp option every segment carries */
    CHECK(app_write(2 * 1288) == 2 * 1288);
    run_now();
    EXPECT(data, TCP_ACK, p.server_nxt, p.snd_nxt, 1288);
    CHECK(payload_is_server_stream(data, 0));
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1288, p.snd_nxt, 1288);
    EXPECT_NONE();
    FINISH();
}

/* No timestamps: the cookie kept neither window scaling nor SACK, and the smallest MSS. */
static void test_cookie_ack_without_timestamps(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *data;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV6, 40101, 9000, OFFER_MSS);
    cookie_peer(&p, 77, 0);
    S.cookie = (struct tcp_syncookie){.valid = true, .wscale = TCP_COOKIE_NO_WSCALE, .mss = 1220};
    S.cookie_armed = true;
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1 && stats()->conns_cookie == 1);
    CHECK(app_write(1300) == 1300);
    run_now();
    EXPECT(data, TCP_ACK, p.server_nxt, p.snd_nxt, 1220);
    CHECK(!data->p.opts.ts_present && data->p.wnd == 65535);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1220, p.snd_nxt, 80);
    EXPECT_NONE();
    FINISH();
}

/* A cookie flagged invalid opens nothing and is answered by nothing; the same ACK unflagged is reset. */
static void test_cookie_ack_invalid_opens_nothing(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40102, 5000, OFFER_ALL);
    cookie_peer(&p, 0x5000, 0x100);
    S.cookie = (struct tcp_syncookie){.valid = false, .sack = true, .ts = true, .wscale = 7, .mss = 1460};
    S.cookie_armed = true;
    peer_data(&p, 10, 0);
    CHECK(server()->nconns == 0 && S.app.accepted == 0);
    CHECK(stats()->cookie_refused == 1 && stats()->conns_cookie == 0 && stats()->rst_sent == 0);
    EXPECT_NONE();
    peer_ack(&p); /* no cookie: no connection, as ever */
    EXPECT_SEG(TCP_RST, p.rcv_nxt, 0, 0);
    CHECK(server()->nconns == 0 && S.app.accepted == 0);
    FINISH();
}

/* No MSS option: RFC 9293 3.7.1 (MUST-15) has the sender assume 536 bytes over IPv4. */
static void test_handshake_no_options(void)
{
    handshake_case(PKT_IPV4, 0, 0, 0, 536);
}

static void test_handshake_mss_only(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS, 1460, 0, 1460);
}

static void test_handshake_mss_window_scale(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS | OFFER_WS, 1460, 7, 1460);
}

static void test_handshake_mss_sack_permitted(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS | OFFER_SACK, 1460, 0, 1460);
}

/* Every segment then carries 12 bytes of timestamps, taken from the payload (RFC 6691). */
static void test_handshake_mss_timestamps(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS | OFFER_TS, 1460, 0, 1448);
}

static void test_handshake_all_options_ipv4(void)
{
    handshake_case(PKT_IPV4, OFFER_ALL, 1460, 7, 1448);
}

static void test_handshake_all_options_ipv6(void)
{
    handshake_case(PKT_IPV6, OFFER_ALL, 1440, 7, 1428);
}

/* No MSS option over IPv6: 1220 bytes (RFC 9293 3.7.1). */
static void test_handshake_no_options_ipv6(void)
{
    handshake_case(PKT_IPV6, 0, 0, 0, 1220);
}

/* A smaller MSS than ours wins. */
static void test_handshake_peer_mss_smaller(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS | OFFER_SACK, 1000, 0, 1000);
}

/* An absurd MSS is floored at 64 bytes, so one segment's headers never dwarf its payload. */
static void test_handshake_tiny_mss_floored(void)
{
    handshake_case(PKT_IPV4, OFFER_MSS, 10, 0, 64);
}

/*
 * A shift above 14 is treated as 14 (RFC 7323 2.3): a window field of 1 then means 16384 bytes,
 * so the server sends 11 full segments (16060 bytes) and holds the rest: 324 bytes are less than a
 * segment and less than half the peer's largest window (sender silly-window avoidance).
 */
static void test_handshake_window_scale_above_14(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *synack, *sg;
    uint32_t sent = 0;
    struct peer p;

    cfg.initial_cwnd = 100; /* the peer's window, not the congestion window, must be the limit */
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40001, 5000, OFFER_MSS | OFFER_WS);
    p.wscale = 15;
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(synack, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    CHECK(synack->p.opts.ws_present && synack->p.opts.wscale == 3);
    learn_synack(&p, synack);
    p.wnd = 1;
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(app_write(30000) == 30000);
    run_now();
    for (int i = 0; i < 11; i++) {
        EXPECT(sg, TCP_ACK, p.server_nxt + sent, p.snd_nxt, 1460);
        sent += sg->p.payload_len;
    }
    EXPECT_NONE();
    CHECKF(sent == 16060, "sent %u", sent);
    FINISH();
}

/* ---- SYN and SYN-ACK retransmission ------------------------------------------------------------- */

/* The peer did not get our SYN-ACK and sends its SYN again: the same SYN-ACK, no second connection. */
static void test_duplicate_syn_gets_synack_again(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *first, *again;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40002, 7000, OFFER_ALL);
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(first, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    advance_ms(300);
    EXPECT_NONE();
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(again, TCP_SYN | TCP_ACK, first->p.seq, p.iss + 1, 0);
    CHECK(again->p.opts.mss_present && again->p.opts.ws_present && again->p.opts.sack_permitted &&
          again->p.opts.ts_present);
    CHECK(server()->nconns == 1 && server()->nhalf_open == 1);
    learn_synack(&p, again);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1);
    CHECK(server()->nhalf_open == 0);
    EXPECT_NONE();
    FINISH();
}

/* Without an answer the SYN-ACK goes again after 1 s, then 2, 4, 8 and 16 s (RFC 6298 5.5). */
static void test_synack_retransmission_backs_off(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *first, *sg;
    uint64_t last_ms, interval = 1000;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40003, 9000, OFFER_MSS);
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(first, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    last_ms = first->at_ms;
    advance_ms(31000 + 500);
    for (uint32_t i = 0; i < cfg.syn_retries; i++, interval *= 2) {
        EXPECT(sg, TCP_SYN | TCP_ACK, first->p.seq, p.iss + 1, 0);
        CHECKF(sg->at_ms - last_ms == interval, "retransmission %u after %llu ms, expected %llu", i + 1,
               (unsigned long long)(sg->at_ms - last_ms), (unsigned long long)interval);
        CHECK(sg->p.opts.mss_present);
        last_ms = sg->at_ms;
    }
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    FINISH();
}

/*
 * After syn_retries retransmissions and one more backed-off timeout the half-open connection goes,
 * silently; a late ACK then finds no connection and is reset.
 */
static void test_half_open_dropped_after_syn_retries(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *first;
    struct peer p;

    cfg.syn_retries = 3;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40004, 11000, OFFER_MSS);
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(first, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    learn_synack(&p, first);
    advance_ms(1000 + 2000 + 4000);
    for (int i = 0; i < 3; i++)
        EXPECT_SEG(TCP_SYN | TCP_ACK, first->p.seq, p.iss + 1, 0);
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    advance_ms(8000 - 1);
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    advance_ms(1);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(server()->nconns == 0 && server()->nhalf_open == 0);
    CHECK(stats()->timeouts == 1);
    CHECK(S.app.accepted == 0 && S.app.closed_calls == 0);
    peer_ack(&p);
    EXPECT_SEG(TCP_RST, p.rcv_nxt, 0, 0);
    FINISH();
}

/*
 * A SYN flood fills the half-open table (spoofed sources never complete the handshake): each new SYN
 * evicts the oldest SYN-RECEIVED connection, silently, so a real client still gets its SYN-ACK and
 * completes, however many spoofed SYNs came first. The evicted one's late ACK finds nothing (reset).
 */
static void test_full_half_open_table_evicts_the_oldest(void)
{
    struct tcp_config cfg = test_config();
    struct peer spoofed[40], real;
    const struct seen *sg;

    cfg.max_half_open = 4;
    CHECK(script_init(&cfg));
    for (int i = 0; i < 40; i++) {
        peer_init(&spoofed[i], PKT_IPV4, (uint16_t)(41000 + i), 0x10000u * (uint32_t)(i + 1), OFFER_ALL);
        peer_send(&spoofed[i], TCP_SYN, spoofed[i].iss, 0, 0);
        EXPECT(sg, TCP_SYN | TCP_ACK, ANY, spoofed[i].iss + 1, 0);
        learn_synack(&spoofed[i], sg);
        CHECKF(server()->nhalf_open == (uint32_t)(i < 4 ? i + 1 : 4), "%u half-open after %d SYNs",
               server()->nhalf_open, i + 1);
    }
    CHECKF(stats()->half_open_evicted == 36, "%llu evicted", (unsigned long long)stats()->half_open_evicted);
    CHECK(stats()->syn_dropped_limit == 0);
    CHECK(gone(&spoofed[0]) && gone(&spoofed[35]));
    CHECK_STATE(&spoofed[36], TCP_SYN_RECEIVED);
    CHECK_STATE(&spoofed[39], TCP_SYN_RECEIVED);

    peer_init(&real, PKT_IPV6, 42000, 0x7000, OFFER_ALL);
    CHECK(handshake(&real));
    CHECK_STATE(&real, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1 && stats()->half_open_evicted == 37 && server()->nhalf_open == 3);
    CHECK(gone(&spoofed[36]));

    peer_ack(&spoofed[0]); /* the oldest, long evicted, completes at last */
    EXPECT_SEG(TCP_RST, spoofed[0].rcv_nxt, 0, 0);
    CHECK(S.app.accepted == 1);
    FINISH();
}

/* The third segment of the handshake acknowledges something we never sent: reset it, keep waiting. */
static void test_handshake_bad_ack_gets_reset(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *rst;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40005, 13000, OFFER_MSS);
    CHECK(reach_state(&p, TCP_SYN_RECEIVED));
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_iss + 5, 0); /* beyond our SYN */
    EXPECT(rst, TCP_RST, p.server_iss + 5, 0, 0);
    CHECK(rst->p.wnd == 0 && rst->p.tcp_hdr_len == 20);
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_iss, 0); /* not even our SYN */
    EXPECT_SEG(TCP_RST, p.server_iss, 0, 0);
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    CHECK(S.app.accepted == 0);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 1);
    EXPECT_NONE();
    FINISH();
}

/* ---- segments without a connection (RFC 9293 3.10.7.1, 3.10.7.2) ----------------------------- */

static void test_no_connection_ack_gets_reset_at_its_ack(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *rst;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40006, 15000, 0);
    peer_send(&p, TCP_ACK, 15000, 0x12345678, 100);
    EXPECT(rst, TCP_RST, 0x12345678, 0, 0);
    CHECK(rst->p.payload_len == 0 && rst->p.tcp_hdr_len == 20);
    peer_send(&p, TCP_ACK | TCP_FIN, 15000, 0x9abcdef0u, 0);
    EXPECT_SEG(TCP_RST, 0x9abcdef0u, 0, 0);
    peer_send(&p, TCP_SYN | TCP_ACK, 15000, 77, 0); /* a SYN-ACK to a listener is no SYN */
    EXPECT_SEG(TCP_RST, 77, 0, 0);
    CHECK(stats()->rst_no_conn == 3 && stats()->rst_sent == 3);
    CHECK(server()->nconns == 0);
    EXPECT_NONE();
    FINISH();
}

static void test_no_connection_without_ack_gets_reset_ack(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40007, 0, 0);
    peer_send(&p, 0, 0xfffffff0u, 0, 100); /* data without ACK; the acknowledgment wraps */
    EXPECT_SEG(TCP_RST | TCP_ACK, 0, 0xfffffff0u + 100, 0);
    peer_send(&p, TCP_FIN, 5000, 0, 10); /* a FIN counts one more */
    EXPECT_SEG(TCP_RST | TCP_ACK, 0, 5011, 0);
    CHECK(stats()->rst_no_conn == 2);
    CHECK(server()->nconns == 0);
    EXPECT_NONE();
    FINISH();
}

static void test_syn_to_closed_port_gets_reset_ack(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV6, 40008, 21000, OFFER_ALL);
    p.tuple.rport = 81; /* nobody listens there */
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT_SEG(TCP_RST | TCP_ACK, 0, p.iss + 1, 0);
    CHECK(stats()->not_listening == 1 && stats()->rst_sent == 1);
    CHECK(server()->nconns == 0);
    EXPECT_NONE();
    FINISH();
}

/* A reset is never answered (RFC 9293 3.10.7.1), whatever it carries. */
static void test_no_connection_reset_ignored(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 40009, 0, 0);
    peer_send(&p, TCP_RST, 1000, 0, 0);
    peer_send(&p, TCP_RST | TCP_ACK, 1000, 2000, 0);
    peer_send(&p, TCP_RST | TCP_SYN, 1000, 0, 0);
    p.tuple.rport = 81;
    peer_send(&p, TCP_RST, 1000, 0, 0);
    EXPECT_NONE();
    CHECK(stats()->segs_in == 4);
    CHECK(stats()->rst_sent == 0 && stats()->rst_no_conn == 0 && stats()->not_listening == 0);
    CHECK(server()->nconns == 0);
    FINISH();
}

/* ---- resets in every state (RFC 9293 3.10.7.4, RFC 5961 3) ------------------------------------- */

static const enum tcp_state server_states[] = {
    TCP_SYN_RECEIVED, TCP_ESTABLISHED, TCP_FIN_WAIT_1, TCP_FIN_WAIT_2,
    TCP_CLOSE_WAIT,   TCP_CLOSING,     TCP_LAST_ACK,   TCP_TIME_WAIT,
};
#define NSTATES (sizeof(server_states) / sizeof(server_states[0]))

/* The application holds the connection in these states: a reset reaches it as ECONNRESET. */
static bool app_holds(enum tcp_state st)
{
    return st != TCP_SYN_RECEIVED && st != TCP_TIME_WAIT;
}

/* A reset at exactly RCV.NXT closes the connection, silently. */
static void test_rst_exact_closes_in_every_state(void)
{
    for (size_t i = 0; i < NSTATES; i++) {
        enum tcp_state st = server_states[i];
        struct tcp_config cfg = test_config();
        int closed_before;
        struct peer p;

        CHECK(script_init(&cfg));
        peer_init(&p, PKT_IPV4, 41000, 0xffffff00u, OFFER_ALL);
        CHECKF(reach_state(&p, st), "reaching %s", tcp_state_name(st));
        closed_before = S.app.closed_calls;
        peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
        CHECKF(gone(&p), "%s: still %s after an exact reset", tcp_state_name(st), state_text(&p));
        EXPECT_NONE();
        CHECKF(stats()->rst_received == 1, "%s: rst_received %llu", tcp_state_name(st),
               (unsigned long long)stats()->rst_received);
        if (app_holds(st)) {
            CHECKF(S.app.closed_calls == closed_before + 1 && S.app.close_error == ECONNRESET,
                   "%s: %d closed calls, error %d", tcp_state_name(st), S.app.closed_calls - closed_before,
                   S.app.close_error);
        } else {
            CHECKF(S.app.closed_calls == closed_before, "%s: %d closed calls", tcp_state_name(st),
                   S.app.closed_calls - closed_before);
        }
        CHECK(server()->nhalf_open == 0);
        /* nothing of the connection is left: the next segment finds none */
        peer_send(&p, TCP_ACK, p.snd_nxt, p.rcv_nxt, 0);
        EXPECT_SEG(TCP_RST, p.rcv_nxt, 0, 0);
        CHECKF(frames_accounted(), "%s", tcp_state_name(st));
        EXPECT_NONE();
    }
    script_destroy();
}

/* The server's acknowledgment of everything it holds: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
static bool expect_challenge_ack(struct peer *p)
{
    return expect_next(HERE, TCP_ACK, p->server_nxt, p->snd_nxt, 0) != NULL;
}

/* A reset inside the window but not at RCV.NXT may be forged: challenge it, change nothing. */
static void test_rst_in_window_challenged_in_every_state(void)
{
    for (size_t i = 0; i < NSTATES; i++) {
        enum tcp_state st = server_states[i];
        struct tcp_config cfg = test_config();
        int closed_before;
        struct peer p;

        CHECK(script_init(&cfg));
        peer_init(&p, PKT_IPV4, 41001, 0xffffff00u, OFFER_ALL);
        CHECKF(reach_state(&p, st), "reaching %s", tcp_state_name(st));
        closed_before = S.app.closed_calls;
        peer_send(&p, TCP_RST, p.snd_nxt + 1000, 0, 0);
        CHECKF(expect_challenge_ack(&p), "%s", tcp_state_name(st));
        EXPECT_NONE();
        CHECKF(in_state(&p, st), "%s became %s", tcp_state_name(st), state_text(&p));
        CHECKF(stats()->challenge_acks == 1, "%s: challenge_acks %llu", tcp_state_name(st),
               (unsigned long long)stats()->challenge_acks);
        CHECK(stats()->rst_received == 0);
        CHECK(S.app.closed_calls == closed_before);
        /* the real peer answers the challenge with an exact reset, which is then accepted */
        peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
        CHECKF(gone(&p), "%s: %s", tcp_state_name(st), state_text(&p));
        CHECKF(frames_accounted(), "%s", tcp_state_name(st));
        EXPECT_NONE();
    }
    script_destroy();
}

/* A reset outside the window, either side of it, is dropped without a word. */
static void test_rst_out_of_window_ignored_in_every_state(void)
{
    for (size_t i = 0; i < NSTATES; i++) {
        enum tcp_state st = server_states[i];
        struct tcp_config cfg = test_config();
        int closed_before;
        struct peer p;

        CHECK(script_init(&cfg));
        peer_init(&p, PKT_IPV4, 41002, 0xffffff00u, OFFER_ALL);
        CHECKF(reach_state(&p, st), "reaching %s", tcp_state_name(st));
        closed_before = S.app.closed_calls;
        peer_send(&p, TCP_RST, p.snd_nxt - 1, 0, 0);
        peer_send(&p, TCP_RST, p.snd_nxt + 0x40000000u, 0, 0);
        peer_send(&p, TCP_RST | TCP_ACK, p.snd_nxt - 70000, p.rcv_nxt, 0);
        EXPECT_NONE();
        CHECKF(in_state(&p, st), "%s became %s", tcp_state_name(st), state_text(&p));
        CHECK(stats()->rst_received == 0 && stats()->challenge_acks == 0);
        CHECK(S.app.closed_calls == closed_before);
        CHECKF(frames_accounted(), "%s", tcp_state_name(st));
        EXPECT_NONE();
    }
    script_destroy();
}

/* ---- closing ------------------------------------------------------------------------------------ */

/* The peer closes first: CLOSE-WAIT, the application's shutdown, LAST-ACK, CLOSED on the ACK. */
static void test_fin_close_wait_last_ack_closed(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42000, 0xfffffff8u, OFFER_ALL);
    CHECK(handshake(&p));
    peer_data(&p, 20, TCP_FIN); /* data and FIN together, across the sequence wrap */
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK_STATE(&p, TCP_CLOSE_WAIT);
    CHECK(S.app.bytes_read == 20 && S.app.eof);
    CHECK(S.app.closed_calls == 0);
    /* the application may still write in CLOSE-WAIT */
    CHECK(app_write(100) == 100);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 100);
    p.server_nxt += 100;
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p);
    CHECK(server_sends_fin(&p));
    CHECK_STATE(&p, TCP_LAST_ACK);
    CHECK(S.app.closed_calls == 0);
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    CHECK(stats()->conns_closed == 1);
    EXPECT_NONE();
    FINISH();
}

/* The server closes first: FIN-WAIT-1, FIN-WAIT-2 on the ACK, TIME-WAIT on the peer's FIN. */
static void test_server_closes_first_to_time_wait(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV6, 42001, 1, OFFER_ALL);
    CHECK(handshake(&p));
    CHECK(server_sends_fin(&p));
    CHECK_STATE(&p, TCP_FIN_WAIT_1);
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p);
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    /* half-closed: the peer still sends, the server still reads */
    peer_data(&p, 300, 0);
    advance_ms(cfg.delack_ms);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(S.app.bytes_read == 300);
    CHECK(S.app.closed_calls == 0);
    CHECK(peer_sends_fin(&p));
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(S.app.eof);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    EXPECT_NONE();
    FINISH();
}

/*
 * Shut down, then closed once the FIN was acknowledged: a half-closed connection waits for the
 * peer's FIN as long as the application reads, but after tcp_close the peer has time_wait_ms to
 * send it, as when the close comes before the ACK; then the connection ends with closed(0).
 */
static void test_close_in_fin_wait_2_times_out(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.time_wait_ms = 3000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42008, 900, OFFER_ALL);
    CHECK(reach_state(&p, TCP_FIN_WAIT_2));
    advance_ms(10 * cfg.time_wait_ms);
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    tcp_close(S.app.conn);
    run_now();
    EXPECT_NONE();
    advance_ms(cfg.time_wait_ms - 1);
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    CHECK(S.app.closed_calls == 0);
    advance_ms(1);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    CHECK(server()->nconns == 0);
    EXPECT_NONE();
    FINISH();
}

/* Both FINs cross: CLOSING, then TIME-WAIT when ours is acknowledged. */
static void test_simultaneous_close_through_closing(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42002, 77, OFFER_MSS);
    CHECK(reach_state(&p, TCP_CLOSING)); /* the FINs crossed; our ACK of theirs went at once */
    CHECK(S.app.closed_calls == 0);
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p);
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    FINISH();
}

/* A FIN that also acknowledges ours takes FIN-WAIT-1 straight to TIME-WAIT. */
static void test_fin_ack_in_fin_wait_1_to_time_wait(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42003, 77, OFFER_ALL);
    CHECK(reach_state(&p, TCP_FIN_WAIT_1));
    p.rcv_nxt = p.server_nxt;
    CHECK(peer_sends_fin(&p));
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    EXPECT_NONE();
    FINISH();
}

/* TIME-WAIT lasts time_wait_ms (2 MSL) from its start, then the connection is gone. */
static void test_time_wait_ends_after_time_wait_ms(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.time_wait_ms = 3000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42004, 500, OFFER_ALL);
    CHECK(reach_state(&p, TCP_TIME_WAIT));
    advance_ms(cfg.time_wait_ms - 1);
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(server()->nconns == 0 && server()->tw.count == 1);
    CHECK(tcp_engine_next_deadline(server()) == S.sim.now_ns + NS_PER_MS);
    advance_ms(1);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(server()->tw.count == 0 && tcp_engine_next_deadline(server()) == UINT64_MAX);
    CHECK(S.app.closed_calls == 1); /* at the start of TIME-WAIT, not again at its end */
    EXPECT_NONE();
    FINISH();
}

/* The peer's FIN again (our ACK was lost): acknowledged again, and 2 MSL starts over (RFC 9293 3.10.7.4). */
static void test_time_wait_fin_retransmission_restarts_2msl(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.time_wait_ms = 3000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42005, 500, OFFER_MSS);
    CHECK(reach_state(&p, TCP_TIME_WAIT));
    advance_ms(2000);
    peer_send(&p, TCP_FIN | TCP_ACK, p.snd_nxt - 1, p.rcv_nxt, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    advance_ms(cfg.time_wait_ms - 1);
    CHECKF(in_state(&p, TCP_TIME_WAIT), "%s %llu ms after the retransmitted FIN", state_text(&p),
           (unsigned long long)cfg.time_wait_ms - 1);
    advance_ms(1);
    CHECKF(gone(&p), "state %s", state_text(&p));
    EXPECT_NONE();
    FINISH();
}

/* A FIN beyond a hole is held: no state change until the hole fills, then data and FIN together. */
static void test_out_of_order_fin_held_until_gap_fills(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t hole;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42006, 0xffffff80u, OFFER_ALL);
    CHECK(handshake(&p));
    hole = p.snd_nxt;
    peer_send(&p, TCP_ACK | TCP_FIN, hole + 200, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, hole, 0); /* a duplicate ACK at once, with the block it holds */
    CHECK(sg->p.opts.nsack == 1 && sg->p.opts.sack[0][0] == hole + 200 &&
          sg->p.opts.sack[0][1] == hole + 300);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(!S.app.eof && S.app.bytes_read == 0);
    peer_send(&p, TCP_ACK, hole + 100, p.rcv_nxt, 100); /* part of the hole */
    EXPECT(sg, TCP_ACK, p.server_nxt, hole, 0);
    CHECK(sg->p.opts.nsack == 1 && sg->p.opts.sack[0][0] == hole + 100 &&
          sg->p.opts.sack[0][1] == hole + 300);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    peer_send(&p, TCP_ACK, hole, p.rcv_nxt, 100); /* the rest */
    EXPECT(sg, TCP_ACK, p.server_nxt, hole + 301, 0);
    CHECK(sg->p.opts.nsack == 0);
    CHECK_STATE(&p, TCP_CLOSE_WAIT);
    CHECK(S.app.bytes_read == 300 && S.app.eof);
    EXPECT_NONE();
    FINISH();
}

/* A bare FIN beyond a hole is held the same way. */
static void test_out_of_order_bare_fin_held(void)
{
    struct tcp_config cfg = test_config();
    uint32_t hole;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42007, 1000, OFFER_MSS);
    CHECK(handshake(&p));
    hole = p.snd_nxt;
    peer_send(&p, TCP_ACK | TCP_FIN, hole + 50, p.rcv_nxt, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, hole, 0);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    peer_send(&p, TCP_ACK, hole, p.rcv_nxt, 50);
    EXPECT_SEG(TCP_ACK, p.server_nxt, hole + 51, 0);
    CHECK_STATE(&p, TCP_CLOSE_WAIT);
    CHECK(S.app.bytes_read == 50 && S.app.eof);
    EXPECT_NONE();
    FINISH();
}

/*
 * Nothing after the peer's FIN is data (RFC 9293 3.10.7.4): bytes held out of order beyond it are
 * dropped when the FIN is accepted, never read, never SACKed, and their frames go back.
 */
static void test_data_beyond_fin_discarded(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t start;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42009, 0xffffff00u, OFFER_ALL);
    CHECK(handshake(&p));
    start = p.snd_nxt;
    /* held out of order, from where the FIN will be on */
    peer_send(&p, TCP_ACK, start + 100, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, start, 0);
    CHECK(sg->p.opts.nsack == 1);
    /* in order, with the FIN: the held bytes would continue the stream, but it ends here */
    peer_send(&p, TCP_ACK | TCP_FIN, start, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, start + 101, 0);
    CHECK(sg->p.opts.nsack == 0);
    CHECK_STATE(&p, TCP_CLOSE_WAIT);
    CHECKF(S.app.bytes_read == 100 && S.app.eof, "%llu bytes read", (unsigned long long)S.app.bytes_read);
    CHECK(tcp_engine_frames_held(server()) == 0);
    FINISH();

    /* the same with a bare FIN that fills the hole: the bytes beyond it go too */
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 42010, 0x1000, OFFER_ALL);
    CHECK(handshake(&p));
    start = p.snd_nxt;
    peer_send(&p, TCP_ACK, start + 1, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, start, 0);
    CHECK(sg->p.opts.nsack == 1);
    peer_send(&p, TCP_ACK | TCP_FIN, start, p.rcv_nxt, 0);
    EXPECT(sg, TCP_ACK, p.server_nxt, start + 1, 0);
    CHECK(sg->p.opts.nsack == 0);
    CHECK_STATE(&p, TCP_CLOSE_WAIT);
    CHECK(S.app.bytes_read == 0 && S.app.eof);
    CHECK(tcp_engine_frames_held(server()) == 0);
    FINISH();
}

/* ---- windows ------------------------------------------------------------------------------------ */

/*
 * The peer's window is zero while the application has data queued: nothing is sent, and persist
 * probes (SND.UNA - 1, no payload: the peer must answer with an ACK) go out after an RTO, then at
 * doubling intervals up to rto_max_ms. An answered probe keeps the connection open indefinitely.
 */
static void test_zero_window_persist_probes_back_off(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint64_t start, last_ms, interval;
    struct peer p;

    cfg.rto_max_ms = 3000;
    cfg.data_retries = 3; /* answered probes must not count towards it */
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 43000, 0xfffff000u, OFFER_ALL);
    p.wnd = 0;
    CHECK(handshake(&p));
    CHECK(app_write(1000) == 1000);
    start = now_ms();
    run_now();
    EXPECT_NONE();
    /* the handshake's RTT was 0: the RTO is rto_min_ms */
    last_ms = start;
    interval = cfg.rto_min_ms;
    for (int i = 0; i < 8; i++) {
        advance_ms(interval - 1);
        EXPECT_NONE();
        advance_ms(1);
        EXPECT(sg, TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
        CHECKF(sg->at_ms - last_ms == interval, "probe %d after %llu ms, expected %llu", i + 1,
               (unsigned long long)(sg->at_ms - last_ms), (unsigned long long)interval);
        CHECK(sg->p.opts.ts_present);
        last_ms = sg->at_ms;
        peer_ack(&p); /* still zero */
        EXPECT_NONE();
        interval = interval * 2 > cfg.rto_max_ms ? cfg.rto_max_ms : interval * 2;
    }
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECKF(stats()->window_probes == 8, "window_probes %llu", (unsigned long long)stats()->window_probes);
    CHECK(stats()->bytes_out == 0 && stats()->timeouts == 0);
    FINISH();
}

/* The window opens after two probes: the data goes at once, and is timed by a fresh RTO. */
static void test_zero_window_reopening_lets_data_flow(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg, *again;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 43001, 0x1000, OFFER_MSS | OFFER_WS);
    p.wnd = 0;
    CHECK(handshake(&p));
    CHECK(app_write(3000) == 3000);
    run_now();
    EXPECT_NONE();
    advance_ms(cfg.rto_min_ms + 2 * cfg.rto_min_ms);
    EXPECT_SEG(TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
    CHECK(stats()->window_probes == 2);
    advance_ms(10);
    p.wnd = 100;  /* << 7: 12800 bytes */
    peer_ack(&p); /* a window update: same SEQ and ACK, a new window */
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(sg, 0));
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1460, p.snd_nxt, 1460);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 2920, p.snd_nxt, 80);
    EXPECT_NONE();
    /* unacknowledged, the first segment goes again one RTO later: no backoff is left from probing */
    advance_ms(cfg.rto_min_ms - 1);
    EXPECT_NONE();
    advance_ms(1);
    EXPECT(again, TCP_ACK, p.server_nxt, p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(again, 0));
    CHECK(stats()->retrans_rto == 1);
    p.rcv_nxt = p.server_nxt + 3000;
    peer_ack(&p);
    EXPECT_NONE();
    FINISH();
}

/* Probes nobody answers count as retransmissions: after data_retries of them the connection is aborted. */
static void test_zero_window_unanswered_probes_abort(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.data_retries = 3;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 43002, 0x1000, OFFER_MSS);
    p.wnd = 0;
    CHECK(handshake(&p));
    CHECK(app_write(500) == 500);
    advance_ms(200 + 400 + 800 + 1600 - 1);
    for (int i = 0; i < 3; i++)
        EXPECT_SEG(TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    advance_ms(1);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ETIMEDOUT);
    CHECK(stats()->timeouts == 1);
    FINISH();
}

/*
 * The application does not read: the server's window closes at rcv_buf, data beyond it is dropped
 * and answered with a zero window, and consuming reopens the window with an update.
 */
static void test_receive_window_closes_and_reopens(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t start;
    struct peer p;

    cfg.rcv_buf = 4000;
    CHECK(script_init(&cfg));
    S.app.read_all = false;
    peer_init(&p, PKT_IPV4, 43003, 0x7fffff00u, OFFER_MSS);
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(sg, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    CHECK(sg->p.wnd == 4000);
    learn_synack(&p, sg);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    start = p.snd_nxt;
    batch_begin();
    peer_data(&p, 1460, 0);
    peer_data(&p, 1460, 0);
    peer_data(&p, 1080, 0);
    batch_end();
    EXPECT(sg, TCP_ACK, p.server_nxt, start + 4000, 0);
    CHECKF(sg->p.wnd == 0, "window %u with a full buffer", sg->p.wnd);
    CHECK(tcp_readable(S.app.conn) == 4000);
    /* more than the window: dropped, and the zero window said again */
    peer_data(&p, 500, 0);
    EXPECT(sg, TCP_ACK, p.server_nxt, start + 4000, 0);
    CHECK(sg->p.wnd == 0);
    CHECK(tcp_readable(S.app.conn) == 4000);
    CHECK(stats()->rcv_dropped_window >= 1);
    p.snd_nxt = start + 4000;
    /* the application reads it all: the window opens and the peer is told at once */
    tcp_consume(S.app.conn, 4000);
    run_now();
    EXPECT(sg, TCP_ACK, p.server_nxt, start + 4000, 0);
    CHECKF(sg->p.wnd == 4000, "window %u after reading", sg->p.wnd);
    peer_data(&p, 500, 0);
    CHECK(tcp_readable(S.app.conn) == 500);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    FINISH();
}

/*
 * The largest scaled window: shift 14 and a field of 65535 is 65535 << 14 bytes, about 1 GiB, so
 * only the congestion window limits the server. A later field of 4 allows exactly 65536 bytes.
 */
static void test_peer_window_scale_14_full_window(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t sent = 0, nsegs = 0;
    struct peer p;

    cfg.initial_cwnd = 1000;
    cfg.snd_buf = 1u << 20;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 43004, 0x1000, OFFER_MSS | OFFER_WS);
    p.wscale = 14;
    CHECK(handshake(&p));
    CHECK(app_write(300000) == 300000);
    run_now();
    while (seen_pending()) {
        EXPECT(sg, TCP_ACK, p.server_nxt + sent, p.snd_nxt, ANY);
        sent += sg->p.payload_len;
        nsegs++;
    }
    CHECKF(sent == 300000, "sent %u bytes in %u segments", sent, nsegs);
    p.server_nxt += sent;
    p.rcv_nxt = p.server_nxt;
    p.wnd = 4;
    peer_ack(&p);
    EXPECT_NONE();
    CHECK(app_write(100000) == 100000);
    run_now();
    for (sent = 0; seen_pending();) {
        EXPECT(sg, TCP_ACK, p.server_nxt + sent, p.snd_nxt, 1460);
        sent += sg->p.payload_len;
    }
    CHECKF(sent == 44 * 1460, "sent %u bytes into a 65536-byte window", sent);
    FINISH();
}

/*
 * With window scaling the advertised window moves in steps of 8 bytes while data arrives in odd
 * sizes: the right edge (ACK + window << shift) must never move left (RFC 9293 3.8.6.2.1), and
 * everything up to the last edge advertised must be taken (RFC 7323 2.4).
 */
static void test_advertised_right_edge_never_shrinks(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t edge, best_edge = 0, base;
    struct peer p;

    cfg.rcv_buf = 100000; /* shift 1 */
    CHECK(script_init(&cfg));
    S.app.read_all = false;
    peer_init(&p, PKT_IPV4, 43005, 0xfffe0000u, OFFER_MSS | OFFER_WS);
    CHECK(handshake(&p));
    base = p.snd_nxt;
    best_edge = base + 65535;
    for (int i = 0; i < 200; i++) {
        uint32_t room = best_edge - p.snd_nxt, len = room < 1001 ? room : 1001;

        if (!len)
            break;
        peer_data(&p, len, 0);
        advance_ms(cfg.delack_ms);
        EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 0);
        edge = sg->p.ack + ((uint32_t)sg->p.wnd << 1);
        CHECKF((int32_t)(edge - best_edge) >= 0, "segment %d: right edge moved left by %d bytes", i,
               (int)(best_edge - edge));
        best_edge = edge;
    }
    CHECKF(best_edge == p.snd_nxt, "window still open by %u bytes after 200 segments", best_edge - p.snd_nxt);
    CHECKF(tcp_readable(S.app.conn) == p.snd_nxt - base, "%zu bytes readable, %u sent within the window",
           tcp_readable(S.app.conn), p.snd_nxt - base);
    CHECK(stats()->rcv_dropped_buffer == 0 && stats()->rcv_dropped_window == 0);
    FINISH();
}

/* ---- timestamps: PAWS (RFC 7323 5) ------------------------------------------------------------- */

/* A segment whose TSval is older than TS.Recent is a wrapped-around duplicate: drop it, ACK. */
static void test_paws_rejects_old_timestamp(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t recent;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 44000, 0x5000, OFFER_ALL);
    p.tsval = 0xfffffff0u; /* TSval wraps during the test: comparisons are modulo 2^32 */
    CHECK(handshake(&p));
    p.tsval = 0x10;
    recent = p.tsval;
    peer_data(&p, 100, 0);
    advance_ms(cfg.delack_ms);
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECKF(sg->p.opts.tsecr == recent, "TSecr %u, expected %u", sg->p.opts.tsecr, recent);
    CHECK(S.app.bytes_read == 100);

    p.tsval = recent - 5;
    peer_data(&p, 100, 0);
    p.snd_nxt -= 100;                                /* it was not taken */
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 0); /* at once, acknowledging nothing new */
    CHECKF(sg->p.opts.tsecr == recent, "TSecr %u: the old TSval must not become TS.Recent", sg->p.opts.tsecr);
    CHECK(stats()->paws_rejected == 1);
    CHECK(S.app.bytes_read == 100);
    /* FIN and SYN do not get past PAWS either */
    p.tsval = recent - 5;
    peer_send(&p, TCP_ACK | TCP_FIN, p.snd_nxt, p.rcv_nxt, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->paws_rejected == 2);
    CHECK_STATE(&p, TCP_ESTABLISHED);

    p.tsval = recent + 1;
    peer_data(&p, 100, 0);
    advance_ms(cfg.delack_ms);
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(sg->p.opts.tsecr == recent + 1);
    CHECK(S.app.bytes_read == 200);
    EXPECT_NONE();
    FINISH();
}

/* A reset is exempt from PAWS (RFC 7323 5.3 R1): an exact one with an old TSval still closes. */
static void test_paws_exempts_reset(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 44001, 0x5000, OFFER_ALL);
    p.tsval = 100000;
    CHECK(handshake(&p));
    p.tsval = 100;
    peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(stats()->paws_rejected == 0 && stats()->rst_received == 1);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ECONNRESET);
    FINISH();
}

/* ---- RFC 5961: blind in-window attacks ----------------------------------------------------------- */

/* A SYN on an established connection, in the window or not, gets an ACK and changes nothing (4.2). */
static void test_syn_in_established_gets_challenge_ack(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 45000, 0x8000, OFFER_ALL);
    CHECK(handshake(&p));
    peer_send(&p, TCP_SYN, p.snd_nxt + 10, 0, 0);
    CHECK(expect_challenge_ack(&p));
    CHECK(stats()->challenge_acks == 1);
    peer_send(&p, TCP_SYN, p.snd_nxt - 100000, 0, 0);
    CHECK(expect_challenge_ack(&p));
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.closed_calls == 0 && server()->nconns == 1);
    /* a peer that really restarted answers the challenge with a reset at its ACK number */
    peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ECONNRESET);
    EXPECT_NONE();
    FINISH();
}

/*
 * An ACK of data never sent (beyond SND.NXT) or older than SND.UNA - MAX.SND.WND is answered with
 * an ACK and the segment, payload included, is dropped (RFC 5961 5.2).
 */
static void test_ack_of_unsent_data_dropped(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 45001, 0x8000, OFFER_MSS | OFFER_SACK);
    CHECK(handshake(&p));
    CHECK(app_write(500) == 500);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 500);
    p.server_nxt += 500;
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_nxt + 1, 100);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->bad_ack == 1);
    CHECK(S.app.bytes_read == 0);
    /* the peer's largest window was 65535 (unscaled) */
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_nxt - 500 - 65535 - 1, 100);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->bad_ack == 2);
    CHECK(S.app.bytes_read == 0);
    /* the oldest acceptable ACK is SND.UNA - MAX.SND.WND: taken, with its data */
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_nxt - 500 - 65535, 100);
    p.snd_nxt += 100;
    CHECK(stats()->bad_ack == 2);
    CHECK(S.app.bytes_read == 100);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    FINISH();
}

/* challenge_ack_limit per second, per engine: the rest are counted and not sent (RFC 5961 7). */
static void test_challenge_ack_rate_limit(void)
{
    struct tcp_config cfg = test_config();
    uint64_t first_ms;
    struct peer p;

    cfg.challenge_ack_limit = 3;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 45002, 0x8000, OFFER_ALL);
    CHECK(handshake(&p));
    first_ms = now_ms();
    for (int i = 0; i < 6; i++) {
        peer_send(&p, i % 2 ? TCP_RST : TCP_SYN, p.snd_nxt + 10, 0, 0);
        if (i < 3)
            CHECK(expect_challenge_ack(&p));
        EXPECT_NONE();
        advance_ms(100);
    }
    CHECK(stats()->challenge_acks == 3 && stats()->challenge_acks_limited == 3);
    advance_ms(first_ms + 1000 - now_ms());
    peer_send(&p, TCP_SYN, p.snd_nxt + 10, 0, 0);
    CHECK(expect_challenge_ack(&p));
    CHECK(stats()->challenge_acks == 4);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    FINISH();
}

/* ---- retransmission timeout (RFC 6298) ---------------------------------------------------------- */

/*
 * Nothing is acknowledged: the same segment goes again after RTO, 2 RTO, 4 RTO... and after
 * data_retries retransmissions the next expiry aborts the connection with ETIMEDOUT.
 */
static void test_rto_backs_off_then_aborts(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *first, *sg;
    uint64_t last_ms, interval;
    struct peer p;

    cfg.data_retries = 4;
    CHECK(script_init(&cfg));
    /* without SACK there is no tail loss probe ahead of the RTO (test_tail_loss_probe has one) */
    peer_init(&p, PKT_IPV4, 46000, 0x9000, OFFER_MSS | OFFER_WS | OFFER_TS);
    CHECK(handshake(&p));
    CHECK(app_write(1000) == 1000);
    run_now();
    EXPECT(first, TCP_ACK, p.server_nxt, p.snd_nxt, 1000);
    last_ms = first->at_ms;
    interval = cfg.rto_min_ms; /* the handshake's RTT was 0 */
    advance_ms(200 + 400 + 800 + 1600 + 3200 - 1);
    for (uint32_t i = 0; i < cfg.data_retries; i++, interval *= 2) {
        EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 1000);
        CHECKF(sg->at_ms - last_ms == interval, "retransmission %u after %llu ms, expected %llu", i + 1,
               (unsigned long long)(sg->at_ms - last_ms), (unsigned long long)interval);
        CHECK(payload_is_server_stream(sg, 0));
        last_ms = sg->at_ms;
    }
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.closed_calls == 0);
    advance_ms(1);
    EXPECT_NONE(); /* RFC 9293 3.10.8: the user timeout closes without a reset */
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ETIMEDOUT);
    CHECK(stats()->timeouts == 1 && stats()->rto_expired == 5 && stats()->retrans_rto == 4);
    FINISH();
}

/* The measured RTT (10 ms) asks for an RTO of 30 ms; rto_min_ms wins, rto_max_ms caps the backoff. */
static void test_rto_bounded_by_min_and_max(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint64_t last_ms;
    static const uint64_t intervals[] = {300, 600, 1000, 1000, 1000};
    struct peer p;

    cfg.rto_min_ms = 300;
    cfg.rto_max_ms = 1000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 46001, 0x9000, OFFER_MSS);
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(sg, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    learn_synack(&p, sg);
    advance_ms(10);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(app_write(100) == 100);
    run_now();
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 100);
    last_ms = sg->at_ms;
    advance_ms(3900);
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 100);
        CHECKF(sg->at_ms - last_ms == intervals[i], "retransmission %zu after %llu ms, expected %llu", i + 1,
               (unsigned long long)(sg->at_ms - last_ms), (unsigned long long)intervals[i]);
        last_ms = sg->at_ms;
    }
    EXPECT_NONE();
    FINISH();
}

/* ---- fast retransmit (RFC 5681 3.2, RFC 6675) ---------------------------------------------------- */

/* Ten segments in flight; returns the sequence number of the first. */
static bool ten_segments_in_flight(struct peer *p, uint32_t *first)
{
    *first = p->server_nxt;
    REQUIRE(app_write(10 * 1460) == 10 * 1460);
    run_now();
    for (int i = 0; i < 10; i++)
        if (!expect_next(HERE, TCP_ACK, *first + (uint32_t)i * 1460, p->snd_nxt, 1460))
            return false;
    p->server_nxt += 10 * 1460;
    return expect_none(HERE);
}

/* Without SACK: the third duplicate ACK retransmits the first unacknowledged segment, at once. */
static void test_fast_retransmit_after_three_dupacks(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t first;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 47000, 0xa000, OFFER_MSS | OFFER_WS);
    CHECK(handshake(&p));
    CHECK(ten_segments_in_flight(&p, &first));
    p.rcv_nxt = first + 1460; /* segment 2 was lost */
    peer_ack(&p);
    EXPECT_NONE();
    for (int dup = 1; dup <= 2; dup++) {
        advance_ms(1);
        peer_ack(&p);
        EXPECT_NONE();
    }
    advance_ms(1);
    peer_ack(&p);
    EXPECT(sg, TCP_ACK, first + 1460, p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(sg, 1460));
    CHECK(stats()->dup_acks == 3 && stats()->retrans_fast == 1 && stats()->rto_expired == 0);
    EXPECT_NONE();
    FINISH();
}

/* With SACK: segments 2 and 4 lost, the rest SACKed; both holes go again, nothing else. */
static void test_fast_retransmit_with_sack_resends_holes(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t first, s[11];
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 47001, 0xa000, OFFER_MSS | OFFER_WS | OFFER_SACK);
    CHECK(handshake(&p));
    CHECK(ten_segments_in_flight(&p, &first));
    for (int i = 0; i <= 10; i++)
        s[i] = first + (uint32_t)i * 1460; /* s[i]: start of segment i + 1 */
    p.rcv_nxt = s[1];
    peer_ack(&p);
    EXPECT_NONE();
    p.nsack = 1;
    p.sack[0][0] = s[2];
    p.sack[0][1] = s[3];
    peer_ack(&p);
    EXPECT_NONE();
    p.nsack = 2;
    p.sack[0][0] = s[4];
    p.sack[0][1] = s[5];
    p.sack[1][0] = s[2];
    p.sack[1][1] = s[3];
    peer_ack(&p);
    EXPECT_NONE();
    p.sack[0][1] = s[10];
    peer_ack(&p);
    EXPECT(sg, TCP_ACK, s[1], p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(sg, 1460));
    EXPECT(sg, TCP_ACK, s[3], p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(sg, 3 * 1460));
    EXPECT_NONE();
    CHECK(stats()->retrans_fast == 2 && stats()->rto_expired == 0);
    /* both repaired: a full ACK ends recovery */
    p.nsack = 0;
    p.rcv_nxt = s[10];
    peer_ack(&p);
    EXPECT_NONE();
    CHECK(tcp_engine_frames_held(server()) == 0);
    FINISH();
}

/*
 * RFC 8985 7 and 6.2: with SACK and an RTT sample, the retransmission timer first fires as a tail
 * loss probe, two RTTs (at least 10 ms) after the flight left, sending the last segment again. The
 * peer, which got only that, SACKs it: RACK then judges every segment sent before it lost, and
 * recovery resends them at once, within the reduced window (resent of the ten segments: half for
 * NewReno, 0.7 for CUBIC), long before an RTO.
 */
static void tail_loss_probe_then_rack(enum tcp_congestion congestion, int resent)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t first, s[11];
    struct peer p;

    cfg.congestion = congestion;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 47002, 0xa100, OFFER_MSS | OFFER_WS | OFFER_SACK);
    CHECK(handshake(&p));
    CHECK(ten_segments_in_flight(&p, &first));
    for (int i = 0; i <= 10; i++)
        s[i] = first + (uint32_t)i * 1460;
    advance_ms(9);
    EXPECT_NONE();
    advance_ms(1);
    EXPECT(sg, TCP_ACK, s[9], p.snd_nxt, 1460);
    CHECK(payload_is_server_stream(sg, 9 * 1460));
    CHECK(stats()->tlp_probes == 1 && stats()->rto_expired == 0);
    advance_ms(1); /* the probe's answer comes a round trip later, not at once */
    p.nsack = 1;
    p.sack[0][0] = s[9];
    p.sack[0][1] = s[10];
    peer_ack(&p);
    for (int i = 0; i < resent; i++) {
        EXPECT(sg, TCP_ACK, s[i], p.snd_nxt, 1460);
        CHECK(payload_is_server_stream(sg, (uint32_t)i * 1460));
    }
    EXPECT_NONE();
    CHECK(stats()->retrans_fast == (uint64_t)resent && stats()->rto_expired == 0);
    p.nsack = 0;
    p.rcv_nxt = s[10];
    peer_ack(&p);
    EXPECT_NONE();
    CHECK(tcp_engine_frames_held(server()) == 0);
    FINISH();
}

static void test_tail_loss_probe_then_rack(void)
{
    tail_loss_probe_then_rack(TCP_CC_NEWRENO, 5);
}

static void test_tail_loss_probe_then_rack_cubic(void)
{
    tail_loss_probe_then_rack(TCP_CC_CUBIC, 7);
}

/* ---- the receiver's SACK blocks (RFC 2018 4) ----------------------------------------------------- */

/*
 * Each out-of-order segment is answered at once by a duplicate ACK whose first SACK block holds
 * that segment; with timestamps only three blocks fit in the options.
 */
static void sack_blocks_case(unsigned offer, int max_blocks)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t hole;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 48000, 0xfffff000u, offer);
    CHECK(handshake(&p));
    hole = p.snd_nxt;
    for (uint32_t i = 1; i <= 5; i++) {
        uint32_t start = hole + i * 1000;

        peer_send(&p, TCP_ACK, start, p.rcv_nxt, 100);
        EXPECT(sg, TCP_ACK, p.server_nxt, hole, 0);
        CHECKF(sg->p.opts.nsack == (int)(i < (uint32_t)max_blocks ? i : (uint32_t)max_blocks),
               "%u blocks after %u segments", sg->p.opts.nsack, i);
        CHECKF(sg->p.opts.sack[0][0] == start && sg->p.opts.sack[0][1] == start + 100,
               "first block [%u, %u), the latest segment [%u, %u)", sg->p.opts.sack[0][0] - hole,
               sg->p.opts.sack[0][1] - hole, start - hole, start + 100 - hole);
        for (int b = 1; b < sg->p.opts.nsack; b++) { /* the others: held ranges, each one segment here */
            CHECK((sg->p.opts.sack[b][0] - hole) % 1000 == 0);
            CHECK(sg->p.opts.sack[b][1] - sg->p.opts.sack[b][0] == 100);
        }
        CHECK(sg->p.opts.ts_present == !!(offer & OFFER_TS));
    }
    /* a segment joining the first range: the grown range comes first */
    peer_send(&p, TCP_ACK, hole + 1100, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, hole, 0);
    CHECK(sg->p.opts.sack[0][0] == hole + 1000 && sg->p.opts.sack[0][1] == hole + 1200);
    CHECK(stats()->ooo_segments == 6);
    /* the hole filled: everything up to the next hole is acknowledged, without blocks for the past */
    peer_send(&p, TCP_ACK, hole, p.rcv_nxt, 1000);
    EXPECT(sg, TCP_ACK, p.server_nxt, hole + 1200, 0);
    CHECKF(sg->p.opts.nsack == (max_blocks < 4 ? max_blocks : 4), "%u blocks for 4 ranges", sg->p.opts.nsack);
    for (int b = 0; b < sg->p.opts.nsack; b++)
        CHECK((int32_t)(sg->p.opts.sack[b][0] - (hole + 2000)) >= 0);
    FINISH();
}

static void test_sack_blocks_with_timestamps(void)
{
    sack_blocks_case(OFFER_ALL, 3);
}

static void test_sack_blocks_without_timestamps(void)
{
    sack_blocks_case(OFFER_MSS | OFFER_WS | OFFER_SACK, 4);
}

/* A data segment is within the MTU: IP header, TCP header and options, and payload. */
static bool fits_mtu(const struct seen *sg, uint32_t mtu)
{
    return (uint32_t)PKT_IPV4_LEN + sg->p.tcp_hdr_len + sg->p.payload_len <= mtu;
}

/*
 * The MSS bounds payload and options together (RFC 6691), and with timestamps a full segment has
 * no room left for SACK blocks: full segments go without them and a pure ACK after them carries
 * the blocks the peer is owed; a shorter segment carries as many as fit, and then no ACK follows.
 */
static void test_sack_blocks_never_push_data_past_mtu(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t hole;
    struct peer p;

    cfg.initial_cwnd = 2;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 48002, 0x30000, OFFER_ALL);
    CHECK(handshake(&p));
    hole = p.snd_nxt;
    CHECK(app_write(6 * 1448) == 6 * 1448);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, hole, 1448);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1448, hole, 1448);
    EXPECT_NONE();
    /* out-of-order data that acknowledges both: the window opens in the flush that owes the SACK */
    p.rcv_nxt = p.server_nxt + 2 * 1448;
    peer_send(&p, TCP_ACK, hole + 1000, p.rcv_nxt, 100);
    for (uint32_t i = 2; i < 6; i++) {
        EXPECT(sg, TCP_ACK, p.server_nxt + i * 1448, hole, 1448);
        CHECKF(fits_mtu(sg, cfg.mtu), "%u header bytes", sg->p.tcp_hdr_len);
        CHECK(sg->p.opts.ts_present && sg->p.opts.nsack == 0);
    }
    EXPECT(sg, TCP_ACK, p.server_nxt + 6 * 1448, hole, 0);
    CHECK(sg->p.opts.nsack == 1 && sg->p.opts.sack[0][0] == hole + 1000 &&
          sg->p.opts.sack[0][1] == hole + 1100);
    EXPECT_NONE();
    p.server_nxt += 6 * 1448;
    /* the congestion window is full: a short segment waits for the next ACK, and then has room for
     * both blocks itself */
    CHECK(app_write(1000) == 1000);
    run_now();
    EXPECT_NONE();
    p.rcv_nxt = p.server_nxt;
    peer_send(&p, TCP_ACK, hole + 2000, p.rcv_nxt, 100);
    EXPECT(sg, TCP_ACK, p.server_nxt, hole, 1000);
    CHECKF(fits_mtu(sg, cfg.mtu), "%u header bytes", sg->p.tcp_hdr_len);
    CHECKF(sg->p.opts.nsack == 2 && sg->p.opts.sack[0][0] == hole + 2000, "%u blocks", sg->p.opts.nsack);
    EXPECT_NONE();
    FINISH();
}

/* ---- delayed ACKs (RFC 9293 3.8.6.3, RFC 5681 4.2) ---------------------------------------------- */

/* One small in-order segment is acknowledged delack_ms later, not before. */
static void test_delayed_ack_single_segment(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint64_t sent_ms;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 49000, 0xc000, OFFER_ALL);
    CHECK(handshake(&p));
    sent_ms = now_ms();
    peer_data(&p, 100, 0);
    CHECK(S.app.bytes_read == 100);
    advance_ms(cfg.delack_ms - 1);
    EXPECT_NONE();
    advance_ms(1);
    EXPECT(sg, TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECKF(sg->at_ms - sent_ms == cfg.delack_ms, "ACK after %llu ms",
           (unsigned long long)(sg->at_ms - sent_ms));
    advance_ms(1000);
    EXPECT_NONE();
    FINISH();
}

/* The second full segment is acknowledged at once. */
static void test_two_full_segments_acked_at_once(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 49001, 0xc000, OFFER_MSS | OFFER_WS);
    CHECK(handshake(&p));
    peer_data(&p, 1460, 0);
    EXPECT_NONE();
    advance_ms(5);
    peer_data(&p, 1460, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    /* and the count starts over */
    advance_ms(5);
    peer_data(&p, 1460, 0);
    EXPECT_NONE();
    advance_ms(cfg.delack_ms);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(S.app.bytes_read == 3 * 1460);
    FINISH();
}

/* A response written while the ACK is delayed carries the ACK: no separate one follows. */
static void test_delayed_ack_rides_on_response(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 49002, 0xc000, OFFER_ALL);
    CHECK(handshake(&p));
    peer_data(&p, 200, 0);
    EXPECT_NONE();
    advance_ms(10);
    CHECK(app_write(300) == 300);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 300);
    advance_ms(cfg.delack_ms);
    EXPECT_NONE();
    FINISH();
}

/* ---- TIME-WAIT reuse (RFC 6191, RFC 9293 3.6.1) -------------------------------------------------- */

/* Without timestamps: a SYN above RCV.NXT opens a new connection; one below does not. */
static void test_time_wait_reuse_by_sequence(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 50000, 0xd000, OFFER_MSS | OFFER_WS | OFFER_SACK);
    CHECK(reach_state(&p, TCP_TIME_WAIT));
    peer_send(&p, TCP_SYN, p.iss, 0, 0); /* an old duplicate of the first SYN */
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(stats()->time_wait_reused == 0);

    p.iss = p.snd_nxt + 100000;
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(sg, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    CHECK(sg->p.opts.ws_present && sg->p.opts.sack_permitted && !sg->p.opts.ts_present);
    CHECK(stats()->time_wait_reused == 1);
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    learn_synack(&p, sg);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 2 && S.app.conn == server_conn(&p));
    CHECK(server()->nconns == 1);
    EXPECT_NONE();
    FINISH();
}

/* With timestamps the TSval decides, whatever the sequence number says. */
static void test_time_wait_reuse_by_timestamp(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    uint32_t recent;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 50001, 0xd000, OFFER_ALL);
    CHECK(reach_state(&p, TCP_TIME_WAIT));
    recent = p.tsval - 1;
    p.tsval = recent - 10; /* older, with a sequence number that would do */
    peer_send(&p, TCP_SYN, p.snd_nxt + 100000, 0, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(stats()->time_wait_reused == 0);

    p.tsval = recent + 1000;
    p.iss = p.snd_nxt - 100000; /* below RCV.NXT: only the timestamp shows it is new */
    peer_send(&p, TCP_SYN, p.iss, 0, 0);
    EXPECT(sg, TCP_SYN | TCP_ACK, ANY, p.iss + 1, 0);
    CHECK(sg->p.opts.ts_present && sg->p.opts.tsecr == recent + 1000);
    CHECK(stats()->time_wait_reused == 1);
    learn_synack(&p, sg);
    peer_ack(&p);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(S.app.accepted == 2);
    EXPECT_NONE();
    FINISH();
}

/* ---- TIME-WAIT in a compact entry (tcp_time_wait.c) ------------------------------------------- */

/*
 * The slot is free as soon as TIME-WAIT begins: with one connection slot, a second client is served
 * while the first one's TIME-WAIT goes on, and the entry still ACKs the first one's FIN again, with
 * the timestamps the connection had.
 */
static void test_time_wait_frees_the_slot(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *sg;
    struct peer a, b;
    uint32_t fin_tsval;

    cfg.max_conns = 1;
    cfg.max_half_open = 1;
    CHECK(script_init(&cfg));
    peer_init(&a, PKT_IPV4, 51000, 0x1000, OFFER_ALL);
    peer_init(&b, PKT_IPV6, 51001, 0x2000, OFFER_ALL);
    CHECK(reach_state(&a, TCP_TIME_WAIT));
    CHECKF(in_time_wait_entry(&a), "state %s", state_text(&a));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    CHECK(server()->nconns == 0 && server()->tw.count == 1);
    CHECK(stats()->time_wait_entered == 1 && stats()->conns_closed == 1);

    CHECK(handshake(&b));
    CHECK(server()->nconns == 1 && stats()->syn_dropped_limit == 0);

    advance_ms(500);
    fin_tsval = a.tsval;
    peer_send(&a, TCP_FIN | TCP_ACK, a.snd_nxt - 1, a.rcv_nxt, 0);
    EXPECT(sg, TCP_ACK, a.server_nxt, a.snd_nxt, 0);
    CHECKF(sg->p.opts.ts_present && sg->p.opts.tsecr == fin_tsval, "TSecr %u, the FIN's TSval %u",
           sg->p.opts.tsecr, fin_tsval);
    CHECKF(sg->p.wnd > 0, "window %u", sg->p.wnd);
    CHECK(in_time_wait_entry(&a));
    EXPECT_NONE();
    FINISH();
}

/*
 * What else reaches an entry (RFC 9293 3.10.7.4): a bare ACK is ignored; a segment outside the
 * window, an old timestamp (PAWS) and an ACK of what was never sent are answered with an ACK; a reset
 * inside the window but not exact gets a challenge ACK (RFC 5961 3.2), an exact one ends TIME-WAIT.
 */
static void test_time_wait_entry_answers(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 51010, 0x3000, OFFER_ALL);
    CHECK(reach_state(&p, TCP_TIME_WAIT));
    CHECK(in_time_wait_entry(&p));
    peer_ack(&p);
    EXPECT_NONE();
    peer_send(&p, TCP_ACK, p.snd_nxt - 5000, p.rcv_nxt, 100);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->rcv_dropped_window == 1);
    p.tsval -= 100;
    peer_ack(&p);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->paws_rejected == 1);
    p.tsval += 200;
    peer_send(&p, TCP_ACK, p.snd_nxt, p.server_nxt + 1000, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->bad_ack == 1);
    peer_send(&p, TCP_RST, p.snd_nxt + 10, 0, 0);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(stats()->challenge_acks == 1 && in_time_wait_entry(&p));
    peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(server()->tw.count == 0 && stats()->rst_received == 1);
    CHECK(S.app.closed_calls == 1); /* the application heard closed(0) once, at the start of TIME-WAIT */
    FINISH();
}

/*
 * max_time_wait entries at most: the next one drops the oldest, counted. A retransmitted FIN restarts
 * an entry's 2 MSL and makes it the newest, so the oldest is always the one nearest its end.
 */
static void test_time_wait_full_drops_oldest(void)
{
    struct tcp_config cfg = test_config();
    struct peer a, b, c, d;

    cfg.max_time_wait = 2;
    CHECK(script_init(&cfg));
    peer_init(&a, PKT_IPV4, 51020, 0x4000, OFFER_ALL);
    peer_init(&b, PKT_IPV4, 51021, 0x5000, OFFER_ALL);
    peer_init(&c, PKT_IPV6, 51022, 0x6000, OFFER_MSS);
    peer_init(&d, PKT_IPV4, 51023, 0x7000, OFFER_ALL);
    CHECK(reach_state(&a, TCP_TIME_WAIT));
    advance_ms(10);
    CHECK(reach_state(&b, TCP_TIME_WAIT));
    advance_ms(10);
    CHECK(stats()->time_wait_dropped == 0 && server()->tw.count == 2);
    CHECK(reach_state(&c, TCP_TIME_WAIT));
    CHECKF(gone(&a), "a: %s", state_text(&a));
    CHECK(in_time_wait_entry(&b) && in_time_wait_entry(&c));
    CHECK(stats()->time_wait_dropped == 1 && server()->tw.count == 2);
    /* a's FIN again finds nothing: reset, as for any segment without a connection */
    peer_send(&a, TCP_FIN | TCP_ACK, a.snd_nxt - 1, a.rcv_nxt, 0);
    EXPECT_SEG(TCP_RST, a.rcv_nxt, 0, 0);

    advance_ms(10);
    peer_send(&b, TCP_FIN | TCP_ACK, b.snd_nxt - 1, b.rcv_nxt, 0); /* b is the newest now */
    EXPECT_SEG(TCP_ACK, b.server_nxt, b.snd_nxt, 0);
    CHECK(reach_state(&d, TCP_TIME_WAIT));
    CHECKF(gone(&c), "c: %s", state_text(&c));
    CHECK(in_time_wait_entry(&b) && in_time_wait_entry(&d));
    CHECK(stats()->time_wait_dropped == 2 && server()->nconns == 0);
    FINISH();
}

/* max_time_wait 0: no TIME-WAIT is kept, the connection just ends (counted as dropped). */
static void test_time_wait_none_kept(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.max_time_wait = 0;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 51030, 0x8000, OFFER_ALL);
    CHECK(reach_state(&p, TCP_FIN_WAIT_2));
    CHECK(peer_sends_fin(&p));
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    CHECK(stats()->time_wait_dropped == 1 && stats()->time_wait_entered == 0);
    CHECK(server()->nconns == 0 && tcp_engine_next_deadline(server()) == UINT64_MAX);
    FINISH();
}

/* ---- keepalive (RFC 9293 3.8.4) ---------------------------------------------------------------- */

static struct tcp_config keepalive_config(void)
{
    struct tcp_config cfg = test_config();

    cfg.keepalive_idle_ms = 1000;
    cfg.keepalive_intvl_ms = 500;
    cfg.keepalive_probes = 3;
    return cfg;
}

/* After keepalive_idle_ms of silence, probes every keepalive_intvl_ms; keepalive_probes unanswered: abort. */
static void test_keepalive_unanswered_aborts(void)
{
    struct tcp_config cfg = keepalive_config();
    const struct seen *sg;
    uint64_t idle_from;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 51000, 0xe000, OFFER_ALL);
    CHECK(handshake(&p));
    idle_from = now_ms();
    advance_ms(cfg.keepalive_idle_ms - 1);
    EXPECT_NONE();
    advance_ms(1);
    EXPECT(sg, TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0); /* an old sequence number asks for an ACK */
    CHECK(sg->at_ms - idle_from == cfg.keepalive_idle_ms);
    for (uint32_t i = 1; i < cfg.keepalive_probes; i++) {
        advance_ms(cfg.keepalive_intvl_ms);
        EXPECT(sg, TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
        CHECK(sg->at_ms - idle_from == cfg.keepalive_idle_ms + i * cfg.keepalive_intvl_ms);
    }
    CHECK_STATE(&p, TCP_ESTABLISHED);
    advance_ms(cfg.keepalive_intvl_ms - 1);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    advance_ms(1);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ETIMEDOUT);
    CHECK(stats()->keepalive_probes == cfg.keepalive_probes && stats()->timeouts == 1);
    FINISH();
}

/* Each answered probe resets the count: the connection lives on, probed once per idle period. */
static void test_keepalive_answered_keeps_connection(void)
{
    struct tcp_config cfg = keepalive_config();
    const struct seen *sg;
    uint64_t idle_from;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 51001, 0xe000, OFFER_MSS);
    CHECK(handshake(&p));
    idle_from = now_ms();
    for (int i = 0; i < 10; i++) {
        advance_ms(cfg.keepalive_idle_ms);
        EXPECT(sg, TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
        CHECKF(sg->at_ms - idle_from == cfg.keepalive_idle_ms, "probe %d after %llu ms idle", i,
               (unsigned long long)(sg->at_ms - idle_from));
        peer_ack(&p);
        idle_from = now_ms();
        EXPECT_NONE();
    }
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(stats()->keepalive_probes == 10 && stats()->timeouts == 0);
    /* traffic postpones the probe as well */
    advance_ms(600);
    peer_data(&p, 10, 0);
    advance_ms(cfg.delack_ms);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    advance_ms(cfg.keepalive_idle_ms - cfg.delack_ms - 1);
    EXPECT_NONE();
    advance_ms(1);
    EXPECT_SEG(TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
    FINISH();
}

/*
 * Shut down but still reading, a connection in FIN-WAIT-2 is kept alive like an established one:
 * answered probes keep it, and it ends with the peer's FIN, its stream complete, not when the
 * keepalive timer first fires.
 */
static void test_keepalive_in_fin_wait_2_waits_for_fin(void)
{
    struct tcp_config cfg = keepalive_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 51002, 0xe000, OFFER_MSS);
    CHECK(reach_state(&p, TCP_FIN_WAIT_2));
    for (int i = 0; i < 3; i++) {
        advance_ms(cfg.keepalive_idle_ms);
        EXPECT_SEG(TCP_ACK, p.server_nxt - 1, p.snd_nxt, 0);
        peer_ack(&p);
        EXPECT_NONE();
    }
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    CHECK(S.app.closed_calls == 0);
    peer_data(&p, 100, 0);
    CHECK(peer_sends_fin(&p));
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(S.app.bytes_read == 100 && S.app.eof);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    CHECK(stats()->keepalive_probes == 3 && stats()->timeouts == 0);
    FINISH();
}

/* ---- the application ends the connection ---------------------------------------------------------- */

/* A short write asked for writable; tcp_close withdraws it: after the close only closed is called. */
static void test_no_writable_after_close(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.snd_buf = 4000;
    cfg.time_wait_ms = 1000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 52004, 0xf000, OFFER_MSS);
    CHECK(handshake(&p));
    CHECK(app_write(5000) == 4000);
    tcp_close(S.app.conn);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 1460);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1460, p.snd_nxt, 1460);
    EXPECT_SEG(TCP_ACK | TCP_FIN, p.server_nxt + 2920, p.snd_nxt, 1080);
    p.server_nxt += 4001;
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p); /* the send buffer empties */
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    CHECK(S.app.writable_calls == 0);
    advance_ms(cfg.time_wait_ms);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.writable_calls == 0 && S.app.closed_calls == 1 && S.app.close_error == 0);
    FINISH();
}

/* tcp_abort: a reset at SND.NXT at once, queued data dropped, and no closed callback. */
static void test_app_abort_sends_reset(void)
{
    struct tcp_config cfg = test_config();
    const struct seen *rst;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 52000, 0xf000, OFFER_ALL);
    CHECK(handshake(&p));
    CHECK(app_write(2000) == 2000);
    run_now();
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 1448);
    EXPECT_SEG(TCP_ACK, p.server_nxt + 1448, p.snd_nxt, 552);
    p.server_nxt += 2000;
    tcp_abort(S.app.conn);
    run_now();
    EXPECT(rst, TCP_RST | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECK(rst->p.wnd == 0);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 0);
    CHECK(stats()->rst_sent == 1);
    CHECK(tcp_engine_frames_held(server()) == 0);
    advance_ms(10000);
    EXPECT_NONE(); /* no retransmission of the dropped data */
    FINISH();
}

/* tcp_close with bytes never read: a reset, so that the peer knows they were lost (RFC 2525 2.17). */
static void test_app_close_with_unread_data_sends_reset(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    S.app.read_all = false;
    peer_init(&p, PKT_IPV4, 52001, 0xf000, OFFER_MSS);
    CHECK(handshake(&p));
    peer_data(&p, 100, 0);
    CHECK(tcp_readable(S.app.conn) == 100);
    tcp_close(S.app.conn);
    run_now();
    EXPECT_SEG(TCP_RST | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(stats()->rst_sent == 1);
    FINISH();
}

/* After an orderly tcp_close, data from the peer can never be read: reset (RFC 9293 3.10.7.4). */
static void test_data_after_close_gets_reset(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 52002, 0xf000, OFFER_MSS);
    CHECK(handshake(&p));
    tcp_close(S.app.conn);
    run_now();
    EXPECT_SEG(TCP_FIN | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    p.server_nxt++;
    CHECK_STATE(&p, TCP_FIN_WAIT_1);
    peer_data(&p, 100, 0);
    EXPECT_SEG(TCP_RST | TCP_ACK, p.server_nxt, p.snd_nxt - 100, 0);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ECONNABORTED);
    EXPECT_NONE();
    FINISH();
}

/* The application refuses a completed handshake: the peer gets a reset. */
static void test_app_refuses_connection(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    S.app.refuse = true;
    peer_init(&p, PKT_IPV4, 52003, 0xf000, OFFER_ALL);
    CHECK(reach_state(&p, TCP_SYN_RECEIVED));
    peer_ack(&p);
    EXPECT_SEG(TCP_RST | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(stats()->conns_refused == 1 && S.app.closed_calls == 0);
    FINISH();
}

/* ---- active opens (tcp_connect, for test peers and tools) ------------------------------------------ */

/* The server opens a connection to p; its SYN must go at once. NULL after recording a failure. */
static struct tcp_conn *server_connects(struct peer *p)
{
    const struct seen *syn;
    struct pkt_tuple t;
    struct pkt_link link;
    struct tcp_conn *c;

    sim_tuple(&S.sim, SIM_SERVER, p->family, p->port, SERVER_PORT, &t, &link);
    c = tcp_connect(server(), &t, &link, &S.app);
    if (!c) {
        check_fail(HERE, "tcp_connect: no connection slot");
        return NULL;
    }
    S.app.conn = c;
    run_now();
    if (!(syn = expect_next(HERE, TCP_SYN, ANY, 0, 0)))
        return NULL;
    p->server_iss = syn->p.seq;
    p->server_nxt = syn->p.seq + 1;
    p->rcv_nxt = syn->p.seq + 1;
    return c;
}

/*
 * tcp_close before the handshake completed: SYN-SENT just deletes the connection (RFC 9293
 * 3.10.4), with no reset and no callback, and no SYN goes again. The peer's SYN-ACK then finds no
 * connection and is reset.
 */
static void test_close_while_connecting_drops_connection(void)
{
    struct tcp_config cfg = test_config();
    struct tcp_conn *c;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 54000, 0x20000, OFFER_MSS);
    CHECK((c = server_connects(&p)) != NULL);
    CHECK(tcp_conn_state(c) == TCP_SYN_SENT);
    tcp_close(c);
    run_now();
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(server()->nconns == 0);
    peer_send(&p, TCP_SYN | TCP_ACK, p.iss, p.rcv_nxt, 0);
    EXPECT_SEG(TCP_RST, p.rcv_nxt, 0, 0);
    advance_ms(60000);
    EXPECT_NONE();
    CHECK(S.app.writable_calls == 0 && S.app.closed_calls == 0);
    FINISH();
}

/* tcp_shutdown before the handshake completed: the FIN goes as soon as it does (FIN-WAIT-1). */
static void test_shutdown_while_connecting_sends_fin_once_established(void)
{
    struct tcp_config cfg = test_config();
    struct tcp_conn *c;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 54001, 0x21000, OFFER_MSS);
    CHECK((c = server_connects(&p)) != NULL);
    tcp_shutdown(c);
    run_now();
    EXPECT_NONE();
    CHECK(tcp_conn_state(c) == TCP_SYN_SENT);
    peer_send(&p, TCP_SYN | TCP_ACK, p.iss, p.rcv_nxt, 0);
    p.snd_nxt = p.iss + 1;
    EXPECT_SEG(TCP_FIN | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    p.server_nxt++;
    CHECK_STATE(&p, TCP_FIN_WAIT_1);
    CHECK(S.app.writable_calls == 1); /* connected */
    p.rcv_nxt = p.server_nxt;
    peer_data(&p, 100, 0);
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    CHECK(peer_sends_fin(&p));
    CHECK_STATE(&p, TCP_TIME_WAIT);
    CHECK(S.app.bytes_read == 100 && S.app.eof);
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    FINISH();
}

/* Both ends open at once (RFC 9293 3.5): the peer's SYN crosses ours and we answer with a SYN-ACK. */
static bool simultaneous_open(struct peer *p)
{
    REQUIRE(server_connects(p) != NULL);
    peer_send(p, TCP_SYN, p->iss, 0, 0);
    p->snd_nxt = p->iss + 1;
    if (!expect_next(HERE, TCP_SYN | TCP_ACK, p->server_iss, p->snd_nxt, 0))
        return false;
    REQUIRE_STATE(p, TCP_SYN_RECEIVED);
    return true;
}

/* A reset then refuses the connection the application opened: it hears ECONNREFUSED (RFC 9293 3.10.7.4). */
static void test_simultaneous_open_reset_refuses(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 54002, 0x22000, OFFER_MSS);
    CHECK(simultaneous_open(&p));
    peer_send(&p, TCP_RST, p.snd_nxt, 0, 0);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ECONNREFUSED);
    CHECK(server()->nhalf_open == 0 && server()->nconns == 0);
    FINISH();
}

/* The peer falls silent: after syn_retries SYN-ACKs the application hears ETIMEDOUT. */
static void test_simultaneous_open_timeout_reported(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.syn_retries = 1;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 54003, 0x23000, OFFER_MSS);
    CHECK(simultaneous_open(&p));
    advance_ms(60000);
    EXPECT_SEG(TCP_SYN | TCP_ACK, p.server_iss, p.snd_nxt, 0);
    EXPECT_NONE();
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == ETIMEDOUT);
    CHECK(stats()->timeouts == 1 && server()->nhalf_open == 0);
    FINISH();
}

/* tcp_close in SYN-RECEIVED: the FIN goes once the handshake completes, and no writable comes. */
static void test_close_in_simultaneous_open_sends_fin_once_established(void)
{
    struct tcp_config cfg = test_config();
    struct peer p;

    cfg.time_wait_ms = 1000;
    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 54004, 0x24000, OFFER_MSS);
    CHECK(simultaneous_open(&p));
    tcp_close(S.app.conn);
    run_now();
    EXPECT_NONE();
    CHECK_STATE(&p, TCP_SYN_RECEIVED);
    peer_ack(&p);
    EXPECT_SEG(TCP_FIN | TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    p.server_nxt++;
    CHECK_STATE(&p, TCP_FIN_WAIT_1);
    CHECK(S.app.writable_calls == 0);
    p.rcv_nxt = p.server_nxt;
    peer_ack(&p);
    CHECK_STATE(&p, TCP_FIN_WAIT_2);
    advance_ms(cfg.time_wait_ms);
    CHECKF(gone(&p), "state %s", state_text(&p));
    CHECK(S.app.closed_calls == 1 && S.app.close_error == 0);
    FINISH();
}

/* ---- damaged frames: dropped, counted, and nothing else ---------------------------------------- */

/* The TCP checksum over a frame built by build_frame, after a test changed its header. */
static void refresh_tcp_checksum(const struct peer *p, uint8_t *frame, uint32_t len)
{
    uint32_t ip_len = p->family == PKT_IPV6 ? PKT_IPV6_LEN : PKT_IPV4_LEN;
    uint8_t *th = frame + PKT_ETH_LEN + ip_len;
    uint32_t tcp_len = len - PKT_ETH_LEN - ip_len;
    uint32_t sum = csum_pseudo(p->tuple.laddr, p->tuple.raddr, p->family == PKT_IPV6 ? 16 : 4, 6, tcp_len);
    uint16_t check;

    th[16] = th[17] = 0;
    check = csum_finish(csum_partial(th, tcp_len, sum));
    th[16] = (uint8_t)(check >> 8);
    th[17] = (uint8_t)check;
}

enum damage {
    DAMAGE_PAYLOAD_BIT,     /* TCP checksum no longer matches */
    DAMAGE_TRUNCATED,       /* the frame is shorter than the IP header says */
    DAMAGE_OFFSET_SHORT,    /* data offset below 5 words */
    DAMAGE_OFFSET_LONG,     /* data offset beyond the segment */
    DAMAGE_OPTION_LENGTH,   /* an MSS option of length 3 */
    DAMAGE_OPTION_OVERRUNS, /* a timestamp option running past the header */
    DAMAGE_IP_CHECKSUM,
};

/* A segment of 100 bytes from the peer at RCV.NXT, damaged; returns its length. */
static uint32_t damaged_frame(const struct peer *p, enum damage d, uint8_t *frame)
{
    uint32_t ip_len = p->family == PKT_IPV6 ? PKT_IPV6_LEN : PKT_IPV4_LEN;
    uint8_t *th = frame + PKT_ETH_LEN + ip_len;
    static const uint8_t bad_mss[] = {2, 3, 5, 1};
    static const uint8_t overrun[] = {1, 1, 8, 10};
    const uint8_t *opts = d == DAMAGE_OPTION_LENGTH ? bad_mss : d == DAMAGE_OPTION_OVERRUNS ? overrun : NULL;
    uint32_t len = build_frame(p, TCP_ACK, p->snd_nxt, p->rcv_nxt, p->wnd, opts, opts ? 4 : 0, 100, frame);

    switch (d) {
    case DAMAGE_PAYLOAD_BIT:
        frame[len - 1] ^= 0x10;
        break;
    case DAMAGE_TRUNCATED:
        len -= 10;
        break;
    case DAMAGE_OFFSET_SHORT:
        th[12] = 4 << 4;
        refresh_tcp_checksum(p, frame, len);
        break;
    case DAMAGE_OFFSET_LONG: /* 60 header bytes claimed, 40 there */
        len = build_frame(p, TCP_ACK, p->snd_nxt, p->rcv_nxt, p->wnd, NULL, 0, 20, frame);
        th[12] = 15 << 4;
        refresh_tcp_checksum(p, frame, len);
        break;
    case DAMAGE_IP_CHECKSUM:
        frame[PKT_ETH_LEN + 10] ^= 0x01;
        break;
    default:
        break;
    }
    return len;
}

/* The damaged frame is dropped with its parse counter, no answer and no change; a good copy is taken. */
static void damaged_case(enum damage d, enum pkt_result result)
{
    struct tcp_config cfg = test_config();
    uint8_t frame[2048];
    uint64_t segs_in, parse_errors;
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 53000, 0x11000, OFFER_MSS);
    CHECK(handshake(&p));
    segs_in = stats()->segs_in;
    parse_errors = stats()->parse_errors;
    inject(frame, damaged_frame(&p, d, frame));
    advance_ms(1000);
    EXPECT_NONE();
    CHECKF(stats()->parse[result] == 1, "parse[%d] = %llu", result,
           (unsigned long long)stats()->parse[result]);
    CHECK(stats()->parse_errors == parse_errors + 1 && stats()->segs_in == segs_in);
    CHECK(S.app.bytes_read == 0 && S.app.readable_calls == 0);
    CHECK_STATE(&p, TCP_ESTABLISHED);
    CHECK(frames_accounted());
    peer_data(&p, 100, 0);
    CHECK(S.app.bytes_read == 100);
    advance_ms(cfg.delack_ms);
    EXPECT_SEG(TCP_ACK, p.server_nxt, p.snd_nxt, 0);
    FINISH();
}

static void test_bad_tcp_checksum_dropped(void)
{
    damaged_case(DAMAGE_PAYLOAD_BIT, PKT_BAD_TCP_CSUM);
}

static void test_bad_ip_checksum_dropped(void)
{
    damaged_case(DAMAGE_IP_CHECKSUM, PKT_BAD_IP_CSUM);
}

static void test_truncated_frame_dropped(void)
{
    damaged_case(DAMAGE_TRUNCATED, PKT_TRUNCATED);
}

static void test_short_data_offset_dropped(void)
{
    damaged_case(DAMAGE_OFFSET_SHORT, PKT_BAD_HEADER);
}

static void test_long_data_offset_dropped(void)
{
    damaged_case(DAMAGE_OFFSET_LONG, PKT_BAD_HEADER);
}

static void test_bad_option_length_dropped(void)
{
    damaged_case(DAMAGE_OPTION_LENGTH, PKT_BAD_OPTIONS);
}

static void test_option_overrunning_header_dropped(void)
{
    damaged_case(DAMAGE_OPTION_OVERRUNS, PKT_BAD_OPTIONS);
}

/* A SYN with malformed options opens nothing and is not answered. */
static void test_syn_with_malformed_options_dropped(void)
{
    struct tcp_config cfg = test_config();
    static const uint8_t opts[] = {2, 4, 5, 0xb4, 3, 0, 1, 1}; /* MSS, then a window scale of length 0 */
    uint8_t frame[2048];
    struct peer p;

    CHECK(script_init(&cfg));
    peer_init(&p, PKT_IPV4, 53001, 0x12000, 0);
    inject(frame, build_frame(&p, TCP_SYN, p.iss, 0, 65535, opts, sizeof(opts), 0, frame));
    advance_ms(5000);
    EXPECT_NONE();
    CHECK(stats()->parse[PKT_BAD_OPTIONS] == 1 && stats()->segs_in == 0);
    CHECK(server()->nconns == 0);
    FINISH();
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
#define T(fn) CHECK_CASE(fn)
        T(test_handshake_no_options),
        T(test_handshake_mss_only),
        T(test_handshake_mss_window_scale),
        T(test_handshake_mss_sack_permitted),
        T(test_handshake_mss_timestamps),
        T(test_handshake_all_options_ipv4),
        T(test_handshake_all_options_ipv6),
        T(test_handshake_no_options_ipv6),
        T(test_handshake_peer_mss_smaller),
        T(test_handshake_tiny_mss_floored),
        T(test_handshake_window_scale_above_14),
        T(test_cookie_ack_opens_established),
        T(test_cookie_ack_without_timestamps),
        T(test_cookie_ack_invalid_opens_nothing),
        T(test_duplicate_syn_gets_synack_again),
        T(test_synack_retransmission_backs_off),
        T(test_half_open_dropped_after_syn_retries),
        T(test_full_half_open_table_evicts_the_oldest),
        T(test_handshake_bad_ack_gets_reset),
        T(test_no_connection_ack_gets_reset_at_its_ack),
        T(test_no_connection_without_ack_gets_reset_ack),
        T(test_syn_to_closed_port_gets_reset_ack),
        T(test_no_connection_reset_ignored),
        T(test_rst_exact_closes_in_every_state),
        T(test_rst_in_window_challenged_in_every_state),
        T(test_rst_out_of_window_ignored_in_every_state),
        T(test_fin_close_wait_last_ack_closed),
        T(test_server_closes_first_to_time_wait),
        T(test_close_in_fin_wait_2_times_out),
        T(test_simultaneous_close_through_closing),
        T(test_fin_ack_in_fin_wait_1_to_time_wait),
        T(test_time_wait_ends_after_time_wait_ms),
        T(test_time_wait_fin_retransmission_restarts_2msl),
        T(test_out_of_order_fin_held_until_gap_fills),
        T(test_out_of_order_bare_fin_held),
        T(test_data_beyond_fin_discarded),
        T(test_zero_window_persist_probes_back_off),
        T(test_zero_window_reopening_lets_data_flow),
        T(test_zero_window_unanswered_probes_abort),
        T(test_receive_window_closes_and_reopens),
        T(test_peer_window_scale_14_full_window),
        T(test_advertised_right_edge_never_shrinks),
        T(test_paws_rejects_old_timestamp),
        T(test_paws_exempts_reset),
        T(test_syn_in_established_gets_challenge_ack),
        T(test_ack_of_unsent_data_dropped),
        T(test_challenge_ack_rate_limit),
        T(test_rto_backs_off_then_aborts),
        T(test_rto_bounded_by_min_and_max),
        T(test_fast_retransmit_after_three_dupacks),
        T(test_fast_retransmit_with_sack_resends_holes),
        T(test_tail_loss_probe_then_rack),
        T(test_tail_loss_probe_then_rack_cubic),
        T(test_sack_blocks_with_timestamps),
        T(test_sack_blocks_without_timestamps),
        T(test_sack_blocks_never_push_data_past_mtu),
        T(test_delayed_ack_single_segment),
        T(test_two_full_segments_acked_at_once),
        T(test_delayed_ack_rides_on_response),
        T(test_time_wait_reuse_by_sequence),
        T(test_time_wait_reuse_by_timestamp),
        T(test_time_wait_frees_the_slot),
        T(test_time_wait_entry_answers),
        T(test_time_wait_full_drops_oldest),
        T(test_time_wait_none_kept),
        T(test_keepalive_unanswered_aborts),
        T(test_keepalive_answered_keeps_connection),
        T(test_keepalive_in_fin_wait_2_waits_for_fin),
        T(test_app_abort_sends_reset),
        T(test_app_close_with_unread_data_sends_reset),
        T(test_data_after_close_gets_reset),
        T(test_app_refuses_connection),
        T(test_no_writable_after_close),
        T(test_close_while_connecting_drops_connection),
        T(test_shutdown_while_connecting_sends_fin_once_established),
        T(test_simultaneous_open_reset_refuses),
        T(test_simultaneous_open_timeout_reported),
        T(test_close_in_simultaneous_open_sends_fin_once_established),
        T(test_bad_tcp_checksum_dropped),
        T(test_bad_ip_checksum_dropped),
        T(test_truncated_frame_dropped),
        T(test_short_data_offset_dropped),
        T(test_long_data_offset_dropped),
        T(test_bad_option_length_dropped),
        T(test_option_overrunning_header_dropped),
        T(test_syn_with_malformed_options_dropped),
#undef T
    };
    int status = check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);

    script_destroy();
    return status;
}
