/*
 * access_log_bench.c — the access log's costs in memory, apart from the HTTP layer (h2_bench measures
 * recording on and off in a worker's whole request): the logger thread's formatting, ns per line, for
 * each built-in format and a format string, and a worker's record (reserve, fill, commit) in a ring of
 * the default size (log/access_log.h: 1 MiB), with the strings combined prints and with those common
 * prints, its tail moved by hand as the logger would (the header lookups of Referer and User-Agent in
 * the request are not in it: h2_bench measures the whole). Times are the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, read once per figure), so that on a shared machine time spent preempted is
 * not counted.
 *
 * With a directory, also the logger thread whole (log/access_log.c: draining, formatting `combined`,
 * writing) to a file there, three times: one producer records LINES requests as h2load makes them, at
 * RATE a second (a worker's pace at 13 B requests; a millisecond's at a time), and the logger's CPU time
 * per line is read from its own counter (access_log_stats); the kernel's writeback of the file is not in
 * it (the page cache's dirty pages are written later, by other threads).
 *
 *   access_log_bench [LINES [DIR [RATE]]]      (default 1000000 lines, RATE 700000)
 */
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/access_format.h"
#include "log/access_log.h"

static const char *const routes[] = {"GET /bytes/:n"};

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A browser-like request: the strings combined prints, or (common) its method, path and query only */
static void strings(struct access_str *str, uint64_t i, bool common, char *path)
{
    static const char ua[] = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0";
    int n = snprintf(path, 32, "/bytes/%llu", (unsigned long long)(i % 100000));

    memset(str, 0, sizeof(*str) * ACCESS_F_COUNT);
    str[ACCESS_F_METHOD] = (struct access_str){"GET", 3};
    str[ACCESS_F_PATH] = (struct access_str){path, (size_t)n};
    str[ACCESS_F_QUERY] = (struct access_str){"seed=1", 6};
    if (common)
        return;
    str[ACCESS_F_HOST] = (struct access_str){"www.example.com", 15};
    str[ACCESS_F_REFERER] = (struct access_str){"https://www.example.com/index.html", 34};
    str[ACCESS_F_USER_AGENT] = (struct access_str){ua, sizeof(ua) - 1};
}

static void numbers(struct access_record *r, uint64_t i)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2};

    r->status = 200;
    r->route = 0;
    r->worker = 0;
    r->end_ns = 5000000000ull + i * 1000;
    r->duration_ns = 123456;
    r->bytes = i % 100000;
    memcpy(r->addr, addr, 16);
    r->version = 20;
}

/* A worker's recording of lines requests with the strings of common or combined: ns per record */
static double worker_ns(struct access_ring *ring, uint64_t lines, bool common, uint32_t *size)
{
    static struct access_str str[1024][ACCESS_F_COUNT];
    static char paths[1024][32];
    uint64_t t0;

    for (int i = 0; i < 1024; i++)
        strings(str[i], (uint64_t)i, common, paths[i]);
    t0 = cpu_ns();
    for (uint64_t i = 0; i < lines; i++) {
        struct access_record *r = access_ring_record(ring, str[i & 1023]);

        if (!r)
            exit(1);
        *size = r->size;
        numbers(r, i);
        access_ring_commit(ring, r);
        if ((i & 63) == 63) /* the logger frees room in batches */
            atomic_store_explicit(&ring->tail, atomic_load(&ring->head), memory_order_release);
    }
    return (double)(cpu_ns() - t0) / (double)lines;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The logger thread's CPU per line, writing lines requests recorded at rate a second to a file in dir;
 * the file's bytes per line in *line_bytes. */
static double logger_ns(const char *dir, uint64_t lines, uint64_t rate, double *line_bytes)
{
    char path[4096], addr[16] = {0};
    struct access_log_config cfg = {.path = path, .format = "combined", .ring = ACCESS_RING_DEFAULT};
    struct access_str str[ACCESS_F_COUNT] = {
        [ACCESS_F_METHOD] = {"GET", 3},
        [ACCESS_F_PATH] = {"/bytes/13", 9},
        [ACCESS_F_HOST] = {"10.77.0.2:8080", 14},
        [ACCESS_F_USER_AGENT] = {"h2load nghttp2/1.52.0", 21},
    };
    struct access_log_stats s;
    struct err e = {0};
    struct access_log *log;
    struct access_ring *ring;
    uint64_t t0;
    struct stat st;

    snprintf(path, sizeof(path), "%s/access_log_bench.log", dir);
    unlink(path);
    if (!(log = access_log_start(&cfg, 1, routes, 1, &e))) {
        fprintf(stderr, "access_log_bench: error: %s\n", e.msg);
        exit(1);
    }
    ring = access_log_ring(log, 0);
    addr[10] = addr[11] = (char)0xff;
    addr[12] = 10, addr[13] = 77, addr[15] = 1;
    t0 = mono_ns();
    for (uint64_t i = 0; i < lines; i++) {
        struct access_record *r;

        if (i % (rate / 1000 + 1) == 0) { /* a millisecond's lines at a time, sleeping between */
            uint64_t due = t0 + i * 1000000000u / rate, now = mono_ns();

            if (due > now)
                nanosleep(&(struct timespec){0, (long)(due - now)}, NULL);
        }
        while (!(r = access_ring_record(ring, str)))
            sched_yield(); /* not a worker: wait for room rather than drop */
        numbers(r, i);
        memcpy(r->addr, addr, sizeof(addr));
        access_ring_commit(ring, r);
    }
    do { /* every line written (or lost, counted) */
        usleep(1000);
        access_log_stats(log, &s);
    } while (s.written + s.write_errors < lines);
    usleep(20000); /* the logger stores its CPU time once the pass that wrote them is over */
    access_log_stats(log, &s);
    access_log_stop(log);
    *line_bytes = stat(path, &st) ? 0 : (double)st.st_size / (double)lines;
    unlink(path);
    return (double)s.cpu_ns / (double)lines;
}

int main(int argc, char **argv)
{
    static const char *const formats[] = {
        "common", "combined", "json",
        "$remote_addr [$time_iso8601] \"$request\" $status $body_bytes_sent $request_time $route $worker"};
    uint64_t lines = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    /* recs: a record each at the start of a ring it fills, with the ring's slack */
    static _Alignas(64) uint8_t bytes[ACCESS_RING_DEFAULT + ACCESS_RING_SLACK],
        recs[1024][ACCESS_RECORD_MAX + ACCESS_RING_SLACK];
    static char out[ACCESS_LINE_MAX];
    struct access_ring ring = {.mask = ACCESS_RING_DEFAULT - 1, .bytes = bytes};
    uint64_t t0, sink = 0;
    uint32_t size_common = 0, size_combined = 0;
    double common_ns, combined_ns;
    const char *dir = argc > 2 ? argv[2] : NULL;
    uint64_t rate = argc > 3 ? strtoull(argv[3], NULL, 10) : 700000;

    if (argc > 4 || lines < 1000 || !rate) {
        fprintf(stderr, "usage: access_log_bench [LINES >= 1000 [DIR [RATE > 0]]]\n");
        return 2;
    }
    for (int i = 0; i < 1024; i++) { /* records as the logger finds them, each its own copy */
        struct access_ring one = {.mask = ACCESS_RING_MIN - 1, .bytes = recs[i]};
        struct access_str str[ACCESS_F_COUNT];
        char path[32];

        strings(str, (uint64_t)i, false, path);
        numbers(access_ring_record(&one, str), (uint64_t)i);
    }
    printf("%llu lines per format, 1024 distinct records, a new second of the records' clock every 1000000 "
           "lines, thread CPU time\n\n",
           (unsigned long long)lines);
    printf("| format | ns per line | bytes per line |\n|---|---:|---:|\n");
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        struct access_format fmt;
        struct access_format_ctx ctx;
        struct err e = {0};
        uint64_t nbytes = 0;

        if (access_format_compile(&fmt, formats[f], &e)) {
            fprintf(stderr, "access_log_bench: error: %s\n", e.msg);
            return 1;
        }
        access_format_ctx_init(&ctx, routes, 1);
        t0 = cpu_ns();
        for (uint64_t i = 0; i < lines; i++) {
            struct access_record *r = (struct access_record *)(void *)recs[i & 1023];

            r->end_ns = 5000000000ull + i * 1000; /* the clock moves: a new second every 1M lines */
            nbytes += access_format_line(&fmt, &ctx, r, out, sizeof(out));
        }
        printf("| %s | %.1f | %.0f |\n", formats[f], (double)(cpu_ns() - t0) / (double)lines,
               (double)nbytes / (double)lines);
        sink += nbytes;
    }
    combined_ns = worker_ns(&ring, lines, false, &size_combined);
    common_ns = worker_ns(&ring, lines, true, &size_common);
    printf(
        "\nworker: record (reserve, fill, commit) in a %u KiB ring: %.1f ns with the strings combined prints "
        "(%u-byte records), %.1f ns with those common prints (%u-byte records)\n",
        ACCESS_RING_DEFAULT >> 10, combined_ns, size_combined, common_ns, size_common);
    if (dir) {
        printf("\nlogger thread, combined, %llu requests as h2load makes them at %llu a second, to %s:\n\n"
               "| round | ns per line (logger CPU) | bytes per line |\n|---|---:|---:|\n",
               (unsigned long long)lines, (unsigned long long)rate, dir);
        for (int round = 1; round <= 3; round++) {
            double bytes, ns = logger_ns(dir, lines, rate, &bytes);

            printf("| %d | %.1f | %.0f |\n", round, ns, bytes);
        }
    }
    return sink == 0;
}
