/*
 * breaker.h — a circuit breaker per route of offloaded handlers (issue 16): after `failures`
 * failures or timeouts within `window_ms` the route is answered 503 at once, with Retry-After,
 * instead of feeding more requests to a handler that fails; after `open_ms` a few requests probe it
 * before it serves again.
 *
 * The states, as /metrics names them (breaker_state_name):
 *   closed     requests pass; each failure the caller records is kept with its time, and the
 *              `failures`-th failure within `window_ms` of the oldest of them opens the breaker
 *              (an exact sliding window: the last `failures` failure times, in a ring);
 *   open       breaker_allow refuses (counted) until open_ms has passed since it opened;
 *   half-open  at most `probes` requests are in flight at once; `probes` successes close it, one
 *              failure opens it again for open_ms.
 * Outcomes recorded while open are of requests let through before it opened: they are ignored; so
 * are those recorded in half-open while no probe is in flight. While probes are in flight an outcome
 * is taken as a probe's (the API carries no ticket): a request let through before the breaker
 * opened that ends then counts as one, which errs toward the evidence it is.
 *
 * Pure logic: the caller supplies the monotonic time (CLOCK_MONOTONIC in ns); the open -> half-open
 * step is taken lazily by whichever call sees the time past. Thread-safe: workers call allow and
 * pool threads call record, under a mutex per breaker (the offloaded path is the slow path). A
 * breaker with failures 0 never opens and takes no lock.
 */
#ifndef SLUICE_SCHED_BREAKER_H
#define SLUICE_SCHED_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Defaults of a route's breaker settings */
#define BREAKER_FAILURES_DEFAULT  20    /* failures within the window that open it; 0: never opens */
#define BREAKER_WINDOW_MS_DEFAULT 10000 /* the sliding window the failures are counted in */
#define BREAKER_OPEN_MS_DEFAULT   5000  /* how long it refuses before probing */
#define BREAKER_PROBES_DEFAULT    3     /* requests let through at once in half-open; successes to close */

#define BREAKER_FAILURES_MAX 64 /* failures is capped to this (the ring of failure times) */

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker_config {
    uint32_t failures;  /* 0: never opens; at most BREAKER_FAILURES_MAX (larger is capped) */
    uint32_t window_ms; /* failures further apart than this do not add up */
    uint32_t open_ms;   /* 0: probes at once */
    uint32_t probes;    /* at least 1 (0 is taken as 1) */
};

struct breaker_stats {
    uint64_t opened;  /* closed or half-open -> open */
    uint64_t refused; /* breaker_allow said no */
    uint64_t probes;  /* requests let through in half-open */
};

struct breaker {
    pthread_mutex_t lock;
    struct breaker_config cfg;
    enum breaker_state state;
    uint64_t open_until_ns;                 /* open: when it goes half-open */
    uint64_t fail_ns[BREAKER_FAILURES_MAX]; /* closed: the last failures' times, a ring */
    uint32_t fail_next;                     /* the ring's next slot (the oldest once it is full) */
    uint32_t fail_count;                    /* failures in the ring, up to cfg.failures */
    uint32_t in_flight;                     /* half-open: probes let through, not yet recorded */
    uint32_t successes;                     /* half-open: probes that succeeded */
    struct breaker_stats stats;
};

void breaker_init(struct breaker *b, const struct breaker_config *cfg);
void breaker_destroy(struct breaker *b);

/* May a request run now? false: refuse it now (503 with breaker_retry_after_s). A true must be
 * followed by one breaker_record of the request's outcome. */
bool breaker_allow(struct breaker *b, uint64_t now_ns);
/* The outcome of a request breaker_allow let through: ok false for an error or a timeout. */
void breaker_record(struct breaker *b, bool ok, uint64_t now_ns);

enum breaker_state breaker_state(struct breaker *b, uint64_t now_ns);
/* "closed", "open", "half_open": the state label of /metrics. */
const char *breaker_state_name(enum breaker_state s);
/* Seconds until the breaker probes again, rounded up, at least 1 (1 when not open): Retry-After. */
uint32_t breaker_retry_after_s(struct breaker *b, uint64_t now_ns);
void breaker_stats(struct breaker *b, struct breaker_stats *out);

#endif
