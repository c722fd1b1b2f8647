/*
 * access_format.c — the access log's formats (log/access_format.h): a format string compiled once into
 * a list of operations (literal bytes, or a variable), then run per record into a caller's buffer.
 * Pure: runs on the logger thread, never on a worker; time texts are cached per second.
 */
#include "log/access_format.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define FORMAT_COMMON   "$remote_addr - - [$time_local] \"$request\" $status $body_bytes_sent"
#define FORMAT_COMBINED FORMAT_COMMON " \"$http_referer\" \"$http_user_agent\""

static const char *const var_names[] = {
#define ACCESS_VAR_NAME(name, help) #name,
    ACCESS_VARS(ACCESS_VAR_NAME)
#undef ACCESS_VAR_NAME
};

/* The optional string a variable prints, if it is one. */
static int var_field(enum access_var v)
{
    switch (v) {
    case ACCESS_VAR_host:
        return ACCESS_F_HOST;
    case ACCESS_VAR_http_referer:
        return ACCESS_F_REFERER;
    case ACCESS_VAR_http_user_agent:
        return ACCESS_F_USER_AGENT;
    default:
        return -1;
    }
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int add_literal(struct access_format *f, const char *s, size_t len, const char *spec, struct err *e)
{
    uint32_t used = 0; /* literals are stored in order: the last one ends where the text used ends */
    bool extend = f->nops && f->ops[f->nops - 1].var == ACCESS_VAR_LITERAL;

    for (uint32_t i = 0; i < f->nops; i++)
        if (f->ops[i].var == ACCESS_VAR_LITERAL)
            used = f->ops[i].off + f->ops[i].len;
    if (!len)
        return 0;
    if (used + len > sizeof(f->literals))
        return ERR(e, EXIT_STATUS_USAGE, 0, "access log format '%s': more than %zu bytes of text", spec,
                   sizeof(f->literals));
    if (!extend && f->nops == ACCESS_FORMAT_MAX_OPS)
        return ERR(e, EXIT_STATUS_USAGE, 0, "access log format '%s': more than %d parts", spec,
                   ACCESS_FORMAT_MAX_OPS);
    memcpy(f->literals + used, s, len);
    if (extend)
        f->ops[f->nops - 1].len = (uint16_t)(f->ops[f->nops - 1].len + len);
    else
        f->ops[f->nops++] = (typeof(f->ops[0])){ACCESS_VAR_LITERAL, (uint16_t)used, (uint16_t)len};
    return 0;
}

int access_format_compile(struct access_format *f, const char *spec, struct err *e)
{
    const char *p;

    memset(f, 0, sizeof(*f));
    if (!strcmp(spec, "json")) {
        f->json = 1;
        f->fields = ACCESS_FIELD_BIT(ACCESS_F_HOST) | ACCESS_FIELD_BIT(ACCESS_F_REFERER) |
                    ACCESS_FIELD_BIT(ACCESS_F_USER_AGENT);
        return 0;
    }
    p = !strcmp(spec, "common") ? FORMAT_COMMON : !strcmp(spec, "combined") ? FORMAT_COMBINED : spec;
    while (*p) {
        const char *dollar = strchr(p, '$'), *name, *end;
        size_t len;
        int v;

        if (!dollar)
            return add_literal(f, p, strlen(p), spec, e);
        if (add_literal(f, p, (size_t)(dollar - p), spec, e))
            return -1;
        if (dollar[1] == '$') {
            if (add_literal(f, "$", 1, spec, e))
                return -1;
            p = dollar + 2;
            continue;
        }
        name = dollar + 1 + (dollar[1] == '{');
        for (end = name; name_char(*end); end++)
            ;
        len = (size_t)(end - name);
        if (dollar[1] == '{' && *end != '}')
            return ERR(e, EXIT_STATUS_USAGE, 0, "access log format '%s': '${' without its '}'", spec);
        for (v = 0; v < ACCESS_VAR_COUNT; v++)
            if (strlen(var_names[v]) == len && !memcmp(var_names[v], name, len))
                break;
        if (v == ACCESS_VAR_COUNT)
            return ERR(
                e, EXIT_STATUS_USAGE, 0,
                "access log format '%s': unknown variable '$%.*s' (README, \"Access log\", lists them)", spec,
                (int)len, name);
        if (f->nops == ACCESS_FORMAT_MAX_OPS)
            return ERR(e, EXIT_STATUS_USAGE, 0, "access log format '%s': more than %d parts", spec,
                       ACCESS_FORMAT_MAX_OPS);
        f->ops[f->nops++] = (typeof(f->ops[0])){(uint8_t)v, 0, 0};
        if (var_field((enum access_var)v) >= 0)
            f->fields |= ACCESS_FIELD_BIT(var_field((enum access_var)v));
        p = end + (dollar[1] == '{');
    }
    return 0;
}

void access_format_ctx_init(struct access_format_ctx *ctx, const char *const *route_names, int nroutes)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->route_names = route_names;
    ctx->nroutes = nroutes;
    ctx->cached_second = INT64_MIN;
}

/* ---- writing ------------------------------------------------------------------------------------- */

/* For the small helpers below, whose calls mostly copy or test a few bytes: a call would cost more */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

struct out {
    char *p, *end;
    bool full;
};

/* Inlined everywhere: most calls copy a few bytes of a length known at compile time */
ALWAYS_INLINE void put(struct out *o, const char *s, size_t len)
{
    if ((size_t)(o->end - o->p) < len) {
        o->full = true;
        return;
    }
    access_copy(o->p, s, len);
    o->p += len;
}

ALWAYS_INLINE void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char text[20], *q = text + sizeof(text);

    while (v >= 100) {
        q -= 2;
        memcpy(q, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, pairs + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    put(o, q, (size_t)(text + sizeof(text) - q));
}

/* v / 1000 with three decimals */
static void put_milli(struct out *o, uint64_t v)
{
    char frac[4] = {(char)('0' + v / 100 % 10), (char)('0' + v / 10 % 10), (char)('0' + v % 10), 0};

    put_u64(o, v / 1000);
    put(o, ".", 1);
    put(o, frac, 3);
}

/* Bytes written as they are: printable ASCII but the double quote and the backslash */
ALWAYS_INLINE bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Whether all 8 bytes of x are plain, a word at a time: no byte below 0x20, none above 0x7e, none equal
 * to '"' or '\\' (the bit tricks of "Bit Twiddling Hacks": hasless, hasmore, haszero; exact for "any"). */
ALWAYS_INLINE bool plain8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t below = (x - ones * 0x20) & ~x & highs;
    uint64_t above = ((x + ones * (127 - 0x7e)) | x) & highs;
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');

    return !(below | above | ((quote - ones) & ~quote & highs) | ((backslash - ones) & ~backslash & highs));
}

/* The length of the run of plain bytes at the start of s[0, len) */
static size_t plain_run(const char *s, size_t len)
{
    size_t i = 0;

    while (i + 8 <= len) {
        uint64_t x;

        memcpy(&x, s + i, 8);
        if (!plain8(x))
            break;
        i += 8;
    }
    if (i < len && len >= 8) { /* the last word, overlapping the words seen */
        uint64_t x;

        memcpy(&x, s + len - 8, 8);
        if (plain8(x))
            return len;
    }
    while (i < len && plain((unsigned char)s[i]))
        i++;
    return i;
}

/* s escaped for a text format (\xHH) or a JSON string (\u00XX); empty_dash: '-' for an empty one. Runs of
 * plain bytes are copied at once. */
static void put_escaped(struct out *o, const char *s, size_t len, bool json, bool empty_dash)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    if (!len && empty_dash) {
        put(o, "-", 1);
        return;
    }
    while (i < len && !o->full) {
        size_t run = i + plain_run(s + i, len - i);
        unsigned char c;

        put(o, s + i, run - i);
        if (run == len)
            break;
        c = (unsigned char)s[run];
        if (json && (c == '"' || c == '\\')) {
            char esc[2] = {'\\', (char)c};

            put(o, esc, 2);
        } else if (json) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

            put(o, esc, 6);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};

            put(o, esc, 4);
        }
        i = run + 1;
    }
}

/* The client's address as text, made once for a run of lines from the same client (a connection's
 * requests come one after another): inet_ntop costs more than the rest of a line. */
static void put_addr(struct out *o, struct access_format_ctx *ctx, const struct access_record *r)
{
    static const uint8_t zero[16], v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (!ctx->addr_len || memcmp(ctx->addr, r->addr, 16)) {
        const char *text = NULL;

        memcpy(ctx->addr, r->addr, 16);
        if (memcmp(r->addr, zero, 16) && memcmp(r->addr, v4mapped, 12))
            text = inet_ntop(AF_INET6, r->addr, ctx->addr_text, sizeof(ctx->addr_text));
        else if (memcmp(r->addr, zero, 16))
            text = inet_ntop(AF_INET, r->addr + 12, ctx->addr_text, sizeof(ctx->addr_text));
        if (!text)
            strcpy(ctx->addr_text, "-");
        ctx->addr_len = (uint8_t)strlen(ctx->addr_text);
    }
    put(o, ctx->addr_text, ctx->addr_len);
}

static void put_protocol(struct out *o, const struct access_record *r)
{
    char text[9] = {
        'H', 'T', 'T', 'P', '/', (char)('0' + r->version / 10 % 10), '.', (char)('0' + r->version % 10), 0};

    put(o, text, 8);
}

/* The time texts of rec's wall-clock second, made once per second. */
static int64_t wall_ns(struct access_format_ctx *ctx, const struct access_record *r)
{
    int64_t ns = (int64_t)r->end_ns + ctx->realtime_offset_ns;
    int64_t sec = ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000;

    if (sec != ctx->cached_second) {
        time_t t = (time_t)sec;
        struct tm tm;
        char zone[8];

        localtime_r(&t, &tm);
        strftime(ctx->time_local, sizeof(ctx->time_local), "%d/%b/%Y:%H:%M:%S %z", &tm);
        strftime(zone, sizeof(zone), "%z", &tm); /* +hhmm: ISO 8601 writes +hh:mm */
        strftime(ctx->time_iso8601, sizeof(ctx->time_iso8601), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ctx->time_iso8601 + 19, sizeof(ctx->time_iso8601) - 19, "%.3s:%.2s", zone, zone + 3);
        ctx->time_local_len = (uint8_t)strlen(ctx->time_local);
        ctx->time_iso8601_len = (uint8_t)strlen(ctx->time_iso8601);
        ctx->cached_second = sec;
    }
    return ns;
}

static const char *route_name(const struct access_format_ctx *ctx, const struct access_record *r)
{
    return r->route >= 0 && r->route < ctx->nroutes && ctx->route_names ? ctx->route_names[r->route] : NULL;
}

static void put_field(struct out *o, const struct access_record *r, enum access_field f, bool json)
{
    put_escaped(o, access_record_field(r, f), r->len[f], json, !json);
}

static void put_var(struct out *o, struct access_format_ctx *ctx, const struct access_record *r,
                    enum access_var v)
{
    switch (v) {
    case ACCESS_VAR_remote_addr:
        put_addr(o, ctx, r);
        break;
    case ACCESS_VAR_time_local:
        wall_ns(ctx, r);
        put(o, ctx->time_local, ctx->time_local_len);
        break;
    case ACCESS_VAR_time_iso8601:
        wall_ns(ctx, r);
        put(o, ctx->time_iso8601, ctx->time_iso8601_len);
        break;
    case ACCESS_VAR_msec:
        put_milli(o, (uint64_t)wall_ns(ctx, r) / 1000000);
        break;
    case ACCESS_VAR_request:
        put_field(o, r, ACCESS_F_METHOD, false);
        put(o, " ", 1);
        put_var(o, ctx, r, ACCESS_VAR_request_uri);
        put(o, " ", 1);
        put_protocol(o, r);
        break;
    case ACCESS_VAR_request_method:
        put_field(o, r, ACCESS_F_METHOD, false);
        break;
    case ACCESS_VAR_request_uri:
        put_field(o, r, ACCESS_F_PATH, false);
        if (r->len[ACCESS_F_QUERY]) {
            put(o, "?", 1);
            put_field(o, r, ACCESS_F_QUERY, false);
        }
        break;
    case ACCESS_VAR_uri:
        put_field(o, r, ACCESS_F_PATH, false);
        break;
    case ACCESS_VAR_args:
        put_field(o, r, ACCESS_F_QUERY, false);
        break;
    case ACCESS_VAR_status:
        put_u64(o, r->status);
        break;
    case ACCESS_VAR_body_bytes_sent:
        put_u64(o, r->bytes);
        break;
    case ACCESS_VAR_request_time:
        put_milli(o, r->duration_ns / 1000000);
        break;
    case ACCESS_VAR_request_time_us:
        put_u64(o, r->duration_ns / 1000);
        break;
    case ACCESS_VAR_server_protocol:
        put_protocol(o, r);
        break;
    case ACCESS_VAR_scheme:
        put_str(o, r->flags & ACCESS_TLS ? "https" : "http");
        break;
    case ACCESS_VAR_worker:
        put_u64(o, r->worker);
        break;
    case ACCESS_VAR_route: {
        const char *name = route_name(ctx, r);

        put_escaped(o, name ? name : "", name ? strlen(name) : 0, false, true);
        break;
    }
    case ACCESS_VAR_host:
        put_field(o, r, ACCESS_F_HOST, false);
        break;
    case ACCESS_VAR_http_referer:
        put_field(o, r, ACCESS_F_REFERER, false);
        break;
    case ACCESS_VAR_http_user_agent:
        put_field(o, r, ACCESS_F_USER_AGENT, false);
        break;
    default:
        break;
    }
}

ALWAYS_INLINE void put_json_field(struct out *o, const char *key, const struct access_record *r,
                                  enum access_field f)
{
    put_str(o, key);
    put(o, "\"", 1);
    put_field(o, r, f, true);
    put(o, "\"", 1);
}

static void put_json(struct out *o, struct access_format_ctx *ctx, const struct access_record *r)
{
    int64_t ns = wall_ns(ctx, r);
    char ms[5] = {'.', (char)('0' + ns / 100000000 % 10), (char)('0' + ns / 10000000 % 10),
                  (char)('0' + ns / 1000000 % 10), 0};
    const char *route = route_name(ctx, r);

    put_str(o, "{\"time\":\"");
    put(o, ctx->time_iso8601, 19);
    put(o, ms, 4);
    put(o, ctx->time_iso8601 + 19, ctx->time_iso8601_len - 19u);
    put_str(o, "\",\"remote_addr\":\"");
    put_addr(o, ctx, r);
    put(o, "\"", 1);
    put_json_field(o, ",\"method\":", r, ACCESS_F_METHOD);
    put_json_field(o, ",\"path\":", r, ACCESS_F_PATH);
    put_json_field(o, ",\"query\":", r, ACCESS_F_QUERY);
    put_str(o, ",\"status\":");
    put_u64(o, r->status);
    put_str(o, ",\"bytes\":");
    put_u64(o, r->bytes);
    put_str(o, ",\"duration_us\":");
    put_u64(o, r->duration_ns / 1000);
    put_str(o, ",\"request_time\":");
    put_milli(o, r->duration_ns / 1000000);
    put_str(o, ",\"protocol\":\"");
    put_protocol(o, r);
    put_str(o, r->flags & ACCESS_TLS ? "\",\"scheme\":\"https\",\"worker\":"
                                     : "\",\"scheme\":\"http\",\"worker\":");
    put_u64(o, r->worker);
    put_str(o, ",\"route\":");
    if (route) {
        put(o, "\"", 1);
        put_escaped(o, route, strlen(route), true, false);
        put(o, "\"", 1);
    } else {
        put_str(o, "null");
    }
    put_json_field(o, ",\"host\":", r, ACCESS_F_HOST);
    put_json_field(o, ",\"referer\":", r, ACCESS_F_REFERER);
    put_json_field(o, ",\"user_agent\":", r, ACCESS_F_USER_AGENT);
    if (r->flags & ACCESS_TRUNCATED)
        put_str(o, ",\"truncated\":true");
    put(o, "}", 1);
}

size_t access_format_line(const struct access_format *f, struct access_format_ctx *ctx,
                          const struct access_record *rec, char *out, size_t cap)
{
    struct out o = {out, out + cap, false};

    if (f->json)
        put_json(&o, ctx, rec);
    else
        for (uint32_t i = 0; i < f->nops; i++)
            if (f->ops[i].var == ACCESS_VAR_LITERAL)
                put(&o, f->literals + f->ops[i].off, f->ops[i].len);
            else
                put_var(&o, ctx, rec, (enum access_var)f->ops[i].var);
    put(&o, "\n", 1);
    return o.full ? 0 : (size_t)(o.p - out);
}
