/*
 * access_log.h — the access log: one line per HTTP request, at no system call to the worker.
 *
 * A worker that ends a request writes a binary record (struct access_record: numbers and the request's
 * strings copied as they are, nothing formatted) into a ring of its own, a lock-free single-producer
 * single-consumer ring of bytes (struct access_ring). Records take the room they need (a 62-byte head and
 * the strings, rounded up to 8 bytes): a request of a few short strings fills one or two cache lines, so a
 * busy ring stays in the worker's cache. One logger thread drains every ring, formats the records in
 * batches (log/access_format.c) and writes each batch with one write(). When a worker's ring is full the
 * record is dropped and counted (access_ring_record returns NULL): a worker never waits for the logger,
 * never allocates, never calls the kernel for its log.
 *
 * A record never wraps: when the one to come does not fit before the ring's end, a pad record (status
 * 0) fills the rest and the record starts at the beginning.
 *
 * The logger thread (access_log.c) reopens the file when asked (SIGUSR1: access_log_reopen, for
 * logrotate: lines drained before go to the old file, after to the new one) and, on stop, drains
 * every ring before it exits, so what the workers recorded up to their end is all written.
 *
 * Who touches what: a ring's head, cached_tail, dropped and its records are the worker's (or, once
 * the workers are joined, the thread that stops the server); its tail is the logger's. The worker
 * publishes a record with a release store of head, the logger frees room with a release store of
 * tail (once the lines are written); each reads the other's index with an acquire load.
 */
#ifndef SLUICE_LOG_ACCESS_LOG_H
#define SLUICE_LOG_ACCESS_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

#define ACCESS_RECORD_MAX   512          /* bytes of the largest record: longer strings are cut */
#define ACCESS_RING_MIN     1024         /* [log] access_ring: bytes per worker, its smallest value */
#define ACCESS_RING_DEFAULT (1u << 20)   /* its default: ~12,000 short requests' records */
#define ACCESS_RING_MAX     (256u << 20) /* its largest value */
#define ACCESS_POLL_NS      10000000ull  /* the logger looks at the rings this often when they were empty */
#define ACCESS_BUSY_POLL_NS 1000000ull   /* and at least this often when it finds lines */
/* formatted bytes the logger writes at once, at most: ext4 takes 0.33 ns a byte of a 64 KiB write() that
 * starts mid-page, 0.23 of a 256 KiB one, near the 0.21 of a page-aligned one (thread CPU time of an ad-hoc
 * loop writing 256 MiB to a file on the test machine, README "Access log") */
#define ACCESS_BATCH_BYTES (256u << 10)
/* bytes readable past a ring's end: the logger reads a record's strings 16 bytes at a time */
#define ACCESS_RING_SLACK 16
_Static_assert(ACCESS_RING_SLACK <= 64, "access_log_start allocates a ring's slack as 64 bytes");

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

struct access_record {
    uint16_t size;   /* bytes of the record in the ring: the head and the text, rounded up to 8 */
    uint16_t status; /* the answer's status; 499 when none was sent (client gone, stream reset); 0: a pad */
    int16_t route;   /* the route's index (router route_names), -1 for none (404, 405, 429...) */
    uint16_t worker;
    uint64_t end_ns;      /* the worker loop's CLOCK_MONOTONIC time when the request ended */
    uint64_t duration_ns; /* from the request's head to its end (the answer all written to the transport) */
    uint64_t bytes;       /* response body bytes sent ($body_bytes_sent) */
    uint8_t addr[16];     /* the client's address, IPv4 mapped into IPv6; all zero if unknown */
    uint8_t version;      /* 10, 11 or 20 */
    uint8_t flags;        /* enum access_flags */
    uint16_t len[ACCESS_F_COUNT]; /* each string's bytes in text, one after another */
    char text[];
};
#define ACCESS_RECORD_HEAD offsetof(struct access_record, text)
#define ACCESS_TEXT_MAX    (ACCESS_RECORD_MAX - ACCESS_RECORD_HEAD)
_Static_assert(ACCESS_RECORD_HEAD == 62, "a record's head is 62 bytes");

struct access_ring {
    /* the worker's line */
    _Alignas(64) _Atomic uint32_t head; /* bytes published */
    uint32_t cached_tail;     /* the logger's tail as last read: reread only when the ring looks full */
    _Atomic uint64_t dropped; /* records dropped on a full ring */
    uint32_t mask;            /* bytes - 1 (a power of two, at least ACCESS_RING_MIN) */
    uint32_t fields;          /* ACCESS_FIELD_BIT of the optional strings the format prints */
    uint16_t worker;
    uint8_t *bytes; /* 8-byte aligned, mask + 1 + ACCESS_RING_SLACK bytes */
    /* the logger's line */
    _Alignas(64) _Atomic uint32_t tail; /* bytes consumed: their lines are written */
    uint32_t taken;                     /* bytes formatted into the batch being built */
};

/* One of a request's strings to record (NULL ptr only with len 0). */
struct access_str {
    const char *ptr;
    size_t len;
};

/* Copy len bytes with at most two fixed-size moves when len <= 16 (the usual method, status, short
 * path), which the compiler inlines, instead of a call to memcpy. */
static inline void access_copy(void *dst, const void *src, size_t len)
{
    char *d = dst;
    const char *s = src;

    if (len >= 8 && len <= 16) {
        memcpy(d, s, 8);
        memcpy(d + len - 8, s + len - 8, 8);
    } else if (len >= 4 && len < 8) {
        memcpy(d, s, 4);
        memcpy(d + len - 4, s + len - 4, 4);
    } else if (len < 4) {
        for (size_t i = 0; i < len; i++)
            d[i] = s[i];
    } else {
        memcpy(d, s, len);
    }
}

/*
 * A record in the ring holding the strings str[ACCESS_F_COUNT] (cut to ACCESS_TEXT_MAX in field order,
 * flagged ACCESS_TRUNCATED), size, len, text and flags set; the caller fills the numbers and publishes it
 * with access_ring_commit. NULL (counted in dropped) when the ring is full.
 */
static inline struct access_record *access_ring_record(struct access_ring *r, const struct access_str *str)
{
    uint16_t len[ACCESS_F_COUNT];
    size_t text = 0;
    uint8_t flags = 0;
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed), pos = h & r->mask;
    uint32_t size, pad = 0;
    struct access_record *rec;

    for (int f = 0; f < ACCESS_F_COUNT; f++) {
        size_t n = str[f].len;

        if (n > ACCESS_TEXT_MAX - text) {
            n = ACCESS_TEXT_MAX - text;
            flags = ACCESS_TRUNCATED;
        }
        len[f] = (uint16_t)n;
        text += n;
    }
    size = (uint32_t)(ACCESS_RECORD_HEAD + text + 7) & ~7u;
    if (size > r->mask + 1 - pos)
        pad = r->mask + 1 - pos;
    if (h + pad + size - r->cached_tail > r->mask + 1) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h + pad + size - r->cached_tail > r->mask + 1) {
            atomic_store_explicit(&r->dropped, atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            return NULL;
        }
    }
    if (pad) {
        rec = (struct access_record *)(void *)(r->bytes + pos);
        rec->size = (uint16_t)pad;
        rec->status = 0;
        atomic_store_explicit(&r->head, h + pad, memory_order_release);
        pos = 0;
    }
    rec = (struct access_record *)(void *)(r->bytes + pos);
    rec->size = (uint16_t)size;
    rec->flags = flags;
    text = 0;
    for (int f = 0; f < ACCESS_F_COUNT; f++) {
        rec->len[f] = len[f];
        access_copy(rec->text + text, str[f].ptr, len[f]);
        text += len[f];
    }
    return rec;
}

static inline void access_ring_commit(struct access_ring *r, const struct access_record *rec)
{
    atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + rec->size,
                          memory_order_release);
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
    uint32_t ring;      /* bytes of each worker's ring, a power of two from ACCESS_RING_MIN */
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
    uint64_t cpu_ns; /* the logger thread's CPU time, as of its last pass over the rings */
};
/* The logger's counters (any thread); each ring's drops are in access_log_ring(log, w)->dropped. */
void access_log_stats(const struct access_log *log, struct access_log_stats *s);

#endif
