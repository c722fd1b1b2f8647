/*
 * sim.c — the simulated network (see sim.h). Packets in flight sit in a min-heap by arrival time.
 */
#include "tests/net/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/packet.h"

struct sim_packet {
    uint64_t at_ns;
    uint64_t order; /* FIFO among packets arriving at the same instant */
    int to;
    uint32_t len;
    uint8_t data[];
};

uint64_t sim_rand(struct sim *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ull;
}

static bool chance(struct sim *s, uint32_t ppm)
{
    return ppm && sim_rand(s) % 1000000 < ppm;
}

static bool before(const struct sim_packet *a, const struct sim_packet *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->order < b->order);
}

static void heap_push(struct sim *s, struct sim_packet *p)
{
    uint32_t i;

    if (s->nheap == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->heap = realloc(s->heap, s->cap * sizeof(*s->heap));
    }
    i = s->nheap++;
    while (i && before(p, s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = p;
}

static struct sim_packet *heap_pop(struct sim *s)
{
    struct sim_packet *top = s->heap[0], *last = s->heap[--s->nheap];
    uint32_t i = 0;

    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sim_packet *best = last;

        if (l < s->nheap && before(s->heap[l], best)) {
            m = l;
            best = s->heap[l];
        }
        if (r < s->nheap && before(s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

static void wire_put(struct sim *s, int from, const uint8_t *frame, uint32_t len, uint64_t extra_ns)
{
    struct sim_link *l = &s->link[from];
    struct sim_packet *p;
    uint64_t depart = s->now_ns;

    if (l->rate_bps) {
        uint64_t tx_ns = (uint64_t)len * 8 * 1000000000ull / l->rate_bps;

        if (s->link_free_at[from] > depart) {
            if (l->queue_ns && s->link_free_at[from] - depart > l->queue_ns) {
                s->dropped[from]++; /* the bottleneck queue is full */
                return;
            }
            depart = s->link_free_at[from];
        }
        depart += tx_ns;
        s->link_free_at[from] = depart;
    }
    p = malloc(sizeof(*p) + len);
    p->at_ns = depart + l->delay_ns + extra_ns;
    p->order = s->order++;
    p->to = !from;
    p->len = len;
    memcpy(p->data, frame, len);
    heap_push(s, p);
}

void sim_inject(struct sim *s, int from, const uint8_t *frame, uint32_t len)
{
    wire_put(s, from, frame, len, 0);
}

/* SIM_TRACE=1 in the environment prints every segment put on the wire, tcpdump-style. */
static void trace(const struct sim *s, int from, const uint8_t *frame, uint32_t len)
{
    static int enabled = -1;
    struct pkt p;

    if (enabled < 0)
        enabled = getenv("SIM_TRACE") != NULL;
    if (!enabled)
        return;
    if (pkt_parse(frame, len, &p) != PKT_OK) {
        fprintf(stderr, "%12.6f %s unparsable frame of %u bytes\n", s->now_ns / 1e9, from ? "C>S" : "S>C",
                len);
        return;
    }
    fprintf(stderr, "%12.6f %s %u>%u [%s%s%s%s%s] seq %u ack %u win %u len %u%s\n", s->now_ns / 1e9,
            from ? "C>S" : "S>C", p.tuple.rport, p.tuple.lport, p.flags & 0x02 ? "S" : "",
            p.flags & 0x01 ? "F" : "", p.flags & 0x04 ? "R" : "", p.flags & 0x08 ? "P" : "",
            p.flags & 0x10 ? "." : "", p.seq, p.ack, p.wnd, p.payload_len, p.opts.nsack ? " sack" : "");
}

static void transmit(struct sim *s, int from, struct tcp_engine *e, struct frame_cache *cache)
{
    struct sim_host *h = &s->host[from];

    static uint8_t chain[TCP_SEG_FRAMES_MAX * 4096]; /* a packet sent as a frame chain, gathered */
    uint32_t chained = 0, csum_start = 0;

    for (uint32_t i = 0; i < e->ntx; i++) {
        struct tcp_tx *tx = &e->tx[i];
        uint8_t *frame = frame_data(&h->pool, tx->frame) + tx->off;
        uint32_t len = tx->len;
        struct sim_link *l = &s->link[from];
        bool keep;

        if (tx->more || chained || tx->csum_start) {
            if (!chained)
                csum_start = tx->csum_start;
            memcpy(chain + chained, frame, tx->len);
            chained += tx->len;
            frame_put(cache, tx->frame, FRAME_OWN_TX);
            if (tx->more)
                continue;
            frame = chain;
            len = chained;
            chained = 0;
            if (csum_start) { /* the checksum offload, as Linux's skb_checksum_help finishes it */
                uint16_t sum = csum_finish(csum_partial(chain + csum_start, len - csum_start, 0));

                chain[csum_start + 16] = (uint8_t)(sum >> 8);
                chain[csum_start + 17] = (uint8_t)sum;
            }
        }
        keep = !s->hook || s->hook(s->hook_ctx, from, frame, len);
        s->sent[from]++;
        trace(s, from, frame, len);
        if (keep && !chance(s, l->loss_ppm)) {
            wire_put(s, from, frame, len, chance(s, l->reorder_ppm) ? l->reorder_ns : 0);
            if (chance(s, l->dup_ppm)) {
                s->duplicated[from]++;
                wire_put(s, from, frame, len, sim_rand(s) % (l->delay_ns + 1));
            }
        } else {
            s->dropped[from]++;
        }
        if (frame != chain)
            frame_put(cache, tx->frame, FRAME_OWN_TX); /* the copy onto the wire completes the TX */
        csum_start = 0;
    }
    tcp_tx_consumed(e, e->ntx);
}

/* p in frames of s->rx_piece bytes, to tcp_input_chain; dropped whole when frames run out. */
static void deliver_chain(struct sim *s, struct sim_packet *p)
{
    struct sim_host *h = &s->host[p->to];
    struct tcp_rx_chain chain = {0};

    for (uint32_t at = 0; at < p->len; at += s->rx_piece) {
        uint32_t len = p->len - at < s->rx_piece ? p->len - at : s->rx_piece;
        uint32_t frame = chain.n < TCP_SEG_FRAMES_MAX ? frame_alloc(&h->cache) : FRAME_NONE;

        if (frame == FRAME_NONE) {
            for (uint32_t i = 0; i < chain.n; i++)
                frame_put(&h->cache, chain.piece[i].frame, FRAME_OWN_HELD);
            s->dropped[!p->to]++;
            return;
        }
        memcpy(frame_data(&h->pool, frame), p->data + at, len);
        chain.piece[chain.n++] = (struct tcp_rx_piece){frame, 0, (uint16_t)len};
    }
    s->delivered[!p->to]++;
    s->chained[!p->to]++;
    tcp_input_chain(&h->engine, &chain);
}

static void deliver(struct sim *s, struct sim_packet *p)
{
    struct sim_host *h = &s->host[p->to];
    uint32_t frame;

    if (!h->up) {
        s->dropped[!p->to]++;
        return;
    }
    if (s->rx_piece && p->len > s->rx_piece && !(p->to == SIM_SERVER && s->steer)) {
        deliver_chain(s, p);
        return;
    }
    frame = p->len <= h->pool.frame_size ? frame_alloc(&h->cache) : FRAME_NONE;
    if (frame == FRAME_NONE) {
        s->dropped[!p->to]++; /* the receiver is out of frames: as a full RX ring would */
        return;
    }
    memcpy(frame_data(&h->pool, frame), p->data, p->len);
    s->delivered[!p->to]++;
    if (p->to == SIM_SERVER && s->steer)
        s->steer(s->steer_ctx, s, frame, p->len);
    else
        tcp_input(&h->engine, frame, 0, p->len);
}

int sim_init(struct sim *s, uint64_t seed, const struct tcp_config cfg[2], uint32_t frames_per_host,
             const struct tcp_callbacks *cb, void *cb_ctx)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed * 0x9e3779b97f4a7c15ull + 1;
    s->now_ns = 1000000000ull;
    for (int i = 0; i < 2; i++) {
        struct sim_host *h = &s->host[i];

        if (frame_pool_init(&h->pool, NULL, 2048, frames_per_host))
            return -1;
        frame_cache_init(&h->cache, &h->pool);
        if (tcp_engine_init(&h->engine, &cfg[i], &h->cache, cb, cb_ctx, s->now_ns))
            return -1;
        memcpy(h->mac, (uint8_t[]){0x02, 0, 0, 0, 0, (uint8_t)(i + 1)}, 6);
        memcpy(h->ip4, (uint8_t[]){10, 0, 0, (uint8_t)(i + 1)}, 4);
        memcpy(h->ip6, (uint8_t[]){0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i + 1)}, 16);
        h->up = true;
        s->link[i].delay_ns = 1000000;
    }
    return 0;
}

void sim_destroy(struct sim *s)
{
    while (s->nheap)
        free(heap_pop(s));
    free(s->heap);
    for (int i = 0; i < 2; i++) {
        tcp_engine_destroy(&s->host[i].engine);
        frame_pool_destroy(&s->host[i].pool);
    }
}

void sim_tuple(const struct sim *s, int host, int family, uint16_t client_port, uint16_t server_port,
               struct pkt_tuple *t, struct pkt_link *link)
{
    const struct sim_host *me = &s->host[host], *peer = &s->host[!host];
    int len = family == PKT_IPV6 ? 16 : 4;

    memset(t, 0, sizeof(*t));
    memset(link, 0, sizeof(*link));
    t->family = (uint8_t)family;
    memcpy(t->laddr, family == PKT_IPV6 ? me->ip6 : me->ip4, len);
    memcpy(t->raddr, family == PKT_IPV6 ? peer->ip6 : peer->ip4, len);
    t->lport = host == SIM_CLIENT ? client_port : server_port;
    t->rport = host == SIM_CLIENT ? server_port : client_port;
    memcpy(link->lmac, me->mac, 6);
    memcpy(link->rmac, peer->mac, 6);
}

bool sim_run(struct sim *s, bool (*done)(void *ctx), void *ctx, uint64_t limit_ns)
{
    uint64_t end = s->now_ns + limit_ns;
    uint32_t stalled = 0;

    for (;;) {
        uint64_t next = UINT64_MAX, prev = s->now_ns;

        for (int i = 0; i < 2; i++) {
            tcp_engine_flush(&s->host[i].engine);
            transmit(s, i, &s->host[i].engine, &s->host[i].cache);
        }
        for (int w = 0; w < s->nworkers; w++) {
            tcp_engine_flush(s->workers[w]);
            transmit(s, SIM_SERVER, s->workers[w], s->worker_cache[w]);
        }
        if (done && done(ctx))
            return true;
        if (s->nheap)
            next = s->heap[0]->at_ns;
        for (int i = 0; i < 2; i++) {
            uint64_t d = tcp_engine_next_deadline(&s->host[i].engine);

            if (d < next)
                next = d;
        }
        for (int w = 0; w < s->nworkers; w++) {
            uint64_t d = tcp_engine_next_deadline(s->workers[w]);

            if (d < next)
                next = d;
        }
        if (next == UINT64_MAX || next > end)
            return done && done(ctx);
        if (next > s->now_ns)
            s->now_ns = next;
        stalled = s->now_ns == prev ? stalled + 1 : 0;
        if (stalled > 100000)
            return false; /* something asks for work at the same instant forever */
        for (int i = 0; i < 2; i++)
            tcp_engine_begin(&s->host[i].engine, s->now_ns);
        for (int w = 0; w < s->nworkers; w++)
            tcp_engine_begin(s->workers[w], s->now_ns);
        while (s->nheap && s->heap[0]->at_ns <= s->now_ns) {
            struct sim_packet *p = heap_pop(s);

            deliver(s, p);
            free(p);
        }
    }
}

uint32_t sim_frames_in_use(struct sim *s, int host)
{
    struct sim_host *h = &s->host[host];

    uint32_t cached = h->cache.nfree;

    if (host == SIM_SERVER)
        for (int w = 0; w < s->nworkers; w++)
            cached += s->worker_cache[w]->nfree;
    return h->pool.nframes - frame_pool_free_count(&h->pool) - cached;
}
