/*
 * timer_wheel.h — a hashed timing wheel: O(1) arm and cancel, cost per tick proportional to the
 * timers in that tick's slot, so 100k idle connections cost nothing until their timers are due.
 *
 * Time is whatever the owner passes in (milliseconds); the wheel never reads a clock. Timers are
 * intrusive (embedded in the object they belong to) and fire through one callback.
 */
#ifndef SLUICE_NET_TIMER_WHEEL_H
#define SLUICE_NET_TIMER_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_WHEEL_SLOTS 1024 /* power of two; one slot per millisecond */

struct timer {
    struct timer *next;
    struct timer **pprev; /* NULL while not armed */
    uint64_t expires_ms;
};

struct timer_wheel {
    uint64_t now_ms; /* every slot up to and including this tick has been processed */
    uint32_t armed;
    struct timer *slots[TIMER_WHEEL_SLOTS];
};

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms);

static inline bool timer_armed(const struct timer *t)
{
    return t->pprev != 0;
}

/* (Re)arm t to fire at expires_ms; a time already past fires on the next advance. */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms);
void timer_cancel(struct timer_wheel *w, struct timer *t);

/*
 * Move time forward to now_ms and call fire for every timer that expired, in no particular order.
 * A timer is disarmed before fire runs, which may re-arm it or arm others.
 */
void timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms, void (*fire)(struct timer *t, void *ctx),
                         void *ctx);

/* The earliest tick at which a timer may fire: exact within one turn of the wheel, UINT64_MAX if none. */
uint64_t timer_wheel_next(const struct timer_wheel *w);

#endif
