/*
 * access_log_test.c — the access log in memory (server/log/): the formats byte by byte (common,
 * combined, json, a format string with every variable, escaping, missing values, truncation, a buffer
 * too small), format errors, the worker's ring (full: dropped and counted, never overwritten; wrapping
 * around), and the logger thread against a producer thread on a tiny ring: every record is either a
 * line of the file, in order, or counted dropped; a reopen mid-way (the file renamed first, as
 * logrotate does) splits the lines between the two files without losing one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/check.h"
#include "log/access_format.h"
#include "log/access_log.h"

static const char *const routes[] = {"GET /bytes/:n", "GET /healthz", NULL};

/* A record of GET /bytes/13?a=1 from 10.77.0.2 over HTTP/1.1, 200 with 13 bytes in 1.5 ms on worker 1,
 * ending at monotonic 5 s, which the context maps to 2026-12-07 00:01:06.123 UTC. */
static void sample(struct access_record *r, uint32_t fields)
{
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2};

    memset(r, 0, sizeof(*r));
    r->end_ns = 5000000000ull;
    r->duration_ns = 1500000;
    r->bytes = 13;
    memcpy(r->addr, v4, 16);
    r->status = 200;
    r->route = 0;
    r->worker = 1;
    r->version = 11;
    access_record_put(r, ACCESS_F_METHOD, "GET", 3);
    access_record_put(r, ACCESS_F_PATH, "/bytes/13", 9);
    access_record_put(r, ACCESS_F_QUERY, "a=1", 3);
    access_record_put(r, ACCESS_F_HOST, "h.test", 6);
    if (fields & ACCESS_FIELD_BIT(ACCESS_F_REFERER))
        access_record_put(r, ACCESS_F_REFERER, "http://r.test/", 14);
    if (fields & ACCESS_FIELD_BIT(ACCESS_F_USER_AGENT))
        access_record_put(r, ACCESS_F_USER_AGENT, "curl/7.88.1", 11);
}

static char line[ACCESS_LINE_MAX];

/* rec formatted with spec, in UTC, into line (without its '\n'); NULL when the format is refused */
static const char *fmt(const char *spec, const struct access_record *rec)
{
    static struct access_format f;
    struct access_format_ctx ctx;
    struct err e = {0};
    size_t n;

    if (access_format_compile(&f, spec, &e))
        return NULL;
    access_format_ctx_init(&ctx, routes, 2);
    ctx.realtime_offset_ns = 1796601666123000000ll - 5000000000ll;
    n = access_format_line(&f, &ctx, rec, line, sizeof(line));
    if (!n || line[n - 1] != '\n')
        return NULL;
    line[n - 1] = '\0';
    return line;
}

static int setup(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void test_common_and_combined(void)
{
    struct access_record r;
    const char *s;

    sample(&r, ~0u);
    s = fmt("common", &r);
    CHECKF(s &&
               !strcmp(s, "10.77.0.2 - - [07/Dec/2026:00:01:06 +0000] \"GET /bytes/13?a=1 HTTP/1.1\" 200 13"),
           "%s", s);
    s = fmt("combined", &r);
    CHECKF(s && !strcmp(s, "10.77.0.2 - - [07/Dec/2026:00:01:06 +0000] \"GET /bytes/13?a=1 HTTP/1.1\" 200 13 "
                           "\"http://r.test/\" \"curl/7.88.1\""),
           "%s", s);
    sample(&r, 0); /* no Referer, no User-Agent: '-' */
    s = fmt("combined", &r);
    CHECKF(s && !strcmp(s + strlen(s) - 8, " \"-\" \"-\""), "%s", s);
}

static void test_json(void)
{
    struct access_record r;
    const char *s;

    sample(&r, ~0u);
    r.version = 20;
    r.flags = ACCESS_TLS;
    s = fmt("json", &r);
    CHECKF(s && !strcmp(s,
                        "{\"time\":\"2026-12-07T00:01:06.123+00:00\",\"remote_addr\":\"10.77.0.2\","
                        "\"method\":\"GET\",\"path\":\"/bytes/13\",\"query\":\"a=1\",\"status\":200,"
                        "\"bytes\":13,\"duration_us\":1500,\"request_time\":0.001,\"protocol\":\"HTTP/2.0\","
                        "\"scheme\":\"https\",\"worker\":1,\"route\":\"GET /bytes/:n\",\"host\":\"h.test\","
                        "\"referer\":\"http://r.test/\",\"user_agent\":\"curl/7.88.1\"}"),
           "%s", s);
    r.route = -1;
    s = fmt("json", &r);
    CHECKF(s && strstr(s, "\"route\":null,"), "%s", s);
}

static void test_every_variable(void)
{
    struct access_record r;
    const char *s;

    sample(&r, ~0u);
    s = fmt("$remote_addr|$time_local|$time_iso8601|$msec|$request|$request_method|$request_uri|$uri|$args|"
            "$status|$body_bytes_sent|$request_time|$request_time_us|$server_protocol|$scheme|$worker|$route|"
            "$host|$http_referer|$http_user_agent|${status}ok|$$",
            &r);
    CHECKF(
        s && !strcmp(s,
                     "10.77.0.2|07/Dec/2026:00:01:06 +0000|2026-12-07T00:01:06+00:00|1796601666.123|"
                     "GET /bytes/13?a=1 HTTP/1.1|GET|/bytes/13?a=1|/bytes/13|a=1|200|13|0.001|1500|HTTP/1.1|"
                     "http|1|GET /bytes/:n|h.test|http://r.test/|curl/7.88.1|200ok|$"),
        "%s", s);
}

static void test_missing_and_ipv6(void)
{
    static const uint8_t v6[16] = {0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    struct access_record r;
    const char *s;

    sample(&r, 0);
    memcpy(r.addr, v6, 16);
    r.route = -1;
    r.len[ACCESS_F_QUERY] = 0; /* the query's bytes are still in text: only lengths say what a field is */
    r.text_used = 12;
    r.len[ACCESS_F_HOST] = 0;
    s = fmt("$remote_addr $request_uri $args $route $host", &r);
    CHECKF(s && !strcmp(s, "fd00:77::2 /bytes/13 - - -"), "%s", s);
    memset(r.addr, 0, 16);
    s = fmt("$remote_addr", &r);
    CHECKF(s && !strcmp(s, "-"), "%s", s);
}

static void test_escaping(void)
{
    struct access_record r;
    const char *s;

    memset(&r, 0, sizeof(r));
    r.version = 11;
    access_record_put(&r, ACCESS_F_METHOD, "GET", 3);
    access_record_put(&r, ACCESS_F_PATH, "/a\"b\\c\x01\xff", 8);
    s = fmt("$uri", &r);
    CHECKF(s && !strcmp(s, "/a\\x22b\\x5cc\\x01\\xff"), "%s", s);
    s = fmt("json", &r);
    CHECKF(s && strstr(s, "\"path\":\"/a\\\"b\\\\c\\u0001\\u00ff\""), "%s", s);
}

static void test_truncation(void)
{
    struct access_record r;
    char path[1000];
    const char *s;

    memset(path, 'p', sizeof(path));
    sample(&r, 0);
    r.text_used = 3; /* only the method so far */
    r.len[ACCESS_F_QUERY] = r.len[ACCESS_F_HOST] = 0;
    access_record_put(&r, ACCESS_F_PATH, path, sizeof(path));
    access_record_put(&r, ACCESS_F_QUERY, "q", 1);
    CHECK(r.flags & ACCESS_TRUNCATED);
    CHECKF(r.len[ACCESS_F_PATH] == ACCESS_TEXT_SIZE - 3, "%u", r.len[ACCESS_F_PATH]);
    CHECK(r.len[ACCESS_F_QUERY] == 0);
    s = fmt("json", &r);
    CHECKF(s && strstr(s, ",\"truncated\":true}"), "%s", s ? s : "(null)");
}

static void test_small_buffer(void)
{
    struct access_format f;
    struct access_format_ctx ctx;
    struct access_record r;
    struct err e = {0};
    char out[64];
    size_t full;

    sample(&r, ~0u);
    CHECK(access_format_compile(&f, "combined", &e) == 0);
    access_format_ctx_init(&ctx, routes, 2);
    full = access_format_line(&f, &ctx, &r, line, sizeof(line));
    CHECK(full > sizeof(out));
    CHECK(access_format_line(&f, &ctx, &r, out, sizeof(out)) == 0);
    CHECK(access_format_line(&f, &ctx, &r, line, full) == full);
    CHECK(access_format_line(&f, &ctx, &r, line, full - 1) == 0);
}

static void test_format_errors(void)
{
    struct access_format f;
    struct err e = {0};
    char big[400];

    CHECK(access_format_compile(&f, "$remote_addr $nope", &e) == -1);
    CHECKF(strstr(e.msg, "unknown variable '$nope'"), "%s", e.msg);
    CHECK(access_format_compile(&f, "${status", &e) == -1);
    CHECKF(strstr(e.msg, "'${' without its '}'"), "%s", e.msg);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(access_format_compile(&f, big, &e) == -1);
    CHECKF(strstr(e.msg, "bytes of text"), "%s", e.msg);
    CHECK(access_format_compile(&f, "$status", &e) == 0 && f.fields == 0);
    CHECK(access_format_compile(&f, "$http_user_agent", &e) == 0 &&
          f.fields == ACCESS_FIELD_BIT(ACCESS_F_USER_AGENT));
}

static void test_ring_full_drops(void)
{
    static struct access_record records[4];
    struct access_ring ring = {.mask = 3, .records = records};

    for (int i = 0; i < 4; i++) {
        struct access_record *r = access_ring_reserve(&ring);

        CHECK(r == &records[i]);
        r->status = (uint16_t)(200 + i);
        access_ring_commit(&ring);
    }
    CHECK(access_ring_reserve(&ring) == NULL); /* full: dropped, the oldest kept */
    CHECK(ring.dropped == 1);
    CHECK(records[0].status == 200);
    atomic_store(&ring.tail, 1u); /* the logger took one */
    CHECK(access_ring_reserve(&ring) == &records[0]);
    CHECK(ring.dropped == 1);
    /* the indices wrap past 2^32 the same way */
    ring.head = ring.cached_tail = ring.tail = UINT32_MAX;
    CHECK(access_ring_reserve(&ring) == &records[3]);
    access_ring_commit(&ring);
    CHECK(ring.head == 0);
    CHECK(access_ring_reserve(&ring) == &records[0]);
}

/* ---- the logger thread against a producer ------------------------------------------------------- */

#define PRODUCED 200000

struct producer {
    struct access_log *log;
    const char *path;
    const char *rotated; /* renamed to this, then reopened, half-way */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct access_ring *ring = access_log_ring(p->log, 0);

    for (uint64_t i = 0; i < PRODUCED; i++) {
        struct access_record *r;

        if (i == PRODUCED / 2 && p->rotated) {
            /* what is in the ring goes to the old file (at most 2 s of waiting for the logger) */
            for (int wait = 0; wait < 2000 && atomic_load(&ring->tail) != atomic_load(&ring->head); wait++)
                usleep(1000);
            rename(p->path, p->rotated);
            access_log_reopen(p->log);
            for (int wait = 0; wait < 2000; wait++) { /* the logger reopens before its next drain */
                struct access_log_stats s;

                access_log_stats(p->log, &s);
                if (s.reopened)
                    break;
                usleep(1000);
            }
        }
        r = access_ring_reserve(ring);
        if (!r)
            continue;
        r->bytes = i;
        r->text_used = 0;
        memset(r->len, 0, sizeof(r->len));
        access_ring_commit(ring);
        if (i % 64 == 0)
            usleep(1); /* let the logger keep up now and then, so that some records get through */
    }
    return NULL;
}

/* Lines of path: each a number above the previous one; returns how many, -1 if out of order */
static long read_lines(const char *path, long long *last)
{
    FILE *f = fopen(path, "r");
    char buf[64];
    long n = 0;

    if (!f)
        return 0;
    while (fgets(buf, sizeof(buf), f)) {
        long long v = atoll(buf);

        if (v <= *last) {
            fclose(f);
            return -1;
        }
        *last = v;
        n++;
    }
    fclose(f);
    return n;
}

static void run_logger(bool rotate)
{
    char dir[] = "/tmp/access_log_test.XXXXXX", path[64], rotated[64];
    struct access_log_config cfg = {.path = path, .format = "$body_bytes_sent", .ring = 16};
    struct access_log_stats s;
    struct producer p;
    struct err e = {0};
    pthread_t t;
    uint64_t dropped;
    long long last = -1;
    long old_lines, new_lines;

    CHECK(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
    p = (struct producer){access_log_start(&cfg, 1, routes, 2, &e), path, rotate ? rotated : NULL};
    CHECKF(p.log, "%s", e.msg);
    CHECK(pthread_create(&t, NULL, produce, &p) == 0);
    pthread_join(t, NULL);
    dropped = atomic_load(&access_log_ring(p.log, 0)->dropped);
    access_log_stats(p.log, &s);
    access_log_stop(p.log); /* drains what is left */
    old_lines = rotate ? read_lines(rotated, &last) : 0;
    new_lines = read_lines(path, &last);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
    CHECKF(old_lines >= 0 && new_lines >= 0, "old %ld new %ld", old_lines, new_lines);
    CHECKF((uint64_t)(old_lines + new_lines) + dropped == PRODUCED, "%ld + %ld lines, %llu dropped",
           old_lines, new_lines, (unsigned long long)dropped);
    CHECKF(dropped > 0, "a 16-record ring dropped nothing of %d", PRODUCED);
    CHECK(s.write_errors == 0);
    if (rotate) {
        CHECKF(old_lines > 0 && new_lines > 0, "old %ld new %ld", old_lines, new_lines);
        CHECK(s.reopened == 1);
    }
}

static void test_logger_counts_every_record(void)
{
    run_logger(false);
}

static void test_logger_reopen_loses_nothing(void)
{
    run_logger(true);
}

static void test_logger_bad_path(void)
{
    struct access_log_config cfg = {.path = "/nonexistent/dir/access.log", .format = "common", .ring = 16};
    struct err e = {0};

    CHECK(access_log_start(&cfg, 2, routes, 2, &e) == NULL);
    CHECKF(strstr(e.msg, "cannot open /nonexistent/dir/access.log"), "%s", e.msg);
}

int main(int argc, char **argv)
{
    static const struct check_case tests[] = {
        CHECK_CASE(test_common_and_combined),
        CHECK_CASE(test_json),
        CHECK_CASE(test_every_variable),
        CHECK_CASE(test_missing_and_ipv6),
        CHECK_CASE(test_escaping),
        CHECK_CASE(test_truncation),
        CHECK_CASE(test_small_buffer),
        CHECK_CASE(test_format_errors),
        CHECK_CASE(test_ring_full_drops),
        CHECK_CASE(test_logger_counts_every_record),
        CHECK_CASE(test_logger_reopen_loses_nothing),
        CHECK_CASE(test_logger_bad_path),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), setup);
}
