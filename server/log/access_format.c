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

/* The most a variable prints beside its strings (enum access_field, each escaped: counted per byte) */
static uint32_t var_fixed(enum access_var v)
{
    switch (v) {
    case ACCESS_VAR_remote_addr:
        return sizeof(((struct access_format_ctx *)0)->addr_text);
    case ACCESS_VAR_time_local:
    case ACCESS_VAR_time_iso8601:
        return sizeof(((struct access_format_ctx *)0)->time_local);
    case ACCESS_VAR_request:
        return 2 + 2 + 1 + 8; /* "- -?" and its spaces, the protocol */
    case ACCESS_VAR_route:
        return ACCESS_ESCAPE_TEXT * ACCESS_ROUTE_NAME_MAX + 1;
    default:
        return 24; /* a number with three decimals, '-' for an empty string, the protocol, the scheme */
    }
}

/* How often a variable prints field f */
static uint32_t var_prints(enum access_var v, enum access_field f)
{
    switch (v) {
    case ACCESS_VAR_request:
        return f == ACCESS_F_METHOD || f == ACCESS_F_PATH || f == ACCESS_F_QUERY;
    case ACCESS_VAR_request_uri:
        return f == ACCESS_F_PATH || f == ACCESS_F_QUERY;
    case ACCESS_VAR_request_method:
        return f == ACCESS_F_METHOD;
    case ACCESS_VAR_uri:
        return f == ACCESS_F_PATH;
    case ACCESS_VAR_args:
        return f == ACCESS_F_QUERY;
    default:
        return var_field(v) == (int)f;
    }
}

/* The bounds access_format_line checks a record against: the most the format prints beside the strings,
 * and per byte of them (escaped, in the field printed most often); a format whose line could pass
 * ACCESS_LINE_MAX is refused. */
static int set_worst(struct access_format *f, const char *spec, struct err *e)
{
    uint32_t prints[ACCESS_F_COUNT] = {0}, most = 0;

    if (f->style == ACCESS_STYLE_JSON) {
        f->worst_fixed =
            ACCESS_JSON_SKELETON + ACCESS_ESCAPE_JSON * ACCESS_ROUTE_NAME_MAX + ACCESS_FORMAT_SLACK;
        f->worst_per_byte = ACCESS_ESCAPE_JSON;
        return 0;
    }
    f->worst_fixed = 1 + ACCESS_FORMAT_SLACK; /* the newline, and the bytes written past it */
    for (uint32_t i = 0; i < f->nops; i++) {
        if (f->ops[i].var == ACCESS_VAR_LITERAL) {
            f->worst_fixed += f->ops[i].len;
            continue;
        }
        f->worst_fixed += var_fixed((enum access_var)f->ops[i].var);
        for (int fl = 0; fl < ACCESS_F_COUNT; fl++)
            prints[fl] += var_prints((enum access_var)f->ops[i].var, (enum access_field)fl);
    }
    for (int fl = 0; fl < ACCESS_F_COUNT; fl++)
        most = prints[fl] > most ? prints[fl] : most;
    f->worst_per_byte = ACCESS_ESCAPE_TEXT * most;
    if (f->worst_fixed + f->worst_per_byte * ACCESS_TEXT_MAX > ACCESS_LINE_MAX)
        return ERR(
            e, EXIT_STATUS_USAGE, 0,
            "access log format '%s': its line could pass %u bytes (a request's strings printed %u times)",
            spec, ACCESS_LINE_MAX, most);
    return 0;
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
    if (used + len > ACCESS_FORMAT_MAX_LITERALS)
        return ERR(e, EXIT_STATUS_USAGE, 0, "access log format '%s': more than %d bytes of text", spec,
                   ACCESS_FORMAT_MAX_LITERALS);
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
        f->style = ACCESS_STYLE_JSON;
        f->fields = ACCESS_FIELD_BIT(ACCESS_F_HOST) | ACCESS_FIELD_BIT(ACCESS_F_REFERER) |
                    ACCESS_FIELD_BIT(ACCESS_F_USER_AGENT);
        return set_worst(f, spec, e);
    }
    p = spec;
    if (!strcmp(spec, "common")) {
        f->style = ACCESS_STYLE_COMMON;
        p = FORMAT_COMMON;
    } else if (!strcmp(spec, "combined")) {
        f->style = ACCESS_STYLE_COMBINED;
        p = FORMAT_COMBINED;
    }
    while (*p) {
        const char *dollar = strchr(p, '$'), *name, *end;
        size_t len;
        int v;

        if (!dollar)
            return add_literal(f, p, strlen(p), spec, e) ? -1 : set_worst(f, spec, e);
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
    return set_worst(f, spec, e);
}

void access_format_ctx_init(struct access_format_ctx *ctx, const char *const *route_names, int nroutes)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->route_names = route_names;
    ctx->nroutes = nroutes;
    ctx->second_start_ns = INT64_MIN;
}

/* ---- writing ------------------------------------------------------------------------------------- */

/*
 * The writers append to p and return the new end, unchecked: access_format_line makes sure first that
 * the line's worst case fits (struct access_format's bounds), so no byte is checked against the end.
 */

/* For the small helpers below, whose calls mostly copy or test a few bytes: a call would cost more */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE char *put(char *p, const char *s, size_t len)
{
    access_copy(p, s, len);
    return p + len;
}

/* A string literal, its length known at compile time */
#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

/* Like put, when 16 bytes can be read at s and written at p whatever len (ACCESS_FORMAT_SLACK): a
 * text of up to 32 bytes, as a line's are but its strings, then costs one or two fixed 16-byte moves. */
ALWAYS_INLINE char *put_over(char *p, const char *s, size_t len)
{
    if (len <= 16) {
        memcpy(p, s, 16);
    } else if (len <= 32) {
        memcpy(p, s, 16);
        memcpy(p + len - 16, s + len - 16, 16);
    } else {
        memcpy(p, s, len);
    }
    return p + len;
}

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* v (10,000 or more) in decimal, its digits counted first so that they are written in place, two at a
 * time */
static char *put_u64_long(char *p, uint64_t v)
{
    /* above[d]: the least number of d + 1 digits */
    static const uint64_t above[20] = {0,
                                       10,
                                       100,
                                       1000,
                                       10000,
                                       100000,
                                       1000000,
                                       10000000,
                                       100000000,
                                       1000000000,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};
    /* log10(2) ~ 1233 / 4096: the digits of a number of v's bits, or one fewer */
    unsigned guess = (unsigned)(64 - __builtin_clzll(v)) * 1233 >> 12;
    char *end = p + guess + (v >= above[guess]), *q = end;

    while (v >= 100) {
        q -= 2;
        memcpy(q, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(q - 2, digit_pairs + 2 * v, 2);
    else
        q[-1] = (char)('0' + v);
    return end;
}

/* v in decimal: a status or a small body's length inline, in one or two moves of a digit pair */
ALWAYS_INLINE char *put_u64(char *p, uint64_t v)
{
    if (v < 10) {
        *p = (char)('0' + v);
        return p + 1;
    }
    if (v < 100) {
        memcpy(p, digit_pairs + 2 * v, 2);
        return p + 2;
    }
    if (v < 1000) {
        *p = (char)('0' + v / 100);
        memcpy(p + 1, digit_pairs + 2 * (v % 100), 2);
        return p + 3;
    }
    if (v < 10000) {
        memcpy(p, digit_pairs + 2 * (v / 100), 2);
        memcpy(p + 2, digit_pairs + 2 * (v % 100), 2);
        return p + 4;
    }
    return put_u64_long(p, v);
}

/* v / 1000 with three decimals */
static char *put_milli(char *p, uint64_t v)
{
    p = put_u64(p, v / 1000);
    p[0] = '.';
    p[1] = (char)('0' + v / 100 % 10);
    p[2] = (char)('0' + v / 10 % 10);
    p[3] = (char)('0' + v % 10);
    return p + 4;
}

/* 16 bytes, as the compiler's vector extension has them (SSE2 or NEON registers): a signed byte's
 * compare to 0x20 finds both the control bytes and those above 0x7f at once */
typedef signed char bytes16 __attribute__((vector_size(16)));

/* How many of the first n (<= 16) bytes at s are plain, that is printable ASCII but the double quote
 * and the backslash, which are written as they are; 16 bytes are read whatever n. */
ALWAYS_INLINE size_t plain16(const char *s, size_t n)
{
    bytes16 x, escaped;
    uint64_t words[2];
    size_t run;

    memcpy(&x, s, 16);
    escaped = (x < 0x20) | (x == 0x7f) | (x == '"') | (x == '\\');
    memcpy(words, &escaped, 16);
    run = words[0]   ? (size_t)__builtin_ctzll(words[0]) / 8
          : words[1] ? 8 + (size_t)__builtin_ctzll(words[1]) / 8
                     : 16;
    return run < n ? run : n;
}

/* s escaped for a text format (\xHH: ACCESS_ESCAPE_TEXT bytes a byte at most) or a JSON string (\u00XX:
 * ACCESS_ESCAPE_JSON); empty_dash: '-' for an empty one. Plain bytes are checked and copied 16 at a
 * time: 16 bytes are read past s's start however short it is and up to 15 written past the end
 * (ACCESS_FORMAT_SLACK), which a record in a ring (ACCESS_RING_SLACK) and the line's room allow. */
static char *put_escaped(char *p, const char *s, size_t len, bool json, bool empty_dash)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    if (!len && empty_dash) {
        *p = '-';
        return p + 1;
    }
    while (i < len) {
        size_t run = plain16(s + i, len - i < 16 ? len - i : 16);
        unsigned char c;

        memcpy(p, s + i, 16);
        p += run;
        i += run;
        if (run == 16 || i == len)
            continue;
        c = (unsigned char)s[i++];
        if (json && (c == '"' || c == '\\')) {
            p[0] = '\\';
            p[1] = (char)c;
            p += 2;
        } else if (json) {
            p = put(p, (const char[6]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
        } else {
            p = put(p, (const char[4]){'\\', 'x', hex[c >> 4], hex[c & 15]}, 4);
        }
    }
    return p;
}

/* The client's address as text, made once for a run of lines from the same client (a connection's
 * requests come one after another): inet_ntop costs more than the rest of a line. */
static char *put_addr(char *p, struct access_format_ctx *ctx, const struct access_record *r)
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
    return put_over(p, ctx->addr_text, ctx->addr_len);
}

static char *put_protocol(char *p, const struct access_record *r)
{
    p = PUT_LIT(p, "HTTP/");
    p[0] = (char)('0' + r->version / 10 % 10);
    p[1] = '.';
    p[2] = (char)('0' + r->version % 10);
    return p + 3;
}

/* The time texts of rec's wall-clock second, made once per second (a line within it costs a subtraction,
 * not a division). */
static int64_t wall_ns(struct access_format_ctx *ctx, const struct access_record *r)
{
    int64_t ns = (int64_t)r->end_ns + ctx->realtime_offset_ns;

    if ((uint64_t)ns - (uint64_t)ctx->second_start_ns >= 1000000000u) {
        int64_t sec = ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000;
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
        ctx->second_start_ns = sec * 1000000000;
    }
    return ns;
}

/* The route's name escaped (json: as a JSON string), cut to ACCESS_ROUTE_NAME_MAX bytes; none: '-', or
 * JSON's null. The name is copied first to room put_escaped may read past. */
static char *put_route(char *p, const struct access_format_ctx *ctx, const struct access_record *r, bool json)
{
    char name[ACCESS_ROUTE_NAME_MAX + ACCESS_FORMAT_SLACK];
    size_t len;

    if (r->route < 0 || r->route >= ctx->nroutes || !ctx->route_names || !ctx->route_names[r->route])
        return json ? PUT_LIT(p, "null") : put(p, "-", 1);
    len = strnlen(ctx->route_names[r->route], ACCESS_ROUTE_NAME_MAX);
    memcpy(name, ctx->route_names[r->route], len);
    if (!json)
        return put_escaped(p, name, len, false, true);
    *p++ = '"';
    p = put_escaped(p, name, len, true, false);
    *p++ = '"';
    return p;
}

/* put_escaped, with the usual string, of 1 to 16 plain bytes (a method, a short path), copied inline */
ALWAYS_INLINE char *put_text(char *p, const char *s, size_t len, bool json, bool empty_dash)
{
    if (len - 1 < 16) {
        size_t run = plain16(s, len);

        memcpy(p, s, 16);
        if (run == len)
            return p + len;
    }
    return put_escaped(p, s, len, json, empty_dash);
}

ALWAYS_INLINE char *put_field(char *p, const struct access_record *r, enum access_field f, bool json)
{
    return put_text(p, access_record_field(r, f), r->len[f], json, !json);
}

ALWAYS_INLINE char *put_request_uri(char *p, const struct access_record *r)
{
    p = put_field(p, r, ACCESS_F_PATH, false);
    if (r->len[ACCESS_F_QUERY]) {
        *p++ = '?';
        p = put_field(p, r, ACCESS_F_QUERY, false);
    }
    return p;
}

ALWAYS_INLINE char *put_request(char *p, const struct access_record *r)
{
    p = put_field(p, r, ACCESS_F_METHOD, false);
    *p++ = ' ';
    p = put_request_uri(p, r);
    *p++ = ' ';
    return put_protocol(p, r);
}

/* A line of common, or combined: FORMAT_COMMON's and FORMAT_COMBINED's, without an operation's dispatch
 * between each two of its parts */
static char *put_clf(char *p, struct access_format_ctx *ctx, const struct access_record *r, bool combined)
{
    p = put_addr(p, ctx, r);
    p = PUT_LIT(p, " - - [");
    wall_ns(ctx, r);
    p = put_over(p, ctx->time_local, ctx->time_local_len);
    p = PUT_LIT(p, "] \"");
    p = put_request(p, r);
    p = PUT_LIT(p, "\" ");
    p = put_u64(p, r->status);
    *p++ = ' ';
    p = put_u64(p, r->bytes);
    if (!combined)
        return p;
    p = PUT_LIT(p, " \"");
    p = put_field(p, r, ACCESS_F_REFERER, false);
    p = PUT_LIT(p, "\" \"");
    p = put_field(p, r, ACCESS_F_USER_AGENT, false);
    *p++ = '"';
    return p;
}

static char *put_var(char *p, struct access_format_ctx *ctx, const struct access_record *r, enum access_var v)
{
    switch (v) {
    case ACCESS_VAR_remote_addr:
        return put_addr(p, ctx, r);
    case ACCESS_VAR_time_local:
        wall_ns(ctx, r);
        return put_over(p, ctx->time_local, ctx->time_local_len);
    case ACCESS_VAR_time_iso8601:
        wall_ns(ctx, r);
        return put_over(p, ctx->time_iso8601, ctx->time_iso8601_len);
    case ACCESS_VAR_msec:
        return put_milli(p, (uint64_t)wall_ns(ctx, r) / 1000000);
    case ACCESS_VAR_request:
        return put_request(p, r);
    case ACCESS_VAR_request_method:
        return put_field(p, r, ACCESS_F_METHOD, false);
    case ACCESS_VAR_request_uri:
        return put_request_uri(p, r);
    case ACCESS_VAR_uri:
        return put_field(p, r, ACCESS_F_PATH, false);
    case ACCESS_VAR_args:
        return put_field(p, r, ACCESS_F_QUERY, false);
    case ACCESS_VAR_status:
        return put_u64(p, r->status);
    case ACCESS_VAR_body_bytes_sent:
        return put_u64(p, r->bytes);
    case ACCESS_VAR_request_time:
        return put_milli(p, r->duration_ns / 1000000);
    case ACCESS_VAR_request_time_us:
        return put_u64(p, r->duration_ns / 1000);
    case ACCESS_VAR_server_protocol:
        return put_protocol(p, r);
    case ACCESS_VAR_scheme:
        return r->flags & ACCESS_TLS ? PUT_LIT(p, "https") : PUT_LIT(p, "http");
    case ACCESS_VAR_worker:
        return put_u64(p, r->worker);
    case ACCESS_VAR_route:
        return put_route(p, ctx, r, false);
    case ACCESS_VAR_host:
        return put_field(p, r, ACCESS_F_HOST, false);
    case ACCESS_VAR_http_referer:
        return put_field(p, r, ACCESS_F_REFERER, false);
    case ACCESS_VAR_http_user_agent:
        return put_field(p, r, ACCESS_F_USER_AGENT, false);
    default:
        return p;
    }
}

/* ",\"key\":\"value\"", the key's text given whole (its quotes and colon) */
#define PUT_JSON_FIELD(p, key, r, f)                                                                         \
    do {                                                                                                     \
        p = PUT_LIT(p, key "\"");                                                                            \
        p = put_field(p, r, f, true);                                                                        \
        *p++ = '"';                                                                                          \
    } while (0)

static char *put_json(char *p, struct access_format_ctx *ctx, const struct access_record *r)
{
    int64_t ns = wall_ns(ctx, r);

    p = PUT_LIT(p, "{\"time\":\"");
    p = put(p, ctx->time_iso8601, 19);
    p[0] = '.';
    p[1] = (char)('0' + ns / 100000000 % 10);
    p[2] = (char)('0' + ns / 10000000 % 10);
    p[3] = (char)('0' + ns / 1000000 % 10);
    p = put(p + 4, ctx->time_iso8601 + 19, ctx->time_iso8601_len - 19u);
    p = PUT_LIT(p, "\",\"remote_addr\":\"");
    p = put_addr(p, ctx, r);
    *p++ = '"';
    PUT_JSON_FIELD(p, ",\"method\":", r, ACCESS_F_METHOD);
    PUT_JSON_FIELD(p, ",\"path\":", r, ACCESS_F_PATH);
    PUT_JSON_FIELD(p, ",\"query\":", r, ACCESS_F_QUERY);
    p = PUT_LIT(p, ",\"status\":");
    p = put_u64(p, r->status);
    p = PUT_LIT(p, ",\"bytes\":");
    p = put_u64(p, r->bytes);
    p = PUT_LIT(p, ",\"duration_us\":");
    p = put_u64(p, r->duration_ns / 1000);
    p = PUT_LIT(p, ",\"request_time\":");
    p = put_milli(p, r->duration_ns / 1000000);
    p = PUT_LIT(p, ",\"protocol\":\"");
    p = put_protocol(p, r);
    p = r->flags & ACCESS_TLS ? PUT_LIT(p, "\",\"scheme\":\"https\",\"worker\":")
                              : PUT_LIT(p, "\",\"scheme\":\"http\",\"worker\":");
    p = put_u64(p, r->worker);
    p = PUT_LIT(p, ",\"route\":");
    p = put_route(p, ctx, r, true);
    PUT_JSON_FIELD(p, ",\"host\":", r, ACCESS_F_HOST);
    PUT_JSON_FIELD(p, ",\"referer\":", r, ACCESS_F_REFERER);
    PUT_JSON_FIELD(p, ",\"user_agent\":", r, ACCESS_F_USER_AGENT);
    if (r->flags & ACCESS_TRUNCATED)
        p = PUT_LIT(p, ",\"truncated\":true");
    *p++ = '}';
    return p;
}

size_t access_format_worst(const struct access_format *f, const struct access_record *rec)
{
    size_t text = 0;

    for (int i = 0; i < ACCESS_F_COUNT; i++)
        text += rec->len[i];
    return f->worst_fixed + f->worst_per_byte * text;
}

size_t access_format_line(const struct access_format *f, struct access_format_ctx *ctx,
                          const struct access_record *rec, char *out, size_t cap)
{
    char *p = out;

    if (cap < access_format_worst(f, rec))
        return 0;
    switch (f->style) {
    case ACCESS_STYLE_JSON:
        p = put_json(p, ctx, rec);
        break;
    case ACCESS_STYLE_COMMON:
    case ACCESS_STYLE_COMBINED:
        p = put_clf(p, ctx, rec, f->style == ACCESS_STYLE_COMBINED);
        break;
    default:
        for (uint32_t i = 0; i < f->nops; i++)
            p = f->ops[i].var == ACCESS_VAR_LITERAL ? put_over(p, f->literals + f->ops[i].off, f->ops[i].len)
                                                    : put_var(p, ctx, rec, (enum access_var)f->ops[i].var);
    }
    *p++ = '\n';
    return (size_t)(p - out);
}
