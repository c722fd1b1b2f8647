/*
 * rate_limit.h — the per-client request-rate limit: a token bucket per client address, so that one
 * client past its rate is answered 429 with Retry-After (issue 16, overload level 2) while the
 * others are served.
 *
 * One table shared by every worker (a client's connections land on different workers), allocated
 * at init and never grown: memory is bounded whatever the number of clients. It is set-associative:
 * a keyed hash of the address (SipHash-1-3 under a random key drawn at init, so clients cannot aim
 * at one set) picks a set of RATE_LIMIT_WAYS slots, each set under its own spinlock (never one
 * global lock; contention only between clients of the same set). An address found in its set uses
 * its slot; a new one takes a free slot, else replaces the slot whose bucket is full (refilled:
 * forgetting it loses nothing), else the one idle the longest, and the replacement is counted. A
 * replaced client comes back with a full bucket: under more clients than slots the limit errs on
 * the side of serving.
 *
 * Tokens are counted in nanotokens (1e-9 of a request), refilled by rps per nanosecond elapsed:
 * integers, exact, no drift. Pure logic: the caller supplies the monotonic time (CLOCK_MONOTONIC in
 * ns), so the tests run it on a fake clock. Called once per request on the workers: no allocation,
 * no system call after init.
 */
#ifndef SLUICE_HTTP_RATE_LIMIT_H
#define SLUICE_HTTP_RATE_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* Defaults of the settings: off unless a rate is set */
#define RATE_LIMIT_RPS_DEFAULT   0     /* requests per second per client; 0: no limit */
#define RATE_LIMIT_BURST_DEFAULT 50    /* requests a client may send at once after idling */
#define RATE_LIMIT_SLOTS_DEFAULT 65536 /* clients tracked at once (about 40 bytes each) */

#define RATE_LIMIT_WAYS      8 /* slots per set: the probe a lookup makes */
#define RATE_LIMIT_SLOTS_MAX (1u << 26)
#define RATE_LIMIT_ADDR_LEN  16 /* IPv6, IPv4 mapped into it (::ffff:a.b.c.d), as app_conn.peer */

struct rate_limit_config {
    uint32_t rps;   /* 0: no limit (no table is allocated, every request is allowed) */
    uint32_t burst; /* bucket size, at least 1 when rps is set */
    uint32_t slots; /* a power of two, RATE_LIMIT_WAYS..RATE_LIMIT_SLOTS_MAX */
};

struct rate_limit_stats {
    uint64_t allowed;  /* requests let through */
    uint64_t limited;  /* requests refused (429) */
    uint64_t replaced; /* clients forgotten to make room for another */
    uint64_t tracked;  /* slots in use now (at most slots) */
};

struct rate_limit_slot {
    uint8_t addr[RATE_LIMIT_ADDR_LEN];
    uint64_t tokens;  /* nanotokens at last_ns, 0..burst * 1e9 */
    uint64_t last_ns; /* when tokens was last brought up to date */
};

/* RATE_LIMIT_WAYS slots and their lock, on cache lines of their own. */
struct rate_limit_set {
    pthread_spinlock_t lock;
    uint8_t used; /* bit i: slot[i] holds a client */
    uint64_t allowed, limited, replaced;
    struct rate_limit_slot slot[RATE_LIMIT_WAYS];
} __attribute__((aligned(64)));

struct rate_limit {
    uint64_t rps;
    uint64_t capacity; /* burst in nanotokens */
    uint64_t key[2];   /* the hash's secret */
    uint32_t set_mask; /* sets - 1 */
    struct rate_limit_set *sets;
};

/* Allocates the table (cfg->slots / RATE_LIMIT_WAYS sets) and draws the hash key. A zeroed struct
 * rate_limit is safe to destroy. */
int rate_limit_init(struct rate_limit *rl, const struct rate_limit_config *cfg, struct err *e);
void rate_limit_destroy(struct rate_limit *rl);

/* One request from addr at now_ns: true if allowed; false if over the rate, with *retry_after_s
 * the whole seconds until a token is there, rounded up (at least 1). From any thread. */
bool rate_limit_take(struct rate_limit *rl, const uint8_t addr[RATE_LIMIT_ADDR_LEN], uint64_t now_ns,
                     uint32_t *retry_after_s);

/* The counters, summed over the sets (takes each set's lock in turn: for /metrics, not per request). */
void rate_limit_stats(struct rate_limit *rl, struct rate_limit_stats *out);

#endif
