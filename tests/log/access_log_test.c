/*
 * access_log_test.c — the access log in memory (server/log/): the formats byte by byte (common,
 * combined, json, a format string with every variable, escaping (at each place around the 16-byte
 * blocks it works in), numbers of each length, common and combined as their format strings run, missing
 * values, truncation, a buffer too small, the worst a client can send within the bound), format errors,
 * the worker's ring (full: dropped and counted, never overwritten; a record that does not fit before the
 * end padded over; indices wrapping around), and the logger thread against a producer thread on the
 * smallest ring, records of many sizes: every record is either its line of the file, in order, or counted
 * dropped; a reopen mid-way (the file renamed first, as logrotate does) splits the lines between the two
 * files without losing one.
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

/* A record of the strings str[ACCESS_F_COUNT], taken from a ring as a worker's is, numbers zero; the one
 * returned before is overwritten. */
static struct access_record *record(const struct access_str *str)
{
    static _Alignas(64) uint8_t bytes[ACCESS_RING_MIN + ACCESS_RING_SLACK];
    static struct access_ring ring = {.mask = ACCESS_RING_MIN - 1, .bytes = bytes};
    struct access_record *r;

    ring.head = ring.tail = ring.cached_tail = 0; /* empty: the record fits */
    r = access_ring_record(&ring, str);
    r->status = 0;
    r->route = 0;
    r->worker = 0;
    r->end_ns = r->duration_ns = r->bytes = 0;
    memset(r->addr, 0, 16);
    r->version = 0;
    return r;
}

/* A record of GET /bytes/13?a=1 from 10.77.0.2 over HTTP/1.1, 200 with 13 bytes in 1.5 ms on worker 1,
 * ending at monotonic 5 s, which the context maps to 2026-12-07 00:01:06.123 UTC; with host h.test, and
 * the Referer and User-Agent of fields. */
static struct access_record *sample_of(uint32_t fields, const char *query, const char *host)
{
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2};
    struct access_str str[ACCESS_F_COUNT] = {
        [ACCESS_F_METHOD] = {"GET", 3},
        [ACCESS_F_PATH] = {"/bytes/13", 9},
        [ACCESS_F_QUERY] = {query, strlen(query)},
        [ACCESS_F_HOST] = {host, strlen(host)},
    };
    struct access_record *r;

    if (fields & ACCESS_FIELD_BIT(ACCESS_F_REFERER))
        str[ACCESS_F_REFERER] = (struct access_str){"http://r.test/", 14};
    if (fields & ACCESS_FIELD_BIT(ACCESS_F_USER_AGENT))
        str[ACCESS_F_USER_AGENT] = (struct access_str){"curl/7.88.1", 11};
    r = record(str);
    r->end_ns = 5000000000ull;
    r->duration_ns = 1500000;
    r->bytes = 13;
    memcpy(r->addr, v4, 16);
    r->status = 200;
    r->route = 0;
    r->worker = 1;
    r->version = 11;
    return r;
}

static struct access_record *sample(uint32_t fields)
{
    return sample_of(fields, "a=1", "h.test");
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
    struct access_record *r;
    const char *s;

    r = sample(~0u);
    s = fmt("common", r);
    CHECKF(s &&
               !strcmp(s, "10.77.0.2 - - [07/Dec/2026:00:01:06 +0000] \"GET /bytes/13?a=1 HTTP/1.1\" 200 13"),
           "%s", s);
    s = fmt("combined", r);
    CHECKF(s && !strcmp(s, "10.77.0.2 - - [07/Dec/2026:00:01:06 +0000] \"GET /bytes/13?a=1 HTTP/1.1\" 200 13 "
                           "\"http://r.test/\" \"curl/7.88.1\""),
           "%s", s);
    r = sample(0); /* no Referer, no User-Agent: '-' */
    s = fmt("combined", r);
    CHECKF(s && !strcmp(s + strlen(s) - 8, " \"-\" \"-\""), "%s", s);
}

static void test_json(void)
{
    struct access_record *r;
    const char *s;

    r = sample(~0u);
    r->version = 20;
    r->flags = ACCESS_TLS;
    s = fmt("json", r);
    CHECKF(s && !strcmp(s,
                        "{\"time\":\"2026-12-07T00:01:06.123+00:00\",\"remote_addr\":\"10.77.0.2\","
                        "\"method\":\"GET\",\"path\":\"/bytes/13\",\"query\":\"a=1\",\"status\":200,"
                        "\"bytes\":13,\"duration_us\":1500,\"request_time\":0.001,\"protocol\":\"HTTP/2.0\","
                        "\"scheme\":\"https\",\"worker\":1,\"route\":\"GET /bytes/:n\",\"host\":\"h.test\","
                        "\"referer\":\"http://r.test/\",\"user_agent\":\"curl/7.88.1\"}"),
           "%s", s);
    r->route = -1;
    s = fmt("json", r);
    CHECKF(s && strstr(s, "\"route\":null,"), "%s", s);
}

static void test_every_variable(void)
{
    struct access_record *r;
    const char *s;

    r = sample(~0u);
    s = fmt("$remote_addr|$time_local|$time_iso8601|$msec|$request|$request_method|$request_uri|$uri|$args|"
            "$status|$body_bytes_sent|$request_time|$request_time_us|$server_protocol|$scheme|$worker|$route|"
            "$host|$http_referer|$http_user_agent|${status}ok|$$",
            r);
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
    struct access_record *r;
    const char *s;

    r = sample_of(0, "", "");
    memcpy(r->addr, v6, 16);
    r->route = -1;
    s = fmt("$remote_addr $request_uri $args $route $host", r);
    CHECKF(s && !strcmp(s, "fd00:77::2 /bytes/13 - - -"), "%s", s);
    memset(r->addr, 0, 16);
    s = fmt("$remote_addr", r);
    CHECKF(s && !strcmp(s, "-"), "%s", s);
}

static void test_escaping(void)
{
    struct access_record *r;
    const char *s;

    r = record((struct access_str[ACCESS_F_COUNT]){{"GET", 3}, {"/a\"b\\c\x01\xff", 8}});
    r->version = 11;
    s = fmt("$uri", r);
    CHECKF(s && !strcmp(s, "/a\\x22b\\x5cc\\x01\\xff"), "%s", s);
    s = fmt("json", r);
    CHECKF(s && strstr(s, "\"path\":\"/a\\\"b\\\\c\\u0001\\u00ff\""), "%s", s);
}

/* A string literal as a record's string */
#define STR(lit) ((struct access_str){lit, sizeof(lit) - 1})

/* \xHH-escaped s as nginx writes it, a byte at a time: what the formatter's 16-byte blocks must match */
static void escape_reference(char *out, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out += s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? sprintf(out, "%c", s[i])
                                                                          : sprintf(out, "\\x%02x", s[i]);
    *out = '\0';
}

/* Paths of every length to 40 with a byte to escape at each place (and none), around the 16-byte blocks
 * plain bytes are checked and copied in, whatever the bytes after the string in the record */
static void test_escaping_each_place(void)
{
    static const unsigned char escaped[] = {0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xff};
    unsigned char path[41];
    char want[41 * 4 + 1];

    for (size_t len = 1; len <= 40; len++)
        for (size_t at = 0; at <= len; at++) {
            struct access_record *r;
            const char *s;

            memset(path, 'a' + (int)(len % 26), len);
            if (at < len)
                path[at] = escaped[(len + at) % sizeof(escaped)];
            /* after the path in the record, its query: bytes to escape, or plain ones, never part of it */
            r = record((struct access_str[ACCESS_F_COUNT]){
                {"GET", 3}, {(char *)path, len}, at % 2 ? STR("\"\"\"\"") : STR("q\"q\"")});
            escape_reference(want, path, len);
            s = fmt("$uri", r);
            CHECKF(s && !strcmp(s, want), "length %zu, escaped byte at %zu: %s, not %s", len, at, s, want);
        }
}

/* Numbers at each count of digits, on both sides of each power of ten, as printf writes them */
static void test_numbers_each_length(void)
{
    struct access_record *r = sample(0);
    uint64_t ten = 1;

    for (int k = 0; k <= 20; k++) {
        const uint64_t values[] = {ten - 1, ten, ten + 1, k == 20 ? UINT64_MAX : ten * 10 - 1};

        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            char want[24];
            const char *s;

            r->bytes = values[i];
            snprintf(want, sizeof(want), "%llu", (unsigned long long)values[i]);
            s = fmt("$body_bytes_sent", r);
            CHECKF(s && !strcmp(s, want), "%s, not %s", s ? s : "(null)", want);
        }
        ten = k < 19 ? ten * 10 : ten;
    }
}

/* common and combined, made by their own code, are byte for byte the lines of their format strings */
static void test_builtin_formats_match_their_strings(void)
{
    static const char *const pairs[][2] = {
        {"common", "$remote_addr - - [$time_local] \"$request\" $status $body_bytes_sent"},
        {"combined", "$remote_addr - - [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
                     "\"$http_user_agent\""},
    };
    static const uint8_t v6[16] = {0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

    for (int i = 0; i < 4; i++)
        for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
            struct access_record *r =
                i == 0 ? sample(~0u)
                : i == 1
                    ? sample_of(0, "", "")
                    : record((struct access_str[ACCESS_F_COUNT]){
                          STR("PO\"ST"), STR("/a b\x01/0123456789abcdef0123456789"), STR("x=\\"), STR("h"),
                          STR("\xff"), STR("agent \"quoted\" and long enough to take blocks")});
            char builtin[ACCESS_LINE_MAX];
            const char *s;

            if (i == 3)
                memcpy(r->addr, v6, 16);
            r->status = (uint16_t)(i == 2 ? 499 : 200);
            r->bytes = i == 2 ? 0 : 123456789;
            r->version = (uint8_t)(i == 3 ? 20 : 10);
            s = fmt(pairs[k][0], r);
            CHECK(s != NULL);
            snprintf(builtin, sizeof(builtin), "%s", s ? s : "");
            s = fmt(pairs[k][1], r);
            CHECKF(s && !strcmp(s, builtin), "%s, record %d: %s, its format string: %s", pairs[k][0], i,
                   builtin, s ? s : "(refused)");
        }
}

static void test_truncation(void)
{
    struct access_record *r;
    char path[1000];
    const char *s;

    memset(path, 'p', sizeof(path));
    r = record((struct access_str[ACCESS_F_COUNT]){{"GET", 3}, {path, sizeof(path)}, {"q", 1}});
    CHECK(r->flags & ACCESS_TRUNCATED);
    CHECK(r->size == ACCESS_RECORD_MAX);
    CHECKF(r->len[ACCESS_F_PATH] == ACCESS_TEXT_MAX - 3, "%u", r->len[ACCESS_F_PATH]);
    CHECK(r->len[ACCESS_F_QUERY] == 0);
    s = fmt("json", r);
    CHECKF(s && strstr(s, ",\"truncated\":true}"), "%s", s ? s : "(null)");
}

static void test_small_buffer(void)
{
    struct access_format f;
    struct access_format_ctx ctx;
    struct access_record *r;
    struct err e = {0};
    size_t worst;

    r = sample(~0u);
    CHECK(access_format_compile(&f, "combined", &e) == 0);
    access_format_ctx_init(&ctx, routes, 2);
    worst = access_format_worst(&f, r);
    CHECK(access_format_line(&f, &ctx, r, line, worst - 1) == 0); /* below the worst case: refused */
    CHECK(access_format_line(&f, &ctx, r, line, worst) > 0);
}

/* The worst a client can send, a record full of bytes escaped to four or six, in the field a format prints
 * most, with the longest route name: its line stays within the format's worst case, within ACCESS_LINE_MAX */
static void test_worst_case_fits(void)
{
    static const char *const specs[] = {"common", "combined", "json", "$uri $uri $route $request $args"};
    static char bytes[ACCESS_TEXT_MAX], name[ACCESS_ROUTE_NAME_MAX + 10];
    const char *const long_route[] = {name};
    struct access_format f;
    struct access_format_ctx ctx;
    struct access_record *r;
    struct err e = {0};

    memset(bytes, 0x01, sizeof(bytes));
    memset(name, '"', sizeof(name) - 1);
    r = record((struct access_str[ACCESS_F_COUNT]){[ACCESS_F_PATH] = {bytes, sizeof(bytes)}});
    r->status = 499;
    r->bytes = UINT64_MAX;
    r->duration_ns = UINT64_MAX;
    r->end_ns = UINT64_MAX / 2;
    memset(r->addr, 0xfe, 16);
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        size_t n;

        CHECKF(access_format_compile(&f, specs[i], &e) == 0, "%s", e.msg);
        access_format_ctx_init(&ctx, long_route, 1);
        n = access_format_line(&f, &ctx, r, line, sizeof(line));
        CHECKF(n > ACCESS_TEXT_MAX * 4 && n <= access_format_worst(&f, r) &&
                   access_format_worst(&f, r) <= ACCESS_LINE_MAX,
               "%s: %zu bytes, worst %zu", specs[i], n, access_format_worst(&f, r));
    }
    /* five times the path: a line that could pass ACCESS_LINE_MAX, refused */
    CHECK(access_format_compile(&f, "$uri $uri $uri $uri $uri", &e) == -1);
    CHECKF(strstr(e.msg, "its line could pass 8192 bytes (a request's strings printed 5 times)"), "%s",
           e.msg);
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

/* A record of n bytes (a multiple of 8 from 72) in ring, its status given; NULL when dropped (the callers
 * check where records land, which says their sizes) */
static struct access_record *put_sized(struct access_ring *ring, uint32_t n, uint16_t status)
{
    static const char path[ACCESS_RECORD_MAX] = {'/'};
    struct access_str str[ACCESS_F_COUNT] = {{"GET", 3}, {path, n - ACCESS_RECORD_HEAD - 3}};
    struct access_record *r = access_ring_record(ring, str);

    if (r) {
        r->status = status;
        access_ring_commit(ring, r);
    }
    return r;
}

static void test_ring_full_drops(void)
{
    static _Alignas(64) uint8_t bytes[ACCESS_RING_MIN + ACCESS_RING_SLACK];
    struct access_ring ring = {.mask = ACCESS_RING_MIN - 1, .bytes = bytes};
    uint16_t pad_size, pad_status;

    for (uint32_t i = 0; i < ACCESS_RING_MIN / 128; i++)
        CHECK(put_sized(&ring, 128, (uint16_t)(200 + i)) == (void *)(bytes + 128 * i));
    CHECK(put_sized(&ring, 72, 299) == NULL); /* full: dropped, the oldest kept */
    CHECK(ring.dropped == 1);
    CHECK(((struct access_record *)(void *)bytes)->status == 200);
    atomic_store(&ring.tail, 128u); /* the logger took one */
    CHECK(put_sized(&ring, 128, 300) == (void *)bytes);
    CHECK(ring.dropped == 1);
    /* a record that does not fit before the end: a pad fills the rest, the record starts at 0 */
    ring.head = ring.cached_tail = ring.tail = ACCESS_RING_MIN - 16;
    CHECK(put_sized(&ring, 72, 301) == (void *)bytes);
    memcpy(&pad_size, bytes + ACCESS_RING_MIN - 16 + offsetof(struct access_record, size), 2);
    memcpy(&pad_status, bytes + ACCESS_RING_MIN - 16 + offsetof(struct access_record, status), 2);
    CHECK(pad_status == 0 && pad_size == 16);
    CHECK(ring.head == ACCESS_RING_MIN + 72);
    /* the pad's room counts as used: 16 + 72 + 936 fill the ring, a byte more does not fit */
    CHECK(put_sized(&ring, ACCESS_RECORD_MAX, 302) != NULL);
    CHECK(put_sized(&ring, 424, 303) != NULL);
    CHECK(put_sized(&ring, 72, 304) == NULL);
    CHECK(ring.dropped == 2);
    /* the indices wrap past 2^32 the same way */
    ring.head = ring.cached_tail = ring.tail = UINT32_MAX - 7;
    CHECK(put_sized(&ring, 72, 305) == (void *)bytes);
    CHECK(ring.head == 72);
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
    char path[41];

    memset(path, 'x', sizeof(path));
    path[0] = '/';
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
        /* paths of 1 to 41 bytes: records of 72 to 104, so that some wrap with a pad */
        r = access_ring_record(ring,
                               (struct access_str[ACCESS_F_COUNT]){[ACCESS_F_PATH] = {path, 1 + i % 41}});
        if (!r)
            continue;
        r->status = 200;
        r->bytes = i;
        access_ring_commit(ring, r);
        if (i % 64 == 0)
            usleep(1); /* let the logger keep up now and then, so that some records get through */
    }
    return NULL;
}

/* Lines of path: each a number above the previous one and the path its record had; returns how many, -1
 * if one is out of order or wrong */
static long read_lines(const char *path, long long *last)
{
    FILE *f = fopen(path, "r");
    char buf[80];
    long n = 0;

    if (!f)
        return 0;
    while (fgets(buf, sizeof(buf), f)) {
        long long v = atoll(buf);
        const char *uri = strchr(buf, ' ');

        if (v <= *last || !uri || strspn(uri + 2, "x") != (size_t)(v % 41) || uri[2 + v % 41] != '\n') {
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
    struct access_log_config cfg = {.path = path, .format = "$body_bytes_sent $uri", .ring = ACCESS_RING_MIN};
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
    CHECKF(dropped > 0, "a %u-byte ring dropped nothing of %d", ACCESS_RING_MIN, PRODUCED);
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
    struct access_log_config cfg = {
        .path = "/nonexistent/dir/access.log", .format = "common", .ring = ACCESS_RING_MIN};
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
        CHECK_CASE(test_escaping_each_place),
        CHECK_CASE(test_numbers_each_length),
        CHECK_CASE(test_builtin_formats_match_their_strings),
        CHECK_CASE(test_truncation),
        CHECK_CASE(test_small_buffer),
        CHECK_CASE(test_worst_case_fits),
        CHECK_CASE(test_format_errors),
        CHECK_CASE(test_ring_full_drops),
        CHECK_CASE(test_logger_counts_every_record),
        CHECK_CASE(test_logger_reopen_loses_nothing),
        CHECK_CASE(test_logger_bad_path),
    };

    return check_main(argc, argv, tests, CHECK_COUNT(tests), setup);
}
