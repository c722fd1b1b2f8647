/*
 * deque.h — a bounded Chase–Lev work-stealing deque of pointers, the queue of the offload pool
 * (offload/offload.c): one per submitter and one per pool thread.
 *
 * One owner pushes and pops at the bottom, without a lock and, unless one item is left, without a
 * read-modify-write; any number of thieves steal at the top with one compare-and-swap. The memory
 * orders are those of Lê, Pop, Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for
 * Weak Memory Models" (PPoPP 2013), with the array fixed: its power-of-two capacity is allocated by
 * deque_init and a push to a full deque fails instead of growing it, so nothing is allocated or freed
 * while threads use it. The one change to the paper: every store to bottom is a release store (push's
 * replaces a release fence and a relaxed store, pop's were relaxed), the same cost on x86 and arm64,
 * so that ThreadSanitizer, which models neither fences nor C11's release sequences, sees the hand-off
 * of what an item points to.
 *
 * Items are non-NULL pointers; NULL means "nothing". What an item points to is published by the push
 * and acquired by whoever takes it.
 */
#ifndef SLUICE_SCHED_DEQUE_H
#define SLUICE_SCHED_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define DEQUE_CAPACITY_MAX (1u << 24)

/* A deque is cache-line aligned: allocate arrays of them with aligned_alloc(64, ...). */
struct deque {
    alignas(64) _Atomic int64_t top; /* next to steal; only ever grows (thieves and the owner's last pop) */
    alignas(64) _Atomic int64_t bottom; /* next to push; written by the owner only */
    void *_Atomic *buf;                 /* capacity slots, item i at buf[i & mask] */
    int64_t mask;                       /* capacity - 1 */
};

/* capacity: rounded up to a power of two, 2..DEQUE_CAPACITY_MAX. */
int deque_init(struct deque *d, uint32_t capacity, struct err *e);
void deque_destroy(struct deque *d);
uint32_t deque_capacity(const struct deque *d);

/* Owner only. false: the deque holds capacity items. item must not be NULL. */
bool deque_push(struct deque *d, void *item);
/* Owner only: the item pushed last, or NULL when empty. */
void *deque_pop(struct deque *d);
/* Any thread: the oldest item, or NULL when the deque was seen empty. A steal that loses the race
 * for the top item to another thief or the owner tries again (someone took an item meanwhile). */
void *deque_steal(struct deque *d);
/* Any thread: items held, read without ordering (a hint: it may be stale by the time it is used). */
uint32_t deque_size_hint(const struct deque *d);

#endif
