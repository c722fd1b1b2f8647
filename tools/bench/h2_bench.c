/*
 * h2_bench.c — the HTTP/2 layer's CPU and allocations per request in memory, no network, one core.
 *
 * An nghttp2 client session keeps 32 streams in flight on one connection against four servers,
 * exchanging buffers directly:
 *   - sluice native: server/h2/session.c (h2_native_ops) with server/http (http_worker_new,
 *     app_http_ops, the router compiled from server/sluice.routes) over an in-memory struct app_io,
 *     as tests/fuzz/h2_fuzz.c runs the HTTP layer;
 *   - sluice nghttp2: the same core with server/h2/nghttp2_session.c (h2_nghttp2_ops), nghttp2's
 *     memory from our size-class pools (server/http/http_mem.c);
 *   - nghttp2 alone: a plain nghttp2 server session (on_frame_recv submits :status, content-type
 *     and content-length with a data provider that copies 13 bytes), system malloc: what the
 *     library costs without our glue, the yardstick of the native session (goal: at most 0.35x);
 *   - sluice native with the access log on (server/log/, a worker's ring for the combined format,
 *     emptied outside the time measured): what recording a request costs the worker, as the ratio
 *     to sluice native.
 * Every request is GET /bytes/13?i=N with x-request-id: N, N counting requests: the :path is a
 * literal nghttp2's encoder never indexes, and x-request-id is indexed anew each time, so each
 * request's field block differs from every earlier one and the decoder's dynamic table churns as
 * with real clients: no server can answer from a cached header block.
 *
 * Server time is the time spent inside the server's calls (app_readable/app_writable, or mem_recv
 * + mem_send), read with clock_gettime(CLOCK_MONOTONIC) around each call: one call handles a whole
 * batch of requests, so the clock's own cost is small. Client time is reported apart. Allocations
 * per request are the malloc, calloc and realloc calls made inside those same calls, by our code,
 * libnghttp2 or libc alike: this file replaces the process's malloc with a counting shim over
 * glibc's (__libc_malloc...), counting only while a server call runs. (Before the native session
 * this bench linked with -Wl,--wrap=http_mem_nghttp2 to give the nghttp2 glue plain malloc and
 * counted through that nghttp2_mem; the native session takes no nghttp2_mem, and what the pools
 * buy the nghttp2 glue was measured when they came, so that variant is gone and the shim counts
 * every allocator alike.) In a sanitizer build the shim is left out (ASan owns malloc) and
 * allocations are not counted.
 *
 * Each server runs ROUNDS times, interleaved, the order rotating per round; the first tenth of a
 * round warms pools and caches and is not counted. Printed: per server the median with min-max of
 * server ns, allocations, client and total ns per request, and server ns over nghttp2 alone's in
 * the same round (a ratio per round, then its median), as a markdown table; and the CPU share, the
 * bench thread's CPU time over the round's wall time, which shows when other work took the core (the
 * ns figures are wall time inside the calls, since a per-call CPU clock costs a system call).
 *
 *   h2_bench [REQUESTS_PER_ROUND [JSON_FILE]]      (default 200000; JSON_FILE: the figures and every
 *                                                   round, machine-readable)
 *
 * Never run under a sanitizer for figures: ASan's allocator and checks dominate.
 */
#include <errno.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "http/http_config.h"
#include "h2/h2.h"
#include "http/http_worker.h"
#include "log/access_format.h"
#include "log/access_log.h"

extern const struct router app_router; /* server/sluice.routes, compiled */

#define PORT      80
#define IN_FLIGHT 32
#define ROUNDS    5
#define BODY_LEN  13
#define PATH      "/bytes/13?i="
#define OUT_CAP   (4u << 20)
#define IN_CAP    (4u << 20)
#define GOAL      0.35 /* native server ns per request over nghttp2 alone's */

static void die(const char *what)
{
    fprintf(stderr, "h2_bench: error: %s\n", what);
    exit(1);
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* ---- counting the server side's allocations ------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static bool in_server;  /* a server call is running: its allocations are counted */
static uint64_t allocs; /* malloc/calloc/realloc calls while in_server */

#if COUNT_ALLOCS
/* glibc lets a program replace malloc, free, calloc and realloc ("Replacing malloc" in its manual),
 * and exports its own under these names: the shim forwards to them, so every block still comes from
 * glibc's allocator and the functions it leaves alone (posix_memalign...) stay compatible. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);

void *malloc(size_t size)
{
    allocs += in_server;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    allocs += in_server;
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    allocs += in_server;
    return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
    __libc_free(ptr);
}
#endif

/* ---- the wire: two byte buffers ------------------------------------------------------------------ */

struct wire {
    uint8_t *to_server; /* client output not consumed by the server yet */
    size_t in_off, in_len;
    uint8_t *to_client; /* server output not read by the client yet */
    size_t out_len;
    bool want_writable, shut, aborted;
};

static struct wire wire;

static void wire_append_in(const uint8_t *p, size_t n)
{
    if (wire.in_off && wire.in_off == wire.in_len)
        wire.in_off = wire.in_len = 0;
    if (wire.in_len + n > IN_CAP) {
        memmove(wire.to_server, wire.to_server + wire.in_off, wire.in_len - wire.in_off);
        wire.in_len -= wire.in_off;
        wire.in_off = 0;
        if (wire.in_len + n > IN_CAP)
            die("client output over the wire's capacity");
    }
    memcpy(wire.to_server + wire.in_len, p, n);
    wire.in_len += n;
}

static void wire_append_out(const uint8_t *p, size_t n)
{
    if (wire.out_len + n > OUT_CAP)
        die("server output over the wire's capacity");
    memcpy(wire.to_client + wire.out_len, p, n);
    wire.out_len += n;
}

/* struct app_io over the wire, for sluice */
static int io_peek(void *t, struct iovec *iov, int max)
{
    (void)t;
    if (max < 1 || wire.in_off == wire.in_len)
        return 0;
    iov[0].iov_base = wire.to_server + wire.in_off;
    iov[0].iov_len = wire.in_len - wire.in_off;
    return 1;
}

static void io_consume(void *t, size_t n)
{
    (void)t;
    if (n > wire.in_len - wire.in_off)
        n = wire.in_len - wire.in_off;
    wire.in_off += n;
}

static bool io_eof(void *t)
{
    (void)t;
    return false;
}

static size_t io_writable(void *t)
{
    (void)t;
    return wire.shut ? 0 : OUT_CAP - wire.out_len;
}

static uint8_t *io_reserve(void *t, size_t *room)
{
    *room = io_writable(t);
    if (!*room) {
        wire.want_writable = true;
        return NULL;
    }
    return wire.to_client + wire.out_len;
}

static void io_commit(void *t, size_t n)
{
    (void)t;
    wire.out_len += n;
}

static void io_shutdown(void *t)
{
    (void)t;
    wire.shut = true;
}

static void io_abort(void *t)
{
    (void)t;
    wire.aborted = true;
}

static void io_want_writable(void *t)
{
    (void)t;
    wire.want_writable = true;
}

static const struct app_io wire_io = {
    .peek = io_peek,
    .consume = io_consume,
    .eof = io_eof,
    .reserve = io_reserve,
    .commit = io_commit,
    .shutdown = io_shutdown,
    .abort = io_abort,
    .writable = io_writable,
    .want_writable = io_want_writable,
};

/* ---- the client: an nghttp2 client session ------------------------------------------------------- */

struct client {
    nghttp2_session *session;
    uint64_t issued, done, failed, body_bytes;
};

static int cl_on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *user)
{
    struct client *c = user;

    (void)s;
    (void)id;
    c->done++;
    if (error)
        c->failed++;
    return 0;
}

static int cl_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                      void *user)
{
    (void)s;
    (void)flags;
    (void)id;
    (void)data;
    ((struct client *)user)->body_bytes += len;
    return 0;
}

static int cl_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    struct client *c = user;

    (void)s;
    (void)f;
    (void)flags;
    if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3 && memcmp(value, "200", 3))
        c->failed++;
    return 0;
}

static void client_init(struct client *c)
{
    nghttp2_session_callbacks *cb;

    memset(c, 0, sizeof(*c));
    if (nghttp2_session_callbacks_new(&cb))
        die("nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_on_stream_close);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_on_data);
    nghttp2_session_callbacks_set_on_header_callback(cb, cl_on_header);
    if (nghttp2_session_client_new(&c->session, cb, c))
        die("nghttp2_session_client_new");
    nghttp2_session_callbacks_del(cb);
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0))
        die("nghttp2_submit_settings");
}

/* GET /bytes/13?i=N with x-request-id: N, N the request's number in this round (the same sequence
 * for every server, so that each decodes the same field blocks) */
static void client_request(struct client *c)
{
    char path[sizeof(PATH) + 20], id[21];
    int path_len = snprintf(path, sizeof(path), PATH "%" PRIu64, c->issued);
    int id_len = snprintf(id, sizeof(id), "%" PRIu64, c->issued);
    /* nghttp2_submit_request copies the values not flagged NO_COPY: path and id may go */
    const nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":authority", (uint8_t *)"bench", 10, 5,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":path", (uint8_t *)path, 5, (size_t)path_len, NGHTTP2_NV_FLAG_NO_COPY_NAME},
        {(uint8_t *)"x-request-id", (uint8_t *)id, 12, (size_t)id_len, NGHTTP2_NV_FLAG_NO_COPY_NAME},
    };

    if (nghttp2_submit_request(c->session, NULL, nva, sizeof(nva) / sizeof(nva[0]), NULL, NULL) < 0)
        die("nghttp2_submit_request");
    c->issued++;
}

/* Everything the client session has to send goes onto the wire. */
static void client_flush(struct client *c)
{
    const uint8_t *p;
    ssize_t n;

    while ((n = nghttp2_session_mem_send(c->session, &p)) > 0)
        wire_append_in(p, (size_t)n);
    if (n < 0)
        die("client nghttp2_session_mem_send");
}

/* The client reads everything the server wrote. */
static void client_read(struct client *c)
{
    ssize_t n;

    if (!wire.out_len)
        return;
    n = nghttp2_session_mem_recv(c->session, wire.to_client, wire.out_len);
    if (n < 0 || (size_t)n != wire.out_len)
        die("client nghttp2_session_mem_recv: the server's output does not parse");
    wire.out_len = 0;
}

/* ---- the reference server: nghttp2 alone ----------------------------------------------------------- */

static const uint8_t body[BODY_LEN] = "0123456789ab\n";

static ssize_t ref_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user)
{
    (void)s;
    (void)id;
    (void)src;
    (void)user;
    if (len < BODY_LEN)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(buf, body, BODY_LEN);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return BODY_LEN;
}

static int ref_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    static const nghttp2_nv nva[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/octet-stream", 12, 24, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)"13", 14, 2, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.read_callback = ref_read};

    (void)user;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return nghttp2_submit_response(s, f->hd.stream_id, nva, 3, &prd) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    return 0;
}

static nghttp2_session *ref_new(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100};

    if (nghttp2_session_callbacks_new(&cb))
        die("nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, ref_on_frame_recv);
    if (nghttp2_session_server_new(&s, cb, NULL))
        die("nghttp2_session_server_new");
    nghttp2_session_callbacks_del(cb);
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, &iv, 1))
        die("nghttp2_submit_settings");
    return s;
}

/* mem_recv everything on the wire, then mem_send everything onto it */
static void ref_serve(nghttp2_session *s)
{
    const uint8_t *p;
    ssize_t n;

    if (wire.in_len > wire.in_off) {
        n = nghttp2_session_mem_recv(s, wire.to_server + wire.in_off, wire.in_len - wire.in_off);
        if (n < 0)
            die("reference nghttp2_session_mem_recv");
        wire.in_off += (size_t)n;
    }
    while ((n = nghttp2_session_mem_send(s, &p)) > 0)
        wire_append_out(p, (size_t)n);
    if (n < 0)
        die("reference nghttp2_session_mem_send");
}

/* ---- one round ---------------------------------------------------------------------------------------- */

enum server_kind { SLUICE_NATIVE, SLUICE_NGHTTP2, NGHTTP2_ALONE, SLUICE_NATIVE_LOG, NKINDS };

static const struct {
    const char *id, *label;
    const struct http_proto_ops *ops; /* NULL: nghttp2 alone */
} kinds[NKINDS] = {
    [SLUICE_NATIVE] = {"sluice_native", "sluice native (server/h2/session.c + server/http)", &h2_native_ops},
    [SLUICE_NGHTTP2] = {"sluice_nghttp2",
                        "sluice nghttp2 (server/h2/nghttp2_session.c + server/http), http_mem pools",
                        &h2_nghttp2_ops},
    [NGHTTP2_ALONE] = {"nghttp2_alone", "nghttp2 alone (plain server session), system malloc", NULL},
    [SLUICE_NATIVE_LOG] =
        {"sluice_native_access_log",
         "sluice native with the access log on (a record per request, for the combined format)",
         &h2_native_ops},
};

/* SLUICE_NATIVE_LOG's access log ring, as a worker has it for the combined format (so it copies the
 * Referer and User-Agent it looks up). The bench empties it after each server call, outside the time
 * measured: the worker's recording is what this measures; the logger thread, which runs on another core
 * in a server, formats (its cost per line: tools/bench/access_log_bench.c). */
static _Alignas(64) uint8_t access_bytes[ACCESS_RING_DEFAULT + ACCESS_RING_SLACK];
static struct access_ring access_ring = {.mask = ACCESS_RING_DEFAULT - 1, .bytes = access_bytes};

struct result {
    double server_ns, client_ns, total_ns, allocs; /* per request */
    double cpu_share; /* the bench thread's CPU time over the wall time of the round: below ~0.95 other
                         work took the core and the ns figures are inflated by preemption */
};

static struct http_config config;
static struct http_worker *workers[NKINDS];
static struct app_table tables[NKINDS];

/* one server call, timed, its allocations counted */
static uint64_t serve(enum server_kind kind, struct app_conn *ac, nghttp2_session *ref)
{
    uint64_t t0 = now_ns();

    in_server = true;
    if (kind == NGHTTP2_ALONE) {
        ref_serve(ref);
    } else {
        app_readable(ac);
        if (wire.want_writable) {
            wire.want_writable = false;
            app_writable(ac);
        }
    }
    in_server = false;
    return now_ns() - t0;
}

static void run(enum server_kind kind, uint64_t requests, struct result *r)
{
    struct client c;
    struct app_conn *ac = NULL;
    nghttp2_session *ref = NULL;
    uint64_t warm = requests / 10, total = requests + warm, server_ns = 0, n;
    uint64_t done_at_warm = 0, server_ns_at_warm = 0, t_warm = 0, allocs_at_warm = 0, cpu_warm = 0;

    memset(&wire, 0, sizeof(wire));
    wire.to_server = malloc(IN_CAP);
    wire.to_client = malloc(OUT_CAP);
    if (!wire.to_server || !wire.to_client)
        die("malloc");
    client_init(&c);
    if (kind == NGHTTP2_ALONE) {
        ref = ref_new();
    } else {
        ac = app_open(&tables[kind], PORT, &wire_io, NULL);
        if (!ac || wire.aborted)
            die("app_open: the HTTP service refused the connection");
    }
    while (c.issued < IN_FLIGHT)
        client_request(&c);
    while (c.done < total) {
        client_flush(&c);
        server_ns += serve(kind, ac, ref);
        /* the logger's part, untimed: the records are taken as they are */
        atomic_store_explicit(&access_ring.tail, atomic_load(&access_ring.head), memory_order_release);
        if (wire.aborted || wire.shut)
            die("the server closed the connection");
        if (!wire.out_len)
            die("the server wrote nothing back: the exchange is stuck");
        client_read(&c);
        while (c.issued < c.done + IN_FLIGHT && c.issued < total)
            client_request(&c);
        if (!t_warm && c.done >= warm) { /* the first tenth warms pools and caches: not counted */
            t_warm = now_ns();
            cpu_warm = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            done_at_warm = c.done;
            server_ns_at_warm = server_ns;
            allocs_at_warm = allocs;
        }
    }
    n = c.done - done_at_warm;
    r->server_ns = (double)(server_ns - server_ns_at_warm) / (double)n;
    r->total_ns = (double)(now_ns() - t_warm) / (double)n;
    r->cpu_share = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_warm) / (r->total_ns * (double)n);
    r->client_ns = r->total_ns - r->server_ns;
    r->allocs = (double)(allocs - allocs_at_warm) / (double)n;
    if (c.failed)
        die("responses other than 200, or reset streams");
    if (c.body_bytes != c.done * BODY_LEN)
        die("the response bodies are not 13 bytes each");
    /* the client goes away, as a reset would */
    if (ac)
        app_closed(&tables[kind], ac, ECONNRESET);
    if (ref)
        nghttp2_session_del(ref);
    nghttp2_session_del(c.session);
    free(wire.to_server);
    free(wire.to_client);
}

/* ---- the figures -------------------------------------------------------------------------------------- */

struct stat3 {
    double median, min, max;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* median, min, max of ROUNDS values of one figure (off: the field's offset in struct result) */
static struct stat3 summary(const struct result *rounds, size_t off, const struct result *base)
{
    double v[ROUNDS];

    for (int i = 0; i < ROUNDS; i++) {
        v[i] = *(const double *)((const char *)&rounds[i] + off);
        if (base) /* over the same round's figure of another server */
            v[i] /= *(const double *)((const char *)&base[i] + off);
    }
    qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
    return (struct stat3){v[ROUNDS / 2], v[0], v[ROUNDS - 1]};
}

static void json_stat(FILE *f, const char *name, struct stat3 s)
{
    fprintf(f, ",\"%s\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f}", name, s.median, s.min, s.max);
}

int main(int argc, char **argv)
{
    static const struct app_service service = {.port = PORT, .ops = &app_http_ops};
    uint64_t requests = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    struct result res[NKINDS][ROUNDS];
    struct stat3 native_ratio = {0}, log_ratio = {0};
    bool contended = false;
    FILE *json = NULL;

    if (argc > 3 || requests < 1000) {
        fprintf(stderr, "usage: h2_bench [REQUESTS_PER_ROUND >= 1000 [JSON_FILE]]\n");
        return 2;
    }
    if (argc > 2 && !(json = fopen(argv[2], "w"))) {
        fprintf(stderr, "h2_bench: error: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    http_config_default(&config);
    config.router = &app_router;
    for (int k = 0; k < NKINDS; k++) {
        if (!kinds[k].ops)
            continue;
        workers[k] = http_worker_new(&config, 4, kinds[k].ops);
        if (!workers[k])
            die("http_worker_new");
        if (app_table_init(&tables[k], 4, &service, 1))
            die("app_table_init");
        tables[k].http = workers[k];
    }
    {
        struct access_format combined;
        struct err e = {0};

        if (access_format_compile(&combined, "combined", &e))
            die(e.msg);
        access_ring.fields = combined.fields;
        http_worker_set_access_log(workers[SLUICE_NATIVE_LOG], &access_ring);
    }
    for (int round = 0; round < ROUNDS; round++) /* the order rotates: no server always goes first */
        for (int i = 0; i < NKINDS; i++) {
            int k = (i + round) % NKINDS;

            run((enum server_kind)k, requests, &res[k][round]);
        }

    printf("%" PRIu64 " requests per round after a tenth more of warm-up, %d streams in flight, GET %sN with "
           "x-request-id: N, 13-byte responses; median of %d interleaved rounds (min-max)\n\n",
           requests, IN_FLIGHT, PATH, ROUNDS);
    printf("| server | server ns/request | x nghttp2 alone (server ns) | server mallocs/request | "
           "client ns/request | total ns/request | CPU share |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    if (json)
        fprintf(json,
                "{\"requests_per_round\":%" PRIu64 ",\"in_flight\":%d,\"body_bytes\":%d,\"rounds\":%d,"
                "\"request\":\"GET %sN, x-request-id: N\",\"allocs_counted\":%s,\"servers\":[",
                requests, IN_FLIGHT, BODY_LEN, ROUNDS, PATH, COUNT_ALLOCS ? "true" : "false");
    for (int k = 0; k < NKINDS; k++) {
        struct stat3 s = summary(res[k], offsetof(struct result, server_ns), NULL),
                     q = summary(res[k], offsetof(struct result, server_ns), res[NGHTTP2_ALONE]),
                     a = summary(res[k], offsetof(struct result, allocs), NULL),
                     cl = summary(res[k], offsetof(struct result, client_ns), NULL),
                     t = summary(res[k], offsetof(struct result, total_ns), NULL),
                     cpu = summary(res[k], offsetof(struct result, cpu_share), NULL);
        char allocs_text[64];

        if (k == SLUICE_NATIVE)
            native_ratio = q;
        if (k == SLUICE_NATIVE_LOG)
            log_ratio = summary(res[k], offsetof(struct result, server_ns), res[SLUICE_NATIVE]);
        if (COUNT_ALLOCS)
            snprintf(allocs_text, sizeof(allocs_text), "%.3f (%.3f-%.3f)", a.median, a.min, a.max);
        else
            snprintf(allocs_text, sizeof(allocs_text), "n/a (sanitizer build)");
        printf("| %s | %.0f (%.0f-%.0f) | %.2f (%.2f-%.2f) | %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2f "
               "(%.2f-%.2f) |\n",
               kinds[k].label, s.median, s.min, s.max, q.median, q.min, q.max, allocs_text, cl.median, cl.min,
               cl.max, t.median, t.min, t.max, cpu.median, cpu.min, cpu.max);
        if (cpu.min < 0.95)
            contended = true;
        if (json) {
            fprintf(json, "%s{\"id\":\"%s\",\"label\":\"%s\"", k ? "," : "", kinds[k].id, kinds[k].label);
            json_stat(json, "server_ns_per_req", s);
            json_stat(json, "ratio_to_nghttp2_alone", q);
            if (COUNT_ALLOCS)
                json_stat(json, "server_mallocs_per_req", a);
            json_stat(json, "client_ns_per_req", cl);
            json_stat(json, "total_ns_per_req", t);
            json_stat(json, "cpu_share", cpu);
            fprintf(json, ",\"server_ns_runs\":[");
            for (int i = 0; i < ROUNDS; i++)
                fprintf(json, "%s%.1f", i ? "," : "", res[k][i].server_ns);
            fprintf(json, "],\"server_mallocs_runs\":[");
            for (int i = 0; i < ROUNDS; i++)
                fprintf(json, "%s%.4f", i ? "," : "", res[k][i].allocs);
            fprintf(json, "]}");
        }
    }
    printf(
        "\nsluice native / nghttp2 alone, server ns per request: %.2fx (%.2f-%.2f over the rounds); goal: at "
        "most %.2fx\n",
        native_ratio.median, native_ratio.min, native_ratio.max, GOAL);
    printf("access log on / off (sluice native), server ns per request: %.3fx (%.3f-%.3f over the rounds); "
           "%llu records dropped\n",
           log_ratio.median, log_ratio.min, log_ratio.max,
           (unsigned long long)atomic_load(&access_ring.dropped));
    if (contended)
        printf(
            "\nwarning: in some rounds the bench had less than 95%% of its core (CPU share): other work ran "
            "there, and the ns figures of those rounds include time preempted\n");
    if (json) {
        fprintf(json, "]");
        json_stat(json, "native_over_nghttp2_alone", native_ratio);
        json_stat(json, "access_log_on_over_off", log_ratio);
        fprintf(json, ",\"goal\":%.2f}\n", GOAL);
    }
    if (json && (fflush(json) || ferror(json) || fclose(json))) {
        fprintf(stderr, "h2_bench: error: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    for (int k = 0; k < NKINDS; k++) {
        if (!kinds[k].ops)
            continue;
        app_table_destroy(&tables[k]);
        http_worker_destroy(workers[k]);
    }
    return 0;
}
