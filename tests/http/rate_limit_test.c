/*
 * rate_limit_test.c — the per-client rate limit (server/http/rate_limit.h) on a fake clock: burst
 * then limit, exact refill over a long run, Retry-After, a table smaller than the clients (fixed
 * memory, counted replacements, which slot goes), independent clients, and four threads hammering
 * shared and own addresses with exact totals.
 */
#include <pthread.h>
#include <string.h>

#include "tests/lib/check.h"
#include "http/rate_limit.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull
#define T0        (1000 * NS_PER_S) /* the fake clock's start: any monotonic value */

/* ::ffff:a.b.c.d from a 32-bit number, as app_set_peer writes an IPv4 peer */
static void addr_v4(uint8_t addr[16], uint32_t ip)
{
    memset(addr, 0, 16);
    addr[10] = addr[11] = 0xff;
    addr[12] = (uint8_t)(ip >> 24);
    addr[13] = (uint8_t)(ip >> 16);
    addr[14] = (uint8_t)(ip >> 8);
    addr[15] = (uint8_t)ip;
}

static bool setup(struct rate_limit *rl, uint32_t rps, uint32_t burst, uint32_t slots)
{
    struct rate_limit_config cfg = {.rps = rps, .burst = burst, .slots = slots};
    struct err e;

    return rate_limit_init(rl, &cfg, &e) == 0;
}

/* takes from addr at now until one is refused; the number allowed */
static uint32_t drain(struct rate_limit *rl, const uint8_t addr[16], uint64_t now)
{
    uint32_t n = 0, retry;

    while (rate_limit_take(rl, addr, now, &retry))
        n++;
    return n;
}

static void test_config_errors(void)
{
    struct rate_limit rl;
    struct rate_limit_config cfg = {.rps = 10, .burst = 5, .slots = 1000};
    struct err e;

    CHECK(rate_limit_init(&rl, &cfg, &e) < 0 && e.status == EXIT_STATUS_USAGE);
    cfg.slots = 4;
    CHECK(rate_limit_init(&rl, &cfg, &e) < 0);
    cfg.slots = 64, cfg.burst = 0;
    CHECK(rate_limit_init(&rl, &cfg, &e) < 0);
    rate_limit_destroy(&rl); /* a failed init leaves it safe to destroy */
}

static void test_no_limit(void)
{
    struct rate_limit rl;
    uint8_t a[16];
    uint32_t retry = 0;

    CHECK(setup(&rl, 0, 0, 0));
    addr_v4(a, 0x0a000001);
    for (int i = 0; i < 10000; i++)
        CHECK(rate_limit_take(&rl, a, T0, &retry));
    rate_limit_destroy(&rl);
}

static void test_burst_then_limit(void)
{
    struct rate_limit rl;
    struct rate_limit_stats st;
    uint8_t a[16];
    uint32_t retry = 0, n;

    CHECK(setup(&rl, 10, 5, 64));
    addr_v4(a, 0x0a000001);
    for (int i = 0; i < 5; i++)
        CHECK(rate_limit_take(&rl, a, T0, &retry));
    CHECK(!rate_limit_take(&rl, a, T0, &retry));
    CHECKF(retry == 1, "retry %u", retry);
    CHECK(!rate_limit_take(&rl, a, T0 + 99 * NS_PER_MS, &retry)); /* 0.99 of a token */
    CHECK(rate_limit_take(&rl, a, T0 + 100 * NS_PER_MS, &retry));
    CHECK(!rate_limit_take(&rl, a, T0 + 100 * NS_PER_MS, &retry));
    /* idle long enough, the bucket is full again, and no fuller */
    n = drain(&rl, a, T0 + 3600 * NS_PER_S);
    CHECKF(n == 5, "%u allowed", n);
    rate_limit_stats(&rl, &st);
    CHECKF(st.allowed == 11 && st.limited == 4 && st.replaced == 0 && st.tracked == 1,
           "allowed %lu limited %lu replaced %lu tracked %lu", (unsigned long)st.allowed,
           (unsigned long)st.limited, (unsigned long)st.replaced, (unsigned long)st.tracked);
    rate_limit_destroy(&rl);
}

/* 7 per second is 142857142.857… ns a token: an interval in float or whole ns would drift; the
 * nanotoken count does not, to the request, over a simulated day. */
static void test_refill_exact(void)
{
    struct rate_limit rl;
    uint8_t a[16];
    uint32_t retry;
    uint64_t allowed = 0;

    CHECK(setup(&rl, 7, 20, 64));
    addr_v4(a, 0xc0a80001);
    CHECK(drain(&rl, a, T0) == 20);
    for (uint64_t s = 1; s <= 86400; s++) {
        uint32_t n = drain(&rl, a, T0 + s * NS_PER_S);

        CHECKF(n == 7, "second %lu: %u allowed", (unsigned long)s, n);
        allowed += n;
    }
    CHECK(allowed == 7 * 86400);
    /* within a second: the k-th token is there at ceil(k * 1e9 / 7) ns, not a nanosecond sooner */
    CHECK(drain(&rl, a, T0 + 86400 * NS_PER_S) == 0);
    for (uint64_t k = 1; k <= 7; k++) {
        uint64_t at = T0 + 86400 * NS_PER_S + (k * NS_PER_S + 6) / 7;

        CHECKF(!rate_limit_take(&rl, a, at - 1, &retry), "token %lu a ns early", (unsigned long)k);
        CHECKF(rate_limit_take(&rl, a, at, &retry), "token %lu on time", (unsigned long)k);
    }
    /* requests every millisecond for ten seconds, from empty: exactly rps * 10 */
    allowed = 0;
    for (uint64_t ms = 1; ms <= 10000; ms++)
        allowed += rate_limit_take(&rl, a, T0 + 86401 * NS_PER_S + ms * NS_PER_MS, &retry);
    CHECKF(allowed == 70, "%lu", (unsigned long)allowed);
    rate_limit_destroy(&rl);
}

/* Retry-After is the whole seconds until the next token, rounded up: a client that waits that long
 * is served. With rps >= 1 a token is never more than a second away, counted from the latest time
 * the client's slot saw (a caller whose clock is behind it waits that much longer). */
static void test_retry_after(void)
{
    struct rate_limit rl;
    uint8_t a[16];
    uint32_t retry = 0;
    uint64_t now = T0;

    CHECK(setup(&rl, 1, 1, 64));
    addr_v4(a, 0x0a000002);
    CHECK(rate_limit_take(&rl, a, now, &retry));
    CHECK(!rate_limit_take(&rl, a, now, &retry) && retry == 1);
    CHECK(!rate_limit_take(&rl, a, now + NS_PER_S - 1, &retry) && retry == 1);
    CHECK(rate_limit_take(&rl, a, now + NS_PER_S, &retry));
    /* a clock 0.75 s behind the slot's: the next token is 1.75 s away, so 2 */
    CHECK(!rate_limit_take(&rl, a, now + NS_PER_S / 4, &retry));
    CHECKF(retry == 2, "%u", retry);
    now += NS_PER_S;
    for (int i = 0; i < 100; i++) {
        now += NS_PER_S / 3;
        if (!rate_limit_take(&rl, a, now, &retry)) {
            CHECKF(retry >= 1, "%u", retry);
            CHECK(rate_limit_take(&rl, a, now + retry * NS_PER_S, &retry));
            now += retry * NS_PER_S;
        }
    }
    rate_limit_destroy(&rl);
}

/* Ten thousand clients through 64 slots: the table never holds more than its slots, and every new
 * client past them replaced one (each insertion fills a free slot or replaces). */
static void test_replacement_bounded(void)
{
    struct rate_limit rl;
    struct rate_limit_stats st;
    uint8_t a[16];
    uint32_t retry;

    CHECK(setup(&rl, 1, 3, 64));
    for (uint32_t i = 0; i < 10000; i++) {
        addr_v4(a, 0x0a000000 + i);
        CHECK(rate_limit_take(&rl, a, T0 + i * NS_PER_MS, &retry)); /* a new client has a full bucket */
    }
    rate_limit_stats(&rl, &st);
    CHECKF(st.tracked == 64, "tracked %lu", (unsigned long)st.tracked);
    CHECKF(st.replaced == 10000 - st.tracked, "replaced %lu tracked %lu", (unsigned long)st.replaced,
           (unsigned long)st.tracked);
    CHECK(st.allowed == 10000 && st.limited == 0);
    rate_limit_destroy(&rl);
}

/* slots == RATE_LIMIT_WAYS: one set, so which slot goes is visible. A full (refilled) bucket goes
 * before the client idle the longest; failing that, the one idle the longest. */
static void test_replacement_choice(void)
{
    struct rate_limit rl;
    struct rate_limit_stats st;
    uint8_t a[16];
    uint32_t retry;

    CHECK(setup(&rl, 1, 10, RATE_LIMIT_WAYS));
    for (uint32_t i = 0; i < 8; i++) {
        addr_v4(a, 0x0a000000 + i);
        if (i == 5) {
            CHECK(rate_limit_take(&rl, a, T0 + NS_PER_S / 2, &retry)); /* 9 left at 0.5 s */
        } else {
            CHECK(drain(&rl, a, T0) == 10);
        }
    }
    /* at 1.5 s client 5 is full again (not the longest idle: 0..4, 6, 7 are); client 8 replaces it */
    addr_v4(a, 0x0a000008);
    CHECK(rate_limit_take(&rl, a, T0 + 3 * NS_PER_S / 2, &retry));
    rate_limit_stats(&rl, &st);
    CHECK(st.replaced == 1 && st.tracked == 8);
    addr_v4(a, 0x0a000000); /* remembered: 1.5 tokens */
    CHECKF(drain(&rl, a, T0 + 3 * NS_PER_S / 2) == 1, "%s", "client 0 forgotten");
    /* at 1.6 s nobody is full; the longest idle is client 1 (client 0 was just seen): it goes */
    addr_v4(a, 0x0a000009);
    CHECK(rate_limit_take(&rl, a, T0 + 16 * NS_PER_S / 10, &retry));
    addr_v4(a, 0x0a000000);
    CHECK(drain(&rl, a, T0 + 16 * NS_PER_S / 10) == 0); /* still remembered, still empty */
    addr_v4(a, 0x0a000001);
    CHECKF(drain(&rl, a, T0 + 16 * NS_PER_S / 10) == 10, "%s", "client 1 was not the one replaced");
    rate_limit_stats(&rl, &st);
    CHECKF(st.replaced == 3, "%lu", (unsigned long)st.replaced); /* client 1's return replaced one too */
    rate_limit_destroy(&rl);
}

/* Different addresses, however close, never share a bucket while they fit: two thousand clients in
 * the default table, each drained separately, and neighbours differing in one bit. */
static void test_clients_independent(void)
{
    struct rate_limit rl;
    struct rate_limit_stats st;
    uint8_t a[16], b[16];
    uint32_t retry;

    CHECK(setup(&rl, 1, 2, RATE_LIMIT_SLOTS_DEFAULT));
    for (uint32_t i = 0; i < 2000; i++) {
        addr_v4(a, 0x0a000000 + i);
        CHECKF(drain(&rl, a, T0) == 2, "client %u", i);
    }
    for (uint32_t i = 0; i < 2000; i++) {
        addr_v4(a, 0x0a000000 + i);
        CHECKF(!rate_limit_take(&rl, a, T0, &retry), "client %u forgot", i);
    }
    /* an IPv6 address and the same bytes but one; the unknown (all-zero) peer is a client too */
    memset(a, 0, 16);
    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 1;
    memcpy(b, a, 16);
    b[15] = 3;
    CHECK(drain(&rl, a, T0) == 2);
    CHECK(drain(&rl, b, T0) == 2);
    memset(a, 0, 16);
    CHECK(drain(&rl, a, T0) == 2);
    rate_limit_stats(&rl, &st);
    CHECKF(st.replaced == 0 && st.tracked == 2003, "replaced %lu tracked %lu", (unsigned long)st.replaced,
           (unsigned long)st.tracked);
    rate_limit_destroy(&rl);
}

/* ---- threads ------------------------------------------------------------------------------------- */

#define THREADS 4
#define STEPS   20000 /* 1 ms each: 20 s of fake time */
#define TRIES   3     /* takes per address per step: more than the one token a step brings */
#define RPS     1000
#define BURST   100

struct hammer {
    struct rate_limit *rl;
    uint32_t id;
    uint64_t allowed_shared, allowed_own, calls;
};

/* Each thread runs its own fake clock over the same 20 s, so the threads' times interleave out of
 * order: the table must refill by the latest time seen and nothing twice. Since every step asks for
 * more than it refills, no bucket reaches its cap, and each address is allowed exactly
 * BURST + RPS * (its last time - T0). */
static void *hammer(void *arg)
{
    struct hammer *h = arg;
    uint8_t shared[16], own[16];
    uint32_t retry;

    addr_v4(shared, 0xc0000201);
    addr_v4(own, 0xc6336400 + h->id);
    for (uint64_t step = 0; step <= STEPS; step++) {
        uint64_t now = T0 + step * NS_PER_MS;

        for (int t = 0; t < TRIES; t++) {
            h->allowed_shared += rate_limit_take(h->rl, shared, now, &retry);
            h->allowed_own += rate_limit_take(h->rl, own, now, &retry);
            h->calls += 2;
        }
    }
    return NULL;
}

static void test_threads_exact(void)
{
    struct rate_limit rl;
    struct rate_limit_stats st;
    struct hammer h[THREADS];
    pthread_t tid[THREADS];
    uint64_t shared = 0, calls = 0, per_addr = BURST + (uint64_t)RPS * STEPS / 1000;

    CHECK(setup(&rl, RPS, BURST, 1024));
    for (uint32_t i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){.rl = &rl, .id = i};
        CHECK(pthread_create(&tid[i], NULL, hammer, &h[i]) == 0);
    }
    for (uint32_t i = 0; i < THREADS; i++)
        pthread_join(tid[i], NULL);
    for (uint32_t i = 0; i < THREADS; i++) {
        CHECKF(h[i].allowed_own == per_addr, "thread %u own: %lu of %lu", i, (unsigned long)h[i].allowed_own,
               (unsigned long)per_addr);
        shared += h[i].allowed_shared;
        calls += h[i].calls;
    }
    CHECKF(shared == per_addr, "shared: %lu of %lu", (unsigned long)shared, (unsigned long)per_addr);
    rate_limit_stats(&rl, &st);
    CHECK(st.allowed == (THREADS + 1) * per_addr);
    CHECK(st.allowed + st.limited == calls);
    CHECK(st.replaced == 0 && st.tracked == THREADS + 1);
    rate_limit_destroy(&rl);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_config_errors),      CHECK_CASE(test_no_limit),
        CHECK_CASE(test_burst_then_limit),   CHECK_CASE(test_refill_exact),
        CHECK_CASE(test_retry_after),        CHECK_CASE(test_replacement_bounded),
        CHECK_CASE(test_replacement_choice), CHECK_CASE(test_clients_independent),
        CHECK_CASE(test_threads_exact),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
