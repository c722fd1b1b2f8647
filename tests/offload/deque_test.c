/*
 * deque_test.c — the bounded Chase–Lev deque (server/offload/deque.h): its order at each end, the
 * full and empty edges and wrap-around of the fixed array, and one owner pushing and popping against
 * two thieves, where every item must be taken exactly once. Run in the sanitizer build and in a
 * ThreadSanitizer build of its own (tests/offload/offload_test.sh).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/check.h"
#include "offload/deque.h"

#define ITEM(i)  ((void *)(uintptr_t)((i) + 1)) /* items are non-NULL */
#define INDEX(p) ((uint64_t)(uintptr_t)(p)-1)

static void test_init_rounds_capacity(void)
{
    struct deque d;
    struct err e;

    CHECK(deque_init(&d, 5, &e) == 0);
    CHECKF(deque_capacity(&d) == 8, "%u", deque_capacity(&d));
    deque_destroy(&d);
    CHECK(deque_init(&d, 0, &e) == 0);
    CHECK(deque_capacity(&d) == 2);
    deque_destroy(&d);
    CHECK(deque_init(&d, DEQUE_CAPACITY_MAX + 1, &e) == -1);
    CHECK(e.errnum == EINVAL);
}

static void test_empty(void)
{
    struct deque d;
    struct err e;

    CHECK(deque_init(&d, 4, &e) == 0);
    CHECK(deque_pop(&d) == NULL);
    CHECK(deque_steal(&d) == NULL);
    CHECK(deque_size_hint(&d) == 0);
    /* a pop of an empty deque must leave it usable */
    CHECK(deque_push(&d, ITEM(7)));
    CHECK(deque_pop(&d) == ITEM(7));
    CHECK(deque_pop(&d) == NULL);
    CHECK(deque_steal(&d) == NULL);
    deque_destroy(&d);
}

static void test_owner_lifo_thief_fifo(void)
{
    struct deque d;
    struct err e;

    CHECK(deque_init(&d, 8, &e) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(deque_push(&d, ITEM(i)));
    CHECK(deque_size_hint(&d) == 5);
    CHECK(deque_steal(&d) == ITEM(0));
    CHECK(deque_pop(&d) == ITEM(4));
    CHECK(deque_steal(&d) == ITEM(1));
    CHECK(deque_pop(&d) == ITEM(3));
    CHECK(deque_pop(&d) == ITEM(2)); /* the last item: taken through the CAS on top */
    CHECK(deque_pop(&d) == NULL);
    CHECK(deque_steal(&d) == NULL);
    deque_destroy(&d);
}

static void test_full(void)
{
    struct deque d;
    struct err e;

    CHECK(deque_init(&d, 4, &e) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(deque_push(&d, ITEM(i)));
    CHECK(!deque_push(&d, ITEM(4)));
    CHECK(deque_size_hint(&d) == 4);
    CHECK(deque_steal(&d) == ITEM(0)); /* room for one: it goes in the slot just freed */
    CHECK(deque_push(&d, ITEM(4)));
    CHECK(!deque_push(&d, ITEM(5)));
    CHECK(deque_pop(&d) == ITEM(4));
    CHECK(deque_push(&d, ITEM(5)));
    for (int i = 1; i < 4; i++)
        CHECK(deque_steal(&d) == ITEM(i));
    CHECK(deque_steal(&d) == ITEM(5));
    CHECK(deque_steal(&d) == NULL);
    deque_destroy(&d);
}

/* top and bottom run far past the capacity: the array is used round and round */
static void test_wraps_around(void)
{
    struct deque d;
    struct err e;
    uint64_t next_steal = 0;

    CHECK(deque_init(&d, 4, &e) == 0);
    for (uint64_t i = 0; i < 10000; i++) {
        CHECK(deque_push(&d, ITEM(i)));
        if (i % 2 == 1) {
            void *p = deque_steal(&d);

            CHECKF(p == ITEM(next_steal), "got %llu, expected %llu", (unsigned long long)INDEX(p),
                   (unsigned long long)next_steal);
            next_steal++;
        }
        if (deque_size_hint(&d) == 4) {
            /* full: the owner takes its newest back, then the thief side drains the rest */
            CHECK(deque_pop(&d) == ITEM(i));
            while (deque_steal(&d))
                ;
            next_steal = i + 1;
        }
    }
    deque_destroy(&d);
}

/* ---- contention: one owner pushing and popping, two thieves ----------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define RACE_ITEMS 200000 /* TSan runs some ten times slower */
#else
#define RACE_ITEMS 1000000
#endif

struct race {
    struct deque d;
    _Atomic unsigned char *taken; /* per item: how many times it was taken */
    _Atomic bool done;
    uint64_t stolen[2];
};

struct thief {
    struct race *r;
    int id;
};

static void race_take(struct race *r, void *p)
{
    atomic_fetch_add_explicit(&r->taken[INDEX(p)], 1, memory_order_relaxed);
}

static void *thief_main(void *arg)
{
    struct thief *t = arg;
    struct race *r = t->r;
    uint64_t n = 0;

    for (;;) {
        bool done = atomic_load_explicit(&r->done, memory_order_acquire);
        void *p = deque_steal(&r->d);

        if (p) {
            race_take(r, p);
            n++;
        } else if (done) {
            break; /* the owner drained the deque before saying done: nothing can appear now */
        } else {
            sched_yield(); /* two CPUs may be all we have: let the owner push */
        }
    }
    r->stolen[t->id] = n;
    return NULL;
}

static void test_owner_against_two_thieves(void)
{
    struct race r = {0};
    struct thief th[2] = {{&r, 0}, {&r, 1}};
    pthread_t tid[2];
    struct err e;
    uint64_t popped = 0, full = 0, lost = 0, twice = 0;
    void *p;

    CHECK(deque_init(&r.d, 256, &e) == 0);
    r.taken = calloc(RACE_ITEMS, sizeof(*r.taken));
    CHECK(r.taken);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&tid[i], NULL, thief_main, &th[i]) == 0);
    for (uint64_t i = 0; i < RACE_ITEMS; i++) {
        while (!deque_push(&r.d, ITEM(i))) {
            /* full: give the thieves a moment, then take one back ourselves */
            if (++full % 8 != 0) {
                sched_yield();
                continue;
            }
            if ((p = deque_pop(&r.d))) {
                race_take(&r, p);
                popped++;
            }
        }
        /* pop now and then, often enough to race the thieves for the last item */
        if (i % 3 == 0 && (p = deque_pop(&r.d))) {
            race_take(&r, p);
            popped++;
        }
    }
    while ((p = deque_pop(&r.d))) {
        race_take(&r, p);
        popped++;
    }
    atomic_store_explicit(&r.done, true, memory_order_release);
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    for (uint64_t i = 0; i < RACE_ITEMS; i++) {
        unsigned char n = atomic_load_explicit(&r.taken[i], memory_order_relaxed);

        lost += n == 0;
        twice += n > 1;
    }
    printf("# %d items: the owner popped %llu (found the deque full %llu times), thieves stole %llu and "
           "%llu\n",
           RACE_ITEMS, (unsigned long long)popped, (unsigned long long)full, (unsigned long long)r.stolen[0],
           (unsigned long long)r.stolen[1]);
    free((void *)r.taken);
    deque_destroy(&r.d);
    CHECKF(lost == 0 && twice == 0, "%llu items never taken, %llu taken more than once",
           (unsigned long long)lost, (unsigned long long)twice);
    CHECK(popped + r.stolen[0] + r.stolen[1] == RACE_ITEMS);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_init_rounds_capacity),  CHECK_CASE(test_empty),
        CHECK_CASE(test_owner_lifo_thief_fifo), CHECK_CASE(test_full),
        CHECK_CASE(test_wraps_around),          CHECK_CASE(test_owner_against_two_thieves),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);
}
