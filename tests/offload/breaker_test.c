/*
 * breaker_test.c — the circuit breaker of offloaded routes (server/offload/breaker.h) on a fake clock:
 * opening on N failures within the window and not when they are spread wider, refusing while open
 * with its Retry-After, half-open letting only `probes` through, closing on their successes,
 * reopening on a probe's failure, stale outcomes ignored, and threads calling allow and record at
 * once with counts that add up.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/lib/check.h"
#include "offload/breaker.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull
#define T0        (1000 * NS_PER_S)
#define MS(n)     (T0 + (uint64_t)(n)*NS_PER_MS) /* the fake clock n ms after its start */

static const struct breaker_config cfg = {.failures = 3, .window_ms = 1000, .open_ms = 5000, .probes = 2};

/* a request let through at ms and failing (or succeeding) at once */
static bool run(struct breaker *b, uint64_t ms, bool ok)
{
    if (!breaker_allow(b, MS(ms)))
        return false;
    breaker_record(b, ok, MS(ms));
    return true;
}

/* trips b at ms with cfg.failures failures */
static void trip_at(struct breaker *b, uint64_t ms)
{
    for (uint32_t i = 0; i < cfg.failures; i++)
        run(b, ms, false);
}

static void test_state_names(void)
{
    CHECK(strcmp(breaker_state_name(BREAKER_CLOSED), "closed") == 0);
    CHECK(strcmp(breaker_state_name(BREAKER_OPEN), "open") == 0);
    CHECK(strcmp(breaker_state_name(BREAKER_HALF_OPEN), "half_open") == 0);
}

static void test_opens_after_failures_in_window(void)
{
    struct breaker b;
    struct breaker_stats st;

    breaker_init(&b, &cfg);
    CHECK(run(&b, 0, false));
    CHECK(run(&b, 100, true)); /* successes do not forgive failures in the window */
    CHECK(run(&b, 400, false));
    CHECK(breaker_state(&b, MS(400)) == BREAKER_CLOSED);
    CHECK(run(&b, 999, false)); /* the third within 1000 ms of the first */
    CHECK(breaker_state(&b, MS(999)) == BREAKER_OPEN);
    breaker_stats(&b, &st);
    CHECK(st.opened == 1 && st.refused == 0 && st.probes == 0);
    breaker_destroy(&b);
}

/* Failures further apart than the window never add up, however many: a sliding window, not a count
 * reset every window_ms (which would open on two failures at the end of one window and one at the
 * start of the next). */
static void test_spread_failures_stay_closed(void)
{
    struct breaker b;

    breaker_init(&b, &cfg);
    for (uint64_t ms = 0; ms < 100000; ms += 500) /* 3 failures span 1000 ms: not within */
        CHECKF(run(&b, ms, false), "refused at %lu ms", (unsigned long)ms);
    CHECK(breaker_state(&b, MS(100000)) == BREAKER_CLOSED);
    /* two at the end of a second, one at the start of the next: within 1000 ms, it opens */
    CHECK(run(&b, 200900, false) && run(&b, 200950, false));
    CHECK(run(&b, 201100, false));
    CHECK(breaker_state(&b, MS(201100)) == BREAKER_OPEN);
    breaker_destroy(&b);
}

static void test_refuses_while_open(void)
{
    struct breaker b;
    struct breaker_stats st;
    uint32_t r;

    breaker_init(&b, &cfg);
    trip_at(&b, 0);
    for (uint64_t ms = 0; ms < 5000; ms += 7)
        CHECKF(!breaker_allow(&b, MS(ms)), "allowed at %lu ms", (unsigned long)ms);
    CHECK(breaker_state(&b, MS(4999)) == BREAKER_OPEN);
    r = breaker_retry_after_s(&b, MS(0));
    CHECKF(r == 5, "%u", r);
    r = breaker_retry_after_s(&b, MS(1500)); /* 3.5 s to go */
    CHECKF(r == 4, "%u", r);
    r = breaker_retry_after_s(&b, MS(4999));
    CHECKF(r == 1, "%u", r);
    breaker_stats(&b, &st);
    CHECKF(st.refused == 715, "%lu", (unsigned long)st.refused);
    /* at open_ms it probes */
    CHECK(breaker_state(&b, MS(5000)) == BREAKER_HALF_OPEN);
    CHECK(breaker_retry_after_s(&b, MS(5000)) == 1);
    breaker_destroy(&b);
}

static void test_half_open_limits_probes(void)
{
    struct breaker b;
    struct breaker_stats st;

    breaker_init(&b, &cfg);
    trip_at(&b, 0);
    CHECK(breaker_allow(&b, MS(5000)));
    CHECK(breaker_allow(&b, MS(5001)));
    for (int i = 0; i < 100; i++)
        CHECK(!breaker_allow(&b, MS(5002 + i))); /* two probes out: nothing else */
    breaker_record(&b, true, MS(5200));
    CHECK(!breaker_allow(&b, MS(5201))); /* one back, but a spell has only probes requests */
    CHECK(breaker_state(&b, MS(5201)) == BREAKER_HALF_OPEN);
    breaker_stats(&b, &st);
    CHECK(st.probes == 2 && st.refused == 101 && st.opened == 1);
    breaker_destroy(&b);
}

static void test_closes_after_probe_successes(void)
{
    struct breaker b;

    breaker_init(&b, &cfg);
    trip_at(&b, 0);
    CHECK(breaker_allow(&b, MS(6000)) && breaker_allow(&b, MS(6000)));
    breaker_record(&b, true, MS(6010));
    breaker_record(&b, true, MS(6020));
    CHECK(breaker_state(&b, MS(6020)) == BREAKER_CLOSED);
    for (int i = 0; i < 50; i++)
        CHECK(run(&b, 6030 + i, true));
    /* closed afresh: the failures before it opened are forgotten, it takes three new ones */
    CHECK(run(&b, 6100, false) && run(&b, 6101, false));
    CHECK(breaker_state(&b, MS(6101)) == BREAKER_CLOSED);
    CHECK(run(&b, 6102, false));
    CHECK(breaker_state(&b, MS(6102)) == BREAKER_OPEN);
    breaker_destroy(&b);
}

static void test_probe_failure_reopens(void)
{
    struct breaker b;
    struct breaker_stats st;

    breaker_init(&b, &cfg);
    trip_at(&b, 0);
    CHECK(breaker_allow(&b, MS(5000)) && breaker_allow(&b, MS(5000)));
    breaker_record(&b, true, MS(5100));
    breaker_record(&b, false, MS(5200)); /* one failure is enough */
    CHECK(breaker_state(&b, MS(5200)) == BREAKER_OPEN);
    CHECK(!breaker_allow(&b, MS(5300)));
    CHECKF(breaker_retry_after_s(&b, MS(5200)) == 5, "%u", breaker_retry_after_s(&b, MS(5200)));
    CHECK(breaker_state(&b, MS(10199)) == BREAKER_OPEN);
    CHECK(breaker_state(&b, MS(10200)) == BREAKER_HALF_OPEN);
    breaker_stats(&b, &st);
    CHECK(st.opened == 2 && st.probes == 2);
    breaker_destroy(&b);
}

/* Outcomes of requests let through before the breaker opened: ignored while open and in half-open
 * with no probe out, so they neither close it nor use up its probes. */
static void test_stale_outcomes_ignored(void)
{
    struct breaker b;

    breaker_init(&b, &cfg);
    CHECK(breaker_allow(&b, MS(0)) && breaker_allow(&b, MS(0)) && breaker_allow(&b, MS(0)));
    trip_at(&b, 10);
    breaker_record(&b, false, MS(20)); /* while open */
    CHECK(breaker_state(&b, MS(20)) == BREAKER_OPEN);
    CHECK(breaker_retry_after_s(&b, MS(20)) == 5); /* not extended */
    breaker_record(&b, true, MS(6000));            /* half-open, no probe out */
    breaker_record(&b, true, MS(6000));
    CHECK(breaker_state(&b, MS(6000)) == BREAKER_HALF_OPEN);
    CHECK(breaker_allow(&b, MS(6001)) && breaker_allow(&b, MS(6001)));
    CHECK(!breaker_allow(&b, MS(6001)));
    breaker_destroy(&b);
}

static void test_never_opens_with_zero_failures(void)
{
    struct breaker b;
    struct breaker_config off = cfg;
    struct breaker_stats st;

    off.failures = 0;
    breaker_init(&b, &off);
    for (uint64_t ms = 0; ms < 10000; ms++)
        CHECK(run(&b, ms / 100, false));
    CHECK(breaker_state(&b, MS(100)) == BREAKER_CLOSED);
    breaker_stats(&b, &st);
    CHECK(st.opened == 0 && st.refused == 0);
    breaker_destroy(&b);
}

/* failures above BREAKER_FAILURES_MAX is capped, and probes 0 is one probe */
static void test_config_limits(void)
{
    struct breaker b;
    struct breaker_config c = {.failures = 1000, .window_ms = 1000, .open_ms = 0, .probes = 0};

    breaker_init(&b, &c);
    for (uint32_t i = 0; i < BREAKER_FAILURES_MAX - 1; i++)
        CHECK(run(&b, 0, false));
    CHECK(breaker_state(&b, MS(0)) == BREAKER_CLOSED);
    CHECK(run(&b, 0, false));
    CHECK(breaker_state(&b, MS(0)) == BREAKER_HALF_OPEN); /* open_ms 0: probing at once */
    CHECK(breaker_allow(&b, MS(0)) && !breaker_allow(&b, MS(0)));
    breaker_record(&b, true, MS(0));
    CHECK(breaker_state(&b, MS(0)) == BREAKER_CLOSED);
    breaker_destroy(&b);
}

/* ---- threads ------------------------------------------------------------------------------------- */

#define THREADS 4
#define CALLS   50000

struct caller {
    struct breaker *b;
    _Atomic uint64_t *clock;
    uint32_t seed;
    uint64_t allowed, refused;
};

/* Each call takes the next millisecond of a shared clock; a request fails one time in three, so
 * the breaker opens, probes and closes over and over while the threads race. */
static void *caller(void *arg)
{
    struct caller *c = arg;

    for (int i = 0; i < CALLS; i++) {
        uint64_t now = T0 + atomic_fetch_add(c->clock, 1) * NS_PER_MS;

        c->seed = c->seed * 1103515245 + 12345;
        if (!breaker_allow(c->b, now)) {
            c->refused++;
            continue;
        }
        c->allowed++;
        breaker_record(c->b, (c->seed >> 16) % 3 != 0, now);
    }
    return NULL;
}

/* The counts add up: every call was allowed or refused as the breaker counted, each half-open spell
 * (one per opening at most) let at most probes through, and no probe is left unrecorded. */
static void test_threads_consistent(void)
{
    struct breaker b;
    struct breaker_stats st;
    struct breaker_config c = {.failures = 5, .window_ms = 50, .open_ms = 20, .probes = 2};
    struct caller callers[THREADS];
    pthread_t tid[THREADS];
    _Atomic uint64_t clock = 0;
    uint64_t allowed = 0, refused = 0;

    breaker_init(&b, &c);
    for (uint32_t i = 0; i < THREADS; i++) {
        callers[i] = (struct caller){.b = &b, .clock = &clock, .seed = i + 1};
        CHECK(pthread_create(&tid[i], NULL, caller, &callers[i]) == 0);
    }
    for (uint32_t i = 0; i < THREADS; i++)
        pthread_join(tid[i], NULL);
    for (uint32_t i = 0; i < THREADS; i++) {
        allowed += callers[i].allowed;
        refused += callers[i].refused;
    }
    breaker_stats(&b, &st);
    CHECK(allowed + refused == (uint64_t)THREADS * CALLS);
    CHECKF(st.refused == refused, "breaker %lu, callers %lu", (unsigned long)st.refused,
           (unsigned long)refused);
    CHECKF(st.opened > 10 && st.probes <= st.opened * c.probes, "opened %lu probes %lu",
           (unsigned long)st.opened, (unsigned long)st.probes);
    CHECK(b.in_flight == 0); /* every probe let through was recorded */
    breaker_destroy(&b);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_state_names),
        CHECK_CASE(test_opens_after_failures_in_window),
        CHECK_CASE(test_spread_failures_stay_closed),
        CHECK_CASE(test_refuses_while_open),
        CHECK_CASE(test_half_open_limits_probes),
        CHECK_CASE(test_closes_after_probe_successes),
        CHECK_CASE(test_probe_failure_reopens),
        CHECK_CASE(test_stale_outcomes_ignored),
        CHECK_CASE(test_never_opens_with_zero_failures),
        CHECK_CASE(test_config_limits),
        CHECK_CASE(test_threads_consistent),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
