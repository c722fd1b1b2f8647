/*
 * router_bench.c — lookups per second of the generated router, for 10, 100 and 1000 routes.
 *
 * The three route sets come from tools/bench/router_routes.sh, each compiled by sluice-routegen and
 * linked here under a name of its own (sluice-routegen --name bench_router_N; see the Makefile). The lookups
 * are derived from each set's compiled route names, so they cannot drift from the routes: 4096 per set,
 * routes picked at random, half of them matching paths (captures filled with varying values), half misses: a
 * segment too many (404 after the whole walk), a changed byte (404 on the way) or a method without a route
 * (405, which explores every alternative). The router classifies them; each class is timed on its own, then
 * the mix, then a mix over the first 10 routes only, and for reference the mix through a loop over the
 * routes, as a table-driven router would do. The generated matcher does the same work per lookup whatever the
 * number of routes: with the same paths in every set ("first 10 routes only") its time stays flat.
 * Spread over all routes, its time also grows with the code it touches (about 145 B of text per
 * route: caches and branch predictors), far less than the loop's, which grows with the routes.
 * Prints a markdown table.
 *
 *   router_bench [SECONDS]     time per measurement, best of 5 runs (default 1)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/router.h"

#define LOOKUPS    4096
#define MAX_PATH   256
#define MAX_SEGS   16
#define REPEATS    5
#define HOT_ROUTES 10 /* the "same paths" column: lookups for the first 10 routes only, in every set */

extern const struct router bench_router_10, bench_router_100, bench_router_1000;

/* The generated dispatchers call these; the bench never dispatches, but they must link. */
#define STUB(kind, name)                                                                                     \
    int kind##_##name(struct http_request *req);                                                             \
    int kind##_##name(struct http_request *req)                                                              \
    {                                                                                                        \
        (void)req;                                                                                           \
        return 0;                                                                                            \
    }
STUB(handler, list)
STUB(handler, create)
STUB(handler, show)
STUB(handler, update)
STUB(handler, child)
STUB(handler, download)
STUB(middleware, auth)
STUB(middleware, audit)

struct route_set {
    int size;
    const struct router *router;
};

static const struct route_set sets[] = {
    {10, &bench_router_10}, {100, &bench_router_100}, {1000, &bench_router_1000}};

struct lookup {
    enum method method;
    uint16_t len;
    char path[MAX_PATH];
};

struct lookups {
    struct lookup *v;
    int n;
};

/* The reference: each route's pattern cut into segments, tried one route after the other. */
struct linear_route {
    uint32_t methods;
    int nsegs;
    struct {
        char kind; /* 'l'iteral, ':' param, '*' wildcard */
        const char *text;
        size_t len;
    } segs[MAX_SEGS];
};

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint32_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void push(struct lookups *list, const struct lookup *l)
{
    list->v = realloc(list->v, (list->n + 1) * sizeof(*list->v));
    if (!list->v) {
        fprintf(stderr, "router_bench: out of memory\n");
        exit(1);
    }
    list->v[list->n++] = *l;
}

/* A path that the route's pattern matches, with capture values that change with seed. */
static void path_for(const char *pattern, uint32_t seed, struct lookup *l)
{
    size_t len = 0;

    for (const char *p = pattern; *p && len < MAX_PATH - 32;) {
        if (p[-1] == '/' && (*p == ':' || *p == '*')) {
            len += (size_t)snprintf(l->path + len, MAX_PATH - len, *p == ':' ? "%u" : "docs/%u/report.pdf",
                                    seed % 100000);
            p += strcspn(p, "/");
        } else {
            l->path[len++] = *p++;
        }
    }
    l->len = (uint16_t)len;
}

static void linear_compile(const struct route_set *set, struct linear_route *routes)
{
    for (int i = 0; i < set->router->route_count; i++) {
        const char *name = set->router->route_names[i], *pattern = strchr(name, ' ') + 1;
        struct linear_route *r = &routes[i];

        r->methods = 0;
        for (const char *m = name;; m += strcspn(m, ", ") + 1) {
            size_t len = strcspn(m, ", ");

            r->methods |= *m == '*' ? (1u << METHOD_COUNT) - 1 : 1u << method_parse(m, len);
            if (m[len] != ',')
                break;
        }
        if (r->methods & (1u << METHOD_GET))
            r->methods |= 1u << METHOD_HEAD;
        r->nsegs = 0;
        for (const char *s = pattern + 1; r->nsegs < MAX_SEGS; s++) {
            size_t len = strcspn(s, "/");

            r->segs[r->nsegs].kind = (*s == ':' || *s == '*') && len > 1 ? *s : 'l';
            r->segs[r->nsegs].text = s;
            r->segs[r->nsegs++].len = len;
            s += len;
            if (!*s)
                break;
        }
    }
}

static bool linear_match_route(const struct linear_route *r, const char *path, size_t len)
{
    const char *p = path + 1, *end = path + len;

    if (len == 0 || path[0] != '/')
        return false;
    for (int i = 0; i < r->nsegs; i++) {
        const char *q;

        if (r->segs[i].kind == '*')
            return true;
        q = memchr(p, '/', (size_t)(end - p));
        q = q ? q : end;
        if (r->segs[i].kind == 'l' &&
            ((size_t)(q - p) != r->segs[i].len || memcmp(p, r->segs[i].text, q - p) != 0))
            return false;
        if (r->segs[i].kind == ':' && q == p)
            return false;
        if (i + 1 == r->nsegs)
            return q == end;
        if (q == end)
            return false;
        p = q + 1;
    }
    return false;
}

static int linear_match(const struct linear_route *routes, int n, enum method method, const char *path,
                        size_t len)
{
    for (int i = 0; i < n; i++)
        if ((routes[i].methods & (1u << method)) && linear_match_route(&routes[i], path, len))
            return i;
    return -1;
}

/*
 * Nanoseconds per lookup: the best of REPEATS runs, each as many passes over the list as fit in
 * seconds / REPEATS (at least one). The best run is the one least disturbed by the rest of the machine.
 */
static double time_router(const struct route_set *set, const struct lookups *list, double seconds)
{
    double best = 1e30;

    for (int rep = 0; rep < REPEATS; rep++) {
        struct router_match m;
        volatile int sink = 0;
        long done = 0;
        double start = now_s(), elapsed;

        do {
            for (int i = 0; i < list->n; i++) {
                set->router->match(list->v[i].method, list->v[i].path, list->v[i].len, &m);
                sink += m.route;
            }
            done += list->n;
        } while ((elapsed = now_s() - start) < seconds / REPEATS);
        (void)sink;
        if (elapsed * 1e9 / (double)done < best)
            best = elapsed * 1e9 / (double)done;
    }
    return best;
}

static double time_linear(const struct linear_route *routes, int n, const struct lookups *list,
                          double seconds)
{
    double best = 1e30;

    for (int rep = 0; rep < REPEATS; rep++) {
        volatile int sink = 0;
        long done = 0;
        double start = now_s(), elapsed;

        do {
            for (int i = 0; i < list->n; i++)
                sink += linear_match(routes, n, list->v[i].method, list->v[i].path, list->v[i].len);
            done += list->n;
        } while ((elapsed = now_s() - start) < seconds / REPEATS);
        (void)sink;
        if (elapsed * 1e9 / (double)done < best)
            best = elapsed * 1e9 / (double)done;
    }
    return best;
}

static void shuffle(struct lookups *list)
{
    for (int i = list->n - 1; i > 0; i--) {
        int j = (int)(next_random() % (uint32_t)(i + 1));
        struct lookup tmp = list->v[i];

        list->v[i] = list->v[j];
        list->v[j] = tmp;
    }
}

/*
 * LOOKUPS lookups for routes picked at random among the set's first `span`: half match, half miss
 * (a segment too many, a changed byte, a method without a route), classified by the router itself.
 */
static int make_lookups(const struct route_set *set, int span, struct lookups *found, struct lookups *missed,
                        struct lookups *mixed, int *n404, int *n405)
{
    for (int i = 0; i < LOOKUPS; i++) {
        int route = (int)(next_random() % (uint32_t)span);
        const char *name = set->router->route_names[route];
        struct lookup l = {.method = name[0] == '*' ? METHOD_GET : method_parse(name, strcspn(name, ", "))};
        struct router_match m;

        path_for(strchr(name, ' ') + 1, next_random(), &l);
        switch (i % 6) {
        case 3: /* one segment too many: the whole path is walked before it fails */
            memcpy(l.path + l.len, "/zz", 3);
            l.len += 3;
            break;
        case 4: /* a byte changed somewhere in the path */
            l.path[1 + next_random() % (l.len - 1)] ^= 0x20;
            break;
        case 5: /* a method the routes do not have */
            l.method = METHOD_OPTIONS;
            break;
        }
        set->router->match(l.method, l.path, l.len, &m);
        if (i % 6 < 3 && (m.result != ROUTER_FOUND || m.route != route)) {
            fprintf(stderr, "router_bench: %.*s for route %d (%s) gives %d route %d\n", l.len, l.path, route,
                    name, m.result, m.route);
            return -1;
        }
        *n404 += m.result == ROUTER_NOT_FOUND;
        *n405 += m.result == ROUTER_METHOD_NOT_ALLOWED;
        if (found)
            push(m.result == ROUTER_FOUND ? found : missed, &l);
        push(mixed, &l);
    }
    if (found) {
        shuffle(found);
        shuffle(missed);
    }
    shuffle(mixed);
    return 0;
}

static int bench_set(const struct route_set *set, double seconds)
{
    struct lookups found = {0}, missed = {0}, mixed = {0}, hot = {0};
    struct linear_route *linear = calloc(set->router->route_count, sizeof(*linear));
    int n404 = 0, n405 = 0, hot404 = 0, hot405 = 0, ret = -1;

    if (set->router->route_count != set->size) {
        fprintf(stderr, "router_bench: the %d-route set has %d routes\n", set->size,
                set->router->route_count);
        goto Exit;
    }
    if (make_lookups(set, set->size, &found, &missed, &mixed, &n404, &n405) < 0 ||
        make_lookups(set, HOT_ROUTES, NULL, NULL, &hot, &hot404, &hot405) < 0)
        goto Exit;
    linear_compile(set, linear);
    {
        double t_found = time_router(set, &found, seconds);
        double t_missed = time_router(set, &missed, seconds);
        double t_mixed = time_router(set, &mixed, seconds);
        double t_hot = time_router(set, &hot, seconds);
        double t_linear = time_linear(linear, set->size, &mixed, seconds);

        printf("| %d | %.1f ns | %.1f ns | %.1f ns (%.1f M/s) | %.1f ns (%.1f M/s) | %.0f ns (%.2f M/s) |\n",
               set->size, t_found, t_missed, t_mixed, 1e3 / t_mixed, t_hot, 1e3 / t_hot, t_linear,
               1e3 / t_linear);
    }
    ret = 0;
Exit:
    free(found.v);
    free(missed.v);
    free(mixed.v);
    free(hot.v);
    free(linear);
    return ret;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;

    if (argc > 2 || seconds <= 0) {
        fprintf(stderr,
                "usage: router_bench [SECONDS]   (time per measurement, best of 5 runs, default 1)\n");
        return 2;
    }
    printf(
        "| routes | matching | non-matching | mix, all routes | mix, first %d routes only | mix, loop over "
        "routes (reference) |\n|---:|---:|---:|---:|---:|---:|\n",
        HOT_ROUTES);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (bench_set(&sets[i], seconds) < 0)
            return 1;
    printf("\nTime per lookup over %d lookups a set, half matching; \"all routes\" picks routes at random in "
           "the\n"
           "whole set, \"first %d routes only\" keeps the same small working set in every set.\n",
           LOOKUPS, HOT_ROUTES);
    return 0;
}
