/*
 * tcp_fuzz.c — libFuzzer target for the TCP engine (server/net/tcp_*.c and what they call).
 *
 * Each input is a small program run against a server engine listening on port 80 (and its
 * neighbour, below), over a small frame pool, with the harness as the scripted peer(s) and the
 * application. After a header of configuration bytes, records say: advance time; deliver a segment
 * built from fields (flags, sequence and acknowledgment numbers relative to what the engine
 * expects or absolute, window, options, payload length) so that every state is reachable with
 * valid-looking numbers; deliver raw bytes as a frame (optionally with repaired checksums); or let
 * the application read, write, shut down, close, abort or open a connection. The harness reads
 * every segment the engine emits to learn what it expects next, as a peer would.
 *
 * A second engine, the worker next door, shares the frame pool (with its own frame_cache) for the
 * hand-off (tcp.h, "steering"): the harness plays the steering program with a flow table per
 * client tuple (which engine gets the tuple's frames, and the route once decided), delivers frames
 * through tcp_input_steered, forwards FOREIGN frames and exports MOVABLE connections into a FIFO
 * towards the other engine, whose messages the program delivers (imports) when it chooses. Until
 * a program steers a tuple its frames go through plain tcp_input to engine 0, so programs written
 * before the hand-off run as they did.
 *
 * It aborts (a crash for libFuzzer) when the engine breaks a promise:
 *   - frames: each one is free, or held by exactly one connection queue, or lent to TX, and
 *     frames in use == tcp_engine_frames_held + frames in TX not held; all back after destroy;
 *   - queues agree with the counters and sequence numbers (white-box, through tcp_conn.h);
 *   - every emitted frame parses, fits the MTU, and carries the bytes the application wrote;
 *   - the application reads exactly the bytes the peer sent, in order;
 *   - callbacks keep the API contract (no event for a connection the application let go, and a
 *     connection the application holds is never freed without a closed call);
 *   - once the application has closed everything and the peer is silent, every connection ends,
 *     and so does every TIME-WAIT entry (whose FIFO, hash and free list stay consistent);
 *   - hand-off: frames are accounted for over both engines and the messages in transit; no tuple
 *     lives in both engines (or in one and in transit); the application never hears of a held
 *     connection, and one accepted after a move reads its stream from the first byte; at the end
 *     everything in transit is delivered, everything held placed, and every frame comes back.
 * Nothing survives an input: the world is reset at the start and destroyed at the end.
 *
 * Seed corpus: TCP_FUZZ_WRITE_SEEDS=DIR tcp_fuzz  writes the seed programs of write_seeds() to DIR
 * and exits; tests/fuzz/corpus/tcp/ holds their output plus regress_* reproducers of engine
 * problems found (minimised with -minimize_crash=1). The record format is defined once, here.
 * TCP_FUZZ_TRACE=1 prints what a single input does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net/checksum.h"
#include "net/frame.h"
#include "net/packet.h"
#include "net/tcp.h"
#include "net/tcp_conn.h" /* white-box invariants over the connection slab */

#define FUZZ_FRAME_SIZE 2048
#define SERVER_PORT     80
#define OTHER_PORT      81 /* nobody listens: segments to it are answered with resets */
#define NPEERS          4  /* scripted client tuples: 0, 1 IPv4, 2 IPv6, 3 IPv4 over 802.1Q */
#define NAPPS           8  /* application slots: one per peer tuple, then tuples made up by raw frames */
#define MAX_FRAMES      512
#define MAX_CONNS       8
#define MAX_PENDING_TX  (MAX_FRAMES * 2)
#define NENGINES        2            /* the engine, and the worker next door for hand-offs */
#define NFLOWS          (NPEERS * 2) /* the steering program's flow table: each peer to SERVER_PORT, OTHER_PORT */
/*
 * Messages in transit between the engines, per direction: a ring between workers. Forwarded frames
 * beyond FIFO_FRAMES are dropped as a full ring drops them (TCP recovers); exported TCBs always
 * fit, since a flow has at most one connection and so at most NFLOWS TCBs are ever in transit.
 */
#define FIFO_FRAMES 8
#define FIFO_MAX    (FIFO_FRAMES + NFLOWS)

/* ---- the input format ---------------------------------------------------------------------------- */

/*
 * Header: four configuration bytes (missing bytes read as 0).
 *   cfg0: bit0 timestamps, bit1 SACK, bit2 window scaling, bit3 Nagle, bit4 keepalive,
 *         bit5 TX completions one flush late, bits6-7 rcv_buf {4K, 16K, 64K, 256K}
 *   cfg1: bits0-1 accept policy, bits2-3 readable policy, bit4 writable callback writes,
 *         bits5-6 tx_max {1024, 16, 3, 1}, bit7 MTU 576 instead of 1500
 *   cfg2: bits0-1 frames {128, 48, 16, 512}, bits2-3 snd_buf {4K, 16K, 64K, 256K},
 *         bits4-5 max_conns {4, 2, 1, 8}, bit6 one half-open connection at most,
 *         bit7 start the clock 3 s before the 32-bit microsecond clock wraps
 *   cfg3: bits0-1 ooo_max_frames {256, 4, 1, 0}, bits2-3 peer ISN base, bits4-5 timer profile,
 *         bit6 one challenge ACK per second, bit7 initial cwnd of 1
 * Records: one op byte, low nibble the operation, high nibble its argument; bit 3 of the argument
 * (BATCH) means "more of this batch follows": no flush after this record.
 */
enum fuzz_op {
    OP_TIME = 0,     /* arg&4: to the engine's next deadline; else arg&3 scale {1, 10, 1000, 60000} ms, u16 */
    OP_SEGMENT = 1,  /* arg&3 peer, arg&4 to OTHER_PORT; fields below */
    OP_RAW = 2,      /* arg&1 repair checksums, arg&6 RX offset; u16 len, bytes */
    OP_READ = 3,     /* arg&7 app; u16 bytes (0xffff: all) */
    OP_WRITE = 4,    /* arg&7 app; u16 bytes; the write mode byte */
    OP_SHUTDOWN = 5, /* arg&7 app */
    OP_CLOSE = 6,    /* arg&7 app */
    OP_ABORT = 7,    /* arg&7 app */
    OP_FLUSH = 8,    /* end the batch */
    OP_CONNECT = 9,  /* arg&3 peer: the engine opens a connection to it */
    OP_TX_DONE = 10, /* complete every TX still pending; arg&7: TX ring room per flush from now (0: all) */
    OP_STEERED = 11, /* a segment through the steering program: arg as OP_SEGMENT; u8 route; fields */
    OP_EXPORT = 12,  /* export the MOVABLE connections of this batch now (the flush does it otherwise) */
    OP_DELIVER = 13, /* arg&1 to engine, arg&2 all its messages (else one), arg&4 everything both ways */
    OP_MAP = 14,     /* arg&3 peer, arg&4 its tuple to OTHER_PORT; u8 map change, below */
    OP_PLACE = 15,   /* arg&3 peer, arg&4 engine 1: tcp_conn_place on its connection there, if held */
    OP_COUNT,
};
#define ARG_BATCH 0x8

/*
 * The hand-off (ops 11..15). A flow (client tuple) starts unsteered, its frames to engine 0 by
 * plain tcp_input; the first OP_STEERED record for it makes every later frame of it (OP_SEGMENT,
 * OP_RAW with its tuple) go through tcp_input_steered at the flow's owner, as the XDP program sends
 * them: TCP_STEER_HOLD until the route is decided, then PLACED when it names the owner, MOVE when
 * it names the other engine. A MOVE that finds no connection (FOREIGN) is forwarded into the FIFO
 * towards the other engine; a MOVABLE connection is exported into it by OP_EXPORT or, at the
 * latest, before its engine's flush. OP_DELIVER hands messages to their engine: tcp_engine_begin
 * at the current time, then tcp_conn_import, or tcp_input_steered(PLACED) for a forwarded frame.
 * OP_MAP, as the importing worker updating the XDP map, makes the owner follow the route once the
 * connection has left the old owner and is no longer in transit.
 *
 * OP_STEERED route byte: bits0-1 {0 no decision yet, 1 this engine, 2 the other engine, 3 none}:
 * taken only while the flow is undecided (the steering program decides once per flow), unless bit2
 * (ROUTE_AGAIN: the routes changed) and nothing of the flow is in transit or at the non-owner, so
 * that a connection imported and not yet accepted can be routed away again.
 * OP_MAP byte: bit0 forget the flow (only when no connection of its tuple exists anywhere: the
 * entry expired), bit1 the engine that owns it from then on; without bit0, the move completes.
 */
enum route_choice { ROUTE_NONE, ROUTE_HERE, ROUTE_THERE, ROUTE_AGAIN = 4 };
enum map_change { MAP_FORGET = 1, MAP_OWNER_1 = 2 };

/*
 * OP_SEGMENT fields: u8 TCP flags; u8 numbering (bits0-1 seq mode, bits2-3 ack mode, bits4-5 RX
 * offset {0, 2, 64, 256}); seq (i16, or u32 in mode 2); ack (the same); u16 window; u8 option
 * mask with its fields; u16 payload length (cut to what fits in a frame).
 * Seq modes: 0 what the engine last acknowledged + i16, 1 the peer's own next sequence + i16,
 * 2 absolute u32, 3 mode 0 + i16 * 1024. Ack modes: 0 the end of what the engine sent + i16,
 * 1 the same - i16 * 1024, 2 absolute u32, 3 the engine's ISN + i16.
 * Option mask: bit0 MSS (u16), bit1 SACK-permitted, bit2 window scale (u8), bit3 timestamps (i16
 * added to the peer's clock), bit4 SACK blocks (u8 count-1, then per block u16 back from the end
 * of what the engine sent and u16 length), bit5 raw option bytes (u8 length, bytes).
 */
enum seq_mode { SEQ_EXPECTED, SEQ_OWN, SEQ_ABSOLUTE, SEQ_EXPECTED_FAR };
enum ack_mode { ACK_SENT_END, ACK_SENT_END_FAR_BACK, ACK_ABSOLUTE, ACK_FROM_ISS };
enum opt_bit {
    OPT_B_MSS = 1,
    OPT_B_SACK_PERM = 2,
    OPT_B_WS = 4,
    OPT_B_TS = 8,
    OPT_B_SACK = 16,
    OPT_B_RAW = 32
};

/* OP_WRITE mode byte: bit0 zero-copy (reserve/commit), bit1 commit only part of the room. */
enum write_mode { WRITE_ZERO_COPY = 1, WRITE_PARTIAL_COMMIT = 2 };

enum accept_policy { ACCEPT_PLAIN, ACCEPT_AND_WRITE, ACCEPT_REFUSE, ACCEPT_AND_CLOSE };
enum readable_policy { READABLE_IGNORE, READABLE_READ_ALL, READABLE_READ_CLOSE_AT_EOF, READABLE_READ_SOME };

/* ---- the world of one input ---------------------------------------------------------------------- */

/* A scripted client. Tuples and links are seen from the client's side (l = client). */
struct peer {
    struct pkt_tuple tuple;
    struct pkt_link link;
    struct pkt_tuple server_tuple; /* the same connection as the engine names it */
    struct pkt_link server_link;
    uint32_t snd_nxt;    /* the peer's next sequence number */
    uint32_t engine_ack; /* what the engine acknowledged last: the sequence it expects */
    bool engine_ack_valid;
    uint32_t engine_iss;   /* the engine's SYN */
    uint32_t engine_end;   /* end of the highest sequence the engine sent */
    uint32_t engine_tsval; /* the engine's latest timestamp, echoed back */
    uint32_t ts_base;
};

struct app_conn {
    struct tcp_conn *conn;    /* NULL: the application holds no connection in this slot */
    struct tcp_conn *closing; /* let go by tcp_close: a closed call may still come for it */
    uint64_t read_pos;        /* bytes consumed: the next byte's offset in the peer's stream */
    uint64_t written;         /* bytes written: the next byte's offset in our stream */
    uint64_t to_write;        /* bytes the application still wants to send */
    bool connecting;          /* opened with tcp_connect, writable ("connected") not called yet */
    bool shut;                /* tcp_shutdown called: reading goes on */
};

/* The steering program's entry for one client tuple (the XDP flow map, as the harness plays it). */
struct flow {
    bool steered;   /* an OP_STEERED record named it: its frames take the steered path from now */
    bool decided;   /* the route is known: target */
    uint8_t owner;  /* the engine its frames are delivered to */
    uint8_t target; /* the engine the route names (== owner until decided) */
};

/* A message between workers: an exported connection, or a frame forwarded after its connection left. */
struct handoff_msg {
    bool is_tcb;
    struct tcp_handoff h;
    uint32_t frame, off, len; /* a forwarded frame */
    int flow;                 /* a forwarded frame's flow: the entry cannot expire while it travels */
};

struct transit {
    struct handoff_msg msg[FIFO_MAX];
    uint32_t head, n, nframes;
};

struct world {
    struct frame_pool pool;
    struct frame_cache cache[NENGINES]; /* one per worker, over the one pool */
    struct tcp_engine engine[NENGINES];
    struct tcp_config cfg;
    uint8_t *area;
    uint64_t now_ns;
    enum accept_policy accept_policy;
    enum readable_policy readable_policy;
    bool writable_writes;
    bool tx_late;              /* TX completions arrive after the following flush, as a busy NIC's would */
    uint32_t tx_ring_room;     /* entries of e->tx the "ring" takes per flush (0: all); the rest wait */
    bool payload_trusted;      /* false once a raw frame with repaired checksums may carry any bytes */
    bool draining;             /* the application is shutting down: refuse new connections */
    bool batch_open[NENGINES]; /* input or calls since the last flush: tcp.h wants a flush before begin */
    bool two_workers;          /* a hand-off record came: engine 1 may take part (see flush) */
    uint32_t pending_tx[MAX_PENDING_TX];
    uint8_t pending_engine[MAX_PENDING_TX]; /* whose TX ring: its worker drains the completion */
    uint32_t npending;
    struct peer peers[NPEERS];
    struct app_conn apps[NAPPS];
    struct flow flows[NFLOWS];
    struct transit transit[NENGINES];              /* towards engine i */
    struct tcp_conn *movable[NENGINES][MAX_CONNS]; /* MOVABLE in this batch, to export before the flush */
    uint32_t nmovable[NENGINES];
};

static struct world world;

/* TCP_FUZZ_TRACE=1: print every record, segment and connection state (to read a reproducer). */
static bool trace;

/* TCP_FUZZ_NO_DRAIN=1: skip the final drain (to look at a reproducer's end state). */
static bool no_drain;

/* ---- failing loudly ------------------------------------------------------------------------------ */

static void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tcp_fuzz: %s:%d: invariant broken: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FUZZ_CHECK(cond, ...)                                                                                \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                               \
    } while (0)

/* ---- reading the program ------------------------------------------------------------------------- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take8(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint16_t take16(struct input *in)
{
    uint16_t hi = take8(in);

    return (uint16_t)(hi << 8 | take8(in));
}

static uint32_t take32(struct input *in)
{
    uint32_t hi = take16(in);

    return hi << 16 | take16(in);
}

/* ---- bytes both sides can check ------------------------------------------------------------------ */

/* Payload is a function of its sequence number alone, so overlapping and repeated segments agree. */
static uint8_t peer_byte(uint32_t seq)
{
    return (uint8_t)((seq * 2654435761u) >> 24);
}

static uint8_t app_byte(uint32_t seq)
{
    return (uint8_t)((seq * 2246822519u) >> 16) ^ 0x5a;
}

/* ---- set-up -------------------------------------------------------------------------------------- */

static const uint8_t server_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t server_ip4[4] = {10, 0, 0, 1};
static const uint8_t client_ip4[4] = {10, 0, 0, 2};
static const uint8_t server_ip6[16] = {0xfd, [15] = 1};
static const uint8_t client_ip6[16] = {0xfd, [15] = 2};

static void peer_init(struct peer *pr, int index, uint32_t isn_base)
{
    bool v6 = index == 2;
    int alen = v6 ? 16 : 4;

    memset(pr, 0, sizeof(*pr));
    pr->tuple.family = v6 ? PKT_IPV6 : PKT_IPV4;
    memcpy(pr->tuple.laddr, v6 ? client_ip6 : client_ip4, alen);
    memcpy(pr->tuple.raddr, v6 ? server_ip6 : server_ip4, alen);
    pr->tuple.lport = (uint16_t)(1000 + index);
    pr->tuple.rport = SERVER_PORT;
    memcpy(pr->link.lmac, client_mac, 6);
    memcpy(pr->link.rmac, server_mac, 6);
    if (index == 3) {
        pr->link.vlan_proto = 0x8100;
        pr->link.vlan_tci = 7;
    }
    pr->server_tuple = pr->tuple;
    memcpy(pr->server_tuple.laddr, pr->tuple.raddr, 16);
    memcpy(pr->server_tuple.raddr, pr->tuple.laddr, 16);
    pr->server_tuple.lport = pr->tuple.rport;
    pr->server_tuple.rport = pr->tuple.lport;
    pr->server_link = pr->link;
    memcpy(pr->server_link.lmac, server_mac, 6);
    memcpy(pr->server_link.rmac, client_mac, 6);
    pr->snd_nxt = isn_base + (uint32_t)index * 0x10000000u;
    pr->ts_base = 0x10000u * (uint32_t)(index + 1);
}

static void configure(struct world *w, struct input *in, uint32_t *nframes, uint32_t *isn_base)
{
    static const uint32_t bufs[4] = {4096, 16384, 65536, 262144};
    static const uint32_t tx_max[4] = {1024, 16, 3, 1};
    static const uint32_t frames[4] = {128, 48, 16, MAX_FRAMES};
    static const uint32_t conns[4] = {4, 2, 1, MAX_CONNS};
    static const uint32_t ooo[4] = {256, 4, 1, 0};
    static const uint32_t isns[4] = {0x1000, 0x7ffffff0u, 0xfffffff0u, 0x9e3779b9u};
    uint8_t c0 = take8(in), c1 = take8(in), c2 = take8(in), c3 = take8(in);
    struct tcp_config *cfg = &w->cfg;

    tcp_config_default(cfg);
    cfg->timestamps = c0 & 1;
    cfg->sack = c0 & 2;
    cfg->window_scaling = c0 & 4;
    cfg->nagle = c0 & 8;
    if (c0 & 16) {
        cfg->keepalive_idle_ms = 2000;
        cfg->keepalive_intvl_ms = 500;
        cfg->keepalive_probes = 3;
    }
    w->tx_late = c0 & 32;
    cfg->rcv_buf = bufs[c0 >> 6];
    w->accept_policy = (enum accept_policy)(c1 & 3);
    w->readable_policy = (enum readable_policy)((c1 >> 2) & 3);
    w->writable_writes = c1 & 16;
    cfg->tx_max = tx_max[(c1 >> 5) & 3];
    cfg->mtu = (c1 & 128) ? 576 : 1500;
    *nframes = frames[c2 & 3];
    cfg->snd_buf = bufs[(c2 >> 2) & 3];
    cfg->max_conns = conns[(c2 >> 4) & 3];
    cfg->max_half_open = (c2 & 64) ? 1 : cfg->max_conns;
    cfg->max_time_wait = cfg->max_conns; /* a few closes fill it: dropping the oldest is exercised too */
    w->now_ns = (c2 & 128) ? ((1ull << 32) - 3000000) * 1000 : 1000000000ull;
    cfg->ooo_max_frames = ooo[c3 & 3];
    *isn_base = isns[(c3 >> 2) & 3];
    switch ((c3 >> 4) & 3) {
    case 1: /* fast timers: retransmissions and TIME-WAIT within a few OP_TIME records */
        cfg->rto_initial_ms = 10;
        cfg->rto_min_ms = 1;
        cfg->rto_max_ms = 100;
        cfg->delack_ms = 1;
        cfg->time_wait_ms = 100;
        cfg->syn_retries = 2;
        cfg->data_retries = 3;
        break;
    case 2: /* patient */
        cfg->syn_retries = 0;
        cfg->data_retries = 1;
        cfg->time_wait_ms = 1;
        break;
    case 3:
        cfg->rto_min_ms = 1000;
        cfg->delack_ms = 500;
        break;
    default:
        break;
    }
    cfg->challenge_ack_limit = (c3 & 64) ? 1 : 1000;
    cfg->initial_cwnd = (c3 & 128) ? 1 : 10;
}

static const struct tcp_callbacks callbacks;

static void world_init(struct world *w, struct input *in)
{
    uint32_t nframes, isn_base;

    memset(w, 0, sizeof(*w));
    w->payload_trusted = true;
    configure(w, in, &nframes, &isn_base);
    /* a heap area, not frame_pool_init's mmap, so that ASan sees an access past the last frame */
    w->area = malloc((size_t)FUZZ_FRAME_SIZE * nframes);
    FUZZ_CHECK(w->area != NULL, "out of memory");
    memset(w->area, 0, (size_t)FUZZ_FRAME_SIZE * nframes);
    FUZZ_CHECK(frame_pool_init(&w->pool, w->area, FUZZ_FRAME_SIZE, nframes) == 0, "frame_pool_init: %s",
               strerror(errno));
    for (int i = 0; i < NENGINES; i++) {
        frame_cache_init(&w->cache[i], &w->pool);
        FUZZ_CHECK(tcp_engine_init(&w->engine[i], &w->cfg, &w->cache[i], &callbacks, w, w->now_ns) == 0,
                   "tcp_engine_init: %s", strerror(errno));
        tcp_listen(&w->engine[i], SERVER_PORT); /* every worker listens: a SYN may be steered anywhere */
    }
    for (int i = 0; i < NPEERS; i++)
        peer_init(&w->peers[i], i, isn_base);
}

static int engine_index(const struct world *w, const struct tcp_engine *e)
{
    FUZZ_CHECK(e == &w->engine[0] || e == &w->engine[1], "a connection of an engine outside the world (%p)",
               (const void *)e);
    return e == &w->engine[1];
}

/* The flow of a tuple as the engine names it (laddr = server), or NULL: not a peer's. */
static struct flow *flow_of(struct world *w, const struct pkt_tuple *t)
{
    for (int i = 0; i < NPEERS; i++) {
        struct pkt_tuple other = w->peers[i].server_tuple;

        other.lport = OTHER_PORT;
        if (!memcmp(&w->peers[i].server_tuple, t, sizeof(*t)))
            return &w->flows[i * 2];
        if (!memcmp(&other, t, sizeof(*t)))
            return &w->flows[i * 2 + 1];
    }
    return NULL;
}

static struct pkt_tuple flow_tuple(const struct world *w, const struct flow *f)
{
    int i = (int)(f - w->flows);
    struct pkt_tuple t = w->peers[i / 2].server_tuple;

    if (i % 2)
        t.lport = OTHER_PORT;
    return t;
}

/* The user pointer of the application's connection in slot: the slot, never a pointer to free. */
static void *app_token(int slot)
{
    return (void *)(uintptr_t)(slot + 1);
}

/* ---- invariants ---------------------------------------------------------------------------------- */

static uint32_t frames_in_use(struct world *w)
{
    return w->pool.nframes - frame_pool_free_count(&w->pool) - w->cache[0].nfree - w->cache[1].nfree;
}

/* Walk one queue: count, bytes, bounds, ownership; mark each frame so none is in two places. */
static uint32_t check_queue(struct world *w, const struct tcp_conn *c, const struct frame_queue *q,
                            const char *name, uint8_t *where, uint64_t *bytes, uint32_t *first_seq,
                            uint32_t *end_seq)
{
    uint32_t n = 0, f = q->count ? q->head : FRAME_NONE, expect_seq = 0;

    *bytes = 0;
    for (; f != FRAME_NONE; f = frame_meta(&w->pool, f)->next) {
        const struct frame_meta *m = frame_meta(&w->pool, f);

        FUZZ_CHECK(f < w->pool.nframes, "conn %u %s: frame index %u out of range", c->index, name, f);
        FUZZ_CHECK(!where[f], "conn %u %s: frame %u also in another queue (%u)", c->index, name, f, where[f]);
        where[f] = 1;
        FUZZ_CHECK(atomic_load(&m->owner) & FRAME_OWN_HELD, "conn %u %s: frame %u not owned HELD", c->index,
                   name, f);
        FUZZ_CHECK((uint32_t)m->off + m->len <= w->pool.frame_size, "conn %u %s: frame %u off %u len %u",
                   c->index, name, f, m->off, m->len);
        if (n && q == &c->ooo) {
            FUZZ_CHECK(seq_geq(m->seq, expect_seq),
                       "conn %u ooo: frame %u seq %u overlaps the one before (end %u)", c->index, f, m->seq,
                       expect_seq);
        } else if (n) {
            FUZZ_CHECK(m->seq == expect_seq, "conn %u %s: frame %u seq %u, the one before ends at %u",
                       c->index, name, f, m->seq, expect_seq);
        } else {
            *first_seq = m->seq;
        }
        expect_seq = m->seq + m->len;
        *bytes += m->len;
        n++;
        FUZZ_CHECK(n <= q->count, "conn %u %s: more frames linked than its count %u", c->index, name,
                   q->count);
        if (f == q->tail)
            break;
    }
    FUZZ_CHECK(n == q->count, "conn %u %s: %u frames linked, count says %u", c->index, name, n, q->count);
    FUZZ_CHECK(!n || f == q->tail, "conn %u %s: the walk did not end at the tail", c->index, name);
    *end_seq = expect_seq;
    return n;
}

static void check_conn(struct world *w, struct tcp_engine *e, const struct tcp_conn *c, uint8_t *where)
{
    uint64_t bytes;
    uint32_t first = 0, end = 0;
    bool synced = c->state >= TCP_ESTABLISHED;

    check_queue(w, c, &c->rcvq, "rcvq", where, &bytes, &first, &end);
    FUZZ_CHECK(bytes == c->rcv_queued, "conn %u: rcvq holds %llu bytes, rcv_queued %u", c->index,
               (unsigned long long)bytes, c->rcv_queued);
    if (c->rcvq.count) {
        uint32_t rcv_data_end = c->rcv_nxt - ((c->flags & CONN_F_FIN_RCVD) ? 1 : 0);

        FUZZ_CHECK(end == rcv_data_end, "conn %u (%s): rcvq ends at %u, rcv_nxt %u", c->index,
                   tcp_state_name(c->state), end, c->rcv_nxt);
    }
    check_queue(w, c, &c->ooo, "ooo", where, &bytes, &first, &end);
    FUZZ_CHECK(c->ooo.count <= w->cfg.ooo_max_frames, "conn %u: %u out-of-order frames, budget %u", c->index,
               c->ooo.count, w->cfg.ooo_max_frames);
    if (c->ooo.count)
        FUZZ_CHECK(seq_gt(first, c->rcv_nxt), "conn %u (%s): out-of-order queue starts at %u, rcv_nxt %u",
                   c->index, tcp_state_name(c->state), first, c->rcv_nxt);
    check_queue(w, c, &c->sndq, "sndq", where, &bytes, &first, &end);
    FUZZ_CHECK(bytes == c->snd_queued, "conn %u: sndq holds %llu bytes, snd_queued %u", c->index,
               (unsigned long long)bytes, c->snd_queued);
    FUZZ_CHECK(c->snd_queued <= w->cfg.snd_buf, "conn %u: %u bytes queued to send, snd_buf %u", c->index,
               c->snd_queued, w->cfg.snd_buf);
    if (c->sndq.count) {
        FUZZ_CHECK(end == c->snd_end, "conn %u (%s): sndq ends at %u, snd_end %u", c->index,
                   tcp_state_name(c->state), end, c->snd_end);
        FUZZ_CHECK(first == c->snd_una, "conn %u (%s): sndq starts at %u, snd_una %u", c->index,
                   tcp_state_name(c->state), first, c->snd_una);
    }
    if (synced) {
        FUZZ_CHECK(seq_leq(c->snd_una, c->snd_nxt) && seq_leq(c->snd_nxt, c->snd_max) &&
                       seq_leq(c->snd_max, c->snd_end + 1),
                   "conn %u (%s): una %u nxt %u max %u end %u out of order", c->index,
                   tcp_state_name(c->state), c->snd_una, c->snd_nxt, c->snd_max, c->snd_end);
    }
    if (!e)
        return; /* a TCB in transit: in no engine's table, no timer armed */
    FUZZ_CHECK(tcp_conn_lookup(e, &c->tuple) == c, "conn %u (%s) not found by its own tuple", c->index,
               tcp_state_name(c->state));
    {
        bool any_deadline = false;

        for (int i = 0; i < TIMER_COUNT; i++)
            any_deadline |= c->deadline_ms[i] != 0;
        FUZZ_CHECK(!any_deadline || timer_armed(&c->timer),
                   "conn %u (%s): a deadline is set, the timer is not", c->index, tcp_state_name(c->state));
    }
}

static bool frame_pending_tx(const struct world *w, uint32_t frame)
{
    for (uint32_t i = 0; i < w->npending; i++)
        if (w->pending_tx[i] == frame)
            return true;
    for (int k = 0; k < NENGINES; k++)
        for (uint32_t i = 0; i < w->engine[k].ntx; i++)
            if (w->engine[k].tx[i].frame == frame)
                return true;
    return false;
}

/*
 * The dirty and retry lists: no cycle, no freed slot, and every connection flagged as on a list is
 * on it (a flagged connection missing from its list is never served again).
 */
static void check_lists(struct tcp_engine *e)
{
    static const struct {
        const char *name;
        size_t head;
        uint16_t flag;
    } lists[2] = {{"dirty", offsetof(struct tcp_engine, dirty), CONN_F_DIRTY},
                  {"retry", offsetof(struct tcp_engine, retry), CONN_F_RETRY}};

    for (int l = 0; l < 2; l++) {
        uint8_t on_list[MAX_CONNS] = {0};
        uint32_t n = 0;

        for (const struct tcp_conn *c = *(struct tcp_conn **)((char *)e + lists[l].head); c;
             c = c->list_next) {
            FUZZ_CHECK(++n <= e->cfg.max_conns, "the %s list has a cycle", lists[l].name);
            FUZZ_CHECK(!on_list[c->index], "connection %u twice on the %s list", c->index, lists[l].name);
            FUZZ_CHECK(c->state != TCP_CLOSED || (c->flags & CONN_F_ZOMBIE),
                       "connection slot %u is free but still on the %s list", c->index, lists[l].name);
            FUZZ_CHECK(c->flags & lists[l].flag, "connection %u on the %s list without its flag", c->index,
                       lists[l].name);
            on_list[c->index] = 1;
        }
        for (uint32_t i = 0; i < e->cfg.max_conns; i++)
            FUZZ_CHECK(!(e->conns[i].flags & lists[l].flag) || on_list[i],
                       "connection %u (%s) flagged for the %s list but not on it: never served again", i,
                       tcp_state_name(e->conns[i].state), lists[l].name);
    }
}

static struct handoff_msg *transit_at(struct transit *t, uint32_t i)
{
    return &t->msg[(t->head + i) % FIFO_MAX];
}

/* A TCB in transit as the connection it will be (the message holds bytes, aligned for this). */
static void tcb_of(const struct handoff_msg *m, struct tcp_conn *c)
{
    memcpy(c, m->h.tcb, sizeof(*c));
}

/* Engines whose table has tuple t, plus TCBs in transit with it: a connection is in one place. */
static int tuple_homes(struct world *w, const struct pkt_tuple *t)
{
    int n = 0;

    for (int k = 0; k < NENGINES; k++) {
        n += tcp_conn_lookup(&w->engine[k], t) != NULL;
        for (uint32_t i = 0; i < w->transit[k].n; i++) {
            const struct handoff_msg *m = transit_at(&w->transit[k], i);
            struct tcp_conn c;

            if (!m->is_tcb)
                continue;
            tcb_of(m, &c);
            n += !memcmp(&c.tuple, t, sizeof(*t));
        }
    }
    return n;
}

/*
 * The compact TIME-WAIT entries: the FIFO holds count entries in deadline order, each found through
 * the hash, its tuple in no connection of the engine nor in another entry; the engine wakes for the
 * oldest; the free list holds the rest of the slab.
 */
static void check_time_wait(struct world *w, struct tcp_engine *e)
{
    const struct tcp_time_wait_table *t = &e->tw;
    uint64_t prev_ms = 0;
    uint32_t n = 0, nfree = 0;
    int k = engine_index(w, e);

    for (uint32_t i = t->oldest; i != UINT32_MAX; i = t->entries[i].newer) {
        const struct tcp_time_wait *tw = &t->entries[i];

        FUZZ_CHECK(++n <= t->count, "engine %d: the TIME-WAIT FIFO is longer than its count %u", k, t->count);
        FUZZ_CHECK(tw->deadline_ms >= prev_ms, "engine %d: TIME-WAIT entry %u ends before an older one", k,
                   i);
        prev_ms = tw->deadline_ms;
        FUZZ_CHECK(tcp_time_wait_held(e, &tw->tuple), "engine %d: TIME-WAIT entry %u is not in the hash", k,
                   i);
        FUZZ_CHECK(!tcp_conn_lookup(e, &tw->tuple),
                   "engine %d: port %u is a connection and a TIME-WAIT entry", k, tw->tuple.rport);
        for (uint32_t j = t->entries[i].newer; j != UINT32_MAX; j = t->entries[j].newer)
            FUZZ_CHECK(memcmp(&t->entries[j].tuple, &tw->tuple, sizeof(tw->tuple)),
                       "engine %d: port %u in two TIME-WAIT entries", k, tw->tuple.rport);
    }
    FUZZ_CHECK(n == t->count, "engine %d: %u TIME-WAIT entries in the FIFO, count %u", k, n, t->count);
    for (uint32_t i = t->free; i != UINT32_MAX; i = t->entries[i].hash_next)
        FUZZ_CHECK(++nfree <= e->cfg.max_time_wait, "engine %d: the TIME-WAIT free list has a cycle", k);
    FUZZ_CHECK(n + nfree == e->cfg.max_time_wait, "engine %d: %u TIME-WAIT entries + %u free, slab of %u", k,
               n, nfree, e->cfg.max_time_wait);
    FUZZ_CHECK(!n || tcp_engine_next_deadline(e) <= t->entries[t->oldest].deadline_ms * 1000000,
               "engine %d: next deadline after the oldest TIME-WAIT entry's end", k);
}

/* One engine's slab, table, timers and lists; returns its frames held, counts its zombies. */
static uint64_t check_engine(struct world *w, struct tcp_engine *e, uint8_t *where, uint32_t *zombies_out)
{
    uint32_t live = 0, zombies = 0, half_open = 0;
    int k = engine_index(w, e);

    check_lists(e);
    for (uint32_t i = 0; i < e->cfg.max_conns; i++) {
        const struct tcp_conn *c = &e->conns[i];

        if (c->flags & CONN_F_ZOMBIE) {
            zombies++;
            continue;
        }
        if (c->state == TCP_CLOSED)
            continue;
        live++;
        half_open += c->state == TCP_SYN_RECEIVED;
        check_conn(w, e, c, where);
        FUZZ_CHECK(c->engine == e, "engine %d conn %u names another engine", k, c->index);
        FUZZ_CHECK(!(c->flags & CONN_F_HELD) || !(c->flags & CONN_F_ACCEPTED),
                   "engine %d conn %u (%s) is held, yet the application has it", k, c->index,
                   tcp_state_name(c->state));
        FUZZ_CHECK(tuple_homes(w, &c->tuple) == 1,
                   "engine %d conn %u (%s, port %u): its tuple also lives in the other engine or in transit",
                   k, c->index, tcp_state_name(c->state), c->tuple.rport);
    }
    FUZZ_CHECK(e->nconns == live + zombies, "engine %d: nconns %u, %u live + %u closing", k, e->nconns, live,
               zombies);
    FUZZ_CHECK(e->nhalf_open == half_open, "engine %d: nhalf_open %u, %u connections in SYN-RECEIVED", k,
               e->nhalf_open, half_open);
    {
        /* a driver sleeps until tcp_engine_next_deadline: it must not be later than any armed timer */
        uint64_t earliest_ms = UINT64_MAX, next = tcp_engine_next_deadline(e);
        uint32_t armed = 0;

        for (uint32_t i = 0; i < e->cfg.max_conns; i++) {
            const struct timer *t = &e->conns[i].timer;

            if (timer_armed(t)) {
                armed++;
                if (t->expires_ms < earliest_ms)
                    earliest_ms = t->expires_ms;
            }
        }
        FUZZ_CHECK(armed == e->wheel.armed,
                   "engine %d: the wheel counts %u timers, the connections have %u armed", k, e->wheel.armed,
                   armed);
        FUZZ_CHECK(earliest_ms == UINT64_MAX || next <= earliest_ms * 1000000,
                   "engine %d: next deadline %llu ns, but a timer is due at %llu ms", k,
                   (unsigned long long)next, (unsigned long long)earliest_ms);
    }
    check_time_wait(w, e);
    *zombies_out += zombies;
    return tcp_engine_frames_held(e);
}

/* Messages in transit hold frames too: a TCB its queues, a forwarded frame itself. */
static uint64_t check_transit(struct world *w, uint8_t *where)
{
    uint64_t held = 0, tcbs = 0, exported = 0, arrived = 0;

    for (int k = 0; k < NENGINES; k++) {
        struct transit *t = &w->transit[k];
        uint32_t nframes = 0;

        for (uint32_t i = 0; i < t->n; i++) {
            const struct handoff_msg *m = transit_at(t, i);

            if (m->is_tcb) {
                struct tcp_conn c;

                tcb_of(m, &c);
                FUZZ_CHECK((c.flags & CONN_F_HELD) && !(c.flags & (CONN_F_ACCEPTED | CONN_F_ZOMBIE)),
                           "a TCB in transit has flags %#x: not a held connection", c.flags);
                FUZZ_CHECK(c.state >= TCP_SYN_RECEIVED && c.state != TCP_TIME_WAIT, "a TCB in transit is %s",
                           tcp_state_name(c.state));
                check_conn(w, NULL, &c, where);
                FUZZ_CHECK(tuple_homes(w, &c.tuple) == 1,
                           "a TCB in transit (port %u): its tuple also lives in an engine", c.tuple.rport);
                held += c.rcvq.count + c.ooo.count + c.sndq.count;
                tcbs++;
            } else {
                uint8_t owner;

                FUZZ_CHECK(m->frame < w->pool.nframes && !where[m->frame],
                           "forwarded frame %u also in a queue or forwarded twice", m->frame);
                owner = atomic_load(&frame_meta(&w->pool, m->frame)->owner);
                FUZZ_CHECK(owner == FRAME_OWN_HELD,
                           "forwarded frame %u: owner %#x, the caller's HELD expected", m->frame, owner);
                where[m->frame] = 1;
                held++;
                nframes++;
            }
        }
        FUZZ_CHECK(nframes == t->nframes, "transit to %d: %u frames, counted %u", k, nframes, t->nframes);
        exported += w->engine[k].stats.handoffs_out;
        arrived += w->engine[k].stats.handoffs_in + w->engine[k].stats.handoffs_failed;
    }
    FUZZ_CHECK(exported == arrived + tcbs, "%llu exported, %llu imported or refused, %llu in transit",
               (unsigned long long)exported, (unsigned long long)arrived, (unsigned long long)tcbs);
    return held;
}

/* Every frame accounted for, every connection consistent, every application handle alive. */
static void check_world(struct world *w)
{
    static uint8_t where[MAX_FRAMES];
    uint32_t zombies = 0, held_bits = 0, tx_only = 0, owned = 0;
    uint64_t held = 0;

    memset(where, 0, sizeof(where));
    for (int k = 0; k < NENGINES; k++)
        held += check_engine(w, &w->engine[k], where, &zombies);
    held += check_transit(w, where);
    for (uint32_t f = 0; f < w->pool.nframes; f++) {
        uint8_t owner = atomic_load(&frame_meta(&w->pool, f)->owner);
        bool in_tx = frame_pending_tx(w, f);

        owned += owner != 0;
        if (owner & FRAME_OWN_HELD)
            held_bits++;
        else if (owner & FRAME_OWN_TX)
            tx_only++;
        /* zombies still hold their frames until the flush frees them: not walked, so not in where[] */
        if (!zombies)
            FUZZ_CHECK(!!(owner & FRAME_OWN_HELD) == where[f],
                       "frame %u: owner %#x but %s a connection queue or transit", f, owner,
                       where[f] ? "in" : "not in");
        FUZZ_CHECK(!!(owner & FRAME_OWN_TX) == in_tx, "frame %u: owner %#x but %s pending TX", f, owner,
                   in_tx ? "" : "not");
    }
    FUZZ_CHECK(held_bits == held,
               "%u frames owned HELD, tcp_engine_frames_held of both engines + frames in transit say %llu",
               held_bits, (unsigned long long)held);
    FUZZ_CHECK(frames_in_use(w) == owned, "%u frames in use, %u have an owner", frames_in_use(w), owned);
    FUZZ_CHECK(frames_in_use(w) == held + tx_only,
               "%u frames in use != %llu held + %u in TX not yet completed", frames_in_use(w),
               (unsigned long long)held, tx_only);

    for (int i = 0; i < NAPPS; i++) {
        const struct tcp_conn *c = w->apps[i].conn;

        if (!c)
            continue;
        FUZZ_CHECK(c->state != TCP_CLOSED && !(c->flags & CONN_F_ZOMBIE),
                   "app %d holds connection %u, which the engine closed without a closed call", i, c->index);
        FUZZ_CHECK(c->user == (void *)(uintptr_t)(i + 1) || !(c->flags & CONN_F_ACCEPTED),
                   "app %d holds connection %u, whose user is %p", i, c->index, c->user);
        FUZZ_CHECK(!(c->flags & CONN_F_HELD), "app %d holds connection %u, which is held", i, c->index);
    }
}

/* ---- the engine's output, seen by the peer ------------------------------------------------------- */

static struct peer *peer_for(struct world *w, const struct pkt_tuple *client_view)
{
    for (int i = 0; i < NPEERS; i++)
        if (!memcmp(&w->peers[i].tuple, client_view, sizeof(*client_view)))
            return &w->peers[i];
    return NULL;
}

/* One emitted frame: it must parse and fit the link; the peer learns what the engine expects. */
static void observe(struct world *w, const uint8_t *frame, uint32_t len)
{
    struct pkt p;
    enum pkt_result r = pkt_parse(frame, len, &p);
    uint32_t l2 = PKT_ETH_LEN + (p.link.vlan_proto ? PKT_VLAN_LEN : 0);
    struct peer *pr;

    FUZZ_CHECK(r == PKT_OK, "the engine emitted a frame of %u bytes that pkt_parse rejects (%d)", len, r);
    if (trace)
        fprintf(stderr, "    out %u>%u [%s%s%s%s] seq %u ack %u win %u len %u\n", p.tuple.rport,
                p.tuple.lport, p.flags & TCP_SYN ? "S" : "", p.flags & TCP_FIN ? "F" : "",
                p.flags & TCP_RST ? "R" : "", p.flags & TCP_ACK ? "." : "", p.seq, p.ack, p.wnd,
                p.payload_len);
    FUZZ_CHECK(len - l2 <= w->cfg.mtu, "the engine emitted %u IP bytes (%u payload, %u TCP header), MTU %u",
               len - l2, p.payload_len, p.tcp_hdr_len, w->cfg.mtu);
    if (w->payload_trusted)
        for (uint32_t i = 0; i < p.payload_len; i++)
            FUZZ_CHECK(frame[p.payload_off + i] == app_byte(p.seq + i),
                       "emitted segment seq %u: byte %u is not what the application wrote", p.seq, i);
    pr = peer_for(w, &p.tuple);
    if (!pr)
        return;
    if (p.flags & TCP_SYN) {
        pr->engine_iss = p.seq;
        pr->engine_end = p.seq + 1;
    }
    if (!(p.flags & TCP_RST)) {
        uint32_t end = p.seq + p.payload_len + !!(p.flags & TCP_SYN) + !!(p.flags & TCP_FIN);

        if (seq_gt(end, pr->engine_end))
            pr->engine_end = end;
    }
    if (p.flags & TCP_ACK) {
        pr->engine_ack = p.ack;
        pr->engine_ack_valid = true;
    }
    if (p.opts.ts_present)
        pr->engine_tsval = p.opts.tsval;
}

static void complete_tx(struct world *w)
{
    for (uint32_t i = 0; i < w->npending; i++)
        frame_put(&w->cache[w->pending_engine[i]], w->pending_tx[i], FRAME_OWN_TX);
    w->npending = 0;
}

/* Move engine k's e->tx to the "wire": completions now, or after the next flush when they run late. */
static void transmit(struct world *w, int k)
{
    struct tcp_engine *e = &w->engine[k], *other = &w->engine[!k];
    uint32_t n = e->ntx;

    if (w->tx_ring_room && n > w->tx_ring_room)
        n = w->tx_ring_room; /* a full TX ring: the rest stays in e->tx for the next flush */
    for (uint32_t i = 0; i < e->ntx; i++) {
        const struct tcp_tx *tx = &e->tx[i];

        FUZZ_CHECK(tx->frame < w->pool.nframes && (uint32_t)tx->off + tx->len <= w->pool.frame_size,
                   "TX entry frame %u off %u len %u outside the pool", tx->frame, tx->off, tx->len);
        FUZZ_CHECK(frame_in_tx(&w->pool, tx->frame), "TX entry frame %u not marked as lent to TX", tx->frame);
        for (uint32_t j = 0; j < i; j++)
            FUZZ_CHECK(e->tx[j].frame != tx->frame, "frame %u in the TX list twice", tx->frame);
        /* a moved connection's frame may still wait in the old owner's TX list: never sent from both */
        for (uint32_t j = 0; j < other->ntx; j++)
            FUZZ_CHECK(other->tx[j].frame != tx->frame, "frame %u in the TX lists of both engines",
                       tx->frame);
        for (uint32_t j = 0; j < w->npending; j++)
            FUZZ_CHECK(w->pending_tx[j] != tx->frame, "frame %u sent again before its TX completed",
                       tx->frame);
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct tcp_tx *tx = &e->tx[i];

        observe(w, frame_data(&w->pool, tx->frame) + tx->off, tx->len);
        if (w->tx_late) {
            FUZZ_CHECK(w->npending < MAX_PENDING_TX, "more TX pending than frames");
            w->pending_tx[w->npending] = tx->frame;
            w->pending_engine[w->npending++] = (uint8_t)k;
        } else {
            frame_put(&w->cache[k], tx->frame, FRAME_OWN_TX);
        }
    }
    tcp_tx_consumed(e, n);
}

static void export_movable(struct world *w, int k);

/* Engine k's flush: what this batch made movable leaves first (tcp.h: export before the flush). */
static void flush_engine(struct world *w, int k)
{
    export_movable(w, k);
    check_lists(&w->engine[k]); /* a slot that left but stayed linked would be lost in the flush */
    tcp_engine_flush(&w->engine[k]);
    transmit(w, k);
    w->batch_open[k] = false;
}

/* The end of a batch on both workers; TX completions of the flush before arrive now when late. */
static void flush(struct world *w)
{
    uint32_t nlate = w->npending;

    for (int k = 0; k < NENGINES; k++)
        flush_engine(w, k);
    /* completions that waited since the previous flush arrive; those of this one wait for the next */
    for (uint32_t i = 0; i < nlate; i++)
        frame_put(&w->cache[w->pending_engine[i]], w->pending_tx[i], FRAME_OWN_TX);
    memmove(w->pending_tx, w->pending_tx + nlate, (w->npending - nlate) * sizeof(w->pending_tx[0]));
    memmove(w->pending_engine, w->pending_engine + nlate,
            (w->npending - nlate) * sizeof(w->pending_engine[0]));
    w->npending -= nlate;
    /* the pools here are small and a cache refills FRAME_CACHE_BATCH at a time, so one worker's cache
     * could keep every free frame from the other: spare frames go back at the end of each batch */
    if (w->two_workers)
        for (int k = 0; k < NENGINES; k++)
            frame_cache_drain(&w->cache[k]);
}

/* A frame for the RX ring of engine k; the other worker's spare frames when its cache has them all. */
static uint32_t rx_alloc(struct world *w, int k)
{
    uint32_t frame = frame_alloc(&w->cache[k]);

    if (frame == FRAME_NONE && w->two_workers) {
        frame_cache_drain(&w->cache[!k]);
        frame = frame_alloc(&w->cache[k]);
    }
    return frame;
}

/* ---- the application ----------------------------------------------------------------------------- */

static struct app_conn *app_of(struct world *w, struct tcp_conn *c)
{
    uintptr_t token = (uintptr_t)tcp_conn_user(c);

    FUZZ_CHECK(token >= 1 && token <= NAPPS, "callback for connection %u with user %p", c->index,
               tcp_conn_user(c));
    return &w->apps[token - 1];
}

/* Read up to n bytes where they lie, checking each against what the peer sent. */
static void app_read(struct world *w, struct app_conn *a, size_t n)
{
    struct tcp_conn *c = a->conn;

    while (n) {
        struct iovec iov[4];
        int cnt = tcp_peek(c, iov, 4);
        size_t total = 0, take;
        uint32_t seq = c->irs + 1 + (uint32_t)a->read_pos;

        FUZZ_CHECK(cnt >= 0 && cnt <= 4, "tcp_peek returned %d", cnt);
        for (int i = 0; i < cnt; i++) {
            const uint8_t *b = iov[i].iov_base;

            FUZZ_CHECK(b >= w->area &&
                           b + iov[i].iov_len <= w->area + (size_t)w->pool.nframes * FUZZ_FRAME_SIZE,
                       "tcp_peek points outside the frame area");
            FUZZ_CHECK(iov[i].iov_len > 0, "tcp_peek returned an empty entry");
            if (w->payload_trusted)
                for (size_t k = 0; k < iov[i].iov_len && total + k < n; k++)
                    FUZZ_CHECK(b[k] == peer_byte(seq + (uint32_t)(total + k)),
                               "stream byte %llu (seq %u) is not what the peer sent",
                               (unsigned long long)(a->read_pos + total + k), seq + (uint32_t)(total + k));
            total += iov[i].iov_len;
        }
        FUZZ_CHECK(total <= tcp_readable(c) && (cnt == 4 || total == tcp_readable(c)),
                   "tcp_peek found %zu bytes, tcp_readable says %zu", total, tcp_readable(c));
        if (!total)
            break;
        take = total < n ? total : n;
        tcp_consume(c, take);
        a->read_pos += take;
        n -= take;
    }
}

/* Write what the application still wants to, as far as the engine takes it. */
static void app_pump(struct app_conn *a, uint8_t mode)
{
    struct tcp_conn *c = a->conn;

    while (a->to_write) {
        uint32_t seq = c->iss + 1 + (uint32_t)a->written;
        size_t writable = tcp_writable(c), done;

        if (mode & WRITE_ZERO_COPY) {
            size_t room;
            uint8_t *dst = tcp_write_reserve(c, &room);

            if (!dst) {
                FUZZ_CHECK(room == 0, "tcp_write_reserve: NULL with room %zu", room);
                break;
            }
            FUZZ_CHECK(room > 0 && room <= writable, "tcp_write_reserve: room %zu, writable %zu", room,
                       writable);
            if (room > a->to_write)
                room = a->to_write;
            if ((mode & WRITE_PARTIAL_COMMIT) && room > 1)
                room = room / 2;
            for (size_t i = 0; i < room; i++)
                dst[i] = app_byte(seq + (uint32_t)i);
            tcp_write_commit(c, room);
            done = room;
        } else {
            uint8_t buf[3000];
            size_t len = a->to_write < sizeof(buf) ? a->to_write : sizeof(buf);

            for (size_t i = 0; i < len; i++)
                buf[i] = app_byte(seq + (uint32_t)i);
            done = tcp_write(c, buf, len);
            FUZZ_CHECK(done <= writable, "tcp_write took %zu bytes, writable was %zu", done, writable);
        }
        a->written += done;
        a->to_write -= done;
        if (!done)
            break;
    }
}

static void app_let_go(struct app_conn *a, bool closed_call_may_follow)
{
    a->closing = closed_call_may_follow ? a->conn : NULL;
    a->conn = NULL;
    a->to_write = 0;
}

static void app_close(struct app_conn *a)
{
    struct tcp_conn *c = a->conn;

    app_let_go(a, true);
    tcp_close(c);
}

static void app_abort(struct app_conn *a)
{
    struct tcp_conn *c = a->conn;

    app_let_go(a, false);
    tcp_abort(c);
}

static int app_slot_for(struct world *w, const struct pkt_tuple *t)
{
    for (int i = 0; i < NPEERS; i++)
        if (!memcmp(&w->peers[i].server_tuple, t, sizeof(*t)))
            return w->apps[i].conn ? -1 : i;
    for (int i = NPEERS; i < NAPPS; i++)
        if (!w->apps[i].conn)
            return i;
    return -1;
}

static void *on_accept(void *ctx, struct tcp_conn *c)
{
    struct world *w = ctx;
    int slot = app_slot_for(w, tcp_conn_tuple(c));
    struct app_conn *a;

    FUZZ_CHECK(!(c->flags & CONN_F_HELD), "accept for connection %u, which is held", c->index);
    /* held, moved or not: the application starts at the first byte of the stream, none lost before */
    FUZZ_CHECK(c->rcv_nxt - c->rcv_queued - !!(c->flags & CONN_F_FIN_RCVD) == c->irs + 1,
               "accept for connection %u (%s): %u bytes readable, but rcv_nxt %u is %u past the ISN",
               c->index, tcp_state_name(c->state), c->rcv_queued, c->rcv_nxt, c->rcv_nxt - c->irs);
    if (slot < 0 || w->draining || w->accept_policy == ACCEPT_REFUSE)
        return NULL;
    a = &w->apps[slot];
    memset(a, 0, sizeof(*a));
    a->conn = c;
    switch (w->accept_policy) {
    case ACCEPT_AND_WRITE:
        a->to_write = 3000;
        app_pump(a, 0);
        break;
    case ACCEPT_AND_CLOSE:
        app_close(a);
        break;
    default:
        break;
    }
    return app_token(slot);
}

static void on_readable(void *ctx, struct tcp_conn *c)
{
    struct world *w = ctx;
    struct app_conn *a = app_of(w, c);

    FUZZ_CHECK(a->conn == c, "readable for connection %u, which the application let go", c->index);
    FUZZ_CHECK(!(c->flags & CONN_F_HELD), "readable for connection %u, which is held", c->index);
    switch (w->readable_policy) {
    case READABLE_READ_ALL:
        app_read(w, a, SIZE_MAX);
        break;
    case READABLE_READ_CLOSE_AT_EOF:
        app_read(w, a, SIZE_MAX);
        if (tcp_eof(c))
            app_close(a);
        break;
    case READABLE_READ_SOME:
        app_read(w, a, 100);
        break;
    default:
        break;
    }
}

static void on_writable(void *ctx, struct tcp_conn *c)
{
    struct world *w = ctx;
    struct app_conn *a = app_of(w, c);

    FUZZ_CHECK(a->conn == c, "writable for connection %u, which the application let go", c->index);
    FUZZ_CHECK(!(c->flags & CONN_F_HELD), "writable for connection %u, which is held", c->index);
    a->connecting = false;
    if (w->writable_writes)
        app_pump(a, WRITE_ZERO_COPY);
}

static void on_closed(void *ctx, struct tcp_conn *c, int error)
{
    struct world *w = ctx;
    struct app_conn *a = app_of(w, c);

    FUZZ_CHECK(error == 0 || error == ECONNRESET || error == ETIMEDOUT || error == ECONNABORTED ||
                   error == ECONNREFUSED,
               "closed with error %d", error);
    FUZZ_CHECK(!(c->flags & CONN_F_HELD), "closed(%d) for connection %u, which is held", error, c->index);
    if (a->conn == c) {
        /* an orderly end for a connection the application still reads means the peer's FIN came */
        FUZZ_CHECK(error || (c->flags & CONN_F_FIN_RCVD),
                   "closed(0) for connection %u (%s) before the peer's FIN: its stream was cut short",
                   c->index, tcp_state_name(c->state));
        app_let_go(a, false);
    } else if (a->closing == c)
        a->closing = NULL;
    else
        FUZZ_CHECK(0, "closed(%d) for connection %u, which the application aborted or never had", error,
                   c->index);
}

static const struct tcp_callbacks callbacks = {on_accept, on_readable, on_writable, on_closed};

/* ---- the steering program and the hand-off ------------------------------------------------------ */

static void transit_push(struct world *w, int to, const struct handoff_msg *m)
{
    struct transit *t = &w->transit[to];

    FUZZ_CHECK(t->n < FIFO_MAX, "the FIFO towards engine %d is full: more than one TCB per flow?", to);
    *transit_at(t, t->n) = *m;
    t->n++;
    t->nframes += !m->is_tcb;
}

static struct handoff_msg transit_pop(struct world *w, int to)
{
    struct transit *t = &w->transit[to];
    struct handoff_msg m = *transit_at(t, 0);

    t->head = (t->head + 1) % FIFO_MAX;
    t->n--;
    t->nframes -= !m.is_tcb;
    return m;
}

static bool tcb_in_transit(struct world *w, const struct pkt_tuple *tuple)
{
    for (int k = 0; k < NENGINES; k++)
        for (uint32_t i = 0; i < w->transit[k].n; i++) {
            const struct handoff_msg *m = transit_at(&w->transit[k], i);
            struct tcp_conn c;

            if (!m->is_tcb)
                continue;
            tcb_of(m, &c);
            if (!memcmp(&c.tuple, tuple, sizeof(*tuple)))
                return true;
        }
    return false;
}

static bool frames_in_transit(struct world *w, const struct flow *f)
{
    for (int k = 0; k < NENGINES; k++)
        for (uint32_t i = 0; i < w->transit[k].n; i++)
            if (!transit_at(&w->transit[k], i)->is_tcb && transit_at(&w->transit[k], i)->flow == f - w->flows)
                return true;
    return false;
}

/* The held connections engine k found MOVABLE in this batch leave for the other engine. */
static void export_movable(struct world *w, int k)
{
    for (uint32_t i = 0; i < w->nmovable[k]; i++) {
        struct tcp_conn *c = w->movable[k][i];
        struct pkt_tuple t = c->tuple;
        struct handoff_msg m = {.is_tcb = true, .flow = -1};
        uint32_t flags = c->flags;
        enum tcp_state state = c->state;

        if (!tcp_conn_export(c, &m.h)) {
            /* since it was MOVABLE it closed, reached TIME-WAIT, or was placed and maybe accepted */
            FUZZ_CHECK((flags & (CONN_F_ACCEPTED | CONN_F_ZOMBIE)) || !(flags & CONN_F_HELD) ||
                           state == TCP_CLOSED || state == TCP_TIME_WAIT,
                       "engine %d refused to export held connection %u (%s, flags %#x)", k, c->index,
                       tcp_state_name(state), flags);
            continue;
        }
        FUZZ_CHECK(c->state == TCP_CLOSED && !(c->flags & CONN_F_ZOMBIE) &&
                       !tcp_conn_lookup(&w->engine[k], &t),
                   "engine %d exported connection %u but still has it", k, c->index);
        if (trace)
            fprintf(stderr, "    engine %d exports port %u (%s)\n", k, t.rport, tcp_state_name(state));
        transit_push(w, !k, &m);
    }
    w->nmovable[k] = 0;
}

/* A received frame as the XDP program hands it over: to the flow's owner, steered once it is steered. */
static void rx_frame(struct world *w, struct flow *f, uint32_t frame, uint32_t off, uint32_t len)
{
    int k = f ? f->owner : 0;
    struct tcp_engine *e = &w->engine[k];
    enum tcp_steer steer;
    enum tcp_steered r;
    struct tcp_conn *c;

    if (!f || !f->steered) {
        tcp_input(e, frame, off, len);
        return;
    }
    steer = !f->decided ? TCP_STEER_HOLD : f->target == f->owner ? TCP_STEER_PLACED : TCP_STEER_MOVE;
    r = tcp_input_steered(e, frame, off, len, steer, &c);
    if (trace)
        fprintf(stderr, "    steered %d to engine %d: %d\n", steer, k, r);
    switch (r) {
    case TCP_STEERED_DONE:
        FUZZ_CHECK(!c, "TCP_STEERED_DONE with a connection");
        break;
    case TCP_STEERED_FOREIGN: {
        uint8_t owner = atomic_load(&frame_meta(&w->pool, frame)->owner);
        struct handoff_msg m = {.frame = frame, .off = off, .len = len, .flow = (int)(f - w->flows)};

        FUZZ_CHECK(steer == TCP_STEER_MOVE && !c && owner == FRAME_OWN_HELD,
                   "TCP_STEERED_FOREIGN for steer %d, conn %p, frame owner %#x", steer, (void *)c, owner);
        if (w->transit[!k].nframes >= FIFO_FRAMES)
            frame_put(&w->cache[k], frame, FRAME_OWN_HELD); /* the ring is full: dropped, TCP recovers */
        else
            transit_push(w, !k, &m);
        break;
    }
    case TCP_STEERED_MOVABLE: {
        uint32_t i = 0;

        FUZZ_CHECK(steer == TCP_STEER_MOVE && c && c->engine == e && (c->flags & CONN_F_HELD) &&
                       !(c->flags & CONN_F_ACCEPTED) && flow_of(w, &c->tuple) == f,
                   "TCP_STEERED_MOVABLE for steer %d: conn %p not this flow's held connection", steer,
                   (void *)c);
        while (i < w->nmovable[k] && w->movable[k][i] != c)
            i++;
        if (i == w->nmovable[k]) {
            FUZZ_CHECK(i < MAX_CONNS, "more movable connections than slots");
            w->movable[k][w->nmovable[k]++] = c;
        }
        break;
    }
    case TCP_STEERED_PINNED:
        FUZZ_CHECK(steer == TCP_STEER_MOVE && c && (c->flags & CONN_F_ACCEPTED) && !(c->flags & CONN_F_HELD),
                   "TCP_STEERED_PINNED for steer %d: conn %p flags %#x", steer, (void *)c, c ? c->flags : 0);
        f->target = f->owner; /* the application has it here: the route follows the connection */
        break;
    default:
        FUZZ_CHECK(0, "tcp_input_steered returned %d", r);
    }
}

/* The first message towards engine k arrives at its worker, within the batch op_deliver began. */
static void deliver_one(struct world *w, int k)
{
    struct tcp_engine *e = &w->engine[k];
    struct handoff_msg m = transit_pop(w, k);

    if (m.is_tcb) {
        struct tcp_conn in, *c;
        bool slot_free = e->free_conn != UINT32_MAX && e->nconns < e->cfg.max_conns;

        tcb_of(&m, &in);
        c = tcp_conn_import(e, &m.h);
        if (trace)
            fprintf(stderr, "    engine %d imports port %u (%s): %s\n", k, in.tuple.rport,
                    tcp_state_name(in.state), c ? "ok" : "refused");
        if (c)
            FUZZ_CHECK(c->engine == e && tcp_conn_lookup(e, &in.tuple) == c && c->state == in.state &&
                           !(c->flags & (CONN_F_HELD | CONN_F_ACCEPTED)) &&
                           (c->flags & (CONN_F_DIRTY | CONN_F_RETRY)),
                       "engine %d imported port %u as conn %u (%s, flags %#x)", k, in.tuple.rport, c->index,
                       tcp_state_name(c->state), c->flags);
        else
            FUZZ_CHECK(!slot_free || tcp_conn_lookup(e, &in.tuple),
                       "engine %d refused an import with a slot free", k);
    } else {
        struct tcp_conn *c;
        enum tcp_steered r = tcp_input_steered(e, m.frame, m.off, m.len, TCP_STEER_PLACED, &c);

        FUZZ_CHECK(r == TCP_STEERED_DONE && !c, "a forwarded frame steered PLACED: %d", r);
    }
}

/*
 * OP_DELIVER: the worker drains its ring at the start of a batch, as tcp.h wants for an import: a
 * flush ends what it had open, tcp_engine_begin at the current time, then the messages, all in
 * one batch that stays open for what follows.
 */
static void op_deliver(struct world *w, uint8_t arg)
{
    for (int k = 0; k < NENGINES; k++) {
        if ((!(arg & 4) && k != (arg & 1)) || !w->transit[k].n)
            continue;
        if (w->batch_open[k])
            flush_engine(w, k);
        tcp_engine_begin(&w->engine[k], w->now_ns);
        w->batch_open[k] = true;
        if (!(arg & 6))
            deliver_one(w, k);
        else
            while (w->transit[k].n)
                deliver_one(w, k);
    }
}

/* OP_MAP: the importing worker updates the flow map, or the entry of a finished flow expires. */
static void op_map(struct world *w, struct input *in, uint8_t arg)
{
    struct flow *f = &w->flows[(arg & 3) * 2 + !!(arg & 4)];
    struct pkt_tuple t = flow_tuple(w, f);
    uint8_t change = take8(in);

    if (change & MAP_FORGET) {
        if (tuple_homes(w, &t) || frames_in_transit(w, f))
            return;
        f->decided = false;
        f->owner = f->target = (change & MAP_OWNER_1) ? 1 : 0;
    } else if (f->decided && f->target != f->owner && !tcp_conn_lookup(&w->engine[f->owner], &t) &&
               !tcb_in_transit(w, &t)) {
        f->owner = f->target;
    }
}

/* OP_PLACE: the worker places a held connection itself (say, its route took too long to decide). */
static void op_place(struct world *w, uint8_t arg)
{
    struct flow *f = &w->flows[(arg & 3) * 2];
    int k = !!(arg & 4);
    struct pkt_tuple t = flow_tuple(w, f);
    struct tcp_conn *c = tcp_conn_lookup(&w->engine[k], &t);

    if (!c || !(c->flags & CONN_F_HELD))
        return;
    tcp_conn_place(c);
    FUZZ_CHECK(!(c->flags & CONN_F_HELD) && (c->flags & (CONN_F_DIRTY | CONN_F_RETRY | CONN_F_ZOMBIE)),
               "tcp_conn_place left conn %u with flags %#x: its events would wait for another reason",
               c->index, c->flags);
    if (!f->decided && k == f->owner) {
        f->decided = true;
        f->target = f->owner;
    }
}

/* ---- the peer's segments ------------------------------------------------------------------------- */

static uint32_t pick_seq(const struct peer *pr, struct input *in, enum seq_mode mode)
{
    uint32_t expected = pr->engine_ack_valid ? pr->engine_ack : pr->snd_nxt;

    switch (mode) {
    case SEQ_EXPECTED:
        return expected + (uint32_t)(int16_t)take16(in);
    case SEQ_OWN:
        return pr->snd_nxt + (uint32_t)(int16_t)take16(in);
    case SEQ_ABSOLUTE:
        return take32(in);
    default:
        return expected + (uint32_t)(int16_t)take16(in) * 1024u;
    }
}

static uint32_t pick_ack(const struct peer *pr, struct input *in, enum ack_mode mode)
{
    switch (mode) {
    case ACK_SENT_END:
        return pr->engine_end + (uint32_t)(int16_t)take16(in);
    case ACK_SENT_END_FAR_BACK:
        return pr->engine_end - (uint32_t)(int16_t)take16(in) * 1024u;
    case ACK_ABSOLUTE:
        return take32(in);
    default:
        return pr->engine_iss + (uint32_t)(int16_t)take16(in);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* TCP options from the mask and its fields, padded with NOPs to a multiple of 4. */
static uint8_t build_options(struct world *w, const struct peer *pr, struct input *in, uint8_t *o)
{
    uint8_t mask = take8(in), n = 0;

    if (mask & OPT_B_MSS) {
        uint16_t mss = take16(in);

        o[n++] = 2;
        o[n++] = 4;
        o[n++] = (uint8_t)(mss >> 8);
        o[n++] = (uint8_t)mss;
    }
    if (mask & OPT_B_SACK_PERM) {
        o[n++] = 4;
        o[n++] = 2;
    }
    if (mask & OPT_B_WS) {
        o[n++] = 3;
        o[n++] = 3;
        o[n++] = take8(in);
    }
    if (mask & OPT_B_TS) {
        uint32_t tsval = pr->ts_base + (uint32_t)(w->now_ns / 1000000) + (uint32_t)(int16_t)take16(in);

        o[n++] = 8;
        o[n++] = 10;
        put32(o + n, tsval);
        put32(o + n + 4, pr->engine_tsval);
        n += 8;
    }
    if (mask & OPT_B_SACK) {
        uint8_t blocks = (uint8_t)((take8(in) & 3) + 1);

        while (blocks && n + 2 + 8 * blocks > PKT_TCP_OPTS_MAX)
            blocks--;
        if (blocks) {
            o[n++] = 5;
            o[n++] = (uint8_t)(2 + 8 * blocks);
            for (int b = 0; b < blocks; b++) {
                uint32_t start = pr->engine_end - take16(in);

                put32(o + n, start);
                put32(o + n + 4, start + take16(in));
                n += 8;
            }
        }
    }
    if (mask & OPT_B_RAW) {
        uint8_t len = take8(in);

        if (len > PKT_TCP_OPTS_MAX - n)
            len = (uint8_t)(PKT_TCP_OPTS_MAX - n);
        for (uint8_t i = 0; i < len; i++)
            o[n++] = take8(in);
    }
    while (n % 4)
        o[n++] = 1;
    return n;
}

static void op_segment(struct world *w, struct input *in, uint8_t arg, bool steered)
{
    static const uint32_t rx_offsets[4] = {0, 2, 64, 256};
    struct peer *pr = &w->peers[arg & 3];
    struct flow *f = &w->flows[(arg & 3) * 2 + !!(arg & 4)];
    struct pkt_tuple t = pr->tuple;
    uint8_t route = steered ? take8(in) : ROUTE_NONE;
    uint8_t flags = take8(in), numbering = take8(in);
    enum seq_mode smode = (enum seq_mode)(numbering & 3);
    uint32_t seq = pick_seq(pr, in, smode);
    uint32_t ack = pick_ack(pr, in, (enum ack_mode)((numbering >> 2) & 3));
    uint32_t off = rx_offsets[(numbering >> 4) & 3];
    uint16_t wnd = take16(in);
    uint8_t opts[PKT_TCP_OPTS_MAX];
    uint8_t opts_len = build_options(w, pr, in, opts);
    uint32_t payload_len = take16(in), hlen, frame;
    uint8_t *data, *payload;

    if (arg & 4)
        t.rport = OTHER_PORT;
    hlen = pkt_headers_len(&t, &pr->link) + opts_len;
    if (payload_len > FUZZ_FRAME_SIZE - off - hlen)
        payload_len = FUZZ_FRAME_SIZE - off - hlen;
    /* received frames come from the same pool, as from the fill ring of the worker the flow goes to */
    frame = rx_alloc(w, f->owner);
    if (frame == FRAME_NONE)
        return; /* the RX ring would have had no frame for it either */
    if (steered) {
        struct pkt_tuple st = flow_tuple(w, f);
        bool chosen = (route & 3) == ROUTE_HERE || (route & 3) == ROUTE_THERE;
        /* a new route is safe once the connection, if any, is at the owner and nothing travels */
        bool again = (route & ROUTE_AGAIN) && !tcb_in_transit(w, &st) && !frames_in_transit(w, f) &&
                     !tcp_conn_lookup(&w->engine[!f->owner], &st);

        f->steered = true;
        if (chosen && (!f->decided || again)) {
            f->decided = true;
            f->target = (route & 3) == ROUTE_HERE ? f->owner : !f->owner;
        }
    }
    data = frame_data(&w->pool, frame) + off;
    payload = data + hlen;
    for (uint32_t i = 0; i < payload_len; i++)
        payload[i] = peer_byte(seq + !!(flags & TCP_SYN) + i);
    {
        struct pkt_segment seg = {
            .seq = seq,
            .ack = ack,
            .wnd = wnd,
            .flags = flags,
            .ip_id = (uint16_t)seq,
            .options = opts,
            .options_len = opts_len,
            .payload_len = payload_len,
            .payload_sum = csum_partial(payload, payload_len, 0),
        };

        pkt_write_headers(data, &t, &pr->link, &seg);
    }
    if (smode != SEQ_ABSOLUTE && !(flags & TCP_RST)) {
        uint32_t end = seq + payload_len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);

        if ((flags & TCP_SYN) || seq_gt(end, pr->snd_nxt))
            pr->snd_nxt = end;
    }
    rx_frame(w, f, frame, off, hlen + payload_len);
}

/* Recompute the IPv4 header and TCP checksums of a raw frame so that it gets past pkt_parse's checks. */
static void repair_checksums(uint8_t *d, uint32_t len)
{
    uint32_t l3 = PKT_ETH_LEN, l4, l4_len;
    uint16_t type;
    uint32_t sum;
    uint8_t *th;

    if (len < PKT_ETH_LEN + PKT_VLAN_LEN)
        return;
    type = (uint16_t)(d[12] << 8 | d[13]);
    if (type == 0x8100 || type == 0x88a8) {
        type = (uint16_t)(d[16] << 8 | d[17]);
        l3 += PKT_VLAN_LEN;
    }
    if (type == 0x0800) {
        uint8_t *ip = d + l3;
        uint32_t ihl, tot;

        if (len < l3 + PKT_IPV4_LEN)
            return;
        ihl = (ip[0] & 0xfu) * 4;
        tot = (uint32_t)(ip[2] << 8 | ip[3]);
        if (ihl < PKT_IPV4_LEN || tot < ihl || len < l3 + tot)
            return;
        ip[10] = ip[11] = 0;
        sum = csum_finish(csum_partial(ip, ihl, 0));
        ip[10] = (uint8_t)(sum >> 8);
        ip[11] = (uint8_t)sum;
        l4 = l3 + ihl;
        l4_len = tot - ihl;
        sum = csum_pseudo(ip + 12, ip + 16, 4, 6, l4_len);
    } else if (type == 0x86dd) {
        uint8_t *ip6 = d + l3;

        if (len < l3 + PKT_IPV6_LEN)
            return;
        l4 = l3 + PKT_IPV6_LEN;
        l4_len = (uint32_t)(ip6[4] << 8 | ip6[5]);
        if (len < l4 + l4_len)
            return;
        sum = csum_pseudo(ip6 + 8, ip6 + 24, 16, 6, l4_len);
    } else {
        return;
    }
    if (l4_len < PKT_TCP_LEN)
        return;
    th = d + l4;
    th[16] = th[17] = 0;
    sum = csum_finish(csum_partial(th, l4_len, sum));
    th[16] = (uint8_t)(sum >> 8);
    th[17] = (uint8_t)sum;
}

static void op_raw(struct world *w, struct input *in, uint8_t arg)
{
    uint32_t off = ((arg >> 1) & 3) * 64, len = take16(in), frame;
    struct pkt p;
    uint8_t *data;

    if (len > FUZZ_FRAME_SIZE - off)
        len = FUZZ_FRAME_SIZE - off;
    if (len > in->n)
        len = (uint32_t)in->n;
    frame = rx_alloc(w, 0);
    if (frame == FRAME_NONE) {
        in->p += len;
        in->n -= len;
        return;
    }
    data = frame_data(&w->pool, frame) + off;
    memcpy(data, in->p, len);
    in->p += len;
    in->n -= len;
    if (arg & 1) {
        repair_checksums(data, len);
        w->payload_trusted = false; /* its payload can be anything at a sequence number in use */
    }
    /* the XDP program sends a frame of a flow it knows where the flow goes, the rest to engine 0 */
    rx_frame(w, pkt_parse(data, len, &p) == PKT_OK ? flow_of(w, &p.tuple) : NULL, frame, off, len);
}

static void op_connect(struct world *w, uint8_t arg)
{
    int slot = arg & 3;
    struct peer *pr = &w->peers[slot];
    struct app_conn *a = &w->apps[slot];
    struct tcp_conn *c;

    /* one connection per tuple; and a frame of the tuple forwarded earlier, arriving at the other
     * engine after this open, would start a second one there (the steering program's race, not the
     * engine's) */
    if (a->conn || tuple_homes(w, &pr->server_tuple) || frames_in_transit(w, &w->flows[slot * 2]))
        return;
    c = tcp_connect(&w->engine[w->flows[slot * 2].owner], &pr->server_tuple, &pr->server_link,
                    app_token(slot));
    if (!c)
        return;
    memset(a, 0, sizeof(*a));
    a->conn = c;
    a->connecting = true;
}

/* ---- running a program --------------------------------------------------------------------------- */

static void run_record(struct world *w, struct input *in)
{
    static const uint64_t time_scale_ms[4] = {1, 10, 1000, 60000};
    uint8_t op = take8(in), arg = op >> 4;
    struct app_conn *a = &w->apps[arg & 7];

    op &= 0xf;
    w->two_workers |= op >= OP_STEERED;
    switch (op) {
    case OP_TIME:
        if (w->batch_open[0] || w->batch_open[1])
            flush(w);  /* a batch ends with a flush before time moves on (tcp.h) */
        if (arg & 4) { /* sleep until an engine asks to be woken, as the drivers do */
            uint64_t next = tcp_engine_next_deadline(&w->engine[0]),
                     next1 = tcp_engine_next_deadline(&w->engine[1]);

            if (next1 < next)
                next = next1;
            if (next != UINT64_MAX && next > w->now_ns)
                w->now_ns = next;
        } else {
            w->now_ns += take16(in) * time_scale_ms[arg & 3] * 1000000ull;
        }
        for (int k = 0; k < NENGINES; k++)
            tcp_engine_begin(&w->engine[k], w->now_ns);
        break;
    case OP_SEGMENT:
    case OP_STEERED:
        op_segment(w, in, arg, op == OP_STEERED);
        break;
    case OP_RAW:
        op_raw(w, in, arg);
        break;
    case OP_READ: {
        uint16_t n = take16(in);

        if (a->conn)
            app_read(w, a, n == 0xffff ? SIZE_MAX : n);
        break;
    }
    case OP_WRITE: {
        uint16_t n = take16(in);
        uint8_t mode = take8(in);

        if (a->conn) {
            a->to_write += n;
            app_pump(a, mode);
        }
        break;
    }
    case OP_SHUTDOWN:
        if (a->conn) {
            a->shut = true;
            tcp_shutdown(a->conn);
        }
        break;
    case OP_CLOSE:
        if (a->conn)
            app_close(a);
        break;
    case OP_ABORT:
        if (a->conn)
            app_abort(a);
        break;
    case OP_CONNECT:
        op_connect(w, arg);
        break;
    case OP_TX_DONE:
        complete_tx(w);
        w->tx_ring_room = arg & 7;
        break;
    case OP_EXPORT:
        for (int k = 0; k < NENGINES; k++)
            export_movable(w, k);
        break;
    case OP_DELIVER:
        op_deliver(w, arg);
        break;
    case OP_MAP:
        op_map(w, in, arg);
        break;
    case OP_PLACE:
        op_place(w, arg);
        break;
    default: /* OP_FLUSH */
        break;
    }
    if (trace)
        fprintf(stderr, "%.3f record op %u arg %#x\n", w->now_ns / 1e9, op, arg);
    if (!(arg & ARG_BATCH) || op == OP_FLUSH) {
        flush(w);
    } else {
        w->batch_open[0] = true;
        w->batch_open[1] = true;
    }
    if (trace)
        for (int k = 0; k < NENGINES; k++)
            for (uint32_t i = 0; i < w->engine[k].cfg.max_conns; i++) {
                const struct tcp_conn *c = &w->engine[k].conns[i];

                if (c->state != TCP_CLOSED)
                    fprintf(
                        stderr,
                        "    %sconn %u port %u %s rcv_queued %u snd_queued %u una %u nxt %u cwnd %u dupacks "
                        "%u%s\n",
                        k ? "engine 1 " : "", i, c->tuple.rport, tcp_state_name(c->state), c->rcv_queued,
                        c->snd_queued, c->snd_una, c->snd_nxt, c->cwnd, c->dupacks,
                        (c->flags & CONN_F_HELD) ? " held" : "");
            }
    check_world(w);
}

/*
 * The application closes everything and the peer falls silent: retransmissions give up, TIME-WAIT
 * ends, and no connection may be left behind (state kept forever is a leak a peer can repeat).
 */
static void drain(struct world *w)
{
    w->draining = true;
    w->tx_late = false;
    w->tx_ring_room = 0;
    flush(w);
    complete_tx(w);
    /* what travels arrives, and what still waits for a route is placed where it is */
    op_deliver(w, 4);
    for (int k = 0; k < NENGINES; k++)
        for (uint32_t i = 0; i < w->engine[k].cfg.max_conns; i++) {
            struct tcp_conn *c = &w->engine[k].conns[i];

            if (c->state != TCP_CLOSED && !(c->flags & CONN_F_ZOMBIE) && (c->flags & CONN_F_HELD))
                tcp_conn_place(c);
        }
    flush(w);
    check_world(w);
    for (int round = 0; round < 64; round++) {
        if (round) /* ten minutes of silence per round: every retransmission timer fires each time */
            w->now_ns += 600ull * 1000000000;
        for (int k = 0; k < NENGINES; k++)
            tcp_engine_begin(&w->engine[k], w->now_ns);
        for (int i = 0; i < NAPPS; i++) /* the first round closes; later ones, what was accepted since */
            if (w->apps[i].conn)
                app_close(&w->apps[i]);
        flush(w);
        check_world(w);
    }
    FUZZ_CHECK(!w->transit[0].n && !w->transit[1].n, "messages in transit after the drain");
    for (int k = 0; k < NENGINES; k++)
        FUZZ_CHECK(!w->engine[k].tw.count, "engine %d: %u TIME-WAIT entries after 10 h of silence", k,
                   w->engine[k].tw.count);
    for (int k = 0; k < NENGINES; k++)
        for (uint32_t i = 0; i < w->engine[k].cfg.max_conns; i++) {
            const struct tcp_conn *c = &w->engine[k].conns[i];

            FUZZ_CHECK(c->state == TCP_CLOSED,
                       "engine %d connection %u still %s after the application closed it and 10 h of silence "
                       "(snd_una %u snd_nxt %u snd_end %u flags %#x deadlines %llu/%llu/%llu)",
                       k, c->index, tcp_state_name(c->state), c->snd_una, c->snd_nxt, c->snd_end, c->flags,
                       (unsigned long long)c->deadline_ms[0], (unsigned long long)c->deadline_ms[1],
                       (unsigned long long)c->deadline_ms[2]);
        }
}

static void world_destroy(struct world *w)
{
    /* what is still in transit (TCP_FUZZ_NO_DRAIN) goes back: a TCB through its importer */
    for (int k = 0; k < NENGINES; k++)
        while (w->transit[k].n) {
            struct handoff_msg m = transit_pop(w, k);

            if (m.is_tcb)
                tcp_conn_import(&w->engine[k], &m.h);
            else
                frame_put(&w->cache[k], m.frame, FRAME_OWN_HELD);
        }
    for (int k = 0; k < NENGINES; k++)
        tcp_engine_destroy(&w->engine[k]);
    complete_tx(w);
    FUZZ_CHECK(frames_in_use(w) == 0, "%u frames not back in the pool after tcp_engine_destroy",
               frames_in_use(w));
    frame_pool_destroy(&w->pool);
    free(w->area);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct world *w = &world;

    world_init(w, &in);
    while (in.n)
        run_record(w, &in);
    flush(w);
    check_world(w);
    if (!no_drain)
        drain(w);
    world_destroy(w);
    return 0;
}

/* ---- the seed corpus ----------------------------------------------------------------------------- */

struct seed {
    uint8_t b[4096];
    size_t n;
};

static void s8(struct seed *s, uint32_t v)
{
    if (s->n < sizeof(s->b))
        s->b[s->n++] = (uint8_t)v;
}

static void s16(struct seed *s, uint32_t v)
{
    s8(s, v >> 8);
    s8(s, v);
}

static void s_header(struct seed *s, uint8_t c0, uint8_t c1, uint8_t c2, uint8_t c3)
{
    s->n = 0;
    s8(s, c0);
    s8(s, c1);
    s8(s, c2);
    s8(s, c3);
}

/* The next segment helper writes OP_STEERED with this route byte instead of OP_SEGMENT (-1: plain). */
static int seed_route = -1;

/* p is the record's argument: the peer, | 4 for OTHER_PORT, | ARG_BATCH. */
static void s_seg_op(struct seed *s, int p)
{
    if (seed_route < 0) {
        s8(s, (uint32_t)p << 4 | OP_SEGMENT);
        return;
    }
    s8(s, (uint32_t)p << 4 | OP_STEERED);
    s8(s, (uint32_t)seed_route);
    seed_route = -1;
}

static void s_op(struct seed *s, enum fuzz_op op, int arg)
{
    s8(s, (uint32_t)arg << 4 | op);
}

/* A segment from peer p with seq = expected + seq_off, ack = engine's end + ack_off, no options. */
static void s_seg(struct seed *s, int p, uint8_t flags, int16_t seq_off, int16_t ack_off, uint16_t wnd,
                  uint16_t payload)
{
    s_seg_op(s, p);
    s8(s, flags);
    s8(s, SEQ_EXPECTED | ACK_SENT_END << 2);
    s16(s, (uint16_t)seq_off);
    s16(s, (uint16_t)ack_off);
    s16(s, wnd);
    s8(s, 0);
    s16(s, payload);
}

/* An ACK-only segment from peer p at the expected sequence, acknowledging the engine's ISN + ack_off. */
static void s_seg_at(struct seed *s, int p, uint8_t flags, int16_t ack_off, uint16_t wnd)
{
    s_seg_op(s, p);
    s8(s, flags);
    s8(s, SEQ_EXPECTED | ACK_FROM_ISS << 2);
    s16(s, 0);
    s16(s, (uint16_t)ack_off);
    s16(s, wnd);
    s8(s, 0);
    s16(s, 0);
}

/*
 * The same with timestamps, ack = engine's end + ack_off, and one SACK block [end - back, end - back +
 * len) when back is non-zero.
 */
static void s_seg_ts(struct seed *s, int p, uint8_t flags, int16_t seq_off, int16_t ack_off, uint16_t wnd,
                     uint16_t payload, uint16_t sack_back, uint16_t sack_len)
{
    s_seg_op(s, p);
    s8(s, flags);
    s8(s, SEQ_EXPECTED | ACK_SENT_END << 2);
    s16(s, (uint16_t)seq_off);
    s16(s, (uint16_t)ack_off);
    s16(s, wnd);
    s8(s, OPT_B_TS | (sack_back ? OPT_B_SACK : 0));
    s16(s, 0);
    if (sack_back) {
        s8(s, 0);
        s16(s, sack_back);
        s16(s, sack_len);
    }
    s16(s, payload);
}

/* A SYN from peer p at its own next sequence number, offering every option. */
static void s_syn(struct seed *s, int p)
{
    s_seg_op(s, p);
    s8(s, TCP_SYN);
    s8(s, SEQ_OWN | ACK_ABSOLUTE << 2);
    s16(s, 0);
    s16(s, 0);
    s16(s, 0);
    s16(s, 65535);
    s8(s, OPT_B_MSS | OPT_B_SACK_PERM | OPT_B_WS | OPT_B_TS);
    s16(s, 1460);
    s8(s, 7);
    s16(s, 0);
    s16(s, 0);
}

static void s_handshake(struct seed *s, int p)
{
    s_syn(s, p);
    s_seg_ts(s, p, TCP_ACK, 0, 0, 2048, 0, 0, 0);
}

static void s_time(struct seed *s, int scale, uint16_t amount)
{
    s8(s, (uint32_t)scale << 4 | OP_TIME);
    s16(s, amount);
}

static void s_app(struct seed *s, enum fuzz_op op, int app)
{
    s8(s, (uint32_t)app << 4 | op);
    if (op == OP_READ)
        s16(s, 0xffff);
}

static void s_write(struct seed *s, int app, uint16_t n, uint8_t mode)
{
    s8(s, (uint32_t)app << 4 | OP_WRITE);
    s16(s, n);
    s8(s, mode);
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
        fprintf(stderr, "tcp_fuzz: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Options everywhere (timestamps, SACK, window scaling) and the default timers unless said. */
#define ALL_OPTS 0x07

static void write_seeds(const char *dir)
{
    struct seed s;

    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "tcp_fuzz: cannot create %s: %s\n", dir, strerror(errno));
        exit(1);
    }

    s_header(&s, ALL_OPTS, 0, 0, 0);
    s_handshake(&s, 0);
    write_seed(dir, "handshake", &s);

    /* data both ways, then the peer closes first: CLOSE-WAIT, LAST-ACK */
    s_header(&s, ALL_OPTS, ACCEPT_AND_WRITE | READABLE_READ_ALL << 2 | 0x10, 0, 0);
    s_handshake(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 2048, 1000, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_FIN, 0, 0, 2048, 0, 0, 0);
    s_app(&s, OP_CLOSE, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    write_seed(dir, "passive_close", &s);

    /* the application closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT and its end (fast timers) */
    s_header(&s, ALL_OPTS, READABLE_READ_ALL << 2, 0, 0x10);
    s_handshake(&s, 1);
    s_seg_ts(&s, 1, TCP_ACK | TCP_PSH, 0, 0, 2048, 300, 0, 0);
    s_write(&s, 1, 500, WRITE_ZERO_COPY);
    s_app(&s, OP_SHUTDOWN, 1);
    s_seg_ts(&s, 1, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    s_seg_ts(&s, 1, TCP_ACK | TCP_FIN, 0, 0, 2048, 0, 0, 0);
    s_time(&s, 1, 20);
    write_seed(dir, "active_close_time_wait", &s);

    /* both FINs cross: CLOSING */
    s_header(&s, 0, 0, 0, 0x10);
    s_syn(&s, 0);
    s_seg(&s, 0, TCP_ACK, 0, 0, 8192, 0);
    s_app(&s, OP_SHUTDOWN, 0);
    s_seg(&s, 0, TCP_ACK | TCP_FIN, 0, -1, 8192, 0); /* does not acknowledge our FIN yet */
    s_time(&s, 0, 5);
    s_seg(&s, 0, TCP_ACK, 0, 0, 8192, 0);
    write_seed(dir, "simultaneous_close", &s);

    /* segments out of order, duplicates, then the hole filled */
    s_header(&s, ALL_OPTS, READABLE_READ_ALL << 2, 0, 0);
    s_handshake(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK, 1000, 0, 2048, 500, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 2000, 0, 2048, 500, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 1200, 0, 2048, 1000, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 1000, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 800, 0, 0);
    write_seed(dir, "out_of_order", &s);

    /* the engine sends a window's worth; the peer SACKs the tail, duplicate ACKs, retransmission */
    s_header(&s, ALL_OPTS, ACCEPT_AND_WRITE | 0x10, 0x08, 0x10);
    s_handshake(&s, 0);
    s_write(&s, 0, 12000, WRITE_ZERO_COPY);
    s_seg_ts(&s, 0, TCP_ACK, 0, -11584, 512, 0, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, -11584, 512, 0, 10136, 1448);
    s_seg_ts(&s, 0, TCP_ACK, 0, -11584, 512, 0, 10136, 2896);
    s_seg_ts(&s, 0, TCP_ACK, 0, -11584, 512, 0, 10136, 4344);
    s_seg_ts(&s, 0, TCP_ACK, 0, -11584, 512, 0, 10136, 5792);
    s_time(&s, 0, 50);
    s_time(&s, 0, 300);
    write_seed(dir, "sack_recovery", &s);

    /* the same without SACK or timestamps: NewReno, duplicate ACKs only */
    s_header(&s, 0x04, ACCEPT_AND_WRITE | 0x10, 0x08, 0x10);
    s_syn(&s, 0);
    s_seg(&s, 0, TCP_ACK, 0, 0, 512, 0);
    s_write(&s, 0, 12000, WRITE_ZERO_COPY);
    for (int i = 0; i < 4; i++) /* 3416 bytes acknowledged, then three duplicates */
        s_seg_at(&s, 0, TCP_ACK, 1 + 3416, 512);
    s_seg_at(&s, 0, TCP_ACK, 1 + 4876, 512); /* a partial ACK */
    s_seg(&s, 0, TCP_ACK, 0, 0, 512, 0);
    s8(&s, 0x4 << 4 | OP_TIME); /* to the next deadline */
    write_seed(dir, "newreno_recovery", &s);

    /* a zero window, persist probes, the window opening */
    s_header(&s, ALL_OPTS, ACCEPT_AND_WRITE, 0, 0x10);
    s_handshake(&s, 2);
    s_seg_ts(&s, 2, TCP_ACK, 0, 0, 0, 0, 0, 0);
    s_write(&s, 2, 4000, 0);
    s_time(&s, 0, 20);
    s_time(&s, 0, 50);
    s_seg_ts(&s, 2, TCP_ACK, 0, 0, 4096, 0, 0, 0);
    write_seed(dir, "zero_window_ipv6", &s);

    /* resets in and out of the window, a SYN on an established connection, a bad ACK */
    s_header(&s, 0, 0, 0, 0);
    s_syn(&s, 3);
    s_seg(&s, 3, TCP_ACK, 0, 0, 4096, 0);
    s_seg(&s, 3, TCP_RST, 100, 0, 0, 0);
    s_seg(&s, 3, TCP_SYN, 0, 0, 4096, 0);
    s_seg(&s, 3, TCP_ACK, 0, 5000, 4096, 0);
    s_seg(&s, 3, TCP_RST, 0, 0, 0, 0);
    s_seg(&s, 0x4 | 1, TCP_SYN, 0, 0, 4096, 0); /* to a port nobody listens on */
    s_seg(&s, 1, TCP_ACK, 0, 0, 4096, 10);      /* no connection */
    write_seed(dir, "resets_vlan", &s);

    /* the engine opens a connection; the peer answers SYN-ACK; a simultaneous open on another */
    s_header(&s, ALL_OPTS, 0, 0, 0x10);
    s8(&s, 0 << 4 | OP_CONNECT);
    s8(&s, 0 << 4 | OP_SEGMENT);
    s8(&s, TCP_SYN | TCP_ACK);
    s8(&s, SEQ_OWN | ACK_SENT_END << 2);
    s16(&s, 0);
    s16(&s, 0);
    s16(&s, 8192);
    s8(&s, OPT_B_MSS);
    s16(&s, 1000);
    s16(&s, 0);
    s_write(&s, 0, 2000, 0);
    s8(&s, 1 << 4 | OP_CONNECT);
    s_syn(&s, 1);
    s_seg(&s, 1, TCP_ACK, 0, 0, 8192, 0);
    write_seed(dir, "active_open", &s);

    /* TIME-WAIT, then a new SYN on the same tuple */
    s_header(&s, ALL_OPTS, READABLE_READ_ALL << 2, 0, 0);
    s_handshake(&s, 0);
    s_app(&s, OP_SHUTDOWN, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_FIN, 0, 0, 2048, 10, 0, 0);
    s_time(&s, 0, 100);
    s_syn(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    write_seed(dir, "time_wait_reuse", &s);

    /* garbage, and garbage with repaired checksums */
    s_header(&s, 0, 0, 0, 0);
    s8(&s, OP_RAW);
    s16(&s, 60);
    for (int i = 0; i < 60; i++)
        s8(&s, (uint32_t)i * 37);
    s8(&s, 0x1 << 4 | OP_RAW);
    {
        static const uint8_t ipv4_syn[] = {
            0x02, 0,    0, 0,  0, 1, 0x02, 0, 0,  0, 0, 9, 0x08, 0x00,                          /* Ethernet */
            0x45, 0,    0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10,   0,       0,    9, 10, 0, 0, 1, /* IPv4 */
            0x30, 0x39, 0, 80, 0, 0, 0,    1, 0,  0, 0, 0, 0x50, TCP_SYN, 0x20, 0, 0,  0, 0, 0, /* TCP */
        };

        s16(&s, sizeof(ipv4_syn));
        for (size_t i = 0; i < sizeof(ipv4_syn); i++)
            s8(&s, ipv4_syn[i]);
    }
    write_seed(dir, "raw_frames", &s);

    /* keepalive and timeouts with nothing from the peer */
    s_header(&s, ALL_OPTS | 0x10, 0, 0, 0x10);
    s_handshake(&s, 0);
    s_write(&s, 0, 100, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    s_time(&s, 2, 3);
    s_time(&s, 2, 3);
    s_syn(&s, 1);
    s_time(&s, 2, 5);
    write_seed(dir, "timeouts_keepalive", &s);

    /* late TX completions, a tiny pool and TX list: the retry paths */
    s_header(&s, ALL_OPTS | 0x20, ACCEPT_AND_WRITE | 0x10 | 0x40, 0x02, 0);
    s_handshake(&s, 0);
    s_write(&s, 0, 20000, WRITE_ZERO_COPY);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 65535, 0, 0, 0);
    s8(&s, OP_TX_DONE);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 65535, 0, 0, 0);
    write_seed(dir, "late_tx_small_pool", &s);

    /* MTU 576, one connection, one half-open, the clock about to wrap 2^32 µs; a second SYN is dropped */
    s_header(&s, ALL_OPTS, 0x80, 0x80 | 0x40 | 0x20, 0);
    s_syn(&s, 0);
    s_syn(&s, 1);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 500, 0, 0);
    s_time(&s, 2, 5);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 500, 0, 0);
    write_seed(dir, "limits_small_mtu_clock_wrap", &s);

    /*
     * Hand-off, as tests/net/tcp_test.c plays it: held through the handshake, the first bytes route
     * the connection to engine 1; export before the flush, import, the application there reads the
     * stream from its first byte; a late frame at the old owner is forwarded; the map learns the move.
     */
    s_header(&s, ALL_OPTS, ACCEPT_AND_WRITE | READABLE_READ_ALL << 2 | 0x10, 0, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 2048, 200, 0, 0); /* held: nobody reads it yet */
    seed_route = ROUTE_THERE;
    s_seg_ts(&s, 0 | ARG_BATCH, TCP_ACK | TCP_PSH, 0, 0, 2048, 300, 0, 0);
    s_op(&s, OP_EXPORT, ARG_BATCH);
    s_op(&s, OP_DELIVER, 1 | ARG_BATCH);
    s_op(&s, OP_FLUSH, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 2048, 100, 0, 0); /* to the old owner: forwarded */
    s_op(&s, OP_DELIVER, 1);
    s8(&s, 0 << 4 | OP_MAP);
    s8(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 4096, 100, 0, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_FIN, 0, 0, 4096, 0, 0, 0);
    s_app(&s, OP_CLOSE, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 4096, 0, 0, 0);
    write_seed(dir, "handoff_move", &s);

    /*
     * A SYN steered MOVE finds no connection and is forwarded; one held first (no route) and then
     * routed by a repeated SYN leaves in SYN-RECEIVED. In transit while time passes, the peer's ACK
     * and data at the old owner are forwarded behind it; everything arrives at once.
     */
    s_header(&s, 0x03, READABLE_READ_ALL << 2, 0, 0x10);
    seed_route = ROUTE_THERE;
    s_syn(&s, 3);
    s_op(&s, OP_DELIVER, 2 | 1);
    s_op(&s, OP_MAP, 3);
    s8(&s, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 1);
    seed_route = ROUTE_THERE;
    s_syn(&s, 1);
    s_time(&s, 0, 5);
    s_seg(&s, 1, TCP_ACK, 0, 0, 8192, 0);
    s_seg(&s, 1, TCP_ACK | TCP_PSH, 0, 0, 8192, 500);
    s_seg(&s, 1, TCP_ACK | TCP_PSH, 500, 0, 8192, 500);
    s_time(&s, 0, 30);
    s_op(&s, OP_DELIVER, 1 | 2);
    s_time(&s, 0, 30);
    s_op(&s, OP_MAP, 1);
    s8(&s, 0);
    s_seg(&s, 1, TCP_ACK | TCP_FIN, 0, 0, 8192, 0);
    write_seed(dir, "handoff_syn_received_transit", &s);

    /* no route for a while: held data, delayed ACKs and timers run, then the worker places it here */
    s_header(&s, ALL_OPTS, READABLE_READ_SOME << 2, 0, 0x10);
    seed_route = ROUTE_NONE;
    s_syn(&s, 2);
    s_seg_ts(&s, 2, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    s_seg_ts(&s, 2, TCP_ACK | TCP_PSH, 0, 0, 2048, 400, 0, 0);
    s_seg_ts(&s, 2, TCP_ACK | TCP_PSH, 800, 0, 2048, 400, 0, 0); /* out of order, held too */
    s_time(&s, 0, 50);
    s_op(&s, OP_PLACE, 2);
    s_app(&s, OP_READ, 2);
    s_seg_ts(&s, 2, TCP_ACK | TCP_PSH, 0, 0, 2048, 800, 0, 0);
    write_seed(dir, "handoff_hold_place", &s);

    /* the application has the connection before the route is known: MOVE finds it pinned; and a
     * placement racing a MOVE in one batch, so the export finds the connection no longer held */
    s_header(&s, ALL_OPTS, READABLE_READ_ALL << 2, 0, 0);
    s_handshake(&s, 0);
    seed_route = ROUTE_THERE;
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 2048, 100, 0, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 1);
    s_seg_ts(&s, 1, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    seed_route = ROUTE_THERE;
    s_seg_ts(&s, 1 | ARG_BATCH, TCP_ACK | TCP_PSH, 0, 0, 2048, 100, 0, 0);
    s_op(&s, OP_PLACE, 1 | ARG_BATCH);
    s_op(&s, OP_FLUSH, 0);
    s_seg_ts(&s, 1, TCP_ACK | TCP_PSH, 0, 0, 2048, 100, 0, 0);
    write_seed(dir, "handoff_pinned_place_race", &s);

    /* one connection per engine: peer 1 lives on engine 1, so peer 0's import is refused there and the
     * peer's next segments, forwarded, meet no connection; later the map forgets peer 1's flow */
    s_header(&s, 0, 0, 0x20, 0x10);
    s8(&s, 1 << 4 | OP_MAP);
    s8(&s, MAP_FORGET | MAP_OWNER_1);
    seed_route = ROUTE_HERE;
    s_syn(&s, 1);
    s_seg(&s, 1, TCP_ACK, 0, 0, 8192, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 0);
    seed_route = ROUTE_THERE;
    s_seg(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 8192, 100); /* the refused TCB holds a frame */
    s_op(&s, OP_DELIVER, 1);
    s_seg(&s, 0, TCP_ACK | TCP_PSH, 0, 0, 8192, 10);
    s_op(&s, OP_DELIVER, 4);
    s_app(&s, OP_CLOSE, 1);
    s_seg(&s, 1, TCP_ACK | TCP_FIN, 0, 0, 8192, 0);
    s_time(&s, 1, 20);
    s8(&s, 1 << 4 | OP_MAP);
    s8(&s, MAP_FORGET);
    seed_route = ROUTE_THERE;
    s_syn(&s, 1);
    write_seed(dir, "handoff_import_refused", &s);

    /*
     * Export from the retry list: 16 frames, TX completions one flush late; a held connection keeps
     * out-of-order segments until its duplicate ACK finds no frame (retry), then the next segment,
     * routed away, makes it MOVABLE before the flush that would have retried it.
     */
    s_header(&s, ALL_OPTS | 0x20, 0, 0x02, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    for (int i = 0; i < 15; i++)
        s_seg_ts(&s, 0, TCP_ACK, (int16_t)(100 + 10 * i), 0, 2048, 1, 0, 0);
    seed_route = ROUTE_THERE;
    s_seg_ts(&s, 0, TCP_ACK, 300, 0, 2048, 1, 0, 0);
    s_op(&s, OP_DELIVER, 1);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 100, 0, 0);
    s_op(&s, OP_DELIVER, 1);
    write_seed(dir, "handoff_export_retry", &s);

    /* imported and routed away again before engine 1's flush could give it to the application: the
     * connection goes back, and the application on engine 0 reads it all */
    s_header(&s, ALL_OPTS, READABLE_READ_ALL << 2, 0, 0);
    seed_route = ROUTE_NONE;
    s_syn(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK, 0, 0, 2048, 0, 0, 0);
    seed_route = ROUTE_THERE;
    s_seg_ts(&s, 0 | ARG_BATCH, TCP_ACK | TCP_PSH, 0, 0, 2048, 300, 0, 0);
    s_op(&s, OP_EXPORT, ARG_BATCH);
    s_op(&s, OP_DELIVER, 1 | ARG_BATCH);
    s_op(&s, OP_MAP, ARG_BATCH);
    s8(&s, 0);
    seed_route = ROUTE_THERE | ROUTE_AGAIN;
    s_seg_ts(&s, 0 | ARG_BATCH, TCP_ACK | TCP_PSH, 300, 0, 2048, 200, 0, 0);
    s_op(&s, OP_FLUSH, 0);
    s_op(&s, OP_DELIVER, 0);
    s_op(&s, OP_MAP, 0);
    s8(&s, 0);
    s_seg_ts(&s, 0, TCP_ACK | TCP_PSH, 300, 0, 2048, 200, 0, 0);
    write_seed(dir, "handoff_move_back", &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("TCP_FUZZ_WRITE_SEEDS");

    (void)argc;
    (void)argv;
    trace = getenv("TCP_FUZZ_TRACE") != NULL;
    no_drain = getenv("TCP_FUZZ_NO_DRAIN") != NULL;
    if (dir) {
        write_seeds(dir);
        fprintf(stderr, "tcp_fuzz: seeds written to %s\n", dir);
        exit(0);
    }
    return 0;
}
