/*
 * offload.c — the offload pool (see offload.h): pool threads that take jobs from work-stealing
 * deques, run them and hand them back, and start and stop themselves with the load.
 *
 * The ways in and out take no lock: a submit reserves a place against queue_max on one atomic
 * counter, pushes to the submitter's own deque (offload/deque.h) and, when a thread is asleep, wakes
 * one; a thread pops its own deque, then steals from the others starting at a rotating index. The
 * pool's one mutex guards the thread slots, taken only to start, leave or join a thread.
 *
 * Sleeping: each thread has a futex word and a bit in the `sleeping` bitmap. A thread about to sleep
 * sets its bit, then (after a full fence) looks at the deques once more; a submit pushes, then (after
 * a full fence) looks at the bitmap. The two fences order the two sides, so either the thread sees
 * the job or the submit sees the sleeper (the eventcount argument). A submit wakes the lowest-numbered
 * sleeper, so work gathers on the low slots and the high ones idle long enough to leave. With no job,
 * threads only wake every shrink_idle_ms to see whether they may leave: an idle pool costs nothing.
 *
 * Nothing pushes to a thread's own deque yet (a job that spawns jobs would); it is scanned like the rest.
 * Never call this from a handler running on a pool thread in a way that waits for the pool.
 */
#include "offload/offload.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "offload/deque.h"

#define OFFLOAD_THREAD_DEQUE 64            /* items a thread's own deque holds */
#define OFFLOAD_RATE_WINDOW  1000000000ull /* the completion rate is measured over windows of 1 s */
#define OFFLOAD_RATE_FIRST   100000000ull  /* before the first window closes, a partial one of 100 ms */
#define OFFLOAD_RATE_FIRST_N 8             /* ... with at least this many completions */
#define OFFLOAD_WORDS        (OFFLOAD_MAX_THREADS / 64)

enum offload_slot_state {
    OFFLOAD_SLOT_FREE,    /* no thread: may be started */
    OFFLOAD_SLOT_RUNNING, /* a thread runs in it */
    OFFLOAD_SLOT_EXITED,  /* its thread returned (or is returning) and must be joined before reuse */
};

struct offload_submitter {
    struct deque dq;            /* pushed by the submitter, stolen by the threads */
    _Atomic uint64_t submitted; /* written by the submitter only: no line shared between workers */
    _Atomic uint64_t rejected;
    /* the completion inbox: jobs pushed by the threads (a Treiber stack), taken all at once by the
     * submitter; wake_fd is written when a push finds it empty */
    alignas(64) _Atomic(struct offload_job *) done;
    int wake_fd;
};

struct offload_slot {
    struct deque dq; /* the thread's own */
    struct offload_pool *pool;
    uint32_t index;
    bool grown;                        /* started by a grow: the thread clears pool->growing once it runs */
    int state;                         /* enum offload_slot_state, under pool->lock */
    pthread_t tid;                     /* under pool->lock */
    alignas(64) _Atomic uint32_t wake; /* futex word: 0 before sleeping, 1 once a submit chose it */
};

struct offload_pool {
    struct offload_config cfg;
    uint32_t nsubmitters;
    uint32_t ndeques; /* nsubmitters + max_threads, in the order thieves scan */
    struct offload_submitter *subs;
    struct offload_slot *slots; /* max_threads */
    struct deque **deques;
    uint64_t grow_wait_ns, shrink_idle_ns;
    cpu_set_t cpus;
    pthread_mutex_t lock; /* slot states; starting, leaving and joining threads */

    alignas(64) _Atomic uint32_t queued; /* submitted and not yet taken */
    alignas(64) _Atomic uint64_t sleeping[OFFLOAD_WORDS];
    alignas(64) _Atomic uint32_t threads;
    _Atomic uint32_t busy;
    _Atomic bool growing; /* a thread start is in flight */
    _Atomic bool stopping;
    alignas(64) _Atomic uint64_t completed;
    _Atomic uint64_t stolen, wait_ns, grown, shrunk;
    /* the completion rate: the open window's start and the count of completions then, and the
     * smoothed rate of the windows closed (a double's bits), once rate_known */
    alignas(64) _Atomic uint64_t win_start_ns;
    _Atomic uint64_t win_count;
    _Atomic uint64_t rate_bits;
    _Atomic bool rate_known;
};

static uint64_t offload_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *offload_calloc64(size_t n, size_t size)
{
    size_t bytes = (n * size + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);

    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

static void offload_futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t timeout_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                          .tv_nsec = (long)(timeout_ns % 1000000000ull)};

    /* EAGAIN (already woken), EINTR and ETIMEDOUT all mean: look again */
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void offload_futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static double offload_rate(uint64_t bits)
{
    double r;

    memcpy(&r, &bits, sizeof(r));
    return r;
}

static uint64_t offload_rate_bits(double r)
{
    uint64_t bits;

    memcpy(&bits, &r, sizeof(bits));
    return bits;
}

/* ---- waking ---------------------------------------------------------------------------------------- */

static void offload_wake_slot(struct offload_pool *p, uint32_t i)
{
    atomic_store_explicit(&p->slots[i].wake, 1, memory_order_release);
    offload_futex_wake(&p->slots[i].wake);
}

/* Wake the lowest-numbered sleeper, if any. The caller fenced after publishing its work. */
static void offload_wake_one(struct offload_pool *p)
{
    uint32_t nwords = (p->cfg.max_threads + 63) / 64;

    for (uint32_t w = 0; w < nwords; w++) {
        uint64_t v = atomic_load_explicit(&p->sleeping[w], memory_order_relaxed);

        while (v) {
            uint64_t bit = v & -v;
            uint64_t old = atomic_fetch_and_explicit(&p->sleeping[w], ~bit, memory_order_acq_rel);

            if (old & bit) {
                offload_wake_slot(p, w * 64 + (uint32_t)__builtin_ctzll(bit));
                return;
            }
            v = old & ~bit; /* another waker took that one */
        }
    }
}

static void offload_wake_all(struct offload_pool *p)
{
    for (uint32_t w = 0; w < OFFLOAD_WORDS; w++) {
        uint64_t v = atomic_exchange_explicit(&p->sleeping[w], 0, memory_order_seq_cst);

        for (; v; v &= v - 1)
            offload_wake_slot(p, w * 64 + (uint32_t)__builtin_ctzll(v));
    }
}

/* ---- threads: starting, growing, leaving -------------------------------------------------------- */

static void *offload_thread_main(void *arg);

/* Under p->lock: start a thread in slot s (free). */
static int offload_start_locked(struct offload_pool *p, struct offload_slot *s, bool grown)
{
    pthread_attr_t attr;
    int err;

    s->grown = grown;
    s->state = OFFLOAD_SLOT_RUNNING;
    atomic_fetch_add_explicit(&p->threads, 1, memory_order_relaxed);
    err = pthread_attr_init(&attr);
    if (!err && p->cfg.ncpus)
        err = pthread_attr_setaffinity_np(&attr, sizeof(p->cpus), &p->cpus);
    if (!err)
        err = pthread_create(&s->tid, &attr, offload_thread_main, s);
    pthread_attr_destroy(&attr);
    if (err) {
        s->state = OFFLOAD_SLOT_FREE;
        atomic_fetch_sub_explicit(&p->threads, 1, memory_order_relaxed);
    }
    return err;
}

/* A job waited too long: start one more thread, unless one is starting already or we are at the top. */
static void offload_grow(struct offload_pool *p)
{
    bool no = false, started = false;
    struct offload_slot *s = NULL;

    if (atomic_load_explicit(&p->threads, memory_order_relaxed) >= p->cfg.max_threads ||
        atomic_load_explicit(&p->growing, memory_order_relaxed) ||
        !atomic_compare_exchange_strong_explicit(&p->growing, &no, true, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    pthread_mutex_lock(&p->lock);
    if (!atomic_load_explicit(&p->stopping, memory_order_relaxed) &&
        atomic_load_explicit(&p->threads, memory_order_relaxed) < p->cfg.max_threads) {
        /* the lowest slot not running: submits wake low slots first, so high ones are the ones to leave */
        for (uint32_t i = 0; i < p->cfg.max_threads && !s; i++)
            if (p->slots[i].state != OFFLOAD_SLOT_RUNNING)
                s = &p->slots[i];
    }
    if (s && s->state == OFFLOAD_SLOT_EXITED) {
        pthread_join(s->tid, NULL); /* it has marked itself and is returning: a short wait */
        s->state = OFFLOAD_SLOT_FREE;
    }
    /* none free: a thread counted out by offload_leave has not marked its slot yet; a later job grows */
    if (s && offload_start_locked(p, s, true) == 0) {
        atomic_fetch_add_explicit(&p->grown, 1, memory_order_relaxed);
        started = true;
    }
    pthread_mutex_unlock(&p->lock);
    if (!started) /* else the new thread clears growing once it runs */
        atomic_store_explicit(&p->growing, false, memory_order_release);
}

/* An idle thread may leave while more than min_threads run. */
static bool offload_leave(struct offload_pool *p)
{
    uint32_t n = atomic_load_explicit(&p->threads, memory_order_relaxed);

    while (n > p->cfg.min_threads)
        if (atomic_compare_exchange_weak_explicit(&p->threads, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* ---- taking and running jobs ---------------------------------------------------------------------- */

static struct offload_job *offload_take(struct offload_pool *p, struct offload_slot *s, uint32_t *next,
                                        bool *stolen)
{
    /* relaxed looks first, here and below: most deques are empty, and a pop or a steal costs a fence */
    struct offload_job *job = deque_size_hint(&s->dq) ? deque_pop(&s->dq) : NULL;

    *stolen = false;
    for (uint32_t i = 0; !job && i < p->ndeques; i++) {
        uint32_t k = (*next + i) % p->ndeques;
        struct deque *d = p->deques[k];

        if (d == &s->dq || deque_size_hint(d) == 0)
            continue;
        job = deque_steal(d);
        if (job) {
            *stolen = true;
            *next = k + 1; /* the next scan starts past this deque: submitters are served in turn */
        }
    }
    if (!job) {
        *next = *next + 1;
        return NULL;
    }
    atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
    return job;
}

/* A job just completed at now: close the rate window when it is a second old (one thread wins it). */
static void offload_count_completion(struct offload_pool *p, uint64_t now)
{
    uint64_t c = atomic_fetch_add_explicit(&p->completed, 1, memory_order_relaxed) + 1;
    uint64_t ws = atomic_load_explicit(&p->win_start_ns, memory_order_relaxed);
    double inst, rate;

    if (now - ws < OFFLOAD_RATE_WINDOW ||
        !atomic_compare_exchange_strong_explicit(&p->win_start_ns, &ws, now, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    inst = (double)(c - atomic_exchange_explicit(&p->win_count, c, memory_order_relaxed)) * 1e9 /
           (double)(now - ws);
    rate = inst;
    if (atomic_load_explicit(&p->rate_known, memory_order_relaxed))
        rate = 0.5 * offload_rate(atomic_load_explicit(&p->rate_bits, memory_order_relaxed)) + 0.5 * inst;
    atomic_store_explicit(&p->rate_bits, offload_rate_bits(rate), memory_order_relaxed);
    atomic_store_explicit(&p->rate_known, true, memory_order_relaxed);
}

/* Into the submitter's completion inbox; the eventfd when the inbox was empty. */
static void offload_return(struct offload_pool *p, struct offload_job *job)
{
    struct offload_submitter *sub = &p->subs[job->submitter];
    struct offload_job *head = atomic_load_explicit(&sub->done, memory_order_relaxed);
    uint64_t one = 1;

    do
        job->next_done = head;
    while (!atomic_compare_exchange_weak_explicit(&sub->done, &head, job, memory_order_release,
                                                  memory_order_relaxed));
    if (!head && write(sub->wake_fd, &one, sizeof(one)) < 0)
        return; /* the counter is at its maximum: the fd is readable anyway */
}

static void offload_run(struct offload_pool *p, struct offload_job *job, bool stolen)
{
    uint64_t now = offload_now_ns();
    uint64_t wait = now - job->submit_ns;

    job->start_ns = now;
    atomic_fetch_add_explicit(&p->wait_ns, wait, memory_order_relaxed);
    if (stolen)
        atomic_fetch_add_explicit(&p->stolen, 1, memory_order_relaxed);
    if (wait > p->grow_wait_ns)
        offload_grow(p);
    atomic_fetch_add_explicit(&p->busy, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&p->stopping, memory_order_relaxed)) { /* else handed back unrun */
        job->run(job);
        now = offload_now_ns();
    }
    job->end_ns = now;
    if (job->done)
        job->done(job); /* the job is the caller's again: not touched after this */
    else
        offload_return(p, job);
    atomic_fetch_sub_explicit(&p->busy, 1, memory_order_relaxed);
    offload_count_completion(p, now);
}

/* Any job in any deque? Relaxed looks, good after the caller's full fence. */
static bool offload_has_work(struct offload_pool *p)
{
    for (uint32_t k = 0; k < p->ndeques; k++)
        if (deque_size_hint(p->deques[k]))
            return true;
    return false;
}

static void offload_sleep(struct offload_pool *p, struct offload_slot *s, uint64_t timeout_ns)
{
    _Atomic uint64_t *word = &p->sleeping[s->index / 64];
    uint64_t bit = 1ull << (s->index % 64);

    atomic_store_explicit(&s->wake, 0, memory_order_relaxed);
    atomic_fetch_or_explicit(word, bit, memory_order_seq_cst);
    /* pairs with the fence in offload_submit (and stop's seq_cst store): we see its job, or it sees us */
    atomic_thread_fence(memory_order_seq_cst);
    if (!offload_has_work(p) && !atomic_load_explicit(&p->stopping, memory_order_seq_cst))
        offload_futex_wait(&s->wake, 0, timeout_ns);
    atomic_fetch_and_explicit(word, ~bit, memory_order_acq_rel);
    /* woken by a submit or not, the caller looks at the deques next */
}

static void *offload_thread_main(void *arg)
{
    struct offload_slot *s = arg;
    struct offload_pool *p = s->pool;
    uint32_t next = s->index; /* threads start their scans at different deques */
    uint64_t idle_since = offload_now_ns();
    char name[16];

    snprintf(name, sizeof(name), "sluice-off/%u", s->index);
    pthread_setname_np(pthread_self(), name);
    if (s->grown)
        atomic_store_explicit(&p->growing, false, memory_order_release);
    for (;;) {
        bool stolen;
        struct offload_job *job = offload_take(p, s, &next, &stolen);
        uint64_t now;

        if (job) {
            offload_run(p, job, stolen);
            idle_since = offload_now_ns();
            continue;
        }
        if (atomic_load_explicit(&p->stopping, memory_order_acquire)) {
            if (atomic_load_explicit(&p->queued, memory_order_relaxed) == 0)
                break;     /* stopping and nothing left (no submit comes after stop) */
            sched_yield(); /* a job is being taken by another thread right now */
            continue;
        }
        now = offload_now_ns();
        if (now - idle_since >= p->shrink_idle_ns) {
            if (offload_leave(p)) {
                atomic_fetch_add_explicit(&p->shrunk, 1, memory_order_relaxed);
                break;
            }
            idle_since = now; /* at min_threads: stay, and look again in shrink_idle_ms */
        }
        offload_sleep(p, s, idle_since + p->shrink_idle_ns - now);
    }
    pthread_mutex_lock(&p->lock);
    s->state = OFFLOAD_SLOT_EXITED;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the interface --------------------------------------------------------------------------------- */

void offload_pool_free(struct offload_pool *p)
{
    if (!p)
        return;
    if (p->subs)
        for (uint32_t i = 0; i < p->nsubmitters; i++) {
            deque_destroy(&p->subs[i].dq);
            if (p->subs[i].wake_fd >= 0)
                close(p->subs[i].wake_fd);
        }
    if (p->slots)
        for (uint32_t i = 0; i < p->cfg.max_threads; i++)
            deque_destroy(&p->slots[i].dq);
    pthread_mutex_destroy(&p->lock);
    free(p->deques);
    free(p->subs);
    free(p->slots);
    free(p);
}

static int offload_check_config(const struct offload_config *cfg, uint32_t nsubmitters, struct err *e)
{
    if (cfg->min_threads < 1 || cfg->min_threads > cfg->max_threads || cfg->max_threads > OFFLOAD_MAX_THREADS)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL,
                   "offload threads: min %u, max %u; want 1 <= min <= max <= %d", cfg->min_threads,
                   cfg->max_threads, OFFLOAD_MAX_THREADS);
    if (cfg->queue_max < 1 || cfg->queue_max > DEQUE_CAPACITY_MAX)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL, "offload queue_max %u: want 1..%u", cfg->queue_max,
                   DEQUE_CAPACITY_MAX);
    if (nsubmitters < 1 || nsubmitters > 4096)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL, "offload pool for %u submitters: want 1..4096", nsubmitters);
    if (cfg->shrink_idle_ms < 1)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL, "offload shrink_idle_ms must be at least 1");
    if (cfg->ncpus > OFFLOAD_MAX_CPUS)
        return ERR(e, EXIT_STATUS_USAGE, EINVAL, "offload: %u CPUs, at most %d", cfg->ncpus,
                   OFFLOAD_MAX_CPUS);
    for (uint32_t i = 0; i < cfg->ncpus; i++)
        if (cfg->cpus[i] < 0 || cfg->cpus[i] >= CPU_SETSIZE)
            return ERR(e, EXIT_STATUS_USAGE, EINVAL, "offload: no CPU %d", cfg->cpus[i]);
    return 0;
}

int offload_pool_start(struct offload_pool **out, const struct offload_config *cfg, uint32_t nsubmitters,
                       struct err *e)
{
    struct offload_pool *p;
    uint32_t k = 0;

    *out = NULL;
    if (offload_check_config(cfg, nsubmitters, e))
        return -1;
    p = offload_calloc64(1, sizeof(*p));
    if (!p)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate the offload pool");
    p->cfg = *cfg;
    p->nsubmitters = nsubmitters;
    p->ndeques = nsubmitters + cfg->max_threads;
    p->grow_wait_ns = (uint64_t)cfg->grow_wait_us * 1000;
    p->shrink_idle_ns = (uint64_t)cfg->shrink_idle_ms * 1000000;
    CPU_ZERO(&p->cpus);
    for (uint32_t i = 0; i < cfg->ncpus; i++)
        CPU_SET(cfg->cpus[i], &p->cpus);
    pthread_mutex_init(&p->lock, NULL);
    atomic_store_explicit(&p->win_start_ns, offload_now_ns(), memory_order_relaxed);
    p->subs = offload_calloc64(nsubmitters, sizeof(*p->subs));
    p->slots = offload_calloc64(cfg->max_threads, sizeof(*p->slots));
    p->deques = calloc(p->ndeques, sizeof(*p->deques));
    if (!p->subs || !p->slots || !p->deques) {
        offload_pool_free(p);
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "cannot allocate the offload pool's %u deques",
                   p->ndeques);
    }
    for (uint32_t i = 0; i < nsubmitters; i++) {
        p->subs[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (p->subs[i].wake_fd < 0) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create the offload pool's completion eventfd");
            p->nsubmitters = i;
            p->cfg.max_threads = 0;
            offload_pool_free(p);
            return -1;
        }
        if (deque_init(&p->subs[i].dq, cfg->queue_max, e)) {
            p->nsubmitters = i + 1;
            p->nsubmitters = i;
            p->cfg.max_threads = 0;
            offload_pool_free(p);
            return -1;
        }
        p->deques[k++] = &p->subs[i].dq;
    }
    for (uint32_t i = 0; i < cfg->max_threads; i++) {
        struct offload_slot *s = &p->slots[i];

        s->pool = p;
        s->index = i;
        if (deque_init(&s->dq, OFFLOAD_THREAD_DEQUE, e)) {
            p->cfg.max_threads = i;
            offload_pool_free(p);
            return -1;
        }
        p->deques[k++] = &s->dq;
    }
    pthread_mutex_lock(&p->lock);
    for (uint32_t i = 0; i < cfg->min_threads; i++) {
        int err = offload_start_locked(p, &p->slots[i], false);

        if (err) {
            pthread_mutex_unlock(&p->lock);
            offload_pool_stop(p);
            offload_pool_free(p);
            return ERR(e, EXIT_STATUS_FAILURE, err, "cannot start offload thread %u of %u", i,
                       cfg->min_threads);
        }
    }
    pthread_mutex_unlock(&p->lock);
    *out = p;
    return 0;
}

bool offload_submit(struct offload_pool *p, uint32_t submitter, struct offload_job *job)
{
    struct offload_submitter *sub;
    uint32_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);

    if (submitter >= p->nsubmitters)
        return false; /* a caller's bug; nowhere to count it */
    sub = &p->subs[submitter];
    if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
        goto refused;
    do {
        if (q >= p->cfg.queue_max)
            goto refused;
    } while (!atomic_compare_exchange_weak_explicit(&p->queued, &q, q + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    job->submit_ns = offload_now_ns();
    job->start_ns = 0;
    job->submitter = submitter;
    if (!deque_push(&sub->dq, job)) {
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
        goto refused;
    }
    atomic_store_explicit(&sub->submitted, atomic_load_explicit(&sub->submitted, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    /* pairs with the fence in offload_sleep: a thread about to sleep sees the push, or we see its bit */
    atomic_thread_fence(memory_order_seq_cst);
    offload_wake_one(p);
    return true;
refused:
    atomic_store_explicit(&sub->rejected, atomic_load_explicit(&sub->rejected, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return false;
}

uint32_t offload_queued(const struct offload_pool *p)
{
    return atomic_load_explicit(&((struct offload_pool *)p)->queued, memory_order_relaxed);
}

uint32_t offload_retry_after_s(const struct offload_pool *cp)
{
    struct offload_pool *p = (struct offload_pool *)cp; /* C11 atomics cannot be read through const */
    uint32_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);
    uint64_t now = offload_now_ns();
    uint64_t ws = atomic_load_explicit(&p->win_start_ns, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&p->completed, memory_order_relaxed) -
                 atomic_load_explicit(&p->win_count, memory_order_relaxed);
    uint64_t el = now > ws ? now - ws : 1;
    double cur = (double)n * 1e9 / (double)el; /* the open window's rate so far */
    double rate, s;

    if (atomic_load_explicit(&p->rate_known, memory_order_relaxed)) {
        rate = offload_rate(atomic_load_explicit(&p->rate_bits, memory_order_relaxed));
        if (el > OFFLOAD_RATE_WINDOW) /* no completion has closed the window: it counts too */
            rate = 0.5 * rate + 0.5 * cur;
    } else if (el >= OFFLOAD_RATE_WINDOW || (el >= OFFLOAD_RATE_FIRST && n >= OFFLOAD_RATE_FIRST_N)) {
        rate = cur;
    } else {
        return 1; /* no rate known yet */
    }
    if (q == 0)
        return 1;
    if (rate <= 0)
        return 3600;
    s = (double)q / rate;
    if (s >= 3600)
        return 3600;
    return s <= 1 ? 1 : (uint32_t)s + ((double)(uint32_t)s < s);
}

void offload_pool_stats(const struct offload_pool *cp, struct offload_stats *out)
{
    struct offload_pool *p = (struct offload_pool *)cp;

    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < p->nsubmitters; i++) {
        out->submitted += atomic_load_explicit(&p->subs[i].submitted, memory_order_relaxed);
        out->rejected += atomic_load_explicit(&p->subs[i].rejected, memory_order_relaxed);
    }
    out->completed = atomic_load_explicit(&p->completed, memory_order_relaxed);
    out->stolen = atomic_load_explicit(&p->stolen, memory_order_relaxed);
    out->grown = atomic_load_explicit(&p->grown, memory_order_relaxed);
    out->shrunk = atomic_load_explicit(&p->shrunk, memory_order_relaxed);
    out->wait_ns = atomic_load_explicit(&p->wait_ns, memory_order_relaxed);
    out->threads = atomic_load_explicit(&p->threads, memory_order_relaxed);
    out->busy = atomic_load_explicit(&p->busy, memory_order_relaxed);
    out->queued = atomic_load_explicit(&p->queued, memory_order_relaxed);
}

void offload_pool_stop(struct offload_pool *p)
{
    if (!p)
        return;
    atomic_store_explicit(&p->stopping, true, memory_order_seq_cst);
    /* a grow under way has started its thread by now, or seen stopping and started none */
    pthread_mutex_lock(&p->lock);
    pthread_mutex_unlock(&p->lock);
    offload_wake_all(p);
    for (uint32_t i = 0; i < p->cfg.max_threads; i++) {
        struct offload_slot *s = &p->slots[i];
        int state;
        pthread_t tid;

        pthread_mutex_lock(&p->lock);
        state = s->state;
        tid = s->tid;
        s->state = OFFLOAD_SLOT_FREE;
        pthread_mutex_unlock(&p->lock);
        if (state != OFFLOAD_SLOT_FREE)
            pthread_join(tid, NULL);
    }
}

int offload_wake_fd(const struct offload_pool *p, uint32_t submitter)
{
    return p->subs[submitter].wake_fd;
}

void offload_clear_wake(struct offload_pool *p, uint32_t submitter)
{
    uint64_t n;

    if (read(p->subs[submitter].wake_fd, &n, sizeof(n)) < 0)
        return; /* EAGAIN: already clear */
}

uint32_t offload_reap(struct offload_pool *p, uint32_t submitter, void (*finish)(struct offload_job *job))
{
    struct offload_submitter *sub = &p->subs[submitter];
    struct offload_job *list, *oldest = NULL;
    uint32_t n = 0;

    if (!atomic_load_explicit(&sub->done, memory_order_relaxed))
        return 0;
    list = atomic_exchange_explicit(&sub->done, NULL, memory_order_acquire);
    while (list) { /* the stack is newest first: reverse it */
        struct offload_job *next = list->next_done;

        list->next_done = oldest;
        oldest = list;
        list = next;
    }
    while (oldest) {
        struct offload_job *next = oldest->next_done;

        finish(oldest);
        oldest = next;
        n++;
    }
    return n;
}
