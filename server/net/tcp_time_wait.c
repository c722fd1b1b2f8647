/*
 * tcp_time_wait.c — TIME-WAIT without a connection slot: compact entries, bounded and preallocated.
 *
 * A connection the server closes first waits 2 MSL (time_wait_ms) in TIME-WAIT, to ACK the peer's
 * FIN again if our ACK was lost and to keep old duplicates from a new incarnation (RFC 9293 3.6.1).
 * That needs the tuple, two sequence numbers, the window, the peer's last TSval and a deadline: ~100
 * bytes, not a struct tcp_conn with its queues and timers. Once the application has heard closed(0)
 * and the ACK of the FIN is out, tcp_engine_flush calls tcp_time_wait_replace: an entry takes over
 * and the slot goes back to the slab at once, so a server closing ~35k connections per second is
 * bounded by max_conns only for the connections it actually serves (issue 12).
 *
 * Entries live in a slab of cfg.max_time_wait with a hash of their own, which tcp_input consults
 * after the connection table. They sit in one FIFO, oldest first: every entry lasts time_wait_ms
 * from its last (re)start and a restart moves it to the end, so the FIFO is also deadline order and
 * expiry pops from the front (no timer per entry). When the slab is full the oldest entry, the
 * closest to its end anyway, is dropped and counted (time_wait_dropped), as Linux bounds its
 * buckets with tcp_max_tw_buckets. Nothing here allocates after tcp_time_wait_init, and no segment
 * is kept: answers are header-only frames emitted during input, as resets for no connection are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/tcp_conn.h"

#define TW_NONE UINT32_MAX

_Static_assert(sizeof(struct tcp_time_wait) <= 104,
               "[tcp] max_time_wait's help and the README say 104 bytes");

int tcp_time_wait_init(struct tcp_engine *e)
{
    struct tcp_time_wait_table *t = &e->tw;
    uint32_t n = e->cfg.max_time_wait, nbuckets = 1;

    t->oldest = t->newest = t->free = TW_NONE;
    if (!n)
        return 0;
    while (nbuckets < n)
        nbuckets <<= 1;
    t->entries = calloc(n, sizeof(*t->entries));
    t->buckets = malloc(sizeof(*t->buckets) * nbuckets);
    if (!t->entries || !t->buckets) {
        tcp_time_wait_destroy(e);
        errno = ENOMEM;
        return -1;
    }
    t->bucket_mask = nbuckets - 1;
    memset(t->buckets, 0xff, sizeof(*t->buckets) * nbuckets);
    for (uint32_t i = 0; i < n; i++)
        t->entries[i].hash_next = i + 1 < n ? i + 1 : TW_NONE;
    t->free = 0;
    return 0;
}

void tcp_time_wait_destroy(struct tcp_engine *e)
{
    free(e->tw.entries);
    free(e->tw.buckets);
    memset(&e->tw, 0, sizeof(e->tw));
}

static uint32_t *tw_bucket(struct tcp_engine *e, const struct pkt_tuple *t)
{
    return &e->tw.buckets[tcp_tuple_hash(e->cfg.secret, t) & e->tw.bucket_mask];
}

static uint32_t tw_find(struct tcp_engine *e, const struct pkt_tuple *t)
{
    if (!e->tw.count)
        return TW_NONE;
    for (uint32_t i = *tw_bucket(e, t); i != TW_NONE; i = e->tw.entries[i].hash_next)
        if (!memcmp(&e->tw.entries[i].tuple, t, sizeof(*t)))
            return i;
    return TW_NONE;
}

bool tcp_time_wait_held(struct tcp_engine *e, const struct pkt_tuple *t)
{
    return tw_find(e, t) != TW_NONE;
}

/* ---- the FIFO: oldest first, which is deadline order ---------------------------------------- */

static void fifo_unlink(struct tcp_time_wait_table *t, uint32_t i)
{
    struct tcp_time_wait *w = &t->entries[i];

    if (w->older != TW_NONE)
        t->entries[w->older].newer = w->newer;
    else
        t->oldest = w->newer;
    if (w->newer != TW_NONE)
        t->entries[w->newer].older = w->older;
    else
        t->newest = w->older;
}

static void fifo_append(struct tcp_time_wait_table *t, uint32_t i)
{
    struct tcp_time_wait *w = &t->entries[i];

    w->older = t->newest;
    w->newer = TW_NONE;
    if (t->newest != TW_NONE)
        t->entries[t->newest].newer = i;
    else
        t->oldest = i;
    t->newest = i;
}

/* 2 MSL from now, at the end of the FIFO. */
static void tw_restart(struct tcp_engine *e, uint32_t i)
{
    e->tw.entries[i].deadline_ms = engine_now_ms(e) + e->cfg.time_wait_ms;
    fifo_unlink(&e->tw, i);
    fifo_append(&e->tw, i);
}

static void tw_remove(struct tcp_engine *e, uint32_t i)
{
    struct tcp_time_wait_table *t = &e->tw;
    struct tcp_time_wait *w = &t->entries[i];

    for (uint32_t *link = tw_bucket(e, &w->tuple); *link != TW_NONE; link = &t->entries[*link].hash_next) {
        if (*link == i) {
            *link = w->hash_next;
            break;
        }
    }
    fifo_unlink(t, i);
    memset(w, 0, sizeof(*w));
    w->hash_next = t->free;
    t->free = i;
    t->count--;
}

void tcp_time_wait_replace(struct tcp_engine *e, struct tcp_conn *c)
{
    struct tcp_time_wait_table *t = &e->tw;
    struct tcp_time_wait *w;
    uint32_t i;

    if (t->free == TW_NONE && t->oldest != TW_NONE) {
        tw_remove(e, t->oldest); /* the one nearest its end: its old duplicates are the least likely */
        e->stats.time_wait_dropped++;
    }
    if (t->free == TW_NONE) { /* max_time_wait 0: no TIME-WAIT is kept at all */
        e->stats.time_wait_dropped++;
        tcp_conn_finish(e, c, 0, false);
        return;
    }
    i = t->free;
    w = &t->entries[i];
    t->free = w->hash_next;
    w->tuple = c->tuple;
    w->link = c->link;
    w->snd_nxt = c->snd_nxt;
    w->rcv_nxt = c->rcv_nxt;
    w->rcv_wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    w->rcv_wscale = c->rcv_wscale;
    w->ts = !!(c->flags & CONN_F_TS);
    w->ts_recent = c->ts_recent;
    w->ts_offset = c->ts_offset;
    /* 2 MSL counted from now, not from the state change earlier in this batch or a few flushes ago
     * (an ACK that waited for a TX frame): never shorter, and the FIFO stays in deadline order */
    w->deadline_ms = engine_now_ms(e) + e->cfg.time_wait_ms;
    w->hash_next = *tw_bucket(e, &w->tuple);
    *tw_bucket(e, &w->tuple) = i;
    fifo_append(t, i);
    t->count++;
    e->stats.time_wait_entered++;
    tcp_conn_finish(e, c, 0, false); /* the application had closed(0) on entering TIME-WAIT */
}

void tcp_time_wait_expire(struct tcp_engine *e)
{
    uint64_t now = engine_now_ms(e);

    while (e->tw.oldest != TW_NONE && e->tw.entries[e->tw.oldest].deadline_ms <= now)
        tw_remove(e, e->tw.oldest);
}

uint64_t tcp_time_wait_next_ms(const struct tcp_engine *e)
{
    return e->tw.oldest != TW_NONE ? e->tw.entries[e->tw.oldest].deadline_ms : UINT64_MAX;
}

bool tcp_time_wait_forget(struct tcp_engine *e, const struct pkt_tuple *t)
{
    uint32_t i = tw_find(e, t);

    if (i == TW_NONE)
        return false;
    tw_remove(e, i);
    return true;
}

/* ---- segments for an entry (RFC 9293 3.10.7.4 in TIME-WAIT) ---------------------------------- */

static void tw_send_ack(struct tcp_engine *e, const struct tcp_time_wait *w)
{
    uint8_t opts[TCP_TS_OPT_LEN] = {1, 1, 8, 10}; /* NOP, NOP, timestamps */
    uint32_t field = w->rcv_wnd >> w->rcv_wscale;
    struct pkt_segment seg = {
        .seq = w->snd_nxt,
        .ack = w->rcv_nxt,
        .wnd = (uint16_t)(field > 65535 ? 65535 : field),
        .flags = TCP_ACK,
        .ip_id = e->ip_id++,
        .options = opts,
    };

    if (w->ts) {
        tcp_put32(opts + 4, (uint32_t)engine_now_ms(e) + w->ts_offset); /* the connection's clock goes on */
        tcp_put32(opts + 8, w->ts_recent);
        seg.options_len = TCP_TS_OPT_LEN;
    }
    tcp_emit_header_only(e, &w->tuple, &w->link, &seg);
}

static void tw_challenge_ack(struct tcp_engine *e, const struct tcp_time_wait *w)
{
    if (tcp_challenge_allowed(e))
        tw_send_ack(e, w);
}

static bool tw_acceptable(const struct tcp_time_wait *w, uint32_t seq, uint32_t seg_len)
{
    uint32_t end = w->rcv_nxt + w->rcv_wnd;

    if (seg_len == 0)
        return w->rcv_wnd == 0 ? seq == w->rcv_nxt : seq_geq(seq, w->rcv_nxt) && seq_lt(seq, end);
    if (w->rcv_wnd == 0)
        return false;
    return (seq_geq(seq, w->rcv_nxt) && seq_lt(seq, end)) ||
           (seq_geq(seq + seg_len - 1, w->rcv_nxt) && seq_lt(seq + seg_len - 1, end));
}

/* RFC 6191: a SYN may reopen the tuple when it is clearly new, by its TSval or else its sequence number. */
static bool tw_reusable(const struct tcp_time_wait *w, const struct pkt *p)
{
    if (w->ts && p->opts.ts_present)
        return seq_gt(p->opts.tsval, w->ts_recent);
    return seq_gt(p->seq, w->rcv_nxt);
}

bool tcp_time_wait_input(struct tcp_engine *e, const struct pkt *p)
{
    uint32_t i = tw_find(e, &p->tuple);
    uint32_t seg_len = p->payload_len + !!(p->flags & TCP_SYN) + !!(p->flags & TCP_FIN);
    struct tcp_time_wait *w;

    if (i == TW_NONE)
        return false;
    w = &e->tw.entries[i];
    if (p->flags & TCP_RST) {
        /* RFC 5961 3.2: exactly at RCV.NXT it ends TIME-WAIT (as in Linux without rfc1337); elsewhere in
         * the window it earns a challenge ACK; outside it is dropped */
        if (p->seq == w->rcv_nxt) {
            e->stats.rst_received++;
            tw_remove(e, i);
        } else if (tw_acceptable(w, p->seq, 0)) {
            tw_challenge_ack(e, w);
        }
        return true;
    }
    if (p->flags & TCP_SYN) {
        if (!(p->flags & TCP_ACK) && tw_reusable(w, p)) {
            e->stats.time_wait_reused++;
            tw_remove(e, i);
            return false; /* the caller opens the new connection */
        }
        tw_challenge_ack(e, w); /* RFC 5961 4.2; an old duplicate SYN learns where we are */
        return true;
    }
    if (w->ts && p->opts.ts_present) {
        if (seq_lt(p->opts.tsval, w->ts_recent)) { /* PAWS (RFC 7323 5): an old duplicate */
            e->stats.paws_rejected++;
            tw_send_ack(e, w);
            return true;
        }
        if (seq_leq(p->seq, w->rcv_nxt)) /* RFC 7323 4.3: what reuse is judged against (RFC 6191) */
            w->ts_recent = p->opts.tsval;
    }
    if ((p->flags & TCP_FIN) && p->seq + p->payload_len + 1 == w->rcv_nxt) {
        /* the peer's FIN again: our ACK of it was lost. Say it again and wait 2 MSL again */
        tw_send_ack(e, w);
        tw_restart(e, i);
        return true;
    }
    if (!tw_acceptable(w, p->seq, seg_len)) {
        e->stats.rcv_dropped_window++;
        tw_send_ack(e, w);
        return true;
    }
    if (!(p->flags & TCP_ACK))
        return true;
    if (seq_gt(p->ack, w->snd_nxt)) { /* RFC 9293 3.10.7.4 fifth: acknowledges what was never sent */
        e->stats.bad_ack++;
        tw_send_ack(e, w);
        return true;
    }
    if (p->flags & TCP_FIN) { /* nothing else is expected in TIME-WAIT; its text and bare ACKs are ignored */
        tw_send_ack(e, w);
        tw_restart(e, i);
    }
    return true;
}
