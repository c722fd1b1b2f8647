/*
 * tcp_input.c — a received frame through RFC 9293 3.10.7 ("SEGMENT ARRIVES").
 *
 * Parse and checksum, find the connection (or else a compact TIME-WAIT entry, tcp_time_wait.c,
 * which may let a new SYN reopen the tuple, RFC 6191), then in order: passive open from a SYN,
 * SYN-RECEIVED completion, PAWS (RFC 7323 5), the sequence acceptability test,
 * RST and SYN under RFC 5961 (challenge ACKs), ACK processing (window, SACK, retransmission queue,
 * congestion control, close states), then payload and FIN into the receive queue or the
 * out-of-order queue. Output is never generated here, only requested (ack_need, dirty list), so a
 * batch of segments yields one ACK per connection at flush time.
 *
 * The frame belongs to the engine from tcp_input on: it ends up queued as payload or released.
 */
#include <errno.h>
#include <string.h>

#include "net/checksum.h"
#include "net/tcp_conn.h"

#define PAWS_IDLE_MS (24ull * 24 * 3600 * 1000) /* RFC 7323 5.5: ts_recent is invalid after 24 days */

static void want_ack(struct tcp_engine *e, struct tcp_conn *c, enum ack_need need)
{
    if (need > c->ack_need)
        c->ack_need = (uint8_t)need;
    tcp_conn_mark_dirty(e, c);
}

/* ---- no connection: passive open or reset ------------------------------------------------------ */

static bool listening(const struct tcp_engine *e, uint16_t port)
{
    return e->listening[port / 8] & (1u << (port % 8));
}

/* A segment for no connection: a SYN to a listening port opens one (returned); others are reset or dropped.
 */
static struct tcp_conn *no_connection(struct tcp_engine *e, const struct pkt *p)
{
    struct tcp_conn *c;

    if (p->flags & TCP_RST)
        return NULL;
    if ((p->flags & (TCP_SYN | TCP_ACK | TCP_FIN)) != TCP_SYN) {
        e->stats.rst_no_conn++;
        tcp_send_reset_for(e, p);
        return NULL;
    }
    if (!listening(e, p->tuple.lport)) {
        e->stats.not_listening++;
        tcp_send_reset_for(e, p);
        tcp_tuple_ended(e, &p->tuple);
        return NULL;
    }
    if (e->nhalf_open >= e->cfg.max_half_open && e->half_open_oldest != UINT32_MAX) {
        /* not answered: a spoofed source gets nothing, a real one's retransmitted SYN finds no state */
        tcp_conn_finish(e, &e->conns[e->half_open_oldest], ETIMEDOUT, true);
        e->stats.half_open_evicted++;
    }
    if (e->nconns >= e->cfg.max_conns) {
        e->stats.syn_dropped_limit++; /* the client retries its SYN; no state is kept */
        tcp_tuple_ended(e, &p->tuple);
        return NULL;
    }
    c = tcp_conn_create(e, p);
    if (!c) {
        e->stats.syn_dropped_limit++;
        tcp_tuple_ended(e, &p->tuple);
        return NULL;
    }
    /* a payload in the SYN is not accepted (no TFO): the ACK covers the SYN only and the peer resends */
    c->flags |= CONN_F_RESEND_SYNACK;
    tcp_conn_mark_dirty(e, c);
    return c;
}

/* ---- ACK processing ---------------------------------------------------------------------------- */

static void process_sack(struct tcp_engine *e, struct tcp_conn *c, const struct tcp_opts *o)
{
    struct frame_pool *pool = tcp_conn_pool(e);

    for (int b = 0; b < o->nsack; b++) {
        uint32_t start = o->sack[b][0], end = o->sack[b][1];

        /* ignore D-SACKs and blocks outside what is outstanding */
        if (!seq_lt(start, end) || seq_leq(end, c->snd_una) || seq_gt(end, c->snd_max) ||
            seq_lt(start, c->snd_una))
            continue;
        for (uint32_t f = c->sndq.head; f != FRAME_NONE; f = frame_meta(pool, f)->next) {
            struct frame_meta *m = frame_meta(pool, f);

            if (seq_geq(m->seq, end))
                break;
            if (seq_geq(m->seq, start) && seq_leq(m->seq + m->len, end) && !(m->flags & FRAME_F_SACKED) &&
                m->len) {
                m->flags |= FRAME_F_SACKED;
                m->flags &= (uint8_t)~FRAME_F_LOST;
                c->sacked += m->len;
                tcp_cc_rack_delivered(e, c, m);
            }
        }
        if (seq_gt(end, c->high_sack))
            c->high_sack = end;
    }
}

/* Free what ack covers from the send queue; returns an RTT sample in µs (Karn's rule), 0 if none. */
static uint32_t take_acked(struct tcp_engine *e, struct tcp_conn *c, uint32_t ack)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t rtt = 0;

    while (c->sndq.count) {
        uint32_t f = c->sndq.head;
        struct frame_meta *m = frame_meta(pool, f);
        uint32_t end = m->seq + m->len;

        if (seq_leq(end, ack)) {
            if (m->flags & FRAME_F_SENT)
                tcp_cc_rack_delivered(e, c, m);
            if ((m->flags & (FRAME_F_SENT | FRAME_F_RETRANS)) == FRAME_F_SENT) {
                rtt = (uint32_t)e->now_us - m->sent_us;
                if (!rtt)
                    rtt = 1;
            }
            if (m->flags & FRAME_F_SACKED)
                c->sacked -= m->len;
            c->snd_queued -= m->len;
            frame_put(e->frames, tcp_fq_pop(pool, &c->sndq), FRAME_OWN_HELD);
            continue;
        }
        if (seq_gt(ack, m->seq)) { /* part of this frame: its acknowledged prefix is never needed again */
            uint32_t d = ack - m->seq;

            if (m->flags & FRAME_F_SACKED)
                c->sacked -= d;
            m->seq += d;
            m->off = (uint16_t)(m->off + d);
            m->len = (uint16_t)(m->len - d);
            m->flags &= (uint8_t)~FRAME_F_CSUM;
            c->snd_queued -= d;
        }
        break;
    }
    return rtt;
}

static bool fin_acked(const struct tcp_conn *c)
{
    return (c->flags & CONN_F_FIN_QUEUED) && seq_gt(c->snd_max, c->snd_end) && seq_gt(c->snd_una, c->snd_end);
}

/* Returns false when the segment must be dropped (or the connection ended). */
static bool process_ack(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p)
{
    uint32_t ack = p->ack;
    uint32_t sacked_before = c->sacked;
    bool window_changed = false;

    if (seq_gt(ack, c->snd_max) || seq_lt(ack, c->snd_una - c->max_snd_wnd)) {
        /* RFC 9293 3.10.7.4 fifth / RFC 5961 5.2: acknowledges the unsent or the long gone */
        e->stats.bad_ack++;
        want_ack(e, c, ACK_NOW);
        return false;
    }

    if (seq_lt(c->snd_wl1, p->seq) || (c->snd_wl1 == p->seq && seq_leq(c->snd_wl2, ack))) {
        uint32_t wnd = (uint32_t)p->wnd << c->snd_wscale;

        window_changed = wnd != c->snd_wnd;
        /* the right edge moved right: data the window held back can go. Not only from 0: Linux closes
         * its window to 1 << wscale bytes, too small to send into, and reopens it from there */
        if (window_changed && seq_gt(ack + wnd, c->snd_una + c->snd_wnd))
            tcp_conn_mark_dirty(e, c);
        c->snd_wnd = wnd;
        c->snd_wl1 = p->seq;
        c->snd_wl2 = ack;
        if (wnd > c->max_snd_wnd)
            c->max_snd_wnd = wnd;
    }

    if ((c->flags & CONN_F_SACK) && p->opts.nsack)
        process_sack(e, c, &p->opts);

    if (seq_gt(ack, c->snd_una)) {
        uint32_t acked = ack - c->snd_una;
        uint32_t rtt = take_acked(e, c, ack);

        c->snd_una = ack;
        if (seq_lt(c->snd_nxt, ack))
            c->snd_nxt = ack; /* an RTO rolled snd_nxt back and the ACK overtook it */
        if (seq_lt(c->high_sack, ack))
            c->high_sack = ack; /* a stale high_sack 2^31 behind would compare as ahead: keep it in reach */
        if (rtt)
            tcp_cc_rtt_sample(e, c, rtt);
        c->retries = 0;
        c->backoff = 0;
        c->dupacks = 0;
        tcp_cc_on_ack(e, c, acked);
        tcp_arm_rexmit(e, c);
        if ((c->flags & CONN_F_WANT_WRITABLE) && c->snd_queued < e->cfg.snd_buf) {
            c->flags &= ~(uint32_t)CONN_F_WANT_WRITABLE;
            tcp_conn_post(e, c, EV_WRITABLE);
        }
        tcp_conn_mark_dirty(e, c);
    } else if (ack == c->snd_una && c->snd_una != c->snd_max &&
               ((c->flags & CONN_F_SACK)
                    ? c->sacked > sacked_before
                    : !p->payload_len && !(p->flags & (TCP_SYN | TCP_FIN)) && !window_changed)) {
        /* With SACK, a duplicate ACK is one with new SACK information (RFC 6675 2), whatever its window
         * or payload: Linux grows its window on nearly every ACK, and repeats an unchanged one as it
         * reads. Without SACK, RFC 5681 2's definition. */
        e->stats.dup_acks++;
        c->dupacks++;
        tcp_cc_on_dupack(e, c);
        tcp_conn_mark_dirty(e, c);
    } else if ((c->flags & CONN_F_IN_RECOVERY) && p->opts.nsack) {
        tcp_conn_mark_dirty(e, c); /* new SACK information can release retransmissions */
    }
    if ((c->flags & CONN_F_SACK) && c->snd_una != c->snd_max) {
        tcp_cc_rack_detect(e, c);
        if (c->flags & CONN_F_IN_RECOVERY)
            tcp_conn_mark_dirty(e, c);
    }

    if (fin_acked(c)) {
        switch (c->state) {
        case TCP_FIN_WAIT_1:
            c->state = TCP_FIN_WAIT_2;
            tcp_conn_clear_timer(e, c, TIMER_REXMIT);
            if (c->flags & CONN_F_APP_CLOSED) {
                /* nobody will read: do not wait forever for the peer's FIN */
                tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.time_wait_ms);
            } else if (e->cfg.keepalive_idle_ms && !c->deadline_ms[TIMER_IDLE]) {
                /* shut down but still read: keepalive watches the peer again (on_idle let it lapse
                 * while our FIN was outstanding) */
                tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.keepalive_idle_ms);
            }
            break;
        case TCP_CLOSING:
            tcp_conn_enter_time_wait(e, c);
            break;
        case TCP_LAST_ACK:
            tcp_conn_finish(e, c, 0, true);
            return false;
        default:
            break;
        }
    }
    return true;
}

/* ---- received payload -------------------------------------------------------------------------- */

/* Insert [seq, seq+len) held in frame into the sorted out-of-order queue; false if not kept. */
static bool ooo_insert(struct tcp_engine *e, struct tcp_conn *c, uint32_t frame, uint32_t seq, uint32_t off,
                       uint32_t len)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t prev = FRAME_NONE, cur = c->ooo.head;

    if (!c->ooo.count)
        cur = FRAME_NONE;
    while (cur != FRAME_NONE && seq_leq(frame_meta(pool, cur)->seq, seq)) {
        prev = cur;
        cur = frame_meta(pool, cur)->next;
    }
    if (prev != FRAME_NONE) { /* trim our front against the segment before */
        const struct frame_meta *pm = frame_meta(pool, prev);
        uint32_t pend = pm->seq + pm->len;

        if (seq_geq(pend, seq + len))
            return false; /* already held */
        if (seq_gt(pend, seq)) {
            uint32_t d = pend - seq;

            seq += d;
            off += d;
            len -= d;
        }
    }
    while (cur != FRAME_NONE) { /* drop what we cover entirely, trim our end against a partial overlap */
        struct frame_meta *cm = frame_meta(pool, cur);
        uint32_t next = cm->next;

        if (seq_geq(cm->seq, seq + len))
            break;
        if (seq_leq(cm->seq + cm->len, seq + len)) {
            if (prev == FRAME_NONE)
                c->ooo.head = next;
            else
                frame_meta(pool, prev)->next = next;
            if (c->ooo.tail == cur)
                c->ooo.tail = prev;
            c->ooo.count--;
            frame_put(e->frames, cur, FRAME_OWN_HELD);
            cur = next;
            continue;
        }
        len = cm->seq - seq;
        break;
    }
    if (!len)
        return false;
    if (c->ooo.count >= e->cfg.ooo_max_frames) {
        e->stats.ooo_dropped++;
        return false;
    }
    {
        struct frame_meta *m = frame_meta(pool, frame);

        m->seq = seq;
        m->off = (uint16_t)off;
        m->len = (uint16_t)len;
        m->next = cur;
        if (prev == FRAME_NONE)
            c->ooo.head = frame;
        else
            frame_meta(pool, prev)->next = frame;
        if (cur == FRAME_NONE)
            c->ooo.tail = frame;
        if (!c->ooo.count)
            c->ooo.head = c->ooo.tail = frame;
        c->ooo.count++;
    }
    e->stats.ooo_segments++;
    return true;
}

static void queue_in_order(struct tcp_engine *e, struct tcp_conn *c, uint32_t frame, uint32_t off,
                           uint32_t len)
{
    struct frame_meta *m = frame_meta(tcp_conn_pool(e), frame);

    m->seq = c->rcv_nxt;
    m->off = (uint16_t)off;
    m->len = (uint16_t)len;
    tcp_fq_push(tcp_conn_pool(e), &c->rcvq, frame);
    c->rcv_nxt += len;
    c->rcv_queued += len;
    e->stats.bytes_in += len;
}

/*
 * Move out-of-order segments that now continue the stream into the receive queue, up to the peer's
 * FIN if one came out of order: bytes beyond it are no data, and accept_fin drops them.
 */
static bool drain_ooo(struct tcp_engine *e, struct tcp_conn *c)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    bool moved = false;

    while (c->ooo.count) {
        uint32_t f = c->ooo.head;
        struct frame_meta *m = frame_meta(pool, f);
        uint32_t end = m->seq + m->len;

        if (seq_gt(m->seq, c->rcv_nxt) || (c->ooo_fin && c->fin_rcv_seq == c->rcv_nxt))
            break;
        if (c->ooo_fin && seq_gt(end, c->fin_rcv_seq))
            end = c->fin_rcv_seq;
        tcp_fq_pop(pool, &c->ooo);
        if (seq_leq(end, c->rcv_nxt)) {
            frame_put(e->frames, f, FRAME_OWN_HELD);
            continue;
        }
        queue_in_order(e, c, f, m->off + (c->rcv_nxt - m->seq), end - c->rcv_nxt);
        moved = true;
    }
    return moved;
}

static void accept_fin(struct tcp_engine *e, struct tcp_conn *c)
{
    c->rcv_nxt++;
    c->flags |= CONN_F_FIN_RCVD;
    c->ooo_fin = 0;
    tcp_fq_release_all(e, &c->ooo); /* whatever lies beyond the FIN is never data (Linux tcp_fin too) */
    switch (c->state) {
    case TCP_ESTABLISHED:
        c->state = TCP_CLOSE_WAIT;
        break;
    case TCP_FIN_WAIT_1:
        /* our FIN is not acknowledged yet (process_ack would have moved us to FIN-WAIT-2) */
        c->state = TCP_CLOSING;
        break;
    case TCP_FIN_WAIT_2:
        tcp_conn_enter_time_wait(e, c);
        break;
    default:
        break;
    }
    want_ack(e, c, ACK_NOW);
    tcp_conn_post(e, c, EV_READABLE);
}

/* Payload and FIN of an acceptable segment; returns true when the frame was queued. */
static bool receive_data(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p, uint32_t frame)
{
    uint32_t seq = p->seq, off = p->payload_off, len = p->payload_len;
    bool fin = p->flags & TCP_FIN, kept = false;
    uint32_t wnd_end = c->rcv_nxt + tcp_conn_rcv_space(e, c);

    if (seq_lt(wnd_end, c->rcv_adv))
        wnd_end = c->rcv_adv;      /* what we advertised stays acceptable even if the buffer filled */
    if (seq_lt(seq, c->rcv_nxt)) { /* already received in part */
        uint32_t d = c->rcv_nxt - seq;

        if (d > len) {
            want_ack(e, c, ACK_NOW);
            return false;
        }
        seq += d;
        off += d;
        len -= d;
    }
    if (seq_gt(seq + len, wnd_end)) { /* beyond the window: keep what fits, and the FIN cannot be in */
        e->stats.rcv_dropped_window++;
        len = seq_gt(wnd_end, seq) ? wnd_end - seq : 0;
        fin = false;
    }
    if (len && (c->flags & CONN_F_APP_CLOSED)) {
        /* the application will never read this: tell the peer (RFC 9293 3.10.7.4, RFC 2525 2.17) */
        tcp_send_control(e, c, c->snd_nxt, TCP_RST | TCP_ACK);
        e->stats.rst_sent++;
        tcp_conn_finish(e, c, ECONNABORTED, true);
        return false;
    }

    if (seq == c->rcv_nxt) {
        /* a scaled window rounded up so as not to shrink may promise a few bytes more than the
         * buffer holds: what was advertised is taken all the same (RFC 7323 2.4) */
        uint32_t room = seq_gt(c->rcv_adv, c->rcv_nxt + tcp_conn_rcv_space(e, c)) ? c->rcv_adv - c->rcv_nxt
                                                                                  : tcp_conn_rcv_space(e, c);
        bool filled;

        if (len > room) {
            e->stats.rcv_dropped_buffer++;
            len = room;
            fin = false;
        }
        if (len) {
            queue_in_order(e, c, frame, off, len);
            kept = true;
        }
        /* in-order data went past a FIN held out of order: that was no end (Linux drops it the same way) */
        if (c->ooo_fin && seq_gt(c->rcv_nxt, c->fin_rcv_seq))
            c->ooo_fin = 0;
        filled = !fin && drain_ooo(e, c); /* this segment's FIN ends the stream before anything held */
        if (fin || (c->ooo_fin && c->fin_rcv_seq == c->rcv_nxt)) {
            accept_fin(e, c);
        } else if (len || filled) {
            if (filled || c->ooo.count || ++c->segs_unacked >= 2)
                want_ack(e, c, ACK_NOW);
            else
                want_ack(e, c, ACK_DELAYED);
            tcp_conn_post(e, c, EV_READABLE);
        }
        return kept;
    }

    /* a hole before this segment: hold it and tell the peer at once (dup ACK with SACK) */
    if (len)
        kept = ooo_insert(e, c, frame, seq, off, len);
    if (fin) {
        c->ooo_fin = 1;
        c->fin_rcv_seq = seq + len;
    }
    c->last_ooo_seq = seq;
    want_ack(e, c, ACK_NOW);
    return kept;
}

/* ---- the states ------------------------------------------------------------------------------ */

static bool seq_acceptable(const struct tcp_conn *c, uint32_t seq, uint32_t seg_len)
{
    uint32_t wnd = c->rcv_adv - c->rcv_nxt;

    if (seg_len == 0)
        return wnd == 0 ? seq == c->rcv_nxt : seq_geq(seq, c->rcv_nxt) && seq_lt(seq, c->rcv_nxt + wnd);
    if (wnd == 0)
        return false;
    return (seq_geq(seq, c->rcv_nxt) && seq_lt(seq, c->rcv_nxt + wnd)) ||
           (seq_geq(seq + seg_len - 1, c->rcv_nxt) && seq_lt(seq + seg_len - 1, c->rcv_nxt + wnd));
}

/* Where a completed handshake leads: FIN-WAIT-1 when the application shut down during it. */
static uint8_t established_state(const struct tcp_conn *c)
{
    return (c->flags & CONN_F_FIN_QUEUED) ? TCP_FIN_WAIT_1 : TCP_ESTABLISHED;
}

/* RFC 9293 3.10.7.3: our SYN is out (active open, used by test peers and tools). */
static void syn_sent(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p)
{
    bool ack_ok = (p->flags & TCP_ACK) && seq_gt(p->ack, c->iss) && seq_leq(p->ack, c->snd_max);

    if ((p->flags & TCP_ACK) && !ack_ok) {
        if (!(p->flags & TCP_RST)) {
            e->stats.rst_no_conn++;
            tcp_send_reset_for(e, p);
        }
        return;
    }
    if (p->flags & TCP_RST) {
        if (ack_ok) {
            e->stats.rst_received++;
            tcp_conn_finish(e, c, ECONNREFUSED, true);
        }
        return;
    }
    if (!(p->flags & TCP_SYN))
        return;
    tcp_conn_negotiated(e, c, p);
    if (!ack_ok) { /* simultaneous open (RFC 9293 3.5) */
        c->state = TCP_SYN_RECEIVED;
        tcp_half_open_add(e, c);
        c->flags |= CONN_F_RESEND_SYNACK;
        tcp_conn_mark_dirty(e, c);
        return;
    }
    c->state = established_state(c);
    c->snd_una = p->ack;
    c->snd_wl2 = p->ack;
    if (!c->retries && c->last_send_us)
        tcp_cc_rtt_sample(e, c, (uint32_t)(e->now_us - c->last_send_us) + 1);
    c->retries = 0;
    c->backoff = 0;
    tcp_conn_clear_timer(e, c, TIMER_REXMIT);
    if (e->cfg.keepalive_idle_ms)
        tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.keepalive_idle_ms);
    want_ack(e, c, ACK_NOW);
    tcp_conn_post(e, c, EV_WRITABLE); /* "connected" */
}

/* RFC 9293 3.10.7.4 in SYN-RECEIVED; returns false when the segment is consumed here. */
static bool syn_received(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p)
{
    if ((p->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && p->seq == c->irs) {
        c->flags |= CONN_F_RESEND_SYNACK; /* the peer did not get our SYN-ACK */
        tcp_conn_mark_dirty(e, c);
        return false;
    }
    if (p->flags & TCP_RST) {
        if (p->seq == c->rcv_nxt) {
            /* an active open that met the peer's SYN was refused (RFC 9293 3.10.7.4); a passive one
             * is not the application's yet, and tcp_conn_finish tells only an application that has it */
            e->stats.rst_received++;
            tcp_conn_finish(e, c, (c->flags & CONN_F_ACCEPTED) ? ECONNREFUSED : ECONNRESET, true);
        } else if (seq_acceptable(c, p->seq, 0)) {
            tcp_challenge_ack(e, c);
        }
        return false;
    }
    if (p->flags & TCP_SYN) {
        tcp_challenge_ack(e, c);
        return false;
    }
    if (!(p->flags & TCP_ACK))
        return false;
    if (!seq_gt(p->ack, c->snd_una) || seq_gt(p->ack, c->snd_max)) {
        e->stats.rst_no_conn++;
        tcp_send_reset_for(e, p);
        return false;
    }
    if (!seq_acceptable(c, p->seq, p->payload_len + !!(p->flags & TCP_FIN))) {
        want_ack(e, c, ACK_NOW);
        return false;
    }
    /* the handshake is complete */
    c->state = established_state(c);
    tcp_half_open_remove(e, c);
    c->snd_una = p->ack;
    c->snd_wnd = (uint32_t)p->wnd << c->snd_wscale;
    c->max_snd_wnd = c->snd_wnd;
    c->snd_wl1 = p->seq;
    c->snd_wl2 = p->ack;
    if (!c->retries && c->last_send_us)
        tcp_cc_rtt_sample(e, c, (uint32_t)(e->now_us - c->last_send_us) + 1);
    c->retries = 0;
    c->backoff = 0;
    tcp_conn_clear_timer(e, c, TIMER_REXMIT);
    if (e->cfg.keepalive_idle_ms)
        tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.keepalive_idle_ms);
    /* a simultaneous open is already the application's: it learns of it as from a SYN-ACK */
    tcp_conn_post(e, c, (c->flags & CONN_F_ACCEPTED) ? EV_WRITABLE : EV_ACCEPT);
    return true;
}

static bool paws_reject(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p)
{
    if (!(c->flags & CONN_F_TS) || !p->opts.ts_present || (p->flags & TCP_RST))
        return false;
    if (!seq_lt(p->opts.tsval, c->ts_recent))
        return false;
    if (engine_now_ms(e) - c->ts_recent_ms > PAWS_IDLE_MS) {
        c->ts_recent = p->opts.tsval; /* RFC 7323 5.5: too old to compare with */
        return false;
    }
    e->stats.paws_rejected++;
    want_ack(e, c, ACK_NOW);
    return true;
}

/*
 * The payload of a chain, piece by piece, each as the segment it would have been alone (the FIN on
 * the last): every piece is queued or released here.
 */
static void receive_chain(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p,
                          const struct tcp_rx_chain *chain)
{
    struct pkt piece = *p;
    uint32_t seq = p->seq;

    for (uint32_t i = 0; i < chain->n; i++) {
        const struct tcp_rx_piece *pc = &chain->piece[i];
        bool live = c->state != TCP_CLOSED && !(c->flags & CONN_F_ZOMBIE);

        piece.seq = seq;
        piece.payload_off = pc->off;
        piece.payload_len = pc->len;
        piece.flags = i + 1 < chain->n ? (uint8_t)(p->flags & ~TCP_FIN) : p->flags;
        if (!live || !receive_data(e, c, &piece, pc->frame))
            frame_put(e->frames, pc->frame, FRAME_OWN_HELD);
        seq += pc->len;
    }
}

/* Returns true when the chain's frames were taken (queued as payload, or released by receive_chain). */
static bool segment_arrives(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *p,
                            const struct tcp_rx_chain *chain)
{
    uint32_t seg_len = p->payload_len + !!(p->flags & TCP_SYN) + !!(p->flags & TCP_FIN);

    c->last_recv_us = e->now_us;
    c->probes = 0;
    if (c->state == TCP_SYN_SENT) {
        syn_sent(e, c, p);
        return false;
    }
    if (c->state == TCP_SYN_RECEIVED && !syn_received(e, c, p))
        return false;
    if (paws_reject(e, c, p))
        return false;

    if (!seq_acceptable(c, p->seq, seg_len)) {
        /* a full window still accepts the ACK of a segment that starts where we expect (RFC 9293 3.10.7.4) */
        if (p->seq == c->rcv_nxt && (p->flags & TCP_ACK) && !(p->flags & (TCP_RST | TCP_SYN)))
            process_ack(e, c, p);
        if (!(p->flags & TCP_RST)) {
            e->stats.rcv_dropped_window++;
            if (c->state != TCP_CLOSED)
                want_ack(e, c, ACK_NOW);
        }
        /* the peer's FIN again, so our ACK of it was lost: that ACK goes again and 2 MSL starts over
         * (RFC 9293 3.10.7.4); such a FIN lies below RCV.NXT, so it never passes the test above */
        if (c->state == TCP_TIME_WAIT && (p->flags & (TCP_FIN | TCP_RST | TCP_SYN)) == TCP_FIN &&
            p->seq + p->payload_len + 1 == c->rcv_nxt)
            tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.time_wait_ms);
        return false;
    }
    if ((c->flags & CONN_F_TS) && p->opts.ts_present && seq_leq(p->seq, c->last_ack_sent) &&
        seq_geq(p->opts.tsval, c->ts_recent)) {
        c->ts_recent = p->opts.tsval;
        c->ts_recent_ms = (uint32_t)engine_now_ms(e);
    }

    if (p->flags & TCP_RST) {
        if (p->seq != c->rcv_nxt) {
            tcp_challenge_ack(e, c); /* RFC 5961 3.2: in the window but not exact */
            return false;
        }
        e->stats.rst_received++;
        tcp_conn_finish(e, c, c->state == TCP_TIME_WAIT ? 0 : ECONNRESET, true);
        return false;
    }
    if (p->flags & TCP_SYN) {
        tcp_challenge_ack(e, c); /* RFC 5961 4.2 */
        return false;
    }
    if (!(p->flags & TCP_ACK))
        return false;
    if (!process_ack(e, c, p))
        return false;

    switch (c->state) {
    case TCP_ESTABLISHED:
    case TCP_FIN_WAIT_1:
    case TCP_FIN_WAIT_2:
        if (chain->n > 1) {
            receive_chain(e, c, p, chain);
            return true;
        }
        if (p->payload_len || (p->flags & TCP_FIN))
            return receive_data(e, c, p, chain->piece[0].frame);
        return false;
    case TCP_TIME_WAIT:
        if (p->flags & TCP_FIN) { /* our ACK of the peer's FIN was lost: say it again, wait 2 MSL again */
            want_ack(e, c, ACK_NOW);
            tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.time_wait_ms);
        }
        return false;
    default: /* CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN came already; anything after it is ignored */
        if (p->flags & TCP_FIN)
            want_ack(e, c, ACK_NOW);
        return false;
    }
}

static void release_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain)
{
    for (uint32_t i = 0; i < chain->n; i++)
        frame_put(e->frames, chain->piece[i].frame, FRAME_OWN_HELD);
}

/*
 * Parse a received packet into p; false (frames released, counted) when it is no TCP segment of
 * ours. For a chain, *payload gets the pieces of its payload: the first piece's part after the
 * headers, then the others whole.
 */
static bool parse_frame(struct tcp_engine *e, const struct tcp_rx_chain *chain, struct pkt *p,
                        struct tcp_rx_chain *payload)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    const struct tcp_rx_piece *first = &chain->piece[0];
    uint32_t more = 0, more_sum = 0;
    enum pkt_result result = PKT_OK;

    for (uint32_t i = 0; i < chain->n && result == PKT_OK; i++) {
        const struct tcp_rx_piece *pc = &chain->piece[i];

        if (pc->off >= pool->frame_size || pc->len > pool->frame_size - pc->off || (i && !pc->len))
            result = PKT_TRUNCATED;
        else if (i) {
            more_sum += csum_at(csum_partial(frame_data(pool, pc->frame) + pc->off, pc->len, 0), more);
            more += pc->len;
        }
    }
    if (result == PKT_OK)
        result = pkt_parse_chain(frame_data(pool, first->frame) + first->off, first->len, more, more_sum, p);
    e->stats.parse[result]++;
    if (result != PKT_OK) {
        e->stats.parse_errors++;
        release_chain(e, chain);
        return false;
    }
    payload->n = chain->n;
    memcpy(payload->piece, chain->piece, chain->n * sizeof(chain->piece[0]));
    payload->piece[0].off = (uint16_t)(first->off + p->payload_off);
    payload->piece[0].len = (uint16_t)(first->len - p->payload_off);
    p->payload_off = payload->piece[0].off;
    return true;
}

/* The segment p to its connection, or to the listener; returns the connection it ended on, if any. */
static struct tcp_conn *input_segment(struct tcp_engine *e, const struct pkt *p,
                                      const struct tcp_rx_chain *payload)
{
    struct tcp_conn *c = tcp_conn_lookup(e, &p->tuple);
    bool taken = false;

    e->stats.segs_in++;
    /* TIME-WAIT is a compact entry (tcp_time_wait.c), judged only when no connection has the tuple. A
     * connection still in TIME-WAIT reached it in this batch (its closed call is not delivered yet) or
     * waits for TX room for its last ACK: a new SYN is answered as in TIME-WAIT, and the client's retry
     * meets the entry */
    if (c)
        taken = segment_arrives(e, c, p, payload);
    else if (!tcp_time_wait_input(e, p))
        c = no_connection(e, p);
    if (!taken)
        release_chain(e, payload);
    return c && c->state != TCP_CLOSED && !(c->flags & CONN_F_ZOMBIE) ? c : NULL;
}

static void one_frame(struct tcp_rx_chain *chain, uint32_t frame, uint32_t off, uint32_t len)
{
    chain->n = 1;
    chain->piece[0].frame = frame;
    chain->piece[0].off = (uint16_t)off;
    chain->piece[0].len = (uint16_t)len;
}

void tcp_input_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain)
{
    struct tcp_rx_chain payload;
    struct pkt p;

    if (parse_frame(e, chain, &p, &payload))
        input_segment(e, &p, &payload);
}

void tcp_input(struct tcp_engine *e, uint32_t frame, uint32_t off, uint32_t len)
{
    struct tcp_rx_chain chain;

    one_frame(&chain, frame, off, len);
    tcp_input_chain(e, &chain);
}

/* Keep c from the application until it is placed, or hold_ms from the first hold. */
static void hold(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->flags & (CONN_F_ACCEPTED | CONN_F_HELD))
        return;
    c->flags |= CONN_F_HELD;
    tcp_conn_set_timer(e, c, TIMER_HOLD, engine_now_ms(e) + e->cfg.hold_ms);
}

enum tcp_steered tcp_input_steered_chain(struct tcp_engine *e, const struct tcp_rx_chain *chain,
                                         enum tcp_steer steer, struct tcp_conn **conn)
{
    struct tcp_rx_chain payload;
    struct tcp_conn *c;
    struct pkt p;

    *conn = NULL;
    if (!parse_frame(e, chain, &p, &payload))
        return TCP_STEERED_DONE;
    /* routed away, and the connection left already: the segment is the new owner's, untouched */
    if (steer == TCP_STEER_MOVE && !tcp_conn_lookup(e, &p.tuple))
        return TCP_STEERED_FOREIGN;
    c = input_segment(e, &p, &payload);
    if (!c)
        return TCP_STEERED_DONE;
    switch (steer) {
    case TCP_STEER_PLACED:
        tcp_conn_place(c);
        return TCP_STEERED_DONE;
    case TCP_STEER_HOLD:
        hold(e, c);
        return TCP_STEERED_DONE;
    case TCP_STEER_MOVE:
        *conn = c;
        if (c->flags & CONN_F_ACCEPTED)
            return TCP_STEERED_PINNED;
        hold(e, c);
        return TCP_STEERED_MOVABLE;
    }
    return TCP_STEERED_DONE;
}

enum tcp_steered tcp_input_steered(struct tcp_engine *e, uint32_t frame, uint32_t off, uint32_t len,
                                   enum tcp_steer steer, struct tcp_conn **conn)
{
    struct tcp_rx_chain chain;

    one_frame(&chain, frame, off, len);
    return tcp_input_steered_chain(e, &chain, steer, conn);
}
