/*
 * latency_test.c — the request duration histograms' cells (server/http/latency.c), in memory: a
 * duration lands in the first bucket whose bound is at or above it (Prometheus' `le`), past the last
 * bound in the +Inf cell; the status classes split as the responses_Nxx counters do; a route out of
 * the router's range counts as "none"; _sum adds the nanoseconds. The suite usdt checks the same
 * histograms in /metrics against real clients.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "http/latency.h"
#include "tests/lib/check.h"

#define ROUTES 3

static struct http_latency lat;

/* The (route, class) cell that holds bucket b, or the +Inf cell for b == HTTP_LATENCY_NBUCKETS. */
static uint64_t cell(int route, int cls, int b)
{
    return http_latency_cells(&lat, route, cls)[b];
}

static uint64_t total(void)
{
    uint64_t n = 0;

    for (int route = -1; route < ROUTES; route++)
        for (int cls = 0; cls < HTTP_LATENCY_CLASSES; cls++)
            for (int b = 0; b <= HTTP_LATENCY_NBUCKETS; b++)
                n += cell(route, cls, b);
    return n;
}

/* Empty cells again; false when they cannot be had. */
static bool reset(void)
{
    http_latency_destroy(&lat);
    return http_latency_init(&lat, ROUTES) == 0;
}

static void test_bounds_are_increasing_and_labelled(void)
{
    CHECK(HTTP_LATENCY_NBUCKETS == 17);
    for (int b = 1; b < HTTP_LATENCY_NBUCKETS; b++)
        CHECKF(http_latency_bounds_ns[b] > http_latency_bounds_ns[b - 1], "bound %d", b);
    CHECK(http_latency_bounds_ns[0] == 50000);
    CHECK(http_latency_bounds_ns[HTTP_LATENCY_NBUCKETS - 1] == 10000000000ull);
    for (int b = 0; b < HTTP_LATENCY_NBUCKETS; b++) {
        /* the label is the bound in seconds */
        double le = strtod(http_latency_bounds_text[b], NULL);
        double ns = (double)http_latency_bounds_ns[b];

        CHECKF(le * 1e9 > ns * 0.999999 && le * 1e9 < ns * 1.000001, "bound %d: %s for %.0f ns", b,
               http_latency_bounds_text[b], ns);
    }
}

static void test_le_is_inclusive(void)
{
    CHECK(reset());
    for (int b = 0; b < HTTP_LATENCY_NBUCKETS; b++) {
        uint64_t ns = http_latency_bounds_ns[b];

        http_latency_observe(&lat, 0, 200, ns); /* on the bound: this bucket */
        CHECKF(cell(0, 0, b) == 1, "bucket %d after %llu ns", b, (unsigned long long)ns);
        http_latency_observe(&lat, 0, 200, ns + 1); /* just over: the next one (or +Inf) */
        CHECKF(cell(0, 0, b + 1) == 1, "bucket %d after %llu ns", b + 1, (unsigned long long)ns + 1);
        CHECK(reset());
    }
    http_latency_observe(&lat, 0, 200, 0);
    CHECK(cell(0, 0, 0) == 1);
    http_latency_observe(&lat, 0, 200, UINT64_MAX);
    CHECK(cell(0, 0, HTTP_LATENCY_NBUCKETS) == 1);
    CHECK(total() == 2);
}

static void test_classes_routes_and_sum(void)
{
    static const struct {
        int status, cls;
    } cases[] = {{100, 0}, {200, 0}, {299, 0}, {301, 1}, {404, 2}, {429, 2}, {500, 3}, {503, 3}};

    CHECK(reset());
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_latency_observe(&lat, 2, cases[i].status, 1000);
        CHECKF(cell(2, cases[i].cls, 0) >= 1, "status %d", cases[i].status);
    }
    CHECK(total() == 8);
    CHECK(http_latency_cells(&lat, 2, 0)[HTTP_LATENCY_NBUCKETS + 1] == 3000); /* _sum of the three 2xx */
    /* none, and routes the router does not have, are one row */
    http_latency_observe(&lat, -1, 404, 7);
    http_latency_observe(&lat, ROUTES, 404, 7);
    http_latency_observe(&lat, -5, 404, 7);
    CHECK(cell(-1, 2, 0) == 3);
    CHECK(http_latency_cells(&lat, -1, 2)[HTTP_LATENCY_NBUCKETS + 1] == 21);
    CHECK(total() == 11);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_bounds_are_increasing_and_labelled),
        CHECK_CASE(test_le_is_inclusive),
        CHECK_CASE(test_classes_routes_and_sum),
    };
    int status = check_main(argc, argv, tests, CHECK_COUNT(tests), NULL);

    http_latency_destroy(&lat);
    return status;
}
