/*
 * probes.h — sluice's USDT probes (provider `sluice`), every one of them, declared here and nowhere
 * else (h2o's h2o-probes.d). bpftrace, perf and SystemTap attach to them in a running server, or in an
 * app linked with libsluice, without a rebuild:
 *
 *     bpftrace -l 'usdt:/usr/local/bin/sluice-server:sluice:*'
 *     bpftrace -e 'usdt:/usr/local/bin/sluice-server:sluice:request_end { @[str(arg1)] = hist(arg5); }'
 *
 * Each probe has a semaphore (sys/sdt.h's _SDT_HAS_SEMAPHORES): the kernel counts the tracers
 * attached in it, and each macro below tests it first, so with none attached a probe costs a load
 * and a branch not taken, and its arguments are not even computed. The semaphores are defined in
 * common/probes.c.
 *
 * Conventions of the arguments: worker is the worker's index (the `worker` label of /metrics); conn
 * is the connection's slot in its worker's app_table, so (worker, conn) names a connection from
 * conn_accept to conn_close; strings are NUL-terminated (str(argN)) and valid during the probe only.
 * No probe has more than 6 arguments: Debian 12's bpftrace (0.17) reads no further than arg5 on x86-64.
 */
#ifndef SLUICE_COMMON_PROBES_H
#define SLUICE_COMMON_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC    1
#include <sys/sdt.h>

/* Every probe's name, for the semaphores' declarations here and definitions in probes.c. */
#define SLUICE_PROBE_NAMES(X)                                                                                \
    X(conn_accept)                                                                                           \
    X(conn_close)                                                                                            \
    X(handoff)                                                                                               \
    X(handoff_done)                                                                                          \
    X(request_start)                                                                                         \
    X(request_end)                                                                                           \
    X(tls_handshake_done)                                                                                    \
    X(overload)

#define SLUICE_PROBE_SEMAPHORE_DECLARE(name)                                                                 \
    extern __attribute__((visibility("hidden"))) unsigned short sluice_##name##_semaphore;
SLUICE_PROBE_NAMES(SLUICE_PROBE_SEMAPHORE_DECLARE)
#undef SLUICE_PROBE_SEMAPHORE_DECLARE

/* True while a tracer is attached to the probe: arguments that cost something are computed only then. */
#define SLUICE_PROBE_ENABLED(name) __builtin_expect(sluice_##name##_semaphore != 0, 0)

#define SLUICE_PROBE(name, ...)                                                                              \
    do {                                                                                                     \
        if (SLUICE_PROBE_ENABLED(name))                                                                      \
            STAP_PROBEV(sluice, name, __VA_ARGS__);                                                          \
    } while (0)

/* conn_accept: a service took a new connection (its slot and peer address are set; connections a
 * datapath refused never fire it). Fires on the worker that serves the connection: over AF_XDP,
 * after the steering hand-off if there was one. Arguments: worker (u32), conn (u32), datapath (char *:
 * "xdp" or "socket"), local port (u16), peer address (u8[16]: IPv6, IPv4 as ::ffff:a.b.c.d). */
#define SLUICE_PROBE_CONN_ACCEPT(worker, conn, datapath, port, peer)                                         \
    SLUICE_PROBE(conn_accept, worker, conn, datapath, port, peer)

/* conn_close: a connection conn_accept announced is gone, however it ended; its slot is free after.
 * Arguments: worker (u32), conn (u32), error (int: 0 orderly close, else an errno: ECONNRESET the peer
 * reset it, ETIMEDOUT it timed out, ECONNABORTED it was aborted here). */
#define SLUICE_PROBE_CONN_CLOSE(worker, conn, error) SLUICE_PROBE(conn_close, worker, conn, error)

/* handoff: AF_XDP steering moved a connection to the worker its route names (its TCB is in the target's
 * inbox; no application has seen it yet). Fires on the worker it leaves. Arguments: from (u32), to (u32),
 * peer port (u16, host order), local port (u16). */
#define SLUICE_PROBE_HANDOFF(from, to, rport, lport) SLUICE_PROBE(handoff, from, to, rport, lport)

/* handoff_done: the target worker took in a moved connection. Arguments: worker (u32), latency (u64:
 * nanoseconds from the export to the import), peer port (u16), local port (u16). */
#define SLUICE_PROBE_HANDOFF_DONE(worker, latency_ns, rport, lport)                                          \
    SLUICE_PROBE(handoff_done, worker, latency_ns, rport, lport)

/* The longest path a request probe carries: a request's path is copied, NUL-terminated and cut to
 * this, only while a tracer is attached (bpftrace's own strings stop at 64 bytes unless told more). */
#define SLUICE_PROBE_PATH_MAX 256

/* request_start: a complete request head was routed to the HTTP layer's dispatch, before any limit or
 * handler ran. Arguments: worker (u32), conn (u32), stream (i32: HTTP/2 stream id, 0 for HTTP/1.1),
 * method (char *), path (char *, without the query), HTTP version (int: 11 or 20). */
#define SLUICE_PROBE_REQUEST_START(worker, conn, stream, method, path, version)                              \
    SLUICE_PROBE(request_start, worker, conn, stream, method, path, version)

/* request_end: a request request_start announced is over: its answer went out whole, or the stream or
 * connection ended first. Arguments: worker (u32), route (char *: the routes file's "METHODS pattern",
 * or "none" when no route ran: 404, 405, 425, 429), method (char *), path (char *), status (int: 0 when
 * no answer was sent), duration (u64: nanoseconds since the request's head came, on the worker loop's
 * clock, read once per loop iteration: 0 for a request answered in the iteration that brought it; the
 * access log's duration). */
#define SLUICE_PROBE_REQUEST_END(worker, route, method, path, status, duration_ns)                           \
    SLUICE_PROBE(request_end, worker, route, method, path, status, duration_ns)

/* tls_handshake_done: a TLS handshake finished; the service reads next. Arguments: worker (u32), conn
 * (u32), version (char *: "TLSv1.3", "TLSv1.2"), resumed (int: 1 for a resumed session), ALPN (char *:
 * "h2", "http/1.1" or ""), early data accepted (int: 1 when 0-RTT data was accepted). */
#define SLUICE_PROBE_TLS_HANDSHAKE_DONE(worker, conn, version, resumed, alpn, early)                         \
    SLUICE_PROBE(tls_handshake_done, worker, conn, version, resumed, alpn, early)

/* overload: the server refused a request to protect itself; the client hears the status. Arguments:
 * worker (u32), conn (u32), stream (i32), reason (char *: "offload_shed" the offload pool's queue was
 * full, 503; "breaker_open" the route's breaker is open, 503; "rate_limited" the client is over
 * rate_limit_rps, 429), route (char *: as request_end's), status (int). */
#define SLUICE_PROBE_OVERLOAD(worker, conn, stream, reason, route, status)                                   \
    SLUICE_PROBE(overload, worker, conn, stream, reason, route, status)

#endif
