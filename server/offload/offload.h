/*
 * offload.h — the offload pool: threads, never the pinned workers, that run slow handlers.
 *
 * A worker submits a job; a pool thread runs it, then hands it back: through the job's done if it
 * has one, else into its submitter's completion inbox (a lock-free list and an eventfd the worker
 * polls beside its sockets), which the worker empties with offload_reap; only the worker touches the
 * connection the job answers. Each submitter (a worker, by index) owns a Chase–Lev deque (offload/deque.h) it
 * pushes to, and each pool thread owns one; a thread takes from its own, then steals from the tops of the
 * others', so no lock is taken on the way in or out. Idle threads sleep and a submit wakes one.
 *
 * The pool sizes itself between min_threads and max_threads from the measured queue wait: a job
 * that waited longer than grow_wait_us adds a thread; a thread that found nothing to do for
 * shrink_idle_ms leaves. The two thresholds are far apart (hysteresis), so a steady load does not
 * make threads come and go. Threads are named "sluice-off/N" and run on the configured CPUs.
 *
 * The queue is bounded: a submit beyond queue_max jobs waiting in the whole pool is refused, and
 * the caller sheds the request (503 with Retry-After from offload_retry_after_s).
 */
#ifndef SLUICE_SCHED_OFFLOAD_H
#define SLUICE_SCHED_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define OFFLOAD_MAX_THREADS 256
#define OFFLOAD_MAX_CPUS    256

/* Defaults of the [offload] settings */
#define OFFLOAD_MIN_THREADS_DEFAULT    2
#define OFFLOAD_MAX_THREADS_DEFAULT    16
#define OFFLOAD_QUEUE_MAX_DEFAULT      1024
#define OFFLOAD_GROW_WAIT_US_DEFAULT   2000
#define OFFLOAD_SHRINK_IDLE_MS_DEFAULT 2000
#define OFFLOAD_SLOW_MS_DEFAULT        10000 /* a handler slower than this failed, for its breaker */

/* Embedded at the start of the caller's job struct; the pool never allocates one. */
struct offload_job {
    void (*run)(struct offload_job *job); /* on a pool thread */
    /* on the same thread right after run: hand the job back; NULL: into the submitter's completion
     * inbox (offload_reap) */
    void (*done)(struct offload_job *job);
    uint64_t submit_ns;            /* CLOCK_MONOTONIC, set by offload_submit */
    uint64_t start_ns;             /* set when a thread takes the job */
    uint64_t end_ns;               /* set when its run returned (start_ns when a stop handed it back unrun) */
    uint32_t submitter;            /* set by offload_submit */
    struct offload_job *next_done; /* the completion inbox's link */
};

struct offload_config {
    uint32_t min_threads;    /* started at once and kept; at least 1 */
    uint32_t max_threads;    /* min_threads..OFFLOAD_MAX_THREADS */
    uint32_t queue_max;      /* jobs waiting (submitted, not yet taken) across the pool */
    uint32_t grow_wait_us;   /* a job taken after waiting this long adds a thread, up to max_threads */
    uint32_t shrink_idle_ms; /* a thread idle this long leaves, down to min_threads */
    int cpus[OFFLOAD_MAX_CPUS];
    uint32_t ncpus; /* CPUs the threads may run on (each thread on all of them); 0: any */
};

struct offload_stats {
    uint64_t submitted;
    uint64_t completed;
    uint64_t rejected; /* submits refused: the queue was at queue_max */
    uint64_t stolen;   /* jobs a thread took from another deque than its own */
    uint64_t grown;    /* threads started beyond min_threads */
    uint64_t shrunk;   /* threads that left after idling */
    uint64_t wait_ns;  /* queue wait summed over the jobs taken */
    uint32_t threads;  /* running now */
    uint32_t busy;     /* of them, running a job now */
    uint32_t queued;   /* jobs waiting now */
};

struct offload_pool;

/* Start min_threads threads for nsubmitters submitters (workers 0..nsubmitters-1). */
int offload_pool_start(struct offload_pool **out, const struct offload_config *cfg, uint32_t nsubmitters,
                       struct err *e);
/* From submitter's thread only (its deque has one owner). false: the queue is full (counted). */
bool offload_submit(struct offload_pool *pool, uint32_t submitter, struct offload_job *job);
/* Jobs waiting now, across the pool. */
uint32_t offload_queued(const struct offload_pool *pool);
/* How long a refused client should wait, in seconds (1..3600): the jobs waiting over the pool's
 * measured completion rate, rounded up. */
uint32_t offload_retry_after_s(const struct offload_pool *pool);
void offload_pool_stats(const struct offload_pool *pool, struct offload_stats *out);

/* The submitter's completion inbox: an eventfd, readable once a job came back to an empty inbox. */
int offload_wake_fd(const struct offload_pool *pool, uint32_t submitter);
/* After the fd was seen readable: clear it (before offload_reap, so no job goes unannounced). */
void offload_clear_wake(struct offload_pool *pool, uint32_t submitter);
/* From the submitter's thread: finish(job) for each job in its completion inbox, oldest first; how
 * many. One atomic load when the inbox is empty. */
uint32_t offload_reap(struct offload_pool *pool, uint32_t submitter, void (*finish)(struct offload_job *job));

/* Let the running jobs finish, hand every job not begun back without running it (its run is not
 * called: the server stops, nobody waits for its answer), and join every thread; jobs without done
 * wait in the completion inboxes. A stop takes as long as the longest job running, not the queue. */
void offload_pool_stop(struct offload_pool *pool);
/* After offload_pool_stop and the last offload_reap: free the pool. */
void offload_pool_free(struct offload_pool *pool);

#endif
