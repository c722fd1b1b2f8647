/*
 * app.h — the built-in TCP services that prove the datapath: echo, sink and source.
 *
 *   echo    every byte read is written back; the FIN is echoed once everything was
 *   sink    everything read is hashed; at the client's FIN the 32-byte SHA-256 goes back, then FIN
 *   source  the client sends 16 bytes (big-endian length N, seed); N bytes of the deterministic
 *           stream (common/stream.h) for that seed come back, then FIN
 *
 * An app_table is one worker's dispatcher: the engine's callbacks land here, find the service by
 * the connection's local port and keep per-connection state in a preallocated slot, so serving a
 * connection allocates nothing after a slot's first use. The HTTP/2 layer will sit on the same
 * callbacks.
 */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp.h"

#define APP_MAX_SERVICES 8

enum app_kind { APP_ECHO, APP_SINK, APP_SOURCE };

struct app_service {
    uint16_t port;
    enum app_kind kind;
};

struct app_conn {
    struct tcp_conn *tcp;
    const struct app_ops *ops;
    bool shut;        /* our FIN is queued */
    uint8_t header_len;
    uint8_t header[16];
    uint64_t total;   /* source: bytes to send */
    uint64_t done;    /* source: bytes sent; sink: bytes hashed */
    uint64_t seed;
    void *md;         /* sink: a hash context, kept by the slot across connections */
    uint32_t next_free;
};

struct app_ops {
    const char *name;
    void (*open)(struct app_conn *ac);
    void (*readable)(struct app_conn *ac);
    void (*writable)(struct app_conn *ac);
};

#define APP_COUNTERS(X)                                                                                      \
    X(accepted, "connections accepted by a service")                                                        \
    X(refused, "connections refused: no service on the port or no free slot")                                \
    X(closed_ok, "connections that ended in an orderly close")                                               \
    X(closed_error, "connections that ended by reset, timeout or abort")                                     \
    X(bytes_echoed, "bytes the echo service wrote back")                                                     \
    X(bytes_sunk, "bytes the sink service hashed")                                                           \
    X(bytes_sourced, "bytes the source service generated")

struct app_stats {
#define APP_STATS_FIELD(name, help) uint64_t name;
    APP_COUNTERS(APP_STATS_FIELD)
#undef APP_STATS_FIELD
};

struct app_table {
    struct app_conn *slots;
    uint32_t nslots;
    uint32_t free_head;
    uint32_t open;
    struct app_service services[APP_MAX_SERVICES];
    int nservices;
    struct app_stats stats;
};

int app_table_init(struct app_table *t, uint32_t nslots, const struct app_service *services, int nservices);
void app_table_destroy(struct app_table *t);

/* The engine callbacks; their ctx is the app_table. */
extern const struct tcp_callbacks app_callbacks;

extern const struct app_ops app_echo_ops;
extern const struct app_ops app_sink_ops;
extern const struct app_ops app_source_ops;

/* Shared by the services: finish with a FIN once, and close when the peer's FIN was read too. */
void app_shutdown(struct app_conn *ac);

#endif
