/*
 * xdp_steer.c — the user-space half of stream-prefix steering (data path step 3).
 *
 * The XDP program picks a connection's worker by hash at the SYN, then decides its route from the
 * first payload bytes. A frame it redirects while the flow has something pending starts with struct
 * sluice_xdp_meta, the flow's state and target worker (the RX batch strips it off the packet, in
 * xdp_steer_strip_meta). Here a worker reads it for each received packet:
 *   awaiting the prefix    the engine holds the connection back from the application;
 *   target is this worker  the connection is placed here (released if it was held);
 *   target is another one  the connection moves: after the RX batch, before the flush, its TCB
 *                          goes to the target's inbox (tcp_conn_export), then the flow entry is
 *                          pointed at the target. Frames that still reach this worker for it are
 *                          forwarded to the target's inbox, behind the connection itself.
 * The target drains its inbox after peeking its RX ring and before reading it: a packet that came
 * straight to it was redirected after the flow entry changed, so after the connection was pushed.
 */
#include "afxdp/xdp_steer.h"

#include <string.h>
#include <bpf/bpf.h>

#include "afxdp/xdp_worker.h"
#include "common/probes.h"
#include "sched/worker.h"

_Static_assert(TCP_COOKIE_NO_WSCALE == SLUICE_COOKIE_NO_WSCALE,
               "the engine reads the cookie's wscale as XDP wrote it");

/* The AF_XDP state of the server's worker index: where a moved connection's messages go. */
static struct xdp_worker *peer(struct xdp_worker *x, uint32_t index)
{
    return x->worker->srv->workers[index].dp;
}

struct flow_key xdp_steer_flow_key(const struct pkt_tuple *t)
{
    struct flow_key k;

    memset(&k, 0, sizeof(k));
    memcpy(k.saddr, t->raddr, t->family == PKT_IPV6 ? 16 : 4);
    memcpy(k.daddr, t->laddr, t->family == PKT_IPV6 ? 16 : 4);
    k.sport = t->rport;
    k.dport = t->lport;
    k.family = t->family;
    return k;
}

/* Point the flow at the server's worker index (and, pinning, make it its target too): XDP redirects
 * there from now on. Flows name slots: the index plus the generation's base (SLUICE_GEN_SLOTS). */
static void flow_set_owner(struct xdp_worker *x, const struct pkt_tuple *t, uint32_t worker, bool pin)
{
    struct flow_key k = xdp_steer_flow_key(t);
    struct flow_value v;
    int fd = x->server->pins.flows;

    if (bpf_map_lookup_elem(fd, &k, &v)) {
        x->stats.steer_flow_gone++; /* evicted from the LRU: XDP hashes it afresh, to a live worker */
        return;
    }
    v.worker = x->server->slot_base + worker;
    if (pin)
        v.target = v.worker;
    if (bpf_map_update_elem(fd, &k, &v, BPF_EXIST))
        x->stats.steer_flow_gone++;
}

enum tcp_steer xdp_steer_read(struct xdp_worker *x, const struct sluice_xdp_meta *m, uint32_t *target,
                              struct tcp_syncookie *cookie)
{
    struct worker *w = x->worker;

    *target = w->index;
    memset(cookie, 0, sizeof(*cookie));
    if (!m)
        return TCP_STEER_PLACED; /* nothing pending, or the program could not add it (meta_failed) */
    if (m->cookie_mss) {
        *cookie = (struct tcp_syncookie){
            .valid = true,
            .sack = m->cookie_flags & SLUICE_COOKIE_SACK,
            .ts = m->cookie_flags & SLUICE_COOKIE_TS,
            .wscale = m->cookie_wscale,
            .mss = m->cookie_mss,
        };
    }
    if (m->flow_state == FLOW_AWAIT_PREFIX)
        return TCP_STEER_HOLD;
    /* XDP's target is a slot of this generation's (route_target keeps decisions in the owner's) */
    if (m->target < x->server->slot_base || m->target - x->server->slot_base == w->index ||
        m->target - x->server->slot_base >= w->srv->cfg.nworkers)
        return TCP_STEER_PLACED;
    *target = m->target - x->server->slot_base;
    return TCP_STEER_MOVE;
}

/* A frame of a connection that moved away: to its new worker, behind the connection. */
static void forward(struct xdp_worker *x, uint32_t target, uint32_t frame, uint32_t off, uint32_t len)
{
    struct inbox *inbox = &peer(x, target)->inbox;
    struct xdp_steer_msg *m = inbox_reserve(inbox);

    if (!m) {
        x->stats.steer_inbox_full++;
        frame_put(&x->cache, frame, FRAME_OWN_HELD); /* as a full RX ring would: TCP sends it again */
        return;
    }
    m->kind = XDP_STEER_FRAME;
    m->frame = frame;
    m->off = off;
    m->len = len;
    inbox_commit(inbox);
    x->stats.steer_forwarded++;
}

void xdp_steer_input(struct xdp_worker *x, const struct tcp_rx_chain *chain, const struct sluice_xdp_meta *m)
{
    const struct tcp_rx_piece *first = &chain->piece[0];
    uint32_t target;
    struct tcp_syncookie cookie;
    enum tcp_steer steer = xdp_steer_read(x, m, &target, &cookie);
    struct tcp_conn *c;

    switch (tcp_input_cookie_chain(&x->engine, chain, steer, cookie.valid ? &cookie : NULL, &c)) {
    case TCP_STEERED_FOREIGN:
        if (chain->n == 1) {
            forward(x, target, first->frame, first->off, first->len);
            break;
        }
        /* a chain met in the moment a connection moves: the peer sends it again to the new owner */
        for (uint32_t i = 0; i < chain->n; i++)
            frame_put(&x->cache, chain->piece[i].frame, FRAME_OWN_HELD);
        x->stats.steer_chains_dropped++;
        break;
    case TCP_STEERED_MOVABLE:
        for (uint32_t i = 0; i < x->nmoves; i++)
            if (x->moves[i].conn == c)
                return;
        if (x->nmoves < XDP_RX_BATCH)
            x->moves[x->nmoves++] = (struct xdp_move){c, target};
        break;
    case TCP_STEERED_PINNED:
        /* the application has it here already (the route came too late): it stays, and XDP stops
         * asking for the move */
        x->stats.steer_pinned++;
        flow_set_owner(x, tcp_conn_tuple(c), x->worker->index, true);
        break;
    case TCP_STEERED_DONE:
        break;
    }
}

void xdp_steer_moves(struct xdp_worker *x)
{
    for (uint32_t i = 0; i < x->nmoves; i++) {
        struct tcp_conn *c = x->moves[i].conn;
        uint32_t target = x->moves[i].target;
        struct inbox *inbox = &peer(x, target)->inbox;
        struct pkt_tuple tuple = *tcp_conn_tuple(c);
        uint64_t start = worker_now_ns();
        struct xdp_steer_msg *m;

        if (tcp_conn_state(c) == TCP_CLOSED)
            continue; /* ended in the same batch (a reset): nothing to move */
        m = inbox_reserve(inbox);
        if (!m) {
            /* the target is swamped: serve the connection here rather than hold it */
            x->stats.steer_inbox_full++;
            tcp_conn_place(c);
            flow_set_owner(x, &tuple, x->worker->index, true);
            continue;
        }
        if (!tcp_conn_export(c, &m->conn)) {
            inbox_cancel(inbox);
            continue;
        }
        m->kind = XDP_STEER_CONN;
        m->sent_ns = start;
        inbox_commit(inbox);
        flow_set_owner(x, &tuple, target, false);
        SLUICE_PROBE_HANDOFF(x->worker->index, target, tuple.rport, tuple.lport);
        x->stats.steer_moved_out++;
        x->stats.steer_export_ns += worker_now_ns() - start;
    }
    x->nmoves = 0;
}

uint32_t xdp_steer_inbox(struct xdp_worker *x)
{
    struct xdp_steer_msg m;
    uint32_t n = 0;

    while (inbox_take(&x->inbox, &m)) {
        struct tcp_conn *c;
        uint64_t now;

        n++;
        if (m.kind == XDP_STEER_FRAME) {
            tcp_input_steered(&x->engine, m.frame, m.off, m.len, TCP_STEER_PLACED, &c);
            x->stats.steer_forwarded_in++;
            continue;
        }
        /* the exporter's clock readings must not be ahead of this engine's */
        now = worker_now_ns();
        tcp_engine_begin(&x->engine, now);
        c = tcp_conn_import(&x->engine, &m.conn);
        if (!c) {
            x->stats.steer_import_failed++;
            continue;
        }
        x->stats.steer_moved_in++;
        x->stats.steer_latency_ns += now - m.sent_ns;
        SLUICE_PROBE_HANDOFF_DONE(x->worker->index, now - m.sent_ns, tcp_conn_tuple(c)->rport,
                                  tcp_conn_tuple(c)->lport);
    }
    return n;
}

void xdp_steer_drain_at_stop(struct xdp_worker *x)
{
    struct xdp_steer_msg m;

    if (!x->inbox.slots)
        return;
    while (inbox_take(&x->inbox, &m)) {
        if (m.kind == XDP_STEER_FRAME)
            frame_put(&x->cache, m.frame, FRAME_OWN_HELD);
        else if (!tcp_conn_import(&x->engine, &m.conn))
            x->stats.steer_import_failed++; /* its frames were released */
    }
}
