/*
 * xdp_worker.c — the AF_XDP datapath (see xdp_worker.h): a worker's loop, and the operations of
 * `xdp_datapath` the scheduler calls at start, at stop and per /metrics scrape.
 */
#include "afxdp/xdp_worker.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "app/tcp_io.h"
#include "sched/worker.h"
#include "afxdp/spin.h"
#include "afxdp/xdp_steer.h"

#define MAX_SLEEP_MS 100 /* wake at least this often: completions and the fill ring need tending */
#define PUBLISH_NS   (SLUICE_PUBLISH_MS * 1000000ull)
#define SHED_BAND    10 /* percentage points below [server] shed_busy_pct at which overload clears */

/*
 * Whether the worker is past its load threshold: busy_pct at or above [server] shed_busy_pct sets
 * it, and it clears only once busy_pct is SHED_BAND points below (half the threshold when that is
 * lower), so that a worker hovering at the threshold does not flap between shedding and not.
 */
static bool past_threshold(const struct xdp_worker *x, uint32_t busy_pct)
{
    uint32_t shed = x->worker->srv->cfg.shed_busy_pct;
    uint32_t band = shed / 2 < SHED_BAND ? shed / 2 : SHED_BAND;

    if (shed >= 100)
        return false;
    return x->overloaded ? busy_pct + band >= shed : busy_pct >= shed;
}

/* The slots this generation takes new connections on (`meta` new_flow_workers): a successor's half,
 * or 0, every slot, for a server started fresh. */
static __u64 new_flow_mask(const struct xdp_server *xs)
{
    if (!xs->successor)
        return 0;
    return xs->slot_base == 0 ? (1ull << SLUICE_GEN_SLOTS) - 1 : ~((1ull << SLUICE_GEN_SLOTS) - 1);
}

/*
 * The newest generation's half in `meta` new_flow_workers, once it is the only process on the UMEM
 * (the one it took over from has exited): set back if something changed it, which only a write racing
 * the server's own can do (the agent's `sources` and `reload` read, change and write `meta` back).
 * Worker 0's, with its publication: one map read per period.
 */
static void keep_new_flow_mask(struct xdp_worker *x)
{
    struct xdp_server *xs = x->server;
    struct sluice_meta meta;
    struct err e;
    __u32 zero = 0, signalled, processes;

    if (!xs->successor || x->worker->index != 0)
        return;
    processes = umem_processes(&xs->umem, &signalled);
    x->stats.syscalls += signalled + 1;
    if (processes != 1)
        return;
    if (pins_read_meta(xs->pins.meta, &meta, &e) || meta.new_flow_workers == new_flow_mask(xs))
        return;
    meta.new_flow_workers = new_flow_mask(xs);
    x->stats.syscalls++;
    if (!bpf_map_update_elem(xs->pins.meta, &zero, &meta, BPF_EXIST))
        x->stats.new_flow_mask_restored++;
}

/*
 * The worker's entry in `workers`, with its load over the period since the last call: the busy
 * share (the period less the time of iterations that found nothing to do: poll() sleeps, spins
 * and empty busy polls) and the requests waiting on its behalf. A worker blocked in a handler
 * publishes nothing until it returns, and then a busy share near 100. Draining is overload too:
 * XDP sheds new connections. A period much shorter than PUBLISH_NS (the first one, when the loop
 * starts: a few microseconds, all of them "busy") says nothing yet, and publishes an idle worker.
 */
static void publish(struct xdp_worker *x, uint64_t now, bool live, bool draining)
{
    struct worker *w = x->worker;
    uint64_t period = now - x->window_ns, busy = period > x->idle_ns ? period - x->idle_ns : 0;
    uint32_t busy_pct = period >= PUBLISH_NS / 4 ? (uint32_t)(busy * 100 / period) : 0;
    bool overload = draining || past_threshold(x, busy_pct);
    struct worker_state ws = {
        .live = live,
        .overload = overload,
        .pid = live ? (uint32_t)getpid() : 0,
        .load = w->apps.open,
        .heartbeat_ns = now,
        .busy_pct = busy_pct,
        .queue = atomic_load_explicit(&w->queue_depth, memory_order_relaxed),
        .half_open = x->engine.nhalf_open,
        .syncookie_half_open = w->srv->cfg.syncookie_half_open,
        .gen_base = x->server->slot_base,
    };
    __u32 slot = x->server->slot_base + w->index;
    uint16_t mss;
    uint8_t wscale;

    /* what a cookie SYN-ACK XDP sends on this worker's behalf offers: what its engine would */
    tcp_engine_syncookie_offer(&x->engine, &mss, &wscale);
    ws.syncookie_mss = mss;
    ws.syncookie_wscale = wscale;

    x->window_ns = now;
    x->idle_ns = 0;
    x->source_cap = source_cap_setting(&x->server->pins); /* changed live by `sluice-agent sources` */
    x->stats.syscalls++;
    __atomic_store_n(&x->busy_pct, busy_pct, __ATOMIC_RELAXED);
    __atomic_store_n(&x->overloaded, (uint32_t)(overload && !draining), __ATOMIC_RELAXED);
    __atomic_store_n(&x->cached, x->cache.nfree, __ATOMIC_RELAXED);
    bpf_map_update_elem(x->server->pins.workers, &slot, &ws, BPF_ANY);
    if (!draining)
        keep_new_flow_mask(x);
}

/*
 * The engine's tcp_engine_on_end hook: a connection (or a refused SYN) of this worker ended, so its
 * flow's count goes back to its source. Only while the cap is set: flows XDP did not count need
 * nothing, and counts left over when the cap goes off are cleared by the agent's next setting.
 */
static void source_ended(void *ctx, const struct pkt_tuple *t)
{
    struct xdp_worker *x = ctx;
    int r;

    if (!x->source_cap)
        return;
    r = source_cap_release(&x->server->source_cap, t);
    x->stats.syscalls++;
    if (r < 0)
        x->stats.source_release_failed++;
    else if (r)
        x->stats.source_released++;
}

/* One socket's; returns the frames and hand-off messages taken. */
static uint32_t receive_batch(struct xdp_worker *x, struct xsk_port *p)
{
    struct umem *u = &x->server->umem;
    uint32_t idx, n = xsk_ring_cons__peek(&p->rx, XDP_RX_BATCH, &idx);
    /* after the peek: a connection moved here is in before any packet that came straight here */
    uint32_t handed = xdp_steer_inbox(x);

    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&p->rx, idx + i);
        struct tcp_rx_chain *chain = &p->rx_chain;
        bool more = d->options & XDP_PKT_CONTD;

        /* a packet in several frames comes whole to the engine, even across batches */
        if (chain->n < TCP_SEG_FRAMES_MAX && !p->rx_chain_overflow) {
            uint32_t off = (uint32_t)(d->addr % u->cfg.frame_size), len = d->len;

            if (!chain->n)
                p->rx_chain_meta = xdp_steer_strip_meta((const uint8_t *)u->area + d->addr - off, &off, &len);
            chain->piece[chain->n++] =
                (struct tcp_rx_piece){(uint32_t)(d->addr / u->cfg.frame_size), (uint16_t)off, (uint16_t)len};
        } else {
            frame_put(&x->cache, (uint32_t)(d->addr / u->cfg.frame_size), FRAME_OWN_HELD);
            if (!p->rx_chain_overflow) {
                for (uint32_t k = 0; k < chain->n; k++)
                    frame_put(&x->cache, chain->piece[k].frame, FRAME_OWN_HELD);
                chain->n = 0;
                p->rx_chain_overflow = true;
                x->stats.rx_chains_dropped++;
            }
        }
        if (more)
            continue;
        if (chain->n) {
            x->stats.rx_chains += chain->n > 1;
            xdp_steer_input(x, chain, p->rx_chain_meta);
        }
        chain->n = 0;
        p->rx_chain_overflow = false;
    }
    if (n) {
        xsk_ring_cons__release(&p->rx, n);
        atomic_fetch_sub_explicit(&p->uq->sh->in_fill, n, memory_order_relaxed);
        x->stats.rx_packets += n;
        p->rx_packets += n;
    }
    xdp_steer_moves(x); /* before the flush: the ACK the input owes goes out from the new worker */
    return n + handed;
}

static uint32_t transmit_batch(struct xdp_worker *x)
{
    struct tcp_engine *e = &x->engine;
    struct umem *u = &x->server->umem;
    struct xsk_port *p = x->tx_port;
    uint32_t idx, n = e->ntx, got = 0;

    /* descriptors left in the ring by an earlier kick the kernel pushed back on must be kicked
     * again even when nothing new is to be sent: their frames hold retransmissions back */
    if (!n) {
        if (xsk_port_tx_pending(p))
            xsk_port_kick_tx(p);
        return 0;
    }
    got = xsk_ring_prod__reserve(&p->tx, n, &idx);
    if (got < n) {
        uint32_t fit = xsk_prod_nb_free(&p->tx, n);

        x->stats.tx_ring_full++;
        while (fit && e->tx[fit - 1].more)
            fit--; /* a packet's frames go in together */
        got = fit ? xsk_ring_prod__reserve(&p->tx, fit, &idx) : 0;
    }
    for (uint32_t i = 0; i < got; i++) {
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&p->tx, idx + i);

        d->addr = umem_addr(u, e->tx[i].frame, e->tx[i].off);
        d->len = e->tx[i].len;
        d->options = e->tx[i].more ? XDP_PKT_CONTD : 0;
        if (e->tx[i].csum_start) { /* the kernel sums from the TCP header on, into its checksum field */
            struct umem_tx_meta meta = {
                .flags = UMEM_TXMD_FLAGS_CHECKSUM, .csum_start = e->tx[i].csum_start, .csum_offset = 16};

            /* right before the data, wherever the headers made that start: not 8-byte aligned */
            memcpy(frame_data(&u->pool, e->tx[i].frame) + e->tx[i].off - UMEM_TX_META_LEN, &meta,
                   sizeof(meta));
            d->options |= XDP_TX_METADATA;
        }
    }
    if (got) {
        xsk_ring_prod__submit(&p->tx, got);
        atomic_fetch_add_explicit(&u->sh->in_tx, got, memory_order_relaxed);
        tcp_tx_consumed(e, got);
        x->stats.tx_packets += got;
    }
    xsk_port_kick_tx(p); /* also when nothing fit: the kernel must drain the ring to make room */
    return got;
}

/* Adaptive spinning ([server] poll_spin_us): an idle loop goes on for spin_ns after its last work
 * before it sleeps; afxdp/spin.h says how spin_ns follows what the spins and sleeps found. */
static bool keep_spinning(struct xdp_worker *x, uint64_t now)
{
    if (now - x->last_work_ns < x->spin_ns) {
        /* the softirq work our transmissions raise (the peer's receive, over veth) may be left to
         * ksoftirqd on this CPU: spinning must not starve it */
        sched_yield();
        x->stats.syscalls++;
        return true;
    }
    if (x->spin_ns) {
        x->stats.spin_ns += x->spin_ns;
        x->spin_ns = spin_after_waste(x->spin_ns);
    }
    return false;
}

static void spin_woken(struct xdp_worker *x, uint64_t idle_ns, bool work)
{
    x->spin_ns =
        spin_after_sleep(x->spin_ns, idle_ns, work, (uint64_t)x->worker->srv->cfg.poll_spin_us * 1000);
}

/* Sleep until packets on any of its sockets, a hand-off or the engine's next deadline. */
static void sleep_for_work(struct xdp_worker *x, uint64_t now, uint64_t deadline)
{
    struct pollfd pfd[SLUICE_MAX_QUEUES + 2];
    uint64_t wait_ms = (deadline - now) / 1000000;
    uint32_t n = x->nports;
    int ready;

    for (uint32_t i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = x->ports[i].fd, .events = POLLIN};
    pfd[n] = (struct pollfd){.fd = x->inbox.wake_fd, .events = POLLIN};
    pfd[n + 1] = (struct pollfd){.fd = x->worker->offload_fd, .events = POLLIN}; /* -1: ignored */
    x->worker->polls++;
    x->stats.syscalls++;
    ready = poll(pfd, n + 2, wait_ms > MAX_SLEEP_MS ? MAX_SLEEP_MS : wait_ms ? (int)wait_ms : 1);
    if (pfd[n + 1].revents & POLLIN) {
        worker_offload_woken(x->worker);
        x->stats.syscalls++;
    }
    if (pfd[n].revents & POLLIN) {
        inbox_clear_wake(&x->inbox);
        x->stats.syscalls++;
    }
    spin_woken(x, worker_now_ns() - x->last_work_ns, ready > 0);
}

/* The thread body (datapath_ops.worker_run). */
static void *xdp_worker_run(void *arg)
{
    struct worker *w = arg;
    struct xdp_worker *x = w->dp;
    struct umem *u = &x->server->umem;

    x->window_ns = x->iter_ns = worker_now_ns();
    for (;;) {
        uint64_t now = worker_now_ns(), deadline, kicks = x->tx_port->tx_kicks;
        uint32_t rx = 0, tx;
        bool pending;

        w->loops++;
        if (x->iter_idle) /* the previous iteration, its sleep included, was waiting for input */
            x->idle_ns += now - x->iter_ns;
        x->iter_ns = now;
        tcp_engine_begin(&x->engine, now);
        w->apps.now_ns = now; /* the batch's requests start at it (their durations, http/latency.h) */
        for (uint32_t i = 0; i < x->nports; i++)
            rx += receive_batch(x, &x->ports[i]);
        worker_reap_offloaded(w);
        app_table_flush(&w->apps);
        tcp_engine_flush(&x->engine);
        tx = transmit_batch(x);
        x->stats.syscalls += x->tx_port->tx_kicks - kicks;
        /* every queue's rings, whichever worker's frames they hold: the locks are taken per batch,
         * and a worker that sleeps leaves no queue without frames to receive into */
        for (uint32_t i = 0; i < u->nqueues; i++) {
            x->stats.completions += umem_complete(u, &u->queues[i], &x->cache, 256);
            x->stats.refilled += umem_refill(u, &u->queues[i], &x->cache);
        }
        if (now >= x->next_publish_ns) {
            x->next_publish_ns = now + PUBLISH_NS;
            publish(x, now, true, w->draining || w->handed_over);
            x->stats.syscalls++;
        }
        if (worker_tick(w, now))
            break;
        x->iter_idle = false;
        if (rx || tx) {
            x->last_work_ns = now;
            continue;
        }
        pending =
            x->engine.ntx || x->engine.dirty || xsk_port_tx_pending(x->tx_port) || inbox_pending(&x->inbox);
        x->iter_idle = !pending; /* a spin or an empty busy poll is time waiting for input, too */
        if (pending || w->srv->cfg.busy_poll || keep_spinning(x, now))
            continue;

        deadline = tcp_engine_next_deadline(&x->engine);
        if (deadline > now)
            sleep_for_work(x, now, deadline);
    }
    return NULL;
}

/* ---- the datapath's operations (sched/datapath.h) ------------------------------------------- */

void xdp_config_default(struct xdp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ring_size = 2048;
    umem_config_default(&cfg->umem);
}

/* The queues served: [xdp] queue on, [xdp] queues of them or every RX queue the device has. The
 * steering program keys `xsks` by queue id, so every one must be below SLUICE_MAX_QUEUES. */
static int choose_queues(struct xdp_server *xs, struct err *e)
{
    const char *dev = xs->cfg.ifname, *how;
    uint32_t first = xs->cfg.queue, have = xsk_port_rx_queues(dev, &how), n = xs->cfg.queues;

    if (have && first >= have)
        return ERR(e, EXIT_STATUS_USAGE, 0, "[xdp] queue %u: %s has %u RX queue%s (%s)", first, dev, have,
                   have == 1 ? "" : "s", how);
    if (!n)
        n = have ? have - first : 1;
    if (have && first + n > have)
        return ERR(e, EXIT_STATUS_USAGE, 0, "[xdp] queues %u from queue %u: %s has %u RX queue%s (%s)", n,
                   first, dev, have, have == 1 ? "" : "s", how);
    if (first + n > SLUICE_MAX_QUEUES)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "%s: queues %u to %u are more than the steering program serves (queues 0 to %d, "
                   "SLUICE_MAX_QUEUES); set [xdp] queues (--queues) or give the device fewer (ethtool -L)",
                   dev, first, first + n - 1, SLUICE_MAX_QUEUES - 1);
    xs->nqueues = n;
    if (xs->cfg.queues)
        snprintf(xs->queue_note, sizeof(xs->queue_note), "[xdp] queues");
    else if (have)
        snprintf(xs->queue_note, sizeof(xs->queue_note), "every RX queue: %u by %s", have, how);
    else
        snprintf(xs->queue_note, sizeof(xs->queue_note), "RX queues unknown: one");
    return 0;
}

/*
 * A successor's slots: the half the running generation does not use, and none of them held by a
 * live process (a generation before the running one, still draining: refused until it exits).
 */
static int take_slots(struct xdp_server *xs, const struct xdp_handover *h, uint32_t nworkers, struct err *e)
{
    uint32_t first;

    if (nworkers > SLUICE_GEN_SLOTS)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "--takeover: %u workers: a generation taking over on AF_XDP has at most %d "
                   "(SLUICE_GEN_SLOTS: the worker slots are shared out between two generations)",
                   nworkers, SLUICE_GEN_SLOTS);
    if (h->slot_base == 0 && h->nworkers > SLUICE_GEN_SLOTS)
        return ERR(e, EXIT_STATUS_STATE, 0,
                   "--takeover: the running server has %u workers: a generation taken over on AF_XDP has at "
                   "most %d (SLUICE_GEN_SLOTS)",
                   h->nworkers, SLUICE_GEN_SLOTS);
    xs->slot_base = h->slot_base ? 0 : SLUICE_GEN_SLOTS;
    first = xs->slot_base;
    for (__u32 slot = first; slot < first + SLUICE_GEN_SLOTS; slot++) {
        struct worker_state ws;

        if (bpf_map_lookup_elem(xs->pins.workers, &slot, &ws) || !ws.live || !ws.pid ||
            ws.pid == (__u32)getpid() || (kill((pid_t)ws.pid, 0) && errno == ESRCH))
            continue;
        return ERR(
            e, EXIT_STATUS_STATE, 0,
            "--takeover: worker slots %u-%u are still held by pid %u, an older generation that has not "
            "finished draining; take over once it has exited",
            first, first + SLUICE_GEN_SLOTS - 1, ws.pid);
    }
    return 0;
}

/* The successor's: the running generation's UMEM and queues (srv->cfg.inherit), the other slot half. */
static int adopt(struct server *srv, struct xdp_server *xs, struct err *e)
{
    struct listen_fds *in = &srv->cfg.inherit;
    const struct xdp_handover *h = (const struct xdp_handover *)in->blob;
    const struct umem_config *want = &xs->cfg.umem, *have = &h->umem.cfg;
    int ret = -1;

    if (in->blob_len < 2 * sizeof(uint32_t))
        ERR(e, EXIT_STATUS_STATE, 0, "--takeover: the running server handed over no valid AF_XDP state");
    else if (h->umem.layout != UMEM_SHARED_LAYOUT || in->blob_len != sizeof(*h) ||
             h->umem.shared_size != (uint32_t)(sizeof(struct umem_shared) | sizeof(struct frame_meta) << 16))
        ERR(e, EXIT_STATUS_STATE, 0,
            "--takeover: the running server's UMEM state has layout %u (sizes %#x), this build's %u (%#zx): "
            "these two builds cannot share a UMEM; restart instead",
            h->umem.layout, h->umem.shared_size, UMEM_SHARED_LAYOUT,
            sizeof(struct umem_shared) | sizeof(struct frame_meta) << 16);
    else if (h->umem.nqueues < 1 || h->umem.nqueues > SLUICE_MAX_QUEUES || in->n != 2 + (int)h->umem.nqueues)
        ERR(e, EXIT_STATUS_STATE, 0, "--takeover: the running server handed over no valid AF_XDP state");
    else if (h->first_queue != xs->cfg.queue || h->umem.nqueues != xs->nqueues)
        ERR(e, EXIT_STATUS_USAGE, 0,
            "--takeover: the running server serves %u queue%s from queue %u of %s, this one would serve %u "
            "from %u: a successor serves the same queues ([xdp] queue, queues)",
            h->umem.nqueues, h->umem.nqueues == 1 ? "" : "s", h->first_queue, xs->cfg.ifname, xs->nqueues,
            xs->cfg.queue);
    else if (want->nframes != have->nframes || want->frame_size != have->frame_size ||
             want->fill_size != have->fill_size || want->comp_size != have->comp_size)
        ERR(e, EXIT_STATUS_USAGE, 0,
            "--takeover: the running server's UMEM is %u frames of %u bytes, fill/completion rings %u/%u; "
            "this one's settings say %u of %u, %u/%u: a successor shares the UMEM, so they must match",
            have->nframes, have->frame_size, have->fill_size, have->comp_size, want->nframes,
            want->frame_size, want->fill_size, want->comp_size);
    else if (!take_slots(xs, h, srv->cfg.nworkers, e))
        ret = 0;
    if (ret) {
        for (int i = 0; i < in->n; i++)
            close(in->fd[i]);
        in->n = 0;
        return -1;
    }
    xs->successor = true;
    in->n = 0; /* the UMEM owns them from here, failing or not */
    return umem_adopt(&xs->umem, &h->umem, in->fd, xs->umem_note, sizeof(xs->umem_note), e);
}

/* Map the UMEM (or the running generation's, taking over) and open the pins of cfg->ifname. */
static int xdp_server_init(struct server *srv, const void *cfg, struct err *e)
{
    struct xdp_server *xs = calloc(1, sizeof(*xs));

    if (!xs)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate the AF_XDP datapath's state");
    srv->dp = xs;
    xs->cfg = *(const struct xdp_config *)cfg;
    xs->pins.workers = xs->pins.xsks = -1;
    xs->umem.fd = xs->umem.area_fd = xs->umem.state_fd = -1; /* nothing to close before the UMEM is there */
    xs->source_cap.prog_fd = -1;
    if (pins_open(&xs->pins, xs->cfg.ifname, e) || source_cap_open(&xs->source_cap, &xs->pins, e) ||
        choose_queues(xs, e))
        return -1;
    if (srv->cfg.inherit.n)
        return adopt(srv, xs, e);
    return umem_create(&xs->umem, &xs->cfg.umem, xs->nqueues, xs->umem_note, sizeof(xs->umem_note), e);
}

/*
 * Whether the kernel computes data segments' TCP checksums: in copy mode it does, for a frame with
 * TX metadata (Linux 6.8), as for any CHECKSUM_PARTIAL skb; a zero-copy driver may not, and which
 * ones do is not probed here.
 */
static bool csum_offload(const struct xdp_server *xs, const struct xsk_port *p, char *note, size_t len)
{
    if (xs->umem.tx_meta_refused)
        snprintf(note, len, "TCP checksums in software (TX metadata refused: %s)",
                 strerror(xs->umem.tx_meta_refused));
    else if (p->zerocopy)
        snprintf(note, len,
                 "TCP checksums in software (zero-copy: the driver's checksum offload is not probed)");
    else
        snprintf(note, len, "TCP checksums by the kernel (TX metadata)");
    return !xs->umem.tx_meta_refused && !p->zerocopy;
}

/* The worker's engine, its socket on each queue served and their registration in `xsks`. */
static int xdp_worker_init(struct worker *w, struct err *e)
{
    struct server *srv = w->srv;
    struct xdp_server *xs = srv->dp;
    struct xdp_worker *x = calloc(1, sizeof(*x));
    struct xsk_port_config pcfg = {
        .ifname = xs->cfg.ifname,
        .rx_size = xs->cfg.ring_size,
        .tx_size = xs->cfg.ring_size,
        .zerocopy = xs->cfg.zerocopy,
    };
    struct tcp_config tcp;

    if (!x)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "worker %u: cannot allocate its AF_XDP state", w->index);
    w->dp = x;
    x->worker = w;
    x->server = xs;
    frame_cache_init(&x->cache, &xs->umem.pool);
    if (inbox_init(&x->inbox, sizeof(struct xdp_steer_msg), e))
        return -1;
    /* the sockets before the engine: whether segments may be sent as frame chains is the socket's */
    for (; x->nports < xs->nqueues; x->nports++) {
        pcfg.queue = xs->cfg.queue + x->nports;
        pcfg.uq = &xs->umem.queues[x->nports];
        if (xsk_port_open(&x->ports[x->nports], &xs->umem, &pcfg, xs->mode_note, sizeof(xs->mode_note), e))
            return -1;
    }
    /* the workers spread over the queues' TX rings, and so over their completion rings */
    x->tx_port = &x->ports[w->index % x->nports];
    tcp = srv->cfg.tcp;
    tcp.frags_max = x->tx_port->multi_buffer ? TCP_SEG_FRAMES_MAX : 1;
    tcp.csum_offload = csum_offload(xs, x->tx_port, xs->csum_note, sizeof(xs->csum_note));
    if (tcp_engine_init(&x->engine, &tcp, &x->cache, &app_tcp_callbacks, &w->apps, worker_now_ns()))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: cannot set up its TCP engine", w->index);
    tcp_engine_on_end(&x->engine, source_ended, x);
    x->source_cap = source_cap_setting(&xs->pins);
    for (int i = 0; i < srv->cfg.nservices; i++)
        tcp_listen(&x->engine, srv->cfg.services[i].port);
    for (uint32_t i = 0; i < x->nports; i++) {
        __u32 slot = SLUICE_XSKS_KEY(x->ports[i].queue, xs->slot_base + w->index);
        int fd = x->ports[i].fd;

        if (bpf_map_update_elem(xs->pins.xsks, &slot, &fd, BPF_ANY))
            return ERR(e, EXIT_STATUS_FAILURE, errno,
                       "cannot register worker %u's socket on queue %u in the xsks map", w->index,
                       x->ports[i].queue);
    }
    return 0; /* xdp_server_prefill marks it live in `workers`, its loop publishes from then on */
}

/*
 * Before any worker thread starts: give the kernel frames to receive into on every queue, then mark
 * every worker live (their loops publish from then on), then send new connections to this
 * generation's slots (`meta` new_flow_workers; every slot when started fresh). A successor's workers
 * are live before the first connection comes their way, and the running generation, still taking
 * them until it hears SIGUSR2, gets none from here on.
 */
static void xdp_server_prefill(struct server *srv)
{
    struct xdp_server *xs = srv->dp;
    struct xdp_worker *x0 = srv->workers[0].dp;
    uint64_t now = worker_now_ns();
    struct sluice_meta meta;
    struct err e;
    __u32 zero = 0;

    for (uint32_t i = 0; i < xs->umem.nqueues; i++)
        while (umem_refill(&xs->umem, &xs->umem.queues[i], &x0->cache))
            ;
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct xdp_worker *x = srv->workers[i].dp;

        x->window_ns = now;
        publish(x, now, true, false);
    }
    if (pins_read_meta(xs->pins.meta, &meta, &e))
        return; /* opened and read at pins_open: not gone since */
    meta.new_flow_workers = new_flow_mask(xs);
    bpf_map_update_elem(xs->pins.meta, &zero, &meta, BPF_EXIST);
}

static void xdp_describe(struct server *srv, char *buf, size_t len)
{
    struct xdp_server *xs = srv->dp;

    char queues[32];

    if (xs->nqueues == 1)
        snprintf(queues, sizeof(queues), "queue %u", xs->cfg.queue);
    else
        snprintf(queues, sizeof(queues), "queues %u-%u", xs->cfg.queue, xs->cfg.queue + xs->nqueues - 1);
    snprintf(buf, len, "%s %s (%s), AF_XDP %s, %s, UMEM %zu MiB %s", xs->cfg.ifname, queues, xs->queue_note,
             xs->mode_note, xs->csum_note, xs->umem.size >> 20, xs->umem_note);
}

/*
 * A generation stopping beside its successor: what it placed in its TX rings must be taken by the
 * kernel before its sockets close (a closed socket's ring is gone, and its frames with it); their
 * completions come through the shared completion rings, to whichever process consumes them.
 */
static void flush_tx_rings(struct server *srv)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t pending = 0;

        for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
            struct xdp_worker *x = srv->workers[i].dp;

            if (xsk_port_tx_pending(x->tx_port)) {
                xsk_port_kick_tx(x->tx_port);
                pending += xsk_port_tx_pending(x->tx_port);
            }
        }
        if (!pending)
            return;
        usleep(1000);
    }
}

/*
 * Every frame is free, in a fill ring, held by a connection or on its way through TX. Over the
 * whole shared pool, so only in the last process that maps it: a generation stopping beside its
 * successor (umem_processes 2) leaves the count to it, having given back all it holds.
 */
static int xdp_server_check_frames(struct server *srv, struct err *e)
{
    struct xdp_server *xs = srv->dp;
    struct umem *u = &xs->umem;
    struct xdp_worker *x0 = srv->workers[0].dp;
    uint64_t cached = 0, held = 0, pending = 0, free_frames, owned_none = 0, owned_held = 0, owned_tx = 0;
    int64_t in_fill, in_tx;

    /* connections and frames still on their way between workers, and packets the RX rings showed
     * only in part */
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct xdp_worker *x = srv->workers[i].dp;

        xdp_steer_drain_at_stop(x);
        for (uint32_t q = 0; q < x->nports; q++) {
            struct tcp_rx_chain *chain = &x->ports[q].rx_chain;

            for (uint32_t k = 0; k < chain->n; k++)
                frame_put(&x->cache, chain->piece[k].frame, FRAME_OWN_HELD);
            chain->n = 0;
        }
    }
    if (umem_processes(u, &(uint32_t){0}) > 1) {
        flush_tx_rings(srv);
        return 0;
    }
    /* the kernel may still be completing the last transmissions */
    for (int tries = 0; tries < 100 && atomic_load(&u->sh->in_tx) > 0; tries++) {
        for (uint32_t i = 0; i < u->nqueues; i++)
            umem_complete(u, &u->queues[i], &x0->cache, 256);
        usleep(1000);
    }
    in_fill = umem_in_fill(u);
    in_tx = atomic_load(&u->sh->in_tx);
    free_frames = frame_pool_free_count(&u->pool);
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct xdp_worker *x = srv->workers[i].dp;

        cached += x->cache.nfree;
        held += tcp_engine_frames_held(&x->engine);
        pending += x->engine.ntx;
    }
    /* what the frames' own ownership bits say, against what each side counted: a frame is free,
     * or held (by a connection, or by the kernel between fill ring and RX ring), or lent to TX, or
     * both held and lent (unacknowledged data on its way out) */
    for (uint32_t f = 0; f < u->cfg.nframes; f++) {
        uint8_t owner = atomic_load(&u->pool.meta[f].owner);

        owned_none += !owner;
        owned_held += !!(owner & FRAME_OWN_HELD);
        owned_tx += !!(owner & FRAME_OWN_TX);
    }
    if (owned_none != free_frames + cached || owned_held != held + (uint64_t)in_fill ||
        owned_tx != (uint64_t)in_tx + pending)
        return ERR(e, EXIT_STATUS_FAILURE, 0,
                   "frame accounting broken: %llu frames free by their bits, %llu on free lists; %llu held, "
                   "%llu by connections + %lld in fill/RX; %llu lent to TX, %lld in TX/completion + %llu "
                   "pending",
                   (unsigned long long)owned_none, (unsigned long long)(free_frames + cached),
                   (unsigned long long)owned_held, (unsigned long long)held, (long long)in_fill,
                   (unsigned long long)owned_tx, (long long)in_tx, (unsigned long long)pending);
    return 0;
}

static void xdp_worker_print_stats(struct worker *w, FILE *out)
{
    struct xdp_worker *x = w->dp;
    struct xsk_port_kernel_stats ks = {0};

#define PRINT(name, help)                                                                                    \
    if (x->engine.stats.name)                                                                                \
        fprintf(out, "  tcp_%-24s %llu\n", #name, (unsigned long long)x->engine.stats.name);
    TCP_ENGINE_COUNTERS(PRINT)
#undef PRINT
#define PRINT(name, help)                                                                                    \
    if (x->stats.name)                                                                                       \
        fprintf(out, "  xdp_%-24s %llu\n", #name, (unsigned long long)x->stats.name);
    XDP_WORKER_COUNTERS(PRINT)
#undef PRINT
    /* per socket: what it received on its queue, and the kernel's drop counters */
    for (uint32_t i = 0; i < x->nports; i++) {
        struct xsk_port *p = &x->ports[i];

        char name[32];

        snprintf(name, sizeof(name), "xsk_queue%u_rx_packets", p->queue);
        fprintf(out, "  %-28s %llu\n", name, (unsigned long long)p->rx_packets);
        if (xsk_port_kernel_stats(p, &ks) == 0)
            fprintf(out,
                    "  xsk_queue%u rx_dropped %llu rx_ring_full %llu fill_ring_empty %llu rx_invalid %llu "
                    "tx_invalid %llu\n",
                    p->queue, (unsigned long long)ks.rx_dropped, (unsigned long long)ks.rx_ring_full,
                    (unsigned long long)ks.fill_ring_empty, (unsigned long long)ks.rx_invalid,
                    (unsigned long long)ks.tx_invalid);
    }
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The region's frames that are neither on the pool's free list nor in a worker's cache: what a
 * leak would make grow (tools/soak.sh watches it). */
static uint64_t umem_frames_in_use(struct server *srv)
{
    struct xdp_server *xs = srv->dp;
    uint64_t free_frames = frame_pool_free_count(&xs->umem.pool);

    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        free_frames += __atomic_load_n(&((struct xdp_worker *)srv->workers[i].dp)->cached, __ATOMIC_RELAXED);
    return free_frames < xs->umem.cfg.nframes ? xs->umem.cfg.nframes - free_frames : 0;
}

/* The TCP engine's and the sockets' counters of every worker, then the steering program's from the
 * pinned `stats` map (read while the other workers run: see server_metrics.c). */
static void xdp_write_metrics(struct server *srv, const struct metrics_sink *sink)
{
    struct xdp_server *xs = srv->dp;
    struct sluice_stats bpf;
    struct err e;

#define WORKER_SAMPLES(metric, field)                                                                        \
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {                                                       \
        struct xdp_worker *x = srv->workers[i].dp;                                                           \
        sink->sample(sink->ctx, metric, i, LOAD(x->field));                                                  \
    }
#define TCP_METRIC(name, help)                                                                               \
    sink->family(sink->ctx, "sluice_tcp_" #name "_total", "counter", help);                                  \
    WORKER_SAMPLES("sluice_tcp_" #name "_total", engine.stats.name)
    TCP_ENGINE_COUNTERS(TCP_METRIC)
#undef TCP_METRIC
    sink->family(sink->ctx, "sluice_tcp_connections", "gauge",
                 "connection slots in use, at most [tcp] max_conns");
    WORKER_SAMPLES("sluice_tcp_connections", engine.nconns)
    sink->family(sink->ctx, "sluice_tcp_time_wait", "gauge",
                 "compact TIME-WAIT entries, at most [tcp] max_time_wait, apart from the connection slots");
    WORKER_SAMPLES("sluice_tcp_time_wait", engine.tw.count)
    sink->family(
        sink->ctx, "sluice_tcp_half_open", "gauge",
        "connections in SYN-RECEIVED, at most [tcp] max_half_open; from [server] syncookie_half_open "
        "on, XDP answers the worker's SYNs with cookies");
    WORKER_SAMPLES("sluice_tcp_half_open", engine.nhalf_open)
    sink->family(sink->ctx, "sluice_afxdp_busy_percent", "gauge",
                 "share of the last publication period the worker was not waiting for input, as published "
                 "to XDP in `workers`");
    WORKER_SAMPLES("sluice_afxdp_busy_percent", busy_pct)
    sink->family(sink->ctx, "sluice_afxdp_overload", "gauge",
                 "1 while the worker publishes overload for being past [server] shed_busy_pct (XDP gives "
                 "new connections to others, or sheds them)");
    WORKER_SAMPLES("sluice_afxdp_overload", overloaded)
#define XDP_METRIC(name, help)                                                                               \
    sink->family(sink->ctx, "sluice_afxdp_" #name "_total", "counter", help);                                \
    WORKER_SAMPLES("sluice_afxdp_" #name "_total", stats.name)
    XDP_WORKER_COUNTERS(XDP_METRIC)
#undef XDP_METRIC
#undef WORKER_SAMPLES
    sink->family(
        sink->ctx, "sluice_afxdp_umem_frames_in_use", "gauge",
        "UMEM frames not free: in fill, RX or TX rings, or held by connections (workers' caches as of "
        "their last publication; during a takeover the other generation's caches count as in use)");
    sink->sample(sink->ctx, "sluice_afxdp_umem_frames_in_use", METRICS_NO_WORKER, umem_frames_in_use(srv));
    sink->family(sink->ctx, "sluice_afxdp_umem_processes", "gauge",
                 "server processes mapping the UMEM: 2 while a generation taken over drains beside this one");
    sink->sample(sink->ctx, "sluice_afxdp_umem_processes", METRICS_NO_WORKER,
                 umem_processes(&xs->umem, &(uint32_t){0}));
    sink->family(sink->ctx, "sluice_afxdp_umem_lock_recovered_total", "counter",
                 "UMEM pool or ring locks found held by a process that died (EOWNERDEAD), made consistent");
    sink->sample(sink->ctx, "sluice_afxdp_umem_lock_recovered_total", METRICS_NO_WORKER,
                 atomic_load(&xs->umem.sh->pool.lock_recovered));
    sink->family(
        sink->ctx, "sluice_afxdp_worker_slot_base", "gauge",
        "the first `workers` slot of this generation: worker i is slot base + i (0 or SLUICE_GEN_SLOTS)");
    sink->sample(sink->ctx, "sluice_afxdp_worker_slot_base", METRICS_NO_WORKER, xs->slot_base);
    sink->family(sink->ctx, "sluice_afxdp_queue_rx_packets_total", "counter",
                 "frames taken from the RX ring of the worker's socket on the device queue");
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct xdp_worker *x = srv->workers[i].dp;

        for (uint32_t q = 0; q < x->nports; q++)
            sink->sample_queue(sink->ctx, "sluice_afxdp_queue_rx_packets_total", i, x->ports[q].queue,
                               LOAD(x->ports[q].rx_packets));
    }
    if (pins_read_stats(&xs->pins, &bpf, &e))
        return;
#define BPF_METRIC(name, help)                                                                               \
    sink->family(sink->ctx, "sluice_steer_" #name "_total", "counter", help);                                \
    sink->sample(sink->ctx, "sluice_steer_" #name "_total", METRICS_NO_WORKER, bpf.name);
    SLUICE_VERDICT_COUNTERS(BPF_METRIC)
    SLUICE_EVENT_COUNTERS(BPF_METRIC)
#undef BPF_METRIC
    sink->family(sink->ctx, "sluice_steer_redirects_total", "counter",
                 "packets the steering program sent to a worker");
    for (uint32_t i = 0; i < SLUICE_MAX_WORKERS; i++)
        if (bpf.redirect_by_worker[i])
            sink->sample(sink->ctx, "sluice_steer_redirects_total", i, bpf.redirect_by_worker[i]);
}

/* What XDP redirected to p and the worker did not read, back to the pool (its socket is going). */
static void drain_rx(struct xdp_worker *x, struct xsk_port *p)
{
    struct umem *u = &x->server->umem;
    uint32_t idx, n;

    while ((n = xsk_ring_cons__peek(&p->rx, XDP_RX_BATCH, &idx))) {
        for (uint32_t i = 0; i < n; i++)
            frame_put(&x->cache,
                      (uint32_t)(xsk_ring_cons__rx_desc(&p->rx, idx + i)->addr / u->cfg.frame_size),
                      FRAME_OWN_HELD);
        xsk_ring_cons__release(&p->rx, n);
        atomic_fetch_sub_explicit(&p->uq->sh->in_fill, n, memory_order_relaxed);
        x->stats.rx_drained_at_stop += n;
    }
}

/* Deregister from `workers` and `xsks`, give back what the RX rings hold, close the sockets, release
 * the engine's frames. */
static void xdp_worker_release(struct worker *w)
{
    struct xdp_server *xs = w->srv->dp;
    struct xdp_worker *x = w->dp;
    struct worker_state none = {0};

    if (xs && xs->pins.workers >= 0) {
        __u32 slot = xs->slot_base + w->index;

        bpf_map_update_elem(xs->pins.workers, &slot, &none, BPF_ANY);
        for (uint32_t i = 0; i < xs->nqueues; i++) {
            __u32 key = SLUICE_XSKS_KEY(xs->cfg.queue + i, slot);

            bpf_map_delete_elem(xs->pins.xsks, &key);
        }
    }
    if (!x)
        return;
    for (uint32_t i = 0; i < x->nports; i++) {
        if (x->ports[i].rx_map.addr && x->cache.pool)
            drain_rx(x, &x->ports[i]);
        xsk_port_close(&x->ports[i], &xs->umem);
    }
    if (x->engine.conns)
        xdp_steer_drain_at_stop(x); /* when the frame check did not run (a failed start) */
    if (x->engine.conns)
        tcp_engine_destroy(&x->engine);
    inbox_destroy(&x->inbox);
    if (x->cache.pool)
        frame_cache_drain(&x->cache);
    free(x);
    w->dp = NULL;
}

/* For a successor (datapath_ops.listeners): the UMEM's memfds and queue sockets, and what they are. */
static int xdp_handover(struct server *srv, struct listen_fds *out)
{
    struct xdp_server *xs = srv->dp;
    struct xdp_handover h = {
        .first_queue = xs->cfg.queue, .slot_base = xs->slot_base, .nworkers = srv->cfg.nworkers};

    _Static_assert(sizeof(h) <= SERVER_HANDOVER_BLOB, "struct xdp_handover fits the takeover message");
    _Static_assert(UMEM_HANDOVER_FDS <= SERVER_MAX_INHERITED, "the UMEM's descriptors fit one message");
    memset(out, 0, sizeof(*out));
    out->n = umem_handover_fds(&xs->umem, &h.umem, out->fd);
    out->blob_len = sizeof(h);
    memcpy(out->blob, &h, sizeof(h));
    return out->n;
}

static void xdp_server_release(struct server *srv)
{
    struct xdp_server *xs = srv->dp;
    struct sluice_meta meta;
    struct err e;
    __u32 zero = 0;

    if (!xs)
        return;
    /* new connections still sent to this generation's half (a successor that failed to start, or the
     * last generation stopping): to every live slot again, the generation it took over from's */
    if (xs->successor && xs->pins.meta >= 0 && !pins_read_meta(xs->pins.meta, &meta, &e) &&
        meta.new_flow_workers == new_flow_mask(xs)) {
        meta.new_flow_workers = 0;
        bpf_map_update_elem(xs->pins.meta, &zero, &meta, BPF_EXIST);
    }
    umem_destroy(&xs->umem);
    source_cap_close(&xs->source_cap);
    pins_close(&xs->pins);
    free(xs);
    srv->dp = NULL;
}

/* A worker that stops taking connections (a hand-over, a drain) says so at once rather than at its
 * next publish, up to PUBLISH_NS later: XDP sheds new flows from it from now on. */
static void xdp_worker_stop_listening(struct worker *w)
{
    struct xdp_worker *x = w->dp;

    publish(x, worker_now_ns(), true, true);
}

const struct datapath_ops xdp_datapath = {
    .name = "xdp",
    .server_init = xdp_server_init,
    .worker_init = xdp_worker_init,
    .server_ready = xdp_server_prefill,
    .worker_run = xdp_worker_run,
    .worker_stop_listening = xdp_worker_stop_listening,
    .listeners = xdp_handover,
    .describe = xdp_describe,
    .worker_print_stats = xdp_worker_print_stats,
    .write_metrics = xdp_write_metrics,
    .server_verify = xdp_server_check_frames,
    .worker_release = xdp_worker_release,
    .server_release = xdp_server_release,
};
