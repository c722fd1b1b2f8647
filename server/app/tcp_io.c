/*
 * tcp_io.c — the services over sluice's TCP engine: the engine's callbacks land in the worker's
 * app_table, and struct app_io maps onto the engine's zero-copy calls (tcp.h).
 */
#include "app/tcp_io.h"

#include <errno.h>
#include <sys/socket.h>

#include "common/probes.h"

static int tcp_io_peek(void *t, struct iovec *iov, int max)
{
    return tcp_peek(t, iov, max);
}

static void tcp_io_consume(void *t, size_t n)
{
    tcp_consume(t, n);
}

static bool tcp_io_eof(void *t)
{
    return tcp_eof(t);
}

static uint8_t *tcp_io_reserve(void *t, size_t *room)
{
    return tcp_write_reserve(t, room);
}

static void tcp_io_commit(void *t, size_t n)
{
    tcp_write_commit(t, n);
}

static void tcp_io_shutdown(void *t)
{
    tcp_shutdown(t);
}

static void tcp_io_abort(void *t)
{
    tcp_abort(t);
}

static size_t tcp_io_writable(void *t)
{
    return tcp_writable(t);
}

static void tcp_io_want_writable(void *t)
{
    tcp_want_writable(t);
}

static const struct app_io tcp_io = {
    .peek = tcp_io_peek,
    .consume = tcp_io_consume,
    .eof = tcp_io_eof,
    .reserve = tcp_io_reserve,
    .commit = tcp_io_commit,
    .shutdown = tcp_io_shutdown,
    .abort = tcp_io_abort,
    .writable = tcp_io_writable,
    .want_writable = tcp_io_want_writable,
};

static void *on_accept(void *ctx, struct tcp_conn *c)
{
    const struct pkt_tuple *t = tcp_conn_tuple(c);
    struct app_conn *ac = app_open(ctx, t->lport, &tcp_io, c);

    if (ac) {
        app_set_peer(ac, t->family == PKT_IPV4 ? AF_INET : AF_INET6, t->raddr);
        SLUICE_PROBE_CONN_ACCEPT(ac->table->worker, app_conn_id(ac), "xdp", t->lport, ac->peer);
    }
    return ac;
}

static void on_readable(void *ctx, struct tcp_conn *c)
{
    (void)ctx;
    app_readable(tcp_conn_user(c));
}

static void on_writable(void *ctx, struct tcp_conn *c)
{
    (void)ctx;
    app_writable(tcp_conn_user(c));
}

static void on_closed(void *ctx, struct tcp_conn *c, int error)
{
    app_closed(ctx, tcp_conn_user(c), error);
}

const struct tcp_callbacks app_tcp_callbacks = {on_accept, on_readable, on_writable, on_closed};
