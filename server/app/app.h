/*
 * app.h — applications over a byte stream, whichever datapath carries it.
 *
 * A service sees its connection through struct app_io: read where the bytes lie (peek/consume),
 * write in place (reserve/commit) or by copying (app_write), half-close (shutdown) or reset
 * (abort). The TCP engine over AF_XDP (server/app/tcp_io.c) and kernel sockets (server/sock/)
 * both provide it, so the same service code runs on both and the benchmarks compare datapaths,
 * not applications.
 *
 * Services: http (server/http/: HTTP/2 and HTTP/1.1 with the compiled router and handlers), and
 * built-in ones that prove the datapath:
 *   echo    every byte read is written back; the FIN is echoed once everything was
 *   sink    everything read is hashed; at the client's FIN the 32-byte SHA-256 goes back, then FIN
 *   source  the client sends 16 bytes (big-endian length N, seed); N bytes of the deterministic
 *           stream (common/stream.h) for that seed come back, then FIN
 *
 * An app_table is one worker's set of services and its preallocated connection slots: serving a
 * connection allocates nothing after a slot's first use.
 */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define APP_MAX_SERVICES 8

/* Lingering close (nginx's lingering_time): once a service has shut its side, what the client
 * still sends is read and thrown away, so the client sees the response and our FIN instead of a
 * reset, for at most this long and this many bytes; then the connection is reset. Settings
 * [server] linger_ms and linger_max_bytes. */
#define APP_LINGER_MS_DEFAULT        5000
#define APP_LINGER_MAX_BYTES_DEFAULT (4u << 20)

/* Send timeout (nginx's send_timeout): a service with output it cannot send (the transport is full,
 * or the peer's flow-control window is closed) that makes no progress for this long is reset.
 * [server] send_timeout_ms. */
#define APP_SEND_TIMEOUT_MS_DEFAULT 30000

struct app_io {
    int (*peek)(void *transport, struct iovec *iov, int max);
    void (*consume)(void *transport, size_t n);
    bool (*eof)(void *transport);
    uint8_t *(*reserve)(void *transport, size_t *room); /* NULL: no room now, writable follows */
    void (*commit)(void *transport, size_t n);
    void (*shutdown)(void *transport);
    void (*abort)(void *transport);         /* reset; the transport calls no app_closed for it */
    size_t (*writable)(void *transport);    /* bytes reserve/commit would take now */
    void (*want_writable)(void *transport); /* call the service's writable when room opens */
};

/*
 * A layer between a service and the datapath's transport (TLS, server/tls/): for a service that
 * names one, app_open lets the layer wrap the connection, so the service reads and writes through
 * the layer's app_io while the datapath keeps calling app_readable/app_writable/app_closed with
 * the same app_conn. The layer hears of them first: its readable and writable return false when
 * the service has nothing to hear yet (a handshake in progress).
 */
struct app_conn;

struct app_layer {
    const char *name;
    /* A worker's state for the layer, from the service's layer_config; NULL with errno on failure. */
    void *(*worker_new)(const void *layer_config, uint32_t nslots);
    void (*worker_free)(void *state);
    /* Wrap ac (its io and transport are the datapath's): nonzero refuses the connection. */
    int (*open)(void *state, struct app_conn *ac);
    bool (*readable)(struct app_conn *ac);
    /* After the service's readable: true when it has more to read that no readable would announce
     * (bytes the layer holds itself); the service is called again, a bounded number of times. */
    bool (*readable_again)(struct app_conn *ac);
    bool (*writable)(struct app_conn *ac);
    void (*closed)(struct app_conn *ac); /* after the service's closed: release the connection's state */
    /* The datapath is about to transmit: what the services wrote since is put on its transports (TLS
     * gathers a batch's small writes into whole records). */
    void (*flush)(void *state);
};

/* What the layer agreed with the client that the service must know (TLS's ALPN). */
enum app_alpn { APP_ALPN_NONE, APP_ALPN_H2, APP_ALPN_HTTP11 };

struct app_service {
    uint16_t port;
    const struct app_ops *ops;
    const struct app_layer *layer; /* NULL: the service reads the datapath's transport itself */
    const void *layer_config;
};

struct app_conn {
    const struct app_io *io;
    void *transport;
    const struct app_ops *ops;
    struct app_table *table;
    bool shut; /* our FIN is queued: the rest of the input is discarded (lingering close) */
    uint8_t header_len;
    uint8_t header[16];
    uint64_t total; /* source: bytes to send */
    uint64_t done;  /* source: bytes sent; sink: bytes hashed */
    uint64_t seed;
    void *md;    /* sink: a hash context, kept by the slot across connections */
    void *proto; /* http: the connection's protocol state */
    uint32_t next_free;
    /* on one of the table's deadline lists (handshaking, stalled, then lingering once shut), oldest first */
    uint32_t deadline_prev, deadline_next;
    uint64_t deadline_ns;
    bool stalled; /* on the stalled list: output waits with no progress since deadline_ns - send timeout */
    bool handshaking;  /* on the handshaking list: its layer's handshake has not finished (no stall counts) */
    uint8_t peer[16];  /* the client's address, IPv4 mapped into IPv6 (::ffff:a.b.c.d); zero if unknown */
    uint64_t lingered; /* bytes discarded since the shutdown */
    const struct app_layer *layer; /* the service's layer, when it has one */
    void *layer_conn;              /* the layer's state of this connection */
    enum app_alpn alpn;            /* set by the layer before the service reads a byte */
    bool early; /* the bytes the service reads now came before the client's handshake finished
                   (TLS 0-RTT early data): they may be a replay */
};

struct app_ops {
    const char *name;
    void (*open)(struct app_conn *ac);
    void (*readable)(struct app_conn *ac);
    void (*writable)(struct app_conn *ac);
    void (*closed)(struct app_conn *ac, int error); /* the transport is gone */
    void (*drain)(struct app_conn *ac);             /* the server stops: finish what is in flight, then close;
                                                       NULL: app_shutdown at once */
    void (*ready)(struct app_conn *ac); /* its layer's handshake is done (TLS: ac->alpn is set): the
                                           service's own deadlines may start; NULL: nothing to do */
};

#define APP_COUNTERS(X)                                                                                      \
    X(accepted, "connections accepted by a service")                                                         \
    X(refused, "connections refused: no service on the port or no free slot")                                \
    X(closed_ok, "connections that ended in an orderly close")                                               \
    X(closed_reset, "connections the peer reset (ECONNRESET)")                                               \
    X(closed_timeout, "connections that timed out (ETIMEDOUT)")                                              \
    X(closed_aborted, "connections aborted here (ECONNABORTED)")                                             \
    X(closed_other_error, "connections that ended on another socket error")                                  \
    X(lingered, "connections shut by their service while the client still sent: input read and discarded")   \
    X(linger_bytes, "bytes read and discarded after the service shut the connection")                        \
    X(linger_timeout, "lingering connections reset: the client neither closed nor stopped in linger_ms")     \
    X(linger_limit, "lingering connections reset: the client sent more than linger_max_bytes")               \
    X(send_timeout, "connections reset: output waited send_timeout_ms without progress")                     \
    X(handshake_timeout, "connections reset: their layer's handshake (TLS) did not finish in time")

struct app_stats {
#define APP_STATS_FIELD(name, help) uint64_t name;
    APP_COUNTERS(APP_STATS_FIELD)
#undef APP_STATS_FIELD
};

/* Connections that all wait as long (linger_ms, send_timeout_ms): appending keeps a list in
 * deadline order, and the expiry looks only at its head. */
struct app_deadlines {
    uint32_t head, tail;
    uint64_t ns; /* how long each waits */
};

struct app_table {
    struct app_conn *slots;
    uint32_t nslots;
    uint32_t free_head;
    uint32_t open;
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
    struct http_worker *http; /* the worker's HTTP layer, when it serves HTTP */
    uint32_t worker;          /* the worker's index, for the probes (common/probes.h) */
    uint64_t now_ns;          /* the worker loop's clock: set when the loop wakes, and by app_table_expire */
    uint64_t linger_max_bytes;
    struct app_deadlines lingering;      /* shut connections, in the order of their deadlines */
    struct app_deadlines stalled;        /* connections whose output waits, likewise */
    struct app_deadlines handshaking;    /* connections whose layer has not finished its handshake */
    void *layer_state[APP_MAX_SERVICES]; /* each service's layer's state for this worker */
    struct app_stats stats;
};

int app_table_init(struct app_table *t, uint32_t nslots, const struct app_service *services, int nservices);
void app_table_destroy(struct app_table *t);
/* The worker's clock moved to now: reset the lingering, stalled and handshaking connections whose
 * time is up. */
void app_table_expire(struct app_table *t, uint64_t now);

/* Before the datapath transmits a batch (and at the end of worker_tick): the layers put what the
 * services wrote on the transports. */
void app_table_flush(struct app_table *t);

/* A new connection on local port; NULL when no service runs there or no slot is free. */
struct app_conn *app_open(struct app_table *t, uint16_t port, const struct app_io *io, void *transport);
/* The client's address (AF_INET: 4 bytes, AF_INET6: 16), set by the datapath right after app_open:
 * services key per-source budgets on it. */
void app_set_peer(struct app_conn *ac, int family, const void *addr);
void app_readable(struct app_conn *ac);
void app_writable(struct app_conn *ac);
/* The transport is gone (0 after an orderly close, an errno otherwise): the slot is free again. */
void app_closed(struct app_table *t, struct app_conn *ac, int error);

/* Finish with a FIN once; what the peer still sends is discarded until its FIN, within the
 * table's lingering bounds. The service hears no readable after it, only closed. */
void app_shutdown(struct app_conn *ac);
/* Copy len bytes into the transport's send buffers; returns how many fit. */
size_t app_write(struct app_conn *ac, const void *data, size_t len);
/* The service tells whether output waits that it cannot send now (the transport is full, or the
 * peer's flow-control window is closed), and whether it sent some since it last said so: output
 * that waits send_timeout with no progress resets the connection (counted send_timeout). */
void app_output_waits(struct app_conn *ac, bool waits, bool progressed);
/* A layer's handshake started (bounded by timeout_ms, the same for all of the table's connections)
 * or finished (the service hears its ready). */
void app_handshake_started(struct app_conn *ac, uint32_t timeout_ms);
void app_handshake_done(struct app_conn *ac);

static inline int app_peek(struct app_conn *ac, struct iovec *iov, int max)
{
    return ac->io->peek(ac->transport, iov, max);
}

static inline void app_consume(struct app_conn *ac, size_t n)
{
    ac->io->consume(ac->transport, n);
}

static inline bool app_eof(struct app_conn *ac)
{
    return ac->io->eof(ac->transport);
}

static inline uint8_t *app_reserve(struct app_conn *ac, size_t *room)
{
    return ac->io->reserve(ac->transport, room);
}

static inline void app_commit(struct app_conn *ac, size_t n)
{
    ac->io->commit(ac->transport, n);
}

/* The connection's slot in its table: with the table's worker, what names it in the probes. */
static inline uint32_t app_conn_id(const struct app_conn *ac)
{
    return (uint32_t)(ac - ac->table->slots);
}

/* Reset the connection; the slot is free again at once. */
void app_abort(struct app_conn *ac);

/* How much the transport would take now. */
static inline size_t app_writable_bytes(struct app_conn *ac)
{
    return ac->io->writable(ac->transport);
}

static inline void app_want_writable(struct app_conn *ac)
{
    ac->io->want_writable(ac->transport);
}

extern const struct app_ops app_echo_ops;
extern const struct app_ops app_sink_ops;
extern const struct app_ops app_source_ops;
extern const struct app_ops app_http_ops; /* server/http/ */

#endif
