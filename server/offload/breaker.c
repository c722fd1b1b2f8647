/*
 * breaker.c — the circuit breaker of an offloaded route (see breaker.h). Every call takes the
 * breaker's mutex for a few comparisons; it never blocks otherwise, allocates or reads a clock.
 */
#include "offload/breaker.h"

#include <string.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

void breaker_init(struct breaker *b, const struct breaker_config *cfg)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->cfg = *cfg;
    if (b->cfg.failures > BREAKER_FAILURES_MAX)
        b->cfg.failures = BREAKER_FAILURES_MAX;
    if (b->cfg.probes == 0)
        b->cfg.probes = 1;
    b->state = BREAKER_CLOSED;
}

void breaker_destroy(struct breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

/* To open: refuse for open_ms; the failures that did it are forgotten. */
static void trip(struct breaker *b, uint64_t now_ns)
{
    b->state = BREAKER_OPEN;
    b->open_until_ns = now_ns + b->cfg.open_ms * NS_PER_MS;
    b->fail_count = b->fail_next = 0;
    b->in_flight = b->successes = 0;
    b->stats.opened++;
}

/* open -> half-open once open_ms has passed; locked. */
static void advance(struct breaker *b, uint64_t now_ns)
{
    if (b->state == BREAKER_OPEN && now_ns >= b->open_until_ns) {
        b->state = BREAKER_HALF_OPEN;
        b->in_flight = b->successes = 0;
    }
}

/* A failure while closed: into the ring of the last cfg.failures failure times; when the ring is full
 * and its oldest is within the window, the breaker opens. Locked. */
static void closed_failure(struct breaker *b, uint64_t now_ns)
{
    uint64_t oldest;

    b->fail_ns[b->fail_next] = now_ns;
    b->fail_next = (b->fail_next + 1) % b->cfg.failures;
    if (b->fail_count < b->cfg.failures)
        b->fail_count++;
    if (b->fail_count < b->cfg.failures)
        return;
    oldest = b->fail_ns[b->fail_next]; /* the ring is full: the next slot holds the oldest */
    /* an "oldest" later than now (another thread read the clock later, locked sooner) is within */
    if (oldest >= now_ns || now_ns - oldest < b->cfg.window_ms * NS_PER_MS)
        trip(b, now_ns);
}

bool breaker_allow(struct breaker *b, uint64_t now_ns)
{
    bool allowed = true;

    if (b->cfg.failures == 0)
        return true;
    pthread_mutex_lock(&b->lock);
    advance(b, now_ns);
    switch (b->state) {
    case BREAKER_CLOSED:
        break;
    case BREAKER_OPEN:
        allowed = false;
        break;
    case BREAKER_HALF_OPEN:
        /* probes requests in all per half-open spell, so never more than probes at once */
        allowed = b->in_flight + b->successes < b->cfg.probes;
        if (allowed) {
            b->in_flight++;
            b->stats.probes++;
        }
        break;
    }
    if (!allowed)
        b->stats.refused++;
    pthread_mutex_unlock(&b->lock);
    return allowed;
}

void breaker_record(struct breaker *b, bool ok, uint64_t now_ns)
{
    if (b->cfg.failures == 0)
        return;
    pthread_mutex_lock(&b->lock);
    advance(b, now_ns);
    switch (b->state) {
    case BREAKER_CLOSED:
        if (!ok)
            closed_failure(b, now_ns);
        break;
    case BREAKER_OPEN:
        break; /* a request let through before it opened: already accounted for */
    case BREAKER_HALF_OPEN:
        if (b->in_flight == 0)
            break; /* no probe out: a request from before it opened */
        b->in_flight--;
        if (!ok) {
            trip(b, now_ns);
        } else if (++b->successes >= b->cfg.probes) {
            b->state = BREAKER_CLOSED;
            b->in_flight = b->successes = 0;
        }
        break;
    }
    pthread_mutex_unlock(&b->lock);
}

enum breaker_state breaker_state(struct breaker *b, uint64_t now_ns)
{
    enum breaker_state s;

    if (b->cfg.failures == 0)
        return BREAKER_CLOSED;
    pthread_mutex_lock(&b->lock);
    advance(b, now_ns);
    s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}

const char *breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

uint32_t breaker_retry_after_s(struct breaker *b, uint64_t now_ns)
{
    uint64_t s = 1;

    if (b->cfg.failures == 0)
        return 1;
    pthread_mutex_lock(&b->lock);
    advance(b, now_ns);
    if (b->state == BREAKER_OPEN)
        s = (b->open_until_ns - now_ns + NS_PER_S - 1) / NS_PER_S;
    pthread_mutex_unlock(&b->lock);
    return s == 0 ? 1 : (uint32_t)s;
}

void breaker_stats(struct breaker *b, struct breaker_stats *out)
{
    pthread_mutex_lock(&b->lock);
    *out = b->stats;
    pthread_mutex_unlock(&b->lock);
}
