/*
 * worker.c — starting, running and stopping the pinned workers (see worker.h).
 *
 * The loop is the whole data path of a worker: RX batch -> tcp_input -> (applications run from the
 * engine's callbacks during flush) -> TX batch -> completions -> fill ring -> sleep. Nothing in the
 * loop allocates memory or takes a lock except the two batch-level ring locks in umem.c.
 */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#define RX_BATCH        64
#define MAX_SLEEP_MS    100 /* wake at least this often: completions and fill levels need tending */
#define PUBLISH_NS      100000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void publish(struct worker *w, bool live, bool overload)
{
    struct worker_state ws = {
        .live = live,
        .overload = overload,
        .pid = live ? (uint32_t)getpid() : 0,
        .load = w->apps.open,
        .heartbeat_ns = now_ns(),
    };

    bpf_map_update_elem(w->srv->pins.workers, &w->index, &ws, BPF_ANY);
}

static uint32_t receive_batch(struct worker *w)
{
    struct umem *u = &w->srv->umem;
    uint32_t idx, n = xsk_ring_cons__peek(&w->port.rx, RX_BATCH, &idx);

    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->port.rx, idx + i);

        tcp_input(&w->engine, (uint32_t)(d->addr / u->cfg.frame_size), (uint32_t)(d->addr % u->cfg.frame_size),
                  d->len);
    }
    if (n) {
        xsk_ring_cons__release(&w->port.rx, n);
        atomic_fetch_sub_explicit(&u->in_fill, n, memory_order_relaxed);
        w->stats.rx_packets += n;
    }
    return n;
}

static uint32_t transmit_batch(struct worker *w)
{
    struct tcp_engine *e = &w->engine;
    struct umem *u = &w->srv->umem;
    uint32_t idx, n = e->ntx, got;

    if (!n)
        return 0;
    got = xsk_ring_prod__reserve(&w->port.tx, n, &idx);
    if (got < n) {
        w->stats.tx_ring_full++;
        got = xsk_ring_prod__reserve(&w->port.tx, xsk_prod_nb_free(&w->port.tx, n), &idx);
    }
    for (uint32_t i = 0; i < got; i++) {
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&w->port.tx, idx + i);

        d->addr = umem_addr(u, e->tx[i].frame, e->tx[i].off);
        d->len = e->tx[i].len;
        d->options = 0;
    }
    if (got) {
        xsk_ring_prod__submit(&w->port.tx, got);
        atomic_fetch_add_explicit(&u->in_tx, got, memory_order_relaxed);
        tcp_tx_consumed(e, got);
        w->stats.tx_packets += got;
    }
    xsk_port_kick_tx(&w->port); /* also when nothing fit: the kernel must drain the ring to make room */
    return got;
}

/* Ask every connection to finish: FIN after what is queued; applications then see EOF and close. */
static void drain_connections(struct worker *w)
{
    for (uint32_t i = 0; i < w->apps.nslots; i++) {
        struct app_conn *ac = &w->apps.slots[i];

        if (ac->tcp)
            app_shutdown(ac);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;
    struct umem *u = &srv->umem;
    uint64_t next_publish = 0, drain_deadline = 0;
    bool draining = false;

    for (;;) {
        uint64_t now = now_ns(), deadline;
        uint32_t rx, tx;

        w->stats.loops++;
        tcp_engine_begin(&w->engine, now);
        rx = receive_batch(w);
        tcp_engine_flush(&w->engine);
        tx = transmit_batch(w);
        w->stats.completions += umem_complete(u, &w->cache, 256);
        w->stats.refilled += umem_refill(u, &w->cache);

        if (now >= next_publish) {
            next_publish = now + PUBLISH_NS;
            publish(w, true, draining);
        }
        if (atomic_load(&srv->draining) && !draining) {
            draining = true;
            drain_deadline = now + (uint64_t)srv->cfg.drain_ms * 1000000;
            publish(w, true, true);
            drain_connections(w);
            continue;
        }
        if (draining && (w->apps.open == 0 || now >= drain_deadline))
            atomic_store(&w->drained, true);
        if (atomic_load(&srv->stop))
            break;
        if (rx || tx || w->engine.ntx || srv->cfg.busy_poll)
            continue;

        deadline = tcp_engine_next_deadline(&w->engine);
        {
            struct pollfd pfd = {.fd = w->port.fd, .events = POLLIN};
            uint64_t wait_ns = deadline > now ? deadline - now : 0;
            int timeout = wait_ns / 1000000 > MAX_SLEEP_MS ? MAX_SLEEP_MS : (int)(wait_ns / 1000000);

            if (deadline <= now)
                continue;
            w->stats.polls++;
            poll(&pfd, 1, timeout ? timeout : 1);
        }
    }
    return NULL;
}

static void pin_to_cpu(pthread_t thread, int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread, sizeof(set), &set);
}

static int worker_init(struct server *srv, struct worker *w, uint32_t index, char *mode, size_t mode_len,
                       struct err *e)
{
    struct xsk_port_config pcfg = {
        .ifname = srv->cfg.ifname,
        .queue = srv->cfg.queue,
        .rx_size = srv->cfg.ring_size,
        .tx_size = srv->cfg.ring_size,
        .zerocopy = srv->cfg.zerocopy,
    };
    int fd;

    w->index = index;
    w->srv = srv;
    frame_cache_init(&w->cache, &srv->umem.pool);
    if (app_table_init(&w->apps, srv->cfg.tcp.max_conns, srv->cfg.services, srv->cfg.nservices))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: cannot allocate %u application slots", index,
                   srv->cfg.tcp.max_conns);
    if (tcp_engine_init(&w->engine, &srv->cfg.tcp, &w->cache, &app_callbacks, &w->apps, now_ns()))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: cannot set up its TCP engine", index);
    for (int i = 0; i < srv->cfg.nservices; i++)
        tcp_listen(&w->engine, srv->cfg.services[i].port);
    if (xsk_port_open(&w->port, &srv->umem, &pcfg, mode, mode_len, e))
        return -1;
    fd = w->port.fd;
    if (bpf_map_update_elem(srv->pins.xsks, &index, &fd, BPF_ANY))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot register worker %u's socket in the xsks map", index);
    return 0;
}

static void worker_release(struct worker *w)
{
    struct worker_state none = {0};

    if (!w->srv)
        return;
    bpf_map_update_elem(w->srv->pins.workers, &w->index, &none, BPF_ANY);
    bpf_map_delete_elem(w->srv->pins.xsks, &w->index);
    xsk_port_close(&w->port);
    if (w->engine.conns)
        tcp_engine_destroy(&w->engine);
    if (w->apps.slots)
        app_table_destroy(&w->apps);
    frame_cache_drain(&w->cache);
}

int server_start(struct server *srv, const struct server_config *cfg, struct err *e)
{
    char umem_note[160], mode[96] = "";

    memset(srv, 0, sizeof(*srv));
    srv->cfg = *cfg;
    srv->pins.meta = -1;
    if (pins_open(&srv->pins, cfg->ifname, e))
        return -1;
    if (umem_create(&srv->umem, &cfg->umem, umem_note, sizeof(umem_note), e))
        goto fail;
    for (uint32_t i = 0; i < cfg->nworkers; i++)
        if (worker_init(srv, &srv->workers[i], i, mode, sizeof(mode), e))
            goto fail;
    /* the kernel can receive as soon as a socket is registered: give it frames before anyone is live */
    while (umem_refill(&srv->umem, &srv->workers[0].cache))
        ;
    for (uint32_t i = 0; i < cfg->nworkers; i++) {
        struct worker *w = &srv->workers[i];

        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot start worker %u", i);
            goto fail;
        }
        w->started = true;
        pin_to_cpu(w->thread, cfg->cpus[i]);
        publish(w, true, false);
    }
    printf("sluice-server: %u worker%s on %s queue %u, AF_XDP %s, UMEM %zu MiB %s\n", cfg->nworkers,
           cfg->nworkers == 1 ? "" : "s", cfg->ifname, cfg->queue, mode, srv->umem.size >> 20, umem_note);
    return 0;
fail:
    atomic_store(&srv->stop, true);
    for (uint32_t i = 0; i < cfg->nworkers; i++)
        if (srv->workers[i].started)
            pthread_join(srv->workers[i].thread, NULL);
    for (uint32_t i = 0; i < cfg->nworkers; i++)
        worker_release(&srv->workers[i]);
    umem_destroy(&srv->umem);
    pins_close(&srv->pins);
    return -1;
}

/* Every frame is free, in the fill ring, held by a connection or on its way through TX. */
static int check_frames(struct server *srv, struct err *e)
{
    struct umem *u = &srv->umem;
    uint64_t cached = 0, held = 0, pending = 0;
    int64_t in_fill = atomic_load(&u->in_fill), in_tx = atomic_load(&u->in_tx);
    uint64_t free_frames = frame_pool_free_count(&u->pool);

    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        cached += srv->workers[i].cache.nfree;
        held += tcp_engine_frames_held(&srv->workers[i].engine);
        pending += srv->workers[i].engine.ntx;
    }
    if (free_frames + cached + (uint64_t)in_fill + held + (uint64_t)in_tx + pending != u->cfg.nframes)
        return ERR(e, EXIT_STATUS_FAILURE, 0,
                   "frame accounting broken: %llu free + %llu cached + %lld in fill/RX + %llu held + %lld in "
                   "TX/completion + %llu pending != %u frames",
                   (unsigned long long)free_frames, (unsigned long long)cached, (long long)in_fill,
                   (unsigned long long)held, (long long)in_tx, (unsigned long long)pending, u->cfg.nframes);
    return 0;
}

static void print_stats(struct server *srv, FILE *out);

int server_stop(struct server *srv, FILE *stats, struct err *e)
{
    uint64_t give_up = now_ns() + ((uint64_t)srv->cfg.drain_ms + 1000) * 1000000;
    int ret;

    atomic_store(&srv->draining, true);
    for (bool all = false; !all && now_ns() < give_up;) {
        all = true;
        for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
            all = all && atomic_load(&srv->workers[i].drained);
        if (!all)
            usleep(10000);
    }
    atomic_store(&srv->stop, true);
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
    /* the kernel may still be completing the last transmissions */
    for (int tries = 0; tries < 100 && atomic_load(&srv->umem.in_tx) > 0; tries++) {
        umem_complete(&srv->umem, &srv->workers[0].cache, 256);
        usleep(1000);
    }
    ret = check_frames(srv, e);
    if (stats)
        print_stats(srv, stats);
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++)
        worker_release(&srv->workers[i]);
    umem_destroy(&srv->umem);
    pins_close(&srv->pins);
    return ret;
}

static void print_stats(struct server *srv, FILE *out)
{
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        struct worker *w = &srv->workers[i];
        struct xsk_port_kernel_stats ks = {0};

        fprintf(out, "worker %u\n", i);
#define PRINT(name, help)                                                                                    \
    if (w->engine.stats.name)                                                                                \
        fprintf(out, "  tcp_%-24s %llu\n", #name, (unsigned long long)w->engine.stats.name);
        TCP_ENGINE_COUNTERS(PRINT)
#undef PRINT
#define PRINT(name, help)                                                                                    \
    if (w->stats.name)                                                                                       \
        fprintf(out, "  worker_%-21s %llu\n", #name, (unsigned long long)w->stats.name);
        WORKER_COUNTERS(PRINT)
#undef PRINT
#define PRINT(name, help)                                                                                    \
    if (w->apps.stats.name)                                                                                  \
        fprintf(out, "  app_%-24s %llu\n", #name, (unsigned long long)w->apps.stats.name);
        APP_COUNTERS(PRINT)
#undef PRINT
        if (w->port.fd && xsk_port_kernel_stats(&w->port, &ks) == 0)
            fprintf(out, "  xsk_rx_dropped %llu rx_ring_full %llu fill_ring_empty %llu\n",
                    (unsigned long long)ks.rx_dropped, (unsigned long long)ks.rx_ring_full,
                    (unsigned long long)ks.fill_ring_empty);
    }
}
