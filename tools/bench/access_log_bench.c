/*
 * access_log_bench.c — the access log's costs in memory, apart from the HTTP layer (h2_bench measures
 * recording on and off in a worker's whole request): the logger thread's formatting, ns per line, for
 * each built-in format and a format string, and a worker's reserve + fill + commit of a record in a ring
 * of the default size (log/access_log.h: 4096 records, 2 MiB, more than a core's L2 as a busy ring is),
 * with the strings combined prints, its tail moved by hand as the logger would (the header lookups
 * of Referer and User-Agent in the request are not in it: h2_bench measures the whole). Times are the
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID, read once per figure), so that on a shared machine time
 * spent preempted is not counted.
 *
 *   access_log_bench [LINES]      (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/access_format.h"
#include "log/access_log.h"

static const char *const routes[] = {"GET /bytes/:n"};

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A browser-like request: the strings combined prints */
static void fill(struct access_record *r, uint64_t i)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2};
    static const char ua[] = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0";
    char path[32];
    int n = snprintf(path, sizeof(path), "/bytes/%llu", (unsigned long long)(i % 100000));

    r->end_ns = 5000000000ull + i * 1000;
    r->duration_ns = 123456;
    r->bytes = i % 100000;
    memcpy(r->addr, addr, 16);
    r->status = 200;
    r->route = 0;
    r->worker = 0;
    r->version = 20;
    r->flags = 0;
    r->text_used = 0;
    access_record_put(r, ACCESS_F_METHOD, "GET", 3);
    access_record_put(r, ACCESS_F_PATH, path, (size_t)n);
    access_record_put(r, ACCESS_F_QUERY, "seed=1", 6);
    access_record_put(r, ACCESS_F_HOST, "www.example.com", 15);
    access_record_put(r, ACCESS_F_REFERER, "https://www.example.com/index.html", 34);
    access_record_put(r, ACCESS_F_USER_AGENT, ua, sizeof(ua) - 1);
}

int main(int argc, char **argv)
{
    static const char *const formats[] = {
        "common", "combined", "json",
        "$remote_addr [$time_iso8601] \"$request\" $status $body_bytes_sent $request_time $route $worker"};
    uint64_t lines = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    static struct access_record recs[1024], worker_recs[ACCESS_RING_DEFAULT];
    static char out[ACCESS_LINE_MAX];
    struct access_ring ring = {.mask = ACCESS_RING_DEFAULT - 1, .records = worker_recs};
    uint64_t t0, sink = 0;

    if (argc > 2 || lines < 1000) {
        fprintf(stderr, "usage: access_log_bench [LINES >= 1000]\n");
        return 2;
    }
    for (int i = 0; i < 1024; i++)
        fill(&recs[i], (uint64_t)i);
    printf("%llu lines per format, 1024 distinct records, a new second of the records' clock every 1000000 "
           "lines, thread CPU time\n\n",
           (unsigned long long)lines);
    printf("| format | ns per line | bytes per line |\n|---|---:|---:|\n");
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        struct access_format fmt;
        struct access_format_ctx ctx;
        struct err e = {0};
        uint64_t bytes = 0;

        if (access_format_compile(&fmt, formats[f], &e)) {
            fprintf(stderr, "access_log_bench: error: %s\n", e.msg);
            return 1;
        }
        access_format_ctx_init(&ctx, routes, 1);
        t0 = cpu_ns();
        for (uint64_t i = 0; i < lines; i++) {
            recs[i & 1023].end_ns =
                5000000000ull + i * 1000; /* the clock moves: a new second every 1M lines */
            bytes += access_format_line(&fmt, &ctx, &recs[i & 1023], out, sizeof(out));
        }
        printf("| %s | %.1f | %.0f |\n", formats[f], (double)(cpu_ns() - t0) / (double)lines,
               (double)bytes / (double)lines);
        sink += bytes;
    }
    /* the worker's side: reserve, fill as http_worker.c does, commit; the logger's tail moved by hand */
    t0 = cpu_ns();
    for (uint64_t i = 0; i < lines; i++) {
        const struct access_record *src = &recs[i & 1023];
        struct access_record *r = access_ring_reserve(&ring);

        if (!r)
            return 1;
        r->end_ns = i;
        r->duration_ns = 1;
        r->bytes = i;
        memcpy(r->addr, src->addr, 16);
        r->status = 200;
        r->route = 0;
        r->worker = 0;
        r->version = 20;
        r->flags = 0;
        r->text_used = 0;
        for (int f = 0; f < ACCESS_F_COUNT; f++)
            access_record_put(r, (enum access_field)f, access_record_field(src, (enum access_field)f),
                              src->len[f]);
        access_ring_commit(&ring);
        if ((i & 63) == 63) /* the logger frees slots in batches */
            atomic_store_explicit(&ring.tail, atomic_load(&ring.head), memory_order_release);
    }
    printf("\nworker: reserve + fill (every string combined prints, %u bytes) + commit: %.1f ns per record\n",
           recs[0].text_used, (double)(cpu_ns() - t0) / (double)lines);
    return sink == 0;
}
