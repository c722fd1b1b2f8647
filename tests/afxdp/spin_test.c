/*
 * spin_test.c — the adaptive spin's policy (server/afxdp/spin.h) against patterns of packet arrivals,
 * on a simulated clock: a worker with nothing to do spins for its spin, then sleeps until the next
 * packet. Packets closer than poll_spin_us, steady or jittered, keep it awake once it has seen a few;
 * packets farther apart stop it spinning; the spin never passes poll_spin_us, and 0 never spins.
 */
#include <stdbool.h>
#include <stdint.h>

#include "afxdp/spin.h"
#include "tests/lib/check.h"

#define US 1000ull

/* A worker's spin between packets, and what it cost */
struct sim {
    uint64_t spin_ns, max_ns;
    uint64_t sleeps, wasted_ns;
};

/* The next packet, gap_ns after the work before: caught while spinning, or after a spin that ran out
 * (wasted) and a sleep that the packet ended, as xdp_worker.c's loop goes */
static void arrive(struct sim *s, uint64_t gap_ns)
{
    if (gap_ns <= s->spin_ns)
        return;
    s->wasted_ns += s->spin_ns;
    s->spin_ns = spin_after_waste(s->spin_ns);
    s->sleeps++;
    s->spin_ns = spin_after_sleep(s->spin_ns, gap_ns, true, s->max_ns);
}

/* A deterministic generator of gaps in [lo, hi] */
static uint64_t next_gap(uint64_t *state, uint64_t lo, uint64_t hi)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (*state >> 33) % (hi - lo + 1);
}

static void test_close_packets_keep_it_awake(void)
{
    static const uint64_t gaps_us[] = {2, 5, 10, 20, 30, 45, 49};

    for (unsigned g = 0; g < sizeof(gaps_us) / sizeof(gaps_us[0]); g++) {
        struct sim s = {.max_ns = 50 * US};

        for (int i = 0; i < 10; i++)
            arrive(&s, gaps_us[g] * US);
        s.sleeps = 0;
        for (int i = 0; i < 1000; i++)
            arrive(&s, gaps_us[g] * US);
        CHECKF(s.sleeps == 0, "a packet every %llu us, poll_spin_us 50: %llu sleeps in 1000 packets after 10",
               (unsigned long long)gaps_us[g], (unsigned long long)s.sleeps);
    }
}

static void test_jittered_packets_keep_it_awake(void)
{
    struct sim s = {.max_ns = 50 * US};
    uint64_t state = 1;

    for (int i = 0; i < 10; i++)
        arrive(&s, (i % 2 ? 40 : 10) * US);
    s.sleeps = 0;
    for (int i = 0; i < 1000; i++)
        arrive(&s, (i % 2 ? 40 : 10) * US);
    CHECKF(s.sleeps == 0, "gaps of 10 and 40 us in turn: %llu sleeps", (unsigned long long)s.sleeps);
    for (int i = 0; i < 10; i++)
        arrive(&s, next_gap(&state, 1 * US, 48 * US));
    s.sleeps = 0;
    for (int i = 0; i < 10000; i++)
        arrive(&s, next_gap(&state, 1 * US, 48 * US));
    CHECKF(s.sleeps == 0, "gaps of 1-48 us at random: %llu sleeps in 10000 packets",
           (unsigned long long)s.sleeps);
}

static void test_far_packets_stop_it_spinning(void)
{
    struct sim s = {.spin_ns = 50 * US, .max_ns = 50 * US};
    uint64_t wasted;

    for (int i = 0; i < 20; i++)
        arrive(&s, 200 * US);
    CHECKF(s.spin_ns == 0, "packets 200 us apart, poll_spin_us 50: the spin is %llu ns after 20",
           (unsigned long long)s.spin_ns);
    wasted = s.wasted_ns;
    for (int i = 0; i < 1000; i++)
        arrive(&s, 200 * US);
    CHECKF(s.wasted_ns == wasted, "and spins no more: %llu ns wasted over 1000 packets",
           (unsigned long long)(s.wasted_ns - wasted));
    CHECK(s.sleeps == 1020);
}

static void test_never_beyond_its_bound(void)
{
    struct sim s = {.max_ns = 50 * US}, off = {.max_ns = 0};
    uint64_t state = 7;

    for (int i = 0; i < 100000; i++) {
        uint64_t gap = next_gap(&state, 0, 200 * US);

        arrive(&s, gap);
        arrive(&off, gap);
        if (s.spin_ns > s.max_ns || off.spin_ns) {
            CHECKF(0, "packet %d: spin %llu ns with poll_spin_us 50, %llu with 0", i,
                   (unsigned long long)s.spin_ns, (unsigned long long)off.spin_ns);
            return;
        }
    }
    CHECK(off.wasted_ns == 0);
    /* a timeout's wake (no work) and work as far as the bound leave the spin as it was */
    CHECK(spin_after_sleep(20 * US, 5 * US, false, 50 * US) == 20 * US);
    CHECK(spin_after_sleep(20 * US, 50 * US, true, 50 * US) == 20 * US);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_close_packets_keep_it_awake),
        CHECK_CASE(test_jittered_packets_keep_it_awake),
        CHECK_CASE(test_far_packets_stop_it_spinning),
        CHECK_CASE(test_never_beyond_its_bound),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
