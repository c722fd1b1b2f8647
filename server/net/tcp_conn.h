/*
 * tcp_conn.h — the TCB and what the engine's files share about it. Private to server/net/tcp_*.c.
 *
 * A connection's payload lives in frames linked through frame_meta.next into three queues:
 *   rcvq  in-order received bytes not yet consumed: [rcv_nxt - rcv_queued, rcv_nxt)
 *   ooo   out-of-order received segments, sorted, non-overlapping, all beyond rcv_nxt
 *   sndq  bytes written and not yet acknowledged: [snd_una, snd_end), one segment per frame,
 *         each frame's payload preceded by FRAME_TX_HEADROOM bytes for its headers
 * All sequence comparisons are modulo 2^32 (seq_lt and friends).
 *
 * Timers: one wheel entry per connection at the earliest of its deadlines (retransmission or
 * persist or SYN-ACK, delayed ACK, keepalive or TIME-WAIT). TIME-WAIT is spent in a compact entry
 * (tcp_time_wait.c) once the application heard closed(0): the TCB only sees its first instants.
 */
#ifndef SLUICE_NET_TCP_CONN_H
#define SLUICE_NET_TCP_CONN_H

#include "net/tcp.h"

static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static inline bool seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}
static inline bool seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}
static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* NOP, NOP and the timestamp option: on every segment once negotiated, so the MSS leaves room for it */
#define TCP_TS_OPT_LEN 12

static inline void tcp_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

struct frame_queue {
    uint32_t head;
    uint32_t tail;
    uint32_t count;
};

enum tcp_conn_flag {
    CONN_F_TS = 1u << 0,             /* timestamps negotiated */
    CONN_F_SACK = 1u << 1,           /* SACK negotiated */
    CONN_F_WS = 1u << 2,             /* window scaling negotiated */
    CONN_F_ACCEPTED = 1u << 3,       /* the application has the connection */
    CONN_F_FIN_QUEUED = 1u << 4,     /* the application shut down writing; FIN at snd_end */
    CONN_F_FIN_RCVD = 1u << 5,       /* the peer's FIN was accepted in order */
    CONN_F_APP_CLOSED = 1u << 6,     /* tcp_close: incoming data is discarded */
    CONN_F_DIRTY = 1u << 7,          /* on the engine's dirty list */
    CONN_F_WANT_WRITABLE = 1u << 8,  /* a write came up short: call writable when space opens */
    CONN_F_ZOMBIE = 1u << 9,         /* on the zombie list, freed at the next flush */
    CONN_F_IN_RECOVERY = 1u << 10,   /* fast recovery until snd_una passes recover */
    CONN_F_RESEND_SYNACK = 1u << 11, /* our SYN or SYN-ACK is due (again) */
    CONN_F_PROBE = 1u << 12,         /* send a window or keepalive probe at the next flush */
    CONN_F_RETRY = 1u << 13,         /* output waits for a frame still in a TX ring: on the retry list */
    CONN_F_TLP_ARMED = 1u << 14,     /* the retransmission timer is a tail loss probe timeout (RFC 8985 7) */
    CONN_F_TLP_SENT = 1u << 15,      /* a probe is out: no other until an ACK moves snd_una */
    CONN_F_PROBE_TAIL = 1u << 16,    /* send the tail loss probe at the next flush */
    CONN_F_AFTER_RTO = 1u << 17,     /* no fast retransmit until snd_una passes recover (RFC 6582 4.1) */
    CONN_F_HELD = 1u << 18, /* steering has not placed it yet: no application events (tcp_handoff.c) */
};

/* Application events, delivered from tcp_engine_flush so that callbacks never run mid-segment. */
enum tcp_conn_event {
    EV_ACCEPT = 1u << 0,
    EV_READABLE = 1u << 1,
    EV_WRITABLE = 1u << 2,
    EV_CLOSED = 1u << 3, /* TIME-WAIT reached: closed(0) after the last readable, then a compact entry */
};

enum ack_need {
    ACK_NONE = 0,
    ACK_DELAYED = 1, /* owed, may wait for the delayed-ACK timer or ride on data */
    ACK_NOW = 2,     /* send at this flush */
};

enum tcp_conn_timer {
    TIMER_REXMIT, /* RTO, SYN-ACK retransmission or persist, by state */
    TIMER_DELACK,
    TIMER_IDLE, /* keepalive, or the end of TIME-WAIT */
    TIMER_HOLD, /* a held connection is placed here if steering has not decided by then */
    TIMER_COUNT,
};

/* CUBIC's state (tcp_cc_cubic.c): windows in bytes, K in 2^-10 s. */
struct tcp_cc_cubic {
    uint64_t epoch_us;   /* when the current congestion avoidance stage began; 0: not begun */
    uint32_t w_max;      /* the window at the last congestion event, lowered by fast convergence */
    uint32_t cwnd_prior; /* the window when ssthresh was last set */
    uint32_t k;          /* from the epoch until W_cubic is back at w_max */
    uint32_t w_est;      /* the window Reno would have now, had it run since the epoch */
    uint32_t est_acked;  /* bytes acknowledged toward w_est's next segment */
    uint32_t grow_rem;   /* cwnd's growth short of a whole byte, in bytes times cwnd */
};

struct tcp_conn {
    struct pkt_tuple tuple;
    struct pkt_link link;
    uint8_t state; /* enum tcp_state */
    uint8_t snd_wscale;
    uint8_t rcv_wscale;
    uint8_t ack_need; /* enum ack_need */
    uint8_t events;   /* enum tcp_conn_event, pending */
    uint8_t probes;   /* keepalive probes sent without an answer */
    uint8_t cc;       /* enum tcp_congestion: the controller that grows and cuts cwnd */
    uint32_t flags;   /* enum tcp_conn_flag */
    uint16_t mss;     /* payload bytes per segment we send (options excluded) */
    uint32_t index;   /* slot in the engine's slab */
    uint32_t hash_next;
    uint32_t half_open_prev, half_open_next; /* in SYN-RECEIVED: the engine's list by age (slot indices) */
    struct tcp_conn *list_next;              /* dirty or retry list (never both: see tcp_conn_mark_dirty) */
    struct tcp_conn *zombie_next;            /* zombie list */
    struct tcp_engine *engine;               /* the engine whose slab holds this connection */
    void *user;

    /* send sequence space */
    uint32_t iss;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max; /* highest sequence sent + 1 */
    uint32_t snd_end; /* sequence after the last byte queued */
    uint32_t snd_wnd;
    uint32_t snd_wl1;
    uint32_t snd_wl2;
    uint32_t max_snd_wnd;

    /* receive sequence space */
    uint32_t irs;
    uint32_t rcv_nxt;
    uint32_t rcv_adv;       /* right edge of the window last advertised */
    uint32_t last_ack_sent; /* rcv_nxt carried by our last segment (RFC 7323 4.3) */
    uint32_t last_ooo_seq;  /* the most recent out-of-order arrival, first in SACK blocks */
    uint32_t rcv_queued;
    uint32_t fin_rcv_seq; /* sequence number of an out-of-order FIN, valid with ooo_fin */
    uint8_t ooo_fin;
    uint8_t segs_unacked; /* full segments received since our last ACK */
    uint8_t backoff;      /* RTO doublings */
    uint8_t retries;      /* expiries of the current timer episode */

    /* timestamps: ts_recent from the peer; ours are the engine's ms clock + ts_offset */
    uint32_t ts_recent;
    uint32_t ts_recent_ms;
    uint32_t ts_offset;

    /* RTT and congestion control */
    uint32_t srtt_us;
    uint32_t rttvar_us;
    uint32_t min_rtt_us;
    uint32_t rto_us;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint32_t recover;      /* snd_max when recovery began */
    uint32_t sacked;       /* bytes in sndq marked SACKED */
    uint32_t high_sack;    /* highest sequence the peer SACKed */
    uint32_t rack_xmit_us; /* when the latest-sent segment known to have arrived was sent (RFC 8985) */
    uint32_t dupacks;
    uint64_t last_send_us;
    uint64_t last_recv_us;
    union { /* the controller's own state, all-zero to begin with */
        struct {
            uint32_t acked_ca; /* bytes acknowledged toward the next congestion-avoidance increase */
        } newreno;
        struct tcp_cc_cubic cubic;
    } cc_state;

    struct frame_queue rcvq;
    struct frame_queue ooo;
    struct frame_queue sndq;
    uint32_t snd_queued; /* bytes in sndq */

    struct timer timer;
    uint64_t deadline_ms[TIMER_COUNT]; /* 0 = not set */
    int close_error;
};

/* ---- tcp_engine.c ------------------------------------------------------------------------------ */

static inline struct frame_pool *tcp_conn_pool(const struct tcp_engine *e)
{
    return e->frames->pool;
}

static inline uint64_t engine_now_ms(const struct tcp_engine *e)
{
    return e->now_us / 1000;
}

void tcp_conn_mark_dirty(struct tcp_engine *e, struct tcp_conn *c);
void tcp_conn_post(struct tcp_engine *e, struct tcp_conn *c, uint8_t events);
void tcp_conn_mark_retry(struct tcp_engine *e, struct tcp_conn *c);
void tcp_conn_set_timer(struct tcp_engine *e, struct tcp_conn *c, enum tcp_conn_timer which, uint64_t at_ms);
/* Put the wheel entry at the earliest deadline after deadline_ms[] changed directly. */
void tcp_conn_rearm(struct tcp_engine *e, struct tcp_conn *c);
void tcp_conn_clear_timer(struct tcp_engine *e, struct tcp_conn *c, enum tcp_conn_timer which);
/* SYN-RECEIVED connections, in the order they entered it: nhalf_open counts them, and a SYN that finds
 * max_half_open of them evicts the oldest (a flood's spoofed SYN, most likely: a real client's handshake
 * completes within a round trip) instead of being refused itself. */
void tcp_half_open_add(struct tcp_engine *e, struct tcp_conn *c);
void tcp_half_open_remove(struct tcp_engine *e, struct tcp_conn *c);
/* A connection in SYN-RECEIVED for the SYN p. */
struct tcp_conn *tcp_conn_create(struct tcp_engine *e, const struct pkt *p);
/* Adopt what the peer's SYN (or SYN-ACK) says: options, its ISN, its window. */
void tcp_conn_negotiated(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *syn);
/* Leave the table and queue for freeing; calls closed(error) first if the application had it. */
void tcp_conn_finish(struct tcp_engine *e, struct tcp_conn *c, int error, bool notify);
/* The tuple holds nothing here any more: tell tcp_engine_on_end's hook. */
void tcp_tuple_ended(struct tcp_engine *e, const struct pkt_tuple *t);
void tcp_conn_enter_time_wait(struct tcp_engine *e, struct tcp_conn *c);
/* The slab and the tuple table, for connections that arrive or leave whole (tcp_handoff.c). */
struct tcp_conn *tcp_conn_slot_take(struct tcp_engine *e);
void tcp_conn_slot_free(struct tcp_engine *e, struct tcp_conn *c);
void tcp_conn_table_insert(struct tcp_engine *e, struct tcp_conn *c);
void tcp_conn_table_remove(struct tcp_engine *e, struct tcp_conn *c);
uint32_t tcp_conn_rcv_space(const struct tcp_engine *e, const struct tcp_conn *c);

/* Frame queues */
void tcp_fq_push(struct frame_pool *pool, struct frame_queue *q, uint32_t frame);
uint32_t tcp_fq_pop(struct frame_pool *pool, struct frame_queue *q);
void tcp_fq_release_all(struct tcp_engine *e, struct frame_queue *q);

/* ---- tcp_time_wait.c --------------------------------------------------------------------------- */

/* What TIME-WAIT needs of a connection (RFC 9293 3.10.7.4, RFC 6191, RFC 7323), in a slab of its own. */
struct tcp_time_wait {
    struct pkt_tuple tuple;
    struct pkt_link link; /* to answer the peer */
    uint64_t deadline_ms; /* 2 MSL after the entry began or the peer's FIN came again */
    uint32_t snd_nxt;     /* after our FIN: the sequence number of our ACKs */
    uint32_t rcv_nxt;     /* after the peer's FIN: what our ACKs acknowledge; RFC 6191's bound without TS */
    uint32_t rcv_wnd;     /* the window last advertised, bytes: the acceptability test */
    uint32_t ts_recent;   /* the peer's latest TSval: echoed, PAWS, RFC 6191 */
    uint32_t ts_offset;   /* our TSval is the engine's ms clock + this, as the connection's was */
    uint32_t hash_next;   /* bucket chain, or the free list */
    uint32_t older;       /* the FIFO */
    uint32_t newer;
    uint8_t rcv_wscale;
    uint8_t ts; /* timestamps negotiated */
};

/* Allocate the slab and hash of cfg.max_time_wait entries (none for 0); 0 or -1 with errno set. */
int tcp_time_wait_init(struct tcp_engine *e);
void tcp_time_wait_destroy(struct tcp_engine *e);
/*
 * c, in TIME-WAIT, its closed(0) delivered and no ACK owed, is replaced by an entry (the oldest is
 * dropped when none is free) and finished: its slot is free at the end of this flush.
 */
void tcp_time_wait_replace(struct tcp_engine *e, struct tcp_conn *c);
/* A segment for no connection: true when an entry took it; false when none matches or a new SYN
 * reopened the tuple (RFC 6191), which then goes to the listener. */
bool tcp_time_wait_input(struct tcp_engine *e, const struct pkt *p);
/* Drop the entries whose 2 MSL are over. */
void tcp_time_wait_expire(struct tcp_engine *e);
/* The earliest entry's deadline, UINT64_MAX when there is none. */
uint64_t tcp_time_wait_next_ms(const struct tcp_engine *e);
/* Drop t's entry if there is one: a connection of that tuple came from elsewhere (tcp_conn_import). */
bool tcp_time_wait_forget(struct tcp_engine *e, const struct pkt_tuple *t);

/* ---- tcp_input.c ------------------------------------------------------------------------------- */

/* ---- tcp_output.c ------------------------------------------------------------------------------ */

void tcp_output(struct tcp_engine *e, struct tcp_conn *c);
/* A header-only segment built into a fresh frame: ACK, RST, SYN-ACK, FIN or probe. */
bool tcp_send_control(struct tcp_engine *e, struct tcp_conn *c, uint32_t seq, uint8_t flags);
/* Reset answering p when no connection matches it (RFC 9293 3.10.7.1). */
void tcp_send_reset_for(struct tcp_engine *e, const struct pkt *p);
/* A header-only segment into a fresh frame, freed when TX completes; false when no frame or TX room. */
bool tcp_emit_header_only(struct tcp_engine *e, const struct pkt_tuple *t, const struct pkt_link *link,
                          const struct pkt_segment *seg);
/* RFC 5961 challenge ACK, rate limited per engine. */
void tcp_challenge_ack(struct tcp_engine *e, struct tcp_conn *c);
/* Whether the rate limit lets one more challenge ACK go (counted as sent, or as limited). */
bool tcp_challenge_allowed(struct tcp_engine *e);
/* The MSS this engine offers on a connection of family (tcp_engine.c). */
uint16_t tcp_mss_offered(const struct tcp_engine *e, uint8_t family);

/* Payload bytes a send frame holds, after the headroom its headers are written into. */
static inline uint32_t tcp_frame_payload_max(const struct tcp_engine *e)
{
    return e->frames->pool->frame_size - FRAME_TX_HEADROOM;
}
uint32_t tcp_ts_now(const struct tcp_engine *e, const struct tcp_conn *c);

/* ---- tcp_cc.c ---------------------------------------------------------------------------------- */

/*
 * A congestion controller: its rules for cwnd and ssthresh, one row of tcp_cc.c's table per enum
 * tcp_congestion. Everything else is shared: slow start, loss detection, recovery and the pipe,
 * the RTO, the loss window and the restart window.
 */
struct tcp_cc_ops {
    /* New data acknowledged in congestion avoidance: cwnd >= ssthresh, not in recovery. */
    void (*cong_avoid)(const struct tcp_engine *e, struct tcp_conn *c, uint32_t acked);
    /* Congestion (a loss found, or the first RTO of an episode) with flight bytes outstanding: the
     * new ssthresh, at least 2 SMSS. cwnd becomes it, or the loss window after an RTO. */
    uint32_t (*ssthresh)(struct tcp_conn *c, uint32_t flight);
    /* The RTO fired: cwnd is one segment, and slow start begins again. */
    void (*on_rto)(struct tcp_conn *c);
    /* Sending again after idle, cwnd cut to the restart window (RFC 5681 4.1); NULL: nothing to do. */
    void (*on_idle)(struct tcp_conn *c);
};

extern const struct tcp_cc_ops tcp_cc_newreno, tcp_cc_cubic;

void tcp_cc_init(struct tcp_engine *e, struct tcp_conn *c);
void tcp_cc_rtt_sample(struct tcp_engine *e, struct tcp_conn *c, uint32_t rtt_us);
/* New data acknowledged: acked bytes; the ACK's value has already moved snd_una. */
void tcp_cc_on_ack(struct tcp_engine *e, struct tcp_conn *c, uint32_t acked);
void tcp_cc_on_dupack(struct tcp_engine *e, struct tcp_conn *c);
void tcp_cc_on_rto(struct tcp_engine *e, struct tcp_conn *c);
/* The segment in m is known to have arrived (cumulatively acknowledged or SACKed). */
void tcp_cc_rack_delivered(const struct tcp_engine *e, struct tcp_conn *c, const struct frame_meta *m);
/*
 * RACK (RFC 8985 6.2, without its reordering timer): a segment still missing although one sent
 * after it, by more than a quarter RTT, has arrived is lost, retransmissions included. Marks them
 * and starts recovery if it was not running.
 */
void tcp_cc_rack_detect(struct tcp_engine *e, struct tcp_conn *c);
/* Bytes in flight per RFC 6675 (SACKed and lost segments excluded, retransmissions included). */
uint32_t tcp_cc_pipe(const struct tcp_engine *e, const struct tcp_conn *c);
/* Restart after idle (RFC 5681 4.1), called before sending after a quiet period. */
void tcp_cc_idle_restart(struct tcp_engine *e, struct tcp_conn *c);

/* ---- tcp_timer.c ------------------------------------------------------------------------------- */

void tcp_timer_fire(struct timer *t, void *ctx);
void tcp_arm_rexmit(struct tcp_engine *e, struct tcp_conn *c);

/* ---- isn.c ------------------------------------------------------------------------------------- */

uint32_t tcp_isn(const uint64_t secret[2], const struct pkt_tuple *t, uint64_t now_us);
uint32_t tcp_tuple_hash(const uint64_t secret[2], const struct pkt_tuple *t);

#endif
