/*
 * tcp_cc.c — round-trip time, retransmission timeout, loss recovery and the congestion-control table.
 *
 * RTT and RTO per RFC 6298 (µs resolution, 1 ms clock granularity, Karn's rule applied by the
 * caller); slow start per RFC 5681 with appropriate byte counting (RFC 3465, L = 2 SMSS), the loss
 * window and idle restart; loss recovery that counts the pipe as RFC 6675 does when the peer sends
 * SACKs; without SACK, duplicate ACKs stand in for SACKed segments as in RFC 6582. How cwnd grows in
 * congestion avoidance and how far it is cut is the connection's controller's (struct tcp_cc_ops):
 * tcp_cc_newreno.c, tcp_cc_cubic.c.
 */
#include "net/tcp_conn.h"

#define CLOCK_GRANULARITY_US 1000

static const struct tcp_cc_ops *const cc_table[TCP_CC_COUNT] = {
    [TCP_CC_CUBIC] = &tcp_cc_cubic,
    [TCP_CC_NEWRENO] = &tcp_cc_newreno,
};

static const struct tcp_cc_ops *cc_ops(const struct tcp_conn *c)
{
    return cc_table[c->cc];
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

void tcp_cc_init(struct tcp_engine *e, struct tcp_conn *c)
{
    c->rto_us = e->cfg.rto_initial_ms * 1000;
    c->cwnd = e->cfg.initial_cwnd * c->mss;
    c->ssthresh = UINT32_MAX / 2;
    c->cc = (uint8_t)e->cfg.congestion;
}

void tcp_cc_rtt_sample(struct tcp_engine *e, struct tcp_conn *c, uint32_t rtt_us)
{
    uint64_t rto;

    if (!c->min_rtt_us || rtt_us < c->min_rtt_us)
        c->min_rtt_us = rtt_us;
    if (!c->srtt_us) {
        c->srtt_us = rtt_us;
        c->rttvar_us = rtt_us / 2;
    } else {
        uint32_t delta = c->srtt_us > rtt_us ? c->srtt_us - rtt_us : rtt_us - c->srtt_us;

        c->rttvar_us = (3 * c->rttvar_us + delta) / 4;
        c->srtt_us = (7 * c->srtt_us + rtt_us) / 8;
    }
    rto = (uint64_t)c->srtt_us + max_u32(CLOCK_GRANULARITY_US, 4 * c->rttvar_us);
    if (rto < (uint64_t)e->cfg.rto_min_ms * 1000)
        rto = (uint64_t)e->cfg.rto_min_ms * 1000;
    if (rto > (uint64_t)e->cfg.rto_max_ms * 1000)
        rto = (uint64_t)e->cfg.rto_max_ms * 1000;
    c->rto_us = (uint32_t)rto;
}

/* Segments a recovery should resend: every un-SACKed segment below the highest SACK, and the first. */
static void mark_lost(struct tcp_engine *e, struct tcp_conn *c)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    bool first = true;

    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        struct frame_meta *m = frame_meta(pool, f);

        if (!seq_lt(m->seq, c->snd_nxt))
            break;
        if (!first && !((c->flags & CONN_F_SACK) && seq_leq(m->seq + m->len, c->high_sack)))
            break;
        if (!(m->flags & (FRAME_F_SACKED | FRAME_F_RESENT)))
            m->flags |= FRAME_F_LOST;
        first = false;
    }
}

static void clear_recovery_marks(struct tcp_engine *e, struct tcp_conn *c, uint8_t also)
{
    struct frame_pool *pool = tcp_conn_pool(e);

    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next)
        frame_meta(pool, f)->flags &= (uint8_t) ~(FRAME_F_LOST | FRAME_F_RESENT | also);
}

static uint32_t flight_size(const struct tcp_conn *c)
{
    return c->snd_max - c->snd_una;
}

void tcp_cc_on_ack(struct tcp_engine *e, struct tcp_conn *c, uint32_t acked)
{
    c->flags &= ~(uint32_t)CONN_F_TLP_SENT;
    if ((c->flags & CONN_F_AFTER_RTO) && seq_gt(c->snd_una, c->recover))
        c->flags &= ~(uint32_t)CONN_F_AFTER_RTO;
    if (c->flags & CONN_F_IN_RECOVERY) {
        if (seq_geq(c->snd_una, c->recover)) { /* full ACK: recovery is over */
            c->flags &= ~(uint32_t)CONN_F_IN_RECOVERY;
            c->cwnd = c->ssthresh;
            clear_recovery_marks(e, c, 0);
        } else { /* partial ACK: the next hole is lost too */
            mark_lost(e, c);
        }
        return;
    }
    if (c->cwnd < c->ssthresh)
        c->cwnd += acked < 2u * c->mss ? acked : 2u * c->mss;
    else
        cc_ops(c)->cong_avoid(e, c, acked);
    if (c->cwnd > (1u << 30))
        c->cwnd = 1u << 30;
}

/* Fast retransmit (RFC 5681 3.2) and the start of recovery. */
static void enter_recovery(struct tcp_engine *e, struct tcp_conn *c)
{
    c->ssthresh = cc_ops(c)->ssthresh(c, flight_size(c));
    c->cwnd = c->ssthresh;
    c->recover = c->snd_max;
    c->flags |= CONN_F_IN_RECOVERY;
    clear_recovery_marks(e, c, 0);
    mark_lost(e, c);
    tcp_arm_rexmit(e, c); /* a probe timer becomes the RTO */
}

void tcp_cc_on_dupack(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->flags & CONN_F_IN_RECOVERY) {
        mark_lost(e, c);
        return;
    }
    if (c->dupacks < 3 && !((c->flags & CONN_F_SACK) && c->sacked >= 3u * c->mss))
        return;
    if (c->flags & CONN_F_AFTER_RTO)
        return; /* duplicates of what the RTO resent: not a new loss (RFC 6582 4.1) */
    enter_recovery(e, c);
}

void tcp_cc_rack_delivered(const struct tcp_engine *e, struct tcp_conn *c, const struct frame_meta *m)
{
    if (!(m->flags & FRAME_F_SENT))
        return;
    /* a retransmission acknowledged sooner than any round trip can be must be its first copy's
     * arrival: learning the retransmission's time from it would condemn everything sent in between
     * (RFC 8985 6.2 step 2) */
    if ((m->flags & FRAME_F_RETRANS) && (uint32_t)e->now_us - m->sent_us < c->min_rtt_us)
        return;
    if (!c->rack_xmit_us || (int32_t)(m->sent_us - c->rack_xmit_us) > 0)
        c->rack_xmit_us = m->sent_us;
}

void tcp_cc_rack_detect(struct tcp_engine *e, struct tcp_conn *c)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    int32_t reo_wnd =
        (int32_t)(c->srtt_us / 4 > CLOCK_GRANULARITY_US ? c->srtt_us / 4 : CLOCK_GRANULARITY_US);
    bool lost = false;

    if (!c->srtt_us || !c->rack_xmit_us) /* 0: nothing delivered yet */
        return;
    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        struct frame_meta *m = frame_meta(pool, f);

        if (!seq_lt(m->seq, c->snd_nxt))
            break;
        if ((m->flags & (FRAME_F_SACKED | FRAME_F_LOST)) || !(m->flags & FRAME_F_SENT))
            continue;
        if ((int32_t)(c->rack_xmit_us - m->sent_us) > reo_wnd) {
            m->flags = (uint8_t)((m->flags | FRAME_F_LOST) & ~FRAME_F_RESENT);
            lost = true;
        }
    }
    if (lost && !(c->flags & (CONN_F_IN_RECOVERY | CONN_F_AFTER_RTO)))
        enter_recovery(e, c);
}

void tcp_cc_on_rto(struct tcp_engine *e, struct tcp_conn *c)
{
    if (!(c->flags & CONN_F_AFTER_RTO)) /* the first RTO of an episode cuts; backed-off ones do not */
        c->ssthresh = cc_ops(c)->ssthresh(c, flight_size(c));
    c->cwnd = c->mss; /* loss window, RFC 5681 3.1 */
    cc_ops(c)->on_rto(c);
    c->flags &= ~(uint32_t)(CONN_F_IN_RECOVERY | CONN_F_TLP_SENT);
    c->flags |= CONN_F_AFTER_RTO;
    c->recover = c->snd_max;
    c->dupacks = 0;
    /* go back to the first unacknowledged byte. What the peer SACKed is not sent again (RFC 6675 5.1),
     * unless a second RTO in a row suggests it reneged (RFC 2018 8) */
    c->snd_nxt = c->snd_una;
    if (c->backoff > 1) {
        c->sacked = 0;
        c->high_sack = c->snd_una;
        clear_recovery_marks(e, c, FRAME_F_SACKED);
    } else {
        clear_recovery_marks(e, c, 0);
    }
}

uint32_t tcp_cc_pipe(const struct tcp_engine *e, const struct tcp_conn *c)
{
    const struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t pipe = 0, flight = c->snd_nxt - c->snd_una;

    if (!(c->flags & CONN_F_IN_RECOVERY))
        return flight > c->sacked ? flight - c->sacked : 0;
    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        const struct frame_meta *m = frame_meta(pool, f);

        if (!seq_lt(m->seq, c->snd_nxt))
            break;
        if (!(m->flags & (FRAME_F_SACKED | FRAME_F_LOST)))
            pipe += m->len;
    }
    if (!(c->flags & CONN_F_SACK)) { /* each duplicate ACK is a segment that left the network */
        uint32_t left = c->dupacks * c->mss;

        pipe = pipe > left ? pipe - left : 0;
    }
    return pipe;
}

void tcp_cc_idle_restart(struct tcp_engine *e, struct tcp_conn *c)
{
    uint32_t iw = e->cfg.initial_cwnd * c->mss;

    if (c->cwnd > iw)
        c->cwnd = iw;
    if (cc_ops(c)->on_idle)
        cc_ops(c)->on_idle(c);
}
