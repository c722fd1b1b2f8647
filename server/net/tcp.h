/*
 * tcp.h — sluice's TCP engine: server-side TCP per RFC 9293 and companions, sans-I/O.
 *
 * One engine per worker. It is given received frames (Ethernet onward) and the time, and it
 * produces frames to transmit, application events through callbacks and its next deadline. It
 * never touches a socket, a clock or another thread, so the same code runs under AF_XDP, on a TAP
 * device and between two engines in a simulated network.
 *
 * Data stays in frames (frame.h): received payload is read where it lies and released as the
 * application consumes it; data to send is written into frames that stay queued until
 * acknowledged, so a retransmission sends the same frame again. Per batch the caller does:
 *
 *     tcp_engine_begin(e, now_ns);            -- timers due by now fire
 *     tcp_input(e, frame, off, len);          -- for each received frame
 *     ... the application reads and writes from its callbacks or afterwards ...
 *     tcp_engine_flush(e);                    -- segments for everything that changed
 *     move e->tx[0..ntx) to the wire; tcp_tx_consumed(e, n);
 *     on each TX completion: frame_put(cache, frame, FRAME_OWN_TX);
 *     sleep until tcp_engine_next_deadline(e) or input.
 *
 * A connection (struct tcp_conn) holds all of its state, frames by index, so it can move to
 * another worker's engine over the same frame pool (tcp_conn_export / tcp_conn_import).
 */
#ifndef SLUICE_NET_TCP_H
#define SLUICE_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/frame.h"
#include "net/packet.h"
#include "net/timer_wheel.h"

struct tcp_conn;

/* Congestion control: how a sender grows and cuts its window (tcp_cc.c's table, one file each). */
enum tcp_congestion {
    TCP_CC_CUBIC,   /* RFC 9438, the default as in Linux */
    TCP_CC_NEWRENO, /* RFC 5681, RFC 6582 */
    TCP_CC_COUNT,
};

struct tcp_config {
    uint16_t mtu;            /* IP MTU of the link; the MSS we offer follows from it */
    uint32_t rcv_buf;        /* payload bytes a connection buffers for the application (window) */
    uint32_t snd_buf;        /* payload bytes a connection queues for sending */
    uint32_t ooo_max_frames; /* out-of-order frames held per connection */
    uint32_t max_conns;      /* connections in any state, including half-open; TIME-WAIT has its own */
    uint32_t max_time_wait;  /* compact TIME-WAIT entries (tcp_time_wait.c); the oldest goes when full */
    uint32_t max_half_open;  /* connections in SYN-RECEIVED */
    bool timestamps;         /* RFC 7323 timestamps, when the peer offers them */
    bool sack;               /* RFC 2018 SACK, when the peer offers it */
    bool window_scaling;     /* RFC 7323 window scaling, when the peer offers it */
    bool nagle;              /* RFC 896; off by default: writes in one batch are coalesced anyway */
    uint32_t rto_initial_ms; /* RFC 6298 2.1 */
    uint32_t rto_min_ms;
    uint32_t rto_max_ms;
    uint32_t delack_ms;         /* delayed ACK timeout */
    uint32_t syn_retries;       /* SYN-ACK retransmissions before giving up */
    uint32_t data_retries;      /* RTO expiries of one segment before the connection is aborted */
    uint32_t keepalive_idle_ms; /* 0: no keepalive */
    uint32_t keepalive_intvl_ms;
    uint32_t keepalive_probes;
    uint32_t time_wait_ms;          /* 2 MSL */
    uint32_t challenge_ack_limit;   /* RFC 5961 challenge ACKs per second, per engine */
    uint32_t initial_cwnd;          /* segments, RFC 6928 */
    enum tcp_congestion congestion; /* of the connections this engine sends on */
    uint32_t tx_max;                /* frames an engine emits per flush before the caller drains them */
    uint32_t frags_max; /* frames one segment may span, either way (1 unless the datapath chains) */
    bool csum_offload;  /* data segments' TCP checksums are left to the datapath (tcp_tx.csum_start) */
    uint32_t hold_ms;   /* longest a connection waits, held, for steering to place it */
    uint64_t secret[2]; /* keys the ISN generator and the connection hash */
};

/* Sensible defaults: MTU 1500, 256 KiB buffers, timestamps/SACK/window scaling on, keepalive off, CUBIC. */
void tcp_config_default(struct tcp_config *cfg);

struct tcp_callbacks {
    /* A handshake completed on a listening port; return the application's context or NULL to reset. */
    void *(*accept)(void *ctx, struct tcp_conn *c);
    /* New in-order bytes, or the peer's FIN (tcp_eof), are there to read. */
    void (*readable)(void *ctx, struct tcp_conn *c);
    /* Send space opened after a write found it short. */
    void (*writable)(void *ctx, struct tcp_conn *c);
    /* The connection is over: 0 after an orderly close, ECONNRESET, ETIMEDOUT, ECONNABORTED or (an
     * active open) ECONNREFUSED. c is gone once this returns; a connection closed by tcp_abort, or by
     * tcp_close in SYN-SENT, gets no call. */
    void (*closed)(void *ctx, struct tcp_conn *c, int error);
};

/* Engine counters, declared once: name and meaning. Exported as metrics by the server. */
#define TCP_ENGINE_COUNTERS(X)                                                                               \
    X(segs_in, "segments received and parsed")                                                               \
    X(segs_out, "segments emitted")                                                                          \
    X(bytes_in, "payload bytes accepted in order")                                                           \
    X(bytes_out, "payload bytes emitted, retransmissions included")                                          \
    X(parse_errors, "frames dropped by pkt_parse (see parse_* counters)")                                    \
    X(conns_accepted, "handshakes completed and accepted by the application")                                \
    X(conns_refused, "handshakes the application refused")                                                   \
    X(conns_closed, "connections whose slot was freed: CLOSED, or TIME-WAIT handed to a compact entry")      \
    X(syn_dropped_limit, "SYNs dropped: connection limit reached")                                           \
    X(half_open_evicted,                                                                                     \
      "SYN-RECEIVED connections dropped for a new SYN: the oldest, when max_half_open were")                 \
    X(syn_dropped_no_frame, "SYNs dropped: no frame for the SYN-ACK")                                        \
    X(rst_sent, "resets sent")                                                                               \
    X(rst_received, "acceptable resets received")                                                            \
    X(rst_no_conn, "segments without a connection answered with a reset")                                    \
    X(not_listening, "SYNs to a port nobody listens on")                                                     \
    X(retrans_rto, "segments retransmitted by the retransmission timer")                                     \
    X(retrans_fast, "segments retransmitted by fast retransmit or recovery")                                 \
    X(rto_expired, "retransmission timer expiries")                                                          \
    X(timeouts, "connections aborted after too many retransmissions or probes")                              \
    X(dup_acks, "duplicate ACKs received")                                                                   \
    X(ooo_segments, "segments queued out of order")                                                          \
    X(ooo_dropped, "out-of-order segments dropped: budget exhausted")                                        \
    X(rcv_dropped_window, "segments or bytes outside the receive window")                                    \
    X(rcv_dropped_buffer, "in-order segments dropped: receive buffer full")                                  \
    X(paws_rejected, "segments rejected by PAWS")                                                            \
    X(challenge_acks, "RFC 5961 challenge ACKs sent")                                                        \
    X(challenge_acks_limited, "challenge ACKs suppressed by the rate limit")                                 \
    X(bad_ack, "segments acknowledging data never sent, or too old")                                         \
    X(window_probes, "zero-window probes sent")                                                              \
    X(tlp_probes, "tail loss probes sent (RFC 8985): a lost tail found without waiting for the RTO")         \
    X(keepalive_probes, "keepalive probes sent")                                                             \
    X(time_wait_entered, "connections whose TIME-WAIT went to a compact entry, their slot freed at once")    \
    X(time_wait_dropped, "TIME-WAIT entries dropped early, oldest first: max_time_wait reached")             \
    X(time_wait_reused, "TIME-WAIT connections reused by a new SYN")                                         \
    X(split_copies, "segments copied to split a frame for a smaller window (the one payload copy)")          \
    X(tx_full, "flushes stopped early because the TX list was full")                                         \
    X(frames_exhausted, "frames the pool could not provide")                                                 \
    X(hold_expired, "held connections placed here because steering had not decided in hold_ms")              \
    X(handoffs_out, "held connections exported to another engine")                                           \
    X(handoffs_in, "connections imported from another engine")                                               \
    X(handoffs_failed, "imports refused (no slot, or the tuple in use): the connection was dropped")         \
    X(conns_cookie, "connections opened ESTABLISHED from an ACK whose SYN cookie XDP validated")             \
    X(cookie_refused, "ACKs handed over as cookies that opened nothing: flagged invalid, or no slot")

struct tcp_stats {
#define TCP_STATS_FIELD(name, help) uint64_t name;
    TCP_ENGINE_COUNTERS(TCP_STATS_FIELD)
#undef TCP_STATS_FIELD
    uint64_t parse[PKT_RESULT_COUNT];
};

/* Frames a segment spans at most: the kernel builds a copy-mode skb of at most 17 (MAX_SKB_FRAGS). */
#define TCP_SEG_FRAMES_MAX 16

/* One frame to transmit; `more` when the next entry continues the same packet (a frame chain). */
struct tcp_tx {
    uint32_t frame;
    uint16_t off;
    uint16_t len;
    bool more;
    uint8_t csum_start; /* with csum_offload: the TCP header's offset from off, where summing starts */
};

/* Compact TIME-WAIT entries (tcp_time_wait.c): a slab with a hash of its own and one FIFO. */
struct tcp_time_wait;
struct tcp_time_wait_table {
    struct tcp_time_wait *entries; /* slab of cfg.max_time_wait */
    uint32_t *buckets;             /* hash of 4-tuples -> entry index chains */
    uint32_t bucket_mask;
    uint32_t free;   /* free-list head of the slab */
    uint32_t oldest; /* the FIFO, which is deadline order */
    uint32_t newest;
    uint32_t count;
};

struct tcp_engine {
    struct tcp_config cfg;
    struct frame_cache *frames;
    const struct tcp_callbacks *cb;
    void *cb_ctx;

    uint64_t now_us;
    struct timer_wheel wheel;

    struct tcp_conn *conns; /* slab of cfg.max_conns */
    uint32_t *buckets;      /* hash of 4-tuples -> conn index chains */
    uint32_t bucket_mask;
    uint32_t free_conn; /* free-list head of the slab */
    uint32_t nconns;
    uint32_t nhalf_open;
    uint32_t half_open_oldest, half_open_newest; /* slot indices, UINT32_MAX when none (tcp_half_open_add) */

    struct tcp_time_wait_table tw;

    uint8_t listening[65536 / 8]; /* bit per local port */

    struct tcp_conn *dirty;  /* connections with output to generate at the next flush */
    struct tcp_conn *retry;  /* connections waiting for a TX completion, dirty again next flush */
    struct tcp_conn *zombie; /* closed connections freed at the next flush */

    struct tcp_tx *tx;
    uint32_t ntx;

    uint16_t ip_id;
    uint64_t challenge_window_us;
    uint32_t challenge_count;

    struct tcp_stats stats;

    /* tcp_engine_on_end's hook; NULL: none */
    void (*on_end)(void *ctx, const struct pkt_tuple *t);
    void *on_end_ctx;
};

/* Allocates the connection slab and tables; returns 0 or -1 with errno set. */
int tcp_engine_init(struct tcp_engine *e, const struct tcp_config *cfg, struct frame_cache *frames,
                    const struct tcp_callbacks *cb, void *cb_ctx, uint64_t now_ns);
/* Releases every connection's frames and the tables. No callbacks run. */
void tcp_engine_destroy(struct tcp_engine *e);

void tcp_listen(struct tcp_engine *e, uint16_t port);

/*
 * Have fn called with the tuple of every connection whose slot is freed (closed, reset, timed out,
 * TIME-WAIT handed to a compact entry; whether the application had it or not; not a hand-off to
 * another engine) and of every SYN dropped for want of a slot or refused for want of a listener:
 * the moments a tuple stops holding anything here. The AF_XDP datapath gives the flow's per-source count back
 * then (xdp_worker.c).
 */
void tcp_engine_on_end(struct tcp_engine *e, void (*fn)(void *ctx, const struct pkt_tuple *t), void *ctx);

/*
 * Active open (for test peers and tools; the server only listens): a SYN to t's remote side over
 * link. user is the application's context; writable is called once the connection is established,
 * closed with ECONNREFUSED or ETIMEDOUT if it never is. NULL when no connection slot is free.
 */
struct tcp_conn *tcp_connect(struct tcp_engine *e, const struct pkt_tuple *t, const struct pkt_link *link,
                             void *user);

/* Set the time for the work that follows and fire the timers due by then. */
void tcp_engine_begin(struct tcp_engine *e, uint64_t now_ns);

/* Hand a received frame to the engine, which keeps it (queued payload) or releases it. */
void tcp_input(struct tcp_engine *e, uint32_t frame, uint32_t off, uint32_t len);

/* A packet received in pieces (multi-buffer), in order; the first holds every header. */
struct tcp_rx_chain {
    uint32_t n;
    struct tcp_rx_piece {
        uint32_t frame;
        uint16_t off;
        uint16_t len;
    } piece[TCP_SEG_FRAMES_MAX];
};

/* tcp_input for a chain: every frame of it belongs to the engine from here on. */
void tcp_input_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain);

/* Generate the segments everything since the last flush calls for, into e->tx. */
void tcp_engine_flush(struct tcp_engine *e);

/* The caller moved the first n entries of e->tx to the wire. */
void tcp_tx_consumed(struct tcp_engine *e, uint32_t n);

/* When the engine next needs tcp_engine_begin, in nanoseconds; UINT64_MAX when never. */
uint64_t tcp_engine_next_deadline(const struct tcp_engine *e);

/* Frames currently held by connections (received payload and unacknowledged data). */
uint64_t tcp_engine_frames_held(const struct tcp_engine *e);

/* ---- connections: the application's side ---------------------------------------------------- */

void tcp_conn_set_user(struct tcp_conn *c, void *user);
void *tcp_conn_user(const struct tcp_conn *c);
const struct pkt_tuple *tcp_conn_tuple(const struct tcp_conn *c);

/* In-order bytes ready to read. */
size_t tcp_readable(const struct tcp_conn *c);
/* The peer sent FIN and every byte before it has been read. */
bool tcp_eof(const struct tcp_conn *c);
/*
 * Point iov[0..max) at the readable bytes where they lie in their frames; returns how many
 * entries were filled. The pointers stay valid until tcp_consume releases those bytes.
 */
int tcp_peek(const struct tcp_conn *c, struct iovec *iov, int max);
/* Release n read bytes: their frames go back to the pool and the window opens. */
void tcp_consume(struct tcp_conn *c, size_t n);

/* Bytes tcp_write would accept now. */
size_t tcp_writable(const struct tcp_conn *c);
/* Have writable called when acknowledgements free send space (a writer that wants a minimum). */
void tcp_want_writable(struct tcp_conn *c);
/* Copy up to len bytes into send frames (the one copy on the way out); returns bytes accepted. */
size_t tcp_write(struct tcp_conn *c, const void *data, size_t len);
/*
 * Zero-copy write: room in the tail send frame, where the caller builds bytes in place, then
 * tcp_write_commit(c, n) appends n of them. NULL when nothing can be written now.
 */
uint8_t *tcp_write_reserve(struct tcp_conn *c, size_t *room);
void tcp_write_commit(struct tcp_conn *c, size_t n);

/* No more writes: FIN follows the queued data (during an active open, once established). Reading
 * continues until EOF. */
void tcp_shutdown(struct tcp_conn *c);
/*
 * The application is done with the connection: shutdown, and unread or later data is discarded. No
 * callback but closed follows. In SYN-SENT the connection is dropped at once, without a closed call.
 */
void tcp_close(struct tcp_conn *c);
/* Reset now; queued data is dropped; no closed callback follows. */
void tcp_abort(struct tcp_conn *c);

/* RFC 9293 states, for tests and metrics. */
enum tcp_state {
    TCP_CLOSED,
    TCP_SYN_SENT,
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_LAST_ACK,
    TCP_TIME_WAIT,
};
enum tcp_state tcp_conn_state(const struct tcp_conn *c);
const char *tcp_state_name(enum tcp_state s);

/* Find a connection by its tuple (tests, hand-off). */
struct tcp_conn *tcp_conn_lookup(struct tcp_engine *e, const struct pkt_tuple *t);
/* Whether the tuple is in TIME-WAIT, kept as a compact entry rather than a connection (tests). */
bool tcp_time_wait_held(struct tcp_engine *e, const struct pkt_tuple *t);

/* ---- steering: connections placed on a worker by their first bytes (tcp_handoff.c) ------------ */

/*
 * Where the steering program placed a received frame (data path step 3; the worker reads it from
 * the steering program's prefix to the frame). A connection whose route is not known yet is held: the engine
 * runs its TCP as usual but tells the application nothing, so that it can still move whole to another engine
 * over the same frame pool, received bytes and unacknowledged frames included.
 */
enum tcp_steer {
    TCP_STEER_PLACED, /* the connection is this engine's: one held back goes to the application */
    TCP_STEER_HOLD,   /* no route yet: keep the connection from the application */
    TCP_STEER_MOVE,   /* routed to another engine: keep it held for tcp_conn_export */
};

enum tcp_steered {
    TCP_STEERED_DONE,    /* input as tcp_input */
    TCP_STEERED_FOREIGN, /* MOVE, and no connection here: the frame is untouched and still the caller's */
    TCP_STEERED_MOVABLE, /* MOVE: *conn is held, to export once this batch's input is done */
    TCP_STEERED_PINNED,  /* MOVE, but the application has *conn already: it stays here */
};

/*
 * What a SYN cookie kept of the client's SYN, when the steering program answered the SYN itself and
 * validated the returning ACK (maps/sluice_maps.h, "SYN cookies"). Such an ACK opens the connection
 * ESTABLISHED: no SYN-RECEIVED state ever existed. A cookie not valid opens nothing (counted).
 */
#define TCP_COOKIE_NO_WSCALE 15
struct tcp_syncookie {
    bool valid;
    bool sack;      /* the client permitted SACK */
    bool ts;        /* the client sends timestamps: the ACK's TSecr is the SYN-ACK's TSval */
    uint8_t wscale; /* the client's window shift; TCP_COOKIE_NO_WSCALE: it offered none */
    uint16_t mss;   /* the client's MSS, as the cookie holds it */
};

/* What a SYN-ACK made elsewhere for this engine must offer: its IPv4 MSS (IPv6: 20 less) and window
 * shift (TCP_COOKIE_NO_WSCALE without window scaling: the SYN-ACK offers none). */
void tcp_engine_syncookie_offer(const struct tcp_engine *e, uint16_t *mss_v4, uint8_t *wscale);

/* tcp_input for a frame the steering program placed as steer says. */
enum tcp_steered tcp_input_steered_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain,
                                         enum tcp_steer steer, struct tcp_conn **conn);
enum tcp_steered tcp_input_steered(struct tcp_engine *e, uint32_t frame, uint32_t off, uint32_t len,
                                   enum tcp_steer steer, struct tcp_conn **conn);
/* tcp_input_steered_chain for the ACK of a SYN cookie handshake (cookie NULL: none): when no
 * connection has its tuple, a valid cookie opens one from it. */
enum tcp_steered tcp_input_cookie_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain,
                                        enum tcp_steer steer, const struct tcp_syncookie *cookie,
                                        struct tcp_conn **conn);

/* Place a held connection here after all: the application hears of it at the next flush. */
void tcp_conn_place(struct tcp_conn *c);

/* A connection in transit between two engines: its TCB; its frames stay where they are, by index. */
#define TCP_HANDOFF_BYTES 512
struct tcp_handoff {
    _Alignas(16) unsigned char tcb[TCP_HANDOFF_BYTES];
};

/*
 * Take a held connection out of its engine into h, without a callback or a segment: false when the
 * application has it, or it is closing (TIME-WAIT): then it stays. Call between input and flush,
 * so that the ACK owed for the input goes out from the importing engine.
 */
bool tcp_conn_export(struct tcp_conn *c, struct tcp_handoff *h);
/*
 * Adopt a connection another engine over the same frame pool exported: it is placed here, and the
 * application hears of it (accept, then readable) at the next flush. NULL when no slot is free or
 * the tuple is in use; the connection's frames are released then and the peer will be reset.
 * The engine's clock must not be behind the exporter's (tcp_engine_begin after taking h).
 */
struct tcp_conn *tcp_conn_import(struct tcp_engine *e, const struct tcp_handoff *h);

#endif
