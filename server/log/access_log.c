/*
 * access_log.c — the access log's logger thread and rings (log/access_log.h). The workers only fill
 * records in their rings (access_ring_record/commit, inline in the header); everything that costs
 * time or a system call is here, on a thread of its own: draining the rings, formatting
 * (log/access_format.c) into a batch buffer, one write() per batch, reopening the file on SIGUSR1.
 *
 * The thread wakes every ACCESS_POLL_NS while the rings are empty (a worker must not make a system
 * call to wake it); while it finds less than a batch it sleeps about as long as a batch takes to come
 * at the rate it saw, from ACCESS_BUSY_POLL_NS to ACCESS_POLL_NS, so that a steady load is written in
 * batches rather than a write() for every few lines; after a full batch it goes round again at once. A
 * record's room is given back to its worker (tail) only once the batch holding its line has been written, so
 * a stop that finds the rings empty knows every line is in the file.
 */
#include "log/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/access_format.h"

struct access_log {
    struct access_format format;
    struct access_format_ctx ctx;
    const char *path; /* NULL: standard output */
    int fd;
    uint32_t nrings;
    struct access_ring *rings;
    pthread_t thread;
    _Atomic bool stop;
    _Atomic bool reopen;
    _Atomic uint64_t written, write_errors, reopened, reopen_errors, cpu_ns;
    char *batch; /* ACCESS_BATCH_BYTES + ACCESS_LINE_MAX */
    size_t batch_len;
    uint32_t batch_lines;
};

static void add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static int open_file(const char *path)
{
    return path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : STDOUT_FILENO;
}

/* Write the batch; a failed write loses its lines, counted, and says why once per error kind. */
static void flush(struct access_log *log)
{
    static int last_errno;
    size_t done = 0;

    while (done < log->batch_len) {
        ssize_t n = write(log->fd, log->batch + done, log->batch_len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (errno != last_errno)
                fprintf(stderr, "access log: error: cannot write %s: %s (lines are lost and counted)\n",
                        log->path ? log->path : "standard output", strerror(errno));
            last_errno = errno;
            add(&log->write_errors, log->batch_lines);
            log->batch_len = 0;
            log->batch_lines = 0;
            return;
        }
        done += (size_t)n;
    }
    add(&log->written, log->batch_lines);
    log->batch_len = 0;
    log->batch_lines = 0;
}

static void reopen(struct access_log *log)
{
    int fd;

    if (!log->path)
        return;
    fd = open_file(log->path);
    if (fd < 0) {
        fprintf(stderr, "access log: error: SIGUSR1: cannot reopen %s: %s (writing on to the file open)\n",
                log->path, strerror(errno));
        add(&log->reopen_errors, 1);
        return;
    }
    close(log->fd);
    log->fd = fd;
    add(&log->reopened, 1);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t realtime_offset(void)
{
    struct timespec mono, real;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    return ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000 + (real.tv_nsec - mono.tv_nsec);
}

/* Write the batch, then give its records' room back to their workers. */
static void flush_and_release(struct access_log *log)
{
    flush(log);
    for (uint32_t i = 0; i < log->nrings; i++)
        atomic_store_explicit(&log->rings[i].tail, log->rings[i].taken, memory_order_release);
}

/* Format and write what every ring holds now, in batches of one write each; returns the bytes of lines
 * formatted. */
static uint64_t drain(struct access_log *log)
{
    uint64_t formatted = 0;

    log->ctx.realtime_offset_ns = realtime_offset();
    for (uint32_t i = 0; i < log->nrings; i++) {
        struct access_ring *r = &log->rings[i];
        uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

        while (r->taken != head) {
            const struct access_record *rec = (const void *)(r->bytes + (r->taken & r->mask));

            r->taken += rec->size;
            if (!rec->status) /* a pad to the ring's end */
                continue;
            log->batch_len += access_format_line(&log->format, &log->ctx, rec, log->batch + log->batch_len,
                                                 ACCESS_LINE_MAX);
            log->batch_lines++;
            if (log->batch_len >= ACCESS_BATCH_BYTES) {
                formatted += log->batch_len;
                flush_and_release(log);
            }
        }
    }
    formatted += log->batch_len;
    if (log->batch_len)
        flush_and_release(log);
    else /* pads only: give their room back */
        for (uint32_t i = 0; i < log->nrings; i++)
            atomic_store_explicit(&log->rings[i].tail, log->rings[i].taken, memory_order_release);
    return formatted;
}

/* The next sleep: long enough for about a batch of lines at the rate the last sleep saw, between
 * ACCESS_BUSY_POLL_NS and ACCESS_POLL_NS; none after a full batch. */
static uint64_t next_sleep_ns(uint64_t slept_ns, uint64_t formatted)
{
    uint64_t ns;

    if (formatted >= ACCESS_BATCH_BYTES)
        return 0;
    if (!formatted)
        return ACCESS_POLL_NS;
    ns = (slept_ns > ACCESS_BUSY_POLL_NS ? slept_ns : ACCESS_BUSY_POLL_NS) * ACCESS_BATCH_BYTES / formatted;
    return ns < ACCESS_BUSY_POLL_NS ? ACCESS_BUSY_POLL_NS : ns > ACCESS_POLL_NS ? ACCESS_POLL_NS : ns;
}

static void *logger(void *arg)
{
    struct access_log *log = arg;
    uint64_t slept_ns = ACCESS_POLL_NS;

    for (;;) {
        /* read before draining: whatever was recorded before the stop is in the rings by now */
        bool stopping = atomic_load(&log->stop);
        uint64_t formatted;

        if (atomic_exchange(&log->reopen, false))
            reopen(log);
        formatted = drain(log);
        atomic_store_explicit(&log->cpu_ns, thread_cpu_ns(), memory_order_relaxed);
        if (!formatted && stopping)
            return NULL;
        slept_ns = next_sleep_ns(slept_ns, formatted);
        if (slept_ns)
            nanosleep(&(struct timespec){0, (long)slept_ns}, NULL);
    }
}

struct access_log *access_log_start(const struct access_log_config *cfg, uint32_t nworkers,
                                    const char *const *route_names, int nroutes, struct err *e)
{
    struct access_log *log = calloc(1, sizeof(*log));
    int err;

    if (!log) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "access log: cannot allocate");
        return NULL;
    }
    log->fd = -1;
    if (access_format_compile(&log->format, cfg->format ? cfg->format : "combined", e))
        goto fail;
    access_format_ctx_init(&log->ctx, route_names, nroutes);
    log->path = strcmp(cfg->path, "-") ? cfg->path : NULL;
    log->nrings = nworkers;
    log->rings = aligned_alloc(64, sizeof(*log->rings) * nworkers);
    log->batch = malloc(ACCESS_BATCH_BYTES + ACCESS_LINE_MAX);
    if (!log->rings || !log->batch) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "access log: cannot allocate its rings");
        goto fail;
    }
    memset(log->rings, 0, sizeof(*log->rings) * nworkers);
    for (uint32_t i = 0; i < nworkers; i++) {
        struct access_ring *r = &log->rings[i];

        r->mask = cfg->ring - 1;
        r->worker = (uint16_t)i;
        r->fields = log->format.fields;
        r->bytes = aligned_alloc(64, cfg->ring + 64); /* ACCESS_RING_SLACK, rounded up to the alignment */
        if (!r->bytes) {
            ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "access log: cannot allocate %u bytes of ring for worker %u",
                cfg->ring, i);
            goto fail;
        }
    }
    log->fd = open_file(log->path);
    if (log->fd < 0) {
        ERR(e, EXIT_STATUS_USAGE, errno, "access log: cannot open %s", log->path);
        goto fail;
    }
    err = pthread_create(&log->thread, NULL, logger, log);
    if (err) {
        ERR(e, EXIT_STATUS_FAILURE, err, "access log: cannot start its thread");
        goto fail;
    }
    pthread_setname_np(log->thread, "access-log");
    return log;
fail:
    if (log->fd > STDOUT_FILENO)
        close(log->fd);
    for (uint32_t i = 0; log->rings && i < nworkers; i++)
        free(log->rings[i].bytes);
    free(log->rings);
    free(log->batch);
    free(log);
    return NULL;
}

struct access_ring *access_log_ring(struct access_log *log, uint32_t worker)
{
    return &log->rings[worker];
}

void access_log_reopen(struct access_log *log)
{
    if (log)
        atomic_store(&log->reopen, true);
}

void access_log_stats(const struct access_log *log, struct access_log_stats *s)
{
    s->written = atomic_load_explicit(&log->written, memory_order_relaxed);
    s->write_errors = atomic_load_explicit(&log->write_errors, memory_order_relaxed);
    s->reopened = atomic_load_explicit(&log->reopened, memory_order_relaxed);
    s->reopen_errors = atomic_load_explicit(&log->reopen_errors, memory_order_relaxed);
    s->cpu_ns = atomic_load_explicit(&log->cpu_ns, memory_order_relaxed);
}

void access_log_stop(struct access_log *log)
{
    if (!log)
        return;
    atomic_store(&log->stop, true);
    pthread_join(log->thread, NULL);
    if (log->fd > STDOUT_FILENO)
        close(log->fd);
    for (uint32_t i = 0; i < log->nrings; i++)
        free(log->rings[i].bytes);
    free(log->rings);
    free(log->batch);
    free(log);
}
