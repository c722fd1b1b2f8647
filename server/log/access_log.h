/*
 * access_log.h — the access log: one line per HTTP request, at no system call to the worker.
 *
 * A worker that ends a request fills a fixed-size binary record (struct access_record: numbers and
 * the request's strings copied as they are, nothing formatted) in a ring of its own, a lock-free
 * single-producer single-consumer ring (struct access_ring). One logger thread drains every ring,
 * formats the records in batches (log/access_format.c) and writes each batch with one write(). When
 * a worker's ring is full the record is dropped and counted (access_ring_reserve returns NULL): a
 * worker never waits for the logger, never allocates, never calls the kernel for its log.
 *
 * The logger thread (access_log.c) reopens the file when asked (SIGUSR1: access_log_reopen, for
 * logrotate: lines drained before go to the old file, after to the new one) and, on stop, drains
 * every ring before it exits, so what the workers recorded up to their end is all written.
 *
 * Who touches what: a ring's head, cached_tail, dropped and its records are the worker's (or, once
 * the workers are joined, the thread that stops the server); its tail is the logger's. The worker
 * publishes a record with a release store of head, the logger frees slots with a release store of
 * tail (once their lines are written); each reads the other's index with an acquire load.
 */
#ifndef SLUICE_LOG_ACCESS_LOG_H
#define SLUICE_LOG_ACCESS_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

#define ACCESS_RECORD_SIZE  512        /* bytes of one record: strings beyond it are cut (ACCESS_TRUNCATED) */
#define ACCESS_RING_DEFAULT 4096       /* [log] access_ring: records per worker */
#define ACCESS_RING_MAX     (1u << 20) /* its largest value */
#define ACCESS_POLL_NS      10000000ull /* the logger looks at the rings this often when they were empty */
#define ACCESS_BATCH_BYTES  (64u << 10) /* formatted bytes the logger writes at once, at most */

/* The strings a record carries, in the order they are copied (so the request's target is cut last). */
enum access_field {
    ACCESS_F_METHOD,
    ACCESS_F_PATH,
    ACCESS_F_QUERY,
    ACCESS_F_HOST, /* :authority, else Host */
    ACCESS_F_REFERER,
    ACCESS_F_USER_AGENT,
    ACCESS_F_COUNT,
};
#define ACCESS_FIELD_BIT(f) (1u << (f))

enum access_flags {
    ACCESS_TLS = 1,       /* the request came over TLS ($scheme https) */
    ACCESS_TRUNCATED = 2, /* a string did not fit the record and was cut */
};

#define ACCESS_RECORD_HEAD (3 * 8 + 16 + 2 + 2 + 2 + 1 + 1 + 2 * ACCESS_F_COUNT + 2)
#define ACCESS_TEXT_SIZE   (ACCESS_RECORD_SIZE - ACCESS_RECORD_HEAD)

struct access_record {
    uint64_t end_ns;      /* the worker loop's CLOCK_MONOTONIC time when the request ended */
    uint64_t duration_ns; /* from the request's head to its end (the answer all written to the transport) */
    uint64_t bytes;       /* response body bytes sent ($body_bytes_sent) */
    uint8_t addr[16];     /* the client's address, IPv4 mapped into IPv6; all zero if unknown */
    uint16_t status;      /* the answer's status; 499 when none was sent (client gone, stream reset) */
    int16_t route;        /* the route's index (router route_names), -1 for none (404, 405, 429...) */
    uint16_t worker;
    uint8_t version;              /* 10, 11 or 20 */
    uint8_t flags;                /* enum access_flags */
    uint16_t len[ACCESS_F_COUNT]; /* each string's bytes in text, one after another */
    uint16_t text_used;
    char text[ACCESS_TEXT_SIZE];
};
_Static_assert(sizeof(struct access_record) == ACCESS_RECORD_SIZE, "a record is ACCESS_RECORD_SIZE bytes");

struct access_ring {
    /* the worker's line */
    _Alignas(64) _Atomic uint32_t head; /* records published */
    uint32_t cached_tail;     /* the logger's tail as last read: reread only when the ring looks full */
    _Atomic uint64_t dropped; /* records dropped on a full ring */
    uint32_t mask;            /* records - 1 (a power of two) */
    uint32_t fields;          /* ACCESS_FIELD_BIT of the optional strings the format prints */
    uint16_t worker;
    struct access_record *records;
    /* the logger's line */
    _Alignas(64) _Atomic uint32_t tail; /* records consumed: their lines are written */
    uint32_t taken;                     /* records formatted into the batch being built */
};

/* The slot for the next record, or NULL (counted in dropped) when the ring is full. The caller fills
 * it (access_record_start, then the fields) and publishes it with access_ring_commit. */
static inline struct access_record *access_ring_reserve(struct access_ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (h - r->cached_tail > r->mask) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h - r->cached_tail > r->mask) {
            atomic_store_explicit(&r->dropped, atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            return NULL;
        }
    }
    return &r->records[h & r->mask];
}

static inline void access_ring_commit(struct access_ring *r)
{
    atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Append field f (in enum access_field order, each once at most) to rec's text, cut to the room left. */
static inline void access_record_put(struct access_record *rec, enum access_field f, const char *s,
                                     size_t len)
{
    size_t room = ACCESS_TEXT_SIZE - rec->text_used;

    if (len > room) {
        len = room;
        rec->flags |= ACCESS_TRUNCATED;
    }
    if (len)
        memcpy(rec->text + rec->text_used, s, len);
    rec->len[f] = (uint16_t)len;
    rec->text_used = (uint16_t)(rec->text_used + len);
}

/* The start of field f in rec's text (fields are laid out in enum order). */
static inline const char *access_record_field(const struct access_record *rec, enum access_field f)
{
    size_t off = 0;

    for (int i = 0; i < (int)f; i++)
        off += rec->len[i];
    return rec->text + off;
}

/* ---- the logger --------------------------------------------------------------------------------- */

struct access_log_config {
    const char *path;   /* the file, "-" for standard output; NULL: no access log */
    const char *format; /* common, combined, json, or a format string (log/access_format.h); NULL: combined */
    uint32_t ring;      /* records per worker, a power of two */
};

struct access_log;

/*
 * Open path (appending, created 0644 if missing), compile the format, allocate a ring per worker and
 * start the logger thread. route_names: the app's routes' names ($route), nroutes of them.
 */
struct access_log *access_log_start(const struct access_log_config *cfg, uint32_t nworkers,
                                    const char *const *route_names, int nroutes, struct err *e);
struct access_ring *access_log_ring(struct access_log *log, uint32_t worker);
/* Ask the logger to reopen the file (SIGUSR1): lines drained from now on go to the file at path. */
void access_log_reopen(struct access_log *log);
/* Drain every ring, write what was in them, stop the logger thread, close and free. The rings' producers
 * must be done (their threads joined). NULL: nothing. */
void access_log_stop(struct access_log *log);

struct access_log_stats {
    uint64_t written;      /* lines written */
    uint64_t write_errors; /* lines lost to a failed write (a full disk...) */
    uint64_t reopened;     /* reopens done (SIGUSR1) */
    uint64_t reopen_errors;
};
/* The logger's counters (any thread); each ring's drops are in access_log_ring(log, w)->dropped. */
void access_log_stats(const struct access_log *log, struct access_log_stats *s);

#endif
