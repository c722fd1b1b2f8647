/*
 * tcp_timer.c — what happens when a connection's deadline passes: SYN-ACK and data
 * retransmission with exponential backoff (RFC 6298 5.5), zero-window probes (RFC 9293 3.8.6.1),
 * delayed ACKs, keepalive (RFC 9293 3.8.4), the end of TIME-WAIT and of an orphaned FIN-WAIT-2.
 * Timers request output like input does; nothing is sent from here directly.
 */
#include <errno.h>
#include <stddef.h>

#include "net/tcp_conn.h"

#define MAX_BACKOFF 16

static uint64_t backed_off_ms(const struct tcp_engine *e, const struct tcp_conn *c)
{
    uint64_t us = (uint64_t)c->rto_us << c->backoff;

    if (us > (uint64_t)e->cfg.rto_max_ms * 1000)
        us = (uint64_t)e->cfg.rto_max_ms * 1000;
    return us / 1000 ? us / 1000 : 1;
}

/*
 * A tail loss probe (RFC 8985 7) instead of the RTO when SACK can tell what the probe finds: two
 * round trips after the last ACK, or more when one segment's ACK may be delayed. Losing the last
 * segments of a flight then costs a round trip or two, not the RTO's 200 ms at least.
 */
static bool tlp_possible(const struct tcp_conn *c)
{
    return (c->flags & CONN_F_SACK) && c->srtt_us && !c->backoff &&
           !(c->flags & (CONN_F_IN_RECOVERY | CONN_F_TLP_SENT | CONN_F_AFTER_RTO)) &&
           c->snd_una != c->snd_max;
}

#define PTO_MIN_MS                                                                                           \
    10 /* ACKs of a busy peer on a microsecond path still arrive late by this much (Linux too) */

static uint64_t pto_ms(const struct tcp_engine *e, const struct tcp_conn *c)
{
    uint64_t pto_us = 2ull * c->srtt_us;

    if (c->snd_max - c->snd_una <= c->mss)
        pto_us += (uint64_t)e->cfg.delack_ms * 1000 *
                  5; /* a lone segment's ACK may wait for the peer's delayed ACK */
    if (pto_us > c->rto_us)
        pto_us = c->rto_us;
    return pto_us / 1000 > PTO_MIN_MS ? pto_us / 1000 : PTO_MIN_MS;
}

void tcp_arm_rexmit(struct tcp_engine *e, struct tcp_conn *c)
{
    c->flags &= ~(uint32_t)CONN_F_TLP_ARMED;
    if (c->snd_una == c->snd_max && !seq_lt(c->snd_nxt, c->snd_end)) {
        tcp_conn_clear_timer(e, c, TIMER_REXMIT);
    } else if (tlp_possible(c)) {
        c->flags |= CONN_F_TLP_ARMED;
        tcp_conn_set_timer(e, c, TIMER_REXMIT, engine_now_ms(e) + pto_ms(e, c));
    } else {
        tcp_conn_set_timer(e, c, TIMER_REXMIT, engine_now_ms(e) + backed_off_ms(e, c));
    }
}

static void on_rexmit(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->state == TCP_SYN_RECEIVED || c->state == TCP_SYN_SENT) {
        if (++c->retries > e->cfg.syn_retries) {
            e->stats.timeouts++;
            tcp_conn_finish(e, c, ETIMEDOUT, true); /* only an active open is the application's to tell */
            return;
        }
        if (c->backoff < MAX_BACKOFF)
            c->backoff++;
        c->flags |= CONN_F_RESEND_SYNACK;
        tcp_conn_mark_dirty(e, c);
        return;
    }
    if ((c->flags & CONN_F_TLP_ARMED) && tlp_possible(c)) {
        c->flags &= ~(uint32_t)CONN_F_TLP_ARMED;
        c->flags |= CONN_F_TLP_SENT | CONN_F_PROBE_TAIL;
        e->stats.tlp_probes++;
        tcp_arm_rexmit(e, c); /* now the RTO, behind the probe */
        tcp_conn_mark_dirty(e, c);
        return;
    }
    if (c->snd_una != c->snd_max) {
        e->stats.rto_expired++;
        if (++c->retries > e->cfg.data_retries) {
            e->stats.timeouts++;
            tcp_conn_finish(e, c, ETIMEDOUT, true);
            return;
        }
        if (c->backoff < MAX_BACKOFF)
            c->backoff++;
        tcp_cc_on_rto(e, c);
        tcp_arm_rexmit(e, c);
        tcp_conn_mark_dirty(e, c);
        return;
    }
    if (seq_lt(c->snd_nxt, c->snd_end)) { /* data waits for a window: probe it */
        if (++c->probes > e->cfg.data_retries) {
            e->stats.timeouts++;
            tcp_conn_finish(e, c, ETIMEDOUT, true);
            return;
        }
        if (c->backoff < MAX_BACKOFF)
            c->backoff++;
        e->stats.window_probes++;
        c->flags |= CONN_F_PROBE;
        tcp_arm_rexmit(e, c);
        tcp_conn_mark_dirty(e, c);
    }
}

static void on_idle(struct tcp_engine *e, struct tcp_conn *c)
{
    uint64_t now = engine_now_ms(e), last = c->last_recv_us / 1000;

    switch (c->state) {
    case TCP_TIME_WAIT:
        tcp_conn_finish(e, c, 0, false); /* the application had closed(0) on entering TIME-WAIT */
        return;
    case TCP_FIN_WAIT_2:
        if (c->flags & CONN_F_APP_CLOSED) {
            /* the peer never sent its FIN; ours was acknowledged, so the close the application asked
             * for is done: it hears of the end as of any other, or it could never free its context */
            tcp_conn_finish(e, c, 0, true);
            return;
        }
        break; /* only shut down: the application reads on until the FIN, keepalive watching the peer */
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
        break;
    default:
        return;
    }
    if (!e->cfg.keepalive_idle_ms)
        return;
    if (now - last < e->cfg.keepalive_idle_ms && !c->probes) {
        tcp_conn_set_timer(e, c, TIMER_IDLE, last + e->cfg.keepalive_idle_ms);
        return;
    }
    if (c->probes >= e->cfg.keepalive_probes) {
        e->stats.timeouts++;
        tcp_conn_finish(e, c, ETIMEDOUT, true);
        return;
    }
    c->probes++;
    e->stats.keepalive_probes++;
    c->flags |= CONN_F_PROBE;
    tcp_conn_mark_dirty(e, c);
    tcp_conn_set_timer(e, c, TIMER_IDLE, now + e->cfg.keepalive_intvl_ms);
}

void tcp_timer_fire(struct timer *t, void *ctx)
{
    struct tcp_engine *e = ctx;
    struct tcp_conn *c = (struct tcp_conn *)((char *)t - offsetof(struct tcp_conn, timer));
    uint64_t now = engine_now_ms(e);

    for (int which = 0; which < TIMER_COUNT && !(c->flags & CONN_F_ZOMBIE); which++) {
        if (!c->deadline_ms[which] || c->deadline_ms[which] > now)
            continue;
        c->deadline_ms[which] = 0;
        switch (which) {
        case TIMER_REXMIT:
            on_rexmit(e, c);
            break;
        case TIMER_DELACK:
            if (c->ack_need != ACK_NONE) {
                c->ack_need = ACK_NOW;
                tcp_conn_mark_dirty(e, c);
            }
            break;
        case TIMER_IDLE:
            on_idle(e, c);
            break;
        case TIMER_HOLD:
            /* no decision (a client that waits for the server before sending its request): serve it
             * here; a late decision finds the application has it and leaves it (TCP_STEERED_PINNED) */
            if (c->flags & CONN_F_HELD) {
                e->stats.hold_expired++;
                tcp_conn_place(c);
            }
            break;
        }
    }
    if (!(c->flags & CONN_F_ZOMBIE))
        tcp_conn_rearm(e, c);
}
