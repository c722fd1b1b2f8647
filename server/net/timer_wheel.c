/*
 * timer_wheel.c — see timer_wheel.h. Timers further away than one turn of the wheel sit in the
 * slot of their expiry modulo the wheel size and are skipped by each earlier pass over that slot.
 */
#include "net/timer_wheel.h"

#include <string.h>

#define SLOT_MASK (TIMER_WHEEL_SLOTS - 1)

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->now_ms = now_ms;
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
    if (!t->pprev)
        return;
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
    w->armed--;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms)
{
    struct timer **slot;

    timer_cancel(w, t);
    if (expires_ms <= w->now_ms)
        expires_ms = w->now_ms + 1;
    t->expires_ms = expires_ms;
    slot = &w->slots[expires_ms & SLOT_MASK];
    t->next = *slot;
    if (t->next)
        t->next->pprev = &t->next;
    t->pprev = slot;
    *slot = t;
    w->armed++;
}

static void run_slot(struct timer_wheel *w, uint32_t index, uint64_t now_ms,
                     void (*fire)(struct timer *, void *), void *ctx)
{
    struct timer *t = w->slots[index];

    while (t) {
        struct timer *next = t->next;

        if (t->expires_ms <= now_ms) {
            timer_cancel(w, t);
            fire(t, ctx);
            /* fire may have cancelled or re-armed anything, including next: restart the slot */
            next = w->slots[index];
            while (next && next->expires_ms > now_ms)
                next = next->next;
        }
        t = next;
    }
}

void timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms, void (*fire)(struct timer *t, void *ctx),
                         void *ctx)
{
    uint64_t from = w->now_ms + 1;

    if (now_ms < from)
        return;
    if (now_ms - from >= TIMER_WHEEL_SLOTS) {
        w->now_ms = now_ms;
        for (uint32_t i = 0; i < TIMER_WHEEL_SLOTS && w->armed; i++)
            run_slot(w, i, now_ms, fire, ctx);
        return;
    }
    for (uint64_t tick = from; tick <= now_ms && w->armed; tick++) {
        w->now_ms = tick;
        run_slot(w, (uint32_t)(tick & SLOT_MASK), tick, fire, ctx);
    }
    w->now_ms = now_ms;
}

uint64_t timer_wheel_next(const struct timer_wheel *w)
{
    uint64_t best = UINT64_MAX;

    if (!w->armed)
        return best;
    for (uint64_t tick = w->now_ms + 1; tick <= w->now_ms + TIMER_WHEEL_SLOTS; tick++) {
        for (const struct timer *t = w->slots[tick & SLOT_MASK]; t; t = t->next)
            if (t->expires_ms < best)
                best = t->expires_ms;
        if (best <= tick)
            return best;
    }
    return best;
}
