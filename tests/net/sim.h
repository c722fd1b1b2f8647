/*
 * sim.h — a deterministic simulated network for the TCP engine's tests.
 *
 * Two hosts, each a tcp_engine over its own frame pool, joined by a link per direction with
 * propagation delay, a bottleneck rate with a bounded queue, and seeded random loss, duplication
 * and reordering. Time is simulated: sim_run jumps from event to event (a packet arriving, an
 * engine deadline), so a 64 MiB transfer over a lossy 1 ms link takes as long as the engines need
 * to process it, and the same seed replays the same run. Transmit completions happen as soon as a
 * frame is copied onto the wire. Packets can also be injected or intercepted by a test (scripted
 * peers), and a hook sees every packet on the wire.
 */
#ifndef SLUICE_TEST_SIM_H
#define SLUICE_TEST_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "net/frame.h"
#include "net/tcp.h"

#define SIM_SERVER 0
#define SIM_CLIENT 1

struct sim_link {
    uint64_t delay_ns;    /* one-way propagation */
    uint64_t rate_bps;    /* bottleneck rate; 0 = unlimited */
    uint64_t queue_ns;    /* drop-tail when the bottleneck queue holds more than this much */
    uint32_t loss_ppm;    /* random loss, parts per million */
    uint32_t dup_ppm;     /* random duplication */
    uint32_t reorder_ppm; /* random extra delay that lets later packets overtake */
    uint64_t reorder_ns;  /* how much extra delay a reordered packet gets */
};

struct sim_packet;
struct sim;

struct sim_host {
    struct frame_pool pool;
    struct frame_cache cache;
    struct tcp_engine engine;
    uint8_t mac[6];
    uint8_t ip4[4];
    uint8_t ip6[16];
    bool up; /* false: packets to this host vanish (a crashed peer) */
};

/* Called for every packet put on the wire from host `from`; return false to drop it. */
typedef bool (*sim_wire_hook)(void *ctx, int from, uint8_t *frame, uint32_t len);

/*
 * Takes each frame that arrives at the server host instead of its engine: a test that plays the
 * steering program and spreads connections over several engines of that host (sim.workers).
 */
typedef void (*sim_steer_hook)(void *ctx, struct sim *s, uint32_t frame, uint32_t len);

#define SIM_MAX_WORKERS 4

struct sim {
    uint64_t now_ns;
    uint64_t rng;
    struct sim_host host[2];
    struct sim_link link[2]; /* link[i]: packets sent by host i */
    uint64_t link_free_at[2];
    struct sim_packet **heap;
    uint32_t nheap;
    uint32_t cap;
    uint64_t order;
    sim_wire_hook hook;
    void *hook_ctx;
    /* more engines on the server host, over its pool, each with its own frame cache; the
     * simulation runs their timers and sends their output like the hosts' own */
    struct tcp_engine *workers[SIM_MAX_WORKERS];
    struct frame_cache *worker_cache[SIM_MAX_WORKERS];
    int nworkers;
    sim_steer_hook steer;
    void *steer_ctx;
    /* when set, a packet longer than this arrives as a chain of frames this long at most, as a
     * multi-buffer AF_XDP socket receives it (tcp_input_chain) */
    uint32_t rx_piece;
    uint64_t sent[2], dropped[2], duplicated[2], delivered[2], chained[2];
};

/* Both hosts' engines get cfg[i] and the same callbacks (ctx told apart by tcp_conn_user). */
int sim_init(struct sim *s, uint64_t seed, const struct tcp_config cfg[2], uint32_t frames_per_host,
             const struct tcp_callbacks *cb, void *cb_ctx);
void sim_destroy(struct sim *s);

/* A tuple/link for a connection from the client (port) to the server (server_port), from host's side. */
void sim_tuple(const struct sim *s, int host, int family, uint16_t client_port, uint16_t server_port,
               struct pkt_tuple *t, struct pkt_link *link);

/* Run until done(ctx) is true, nothing is left to happen, or limit_ns of simulated time passes.
 * Returns true when done() became true. */
bool sim_run(struct sim *s, bool (*done)(void *ctx), void *ctx, uint64_t limit_ns);

/* Put a raw frame on the wire as if host `from` sent it now (arrives after the link delay). */
void sim_inject(struct sim *s, int from, const uint8_t *frame, uint32_t len);

/* Deterministic PRNG shared with the tests (xorshift64*). */
uint64_t sim_rand(struct sim *s);

/* Frames in use on a host: total - free (in caches and the pool) ; must equal what the engine holds. */
uint32_t sim_frames_in_use(struct sim *s, int host);

#endif
