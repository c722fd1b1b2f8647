/*
 * h2_bench.c — the HTTP/2 layer's CPU per request in memory, no network, one core.
 *
 * An nghttp2 client session keeps 32 streams in flight on one connection (GET /bytes/13: 13-byte
 * responses) against three servers, exchanging buffers directly:
 *   - sluice: server/h2 + server/http (http_worker_new, app_http_ops, the router compiled from
 *     server/sluice.routes) over an in-memory struct app_io, as tests/fuzz/h2_fuzz.c runs them,
 *     with nghttp2's memory from our size-class pools (server/http/http_mem.c);
 *   - sluice, system malloc: the same, but the worker's nghttp2_mem is plain malloc/free. The
 *     server has no switch for this: the link wraps http_mem_nghttp2 (-Wl,--wrap, see the
 *     Makefile) so that this file decides which allocator a new worker gets;
 *   - nghttp2 alone: a plain nghttp2 server session (default callbacks style: on_frame_recv submits
 *     :status, content-type and content-length with a data provider that copies the 13 bytes),
 *     system malloc — the reference for what the library costs without our glue.
 * Server time is the time spent inside the server's calls (app_readable/app_writable, or
 * mem_recv + mem_send), read with clock_gettime(CLOCK_MONOTONIC) around each call: one call handles
 * a whole batch of requests, so the clock's own cost is small. Client time is reported apart. Each
 * server runs ROUNDS times, interleaved; the median is printed with min-max, as a markdown table.
 * Allocations per request: malloc calls the server side made (for sluice: http_worker_system_allocs
 * plus the wrapped allocator's calls).
 *
 *   h2_bench [REQUESTS_PER_ROUND [JSON_FILE]]      (default 200000; JSON_FILE: the figures and every
 *                                                   round, machine-readable)
 *
 * Never run under a sanitizer for figures: ASan's allocator and checks dominate.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "http/http_config.h"
#include "http/http_mem.h"
#include "h2/h2.h"
#include "http/http_worker.h"

#define PORT      80
#define IN_FLIGHT 32
#define ROUNDS    5
#define BODY_LEN  13
#define PATH      "/bytes/13"
#define OUT_CAP   (4u << 20)
#define IN_CAP    (4u << 20)

static void die(const char *what)
{
    fprintf(stderr, "h2_bench: error: %s\n", what);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the allocator a new sluice worker gets -------------------------------------------------------- */

nghttp2_mem __real_http_mem_nghttp2(struct http_mem *m);
nghttp2_mem __wrap_http_mem_nghttp2(struct http_mem *m);

static bool use_pool = true; /* read by __wrap_http_mem_nghttp2 when a worker is created */
static uint64_t sys_allocs;  /* malloc/calloc/realloc calls through counting_mem */

static void *count_malloc(size_t size, void *user)
{
    (void)user;
    sys_allocs++;
    return malloc(size);
}

static void count_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static void *count_calloc(size_t n, size_t size, void *user)
{
    (void)user;
    sys_allocs++;
    return calloc(n, size);
}

static void *count_realloc(void *ptr, size_t size, void *user)
{
    (void)user;
    sys_allocs++;
    return realloc(ptr, size);
}

static nghttp2_mem counting_mem = {NULL, count_malloc, count_free, count_calloc, count_realloc};

nghttp2_mem __wrap_http_mem_nghttp2(struct http_mem *m)
{
    return use_pool ? __real_http_mem_nghttp2(m) : counting_mem;
}

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
    uint64_t done, failed, body_bytes;
    int32_t status; /* of the last response */
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

static void client_request(struct client *c)
{
    static const nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":authority", (uint8_t *)"bench", 10, 5,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
        {(uint8_t *)":path", (uint8_t *)PATH, 5, sizeof(PATH) - 1,
         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
    };

    if (nghttp2_submit_request(c->session, NULL, nva, sizeof(nva) / sizeof(nva[0]), NULL, NULL) < 0)
        die("nghttp2_submit_request");
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
    if (nghttp2_session_server_new3(&s, cb, NULL, NULL, &counting_mem))
        die("nghttp2_session_server_new3");
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

enum server_kind { SLUICE_POOL, SLUICE_MALLOC, NGHTTP2_ALONE, NKINDS };

static const char *const kind_names[NKINDS] = {
    "sluice glue (server/h2 + server/http), http_mem pools",
    "sluice glue, system malloc for nghttp2",
    "nghttp2 alone (plain server session), system malloc",
};

struct result {
    double server_ns, client_ns, total_ns, allocs; /* per request */
};

static struct http_config config;
static struct http_worker *workers[2];
static struct app_table tables[2];

/* malloc calls the server side made so far */
static uint64_t server_allocs(enum server_kind kind)
{
    return sys_allocs +
           (kind == NGHTTP2_ALONE ? 0 : http_worker_system_allocs(workers[kind == SLUICE_MALLOC]));
}

static void run(enum server_kind kind, uint64_t requests, struct result *r)
{
    struct client c;
    struct app_conn *ac = NULL;
    nghttp2_session *ref = NULL;
    uint64_t warm = requests / 10, total = requests + warm, issued = 0, server_ns = 0, t0, n;
    uint64_t done_at_warm = 0, server_ns_at_warm = 0, t_warm = 0, allocs_at_warm = 0;
    int w = kind == SLUICE_MALLOC;

    memset(&wire, 0, sizeof(wire));
    wire.to_server = malloc(IN_CAP);
    wire.to_client = malloc(OUT_CAP);
    if (!wire.to_server || !wire.to_client)
        die("malloc");
    client_init(&c);
    if (kind == NGHTTP2_ALONE) {
        ref = ref_new();
    } else {
        ac = app_open(&tables[w], PORT, &wire_io, NULL);
        if (!ac || wire.aborted)
            die("app_open: the HTTP service refused the connection");
    }
    for (; issued < IN_FLIGHT; issued++)
        client_request(&c);
    while (c.done < total) {
        client_flush(&c);
        t0 = now_ns();
        if (kind == NGHTTP2_ALONE) {
            ref_serve(ref);
        } else {
            app_readable(ac);
            if (wire.want_writable) {
                wire.want_writable = false;
                app_writable(ac);
            }
        }
        server_ns += now_ns() - t0;
        if (wire.aborted || wire.shut)
            die("the server closed the connection");
        if (!wire.out_len)
            die("the server wrote nothing back: the exchange is stuck");
        client_read(&c);
        for (; issued < c.done + IN_FLIGHT && issued < total; issued++)
            client_request(&c);
        if (!t_warm && c.done >= warm) { /* the first tenth warms pools and caches: not counted */
            t_warm = now_ns();
            done_at_warm = c.done;
            server_ns_at_warm = server_ns;
            allocs_at_warm = server_allocs(kind);
        }
    }
    n = c.done - done_at_warm;
    r->server_ns = (double)(server_ns - server_ns_at_warm) / (double)n;
    r->total_ns = (double)(now_ns() - t_warm) / (double)n;
    r->client_ns = r->total_ns - r->server_ns;
    r->allocs = (double)(server_allocs(kind) - allocs_at_warm) / (double)n;
    if (c.failed)
        die("responses other than 200, or reset streams");
    if (c.body_bytes != c.done * BODY_LEN)
        die("the response bodies are not 13 bytes each");
    /* the client goes away, as a reset would */
    if (ac)
        app_closed(&tables[w], ac, ECONNRESET);
    if (ref)
        nghttp2_session_del(ref);
    nghttp2_session_del(c.session);
    free(wire.to_server);
    free(wire.to_client);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* median, min, max of ROUNDS values */
static void summary(double *v, double out[3])
{
    qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
    out[0] = v[ROUNDS / 2];
    out[1] = v[0];
    out[2] = v[ROUNDS - 1];
}

int main(int argc, char **argv)
{
    static const struct app_service service = {PORT, &app_http_ops};
    static const char *const kind_ids[NKINDS] = {"sluice_pool", "sluice_malloc", "nghttp2_alone"};
    uint64_t requests = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    struct result res[NKINDS][ROUNDS];
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
    for (int i = 0; i < 2; i++) {
        use_pool = i == 0;
        workers[i] = http_worker_new(&config, 4, &h2_nghttp2_ops);
        if (!workers[i])
            die("http_worker_new");
        if (app_table_init(&tables[i], 4, &service, 1))
            die("app_table_init");
        tables[i].http = workers[i];
    }
    use_pool = true;
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < NKINDS; k++)
            run((enum server_kind)k, requests, &res[k][round]);

    printf("%llu requests per round after a tenth more of warm-up, %d streams in flight, 13-byte responses; "
           "median of %d interleaved rounds (min-max)\n\n",
           (unsigned long long)requests, IN_FLIGHT, ROUNDS);
    printf(
        "| server | server ns/request | client ns/request | total ns/request | server mallocs/request |\n");
    printf("|---|---:|---:|---:|---:|\n");
    if (json)
        fprintf(json,
                "{\"requests_per_round\":%llu,\"in_flight\":%d,\"body_bytes\":%d,\"rounds\":%d,\"servers\":[",
                (unsigned long long)requests, IN_FLIGHT, BODY_LEN, ROUNDS);
    for (int k = 0; k < NKINDS; k++) {
        double v[ROUNDS], s[3], cl[3], t[3], a[3];

        for (int i = 0; i < ROUNDS; i++)
            v[i] = res[k][i].server_ns;
        summary(v, s);
        for (int i = 0; i < ROUNDS; i++)
            v[i] = res[k][i].client_ns;
        summary(v, cl);
        for (int i = 0; i < ROUNDS; i++)
            v[i] = res[k][i].total_ns;
        summary(v, t);
        for (int i = 0; i < ROUNDS; i++)
            v[i] = res[k][i].allocs;
        summary(v, a);
        printf("| %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.3f |\n", kind_names[k],
               s[0], s[1], s[2], cl[0], cl[1], cl[2], t[0], t[1], t[2], a[0]);
        if (json) {
            fprintf(json,
                    "%s{\"id\":\"%s\",\"label\":\"%s\",\"server_ns_per_req\":{\"median\":%.1f,\"min\":%.1f,"
                    "\"max\":%.1f},"
                    "\"client_ns_per_req\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f},"
                    "\"total_ns_per_req\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f},\"server_mallocs_per_"
                    "req\":%.4f,"
                    "\"server_ns_runs\":[",
                    k ? "," : "", kind_ids[k], kind_names[k], s[0], s[1], s[2], cl[0], cl[1], cl[2], t[0],
                    t[1], t[2], a[0]);
            for (int i = 0; i < ROUNDS; i++)
                fprintf(json, "%s%.1f", i ? "," : "", res[k][i].server_ns);
            fprintf(json, "]}");
        }
    }
    if (json && (fprintf(json, "]}\n") < 0 || fclose(json))) {
        fprintf(stderr, "h2_bench: error: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        app_table_destroy(&tables[i]);
        http_worker_destroy(workers[i]);
    }
    return 0;
}
