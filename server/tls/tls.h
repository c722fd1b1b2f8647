/*
 * tls.h — TLS 1.3 and 1.2 (OpenSSL) between a service and its transport, on either datapath.
 *
 * A service with a TLS port ([tls] port, --https) is an app_service whose layer is tls_layer
 * (app.h): the connection's datapath transport carries records, the service reads and writes
 * plaintext through the layer's app_io. The per-connection part (tls_conn.c) drives OpenSSL's
 * handshake over a BIO of its own on the transport, then seals and opens the records itself
 * (tls_record.c) straight between the transport's buffers and the plaintext the service reads and
 * writes. The process-wide part (tls_context.c) holds the certificates chosen by SNI,
 * ALPN, protocol and cipher settings, 0-RTT and the session ticket keys (tls_ticket.c); SIGHUP
 * reloads the certificates (tls_server_reload) while connections go on.
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdint.h>
#include <stdio.h>

#include "app/app.h"
#include "common/err.h"

#define TLS_MAX_SNI                      16
#define TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define TLS_TICKET_ROTATE_HOURS_DEFAULT  12
#define TLS_MAX_EARLY_DATA_LIMIT                                                                             \
    16384 /* one plaintext buffer: early data is read whole before the handshake ends */
#define TLS_SMALL_RECORD               1300 /* records while a connection starts: each fits one segment */
#define TLS_SMALL_RECORD_BYTES_DEFAULT (64u << 10) /* then full 16 KiB records */

enum tls_min_version { TLS_MIN_TLS12, TLS_MIN_TLS13 }; /* [tls] min_version's choices, in order */

struct tls_sni_cert {
    const char *name; /* host name, or *.domain */
    const char *cert; /* PEM chain */
    const char *key;  /* PEM private key */
};

struct tls_config {
    uint16_t port;          /* 0: no TLS service */
    const char *cert, *key; /* the default pair: every SNI without its own, or none */
    struct tls_sni_cert sni[TLS_MAX_SNI];
    uint32_t nsni;
    enum tls_min_version min_version;
    const char *ciphersuites;     /* TLS 1.3 suites, OpenSSL's syntax; NULL: OpenSSL's default */
    const char *ciphers;          /* TLS 1.2 cipher list; NULL: a forward-secret AEAD list */
    const char *groups;           /* key exchange groups; NULL: X25519:P-256:P-384 */
    const char *ticket_key_file;  /* shared with the other workers and the next process; NULL: in memory */
    uint32_t ticket_rotate_hours; /* a new key this often; tickets live twice as long */
    uint32_t max_early_data;      /* 0-RTT bytes accepted; 0: no early data */
    uint32_t handshake_timeout_ms;
    uint32_t small_record_bytes; /* bytes sent in TLS_SMALL_RECORD records before full ones */
};

void tls_config_default(struct tls_config *cfg);

#define TLS_COUNTERS(X)                                                                                      \
    X(handshakes, "TLS handshakes completed")                                                                \
    X(resumed, "TLS handshakes that resumed a session from a ticket")                                        \
    X(tls13, "TLS handshakes that agreed TLS 1.3")                                                           \
    X(tls12, "TLS handshakes that agreed TLS 1.2")                                                           \
    X(alpn_h2, "TLS connections whose ALPN chose h2")                                                        \
    X(alpn_http11, "TLS connections whose ALPN chose http/1.1")                                              \
    X(alpn_none, "TLS connections without ALPN")                                                             \
    X(early_accepted, "TLS connections whose 0-RTT early data was accepted")                                 \
    X(early_rejected, "TLS connections that offered 0-RTT early data and were refused it")                   \
    X(early_replayed, "0-RTT attempts refused: their ClientHello was seen before (replay window)")           \
    X(early_bytes, "bytes of 0-RTT early data handed to services")                                           \
    X(fail_not_tls, "handshakes failed: the first bytes are not a TLS handshake record")                     \
    X(fail_malformed, "handshakes failed: a malformed or oversized handshake message")                       \
    X(fail_protocol, "handshakes failed: no protocol version in common")                                     \
    X(fail_cipher, "handshakes failed: no cipher suite, group or signature algorithm in common")             \
    X(fail_sni, "handshakes failed: a server name with no certificate and no default")                       \
    X(fail_alpn, "handshakes failed: ALPN offered only protocols we do not speak")                           \
    X(fail_alert, "handshakes failed: the client sent an alert")                                             \
    X(fail_other, "handshakes failed for another reason")                                                    \
    X(fail_eof, "connections closed by the client before the handshake finished")                            \
    X(alerts_sent, "TLS alerts sent")                                                                        \
    X(own_records, "TLS connections whose records sluice seals and opens itself after the handshake")        \
    X(gathered_records,                                                                                      \
      "TLS records that came in more pieces than one look shows (tiny segments), gathered with a copy")      \
    X(key_updates, "TLS 1.3 KeyUpdate messages from clients")                                                \
    X(close_notify_received, "TLS close_notify alerts received")                                             \
    X(bad_records, "TLS connections ended after the handshake: a record failed to decrypt or parse")

struct tls_stats {
#define TLS_STATS_FIELD(name, help) uint64_t name;
    TLS_COUNTERS(TLS_STATS_FIELD)
#undef TLS_STATS_FIELD
};

/* The process's TLS: contexts, certificates, ticket keys. Workers share it read-only (the ticket
 * keys and the contexts swapped by a reload are reference-counted by OpenSSL). */
struct tls_server;

struct tls_server *tls_server_new(const struct tls_config *cfg, struct err *e);
void tls_server_free(struct tls_server *s);
/* SIGHUP: read the certificates and keys again; on any error the old ones stay and e says why. */
int tls_server_reload(struct tls_server *s, struct err *e);
/* The main thread's periodic call: rotate the ticket keys when their time is up. */
int tls_server_tick(struct tls_server *s, struct err *e);

/* The app_layer of a TLS service: its layer_config is a struct tls_server. */
extern const struct app_layer tls_layer;

/* A worker's counters (the layer's state for that worker; NULL gives NULL). */
const struct tls_stats *tls_worker_stats(const void *layer_state);

#endif
