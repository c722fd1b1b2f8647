/*
 * sock_worker.c — the kernel-socket datapath of a worker (see sock_worker.h): its loop, and the
 * operations of `sock_datapath` the scheduler calls at start, at stop and per /metrics scrape.
 *
 * Level-triggered epoll. Interest follows state: EPOLLIN while there is room to read and the peer
 * has not closed, EPOLLOUT only while a send could not take everything. A connection ends when
 * both directions are shut (our shutdown done and the peer's EOF seen), on a socket error, or on a
 * reset by the service.
 */
#include "sock/sock_worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* TCP_NODELAY; netinet/tcp.h would clash with the engine's state names */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/probes.h"
#include "sched/worker.h"

#define CONN_NONE     UINT32_MAX
#define LISTENER_TAG  (1ull << 63)
#define OFFLOAD_TAG   (1ull << 62) /* w->offload_fd: offloaded jobs came back */
#define EVENTS_BATCH  64
#define MAX_SLEEP_MS  100
#define BUFS_PER_GROW 64

struct sock_conn {
    int fd;
    uint32_t events; /* epoll interest now registered */
    struct app_conn *ac;
    uint8_t *rx;
    uint32_t rx_off;
    uint32_t rx_len;
    uint8_t *tx;
    uint32_t tx_off;
    uint32_t tx_len;
    bool peer_eof;
    bool want_shutdown; /* the service shut down; shutdown(SHUT_WR) once tx is empty */
    bool shut_wr;
    bool want_writable; /* a reserve found no room */
    bool dirty;
    uint32_t next; /* free list or dirty list */
    struct sock_worker *owner;
};

/* ---- buffers ----------------------------------------------------------------------------------- */

static uint8_t *buf_get(struct sock_worker *s)
{
    uint8_t *b = s->free_bufs;

    if (!b) { /* grow by a batch: only until the working set of buffers exists */
        for (int i = 0; i < BUFS_PER_GROW; i++) {
            uint8_t *nb = malloc(SOCK_BUF_SIZE);

            if (!nb)
                break;
            memcpy(nb, &s->free_bufs, sizeof(void *));
            s->free_bufs = nb;
            s->stats.buffers_allocated++;
        }
        b = s->free_bufs;
        if (!b)
            return NULL;
    }
    memcpy(&s->free_bufs, b, sizeof(void *));
    return b;
}

static void buf_put(struct sock_worker *s, uint8_t *b)
{
    memcpy(b, &s->free_bufs, sizeof(void *));
    s->free_bufs = b;
}

/* ---- connections ------------------------------------------------------------------------------- */

static void set_interest(struct sock_worker *s, struct sock_conn *c)
{
    uint32_t want = 0;

    if (!c->peer_eof && (!c->rx || c->rx_off + c->rx_len < SOCK_BUF_SIZE || c->rx_off))
        want |= EPOLLIN;
    if (c->tx_len)
        want |= EPOLLOUT;
    if (want != c->events) {
        struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)(c - s->conns)};

        epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->events = want;
    }
}

static void conn_free(struct sock_worker *s, struct sock_conn *c)
{
    if (c->rx)
        buf_put(s, c->rx);
    if (c->tx)
        buf_put(s, c->tx);
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    c->ac = NULL;
    c->rx = c->tx = NULL;
    c->next = s->free_conn;
    s->free_conn = (uint32_t)(c - s->conns);
}

static void conn_end(struct worker *w, struct sock_conn *c, int error)
{
    struct app_conn *ac = c->ac;

    if (error)
        ((struct sock_worker *)w->dp)->stats.errors++;
    conn_free(w->dp, c);
    if (ac)
        app_closed(&w->apps, ac, error);
}

static void mark_dirty(struct sock_worker *s, struct sock_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next = s->dirty;
    s->dirty = (uint32_t)(c - s->conns);
}

/* Send what is buffered; returns false when the connection ended. */
static bool conn_flush(struct worker *w, struct sock_conn *c)
{
    struct sock_worker *s = w->dp;

    while (c->tx_len) {
        ssize_t r = send(c->fd, c->tx + c->tx_off, c->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);

        s->stats.sends++;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                s->stats.send_blocked++;
                break;
            }
            conn_end(w, c, errno);
            return false;
        }
        s->stats.bytes_out += (uint64_t)r;
        c->tx_off += (uint32_t)r;
        c->tx_len -= (uint32_t)r;
    }
    if (!c->tx_len && c->tx) {
        buf_put(s, c->tx);
        c->tx = NULL;
        c->tx_off = 0;
        if (c->want_shutdown && !c->shut_wr) {
            shutdown(c->fd, SHUT_WR);
            c->shut_wr = true;
        }
    }
    if (!c->tx_len && c->want_shutdown && !c->shut_wr) {
        shutdown(c->fd, SHUT_WR);
        c->shut_wr = true;
    }
    if (c->shut_wr && c->peer_eof) {
        conn_end(w, c, 0);
        return false;
    }
    set_interest(s, c);
    if (!c->tx_len && c->want_writable) {
        c->want_writable = false;
        app_writable(c->ac);
    }
    return true;
}

/* Read what the kernel has, then let the service at it. */
static void conn_read(struct worker *w, struct sock_conn *c)
{
    struct sock_worker *s = w->dp;
    bool news = false;

    for (;;) {
        uint32_t space;
        ssize_t r;

        if (!c->rx && !(c->rx = buf_get(s)))
            break;
        if (c->rx_off && c->rx_off + c->rx_len == SOCK_BUF_SIZE) {
            memmove(c->rx, c->rx + c->rx_off, c->rx_len);
            c->rx_off = 0;
        }
        space = SOCK_BUF_SIZE - c->rx_off - c->rx_len;
        if (!space)
            break; /* full: EPOLLIN is off until the service consumes */
        r = recv(c->fd, c->rx + c->rx_off + c->rx_len, space, MSG_DONTWAIT);
        if (r > 0) {
            c->rx_len += (uint32_t)r;
            s->stats.bytes_in += (uint64_t)r;
            news = true;
            if ((uint32_t)r < space)
                break;
            continue;
        }
        if (r == 0) {
            c->peer_eof = true;
            news = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            conn_end(w, c, errno);
            return;
        }
        break;
    }
    if (c->rx && !c->rx_len) {
        buf_put(s, c->rx);
        c->rx = NULL;
        c->rx_off = 0;
    }
    if (news)
        app_readable(c->ac);
    if (c->fd >= 0 && c->ac) {
        if (c->shut_wr && c->peer_eof)
            conn_end(w, c, 0);
        else
            set_interest(s, c);
    }
}

/* ---- the services' view (struct app_io) -------------------------------------------------------- */

static int io_peek(void *t, struct iovec *iov, int max)
{
    struct sock_conn *c = t;

    if (!c->rx_len || max < 1)
        return 0;
    iov[0].iov_base = c->rx + c->rx_off;
    iov[0].iov_len = c->rx_len;
    return 1;
}

static void io_consume(void *t, size_t n)
{
    struct sock_conn *c = t;

    if (!c->rx)
        return;
    if (n > c->rx_len)
        n = c->rx_len;
    c->rx_off += (uint32_t)n;
    c->rx_len -= (uint32_t)n;
    if (!c->rx_len) {
        buf_put(c->owner, c->rx);
        c->rx = NULL;
        c->rx_off = 0;
    }
    set_interest(c->owner, c); /* reading may resume */
}

static bool io_eof(void *t)
{
    struct sock_conn *c = t;

    return c->peer_eof && !c->rx_len;
}

static uint8_t *io_reserve(void *t, size_t *room)
{
    struct sock_conn *c = t;
    uint32_t used;

    *room = 0;
    if (c->want_shutdown)
        return NULL;
    if (!c->tx) {
        c->tx = buf_get(c->owner);
        c->tx_off = c->tx_len = 0;
        if (!c->tx)
            return NULL;
    }
    if (c->tx_off && c->tx_off + c->tx_len == SOCK_BUF_SIZE) {
        memmove(c->tx, c->tx + c->tx_off, c->tx_len);
        c->tx_off = 0;
    }
    used = c->tx_off + c->tx_len;
    if (used == SOCK_BUF_SIZE) {
        c->want_writable = true;
        mark_dirty(c->owner, c);
        return NULL;
    }
    *room = SOCK_BUF_SIZE - used;
    return c->tx + used;
}

static void io_commit(void *t, size_t n)
{
    struct sock_conn *c = t;

    c->tx_len += (uint32_t)n;
    mark_dirty(c->owner, c);
}

static void io_shutdown(void *t)
{
    struct sock_conn *c = t;

    c->want_shutdown = true;
    mark_dirty(c->owner, c);
}

static void io_abort(void *t)
{
    struct sock_conn *c = t;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close() then sends RST */
    c->ac = NULL;
    if (!c->dirty)
        conn_free(c->owner, c);
    /* a dirty connection is freed when the flush reaches it (fd = -1 marks it) */
    else {
        close(c->fd);
        c->fd = -1;
    }
}

static size_t io_writable(void *t)
{
    struct sock_conn *c = t;

    if (c->want_shutdown)
        return 0;
    return SOCK_BUF_SIZE - c->tx_len; /* after the compaction reserve does */
}

static void io_want_writable(void *t)
{
    struct sock_conn *c = t;

    if (c->want_shutdown) /* nothing more can be written: no writable will come */
        return;
    c->want_writable = true;
    mark_dirty(c->owner, c); /* the flush calls writable once the buffer has drained */
}

static const struct app_io sock_io = {
    .peek = io_peek,
    .consume = io_consume,
    .eof = io_eof,
    .reserve = io_reserve,
    .commit = io_commit,
    .shutdown = io_shutdown,
    .abort = io_abort,
    .writable = io_writable,
    .want_writable = io_want_writable,
};

/* ---- accepting --------------------------------------------------------------------------------- */

static void accept_all(struct worker *w, int index)
{
    struct sock_worker *s = w->dp;

    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(s->listeners[index], (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC),
            one = 1;
        struct sock_conn *c;
        struct epoll_event ev;

        if (fd < 0)
            return; /* EAGAIN, or an aborted handshake: nothing to do */
        if (s->free_conn == CONN_NONE) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};

            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            s->stats.refused++;
            continue;
        }
        c = &s->conns[s->free_conn];
        s->free_conn = c->next;
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->owner = s;
        c->events = EPOLLIN;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)(c - s->conns);
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
            conn_free(s, c);
            continue;
        }
        c->ac = app_open(&w->apps, s->listen_ports[index], &sock_io, c);
        if (!c->ac) {
            io_abort(c);
            s->stats.refused++;
            continue;
        }
        if (peer.ss_family == AF_INET)
            app_set_peer(c->ac, AF_INET, &((struct sockaddr_in *)&peer)->sin_addr);
        else if (peer.ss_family == AF_INET6)
            app_set_peer(c->ac, AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr);
        SLUICE_PROBE_CONN_ACCEPT(w->index, app_conn_id(c->ac), "socket", s->listen_ports[index], c->ac->peer);
        s->stats.accepted++;
    }
}

/* ---- the loop ---------------------------------------------------------------------------------- */

static void flush_dirty(struct worker *w)
{
    struct sock_worker *s = w->dp;

    while (s->dirty != CONN_NONE) {
        struct sock_conn *c = &s->conns[s->dirty];

        s->dirty = c->next;
        c->dirty = false;
        if (c->fd < 0) { /* reset by the service while dirty */
            c->next = s->free_conn;
            s->free_conn = (uint32_t)(c - s->conns);
            if (c->rx)
                buf_put(s, c->rx);
            if (c->tx)
                buf_put(s, c->tx);
            c->rx = c->tx = NULL;
            continue;
        }
        conn_flush(w, c);
    }
}

/* The thread body (datapath_ops.worker_run). */
static void *sock_worker_run(void *arg)
{
    struct worker *w = arg;
    struct sock_worker *s = w->dp;
    struct epoll_event events[EVENTS_BATCH];
    bool stop;

    for (;;) {
        int n = epoll_wait(s->epfd, events, EVENTS_BATCH, w->srv->cfg.busy_poll ? 0 : MAX_SLEEP_MS);
        /* the loop's one clock read, after the wait: the batch's requests start at it (their durations,
         * server/http/latency.h), and the tick below runs at it */
        uint64_t now = worker_now_ns();

        w->apps.now_ns = now;
        w->loops++;
        if (n == 0)
            w->polls++;
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            struct sock_conn *c;

            if (tag & LISTENER_TAG) {
                accept_all(w, (int)(tag & ~LISTENER_TAG));
                continue;
            }
            if (tag == OFFLOAD_TAG) {
                worker_offload_woken(w);
                continue;
            }
            c = &s->conns[tag];
            if (c->fd < 0 || !c->ac)
                continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(w, c);
            if (c->fd >= 0 && c->ac && (events[i].events & EPOLLOUT))
                conn_flush(w, c);
        }
        worker_reap_offloaded(w);
        /* the tick may answer (a gRPC deadline): flushed now, not after the next wait */
        stop = worker_tick(w, now);
        app_table_flush(&w->apps);
        flush_dirty(w);
        if (stop)
            break;
    }
    return NULL;
}

/* ---- set-up and tear-down ---------------------------------------------------------------------- */

static int listen_on(uint16_t port, struct err *e)
{
    struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), zero = 0, one = 1;

    if (fd < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create a listening socket for port %u", port);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4096)) {
        int errnum = errno;

        close(fd);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot listen on port %u", port);
    }
    return fd;
}

/* The datapath has no server-wide state, and no settings of its own. Listeners taken over for a
 * port this generation does not serve are closed: it serves them no more. */
static int sock_server_init(struct server *srv, const void *cfg, struct err *e)
{
    struct listen_fds *in = &srv->cfg.inherit;

    (void)cfg, (void)e;
    for (int i = 0; i < in->n; i++) {
        bool served = false;

        for (int k = 0; k < srv->cfg.nservices; k++)
            served = served || srv->cfg.services[k].port == in->port[i];
        if (!served) {
            close(in->fd[i]);
            in->fd[i] = -1;
        }
    }
    return 0;
}

static int add_listener(struct worker *w, struct sock_worker *s, int fd, uint16_t port, struct err *e)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER_TAG | (uint64_t)s->nlisteners};

    if (s->nlisteners == SOCK_MAX_LISTENERS) {
        close(fd);
        return ERR(e, EXIT_STATUS_USAGE, 0, "worker %u: more than %d listening sockets", w->index,
                   SOCK_MAX_LISTENERS);
    }
    s->listeners[s->nlisteners] = fd;
    s->listen_ports[s->nlisteners++] = port;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: epoll_ctl", w->index);
    return 0;
}

/*
 * A service's listeners on this worker: the taken-over sockets of its port, shared out between the
 * workers (the k-th to worker k mod nworkers), so that every one of them is served; a worker left
 * without one gets its own, which joins the port's SO_REUSEPORT group.
 */
static int listen_service(struct worker *w, struct sock_worker *s, uint16_t port, struct err *e)
{
    const struct listen_fds *in = &w->srv->cfg.inherit;
    bool have = false;
    int fd;

    for (int i = 0, k = 0; i < in->n; i++) {
        if (in->fd[i] < 0 || in->port[i] != port)
            continue;
        if ((uint32_t)k++ % w->srv->cfg.nworkers == w->index) {
            if (add_listener(w, s, in->fd[i], port, e))
                return -1;
            have = true;
        }
    }
    if (have)
        return 0;
    fd = listen_on(port, e);
    return fd < 0 ? -1 : add_listener(w, s, fd, port, e);
}

static int sock_worker_init(struct worker *w, struct err *e)
{
    struct sock_worker *s = calloc(1, sizeof(*s));
    const struct server_config *cfg = &w->srv->cfg;

    if (!s)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "worker %u: cannot allocate its socket state", w->index);
    w->dp = s;
    s->dirty = CONN_NONE;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: epoll_create1", w->index);
    if (w->offload_fd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, w->offload_fd,
                                        &(struct epoll_event){.events = EPOLLIN, .data.u64 = OFFLOAD_TAG}))
        return ERR(e, EXIT_STATUS_FAILURE, errno, "worker %u: epoll_ctl", w->index);
    s->max_conns = cfg->tcp.max_conns;
    s->conns = calloc(s->max_conns, sizeof(*s->conns));
    if (!s->conns)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "worker %u: %u connection slots", w->index, s->max_conns);
    for (uint32_t i = 0; i < s->max_conns; i++) {
        s->conns[i].fd = -1;
        s->conns[i].next = i + 1 < s->max_conns ? i + 1 : CONN_NONE;
    }
    s->free_conn = 0;
    for (int i = 0; i < cfg->nservices; i++)
        if (listen_service(w, s, cfg->services[i].port, e))
            return -1;
    return 0;
}

static int sock_listeners(struct server *srv, struct listen_fds *out)
{
    out->n = 0;
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {
        const struct sock_worker *s = srv->workers[i].dp;

        for (int k = 0; k < s->nlisteners; k++) {
            if (out->n == SERVER_MAX_INHERITED)
                return -1;
            out->fd[out->n] = s->listeners[k];
            out->port[out->n++] = s->listen_ports[k];
        }
    }
    return out->n;
}

/*
 * Close the listeners (the drain on stop, the hand-over): new connections go to the workers still
 * listening. A socket handed to a new generation stays open there, and epoll forgets a socket only
 * once it is closed everywhere: it is taken out of the set first, or it would keep waking this worker.
 */
static void sock_worker_stop_listening(struct worker *w)
{
    struct sock_worker *s = w->dp;

    for (int i = 0; i < s->nlisteners; i++) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listeners[i], NULL);
        close(s->listeners[i]);
    }
    s->nlisteners = 0;
}

static void sock_describe(struct server *srv, char *buf, size_t len)
{
    (void)srv;
    snprintf(buf, len, "kernel sockets (SO_REUSEPORT listeners)");
}

static void sock_worker_print_stats(struct worker *w, FILE *out)
{
    struct sock_worker *s = w->dp;

#define PRINT(name, help)                                                                                    \
    if (s->stats.name)                                                                                       \
        fprintf(out, "  sock_%-23s %llu\n", #name, (unsigned long long)s->stats.name);
    SOCK_WORKER_COUNTERS(PRINT)
#undef PRINT
}

/* Every worker's counters (read while the workers run: see server_metrics.c). */
static void sock_write_metrics(struct server *srv, const struct metrics_sink *sink)
{
#define SOCK_METRIC(name, help)                                                                              \
    sink->family(sink->ctx, "sluice_sock_" #name "_total", "counter", help);                                 \
    for (uint32_t i = 0; i < srv->cfg.nworkers; i++) {                                                       \
        struct sock_worker *s = srv->workers[i].dp;                                                          \
        sink->sample(sink->ctx, "sluice_sock_" #name "_total", i,                                            \
                     __atomic_load_n(&s->stats.name, __ATOMIC_RELAXED));                                     \
    }
    SOCK_WORKER_COUNTERS(SOCK_METRIC)
#undef SOCK_METRIC
}

static void sock_worker_release(struct worker *w)
{
    struct sock_worker *s = w->dp;

    if (!s)
        return;
    sock_worker_stop_listening(w);
    /* connections still open after the drain: their services release what they hold */
    for (uint32_t i = 0; s->conns && i < s->max_conns; i++)
        if (s->conns[i].fd >= 0) {
            struct app_conn *ac = s->conns[i].ac;

            conn_free(s, &s->conns[i]);
            if (ac)
                app_closed(&w->apps, ac, ECONNABORTED);
        }
    while (s->free_bufs) {
        uint8_t *b = s->free_bufs;

        memcpy(&s->free_bufs, b, sizeof(void *));
        free(b);
    }
    free(s->conns);
    if (s->epfd > 0)
        close(s->epfd);
    free(s);
    w->dp = NULL;
}

static void sock_server_release(struct server *srv)
{
    (void)srv;
}

const struct datapath_ops sock_datapath = {
    .name = "socket",
    .server_init = sock_server_init,
    .worker_init = sock_worker_init,
    .server_ready = NULL,
    .worker_run = sock_worker_run,
    .worker_stop_listening = sock_worker_stop_listening,
    .listeners = sock_listeners,
    .describe = sock_describe,
    .worker_print_stats = sock_worker_print_stats,
    .write_metrics = sock_write_metrics,
    .server_verify = NULL,
    .worker_release = sock_worker_release,
    .server_release = sock_server_release,
};
