/*
 * access_format.h — the access log's formats: a record (log/access_log.h) in, one line of text out.
 * Pure: no I/O, no allocation, no clock (the caller says how monotonic time maps to the wall clock),
 * so that tests/log/access_log_test.c checks it byte by byte. Runs on the logger thread only.
 *
 * A format is one of:
 *   common    $remote_addr - - [$time_local] "$request" $status $body_bytes_sent   (Apache's and nginx's)
 *   combined  common + ' "$http_referer" "$http_user_agent"'
 *   json      one object a line: time, remote_addr, method, path, query, status, bytes, duration_us,
 *             request_time, protocol, scheme, worker, route, host, referer, user_agent
 *   any other text: a format string whose $name variables (nginx's names, ACCESS_VARS below) are
 *             replaced; everything else is copied. A variable's name is the longest run of
 *             [a-z0-9_] after '$' ("${name}" separates it from letters that follow); '$$' is a '$'.
 * In text formats a string's '"', '\' and bytes outside 0x20-0x7e are written \xHH (as nginx does),
 * and an empty or missing value is '-'. JSON strings escape '"', '\' and bytes outside 0x20-0x7e as
 * \u00XX, so every line parses whatever bytes the client sent.
 */
#ifndef SLUICE_LOG_ACCESS_FORMAT_H
#define SLUICE_LOG_ACCESS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "log/access_log.h"

/* The variables: name, and what it prints (the README's table is this list). */
#define ACCESS_VARS(X)                                                                                       \
    X(remote_addr, "the client's address")                                                                   \
    X(time_local, "the end of the request, local time: 07/Dec/2026:00:01:06 +0000")                          \
    X(time_iso8601, "the same in ISO 8601: 2026-12-07T00:01:06+00:00")                                       \
    X(msec, "the same in seconds since the epoch, with milliseconds: 1796601666.123")                        \
    X(request, "the request line: method, target and protocol")                                              \
    X(request_method, "the method")                                                                          \
    X(request_uri, "the target: path, and '?' and the query if any")                                         \
    X(uri, "the path")                                                                                       \
    X(args, "the query, without '?'")                                                                        \
    X(status, "the response's status (499: none was sent: the client went away, or the stream was reset)")   \
    X(body_bytes_sent, "response body bytes sent")                                                           \
    X(request_time, "seconds from the request's head to its answer written, with milliseconds")              \
    X(request_time_us, "the same in microseconds")                                                           \
    X(server_protocol, "HTTP/1.0, HTTP/1.1 or HTTP/2.0")                                                     \
    X(scheme, "http or https")                                                                               \
    X(worker, "the worker that served it")                                                                   \
    X(route, "the route that matched, as the routes file declares it (\"GET /bytes/:n\"), '-' for none")     \
    X(host, "the :authority or Host")                                                                        \
    X(http_referer, "the Referer header")                                                                    \
    X(http_user_agent, "the User-Agent header")

enum access_var {
#define ACCESS_VAR_ENUM(name, help) ACCESS_VAR_##name,
    ACCESS_VARS(ACCESS_VAR_ENUM)
#undef ACCESS_VAR_ENUM
        ACCESS_VAR_COUNT,
    ACCESS_VAR_LITERAL = ACCESS_VAR_COUNT,
};

#define ACCESS_FORMAT_MAX_OPS      64
#define ACCESS_FORMAT_MAX_LITERALS 256
#define ACCESS_ESCAPE_TEXT         4   /* bytes a string's byte takes at most in a text format: \xHH */
#define ACCESS_ESCAPE_JSON         6   /* and in JSON: \u00XX */
#define ACCESS_ROUTE_NAME_MAX      256 /* bytes of a route's name printed, at most */
#define ACCESS_JSON_SKELETON       512 /* a JSON line's bytes beside its strings and its route, at most */
#define ACCESS_FORMAT_SLACK                                                                                  \
    16 /* bytes a line's formatting may write past its end (and read past a                                  \
          string's end: a record's in its ring, ACCESS_RING_SLACK) */
/* The longest line of any format that compiles, with its slack: a buffer of this room takes every
 * record's line. */
#define ACCESS_LINE_MAX 8192

/* How a format's lines are made: common and combined have code of their own (the default, so the one
 * most servers run), the same lines as their format strings run as operations */
enum access_style {
    ACCESS_STYLE_OPS,
    ACCESS_STYLE_COMMON,
    ACCESS_STYLE_COMBINED,
    ACCESS_STYLE_JSON,
};

struct access_format {
    uint8_t style; /* enum access_style */
    uint32_t nops;
    struct {
        uint8_t var;  /* enum access_var */
        uint16_t off; /* ACCESS_VAR_LITERAL: its bytes in literals */
        uint16_t len;
    } ops[ACCESS_FORMAT_MAX_OPS];
    char literals[ACCESS_FORMAT_MAX_LITERALS + ACCESS_FORMAT_SLACK]; /* put_over reads 16 bytes */
    uint32_t fields; /* ACCESS_FIELD_BIT of the optional strings (host, referer, user agent) it prints */
    /* a line's bytes at most: worst_fixed + worst_per_byte x the record's strings' bytes */
    uint32_t worst_fixed;
    uint32_t worst_per_byte;
};

/* spec: "common", "combined", "json" or a format string. An unknown variable, a string too long, or a
 * format whose line could pass ACCESS_LINE_MAX, is an error naming it. */
int access_format_compile(struct access_format *f, const char *spec, struct err *e);

/* What a line needs beside its record: the wall clock, the routes' names, and the time texts cached
 * from the last line (the logger formats many lines in the same second). */
struct access_format_ctx {
    int64_t realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
    const char *const *route_names;
    int nroutes;
    int64_t second_start_ns; /* the start of the wall-clock second the texts below are of; INT64_MIN: none */
    char time_local[32];
    char time_iso8601[32];
    uint8_t time_local_len, time_iso8601_len;
    uint8_t addr[16]; /* the client address addr_text is of; addr_len 0: none yet */
    uint8_t addr_len;
    char addr_text[48]; /* INET6_ADDRSTRLEN */
};

void access_format_ctx_init(struct access_format_ctx *ctx, const char *const *route_names, int nroutes);

/* The most bytes rec's line can take in format f (ACCESS_LINE_MAX at most). */
size_t access_format_worst(const struct access_format *f, const struct access_record *rec);

/* Format rec as one line ending in '\n' into out; returns its length, or 0 when cap is below the line's
 * worst case (access_format_worst: the bytes are not checked one by one; cap >= ACCESS_LINE_MAX always
 * fits). */
size_t access_format_line(const struct access_format *f, struct access_format_ctx *ctx,
                          const struct access_record *rec, char *out, size_t cap);

#endif
