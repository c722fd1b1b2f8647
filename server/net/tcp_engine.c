/*
 * tcp_engine.c — the engine's frame of work: configuration, the connection slab and its hash
 * table, the per-batch cycle (begin, input, flush), and the application's calls on a connection
 * (read where the bytes lie, write into send frames, shutdown, close, abort).
 *
 * Everything a connection owns is in its struct tcp_conn and in frames of the shared pool, so
 * nothing here depends on which thread runs the engine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/tcp_conn.h"

void tcp_config_default(struct tcp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mtu = 1500;
    cfg->rcv_buf = 256 * 1024;
    cfg->snd_buf = 256 * 1024;
    cfg->ooo_max_frames = 256;
    cfg->max_conns = 65536;
    cfg->max_time_wait = 65536;
    cfg->max_half_open = 4096;
    cfg->timestamps = true;
    cfg->sack = true;
    cfg->window_scaling = true;
    cfg->nagle = false;
    cfg->rto_initial_ms = 1000;
    cfg->rto_min_ms = 200;
    cfg->rto_max_ms = 60000;
    cfg->delack_ms = 40;
    cfg->syn_retries = 5;
    cfg->data_retries = 15;
    cfg->keepalive_idle_ms = 0;
    cfg->keepalive_intvl_ms = 75000;
    cfg->keepalive_probes = 9;
    cfg->time_wait_ms = 60000;
    cfg->challenge_ack_limit = 1000;
    cfg->initial_cwnd = 10;
    cfg->congestion = TCP_CC_CUBIC;
    cfg->tx_max = 1024;
    cfg->frags_max = 1;
    cfg->hold_ms = 1000;
    cfg->secret[0] = 0x0123456789abcdefull;
    cfg->secret[1] = 0xfedcba9876543210ull;
}

const char *tcp_state_name(enum tcp_state s)
{
    static const char *names[] = {"CLOSED",     "SYN-SENT",   "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
                                  "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",      "LAST-ACK",    "TIME-WAIT"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* ---- frame queues ------------------------------------------------------------------------------ */

void tcp_fq_push(struct frame_pool *pool, struct frame_queue *q, uint32_t frame)
{
    frame_meta(pool, frame)->next = FRAME_NONE;
    if (q->count)
        frame_meta(pool, q->tail)->next = frame;
    else
        q->head = frame;
    q->tail = frame;
    q->count++;
}

uint32_t tcp_fq_pop(struct frame_pool *pool, struct frame_queue *q)
{
    uint32_t frame = q->head;

    if (!q->count)
        return FRAME_NONE;
    q->head = frame_meta(pool, frame)->next;
    if (--q->count == 0)
        q->head = q->tail = FRAME_NONE;
    return frame;
}

void tcp_fq_release_all(struct tcp_engine *e, struct frame_queue *q)
{
    uint32_t frame;

    while ((frame = tcp_fq_pop(tcp_conn_pool(e), q)) != FRAME_NONE)
        frame_put(e->frames, frame, FRAME_OWN_HELD);
}

static void tcp_fq_init(struct frame_queue *q)
{
    q->head = q->tail = FRAME_NONE;
    q->count = 0;
}

/* ---- engine ------------------------------------------------------------------------------------ */

int tcp_engine_init(struct tcp_engine *e, const struct tcp_config *cfg, struct frame_cache *frames,
                    const struct tcp_callbacks *cb, void *cb_ctx, uint64_t now_ns)
{
    uint32_t nbuckets = 1;

    memset(e, 0, sizeof(*e));
    if (!cfg->max_conns || cfg->mtu < 576 || !cfg->tx_max || !cfg->frags_max ||
        cfg->frags_max > TCP_SEG_FRAMES_MAX || cfg->max_conns > (1u << 24) ||
        cfg->max_time_wait > (1u << 24) || (unsigned)cfg->congestion >= TCP_CC_COUNT) {
        errno = EINVAL;
        return -1;
    }
    e->cfg = *cfg;
    e->frames = frames;
    e->cb = cb;
    e->cb_ctx = cb_ctx;
    e->now_us = now_ns / 1000;
    timer_wheel_init(&e->wheel, engine_now_ms(e));
    while (nbuckets < cfg->max_conns)
        nbuckets <<= 1;
    e->bucket_mask = nbuckets - 1;
    e->conns = calloc(cfg->max_conns, sizeof(*e->conns));
    e->buckets = malloc(sizeof(*e->buckets) * nbuckets);
    e->tx = calloc(cfg->tx_max, sizeof(*e->tx));
    if (!e->conns || !e->buckets || !e->tx || tcp_time_wait_init(e)) {
        tcp_engine_destroy(e);
        errno = ENOMEM;
        return -1;
    }
    memset(e->buckets, 0xff, sizeof(*e->buckets) * nbuckets);
    for (uint32_t i = 0; i < cfg->max_conns; i++) {
        e->conns[i].index = i;
        e->conns[i].hash_next = i + 1 < cfg->max_conns ? i + 1 : UINT32_MAX;
    }
    e->free_conn = 0;
    e->half_open_oldest = e->half_open_newest = UINT32_MAX;
    return 0;
}

void tcp_half_open_add(struct tcp_engine *e, struct tcp_conn *c)
{
    c->half_open_prev = e->half_open_newest;
    c->half_open_next = UINT32_MAX;
    if (e->half_open_newest != UINT32_MAX)
        e->conns[e->half_open_newest].half_open_next = c->index;
    else
        e->half_open_oldest = c->index;
    e->half_open_newest = c->index;
    e->nhalf_open++;
}

void tcp_half_open_remove(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->half_open_prev != UINT32_MAX)
        e->conns[c->half_open_prev].half_open_next = c->half_open_next;
    else
        e->half_open_oldest = c->half_open_next;
    if (c->half_open_next != UINT32_MAX)
        e->conns[c->half_open_next].half_open_prev = c->half_open_prev;
    else
        e->half_open_newest = c->half_open_prev;
    e->nhalf_open--;
}

static void tcp_conn_release_frames(struct tcp_engine *e, struct tcp_conn *c)
{
    tcp_fq_release_all(e, &c->rcvq);
    tcp_fq_release_all(e, &c->ooo);
    tcp_fq_release_all(e, &c->sndq);
    c->rcv_queued = 0;
    c->snd_queued = 0;
}

void tcp_engine_destroy(struct tcp_engine *e)
{
    if (e->conns) {
        for (uint32_t i = 0; i < e->cfg.max_conns; i++)
            if (e->conns[i].state != TCP_CLOSED || e->conns[i].flags & CONN_F_ZOMBIE)
                tcp_conn_release_frames(e, &e->conns[i]);
    }
    for (uint32_t i = 0; i < e->ntx; i++)
        frame_put(e->frames, e->tx[i].frame, FRAME_OWN_TX);
    free(e->conns);
    free(e->buckets);
    free(e->tx);
    tcp_time_wait_destroy(e);
    memset(e, 0, sizeof(*e));
}

void tcp_listen(struct tcp_engine *e, uint16_t port)
{
    e->listening[port / 8] |= (uint8_t)(1u << (port % 8));
}

uint64_t tcp_engine_frames_held(const struct tcp_engine *e)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < e->cfg.max_conns; i++) {
        const struct tcp_conn *c = &e->conns[i];

        if (c->state != TCP_CLOSED || c->flags & CONN_F_ZOMBIE)
            n += c->rcvq.count + c->ooo.count + c->sndq.count;
    }
    return n;
}

void tcp_engine_begin(struct tcp_engine *e, uint64_t now_ns)
{
    if (now_ns / 1000 > e->now_us)
        e->now_us = now_ns / 1000;
    timer_wheel_advance(&e->wheel, engine_now_ms(e), tcp_timer_fire, e);
    tcp_time_wait_expire(e);
}

uint64_t tcp_engine_next_deadline(const struct tcp_engine *e)
{
    uint64_t ms = timer_wheel_next(&e->wheel), tw_ms = tcp_time_wait_next_ms(e);

    if (tw_ms < ms)
        ms = tw_ms;

    if (e->dirty || e->retry)
        return e->now_us * 1000;
    return ms == UINT64_MAX ? UINT64_MAX : ms * 1000000;
}

/* A connection on the retry list becomes dirty at the next flush anyway. */
void tcp_conn_mark_dirty(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->flags & (CONN_F_DIRTY | CONN_F_RETRY | CONN_F_ZOMBIE))
        return;
    c->flags |= CONN_F_DIRTY;
    c->list_next = e->dirty;
    e->dirty = c;
}

void tcp_conn_mark_retry(struct tcp_engine *e, struct tcp_conn *c)
{
    if (c->flags & (CONN_F_DIRTY | CONN_F_RETRY | CONN_F_ZOMBIE))
        return;
    c->flags |= CONN_F_RETRY;
    c->list_next = e->retry;
    e->retry = c;
}

void tcp_conn_post(struct tcp_engine *e, struct tcp_conn *c, uint8_t events)
{
    c->events |= events;
    tcp_conn_mark_dirty(e, c);
}

static void free_zombies(struct tcp_engine *e)
{
    while (e->zombie) {
        struct tcp_conn *c = e->zombie;

        e->zombie = c->zombie_next;
        tcp_conn_release_frames(e, c);
        tcp_conn_slot_free(e, c);
    }
}

/*
 * Closed connections leave the dirty or retry list (flag says which) before free_zombies clears
 * their slots: a freed slot still linked would cut the list, and reused it would link to itself.
 */
static void unlink_zombies(struct tcp_conn **list, uint32_t flag)
{
    for (struct tcp_conn **link = list; *link;) {
        struct tcp_conn *c = *link;

        if (c->flags & CONN_F_ZOMBIE) {
            *link = c->list_next;
            c->flags &= ~flag;
        } else {
            link = &c->list_next;
        }
    }
}

/* Application callbacks for what input and timers posted, before the connection's output. */
static void deliver_events(struct tcp_engine *e, struct tcp_conn *c)
{
    uint8_t events = c->events;

    if (c->flags & CONN_F_HELD)
        return; /* they wait for the worker steering places the connection on (tcp_handoff.c) */
    c->events = 0;
    if (events & EV_ACCEPT) {
        void *user = e->cb->accept ? e->cb->accept(e->cb_ctx, c) : NULL;

        if (!user) {
            e->stats.conns_refused++;
            tcp_abort(c);
            return;
        }
        c->user = user;
        c->flags |= CONN_F_ACCEPTED;
        e->stats.conns_accepted++;
    }
    if (!(c->flags & CONN_F_ACCEPTED))
        return;
    /* after tcp_close the application hears only closed */
    if ((events & EV_READABLE) && e->cb->readable && !(c->flags & CONN_F_APP_CLOSED))
        e->cb->readable(e->cb_ctx, c);
    if ((events & EV_WRITABLE) && e->cb->writable && !(c->flags & (CONN_F_ZOMBIE | CONN_F_APP_CLOSED)))
        e->cb->writable(e->cb_ctx, c);
    if ((events & EV_CLOSED) && c->state == TCP_TIME_WAIT) {
        if (e->cb->closed)
            e->cb->closed(e->cb_ctx, c, 0);
        c->flags &= ~(uint32_t)CONN_F_ACCEPTED;
        tcp_fq_release_all(e, &c->rcvq);
        c->rcv_queued = 0;
    }
}

void tcp_engine_flush(struct tcp_engine *e)
{
    while (e->retry) { /* they waited for TX completions: try again */
        struct tcp_conn *c = e->retry;

        e->retry = c->list_next;
        c->flags &= ~(uint32_t)CONN_F_RETRY;
        tcp_conn_mark_dirty(e, c);
    }
    /* callbacks and output may make connections dirty again: loop until quiet or the TX list is full */
    while (e->dirty && e->ntx < e->cfg.tx_max) {
        struct tcp_conn *c = e->dirty;

        e->dirty = c->list_next;
        c->flags &= ~(uint32_t)CONN_F_DIRTY;
        if (c->events && !(c->flags & CONN_F_ZOMBIE))
            deliver_events(e, c);
        if (!(c->flags & CONN_F_ZOMBIE))
            tcp_output(e, c);
        /* the application heard closed(0) and the ACK of the peer's FIN is out: the rest of TIME-WAIT
         * needs a compact entry, not the slot. A held connection's events wait for its placement */
        if (c->state == TCP_TIME_WAIT && !(c->flags & (CONN_F_ACCEPTED | CONN_F_HELD | CONN_F_ZOMBIE)) &&
            c->ack_need == ACK_NONE)
            tcp_time_wait_replace(e, c);
    }
    if (e->dirty)
        e->stats.tx_full++;
    if (e->zombie) {
        /* a flush that stopped early leaves connections on the dirty list, closed ones among them (a
         * reset sent during input can fill the TX list), and a callback may end a connection that
         * went on the retry list earlier in this flush */
        unlink_zombies(&e->dirty, CONN_F_DIRTY);
        unlink_zombies(&e->retry, CONN_F_RETRY);
        free_zombies(e);
    }
}

void tcp_tx_consumed(struct tcp_engine *e, uint32_t n)
{
    if (n >= e->ntx) {
        e->ntx = 0;
        return;
    }
    memmove(e->tx, e->tx + n, (e->ntx - n) * sizeof(*e->tx));
    e->ntx -= n;
}

/* ---- the connection table ---------------------------------------------------------------------- */

static uint32_t *bucket_of(struct tcp_engine *e, const struct pkt_tuple *t)
{
    return &e->buckets[tcp_tuple_hash(e->cfg.secret, t) & e->bucket_mask];
}

struct tcp_conn *tcp_conn_lookup(struct tcp_engine *e, const struct pkt_tuple *t)
{
    for (uint32_t i = *bucket_of(e, t); i != UINT32_MAX; i = e->conns[i].hash_next) {
        struct tcp_conn *c = &e->conns[i];

        if (!memcmp(&c->tuple, t, sizeof(*t)))
            return c;
    }
    return NULL;
}

void tcp_conn_table_insert(struct tcp_engine *e, struct tcp_conn *c)
{
    uint32_t *bucket = bucket_of(e, &c->tuple);

    c->hash_next = *bucket;
    *bucket = c->index;
}

void tcp_conn_table_remove(struct tcp_engine *e, struct tcp_conn *c)
{
    for (uint32_t *link = bucket_of(e, &c->tuple); *link != UINT32_MAX; link = &e->conns[*link].hash_next) {
        if (*link == c->index) {
            *link = c->hash_next;
            c->hash_next = UINT32_MAX;
            return;
        }
    }
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/*
 * The MSS we offer: what the link's MTU allows, and no more than frags_max frames hold, so that
 * every segment is received whole (after the kernel's headroom in each frame, the largest link
 * header and every TCP option).
 */
uint16_t tcp_mss_offered(const struct tcp_engine *e, uint8_t family)
{
    uint32_t ip = family == PKT_IPV6 ? PKT_IPV6_LEN : PKT_IPV4_LEN;
    uint32_t by_frame = e->cfg.frags_max * (e->frames->pool->frame_size - FRAME_RX_HEADROOM) - PKT_ETH_LEN -
                        PKT_VLAN_LEN - ip - PKT_TCP_LEN - PKT_TCP_OPTS_MAX;

    return (uint16_t)min_u32(e->cfg.mtu - ip - PKT_TCP_LEN, by_frame);
}

/* The largest segment we send, before the peer's MSS: the MTU's, within frags_max frames. */
static uint16_t mss_sendable(const struct tcp_engine *e, uint8_t family)
{
    uint32_t ip = family == PKT_IPV6 ? PKT_IPV6_LEN : PKT_IPV4_LEN;

    return (uint16_t)min_u32(e->cfg.mtu - ip - PKT_TCP_LEN, e->cfg.frags_max * tcp_frame_payload_max(e));
}

/* Smallest shift that lets the receive buffer be advertised in 16 bits (RFC 7323 2.2). */
static uint8_t wscale_for(uint32_t buf)
{
    uint8_t shift = 0;

    while (shift < 14 && (buf >> shift) > 65535)
        shift++;
    return shift;
}

/* A free slot, cleared, counted in nconns; NULL when the slab is full. */
struct tcp_conn *tcp_conn_slot_take(struct tcp_engine *e)
{
    struct tcp_conn *c;
    uint32_t index = e->free_conn;

    if (index == UINT32_MAX || e->nconns >= e->cfg.max_conns)
        return NULL;
    c = &e->conns[index];
    e->free_conn = c->hash_next;
    memset(c, 0, sizeof(*c));
    c->index = index;
    c->engine = e;
    e->nconns++;
    return c;
}

/* Back to the free list; the connection's frames are released or moved already. */
void tcp_conn_slot_free(struct tcp_engine *e, struct tcp_conn *c)
{
    uint32_t index = c->index;

    memset(c, 0, sizeof(*c));
    c->index = index;
    c->hash_next = e->free_conn;
    e->free_conn = index;
    e->nconns--;
}

static struct tcp_conn *tcp_conn_alloc(struct tcp_engine *e, const struct pkt_tuple *t,
                                       const struct pkt_link *link)
{
    struct tcp_conn *c = tcp_conn_slot_take(e);

    if (!c)
        return NULL;
    c->tuple = *t;
    c->link = *link;
    tcp_fq_init(&c->rcvq);
    tcp_fq_init(&c->ooo);
    tcp_fq_init(&c->sndq);
    c->iss = tcp_isn(e->cfg.secret, t, e->now_us);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->high_sack = c->iss;   /* not 0: sequence comparisons only hold within 2^31 of snd_una */
    c->snd_end = c->iss + 1; /* the SYN takes the ISN; data starts after it */
    c->mss = mss_sendable(e, t->family);
    c->last_recv_us = e->now_us;
    tcp_conn_table_insert(e, c);
    return c;
}

void tcp_conn_negotiated(struct tcp_engine *e, struct tcp_conn *c, const struct pkt *syn)
{
    const struct tcp_config *cfg = &e->cfg;

    if (syn->opts.mss_present && syn->opts.mss && syn->opts.mss < c->mss)
        c->mss = syn->opts.mss;
    /* no option: the peer may take no more than the minimum (RFC 9293 3.7.1, MUST-15) */
    if (!syn->opts.mss_present && c->mss > (c->tuple.family == PKT_IPV6 ? 1220 : 536))
        c->mss = c->tuple.family == PKT_IPV6 ? 1220 : 536;
    if (c->mss < 64)
        c->mss = 64; /* a floor against absurd MSS options */
    if (cfg->window_scaling && syn->opts.ws_present) {
        c->flags |= CONN_F_WS;
        c->snd_wscale = syn->opts.wscale;
        c->rcv_wscale = wscale_for(cfg->rcv_buf);
    } else {
        c->flags &= ~(uint32_t)CONN_F_WS;
        c->snd_wscale = c->rcv_wscale = 0;
    }
    if (cfg->sack && syn->opts.sack_permitted)
        c->flags |= CONN_F_SACK;
    else
        c->flags &= ~(uint32_t)CONN_F_SACK;
    if (cfg->timestamps && syn->opts.ts_present) {
        c->flags |= CONN_F_TS;
        c->ts_recent = syn->opts.tsval;
        c->ts_recent_ms = (uint32_t)engine_now_ms(e);
        c->mss = (uint16_t)(c->mss - TCP_TS_OPT_LEN); /* every segment carries the timestamp option */
    } else {
        c->flags &= ~(uint32_t)CONN_F_TS;
    }
    c->irs = syn->seq;
    c->rcv_nxt = syn->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    c->snd_wnd = syn->wnd; /* never scaled in a SYN */
    c->max_snd_wnd = c->snd_wnd;
    c->snd_wl1 = syn->seq;
    tcp_cc_init(e, c);
}

struct tcp_conn *tcp_conn_create(struct tcp_engine *e, const struct pkt *p)
{
    struct tcp_conn *c = tcp_conn_alloc(e, &p->tuple, &p->link);

    if (!c)
        return NULL;
    c->state = TCP_SYN_RECEIVED;
    c->ts_offset = (uint32_t)(tcp_isn(e->cfg.secret, &p->tuple, 0) * 2654435761u);
    tcp_conn_negotiated(e, c, p);
    c->snd_wl2 = c->iss;
    tcp_half_open_add(e, c);
    return c;
}

struct tcp_conn *tcp_connect(struct tcp_engine *e, const struct pkt_tuple *t, const struct pkt_link *link,
                             void *user)
{
    struct tcp_conn *c = tcp_conn_alloc(e, t, link);

    if (!c)
        return NULL;
    /* the caller chose a tuple still in TIME-WAIT: the new incarnation replaces the old, and an entry
     * left behind it would come back as a duplicate when this one reaches TIME-WAIT */
    if (tcp_time_wait_forget(e, t))
        e->stats.time_wait_reused++;
    c->state = TCP_SYN_SENT;
    c->user = user;
    c->flags |= CONN_F_ACCEPTED | CONN_F_RESEND_SYNACK;
    /* offer everything configured; tcp_conn_negotiated keeps what the SYN-ACK echoes */
    if (e->cfg.window_scaling) {
        c->flags |= CONN_F_WS;
        c->rcv_wscale = wscale_for(e->cfg.rcv_buf);
    }
    if (e->cfg.sack)
        c->flags |= CONN_F_SACK;
    if (e->cfg.timestamps) {
        c->flags |= CONN_F_TS;
        c->ts_offset = (uint32_t)(tcp_isn(e->cfg.secret, t, 0) * 2654435761u);
    }
    c->rto_us = e->cfg.rto_initial_ms * 1000;
    tcp_conn_mark_dirty(e, c);
    return c;
}

void tcp_engine_on_end(struct tcp_engine *e, void (*fn)(void *ctx, const struct pkt_tuple *t), void *ctx)
{
    e->on_end = fn;
    e->on_end_ctx = ctx;
}

void tcp_tuple_ended(struct tcp_engine *e, const struct pkt_tuple *t)
{
    if (e->on_end)
        e->on_end(e->on_end_ctx, t);
}

void tcp_conn_finish(struct tcp_engine *e, struct tcp_conn *c, int error, bool notify)
{
    if (c->flags & CONN_F_ZOMBIE)
        return;
    tcp_tuple_ended(e, &c->tuple);
    if (c->state == TCP_SYN_RECEIVED)
        tcp_half_open_remove(e, c);
    tcp_conn_table_remove(e, c);
    timer_cancel(&e->wheel, &c->timer);
    c->state = TCP_CLOSED;
    c->close_error = error;
    e->stats.conns_closed++;
    if (notify && (c->flags & CONN_F_ACCEPTED) && e->cb->closed)
        e->cb->closed(e->cb_ctx, c, error);
    c->flags |= CONN_F_ZOMBIE;
    c->flags &= ~(uint32_t)CONN_F_ACCEPTED;
    c->zombie_next = e->zombie;
    e->zombie = c;
}

/* Received data stays readable until the application has had its last readable and closed calls. */
void tcp_conn_enter_time_wait(struct tcp_engine *e, struct tcp_conn *c)
{
    c->state = TCP_TIME_WAIT;
    tcp_fq_release_all(e, &c->ooo);
    tcp_fq_release_all(e, &c->sndq);
    c->snd_queued = 0;
    tcp_conn_clear_timer(e, c, TIMER_REXMIT);
    tcp_conn_clear_timer(e, c, TIMER_DELACK);
    tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.time_wait_ms);
    tcp_conn_post(e, c, EV_CLOSED);
}

/* ---- per-connection timers: one wheel entry at the earliest deadline ------------------------------ */

void tcp_conn_rearm(struct tcp_engine *e, struct tcp_conn *c)
{
    uint64_t earliest = 0;

    for (int i = 0; i < TIMER_COUNT; i++)
        if (c->deadline_ms[i] && (!earliest || c->deadline_ms[i] < earliest))
            earliest = c->deadline_ms[i];
    if (!earliest)
        timer_cancel(&e->wheel, &c->timer);
    else if (!timer_armed(&c->timer) || c->timer.expires_ms != earliest)
        timer_arm(&e->wheel, &c->timer, earliest);
}

void tcp_conn_set_timer(struct tcp_engine *e, struct tcp_conn *c, enum tcp_conn_timer which, uint64_t at_ms)
{
    c->deadline_ms[which] = at_ms ? at_ms : 1;
    tcp_conn_rearm(e, c);
}

void tcp_conn_clear_timer(struct tcp_engine *e, struct tcp_conn *c, enum tcp_conn_timer which)
{
    if (!c->deadline_ms[which])
        return;
    c->deadline_ms[which] = 0;
    tcp_conn_rearm(e, c);
}

/* ---- the receive window ------------------------------------------------------------------------ */

uint32_t tcp_conn_rcv_space(const struct tcp_engine *e, const struct tcp_conn *c)
{
    return c->rcv_queued >= e->cfg.rcv_buf ? 0 : e->cfg.rcv_buf - c->rcv_queued;
}

/* ---- the application's calls ------------------------------------------------------------------- */

void tcp_conn_set_user(struct tcp_conn *c, void *user)
{
    c->user = user;
}

void *tcp_conn_user(const struct tcp_conn *c)
{
    return c->user;
}

const struct pkt_tuple *tcp_conn_tuple(const struct tcp_conn *c)
{
    return &c->tuple;
}

enum tcp_state tcp_conn_state(const struct tcp_conn *c)
{
    return (enum tcp_state)c->state;
}

size_t tcp_readable(const struct tcp_conn *c)
{
    return c->rcv_queued;
}

bool tcp_eof(const struct tcp_conn *c)
{
    return (c->flags & CONN_F_FIN_RCVD) && c->rcv_queued == 0;
}

int tcp_peek(const struct tcp_conn *c, struct iovec *iov, int max)
{
    struct tcp_engine *e = c->engine;
    struct frame_pool *pool = tcp_conn_pool(e);
    int n = 0;

    for (uint32_t f = c->rcvq.head; n < max && c->rcvq.count && f != FRAME_NONE;
         f = frame_meta(pool, f)->next) {
        const struct frame_meta *m = frame_meta(pool, f);

        iov[n].iov_base = frame_data(pool, f) + m->off;
        iov[n].iov_len = m->len;
        n++;
        if (f == c->rcvq.tail)
            break;
    }
    return n;
}

void tcp_consume(struct tcp_conn *c, size_t n)
{
    struct tcp_engine *e = c->engine;
    struct frame_pool *pool = tcp_conn_pool(e);
    uint32_t before = tcp_conn_rcv_space(e, c);

    if (n > c->rcv_queued)
        n = c->rcv_queued;
    c->rcv_queued -= (uint32_t)n;
    while (n) {
        struct frame_meta *m = frame_meta(pool, c->rcvq.head);

        if (n < m->len) {
            m->off = (uint16_t)(m->off + n);
            m->len = (uint16_t)(m->len - n);
            m->seq += (uint32_t)n;
            break;
        }
        n -= m->len;
        frame_put(e->frames, tcp_fq_pop(pool, &c->rcvq), FRAME_OWN_HELD);
    }
    /* a window that grows by a segment or half the buffer is worth an update (RFC 9293 3.8.6.2.2) */
    if (c->state != TCP_SYN_RECEIVED && c->state != TCP_TIME_WAIT) {
        uint32_t after = tcp_conn_rcv_space(e, c);
        uint32_t edge = c->rcv_nxt + after;
        /* only a peer the window it knows holds back needs an ACK of its own: with two segments of
         * window it keeps sending, and every second segment is acknowledged at once with the new
         * window. Otherwise every read would defeat the delayed ACK, starting with the first request,
         * whose SYN-ACK could only offer 64 KiB */
        uint32_t usable = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;

        if (usable < 2u * c->mss && seq_gt(edge, c->rcv_adv) &&
            (edge - c->rcv_adv >= c->mss || edge - c->rcv_adv >= e->cfg.rcv_buf / 2 || before < c->mss)) {
            c->ack_need = ACK_NOW;
            tcp_conn_mark_dirty(e, c);
        }
    }
}

size_t tcp_writable(const struct tcp_conn *c)
{
    struct tcp_engine *e = c->engine;

    if (c->flags & CONN_F_FIN_QUEUED || !(c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT))
        return 0;
    return c->snd_queued >= e->cfg.snd_buf ? 0 : e->cfg.snd_buf - c->snd_queued;
}

void tcp_want_writable(struct tcp_conn *c)
{
    c->flags |= CONN_F_WANT_WRITABLE;
}

uint8_t *tcp_write_reserve(struct tcp_conn *c, size_t *room)
{
    struct tcp_engine *e = c->engine;
    struct frame_pool *pool = tcp_conn_pool(e);
    size_t space = tcp_writable(c);
    uint32_t fill = min_u32(c->mss, tcp_frame_payload_max(e)); /* a frame's share of a segment */
    struct frame_meta *m;
    uint32_t tail;

    *room = 0;
    if (!space) {
        c->flags |= CONN_F_WANT_WRITABLE;
        return NULL;
    }
    /* the tail frame takes more bytes while it is unsent and not in a TX ring */
    tail = c->sndq.count ? c->sndq.tail : FRAME_NONE;
    if (tail != FRAME_NONE) {
        m = frame_meta(pool, tail);
        if (!(m->flags & FRAME_F_SENT) && !frame_in_tx(pool, tail) && m->len < fill) {
            *room = fill - m->len;
            if (*room > space)
                *room = space;
            return frame_data(pool, tail) + m->off + m->len;
        }
    }
    tail = frame_alloc(e->frames);
    if (tail == FRAME_NONE) {
        e->stats.frames_exhausted++;
        c->flags |= CONN_F_WANT_WRITABLE;
        return NULL;
    }
    m = frame_meta(pool, tail);
    m->off = FRAME_TX_HEADROOM;
    m->len = 0;
    m->seq = c->snd_end;
    tcp_fq_push(pool, &c->sndq, tail);
    *room = fill < space ? fill : space;
    return frame_data(pool, tail) + m->off;
}

void tcp_write_commit(struct tcp_conn *c, size_t n)
{
    struct tcp_engine *e = c->engine;
    struct frame_meta *m;

    if (!n || !c->sndq.count)
        return;
    m = frame_meta(tcp_conn_pool(e), c->sndq.tail);
    m->len = (uint16_t)(m->len + n);
    m->csum = 0; /* the payload sum is computed when the frame is first sent */
    c->snd_end += (uint32_t)n;
    c->snd_queued += (uint32_t)n;
    tcp_conn_mark_dirty(e, c);
}

size_t tcp_write(struct tcp_conn *c, const void *data, size_t len)
{
    const uint8_t *src = data;
    size_t done = 0;

    while (done < len) {
        size_t room;
        uint8_t *dst = tcp_write_reserve(c, &room);

        if (!dst)
            break;
        if (room > len - done)
            room = len - done;
        memcpy(dst, src + done, room);
        tcp_write_commit(c, room);
        done += room;
    }
    if (done < len)
        c->flags |= CONN_F_WANT_WRITABLE;
    return done;
}

void tcp_shutdown(struct tcp_conn *c)
{
    struct tcp_engine *e = c->engine;

    if (c->flags & CONN_F_FIN_QUEUED)
        return;
    switch (c->state) {
    case TCP_ESTABLISHED:
        c->state = TCP_FIN_WAIT_1;
        break;
    case TCP_CLOSE_WAIT:
        c->state = TCP_LAST_ACK;
        break;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: /* the FIN waits for the handshake, which then leads to FIN-WAIT-1 */
        break;
    default:
        return;
    }
    c->flags |= CONN_F_FIN_QUEUED;
    tcp_conn_mark_dirty(e, c);
}

void tcp_close(struct tcp_conn *c)
{
    struct tcp_engine *e = c->engine;

    c->flags |= CONN_F_APP_CLOSED;
    c->flags &= ~(uint32_t)CONN_F_WANT_WRITABLE;
    if (c->state == TCP_SYN_SENT) {
        /* nothing agreed yet, so nothing to end: the connection just goes, without a reset
         * (RFC 9293 3.10.4), and a SYN-ACK that comes later finds no connection */
        tcp_conn_finish(e, c, 0, false);
        return;
    }
    if (c->rcv_queued) {
        /* unread data: the peer must learn it was not consumed (RFC 9293 3.6, RFC 2525 2.17) */
        tcp_abort(c);
        return;
    }
    tcp_fq_release_all(e, &c->ooo);
    tcp_shutdown(c);
    /* our FIN was acknowledged before the close, so process_ack did not arm the FIN-WAIT-2 timeout:
     * with nobody to read, the peer gets as long for its FIN as when the close came first */
    if (c->state == TCP_FIN_WAIT_2)
        tcp_conn_set_timer(e, c, TIMER_IDLE, engine_now_ms(e) + e->cfg.time_wait_ms);
}

void tcp_abort(struct tcp_conn *c)
{
    struct tcp_engine *e = c->engine;

    if (c->state == TCP_CLOSED || c->flags & CONN_F_ZOMBIE)
        return;
    if (c->state != TCP_TIME_WAIT) {
        tcp_send_control(e, c, c->snd_nxt, TCP_RST | TCP_ACK);
        e->stats.rst_sent++;
    }
    tcp_conn_finish(e, c, ECONNABORTED, false);
}
