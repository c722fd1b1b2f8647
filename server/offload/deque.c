/*
 * deque.c — the bounded Chase–Lev deque (see deque.h). Each ordering is the paper's (Lê et al. 2013,
 * figure 1) unless its comment says otherwise.
 */
#include "offload/deque.h"

#include <errno.h>
#include <stdlib.h>

int deque_init(struct deque *d, uint32_t capacity, struct err *e)
{
    uint32_t cap = 2;

    if (capacity > DEQUE_CAPACITY_MAX)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL, "a deque of %u items is over the limit of %u", capacity,
                   DEQUE_CAPACITY_MAX);
    while (cap < capacity)
        cap <<= 1;
    d->buf = calloc(cap, sizeof(*d->buf));
    if (!d->buf)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate a deque of %u items", cap);
    d->mask = cap - 1;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    return 0;
}

void deque_destroy(struct deque *d)
{
    free((void *)d->buf);
    d->buf = NULL;
}

uint32_t deque_capacity(const struct deque *d)
{
    return (uint32_t)(d->mask + 1);
}

bool deque_push(struct deque *d, void *item)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);

    if (b - t > d->mask)
        return false; /* full: t may be stale, but only smaller, so never a false "not full" */
    atomic_store_explicit(&d->buf[b & d->mask], item, memory_order_relaxed);
    /* the paper: release fence, relaxed store; a release store orders the same and TSan sees it */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

void *deque_pop(struct deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    int64_t t;
    void *item = NULL;

    /* release where the paper has relaxed, here and below: a thief that reads this bottom must also
     * see the pushes before it (C11's release sequence says so; TSan, which follows C++20's, does not) */
    atomic_store_explicit(&d->bottom, b, memory_order_release);
    /* the claim on slot b must be seen by thieves before we read top (store-load: a full fence) */
    atomic_thread_fence(memory_order_seq_cst);
    t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t <= b) {
        item = atomic_load_explicit(&d->buf[b & d->mask], memory_order_relaxed);
        if (t == b) {
            /* the last item: race the thieves for it on top */
            if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                         memory_order_relaxed))
                item = NULL;
            atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
        }
    } else {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release); /* was empty: undo */
    }
    return item;
}

void *deque_steal(struct deque *d)
{
    for (;;) {
        int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
        int64_t b;
        void *item;

        /* pairs with the owner's fence in pop: we see its claim on the last item or it sees our take */
        atomic_thread_fence(memory_order_seq_cst);
        b = atomic_load_explicit(&d->bottom, memory_order_acquire);
        if (t >= b)
            return NULL;
        item = atomic_load_explicit(&d->buf[t & d->mask], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                    memory_order_relaxed))
            return item;
        /* lost to another thief or the owner's last pop: someone progressed, look again */
    }
}

uint32_t deque_size_hint(const struct deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);

    return b > t ? (uint32_t)(b - t) : 0;
}
