/*
 * probe_bench.c — what observability adds to each request, in memory, one core: a USDT probe with no
 * tracer attached (common/probes.h: its semaphore tested, its arguments not computed) and the histogram
 * update (server/http/latency.h) the request's end makes; and, for comparison, the clock read that
 * timing each request apart would add twice (requests are timed on the worker loop's clock instead).
 *
 * Each figure is the median over ROUNDS of (loop with the operation - the same loop without it) / N,
 * the loop's own work (an index, an array read, a compiler barrier) taken out. The durations given
 * to the histogram are spread over every bucket (the worst case: each one a different bucket), then all
 * 0 (the common case on the worker loop's clock); the routes over 16 and the status classes over 4.
 * Attach a tracer (bpftrace -p PID on usdt:...:sluice:request_end) to see what an enabled probe costs:
 * its line then says "attached".
 *
 *   probe_bench [OPERATIONS_PER_ROUND]      (default 20000000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/probes.h"
#include "http/latency.h"

#define ROUNDS    9
#define ROUTES    16
#define DURATIONS 4096 /* a power of two */

#define BARRIER() __asm__ volatile("" ::: "memory")

static uint64_t durations[DURATIONS];

static uint64_t bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The path as request.c hands it to a probe: copied, NUL-terminated, only while a tracer is attached. */
static const char *probe_path(char *buf, const char *path, size_t len)
{
    memcpy(buf, path, len);
    buf[len] = '\0';
    return buf;
}

static uint64_t loop_empty(uint64_t n)
{
    uint64_t t0 = bench_now(), acc = 0;

    for (uint64_t i = 0; i < n; i++) {
        acc += durations[i & (DURATIONS - 1)];
        BARRIER();
    }
    if (acc == 42)
        puts("");
    return bench_now() - t0;
}

static uint64_t loop_probe(uint64_t n)
{
    static const char path[] = "/bytes/100";
    char buf[SLUICE_PROBE_PATH_MAX];
    uint64_t t0 = bench_now(), acc = 0;

    for (uint64_t i = 0; i < n; i++) {
        acc += durations[i & (DURATIONS - 1)];
        SLUICE_PROBE_REQUEST_END((uint32_t)(i & 1), "GET /bytes/:n", "GET",
                                 probe_path(buf, path, sizeof(path) - 1), 200,
                                 durations[i & (DURATIONS - 1)]);
        BARRIER();
    }
    if (acc == 42)
        puts("");
    return bench_now() - t0;
}

static uint64_t loop_clock(uint64_t n)
{
    uint64_t t0 = bench_now(), acc = 0;

    for (uint64_t i = 0; i < n; i++) {
        acc += durations[i & (DURATIONS - 1)] + bench_now();
        BARRIER();
    }
    if (acc == 42)
        puts("");
    return bench_now() - t0;
}

static struct http_latency hist;

static uint64_t loop_observe(uint64_t n)
{
    uint64_t t0 = bench_now(), acc = 0;

    for (uint64_t i = 0; i < n; i++) {
        acc += durations[i & (DURATIONS - 1)];
        http_latency_observe(&hist, (int)(i % ROUTES) - 1, 200 + (int)(i & 3) * 100,
                             durations[i & (DURATIONS - 1)]);
        BARRIER();
    }
    if (acc == 42)
        puts("");
    return bench_now() - t0;
}

/* the same with every duration 0: a request answered in the loop iteration that brought it */
static uint64_t loop_observe_zero(uint64_t n)
{
    uint64_t t0 = bench_now(), acc = 0;

    for (uint64_t i = 0; i < n; i++) {
        acc += durations[i & (DURATIONS - 1)];
        http_latency_observe(&hist, (int)(i % ROUTES) - 1, 200 + (int)(i & 3) * 100, acc & 0);
        BARRIER();
    }
    if (acc == 42)
        puts("");
    return bench_now() - t0;
}

static double median_ns(uint64_t (*loop)(uint64_t), uint64_t n)
{
    uint64_t diff[ROUNDS];

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t base = loop_empty(n), with = loop(n);

        diff[r] = with > base ? with - base : 0;
    }
    qsort(diff, ROUNDS, sizeof(diff[0]), cmp_u64);
    return (double)diff[ROUNDS / 2] / (double)n;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    if (n < 1000) {
        fprintf(stderr, "usage: probe_bench [OPERATIONS_PER_ROUND >= 1000]\n");
        return 2;
    }
    if (http_latency_init(&hist, ROUTES - 1)) {
        perror("probe_bench: histogram");
        return 1;
    }
    /* log-uniform from 10 us to 20 s: every bucket, and past the last */
    for (int i = 0; i < DURATIONS; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        durations[i] = 10000ull << (seed % 22);
    }
    printf("| operation | ns |\n|---|---|\n");
    printf("| request_end probe, %s | %.2f |\n", SLUICE_PROBE_ENABLED(request_end) ? "attached" : "no tracer",
           median_ns(loop_probe, n));
    printf("| clock_gettime(CLOCK_MONOTONIC): what timing each request apart would cost, twice | %.2f |\n",
           median_ns(loop_clock, n));
    printf("| http_latency_observe, durations over every bucket | %.2f |\n", median_ns(loop_observe, n));
    printf("| http_latency_observe, durations 0 (answered within the batch) | %.2f |\n",
           median_ns(loop_observe_zero, n));
    http_latency_destroy(&hist);
    return 0;
}
