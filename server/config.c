/*
 * config.c — every sluice-server setting in one table: its config file section and key, its
 * command-line option (if it has one), its type, limits and help. The file is INI (Debian's
 * libinih); options on the command line override it. A wrong value, an unknown key or section and
 * a malformed line are each one error naming the file, line, section and key (or the option), and
 * the server does not start.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/args.h"
#include "log/access_format.h"

enum setting_kind {
    SET_U32, /* a number in [min, max]; pow2: a power of two */
    SET_U16,
    SET_BOOL,    /* true/false, yes/no, on/off, 1/0; as an option it takes no value and means true */
    SET_STRING,  /* kept in config.c's own storage */
    SET_CHOICE,  /* one of choices[], stored as its index into an enum */
    SET_CPUS,    /* comma-separated CPU numbers */
    SET_SERVICE, /* a port serving service */
    SET_SNI,     /* [tls] sni = NAME CERT KEY, one more certificate each time */
    SET_PATH,    /* a file, or '-' for standard output; empty: none */
    SET_FORMAT,  /* an access log format (log/access_format.h), checked as it is read */
};

struct setting {
    const char *section, *key;
    const char *option; /* NULL: config file only */
    const char *arg;    /* the value's name in --help */
    enum setting_kind kind;
    size_t offset; /* into struct config */
    uint32_t min, max;
    bool pow2;
    const char *const *choices;
    const struct app_ops *service;
    const char *help;
};

#define AT(field) offsetof(struct config, field)

static const char *const datapaths[] = {"xdp", "socket", NULL};          /* enum config_datapath */
static const char *const zerocopy_modes[] = {"auto", "on", "off", NULL}; /* enum xsk_zerocopy */
static const char *const h2_impls[] = {"native", "nghttp2", NULL};       /* enum http_h2 */
static const char *const tls_versions[] = {"TLSv1.2", "TLSv1.3", NULL};  /* enum tls_min_version */
static const char *const congestions[] = {"cubic", "newreno", NULL};     /* enum tcp_congestion */

static const struct setting settings[] = {
    {"server", "datapath", "datapath", "D", SET_CHOICE, AT(datapath), 0, 0, false, datapaths, NULL,
     "xdp (AF_XDP sockets on dev, default) or socket (kernel sockets)"},
    {"server", "dev", "dev", "DEVICE", SET_STRING, AT(xdp.ifname), 0, 0, false, NULL, NULL,
     "xdp: the device where `sluice-agent load` attached the steering program"},
    {"server", "workers", "workers", "N", SET_U32, AT(server.nworkers), 1, SLUICE_MAX_WORKERS, false, NULL,
     NULL, "worker threads (default: one per online CPU)"},
    {"server", "cpus", "cpus", "LIST", SET_CPUS, AT(server.cpus), 0, 0, false, NULL, NULL,
     "CPU of each worker, comma-separated (default: worker i on CPU i mod CPUs)"},
    {"server", "busy_poll", "busy-poll", NULL, SET_BOOL, AT(server.busy_poll), 0, 0, false, NULL, NULL,
     "spin instead of sleeping in poll()"},
    {"server", "poll_spin_us", "poll-spin-us", "US", SET_U32, AT(server.poll_spin_us), 0, 10000, false, NULL,
     NULL,
     "AF_XDP: before sleeping, spin up to this long for more packets, adapting to how often they come; "
     "0: never"},
    {"server", "drain_ms", "drain-ms", "MS", SET_U32, AT(server.drain_ms), 0, 600000, false, NULL, NULL,
     "on stop, how long open connections may take to finish"},
    {"server", "pid_file", "pid-file", "FILE", SET_STRING, AT(pid_file), 0, 0, false, NULL, NULL,
     "once ready, the server writes its pid there (and removes it on exit unless a newer generation's is "
     "there)"},
    {"server", "takeover", "takeover", NULL, SET_BOOL, AT(takeover), 0, 0, false, NULL, NULL,
     "take over from the server whose pid is in pid_file: serve its listening sockets (AF_XDP: share its "
     "UMEM and queues, on the other half of the worker slots, at most 32 workers), and once ready tell it to "
     "take no new connections and finish its open ones"},
    {"server", "shed_busy_pct", "shed-busy-pct", "PCT", SET_U32, AT(server.shed_busy_pct), 1, 100, false,
     NULL, NULL,
     "AF_XDP: a worker busy (not waiting for input) this share of its last 100 ms or more publishes "
     "overload, and XDP gives new connections to the others, or sheds their SYNs when all are; it clears "
     "10 points below; 100: never"},
    {"server", "syncookie_half_open", "syncookie-half-open", "N", SET_U32, AT(server.syncookie_half_open), 0,
     1u << 20, false, NULL, NULL,
     "AF_XDP: a worker with this many connections in SYN-RECEIVED or more publishes it, and XDP answers "
     "new SYNs for it with SYN cookies, so that a flood costs the worker nothing; at most max_half_open; "
     "0: never (a service can ask for cookies always: sluice-agent service add --syncookie)"},
    {"server", "linger_ms", "linger-ms", "MS", SET_U32, AT(server.linger_ms), 0, 600000, false, NULL, NULL,
     "after the server closes a connection, how long it reads and discards what the client still sends"},
    {"server", "linger_max_bytes", NULL, NULL, SET_U32, AT(server.linger_max_bytes), 0, 1u << 30, false, NULL,
     NULL, "after the server closes a connection, how many bytes it discards before a reset"},
    {"server", "send_timeout_ms", "send-timeout-ms", "MS", SET_U32, AT(server.send_timeout_ms), 0, 3600000,
     false, NULL, NULL,
     "how long output may wait on a client that reads nothing (or opens no window) before a reset, 0: "
     "forever"},
    {"offload", "max_threads", "offload-threads", "N", SET_U32, AT(server.offload.max_threads), 0,
     OFFLOAD_MAX_THREADS, false, NULL, NULL,
     "most threads of the pool that runs handlers routed `offload`; 0: no pool, they run on the workers"},
    {"offload", "min_threads", NULL, NULL, SET_U32, AT(server.offload.min_threads), 1, OFFLOAD_MAX_THREADS,
     false, NULL, NULL, "threads the offload pool keeps however idle"},
    {"offload", "queue_max", NULL, NULL, SET_U32, AT(server.offload.queue_max), 1, 1u << 20, false, NULL,
     NULL, "offloaded requests waiting for a thread; beyond, a request is answered 503 with Retry-After"},
    {"offload", "grow_wait_us", NULL, NULL, SET_U32, AT(server.offload.grow_wait_us), 1, 10000000, false,
     NULL, NULL, "a request that waited this long for a thread adds one (up to max_threads)"},
    {"offload", "shrink_idle_ms", NULL, NULL, SET_U32, AT(server.offload.shrink_idle_ms), 1, 3600000, false,
     NULL, NULL, "a thread idle this long leaves (down to min_threads)"},
    {"offload", "slow_ms", NULL, NULL, SET_U32, AT(server.offload_slow_ms), 1, 3600000, false, NULL, NULL,
     "an offloaded handler that runs longer counts as a failure for its route's breaker, as a 5xx does"},
    {"offload", "breaker_failures", NULL, NULL, SET_U32, AT(server.breaker.failures), 0, BREAKER_FAILURES_MAX,
     false, NULL, NULL,
     "failures of an offloaded route within breaker_window_ms that open its breaker (503 at once); 0: no "
     "breakers"},
    {"offload", "breaker_window_ms", NULL, NULL, SET_U32, AT(server.breaker.window_ms), 1, 3600000, false,
     NULL, NULL, "the window breaker_failures are counted in"},
    {"offload", "breaker_open_ms", NULL, NULL, SET_U32, AT(server.breaker.open_ms), 1, 3600000, false, NULL,
     NULL, "how long an open breaker refuses before requests probe the route again"},
    {"offload", "breaker_probes", NULL, NULL, SET_U32, AT(server.breaker.probes), 1, 1000, false, NULL, NULL,
     "requests let through to probe a route after breaker_open_ms; that many successes close the breaker"},
    {"offload", "cpus", NULL, NULL, SET_CPUS, AT(server.offload.cpus), 0, 0, false, NULL, NULL,
     "CPUs the offload threads run on, comma-separated (default: any)"},
    {"xdp", "queue", "queue", "Q", SET_U32, AT(xdp.queue), 0, SLUICE_MAX_QUEUES - 1, false, NULL, NULL,
     "first interface queue to bind"},
    {"xdp", "queues", "queues", "N", SET_U32, AT(xdp.queues), 1, SLUICE_MAX_QUEUES, false, NULL, NULL,
     "interface queues to bind from queue on, a socket per worker on each (default: every RX queue the "
     "device has)"},
    {"xdp", "frames", "frames", "N", SET_U32, AT(xdp.umem.nframes), 1024, 1u << 22, false, NULL, NULL,
     "UMEM frames"},
    {"xdp", "frame_size", "frame-size", "B", SET_U32, AT(xdp.umem.frame_size), 2048, 4096, true, NULL, NULL,
     "UMEM frame size, 2048 or 4096"},
    {"xdp", "ring", "ring", "N", SET_U32, AT(xdp.ring_size), 64, 1u << 16, true, NULL, NULL,
     "RX and TX ring entries per socket, a power of two"},
    {"xdp", "zerocopy", "zerocopy", "MODE", SET_CHOICE, AT(xdp.zerocopy), 0, 0, false, zerocopy_modes, NULL,
     "auto, on or off"},
    {"tcp", "max_conns", "max-conns", "N", SET_U32, AT(server.tcp.max_conns), 16, 1u << 20, false, NULL, NULL,
     "connections per worker, in any state but TIME-WAIT (max_time_wait)"},
    {"tcp", "max_time_wait", NULL, NULL, SET_U32, AT(server.tcp.max_time_wait), 0, 1u << 20, false, NULL,
     NULL, "TIME-WAIT entries per worker, 104 bytes each, apart from connections; when full the oldest goes"},
    {"tcp", "max_half_open", NULL, NULL, SET_U32, AT(server.tcp.max_half_open), 1, 1u << 20, false, NULL,
     NULL, "connections per worker in SYN-RECEIVED"},
    {"tcp", "mtu", NULL, NULL, SET_U16, AT(server.tcp.mtu), 576, 65535, false, NULL, NULL,
     "IP MTU of the link; the MSS offered follows from it"},
    {"tcp", "rcv_buf", NULL, NULL, SET_U32, AT(server.tcp.rcv_buf), 4096, 1u << 30, false, NULL, NULL,
     "receive buffer (window) per connection, bytes"},
    {"tcp", "snd_buf", NULL, NULL, SET_U32, AT(server.tcp.snd_buf), 4096, 1u << 30, false, NULL, NULL,
     "send buffer per connection, bytes"},
    {"tcp", "initial_cwnd", NULL, NULL, SET_U32, AT(server.tcp.initial_cwnd), 1, 64, false, NULL, NULL,
     "initial congestion window, segments"},
    {"tcp", "congestion", NULL, NULL, SET_CHOICE, AT(server.tcp.congestion), 0, 0, false, congestions, NULL,
     "congestion control of what the server sends: cubic (RFC 9438) or newreno (RFC 5681)"},
    {"tcp", "timestamps", NULL, NULL, SET_BOOL, AT(server.tcp.timestamps), 0, 0, false, NULL, NULL,
     "RFC 7323 timestamps when the peer offers them"},
    {"tcp", "sack", NULL, NULL, SET_BOOL, AT(server.tcp.sack), 0, 0, false, NULL, NULL,
     "RFC 2018 SACK when the peer offers it"},
    {"tcp", "window_scaling", NULL, NULL, SET_BOOL, AT(server.tcp.window_scaling), 0, 0, false, NULL, NULL,
     "RFC 7323 window scaling when the peer offers it"},
    {"tcp", "nagle", NULL, NULL, SET_BOOL, AT(server.tcp.nagle), 0, 0, false, NULL, NULL,
     "RFC 896 Nagle algorithm"},
    {"tcp", "rto_initial_ms", NULL, NULL, SET_U32, AT(server.tcp.rto_initial_ms), 200, 60000, false, NULL,
     NULL, "initial retransmission timeout"},
    {"tcp", "rto_min_ms", NULL, NULL, SET_U32, AT(server.tcp.rto_min_ms), 1, 60000, false, NULL, NULL,
     "lowest retransmission timeout"},
    {"tcp", "rto_max_ms", NULL, NULL, SET_U32, AT(server.tcp.rto_max_ms), 1000, 600000, false, NULL, NULL,
     "highest retransmission timeout"},
    {"tcp", "delack_ms", NULL, NULL, SET_U32, AT(server.tcp.delack_ms), 1, 500, false, NULL, NULL,
     "delayed ACK timeout"},
    {"tcp", "syn_retries", NULL, NULL, SET_U32, AT(server.tcp.syn_retries), 1, 16, false, NULL, NULL,
     "SYN-ACK retransmissions before a half-open connection is dropped"},
    {"tcp", "data_retries", NULL, NULL, SET_U32, AT(server.tcp.data_retries), 1, 32, false, NULL, NULL,
     "retransmission timeouts of one segment before the connection is aborted"},
    {"tcp", "keepalive_idle_ms", NULL, NULL, SET_U32, AT(server.tcp.keepalive_idle_ms), 0, 86400000, false,
     NULL, NULL, "idle time before keepalive probes, 0 for none"},
    {"tcp", "keepalive_intvl_ms", NULL, NULL, SET_U32, AT(server.tcp.keepalive_intvl_ms), 1, 3600000, false,
     NULL, NULL, "time between keepalive probes"},
    {"tcp", "keepalive_probes", NULL, NULL, SET_U32, AT(server.tcp.keepalive_probes), 1, 64, false, NULL,
     NULL, "unanswered probes before the connection is aborted"},
    {"tcp", "time_wait_ms", NULL, NULL, SET_U32, AT(server.tcp.time_wait_ms), 0, 240000, false, NULL, NULL,
     "TIME-WAIT duration (2 MSL)"},
    {"tcp", "steer_hold_ms", NULL, NULL, SET_U32, AT(server.tcp.hold_ms), 1, 60000, false, NULL, NULL,
     "longest a connection of a steered service waits for its route before it is served where it is"},
    {"http", "port", "http", "PORT", SET_SERVICE, 0, 1, 65535, false, NULL, &app_http_ops,
     "serve HTTP/2 and HTTP/1.1 on PORT (the app's compiled routes)"},
    {"http", "static_dir", "static", "DIR", SET_STRING, AT(server.http.static_dir), 0, 0, false, NULL, NULL,
     "the directory GET /static/* serves"},
    {"http", "max_concurrent_streams", NULL, NULL, SET_U32, AT(server.http.max_concurrent_streams), 1,
     1u << 16, false, NULL, NULL, "SETTINGS_MAX_CONCURRENT_STREAMS"},
    {"http", "initial_window_size", NULL, NULL, SET_U32, AT(server.http.initial_window_size), 65535,
     0x7fffffff, false, NULL, NULL, "SETTINGS_INITIAL_WINDOW_SIZE, also the connection window"},
    {"http", "max_frame_size", NULL, NULL, SET_U32, AT(server.http.max_frame_size), 16384, 16777215, false,
     NULL, NULL, "SETTINGS_MAX_FRAME_SIZE"},
    {"http", "max_header_list_size", NULL, NULL, SET_U32, AT(server.http.max_header_list_size), 1024,
     1u << 20, false, NULL, NULL,
     "SETTINGS_MAX_HEADER_LIST_SIZE, bytes (an HTTP/1.1 request head also fits one 16 KiB buffer)"},
    {"http", "max_headers", NULL, NULL, SET_U32, AT(server.http.max_headers), 8, 256, false, NULL, NULL,
     "header fields per request"},
    {"http", "max_streams", NULL, NULL, SET_U32, AT(server.http.max_streams), 16, 1u << 20, false, NULL, NULL,
     "streams per worker, all connections together"},
    {"http", "max_body_backlog", NULL, NULL, SET_U32, AT(server.http.max_body_backlog), 16384, 1u << 30,
     false, NULL, NULL, "request body bytes a handler may hold before input pauses"},
    {"http", "max_buffers", NULL, NULL, SET_U32, AT(server.http.max_buffers), 16, 1u << 22, false, NULL, NULL,
     "16 KiB pool buffers per worker"},
    {"http", "rate_limit_rps", NULL, NULL, SET_U32, AT(server.http.rate_limit.rps), 0, 1000000, false, NULL,
     NULL,
     "requests per second a client address may make, beyond which it is answered 429 with Retry-After; 0: "
     "no limit"},
    {"http", "rate_limit_burst", NULL, NULL, SET_U32, AT(server.http.rate_limit.burst), 1, 1000000, false,
     NULL, NULL, "requests a client may make at once after a quiet spell"},
    {"http", "rate_limit_clients", NULL, NULL, SET_U32, AT(server.http.rate_limit.slots), RATE_LIMIT_WAYS,
     RATE_LIMIT_SLOTS_MAX, true, NULL, NULL,
     "client addresses the rate limit tracks at once (about 40 bytes each), a power of two; beyond, the "
     "idlest "
     "is forgotten"},
    {"http", "h2", NULL, NULL, SET_CHOICE, AT(server.http.h2), 0, 0, false, h2_impls, NULL,
     "the HTTP/2 implementation: native (ours) or nghttp2 (the reference)"},
    {"http", "rapid_reset_budget", NULL, NULL, SET_U32, AT(server.http.rapid_reset_budget), 1, 1u << 20,
     false, NULL, NULL,
     "HTTP/2 streams a client may cancel per 10 s, net of those it let finish (rapid reset)"},
    {"http", "max_continuations", NULL, NULL, SET_U32, AT(server.http.max_continuations), 1, 1024, false,
     NULL, NULL, "frames per HTTP/2 field block: the HEADERS and its CONTINUATIONs"},
    {"http", "max_queued_control", NULL, NULL, SET_U32, AT(server.http.max_queued_control), 16, 1u << 16,
     false, NULL, NULL, "HTTP/2 control frames owed to a client that does not read them, before a reset"},
    {"http", "max_empty_frames", NULL, NULL, SET_U32, AT(server.http.max_empty_frames), 1, 1u << 16, false,
     NULL, NULL, "HTTP/2 frames in a row that carry nothing (empty DATA, empty field block fragments)"},
    {"http", "max_priority_frames", NULL, NULL, SET_U32, AT(server.http.max_priority_frames), 1, 1u << 20,
     false, NULL, NULL, "HTTP/2 PRIORITY frames per connection, and as many again per stream opened"},
    {"http", "max_window_update_frames", NULL, NULL, SET_U32, AT(server.http.max_window_update_frames), 1,
     1u << 20, false, NULL, NULL,
     "HTTP/2 WINDOW_UPDATE frames per connection, and 10 more per DATA frame sent"},
    {"http", "flood_source_strikes", NULL, NULL, SET_U32, AT(server.http.flood_source_strikes), 1, 1u << 20,
     false, NULL, NULL,
     "HTTP/2 connections from one address ended for a flood in 60 s before its new ones are refused"},
    {"http", "preface_timeout_ms", NULL, NULL, SET_U32, AT(server.http.preface_timeout_ms), 0, 3600000, false,
     NULL, NULL,
     "longest an HTTP/2 client may take to send its preface and first SETTINGS (from the connection's start, "
     "or TLS's handshake end), then it is closed; 0: forever"},
    {"http", "request_head_timeout_ms", NULL, NULL, SET_U32, AT(server.http.request_head_timeout_ms), 0,
     3600000, false, NULL, NULL,
     "longest an HTTP/1.1 request head may take from its first byte (the first request's: from the "
     "connection's start), then the connection is closed; 0: forever"},
    {"http", "body_timeout_ms", NULL, NULL, SET_U32, AT(server.http.body_timeout_ms), 0, 3600000, false, NULL,
     NULL,
     "longest a request body may pause while it is wanted: then HTTP/1.1 answers 408 (if nothing was yet) "
     "and closes, HTTP/2 resets the stream (RST_STREAM CANCEL); 0: forever"},
    {"http", "idle_timeout_ms", NULL, NULL, SET_U32, AT(server.http.idle_timeout_ms), 0, 3600000, false, NULL,
     NULL,
     "longest a connection may wait with no request in flight before it is closed (HTTP/2: GOAWAY NO_ERROR "
     "first); 0: forever"},
    {"tls", "port", "https", "PORT", SET_U16, AT(tls.port), 1, 65535, false, NULL, NULL,
     "serve HTTP/2 (ALPN h2) and HTTP/1.1 over TLS on PORT, with the same routes as --http"},
    {"tls", "cert", "cert", "FILE", SET_STRING, AT(tls.cert), 0, 0, false, NULL, NULL,
     "the default certificate chain (PEM), for clients whose SNI has no certificate of its own"},
    {"tls", "key", "key", "FILE", SET_STRING, AT(tls.key), 0, 0, false, NULL, NULL,
     "the default certificate's private key (PEM)"},
    {"tls", "sni", NULL, NULL, SET_SNI, 0, 0, 0, false, NULL, NULL,
     "`NAME CERT KEY`: the certificate for SNI NAME (*.domain for one label more); repeat the key for more"},
    {"tls", "min_version", NULL, NULL, SET_CHOICE, AT(tls.min_version), 0, 0, false, tls_versions, NULL,
     "the oldest protocol accepted: TLSv1.2 or TLSv1.3 (TLS 1.3 is always the newest)"},
    {"tls", "ciphersuites", NULL, NULL, SET_STRING, AT(tls.ciphersuites), 0, 0, false, NULL, NULL,
     "TLS 1.3 cipher suites, OpenSSL's syntax (default: OpenSSL's)"},
    {"tls", "ciphers", NULL, NULL, SET_STRING, AT(tls.ciphers), 0, 0, false, NULL, NULL,
     "TLS 1.2 ciphers, OpenSSL's syntax (default: ECDHE with AES-GCM or ChaCha20-Poly1305)"},
    {"tls", "groups", NULL, NULL, SET_STRING, AT(tls.groups), 0, 0, false, NULL, NULL,
     "key exchange groups (default: X25519:P-256:P-384)"},
    {"tls", "ticket_key_file", "ticket-key-file", "FILE", SET_STRING, AT(tls.ticket_key_file), 0, 0, false,
     NULL, NULL,
     "session ticket keys shared with the next server process (created if missing; default: in memory)"},
    {"tls", "ticket_rotate_hours", NULL, NULL, SET_U32, AT(tls.ticket_rotate_hours), 1, 8760, false, NULL,
     NULL, "a new ticket key this often; tickets stay valid twice as long"},
    {"tls", "max_early_data", "max-early-data", "BYTES", SET_U32, AT(tls.max_early_data), 0,
     TLS_MAX_EARLY_DATA_LIMIT, false, NULL, NULL,
     "TLS 1.3 0-RTT bytes accepted on resumption, 0: none (early requests: safe methods only, else 425)"},
    {"tls", "handshake_timeout_ms", NULL, NULL, SET_U32, AT(tls.handshake_timeout_ms), 100, 600000, false,
     NULL, NULL, "longest a TLS handshake may take before the connection is reset"},
    {"tls", "small_record_bytes", NULL, NULL, SET_U32, AT(tls.small_record_bytes), 0, 1u << 30, false, NULL,
     NULL, "bytes a connection sends in one-segment records before full 16 KiB ones"},
    {"log", "access", "access-log", "PATH", SET_PATH, AT(server.access_log.path), 0, 0, false, NULL, NULL,
     "the access log: a line per HTTP request, appended to PATH ('-': standard output; empty: none); "
     "SIGUSR1 reopens it"},
    {"log", "access_format", "access-log-format", "FORMAT", SET_FORMAT, AT(server.access_log.format), 0, 0,
     false, NULL, NULL, "common, combined, json, or a format string of $variables (README, \"Access log\")"},
    {"log", "access_ring", NULL, NULL, SET_U32, AT(server.access_log.ring), ACCESS_RING_MIN, ACCESS_RING_MAX,
     true, NULL, NULL,
     "bytes of access log records each worker may have waiting for the logger thread (a request takes 64 "
     "bytes and its strings), a power of two; beyond, a "
     "request's line is dropped and counted (sluice_access_log_dropped_total)"},
    {"services", "echo", "echo", "PORT", SET_SERVICE, 0, 1, 65535, false, NULL, &app_echo_ops,
     "serve echo on PORT"},
    {"services", "sink", "sink", "PORT", SET_SERVICE, 0, 1, 65535, false, NULL, &app_sink_ops,
     "serve sink (SHA-256 of the upload) on PORT"},
    {"services", "source", "source", "PORT", SET_SERVICE, 0, 1, 65535, false, NULL, &app_source_ops,
     "serve source (N bytes of the deterministic stream) on PORT"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Strings from the file outlive libinih's line buffer: they are kept here, for the process. */
static char string_space[8192];
static size_t string_used;

/* ---- values ------------------------------------------------------------------------------------ */

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
            *out = !strcasecmp(v, yes[i]);
            return 0;
        }
    }
    return -1;
}

static int parse_cpus(const char *v, int *cpus, uint32_t cap, uint32_t *ncpus, const char *where,
                      struct err *e)
{
    const char *p = v;
    uint32_t n = 0;

    for (;;) {
        char item[16];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        uint32_t cpu;

        if (!len || len >= sizeof(item) || n == cap)
            return ERR(e, EXIT_STATUS_USAGE, 0,
                       "%s: bad value '%s': expected CPU numbers separated by commas", where, v);
        memcpy(item, p, len);
        item[len] = '\0';
        if (args_u32(item, "CPU", 0, CPU_SETSIZE - 1, &cpu, e))
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: bad CPU '%s': expected a number below %d", where, item,
                       CPU_SETSIZE);
        cpus[n++] = (int)cpu;
        if (!comma)
            break;
        p = comma + 1;
    }
    *ncpus = n;
    return 0;
}

/* A service setting replaces the port of the same service, so the command line overrides the file. */
static int set_service(struct server_config *cfg, const struct app_ops *ops, uint32_t port, const char *where,
                       struct err *e)
{
    int slot = cfg->nservices;

    for (int i = 0; i < cfg->nservices; i++) {
        if (cfg->services[i].ops == ops)
            slot = i;
        else if (cfg->services[i].port == port)
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: port %u is already %s's", where, port,
                       cfg->services[i].ops->name);
    }
    if (slot == APP_MAX_SERVICES)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s: at most %d services", where, APP_MAX_SERVICES);
    cfg->services[slot] = (struct app_service){.port = (uint16_t)port, .ops = ops};
    if (slot == cfg->nservices)
        cfg->nservices++;
    return 0;
}

static const char *keep_string(const char *v, const char *where, struct err *e)
{
    size_t len = strlen(v) + 1;
    char *s = string_space + string_used;

    if (len > sizeof(string_space) - string_used) {
        ERR(e, EXIT_STATUS_USAGE, 0, "%s: value too long", where);
        return NULL;
    }
    memcpy(s, v, len);
    string_used += len;
    return s;
}

/* `NAME CERT KEY`, separated by blanks. */
static int parse_sni(const char *v, struct tls_config *tls, const char *where, struct err *e)
{
    char copy[1024], *save = NULL, *name, *cert, *key;
    const char *kept[3];

    if (tls->nsni == TLS_MAX_SNI)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s: at most %d SNI certificates", where, TLS_MAX_SNI);
    if (strlen(v) >= sizeof(copy))
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s: value too long", where);
    strcpy(copy, v);
    name = strtok_r(copy, " \t", &save);
    cert = name ? strtok_r(NULL, " \t", &save) : NULL;
    key = cert ? strtok_r(NULL, " \t", &save) : NULL;
    if (!key || strtok_r(NULL, " \t", &save) || strlen(name) > 253)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s: bad value '%s': expected `NAME CERT KEY`", where, v);
    if (!(kept[0] = keep_string(name, where, e)) || !(kept[1] = keep_string(cert, where, e)) ||
        !(kept[2] = keep_string(key, where, e)))
        return -1;
    tls->sni[tls->nsni++] = (struct tls_sni_cert){kept[0], kept[1], kept[2]};
    return 0;
}

/* "a, b or c": the values a choice takes, for its error */
static const char *choices_text(const char *const *choices, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; choices[i] && len < size; i++) {
        const char *sep = !i ? "" : choices[i + 1] ? ", " : " or ";

        len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, choices[i]);
    }
    return buf;
}

/* Apply one setting; where names its origin for the error ("--workers", "FILE:LINE: [http] port"). */
static int apply(const struct setting *s, const char *v, struct config *cfg, bool from_file,
                 const char *where, struct err *e)
{
    char *field = (char *)cfg + s->offset;
    uint32_t n;
    bool b;

    switch (s->kind) {
    case SET_U32:
    case SET_U16:
    case SET_SERVICE: {
        unsigned long long u;
        char *end;

        errno = 0;
        u = strtoull(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-' || u < s->min || u > s->max || (s->pow2 && (u & (u - 1))))
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: bad value '%s': expected a %s from %u to %u", where, v,
                       s->pow2 ? "power of two" : "number", s->min, s->max);
        n = (uint32_t)u;
        if (s->kind == SET_SERVICE)
            return set_service(&cfg->server, s->service, n, where, e);
        if (s->kind == SET_U16)
            *(uint16_t *)field = (uint16_t)n;
        else
            *(uint32_t *)field = n;
        return 0;
    }
    case SET_BOOL:
        if (parse_bool(v, &b))
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: bad value '%s': expected true or false", where, v);
        *(bool *)field = b;
        return 0;
    case SET_STRING: {
        const char *kept = from_file ? keep_string(v, where, e) : v;

        if (!kept)
            return -1;
        if (!*kept)
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: empty value", where);
        *(const char **)field = kept;
        return 0;
    }
    case SET_CHOICE: {
        char expected[96];

        for (int i = 0; s->choices[i]; i++) {
            if (!strcmp(v, s->choices[i])) {
                *(int *)field = i; /* the enums behind choices are int-sized, in this order */
                return 0;
            }
        }
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s: bad value '%s': expected %s", where, v,
                   choices_text(s->choices, expected, sizeof(expected)));
    }
    case SET_CPUS:
        if (s->offset == AT(server.offload.cpus))
            return parse_cpus(v, cfg->server.offload.cpus, OFFLOAD_MAX_CPUS, &cfg->server.offload.ncpus,
                              where, e);
        return parse_cpus(v, cfg->server.cpus, SLUICE_MAX_WORKERS, &cfg->server.ncpus, where, e);
    case SET_SNI:
        return parse_sni(v, &cfg->tls, where, e);
    case SET_PATH: {
        const char *kept = !*v ? NULL : from_file ? keep_string(v, where, e) : v;

        if (*v && !kept)
            return -1;
        *(const char **)field = kept;
        return 0;
    }
    case SET_FORMAT: {
        static struct access_format check; /* thrown away: the logger compiles its own */
        const char *kept;

        if (access_format_compile(&check, v, e)) {
            char why[sizeof(e->msg)];

            snprintf(why, sizeof(why), "%s", e->msg);
            return ERR(e, EXIT_STATUS_USAGE, 0, "%s: %s", where, why);
        }
        if (!(kept = from_file ? keep_string(v, where, e) : v))
            return -1;
        *(const char **)field = kept;
        return 0;
    }
    }
    return ERR(e, EXIT_STATUS_FAILURE, 0, "%s: setting of unknown kind", where);
}

/* ---- the file ------------------------------------------------------------------------------------ */

struct file_state {
    const char *path;
    FILE *file;
    int line;           /* lines read so far: the line libinih is on */
    int error_line;     /* the first line our handler refused, 0 if none */
    bool line_too_long; /* a line did not fit libinih's buffer */
    struct config *cfg;
    struct err *e;
};

static char *read_line(char *buf, int size, void *stream)
{
    struct file_state *fs = stream;
    char *s = fgets(buf, size, fs->file);
    size_t len;

    if (!s)
        return NULL;
    fs->line++;
    len = strlen(s);
    if (len == (size_t)size - 1 && s[len - 1] != '\n' && !feof(fs->file) && !fs->error_line) {
        fs->error_line = fs->line;
        fs->line_too_long = true;
        ERR(fs->e, EXIT_STATUS_USAGE, 0, "%s:%d: line longer than %d bytes", fs->path, fs->line, size - 2);
        for (int c; (c = fgetc(fs->file)) != EOF && c != '\n';) /* the rest of it is not a line of its own */
            ;
    }
    return s;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct file_state *fs = user;
    char where[256];

    if (fs->error_line)
        return 1; /* report the first error only; libinih goes on to the end */
    if (!strcmp(section, "routes"))
        return 1; /* the steering routes: sluice-agent load --config reads them */
    snprintf(where, sizeof(where), "%s:%d: [%s] %s", fs->path, fs->line, section, key);
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (!strcmp(settings[i].section, section) && !strcmp(settings[i].key, key)) {
            if (apply(&settings[i], value, fs->cfg, true, where, fs->e))
                fs->error_line = fs->line;
            return 1;
        }
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (!strcmp(settings[i].section, section)) {
            ERR(fs->e, EXIT_STATUS_USAGE, 0, "%s: unknown key (see --settings)", where);
            fs->error_line = fs->line;
            return 1;
        }
    }
    ERR(fs->e, EXIT_STATUS_USAGE, 0,
        "%s:%d: unknown section [%s] (expected server, xdp, tcp, http, tls, log, services or routes)",
        fs->path, fs->line, section);
    fs->error_line = fs->line;
    return 1;
}

static int load_file(const char *path, struct config *cfg, struct err *e)
{
    struct file_state fs = {.path = path, .cfg = cfg, .e = e};
    int syntax_line;

    fs.file = fopen(path, "r");
    if (!fs.file)
        return ERR(e, EXIT_STATUS_USAGE, errno, "cannot open config file %s", path);
    syntax_line = ini_parse_stream(read_line, &fs, on_key, &fs);
    fclose(fs.file);
    if (syntax_line < 0)
        return ERR(e, EXIT_STATUS_FAILURE, 0, "%s: libinih could not allocate its line buffer", path);
    if (syntax_line > 0 && (!fs.error_line || syntax_line < fs.error_line))
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "%s:%d: malformed line (expected `key = value`, `[section]` or a comment)", path,
                   syntax_line);
    return fs.error_line ? -1 : 0;
}

/* ---- the command line --------------------------------------------------------------------------- */

enum { OPT_CONFIG = 1000, OPT_SETTINGS, OPT_HELP, OPT_SETTING_BASE };

static void build_options(struct option *opts)
{
    size_t n = 0;

    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].option)
            opts[n++] = (struct option){settings[i].option,
                                        settings[i].kind == SET_BOOL ? no_argument : required_argument, NULL,
                                        OPT_SETTING_BASE + (int)i};
    opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[n++] = (struct option){"settings", no_argument, NULL, OPT_SETTINGS};
    opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    opts[n] = (struct option){NULL, 0, NULL, 0};
}

void config_print_usage(FILE *out, const char *program)
{
    fprintf(out, "usage: %s --dev DEVICE [options]\n       %s --datapath socket [options]\n", program,
            program);
    fputs("\n"
          "Serve TCP from AF_XDP sockets on DEVICE, where `sluice-agent load --dev DEVICE` attached the\n"
          "steering program and `sluice-agent service add` named the ports that reach us; or, with\n"
          "--datapath socket, from ordinary kernel sockets (no XDP, no root needed for ports >= 1024).\n"
          "\n"
          "  --config FILE      read settings from FILE (INI); options given here override it\n"
          "  --settings         list every config file key with its range and default, and exit\n",
          out);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char left[48];

        if (!s->option)
            continue;
        snprintf(left, sizeof(left), "--%s%s%s", s->option, s->arg ? " " : "", s->arg ? s->arg : "");
        fprintf(out, "  %-18s %s\n", left, s->help);
    }
    fputs("\nexit status: 0 clean stop, 1 failure (including frames not all returned at exit), 2 bad usage\n"
          "             or config, 3 not permitted, 4 BPF/AF_XDP unavailable, 5 no such device,\n"
          "             6 sluice not loaded\n",
          out);
}

static void value_text(const struct setting *s, const struct config *d, char *buf, size_t size)
{
    const char *field = (const char *)d + s->offset;

    switch (s->kind) {
    case SET_U32:
        snprintf(buf, size, "%u", *(const uint32_t *)field);
        break;
    case SET_U16:
        if (!*(const uint16_t *)field && s->min) /* a port not set */
            snprintf(buf, size, "none");
        else
            snprintf(buf, size, "%u", *(const uint16_t *)field);
        break;
    case SET_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        break;
    case SET_CHOICE:
        snprintf(buf, size, "%s", s->choices[*(const int *)field]);
        break;
    case SET_FORMAT:
        snprintf(buf, size, "%s", *(const char *const *)field);
        break;
    default:
        snprintf(buf, size, "none");
    }
}

static void config_defaults(struct config *cfg)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    struct server_config *srv = &cfg->server;

    memset(cfg, 0, sizeof(*cfg));
    xdp_config_default(&cfg->xdp);
    srv->drain_ms = 2000;
    srv->shed_busy_pct = 90;
    srv->syncookie_half_open = SERVER_SYNCOOKIE_HALF_OPEN_DEFAULT;
    srv->linger_ms = APP_LINGER_MS_DEFAULT;
    srv->linger_max_bytes = APP_LINGER_MAX_BYTES_DEFAULT;
    srv->send_timeout_ms = APP_SEND_TIMEOUT_MS_DEFAULT;
    srv->nworkers = online > 0 && online < SLUICE_MAX_WORKERS ? (uint32_t)online : 1;
    tcp_config_default(&srv->tcp);
    srv->tcp.max_conns = 16384;
    srv->tcp.max_time_wait = 16384;
    http_config_default(&srv->http);
    srv->offload = (struct offload_config){.min_threads = OFFLOAD_MIN_THREADS_DEFAULT,
                                           .max_threads = OFFLOAD_MAX_THREADS_DEFAULT,
                                           .queue_max = OFFLOAD_QUEUE_MAX_DEFAULT,
                                           .grow_wait_us = OFFLOAD_GROW_WAIT_US_DEFAULT,
                                           .shrink_idle_ms = OFFLOAD_SHRINK_IDLE_MS_DEFAULT};
    srv->offload_slow_ms = OFFLOAD_SLOW_MS_DEFAULT;
    srv->breaker = (struct breaker_config){.failures = BREAKER_FAILURES_DEFAULT,
                                           .window_ms = BREAKER_WINDOW_MS_DEFAULT,
                                           .open_ms = BREAKER_OPEN_MS_DEFAULT,
                                           .probes = BREAKER_PROBES_DEFAULT};
    tls_config_default(&cfg->tls);
    srv->access_log = (struct access_log_config){.format = "combined", .ring = ACCESS_RING_DEFAULT};
}

void config_print_settings(FILE *out)
{
    static struct config d;

    config_defaults(&d);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char def[32], range[48] = "";

        value_text(s, &d, def, sizeof(def));
        if (s->offset == AT(server.nworkers) && s->kind == SET_U32)
            snprintf(def, sizeof(def), "one per online CPU");
        if (s->offset == AT(xdp.queues) && s->kind == SET_U32)
            snprintf(def, sizeof(def), "every RX queue");
        if (s->kind == SET_U32 || s->kind == SET_U16 || s->kind == SET_SERVICE)
            snprintf(range, sizeof(range), " %u..%u%s", s->min, s->max, s->pow2 ? ", a power of two" : "");
        fprintf(out, "[%s] %s%s (default %s)%s%s: %s\n", s->section, s->key, range, def,
                s->option ? ", option --" : "", s->option ? s->option : "", s->help);
    }
}

/* The combination; then the datapath's table and its settings into cfg->server. */
static int check(struct config *config, struct err *e)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    struct server_config *cfg = &config->server;
    bool xdp = config->datapath == CONFIG_DATAPATH_XDP;

    if (xdp && !config->xdp.ifname)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "--dev DEVICE (or [server] dev) is required with the xdp datapath");
    if (!xdp && config->xdp.ifname)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "--dev is for the xdp datapath; the socket datapath listens on all addresses");
    cfg->datapath = xdp ? &xdp_datapath : &sock_datapath;
    cfg->datapath_cfg = xdp ? &config->xdp : NULL;
    if (config->tls.port) {
        for (int i = 0; i < cfg->nservices; i++)
            if (cfg->services[i].port == config->tls.port)
                return ERR(e, EXIT_STATUS_USAGE, 0, "--https: port %u is already %s's", config->tls.port,
                           cfg->services[i].ops->name);
        if (cfg->nservices == APP_MAX_SERVICES)
            return ERR(e, EXIT_STATUS_USAGE, 0, "--https: at most %d services", APP_MAX_SERVICES);
        if (!config->tls.cert && !config->tls.nsni)
            return ERR(e, EXIT_STATUS_USAGE, 0,
                       "--https needs a certificate: --cert FILE --key FILE, or [tls] sni");
        if (!config->tls.cert != !config->tls.key)
            return ERR(e, EXIT_STATUS_USAGE, 0, "--cert and --key go together");
        cfg->services[cfg->nservices++] =
            (struct app_service){.port = config->tls.port, .ops = &app_http_ops, .layer = &tls_layer};
    }
    if (!cfg->nservices)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "no service to serve: give --http, --https, --echo, --sink or --source");
    if (cfg->tcp.rto_min_ms > cfg->tcp.rto_max_ms)
        return ERR(e, EXIT_STATUS_USAGE, 0, "[tcp] rto_min_ms %u is above rto_max_ms %u", cfg->tcp.rto_min_ms,
                   cfg->tcp.rto_max_ms);
    if (cfg->offload.max_threads && cfg->offload.min_threads > cfg->offload.max_threads)
        return ERR(e, EXIT_STATUS_USAGE, 0, "[offload] min_threads %u is above max_threads %u",
                   cfg->offload.min_threads, cfg->offload.max_threads);
    if (cfg->tcp.max_half_open > cfg->tcp.max_conns)
        cfg->tcp.max_half_open = cfg->tcp.max_conns;
    if (cfg->syncookie_half_open > cfg->tcp.max_half_open)
        cfg->syncookie_half_open =
            cfg->tcp.max_half_open; /* half-open never grows past it: cookies would never start */
    for (uint32_t i = 0; i < cfg->nworkers; i++)
        cfg->cpus[i] =
            cfg->ncpus ? cfg->cpus[i % cfg->ncpus] : (int)(i % (uint32_t)(online > 0 ? online : 1));
    return 0;
}

int config_load(int argc, char **argv, const char *program, const char *default_config, struct config *cfg,
                struct err *e)
{
    struct option opts[NSETTINGS + 4];
    const char *config_path = default_config;
    int c;

    config_defaults(cfg);
    build_options(opts);
    /* first pass: only --config, --help and --settings, so the file comes before the overrides */
    optind = 1;
    while ((c = args_getopt(argc, argv, opts, program, e)) != -1) {
        if (c == '?')
            return -1;
        if (c == OPT_HELP) {
            config_print_usage(stdout, program);
            exit(EXIT_STATUS_OK);
        }
        if (c == OPT_SETTINGS) {
            config_print_settings(stdout);
            exit(EXIT_STATUS_OK);
        }
        if (c == OPT_CONFIG)
            config_path = optarg;
    }
    if (config_path && load_file(config_path, cfg, e))
        return -1;
    optind = 1;
    while ((c = args_getopt(argc, argv, opts, program, e)) != -1) {
        char where[64];

        if (c < OPT_SETTING_BASE)
            continue;
        snprintf(where, sizeof(where), "--%s", settings[c - OPT_SETTING_BASE].option);
        if (apply(&settings[c - OPT_SETTING_BASE], optarg ? optarg : "true", cfg, false, where, e))
            return -1;
    }
    return check(cfg, e);
}
