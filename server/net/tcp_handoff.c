/*
 * tcp_handoff.c — a connection moves whole from one engine to another (data path step 3).
 *
 * The steering program decides a connection's worker from its first bytes, after the handshake
 * was done on a worker chosen by hash. Until that decision the connection is held (tcp.h, enum
 * tcp_steer): TCP runs, the application hears nothing. When the route names another worker, the
 * owner exports the TCB here and the other worker imports it. The frames of its queues (received
 * bytes, out-of-order segments, unacknowledged data) stay where they are in the shared pool and
 * travel by index; frames lent to a TX ring come back through the completion ring whichever worker
 * drains it, since ownership bits live in the shared frame metadata. No byte is copied and no
 * segment is sent by the move itself.
 */
#include <string.h>

#include "net/tcp_conn.h"

_Static_assert(sizeof(struct tcp_conn) <= TCP_HANDOFF_BYTES, "TCP_HANDOFF_BYTES must hold a TCB");

/* Take c off a dirty or retry list. */
static void list_unlink(struct tcp_conn **list, struct tcp_conn *c)
{
    for (struct tcp_conn **link = list; *link; link = &(*link)->list_next) {
        if (*link == c) {
            *link = c->list_next;
            c->list_next = NULL;
            return;
        }
    }
}

void tcp_conn_place(struct tcp_conn *c)
{
    if (!(c->flags & CONN_F_HELD))
        return;
    c->flags &= ~(uint32_t)CONN_F_HELD;
    tcp_conn_clear_timer(c->engine, c, TIMER_HOLD);
    tcp_conn_mark_dirty(c->engine, c); /* the events held back are delivered at the flush */
}

bool tcp_conn_export(struct tcp_conn *c, struct tcp_handoff *h)
{
    struct tcp_engine *e = c->engine;

    if ((c->flags & (CONN_F_ACCEPTED | CONN_F_ZOMBIE)) || !(c->flags & CONN_F_HELD) ||
        c->state == TCP_CLOSED || c->state == TCP_SYN_SENT || c->state == TCP_TIME_WAIT)
        return false;
    if (c->flags & CONN_F_DIRTY)
        list_unlink(&e->dirty, c);
    if (c->flags & CONN_F_RETRY)
        list_unlink(&e->retry, c);
    timer_cancel(&e->wheel, &c->timer);
    tcp_conn_table_remove(e, c);
    if (c->state == TCP_SYN_RECEIVED)
        tcp_half_open_remove(e, c);
    memcpy(h->tcb, c, sizeof(*c));
    tcp_conn_slot_free(e, c);
    e->stats.handoffs_out++;
    return true;
}

/* Give back the frames of a connection that found no place. */
static void release_queues(struct tcp_engine *e, struct tcp_conn *t)
{
    tcp_fq_release_all(e, &t->rcvq);
    tcp_fq_release_all(e, &t->ooo);
    tcp_fq_release_all(e, &t->sndq);
}

struct tcp_conn *tcp_conn_import(struct tcp_engine *e, const struct tcp_handoff *h)
{
    struct tcp_conn in, *c;
    uint32_t index;

    memcpy(&in, h->tcb, sizeof(in));
    if (tcp_conn_lookup(e, &in.tuple) || !(c = tcp_conn_slot_take(e))) {
        release_queues(e, &in);
        e->stats.handoffs_failed++;
        return NULL;
    }
    index = c->index;
    *c = in;
    c->index = index;
    c->engine = e;
    c->list_next = NULL;
    c->zombie_next = NULL;
    memset(&c->timer, 0, sizeof(c->timer));
    c->flags &= ~(uint32_t)(CONN_F_DIRTY | CONN_F_RETRY | CONN_F_HELD);
    c->deadline_ms[TIMER_HOLD] = 0;
    tcp_conn_table_insert(e, c);
    /* a TIME-WAIT entry of the tuple here is an earlier incarnation: the new one opened elsewhere */
    if (tcp_time_wait_forget(e, &c->tuple))
        e->stats.time_wait_reused++;
    if (c->state == TCP_SYN_RECEIVED)
        tcp_half_open_add(e, c);
    tcp_conn_rearm(e, c);
    /* events held back (accept, readable) and any ACK owed go out at the next flush */
    tcp_conn_mark_dirty(e, c);
    e->stats.handoffs_in++;
    return c;
}
