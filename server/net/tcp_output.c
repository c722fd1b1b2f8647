/*
 * tcp_output.c — turning a connection's state into segments, at flush time.
 *
 * Data segments are the send-queue frames themselves: headers are written into the headroom in
 * front of the payload and the frame is lent to the TX ring, so neither a first transmission nor a
 * retransmission copies payload. The one exception is a frame larger than what the peer's window
 * lets through, whose tail is copied into a new frame (counted as split_copies). Header-only
 * segments (SYN-ACK, pure ACK, FIN, RST, probes) get a fresh frame that is freed when TX
 * completes. Sending follows RFC 5681/6675: in recovery, lost segments go first, and nothing
 * leaves while the pipe is at the congestion window.
 */
#include <string.h>

#include "net/checksum.h"
#include "net/tcp_conn.h"

#define OPT_NOP       1
#define OPT_MSS       2
#define OPT_WS        3
#define OPT_SACK_PERM 4
#define OPT_SACK      5
#define OPT_TS        8

uint32_t tcp_ts_now(const struct tcp_engine *e, const struct tcp_conn *c)
{
    return (uint32_t)engine_now_ms(e) + c->ts_offset;
}

/*
 * The window to advertise: never moving the right edge left (RFC 9293 3.8.6.2.1) and not moving it
 * right by less than min(MSS, half the buffer) (receiver SWS avoidance, 3.8.6.2.2).
 */
static uint16_t window_field(const struct tcp_engine *e, struct tcp_conn *c, bool syn)
{
    uint32_t edge = c->rcv_nxt + tcp_conn_rcv_space(e, c);
    uint32_t step = c->mss < e->cfg.rcv_buf / 2 ? c->mss : e->cfg.rcv_buf / 2;
    uint32_t wnd, field;

    if (seq_lt(edge, c->rcv_adv) || (seq_gt(edge, c->rcv_adv) && edge - c->rcv_adv < step))
        edge = seq_lt(c->rcv_adv, c->rcv_nxt) ? c->rcv_nxt : c->rcv_adv;
    wnd = edge - c->rcv_nxt;
    if (syn) { /* never scaled (RFC 7323 2.2) */
        if (wnd > 65535)
            wnd = 65535;
        if (seq_gt(c->rcv_nxt + wnd, c->rcv_adv))
            c->rcv_adv = c->rcv_nxt + wnd;
        return (uint16_t)wnd;
    }
    if (wnd > (65535u << c->rcv_wscale))
        wnd = 65535u << c->rcv_wscale;
    field = wnd >> c->rcv_wscale;
    if (seq_lt(c->rcv_nxt + (field << c->rcv_wscale), c->rcv_adv) && field < 65535)
        field++; /* rounding down would shrink what we already offered */
    if (seq_gt(c->rcv_nxt + (field << c->rcv_wscale), c->rcv_adv))
        c->rcv_adv = c->rcv_nxt + (field << c->rcv_wscale);
    return (uint16_t)field;
}

/* SACK blocks from the out-of-order queue, the block holding the latest arrival first (RFC 2018 4). */
static int sack_blocks(const struct tcp_engine *e, const struct tcp_conn *c, uint32_t blocks[][2], int max)
{
    const struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t runs[64][2];
    int nruns = 0, n = 0, first = -1;

    for (uint32_t f = c->ooo.count ? c->ooo.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        const struct frame_meta *m = frame_meta(pool, f);

        if (nruns && runs[nruns - 1][1] == m->seq) {
            runs[nruns - 1][1] = m->seq + m->len;
        } else if (nruns < 64) {
            runs[nruns][0] = m->seq;
            runs[nruns][1] = m->seq + m->len;
            nruns++;
        }
    }
    for (int i = 0; i < nruns; i++)
        if (seq_geq(c->last_ooo_seq, runs[i][0]) && seq_lt(c->last_ooo_seq, runs[i][1]))
            first = i;
    if (first >= 0 && n < max) {
        blocks[n][0] = runs[first][0];
        blocks[n][1] = runs[first][1];
        n++;
    }
    for (int i = 0; i < nruns && n < max; i++) {
        if (i == first)
            continue;
        blocks[n][0] = runs[i][0];
        blocks[n][1] = runs[i][1];
        n++;
    }
    return n;
}

/*
 * The options of a segment into o; returns their length. SACK blocks take what is left of room
 * (option bytes); *sack_short says when some did not fit.
 */
static uint8_t build_options(const struct tcp_engine *e, const struct tcp_conn *c, uint8_t *o, bool syn,
                             uint32_t room, bool *sack_short)
{
    uint8_t n = 0;

    *sack_short = false;
    if (syn) {
        uint16_t mss = tcp_mss_offered(e, c->tuple.family);

        o[n++] = OPT_MSS;
        o[n++] = 4;
        o[n++] = (uint8_t)(mss >> 8);
        o[n++] = (uint8_t)mss;
        if (c->flags & CONN_F_SACK) {
            o[n++] = OPT_NOP;
            o[n++] = OPT_NOP;
            o[n++] = OPT_SACK_PERM;
            o[n++] = 2;
        }
        if (c->flags & CONN_F_WS) {
            o[n++] = OPT_NOP;
            o[n++] = OPT_WS;
            o[n++] = 3;
            o[n++] = c->rcv_wscale;
        }
    }
    if (c->flags & CONN_F_TS) {
        o[n++] = OPT_NOP;
        o[n++] = OPT_NOP;
        o[n++] = OPT_TS;
        o[n++] = 10;
        tcp_put32(o + n, tcp_ts_now(e, c));
        tcp_put32(o + n + 4, c->ts_recent);
        n += 8;
    }
    if (!syn && (c->flags & CONN_F_SACK) && c->ooo.count) {
        uint32_t blocks[PKT_MAX_SACK][2];
        int nb = sack_blocks(e, c, blocks, (PKT_TCP_OPTS_MAX - n - 4) / 8);
        int fit = room >= n + 4u + 8 ? (int)(room - n - 4) / 8 : 0;

        if (nb > fit) {
            nb = fit;
            *sack_short = true;
        }
        if (nb) {
            o[n++] = OPT_NOP;
            o[n++] = OPT_NOP;
            o[n++] = OPT_SACK;
            o[n++] = (uint8_t)(2 + 8 * nb);
            for (int i = 0; i < nb; i++) {
                tcp_put32(o + n, blocks[i][0]);
                tcp_put32(o + n + 4, blocks[i][1]);
                n += 8;
            }
        }
    }
    return n;
}

static bool tx_room(struct tcp_engine *e)
{
    if (e->ntx < e->cfg.tx_max)
        return true;
    e->stats.tx_full++;
    return false;
}

/* Lend frame to the TX list; more when the next entry continues the same packet. */
static void tx_emit(struct tcp_engine *e, uint32_t frame, uint32_t off, uint32_t len, bool more)
{
    frame_lend_tx(tcp_conn_pool(e), frame);
    e->tx[e->ntx].frame = frame;
    e->tx[e->ntx].off = (uint16_t)off;
    e->tx[e->ntx].len = (uint16_t)len;
    e->tx[e->ntx].more = more;
    e->tx[e->ntx].csum_start = 0;
    e->ntx++;
}

/* Everything that an ACK-carrying segment tells the peer. */
static void ack_sent(struct tcp_engine *e, struct tcp_conn *c)
{
    c->ack_need = ACK_NONE;
    c->segs_unacked = 0;
    c->last_ack_sent = c->rcv_nxt;
    c->deadline_ms[TIMER_DELACK] = 0; /* the wheel entry notices at its next firing */
    c->last_send_us = e->now_us;
}

bool tcp_emit_header_only(struct tcp_engine *e, const struct pkt_tuple *t, const struct pkt_link *link,
                          const struct pkt_segment *seg)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t frame, len;

    if (!tx_room(e))
        return false;
    frame = frame_alloc(e->frames);
    if (frame == FRAME_NONE) {
        e->stats.frames_exhausted++;
        return false;
    }
    len = pkt_write_headers(frame_data(pool, frame) + FRAME_TX_META, t, link, seg);
    tx_emit(e, frame, FRAME_TX_META, len, false);
    e->stats.segs_out++;
    frame_put(e->frames, frame, FRAME_OWN_HELD);
    return true;
}

bool tcp_send_control(struct tcp_engine *e, struct tcp_conn *c, uint32_t seq, uint8_t flags)
{
    uint8_t opts[PKT_TCP_OPTS_MAX];
    bool syn = flags & TCP_SYN, sack_short;
    struct pkt_segment seg = {
        .seq = seq,
        .ack = (flags & TCP_ACK) ? c->rcv_nxt : 0,
        .flags = flags,
        .ip_id = e->ip_id++,
        .options = opts,
    };

    /* without payload every option fits whatever the MTU (576 at least) */
    seg.options_len = (flags & TCP_RST) ? 0 : build_options(e, c, opts, syn, PKT_TCP_OPTS_MAX, &sack_short);
    seg.wnd = (flags & TCP_RST) ? 0 : window_field(e, c, syn);
    if (!tcp_emit_header_only(e, &c->tuple, &c->link, &seg))
        return false;
    if (flags & TCP_ACK)
        ack_sent(e, c);
    return true;
}

void tcp_send_reset_for(struct tcp_engine *e, const struct pkt *p)
{
    struct pkt_segment seg = {.ip_id = e->ip_id++};

    if (p->flags & TCP_ACK) {
        seg.seq = p->ack;
        seg.flags = TCP_RST;
    } else {
        seg.ack = p->seq + p->payload_len + !!(p->flags & TCP_SYN) + !!(p->flags & TCP_FIN);
        seg.flags = TCP_RST | TCP_ACK;
    }
    if (tcp_emit_header_only(e, &p->tuple, &p->link, &seg))
        e->stats.rst_sent++;
}

bool tcp_challenge_allowed(struct tcp_engine *e)
{
    if (e->now_us - e->challenge_window_us >= 1000000) {
        e->challenge_window_us = e->now_us;
        e->challenge_count = 0;
    }
    if (e->challenge_count >= e->cfg.challenge_ack_limit) {
        e->stats.challenge_acks_limited++;
        return false;
    }
    e->challenge_count++;
    e->stats.challenge_acks++;
    return true;
}

void tcp_challenge_ack(struct tcp_engine *e, struct tcp_conn *c)
{
    if (!tcp_challenge_allowed(e))
        return;
    c->ack_need = ACK_NOW;
    tcp_conn_mark_dirty(e, c);
}

/*
 * Option bytes a data segment of len payload bytes has room for. The MSS bounds payload and options
 * together (RFC 6691), and c->mss already left room for timestamps only: a full segment has none
 * for SACK blocks. Linux shrinks the segment instead; here a segment is a frame filled when written,
 * so the blocks give way, and go in a pure ACK (send_frame).
 */
static uint32_t data_option_room(const struct tcp_conn *c, uint32_t len)
{
    uint32_t seg = c->mss + ((c->flags & CONN_F_TS) ? TCP_TS_OPT_LEN : 0);

    return len >= seg ? 0 : seg - len < PKT_TCP_OPTS_MAX ? seg - len : PKT_TCP_OPTS_MAX;
}

/*
 * Send nframes send-queue frames from the first on as one segment, as they are: headers in front
 * of the first one's payload, the others chained after it. The frames stay queued until
 * acknowledged. Returns the last frame sent.
 */
static uint32_t send_segment(struct tcp_engine *e, struct tcp_conn *c, uint32_t first, uint32_t nframes,
                             bool retransmission)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    struct frame_meta *m = frame_meta(pool, first);
    uint8_t *payload = frame_data(pool, first) + m->off;
    uint8_t opts[PKT_TCP_OPTS_MAX];
    struct pkt_segment seg = {
        .seq = m->seq,
        .ack = c->rcv_nxt,
        .flags = TCP_ACK,
        .ip_id = e->ip_id++,
        .options = opts,
    };
    uint32_t hlen, f = first, last = first;
    bool ack_owed = c->ack_need == ACK_NOW, sack_short;

    seg.csum_offload = e->cfg.csum_offload;
    for (uint32_t i = 0; i < nframes; i++, f = frame_meta(pool, f)->next) {
        struct frame_meta *fm = frame_meta(pool, f);

        if (!seg.csum_offload) {
            if (!(fm->flags & FRAME_F_CSUM)) {
                fm->csum = csum_partial(frame_data(pool, f) + fm->off, fm->len, 0);
                fm->flags |= FRAME_F_CSUM;
            }
            seg.payload_sum += csum_at(fm->csum, seg.payload_len);
        }
        seg.payload_len += fm->len;
        last = f;
    }
    if (m->seq + seg.payload_len == c->snd_end) {
        seg.flags |= TCP_PSH;
        if (c->flags & CONN_F_FIN_QUEUED)
            seg.flags |= TCP_FIN;
    }
    seg.options_len = build_options(e, c, opts, false, data_option_room(c, seg.payload_len), &sack_short);
    seg.wnd = window_field(e, c, false);
    hlen = pkt_headers_len(&c->tuple, &c->link) + seg.options_len;
    pkt_write_headers(payload - hlen, &c->tuple, &c->link, &seg);
    f = first;
    for (uint32_t i = 0; i < nframes; i++, f = frame_meta(pool, f)->next) {
        struct frame_meta *fm = frame_meta(pool, f);

        if (i) {
            tx_emit(e, f, fm->off, fm->len, i + 1 < nframes);
        } else {
            tx_emit(e, f, fm->off - hlen, hlen + fm->len, nframes > 1);
            if (seg.csum_offload)
                e->tx[e->ntx - 1].csum_start = (uint8_t)(hlen - PKT_TCP_LEN - seg.options_len);
        }
        fm->flags |= FRAME_F_SENT;
        if (retransmission)
            fm->flags |= FRAME_F_RETRANS;
        fm->sent_us = (uint32_t)e->now_us;
    }
    e->stats.segs_out++;
    e->stats.bytes_out += seg.payload_len;
    ack_sent(e, c);
    if (ack_owed && sack_short)
        c->ack_need = ACK_NOW; /* the peer is owed every block: a pure ACK follows the data (tcp_output) */
    return last;
}

static void send_frame(struct tcp_engine *e, struct tcp_conn *c, uint32_t frame, bool retransmission)
{
    send_segment(e, c, frame, 1, retransmission);
}

/* Copy the part of frame beyond `at` into a new frame queued right after it. */
static bool split_frame(struct tcp_engine *e, struct tcp_conn *c, uint32_t frame, uint32_t at)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    struct frame_meta *m = frame_meta(pool, frame), *nm;
    uint32_t tail = frame_alloc(e->frames);

    if (tail == FRAME_NONE) {
        e->stats.frames_exhausted++;
        return false;
    }
    nm = frame_meta(pool, tail);
    memcpy(frame_data(pool, tail) + FRAME_TX_HEADROOM, frame_data(pool, frame) + m->off + at, m->len - at);
    nm->seq = m->seq + at;
    nm->off = FRAME_TX_HEADROOM;
    nm->len = (uint16_t)(m->len - at);
    nm->flags = m->flags & (FRAME_F_SENT | FRAME_F_RETRANS);
    nm->next = m->next;
    m->next = tail;
    m->len = (uint16_t)at;
    m->flags &= (uint8_t)~FRAME_F_CSUM;
    if (c->sndq.tail == frame)
        c->sndq.tail = tail;
    c->sndq.count++;
    e->stats.split_copies++;
    return true;
}

/* The frame holding sequence number seq, or FRAME_NONE. */
static uint32_t frame_at(const struct tcp_engine *e, const struct tcp_conn *c, uint32_t seq)
{
    const struct frame_pool *pool = tcp_conn_pool(e);

    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        const struct frame_meta *m = frame_meta(pool, f);

        if (seq_lt(seq, m->seq + m->len))
            return seq_geq(seq, m->seq) ? f : FRAME_NONE;
    }
    return FRAME_NONE;
}

/* Recovery: resend segments judged lost, lowest first, while the pipe allows (RFC 6675 NextSeg rule 1). */
static bool resend_lost(struct tcp_engine *e, struct tcp_conn *c, uint32_t *pipe)
{
    struct frame_pool *pool = tcp_conn_pool(e);

    for (uint32_t f = c->sndq.count ? c->sndq.head : FRAME_NONE; f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        struct frame_meta *m = frame_meta(pool, f);

        if (!seq_lt(m->seq, c->snd_nxt))
            break;
        if ((m->flags & (FRAME_F_LOST | FRAME_F_SACKED)) != FRAME_F_LOST)
            continue;
        /* the first unacknowledged segment goes at once, whatever the pipe (RFC 6675 4.3, RFC 6582 3.2
         * step 5): waiting for the pipe to drain below the halved cwnd stalls until the RTO when the
         * ACKs that would drain it are lost */
        if (*pipe && *pipe + m->len > c->cwnd && !(m->seq == c->snd_una && !(m->flags & FRAME_F_RESENT)))
            return false;
        if (frame_in_tx(pool, f) || !tx_room(e)) {
            tcp_conn_mark_retry(e, c);
            return false;
        }
        send_frame(e, c, f, true);
        m->flags = (uint8_t)((m->flags & ~FRAME_F_LOST) | FRAME_F_RESENT);
        *pipe += m->len;
        e->stats.retrans_fast++;
    }
    return true;
}

/*
 * Sender silly-window avoidance (RFC 9293 3.8.6.2.1) for a frame the window cuts short: send the
 * part that fits only if it is a full segment or half the largest window the peer offered.
 */
static bool worth_splitting(const struct tcp_conn *c, uint32_t avail)
{
    return avail >= c->mss || avail * 2 >= c->max_snd_wnd;
}

/* Nagle (RFC 896), when configured: a short tail segment waits while anything is unacknowledged. */
static bool nagle_holds(const struct tcp_engine *e, const struct tcp_conn *c, const struct frame_meta *m)
{
    return e->cfg.nagle && m->len < c->mss && m->seq + m->len == c->snd_end && c->snd_una != c->snd_max;
}

/* snd_nxt after sending m's first len bytes as new data; the FIN rides on the segment that ends the data. */
static void advance_snd_nxt(struct tcp_conn *c, const struct frame_meta *m, uint32_t len)
{
    c->snd_nxt = m->seq + len;
    if ((c->flags & CONN_F_FIN_QUEUED) && c->snd_nxt == c->snd_end)
        c->snd_nxt++;
    if (seq_gt(c->snd_nxt, c->snd_max))
        c->snd_max = c->snd_nxt;
}

/*
 * The tail loss probe (RFC 8985 7.3): one new segment if the peer's window takes it, whatever the
 * congestion window, else the last segment sent again. Either way the peer's ACK, with its SACK
 * blocks, shows what the tail lost, and recovery starts without the RTO.
 */
static void send_tail_probe(struct tcp_engine *e, struct tcp_conn *c)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t f = frame_at(e, c, c->snd_nxt);

    c->flags &= ~(uint32_t)CONN_F_PROBE_TAIL;
    if (f != FRAME_NONE &&
        seq_leq(frame_meta(pool, f)->seq + frame_meta(pool, f)->len, c->snd_una + c->snd_wnd) &&
        !seq_lt(frame_meta(pool, f)->seq, c->snd_max)) {
        if (frame_in_tx(pool, f) || !tx_room(e))
            return;
        send_frame(e, c, f, false);
        advance_snd_nxt(c, frame_meta(pool, f), frame_meta(pool, f)->len);
        return;
    }
    f = frame_at(e, c, c->snd_nxt - 1);
    if (f != FRAME_NONE) {
        if (!(frame_meta(pool, f)->flags & FRAME_F_SACKED) && !frame_in_tx(pool, f) && tx_room(e))
            send_frame(e, c, f, true);
    } else if ((c->flags & CONN_F_FIN_QUEUED) && seq_gt(c->snd_nxt, c->snd_end)) {
        tcp_send_control(e, c, c->snd_end, TCP_FIN | TCP_ACK); /* only the FIN is outstanding */
    }
}

/*
 * Frames that may follow f (len bytes going) in the same segment: whole, of the same kind (new data
 * or retransmission), within the MSS, the peer's window, the congestion window and the TX list.
 * Returns the segment's frame count and adds the followers' bytes to *len.
 */
static uint32_t segment_frames(struct tcp_engine *e, struct tcp_conn *c, uint32_t f, uint32_t *len,
                               uint32_t wnd_end, uint32_t pipe, bool retransmission)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t n = 1;

    if (*len != frame_meta(pool, f)->len)
        return 1; /* cut short by the window: nothing fits after it */
    for (uint32_t g = frame_meta(pool, f)->next; g != FRAME_NONE && n < e->cfg.frags_max;
         g = frame_meta(pool, g)->next) {
        const struct frame_meta *gm = frame_meta(pool, g);
        uint32_t seg = *len + gm->len;

        if (seg > c->mss || (gm->flags & FRAME_F_SACKED) || seq_lt(gm->seq, c->snd_max) != retransmission ||
            seq_gt(gm->seq + gm->len, wnd_end) || (pipe && pipe + seg > c->cwnd) || frame_in_tx(pool, g) ||
            e->ntx + n >= e->cfg.tx_max || (!retransmission && nagle_holds(e, c, gm)))
            break;
        *len = seg;
        n++;
    }
    return n;
}

static void send_queued(struct tcp_engine *e, struct tcp_conn *c)
{
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t wnd_end = c->snd_una + c->snd_wnd;
    bool nothing_in_flight = c->snd_una == c->snd_max;
    uint32_t pipe, f, last, nframes;

    if (c->snd_una == c->snd_max && c->last_send_us && e->now_us - c->last_send_us > c->rto_us)
        tcp_cc_idle_restart(e, c);
    if (c->flags & CONN_F_PROBE_TAIL)
        send_tail_probe(e, c);
    pipe = tcp_cc_pipe(e, c);
    if ((c->flags & CONN_F_IN_RECOVERY) && !resend_lost(e, c, &pipe))
        return;

    for (f = frame_at(e, c, c->snd_nxt); f != FRAME_NONE; f = frame_meta(pool, f)->next) {
        struct frame_meta *m = frame_meta(pool, f);
        uint32_t len = m->len;
        bool retransmission = seq_lt(m->seq, c->snd_max);

        if (m->flags & FRAME_F_SACKED) { /* after an RTO, what the peer holds is not sent again */
            c->snd_nxt = m->seq + m->len;
            continue;
        }
        if (seq_gt(m->seq + len, wnd_end)) {
            uint32_t avail = seq_gt(wnd_end, m->seq) ? wnd_end - m->seq : 0;

            if (!avail || !worth_splitting(c, avail))
                break; /* the persist timer takes it from here */
            if (!split_frame(e, c, f, avail))
                break;
            len = avail;
        } else if (!retransmission && nagle_holds(e, c, m)) {
            break;
        }
        if (pipe && pipe + len > c->cwnd)
            break;
        if (frame_in_tx(pool, f) || !tx_room(e)) {
            tcp_conn_mark_retry(e, c);
            break;
        }
        nframes = segment_frames(e, c, f, &len, wnd_end, pipe, retransmission);
        last = send_segment(e, c, f, nframes, retransmission);
        if (retransmission)
            e->stats.retrans_rto++;
        pipe += len;
        advance_snd_nxt(c, m, len);
        f = last;
    }

    if ((c->flags & CONN_F_FIN_QUEUED) && c->snd_nxt == c->snd_end && seq_leq(c->snd_una, c->snd_end)) {
        if (tcp_send_control(e, c, c->snd_end, TCP_FIN | TCP_ACK)) {
            c->snd_nxt = c->snd_end + 1;
            if (seq_gt(c->snd_nxt, c->snd_max))
                c->snd_max = c->snd_nxt;
        } else {
            tcp_conn_mark_retry(e, c);
        }
    }
    if (nothing_in_flight && c->snd_una != c->snd_max) {
        /* the first data in flight starts the retransmission timer at RTO (RFC 6298 5.1): a persist
         * timer that was running ends with the window that opened, and so does its probes' backoff */
        c->backoff = 0;
        tcp_arm_rexmit(e, c);
    } else if ((c->snd_una != c->snd_max || seq_lt(c->snd_nxt, c->snd_end)) &&
               !c->deadline_ms[TIMER_REXMIT]) {
        tcp_arm_rexmit(e, c); /* retransmission, or persist while the window keeps data back */
    }
}

void tcp_output(struct tcp_engine *e, struct tcp_conn *c)
{
    switch (c->state) {
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED:
        if (c->flags & CONN_F_RESEND_SYNACK) {
            uint8_t flags = c->state == TCP_SYN_SENT ? TCP_SYN : TCP_SYN | TCP_ACK;

            if (!tcp_send_control(e, c, c->iss, flags)) {
                tcp_conn_mark_retry(e, c);
                return;
            }
            c->flags &= ~(uint32_t)CONN_F_RESEND_SYNACK;
            c->snd_nxt = c->snd_max = c->iss + 1;
            tcp_arm_rexmit(e, c);
        }
        if (c->state == TCP_SYN_RECEIVED && c->ack_need == ACK_NOW)
            break; /* a challenge ACK (RFC 5961 3.2, 4.2) or the answer to an unacceptable segment */
        return;
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
    case TCP_FIN_WAIT_1:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
        send_queued(e, c);
        break;
    default:
        break;
    }
    if (c->flags & CONN_F_PROBE) {
        /* zero-window or keepalive probe: an old sequence number makes the peer answer with an ACK */
        if (tcp_send_control(e, c, c->snd_una - 1, TCP_ACK))
            c->flags &= ~(uint32_t)CONN_F_PROBE;
        else
            tcp_conn_mark_retry(e, c);
    }
    if (c->ack_need == ACK_NOW) {
        if (!tcp_send_control(e, c, c->snd_nxt, TCP_ACK))
            tcp_conn_mark_retry(e, c);
    } else if (c->ack_need == ACK_DELAYED && !c->deadline_ms[TIMER_DELACK]) {
        tcp_conn_set_timer(e, c, TIMER_DELACK, engine_now_ms(e) + e->cfg.delack_ms);
    }
}
