/*
 * spin.h — adaptive spinning ([server] poll_spin_us), the policy alone: how long an AF_XDP worker with
 * nothing to do goes on looking for packets before it sleeps in poll(). Pure (no clock, no I/O):
 * xdp_worker.c feeds it the times its loop saw; tests/afxdp/spin_test.c runs it against patterns of
 * packet arrivals.
 *
 * Why spin: a sleeping worker is woken by an IPI, and on a guest that halts when idle that wake takes
 * ~15 µs (README, Performance), more than a short request's whole service. Why adapt: a spin that no
 * packet ends is a core burnt. A spin that ends in sleep was wasted, and halves; work that ended the
 * sleep within poll_spin_us of the work before would have been caught by spinning that long, and sets
 * the spin to twice that gap (at least twice what it was, at most poll_spin_us). Doubling alone, or
 * sizing the spin by the sleep alone, settles below the gap between packets: each wasted spin undoes
 * what the sleep after it taught. So packets closer than poll_spin_us keep the worker awake, and a
 * worker whose traffic stops is asleep within one spin.
 */
#ifndef SLUICE_AFXDP_SPIN_H
#define SLUICE_AFXDP_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* The spin after one that ended in sleep, no packet having come */
static inline uint64_t spin_after_waste(uint64_t spin_ns)
{
    return spin_ns / 2;
}

/* The spin after a sleep that work ended (work) or a timeout did, idle_ns after the work before (the
 * spin that ran out and the sleep); max_ns: poll_spin_us */
static inline uint64_t spin_after_sleep(uint64_t spin_ns, uint64_t idle_ns, bool work, uint64_t max_ns)
{
    uint64_t spin;

    if (!work || idle_ns >= max_ns)
        return spin_ns;
    spin = 2 * (idle_ns > spin_ns ? idle_ns : spin_ns);
    return spin < max_ns ? spin : max_ns;
}

#endif
